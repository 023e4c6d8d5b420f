// libFuzzer entry point that builds .npy and .safetensors images from the input's choices
// (FuzzedDataProvider) instead of mutating file bytes, to reach what byte-level mutation of small
// files rarely does: shapes of every rank up to tens of thousands (past the cap of 64), JSON nested
// far deeper than the layout, extents and offsets at the integer limits over buffers of a few
// bytes, odd descr strings. (The entry-count limit is left to the unit tests: a header of 100,000
// entries takes seconds per run under the sanitizers.) Each image goes through the checks of
// fuzz_checks.hpp; an accepted .safetensors image is also written to a file and read back tensor
// by tensor (SafetensorsReader) and as a MonarchLinear layer selected by its prefix.
#include <fuzzer/FuzzedDataProvider.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "fuzz_checks.hpp"

namespace {

namespace io = monarch::io;
using Bytes = std::vector<std::uint8_t>;

// FuzzedDataProvider returns a range's minimum once the input is used up, so the costly or rare
// branches are taken on the maximum and an exhausted input falls through to the cheap ones.

/// An extent or offset: usually small, sometimes at or past an integer limit.
std::uint64_t number(FuzzedDataProvider& in) {
  static constexpr std::uint64_t kEdges[] = {0,          1,          2,          3,          1ull << 31, 1ull << 32,
                                             1ull << 40, 1ull << 62, ~0ull >> 1, 1ull << 63, ~0ull};
  switch (in.ConsumeIntegralInRange(0, 3)) {
    case 0:
      return in.PickValueInArray(kEdges);
    case 1:
      return in.ConsumeIntegral<std::uint64_t>();
    default:
      return in.ConsumeIntegralInRange<std::uint64_t>(0, 8);
  }
}

/// A shape: small, around the rank cap, or far past it; extents 1 except a few fuzzed ones, so
/// that deep shapes stay cheap to describe and can still be valid.
std::vector<std::uint64_t> extents(FuzzedDataProvider& in) {
  std::size_t rank = in.ConsumeIntegralInRange<std::size_t>(0, 4);
  const int kind = in.ConsumeIntegralInRange(0, 7);
  if (kind == 6) rank = in.ConsumeIntegralInRange<std::size_t>(62, 66);
  if (kind == 7) rank = in.ConsumeIntegralInRange<std::size_t>(67, 50000);
  std::vector<std::uint64_t> e(rank, 1);
  const int fuzzed = in.ConsumeIntegralInRange(0, 3);
  for (int i = 0; i < fuzzed && rank > 0; ++i) e[in.ConsumeIntegralInRange<std::size_t>(0, rank - 1)] = number(in);
  return e;
}

/// numel * item, saturating at UINT64_MAX.
std::uint64_t nbytes(const std::vector<std::uint64_t>& e, std::uint64_t item) {
  std::uint64_t n = item;
  for (std::uint64_t x : e)
    if (__builtin_mul_overflow(n, x, &n)) return ~0ull;
  return n;
}

/// `depth` unclosed or closed brackets: JSON nested far past the layout's three levels.
std::string nested(FuzzedDataProvider& in) {
  const std::size_t depth = in.ConsumeBool() ? in.ConsumeIntegralInRange<std::size_t>(1, 8)
                                             : in.ConsumeIntegralInRange<std::size_t>(9, 200000);
  return std::string(depth, '[') + (in.ConsumeBool() ? std::string(depth, ']') : "1");
}

std::string join(const std::vector<std::uint64_t>& e, const char* open, const char* close, bool python) {
  std::string s = open;
  for (std::size_t i = 0; i < e.size(); ++i) s += (i ? ", " : "") + std::to_string(e[i]);
  if (python && e.size() == 1) s += ',';
  return s + close;
}

/// One tensor entry; `cursor` is where the next consistent data_offsets begin.
std::string tensor_entry(FuzzedDataProvider& in, int index, std::uint64_t& cursor) {
  static constexpr const char* kNames[] = {"layers.0.blkdiag1", "layers.0.blkdiag2", "layers.0.bias", "w",
                                           "__metadata__"};
  static constexpr const char* kDtypes[] = {"F32", "F64", "C64", "BF16", "F16", "I64", ""};
  static constexpr std::uint64_t kItem[] = {4, 8, 8, 2, 2, 8, 1};
  const std::string name = in.ConsumeBool() ? kNames[in.ConsumeIntegralInRange(0, 4)] : "t" + std::to_string(index);
  const int dtype = in.ConsumeIntegralInRange(0, 6);
  const std::vector<std::uint64_t> shape = extents(in);
  std::uint64_t begin = cursor, end = 0;
  if (__builtin_add_overflow(begin, nbytes(shape, kItem[dtype]), &end)) end = ~0ull;
  if (in.ConsumeIntegralInRange(0, 7) == 7) begin = number(in), end = number(in);  // declared, not consistent
  cursor = end;
  const std::string shape_json = in.ConsumeIntegralInRange(0, 15) == 15 ? nested(in) : join(shape, "[", "]", false);
  std::string entry = "\"" + name + "\":{\"dtype\":\"" + kDtypes[dtype] + "\",\"shape\":" + shape_json +
                      ",\"data_offsets\":[" + std::to_string(begin) + "," + std::to_string(end) + "]";
  if (in.ConsumeIntegralInRange(0, 15) == 15) entry += ",\"extra\":" + nested(in);
  return entry + "}";
}

/// A .safetensors image: a JSON header of fuzzed entries, then a buffer of at most a few KiB.
Bytes safetensors_image(FuzzedDataProvider& in) {
  std::string json = "{";
  std::uint64_t cursor = 0;
  const int entries = in.ConsumeIntegralInRange(0, 5);
  for (int i = 0; i < entries; ++i) {
    if (i) json += ',';
    switch (in.ConsumeIntegralInRange(0, 7)) {
      case 0:
        json += "\"__metadata__\":{\"format\":\"pt\",\"k\":" + (in.ConsumeBool() ? nested(in) : "\"v\"") + "}";
        break;
      case 1:
        json += "\"n" + std::to_string(i) + "\":" + nested(in);
        break;
      default:
        json += tensor_entry(in, i, cursor);
    }
  }
  json += '}';
  const bool consistent = cursor <= 4096 && in.ConsumeBool();
  const std::size_t buffer = consistent ? cursor : in.ConsumeIntegralInRange<std::size_t>(0, 64);
  const std::uint64_t declared = in.ConsumeIntegralInRange(0, 15) == 15 ? number(in) : json.size();
  Bytes img(8);
  for (int i = 0; i < 8; ++i) img[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(declared >> (8 * i));
  img.insert(img.end(), json.begin(), json.end());
  const Bytes fill = in.ConsumeBytes<std::uint8_t>(buffer);
  img.insert(img.end(), fill.begin(), fill.end());
  img.resize(8 + json.size() + buffer, 0);
  return img;
}

/// An .npy image with a fuzzed version, descr, order and shape, and a data block of at most a few KiB.
Bytes npy_image(FuzzedDataProvider& in) {
  static constexpr const char* kDescr[] = {"<f4", "<f8", "<c8", "<c16", "<f2", "|f2",
                                           "=f8", "f4",  ">f4", "",     "<i8", "<"};
  static constexpr std::uint64_t kItem[] = {4, 8, 8, 16, 2, 2, 8, 4, 4, 1, 8, 1};
  const std::uint8_t major =
      in.ConsumeBool() ? in.ConsumeIntegralInRange<std::uint8_t>(1, 3) : in.ConsumeIntegral<std::uint8_t>();
  const int d = in.ConsumeIntegralInRange(0, 11);
  const std::vector<std::uint64_t> shape = extents(in);
  const char* order = in.ConsumeBool() ? "True" : "False";
  std::string header = std::string("{'descr': '") + kDescr[d] + "', 'fortran_order': " + order +
                       ", 'shape': " + join(shape, "(", ")", true) + ", }";
  const std::size_t pre = major == 1 ? 10 : 12;
  header.append((64 - (pre + header.size() + 1) % 64) % 64, ' ');
  header += '\n';
  Bytes img = {0x93, 'N', 'U', 'M', 'P', 'Y', major, 0};
  for (std::size_t i = 0; i < pre - 8; ++i) img.push_back(static_cast<std::uint8_t>(header.size() >> (8 * i)));
  img.insert(img.end(), header.begin(), header.end());
  const std::uint64_t exact = nbytes(shape, kItem[d]);
  const std::size_t data = exact <= 4096 && in.ConsumeBool() ? exact : in.ConsumeIntegralInRange<std::size_t>(0, 64);
  img.resize(img.size() + data, 0x3c);
  return img;
}

/// The accepted file written to disk, read back entry by entry and as one layer.
void check_file(const Bytes& img, const io::SafetensorsFile& f) {
  static const std::string path = "/tmp/monarch_fuzz_structured_" + std::to_string(::getpid()) + ".safetensors";
  std::FILE* out = std::fopen(path.c_str(), "wb");
  if (out == nullptr) return;  // no scratch space: nothing to check
  const bool written = std::fwrite(img.data(), 1, img.size(), out) == img.size();
  if (std::fclose(out) != 0 || !written) return;
  const io::SafetensorsReader reader(path);
  if (reader.entries().size() != f.tensors.size() || reader.metadata() != f.metadata) __builtin_trap();
  for (const auto& [name, t] : f.tensors) monarch::fuzz::require_same(reader.read(name), t);
  io::LoadOptions opt;
  opt.prefix = "layers.0.";
  opt.check_finite = true;
  try {
    (void)io::load_monarch_linear_weights<float>(path, opt);
  } catch (const monarch::Error&) {  // FormatError, ShapeError or ValueError, all documented
  }
  std::remove(path.c_str());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  if (in.ConsumeBool()) {
    const Bytes img = npy_image(in);
    monarch::fuzz::check_npy(img.data(), img.size());
  } else {
    const bool to_file = in.ConsumeIntegralInRange(0, 3) == 3;
    const Bytes img = safetensors_image(in);
    const auto f = monarch::fuzz::check_safetensors(img.data(), img.size());
    if (f && to_file) check_file(img, *f);
  }
  return 0;
}
