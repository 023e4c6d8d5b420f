// monarch: recovering an MM* factorization A = M1 . M2^H from the dense matrix (docs/math.md §5; paper §3.4,
// Theorem 2 and Algorithm "mm_recovery"). See docs/factorize.md.
//
// With Q = Pi(n/b, b), the block frame Mt = Q A Q^T has b x b blocks Mt_ij = A_i . D_ij . C_j of
// size n/b, A_i = L1 blocks, C_j = L2 blocks, D_ij = diag_c(R_c[i,j]). The matrices
//   F(i,j) = Mt_i0^-1 Mt_ij Mt_0j^-1 Mt_00 = C_0^-1 (D_i0^-1 D_ij D_0j^-1 D_00) C_0
// commute; the eigenvectors V of one random real combination of them give C_0 = V^-1, and then
//   A_i = Mt_i0 V,   C_j = A_0^-1 Mt_0j,   D_ij = A_i^-1 Mt_ij C_j^-1 = V^-1 F(i,j) V.
// Every D_ij is then checked to be diagonal and the recomposition error is measured: a result
// that fails either check is reported with a non-success status, never as success. All of it
// runs on Mt / 2^e with its largest entry in [1, 2) (exact), so the outcome is the same at every
// scale of A; R takes 2^e back.
#pragma once

#include <Eigen/Core>
#include <Eigen/Eigenvalues>
#include <Eigen/LU>
#include <Eigen/QR>
#include <algorithm>
#include <cmath>
#include <complex>
#include <cstdint>
#include <limits>
#include <numeric>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "block_diagonal.hpp"
#include "detail/random.hpp"
#include "errors.hpp"
#include "execution.hpp"
#include "mm_star.hpp"
#include "scalar.hpp"
#include "status.hpp"

namespace monarch {

struct FactorizeOptions {
  /// Seed of the random real coefficients of the combination sum c_ij F(i,j) (reproducible).
  std::uint64_t seed = 0x4D4D2A5345454455ull;
  /// Success needs every recovered D_ij diagonal to this relative Frobenius tolerance and the
  /// recomposition error ||A - m1 m2^H||_F / ||A||_F at most this. 0 selects the default
  /// 1e-8 (double and complex<double>) or 1e-3 (float and complex<float>: the input itself is
  /// only an MM* product to float rounding, which the joint diagonalization amplifies by its
  /// condition number, and the factors are rounded to float at the end).
  double tolerance = 0;
  /// A block Mt_ij of the block frame whose column-pivoted QR has |r_min| / |r_max| below this
  /// is treated as singular (docs/math.md §5 assumes every block is invertible). 0 selects 1e-13.
  double singular_tolerance = 0;
};

/// The result of factorize_mm_star: the factors (as an MMStar: .l1, .r, .l2, .m1, .m2) and how the
/// computation went. On success, relative_error <= tolerance. On failure the factors are the ones
/// the algorithm reached if it got that far (relative_error then measures them), otherwise zero
/// (relative_error = 1).
template <class T>
struct MMStarFactorization : MMStar<T> {
  Status info = Status::numerical_issue;
  std::string message;          ///< what went wrong ("" on success)
  double relative_error = 1.0;  ///< ||A - m1 m2^H||_F / ||A||_F of the returned factors
  double max_off_diagonal = 0;  ///< max over (i,j) of ||offdiag(D_ij)||_F / ||D_ij||_F (dropped)
  double min_block_rcond = 0;   ///< smallest |r_min|/|r_max| of a block's pivoted QR

