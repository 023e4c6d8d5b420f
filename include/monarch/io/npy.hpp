// monarch::io: numpy .npy files (format versions 1.0, 2.0 and 3.0).
//
// Layout: the magic "\x93NUMPY", major and minor version bytes, the header length (2 bytes
// little-endian in 1.0, 4 bytes in 2.0/3.0), then the header: a Python dict literal such as
// {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), } padded with spaces and ending in
// '\n', then the raw data. Supported descr: '<f4', '<f8', '<c8', '<c16', '<f2' (byte-order marks
// '<', '=', '|' or none, all little-endian on the hosts we support); '>' (big-endian) and every
// other dtype are rejected with FormatError. fortran_order True is honoured: the data is
// reordered to row-major on load. The header dict is parsed strictly (exactly the three keys,
// each once, any order, optional trailing comma, any whitespace); the file must end right after
// the data.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "detail/bytes.hpp"
#include "format_error.hpp"
#include "tensor.hpp"

namespace monarch::io {
namespace detail {

/// The three fields of an .npy header.
struct NpyHeader {
  std::string descr;
  bool fortran_order = false;
  std::vector<Index> shape;
  bool has_descr = false, has_fortran_order = false, has_shape = false;
};

/// Recursive-descent parser for the header's Python dict literal: only the tokens numpy writes
/// (single- or double-quoted strings without escapes, True/False, non-negative integers, tuples).
class NpyHeaderParser {
 public:
  NpyHeaderParser(std::string_view text, std::string_view source) : text_(text), source_(source) {}

  NpyHeader parse() {
    NpyHeader h;
    skip_ws();
    expect('{');
    skip_ws();
    while (peek() != '}') {
      const std::string key = string_literal();
      skip_ws();
      expect(':');
      skip_ws();
      if (key == "descr") {
        fail_if(h.has_descr, "duplicate key 'descr'");
        h.descr = string_literal();
        h.has_descr = true;
      } else if (key == "fortran_order") {
        fail_if(h.has_fortran_order, "duplicate key 'fortran_order'");
        h.fortran_order = boolean();
        h.has_fortran_order = true;
      } else if (key == "shape") {
        fail_if(h.has_shape, "duplicate key 'shape'");
        h.shape = tuple();
        h.has_shape = true;
      } else {
        fail("unexpected key '" + key + "', expected only 'descr', 'fortran_order' and 'shape'");
      }
      skip_ws();
      if (peek() == ',') {
        ++pos_;
        skip_ws();
      } else if (peek() != '}') {
        fail("expected ',' or '}' after the value of '" + key + "'");
      }
    }
    ++pos_;
    skip_ws();  // numpy pads with spaces and a final '\n'
    fail_if(pos_ != text_.size(), "unexpected characters after the closing '}'");
    fail_if(!h.has_descr || !h.has_fortran_order || !h.has_shape,
            "the header must contain 'descr', 'fortran_order' and 'shape'");
    return h;
  }

 private:
  char peek() const { return pos_ < text_.size() ? text_[pos_] : '\0'; }
  [[noreturn]] void fail(std::string_view what) const {
    throw FormatError(monarch::detail::concat(where(source_), "malformed .npy header at byte ", pos_, ": ", what));
  }
  // A string_view, not a std::string: the checks run once per character and must not build text.
  void fail_if(bool bad, std::string_view what) const {
    if (bad) fail(what);
  }
  void skip_ws() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n' || text_[pos_] == '\r'))
      ++pos_;
  }
  void expect(char c) {
    if (peek() != c) fail(std::string("expected '") + c + "'");
    ++pos_;
  }
  std::string string_literal() {
    const char quote = peek();
    fail_if(quote != '\'' && quote != '"', "expected a quoted string");
    const std::size_t begin = ++pos_;
    while (pos_ < text_.size() && text_[pos_] != quote) {
      fail_if(text_[pos_] == '\\' || text_[pos_] == '\n', "unsupported character in a string");
      ++pos_;
    }
    fail_if(pos_ >= text_.size(), "unterminated string");
    return std::string(text_.substr(begin, pos_++ - begin));
  }
  bool word(std::string_view w) {
    if (text_.substr(pos_, w.size()) != w) return false;
    pos_ += w.size();
    return true;
  }
  bool boolean() {
    if (word("True")) return true;
    if (word("False")) return false;
    fail("expected True or False for 'fortran_order'");
  }
  Index integer() {
    fail_if(peek() < '0' || peek() > '9', "expected a non-negative integer in 'shape'");
    Index v = 0;
    while (peek() >= '0' && peek() <= '9') {
      fail_if(__builtin_mul_overflow(v, Index(10), &v) || __builtin_add_overflow(v, Index(peek() - '0'), &v),
              "extent in 'shape' overflows");
      ++pos_;
    }
    return v;
  }
  /// "()", "(n,)", "(n, m)", "(n, m,)": a one-element tuple needs its comma, as in Python.
  std::vector<Index> tuple() {
    std::vector<Index> shape;
    expect('(');
    skip_ws();
    bool comma = false;
    while (peek() != ')') {
      require_rank(shape.size() + 1, source_, {});
      shape.push_back(integer());
      skip_ws();
      comma = peek() == ',';
      if (comma) {
        ++pos_;
        skip_ws();
      } else {
        fail_if(peek() != ')', "expected ',' or ')' in 'shape'");
      }
    }
    fail_if(shape.size() == 1 && !comma, "a one-element 'shape' must be written (n,)");
    ++pos_;
    return shape;
  }

