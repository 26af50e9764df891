-- wrk script: counts answers that are neither 2xx nor Moodle's deliberate 503 maintenance page.
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) bad = 0; maint = 0; ok = 0 end
function response(status, headers, body)
  if status >= 200 and status < 300 then ok = ok + 1
  elseif status == 503 then maint = maint + 1
  else bad = bad + 1 end
end
function done(summary, latency, requests)
  local b, m, o = 0, 0, 0
  for _, t in ipairs(threads) do b = b + t:get("bad"); m = m + t:get("maint"); o = o + t:get("ok") end
  local e = summary.errors
  io.write(string.format("RESULT ok=%d maint503=%d bad_status=%d connect=%d read=%d write=%d timeout=%d p50_ms=%.2f p99_ms=%.2f\n",
    o, m, b, e.connect, e.read, e.write, e.timeout, latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
