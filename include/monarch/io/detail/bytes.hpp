// monarch::io::detail: bounds- and overflow-checked byte handling shared by the .npy and
// .safetensors readers, whole-file reads and writes, and the half-precision decoders.
#pragma once

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <cstdio>
#include <fstream>
#include <random>
#include <limits>
#include <memory>
#include <ostream>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "../format_error.hpp"

// Tensor payloads are copied byte for byte; both formats store little-endian values.
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "monarch/io supports little-endian hosts only"
#endif

namespace monarch::io::detail {

using Bytes = std::vector<std::uint8_t>;

/// a*b into `out`; false on size_t overflow.
inline bool checked_mul(std::size_t a, std::size_t b, std::size_t& out) { return !__builtin_mul_overflow(a, b, &out); }
/// a+b into `out`; false on size_t overflow.
inline bool checked_add(std::size_t a, std::size_t b, std::size_t& out) { return !__builtin_add_overflow(a, b, &out); }

/// Little-endian unsigned integer of `n` bytes at p (the caller has checked the bounds).
inline std::uint64_t load_le(const std::uint8_t* p, int n) {
  std::uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

/// Appends the `n` low bytes of v, little-endian.
inline void store_le(Bytes& out, std::uint64_t v, int n) {
  for (int i = 0; i < n; ++i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}

/// The system's text for an errno value ("Permission denied"); streams only when a message is
/// formatted. errno 0 (a stream failed without a system error) reads "unknown reason".
struct SystemReason {
  int err;
};

inline std::ostream& operator<<(std::ostream& os, const SystemReason& r) {
  return os << (r.err != 0 ? std::generic_category().message(r.err) : std::string("unknown reason"));
}

/// A regular file opened for reading at any offset, so that a reader can fetch only the byte
/// ranges it needs. Errors are FormatError naming the path and the system's reason. Copies share
/// one stream: do not read through them from several threads at once.
class InputFile {
 public:
  explicit InputFile(std::string path) : path_(std::move(path)) {
    std::error_code ec;  // a directory opens as a stream on Linux but has no meaningful size
    const std::filesystem::file_status st = std::filesystem::status(path_, ec);
    require_format(!ec, path_, {}, "cannot open the file for reading: ", ec.message());
    require_format(std::filesystem::is_regular_file(st), path_, {},
                   "cannot open the file for reading: not a regular file");
    errno = 0;
    in_->open(path_, std::ios::binary | std::ios::ate);
    require_format(in_->is_open(), path_, {}, "cannot open the file for reading: ", SystemReason{errno});
    const std::streamoff end = in_->tellg();
    require_format(end >= 0, path_, {}, "cannot determine the file size: ", SystemReason{errno});
    size_ = static_cast<std::size_t>(end);
  }

  const std::string& path() const { return path_; }
  /// The size when the file was opened.
  std::size_t size() const { return size_; }

  /// Reads `n` bytes at `offset` into `dst`; FormatError if the read fails or the file ends first
  /// (it shrank since it was opened).
  void read(std::size_t offset, std::size_t n, std::uint8_t* dst) const {
    if (n == 0) return;
    in_->clear();
    errno = 0;
    in_->seekg(static_cast<std::streamoff>(offset));
    in_->read(reinterpret_cast<char*>(dst), static_cast<std::streamsize>(n));
    const int err = errno;
    if (static_cast<std::size_t>(in_->gcount()) == n) return;
    if (err != 0)
      throw FormatError(monarch::detail::concat(where(path_), "cannot read ", n, " bytes at offset ", offset, ": ",
                                                SystemReason{err}));
    throw FormatError(monarch::detail::concat(where(path_), "cannot read ", n, " bytes at offset ", offset,
                                              ": the file ended early (it changed after it was opened)"));
  }

 private:
  std::string path_;
  std::shared_ptr<std::ifstream> in_ = std::make_shared<std::ifstream>();
  std::size_t size_ = 0;
};

/// The whole file as bytes; FormatError naming the path and the reason if it cannot be read.
inline Bytes read_file(const std::string& path) {
  const InputFile file(path);
  Bytes bytes(file.size());
  file.read(0, bytes.size(), bytes.data());
  return bytes;
}

/// Writes `bytes` to `path` (replacing it); FormatError naming the path and the reason on failure.
/// Writes the whole file or nothing: the bytes go to a temporary file beside `path`, which is
/// renamed over it only once it is complete, so a failed or interrupted write never leaves a
/// half-written file at `path`.
inline void write_file(const std::string& path, const Bytes& bytes) {
  const std::string tmp = path + ".tmp" + std::to_string(std::random_device{}());
  errno = 0;
  std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
  require_format(static_cast<bool>(out), path, {}, "cannot open the file for writing: ", SystemReason{errno});
  errno = 0;
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  out.close();
  const int write_errno = errno;
  const bool written = static_cast<bool>(out) && std::rename(tmp.c_str(), path.c_str()) == 0;
  const int reason = static_cast<bool>(out) ? errno : write_errno;
  if (!written) std::remove(tmp.c_str());
  require_format(written, path, {}, "write error: ", SystemReason{reason});
}

/// IEEE binary16 -> binary32, exact (every half is a float), by moving the fields.
inline float half_to_float(std::uint16_t h) {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  std::uint32_t exp = (h >> 10) & 0x1fu;
  std::uint32_t mant = h & 0x3ffu;
  std::uint32_t bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (mant << 13);  // Inf / NaN (payload kept)
  } else if (exp != 0) {
    bits = sign | ((exp + 112u) << 23) | (mant << 13);  // rebias 15 -> 127
  } else if (mant == 0) {
    bits = sign;  // +-0
  } else {
    // Subnormal half: shift the mantissa up to an implicit leading 1, lowering the exponent.
    exp = 113u;
    while ((mant & 0x400u) == 0) {
      mant <<= 1;
      --exp;
    }
    bits = sign | (exp << 23) | ((mant & 0x3ffu) << 13);
  }
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

/// bfloat16 -> binary32, exact: bfloat16 is the upper half of a float.
inline float bfloat16_to_float(std::uint16_t b) {
  const std::uint32_t bits = static_cast<std::uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

}  // namespace monarch::io::detail
