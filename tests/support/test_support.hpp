// Test helpers shared by every suite: the scalar list, the one tolerance rule, independent dense
// references built entry by entry from the definitions in docs/math.md, and the shape families.
#pragma once

#include <gtest/gtest.h>

#include <Eigen/Core>
#include <complex>
#include <cstdint>
#include <string>
#include <vector>

#include <monarch/monarch.hpp>

namespace monarch::test {

using Scalars = ::testing::Types<float, double, std::complex<float>, std::complex<double>>;

/// Readable names for typed suites; pass it as the third argument of TYPED_TEST_SUITE (clang's
/// -Wpedantic rejects the two-argument form of gtest 1.12's variadic macro).
struct ScalarNames {
  template <class T>
  static std::string GetName(int) {
    if constexpr (std::is_same_v<T, float>) return "float";
    if constexpr (std::is_same_v<T, double>) return "double";
    if constexpr (std::is_same_v<T, std::complex<float>>) return "cfloat";
    if constexpr (std::is_same_v<T, std::complex<double>>) return "cdouble";
    return "other";
  }
};

/// Reference arithmetic one precision up: float -> double, double -> long double.
template <class T>
struct Wider;
template <>
struct Wider<float> {
  using type = double;
};
template <>
struct Wider<double> {
  using type = long double;
};
template <class R>
struct Wider<std::complex<R>> {
  using type = std::complex<typename Wider<R>::type>;
};
template <class T>
using wider_t = typename Wider<T>::type;

template <class T>
using Dense = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;
template <class T>
using RowBatch = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// THE tolerance rule. A result computed in T through sums of `accumulation_length` terms must
/// match its reference to   ||got - want||_F <= eps(T) * max(16, accumulation_length) * ||want||_F.
/// Random rounding grows like sqrt(length); the linear allowance leaves room for unlucky
/// cancellation while a wrong index or a missing conjugate still misses by orders of magnitude.
template <class T>
double tolerance(Index accumulation_length) {
  const double eps = static_cast<double>(Eigen::NumTraits<real_t<T>>::epsilon());
  return eps * static_cast<double>(std::max<Index>(16, accumulation_length));
}

/// Relative Frobenius distance ||got - want|| / ||want||, computed in the wider precision.
template <class A, class B>
double relative_error(const Eigen::MatrixBase<A>& got, const Eigen::MatrixBase<B>& want) {
  using W = typename B::Scalar;
  const auto diff = (got.template cast<W>() - want).eval();
  const double den = static_cast<double>(want.norm());
  const double num = static_cast<double>(diff.norm());
  return den == 0.0 ? num : num / den;
}

#define MONARCH_EXPECT_CLOSE(T, got, want, accumulation_length)                                      \
  EXPECT_LE(::monarch::test::relative_error((got), (want)), ::monarch::test::tolerance<T>(accumulation_length)) \
      << "relative Frobenius error above eps * max(16, " << (accumulation_length) << ")"

/// A batch of standard-normal entries, reproducible from the seed.
template <class T, class Matrix = RowBatch<T>>
Matrix random_matrix(Index rows, Index cols, std::uint64_t seed) {
  detail::Rng rng(seed);
  Matrix m(rows, cols);
  for (Index i = 0; i < rows; ++i)
    for (Index j = 0; j < cols; ++j) m(i, j) = rng.normal_scalar<T>();
  return m;
}

/// Dense M built entry by entry from the channel expansion of docs/math.md §2.2 (independent of the
/// library's multiply): channel u sits at (e,f) = (u mod l, u div l) on the w2 side and at
/// (a,c) = (u div q, u mod q) on the w1 side and adds w2[e,t,f] w1[a,c,d] to M[t*l+e, a*p+d].
template <class T>
Dense<wider_t<T>> dense_from_channels(const BlockDiagonal<T>& w1, const BlockDiagonal<T>& w2) {
  using W = wider_t<T>;
  const Index k = w1.nblocks(), q = w1.block_rows(), p = w1.block_cols();
  const Index l = w2.nblocks(), s = w2.block_rows();
  // Row-major while accumulating: the inner loop over d then walks contiguous memory.
  Eigen::Matrix<W, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> M = Dense<W>::Zero(l * s, k * p);
  for (Index u = 0; u < k * q; ++u) {
    const Index e = u % l, f = u / l, a = u / q, c = u % q;
    for (Index t = 0; t < s; ++t)
      for (Index d = 0; d < p; ++d) M(t * l + e, a * p + d) += W(w2(e, t, f)) * W(w1(a, c, d));
  }
  return M;
}

/// Dense Pi(a,b) from its definition (docs/math.md §1.1): Pi[j*a + i, i*b + j] = 1.
template <class W>
Dense<W> dense_transpose_permutation(Index a, Index b) {
  Dense<W> P = Dense<W>::Zero(a * b, a * b);
  for (Index i = 0; i < a; ++i)
    for (Index j = 0; j < b; ++j) P(j * a + i, i * b + j) = W(1);
  return P;
}

/// Dense BD(w) from its definition (docs/math.md §1.2): BD[t*rho + i, t*gamma + j] = w[t,i,j].
template <class T>
Dense<wider_t<T>> dense_block_diagonal(const BlockDiagonal<T>& w) {
  using W = wider_t<T>;
  const Index N = w.nblocks(), rho = w.block_rows(), gamma = w.block_cols();
  Dense<W> D = Dense<W>::Zero(N * rho, N * gamma);
  for (Index t = 0; t < N; ++t)
    for (Index i = 0; i < rho; ++i)
      for (Index j = 0; j < gamma; ++j) D(t * rho + i, t * gamma + j) = W(w(t, i, j));
  return D;
}

/// Dense M as the explicit product Pi(l,s) BD(w2) Pi(r,l) BD(w1) of docs/math.md §2.1.
template <class T>
Dense<wider_t<T>> dense_from_product(const BlockDiagonal<T>& w1, const BlockDiagonal<T>& w2) {
  using W = wider_t<T>;
  const Index l = w2.nblocks(), s = w2.block_rows(), r = w2.block_cols();
  return dense_transpose_permutation<W>(l, s) * dense_block_diagonal(w2) * dense_transpose_permutation<W>(r, l) *
         dense_block_diagonal(w1);
}

/// A named shape for parameterized suites.
struct NamedShape {
  std::string name;
  Shape shape;
};

/// The shape families of the core issue: paper square (m = 4, 8, 32), MonarchLinear 768->768 and
/// 768->3072 with nblocks 4, rectangular, and two irregular (l does not divide q) shapes.
inline std::vector<NamedShape> shape_families() {
  return {
      {"square_m4", Shape::square(4)},
      {"square_m8", Shape::square(8)},
      {"square_m32", Shape::square(32)},
      {"linear_768_768_nb4", Shape::monarch_linear(768, 768, 4)},
      {"linear_768_3072_nb4", Shape::monarch_linear(768, 3072, 4)},
      {"rect_8_192_96__24_16_64", Shape{8, 192, 96, 24, 16, 64}},
      {"irregular_2_4_3__8_5_1", Shape{2, 4, 3, 8, 5, 1}},
      {"irregular_3_5_2__5_2_3", Shape{3, 5, 2, 5, 2, 3}},
  };
}

/// The longest dot product a Monarch multiply of this shape accumulates (stage 1 plus stage 2).
inline Index accumulation_length(const Shape& sh) { return sh.p + sh.r; }

/// Every kernel path compiled into this binary for T.
template <class T>
std::vector<KernelPath> compiled_paths() {
  std::vector<KernelPath> v{KernelPath::reference, KernelPath::portable};
  if (detail::kernels::path_available<T>(KernelPath::avx2)) v.push_back(KernelPath::avx2);
  if (detail::kernels::path_available<T>(KernelPath::avx512)) v.push_back(KernelPath::avx512);
  return v;
}

}  // namespace monarch::test
