-- wrk script: POST Segment messages with unique message ids, then print a JSON summary.
-- Settings come from the environment: BENCH_PATH (/v1/track or /v1/batch), BENCH_BATCH (messages
-- per request, 1 = a single message), BENCH_AUTH (the Authorization header value), BENCH_DELAY_MS
-- (the mean pause before each request of a connection, to hold the load below the maximum).
local path = os.getenv("BENCH_PATH") or "/v1/track"
local batch = tonumber(os.getenv("BENCH_BATCH") or "1")
local auth = os.getenv("BENCH_AUTH") or ""
local run = os.getenv("BENCH_RUN") or "r"
local pause = tonumber(os.getenv("BENCH_DELAY_MS") or "0")
local counter = 0
local prefix = tostring(math.random(1, 1e9))

local headers = {["Content-Type"] = "application/json", ["Authorization"] = auth}

-- 100,000 users, each sending about one event every 20 s at full load, each event stamped
-- with the time it is sent: sessions as a product's users make them. (With 1,000 users and
-- one timestamp for every event, each user's session grew by every event of the run, and the
-- sweep that re-read them all once a minute landed in some measurements and not in others.)
local function message(id)
  return '{"type":"track","userId":"user-' .. (id % 100000) .. '","event":"Report Built",' ..
    '"messageId":"' .. run .. '-' .. prefix .. '-' .. id .. '",' ..
    '"properties":{"module":"Reports","rows":42},' ..
    '"context":{"library":{"name":"wrk","version":"4"}},' ..
    '"timestamp":"' .. os.date("!%Y-%m-%dT%H:%M:%S") .. '.000Z"}'
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
    body = '{"batch":[' .. table.concat(items, ",") .. '],"sentAt":"' ..
      os.date("!%Y-%m-%dT%H:%M:%S") .. '.000Z"}'
  end
  return wrk.format("POST", path, headers, body)
end

-- Each pause is drawn from an exponential distribution of that mean, as the gaps between
-- independent clients' requests are. With a fixed pause the connections that one flush
-- answered together sent their next requests together: bursts at the full rate, not half.
if pause > 0 then
  delay = function()
    return -math.log(1 - math.random()) * pause
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
