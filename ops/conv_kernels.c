/* SPDX-License-Identifier: Apache-2.0 */
/* ops/conv_kernels.c - Conv2D and its backprops as packed GEMMs (float32: deft_sgemm, deft's
 * AVX-512 kernel or OpenBLAS, ops/sgemm.h), and direct loops (float64).
 *
 * float32, NHWC, filter HWIO: the filter is the row-major matrix F [K = kh*kw*c, oc], and the
 * output's rows (n, oy, ox) are the rows of the patch matrix P [rows, K] times F (a forward over at
 * most 4 input channels with K <= 80 runs direct loops instead: "the direct forward" below). A 1x1
 * stride-1 unpadded convolution uses the input itself as P; otherwise P is formed chunk by chunk
 * (CHUNK_BYTES of patches, reused while in cache) in per-part scratch:
 *   forward          Y[rows, oc] = P F
 *   backprop input   dP = dY F^T per chunk, added back into dX (col2im); parts own whole
 *                    images, so no two threads add into one pixel
 *   backprop filter  dF = sum over chunks of P^T dY (rank-1 row updates when K <= 32, where
 *                    sgemm's packing costs more than the product); part 0 accumulates into the output, the
 *                    others into scratch, summed in part order (deterministic for a given
 *                    thread count)
 * Work is split into parts over the session's threads; each GEMM call runs on one thread, with
 * its part's packing workspace. All scratch is transient and comes from the plan's shared
 * scratch (deft_kernel_shared_scratch, sized by deft_conv_f32_scratch), so a steady-state step
 * allocates nothing and a plan keeps one block for all its convolutions. */
#include <math.h>
#include <string.h>

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>
#define CONV_X86 1
#endif

#include "base/simd.h"
#include "base/thread_pool.h"
#include "ops/conv_internal.h"
#include "ops/sgemm.h"

/* Patch bytes per chunk: a chunk and its output rows stay in L2 between im2col and the GEMM. */
#define CHUNK_BYTES (192 * 1024)
/* Multiply-adds per part below which another part does not pay. */
#define PART_GRAIN ((int64_t)1 << 21)
/* Rows per GEMM call on the pointwise path (keeps int arguments in range). */
#define POINTWISE_ROWS ((int64_t)1 << 16)

static int64_t patch_k(const conv_geom *g) { return g->kh * g->kw * g->c; }
static int64_t out_rows(const conv_geom *g) { return g->n * g->oh * g->ow; }

static bool pointwise(const conv_geom *g) {
  return g->kh == 1 && g->kw == 1 && g->sh == 1 && g->sw == 1 && g->pt == 0 && g->pl == 0 &&
         g->oh == g->h && g->ow == g->w;
}

/* Forwards over at most DIRECT_MAX_C input channels, with windows of at most DIRECT_MAX_K patch
 * floats and a padded image (see "the direct forward" below) of at most DIRECT_PAD_MAX floats,
 * take the direct loops. Measured against im2col + GEMM on Zen 4 (1 thread): 3x3 windows over 1,
 * 3 or 4 channels into 8-64 outputs 1.1-2.5x faster, 5x5x3 into 32 level, 7x7x3 into 64 (K 147,
 * ResNet's first layer) 1.6x slower, hence the window bound. */
#define DIRECT_MAX_C 4
#define DIRECT_MAX_K 80
#define DIRECT_PIX 8 /* output pixels per block of the AVX2 and AVX-512 loops */
#define DIRECT_PAD_MAX ((int64_t)1 << 22)
/* The padded image's rows and columns: what the windows read, from input row -pt and column
 * -pl on (each at most the input's extent plus paddings of at most 2^31). */
static void direct_padded(const conv_geom *g, int64_t *ph, int64_t *pw) {
  *ph = (g->oh - 1) * g->sh + (g->kh - 1) * g->dh + 1;
  *pw = (g->ow - 1) * g->sw + (g->kw - 1) * g->dw + 1;
}

static bool fwd_direct(const conv_geom *g) {
  if (g->c > DIRECT_MAX_C || patch_k(g) > DIRECT_MAX_K || pointwise(g)) return false;
  int64_t ph, pw;
  direct_padded(g, &ph, &pw);
  return (double)ph * (double)pw * (double)g->c <= (double)DIRECT_PAD_MAX; /* no overflow */
}

