-- BUMP. Bumps every stamp in KEYS, ARGV[i] its random start value.
for i, key in ipairs(KEYS) do
    bump(key, ARGV[i])
end
return 0
