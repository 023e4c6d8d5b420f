// monarch: KernelOptions, a multiply's explicit choices of code path and tiling. The defaults let
// the plan decide from the shape, the batch, the executor and the machine; tests and benchmarks
// set fields to run a particular path or tile. Passed per call: there is no global switch.
#pragma once

#include "scalar.hpp"

namespace monarch {

/// Which implementation runs a Monarch multiply.
enum class KernelPath {
  automatic,  ///< the plan decides (the default)
  reference,  ///< per-row loops written straight from the definition
  portable,   ///< fused tiles, plain C++ lanes (always compiled)
  avx2,       ///< fused tiles, AVX2+FMA (only when compiled for it)
  avx512,     ///< fused tiles, AVX-512F (only when compiled for it)
};

inline const char* to_string(KernelPath p) {
  switch (p) {
    case KernelPath::automatic: return "automatic";
    case KernelPath::reference: return "reference";
    case KernelPath::portable: return "portable";
    case KernelPath::avx2: return "avx2";
    case KernelPath::avx512: return "avx512";
  }
  return "?";
}

/// Whether a multiply stores its output non-temporally (bypassing the caches).
enum class NonTemporal { automatic, off, on };

struct KernelOptions {
  /// A path not compiled into this program for the scalar falls back to the plan's choice.
  KernelPath path = KernelPath::automatic;
  /// Batch rows per fused tile; 0: the plan's. Any positive value gives the same results.
  Index batch_tile = 0;
  NonTemporal nontemporal = NonTemporal::automatic;
};

}  // namespace monarch
