// monarch/io: optional checkpoint I/O (.npy, .safetensors, MonarchLinear state_dicts).
// Not part of the core umbrella monarch.hpp: it needs nlohmann-json (CMake target monarch::io).
#pragma once

#include "io/checkpoint.hpp"    // IWYU pragma: export
#include "io/format_error.hpp"  // IWYU pragma: export
#include "io/npy.hpp"           // IWYU pragma: export
#include "io/safetensors.hpp"   // IWYU pragma: export
#include "io/tensor.hpp"        // IWYU pragma: export
