// Train the same small MLP twice on a synthetic teacher-student regression task: once with
// monarch::MonarchLinear layers, once with dense (Eigen) layers, and compare loss and time.
//
//   train_mlp [threads = 1] [epochs = 8] [width = 1024] [nblocks = 8]
//
// The MLP is width -> width -> width -> width with ReLU between layers and biases, trained with
// Adam (written out below) on the mean squared error. The teacher is a random two-layer tanh
// network whose weight matrices have rank kTeacherRank: a target of low intrinsic dimension, as
// trained layers tend to be, which a MonarchLinear with nblocks^2 <= width / kTeacherRank can express
// (its slices have rank width / nblocks^2, docs/math.md §2.2) and a dense layer can too. The data and the
// visiting order are the same for both students. Everything is float, reproducible from fixed seeds, and runs on the
// given number of threads through one caller-owned thread pool (monarch never starts threads).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <monarch/monarch.hpp>
#include <mutex>
#include <numeric>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace {

using monarch::Index;
using Matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using Vector = Eigen::VectorXf;

// ---- a persistent thread pool, handed to monarch through PoolExecutor ---------------------------

class ThreadPool {
 public:
  explicit ThreadPool(int threads) {
    for (int i = 1; i < threads; ++i) workers_.emplace_back([this] { worker(); });
  }
  ~ThreadPool() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    for (auto& w : workers_) w.join();
  }
  int size() const { return static_cast<int>(workers_.size()) + 1; }

  /// Runs task(0..n-1) on the pool (the calling thread helps) and returns when all are done.
  void run(Index n, const monarch::PoolExecutor::Task& task) {
    if (workers_.empty() || n <= 1) {
      for (Index i = 0; i < n; ++i) task(i);
      return;
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      task_ = &task;
      count_ = n;
      next_ = 0;
      busy_ = workers_.size();
      ++generation_;
    }
    wake_.notify_all();
    drain();
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, [this] { return busy_ == 0; });
  }

 private:
  void drain() {
    for (Index i = next_++; i < count_; i = next_++) (*task_)(i);
  }
  void worker() {
    std::size_t seen = 0;
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
        if (stop_) return;
        seen = generation_;
      }
      drain();
      std::lock_guard<std::mutex> lock(mutex_);
      if (--busy_ == 0) done_.notify_one();
    }
  }

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_, done_;
  const monarch::PoolExecutor::Task* task_ = nullptr;
  std::atomic<Index> next_{0};
  Index count_ = 0;
  std::size_t generation_ = 0, busy_ = 0;
  bool stop_ = false;
};

// ---- layers -------------------------------------------------------------------------------------

/// Layers hand the optimizer each trainable array with its gradient through a visitor,
/// visit(value, grad, size), called in the same order every step.

/// nn.Linear with PyTorch's default init; GEMMs split over row chunks of the executor.
class DenseLayer {
 public:
  DenseLayer(Index in, Index out, std::uint64_t seed) : W_(out, in), b_(out), gW_(out, in), gb_(out) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<float> u(-1.0f / std::sqrt(float(in)), 1.0f / std::sqrt(float(in)));
    for (Index i = 0; i < W_.size(); ++i) W_.data()[i] = u(rng);
    for (Index i = 0; i < b_.size(); ++i) b_[i] = u(rng);
  }
  Index num_params() const { return W_.size() + b_.size(); }

  void forward(const Matrix& X, Matrix& Y, const monarch::PoolExecutor& exec) {
    Y.resize(X.rows(), W_.rows());
    chunks(X.rows(), exec, [&](Index r0, Index n) {
      Y.middleRows(r0, n).noalias() = X.middleRows(r0, n) * W_.transpose();
      Y.middleRows(r0, n).rowwise() += b_.transpose();
    });
  }
  /// Returns dX when asked (else an empty matrix); gradients go to gW_, gb_.
  const Matrix& backward(const Matrix& X, const Matrix& dY, bool need_dx, const monarch::PoolExecutor& exec) {
    chunks(W_.rows(), exec, [&](Index r0, Index n) {
      gW_.middleRows(r0, n).noalias() = dY.middleCols(r0, n).transpose() * X;
      gb_.segment(r0, n) = dY.middleCols(r0, n).colwise().sum().transpose();
    });
    if (need_dx) {
      dX_.resize(dY.rows(), W_.cols());
      chunks(dY.rows(), exec, [&](Index r0, Index n) { dX_.middleRows(r0, n).noalias() = dY.middleRows(r0, n) * W_; });
    }
    return dX_;
  }
  template <class Visit>
  void update_params(Visit&& visit) {
    visit(W_.data(), gW_.data(), W_.size());
    visit(b_.data(), gb_.data(), b_.size());
  }

 private:
  /// Splits [0, rows) into one contiguous chunk per thread.
  template <class F>
  static void chunks(Index rows, const monarch::PoolExecutor& exec, F&& f) {
    const Index parts = std::min<Index>(exec.concurrency(), rows), step = (rows + parts - 1) / parts;
    exec.parallel_for(parts, [&](Index i) {
      const Index r0 = i * step;
      if (r0 < rows) f(r0, std::min(step, rows - r0));
    });
  }
  Matrix W_;  // out x in, like nn.Linear.weight
  Vector b_;
  Matrix gW_;
  Vector gb_;
  Matrix dX_;
};

