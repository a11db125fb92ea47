package scripts

import "github.com/redis/go-redis/v9"

// Loss detection. Redis can lose entries that clients already hold: a
// restart from an older snapshot or from an AOF that lost its tail keeps the
// epoch marker but not the newest entries; FLUSHALL or a restart without
// persistence loses the marker too. Whoever notices raises the lost mark
// (<prefix>:lost): entries after any id below it may be missing, so a resume
// from there is Gone. Every rule is in lossLua, so each check and the raise
// it implies are one atomic step, the same in the append script, in a
// replay's placement and in the reader's check before each batch.
//
// An id is lost when it was issued (this process saw it), is not in the
// stream, and trimming did not take it: trimming drops only the oldest
// entries, so a missing id at or after the first retained one, or above the
// stream's last id, was lost with data. Each instance checks its own
// high-water mark that way; the one that saw the newest ids finds the hole
// even after another instance appended to the restored stream.
//
// The mark must stay below what was appended after the loss, or clients
// holding those ids would get resets they do not need. Ids after a loss are
// above everything issued before it (they come from the clock and from the
// appender's high-water mark), so when the reader knows which entries are
// new (those above a delivered entry that was lost) it caps the mark at the
// first of them. A changed epoch alone says nothing about which entries
// survived (the marker may have been evicted or restored apart), so only
// entries above the reader's lost delivery count as new.
const lossLua = `
-- ids are <ms>-<seq>; anything else (a hand-edited mark) counts as 0-0.
-- Both parts stay far below 2^53, so doubles compare them exactly.
local function idParts(id)
  local ms, seq = string.match(id or '', '^(%d+)-(%d+)$')
  return tonumber(ms) or 0, tonumber(seq) or 0
end
local function idLess(a, b)
  local am, as = idParts(a)
  local bm, bs = idParts(b)
  return am < bm or (am == bm and as < bs)
end
local function raiseLost(k, id)
  local cur = redis.call('GET', k)
  if not cur or idLess(cur, id) then redis.call('SET', k, id) end
end
local function held(s, id)
  return id ~= '' and #redis.call('XRANGE', s, id, id) > 0
end
-- exists, length, first entry id ('' when empty), last generated id
local function streamInfo(s)
  local ok, info = pcall(redis.call, 'XINFO', 'STREAM', s)
  if not ok then return false, 0, '', '' end
  local length, first, last = 0, '', ''
  for i = 1, #info, 2 do
    local k, v = info[i], info[i + 1]
    if k == 'length' then length = v
    elseif k == 'last-generated-id' then last = v
    elseif k == 'first-entry' and v then first = v[1] end
  end
  return true, length, first, last
end
local function lostAt(s, id)
  if id == '' or held(s, id) then return false end
  local exists, length, first, last = streamInfo(s)
  if not exists then return true end
  if length == 0 then return idLess(last, id) end
  return not idLess(id, first)
end
`

// placeScript places a replay: it raises the mark if the caller's
// high-water mark (ARGV[2]) was lost, then returns the stream's state,
// whether it holds ARGV[1], and the mark.
var placeScript = redis.NewScript(lossLua + `
if lostAt(KEYS[1], ARGV[2]) then raiseLost(KEYS[2], ARGV[2]) end
local exists, length, first, last = streamInfo(KEYS[1])
return {exists and 1 or 0, length, first, last, held(KEYS[1], ARGV[1]) and 1 or 0,
  redis.call('GET', KEYS[2]) or ''}
`)

// pageScript reads one page of a replay (KEYS: stream, mark; ARGV: from,
// end, count, the caller's high-water mark, the mark the replay was placed
// with, guard). It answers {0} when the replay can no longer be whole: the
// caller's high-water mark was lost (the mark is raised), the mark moved
// since the placement, or with guard set, trimming passed from. Else {1,
// entries}.
var pageScript = redis.NewScript(lossLua + `
if lostAt(KEYS[1], ARGV[4]) then raiseLost(KEYS[2], ARGV[4]) end
if (redis.call('GET', KEYS[2]) or '') ~= ARGV[5] then return {0} end
if ARGV[6] == '1' then
  local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)
  if #first > 0 and idLess(ARGV[1], first[1][1]) then return {0} end
end
return {1, redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[2], 'COUNT', ARGV[3])}
`)

