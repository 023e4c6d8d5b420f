// Projection of a dense 4096 x 4096 Gaussian matrix (double) onto the paper's square Monarch,
// m = 64: 4096 slices of 64 x 64, one channel each (docs/math.md §4). Compares
//   * project(A, shape)                      leading singular triples (certified Lanczos)
//   * project(..., ProjectionMethod::FullSvd) BDCSVD of every slice, then the same assembly
//   * BDCSVD / JacobiSVD of every slice        the bare cost of full SVDs, nothing else
// and reports, as counters of the fast run, the relative Frobenius distance between the fast and
// the full-SVD projections (dense, slice by slice) and how many slices fell back.
//
// Run (one core, medians of repetitions):
//   taskset -c 1 build/bench/bench_project --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <Eigen/SVD>
#include <cmath>
#include <monarch/monarch.hpp>

namespace {

using Mat = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic>;
constexpr monarch::Index kN = 4096, kM = 64;

const Mat& gaussian() {
  static const Mat A = [] {
    monarch::detail::Rng rng(20260101);
    Mat a(kN, kN);
    for (monarch::Index j = 0; j < kN; ++j)
      for (monarch::Index i = 0; i < kN; ++i) a(i, j) = rng.normal();
    return a;
  }();
  return A;
}

/// Slice (e, a) of A (docs/math.md §4): S[t, d] = A[t*m + e, a*m + d].
Mat slice(const Mat& A, monarch::Index e, monarch::Index a) {
  Mat S(kM, kM);
  for (monarch::Index d = 0; d < kM; ++d)
    for (monarch::Index t = 0; t < kM; ++t) S(t, d) = A(t * kM + e, a * kM + d);
  return S;
}

/// Slice (e, a) of a square Monarch's dense matrix: the rank-1 term w2[e,:,a] w1[a,e,:].
Mat monarch_slice(const monarch::Monarch<double>& M, monarch::Index e, monarch::Index a) {
  Mat S(kM, kM);
  for (monarch::Index d = 0; d < kM; ++d)
    for (monarch::Index t = 0; t < kM; ++t) S(t, d) = M.w2()(e, t, a) * M.w1()(a, e, d);
  return S;
}

double relative_distance(const monarch::Monarch<double>& X, const monarch::Monarch<double>& Y) {
  double num = 0, den = 0;
  for (monarch::Index e = 0; e < kM; ++e)
    for (monarch::Index a = 0; a < kM; ++a) {
      const Mat y = monarch_slice(Y, e, a);
      num += (monarch_slice(X, e, a) - y).squaredNorm();
      den += y.squaredNorm();
    }
  return std::sqrt(num / den);
}

const monarch::ProjectionResult<double>& full_projection() {
  static const auto r = monarch::project(gaussian(), monarch::Shape::square(kM),
                                         monarch::ProjectionOptions{monarch::ProjectionMethod::FullSvd});
  return r;
}

void BM_ProjectFast(benchmark::State& state) {
  const Mat& A = gaussian();
  const auto shape = monarch::Shape::square(kM);
  auto r = monarch::project(A, shape);  // warm-up, and the result the counters describe
  for (auto _ : state) {
    r = monarch::project(A, shape);
    benchmark::DoNotOptimize(r.monarch.w1().data());
  }
  const auto& full = full_projection();
  state.counters["rel_diff_vs_full"] = relative_distance(r.monarch, full.monarch);
  state.counters["residual_rel_diff"] = std::abs(r.residual - full.residual) / full.residual;
  state.counters["fallback_slices"] = double(r.fallback_slices);
}
BENCHMARK(BM_ProjectFast)->Unit(benchmark::kMillisecond);

void BM_ProjectFullSvd(benchmark::State& state) {
  const Mat& A = gaussian();
  const auto shape = monarch::Shape::square(kM);
  for (auto _ : state) {
    auto r = monarch::project(A, shape, monarch::ProjectionOptions{monarch::ProjectionMethod::FullSvd});
    benchmark::DoNotOptimize(r.monarch.w1().data());
  }
}
BENCHMARK(BM_ProjectFullSvd)->Unit(benchmark::kMillisecond)->Iterations(1);

template <class Svd>
void BM_PerSliceSvd(benchmark::State& state) {
  const Mat& A = gaussian();
  for (auto _ : state) {
    for (monarch::Index e = 0; e < kM; ++e)
      for (monarch::Index a = 0; a < kM; ++a) {
        const Svd svd(slice(A, e, a), Eigen::ComputeThinU | Eigen::ComputeThinV);
        benchmark::DoNotOptimize(svd.singularValues().data());
      }
  }
}
BENCHMARK_TEMPLATE(BM_PerSliceSvd, Eigen::BDCSVD<Mat>)->Unit(benchmark::kMillisecond)->Iterations(1);
BENCHMARK_TEMPLATE(BM_PerSliceSvd, Eigen::JacobiSVD<Mat>)->Unit(benchmark::kMillisecond)->Iterations(1);

}  // namespace

BENCHMARK_MAIN();
