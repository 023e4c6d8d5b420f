// monarch::detail: truncated SVDs of one small dense slice, for the projection (docs/math.md §4).
//
// Two routes to the c leading singular triples of an m x n matrix S (m >= n):
//  * full_truncated_svd: Eigen's BDCSVD of S, truncated. Always right, O(m n^2) with a large
//    constant (about 0.8 ms for 64 x 64).
//  * LeadingSvd: Lanczos with full reorthogonalization on the Gram matrix G = S^H S (n x n), then
//    a Rayleigh-Ritz step back on S. Costs one GEMM plus a few dozen GEMVs. It declines (returns
//    false, the caller then uses full_truncated_svd) unless its own error bound certifies the
//    result: the Ritz residual of the leading block is at most tau times the spectral gap, and
//    that gap is at least gap_min of the largest eigenvalue.
//
// Why the Gram matrix is safe here: an eigenvector of G computed in precision eps is off by an
// angle of about eps * lambda_1 / (lambda_c - lambda_{c+1}) (Davis-Kahan). With the gap required
// to be >= eps^(1/4) lambda_1 that is <= eps^(3/4) (2e-12 in double, 7e-6 in float), which is the
// accuracy of the certificate itself; nearly tied slices go to the full SVD.
#pragma once

#include <Eigen/Core>
#include <Eigen/SVD>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "../scalar.hpp"
#include "kernels/lanczos_step.hpp"
#include "kernels/micro_kernels.hpp"
#include "random.hpp"
#include "tridiagonal.hpp"

