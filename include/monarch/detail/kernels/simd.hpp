// monarch::detail::kernels: the few vector operations the micro-kernels need, once per ISA (the
// "packet" idea of Eigen). Each type V offers, for its scalar V::Scalar and lane count V::width:
//   zero(), load(p), load_partial(p, n), broadcast(p), fma(a, b, c) = a*b + c, add(a, b),
//   store(p), store_partial(p, n), sum() (of the lanes), pin() (keep the value in a register),
//   store_nontemporal(p) (bypasses the caches where p is aligned and the ISA writes whole lines),
//   nontemporal_fence() (orders those stores before the caller publishes them)
// Beside them, the free function prefetch_for_write(p) serves every ISA.
// The portable type is plain C++ over a small array (the compiler vectorizes it for whatever ISA
// it targets); it is always compiled, so it can be tested on every build. The AVX2+FMA and AVX-512
// types exist only when the compiler targets those ISAs (chosen at compile time, Eigen's way).
#pragma once

#include <cmath>
#include <complex>
#include <cstdint>

#include "../../scalar.hpp"

#if defined(__AVX2__) && defined(__FMA__)
#define MONARCH_HAVE_AVX2 1
#endif
#if defined(__AVX512F__)
#define MONARCH_HAVE_AVX512 1
#endif
#if defined(MONARCH_HAVE_AVX2) || defined(MONARCH_HAVE_AVX512)
#include <immintrin.h>
#endif

// Full unrolling of the loops over a register block's constant extent: GCC unrolls them only at
// -O3; at -O2 (RelWithDebInfo) the block stayed in memory and a Lanczos step ran 50% slower.
#if defined(__clang__)
#define MONARCH_UNROLL _Pragma("unroll")
#elif defined(__GNUC__)
#define MONARCH_UNROLL _Pragma("GCC unroll 32")
#else
#define MONARCH_UNROLL
#endif

// An empty asm that claims to read and write a vector register: the compiler must materialize
// the value there and cannot fold its load into every later use. GCC 12 otherwise turns one
// vector load feeding four FMAs into four memory-operand FMAs, and on a machine that issues one
// 512-bit load per cycle that made the lanes kernel load-bound (57% vs 29% of the time for the
// same FLOPs as the broadcast kernel). It emits no instruction.
#if defined(__GNUC__)
#define MONARCH_PIN_REGISTER(x, constraint) __asm__("" : constraint(x))
#else
#define MONARCH_PIN_REGISTER(x, constraint) ((void)0)
#endif

namespace monarch::detail::kernels {
/// Asks for the cache line holding *p ahead of a store to it (a hint: never faults, may be a no-op).
inline void prefetch_for_write(const void* p) {
#if defined(__GNUC__)
  __builtin_prefetch(p, 1, 3);
#else
  (void)p;
#endif
}
}  // namespace monarch::detail::kernels

// Whether the portable type rounds a*b + c once. Left to the compiler, a*b + c is contracted
// into an FMA in some instantiations and not in others (GCC's -ffp-contract=fast decides per
// loop after vectorizing), so a row's result depended on its register tile, and results on the
// tile size. Where the target has FMA it is asked for explicitly; where it has none, nothing
// can contract. GCC defines __FP_FAST_FMA exactly when it has FMA on any target (POWER, s390x,
// RISC-V too); clang does not, but contracts only within one expression, the same everywhere.
#if defined(__FMA__) || defined(__ARM_FEATURE_FMA) || defined(__FP_FAST_FMA) || defined(__FP_FAST_FMAF)
#define MONARCH_PORTABLE_FMA 1
#endif

namespace monarch::detail::kernels {

inline bool is_aligned(const void* p, std::uintptr_t bytes) { return reinterpret_cast<std::uintptr_t>(p) % bytes == 0; }

/// a*b + c for one real lane, rounded the same way in every instantiation (see above).
template <class R>
inline R multiply_add(R a, R b, R c) {
#if defined(MONARCH_PORTABLE_FMA)
  return std::fma(a, b, c);
#else
  return a * b + c;
#endif
}

/// Plain C++ lanes: W values of T with element-wise loops.
template <class T, int W>
struct PortableVec {
  using Scalar = T;
  static constexpr int width = W;
  T v[W];

