/* SPDX-License-Identifier: Apache-2.0 */
/* tests/dist_worker.c - the program tests/test_dist.c starts under `mpirun -np N` (and once
 * without it). Public API only. Each mode prints "OK <mode>" on success, or the failing status,
 * and exits non-zero on failure:
 *   allreduce            every dtype and shape (empty, sizes not divisible by N), one op per
 *                        tensor and fused groups, against the sum computed here
 *   train DIR ROWS STEPS the equivalence model: the global batch of ROWS rows split over the
 *                        ranks; rank 0 writes DIR/weights.npy and a checkpoint DIR/model
 *   restore DIR          (one process) restores DIR/model and compares with DIR/weights.npy
 *   embed DIR ROWS STEPS as train, for an embedding model whose embedding's gradient is sparse
 *                        (IndexedSlices: a DeftAllgather, not densified)
 *   allgather            every dtype, uneven and empty first dimensions, fused, averaged,
 *                        against the concatenation computed here; differing trailing dims fail
 *                        on every rank
 *   async_error          a step failing while an allreduce is in flight fails the run cleanly
 *                        (the allreduce completed, nothing leaked), and the next run works
 *   die                  rank 1 exits before the allreduce; the others must fail, not hang
 *   nojoin               rank 1 never reaches the allreduce (sleeps past the timeout)
 *   differ               rank 1 has a differently shaped variable: broadcast refuses it */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "deft/deft.h"
#include "deft/dist.h"

static int rank_, size_;

static int fail_status(const char *what, const deft_status *st) {
  printf("rank %d FAIL %s: %s %s\n", rank_, what, deft_code_name(deft_status_code(st)),
         deft_status_message(st));
  fflush(stdout);
  return 1;
}

/* Element i of rank r's tensor k of dtype dt: small values, so sums are exact in every dtype. */
static double value_of(int r, int k, int64_t i, deft_dtype dt) {
  if (dt == DEFT_UINT8) return (double)((r * 7 + k * 3 + i) % 5);
  return (double)((r + 1) * 3 - (int64_t)((k * 5 + i) % 11)) + (dt == DEFT_FLOAT || dt == DEFT_DOUBLE ? 0.25 * r : 0);
}

static void fill(deft_tensor *t, int r, int k) {
  for (int64_t i = 0; i < deft_tensor_num_elements(t); i++) {
    double v = value_of(r, k, i, deft_tensor_dtype(t));
    void *d = deft_tensor_data(t);
    switch (deft_tensor_dtype(t)) {
      case DEFT_FLOAT: ((float *)d)[i] = (float)v; break;
      case DEFT_DOUBLE: ((double *)d)[i] = v; break;
      case DEFT_INT32: ((int32_t *)d)[i] = (int32_t)v; break;
      case DEFT_INT64: ((int64_t *)d)[i] = (int64_t)v; break;
      default: ((uint8_t *)d)[i] = (uint8_t)v; break;
    }
  }
}

static double get(const deft_tensor *t, int64_t i) {
  const void *d = deft_tensor_data((deft_tensor *)t);
  switch (deft_tensor_dtype(t)) {
    case DEFT_FLOAT: return ((const float *)d)[i];
    case DEFT_DOUBLE: return ((const double *)d)[i];
    case DEFT_INT32: return ((const int32_t *)d)[i];
    case DEFT_INT64: return (double)((const int64_t *)d)[i];
    default: return ((const uint8_t *)d)[i];
  }
}

