// .safetensors reading and writing: bit-exact round trips, a hand-built file (the independent
// reference), BF16 / F16 decoding of every bit pattern, the writer's layout, and bad input.
#include <monarch/io.hpp>

#include <nlohmann/json.hpp>

#include <cerrno>
#include <complex>
#include <filesystem>
#include <limits>

#include "support/io_support.hpp"
#include "support/test_support.hpp"

namespace monarch::test {
namespace {

namespace io = monarch::io;

template <class T>
class SafetensorsTyped : public ::testing::Test {};
TYPED_TEST_SUITE(SafetensorsTyped, Scalars, );

TYPED_TEST(SafetensorsTyped, RoundTripIsBitExact) {
  using T = TypeParam;
  using R = real_t<T>;
  ScratchDir dir("st_rt");
  RowBatch<T> m = random_matrix<T>(4, 6, 7);
  m(0, 0) = T(std::numeric_limits<R>::quiet_NaN());
  m(1, 1) = T(R(-0.0));
  m(2, 2) = T(std::numeric_limits<R>::denorm_min());
  m(3, 3) = T(-std::numeric_limits<R>::infinity());
  const auto w = BlockDiagonal<T>::random(2, 3, 5, 9, 1.0);
  const std::map<std::string, io::Tensor> tensors = {{"m", io::from_matrix(m)}, {"w", io::from_block_diagonal(w)}};
  const std::string path = dir.file("x.safetensors");
  if constexpr (std::is_same_v<T, std::complex<double>>) {
    // No complex128 dtype exists in safetensors: refused, not silently narrowed.
    expect_error<io::FormatError>([&] { io::write_safetensors(path, tensors); }, {"complex128"});
  } else {
    io::write_safetensors(path, tensors, {{"format", "pt"}});
    const io::SafetensorsFile f = io::read_safetensors(path);
    EXPECT_EQ(f.metadata, (std::map<std::string, std::string>{{"format", "pt"}}));
    ASSERT_EQ(f.tensors.size(), 2u);
    const RowBatch<T> back = io::to_matrix<T>(f.at("m"));
    EXPECT_EQ(std::memcmp(back.data(), m.data(), sizeof(T) * static_cast<std::size_t>(m.size())), 0);
    EXPECT_EQ(io::to_block_diagonal<T>(f.at("w")), w);
    EXPECT_EQ(f.at("w").source, path);
  }
}

TEST(Safetensors, ReadsHandBuiltFile) {
  // From the format description: u64 LE header size, JSON, byte buffer; offsets relative to the
  // buffer; keys in any order; header padded with spaces.
  const std::vector<float> a = {1.5f, -2.0f, 3.25f, 0.0f, 8.0f, -0.5f};
  const std::vector<double> b = {0.1, 0.2};
  Bytes buffer = raw_bytes(b);  // b first in the buffer, a second
  const Bytes ab = raw_bytes(a);
  buffer.insert(buffer.end(), ab.begin(), ab.end());
  const std::string json =
      R"({"__metadata__":{"format":"pt","note":"hand-built"},)"
      R"( "layer.blkdiag1" : {"shape":[2,3],"dtype":"F32","data_offsets":[16,40]},)"
      R"( "b":{"data_offsets":[0,16],"dtype":"F64","shape":[2]}}    )";
  const Bytes img = safetensors_image(json, buffer);
  const io::SafetensorsFile f = io::read_safetensors_buffer(img.data(), img.size());
  EXPECT_EQ(f.metadata.at("note"), "hand-built");
  ASSERT_TRUE(f.contains("layer.blkdiag1"));
  const io::Tensor& t = f.at("layer.blkdiag1");
  EXPECT_EQ(t.dtype, io::DType::float32);
  EXPECT_EQ(t.shape, (std::vector<Index>{2, 3}));
  const RowBatch<double> m = io::to_matrix<double>(t);
  for (Index i = 0; i < 2; ++i)
    for (Index j = 0; j < 3; ++j) EXPECT_EQ(m(i, j), static_cast<double>(a[static_cast<std::size_t>(i * 3 + j)]));
  EXPECT_EQ(io::values<double>(f.at("b")), b);
  EXPECT_EQ(io::values<float>(f.at("b")), (std::vector<float>{0.1f, 0.2f})) << "float64 -> float rounds to nearest";
  // Scalars (shape []) and empty tensors are legal.
  const Bytes img2 = safetensors_image(
      R"({"s":{"dtype":"F32","shape":[],"data_offsets":[0,4]},"e":{"dtype":"F32","shape":[0,5],"data_offsets":[4,4]}})",
      raw_bytes(std::vector<float>{2.0f}));
  const io::SafetensorsFile g = io::read_safetensors_buffer(img2.data(), img2.size());
  EXPECT_EQ(io::values<float>(g.at("s")), std::vector<float>{2.0f});
  EXPECT_EQ(g.at("e").numel(), 0);
}

TEST(Safetensors, HalfPrecisionDecodesEveryBitPattern) {
  std::vector<std::uint16_t> all(65536);
  for (std::size_t i = 0; i < all.size(); ++i) all[i] = static_cast<std::uint16_t>(i);
  Bytes buffer = raw_bytes(all);
  buffer.insert(buffer.end(), buffer.begin(), buffer.end());
  const Bytes img = safetensors_image(R"({"bf":{"dtype":"BF16","shape":[256,256],"data_offsets":[0,131072]},)"
                                      R"("h":{"dtype":"F16","shape":[65536],"data_offsets":[131072,262144]}})",
                                      buffer);
  const io::SafetensorsFile f = io::read_safetensors_buffer(img.data(), img.size());
  EXPECT_EQ(f.at("bf").dtype, io::DType::bfloat16);
  const std::vector<float> bf = io::values<float>(f.at("bf"));
  const std::vector<float> h = io::values<float>(f.at("h"));
  const std::vector<std::complex<double>> hz = io::values<std::complex<double>>(f.at("h"));
  for (std::size_t i = 0; i < all.size(); ++i) {
    ASSERT_TRUE(same_float(bf[i], reference_bfloat16(all[i]))) << "bf16 bits 0x" << std::hex << i;
    ASSERT_TRUE(same_float(h[i], reference_half(all[i]))) << "f16 bits 0x" << std::hex << i;
    ASSERT_TRUE(same_float(static_cast<float>(hz[i].real()), reference_half(all[i])));
    ASSERT_EQ(hz[i].imag(), 0.0);
  }
  // Known values: bf16 1.0 = 0x3f80, -2.5 = 0xc020, smallest subnormal 0x0001 = 2^-133.
  EXPECT_EQ(bf[0x3f80], 1.0f);
  EXPECT_EQ(bf[0xc020], -2.5f);
  EXPECT_EQ(bf[0x0001], std::ldexp(1.0f, -133));
  EXPECT_TRUE(std::isinf(bf[0xff80]) && bf[0xff80] < 0);
  EXPECT_EQ(h[0x7bff], 65504.0f);
  // BF16 / F16 are written back as stored.
  const Bytes again = io::write_safetensors_buffer(f.tensors);
  const io::SafetensorsFile g = io::read_safetensors_buffer(again.data(), again.size());
  EXPECT_EQ(g.at("bf").data, raw_bytes(all));
  EXPECT_EQ(g.at("h").dtype, io::DType::float16);
}

TEST(Safetensors, WriterLayout) {
  const std::vector<float> x = {1, 2, 3};
  const std::vector<double> y = {4, 5};
  const Bytes img = io::write_safetensors_buffer(
      {{"y", io::Tensor::from_values<double>({2}, y.data())}, {"x", io::Tensor::from_values<float>({3}, x.data())}});
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | img[static_cast<std::size_t>(i)];
  EXPECT_EQ(n % 8, 0u) << "header padded to 8 bytes";
  const auto j = nlohmann::json::parse(img.begin() + 8, img.begin() + 8 + static_cast<long>(n));
  EXPECT_EQ(j["x"]["dtype"], "F32");
  EXPECT_EQ(j["y"]["shape"], nlohmann::json::array({2}));
  const Bytes buffer(img.begin() + 8 + static_cast<long>(n), img.end());
  EXPECT_EQ(buffer.size(), 12u + 16u);
  const auto bx = j["x"]["data_offsets"].get<std::vector<std::size_t>>();
  const auto by = j["y"]["data_offsets"].get<std::vector<std::size_t>>();
  EXPECT_EQ(Bytes(buffer.begin() + static_cast<long>(bx[0]), buffer.begin() + static_cast<long>(bx[1])), raw_bytes(x));
  EXPECT_EQ(Bytes(buffer.begin() + static_cast<long>(by[0]), buffer.begin() + static_cast<long>(by[1])), raw_bytes(y));
}

TEST(Safetensors, EveryTruncationFailsCleanly) {
  const Bytes img = io::write_safetensors_buffer(
      {{"a", io::from_matrix(random_matrix<float>(2, 3, 1))}, {"b", io::from_matrix(random_matrix<double>(1, 2, 1))}});
  for (std::size_t n = 0; n < img.size(); ++n) {
    SCOPED_TRACE(n);
    const Bytes prefix(img.begin(), img.begin() + static_cast<long>(n));
    expect_error<io::FormatError>([&] { io::read_safetensors_buffer(prefix.data(), prefix.size()); }, {"<buffer>"});
  }
}

TEST(Safetensors, BadInputNamesTheProblem) {
  const auto fails = [](const std::string& json, std::size_t buffer_size, std::initializer_list<std::string> parts) {
    const Bytes img = safetensors_image(json, Bytes(buffer_size, 0));
    expect_error<io::FormatError>([&] { io::read_safetensors_buffer(img.data(), img.size()); }, parts);
  };
  const std::string pre = R"({"w":{"dtype":"F32","shape":[2],"data_offsets":)";
  fails(pre + "[0,8]}", 8, {"<buffer>", "not valid JSON"});
  fails("[1, 2]", 0, {"must be a JSON object", "array"});
  fails(pre + "[0,12]}}", 8, {"tensor 'w'", "[0, 12]", "outside the byte buffer [0, 8]"});
  fails(pre + "[8,0]}}", 8, {"tensor 'w'", "[8, 0]"});
  fails(pre + "[0,4]}}", 8, {"tensor 'w'", "span 4 bytes, expected 8"});
  fails(pre + "[0,-8]}}", 8, {"tensor 'w'", "non-negative integers"});
  fails(pre + "[0,8.0]}}", 8, {"tensor 'w'", "non-negative integers"});
  fails(pre + "[0]}}", 8, {"tensor 'w'", "[begin, end]"});
  fails(pre + "[0,18446744073709551616]}}", 8, {"tensor 'w'"});
  fails(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"v":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
        8, {"overlap", "'v'", "'w'"});
  fails(R"({"w":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}})", 8, {"tensor 'w'", "unsupported dtype 'I64'", "F32"});
  fails(R"({"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}})", 8, {"tensor 'w'", "overflows"});
  fails(R"({"w":{"dtype":"F64","shape":[2305843009213693952],"data_offsets":[0,8]}})", 8, {"tensor 'w'", "overflows"});
  fails(R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}})", 0, {"tensor 'w'", "'shape'"});
  fails(R"({"w":{"dtype":"F32","shape":"2","data_offsets":[0,8]}})", 8, {"tensor 'w'", "'shape' must be an array"});
  fails(R"({"w":{"shape":[2],"data_offsets":[0,8]}})", 8, {"tensor 'w'", "'dtype'"});
  fails(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"extra":1}})", 8, {"tensor 'w'", "unexpected field 'extra'"});
  fails(R"({"w":[1,2]})", 0, {"tensor 'w'", "must be an object"});
  fails(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
        8, {"'w' more than once"});
  fails(R"({"__metadata__":{"k":1}})", 0, {"__metadata__", "must be a string"});
  // Header length past the end of the file, and absurdly large.
  Bytes img = safetensors_image("{}", {});
  img[0] = 3;
  expect_error<io::FormatError>([&] { io::read_safetensors_buffer(img.data(), img.size()); },
                                {"header length 3", "past the end"});
  for (int i = 0; i < 8; ++i) img[static_cast<std::size_t>(i)] = 0xff;
  expect_error<io::FormatError>([&] { io::read_safetensors_buffer(img.data(), img.size()); },
                                {"header length 18446744073709551615", "past the end"});
}

