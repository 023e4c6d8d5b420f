// monarch::detail::kernels: the packed weights a Monarch keeps, built lazily on first use per
// (direction, path) and dropped whenever the factors may change. Safe for concurrent const use:
// slots are read and published with the atomic shared_ptr functions, so two threads that race
// on the first call both pack (identical data) and one copy wins; readers never see a half-built
// pack. Copying the cache shares the immutable packs.
#pragma once

#include <array>
#include <memory>

#include "fused.hpp"

namespace monarch::detail::kernels {

template <class T>
class PackCache {
 public:
  PackCache() = default;
  PackCache(const PackCache& other) { copy_from(other); }
  PackCache& operator=(const PackCache& other) {
    if (this != &other) copy_from(other);
    return *this;
  }
  // A move is a copy of the shared pointers: the source stays valid (and shares the packs).
  PackCache(PackCache&& other) noexcept { copy_from(other); }
  PackCache& operator=(PackCache&& other) noexcept {
    if (this != &other) copy_from(other);
    return *this;
  }
  ~PackCache() = default;

  /// Drops every pack (the factors may be about to change).
  void invalidate() {
    for (auto& s : slots_) std::atomic_store(&s, std::shared_ptr<const PackedMultiply<T>>());
  }

  /// The pack for (dir, path), built by `build()` if absent or made for another shape.
  template <class Build>
  std::shared_ptr<const PackedMultiply<T>> get(Direction dir, KernelPath path, const Shape& sh, Build&& build) const {
    auto& slot = slots_[index(dir, path)];
    auto pk = std::atomic_load(&slot);
    if (!pk || pk->shape != sh) {
      pk = std::make_shared<const PackedMultiply<T>>(build());
      std::atomic_store(&slot, pk);
    }
    return pk;
  }

 private:
  static constexpr int kPaths = 3;  // portable, avx2, avx512
  static std::size_t index(Direction dir, KernelPath path) {
    const int p = path == KernelPath::avx512 ? 2 : path == KernelPath::avx2 ? 1 : 0;
    return static_cast<std::size_t>((dir == Direction::adjoint ? kPaths : 0) + p);
  }
  void copy_from(const PackCache& other) {
    for (std::size_t i = 0; i < slots_.size(); ++i) std::atomic_store(&slots_[i], std::atomic_load(&other.slots_[i]));
  }

  mutable std::array<std::shared_ptr<const PackedMultiply<T>>, 2 * kPaths> slots_;
};

}  // namespace monarch::detail::kernels
