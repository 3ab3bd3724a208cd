// oneDNN's textbook attention: matmul -> softmax -> matmul, timed at attnbench's shapes.
//
// One timed forward is the three steps over every head of the batch:
//   1. S = scale · Q·Kᵀ + mask    matmul, src Q [G·M, D], weights Kᵀ (K stored [N, D], read
//                                 transposed through its strides), dst S [G·M, N] fp32; the scale
//                                 is the output scale, the causal mask (0 where key j is visible
//                                 to query i, j <= N - M + i, else -inf) a binary-add post-op
//   2. P = softmax(S) over N      softmax, fp32, in place (bf16: softmax_v2 in fp32 writing a bf16
//   P)
//   3. O = P·V                    matmul, V [N, D], dst O [G·M, D] fp32
// G = H / KV query heads share a kv head (grouped-query attention): their rows are stacked, so K
// and V are never copied. With a mask the three steps run per (batch, kv head), reusing one S
// buffer (as attnbench's `dense` does): oneDNN 2.6 has no fast matmul for a binary post-op
// broadcast over a batch dimension (it picks its reference kernel, "ref:any"), and one [G·M, N]
// mask per head would cost H× the memory. Without a mask (M = 1: every key is visible) each step
// is one call over the batch dimension B·KV. oneDNN parallelises each call itself. The causal
// half is computed and then masked, as in every textbook form; GFLOP/s counts useful pairs only.
//
// --dtype f32: Q, K, V, S, P, O fp32. --dtype bf16: Q, K, V bf16, S fp32 (bf16 products summed
// in fp32), softmax in fp32, P rounded to bf16, O fp32 — the mixed-precision recipe of attnbench's
// bf16 forward. oneDNN 2.6 implements bf16 matmul only on CPUs with AVX-512 (avx512_core); where it
// cannot, the row says so in its status column instead of a time.
//
// Usage: onednn_attention [--seq-len 1024,2048] [--query-len M (0: M = N)] [--heads 8]
//            [--kv-heads 8] [--head-dim 64] [--batch 1] [--dtype f32|bf16] [--threads 2]
//            [--reps 5] [--no-causal]
//        onednn_attention --check [--dtype ...]   (fp64 comparison at small shapes; exit 1 if
//        wrong) onednn_attention --version               (the oneDNN library's version)
// Prints CSV rows: peer,dtype,kv_dtype,batch,heads,kv_heads,seq_len,query_len,head_dim,causal,
//                  threads,reps,time_ms,time_ms_min,time_ms_max,status
#include <omp.h>
#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "peer_common.hpp"

