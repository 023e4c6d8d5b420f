// monarch::detail: the one internal entry for both Monarch multiplies. Shapes were validated by
// the public API; from here on only pointers, strides and the factor arrays are seen.
#pragma once

#include <vector>

#include "../execution.hpp"
#include "../shape.hpp"
#include "../view.hpp"
#include "reference_kernels.hpp"

namespace monarch::detail {

/// Y = X M^T (every row y_b = M x_b). X: batch x sh.cols(), Y: batch x sh.rows().
template <class T, class Executor>
void monarch_apply(const Shape& sh, const T* w1, const T* w2, MatrixView<const T> X, MatrixView<T> Y,
                   const Executor& exec) {
  exec.parallel_for(X.rows, [&](Index b) {
    thread_local std::vector<T> h;
    h.resize(static_cast<std::size_t>(sh.inner()));
    reference_apply_row(sh, w1, w2, X.row(b), X.col_stride, h.data(), Y.row(b), Y.col_stride);
  });
}

/// X = Y conj(M) (every row x_b = M^H y_b). Y: batch x sh.rows(), X: batch x sh.cols().
template <class T, class Executor>
void monarch_apply_adjoint(const Shape& sh, const T* w1, const T* w2, MatrixView<const T> Y, MatrixView<T> X,
                           const Executor& exec) {
  exec.parallel_for(Y.rows, [&](Index b) {
    thread_local std::vector<T> h;
    h.resize(static_cast<std::size_t>(sh.inner()));
    reference_apply_adjoint_row(sh, w1, w2, Y.row(b), Y.col_stride, h.data(), X.row(b), X.col_stride);
  });
}

}  // namespace monarch::detail
