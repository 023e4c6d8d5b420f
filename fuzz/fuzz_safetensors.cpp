// libFuzzer entry point for the .safetensors reader (monarch::io::read_safetensors_buffer).
// Documented exceptions (FormatError, and ValueError from check_finite) are expected on bad
// input; any other exception, a crash or a sanitizer report is a bug. Accepted inputs must
// round-trip through the writer.
#include <monarch/io.hpp>

#include <complex>
#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace io = monarch::io;
  try {
    const io::SafetensorsFile f = io::read_safetensors_buffer(data, size);
    for (const auto& kv : f.tensors) (void)io::values<std::complex<double>>(kv.second);
    const auto bytes = io::write_safetensors_buffer(f.tensors, f.metadata);
    const io::SafetensorsFile g = io::read_safetensors_buffer(bytes.data(), bytes.size());
    if (g.tensors.size() != f.tensors.size() || g.metadata != f.metadata) __builtin_trap();
    for (const auto& [name, t] : f.tensors) {
      const io::Tensor& u = g.tensors.at(name);
      if (u.dtype != t.dtype || u.shape != t.shape || u.data != t.data) __builtin_trap();
    }
    for (const auto& kv : f.tensors) io::check_finite(kv.second);
  } catch (const io::FormatError&) {
  } catch (const monarch::ValueError&) {
  }
  return 0;
}