/// monarch::MonarchLinear with its reusable workspace and gradient buffers.
class MonarchLayer {
 public:
  MonarchLayer(Index in, Index out, Index nblocks, std::uint64_t seed) : layer_(in, out, nblocks, true, seed) {}
  Index num_params() const { return layer_.num_params(); }

  void forward(const Matrix& X, Matrix& Y, const monarch::PoolExecutor& exec) {
    Y.resize(X.rows(), layer_.out_features());
    layer_.forward(X, Y, ws_, exec);
  }
  const Matrix& backward(const Matrix& X, const Matrix& dY, bool need_dx, const monarch::PoolExecutor& exec) {
    monarch::GradientRequest request;
    request.input = need_dx;
    layer_.backward(X, dY, request, grads_, ws_, exec);
    return grads_.input;
  }
  /// The factors are written inside MonarchLinear::update, so the next forward uses the new values.
  template <class Visit>
  void update_params(Visit&& visit) {
    layer_.update([&](monarch::BlockDiagonal<float>& w1, monarch::BlockDiagonal<float>& w2) {
      visit(w1.data(), grads_.w1.data(), w1.size());
      visit(w2.data(), grads_.w2.data(), w2.size());
    });
    visit(layer_.bias()->data(), grads_.bias.data(), layer_.bias()->size());
  }

 private:
  monarch::MonarchLinear<float> layer_;
  monarch::MonarchLinear<float>::Workspace ws_;
  monarch::MonarchLinear<float>::Gradients grads_;
};

// ---- the MLP and its optimizer ------------------------------------------------------------------

/// Adam (Kingma & Ba) with bias correction.
class Adam {
 public:
  explicit Adam(float lr) : lr_(lr) {}
  /// One step on every trainable array of `net` (visited in the same order every step).
  template <class Net>
  void step(Net& net) {
    ++t_;
    const float c1 = 1.0f - std::pow(b1_, float(t_)), c2 = 1.0f - std::pow(b2_, float(t_));
    std::size_t i = 0;
    net.update_params([&](float* value, const float* grad, Index size) {
      if (i == m_.size()) {  // first step: the moments start at zero
        m_.emplace_back(Vector::Zero(size));
        v_.emplace_back(Vector::Zero(size));
      }
      Eigen::Map<Vector> w(value, size);
      const Eigen::Map<const Vector> g(grad, size);
      m_[i] = b1_ * m_[i] + (1.0f - b1_) * g;
      v_[i] = b2_ * v_[i] + (1.0f - b2_) * g.cwiseAbs2();
      w.array() -= lr_ * (m_[i].array() / c1) / ((v_[i].array() / c2).sqrt() + 1e-8f);
      ++i;
    });
  }

 private:
  float lr_, b1_ = 0.9f, b2_ = 0.999f;
  long t_ = 0;
  std::vector<Vector> m_, v_;
};

