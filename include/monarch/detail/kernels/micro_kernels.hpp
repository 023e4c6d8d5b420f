// monarch::detail::kernels: the two register-tiled micro-kernels every Monarch multiply is built
// from, and the packing of weights into the layouts they stream.
//
//  * gemm_tile ("broadcast" kernel): a small GEMM C = A B with the lanes along the output columns.
//    A is read one scalar at a time and broadcast, so it may have any strides (a batch row, or the
//    intermediate read with stride l, which is how the inner permutation Pi(r,l) is folded into
//    the load). B is a packed weight panel. C is stored with any column stride (stride l folds
//    the outer permutation Pi(l,s) into the final store).
//  * lanes_tile ("lanes" kernel): W independent blocks side by side, one per lane. For the w2
//    stage with l >= W, lane e of output t reads h[f*l + e] and writes y[t*l + e]: both are
//    contiguous across lanes, so the permuted load and the permuted store are plain vector moves.
//
// Both are also the building blocks for other batched small GEMMs (e.g. the dw1/dw2 reductions
// of a backward pass): see small_gemm() below, which takes pointers and strides only.
#pragma once

#include <algorithm>
#include <type_traits>

#include "../../scalar.hpp"
#include "policy.hpp"
#include "simd.hpp"

namespace monarch::detail::kernels {

/// p + off, or nullptr for a null p (an optional operand such as a bias; adding to a null pointer
/// is undefined behaviour).
template <class T>
const T* offset_or_null(const T* p, Index off) {
  return p != nullptr ? p + off : nullptr;
}

/// The `left` values at p as a vector: a whole load when left >= W, else the first `left` lanes.
template <class V>
V load_upto(const typename V::Scalar* p, int left) {
  return left >= V::width ? V::load(p) : V::load_partial(p, left);
}

/// Prefetches for writing the lines of C[i, j] = c[i*c_rs + j*c_cs], i < m, j < n: every line
/// each row spans, so meant for column strides below a line.
template <class T>
void prefetch_strided_rows(T* c, Index c_rs, Index c_cs, int m, int n) {
  constexpr Index line = values_per_line<T>();
  const Index last = Index(n - 1) * c_cs;  // stays inside C: no pointer past its last element
  for (int i = 0; i < m; ++i) {
    T* ci = c + i * c_rs;
    for (Index j = 0; j < last; j += line) prefetch_for_write(ci + j);
    prefetch_for_write(ci + last);
  }
}

/// C[i,j] (+)= sum_{k<K} A[i,k] B[k,j] for i < m <= MR, j < n <= NV*V::width.
///   A[i,k] = a[i*a_rs + k*a_ks]            (any strides)
///   B[k,j] = b[k*NR + j], NR = NV*width    (a packed panel, zero beyond column n; pack_panels)
///   C[i,j] = c[i*c_rs + j*c_cs]            (vector stores when c_cs == 1; non-temporal where
///                                           `nontemporal` and a whole aligned vector is stored)
/// `bias` (or nullptr): bias[j*c_cs] is added to every row's C[i,j] as it is stored, after the
/// sum, so a layer's bias costs no pass of its own. `prefetch_strided`: with a column stride
/// below a line and a long k loop, C's lines are prefetched before it (kPrefetchStridedStoreDepth).
/// Rows i >= m are computed from row m-1 and discarded, so a tail needs no other code path.
template <class V, int MR, int NV>
void gemm_tile(Index K, const typename V::Scalar* a, Index a_rs, Index a_ks, const typename V::Scalar* b,
               typename V::Scalar* c, Index c_rs, Index c_cs, int m, int n, bool accumulate, bool nontemporal = false,
               const typename V::Scalar* bias = nullptr, bool prefetch_strided = false) {
  using T = typename V::Scalar;
  constexpr int W = V::width, NR = NV * W;
  const T* ar[MR];
  for (int i = 0; i < MR; ++i) ar[i] = a + std::min(i, m - 1) * a_rs;
  V acc[MR][NV];
  MONARCH_UNROLL
  for (int i = 0; i < MR; ++i) {
    MONARCH_UNROLL
    for (int v = 0; v < NV; ++v) acc[i][v] = V::zero();
  }
  if (prefetch_strided && c_cs != 1 && c_cs < values_per_line<T>() && K >= kPrefetchStridedStoreDepth)
    prefetch_strided_rows(c, c_rs, c_cs, m, n);
  for (Index kk = 0; kk < K; ++kk) {
    V bv[NV];
    MONARCH_UNROLL
    for (int v = 0; v < NV; ++v) bv[v] = V::load(b + kk * NR + v * W);
    const Index off = kk * a_ks;
    MONARCH_UNROLL
    for (int i = 0; i < MR; ++i) {
      const V av = V::broadcast(ar[i] + off);
      MONARCH_UNROLL
      for (int v = 0; v < NV; ++v) acc[i][v] = V::fma(av, bv[v], acc[i][v]);
    }
  }
  // Constant loop bounds keep every acc index a compile-time constant (so acc lives in registers).
  for (int i = 0; i < MR; ++i) {
    if (i >= m) continue;
    T* ci = c + i * c_rs;
    if (c_cs == 1) {
      for (int v = 0; v < NV; ++v) {
        const int left = n - v * W;
        if (left <= 0) continue;
        V out = acc[i][v];
        if (accumulate) out = V::add(out, load_upto<V>(ci + v * W, left));
        if (bias != nullptr) out = V::add(out, load_upto<V>(bias + v * W, left));
        if (left >= W && nontemporal)
          out.store_nontemporal(ci + v * W);
        else if (left >= W)
          out.store(ci + v * W);
        else
          out.store_partial(ci + v * W, left);
      }
    } else {
      alignas(64) T tmp[NR];
      for (int v = 0; v < NV; ++v) acc[i][v].store(tmp + v * W);
      for (int j = 0; j < n; ++j) {
        T out = accumulate ? ci[j * c_cs] + tmp[j] : tmp[j];
        if (bias != nullptr) out += bias[j * c_cs];
        ci[j * c_cs] = out;
      }
    }
  }
}

/// For `lanes` <= W blocks side by side (lane z = block z):
///   C[i,j][z] = sum_{k<K} A[i,k][z] * P[j,k][z],   i < m <= MR, j < nt <= NT
///   A[i,k][z] = a[i*a_rs + k*a_ks + z],  C[i,j][z] = c[i*c_rs + j*c_js + z]   (lanes contiguous)
///   P[j,k][z] = w[(k*NT + j)*W + z]      (a packed tile, zero beyond nt and lanes; pack_lanes)
namespace lanes_detail {
/// lanes_tile with the lane count fixed at compile time as full or partial, so that the loop
/// body has no branch and, with only constant acc indices, the accumulators stay in registers.
template <class V, int MR, int NT, bool Full>
void tile(Index K, const typename V::Scalar* a, Index a_rs, Index a_ks, const typename V::Scalar* w,
          typename V::Scalar* c, Index c_rs, Index c_js, int m, int nt, int lanes, bool nontemporal,
          const typename V::Scalar* bias) {
  using T = typename V::Scalar;
  constexpr int W = V::width;
  const T* ar[MR];
  for (int i = 0; i < MR; ++i) ar[i] = a + std::min(i, m - 1) * a_rs;
  V acc[MR][NT];
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NT; ++j) acc[i][j] = V::zero();
  for (Index kk = 0; kk < K; ++kk) {
    // Each row's A vector is loaded once and used NT times (pinned: see simd.hpp); with the full
    // MR rows the NT weight vectors stay in registers too, as in gemm_tile (in the short tail
    // tiles GCC may still read them from memory in each FMA).
    const T* wk = w + kk * NT * W;
    V wv[NT];
    MONARCH_UNROLL
    for (int j = 0; j < NT; ++j) wv[j] = V::load(wk + j * W);
    const Index off = kk * a_ks;
    MONARCH_UNROLL
    for (int i = 0; i < MR; ++i) {
      V av;
      if constexpr (Full)
        av = V::load(ar[i] + off);
      else
        av = V::load_partial(ar[i] + off, lanes);
      av.pin();
      MONARCH_UNROLL
      for (int j = 0; j < NT; ++j) acc[i][j] = V::fma(av, wv[j], acc[i][j]);
    }
  }
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NT; ++j) {
      if (i >= m || j >= nt) continue;
      T* cij = c + i * c_rs + j * c_js;
      V out = acc[i][j];
      if constexpr (Full) {
        if (bias != nullptr) out = V::add(out, V::load(bias + j * c_js));
        if (nontemporal)
          out.store_nontemporal(cij);
        else
          out.store(cij);
      } else {
        if (bias != nullptr) out = V::add(out, V::load_partial(bias + j * c_js, lanes));
        out.store_partial(cij, lanes);
      }
    }
}
}  // namespace lanes_detail