/* Floats of one part's padded image, with the slack a partial block's extra lanes read. */
static int64_t direct_pad_floats(const conv_geom *g) {
  int64_t ph, pw;
  direct_padded(g, &ph, &pw);
  return ph * pw * g->c + DIRECT_PIX * g->sw * g->c;
}

/* Patch rows per chunk: a multiple of the GEMM's register-tile height. */
static int64_t chunk_rows(const conv_geom *g) {
  int64_t r = CHUNK_BYTES / (int64_t)(sizeof(float) * (size_t)patch_k(g));
  int64_t m = deft_sgemm_row_multiple();
  r = r < 16 ? 16 : r > 2048 ? 2048 : r;
  return r < m ? m : r / m * m;
}

/* Pointwise rows per GEMM call when an epilogue follows: their input and output rows both fit
 * in a chunk. */
static int64_t ep_rows(const conv_geom *g) {
  int64_t w = patch_k(g) > g->oc ? patch_k(g) : g->oc;
  int64_t r = CHUNK_BYTES / (int64_t)(sizeof(float) * (size_t)w);
  int64_t m = deft_sgemm_row_multiple();
  r = r > 2048 ? 2048 : r;
  return r < m ? m : r / m * m;
}

/* Bytes of GEMM packing workspace per part (0 when OpenBLAS runs the products). */
static size_t gemm_work_bytes(void) {
  return deft_sgemm_packs() ? deft_sgemm_workspace_bytes() : 0;
}

/* Number of parts for a kernel: at most `threads`, each with at least PART_GRAIN multiply-adds;
 * the backprop to the input splits by whole images. */
static int parts_for(const conv_geom *g, int kind, int threads) {
  int64_t rows = out_rows(g);
  double work = (double)rows * (double)patch_k(g) * (double)g->oc / (double)PART_GRAIN;
  int64_t p = threads < 1 ? 1 : threads;
  if ((double)p > work) p = (int64_t)work;
  if (p > rows) p = rows;
  if (kind == CONV_BWD_INPUT && !pointwise(g) && p > g->n) p = g->n;
  return p < 1 ? 1 : (int)p;
}

size_t deft_conv_f32_scratch(const conv_geom *g, int kind, int threads) {
  int parts = parts_for(g, kind, threads);
  if (kind == CONV_FWD && fwd_direct(g)) /* job() puts the GEMM workspaces first */
    return (size_t)parts * (gemm_work_bytes() + (size_t)direct_pad_floats(g) * sizeof(float));
  size_t per = pointwise(g) ? 0 : (size_t)chunk_rows(g) * (size_t)patch_k(g);
  size_t n = (size_t)parts * per;
  if (kind == CONV_BWD_FILTER) n += (size_t)(parts - 1) * (size_t)patch_k(g) * (size_t)g->oc;
  return (size_t)parts * gemm_work_bytes() + n * sizeof(float);
}

/* Copies / zeroes n floats: short runs (a 1-channel image's pixels) as two fixed-size moves
 * that may overlap, not through a libc call per pixel (GCC turns a plain element loop into one). */
static inline void copy_f32(float *restrict d, const float *restrict s, int64_t n) {
  if (n > 16) {
    memcpy(d, s, sizeof(float) * (size_t)n);
  } else if (n >= 8) {
    memcpy(d, s, 32);
    memcpy(d + n - 8, s + n - 8, 32);
  } else if (n >= 4) {
    memcpy(d, s, 16);
    memcpy(d + n - 4, s + n - 4, 16);
  } else {
    if (n > 0) d[0] = s[0];
    if (n > 1) d[1] = s[1];
    if (n > 2) d[2] = s[2];
  }
}
static inline void zero_f32(float *d, int64_t n) {
  if (n > 16) {
    memset(d, 0, sizeof(float) * (size_t)n);
  } else if (n >= 8) {
    memset(d, 0, 32);
    memset(d + n - 8, 0, 32);
  } else if (n >= 4) {
    memset(d, 0, 16);
    memset(d + n - 4, 0, 16);
  } else {
    if (n > 0) d[0] = 0.0f;
    if (n > 1) d[1] = 0.0f;
    if (n > 2) d[2] = 0.0f;
  }
}

