/* SPDX-License-Identifier: Apache-2.0 */
/* ops/depthwise_kernels.c - DepthwiseConv2dNative and its backprops: float32 loops with an
 * explicit run-time choice of instruction set (generic x86-64 / AVX2+FMA / AVX-512, picked by the
 * prepare step through deft_conv_isa), and float64 direct loops.
 *
 * Channel multiplier 1 (MobileNet's case), AVX2 and AVX-512: intrinsic loops over a vector of
 * channels (8 or 16; the last partial vector masked) that keep the sums in registers:
 *   forward           per output pixel, all window taps summed in one register (weights of a
 *                     3x3 window held in registers across the row), one store per pixel
 *   backprop input    per dX pixel, gathered from the output pixels that read it
 *   backprop filter   per (tap, channel vector), summed over a row of pixels in a register
 * They use FMA, so their results differ from the generic loops' in the last bits (tests compare
 * every path with a float64 reference within float tolerance). Each path is deterministic: the
 * order of every sum is fixed by the geometry (and, for the filter backprop, by the number of
 * parts the rows are split into, which depends on the thread count only).
 *
 * The generic path and every channel multiplier > 1 work on one row of output pixels for one
 * window tap, over the valid range of output columns for that tap, with no bounds checks inside:
 * a multiply-add over the channel vector (c * mult values) that GCC vectorizes for each target.
 *
 * Work split over the session's threads (deft_parallel_for), nothing allocated:
 *   forward           rows (n, oy) of the output
 *   backprop input    rows (n, iy) of dX, each gathering from the output rows that read it, so
 *                     threads never write the same pixel
 *   backprop filter   rows (n, oy) split into parts, each summing into its own accumulator
 *                     (part 0: the output; others: the plan's scratch), added in part order */
#include <string.h>

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#endif

#include "base/thread_pool.h"
#include "ops/conv_internal.h"

/* ---- instruction sets ---- */

static _Thread_local conv_isa isa_cap = CONV_ISA_AVX512;

void deft_conv_force_isa(conv_isa max) { isa_cap = max; }

const char *deft_conv_isa_name(conv_isa isa) {
  return isa == CONV_ISA_AVX512 ? "avx512" : isa == CONV_ISA_AVX2 ? "avx2" : "generic";
}

#if defined(__GNUC__) && defined(__x86_64__)
#define DW_X86 1
#endif

conv_isa deft_conv_isa(void) {
  conv_isa best = CONV_ISA_GENERIC;
#ifdef DW_X86
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq"))
    best = CONV_ISA_AVX512;
  else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    best = CONV_ISA_AVX2;
#endif
  return best < isa_cap ? best : isa_cap;
}

/* ---- the inner loops, compiled once per instruction set ---- */

#define DW_INLINE static inline __attribute__((always_inline))

/* y[o*ys + ci*m + k] += x[o*xs + ci] * w[ci*m + k] for o < npix (forward, one tap). */
DW_INLINE void fwd_body(int64_t npix, int64_t c, int64_t m, const float *restrict x, int64_t xs,
                        const float *restrict w, float *restrict y, int64_t ys) {
  if (m == 1) {
    for (int64_t o = 0; o < npix; o++) {
      const float *xp = x + o * xs;
      float *yp = y + o * ys;
      for (int64_t j = 0; j < c; j++) yp[j] += xp[j] * w[j];
    }
    return;
  }
  for (int64_t o = 0; o < npix; o++)
    for (int64_t ci = 0; ci < c; ci++) {
      float v = x[o * xs + ci];
      float *yp = y + o * ys + ci * m;
      const float *wp = w + ci * m;
      for (int64_t k = 0; k < m; k++) yp[k] += v * wp[k];
    }
}

/* dx[o*xs + ci] += sum_k dy[o*ds + ci*m + k] * w[ci*m + k] (backprop input, one tap). */
DW_INLINE void bi_body(int64_t npix, int64_t c, int64_t m, const float *restrict dy, int64_t ds,
                       const float *restrict w, float *restrict dx, int64_t xs) {
  if (m == 1) {
    for (int64_t o = 0; o < npix; o++) {
      const float *dp = dy + o * ds;
      float *xp = dx + o * xs;
      for (int64_t j = 0; j < c; j++) xp[j] += dp[j] * w[j];
    }
    return;
  }
  for (int64_t o = 0; o < npix; o++)
    for (int64_t ci = 0; ci < c; ci++) {
      const float *dp = dy + o * ds + ci * m, *wp = w + ci * m;
      float s = 0;
      for (int64_t k = 0; k < m; k++) s += dp[k] * wp[k];
      dx[o * xs + ci] += s;
    }
}

