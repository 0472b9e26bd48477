-- Helpers shared by every script (prepended to each).
--
-- A write lock lives in the key it locks: the key holds, in place of its
-- value, 0x00, 16 random bytes (new for each write), 'L', and how many writes
-- hold it. A row's lookup reads it as busy; a stamp's readers read it as a
-- value no stamp has, so that nothing they fill under it is stored. The
-- lock expires with the fill window, so that a writer that dies cannot hold
-- a key for ever.
--
-- holders(value): how many writes hold a key holding value, nil when it is
-- no lock.
-- swap(key, value, ...): SET key value ... GET, whatever the key held (a key
-- of another Redis type is replaced); what it held, false for nothing.
-- lock(key, marker, window): one more write holds key (marker: the write's
-- 17 bytes before 'L').
-- release(key, value, own, window, ...): sets key to value (a tombstone, a
-- stamp's next value) with SET's options, and puts back the locks other
-- writes hold on it: all it held, less this write's own when own.
--
-- announce(tiers, marker, own): a write's announcement to the near tiers
-- (the last three ARGV of end_write and bump; all empty without a near
-- tier): the server's time in ms, then each other tier whose lease in the
-- sorted set tiers runs past it and its lease end, as {now, tier, until,
-- ...}; {} without a near tier. Only when there is such a tier is the
-- marker set, under the tracked prefix, so that every tier gets it with the
-- write's keys and answers it once it applied them.
--
-- One call per key in the common case (no other write holds it), two when
-- another does: a call inside a script costs about a microsecond, and a
-- write's scripts are mostly these calls.
local function failed(reply)
    return type(reply) == 'table' and reply.err ~= nil
end
local function holders(value)
    if type(value) == 'string' and #value > 18 and string.byte(value, 1) == 0
        and string.byte(value, 18) == 76 then
        local count = tonumber(string.sub(value, 19))
        if count and count >= 1 and count == math.floor(count) then
            return count
        end
    end
    return nil
end
local function swap(key, value, ...)
    local old = redis.pcall('SET', key, value, 'GET', ...)
    if failed(old) then
        redis.call('DEL', key)
        redis.call('SET', key, value, ...)
        return false
    end
    return old
end
local function lock(key, marker, window)
    local held = holders(swap(key, marker .. 'L1', 'PX', window))
    if held then
        redis.call('SET', key, marker .. 'L' .. (held + 1), 'PX', window)
    end
end
local function release(key, value, own, window, ...)
    local old = swap(key, value, ...)
    local held = holders(old)
    if held and own then
        held = held - 1
    end
    if held and held > 0 then
        redis.call('SET', key, string.sub(old, 1, 18) .. held, 'PX', window)
    end
end
-- counter(value): whether value is a stamp as Thing writes them (decimal
-- digits, no sign, no leading zero, at most 19: exactly what wire.rs's
-- stamp_of reads), so that a stamp the reader cannot read is one the
-- scripts replace.
local function counter(value)
    return type(value) == 'string' and #value <= 19
        and (value == '0' or string.match(value, '^[1-9]%d*$') ~= nil)
end
-- get(key): the key's value, false for nothing; a key of another Redis type
-- is deleted (nothing).
local function get(key)
    local value = redis.pcall('GET', key)
    if failed(value) then
        redis.call('DEL', key)
        return false
    end
    return value
end
local function announce(tiers, marker, own)
    if tiers == nil or tiers == '' then
        return {}
    end
    local t = redis.call('TIME')
    local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
    local live = redis.call('ZRANGEBYSCORE', tiers, '(' .. now, '+inf', 'WITHSCORES')
    local out = {now}
    for i = 1, #live, 2 do
        if live[i] ~= own then
            out[#out + 1] = live[i]
            out[#out + 1] = live[i + 1]
        end
    end
    if #out > 1 then
        redis.call('SET', marker, '1', 'PX', 10000)
    end
    return out
end
