// Exact constructions of docs/math.md §6 against naive references written from the definitions: the DFT
// sum in long double, the Sylvester recursion and popcount formula for Hadamard, the entry-wise
// Kronecker product and the circulant C[i,j] = h[(i - j) mod n].
#include <cmath>
#include <limits>
#include <tuple>

#include <monarch/transforms.hpp>

#include "support/test_support.hpp"

namespace monarch::test {
namespace {

using LC = std::complex<long double>;

/// DFT matrix from its definition: F[k,j] = scale * exp(sign 2 pi i j k / n), in long double (the
/// n roots are tabulated once; (j*k) mod n picks the entry).
Dense<LC> naive_dft(Index n, int sign, long double scale) {
  const long double pi = 3.141592653589793238462643383279502884L;
  std::vector<LC> root(static_cast<std::size_t>(n));
  for (Index e = 0; e < n; ++e) {
    const long double angle = sign * 2 * pi * static_cast<long double>(e) / static_cast<long double>(n);
    root[static_cast<std::size_t>(e)] = scale * LC(std::cos(angle), std::sin(angle));
  }
  Dense<LC> F(n, n);
  for (Index k = 0; k < n; ++k)
    for (Index j = 0; j < n; ++j) F(k, j) = root[static_cast<std::size_t>((j * k) % n)];
  return F;
}

/// The tolerance for exact constructions in double: 1e-12 relative.
constexpr double kExactTol = 1e-12;

const std::vector<std::tuple<Index, Index>> kDftSizes = {{4, 4}, {8, 8}, {32, 32}, {7, 5}, {12, 14}, {16, 32}};

TEST(Dft, ForwardInverseAndNormsMatchTheDefinition) {
  for (const auto& [n1, n2] : kDftSizes) {
    const Index n = n1 * n2;
    const long double ln = static_cast<long double>(n);
    const struct {
      Direction dir;
      Norm norm;
      int sign;
      long double scale;
    } modes[] = {{Direction::forward, Norm::backward, -1, 1.0L},
                 {Direction::forward, Norm::ortho, -1, 1.0L / std::sqrt(ln)},
                 {Direction::forward, Norm::forward, -1, 1.0L / ln},
                 {Direction::inverse, Norm::backward, +1, 1.0L / ln},
                 {Direction::inverse, Norm::ortho, +1, 1.0L / std::sqrt(ln)},
                 {Direction::inverse, Norm::forward, +1, 1.0L}};
    for (const auto& mode : modes) {
      SCOPED_TRACE(testing::Message() << n1 << " x " << n2 << ", sign " << mode.sign << ", norm "
                                      << static_cast<int>(mode.norm));
      const auto dft = dft_as_monarch<double>(n1, n2, mode.dir, mode.norm);
      const Dense<LC> want = naive_dft(n, mode.sign, mode.scale);
      EXPECT_LE(relative_error(dft.to_dense(), want), kExactTol);
      // One vector and a batch through the fast path.
      const Eigen::VectorXcd x = random_matrix<std::complex<double>, Eigen::VectorXcd>(n, 1, 3);
      EXPECT_LE(relative_error(dft * x, (want * x.cast<LC>()).eval()), kExactTol);
      const RowBatch<std::complex<double>> X = random_matrix<std::complex<double>>(3, n, 4);
      EXPECT_LE(relative_error(dft.apply(X), (X.cast<LC>() * want.transpose()).eval()), kExactTol);
    }
  }
}

TEST(Dft, InverseUndoesForward) {
  const auto fwd = dft_as_monarch<double>(12, 14);
  const auto inv = dft_as_monarch<double>(12, 14, Direction::inverse);
  const Eigen::VectorXcd x = random_matrix<std::complex<double>, Eigen::VectorXcd>(168, 1, 5);
  MONARCH_EXPECT_CLOSE(double, inv * (fwd * x).eval(), x, 4 * 26);
}

TEST(Dft, SquareCaseUsesThePaperPermutation) {
  // n = m*m: perm is P = Pi(m,m), so DFT_n = P L P R P (docs/math.md §6.2).
  const auto dft = dft_as_monarch<double>(8, 8);
  EXPECT_EQ(dft.perm, Permutation::transpose(8, 8));
  EXPECT_EQ(dft.monarch.shape(), Shape::square(8));
}

TEST(Dft, FloatTwiddlesAreAccurate) {
  const auto dft = dft_as_monarch<float>(32, 32);
  MONARCH_EXPECT_CLOSE(std::complex<float>, dft.to_dense(), naive_dft(1024, -1, 1.0L).cast<std::complex<double>>().eval(),
                       64);
}

/// Sylvester recursion H_1 = [1], H_{2k} = [[H_k, H_k], [H_k, -H_k]].
Dense<long double> sylvester(Index n) {
  Dense<long double> H = Dense<long double>::Ones(1, 1);
  while (H.rows() < n) {
    const Index k = H.rows();
    Dense<long double> H2(2 * k, 2 * k);
    H2 << H, H, H, -H;
    H = H2;
  }
  return H;
}

TEST(Hadamard, MatchesSylvesterRecursionAndPopcountFormula) {
  for (Index t = 0; t <= 10; ++t) {
    const Index n = Index(1) << t;
    SCOPED_TRACE(n);
    const Monarch<double> H = hadamard_as_monarch<double>(n);
    const Dense<double> got = H.to_dense();
    EXPECT_EQ(relative_error(got, sylvester(n)), 0.0);  // +-1 entries: exact
    for (Index i = 0; i < n; ++i)
      for (Index j = 0; j < n; ++j) {
        int pop = 0;
        for (Index v = i & j; v; v >>= 1) pop += int(v & 1);
        ASSERT_EQ(got(i, j), pop % 2 ? -1.0 : 1.0) << i << ", " << j;
      }
    // The authors' split: A = H_{2^ceil(t/2)} on the w2 side, B = H_{2^floor(t/2)} on the w1 side.
    EXPECT_EQ(H.shape().s, Index(1) << ((t + 1) / 2));
    EXPECT_EQ(H.shape().q, Index(1) << (t / 2));
  }
  const Monarch<std::complex<float>> Hc = hadamard_as_monarch<std::complex<float>>(32);
  EXPECT_EQ(relative_error(Hc.to_dense(), sylvester(32).cast<std::complex<double>>().eval()), 0.0);
}

template <class T>
class KroneckerTest : public ::testing::Test {};
TYPED_TEST_SUITE(KroneckerTest, Scalars, );

TYPED_TEST(KroneckerTest, MatchesEntrywiseDefinition) {
  using T = TypeParam;
  // (s x k) (x) (q x p) for square, rectangular and the DFT sizes.
  const std::vector<std::tuple<Index, Index, Index, Index>> shapes = {
      {4, 4, 4, 4}, {3, 5, 2, 7}, {7, 5, 12, 14}, {1, 6, 6, 1}, {16, 32, 8, 8}};
  std::uint64_t seed = 50;
  for (const auto& [s, k, q, p] : shapes) {
    SCOPED_TRACE(testing::Message() << s << "x" << k << " (x) " << q << "x" << p);
    const Dense<T> A = random_matrix<T, Dense<T>>(s, k, ++seed), B = random_matrix<T, Dense<T>>(q, p, ++seed);
    const Monarch<T> M = kronecker_as_monarch(A, B);
    Dense<wider_t<T>> want(s * q, k * p);
    for (Index t = 0; t < s; ++t)
      for (Index a = 0; a < k; ++a)
        for (Index e = 0; e < q; ++e)
          for (Index d = 0; d < p; ++d)
            want(t * q + e, a * p + d) = wider_t<T>(A(t, a)) * wider_t<T>(B(e, d));
    MONARCH_EXPECT_CLOSE(T, M.to_dense(), want, 1);
  }
}

/// C[i,j] = h[(i - j) mod n], from the definition.
template <class W, class V>
Dense<W> circulant(const V& h) {
  const Index n = h.size();
  Dense<W> C(n, n);
  for (Index i = 0; i < n; ++i)
    for (Index j = 0; j < n; ++j) C(i, j) = W(h[((i - j) % n + n) % n]);
  return C;
}

TEST(Circulant, ComplexAndRealKernelsMatchTheDefinition) {
  for (Index m : {1, 2, 4, 7, 8, 16, 32}) {
    const Index n = m * m;
    SCOPED_TRACE(n);
    const Eigen::VectorXcd hc = random_matrix<std::complex<double>, Eigen::VectorXcd>(n, 1, 60 + std::uint64_t(m));
    const auto fc = circulant_as_mm_star(hc);
    EXPECT_EQ(fc.m1.shape(), mm_star_shape(n, m));
    EXPECT_LE(relative_error(fc.to_dense(), circulant<LC>(hc)), kExactTol);
    const Eigen::VectorXd hr = random_matrix<double, Eigen::VectorXd>(n, 1, 90 + std::uint64_t(m));
    const auto fr = circulant_as_mm_star(hr);
    EXPECT_LE(relative_error(fr.to_dense(), circulant<LC>(hr)), kExactTol);
    // Applying it is circular convolution: (C x)[i] = sum_j h[(i - j) mod n] x[j].
    const Eigen::VectorXcd x = random_matrix<std::complex<double>, Eigen::VectorXcd>(n, 1, 7);
    const RowBatch<std::complex<double>> y = fc.apply(x.transpose());
    EXPECT_LE(relative_error(y.transpose(), (circulant<LC>(hc) * x.cast<LC>()).eval()), kExactTol);
  }
}

TEST(Circulant, FloatKernel) {
  const Eigen::VectorXf h = random_matrix<float, Eigen::VectorXf>(64, 1, 8);
  const auto f = circulant_as_mm_star(h);
  MONARCH_EXPECT_CLOSE(std::complex<float>, f.to_dense(), (circulant<std::complex<double>>(h)), 4 * 8);
}

TEST(TransformsBadInput, ThrowsDocumentedErrors) {
  EXPECT_THROW(dft_as_monarch<double>(0, 4), ShapeError);
  EXPECT_THROW(dft_as_monarch<double>(4, -1), ShapeError);
  EXPECT_THROW(hadamard_as_monarch<double>(12), ShapeError);
  EXPECT_THROW(hadamard_as_monarch<double>(0), ShapeError);
  EXPECT_THROW(kronecker_as_monarch(Dense<double>(0, 3), Dense<double>(2, 2)), ShapeError);
  EXPECT_THROW(circulant_as_mm_star(Eigen::VectorXd::Ones(15).eval()), ShapeError);
  Eigen::VectorXd h = Eigen::VectorXd::Ones(16);
  h[3] = std::numeric_limits<double>::quiet_NaN();
  EXPECT_THROW(circulant_as_mm_star(h), ValueError);
  const auto dft = dft_as_monarch<double>(4, 4);
  EXPECT_THROW(dft * Eigen::VectorXcd::Ones(15).eval(), ShapeError);
}

}  // namespace
}  // namespace monarch::test
