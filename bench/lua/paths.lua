-- GET the paths listed in a file (one a line), in turn, with a browser's User-Agent.
-- wrk -s bench/lua/paths.lua URL -- PATHS_FILE
-- Each thread starts at its own offset so that the threads spread over the paths.

local paths = {}
local index = 0
local counter = 0
local threads = {}

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
  table.insert(threads, thread)
end

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then
      table.insert(paths, line)
    end
  end
  if #paths == 0 then
    error("no paths in " .. args[1])
  end
  index = ((id or 1) * 7919) % #paths
  wrk.headers["User-Agent"] =
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 " ..
    "(KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.40"
end

function request()
  index = index % #paths + 1
  return wrk.format("GET", paths[index])
end
