-- wrk script: 80% reads / 20% writes — 40% list (random page of 10), 40% get by id, 10% create,
-- 10% update; ids and pages drawn uniformly from the seeded range.
package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "?.lua;" .. package.path
local common = require "common"

local n = 0

function init(args)
  common.init(args)
end

function request()
  local r = math.random(100)
  if r <= 40 then
    return wrk.format("GET", "/api/todos?page=" .. common.random_page() .. "&limit=10")
  elseif r <= 80 then
    return wrk.format("GET", "/api/todos/" .. common.random_id())
  end
  n = n + 1
  if r <= 90 then
    return wrk.format("POST", "/api/todos", common.json,
      '{"title":"Bench todo ' .. n .. '","description":"created by the load generator"}')
  end
  return wrk.format("PUT", "/api/todos/" .. common.random_id(), common.json,
    '{"title":"Bench update ' .. n .. '","completed":' .. tostring(n % 2 == 0) .. '}')
end
