// monarch: the Monarch matrix in the authors' exact layout (spec §a.3, normative):
//
//   M = Pi(l,s) . BD(w2) . Pi(r,l) . BD(w1),    w1 : (k,q,p),  w2 : (l,s,r),  k*q = l*r
//
// In the paper's square case (k=q=p=l=s=r=m) this is M = P L P^T R with R = BD(w1),
// L = BD(w2) and P = Pi(m,m). Batches are matrices whose rows are vectors (PyTorch layout).
#pragma once

#include <Eigen/Core>
#include <cstdint>
#include <type_traits>
#include <utility>

#include "block_diagonal.hpp"
#include "detail/apply.hpp"
#include "errors.hpp"
#include "execution.hpp"
#include "scalar.hpp"
#include "shape.hpp"
#include "view.hpp"
#include "workspace.hpp"

namespace monarch {

template <class T>
class Monarch {
  static_assert(is_supported_scalar_v<T>,
                "monarch supports the scalars float, double, std::complex<float> and std::complex<double>");

 public:
  using Scalar = T;
  using RealScalar = real_t<T>;
  using Factor = BlockDiagonal<T>;
  /// Batches come back row-major: row b is the result for input row b.
  using BatchMatrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using Vector = Eigen::Matrix<T, Eigen::Dynamic, 1>;
  using DenseMatrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;

  /// The zero Monarch of the given shape.
  explicit Monarch(const Shape& shape) {
    shape.validate("Monarch");
    w1_ = Factor(shape.k, shape.q, shape.p);
    w2_ = Factor(shape.l, shape.s, shape.r);
  }

  /// From the two factors w1 = R-side (k,q,p) and w2 = L-side (l,s,r); throws ShapeError unless
  /// k*q = l*r.
  Monarch(Factor w1, Factor w2) : w1_(std::move(w1)), w2_(std::move(w2)) { shape().validate("Monarch"); }

  /// Random factors, reproducible from `seed`: entries i.i.d. uniform in [-1/sqrt(fan_in),
  /// 1/sqrt(fan_in)) with fan_in = p for w1 and r for w2 (the authors' MonarchLinear init; complex:
  /// each part with bound/sqrt(2)). With this scale E|Mx|^2 is about |x|^2 / 9.
  static Monarch random(const Shape& shape, std::uint64_t seed) {
    shape.validate("Monarch::random");
    return Monarch(Factor::random(shape.k, shape.q, shape.p, seed, 1.0 / std::sqrt(double(shape.p))),
                   Factor::random(shape.l, shape.s, shape.r, seed ^ 0x9E3779B97F4A7C15ull,
                                  1.0 / std::sqrt(double(shape.r))));
  }

  Shape shape() const {
    return Shape{w1_.nblocks(), w1_.block_rows(), w1_.block_cols(), w2_.nblocks(), w2_.block_rows(),
                 w2_.block_cols()};
  }
  /// Output length l*s.
  Index rows() const { return w2_.nblocks() * w2_.block_rows(); }
  /// Input length k*p.
  Index cols() const { return w1_.nblocks() * w1_.block_cols(); }

  /// The R-side factor w1 (k,q,p).
  const Factor& w1() const { return w1_; }
  /// The L-side factor w2 (l,s,r).
  const Factor& w2() const { return w2_; }
  /// Write access to the factors (e.g. to load or update weights). Assigning a factor of another
  /// shape is caught at the next multiply. Each call drops the packed copy of the weights that the
  /// fast multiply keeps, so finish writing through the returned reference before the next
  /// multiply (call w1()/w2() again for later updates rather than keeping the reference).
  Factor& w1() {
    packed_.invalidate();
    return w1_;
  }
  Factor& w2() {
    packed_.invalidate();
    return w2_;
  }

  /// Parameters (= multiply-accumulates per input vector), spec §f.
  Index num_params() const { return w1_.size() + w2_.size(); }
  /// Real floating-point operations per input vector: 2 per real MAC, 8 per complex MAC.
  double flops_per_vector() const { return (is_complex_v<T> ? 8.0 : 2.0) * double(num_params()); }
  /// The same for a dense rows() x cols() matrix.
  double dense_flops_per_vector() const { return (is_complex_v<T> ? 8.0 : 2.0) * double(rows()) * double(cols()); }