namespace {

using dnnl::memory;
using dt = memory::data_type;

struct Shape : peer::PointShape {
  bool bf16 = false;
};

[[noreturn]] void die(const std::string& message) {
  std::fprintf(stderr, "onednn_attention: %s\n", message.c_str());
  std::exit(2);
}

uint16_t to_bf16(float x) {  // round to nearest even (inputs are finite)
  uint32_t u;
  std::memcpy(&u, &x, 4);
  u += 0x7fff + ((u >> 16) & 1);
  return uint16_t(u >> 16);
}
float from_bf16(uint16_t h) {
  const uint32_t u = uint32_t(h) << 16;
  float x;
  std::memcpy(&x, &u, 4);
  return x;
}

class Forward {
 public:
  explicit Forward(const Shape& s) : s_(s), engine_(dnnl::engine::kind::cpu, 0), stream_(engine_) {
    const int64_t B = s.batch, H = s.heads, KV = s.kv_heads, N = s.seq_len, M = s.m(),
                  D = s.head_dim;
    if (H % KV != 0) die("--heads must be a multiple of --kv-heads");
    if (M > N) die("--query-len must be at most --seq-len");
    const int64_t G = H / KV, BK = B * KV, GM = G * M;
    const dt in = s.bf16 ? dt::bf16 : dt::f32;

    // Standard normal inputs, like attnbench's default `gaussian` input. Q is laid out
    // [B, KV, G, M, D]: query head h = kv·G + g, the grouped-query order of attnbench and ggml.
    std::mt19937_64 rng(12345);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    auto fill = [&](std::vector<float>& host, int64_t count) {
      host.resize(count);
      for (auto& x : host) x = normal(rng);
      if (s.bf16)
        for (auto& x : host) x = from_bf16(to_bf16(x));  // what the forward reads
    };
    fill(qh_, B * H * M * D);
    fill(kh_, BK * N * D);
    fill(vh_, BK * N * D);

    use_mask_ = s.causal && M > 1;
    groups_ = use_mask_ ? BK : 1;           // primitive calls per step
    const int64_t nb = use_mask_ ? 1 : BK;  // batch dimension of each call
    const memory::desc q_md({nb, GM, D}, in, {GM * D, D, 1});
    const memory::desc kt_md({nb, D, N}, in, {N * D, 1, D});  // Kᵀ as a strided view of K
    const memory::desc s_md({nb, GM, N}, dt::f32, {GM * N, N, 1});
    const memory::desc p_md({nb, GM, N}, in, {GM * N, N, 1});
    const memory::desc v_md({nb, N, D}, in, {N * D, D, 1});
    const memory::desc o_md({nb, GM, D}, dt::f32, {GM * D, D, 1});
    const memory::desc mask_md({1, GM, N}, dt::f32, {GM * N, N, 1});

    dnnl::primitive_attr scores_attr;
    scores_attr.set_output_scales(0, {1.0f / std::sqrt(float(D))});
    if (use_mask_) {
      dnnl::post_ops ops;
      ops.append_binary(dnnl::algorithm::binary_add, mask_md);
      scores_attr.set_post_ops(ops);
    }
    try {
      const dnnl::matmul::primitive_desc scores_pd(dnnl::matmul::desc(q_md, kt_md, s_md),
                                                   scores_attr, engine_);
      const dnnl::matmul::primitive_desc values_pd(dnnl::matmul::desc(p_md, v_md, o_md), engine_);
      scores_ = dnnl::matmul(scores_pd);
      values_ = dnnl::matmul(values_pd);
      if (s.bf16) {
        const dnnl::softmax_v2_forward::primitive_desc softmax_pd(
            dnnl::softmax_v2_forward::desc(dnnl::prop_kind::forward_inference,
                                           dnnl::algorithm::softmax_accurate, s_md, p_md, 2),
            engine_);
        softmax_ = dnnl::softmax_v2_forward(softmax_pd);
        impl_ = std::string(scores_pd.impl_info_str()) + " / " + softmax_pd.impl_info_str() +
                " / " + values_pd.impl_info_str();
      } else {
        const dnnl::softmax_forward::primitive_desc softmax_pd(
            dnnl::softmax_forward::desc(dnnl::prop_kind::forward_inference, s_md, 2), engine_);
        softmax_ = dnnl::softmax_forward(softmax_pd);
        impl_ = std::string(scores_pd.impl_info_str()) + " / " + softmax_pd.impl_info_str() +
                " / " + values_pd.impl_info_str();
      }
    } catch (const dnnl::error& e) {
      unsupported_ = std::string("unsupported: oneDNN ") + version() + " cannot create the " +
                     (s.bf16 ? "bf16" : "f32") + " primitives on this CPU (" + e.what() + ")";
      return;
    }

    // Q, K, V and O whole; one memory object per call pointing into them.
    const size_t e = s.bf16 ? 2 : 4;
    q_buf_ = alloc(e * B * H * M * D);
    k_buf_ = alloc(e * BK * N * D);
    v_buf_ = alloc(e * BK * N * D);
    o_buf_ = alloc(4 * B * H * M * D);
    store(q_buf_.get(), qh_);
    store(k_buf_.get(), kh_);
    store(v_buf_.get(), vh_);
    const int64_t per_call = BK / groups_;
    for (int64_t g = 0; g < groups_; ++g) {
      q_.emplace_back(q_md, engine_, q_buf_.get() + e * g * per_call * GM * D);
      k_.emplace_back(kt_md, engine_, k_buf_.get() + e * g * per_call * N * D);
      v_.emplace_back(v_md, engine_, v_buf_.get() + e * g * per_call * N * D);
      o_.emplace_back(o_md, engine_, o_buf_.get() + 4 * g * per_call * GM * D);
    }
    s_mem_ = memory(s_md, engine_);
    p_ = s.bf16 ? memory(p_md, engine_) : s_mem_;  // fp32: softmax in place
    if (use_mask_) {
      mask_ = memory(mask_md, engine_);
      auto* m = static_cast<float*>(mask_.get_data_handle());
      for (int64_t r = 0; r < GM; ++r) {
        const int64_t i = r % M;
        for (int64_t j = 0; j < N; ++j) m[r * N + j] = j <= N - M + i ? 0.0f : -INFINITY;
      }
    }
  }

