// monarch: the backward pass of the Monarch multiply (docs/math.md §3.2), in PyTorch's complex convention.
//
// For a batch Y = X M^T (rows y_b = M x_b) and dY = dL/dY:
//   dX         = dY conj(M)                       rows M^H dy_b        (Monarch::adjoint().apply)
//   dw2[e]     = dZ_e^T conj(G_e)                 dZ_e[b,t] = dy_b[t*l + e],  G_e[b,f] = h_b[f*l + e]
//   dw1[a]     = dH_a^T conj(X_a)                 dH_a[b,c] = dh_b[a*q + c],  X_a[b,d] = x_b[a*p + d]
// with h_b = BD(w1) x_b (the intermediate of stage 1) and dh_b[f*l + e] = sum_t conj(w2[e,t,f]) dz_b[e,t].
// For real scalars every conj is the identity. Each per-block product is a GEMM over the batch:
// the strided operands are gathered into contiguous tiles of a reusable GradientWorkspace and
// multiplied with Eigen, the work split over (block, row tile) tasks of the caller's executor.
// Every output element is summed by one task in one fixed order, so results are bitwise identical
// for every executor and thread count, and nothing is allocated once the workspace has grown.
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <initializer_list>
#include <type_traits>

#include "block_diagonal.hpp"
#include "detail/aligned_buffer.hpp"
#include "detail/tiled_gemm.hpp"
#include "errors.hpp"
#include "execution.hpp"
#include "monarch_matrix.hpp"
#include "shape.hpp"
#include "view.hpp"

namespace monarch {

/// Which gradients a backward call computes; the others are left untouched.
struct GradientRequest {
  bool input = true;  ///< dX
  bool w1 = true;     ///< dw1 (the authors' blkdiag1)
  bool w2 = true;     ///< dw2 (the authors' blkdiag2)
  bool bias = true;   ///< dbias (MonarchLinear only)

