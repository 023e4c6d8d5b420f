// monarch::detail: Eigen GEMMs cut into tiles small enough that Eigen never touches the heap.
//
// Eigen packs both GEMM operands into buffers of at most (depth x max(rows, cols)) scalars and
// takes them from the stack (alloca) when they fit under EIGEN_STACK_ALLOCATION_LIMIT, from
// malloc otherwise. Tiling every product to tile x tile x tile keeps each packing buffer under
// that limit, so steady-state training allocates nothing. Each output tile sums its depth tiles
// in one fixed order, so the result does not depend on which thread computes which tile.
#pragma once

#include <Eigen/Core>
#include <algorithm>

#include "../scalar.hpp"

namespace monarch::detail {

/// Largest n (a multiple of 16, at least 16) with n*n*sizeof(T) <= EIGEN_STACK_ALLOCATION_LIMIT.
template <class T>
constexpr Index gemm_tile() {
  constexpr Index budget = static_cast<Index>(EIGEN_STACK_ALLOCATION_LIMIT / sizeof(T));
  Index n = 16;
  while ((n + 16) * (n + 16) <= budget) n += 16;
  return n;
}

template <class T>
using RowMap = Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;
/// A contiguous row-major (cols x rows) array seen as its transpose, without a copy.
template <class T>
using ColMap = Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::ColMajor>>;
template <class T>
using MutableRowMap = Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;

/// Rows [i0, i0 + rows) of C = A * op(B), op = conj when ConjB (the conjugate is applied to a
/// directly addressable block, which Eigen's GEMM folds into its kernel instead of copying).
/// A: m x depth, B: depth x n, C: m x n, all contiguous maps.
template <bool ConjB, class CMap, class AMap, class BMap>
void gemm_rows(CMap& C, const AMap& A, const BMap& B, Index i0, Index rows) {
  using T = typename CMap::Scalar;
  constexpr Index tile = gemm_tile<T>();
  const Index depth = A.cols(), n = C.cols();
  for (Index r0 = i0; r0 < i0 + rows; r0 += tile) {
    const Index mr = std::min(tile, i0 + rows - r0);
    for (Index j0 = 0; j0 < n; j0 += tile) {
      const Index nj = std::min(tile, n - j0);
      auto c = C.block(r0, j0, mr, nj);
      if (depth == 0) c.setZero();
      for (Index k0 = 0; k0 < depth; k0 += tile) {
        const Index nk = std::min(tile, depth - k0);
        const auto a = A.block(r0, k0, mr, nk);
        const auto b = B.block(k0, j0, nk, nj);
        if constexpr (ConjB) {
          if (k0 == 0) c.noalias() = a * b.conjugate();
          else c.noalias() += a * b.conjugate();
        } else {
          if (k0 == 0) c.noalias() = a * b;
          else c.noalias() += a * b;
        }
      }
    }
  }
}

/// Number of row tiles gemm_rows splits m rows into (the unit of parallel work).
template <class T>
constexpr Index gemm_row_tiles(Index m) {
  return ceil_div(m, gemm_tile<T>());
}

}  // namespace monarch::detail
