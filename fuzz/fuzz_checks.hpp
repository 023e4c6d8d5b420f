// The checks every fuzzer runs on one image. The reader either accepts it or throws FormatError;
// anything else, a crash or a sanitizer report is a bug. An accepted image must also convert
// (values), be accepted by the writer (the writers refuse only what the readers reject) and read
// back bit-exactly; check_finite may throw ValueError.
#pragma once

#include <complex>
#include <cstddef>
#include <cstdint>
#include <monarch/io.hpp>
#include <optional>

namespace monarch::fuzz {

namespace io = monarch::io;

/// Traps (a crash libFuzzer reports) unless a and b hold the same tensor.
inline void require_same(const io::Tensor& a, const io::Tensor& b) {
  if (a.dtype != b.dtype || a.shape != b.shape || a.data != b.data) __builtin_trap();
}

/// io::check_finite, whose ValueError is documented.
inline void finite_or_value_error(const io::Tensor& t) {
  try {
    io::check_finite(t);
  } catch (const monarch::ValueError&) {
  }
}

/// An .npy image through read_npy_buffer, values, the writer and the reader again.
inline void check_npy(const std::uint8_t* data, std::size_t size) {
  std::optional<io::Tensor> t;
  try {
    t = io::read_npy_buffer(data, size);
  } catch (const io::FormatError&) {
    return;
  }
  (void)io::values<std::complex<double>>(*t);
  const auto bytes = io::write_npy_buffer(*t);
  require_same(io::read_npy_buffer(bytes.data(), bytes.size()), *t);
  finite_or_value_error(*t);
}

/// A .safetensors image through read_safetensors_buffer, values, the writer and the reader again.
/// Returns the file if the reader accepted it.
inline std::optional<io::SafetensorsFile> check_safetensors(const std::uint8_t* data, std::size_t size) {
  std::optional<io::SafetensorsFile> f;
  try {
    f = io::read_safetensors_buffer(data, size);
  } catch (const io::FormatError&) {
    return f;
  }
  for (const auto& kv : f->tensors) (void)io::values<std::complex<double>>(kv.second);
  const auto bytes = io::write_safetensors_buffer(f->tensors, f->metadata);
  const io::SafetensorsFile g = io::read_safetensors_buffer(bytes.data(), bytes.size());
  if (g.tensors.size() != f->tensors.size() || g.metadata != f->metadata) __builtin_trap();
  for (const auto& [name, t] : f->tensors) require_same(g.tensors.at(name), t);
  for (const auto& kv : f->tensors) finite_or_value_error(kv.second);
  return f;
}

}  // namespace monarch::fuzz