/* Runs a graph of allreduce ops over tensors of every dtype and several shapes. */
static int mode_allreduce(deft_comm *comm) {
  static const deft_dtype dts[] = {DEFT_FLOAT, DEFT_DOUBLE, DEFT_INT32, DEFT_INT64, DEFT_UINT8};
  static const int64_t shapes[][3] = {{0, 0, 0}, {1, 1, 1}, {1, 7, 1}, {1, 0, 1}, {3, 5, 1},
                                      {2, 3, 3}, {1001, 1, 1}};
  static const int ranks[] = {0, 1, 2, 3, 2, 3, 1};
  enum { NS = sizeof ranks / sizeof ranks[0], ND = 5, NT = NS * ND };
  deft_status *st = deft_status_new();
  deft_graph *g = deft_graph_new();
  deft_output ph[NT], single[NT], fused[NT], avg[NT];
  deft_tensor *vals[NT];
  for (int d = 0; d < ND; d++)
    for (int s = 0; s < NS; s++) {
      int k = d * NS + s;
      int64_t dims[3] = {shapes[s][0], shapes[s][1], shapes[s][2]};
      ph[k] = deft_placeholder(g, dts[d], deft_shape_make(ranks[s], dims), NULL);
      vals[k] = deft_tensor_new(dts[d], dims, ranks[s], st);
      fill(vals[k], rank_, k);
      deft_op *one = deft_allreduce(g, &ph[k], 1, false, NULL);
      single[k] = (deft_output){one, 0};
    }
  /* One fused op over every tensor (all dtypes mixed), and an average of the float ones. */
  deft_op *all = deft_allreduce(g, ph, NT, false, "fused");
  for (int k = 0; k < NT; k++) fused[k] = (deft_output){all, k};
  deft_op *av = deft_allreduce(g, ph, 2 * NS, true, "average");
  for (int k = 0; k < 2 * NS; k++) avg[k] = (deft_output){av, k};
  deft_session_options *o = deft_session_options_new();
  deft_session_options_set_comm(o, comm);
  deft_session *sess = deft_session_new_with_options(g, o, st);
  deft_session_options_free(o);
  if (!sess) return fail_status("session", st);
  deft_output fetches[3 * NT];
  deft_tensor *out[3 * NT];
  memcpy(fetches, single, sizeof single);
  memcpy(fetches + NT, fused, sizeof fused);
  memcpy(fetches + 2 * NT, avg, sizeof(deft_output) * 2 * NS);
  int nf = 2 * NT + 2 * NS;
  /* Three runs (the one-op-per-tensor ops, the fused group, the average): runtime/plan.c's
   * pruning sizes its stack by the op count, so one run fetching more outputs than the graph
   * has ops would overflow it. */
  const int parts[4] = {0, NT, 2 * NT, nf};
  for (int r = 0; r < 3; r++)
    if (!deft_session_run(sess, ph, (const deft_tensor *const *)vals, NT, fetches + parts[r], out + parts[r],
                          parts[r + 1] - parts[r], NULL, 0, st))
      return fail_status("run", st);
  int bad = 0;
  for (int f = 0; f < nf; f++) {
    int k = f % NT;
    bool average = f >= 2 * NT;
    const deft_tensor *t = out[f];
    if (deft_tensor_dtype(t) != deft_tensor_dtype(vals[k]) || deft_tensor_num_elements(t) != deft_tensor_num_elements(vals[k]) || deft_tensor_rank(t) != deft_tensor_rank(vals[k])) bad++;
    for (int64_t i = 0; i < deft_tensor_num_elements(t) && !bad; i++) {
      double want = 0;
      for (int r = 0; r < size_; r++) {
        double v = value_of(r, k, i, deft_tensor_dtype(t));
        if (deft_tensor_dtype(t) == DEFT_FLOAT) v = (float)v;
        want += v;
      }
      if (deft_tensor_dtype(t) == DEFT_UINT8) want = fmod(want, 256);
      if (average) want /= size_;
      double got = get(t, i);
      if (fabs(got - want) > 1e-5 * (1 + fabs(want))) {
        printf("rank %d: fetch %d (tensor %d, %s) element %lld: got %g, want %g\n", rank_, f, k,
               deft_dtype_name(deft_tensor_dtype(t)), (long long)i, got, want);
        bad++;
      }
    }
  }
  for (int f = 0; f < nf; f++) deft_tensor_free(out[f]);
  /* Refused dtypes: averaging integers, reducing bool. */
  deft_output ib = deft_placeholder(g, DEFT_INT32, DEFT_SCALAR, "ib");
  deft_op *iavg = deft_allreduce(g, &ib, 1, true, "int_average");
  deft_tensor *x = NULL;
  deft_output iavg0 = {iavg, 0};
  deft_tensor *iv = deft_tensor_new(DEFT_INT32, NULL, 0, st);
  bool refused = !deft_session_run(sess, &ib, (const deft_tensor *const *)&iv, 1, &iavg0, &x, 1, NULL, 0, st) &&
                 strstr(deft_status_message(st), "int_average") &&
                 strstr(deft_status_message(st), "float or double");
  deft_tensor_free(iv);
  if (!refused) {
    printf("rank %d: averaging int32 was not refused: %s\n", rank_, deft_status_message(st));
    bad++;
  }
  for (int k = 0; k < NT; k++) deft_tensor_free(vals[k]);
  deft_session_free(sess);
  deft_graph_free(g);
  deft_status_free(st);
  if (bad) return 1;
  printf("OK allreduce rank %d of %d\n", rank_, size_);
  return 0;
}

