// LSH attention (Kitaev, Kaiser and Levskaya, "Reformer", 2020): a selection by hashing and
// sorting, attended on the engine's sorted-chunk path (attention/bases/sorted_chunks.hpp); at
// M < N a selection by hashing alone, attended on the gathered path.
//
// Hashing. For each of `hashes` rounds r, every query and every key is mapped to a bucket by
// angular LSH: with a Gaussian matrix R_r shared by the queries and keys of a head, the bucket of
// x is argmax([x·R_r ; -x·R_r]), which is invariant to the length of x, so x needs no
// normalisation. R_r has buckets/2 columns when buckets <= 16 (Reformer's hash). More buckets
// must be a power of two and are hashed as the product of k = ceil(log2(buckets) / 4) such
// rotations of balanced power-of-two sizes <= 16 (the factorised n_buckets of Reformer's
// reference code), the bucket being their mixed-radix combination with the first factor most
// significant: hashing then costs O(N·D·log buckets) rather than O(N·D·buckets), which with the
// default buckets ≈ N/chunk would be quadratic in N. The default is the power of two nearest to
// N/chunk, at least 2. Queries and keys are hashed separately unless K and Q are the same storage.
//
// Entries of R are N(0, 1) from splitmix64 and Box–Muller (u1 = (top 53 bits + 1)·2^-53,
// u2 = top 53 bits·2^-53, both outputs used), column by column, the stream of round r of head h
// seeded with splitmix64(splitmix64(splitmix64(seed) ^ h) ^ r): every batch entry of a head uses
// the same rotations, and a round's rotation does not depend on the number of rounds.
//
// Selection. In each round the queries and the keys are each sorted by (bucket, position) with
// a counting sort and cut into chunks of `chunk`. Query chunk c attends the key chunks
// c-lookback .. c of the sorted keys, all of them: no same-bucket mask (a chunk straddling a
// bucket boundary also sees the neighbouring bucket, and with separate Q and K hashing the
// query and key chunks at the same sorted position need not share a bucket). A query may attend
// its own position. Causal: a query keeps only keys at original positions <= its own. A query's
// key set, keys(), is the union over rounds of the keys it met; the sorted-chunk attention is
// exact softmax over that union (each key attended in exactly one round, the rounds merged by
// their log-sum-exp), which is what the registry test checks against fp64.
//
// Selection at M < N (decode, chunked prefill over a cache), as Reformer's decoding and MagicPIG's
// LSH retrieval do: there is no square order to cut into chunks, so query i, at position
// p = N - M + i, attends the union over rounds of the cached keys whose bucket in that round
// equals its own bucket in that round (the same hash and the same rotations of head h and round r
// as above; Q and K never share storage here). Causal keeps keys j <= p. The query also attends
// its own position's key, which at M < N always exists (p < N), so that a query whose buckets no
// key shares still has a row to attend. `chunk` and `lookback` play no part, only through the
// default bucket count. The keys are attended exactly, as a KeyListSelection.
//
// State (decode sessions). The bucket of every cached key in every round is what LSH keeps with
// the cache (KeyCodes in lsh_stages.hpp): a session hashes its prefill's N keys once, each step
// hashes only the appended key, O(hashes · D · log buckets) per head, and the step's query is
// hashed and matched against the stored codes. A one-shot forward at M < N builds the same codes
// at once and selects from them, one path. The bucket count is fixed when the codes are made: a
// session keeps the count its prefill chose (with buckets=0, from the prefill's N), while a
// one-shot forward over the grown cache uses its own N, and may differ from the session's steps.
#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <memory>
#include <numbers>
#include <stdexcept>
#include <string>

#include "attention/bases/gathered_attention.hpp"
#include "attention/bases/selecting_variant.hpp"
#include "attention/bases/sorted_chunks.hpp"
#include "attention/core/random.hpp"
#include "attention/core/registry.hpp"
#include "attention/numeric/microkernel.hpp"
#include "variants/lsh_stages.hpp"

