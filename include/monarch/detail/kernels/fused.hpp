// monarch::detail::kernels: the fused two-stage Monarch multiply (docs/math.md §2.1) and its adjoint
// (docs/math.md §3.1), built from the micro-kernels of micro_kernels.hpp.
//
// A batch tile of rows runs the first stage into an intermediate tile H (rows x N in the natural
// channel order u = a*q + c, row stride intermediate_row_stride) and the second stage from it
// while it is still in cache. Neither permutation is ever materialized: Pi(r,l) is the stride-l
// read of H (or the lanes layout), Pi(l,s) the stride-l store of the output. Where l divides q
// (w1_residue_splits), the forward w1 stage stores H permuted instead, H'[b, e*r + f] =
// H[b, f*l + e], and the w2 stage reads H' contiguously.
//
//   forward  stage 1  (w1)   : H[b, a*q + c]  = sum_d w1[a,c,d] x_b[a*p + d]          broadcast kernel
//            stage 2  (w2)   : y_b[t*l + e]   = sum_f w2[e,t,f] H[b, f*l + e]         lanes or broadcast
//     split  stage 1  (w1)   : H'[b, e*r + a*q/l + t] = sum_d w1[a,e + l*t,d] x_b[a*p + d]  (c = e + l*t)
//            stage 2  (w2)   : y_b[t*l + e]   = sum_f w2[e,t,f] H'[b, e*r + f]        broadcast kernel
//   adjoint  stage 1  (w2^H) : H[b, f*l + e]  = sum_t conj(w2[e,t,f]) v_b[t*l + e]    lanes or broadcast
//            stage 2  (w1^H) : x_b[a*p + d]   = sum_c conj(w1[a,c,d]) H[b, a*q + c]   broadcast kernel
#pragma once

#include <algorithm>
#include <atomic>
#include <memory>

#include "../../block_diagonal.hpp"
#include "../../scalar.hpp"
#include "../../shape.hpp"
#include "../../view.hpp"
#include "../aligned_buffer.hpp"
#include "../task_runner.hpp"
#include "micro_kernels.hpp"
#include "policy.hpp"
#include "simd.hpp"