/* acc[ci*m + k] += sum_o x[o*xs + ci] * dy[o*ds + ci*m + k] (backprop filter, one tap). */
DW_INLINE void bf_body(int64_t npix, int64_t c, int64_t m, const float *restrict x, int64_t xs,
                       const float *restrict dy, int64_t ds, float *restrict acc) {
  if (m == 1) {
    for (int64_t o = 0; o < npix; o++) {
      const float *xp = x + o * xs, *dp = dy + o * ds;
      for (int64_t j = 0; j < c; j++) acc[j] += xp[j] * dp[j];
    }
    return;
  }
  for (int64_t o = 0; o < npix; o++)
    for (int64_t ci = 0; ci < c; ci++) {
      float v = x[o * xs + ci];
      const float *dp = dy + o * ds + ci * m;
      float *ap = acc + ci * m;
      for (int64_t k = 0; k < m; k++) ap[k] += v * dp[k];
    }
}

typedef void (*fwd_fn)(int64_t, int64_t, int64_t, const float *, int64_t, const float *, float *,
                       int64_t);
typedef void (*bf_fn)(int64_t, int64_t, int64_t, const float *, int64_t, const float *, int64_t,
                      float *);

#define DW_VARIANT(sfx, attr)                                                                \
  attr static void fwd_##sfx(int64_t npix, int64_t c, int64_t m, const float *x, int64_t xs, \
                             const float *w, float *y, int64_t ys) {                         \
    fwd_body(npix, c, m, x, xs, w, y, ys);                                                   \
  }                                                                                          \
  attr static void bi_##sfx(int64_t npix, int64_t c, int64_t m, const float *dy, int64_t ds, \
                            const float *w, float *dx, int64_t xs) {                         \
    bi_body(npix, c, m, dy, ds, w, dx, xs);                                                  \
  }                                                                                          \
  attr static void bf_##sfx(int64_t npix, int64_t c, int64_t m, const float *x, int64_t xs,  \
                            const float *dy, int64_t ds, float *acc) {                       \
    bf_body(npix, c, m, x, xs, dy, ds, acc);                                                 \
  }

DW_VARIANT(generic, )
#ifdef DW_X86
DW_VARIANT(avx2, __attribute__((target("avx2"))))
#ifdef __clang__
DW_VARIANT(avx512, __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq"))))
#else
DW_VARIANT(avx512, __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,"
                                          "prefer-vector-width=512"))))
#endif
#endif

typedef struct dw_fns {
  fwd_fn fwd, bi; /* bi has fwd's signature: (dy, ds, w, dx, xs) */
  bf_fn bf;
} dw_fns;

static dw_fns fns_for(conv_isa isa) {
  dw_fns f = {fwd_generic, bi_generic, bf_generic};
#ifdef DW_X86
  if (isa == CONV_ISA_AVX2) f = (dw_fns){fwd_avx2, bi_avx2, bf_avx2};
  if (isa == CONV_ISA_AVX512) f = (dw_fns){fwd_avx512, bi_avx512, bf_avx512};
#endif
  return f;
}

/* ---- geometry helpers ---- */

/* The output columns [*o0, *o1) whose tap column kx falls inside the input. */
static void valid_cols(const conv_geom *g, int64_t kx, int64_t *o0, int64_t *o1) {
  int64_t off = kx * g->dw - g->pl; /* ix = ox * sw + off */
  int64_t lo = off >= 0 ? 0 : (-off + g->sw - 1) / g->sw;
  int64_t hi = g->w - 1 - off < 0 ? 0 : (g->w - 1 - off) / g->sw + 1;
  *o0 = lo;
  *o1 = hi < g->ow ? hi : g->ow;
  if (*o1 < *o0) *o1 = *o0;
}

/* ---- channel multiplier 1: intrinsic loops (AVX2+FMA, AVX-512) ---- */

/* The output columns [*a, *b) whose whole window row lies inside the input. */
static void interior_cols(const conv_geom *g, int64_t *a, int64_t *b) {
  *a = (g->pl + g->sw - 1) / g->sw;
  int64_t last = g->w - 1 - (g->kw - 1) * g->dw + g->pl; /* ox * sw <= last */
  *b = last < 0 ? 0 : last / g->sw + 1;
  if (*b > g->ow) *b = g->ow;
  if (*a > *b) *a = *b;
}