TEST(Safetensors, ErrorsNameTheFileAndTensor) {
  ScratchDir dir("st_err");
  const std::string path = dir.file("model.safetensors");
  write_bytes(path, safetensors_image(R"({"blkdiag2":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}})", Bytes(16, 0)));
  expect_error<io::FormatError>([&] { io::read_safetensors(path); }, {path, "tensor 'blkdiag2'", "span 16 bytes, expected 12"});
  write_bytes(path, safetensors_image(R"({"blkdiag2":{"dtype":"F32","shape":[3],"data_offsets":[0,12]}})", Bytes(12, 0)));
  const io::SafetensorsFile f = io::read_safetensors(path);
  expect_error<io::FormatError>([&] { f.at("blkdiag1"); }, {path, "'blkdiag1'", "no such tensor", "'blkdiag2'"});
  expect_error<io::FormatError>([&] { io::read_safetensors(dir.file("none.safetensors")); }, {"none.safetensors", "cannot open"});
}

/// A header with one F32 tensor "w" of the given JSON shape holding one element, and its buffer.
Bytes one_float_image(const std::string& shape_json) {
  return safetensors_image(R"({"w":{"dtype":"F32","shape":)" + shape_json + R"(,"data_offsets":[0,4]}})", Bytes(4, 0));
}

