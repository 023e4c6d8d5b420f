// examples/monarch_linear_cli end to end: layers written by this test (as a directory of .npy
// files or a .safetensors file) run by the CLI on .npy inputs, checked against the layer's dense
// definition (zero-pad, dense M from the channel expansion, keep the first out_features, add bias).
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <fstream>
#include <iterator>
#include <filesystem>
#include <string>

#include <monarch/io.hpp>
#include <monarch/linear.hpp>

#include "support/test_support.hpp"

#ifndef MONARCH_CLI
#error "MONARCH_CLI must name the monarch_linear_cli executable"
#endif

namespace monarch::test {
namespace {

namespace fs = std::filesystem;

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("monarch_cli_test_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  /// Runs the CLI with `args`; returns its exit status.
  int run(const std::string& args) const {
    const std::string cmd = std::string(MONARCH_CLI) + " " + args + " > " + (dir_ / "log.txt").string() + " 2>&1";
    const int status = std::system(cmd.c_str());
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  std::string log() const {
    std::ifstream in(dir_ / "log.txt");
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  /// Saves the layer's weights as a directory of .npy files.
  template <class T>
  void save_npy_directory(const MonarchLinear<T>& layer, const std::string& name) const {
    io::save_monarch_linear_weights(path(name),
                                    io::MonarchLinearWeights<T>{layer.blkdiag1(), layer.blkdiag2(), layer.bias()},
                                    io::CheckpointFormat::npy_directory);
  }

  /// Saves a random layer, runs the CLI on a random input of shape `lead` x in, and compares.
  template <class T>
  void round_trip(Index in, Index out, Index nblocks, bool bias, io::CheckpointFormat format,
                  const std::string& prefix, std::vector<Index> lead) {
    const MonarchLinear<T> layer(in, out, nblocks, bias, 99);
    const std::string weights = path(format == io::CheckpointFormat::safetensors ? "w.safetensors" : "w_dir");
    io::save_monarch_linear_weights(weights, io::MonarchLinearWeights<T>{layer.blkdiag1(), layer.blkdiag2(), layer.bias()},
                                    format, prefix);
    Index batch = 1;
    for (Index d : lead) batch *= d;
    const RowBatch<T> X = random_matrix<T>(batch, in, 5);
    io::Tensor input = io::from_matrix(X, "input");
    input.shape = lead;
    input.shape.push_back(in);
    io::write_npy(path("x.npy"), input);

    std::string args = weights + " " + path("x.npy") + " " + path("y.npy");
    if (!prefix.empty()) args += " --prefix " + prefix;
    if (!bias) args += " --out-features " + std::to_string(out);
    ASSERT_EQ(run(args), 0) << log();

    const io::Tensor y = io::read_npy(path("y.npy"));
    std::vector<Index> want_shape = lead;
    want_shape.push_back(out);
    EXPECT_EQ(y.shape, want_shape);
    EXPECT_EQ(y.dtype, io::dtype_of<T>());
    const std::vector<T> got = io::values<T>(y);
    const Eigen::Map<const RowBatch<T>> Y(got.data(), batch, out);

    using W = wider_t<T>;
    const Dense<W> M = dense_from_channels(layer.blkdiag1(), layer.blkdiag2());
    Dense<W> Xpad = Dense<W>::Zero(batch, M.cols());
    Xpad.leftCols(in) = X.template cast<W>();
    Dense<W> want = (Xpad * M.transpose()).leftCols(out);
    if (bias) want.rowwise() += layer.bias()->template cast<W>().transpose();
    MONARCH_EXPECT_CLOSE(T, Y, want, accumulation_length(layer.shape()));
  }

  fs::path dir_;
};

TEST_F(CliTest, NpyDirectoryFloat32WithBias) {
  round_trip<float>(100, 37, 4, true, io::CheckpointFormat::npy_directory, "", {5});
}

TEST_F(CliTest, SafetensorsFloat64WithoutBias) {
  round_trip<double>(64, 64, 8, false, io::CheckpointFormat::safetensors, "", {3});
}

TEST_F(CliTest, SafetensorsWithPrefixAndLeadingDimensions) {
  round_trip<float>(10, 30, 4, true, io::CheckpointFormat::safetensors, "layers.0.mlp.", {2, 3});
}

TEST_F(CliTest, RejectsBadInvocationsAndInputs) {
  EXPECT_EQ(run(""), 2) << log();
  EXPECT_EQ(run("a b"), 2) << log();
  EXPECT_EQ(run("a b c --out-features x"), 2) << log();

  const MonarchLinear<float> layer(64, 32, 4, true, 1);
  save_npy_directory(layer, "w");
  // Missing weights.
  io::write_npy(path("x.npy"), io::from_matrix(random_matrix<float>(2, 64, 1)));
  EXPECT_EQ(run(path("nowhere") + " " + path("x.npy") + " " + path("y.npy")), 1);
  EXPECT_NE(log().find("nowhere"), std::string::npos) << log();
  // An input whose width does not fit the factors.
  io::write_npy(path("x.npy"), io::from_matrix(random_matrix<float>(2, 70, 1)));
  EXPECT_EQ(run(path("w") + " " + path("x.npy") + " " + path("y.npy")), 1);
  EXPECT_NE(log().find("blkdiag"), std::string::npos) << log();
  // A complex input.
  io::write_npy(path("x.npy"), io::from_matrix(random_matrix<std::complex<float>>(2, 64, 1)));
  EXPECT_EQ(run(path("w") + " " + path("x.npy") + " " + path("y.npy")), 1);
  EXPECT_NE(log().find("float32 or float64"), std::string::npos) << log();
  // A truncated input file.
  const auto bytes = io::write_npy_buffer(io::from_matrix(random_matrix<float>(2, 64, 1)));
  std::ofstream(path("t.npy"), std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), 40);
  EXPECT_EQ(run(path("w") + " " + path("t.npy") + " " + path("y.npy")), 1);
  EXPECT_NE(log().find("t.npy"), std::string::npos) << log();
}

TEST_F(CliTest, FeatureCountsAreValidatedBeforeAllocating) {
  const MonarchLinear<float> layer(64, 32, 4, true, 1);
  save_npy_directory(layer, "w");
  const std::string w = path("w") + " ", x = path("x.npy") + " ", y = path("y.npy");
  // A 128-byte file: no samples of 2^40 features. The factors do not fit, so nothing is allocated.
  io::write_npy(path("x.npy"), io::Tensor::from_values<float>({0, Index(1) << 40}, nullptr, "x"));
  EXPECT_EQ(run(w + x + y), 1) << log();
  EXPECT_NE(log().find("in_features = 1099511627776"), std::string::npos) << log();
  // A width beyond any layer is refused before the layer's shape is even computed.
  io::write_npy(path("x.npy"), io::Tensor::from_values<float>({0, Index(1) << 62}, nullptr, "x"));
  EXPECT_EQ(run(w + x + y), 1) << log();
  EXPECT_NE(log().find("in_features"), std::string::npos) << log();
  EXPECT_FALSE(fs::exists(path("y.npy")));

  // --out-features must be the whole string, in range, positive and at most 2^40.
  io::write_npy(path("x.npy"), io::from_matrix(random_matrix<float>(2, 64, 1)));
  for (const char* bad : {"99999999999999999999", "9223372036854775807", "1099511627777", "0", "-3", "+5", "' 5'",
                          "5x", "''"}) {
    EXPECT_EQ(run(w + x + y + " --out-features " + bad), 2) << bad << ": " << log();
    EXPECT_NE(log().find("--out-features"), std::string::npos) << log();
  }
  // A well-formed count the factors cannot produce is a clear error, not an allocation.
  EXPECT_EQ(run(w + x + y + " --out-features 1099511627776"), 1) << log();
  EXPECT_NE(log().find("out_features = 1099511627776"), std::string::npos) << log();
  EXPECT_EQ(run(w + x + y + " --out-features 32"), 0) << log();  // the bias length
}

TEST_F(CliTest, CheckFiniteRejectsNonFiniteInputsAndSaysWhere) {
  const MonarchLinear<double> layer(16, 8, 4, false, 2);
  save_npy_directory(layer, "w");
  RowBatch<double> X = random_matrix<double>(3, 16, 3);
  X(2, 5) = std::numeric_limits<double>::quiet_NaN();
  io::write_npy(path("x.npy"), io::from_matrix(X, "x"));
  const std::string args = path("w") + " " + path("x.npy") + " " + path("y.npy");
  // Without the option NaN propagates (the documented default).
  ASSERT_EQ(run(args), 0) << log();
  const std::vector<double> y = io::values<double>(io::read_npy(path("y.npy")));
  EXPECT_TRUE(std::any_of(y.begin() + 16, y.end(), [](double v) { return std::isnan(v); }));
  fs::remove(path("y.npy"));
  EXPECT_EQ(run(args + " --check-finite"), 1) << log();
  EXPECT_NE(log().find("non-finite"), std::string::npos) << log();
  EXPECT_NE(log().find("flat index 37"), std::string::npos) << log();  // row 2, column 5 of 16
  EXPECT_FALSE(fs::exists(path("y.npy")));
  X(2, 5) = -std::numeric_limits<double>::infinity();
  io::write_npy(path("x.npy"), io::from_matrix(X, "x"));
  EXPECT_EQ(run("--check-finite " + args), 1) << log();
  EXPECT_NE(log().find("-inf"), std::string::npos) << log();
  X(2, 5) = 1;
  io::write_npy(path("x.npy"), io::from_matrix(X, "x"));
  EXPECT_EQ(run(args + " --check-finite"), 0) << log();
}

}  // namespace
}  // namespace monarch::test
