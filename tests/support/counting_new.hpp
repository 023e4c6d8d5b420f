// Replaces the global operator new/delete with versions that count the calls and the bytes
// requested, for the tests that check what a call allocates. Include it in exactly one source
// file of an executable (the replacements are definitions); it affects the whole executable.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <new>

namespace monarch::test {
inline std::atomic<long> g_allocations{0};
inline std::atomic<std::size_t> g_bytes_requested{0};

inline void* counted_alloc(std::size_t size, std::size_t align) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  g_bytes_requested.fetch_add(size, std::memory_order_relaxed);
  if (size == 0) size = 1;
  void* p = nullptr;
  if (align <= alignof(std::max_align_t)) {
    p = std::malloc(size);
  } else {
    size = (size + align - 1) / align * align;  // aligned_alloc needs a multiple of the alignment
    p = std::aligned_alloc(align, size);
  }
  if (p == nullptr) throw std::bad_alloc();
  return p;
}
}  // namespace monarch::test

// GCC cannot see that these replacements pair malloc/aligned_alloc with free.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
void* operator new(std::size_t size) { return monarch::test::counted_alloc(size, 0); }
void* operator new[](std::size_t size) { return monarch::test::counted_alloc(size, 0); }
void* operator new(std::size_t size, std::align_val_t a) { return monarch::test::counted_alloc(size, std::size_t(a)); }
void* operator new[](std::size_t size, std::align_val_t a) {
  return monarch::test::counted_alloc(size, std::size_t(a));
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
