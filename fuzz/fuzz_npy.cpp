// libFuzzer entry point for the .npy reader (monarch::io::read_npy_buffer). Documented
// exceptions (FormatError, and ValueError from check_finite) are expected on bad input; any
// other exception, a crash or a sanitizer report is a bug. Accepted inputs must round-trip.
#include <monarch/io.hpp>

#include <complex>
#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace io = monarch::io;
  try {
    const io::Tensor t = io::read_npy_buffer(data, size);
    (void)io::values<std::complex<double>>(t);
    const auto bytes = io::write_npy_buffer(t);
    const io::Tensor u = io::read_npy_buffer(bytes.data(), bytes.size());
    if (u.dtype != t.dtype || u.shape != t.shape || u.data != t.data) __builtin_trap();
    io::check_finite(t);
  } catch (const io::FormatError&) {
  } catch (const monarch::ValueError&) {
  }
  return 0;
}