/* Rows [r0, r0 + cnt) of the patch matrix into col [cnt, K]. */
static void im2col(const conv_geom *g, const float *x, int64_t r0, int64_t cnt, float *col) {
  int64_t c = g->c, K = patch_k(g), hw = g->oh * g->ow;
  int64_t n = r0 / hw, oy = r0 % hw / g->ow, ox = r0 % g->ow;
  for (int64_t i = 0; i < cnt; i++) {
    float *dst = col + i * K;
    const float *img = x + n * g->h * g->w * c;
    int64_t iy0 = oy * g->sh - g->pt, ix0 = ox * g->sw - g->pl;
    bool row_inside = g->dw == 1 && ix0 >= 0 && ix0 + g->kw <= g->w;
    for (int64_t ky = 0; ky < g->kh; ky++) {
      int64_t iy = iy0 + ky * g->dh;
      if (iy < 0 || iy >= g->h) {
        zero_f32(dst, g->kw * c);
        dst += g->kw * c;
        continue;
      }
      const float *src = img + iy * g->w * c;
      if (row_inside) {
        copy_f32(dst, src + ix0 * c, g->kw * c);
        dst += g->kw * c;
        continue;
      }
      for (int64_t kx = 0; kx < g->kw; kx++, dst += c) {
        int64_t ix = ix0 + kx * g->dw;
        if (ix < 0 || ix >= g->w) zero_f32(dst, c);
        else copy_f32(dst, src + ix * c, c);
      }
    }
    if (++ox == g->ow) {
      ox = 0;
      if (++oy == g->oh) {
        oy = 0;
        n++;
      }
    }
  }
}

/* acc[K, oc] += col[cnt, K]^T dy[cnt, oc], one rank-1 update per row: for a small K (conv1's 9)
 * this beats OpenBLAS's sgemm, whose packing dominates at M = K (deft's own GEMM, which reads
 * col in place there, is 1.2x faster still: used where it runs). */
#define SMALL_K 32
DEFT_SIMD_CLONES static void rank1_rows(int64_t cnt, int64_t K, int64_t oc,
                                        const float *restrict col, const float *restrict dy,
                                        float *restrict acc) {
  for (int64_t i = 0; i < cnt; i++) {
    const float *d = dy + i * oc;
    for (int64_t k = 0; k < K; k++) {
      float v = col[i * K + k];
      float *a = acc + k * oc;
      for (int64_t o = 0; o < oc; o++) a[o] += v * d[o];
    }
  }
}

static void add_f32(int64_t n, const float *restrict s, float *restrict d) {
  for (int64_t j = 0; j < n; j++) d[j] += s[j];
}

/* Adds the patch-gradient rows [r0, r0 + cnt) in col back into dx (the adjoint of im2col). */
static void col2im_add(const conv_geom *g, const float *col, int64_t r0, int64_t cnt, float *dx) {
  int64_t c = g->c, K = patch_k(g), hw = g->oh * g->ow;
  int64_t n = r0 / hw, oy = r0 % hw / g->ow, ox = r0 % g->ow;
  for (int64_t i = 0; i < cnt; i++) {
    const float *src = col + i * K;
    float *img = dx + n * g->h * g->w * c;
    int64_t iy0 = oy * g->sh - g->pt, ix0 = ox * g->sw - g->pl;
    bool row_inside = g->dw == 1 && ix0 >= 0 && ix0 + g->kw <= g->w;
    for (int64_t ky = 0; ky < g->kh; ky++) {
      int64_t iy = iy0 + ky * g->dh;
      if (iy < 0 || iy >= g->h) {
        src += g->kw * c;
        continue;
      }
      float *dst = img + iy * g->w * c;
      if (row_inside) {
        add_f32(g->kw * c, src, dst + ix0 * c);
        src += g->kw * c;
        continue;
      }
      for (int64_t kx = 0; kx < g->kw; kx++, src += c) {
        int64_t ix = ix0 + kx * g->dw;
        if (ix >= 0 && ix < g->w) add_f32(c, src, dst + ix * c);
      }
    }
    if (++ox == g->ow) {
      ox = 0;
      if (++oy == g->oh) {
        oy = 0;
        n++;
      }
    }
  }
}

typedef struct conv_job {
  const conv_geom *g;
  const float *x, *f, *dy;
  float *out;
  float *scratch;        /* patches and partial filter gradients */
  unsigned char *work;   /* the parts' GEMM workspaces (NULL: OpenBLAS) */
  int parts;
  const deft_epilogue *ep; /* forward: applied to each chunk's rows while in cache, or NULL */
  conv_isa isa;            /* forward, direct path: the instruction set (the plan's choice) */
} conv_job;

