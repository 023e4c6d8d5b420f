// monarch::detail: the few leading eigenpairs of a small real symmetric tridiagonal matrix T
// (diagonal a[0..n), off-diagonal b[0..n-1)), as Lanczos needs them at every convergence check:
// eigenvalues by Sturm-sequence multisection (robust, O(n) per pass), eigenvectors by inverse
// iteration with a pivoted tridiagonal LU (O(n)). Eigen's dense tridiagonal QR costs ~30 us at
// n = 32 even for eigenvalues alone; this costs a few microseconds for two pairs.
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "../scalar.hpp"

namespace monarch::detail {

template <class R>
class TridiagonalTopEigen {
 public:
  using RVec = Eigen::Matrix<R, Eigen::Dynamic, 1>;
  using RMat = Eigen::Matrix<R, Eigen::Dynamic, Eigen::Dynamic>;
  /// The diagonal and off-diagonal, read in place (Lanczos passes heads of longer vectors).
  using Coeffs = Eigen::Ref<const RVec>;

  /// Computes the `count` largest eigenvalues (descending, values()) of T = tridiag(b, a, b),
  /// n = a.size() >= count, and orthonormal eigenvectors (columns of vectors()) for the first
  /// `with_vectors` of them (all by default; add_vector() adds more later). Eigenvalues with a
  /// vector are Rayleigh quotients; the others are known to within bracket_width(). `guesses`
  /// (count values, descending, or null), e.g. the eigenvalues of a leading block of T from an
  /// earlier call, only place the first probes: every probe is classified by a Sturm count, so
  /// any guess is safe (they may point into values()), and a good one saves about half the
  /// passes. With guesses, the vectors the previous call computed (zero-padded) also start the
  /// inverse iteration.
  void compute(const Coeffs& a, const Coeffs& b, Index count, const R* guesses = nullptr, Index with_vectors = -1) {
    const Index n = a.size();
    // Gershgorin interval and norm (the scale for perturbing zero pivots) of the caller's T.
    R lo = a[0], hi = a[0], norm = 0;
    for (Index i = 0; i < n; ++i) {
      const R off = (i > 0 ? std::abs(b[i - 1]) : R(0)) + (i + 1 < n ? std::abs(b[i]) : R(0));
      lo = std::min(lo, a[i] - off);
      hi = std::max(hi, a[i] + off);
      norm = std::max(norm, std::abs(a[i]) + off);
    }
    // Everything runs on T / 2^e with ||T / 2^e|| in [1, 2) (exact): the Sturm chains' range
    // checks and the zero-pivot floor assume a unit scale, whatever the scale of the caller's T.
    const int exponent = norm > R(0) && std::isfinite(norm) ? std::ilogb(norm) : 0;
    scale_ = std::ldexp(R(1), exponent);
    a_ = a;
    b_ = b;
    scale_by_pow2(a_, -exponent);
    scale_by_pow2(b_, -exponent);
    b2_ = b_.cwiseAbs2();
    lo_ = lo / scale_;
    hi_ = hi / scale_;
    norm_ = norm / scale_;
    // A column starts warm only if the previous call computed it (columns it skipped may be zero).
    const bool extends = guesses != nullptr && vectors_.cols() == count && vectors_.rows() <= n;
    warm_.assign(static_cast<std::size_t>(count), 0);
    if (extends) warm_ = has_vector_;
    has_vector_.assign(static_cast<std::size_t>(count), 0);
    const Index old_rows = extends ? vectors_.rows() : 0;
    vectors_.conservativeResize(n, count);
    vectors_.bottomRows(n - old_rows).setZero();
    if (guesses != nullptr) {  // copied before values_ changes: guesses may point into values()
      guesses_ = Eigen::Map<const RVec>(guesses, count);
      scale_by_pow2(guesses_, -exponent);
    }
    bisect(count, guesses != nullptr ? guesses_.data() : nullptr);
    values_ = Eigen::Map<const RVec>(mid_.data(), count) * scale_;
    residuals_.setConstant(count, std::numeric_limits<R>::infinity());
    for (Index i = 0; i < (with_vectors < 0 ? count : std::min(with_vectors, count)); ++i) add_vector(i);
  }

