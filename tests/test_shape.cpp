// Shape: extents, validation and the factories that reproduce the authors' shapes (docs/math.md §2.3).
#include <limits>

#include "support/test_support.hpp"

namespace monarch::test {
namespace {

TEST(Shape, RowsColsInnerRank) {
  const Shape sh{8, 192, 96, 24, 16, 64};
  EXPECT_EQ(sh.rows(), 24 * 16);
  EXPECT_EQ(sh.cols(), 8 * 96);
  EXPECT_EQ(sh.inner(), 8 * 192);
  EXPECT_TRUE(sh.is_regular());
  EXPECT_EQ(sh.rank(), 8);
  EXPECT_EQ(sh.num_params(), 8 * 192 * 96 + 24 * 16 * 64);
  const Shape irr{2, 4, 3, 8, 5, 1};
  EXPECT_FALSE(irr.is_regular());
  EXPECT_EQ(irr.rank(), 0);
  EXPECT_NO_THROW(irr.validate());
}

TEST(Shape, ValidateRejectsBadShapes) {
  EXPECT_THROW((Shape{2, 3, 4, 4, 2, 2}.validate()), ShapeError);   // k*q = 6, l*r = 8
  EXPECT_THROW((Shape{0, 3, 4, 3, 2, 0}.validate()), ShapeError);   // zero extents
  EXPECT_THROW((Shape{-2, -3, 4, 3, 2, 2}.validate()), ShapeError);  // negative extents, k*q = l*r
}

TEST(Shape, PaperSquare) {
  EXPECT_EQ(Shape::square(8), (Shape{8, 8, 8, 8, 8, 8}));
  EXPECT_EQ(Shape::square(8).rank(), 1);
  EXPECT_THROW(Shape::square(0), ShapeError);
}

TEST(Shape, MonarchLinearMatchesAuthorsTable) {
  // I = ceil(in/b), O = ceil(out/b); (b,I,I | b,O,I) when b*I < b*O, else (b,O,I | b,O,O).
  EXPECT_EQ(Shape::monarch_linear(768, 768, 4), (Shape{4, 192, 192, 4, 192, 192}));
  EXPECT_EQ(Shape::monarch_linear(768, 3072, 4), (Shape{4, 192, 192, 4, 768, 192}));
  EXPECT_EQ(Shape::monarch_linear(3072, 768, 4), (Shape{4, 192, 768, 4, 192, 192}));
  EXPECT_EQ(Shape::monarch_linear(100, 37, 4), (Shape{4, 10, 25, 4, 10, 10}));
  EXPECT_EQ(Shape::monarch_linear(64, 64, 8), (Shape{8, 8, 8, 8, 8, 8}));
  EXPECT_EQ(Shape::monarch_linear(10, 30, 4), (Shape{4, 3, 3, 4, 8, 3}));
  EXPECT_EQ(Shape::monarch_linear(768, 768, 4).rank(), 48);  // docs/math.md §2.3 example
  EXPECT_THROW(Shape::monarch_linear(768, 768, 0), ShapeError);
}

TEST(Shape, EinsumProjectionShapes) {
  // w1 (K, rho*J, in/K), w2 (J, out/J, K*rho)
  EXPECT_EQ(Shape::einsum(24, 16, 4, 6), (Shape{4, 6, 4, 6, 4, 4}));
  EXPECT_EQ(Shape::einsum(768, 768, 4, 4, 48), (Shape{4, 192, 192, 4, 192, 192}));
  EXPECT_EQ(Shape::einsum(24, 16, 4, 6).rank(), 1);
  EXPECT_THROW(Shape::einsum(24, 16, 3, 6), ShapeError);  // 3 does not divide 16
  EXPECT_THROW(Shape::einsum(24, 16, 4, 5), ShapeError);  // 5 does not divide 24
}

TEST(Shape, ProjectionDefaultPicksAuthorsSizes) {
  // sizes = (n/i, i), i the largest divisor of n with i <= sqrt(n): w1 (n/i, i, i), w2 (i, n/i, n/i).
  EXPECT_EQ(Shape::projection_default(16), Shape::square(4));
  EXPECT_EQ(Shape::projection_default(48), (Shape{8, 6, 6, 6, 8, 8}));
  EXPECT_EQ(Shape::projection_default(15), (Shape{5, 3, 3, 3, 5, 5}));
  EXPECT_EQ(Shape::projection_default(13), (Shape{13, 1, 1, 1, 13, 13}));  // prime: i = 1
  for (Index n : {36, 85, 168, 1024}) {
    const Shape sh = Shape::projection_default(n);
    EXPECT_EQ(sh.rows(), n);
    EXPECT_EQ(sh.cols(), n);
    EXPECT_EQ(sh.rank(), 1);
    EXPECT_GE(sh.k, sh.l);
  }
}

TEST(Shape, ProjectionDefaultAtTheTopOfIndex) {
  // The largest n whose n x n matrix has an Index size, and the largest square below it: the
  // integer square root and the divisor search must not overflow there.
  EXPECT_EQ(Shape::projection_default(3037000499), (Shape{233615423, 13, 13, 13, 233615423, 233615423}));
  EXPECT_EQ(Shape::projection_default(Index(55108) * 55108), Shape::square(55108));
  EXPECT_THROW(Shape::projection_default(3037000500), ShapeError);  // n*n overflows
  EXPECT_THROW(Shape::projection_default(std::numeric_limits<Index>::max()), ShapeError);
}

TEST(Shape, MonarchLinearPaddingAtTheTopOfIndex) {
  // ceil(in / b) without in + b - 1: the block sizes are exact up to the largest Index.
  const Index top = std::numeric_limits<Index>::max();
  EXPECT_EQ(Shape::monarch_linear(top - 7, 4, 4), (Shape{4, 1, (Index(1) << 61) - 2, 4, 1, 1}));
  EXPECT_THROW(Shape::monarch_linear(top, 1, top), ShapeError);  // parameters top + top
  EXPECT_THROW(Shape::monarch_linear(top, top, 2), ShapeError);
}

}  // namespace
}  // namespace monarch::test