/* Byte j of rank r's tensor k (bool: 0 or 1). */
static uint8_t byte_of(int r, int k, int64_t j, deft_dtype dt) {
  unsigned v = (unsigned)(r * 37 + k * 11 + j * 5 + 1);
  return dt == DEFT_BOOL ? (uint8_t)(v & 1) : (uint8_t)(v % 251);
}

/* Rows of rank r's tensor k: uneven, and rank 0's first tensor of each dtype has none. */
static int64_t rows_of(int r, int k) { return (k % 3 == 0 && r == 0) ? 0 : (r * 2 + k) % 5; }

/* DeftAllgather of every dtype but string, each as its own op and all in one fused op, plus an
 * average of floats, against the concatenation computed here. Then a tensor whose second
 * dimension differs on rank 1 must fail on every rank. */
static int mode_allgather(deft_comm *comm) {
  static const deft_dtype dts[] = {DEFT_FLOAT, DEFT_DOUBLE, DEFT_INT32,  DEFT_UINT8, DEFT_INT64,
                                   DEFT_BOOL,  DEFT_QINT8,  DEFT_QUINT8, DEFT_QINT32};
  enum { ND = sizeof dts / sizeof dts[0], PER = 3, NT = ND * PER };
  deft_status *st = deft_status_new();
  deft_graph *g = deft_graph_new();
  deft_output ph[NT], fetches[2 * NT + 2];
  deft_tensor *vals[NT], *out[2 * NT + 2];
  int64_t trail[PER] = {1, 3, 7}; /* [rows], [rows, 3], [rows, 7] */
  for (int d = 0; d < ND; d++)
    for (int j = 0; j < PER; j++) {
      int k = d * PER + j;
      int64_t dims[2] = {rows_of(rank_, k), trail[j]};
      int rank = j == 0 ? 1 : 2;
      ph[k] = deft_placeholder(g, dts[d], deft_shape_make(rank, (int64_t[]){-1, trail[j]}), NULL);
      vals[k] = deft_tensor_new(dts[d], dims, rank, st);
      uint8_t *b = deft_tensor_data(vals[k]);
      for (int64_t i = 0; i < (int64_t)deft_tensor_nbytes(vals[k]); i++)
        b[i] = byte_of(rank_, k, i, dts[d]);
      fetches[k] = deft_op_output(deft_allgather(g, &ph[k], 1, false, NULL), 0);
    }
  deft_op *fused = deft_allgather(g, ph, NT, false, "fused");
  for (int k = 0; k < NT; k++) fetches[NT + k] = deft_op_output(fused, k);
  /* Averaged: the float and double tensors of width 3. */
  deft_output avin[2] = {ph[1], ph[PER + 1]};
  deft_op *av = deft_allgather(g, avin, 2, true, "average");
  fetches[2 * NT] = deft_op_output(av, 0);
  fetches[2 * NT + 1] = deft_op_output(av, 1);
  if (!deft_graph_ok(g)) return fail_status("build", deft_graph_status(g));
  deft_session_options *o = deft_session_options_new();
  deft_session_options_set_comm(o, comm);
  deft_session *sess = deft_session_new_with_options(g, o, st);
  deft_session_options_free(o);
  if (!sess) return fail_status("session", st);
  const int parts[4] = {0, NT, 2 * NT, 2 * NT + 2};
  for (int r = 0; r < 3; r++)
    if (!deft_session_run(sess, ph, (const deft_tensor *const *)vals, NT, fetches + parts[r],
                          out + parts[r], parts[r + 1] - parts[r], NULL, 0, st))
      return fail_status("run", st);
  int bad = 0;
  for (int f = 0; f < 2 * NT + 2 && bad < 5; f++) {
    int k = f < 2 * NT ? f % NT : (f == 2 * NT ? 1 : PER + 1);
    deft_dtype dt = deft_tensor_dtype(vals[k]);
    size_t rowb = deft_dtype_size(dt) * (size_t)trail[k % PER];
    int64_t rows = 0;
    for (int r = 0; r < size_; r++) rows += rows_of(r, k);
    const deft_tensor *t = out[f];
    if (deft_tensor_dtype(t) != dt || deft_tensor_rank(t) != deft_tensor_rank(vals[k]) ||
        deft_tensor_dim(t, 0) != rows || deft_tensor_nbytes(t) != rowb * (size_t)rows) {
      printf(
          "rank %d: fetch %d (tensor %d, %s) has the wrong dtype or shape (%lld rows, want "
          "%lld)\n",
          rank_, f, k, deft_dtype_name(dt), (long long)deft_tensor_dim(t, 0), (long long)rows);
      bad++;
      continue;
    }
    const uint8_t *got = deft_tensor_data((deft_tensor *)t);
    size_t at = 0;
    for (int r = 0; r < size_; r++)
      for (size_t i = 0; i < rowb * (size_t)rows_of(r, k); i++, at++) {
        uint8_t want = byte_of(r, k, (int64_t)i, dt);
        bool ok;
        if (f < 2 * NT) {
          ok = got[at] == want;
        } else { /* compare the averaged element at this byte's element */
          if (i % deft_dtype_size(dt)) continue;
          uint8_t w[8];
          for (size_t b = 0; b < deft_dtype_size(dt); b++)
            w[b] = byte_of(r, k, (int64_t)(i + b), dt);
          double wv = dt == DEFT_FLOAT ? (double)*(float *)w : *(double *)w;
          double gv =
              dt == DEFT_FLOAT ? (double)*(const float *)(got + at) : *(const double *)(got + at);
          wv /= size_;
          ok = (isnan(wv) && isnan(gv)) || fabs(gv - wv) <= 1e-6 * fabs(wv) ||
               (isinf(wv) && gv == wv);
        }
        if (!ok) {
          printf("rank %d: fetch %d (tensor %d, %s) byte %zu of rank %d's part is wrong\n", rank_,
                 f, k, deft_dtype_name(dt), i, r);
          bad++;
          break;
        }
      }
  }
  for (int f = 0; f < 2 * NT + 2; f++) deft_tensor_free(out[f]);
  /* Trailing dims that differ across ranks: every rank fails, naming rank 0's and the other. */
  deft_output q = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(-1, -1), "q");
  deft_output qg = deft_op_output(deft_allgather(g, &q, 1, false, "mismatch"), 0);
  deft_tensor *qv = deft_tensor_new(DEFT_FLOAT, (int64_t[]){2, rank_ == 1 ? 3 : 2}, 2, st);
  memset(deft_tensor_data(qv), 0, deft_tensor_nbytes(qv));
  deft_tensor *qo = NULL;
  if (deft_session_run(sess, &q, (const deft_tensor *const *)&qv, 1, &qg, &qo, 1, NULL, 0, st)) {
    printf("rank %d: differing trailing dims were gathered\n", rank_);
    bad++;
    deft_tensor_free(qo);
  } else {
    fail_status("mismatch", st);
  }
  deft_tensor_free(qv);
  /* The comm still works after that refusal (it was decided alike on every rank). */
  if (!deft_session_run(sess, ph, (const deft_tensor *const *)vals, NT, fetches, out, 1, NULL, 0,
                        st))
    return fail_status("run after the refusal", st);
  deft_tensor_free(out[0]);
  for (int k = 0; k < NT; k++) deft_tensor_free(vals[k]);
  deft_session_free(sess);
  deft_graph_free(g);
  deft_status_free(st);
  if (bad) return 1;
  printf("OK allgather rank %d of %d\n", rank_, size_);
  return 0;
}

