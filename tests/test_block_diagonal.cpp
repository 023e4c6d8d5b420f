// BlockDiagonal: the authors' (nblocks, rows, cols) row-major layout and BD(w) of docs/math.md §1.2.
#include <cstring>

#include "support/test_support.hpp"

namespace monarch::test {
namespace {

template <class T>
class BlockDiagonalTest : public ::testing::Test {};
TYPED_TEST_SUITE(BlockDiagonalTest, Scalars, ScalarNames);

TYPED_TEST(BlockDiagonalTest, LayoutIsAuthorsRowMajor) {
  using T = TypeParam;
  BlockDiagonal<T> w(3, 4, 5);
  EXPECT_EQ(w.size(), 60);
  EXPECT_EQ(w.rows(), 12);
  EXPECT_EQ(w.cols(), 15);
  for (Index i = 0; i < w.size(); ++i) w.data()[i] = T(real_t<T>(i));
  for (Index t = 0; t < 3; ++t)
    for (Index i = 0; i < 4; ++i)
      for (Index j = 0; j < 5; ++j) {
        EXPECT_EQ(w(t, i, j), T(real_t<T>((t * 4 + i) * 5 + j)));
        EXPECT_EQ(w.block(t)(i, j), w(t, i, j));
      }
  // Loading from a tensor's storage is one memcpy of the same bytes.
  const BlockDiagonal<T> v = BlockDiagonal<T>::from_data(3, 4, 5, w.data());
  EXPECT_EQ(std::memcmp(v.data(), w.data(), sizeof(T) * 60), 0);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(w.data()) % 64, 0u) << "storage is 64-byte aligned";
}

TYPED_TEST(BlockDiagonalTest, DenseAndApplyMatchDefinition) {
  using T = TypeParam;
  const auto w = BlockDiagonal<T>::random(4, 3, 5, 42, 1.0);
  MONARCH_EXPECT_CLOSE(T, w.to_dense(), dense_block_diagonal(w), 1);
  const auto X = random_matrix<T>(6, w.cols(), 1);
  MONARCH_EXPECT_CLOSE(T, w.apply(X), (X.template cast<wider_t<T>>() * dense_block_diagonal(w).transpose()).eval(),
                       w.block_cols());
  MONARCH_EXPECT_CLOSE(T, w.adjoint().to_dense(), dense_block_diagonal(w).adjoint().eval(), 1);
  EXPECT_EQ(BlockDiagonal<T>::identity(3, 4).to_dense(), (Dense<T>::Identity(12, 12)));
}

TYPED_TEST(BlockDiagonalTest, BadInput) {
  using T = TypeParam;
  EXPECT_THROW(BlockDiagonal<T>(0, 3, 3), ShapeError);
  EXPECT_THROW(BlockDiagonal<T>(2, -1, 3), ShapeError);
  const BlockDiagonal<T> w(2, 3, 4);
  EXPECT_THROW(w.block(2), ShapeError);
  EXPECT_THROW(w.block(-1), ShapeError);
  EXPECT_THROW(w.apply(random_matrix<T>(2, 7, 1)), ShapeError);
  EXPECT_THROW(BlockDiagonal<T>::from_data(2, 3, 4, nullptr), ValueError);
}

}  // namespace
}  // namespace monarch::test
