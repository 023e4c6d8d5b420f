// Writes the fuzzers' seed corpora: small valid files of every supported dtype and layout, and
// invalid ones (truncated, wrong magic, big-endian, empty descr, bad JSON, overlapping offsets,
// a rank past the cap, JSON nested past the layout, huge declared extents over a tiny buffer),
// plus a few choice streams for fuzz_structured.
// Usage: make_corpus OUT_DIR   (creates OUT_DIR/npy, OUT_DIR/safetensors and OUT_DIR/structured)
#include <monarch/io.hpp>

#include <complex>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

namespace io = monarch::io;
using Bytes = std::vector<std::uint8_t>;

namespace {

/// A hand-made .npy image: given version, header text (padded here) and data bytes.
Bytes npy(int major, std::string header, const Bytes& payload) {
  const std::size_t pre = major == 1 ? 10 : 12;
  header.append((64 - (pre + header.size() + 1) % 64) % 64, ' ');
  header += '\n';
  Bytes out = {0x93, 'N', 'U', 'M', 'P', 'Y', static_cast<std::uint8_t>(major), 0};
  for (std::size_t i = 0; i < (major == 1 ? 2u : 4u); ++i) out.push_back(static_cast<std::uint8_t>(header.size() >> (8 * i)));
  out.insert(out.end(), header.begin(), header.end());
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

/// A hand-made .safetensors image from JSON text and a byte buffer.
Bytes st(const std::string& json, const Bytes& buffer) {
  Bytes out;
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<std::uint8_t>(json.size() >> (8 * i)));
  out.insert(out.end(), json.begin(), json.end());
  out.insert(out.end(), buffer.begin(), buffer.end());
  return out;
}

void save(const std::filesystem::path& p, const Bytes& b) {
  std::FILE* f = std::fopen(p.string().c_str(), "wb");
  if (!f || std::fwrite(b.data(), 1, b.size(), f) != b.size()) {
    std::perror(p.string().c_str());
    std::exit(1);
  }
  std::fclose(f);
}

template <class T>
io::Tensor sample(std::vector<monarch::Index> shape) {
  std::vector<T> v(24);
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = T(static_cast<monarch::real_t<T>>(i) - 3);
  return io::Tensor::from_values<T>(std::move(shape), v.data());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUT_DIR\n", argv[0]);
    return 2;
  }
  const std::filesystem::path out = argv[1], n = out / "npy", s = out / "safetensors", g = out / "structured";
  std::filesystem::create_directories(n);
  std::filesystem::create_directories(s);
  std::filesystem::create_directories(g);

  // .npy: every dtype through the writer, then hand-made variants.
  save(n / "f4_2x3.npy", io::write_npy_buffer(sample<float>({2, 3})));
  save(n / "f8_4.npy", io::write_npy_buffer(sample<double>({4})));
  save(n / "c8_2x2x2.npy", io::write_npy_buffer(sample<std::complex<float>>({2, 2, 2})));
  save(n / "c16_scalar.npy", io::write_npy_buffer(sample<std::complex<double>>({})));
  save(n / "f8_empty.npy", io::write_npy_buffer(sample<double>({0, 3})));
  const Bytes six_floats = sample<float>({6}).data;
  save(n / "v2_fortran.npy", npy(2, "{'shape': (2, 3), 'fortran_order': True, 'descr': '<f4'}", six_floats));
  save(n / "v3_double_quotes.npy", npy(3, "{\"descr\": \"=f4\", \"fortran_order\": False, \"shape\": (6,),}", six_floats));
  save(n / "f2.npy", npy(1, "{'descr': '<f2', 'fortran_order': False, 'shape': (3,), }", Bytes{0, 0x3c, 0, 0xc0, 0xff, 0x7b}));
  save(n / "bad_big_endian.npy", npy(1, "{'descr': '>f4', 'fortran_order': False, 'shape': (6,), }", six_floats));
  save(n / "bad_int.npy", npy(1, "{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }", Bytes(24, 0)));
  save(n / "bad_empty_descr.npy", npy(1, "{'descr': '', 'fortran_order': False, 'shape': (6,), }", six_floats));
  std::string ones64;
  for (int i = 0; i < 64; ++i) ones64 += "1, ";
  const Bytes one_float = sample<float>({1}).data;
  save(n / "rank64.npy", npy(1, "{'descr': '<f4', 'fortran_order': True, 'shape': (" + ones64 + "), }", one_float));
  save(n / "bad_rank65.npy",
       npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (" + ones64 + "1,), }", one_float));
  save(n / "bad_huge_extent.npy",
       npy(2, "{'descr': '<f8', 'fortran_order': False, 'shape': (0, 1099511627776, 1099511627776), }", Bytes{}));
  Bytes trunc = io::write_npy_buffer(sample<float>({2, 3}));
  trunc.resize(trunc.size() - 5);
  save(n / "bad_truncated.npy", trunc);
  Bytes magic = io::write_npy_buffer(sample<float>({2, 3}));
  magic[5] = 'Z';
  save(n / "bad_magic.npy", magic);