/// For `lanes` <= W blocks side by side (lane z = block z):
///   C[i,j][z] = sum_{k<K} A[i,k][z] * P[j,k][z],   i < m <= MR, j < nt <= NT
///   A[i,k][z] = a[i*a_rs + k*a_ks + z],  C[i,j][z] = c[i*c_rs + j*c_js + z]   (lanes contiguous)
///   P[j,k][z] = w[(k*NT + j)*W + z]      (a packed tile, zero beyond nt and lanes; pack_lanes)
/// `nontemporal`: full vectors of C are stored non-temporally where aligned (V::store_nontemporal).
/// `bias` (or nullptr): bias[j*c_js + z] is added to every row's C[i,j][z] as it is stored.
template <class V, int MR, int NT>
void lanes_tile(Index K, const typename V::Scalar* a, Index a_rs, Index a_ks, const typename V::Scalar* w,
                typename V::Scalar* c, Index c_rs, Index c_js, int m, int nt, int lanes, bool nontemporal = false,
                const typename V::Scalar* bias = nullptr) {
  if (lanes == V::width)
    lanes_detail::tile<V, MR, NT, true>(K, a, a_rs, a_ks, w, c, c_rs, c_js, m, nt, lanes, nontemporal, bias);
  else
    lanes_detail::tile<V, MR, NT, false>(K, a, a_rs, a_ks, w, c, c_rs, c_js, m, nt, lanes, nontemporal, bias);
}

