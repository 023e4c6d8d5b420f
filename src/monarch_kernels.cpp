// The multiply's kernels, compiled once for the project's tests, benchmarks and examples (the
// monarch_kernels target, which defines MONARCH_SEPARATE_KERNELS for its users). Consumers of the
// header-only library need not build this file; it may serve them the same way.
#include <monarch/monarch_matrix.hpp>

namespace monarch::detail {
MONARCH_DETAIL_FOR_EACH_SCALAR(MONARCH_DETAIL_MULTIPLY_INSTANCE)
}  // namespace monarch::detail
