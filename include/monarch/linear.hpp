// monarch: MonarchLinear, the authors' drop-in replacement for nn.Linear (docs/math.md §2.3, normative).
//
//   y = (M pad(x))[0 : out_features] + bias,    M = Pi(l,s) BD(blkdiag2) Pi(r,l) BD(blkdiag1)
//
// Factor shapes (Shape::monarch_linear) with b = nblocks, I = ceil(in/b), O = ceil(out/b):
//   b*I <  b*O : blkdiag1 (b, I, I), blkdiag2 (b, O, I)
//   otherwise  : blkdiag1 (b, O, I), blkdiag2 (b, O, O)
// The input is zero-padded at the end to b*I (the padding lands in the last contiguous input
// block); of the b*O interleaved outputs (y[t*l + e] comes from w2-block e) the FIRST out_features
// are kept, so whole strided rows t*l + e >= out_features are dropped, not a trailing block.
// Batches are matrices whose rows are samples (PyTorch layout). Weights are stored exactly like the
// authors' state_dict tensors `blkdiag1`, `blkdiag2`, `bias`.
#pragma once

#include <Eigen/Core>
#include <cmath>
#include <cstdint>
#include <optional>
#include <type_traits>
#include <utility>

#include "block_diagonal.hpp"
#include "detail/aligned_buffer.hpp"
#include "detail/random.hpp"
#include "errors.hpp"
#include "execution.hpp"
#include "gradient.hpp"
#include "monarch_matrix.hpp"
#include "shape.hpp"
#include "view.hpp"

namespace monarch {

template <class T>
class MonarchLinear;

/// Output of MonarchLinear::backward: overwritten by every call, resized only when the shapes
/// change; members that were not requested are left untouched.
template <class T>
struct LinearGradients {
  using BatchMatrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  BatchMatrix input;                   ///< dX: batch x in_features (the padded columns dropped)
  BlockDiagonal<T> w1;                 ///< d blkdiag1
  BlockDiagonal<T> w2;                 ///< d blkdiag2
  Eigen::Matrix<T, Eigen::Dynamic, 1> bias;  ///< d bias = sum of dY over the batch
};

/// Reusable scratch memory of MonarchLinear's forward and backward (padded input, untruncated
/// output and the backward's GEMM tiles). Grows to the largest batch it has served, never shrinks:
/// a training loop that keeps one per layer allocates only in its first step. One call at a time
/// per workspace (give each thread that runs the layer its own).
template <class T>
class LinearWorkspace {
 private:
  template <class U>
  friend class MonarchLinear;
  detail::AlignedVector<T> padded_x_, full_y_, full_dy_, full_dx_;
  GradientWorkspace<T> gradient_;
};

template <class T>
class MonarchLinear {
  static_assert(is_supported_scalar_v<T>,
                "monarch supports the scalars float, double, std::complex<float> and std::complex<double>");

 public:
  using Scalar = T;
  using Factor = BlockDiagonal<T>;
  using Vector = Eigen::Matrix<T, Eigen::Dynamic, 1>;
  using BatchMatrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using Workspace = LinearWorkspace<T>;
  using Gradients = LinearGradients<T>;

  /// The authors' MonarchLinear(in_features, out_features, nblocks, bias), initialized by
  /// reset_parameters(seed).
  MonarchLinear(Index in_features, Index out_features, Index nblocks, bool bias = true, std::uint64_t seed = 0)
      : in_(in_features), out_(out_features), monarch_(Shape::monarch_linear(in_features, out_features, nblocks)) {
    if (bias) bias_ = Vector::Zero(out_features);
    reset_parameters(seed);
  }