namespace monarch::detail {

template <class T>
using DenseColMajor = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;

/// The c leading singular triples of S as U (m x c), sigma (c), V (n x c), and the discarded
/// energy sum_{i >= c} sigma_i^2, all of S / 2^exponent: S ~ U diag(sigma 2^exponent) V^H, and S
/// discards discarded_energy 4^exponent. Scaled so, both stay representable for any finite S (S's
/// own sigma_1 and energies can overflow or underflow).
template <class T>
struct TruncatedSvd {
  DenseColMajor<T> U, V;
  Eigen::Matrix<real_t<T>, Eigen::Dynamic, 1> sigma;
  double discarded_energy = 0;
  int exponent = 0;
};

/// max over S's entries of max(|Re|, |Im|), with independent running maxima (one chain would
/// wait on each max's latency). Not |z|: that overflows for complex entries near the largest
/// finite value.
template <class T>
real_t<T> max_component(const DenseColMajor<T>& S) {
  using R = real_t<T>;
  constexpr int kLanes = 16;
  R m[kLanes] = {};
  const R* p = reinterpret_cast<const R*>(S.data());  // std::complex is an array of two reals
  const Index size = S.size() * (is_complex_v<T> ? 2 : 1);
  Index i = 0;
  for (; i + kLanes <= size; i += kLanes)
    for (int k = 0; k < kLanes; ++k) m[k] = std::max(m[k], std::abs(p[i + k]));
  for (; i < size; ++i) m[0] = std::max(m[0], std::abs(p[i]));
  return *std::max_element(m, m + kLanes);
}

/// The exponent e by which an SVD divides a slice whose max_component is `scale`: 0 (S used in
/// place) within 2^(+-max_exponent/8), where no square of S's Gram matrix can overflow or
/// underflow (Lanczos forms norms of G q ~ |S|^4), else the e with S / 2^e in [1, 2).
template <class R>
int svd_exponent(R scale) {
  if (!(scale > R(0)) || !std::isfinite(scale)) return 0;
  const int exponent = std::ilogb(scale);
  const int safe = std::numeric_limits<R>::max_exponent / 8;
  return exponent > safe || exponent < -safe ? exponent : 0;
}

/// The SVD of S (any m x n), keeping c = min(c, min(m,n)) triples. The discarded energy is the
/// tail sum of squared singular values, which stays accurate when it is tiny. BDCSVD is tried
/// first for speed, but Eigen 3.4.0's BDCSVD returns wrong singular vectors for some matrices
/// (a 32 x 32 Gaussian slice in our tests reconstructs to 0.29 relative with -march=native), so
/// its factorization is verified and JacobiSVD (slower, always accurate) replaces it on failure.
template <class T>
void full_truncated_svd_in_place(const DenseColMajor<T>& S, Index c, TruncatedSvd<T>& out) {
  using R = real_t<T>;
  const auto take = [&](const auto& svd) {
    const auto& sv = svd.singularValues();
    c = std::min<Index>(c, sv.size());
    out.U = svd.matrixU().leftCols(c);
    out.V = svd.matrixV().leftCols(c);
    out.sigma = sv.head(c);
    double tail = 0;
    for (Index i = c; i < sv.size(); ++i) tail += double(sv[i]) * double(sv[i]);
    out.discarded_energy = tail;
  };
  const Eigen::BDCSVD<DenseColMajor<T>> bdc(S, Eigen::ComputeThinU | Eigen::ComputeThinV);
  const R tol = R(64) * Eigen::NumTraits<R>::epsilon() * R(S.rows() + S.cols()) * S.norm();
  const DenseColMajor<T> back = bdc.matrixU() * bdc.singularValues().template cast<T>().asDiagonal() *
                                bdc.matrixV().adjoint();
  if (bdc.info() == Eigen::Success && (back - S).norm() <= tol) {
    take(bdc);
  } else {
    take(Eigen::JacobiSVD<DenseColMajor<T>>(S, Eigen::ComputeThinU | Eigen::ComputeThinV));
  }
  out.exponent = 0;
}

/// full_truncated_svd_in_place on S / 2^svd_exponent (exact): unscaled, the verification's norms
/// square S and over- or underflow (it then passed or failed regardless of the factorization).
template <class T>
void full_truncated_svd(const DenseColMajor<T>& S, Index c, TruncatedSvd<T>& out) {
  const int exponent = svd_exponent(max_component(S));
  if (exponent == 0) return full_truncated_svd_in_place(S, c, out);
  DenseColMajor<T> scaled = S;
  scale_by_pow2(scaled, -exponent);
  full_truncated_svd_in_place(scaled, c, out);
  out.exponent = exponent;
}

/// Lanczos on S^H S for the c leading singular triples of a tall S (m >= n, 1 <= c < n). Holds its
/// workspace, so one instance per thread serves many slices without reallocating.
template <class T>
class LeadingSvd {
 public:
  using R = real_t<T>;
  using Mat = DenseColMajor<T>;
  using Vec = Eigen::Matrix<T, Eigen::Dynamic, 1>;
  using RVec = Eigen::Matrix<R, Eigen::Dynamic, 1>;

  /// Returns true and fills `out` when the iteration certified its answer; false when the slice
  /// must go to the full SVD (gap below gap_min * lambda_1, or no convergence within the step
  /// budget). `seed` fixes the start vector, so results do not depend on the thread that runs it.
  bool compute(const Mat& S, Index c, std::uint64_t seed, TruncatedSvd<T>& out) {
    const Index n = S.cols();
    out.exponent = 0;
    const R scale = max_component(S);
    if (scale == R(0)) {  // zero slice: any orthonormal V, sigma = 0, nothing discarded
      out.U = Mat::Zero(S.rows(), c);
      out.V = Mat::Zero(n, c);
      out.sigma = RVec::Zero(c);
      out.discarded_energy = 0;
      return true;
    }
    // G = S^H S must neither overflow nor underflow: outside svd_exponent's safe range the slice
    // is scaled by a power of two, which is exact. Inside, S is used in place (a scaled copy cost
    // 3% of the projection).
    const int exponent = svd_exponent(scale);
    if (exponent != 0) {
      Ss_ = S;
      scale_by_pow2(Ss_, -exponent);
    }
    const Mat& Sw = exponent != 0 ? Ss_ : S;
    gram(Sw);
    const Index steps = lanczos(c, seed);
    last_steps_ = steps;
    if (steps == 0) return false;
    // Rayleigh-Ritz back on S: V spans the leading right singular subspace; S V V^H is the
    // rank-c projection, re-diagonalized by a small SVD of B = S V (m x c).
    V_.noalias() = Q_.leftCols(steps) * ritz_vectors_;
    B_.noalias() = Sw * V_;
    out.discarded_energy = residual_energy(Sw);
    out.exponent = exponent;
    if (c == 1) {
      const R b = B_.norm();
      out.sigma = RVec::Constant(1, b);
      out.U = b > R(0) ? Mat(B_ / b) : Mat(Mat::Zero(B_.rows(), 1));
      out.V = V_;
    } else {
      const Eigen::JacobiSVD<Mat> small(B_, Eigen::ComputeThinU | Eigen::ComputeThinV);
      out.sigma = small.singularValues();
      out.U = small.matrixU();
      out.V.noalias() = V_ * small.matrixV();
    }
    return true;
  }

