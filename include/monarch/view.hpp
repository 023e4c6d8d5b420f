// monarch: a raw pointer with strides, the form every kernel sees, and the zero-copy adaptation
// of directly addressable Eigen objects to it.
//
// A batch is a matrix whose rows are vectors (PyTorch layout: y_i = M x_i). Element (i, j) of a
// MatrixView lives at data[i * row_stride + j * col_stride], so row-major, column-major, blocks
// of larger matrices and transposed maps all fit without a copy.
#pragma once

#include <Eigen/Core>
#include <functional>
#include <type_traits>
#include <utility>

#include "errors.hpp"
#include "scalar.hpp"

namespace monarch {

/// Non-owning strided view of a rows x cols matrix. T may be const.
template <class T>
struct MatrixView {
  T* data = nullptr;
  Index rows = 0, cols = 0;
  Index row_stride = 0;  ///< elements between (i, j) and (i+1, j)
  Index col_stride = 1;  ///< elements between (i, j) and (i, j+1)

  T& operator()(Index i, Index j) const { return data[i * row_stride + j * col_stride]; }
  T* row(Index i) const { return data + i * row_stride; }
  /// Implicit conversion to a read-only view.
  operator MatrixView<const std::remove_const_t<T>>() const {  // NOLINT(google-explicit-constructor)
    return {data, rows, cols, row_stride, col_stride};
  }
};

/// View over a contiguous row-major rows x cols array.
template <class T>
MatrixView<T> row_major_view(T* data, Index rows, Index cols) {
  return {data, rows, cols, cols, 1};
}

namespace detail {

/// Lowest and one-past-highest address a view touches (empty views touch nothing).
template <class T>
std::pair<const void*, const void*> address_range(const MatrixView<T>& v) {
  if (v.rows == 0 || v.cols == 0) return {nullptr, nullptr};
  const T* lo = v.data;
  const T* hi = v.data;
  const Index dr = (v.rows - 1) * v.row_stride, dc = (v.cols - 1) * v.col_stride;
  lo += (dr < 0 ? dr : 0) + (dc < 0 ? dc : 0);
  hi += (dr > 0 ? dr : 0) + (dc > 0 ? dc : 0) + 1;
  return {static_cast<const void*>(lo), static_cast<const void*>(hi)};
}

/// True when two views may share memory (conservative: compares address ranges).
template <class A, class B>
bool may_overlap(const MatrixView<A>& a, const MatrixView<B>& b) {
  const auto ra = address_range(a), rb = address_range(b);
  if (ra.first == nullptr || rb.first == nullptr) return false;
  return std::less<const void*>()(ra.first, rb.second) && std::less<const void*>()(rb.first, ra.second);
}

template <class Derived>
constexpr void static_assert_direct_access() {
  static_assert(bool(Eigen::internal::traits<Derived>::Flags & Eigen::DirectAccessBit),
                "monarch needs a directly addressable Eigen object (a Matrix, Map, Block or Ref); "
                "evaluate expressions first, e.g. with .eval()");
}

}  // namespace detail

/// Read-only view of a directly addressable Eigen object; never copies.
template <class Derived>
auto view(const Eigen::DenseBase<Derived>& m) {
  detail::static_assert_direct_access<Derived>();
  using T = typename Derived::Scalar;
  return MatrixView<const T>{m.derived().data(), m.rows(), m.cols(), m.derived().rowStride(),
                             m.derived().colStride()};
}

/// Writable view of a directly addressable Eigen object; never copies. Takes a const reference so
/// that temporaries such as `Y.block(...)` or `Y.row(i)` can be passed (Eigen's own idiom).
template <class Derived>
auto mutable_view(const Eigen::DenseBase<Derived>& m) {
  detail::static_assert_direct_access<Derived>();
  static_assert(bool(Eigen::internal::traits<Derived>::Flags & Eigen::LvalueBit),
                "monarch needs a writable output");
  using T = typename Derived::Scalar;
  auto& d = const_cast<Derived&>(m.derived());
  return MatrixView<T>{d.data(), d.rows(), d.cols(), d.rowStride(), d.colStride()};
}

/// A vector (row or column) seen as a batch of one: a 1 x size view.
template <class Derived>
auto vector_view(const Eigen::DenseBase<Derived>& v) {
  static_assert(Derived::IsVectorAtCompileTime, "monarch: expected a vector type");
  detail::static_assert_direct_access<Derived>();
  using T = typename Derived::Scalar;
  return MatrixView<const T>{v.derived().data(), 1, v.size(), 0, v.derived().innerStride()};
}

}  // namespace monarch