// checkScript is the reader's look before each batch (KEYS: stream, epoch,
// mark; ARGV: the epoch, last delivered id, mark and high-water mark the
// reader knew, and a fresh epoch in case there is none). It answers
// {intact, epoch, mark, last id}: intact when the dataset is the one it knew
// (same epoch, its last delivery still there, its high-water mark not lost)
// and nobody raised the mark since. The first look (no epoch known yet) only
// records.
var checkScript = redis.NewScript(lossLua + `
local epoch = redis.call('GET', KEYS[2])
if not epoch then
  epoch = ARGV[5]
  redis.call('SET', KEYS[2], epoch)
end
local function answer(intact)
  local _, _, _, last = streamInfo(KEYS[1])
  return {intact, epoch, redis.call('GET', KEYS[3]) or '', last}
end
if ARGV[1] == '' then return answer(1) end
local changed = epoch ~= ARGV[1]
local seenGone = ARGV[2] ~= '' and not held(KEYS[1], ARGV[2])
-- After a changed epoch an id below the first entry was not trimmed: the
-- dataset it was in is gone.
local seenLost = seenGone and (changed or lostAt(KEYS[1], ARGV[2]))
if changed or seenLost or lostAt(KEYS[1], ARGV[4]) then
  local mark = ARGV[4]
  if mark ~= '' and seenLost then
    local new = redis.call('XRANGE', KEYS[1], '(' .. ARGV[2], '+', 'COUNT', 1)
    if #new > 0 and idLess(new[1][1], mark) then mark = new[1][1] end
  end
  if mark ~= '' then raiseLost(KEYS[3], mark) end
  return answer(0)
end
-- A delivered entry that was trimmed may have taken undelivered ones with
-- it: not a loss in the stream, but the reader's clients must resume.
if seenGone or (redis.call('GET', KEYS[3]) or '') ~= ARGV[3] then
  return answer(0)
end
return {1}
`)

// appendScript appends one event and records its idempotency key in one
// atomic step. A key whose event is still in the stream returns that event's
// id and appends nothing; a key whose event was trimmed is free again, as in
// the memory log. Trimming is approximate (~): Redis drops whole radix-tree
// nodes, so history holds at least Size events and at most a node more.
//
// The id is above the caller's high-water mark (ARGV[8], whose ms is ARGV[9])
// as well as the stream's last id: a Redis restored from an older snapshot
// has a lower last id, and its own "*" would hand out again ids that clients
// already hold whenever those ran ahead of its clock. With the mark at or
// past now, the explicit id is used; XADD refuses it only when the stream's
// last id is higher still, and "*" is then above both.
var appendScript = redis.NewScript(lossLua + `
-- The caller's own mark (ARGV[10]) lost: record it before anything new goes
-- in, so no resume slips past the hole.
if lostAt(KEYS[1], ARGV[10]) then raiseLost(KEYS[3], ARGV[10]) end
local key = ARGV[4]
if key ~= '' then
  local prev = redis.call('GET', KEYS[2])
  if prev and #redis.call('XRANGE', KEYS[1], prev, prev) > 0 then
    return {prev, 1}
  end
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local id
if tonumber(ARGV[9]) >= now then
  id = redis.pcall('XADD', KEYS[1], 'MAXLEN', '~', ARGV[5], ARGV[8],
    'topic', ARGV[1], 'event', ARGV[2], 'data', ARGV[3], 'key', key)
end
if type(id) ~= 'string' then
  id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[5], '*',
    'topic', ARGV[1], 'event', ARGV[2], 'data', ARGV[3], 'key', key)
end
local age = tonumber(ARGV[6])
if age > 0 then
  local ms = tonumber(string.match(id, '^(%d+)-'))
  redis.call('XTRIM', KEYS[1], 'MINID', '~', string.format('%.0f', ms - age))
end
if key ~= '' then
  redis.call('SET', KEYS[2], id, 'PX', ARGV[7])
end
return {id, 0}
`)
