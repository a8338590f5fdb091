/* SPDX-License-Identifier: Apache-2.0 */
/* runtime/data_batch.c - row slices, uint8 images to float, and the shuffled mini-batch iterator
 * (see include/deft/data.h).
 *
 * The batcher's shuffle is self-contained and reproducible across platforms: xoshiro256** seeded
 * through splitmix64, unbiased bounded draws by rejection, and a Fisher-Yates shuffle of the
 * identity at the start of each epoch. */
#include <assert.h>
#include <inttypes.h>
#include <string.h>

#include "deft/data.h"
#include "base/alloc.h"
#include "base/simd.h"
#include "base/tensor_internal.h"
#include "base/thread_pool.h"

/* Product of dims[1..rank): the elements in one row along dim 0. */
static int64_t row_elements(const deft_tensor *t) {
  int64_t n = 1;
  for (int i = 1; i < t->rank; i++) n *= t->dims[i];
  return n;
}

deft_tensor *deft_tensor_slice_rows(const deft_tensor *t, int64_t begin, int64_t end,
                                    deft_status *status) {
  if (t->rank < 1) {
    deft_status_set(status, DEFT_INVALID_ARGUMENT, "cannot slice rows of a scalar tensor");
    return NULL;
  }
  if (begin < 0 || end < begin || end > t->dims[0]) {
    deft_status_set(status, DEFT_INVALID_ARGUMENT,
                    "row range [%" PRId64 ", %" PRId64 ") is out of bounds for dim 0 of size %"
                    PRId64, begin, end, t->dims[0]);
    return NULL;
  }
  int64_t per_row = row_elements(t);
  if (t->dtype != DEFT_STRING && t->buf && end > begin && per_row > 0) {
    size_t esize = deft_dtype_size(t->dtype);
    size_t offset = (size_t)(begin * per_row) * esize;
    if (offset % 64 == 0) { /* a view keeps the 64-byte alignment every tensor has */
      size_t nbytes = (size_t)((end - begin) * per_row) * esize;
      deft_tensor *r = deft_calloc(1, sizeof *r);
      deft_buffer *v = r ? deft_buffer_view(t->buf, offset, nbytes) : NULL;
      if (!v) {
        deft_free(r);
        deft_status_set(status, DEFT_RESOURCE_EXHAUSTED, "out of memory slicing rows");
        return NULL;
      }
      *r = *t;
      r->dims[0] = end - begin;
      r->n = (end - begin) * per_row;
      r->buf = v;
      return r;
    }
  }
  int64_t dims[DEFT_MAX_RANK];
  memcpy(dims, t->dims, sizeof dims);
  dims[0] = end - begin;
  deft_tensor *r = deft_tensor_new(t->dtype, dims, t->rank, status);
  if (!r) return NULL;
  if (t->dtype == DEFT_STRING) {
    const deft_bytes *src = deft_tensor_str(t) + begin * per_row;
    for (int64_t i = 0; i < r->n; i++) {
      if (src[i].data && !deft_tensor_set_string(r, i, src[i].data, src[i].len, status)) {
        deft_tensor_free(r);
        return NULL;
      }
    }
    return r;
  }
  size_t esize = deft_dtype_size(t->dtype);
  if (r->n)
    memcpy(r->buf->data, (const char *)t->buf->data + (size_t)(begin * per_row) * esize,
           (size_t)r->n * esize);
  return r;
}

#define PREFETCH_ROWS 4 /* the gather asks for the row this many rows ahead */

/* dst[i] = src[i] / 255 as float: the correctly rounded quotient, as an IEEE division gives it,
 * without the division (a vector divide costs about ten times a multiply): q = v (1/255), then
 * one fused Newton correction q + (v - 255 q) (1/255). For the 256 byte values that is the
 * division's result exactly (tests/test_data.c checks all of them), in every clone, since fmaf
 * is exact everywhere. The file is built with -O3 (CMakeLists.txt), whose vectorizer runs this
 * loop at the full vector width (-O2's gave 128-bit vectors in the AVX-512 clone). */
static inline float div255(float v) {
  const float r = 1.0f / 255.0f;
  float q = v * r;
  return __builtin_fmaf(__builtin_fmaf(-q, 255.0f, v), r, q);
}

DEFT_SIMD_CLONES static void scale_u8(int64_t n, const uint8_t *restrict src,
                                      float *restrict dst) {
  for (int64_t i = 0; i < n; i++) dst[i] = div255((float)src[i]);
}

deft_tensor *deft_images_to_float(const deft_tensor *images, deft_status *status) {
  if (images->dtype != DEFT_UINT8 || images->rank < 2) {
    char sb[96];
    deft_status_set(status, DEFT_INVALID_ARGUMENT,
                    "deft_images_to_float needs a uint8 tensor [N, d1, ...], got %s %s",
                    deft_dtype_name(images->dtype),
                    deft_shape_format(deft_tensor_shape(images), sb, sizeof sb));
    return NULL;
  }
  int64_t dims[2] = {images->dims[0], row_elements(images)};
  deft_tensor *r = deft_calloc(1, sizeof *r);
  if (!r) {
    deft_status_set(status, DEFT_RESOURCE_EXHAUSTED, "out of memory allocating a tensor");
    return NULL;
  }
  if (!deft_tensor_ensure(r, DEFT_FLOAT, dims, 2, status)) {
    deft_free(r);
    return NULL;
  }
  scale_u8(r->n, deft_tensor_u8(images), deft_tensor_f32(r));
  return r;
}

