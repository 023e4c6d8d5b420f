// Steady-state training allocates nothing: once a MonarchLinear's workspace and gradient object
// have grown, forward + backward touch neither operator new nor Eigen's heap.
// Global operator new is replaced here (this executable only) to count allocations, and Eigen's
// own heap (aligned_malloc, which bypasses operator new) is checked with EIGEN_RUNTIME_NO_MALLOC,
// whose assertion is routed to a counter.
#include <array>
#include <atomic>
#include <cstdlib>
#include <new>
#include <vector>

namespace alloc_count {
inline std::atomic<bool> counting{false};
inline std::atomic<long> news{0};
inline std::atomic<long> eigen_heap{0};
}  // namespace alloc_count

#define EIGEN_RUNTIME_NO_MALLOC
// Every Eigen assertion that fails while counting is recorded; outside the counted region Eigen's
// heap is allowed, so only a steady-state allocation (or a genuine Eigen assertion) counts.
#define eigen_assert(x) ((x) ? (void)0 : (void)++::alloc_count::eigen_heap)

#include "support/gradient_support.hpp"

// GCC cannot see that these replacements pair malloc/aligned_alloc with free.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
void* operator new(std::size_t n) {
  if (alloc_count::counting) ++alloc_count::news;
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t n, std::align_val_t al) {
  if (alloc_count::counting) ++alloc_count::news;
  const std::size_t a = static_cast<std::size_t>(al);
  if (void* p = std::aligned_alloc(a, (n + a - 1) / a * a)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }

namespace monarch::test {
namespace {

/// Counts allocations between construction and destruction.
class CountAllocations {
 public:
  CountAllocations() {
    alloc_count::news = 0;
    alloc_count::eigen_heap = 0;
    Eigen::internal::set_is_malloc_allowed(false);
    alloc_count::counting = true;
  }
  ~CountAllocations() {
    alloc_count::counting = false;
    Eigen::internal::set_is_malloc_allowed(true);
  }
};

TEST(AllocationCounter, SeesOperatorNewAndEigenHeap) {
  // The instrumentation itself: both kinds of allocation are counted inside the region.
  long news = 0, eigen_heap = 0;
  {
    CountAllocations counter;
    std::vector<int> v(100, 1);
    Eigen::MatrixXf m = Eigen::MatrixXf::Ones(50, 50);
    news = alloc_count::news;
    eigen_heap = alloc_count::eigen_heap;
    EXPECT_EQ(v[99] + int(m(49, 49)), 2);
  }
  EXPECT_GE(news, 1);
  EXPECT_GE(eigen_heap, 1);
}

template <class T>
class AllocationTest : public ::testing::Test {};
TYPED_TEST_SUITE(AllocationTest, Scalars, );

TYPED_TEST(AllocationTest, ForwardBackwardAllocatesNothingOnceWarm) {
  using T = TypeParam;
  // Padded and truncated (10->30, 100->37) and exact (256->512, nblocks 4) layers, batches large
  // enough for several GEMM tiles.
  for (const auto& cfg : {std::array<Index, 3>{10, 30, 4}, std::array<Index, 3>{100, 37, 8},
                          std::array<Index, 3>{256, 512, 4}}) {
    SCOPED_TRACE(::testing::Message() << cfg[0] << "->" << cfg[1]);
    MonarchLinear<T> layer(cfg[0], cfg[1], cfg[2], true, 1);
    const Index batch = detail::gemm_tile<T>() + 5;
    const RowBatch<T> X = random_matrix<T>(batch, cfg[0], 2), dY = random_matrix<T>(batch, cfg[1], 3);
    RowBatch<T> Y(batch, cfg[1]);
    typename MonarchLinear<T>::Workspace ws;
    typename MonarchLinear<T>::Gradients g;
    auto step = [&] {
      layer.forward(X, Y, ws);
      layer.backward(X, dY, GradientRequest::all(), g, ws);
    };
    step();  // warm-up: the workspace, the gradients and the kernels' scratch grow here
    long news = 0, eigen_heap = 0;
    {
      CountAllocations counter;
      for (int i = 0; i < 3; ++i) step();
      news = alloc_count::news;
      eigen_heap = alloc_count::eigen_heap;
    }
    EXPECT_EQ(news, 0) << "operator new called in steady state";
    EXPECT_EQ(eigen_heap, 0) << "Eigen heap allocation (or failed Eigen assertion) in steady state";
    EXPECT_TRUE(Y.allFinite());
  }
}

TYPED_TEST(AllocationTest, MonarchBackwardAllocatesNothingOnceWarm) {
  using T = TypeParam;
  const auto M = Monarch<T>::random(Shape{8, 192, 96, 24, 16, 64}, 4);
  const RowBatch<T> X = random_matrix<T>(70, M.cols(), 5), dY = random_matrix<T>(70, M.rows(), 6);
  MonarchGradients<T> g;
  GradientWorkspace<T> ws;
  backward(M, X, dY, GradientRequest::all(), g, ws);
  long news = 0, eigen_heap = 0;
  {
    CountAllocations counter;
    backward(M, X, dY, GradientRequest::all(), g, ws);
    // A smaller batch fits in the grown workspace (dX is not requested: it would be resized).
    backward(M, X.topRows(20), dY.topRows(20), GradientRequest::parameters(), g, ws);
    news = alloc_count::news;
    eigen_heap = alloc_count::eigen_heap;
  }
  EXPECT_EQ(news, 0);
  EXPECT_EQ(eigen_heap, 0);
}

}  // namespace
}  // namespace monarch::test
