-- BUMP. ARGV[1]: the fill window in ms; KEYS[i] a stamp, ARGV[i + 1] its
-- next value (random). Moves every stamp on, creating a missing one, and
-- keeps the locks writes hold on them. The last three ARGV: the write's
-- announcement to the near tiers (see announce in the helpers), whose reply
-- it returns.
for i, key in ipairs(KEYS) do
    release(key, ARGV[i + 1], false, ARGV[1])
end
return announce(ARGV[#ARGV - 2], ARGV[#ARGV - 1], ARGV[#ARGV])
