// Monarch apply against dense GEMM on the same data (Eigen; OpenBLAS cblas when found) and
// against the hand-made baseline (per-block Eigen GEMMs + explicit permutation copies).
//
// Benchmark names are <variant>/<scalar>/<shape>/<batch>, variants:
//   monarch      Monarch::apply into a preallocated output (serial executor)
//   monarch_2t   the same on 2 threads (OpenMPExecutor; only when built with OpenMP, batch >= 256)
//   handmade     per-block Eigen GEMMs with the two permutations as explicit copies
//   dense_eigen  Y = X D^T with Eigen (one thread)
//   dense_blas   the same with cblas_?gemm (OpenBLAS, one thread)
// Counters: GFLOPS (real Monarch FLOPs, or the dense FLOPs for dense variants) and
// dense_GFLOPS (dense-equivalent rate). bench/plot_bench.py forms the speedups from one JSON run.
#include <benchmark/benchmark.h>

#include <Eigen/Core>
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <monarch/monarch.hpp>
#include <string>
#include <vector>

#if defined(MONARCH_BENCH_OPENBLAS)
#include <cblas.h>
#endif

namespace {

using monarch::Index;
using monarch::Monarch;
using monarch::Shape;

template <class T>
using RowMat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

template <class T>
const char* scalar_name() {
  return sizeof(T) == 4 ? "f32" : "f64";
}

struct BenchShape {
  const char* name;
  Shape shape;
};

std::vector<BenchShape> bench_shapes() {
  return {
      {"square_n1024", Shape::square(32)},
      {"square_n4096", Shape::square(64)},
      {"linear_n1024_nb4", Shape::monarch_linear(1024, 1024, 4)},
      {"linear_n4096_nb4", Shape::monarch_linear(4096, 4096, 4)},
      {"linear_1024x4096_nb4", Shape::monarch_linear(1024, 4096, 4)},
  };
}

template <class T>
RowMat<T> random_batch(Index rows, Index cols, std::uint64_t seed) {
  monarch::detail::Rng rng(seed);
  RowMat<T> m(rows, cols);
  for (Index i = 0; i < m.size(); ++i) m.data()[i] = rng.uniform_scalar<T>(1.0);
  return m;
}

void set_counters(benchmark::State& st, double flops_per_iter, double dense_flops_per_iter) {
  using benchmark::Counter;
  st.counters["GFLOPS"] = Counter(flops_per_iter * 1e-9, Counter::kIsIterationInvariantRate);
  st.counters["dense_GFLOPS"] = Counter(dense_flops_per_iter * 1e-9, Counter::kIsIterationInvariantRate);
}

/// MONARCH_BENCH_TILE and MONARCH_BENCH_NONTEMPORAL (see main), passed to every Monarch call.
monarch::KernelOptions g_tuning;

template <class T, class Executor>
void bm_monarch(benchmark::State& st, Shape sh, Index batch, Executor exec) {
  const auto M = Monarch<T>::random(sh, 1);
  const RowMat<T> X = random_batch<T>(batch, M.cols(), 2);
  RowMat<T> Y(batch, M.rows());
  monarch::Workspace<T> ws;
  M.apply(X, Y, exec, ws, g_tuning);  // packs the weights, sizes the workspace
  for (auto _ : st) {
    M.apply(X, Y, exec, ws, g_tuning);
    benchmark::DoNotOptimize(Y.data());
    benchmark::ClobberMemory();
  }
  set_counters(st, M.flops_per_vector() * double(batch), M.dense_flops_per_vector() * double(batch));
}

/// The hand-made baseline: H = per-block X_a W1[a]^T, G = H with Pi(r,l) applied by a copy,
/// Z = per-block G_e W2[e]^T, Y = Z with Pi(l,s) applied by a copy. Buffers are preallocated.
template <class T>
void bm_handmade(benchmark::State& st, Shape sh, Index batch) {
  const auto M = Monarch<T>::random(sh, 1);
  const RowMat<T> X = random_batch<T>(batch, M.cols(), 2);
  const Index N = sh.inner(), l = sh.l, r = sh.r, s = sh.s;
  RowMat<T> H(batch, N), G(batch, N), Z(batch, M.rows()), Y(batch, M.rows());
  for (auto _ : st) {
    for (Index a = 0; a < sh.k; ++a)
      H.middleCols(a * sh.q, sh.q).noalias() = X.middleCols(a * sh.p, sh.p) * M.w1().block(a).transpose();
    for (Index b = 0; b < batch; ++b)  // G[b, e*r + f] = H[b, f*l + e]
      for (Index e = 0; e < l; ++e)
        for (Index f = 0; f < r; ++f) G(b, e * r + f) = H(b, f * l + e);
    for (Index e = 0; e < l; ++e)
      Z.middleCols(e * s, s).noalias() = G.middleCols(e * r, r) * M.w2().block(e).transpose();
    for (Index b = 0; b < batch; ++b)  // Y[b, t*l + e] = Z[b, e*s + t]
      for (Index e = 0; e < l; ++e)
        for (Index t = 0; t < s; ++t) Y(b, t * l + e) = Z(b, e * s + t);
    benchmark::DoNotOptimize(Y.data());
    benchmark::ClobberMemory();
  }
  set_counters(st, M.flops_per_vector() * double(batch), M.dense_flops_per_vector() * double(batch));
}

template <class T>
void bm_dense_eigen(benchmark::State& st, Shape sh, Index batch) {
  const RowMat<T> D = random_batch<T>(sh.rows(), sh.cols(), 3);
  const RowMat<T> X = random_batch<T>(batch, sh.cols(), 2);
  RowMat<T> Y(batch, sh.rows());
  for (auto _ : st) {
    Y.noalias() = X * D.transpose();
    benchmark::DoNotOptimize(Y.data());
    benchmark::ClobberMemory();
  }
  const double f = 2.0 * double(sh.rows()) * double(sh.cols()) * double(batch);
  set_counters(st, f, f);
}

#if defined(MONARCH_BENCH_OPENBLAS)
template <class T>
void bm_dense_blas(benchmark::State& st, Shape sh, Index batch) {
  const RowMat<T> D = random_batch<T>(sh.rows(), sh.cols(), 3);
  const RowMat<T> X = random_batch<T>(batch, sh.cols(), 2);
  RowMat<T> Y(batch, sh.rows());
  const int m = int(batch), n = int(sh.rows()), k = int(sh.cols());
  for (auto _ : st) {
    if constexpr (sizeof(T) == 4)
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0f, X.data(), k, D.data(), k, 0.0f, Y.data(), n);
    else
      cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0, X.data(), k, D.data(), k, 0.0, Y.data(), n);
    benchmark::DoNotOptimize(Y.data());
    benchmark::ClobberMemory();
  }
  const double f = 2.0 * double(sh.rows()) * double(sh.cols()) * double(batch);
  set_counters(st, f, f);
}
#endif

