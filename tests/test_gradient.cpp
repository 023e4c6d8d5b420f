// The backward of the Monarch multiply (docs/math.md §3.2) against the dense chain rule through the channel
// form of docs/math.md §2.2, central finite differences, adjoint identities, selective requests and bitwise
// determinism across thread counts.
#include <cmath>
#include <limits>

#include "support/gradient_support.hpp"

namespace monarch::test {
namespace {

template <class T>
class GradientTest : public ::testing::Test {};
TYPED_TEST_SUITE(GradientTest, Scalars, );

/// Tolerance length of a gradient entry: a batch sum of products of stage sums.
Index gradient_length(const Shape& sh, Index batch) { return batch + sh.p + sh.q + sh.r + sh.s; }

TYPED_TEST(GradientTest, MatchesDenseChainRuleForAllShapeFamilies) {
  using T = TypeParam;
  using W = wider_t<T>;
  std::uint64_t seed = 40;
  for (const auto& ns : shape_families()) {
    SCOPED_TRACE(ns.name);
    const Index batch = 3;
    const auto M = Monarch<T>::random(ns.shape, ++seed);
    const RowBatch<T> X = random_matrix<T>(batch, M.cols(), ++seed);
    const RowBatch<T> dY = random_matrix<T>(batch, M.rows(), ++seed);
    MonarchGradients<T> grads;
    GradientWorkspace<T> ws;
    backward(M, X, dY, GradientRequest::all(), grads, ws);
    // The dense M costs N*s*p long-double operations; dX is checked against it where that is
    // cheap (and in float for every family), the factor gradients on a sample of channels.
    const Index stride = channel_stride_for(ns.shape);
    const bool with_input = stride == 1 || std::is_same_v<T, float>;
    const auto want = dense_chain_rule(M.w1(), M.w2(), Dense<W>(X.template cast<W>()),
                                       Dense<W>(dY.template cast<W>()), with_input, stride);
    const Index len = gradient_length(ns.shape, batch);
    if (with_input) {
      MONARCH_EXPECT_CLOSE(T, grads.input, want.input, len);
    }
    using Flat = Eigen::Matrix<T, Eigen::Dynamic, 1>;
    MONARCH_EXPECT_CLOSE(T, entries<Flat>(flat(grads.w1), want.w1_checked), entries(want.w1, want.w1_checked), len);
    MONARCH_EXPECT_CLOSE(T, entries<Flat>(flat(grads.w2), want.w2_checked), entries(want.w2, want.w2_checked), len);
    EXPECT_EQ(grads.w1.nblocks(), ns.shape.k);
    EXPECT_EQ(grads.w2.block_rows(), ns.shape.s);
  }
}

TYPED_TEST(GradientTest, AdjointIdentities) {
  // L is linear in X, in w1 and in w2, so for any direction D:  <dY, dY/dD> = <grad, D>  with
  // <a, b> = sum conj(a) .* b, where dY/dD is the forward with the direction put in place.
  using T = TypeParam;
  using W = wider_t<T>;
  for (const auto& ns : shape_families()) {
    if (ns.shape.num_params() > 200000) continue;
    SCOPED_TRACE(ns.name);
    const auto M = Monarch<T>::random(ns.shape, 3);
    const RowBatch<T> X = random_matrix<T>(4, M.cols(), 5), dY = random_matrix<T>(4, M.rows(), 7);
    const RowBatch<T> V = random_matrix<T>(4, M.cols(), 9);
    const auto D1 = BlockDiagonal<T>::random(ns.shape.k, ns.shape.q, ns.shape.p, 11, 1.0);
    const auto D2 = BlockDiagonal<T>::random(ns.shape.l, ns.shape.s, ns.shape.r, 13, 1.0);
    MonarchGradients<T> g;
    GradientWorkspace<T> ws;
    backward(M, X, dY, GradientRequest::all(), g, ws);

    auto inner = [](const auto& a, const auto& b) {
      return (a.template cast<W>().conjugate().cwiseProduct(b.template cast<W>())).sum();
    };
    auto check = [&](const char* what, W lhs, W rhs, double scale) {
      EXPECT_LE(double(std::abs(lhs - rhs)), tolerance<T>(gradient_length(ns.shape, 4)) * scale) << what;
    };
    const RowBatch<T> MV = M.apply(V);
    check("dX", inner(dY, MV), inner(g.input, V), double(dY.norm() * MV.norm() + g.input.norm() * V.norm()));
    const RowBatch<T> Y1 = Monarch<T>(D1, M.w2()).apply(X);  // dY/dw1 along D1
    check("dw1", inner(dY, Y1), inner(flat(g.w1), flat(D1)),
          double(dY.norm() * Y1.norm() + flat(g.w1).norm() * flat(D1).norm()));
    const RowBatch<T> Y2 = Monarch<T>(M.w1(), D2).apply(X);  // dY/dw2 along D2
    check("dw2", inner(dY, Y2), inner(flat(g.w2), flat(D2)),
          double(dY.norm() * Y2.norm() + flat(g.w2).norm() * flat(D2).norm()));
  }
}

template <class T>
class FiniteDifferenceTest : public ::testing::Test {};
using DoubleScalars = ::testing::Types<double, std::complex<double>>;
TYPED_TEST_SUITE(FiniteDifferenceTest, DoubleScalars, );

TYPED_TEST(FiniteDifferenceTest, GradientsMatchCentralDifferences) {
  using T = TypeParam;
  const double h = 1e-3;
  for (const Shape& sh : {Shape{3, 5, 2, 5, 2, 3}, Shape::square(4), Shape{6, 3, 5, 3, 7, 6}}) {
    SCOPED_TRACE(::testing::Message() << sh);
    auto M = Monarch<T>::random(sh, 21);
    RowBatch<T> X = random_matrix<T>(3, M.cols(), 22);
    const RowBatch<T> G = random_matrix<T>(3, M.rows(), 23);
    MonarchGradients<T> g;
    GradientWorkspace<T> ws;
    backward(M, X, G, GradientRequest::all(), g, ws);  // dL/dY = G for L = Re sum conj(G) .* Y

    // The loss through the dense channel expansion (long double), independent of the multiply.
    auto loss = [&] {
      const auto Y = (X.template cast<wider_t<T>>() * dense_from_channels(M.w1(), M.w2()).transpose()).eval();
      return real_loss(G.template cast<wider_t<T>>(), Y);
    };
    const double tol = finite_difference_tolerance(loss_scale(G, M.apply(X)) + 1.0, h);
    detail::Rng pick(7);
    auto index = [&](Index n) { return static_cast<Index>(pick.uniform01() * double(n)); };
    for (int rep = 0; rep < 4; ++rep) {
      const Index b = index(X.rows()), j = index(X.cols());
      EXPECT_LE(std::abs(central_difference(X(b, j), h, loss) - g.input(b, j)), tol) << "dX(" << b << "," << j << ")";
      const Index i1 = index(M.w1().size());
      EXPECT_LE(std::abs(central_difference(M.w1().data()[i1], factor_entry_setter(M, 1, i1), h, loss) - g.w1.data()[i1]), tol) << "dw1 at " << i1;
      const Index i2 = index(M.w2().size());
      EXPECT_LE(std::abs(central_difference(M.w2().data()[i2], factor_entry_setter(M, 2, i2), h, loss) - g.w2.data()[i2]), tol) << "dw2 at " << i2;
    }
  }
}

TYPED_TEST(GradientTest, UnrequestedGradientsAreUntouched) {
  using T = TypeParam;
  const Shape sh{3, 5, 2, 5, 2, 3};
  const auto M = Monarch<T>::random(sh, 1);
  const RowBatch<T> X = random_matrix<T>(5, M.cols(), 2), dY = random_matrix<T>(5, M.rows(), 3);
  MonarchGradients<T> full;
  GradientWorkspace<T> ws;
  backward(M, X, dY, GradientRequest::all(), full, ws);

  const MonarchGradients<T> sentinel{RowBatch<T>::Constant(2, 2, T(7)), BlockDiagonal<T>::identity(1, 2),
                                     BlockDiagonal<T>::identity(2, 1)};
  for (int mask = 0; mask < 8; ++mask) {
    SCOPED_TRACE(mask);
    GradientRequest req;
    req.input = mask & 1;
    req.w1 = mask & 2;
    req.w2 = mask & 4;
    MonarchGradients<T> g = sentinel;
    backward(M, X, dY, req, g, ws);
    // Requested ones equal the full computation exactly (the same arithmetic), the rest are as given.
    EXPECT_TRUE(identical(g.input, req.input ? full.input : sentinel.input));
    EXPECT_TRUE(g.w1 == (req.w1 ? full.w1 : sentinel.w1));
    EXPECT_TRUE(g.w2 == (req.w2 ? full.w2 : sentinel.w2));
  }
}

TYPED_TEST(GradientTest, BitwiseIdenticalForEveryThreadCount) {
  // Several batch and row tiles per block, so tasks really are spread over the threads.
  using T = TypeParam;
  const Index batch = detail::gemm_tile<T>() + 37;
  for (const Shape& sh : {Shape::monarch_linear(768, 768, 4), Shape{2, 4, 3, 8, 5, 1}}) {
    SCOPED_TRACE(::testing::Message() << sh);
    const auto M = Monarch<T>::random(sh, 5);
    const RowBatch<T> X = random_matrix<T>(batch, M.cols(), 6), dY = random_matrix<T>(batch, M.rows(), 7);
    MonarchGradients<T> serial, threaded;
    GradientWorkspace<T> ws1, ws2;
    backward(M, X, dY, GradientRequest::all(), serial, ws1, SerialExecutor{});
    for (int threads : {2, 3}) {
      backward(M, X, dY, GradientRequest::all(), threaded, ws2, thread_executor(threads));
      EXPECT_TRUE(identical(serial.input, threaded.input)) << threads << " threads";
      EXPECT_TRUE(serial.w1 == threaded.w1) << threads << " threads";
      EXPECT_TRUE(serial.w2 == threaded.w2) << threads << " threads";
    }
  }
}

TYPED_TEST(GradientTest, StridedLayoutsAndReusedWorkspace) {
  // Column-major X and a dY that is a block of a larger matrix give the same factor gradients
  // (bitwise: the same tiles are gathered), and a workspace grown by a larger problem serves a
  // smaller one unchanged.
  using T = TypeParam;
  const auto M = Monarch<T>::random(Shape{8, 192, 96, 24, 16, 64}, 8);
  const RowBatch<T> X = random_matrix<T>(6, M.cols(), 9), dY = random_matrix<T>(6, M.rows(), 10);
  MonarchGradients<T> ref, got;
  GradientWorkspace<T> fresh, reused;
  backward(M, X, dY, GradientRequest::all(), ref, fresh);

  const auto big = Monarch<T>::random(Shape::square(32), 11);
  backward(big, random_matrix<T>(40, big.cols(), 12), random_matrix<T>(40, big.rows(), 13), GradientRequest::all(),
           got, reused);
  const Dense<T> Xc = X;
  Dense<T> frame = Dense<T>::Zero(9, M.rows() + 5);
  frame.block(2, 3, 6, M.rows()) = dY;
  backward(M, Xc, frame.block(2, 3, 6, M.rows()), GradientRequest::all(), got, reused);
  EXPECT_TRUE(got.w1 == ref.w1);
  EXPECT_TRUE(got.w2 == ref.w2);
  MONARCH_EXPECT_CLOSE(T, got.input, ref.input, 1);
}

TYPED_TEST(GradientTest, ImplicitPaddingAndTruncation) {
  // factor_gradients reads a narrower X as zero-padded and a narrower dY as zero-extended.
  using T = TypeParam;
  const auto M = Monarch<T>::random(Shape{3, 5, 2, 5, 2, 3}, 14);
  const RowBatch<T> X = random_matrix<T>(4, M.cols() - 2, 15), dY = random_matrix<T>(4, M.rows() - 3, 16);
  RowBatch<T> Xp = RowBatch<T>::Zero(4, M.cols()), dYp = RowBatch<T>::Zero(4, M.rows());
  Xp.leftCols(X.cols()) = X;
  dYp.leftCols(dY.cols()) = dY;
  BlockDiagonal<T> dw1, dw2, pw1, pw2;
  GradientWorkspace<T> ws;
  factor_gradients(M, X, dY, &dw1, &dw2, ws);
  factor_gradients(M, Xp, dYp, &pw1, &pw2, ws);
  EXPECT_TRUE(dw1 == pw1);
  EXPECT_TRUE(dw2 == pw2);
}

TYPED_TEST(GradientTest, EmptyBatchGivesZeroFactorGradients) {
  using T = TypeParam;
  const auto M = Monarch<T>::random(Shape::square(4), 17);
  MonarchGradients<T> g;
  GradientWorkspace<T> ws;
  backward(M, RowBatch<T>(0, M.cols()), RowBatch<T>(0, M.rows()), GradientRequest::all(), g, ws);
  EXPECT_EQ(g.input.rows(), 0);
  EXPECT_EQ(flat(g.w1).norm(), real_t<T>(0));
  EXPECT_EQ(flat(g.w2).norm(), real_t<T>(0));
  EXPECT_EQ(g.w1.size(), M.w1().size());
}

TEST(GradientErrors, OutputsOverlappingInputsThrowShapeErrorNamingBoth) {
  // Non-square (30 x 64) with w1 larger than w2: an output resized under the pass reallocates.
  const auto M = Monarch<double>::random(Shape{8, 5, 8, 5, 6, 8}, 3);
  const RowBatch<double> X = random_matrix<double>(3, M.cols(), 4), dY = random_matrix<double>(3, M.rows(), 5);
  MonarchGradients<double> g;
  GradientWorkspace<double> ws;
  // Chaining with one gradients object: grads.input holds dY (and is resized to dX's width).
  g.input = dY;
  expect_shape_error([&] { backward(M, X, g.input, GradientRequest::all(), g, ws); },
                     {"monarch::backward", "grads.input overlaps dY"});
  // grads.input holding X: dX would be written before dw1 reads X.
  g.input = X;
  expect_shape_error([&] { backward(M, g.input, dY, GradientRequest::all(), g, ws); }, {"grads.input overlaps X"});
  // A factor gradient whose current storage holds an input (it is overwritten or reshaped).
  g.w1 = BlockDiagonal<double>(8, 5, 8);
  const Eigen::Map<const RowBatch<double>> in_w1(g.w1.data(), 3, M.cols());
  expect_shape_error([&] { backward(M, in_w1, dY, GradientRequest::all(), g, ws); }, {"grads.w1 overlaps X"});
  expect_shape_error([&] { factor_gradients(M, in_w1, dY, &g.w1, &g.w2, ws); }, {"dw1 overlaps X"});
  // One factor object for both gradients: it would be shaped for w2, then written with dw1.
  BlockDiagonal<double> both;
  expect_shape_error([&] { factor_gradients(M, X, dY, &both, &both, ws); }, {"dw1 and dw2", "same object"});
}

TEST(GradientErrors, UnrequestedOutputsMayHoldInputs) {
  // A first layer needs no dX, so the gradients object of the next layer can pass its dX as dY.
  const auto M = Monarch<double>::random(Shape{8, 5, 8, 5, 6, 8}, 6);
  const RowBatch<double> X = random_matrix<double>(3, M.cols(), 7), dY = random_matrix<double>(3, M.rows(), 8);
  MonarchGradients<double> want, g;
  GradientWorkspace<double> ws;
  backward(M, X, dY, GradientRequest::parameters(), want, ws);
  g.input = dY;
  backward(M, X, g.input, GradientRequest::parameters(), g, ws);
  EXPECT_TRUE(g.w1 == want.w1);
  EXPECT_TRUE(g.w2 == want.w2);
  EXPECT_TRUE(identical(g.input, dY));
}

TEST(GradientErrors, BadShapesThrowShapeErrorNamingExpectedAndGiven) {
  const auto M = Monarch<double>::random(Shape::square(4), 3);
  MonarchGradients<double> g;
  GradientWorkspace<double> ws;
  const auto good_x = random_matrix<double>(2, 16, 1), good_dy = random_matrix<double>(2, 16, 2);
  expect_shape_error([&] { backward(M, random_matrix<double>(2, 15, 1), good_dy, GradientRequest::all(), g, ws); },
                     {"X has 15 columns", "16"});
  expect_shape_error([&] { backward(M, good_x, random_matrix<double>(2, 17, 1), GradientRequest::all(), g, ws); },
                     {"dY has 17 columns", "16"});
  expect_shape_error([&] { backward(M, good_x, random_matrix<double>(3, 16, 1), GradientRequest::all(), g, ws); },
                     {"2 rows", "3"});
  BlockDiagonal<double> dw1;
  expect_shape_error([&] { factor_gradients(M, random_matrix<double>(2, 17, 1), good_dy, &dw1, nullptr, ws); },
                     {"17 columns", "at most cols() = 16"});
}

}  // namespace
}  // namespace monarch::test
