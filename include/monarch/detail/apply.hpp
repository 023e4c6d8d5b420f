// monarch::detail: the one internal entry for both Monarch multiplies. Shapes were validated by
// the public API; from here on only pointers, strides and the (packed) factor arrays are seen.
// kernels::plan_kernels() picks the path; every path computes the same docs/math.md §2.1 / §3.1 loops.
#pragma once

#include <cassert>

#include "../block_diagonal.hpp"
#include "../shape.hpp"
#include "../view.hpp"
#include "../workspace.hpp"
#include "kernels/fused.hpp"
#include "kernels/pack_cache.hpp"
#include "kernels/policy.hpp"
#include "reference_kernels.hpp"
#include "task_runner.hpp"

namespace monarch::detail {

/// The reference path: one task per row, each with its own slice of the workspace.
template <class T>
void reference_multiply(kernels::Direction dir, const Shape& sh, const T* w1, const T* w2, MatrixView<const T> in,
                        MatrixView<T> out, const TaskRunner& exec, Workspace<T>& ws, const T* bias) {
  T* h = ws.reserve(in.rows, sh.inner());
  exec.parallel_for(in.rows, [&](Index b) {
    T* hb = h + b * sh.inner();
    T* y = out.row(b);
    if (dir == kernels::Direction::forward)
      reference_apply_row(sh, w1, w2, in.row(b), in.col_stride, hb, y, out.col_stride);
    else
      reference_apply_adjoint_row(sh, w1, w2, in.row(b), in.col_stride, hb, y, out.col_stride);
    if (bias != nullptr)
      for (Index j = 0; j < out.cols; ++j) y[j] += bias[j];
  });
}

/// A fused path P (its factors packed once per Monarch and cached).
template <KernelPath P, class T>
void fused_path(kernels::Direction dir, const BlockDiagonal<T>& w1, const BlockDiagonal<T>& w2,
                const kernels::PackCache<T>& cache, const kernels::KernelPlan& plan, MatrixView<const T> in,
                MatrixView<T> out, const TaskRunner& exec, Workspace<T>& ws, NonTemporal stores, const T* bias) {
  using VF = kernels::VecFor<T, P>;
  using V = typename VF::type;
  const Shape sh{w1.nblocks(), w1.block_rows(), w1.block_cols(), w2.nblocks(), w2.block_rows(), w2.block_cols()};
  const auto pk = cache.get(dir, P, sh, [&] { return kernels::pack_multiply<V, VF::registers>(dir, w1, w2); });
  T* buf = ws.reserve(kernels::fused_workspace_size<T>(sh, in.rows, plan.batch_tile, exec.concurrency()));
  const bool nontemporal = kernels::nontemporal_output<T>(out.rows, out.cols, stores);
  kernels::fused_multiply<V, VF::registers>(dir, *pk, in, out, plan.batch_tile, nontemporal, exec, buf,
                                            bias);
}

/// out = in M^T (forward: row b = M in_b) or in conj(M) (adjoint: row b = M^H in_b), plus, when
/// `bias` is given (out.cols values; out must have unit column stride), bias[j] added to every
/// row's out(b, j) as it is stored: a layer's bias in the same pass.
template <class T>
void monarch_multiply(kernels::Direction dir, const BlockDiagonal<T>& w1, const BlockDiagonal<T>& w2,
                      const kernels::PackCache<T>& cache, MatrixView<const T> in, MatrixView<T> out,
                      const TaskRunner& exec, Workspace<T>& ws, const KernelOptions& options,
                      const T* bias = nullptr) {
  assert(bias == nullptr || out.col_stride == 1);
  if (in.rows == 0) return;
  const Shape sh{w1.nblocks(), w1.block_rows(), w1.block_cols(), w2.nblocks(), w2.block_rows(), w2.block_cols()};
  // The runner asked the executor's concurrency once: the tile, the reservation and the slots
  // the call runs agree.
  const kernels::KernelPlan plan = kernels::plan_kernels<T>(sh, in.rows, exec.concurrency(), options);

  switch (plan.path) {
    case KernelPath::reference: return reference_multiply(dir, sh, w1.data(), w2.data(), in, out, exec, ws, bias);
    case KernelPath::avx512:
      if constexpr (kernels::path_available<T>(KernelPath::avx512))
        return fused_path<KernelPath::avx512>(dir, w1, w2, cache, plan, in, out, exec, ws, options.nontemporal, bias);
      break;
    case KernelPath::avx2:
      if constexpr (kernels::path_available<T>(KernelPath::avx2))
        return fused_path<KernelPath::avx2>(dir, w1, w2, cache, plan, in, out, exec, ws, options.nontemporal, bias);
      break;
    default: break;
  }
  fused_path<KernelPath::portable>(dir, w1, w2, cache, plan, in, out, exec, ws, options.nontemporal, bias);
}

}  // namespace monarch::detail

// Separately compiled kernels. A build that defines MONARCH_SEPARATE_KERNELS compiles the multiply
// once, in one translation unit that expands MONARCH_DETAIL_FOR_EACH_SCALAR(
// MONARCH_DETAIL_MULTIPLY_INSTANCE) inside namespace monarch::detail (the project's own builds do,
// through src/monarch_kernels.cpp), instead of in every file that multiplies. Both must be compiled
// with the same instruction-set flags.
#define MONARCH_DETAIL_FOR_EACH_SCALAR(X) X(float) X(double) X(std::complex<float>) X(std::complex<double>)
#define MONARCH_DETAIL_MULTIPLY_INSTANCE(T)                                                                    \
  template void monarch_multiply<T>(kernels::Direction, const BlockDiagonal<T>&, const BlockDiagonal<T>&,     \
                                    const kernels::PackCache<T>&, MatrixView<const T>, MatrixView<T>,         \
                                    const TaskRunner&, Workspace<T>&, const KernelOptions&, const T*);
#if defined(MONARCH_SEPARATE_KERNELS)
namespace monarch::detail {
#define MONARCH_DETAIL_EXTERN_MULTIPLY(T) extern MONARCH_DETAIL_MULTIPLY_INSTANCE(T)
MONARCH_DETAIL_FOR_EACH_SCALAR(MONARCH_DETAIL_EXTERN_MULTIPLY)
#undef MONARCH_DETAIL_EXTERN_MULTIPLY
}  // namespace monarch::detail
#endif
