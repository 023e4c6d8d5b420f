// monarch::io: Tensor, an n-dimensional array as checkpoint files store it, and its conversions
// to and from Eigen matrices, vectors and BlockDiagonal<T>.
//
// A Tensor keeps the file's dtype and its raw little-endian, row-major (C order) bytes, so a
// load -> save round trip is bit-exact for every dtype, including bfloat16 and float16, which
// are decoded only when converted to a library scalar.
#pragma once

#include <Eigen/Core>
#include <cmath>
#include <complex>
#include <cstdint>
#include <cstring>
#include <ostream>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "../block_diagonal.hpp"
#include "../errors.hpp"
#include "../scalar.hpp"
#include "detail/bytes.hpp"
#include "format_error.hpp"

namespace monarch::io {

/// Element types a Tensor can hold (all little-endian in files).
enum class DType { float32, float64, complex64, complex128, bfloat16, float16 };

/// Bytes per element.
constexpr std::size_t itemsize(DType d) {
  switch (d) {
    case DType::float32: return 4;
    case DType::float64: return 8;
    case DType::complex64: return 8;
    case DType::complex128: return 16;
    case DType::bfloat16:
    case DType::float16: return 2;
  }
  return 0;
}

constexpr bool is_complex_dtype(DType d) { return d == DType::complex64 || d == DType::complex128; }

/// numpy-style name, for messages: "float32", "bfloat16", ...
constexpr const char* dtype_name(DType d) {
  switch (d) {
    case DType::float32: return "float32";
    case DType::float64: return "float64";
    case DType::complex64: return "complex64";
    case DType::complex128: return "complex128";
    case DType::bfloat16: return "bfloat16";
    case DType::float16: return "float16";
  }
  return "?";
}

/// The DType that stores a library scalar T exactly.
template <class T>
constexpr DType dtype_of() {
  monarch::detail::static_assert_scalar<T>();
  if constexpr (std::is_same_v<T, float>) return DType::float32;
  else if constexpr (std::is_same_v<T, double>) return DType::float64;
  else if constexpr (std::is_same_v<T, std::complex<float>>) return DType::complex64;
  else return DType::complex128;
}

/// Most dimensions a tensor may have: the readers reject more, and the writers refuse to write
/// what the readers would reject. numpy's own limit (NPY_MAXDIMS since numpy 2.0).
inline constexpr std::size_t kMaxRank = 64;

namespace detail {

/// Streams a shape as "(2, 3, 4)" when a message is formatted: checks pass it instead of a
/// string so that a passing check does not format the shape.
struct ShapeText {
  const std::vector<Index>& shape;
};

inline std::ostream& operator<<(std::ostream& os, const ShapeText& s) {
  os << '(';
  for (std::size_t i = 0; i < s.shape.size(); ++i) os << (i ? ", " : "") << s.shape[i];
  return os << (s.shape.size() == 1 ? ",)" : ")");
}

}  // namespace detail

/// "(2, 3, 4)"
inline std::string shape_string(const std::vector<Index>& shape) {
  return monarch::detail::concat(detail::ShapeText{shape});
}

struct Tensor {
  DType dtype = DType::float32;
  std::vector<Index> shape;  ///< empty: a scalar (one element)
  detail::Bytes data;        ///< numel() * itemsize(dtype) bytes, little-endian, row-major
  std::string name;          ///< the tensor's name in its file (npy: the file stem); for messages
  std::string source;        ///< the path it was read from, or "<buffer>"; for messages

  /// Product of the extents (1 for a scalar). Readers guarantee it does not overflow.
  Index numel() const {
    Index n = 1;
    for (Index e : shape) n *= e;
    return n;
  }
  Index ndim() const { return static_cast<Index>(shape.size()); }

