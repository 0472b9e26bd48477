-- BUMP. ARGV[1]: the fill window in ms; KEYS[i] a stamp, ARGV[i + 1] its
-- next value (random). Moves every stamp on, creating a missing one, and
-- keeps the locks writes hold on them.
for i, key in ipairs(KEYS) do
    release(key, ARGV[i + 1], false, ARGV[1])
end
return 0
