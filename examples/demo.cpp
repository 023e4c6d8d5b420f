// The main demo: a 4096 x 4096 Monarch matrix with 64 blocks (the paper's square case, m = 64)
// applied to a batch of 256 vectors, checked against the dense matrix it represents and timed
// against a dense GEMM (Eigen) on the same data.
//
//   demo            full size
//   demo --quick    n = 1024, batch 64 (what the test suite runs)
#include <monarch/monarch.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

/// Median wall time of `reps` runs of f, in seconds.
template <class F>
double median_seconds(int reps, F&& f) {
  std::vector<double> t;
  for (int i = 0; i < reps; ++i) {
    const auto start = Clock::now();
    f();
    t.push_back(std::chrono::duration<double>(Clock::now() - start).count());
  }
  std::nth_element(t.begin(), t.begin() + reps / 2, t.end());
  return t[static_cast<std::size_t>(reps / 2)];
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  const monarch::Index n = quick ? 1024 : 4096, nblocks = quick ? 32 : 64, batch = quick ? 64 : 256;

  // MonarchLinear(n, n, nblocks) with nblocks = sqrt(n) is the paper's square Monarch.
  const monarch::Shape shape = monarch::Shape::monarch_linear(n, n, nblocks);
  const auto M = monarch::Monarch<float>::random(shape, 2022);
  std::printf("Monarch %td x %td: w1 (%td, %td, %td), w2 (%td, %td, %td)\n", M.rows(), M.cols(), shape.k,
              shape.q, shape.p, shape.l, shape.s, shape.r);
  std::printf("parameters: %td (dense: %td, ratio %.4f)\n", M.num_params(), n * n,
              double(M.num_params()) / double(n * n));

  using RowBatch = monarch::Monarch<float>::BatchMatrix;
  RowBatch X(batch, n);
  monarch::detail::Rng rng(7);
  for (monarch::Index i = 0; i < X.size(); ++i) X.data()[i] = static_cast<float>(rng.normal());

  const Eigen::MatrixXf dense = M.to_dense();  // the n x n matrix M represents
  RowBatch Y_monarch(batch, n), Y_dense(batch, n);
  const int reps = 5;
  const double t_monarch = median_seconds(reps, [&] { M.apply(X, Y_monarch); });
  const double t_dense = median_seconds(reps, [&] { Y_dense.noalias() = X * dense.transpose(); });

  // Error of the Monarch multiply against the dense product, relative per output vector.
  double max_rel = 0;
  for (monarch::Index b = 0; b < batch; ++b)
    max_rel = std::max(max_rel, double((Y_monarch.row(b) - Y_dense.row(b)).norm() / Y_dense.row(b).norm()));

  const double flops = M.flops_per_vector() * double(batch);
  std::printf("batch %td, fp32, 1 thread, median of %d runs\n", batch, reps);
  std::printf("max relative error vs dense: %.3g\n", max_rel);
  std::printf("Monarch apply : %9.3f ms  (%6.1f GFLOP/s)\n", 1e3 * t_monarch, flops / t_monarch * 1e-9);
  std::printf("dense GEMM    : %9.3f ms  (%6.1f GFLOP/s, Eigen)\n", 1e3 * t_dense,
              M.dense_flops_per_vector() * double(batch) / t_dense * 1e-9);
  std::printf("speedup: %.1fx (FLOP ratio %.1fx)\n", t_dense / t_monarch,
              M.dense_flops_per_vector() / M.flops_per_vector());
  return max_rel < 1e-4 ? 0 : 1;
}