  const std::string& unsupported() const { return unsupported_; }
  const std::string& impl() const { return impl_; }
  static std::string version() {
    const dnnl_version_t* v = dnnl_version();
    return std::to_string(v->major) + "." + std::to_string(v->minor) + "." +
           std::to_string(v->patch);
  }

  double run_ms() {
    const auto start = std::chrono::steady_clock::now();
    for (int64_t g = 0; g < groups_; ++g) {
      std::unordered_map<int, memory> scores_args = {
          {DNNL_ARG_SRC, q_[g]}, {DNNL_ARG_WEIGHTS, k_[g]}, {DNNL_ARG_DST, s_mem_}};
      if (use_mask_) scores_args[DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1] = mask_;
      scores_.execute(stream_, scores_args);
      softmax_.execute(stream_, {{DNNL_ARG_SRC, s_mem_}, {DNNL_ARG_DST, p_}});
      values_.execute(stream_,
                      {{DNNL_ARG_SRC, p_}, {DNNL_ARG_WEIGHTS, v_[g]}, {DNNL_ARG_DST, o_[g]}});
    }
    stream_.wait();
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
        .count();
  }

  double rel_err_vs_fp64() const {
    const auto* out = reinterpret_cast<const float*>(o_buf_.get());
    const int64_t H = s_.heads, M = s_.m(), D = s_.head_dim;
    return peer::rel_err_vs_fp64(
        {s_.batch, H, s_.kv_heads, M, s_.seq_len, D, s_.causal}, qh_.data(), kh_.data(), vh_.data(),
        [&](int64_t b, int64_t h, int64_t i) { return &out[((b * H + h) * M + i) * D]; });
  }

 private:
  struct FreeBytes {
    void operator()(uint8_t* p) const { std::free(p); }
  };
  using Bytes = std::unique_ptr<uint8_t[], FreeBytes>;
  static Bytes alloc(size_t bytes) {
    void* p = std::aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (p == nullptr) throw std::bad_alloc();
    return Bytes(static_cast<uint8_t*>(p));
  }
  void store(uint8_t* dst, const std::vector<float>& host) const {
    if (s_.bf16) {
      auto* d = reinterpret_cast<uint16_t*>(dst);
      for (size_t i = 0; i < host.size(); ++i) d[i] = to_bf16(host[i]);
    } else {
      std::memcpy(dst, host.data(), sizeof(float) * host.size());
    }
  }

