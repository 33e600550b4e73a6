-- wrk script: PUT /api/todos/:id (title + completed) on ids drawn uniformly from the seeded range.
package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "?.lua;" .. package.path
local common = require "common"

local n = 0

function init(args)
  common.init(args)
end

function request()
  n = n + 1
  return wrk.format("PUT", "/api/todos/" .. common.random_id(), common.json,
    '{"title":"Bench update ' .. n .. '","completed":' .. tostring(n % 2 == 0) .. '}')
end
