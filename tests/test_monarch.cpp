// Monarch<T>: every multiply checked against dense matrices built from the definition (docs/math.md §2),
// for the four scalars and the shape families of the core issue.
#include <map>
#include <tuple>

#include "support/test_support.hpp"

namespace monarch::test {
namespace {

template <class T>
class MonarchTest : public ::testing::Test {
 protected:
  struct Case {
    NamedShape named;
    Monarch<T> M;
    Dense<wider_t<T>> dense;  // from the channel expansion, never from the library
  };

  /// One random Monarch and its reference per shape, built once per scalar type.
  static const std::vector<Case>& cases() {
    static const std::vector<Case> all = [] {
      std::vector<Case> v;
      std::uint64_t seed = 1;
      for (const auto& ns : shape_families()) {
        Monarch<T> M = Monarch<T>::random(ns.shape, seed++);
        Dense<wider_t<T>> D = dense_from_channels(M.w1(), M.w2());
        v.push_back(Case{ns, std::move(M), std::move(D)});
      }
      return v;
    }();
    return all;
  }
};
TYPED_TEST_SUITE(MonarchTest, Scalars, ScalarNames);

TYPED_TEST(MonarchTest, ChannelReferenceEqualsPermutationProduct) {
  // The two independent references (channel expansion, explicit Pi BD Pi BD product) agree.
  using T = TypeParam;
  for (const auto& c : this->cases()) {
    const Shape& sh = c.named.shape;
    if (double(sh.rows()) * double(sh.inner()) * double(sh.inner()) > 5e7) continue;  // dense O(n^3) products
    SCOPED_TRACE(c.named.name);
    MONARCH_EXPECT_CLOSE(T, dense_from_product(c.M.w1(), c.M.w2()), c.dense, 1);
  }
}

TYPED_TEST(MonarchTest, PaperSquareFourDimensionalForm) {
  // docs/math.md §2.2 (square case): M[l*m + j, k*m + i] = L_j[l, k] R_k[j, i] with R = BD(w1), L = BD(w2).
  using T = TypeParam;
  for (Index m : {4, 8}) {
    SCOPED_TRACE(m);
    const auto M = Monarch<T>::random(Shape::square(m), 100 + std::uint64_t(m));
    Dense<wider_t<T>> want(m * m, m * m);
    for (Index l = 0; l < m; ++l)
      for (Index j = 0; j < m; ++j)
        for (Index k = 0; k < m; ++k)
          for (Index i = 0; i < m; ++i)
            want(l * m + j, k * m + i) = wider_t<T>(M.w2()(j, l, k)) * wider_t<T>(M.w1()(k, j, i));
    MONARCH_EXPECT_CLOSE(T, M.to_dense(), want, 2 * m);
  }
}

TYPED_TEST(MonarchTest, ApplyBatchMatchesDense) {
  using T = TypeParam;
  for (const auto& c : this->cases()) {
    SCOPED_TRACE(c.named.name);
    const auto X = random_matrix<T>(3, c.M.cols(), 7);
    const RowBatch<T> Y = c.M.apply(X);
    const Dense<wider_t<T>> want = X.template cast<wider_t<T>>() * c.dense.transpose();
    MONARCH_EXPECT_CLOSE(T, Y, want, accumulation_length(c.named.shape));
  }
}

TYPED_TEST(MonarchTest, VectorMultiplyMatchesDenseAndBatchOfOne) {
  using T = TypeParam;
  for (const auto& c : this->cases()) {
    SCOPED_TRACE(c.named.name);
    const Eigen::Matrix<T, Eigen::Dynamic, 1> x = random_matrix<T, Dense<T>>(c.M.cols(), 1, 11);
    const Eigen::Matrix<T, Eigen::Dynamic, 1> y = c.M * x;
    MONARCH_EXPECT_CLOSE(T, y, (c.dense * x.template cast<wider_t<T>>()).eval(), accumulation_length(c.named.shape));
    const RowBatch<T> y1 = c.M.apply(x.transpose());
    ASSERT_EQ(y1.rows(), 1);
    EXPECT_EQ(y1.row(0).transpose(), y) << "a batch of one must equal the vector multiply";
  }
}

TYPED_TEST(MonarchTest, AdjointMatchesDense) {
  using T = TypeParam;
  for (const auto& c : this->cases()) {
    SCOPED_TRACE(c.named.name);
    const auto Y = random_matrix<T>(4, c.M.rows(), 13);
    const RowBatch<T> X = c.M.adjoint().apply(Y);
    const Dense<wider_t<T>> want = Y.template cast<wider_t<T>>() * c.dense.conjugate();  // rows: M^H y
    MONARCH_EXPECT_CLOSE(T, X, want, c.named.shape.s + c.named.shape.q);
    const Eigen::Matrix<T, Eigen::Dynamic, 1> y = Y.row(0).transpose();
    MONARCH_EXPECT_CLOSE(T, (c.M.adjoint() * y), want.row(0).transpose().eval(), c.named.shape.s + c.named.shape.q);
  }
}

TYPED_TEST(MonarchTest, AdjointIdentity) {
  // <y, M x> = <M^H y, x> with <a, b> = sum conj(a_i) b_i.
  using T = TypeParam;
  for (const auto& c : this->cases()) {
    SCOPED_TRACE(c.named.name);
    const Eigen::Matrix<T, Eigen::Dynamic, 1> x = random_matrix<T, Dense<T>>(c.M.cols(), 1, 17);
    const Eigen::Matrix<T, Eigen::Dynamic, 1> y = random_matrix<T, Dense<T>>(c.M.rows(), 1, 19);
    const Eigen::Matrix<T, Eigen::Dynamic, 1> Mx = c.M * x;
    const Eigen::Matrix<T, Eigen::Dynamic, 1> Mhy = (c.M.adjoint() * y);
    const auto lhs = y.template cast<wider_t<T>>().dot(Mx.template cast<wider_t<T>>());
    const auto rhs = Mhy.template cast<wider_t<T>>().dot(x.template cast<wider_t<T>>());
    const double scale = double(y.norm()) * double(Mx.norm()) + double(Mhy.norm()) * double(x.norm());
    EXPECT_LE(double(std::abs(lhs - rhs)), tolerance<T>(accumulation_length(c.named.shape)) * scale);
  }
}

TYPED_TEST(MonarchTest, ToDenseMatchesDefinition) {
  using T = TypeParam;
  for (const auto& c : this->cases()) {
    SCOPED_TRACE(c.named.name);
    MONARCH_EXPECT_CLOSE(T, c.M.to_dense(), c.dense, accumulation_length(c.named.shape));
  }
}

TYPED_TEST(MonarchTest, ColumnMajorAndStridedLayouts) {
  // Every layout must give the dense answer: column-major input and output, and blocks of larger
  // matrices (non-unit strides on both sides), with no copy by the caller.
  using T = TypeParam;
  for (const auto& c : this->cases()) {
    SCOPED_TRACE(c.named.name);
    const Index n_in = c.M.cols(), n_out = c.M.rows();
    const RowBatch<T> X = random_matrix<T>(5, n_in, 23);
    const Dense<wider_t<T>> want = X.template cast<wider_t<T>>() * c.dense.transpose();
    const Index tol_len = accumulation_length(c.named.shape);

    const Dense<T> Xc = X;  // column-major input
    MONARCH_EXPECT_CLOSE(T, c.M.apply(Xc), want, tol_len);

    Dense<T> Yc(5, n_out);  // column-major output
    c.M.apply(X, Yc);
    MONARCH_EXPECT_CLOSE(T, Yc, want, tol_len);

    Dense<T> bigX = random_matrix<T, Dense<T>>(9, 2 * n_in + 3, 29);  // strided block input
    bigX.block(2, 3, 5, n_in) = X;
    RowBatch<T> bigY = RowBatch<T>::Zero(8, n_out + 6);  // block output inside a larger matrix
    c.M.apply(bigX.block(2, 3, 5, n_in), bigY.block(1, 4, 5, n_out));
    MONARCH_EXPECT_CLOSE(T, bigY.block(1, 4, 5, n_out), want, tol_len);
    EXPECT_EQ(bigY.row(0).norm(), real_t<T>(0)) << "wrote outside the output block";
    EXPECT_EQ(bigY.leftCols(4).norm(), real_t<T>(0)) << "wrote outside the output block";

    // Every other column of a matrix (inner stride 2) through the raw-pointer interface.
    RowBatch<T> wide = RowBatch<T>::Zero(5, 2 * n_in);
    for (Index j = 0; j < n_in; ++j) wide.col(2 * j) = X.col(j);
    RowBatch<T> Yr(5, n_out);
    c.M.apply(MatrixView<const T>{wide.data(), 5, n_in, 2 * n_in, 2}, row_major_view(Yr.data(), 5, n_out));
    MONARCH_EXPECT_CLOSE(T, Yr, want, tol_len);
  }
}

TYPED_TEST(MonarchTest, ZeroShapeAndEmptyBatch) {
  using T = TypeParam;
  const Monarch<T> Z(Shape{2, 3, 4, 3, 5, 2});
  const RowBatch<T> X = random_matrix<T>(2, Z.cols(), 31);
  EXPECT_EQ(Z.apply(X).norm(), real_t<T>(0));
  EXPECT_EQ(Z.apply(RowBatch<T>(0, Z.cols())).rows(), 0);
}

TYPED_TEST(MonarchTest, BadShapesThrowShapeError) {
  using T = TypeParam;
  // k*q != l*r
  EXPECT_THROW(Monarch<T>(BlockDiagonal<T>(2, 3, 4), BlockDiagonal<T>(4, 2, 2)), ShapeError);
  EXPECT_THROW(Monarch<T>(Shape{2, 3, 4, 4, 2, 2}), ShapeError);
  EXPECT_THROW(Monarch<T>(Shape{0, 3, 4, 3, 2, 0}), ShapeError);
  const auto M = Monarch<T>::random(Shape::square(4), 3);
  EXPECT_THROW(M.apply(random_matrix<T>(2, 15, 1)), ShapeError);                     // wrong columns
  EXPECT_THROW((M * Eigen::Matrix<T, Eigen::Dynamic, 1>::Zero(17).eval()), ShapeError);  // wrong length
  EXPECT_THROW((M.adjoint() * Eigen::Matrix<T, Eigen::Dynamic, 1>::Zero(15).eval()), ShapeError);
  RowBatch<T> out(3, 16);
  EXPECT_THROW(M.apply(random_matrix<T>(2, 16, 1), out), ShapeError);  // output rows differ
  RowBatch<T> out2(2, 15);
  EXPECT_THROW(M.apply(random_matrix<T>(2, 16, 1), out2), ShapeError);  // output columns differ
  RowBatch<T> same = random_matrix<T>(2, 16, 1);
  EXPECT_THROW(M.apply(same, same), ShapeError);  // in place is not allowed
  // Factors of a wrong shape: rejected by set_factors, reported by update and again by the next
  // multiply (the update had already replaced the factor when it threw).
  auto M2 = M;
  EXPECT_THROW(M2.set_factors(BlockDiagonal<T>(4, 5, 4), M.w2()), ShapeError);
  EXPECT_THROW(M2.update([](BlockDiagonal<T>& w1, BlockDiagonal<T>&) { w1 = BlockDiagonal<T>(4, 5, 4); }), ShapeError);
  EXPECT_THROW(M2.apply(random_matrix<T>(1, 16, 1)), ShapeError);
}

TEST(MonarchErrors, MessagesNameExpectedAndGiven) {
  const auto M = Monarch<double>::random(Shape::square(4), 3);
  try {
    M.apply(Eigen::MatrixXd::Zero(2, 15).eval());
    FAIL() << "expected ShapeError";
  } catch (const ShapeError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("15"), std::string::npos) << msg;
    EXPECT_NE(msg.find("16"), std::string::npos) << msg;
  }
  try {
    Monarch<double>(Shape{2, 3, 4, 4, 2, 2});
    FAIL() << "expected ShapeError";
  } catch (const ShapeError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("k*q = 6"), std::string::npos) << msg;
    EXPECT_NE(msg.find("l*r = 8"), std::string::npos) << msg;
  }
}

