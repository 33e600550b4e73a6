-- wrk script: POST /api/todos with a new title each time.
package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "?.lua;" .. package.path
local common = require "common"

local n = 0

function init(args)
  common.init(args)
end

function request()
  n = n + 1
  return wrk.format("POST", "/api/todos", common.json,
    '{"title":"Bench todo ' .. n .. '","description":"created by the load generator"}')
end