  std::string_view text_;
  std::string_view source_;
  std::size_t pos_ = 0;
};

/// The DType of an .npy descr, or FormatError naming what is supported.
inline DType npy_dtype(const std::string& descr, std::string_view source) {
  require_format(descr.empty() || descr[0] != '>', source, {}, "big-endian data ('", descr,
                 "') is not supported; save it little-endian, e.g. arr.astype(arr.dtype.newbyteorder('<'))");
  const bool marked = !descr.empty() && (descr[0] == '<' || descr[0] == '=' || descr[0] == '|');
  const std::string code = marked ? descr.substr(1) : descr;
  if (code == "f4") return DType::float32;
  if (code == "f8") return DType::float64;
  if (code == "c8") return DType::complex64;
  if (code == "c16") return DType::complex128;
  if (code == "f2") return DType::float16;
  throw FormatError(monarch::detail::concat(where(source), "unsupported dtype '", descr,
                                            "', expected one of '<f4', '<f8', '<c8', '<c16', '<f2'"));
}

inline const char* npy_descr(DType d, std::string_view source) {
  switch (d) {
    case DType::float32: return "<f4";
    case DType::float64: return "<f8";
    case DType::complex64: return "<c8";
    case DType::complex128: return "<c16";
    case DType::float16: return "<f2";
    case DType::bfloat16: break;
  }
  throw FormatError(monarch::detail::concat(where(source), "dtype ", dtype_name(d),
                                            " has no .npy equivalent; convert it to float32 first"));
}

/// Reorders column-major (Fortran) data of `shape` to row-major: element (i0..in-1) sits at
/// sum_j i_j * stride_j with stride_0 = 1 and stride_j = stride_{j-1} * shape[j-1].
inline Bytes fortran_to_c(const Bytes& src, const std::vector<Index>& shape, std::size_t item) {
  Bytes dst(src.size());
  const std::size_t nd = shape.size();
  std::vector<std::size_t> stride(nd), idx(nd, 0);
  std::size_t total = 1;
  for (std::size_t j = 0; j < nd; ++j) {
    stride[j] = total;
    total *= static_cast<std::size_t>(shape[j]);
  }
  std::size_t from = 0;  // column-major offset (in elements) of the current row-major index
  for (std::size_t to = 0; to < total; ++to) {
    std::memcpy(dst.data() + to * item, src.data() + from * item, item);
    for (std::size_t j = nd; j-- > 0;) {  // increment the row-major multi-index, last axis fastest
      if (++idx[j] < static_cast<std::size_t>(shape[j])) {
        from += stride[j];
        break;
      }
      from -= (idx[j] - 1) * stride[j];
      idx[j] = 0;
    }
  }
  return dst;
}

}  // namespace detail

