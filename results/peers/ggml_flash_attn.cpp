// ggml's CPU flash attention (ggml_flash_attn_ext) timed at attnbench's shapes.
//
// Builds the one-op graph the way ggml's own tests do (tests/test-backend-ops.cpp,
// test_flash_attn_ext): q [D, M, H, B] f32, k and v [D, N, KV, B] in f32 or f16 (v not
// transposed), an f16 mask [N, M, 1, 1] with 0 where key j is visible to query i (j <= N - M + i,
// the last M positions, as attnbench places them) and -inf above that diagonal, scale 1/sqrt(D),
// precision GGML_PREC_F32. The result is [D, H, M, B] (ggml permutes it). Grouped-query attention
// by ggml's own broadcasting of K and V heads (H % KV == 0). At M = 1 every key is visible, so no
// mask is passed (the same attention, without reading an all-zero mask).
//
// Usage: ggml_flash_attn [--seq-len 1024,2048] [--query-len M (0: M = N)] [--heads 8]
//            [--kv-heads 8] [--head-dim 64] [--batch 1] [--kv-type f32|f16] [--threads 2]
//            [--reps 5] [--no-causal]
//        ggml_flash_attn --check   (compares with fp64 attention at small shapes; exit 1 if wrong)
// Prints CSV rows: peer,dtype,kv_dtype,batch,heads,kv_heads,seq_len,query_len,head_dim,causal,
//                  threads,reps,time_ms,time_ms_min,time_ms_max,status
// (time of one forward: median, min, max over --reps after one warm-up).
#include "ggml-cpu.h"
#include "ggml.h"
#include "peer_common.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace {

struct Shape : peer::PointShape {
  ggml_type kv_type = GGML_TYPE_F32;
};

[[noreturn]] void die(const std::string& message) {
  std::fprintf(stderr, "ggml_flash_attn: %s\n", message.c_str());
  std::exit(2);
}

// One forward of the shape, with its inputs, ready to run repeatedly.
class Forward {
 public:
  explicit Forward(const Shape& s) : s_(s) {
    const int64_t B = s.batch, H = s.heads, KV = s.kv_heads, N = s.seq_len, M = s.m(),
                  D = s.head_dim;
    if (H % KV != 0) die("--heads must be a multiple of --kv-heads");
    if (M > N) die("--query-len must be at most --seq-len");
    const size_t kv_elem = ggml_type_size(s.kv_type);
    use_mask_ = s.causal && M > 1;
    size_t bytes = sizeof(float) * (B * H * M * D) * 2 + kv_elem * (B * KV * N * D) * 2 +
                   (use_mask_ ? sizeof(ggml_fp16_t) * N * M : 0) + 16 * ggml_tensor_overhead() +
                   ggml_graph_overhead() + (1 << 20);
    ggml_init_params params = {bytes, nullptr, false};
    ctx_ = ggml_init(params);
    if (ctx_ == nullptr) die("ggml_init failed (out of memory?)");

    q_ = ggml_new_tensor_4d(ctx_, GGML_TYPE_F32, D, M, H, B);
    k_ = ggml_new_tensor_4d(ctx_, s.kv_type, D, N, KV, B);
    v_ = ggml_new_tensor_4d(ctx_, s.kv_type, D, N, KV, B);
    if (use_mask_) mask_ = ggml_new_tensor_4d(ctx_, GGML_TYPE_F16, N, M, 1, 1);

    // Standard normal inputs, like attnbench's default `gaussian` input.
    std::mt19937_64 rng(12345);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    auto fill = [&](std::vector<float>& host, int64_t count) {
      host.resize(count);
      for (auto& x : host) x = normal(rng);
    };
    fill(qh_, B * H * M * D);
    fill(kh_, B * KV * N * D);
    fill(vh_, B * KV * N * D);
    std::memcpy(q_->data, qh_.data(), sizeof(float) * qh_.size());
    store_kv(k_, kh_);
    store_kv(v_, vh_);
    if (use_mask_) {
      auto* m = static_cast<ggml_fp16_t*>(mask_->data);
      const ggml_fp16_t zero = ggml_fp32_to_fp16(0.0f), minus_inf = ggml_fp32_to_fp16(-INFINITY);
      for (int64_t i = 0; i < M; ++i)
        for (int64_t j = 0; j < N; ++j) m[i * N + j] = j <= N - M + i ? zero : minus_inf;
    }

    out_ = ggml_flash_attn_ext(ctx_, q_, k_, v_, mask_, 1.0f / std::sqrt(float(D)), 0.0f, 0.0f);
    ggml_flash_attn_ext_set_prec(out_, GGML_PREC_F32);
    graph_ = ggml_new_graph(ctx_);
    ggml_build_forward_expand(graph_, out_);
    plan_ = ggml_graph_plan(graph_, s.threads, nullptr);
    work_.resize(plan_.work_size + 64);
    plan_.work_data = work_.data();
  }
  ~Forward() { ggml_free(ctx_); }
  Forward(const Forward&) = delete;
  Forward& operator=(const Forward&) = delete;

  double run_ms() {
    const auto start = std::chrono::steady_clock::now();
    if (ggml_graph_compute(graph_, &plan_) != GGML_STATUS_SUCCESS) die("ggml_graph_compute failed");
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
        .count();
  }