  /// Eigenvector i (and its Rayleigh-quotient eigenvalue and residual) of the last compute()'s T.
  void add_vector(Index i) {
    inverse_iteration(i, mid_[static_cast<std::size_t>(i)], warm_[static_cast<std::size_t>(i)] != 0);
    values_[i] = rayleigh_quotient(vectors_.col(i)) * scale_;
    residuals_[i] = residual(i) * scale_;
    has_vector_[static_cast<std::size_t>(i)] = 1;
  }

  /// How far an eigenvalue without a vector may be from values()[i]: the bisection tolerance
  /// plus the Sturm count's own rounding (a few eps ||T||; n eps ||T|| to be safe).
  R bracket_width() const { return (tol_ + R(a_.size()) * Eigen::NumTraits<R>::epsilon() * norm_) * scale_; }

  const RVec& values() const { return values_; }
  /// ||T y_i - values()[i] y_i||: how far each computed pair is from an exact one (tiny unless
  /// two eigenvalues are too close for the inverse iteration to separate them).
  const RVec& residuals() const { return residuals_; }
  const RMat& vectors() const { return vectors_; }

 private:
  /// Sturm chains evaluated together by count_below: a fixed count, so the loop over them is a
  /// few full SIMD vectors, and the chains' latencies overlap.
  static constexpr int kChains = 16;
  /// Rows between range checks of the chains. On the unit-scaled T one row changes a chain by
  /// a factor of at least about eps * min(|a_i - x|, b_i^2) and at most 3: float's range allows
  /// one row, double's four.
  static constexpr int kRescaleEvery = std::numeric_limits<R>::max_exponent >= 1024 ? 4 : 1;

  /// counts[k] = number of eigenvalues of T below x[k], k < kChains. Uses the Sturm sequence
  /// q_i = det(T_i - x I) (sign changes = negative pivots of T - x I = L D L^T) with
  /// multiplications only, rescaled every few steps: the usual pivot recurrence would wait on
  /// one division per row.
  void count_below(const R* x, Index* counts) const {
    R qprev[kChains], qcur[kChains], below[kChains];
    for (int k = 0; k < kChains; ++k) {
      qprev[k] = qcur[k] = R(1);
      below[k] = R(0);
    }
    const R eps = std::numeric_limits<R>::epsilon();
    const R big = R(1) / std::sqrt(eps) * R(1e6), small = R(1) / big;
    for (Index i = 0; i < a_.size(); ++i) {
      const R ai = a_[i], b2 = i > 0 ? b2_[i - 1] : R(0);
      for (int k = 0; k < kChains; ++k) {
        R q = (ai - x[k]) * qcur[k] - b2 * qprev[k];
        q = q == R(0) ? -qcur[k] * eps : q;  // a zero pivot counts as negative
        below[k] += (q < R(0)) != (qcur[k] < R(0)) ? R(1) : R(0);
        qprev[k] = qcur[k];
        qcur[k] = q;
      }
      if (i % kRescaleEvery != kRescaleEvery - 1) continue;
      // Rescale (by 1/m, exactly normalizing) only when some chain left [small, big]: on most
      // matrices none does, and a vector division every fourth row doubled the cost.
      R m[kChains];
      bool rescale = false;
      for (int k = 0; k < kChains; ++k) {
        m[k] = std::max(std::abs(qcur[k]), std::abs(qprev[k]));
        rescale |= m[k] > big || m[k] < small;
      }
      if (rescale)
        for (int k = 0; k < kChains; ++k) {
          const R f = m[k] > big || m[k] < small ? R(1) / m[k] : R(1);
          qcur[k] *= f;
          qprev[k] *= f;
        }
    }
    for (int k = 0; k < kChains; ++k) counts[k] = static_cast<Index>(below[k]);
  }