/// Largest batch MONARCH_BENCH_BATCHES may ask for (X alone is then 32 GiB at n = 4096 in f64).
constexpr long long kMaxBenchBatch = 1 << 20;

/// "32,48,64" -> {32, 48, 64}, each once; empty when any entry is not an integer in
/// [1, kMaxBenchBatch] (the caller reports it).
std::vector<Index> parse_batches(const std::string& list) {
  std::vector<Index> out;
  for (std::size_t pos = 0; pos <= list.size();) {
    const std::size_t comma = std::min(list.find(',', pos), list.size());
    const std::string token = list.substr(pos, comma - pos);
    char* end = nullptr;
    errno = 0;
    const long long v = std::strtoll(token.c_str(), &end, 10);
    if (token.empty() || *end != '\0' || errno != 0 || v < 1 || v > kMaxBenchBatch) return {};
    if (std::find(out.begin(), out.end(), Index(v)) == out.end()) out.push_back(Index(v));
    pos = comma + 1;
  }
  return out;
}

template <class T>
void register_all(const std::vector<Index>& batches) {
  for (const auto& bs : bench_shapes()) {
    for (Index batch : batches) {
      const std::string tail = std::string("/") + scalar_name<T>() + "/" + bs.name + "/" + std::to_string(batch);
      const Shape sh = bs.shape;
      benchmark::RegisterBenchmark(("monarch" + tail).c_str(), [=](benchmark::State& st) {
        bm_monarch<T>(st, sh, batch, monarch::SerialExecutor{});
      });
#if defined(_OPENMP)
      if (batch >= 256)
        benchmark::RegisterBenchmark(("monarch_2t" + tail).c_str(), [=](benchmark::State& st) {
          bm_monarch<T>(st, sh, batch, monarch::OpenMPExecutor(2));
        })->UseRealTime();
#endif
      benchmark::RegisterBenchmark(("handmade" + tail).c_str(),
                                   [=](benchmark::State& st) { bm_handmade<T>(st, sh, batch); });
      benchmark::RegisterBenchmark(("dense_eigen" + tail).c_str(),
                                   [=](benchmark::State& st) { bm_dense_eigen<T>(st, sh, batch); });
#if defined(MONARCH_BENCH_OPENBLAS)
      benchmark::RegisterBenchmark(("dense_blas" + tail).c_str(),
                                   [=](benchmark::State& st) { bm_dense_blas<T>(st, sh, batch); });
#endif
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  Eigen::setNbThreads(1);  // dense baselines single-threaded, like Monarch's serial executor
#if defined(MONARCH_BENCH_OPENBLAS)
  openblas_set_num_threads(1);
  std::printf("openblas_get_corename() = %s\n", openblas_get_corename());
  benchmark::AddCustomContext("openblas_corename", openblas_get_corename());
#endif
  namespace kn = monarch::detail::kernels;
  benchmark::AddCustomContext("monarch_kernel_path_f32", monarch::to_string(kn::best_path<float>()));
  benchmark::AddCustomContext("monarch_kernel_path_f64", monarch::to_string(kn::best_path<double>()));
  // Tuning aids: MONARCH_BENCH_TILE=<rows> overrides the policy's batch tile, MONARCH_BENCH_NONTEMPORAL=0|1
  // whether the output is stored non-temporally, MONARCH_BENCH_BATCHES=<b1,b2,...> the batch sizes.
  if (const char* tile = std::getenv("MONARCH_BENCH_TILE")) g_tuning.batch_tile = std::atoll(tile);
  if (const char* nt = std::getenv("MONARCH_BENCH_NONTEMPORAL"))
    g_tuning.nontemporal = std::atoi(nt) != 0 ? monarch::NonTemporal::on : monarch::NonTemporal::off;
  std::vector<Index> batches{1, 4, 16, 64, 256, 1024, 4096};
  if (const char* list = std::getenv("MONARCH_BENCH_BATCHES")) {
    batches = parse_batches(list);
    if (batches.empty()) {
      std::fprintf(stderr, "MONARCH_BENCH_BATCHES=\"%s\": expected a comma-separated list of integers in [1, %lld]\n",
                   list, kMaxBenchBatch);
      return 1;
    }
    benchmark::AddCustomContext("monarch_bench_batches", list);
  }
  register_all<float>(batches);
  register_all<double>(batches);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
