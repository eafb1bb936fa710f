"""The Lua scripts behind `JobStore`'s transitions: each changes a job's state in one atomic step
with the event that announces it (see services/store/jobs.py for who calls which, and why some
come in two halves, one per plane)."""

from __future__ import annotations

from shared import eventlog

# KEYS: events, channel, job hash, cancel flag, running-jobs hash, origin's waiting set, owner's,
# control.  ARGV: `started` event JSON (without "{" and seq), run, job id, worker id, now.
# Returns {code, seq, control}: 1 started; 0 the job has ended; -1 the run is not the job's current
# one, or was started already (a duplicate delivery); -2 the job was cancelled before it started.
# `control`: a started job's control request sent while it waited (nil if none), read here rather
# than in a round trip of its own before the prompt is evaluated.
START_SCRIPT = """
if redis.call('HEXISTS', KEYS[3], 'ended') == 1 then return {0, 0} end
local run = redis.call('HGET', KEYS[3], 'run') or '1'
if run ~= ARGV[2] or redis.call('HGET', KEYS[3], 'started_run') == ARGV[2] then return {-1, 0} end
if redis.call('EXISTS', KEYS[4]) == 1 then return {-2, 0} end
redis.call('HSET', KEYS[3], 'status', 'running', 'started_run', ARGV[2], 'started_at', ARGV[5], 'worker', ARGV[4])
redis.call('HSET', KEYS[5], ARGV[3], ARGV[4])
redis.call('ZREM', KEYS[6], ARGV[3])
redis.call('ZREM', KEYS[7], ARGV[3])
local seq = redis.call('RPUSH', KEYS[1], '')
local msg = '{"seq":' .. seq .. ',' .. ARGV[1]
redis.call('LSET', KEYS[1], seq - 1, msg)
redis.call('PUBLISH', KEYS[2], msg)
return {1, seq, redis.call('GET', KEYS[8])}
"""

# The event plane's half of START_SCRIPT, when it has its own Redis (the running-jobs entry and
# the waiting sets are written around it by `start`).  KEYS: events, channel, job hash, cancel
# flag, control.  ARGV and returns: as START_SCRIPT's.
START_EVENTS_SCRIPT = """
if redis.call('HEXISTS', KEYS[3], 'ended') == 1 then return {0, 0} end
local run = redis.call('HGET', KEYS[3], 'run') or '1'
if run ~= ARGV[2] or redis.call('HGET', KEYS[3], 'started_run') == ARGV[2] then return {-1, 0} end
if redis.call('EXISTS', KEYS[4]) == 1 then return {-2, 0} end
redis.call('HSET', KEYS[3], 'status', 'running', 'started_run', ARGV[2], 'started_at', ARGV[5], 'worker', ARGV[4])
local seq = redis.call('RPUSH', KEYS[1], '')
local msg = '{"seq":' .. seq .. ',' .. ARGV[1]
redis.call('LSET', KEYS[1], seq - 1, msg)
redis.call('PUBLISH', KEYS[2], msg)
return {1, seq, redis.call('GET', KEYS[5])}
"""

# KEYS: running-jobs hash.  ARGV: job id, worker id.  Removes the entry only if it is still the
# worker's (a newer worker may have claimed the job since).
RELEASE_SCRIPT = """
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then return redis.call('HDEL', KEYS[1], ARGV[1]) end
return 0
"""

# KEYS: running-jobs hash, job hash, events, channel.  ARGV: job id, dead worker id, the run it
# was running, `retry` event JSON (without "{" and seq), now.  Moves the job to its next run if
# the dead worker still holds it; returns the event's seq, or 0 if someone else claimed it first
# or it ended meanwhile.
CLAIM_SCRIPT = """
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
if redis.call('EXISTS', KEYS[2]) == 0 or redis.call('HEXISTS', KEYS[2], 'ended') == 1 then return 0 end
if (redis.call('HGET', KEYS[2], 'run') or '1') ~= ARGV[3] then return 0 end
local attempt = tonumber(redis.call('HGET', KEYS[2], 'attempt') or '1') + 1
redis.call('HSET', KEYS[2], 'run', tonumber(ARGV[3]) + 1, 'attempt', attempt, 'status', 'queued',
  'enqueued_at', ARGV[5])
local seq = redis.call('RPUSH', KEYS[3], '')
local msg = '{"seq":' .. seq .. ',' .. ARGV[4]
redis.call('LSET', KEYS[3], seq - 1, msg)
redis.call('PUBLISH', KEYS[4], msg)
return seq
"""