  bool ok() const { return info == Status::success; }
};

namespace detail {
namespace mmstar {

template <class W>
using Mat = Eigen::Matrix<W, Eigen::Dynamic, Eigen::Dynamic>;

/// The scalar the algorithm runs in: double or complex<double>. float inputs are promoted because
/// the joint diagonalization multiplies rounding errors by the eigenvector condition number; in
/// float that loses most digits already for n = 256.
template <class T>
using Work = std::conditional_t<is_complex_v<T>, std::complex<double>, double>;

/// The block frame Mt = Q A Q^T: Mt(i*nb + c, j*nb + c2) = A(c*b + i, c2*b + j), nb = n/b.
template <class W, class Derived>
Mat<W> block_frame(const Eigen::MatrixBase<Derived>& A, Index b) {
  const Index n = A.rows(), nb = n / b;
  Mat<W> Mt(n, n);
  for (Index y = 0; y < n; ++y)
    for (Index x = 0; x < n; ++x) Mt((x % b) * nb + x / b, (y % b) * nb + y / b) = W(A.derived().coeff(x, y));
  return Mt;
}

/// v 2^e, exactly unless it over- or underflows (real and imaginary part each).
template <class W>
W times_pow2(const W& v, int e) {
  if constexpr (is_complex_v<W>) {
    return W(std::ldexp(v.real(), e), std::ldexp(v.imag(), e));
  } else {
    return std::ldexp(v, e);
  }
}

/// The e with max(|Re|, |Im|) over M's entries in [2^e, 2^(e+1)), or 0 for a zero M. Dividing
/// the block frame by 2^e is exact and makes the algorithm scale-invariant: unscaled, its norms
/// and QR/eigen steps square the entries and over- or underflow outside about 1e+-150. Not |z|,
/// which overflows for complex entries near the largest finite value.
template <class Derived>
int frame_exponent(const Eigen::MatrixBase<Derived>& M) {
  double big = 0;
  if constexpr (is_complex_v<typename Derived::Scalar>) {
    big = std::max(M.real().cwiseAbs().maxCoeff(), M.imag().cwiseAbs().maxCoeff());
  } else {
    big = M.cwiseAbs().maxCoeff();
  }
  return big > 0 ? std::ilogb(big) : 0;
}

/// Every value of a factor times 2^exponent, cast to To.
template <class To, class From>
BlockDiagonal<To> cast_factor(const BlockDiagonal<From>& w, int exponent = 0) {
  BlockDiagonal<To> out(w.nblocks(), w.block_rows(), w.block_cols());
  for (Index i = 0; i < w.size(); ++i) out.data()[i] = static_cast<To>(times_pow2(w.data()[i], exponent));
  return out;
}

template <class T>
bool all_finite(const BlockDiagonal<T>& w) {
  return std::all_of(w.data(), w.data() + w.size(), [](const T& v) { return std::isfinite(std::abs(v)); });
}

/// ||Mt - recomposed||_F / ||Mt||_F, with recomposed block (i,j) = L1_i diag(R_.[i,j] / 2^exponent) L2_j
/// (Mt is A's frame divided by 2^exponent); each task handles one block row and the partial sums are
/// added in a fixed order (same result for every executor).
template <class W, class T, class Executor>
double frame_error(const Mat<W>& Mt, const MMStar<T>& f, int exponent, const Executor& exec) {
  const Index b = f.b(), nb = f.size() / b;
  std::vector<double> row_sq(static_cast<std::size_t>(b), 0.0);
  exec.parallel_for(b, [&](Index i) {
    const Mat<W> Ai = f.l1.block(i).template cast<W>();
    Mat<W> DC(nb, nb);
    double sq = 0;
    for (Index j = 0; j < b; ++j) {
      for (Index c = 0; c < nb; ++c)
        DC.row(c) = times_pow2(W(f.r(c, i, j)), -exponent) * f.l2.block(j).row(c).template cast<W>();
      sq += (Mt.block(i * nb, j * nb, nb, nb) - Ai * DC).squaredNorm();
    }
    row_sq[static_cast<std::size_t>(i)] = sq;
  });
  const double num = std::sqrt(std::accumulate(row_sq.begin(), row_sq.end(), 0.0));
  const double den = static_cast<double>(Mt.norm());
  return den > 0 ? num / den : num;
}

/// What the recovery reached: factors in the working precision and the diagnostics.
template <class W>
struct Recovery {
  Status info = Status::numerical_issue;
  std::string message;
  bool has_factors = false;
  BlockDiagonal<W> l1, r, l2;
  double max_off_diagonal = 0;
  double min_block_rcond = 0;
  double min_eigen_gap = 0;  ///< smallest relative distance between two eigenvalues of the combination
};

/// Eigenvalues and eigenvectors (columns, unit norm) of the combination G, in complex form.
/// Returns false if the solver did not converge.
template <class W>
bool eigen_decompose(const Mat<W>& G, Eigen::VectorXcd& lambda, Eigen::MatrixXcd& V) {
  if constexpr (is_complex_v<W>) {
    Eigen::ComplexEigenSolver<Mat<W>> es(G);
    if (es.info() != Eigen::Success) return false;
    lambda = es.eigenvalues();
    V = es.eigenvectors();
  } else {
    Eigen::EigenSolver<Mat<W>> es(G);
    if (es.info() != Eigen::Success) return false;
    lambda = es.eigenvalues();
    V = es.eigenvectors();
  }
  return true;
}

/// Replaces the eigenvectors of every cluster of (numerically) equal eigenvalues by an orthonormal
/// basis of their span: inside a cluster any basis diagonalizes a semisimple eigenvalue, and the
/// solver's own vectors there can be nearly parallel. Returns the smallest relative gap between
/// two eigenvalues. The verification of every D_ij decides whether the basis was good.
inline double orthonormalize_clusters(const Eigen::VectorXcd& lambda, Eigen::MatrixXcd& V) {
  const Index m = lambda.size();
  const double scale = std::max(lambda.cwiseAbs().maxCoeff(), std::numeric_limits<double>::min());
  const double cluster_tol = 1e-10;
  double min_gap = std::numeric_limits<double>::infinity();
  std::vector<char> done(static_cast<std::size_t>(m), 0);
  for (Index a = 0; a < m; ++a) {
    if (done[static_cast<std::size_t>(a)]) continue;
    std::vector<Index> members{a};
    for (Index c = a + 1; c < m; ++c) {
      const double gap = std::abs(lambda[a] - lambda[c]) / scale;
      min_gap = std::min(min_gap, gap);
      if (!done[static_cast<std::size_t>(c)] && gap <= cluster_tol) members.push_back(c);
    }
    for (Index c : members) done[static_cast<std::size_t>(c)] = 1;
    if (members.size() < 2) continue;
    Eigen::MatrixXcd S(m, static_cast<Index>(members.size()));
    for (std::size_t t = 0; t < members.size(); ++t) S.col(static_cast<Index>(t)) = V.col(members[t]);
    Eigen::HouseholderQR<Eigen::MatrixXcd> qr(S);
    const Eigen::MatrixXcd Qthin = qr.householderQ() * Eigen::MatrixXcd::Identity(m, S.cols());
    for (std::size_t t = 0; t < members.size(); ++t) V.col(members[t]) = Qthin.col(static_cast<Index>(t));
  }
  return m > 1 ? min_gap : 1.0;
}

/// The joint-diagonalization basis V in the working scalar, or a failure message. Real input
/// needs real joint eigenvalues: complex ones mean A has no MM* factorization with real factors.
template <class W>
bool basis_from_combination(const Mat<W>& G, Mat<W>& V, double& min_gap, Recovery<W>& rec) {
  Eigen::VectorXcd lambda;
  Eigen::MatrixXcd Vc;
  if (!G.allFinite() || !eigen_decompose(G, lambda, Vc)) {
    rec.info = Status::no_convergence;
    rec.message = "factorize_mm_star: the eigensolver for the random combination of the F(i,j) did not converge";
    return false;
  }
  if constexpr (!is_complex_v<W>) {
    const double scale = lambda.cwiseAbs().maxCoeff();
    const double max_imag = lambda.imag().cwiseAbs().maxCoeff();
    if (max_imag > 1e-8 * scale) {
      rec.info = Status::numerical_issue;
      rec.message = concat("factorize_mm_star: the joint eigenvalues of the F(i,j) are not real (max |imag| / max |lambda| = ",
                           max_imag / scale,
                           "), so A has no MM* factorization with real factors (or they are defective); "
                           "factorize A.cast<std::complex<double>>() instead");
      return false;
    }
  }
  min_gap = orthonormalize_clusters(lambda, Vc);
  if constexpr (is_complex_v<W>) {
    V = Vc;
  } else {
    V = Vc.real();
  }
  return true;
}

/// max over blocks of ||offdiag(D_ij)||_F / ||D_ij||_F (infinite if a block is zero or not finite).
template <class W, class Executor>
double max_off_diagonal(const std::vector<Mat<W>>& D, Index b, const Executor& exec) {
  std::vector<double> worst(static_cast<std::size_t>(b), 0.0);
  exec.parallel_for(b, [&](Index i) {
    double w = 0;
    for (Index j = 0; j < b; ++j) {
      Mat<W> off = D[static_cast<std::size_t>(i * b + j)];
      off.diagonal().setZero();
      const double total = static_cast<double>(D[static_cast<std::size_t>(i * b + j)].norm());
      const double ratio = total > 0 ? static_cast<double>(off.norm()) / total : std::numeric_limits<double>::infinity();
      w = std::isfinite(ratio) ? std::max(w, ratio) : std::numeric_limits<double>::infinity();
    }
    worst[static_cast<std::size_t>(i)] = w;
  });
  return *std::max_element(worst.begin(), worst.end());
}

/// The first-order correction Z with (I+Z)^-1 D_ij (I+Z) diagonal for all (i,j) jointly:
/// (I+Z)^-1 E (I+Z) has off-diagonal E_ab + Z_ab delta to first order, so
/// Z_ab = -sum conj(delta) E_ab / sum |delta|^2 over (i,j), with E = D_ij and delta = d_a - d_b its
/// diagonal gap. Pairs that no (i,j) separates (equal joint eigenvalues: any basis works there)
/// get Z_ab = 0. Per-row partial sums are added in a fixed order.
template <class W, class Executor>
Mat<W> joint_newton_step(const std::vector<Mat<W>>& D, Index b, const Executor& exec) {
  const Index nb = D.front().rows();
  std::vector<Mat<W>> num(static_cast<std::size_t>(b), Mat<W>::Zero(nb, nb));
  std::vector<Eigen::MatrixXd> den(static_cast<std::size_t>(b), Eigen::MatrixXd::Zero(nb, nb));
  std::vector<double> scale(static_cast<std::size_t>(b), 0.0);
  exec.parallel_for(b, [&](Index i) {
    auto& nu = num[static_cast<std::size_t>(i)];
    auto& de = den[static_cast<std::size_t>(i)];
    for (Index j = 0; j < b; ++j) {
      const Mat<W>& E = D[static_cast<std::size_t>(i * b + j)];
      for (Index y = 0; y < nb; ++y)
        for (Index x = 0; x < nb; ++x) {
          if (x == y) continue;
          const W delta = E(x, x) - E(y, y);
          nu(x, y) += detail::conj(delta) * E(x, y);
          de(x, y) += std::norm(delta);
        }
      scale[static_cast<std::size_t>(i)] += static_cast<double>(E.diagonal().squaredNorm());
    }
  });
  Mat<W> nu = Mat<W>::Zero(nb, nb);
  Eigen::MatrixXd de = Eigen::MatrixXd::Zero(nb, nb);
  double total = 0;
  for (Index i = 0; i < b; ++i) {
    nu += num[static_cast<std::size_t>(i)];
    de += den[static_cast<std::size_t>(i)];
    total += scale[static_cast<std::size_t>(i)];
  }
  // Gaps below 1e-8 of the typical diagonal entry are treated as no separation.
  const double floor = 1e-16 * total / static_cast<double>(nb);
  Mat<W> Z = Mat<W>::Zero(nb, nb);
  for (Index y = 0; y < nb; ++y)
    for (Index x = 0; x < nb; ++x)
      if (x != y && de(x, y) > floor) Z(x, y) = -nu(x, y) / W(de(x, y));
  return Z;
}

/// rec's factors in T with R scaled back by 2^exponent (the frame was A / 2^exponent), or zero
/// factors if rec has none or R overflows T (then rec reports invalid_input).
template <class T, class W>
MMStar<T> returned_factors(Recovery<W>& rec, Index n, Index b, int exponent) {
  if (!rec.has_factors) return mm_star_zero<T>(n, b);
  BlockDiagonal<T> r = cast_factor<T>(rec.r, exponent);
  if (!all_finite(r)) {
    rec.has_factors = false;
    rec.info = Status::invalid_input;
    const Eigen::Map<const Mat<W>> scaled(rec.r.data(), rec.r.size(), 1);
    rec.message = concat("factorize_mm_star: A's factors overflow its scalar type: with unit-norm L1 columns and L2 "
                         "rows, R has entries of about 2^", exponent + frame_exponent(scaled),
                         " (A's largest entry is about 2^", exponent,
                         "); factorize A scaled down by a power of two and scale R back");
    return mm_star_zero<T>(n, b);
  }
  return mm_star_from_factors(cast_factor<T>(rec.l1), std::move(r), cast_factor<T>(rec.l2));
}

/// docs/math.md §5 on the block frame Mt, in the working scalar W.
template <class W, class Executor>
Recovery<W> recover(const Mat<W>& Mt, Index b, const FactorizeOptions& opt, double tol, double singular_tol,
                    const Executor& exec) {
  using QR = Eigen::ColPivHouseholderQR<Mat<W>>;
  using LU = Eigen::PartialPivLU<Mat<W>>;
  const Index n = Mt.rows(), nb = n / b;
  const auto at = [](auto& v, Index i) -> auto& { return v[static_cast<std::size_t>(i)]; };
  Recovery<W> rec;

  // 1. Every block must be invertible (docs/math.md §5 assumption): a rank-revealing QR of each.
  std::vector<double> rcond(static_cast<std::size_t>(b * b), 0.0);
  exec.parallel_for(b, [&](Index i) {
    QR qr;
    for (Index j = 0; j < b; ++j) {
      qr.compute(Mt.block(i * nb, j * nb, nb, nb));
      const auto d = qr.matrixQR().diagonal().cwiseAbs().eval();
      const double big = static_cast<double>(d.maxCoeff());
      at(rcond, i * b + j) = big > 0 ? static_cast<double>(d.minCoeff()) / big : 0.0;
    }
  });
  const auto worst = std::min_element(rcond.begin(), rcond.end());
  rec.min_block_rcond = *worst;
  if (!(*worst >= singular_tol)) {
    const Index w = static_cast<Index>(worst - rcond.begin());
    rec.message = concat("factorize_mm_star: block (", w / b, ", ", w % b, ") of Q A Q^T is singular to working precision ",
                         "(pivoted-QR |r_min|/|r_max| = ", *worst, " < ", singular_tol,
                         "); docs/math.md §5 needs every block A_i D_ij C_j invertible: singular L1/L2 blocks or a zero "
                         "entry in R (R_c[i,j] = 0) violate it");
    return rec;
  }

  // Pivoting: the algorithm inverts the blocks of one reference block row and column (block 0 in
  // the paper). Any row and column will do, so take the row and the column whose worst block is
  // the best conditioned, and relabel them as 0: logical block (i,j) is physical (prow(i), pcol(j)).
  Index i0 = 0, j0 = 0;
  double best_row = -1, best_col = -1;
  for (Index t = 0; t < b; ++t) {
    double row_min = 1, col_min = 1;
    for (Index u = 0; u < b; ++u) {
      row_min = std::min(row_min, at(rcond, t * b + u));
      col_min = std::min(col_min, at(rcond, u * b + t));
    }
    if (row_min > best_row) {
      best_row = row_min;
      i0 = t;
    }
    if (col_min > best_col) {
      best_col = col_min;
      j0 = t;
    }
  }
  const auto swap0 = [](Index pivot) { return [pivot](Index t) { return t == 0 ? pivot : (t == pivot ? 0 : t); }; };
  const auto prow = swap0(i0), pcol = swap0(j0);
  const auto blk = [&](Index i, Index j) { return Mt.block(prow(i) * nb, pcol(j) * nb, nb, nb); };
  std::vector<QR> qr_row(static_cast<std::size_t>(b)), qr_col(static_cast<std::size_t>(b));
  exec.parallel_for(b, [&](Index t) {
    at(qr_row, t).compute(blk(t, 0));
    at(qr_col, t).compute(blk(0, t));
  });

  // 2. X_j = Mt_0j^-1 Mt_00, so F(i,j) = Mt_i0^-1 Mt_ij X_j (logical labels from here on).
  std::vector<Mat<W>> X(static_cast<std::size_t>(b));
  exec.parallel_for(b, [&](Index j) { at(X, j) = at(qr_col, j).solve(blk(0, 0)); });

  // 3. G = sum_{i,j>=1} c_ij F(i,j) with real random c_ij (F(0,j) = F(i,0) = I add nothing).
  Mat<double> coef(b, b);
  Rng rng(opt.seed);
  for (Index i = 0; i < b; ++i)
    for (Index j = 0; j < b; ++j) coef(i, j) = rng.uniform(1.0);
  std::vector<Mat<W>> part(static_cast<std::size_t>(b), Mat<W>::Zero(nb, nb));
  exec.parallel_for(b - 1, [&](Index i1) {
    const Index i = i1 + 1;
    Mat<W> sum = Mat<W>::Zero(nb, nb);
    for (Index j = 1; j < b; ++j) sum.noalias() += W(coef(i, j)) * (blk(i, j) * at(X, j));
    at(part, i) = at(qr_row, i).solve(sum);
  });
  Mat<W> G = b == 1 ? Mat<W>(Mat<W>::Identity(nb, nb)) : Mat<W>(Mat<W>::Zero(nb, nb));
  for (Index i = 1; i < b; ++i) G += at(part, i);

  // 4. V = eigenvectors of G, C_0 = V^-1; A_i = Mt_i0 V; C_j = A_0^-1 Mt_0j.
  Mat<W> V;
  if (!basis_from_combination(G, V, rec.min_eigen_gap, rec)) return rec;
  std::vector<LU> lu_a(static_cast<std::size_t>(b));
  std::vector<Mat<W>> Ahat(static_cast<std::size_t>(b)), Chat(static_cast<std::size_t>(b)), Y(static_cast<std::size_t>(b));
  exec.parallel_for(b, [&](Index i) {
    at(Ahat, i) = blk(i, 0) * V;
    at(lu_a, i).compute(at(Ahat, i));
    at(Y, i) = at(X, i) * V;  // Y_j = X_j V = C_j^-1
  });
  exec.parallel_for(b, [&](Index j) { at(Chat, j) = at(lu_a, 0).solve(blk(0, j)); });

  // 5. D_ij = A_i^-1 Mt_ij C_j^-1 = V^-1 F(i,j) V must be diagonal (logical labels).
  std::vector<Mat<W>> D(static_cast<std::size_t>(b * b));
  exec.parallel_for(b, [&](Index i) {
    for (Index j = 0; j < b; ++j) at(D, i * b + j) = at(lu_a, i).solve(blk(i, j) * at(Y, j));
  });
  rec.max_off_diagonal = max_off_diagonal(D, b, exec);

  // Refinement: the eigenvectors of one combination G are only as accurate as G's eigenvalue gaps
  // allow. Newton steps V -> V (I + Z) that diagonalize all D_ij jointly in the least-squares sense
  // use the best-separating (i,j) for every pair of channels; D_ij, A_i, C_j follow exactly.
  for (int sweep = 0; sweep < 2 && rec.max_off_diagonal > 1e-15 && std::isfinite(rec.max_off_diagonal); ++sweep) {
    const Mat<W> IZ = Mat<W>::Identity(nb, nb) + joint_newton_step(D, b, exec);
    const LU lu(IZ);
    exec.parallel_for(b, [&](Index i) {
      for (Index j = 0; j < b; ++j) at(D, i * b + j) = lu.solve(at(D, i * b + j) * IZ);
      at(Ahat, i) = at(Ahat, i) * IZ;
      at(Chat, i) = lu.solve(at(Chat, i));
    });
    rec.max_off_diagonal = max_off_diagonal(D, b, exec);
  }
  BlockDiagonal<W> r(nb, b, b);  // R_c[i,j] = D_ij[c,c]
  for (Index i = 0; i < b; ++i)
    for (Index j = 0; j < b; ++j)
      for (Index c = 0; c < nb; ++c) r(c, i, j) = at(D, i * b + j)(c, c);

  // 6. Fix the gauge (A_i -> A_i S_i^-1, C_j -> T_j^-1 C_j, D_ij -> S_i D_ij T_j, docs/math.md §5) so that
  //    every column of A_i and row of C_j has unit norm: balanced factors lose the least when
  //    rounded to T and multiplied.
  //    The factors are stored under their physical labels.
  rec.l1 = BlockDiagonal<W>(b, nb, nb);
  rec.l2 = BlockDiagonal<W>(b, nb, nb);
  for (Index i = 0; i < b; ++i) {
    const Eigen::VectorXd s = at(Ahat, i).colwise().norm().transpose().template cast<double>();
    const Eigen::VectorXd t = at(Chat, i).rowwise().norm().template cast<double>();
    for (Index c = 0; c < nb; ++c) {
      const double sc = s[c] > 0 ? s[c] : 1.0, tc = t[c] > 0 ? t[c] : 1.0;
      rec.l1.block(prow(i)).col(c) = at(Ahat, i).col(c) / W(sc);
      rec.l2.block(pcol(i)).row(c) = at(Chat, i).row(c) / W(tc);
      for (Index j = 0; j < b; ++j) {
        r(c, i, j) *= W(sc);  // S_i on the left of D_ij
        r(c, j, i) *= W(tc);  // T_i on the right of D_ji
      }
    }
  }
  rec.r = BlockDiagonal<W>(nb, b, b);
  for (Index c = 0; c < nb; ++c)
    for (Index i = 0; i < b; ++i)
      for (Index j = 0; j < b; ++j) rec.r(c, prow(i), pcol(j)) = r(c, i, j);
  if (!all_finite(rec.l1) || !all_finite(rec.r) || !all_finite(rec.l2)) {
    rec.message = "factorize_mm_star: the recovered factors are not finite (the joint eigenvectors are dependent: "
                  "the F(i,j) are not jointly diagonalizable)";
    return rec;
  }
  rec.has_factors = true;
  if (!(rec.max_off_diagonal <= tol)) {
    rec.message = concat("factorize_mm_star: the F(i,j) are not jointly diagonalized (max off-diagonal ratio of the "
                         "recovered D_ij = ", rec.max_off_diagonal, " > tolerance ", tol,
                         "; smallest relative gap between joint eigenvalues = ", rec.min_eigen_gap,
                         "): A is not an MM* product with b = ", b,
                         " blocks, or its joint eigenvalues cannot be separated");
    return rec;
  }
  rec.info = Status::success;
  return rec;
}

}  // namespace mmstar
}  // namespace detail

/// Recovers L1, R, L2 with A = Q^T BD(L1) Q . BD(R) . Q^T BD(L2) Q (docs/math.md §5), i.e. A = m1 . m2^H.
/// A: any directly addressable square Eigen matrix of float, double, complex<float> or
/// complex<double> (float types are computed in double and rounded at the end). b must divide n;
/// b = sqrt(n) is the paper's MM*. Throws ShapeError (A not square, b not dividing n) or
/// ValueError (non-finite entries). Numerical failures are reported in .info / .message; the
/// outcome does not depend on A's scale, except that R (which carries it) may overflow T for A
/// near T's largest finite value: invalid_input, with zero factors.
/// Cost O(n^3 / b) flops (O(n^{5/2}) for b = sqrt n) and O(n^2) memory; the block loops run on
/// `exec`; repeated calls give identical results, and other executors the same up to rounding.
template <class Derived, class Executor = SerialExecutor, std::enable_if_t<is_executor_v<Executor>, int> = 0>
MMStarFactorization<typename Derived::Scalar> factorize_mm_star(const Eigen::MatrixBase<Derived>& A, Index b,
                                                                const FactorizeOptions& options,
                                                                const Executor& exec = {}) {
  using T = typename Derived::Scalar;
  using W = detail::mmstar::Work<T>;
  detail::static_assert_scalar<T>();
  detail::static_assert_direct_access<Derived>();
  const Index n = A.rows();
  detail::require_shape(n > 0 && A.cols() == n, "factorize_mm_star: A must be square and non-empty, given ", A.rows(),
                        " x ", A.cols());
  detail::require_shape(b > 0 && n % b == 0, "factorize_mm_star: b = ", b, " must be positive and divide n = ", n);
  detail::require_value(A.allFinite(), "factorize_mm_star: A has non-finite entries");

  const bool single = std::is_same_v<real_t<T>, float>;
  const double tol = options.tolerance > 0 ? options.tolerance : (single ? 1e-3 : 1e-8);
  const double singular_tol = options.singular_tolerance > 0 ? options.singular_tolerance : 1e-13;
  // The algorithm runs on A / 2^exponent (exact), so its outcome does not depend on A's scale;
  // R takes the scale back (L1 and L2 are balanced to unit columns and rows).
  auto Mt = detail::mmstar::block_frame<W>(A, b);
  const int exponent = detail::mmstar::frame_exponent(Mt);
  if (exponent != 0) detail::scale_by_pow2(Mt, -exponent);
  auto rec = detail::mmstar::recover<W>(Mt, b, options, tol, singular_tol, exec);
  MMStar<T> factors = detail::mmstar::returned_factors<T>(rec, n, b, exponent);
  // The error of the factors as returned (rounded to T), zero factors leave all of A: error 1.
  const double error = rec.has_factors ? detail::mmstar::frame_error(Mt, factors, exponent, exec) : 1.0;
  MMStarFactorization<T> out{std::move(factors), rec.info,          std::move(rec.message), error,
                             rec.max_off_diagonal, rec.min_block_rcond};
  if (out.info == Status::success && !(out.relative_error <= tol)) {
    out.info = Status::numerical_issue;
    out.message = detail::concat("factorize_mm_star: the recomposition error ", out.relative_error,
                                 " exceeds the tolerance ", tol,
                                 " (ill-conditioned joint eigenvectors or blocks; smallest block rcond ",
                                 out.min_block_rcond, ")");
  }
  return out;
}

/// factorize_mm_star with default options.
template <class Derived, class Executor = SerialExecutor, std::enable_if_t<is_executor_v<Executor>, int> = 0>
MMStarFactorization<typename Derived::Scalar> factorize_mm_star(const Eigen::MatrixBase<Derived>& A, Index b,
                                                                const Executor& exec = {}) {
  return factorize_mm_star(A, b, FactorizeOptions{}, exec);
}

}  // namespace monarch
