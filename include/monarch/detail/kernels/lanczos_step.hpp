// monarch::detail::kernels: one Lanczos step with full reorthogonalization on a small real
// symmetric matrix (detail/leading_svd.hpp), each vector held in registers: the product y = G q,
// then w from the three-term update to the last reorthogonalization pass. As separate Eigen
// operations (a gemv, two more for Q^T w and Q h, the update, the norms) a step at n = 64 cost
// about 1000 cycles, much of it call overhead and reloading w between passes; these take ~15%
// less. Both are bound by loads (G alone is 512 vector loads at n = 64 in double).
#pragma once

#include <cassert>
#include <cmath>
#include <type_traits>

#include "../../scalar.hpp"
#include "policy.hpp"
#include "simd.hpp"

namespace monarch::detail::kernels {

/// The step's coefficients: alpha_j = q_j^T G q_j, beta_j = ||w|| after reorthogonalization.
template <class T>
struct LanczosCoefficients {
  T alpha = 0, beta = 0;
};

/// The largest n the register step takes for scalar T on path P: w needs NV vectors and G q
/// twice as many accumulators, which must fit the ISA's registers with room to spare.
template <class T, KernelPath P>
constexpr int lanczos_step_vectors() {
  return VecFor<T, P>::registers >= 32 ? 8 : 4;
}
/// 0 (use the Eigen step) for complex scalars, and on the portable path, where these kernels
/// run slower than Eigen's (a generic x86-64 build has 16 SSE registers for 2 x 4 vectors).
template <class T, KernelPath P>
constexpr Index lanczos_step_max_size() {
  if (is_complex_v<T> || P == KernelPath::portable || P == KernelPath::reference) return 0;
  return Index(lanczos_step_vectors<T, P>()) * VecFor<T, P>::type::width;
}

namespace lanczos_detail {

/// A vector of n = (NV - 1) * width + tail values as NV registers; Full: tail == width. Every
/// loop bound is a compile-time constant, so the block lives in registers (with a runtime vector
/// count GCC kept it in memory and the step got slower than Eigen's).
template <class V, int NV, bool Full>
struct Block {
  using T = typename V::Scalar;
  V v[NV];
  int tail;

