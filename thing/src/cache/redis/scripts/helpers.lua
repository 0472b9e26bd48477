-- Helpers shared by every script (prepended to each).
--
-- integer(key): the key's counter; nil when it is missing or holds anything
-- else, including a number Thing would not write (signed, with leading zeros,
-- or past 19 digits: exactly what wire.rs's stamp_of refuses, so that a stamp
-- the reader cannot read is one the scripts replace).
-- bump(key, random): moves a stamp on; a missing one, or one that is not a
-- counter or not above 1 after the bump, starts again at random.
-- lock(key, window), unlock(key): take and give back one write's lock of key.
-- locked(key): whether a write holds key. An unlocked key's lock may be left
-- at 0 until it expires, so that unlocking is one call; a lock Thing did not
-- take (not a counter, or without an expiry: Thing sets both in one script)
-- is deleted, so that it cannot hold fills off for ever.
--
-- Whatever another program left in these keys, the scripts replace it rather
-- than fail. bump, lock and unlock try the counter command first (INCR, DECR
-- through redis.pcall) and repair the key only when it fails (a stamp INCR
-- created, at 1, was missing, and starts at random instead): one call to bump
-- a stamp, two to lock a key and one to unlock it, which is most of a write's
-- time in Redis (a call inside a script costs about a microsecond and a half).
local function integer(key)
    if redis.call('TYPE', key).ok ~= 'string' then
        return nil
    end
    local value = redis.call('GET', key)
    if #value <= 19 and (value == '0' or string.match(value, '^[1-9]%d*$')) then
        return tonumber(value)
    end
    return nil
end
local function failed(reply)
    return type(reply) == 'table' and reply.err ~= nil
end
local function bump(key, random)
    local bumped = redis.pcall('INCR', key)
    if failed(bumped) then
        redis.call('DEL', key)
        redis.call('SET', key, random)
    elseif bumped <= 1 then
        redis.call('SET', key, random)
    end
end
local function lock(key, window)
    local lock = key .. ':L'
    if failed(redis.pcall('INCR', lock)) then
        redis.call('DEL', lock)
        redis.call('INCR', lock)
    end
    redis.call('PEXPIRE', lock, window)
end
local function unlock(key)
    local lock = key .. ':L'
    local held = redis.pcall('DECR', lock)
    if failed(held) or held < 0 then
        redis.call('DEL', lock)
    end
end
local function locked(key)
    local lock = key .. ':L'
    local held = redis.pcall('GET', lock)
    if held == false then
        return false
    end
    if failed(held) or not string.match(held, '^%-?%d+$')
        or redis.call('PTTL', lock) < 0 then
        redis.call('DEL', lock)
        return false
    end
    return tonumber(held) > 0
end