  static PortableVec zero() {
    PortableVec r;
    for (int i = 0; i < W; ++i) r.v[i] = T(0);
    return r;
  }
  static PortableVec load(const T* p) {
    PortableVec r;
    for (int i = 0; i < W; ++i) r.v[i] = p[i];
    return r;
  }
  static PortableVec load_partial(const T* p, int n) {
    PortableVec r = zero();
    for (int i = 0; i < n; ++i) r.v[i] = p[i];
    return r;
  }
  static PortableVec broadcast(const T* p) {
    PortableVec r;
    for (int i = 0; i < W; ++i) r.v[i] = *p;
    return r;
  }
  static PortableVec fma(const PortableVec& a, const PortableVec& b, const PortableVec& c) {
    PortableVec r;
    if constexpr (is_complex_v<T>) {
      // The textbook product: std::complex's operator* adds C99 Annex G NaN recovery (a libcall
      // on the slow path) that blocks vectorization; finite inputs give the same value.
      for (int i = 0; i < W; ++i) {
        const auto ar = a.v[i].real(), ai = a.v[i].imag(), br = b.v[i].real(), bi = b.v[i].imag();
        r.v[i] = T(multiply_add(ar, br, multiply_add(-ai, bi, c.v[i].real())),
                   multiply_add(ar, bi, multiply_add(ai, br, c.v[i].imag())));
      }
    } else {
      for (int i = 0; i < W; ++i) r.v[i] = multiply_add(a.v[i], b.v[i], c.v[i]);
    }
    return r;
  }
  static PortableVec add(const PortableVec& a, const PortableVec& b) {
    PortableVec r;
    for (int i = 0; i < W; ++i) r.v[i] = a.v[i] + b.v[i];
    return r;
  }
  void store(T* p) const {
    for (int i = 0; i < W; ++i) p[i] = v[i];
  }
  void store_partial(T* p, int n) const {
    for (int i = 0; i < n; ++i) p[i] = v[i];
  }
  void store_nontemporal(T* p) const { store(p); }  // plain C++ has no non-temporal store
  static void nontemporal_fence() {}
  void pin() {}  // an array: nothing to keep in a register
  T sum() const {
    T s = v[0];
    for (int i = 1; i < W; ++i) s += v[i];
    return s;
  }
};

/// Lane count of the portable path: 32 bytes of real lanes (one AVX register, two SSE ones).
template <class T>
inline constexpr int portable_width = is_complex_v<T> ? 2 : int(32 / sizeof(T));

#if defined(MONARCH_HAVE_AVX2)
struct Avx2Float {
  using Scalar = float;
  static constexpr int width = 8;
  __m256 v;
  static __m256i mask(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static Avx2Float zero() { return {_mm256_setzero_ps()}; }
  static Avx2Float load(const float* p) { return {_mm256_loadu_ps(p)}; }
  static Avx2Float load_partial(const float* p, int n) { return {_mm256_maskload_ps(p, mask(n))}; }
  static Avx2Float broadcast(const float* p) { return {_mm256_broadcast_ss(p)}; }
  static Avx2Float fma(Avx2Float a, Avx2Float b, Avx2Float c) { return {_mm256_fmadd_ps(a.v, b.v, c.v)}; }
  void pin() { MONARCH_PIN_REGISTER(v, "+x"); }
  static Avx2Float add(Avx2Float a, Avx2Float b) { return {_mm256_add_ps(a.v, b.v)}; }
  void store(float* p) const { _mm256_storeu_ps(p, v); }
  void store_partial(float* p, int n) const { _mm256_maskstore_ps(p, mask(n), v); }
  // Normal stores: a 32-byte vector is half a cache line, and non-temporal writes of partial
  // lines (two lane groups, perhaps on two threads, fill one line) cost more than they save.
  void store_nontemporal(float* p) const { store(p); }
  static void nontemporal_fence() {}
  float sum() const {
    const __m128 h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    const __m128 q = _mm_add_ps(h, _mm_movehl_ps(h, h));
    return _mm_cvtss_f32(_mm_add_ss(q, _mm_movehdup_ps(q)));
  }
};
struct Avx2Double {
  using Scalar = double;
  static constexpr int width = 4;
  __m256d v;
  static __m256i mask(int n) {
    return _mm256_cmpgt_epi64(_mm256_set1_epi64x(n), _mm256_setr_epi64x(0, 1, 2, 3));
  }
  static Avx2Double zero() { return {_mm256_setzero_pd()}; }
  static Avx2Double load(const double* p) { return {_mm256_loadu_pd(p)}; }
  static Avx2Double load_partial(const double* p, int n) { return {_mm256_maskload_pd(p, mask(n))}; }
  static Avx2Double broadcast(const double* p) { return {_mm256_broadcast_sd(p)}; }
  static Avx2Double fma(Avx2Double a, Avx2Double b, Avx2Double c) { return {_mm256_fmadd_pd(a.v, b.v, c.v)}; }
  void pin() { MONARCH_PIN_REGISTER(v, "+x"); }
  static Avx2Double add(Avx2Double a, Avx2Double b) { return {_mm256_add_pd(a.v, b.v)}; }
  void store(double* p) const { _mm256_storeu_pd(p, v); }
  void store_partial(double* p, int n) const { _mm256_maskstore_pd(p, mask(n), v); }
  void store_nontemporal(double* p) const { store(p); }  // normal stores, as in Avx2Float
  static void nontemporal_fence() {}
  double sum() const {
    const __m128d h = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_add_sd(h, _mm_unpackhi_pd(h, h)));
  }
};
#endif

#if defined(MONARCH_HAVE_AVX512)
struct Avx512Float {
  using Scalar = float;
  static constexpr int width = 16;
  __m512 v;
  static __mmask16 mask(int n) { return static_cast<__mmask16>((1u << n) - 1u); }
  static Avx512Float zero() { return {_mm512_setzero_ps()}; }
  static Avx512Float load(const float* p) { return {_mm512_loadu_ps(p)}; }
  static Avx512Float load_partial(const float* p, int n) { return {_mm512_maskz_loadu_ps(mask(n), p)}; }
  static Avx512Float broadcast(const float* p) { return {_mm512_set1_ps(*p)}; }
  static Avx512Float fma(Avx512Float a, Avx512Float b, Avx512Float c) { return {_mm512_fmadd_ps(a.v, b.v, c.v)}; }
  void pin() { MONARCH_PIN_REGISTER(v, "+v"); }
  static Avx512Float add(Avx512Float a, Avx512Float b) { return {_mm512_add_ps(a.v, b.v)}; }
  void store(float* p) const { _mm512_storeu_ps(p, v); }
  void store_partial(float* p, int n) const { _mm512_mask_storeu_ps(p, mask(n), v); }
  void store_nontemporal(float* p) const {  // a whole cache line where aligned
    if (is_aligned(p, sizeof(v)))
      _mm512_stream_ps(p, v);
    else
      store(p);
  }
  static void nontemporal_fence() { _mm_sfence(); }
  // By halves: GCC 12's _mm512_reduce_add_* warns -Wmaybe-uninitialized in its own header.
  float sum() const {
    const __m256 h = _mm256_add_ps(_mm512_castps512_ps256(v),
                                   _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
    const __m128 q = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    const __m128 d = _mm_add_ps(q, _mm_movehl_ps(q, q));
    return _mm_cvtss_f32(_mm_add_ss(d, _mm_movehdup_ps(d)));
  }
};
struct Avx512Double {
  using Scalar = double;
  static constexpr int width = 8;
  __m512d v;
  static __mmask8 mask(int n) { return static_cast<__mmask8>((1u << n) - 1u); }
  static Avx512Double zero() { return {_mm512_setzero_pd()}; }
  static Avx512Double load(const double* p) { return {_mm512_loadu_pd(p)}; }
  static Avx512Double load_partial(const double* p, int n) { return {_mm512_maskz_loadu_pd(mask(n), p)}; }
  static Avx512Double broadcast(const double* p) { return {_mm512_set1_pd(*p)}; }
  static Avx512Double fma(Avx512Double a, Avx512Double b, Avx512Double c) {
    return {_mm512_fmadd_pd(a.v, b.v, c.v)};
  }
  void pin() { MONARCH_PIN_REGISTER(v, "+v"); }
  static Avx512Double add(Avx512Double a, Avx512Double b) { return {_mm512_add_pd(a.v, b.v)}; }
  void store(double* p) const { _mm512_storeu_pd(p, v); }
  void store_partial(double* p, int n) const { _mm512_mask_storeu_pd(p, mask(n), v); }
  void store_nontemporal(double* p) const {  // a whole cache line where aligned
    if (is_aligned(p, sizeof(v)))
      _mm512_stream_pd(p, v);
    else
      store(p);
  }
  static void nontemporal_fence() { _mm_sfence(); }
  double sum() const {
    const __m256d h = _mm256_add_pd(_mm512_castpd512_pd256(v), _mm512_extractf64x4_pd(v, 1));
    const __m128d q = _mm_add_pd(_mm256_castpd256_pd128(h), _mm256_extractf128_pd(h, 1));
    return _mm_cvtsd_f64(_mm_add_sd(q, _mm_unpackhi_pd(q, q)));
  }
};
#endif

}  // namespace monarch::detail::kernels