TEST(MonarchRandom, ReproducibleAndScaled) {
  const Shape sh = Shape::monarch_linear(100, 37, 4);
  const auto A = Monarch<float>::random(sh, 5), B = Monarch<float>::random(sh, 5), C = Monarch<float>::random(sh, 6);
  EXPECT_EQ(A.w1(), B.w1());
  EXPECT_EQ(A.w2(), B.w2());
  EXPECT_NE(A.w1(), C.w1());
  const float b1 = 1.0f / std::sqrt(float(sh.p)), b2 = 1.0f / std::sqrt(float(sh.r));
  EXPECT_LE(Eigen::Map<const Eigen::VectorXf>(A.w1().data(), A.w1().size()).cwiseAbs().maxCoeff(), b1);
  EXPECT_LE(Eigen::Map<const Eigen::VectorXf>(A.w2().data(), A.w2().size()).cwiseAbs().maxCoeff(), b2);
  // Not degenerate: the spread of a uniform(-b, b) sample (std b/sqrt(3)) is visible.
  const auto w = Eigen::Map<const Eigen::VectorXf>(A.w1().data(), A.w1().size());
  EXPECT_NEAR(std::sqrt(w.squaredNorm() / float(w.size())), b1 / std::sqrt(3.0f), 0.05f * b1);
}

TEST(MonarchCounts, ParamsAndFlops) {
  const auto M = Monarch<float>(Shape::monarch_linear(768, 768, 4));
  EXPECT_EQ(M.num_params(), 294912);  // docs/math.md §7
  EXPECT_DOUBLE_EQ(M.flops_per_vector(), 2.0 * 294912);
  EXPECT_DOUBLE_EQ(M.dense_flops_per_vector(), 2.0 * 589824);
  const auto C = Monarch<std::complex<double>>(Shape::monarch_linear(768, 3072, 4));
  EXPECT_EQ(C.num_params(), 737280);
  EXPECT_DOUBLE_EQ(C.flops_per_vector(), 8.0 * 737280);
  EXPECT_EQ(Monarch<double>(Shape::square(64)).num_params(), 2 * 64 * 64 * 64);  // 2 n^{3/2}
}

}  // namespace
}  // namespace monarch::test
