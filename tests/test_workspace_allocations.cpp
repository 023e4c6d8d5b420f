// Steady-state multiplies do not touch the heap: this executable replaces the global operator
// new/delete with counting versions and checks that repeated apply / adjoint().apply calls (after a
// warm-up that packs the weights and sizes the workspace) allocate nothing.
#include "support/counting_new.hpp"
#include "support/test_support.hpp"

namespace monarch::test {
namespace {

/// Allocations made by `f()`.
template <class F>
long allocations_during(F&& f) {
  const long before = g_allocations.load();
  f();
  return g_allocations.load() - before;
}

template <class T>
class WorkspaceAllocations : public ::testing::Test {};
// The explicit name generator keeps clang -Wpedantic quiet (no empty variadic macro argument).
TYPED_TEST_SUITE(WorkspaceAllocations, Scalars, ::testing::internal::DefaultNameGenerator);

TYPED_TEST(WorkspaceAllocations, CounterSeesTheFirstCall) {
  // The replacement is active and sees the library's own allocations (packing the weights,
  // growing a fresh workspace); otherwise the zero counts below would prove nothing.
  using T = TypeParam;
  const auto M = Monarch<T>::random(Shape::square(8), 1);
  const RowBatch<T> X = random_matrix<T>(5, M.cols(), 1);
  RowBatch<T> Y(5, M.rows());
  Workspace<T> ws;
  EXPECT_GE(allocations_during([&] { M.apply(X, Y, SerialExecutor{}, ws); }), 2);
}

TYPED_TEST(WorkspaceAllocations, RepeatedCallsAllocateNothing) {
  using T = TypeParam;
  for (const auto& ns : shape_families()) {
    SCOPED_TRACE(ns.name);
    const auto M = Monarch<T>::random(ns.shape, 3);
    for (const Index batch : {Index(1), Index(37), Index(300)}) {
      if (batch == 300 && ns.shape.num_params() > 100000) continue;  // keeps the suite fast
      const RowBatch<T> X = random_matrix<T>(batch, M.cols(), 1);
      const RowBatch<T> V = random_matrix<T>(batch, M.rows(), 2);
      RowBatch<T> Y(batch, M.rows());
      Dense<T> Yc(batch, M.rows());
      RowBatch<T> Xa(batch, M.cols());
      Workspace<T> ws;
      // Warm-up: packs the weights (both directions) and grows the workspaces.
      M.apply(X, Y, SerialExecutor{}, ws);
      M.apply(X, Y);
      M.apply(X, Yc);
      M.adjoint().apply(V, Xa, SerialExecutor{}, ws);
      M.adjoint().apply(V, Xa);
      const long n = allocations_during([&] {
        for (int rep = 0; rep < 3; ++rep) {
          M.apply(X, Y, SerialExecutor{}, ws);
          M.apply(X, Y);  // default per-thread workspace
          M.apply(X, Yc, SerialExecutor{}, ws);
          M.adjoint().apply(V, Xa, SerialExecutor{}, ws);
          M.adjoint().apply(V, Xa);
        }
      });
      EXPECT_EQ(n, 0) << "batch " << batch;
    }
  }
}

}  // namespace
}  // namespace monarch::test
