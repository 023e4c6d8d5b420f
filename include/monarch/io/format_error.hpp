// monarch::io: the exception thrown for unreadable or malformed checkpoint files.
#pragma once

#include <string>
#include <string_view>
#include <utility>

#include "../errors.hpp"

namespace monarch::io {

/// A file or byte buffer that cannot be read as the format claimed: it cannot be opened,
/// is truncated, has a wrong magic, a header that does not parse, offsets out of range, an
/// unsupported dtype, ... The message names the source (a path, or "<buffer>"), the tensor when
/// one is concerned, and what was expected versus given. Shape mismatches against a layer are
/// monarch::ShapeError and non-finite weights monarch::ValueError, as in the core.
class FormatError : public Error {
 public:
  using Error::Error;
};

namespace detail {

/// "monarch::io: <source>[: tensor '<name>']: " -- the prefix every io message starts with.
inline std::string where(std::string_view source, std::string_view tensor = {}) {
  std::string s = "monarch::io: ";
  s += source;
  if (!tensor.empty()) {
    s += ": tensor '";
    s += tensor;
    s += '\'';
  }
  s += ": ";
  return s;
}

/// Throws E "<where>: <parts...>" unless `ok`. The message, prefix included, is built only on
/// failure; pass parts that format lazily (e.g. ShapeText, not shape_string()) so that a passing
/// check costs nothing, even inside a loop.
template <class E, class... Parts>
void require_in(bool ok, std::string_view source, std::string_view tensor, Parts&&... parts) {
  if (!ok) throw E(monarch::detail::concat(where(source, tensor), std::forward<Parts>(parts)...));
}

/// Throws FormatError "<where>: <parts...>" unless `ok`.
template <class... Parts>
void require_format(bool ok, std::string_view source, std::string_view tensor, Parts&&... parts) {
  require_in<FormatError>(ok, source, tensor, std::forward<Parts>(parts)...);
}

}  // namespace detail
}  // namespace monarch::io
