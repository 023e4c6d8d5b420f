// monarch: Workspace<T>, reusable scratch memory for the multiplies. A call needs an intermediate
// tile (batch rows x k*q values per worker); passing the same Workspace to repeated calls makes
// them allocation-free once it has grown to the largest size needed. Calls that are not given one
// use a per-thread default owned by the library, which is likewise allocated once per thread.
#pragma once

#include "detail/aligned_buffer.hpp"
#include "errors.hpp"
#include "scalar.hpp"

namespace monarch {

template <class T>
class Workspace {
 public:
  Workspace() = default;
  /// Pre-sizes the workspace to `values` elements.
  explicit Workspace(Index values) { reserve(values); }

  /// Grows to at least `values` elements (never shrinks); returns the 64-byte aligned storage.
  T* reserve(Index values) {
    detail::require_shape(values >= 0, "Workspace::reserve: size must be >= 0, given ", values);
    if (static_cast<std::size_t>(values) > buffer_.size()) buffer_.resize(static_cast<std::size_t>(values));
    return buffer_.data();
  }
  /// Grows to at least rows * row_values elements, the product checked (ShapeError when it does not
  /// fit in Index): a batch's rows come from the caller and are not bounded by any allocation.
  T* reserve(Index rows, Index row_values) {
    return reserve(detail::checked_product("Workspace::reserve", rows, row_values));
  }
  /// Elements currently held.
  Index capacity() const { return static_cast<Index>(buffer_.size()); }
  /// Frees the storage.
  void release() { detail::AlignedVector<T>().swap(buffer_); }

 private:
  detail::AlignedVector<T> buffer_;
};

namespace detail {
/// The calling thread's default workspace for scalar T.
template <class T>
Workspace<T>& default_workspace() {
  thread_local Workspace<T> ws;
  return ws;
}
}  // namespace detail

}  // namespace monarch
