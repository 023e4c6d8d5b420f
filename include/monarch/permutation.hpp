// monarch: permutations of vectors, in the convention (P v)[i] = v[perm[i]] (numpy's v[perm]).
// As a matrix, P[i, perm[i]] = 1.
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <utility>
#include <vector>

#include "errors.hpp"
#include "scalar.hpp"
#include "view.hpp"

namespace monarch {

class Permutation {
 public:
  /// The identity of size 0.
  Permutation() = default;

  /// From an index vector: (P v)[i] = v[indices[i]]. Throws ValueError unless `indices` is a
  /// permutation of 0..size-1.
  explicit Permutation(std::vector<Index> indices) : perm_(std::move(indices)) {
    std::vector<char> seen(perm_.size(), 0);
    for (std::size_t i = 0; i < perm_.size(); ++i) {
      const Index v = perm_[i];
      detail::require_value(v >= 0 && v < size() && !seen[static_cast<std::size_t>(v)],
                            "Permutation: indices must be a permutation of 0..", size() - 1,
                            ", but entry ", i, " is ", v,
                            (v >= 0 && v < size()) ? " (repeated)" : " (out of range)");
      seen[static_cast<std::size_t>(v)] = 1;
    }
  }

  static Permutation identity(Index n) {
    detail::require_shape(n >= 0, "Permutation::identity: size must be >= 0, given ", n);
    Permutation p;
    p.perm_.resize(static_cast<std::size_t>(n));
    for (Index i = 0; i < n; ++i) p.perm_[static_cast<std::size_t>(i)] = i;
    return p;
  }

  /// Pi(a,b) of docs/math.md §1.1: view a length a*b vector as an a x b row-major matrix, transpose,
  /// flatten: (Pi(a,b) v)[j*a + i] = v[i*b + j]. The paper's P_(b,n) is Pi(b, n/b), and its square
  /// Monarch permutation is P = Pi(m, m). Pi(a,b)^-1 = Pi(b,a).
  static Permutation transpose(Index a, Index b) {
    detail::require_shape(a > 0 && b > 0, "Permutation::transpose: a and b must be positive, given a = ",
                          a, ", b = ", b);
    const Index n = detail::checked_product("Permutation::transpose", a, b);
    Permutation p;
    p.perm_.resize(static_cast<std::size_t>(n));
    // One loop over v = i*b + j bounded by n: every index below is < n, visibly to the compiler.
    for (Index v = 0; v < n; ++v) p.perm_[static_cast<std::size_t>((v % b) * a + v / b)] = v;
    return p;
  }

  Index size() const { return static_cast<Index>(perm_.size()); }
  const std::vector<Index>& indices() const { return perm_; }
  Index operator[](Index i) const { return perm_[static_cast<std::size_t>(i)]; }

  /// P^-1 = P^T.
  Permutation inverse() const {
    Permutation inv;
    inv.perm_.resize(perm_.size());
    for (std::size_t i = 0; i < perm_.size(); ++i) inv.perm_[static_cast<std::size_t>(perm_[i])] = static_cast<Index>(i);
    return inv;
  }

  /// The matrix product P*Q: (P*Q) v = P (Q v).
  friend Permutation operator*(const Permutation& p, const Permutation& q) {
    detail::require_shape(p.size() == q.size(), "Permutation product: sizes differ, ", p.size(), " and ",
                          q.size());
    Permutation pq;
    pq.perm_.resize(p.perm_.size());
    for (std::size_t i = 0; i < p.perm_.size(); ++i)
      pq.perm_[i] = q.perm_[static_cast<std::size_t>(p.perm_[i])];
    return pq;
  }

  friend bool operator==(const Permutation& a, const Permutation& b) { return a.perm_ == b.perm_; }
  friend bool operator!=(const Permutation& a, const Permutation& b) { return !(a == b); }

  /// P v for a vector v of length size().
  template <class Derived>
  Eigen::Matrix<typename Derived::Scalar, Eigen::Dynamic, 1> apply(const Eigen::DenseBase<Derived>& v) const {
    static_assert(Derived::IsVectorAtCompileTime, "Permutation::apply takes a vector; use permute_rows / permute_cols for a batch");
    detail::require_shape(v.size() == size(), "Permutation::apply: vector has length ", v.size(),
                          ", expected ", size());
    Eigen::Matrix<typename Derived::Scalar, Eigen::Dynamic, 1> out(size());
    for (Index i = 0; i < size(); ++i) out[i] = v.derived().coeff(perm_[static_cast<std::size_t>(i)]);
    return out;
  }

  /// P X: row i of the result is row perm[i] of X (X has size() rows).
  template <class Derived>
  typename Derived::PlainObject permute_rows(const Eigen::DenseBase<Derived>& X) const {
    detail::require_shape(X.rows() == size(), "Permutation::permute_rows: X has ", X.rows(),
                          " rows, expected ", size());
    typename Derived::PlainObject out(X.rows(), X.cols());
    for (Index i = 0; i < size(); ++i) out.row(i) = X.derived().row(perm_[static_cast<std::size_t>(i)]);
    return out;
  }

  /// X P^T: applies P to every row vector of a PyTorch-layout batch (X has size() columns);
  /// column i of the result is column perm[i] of X.
  template <class Derived>
  typename Derived::PlainObject permute_cols(const Eigen::DenseBase<Derived>& X) const {
    detail::require_shape(X.cols() == size(), "Permutation::permute_cols: X has ", X.cols(),
                          " columns, expected ", size());
    typename Derived::PlainObject out(X.rows(), X.cols());
    for (Index i = 0; i < size(); ++i) out.col(i) = X.derived().col(perm_[static_cast<std::size_t>(i)]);
    return out;
  }

  /// The dense size() x size() matrix with P[i, perm[i]] = 1.
  template <class T = double>
  Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic> to_dense() const {
    detail::checked_product("Permutation::to_dense", size(), size());
    Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic> d = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>::Zero(size(), size());
    for (Index i = 0; i < size(); ++i) d(i, perm_[static_cast<std::size_t>(i)]) = T(1);
    return d;
  }

 private:
  std::vector<Index> perm_;
};

}  // namespace monarch
