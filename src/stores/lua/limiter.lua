-- headroom limiter: the algorithms of src/limits/ (token bucket, windows, concurrency leases)
-- run inside Redis so one EVALSHA decides every dimension of a request atomically.
-- Every number is an integer below 2^53, computed in the same order as the TypeScript, so
-- both stores reach bit-identical decisions.
--
-- Written for speed in Redis's interpreted Lua 5.1: a redis.call costs about a microsecond and
-- a table about a quarter of one, so a key's numeric state is one string (one GET, one
-- SET ... PX that also sets the expiry) and dimensions live in flat arrays, not tables each.
--
-- KEYS[1..S] the numeric state of each scope (S = ARGV[6], 1 when absent; scope 1 is the
--           request's own key): "<expiry ms>;<name>=<a>,<b>;<name>=<a>,<b>;..." (integers)
-- KEYS[S+1..] one sorted set of leases per concurrency dimension, in dimension order; then,
--           when ARGV[7] is "track", the request's charge record (last)
-- ARGV      op ("check" | "peek" | "reconcile" | "replay" | "keep"; a peek decides without
--           changing anything; a replay charges past usage to its windows; a keep extends a
--           running request's leases), now (ms, or "" for the Redis server's clock, so every
--           gateway host agrees), lease id ("" if none),
--           dimensions as JSON [[name, kind (r | w | c), limit, period (lease ms for c),
--           anchor (0 = window starts on first use), true if anchored, scope index (1..S,
--           1 when absent)], ...],
--           costs (check) or deltas (reconcile) as a JSON array, the number of scopes S,
--           "track" to keep a charge record of an admitted request (check) or to settle it
--           (reconcile), the record's lifetime in ms, the request's id; "indexed" (standalone
--           Redis: the record index is the last key, updated here) and when the request is lost
--           A charge record holds what a request was charged and the call that charged it, so
--           that any gateway can refund it if the request's own gateway dies ("refund"): a
--           settlement that finds its record refunded charges its estimate again.
-- Returns   check: {admitted, retryAfterMs (-1 = never), then per dimension
--           limit, remaining, resetAtMs, admitAtMs (-1 = never), then now}; reconcile: {}

local op = ARGV[1]
local record_key, index_key
local last_key = #KEYS
if ARGV[10] == "indexed" then
  -- Standalone Redis: the index of charge records is updated here, with the charge.
  index_key = KEYS[last_key]
  last_key = last_key - 1
end
if ARGV[7] == "track" then record_key = KEYS[last_key] end
local now = tonumber(ARGV[2])
if not now then
  local t = redis.call("TIME")
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local lease_id = ARGV[3]
local scopes = tonumber(ARGV[6]) or 1
local INF = math.huge
local floor, ceil, max, min = math.floor, math.ceil, math.max, math.min

-- Dimensions arrive as one JSON array (built once per dimension list by the caller, decoded
-- here in C by cjson), amounts as another: far cheaper on both sides than one argument each.
local specs = cjson.decode(ARGV[4])
local amount = cjson.decode(ARGV[5])
local n = #specs
local name, kind, limit, period, anchor, scope = {}, {}, {}, {}, {}, {}
local a, b = {}, {}
local lease_key = {}
local next_lease_key = scopes + 1
for j = 1, n do
  local spec = specs[j]
  name[j], kind[j], limit[j], period[j] = spec[1], spec[2], spec[3], spec[4]
  if spec[5] ~= 0 or spec[6] then anchor[j] = spec[5] end
  scope[j] = spec[7] or 1
  if kind[j] == "c" then
    lease_key[j] = KEYS[next_lease_key]
    next_lease_key = next_lease_key + 1
  end
end

-- keep: a running request's leases expire a lease period from now again, put back if they had
-- expired meanwhile (the request still occupies its slot). No numeric state is read.
-- Holds this request's lease on concurrency dimension j until a lease period from now (and
-- drops expired ones, so the set holds only live leases).
local function hold_lease(j)
  redis.call("ZREMRANGEBYSCORE", lease_key[j], "-inf", now)
  redis.call("ZADD", lease_key[j], now + period[j], lease_id)
  redis.call("PEXPIRE", lease_key[j], period[j])
end

if op == "keep" then
  for j = 1, n do
    if kind[j] == "c" then hold_lease(j) end
  end
  return {}
end

