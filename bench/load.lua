-- wrk script: POST Segment messages with unique message ids, then print a JSON summary.
-- Settings come from the environment: BENCH_PATH (/v1/track or /v1/batch), BENCH_BATCH (messages
-- per request, 1 = a single message), BENCH_AUTH (the Authorization header value), BENCH_DELAY_MS
-- (a pause before each request of a connection, to hold the load below the maximum).
local path = os.getenv("BENCH_PATH") or "/v1/track"
local batch = tonumber(os.getenv("BENCH_BATCH") or "1")
local auth = os.getenv("BENCH_AUTH") or ""
local run = os.getenv("BENCH_RUN") or "r"
local pause = tonumber(os.getenv("BENCH_DELAY_MS") or "0")
local counter = 0
local prefix = tostring(math.random(1, 1e9))

local headers = {["Content-Type"] = "application/json", ["Authorization"] = auth}

local function message(id)
  return '{"type":"track","userId":"user-' .. (id % 1000) .. '","event":"Report Built",' ..
    '"messageId":"' .. run .. '-' .. prefix .. '-' .. id .. '",' ..
    '"properties":{"module":"Reports","rows":42},' ..
    '"context":{"library":{"name":"wrk","version":"4"}},' ..
    '"timestamp":"2026-11-22T10:00:00.000Z"}'
end

request = function()
  counter = counter + 1
  local body
  if batch == 1 then
    body = message(counter)
  else
    local items = {}
    for i = 1, batch do
      items[i] = message(counter * batch + i)
    end
    body = '{"batch":[' .. table.concat(items, ",") .. '],"sentAt":"2026-11-22T10:00:00.100Z"}'
  end
  return wrk.format("POST", path, headers, body)
end

if pause > 0 then
  delay = function()
    return pause
  end
end

done = function(summary, latency, requests)
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"duration_us":%d,"non_2xx":%d,"socket_errors":%d,' ..
    '"p50_us":%d,"p99_us":%d}\n',
    summary.requests, summary.duration, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(99)))
end