  // .safetensors: the writer, then hand-made variants.
  save(s / "f32_f64.safetensors", io::write_safetensors_buffer({{"blkdiag1", sample<float>({2, 3, 2})},
                                                                {"bias", sample<double>({3})}},
                                                               {{"format", "pt"}}));
  save(s / "c64.safetensors", io::write_safetensors_buffer({{"z", sample<std::complex<float>>({2, 2})}}));
  save(s / "bf16_f16.safetensors",
       st(R"({"a":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]},"b":{"dtype":"F16","shape":[1],"data_offsets":[4,6]}})",
          Bytes{0x80, 0x3f, 0x20, 0xc0, 0x00, 0x3c}));
  save(s / "scalar_empty.safetensors",
       st(R"({"s":{"dtype":"F32","shape":[],"data_offsets":[0,4]},"e":{"dtype":"F64","shape":[0,2],"data_offsets":[4,4]}})",
          Bytes{0, 0, 0x80, 0x3f}));
  save(s / "bad_overlap.safetensors",
       st(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
          Bytes(8, 0)));
  save(s / "bad_json.safetensors", st(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]})", Bytes(4, 0)));
  save(s / "bad_length.safetensors", Bytes{0xff, 0xff, 0, 0, 0, 0, 0, 0, '{', '}'});
  save(s / "bad_dtype.safetensors", st(R"({"a":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}})", Bytes(8, 0)));
  std::string ones65 = "[1";
  for (int i = 1; i < 65; ++i) ones65 += ",1";
  save(s / "bad_rank65.safetensors",
       st(R"({"w":{"dtype":"F32","shape":)" + ones65 + R"(],"data_offsets":[0,4]}})", Bytes(4, 0)));
  save(s / "bad_deep_nesting.safetensors",
       st(R"({"w":{"dtype":"F32","shape":)" + std::string(1000, '[') + std::string(1000, ']') + "}}", Bytes{}));
  save(s / "bad_huge_extents.safetensors",
       st(R"({"w":{"dtype":"F64","shape":[1099511627776,4],"data_offsets":[0,35184372088832]}})", Bytes(8, 0)));
  save(s / "bad_metadata_nested.safetensors", st(R"({"__metadata__":{"k":{"k":["v"]}}})", Bytes{}));

  // fuzz_structured reads its input as a stream of choices; a few streams to start from.
  for (int seed = 0; seed < 6; ++seed) {
    Bytes choices(64);
    for (std::size_t i = 0; i < choices.size(); ++i)
      choices[i] = static_cast<std::uint8_t>((i * 37 + static_cast<std::size_t>(seed) * 101) & 0xff);
    save(g / ("choices_" + std::to_string(seed)), choices);
  }
  std::printf("seed corpora written to %s\n", out.string().c_str());
  return 0;
}
