#include <monarch/monarch.hpp>
#include <iostream>

int main() {
  // The paper's square Monarch for n = 1024 (32 blocks of 32); w1 = R-side, w2 = L-side.
  const monarch::Shape shape = monarch::Shape::square(32);
  const auto M = monarch::Monarch<float>::random(shape, /*seed=*/42);

  // A batch of 8 vectors as rows (PyTorch layout): row b of Y is M x_b.
  const Eigen::MatrixXf X = Eigen::MatrixXf::Random(8, M.cols());
  const auto Y = M.apply(X);

  const Eigen::MatrixXf D = M.to_dense();  // the 1024 x 1024 matrix M represents
  std::cout << "max |Y - X Dᵀ| = " << (Y - X * D.transpose()).cwiseAbs().maxCoeff() << "\n";
}