/// width -> width -> width -> width, ReLU between layers.
template <class Layer>
class Mlp {
 public:
  explicit Mlp(std::vector<Layer> layers)
      : layers_(std::move(layers)), acts_(layers_.size() + 1), pre_(layers_.size()) {}

  const Matrix& forward(const Matrix& X, const monarch::PoolExecutor& exec) {
    acts_[0] = X;
    for (std::size_t i = 0; i < layers_.size(); ++i) {
      layers_[i].forward(acts_[i], pre_[i], exec);
      acts_[i + 1] = i + 1 < layers_.size() ? pre_[i].cwiseMax(0.0f).eval() : pre_[i];
    }
    return acts_.back();
  }
  /// Backward from dL/d(output); the gradients land in the layers.
  void backward(const Matrix& d_out, const monarch::PoolExecutor& exec) {
    grad_ = d_out;
    for (std::size_t i = layers_.size(); i-- > 0;) {
      const Matrix& dx = layers_[i].backward(acts_[i], grad_, i > 0, exec);
      if (i > 0) grad_ = dx.cwiseProduct((pre_[i - 1].array() > 0.0f).cast<float>().matrix());  // ReLU'
    }
  }
  template <class Visit>
  void update_params(Visit&& visit) {
    for (auto& l : layers_) l.update_params(visit);
  }
  Index num_params() const {
    Index n = 0;
    for (const auto& l : layers_) n += l.num_params();
    return n;
  }

 private:
  std::vector<Layer> layers_;
  std::vector<Matrix> acts_, pre_;
  Matrix grad_;
};

// ---- data and training --------------------------------------------------------------------------

struct Data {
  Matrix X, Y;
};

/// Rank of the teacher's weight matrices.
constexpr Index kTeacherRank = 16;

/// x ~ N(0, I); y = W2 tanh(W1 x) with W1, W2 (width x width) products of Gaussian width x rank and
/// rank x width factors, scaled so y has unit variance: predicting zero gives loss 1.
std::pair<Data, Data> make_teacher_data(Index width, Index n_train, Index n_test, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  auto gaussian = [&](Index r, Index c, float scale) {
    Matrix m(r, c);
    for (Index i = 0; i < m.size(); ++i) m.data()[i] = scale * normal(rng);
    return m;
  };
  const float r = float(kTeacherRank);
  const Matrix W1 = gaussian(width, kTeacherRank, 1.5f / std::sqrt(r)) *
                    gaussian(kTeacherRank, width, 1.0f / std::sqrt(float(width)));
  const Matrix W2 = gaussian(width, kTeacherRank, 1.0f / std::sqrt(r)) *
                    gaussian(kTeacherRank, width, 1.0f / std::sqrt(float(width)));
  auto label = [&](const Matrix& X) { return Matrix((X * W1.transpose()).array().tanh().matrix() * W2.transpose()); };
  Data train{gaussian(n_train, width, 1.0f), Matrix()}, test{gaussian(n_test, width, 1.0f), Matrix()};
  train.Y = label(train.X);
  test.Y = label(test.X);
  const float scale = 1.0f / std::sqrt(train.Y.squaredNorm() / float(train.Y.size()));
  train.Y *= scale;
  test.Y *= scale;
  return {std::move(train), std::move(test)};
}

struct Result {
  double final_train = 0, final_test = 0, seconds = 0;
  Index params = 0;
};

/// Mean squared error over all entries.
double mse(const Matrix& pred, const Matrix& target) { return (pred - target).squaredNorm() / double(pred.size()); }

