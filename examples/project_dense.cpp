// Approximating dense matrices by Monarch matrices: project(A, shape) returns the Frobenius-optimal
// Monarch of each shape (docs/math.md §4). For a 1024 x 1024 matrix this prints the relative residual
// ||A - M||_F / ||A||_F against the parameter count, for the authors' MonarchLinear shapes with
// several nblocks (slice rank 1024/nblocks^2) and the paper's square Monarch (nblocks = 32), on
//   * a structured matrix: a random Monarch (nblocks 4) plus 1% noise, and
//   * a smooth kernel matrix K[i,j] = 1 / (1 + |x_i - x_j|^2) on the points of a 32 x 32 grid
//     (a Gaussian kernel would factor over the two coordinates into a Kronecker product, which
//     is exactly Monarch), and
//   * a random Gaussian matrix (no structure: the residual falls only as parameters grow).
#include <cmath>
#include <cstdio>
#include <monarch/monarch.hpp>

using Dense = Eigen::MatrixXd;

int main() {
  const monarch::Index n = 1024;
  monarch::detail::Rng rng(7);
  Dense gaussian(n, n);
  for (monarch::Index j = 0; j < n; ++j)
    for (monarch::Index i = 0; i < n; ++i) gaussian(i, j) = rng.normal();

  // A random MonarchLinear(1024, 1024, nblocks=4) matrix plus 1% noise.
  const auto planted = monarch::Monarch<double>::random(monarch::Shape::monarch_linear(n, n, 4), 3).to_dense();
  const Dense noisy = planted + 0.01 * planted.norm() / gaussian.norm() * gaussian;

  // Cauchy kernel on a 32 x 32 grid of points in [0, 8]^2, in row-major point order.
  Dense kernel(n, n);
  for (monarch::Index i = 0; i < n; ++i)
    for (monarch::Index j = 0; j < n; ++j) {
      const double dx = 0.25 * double(i % 32 - j % 32), dy = 0.25 * double(i / 32 - j / 32);
      kernel(i, j) = 1.0 / (1.0 + dx * dx + dy * dy);
    }

  std::printf("%-8s %-9s %-7s %-12s %-14s %-14s %-14s\n", "nblocks", "rank", "params", "params/n^2", "Monarch+noise",
              "kernel", "Gaussian");
  const Dense* const inputs[] = {&noisy, &kernel, &gaussian};
  for (monarch::Index nb : {2, 4, 8, 16, 32}) {
    const auto shape = nb == 32 ? monarch::Shape::square(32) : monarch::Shape::monarch_linear(n, n, nb);
    std::printf("%-8td %-9td %-7td %-12.4f", nb, shape.rank(), shape.num_params(),
                double(shape.num_params()) / double(n * n));
    for (const Dense* A : inputs) {
      const auto r = monarch::project(*A, shape);
      std::printf(" %-14.3e", double(r.residual) / A->norm());
    }
    std::printf("\n");
  }
  std::printf(
      "(Monarch+noise lies in the classes with nblocks <= 4 up to its 1%% noise, hence residual <= 1e-2 there.)\n");
  return 0;
}
