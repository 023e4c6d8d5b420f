// monarch::detail: a 64-byte aligned allocator (one AVX-512 register, one cache line), so that
// factor storage and workspaces start on a vector boundary.
#pragma once

#include <cstddef>
#include <new>
#include <vector>

namespace monarch::detail {

inline constexpr std::size_t kAlignment = 64;

template <class T>
struct AlignedAllocator {
  using value_type = T;
  AlignedAllocator() noexcept = default;
  template <class U>
  AlignedAllocator(const AlignedAllocator<U>&) noexcept {}  // NOLINT(google-explicit-constructor)
  T* allocate(std::size_t n) {
    return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t{kAlignment}));
  }
  void deallocate(T* ptr, std::size_t) noexcept { ::operator delete(ptr, std::align_val_t{kAlignment}); }
  template <class U>
  friend bool operator==(const AlignedAllocator&, const AlignedAllocator<U>&) noexcept {
    return true;
  }
  template <class U>
  friend bool operator!=(const AlignedAllocator&, const AlignedAllocator<U>&) noexcept {
    return false;
  }
};

template <class T>
using AlignedVector = std::vector<T, AlignedAllocator<T>>;

}  // namespace monarch::detail
