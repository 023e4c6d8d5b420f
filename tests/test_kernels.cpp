// The fused Monarch kernels: every compiled path (reference, portable, AVX2, AVX-512) against the
// dense matrix built from the definition (docs/math.md §2.1, §3.1), on the core shape families and odd
// sizes that hit the tail of every register and batch tile; bitwise agreement across executors;
// output-parameter forms; the packed-weight cache; the reusable small-GEMM building block.
#include <atomic>
#include <functional>
#include <stdexcept>
#include <limits>
#include <thread>
#include <vector>

#include "support/test_support.hpp"

namespace monarch::test {
namespace {

namespace kn = detail::kernels;

// k != l, q != r, p != s: a split that confused them would not pass.
constexpr Shape kResidueSplitShape{2, 2048, 16, 4, 8, 1024};

/// The core families plus odd sizes: block extents 1, 3, 17, 33, 65, w2-block counts below, at
/// and just above a vector width (lanes tails), panels and row tiles with remainders.
std::vector<NamedShape> kernel_shapes() {
  auto v = shape_families();
  v.push_back({"odd_1_17", Shape{5, 1, 3, 1, 17, 5}});
  v.push_back({"odd_17_33", Shape{3, 17, 33, 17, 3, 3}});
  v.push_back({"odd_33_65", Shape{2, 33, 65, 33, 1, 2}});
  v.push_back({"odd_3_65", Shape{4, 65, 3, 20, 65, 13}});
  v.push_back({"square_m3", Shape::square(3)});
  v.push_back({"square_m17", Shape::square(17)});
  // Forward w1 stage packed by residue mod l on every path (w1_residue_splits): 512-column
  // sub-blocks and 16 KiB (f32) rows of the intermediate.
  v.push_back({"split_2_2048_16__4_8_1024", kResidueSplitShape});
  return v;
}

/// An executor that runs tasks on `threads` std::threads (task i on thread i mod threads): the
/// "caller's pool" of PoolExecutor.
PoolExecutor thread_pool_executor(int threads) {
  return PoolExecutor(threads, [threads](Index n, const PoolExecutor::Task& task) {
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t)
      pool.emplace_back([&, t] {
        for (Index i = t; i < n; i += threads) task(i);
      });
    for (auto& th : pool) th.join();
  });
}

template <class T>
class KernelsTest : public ::testing::Test {
 protected:
  struct Case {
    NamedShape named;
    Monarch<T> M;
    Dense<wider_t<T>> dense;
  };
  static const std::vector<Case>& cases() {
    static const std::vector<Case> all = [] {
      std::vector<Case> v;
      std::uint64_t seed = 40;
      for (const auto& ns : kernel_shapes()) {
        Monarch<T> M = Monarch<T>::random(ns.shape, seed++);
        Dense<wider_t<T>> D = dense_from_channels(M.w1(), M.w2());
        v.push_back(Case{ns, std::move(M), std::move(D)});
      }
      return v;
    }();
    return all;
  }
  /// Batches 1 and 7 everywhere, 1000 where the dense reference product and the reference path
  /// stay cheap.
  static std::vector<Index> batches(const Shape& sh) {
    if (sh.rows() * sh.cols() <= 40000 && sh.inner() <= 1024) return {1, 7, 1000};
    return {1, 7, 50};
  }
};
// The explicit name generator keeps clang -Wpedantic quiet (no empty variadic macro argument).
TYPED_TEST_SUITE(KernelsTest, Scalars, ::testing::internal::DefaultNameGenerator);

// batch_tile 0 = the policy's tile (one tile for small batches: work split over blocks); 5 and 23
// force several tiles with a remainder, so the tile loop and its tail run on every shape, and
// 23 = 12 + 4 + 4 + 3 = 18 + 4 + 1 walks every row-tile remainder of the register tiles.
constexpr Index kTiles[] = {0, 5, 23};

TYPED_TEST(KernelsTest, ApplyAndAdjointMatchDenseOnEveryPath) {
  using T = TypeParam;
  for (const auto& c : this->cases())
    for (const Index batch : this->batches(c.named.shape)) {
      const auto X = random_matrix<T>(batch, c.M.cols(), 7 + std::uint64_t(batch));
      const Dense<wider_t<T>> want = X.template cast<wider_t<T>>() * c.dense.transpose();
      const auto V = random_matrix<T>(batch, c.M.rows(), 9 + std::uint64_t(batch));
      const Dense<wider_t<T>> want_adj = V.template cast<wider_t<T>>() * c.dense.conjugate();
      for (const auto path : compiled_paths<T>())
        for (const Index tile : kTiles) {
          if (tile != 0 && batch <= tile) continue;  // same as the policy's single tile
          SCOPED_TRACE(::testing::Message() << to_string(path) << " tile " << tile << " " << c.named.name
                                            << " batch " << batch);
          const KernelOptions options({path, tile});
          MONARCH_EXPECT_CLOSE(T, c.M.apply(X, SerialExecutor{}, options), want, accumulation_length(c.named.shape));
          MONARCH_EXPECT_CLOSE(T, c.M.adjoint().apply(V, SerialExecutor{}, options), want_adj, c.named.shape.s + c.named.shape.q);
        }
    }
}

TYPED_TEST(KernelsTest, OutputParameterFormsAndLayouts) {
  // Row- and column-major outputs and inputs, a block of a larger matrix, the raw view, with an
  // explicit executor and workspace: the lanes kernel needs unit stride, the others do not.
  using T = TypeParam;
  Workspace<T> ws;
  for (const auto& c : this->cases()) {
    const Index n_in = c.M.cols(), n_out = c.M.rows(), len = accumulation_length(c.named.shape);
    const RowBatch<T> X = random_matrix<T>(6, n_in, 3);
    const Dense<wider_t<T>> want = X.template cast<wider_t<T>>() * c.dense.transpose();
    const RowBatch<T> V = random_matrix<T>(6, n_out, 5);
    const Dense<wider_t<T>> want_adj = V.template cast<wider_t<T>>() * c.dense.conjugate();
    for (const auto path : compiled_paths<T>()) {
      const KernelOptions options({path, 0});
      SCOPED_TRACE(::testing::Message() << to_string(path) << " " << c.named.name);
      RowBatch<T> Yr(6, n_out);
      c.M.apply(X, Yr, SerialExecutor{}, ws, options);
      MONARCH_EXPECT_CLOSE(T, Yr, want, len);
      Dense<T> Yc(6, n_out);
      c.M.apply(Dense<T>(X), Yc, SerialExecutor{}, ws, options);
      MONARCH_EXPECT_CLOSE(T, Yc, want, len);
      RowBatch<T> big = RowBatch<T>::Zero(8, n_out + 3);
      c.M.apply(X, big.block(1, 2, 6, n_out), SerialExecutor{}, ws, options);
      MONARCH_EXPECT_CLOSE(T, big.block(1, 2, 6, n_out), want, len);
      EXPECT_EQ(big.row(0).norm() + big.row(7).norm() + big.leftCols(2).norm(), real_t<T>(0));
      RowBatch<T> Yv(6, n_out);
      c.M.apply(view(X), row_major_view(Yv.data(), 6, n_out), SerialExecutor{}, ws, options);
      EXPECT_EQ(Yv, Yr) << "raw form differs from the Eigen form";

      Dense<T> Xc(6, n_in);
      c.M.adjoint().apply(Dense<T>(V), Xc, SerialExecutor{}, ws, options);  // column-major in and out
      MONARCH_EXPECT_CLOSE(T, Xc, want_adj, c.named.shape.s + c.named.shape.q);
      RowBatch<T> Xr(6, n_in);
      c.M.adjoint().apply(V, Xr, SerialExecutor{}, ws, options);
      MONARCH_EXPECT_CLOSE(T, Xr, want_adj, c.named.shape.s + c.named.shape.q);
    }
  }
}

TYPED_TEST(KernelsTest, BitwiseIdenticalAcrossThreadCounts) {
  // The fused paths (the reference path is one independent task per row): batch 3 is one tile
  // split over blocks, batch 40 with tiles of 8 is five tiles shared by the threads.
  using T = TypeParam;
  const auto pool = thread_pool_executor(2);
  for (const auto path : compiled_paths<T>()) {
    if (path == KernelPath::reference) continue;
    const KernelOptions options({path, 8});
    for (const auto& c : this->cases()) {
      SCOPED_TRACE(::testing::Message() << to_string(path) << " " << c.named.name);
      for (const Index batch : {Index(3), Index(40)}) {
        const RowBatch<T> X = random_matrix<T>(batch, c.M.cols(), 21);
        const RowBatch<T> Y1 = c.M.apply(X, SerialExecutor{}, options);
        EXPECT_EQ(c.M.apply(X, pool, options), Y1) << "2 pool threads, batch " << batch;
        const RowBatch<T> V = random_matrix<T>(batch, c.M.rows(), 22);
        const RowBatch<T> A1 = c.M.adjoint().apply(V, SerialExecutor{}, options);
        EXPECT_EQ(c.M.adjoint().apply(V, pool, options), A1) << "adjoint, 2 pool threads, batch " << batch;
#if defined(_OPENMP)
        EXPECT_EQ(c.M.apply(X, OpenMPExecutor(2), options), Y1) << "OpenMP 2 threads, batch " << batch;
        EXPECT_EQ(c.M.adjoint().apply(V, OpenMPExecutor(2), options), A1) << "OpenMP adjoint, batch " << batch;
#endif
      }
    }
  }
}

/// A caller's executor that reports `Concurrency` workers (0: the library must still use one
/// slot) but runs every task in turn on the calling thread, so the first slot claims every tile.
template <Index Concurrency>
struct SequentialExecutor {
  Index concurrency() const { return Concurrency; }
  template <class F>
  void parallel_for(Index n, F&& task) const {
    for (Index i = 0; i < n; ++i) task(i);
  }
};

TYPED_TEST(KernelsTest, BitwiseIdenticalAcrossThreadCountsWithThePolicysTile) {
  // With the policy's tile, 2 workers may shrink it: 2t + 1 rows are 3 tiles serially and, unless t
  // is the shape's minimum, 4 or more smaller ones on two threads (balanced_batch_tile); where
  // streamed weights make the batch one tile per worker, 1 tile serially and 2 on two threads.
  using T = TypeParam;
  const auto pool = thread_pool_executor(2), pool3 = thread_pool_executor(3);
  for (const auto path : compiled_paths<T>()) {
    if (path == KernelPath::reference) continue;
    const KernelOptions options({path, 0});
    int shrunk = 0;
    for (const auto& c : this->cases()) {
      SCOPED_TRACE(::testing::Message() << to_string(path) << " " << c.named.name);
      const Index batch = 2 * kn::plan_kernels<T>(c.named.shape, 1, 1).batch_tile + 1;
      shrunk += kn::plan_kernels<T>(c.named.shape, batch, 2).batch_tile <
                kn::plan_kernels<T>(c.named.shape, batch, 1).batch_tile;
      const RowBatch<T> X = random_matrix<T>(batch, c.M.cols(), 25);
      const RowBatch<T> V = random_matrix<T>(batch, c.M.rows(), 26);
      const RowBatch<T> Y1 = c.M.apply(X, SerialExecutor{}, options), A1 = c.M.adjoint().apply(V, SerialExecutor{}, options);
      EXPECT_EQ(c.M.apply(X, pool, options), Y1);
      EXPECT_EQ(c.M.adjoint().apply(V, pool, options), A1);
      EXPECT_EQ(c.M.apply(X, pool3, options), Y1) << "3 threads";
      EXPECT_EQ(c.M.adjoint().apply(V, pool3, options), A1) << "3 threads";
#if defined(_OPENMP)
      EXPECT_EQ(c.M.apply(X, OpenMPExecutor(2), options), Y1) << "OpenMP";
      EXPECT_EQ(c.M.adjoint().apply(V, OpenMPExecutor(2), options), A1) << "OpenMP";
#endif
    }
    EXPECT_GT(shrunk, 0) << "no shape exercised a thread-dependent tile";
  }
}

TYPED_TEST(KernelsTest, BitwiseIdenticalForEveryTileSize) {
  // What lets the policy pick the tile per executor: a row's result does not depend on the size
  // of the tile that holds it, its place in the tile or its register-tile remainder (1: one row
  // per tile; 41: one tile, work split over blocks).
  using T = TypeParam;
  const Index batch = 41;
  for (const auto path : compiled_paths<T>()) {
    if (path == KernelPath::reference) continue;
    for (const auto& c : this->cases()) {
      const RowBatch<T> X = random_matrix<T>(batch, c.M.cols(), 27);
      const RowBatch<T> V = random_matrix<T>(batch, c.M.rows(), 28);
      RowBatch<T> Y1, A1;
      {
        const KernelOptions options({path, 1});
        Y1 = c.M.apply(X, SerialExecutor{}, options);
        A1 = c.M.adjoint().apply(V, SerialExecutor{}, options);
      }
      for (const Index tile : {2, 5, 7, 12, 13, 22, 24, 40, 41}) {
        SCOPED_TRACE(::testing::Message() << to_string(path) << " " << c.named.name << " tile " << tile);
        const KernelOptions options({path, tile});
        EXPECT_EQ(c.M.apply(X, SerialExecutor{}, options), Y1);
        EXPECT_EQ(c.M.adjoint().apply(V, SerialExecutor{}, options), A1);
      }
    }
  }
}

TYPED_TEST(KernelsTest, NonTemporalOutputIsBitwiseTheSame) {
  // Non-temporal stores change where the output goes, never its values: with them forced on,
  // outputs whose rows start on a 64-byte boundary (non-temporal where whole vectors are stored),
  // one value off it (mostly normal stores), column-major, and on two threads, equal the normally
  // stored result, forward and adjoint, and nothing around the output is written.
  using T = TypeParam;
  const auto pool = thread_pool_executor(2);
  const Index batch = 41;
  constexpr Index line = std::max<Index>(1, Index(64 / sizeof(T)));
  // Runs apply_into(out) on a guarded buffer of `cols`-value rows whose first row starts `offset`
  // values past a 64-byte boundary, and returns the output.
  auto into_guarded = [&](Index cols, Index offset, const auto& apply_into) {
    const Index stride = (cols + line) / line * line;  // whole lines, one spare value at least
    const T guard(7);
    detail::AlignedVector<T> buf(static_cast<std::size_t>(batch * stride + line), guard);
    apply_into(MatrixView<T>{buf.data() + offset, batch, cols, stride, 1});
    for (Index i = 0; i < Index(buf.size()); ++i) {
      const bool inside = i >= offset && (i - offset) / stride < batch && (i - offset) % stride < cols;
      EXPECT_TRUE(inside || buf[static_cast<std::size_t>(i)] == guard) << "written outside at " << i;
    }
    return RowBatch<T>(Eigen::Map<const RowBatch<T>, 0, Eigen::OuterStride<>>(buf.data() + offset, batch, cols,
                                                                                Eigen::OuterStride<>(stride)));
  };
  for (const auto path : compiled_paths<T>()) {
    if (path == KernelPath::reference) continue;
    for (const Index tile : {Index(0), Index(5)}) {
      for (const auto& c : this->cases()) {
        SCOPED_TRACE(::testing::Message() << to_string(path) << " tile " << tile << " " << c.named.name);
        const RowBatch<T> X = random_matrix<T>(batch, c.M.cols(), 29);
        const RowBatch<T> V = random_matrix<T>(batch, c.M.rows(), 30);
        RowBatch<T> Y0, A0;
        {
          const KernelOptions options({path, tile, NonTemporal::off});
          Y0 = c.M.apply(X, SerialExecutor{}, options);
          A0 = c.M.adjoint().apply(V, SerialExecutor{}, options);
        }
        const KernelOptions options({path, tile, NonTemporal::on});
        for (const Index offset : {Index(0), Index(1)}) {
          SCOPED_TRACE(::testing::Message() << "offset " << offset);
          EXPECT_EQ(into_guarded(c.M.rows(), offset, [&](MatrixView<T> Y) { c.M.apply(view(X), Y, SerialExecutor{}, detail::default_workspace<T>(), options); }), Y0);
          EXPECT_EQ(into_guarded(c.M.cols(), offset, [&](MatrixView<T> A) { c.M.adjoint().apply(view(V), A, SerialExecutor{}, detail::default_workspace<T>(), options); }), A0);
        }
        Dense<T> Yc(batch, c.M.rows());
        c.M.apply(X, Yc, SerialExecutor{}, detail::default_workspace<T>(), options);
        EXPECT_EQ(RowBatch<T>(Yc), Y0) << "column-major";
        EXPECT_EQ(c.M.apply(X, pool, options), Y0) << "two threads";
        EXPECT_EQ(c.M.adjoint().apply(V, pool, options), A0) << "two threads";
      }
    }
  }
}

TYPED_TEST(KernelsTest, BiasAddedInTheFinalStoreEqualsAddingItAfterwards) {
  // monarch_multiply's bias (MonarchLinear's, added as the last stage stores each output vector)
  // on every shape family and odd size, so every final store of every path and scalar (lanes,
  // partial lane groups, the broadcast kernel's strided and unit-stride stores and their tails),
  // with tile tails, non-temporal stores and two threads: bitwise the product with the bias added
  // afterwards, and nothing around the output is written.
  using T = TypeParam;
  const auto pool = thread_pool_executor(2);
  const Index batch = 41;
  const T guard(7);
  for (const auto path : compiled_paths<T>())
    for (const Index tile : {Index(0), Index(5)})
      for (const auto nontemporal : {NonTemporal::off, NonTemporal::on})
        for (const auto& c : this->cases()) {
          SCOPED_TRACE(::testing::Message() << to_string(path) << " tile " << tile << " " << c.named.name
                                            << " non-temporal " << (nontemporal == NonTemporal::on));
          const KernelOptions options({path, tile, nontemporal});
          const RowBatch<T> X = random_matrix<T>(batch, c.M.cols(), 51);
          const RowBatch<T> bias = random_matrix<T>(1, c.M.rows(), 52);
          RowBatch<T> want = c.M.apply(X, SerialExecutor{}, options);
          want.rowwise() += bias.row(0);
          const kn::PackCache<T> cache;
          Workspace<T> ws;
          for (const bool threads : {false, true}) {
            RowBatch<T> frame = RowBatch<T>::Constant(batch + 2, c.M.rows() + 3, guard);
            const MatrixView<T> Y{frame.data() + frame.cols() + 1, batch, c.M.rows(), frame.cols(), 1};
            const auto multiply = [&](const auto& exec) {
              detail::monarch_multiply(kn::Direction::forward, c.M.w1(), c.M.w2(), cache, view(X), Y,
                                       detail::TaskRunner(exec), ws, options, bias.data());
            };
            if (threads)
              multiply(pool);
            else
              multiply(SerialExecutor{});
            EXPECT_TRUE(frame.block(1, 1, batch, c.M.rows()) == want) << "threads " << threads;
            frame.block(1, 1, batch, c.M.rows()).setConstant(guard);
            EXPECT_TRUE((frame.array() == guard).all()) << "wrote outside the output";
          }
        }
}

TYPED_TEST(KernelsTest, FreshWorkspaceSufficesForAnyExecutor) {
  // A new Workspace per call holds exactly what the call reserves, so under AddressSanitizer any
  // intermediate written past it (a tile slot, a padded row) is reported. The reservation is
  // one padded row per tile row per concurrent tile (slots = min(tiles, max(1, workers))), plus
  // the gaps between slots. Executors that run fewer tasks at once than they report, or more
  // slots than divide the tiles, must still run every tile.
  using T = TypeParam;
  const auto pool2 = thread_pool_executor(2), pool3 = thread_pool_executor(3), pool4 = thread_pool_executor(4),
             pool8 = thread_pool_executor(8);
  for (const auto path : compiled_paths<T>()) {
    if (path == KernelPath::reference) continue;
    const KernelOptions options({path, 8});
    for (const auto& c : this->cases()) {
      const Index batch = 41, tiles = 6, N = c.named.shape.inner();
      const RowBatch<T> X = random_matrix<T>(batch, c.M.cols(), 23);
      const RowBatch<T> V = random_matrix<T>(batch, c.M.rows(), 24);
      const RowBatch<T> Y1 = c.M.apply(X, SerialExecutor{}, options), A1 = c.M.adjoint().apply(V, SerialExecutor{}, options);
      auto check = [&](const auto& exec, Index workers, const char* what) {
        SCOPED_TRACE(::testing::Message() << to_string(path) << " " << c.named.name << " " << what);
        Workspace<T> ws, ws_adj;
        RowBatch<T> Y(batch, c.M.rows()), A(batch, c.M.cols());
        c.M.apply(X, Y, exec, ws, options);
        c.M.adjoint().apply(V, A, exec, ws_adj, options);
        EXPECT_EQ(Y, Y1);
        EXPECT_EQ(A, A1);
        const Index slots = std::min(tiles, std::max<Index>(1, workers)), gap = kn::kSlotGapBytes / Index(sizeof(T));
        const Index want = (slots - 1) * gap + slots * 8 * kn::intermediate_row_stride<T>(N);
        EXPECT_EQ(ws.capacity(), want);
        EXPECT_EQ(ws_adj.capacity(), want);
      };
      check(SerialExecutor{}, 1, "serial");
      check(SequentialExecutor<0>{}, 0, "concurrency 0");
      check(pool2, 2, "2 threads");
      check(pool3, 3, "3 threads");
      check(pool4, 4, "4 threads (slots do not divide the tiles)");
      check(pool8, 8, "8 threads (more workers than tiles)");
      check(SequentialExecutor<4>{}, 4, "4 slots run one after another");
    }
  }
}

TYPED_TEST(KernelsTest, PackedWeightsFollowFactorUpdates) {
  // Every way the API can change a Monarch's factors, each after both multiplies have packed the
  // old ones: the next multiplies must use the new factors, and copies keep their own.
  using T = TypeParam;
  const Shape shape{3, 17, 33, 17, 3, 3};
  const RowBatch<T> X = random_matrix<T>(4, shape.cols(), 1);
  const RowBatch<T> Y = random_matrix<T>(4, shape.rows(), 2);
  const auto expect_current = [&](const Monarch<T>& M, const char* how) {
    const Dense<wider_t<T>> D = dense_from_channels(M.w1(), M.w2());
    EXPECT_LE(relative_error(M.apply(X), (X.template cast<wider_t<T>>() * D.transpose()).eval()),
              tolerance<T>(accumulation_length(shape)))
        << how;
    EXPECT_LE(relative_error(M.adjoint().apply(Y), (Y.template cast<wider_t<T>>() * D.conjugate()).eval()),
              tolerance<T>(accumulation_length(shape)))
        << how << " (adjoint)";
  };
  const auto other = Monarch<T>::random(shape, 6);
  const std::vector<std::pair<const char*, std::function<void(Monarch<T>&)>>> updates = {
      {"update", [](Monarch<T>& M) { M.update([](auto& w1, auto& w2) { w1(1, 2, 3) += T(1), w2(4, 1, 2) -= T(2); }); }},
      {"update that throws after writing",
       [](Monarch<T>& M) {
         EXPECT_THROW(M.update([](auto& w1, auto&) {
           w1(0, 0, 0) = T(5);
           throw std::runtime_error("stop");
         }),
                      std::runtime_error);
       }},
      {"update to zero", [](Monarch<T>& M) { M.update([](auto& w1, auto&) { w1 = BlockDiagonal<T>(3, 17, 33); }); }},
      {"set_factors", [&](Monarch<T>& M) { M.set_factors(other.w1(), other.w2()); }},
      {"copy assignment", [&](Monarch<T>& M) { M = other; }},
      {"move assignment", [&](Monarch<T>& M) { M = Monarch<T>::random(shape, 7); }},
  };
  for (const auto& [how, change] : updates) {
    auto M = Monarch<T>::random(shape, 5);
    const Monarch<T> copy = M;
    const RowBatch<T> before = M.apply(X), before_adjoint = M.adjoint().apply(Y);
    change(M);
    expect_current(M, how);
    EXPECT_EQ(copy.apply(X), before) << how << ": a copy keeps its own weights";
    EXPECT_EQ(copy.adjoint().apply(Y), before_adjoint) << how << ": a copy keeps its own weights";
  }
}

TYPED_TEST(KernelsTest, ConcurrentFirstUseIsSafe) {
  // Two threads race to pack the weights of a fresh Monarch; both get the serial answer.
  using T = TypeParam;
  const Monarch<T> ref = Monarch<T>::random(Shape::square(8), 77);
  const RowBatch<T> X = random_matrix<T>(50, ref.cols(), 2);
  const RowBatch<T> want = ref.apply(X);
  for (int round = 0; round < 4; ++round) {
    const Monarch<T> M = Monarch<T>::random(Shape::square(8), 77);
    RowBatch<T> Y1, Y2;
    std::thread t1([&] { Y1 = M.apply(X); });
    std::thread t2([&] { Y2 = M.apply(X); });
    t1.join();
    t2.join();
    EXPECT_EQ(Y1, want);
    EXPECT_EQ(Y2, want);
  }
}

TYPED_TEST(KernelsTest, SmallGemmBuildingBlockMatchesNaiveLoop) {
  // detail::kernels::small_gemm, the entry the backward pass reuses: strided A and C, packed B,
  // overwrite and accumulate, with row and column tails; and a bias added to every row as stored.
  using T = TypeParam;
  using V = kn::PortableVec<T, kn::portable_width<T>>;
  constexpr int NV = 2, NR = NV * V::width;
  const Index M = 13, N = 2 * NR + 3, K = 19;
  const Dense<T> A = random_matrix<T, Dense<T>>(M, K, 1);  // column-major: a_rs = 1, a_ks = M
  const RowBatch<T> B = random_matrix<T>(K, N, 2);
  std::vector<T> packed(static_cast<std::size_t>(kn::packed_panels_size(K, N, NR)));
  kn::pack_panels(K, N, NR, [&](Index k, Index j) { return B(k, j); }, packed.data());
  Dense<T> C = random_matrix<T, Dense<T>>(M, N, 3);  // column-major output: c_cs = M
  const Dense<T> C0 = C;
  Dense<wider_t<T>> want = Dense<wider_t<T>>::Zero(M, N);
  for (Index i = 0; i < M; ++i)
    for (Index j = 0; j < N; ++j)
      for (Index k = 0; k < K; ++k) want(i, j) += wider_t<T>(A(i, k)) * wider_t<T>(B(k, j));
  kn::small_gemm<V, 4, NV>(M, N, K, A.data(), 1, M, packed.data(), C.data(), 1, M, false);
  MONARCH_EXPECT_CLOSE(T, C, want, K);
  C = C0;
  kn::small_gemm<V, 4, NV>(M, N, K, A.data(), 1, M, packed.data(), C.data(), 1, M, true);
  MONARCH_EXPECT_CLOSE(T, C, (want + C0.template cast<wider_t<T>>()).eval(), K);
  RowBatch<T> Cr(M, N);  // unit column stride (vector stores)
  kn::small_gemm<V, 3, NV>(M, N, K, A.data(), 1, M, packed.data(), Cr.data(), N, 1, false);
  MONARCH_EXPECT_CLOSE(T, Cr, want, K);
  // The bias is addressed like a row of C: bias[j * c_cs].
  const RowBatch<T> b = random_matrix<T>(1, N, 4);
  const Dense<wider_t<T>> want_b = want.rowwise() + b.row(0).template cast<wider_t<T>>();
  kn::small_gemm<V, 3, NV>(M, N, K, A.data(), 1, M, packed.data(), Cr.data(), N, 1, false, false, b.data());
  MONARCH_EXPECT_CLOSE(T, Cr, want_b, K);
  // Column-major M x N with b as its first row: b(j) at j * M, NaN in between, so a bias read at
  // any other offset shows.
  Dense<T> strided_b = Dense<T>::Constant(M, N, T(std::numeric_limits<real_t<T>>::quiet_NaN()));
  strided_b.row(0) = b;
  kn::small_gemm<V, 4, NV>(M, N, K, A.data(), 1, M, packed.data(), C.data(), 1, M, false, false, strided_b.data());
  MONARCH_EXPECT_CLOSE(T, C, want_b, K);
}

/// lanes_tile for vector type V against the per-lane naive loop: every row count m <= MR, output
/// count nt <= NT and lane count up to the width, with strided (non-contiguous) rows and outputs,
/// stored normally and non-temporally, into unaligned outputs and outputs on 64-byte boundaries
/// (where AVX-512 really stores non-temporally), with and without a bias.
template <class V, int MR, int NT>
void check_lanes_tile() {
  using T = typename V::Scalar;
  constexpr int W = V::width;
  const Index K = 19, nblocks = W, a_rs = 3 * K * W + 5, a_ks = W + 2;
  const Dense<T> A = random_matrix<T, Dense<T>>(MR * a_rs, 1, 31);
  const RowBatch<T> P = random_matrix<T>(nblocks * NT, K, 32);  // P_z[j, k] = P(z*NT + j, k)
  std::vector<T> packed(static_cast<std::size_t>(kn::packed_lanes_size(NT, K, NT, W)));
  struct Layout {
    Index c_rs, c_js;
    bool nontemporal;
  };
  const Layout layouts[] = {{NT * W + 7, W + 1, false}, {NT * W + 7, W + 1, true}, {(NT + 1) * W, W, true}};
  const RowBatch<T> bias_values = random_matrix<T>(1, NT * (W + 1), 33);  // bias[j*c_js + z]
  for (int lanes : {W, std::max(1, W - 3), 1}) {
    kn::pack_lanes(0, lanes, NT, K, NT, W, [&](Index z, Index j, Index k) { return P(z * NT + j, k); }, packed.data());
    for (const Layout& L : layouts)
      for (const T* bias : {static_cast<const T*>(nullptr), bias_values.data()})
        for (int m = 1; m <= MR; ++m)
          for (int nt = 1; nt <= NT; ++nt) {
            SCOPED_TRACE(::testing::Message() << "lanes " << lanes << " m " << m << " nt " << nt << " c_rs " << L.c_rs
                                              << " nontemporal " << L.nontemporal << " bias " << (bias != nullptr));
            detail::AlignedVector<T> C(static_cast<std::size_t>(MR * L.c_rs + W), T(7));
            kn::lanes_tile<V, MR, NT>(K, A.data(), a_rs, a_ks, packed.data(), C.data(), L.c_rs, L.c_js, m, nt, lanes,
                                      L.nontemporal, bias);
            if (L.nontemporal) V::nontemporal_fence();
            Dense<wider_t<T>> got(m * nt, lanes), want = Dense<wider_t<T>>::Zero(m * nt, lanes);
            for (int i = 0; i < m; ++i)
              for (int j = 0; j < nt; ++j)
                for (int z = 0; z < lanes; ++z) {
                  got(i * nt + j, z) = wider_t<T>(C[static_cast<std::size_t>(i * L.c_rs + j * L.c_js + z)]);
                  if (bias != nullptr) want(i * nt + j, z) = wider_t<T>(bias[j * L.c_js + z]);
                  for (Index k = 0; k < K; ++k)
                    want(i * nt + j, z) += wider_t<T>(A(i * a_rs + k * a_ks + z, 0)) * wider_t<T>(P(z * NT + j, k));
                }
            MONARCH_EXPECT_CLOSE(T, got, want, K);
            // Nothing outside the m x nt x lanes outputs is written.
            Index untouched = 0;
            for (std::size_t e = 0; e < C.size(); ++e) untouched += C[e] == T(7);
            EXPECT_EQ(untouched, Index(C.size()) - m * nt * lanes);
          }
  }
}

TEST(KernelBuildingBlocks, LanesTileMatchesNaiveLoop) {
  check_lanes_tile<kn::PortableVec<float, kn::portable_width<float>>, 3, 3>();
  check_lanes_tile<kn::PortableVec<double, kn::portable_width<double>>, 3, 3>();
  using F = kn::VecFor<float, kn::best_path<float>()>;
  using D = kn::VecFor<double, kn::best_path<double>()>;
  using TF = kn::RegisterTiles<F::registers>;
  using TD = kn::RegisterTiles<D::registers>;
  check_lanes_tile<F::type, TF::lanes_mr, TF::lanes_nt>();
  check_lanes_tile<D::type, TD::lanes_mr, TD::lanes_nt>();
}

/// gram_matrix for vector type V against the naive triple loop, over sizes with row-tile and
/// panel tails (and the mirror) on both sides.
template <class V, int MR, int NV>
void check_gram_matrix() {
  using T = typename V::Scalar;
  for (Index m : {1, 5, 64}) {
    for (Index n : {1, 3, 17, 64, 70}) {
      SCOPED_TRACE(::testing::Message() << m << " x " << n);
      const Dense<T> S = random_matrix<T, Dense<T>>(m, n, 5 + m * n);
      std::vector<T> pack(static_cast<std::size_t>(kn::packed_panels_size(m, n, NV * V::width)));
      Dense<T> G(n, n);
      kn::gram_matrix<V, MR, NV>(m, n, S.data(), G.data(), pack.data());
      Dense<wider_t<T>> want = Dense<wider_t<T>>::Zero(n, n);
      for (Index i = 0; i < n; ++i)
        for (Index j = 0; j < n; ++j)
          for (Index k = 0; k < m; ++k) want(i, j) += wider_t<T>(S(k, i)) * wider_t<T>(S(k, j));
      MONARCH_EXPECT_CLOSE(T, G, want, m);
      EXPECT_TRUE(G == G.transpose()) << "the Gram matrix must be exactly symmetric";
    }
  }
}

TEST(KernelBuildingBlocks, GramMatrixMatchesNaiveLoop) {
  check_gram_matrix<kn::PortableVec<float, kn::portable_width<float>>, 4, 2>();
  check_gram_matrix<kn::PortableVec<double, kn::portable_width<double>>, 4, 2>();
  using F = kn::VecFor<float, kn::best_path<float>()>;
  using D = kn::VecFor<double, kn::best_path<double>()>;
  check_gram_matrix<F::type, kn::RegisterTiles<F::registers>::gemm_mr(2), 2>();
  check_gram_matrix<D::type, kn::RegisterTiles<D::registers>::gemm_mr(2), 2>();
}

TEST(KernelPolicy, OptionsFixPathTileAndStores) {
  const Shape sh = Shape::square(64);
  const auto automatic = kn::plan_kernels<float>(sh, 1000, 1);
  EXPECT_EQ(automatic.path, kn::best_path<float>());
  EXPECT_GT(automatic.batch_tile, 0);
  const auto p = kn::plan_kernels<float>(sh, 1000, 2, {KernelPath::portable, 12});
  EXPECT_EQ(p.path, KernelPath::portable);
  EXPECT_EQ(p.batch_tile, 12) << "the options' tile is used as given, whatever the workers";
  EXPECT_EQ(kn::plan_kernels<std::complex<float>>(sh, 1000, 1).path, KernelPath::portable);
  EXPECT_EQ(kn::plan_kernels<std::complex<float>>(sh, 1000, 1, {KernelPath::avx512, 0}).path, KernelPath::portable)
      << "a path not compiled for the scalar falls back to the plan's";
  EXPECT_TRUE(kn::nontemporal_output<float>(1, 1, NonTemporal::on));
  EXPECT_FALSE(kn::nontemporal_output<float>(1 << 20, 4096, NonTemporal::off));
}

TEST(KernelPolicy, NonTemporalOnlyForLargeOutputs) {
  // Outputs of 16 MiB and more bypass the caches; smaller ones are likely read again from them.
  EXPECT_FALSE(kn::nontemporal_output<float>(1023, 4096));
  EXPECT_TRUE(kn::nontemporal_output<float>(1024, 4096));
  EXPECT_FALSE(kn::nontemporal_output<double>(511, 4096));
  EXPECT_TRUE(kn::nontemporal_output<double>(512, 4096));
}

TEST(KernelPolicy, TileFollowsWhereTheWeightsLive) {
  // One worker: about 96 KiB of intermediate per tile where the weights stay in L2, at least 24
  // rows where they exceed 1 MiB (streamed from L3 per tile), 60 where one block exceeds 256 KiB,
  // 256 where every block side is 1024 or more (not rounded to 12 rows: batch 256 is one tile).
  EXPECT_EQ(kn::plan_kernels<float>(Shape::square(32), 1000, 1).batch_tile, 24);   // 256 KiB of weights
  EXPECT_EQ(kn::plan_kernels<double>(Shape::square(32), 1000, 1).batch_tile, 12);  // 512 KiB
  EXPECT_EQ(kn::plan_kernels<float>(Shape::square(64), 1000, 1).batch_tile, 24);   // 2 MiB
  EXPECT_EQ(kn::plan_kernels<double>(Shape::square(64), 1000, 1).batch_tile, 24);  // 4 MiB
  EXPECT_EQ(kn::plan_kernels<float>(Shape::monarch_linear(4096, 4096, 4), 1000, 1).batch_tile, 256);
  EXPECT_EQ(kn::plan_kernels<double>(Shape::monarch_linear(4096, 4096, 4), 256, 1).batch_tile, 256);
  EXPECT_EQ(kn::plan_kernels<float>(Shape::monarch_linear(1024, 4096, 4), 1000, 1).batch_tile, 60);
}

TEST(KernelPolicy, SmallBatchRunsOneTilePerWorkerWhereWeightsStream) {
  // Streamed weights (over 1 MiB) and no large block: while each worker's share of the batch holds
  // at most 2 MiB of intermediate, the share is one tile, so the weights are streamed once per
  // worker. Beyond that, and for large blocks, the tile rules of TileFollowsWhereTheWeightsLive.
  const Shape square64 = Shape::square(64), linear1024 = Shape::monarch_linear(1024, 1024, 4);
  EXPECT_EQ(kn::plan_kernels<float>(square64, 128, 1).batch_tile, 128);  // 128 rows of 16 KiB: 2 MiB
  EXPECT_EQ(kn::plan_kernels<float>(square64, 129, 1).batch_tile, 24);
  EXPECT_EQ(kn::plan_kernels<float>(square64, 64, 2).batch_tile, 32);
  EXPECT_EQ(kn::plan_kernels<float>(square64, 64, 0).batch_tile, 64);  // no workers reported: one
  EXPECT_EQ(kn::plan_kernels<float>(square64, 255, 2).batch_tile, 128);
  EXPECT_EQ(kn::plan_kernels<float>(square64, 50, 1).batch_tile, 50);  // not rounded to 12 rows
  EXPECT_EQ(kn::plan_kernels<float>(square64, 8, 1).batch_tile, 24);   // never below the streamed minimum
  EXPECT_EQ(kn::plan_kernels<double>(square64, 64, 1).batch_tile, 64);  // rows of 32 KiB
  EXPECT_EQ(kn::plan_kernels<double>(square64, 65, 1).batch_tile, 24);
  EXPECT_EQ(kn::plan_kernels<float>(linear1024, 512, 1).batch_tile, 512);  // 2 MiB of weights, 4 KiB rows
  EXPECT_EQ(kn::plan_kernels<float>(linear1024, 513, 1).batch_tile, 24);
  EXPECT_EQ(kn::plan_kernels<double>(linear1024, 64, 1).batch_tile, 60);  // f64 blocks of 512 KiB are large
  EXPECT_EQ(kn::plan_kernels<float>(Shape::monarch_linear(1024, 4096, 4), 64, 1).batch_tile, 60);  // large blocks
  EXPECT_EQ(kn::plan_kernels<float>(Shape::square(32), 64, 1).batch_tile, 24);  // weights stay in L2
}

TEST(KernelPolicy, TileIntermediateIsCappedForWideLayers) {
  // However wide the layer, a tile holds at most kMaxTileIntermediateBytes of intermediate (unless
  // that leaves fewer than kMinBatchTile rows), so the workspace a call reserves stays bounded.
  const auto check = [](const Shape& sh, auto scalar) {
    using T = decltype(scalar);
    const Index row_bytes = sh.inner() * Index(sizeof(T));
    for (const Index workers : {1, 2}) {
      const Index tile = kn::plan_kernels<T>(sh, 100000, workers).batch_tile;
      SCOPED_TRACE(::testing::Message() << "inner " << sh.inner() << " bytes " << sizeof(T) << " workers " << workers);
      EXPECT_GE(tile, kn::kMinBatchTile);
      EXPECT_TRUE(tile == kn::kMinBatchTile || tile * row_bytes <= kn::kMaxTileIntermediateBytes) << tile;
    }
  };
  for (const Index n : {16384, 65536, 262144}) {
    check(Shape::monarch_linear(n, n, 4), float{});
    check(Shape::monarch_linear(n, n, 4), double{});
  }
  check(Shape::square(1024), float{});  // blocks of 1024: one row of H is 4 MiB
  // Wide blocks otherwise take 256 rows: 16 MiB / 256 KiB per row leaves 64; at n = 16384 the 256
  // rows of 64 KiB hold exactly 16 MiB and stay.
  EXPECT_EQ(kn::plan_kernels<float>(Shape::monarch_linear(65536, 65536, 4), 100000, 1).batch_tile, 64);
  EXPECT_EQ(kn::plan_kernels<float>(Shape::monarch_linear(16384, 16384, 4), 100000, 1).batch_tile, 256);
}

TEST(KernelPolicy, BalancedTileShortensTheBusiestSlot) {
  // balanced_batch_tile against its contract, by exhaustive search: with w workers, tiles of t
  // rows come in ceil(ceil(batch / t) / slots) rounds and give the busiest slot rounds * t rows.
  // Candidates: multiples of 12 below the policy's tile, and the smallest tile with no more
  // rounds; none below min_tile. The result saves at least 1/16 of the busiest slot's rows or
  // is the policy's tile; no candidate leaves fewer rows; on a tie a multiple of 12 wins, then
  // the larger. One worker or one tile: unchanged.
  auto ceil_div = [](Index a, Index b) { return (a + b - 1) / b; };
  for (const Index tile : {1, 5, 12, 24, 60, 96, 256})
    for (const Index min_tile : {Index(1), ceil_div(tile, 2), tile})
      for (const Index workers : {0, 1, 2, 3, 4, 8})
        for (Index batch = 1; batch <= std::max<Index>(700, 4 * tile + 100); ++batch) {
          SCOPED_TRACE(::testing::Message() << batch << " rows, tile " << tile << ", min " << min_tile << ", "
                                            << workers << " workers");
          auto slots = [&](Index t) { return std::min(ceil_div(batch, t), std::max<Index>(1, workers)); };
          auto rounds = [&](Index t) { return ceil_div(ceil_div(batch, t), slots(t)); };
          auto busiest = [&](Index t) { return rounds(t) * t; };
          const Index got = kn::balanced_batch_tile(batch, tile, workers, min_tile);
          if (slots(tile) == 1) {
            ASSERT_EQ(got, tile);
            continue;
          }
          Index smallest = tile;
          for (Index t = tile; t >= 1 && rounds(t) <= rounds(tile) && slots(t) == slots(tile); --t) smallest = t;
          std::vector<Index> candidates;
          for (Index t = 12; t < tile; t += 12) candidates.push_back(t);
          candidates.push_back(smallest);
          Index want = tile;
          for (const Index t : candidates) {
            if (t < min_tile || 16 * busiest(t) > 15 * busiest(tile)) continue;
            const bool fewer = busiest(t) < busiest(want);
            const bool tie_better = busiest(t) == busiest(want) && want != tile &&
                                    ((t % 12 == 0 && want % 12 != 0) || ((t % 12 == 0) == (want % 12 == 0) && t > want));
            if (fewer || tie_better) want = t;
          }
          ASSERT_EQ(got, want);
        }
  EXPECT_EQ(kn::balanced_batch_tile(256, 24, 2, 12), 12);   // square n = 1024 f32: 11 tiles of 24 -> 22 of 12
  EXPECT_EQ(kn::balanced_batch_tile(256, 24, 2, 24), 24);   // square n = 4096: 24 rows is the minimum
  EXPECT_EQ(kn::balanced_batch_tile(256, 60, 2, 30), 43);   // MonarchLinear 1024 -> 4096: 5 tiles -> 6 of 43
  EXPECT_EQ(kn::balanced_batch_tile(1040, 256, 2, 128), 174);  // MonarchLinear n = 4096: 5 tiles -> 6 of 174
  EXPECT_EQ(kn::balanced_batch_tile(1024, 256, 2, 128), 256);  // 4 tiles: already even
  EXPECT_EQ(kn::balanced_batch_tile(1024, 24, 2, 12), 24);  // 43 tiles: 12 rows would save 2%
  EXPECT_EQ(kn::balanced_batch_tile(4096, 24, 1, 12), 24);
}

TEST(KernelPolicy, SlotsRunEveryTileExactlyOnce) {
  // The slots of a call run one after another (the first takes every tile left unowned), in
  // reverse, and on two threads: each tile runs exactly once, and
  // with the slots run in turn, each runs the leading owned_tiles of its own region first.
  for (Index tiles = 1; tiles <= 60; ++tiles)
    for (Index slots = 1; slots <= std::min<Index>(tiles, 9); ++slots) {
      SCOPED_TRACE(::testing::Message() << tiles << " tiles, " << slots << " slots");
      const Index region = (tiles + slots - 1) / slots;
      for (const bool reverse : {false, true}) {
        std::vector<int> runs(static_cast<std::size_t>(tiles), 0);
        std::atomic<Index> next{0};
        for (Index i = 0; i < slots; ++i) {
          const Index slot = reverse ? slots - 1 - i : i;
          std::vector<Index> order;
          kn::run_slot_tiles(slot, slots, tiles, next, [&](Index t) {
            ASSERT_GE(t, 0);
            ASSERT_LT(t, tiles);
            ++runs[static_cast<std::size_t>(t)];
            order.push_back(t);
          });
          for (Index j = 0; j < std::min(kn::owned_tiles(region), tiles - slot * region); ++j) {
            ASSERT_LT(j, Index(order.size()));
            EXPECT_EQ(order[static_cast<std::size_t>(j)], slot * region + j);
          }
        }
        for (Index t = 0; t < tiles; ++t) EXPECT_EQ(runs[static_cast<std::size_t>(t)], 1) << "tile " << t;
      }
      std::vector<std::atomic<int>> runs(static_cast<std::size_t>(tiles));
      std::atomic<Index> next{0};
      std::vector<std::thread> pool;
      for (Index slot = 0; slot < std::min<Index>(slots, 2); ++slot)
        pool.emplace_back([&, slot] {
          for (Index s = slot; s < slots; s += 2)
            kn::run_slot_tiles(s, slots, tiles, next, [&](Index t) { runs[static_cast<std::size_t>(t)]++; });
        });
      for (auto& th : pool) th.join();
      for (Index t = 0; t < tiles; ++t) EXPECT_EQ(runs[static_cast<std::size_t>(t)].load(), 1) << "tile " << t;
    }
}

/// intermediate_row_stride<T> against its definition: a whole number of 64-byte lines that is
/// even gets one more line; anything else is left alone.
template <class T>
void check_row_stride() {
  const Index bytes = Index(sizeof(T)), line = std::max<Index>(1, 64 / bytes);
  for (Index N = 1; N <= 4200; ++N) {
    const Index hs = kn::intermediate_row_stride<T>(N);
    const bool whole_even = (N * bytes) % 64 == 0 && ((N * bytes) / 64) % 2 == 0;
    ASSERT_EQ(hs, whole_even ? N + line : N) << "N = " << N;
    if ((hs * bytes) % 64 == 0) {
      ASSERT_EQ((hs * bytes / 64) % 2, 1) << "N = " << N;
    }
  }
}

TEST(KernelPolicy, IntermediateRowStrideIsAnOddNumberOfLines) {
  check_row_stride<float>();
  check_row_stride<double>();
  check_row_stride<std::complex<double>>();
  EXPECT_EQ(kn::intermediate_row_stride<float>(4096), 4112);
  EXPECT_EQ(kn::intermediate_row_stride<float>(1040), 1040);
  EXPECT_EQ(kn::intermediate_row_stride<double>(64), 72);
}

TEST(KernelPolicy, ResidueSplitWhereSubBlocksFillWholePanelsAndRowsExceedL1) {
  // W = 16 floats / 8 doubles (AVX-512): sub-blocks of q / l columns must be whole 4-vector panels
  // and the intermediate's rows longer than 8 KiB.
  const Shape lin4096 = Shape::monarch_linear(4096, 4096, 4), lin2048 = Shape::monarch_linear(2048, 2048, 4);
  EXPECT_EQ(kn::w1_residue_splits<16>(lin4096, false, 4), 4);
  EXPECT_EQ(kn::w1_residue_splits<8>(lin4096, false, 8), 4);
  EXPECT_EQ(kn::w1_residue_splits<16>(lin4096, true, 4), 1) << "the lanes kernel reads H in place";
  EXPECT_EQ(kn::w1_residue_splits<16>(lin2048, false, 4), 1) << "8 KiB rows";
  EXPECT_EQ(kn::w1_residue_splits<8>(lin2048, false, 8), 4);
  EXPECT_EQ(kn::w1_residue_splits<16>(Shape::monarch_linear(3072, 3072, 4), false, 4), 4) << "192-column sub-blocks";
  EXPECT_EQ(kn::w1_residue_splits<16>(Shape{4, 1120, 16, 4, 16, 1120}, false, 4), 1) << "280-column sub-blocks";
  EXPECT_EQ(kn::w1_residue_splits<16>(Shape{2, 2049, 16, 3, 16, 1366}, false, 4), 1) << "l does not divide q";
  EXPECT_EQ(kn::w1_residue_splits<16>(Shape{4, 1024, 16, 1, 16, 4096}, false, 4), 1) << "l = 1: nothing to permute";
}

/// w1_splits of the forward (and adjoint) pack on path P of the residue-split test shape.
template <class T, KernelPath P>
void expect_residue_split_packed() {
  using F = kn::VecFor<T, P>;
  const auto M = Monarch<T>::random(kResidueSplitShape, 1);
  const Index fwd = kn::pack_multiply<typename F::type, F::registers>(kn::Direction::forward, M.w1(), M.w2()).w1_splits;
  const Index adj = kn::pack_multiply<typename F::type, F::registers>(kn::Direction::adjoint, M.w1(), M.w2()).w1_splits;
  EXPECT_EQ(fwd, kResidueSplitShape.l) << to_string(P);
  EXPECT_EQ(adj, 1) << to_string(P);
}

TEST(KernelPolicy, ResidueSplitTestShapeIsSplitOnEveryPath) {
  // So that the agreement tests on kernel_shapes() cover the split stage on every path compiled.
  expect_residue_split_packed<float, KernelPath::portable>();
  expect_residue_split_packed<double, KernelPath::portable>();
  expect_residue_split_packed<std::complex<float>, KernelPath::portable>();
  expect_residue_split_packed<std::complex<double>, KernelPath::portable>();
  expect_residue_split_packed<float, kn::best_path<float>()>();
  expect_residue_split_packed<double, kn::best_path<double>()>();
  if constexpr (kn::path_available<float>(KernelPath::avx2)) {
    expect_residue_split_packed<float, KernelPath::avx2>();
    expect_residue_split_packed<double, KernelPath::avx2>();
  }
}

}  // namespace
}  // namespace monarch::test
