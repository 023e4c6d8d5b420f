// monarch_linear_cli: runs a MonarchLinear layer saved from PyTorch on a batch stored as .npy.
//
//   monarch_linear_cli WEIGHTS INPUT.npy OUTPUT.npy [--out-features N] [--prefix P] [--check-finite]
//
// WEIGHTS is a directory holding blkdiag1.npy, blkdiag2.npy and optionally bias.npy, or a
// .safetensors file with tensors of those names (each preceded by P, e.g. "layers.0.mlp.").
// in_features is INPUT's last dimension (leading dimensions are a batch); out_features defaults to
// the bias length, else l*s. float32 input runs in float, float64 in double; OUTPUT has INPUT's
// dtype and leading dimensions with out_features as the last one. The weights must be finite; the
// input may hold NaN or Inf, which propagate, unless --check-finite rejects them.
// Exit status: 0 on success, 1 for an input or weights that cannot be used, 2 for a bad invocation.
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <monarch/io.hpp>
#include <monarch/linear.hpp>
#include <optional>
#include <string>

namespace {

/// The largest in_features or out_features accepted (far beyond any layer): larger counts are
/// refused before any size is derived from them.
constexpr monarch::Index kMaxFeatures = monarch::Index(1) << 40;

struct Args {
  std::string weights, input, output, prefix;
  std::optional<monarch::Index> out_features;
  bool check_finite = false;
};

[[noreturn]] void usage(const std::string& msg) {
  std::fprintf(stderr,
               "monarch_linear_cli: %s\n"
               "usage: monarch_linear_cli WEIGHTS INPUT.npy OUTPUT.npy [--out-features N] [--prefix P] "
               "[--check-finite]\n"
               "  --out-features N  keep the first N outputs (default: the bias length, else all)\n"
               "  --prefix P        tensor names in a .safetensors WEIGHTS start with P\n"
               "  --check-finite    reject an input holding NaN or Inf (default: they propagate)\n",
               msg.c_str());
  std::exit(2);
}

/// A feature count: the whole string a decimal number in [1, kMaxFeatures] (strtoll alone would
/// accept leading blanks and signs and saturate on overflow).
std::optional<monarch::Index> parse_count(const std::string& s) {
  if (s.empty() || !std::isdigit(static_cast<unsigned char>(s[0]))) return std::nullopt;
  errno = 0;
  char* end = nullptr;
  const long long n = std::strtoll(s.c_str(), &end, 10);
  if (errno == ERANGE || *end != '\0' || n <= 0 || n > kMaxFeatures) return std::nullopt;
  return static_cast<monarch::Index>(n);
}

Args parse(int argc, char** argv) {
  Args a;
  int positional = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--check-finite") {
      a.check_finite = true;
    } else if (arg == "--out-features" || arg == "--prefix") {
      if (i + 1 >= argc) usage(arg + " needs a value");
      const std::string value = argv[++i];
      if (arg == "--prefix") {
        a.prefix = value;
        continue;
      }
      a.out_features = parse_count(value);
      if (!a.out_features)
        usage("--out-features must be an integer from 1 to " + std::to_string(kMaxFeatures) + ", given '" + value +
              "'");
    } else if (positional < 3) {
      (positional == 0 ? a.weights : positional == 1 ? a.input : a.output) = arg;
      ++positional;
    } else {
      usage("unexpected argument '" + arg + "'");
    }
  }
  if (positional != 3) usage("expected WEIGHTS, INPUT.npy and OUTPUT.npy");
  return a;
}

template <class T>
void run(const Args& a, const monarch::io::Tensor& input) {
  namespace io = monarch::io;
  monarch::detail::require_shape(!input.shape.empty() && input.shape.back() > 0 && input.shape.back() <= kMaxFeatures,
                                 a.input, ": expected an input whose last dimension (in_features) is from 1 to ",
                                 kMaxFeatures, ", given shape ", io::shape_string(input.shape));
  if (a.check_finite) io::check_finite(input);
  io::LoadOptions options;
  options.prefix = a.prefix;
  options.check_finite = true;
  io::MonarchLinearWeights<T> w = io::load_monarch_linear_weights<T>(a.weights, options);

  const monarch::Index in_features = input.shape.back();
  const monarch::Index out_features = a.out_features ? *a.out_features : (w.bias ? w.bias->size() : w.shape().rows());
  const auto layer = monarch::MonarchLinear<T>::from_factors(in_features, out_features, std::move(w.blkdiag1),
                                                             std::move(w.blkdiag2), std::move(w.bias));

  // Leading dimensions form the batch; the values are row-major, so this is a reinterpretation.
  const std::vector<T> values = io::values<T>(input);
  const monarch::Index batch = static_cast<monarch::Index>(values.size()) / in_features;
  const Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>> X(values.data(), batch,
                                                                                              in_features);
  const auto Y = layer.forward(X);

  std::vector<monarch::Index> out_shape = input.shape;
  out_shape.back() = out_features;
  io::Tensor out = io::from_matrix(Y, "output");
  out.shape = out_shape;
  io::write_npy(a.output, out);
  std::printf("monarch_linear_cli: %td x %td -> %td x %td (%s, nblocks %td, bias %s) written to %s\n", batch,
              in_features, batch, out_features, io::dtype_name(input.dtype), layer.nblocks(),
              layer.bias() ? "yes" : "no", a.output.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Args a = parse(argc, argv);
    const monarch::io::Tensor input = monarch::io::read_npy(a.input);
    switch (input.dtype) {
      case monarch::io::DType::float32:
        run<float>(a, input);
        break;
      case monarch::io::DType::float64:
        run<double>(a, input);
        break;
      default:
        throw monarch::ValueError(a.input + ": input dtype " + monarch::io::dtype_name(input.dtype) +
                                  " is not supported; expected float32 or float64");
    }
  } catch (const std::exception& e) {  // monarch::Error, and std::bad_alloc for a machine too small
    std::fprintf(stderr, "monarch_linear_cli: %s\n", e.what());
    return 1;
  } catch (...) {
    std::fprintf(stderr, "monarch_linear_cli: unexpected error\n");
    return 1;
  }
  return 0;
}