-- Per scope: the stored pairs of every dimension it has used, by name, kept in stored order.
local old_exp, names, sa, sb = {}, {}, {}, {}
for s = 1, scopes do
  old_exp[s], names[s], sa[s], sb[s] = 0, {}, {}, {}
  local stored = redis.call("GET", KEYS[s])
  if stored then
    local k = 0
    for item in string.gmatch(stored, "[^;]+") do
      if k == 0 then
        old_exp[s] = tonumber(item)
      else
        local eq = string.find(item, "=", 1, true)
        local comma = string.find(item, ",", eq, true)
        local key = string.sub(item, 1, eq - 1)
        names[s][k] = key
        sa[s][key] = tonumber(string.sub(item, eq + 1, comma - 1))
        sb[s][key] = tonumber(string.sub(item, comma + 1))
      end
      k = k + 1
    end
  end
end
for j = 1, n do
  a[j] = sa[scope[j]][name[j]]
  b[j] = sb[scope[j]][name[j]]
end

-- A bucket's level × period at `now`, refilled since its last update (full when new).
local function bucket_level(j)
  local full = limit[j] * period[j]
  if not a[j] then return full end
  local elapsed = now - b[j]
  if elapsed <= 0 then return a[j] end
  return min(full, a[j] + elapsed * limit[j])
end

-- The start of the window `now` falls in (limits/window.ts currentStart): an anchored one's,
-- the running first-use one's, or nil when no first-use window is running.
local function window_start(j)
  local P = period[j]
  if anchor[j] then return anchor[j] + floor((now - anchor[j]) / P) * P end
  if a[j] and now < a[j] + P then return a[j] end
  return nil
end

-- Per scope, the state to write (new pairs by name) and how long until it equals a fresh one.
local ttl, dirty, wa, wb = {}, {}, {}, {}
for s = 1, scopes do
  ttl[s], dirty[s], wa[s], wb[s] = 0, false, {}, {}
end

-- Records dimension j's new pair and how long its scope's state stays meaningful.
local function stage(j, new_a, new_b, idle)
  local s = scope[j]
  wa[s][name[j]], wb[s][name[j]] = new_a, new_b
  dirty[s] = true
  if idle > ttl[s] then ttl[s] = idle end
end