  static GradientRequest all() { return {}; }
  /// The parameters only (a first layer does not need dX).
  static GradientRequest parameters() { return {false, true, true, true}; }
};

/// Output of backward(): overwritten by every call, resized only when the shapes change, so a
/// training loop that reuses one object does not allocate.
template <class T>
struct MonarchGradients {
  using BatchMatrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  BatchMatrix input;    ///< dX: batch x cols()
  BlockDiagonal<T> w1;  ///< dL/dw1: (k, q, p)
  BlockDiagonal<T> w2;  ///< dL/dw2: (l, s, r)
};

namespace detail {

/// The scratch arrays of one backward pass, block-major: x holds the X_a tiles (k of batch x p),
/// dz the dZ_e tiles (l of batch x s), h/dh the stage-1 side (k of batch x q), g/dg the stage-2
/// side (l of batch x r).
template <class T>
struct GradientScratch {
  AlignedVector<T> x, dz, h, g, dh, dg;
};

/// Grows v to at least n elements and returns its data; never shrinks, so reuse stops allocating.
template <class T>
T* grow(AlignedVector<T>& v, Index n) {
  if (static_cast<Index>(v.size()) < n) v.resize(static_cast<std::size_t>(n));
  return v.data();
}

/// Gives w the shape (nblocks, rows, cols) unless it already has it (values are then overwritten).
template <class T>
void ensure_shape(BlockDiagonal<T>& w, Index nblocks, Index rows, Index cols) {
  if (w.nblocks() != nblocks || w.block_rows() != rows || w.block_cols() != cols) w = BlockDiagonal<T>(nblocks, rows, cols);
}

/// One argument of a call, for the overlap check: its name in messages and the memory it covers
/// (an empty view for an output the call will not write).
template <class T>
struct Operand {
  const char* name;
  MatrixView<const T> memory;
};

/// The storage of a factor output, as one row; nothing for nullptr (an output not written).
template <class T>
MatrixView<const T> storage(const BlockDiagonal<T>* w) {
  return w ? row_major_view(w->data(), 1, w->size()) : MatrixView<const T>{};
}

/// A view of a matrix or vector output if the call writes it, else nothing.
template <class Derived>
MatrixView<const typename Derived::Scalar> view_if(bool written, const Eigen::DenseBase<Derived>& m) {
  return written ? view(m) : MatrixView<const typename Derived::Scalar>{};
}

/// ShapeError naming the pair unless every output is disjoint from every input. Outputs are taken
/// as they are at the entry: writing one, or reshaping it (which frees its storage), would change
/// an input that is still to be read.
template <class T>
void require_disjoint(const char* where, std::initializer_list<Operand<T>> outputs,
                      std::initializer_list<Operand<T>> inputs) {
  for (const Operand<T>& out : outputs)
    for (const Operand<T>& in : inputs)
      require_shape(!may_overlap(out.memory, in.memory), where, ": ", out.name, " overlaps ", in.name,
                    "; outputs must not share memory with inputs");
}

/// out[b*width + j] = value(b, j): one contiguous batch x width tile of the workspace.
template <class T, class F>
void gather(T* out, Index batch, Index width, F&& value) {
  for (Index b = 0; b < batch; ++b)
    for (Index j = 0; j < width; ++j) out[b * width + j] = value(b, j);
}

/// dw1 and/or dw2 (null = not wanted) for the shape sh. X may have fewer than sh.cols() columns
/// (the rest are zeros) and dY fewer than sh.rows() (the rest have zero gradient).
template <class T, class Executor>
void factor_gradients(const Shape& sh, const T* w1, const T* w2, MatrixView<const T> X, MatrixView<const T> dY,
                      T* dw1, T* dw2, GradientScratch<T>& ws, const Executor& exec) {
  if (dw1 == nullptr && dw2 == nullptr) return;
  const Index B = X.rows, k = sh.k, q = sh.q, p = sh.p, l = sh.l, s = sh.s, r = sh.r, N = sh.inner();
  T* const xb = grow(ws.x, B * k * p);
  T* const dz = grow(ws.dz, B * l * s);
  T* const hb = dw2 ? grow(ws.h, B * N) : nullptr;
  T* const g = dw2 ? grow(ws.g, B * N) : nullptr;
  T* const dg = dw1 ? grow(ws.dg, B * N) : nullptr;
  T* const dh = dw1 ? grow(ws.dh, B * N) : nullptr;

  // 1. Gather X_a (contiguous input blocks, zero-padded) and dZ_e (interleaved output rows).
  exec.parallel_for(k + l, [&](Index task) {
    if (task < k) {
      const Index a = task;
      gather(xb + a * B * p, B, p, [&](Index b, Index d) { return a * p + d < X.cols ? X(b, a * p + d) : T(0); });
    } else {
      const Index e = task - k;
      gather(dz + e * B * s, B, s, [&](Index b, Index t) { return t * l + e < dY.cols ? dY(b, t * l + e) : T(0); });
    }
  });

  // 2. H_a = X_a w1[a]^T (stage 1 again, for dw2) and dG_e = dZ_e conj(w2[e]) (for dw1).
  const Index bt = gemm_row_tiles<T>(B), tile = gemm_tile<T>();
  const Index n_h = dw2 ? k * bt : 0, n_dg = dw1 ? l * bt : 0;
  exec.parallel_for(n_h + n_dg, [&](Index task) {
    const bool stage1 = task < n_h;
    const Index rel = stage1 ? task : task - n_h, blk = rel / bt, i0 = (rel % bt) * tile;
    const Index rows = std::min(tile, B - i0);
    if (stage1) {
      MutableRowMap<T> H(hb + blk * B * q, B, q);
      gemm_rows<false>(H, RowMap<T>(xb + blk * B * p, B, p), ColMap<T>(w1 + blk * q * p, p, q), i0, rows);
    } else {
      MutableRowMap<T> dG(dg + blk * B * r, B, r);
      gemm_rows<true>(dG, RowMap<T>(dz + blk * B * s, B, s), RowMap<T>(w2 + blk * s * r, s, r), i0, rows);
    }
  });

  // 3. Move through the channels u (docs/math.md §2.2): u = f*l + e on the w2 side, u = a*q + c on the w1
  //    side. G_e[b,f] = H_a[b,c] and dH_a[b,c] = dG_e[b,f].
  const Index n_g = dw2 ? l : 0, n_dh = dw1 ? k : 0;
  exec.parallel_for(n_g + n_dh, [&](Index task) {
    if (task < n_g) {
      const Index e = task;
      gather(g + e * B * r, B, r, [&](Index b, Index f) {
        const Index u = f * l + e;
        return hb[(u / q) * B * q + b * q + u % q];
      });
    } else {
      const Index a = task - n_g;
      gather(dh + a * B * q, B, q, [&](Index b, Index c) {
        const Index u = a * q + c;
        return dg[(u % l) * B * r + b * r + u / l];
      });
    }
  });

  // 4. dw2[e] = dZ_e^T conj(G_e) and dw1[a] = dH_a^T conj(X_a): GEMMs over the batch.
  const Index st = gemm_row_tiles<T>(s), qt = gemm_row_tiles<T>(q);
  const Index n_w2 = dw2 ? l * st : 0, n_w1 = dw1 ? k * qt : 0;
  exec.parallel_for(n_w2 + n_w1, [&](Index task) {
    if (task < n_w2) {
      const Index e = task / st, i0 = (task % st) * tile;
      MutableRowMap<T> C(dw2 + e * s * r, s, r);
      gemm_rows<true>(C, ColMap<T>(dz + e * B * s, s, B), RowMap<T>(g + e * B * r, B, r), i0, std::min(tile, s - i0));
    } else {
      const Index rel = task - n_w2, a = rel / qt, i0 = (rel % qt) * tile;
      MutableRowMap<T> C(dw1 + a * q * p, q, p);
      gemm_rows<true>(C, ColMap<T>(dh + a * B * q, q, B), RowMap<T>(xb + a * B * p, B, p), i0, std::min(tile, q - i0));
    }
  });
}

}  // namespace detail

/// Reusable scratch memory of the backward pass. It grows to the largest (shape, batch) it has
/// served and is never shrunk, so a training loop that keeps one per layer allocates only in its
/// first step. Not thread-safe: one backward at a time per workspace.
template <class T>
class GradientWorkspace {
 public:
  /// Grows the buffers for a full backward of this shape and batch ahead of time.
  void reserve(const Shape& sh, Index batch) {
    detail::grow(scratch_.x, batch * sh.cols());
    detail::grow(scratch_.dz, batch * sh.rows());
    for (auto* v : {&scratch_.h, &scratch_.g, &scratch_.dh, &scratch_.dg}) detail::grow(*v, batch * sh.inner());
  }
  /// The internal buffers, for the library's backward functions.
  detail::GradientScratch<T>& scratch() { return scratch_; }