template <class Layer>
Result train(const char* label, Mlp<Layer>& net, const Data& train_set, const Data& test_set, int epochs, Index batch,
             const monarch::PoolExecutor& exec) {
  Adam adam(1e-3f);
  const Index n = train_set.X.rows(), steps = n / batch;
  std::vector<Index> order(static_cast<std::size_t>(n));
  std::mt19937_64 shuffle_rng(7);  // the same visiting order for every student
  Matrix xb(batch, train_set.X.cols()), yb(batch, train_set.Y.cols()), d_out;
  Result res;
  res.params = net.num_params();
  for (int epoch = 1; epoch <= epochs; ++epoch) {
    std::iota(order.begin(), order.end(), Index(0));
    std::shuffle(order.begin(), order.end(), shuffle_rng);
    double loss_sum = 0;
    const auto t0 = std::chrono::steady_clock::now();
    for (Index s = 0; s < steps; ++s) {
      for (Index i = 0; i < batch; ++i) {
        xb.row(i) = train_set.X.row(order[static_cast<std::size_t>(s * batch + i)]);
        yb.row(i) = train_set.Y.row(order[static_cast<std::size_t>(s * batch + i)]);
      }
      const Matrix& pred = net.forward(xb, exec);
      loss_sum += mse(pred, yb);
      d_out = (2.0f / float(pred.size())) * (pred - yb);  // d mse / d pred
      net.backward(d_out, exec);
      adam.step(net);
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    res.seconds += secs;
    res.final_train = loss_sum / double(steps);
    res.final_test = mse(net.forward(test_set.X, exec), test_set.Y);
    std::printf("%-8s epoch %2d  train loss %.4f  test loss %.4f  time %6.3f s\n", label, epoch, res.final_train,
                res.final_test, secs);
    std::fflush(stdout);
  }
  return res;
}

Index arg(int argc, char** argv, int i, Index fallback) {
  if (argc <= i) return fallback;
  const long v = std::strtol(argv[i], nullptr, 10);
  if (v <= 0) {
    std::fprintf(stderr, "usage: train_mlp [threads] [epochs] [width] [nblocks]  (positive integers)\n");
    std::exit(2);
  }
  return static_cast<Index>(v);
}

}  // namespace

int main(int argc, char** argv) {
  const int threads = static_cast<int>(arg(argc, argv, 1, 1));
  const int epochs = static_cast<int>(arg(argc, argv, 2, 8));
  const Index width = arg(argc, argv, 3, 1024), nblocks = arg(argc, argv, 4, 8);
  const Index batch = 128, n_train = 4096, n_test = 1024;

  ThreadPool pool(threads);
  const monarch::PoolExecutor exec(pool.size(),
                                   [&pool](Index n, const monarch::PoolExecutor::Task& t) { pool.run(n, t); });
  const auto [train_set, test_set] = make_teacher_data(width, n_train, n_test, 2022);
  std::printf("teacher-student regression: %ld train / %ld test samples, width %ld, batch %ld, %d thread(s)\n",
              long(n_train), long(n_test), long(width), long(batch), threads);
  std::printf("MLP %ld -> %ld -> %ld -> %ld, ReLU, Adam lr 1e-3; MonarchLinear with nblocks = %ld\n\n", long(width),
              long(width), long(width), long(width), long(nblocks));

  std::vector<DenseLayer> dense_layers;
  std::vector<MonarchLayer> monarch_layers;
  for (std::uint64_t i = 0; i < 3; ++i) {
    dense_layers.emplace_back(width, width, 100 + i);
    monarch_layers.emplace_back(width, width, nblocks, 200 + i);
  }
  Mlp<DenseLayer> dense(std::move(dense_layers));
  Mlp<MonarchLayer> monarch_net(std::move(monarch_layers));

  const Result d = train("dense", dense, train_set, test_set, epochs, batch, exec);
  std::printf("\n");
  const Result m = train("monarch", monarch_net, train_set, test_set, epochs, batch, exec);

  std::printf("\nsummary after %d epochs (training time only):\n", epochs);
  std::printf("  dense    train loss %.4f  test loss %.4f  time %7.3f s  params %9ld\n", d.final_train, d.final_test,
              d.seconds, long(d.params));
  std::printf("  monarch  train loss %.4f  test loss %.4f  time %7.3f s  params %9ld (%.3f of dense)\n", m.final_train,
              m.final_test, m.seconds, long(m.params), double(m.params) / double(d.params));
  std::printf("  monarch time / dense time = %.3f\n", m.seconds / d.seconds);
  return 0;
}