/* The window rows [*k0, *k1) of output row oy that fall inside the input (iy = base + ky*dh). */
static void valid_rows(const conv_geom *g, int64_t oy, int64_t *base, int64_t *k0, int64_t *k1) {
  *base = oy * g->sh - g->pt;
  int64_t a = 0, b = g->kh;
  while (a < b && *base + a * g->dh < 0) a++;
  while (b > a && *base + (b - 1) * g->dh >= g->h) b--;
  *k0 = a;
  *k1 = b;
}

typedef void (*m1_rows_fn)(const conv_geom *g, const float *a, const float *b, float *out,
                           int64_t r0, int64_t r1);

/* Defines fwd_m1_SFX, bi_m1_SFX (rows [r0, r1) of y / dx) and bf_m1_SFX (rows [r0, r1) of dy
 * summed into acc [kh*kw*c]). Inside, LD(p) / ST(p, v) load and store the channel vector at p
 * (masked to the nc valid lanes through the locals `full` and `mk`), FMA(a, b, acc) = a*b+acc.
 * Every pixel's sum runs over the window taps in (ky, kx) order; the 3x3 forward and the
 * stride-1 3x3 backprop input keep the nine weight vectors in registers and run 4 pixels at a
 * time (4 independent FMA chains) in the interior; the filter backprop runs 4 chains over
 * ox mod 4, added as (a0 + a1) + (a2 + a3). */