# The queue plane's half of CLAIM_SCRIPT.  KEYS: running-jobs hash, pending requeues.  ARGV: job
# id, dead worker id, the `PendingRequeue` JSON.  Takes the job from the dead worker and notes the
# run about to be queued, at once; 0 if someone else took it first.
TAKE_SCRIPT = """
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
return 1
"""

# The event plane's half.  KEYS: job hash, events, channel.  ARGV: the run the dead worker was
# running, `retry` event JSON (without "{" and seq), now, the queue of the next run.  Returns the
# event's seq, or 0 if the job ended or moved on meanwhile.
CLAIM_EVENTS_SCRIPT = """
if redis.call('EXISTS', KEYS[1]) == 0 or redis.call('HEXISTS', KEYS[1], 'ended') == 1 then return 0 end
if (redis.call('HGET', KEYS[1], 'run') or '1') ~= ARGV[1] then return 0 end
local attempt = tonumber(redis.call('HGET', KEYS[1], 'attempt') or '1') + 1
redis.call('HSET', KEYS[1], 'run', tonumber(ARGV[1]) + 1, 'attempt', attempt, 'status', 'queued',
  'enqueued_at', ARGV[3], 'queue', ARGV[4])
local seq = redis.call('RPUSH', KEYS[2], '')
local msg = '{"seq":' .. seq .. ',' .. ARGV[2]
redis.call('LSET', KEYS[2], seq - 1, msg)
redis.call('PUBLISH', KEYS[3], msg)
return seq
"""

# A sample's report to its parent, on an event plane of its own (a cluster runs no script in a
# transaction): APPEND_SCRIPT, then the count of reports, in one step.  Returns {code, seq,
# reports so far} (-1 reports when the append was refused).
REPORT_SCRIPT = (
    "local function append()\n"
    + eventlog.APPEND_SCRIPT
    + """
end
local result = append()
if result[1] == 1 then
  result[3] = redis.call('HINCRBY', KEYS[3], 'samples_reported', 1)
else
  result[3] = -1
end
return result
"""
)

# KEYS: events, channel, job hash, cancel flag.  ARGV: `queued` event JSON (without "{" and seq),
# run, position, expected start (epoch seconds, or ""), now, least seconds between two updates.
# Appends a queue update for a job still waiting in that run, at most once per interval; returns
# the event's seq, or 0 when the job is no longer waiting there (started, ended, requeued).
QUEUE_UPDATE_SCRIPT = """
if redis.call('HEXISTS', KEYS[3], 'ended') == 1 or redis.call('EXISTS', KEYS[4]) == 1 then return 0 end
if redis.call('HGET', KEYS[3], 'status') ~= 'queued' then return 0 end
if (redis.call('HGET', KEYS[3], 'run') or '1') ~= ARGV[2] then return 0 end
if tonumber(ARGV[5]) - tonumber(redis.call('HGET', KEYS[3], 'line_at') or '0') < tonumber(ARGV[6]) then return 0 end
redis.call('HSET', KEYS[3], 'line_position', ARGV[3], 'line_start_at', ARGV[4], 'line_at', ARGV[5])
local seq = redis.call('RPUSH', KEYS[1], '')
local msg = '{"seq":' .. seq .. ',' .. ARGV[1]
redis.call('LSET', KEYS[1], seq - 1, msg)
redis.call('PUBLISH', KEYS[2], msg)
return seq
"""
