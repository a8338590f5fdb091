/* ops/random_ops.c - the random op family: RandomUniform, RandomStandardNormal and
 * TruncatedNormal (stateful, not differentiable), and their public constructors.
 *
 * Numbers come from Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3",
 * SC'11), keyed as TF keys it: the 64-bit key is `seed`, the high 64 bits of the 128-bit counter
 * are `seed2`, the low 64 bits count blocks from 0. Each block gives four uint32s. A session keeps
 * each op's counter (deft_kernel_rng), so every run continues the op's stream; a new session
 * starts it again. With seed = seed2 = 0 the stream is seeded from /dev/urandom.
 *
 * Conversions follow TF's random_distributions.h: a float uses 23 random mantissa bits
 * ([1,2) - 1), a double 52 bits from two uint32s; normals use Box-Muller on two uniforms (four
 * uint32s for doubles) with u1 clamped at 1e-7; the truncated normal rejects |x| >= 2. */
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "deft/ops.h"
#include "ops/op_build.h"
#include "ops/op_def.h"
#include "ops/random_internal.h"
#include "base/tensor_internal.h"

#define TWO_PI 6.283185307179586476925286766559
#define DEFAULT_GRAPH_SEED 87654321
#define MAXINT32 2147483647LL

/* ---- Philox4x32-10 ---- */

static void philox4x32_10(const uint32_t ctr_in[4], const uint32_t key_in[2], uint32_t out[4]) {
  uint32_t c0 = ctr_in[0], c1 = ctr_in[1], c2 = ctr_in[2], c3 = ctr_in[3];
  uint32_t k0 = key_in[0], k1 = key_in[1];
  for (int round = 0; round < 10; round++) {
    uint64_t p0 = (uint64_t)0xD2511F53u * c0;
    uint64_t p1 = (uint64_t)0xCD9E8D57u * c2;
    uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0;
    uint32_t hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
    c0 = hi1 ^ c1 ^ k0;
    c1 = lo1;
    c2 = hi0 ^ c3 ^ k1;
    c3 = lo0;
    k0 += 0x9E3779B9u; /* key schedule: bump after each round */
    k1 += 0xBB67AE85u;
  }
  out[0] = c0;
  out[1] = c1;
  out[2] = c2;
  out[3] = c3;
}

/* A stream of uint32s over an op's rng state: one Philox block at a time. */
typedef struct stream {
  deft_rng_state *st;
  uint32_t buf[4];
  int used; /* words of buf consumed; 4 = need a new block */
} stream;

void deft_random_next_block(deft_rng_state *st, uint32_t out[4]) {
  uint32_t ctr[4] = {(uint32_t)st->counter_lo, (uint32_t)(st->counter_lo >> 32),
                     (uint32_t)st->counter_hi, (uint32_t)(st->counter_hi >> 32)};
  uint32_t key[2] = {(uint32_t)st->key, (uint32_t)(st->key >> 32)};
  philox4x32_10(ctr, key, out);
  if (++st->counter_lo == 0) st->counter_hi++; /* 128-bit increment */
}

static uint32_t next_u32(stream *s) {
  if (s->used == 4) {
    deft_random_next_block(s->st, s->buf);
    s->used = 0;
  }
  return s->buf[s->used++];
}

static float u32_to_float(uint32_t x) {
  uint32_t bits = (127u << 23) | (x & 0x7fffffu); /* [1, 2) */
  float f;
  memcpy(&f, &bits, sizeof f);
  return f - 1.0f;
}

double deft_random_u32x2_to_double(uint32_t x0, uint32_t x1) {
  uint64_t man = ((uint64_t)(x0 & 0xfffffu) << 32) | x1; /* 20 + 32 mantissa bits */
  uint64_t bits = ((uint64_t)1023 << 52) | man;
  double d;
  memcpy(&d, &bits, sizeof d);
  return d - 1.0;
}

static void box_muller_float(stream *s, float *f0, float *f1) {
  float u1 = u32_to_float(next_u32(s));
  if (u1 < 1.0e-7f) u1 = 1.0e-7f;
  float v1 = (float)TWO_PI * u32_to_float(next_u32(s));
  float r = sqrtf(-2.0f * logf(u1));
  *f0 = r * sinf(v1);
  *f1 = r * cosf(v1);
}

