-- wrk script: GET /api/todos/:id with ids drawn uniformly from the seeded range.
package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "?.lua;" .. package.path
local common = require "common"

function init(args)
  common.init(args)
end

function request()
  return wrk.format("GET", "/api/todos/" .. common.random_id())
end