  Shape s_;
  dnnl::engine engine_;
  dnnl::stream stream_;
  dnnl::matmul scores_, values_;
  dnnl::primitive softmax_;
  Bytes q_buf_, k_buf_, v_buf_, o_buf_;
  std::vector<memory> q_, k_, v_, o_;
  memory s_mem_, p_, mask_;
  bool use_mask_ = false;
  int64_t groups_ = 1;
  std::string impl_, unsupported_;
  std::vector<float> qh_, kh_, vh_;
};

int check(Shape base) {
  Shape prefill = base;
  prefill.heads = prefill.kv_heads = 2, prefill.seq_len = 256, prefill.query_len = 0,
  prefill.head_dim = 64;
  Shape chunk = prefill;
  chunk.seq_len = 300, chunk.query_len = 100;
  Shape decode = base;
  decode.heads = 8, decode.kv_heads = 2, decode.head_dim = 128, decode.seq_len = 1024,
  decode.query_len = 1;
  const struct {
    const char* what;
    Shape s;
  } cases[] = {{"prefill N=256 H=2 D=64 causal", prefill},
               {"chunk M=100 N=300 H=2 D=64 causal", chunk},
               {"decode M=1 N=1024 H=8/KV=2 D=128", decode}};
  int failures = 0;
  for (const auto& c : cases) {
    Forward f(c.s);
    if (!f.unsupported().empty()) {
      std::fprintf(stderr, "onednn check %-36s %s: %s\n", c.what, base.bf16 ? "bf16" : "f32",
                   f.unsupported().c_str());
      continue;  // nothing to check, and the timing rows will say so
    }
    f.run_ms();
    const double err = f.rel_err_vs_fp64();
    // fp32: fp32 arithmetic. bf16: P is rounded to bf16 (2^-9 relative) before P·V.
    const double tol = base.bf16 ? 1e-2 : 1e-5;
    const bool ok = std::isfinite(err) && err <= tol;
    std::fprintf(stderr, "onednn check %-36s %s: rel_err %.2e (tolerance %.0e) %s [%s]\n", c.what,
                 base.bf16 ? "bf16" : "f32", err, tol, ok ? "ok" : "WRONG", f.impl().c_str());
    failures += !ok;
  }
  if (failures != 0) {
    std::fprintf(stderr,
                 "onednn_attention: %d check(s) FAILED: oneDNN's three steps do not compute the "
                 "same attention\n",
                 failures);
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Shape s;
  peer::RunOptions run;
  for (int a = 1; a < argc; ++a) {
    const std::string opt = argv[a];
    auto value = [&]() -> std::string {
      if (a + 1 >= argc) die("missing value after " + opt);
      return argv[++a];
    };
    if (peer::apply_shared_option(opt, value, s, run)) continue;
    if (opt == "--version") {
      std::printf("%s\n", Forward::version().c_str());
      return 0;
    } else if (opt == "--dtype") {
      const std::string t = value();
      if (t == "f32")
        s.bf16 = false;
      else if (t == "bf16")
        s.bf16 = true;
      else
        die("--dtype is f32 or bf16");
    } else {
      die("unknown option " + opt + " (see the comment at the top of onednn_attention.cpp)");
    }
  }
  omp_set_num_threads(s.threads);  // oneDNN's runtime here is OpenMP
  if (run.run_check) return check(s);
  if (run.reps < 1) die("--reps must be at least 1");
  const char* dtype = s.bf16 ? "bf16" : "fp32";
  for (int64_t n : peer::parse_list(run.seq_lens)) {
    Shape point = s;
    point.seq_len = n;
    auto print = [&](int r, double median, double lo, double hi, const std::string& status) {
      std::printf("onednn_matmul_softmax,%s,%s,%lld,%lld,%lld,%lld,%lld,%lld,%d,%d,%d,", dtype,
                  dtype, (long long)point.batch, (long long)point.heads, (long long)point.kv_heads,
                  (long long)n, (long long)point.m(), (long long)point.head_dim,
                  point.causal ? 1 : 0, point.threads, r);
      if (r > 0)
        std::printf("%.4f,%.4f,%.4f,", median, lo, hi);
      else
        std::printf(",,,");
      std::printf("%s\n", status.c_str());
      std::fflush(stdout);
    };
    std::unique_ptr<Forward> f;
    try {
      f = std::make_unique<Forward>(point);
    } catch (const std::bad_alloc&) {
      print(0, 0, 0, 0, "skipped: out of memory");
      continue;
    }
    if (!f->unsupported().empty()) {
      std::string status = f->unsupported();
      std::replace(status.begin(), status.end(), ',', ';');
      print(0, 0, 0, 0, status);
      continue;
    }
    std::fprintf(stderr, "onednn %s N=%lld: %s\n", dtype, (long long)n, f->impl().c_str());
    f->run_ms();  // warm-up: first touch of S and oneDNN's scratchpads
    std::vector<double> t;
    for (int r = 0; r < run.reps; ++r) t.push_back(f->run_ms());
    const double median = peer::median(t);
    print(run.reps, median, t.front(), t.back(), "ok");
  }
  return 0;
}