  /// G_ = S^H S: by the register kernels' Gram tiles where the steps run on them, else by
  /// Eigen's Hermitian rank-k update (half the flops of a GEMM).
  void gram(const Mat& S) {
    const Index n = S.cols();
    G_.resize(n, n);
    if constexpr (kRegisterLimit > 0) {
      if (register_path(n)) {
        using V = typename kernels::VecFor<T, kPath>::type;
        constexpr int NV = 2, MR = kernels::RegisterTiles<kernels::VecFor<T, kPath>::registers>::gemm_mr(NV);
        pack_.resize(kernels::packed_panels_size(S.rows(), n, NV * V::width));
        kernels::gram_matrix<V, MR, NV>(S.rows(), n, S.data(), G_.data(), pack_.data());
        return;
      }
    }
    G_.setZero();
    G_.template selfadjointView<Eigen::Lower>().rankUpdate(S.adjoint());
    G_.template triangularView<Eigen::StrictlyUpper>() = G_.adjoint();
  }

  /// ||Sw - B V^H||_F^2, the energy the rank-c projection discards, computed from the residual
  /// itself column by column (||S||^2 - ||B||^2 would cancel).
  double residual_energy(const Mat& Sw) {
    double energy = 0;
    for (Index d = 0; d < Sw.cols(); ++d) {
      r_ = Sw.col(d);
      for (Index k = 0; k < B_.cols(); ++k) r_ -= conj(V_(d, k)) * B_.col(k);
      energy += double(r_.squaredNorm());
    }
    return energy;
  }

  /// The certificate's parameters: the leading block must satisfy residual <= tau * gap and
  /// gap >= gap_min * lambda_1 (relative to the Gram matrix's largest eigenvalue).
  static R default_gap_min() { return std::pow(Eigen::NumTraits<R>::epsilon(), R(0.25)); }
  static R default_tau() { return std::pow(Eigen::NumTraits<R>::epsilon(), R(0.75)); }
  R gap_min = default_gap_min();
  R tau = default_tau();
  /// Real slices with n within the register budget form G and run their steps on the register
  /// kernels (kernels::gram_matrix, kernels/lanczos_step.hpp); false forces Eigen's rank update
  /// and steps (tests compare the two). Chosen at compile time by the best ISA compiled in (the
  /// multiply's KernelOverride does not reach it).
  bool register_steps = true;
  /// Lanczos steps of the last compute() (0 if it declined), for diagnostics.
  Index last_steps() const { return last_steps_; }

