// monarch: executors. The library never starts a thread of its own: every call that can run in
// parallel takes an executor chosen by the caller (SerialExecutor by default).
//
// An executor is any type with
//   Index concurrency() const;                     how many tasks may run at once
//   void parallel_for(Index n, F&& task) const;    runs task(0) ... task(n-1), returns when all
//                                                  are done; tasks are independent
// The kernels split work into tasks whose results do not depend on which thread runs them, so the
// output is bitwise identical for every executor and thread count.
#pragma once

#include <functional>
#include <type_traits>
#include <utility>

#include "errors.hpp"
#include "scalar.hpp"

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace monarch {

/// True for types that model the executor interface above.
template <class E, class = void>
struct is_executor : std::false_type {};
namespace detail {
struct ProbeTask {
  void operator()(Index) const {}
};
}  // namespace detail
template <class E>
struct is_executor<E, std::void_t<decltype(std::declval<const E&>().concurrency()),
                                  decltype(std::declval<const E&>().parallel_for(Index(0), detail::ProbeTask{}))>>
    : std::true_type {};
template <class E>
inline constexpr bool is_executor_v = is_executor<E>::value;

/// Runs every task on the calling thread, in order.
struct SerialExecutor {
  Index concurrency() const { return 1; }
  template <class F>
  void parallel_for(Index n, F&& task) const {
    for (Index i = 0; i < n; ++i) task(i);
  }
};

#if defined(_OPENMP)
/// Runs tasks on an OpenMP team of `threads` threads (available when compiled with OpenMP).
class OpenMPExecutor {
 public:
  explicit OpenMPExecutor(int threads = omp_get_max_threads()) : threads_(threads) {
    detail::require_value(threads > 0, "OpenMPExecutor: threads must be positive, given ", threads);
  }
  Index concurrency() const { return threads_; }
  template <class F>
  void parallel_for(Index n, F&& task) const {
#pragma omp parallel for schedule(static) num_threads(threads_)
    for (Index i = 0; i < n; ++i) task(i);
  }

 private:
  int threads_;
};
#endif

/// Adapts a caller's thread pool: `dispatch(n, task)` must run task(0..n-1) (in any order, on any
/// threads) and return when all have finished. `concurrency` is the number of workers.
class PoolExecutor {
 public:
  using Task = std::function<void(Index)>;
  using Dispatch = std::function<void(Index, const Task&)>;
  PoolExecutor(Index concurrency, Dispatch dispatch) : concurrency_(concurrency), dispatch_(std::move(dispatch)) {
    detail::require_value(concurrency > 0 && static_cast<bool>(dispatch_),
                          "PoolExecutor: needs a positive concurrency and a dispatch function, given concurrency ",
                          concurrency);
  }
  Index concurrency() const { return concurrency_; }
  template <class F>
  void parallel_for(Index n, F&& task) const {
    const Task t = std::ref(task);
    dispatch_(n, t);
  }

 private:
  Index concurrency_;
  Dispatch dispatch_;
};

}  // namespace monarch
