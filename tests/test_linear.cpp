// MonarchLinear (docs/math.md §2.3): factor shapes, parameter counts, initialization, forward against a
// dense reference built from the definition (pad, channel expansion, keep the first out_features,
// add the bias), backward against the dense chain rule and finite differences, and bad input.
#include <cmath>
#include <limits>
#include <optional>
#include <string>

#include "support/gradient_support.hpp"

namespace monarch::test {
namespace {

struct LinearCase {
  Index in, out, nblocks;
  Shape want;  // written out by hand from the table of docs/math.md §2.3
};

/// The configurations of the issue, with their factor shapes from the table of docs/math.md §2.3
/// (b = nblocks, I = ceil(in/b), O = ceil(out/b); b*I < b*O: (b,I,I | b,O,I), else (b,O,I | b,O,O)).
std::vector<LinearCase> linear_cases() {
  return {
      {768, 768, 4, {4, 192, 192, 4, 192, 192}},   // square, no padding
      {768, 3072, 4, {4, 192, 192, 4, 768, 192}},  // in < out
      {3072, 768, 4, {4, 192, 768, 4, 192, 192}},  // in > out
      {100, 37, 4, {4, 10, 25, 4, 10, 10}},        // outputs 40 -> 37
      {100, 37, 8, {8, 5, 13, 8, 5, 5}},           // inputs padded 100 -> 104, outputs 40 -> 37
      {64, 64, 8, {8, 8, 8, 8, 8, 8}},
      {10, 30, 4, {4, 3, 3, 4, 8, 3}},  // inputs padded 10 -> 12, outputs 32 -> 30
  };
}

std::string name(const LinearCase& c) {
  return std::to_string(c.in) + "->" + std::to_string(c.out) + " nblocks " + std::to_string(c.nblocks);
}

/// The dense M of docs/math.md §2.2 (channel expansion) costs N*s*p operations in the wider type; for the
/// three 768-wide layers that is 10^7..10^8 (complex) double or long-double operations per case, so
/// those are checked against the dense reference in float only (the code is the same template).
template <class T>
bool dense_affordable(const Shape& sh) {
  return std::is_same_v<T, float> || sh.inner() * sh.s * sh.p <= 4'000'000;
}

/// The layer's output from its definition, in the wider type: y = (M [x, 0])[0:out] + bias.
template <class T>
Dense<wider_t<T>> dense_forward(const MonarchLinear<T>& layer, const RowBatch<T>& X) {
  using W = wider_t<T>;
  const Dense<W> M = dense_from_channels(layer.blkdiag1(), layer.blkdiag2());
  Dense<W> Xp = Dense<W>::Zero(X.rows(), M.cols());
  Xp.leftCols(X.cols()) = X.template cast<W>();
  Dense<W> Y = (Xp * M.transpose()).leftCols(layer.out_features());
  if (layer.bias()) Y.rowwise() += layer.bias()->template cast<W>().transpose();
  return Y;
}

template <class T>
class LinearTest : public ::testing::Test {};
TYPED_TEST_SUITE(LinearTest, Scalars, );

TEST(LinearShapes, FactorShapesParameterCountsAndSavingFollowTheAuthors) {
  for (const auto& c : linear_cases()) {
    SCOPED_TRACE(name(c));
    const MonarchLinear<float> layer(c.in, c.out, c.nblocks);
    EXPECT_EQ(layer.shape(), c.want);
    EXPECT_EQ(layer.blkdiag1().nblocks(), c.want.k);
    EXPECT_EQ(layer.blkdiag1().block_rows(), c.want.q);
    EXPECT_EQ(layer.blkdiag1().block_cols(), c.want.p);
    EXPECT_EQ(layer.blkdiag2().nblocks(), c.want.l);
    EXPECT_EQ(layer.blkdiag2().block_rows(), c.want.s);
    EXPECT_EQ(layer.blkdiag2().block_cols(), c.want.r);
    EXPECT_EQ(layer.nblocks(), c.nblocks);
    EXPECT_EQ(layer.num_params(), c.want.k * c.want.q * c.want.p + c.want.l * c.want.s * c.want.r + c.out);
  }
  // docs/math.md §7: 768x768 with 4 blocks is 294,912 parameters (0.5 of dense); 768<->3072 is 737,280 (0.3125).
  const MonarchLinear<double> sq(768, 768, 4, false), up(768, 3072, 4), down(3072, 768, 4);
  EXPECT_EQ(sq.num_params(), 294912);
  EXPECT_DOUBLE_EQ(sq.saving(), 0.5);
  EXPECT_EQ(up.num_params(), 737280 + 3072);
  EXPECT_DOUBLE_EQ(up.saving(), 0.3125);
  EXPECT_DOUBLE_EQ(down.saving(), 0.3125);
  EXPECT_FALSE(sq.bias().has_value());
}

TYPED_TEST(LinearTest, ForwardMatchesDenseDefinitionWithAndWithoutBias) {
  using T = TypeParam;
  std::uint64_t seed = 300;
  for (const auto& c : linear_cases()) {
    if (!dense_affordable<T>(c.want)) continue;
    SCOPED_TRACE(name(c));
    const MonarchLinear<T> with_bias(c.in, c.out, c.nblocks, true, ++seed);
    const auto without_bias =
        MonarchLinear<T>::from_factors(c.in, c.out, with_bias.blkdiag1(), with_bias.blkdiag2(), std::nullopt);
    const RowBatch<T> X = random_matrix<T>(3, c.in, ++seed);
    const Index len = accumulation_length(c.want);
    for (const auto* layer : {&with_bias, &without_bias}) {
      SCOPED_TRACE(layer->bias() ? "with bias" : "without bias");
      const RowBatch<T> Y = layer->forward(X);
      ASSERT_EQ(Y.rows(), 3);
      ASSERT_EQ(Y.cols(), c.out);
      MONARCH_EXPECT_CLOSE(T, Y, dense_forward(*layer, X), len);
    }
  }
}

TYPED_TEST(LinearTest, ForwardFormsAndLayoutsAgree) {
  // The workspace form equals the returning form bit for bit, also when the workspace was grown by
  // a larger batch; column-major input and a block output give the same values.
  using T = TypeParam;
  for (const auto& c : linear_cases()) {
    SCOPED_TRACE(name(c));
    const MonarchLinear<T> layer(c.in, c.out, c.nblocks, true, 5);
    const RowBatch<T> X = random_matrix<T>(4, c.in, 6);
    const RowBatch<T> want = layer.forward(X);
    typename MonarchLinear<T>::Workspace ws;
    RowBatch<T> big(9, c.out), Y(4, c.out);
    layer.forward(random_matrix<T>(9, c.in, 7), big, ws);
    layer.forward(X, Y, ws);
    EXPECT_TRUE(identical(Y, want));
    const Dense<T> Xc = X;
    Dense<T> frame = Dense<T>::Zero(6, c.out + 3);
    layer.forward(Xc, frame.block(1, 2, 4, c.out), ws);
    MONARCH_EXPECT_CLOSE(T, frame.block(1, 2, 4, c.out), want, 1);
    EXPECT_EQ(frame.leftCols(2).norm(), real_t<T>(0)) << "wrote outside the output block";
  }
}

TYPED_TEST(LinearTest, BiasAddedByTheKernelsEqualsAddingItAfterwards) {
  // Where Y is the whole output with unit column stride, forward has the kernels add the bias as
  // they store Y. On every path, with tile tails, non-temporal stores and two threads, that is
  // bitwise the layer's Monarch product with the bias added afterwards (which the dense test
  // checks), and nothing around Y is written. For real scalars on AVX-512 the shapes reach the
  // lanes kernel with a partial lane group (nblocks 9, blocks of 10), the broadcast kernel's
  // strided store (nblocks 3, blocks of 17) and its vector store with a partial vector (nblocks 1,
  // 17 wide); narrower vectors run more of them on lanes. Every final store of every path and
  // scalar is checked with a bias in test_kernels (BiasAddedInTheFinalStoreEqualsAddingItAfterwards).
  using T = TypeParam;
  namespace kn = detail::kernels;
  const auto pool = thread_executor(2);
  const T guard(7);
  for (const auto& c : {LinearCase{90, 90, 9, {}}, LinearCase{51, 51, 3, {}}, LinearCase{17, 17, 1, {}}}) {
    const MonarchLinear<T> layer(c.in, c.out, c.nblocks, true, 40);
    for (const Index batch : {1, 7, 61}) {
      const RowBatch<T> X = random_matrix<T>(batch, c.in, 41);
      MONARCH_EXPECT_CLOSE(T, layer.forward(X), dense_forward(layer, X), accumulation_length(layer.shape()));
      for (const auto path : compiled_paths<T>())
        for (const Index tile : {Index(0), Index(5)})
          for (const auto nontemporal : {NonTemporal::off, NonTemporal::on}) {
            SCOPED_TRACE(::testing::Message() << name(c) << " batch " << batch << " " << to_string(path)
                                              << " tile " << tile << " non-temporal "
                                              << (nontemporal == NonTemporal::on));
            const KernelOptions options{path, tile, nontemporal};
            RowBatch<T> want = layer.monarch().apply(X, SerialExecutor{}, options);
            want.rowwise() += layer.bias()->transpose();
            typename MonarchLinear<T>::Workspace ws;
            for (const bool threads : {false, true}) {
              RowBatch<T> frame = RowBatch<T>::Constant(batch + 2, c.out + 3, guard);
              if (threads)
                layer.forward(X, frame.block(1, 1, batch, c.out), ws, pool, options);
              else
                layer.forward(X, frame.block(1, 1, batch, c.out), ws, SerialExecutor{}, options);
              EXPECT_TRUE(identical(frame.block(1, 1, batch, c.out), want)) << "threads " << threads;
              frame.block(1, 1, batch, c.out).setConstant(guard);
              EXPECT_TRUE((frame.array() == guard).all()) << "wrote outside Y";
            }
          }
    }
  }
}

TYPED_TEST(LinearTest, BackwardMatchesDenseChainRule) {
  // dX = (dY_ext conj(M))[:, :in] with dY_ext = [dY, 0] (truncated outputs have zero gradient),
  // dw1/dw2 from dM = dY_ext^T conj([X, 0]) through the channel form, dbias = sum_b dY.
  using T = TypeParam;
  using W = wider_t<T>;
  std::uint64_t seed = 400;
  for (const auto& c : linear_cases()) {
    SCOPED_TRACE(name(c));
    const Index batch = 3;
    const MonarchLinear<T> layer(c.in, c.out, c.nblocks, true, ++seed);
    const RowBatch<T> X = random_matrix<T>(batch, c.in, ++seed), dY = random_matrix<T>(batch, c.out, ++seed);
    typename MonarchLinear<T>::Gradients g;
    typename MonarchLinear<T>::Workspace ws;
    layer.backward(X, dY, GradientRequest::all(), g, ws);

    Dense<W> Xp = Dense<W>::Zero(batch, c.want.cols()), dYe = Dense<W>::Zero(batch, c.want.rows());
    Xp.leftCols(c.in) = X.template cast<W>();
    dYe.leftCols(c.out) = dY.template cast<W>();
    const bool with_input = dense_affordable<T>(c.want);
    const auto want = dense_chain_rule(layer.blkdiag1(), layer.blkdiag2(), Xp, dYe, with_input, channel_stride_for(c.want));
    const Index len = batch + c.want.p + c.want.q + c.want.r + c.want.s;
    ASSERT_EQ(g.input.rows(), batch);
    ASSERT_EQ(g.input.cols(), c.in);
    if (with_input) {
      MONARCH_EXPECT_CLOSE(T, g.input, want.input.leftCols(c.in).eval(), len);
    }
    using Flat = Eigen::Matrix<T, Eigen::Dynamic, 1>;
    MONARCH_EXPECT_CLOSE(T, entries<Flat>(flat(g.w1), want.w1_checked), entries(want.w1, want.w1_checked), len);
    MONARCH_EXPECT_CLOSE(T, entries<Flat>(flat(g.w2), want.w2_checked), entries(want.w2, want.w2_checked), len);
    MONARCH_EXPECT_CLOSE(T, g.bias, dY.template cast<W>().colwise().sum().transpose().eval(), batch);
  }
}

template <class T>
class LinearFiniteDifferenceTest : public ::testing::Test {};
using DoubleScalars = ::testing::Types<double, std::complex<double>>;
TYPED_TEST_SUITE(LinearFiniteDifferenceTest, DoubleScalars, );

TYPED_TEST(LinearFiniteDifferenceTest, GradientsMatchCentralDifferences) {
  using T = TypeParam;
  const double h = 1e-3;
  for (const auto& c : {LinearCase{10, 30, 4, {}}, LinearCase{100, 37, 8, {}}, LinearCase{64, 64, 8, {}}}) {
    SCOPED_TRACE(name(c));
    MonarchLinear<T> layer(c.in, c.out, c.nblocks, true, 9);
    RowBatch<T> X = random_matrix<T>(2, c.in, 10);
    const RowBatch<T> G = random_matrix<T>(2, c.out, 11);
    typename MonarchLinear<T>::Gradients g;
    typename MonarchLinear<T>::Workspace ws;
    layer.backward(X, G, GradientRequest::all(), g, ws);  // dL/dY = G for L = Re sum conj(G) .* Y

    auto loss = [&] { return real_loss(G.template cast<wider_t<T>>(), dense_forward(layer, X)); };
    const double tol = finite_difference_tolerance(loss_scale(G, layer.forward(X)) + 1.0, h);
    detail::Rng pick(12);
    auto index = [&](Index n) { return static_cast<Index>(pick.uniform01() * double(n)); };
    for (int rep = 0; rep < 4; ++rep) {
      const Index b = index(X.rows()), j = index(X.cols());
      EXPECT_LE(std::abs(central_difference(X(b, j), h, loss) - g.input(b, j)), tol) << "dX(" << b << "," << j << ")";
      const Index i1 = index(layer.blkdiag1().size()), i2 = index(layer.blkdiag2().size()), o = index(c.out);
      EXPECT_LE(std::abs(central_difference(layer.blkdiag1().data()[i1], factor_entry_setter(layer, 1, i1), h, loss) - g.w1.data()[i1]), tol) << i1;
      EXPECT_LE(std::abs(central_difference(layer.blkdiag2().data()[i2], factor_entry_setter(layer, 2, i2), h, loss) - g.w2.data()[i2]), tol) << i2;
      EXPECT_LE(std::abs(central_difference((*layer.bias())[o], h, loss) - g.bias[o]), tol) << "dbias " << o;
    }
  }
}

TYPED_TEST(LinearTest, UnrequestedGradientsAreUntouched) {
  using T = TypeParam;
  const MonarchLinear<T> layer(10, 30, 4, true, 13);
  const RowBatch<T> X = random_matrix<T>(5, 10, 14), dY = random_matrix<T>(5, 30, 15);
  typename MonarchLinear<T>::Workspace ws;
  typename MonarchLinear<T>::Gradients full, sentinel;
  layer.backward(X, dY, GradientRequest::all(), full, ws);
  sentinel.input = RowBatch<T>::Constant(1, 3, T(7));
  sentinel.w1 = BlockDiagonal<T>::identity(1, 2);
  sentinel.w2 = BlockDiagonal<T>::identity(2, 1);
  sentinel.bias = Eigen::Matrix<T, Eigen::Dynamic, 1>::Constant(2, T(3));
  for (int mask = 0; mask < 16; ++mask) {
    SCOPED_TRACE(mask);
    const GradientRequest req{(mask & 1) != 0, (mask & 2) != 0, (mask & 4) != 0, (mask & 8) != 0};
    auto g = sentinel;
    layer.backward(X, dY, req, g, ws);
    EXPECT_TRUE(identical(g.input, req.input ? full.input : sentinel.input));
    EXPECT_TRUE(g.w1 == (req.w1 ? full.w1 : sentinel.w1));
    EXPECT_TRUE(g.w2 == (req.w2 ? full.w2 : sentinel.w2));
    EXPECT_TRUE(identical(g.bias, req.bias ? full.bias : sentinel.bias));
  }
  // A layer without a bias leaves the bias gradient alone even when it is requested.
  const auto no_bias = MonarchLinear<T>::from_factors(10, 30, layer.blkdiag1(), layer.blkdiag2(), std::nullopt);
  auto g = sentinel;
  no_bias.backward(X, dY, GradientRequest::all(), g, ws);
  EXPECT_TRUE(identical(g.bias, sentinel.bias));
}

TYPED_TEST(LinearTest, BitwiseIdenticalForEveryThreadCount) {
  using T = TypeParam;
  const Index batch = detail::gemm_tile<T>() + 21;
  for (const auto& c : {LinearCase{768, 768, 4, {}}, LinearCase{100, 37, 8, {}}}) {
    SCOPED_TRACE(name(c));
    const MonarchLinear<T> layer(c.in, c.out, c.nblocks, true, 16);
    const RowBatch<T> X = random_matrix<T>(batch, c.in, 17), dY = random_matrix<T>(batch, c.out, 18);
    typename MonarchLinear<T>::Workspace ws1, ws2;
    typename MonarchLinear<T>::Gradients serial, threaded;
    RowBatch<T> Y1(batch, c.out), Y2(batch, c.out);
    layer.forward(X, Y1, ws1);
    layer.backward(X, dY, GradientRequest::all(), serial, ws1);
    const auto exec = thread_executor(2);
    layer.forward(X, Y2, ws2, exec);
    layer.backward(X, dY, GradientRequest::all(), threaded, ws2, exec);
    EXPECT_TRUE(identical(Y1, Y2));
    EXPECT_TRUE(identical(serial.input, threaded.input));
    EXPECT_TRUE(serial.w1 == threaded.w1);
    EXPECT_TRUE(serial.w2 == threaded.w2);
    EXPECT_TRUE(identical(serial.bias, threaded.bias));
  }
}

TYPED_TEST(LinearTest, InitializationFollowsTheAuthors) {
  // Factors uniform(+-1/sqrt(last extent)), bias uniform(+-1/sqrt(out_features)); complex: each
  // part within bound/sqrt(2). Checked for the bounds and that the extremes come close to them
  // (a wrong fan_in, e.g. in_features for the bias, is off by a factor of 2 for 3072->768 and
  // 768->3072).
  using T = TypeParam;
  const double part = is_complex_v<T> ? std::sqrt(0.5) : 1.0;
  auto check = [&](const T* v, Index n, double bound, const char* what) {
    double max_part = 0;
    for (Index i = 0; i < n; ++i) {
      max_part = std::max({max_part, std::abs(double(std::real(v[i]))), std::abs(double(std::imag(v[i])))});
    }
    EXPECT_LE(max_part, bound * part) << what;
    EXPECT_GE(max_part, 0.7 * bound * part) << what;  // P(max < 0.7 bound) = 0.7^n, n >= 37
  };
  for (const auto& c : {LinearCase{3072, 768, 4, {}}, LinearCase{768, 3072, 4, {}}, LinearCase{100, 37, 8, {}}}) {
    SCOPED_TRACE(name(c));
    const MonarchLinear<T> layer(c.in, c.out, c.nblocks, true, 42);
    const auto& w1 = layer.blkdiag1();
    const auto& w2 = layer.blkdiag2();
    check(w1.data(), w1.size(), 1.0 / std::sqrt(double(w1.block_cols())), "blkdiag1");
    check(w2.data(), w2.size(), 1.0 / std::sqrt(double(w2.block_cols())), "blkdiag2");
    check(layer.bias()->data(), c.out, 1.0 / std::sqrt(double(c.out)), "bias");

    MonarchLinear<T> same(c.in, c.out, c.nblocks, true, 1);
    same.reset_parameters(42);
    EXPECT_TRUE(same.blkdiag1() == w1 && same.blkdiag2() == w2 && *same.bias() == *layer.bias()) << "seeded";
    const MonarchLinear<T> other(c.in, c.out, c.nblocks, true, 43);
    EXPECT_FALSE(other.blkdiag1() == w1) << "a different seed must give different weights";
  }
}

TYPED_TEST(LinearTest, FromFactorsRoundTrip) {
  using T = TypeParam;
  const MonarchLinear<T> layer(100, 37, 8, true, 19);
  const auto copy = MonarchLinear<T>::from_factors(100, 37, layer.blkdiag1(), layer.blkdiag2(), layer.bias());
  const RowBatch<T> X = random_matrix<T>(3, 100, 20);
  EXPECT_TRUE(identical(copy.forward(X), layer.forward(X)));
  EXPECT_EQ(copy.nblocks(), 8);
  EXPECT_EQ(copy.shape(), layer.shape());
}

TEST(LinearErrors, FromFactorsNamesTensorExpectedAndGiven) {
  using Layer = MonarchLinear<double>;
  const Layer ref(100, 37, 4);  // blkdiag1 (4,10,25), blkdiag2 (4,10,10)
  expect_shape_error([&] { Layer::from_factors(100, 37, BlockDiagonal<double>(4, 10, 24), ref.blkdiag2(), ref.bias()); },
                     {"blkdiag1", "(4, 10, 24)", "expected (4, 10, 25)"});
  expect_shape_error([&] { Layer::from_factors(100, 37, ref.blkdiag1(), BlockDiagonal<double>(4, 11, 10), ref.bias()); },
                     {"blkdiag2", "(4, 11, 10)", "expected (4, 10, 10)"});
  expect_shape_error([&] { Layer::from_factors(100, 37, ref.blkdiag1(), BlockDiagonal<double>(2, 20, 20), ref.bias()); },
                     {"blkdiag2", "(2, 20, 20)", "expected (4, 10, 10)"});
  expect_shape_error(
      [&] { Layer::from_factors(100, 37, ref.blkdiag1(), ref.blkdiag2(), Eigen::VectorXd::Zero(40).eval()); },
      {"bias has 40 entries", "out_features = 37"});
  expect_shape_error([&] { Layer::from_factors(100, 37, BlockDiagonal<double>(), ref.blkdiag2(), std::nullopt); },
                     {"blkdiag1 is empty"});
}

TEST(LinearErrors, FromFactorsComparesShapesBeforeAllocating) {
  // in_features = 2^40 would need a 10 * 2^40-entry blkdiag1: the given factors are rejected first.
  using Layer = MonarchLinear<double>;
  const Layer ref(100, 37, 4);
  const Index huge = Index(1) << 40;
  expect_shape_error([&] { Layer::from_factors(huge, 37, ref.blkdiag1(), ref.blkdiag2(), ref.bias()); },
                     {"blkdiag1", "(4, 10, 25)", "in_features = 1099511627776"});
  expect_shape_error([&] { Layer::from_factors(100, huge, ref.blkdiag1(), ref.blkdiag2(), std::nullopt); },
                     {"blkdiag", "out_features = 1099511627776"});
}

TEST(LinearErrors, BackwardOutputsOverlappingInputsThrowShapeErrorNamingBoth) {
  // 30 -> 30 with 4 blocks pads both sides (32): the overlap is invisible to the multiply's own
  // check, and dX has dY's size, so nothing is reallocated either.
  const MonarchLinear<double> same(30, 30, 4, true, 1);
  const RowBatch<double> X = random_matrix<double>(3, 30, 2), dY = random_matrix<double>(3, 30, 3);
  MonarchLinear<double>::Gradients g;
  MonarchLinear<double>::Workspace ws;
  g.input = dY;  // chaining layers with one gradients object
  expect_shape_error([&] { same.backward(X, g.input, GradientRequest::all(), g, ws); },
                     {"MonarchLinear::backward", "grads.input overlaps dY"});
  g.input = X;
  expect_shape_error([&] { same.backward(g.input, dY, GradientRequest::all(), g, ws); }, {"grads.input overlaps X"});
  // Sizes that differ: dX (3 x 100) would reallocate the dY (3 x 37) being read.
  const MonarchLinear<double> narrow(100, 37, 4, true, 4);
  g.input = random_matrix<double>(3, 37, 5);
  expect_shape_error([&] { narrow.backward(random_matrix<double>(3, 100, 6), g.input, GradientRequest::all(), g, ws); },
                     {"grads.input overlaps dY"});
  // Every requested output is checked, the bias gradient included.
  g.bias = Eigen::VectorXd::Zero(90);
  const Eigen::Map<const RowBatch<double>> in_bias(g.bias.data(), 3, 30);
  expect_shape_error([&] { same.backward(X, in_bias, GradientRequest::all(), g, ws); }, {"grads.bias overlaps dY"});
  // The forward too.
  RowBatch<double> XY = X;
  expect_shape_error([&] { same.forward(XY, XY, ws); }, {"MonarchLinear::forward", "Y overlaps X"});
}

TEST(LinearErrors, UnrequestedOutputsMayHoldInputs) {
  const MonarchLinear<double> layer(30, 30, 4, true, 7);
  const RowBatch<double> X = random_matrix<double>(3, 30, 8), dY = random_matrix<double>(3, 30, 9);
  MonarchLinear<double>::Gradients want, g;
  MonarchLinear<double>::Workspace ws;
  layer.backward(X, dY, GradientRequest::parameters(), want, ws);
  g.input = dY;  // a first layer: the next layer's dX as dY, no dX of its own
  layer.backward(X, g.input, GradientRequest::parameters(), g, ws);
  EXPECT_TRUE(g.w1 == want.w1);
  EXPECT_TRUE(g.w2 == want.w2);
  EXPECT_TRUE(identical(g.bias, want.bias));
}

TEST(LinearErrors, BadInputsAtForwardAndBackward) {
  MonarchLinear<float> layer(100, 37, 4);
  MonarchLinear<float>::Workspace ws;
  MonarchLinear<float>::Gradients g;
  const RowBatch<float> X = random_matrix<float>(2, 100, 1), dY = random_matrix<float>(2, 37, 2);
  expect_shape_error([&] { layer.forward(random_matrix<float>(2, 99, 1)); }, {"X has 99 columns", "expected 100"});
  expect_shape_error([&] { layer.forward(random_matrix<float>(2, 104, 1)); }, {"X has 104 columns", "expected 100"});
  RowBatch<float> Y(2, 40);
  expect_shape_error([&] { layer.forward(X, Y, ws); }, {"Y is 2 x 40", "expected 2 x 37"});
  expect_shape_error([&] { layer.backward(X, random_matrix<float>(2, 40, 1), GradientRequest::all(), g, ws); },
                     {"dY has 40 columns", "expected 37"});
  expect_shape_error([&] { layer.backward(random_matrix<float>(3, 100, 1), dY, GradientRequest::all(), g, ws); },
                     {"3 rows", "2"});
  // Weights replaced by tensors of the wrong shape: reported by update, and again at the next call.
  const auto wrong_w2 = [](BlockDiagonal<float>&, BlockDiagonal<float>& w2) { w2 = BlockDiagonal<float>(4, 10, 9); };
  expect_shape_error([&] { layer.update(wrong_w2); }, {"blkdiag2", "(4, 10, 9)"});
  expect_shape_error([&] { layer.forward(X); }, {"blkdiag2", "(4, 10, 9)"});
  layer.update([](BlockDiagonal<float>&, BlockDiagonal<float>& w2) { w2 = BlockDiagonal<float>(4, 10, 10); });
  layer.bias() = Eigen::VectorXf::Zero(36);
  expect_shape_error([&] { layer.backward(X, dY, GradientRequest::all(), g, ws); }, {"bias has 36 entries"});
  EXPECT_THROW(MonarchLinear<float>(0, 3, 1), ShapeError);
  EXPECT_THROW(MonarchLinear<float>(3, 3, 0), ShapeError);
}

}  // namespace
}  // namespace monarch::test