  /// A layer from existing weights (e.g. a checkpoint's blkdiag1, blkdiag2, bias). nblocks is
  /// blkdiag1's first extent; throws ShapeError naming the tensor, the expected and the given
  /// shape unless the factors have exactly the shapes MonarchLinear(in, out, nblocks) would create
  /// and the bias (if any) has out_features entries.
  static MonarchLinear from_factors(Index in_features, Index out_features, Factor blkdiag1, Factor blkdiag2,
                                    std::optional<Vector> bias) {
    detail::require_shape(blkdiag1.nblocks() > 0, "MonarchLinear::from_factors: blkdiag1 is empty");
    // Only sizes are compared before the weights are taken: the sizes may come from an untrusted
    // file, and a layer built first would allocate whatever they claim.
    check_factors(Shape::monarch_linear(in_features, out_features, blkdiag1.nblocks()), blkdiag1, blkdiag2,
                  in_features, out_features);
    if (bias)
      detail::require_shape(bias->size() == out_features, "MonarchLinear::from_factors: bias has ", bias->size(),
                            " entries, expected out_features = ", out_features);
    return MonarchLinear(in_features, out_features, Monarch<T>(std::move(blkdiag1), std::move(blkdiag2)),
                         std::move(bias));
  }

  /// The authors' initialization, reproducible from `seed`: every factor entry uniform in
  /// [-1/sqrt(fan_in), 1/sqrt(fan_in)) with fan_in = the factor's last extent (p for blkdiag1,
  /// r for blkdiag2; kaiming_uniform with a = sqrt(5)); the bias uniform in
  /// [-1/sqrt(out_features), 1/sqrt(out_features)) -- their quirk: the bias length as fan_in.
  /// Complex scalars: real and imaginary parts each with bound/sqrt(2).
  void reset_parameters(std::uint64_t seed) {
    monarch_ = Monarch<T>::random(shape(), seed);
    if (bias_) {
      detail::Rng rng(seed ^ 0xB1A5B1A5B1A5B1A5ull);
      const double bound = 1.0 / std::sqrt(static_cast<double>(out_));
      for (Index i = 0; i < out_; ++i) (*bias_)[i] = rng.uniform_scalar<T>(bound);
    }
  }

  Index in_features() const { return in_; }
  Index out_features() const { return out_; }
  Index nblocks() const { return monarch_.w1().nblocks(); }
  /// The factor shapes (k,q,p | l,s,r); shape().cols() >= in_features, shape().rows() >= out_features.
  Shape shape() const { return Shape::monarch_linear(in_, out_, monarch_.w1().nblocks()); }

  /// blkdiag1 = w1 (k,q,p), the paper's R.
  const Factor& blkdiag1() const { return monarch_.w1(); }
  /// blkdiag2 = w2 (l,s,r), the paper's L.
  const Factor& blkdiag2() const { return monarch_.w2(); }
  /// Writes the weights in place: calls fn(blkdiag1, blkdiag2) as Monarch::update does, then
  /// throws ShapeError if fn left a factor of another shape than this layer's.
  template <class Fn>
  void update(Fn&& fn) {
    try {
      monarch_.update(std::forward<Fn>(fn));
    } catch (const ShapeError&) {
      check_parameters("MonarchLinear::update");  // names the layer's tensor where it can
      throw;
    }
    check_parameters("MonarchLinear::update");
  }
  /// The bias (out_features entries), or nullopt for bias = false.
  const std::optional<Vector>& bias() const { return bias_; }
  std::optional<Vector>& bias() { return bias_; }
  /// The underlying (untruncated) Monarch matrix M.
  const Monarch<T>& monarch() const { return monarch_; }

  /// Trainable scalars: numel(blkdiag1) + numel(blkdiag2) + numel(bias).
  Index num_params() const { return monarch_.num_params() + (bias_ ? out_ : 0); }
  /// The authors' `saving`: (numel blkdiag1 + numel blkdiag2) / (in_features * out_features).
  double saving() const { return double(monarch_.num_params()) / (double(in_) * double(out_)); }

  // ---- forward: Y = X -> batch x out_features --------------------------------------------------

