// monarch::detail: the one set of multiply entry points shared by Monarch and its adjoint view,
// and the adaptation of their arguments (Eigen objects or MatrixViews) to strided views.
#pragma once

#include <Eigen/Core>
#include <type_traits>

#include "../execution.hpp"
#include "../kernel_options.hpp"
#include "../view.hpp"
#include "../workspace.hpp"

namespace monarch::detail {

template <class A>
struct is_matrix_view : std::false_type {};
template <class T>
struct is_matrix_view<MatrixView<T>> : std::true_type {};

/// The most derived type of an Eigen object (A may be a base such as MatrixBase<D>); void for
/// other types.
template <class A, class = void>
struct eigen_derived {
  using type = void;
};
template <class A>
struct eigen_derived<A, std::void_t<decltype(std::declval<const A&>().derived())>> {
  using type = std::decay_t<decltype(std::declval<const A&>().derived())>;
};

/// True for the argument types a multiply accepts for scalar T: a MatrixView of T, or a directly
/// addressable Eigen object of T.
template <class T, class A>
constexpr bool is_operand_v() {
  if constexpr (is_matrix_view<A>::value) {
    return std::is_same_v<std::remove_const_t<typename std::remove_pointer_t<decltype(A::data)>>, T>;
  } else if constexpr (std::is_base_of_v<Eigen::EigenBase<typename eigen_derived<A>::type>,
                                         typename eigen_derived<A>::type>) {
    using D = typename eigen_derived<A>::type;
    return std::is_same_v<typename D::Scalar, T> && bool(Eigen::internal::traits<D>::Flags & Eigen::DirectAccessBit);
  } else {
    return false;
  }
}

/// One static_assert with the reason, and no further errors after it: callers return early when
/// it fails, so nothing else is instantiated with the wrong type.
template <class T, class A>
constexpr bool check_operand() {
  constexpr bool ok = is_operand_v<T, A>();
  static_assert(ok,
                "monarch: a multiply takes a MatrixView<T> or a directly addressable Eigen object (Matrix, Map, "
                "Block, Ref) of the object's scalar type T; evaluate expressions (.eval()) and cast scalars first");
  return ok;
}

template <class T, class A>
MatrixView<const T> input_view(const A& x) {
  if constexpr (is_matrix_view<A>::value) {
    return x;
  } else {
    return view(x);
  }
}

template <class T, class A>
MatrixView<T> output_view(const A& y) {
  if constexpr (is_matrix_view<A>::value) {
    static_assert(!std::is_const_v<std::remove_pointer_t<decltype(A::data)>>, "monarch: the output must be writable");
    return y;
  } else {
    return mutable_view(y);
  }
}

/// The multiply entry points of an operator on batches of row vectors. Derived provides
///   Index rows() const, cols() const;   output and input lengths
///   template <class E> void multiply(MatrixView<const T> in, MatrixView<T> out, const E& exec,
///                                    Workspace<T>& ws, const KernelOptions& options) const;
/// which validates the shapes, and gets apply(X, Y, ...), apply(X, exec) and operator*.
template <class Derived, class T>
class BatchOperator {
 public:
  using BatchMatrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using Vector = Eigen::Matrix<T, Eigen::Dynamic, 1>;

  /// Writes the result for every row of X into the rows of Y (X: batch x cols(), Y: batch x
  /// rows()). X and Y are directly addressable Eigen objects of T (row- or column-major, blocks
  /// and maps included) or MatrixViews; nothing is copied, and they must not overlap. `exec` runs
  /// the work (the library starts no thread of its own); `ws` is scratch memory reused across
  /// calls (by default one per thread), so repeated calls do not allocate; one workspace must not
  /// serve two calls at once. `options` may fix the kernel path, tile or stores.
  template <class In, class Out, class Executor = SerialExecutor,
            std::enable_if_t<!is_executor_v<Out> && is_executor_v<Executor>, int> = 0>
  void apply(const In& X, const Out& Y, const Executor& exec = {}, Workspace<T>& ws = default_workspace<T>(),
             const KernelOptions& options = {}) const {
    if constexpr (check_operand<T, In>() && check_operand<T, Out>())
      derived().multiply(input_view<T>(X), output_view<T>(Y), exec, ws, options);
  }

  /// Returns the results for the rows of X as a new row-major batch.
  template <class In, class Executor = SerialExecutor, std::enable_if_t<is_executor_v<Executor>, int> = 0>
  BatchMatrix apply(const In& X, const Executor& exec = {}, const KernelOptions& options = {}) const {
    BatchMatrix Y;
    if constexpr (check_operand<T, In>()) {
      const MatrixView<const T> x = input_view<T>(X);
      Y.resize(x.rows, derived().rows());
      derived().multiply(x, mutable_view(Y), exec, default_workspace<T>(), options);
    }
    return Y;
  }

  /// The result for one vector of length cols().
  template <class D>
  Vector operator*(const Eigen::MatrixBase<D>& x) const {
    Vector y(derived().rows());
    if constexpr (check_operand<T, D>()) {
      static_assert(D::IsVectorAtCompileTime, "monarch: operator* takes a vector; use apply() for a batch");
      derived().multiply(vector_view(x), MatrixView<T>{y.data(), 1, y.size(), 0, 1}, SerialExecutor{},
                         default_workspace<T>(), KernelOptions{});
    }
    return y;
  }

 private:
  const Derived& derived() const { return static_cast<const Derived&>(*this); }
};

}  // namespace monarch::detail
