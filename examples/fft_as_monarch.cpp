// A Monarch FFT (docs/math.md §6.2): the DFT of size n = n1*n2 is one input permutation followed by one
// Monarch multiply, DFT x = M (P x). Checked here against the naive O(n^2) DFT sum.
#include <chrono>
#include <cmath>
#include <complex>
#include <cstdio>
#include <monarch/monarch.hpp>

namespace {

using C = std::complex<double>;

/// X[k] = sum_j x[j] exp(-2 pi i j k / n), in long double.
Eigen::VectorXcd naive_dft(const Eigen::VectorXcd& x) {
  const monarch::Index n = x.size();
  const long double pi = 3.141592653589793238462643383279502884L;
  Eigen::VectorXcd X(n);
  for (monarch::Index k = 0; k < n; ++k) {
    std::complex<long double> sum = 0;
    for (monarch::Index j = 0; j < n; ++j) {
      const long double angle = -2 * pi * static_cast<long double>((j * k) % n) / static_cast<long double>(n);
      sum += std::complex<long double>(x[j].real(), x[j].imag()) *
             std::complex<long double>(std::cos(angle), std::sin(angle));
    }
    X[k] = C(static_cast<double>(sum.real()), static_cast<double>(sum.imag()));
  }
  return X;
}

}  // namespace

int main() {
  std::printf("%6s %6s %7s %10s %14s %14s\n", "n1", "n2", "n", "params", "fwd rel err", "roundtrip err");
  const monarch::Index sizes[][2] = {{4, 4}, {8, 8}, {7, 5}, {12, 14}, {32, 32}, {16, 64}};
  monarch::detail::Rng rng(2022);
  for (const auto& s : sizes) {
    const monarch::Index n1 = s[0], n2 = s[1], n = n1 * n2;
    Eigen::VectorXcd x(n);
    for (monarch::Index i = 0; i < n; ++i) x[i] = rng.normal_scalar<C>();

    const auto fft = monarch::dft_as_monarch<double>(n1, n2);
    const auto ifft = monarch::dft_as_monarch<double>(n1, n2, monarch::Direction::inverse);
    const Eigen::VectorXcd X = fft * x;  // M (P x)
    const Eigen::VectorXcd back = ifft * X;
    const double err = (X - naive_dft(x)).norm() / naive_dft(x).norm();
    const double rt = (back - x).norm() / x.norm();
    std::printf("%6td %6td %7td %10td %14.3e %14.3e\n", n1, n2, n, fft.monarch.num_params(), err, rt);
    if (!(err < 1e-12 && rt < 1e-12)) {
      std::printf("FAILED: error above 1e-12\n");
      return 1;
    }
  }
  std::printf("Monarch FFT matches the naive DFT for every size.\n");
  return 0;
}
