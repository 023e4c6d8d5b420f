// monarch: Monarch structured matrices (Dao et al., ICML 2022). Umbrella header.
#pragma once

#include "block_diagonal.hpp"  // IWYU pragma: export
#include "errors.hpp"          // IWYU pragma: export
#include "execution.hpp"       // IWYU pragma: export
#include "factorize.hpp"       // IWYU pragma: export
#include "kernel_options.hpp"  // IWYU pragma: export
#include "gradient.hpp"        // IWYU pragma: export
#include "linear.hpp"          // IWYU pragma: export
#include "mm_star.hpp"         // IWYU pragma: export
#include "monarch_matrix.hpp"  // IWYU pragma: export
#include "permutation.hpp"     // IWYU pragma: export
#include "project.hpp"         // IWYU pragma: export
#include "scalar.hpp"          // IWYU pragma: export
#include "shape.hpp"           // IWYU pragma: export
#include "status.hpp"          // IWYU pragma: export
#include "transforms.hpp"      // IWYU pragma: export
#include "view.hpp"            // IWYU pragma: export
#include "workspace.hpp"       // IWYU pragma: export