static void box_muller_double(stream *s, double *d0, double *d1) {
  uint32_t x0 = next_u32(s), x1 = next_u32(s), x2 = next_u32(s), x3 = next_u32(s);
  double u1 = deft_random_u32x2_to_double(x0, x1);
  if (u1 < 1.0e-7) u1 = 1.0e-7;
  double v1 = TWO_PI * deft_random_u32x2_to_double(x2, x3);
  double r = sqrt(-2.0 * log(u1));
  *d0 = r * sin(v1);
  *d1 = r * cos(v1);
}

/* ---- seeding ---- */

static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/* Two random 64-bit words: /dev/urandom, else the clock, a counter and an address. */
static void random_words(uint64_t w[2]) {
  int fd = open("/dev/urandom", O_RDONLY);
  if (fd >= 0) {
    ssize_t got = read(fd, w, 2 * sizeof(uint64_t));
    close(fd);
    if (got == (ssize_t)(2 * sizeof(uint64_t))) return;
  }
  static _Atomic uint64_t counter;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  uint64_t x = ((uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec) ^
               (uint64_t)(uintptr_t)w ^ (counter++ << 48);
  w[0] = splitmix64(&x);
  w[1] = splitmix64(&x);
}

/* The random ops' parameter block: their seeds. */
typedef struct {
  int64_t seed, seed2;
} random_params;

static void random_prepare(deft_prepare_ctx *p) {
  int64_t seed = deft_prepare_attr_int(p, "seed"), seed2 = deft_prepare_attr_int(p, "seed2");
  deft_dtype dtype = deft_prepare_output_dtype(p, 0);
  if (dtype != DEFT_FLOAT && dtype != DEFT_DOUBLE) {
    deft_prepare_fail(p, DEFT_UNIMPLEMENTED, "no kernel for dtype %s", deft_dtype_name(dtype));
    return;
  }
  random_params *rp = deft_prepare_params(p, sizeof *rp);
  if (rp) rp->seed = seed, rp->seed2 = seed2;
}

/* The op's stream state, seeded on first use in this session. */
static deft_rng_state *op_rng(deft_kernel_ctx *c) {
  const random_params *rp = deft_kernel_params(c);
  return deft_random_op_state(c, rp->seed, rp->seed2);
}

deft_rng_state *deft_random_op_state(deft_kernel_ctx *c, int64_t seed, int64_t seed2) {
  deft_rng_state *st = deft_kernel_rng(c);
  if (!st) return NULL;
  if (!st->seeded) {
    uint64_t k = (uint64_t)seed, hi = (uint64_t)seed2;
    if (seed == 0 && seed2 == 0) {
      uint64_t w[2];
      random_words(w);
      k = w[0];
      hi = w[1];
    }
    st->key = k;
    st->counter_hi = hi;
    st->counter_lo = 0;
    st->seeded = true;
  }
  return st;
}

/* ---- kernels ---- */

typedef enum dist_kind { DIST_UNIFORM, DIST_NORMAL, DIST_TRUNCATED } dist_kind;

/* Reads the shape input (1-D int32/int64, entries >= 0) into dims; false after failing. */
static bool read_shape(deft_kernel_ctx *c, int64_t *dims, int *rank) {
  const deft_tensor *s = deft_kernel_input(c, 0);
  char sh[128];
  if (s->rank != 1) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "shape (input 0) must be a 1-D tensor, got shape %s",
                     deft_shape_format(deft_tensor_shape(s), sh, sizeof sh));
    return false;
  }
  if (s->n > DEFT_MAX_RANK) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "shape (input 0) has %" PRId64 " entries; deft "
                     "supports at most rank %d", s->n, DEFT_MAX_RANK);
    return false;
  }
  for (int64_t i = 0; i < s->n; i++) {
    dims[i] = deft_tensor_index_at(s, i);
    if (dims[i] < 0) {
      deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "shape (input 0) entry %" PRId64 " is %" PRId64
                       "; dimensions must be non-negative", i, dims[i]);
      return false;
    }
  }
  *rank = (int)s->n;
  return true;
}

