# Settings for monarch's own tests, benchmarks and examples (never for consumers).
#   MONARCH_ARCH       native | generic | none : -march=native, or the portable x86-64 baseline
#   MONARCH_SANITIZE   ON: AddressSanitizer + UndefinedBehaviorSanitizer
#   MONARCH_WERROR     ON: warnings are errors
set(MONARCH_ARCH "native" CACHE STRING "Target ISA for tests/bench/examples: native, generic or none")
set_property(CACHE MONARCH_ARCH PROPERTY STRINGS native generic none)
option(MONARCH_SANITIZE "Build tests with AddressSanitizer and UndefinedBehaviorSanitizer" OFF)
option(MONARCH_WERROR "Treat warnings as errors" OFF)

add_library(monarch_dev_flags INTERFACE)
target_compile_options(monarch_dev_flags INTERFACE -Wall -Wextra -Wpedantic $<$<BOOL:${MONARCH_WERROR}>:-Werror>)
# GCC 12's AVX-512 intrinsic headers self-initialise `__Y = __Y` in _mm512_undefined_ps, which
# -Wmaybe-uninitialized reports wherever Eigen's AVX-512 complex kernels inline it (GCC PR 105593,
# fixed in GCC 13). The warning is in the compiler's header, not in code we can change.
# Depending on inlining (ASan, Eigen's complex SVD) the same shows up as -Wuninitialized.
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
  target_compile_options(monarch_dev_flags INTERFACE -Wno-maybe-uninitialized -Wno-uninitialized)
endif()
if(MONARCH_ARCH STREQUAL "native")
  target_compile_options(monarch_dev_flags INTERFACE -march=native)
elseif(MONARCH_ARCH STREQUAL "generic")
  target_compile_options(monarch_dev_flags INTERFACE -march=x86-64 -mtune=generic)
endif()
if(MONARCH_SANITIZE)
  target_compile_options(monarch_dev_flags INTERFACE -fsanitize=address,undefined -fno-sanitize-recover=all
                                                     -fno-omit-frame-pointer)
  target_link_options(monarch_dev_flags INTERFACE -fsanitize=address,undefined)
endif()
target_link_libraries(monarch_dev_flags INTERFACE monarch::monarch)

# The multiply's kernels, compiled once per build with the same flags (src/monarch_kernels.cpp);
# every test, benchmark and example links this instead of compiling the kernels itself.
add_library(monarch_kernels STATIC ${PROJECT_SOURCE_DIR}/src/monarch_kernels.cpp)
target_link_libraries(monarch_kernels PUBLIC monarch_dev_flags)
target_compile_definitions(monarch_kernels PUBLIC MONARCH_SEPARATE_KERNELS)
