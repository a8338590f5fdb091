/* SPDX-License-Identifier: Apache-2.0 */
/* ops/pool_template.h - the pooling loops of ops/pool_ops.c for one element type. Included twice
 * by that file, with POOL_T the element type and POOL_SFX the name suffix (f32, f64); not a
 * header of its own. Each function runs a range [b, e) of work units of a pool_job: rows of the
 * output (n, oh) for the forward ops, whole images for the gradient ops (their windows overlap,
 * so an image's input gradient is written by one thread). */

#define POOL_CAT_(a, b) a##_##b
#define POOL_CAT(a, b) POOL_CAT_(a, b)
#define POOL_FN(name) POOL_CAT(name, POOL_SFX)
#ifndef POOL_CHANNELS
#define POOL_CHANNELS 64 /* channels per block of MaxPoolGrad's vectorized argmax */
#endif

/* MaxPool / AvgPool over output rows. Windows never miss the input (SAME pads less than a
 * window), so every output averages or maximizes at least one element. */
DEFT_SIMD_CLONES static void POOL_FN(pool_fwd)(void *arg, int64_t b, int64_t e) {
  const pool_job *j = arg;
  const pool_geom *m = j->gm;
  const POOL_T *x = j->x;
  POOL_T *y = j->y;
  bool avg = j->kind == POOL_AVG;
  for (int64_t r = b; r < e; r++) {
    int64_t n = r / m->oh, oy = r % m->oh;
    int64_t h0, h1, w0, w1;
    pool_window(oy, m->sh, m->ph, m->kh, m->h, &h0, &h1);
    const POOL_T *xn = x + n * m->ins;
    POOL_T *yr = y + n * m->ons + oy * m->ohs;
    for (int64_t ox = 0; ox < m->ow; ox++) {
      pool_window(ox, m->sw, m->pw, m->kw, m->w, &w0, &w1);
      POOL_T *restrict o = yr + ox * m->ows; /* the output does not overlap the input */
      POOL_T init = avg ? (POOL_T)0 : (POOL_T)-INFINITY;
      if (m->ics == 1 && m->ocs == 1) { /* NHWC: channels are contiguous, the loops vectorize */
        for (int64_t c = 0; c < m->c; c++) o[c] = init;
        for (int64_t ih = h0; ih < h1; ih++)
          for (int64_t iw = w0; iw < w1; iw++) {
            const POOL_T *restrict p = xn + ih * m->ihs + iw * m->iws;
            if (avg)
              for (int64_t c = 0; c < m->c; c++) o[c] += p[c];
            else
              for (int64_t c = 0; c < m->c; c++) o[c] = p[c] > o[c] ? p[c] : o[c];
          }
        if (avg) {
          POOL_T cnt = (POOL_T)((h1 - h0) * (w1 - w0));
          for (int64_t c = 0; c < m->c; c++) o[c] /= cnt;
        }
      } else {
        for (int64_t c = 0; c < m->c; c++) {
          POOL_T acc = init;
          const POOL_T *xc = xn + c * m->ics;
          for (int64_t ih = h0; ih < h1; ih++)
            for (int64_t iw = w0; iw < w1; iw++) {
              POOL_T v = xc[ih * m->ihs + iw * m->iws];
              acc = avg ? acc + v : (v > acc ? v : acc);
            }
          o[c * m->ocs] = avg ? acc / (POOL_T)((h1 - h0) * (w1 - w0)) : acc;
        }
      }
    }
  }
}

/* The offset (within image n's input) of the first maximum of window (oy, ox) in channel c, in
 * row-major window order (TF's CPU kernel picks the same element on ties). */
static int64_t POOL_FN(pool_argmax)(const pool_geom *m, const POOL_T *xn, int64_t oy, int64_t ox,
                                    int64_t c) {
  int64_t h0, h1, w0, w1, best = -1;
  pool_window(oy, m->sh, m->ph, m->kh, m->h, &h0, &h1);
  pool_window(ox, m->sw, m->pw, m->kw, m->w, &w0, &w1);
  POOL_T bv = 0;
  for (int64_t ih = h0; ih < h1; ih++)
    for (int64_t iw = w0; iw < w1; iw++) {
      int64_t off = ih * m->ihs + iw * m->iws + c * m->ics;
      if (best < 0 || xn[off] > bv) {
        bv = xn[off];
        best = off;
      }
    }
  return best;
}

