// monarch: the scalar types the library supports and small helpers over them.
#pragma once

#include <cmath>
#include <complex>
#include <cstddef>
#include <initializer_list>
#include <limits>
#include <sstream>
#include <type_traits>
#include <utility>

#include "errors.hpp"

namespace monarch {

/// Sizes and indices, signed like Eigen::Index.
using Index = std::ptrdiff_t;

namespace detail {
/// ceil(a / b) for a >= 0 and b > 0: tiles, panels and blocks needed to cover a values. Written
/// without a + b - 1, which overflows for a near the largest Index.
constexpr Index ceil_div(Index a, Index b) { return a / b + (a % b != 0 ? 1 : 0); }

/// Sets `product` to the product of `sizes` and returns true when every size is >= 0 and the
/// product fits in Index (a zero size makes it 0 whatever the others are).
inline bool product_fits(std::initializer_list<Index> sizes, Index& product) {
  product = 1;
  for (const Index v : sizes)
    if (v < 0) return false;
  for (const Index v : sizes)
    if (v == 0) return product = 0, true;
  for (const Index v : sizes) {
    if (product > std::numeric_limits<Index>::max() / v) return false;
    product *= v;
  }
  return true;
}

/// The product of sizes (extents, counts, strides), checked: every product of sizes that sizes an
/// allocation or bounds a loop goes through here, so none can wrap. Throws ShapeError naming the
/// sizes when one is negative or the product does not fit in Index.
template <class... Rest>
Index checked_product(const char* where, Index a, Index b, Rest... rest) {
  static_assert((std::is_integral_v<Rest> && ...), "checked_product takes integer sizes");
  const std::initializer_list<Index> sizes = {a, b, static_cast<Index>(rest)...};
  Index product = 0;
  if (!product_fits(sizes, product)) {
    std::ostringstream factors;
    const char* sep = "";
    for (const Index v : sizes) factors << std::exchange(sep, " * ") << v;
    throw ShapeError(concat(where, ": the size ", factors.str(), " does not fit in Index (sizes must be >= 0 ",
                            "and their product at most ", std::numeric_limits<Index>::max(), ")"));
  }
  return product;
}
}  // namespace detail

template <class T>
struct is_supported_scalar
    : std::bool_constant<std::is_same_v<T, float> || std::is_same_v<T, double> ||
                         std::is_same_v<T, std::complex<float>> ||
                         std::is_same_v<T, std::complex<double>>> {};

template <class T>
inline constexpr bool is_supported_scalar_v = is_supported_scalar<T>::value;

template <class T>
struct is_complex : std::false_type {};
template <class R>
struct is_complex<std::complex<R>> : std::true_type {};
template <class T>
inline constexpr bool is_complex_v = is_complex<T>::value;

/// The real type underlying T (T itself for real T).
template <class T>
struct real_type {
  using type = T;
};
template <class R>
struct real_type<std::complex<R>> {
  using type = R;
};
template <class T>
using real_t = typename real_type<T>::type;

namespace detail {

/// Complex conjugate that keeps real scalars real (std::conj(double) returns a complex).
template <class T>
constexpr T conj(const T& x) {
  if constexpr (is_complex_v<T>) {
    return std::conj(x);
  } else {
    return x;
  }
}

/// x *= 2^e for a matrix or vector x, exactly, in two factors: 2^e alone can over- or
/// underflow when x's magnitude is near the ends of the exponent range.
template <class X>
void scale_by_pow2(X& x, int e) {
  using R = real_t<typename X::Scalar>;
  x *= std::ldexp(R(1), e / 2);
  x *= std::ldexp(R(1), e - e / 2);
}

template <class T>
constexpr void static_assert_scalar() {
  static_assert(is_supported_scalar_v<T>,
                "monarch supports the scalars float, double, std::complex<float> and "
                "std::complex<double>");
}

}  // namespace detail
}  // namespace monarch
