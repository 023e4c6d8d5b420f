// Compiled by count_errors.cmake once per CASE, each expected to fail with exactly one error: the
// library's static_assert, with no follow-up errors from the instantiation behind it.
#include <monarch/monarch_matrix.hpp>

int main() {
  const auto M = monarch::Monarch<float>::random(monarch::Shape::square(4), 1);
  Eigen::MatrixXf X = Eigen::MatrixXf::Random(3, 16), Y(3, 16);
  Eigen::VectorXf v = Eigen::VectorXf::Random(16);
#if CASE == 1
  const auto Z = M.apply(X * 2.0f);  // an expression as the input
  (void)Z;
#elif CASE == 2
  M.apply(X * 2.0f, Y);
#elif CASE == 3
  M.apply(X, Y * 2.0f);  // an expression as the output
#elif CASE == 4
  M.apply(X, Eigen::Map<const Eigen::MatrixXf>(Y.data(), 3, 16));  // a read-only output
#elif CASE == 5
  const Eigen::VectorXf y = M * (v * 2.0f);
  (void)y;
#elif CASE == 6
  const auto W = M.adjoint().apply(X * 2.0f);
  (void)W;
#endif
  (void)v;
  return 0;
}
