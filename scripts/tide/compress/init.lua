-- tide.compress: smaller and faster models for inference.
--
--   compress.prune(model, {amount = 0.8, global = true})   -- magnitude pruning, masks kept
--   local q = compress.quantize(model)                      -- int8 weights, int8 products
--   local pred = tide.infer(q, inputs)                      -- (see tide.infer)
--
-- prune.lua holds pruning, quantize.lua int8 quantization (its GEMM is core/nn/qgemm.c),
-- infer.lua batch inference over the ranks (tide.infer is compress.infer).
local prune = require "tide.compress.prune"
local quantize = require "tide.compress.quantize"

local compress = {}

compress.prune = prune.prune
compress.apply_masks_ = prune.apply_masks_
compress.sparsity = prune.sparsity
compress.quantize = quantize.quantize
compress.paths = quantize.paths
compress.infer = require "tide.compress.infer"

return compress
