// MonarchLinear::forward with a bias, whose kernels add the bias as they store the output, against
// the two-pass form it replaced (Monarch::apply, then the bias added to every row with Eigen).
//
// Benchmark names are <variant>/<scalar>/<in>_nb<nblocks>/<batch>, variants:
//   forward    MonarchLinear::forward into a preallocated output (serial executor)
//   two_pass   layer.monarch().apply into the same output, then Y.rowwise() += bias^T
// On AVX-512, outputs of 16 MiB and more are stored non-temporally (kernels/policy.hpp; here the
// float layers of n = 1024 at batch 8192), so the two-pass form reads them back from memory. Run
// pinned, e.g.
//   taskset -c 1 build/rel/bench/bench_linear --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <Eigen/Core>
#include <monarch/monarch.hpp>
#include <string>

namespace {

using monarch::Index;

template <class T>
using RowMat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

template <class T>
void bm_layer(benchmark::State& st, Index n, Index nblocks, Index batch, bool two_pass) {
  const monarch::MonarchLinear<T> layer(n, n, nblocks, true, 1);
  const RowMat<T> X = RowMat<T>::Random(batch, n);
  RowMat<T> Y(batch, n);
  typename monarch::MonarchLinear<T>::Workspace ws;
  monarch::Workspace<T> mws;
  auto run = [&] {
    if (two_pass) {
      layer.monarch().apply(X, Y, monarch::SerialExecutor{}, mws);
      Y.rowwise() += layer.bias()->transpose();
    } else {
      layer.forward(X, Y, ws);
    }
  };
  run();  // packs the weights, sizes the workspaces
  for (auto _ : st) {
    run();
    benchmark::DoNotOptimize(Y.data());
    benchmark::ClobberMemory();
  }
  st.counters["GFLOPS"] = benchmark::Counter(layer.monarch().flops_per_vector() * double(batch) * 1e-9,
                                             benchmark::Counter::kIsIterationInvariantRate);
}

template <class T>
void register_all(const char* scalar) {
  struct Layer {
    Index n, nblocks;
  };
  // nblocks 16 and 32 at n = 1024 run the lanes kernel; 4096 with 4 blocks is the compute-heavy
  // end (one bias add per 4096 of the multiply's FLOPs).
  for (const Layer L : {Layer{1024, 16}, Layer{1024, 32}, Layer{4096, 4}})
    for (const Index batch : {256, 1024, 8192}) {
      if (L.n == 4096 && batch > 1024) continue;  // seconds per call, and nothing new
      const std::string tail = std::string("/") + scalar + "/" + std::to_string(L.n) + "_nb" +
                               std::to_string(L.nblocks) + "/" + std::to_string(batch);
      for (const bool two_pass : {false, true})
        benchmark::RegisterBenchmark(((two_pass ? "two_pass" : "forward") + tail).c_str(),
                                     [=](benchmark::State& st) { bm_layer<T>(st, L.n, L.nblocks, batch, two_pass); });
    }
}

}  // namespace

int main(int argc, char** argv) {
  register_all<float>("f32");
  register_all<double>("f64");
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