/// Packs one K x N matrix B (B[k,j] = get(k, j)) into ceil(N/NR) panels of K x NR, zero-padded:
/// panel P, element (k, jj) at out[(P*K + k)*NR + jj]. Returns the number of values written.
template <class T, class Get>
Index pack_panels(Index K, Index N, int NR, Get&& get, T* out) {
  const Index np = ceil_div(N, NR);
  for (Index P = 0; P < np; ++P)
    for (Index kk = 0; kk < K; ++kk)
      for (Index jj = 0; jj < NR; ++jj) {
        const Index j = P * NR + jj;
        out[(P * K + kk) * NR + jj] = j < N ? get(kk, j) : T(0);
      }
  return np * K * NR;
}

/// Values pack_panels writes for a K x N matrix.
inline Index packed_panels_size(Index K, Index N, int NR) { return ceil_div(N, NR) * K * NR; }

/// Packs a lane group: blocks z0 .. z0+W-1 of `nblocks`, each an NJ x K matrix P_z[j,k] =
/// get(z, j, k), into ceil(NJ/NT) tiles of K x NT x W (zero-padded): tile J, element (k, jj, z)
/// at out[((J*K + k)*NT + jj)*W + z - z0]. Returns the number of values written.
template <class T, class Get>
Index pack_lanes(Index z0, Index nblocks, Index NJ, Index K, int NT, int W, Get&& get, T* out) {
  const Index nt = ceil_div(NJ, NT);
  for (Index J = 0; J < nt; ++J)
    for (Index kk = 0; kk < K; ++kk)
      for (Index jj = 0; jj < NT; ++jj)
        for (Index z = 0; z < W; ++z) {
          const Index j = J * NT + jj, blk = z0 + z;
          out[((J * K + kk) * NT + jj) * W + z] = (j < NJ && blk < nblocks) ? get(blk, j, kk) : T(0);
        }
  return nt * K * NT * W;
}

/// Values pack_lanes writes per lane group.
inline Index packed_lanes_size(Index NJ, Index K, int NT, int W) { return ceil_div(NJ, NT) * K * NT * W; }

