-- wrk script: the write mix, every request signed in: favorite (35 %) or
-- unfavorite (35 %) a random article, comment on one (20 %), follow or
-- unfollow another user (10 %). Needs SLUGS and TOKENS, as reads.lua.
local function lines(path)
  local out = {}
  for line in io.lines(path) do out[#out + 1] = line end
  return out
end
local slugs = lines(os.getenv("SLUGS"))
local tokens = lines(os.getenv("TOKENS"))
math.randomseed(os.time() + 1)
request = function()
  local me = math.random(#tokens)
  local headers = {
    ["Authorization"] = "Token " .. tokens[me],
    ["Content-Type"] = "application/json",
  }
  local slug = slugs[math.random(#slugs)]
  local r = math.random()
  if r < 0.35 then
    return wrk.format("POST", "/api/articles/" .. slug .. "/favorite", headers, "{}")
  elseif r < 0.7 then
    return wrk.format("DELETE", "/api/articles/" .. slug .. "/favorite", headers)
  elseif r < 0.9 then
    return wrk.format("POST", "/api/articles/" .. slug .. "/comments", headers,
      '{"comment":{"body":"a comment under load"}}')
  else
    local method = math.random() < 0.5 and "POST" or "DELETE"
    -- Token i is user i's (seed.sh): never oneself, which is a 422.
    local other = (me + math.random(#tokens - 1) - 1) % #tokens + 1
    return wrk.format(method, "/api/profiles/user" .. other .. "/follow", headers, "{}")
  end
end
-- A request of the mix that fails is shown (none should).
response = function(status, headers, body)
  if status >= 300 then
    io.write("failed: ", status, " ", body, "\n")
  end
end