/* A run whose later step fails while an allreduce is in flight: the run fails with that step's
 * error (on every rank), the allreduce is completed on the way out (nothing leaks: the ASan
 * build checks), and the next run on the same session and communicator is right. */
static int mode_async_error(deft_comm *comm) {
  deft_status *st = deft_status_new();
  deft_graph *g = deft_graph_new();
  deft_output x = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(4), "x");
  deft_output shape = deft_placeholder(g, DEFT_INT32, DEFT_SHAPE(-1), "shape");
  deft_output r = deft_op_output(deft_allreduce(g, &x, 1, false, NULL), 0);
  /* Reshape of x (not of r), so it runs while the allreduce is in flight, before r's reader. */
  deft_output bad = deft_reshape(g, x, shape, "bad_reshape");
  deft_output r2 = deft_add(g, r, r, "r2");
  deft_session_options *o = deft_session_options_new();
  deft_session_options_set_comm(o, comm);
  deft_session *s = deft_session_new_with_options(g, o, st);
  deft_session_options_free(o);
  if (!s) return fail_status("session", st);
  float xv[4] = {1, 2, 3, (float)rank_};
  deft_tensor *xt = deft_tensor_from_data(DEFT_FLOAT, (int64_t[]){4}, 1, xv, sizeof xv, st);
  int32_t sv[1] = {5};
  deft_tensor *shp = deft_tensor_from_data(DEFT_INT32, (int64_t[]){1}, 1, sv, sizeof sv, st);
  deft_output feeds[2] = {x, shape}, fetch[2] = {r2, bad};
  deft_tensor *fv[2] = {xt, shp}, *out[2] = {NULL, NULL};
  int fails = 0;
  for (int i = 0; i < 3; i++) {
    if (deft_session_run(s, feeds, (const deft_tensor *const *)fv, 2, fetch, out, 2, NULL, 0, st)) {
      printf("rank %d: the bad reshape did not fail\n", rank_);
      return 1;
    }
    if (!strstr(deft_status_message(st), "bad_reshape")) return fail_status("wrong error", st);
    fails++;
  }
  printf("rank %d: failing run: %s %s\n", rank_, deft_code_name(deft_status_code(st)),
         deft_status_message(st));
  sv[0] = 4;
  deft_tensor_free(shp);
  shp = deft_tensor_from_data(DEFT_INT32, (int64_t[]){1}, 1, sv, sizeof sv, st);
  fv[1] = shp;
  if (!deft_session_run(s, feeds, (const deft_tensor *const *)fv, 2, fetch, out, 2, NULL, 0, st))
    return fail_status("good run", st);
  const float *rv = deft_tensor_data(out[0]);
  double last = 0;
  for (int q = 0; q < size_; q++) last += q;
  float want[4] = {2.0f * size_, 4.0f * size_, 6.0f * size_, (float)(2 * last)};
  if (memcmp(rv, want, sizeof want)) {
    printf("rank %d: after the failures the sum is %g %g %g %g\n", rank_, rv[0], rv[1], rv[2],
           rv[3]);
    return 1;
  }
  deft_tensor_free(out[0]);
  deft_tensor_free(out[1]);
  deft_tensor_free(xt);
  deft_tensor_free(shp);
  deft_session_free(s);
  deft_graph_free(g);
  deft_status_free(st);
  printf("OK async_error rank %d of %d (%d failing runs)\n", rank_, size_, fails);
  return 0;
}

