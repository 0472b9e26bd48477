-- ABORT_WRITE. As end_write.lua, for a write that failed: the rows get a
-- tombstone in place of their lock marker (so that readers may fill them
-- again at once), the stamps stay, and every key gives back one lock.
local rows = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
    if i <= rows then
        redis.call('SET', key, ARGV[2], 'PX', ARGV[3])
    end
    unlock(key)
end
return 0