namespace attn::lsh {
namespace {

// Hashing runs the engine's score kernel on tiles of kHashRows vectors × kHashColumns rotation
// columns (its tile shape): a little faster than OpenBLAS on these thin products (the hashing
// stage at N=64K went from 97 to 92 ms) and one dependency less for the variant.
constexpr std::int64_t kHashRows = 64;
constexpr std::int64_t kHashColumns = 128;

std::size_t count(std::int64_t n) { return static_cast<std::size_t>(n); }

// Cache lines of one block of kHashRows vectors, which the hashing prefetches a block ahead.
std::int64_t hash_prefetch_lines(std::int64_t head_dim) {
  return kHashRows * head_dim * 4 / 64 + 1;
}

// Appends the address of every cache line of [data, data + bytes) to `lines` at `count`.
void list_lines(const void* data, std::int64_t bytes, const void** lines, std::int64_t& count) {
  const char* p = static_cast<const char*>(data);
  for (std::int64_t offset = 0; offset < bytes; offset += 64) lines[count++] = p + offset;
}

}  // namespace

std::int64_t default_buckets(std::int64_t seq_len, std::int64_t chunk) {
  const double ratio = static_cast<double>(seq_len) / static_cast<double>(chunk);
  std::int64_t buckets = 2;
  // Doubling while the next power is nearer to the ratio in log scale.
  while (static_cast<double>(buckets * 2) <= ratio * std::numbers::sqrt2) buckets *= 2;
  return buckets;
}

std::vector<std::int64_t> bucket_factors(std::int64_t buckets) {
  if (buckets <= kMaxFactor) return {buckets};
  const int bits = std::countr_zero(static_cast<std::uint64_t>(buckets));  // a power of two
  const int max_bits = std::countr_zero(static_cast<std::uint64_t>(kMaxFactor));
  const int parts = (bits + max_bits - 1) / max_bits;
  std::vector<std::int64_t> factors;
  for (int i = 0; i < parts; ++i)
    factors.push_back(std::int64_t{1} << (bits / parts + (i < bits % parts ? 1 : 0)));
  return factors;
}

Layout::Layout(const Params& p, const AttentionShape& shape)
    : params(p),
      n(shape.seq_len),
      head_dim(shape.head_dim),
      buckets(p.buckets > 0 ? p.buckets : default_buckets(shape.seq_len, p.chunk)),
      factors(bucket_factors(buckets)) {
  for (std::int64_t f : factors) columns_per_round += f / 2;
}

HeadHashing::HeadHashing(const Layout& layout) : bucket_q(count(layout.params.hashes * layout.n)) {}

AlignedBuffer<float> rotations(const Layout& layout, std::int64_t head) {
  const std::int64_t d = layout.head_dim, columns = layout.columns_per_round;
  AlignedBuffer<float> r(count(d * layout.params.hashes * columns));
  for (std::int64_t round = 0; round < layout.params.hashes; ++round) {
    std::uint64_t state =
        hash64(hash64(hash64(layout.params.seed) ^ static_cast<std::uint64_t>(head)) ^
               static_cast<std::uint64_t>(round));
    float* column = r.data() + round * columns * d;
    for (std::int64_t i = 0; i < columns * d; i += 2) {
      const double u1 = static_cast<double>((splitmix64(state) >> 11) + 1) * 0x1p-53;
      const double u2 = static_cast<double>(splitmix64(state) >> 11) * 0x1p-53;
      const double radius = std::sqrt(-2.0 * std::log(u1));
      column[i] = static_cast<float>(radius * std::cos(2.0 * std::numbers::pi * u2));
      if (i + 1 < columns * d)
        column[i + 1] = static_cast<float>(radius * std::sin(2.0 * std::numbers::pi * u2));
    }
  }
  return r;
}

void hash_vectors(const Layout& layout, const float* r, const float* x, std::int64_t rows,
                  std::int32_t* buckets, std::int64_t round_stride) {
  const std::int64_t n = rows, d = layout.head_dim, hashes = layout.params.hashes;
  const std::int64_t stride = hashes * layout.columns_per_round;
  const std::int64_t blocks = (n + kHashRows - 1) / kHashRows;
  const std::int64_t granularity = kernel::row_granularity();
  tbb::parallel_for(tbb::blocked_range<std::int64_t>(0, blocks), [&](const auto& range) {
    // The projections come out of the engine's score kernel transposed, [column][row], so
    // the argmax runs across rows in SIMD; R's columns play the keys.
    AlignedBuffer<float> x_t(count(d * kHashRows));
    AlignedBuffer<float> projections(count(stride * kHashRows));
    AlignedBuffer<std::int32_t> best(count(kHashRows)), bucket(count(kHashRows));
    std::vector<const void*> next_lines(count(hash_prefetch_lines(d)));
    for (std::int64_t blk = range.begin(); blk < range.end(); ++blk) {
      const std::int64_t first = blk * kHashRows, block_rows = std::min(kHashRows, n - first);
      const std::int64_t padded_rows = (block_rows + granularity - 1) / granularity * granularity;
      kernel::pack_queries(x + first * d, d, block_rows, padded_rows, d, 1.0f, x_t.data(),
                           kHashRows);
      // The next block's rows stream in while this one is projected: the hashing reads all
      // of Q and K from memory once, and this hides that read behind the arithmetic.
      std::int64_t lines = 0;
      if (blk + 1 < range.end())
        list_lines(x + (first + kHashRows) * d, std::min(kHashRows, n - first - kHashRows) * d * 4,
                   next_lines.data(), lines);
      PrefetchStream next_stream{next_lines.data(), lines, 0};
      for (std::int64_t c0 = 0; c0 < stride; c0 += kHashColumns)
        kernel::score_tile(x_t.data(), kHashRows, padded_rows, r + c0 * d, d,
                           std::min(kHashColumns, stride - c0), d,
                           projections.data() + c0 * kHashRows, kHashRows, &next_stream);
      const float* p = projections.data();
      for (std::int64_t round = 0; round < hashes; ++round) {
        std::fill_n(bucket.data(), block_rows, 0);
        for (std::int64_t factor : layout.factors) {
          const auto half = static_cast<std::int32_t>(factor / 2);
          kernel::signed_argmax(p, kHashRows, half, padded_rows, best.data());
          p += half * kHashRows;
          const auto radix = static_cast<std::int32_t>(factor);
          for (std::int64_t i = 0; i < block_rows; ++i)
            bucket[count(i)] = bucket[count(i)] * radix + best[count(i)];
        }
        std::copy_n(bucket.data(), block_rows, buckets + round * round_stride + first);
      }
    }
  });
}

void hash_head(const Layout& layout, const AttentionInputs& in, std::int64_t b, std::int64_t h,
               HeadHashing& out) {
  const std::int64_t n = layout.n;
  out.shared = in.q.data.data() == in.k.data.data();
  if (!out.shared) out.bucket_k.resize(out.bucket_q.size());
  const AlignedBuffer<float> r = rotations(layout, h);
  hash_vectors(layout, r.data(), in.q.head(b, h), n, out.bucket_q.data(), n);
  if (!out.shared) hash_vectors(layout, r.data(), in.k_head(b, h), n, out.bucket_k.data(), n);
}

void sort_head(const Layout& layout, const HeadHashing& hashing, SortedOrders& out) {
  const std::int64_t n = layout.n, hashes = layout.params.hashes, chunk = layout.params.chunk;
  // One task per array (queries, keys), its rounds in turn: chunk_* is position-major, so two
  // rounds sorted at once would write the same cache lines.
  tbb::parallel_for(0, hashing.shared ? 1 : 2, [&](int task) {
    const bool keys = task == 1;
    const std::int32_t* buckets = (keys ? hashing.bucket_k : hashing.bucket_q).data();
    std::int32_t* orders = (keys ? out.order_k : out.order_q).data();
    std::int32_t* chunk_of = (keys ? out.chunk_k : out.chunk_q).data();
    std::vector<std::int32_t> start(count(layout.buckets + 1));
    for (std::int64_t round = 0; round < hashes; ++round) {
      const std::int32_t* bucket = buckets + round * n;
      std::int32_t* order = orders + round * n;
      // Counting sort, stable, so that each bucket keeps position order.
      std::fill(start.begin(), start.end(), 0);
      for (std::int64_t i = 0; i < n; ++i) ++start[count(bucket[i] + 1)];
      for (std::int64_t k = 0; k < layout.buckets; ++k) start[count(k + 1)] += start[count(k)];
      for (std::int64_t i = 0; i < n; ++i) {
        const std::int32_t position = start[count(bucket[i])]++;
        order[position] = static_cast<std::int32_t>(i);
        chunk_of[count(i * hashes + round)] = static_cast<std::int32_t>(position / chunk);
      }
    }
  });
}

KeyCodes::KeyCodes(const Params& params, const AttentionShape& shape)
    : layout_(params, shape),
      batch_(shape.batch),
      heads_(shape.heads),
      codes_(count(shape.batch * shape.heads * params.hashes)) {
  for (std::int64_t h = 0; h < heads_; ++h) rotations_.push_back(lsh::rotations(layout_, h));
}

void KeyCodes::extend(const AttentionInputs& inputs) {
  const std::int64_t begin = length(), end = inputs.shape().seq_len;
  if (end <= begin) return;
  const std::int64_t added = end - begin, hashes = layout_.params.hashes, d = layout_.head_dim;
  tbb::parallel_for(std::int64_t{0}, batch_ * heads_, [&](std::int64_t bh) {
    const std::int64_t b = bh / heads_, h = bh % heads_;
    std::vector<std::int32_t> fresh(count(hashes * added));
    hash_vectors(layout_, rotations(h), inputs.k_head(b, h) + begin * d, added, fresh.data(),
                 added);
    for (std::int64_t round = 0; round < hashes; ++round) {
      auto& codes = codes_[index(b, h, round)];
      codes.insert(codes.end(), fresh.begin() + round * added, fresh.begin() + (round + 1) * added);
    }
  });
  set_length(end);
}

std::int64_t KeyCodes::bytes() const {
  std::int64_t total = 0;
  for (const auto& codes : codes_) total += static_cast<std::int64_t>(codes.size() * 4);
  for (const auto& r : rotations_) total += static_cast<std::int64_t>(r.size() * sizeof(float));
  return total;
}

std::vector<double> KeyCodes::values() const {
  std::vector<double> all{static_cast<double>(length()), static_cast<double>(layout_.buckets)};
  for (const auto& r : rotations_) all.insert(all.end(), r.data(), r.data() + r.size());
  for (const auto& codes : codes_) all.insert(all.end(), codes.begin(), codes.end());
  return all;
}

void hash_queries(const KeyCodes& codes, const AttentionInputs& inputs, std::int64_t b,
                  std::int64_t h, std::vector<std::int32_t>& out) {
  const std::int64_t m = inputs.shape().query_len;
  out.resize(count(codes.layout().params.hashes * m));
  hash_vectors(codes.layout(), codes.rotations(h), inputs.q.head(b, h), m, out.data(), m);
}

void keys_sharing_a_bucket(const KeyCodes& codes, std::int64_t b, std::int64_t h,
                           const std::int32_t* query_buckets, std::int64_t round_stride,
                           std::int64_t position, std::int64_t visible,
                           std::vector<std::uint8_t>& met, std::vector<std::int32_t>& out) {
  // One pass per round over that round's codes, which the compiler vectorises; a key's rounds
  // side by side would need a gather per key.
  met.assign(count(visible), 0);
  for (std::int64_t round = 0; round < codes.layout().params.hashes; ++round) {
    const std::int32_t* code = codes.codes(b, h, round);
    const std::int32_t bucket = query_buckets[round * round_stride];
    for (std::int64_t j = 0; j < visible; ++j)
      met[count(j)] |= static_cast<std::uint8_t>(code[j] == bucket);
  }
  // The own key keeps a query whose buckets no cached key shares from an empty row.
  if (position < visible) met[count(position)] = 1;
  out.clear();
  for (std::int64_t j = 0; j < visible; ++j)
    if (met[count(j)] != 0) out.push_back(static_cast<std::int32_t>(j));
}

namespace {

constexpr double kMaxHashes = 64;
constexpr double kMaxChunk = 1 << 16;
constexpr double kMaxBuckets = 1 << 24;
constexpr double kMaxLookback = 1 << 16;
constexpr double kMaxSeed = 4294967295.0;

std::string str(std::int64_t value) { return std::to_string(value); }

// Σ_{i=0}^{n-1} min(i + 1, cap): keys of n causal queries that each see at most `cap`.
std::int64_t causal_capped(std::int64_t n, std::int64_t cap) {
  const std::int64_t ramp = std::min(n, cap);
  return ramp * (ramp + 1) / 2 + (n - ramp) * cap;
}
class Lsh final : public SelectingVariant {
 public:
  static VariantInfo info() {
    return {"lsh",
            "Reformer LSH attention: per hash round, sort queries and keys by angular-LSH bucket, "
            "chunk i attends key chunks i-lookback..i (M < N: the keys sharing a bucket with the "
            "query); exact softmax over the union of rounds",
            {{"hashes", ParamKind::kInteger, 4, 1, kMaxHashes, "hash rounds"},
             {"chunk", ParamKind::kInteger, 64, 1, kMaxChunk, "queries and keys per sorted chunk"},
             {"buckets", ParamKind::kInteger, 0, 0, kMaxBuckets,
              "buckets per round: even, a power of two above 16; 0 = the power of two nearest "
              "N/chunk"},
             {"lookback", ParamKind::kInteger, 1, 0, kMaxLookback,
              "earlier key chunks each query chunk attends besides its own"},
             {"seed", ParamKind::kInteger, 0, 0, kMaxSeed, "seed of the random rotations"}},
            {"lsh:hashes=1,chunk=16,buckets=2,lookback=0,seed=0",
             "lsh:hashes=2,chunk=16,buckets=8,lookback=1,seed=3",
             "lsh:hashes=4,chunk=16,buckets=0,lookback=1,seed=7",
             "lsh:hashes=2,chunk=16,buckets=16,lookback=2,seed=1"}};
  }

