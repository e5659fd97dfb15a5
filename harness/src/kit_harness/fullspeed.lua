-- Full-speed load of the kit's tests: wrk keeps its connections alive and sends the next request
-- as soon as the last one is answered. kit_harness/fullspeed.py runs it:
--   KIT_WRK_ADDRESS=127.0.0.1 wrk -s fullspeed.lua https://<name>:<port>/ -- <method> <path> <max> [close]
-- The URL's name is used for SNI and Host; connections go to KIT_WRK_ADDRESS. One method and path
-- per wrk process, so every answer is counted against the request it belongs to. It stops after
-- <max> answers (0: only wrk's -d bounds it) and prints one JSON line: the count of each status,
-- wrk's socket errors and latency percentiles. With "close", each request asks for its own
-- connection (Connection: close), as a client that keeps nothing alive.

local address = os.getenv("KIT_WRK_ADDRESS") or "127.0.0.1"

function wrk.resolve(host, service)
   wrk.addrs = wrk.lookup(address, service)
end

local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

local method, path, max_answers
local answers = 0
statuses = {}
local request_bytes

function init(args)
   method = args[1] or "GET"
   path = args[2] or "/"
   max_answers = tonumber(args[3] or "0")
   local body = nil
   local headers = {}
   if args[4] == "close" then
      headers["Connection"] = "close"
   end
   if method == "POST" then
      body = '{"name": "full speed"}'
      headers["Content-Type"] = "application/json"
   end
   request_bytes = wrk.format(method, path, headers, body)
end

function request()
   return request_bytes
end

function response(status, headers, body)
   local key = tostring(status)
   statuses[key] = (statuses[key] or 0) + 1
   answers = answers + 1
   if max_answers > 0 and answers >= max_answers then
      wrk.thread:stop()
   end
end

function done(summary, latency, requests)
   local merged = {}
   for _, thread in ipairs(threads) do
      local counts = thread:get("statuses") or {}
      for status, count in pairs(counts) do
         merged[status] = (merged[status] or 0) + count
      end
   end
   local parts = {}
   for status, count in pairs(merged) do
      table.insert(parts, string.format('"%s": %d', status, count))
   end
   local e = summary.errors
   io.write(string.format(
      'KIT_WRK_RESULT {"statuses": {%s}, "requests": %d, "seconds": %.3f, '
         .. '"errors": {"connect": %d, "read": %d, "write": %d, "timeout": %d}, '
         .. '"p50_ms": %.2f, "p99_ms": %.2f, "max_ms": %.2f}\n',
      table.concat(parts, ", "), summary.requests, summary.duration / 1e6,
      e.connect, e.read, e.write, e.timeout,
      latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