/* ---- the batcher ---- */

struct deft_batcher {
  deft_tensor *x, *y; /* shared references; y may be NULL */
  int64_t rows, batch_size, nbatches;
  int64_t next;       /* index of the next batch in the current epoch */
  bool in_epoch;      /* false before the first batch of an epoch: next() reshuffles */
  bool in_order;      /* deft_batcher_set_shuffle(b, false): every epoch in row order */
  int64_t *perm;
  int shard_rank, shard_size; /* deft_batcher_set_shard; 0 of 1 = unsharded */
  uint64_t rng[4];    /* xoshiro256** state */
  deft_tensor xb, yb; /* reused batch tensors */
  deft_threadpool *pool; /* deft_batcher_set_threadpool (borrowed), or NULL */
};

static uint64_t splitmix64(uint64_t *s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t xoshiro_next(uint64_t s[4]) {
  uint64_t result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

/* Uniform in [0, bound), bound >= 1, without modulo bias. */
static uint64_t rng_below(uint64_t s[4], uint64_t bound) {
  uint64_t threshold = (0 - bound) % bound; /* 2^64 mod bound */
  for (;;) {
    uint64_t r = xoshiro_next(s);
    if (r >= threshold) return r % bound;
  }
}

static bool check_batch_input(const deft_tensor *t, const char *what, deft_status *status) {
  if (t->rank < 1 || t->dtype == DEFT_STRING) {
    char sb[96];
    deft_status_set(status, DEFT_INVALID_ARGUMENT,
                    "deft_batcher_new: %s must be a numeric tensor of rank >= 1, got %s %s", what,
                    deft_dtype_name(t->dtype),
                    deft_shape_format(deft_tensor_shape(t), sb, sizeof sb));
    return false;
  }
  return true;
}

deft_batcher *deft_batcher_new(const deft_tensor *x, const deft_tensor *y, int64_t batch_size,
                               uint64_t seed, deft_status *status) {
  assert(x);
  if (!check_batch_input(x, "x", status) || (y && !check_batch_input(y, "y", status)))
    return NULL;
  int64_t rows = x->dims[0];
  if (y && y->dims[0] != rows) {
    deft_status_set(status, DEFT_INVALID_ARGUMENT,
                    "deft_batcher_new: x has %" PRId64 " rows but y has %" PRId64, rows,
                    y->dims[0]);
    return NULL;
  }
  if (batch_size < 1 || batch_size > rows) {
    deft_status_set(status, DEFT_INVALID_ARGUMENT,
                    "deft_batcher_new: batch_size %" PRId64 " must be in [1, %" PRId64
                    "] (the number of rows)", batch_size, rows);
    return NULL;
  }
  deft_batcher *b = deft_calloc(1, sizeof *b);
  if (!b) goto oom;
  if ((uint64_t)rows > SIZE_MAX / sizeof(int64_t)) goto oom;
  b->perm = deft_malloc((size_t)rows * sizeof(int64_t));
  if (!b->perm) goto oom;
  b->x = deft_tensor_share(x);
  if (!b->x) goto oom;
  if (y) {
    b->y = deft_tensor_share(y);
    if (!b->y) goto oom;
  }
  b->rows = rows;
  b->batch_size = batch_size;
  b->nbatches = rows / batch_size;
  b->shard_size = 1;
  for (int i = 0; i < 4; i++) b->rng[i] = splitmix64(&seed);
  return b;
oom:
  deft_status_set(status, DEFT_RESOURCE_EXHAUSTED, "deft_batcher_new: out of memory");
  deft_batcher_free(b);
  return NULL;
}

void deft_batcher_free(deft_batcher *b) {
  if (!b) return;
  deft_tensor_free(b->x);
  deft_tensor_free(b->y);
  deft_tensor_reset(&b->xb);
  deft_tensor_reset(&b->yb);
  deft_free(b->perm);
  deft_free(b);
}

int64_t deft_batcher_num_batches(const deft_batcher *b) { return b->nbatches; }

bool deft_batcher_set_shard(deft_batcher *b, int rank, int size, deft_status *status) {
  if (size < 1 || rank < 0 || rank >= size || b->batch_size > b->rows / size) {
    deft_status_set(status, DEFT_INVALID_ARGUMENT,
                    "deft_batcher_set_shard: rank %d of %d ranks with batch_size %" PRId64
                    " needs rank in [0, size) and batch_size * size <= %" PRId64 " rows",
                    rank, size, b->batch_size, b->rows);
    return false;
  }
  b->shard_rank = rank;
  b->shard_size = size;
  b->nbatches = b->rows / (b->batch_size * size);
  b->in_epoch = false;
  return true;
}

void deft_batcher_set_shuffle(deft_batcher *b, bool shuffle) { b->in_order = !shuffle; }

void deft_batcher_set_threadpool(deft_batcher *b, deft_threadpool *pool) { b->pool = pool; }

/* Copies rows perm[begin..end) of src into the same rows of dst (already shaped [count, ...]);
 * uint8 -> float/255 when dst is float and src is uint8. */
static void gather_rows(const deft_tensor *src, const int64_t *perm, int64_t begin, int64_t end,
                        deft_tensor *dst) {
  int64_t per_row = row_elements(src);
  if (src->dtype == DEFT_UINT8 && dst->dtype == DEFT_FLOAT) {
    const uint8_t *s = deft_tensor_u8(src);
    float *d = deft_tensor_f32(dst);
    for (int64_t r = begin; r < end; r++) {
      if (r + PREFETCH_ROWS < end) { /* rows come from random places: fetch ahead */
        const uint8_t *ahead = s + perm[r + PREFETCH_ROWS] * per_row;
        for (int64_t j = 0; j < per_row; j += 64) __builtin_prefetch(ahead + j);
      }
      scale_u8(per_row, s + perm[r] * per_row, d + r * per_row);
    }
    return;
  }
  size_t row_bytes = (size_t)per_row * deft_dtype_size(src->dtype);
  const char *s = src->buf->data;
  char *d = dst->buf->data;
  for (int64_t r = begin; r < end; r++)
    memcpy(d + (size_t)r * row_bytes, s + (size_t)perm[r] * row_bytes, row_bytes);
}

typedef struct gather_job {
  const deft_tensor *src;
  const int64_t *perm;
  deft_tensor *dst;
} gather_job;

static void gather_range(void *arg, int64_t begin, int64_t end) {
  const gather_job *j = arg;
  gather_rows(j->src, j->perm, begin, end, j->dst);
}

/* All count rows, over the pool's threads when there is one: ranges of at least 64 KiB of
 * output, so that a small batch (or labels) stays on the calling thread. */
static void gather(const deft_tensor *src, const int64_t *perm, int64_t count, deft_tensor *dst,
                   deft_threadpool *pool) {
  size_t row_bytes = (size_t)row_elements(dst) * deft_dtype_size(dst->dtype);
  int threads = pool ? deft_threadpool_threads(pool) : 1;
  if (threads <= 1 || row_bytes == 0) {
    gather_rows(src, perm, 0, count, dst);
    return;
  }
  gather_job j = {src, perm, dst};
  int64_t grain = (int64_t)(65536 / row_bytes) + 1;
  deft_parallel_for(pool, threads, count, grain, gather_range, &j);
}

/* Gives dst src's shape with `count` rows and dtype `dtype`, then gathers into it. */
static bool make_batch(const deft_tensor *src, deft_dtype dtype, const int64_t *perm,
                       int64_t count, deft_tensor *dst, deft_threadpool *pool,
                       deft_status *status) {
  int64_t dims[DEFT_MAX_RANK];
  memcpy(dims, src->dims, sizeof dims);
  dims[0] = count;
  if (!deft_tensor_ensure(dst, dtype, dims, src->rank, status)) return false;
  gather(src, perm, count, dst, pool);
  return true;
}

deft_batch_result deft_batcher_next(deft_batcher *b, const deft_tensor **xb,
                                    const deft_tensor **yb, deft_status *status) {
  if (!b->in_epoch) {
    for (int64_t i = 0; i < b->rows; i++) b->perm[i] = i;
    if (!b->in_order) /* Fisher-Yates */
      for (int64_t i = b->rows - 1; i > 0; i--) {
        int64_t j = (int64_t)rng_below(b->rng, (uint64_t)i + 1);
        int64_t tmp = b->perm[i];
        b->perm[i] = b->perm[j];
        b->perm[j] = tmp;
      }
    b->next = 0;
    b->in_epoch = true;
  }
  deft_status_clear(status);
  if (b->next == b->nbatches) {
    b->in_epoch = false;
    return DEFT_BATCH_END;
  }
  /* array_split: the first rows % n batches get one extra row. */
  int64_t q = b->rows / b->nbatches, extra = b->rows % b->nbatches, i = b->next;
  int64_t start = i * q + (i < extra ? i : extra), count = q + (i < extra ? 1 : 0);
  if (b->shard_size > 1) { /* this rank's part of the global batch, array_split again */
    int64_t p = count / b->shard_size, pe = count % b->shard_size, r = b->shard_rank;
    start += r * p + (r < pe ? r : pe);
    count = p + (r < pe ? 1 : 0);
  }
  deft_dtype xdt = b->x->dtype == DEFT_UINT8 ? DEFT_FLOAT : b->x->dtype;
  if (!make_batch(b->x, xdt, b->perm + start, count, &b->xb, b->pool, status))
    return DEFT_BATCH_ERROR;
  if (b->y && !make_batch(b->y, b->y->dtype, b->perm + start, count, &b->yb, b->pool, status))
    return DEFT_BATCH_ERROR;
  b->next++;
  *xb = &b->xb;
  if (yb) *yb = b->y ? &b->yb : NULL;
  return DEFT_BATCH_READY;
}