  explicit Lsh(const VariantConfig& config)
      : SelectingVariant(config),
        params_{config.integer("hashes"), config.integer("chunk"), config.integer("buckets"),
                config.integer("lookback"), static_cast<std::uint64_t>(config.integer("seed"))} {
    const std::int64_t buckets = params_.buckets;
    if (buckets % 2 != 0)
      throw std::invalid_argument("lsh: buckets=" + str(buckets) +
                                  " must be even (argmax over [xR; -xR] gives an even count) "
                                  "or 0 for the default");
    if (buckets > kMaxFactor && !std::has_single_bit(static_cast<std::uint64_t>(buckets)))
      throw std::invalid_argument(
          "lsh: buckets=" + str(buckets) + " must be a power of two when above " + str(kMaxFactor) +
          " (it is hashed as a product of rotations of at most " + str(kMaxFactor) +
          " buckets); use " +
          str(std::int64_t{1} << std::bit_width(static_cast<std::uint64_t>(buckets) / 2)) + " or " +
          str(static_cast<std::int64_t>(std::bit_ceil(static_cast<std::uint64_t>(buckets)))));
  }

  void check(const AttentionShape& shape, bool causal) const override {
    Variant::check(shape, causal);
    if (shape.seq_len > std::numeric_limits<std::int32_t>::max())
      throw std::invalid_argument("lsh: N=" + str(shape.seq_len) + " is above the 2^31-1 tokens " +
                                  "its 32-bit index arrays hold");
    if (params_.buckets > std::max(kMaxFactor, shape.seq_len))
      throw std::invalid_argument("lsh: buckets=" + str(params_.buckets) +
                                  " exceeds N=" + str(shape.seq_len) +
                                  ": most buckets would be empty; use at most max(" +
                                  str(kMaxFactor) + ", N) or buckets=0 for the default (" +
                                  str(default_buckets(shape.seq_len, params_.chunk)) + ")");
  }

