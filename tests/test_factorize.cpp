// factorize_mm_star (docs/math.md §5): recovered factors recompose the input, the reported error is the
// real one, and inputs that violate the assumptions are reported with a non-success status.
// Factors are unique only up to gauge, so only dense reconstructions are compared.
#include <cmath>
#include <limits>
#include <tuple>

#include <monarch/factorize.hpp>

#include "support/test_support.hpp"

namespace monarch::test {
namespace {

/// Random (L1, R, L2) of docs/math.md §5: L1, L2 (b, n/b, n/b), R (n/b, b, b).
template <class T>
struct Factors {
  BlockDiagonal<T> l1, r, l2;
};
template <class T>
Factors<T> random_factors(Index n, Index b, std::uint64_t seed) {
  const Index nb = n / b;
  return {BlockDiagonal<T>::random(b, nb, nb, seed, 1.0), BlockDiagonal<T>::random(nb, b, b, seed + 1, 1.0),
          BlockDiagonal<T>::random(b, nb, nb, seed + 2, 1.0)};
}

/// A = Q^T BD(L1) Q . BD(R) . Q^T BD(L2) Q with Q = Pi(n/b, b), as dense products of the
/// definitions (docs/math.md §1, §5), in the wider precision.
template <class T>
Dense<wider_t<T>> dense_mm_star(const Factors<T>& f) {
  using W = wider_t<T>;
  const Index n = f.l1.rows(), b = f.l1.nblocks();
  const Dense<W> Q = dense_transpose_permutation<W>(n / b, b);
  return Q.transpose() * dense_block_diagonal(f.l1) * Q * dense_block_diagonal(f.r) * Q.transpose() *
         dense_block_diagonal(f.l2) * Q;
}

/// The same matrix entry by entry from the block form of docs/math.md §5, Mt_ij = A_i D_ij C_j with
/// A(c*b + i, c2*b + j) = Mt(i*nb + c, j*nb + c2): O(n^{5/2}), affordable at n = 1024 where the
/// dense products are not. Checked against dense_mm_star below.
template <class T>
Dense<wider_t<T>> blockwise_mm_star(const Factors<T>& f) {
  using W = wider_t<T>;
  const Index n = f.l1.rows(), b = f.l1.nblocks(), nb = n / b;
  Dense<W> A(n, n);
  for (Index i = 0; i < b; ++i)
    for (Index j = 0; j < b; ++j)
      for (Index c = 0; c < nb; ++c)
        for (Index c2 = 0; c2 < nb; ++c2) {
          W sum(0);
          for (Index k = 0; k < nb; ++k) sum += W(f.l1(i, c, k)) * W(f.r(k, i, j)) * W(f.l2(j, k, c2));
          A(c * b + i, c2 * b + j) = sum;
        }
  return A;
}

template <class T>
Dense<T> narrow(const Dense<wider_t<T>>& A) {
  return A.template cast<T>();
}

/// The recomposition tolerance of the issue: 1e-10 relative in double precision.
constexpr double kRecomposeTol = 1e-10;

using Sizes = std::tuple<Index, Index>;  // (n, b)
const std::vector<Sizes> kSizes = {{16, 4}, {64, 8}, {256, 16}, {1024, 32}, {24, 4}, {24, 6}, {32, 4}, {32, 8}};

template <class T>
class FactorizeTest : public ::testing::Test {};
using DoubleScalars = ::testing::Types<double, std::complex<double>>;
TYPED_TEST_SUITE(FactorizeTest, DoubleScalars, );

TYPED_TEST(FactorizeTest, ResultIsTheProductOfTwoMonarchs) {
  // The identity the result relies on: Q^T BD(L1) Q BD(R) Q^T BD(L2) Q = m1 m2^H with
  // m1 = Monarch(R, L1), m2 = Monarch(I, L2^H), checked against the dense definitions of docs/math.md §5.
  using T = TypeParam;
  for (const auto& [n, b] : std::vector<Sizes>{{16, 4}, {24, 4}, {24, 6}, {32, 8}, {12, 12}, {12, 1}}) {
    SCOPED_TRACE(testing::Message() << "n = " << n << ", b = " << b);
    const auto f = random_factors<T>(n, b, 7);
    const auto mm = mm_star_from_factors(f.l1, f.r, f.l2);
    const auto want = dense_mm_star(f);
    MONARCH_EXPECT_CLOSE(T, Dense<T>(mm.m1.to_dense() * mm.m2.to_dense().adjoint()), want, 2 * n);
    MONARCH_EXPECT_CLOSE(T, mm.to_dense(), want, 2 * n);
    MONARCH_EXPECT_CLOSE(T, blockwise_mm_star(f), want, 2 * n);
  }
}

TYPED_TEST(FactorizeTest, RecomposesRandomProducts) {
  using T = TypeParam;
  std::uint64_t seed = 100;
  for (const auto& [n, b] : kSizes) {
    SCOPED_TRACE(testing::Message() << "n = " << n << ", b = " << b);
    const auto f = random_factors<T>(n, b, seed += 3);
    const Dense<T> A = narrow<T>(n <= 64 ? dense_mm_star(f) : blockwise_mm_star(f));
    const auto res = factorize_mm_star(A, b);
    ASSERT_EQ(res.info, Status::success) << res.message;
    EXPECT_TRUE(res.message.empty());
    const double err = relative_error(res.to_dense(), A);
    EXPECT_LE(err, kRecomposeTol);
    EXPECT_LE(res.relative_error, kRecomposeTol);
    // The reported error is the real one, up to the rounding of either computation.
    EXPECT_NEAR(res.relative_error, err, 0.5 * err + 100 * tolerance<T>(n));
    // Shapes of the returned factors.
    EXPECT_EQ(res.m1.shape(), mm_star_shape(n, b));
    EXPECT_EQ(res.m2.shape(), mm_star_shape(n, b));
    EXPECT_EQ(res.r.nblocks(), n / b);
    EXPECT_EQ(res.l1.nblocks(), b);
  }
}

TYPED_TEST(FactorizeTest, ReportedErrorOfAFailedAttemptIsTheRealOne) {
  // A random dense matrix is not in MM*: the attempt fails, and the factors it returns have the
  // relative error it reports (a large one, so the comparison is sharp).
  using T = TypeParam;
  const Dense<T> A = random_matrix<T, Dense<T>>(64, 64, 5);
  const auto res = factorize_mm_star(A, 8);
  EXPECT_NE(res.info, Status::success);
  EXPECT_FALSE(res.message.empty());
  EXPECT_GT(res.relative_error, 1e-3);
  EXPECT_NEAR(res.relative_error, relative_error(res.to_dense(), A), 1e-8 * res.relative_error);
}

TYPED_TEST(FactorizeTest, SingularBlockIsReported) {
  using T = TypeParam;
  auto f = random_factors<T>(64, 8, 11);
  f.l1.block(3).row(5) = f.l1.block(3).row(2);  // A_3 singular: every block Mt_3j is singular
  const auto res = factorize_mm_star(narrow<T>(dense_mm_star(f)), 8);
  EXPECT_EQ(res.info, Status::numerical_issue);
  EXPECT_NE(res.message.find("singular"), std::string::npos) << res.message;
  EXPECT_DOUBLE_EQ(res.relative_error, 1.0);  // zero factors, A - 0 = A
}

TYPED_TEST(FactorizeTest, ZeroInRIsReported) {
  using T = TypeParam;
  for (const auto& [i, j] : std::vector<std::pair<Index, Index>>{{0, 3}, {2, 5}, {4, 0}}) {
    SCOPED_TRACE(testing::Message() << "R_c[" << i << "," << j << "] = 0");
    auto f = random_factors<T>(64, 8, 13);
    f.r(6, i, j) = T(0);
    const auto res = factorize_mm_star(narrow<T>(dense_mm_star(f)), 8);
    EXPECT_EQ(res.info, Status::numerical_issue);
    EXPECT_NE(res.message.find("zero"), std::string::npos) << res.message;
  }
}

TYPED_TEST(FactorizeTest, DefectiveJointEigenvaluesAreReported) {
  // Blocks Mt_ij = I + i*j*N (N the nilpotent shift) in the block frame: every block is invertible
  // and the F(i,j) = I + i*j*N commute, but they cannot be diagonalized (all joint eigenvalues are
  // 1 and inseparable), so no MM* factorization exists.
  using T = TypeParam;
  const Index n = 36, b = 6, nb = 6;
  Dense<T> A = Dense<T>::Zero(n, n);
  for (Index i = 0; i < b; ++i)
    for (Index j = 0; j < b; ++j)
      for (Index c = 0; c < nb; ++c) {
        A(c * b + i, c * b + j) = T(1);
        if (c + 1 < nb) A(c * b + i, (c + 1) * b + j) = T(double(i * j));
      }
  const auto res = factorize_mm_star(A, b);
  EXPECT_NE(res.info, Status::success) << "relative error " << res.relative_error;
  EXPECT_FALSE(res.message.empty());
}

TYPED_TEST(FactorizeTest, RepeatedJointEigenvaluesStillFactorize) {
  // R_c equal for every c: all joint eigenvalues coincide, and any basis diagonalizes the F(i,j)
  // (they are multiples of I). Either a correct factorization or an honest failure; never a
  // success with a large error.
  using T = TypeParam;
  auto f = random_factors<T>(64, 8, 17);
  for (Index c = 1; c < 8; ++c) f.r.block(c) = f.r.block(0);
  const Dense<T> A = narrow<T>(dense_mm_star(f));
  const auto res = factorize_mm_star(A, 8);
  EXPECT_EQ(res.info, Status::success) << res.message;
  if (res.ok()) {
    EXPECT_LE(relative_error(res.to_dense(), A), kRecomposeTol);
  }
}

/// C[i,j] = h[(i - j) mod n], from the definition.
template <class T>
Dense<T> circulant(const Eigen::Matrix<T, Eigen::Dynamic, 1>& h) {
  const Index n = h.size();
  Dense<T> C(n, n);
  for (Index i = 0; i < n; ++i)
    for (Index j = 0; j < n; ++j) C(i, j) = h[((i - j) % n + n) % n];
  return C;
}

TEST(FactorizeCirculant, ComplexCirculantOfSize64) {
  using C = std::complex<double>;
  const Eigen::VectorXcd h = random_matrix<C, Eigen::VectorXcd>(64, 1, 21);
  const Dense<C> A = circulant<C>(h);
  const auto res = factorize_mm_star(A, 8);
  ASSERT_EQ(res.info, Status::success) << res.message;
  EXPECT_LE(relative_error(res.to_dense(), A), 1e-9);
}

TEST(FactorizeCirculant, RealCirculantOfSize64) {
  // A real h gives a real circulant whose MM* factors are complex (the DFT diagonalizes it): the
  // complex call factorizes it; the real call must not claim a real factorization it cannot give.
  const Eigen::VectorXd h = random_matrix<double, Eigen::VectorXd>(64, 1, 22);
  const Dense<double> A = circulant<double>(h);
  const auto res_c = factorize_mm_star(Dense<std::complex<double>>(A.cast<std::complex<double>>()), 8);
  ASSERT_EQ(res_c.info, Status::success) << res_c.message;
  EXPECT_LE(relative_error(res_c.to_dense(), Dense<std::complex<double>>(A.cast<std::complex<double>>())), 1e-9);
  const auto res = factorize_mm_star(A, 8);
  if (res.ok()) {
    EXPECT_LE(relative_error(res.to_dense(), A), 1e-9);
  } else {
    EXPECT_FALSE(res.message.empty());
  }
}

TYPED_TEST(FactorizeTest, IsScaleEquivariant) {
  // factorize(c A) succeeds exactly when factorize(A) does, for c from 1e-300 to 1e300, and its
  // factors recompose c A. Unscaled, the algorithm's norms squared A's entries: it reported
  // valid products as failures outside about 1e+-150, and at 1e-150 a relative error of exactly
  // 0 (the check was vacuous). Its relative error is a rounding error, so it is compared with
  // that of the matrix c A is exactly a power of two times: m A with c = m 2^k, m in [1/2, 1)
  // (c A and m A are the same rounded values, scaled), and it must not be 0.
  using T = TypeParam;
  using R = real_t<T>;
  const Index n = 64, b = 8;
  const Dense<T> mm = narrow<T>(dense_mm_star(random_factors<T>(n, b, 51)));
  const Dense<T> dense = random_matrix<T, Dense<T>>(n, n, 52);  // not in MM*: fails at every scale
  std::vector<R> scales{1e-300, 1e-200, 1e-160, 1e-150, 1e-100, 1e100, 1e150, 1e160, 1e200, 1e300};
  for (int k : {-1000, -600, -500, 500, 600, 990}) scales.push_back(std::ldexp(R(1), k));
  for (const Dense<T>* A : {&mm, &dense}) {
    const auto base = factorize_mm_star(*A, b);
    ASSERT_EQ(base.ok(), A == &mm) << base.message;
    for (const R c : scales) {
      SCOPED_TRACE(::testing::Message() << (A == &mm ? "MM* product" : "dense") << ", c = " << c);
      int k = 0;
      const R m = std::frexp(c, &k);
      const Dense<T> Ac = *A * c;
      const auto res = factorize_mm_star(Ac, b);
      const auto ref = factorize_mm_star(Dense<T>(*A * m), b);
      EXPECT_EQ(res.info, base.info) << res.message;
      EXPECT_EQ(res.info, ref.info) << res.message;
      EXPECT_GT(res.relative_error, 0.0);
      EXPECT_NEAR(res.relative_error, ref.relative_error, 1e-6 * ref.relative_error);
      if (res.ok()) {
        EXPECT_LE(relative_error(res.to_dense(), Ac.template cast<wider_t<T>>()), kRecomposeTol);
      }
    }
  }
}

TEST(FactorizeScale, LargestFiniteEntriesGiveFiniteFactorsOrInvalidInput) {
  // An MM* product scaled up to the largest finite value: R carries the scale (L1 and L2 are
  // balanced), so its entries may overflow the scalar type. That is reported as invalid_input
  // with zero factors, never as non-finite factors; in double the factors fit.
  const auto check = [](const auto& A, bool must_fit) {
    using T = typename std::decay_t<decltype(A)>::Scalar;
    const auto res = factorize_mm_star(A, 8);
    EXPECT_TRUE(res.ok() || res.info == Status::invalid_input) << res.info << ": " << res.message;
    const auto finite = [](const BlockDiagonal<T>& w) { return w.to_dense().allFinite(); };
    EXPECT_TRUE(finite(res.l1) && finite(res.r) && finite(res.l2));
    if (must_fit) {
      EXPECT_TRUE(res.ok()) << res.message;
    }
    if (!res.ok()) {
      EXPECT_NE(res.message.find("overflow"), std::string::npos) << res.message;
    }
  };
  const Dense<double> A = narrow<double>(dense_mm_star(random_factors<double>(64, 8, 61)));
  const int top = std::ilogb(A.cwiseAbs().maxCoeff());
  check(Dense<double>(A * std::ldexp(1.0, std::numeric_limits<double>::max_exponent - 1 - top)), false);
  check(Dense<double>(A * std::ldexp(1.0, std::numeric_limits<double>::max_exponent - 8 - top)), true);
  const Dense<float> Af = A.cast<float>();
  check(Dense<float>(Af * std::ldexp(1.0f, std::numeric_limits<float>::max_exponent - 1 - top)), false);
}

template <class T>
class FactorizeSingleTest : public ::testing::Test {};
using SingleScalars = ::testing::Types<float, std::complex<float>>;
TYPED_TEST_SUITE(FactorizeSingleTest, SingleScalars, );

TYPED_TEST(FactorizeSingleTest, FloatInputsAreFactorizedInDouble) {
  // A float matrix is an MM* product only to float rounding, which the joint diagonalization
  // amplifies; the factors are also rounded to float.
  using T = TypeParam;
  const auto f = random_factors<T>(64, 8, 31);
  const Dense<T> A = narrow<T>(dense_mm_star(f));
  const auto res = factorize_mm_star(A, 8);
  ASSERT_EQ(res.info, Status::success) << res.message;
  const double err = relative_error(res.to_dense(), A);
  EXPECT_LE(err, 1e-3);  // the documented default tolerance for float inputs
  EXPECT_NEAR(res.relative_error, err, 0.5 * err + 1e-6);
}

TEST(FactorizeExecutor, ResultDoesNotDependOnTheExecutor) {
  // Repeating a call is bit-identical; a pool that runs the tasks in reverse order gives the same
  // factors up to rounding (measured: one ulp in a near-zero imaginary part).
  using T = std::complex<double>;
  const auto f = random_factors<T>(64, 8, 41);
  const Dense<T> A = narrow<T>(dense_mm_star(f));
  const PoolExecutor reverse(2, [](Index n, const PoolExecutor::Task& task) {
    for (Index i = n - 1; i >= 0; --i) task(i);
  });
  const auto serial = factorize_mm_star(A, 8);
  const auto again = factorize_mm_star(A, 8);
  const auto pooled = factorize_mm_star(A, 8, reverse);
  ASSERT_EQ(serial.info, Status::success);
  EXPECT_EQ(serial.l1, again.l1);
  EXPECT_EQ(serial.r, again.r);
  EXPECT_EQ(serial.l2, again.l2);
  ASSERT_EQ(pooled.info, Status::success);
  const auto close = [](const BlockDiagonal<T>& x, const BlockDiagonal<T>& y) {
    using Map = Eigen::Map<const Eigen::VectorXcd>;
    return relative_error(Map(x.data(), x.size()), Map(y.data(), y.size()));
  };
  EXPECT_LE(close(pooled.l1, serial.l1), tolerance<T>(64));
  EXPECT_LE(close(pooled.r, serial.r), tolerance<T>(64));
  EXPECT_LE(close(pooled.l2, serial.l2), tolerance<T>(64));
}

TEST(FactorizeBadInput, ThrowsDocumentedErrors) {
  Dense<double> A = Dense<double>::Identity(16, 16);
  EXPECT_THROW(factorize_mm_star(A, 3), ShapeError);   // b does not divide n
  EXPECT_THROW(factorize_mm_star(A, 0), ShapeError);   // b not positive
  EXPECT_THROW(factorize_mm_star(Dense<double>(Dense<double>::Identity(16, 12)), 4), ShapeError);  // not square
  EXPECT_THROW(factorize_mm_star(Dense<double>(0, 0), 1), ShapeError);
  A(3, 7) = std::numeric_limits<double>::quiet_NaN();
  EXPECT_THROW(factorize_mm_star(A, 4), ValueError);
  A(3, 7) = std::numeric_limits<double>::infinity();
  EXPECT_THROW(factorize_mm_star(A, 4), ValueError);
  EXPECT_THROW(mm_star_from_factors(BlockDiagonal<double>(4, 4, 4), BlockDiagonal<double>(4, 3, 3),
                                    BlockDiagonal<double>(4, 4, 4)),
               ShapeError);
}

TEST(FactorizeStatus, StatusNames) {
  EXPECT_STREQ(to_string(Status::success), "success");
  EXPECT_STREQ(to_string(Status::numerical_issue), "numerical_issue");
  EXPECT_STREQ(to_string(Status::no_convergence), "no_convergence");
  EXPECT_STREQ(to_string(Status::invalid_input), "invalid_input");
}

}  // namespace
}  // namespace monarch::test
