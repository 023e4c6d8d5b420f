// monarch: block-diagonal factors BD(w), stored exactly like the authors' w1/w2 tensors.
//
// w has shape (nblocks, block_rows, block_cols), row-major and contiguous: element w[t,i,j] is at
// data()[(t*block_rows + i)*block_cols + j], so a PyTorch tensor `w.contiguous()` loads with one
// memcpy. BD(w)[t*block_rows + i, t*block_cols + j] = w[t,i,j] (docs/math.md §1.2).
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <cassert>
#include <cstdint>
#include <cstring>

#include "detail/aligned_buffer.hpp"
#include "detail/random.hpp"
#include "errors.hpp"
#include "scalar.hpp"
#include "view.hpp"

namespace monarch {

template <class T>
class BlockDiagonal {
  static_assert(is_supported_scalar_v<T>,
                "monarch supports the scalars float, double, std::complex<float> and std::complex<double>");

 public:
  using Scalar = T;
  using BlockMap = Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;
  using ConstBlockMap = Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;
  using DenseMatrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;

  /// Empty (no blocks).
  BlockDiagonal() = default;

  /// nblocks blocks of block_rows x block_cols, zero-initialized.
  BlockDiagonal(Index nblocks, Index block_rows, Index block_cols)
      : nblocks_(nblocks), block_rows_(block_rows), block_cols_(block_cols) {
    detail::require_shape(nblocks > 0 && block_rows > 0 && block_cols > 0,
                          "BlockDiagonal: extents must be positive, given (nblocks, block_rows, block_cols) = (",
                          nblocks, ", ", block_rows, ", ", block_cols, ")");
    // size() bounds rows() and cols(), so one check covers every extent product of the factor.
    data_.assign(static_cast<std::size_t>(detail::checked_product("BlockDiagonal", nblocks, block_rows, block_cols)),
                 T(0));
  }

  /// Copies size() = nblocks*block_rows*block_cols values laid out as (nblocks, block_rows,
  /// block_cols) row-major, e.g. a PyTorch tensor's storage. Throws ValueError for null `values`.
  static BlockDiagonal from_data(Index nblocks, Index block_rows, Index block_cols, const T* values) {
    detail::require_value(values != nullptr, "BlockDiagonal::from_data: values is null, expected ", nblocks, " x ",
                          block_rows, " x ", block_cols, " values");
    BlockDiagonal w(nblocks, block_rows, block_cols);
    // Tested again: GCC's -Wnonnull cannot see that the check above throws.
    if (values != nullptr) std::memcpy(w.data(), values, sizeof(T) * static_cast<std::size_t>(w.size()));
    return w;
  }

  /// nblocks identity blocks of size n x n.
  static BlockDiagonal identity(Index nblocks, Index n) {
    BlockDiagonal w(nblocks, n, n);
    for (Index t = 0; t < nblocks; ++t)
      for (Index i = 0; i < n; ++i) w(t, i, i) = T(1);
    return w;
  }

  /// Entries i.i.d. uniform in [-bound, bound) (complex: real and imaginary parts each with bound
  /// / sqrt(2)), reproducible from `seed`. bound = 1/sqrt(block_cols) is the authors' init.
  static BlockDiagonal random(Index nblocks, Index block_rows, Index block_cols, std::uint64_t seed,
                              double bound) {
    BlockDiagonal w(nblocks, block_rows, block_cols);
    detail::Rng rng(seed);
    for (auto& v : w.data_) v = rng.uniform_scalar<T>(bound);
    return w;
  }

  Index nblocks() const { return nblocks_; }
  Index block_rows() const { return block_rows_; }
  Index block_cols() const { return block_cols_; }
  /// Rows of BD(w): nblocks*block_rows.
  Index rows() const { return nblocks_ * block_rows_; }
  /// Columns of BD(w): nblocks*block_cols.
  Index cols() const { return nblocks_ * block_cols_; }
  /// Number of stored values, nblocks*block_rows*block_cols.
  Index size() const { return static_cast<Index>(data_.size()); }

  T* data() { return data_.data(); }
  const T* data() const { return data_.data(); }

  /// w[t,i,j], unchecked in release builds.
  T& operator()(Index t, Index i, Index j) {
    assert(t >= 0 && t < nblocks_ && i >= 0 && i < block_rows_ && j >= 0 && j < block_cols_);
    return data_[static_cast<std::size_t>((t * block_rows_ + i) * block_cols_ + j)];
  }
  const T& operator()(Index t, Index i, Index j) const {
    return const_cast<BlockDiagonal&>(*this)(t, i, j);
  }

  /// Block t as a row-major block_rows x block_cols Eigen map.
  BlockMap block(Index t) {
    check_block(t);
    return BlockMap(data() + t * block_rows_ * block_cols_, block_rows_, block_cols_);
  }
  ConstBlockMap block(Index t) const {
    check_block(t);
    return ConstBlockMap(data() + t * block_rows_ * block_cols_, block_rows_, block_cols_);
  }

  /// BD(w)^H: every block conjugate-transposed, shape (nblocks, block_cols, block_rows).
  BlockDiagonal adjoint() const {
    BlockDiagonal a(nblocks_, block_cols_, block_rows_);
    for (Index t = 0; t < nblocks_; ++t) a.block(t) = block(t).adjoint();
    return a;
  }

  /// The dense rows() x cols() matrix.
  DenseMatrix to_dense() const {
    detail::checked_product("BlockDiagonal::to_dense", rows(), cols());
    DenseMatrix d = DenseMatrix::Zero(rows(), cols());
    for (Index t = 0; t < nblocks_; ++t)
      d.block(t * block_rows_, t * block_cols_, block_rows_, block_cols_) = block(t);
    return d;
  }

  /// Y = X BD(w)^T: applies BD(w) to every row of a (batch x cols()) matrix.
  template <class Derived>
  Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> apply(const Eigen::MatrixBase<Derived>& X) const {
    static_assert(std::is_same_v<typename Derived::Scalar, T>, "BlockDiagonal::apply: scalar types differ");
    detail::require_shape(X.cols() == cols(), "BlockDiagonal::apply: X has ", X.cols(),
                          " columns, expected cols() = ", cols());
    Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> Y(X.rows(), rows());
    for (Index t = 0; t < nblocks_; ++t)
      Y.middleCols(t * block_rows_, block_rows_).noalias() =
          X.middleCols(t * block_cols_, block_cols_) * block(t).transpose();
    return Y;
  }

  friend bool operator==(const BlockDiagonal& a, const BlockDiagonal& b) {
    return a.nblocks_ == b.nblocks_ && a.block_rows_ == b.block_rows_ && a.block_cols_ == b.block_cols_ &&
           std::equal(a.data_.begin(), a.data_.end(), b.data_.begin());
  }
  friend bool operator!=(const BlockDiagonal& a, const BlockDiagonal& b) { return !(a == b); }

 private:
  void check_block(Index t) const {
    detail::require_shape(t >= 0 && t < nblocks_, "BlockDiagonal::block: index ", t, " is outside [0, ",
                          nblocks_, ")");
  }

  Index nblocks_ = 0, block_rows_ = 0, block_cols_ = 0;
  detail::AlignedVector<T> data_;
};

}  // namespace monarch
