-- END_WRITE. KEYS: the rows (ARGV[1] of them), then the stamps. ARGV[2]: a
-- tombstone, ARGV[3]: the fill window in ms, ARGV[4]: one byte per key, '1'
-- for a key this write locked, then a random next value per stamp. Sets the
-- rows to the tombstone for the window and each stamp to its next value,
-- and gives back this write's lock of each key it locked (and of no other:
-- a key it learned by its commit may be locked by another write, which
-- keeps its lock). A stamp that is missing stays missing: no list is stored
-- under a stamp that is missing, and one created later is created at random.
-- After a failed write (every flag '1'), the same gives its locks back.
local rows = tonumber(ARGV[1])
local window = ARGV[3]
local own = ARGV[4]
for i, key in ipairs(KEYS) do
    local mine = string.byte(own, i) == 49
    if i <= rows then
        release(key, ARGV[2], mine, window, 'PX', window)
    else
        release(key, ARGV[4 + i - rows], mine, window, 'XX')
    end
end
return 0
