// monarch::detail: TaskRunner, the executor as the kernels see it.
//
// The public API takes any executor type; below it, one non-template type carries the caller's
// executor, so the kernel tower is compiled once per scalar and path instead of once per
// executor type in every translation unit. It costs one indirect call per task (a tile or a
// block, never an element).
#pragma once

#include <memory>
#include <type_traits>

#include "../scalar.hpp"

namespace monarch::detail {

class TaskRunner {
 public:
  /// Refers to `exec`, which must outlive the runner (it is made and used within one call).
  template <class Executor, std::enable_if_t<!std::is_same_v<Executor, TaskRunner>, int> = 0>
  explicit TaskRunner(const Executor& exec)
      : exec_(std::addressof(exec)), concurrency_(exec.concurrency()), run_(&run_on<Executor>) {}

  /// The executor's concurrency, asked once when the runner was made.
  Index concurrency() const { return concurrency_; }

  /// Runs task(0) ... task(n-1) on the executor and returns when all are done.
  template <class F>
  void parallel_for(Index n, F&& task) const {
    using Task = std::remove_reference_t<F>;
    run_(exec_, n, &call<Task>, const_cast<void*>(static_cast<const void*>(std::addressof(task))));
  }

 private:
  using TaskFn = void (*)(void*, Index);

  template <class Task>
  static void call(void* task, Index i) {
    (*static_cast<Task*>(task))(i);
  }
  template <class Executor>
  static void run_on(const void* exec, Index n, TaskFn fn, void* task) {
    static_cast<const Executor*>(exec)->parallel_for(n, [fn, task](Index i) { fn(task, i); });
  }

  const void* exec_;
  Index concurrency_;
  void (*run_)(const void*, Index, TaskFn, void*);
};

}  // namespace monarch::detail
