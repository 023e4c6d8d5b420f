// monarch::detail: reproducible random numbers. std::uniform_real_distribution is not specified
// bit for bit across standard libraries, so the mapping from the engine is written out here.
#pragma once

#include <cmath>
#include <cstdint>
#include <random>

#include "../scalar.hpp"

namespace monarch::detail {

class Rng {
 public:
  explicit Rng(std::uint64_t seed) : engine_(seed) {}
  /// Uniform in [0, 1) with 53 random bits.
  double uniform01() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }
  /// Uniform in [-bound, bound).
  double uniform(double bound) { return bound * (2.0 * uniform01() - 1.0); }
  /// Standard normal (Box-Muller), for test matrices with a known distribution.
  double normal() {
    const double u1 = 1.0 - uniform01(), u2 = uniform01();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586476925 * u2);
  }
  /// A T with i.i.d. uniform(-bound, bound) real parts; complex: both parts, each scaled by
  /// 1/sqrt(2) so that E|z|^2 matches the real case.
  template <class T>
  T uniform_scalar(double bound) {
    if constexpr (is_complex_v<T>) {
      using R = real_t<T>;
      const double b = bound * 0.70710678118654752440;
      const R re = static_cast<R>(uniform(b));
      const R im = static_cast<R>(uniform(b));
      return T(re, im);
    } else {
      return static_cast<T>(uniform(bound));
    }
  }
  /// A T with i.i.d. standard normal parts; complex: E|z|^2 = 1.
  template <class T>
  T normal_scalar() {
    if constexpr (is_complex_v<T>) {
      using R = real_t<T>;
      const R re = static_cast<R>(normal() * 0.70710678118654752440);
      const R im = static_cast<R>(normal() * 0.70710678118654752440);
      return T(re, im);
    } else {
      return static_cast<T>(normal());
    }
  }

 private:
  std::mt19937_64 engine_;
};

}  // namespace monarch::detail
