-- headroom limiter: the algorithms of src/limits/ (token bucket, windows, concurrency leases)
-- run inside Redis so one EVALSHA decides every dimension of a request atomically.
-- Every number is an integer below 2^53, computed in the same order as the TypeScript, so
-- both stores reach bit-identical decisions.
--
-- KEYS[1]      hash with the numeric states: "<name>:a", "<name>:b"
-- KEYS[2..]    one sorted set of leases per concurrency dimension, in dimension order
-- ARGV[1]      "check" | "reconcile"
-- ARGV[2]      now in ms, or "" to use the Redis server's clock (so every gateway host agrees)
-- ARGV[3]      lease id ("" if none)
-- ARGV[4]      number of dimensions n; then per dimension 6 values:
--              name, kind (r|w|c), limit, period (rate/window) or lease ms, anchor ("" = first use), cost or delta
-- Returns      check: {admitted, retryAfterMs (-1 = never), then per dimension
--              limit, remaining, resetAtMs, admitAtMs (-1 = never)}
--              reconcile: {}

local op = ARGV[1]
local now
if ARGV[2] == "" then
  local t = redis.call("TIME")
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
else
  now = tonumber(ARGV[2])
end
local lease_id = ARGV[3]
local n = tonumber(ARGV[4])
local state_key = KEYS[1]
local INF = math.huge

local function num(value)
  if value == false or value == nil then return nil end
  return tonumber(value)
end

local dims = {}
local lease_key_index = 2
for i = 1, n do
  local base = 4 + (i - 1) * 6
  local d = {
    name = ARGV[base + 1],
    kind = ARGV[base + 2],
    limit = tonumber(ARGV[base + 3]),
    period = tonumber(ARGV[base + 4]),
    anchor = num(ARGV[base + 5] ~= "" and ARGV[base + 5] or nil),
    cost = tonumber(ARGV[base + 6]),
  }
  if d.kind == "c" then
    d.lease_key = KEYS[lease_key_index]
    lease_key_index = lease_key_index + 1
  else
    local pair = redis.call("HMGET", state_key, d.name .. ":a", d.name .. ":b")
    d.a = num(pair[1])
    d.b = num(pair[2])
  end
  dims[i] = d
end

local function refilled(d)
  local full = d.limit * d.period
  if d.a == nil then return full end
  local elapsed = now - d.b
  if elapsed <= 0 then return d.a end
  return math.min(full, d.a + elapsed * d.limit)
end

local function current_start(d)
  if d.anchor ~= nil then
    return d.anchor + math.floor((now - d.anchor) / d.period) * d.period
  end
  if d.a ~= nil and d.a == d.a and now < d.a + d.period then return d.a end
  return nil
end

-- Milliseconds until a numeric state equals a fresh one (for PEXPIRE).
local function idle_ms(d, a, b)
  if d.kind == "r" then
    local full = d.limit * d.period
    local level = a
    return math.max(0, math.ceil((full - level) / d.limit))
  end
  return math.max(0, a + d.period - now)
end

local function fmt(x)
  return string.format("%.17g", x)
end

local ttl = 0
local function write_pair(d, a, b)
  redis.call("HSET", state_key, d.name .. ":a", fmt(a), d.name .. ":b", fmt(b))
  ttl = math.max(ttl, idle_ms(d, a, b))
end

if op == "check" then
  local admitted = true
  local results = {}
  for i = 1, n do
    local d = dims[i]
    local r = {}
    if d.kind == "r" then
      local full = d.limit * d.period
      local level = refilled(d)
      local needed = d.cost * d.period
      local ok = level >= needed
      local after = ok and (level - needed) or level
      r.remaining = math.max(0, math.floor(after / d.period))
      r.reset = now + math.max(0, math.ceil((full - after) / d.limit))
      if ok then r.admit = now elseif d.cost > d.limit then r.admit = INF else r.admit = now + math.ceil((needed - level) / d.limit) end
      r.next_a, r.next_b = after, now
    elseif d.kind == "w" then
      local running = current_start(d)
      local start = running or now
      local used = 0
      if d.a ~= nil and d.a == start then used = d.b end
      local ok = used + d.cost <= d.limit
      local after = ok and (used + d.cost) or used
      r.remaining = math.max(0, d.limit - after)
      r.reset = start + d.period
      if ok then r.admit = now elseif d.cost > d.limit then r.admit = INF else r.admit = start + d.period end
      r.next_a, r.next_b = start, after
    else
      redis.call("ZREMRANGEBYSCORE", d.lease_key, "-inf", now)
      local count = redis.call("ZCARD", d.lease_key)
      local ok = count < d.limit
      local soonest = INF
      local first = redis.call("ZRANGE", d.lease_key, 0, 0, "WITHSCORES")
      if first[2] then soonest = tonumber(first[2]) end
      r.remaining = d.limit - count - (ok and 1 or 0)
      r.reset = (soonest < INF) and soonest or now
      if ok then r.admit = now elseif d.limit == 0 then r.admit = INF else r.admit = soonest end
      r.lease_ok = ok
    end
    if r.admit > now then admitted = false end
    results[i] = r
  end
  local out = { admitted and 1 or 0, 0 }
  if admitted then
    for i = 1, n do
      local d, r = dims[i], results[i]
      if d.kind == "c" then
        redis.call("ZADD", d.lease_key, now + d.period, lease_id)
        redis.call("PEXPIRE", d.lease_key, d.period)
      else
        write_pair(d, r.next_a, r.next_b)
      end
    end
    if ttl > 0 and redis.call("PTTL", state_key) < ttl then redis.call("PEXPIRE", state_key, ttl) end
  else
    local latest = now
    for i = 1, n do latest = math.max(latest, results[i].admit) end
    out[2] = (latest == INF) and -1 or (latest - now)
  end
  for i = 1, n do
    local r = results[i]
    out[#out + 1] = dims[i].limit
    out[#out + 1] = r.remaining
    out[#out + 1] = r.reset
    out[#out + 1] = (r.admit == INF) and -1 or r.admit
  end
  return out
end

-- reconcile
for i = 1, n do
  local d = dims[i]
  if d.kind == "c" then
    if lease_id ~= "" then redis.call("ZREM", d.lease_key, lease_id) end
  elseif d.cost ~= 0 and d.a ~= nil then
    if d.kind == "r" then
      local full = d.limit * d.period
      write_pair(d, math.min(full, refilled(d) - d.cost * d.period), now)
    else
      local running = current_start(d)
      if running ~= nil and d.a == running then write_pair(d, running, math.max(0, d.b + d.cost)) end
    end
  elseif d.cost ~= 0 and d.kind == "r" then
    local full = d.limit * d.period
    write_pair(d, math.min(full, full - d.cost * d.period), now)
  end
end
if ttl > 0 and redis.call("PTTL", state_key) < ttl then redis.call("PEXPIRE", state_key, ttl) end
return {}
