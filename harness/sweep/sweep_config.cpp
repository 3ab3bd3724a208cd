#include "harness/sweep/sweep_config.hpp"

namespace attn::harness {

std::vector<Point> expand_points(const SweepConfig& c) {
  std::vector<Point> points;
  // Round-1 configs carry no kv_heads or query_len lists: one default value each.
  const std::vector<std::int64_t> defaults = {0};
  const auto& kv_heads = c.kv_heads.empty() ? defaults : c.kv_heads;
  const auto& query_lens = c.query_lens.empty() ? defaults : c.query_lens;
  const std::vector<SweepConfig::Precision> fp32_only = {{}};
  const auto& precisions = c.precisions.empty() ? fp32_only : c.precisions;
  const auto& steps_list = c.decode_steps.empty() ? defaults : c.decode_steps;
  for (auto n : c.seq_lens)
    for (auto steps : steps_list)
      for (auto m : query_lens)
        for (auto threads : c.threads)
          for (const auto& input : c.inputs)
            for (auto causal : c.causal)
              for (auto shared : c.shared_qk)
                for (auto seed : c.seeds)
                  for (auto b : c.batches)
                    for (auto h : c.heads)
                      for (auto kv : kv_heads)
                        for (auto d : c.head_dims)
                          for (const auto& precision : precisions) {
                            Point p;
                            // A session's steps are single queries.
                            const std::int64_t queries = steps > 0 ? 1 : m == 0 ? n : m;
                            p.shape = {b, h, kv == 0 ? h : kv, queries, n, d};
                            p.shape.dtype = precision.dtype;
                            p.shape.kv_quantization = precision.kv;
                            p.causal = causal != 0;
                            p.shared_qk = shared != 0;
                            p.input = input;
                            p.seed = seed;
                            p.scale = c.scale;
                            p.threads = threads;
                            p.decode_steps = steps;
                            points.push_back(p);
                          }
  return points;
}

}  // namespace attn::harness
