-- FILL. ARGV[1]: the fill window in ms; then for each key KEYS[i], from
-- ARGV[4i-2]: what its lookup saw (a tombstone, or empty for nothing), the
-- value, the TTL in ms, and (for nothing) when the lookup was made, by the
-- server's clock. Stores the value if the key still holds exactly what was
-- seen (no invalidation since, and no write holds it: a lock is never what a
-- lookup saw), and a lookup that saw nothing is no older than the window, by
-- Redis's own clock, so that a fill that arrives late cannot match a
-- tombstone that expired meanwhile. Returns how many were stored.
local window = tonumber(ARGV[1])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local stored = 0
for i, key in ipairs(KEYS) do
    local at = 1 + (i - 1) * 4
    local seen = ARGV[at + 1]
    local looked = ARGV[at + 4]
    local current = get(key)
    local fresh = looked == '' or now - tonumber(looked) <= window
    if fresh and ((current == false and seen == '') or current == seen) then
        redis.call('SET', key, ARGV[at + 2], 'PX', ARGV[at + 3])
        stored = stored + 1
    end
end
return stored