-- Writes a scope's whole state (stored pairs with this call's new ones) in one SET whose
-- expiry never moves earlier: PX is relative to the script's `now`, which tests may set apart
-- from the server's clock.
local function write_state(s)
  local exp = max(old_exp[s], now + ttl[s], now + 1)
  local parts, fmt = { exp }, { "%d" }
  local seen = {}
  local stored_names, stored_a, stored_b, new_a, new_b = names[s], sa[s], sb[s], wa[s], wb[s]
  for k = 1, #stored_names do
    local key = stored_names[k]
    seen[key] = true
    parts[#parts + 1] = key
    parts[#parts + 1] = new_a[key] or stored_a[key]
    parts[#parts + 1] = new_b[key] or stored_b[key]
    fmt[#fmt + 1] = "%s=%d,%d"
  end
  for j = 1, n do
    local key = name[j]
    if scope[j] == s and new_a[key] and not seen[key] then
      seen[key] = true
      parts[#parts + 1] = key
      parts[#parts + 1] = new_a[key]
      parts[#parts + 1] = new_b[key]
      fmt[#fmt + 1] = "%s=%d,%d"
    end
  end
  redis.call("SET", KEYS[s], string.format(table.concat(fmt, ";"), unpack(parts)), "PX", exp - now)
end

local function write_dirty()
  for s = 1, scopes do
    if dirty[s] then write_state(s) end
  end
end

if op == "check" or op == "peek" then
  local admitted = true
  local out = { 0, 0 }
  local next_a, next_b = {}, {}
  local latest = now
  for j = 1, n do
    local L, P, cost, admit_at, remaining, reset = limit[j], period[j], amount[j], now, 0, now
    if kind[j] == "r" then
      local full = L * P
      local level = bucket_level(j)
      local needed = cost * P
      local after = level
      if level >= needed then
        after = level - needed
      elseif cost > L then
        admit_at = INF
      else
        admit_at = now + ceil((needed - level) / L)
      end
      remaining = max(0, floor(after / P))
      reset = now + max(0, ceil((full - after) / L))
      next_a[j], next_b[j] = after, now
    elseif kind[j] == "w" then
      -- A first-use window that is not running would start now, with this request.
      local start = window_start(j) or now
      local used = 0
      if a[j] == start then used = b[j] end
      local after = used
      if used + cost <= L then
        after = used + cost
      elseif cost > L then
        admit_at = INF
      else
        admit_at = start + P
      end
      remaining = max(0, L - after)
      reset = start + P
      next_a[j], next_b[j] = start, after
    else
      local key = lease_key[j]
      local count = redis.call("ZCOUNT", key, "(" .. now, "+inf")
      local soonest = INF
      local first = redis.call("ZRANGEBYSCORE", key, "(" .. now, "+inf", "WITHSCORES", "LIMIT", 0, 1)
      if first[2] then soonest = tonumber(first[2]) end
      if count < L then
        remaining = L - count - 1
      else
        remaining = L - count
        if L == 0 then admit_at = INF else admit_at = soonest end
      end
      if soonest < INF then reset = soonest end
    end
    if admit_at > latest then latest = admit_at end
    local at = 3 + (j - 1) * 4
    out[at], out[at + 1], out[at + 2] = L, remaining, reset
    if admit_at == INF then out[at + 3] = -1 else out[at + 3] = admit_at end
  end
  -- The instant decided at, last: the caller measures every wait from the script's clock.
  out[3 + n * 4] = now
  if latest == now then
    out[1] = 1
  elseif latest == INF then
    out[2] = -1
  else
    out[2] = latest - now
  end
  -- A peek decides like a check but changes nothing.
  if out[1] == 1 and op == "check" then
    if record_key then
      -- "<costs>\n<lease id>\n<scopes>\n<dimensions>\n<keys>\n<request id>": JSON parts hold
      -- no raw newline, and a request id is the gateway's own (req_ and base62).
      local keys = {}
      for i = 1, last_key - 1 do keys[i] = KEYS[i] end
      redis.call("SET", record_key, ARGV[5] .. "\n" .. lease_id .. "\n" .. scopes .. "\n" .. ARGV[4] .. "\n" ..
        cjson.encode(keys) .. "\n" .. (ARGV[9] or ""), "PX", tonumber(ARGV[8]))
      if index_key then redis.call("ZADD", index_key, tonumber(ARGV[11]), record_key) end
    end
    for j = 1, n do
      if kind[j] == "c" then
        hold_lease(j)
      else
        local idle
        if kind[j] == "r" then idle = ceil((limit[j] * period[j] - next_a[j]) / limit[j]) else idle = next_a[j] + period[j] - now end
        stage(j, next_a[j], next_b[j], idle)
      end
    end
  end
  write_dirty()
  return out
end

-- replay: usage served at `now` (a past instant) charged to its windows, never refused, as
-- limits/window.ts chargeWindow does when the windows are rebuilt from the ledger
if op == "replay" then
  for j = 1, n do
    local cost = amount[j]
    if kind[j] == "w" and cost > 0 then
      local P = period[j]
      local start = window_start(j) or now
      local used = 0
      if a[j] == start then used = b[j] end
      stage(j, start, used + cost, start + P - now)
      -- Later rows of the same key read this call's state as theirs.
      a[j], b[j] = start, used + cost
    end
  end
  write_dirty()
  return {}
end

-- refund: the charges of a request whose gateway stopped keeping it alive, given back once
-- (the record stays, marked refunded by a leading "R", for its settlement should the request
-- still end)
if op == "refund" then
  local stored = redis.call("GET", record_key)
  if not stored or string.byte(stored, 1) == 82 then return 0 end
  local charged = cjson.decode(string.match(stored, "^[^\n]*"))
  for j = 1, n do amount[j] = -(charged[j] or 0) end
  redis.call("SET", record_key, "R" .. stored, "KEEPTTL")
elseif record_key then
  -- A settlement ends its record; if the record was refunded meanwhile, the estimate the
  -- deltas are relative to is charged again first.
  local stored = redis.call("GETDEL", record_key)
  if index_key then redis.call("ZREM", index_key, record_key) end
  if stored and string.byte(stored, 1) == 82 then
    local charged = cjson.decode(string.match(stored, "^R([^\n]*)"))
    for j = 1, n do amount[j] = amount[j] + (charged[j] or 0) end
  end
end

-- reconcile: refunds, extra charges and lease releases
for j = 1, n do
  local cost = amount[j]
  if kind[j] == "c" then
    if lease_id ~= "" then redis.call("ZREM", lease_key[j], lease_id) end
  elseif cost ~= 0 then
    local L, P = limit[j], period[j]
    if kind[j] == "r" then
      local full = L * P
      local after = min(full, bucket_level(j) - cost * P)
      stage(j, after, now, ceil((full - after) / L))
    else
      local start = window_start(j)
      if start ~= nil and a[j] == start then stage(j, start, max(0, b[j] + cost), start + P - now) end
    end
  end
end
write_dirty()
if op == "refund" then return 1 end
return {}
