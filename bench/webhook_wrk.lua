-- wrk script for bench/webhook_bench.py: every request carries a distinct courier event.
-- The bench writes one JSON body per line to BENCH_EVENTS; of BENCH_THREADS threads, thread k sends lines
-- k+1, k+1+n, ... in file order, so each order's statuses leave in sequence. BENCH_DELAY_MS paces each
-- connection (for latency below saturation); unset, every connection sends as fast as it is answered.
-- done() prints one JSON line the bench parses: requests, errors, sent and overrun per run, latency in us.

local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  local count = tonumber(os.getenv("BENCH_THREADS"))
  bodies = {}
  local line_number = 0
  for line in io.lines(os.getenv("BENCH_EVENTS")) do
    if line_number % count == id then
      bodies[#bodies + 1] = line
    end
    line_number = line_number + 1
  end
  available = #bodies
  sent = 0
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = os.getenv("BENCH_AUTH")
end

function request()
  sent = sent + 1
  return wrk.format(nil, nil, nil, bodies[((sent - 1) % #bodies) + 1])
end

local pause = tonumber(os.getenv("BENCH_DELAY_MS") or "")
if pause then
  function delay()
    return pause
  end
end

function done(summary, latency, requests)
  local sent_total, overrun = 0, 0
  for _, thread in ipairs(threads) do
    local thread_sent, available = thread:get("sent"), thread:get("available")
    sent_total = sent_total + thread_sent
    if thread_sent > available then
      overrun = overrun + thread_sent - available
    end
  end
  local errors = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "sent": %d, "overrun": %d, "non_2xx": %d, "socket_errors": %d, ' ..
    '"p50_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, sent_total, overrun, errors.status,
    errors.connect + errors.read + errors.write + errors.timeout,
    latency:percentile(50.0), latency:percentile(99.0), latency.max))
end
