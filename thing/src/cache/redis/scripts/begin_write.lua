-- BEGIN_WRITE. KEYS: the rows (ARGV[1] of them), then the stamps. ARGV[2]: a
-- row's lock marker, ARGV[3]: the window in ms, ARGV[4]: unused here (see
-- end_write.lua), then a random start value per stamp. Locks every key for
-- the window and bumps the stamps.
local rows = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
    lock(key, ARGV[3])
    if i <= rows then
        redis.call('SET', key, ARGV[2], 'PX', ARGV[3])
    else
        bump(key, ARGV[4 + i - rows])
    end
end
return 0
