// MonarchLinear checkpoints: the state_dict tensors blkdiag1 (k,q,p), blkdiag2 (l,s,r) and bias
// as a directory of .npy files or one .safetensors file (docs/math.md §2.3 shapes).
#include <monarch/io.hpp>

#include <cerrno>
#include <complex>
#include <limits>

// Replaces operator new in this executable, to count what loading one layer of a file allocates.
#include "support/counting_new.hpp"
#include "support/io_support.hpp"
#include "support/test_support.hpp"

namespace monarch::test {
namespace {

namespace io = monarch::io;

/// The weights of the authors' MonarchLinear(in, out, nblocks), random, with or without bias.
template <class T>
io::MonarchLinearWeights<T> random_weights(Index in, Index out, Index nblocks, bool bias, std::uint64_t seed) {
  const Shape sh = Shape::monarch_linear(in, out, nblocks);
  io::MonarchLinearWeights<T> w{BlockDiagonal<T>::random(sh.k, sh.q, sh.p, seed, 1.0),
                                BlockDiagonal<T>::random(sh.l, sh.s, sh.r, seed + 1, 1.0), {}};
  if (bias) w.bias = random_matrix<T>(out, 1, seed + 2).col(0);
  return w;
}

template <class T>
void expect_same(const io::MonarchLinearWeights<T>& a, const io::MonarchLinearWeights<T>& b) {
  EXPECT_EQ(a.blkdiag1, b.blkdiag1);
  EXPECT_EQ(a.blkdiag2, b.blkdiag2);
  ASSERT_EQ(a.bias.has_value(), b.bias.has_value());
  if (a.bias) {
    EXPECT_EQ(*a.bias, *b.bias);
  }
}

template <class T>
class CheckpointTyped : public ::testing::Test {};
TYPED_TEST_SUITE(CheckpointTyped, Scalars, );

TYPED_TEST(CheckpointTyped, RoundTripIsExact) {
  using T = TypeParam;
  ScratchDir dir("ckpt_rt");
  for (const bool bias : {true, false}) {
    SCOPED_TRACE(bias);
    // in < out and in >= out use different factor shapes (docs/math.md §2.3 table); 100 -> 37 pads.
    for (const auto& w : {random_weights<T>(64, 96, 4, bias, 1), random_weights<T>(100, 37, 4, bias, 2)}) {
      const std::string npy_dir = dir.file(bias ? "npy_b" : "npy");
      io::save_monarch_linear_weights(npy_dir, w, io::CheckpointFormat::npy_directory);
      expect_same(io::load_monarch_linear_weights<T>(npy_dir), w);
      EXPECT_EQ(io::read_npy(npy_dir + "/blkdiag1.npy").shape, (std::vector<Index>{w.blkdiag1.nblocks(), w.blkdiag1.block_rows(), w.blkdiag1.block_cols()}));
      if (!std::is_same_v<T, std::complex<double>>) {  // safetensors has no complex128
        const std::string st = dir.file("w.safetensors");
        io::save_monarch_linear_weights(st, w, io::CheckpointFormat::safetensors, "layers.0.");
        io::LoadOptions opt;
        opt.prefix = "layers.0.";
        opt.check_finite = true;
        opt.expected_shape = w.shape();
        expect_same(io::load_monarch_linear_weights<T>(st, opt), w);
        EXPECT_TRUE(io::read_safetensors(st).contains("layers.0.blkdiag2"));
      }
    }
  }
}

TEST(Checkpoint, ConvertsDtypes) {
  ScratchDir dir("ckpt_dtype");
  const auto w = random_weights<double>(32, 48, 4, true, 5);
  // A float64 checkpoint into float rounds each value to nearest; into complex: zero imaginary.
  io::save_monarch_linear_weights(dir.file("d"), w, io::CheckpointFormat::npy_directory);
  const auto f = io::load_monarch_linear_weights<float>(dir.file("d"));
  for (Index i = 0; i < w.blkdiag2.size(); ++i) EXPECT_EQ(f.blkdiag2.data()[i], static_cast<float>(w.blkdiag2.data()[i]));
  EXPECT_EQ(*f.bias, w.bias->cast<float>());
  const auto z = io::load_monarch_linear_weights<std::complex<double>>(dir.file("d"));
  for (Index i = 0; i < w.blkdiag1.size(); ++i) EXPECT_EQ(z.blkdiag1.data()[i], std::complex<double>(w.blkdiag1.data()[i], 0));
  // Complex weights do not load into a real layer.
  io::save_monarch_linear_weights(dir.file("c"), z, io::CheckpointFormat::npy_directory);
  expect_error<io::FormatError>([&] { io::load_monarch_linear_weights<double>(dir.file("c")); },
                                {"blkdiag1", "complex128", "real scalar"});
  // A BF16 safetensors checkpoint (as saved under autocast) loads as float, decoded exactly.
  std::vector<std::uint16_t> w1(2 * 2 * 2), w2(2 * 2 * 2);
  for (std::size_t i = 0; i < w1.size(); ++i) {
    w1[i] = static_cast<std::uint16_t>(0x3f80 + 3 * i);
    w2[i] = static_cast<std::uint16_t>(0xbf00 + 5 * i);
  }
  Bytes buffer = raw_bytes(w1);
  const Bytes b2 = raw_bytes(w2);
  buffer.insert(buffer.end(), b2.begin(), b2.end());
  write_bytes(dir.file("bf.safetensors"),
              safetensors_image(R"({"blkdiag1":{"dtype":"BF16","shape":[2,2,2],"data_offsets":[0,16]},)"
                                R"("blkdiag2":{"dtype":"BF16","shape":[2,2,2],"data_offsets":[16,32]}})",
                                buffer));
  const auto bf = io::load_monarch_linear_weights<float>(dir.file("bf.safetensors"));
  EXPECT_FALSE(bf.bias.has_value());
  for (std::size_t i = 0; i < w1.size(); ++i) {
    EXPECT_EQ(bf.blkdiag1.data()[i], reference_bfloat16(w1[i]));
    EXPECT_EQ(bf.blkdiag2.data()[i], reference_bfloat16(w2[i]));
  }
}

TEST(Checkpoint, ShapeMismatchesAreShapeErrors) {
  ScratchDir dir("ckpt_shape");
  const auto good = random_weights<float>(64, 64, 4, true, 3);  // w1 (4,16,16), w2 (4,16,16)
  const auto save_dir = [&](const std::string& name, const io::Tensor& b1, const io::Tensor& b2, const io::Tensor* bias) {
    const std::string d = dir.file(name);
    std::filesystem::create_directories(d);
    io::write_npy(d + "/blkdiag1.npy", b1);
    io::write_npy(d + "/blkdiag2.npy", b2);
    if (bias) io::write_npy(d + "/bias.npy", *bias);
    return d;
  };
  const io::Tensor b1 = io::from_block_diagonal(good.blkdiag1), b2 = io::from_block_diagonal(good.blkdiag2);
  const io::Tensor bias = io::from_vector(*good.bias);
  // Factor not 3-D.
  const io::Tensor flat = io::from_matrix(random_matrix<float>(4, 256, 1));
  std::string d = save_dir("flat", flat, b2, &bias);
  expect_error<ShapeError>([&] { io::load_monarch_linear_weights<float>(d); }, {d + "/blkdiag1.npy", "'blkdiag1'", "expected a 3-D", "(4, 256)"});
  // k*q != l*r.
  const io::Tensor b2_bad = io::from_block_diagonal(BlockDiagonal<float>(4, 16, 8));
  d = save_dir("kq", b1, b2_bad, &bias);
  expect_error<ShapeError>([&] { io::load_monarch_linear_weights<float>(d); }, {d, "blkdiag1/blkdiag2", "k*q must equal l*r", "64", "32"});
  // Zero extent.
  const std::vector<float> none;
  const io::Tensor empty = io::Tensor::from_values<float>({4, 0, 16}, none.data());
  d = save_dir("zero", empty, b2, nullptr);
  expect_error<ShapeError>([&] { io::load_monarch_linear_weights<float>(d); }, {"'blkdiag1'", "positive", "(4, 0, 16)"});
  // Bias not 1-D, or longer than l*s.
  d = save_dir("bias2d", b1, b2, &flat);
  expect_error<ShapeError>([&] { io::load_monarch_linear_weights<float>(d); }, {"'bias'", "expected a 1-D"});
  const io::Tensor long_bias = io::from_vector(random_matrix<float>(65, 1, 1).col(0).eval());
  d = save_dir("biaslong", b1, b2, &long_bias);
  expect_error<ShapeError>([&] { io::load_monarch_linear_weights<float>(d); }, {"'bias'", "length 65", "l*s = 64"});
  // Not the layer's shape.
  d = save_dir("ok", b1, b2, &bias);
  io::LoadOptions opt;
  opt.expected_shape = Shape::monarch_linear(64, 64, 8);
  expect_error<ShapeError>([&] { io::load_monarch_linear_weights<float>(d, opt); }, {d, "do not match", "(k,q,p | l,s,r) = (8,8,8"});
  opt.expected_shape = Shape::monarch_linear(64, 64, 4);
  opt.expected_out_features = 60;
  expect_error<ShapeError>([&] { io::load_monarch_linear_weights<float>(d, opt); }, {"'bias'", "length 64", "out_features = 60"});
  opt.expected_out_features = 64;
  expect_same(io::load_monarch_linear_weights<float>(d, opt), good);
}

TEST(Checkpoint, NonFiniteWeightsOnRequest) {
  ScratchDir dir("ckpt_nan");
  auto w = random_weights<double>(16, 16, 4, true, 8);
  w.blkdiag2(1, 2, 3) = std::numeric_limits<double>::quiet_NaN();
  const std::string st = dir.file("nan.safetensors");
  io::save_monarch_linear_weights(st, w, io::CheckpointFormat::safetensors);
  EXPECT_TRUE(std::isnan(io::load_monarch_linear_weights<double>(st).blkdiag2(1, 2, 3))) << "loads unless asked";
  io::LoadOptions opt;
  opt.check_finite = true;
  // Flat index of (1,2,3) in (4,4,4) is (1*4 + 2)*4 + 3 = 27.
  expect_error<ValueError>([&] { io::load_monarch_linear_weights<double>(st, opt); }, {st, "'blkdiag2'", "non-finite", "flat index 27"});
  w.blkdiag2(1, 2, 3) = 0;
  (*w.bias)(5) = -std::numeric_limits<double>::infinity();
  io::save_monarch_linear_weights(dir.file("inf"), w, io::CheckpointFormat::npy_directory);
  expect_error<ValueError>([&] { io::load_monarch_linear_weights<double>(dir.file("inf"), opt); }, {"bias.npy", "'bias'", "-inf", "flat index 5"});
}

TEST(Checkpoint, MissingFilesAndTensors) {
  ScratchDir dir("ckpt_missing");
  const auto w = random_weights<float>(16, 16, 4, true, 4);
  io::save_monarch_linear_weights(dir.file("d"), w, io::CheckpointFormat::npy_directory);
  std::filesystem::remove(dir.file("d") + "/blkdiag2.npy");
  expect_error<io::FormatError>([&] { io::load_monarch_linear_weights<float>(dir.file("d")); }, {"'blkdiag2'", "missing file", "blkdiag2.npy"});
  expect_error<io::FormatError>([&] { io::load_monarch_linear_weights<float>(dir.file("nothing")); },
                                {dir.file("nothing"), errno_text(ENOENT)});
  write_bytes(dir.file("plain"), Bytes(8, 0));
  expect_error<io::FormatError>([&] { io::load_monarch_linear_weights<float>(dir.file("plain") + "/layer"); },
                                {"plain/layer", errno_text(ENOTDIR)});
  // A prefixed state_dict needs its prefix; the error lists what the file holds.
  const std::string st = dir.file("model.safetensors");
  io::save_monarch_linear_weights(st, w, io::CheckpointFormat::safetensors, "mlp.fc1.");
  expect_error<io::FormatError>([&] { io::load_monarch_linear_weights<float>(st); }, {st, "'blkdiag1'", "no such tensor", "'mlp.fc1.blkdiag1'"});
  io::LoadOptions opt;
  opt.prefix = "mlp.fc1.";
  expect_same(io::load_monarch_linear_weights<float>(st, opt), w);
  // A truncated file is a FormatError naming it, never a crash.
  Bytes bytes;
  {
    std::ifstream in(st, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  bytes.resize(bytes.size() - 1);
  write_bytes(st, bytes);
  expect_error<io::FormatError>([&] { io::load_monarch_linear_weights<float>(st, opt); }, {st});
}

TEST(Checkpoint, PrefixLoadsOnlyThatLayersBytes) {
  // One small layer next to an 8 MiB tensor of another layer: loading the layer by its prefix
  // reads the header and the layer's own tensors, not the other tensor's bytes.
  ScratchDir dir("ckpt_prefix");
  const auto w = random_weights<float>(16, 16, 4, true, 12);
  std::map<std::string, io::Tensor> tensors;
  tensors.emplace("layers.0.blkdiag1", io::from_block_diagonal(w.blkdiag1));
  tensors.emplace("layers.0.blkdiag2", io::from_block_diagonal(w.blkdiag2));
  tensors.emplace("layers.0.bias", io::from_vector(*w.bias));
  constexpr std::size_t kBig = std::size_t(8) << 20;
  const std::vector<float> big(kBig / sizeof(float), 1.0f);
  tensors.emplace("layers.1.big", io::Tensor::from_values<float>({static_cast<Index>(big.size())}, big.data()));
  const std::string st = dir.file("model.safetensors");
  io::write_safetensors(st, tensors);
  io::LoadOptions opt;
  opt.prefix = "layers.0.";
  const std::size_t before = g_bytes_requested.load();
  const io::MonarchLinearWeights<float> loaded = io::load_monarch_linear_weights<float>(st, opt);
  const std::size_t requested = g_bytes_requested.load() - before;
  EXPECT_LT(requested, kBig / 8) << "bytes allocated while loading one small layer";
  expect_same(loaded, w);
}

}  // namespace
}  // namespace monarch::test