  /// The eigenvalues by multisection in lockstep: each pass splits every open bracket at up to
  /// kChains / (open brackets) points, so two eigenvalues narrow ninefold per pass instead of
  /// twofold. Each is bracketed to ~1e-7 of the spectrum's width: the inverse iteration that
  /// follows converges from there, and the Rayleigh quotient finishes the eigenvalue.
  void bisect(Index count, const R* guesses) {
    const Index n = a_.size();
    const R width = hi_ - lo_ + std::numeric_limits<R>::min();
    const R eps = Eigen::NumTraits<R>::epsilon();
    const R tol = std::max(R(1e-7), R(8) * eps) * width;
    tol_ = tol;
    const auto ucount = static_cast<std::size_t>(count);
    blo_.assign(ucount, lo_ - eps * width);
    bhi_.assign(ucount, hi_ + eps * width);
    mid_.resize(ucount);
    R x[kChains];
    Index counts[kChains], owner[kChains];
    for (int pass = 0; pass < 200; ++pass) {
      open_.clear();
      for (std::size_t k = 0; k < ucount; ++k)
        if (bhi_[k] - blo_[k] > tol) open_.push_back(static_cast<Index>(k));
      if (open_.empty()) break;
      const Index per = std::max<Index>(1, kChains / static_cast<Index>(open_.size()));
      int used = 0;
      for (std::size_t o = 0; o < open_.size() && used + per <= kChains; ++o) {
        const auto k = static_cast<std::size_t>(open_[o]);
        for (Index j = 0; j < per; ++j, ++used) {
          // First pass with a guess g: probes g - tol, g, then g + tol * 8^i, widening upwards
          // (Ritz values of a longer Lanczos run only grow). Otherwise equally spaced.
          x[used] = pass == 0 && guesses != nullptr
                        ? guesses[k] + (j < 2 ? R(j) - R(1) : std::ldexp(R(1), 3 * static_cast<int>(j - 2))) * tol
                        : blo_[k] + (bhi_[k] - blo_[k]) * R(j + 1) / R(per + 1);
          owner[used] = open_[o];
        }
      }
      for (int j = used; j < kChains; ++j) x[j] = x[0];  // idle chains repeat a point
      count_below(x, counts);
      for (int j = 0; j < used; ++j) {  // the (k+1)-th largest eigenvalue has ascending index n-1-k
        const auto k = static_cast<std::size_t>(owner[j]);
        if (counts[j] <= n - 1 - owner[j]) blo_[k] = std::max(blo_[k], x[j]);
        else bhi_[k] = std::min(bhi_[k], x[j]);
      }
    }
    for (std::size_t k = 0; k < ucount; ++k) mid_[k] = blo_[k] + (bhi_[k] - blo_[k]) / 2;
  }

  /// Column i of vectors_: inverse iteration at `shift`, kept orthogonal to columns 0..i-1
  /// (which matters only inside clusters, as in LAPACK's dstein).
  void inverse_iteration(Index i, R shift, bool warm) {
    const Index n = a_.size();
    factorize(shift);
    auto y = vectors_.col(i);
    if (!warm || !(y.squaredNorm() > R(0)))
      for (Index t = 0; t < n; ++t) y[t] = R(1) + R(0.125) * R((t * 7 + i * 3) & 7);  // generic start
    // The shift is within 1e-7 of the spectrum's width: each solve shrinks the other components
    // by about that much relative to the gap, so three solves from a generic start, two from a
    // warm one, reach rounding level.
    for (int it = 0; it < (warm ? 2 : 3); ++it) {
      solve(y);
      for (Index k = 0; k < i; ++k)  // against this call's vectors only (others may be stale)
        if (has_vector_[static_cast<std::size_t>(k)]) y -= vectors_.col(k).dot(y) * vectors_.col(k);
      const R nrm = y.norm();
      if (!(nrm > R(0))) break;
      y *= R(1) / nrm;
    }
  }