/* MaxPoolGrad, MaxPoolGradGrad and AvgPoolGrad over whole images. */
static void POOL_FN(pool_bwd)(void *arg, int64_t b, int64_t e) {
  const pool_job *j = arg;
  const pool_geom *m = j->gm;
  const POOL_T *x = j->x, *g = j->g;
  POOL_T *y = j->y;
  int64_t image = m->h * m->w * m->c;
  for (int64_t n = b; n < e; n++) {
    const POOL_T *xn = x ? x + n * m->ins : NULL;
    if (j->kind == POOL_MAX_GRAD_GRAD) { /* out[window] = grad[argmax of the window] */
      const POOL_T *gn = g + n * m->ins;
      POOL_T *yn = y + n * m->ons;
      for (int64_t oy = 0; oy < m->oh; oy++)
        for (int64_t ox = 0; ox < m->ow; ox++)
          for (int64_t c = 0; c < m->c; c++)
            yn[oy * m->ohs + ox * m->ows + c * m->ocs] =
                gn[POOL_FN(pool_argmax)(m, xn, oy, ox, c)];
      continue;
    }
    POOL_T *dn = y + n * m->ins;
    const POOL_T *gn = g + n * m->ons;
    for (int64_t i = 0; i < image; i++) dn[i] = 0;
    for (int64_t oy = 0; oy < m->oh; oy++)
      for (int64_t ox = 0; ox < m->ow; ox++) {
        const POOL_T *go = gn + oy * m->ohs + ox * m->ows;
        if (j->kind == POOL_MAX_GRAD && m->ics == 1 && m->ocs == 1) {
          /* NHWC: every channel's argmax at once, POOL_CHANNELS at a time (the loops over c
           * vectorize); the same first maximum in row-major window order as pool_argmax */
          int64_t h0, h1, w0, w1;
          pool_window(oy, m->sh, m->ph, m->kh, m->h, &h0, &h1);
          pool_window(ox, m->sw, m->pw, m->kw, m->w, &w0, &w1);
          for (int64_t c0 = 0; c0 < m->c; c0 += POOL_CHANNELS) {
            int64_t cn = m->c - c0 < POOL_CHANNELS ? m->c - c0 : POOL_CHANNELS;
            POOL_T bv[POOL_CHANNELS];
            int64_t bo[POOL_CHANNELS];
            int64_t first = h0 * m->ihs + w0 * m->iws + c0;
            for (int64_t c = 0; c < cn; c++) {
              bv[c] = xn[first + c];
              bo[c] = first + c;
            }
            for (int64_t ih = h0; ih < h1; ih++)
              for (int64_t iw = ih == h0 ? w0 + 1 : w0; iw < w1; iw++) {
                int64_t off = ih * m->ihs + iw * m->iws + c0;
                const POOL_T *p = xn + off;
                for (int64_t c = 0; c < cn; c++) {
                  bool gt = p[c] > bv[c];
                  bv[c] = gt ? p[c] : bv[c];
                  bo[c] = gt ? off + c : bo[c];
                }
              }
            for (int64_t c = 0; c < cn; c++) dn[bo[c]] += go[c0 + c];
          }
          continue;
        }
        if (j->kind == POOL_MAX_GRAD) {
          for (int64_t c = 0; c < m->c; c++)
            dn[POOL_FN(pool_argmax)(m, xn, oy, ox, c)] += go[c * m->ocs];
          continue;
        }
        int64_t h0, h1, w0, w1;
        pool_window(oy, m->sh, m->ph, m->kh, m->h, &h0, &h1);
        pool_window(ox, m->sw, m->pw, m->kw, m->w, &w0, &w1);
        POOL_T cnt = (POOL_T)((h1 - h0) * (w1 - w0));
        for (int64_t ih = h0; ih < h1; ih++)
          for (int64_t iw = w0; iw < w1; iw++) {
            POOL_T *d = dn + ih * m->ihs + iw * m->iws;
            for (int64_t c = 0; c < m->c; c++) d[c * m->ics] += go[c * m->ocs] / cnt;
          }
      }
  }
}

#undef POOL_FN
#undef POOL_CAT
#undef POOL_CAT_
