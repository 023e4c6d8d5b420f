// Helpers for the checkpoint I/O suites: a scratch directory, byte images built by hand from
// the format specifications (independent of monarch::io's writers), independent bit-level
// decoders for float16 / bfloat16, and an assertion on an exception's type and message.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include <unistd.h>

namespace monarch::test {

using Bytes = std::vector<std::uint8_t>;

/// A fresh directory under the system temp dir, removed on destruction.
class ScratchDir {
 public:
  explicit ScratchDir(const std::string& tag)
      : path_(std::filesystem::temp_directory_path() /
              ("monarch_io_" + tag + "_" + std::to_string(::getpid()))) {
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

inline void write_bytes(const std::string& path, const Bytes& b) {
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

/// Writes the n low bytes of v, little-endian, at dst.
inline void put_le(std::uint8_t* dst, std::uint64_t v, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) dst[i] = static_cast<std::uint8_t>((v >> (8 * i)) & 0xff);
}

/// prefix + text + data in one buffer sized up front (GCC 12 at -O3 -march=znver3 reports a false
/// -Wstringop-overflow on a chain of vector push_back/insert here).
inline Bytes concat_image(const Bytes& prefix, const std::string& text, const Bytes& data) {
  Bytes out(prefix.size() + text.size() + data.size());
  std::copy(prefix.begin(), prefix.end(), out.begin());
  std::copy(text.begin(), text.end(), out.begin() + static_cast<std::ptrdiff_t>(prefix.size()));
  std::copy(data.begin(), data.end(), out.begin() + static_cast<std::ptrdiff_t>(prefix.size() + text.size()));
  return out;
}

/// The raw little-endian bytes of an array of T (memcpy; the suites run on little-endian hosts).
template <class T>
Bytes raw_bytes(const std::vector<T>& v) {
  Bytes b(v.size() * sizeof(T));
  if (!v.empty()) std::memcpy(b.data(), v.data(), b.size());
  return b;
}

/// An .npy image from the NEP 1 layout: "\x93NUMPY", major, minor = 0, header length (2 bytes
/// LE for 1.0, 4 bytes for 2.0 / 3.0), the header text verbatim, the data.
inline Bytes npy_image(int major, const std::string& header, const Bytes& data) {
  Bytes prefix = {0x93, 'N', 'U', 'M', 'P', 'Y', static_cast<std::uint8_t>(major), 0, 0, 0, 0, 0};
  const std::size_t len_bytes = major == 1 ? 2 : 4;
  prefix.resize(8 + len_bytes);
  put_le(prefix.data() + 8, header.size(), len_bytes);
  return concat_image(prefix, header, data);
}

/// A .safetensors image: 8-byte LE header length, the JSON text verbatim, the byte buffer.
inline Bytes safetensors_image(const std::string& json, const Bytes& buffer) {
  Bytes prefix(8);
  put_le(prefix.data(), json.size(), 8);
  return concat_image(prefix, json, buffer);
}

/// Value of a 16-bit binary float with `exp_bits` exponent and `mant_bits` mantissa bits,
/// computed from its fields with ldexp (independent of the library's bit moves): exponent 0 is
/// subnormal m * 2^(1 - bias - mant_bits), all ones is Inf/NaN, else (2^mant_bits + m) *
/// 2^(e - bias - mant_bits).
inline float reference_float16(std::uint16_t bits, int exp_bits, int mant_bits) {
  const int bias = (1 << (exp_bits - 1)) - 1, emax = (1 << exp_bits) - 1;
  const int e = (bits >> mant_bits) & emax, m = bits & ((1 << mant_bits) - 1);
  const double sign = (bits & 0x8000) ? -1.0 : 1.0;
  if (e == emax) return m ? std::numeric_limits<float>::quiet_NaN() : static_cast<float>(sign * INFINITY);
  const double mag = e == 0 ? std::ldexp(m, 1 - bias - mant_bits) : std::ldexp((1 << mant_bits) + m, e - bias - mant_bits);
  return static_cast<float>(sign * mag);
}
/// IEEE binary16: 5 exponent bits (bias 15), 10 mantissa bits.
inline float reference_half(std::uint16_t h) { return reference_float16(h, 5, 10); }
/// bfloat16: 8 exponent bits (bias 127), 7 mantissa bits.
inline float reference_bfloat16(std::uint16_t b) { return reference_float16(b, 8, 7); }

/// Same value, NaN matching NaN, and the sign of zero respected.
inline bool same_float(float a, float b) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
  return a == b && std::signbit(a) == std::signbit(b);
}

/// The message of the E that f() throws; a test failure (and "") if it throws nothing or another type.
template <class E, class F>
std::string error_message(F&& f) {
  try {
    f();
    ADD_FAILURE() << "expected an exception, none was thrown";
  } catch (const E& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "wrong exception type: " << e.what();
  }
  return {};
}

/// Asserts that f() throws exactly-or-derived E and that the message contains every part.
template <class E, class F>
void expect_error(F&& f, std::initializer_list<std::string> parts) {
  const std::string msg = error_message<E>(std::forward<F>(f));
  if (msg.empty()) return;  // the failure is reported
  for (const auto& part : parts)
    EXPECT_NE(msg.find(part), std::string::npos) << "message lacks '" << part << "': " << msg;
}

/// The C library's text for an errno value ("No such file or directory").
inline std::string errno_text(int err) { return std::strerror(err); }

/// A shape of `rank` extents of 1 as JSON ("[1,1,...]") or as a Python tuple ("(1, 1, ...,)").
inline std::string ones_json(std::size_t rank) {
  std::string s = "[";
  for (std::size_t i = 0; i < rank; ++i) s += i ? ",1" : "1";
  return s + "]";
}
inline std::string ones_tuple(std::size_t rank) {
  std::string s = "(";
  for (std::size_t i = 0; i < rank; ++i) s += "1, ";
  return s + ")";
}

}  // namespace monarch::test
