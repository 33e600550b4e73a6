-- wrk script for plain GET scenarios (the path is in the URL): only adds the JSON summary of common.lua.
package.path = (debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "?.lua;" .. package.path
require "common"