 private:
  /// Runs Lanczos on G_ until the leading c Ritz pairs are certified; returns the number of steps
  /// (and leaves the c leading Ritz vectors of T in ritz_vectors_), or 0 on failure.
  Index lanczos(Index c, std::uint64_t seed) {
    const Index n = G_.rows();
    const Index max_steps = std::min<Index>(n, 2 * c + 160);
    const R trace = G_.diagonal().real().sum();  // >= lambda_1, scale for breakdown tests
    const R tiny = R(4) * Eigen::NumTraits<R>::epsilon() * trace;
    Q_.resize(n, max_steps + 1);
    alpha_.resize(max_steps);
    beta_.resize(max_steps);
    scratch_.resize(max_steps + 1);
    Rng rng(seed);
    checked_ = false;
    if (!start_vector(0, rng)) return 0;
    // A check costs several steps: start when convergence is plausible, then aim at the step
    // where the fitted geometric decay of the residual reaches the certificate.
    Index next_check = std::min<Index>(max_steps, std::max<Index>(2 * c + 2, 20));
    Index prev_steps = 0;
    R prev_ratio = 0;
    for (Index j = 0; j < max_steps; ++j) {
      step(j);
      const Index steps = j + 1;
      if (steps < n) {
        if (beta_[j] > tiny) {
          Q_.col(steps) = w_ * (R(1) / beta_[j]);  // a vector division would cost ~5% here
        } else {  // invariant subspace found: continue from a fresh direction, decoupled
          beta_[j] = R(0);
          if (!start_vector(steps, rng)) return 0;
        }
      }
      if (steps < next_check) continue;
      const R ratio = check(steps, c);  // <= 1: certified
      if (ratio <= R(1)) return steps;
      // Residuals fall geometrically: aim the next check at the predicted step (at most 16 ahead).
      Index ahead = 12;
      if (prev_steps > 0 && ratio < prev_ratio && std::isfinite(ratio)) {
        const R per_step = std::log(prev_ratio / ratio) / R(steps - prev_steps);
        ahead = std::clamp<Index>(Index(std::ceil(std::log(ratio) / per_step)), 1, 16);
      }
      prev_steps = steps;
      prev_ratio = std::isfinite(ratio) ? ratio : R(0);
      next_check = std::min<Index>(max_steps, steps + ahead);
      if (steps == max_steps) break;
    }
    return 0;
  }

  /// w_ = the next Lanczos vector before normalization; sets alpha_[j] and beta_[j]. The three-term
  /// recurrence first, then one full reorthogonalization pass that removes what rounding left
  /// (its j-th coefficient corrects alpha_j). Left to the full pass alone, the recurrence's large
  /// components made the DGKS test ask for a second pass every step.
  void step(Index j) {
    const Index n = G_.rows();
    if constexpr (kRegisterLimit > 0) {
      if (register_path(n)) {
        using V = typename kernels::VecFor<T, kPath>::type;
        constexpr int NV = kernels::lanczos_step_vectors<T, kPath>();
        y_.resize(n);
        kernels::gemv_in_registers<V, NV>(n, n, G_.data(), Q_.col(j).data(), y_.data());
        const auto r = kernels::lanczos_step<V, NV>(n, y_.data(), Q_.data(), j, j > 0 ? beta_[j - 1] : T(0),
                                                    w_.data(), scratch_.data());
        alpha_[j] = r.alpha;
        beta_[j] = r.beta;
        return;
      }
    }
    w_.noalias() = G_ * Q_.col(j);
    alpha_[j] = std::real(Q_.col(j).dot(w_));
    w_ -= alpha_[j] * Q_.col(j);
    if (j > 0) w_ -= beta_[j - 1] * Q_.col(j - 1);
    alpha_[j] += std::real(orthogonalize(j + 1)[j]);
    beta_[j] = w_.norm();
  }

  static constexpr KernelPath kPath = kernels::best_path<T>();
  static constexpr Index kRegisterLimit = kernels::lanczos_step_max_size<T, kPath>();
  bool register_path(Index n) const { return register_steps && n <= kRegisterLimit; }

  /// Sets Q_.col(j) to a random unit vector orthogonal to columns 0..j-1; false if none is left.
  bool start_vector(Index j, Rng& rng) {
    w_.resize(G_.rows());
    const Index n = w_.size();
    // A random direction keeps about sqrt((n-j)/n) of its length outside a j-dimensional
    // subspace; far less means it lay (numerically) inside it. Near the full dimension a fair
    // draw can still fall short, so three draws are allowed. (A fixed 0.5 with one draw declined
    // slices whose Krylov space became invariant a step or two before the full dimension.)
    for (int attempt = 0; attempt < 3; ++attempt) {
      for (Index i = 0; i < n; ++i) w_[i] = rng.uniform_scalar<T>(1.0);
      const R before = w_.norm();
      orthogonalize(j);
      const R norm = w_.norm();
      if (norm > R(0.25) * before * std::sqrt(R(n - j) / R(n))) {
        Q_.col(j) = w_ * (R(1) / norm);
        return true;
      }
    }
    return false;
  }

