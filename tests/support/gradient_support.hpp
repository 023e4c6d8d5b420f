// Test helpers for the backward pass: the dense chain rule through the channel form of spec §a.3
// (independent of the library's backward), the real-part loss used by the finite-difference
// checks, and the one finite-difference tolerance rule.
#pragma once

#include <functional>
#include <thread>

#include "test_support.hpp"

namespace monarch::test {

template <class T>
using WVector = Eigen::Matrix<wider_t<T>, Eigen::Dynamic, 1>;

/// Reference gradients, computed in the wider precision. w1/w2 are flattened like the factors:
/// w1[(a*q + c)*p + d], w2[(e*s + t)*r + f].
template <class T>
struct DenseGradients {
  Dense<wider_t<T>> input;
  WVector<T> w1, w2;
};

/// The dense chain rule for Y = X M^T with dY = dL/dY (PyTorch convention):
///   dX = dY conj(M),  dM = dY^T conj(X)  (dM[i,j] = sum_b dY[b,i] conj(X[b,j])),
/// and, from M[t*l+e, a*p+d] = sum_{u in U(e,a)} w2[e,t,u div l] w1[a,u mod q,d] (spec §a.3),
///   dw2[e,t,f] = sum_d dM[t*l+e, a*p+d] conj(w1[a,c,d]),
///   dw1[a,c,d] = sum_t dM[t*l+e, a*p+d] conj(w2[e,t,f])
/// for the one channel u = f*l + e = a*q + c that links w2[e,:,f] and w1[a,c,:].
template <class T>
DenseGradients<T> dense_chain_rule(const BlockDiagonal<T>& w1, const BlockDiagonal<T>& w2,
                                   const Dense<wider_t<T>>& X, const Dense<wider_t<T>>& dY) {
  using W = wider_t<T>;
  const Index k = w1.nblocks(), q = w1.block_rows(), p = w1.block_cols();
  const Index l = w2.nblocks(), s = w2.block_rows(), r = w2.block_cols();
  DenseGradients<T> g;
  g.input = dY * dense_from_channels(w1, w2).conjugate();
  const Dense<W> dM = dY.transpose() * X.conjugate();
  g.w1 = WVector<T>::Zero(k * q * p);
  g.w2 = WVector<T>::Zero(l * s * r);
  for (Index u = 0; u < k * q; ++u) {
    const Index e = u % l, f = u / l, a = u / q, c = u % q;
    for (Index t = 0; t < s; ++t)
      for (Index d = 0; d < p; ++d) {
        const W dm = dM(t * l + e, a * p + d);
        g.w2[(e * s + t) * r + f] += dm * detail::conj(W(w1(a, c, d)));
        g.w1[(a * q + c) * p + d] += dm * detail::conj(W(w2(e, t, f)));
      }
  }
  return g;
}

/// Same size and the same values bit for bit (Eigen's == needs equal sizes).
template <class A, class B>
bool identical(const Eigen::MatrixBase<A>& a, const Eigen::MatrixBase<B>& b) {
  return a.rows() == b.rows() && a.cols() == b.cols() && a == b;
}

/// A factor's values as a column vector (to compare with DenseGradients).
template <class T>
Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, 1>> flat(const BlockDiagonal<T>& w) {
  return {w.data(), w.size()};
}

/// L = Re sum conj(G) .* Y: a real loss whose gradient dL/dY is G in PyTorch's convention.
template <class A, class B>
double real_loss(const Eigen::MatrixBase<A>& G, const Eigen::MatrixBase<B>& Y) {
  return static_cast<double>(std::real((G.conjugate().cwiseProduct(Y)).sum()));
}

/// sum |G| .* |Y|: bounds the magnitude of every partial sum of real_loss.
template <class A, class B>
double loss_scale(const Eigen::MatrixBase<A>& G, const Eigen::MatrixBase<B>& Y) {
  return static_cast<double>((G.cwiseAbs().cwiseProduct(Y.cwiseAbs())).sum());
}

/// THE finite-difference rule. Every loss in these tests is exactly linear in each single
/// coordinate (Y is linear in x, in w1, in w2 and in the bias separately), so the central
/// difference (L(v+h) - L(v-h)) / 2h has no truncation error; what remains is the rounding of the
/// two loss evaluations, at most a few eps * loss_scale each, divided by 2h.
inline double finite_difference_tolerance(double scale, double h) {
  return 64.0 * std::numeric_limits<double>::epsilon() * scale / h;
}

/// The PyTorch-convention gradient of a real function of one (real or complex) coordinate by
/// central differences: dL/dRe + i dL/dIm. `set(v)` writes the coordinate, `loss()` evaluates.
template <class T>
T central_difference(T& coordinate, double h, const std::function<double()>& loss) {
  const T saved = coordinate;
  auto along = [&](T step) {
    coordinate = saved + step;
    const double up = loss();
    coordinate = saved - step;
    const double down = loss();
    coordinate = saved;
    return (up - down) / (2.0 * h);
  };
  if constexpr (is_complex_v<T>) {
    return T(along(T(h, 0)), along(T(0, h)));
  } else {
    return T(along(T(h)));
  }
}

/// An executor over `threads` std::threads started per call, for bitwise-determinism tests: task i
/// runs on thread i mod threads.
inline PoolExecutor thread_executor(int threads) {
  return PoolExecutor(threads, [threads](Index n, const PoolExecutor::Task& task) {
    std::vector<std::thread> pool;
    for (int w = 1; w < threads; ++w)
      pool.emplace_back([&task, n, w, threads] {
        for (Index i = w; i < n; i += threads) task(i);
      });
    for (Index i = 0; i < n; i += threads) task(i);
    for (auto& th : pool) th.join();
  });
}

}  // namespace monarch::test