  // A query's chunk depends on where every other query sorts (at M < N each query chooses
  // alone, but the square rule does not).
  bool chooses_per_query() const override { return false; }

  // The sorted-chunk path gathers fp32 rows; M < N attends on the gathered path, which
  // dequantizes a quantized cache's rows as it copies them.
  bool reads_quantized_cache(const AttentionShape& s) const override {
    return s.query_len < s.seq_len;
  }

  std::shared_ptr<const Selection> select(const AttentionInputs& in) const override {
    const AttentionShape s = in.shape();
    // M < N: the codes a session would keep, built at once, so that both are one path.
    if (s.query_len < s.seq_len) return select_from_state(in, *start_session(in));
    const Layout layout(params_, s);
    const bool shared = in.q.data.data() == in.k.data.data();
    auto selection = std::make_shared<SortedChunkSelection>(
        s, in.causal, params_.hashes, params_.chunk, params_.lookback, shared);
    // Heads one after another, each parallel inside: the buckets are allocated once.
    HeadHashing hashing(layout);
    for (std::int64_t b = 0; b < s.batch; ++b)
      for (std::int64_t h = 0; h < s.heads; ++h) {
        hash_head(layout, in, b, h, hashing);
        sort_head(layout, hashing, selection->orders(b, h));
      }
    return selection;
  }