  // Relative Frobenius error of the output against fp64 attention over the values ggml read
  // (K and V rounded to f16 when stored so).
  double rel_err_vs_fp64() const {
    std::vector<float> k = kh_, v = vh_;
    if (s_.kv_type == GGML_TYPE_F16) {
      round_f16(k);
      round_f16(v);
    }
    const auto* out = static_cast<const float*>(out_->data);
    const int64_t H = s_.heads, M = s_.m(), D = s_.head_dim;
    return peer::rel_err_vs_fp64({s_.batch, H, s_.kv_heads, M, s_.seq_len, D, s_.causal},
                                 qh_.data(), k.data(), v.data(),
                                 [&](int64_t b, int64_t h, int64_t i) {
                                   return &out[((b * M + i) * H + h) * D];
                                 });  // [D, H, M, B]
  }

 private:
  void store_kv(ggml_tensor* t, const std::vector<float>& host) {
    if (t->type == GGML_TYPE_F32)
      std::memcpy(t->data, host.data(), sizeof(float) * host.size());
    else
      ggml_fp32_to_fp16_row(host.data(), static_cast<ggml_fp16_t*>(t->data), int64_t(host.size()));
  }
  static void round_f16(std::vector<float>& x) {
    std::vector<ggml_fp16_t> h(x.size());
    ggml_fp32_to_fp16_row(x.data(), h.data(), int64_t(x.size()));
    ggml_fp16_to_fp32_row(h.data(), x.data(), int64_t(x.size()));
  }

  Shape s_;
  bool use_mask_ = false;
  ggml_context* ctx_ = nullptr;
  ggml_tensor *q_ = nullptr, *k_ = nullptr, *v_ = nullptr, *mask_ = nullptr, *out_ = nullptr;
  ggml_cgraph* graph_ = nullptr;
  ggml_cplan plan_{};
  std::vector<uint8_t> work_;
  std::vector<float> qh_, kh_, vh_;
};

const char* type_name(ggml_type t) { return t == GGML_TYPE_F16 ? "fp16" : "fp32"; }

int check(int threads) {
  struct Case {
    const char* what;
    Shape s;
  };
  std::vector<Case> cases;
  for (ggml_type t : {GGML_TYPE_F32, GGML_TYPE_F16}) {
    Shape prefill;  // square causal prefill (ggml's tiled path)
    prefill.heads = prefill.kv_heads = 2, prefill.seq_len = 256, prefill.kv_type = t;
    Shape chunk = prefill;  // M < N: the mask's diagonal is offset by N - M
    chunk.seq_len = 300, chunk.query_len = 100;
    Shape decode;  // M = 1 grouped-query decode (ggml's split-KV path)
    decode.heads = 8, decode.kv_heads = 2, decode.head_dim = 128, decode.seq_len = 1024;
    decode.query_len = 1, decode.kv_type = t;
    cases.push_back({"prefill N=256 H=2 D=64 causal", prefill});
    cases.push_back({"chunk M=100 N=300 H=2 D=64 causal", chunk});
    cases.push_back({"decode M=1 N=1024 H=8/KV=2 D=128", decode});
  }
  int failures = 0;
  for (auto& c : cases) {
    c.s.threads = threads;
    Forward f(c.s);
    f.run_ms();
    const double err = f.rel_err_vs_fp64();
    // f32 K/V: fp32 arithmetic throughout. f16 K/V: ggml also rounds Q to f16 and accumulates
    // P·V in f16 on its non-tiled paths (the f16 ulp is 2^-11 relative).
    const double tol = c.s.kv_type == GGML_TYPE_F32 ? 1e-5 : 1e-2;
    const bool ok = std::isfinite(err) && err <= tol;
    std::fprintf(stderr, "ggml check %-36s K/V %s: rel_err %.2e (tolerance %.0e) %s\n", c.what,
                 type_name(c.s.kv_type), err, tol, ok ? "ok" : "WRONG");
    failures += !ok;
  }
  if (failures != 0) {
    std::fprintf(stderr,
                 "ggml_flash_attn: %d check(s) FAILED: ggml does not compute the same attention\n",
                 failures);
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  ggml_cpu_init();
  Shape s;
  peer::RunOptions run;
  for (int a = 1; a < argc; ++a) {
    const std::string opt = argv[a];
    auto value = [&]() -> std::string {
      if (a + 1 >= argc) die("missing value after " + opt);
      return argv[++a];
    };
    if (peer::apply_shared_option(opt, value, s, run)) continue;
    if (opt == "--kv-type") {
      const std::string t = value();
      if (t == "f32")
        s.kv_type = GGML_TYPE_F32;
      else if (t == "f16")
        s.kv_type = GGML_TYPE_F16;
      else
        die("--kv-type is f32 or f16");
    } else {
      die("unknown option " + opt + " (see the comment at the top of ggml_flash_attn.cpp)");
    }
  }
  if (run.run_check) return check(s.threads);
  if (run.reps < 1) die("--reps must be at least 1");
  for (int64_t n : peer::parse_list(run.seq_lens)) {
    Shape point = s;
    point.seq_len = n;
    Forward f(point);
    f.run_ms();  // warm-up: first touch of the work buffer and the caches
    std::vector<double> t;
    for (int r = 0; r < run.reps; ++r) t.push_back(f.run_ms());
    const double median = peer::median(t);
    std::printf(
        "ggml_flash_attn_ext,fp32,%s,%lld,%lld,%lld,%lld,%lld,%lld,%d,%d,%d,%.4f,%.4f,%.4f,ok\n",
        type_name(point.kv_type), (long long)point.batch, (long long)point.heads,
        (long long)point.kv_heads, (long long)n, (long long)point.m(), (long long)point.head_dim,
        point.causal ? 1 : 0, point.threads, run.reps, median, t.front(), t.back());
    std::fflush(stdout);
  }
  return 0;
}
