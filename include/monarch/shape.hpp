// monarch: the shape of a Monarch matrix in the authors' factor layout.
//
//   w1 : (k, q, p)   k blocks, each q x p (out x in)    -- the paper's R
//   w2 : (l, s, r)   l blocks, each s x r (out x in)    -- the paper's L
//   constraint k*q = l*r = N (the intermediate length, one "channel" per index)
//   M = Pi(l,s) . BD(w2) . Pi(r,l) . BD(w1)   is (l*s) x (k*p)
//
// See docs/math.md §2.3; the factories reproduce the shapes the authors use.
#pragma once

#include <cmath>
#include <limits>
#include <ostream>

#include "errors.hpp"
#include "scalar.hpp"

namespace monarch {

struct Shape {
  Index k = 0, q = 0, p = 0;  ///< w1: k blocks of q x p
  Index l = 0, s = 0, r = 0;  ///< w2: l blocks of s x r

  /// Number of rows of M (output length n_out = l*s).
  constexpr Index rows() const { return l * s; }
  /// Number of columns of M (input length n_in = k*p).
  constexpr Index cols() const { return k * p; }
  /// Intermediate length N = k*q (= l*r for a valid shape).
  constexpr Index inner() const { return k * q; }
  /// Parameters k*q*p + l*s*r; also the multiply-accumulates per input vector (docs/math.md §7).
  constexpr Index num_params() const { return k * q * p + l * s * r; }
  /// Regular shapes (l | q) have exactly rank() = q/l channels in every (e,a) slice.
  constexpr bool is_regular() const { return l > 0 && q % l == 0; }
  /// Slice rank rho = q/l of a regular shape; 0 for an irregular one.
  constexpr Index rank() const { return is_regular() ? q / l : 0; }

  /// Throws ShapeError unless every extent is positive, k*q == l*r, and every size derived from
  /// the shape (rows(), cols(), inner(), the factor sizes k*q*p and l*s*r and num_params()) fits
  /// in Index: after validate() none of the accessors above can overflow.
  void validate(const char* where = "Shape") const {
    detail::require_shape(k > 0 && q > 0 && p > 0 && l > 0 && s > 0 && r > 0, where,
                          ": every extent must be positive, given ", *this);
    // k*q*p bounds k*q and k*p, and l*s*r bounds l*r and l*s, since every extent is >= 1.
    const Index w1 = detail::checked_product(where, k, q, p), w2 = detail::checked_product(where, l, s, r);
    detail::require_shape(k * q == l * r, where, ": k*q must equal l*r, given ", *this, " with k*q = ",
                          k * q, " and l*r = ", l * r);
    detail::require_shape(w1 <= std::numeric_limits<Index>::max() - w2, where, ": the parameter count ", w1,
                          " + ", w2, " of ", *this, " does not fit in Index");
  }

  /// The paper's square Monarch, n = m*m: w1 (m,m,m), w2 (m,m,m).
  static Shape square(Index m) {
    Shape sh{m, m, m, m, m, m};
    sh.validate("Shape::square");
    return sh;
  }

  /// The factor shapes of the authors' MonarchLinear(in_features, out_features, nblocks)
  /// (docs/math.md §2.3 table). cols() may exceed in_features and rows() out_features: the layer
  /// zero-pads the input and keeps the first out_features outputs.
  static Shape monarch_linear(Index in_features, Index out_features, Index nblocks) {
    detail::require_shape(in_features > 0 && out_features > 0 && nblocks > 0,
                          "Shape::monarch_linear: sizes must be positive, given in_features = ",
                          in_features, ", out_features = ", out_features, ", nblocks = ", nblocks);
    const Index b = nblocks;
    const Index in_blk = detail::ceil_div(in_features, b);    // I = ceil(in / b)
    const Index out_blk = detail::ceil_div(out_features, b);  // O = ceil(out / b)
    // The authors compare b*I < b*O; with b > 0 that is I < O, without the product.
    const Shape sh = in_blk < out_blk ? Shape{b, in_blk, in_blk, b, out_blk, in_blk}
                                      : Shape{b, out_blk, in_blk, b, out_blk, out_blk};
    sh.validate("Shape::monarch_linear");
    return sh;
  }

  /// The shapes of the authors' einsum projection of an (out x in) matrix with nblocks1 = K
  /// w1-blocks, nblocks2 = J w2-blocks and slice rank rho:
  /// w1 (K, rho*J, in/K), w2 (J, out/J, K*rho). rho = 1 is `..._einsum_simple`.
  static Shape einsum(Index out, Index in, Index nblocks1, Index nblocks2, Index rho = 1) {
    detail::require_shape(out > 0 && in > 0 && nblocks1 > 0 && nblocks2 > 0 && rho > 0,
                          "Shape::einsum: sizes must be positive, given out = ", out, ", in = ", in,
                          ", nblocks1 = ", nblocks1, ", nblocks2 = ", nblocks2, ", rank = ", rho);
    detail::require_shape(in % nblocks1 == 0, "Shape::einsum: nblocks1 = ", nblocks1,
                          " must divide in = ", in);
    detail::require_shape(out % nblocks2 == 0, "Shape::einsum: nblocks2 = ", nblocks2,
                          " must divide out = ", out);
    const Shape sh{nblocks1, detail::checked_product("Shape::einsum", rho, nblocks2), in / nblocks1, nblocks2,
                   out / nblocks2, detail::checked_product("Shape::einsum", nblocks1, rho)};
    sh.validate("Shape::einsum");
    return sh;
  }

  /// The authors' default for projecting a square n x n matrix (`blockdiag_butterfly_project`,
  /// sizes = (n/i, i) with i the largest divisor of n that is <= sqrt(n)): w1 (K, J, n/K),
  /// w2 (J, n/J, K) with J = i and K = n/i. For n = m*m this is square(m). The n x n matrix's
  /// size n*n must fit in Index.
  static Shape projection_default(Index n) {
    detail::require_shape(n > 0, "Shape::projection_default: n must be positive, given ", n);
    detail::checked_product("Shape::projection_default", n, n);
    // i = floor(sqrt(n)), corrected for the rounding of the double square root; i*i <= n is
    // tested as i <= n / i so that no square can overflow.
    Index i = static_cast<Index>(std::sqrt(static_cast<double>(n)));
    while (i > n / i) --i;
    while (i + 1 <= n / (i + 1)) ++i;
    while (n % i != 0) --i;
    return einsum(n, n, n / i, i, 1);
  }

  friend constexpr bool operator==(const Shape& a, const Shape& b) {
    return a.k == b.k && a.q == b.q && a.p == b.p && a.l == b.l && a.s == b.s && a.r == b.r;
  }
  friend constexpr bool operator!=(const Shape& a, const Shape& b) { return !(a == b); }
  friend std::ostream& operator<<(std::ostream& os, const Shape& sh) {
    return os << "(k,q,p | l,s,r) = (" << sh.k << ',' << sh.q << ',' << sh.p << " | " << sh.l << ','
              << sh.s << ',' << sh.r << ')';
  }
};

}  // namespace monarch