  // ---- multiply: Y = X M^T, i.e. y_b = M x_b for every row b --------------------------------

  /// Writes y_b = M x_b for every row of X into the rows of Y (Y: X.rows() x rows()). Any
  /// directly addressable Eigen objects, row- or column-major, blocks and maps included; nothing
  /// is copied. X and Y must not overlap. `exec` runs the work (no threads of its own); `ws` is
  /// scratch memory reused across calls (default: a per-thread workspace), so repeated calls do not
  /// allocate. A workspace must not be used by two calls at once.
  template <class DX, class DY, class Executor = SerialExecutor,
            std::enable_if_t<is_executor_v<Executor>, int> = 0>
  void apply(const Eigen::MatrixBase<DX>& X, const Eigen::MatrixBase<DY>& Y, const Executor& exec = {}) const {
    apply(X, Y, exec, detail::default_workspace<T>());
  }
  template <class DX, class DY>
  void apply(const Eigen::MatrixBase<DX>& X, const Eigen::MatrixBase<DY>& Y, Workspace<T>& ws) const {
    apply(X, Y, SerialExecutor{}, ws);
  }
  template <class DX, class DY, class Executor, std::enable_if_t<is_executor_v<Executor>, int> = 0>
  void apply(const Eigen::MatrixBase<DX>& X, const Eigen::MatrixBase<DY>& Y, const Executor& exec,
             Workspace<T>& ws) const {
    check_scalar<DX>();
    check_scalar<DY>();
    apply(view(X), mutable_view(Y), exec, ws);
  }

  /// Raw-pointer form of apply(X, Y).
  template <class Executor = SerialExecutor>
  void apply(MatrixView<const T> X, MatrixView<T> Y, const Executor& exec = {}) const {
    apply(X, Y, exec, detail::default_workspace<T>());
  }
  template <class Executor>
  void apply(MatrixView<const T> X, MatrixView<T> Y, const Executor& exec, Workspace<T>& ws) const {
    apply_with_bias(X, Y, nullptr, exec, ws);
  }

  /// Returns the batch X M^T (row b = M x_b).
  template <class DX, class Executor = SerialExecutor, std::enable_if_t<is_executor_v<Executor>, int> = 0>
  BatchMatrix apply(const Eigen::MatrixBase<DX>& X, const Executor& exec = {}) const {
    check_scalar<DX>();
    BatchMatrix Y(X.rows(), rows());
    apply(view(X), mutable_view(Y), exec);
    return Y;
  }

  /// M x for one vector of length cols().
  template <class DX>
  Vector operator*(const Eigen::MatrixBase<DX>& x) const {
    check_scalar<DX>();
    static_assert(DX::IsVectorAtCompileTime, "Monarch * x takes a vector; use apply() for a batch");
    Vector y(rows());
    apply(vector_view(x), MatrixView<T>{y.data(), 1, y.size(), 0, 1});
    return y;
  }

  // ---- adjoint: X = Y conj(M), i.e. x_b = M^H y_b ----------------------------------------------

  /// Writes x_b = M^H y_b for every row of Y into the rows of X (X: Y.rows() x cols()); executor
  /// and workspace as for apply().
  template <class DY, class DX, class Executor = SerialExecutor,
            std::enable_if_t<is_executor_v<Executor>, int> = 0>
  void apply_adjoint(const Eigen::MatrixBase<DY>& Y, const Eigen::MatrixBase<DX>& X, const Executor& exec = {}) const {
    apply_adjoint(Y, X, exec, detail::default_workspace<T>());
  }
  template <class DY, class DX>
  void apply_adjoint(const Eigen::MatrixBase<DY>& Y, const Eigen::MatrixBase<DX>& X, Workspace<T>& ws) const {
    apply_adjoint(Y, X, SerialExecutor{}, ws);
  }
  template <class DY, class DX, class Executor, std::enable_if_t<is_executor_v<Executor>, int> = 0>
  void apply_adjoint(const Eigen::MatrixBase<DY>& Y, const Eigen::MatrixBase<DX>& X, const Executor& exec,
                     Workspace<T>& ws) const {
    check_scalar<DX>();
    check_scalar<DY>();
    apply_adjoint(view(Y), mutable_view(X), exec, ws);
  }