/* ---- the equivalence model: 8 -> 16 relu -> 3, mean cross-entropy, plain SGD ---- */

typedef struct model {
  deft_graph *g;
  deft_output x, y, loss;
  deft_op *train, *init, *k1, *b1, *k2, *b2;
  deft_saver *saver;
} model;

/* extra < 0: the embedding model: x holds 8 int32 ids per row (a 30 x 16 embedding, averaged
 * over the row's ids, so rows share embedding rows: repeated indices). */
static bool build_model(model *m, int extra) {
  deft_graph *g = m->g = deft_graph_new();
  deft_graph_set_seed(g, 42);
  bool embed = extra < 0;
  m->x = deft_placeholder(g, embed ? DEFT_INT32 : DEFT_FLOAT, DEFT_SHAPE(-1, 8), "x");
  m->y = deft_placeholder(g, DEFT_INT32, DEFT_SHAPE(-1), "y");
  deft_dense_options h = {.activation = "relu"};
  deft_output in = m->x;
  if (embed) {
    deft_op *e = deft_get_variable(g, "embedding", DEFT_FLOAT, DEFT_SHAPE(30, 16),
                                   deft_init_random_uniform(-1, 1, 7), true);
    deft_output rows = deft_gather(g, deft_op_output(e, 0), m->x, NULL); /* [n, 8, 16] */
    in = deft_mean(g, rows, deft_const_int32(g, 1, NULL), false, NULL);
    extra = 0;
  }
  deft_output z = deft_dense(g, in, 16 + extra, &h, "hidden");
  deft_output logits = deft_dense(g, z, 3, NULL, "out");
  deft_output xent = deft_sparse_softmax_cross_entropy_with_logits(g, logits, m->y, NULL);
  m->loss = deft_mean(g, xent, deft_const_int32(g, 0, NULL), false, "loss");
  deft_optimizer *opt = deft_optimizer_gradient_descent(g, 0.5f);
  deft_optimizer_set_distributed(opt, 1024); /* small threshold: several fusion groups */
  m->train = deft_optimizer_minimize(opt, m->loss, NULL, 0, NULL, "train");
  deft_optimizer_free(opt);
  m->init = deft_global_variables_initializer(g, "init");
  m->k1 = deft_graph_op_by_name(g, "hidden/kernel");
  m->b1 = deft_graph_op_by_name(g, "hidden/bias");
  m->k2 = deft_graph_op_by_name(g, "out/kernel");
  m->b2 = deft_graph_op_by_name(g, "out/bias");
  m->saver = deft_saver_new(g, NULL, 0, 5, NULL);
  return m->saver && deft_graph_ok(g);
}

