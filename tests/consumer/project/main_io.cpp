// A downstream program using the optional checkpoint I/O: an in-memory .npy round trip.
#include <monarch/io.hpp>

#include <cstdio>

int main() {
  const Eigen::MatrixXf m = Eigen::MatrixXf::Random(3, 4);
  const auto bytes = monarch::io::write_npy_buffer(monarch::io::from_matrix(m));
  const auto back = monarch::io::to_matrix<float>(monarch::io::read_npy_buffer(bytes.data(), bytes.size()));
  std::printf("consumer_io: round trip %s\n", back == m ? "exact" : "DIFFERS");
  return back == m ? 0 : 1;
}