 private:
  detail::GradientScratch<T> scratch_;
};

/// dL/dw1 into *dw1 and dL/dw2 into *dw2 (pass nullptr for one that is not needed; each is
/// reshaped to its factor's shape if necessary, then overwritten). X is batch x n with n <= cols()
/// and is read as if zero-padded to cols() (MonarchLinear's input padding); dY is batch x m with
/// m <= rows(), the missing trailing outputs having zero gradient (MonarchLinear's truncation).
template <class T, class DX, class DdY, class Executor = SerialExecutor,
          std::enable_if_t<is_executor_v<Executor>, int> = 0>
void factor_gradients(const Monarch<T>& M, const Eigen::MatrixBase<DX>& X, const Eigen::MatrixBase<DdY>& dY,
                      typename Monarch<T>::Factor* dw1, typename Monarch<T>::Factor* dw2, GradientWorkspace<T>& ws,
                      const Executor& exec = {}) {
  static_assert(std::is_same_v<typename DX::Scalar, T> && std::is_same_v<typename DdY::Scalar, T>,
                "factor_gradients: X and dY must have the Monarch's scalar type");
  const Shape sh = M.shape();
  sh.validate("factor_gradients");
  detail::require_shape(X.cols() <= sh.cols(), "factor_gradients: X has ", X.cols(), " columns, expected at most cols() = ",
                        sh.cols());
  detail::require_shape(dY.cols() <= sh.rows(), "factor_gradients: dY has ", dY.cols(),
                        " columns, expected at most rows() = ", sh.rows());
  detail::require_shape(X.rows() == dY.rows(), "factor_gradients: X has ", X.rows(), " rows but dY has ", dY.rows(),
                        ", expected the same batch");
  // One object for both would be shaped for w2 and then written with dw1.
  detail::require_shape(dw1 == nullptr || dw1 != dw2, "factor_gradients: dw1 and dw2 are the same object; pass two "
                        "distinct factors (or nullptr for one that is not needed)");
  detail::require_disjoint<T>("factor_gradients", {{"dw1", detail::storage(dw1)}, {"dw2", detail::storage(dw2)}},
                              {{"X", view(X)}, {"dY", view(dY)}});
  if (dw1) detail::ensure_shape(*dw1, sh.k, sh.q, sh.p);
  if (dw2) detail::ensure_shape(*dw2, sh.l, sh.s, sh.r);
  detail::factor_gradients(sh, M.w1().data(), M.w2().data(), view(X), view(dY), dw1 ? dw1->data() : nullptr,
                           dw2 ? dw2->data() : nullptr, ws.scratch(), exec);
}

/// The backward of Y = X M^T (docs/math.md §3.2): given X (batch x cols()) and dY = dL/dY (batch x rows()),
/// writes the requested gradients into `grads` (dX = dY conj(M), dw1, dw2; unrequested members are
/// left untouched). PyTorch's convention: for a real loss L, dL = Re sum conj(grad) .* d(param).
template <class T, class DX, class DdY, class Executor = SerialExecutor,
          std::enable_if_t<is_executor_v<Executor>, int> = 0>
void backward(const Monarch<T>& M, const Eigen::MatrixBase<DX>& X, const Eigen::MatrixBase<DdY>& dY,
              const GradientRequest& request, MonarchGradients<T>& grads, GradientWorkspace<T>& ws,
              const Executor& exec = {}) {
  detail::require_shape(X.cols() == M.cols(), "monarch::backward: X has ", X.cols(), " columns, expected cols() = ",
                        M.cols());
  detail::require_shape(dY.cols() == M.rows(), "monarch::backward: dY has ", dY.cols(),
                        " columns, expected rows() = ", M.rows());
  detail::require_shape(X.rows() == dY.rows(), "monarch::backward: X has ", X.rows(), " rows but dY has ", dY.rows(),
                        ", expected the same batch");
  auto* const dw1 = request.w1 ? &grads.w1 : nullptr;
  auto* const dw2 = request.w2 ? &grads.w2 : nullptr;
  detail::require_disjoint<T>("monarch::backward",
                              {{"grads.input", detail::view_if(request.input, grads.input)},
                               {"grads.w1", detail::storage(dw1)},
                               {"grads.w2", detail::storage(dw2)}},
                              {{"X", view(X)}, {"dY", view(dY)}});
  if (request.input) {
    grads.input.resize(dY.rows(), M.cols());
    M.adjoint().apply(dY, grads.input, exec);
  }
  factor_gradients(M, X, dY, dw1, dw2, ws, exec);
}

}  // namespace monarch
