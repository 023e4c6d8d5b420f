// monarch: a raw pointer with strides, the form every kernel sees, and the zero-copy adaptation
// of directly addressable Eigen objects to it.
//
// A batch is a matrix whose rows are vectors (PyTorch layout: y_i = M x_i). Element (i, j) of a
// MatrixView lives at data[i * row_stride + j * col_stride], so row-major, column-major, blocks
// of larger matrices and transposed maps all fit without a copy.
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <cstdint>
#include <functional>
#include <limits>
#include <numeric>
#include <type_traits>
#include <utility>

#include "errors.hpp"
#include "scalar.hpp"

namespace monarch {

/// Non-owning strided view of a rows x cols matrix. T may be const.
template <class T>
struct MatrixView {
  T* data = nullptr;
  Index rows = 0, cols = 0;
  Index row_stride = 0;  ///< elements between (i, j) and (i+1, j)
  Index col_stride = 1;  ///< elements between (i, j) and (i, j+1)

  T& operator()(Index i, Index j) const { return data[i * row_stride + j * col_stride]; }
  T* row(Index i) const { return data + i * row_stride; }
  /// Implicit conversion to a read-only view.
  operator MatrixView<const std::remove_const_t<T>>() const {  // NOLINT(google-explicit-constructor)
    return {data, rows, cols, row_stride, col_stride};
  }
};

/// View over a contiguous row-major rows x cols array.
template <class T>
MatrixView<T> row_major_view(T* data, Index rows, Index cols) {
  return {data, rows, cols, cols, 1};
}

namespace detail {

/// Checks a view given to an API entry: rows and cols >= 0, data not null unless the view is
/// empty, and an address span ((rows-1)*|row_stride| + (cols-1)*|col_stride| + 1 elements) that
/// fits in the address space, so that no address or overlap computation on it can overflow.
/// `name` names the argument in the message ("input", "output").
template <class T>
void check_view(const char* where, const char* name, const MatrixView<T>& v) {
  require_shape(v.rows >= 0 && v.cols >= 0, where, ": ", name, " is ", v.rows, " x ", v.cols,
                ", expected rows and cols >= 0");
  if (v.rows == 0 || v.cols == 0) return;
  require_value(v.data != nullptr, where, ": ", name, " is ", v.rows, " x ", v.cols, " with null data");
  const Index lowest = std::numeric_limits<Index>::min(), largest = std::numeric_limits<Index>::max();
  Index row_span = 0, col_span = 0;
  const bool fits = v.row_stride != lowest && v.col_stride != lowest &&
                    product_fits({v.rows - 1, v.row_stride < 0 ? -v.row_stride : v.row_stride}, row_span) &&
                    product_fits({v.cols - 1, v.col_stride < 0 ? -v.col_stride : v.col_stride}, col_span) &&
                    row_span <= largest - col_span &&
                    row_span + col_span < largest / static_cast<Index>(sizeof(T));
  require_shape(fits, where, ": ", name, " is ", v.rows, " x ", v.cols, " with strides (", v.row_stride, ", ",
                v.col_stride, "), which span more than the address space");
}

/// check_view for a view that is written: besides, no dimension of more than one element may have
/// stride 0 (its elements would alias and be written over each other, by concurrent tasks too).
template <class T>
void check_output_view(const char* where, const char* name, const MatrixView<T>& v) {
  check_view(where, name, v);
  require_shape((v.rows <= 1 || v.row_stride != 0) && (v.cols <= 1 || v.col_stride != 0), where, ": ", name,
                " is ", v.rows, " x ", v.cols, " with strides (", v.row_stride, ", ", v.col_stride,
                "): a stride 0 makes its elements alias one another");
}

/// Lowest and one-past-highest address a view touches (empty views touch nothing).
template <class T>
std::pair<const void*, const void*> address_range(const MatrixView<T>& v) {
  if (v.rows == 0 || v.cols == 0) return {nullptr, nullptr};
  const T* lo = v.data;
  const T* hi = v.data;
  const Index dr = (v.rows - 1) * v.row_stride, dc = (v.cols - 1) * v.col_stride;
  lo += (dr < 0 ? dr : 0) + (dc < 0 ? dc : 0);
  hi += (dr > 0 ? dr : 0) + (dc > 0 ? dc : 0) + 1;
  return {static_cast<const void*>(lo), static_cast<const void*>(hi)};
}

/// floor(a / b) for b > 0 and any sign of a.
constexpr Index floor_div(Index a, Index b) { return a / b - (a % b < 0 ? 1 : 0); }
/// a mod m in [0, m) for m > 0.
constexpr Index floor_mod(Index a, Index m) { return a - floor_div(a, m) * m; }

/// a * b mod m for 0 <= a, b < m, by doubling where the plain product could overflow.
inline Index mul_mod(Index a, Index b, Index m) {
  if (a == 0 || b <= std::numeric_limits<Index>::max() / a) return a * b % m;
  Index r = 0;
  for (; b > 0; b >>= 1) {
    if (b & 1) r = r >= m - a ? r - (m - a) : r + a;
    a = a >= m - a ? a - (m - a) : a + a;
  }
  return r;
}

/// The inverse of a modulo m for gcd(a, m) = 1 and 0 <= a < m (extended Euclid; the Bezout
/// coefficients stay below m in magnitude).
inline Index inverse_mod(Index a, Index m) {
  Index r0 = m, r1 = a, t0 = 0, t1 = 1;
  while (r1 != 0) {
    const Index q = r0 / r1;
    r0 = std::exchange(r1, r0 - q * r1);
    t0 = std::exchange(t1, t0 - q * t1);
  }
  return floor_mod(t0, m);
}

/// Whether the progressions {sa + j*da : 0 <= j < na} and {sb + j*db : 0 <= j < nb} share a value
/// (da, db >= 0; a step is 0 only for a single term).
inline bool progressions_meet(Index sa, Index da, Index na, Index sb, Index db, Index nb) {
  const Index lo = std::max(sa, sb), hi = std::min(sa + (na - 1) * da, sb + (nb - 1) * db);
  if (lo > hi) return false;
  if (da == 0) return db == 0 || (sa - sb) % db == 0;  // sa lies in [sb, last of b]
  if (db == 0) return (sb - sa) % da == 0;
  // x = sa + da*t with da*t = sb - sa (mod db): (da/g) t = (sb-sa)/g (mod db/g).
  const Index g = std::gcd(da, db), diff = sb - sa;
  if (diff % g != 0) return false;
  const Index m = db / g;
  const Index t0 = mul_mod(floor_mod(diff / g, m), inverse_mod((da / g) % m, m), m);
  const Index t_min = ceil_div(lo - sa, da);             // first term >= lo
  const Index t = t_min + floor_mod(t0 - t_min, m);      // first solution >= t_min
  return t <= (hi - sa) / da;                            // its term is <= hi
}

/// A view's element offsets as parallel lines: base + k*outer + j*inner for 0 <= k < lines and
/// 0 <= j < length, with 0 <= inner and the lines running along the smaller stride.
struct Lattice {
  Index base, outer, lines, inner, length;
  Index span() const { return (length - 1) * inner; }
  Index last() const { return base + (lines - 1) * outer + span(); }
  /// The lines do not interleave: each one ends before the next begins.
  bool separated() const { return lines == 1 || span() < outer; }
  /// The first and last line whose range meets [lo, hi] (first > last if none).
  std::pair<Index, Index> lines_meeting(Index lo, Index hi) const {
    if (lines == 1) return {0, base <= hi && base + span() >= lo ? 0 : -1};
    return {std::max<Index>(0, -floor_div(base + span() - lo, outer)),
            std::min(lines - 1, floor_div(hi - base, outer))};
  }
};

/// The lattice of a view whose data lies `base` elements after the origin.
template <class T>
Lattice lattice(const MatrixView<T>& v, Index base) {
  Index n0 = v.rows, s0 = v.row_stride, n1 = v.cols, s1 = v.col_stride;
  // A dimension of extent 1 or stride 0 adds no addresses; a negative stride is walked backwards.
  if (n0 == 1 || s0 == 0) n0 = 1, s0 = 0;
  if (n1 == 1 || s1 == 0) n1 = 1, s1 = 0;
  if (s0 < 0) base += (n0 - 1) * s0, s0 = -s0;
  if (s1 < 0) base += (n1 - 1) * s1, s1 = -s1;
  if (n1 == 1 || (n0 > 1 && s0 < s1)) std::swap(n0, n1), std::swap(s0, s1);
  return {base, s0, n0, s1, n1};
}

/// Whether two lattices share an offset, line by line: exact, in time linear in their lines when
/// both are separated (the lines meeting one line of `a` are then consecutive and, summed over a's
/// lines, at most a.lines + b.lines).
inline bool lattices_meet(const Lattice& a, const Lattice& b) {
  const auto [k0, k1] = a.lines_meeting(b.base, b.last());
  for (Index k = k0; k <= k1; ++k) {
    const Index start = a.base + k * a.outer;
    const auto [m0, m1] = b.lines_meeting(start, start + a.span());
    for (Index m = m0; m <= m1; ++m)
      if (progressions_meet(start, a.inner, a.length, b.base + m * b.outer, b.inner, b.length)) return true;
  }
  return false;
}

/// True when two views share an element. Exact for views of one element type whose data pointers
/// are a whole number of elements apart and whose lines (rows, or columns when the column stride
/// is the smaller one) do not interleave: every Eigen matrix, map and block, so disjoint
/// interleaved blocks of one buffer are accepted. Otherwise conservative: compares address ranges.
/// The views must have passed check_view.
template <class A, class B>
bool may_overlap(const MatrixView<A>& a, const MatrixView<B>& b) {
  const auto ra = address_range(a), rb = address_range(b);
  if (ra.first == nullptr || rb.first == nullptr) return false;
  const std::less<const void*> before;
  if (!before(ra.first, rb.second) || !before(rb.first, ra.second)) return false;
  if constexpr (sizeof(A) != sizeof(B)) {
    return true;
  } else {
    // The ranges meet, so the distance fits in Index (both spans do, by check_view).
    const auto pa = reinterpret_cast<std::uintptr_t>(a.data), pb = reinterpret_cast<std::uintptr_t>(b.data);
    const std::uintptr_t gap = pb >= pa ? pb - pa : pa - pb;
    if (gap % sizeof(A) != 0) return true;
    const Index d = static_cast<Index>(gap / sizeof(A));
    const Lattice la = lattice(a, 0), lb = lattice(b, pb >= pa ? d : -d);
    if (!la.separated() || !lb.separated()) return true;
    return la.lines <= lb.lines ? lattices_meet(la, lb) : lattices_meet(lb, la);
  }
}

template <class Derived>
inline constexpr bool has_direct_access_v = bool(Eigen::internal::traits<Derived>::Flags & Eigen::DirectAccessBit);

/// The one diagnostic for an expression where memory is needed; returns whether compilation
/// should go on (callers stop with `if constexpr`, so no follow-up errors bury this one).
template <class Derived>
constexpr bool static_assert_direct_access() {
  static_assert(has_direct_access_v<Derived>,
                "monarch needs a directly addressable Eigen object (a Matrix, Map, Block or Ref); "
                "evaluate expressions first, e.g. with .eval()");
  return has_direct_access_v<Derived>;
}

}  // namespace detail

/// Read-only view of a directly addressable Eigen object; never copies.
template <class Derived>
auto view(const Eigen::DenseBase<Derived>& m) {
  using T = typename Derived::Scalar;
  if constexpr (detail::static_assert_direct_access<Derived>()) {
    return MatrixView<const T>{m.derived().data(), m.rows(), m.cols(), m.derived().rowStride(),
                               m.derived().colStride()};
  } else {
    return MatrixView<const T>{};
  }
}

/// Writable view of a directly addressable Eigen object; never copies. Takes a const reference so
/// that temporaries such as `Y.block(...)` or `Y.row(i)` can be passed (Eigen's own idiom).
template <class Derived>
auto mutable_view(const Eigen::DenseBase<Derived>& m) {
  using T = typename Derived::Scalar;
  constexpr bool direct = detail::static_assert_direct_access<Derived>();
  constexpr bool writable = bool(Eigen::internal::traits<Derived>::Flags & Eigen::LvalueBit);
  static_assert(!direct || writable, "monarch needs a writable output");
  if constexpr (direct && writable) {
    auto& d = const_cast<Derived&>(m.derived());
    return MatrixView<T>{d.data(), d.rows(), d.cols(), d.rowStride(), d.colStride()};
  } else {
    return MatrixView<T>{};
  }
}

/// A vector (row or column) seen as a batch of one: a 1 x size view.
template <class Derived>
auto vector_view(const Eigen::DenseBase<Derived>& v) {
  static_assert(Derived::IsVectorAtCompileTime, "monarch: expected a vector type");
  using T = typename Derived::Scalar;
  if constexpr (detail::static_assert_direct_access<Derived>()) {
    return MatrixView<const T>{v.derived().data(), 1, v.size(), 0, v.derived().innerStride()};
  } else {
    return MatrixView<const T>{};
  }
}

}  // namespace monarch