static void free_model(model *m) {
  deft_saver_free(m->saver);
  deft_graph_free(m->g);
}

/* The embedding model's data: 8 ids in [0, 30) per row, labels by their sum. */
static void make_ids(int64_t rows, deft_tensor **x, deft_tensor **y, deft_status *st) {
  *x = deft_tensor_new(DEFT_INT32, (int64_t[]){rows, 8}, 2, st);
  *y = deft_tensor_new(DEFT_INT32, (int64_t[]){rows}, 1, st);
  int32_t *xp = deft_tensor_data(*x), *yp = deft_tensor_data(*y);
  for (int64_t r = 0; r < rows; r++) {
    int s = 0;
    for (int j = 0; j < 8; j++) s += xp[r * 8 + j] = (int32_t)((r * 7 + j * j * 3 + r / 5) % 30);
    yp[r] = s % 3;
  }
}

/* The data: rows of a fixed function, labels by a linear rule. */
static void make_data(int64_t rows, deft_tensor **x, deft_tensor **y, deft_status *st) {
  *x = deft_tensor_new(DEFT_FLOAT, (int64_t[]){rows, 8}, 2, st);
  *y = deft_tensor_new(DEFT_INT32, (int64_t[]){rows}, 1, st);
  float *xp = deft_tensor_data(*x);
  int32_t *yp = deft_tensor_data(*y);
  for (int64_t r = 0; r < rows; r++) {
    double s = 0;
    for (int j = 0; j < 8; j++) {
      xp[r * 8 + j] = (float)sin(0.37 * (double)(r * 8 + j) + j);
      s += (j % 3 - 1) * xp[r * 8 + j];
    }
    yp[r] = s > 0.4 ? 2 : s < -0.4 ? 0 : 1;
  }
}

/* The variables (four, and the embedding model's embedding), concatenated, as one float
 * tensor. */
static deft_tensor *weights(deft_session *s, model *m, deft_status *st) {
  deft_op *vs[5] = {m->k1, m->b1, m->k2, m->b2, deft_graph_op_by_name(m->g, "embedding")};
  int nv = vs[4] ? 5 : 4;
  int64_t total = 0;
  deft_tensor *v[5];
  for (int i = 0; i < nv; i++) {
    v[i] = deft_session_variable_value(s, vs[i], st);
    if (!v[i]) return NULL;
    total += deft_tensor_num_elements(v[i]);
  }
  deft_tensor *w = deft_tensor_new(DEFT_FLOAT, &total, 1, st);
  float *p = deft_tensor_data(w);
  for (int i = 0; i < nv; i++) {
    memcpy(p, deft_tensor_data(v[i]), sizeof(float) * (size_t)deft_tensor_num_elements(v[i]));
    p += deft_tensor_num_elements(v[i]);
    deft_tensor_free(v[i]);
  }
  return w;
}

