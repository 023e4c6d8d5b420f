// Permutation: the index convention (P v)[i] = v[perm[i]], Pi(a,b) from docs/math.md §1.1, inverse,
// composition and batch application, all against dense matrices.
#include "support/test_support.hpp"

namespace monarch::test {
namespace {

TEST(Permutation, TransposeMatchesDefinition) {
  for (auto [a, b] : {std::pair<Index, Index>{3, 5}, {4, 4}, {1, 7}, {6, 1}, {8, 2}}) {
    SCOPED_TRACE(testing::Message() << a << "x" << b);
    const Permutation P = Permutation::transpose(a, b);
    ASSERT_EQ(P.size(), a * b);
    EXPECT_EQ(P.to_dense<double>(), dense_transpose_permutation<double>(a, b));
    // As a reshape-transpose: view v as a x b row-major, transpose, flatten.
    Eigen::VectorXd v = Eigen::VectorXd::LinSpaced(a * b, 0, double(a * b - 1));
    Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> Vt =
        Eigen::Map<Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(v.data(), a, b).transpose();
    EXPECT_EQ(P.apply(v), Eigen::Map<Eigen::VectorXd>(Vt.data(), a * b));
  }
}

TEST(Permutation, InverseOfTransposeSwapsArguments) {
  for (auto [a, b] : {std::pair<Index, Index>{3, 5}, {4, 4}, {2, 9}}) {
    EXPECT_EQ(Permutation::transpose(a, b).inverse(), Permutation::transpose(b, a));
    EXPECT_EQ(Permutation::transpose(a, b) * Permutation::transpose(b, a), Permutation::identity(a * b));
  }
  // An involution exactly when a == b (or a side is 1).
  EXPECT_EQ(Permutation::transpose(4, 4) * Permutation::transpose(4, 4), Permutation::identity(16));
  EXPECT_NE(Permutation::transpose(3, 5) * Permutation::transpose(3, 5), Permutation::identity(15));
  EXPECT_EQ(Permutation::transpose(1, 7), Permutation::identity(7));
}

TEST(Permutation, CompositionIsMatrixProduct) {
  const Permutation P({2, 0, 3, 1, 4}), Q({4, 3, 2, 1, 0});
  EXPECT_EQ((P * Q).to_dense<double>(), P.to_dense<double>() * Q.to_dense<double>());
  EXPECT_EQ(P.inverse().to_dense<double>(), P.to_dense<double>().transpose());
  const Eigen::VectorXd v = Eigen::VectorXd::Random(5);
  EXPECT_EQ((P * Q).apply(v), P.apply(Q.apply(v)));
  EXPECT_EQ(P.apply(v), P.to_dense<double>() * v);
}

TEST(Permutation, RowsAndColumnsOfABatch) {
  const Permutation P = Permutation::transpose(2, 3);
  const Eigen::MatrixXd X = Eigen::MatrixXd::Random(6, 4);
  EXPECT_EQ(P.permute_rows(X), P.to_dense<double>() * X);
  const Eigen::MatrixXd B = Eigen::MatrixXd::Random(4, 6);  // 4 vectors as rows
  EXPECT_EQ(P.permute_cols(B), B * P.to_dense<double>().transpose());
  for (Index i = 0; i < 4; ++i) EXPECT_EQ(P.permute_cols(B).row(i).transpose(), P.apply(B.row(i).transpose()));
}

TEST(Permutation, BadInput) {
  EXPECT_THROW(Permutation({0, 0, 1}), ValueError);
  EXPECT_THROW(Permutation({0, 3, 1}), ValueError);
  EXPECT_THROW(Permutation({-1, 0}), ValueError);
  EXPECT_THROW(Permutation::transpose(0, 3), ShapeError);
  const Permutation P({1, 0, 2});
  EXPECT_THROW(P.apply(Eigen::VectorXd::Zero(4)), ShapeError);
  EXPECT_THROW(P.permute_rows(Eigen::MatrixXd::Zero(4, 2)), ShapeError);
  EXPECT_THROW(P.permute_cols(Eigen::MatrixXd::Zero(2, 4)), ShapeError);
  EXPECT_THROW(P * Permutation::identity(4), ShapeError);
  try {
    Permutation({0, 0, 1});
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("repeated"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace monarch::test
