// .npy reading and writing: bit-exact round trips, hand-built images of format versions 1.0,
// 2.0 and 3.0 (the independent reference), fortran_order, float16, and every bad-input case.
#include <monarch/io.hpp>

#include <cerrno>
#include <cmath>
#include <complex>
#include <filesystem>
#include <iterator>
#include <limits>

#include "support/io_support.hpp"
#include "support/test_support.hpp"

namespace monarch::test {
namespace {

namespace io = monarch::io;

template <class T>
class NpyTyped : public ::testing::Test {};
TYPED_TEST_SUITE(NpyTyped, Scalars, );

/// Random values plus the special ones a bit-exact format must keep: -0, +-Inf, NaN, the
/// smallest subnormal, the largest finite value.
template <class T>
RowBatch<T> special_matrix(Index rows, Index cols) {
  using R = real_t<T>;
  RowBatch<T> m = random_matrix<T>(rows, cols, 11);
  const R specials[] = {R(-0.0), std::numeric_limits<R>::infinity(), -std::numeric_limits<R>::infinity(),
                        std::numeric_limits<R>::quiet_NaN(), std::numeric_limits<R>::denorm_min(),
                        std::numeric_limits<R>::max()};
  for (int i = 0; i < 6; ++i) m(i % rows, i) = T(specials[i]);
  return m;
}

TYPED_TEST(NpyTyped, RoundTripIsBitExact) {
  using T = TypeParam;
  ScratchDir dir("npy_rt");
  const RowBatch<T> m = special_matrix<T>(5, 7);
  io::write_npy(dir.file("m.npy"), io::from_matrix(m));
  const io::Tensor t = io::read_npy(dir.file("m.npy"));
  EXPECT_EQ(t.dtype, io::dtype_of<T>());
  EXPECT_EQ(t.shape, (std::vector<Index>{5, 7}));
  EXPECT_EQ(t.name, "m");
  const RowBatch<T> back = io::to_matrix<T>(t);
  ASSERT_EQ(back.size(), m.size());
  EXPECT_EQ(std::memcmp(back.data(), m.data(), sizeof(T) * static_cast<std::size_t>(m.size())), 0);

  // 1-D, 3-D and 0-D through the buffer API.
  const auto w = BlockDiagonal<T>::random(3, 2, 4, 5, 1.0);
  const Bytes img = io::write_npy_buffer(io::from_block_diagonal(w));
  EXPECT_EQ(io::to_block_diagonal<T>(io::read_npy_buffer(img.data(), img.size())), w);
  const Eigen::Matrix<T, Eigen::Dynamic, 1> v = random_matrix<T>(9, 1, 3).col(0);
  const Bytes vimg = io::write_npy_buffer(io::from_vector(v));
  EXPECT_EQ(io::to_vector<T>(io::read_npy_buffer(vimg.data(), vimg.size())), v);
  const T one = T(real_t<T>(1.5));
  const Bytes simg = io::write_npy_buffer(io::Tensor::from_values<T>({}, &one));
  EXPECT_EQ(io::values<T>(io::read_npy_buffer(simg.data(), simg.size())), std::vector<T>{one});
}

TEST(Npy, WriterFollowsTheSpecification) {
  const std::vector<float> v = {1, 2, 3, 4, 5, 6};
  const Bytes img = io::write_npy_buffer(io::Tensor::from_values<float>({2, 3}, v.data()));
  ASSERT_GE(img.size(), 10u);
  EXPECT_EQ(std::string(img.begin() + 1, img.begin() + 6), "NUMPY");
  EXPECT_EQ(img[0], 0x93);
  EXPECT_EQ(img[6], 1) << "version 1.0 when the header fits";
  EXPECT_EQ(img[7], 0);
  const std::size_t hlen = img[8] | (img[9] << 8);
  EXPECT_EQ((10 + hlen) % 64, 0u) << "data starts 64-byte aligned, as numpy writes it";
  const std::string header(img.begin() + 10, img.begin() + 10 + static_cast<long>(hlen));
  EXPECT_EQ(header.back(), '\n');
  EXPECT_EQ(header.rfind("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 0), 0u) << header;
  EXPECT_EQ(Bytes(img.begin() + 10 + static_cast<long>(hlen), img.end()), raw_bytes(v));
}

TEST(Npy, ReadsHandBuiltVersions) {
  const std::vector<double> d = {0.5, -1.25, 3.0, 1e300, -0.0, 7.0};
  const std::vector<std::complex<float>> c = {{1, -1}, {2.5f, 0}, {0, 3}};
  struct Case {
    int major;
    std::string header;
    Bytes data;
    io::DType dtype;
    std::vector<Index> shape;
  };
  const Case cases[] = {
      {1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }          \n", raw_bytes(d), io::DType::float64, {2, 3}},
      {2, "{'descr': '<c8', 'fortran_order': False, 'shape': (3,), }\n", raw_bytes(c), io::DType::complex64, {3}},
      // 3.0 is 2.0 with a utf-8 header; also: any key order, double quotes, no trailing comma,
      // '=' byte order, no final newline.
      {3, "{\"shape\": (6,), \"descr\": \"=f8\",\"fortran_order\":False}", raw_bytes(d), io::DType::float64, {6}},
      {1, "{'fortran_order': False, 'shape': (3, 2,), 'descr': '|f8', }\n", raw_bytes(d), io::DType::float64, {3, 2}},
      {1, "{ 'descr' : 'f8' , 'fortran_order' : False , 'shape' : ( 1 , 6 ) }\t\r\n", raw_bytes(d), io::DType::float64, {1, 6}},
  };
  for (const Case& cs : cases) {
    SCOPED_TRACE(cs.header);
    const Bytes img = npy_image(cs.major, cs.header, cs.data);
    const io::Tensor t = io::read_npy_buffer(img.data(), img.size());
    EXPECT_EQ(t.dtype, cs.dtype);
    EXPECT_EQ(t.shape, cs.shape);
    EXPECT_EQ(t.data, cs.data);
  }
  // Values through the conversions.
  const Bytes img = npy_image(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }\n", raw_bytes(d));
  const RowBatch<double> m = io::to_matrix<double>(io::read_npy_buffer(img.data(), img.size()));
  for (Index i = 0; i < 2; ++i)
    for (Index j = 0; j < 3; ++j) EXPECT_EQ(m(i, j), d[static_cast<std::size_t>(i * 3 + j)]);
  const Bytes cimg = npy_image(2, "{'descr': '<c8', 'fortran_order': False, 'shape': (3,), }\n", raw_bytes(c));
  EXPECT_EQ(io::values<std::complex<double>>(io::read_npy_buffer(cimg.data(), cimg.size()))[2],
            std::complex<double>(0, 3));
}

TEST(Npy, FortranOrderIsConvertedToRowMajor) {
  // Column-major (2, 3, 4): element (i, j, k) sits at i + 2*(j + 3*k).
  std::vector<float> f(24);
  for (std::size_t x = 0; x < 24; ++x) f[x] = static_cast<float>(x) * 0.5f;
  const Bytes img = npy_image(1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3, 4), }\n", raw_bytes(f));
  const io::Tensor t = io::read_npy_buffer(img.data(), img.size());
  EXPECT_EQ(t.shape, (std::vector<Index>{2, 3, 4}));
  const std::vector<float> v = io::values<float>(t);
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 4; ++k) EXPECT_EQ(v[static_cast<std::size_t>((i * 3 + j) * 4 + k)], f[static_cast<std::size_t>(i + 2 * (j + 3 * k))]);
  // 2-D: a Fortran-ordered matrix is the same matrix.
  const Bytes img2 = npy_image(1, "{'descr': '<f4', 'fortran_order': True, 'shape': (3, 2), }\n",
                               raw_bytes(std::vector<float>{1, 2, 3, 4, 5, 6}));
  const RowBatch<float> m = io::to_matrix<float>(io::read_npy_buffer(img2.data(), img2.size()));
  EXPECT_EQ(m(0, 0), 1);
  EXPECT_EQ(m(1, 0), 2);
  EXPECT_EQ(m(2, 0), 3);
  EXPECT_EQ(m(0, 1), 4);
  EXPECT_EQ(m(2, 1), 6);
}

TEST(Npy, Float16DecodesEveryBitPatternExactly) {
  std::vector<std::uint16_t> all(65536);
  for (std::size_t i = 0; i < all.size(); ++i) all[i] = static_cast<std::uint16_t>(i);
  const Bytes img = npy_image(1, "{'descr': '<f2', 'fortran_order': False, 'shape': (65536,), }\n", raw_bytes(all));
  const io::Tensor t = io::read_npy_buffer(img.data(), img.size());
  EXPECT_EQ(t.dtype, io::DType::float16);
  const std::vector<float> v = io::values<float>(t);
  const std::vector<double> vd = io::values<double>(t);
  for (std::size_t i = 0; i < all.size(); ++i) {
    ASSERT_TRUE(same_float(v[i], reference_half(all[i]))) << "bits 0x" << std::hex << i;
    ASSERT_TRUE(same_float(static_cast<float>(vd[i]), reference_half(all[i])));
  }
  // Known values: 1.0 = 0x3c00, -2.5 = 0xc100, 65504 = 0x7bff, 2^-24 = 0x0001.
  EXPECT_EQ(v[0x3c00], 1.0f);
  EXPECT_EQ(v[0xc100], -2.5f);
  EXPECT_EQ(v[0x7bff], 65504.0f);
  EXPECT_EQ(v[0x0001], std::ldexp(1.0f, -24));
  EXPECT_TRUE(std::isinf(v[0x7c00]));
  EXPECT_TRUE(std::isnan(v[0x7e00]));
  // Written back bit-exactly.
  const Bytes again = io::write_npy_buffer(t);
  EXPECT_EQ(io::read_npy_buffer(again.data(), again.size()).data, raw_bytes(all));
}

TEST(Npy, EveryTruncationFailsCleanly) {
  const Bytes img = io::write_npy_buffer(io::from_matrix(random_matrix<double>(3, 4, 2)));
  for (std::size_t n = 0; n < img.size(); ++n) {
    SCOPED_TRACE(n);
    const Bytes prefix(img.begin(), img.begin() + static_cast<long>(n));
    expect_error<io::FormatError>([&] { io::read_npy_buffer(prefix.data(), prefix.size()); }, {"<buffer>"});
  }
}

TEST(Npy, BadInputNamesTheProblem) {
  const Bytes six = raw_bytes(std::vector<float>(6, 1.0f));
  const auto image = [&](const std::string& header) {
    return npy_image(1, header, six);
  };
  const auto fails = [](const Bytes& img, std::initializer_list<std::string> parts) {
    expect_error<io::FormatError>([&] { io::read_npy_buffer(img.data(), img.size()); }, parts);
  };
  Bytes bad_magic = image("{'descr': '<f4', 'fortran_order': False, 'shape': (6,), }\n");
  bad_magic[1] = 'n';
  fails(bad_magic, {"<buffer>", "magic"});
  Bytes bad_version = image("{'descr': '<f4', 'fortran_order': False, 'shape': (6,), }\n");
  bad_version[6] = 4;
  fails(bad_version, {"version 4.0", "expected 1.0, 2.0 or 3.0"});
  Bytes long_header = image("{'descr': '<f4', 'fortran_order': False, 'shape': (6,), }\n");
  long_header[8] = 0xff;
  long_header[9] = 0x7f;
  fails(long_header, {"header length 32767", "past the end"});
  Bytes huge_v2 = npy_image(2, "{}", {});
  huge_v2[8] = huge_v2[9] = huge_v2[10] = huge_v2[11] = 0xff;
  fails(huge_v2, {"header length 4294967295", "past the end"});
  fails(image("{'descr': '>f4', 'fortran_order': False, 'shape': (6,), }\n"), {"big-endian", "'>f4'"});
  fails(image("{'descr': '<i4', 'fortran_order': False, 'shape': (6,), }\n"), {"unsupported dtype '<i4'", "'<f4'"});
  fails(image("{'descr': '<f4', 'fortran_order': False, 'shape': (7,), }\n"), {"needs 28 bytes", "holds 24"});
  fails(image("{'descr': '<f4', 'fortran_order': False, 'shape': (5,), }\n"), {"needs 20 bytes", "holds 24"});
  fails(image("{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 4), }\n"), {"overflows"});
  fails(image("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }\n"), {"overflows"});
  // Zero elements, but the partial product 2^62 * 2 would overflow Tensor::numel().
  fails(image("{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 2, 0), }\n"), {"overflows"});
  // Header syntax: each must fail with a message about the header.
  for (const char* h : {
           "{'descr': '<f4', 'fortran_order': False}\n",                               // missing key
           "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (6,)}",  // duplicate
           "{'descr': '<f4', 'fortran_order': False, 'shape': (6,), 'x': 1}",          // unknown key
           "{'descr': '<f4', 'fortran_order': false, 'shape': (6,)}",                  // not Python
           "{'descr': '<f4', 'fortran_order': False, 'shape': (6)}",                   // int, not tuple
           "{'descr': '<f4', 'fortran_order': False, 'shape': (-6,)}",                 // negative
           "{'descr': '<f4', 'fortran_order': False, 'shape': [6]}",                   // list
           "{'descr': '<f4, 'fortran_order': False, 'shape': (6,)}",                   // bad quote
           "{'descr': '<f4' 'fortran_order': False, 'shape': (6,)}",                   // missing comma
           "{'descr': '<f4', 'fortran_order': False, 'shape': (6,)} x",                // trailing junk
           "{'descr': '<f4', 'fortran_order': False, 'shape': (6,)",                   // unclosed
           "",                                                                         // empty
       }) {
    SCOPED_TRACE(h);
    fails(image(h), {"<buffer>", "header"});
  }
}

TEST(Npy, ErrorsNameTheFileAndTensor) {
  ScratchDir dir("npy_err");
  const std::string path = dir.file("blkdiag1.npy");
  write_bytes(path, npy_image(1, "{'descr': '>f8', 'fortran_order': False, 'shape': (1,), }\n", Bytes(8, 0)));
  expect_error<io::FormatError>([&] { io::read_npy(path); }, {path, "big-endian"});
  expect_error<io::FormatError>([&] { io::read_npy(dir.file("missing.npy")); }, {dir.file("missing.npy"), "cannot open"});
  expect_error<io::FormatError>([&] { io::read_npy(dir.file("")); }, {"not a regular file"});
  // Conversions name the tensor: wrong rank -> ShapeError; complex into real -> FormatError;
  // NaN on request -> ValueError.
  const std::vector<std::complex<double>> z = {{1, 2}, {3, std::nan("")}};
  io::write_npy(path, io::Tensor::from_values({2}, z.data()));
  const io::Tensor t = io::read_npy(path);
  expect_error<ShapeError>([&] { io::to_matrix<std::complex<double>>(t); }, {path, "'blkdiag1'", "expected a 2-D", "1-D"});
  expect_error<ShapeError>([&] { io::to_block_diagonal<std::complex<double>>(t); }, {"'blkdiag1'", "expected a 3-D"});
  expect_error<io::FormatError>([&] { io::values<double>(t); }, {"'blkdiag1'", "complex128", "real"});
  expect_error<ValueError>([&] { io::check_finite(t); }, {path, "'blkdiag1'", "non-finite", "flat index 1"});
  const std::uint16_t bf = 0x3f80;
  io::Tensor b;
  b.dtype = io::DType::bfloat16;
  b.shape = {1};
  b.data = {static_cast<std::uint8_t>(bf & 0xff), static_cast<std::uint8_t>(bf >> 8)};
  expect_error<io::FormatError>([&] { io::write_npy_buffer(b); }, {"bfloat16", ".npy"});
}

TEST(Npy, RankIsCappedInTheReaderAndTheWriter) {
  // 64 dimensions (numpy's own limit) read and write back; 65 are refused by both, so the writer
  // never produces a file the reader rejects.
  const std::vector<float> one = {2.5f};
  const auto image = [&](std::size_t rank) {
    const std::string header = "{'descr': '<f4', 'fortran_order': True, 'shape': " + ones_tuple(rank) + ", }\n";
    return npy_image(1, header, raw_bytes(one));
  };
  const Bytes img64 = image(64);
  const io::Tensor t = io::read_npy_buffer(img64.data(), img64.size());
  EXPECT_EQ(t.shape, std::vector<Index>(64, 1));
  const Bytes again = io::write_npy_buffer(t);
  EXPECT_EQ(io::read_npy_buffer(again.data(), again.size()).shape, t.shape);
  const Bytes img65 = image(65);
  expect_error<io::FormatError>([&] { io::read_npy_buffer(img65.data(), img65.size()); },
                                {"<buffer>", "more than 64 dimensions"});
  const io::Tensor t65 = io::Tensor::from_values<float>(std::vector<Index>(65, 1), one.data(), "deep");
  expect_error<io::FormatError>([&] { io::write_npy_buffer(t65); }, {"'deep'", "more than 64 dimensions"});
  ScratchDir dir("npy_rank");
  expect_error<io::FormatError>([&] { io::write_npy(dir.file("deep.npy"), t65); }, {"more than 64 dimensions"});
  EXPECT_FALSE(std::filesystem::exists(dir.file("deep.npy"))) << "refused before the file is created";
}

TEST(Npy, EmptyDescrIsAnUnsupportedDtypeNotBigEndian) {
  const Bytes img = npy_image(1, "{'descr': '', 'fortran_order': False, 'shape': (6,), }\n",
                              raw_bytes(std::vector<float>(6, 1.0f)));
  const std::string msg = error_message<io::FormatError>([&] { io::read_npy_buffer(img.data(), img.size()); });
  EXPECT_NE(msg.find("unsupported dtype ''"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'<f4'"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("big-endian"), std::string::npos) << msg;
}

TEST(Npy, UnreadableFilesGiveTheSystemsReason) {
  ScratchDir dir("npy_errno");
  const std::string missing = dir.file("missing.npy");
  expect_error<io::FormatError>([&] { io::read_npy(missing); }, {missing, "cannot open", errno_text(ENOENT)});
  write_bytes(dir.file("plain"), Bytes(4, 0));  // a file used as a directory
  expect_error<io::FormatError>([&] { io::read_npy(dir.file("plain") + "/x.npy"); },
                                {"cannot open", errno_text(ENOTDIR)});
  std::filesystem::create_symlink(dir.file("loop"), dir.file("loop"));  // resolves to itself
  expect_error<io::FormatError>([&] { io::read_npy(dir.file("loop")); }, {"cannot open", errno_text(ELOOP)});
  const std::vector<float> v = {1.0f};
  const io::Tensor t = io::Tensor::from_values<float>({1}, v.data());
  expect_error<io::FormatError>([&] { io::write_npy(dir.file("no/such/dir.npy"), t); },
                                {"cannot open the file for writing", errno_text(ENOENT)});
  if (::geteuid() != 0) {  // root reads any file whatever its mode
    const std::string locked = dir.file("locked.npy");
    io::write_npy(locked, t);
    std::filesystem::permissions(locked, std::filesystem::perms::none);
    expect_error<io::FormatError>([&] { io::read_npy(locked); }, {locked, errno_text(EACCES)});
  }
}

TEST(Npy, AFailedWriteLeavesNoPartialFile) {
  // The writer builds the file beside its target and renames it into place: when the last step
  // fails (here the target is a directory), nothing is left behind and the target is untouched.
  ScratchDir dir("npy_atomic");
  const std::vector<float> v = {1.0f, 2.0f};
  const io::Tensor t = io::Tensor::from_values<float>({2}, v.data());
  const std::string target = dir.file("taken");
  std::filesystem::create_directory(target);
  expect_error<io::FormatError>([&] { io::write_npy(target, t); }, {target, "write error"});
  EXPECT_TRUE(std::filesystem::is_directory(target));
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.file("")), std::filesystem::directory_iterator()),
            1)
      << "a temporary file was left beside the target";
  const std::string good = dir.file("good.npy");
  io::write_npy(good, t);
  io::write_npy(good, t);  // replaces an existing file
  EXPECT_EQ(io::read_npy(good).shape, t.shape);
}

}  // namespace
}  // namespace monarch::test