static int mode_train(deft_comm *comm, const char *dir, int64_t global_batch, int steps,
                      bool embed) {
  deft_status *st = deft_status_new();
  model m;
  if (!build_model(&m, embed ? -1 : 0)) return fail_status("build", deft_graph_status(m.g));
  if (embed) { /* the embedding's gradient is gathered sparsely, the rest reduced */
    int ng = 0;
    for (int i = 0; i < deft_graph_num_ops(m.g); i++)
      ng += !strcmp(deft_op_type(deft_graph_op_at(m.g, i)), "DeftAllgather");
    if (ng != 1) {
      printf("rank %d: %d DeftAllgather ops, want 1\n", rank_, ng);
      return 1;
    }
  }
  deft_session_options *o = deft_session_options_new();
  deft_session_options_set_comm(o, comm);
  deft_session *s = deft_session_new_with_options(m.g, o, st);
  deft_session_options_free(o);
  if (!s) return fail_status("session", st);
  if (!deft_session_run(s, NULL, NULL, 0, NULL, NULL, 0, &m.init, 1, st))
    return fail_status("init", st);
  /* The other ranks start from different values: the broadcast must replace them. */
  if (rank_ != 0) {
    deft_tensor *k = deft_session_variable_value(s, m.k1, st);
    float *kp = deft_tensor_data(k);
    for (int64_t i = 0; i < deft_tensor_num_elements(k); i++) kp[i] += (float)rank_;
    if (!deft_session_set_variable(s, m.k1, k, st)) return fail_status("perturb", st);
    deft_tensor_free(k);
  }
  if (!deft_comm_broadcast_variables(comm, s, 0, st)) return fail_status("broadcast", st);
  deft_tensor *x, *y;
  if (embed)
    make_ids(global_batch * 2, &x, &y, st);
  else
    make_data(global_batch * 2, &x, &y, st);
  deft_batcher *b = deft_batcher_new(x, y, global_batch / size_, 7, st);
  if (!b || !deft_batcher_set_shard(b, rank_, size_, st)) return fail_status("batcher", st);
  int done = 0;
  while (done < steps) {
    const deft_tensor *xb, *yb;
    deft_batch_result br = deft_batcher_next(b, &xb, &yb, st);
    if (br == DEFT_BATCH_ERROR) return fail_status("batch", st);
    if (br == DEFT_BATCH_END) continue;
    deft_output feeds[2] = {m.x, m.y};
    deft_tensor *fv[2] = {(deft_tensor *)xb, (deft_tensor *)yb};
    if (!deft_session_run(s, feeds, (const deft_tensor *const *)fv, 2, NULL, NULL, 0, &m.train, 1, st))
      return fail_status("train", st);
    done++;
  }
  deft_tensor *w = weights(s, &m, st);
  if (!w) return fail_status("weights", st);
  /* Every rank must hold the same weights: compare with rank 0's. */
  deft_tensor *w0 = deft_tensor_new(DEFT_FLOAT, (int64_t[]){deft_tensor_num_elements(w)}, 1, st);
  memcpy(deft_tensor_data(w0), deft_tensor_data(w), sizeof(float) * (size_t)deft_tensor_num_elements(w));
  if (!deft_comm_broadcast(comm, deft_tensor_data(w0), (int64_t)sizeof(float) * deft_tensor_num_elements(w), 0, st))
    return fail_status("compare", st);
  if (memcmp(deft_tensor_data(w0), deft_tensor_data(w), sizeof(float) * (size_t)deft_tensor_num_elements(w))) {
    printf("rank %d: weights differ from rank 0's\n", rank_);
    return 1;
  }
  if (rank_ == 0) {
    char path[1024];
    snprintf(path, sizeof path, "%s/weights.npy", dir);
    if (!deft_npy_write(path, w, st)) return fail_status("npy", st);
    snprintf(path, sizeof path, "%s/model", dir);
    if (!deft_saver_save(m.saver, s, path, -1, NULL, st)) return fail_status("save", st);
  }
  deft_tensor_free(w);
  deft_tensor_free(w0);
  deft_batcher_free(b);
  deft_tensor_free(x);
  deft_tensor_free(y);
  deft_session_free(s);
  free_model(&m);
  deft_status_free(st);
  printf("OK train rank %d of %d\n", rank_, size_);
  return 0;
}

