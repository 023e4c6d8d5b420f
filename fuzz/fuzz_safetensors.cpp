// libFuzzer entry point for the .safetensors reader (monarch::io::read_safetensors_buffer): the
// input is the file's bytes. See fuzz_checks.hpp for what counts as a bug.
#include <cstddef>
#include <cstdint>

#include "fuzz_checks.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  (void)monarch::fuzz::check_safetensors(data, size);
  return 0;
}