  /// Writes the layer's output for every row of X (batch x in_features) into Y (batch x
  /// out_features). Any directly addressable Eigen objects; with in_features = k*p and
  /// out_features = l*s nothing is copied, otherwise the padded input / untruncated output live in
  /// `ws` (no allocation once it has grown). `options` as for Monarch::apply.
  template <class DX, class DY, class Executor = SerialExecutor, std::enable_if_t<is_executor_v<Executor>, int> = 0>
  void forward(const Eigen::MatrixBase<DX>& X, const Eigen::MatrixBase<DY>& Y, Workspace& ws,
               const Executor& exec = {}, const KernelOptions& options = {}) const {
    check_scalars<DX, DY>();
    check_parameters("MonarchLinear::forward");
    check_input("MonarchLinear::forward", "X", X.cols(), in_);
    detail::require_shape(Y.rows() == X.rows() && Y.cols() == out_, "MonarchLinear::forward: Y is ", Y.rows(), " x ",
                          Y.cols(), ", expected ", X.rows(), " x ", out_, " (batch x out_features)");
    // Checked here too: with a padded X or a truncated Y the multiply sees copies, not both.
    detail::require_disjoint<T>("MonarchLinear::forward", {{"Y", view(Y)}}, {{"X", view(X)}});
    const MatrixView<const T> x = padded(X, monarch_.cols(), ws.padded_x_);
    bool bias_added = false;
    truncated(Y, monarch_.rows(), ws.full_y_, [&](MatrixView<T> y) {
      // The kernels add the bias as they store y when y is Y itself with unit column stride (no
      // second pass over Y, on the caller's executor); otherwise it is added below.
      bias_added = bias_ && y.cols == out_ && y.col_stride == 1;
      monarch_.run(detail::kernels::Direction::forward, "MonarchLinear::forward", x, y, exec,
                   detail::default_workspace<T>(), options, bias_added ? bias_->data() : nullptr);
    });
    if (bias_ && !bias_added) Y.const_cast_derived().rowwise() += bias_->transpose();
  }

  /// Returns the layer's output for the batch X (allocates the result and a workspace).
  template <class DX, class Executor = SerialExecutor, std::enable_if_t<is_executor_v<Executor>, int> = 0>
  BatchMatrix forward(const Eigen::MatrixBase<DX>& X, const Executor& exec = {}) const {
    BatchMatrix Y(X.rows(), out_);
    Workspace ws;
    forward(X, Y, ws, exec);
    return Y;
  }

  // ---- backward ---------------------------------------------------------------------------------

  /// Given the forward input X (batch x in_features) and dY = dL/dY (batch x out_features), writes
  /// the requested gradients into `grads` (PyTorch's complex convention, docs/math.md §3.2):
  ///   input = dX (batch x in_features; the padded columns are dropped),
  ///   w1, w2 = d blkdiag1, d blkdiag2 (the truncated outputs contribute zero gradient),
  ///   bias   = sum over the batch of dY (only if the layer has a bias).
  template <class DX, class DdY, class Executor = SerialExecutor, std::enable_if_t<is_executor_v<Executor>, int> = 0>
  void backward(const Eigen::MatrixBase<DX>& X, const Eigen::MatrixBase<DdY>& dY, const GradientRequest& request,
                Gradients& grads, Workspace& ws, const Executor& exec = {}) const {
    check_scalars<DX, DdY>();
    check_parameters("MonarchLinear::backward");
    check_input("MonarchLinear::backward", "X", X.cols(), in_);
    check_input("MonarchLinear::backward", "dY", dY.cols(), out_);
    detail::require_shape(X.rows() == dY.rows(), "MonarchLinear::backward: X has ", X.rows(), " rows but dY has ",
                          dY.rows(), ", expected the same batch");
    auto* const dw1 = request.w1 ? &grads.w1 : nullptr;
    auto* const dw2 = request.w2 ? &grads.w2 : nullptr;
    const bool dbias = request.bias && bias_;
    detail::require_disjoint<T>("MonarchLinear::backward",
                                {{"grads.input", detail::view_if(request.input, grads.input)},
                                 {"grads.w1", detail::storage(dw1)},
                                 {"grads.w2", detail::storage(dw2)},
                                 {"grads.bias", detail::view_if(dbias, grads.bias)}},
                                {{"X", view(X)}, {"dY", view(dY)}});
    if (request.input) input_gradient(dY, grads.input, ws, exec);
    factor_gradients(monarch_, X, dY, dw1, dw2, ws.gradient_, exec);
    if (dbias) grads.bias.noalias() = dY.colwise().sum().transpose();
  }