  /// A tensor of the given shape holding a copy of numel values of a library scalar T.
  template <class T>
  static Tensor from_values(std::vector<Index> shape, const T* values, std::string name = {}) {
    Tensor t;
    t.dtype = dtype_of<T>();
    t.shape = std::move(shape);
    t.name = std::move(name);
    const auto n = static_cast<std::size_t>(t.numel());
    t.data.resize(n * sizeof(T));
    // Test the pointer itself, not only n: an empty std::vector's data() may be null, and GCC's
    // -Wnonnull cannot always see that n == 0 guards the copy.
    monarch::detail::require_value(n == 0 || values != nullptr, "Tensor::from_values: null values for ", n,
                                   " elements");
    if (n != 0 && values != nullptr) std::memcpy(t.data.data(), values, n * sizeof(T));
    return t;
  }
};

namespace detail {

inline std::string_view label(const Tensor& t) { return t.source.empty() ? std::string_view("<memory>") : t.source; }

/// Checks that `t` has `ndim` dimensions; ShapeError naming the tensor otherwise.
inline void require_ndim(const Tensor& t, Index ndim) {
  require_in<ShapeError>(t.ndim() == ndim, label(t), t.name, "expected a ", ndim, "-D tensor, given ", t.ndim(),
                         "-D with shape ", ShapeText{t.shape});
}

/// FormatError unless a shape has at most kMaxRank dimensions; the one message for the readers
/// (which stop reading a shape at the first extent past the limit) and the writers.
inline void require_rank(std::size_t rank, std::string_view source, std::string_view tensor) {
  require_format(rank <= kMaxRank, source, tensor, "'shape' has more than ", kMaxRank, " dimensions (the limit)");
}

/// The byte size of a `dtype` tensor of `shape`, checked as every reader and writer needs it: at
/// most kMaxRank dimensions, no negative extent, and every partial product of the extents within
/// Index (so that Tensor::numel() cannot overflow either) and the byte count within size_t.
/// FormatError naming `source` and `tensor` otherwise; the message is formatted once, on failure.
inline std::size_t checked_nbytes(const std::vector<Index>& shape, DType dtype, std::string_view source,
                                  std::string_view tensor) {
  require_rank(shape.size(), source, tensor);
  bool negative = false, fits = true;
  std::size_t numel = 1, nbytes = 0;
  for (Index e : shape) {
    negative = negative || e < 0;
    fits = fits && !negative && checked_mul(numel, static_cast<std::size_t>(e), numel) &&
           numel <= static_cast<std::size_t>(PTRDIFF_MAX);
  }
  require_format(!negative, source, tensor, "invalid shape ", ShapeText{shape}, ": negative extent");
  require_format(fits && checked_mul(numel, itemsize(dtype), nbytes), source, tensor, "shape ", ShapeText{shape},
                 " overflows");
  return nbytes;
}

/// Calls f(c, x) for every real component c of the flat data (two per complex element: real
/// part at 2i, imaginary part at 2i+1), with x decoded to double (exact for every dtype).
template <class F>
void for_each_component(const Tensor& t, F&& f) {
  const std::uint8_t* p = t.data.data();
  const std::size_t n = static_cast<std::size_t>(t.numel()) * (is_complex_dtype(t.dtype) ? 2 : 1);
  for (std::size_t c = 0; c < n; ++c) {
    double x = 0;
    switch (t.dtype) {
      case DType::float32:
      case DType::complex64: {
        float v;
        std::memcpy(&v, p + 4 * c, 4);
        x = v;
        break;
      }
      case DType::float64:
      case DType::complex128: std::memcpy(&x, p + 8 * c, 8); break;
      case DType::bfloat16: x = bfloat16_to_float(static_cast<std::uint16_t>(load_le(p + 2 * c, 2))); break;
      case DType::float16: x = half_to_float(static_cast<std::uint16_t>(load_le(p + 2 * c, 2))); break;
    }
    f(c, x);
  }
}

/// FormatError unless the shape is valid (checked_nbytes) and the byte count matches it (readers
/// guarantee both; hand-made Tensors may not).
inline void require_consistent(const Tensor& t) {
  const std::size_t bytes = checked_nbytes(t.shape, t.dtype, label(t), t.name);
  require_format(bytes == t.data.size(), label(t), t.name, "holds ", t.data.size(),
                 " bytes, expected numel * itemsize = ", bytes, " for ", dtype_name(t.dtype), " ", ShapeText{t.shape});
}

}  // namespace detail

/// The tensor's values converted to T, flat in row-major order.
/// Rules: any real dtype converts to float or double (float64 -> float rounds to nearest;
/// bfloat16/float16 decode exactly); real dtypes load into complex T with zero imaginary part;
/// complex dtypes load only into complex T (FormatError for a real T: the imaginary part would
/// be dropped silently).
template <class T>
std::vector<T> values(const Tensor& t) {
  monarch::detail::static_assert_scalar<T>();
  detail::require_consistent(t);
  detail::require_format(is_complex_v<T> || !is_complex_dtype(t.dtype), detail::label(t), t.name, "dtype ",
                         dtype_name(t.dtype), " cannot be loaded into a real scalar type; load it as std::complex");
  const auto n = static_cast<std::size_t>(t.numel());
  std::vector<T> out(n);
  using R = real_t<T>;
  if (t.dtype == dtype_of<T>()) {  // same type: the bytes are the values
    if (n) std::memcpy(out.data(), t.data.data(), n * sizeof(T));
  } else if (is_complex_dtype(t.dtype)) {  // complex -> complex: part by part
    R* parts = reinterpret_cast<R*>(out.data());  // std::complex<R> is array-compatible with R[2]
    detail::for_each_component(t, [&](std::size_t c, double x) { parts[c] = static_cast<R>(x); });
  } else {
    detail::for_each_component(t, [&](std::size_t i, double x) { out[i] = T(static_cast<R>(x)); });
  }
  return out;
}

/// ValueError naming the tensor and the first offending element unless every value is finite.
inline void check_finite(const Tensor& t) {
  detail::require_consistent(t);
  const std::size_t per = is_complex_dtype(t.dtype) ? 2 : 1;
  std::size_t bad = SIZE_MAX;
  double bad_value = 0;
  detail::for_each_component(t, [&](std::size_t c, double x) {
    if (bad == SIZE_MAX && !std::isfinite(x)) {
      bad = c / per;
      bad_value = x;
    }
  });
  detail::require_in<ValueError>(bad == SIZE_MAX, detail::label(t), t.name, "non-finite value ", bad_value,
                                 " at flat index ", bad, " (shape ", detail::ShapeText{t.shape}, ")");
}

/// A 2-D tensor as a row-major Eigen matrix of T (conversion rules of values()).
template <class T>
Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> to_matrix(const Tensor& t) {
  detail::require_ndim(t, 2);
  const std::vector<T> v = values<T>(t);
  return Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(v.data(), t.shape[0],
                                                                                             t.shape[1]);
}

/// A 1-D tensor as an Eigen column vector of T (e.g. a bias).
template <class T>
Eigen::Matrix<T, Eigen::Dynamic, 1> to_vector(const Tensor& t) {
  detail::require_ndim(t, 1);
  const std::vector<T> v = values<T>(t);
  return Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, 1>>(v.data(), t.shape[0]);
}

/// A 3-D tensor (nblocks, block_rows, block_cols) as BlockDiagonal<T>: the authors' w1/w2 layout.
template <class T>
BlockDiagonal<T> to_block_diagonal(const Tensor& t) {
  detail::require_ndim(t, 3);
  detail::require_in<ShapeError>(t.shape[0] > 0 && t.shape[1] > 0 && t.shape[2] > 0, detail::label(t), t.name,
                                 "every extent of a block-diagonal factor must be positive, given shape ",
                                 detail::ShapeText{t.shape});
  const std::vector<T> v = values<T>(t);
  return BlockDiagonal<T>::from_data(t.shape[0], t.shape[1], t.shape[2], v.data());
}

/// A 2-D tensor (rows, cols) holding any Eigen matrix expression, in row-major order.
template <class Derived>
Tensor from_matrix(const Eigen::MatrixBase<Derived>& m, std::string name = {}) {
  using T = typename Derived::Scalar;
  const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> rm = m;
  return Tensor::from_values<T>({rm.rows(), rm.cols()}, rm.data(), std::move(name));
}

/// A 1-D tensor holding an Eigen vector (row or column); ShapeError for a matrix.
template <class Derived>
Tensor from_vector(const Eigen::MatrixBase<Derived>& v, std::string name = {}) {
  using T = typename Derived::Scalar;
  monarch::detail::require_shape(v.rows() == 1 || v.cols() == 1, "monarch::io::from_vector: expected a vector, given ",
                                 v.rows(), "x", v.cols());
  const Eigen::Matrix<T, Eigen::Dynamic, 1> c = v.reshaped();
  return Tensor::from_values<T>({c.size()}, c.data(), std::move(name));
}

/// A 3-D tensor (nblocks, block_rows, block_cols) holding a factor's storage.
template <class T>
Tensor from_block_diagonal(const BlockDiagonal<T>& w, std::string name = {}) {
  return Tensor::from_values<T>({w.nblocks(), w.block_rows(), w.block_cols()}, w.data(), std::move(name));
}

}  // namespace monarch::io