static int mode_restore(const char *dir) {
  deft_status *st = deft_status_new();
  model m;
  if (!build_model(&m, 0)) return fail_status("build", deft_graph_status(m.g));
  deft_session *s = deft_session_new(m.g, st);
  char path[1024];
  snprintf(path, sizeof path, "%s/model", dir);
  if (!deft_saver_restore(m.saver, s, path, st)) return fail_status("restore", st);
  deft_tensor *w = weights(s, &m, st);
  snprintf(path, sizeof path, "%s/weights.npy", dir);
  deft_tensor *want = deft_npy_read(path, st);
  if (!w || !want) return fail_status("read", st);
  if (deft_tensor_num_elements(w) != deft_tensor_num_elements(want) ||
      memcmp(deft_tensor_data(w), deft_tensor_data(want), sizeof(float) * (size_t)deft_tensor_num_elements(w))) {
    printf("restored weights differ from weights.npy\n");
    return 1;
  }
  deft_tensor_free(w);
  deft_tensor_free(want);
  deft_session_free(s);
  free_model(&m);
  deft_status_free(st);
  printf("OK restore\n");
  return 0;
}

/* die / nojoin: rank 1 leaves or stalls; the others' allreduce must fail within the timeout. */
static int mode_failure(deft_comm *comm, bool die) {
  deft_status *st = deft_status_new();
  deft_comm_set_timeout(comm, 3);
  if (rank_ == 1) {
    if (die) _exit(3);
    sleep(8);
    deft_status_free(st);
    return 0;
  }
  float v[4] = {1, 2, 3, 4};
  if (deft_comm_allreduce(comm, v, 4, DEFT_FLOAT, false, st)) {
    printf("rank %d: the allreduce succeeded without rank 1\n", rank_);
    return 1;
  }
  fail_status("allreduce", st);
  /* A broken communicator fails at once with the same error. */
  deft_status *st2 = deft_status_new();
  if (deft_comm_allreduce(comm, v, 4, DEFT_FLOAT, false, st2) ||
      deft_status_code(st2) != deft_status_code(st))
    printf("rank %d: the broken communicator did not keep its error\n", rank_);
  else
    printf("rank %d: broken communicator keeps %s\n", rank_,
           deft_code_name(deft_status_code(st2)));
  fflush(stdout);
  deft_status_free(st2);
  deft_status_free(st);
  deft_mpi_abort(2);
  return 2;
}

static int mode_differ(deft_comm *comm) {
  deft_status *st = deft_status_new();
  model m;
  if (!build_model(&m, rank_ == 1 ? 1 : 0)) return fail_status("build", deft_graph_status(m.g));
  deft_session *s = deft_session_new(m.g, st);
  if (!deft_session_run(s, NULL, NULL, 0, NULL, NULL, 0, &m.init, 1, st))
    return fail_status("init", st);
  bool ok = deft_comm_broadcast_variables(comm, s, 0, st);
  if (ok) {
    printf("rank %d: differing variables were broadcast\n", rank_);
    return 1;
  }
  fail_status("broadcast", st);
  deft_session_free(s);
  free_model(&m);
  deft_status_free(st);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: dist_worker MODE [ARGS]\n");
    return 2;
  }
  const char *mode = argv[1];
  if (!strcmp(mode, "restore") && argc == 3) return mode_restore(argv[2]);
  deft_status *st = deft_status_new();
  if (!deft_mpi_init(&argc, &argv, st)) return fail_status("mpi_init", st);
  deft_comm *comm = deft_comm_world(st);
  if (!comm) return fail_status("comm", st);
  rank_ = deft_comm_rank(comm);
  size_ = deft_comm_size(comm);
  int rc = 2;
  if (!strcmp(mode, "allreduce"))
    rc = mode_allreduce(comm);
  else if ((!strcmp(mode, "train") || !strcmp(mode, "embed")) && argc == 5)
    rc = mode_train(comm, argv[2], atoll(argv[3]), atoi(argv[4]), !strcmp(mode, "embed"));
  else if (!strcmp(mode, "allgather"))
    rc = mode_allgather(comm);
  else if (!strcmp(mode, "async_error"))
    rc = mode_async_error(comm);
  else if (!strcmp(mode, "die") || !strcmp(mode, "nojoin"))
    rc = mode_failure(comm, !strcmp(mode, "die"));
  else if (!strcmp(mode, "differ"))
    rc = mode_differ(comm);
  fflush(stdout);
  deft_comm_free(comm);
  deft_status_free(st);
  deft_mpi_finalize();
  return rc;
}
