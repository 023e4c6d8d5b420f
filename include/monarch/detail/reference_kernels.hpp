// monarch::detail: the reference Monarch multiply, docs/math.md §2.1 and §3.1 written as loops with both
// permutations folded into the indexing. Obviously correct, not fast: the kernels of the fast
// path are checked against it.
#pragma once

#include "../scalar.hpp"
#include "../shape.hpp"
#include "../view.hpp"

namespace monarch::detail {

/// y = M x for one vector; h is a buffer of sh.inner() values.
template <class T>
void reference_apply_row(const Shape& sh, const T* w1, const T* w2, const T* x, Index x_stride, T* h, T* y,
                         Index y_stride) {
  // stage 1: h[a*q + c] = sum_d w1[a,c,d] x[a*p + d]
  for (Index a = 0; a < sh.k; ++a)
    for (Index c = 0; c < sh.q; ++c) {
      const T* w = w1 + (a * sh.q + c) * sh.p;
      T acc(0);
      for (Index d = 0; d < sh.p; ++d) acc += w[d] * x[(a * sh.p + d) * x_stride];
      h[a * sh.q + c] = acc;
    }
  // stage 2: y[t*l + e] = sum_f w2[e,t,f] h[f*l + e]
  for (Index e = 0; e < sh.l; ++e)
    for (Index t = 0; t < sh.s; ++t) {
      const T* w = w2 + (e * sh.s + t) * sh.r;
      T acc(0);
      for (Index f = 0; f < sh.r; ++f) acc += w[f] * h[f * sh.l + e];
      y[(t * sh.l + e) * y_stride] = acc;
    }
}

/// x = M^H v for one vector; h is a buffer of sh.inner() values.
template <class T>
void reference_apply_adjoint_row(const Shape& sh, const T* w1, const T* w2, const T* v, Index v_stride, T* h,
                                 T* x, Index x_stride) {
  // h[f*l + e] = sum_t conj(w2[e,t,f]) v[t*l + e]
  for (Index e = 0; e < sh.l; ++e)
    for (Index f = 0; f < sh.r; ++f) {
      T acc(0);
      for (Index t = 0; t < sh.s; ++t) acc += conj(w2[(e * sh.s + t) * sh.r + f]) * v[(t * sh.l + e) * v_stride];
      h[f * sh.l + e] = acc;
    }
  // x[a*p + d] = sum_c conj(w1[a,c,d]) h[a*q + c]
  for (Index a = 0; a < sh.k; ++a)
    for (Index d = 0; d < sh.p; ++d) {
      T acc(0);
      for (Index c = 0; c < sh.q; ++c) acc += conj(w1[(a * sh.q + c) * sh.p + d]) * h[a * sh.q + c];
      x[(a * sh.p + d) * x_stride] = acc;
    }
}

}  // namespace monarch::detail
