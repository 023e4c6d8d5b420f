// monarch::detail::kernels: THE one place where the multiply's code path and tile sizes are chosen.
// Every threshold lives here; a call's KernelOptions may fix the path, the tile or the stores.
#pragma once

#include <algorithm>

#include "../../kernel_options.hpp"
#include "../../scalar.hpp"
#include "../../shape.hpp"
#include "simd.hpp"

namespace monarch::detail::kernels {

/// True when this translation unit was compiled with the ISA `p` needs, for scalar T. Complex
/// scalars run the portable path (the SIMD types cover real lanes only).
template <class T>
constexpr bool path_available(KernelPath p) {
  switch (p) {
    case KernelPath::reference:
    case KernelPath::portable: return true;
#if defined(MONARCH_HAVE_AVX2)
    case KernelPath::avx2: return !is_complex_v<T>;
#endif
#if defined(MONARCH_HAVE_AVX512)
    case KernelPath::avx512: return !is_complex_v<T>;
#endif
    default: return false;
  }
}

/// The fastest path compiled in for T.
template <class T>
constexpr KernelPath best_path() {
  if (path_available<T>(KernelPath::avx512)) return KernelPath::avx512;
  if (path_available<T>(KernelPath::avx2)) return KernelPath::avx2;
  return KernelPath::portable;
}

/// The vector type of a path for scalar T and the vector registers its ISA has.
template <class V, int Registers>
struct VecInfo {
  using type = V;
  static constexpr int registers = Registers;
};
template <class T, KernelPath P>
struct VecFor : VecInfo<PortableVec<T, portable_width<T>>, 16> {};
#if defined(MONARCH_HAVE_AVX2)
template <>
struct VecFor<float, KernelPath::avx2> : VecInfo<Avx2Float, 16> {};
template <>
struct VecFor<double, KernelPath::avx2> : VecInfo<Avx2Double, 16> {};
#endif
#if defined(MONARCH_HAVE_AVX512)
template <>
struct VecFor<float, KernelPath::avx512> : VecInfo<Avx512Float, 32> {};
template <>
struct VecFor<double, KernelPath::avx512> : VecInfo<Avx512Double, 32> {};
#endif

/// What the policy decided for one call.
struct KernelPlan {
  KernelPath path = KernelPath::reference;
  /// Batch rows per fused tile: stage 1 fills a batch_tile-row intermediate that stage 2 reads while
  /// it is still in cache. Set by shape and scalar, by the batch and workers where the weights
  /// stream (kOneTilePerWorkerBytes), capped (kMaxTileIntermediateBytes), then shrunk where a last
  /// round of tiles would leave the executor's workers idle (balanced_batch_tile). Each output row is the same
  /// fixed-order sum whichever tile holds it and however large the tile is, so results are
  /// bitwise identical for any executor.
  Index batch_tile = 0;
};

/// Row stride (in values) of the intermediate H: N, plus one cache line when N spans an even
/// number of lines. With N = 4096 floats the rows of a tile are 16 KiB apart, so a column of H
/// falls into one L1 set per row, and the w2 stage's stride-l reads of a 12-row tile used a
/// quarter of L1's sets; an odd line count spreads the rows over all of them.
inline constexpr Index kCacheLineBytes = 64;
template <class T>
constexpr Index values_per_line() {
  return std::max<Index>(1, kCacheLineBytes / Index(sizeof(T)));
}
template <class T>
constexpr Index intermediate_row_stride(Index N) {
  constexpr Index line = values_per_line<T>();
  return (N % line == 0 && (N / line) % 2 == 0) ? N + line : N;
}

/// Bytes of intermediate per tile: about two L1s. Where the tile fits (n = 1024 f32: 24 rows,
/// 96 KiB) the w2 stage reads much of it while it is still in L1; a larger tile has left L1 by the
/// time the w2 stage reads it. Where it cannot fit, the weights decide (kL2WeightBytes).
inline constexpr Index kTileIntermediateBytes = 96 * 1024;
/// kMaxBatchTile bounds the size rules (and is the wide blocks' tile); one tile per worker
/// (kOneTilePerWorkerBytes) may exceed it where rows are narrow.
inline constexpr Index kMinBatchTile = 12, kMaxBatchTile = 256;
/// The policy's tiles are a multiple of this many rows where possible, so that the register
/// tiles (6 or 12 rows on AVX-512) have no tail.
inline constexpr Index kTileRowMultiple = 12;

/// Concurrent tile slots of a call: one per worker, at most one per tile, at least one.
inline Index fused_slots(Index tiles, Index workers) { return std::min<Index>(tiles, std::max<Index>(1, workers)); }

/// Rows that the busiest of a call's slots runs with tiles of `tile` rows, counting every tile
/// as whole (the call's time when the slots run at the same speed).
inline Index busiest_slot_rows(Index batch, Index tile, Index workers) {
  const Index tiles = ceil_div(batch, tile), slots = fused_slots(tiles, workers);
  return ceil_div(tiles, slots) * tile;
}

/// The policy's `tile`, shrunk for `workers` concurrent slots when that leaves the busiest slot
/// at least 1/16 fewer rows: on two threads 11 tiles of 24 rows (square n = 1024, batch 256) or 5
/// of 256 (MonarchLinear n = 4096, batch 1040) leave one core idle while the other runs the last
/// tile. Candidates are the multiples of kTileRowMultiple below `tile` (22 tiles of 12 rows) and
/// the smallest tile that needs no more rounds of the slots (6 tiles of 174), none below `min_tile`;
/// the fewest rows win, then a multiple of kTileRowMultiple, then the larger tile: a tile that is
/// not a multiple of the register tile runs a slow register-tile tail in every tile.
/// Unchanged for one worker or one tile.
inline Index balanced_batch_tile(Index batch, Index tile, Index workers, Index min_tile) {
  const Index tiles = ceil_div(batch, tile), slots = fused_slots(tiles, workers);
  if (slots <= 1) return tile;
  const Index keep = busiest_slot_rows(batch, tile, workers);
  Index best = tile, best_rows = keep;
  auto consider = [&](Index t) {  // in order of preference: a later candidate must do better
    if (t < min_tile) return;
    const Index rows = busiest_slot_rows(batch, t, workers);
    if (rows < best_rows && 16 * rows <= 15 * keep) best = t, best_rows = rows;
  };
  const Index lowest = std::max(kTileRowMultiple, min_tile);
  for (Index t = (tile - 1) / kTileRowMultiple * kTileRowMultiple; t >= lowest; t -= kTileRowMultiple) consider(t);
  const Index rounds = ceil_div(tiles, slots);
  consider(ceil_div(batch, rounds * slots));
  return best;
}

/// Tiles of its region (of ceil(tiles / slots)) that a slot runs before the others may take them:
/// three quarters. Fixed tiles keep each core on the same rows, and so on the same cached data,
/// every call; the shared quarter absorbs a core that runs slower than the others for a while
/// (a shared or throttled core).
inline Index owned_tiles(Index region) { return region * 3 / 4; }

/// Gap between the intermediates of tile slots running at once: two cores writing intermediates
/// close together slow each other down (the hardware prefetchers of one core run into the other's
/// lines), and the loss disappears from about 64 KiB apart; serial runs do not care where the
/// slot lies. The gap is never touched.
inline constexpr Index kSlotGapBytes = 64 * 1024;

/// Blocks whose weights exceed this many bytes are streamed from L3 once per tile; such shapes
/// use at least kLargeBlockTile rows so each streamed weight is reused across more rows.
inline constexpr Index kLargeBlockBytes = 256 * 1024, kLargeBlockTile = 60;

/// Blocks at least this large on every side take kMaxBatchTile rows: each weight panel the
/// kernel streams from L3 (K x 256 bytes on AVX-512, 256 KiB and more) then serves 256 rows. The
/// tile's intermediate (4 MiB at n = 4096 f32) no longer fits L2, which costs less than the
/// weight traffic saved. Blocks narrow on any side (MonarchLinear 1024 -> 4096: 256 x 256 and
/// 1024 x 256) are the opposite: their panels are cheap to stream again, and the spilled
/// intermediate costs more than the reuse gains.
inline constexpr Index kWideBlockSide = 1024;

/// Weights (both factors) beyond this many bytes do not stay in L2 beside a tile's data and are
/// streamed from L3 once per tile; such shapes use at least kStreamedWeightTile rows, so each
/// streamed weight serves twice the rows of the smallest tile. Much larger tiles lose again: their
/// intermediate no longer stays in the cache between the two stages.
inline constexpr Index kL2WeightBytes = 1024 * 1024, kStreamedWeightTile = 24;

/// Where the weights are streamed but no block is large, a batch whose share per worker holds at
/// most this much intermediate (an L2; counted without the row padding) runs as one tile per
/// worker: each worker then usually streams the weights once per call instead of once per 24
/// rows. Beyond an L2 the share's intermediate spills, which costs more than the weight traffic
/// saved. Large blocks keep their own tile: their weights already serve kLargeBlockTile rows per
/// tile, and one large tile spills the intermediate (docs/performance.md §1.5).
inline constexpr Index kOneTilePerWorkerBytes = 2 * 1024 * 1024;

/// The most intermediate a tile holds (counted without the row padding), whatever the rules above
/// ask, the streamed-weight and large-block minimums included, but never below kMinBatchTile rows:
/// it bounds the workspace each concurrent tile reserves. Wide layers would otherwise take 256
/// rows of any width (MonarchLinear n = 65536, nblocks 4: 64 MiB per slot in f32); the shapes the
/// rules above were set for stay below it (MonarchLinear n = 4096 f64 at 256 rows holds 8 MiB).
inline constexpr Index kMaxTileIntermediateBytes = 16 * 1024 * 1024;
static_assert(kOneTilePerWorkerBytes <= kMaxTileIntermediateBytes, "the cap must not cut a worker's share");

/// The path and tile for a call of `batch` rows on an executor with `workers` workers. The
/// options' tile is used as given.
template <class T>
KernelPlan plan_kernels(const Shape& sh, Index batch, Index workers, const KernelOptions& o = {}) {
  KernelPlan plan;
  plan.path = (o.path != KernelPath::automatic && path_available<T>(o.path)) ? o.path : best_path<T>();
  const Index block_bytes = std::max(sh.q * sh.p, sh.s * sh.r) * Index(sizeof(T));
  // Counted without the row padding (under 2%), which would halve the n = 1024 f32 tile.
  const Index row_bytes = sh.inner() * Index(sizeof(T));
  Index rows = kTileIntermediateBytes / row_bytes;
  const bool streamed = (sh.k * sh.q * sh.p + sh.l * sh.s * sh.r) * Index(sizeof(T)) > kL2WeightBytes;
  if (streamed) rows = std::max(rows, kStreamedWeightTile);
  if (block_bytes > kLargeBlockBytes) rows = std::max(rows, kLargeBlockTile);
  const bool wide_blocks = std::min({sh.q, sh.p, sh.s, sh.r}) >= kWideBlockSide;
  if (o.batch_tile > 0) {
    plan.batch_tile = o.batch_tile;
  } else {
    // Wide blocks take 256 rows as they are (not 252): batch 256 is then one tile, not 252 + 4.
    Index tile = wide_blocks ? kMaxBatchTile
                             : std::clamp<Index>(rows / kTileRowMultiple * kTileRowMultiple, kMinBatchTile,
                                                 kMaxBatchTile);
    const Index share = ceil_div(batch, std::max<Index>(1, workers));  // not rounded: one tile each
    if (streamed && block_bytes <= kLargeBlockBytes && share <= kOneTilePerWorkerBytes / row_bytes)
      tile = std::max(tile, share);
    tile = std::min(tile, std::max(kMinBatchTile, kMaxTileIntermediateBytes / row_bytes));
    // Balancing may halve the tile, but not below the streamed-weight minimum (each streamed
    // weight must still serve enough rows).
    const Index min_tile = std::max((tile + 1) / 2, streamed ? kStreamedWeightTile : kMinBatchTile);
    plan.batch_tile = batch > 0 ? balanced_batch_tile(batch, tile, workers, min_tile) : tile;
  }
  return plan;
}

/// Output bytes from which a fused multiply stores its output non-temporally: written to memory
/// without first reading each line into the caches, and without evicting the weights. Only
/// whole aligned AVX-512 vectors are (V::store_nontemporal): the lanes kernel's output and the
/// adjoint's w1 stage, not the stride-l stores of a few w2 blocks (forward MonarchLinear with
/// nblocks 4). An output that fits in L3 is better written normally (a caller that reads it next
/// finds it in cache); one of 16 MiB and more cannot stay there, and streaming it saves reading
/// every line before it is overwritten. Between the two the gain depends on the shape.
inline constexpr Index kNonTemporalOutputBytes = 16 * 1024 * 1024;

/// Whether a call writing `batch` rows of `out_cols` values of T stores them non-temporally.
template <class T>
bool nontemporal_output(Index batch, Index out_cols, NonTemporal choice = NonTemporal::automatic) {
  switch (choice) {
    case NonTemporal::on: return true;
    case NonTemporal::off: return false;
    default: return batch * out_cols * Index(sizeof(T)) >= kNonTemporalOutputBytes;
  }
}

/// Register tiles per ISA: the broadcast kernel holds MR x NV vectors of accumulators, the lanes
/// kernel MR x NT. 32 vector registers (AVX-512) allow about 24 accumulators, 16 (AVX2 and the
/// portable path, which targets SSE/AVX) about 12.
template <int Registers>
struct RegisterTiles {
  static constexpr int gemm_mr(int nv) {
    if (Registers >= 32) return nv >= 4 ? 6 : 12;
    return nv >= 4 ? 3 : nv == 2 ? 6 : 8;
  }
  static constexpr int lanes_mr = Registers >= 32 ? 6 : 3;
  static constexpr int lanes_nt = Registers >= 32 ? 4 : 3;
};

/// Lanes kernel for the w2 stage when at least half of a vector's lanes hold blocks (l >= W/2;
/// below, the broadcast kernel with a strided store wastes fewer lanes) and one packed weight
/// tile (K x NT x W values) stays in L1; larger blocks stream better through the broadcast
/// kernel, whose weight panels are read once per register tile rather than re-read from L2.
inline constexpr Index kLanesTileBytes = 16 * 1024;
template <int W>
constexpr bool use_lanes(Index nblocks_w2, Index K, int NT, Index scalar_bytes) {
  return 2 * nblocks_w2 >= W && K * NT * W * scalar_bytes <= kLanesTileBytes;
}

/// The broadcast kernel's strided (c_cs != 1) stores are scalar: a 6-row tile of the forward w2
/// stage with l = 4 writes 6 x 16 lines that are rarely in cache, and the store buffer stalls on
/// their misses.
/// Tiles of the call's output with at least this many steps of k and a column stride below a
/// line (the stride-l stores of the forward w2 stage; not column-major outputs, where every
/// element is a line of its own) prefetch those lines before their k loop, long enough before
/// the stores to hide the misses. The adjoint's stride-l stores go into the intermediate, which
/// is already in cache: a prefetch there only costs issue slots, so they are not prefetched.
inline constexpr Index kPrefetchStridedStoreDepth = 64;

/// Forward multiplies whose w2 stage runs the broadcast kernel read its operand H[b, f*l + e] with
/// stride l, so a 6-row register tile (AVX-512) touches 6 whole rows of H over its k loop: more
/// than L1 once a row exceeds kStridedRowBytes, while the weight panel streams from L2 beside it. Where l
/// divides q, the w1 stage is instead packed as k*l sub-blocks, one per block a and residue
/// e = c mod l, and stores the intermediate permuted, H'[b, e*r + f]; the w2 stage then reads it
/// contiguously. Sub-blocks of whole widest panels (4 vectors) keep stage 1's FLOPs useful: a
/// narrower sub-block pads its panel and wastes more than the contiguous reads save. Returns the
/// sub-blocks per block (1: no split).
inline constexpr Index kStridedRowBytes = 8 * 1024;
template <int W>
constexpr Index w1_residue_splits(const Shape& sh, bool w2_lanes, Index scalar_bytes) {
  const bool split = !w2_lanes && sh.l > 1 && sh.q % sh.l == 0 && (sh.q / sh.l) % (4 * W) == 0 &&
                     sh.inner() * scalar_bytes > kStridedRowBytes;
  return split ? sh.l : 1;
}

}  // namespace monarch::detail::kernels
