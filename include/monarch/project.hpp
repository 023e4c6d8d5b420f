// monarch: projection of a dense matrix onto the Monarch matrices of a given Shape (docs/math.md §4, the
// paper's Algorithm 1 and Theorem 1, generalized to every shape the authors' operator accepts).
//
// What is computed. For every slice (e, a), 0 <= e < l, 0 <= a < k,
//     S_{e,a}[t, d] = A[t*l + e, a*p + d]          (an s x p matrix, rows e, e+l, e+2l, ...)
// owns the channels U(e,a) = { u < k*q : u mod l = e, u div q = a }, listed ascending u_0 < u_1 < ...
// With the thin SVD S = U Sigma V^H, the i-th channel gets
//     w2[e, :, u_i div l] = sqrt(sigma_i) U[:, i]       w1[a, u_i mod q, :] = sqrt(sigma_i) V^H[i, :]
// for i < min(s, p); further channels stay zero, and a slice without channels (irregular shapes)
// is projected to zero. ||A - M||_F^2 splits into independent per-slice terms over disjoint
// factor entries, so by Eckart-Young this M is a Frobenius-optimal Monarch of that shape:
//     ||A - project(A)||_F^2 = sum_{e,a} sum_{i >= |U(e,a)|} sigma_i(S_{e,a})^2.
//
// Gauge. The factors are not unique: each channel may be scaled by alpha on the w2 side and 1/alpha
// on the w1 side (the SVD's sign or phase is one instance), and the symmetric sqrt(sigma) split
// is only a convention (the authors' `low_rank_project` uses it). When sigma_c = sigma_{c+1} at the
// truncation point even the dense projection is not unique. Compare dense reconstructions.
//
// Cost. Slices with few channels (c <= min(s,p)/4, e.g. every slice of the paper's rank-1 Monarch)
// get only their c leading singular triples, by Lanczos on the slice's Gram matrix with a
// certified error bound (detail/leading_svd.hpp); a slice whose leading singular values are nearly
// tied, or that does not converge, falls back to a full SVD. Other slices get Eigen's BDCSVD.
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "detail/leading_svd.hpp"
#include "errors.hpp"
#include "execution.hpp"
#include "monarch_matrix.hpp"
#include "scalar.hpp"
#include "shape.hpp"
#include "view.hpp"

