-- END_WRITE. As begin_write.lua, with ARGV[2] a tombstone and ARGV[4] one
-- byte per key, '1' for a key this write locked: invalidates the rows, bumps
-- the stamps and takes back one lock of each key it locked (and of no other:
-- a key it learned by its commit may be locked by another write).
local rows = tonumber(ARGV[1])
local locked = ARGV[4]
for i, key in ipairs(KEYS) do
    if i <= rows then
        redis.call('SET', key, ARGV[2], 'PX', ARGV[3])
    else
        bump(key, ARGV[4 + i - rows])
    end
    if string.byte(locked, i) == 49 then
        unlock(key)
    end
end
return 0
