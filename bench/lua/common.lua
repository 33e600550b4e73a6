-- Shared by the wrk scripts in this folder (loaded with require "common").
--  * setup(): numbers the wrk threads so that each seeds its random generator differently;
--  * done(): prints wrk's summary as ONE line "WRK_JSON {...}" that bench/lib/load.mjs parses
--    (latencies in microseconds; errors.status = responses with status >= 400);
--  * the module: parses the script arguments (idMin idMax pages, from bench/lib/scenarios.mjs) and
--    draws random ids and pages from the seeded range.

local M = { id_min = 1, id_max = 1, pages = 1, json = { ["Content-Type"] = "application/json" } }

local thread_count = 0

function setup(thread)
  thread_count = thread_count + 1
  thread:set("thread_number", thread_count)
end

function M.init(args)
  M.id_min = tonumber(args[1]) or 1
  M.id_max = tonumber(args[2]) or M.id_min
  M.pages = tonumber(args[3]) or 1
  math.randomseed(os.time() * 1000 + (thread_number or 0))
end

function M.random_id()
  return math.random(M.id_min, M.id_max)
end

function M.random_page()
  return math.random(1, M.pages)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%.0f,"duration_us":%.0f,"bytes":%.0f,' ..
    '"errors":{"connect":%.0f,"read":%.0f,"write":%.0f,"status":%.0f,"timeout":%.0f},' ..
    '"latency_us":{"min":%.0f,"mean":%.1f,"p50":%.0f,"p90":%.0f,"p99":%.0f,"p999":%.0f,"max":%.0f}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.mean, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency:percentile(99.9), latency.max))
end

return M