/// Parses an .npy image held in memory. `source` names it in error messages; `name` becomes the
/// tensor's name. FormatError for anything malformed; never reads outside [data, data + size).
inline Tensor read_npy_buffer(const void* data, std::size_t size, std::string source = "<buffer>",
                              std::string name = "array") {
  const auto* p = static_cast<const std::uint8_t*>(data);
  const std::string_view src = source;
  static constexpr char kMagic[] = "\x93NUMPY";
  detail::require_format(size >= 10, src, {}, "file has ", size, " bytes, shorter than the 10-byte .npy preamble");
  detail::require_format(std::memcmp(p, kMagic, 6) == 0, src, {}, "not an .npy file (wrong magic; expected \\x93NUMPY)");
  const int major = p[6], minor = p[7];
  detail::require_format((major == 1 || major == 2 || major == 3) && minor == 0, src, {},
                         "unsupported .npy format version ", major, ".", minor, ", expected 1.0, 2.0 or 3.0");
  const int len_bytes = major == 1 ? 2 : 4;
  const std::size_t preamble = 8 + static_cast<std::size_t>(len_bytes);
  detail::require_format(size >= preamble, src, {}, "file has ", size, " bytes, shorter than the ", preamble,
                         "-byte preamble of format version ", major, ".0");
  const auto header_len = static_cast<std::size_t>(detail::load_le(p + 8, len_bytes));
  detail::require_format(header_len <= size - preamble, src, {}, "header length ", header_len,
                         " runs past the end of the file (", size - preamble, " bytes after the preamble)");
  const std::string_view text(reinterpret_cast<const char*>(p + preamble), header_len);
  const detail::NpyHeader h = detail::NpyHeaderParser(text, src).parse();

  Tensor t;
  t.dtype = detail::npy_dtype(h.descr, src);
  t.shape = h.shape;
  t.name = std::move(name);
  const std::size_t offset = preamble + header_len;
  const std::size_t nbytes = detail::checked_nbytes(t.shape, t.dtype, src, t.name);
  detail::require_format(nbytes == size - offset, src, t.name, "data of ", dtype_name(t.dtype), " ",
                         detail::ShapeText{t.shape}, " needs ", nbytes, " bytes, the file holds ", size - offset);
  t.data.assign(p + offset, p + size);
  if (h.fortran_order && t.shape.size() > 1) t.data = detail::fortran_to_c(t.data, t.shape, itemsize(t.dtype));
  t.source = std::move(source);
  return t;
}

/// Reads an .npy file; the tensor is named after the file stem (".../blkdiag1.npy" -> "blkdiag1").
inline Tensor read_npy(const std::string& path) {
  const detail::Bytes bytes = detail::read_file(path);
  std::string stem = path.substr(path.find_last_of('/') + 1);
  if (stem.size() > 4 && stem.compare(stem.size() - 4, 4, ".npy") == 0) stem.resize(stem.size() - 4);
  return read_npy_buffer(bytes.data(), bytes.size(), path, stem);
}

/// The .npy image of `t`: format version 1.0 when the header fits its 2-byte length, else 2.0;
/// C order; the preamble plus header padded with spaces to a multiple of 64 bytes, like numpy.
inline detail::Bytes write_npy_buffer(const Tensor& t) {
  detail::require_consistent(t);
  std::string header = monarch::detail::concat("{'descr': '", detail::npy_descr(t.dtype, detail::label(t)),
                                               "', 'fortran_order': False, 'shape': ", shape_string(t.shape), ", }");
  // Pad so that preamble + header (ending in '\n') is a multiple of 64.
  const auto padded = [&](std::size_t preamble) { return header.size() + 1 + (64 - (preamble + header.size() + 1) % 64) % 64; };
  const bool v1 = padded(10) <= 0xffff;
  const std::size_t header_len = padded(v1 ? 10 : 12);
  detail::require_format(header_len <= 0xffffffffu, detail::label(t), t.name, "header too long");
  header.resize(header_len - 1, ' ');
  header += '\n';
  detail::Bytes out = {0x93, 'N', 'U', 'M', 'P', 'Y', static_cast<std::uint8_t>(v1 ? 1 : 2), 0};
  detail::store_le(out, header.size(), v1 ? 2 : 4);
  out.insert(out.end(), header.begin(), header.end());
  out.insert(out.end(), t.data.begin(), t.data.end());
  return out;
}

/// Writes `t` to an .npy file (see write_npy_buffer); FormatError naming the path on failure.
inline void write_npy(const std::string& path, const Tensor& t) { detail::write_file(path, write_npy_buffer(t)); }

}  // namespace monarch::io