  /// w_ -= Q_[:, :j] Q_[:, :j]^H w_, repeated once when the first pass removed most of w_ (the
  /// DGKS criterion; "twice is enough"). Returns the first pass's coefficients.
  const Vec& orthogonalize(Index j) {
    h_.resize(j);
    if (j == 0) return h_;
    const R before = w_.norm();
    h_.noalias() = Q_.leftCols(j).adjoint() * w_;
    w_.noalias() -= Q_.leftCols(j) * h_;
    if (w_.norm() < R(0.7071) * before) {
      h2_.noalias() = Q_.leftCols(j).adjoint() * w_;
      w_.noalias() -= Q_.leftCols(j) * h2_;
    }
    return h_;
  }

  /// Tests the certificate for the leading c Ritz pairs of T_steps. Davis-Kahan gives
  /// sin(angle) <= ||residual||_F / gap with gap = theta_{c-1} - (theta_c + r_c), where the
  /// residual of Ritz pair i in the full space, G Q y - theta Q y = Q (T y - theta y) +
  /// beta_last y[last] q_next, has norm r_i = hypot(beta_last y_i[last], ||T y_i - theta_i y_i||). Returns ||residual|| / (tau gap) (<= 1: certified, and the
  /// Ritz vectors are in ritz_vectors_), or infinity while the gap is below gap_min lambda_1.
  /// A check whose residual exceeds tau times an upper bound of the gap (theta_c known only to
  /// its bracket) fails without the (c+1)-th vector, returning the ratio against that bound.
  R check(Index steps, Index c) {
    // A later check's T extends the earlier one: its Ritz values are good first probes.
    tri_.compute(alpha_.head(steps), beta_.head(steps - 1), c + 1, checked_ ? tri_.values().data() : nullptr, c);
    checked_ = true;
    const RVec& theta = tri_.values();  // descending
    const auto& Y = tri_.vectors();
    const RVec& rho = tri_.residuals();  // T y - theta y: adds to the Ritz residual, orthogonally
    const R b = beta_[steps - 1];
    const R res = std::sqrt((b * Y.row(steps - 1).head(c)).squaredNorm() + rho.head(c).squaredNorm());
    // theta_c is known to within the bracket, so the gap is at most theta_{c-1} - theta_c + width:
    // a check that fails even that bound is decided without the (c+1)-th vector.
    const auto too_small = [&](R gap) { return !(theta[0] > R(0)) || !(gap >= gap_min * theta[0]); };
    const R gap_bound = theta[c - 1] - (theta[c] - tri_.bracket_width());
    if (too_small(gap_bound)) return std::numeric_limits<R>::infinity();
    if (res > tau * gap_bound) return res / (tau * gap_bound);
    tri_.add_vector(c);
    const R gap = theta[c - 1] - (theta[c] + std::hypot(b * Y(steps - 1, c), rho[c]));
    if (too_small(gap)) return std::numeric_limits<R>::infinity();
    const R ratio = res / (tau * gap);
    if (ratio <= R(1)) ritz_vectors_ = Y.leftCols(c).template cast<T>();
    return ratio;
  }

  Index last_steps_ = 0;
  bool checked_ = false;  ///< a check of this run has filled tri_ (its values guide the next)
  Mat Ss_, G_, Q_, V_, B_, ritz_vectors_;
  Vec w_, h_, h2_, r_, scratch_, y_, pack_;
  RVec alpha_, beta_;
  TridiagonalTopEigen<R> tri_;
};

}  // namespace monarch::detail
