-- tide.recommend: recommender models. Loaded on first use as tide.recommend.
--
--   recommend.als{...}        alternating least squares on (user, item, rating) triplets
--                             (tide/recommend/als.lua)
--   recommend.synthetic{...}  a low-rank rating matrix with most entries missing, reproducible
--                             from a seed in any language (tide/recommend/synthetic.lua)
local M = {}

function M.als(opts)
  local model = require("tide.recommend.als").new(opts, 3)
  return model
end

function M.synthetic(opts)
  local train, test = require("tide.recommend.synthetic")(opts)
  return train, test
end

return M