  std::shared_ptr<const Selection> select_from_state(const AttentionInputs& step,
                                                     const CacheState& state) const override {
    const auto& codes = dynamic_cast<const KeyCodes&>(state);
    const AttentionShape s = step.shape();
    if (codes.length() != s.seq_len || s.query_len >= s.seq_len)
      throw std::logic_error("lsh: the key codes cover " + str(codes.length()) +
                             " keys; the step has " + str(s.seq_len) + " keys and " +
                             str(s.query_len) + " queries (extend_session first; M < N)");
    auto selection = std::make_shared<KeyListSelection>(s);
    tbb::parallel_for(std::int64_t{0}, s.problems(), [&](std::int64_t bh) {
      const std::int64_t b = bh / s.heads, h = bh % s.heads, m = s.query_len;
      std::vector<std::int32_t> query_buckets;
      hash_queries(codes, step, b, h, query_buckets);
      tbb::parallel_for(tbb::blocked_range<std::int64_t>(0, m), [&](const auto& range) {
        std::vector<std::uint8_t> met;
        std::vector<std::int32_t> keys;
        for (std::int64_t i = range.begin(); i < range.end(); ++i) {
          const std::int64_t position = s.position(i);
          keys_sharing_a_bucket(codes, b, h, query_buckets.data() + i, m, position,
                                step.causal ? position + 1 : s.seq_len, met, keys);
          selection->set_row(b, h, i, keys);
        }
      });
    });
    return selection;
  }