  explicit Block(int tail_lanes) : tail(tail_lanes) {
    MONARCH_UNROLL
    for (int k = 0; k < NV; ++k) v[k] = V::zero();
  }
  void load(const T* p) {
    MONARCH_UNROLL
    for (int k = 0; k < NV; ++k) v[k] = load_one(p, k);
  }
  V load_one(const T* p, int k) const {
    return Full || k + 1 < NV ? V::load(p + k * V::width) : V::load_partial(p + k * V::width, tail);
  }
  T dot(const T* p) const {
    V acc = V::zero();
    MONARCH_UNROLL
    for (int k = 0; k < NV; ++k) acc = V::fma(load_one(p, k), v[k], acc);
    return acc.sum();
  }
  T squared_norm() const {
    V acc = V::zero();
    MONARCH_UNROLL
    for (int k = 0; k < NV; ++k) acc = V::fma(v[k], v[k], acc);
    return acc.sum();
  }
  /// w += s * p
  void axpy(T s, const T* p) {
    const V sv = V::broadcast(&s);
    MONARCH_UNROLL
    for (int k = 0; k < NV; ++k) v[k] = V::fma(sv, load_one(p, k), v[k]);
  }
  void store(T* p) const {
    MONARCH_UNROLL
    for (int k = 0; k < NV; ++k) {
      if (Full || k + 1 < NV) v[k].store(p + k * V::width);
      else v[k].store_partial(p + k * V::width, tail);
    }
  }
};

/// w -= Q[:, :cols] Q[:, :cols]^T w (columns of length n, stride n); h receives Q^T w.
template <class B, class T>
void project_out(B& w, const T* Q, Index n, Index cols, T* h) {
  for (Index k = 0; k < cols; ++k) h[k] = w.dot(Q + k * n);
  for (Index k = 0; k < cols; ++k) w.axpy(-h[k], Q + k * n);
}

/// y = A x for A m x n, column-major (leading dimension m); y (length m) in registers. Two
/// accumulator sets (even and odd columns) halve the FMA dependency chains.
struct Gemv {
  template <class V, int NV, bool Full, class T>
  static void run(Index m, Index n, const T* A, const T* x, T* y) {
    const int tail = static_cast<int>(m - Index(NV - 1) * V::width);
    Block<V, NV, Full> acc(tail), odd(tail);
    Index d = 0;
    for (; d + 1 < n; d += 2) {
      const V x0 = V::broadcast(x + d), x1 = V::broadcast(x + d + 1);
      MONARCH_UNROLL
      for (int k = 0; k < NV; ++k) {
        acc.v[k] = V::fma(acc.load_one(A + d * m, k), x0, acc.v[k]);
        odd.v[k] = V::fma(acc.load_one(A + (d + 1) * m, k), x1, odd.v[k]);
      }
    }
    if (d < n) acc.axpy(x[d], A + d * m);
    MONARCH_UNROLL
    for (int k = 0; k < NV; ++k) acc.v[k] = V::add(acc.v[k], odd.v[k]);
    acc.store(y);
  }
};

/// The step after the product y = G q_j (see lanczos_step), with w (length n) in registers.
struct Step {
  template <class V, int NV, bool Full, class T>
  static LanczosCoefficients<T> run(Index n, const T* y, const T* Q, Index j, T beta_prev, T* w_out, T* h) {
    Block<V, NV, Full> w(static_cast<int>(n - Index(NV - 1) * V::width));
    w.load(y);
    const T* q = Q + j * n;
    LanczosCoefficients<T> out;
    out.alpha = w.dot(q);
    w.axpy(-out.alpha, q);
    if (j > 0) w.axpy(-beta_prev, q - n);
    const T before = std::sqrt(w.squared_norm());
    project_out(w, Q, n, j + 1, h);
    out.alpha += h[j];
    T after = std::sqrt(w.squared_norm());
    if (after < T(0.7071) * before) {  // "twice is enough"
      project_out(w, Q, n, j + 1, h);
      after = std::sqrt(w.squared_norm());
    }
    out.beta = after;
    w.store(w_out);
    return out;
  }
};

/// Runs Kernel::run<V, NV, Full> with the register count a length-`len` vector needs
/// (NV <= MaxNV) and Full when its last register is whole.
template <class Kernel, class V, int NV, int MaxNV, class... Args>
auto dispatch(Index len, Args... args) {
  assert(len >= 1 && len <= Index(MaxNV) * V::width && "register kernels: length outside the block");
  if constexpr (NV < MaxNV) {
    if (len > Index(NV) * V::width) return dispatch<Kernel, V, NV + 1, MaxNV>(len, args...);
  }
  return len % V::width == 0 ? Kernel::template run<V, NV, true>(len, args...)
                             : Kernel::template run<V, NV, false>(len, args...);
}

}  // namespace lanczos_detail

/// y = A x, A m x n column-major (leading dimension m), 1 <= m <= MaxNV * V::width.
template <class V, int MaxNV, class T>
void gemv_in_registers(Index m, Index n, const T* A, const T* x, T* y) {
  lanczos_detail::dispatch<lanczos_detail::Gemv, V, 1, MaxNV>(m, n, A, x, y);
}

/// One Lanczos step for a symmetric G (n x n) given y = G q_j, with the orthonormal basis Q
/// (columns q_0..q_j of length n, stride n):
///     w = y - alpha q_j - beta_prev q_{j-1},   alpha = q_j^T y,
/// then one full reorthogonalization pass against q_0..q_j (its j-th coefficient corrects alpha),
/// repeated once when the pass removed most of w (the DGKS criterion). Writes w to w_out and
/// returns (alpha, ||w||); h (j + 1 values) is scratch. Requires 1 <= n <= MaxNV * V::width.
/// The same arithmetic as the generic path in LeadingSvd, up to rounding.
template <class V, int MaxNV, class T>
LanczosCoefficients<T> lanczos_step(Index n, const T* y, const T* Q, Index j, T beta_prev, T* w_out, T* h) {
  static_assert(std::is_same_v<T, typename V::Scalar>, "lanczos_step: V must hold the scalar type T");
  return lanczos_detail::dispatch<lanczos_detail::Step, V, 1, MaxNV>(n, y, Q, j, beta_prev, w_out, h);
}

}  // namespace monarch::detail::kernels
