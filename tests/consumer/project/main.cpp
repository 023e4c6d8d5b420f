// A downstream program: builds a Monarch, multiplies, and checks against its dense form.
#include <monarch/monarch.hpp>

#include <cstdio>

int main() {
  const auto M = monarch::Monarch<double>::random(monarch::Shape::square(4), 7);
  const Eigen::MatrixXd X = Eigen::MatrixXd::Random(5, M.cols());
  const Eigen::MatrixXd err = M.apply(X) - X * M.to_dense().transpose();
  std::printf("consumer: max abs error %.3g\n", err.cwiseAbs().maxCoeff());
  return err.cwiseAbs().maxCoeff() < 1e-12 ? 0 : 1;
}
