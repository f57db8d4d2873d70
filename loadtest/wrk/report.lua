-- wrk script of make bench: sends Accept-Encoding from WRK_ACCEPT_ENCODING
-- and, when done, writes its numbers as JSON to the file WRK_JSON names
-- (latency percentiles in microseconds), for hubpulse-bench report.
local accept = os.getenv("WRK_ACCEPT_ENCODING")
if accept and accept ~= "" then
  wrk.headers["Accept-Encoding"] = accept
end

done = function(summary, latency, requests)
  local path = os.getenv("WRK_JSON")
  if not path then return end
  local e = summary.errors
  local f = assert(io.open(path, "w"))
  f:write(string.format(
    '{"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"p50":%d,"p95":%d,"p99":%d,"max":%d,"mean":%.1f}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99),
    latency.max, latency.mean))
  f:close()
end
