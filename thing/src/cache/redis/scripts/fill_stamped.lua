-- FILL_STAMPED. KEYS[1]: the list, KEYS[2..]: its stamps. ARGV[1]: the value,
-- ARGV[2]: its TTL in ms, then the stamp values seen, then a random start
-- value per stamp. Stores the value if every stamp still has the value seen
-- and none is locked; creates missing stamps. Returns 1 if stored.
local n = #KEYS - 1
local ok = 1
for i = 1, n do
    local key = KEYS[i + 1]
    local current = integer(key)
    if current == nil then
        bump(key, ARGV[2 + n + i])
        ok = 0
    elseif redis.call('GET', key) ~= ARGV[2 + i] or locked(key) then
        ok = 0
    end
end
if ok == 1 then
    redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
end
return ok
