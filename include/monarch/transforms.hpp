// monarch: exact Monarch constructions of classical transforms (docs/math.md §6):
//   * the DFT of size n = n1*n2 as an input permutation followed by one Monarch (docs/math.md §6.2),
//   * Kronecker products A (x) B and the Sylvester-Hadamard matrix H_{2^t} (§6.1),
//   * circulant (convolution) matrices as MM* factors (§6.3).
// Twiddles are computed in long double from the exponent reduced mod n, so every factor entry is
// correctly rounded to T regardless of n.
#pragma once

#include <Eigen/Core>
#include <cmath>
#include <complex>
#include <vector>

#include "block_diagonal.hpp"
#include "errors.hpp"
#include "mm_star.hpp"
#include "monarch_matrix.hpp"
#include "permutation.hpp"
#include "scalar.hpp"
#include "shape.hpp"

namespace monarch {

/// Sign of the DFT exponent: forward uses w_N = exp(-2 pi i / N), inverse exp(+2 pi i / N).
enum class Direction { forward, inverse };

/// numpy's normalization modes: backward (forward unscaled, inverse 1/n: the default), ortho
/// (both 1/sqrt(n)), forward (forward 1/n, inverse unscaled).
enum class Norm { backward, ortho, forward };

namespace detail {

/// exp(sign * 2 pi i * e / n) with e reduced mod n first (sign = -1 forward, +1 inverse).
template <class R>
std::complex<R> root_of_unity(Index e, Index n, int sign) {
  e %= n;
  if (e < 0) e += n;
  const long double angle = static_cast<long double>(sign) * 6.283185307179586476925286766559L *
                            static_cast<long double>(e) / static_cast<long double>(n);
  return {static_cast<R>(std::cos(angle)), static_cast<R>(std::sin(angle))};
}

/// The unnormalized Sylvester-Hadamard matrix H[i,j] = (-1)^popcount(i & j) of size 2^t.
template <class T>
Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic> sylvester_hadamard(Index size) {
  Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic> H(size, size);
  for (Index i = 0; i < size; ++i)
    for (Index j = 0; j < size; ++j) {
      unsigned long long bits = static_cast<unsigned long long>(i & j), parity = 0;
      for (; bits != 0; bits &= bits - 1) parity ^= 1u;
      H(i, j) = parity ? T(-1) : T(1);
    }
  return H;
}

}  // namespace detail

/// The DFT of size n = n1*n2 as (P, M) with DFT x = M (P x) (docs/math.md §6.2): the 4-step split.
template <class T>
struct MonarchDft {
  using Complex = std::complex<T>;
  using Vector = Eigen::Matrix<Complex, Eigen::Dynamic, 1>;
  using BatchMatrix = typename Monarch<Complex>::BatchMatrix;
  using DenseMatrix = Eigen::Matrix<Complex, Eigen::Dynamic, Eigen::Dynamic>;

  Permutation perm;         ///< (P x)[a*n2 + d] = x[a + n1*d]
  Monarch<Complex> monarch; ///< w1 (n1, n2, n2), w2 (n2, n1, n1)

  Index size() const { return perm.size(); }

  /// The transform of one vector, M (P x).
  template <class DX>
  Vector operator*(const Eigen::MatrixBase<DX>& x) const {
    return monarch * perm.apply(x);
  }
  /// The transform of every row of X (PyTorch layout).
  template <class DX>
  BatchMatrix apply(const Eigen::MatrixBase<DX>& X) const {
    return monarch.apply(perm.permute_cols(X));
  }
  /// The dense n x n matrix M P.
  DenseMatrix to_dense() const {
    detail::checked_product("MonarchDft::to_dense", size(), size());
    const DenseMatrix Md = monarch.to_dense();
    DenseMatrix D(size(), size());
    for (Index i = 0; i < size(); ++i) D.col(perm[i]) = Md.col(i);  // (M P)[:, perm[i]] = M[:, i]
    return D;
  }
};

/// The DFT of size n = n1*n2 (forward: X[k] = sum_j x[j] exp(-2 pi i j k / n), inverse with +,
/// scaled per `norm`) as a permutation and a Monarch of Shape (n1, n2, n2 | n2, n1, n1):
///   perm[a*n2 + d] = a + n1*d,  w1[a,c,d] = w_n^{a c} w_{n2}^{c d},  w2[e,t,f] = w_{n1}^{t f} * scale.
/// For n = m*m and n1 = n2 = m this is DFT_n = P L P R P (the paper's DFT . P in M). T: float or double.
template <class T>
MonarchDft<T> dft_as_monarch(Index n1, Index n2, Direction direction = Direction::forward, Norm norm = Norm::backward) {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "dft_as_monarch<T>: T is float or double");
  detail::require_shape(n1 > 0 && n2 > 0, "dft_as_monarch: n1 and n2 must be positive, given n1 = ", n1, ", n2 = ", n2);
  using C = std::complex<T>;
  // Before any allocation; the shape bounds every index product below (c*d < n2*n2, a*c < n).
  const Shape shape{n1, n2, n2, n2, n1, n1};
  shape.validate("dft_as_monarch");
  const Index n = shape.inner();
  const int sign = direction == Direction::forward ? -1 : 1;
  const bool scaled = (norm == Norm::forward) == (direction == Direction::forward);
  const long double scale = norm == Norm::ortho ? 1.0L / std::sqrt(static_cast<long double>(n))
                            : (scaled ? 1.0L / static_cast<long double>(n) : 1.0L);

  std::vector<Index> idx(static_cast<std::size_t>(n));
  for (Index a = 0; a < n1; ++a)
    for (Index d = 0; d < n2; ++d) idx[static_cast<std::size_t>(a * n2 + d)] = a + n1 * d;