  /// Raw-pointer form of apply_adjoint(Y, X).
  template <class Executor = SerialExecutor>
  void apply_adjoint(MatrixView<const T> Y, MatrixView<T> X, const Executor& exec = {}) const {
    apply_adjoint(Y, X, exec, detail::default_workspace<T>());
  }
  template <class Executor>
  void apply_adjoint(MatrixView<const T> Y, MatrixView<T> X, const Executor& exec, Workspace<T>& ws) const {
    checked_shape("Monarch::apply_adjoint");
    check_batch("Monarch::apply_adjoint", Y, X, rows(), cols());
    detail::monarch_multiply(detail::kernels::Direction::adjoint, w1_, w2_, packed_, Y, X, exec, ws);
  }

  /// Returns the batch Y conj(M) (row b = M^H y_b).
  template <class DY, class Executor = SerialExecutor, std::enable_if_t<is_executor_v<Executor>, int> = 0>
  BatchMatrix apply_adjoint(const Eigen::MatrixBase<DY>& Y, const Executor& exec = {}) const {
    check_scalar<DY>();
    BatchMatrix X(Y.rows(), cols());
    apply_adjoint(view(Y), mutable_view(X), exec);
    return X;
  }

  /// M^H y for one vector of length rows().
  template <class DY>
  Vector adjoint_times(const Eigen::MatrixBase<DY>& y) const {
    check_scalar<DY>();
    static_assert(DY::IsVectorAtCompileTime, "Monarch::adjoint_times takes a vector; use apply_adjoint() for a batch");
    Vector x(cols());
    apply_adjoint(vector_view(y), MatrixView<T>{x.data(), 1, x.size(), 0, 1});
    return x;
  }

  /// The dense rows() x cols() matrix (the multiply applied to the identity).
  DenseMatrix to_dense() const {
    detail::checked_product("Monarch::to_dense", rows() + cols(), cols());  // the identity and the result
    const BatchMatrix eye = BatchMatrix::Identity(cols(), cols());
    // Row j of eye * M^T is column j of M.
    return apply(eye).transpose();
  }

 private:
  template <class U>
  friend class MonarchLinear;

  /// apply(X, Y), plus bias[j] (when not nullptr; then Y must have unit column stride) added to
  /// every Y(b, j) as the kernels store it: MonarchLinear's bias without a second pass over Y.
  template <class Executor>
  void apply_with_bias(MatrixView<const T> X, MatrixView<T> Y, const T* bias, const Executor& exec,
                       Workspace<T>& ws) const {
    checked_shape("Monarch::apply");
    check_batch("Monarch::apply", X, Y, cols(), rows());
    detail::monarch_multiply(detail::kernels::Direction::forward, w1_, w2_, packed_, X, Y, exec, ws, bias);
  }

  template <class D>
  static constexpr void check_scalar() {
    static_assert(std::is_same_v<typename D::Scalar, T>,
                  "Monarch<T>: the argument's scalar type must be T (cast it first)");
  }

  /// The shape, validated once per call (the factors are writable, so they may have changed).
  Shape checked_shape(const char* where) const {
    const Shape sh = shape();
    sh.validate(where);
    return sh;
  }

  static void check_batch(const char* where, const MatrixView<const T>& in, const MatrixView<T>& out, Index in_len,
                          Index out_len) {
    detail::check_view(where, "input", in);
    detail::check_output_view(where, "output", out);
    detail::require_shape(in.cols == in_len, where, ": input has ", in.cols, " columns, expected ", in_len);
    detail::require_shape(out.cols == out_len && out.rows == in.rows, where, ": output is ", out.rows, " x ",
                          out.cols, ", expected ", in.rows, " x ", out_len);
    detail::require_shape(!detail::may_overlap(in, out), where, ": input and output must not overlap");
  }

  Factor w1_;
  Factor w2_;
  /// The factors packed for the fast kernels, built on first use (copies share it).
  detail::kernels::PackCache<T> packed_;
};

}  // namespace monarch
