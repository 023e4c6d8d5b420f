// monarch: the Monarch matrix in the authors' exact layout (docs/math.md §2, normative):
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
#include "detail/batch_operator.hpp"
#include "detail/task_runner.hpp"
#include "errors.hpp"
#include "execution.hpp"
#include "kernel_options.hpp"
#include "scalar.hpp"
#include "shape.hpp"
#include "view.hpp"
#include "workspace.hpp"

namespace monarch {

template <class T>
class Monarch : public detail::BatchOperator<Monarch<T>, T> {
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

  /// Replaces both factors; throws ShapeError unless k*q = l*r. The next multiply uses them.
  void set_factors(Factor w1, Factor w2) {
    Shape{w1.nblocks(), w1.block_rows(), w1.block_cols(), w2.nblocks(), w2.block_rows(), w2.block_cols()}.validate(
        "Monarch::set_factors");
    packed_.invalidate();
    w1_ = std::move(w1);
    w2_ = std::move(w2);
  }

  /// Writes the factors in place: calls fn(w1, w2) with references to them (valid during the call
  /// only), then checks the shape like set_factors. Every later multiply uses the values fn left,
  /// which is why there is no other write access: the multiply keeps a packed copy of the weights.
  template <class Fn>
  void update(Fn&& fn) {
    packed_.invalidate();  // first: a throwing fn may have written some values
    std::forward<Fn>(fn)(w1_, w2_);
    checked_shape("Monarch::update");
  }

  /// Parameters (= multiply-accumulates per input vector), docs/math.md §7.
  Index num_params() const { return w1_.size() + w2_.size(); }
  /// Real floating-point operations per input vector: 2 per real MAC, 8 per complex MAC.
  double flops_per_vector() const { return (is_complex_v<T> ? 8.0 : 2.0) * double(num_params()); }
  /// The same for a dense rows() x cols() matrix.
  double dense_flops_per_vector() const { return (is_complex_v<T> ? 8.0 : 2.0) * double(rows()) * double(cols()); }

  // ---- multiply: Y = X M^T, i.e. y_b = M x_b for every row b --------------------------------
  // apply(X, Y[, exec[, ws[, options]]]), Y = apply(X[, exec]) and M * x come from BatchOperator.

  /// The dense rows() x cols() matrix (the multiply applied to the identity).
  DenseMatrix to_dense() const {
    detail::checked_product("Monarch::to_dense", rows() + cols(), cols());  // the identity and the result
    const BatchMatrix eye = BatchMatrix::Identity(cols(), cols());
    // Row j of eye * M^T is column j of M.
    return this->apply(eye).transpose();
  }

  /// M^H as an operator with the same entry points: M.adjoint().apply(Y, X) writes x_b = M^H y_b
  /// for every row of Y. A view: it refers to this Monarch, which must outlive it.
  class Adjoint : public detail::BatchOperator<Adjoint, T> {
   public:
    explicit Adjoint(const Monarch& m) : m_(&m) {}
    Index rows() const { return m_->cols(); }
    Index cols() const { return m_->rows(); }

   private:
    friend class detail::BatchOperator<Adjoint, T>;
    template <class Executor>
    void multiply(MatrixView<const T> in, MatrixView<T> out, const Executor& exec, Workspace<T>& ws,
                  const KernelOptions& options) const {
      m_->run(detail::kernels::Direction::adjoint, "Monarch::adjoint().apply", in, out, exec, ws, options, nullptr);
    }
    const Monarch* m_;
  };
  Adjoint adjoint() const { return Adjoint(*this); }

 private:
  friend class detail::BatchOperator<Monarch, T>;
  template <class U>
  friend class MonarchLinear;

  template <class Executor>
  void multiply(MatrixView<const T> in, MatrixView<T> out, const Executor& exec, Workspace<T>& ws,
                const KernelOptions& options) const {
    run(detail::kernels::Direction::forward, "Monarch::apply", in, out, exec, ws, options, nullptr);
  }

  /// Validates the call, then runs the multiply of `dir`; `bias` (or nullptr; then out must have
  /// unit column stride) is added to every row of out as the kernels store it: MonarchLinear's
  /// bias without a second pass.
  template <class Executor>
  void run(detail::kernels::Direction dir, const char* where, MatrixView<const T> in, MatrixView<T> out,
           const Executor& exec, Workspace<T>& ws, const KernelOptions& options, const T* bias) const {
    checked_shape(where);
    const bool forward = dir == detail::kernels::Direction::forward;
    check_batch(where, in, out, forward ? cols() : rows(), forward ? rows() : cols());
    detail::monarch_multiply(dir, w1_, w2_, packed_, in, out, detail::TaskRunner(exec), ws, options, bias);
  }

  /// The shape, validated once per call: an update() that threw may have left another shape.
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