TEST(Safetensors, RankIsCappedInTheReaderAndTheWriter) {
  // 64 dimensions read and write back; a rank-40,000 shape is rejected with the rank-cap error
  // (without the cap it is accepted, its one element being a product of ones).
  const Bytes img64 = one_float_image(ones_json(64));
  const io::SafetensorsFile f = io::read_safetensors_buffer(img64.data(), img64.size());
  EXPECT_EQ(f.at("w").shape, std::vector<Index>(64, 1));
  const Bytes again = io::write_safetensors_buffer(f.tensors);
  EXPECT_EQ(io::read_safetensors_buffer(again.data(), again.size()).at("w").shape, f.at("w").shape);
  for (std::size_t rank : {65, 40000}) {
    SCOPED_TRACE(rank);
    const Bytes img = one_float_image(ones_json(rank));
    expect_error<io::FormatError>([&] { io::read_safetensors_buffer(img.data(), img.size()); },
                                  {"<buffer>", "tensor 'w'", "more than 64 dimensions"});
  }
  // The writer and the tensor consistency check behind values() refuse the same.
  const std::vector<float> one = {1.0f};
  const io::Tensor t65 = io::Tensor::from_values<float>(std::vector<Index>(65, 1), one.data(), "deep");
  expect_error<io::FormatError>([&] { io::write_safetensors_buffer({{"deep", t65}}); },
                                {"'deep'", "more than 64 dimensions"});
  expect_error<io::FormatError>([&] { io::values<float>(t65); }, {"'deep'", "more than 64 dimensions"});
}

