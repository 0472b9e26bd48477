-- FILL_STAMPED. KEYS[1]: the list, KEYS[2..]: its stamps. ARGV[1]: the value,
-- ARGV[2]: its TTL in ms, then the stamp values seen, then a random start
-- value per stamp. Stores the value if every stamp still has the value seen
-- (a locked stamp has none a reader can see); creates missing stamps, and
-- replaces any that is neither a stamp nor a lock. Returns 1 if stored.
local n = #KEYS - 1
local ok = 1
for i = 1, n do
    local key = KEYS[i + 1]
    local current = get(key)
    if current ~= ARGV[2 + i] then
        ok = 0
        if not counter(current) and not holders(current) then
            redis.call('SET', key, ARGV[2 + n + i])
        end
    end
end
if ok == 1 then
    redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
end
return ok