static void *part_work(const conv_job *j, int64_t p) {
  return j->work ? j->work + (size_t)p * deft_sgemm_workspace_bytes() : NULL;
}

/* Part p's rows [*b, *e) of `total`. */
static void part_range(int64_t total, int parts, int64_t p, int64_t *b, int64_t *e) {
  *b = total * p / parts;
  *e = total * (p + 1) / parts;
}

static float *part_col(const conv_job *j, int64_t p) {
  return j->scratch + (size_t)p * (size_t)chunk_rows(j->g) * (size_t)patch_k(j->g);
}

/* The epilogue over rows of the output, a block of EPI_ROWS_BYTES at a time (L1-sized), so the
 * block a pointwise GEMM call just wrote (up to POINTWISE_ROWS rows) is revisited in cache. */
#define EPI_ROWS_BYTES (16 * 1024)
static void epilogue_rows(const deft_epilogue *ep, float *y, int64_t rows, int64_t oc) {
  int64_t step = EPI_ROWS_BYTES / (int64_t)sizeof(float) / oc;
  if (step < 1) step = 1;
  for (int64_t r = 0; r < rows; r += step)
    deft_epilogue_rows_f32(ep, y + r * oc, rows - r < step ? rows - r : step, oc);
}

/* ---- the direct forward for few input channels ----
 * A convolution over an input of at most DIRECT_MAX_C channels (an image's grey or RGB pixels:
 * ch13's conv1, MobileNet's Conv2d_0) and a small window (fwd_direct) has patch rows of a few
 * floats per tap; forming them (im2col) and packing them for a GEMM with few output channels costs
 * more than the arithmetic. Such a forward is computed directly. Each part copies the images its
 * rows cover, one at a time, into a zero-padded image in its scratch (DIRECT_PAD_MAX floats at
 * most, else the GEMM path runs), so every window lies inside it. Output element (pixel, j) is the
 * chain acc = fma(x_t, f[t, j], acc) from acc = 0 over the window's taps t in (ky, kx, ci) order, a
 * tap in the padding reading 0 (as the patch matrix's zeros do). The AVX-512 loop computes 8
 * output pixels of a row by 16 output channels at a time in registers, then the AVX2 + FMA loop
 * 8 pixels by 8 channels (a row's last, partial block computes lanes past its end from the
 * padded image's slack and does not store them); the generic loop (other CPUs, and the channels
 * past the last multiple of 8) computes the same chain with fmaf, so all give the same bits,
 * whatever the split of rows over threads. */

/* Image img into pad ([ph, pw, c] plus the slack): the input where it lies (padding before
 * is never negative: conv_ops.c checks explicit paddings), zeros elsewhere; each float is
 * written once. */
static void direct_fill(const conv_geom *g, const float *img, float *pad) {
  int64_t ph, pw, c = g->c;
  direct_padded(g, &ph, &pw);
  int64_t left = g->pl < pw ? g->pl : pw;       /* padded columns before the input's */
  int64_t cols = g->w < pw - left ? g->w : pw - left; /* input columns the windows read */
  for (int64_t py = 0; py < ph; py++) {
    float *row = pad + py * pw * c;
    int64_t iy = py - g->pt;
    if (iy < 0 || iy >= g->h) {
      memset(row, 0, sizeof(float) * (size_t)(pw * c));
      continue;
    }
    memset(row, 0, sizeof(float) * (size_t)(left * c));
    memcpy(row + left * c, img + iy * g->w * c, sizeof(float) * (size_t)(cols * c));
    memset(row + (left + cols) * c, 0, sizeof(float) * (size_t)((pw - left - cols) * c));
  }
  memset(pad + ph * pw * c, 0, sizeof(float) * (size_t)(direct_pad_floats(g) - ph * pw * c));
}

/* Output pixel (oy, ox)'s channels [j0, oc) into y, from the padded image pad (pw columns). */
static void direct_pixel(const conv_geom *g, const float *pad, int64_t pw, int64_t oy,
                         int64_t ox, const float *f, float *y, int64_t j0) {
  int64_t c = g->c, oc = g->oc;
  const float *px = pad + (oy * g->sh * pw + ox * g->sw) * c;
  for (int64_t j = j0; j < oc; j++) {
    float acc = 0.0f;
    for (int64_t ky = 0; ky < g->kh; ky++)
      for (int64_t kx = 0; kx < g->kw; kx++) {
        const float *pt = px + (ky * g->dh * pw + kx * g->dw) * c;
        const float *ft = f + (ky * g->kw + kx) * c * oc + j;
        for (int64_t ci = 0; ci < c; ci++) acc = fmaf(pt[ci], ft[ci * oc], acc);
      }
    y[j] = acc;
  }
}

