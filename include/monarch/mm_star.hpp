// monarch: products M1 . M2^H of two Monarch matrices (the paper's class MM*, docs/math.md §5), stored as
// the three block-diagonal factors of
//
//   A = Q^T BD(L1) Q . BD(R) . Q^T BD(L2) Q,    Q = Pi(n/b, b),
//   L1, L2 : (b, n/b, n/b)   (b blocks of n/b x n/b),    R : (n/b, b, b)   (n/b blocks of b x b),
//
// and as the two Monarch matrices of Shape (n/b, b, b | b, n/b, n/b) with A = m1 . m2^H:
//   m1 = Monarch(w1 = R, w2 = L1),   m2 = Monarch(w1 = identity blocks, w2 = blockwise L2^H).
// b = sqrt(n) is the paper's MM*; then Q = P.
#pragma once

#include <Eigen/Core>
#include <utility>

#include "block_diagonal.hpp"
#include "errors.hpp"
#include "monarch_matrix.hpp"
#include "scalar.hpp"
#include "shape.hpp"

namespace monarch {

template <class T>
struct MMStar {
  using DenseMatrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;
  using BatchMatrix = typename Monarch<T>::BatchMatrix;

  BlockDiagonal<T> l1;  ///< L1: b blocks of n/b x n/b (the A_i of docs/math.md §5)
  BlockDiagonal<T> r;   ///< R: n/b blocks of b x b, R_c[i,j] = D_ij[c,c]
  BlockDiagonal<T> l2;  ///< L2: b blocks of n/b x n/b (the C_j of docs/math.md §5)
  Monarch<T> m1;        ///< Monarch(w1 = R, w2 = L1)
  Monarch<T> m2;        ///< Monarch(w1 = identity, w2 = blockwise L2^H)

  /// The matrix size n.
  Index size() const { return l1.rows(); }
  /// The number b of L-blocks.
  Index b() const { return l1.nblocks(); }

  /// Y = X A^T: row b of the result is A x_b = m1 (m2^H x_b), in O(n^{3/2}) per row.
  template <class DX>
  BatchMatrix apply(const Eigen::MatrixBase<DX>& X) const {
    return m1.apply(m2.adjoint().apply(X));
  }

  /// The dense n x n matrix m1 . m2^H, in O(n^{5/2}) (the product applied to the identity).
  DenseMatrix to_dense() const {
    const BatchMatrix eye = BatchMatrix::Identity(size(), size());
    return apply(eye).transpose();  // row j of I A^T is column j of A
  }
};

/// The Monarch Shape (n/b, b, b | b, n/b, n/b) of both MM* factors.
inline Shape mm_star_shape(Index n, Index b) {
  detail::require_shape(n > 0 && b > 0 && n % b == 0, "mm_star_shape: b = ", b, " must divide n = ", n);
  return Shape{n / b, b, b, b, n / b, n / b};
}

/// Assembles an MMStar from (L1, R, L2) of docs/math.md §5. Throws ShapeError unless L1 and L2 are
/// (b, n/b, n/b) and R is (n/b, b, b) for one n and b.
template <class T>
MMStar<T> mm_star_from_factors(BlockDiagonal<T> l1, BlockDiagonal<T> r, BlockDiagonal<T> l2) {
  const Index b = l1.nblocks(), nb = l1.block_rows();
  const auto fits = [&](const BlockDiagonal<T>& w, Index blocks, Index rows) {
    return w.nblocks() == blocks && w.block_rows() == rows && w.block_cols() == rows;
  };
  detail::require_shape(fits(l1, b, nb) && fits(l2, b, nb) && fits(r, nb, b),
                        "mm_star_from_factors: expected L1, L2 of shape (b, n/b, n/b) and R of shape (n/b, b, b); given L1 (",
                        l1.nblocks(), ", ", l1.block_rows(), ", ", l1.block_cols(), "), R (", r.nblocks(), ", ",
                        r.block_rows(), ", ", r.block_cols(), "), L2 (", l2.nblocks(), ", ", l2.block_rows(), ", ",
                        l2.block_cols(), ")");
  Monarch<T> m1(r, l1);
  Monarch<T> m2(BlockDiagonal<T>::identity(nb, b), l2.adjoint());
  return MMStar<T>{std::move(l1), std::move(r), std::move(l2), std::move(m1), std::move(m2)};
}

/// The zero MM* matrix of size n with b L-blocks.
template <class T>
MMStar<T> mm_star_zero(Index n, Index b) {
  const Shape sh = mm_star_shape(n, b);
  return mm_star_from_factors(BlockDiagonal<T>(sh.l, sh.s, sh.r), BlockDiagonal<T>(sh.k, sh.q, sh.p),
                              BlockDiagonal<T>(sh.l, sh.s, sh.r));
}

}  // namespace monarch