namespace monarch::detail::kernels {

enum class Direction { forward, adjoint };

/// One factor packed for the broadcast kernel: per block a K x N matrix in panels of nv vectors.
template <class T>
struct BcastPack {
  int nv = 0;
  Index K = 0, N = 0, block_stride = 0;
  AlignedVector<T> data;
};

/// w2 packed for the lanes kernel: per group of W blocks, NJ x K matrices in tiles of NT rows.
template <class T>
struct LanesPack {
  Index NJ = 0, K = 0, group_stride = 0, groups = 0;
  AlignedVector<T> data;
};

/// Both factors of one direction packed for one path. The w2 side is packed for both kernels
/// when lanes apply, since the lanes kernel also needs unit-stride rows in the caller's matrix.
template <class T>
struct PackedMultiply {
  Shape shape;
  BcastPack<T> w1_side, w2_bcast;
  LanesPack<T> w2_lanes;  ///< empty unless the lanes kernel applies to this shape
  /// Forward only: w1_side holds k*w1_splits sub-blocks, sub-block a*l + e being block a's
  /// columns c = e + l*t (w1_residue_splits); 1 where w1_side holds the k blocks as they are.
  Index w1_splits = 1;
};

template <class V>
int vectors_for(Index n) {
  const Index v = ceil_div(n, V::width);
  return v >= 4 ? 4 : v >= 2 ? 2 : 1;
}

/// Packs nblocks K x N matrices B_blk[kk, j] = get(blk, kk, j).
template <class V, class Get>
BcastPack<typename V::Scalar> pack_bcast(Index nblocks, Index K, Index N, Get&& get) {
  BcastPack<typename V::Scalar> pk;
  pk.nv = vectors_for<V>(N);
  pk.K = K;
  pk.N = N;
  const int NR = pk.nv * V::width;
  pk.block_stride = packed_panels_size(K, N, NR);
  pk.data.resize(static_cast<std::size_t>(nblocks * pk.block_stride));
  for (Index blk = 0; blk < nblocks; ++blk)
    pack_panels(K, N, NR, [&](Index kk, Index j) { return get(blk, kk, j); }, pk.data.data() + blk * pk.block_stride);
  return pk;
}

/// Packs nblocks NJ x K matrices P_blk[j, kk] = get(blk, j, kk), W blocks per lane group.
template <class V, int NT, class Get>
LanesPack<typename V::Scalar> pack_lanes_factor(Index nblocks, Index NJ, Index K, Get&& get) {
  constexpr int W = V::width;
  LanesPack<typename V::Scalar> pk;
  pk.NJ = NJ;
  pk.K = K;
  pk.groups = ceil_div(nblocks, W);
  pk.group_stride = packed_lanes_size(NJ, K, NT, W);
  pk.data.resize(static_cast<std::size_t>(pk.groups * pk.group_stride));
  for (Index g = 0; g < pk.groups; ++g)
    pack_lanes(g * W, nblocks, NJ, K, NT, W, get, pk.data.data() + g * pk.group_stride);
  return pk;
}

/// Packs both factors of `dir` for the path whose vector type is V.
template <class V, int Registers>
PackedMultiply<typename V::Scalar> pack_multiply(Direction dir, const BlockDiagonal<typename V::Scalar>& w1,
                                                 const BlockDiagonal<typename V::Scalar>& w2) {
  using T = typename V::Scalar;
  using Tiles = RegisterTiles<Registers>;
  PackedMultiply<T> pk;
  const Index k = w1.nblocks(), q = w1.block_rows(), p = w1.block_cols();
  const Index l = w2.nblocks(), s = w2.block_rows(), r = w2.block_cols();
  pk.shape = Shape{k, q, p, l, s, r};
  const T* a1 = w1.data();
  const T* a2 = w2.data();
  // Element accessors: W1(a,c,d) = w1[a,c,d], W2(e,t,f) = w2[e,t,f] (conjugated for the adjoint).
  const bool adj = dir == Direction::adjoint;
  auto W1 = [=](Index a, Index c, Index d) { const T v = a1[(a * q + c) * p + d]; return adj ? conj(v) : v; };
  auto W2 = [=](Index e, Index t, Index f) { const T v = a2[(e * s + t) * r + f]; return adj ? conj(v) : v; };
  if (!adj) {
    const bool lanes = use_lanes<V::width>(l, r, Tiles::lanes_nt, sizeof(T));
    const Index splits = pk.w1_splits = w1_residue_splits<V::width>(pk.shape, lanes, sizeof(T));
    pk.w1_side = pack_bcast<V>(k * splits, p, q / splits,
                               [&](Index u, Index d, Index t) { return W1(u / splits, u % splits + splits * t, d); });
    pk.w2_bcast = pack_bcast<V>(l, r, s, [&](Index e, Index f, Index t) { return W2(e, t, f); });
    if (lanes) pk.w2_lanes = pack_lanes_factor<V, Tiles::lanes_nt>(l, s, r, W2);
  } else {
    pk.w1_side = pack_bcast<V>(k, q, p, [&](Index a, Index c, Index d) { return W1(a, c, d); });
    pk.w2_bcast = pack_bcast<V>(l, s, r, [&](Index e, Index t, Index f) { return W2(e, t, f); });
    if (use_lanes<V::width>(l, s, Tiles::lanes_nt, sizeof(T)))
      pk.w2_lanes = pack_lanes_factor<V, Tiles::lanes_nt>(
          l, r, s, [&](Index e, Index f, Index t) { return W2(e, t, f); });
  }
  return pk;
}

/// One stage on a set of rows: either broadcast-kernel GEMMs, one per packed (sub-)block, or lane
/// groups. Unit u of a broadcast stage is sub-block u % split of block blk = u / split: it reads
/// A + blk*a_goff and writes C + blk*c_goff + (u % split)*c_soff. Lane group g reads A + g*W and
/// writes C + g*W (lanes are unit-stride in both).
template <class T>
struct StageCall {
  const BcastPack<T>* bcast = nullptr;  ///< set for a broadcast stage
  const LanesPack<T>* lanes = nullptr;  ///< set for a lanes stage
  Index units = 0;                      ///< blocks, sub-blocks or lane groups
  Index nblocks = 0;                    ///< blocks of the factor (lanes: for the last group's tail)
  const T* A = nullptr;
  Index a_goff = 0, a_rs = 0, a_ks = 0;
  T* C = nullptr;
  Index c_goff = 0, c_rs = 0, c_cs = 0;  ///< c_cs: column stride (lanes: stride between outputs j)
  bool nontemporal = false;              ///< C is the call's output, stored non-temporally
  const T* bias = nullptr;               ///< added to C as stored, at C's column offsets (row stride 0)
  Index split = 1, c_soff = 0;           ///< packed sub-blocks per block, C offset between them
  bool prefetch_strided = false;         ///< see gemm_tile: set for the call's output only
};

template <class V, int Registers, int NV>
void run_bcast_units(const StageCall<typename V::Scalar>& st, Index u0, Index u1, Index rows) {
  constexpr int MR = RegisterTiles<Registers>::gemm_mr(NV);
  const auto& pk = *st.bcast;
  for (Index u = u0; u < u1; ++u) {
    const Index blk = u / st.split, c_off = blk * st.c_goff + u % st.split * st.c_soff;
    small_gemm<V, MR, NV>(rows, pk.N, pk.K, st.A + blk * st.a_goff, st.a_rs, st.a_ks,
                          pk.data.data() + u * pk.block_stride, st.C + c_off, st.c_rs, st.c_cs, false, st.nontemporal,
                          offset_or_null(st.bias, c_off), st.prefetch_strided);
  }
}

template <class V, int Registers>
void run_lanes_units(const StageCall<typename V::Scalar>& st, Index u0, Index u1, Index rows) {
  using Tiles = RegisterTiles<Registers>;
  constexpr int MR = Tiles::lanes_mr, NT = Tiles::lanes_nt, W = V::width;
  const auto& pk = *st.lanes;
  for (Index g = u0; g < u1; ++g) {
    const int lanes = static_cast<int>(std::min<Index>(W, st.nblocks - g * W));
    const auto* P = pk.data.data() + g * pk.group_stride;
    // Row tiles outer: one row tile's strided H columns (MR x K lines, 24 KiB at n = 4096 f32)
    // stay in L1 while the group's weight tiles stream past from L2. J outer re-read the whole
    // batch tile's H (48 KiB, all of L1) for every weight tile.
    for_row_tiles<MR>(rows, [&](auto mr, Index i, int m) {
      for (Index J = 0; J * NT < pk.NJ; ++J) {
        const int nt = static_cast<int>(std::min<Index>(NT, pk.NJ - J * NT));
        const Index col = g * W + J * NT * st.c_cs;  // of C's first output in this tile
        lanes_tile<V, decltype(mr)::value, NT>(pk.K, st.A + g * W + i * st.a_rs, st.a_rs, st.a_ks,
                                               P + J * pk.K * NT * W, st.C + col + i * st.c_rs, st.c_rs, st.c_cs, m,
                                               nt, lanes, st.nontemporal, offset_or_null(st.bias, col));
      }
    });
  }
}

/// Runs units [u0, u1) of a stage on `rows` rows (A and C already point at the first row).
template <class V, int Registers>
void run_units(const StageCall<typename V::Scalar>& st, Index u0, Index u1, Index rows) {
  if (st.lanes != nullptr) return run_lanes_units<V, Registers>(st, u0, u1, rows);
  switch (st.bcast->nv) {
    case 4: return run_bcast_units<V, Registers, 4>(st, u0, u1, rows);
    case 2: return run_bcast_units<V, Registers, 2>(st, u0, u1, rows);
    default: return run_bcast_units<V, Registers, 1>(st, u0, u1, rows);
  }
}

/// The two stages of `dir` for rows b0.. of in/out, with the intermediate H (row stride hs);
/// `nontemporal`: the second stage stores the output non-temporally; `bias` (or nullptr; out has unit
/// column stride): the second stage adds bias[j] to every row's output j.
template <class T>
void make_stages(Direction dir, const PackedMultiply<T>& pk, MatrixView<const T> in, MatrixView<T> out, Index b0,
                 T* H, Index hs, bool nontemporal, const T* bias, StageCall<T>& first, StageCall<T>& second) {
  const Shape& sh = pk.shape;
  const Index l = sh.l;
  const T* src = in.row(b0);
  T* dst = out.row(b0);
  // The w2 stage runs the lanes kernel only where the caller's matrix has unit column stride.
  StageCall<T> w1st, w2st;
  if (dir == Direction::forward) {
    const Index splits = pk.w1_splits;
    w1st = {&pk.w1_side, nullptr, sh.k * splits, sh.k, src, sh.p * in.col_stride, in.row_stride, in.col_stride,
            H, sh.q / splits, hs, 1};
    w2st = {&pk.w2_bcast, nullptr, l, l, H, 1, hs, l, dst, out.col_stride, out.row_stride, l * out.col_stride};
    if (splits > 1) {  // H'[b, e*r + f]: w1 sub-block (a, e) writes H' + e*r + a*q/l, block e of w2 reads H' + e*r
      w1st.split = splits;
      w1st.c_soff = sh.r;
      w2st.a_goff = sh.r;
      w2st.a_ks = 1;
    }
    const bool unit = out.col_stride == 1;
    if (unit && !pk.w2_lanes.data.empty())
      w2st = {nullptr, &pk.w2_lanes, pk.w2_lanes.groups, l, H, 0, hs, l, dst, 0, out.row_stride, l};
    first = w1st;
    second = w2st;
  } else {
    w2st = {&pk.w2_bcast, nullptr, l, l, src, in.col_stride, in.row_stride, l * in.col_stride, H, 1, hs, l};
    const bool unit = in.col_stride == 1;
    if (unit && !pk.w2_lanes.data.empty())
      w2st = {nullptr, &pk.w2_lanes, pk.w2_lanes.groups, l, src, 0, in.row_stride, l, H, 0, hs, l};
    w1st = {&pk.w1_side, nullptr, sh.k, sh.k, H, sh.q, hs, 1, dst, sh.p * out.col_stride, out.row_stride,
            out.col_stride};
    first = w2st;
    second = w1st;
  }
  second.nontemporal = nontemporal;
  second.bias = bias;
  second.prefetch_strided = true;
}

/// Values from one slot's intermediate to the next: a tile of rows plus kSlotGapBytes.
template <class T>
Index fused_slot_stride(Index batch_tile, Index hs) {
  return batch_tile * hs + ceil_div(kSlotGapBytes, Index(sizeof(T)));
}

/// Intermediate values a call of `batch` rows needs with `workers` concurrent tiles (the last
/// slot has no gap after it).
template <class T>
Index fused_workspace_size(const Shape& sh, Index batch, Index batch_tile, Index workers) {
  const Index tiles = ceil_div(batch, batch_tile), hs = intermediate_row_stride<T>(sh.inner());
  if (tiles <= 1) return batch * hs;
  return (fused_slots(tiles, workers) - 1) * fused_slot_stride<T>(batch_tile, hs) + batch_tile * hs;
}

/// The tiles slot `slot` of `slots` runs, `next_claim` being shared by all slots and zero at the
/// start; together the slots run each of the `tiles` tiles exactly once, in whatever order and
/// interleaving the executor runs them. The batch is cut into `slots` regions. Each slot first
/// runs the leading owned_tiles of its own region: with executors that give task i to the same
/// thread every call (OpenMP's static schedule), a core then rewrites output lines it already
/// holds. The rest is claimed one tile at a time from the shared counter, walking the regions in
/// turn (claim c is the c / slots-th unowned tile of region c % slots), so a faster core takes
/// more and tiles running at once lie a region apart: two cores on adjacent tiles slow each
/// other down (kSlotGapBytes).
template <class RunTile>
void run_slot_tiles(Index slot, Index slots, Index tiles, std::atomic<Index>& next_claim, RunTile&& run_tile) {
  const Index region = ceil_div(tiles, slots), owned = owned_tiles(region), unowned = region - owned;
  for (Index tile = slot * region; tile < std::min(tiles, slot * region + owned); ++tile) run_tile(tile);
  for (Index c; (c = next_claim.fetch_add(1, std::memory_order_relaxed)) < slots * unowned;) {
    const Index tile = c % slots * region + owned + c / slots;
    if (tile < tiles) run_tile(tile);
  }
}

/// out = in M^T (forward) or in conj(M) (adjoint) for every row, on the executor (its concurrency
/// is the number of slots the workspace was sized for). Work is a fixed set of tiles (batch_tile rows
/// each) or, for a single tile, the blocks of each stage; every output element is the same
/// fixed-order sum whichever thread computes it. With `nontemporal` the output bypasses the caches;
/// each task fences its non-temporal stores before the executor's join publishes them. `bias`: see
/// make_stages.
template <class V, int Registers>
void fused_multiply(Direction dir, const PackedMultiply<typename V::Scalar>& pk, MatrixView<const typename V::Scalar> in,
                    MatrixView<typename V::Scalar> out, Index batch_tile, bool nontemporal, const TaskRunner& exec,
                    typename V::Scalar* workspace, const typename V::Scalar* bias = nullptr) {
  using T = typename V::Scalar;
  const Index batch = in.rows, hs = intermediate_row_stride<T>(pk.shape.inner());
  const Index tiles = ceil_div(batch, batch_tile);
  if (tiles <= 1) {
    StageCall<T> first, second;
    make_stages(dir, pk, in, out, 0, workspace, hs, nontemporal, bias, first, second);
    exec.parallel_for(first.units, [&](Index u) { run_units<V, Registers>(first, u, u + 1, batch); });
    exec.parallel_for(second.units, [&](Index u) {
      run_units<V, Registers>(second, u, u + 1, batch);
      if (nontemporal) V::nontemporal_fence();
    });
    return;
  }
  auto run_tile = [&](Index tile, T* H) {
    const Index b0 = tile * batch_tile, rows = std::min(batch_tile, batch - b0);
    StageCall<T> first, second;
    make_stages(dir, pk, in, out, b0, H, hs, nontemporal, bias, first, second);
    run_units<V, Registers>(first, 0, first.units, rows);
    run_units<V, Registers>(second, 0, second.units, rows);
  };
  const Index slots = fused_slots(tiles, exec.concurrency()), stride = fused_slot_stride<T>(batch_tile, hs);
  std::atomic<Index> next_claim{0};
  exec.parallel_for(slots, [&](Index slot) {
    T* H = workspace + slot * stride;
    run_slot_tiles(slot, slots, tiles, next_claim, [&](Index tile) { run_tile(tile, H); });
    if (nontemporal) V::nontemporal_fence();
  });
}

}  // namespace monarch::detail::kernels