/// Splits M rows into register tiles: full tiles of MR rows, then the remainder with tiles of
/// 4, 3, 2 and 1 rows (a short batch must not pay for MR rows). Calls f(integral_constant<int, R>,
/// first_row, R) for each tile.
template <int MR, class F>
void for_row_tiles(Index M, F&& f) {
  Index i = 0;
  for (; i + MR <= M; i += MR) f(std::integral_constant<int, MR>{}, i, MR);
  while (i < M) {
    const Index rem = M - i;
    if constexpr (MR > 4) {
      if (rem >= 4) {
        f(std::integral_constant<int, 4>{}, i, 4);
        i += 4;
        continue;
      }
    }
    if constexpr (MR > 3) {
      if (rem >= 3) {
        f(std::integral_constant<int, 3>{}, i, 3);
        i += 3;
        continue;
      }
    }
    if constexpr (MR > 2) {
      if (rem >= 2) {
        f(std::integral_constant<int, 2>{}, i, 2);
        i += 2;
        continue;
      }
    }
    f(std::integral_constant<int, 1>{}, i, 1);
    i += 1;
  }
}

/// The reusable batched small-GEMM entry (pointer + strides): C (+)= A B for an M x K matrix A
/// (any strides) and a K x N matrix B packed by pack_panels(K, N, NV*V::width, ...), writing C
/// with any strides. Rows are processed MR at a time; every C element is one fixed-order sum over
/// k, so the result does not depend on how callers split M among threads. `nontemporal`, `bias`
/// (bias[j*c_cs] added to every row) and `prefetch_strided`: see gemm_tile.
template <class V, int MR, int NV>
void small_gemm(Index M, Index N, Index K, const typename V::Scalar* A, Index a_rs, Index a_ks,
                const typename V::Scalar* Bpacked, typename V::Scalar* C, Index c_rs, Index c_cs,
                bool accumulate = false, bool nontemporal = false, const typename V::Scalar* bias = nullptr,
                bool prefetch_strided = false) {
  constexpr int NR = NV * V::width;
  for (Index P = 0; P * NR < N; ++P) {
    const int n = static_cast<int>(std::min<Index>(NR, N - P * NR));
    const auto* b = Bpacked + P * K * NR;
    for_row_tiles<MR>(M, [&](auto mr, Index i, int m) {
      gemm_tile<V, decltype(mr)::value, NV>(K, A + i * a_rs, a_rs, a_ks, b, C + i * c_rs + P * NR * c_cs, c_rs,
                                            c_cs, m, n, accumulate, nontemporal, offset_or_null(bias, P * NR * c_cs),
                                            prefetch_strided);
    });
  }
}

/// G = S^T S for a real m x n matrix S (column-major, leading dimension m) into G (n x n,
/// column-major): the upper triangle (in storage) by the broadcast kernel (A = S^T read in place,
/// B = S packed into `pack`, packed_panels_size(m, n, NV * width) values), then mirrored. At 64 x 64 in double
/// this took ~20% less than Eigen's rank update, most of the rest being the pack and the mirror.
template <class V, int MR, int NV>
void gram_matrix(Index m, Index n, const typename V::Scalar* S, typename V::Scalar* G, typename V::Scalar* pack) {
  static_assert(!is_complex_v<typename V::Scalar>, "gram_matrix: real scalars only (S^T, not S^H)");
  constexpr int NR = NV * V::width;
  const Index padded = ceil_div(n, NR) * NR;
  for (Index j = 0; j < padded; ++j) {  // column by column: contiguous reads of S
    auto* out = pack + (j / NR) * m * NR + j % NR;
    for (Index k = 0; k < m; ++k) out[k * NR] = j < n ? S[j * m + k] : typename V::Scalar(0);
  }
  // Panel of columns [j, j + NR) against columns i >= j: the tile's row i, column jj is
  // G(i, j + jj), stored contiguously at G(j + jj, i), so these fill G(r, c) for every c >= the
  // start of r's panel, which includes the upper triangle.
  for (Index j = 0; j < n; j += NR) {
    const int cols = static_cast<int>(std::min<Index>(NR, n - j));
    for_row_tiles<MR>(n - j, [&](auto mr, Index i, int rows) {
      gemm_tile<V, decltype(mr)::value, NV>(m, S + (j + i) * m, m, 1, pack + (j / NR) * m * NR, G + (j + i) * n + j, n,
                                            1, rows, cols, false);
    });
  }
  for (Index j = 0; j < n; ++j)  // the lower triangle from the upper
    for (Index i = j + 1; i < n; ++i) G[i + j * n] = G[j + i * n];
}

}  // namespace monarch::detail::kernels
