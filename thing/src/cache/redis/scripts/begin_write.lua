-- BEGIN_WRITE. KEYS: the rows and the stamps a write may change. ARGV[1]: the
-- write's lock (a tombstone's 17 bytes), ARGV[2]: the fill window in ms.
-- Locks every key for the window: a row's lookup then finds it busy, and a
-- stamp no longer has the value any list was stored under.
for _, key in ipairs(KEYS) do
    lock(key, ARGV[1], ARGV[2])
end
return 0
