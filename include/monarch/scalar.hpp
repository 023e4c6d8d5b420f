// monarch: the scalar types the library supports and small helpers over them.
#pragma once

#include <cmath>
#include <complex>
#include <cstddef>
#include <type_traits>

namespace monarch {

/// Sizes and indices, signed like Eigen::Index.
using Index = std::ptrdiff_t;

namespace detail {
/// ceil(a / b) for a >= 0 and b > 0: tiles, panels and blocks needed to cover a values.
constexpr Index ceil_div(Index a, Index b) { return (a + b - 1) / b; }
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
