-- wrk script: counts answers that are neither 2xx nor Moodle's deliberate 503 maintenance page.
local threads = {}
function setup(thread) table.insert(threads, thread) end
-- Optional first script argument: milliseconds each connection waits before its next request,
-- which turns wrk's flat-out closed loop into a steady rate (connections x 1000 / delay req/s).
local wait_ms = 0
function init(args) bad = 0; maint = 0; ok = 0; wait_ms = tonumber(args[1] or "0") or 0 end
function delay() return wait_ms end
function response(status, headers, body)
  if status >= 200 and status < 300 then ok = ok + 1
  elseif status == 503 then maint = maint + 1
  else bad = bad + 1 end
end
function done(summary, latency, requests)
  local b, m, o = 0, 0, 0
  for _, t in ipairs(threads) do b = b + t:get("bad"); m = m + t:get("maint"); o = o + t:get("ok") end
  local e = summary.errors
  io.write(string.format("RESULT requests=%d ok=%d maint503=%d bad_status=%d connect=%d read=%d write=%d timeout=%d p50_ms=%.2f p99_ms=%.2f\n",
    summary.requests, o, m, b, e.connect, e.read, e.write, e.timeout, latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