TEST(Safetensors, NestingDeeperThanTheLayoutStopsTheParse) {
  // 100,000 nested arrays where 'shape' wants integers, followed by bytes that are not JSON: the
  // parse stops at the first level past the layout's three, before it reaches them.
  const std::string deep = R"({"w":{"dtype":"F32","shape":)" + std::string(100000, '[') + "\x01";
  const Bytes img = safetensors_image(deep, {});
  expect_error<io::FormatError>([&] { io::read_safetensors_buffer(img.data(), img.size()); },
                                {"tensor 'w'", "nests more than 3 levels"});
  // The same inside the metadata, and anywhere a scalar belongs: the layout's message.
  const auto fails = [](const std::string& json, std::initializer_list<std::string> parts) {
    const Bytes i = safetensors_image(json, {});
    expect_error<io::FormatError>([&] { io::read_safetensors_buffer(i.data(), i.size()); }, parts);
  };
  fails(R"({"__metadata__":{"k":[[[[[[1]]]]]]}})", {"'__metadata__' value of 'k' must be a string"});
  fails(R"({"w":{"dtype":"F32","shape":[[1]],"data_offsets":[0,4]}})", {"tensor 'w'", "nests more than 3 levels"});
  fails(R"({"w":{"dtype":["F32"],"shape":[1],"data_offsets":[0,4]}})", {"tensor 'w'", "'dtype' must be a string"});
  fails(std::string(100000, '[') + "\x01", {"must be a JSON object, given array"});
}