static void fill_float(stream *s, dist_kind kind, float *out, int64_t n) {
  int64_t i = 0;
  switch (kind) {
    case DIST_UNIFORM:
      for (; i < n; i++) out[i] = u32_to_float(next_u32(s));
      break;
    case DIST_NORMAL:
      while (i < n) {
        float f[2];
        box_muller_float(s, &f[0], &f[1]);
        for (int j = 0; j < 2 && i < n; j++) out[i++] = f[j];
      }
      break;
    case DIST_TRUNCATED:
      while (i < n) {
        float f[2];
        box_muller_float(s, &f[0], &f[1]);
        for (int j = 0; j < 2 && i < n; j++)
          if (fabsf(f[j]) < 2.0f) out[i++] = f[j];
      }
      break;
  }
}

static void fill_double(stream *s, dist_kind kind, double *out, int64_t n) {
  int64_t i = 0;
  switch (kind) {
    case DIST_UNIFORM:
      for (; i < n; i++) {
        uint32_t x0 = next_u32(s), x1 = next_u32(s);
        out[i] = deft_random_u32x2_to_double(x0, x1);
      }
      break;
    case DIST_NORMAL:
      while (i < n) {
        double d[2];
        box_muller_double(s, &d[0], &d[1]);
        for (int j = 0; j < 2 && i < n; j++) out[i++] = d[j];
      }
      break;
    case DIST_TRUNCATED:
      while (i < n) {
        double d[2];
        box_muller_double(s, &d[0], &d[1]);
        for (int j = 0; j < 2 && i < n; j++)
          if (fabs(d[j]) < 2.0) out[i++] = d[j];
      }
      break;
  }
}

static void random_run(deft_kernel_ctx *c, dist_kind kind) {
  int64_t dims[DEFT_MAX_RANK];
  int rank = 0;
  deft_dtype dtype = deft_kernel_output_dtype(c, 0); /* float or double (random_prepare) */
  if (!read_shape(c, dims, &rank)) return;
  deft_rng_state *st = op_rng(c);
  if (!st) return;
  deft_tensor *y = deft_kernel_output(c, 0, dtype, dims, rank);
  if (!y) return;
  /* The run consumes whole blocks: the next run starts at a fresh counter. */
  stream s = {st, {0, 0, 0, 0}, 4};
  if (dtype == DEFT_FLOAT) fill_float(&s, kind, deft_tensor_f32(y), y->n);
  else fill_double(&s, kind, deft_tensor_f64(y), y->n);
}

static void random_uniform_kernel(deft_kernel_ctx *c) { random_run(c, DIST_UNIFORM); }
static void random_normal_kernel(deft_kernel_ctx *c) { random_run(c, DIST_NORMAL); }
static void truncated_normal_kernel(deft_kernel_ctx *c) { random_run(c, DIST_TRUNCATED); }

/* Output shape from the shape input: its values when constant, else its length as the rank. */
static void random_shape(deft_shape_ctx *c) {
  deft_shape in = deft_shape_ctx_input(c, 0);
  deft_output src = deft_op_input(c->op, 0);
  char sh[128];
  if (in.rank >= 0 && in.rank != 1) {
    deft_shape_fail(c, DEFT_INVALID_ARGUMENT,
                    "shape (input 0, '%s:%d') must be 1-D, but has "
                    "shape %s",
                    deft_op_name(src.op), src.index, deft_shape_format(in, sh, sizeof sh));
    return;
  }
  if (in.rank == 1 && in.dims[0] > DEFT_MAX_RANK) {
    deft_shape_fail(c, DEFT_INVALID_ARGUMENT, "shape (input 0, '%s:%d') has %" PRId64 " entries; "
                    "deft supports at most rank %d", deft_op_name(src.op), src.index, in.dims[0],
                    DEFT_MAX_RANK);
    return;
  }
  const deft_tensor *v = deft_shape_ctx_input_const(c, 0);
  if (v && v->rank == 1) {
    int64_t dims[DEFT_MAX_RANK];
    for (int64_t i = 0; i < v->n; i++) {
      dims[i] = deft_tensor_index_at(v, i);
      if (dims[i] < 0) {
        deft_shape_fail(c, DEFT_INVALID_ARGUMENT, "shape (input 0, '%s:%d') entry %" PRId64
                        " is %" PRId64 "; dimensions must be non-negative", deft_op_name(src.op),
                        src.index, i, dims[i]);
        return;
      }
    }
    deft_shape_ctx_set_output(c, 0, deft_shape_make((int)v->n, dims));
    return;
  }
  if (in.rank == 1 && in.dims[0] >= 0) {
    int64_t dims[DEFT_MAX_RANK];
    for (int i = 0; i < in.dims[0]; i++) dims[i] = -1;
    deft_shape_ctx_set_output(c, 0, deft_shape_make((int)in.dims[0], dims));
    return;
  }
  deft_shape_ctx_set_output(c, 0, deft_shape_unknown());
}