#ifdef CONV_X86
/* Channels [ob, ob + LANES) of the npix consecutive pixels of one output row whose first window
 * starts at px in the padded image, into y (the first pixel's output row; the others follow):
 * blocks of DIRECT_PIX pixels, the last one partial (its extra lanes are not stored). One call
 * covers the row segment so that the blocks' independent chains overlap in the core. The same
 * loop at two widths: 8 channels in ymm registers (AVX2 + FMA), 16 in zmm (AVX-512, which halves
 * the instructions per output where a ymm FMA has half a zmm FMA's throughput, as on Intel's
 * AVX-512 cores); every element gets the same fma chain, so the same bits. */
#define DIRECT_SEG(NAME, TARGET, VT, ZERO, LOADU, SET1, FMA, STOREU)                             \
  __attribute__((target(TARGET))) static void NAME(const conv_geom *g, const float *px,          \
                                                   int64_t pw, const float *f, int64_t ob,       \
                                                   float *y, int64_t npix) {                     \
    int64_t c = g->c, oc = g->oc, step = g->sw * c, ys = g->dh * pw * c, xs = g->dw * c;         \
    for (int64_t p0 = 0; p0 < npix; p0 += DIRECT_PIX, px += DIRECT_PIX * step,                   \
                 y += DIRECT_PIX * oc) {                                                          \
      VT a0 = ZERO(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;             \
      for (int64_t ky = 0; ky < g->kh; ky++) {                                                    \
        for (int64_t kx = 0; kx < g->kw; kx++) {                                                  \
          const float *pt = px + ky * ys + kx * xs;                                               \
          const float *ft = f + (ky * g->kw + kx) * c * oc + ob;                                  \
          for (int64_t ci = 0; ci < c; ci++) {                                                    \
            VT fv = LOADU(ft + ci * oc);                                                          \
            const float *q = pt + ci;                                                             \
            a0 = FMA(SET1(q[0]), fv, a0);                                                         \
            a1 = FMA(SET1(q[step]), fv, a1);                                                      \
            a2 = FMA(SET1(q[2 * step]), fv, a2);                                                  \
            a3 = FMA(SET1(q[3 * step]), fv, a3);                                                  \
            a4 = FMA(SET1(q[4 * step]), fv, a4);                                                  \
            a5 = FMA(SET1(q[5 * step]), fv, a5);                                                  \
            a6 = FMA(SET1(q[6 * step]), fv, a6);                                                  \
            a7 = FMA(SET1(q[7 * step]), fv, a7);                                                  \
          }                                                                                       \
        }                                                                                         \
      }                                                                                           \
      if (npix - p0 >= DIRECT_PIX) {                                                              \
        STOREU(y + ob, a0);                                                                       \
        STOREU(y + oc + ob, a1);                                                                  \
        STOREU(y + 2 * oc + ob, a2);                                                              \
        STOREU(y + 3 * oc + ob, a3);                                                              \
        STOREU(y + 4 * oc + ob, a4);                                                              \
        STOREU(y + 5 * oc + ob, a5);                                                              \
        STOREU(y + 6 * oc + ob, a6);                                                              \
        STOREU(y + 7 * oc + ob, a7);                                                              \
      } else {                                                                                    \
        VT a[DIRECT_PIX] = {a0, a1, a2, a3, a4, a5, a6, a7};                                      \
        for (int64_t p = 0; p < npix - p0; p++) STOREU(y + p * oc + ob, a[p]);                   \
      }                                                                                           \
    }                                                                                             \
  }
DIRECT_SEG(direct_seg_avx2, "avx2,fma", __m256, _mm256_setzero_ps, _mm256_loadu_ps,
           _mm256_set1_ps, _mm256_fmadd_ps, _mm256_storeu_ps)
DIRECT_SEG(direct_seg_avx512, "avx512f", __m512, _mm512_setzero_ps, _mm512_loadu_ps,
           _mm512_set1_ps, _mm512_fmadd_ps, _mm512_storeu_ps)
#undef DIRECT_SEG
#endif

/* Output rows [b, e) (flat (n, oy, ox) pixels) of part p: each image the rows cover is padded
 * into the part's scratch when first reached (*filled: the image it holds, or -1). */
static void direct_rows(const conv_job *j, int64_t p, int64_t b, int64_t e, int64_t *filled) {
  const conv_geom *g = j->g;
  int64_t hw = g->oh * g->ow, oc = g->oc, ph, pw;
  direct_padded(g, &ph, &pw);
  float *pad = j->scratch + (size_t)p * (size_t)direct_pad_floats(g);
  for (int64_t r = b; r < e;) {
    int64_t n = r / hw, oy = r % hw / g->ow, ox = r % g->ow;
    if (n != *filled) {
      direct_fill(g, j->x + n * g->h * g->w * g->c, pad);
      *filled = n;
    }
    int64_t np = g->ow - ox; /* the rest of the output row, within [b, e) */
    if (np > e - r) np = e - r;
    float *y = j->out + r * oc;
    int64_t ob = 0;
#ifdef CONV_X86
    const float *px = pad + (oy * g->sh * pw + ox * g->sw) * g->c;
    if (j->isa >= CONV_ISA_AVX512)
      for (; ob + 16 <= oc; ob += 16) direct_seg_avx512(g, px, pw, j->f, ob, y, np);
    if (j->isa >= CONV_ISA_AVX2)
      for (; ob + 8 <= oc; ob += 8) direct_seg_avx2(g, px, pw, j->f, ob, y, np);
#endif
    if (ob < oc)
      for (int64_t q = 0; q < np; q++) direct_pixel(g, pad, pw, oy, ox + q, j->f, y + q * oc, ob);
    r += np;
  }
}

static void fwd_parts(void *arg, int64_t pb, int64_t pe) {
  const conv_job *j = arg;
  const conv_geom *g = j->g;
  int64_t K = patch_k(g), oc = g->oc;
  for (int64_t p = pb; p < pe; p++) {
    int64_t b, e;
    part_range(out_rows(g), j->parts, p, &b, &e);
    if (fwd_direct(g)) { /* blocks of rows, each finished by the epilogue while in L1 */
      int64_t blk = EPI_ROWS_BYTES / (int64_t)sizeof(float) / oc;
      blk = blk < DIRECT_PIX ? DIRECT_PIX : blk;
      int64_t filled = -1;
      for (int64_t r = b; r < e; r += blk) {
        int64_t cnt = e - r < blk ? e - r : blk;
        direct_rows(j, p, r, r + cnt, &filled);
        if (j->ep) deft_epilogue_rows_f32(j->ep, j->out + r * oc, cnt, oc);
      }
      continue;
    }
    bool pw = pointwise(g);
    int64_t step = pw ? POINTWISE_ROWS : chunk_rows(g);
    /* With an epilogue, deft's GEMM (whose elements do not depend on the split) takes the
     * pointwise rows a chunk at a time, so the epilogue finds them in cache. */
    if (pw && j->ep && j->work) step = ep_rows(g);
    float *col = pw ? NULL : part_col(j, p);
    for (int64_t r = b; r < e; r += step) {
      int64_t cnt = e - r < step ? e - r : step;
      const float *a = pw ? j->x + r * K : col;
      if (!pw) im2col(g, j->x, r, cnt, col);
      deft_sgemm(false, false, cnt, oc, K, 1.0f, a, K, j->f, oc, 0.0f, j->out + r * oc, oc,
                 part_work(j, p));
      if (j->ep) epilogue_rows(j->ep, j->out + r * oc, cnt, oc);
    }
  }
}

static void bwd_input_parts(void *arg, int64_t pb, int64_t pe) {
  const conv_job *j = arg;
  const conv_geom *g = j->g;
  int64_t K = patch_k(g), oc = g->oc;
  bool pw = pointwise(g);
  for (int64_t p = pb; p < pe; p++) {
    int64_t b, e;
    if (pw) { /* dX [rows, c] = dY F^T */
      part_range(out_rows(g), j->parts, p, &b, &e);
      for (int64_t r = b; r < e; r += POINTWISE_ROWS) {
        int64_t cnt = e - r < POINTWISE_ROWS ? e - r : POINTWISE_ROWS;
        deft_sgemm(false, true, cnt, K, oc, 1.0f, j->dy + r * oc, oc, j->f, oc, 0.0f,
                   j->out + r * K, K, part_work(j, p));
      }
      continue;
    }
    int64_t nb, ne, img = g->h * g->w * g->c, per = g->oh * g->ow;
    part_range(g->n, j->parts, p, &nb, &ne);
    memset(j->out + nb * img, 0, sizeof(float) * (size_t)((ne - nb) * img));
    float *col = part_col(j, p);
    int64_t step = chunk_rows(g);
    for (int64_t r = nb * per; r < ne * per; r += step) {
      int64_t cnt = ne * per - r < step ? ne * per - r : step;
      deft_sgemm(false, true, cnt, K, oc, 1.0f, j->dy + r * oc, oc, j->f, oc, 0.0f, col, K,
                 part_work(j, p));
      col2im_add(g, col, r, cnt, j->out);
    }
  }
}

/* Part p's filter-gradient accumulator: the output for part 0, scratch for the others. */
static float *part_acc(const conv_job *j, int64_t p) {
  if (p == 0) return j->out;
  size_t cols = pointwise(j->g) ? 0 : (size_t)j->parts * (size_t)chunk_rows(j->g) * (size_t)patch_k(j->g);
  return j->scratch + cols + (size_t)(p - 1) * (size_t)patch_k(j->g) * (size_t)j->g->oc;
}

static void bwd_filter_parts(void *arg, int64_t pb, int64_t pe) {
  const conv_job *j = arg;
  const conv_geom *g = j->g;
  int64_t K = patch_k(g), oc = g->oc;
  bool pw = pointwise(g);
  for (int64_t p = pb; p < pe; p++) {
    int64_t b, e;
    part_range(out_rows(g), j->parts, p, &b, &e);
    float *acc = part_acc(j, p), *col = pw ? NULL : part_col(j, p);
    int64_t step = pw ? POINTWISE_ROWS : chunk_rows(g);
    for (int64_t r = b; r < e; r += step) {
      int64_t cnt = e - r < step ? e - r : step;
      const float *a = pw ? j->x + r * K : col;
      if (!pw) im2col(g, j->x, r, cnt, col);
      if (K <= SMALL_K && !j->work) { /* deft's own GEMM beats the rank-1 rows even here */
        if (r == b) memset(acc, 0, sizeof(float) * (size_t)(K * oc));
        rank1_rows(cnt, K, oc, a, j->dy + r * oc, acc);
        continue;
      }
      deft_sgemm(true, false, K, oc, cnt, 1.0f, a, K, j->dy + r * oc, oc, r == b ? 0.0f : 1.0f,
                 acc, oc, part_work(j, p));
    }
  }
}

/* The job over scratch laid out as deft_conv_f32_scratch sized it: GEMM workspaces first (64-byte
 * aligned, as the scratch is), then patches and partial filter gradients. */
static conv_job job(const conv_geom *g, const float *x, const float *f, const float *dy,
                    float *out, void *scratch, int parts) {
  size_t ws = gemm_work_bytes();
  unsigned char *base = scratch;
  conv_job j = {g, x, f, dy, out, base ? (float *)(base + (size_t)parts * ws) : NULL,
                ws ? base : NULL, parts, NULL, CONV_ISA_GENERIC};
  return j;
}

#define OWN_MIN_ROWS 16
#define OWN_MIN_COLS 32
static bool fwd_own_gemm(const conv_geom *g) {
  return out_rows(g) >= OWN_MIN_ROWS && g->oc >= OWN_MIN_COLS &&
         deft_sgemm_worth_packing(out_rows(g), g->oc, patch_k(g));
}

void deft_conv_f32_fwd(conv_isa isa, const conv_geom *g, const float *x, const float *f,
                       float *y, void *scratch, deft_threadpool *pool, int threads,
                       const deft_epilogue *ep) {
  conv_job j = job(g, x, f, NULL, y, scratch, parts_for(g, CONV_FWD, threads));
  j.ep = ep;
  j.isa = isa;
  /* Decided once for the whole product: deft's packed GEMM where its packing pays, OpenBLAS's
   * small-matrix paths for narrow or short products (fewer than 32 output channels, or fewer than
   * 16 rows: a 1-pixel 1x1 convolution at batch 1). The row bound was 512; on the Zen 5 host,
   * with OpenBLAS on its AVX2 kernels, batch-1 inference took 40% less time for the chapter-13
   * CNN (its conv2, 196 rows x 64 channels, K 288: 0.096-0.102 -> 0.057-0.062 ms for the whole
   * network) and 12-15% less for MobileNet 0.25/128 (0.46-0.48 -> 0.40-0.42 ms) with the bound
   * at 16 (8 measured the same; 64 and 128 in between). Only machines where deft_sgemm_packs()
   * get here with a workspace. */
  if (!fwd_own_gemm(g)) j.work = NULL;
  deft_parallel_for(pool, j.parts, j.parts, 1, fwd_parts, &j);
}

void deft_conv_f32_bwd_input(const conv_geom *g, const float *f, const float *dy, float *dx,
                             void *scratch, deft_threadpool *pool, int threads) {
  conv_job j = job(g, NULL, f, dy, dx, scratch, parts_for(g, CONV_BWD_INPUT, threads));
  deft_parallel_for(pool, j.parts, j.parts, 1, bwd_input_parts, &j);
}

void deft_conv_f32_bwd_filter(const conv_geom *g, const float *x, const float *dy, float *df,
                              void *scratch, deft_threadpool *pool, int threads) {
  conv_job j = job(g, x, NULL, dy, df, scratch, parts_for(g, CONV_BWD_FILTER, threads));
  deft_parallel_for(pool, j.parts, j.parts, 1, bwd_filter_parts, &j);
  int64_t kn = patch_k(g) * g->oc;
  for (int p = 1; p < j.parts; p++) add_f32(kn, part_acc(&j, p), df);
}

/* ---- float64: direct loops ---- */

void deft_conv_f64_fwd(const conv_geom *g, const double *x, const double *f, double *y) {
  int64_t c = g->c, oc = g->oc;
  for (int64_t n = 0; n < g->n; n++)
    for (int64_t oy = 0; oy < g->oh; oy++)
      for (int64_t ox = 0; ox < g->ow; ox++) {
        double *yp = y + ((n * g->oh + oy) * g->ow + ox) * oc;
        for (int64_t o = 0; o < oc; o++) yp[o] = 0;
        for (int64_t tap = 0, iy, ix; tap < g->kh * g->kw; tap++) {
          if (!deft_conv_tap(g, oy, ox, tap, &iy, &ix)) continue;
          const double *xp = x + ((n * g->h + iy) * g->w + ix) * c;
          for (int64_t ci = 0; ci < c; ci++) {
            const double *fp = f + (tap * c + ci) * oc;
            for (int64_t o = 0; o < oc; o++) yp[o] += xp[ci] * fp[o];
          }
        }
      }
}

void deft_conv_f64_bwd_input(const conv_geom *g, const double *f, const double *dy, double *dx) {
  int64_t c = g->c, oc = g->oc;
  memset(dx, 0, sizeof(double) * (size_t)(g->n * g->h * g->w * c));
  for (int64_t n = 0; n < g->n; n++)
    for (int64_t oy = 0; oy < g->oh; oy++)
      for (int64_t ox = 0; ox < g->ow; ox++) {
        const double *dp = dy + ((n * g->oh + oy) * g->ow + ox) * oc;
        for (int64_t tap = 0, iy, ix; tap < g->kh * g->kw; tap++) {
          if (!deft_conv_tap(g, oy, ox, tap, &iy, &ix)) continue;
          double *xp = dx + ((n * g->h + iy) * g->w + ix) * c;
          for (int64_t ci = 0; ci < c; ci++) {
            const double *fp = f + (tap * c + ci) * oc;
            double s = 0;
            for (int64_t o = 0; o < oc; o++) s += dp[o] * fp[o];
            xp[ci] += s;
          }
        }
      }
}

void deft_conv_f64_bwd_filter(const conv_geom *g, const double *x, const double *dy,
                              double *df) {
  int64_t c = g->c, oc = g->oc;
  memset(df, 0, sizeof(double) * (size_t)(g->kh * g->kw * c * oc));
  for (int64_t n = 0; n < g->n; n++)
    for (int64_t oy = 0; oy < g->oh; oy++)
      for (int64_t ox = 0; ox < g->ow; ox++) {
        const double *dp = dy + ((n * g->oh + oy) * g->ow + ox) * oc;
        for (int64_t tap = 0, iy, ix; tap < g->kh * g->kw; tap++) {
          if (!deft_conv_tap(g, oy, ox, tap, &iy, &ix)) continue;
          const double *xp = x + ((n * g->h + iy) * g->w + ix) * c;
          for (int64_t ci = 0; ci < c; ci++) {
            double *fp = df + (tap * c + ci) * oc;
            for (int64_t o = 0; o < oc; o++) fp[o] += xp[ci] * dp[o];
          }
        }
      }
}
