// monarch::io: the authors' MonarchLinear state_dict (tensors blkdiag1, blkdiag2, bias) as a
// directory of .npy files or one .safetensors file.
//
//   blkdiag1 : (k, q, p)   w1, the paper's R (docs/math.md §2.1)
//   blkdiag2 : (l, s, r)   w2, the paper's L, with k*q == l*r
//   bias     : (out_features,), optional
#pragma once

#include <Eigen/Core>
#include <filesystem>
#include <optional>
#include <string>

#include "../block_diagonal.hpp"
#include "../errors.hpp"
#include "../shape.hpp"
#include "npy.hpp"
#include "safetensors.hpp"
#include "tensor.hpp"

namespace monarch::io {

template <class T>
struct MonarchLinearWeights {
  BlockDiagonal<T> blkdiag1;  ///< w1 (k, q, p)
  BlockDiagonal<T> blkdiag2;  ///< w2 (l, s, r)
  std::optional<Eigen::Matrix<T, Eigen::Dynamic, 1>> bias;

  /// The Monarch shape (k,q,p | l,s,r) of the two factors.
  Shape shape() const {
    return Shape{blkdiag1.nblocks(), blkdiag1.block_rows(), blkdiag1.block_cols(),
                 blkdiag2.nblocks(), blkdiag2.block_rows(), blkdiag2.block_cols()};
  }
};

enum class CheckpointFormat {
  npy_directory,  ///< DIR/<prefix>blkdiag1.npy, DIR/<prefix>blkdiag2.npy, DIR/<prefix>bias.npy
  safetensors,    ///< one file with tensors <prefix>blkdiag1, <prefix>blkdiag2, <prefix>bias
};

struct LoadOptions {
  /// Prepended to each tensor name, e.g. "layers.0.mlp." for one layer of a larger state_dict
  /// ("layers.0.mlp.blkdiag1"); for a directory it prefixes the file names.
  std::string prefix;
  /// Throw monarch::ValueError naming the tensor if any weight is NaN or infinite.
  bool check_finite = false;
  /// If set, the factors must have exactly this shape (ShapeError otherwise).
  std::optional<Shape> expected_shape;
  /// If set, the bias (when present) must have this length (ShapeError otherwise).
  std::optional<Index> expected_out_features;
};

namespace detail {

/// Loads the tensor `name` if present: one of the directory's files, or an entry of the file
/// (reading only that entry's bytes, not the whole file).
struct CheckpointSource {
  std::string path;
  std::optional<SafetensorsReader> file;  // empty for a directory of .npy files

  explicit CheckpointSource(const std::string& p) : path(p) {
    namespace fs = std::filesystem;
    std::error_code ec;
    const fs::file_status st = fs::status(p, ec);
    require_format(!ec, p, {}, "cannot open: ", ec.message());
    if (!fs::is_directory(st)) file.emplace(p);
  }
  std::string npy_path(const std::string& name) const { return (std::filesystem::path(path) / (name + ".npy")).string(); }
  bool contains(const std::string& name) const {
    std::error_code ec;
    return file ? file->contains(name) : std::filesystem::exists(npy_path(name), ec);
  }
  Tensor get(const std::string& name) const {
    if (file) return file->read(name);
    require_format(contains(name), path, name, "missing file ", npy_path(name));
    return read_npy(npy_path(name));
  }
};

}  // namespace detail

/// Loads MonarchLinear weights from `path`: a directory holding blkdiag1.npy, blkdiag2.npy and
/// optionally bias.npy, or a .safetensors file holding tensors of those names (each name
/// preceded by options.prefix). Dtype conversion follows values(): float32/float64/bfloat16/
/// float16 files load into float or double (and into complex T with zero imaginary part);
/// complex files load only into complex T.
/// Throws FormatError (unreadable or malformed file, missing tensor, complex into real),
/// ShapeError (factors not 3-D, extents not positive, k*q != l*r, bias not 1-D or longer than
/// l*s, or not the expected shape), ValueError (non-finite weights when check_finite is set).
template <class T>
MonarchLinearWeights<T> load_monarch_linear_weights(const std::string& path, const LoadOptions& options = {}) {
  const detail::CheckpointSource src(path);
  const auto load = [&](const char* name) {
    Tensor t = src.get(options.prefix + name);
    if (options.check_finite) check_finite(t);
    return t;
  };
  MonarchLinearWeights<T> w{to_block_diagonal<T>(load("blkdiag1")), to_block_diagonal<T>(load("blkdiag2")), {}};
  const Shape sh = w.shape();
  const std::string where = detail::where(path);
  sh.validate((where + options.prefix + "blkdiag1/blkdiag2").c_str());
  if (options.expected_shape)
    monarch::detail::require_shape(sh == *options.expected_shape, where, "factor shapes ", sh,
                                   " do not match the layer's ", *options.expected_shape);
  if (src.contains(options.prefix + "bias")) {
    w.bias = to_vector<T>(load("bias"));
    const Index n = w.bias->size();
    monarch::detail::require_shape(n > 0 && n <= sh.rows(), where, "tensor '", options.prefix,
                                   "bias' has length ", n, ", expected 1..l*s = ", sh.rows());
    if (options.expected_out_features)
      monarch::detail::require_shape(n == *options.expected_out_features, where, "tensor '", options.prefix,
                                     "bias' has length ", n, ", expected out_features = ",
                                     *options.expected_out_features);
  }
  return w;
}

/// Saves MonarchLinear weights in the dtype of T (float32, float64, complex64; complex128 only
/// as .npy). For npy_directory, `path` is created if needed. Tensor names carry `prefix`.
template <class T>
void save_monarch_linear_weights(const std::string& path, const MonarchLinearWeights<T>& w, CheckpointFormat format,
                                 const std::string& prefix = {}) {
  w.shape().validate("monarch::io::save_monarch_linear_weights");
  std::map<std::string, Tensor> tensors;
  tensors.emplace(prefix + "blkdiag1", from_block_diagonal(w.blkdiag1, prefix + "blkdiag1"));
  tensors.emplace(prefix + "blkdiag2", from_block_diagonal(w.blkdiag2, prefix + "blkdiag2"));
  if (w.bias) tensors.emplace(prefix + "bias", from_vector(*w.bias, prefix + "bias"));
  if (format == CheckpointFormat::safetensors) {
    write_safetensors(path, tensors);
    return;
  }
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  detail::require_format(!ec, path, {}, "cannot create the directory: ", ec.message());
  for (const auto& [name, t] : tensors) write_npy((std::filesystem::path(path) / (name + ".npy")).string(), t);
}

}  // namespace monarch::io
