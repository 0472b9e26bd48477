-- wrk script: the read-heavy mix. Each request is, at random: the global
-- list (40 %, a random page of 20 or a tag), one article (30 %), its comments
-- (20 %) or a profile (10 %), half of them signed in. Needs SLUGS and
-- TOKENS: files of one slug, one token per line (seed.sh writes them).
local function lines(path)
  local out = {}
  for line in io.lines(path) do out[#out + 1] = line end
  return out
end
local slugs = lines(os.getenv("SLUGS"))
local tokens = lines(os.getenv("TOKENS"))
math.randomseed(os.time())
request = function()
  local headers = {}
  if math.random() < 0.5 then
    headers["Authorization"] = "Token " .. tokens[math.random(#tokens)]
  end
  local r = math.random()
  local path
  if r < 0.3 then
    path = "/api/articles?limit=20&offset=" .. (20 * math.random(0, 9))
  elseif r < 0.4 then
    path = "/api/articles?tag=tag" .. math.random(0, 7)
  elseif r < 0.7 then
    path = "/api/articles/" .. slugs[math.random(#slugs)]
  elseif r < 0.9 then
    path = "/api/articles/" .. slugs[math.random(50)] .. "/comments"
  else
    path = "/api/profiles/user" .. math.random(20)
  end
  return wrk.format("GET", path, headers)
end