 private:
  using RowMap = Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;

  template <class... D>
  static constexpr void check_scalars() {
    static_assert((std::is_same_v<typename D::Scalar, T> && ...),
                  "MonarchLinear<T>: the argument's scalar type must be T (cast it first)");
  }

  static void check_input(const char* where, const char* name, Index given, Index expected) {
    detail::require_shape(given == expected, where, ": ", name, " has ", given, " columns, expected ", expected);
  }

  /// The layer's parts as they are, without initializing anything (from_factors).
  MonarchLinear(Index in_features, Index out_features, Monarch<T> monarch, std::optional<Vector> bias)
      : in_(in_features), out_(out_features), monarch_(std::move(monarch)), bias_(std::move(bias)) {}

  static void check_factor(const char* name, const Factor& w, Index n, Index rows, Index cols, Index in, Index out) {
    detail::require_shape(w.nblocks() == n && w.block_rows() == rows && w.block_cols() == cols, "MonarchLinear: ",
                          name, " has shape (", w.nblocks(), ", ", w.block_rows(), ", ", w.block_cols(),
                          "), expected (", n, ", ", rows, ", ", cols, ") for MonarchLinear(in_features = ", in,
                          ", out_features = ", out, ", nblocks = ", n, ")");
  }

  /// ShapeError naming the factor unless blkdiag1 and blkdiag2 have the shapes of `want`.
  static void check_factors(const Shape& want, const Factor& w1, const Factor& w2, Index in, Index out) {
    check_factor("blkdiag1", w1, want.k, want.q, want.p, in, out);
    check_factor("blkdiag2", w2, want.l, want.s, want.r, in, out);
  }

  /// The weights are writable, so their shapes are checked at every entry (a few comparisons).
  void check_parameters(const char* where) const {
    check_factors(shape(), monarch_.w1(), monarch_.w2(), in_, out_);
    if (bias_)
      detail::require_shape(bias_->size() == out_, where, ": bias has ", bias_->size(), " entries, expected ", out_);
  }

  /// A view of A zero-padded on the right to `cols` columns: A itself when it already has them,
  /// else a copy in `buffer`.
  template <class D>
  static MatrixView<const T> padded(const Eigen::MatrixBase<D>& A, Index cols, detail::AlignedVector<T>& buffer) {
    if (A.cols() == cols) return view(A);
    RowMap P(detail::grow(buffer, A.rows() * cols), A.rows(), cols);
    P.leftCols(A.cols()) = A;
    P.rightCols(cols - A.cols()).setZero();
    return row_major_view<const T>(P.data(), A.rows(), cols);
  }

  /// Runs op on a batch x `cols` output and stores its first out.cols() columns in `out`: op writes
  /// into `out` itself when it has all the columns, else into `buffer`.
  template <class D, class Op>
  static void truncated(const Eigen::MatrixBase<D>& out, Index cols, detail::AlignedVector<T>& buffer, Op&& op) {
    auto& o = out.const_cast_derived();
    if (o.cols() == cols) return op(mutable_view(o));
    RowMap full(detail::grow(buffer, o.rows() * cols), o.rows(), cols);
    op(mutable_view(full));
    o = full.leftCols(o.cols());
  }

  /// dX = (dY_ext conj(M))[:, :in_features], dY_ext = dY zero-extended to l*s columns.
  template <class DdY, class Executor>
  void input_gradient(const Eigen::MatrixBase<DdY>& dY, BatchMatrix& dX, Workspace& ws, const Executor& exec) const {
    dX.resize(dY.rows(), in_);
    const MatrixView<const T> dy = padded(dY, monarch_.rows(), ws.full_dy_);
    truncated(dX, monarch_.cols(), ws.full_dx_, [&](MatrixView<T> dx) { monarch_.adjoint().apply(dy, dx, exec); });
  }

  Index in_, out_;
  Monarch<T> monarch_;
  std::optional<Vector> bias_;
};

}  // namespace monarch