#define DW_M1(SFX, ATTR, VT, VW, MASKT, MASKF, LD, ST, FMA, ZERO)                              \
  /* One pixel, any window, taps outside the input skipped. */                                 \
  ATTR static inline __attribute__((always_inline)) VT fwd_px_##SFX(                           \
      const conv_geom *g, const float *ximg, const float *f, int64_t base, int64_t ky0,        \
      int64_t ky1, int64_t ix0, int64_t c0, int full, MASKT mk) {                              \
    const int64_t c = g->c, kw = g->kw;                                                        \
    VT acc = ZERO();                                                                           \
    for (int64_t ky = ky0; ky < ky1; ky++) {                                                   \
      const float *xr = ximg + (base + ky * g->dh) * g->w * c + c0;                            \
      for (int64_t kx = 0; kx < kw; kx++) {                                                    \
        const int64_t ix = ix0 + kx * g->dw;                                                   \
        if (ix < 0 || ix >= g->w) continue;                                                    \
        acc = FMA(LD(xr + ix * c), LD(f + (ky * kw + kx) * c + c0), acc);                      \
      }                                                                                        \
    }                                                                                          \
    return acc;                                                                                \
  }                                                                                            \
  ATTR static void fwd_m1_##SFX(const conv_geom *g, const float *x, const float *f, float *y,  \
                                int64_t r0, int64_t r1) {                                      \
    const int64_t c = g->c, w = g->w, sw = g->sw, dw = g->dw, pl = g->pl, ow = g->ow;         \
    const int is3 = g->kh == 3 && g->kw == 3;                                                  \
    int64_t oxa, oxb;                                                                          \
    interior_cols(g, &oxa, &oxb);                                                              \
    for (int64_t r = r0; r < r1; r++) {                                                        \
      const int64_t oy = r % g->oh;                                                            \
      const float *ximg = x + r / g->oh * g->h * w * c;                                        \
      float *yrow = y + r * ow * c;                                                            \
      int64_t base, ky0, ky1;                                                                  \
      valid_rows(g, oy, &base, &ky0, &ky1);                                                    \
      for (int64_t c0 = 0; c0 < c; c0 += VW) {                                                 \
        const int64_t nc = c - c0 < VW ? c - c0 : VW;                                          \
        const MASKT mk = MASKF(nc);                                                            \
        const int full = nc == VW;                                                             \
        (void)mk;                                                                              \
        (void)full;                                                                            \
        int64_t ox = 0;                                                                        \
        if (is3) {                                                                             \
          for (; ox < oxa; ox++)                                                               \
            ST(yrow + ox * c + c0,                                                             \
               fwd_px_##SFX(g, ximg, f, base, ky0, ky1, ox * sw - pl, c0, full, mk));          \
          VT wv[9];                                                                            \
          for (int t = 0; t < 9; t++) wv[t] = LD(f + t * c + c0);                              \
          const float *xr[3];                                                                  \
          int vr[3];                                                                           \
          for (int ky = 0; ky < 3; ky++) {                                                     \
            vr[ky] = ky >= ky0 && ky < ky1;                                                    \
            xr[ky] = vr[ky] ? ximg + (base + ky * g->dh) * w * c + c0 : ximg;                  \
          }                                                                                    \
          for (; ox + 4 <= oxb; ox += 4) {                                                     \
            VT acc[4] = {ZERO(), ZERO(), ZERO(), ZERO()};                                      \
            for (int ky = 0; ky < 3; ky++) {                                                   \
              if (!vr[ky]) continue;                                                           \
              for (int kx = 0; kx < 3; kx++)                                                   \
                for (int p = 0; p < 4; p++)                                                    \
                  acc[p] = FMA(LD(xr[ky] + ((ox + p) * sw - pl + kx * dw) * c),                \
                               wv[ky * 3 + kx], acc[p]);                                       \
            }                                                                                  \
            for (int p = 0; p < 4; p++) ST(yrow + (ox + p) * c + c0, acc[p]);                  \
          }                                                                                    \
          for (; ox < oxb; ox++) {                                                             \
            VT acc = ZERO();                                                                   \
            for (int ky = 0; ky < 3; ky++) {                                                   \
              if (!vr[ky]) continue;                                                           \
              for (int kx = 0; kx < 3; kx++)                                                   \
                acc = FMA(LD(xr[ky] + (ox * sw - pl + kx * dw) * c), wv[ky * 3 + kx], acc);   \
            }                                                                                  \
            ST(yrow + ox * c + c0, acc);                                                       \
          }                                                                                    \
        }                                                                                      \
        for (; ox < ow; ox++)                                                                  \
          ST(yrow + ox * c + c0,                                                               \
             fwd_px_##SFX(g, ximg, f, base, ky0, ky1, ox * sw - pl, c0, full, mk));            \
      }                                                                                        \
    }                                                                                          \
  }                                                                                            \
  /* One dX pixel gathered from the output pixels that read it. */                             \
  ATTR static inline __attribute__((always_inline)) VT bi_px_##SFX(                            \
      const conv_geom *g, const float *f, const float *dyimg, int64_t iy, int64_t ix,          \
      int64_t c0, int full, MASKT mk) {                                                        \
    const int64_t c = g->c, sw = g->sw, sh = g->sh, ow = g->ow, kw = g->kw;                   \
    VT acc = ZERO();                                                                           \
    for (int64_t ky = 0; ky < g->kh; ky++) {                                                   \
      const int64_t t = iy + g->pt - ky * g->dh; /* = oy * sh */                               \
      if (t < 0 || (sh != 1 && t % sh)) continue;                                              \
      const int64_t oy = sh == 1 ? t : t / sh;                                                 \
      if (oy >= g->oh) continue;                                                               \
      const float *dyr = dyimg + oy * ow * c + c0;                                             \
      const float *fr = f + ky * kw * c + c0;                                                  \
      for (int64_t kx = 0; kx < kw; kx++) {                                                    \
        const int64_t u = ix + g->pl - kx * g->dw; /* = ox * sw */                             \
        if (u < 0 || (sw != 1 && u % sw)) continue;                                            \
        const int64_t ox = sw == 1 ? u : u / sw;                                               \
        if (ox >= ow) continue;                                                                \
        acc = FMA(LD(dyr + ox * c), LD(fr + kx * c), acc);                                     \
      }                                                                                        \
    }                                                                                          \
    return acc;                                                                                \
  }                                                                                            \
  ATTR static void bi_m1_##SFX(const conv_geom *g, const float *f, const float *dy, float *dx, \
                               int64_t r0, int64_t r1) {                                       \
    const int64_t c = g->c, w = g->w, ow = g->ow;                                              \
    /* stride 1, 3x3: dX pixels ix in [ia, ib) read output columns ix + pl - kx*dw, all in     \
     * [0, ow) */                                                                              \
    const int fast = g->kh == 3 && g->kw == 3 && g->sw == 1;                                   \
    int64_t ia = 2 * g->dw - g->pl, ib = ow - g->pl;                                           \
    if (ia < 0) ia = 0;                                                                        \
    if (ib > w) ib = w;                                                                        \
    if (ib < ia) ib = ia;                                                                      \
    for (int64_t r = r0; r < r1; r++) {                                                        \
      const int64_t iy = r % g->h;                                                             \
      const float *dyimg = dy + r / g->h * g->oh * ow * c;                                     \
      float *dxrow = dx + r * w * c;                                                           \
      for (int64_t c0 = 0; c0 < c; c0 += VW) {                                                 \
        const int64_t nc = c - c0 < VW ? c - c0 : VW;                                          \
        const MASKT mk = MASKF(nc);                                                            \
        const int full = nc == VW;                                                             \
        (void)mk;                                                                              \
        (void)full;                                                                            \
        int64_t ix = 0;                                                                        \
        if (fast) {                                                                            \
          for (; ix < ia; ix++) ST(dxrow + ix * c + c0, bi_px_##SFX(g, f, dyimg, iy, ix, c0, full, mk)); \
          VT wv[9];                                                                            \
          for (int t = 0; t < 9; t++) wv[t] = LD(f + t * c + c0);                              \
          const float *dr[3];                                                                  \
          int vr[3];                                                                           \
          for (int ky = 0; ky < 3; ky++) {                                                     \
            const int64_t t = iy + g->pt - ky * g->dh;                                         \
            const int64_t oy = g->sh == 1 ? t : t / g->sh;                                     \
            vr[ky] = t >= 0 && (g->sh == 1 || t % g->sh == 0) && oy < g->oh;                   \
            dr[ky] = vr[ky] ? dyimg + oy * ow * c + c0 : dyimg;                                \
          }                                                                                    \
          for (; ix + 4 <= ib; ix += 4) {                                                      \
            VT acc[4] = {ZERO(), ZERO(), ZERO(), ZERO()};                                      \
            for (int ky = 0; ky < 3; ky++) {                                                   \
              if (!vr[ky]) continue;                                                           \
              for (int kx = 0; kx < 3; kx++)                                                   \
                for (int p = 0; p < 4; p++)                                                    \
                  acc[p] = FMA(LD(dr[ky] + (ix + p + g->pl - kx * g->dw) * c),                 \
                               wv[ky * 3 + kx], acc[p]);                                       \
            }                                                                                  \
            for (int p = 0; p < 4; p++) ST(dxrow + (ix + p) * c + c0, acc[p]);                 \
          }                                                                                    \
        }                                                                                      \
        for (; ix < w; ix++) ST(dxrow + ix * c + c0, bi_px_##SFX(g, f, dyimg, iy, ix, c0, full, mk)); \
      }                                                                                        \
    }                                                                                          \
  }                                                                                            \
  ATTR static void bf_m1_##SFX(const conv_geom *g, const float *x, const float *dy, float *acc, \
                               int64_t r0, int64_t r1) {                                       \
    const int64_t c = g->c, w = g->w, sw = g->sw, ow = g->ow, kw = g->kw;                     \
    for (int64_t r = r0; r < r1; r++) {                                                        \
      const int64_t oy = r % g->oh;                                                            \
      const float *ximg = x + r / g->oh * g->h * w * c, *dyrow = dy + r * ow * c;              \
      int64_t base, ky0, ky1;                                                                  \
      valid_rows(g, oy, &base, &ky0, &ky1);                                                    \
      for (int64_t ky = ky0; ky < ky1; ky++) {                                                 \
        const float *xr = ximg + (base + ky * g->dh) * w * c;                                  \
        for (int64_t kx = 0; kx < kw; kx++) {                                                  \
          int64_t o0, o1;                                                                      \
          valid_cols(g, kx, &o0, &o1);                                                         \
          if (o0 >= o1) continue;                                                              \
          const float *xs = xr + (o0 * sw - g->pl + kx * g->dw) * c;                           \
          float *ap = acc + (ky * kw + kx) * c;                                                \
          for (int64_t c0 = 0; c0 < c; c0 += VW) {                                             \
            const int64_t nc = c - c0 < VW ? c - c0 : VW;                                      \
            const MASKT mk = MASKF(nc);                                                        \
            const int full = nc == VW;                                                         \
            (void)mk;                                                                          \
            (void)full;                                                                        \
            VT a0 = ZERO(), a1 = ZERO(), a2 = ZERO(), a3 = ZERO();                             \
            int64_t ox = o0;                                                                   \
            for (; ox + 4 <= o1; ox += 4) {                                                    \
              const float *xp = xs + (ox - o0) * sw * c + c0, *dp = dyrow + ox * c + c0;       \
              a0 = FMA(LD(xp), LD(dp), a0);                                                    \
              a1 = FMA(LD(xp + sw * c), LD(dp + c), a1);                                       \
              a2 = FMA(LD(xp + 2 * sw * c), LD(dp + 2 * c), a2);                               \
              a3 = FMA(LD(xp + 3 * sw * c), LD(dp + 3 * c), a3);                               \
            }                                                                                  \
            for (; ox < o1; ox++)                                                              \
              a0 = FMA(LD(xs + (ox - o0) * sw * c + c0), LD(dyrow + ox * c + c0), a0);         \
            VT s = ADD(ADD(a0, a1), ADD(a2, a3));                                              \
            ST(ap + c0, ADD(LD(ap + c0), s));                                                  \
          }                                                                                    \
        }                                                                                      \
      }                                                                                        \
    }                                                                                          \
  }

#ifdef DW_X86
#define A2_MASK(n) _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(n)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7))
#define A2_LD(p) (full ? _mm256_loadu_ps(p) : _mm256_maskload_ps((p), mk))
#define A2_ST(p, v)                       \
  do {                                    \
    if (full) _mm256_storeu_ps((p), (v)); \
    else _mm256_maskstore_ps((p), mk, (v)); \
  } while (0)
#define ADD _mm256_add_ps
DW_M1(avx2, __attribute__((target("avx2,fma"))), __m256, 8, __m256i, A2_MASK, A2_LD, A2_ST,
      _mm256_fmadd_ps, _mm256_setzero_ps)
#undef ADD
#define A5_MASK(n) ((__mmask16)((n) >= 16 ? 0xffff : (1u << (n)) - 1))
#define A5_LD(p) _mm512_maskz_loadu_ps(mk, (p))
#define A5_ST(p, v) _mm512_mask_storeu_ps((p), mk, (v))
#define ADD _mm512_add_ps
DW_M1(avx512, __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq"))), __m512, 16, __mmask16,
      A5_MASK, A5_LD, A5_ST, _mm512_fmadd_ps, _mm512_setzero_ps)
#undef ADD
#endif

typedef struct m1_fns {
  m1_rows_fn fwd, bi, bf; /* NULL: use the generic per-tap loops */
} m1_fns;

static m1_fns m1_for(conv_isa isa, const conv_geom *g) {
  m1_fns f = {NULL, NULL, NULL};
  if (g->mult != 1) return f;
#ifdef DW_X86
  /* Fewer than 16 channels would leave most AVX-512 lanes masked: the AVX2 loops serve them. */
  if (isa == CONV_ISA_AVX2 || (isa == CONV_ISA_AVX512 && g->c < 16))
    f = (m1_fns){fwd_m1_avx2, bi_m1_avx2, bf_m1_avx2};
  else if (isa == CONV_ISA_AVX512)
    f = (m1_fns){fwd_m1_avx512, bi_m1_avx512, bf_m1_avx512};
  /* With a column stride the per-pixel gather checks parity at every tap; the per-tap loops
   * (which step over the output columns directly) measured faster there. */
  if (g->sw != 1) f.bi = NULL;
#else
  (void)isa;
#endif
  return f;
}

/* Multiply-adds per thread below which splitting does not pay. */
#define DW_GRAIN (1 << 16)

static int64_t row_grain(const conv_geom *g, int64_t cols) {
  double per = (double)(cols * g->oc) * (double)(g->kh * g->kw);
  return per >= DW_GRAIN ? 1 : per > 0 ? (int64_t)(DW_GRAIN / per) + 1 : 1;
}

typedef struct dw_job {
  const conv_geom *g;
  dw_fns fn;
  m1_fns m1;
  const float *x, *f, *dy;
  float *out, *scratch;
  int parts;
  const deft_epilogue *ep; /* forward: applied to each block of output rows, or NULL */
} dw_job;

/* ---- forward ---- */

/* Output rows (n, oy) [b, e), without the epilogue. */
static void fwd_rows_plain(const dw_job *j, int64_t b, int64_t e) {
  const conv_geom *g = j->g;
  if (j->m1.fwd) {
    j->m1.fwd(g, j->x, j->f, j->out, b, e);
    return;
  }
  int64_t c = g->c, oc = g->oc;
  for (int64_t r = b; r < e; r++) {
    int64_t n = r / g->oh, oy = r % g->oh;
    float *yrow = j->out + r * g->ow * oc;
    memset(yrow, 0, sizeof(float) * (size_t)(g->ow * oc));
    for (int64_t ky = 0; ky < g->kh; ky++) {
      int64_t iy = oy * g->sh - g->pt + ky * g->dh;
      if (iy < 0 || iy >= g->h) continue;
      const float *xrow = j->x + (n * g->h + iy) * g->w * c;
      for (int64_t kx = 0; kx < g->kw; kx++) {
        int64_t o0, o1;
        valid_cols(g, kx, &o0, &o1);
        if (o0 >= o1) continue;
        int64_t ix0 = o0 * g->sw - g->pl + kx * g->dw;
        j->fn.fwd(o1 - o0, c, g->mult, xrow + ix0 * c, g->sw * c, j->f + (ky * g->kw + kx) * oc,
                  yrow + o0 * oc, oc);
      }
    }
  }
}

/* Output bytes per block the epilogue follows while it is in L1. */
#define EPI_BLOCK_BYTES (16 * 1024)

static void fwd_rows(void *arg, int64_t b, int64_t e) {
  const dw_job *j = arg;
  if (!j->ep) {
    fwd_rows_plain(j, b, e);
    return;
  }
  int64_t row = j->g->ow * j->g->oc;
  int64_t step = EPI_BLOCK_BYTES / (int64_t)sizeof(float) / row;
  if (step < 1) step = 1;
  for (int64_t r = b; r < e; r += step) {
    int64_t n = e - r < step ? e - r : step;
    fwd_rows_plain(j, r, r + n);
    deft_epilogue_rows_f32(j->ep, j->out + r * row, n * j->g->ow, j->g->oc);
  }
}

void deft_depthwise_f32_fwd(conv_isa isa, const conv_geom *g, const float *x, const float *f,
                            float *y, deft_threadpool *pool, int threads,
                            const deft_epilogue *ep) {
  dw_job j = {g, fns_for(isa), m1_for(isa, g), x, f, NULL, y, NULL, 0, ep};
  deft_parallel_for(pool, threads, g->n * g->oh, row_grain(g, g->ow), fwd_rows, &j);
}

/* ---- backprop input: rows (n, iy) of dX gather from the output rows that read them ---- */

static void bi_rows(void *arg, int64_t b, int64_t e) {
  const dw_job *j = arg;
  const conv_geom *g = j->g;
  if (j->m1.bi) {
    j->m1.bi(g, j->f, j->dy, j->out, b, e);
    return;
  }
  int64_t c = g->c, oc = g->oc;
  for (int64_t r = b; r < e; r++) {
    int64_t n = r / g->h, iy = r % g->h;
    float *xrow = j->out + r * g->w * c;
    memset(xrow, 0, sizeof(float) * (size_t)(g->w * c));
    for (int64_t ky = 0; ky < g->kh; ky++) {
      int64_t t = iy + g->pt - ky * g->dh; /* = oy * sh */
      if (t < 0 || t % g->sh) continue;
      int64_t oy = t / g->sh;
      if (oy >= g->oh) continue;
      const float *dyrow = j->dy + (n * g->oh + oy) * g->ow * oc;
      for (int64_t kx = 0; kx < g->kw; kx++) {
        int64_t o0, o1;
        valid_cols(g, kx, &o0, &o1);
        if (o0 >= o1) continue;
        int64_t ix0 = o0 * g->sw - g->pl + kx * g->dw;
        j->fn.bi(o1 - o0, c, g->mult, dyrow + o0 * oc, oc, j->f + (ky * g->kw + kx) * oc,
                 xrow + ix0 * c, g->sw * c);
      }
    }
  }
}

void deft_depthwise_f32_bwd_input(conv_isa isa, const conv_geom *g, const float *f,
                                  const float *dy, float *dx, deft_threadpool *pool,
                                  int threads) {
  dw_job j = {g, fns_for(isa), m1_for(isa, g), NULL, f, dy, dx, NULL, 0, NULL};
  deft_parallel_for(pool, threads, g->n * g->h, row_grain(g, g->ow), bi_rows, &j);
}

/* ---- backprop filter ---- */

static int bf_parts(const conv_geom *g, int threads) {
  int64_t rows = g->n * g->oh;
  double work = (double)rows * (double)(g->ow * g->oc) * (double)(g->kh * g->kw) / (4.0 * DW_GRAIN);
  int64_t p = threads < 1 ? 1 : threads;
  if ((double)p > work) p = (int64_t)work;
  if (p > rows) p = rows;
  return p < 1 ? 1 : (int)p;
}

size_t deft_depthwise_f32_scratch(const conv_geom *g, int kind, int threads) {
  if (kind != CONV_BWD_FILTER) return 0;
  return sizeof(float) * (size_t)(bf_parts(g, threads) - 1) * (size_t)(g->kh * g->kw * g->oc);
}

static void bf_part_range(void *arg, int64_t pb, int64_t pe) {
  const dw_job *j = arg;
  const conv_geom *g = j->g;
  int64_t c = g->c, oc = g->oc, rows = g->n * g->oh, fsz = g->kh * g->kw * oc;
  for (int64_t p = pb; p < pe; p++) {
    float *acc = p == 0 ? j->out : j->scratch + (p - 1) * fsz;
    memset(acc, 0, sizeof(float) * (size_t)fsz);
    if (j->m1.bf) {
      j->m1.bf(g, j->x, j->dy, acc, rows * p / j->parts, rows * (p + 1) / j->parts);
      continue;
    }
    for (int64_t r = rows * p / j->parts; r < rows * (p + 1) / j->parts; r++) {
      int64_t n = r / g->oh, oy = r % g->oh;
      const float *dyrow = j->dy + r * g->ow * oc;
      for (int64_t ky = 0; ky < g->kh; ky++) {
        int64_t iy = oy * g->sh - g->pt + ky * g->dh;
        if (iy < 0 || iy >= g->h) continue;
        const float *xrow = j->x + (n * g->h + iy) * g->w * c;
        for (int64_t kx = 0; kx < g->kw; kx++) {
          int64_t o0, o1;
          valid_cols(g, kx, &o0, &o1);
          if (o0 >= o1) continue;
          int64_t ix0 = o0 * g->sw - g->pl + kx * g->dw;
          j->fn.bf(o1 - o0, c, g->mult, xrow + ix0 * c, g->sw * c, dyrow + o0 * oc, oc,
                   acc + (ky * g->kw + kx) * oc);
        }
      }
    }
  }
}

void deft_depthwise_f32_bwd_filter(conv_isa isa, const conv_geom *g, const float *x,
                                   const float *dy, float *df, void *scratch,
                                   deft_threadpool *pool, int threads) {
  dw_job j = {g, fns_for(isa), m1_for(isa, g), x, NULL, dy, df, scratch, bf_parts(g, threads),
              NULL};
  deft_parallel_for(pool, j.parts, j.parts, 1, bf_part_range, &j);
  int64_t fsz = g->kh * g->kw * g->oc;
  for (int p = 1; p < j.parts; p++) {
    const float *s = j.scratch + (p - 1) * fsz;
    for (int64_t i = 0; i < fsz; i++) df[i] += s[i];
  }
}

/* ---- float64: direct loops ---- */

void deft_depthwise_f64_fwd(const conv_geom *g, const double *x, const double *f, double *y) {
  int64_t c = g->c, m = g->mult, oc = g->oc;
  memset(y, 0, sizeof(double) * (size_t)(g->n * g->oh * g->ow * oc));
  for (int64_t n = 0; n < g->n; n++)
    for (int64_t oy = 0; oy < g->oh; oy++)
      for (int64_t ox = 0; ox < g->ow; ox++) {
        double *yp = y + ((n * g->oh + oy) * g->ow + ox) * oc;
        for (int64_t tap = 0, iy, ix; tap < g->kh * g->kw; tap++) {
          if (!deft_conv_tap(g, oy, ox, tap, &iy, &ix)) continue;
          const double *xp = x + ((n * g->h + iy) * g->w + ix) * c, *fp = f + tap * oc;
          for (int64_t ci = 0; ci < c; ci++)
            for (int64_t k = 0; k < m; k++) yp[ci * m + k] += xp[ci] * fp[ci * m + k];
        }
      }
}

void deft_depthwise_f64_bwd_input(const conv_geom *g, const double *f, const double *dy,
                                  double *dx) {
  int64_t c = g->c, m = g->mult, oc = g->oc;
  memset(dx, 0, sizeof(double) * (size_t)(g->n * g->h * g->w * c));
  for (int64_t n = 0; n < g->n; n++)
    for (int64_t oy = 0; oy < g->oh; oy++)
      for (int64_t ox = 0; ox < g->ow; ox++) {
        const double *dp = dy + ((n * g->oh + oy) * g->ow + ox) * oc;
        for (int64_t tap = 0, iy, ix; tap < g->kh * g->kw; tap++) {
          if (!deft_conv_tap(g, oy, ox, tap, &iy, &ix)) continue;
          double *xp = dx + ((n * g->h + iy) * g->w + ix) * c;
          const double *fp = f + tap * oc;
          for (int64_t ci = 0; ci < c; ci++)
            for (int64_t k = 0; k < m; k++) xp[ci] += dp[ci * m + k] * fp[ci * m + k];
        }
      }
}

void deft_depthwise_f64_bwd_filter(const conv_geom *g, const double *x, const double *dy,
                                   double *df) {
  int64_t c = g->c, m = g->mult, oc = g->oc;
  memset(df, 0, sizeof(double) * (size_t)(g->kh * g->kw * oc));
  for (int64_t n = 0; n < g->n; n++)
    for (int64_t oy = 0; oy < g->oh; oy++)
      for (int64_t ox = 0; ox < g->ow; ox++) {
        const double *dp = dy + ((n * g->oh + oy) * g->ow + ox) * oc;
        for (int64_t tap = 0, iy, ix; tap < g->kh * g->kw; tap++) {
          if (!deft_conv_tap(g, oy, ox, tap, &iy, &ix)) continue;
          const double *xp = x + ((n * g->h + iy) * g->w + ix) * c;
          double *fp = df + tap * oc;
          for (int64_t ci = 0; ci < c; ci++)
            for (int64_t k = 0; k < m; k++) fp[ci * m + k] += xp[ci] * dp[ci * m + k];
        }
      }
}
