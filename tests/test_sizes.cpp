// Sizes and views at the API entries: every public constructor and entry point given extents whose
// products overflow Index throws ShapeError (never wraps, allocates the wrong size or hangs);
// views with negative extents, null data or spans past the address space are rejected naming the
// argument; the overlap check is exact for strided views (against a brute-force address set).
#include <gtest/gtest.h>

#include <Eigen/Core>
#include <algorithm>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <monarch/block_diagonal.hpp>
#include <monarch/linear.hpp>
#include <monarch/monarch_matrix.hpp>
#include <monarch/permutation.hpp>
#include <monarch/shape.hpp>
#include <monarch/transforms.hpp>
#include <monarch/view.hpp>
#include <monarch/workspace.hpp>

namespace monarch {
namespace {

constexpr Index kMax = std::numeric_limits<Index>::max();

/// Runs `f`, expects a ShapeError whose message contains every one of `parts`.
template <class F>
void expect_shape_error(F&& f, const std::vector<std::string>& parts) {
  try {
    f();
    ADD_FAILURE() << "no ShapeError thrown";
  } catch (const ShapeError& e) {
    for (const auto& part : parts) EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
  }
}

TEST(OverflowingSizes, CheckedProduct) {
  EXPECT_EQ(detail::checked_product("f", 3, 5, 7), 105);
  EXPECT_EQ(detail::checked_product("f", kMax, 1), kMax);
  EXPECT_EQ(detail::checked_product("f", kMax, 0, kMax), 0);
  expect_shape_error([] { detail::checked_product("f", Index(1) << 32, Index(1) << 31); },
                     {"f: ", "4294967296 * 2147483648", "does not fit in Index"});
  expect_shape_error([] { detail::checked_product("f", -2, 3); }, {"-2 * 3"});
  EXPECT_EQ(detail::ceil_div(kMax, 2), Index(1) << 62);
  EXPECT_EQ(detail::ceil_div(kMax, kMax), 1);
}

TEST(OverflowingSizes, ShapeAndFactories) {
  expect_shape_error([] { Shape::square(Index(1) << 31); }, {"Shape::square", "2147483648 * 2147483648 * 2147483648"});
  EXPECT_THROW(Shape::square(3037000500), ShapeError);  // m*m fits, m*m*m does not
  // Each factor fits; their sum, num_params(), does not.
  const Index h = Index(1) << 31;
  EXPECT_THROW((Shape{1, h, h, h, h, 1}.validate()), ShapeError);
  expect_shape_error([] { Shape::monarch_linear(Index(1) << 40, Index(1) << 40, 1); },
                     {"Shape::monarch_linear", "1099511627776"});
  EXPECT_THROW(Shape::monarch_linear(kMax, kMax, 2), ShapeError);
  EXPECT_THROW(Shape::monarch_linear(kMax, 1, kMax), ShapeError);
  EXPECT_THROW(Shape::einsum(4, 4, 2, 2, kMax), ShapeError);
  EXPECT_THROW(Shape::einsum(kMax - 1, kMax - 1, 1, 1), ShapeError);
  EXPECT_THROW(Shape::projection_default(kMax), ShapeError);
}

TEST(OverflowingSizes, BlockDiagonal) {
  const float one = 1.0f;
  expect_shape_error([] { BlockDiagonal<float>(1 << 22, 1 << 21, 1 << 21); },
                     {"BlockDiagonal", "4194304 * 2097152 * 2097152"});
  EXPECT_THROW(BlockDiagonal<float>::from_data(1 << 22, 1 << 21, 1 << 21, &one), ShapeError);
  EXPECT_THROW(BlockDiagonal<double>::identity(Index(1) << 32, Index(1) << 32), ShapeError);
  EXPECT_THROW(BlockDiagonal<double>::random(Index(1) << 32, Index(1) << 32, 1, 7, 1.0), ShapeError);
}

TEST(OverflowingSizes, MonarchAndMonarchLinear) {
  const Shape huge = Shape{Index(1) << 31, Index(1) << 31, Index(1) << 31, Index(1) << 31, Index(1) << 31,
                           Index(1) << 31};
  EXPECT_THROW(Monarch<float>{huge}, ShapeError);
  EXPECT_THROW(Monarch<float>::random(huge, 1), ShapeError);
  expect_shape_error([] { MonarchLinear<float>(Index(1) << 40, Index(1) << 40, 1); }, {"1099511627776"});
  EXPECT_THROW(MonarchLinear<double>(kMax, 8, 2), ShapeError);
}

TEST(OverflowingSizes, PermutationAndTransforms) {
  expect_shape_error([] { Permutation::transpose(Index(1) << 32, Index(1) << 32); },
                     {"Permutation::transpose", "4294967296 * 4294967296"});
  expect_shape_error([] { dft_as_monarch<double>(Index(1) << 32, Index(1) << 32); }, {"dft_as_monarch"});
  expect_shape_error([] { hadamard_as_monarch<float>(Index(1) << 62); }, {"hadamard_as_monarch"});
  // Kronecker factors that exist (stride-0 maps of one value) but whose Monarch does not fit.
  const float one = 1.0f;
  const Eigen::Map<const Eigen::MatrixXf, 0, Eigen::OuterStride<>> A(&one, 1, Index(1) << 40, Eigen::OuterStride<>(0));
  const Eigen::Map<const Eigen::MatrixXf, 0, Eigen::InnerStride<>> B(&one, Index(1) << 24, 1, Eigen::InnerStride<>(0));
  expect_shape_error([&] { kronecker_as_monarch(A, B); }, {"kronecker_as_monarch"});
}

TEST(OverflowingSizes, WorkspaceAndViews) {
  Workspace<float> ws;
  expect_shape_error([&] { ws.reserve(Index(1) << 40, Index(1) << 40); }, {"Workspace::reserve"});
  const auto M = Monarch<float>::random(Shape::square(2), 3);
  std::vector<float> x(4, 1.0f), y(4);
  // Spans past the address space: rows * row_stride overflows, or the bytes do.
  expect_shape_error([&] { M.apply(MatrixView<const float>{x.data(), 2, 4, kMax / 2, 1}, row_major_view(y.data(), 2, 4)); },
                     {"Monarch::apply", "input", "address space"});
  expect_shape_error([&] { M.apply(row_major_view<const float>(x.data(), 1, 4), MatrixView<float>{y.data(), 1, 4, 4, kMax / 8}); },
                     {"Monarch::apply", "output", "address space"});
  EXPECT_THROW(M.adjoint().apply(MatrixView<const float>{x.data(), Index(1) << 62, 4, 4, 1}, row_major_view(y.data(), 1, 4)),
               ShapeError);
  // Several output rows at one address: every row would be written to the same place.
  expect_shape_error([&] { M.apply(row_major_view<const float>(x.data(), 1, 4), MatrixView<float>{y.data(), Index(1) << 62, 4, 0, 1}); },
                     {"output", "alias"});
}

TEST(Views, NegativeExtentsNameTheArgument) {
  const auto M = Monarch<double>::random(Shape::square(2), 3);
  std::vector<double> x(8, 1.0), y(8);
  expect_shape_error([&] { M.apply(MatrixView<const double>{x.data(), -2, 4, 4, 1}, row_major_view(y.data(), 2, 4)); },
                     {"Monarch::apply: input is -2 x 4, expected rows and cols >= 0"});
  expect_shape_error([&] { M.adjoint().apply(row_major_view<const double>(x.data(), 2, 4), MatrixView<double>{y.data(), 2, -4, 4, 1}); },
                     {"Monarch::adjoint().apply: output is 2 x -4"});
}

TEST(Views, NullData) {
  const auto M = Monarch<float>::random(Shape::square(2), 3);
  std::vector<float> y(8);
  EXPECT_THROW(M.apply(MatrixView<const float>{nullptr, 2, 4, 4, 1}, row_major_view(y.data(), 2, 4)), ValueError);
  EXPECT_THROW(M.apply(row_major_view<const float>(y.data(), 2, 4), MatrixView<float>{nullptr, 2, 4, 4, 1}), ValueError);
  // An empty batch may have null data.
  EXPECT_NO_THROW(M.apply(MatrixView<const float>{nullptr, 0, 4, 4, 1}, MatrixView<float>{nullptr, 0, 4, 4, 1}));
}

/// Every element offset of a view that starts `base` elements after the origin, sorted.
std::vector<Index> offsets(Index base, Index rows, Index cols, Index rs, Index cs) {
  std::vector<Index> out;
  for (Index i = 0; i < rows; ++i)
    for (Index j = 0; j < cols; ++j) out.push_back(base + i * rs + j * cs);
  std::sort(out.begin(), out.end());
  return out;
}

/// Whether a shifted by `shift` and b share an offset (brute force over a's offsets).
bool share_an_element(const std::vector<Index>& a, const std::vector<Index>& b, Index shift = 0) {
  return std::any_of(a.begin(), a.end(), [&](Index v) { return std::binary_search(b.begin(), b.end(), v - shift); });
}

/// The documented condition for an exact answer: the lines (along the smaller nonzero stride of
/// a dimension with more than one element) have disjoint address ranges.
bool lines_separated(Index rows, Index cols, Index rs, Index cs) {
  if (rows == 1 || rs == 0) return true;  // one line (or all rows at one address)
  if (cols == 1 || cs == 0) return true;
  const Index r = rs < 0 ? -rs : rs, c = cs < 0 ? -cs : cs;
  return r < c ? (rows - 1) * r < c : (cols - 1) * c < r;
}

/// may_overlap against the brute-force set intersection over a grid of small views: never a
/// false "disjoint", and exact whenever both views' lines are separated.
TEST(Overlap, MatchesBruteForceOnSmallViews) {
  std::vector<float> buf(400);
  const Index origin = 200;
  struct V {
    Index rows, cols, rs, cs;
  };
  std::vector<V> views;
  std::vector<std::vector<Index>> sets;
  for (Index rows = 1; rows <= 3; ++rows)
    for (Index cols = 1; cols <= 3; ++cols)
      for (Index rs = -3; rs <= 4; ++rs)
        for (Index cs = -3; cs <= 4; ++cs) {
          views.push_back({rows, cols, rs, cs});
          sets.push_back(offsets(0, rows, cols, rs, cs));
        }
  long exact = 0, checked = 0;
  for (std::size_t ia = 0; ia < views.size(); ++ia)
    for (std::size_t ib = 0; ib < views.size(); ++ib)
      for (const Index shift : {-7, -1, 0, 1, 2, 5, 9}) {
        const V& a = views[ia];
        const V& b = views[ib];
        const MatrixView<const float> va{buf.data() + origin, a.rows, a.cols, a.rs, a.cs};
        const MatrixView<float> vb{buf.data() + origin + shift, b.rows, b.cols, b.rs, b.cs};
        const bool truth = share_an_element(sets[ia], sets[ib], shift);
        const bool got = detail::may_overlap(va, vb);
        ++checked;
        if (truth) {
          ASSERT_TRUE(got) << "missed a shared element";
        } else if (lines_separated(a.rows, a.cols, a.rs, a.cs) && lines_separated(b.rows, b.cols, b.rs, b.cs)) {
          ++exact;
          ASSERT_FALSE(got) << "disjoint views (" << a.rows << 'x' << a.cols << " strides " << a.rs << ',' << a.cs
                            << ") and (" << b.rows << 'x' << b.cols << " strides " << b.rs << ',' << b.cs
                            << " at +" << shift << ") reported as overlapping";
        }
        EXPECT_EQ(got, detail::may_overlap(vb, va));
      }
  EXPECT_GT(exact, checked / 4);  // the exact branch is exercised, not only the fallback
}

/// Larger views with long strides, as blocks of row- and column-major buffers give them.
TEST(Overlap, MatchesBruteForceOnStridedBlocks) {
  std::vector<double> buf(64 * 64);
  std::mt19937_64 rng(11);
  const auto pick = [&](Index n) { return static_cast<Index>(rng() % static_cast<std::uint64_t>(n)); };
  for (int trial = 0; trial < 3000; ++trial) {
    const Index ld = 8 + pick(40);  // leading dimension of the buffer
    const bool row_major_a = pick(2) == 0, row_major_b = pick(2) == 0;
    const auto block = [&](bool row_major) {
      const Index r = 1 + pick(6), c = 1 + pick(ld - 1), r0 = pick(8), c0 = pick(ld - c + 1);
      return row_major ? MatrixView<double>{buf.data() + r0 * ld + c0, r, c, ld, 1}
                       : MatrixView<double>{buf.data() + r0 * ld + c0, c, r, 1, ld};
    };
    const MatrixView<double> a = block(row_major_a), b = block(row_major_b);
    const bool truth = share_an_element(offsets(a.data - buf.data(), a.rows, a.cols, a.row_stride, a.col_stride),
                                        offsets(b.data - buf.data(), b.rows, b.cols, b.row_stride, b.col_stride));
    ASSERT_EQ(detail::may_overlap(a, b), truth) << "trial " << trial;
  }
}

TEST(Overlap, OneSharedElementIsRejected) {
  // Row-major 3 x 32: the left 16 columns against blocks that reach exactly one column, or one
  // element, into them.
  Eigen::Matrix<float, 3, 32, Eigen::RowMajor> buf;
  const auto left = view(buf.leftCols(16));
  EXPECT_FALSE(detail::may_overlap(left, view(buf.rightCols(16))));
  EXPECT_FALSE(detail::may_overlap(left, view(buf.rightCols(16).transpose())));
  for (Index r = 0; r < 3; ++r) {
    EXPECT_TRUE(detail::may_overlap(left, view(buf.block(r, 15, 1, 17)))) << r;
    EXPECT_TRUE(detail::may_overlap(left, view(buf.block(r, 15, 3 - r, 1)))) << r;
    for (Index c = 0; c < 32; ++c) EXPECT_EQ(detail::may_overlap(left, view(buf.block(r, c, 1, 1))), c < 16);
  }
  // Every other element of a row against the elements in between.
  const MatrixView<const float> even{buf.data(), 3, 16, 32, 2}, odd{buf.data() + 1, 3, 16, 32, 2};
  EXPECT_FALSE(detail::may_overlap(even, odd));
  EXPECT_TRUE(detail::may_overlap(even, MatrixView<const float>{buf.data() + 2 * 32 + 29, 1, 2, 0, 1}));
}

TEST(Overlap, DisjointInterleavedBlocksAreAcceptedAndComputed) {
  const auto M = Monarch<float>::random(Shape::square(4), 5);  // 16 x 16
  Eigen::Matrix<float, 3, 32, Eigen::RowMajor> buf;
  buf.setRandom();
  const Eigen::MatrixXf X = buf.leftCols(16);
  M.apply(buf.leftCols(16), buf.rightCols(16));
  // Reference from the definition M = Pi(l,s) BD(w2) Pi(r,l) BD(w1), not the multiply.
  const Eigen::MatrixXf D = Permutation::transpose(4, 4).to_dense<float>() * M.w2().to_dense() *
                            Permutation::transpose(4, 4).to_dense<float>() * M.w1().to_dense();
  const Eigen::MatrixXf want = X * D.transpose();
  EXPECT_LE((buf.rightCols(16) - want).norm(), 1e-5f * want.norm());
  EXPECT_EQ(Eigen::MatrixXf(buf.leftCols(16)), X);  // the input is untouched
  // The same buffer with one shared column is rejected.
  EXPECT_THROW(M.apply(buf.leftCols(16), buf.middleCols(15, 16)), ShapeError);
}

}  // namespace
}  // namespace monarch
