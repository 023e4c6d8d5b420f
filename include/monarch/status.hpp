// monarch: the outcome of a numerical computation, reported in its result (never thrown, never
// silent), like Eigen's ComputationInfo. Misuse (a shape that does not fit, non-finite input) is
// not a status: it throws ShapeError / ValueError at the API entry (errors.hpp).
#pragma once

#include <ostream>

namespace monarch {

enum class Status {
  success,          ///< the result meets the documented accuracy check
  numerical_issue,  ///< the input violates the algorithm's assumptions (singular, not separable, ...)
  no_convergence,   ///< an iterative kernel (e.g. an eigensolver) did not converge
  invalid_input,    ///< the values are valid but outside what the algorithm can represent
};

/// "success", "numerical_issue", "no_convergence" or "invalid_input".
constexpr const char* to_string(Status s) {
  switch (s) {
    case Status::success:
      return "success";
    case Status::numerical_issue:
      return "numerical_issue";
    case Status::no_convergence:
      return "no_convergence";
    case Status::invalid_input:
      return "invalid_input";
  }
  return "unknown";
}

inline std::ostream& operator<<(std::ostream& os, Status s) { return os << to_string(s); }

}  // namespace monarch
