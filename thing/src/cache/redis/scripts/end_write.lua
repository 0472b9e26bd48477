-- END_WRITE. KEYS: the rows (ARGV[1] of them), then the stamps. ARGV[2]: a
-- tombstone, ARGV[3]: the fill window in ms, ARGV[4]: one byte per key, '1'
-- for a key this write locked, then a random next value per stamp. Sets the
-- rows to the tombstone for the window and each stamp to its next value,
-- and gives back this write's lock of each key it locked (and of no other:
-- a key it learned by its commit may be locked by another write, which
-- keeps its lock). A stamp that is missing stays missing: no list is stored
-- under a stamp that is missing, and one created later is created at random.
-- One call per key, and one for all the missing stamps it learned.
-- After a failed write (every flag '1'), the same gives its locks back.
-- The last three ARGV: the write's announcement to the near tiers (see
-- announce in the helpers), whose reply it returns.
local rows = tonumber(ARGV[1])
local window = ARGV[3]
local own = ARGV[4]
-- The stamps it learned (an insert's ids', mostly missing) are read in one
-- call first, so that a missing one costs nothing more.
local learned = {}
for i = rows + 1, #KEYS do
    if string.byte(own, i) ~= 49 then
        learned[#learned + 1] = KEYS[i]
    end
end
local present = {}
for at = 1, #learned, 1000 do
    local chunk = {}
    for j = at, math.min(at + 999, #learned) do
        chunk[#chunk + 1] = learned[j]
    end
    local values = redis.pcall('MGET', unpack(chunk))
    for j, key in ipairs(chunk) do
        -- (A key of another type reads as nothing here and is left for the
        -- reads, which replace it.)
        present[key] = failed(values) or values[j] ~= false
    end
end
for i, key in ipairs(KEYS) do
    local mine = string.byte(own, i) == 49
    if i <= rows then
        release(key, ARGV[2], mine, window, 'PX', window)
    elseif mine or present[key] then
        release(key, ARGV[4 + i - rows], mine, window, 'XX')
    end
end
return announce(ARGV[#ARGV - 2], ARGV[#ARGV - 1], ARGV[#ARGV])