  /// ||T y_i - theta_i y_i|| for the computed pair i.
  R residual(Index i) const {
    const auto y = vectors_.col(i);
    const Index n = a_.size();
    const R theta = values_[i] / scale_;
    R sum = 0;
    for (Index t = 0; t < n; ++t) {
      R v = (a_[t] - theta) * y[t];
      if (t > 0) v += b_[t - 1] * y[t - 1];
      if (t + 1 < n) v += b_[t] * y[t + 1];
      sum += v * v;
    }
    return std::sqrt(sum);
  }

  /// y^T T y for a unit vector y.
  template <class V>
  R rayleigh_quotient(const V& y) const {
    R v = 0;
    const Index n = a_.size();
    for (Index i = 0; i < n; ++i) v += a_[i] * y[i] * y[i] + (i + 1 < n ? R(2) * b_[i] * y[i] * y[i + 1] : R(0));
    return v;
  }

  /// Pivoted LU of T - theta I (LAPACK dgttrf), zero pivots nudged to eps*||T||.
  void factorize(R theta) {
    const Index n = a_.size();
    d_ = a_.array() - theta;
    dl_ = b_;
    du_ = b_;
    du2_ = RVec::Zero(std::max<Index>(n - 2, 0));
    swap_.assign(static_cast<std::size_t>(std::max<Index>(n - 1, 0)), 0);
    for (Index i = 0; i + 1 < n; ++i) {
      if (std::abs(d_[i]) >= std::abs(dl_[i])) {
        const R fact = d_[i] != R(0) ? dl_[i] / d_[i] : R(0);
        dl_[i] = fact;
        d_[i + 1] -= fact * du_[i];
      } else {
        const R fact = d_[i] / dl_[i];
        d_[i] = dl_[i];
        dl_[i] = fact;
        const R temp = du_[i];
        du_[i] = d_[i + 1];
        d_[i + 1] = temp - fact * d_[i + 1];
        if (i + 2 < n) {
          du2_[i] = du_[i + 1];
          du_[i + 1] = -fact * du_[i + 1];
        }
        swap_[static_cast<std::size_t>(i)] = 1;
      }
    }
    const R pert = Eigen::NumTraits<R>::epsilon() * std::max(norm_, std::numeric_limits<R>::min());
    for (Index i = 0; i < n; ++i)
      if (std::abs(d_[i]) < pert) d_[i] = d_[i] < R(0) ? -pert : pert;
    inv_d_ = d_.cwiseInverse();  // the solves multiply: a division per row would chain their latency
  }

  /// y <- (T - theta I)^{-1} y with the factorization above (LAPACK dgttrs).
  template <class V>
  void solve(V& y) const {
    const Index n = d_.size();
    for (Index i = 0; i + 1 < n; ++i) {  // row interchanges as selects: pivots follow no pattern
      const bool swapped = swap_[static_cast<std::size_t>(i)] != 0;
      const R yi = y[i], yn = y[i + 1];
      y[i] = swapped ? yn : yi;
      y[i + 1] = (swapped ? yi : yn) - dl_[i] * y[i];
    }
    for (Index i = n - 1; i >= 0; --i) {
      R v = y[i];
      if (i + 1 < n) v -= du_[i] * y[i + 1];
      if (i + 2 < n) v -= du2_[i] * y[i + 2];
      y[i] = v * inv_d_[i];
    }
  }

  RVec a_, b_, b2_, guesses_, values_, residuals_, d_, dl_, du_, du2_, inv_d_;  // a_, b_: T / scale_
  R scale_ = 1;
  std::vector<unsigned char> warm_, has_vector_;  // per column: start warm / computed by this call
  std::vector<R> blo_, bhi_, mid_;
  std::vector<Index> open_;
  RMat vectors_;
  std::vector<unsigned char> swap_;
  R lo_ = 0, hi_ = 0, norm_ = 0, tol_ = 0;
};

}  // namespace monarch::detail