#define RANDOM_ATTRS \
  "seed: int = 0, seed2: int = 0, dtype: {float, double}, T: {int32, int64}"

static const deft_op_def random_defs[] = {
    {.type = "RandomUniform", .inputs = "shape: T", .outputs = "output: dtype",
     .attrs = RANDOM_ATTRS, .flags = DEFT_OP_STATEFUL | DEFT_OP_NOT_DIFFERENTIABLE,
     .shape = random_shape, .prepare = random_prepare, .kernel = random_uniform_kernel},
    {.type = "RandomStandardNormal", .inputs = "shape: T", .outputs = "output: dtype",
     .attrs = RANDOM_ATTRS, .flags = DEFT_OP_STATEFUL | DEFT_OP_NOT_DIFFERENTIABLE,
     .shape = random_shape, .prepare = random_prepare, .kernel = random_normal_kernel},
    {.type = "TruncatedNormal", .inputs = "shape: T", .outputs = "output: dtype",
     .attrs = RANDOM_ATTRS, .flags = DEFT_OP_STATEFUL | DEFT_OP_NOT_DIFFERENTIABLE,
     .shape = random_shape, .prepare = random_prepare,
     .kernel = truncated_normal_kernel},
};

DEFT_FAMILY(deft_ops_random, random_defs);

/* ---- public constructors ---- */

/* TF's random_seed.get_seed: (graph seed, op seed) -> the op's (seed, seed2). With a graph seed
 * and no op seed, seed2 is the new op's id (TF uses the graph's last op id). */
/* Python's seed % (2^31 - 1): never negative. */
static int64_t truncate_seed(int64_t s) { return ((s % MAXINT32) + MAXINT32) % MAXINT32; }

void deft_random_derive_seeds(deft_graph *g, int64_t op_seed, int64_t *seed, int64_t *seed2) {
  int64_t gs;
  bool has_graph_seed = deft_graph_seed(g, &gs);
  if (has_graph_seed) {
    *seed = truncate_seed(gs);
    *seed2 = truncate_seed(op_seed ? op_seed : (int64_t)deft_graph_num_ops(g));
  } else if (op_seed) {
    *seed = DEFAULT_GRAPH_SEED;
    *seed2 = truncate_seed(op_seed);
  } else {
    *seed = *seed2 = 0;
    return;
  }
  if (*seed == 0 && *seed2 == 0) *seed2 = MAXINT32; /* (0, 0) would mean "seed randomly" */
}

static deft_output build_random(deft_graph *g, const char *type, deft_output shape,
                                deft_dtype dtype, int64_t op_seed, const char *name) {
  int64_t seed, seed2;
  deft_random_derive_seeds(g, op_seed, &seed, &seed2);
  deft_op_builder *b = deft_op_builder_new(g, type, name);
  deft_op_builder_add_input(b, shape);
  deft_op_builder_set_attr_type(b, "dtype", dtype);
  deft_op_builder_set_attr_int(b, "seed", seed);
  deft_op_builder_set_attr_int(b, "seed2", seed2);
  deft_op *op = deft_op_builder_finish(b);
  deft_output o = {op, 0};
  return o;
}

deft_output deft_random_uniform(deft_graph *g, deft_output shape, deft_dtype dtype, int64_t seed,
                                const char *name) {
  return build_random(g, "RandomUniform", shape, dtype, seed, name);
}

deft_output deft_truncated_normal(deft_graph *g, deft_output shape, deft_dtype dtype,
                                  int64_t seed, const char *name) {
  return build_random(g, "TruncatedNormal", shape, dtype, seed, name);
}

deft_output deft_random_normal(deft_graph *g, deft_output shape, deft_dtype dtype, int64_t seed,
                                const char *name) {
  return build_random(g, "RandomStandardNormal", shape, dtype, seed, name);
}