  BlockDiagonal<C> w1(n1, n2, n2), w2(n2, n1, n1);
  for (Index a = 0; a < n1; ++a)
    for (Index c = 0; c < n2; ++c)
      for (Index d = 0; d < n2; ++d)  // w_n^{ac} w_{n2}^{cd} = w_n^{ac + n1 (cd mod n2)}
        w1(a, c, d) = detail::root_of_unity<T>((a * c + n1 * ((c * d) % n2)) % n, n, sign);
  for (Index e = 0; e < n2; ++e)
    for (Index t = 0; t < n1; ++t)
      for (Index f = 0; f < n1; ++f) {
        const std::complex<long double> w = detail::root_of_unity<long double>(t * f, n1, sign);
        w2(e, t, f) = C(static_cast<T>(w.real() * scale), static_cast<T>(w.imag() * scale));
      }
  return MonarchDft<T>{Permutation(std::move(idx)), Monarch<C>(std::move(w1), std::move(w2))};
}

/// A (x) B as a Monarch (docs/math.md §6.1): A is s x k, B is q x p; w1 = k copies of B, w2 = q copies of
/// A, Shape (k, q, p | q, s, k), so M[t*q + e, a*p + d] = A[t,a] B[e,d].
template <class DA, class DB>
Monarch<typename DA::Scalar> kronecker_as_monarch(const Eigen::MatrixBase<DA>& A, const Eigen::MatrixBase<DB>& B) {
  using T = typename DA::Scalar;
  static_assert(std::is_same_v<T, typename DB::Scalar>, "kronecker_as_monarch: A and B must have the same scalar");
  detail::require_shape(A.size() > 0 && B.size() > 0, "kronecker_as_monarch: A and B must be non-empty, given A ",
                        A.rows(), " x ", A.cols(), " and B ", B.rows(), " x ", B.cols());
  Shape{A.cols(), B.rows(), B.cols(), B.rows(), A.rows(), A.cols()}.validate("kronecker_as_monarch");
  BlockDiagonal<T> w1(A.cols(), B.rows(), B.cols()), w2(B.rows(), A.rows(), A.cols());
  for (Index a = 0; a < w1.nblocks(); ++a) w1.block(a) = B;
  for (Index e = 0; e < w2.nblocks(); ++e) w2.block(e) = A;
  return Monarch<T>(std::move(w1), std::move(w2));
}

/// The unnormalized Sylvester-Hadamard matrix H_n[i,j] = (-1)^popcount(i & j), n = 2^t, as the
/// Monarch H_{2^ceil(t/2)} (x) H_{2^floor(t/2)} (the authors' split for odd t, docs/math.md §6.1).
template <class T>
Monarch<T> hadamard_as_monarch(Index n) {
  detail::static_assert_scalar<T>();
  detail::require_shape(n > 0 && (n & (n - 1)) == 0, "hadamard_as_monarch: n must be a power of two, given ", n);
  Index t = 0;
  while ((Index(1) << t) < n) ++t;
  const Index big = Index(1) << ((t + 1) / 2), small = Index(1) << (t / 2);
  // Checked before the dense Hadamard factors are built.
  Shape{big, small, small, small, big, big}.validate("hadamard_as_monarch");
  return kronecker_as_monarch(detail::sylvester_hadamard<T>(big), detail::sylvester_hadamard<T>(small));
}

/// The circulant C[i,j] = h[(i - j) mod n] (C x = h circularly convolved with x), n = m*m, as an
/// exact MM* product (docs/math.md §6.3): with the DFT factors (P, w1, w2) of n1 = n2 = m and lambda = DFT h,
///   L1 blocks w1[c]^H / n,   R_e = w2[e]^H diag(lambda[t*m + e])_t w2[e],   L2 blocks w1[c].
/// The factors are complex even for real h. Throws ShapeError unless n is a perfect square and
/// ValueError for non-finite h.
template <class Derived>
MMStar<std::complex<real_t<typename Derived::Scalar>>> circulant_as_mm_star(const Eigen::MatrixBase<Derived>& h) {
  using R = real_t<typename Derived::Scalar>;
  using C = std::complex<R>;
  static_assert(Derived::IsVectorAtCompileTime, "circulant_as_mm_star: h is a vector");
  detail::static_assert_scalar<typename Derived::Scalar>();
  const Index n = h.size();
  Index m = static_cast<Index>(std::llround(std::sqrt(static_cast<double>(n))));
  detail::require_shape(n > 0 && m * m == n, "circulant_as_mm_star: the length of h must be a perfect square m*m, given ", n);
  detail::require_value(h.allFinite(), "circulant_as_mm_star: h has non-finite entries");

  const MonarchDft<R> dft = dft_as_monarch<R>(m, m);
  const Eigen::Matrix<C, Eigen::Dynamic, 1> hc = h.template cast<C>();
  const Eigen::Matrix<C, Eigen::Dynamic, 1> lambda = dft * hc;
  const auto& w1 = dft.monarch.w1();
  const auto& w2 = dft.monarch.w2();
  BlockDiagonal<C> l1 = w1.adjoint(), r(m, m, m);
  for (Index i = 0; i < l1.size(); ++i) l1.data()[i] /= static_cast<R>(n);
  for (Index e = 0; e < m; ++e) {
    Eigen::Matrix<C, Eigen::Dynamic, 1> lam(m);
    for (Index t = 0; t < m; ++t) lam[t] = lambda[t * m + e];
    r.block(e) = w2.block(e).adjoint() * lam.asDiagonal() * w2.block(e);
  }
  return mm_star_from_factors(std::move(l1), std::move(r), BlockDiagonal<C>(w1));
}

}  // namespace monarch
