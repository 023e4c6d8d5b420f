// libFuzzer entry point for the .npy reader (monarch::io::read_npy_buffer): the input is the
// file's bytes. See fuzz_checks.hpp for what counts as a bug.
#include <cstddef>
#include <cstdint>

#include "fuzz_checks.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  monarch::fuzz::check_npy(data, size);
  return 0;
}
