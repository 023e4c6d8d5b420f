// project(A, shape): the Frobenius-optimal Monarch (docs/math.md §4). Everything is checked on dense
// reconstructions built entry by entry from the channel expansion (the factors are unique only up
// to gauge), against SVDs of slices extracted here by explicit loops from the definition.
//
// Tolerance rule for SVD-based results (the one addition to tests/support's rule): a backward
// stable SVD of an s x p slice is exact for a matrix within eps * O(s + p) * ||S|| of it, so
// reconstructions and residuals are compared with tolerance<T>(4 * (s + p)). Inputs have
// separated spectra (random Gaussian or random Monarch), where the projection is well posed.
// The certified Lanczos path is compared with the full-SVD path at 1e-9 (double), the issue's
// contract; its certificate bounds the subspace angle by eps^(3/4).
#include <Eigen/Eigenvalues>
#include <Eigen/QR>
#include <Eigen/SVD>
#include <algorithm>
#include <cmath>

#include "support/test_support.hpp"

namespace monarch::test {
namespace {

Index svd_length(const Shape& sh) { return 4 * (sh.s + sh.p); }

/// Shapes small enough for O(n^3) references in the wider precision.
bool is_small(const Shape& sh) { return sh.rows() * sh.cols() <= 300000; }

/// The dense projection of a result, from the channel expansion (not the library's multiply).
template <class T>
Dense<wider_t<T>> dense_of(const ProjectionResult<T>& r) {
  return dense_from_channels(r.monarch.w1(), r.monarch.w2());
}

/// Slice (e, a) of A from the definition: S[t, d] = A[t*l + e, a*p + d].
template <class T, class M>
Dense<T> slice_of(const M& A, const Shape& sh, Index e, Index a) {
  Dense<T> S(sh.s, sh.p);
  for (Index t = 0; t < sh.s; ++t)
    for (Index d = 0; d < sh.p; ++d) S(t, d) = A(t * sh.l + e, a * sh.p + d);
  return S;
}

/// |U(e,a)| counted from the definition: channels u < k*q with u mod l = e and u div q = a.
Index channels_by_loop(const Shape& sh, Index e, Index a) {
  Index count = 0;
  for (Index u = 0; u < sh.k * sh.q; ++u) count += (u % sh.l == e && u / sh.q == a);
  return count;
}

/// Per-slice discarded energy sum_{i >= |U(e,a)|} sigma_i^2 from Eigen's JacobiSVD, in double.
template <class T>
std::vector<double> reference_discarded(const Dense<T>& A, const Shape& sh) {
  std::vector<double> out;
  for (Index e = 0; e < sh.l; ++e)
    for (Index a = 0; a < sh.k; ++a) {
      const Dense<T> S = slice_of<T>(A, sh, e, a);
      const Eigen::JacobiSVD<Dense<T>> svd(S);
      const auto& sv = svd.singularValues();
      double tail = 0;
      for (Index i = channels_by_loop(sh, e, a); i < sv.size(); ++i) tail += double(sv[i]) * double(sv[i]);
      out.push_back(tail);
    }
  // Stored at e*k + a, the result's layout.
  return out;
}

template <class T>
double frobenius_distance(const Dense<T>& A, const Dense<wider_t<T>>& M) {
  return double((A.template cast<wider_t<T>>() - M).norm());
}

template <class T>
class ProjectTest : public ::testing::Test {};
TYPED_TEST_SUITE(ProjectTest, Scalars, ::testing::internal::DefaultNameGenerator);

TYPED_TEST(ProjectTest, ReproducesMonarchOfEveryShapeFamily) {
  using T = TypeParam;
  std::uint64_t seed = 10;
  for (const auto& ns : shape_families()) {
    SCOPED_TRACE(ns.name);
    const auto M = Monarch<T>::random(ns.shape, seed++);
    const Dense<wider_t<T>> want = dense_from_channels(M.w1(), M.w2());
    const Dense<T> A = want.template cast<T>();
    const auto r = project(A, ns.shape);
    MONARCH_EXPECT_CLOSE(T, dense_of(r), want, svd_length(ns.shape));
    EXPECT_LE(double(r.residual), tolerance<T>(svd_length(ns.shape)) * double(A.norm()));
  }
}

TYPED_TEST(ProjectTest, ResidualIsTheDiscardedSingularValues) {
  using T = TypeParam;
  std::uint64_t seed = 30;
  for (const auto& ns : shape_families()) {
    if (!is_small(ns.shape)) continue;
    SCOPED_TRACE(ns.name);
    const Shape& sh = ns.shape;
    const auto A = random_matrix<T, Dense<T>>(sh.rows(), sh.cols(), seed++);
    const auto r = project(A, sh);
    const std::vector<double> want = reference_discarded(A, sh);
    ASSERT_EQ(r.discarded_energy.size(), want.size());
    double total = 0;
    for (std::size_t i = 0; i < want.size(); ++i) {
      total += want[i];
      EXPECT_LE(std::abs(r.discarded_energy[i] - want[i]), tolerance<T>(svd_length(sh)) * std::max(want[i], 1.0))
          << "slice " << i;
    }
    const double tol = tolerance<T>(svd_length(sh));
    EXPECT_LE(std::abs(double(r.residual) - std::sqrt(total)), tol * std::sqrt(total));
    // ... and it is the actual distance ||A - M||_F.
    EXPECT_LE(std::abs(frobenius_distance(A, dense_of(r)) - std::sqrt(total)), tol * std::sqrt(total));
  }
}

TYPED_TEST(ProjectTest, NoNearbyMonarchIsCloser) {
  using T = TypeParam;
  using R = real_t<T>;
  std::uint64_t seed = 50;
  for (const auto& ns : shape_families()) {
    if (!is_small(ns.shape) || ns.shape.rows() * ns.shape.cols() > 20000) continue;
    SCOPED_TRACE(ns.name);
    const auto A = random_matrix<T, Dense<T>>(ns.shape.rows(), ns.shape.cols(), seed++);
    const auto r = project(A, ns.shape);
    const double best = frobenius_distance(A, dense_of(r));
    detail::Rng rng(seed);
    for (int trial = 0; trial < 20; ++trial) {
      Monarch<T> P = r.monarch;
      const double step = trial < 10 ? 1e-2 : 1e-1;
      P.update([&](BlockDiagonal<T>& w1, BlockDiagonal<T>& w2) {
        for (Index i = 0; i < w1.size(); ++i) w1.data()[i] += T(R(step)) * rng.normal_scalar<T>();
        for (Index i = 0; i < w2.size(); ++i) w2.data()[i] += T(R(step)) * rng.normal_scalar<T>();
      });
      const double moved = frobenius_distance(A, dense_from_channels(P.w1(), P.w2()));
      EXPECT_GE(moved, best * (1 - tolerance<T>(svd_length(ns.shape)))) << "trial " << trial;
    }
  }
}

TYPED_TEST(ProjectTest, MatchesPaperAlgorithmOne) {
  // Square case, docs/math.md §4: Atilde[l,j,k,i] = A[l*m + j, k*m + i]; rank-1 SVD of S_jk = Atilde[:, j, k, :];
  // R_k[j,i] = v_jk[i], L_j[l,k] = sigma u_jk[l]; M[l*m + j, k*m + i] = L_j[l,k] R_k[j,i] (§2.2).
  using T = TypeParam;
  using W = wider_t<T>;
  for (Index m : {4, 8}) {
    SCOPED_TRACE(m);
    const auto A = random_matrix<T, Dense<T>>(m * m, m * m, 70 + std::uint64_t(m));
    Dense<W> want(m * m, m * m);
    for (Index j = 0; j < m; ++j)
      for (Index k = 0; k < m; ++k) {
        Dense<T> S(m, m);
        for (Index l = 0; l < m; ++l)
          for (Index i = 0; i < m; ++i) S(l, i) = A(l * m + j, k * m + i);
        const Eigen::JacobiSVD<Dense<T>> svd(S, Eigen::ComputeFullU | Eigen::ComputeFullV);
        for (Index l = 0; l < m; ++l)
          for (Index i = 0; i < m; ++i)
            want(l * m + j, k * m + i) = W(svd.singularValues()[0] * svd.matrixU()(l, 0)) *
                                         W(detail::conj(svd.matrixV()(i, 0)));
      }
    const auto r = project(A, Shape::square(m));
    MONARCH_EXPECT_CLOSE(T, dense_of(r), want, svd_length(Shape::square(m)));
  }
}

TYPED_TEST(ProjectTest, EveryMethodGivesTheSameProjection) {
  // The iteration (forced on every slice with 1 <= c < min(s,p), irregular shapes included) and
  // the default agree with the full SVD of every slice.
  using T = TypeParam;
  std::uint64_t seed = 90;
  for (const auto& ns : shape_families()) {
    if (!is_small(ns.shape)) continue;
    SCOPED_TRACE(ns.name);
    const auto A = random_matrix<T, Dense<T>>(ns.shape.rows(), ns.shape.cols(), seed++);
    const auto full = project(A, ns.shape, ProjectionOptions{ProjectionMethod::FullSvd});
    EXPECT_EQ(full.full_svd_slices, [&] {
      Index n = 0;
      for (Index e = 0; e < ns.shape.l; ++e)
        for (Index a = 0; a < ns.shape.k; ++a) n += channels_by_loop(ns.shape, e, a) > 0;
      return n;
    }());
    const Dense<wider_t<T>> want = dense_of(full);
    const double tol = std::is_same_v<real_t<T>, double> ? 1e-9 : 1e-3;
    for (auto method : {ProjectionMethod::Auto, ProjectionMethod::Iterative}) {
      const auto r = project(A, ns.shape, ProjectionOptions{method});
      EXPECT_LE(relative_error(dense_of(r), want), tol);
      EXPECT_LE(std::abs(double(r.residual) - double(full.residual)), tol * double(full.residual));
    }
  }
}

TEST(Project, FastRankOnePathEqualsFullSvdAndIsUsed) {
  // Gaussian A, paper square m = 32: 1024 slices of 32 x 32, one channel each; and a rank-2 shape.
  for (const Shape& sh : {Shape::square(32), Shape::einsum(256, 256, 8, 8, 2)}) {
    SCOPED_TRACE(::testing::PrintToString(sh));
    const auto A = random_matrix<double, Dense<double>>(sh.rows(), sh.cols(), 123);
    const auto fast = project(A, sh);
    const auto full = project(A, sh, ProjectionOptions{ProjectionMethod::FullSvd});
    EXPECT_LE(relative_error(dense_of(fast), dense_of(full)), 1e-9);
    EXPECT_LE(std::abs(fast.residual - full.residual), 1e-12 * full.residual);
    const Index nslices = sh.l * sh.k;
    EXPECT_EQ(full.full_svd_slices, nslices);
    EXPECT_LT(fast.full_svd_slices, nslices / 10) << "the leading-triple path should serve almost every slice";
    EXPECT_EQ(fast.full_svd_slices, fast.fallback_slices);
  }
}

TEST(Project, TridiagonalSolverIsScaleInvariant) {
  // The Sturm chains run on T scaled to unit norm: T * 2^k gives the same pairs times 2^k, in
  // float too, far outside the range where unscaled chains over- or underflow.
  detail::Rng rng(78);
  const Index n = 40;
  Eigen::VectorXf a(n), b(n - 1);
  for (Index i = 0; i < n; ++i) a[i] = float(rng.normal());
  for (Index i = 0; i + 1 < n; ++i) b[i] = float(rng.normal());
  detail::TridiagonalTopEigen<float> unit, big, tiny;
  unit.compute(a, b, 2);
  big.compute(a * std::ldexp(1.0f, 60), b * std::ldexp(1.0f, 60), 2);
  tiny.compute(a * std::ldexp(1.0f, -60), b * std::ldexp(1.0f, -60), 2);
  for (Index i = 0; i < 2; ++i) {
    EXPECT_FLOAT_EQ(big.values()[i], unit.values()[i] * std::ldexp(1.0f, 60)) << i;
    EXPECT_FLOAT_EQ(tiny.values()[i], unit.values()[i] * std::ldexp(1.0f, -60)) << i;
    EXPECT_LE((big.vectors().col(i) - unit.vectors().col(i)).norm(), tolerance<float>(4 * n)) << i;
    EXPECT_LE((tiny.vectors().col(i) - unit.vectors().col(i)).norm(), tolerance<float>(4 * n)) << i;
  }
}

TEST(Project, FastPathHoldsAtAnyScaleInFloat) {
  // Positive (image-like) slices at scales 1, 1e4 and 1e-8: the Gram matrix is not normalized,
  // so this exercises the tridiagonal solver's own scaling (unscaled Sturm chains underflowed
  // in float at 1e-8 and sent every slice to the full SVD). The iteration must serve almost
  // every slice at every scale and give the full SVD's projection.
  const Shape sh = Shape::square(16);
  const Dense<float> A0 = (random_matrix<float, Dense<float>>(sh.rows(), sh.cols(), 31).array().abs() + 1.0f).matrix();
  for (float scale : {1.0f, 1e4f, 1e-8f}) {
    SCOPED_TRACE(scale);
    const Dense<float> A = A0 * scale;
    const auto fast = project(A, sh, ProjectionOptions{ProjectionMethod::Iterative});
    const auto full = project(A, sh, ProjectionOptions{ProjectionMethod::FullSvd});
    EXPECT_LT(fast.fallback_slices, sh.l * sh.k / 10);
    EXPECT_LE(relative_error(dense_of(fast), dense_of(full)), 1e-4);
  }
}

/// The register Lanczos kernels (detail/kernels/lanczos_step.hpp) for vector type V against their
/// definition in the wider precision: y = G q_j, alpha = q_j^T G q_j, w = (I - Q Q^T)(G q_j -
/// alpha q_j - beta_prev q_{j-1}), beta = ||w||, for every n up to the kernels' limit (register
/// tails) and a few basis sizes.
template <class V, int MaxNV>
void check_lanczos_step() {
  using T = typename V::Scalar;
  using W = wider_t<T>;
  const Index max_n = Index(MaxNV) * V::width;
  for (Index n = 1; n <= max_n; ++n) {
    for (Index j : {Index(0), Index(1), Index(5)}) {
      if (j + 1 > n) continue;
      SCOPED_TRACE(::testing::Message() << "n = " << n << ", j = " << j);
      const Dense<T> X = random_matrix<T, Dense<T>>(n, n, 7 + n);
      const Dense<T> G = X.transpose() * X;  // symmetric, as a Gram matrix
      const Dense<T> Q = Eigen::HouseholderQR<Dense<T>>(random_matrix<T, Dense<T>>(n, j + 1, 11 + j))
                             .householderQ() * Dense<T>::Identity(n, j + 1);
      const T beta_prev = T(0.75);
      Eigen::Matrix<T, Eigen::Dynamic, 1> y(n), w(n), h(j + 1);
      detail::kernels::gemv_in_registers<V, MaxNV>(n, n, G.data(), Q.col(j).data(), y.data());
      const auto r = detail::kernels::lanczos_step<V, MaxNV>(n, y.data(), Q.data(), j, beta_prev, w.data(), h.data());

      const Dense<W> Gw = G.template cast<W>(), Qw = Q.template cast<W>();
      const auto qj = Qw.col(j);
      EXPECT_LE(relative_error(y, (Gw * qj).eval()), tolerance<T>(n));
      const W alpha = qj.dot(Gw * qj);
      Eigen::Matrix<W, Eigen::Dynamic, 1> w0 = Gw * qj - alpha * qj;
      if (j > 0) w0 -= W(beta_prev) * Qw.col(j - 1);
      const Eigen::Matrix<W, Eigen::Dynamic, 1> want = w0 - Qw * (Qw.transpose() * w0);
      const double scale = double(Gw.norm());
      EXPECT_LE(std::abs(double(r.alpha) - double(alpha)), tolerance<T>(n * (j + 2)) * scale);
      EXPECT_LE(double((w.template cast<W>() - want).norm()), tolerance<T>(n * (j + 2)) * scale);
      EXPECT_LE(std::abs(double(r.beta) - double(want.norm())), tolerance<T>(n * (j + 2)) * scale);

      // y nearly inside span(Q): one Gram-Schmidt pass leaves w far from orthogonal to Q
      // (rounding of the removed part, relative to the small rest); the DGKS second pass must run.
      if (n < j + 2) continue;
      const T small = T(1e3) * std::sqrt(Eigen::NumTraits<T>::epsilon());
      const Eigen::Matrix<T, Eigen::Dynamic, 1> y2 =
          Q * random_matrix<T, Dense<T>>(j + 1, 1, 3 + n) + small * random_matrix<T, Dense<T>>(n, 1, 4 + n);
      const auto r2 = detail::kernels::lanczos_step<V, MaxNV>(n, y2.data(), Q.data(), j, beta_prev, w.data(), h.data());
      const Eigen::Matrix<W, Eigen::Dynamic, 1> ww = w.template cast<W>();
      EXPECT_LE(double((Qw.transpose() * ww).norm()), tolerance<T>(n * (j + 2)) * double(ww.norm()))
          << "w must be orthogonal to q_0..q_j to working precision";
      EXPECT_LE(std::abs(double(r2.beta) - double(ww.norm())), tolerance<T>(n) * double(ww.norm()));
    }
  }
}

TEST(Project, RegisterLanczosStepMatchesDefinition) {
  namespace kn = detail::kernels;
  check_lanczos_step<kn::PortableVec<float, kn::portable_width<float>>, 4>();
  check_lanczos_step<kn::PortableVec<double, kn::portable_width<double>>, 4>();
  constexpr auto pf = kn::best_path<float>();
  constexpr auto pd = kn::best_path<double>();
  check_lanczos_step<kn::VecFor<float, pf>::type, kn::lanczos_step_vectors<float, pf>()>();
  check_lanczos_step<kn::VecFor<double, pd>::type, kn::lanczos_step_vectors<double, pd>()>();
}

TEST(Project, RegisterAndGenericLanczosStepsGiveTheSameTriples) {
  // The slice sizes the register step takes on this build (and one past them, where the generic
  // step runs): both certify and agree with the full SVD's leading triple.
  // (A build with only the portable path has no register limit: both runs take the generic step.)
  constexpr auto path = detail::kernels::best_path<double>();
  const Index limit = detail::kernels::lanczos_step_max_size<double, path>();
  std::vector<Index> sizes{8, 13};
  if (limit > 0) sizes.insert(sizes.end(), {limit, limit + 1});
  for (Index n : sizes) {
    SCOPED_TRACE(n);
    const Dense<double> S = random_matrix<double, Dense<double>>(n + 3, n, 40 + n);
    // JacobiSVD: Eigen 3.4's BDCSVD occasionally returns wrong vectors (detail/leading_svd.hpp).
    const Eigen::JacobiSVD<Dense<double>> full(S, Eigen::ComputeThinU | Eigen::ComputeThinV);
    const Dense<double> want = full.singularValues()[0] * full.matrixU().col(0) * full.matrixV().col(0).transpose();
    for (bool registers : {true, false}) {
      detail::LeadingSvd<double> lanczos;
      lanczos.register_steps = registers;
      detail::TruncatedSvd<double> out;
      ASSERT_TRUE(lanczos.compute(S, 1, 99, out)) << "registers " << registers;
      const Dense<double> got = out.sigma[0] * out.U.col(0) * out.V.col(0).transpose();
      EXPECT_LE(relative_error(got, want), 1e-9) << "registers " << registers;
    }
  }
}

TEST(Project, TridiagonalTopEigenpairsMatchDenseEigensolver) {
  // The Lanczos certificate rests on these pairs: eigenvalues (Sturm multisection) against
  // Eigen's dense solver on the same T, eigenvectors by their own residual and orthonormality.
  // Sizes 1..64, random, graded, and clustered spectra (equal diagonals, tiny couplings).
  detail::Rng rng(77);
  for (Index n : {1, 2, 3, 7, 30, 64}) {
    for (int kind = 0; kind < 3; ++kind) {
      SCOPED_TRACE(::testing::Message() << "n = " << n << ", kind " << kind);
      Eigen::VectorXd a(n), b(std::max<Index>(n - 1, 0));
      for (Index i = 0; i < n; ++i) a[i] = kind == 2 ? 1.0 : rng.normal() * (kind == 1 ? std::pow(2.0, double(i % 9)) : 1.0);
      for (Index i = 0; i + 1 < n; ++i) b[i] = kind == 2 ? 1e-9 * rng.normal() : rng.normal();
      Dense<double> T = a.asDiagonal();
      for (Index i = 0; i + 1 < n; ++i) T(i, i + 1) = T(i + 1, i) = b[i];
      const Eigen::SelfAdjointEigenSolver<Dense<double>> ref(T);
      const Index count = std::min<Index>(n, 3);
      detail::TridiagonalTopEigen<double> tri;
      tri.compute(a, b, count);
      const double norm = T.norm(), tol = tolerance<double>(4 * n) * norm;
      const Dense<double>& Y = tri.vectors();
      EXPECT_LE((Y.transpose() * Y - Dense<double>::Identity(count, count)).norm(), tolerance<double>(4 * n));
      for (Index i = 0; i < count; ++i) {
        EXPECT_NEAR(tri.values()[i], ref.eigenvalues()[n - 1 - i], tol) << "eigenvalue " << i;
        const double res = (T * Y.col(i) - tri.values()[i] * Y.col(i)).norm();
        EXPECT_LE(res, tol) << "eigenpair " << i;
        EXPECT_NEAR(tri.residuals()[i], res, tol) << "reported residual " << i;
      }
      // As Lanczos uses it: a cold call that leaves the last vector out, then warm calls from
      // (perturbed) guesses with vectors added one at a time: the same pairs.
      tri.compute(a, b, count, nullptr, count - 1);
      Eigen::VectorXd guesses = tri.values() + Eigen::VectorXd::Constant(count, 1e-3 * norm);
      tri.compute(a, b, count, guesses.data(), 1);
      for (Index i = 1; i < count; ++i) {
        EXPECT_NEAR(tri.values()[i], ref.eigenvalues()[n - 1 - i], tri.bracket_width()) << "bracketed eigenvalue " << i;
        tri.add_vector(i);
      }
      for (Index i = 0; i < count; ++i) {
        EXPECT_NEAR(tri.values()[i], ref.eigenvalues()[n - 1 - i], tol) << "warm eigenvalue " << i;
        EXPECT_LE((T * tri.vectors().col(i) - tri.values()[i] * tri.vectors().col(i)).norm(), tol) << "warm pair " << i;
      }
    }
  }
}

/// A whose every (e,a) slice of the paper square shape has the singular values `sigma`, with
/// random singular vectors.
Dense<double> matrix_with_slice_spectrum(Index m, const Eigen::VectorXd& sigma, std::uint64_t seed) {
  Dense<double> A(m * m, m * m);
  for (Index e = 0; e < m; ++e)
    for (Index a = 0; a < m; ++a) {
      const Dense<double> U = Eigen::HouseholderQR<Dense<double>>(random_matrix<double, Dense<double>>(m, m, seed++))
                                  .householderQ();
      const Dense<double> V = Eigen::HouseholderQR<Dense<double>>(random_matrix<double, Dense<double>>(m, m, seed++))
                                  .householderQ();
      const Dense<double> S = U * sigma.asDiagonal() * V.transpose();
      for (Index t = 0; t < m; ++t)
        for (Index d = 0; d < m; ++d) A(t * m + e, a * m + d) = S(t, d);
    }
  return A;
}

TEST(Project, TiedLeadingSingularValuesFallBackAndStayOptimal) {
  const Index m = 16;
  for (double second : {3.0, 3.0 * (1 - 1e-9), 3.0 * (1 - 1e-6)}) {
    SCOPED_TRACE(second);
    Eigen::VectorXd sigma = Eigen::VectorXd::LinSpaced(m, 1.0, 0.1);
    sigma[0] = 3.0;
    sigma[1] = second;
    const Dense<double> A = matrix_with_slice_spectrum(m, sigma, 900);
    const Shape sh = Shape::square(m);
    const auto r = project(A, sh);
    EXPECT_GT(r.fallback_slices, 0) << "a (nearly) tied slice must not be trusted to the iteration";
    EXPECT_EQ(r.full_svd_slices, r.fallback_slices);
    double total = 0;
    for (double x : reference_discarded(A, sh)) total += x;
    EXPECT_NEAR(r.residual, std::sqrt(total), 1e-12 * std::sqrt(total));
    EXPECT_NEAR(frobenius_distance(A, dense_of(r)), std::sqrt(total), 1e-12 * std::sqrt(total));
    // Known exactly: every slice keeps sigma_1^2 and discards the rest.
    EXPECT_NEAR(r.residual, std::sqrt(double(m * m) * (sigma.squaredNorm() - 9.0)), 1e-11 * r.residual);
  }
}

TEST(Project, DefaultShapeIsTheAuthorsAndAnyEigenObjectWorks) {
  // n = 12: the largest divisor <= sqrt(12) is 3, so w1 (4, 3, 3), w2 (3, 4, 4).
  const auto A = random_matrix<double, Dense<double>>(12, 12, 5);
  const auto r = project(A);
  EXPECT_EQ(r.monarch.shape(), (Shape{4, 3, 3, 3, 4, 4}));
  const auto explicit_shape = project(A, Shape::projection_default(12));
  EXPECT_EQ(r.monarch.w1(), explicit_shape.monarch.w1());
  EXPECT_EQ(r.monarch.w2(), explicit_shape.monarch.w2());
  // Row-major storage and a block of a larger matrix, read in place: the same slices, the same result.
  const RowBatch<double> row_major = A;
  const auto from_rows = project(row_major, Shape::projection_default(12));
  EXPECT_EQ(from_rows.monarch.w1(), r.monarch.w1());
  EXPECT_EQ(from_rows.monarch.w2(), r.monarch.w2());
  Dense<double> big = Dense<double>::Zero(20, 20);
  big.block(3, 5, 12, 12) = A;
  const auto from_block = project(big.block(3, 5, 12, 12), Shape::projection_default(12));
  EXPECT_EQ(from_block.monarch.w1(), r.monarch.w1());
  EXPECT_EQ(from_block.monarch.w2(), r.monarch.w2());
}

TEST(Project, ExecutorsGiveIdenticalResults) {
  const Shape sh = Shape::square(16);
  const auto A = random_matrix<double, Dense<double>>(sh.rows(), sh.cols(), 77);
  const auto serial = project(A, sh);
  // A "pool" that runs the tasks backwards on the calling thread: order must not matter.
  const PoolExecutor reversed(3, [](Index n, const PoolExecutor::Task& task) {
    for (Index i = n - 1; i >= 0; --i) task(i);
  });
  const auto pooled = project(A, sh, reversed);
  EXPECT_EQ(pooled.monarch.w1(), serial.monarch.w1());
  EXPECT_EQ(pooled.monarch.w2(), serial.monarch.w2());
  EXPECT_EQ(pooled.residual, serial.residual);
}

/// Scales across the whole exponent range of R: powers of two (exact) from near the smallest
/// normal to near the largest finite value, decimal scales (c A is rounded), and one that makes
/// every entry of a standard normal A subnormal.
template <class R>
std::vector<R> extreme_scales() {
  using L = std::numeric_limits<R>;
  std::vector<R> scales;
  for (int k = L::min_exponent + 8; k < L::max_exponent - 10; k += (L::max_exponent - L::min_exponent) / 8)
    scales.push_back(std::ldexp(R(1), k));
  scales.push_back(std::ldexp(R(1), L::max_exponent - 10));
  const int top = L::max_exponent10 - 8;  // 1e300 in double, 1e30 in float
  for (int j : {-top, -top / 2 - 10, -top / 2, top / 2, top / 2 + 10, top}) scales.push_back(std::pow(R(10), R(j)));
  scales.push_back(std::ldexp(R(1), L::min_exponent - 1 - L::digits / 2));
  return scales;
}

TYPED_TEST(ProjectTest, ResidualAndFactorsAreScaleEquivariant) {
  // project(c A) = c project(A), with c times A's residual, for c across the whole exponent range
  // and each way a slice is decomposed. Unscaled sums of squares claimed an exact fit (residual 0)
  // below about 1e-154 and reported an infinite residual above 1e154. Where c A is rounded
  // (decimal or subnormal scales), it moved by delta relative, and the optimal residual, a
  // distance to a set, moves by at most that much.
  using T = TypeParam;
  using R = real_t<T>;
  using W = wider_t<T>;
  using RW = real_t<W>;
  const std::vector<std::pair<Shape, ProjectionMethod>> cases = {
      {Shape::square(8), ProjectionMethod::Auto},         // the leading-triple iteration
      {Shape::square(8), ProjectionMethod::FullSvd},      // BDCSVD
      {Shape{2, 4, 3, 8, 5, 1}, ProjectionMethod::Auto}};  // rank > 1 and channel-less slices
  std::uint64_t seed = 90;
  for (const auto& [sh, method] : cases) {
    const Dense<T> A = random_matrix<T, Dense<T>>(sh.rows(), sh.cols(), seed++);
    const ProjectionOptions options{method};
    const auto base = project(A, sh, options);
    const Dense<W> want = dense_of(base);
    const Dense<W> Aw = A.template cast<W>();
    const double tol = tolerance<T>(svd_length(sh));
    // The iteration's certificate bounds its subspace angle by eps^(3/4), not eps.
    const double dense_tol = method == ProjectionMethod::Auto ? 100 * std::pow(tolerance<T>(1) / 16, 0.75) : tol;
    for (const R c : extreme_scales<R>()) {
      SCOPED_TRACE(::testing::Message() << sh << ", method " << int(method) << ", c = " << c);
      const Dense<T> Ac = A * c;
      const Dense<W> Acw = Ac.template cast<W>();
      const double delta = double((Acw / RW(c) - Aw).norm() / Aw.norm());
      const auto r = project(Ac, sh, options);
      const Dense<W> M = dense_of(r);
      // A subnormal residual is itself rounded to the smallest subnormal.
      const double unit = double(RW(std::numeric_limits<R>::denorm_min()) / Acw.norm());
      EXPECT_NEAR(double(RW(r.residual) / Acw.norm()), double(RW(base.residual) / Aw.norm()), 2 * delta + tol + unit);
      EXPECT_NEAR(double(RW(r.residual) / Acw.norm()), double((Acw - M).norm() / Acw.norm()), tol + unit);
      EXPECT_LE(relative_error(Dense<W>(M / RW(c)), want), dense_tol + 100 * delta);
    }
  }
}

/// True if the real and imaginary parts of every entry of w are finite.
template <class T>
bool finite_factor(const BlockDiagonal<T>& w) {
  using R = real_t<T>;
  const R* p = reinterpret_cast<const R*>(w.data());
  return std::all_of(p, p + w.size() * (is_complex_v<T> ? 2 : 1), [](R v) { return std::isfinite(v); });
}

TYPED_TEST(ProjectTest, LargestFiniteEntriesGiveFiniteFactors) {
  // Entries (both parts) at the largest finite value: the slices' singular values overflow, their
  // square roots, which the factors carry, do not. A constant matrix is a Monarch (residual ~0);
  // a sign pattern is far from one, and its residual exceeds the largest finite value: then, and
  // only then, the residual is infinite.
  using T = TypeParam;
  using R = real_t<T>;
  using W = wider_t<T>;
  using RW = real_t<W>;
  const R big = std::numeric_limits<R>::max();
  T value(big);
  if constexpr (is_complex_v<T>) value = T(big, -big);
  const Shape sh = Shape::square(8);
  detail::Rng rng(6);
  const Dense<T> constant = Dense<T>::Constant(sh.rows(), sh.cols(), value);
  const Dense<T> signs = constant.unaryExpr([&](const T& v) { return rng.uniform(1.0) < 0 ? -v : v; });
  for (const auto method : {ProjectionMethod::Auto, ProjectionMethod::FullSvd})
    for (const Dense<T>* A : {&constant, &signs}) {
      SCOPED_TRACE(::testing::Message() << "method " << int(method) << (A == &constant ? ", constant" : ", signs"));
      const auto r = project(*A, sh, ProjectionOptions{method});
      EXPECT_TRUE(finite_factor(r.monarch.w1()));
      EXPECT_TRUE(finite_factor(r.monarch.w2()));
      const Dense<W> Aw = A->template cast<W>();
      const RW distance = (Aw - dense_of(r)).norm();
      if (distance > RW(big)) {
        EXPECT_EQ(r.residual, std::numeric_limits<R>::infinity());
      } else {
        EXPECT_LE(std::abs(RW(r.residual) - distance), tolerance<T>(svd_length(sh)) * Aw.norm());
      }
    }
}

TEST(Project, BadInputIsRejected) {
  const Shape sh = Shape::square(4);
  Dense<double> A = random_matrix<double, Dense<double>>(16, 16, 1);
  Dense<double> bad = A;
  bad(3, 7) = std::numeric_limits<double>::quiet_NaN();
  EXPECT_THROW(project(bad, sh), ValueError);
  bad(3, 7) = std::numeric_limits<double>::infinity();
  EXPECT_THROW(project(bad, sh), ValueError);
  try {  // the message names the column block that holds the entry (column 7: block [4, 8))
    project(bad, sh);
    ADD_FAILURE() << "expected ValueError";
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("columns [4, 8)"), std::string::npos) << e.what();
  }
  EXPECT_THROW(project(A, Shape::square(5)), ShapeError);
  EXPECT_THROW(project(A.leftCols(12), sh), ShapeError);
  EXPECT_THROW(project(A, Shape{2, 3, 8, 4, 4, 2}), ShapeError);  // k*q = 6 != l*r = 8
  EXPECT_THROW(project(A, Shape{0, 4, 4, 4, 4, 0}), ShapeError);
  EXPECT_THROW(project(A.leftCols(12)), ShapeError);  // the default shape needs a square A
  try {
    project(A.topRows(12), sh);
    ADD_FAILURE() << "expected ShapeError";
  } catch (const ShapeError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("12 x 16"), std::string::npos) << what;
    EXPECT_NE(what.find("16 x 16"), std::string::npos) << what;
  }
}

}  // namespace
}  // namespace monarch::test
