-- wrk script for the ingest benchmark: POST /api/event with a body like a real pageview,
-- a desktop browser's user agent, and a different client address per request (the server
-- trusts 127.0.0.1 as a proxy), so visits, sessions and IP lookups are as varied as real ones.
-- Counts the answers by status so the script can check that every 202 became one event.

local paths = { "/", "/pricing", "/blog/why-cookieless", "/docs/install", "/customers", "/contact" }
local referrers = { "", "https://www.google.com/", "https://www.linkedin.com/feed/", "https://news.ycombinator.com/" }
counts = {}
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 100000)
  counts = {}
end

request = function()
  local ip = string.format("%d.%d.%d.%d", math.random(1, 223), math.random(0, 255), math.random(0, 255), math.random(1, 254))
  local body = string.format(
    '{"name":"pageview","url":"https://www.acme.example%s?utm_source=newsletter","domain":"acme.example","referrer":"%s"}',
    paths[math.random(#paths)], referrers[math.random(#referrers)])
  return wrk.format("POST", "/api/event", {
    ["Content-Type"] = "text/plain",
    ["User-Agent"] = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    ["X-Forwarded-For"] = ip,
  }, body)
end

response = function(status, headers, body)
  counts[status] = (counts[status] or 0) + 1
end

done = function(summary, latency, requests)
  local total = {}
  for _, t in ipairs(threads) do
    local c = t:get("counts")
    for status, n in pairs(c) do
      total[status] = (total[status] or 0) + n
    end
  end
  local parts = {}
  for status, n in pairs(total) do
    table.insert(parts, status .. "=" .. n)
  end
  io.write(string.format("RESULT rps=%.0f p50_ms=%.2f p99_ms=%.2f statuses=%s\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    table.concat(parts, ",")))
end