namespace monarch {

/// How project() computes the per-slice truncated SVDs. Every method returns the same projection
/// (up to rounding and gauge); they differ in speed.
enum class ProjectionMethod {
  /// Leading triples by certified Lanczos where a slice has few channels, full SVD otherwise and
  /// as the fallback. The default.
  Auto,
  /// Eigen's BDCSVD of every slice (the reference; what the authors' code does).
  FullSvd,
  /// Like Auto but tries the leading-triple iteration on every slice with 1 <= c < min(s,p)
  /// channels, however small or however many channels (for testing the iteration and its fallback).
  Iterative,
};

struct ProjectionOptions {
  ProjectionMethod method = ProjectionMethod::Auto;
};

/// The result of project(A, shape).
template <class T>
struct ProjectionResult {
  /// The projection M (w1 = the paper's R side, w2 = the L side).
  Monarch<T> monarch;
  /// ||A - M||_F, from the per-slice discarded energies, summed scaled by powers of two: accurate
  /// at any scale of A, +infinity only if ||A - M||_F exceeds the largest finite real_t<T>.
  real_t<T> residual = 0;
  /// discarded_energy[e*k + a] = sum_{i >= |U(e,a)|} sigma_i(S_{e,a})^2 = ||S_{e,a} - M's slice||_F^2,
  /// the squared Frobenius norm the projection gives up in slice (e, a). A square: for entries
  /// beyond about 1e154 (below 1e-154) it over- (under-)flows where `residual` does not.
  std::vector<double> discarded_energy;
  /// Slices whose truncated SVD came from a full SVD (BDCSVD), including fallbacks.
  Index full_svd_slices = 0;
  /// Slices where the leading-triple iteration was tried but declined (nearly tied leading
  /// singular values or no convergence) and the full SVD was used instead.
  Index fallback_slices = 0;
};

namespace detail {
/// The smallest channel u >= a*q with u mod l = e (the first of U(e,a) if it is < (a+1)*q).
inline Index first_channel(const Shape& sh, Index e, Index a) {
  return a * sh.q + ((e - a * sh.q) % sh.l + sh.l) % sh.l;
}
}  // namespace detail

/// Number of channels |U(e,a)| of slice (e, a): the u in [a*q, a*q + q) with u mod l = e.
inline Index slice_channels(const Shape& sh, Index e, Index a) {
  const Index first = detail::first_channel(sh, e, a);
  const Index end = (a + 1) * sh.q;
  return first < end ? detail::ceil_div(end - first, sh.l) : 0;
}

namespace detail {

/// True when slice (s x p, c channels) should try the leading-triple iteration.
inline bool use_iteration(ProjectionMethod method, Index s, Index p, Index c) {
  const Index small = std::min(s, p);
  if (c < 1 || c >= small) return false;
  switch (method) {
    case ProjectionMethod::FullSvd:
      return false;
    case ProjectionMethod::Iterative:
      return true;
    case ProjectionMethod::Auto:
      break;
  }
  return small >= 8 && 4 * c <= small;  // tiny slices: BDCSVD is cheap and there is little to gain
}

/// Per-thread workspace: the l slices of one column block of A, and the SVD engines.
template <class T>
struct SliceWorkspace {
  std::vector<DenseColMajor<T>> slices;
  TruncatedSvd<T> svd;
  LeadingSvd<T> lanczos;
};

/// A hint to fetch the cache line holding p (GCC and clang; a no-op elsewhere).
inline void prefetch(const void* p) {
#if defined(__GNUC__) || defined(__clang__)
  __builtin_prefetch(p);
#else
  static_cast<void>(p);
#endif
}

/// Copies the l slices S_{e,a} of column block a of A into ws.slices, each as S (s x p) or, for
/// a wide slice, as S^H (p x s): the iteration wants a tall matrix. One pass over the block in
/// A's own memory order, so a strided gather per slice never walks A l times.
template <class T>
void extract_column_block(MatrixView<const T> A, const Shape& sh, Index a, SliceWorkspace<T>& ws) {
  const bool wide = sh.s < sh.p;
  ws.slices.resize(static_cast<std::size_t>(sh.l));
  for (auto& S : ws.slices) S.resize(wide ? sh.p : sh.s, wide ? sh.s : sh.p);
  const auto put = [&](Index t, Index e, Index d) {
    const T v = A(t * sh.l + e, a * sh.p + d);
    auto& S = ws.slices[static_cast<std::size_t>(e)];
    if (wide) S(d, t) = conj(v); else S(t, d) = v;
  };
  // Row i = t*l + e is walked as (t, e): no integer division per element.
  if (std::abs(A.row_stride) <= std::abs(A.col_stride)) {  // column-major-like: one column at a time
    // Column d of every slice, each a stride-l walk of A's column (in L1 by the second slice):
    // stores into one slice at a time (contiguous unless the slice is wide) run ~3x faster than
    // scattering into l slices.
    // The next column is prefetched meanwhile: strided first touches defeat the hardware
    // prefetcher, and reading A from memory is a tenth of the whole projection.
    const Index line = std::max<Index>(1, 64 / Index(sizeof(T) * std::max<Index>(1, std::abs(A.row_stride))));
    for (Index d = 0; d < sh.p; ++d) {
      if (d + 1 < sh.p)
        for (Index i = 0; i < A.rows; i += line) prefetch(&A(i, a * sh.p + d + 1));
      for (Index e = 0; e < sh.l; ++e)
        for (Index t = 0; t < sh.s; ++t) put(t, e, d);
    }
  } else {
    for (Index t = 0; t < sh.s; ++t)
      for (Index e = 0; e < sh.l; ++e)
        for (Index d = 0; d < sh.p; ++d) put(t, e, d);
  }
}

/// How one slice's truncated SVD was obtained.
struct SliceOutcome {
  double discarded_energy = 0;  ///< in units of 4^exponent (TruncatedSvd's scaling)
  int exponent = 0;
  bool full_svd = false;   ///< by BDCSVD
  bool fell_back = false;  ///< the iteration declined first
};

/// sqrt(x 2^e) without forming x 2^e, which can overflow or underflow where its root does not.
template <class R>
R sqrt_times_pow2(R x, int e) {
  const int half = e >= 0 ? e / 2 : -((1 - e) / 2);  // floor(e / 2)
  return std::ldexp(std::sqrt(std::ldexp(x, e - 2 * half)), half);
}

/// ||S||_F^2 as (energy, exponent) with ||S||_F^2 = energy 4^exponent, representable for any finite S.
template <class T>
SliceOutcome squared_norm(const DenseColMajor<T>& S) {
  SliceOutcome out;
  out.exponent = svd_exponent(max_component(S));
  if (out.exponent == 0) {
    out.discarded_energy = double(S.squaredNorm());
  } else {
    DenseColMajor<T> scaled = S;
    scale_by_pow2(scaled, -out.exponent);
    out.discarded_energy = double(scaled.squaredNorm());
  }
  return out;
}

/// The slices' discarded energies sum_i energy_i 4^(exponent_i), summed in slice order (the same
/// for every executor) relative to the largest exponent, and the square root of the sum: the
/// residual, representable whenever it does not exceed the largest finite double.
inline double residual_of(const std::vector<SliceOutcome>& outcomes) {
  int top = 0;
  bool any = false;
  for (const auto& o : outcomes)
    if (o.discarded_energy > 0) {
      top = any ? std::max(top, o.exponent) : o.exponent;
      any = true;
    }
  double total = 0;
  for (const auto& o : outcomes) total += std::ldexp(o.discarded_energy, 2 * (o.exponent - top));
  return std::ldexp(std::sqrt(total), top);
}

/// Projects slice (e, a), held in S as extracted above, into M's factors.
template <class T>
SliceOutcome project_slice(const DenseColMajor<T>& S, const Shape& sh, Index e, Index a, ProjectionMethod method,
                           SliceWorkspace<T>& ws, BlockDiagonal<T>& w1, BlockDiagonal<T>& w2) {
  const Index c = slice_channels(sh, e, a);
  SliceOutcome out;
  if (c == 0) return squared_norm(S);  // no channels: the slice is projected to zero
  const bool iterate = use_iteration(method, sh.s, sh.p, c);
  if (iterate) out.fell_back = !ws.lanczos.compute(S, c, 0x5DEECE66Dull * std::uint64_t(e * sh.k + a + 1), ws.svd);
  if (!iterate || out.fell_back) {
    out.full_svd = true;
    full_truncated_svd(S, c, ws.svd);
  }
  const bool wide = sh.s < sh.p;
  const auto& Us = wide ? ws.svd.V : ws.svd.U;  // left singular vectors of the slice (s x c')
  const auto& Vs = wide ? ws.svd.U : ws.svd.V;  // right singular vectors of the slice (p x c')
  const Index first = first_channel(sh, e, a);
  for (Index i = 0; i < ws.svd.sigma.size(); ++i) {
    const Index u = first + i * sh.l;  // the i-th channel of U(e,a)
    const real_t<T> root = sqrt_times_pow2(ws.svd.sigma[i], ws.svd.exponent);
    for (Index t = 0; t < sh.s; ++t) w2(e, t, u / sh.l) = root * Us(t, i);
    for (Index d = 0; d < sh.p; ++d) w1(a, u % sh.q, d) = root * conj(Vs(d, i));
  }
  out.discarded_energy = ws.svd.discarded_energy;
  out.exponent = ws.svd.exponent;
  return out;
}

}  // namespace detail

/// The Frobenius-optimal Monarch of the given shape for A (rows() = l*s, cols() = k*p): see the
/// top of this header. A is any directly addressable Eigen matrix (Matrix, Map, Block, ...), read
/// in place. Slices run in parallel on `exec` (serial by default); the result is the same for
/// every executor. Throws ShapeError for an invalid shape or an A of the wrong size, ValueError
/// if A has a non-finite entry.
template <class Derived, class Executor = SerialExecutor, std::enable_if_t<is_executor_v<Executor>, int> = 0>
ProjectionResult<typename Derived::Scalar> project(const Eigen::MatrixBase<Derived>& A, const Shape& shape,
                                                   const ProjectionOptions& options = {}, const Executor& exec = {}) {
  using T = typename Derived::Scalar;
  detail::static_assert_scalar<T>();
  shape.validate("project");
  detail::require_shape(A.rows() == shape.rows() && A.cols() == shape.cols(), "project: A is ", A.rows(), " x ",
                        A.cols(), ", but the shape ", shape, " needs l*s x k*p = ", shape.rows(), " x ",
                        shape.cols());
  const MatrixView<const T> a = view(A);

  ProjectionResult<T> result{Monarch<T>(shape), 0, {}, 0, 0};
  const Index nslices = shape.l * shape.k;
  std::vector<detail::SliceOutcome> outcomes(static_cast<std::size_t>(nslices));
  // Tasks are runs of column blocks a, a few per worker for balance. Slice (e, a) writes only
  // its own channels' columns of w2[e] and rows of w1[a], so tasks never touch the same memory.
  const Index chunks = std::min<Index>(shape.k, 4 * std::max<Index>(1, exec.concurrency()));
  // A's finiteness is checked on the extracted slices (in cache), not by a separate pass over A
  // (that pass cost 5% of the projection); a block with a NaN or infinity is never decomposed.
  std::vector<unsigned char> nonfinite(static_cast<std::size_t>(shape.k), 0);
  result.monarch.update([&](BlockDiagonal<T>& w1, BlockDiagonal<T>& w2) {
  exec.parallel_for(chunks, [&](Index chunk) {
    detail::SliceWorkspace<T> ws;
    for (Index blk = chunk * shape.k / chunks; blk < (chunk + 1) * shape.k / chunks; ++blk) {
      detail::extract_column_block(a, shape, blk, ws);
      if (!std::all_of(ws.slices.begin(), ws.slices.end(), [](const auto& S) { return S.allFinite(); })) {
        nonfinite[static_cast<std::size_t>(blk)] = 1;
        continue;
      }
      for (Index e = 0; e < shape.l; ++e)
        outcomes[static_cast<std::size_t>(e * shape.k + blk)] =
            detail::project_slice(ws.slices[static_cast<std::size_t>(e)], shape, e, blk, options.method, ws, w1, w2);
    }
  });
  });
  const auto bad = std::find(nonfinite.begin(), nonfinite.end(), 1);
  detail::require_value(bad == nonfinite.end(), "project: A has a non-finite entry (NaN or infinity) in columns [",
                        (bad - nonfinite.begin()) * shape.p, ", ", (bad - nonfinite.begin() + 1) * shape.p, ")");
  result.discarded_energy.reserve(outcomes.size());
  for (const auto& o : outcomes) {
    result.discarded_energy.push_back(std::ldexp(o.discarded_energy, 2 * o.exponent));
    result.full_svd_slices += o.full_svd;
    result.fallback_slices += o.fell_back;
  }
  result.residual = static_cast<real_t<T>>(detail::residual_of(outcomes));
  return result;
}

/// project(A, shape, exec) with default options.
template <class Derived, class Executor, std::enable_if_t<is_executor_v<Executor>, int> = 0>
ProjectionResult<typename Derived::Scalar> project(const Eigen::MatrixBase<Derived>& A, const Shape& shape,
                                                   const Executor& exec) {
  return project(A, shape, ProjectionOptions{}, exec);
}

/// Projection of a square n x n A with the authors' default block sizes
/// (Shape::projection_default(n), `blockdiag_butterfly_project`); ShapeError if A is not square.
template <class Derived>
ProjectionResult<typename Derived::Scalar> project(const Eigen::MatrixBase<Derived>& A) {
  detail::require_shape(A.rows() == A.cols() && A.rows() > 0,
                        "project: the default shape needs a square non-empty A, given ", A.rows(), " x ", A.cols(),
                        "; pass a Shape for rectangular matrices");
  return project(A, Shape::projection_default(A.rows()));
}

}  // namespace monarch
