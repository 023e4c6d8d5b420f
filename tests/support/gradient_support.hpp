// Test helpers for the backward pass: the dense chain rule through the channel form of docs/math.md §2.2
// (independent of the library's backward), the real-part loss used by the finite-difference
// checks, and the one finite-difference tolerance rule.
#pragma once

#include <functional>
#include <initializer_list>
#include <string>
#include <thread>

#include "test_support.hpp"

namespace monarch::test {

template <class T>
using WVector = Eigen::Matrix<wider_t<T>, Eigen::Dynamic, 1>;

/// A factor's values as a column vector (to compare with DenseGradients).
template <class T>
Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, 1>> flat(const BlockDiagonal<T>& w) {
  return {w.data(), w.size()};
}

/// Reference gradients, computed in the wider precision. w1/w2 are flattened like the factors:
/// w1[(a*q + c)*p + d], w2[(e*s + t)*r + f]; only the entries listed in w1_checked / w2_checked
/// were computed (all of them unless channels were sampled).
template <class T>
struct DenseGradients {
  Dense<wider_t<T>> input;  ///< empty unless requested
  WVector<T> w1, w2;
  std::vector<Index> w1_checked, w2_checked;
};

/// The dense chain rule for Y = X M^T with dY = dL/dY (PyTorch convention):
///   dX = dY conj(M),  dM = dY^T conj(X)  (dM[i,j] = sum_b dY[b,i] conj(X[b,j])),
/// and, from M[t*l+e, a*p+d] = sum_{u in U(e,a)} w2[e,t,u div l] w1[a,u mod q,d] (docs/math.md §2.2),
///   dw2[e,t,f] = sum_d dM[t*l+e, a*p+d] conj(w1[a,c,d]),
///   dw1[a,c,d] = sum_t dM[t*l+e, a*p+d] conj(w2[e,t,f])
/// for the one channel u = f*l + e = a*q + c that links w2[e,:,f] and w1[a,c,:]. Every w2 column
/// and w1 row belongs to exactly one channel, so `channel_stride` > 1 (only channels u with
/// u mod channel_stride = 0) checks a subset of entries exactly, at a fraction of the cost
/// (N*s*p operations, 10^8 for MonarchLinear(768, 3072)).
template <class T>
DenseGradients<T> dense_chain_rule(const BlockDiagonal<T>& w1, const BlockDiagonal<T>& w2,
                                   const Dense<wider_t<T>>& X, const Dense<wider_t<T>>& dY, bool with_input = true,
                                   Index channel_stride = 1) {
  using W = wider_t<T>;
  const Index k = w1.nblocks(), q = w1.block_rows(), p = w1.block_cols();
  const Index l = w2.nblocks(), s = w2.block_rows(), r = w2.block_cols();
  DenseGradients<T> g;
  if (with_input) g.input = dY * dense_from_channels(w1, w2).conjugate();
  // Row-major, so that the inner loops over d below walk contiguous memory.
  const Eigen::Matrix<W, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> dM = dY.transpose() * X.conjugate();
  const WVector<T> w1w = flat(w1).template cast<W>();
  g.w1 = WVector<T>::Zero(k * q * p);
  g.w2 = WVector<T>::Zero(l * s * r);
  for (Index u = 0; u < k * q; u += channel_stride) {
    const Index e = u % l, f = u / l, a = u / q, c = u % q;
    const auto w1_row = w1w.segment((a * q + c) * p, p);  // w1[a,c,:]
    auto dw1_row = g.w1.segment((a * q + c) * p, p);
    for (Index d = 0; d < p; ++d) g.w1_checked.push_back((a * q + c) * p + d);
    for (Index t = 0; t < s; ++t) {
      const auto dm = dM.row(t * l + e).segment(a * p, p).transpose();  // dM[t*l+e, a*p + :]
      g.w2[(e * s + t) * r + f] += w1_row.dot(dm);                       // sum_d conj(w1) dM
      g.w2_checked.push_back((e * s + t) * r + f);
      dw1_row += detail::conj(W(w2(e, t, f))) * dm;
    }
  }
  return g;
}

/// The entries `at` of a flat vector, in order.
template <class V>
V entries(const V& v, const std::vector<Index>& at) {
  V out(static_cast<Index>(at.size()));
  for (std::size_t i = 0; i < at.size(); ++i) out[static_cast<Index>(i)] = v[at[i]];
  return out;
}

/// A channel stride that keeps the reference under ~4*10^6 channel operations.
inline Index channel_stride_for(const Shape& sh) {
  const Index work = sh.inner() * sh.s * sh.p, budget = 4'000'000;
  return (work + budget - 1) / budget;
}

/// Same size and the same values bit for bit (Eigen's == needs equal sizes).
template <class A, class B>
bool identical(const Eigen::MatrixBase<A>& a, const Eigen::MatrixBase<B>& b) {
  return a.rows() == b.rows() && a.cols() == b.cols() && a == b;
}

/// Runs `call`, expects a ShapeError whose message contains every fragment.
template <class F>
void expect_shape_error(F&& call, std::initializer_list<const char*> fragments) {
  try {
    call();
    ADD_FAILURE() << "expected ShapeError";
  } catch (const ShapeError& e) {
    for (const char* f : fragments) EXPECT_NE(std::string(e.what()).find(f), std::string::npos) << e.what();
  }
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
/// central differences: dL/dRe + i dL/dIm. The coordinate's value is `saved`, `set(v)` writes it
/// (for a Monarch's factors, through update()), `loss()` evaluates.
template <class T, class Set>
T central_difference(const T saved, Set&& set, double h, const std::function<double()>& loss) {
  auto along = [&](T step) {
    set(saved + step);
    const double up = loss();
    set(saved - step);
    const double down = loss();
    set(saved);
    return (up - down) / (2.0 * h);
  };
  if constexpr (is_complex_v<T>) {
    return T(along(T(h, 0)), along(T(0, h)));
  } else {
    return T(along(T(h)));
  }
}

/// The same for a coordinate that is a plain variable.
template <class T>
T central_difference(T& coordinate, double h, const std::function<double()>& loss) {
  return central_difference(T(coordinate), [&](T v) { coordinate = v; }, h, loss);
}

/// A setter for entry i of a layer's or Monarch's first (which = 1) or second factor.
template <class Owner>
auto factor_entry_setter(Owner& owner, int which, Index i) {
  return [&owner, which, i](auto v) {
    owner.update([&](auto& w1, auto& w2) { (which == 1 ? w1 : w2).data()[i] = v; });
  };
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
