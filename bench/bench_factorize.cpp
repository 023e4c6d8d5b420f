// factorize_mm_star (docs/math.md §5) at n = 1024 and 4096 with b = sqrt(n), double, serial executor.
// The input is a random MM* product built once per size, outside the timed loop.
#include <benchmark/benchmark.h>

#include <cmath>
#include <map>
#include <monarch/monarch.hpp>

namespace {

const Eigen::MatrixXd& product(monarch::Index n) {
  static std::map<monarch::Index, Eigen::MatrixXd> cache;
  auto it = cache.find(n);
  if (it == cache.end()) {
    const auto b = static_cast<monarch::Index>(std::lround(std::sqrt(double(n)))), nb = n / b;
    const auto mm = monarch::mm_star_from_factors(monarch::BlockDiagonal<double>::random(b, nb, nb, 1, 1.0),
                                                  monarch::BlockDiagonal<double>::random(nb, b, b, 2, 1.0),
                                                  monarch::BlockDiagonal<double>::random(b, nb, nb, 3, 1.0));
    it = cache.emplace(n, mm.to_dense()).first;
  }
  return it->second;
}

void BM_FactorizeMMStar(benchmark::State& state) {
  const monarch::Index n = state.range(0);
  const monarch::Index b = static_cast<monarch::Index>(std::lround(std::sqrt(double(n))));
  const Eigen::MatrixXd& A = product(n);
  double err = 0;
  for (auto _ : state) {
    auto res = monarch::factorize_mm_star(A, b);
    if (!res.ok()) state.SkipWithError(res.message.c_str());
    err = res.relative_error;
    benchmark::DoNotOptimize(res.r.data());
  }
  state.counters["rel_err"] = err;
}
BENCHMARK(BM_FactorizeMMStar)->Arg(1024)->Arg(4096)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
