// monarch: exception types.
//
// The library throws only for misuse detected at an API entry: a shape that does not fit
// (ShapeError) or an argument whose values are invalid (ValueError, e.g. non-finite input where
// the result would be meaningless). Numerical outcomes (an ill-conditioned factorization) are
// never thrown; they are reported in a result with a status.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace monarch {

/// Base of every exception the library throws.
class Error : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

/// A shape, size or stride that does not fit: the message names what was expected and what was
/// given, e.g. "Monarch::apply: X has 100 columns, expected cols() = 96".
class ShapeError : public Error {
 public:
  using Error::Error;
};

/// An argument with invalid values (not a permutation, non-finite entries, ...).
class ValueError : public Error {
 public:
  using Error::Error;
};

namespace detail {

template <class... Parts>
std::string concat(Parts&&... parts) {
  std::ostringstream os;
  (os << ... << std::forward<Parts>(parts));
  return os.str();
}

/// Throws ShapeError with the concatenated message unless `ok`.
template <class... Parts>
void require_shape(bool ok, Parts&&... parts) {
  if (!ok) throw ShapeError(concat(std::forward<Parts>(parts)...));
}

/// Throws ValueError with the concatenated message unless `ok`.
template <class... Parts>
void require_value(bool ok, Parts&&... parts) {
  if (!ok) throw ValueError(concat(std::forward<Parts>(parts)...));
}

}  // namespace detail
}  // namespace monarch
