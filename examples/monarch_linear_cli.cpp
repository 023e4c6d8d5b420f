// monarch_linear_cli: runs a MonarchLinear layer saved from PyTorch on a batch stored as .npy.
//
//   monarch_linear_cli WEIGHTS INPUT.npy OUTPUT.npy [--out-features N] [--prefix P]
//
// WEIGHTS is a directory holding blkdiag1.npy, blkdiag2.npy and optionally bias.npy, or a
// .safetensors file with tensors of those names (each preceded by P, e.g. "layers.0.mlp.").
// in_features is INPUT's last dimension (leading dimensions are a batch); out_features defaults to
// the bias length, else l*s. float32 input runs in float, float64 in double; OUTPUT has INPUT's
// dtype and leading dimensions with out_features as the last one.
#include <monarch/io.hpp>
#include <monarch/linear.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>

namespace {

struct Args {
  std::string weights, input, output, prefix;
  std::optional<monarch::Index> out_features;
};

[[noreturn]] void usage(const char* msg) {
  std::fprintf(stderr,
               "monarch_linear_cli: %s\n"
               "usage: monarch_linear_cli WEIGHTS INPUT.npy OUTPUT.npy [--out-features N] [--prefix P]\n",
               msg);
  std::exit(2);
}

Args parse(int argc, char** argv) {
  Args a;
  int positional = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--out-features" || arg == "--prefix") {
      if (i + 1 >= argc) usage((arg + " needs a value").c_str());
      const std::string value = argv[++i];
      if (arg == "--prefix") {
        a.prefix = value;
        continue;
      }
      char* end = nullptr;
      const long long n = std::strtoll(value.c_str(), &end, 10);
      if (value.empty() || *end != '\0' || n <= 0) usage(("--out-features must be a positive integer, given '" + value + "'").c_str());
      a.out_features = static_cast<monarch::Index>(n);
    } else if (positional < 3) {
      (positional == 0 ? a.weights : positional == 1 ? a.input : a.output) = arg;
      ++positional;
    } else {
      usage(("unexpected argument '" + arg + "'").c_str());
    }
  }
  if (positional != 3) usage("expected WEIGHTS, INPUT.npy and OUTPUT.npy");
  return a;
}

template <class T>
void run(const Args& a, const monarch::io::Tensor& input) {
  namespace io = monarch::io;
  monarch::detail::require_shape(!input.shape.empty() && input.shape.back() > 0, a.input,
                                 ": expected an input whose last dimension (in_features) is positive, given shape ",
                                 io::shape_string(input.shape));
  io::LoadOptions options;
  options.prefix = a.prefix;
  options.check_finite = true;
  io::MonarchLinearWeights<T> w = io::load_monarch_linear_weights<T>(a.weights, options);

  const monarch::Index in_features = input.shape.back();
  const monarch::Index out_features =
      a.out_features ? *a.out_features : (w.bias ? w.bias->size() : w.shape().rows());
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
  const Args a = parse(argc, argv);
  try {
    const monarch::io::Tensor input = monarch::io::read_npy(a.input);
    switch (input.dtype) {
      case monarch::io::DType::float32: run<float>(a, input); break;
      case monarch::io::DType::float64: run<double>(a, input); break;
      default:
        throw monarch::ValueError(a.input + ": input dtype " + monarch::io::dtype_name(input.dtype) +
                                  " is not supported; expected float32 or float64");
    }
  } catch (const monarch::Error& e) {
    std::fprintf(stderr, "monarch_linear_cli: %s\n", e.what());
    return 1;
  }
  return 0;
}