TEST(Safetensors, EntryCountIsBounded) {
  // Empty tensors are the cheapest entries a header can declare; one more than the limit is
  // rejected, by the reader and the writer alike.
  const std::size_t limit = io::detail::kMaxSafetensorsEntries;
  EXPECT_EQ(limit, 100000u) << "docs/io.md states the limit";
  const auto image = [](std::size_t entries) {
    std::string json = "{";
    for (std::size_t i = 0; i < entries; ++i)
      json += (i ? ",\"t" : "\"t") + std::to_string(i) + R"(":{"dtype":"F32","shape":[0],"data_offsets":[0,0]})";
    return safetensors_image(json + "}", {});
  };
  const Bytes at_limit = image(limit);
  EXPECT_EQ(io::read_safetensors_buffer(at_limit.data(), at_limit.size()).tensors.size(), limit);
  const Bytes over = image(limit + 1);
  expect_error<io::FormatError>([&] { io::read_safetensors_buffer(over.data(), over.size()); },
                                {"<buffer>", "more than 100000 entries"});
  // Metadata pairs count too.
  const std::string meta = R"({"__metadata__":{"a":"1","b":"2"},)";
  Bytes img = image(limit - 1);
  img.erase(img.begin(), img.begin() + 9);  // length prefix and '{'
  const std::string text = meta + std::string(img.begin(), img.end());
  const Bytes with_meta = safetensors_image(text, {});
  expect_error<io::FormatError>([&] { io::read_safetensors_buffer(with_meta.data(), with_meta.size()); },
                                {"more than 100000 entries"});
  std::map<std::string, io::Tensor> tensors;
  for (std::size_t i = 0; i <= limit; ++i)
    tensors.emplace("t" + std::to_string(i), io::Tensor::from_values<float>({0}, nullptr));
  expect_error<io::FormatError>([&] { io::write_safetensors_buffer(tensors); },
                                {"<output>", "more than 100000 entries"});
}

TEST(Safetensors, ReaderReadsOneTensorAtATime) {
  ScratchDir dir("st_reader");
  const std::string path = dir.file("m.safetensors");
  const std::vector<float> a = {1, 2, 3, 4, 5, 6};
  const std::vector<double> b = {7, 8};
  // b first in the buffer, then a gap of 4 bytes, then a: offsets from the header, not the order.
  Bytes buffer = raw_bytes(b);
  buffer.resize(buffer.size() + 4, 0xee);
  const Bytes ab = raw_bytes(a);
  buffer.insert(buffer.end(), ab.begin(), ab.end());
  write_bytes(path, safetensors_image(R"({"__metadata__":{"format":"pt"},)"
                                      R"("a":{"dtype":"F32","shape":[2,3],"data_offsets":[20,44]},)"
                                      R"("b":{"dtype":"F64","shape":[2],"data_offsets":[0,16]}})",
                                      buffer));
  const io::SafetensorsReader r(path);
  EXPECT_EQ(r.metadata().at("format"), "pt");
  ASSERT_EQ(r.entries().size(), 2u);
  EXPECT_EQ(r.entries().at("a").begin, 20u);
  EXPECT_EQ(r.entries().at("a").shape, (std::vector<Index>{2, 3}));
  EXPECT_TRUE(r.contains("b"));
  EXPECT_EQ(io::values<float>(r.read("a")), a);
  EXPECT_EQ(io::values<double>(r.read("b")), b);
  EXPECT_EQ(r.read("a").source, path);
  expect_error<io::FormatError>([&] { r.read("c"); }, {path, "'c'", "no such tensor", "'a', 'b'"});
  // A file that shrinks after its header was read fails cleanly when the lost bytes are asked for.
  std::filesystem::resize_file(path, std::filesystem::file_size(path) - 8);
  expect_error<io::FormatError>([&] { r.read("a"); }, {path, "ended early"});
  // A header that promises more bytes than the file has is rejected before anything is read.
  write_bytes(path, safetensors_image(
                        R"({"w":{"dtype":"F64","shape":[1099511627776],"data_offsets":[0,8796093022208]}})", Bytes(8, 0)));
  expect_error<io::FormatError>([&] { io::SafetensorsReader{path}; }, {"outside the byte buffer [0, 8]"});
  expect_error<io::FormatError>([&] { io::SafetensorsReader{dir.file("plain") + "/x"}; },
                                {"cannot open", errno_text(ENOENT)});
  write_bytes(dir.file("plain"), Bytes(1, 0));
  expect_error<io::FormatError>([&] { io::SafetensorsReader{dir.file("plain")}; }, {"shorter than the 8-byte"});
  expect_error<io::FormatError>([&] { io::SafetensorsReader{dir.file("plain") + "/x"}; },
                                {"cannot open", errno_text(ENOTDIR)});
}

}  // namespace
}  // namespace monarch::test