  // The codes of the prefill's keys, with the bucket count its N gives (buckets=0), kept for
  // every step after.
  std::unique_ptr<CacheState> start_session(const AttentionInputs& prefill) const override {
    auto codes = std::make_unique<KeyCodes>(params_, prefill.shape());
    codes->extend(prefill);
    return codes;
  }

  void extend_session(CacheState& state, const AttentionInputs& step) const override {
    dynamic_cast<KeyCodes&>(state).extend(step);
  }

  Cost cost(const AttentionShape& s, bool causal, int threads) const override {
    const Layout layout(params_, s);
    const std::int64_t n = s.seq_len, hashes = params_.hashes;
    const std::int64_t stride = hashes * layout.columns_per_round;
    // Per thread a block of hashing projections.
    const std::int64_t hash_blocks = threads * (4 * kHashRows * (stride + s.head_dim) +
                                                8 * hash_prefetch_lines(s.head_dim) + 4096);
    if (s.query_len < s.seq_len) {
      // Any key may share a bucket with the query: the bound is full attention.
      const std::int64_t per_problem = dense_pairs_per_problem(s, causal);
      // The codes and every head's rotations; while they are made, one round-major block of
      // codes per concurrent problem; the queries' buckets and per thread a met-flag per key;
      // the lists (a vector per query); then the gathered attention.
      const std::int64_t codes = checked_product(s.problems(), 4 * hashes * n, "bytes") +
                                 s.heads * 4 * s.head_dim * stride;
      const std::int64_t making = std::min<std::int64_t>(threads, s.problems()) * 4 * hashes * n;
      const std::int64_t queries = s.problems() * 4 * hashes * s.query_len + threads * (n + 64);
      const std::int64_t lists =
          checked_product(s.problems(), 4 * per_problem + 24 * s.query_len, "bytes");
      return {checked_product(s.problems(), per_problem, "pairs"),
              codes + making + hash_blocks + queries + lists +
                  gathered_attention_workspace_bytes(s, threads, n)};
    }
    const SortedChunkLayout chunks(s, params_.hashes, params_.chunk, params_.lookback);
    const std::int64_t cap = std::min(n, hashes * chunks.max_window);
    const std::int64_t per_problem =
        causal ? causal_capped(n, cap) : checked_product(n, cap, "pairs");
    // The selection: every problem's orders and chunk ids. While it is made: one head's buckets
    // of Q and K, its rotations and a counting table per concurrent sort, and per thread a block
    // of hashing projections. Then the sorted-chunk attention's workspace.
    const std::int64_t selection =
        checked_product(s.problems(), SortedChunkSelection::orders_bytes(n, hashes), "bytes");
    const std::int64_t hashing =
        2 * 4 * checked_product(hashes, n, "index arrays") + 4 * s.head_dim * stride +
        std::min<std::int64_t>(threads, 2) * 4 * (layout.buckets + 1) + hash_blocks;
    return {checked_product(s.problems(), per_problem, "pairs"),
            selection + hashing + sorted_chunk_attention_bytes(chunks, threads)};
  }

 private:
  Params params_;
};

const bool kRegistered = register_variant<Lsh>();

}  // namespace
}  // namespace attn::lsh
