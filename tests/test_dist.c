/* SPDX-License-Identifier: Apache-2.0 */
/* tests/test_dist.c - data-parallel training (deft/dist.h). In one process: DeftAllreduce is the
 * identity (no communicator, or a one-process one) and a meta graph records it, the distributed
 * optimizer's fusion groups and its sparse (allgather) path, DeftAllgather's identity and
 * refusals, the batcher's shards. With MPI (DEFT_TEST_MPI): tests/dist_worker
 * started by `mpirun --oversubscribe -np 2` and `-np 4` on loopback: allreduce of every dtype and
 * shape against local sums, allgather of every dtype (empty and uneven parts) against the
 * concatenation, 1 x 200 rows == 2 x 100 == 4 x 50 after N steps (dense, and an embedding's
 * sparse gradient), a failing run with an allreduce in flight, a checkpoint from
 * rank 0 restored in one process, a rank that dies or never joins, variables that differ. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "deft/dist.h"
#include "testutil.h"

START_TEST(allreduce_identity_in_one_process) {
  deft_status *st = deft_status_new();
  deft_graph *g = deft_graph_new();
  deft_output in[2] = {deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(3), "a"),
                       deft_placeholder(g, DEFT_INT64, DEFT_SHAPE(0), "b")};
  deft_op *r = deft_allreduce(g, in, 2, false, NULL);
  ck_assert_ptr_nonnull(r);
  ck_assert_str_eq(deft_op_type(r), "DeftAllreduce");
  ck_assert(deft_shape_num_elements(deft_output_shape(deft_op_output(r, 0))) == 3);
  deft_comm *local = deft_comm_local();
  ck_assert_int_eq(deft_comm_rank(local), 0);
  ck_assert_int_eq(deft_comm_size(local), 1);
  for (int with_comm = 0; with_comm < 2; with_comm++) {
    deft_session_options *o = deft_session_options_new();
    if (with_comm) deft_session_options_set_comm(o, local);
    deft_session *s = deft_session_new_with_options(g, o, st);
    deft_session_options_free(o);
    float av[3] = {1.5f, -2, 4};
    deft_tensor *fv[2] = {deft_tensor_from_data(DEFT_FLOAT, (int64_t[]){3}, 1, av, sizeof av, st),
                          deft_tensor_new(DEFT_INT64, (int64_t[]){0}, 1, st)};
    deft_output f[2] = {deft_op_output(r, 0), deft_op_output(r, 1)};
    deft_tensor *out[2];
    ck_assert_msg(deft_session_run(s, in, (const deft_tensor *const *)fv, 2, f, out, 2, NULL, 0, st), "%s",
                  deft_status_message(st));
    ck_assert_mem_eq(deft_tensor_data(out[0]), av, sizeof av);
    ck_assert_int_eq(deft_tensor_num_elements(out[1]), 0);
    for (int i = 0; i < 2; i++) {
      deft_tensor_free(out[i]);
      deft_tensor_free(fv[i]);
    }
    deft_session_free(s);
  }
  /* Averaging an int32 is refused when planned, naming the op. */
  deft_output ib = deft_placeholder(g, DEFT_INT32, DEFT_SCALAR, "ib");
  deft_op *bad = deft_allreduce(g, &ib, 1, true, "int_avg");
  deft_session *s = deft_session_new(g, st);
  deft_output bo = deft_op_output(bad, 0);
  deft_tensor *iv = deft_tensor_scalar_int32(3), *x = NULL;
  ck_assert(!deft_session_run(s, &ib, (const deft_tensor *const *)&iv, 1, &bo, &x, 1, NULL, 0, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "int_avg", "float or double");
  deft_tensor_free(iv);
  deft_session_free(s);
  /* A meta graph records the op type; importing it gives the op back. */
  char path[1024];
  snprintf(path, sizeof path, "%s/allreduce.meta", tu_tmpdir());
  ck_assert_msg(deft_export_meta_graph(g, path, NULL, st), "%s", deft_status_message(st));
  deft_graph *g2 = deft_import_meta_graph(path, NULL, NULL, st);
  ck_assert_msg(g2, "%s", deft_status_message(st));
  deft_op *r2 = deft_graph_op_by_name(g2, deft_op_name(r));
  ck_assert_ptr_nonnull(r2);
  ck_assert_str_eq(deft_op_type(r2), "DeftAllreduce");
  deft_graph_free(g2);
  /* Without MPI in the build, the MPI entry points say so. */
  if (!deft_mpi_available()) {
    ck_assert(!deft_mpi_init(NULL, NULL, st));
    ck_assert_int_eq(deft_status_code(st), DEFT_UNIMPLEMENTED);
  }
  deft_comm_free(local);
  deft_graph_free(g);
  deft_status_free(st);
}
END_TEST

/* The number of DeftAllreduce ops the distributed optimizer builds for a fusion threshold. */
static int count_allreduce_ops(int64_t fusion, deft_op **train, deft_graph **gout) {
  deft_graph *g = deft_graph_new();
  deft_output x = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(-1, 10), "x");
  deft_output h = deft_dense(g, x, 20, NULL, "h");    /* 800 + 80 bytes */
  deft_output y = deft_dense(g, h, 5, NULL, "y");     /* 400 + 20 bytes */
  deft_output loss = deft_mean(g, deft_square(g, y, NULL), deft_const_int32(g, 1, NULL), false,
                               NULL);
  loss = deft_mean(g, loss, deft_const_int32(g, 0, NULL), false, "loss");
  deft_optimizer *opt = deft_optimizer_gradient_descent(g, 0.1f);
  deft_optimizer_set_distributed(opt, fusion);
  *train = deft_optimizer_minimize(opt, loss, NULL, 0, NULL, NULL);
  deft_optimizer_free(opt);
  ck_assert_msg(deft_graph_ok(g), "%s", deft_status_message(deft_graph_status(g)));
  int n = 0;
  for (int i = 0; i < deft_graph_num_ops(g); i++)
    if (!strcmp(deft_op_type(deft_graph_op_at(g, i)), "DeftAllreduce")) n++;
  *gout = g;
  return n;
}

START_TEST(distributed_optimizer_fusion_groups) {
  deft_op *train;
  deft_graph *g;
  /* Groups in backprop order: y/bias, y/kernel, h/bias, h/kernel. */
  ck_assert_int_eq(count_allreduce_ops(0, &train, &g), 4); /* no fusion */
  deft_graph_free(g);
  ck_assert_int_eq(count_allreduce_ops(450, &train, &g), 3); /* {y/b, y/k}, {h/b}, {h/k} */
  deft_op *grp = deft_graph_op_by_name(g, "GradientDescent_Allreduce/DeftAllreduce");
  ck_assert_ptr_nonnull(grp);
  ck_assert_int_eq(deft_op_num_inputs(grp), 2);
  deft_graph_free(g);
  ck_assert_int_eq(count_allreduce_ops(DEFT_FUSION_DEFAULT_BYTES, &train, &g), 1);
  /* In one process the distributed step equals the plain one. */
  deft_status *st = deft_status_new();
  deft_session *s = deft_session_new(g, st);
  deft_op *init = deft_global_variables_initializer(g, "init");
  ck_assert(deft_session_run(s, NULL, NULL, 0, NULL, NULL, 0, &init, 1, st));
  deft_op *k = deft_graph_op_by_name(g, "y/kernel");
  deft_tensor *before = deft_session_variable_value(s, k, st);
  float xv[20];
  for (int i = 0; i < 20; i++) xv[i] = (float)sin(i);
  deft_tensor *xt = deft_tensor_from_data(DEFT_FLOAT, (int64_t[]){2, 10}, 2, xv, sizeof xv, st);
  deft_output xin = {deft_graph_op_by_name(g, "x"), 0};
  ck_assert_msg(deft_session_run(s, &xin, (const deft_tensor *const *)&xt, 1, NULL, NULL, 0, &train, 1, st), "%s",
                deft_status_message(st));
  deft_tensor *after = deft_session_variable_value(s, k, st);
  ck_assert(memcmp(deft_tensor_data(before), deft_tensor_data(after),
                   deft_tensor_nbytes(after)) != 0);
  deft_tensor_free(before);
  deft_tensor_free(after);
  deft_tensor_free(xt);
  deft_session_free(s);
  deft_graph_free(g);
  deft_status_free(st);
}
END_TEST

START_TEST(allgather_identity_in_one_process) {
  deft_status *st = deft_status_new();
  deft_graph *g = deft_graph_new();
  deft_output in[2] = {deft_placeholder(g, DEFT_INT64, DEFT_SHAPE(-1), "i"),
                       deft_placeholder(g, DEFT_BOOL, DEFT_SHAPE(-1, 2), "b")};
  deft_op *r = deft_allgather(g, in, 2, true, NULL);
  ck_assert_ptr_nonnull(r);
  ck_assert_str_eq(deft_op_type(r), "DeftAllgather");
  /* The first dimension is unknown (ranks differ), the rest kept. */
  deft_shape sh = deft_output_shape(deft_op_output(r, 1));
  ck_assert_int_eq(sh.rank, 2);
  ck_assert_int_eq(sh.dims[0], -1);
  ck_assert_int_eq(sh.dims[1], 2);
  deft_comm *local = deft_comm_local();
  for (int with_comm = 0; with_comm < 2; with_comm++) {
    deft_session_options *o = deft_session_options_new();
    if (with_comm) deft_session_options_set_comm(o, local);
    deft_session *s = deft_session_new_with_options(g, o, st);
    deft_session_options_free(o);
    int64_t iv[3] = {5, -1, 7};
    bool bv[4] = {true, false, false, true};
    deft_tensor *fv[2] = {
        deft_tensor_from_data(DEFT_INT64, (int64_t[]){3}, 1, iv, sizeof iv, st),
        deft_tensor_from_data(DEFT_BOOL, (int64_t[]){2, 2}, 2, bv, sizeof bv, st)};
    deft_output f[2] = {deft_op_output(r, 0), deft_op_output(r, 1)};
    deft_tensor *out[2];
    ck_assert_msg(
        deft_session_run(s, in, (const deft_tensor *const *)fv, 2, f, out, 2, NULL, 0, st), "%s",
        deft_status_message(st));
    ck_assert_mem_eq(deft_tensor_data(out[0]), iv, sizeof iv);
    ck_assert_mem_eq(deft_tensor_data(out[1]), bv, sizeof bv);
    for (int i = 0; i < 2; i++) {
      deft_tensor_free(out[i]);
      deft_tensor_free(fv[i]);
    }
    deft_session_free(s);
  }
  deft_comm_free(local);
  /* A scalar is refused when built, a string when planned. */
  deft_output sc = deft_placeholder(g, DEFT_FLOAT, DEFT_SCALAR, "sc");
  ck_assert_ptr_null(deft_allgather(g, &sc, 1, false, "scalar_gather"));
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "scalar_gather", "scalar");
  deft_graph_free(g);
  g = deft_graph_new();
  deft_output str = deft_placeholder(g, DEFT_STRING, DEFT_SHAPE(-1), "str");
  deft_op *sg = deft_allgather(g, &str, 1, false, "string_gather");
  ck_assert_ptr_nonnull(sg);
  ck_assert_ptr_null(deft_allgather(g, NULL, 0, false, NULL));
  deft_graph_free(g);
  g = deft_graph_new();
  str = deft_placeholder(g, DEFT_STRING, DEFT_SHAPE(-1), "str");
  sg = deft_allgather(g, &str, 1, false, "string_gather");
  deft_session *s = deft_session_new(g, st);
  deft_tensor *sv = deft_tensor_new(DEFT_STRING, (int64_t[]){1}, 1, st), *x = NULL;
  deft_output so = deft_op_output(sg, 0);
  ck_assert(
      !deft_session_run(s, &str, (const deft_tensor *const *)&sv, 1, &so, &x, 1, NULL, 0, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "string_gather", "string");
  deft_tensor_free(sv);
  deft_session_free(s);
  deft_graph_free(g);
  deft_status_free(st);
}
END_TEST

/* An embedding (read only through a gather) has a sparse gradient: the distributed optimizer
 * gathers its indices and values with one DeftAllgather, feeding the sparse update, and averages
 * the dense ones; in one process a step equals the plain optimizer's. */
static deft_graph *embedding_model(bool distributed, deft_op **train) {
  deft_graph *g = deft_graph_new();
  deft_graph_set_seed(g, 3);
  deft_output ids = deft_placeholder(g, DEFT_INT32, DEFT_SHAPE(-1), "ids");
  deft_op *e = deft_get_variable(g, "embedding", DEFT_FLOAT, DEFT_SHAPE(10, 4),
                                 deft_init_random_uniform(-1, 1, 5), true);
  deft_output rows = deft_gather(g, deft_op_output(e, 0), ids, NULL);
  deft_output y = deft_dense(g, rows, 2, NULL, "y");
  deft_output loss =
      deft_mean(g, deft_square(g, y, NULL), deft_const_int32(g, 1, NULL), false, NULL);
  loss = deft_mean(g, loss, deft_const_int32(g, 0, NULL), false, "loss");
  deft_optimizer *opt = deft_optimizer_gradient_descent(g, 0.5f);
  if (distributed) deft_optimizer_set_distributed(opt, DEFT_FUSION_DEFAULT_BYTES);
  *train = deft_optimizer_minimize(opt, loss, NULL, 0, NULL, NULL);
  deft_optimizer_free(opt);
  ck_assert_msg(deft_graph_ok(g), "%s", deft_status_message(deft_graph_status(g)));
  return g;
}

START_TEST(distributed_optimizer_gathers_sparse_gradients) {
  deft_status *st = deft_status_new();
  deft_tensor *after[2];
  for (int d = 0; d < 2; d++) {
    deft_op *train;
    deft_graph *g = embedding_model(d == 1, &train);
    int ng = 0, nr = 0;
    for (int i = 0; i < deft_graph_num_ops(g); i++) {
      const char *t = deft_op_type(deft_graph_op_at(g, i));
      ng += !strcmp(t, "DeftAllgather");
      nr += !strcmp(t, "DeftAllreduce");
    }
    ck_assert_int_eq(ng, d ? 1 : 0);
    ck_assert_int_eq(nr, d ? 1 : 0); /* y/kernel and y/bias fused */
    if (d) {
      deft_op *ag = deft_graph_op_by_name(g, "GradientDescent_Allreduce/DeftAllgather");
      ck_assert_ptr_nonnull(ag);
      ck_assert_int_eq(deft_op_num_inputs(ag), 2); /* indices, values */
      bool avg = false;
      ck_assert(deft_op_attr_bool(ag, "average", &avg) && avg);
    }
    deft_session *s = deft_session_new(g, st);
    deft_op *init = deft_global_variables_initializer(g, "init");
    ck_assert(deft_session_run(s, NULL, NULL, 0, NULL, NULL, 0, &init, 1, st));
    int32_t idv[5] = {3, 1, 3, 8, 0};
    deft_tensor *it = deft_tensor_from_data(DEFT_INT32, (int64_t[]){5}, 1, idv, sizeof idv, st);
    deft_output in = {deft_graph_op_by_name(g, "ids"), 0};
    ck_assert_msg(
        deft_session_run(s, &in, (const deft_tensor *const *)&it, 1, NULL, NULL, 0, &train, 1, st),
        "%s", deft_status_message(st));
    after[d] = deft_session_variable_value(s, deft_graph_op_by_name(g, "embedding"), st);
    ck_assert_ptr_nonnull(after[d]);
    deft_tensor_free(it);
    deft_session_free(s);
    deft_graph_free(g);
  }
  ck_assert_mem_eq(deft_tensor_data(after[0]), deft_tensor_data(after[1]),
                   deft_tensor_nbytes(after[0]));
  deft_tensor_free(after[0]);
  deft_tensor_free(after[1]);
  deft_status_free(st);
}
END_TEST

START_TEST(batcher_shards_partition_the_global_batch) {
  deft_status *st = deft_status_new();
  enum { ROWS = 23 };
  int32_t v[ROWS];
  for (int i = 0; i < ROWS; i++) v[i] = i;
  deft_tensor *x = deft_tensor_from_data(DEFT_INT32, (int64_t[]){ROWS}, 1, v, sizeof v, st);
  for (int size = 2; size <= 3; size++) {
    deft_batcher *whole = deft_batcher_new(x, NULL, 3 * size, 5, st);
    deft_batcher *part[3];
    for (int r = 0; r < size; r++) {
      part[r] = deft_batcher_new(x, NULL, 3, 5, st);
      ck_assert(deft_batcher_set_shard(part[r], r, size, st));
      ck_assert_int_eq(deft_batcher_num_batches(part[r]), deft_batcher_num_batches(whole));
    }
    for (int epoch = 0; epoch < 2; epoch++) {
      const deft_tensor *wb, *pb;
      while (deft_batcher_next(whole, &wb, NULL, st) == DEFT_BATCH_READY) {
        int64_t off = 0;
        for (int r = 0; r < size; r++) {
          ck_assert(deft_batcher_next(part[r], &pb, NULL, st) == DEFT_BATCH_READY);
          int64_t n = deft_tensor_num_elements(pb);
          ck_assert(n >= 3 && n <= 4);
          ck_assert_mem_eq((const int32_t *)deft_tensor_data(wb) + off, deft_tensor_data(pb),
                           sizeof(int32_t) * (size_t)n);
          off += n;
        }
        ck_assert_int_eq(off, deft_tensor_num_elements(wb));
      }
      for (int r = 0; r < size; r++) 
        ck_assert(deft_batcher_next(part[r], &pb, NULL, st) == DEFT_BATCH_END);
    }
    ck_assert(!deft_batcher_set_shard(part[0], size, size, st));
    TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "rank");
    ck_assert(!deft_batcher_set_shard(part[0], 0, 8, st)); /* 3 * 8 > 23 rows */
    for (int r = 0; r < size; r++) deft_batcher_free(part[r]);
    deft_batcher_free(whole);
  }
  deft_tensor_free(x);
  deft_status_free(st);
}
END_TEST

#ifdef DEFT_TEST_MPI
/* Open MPI and PMIx keep their components loaded to the end, so LeakSanitizer (the ASan build)
 * can name them in the stacks of what they never free (tests/lsan_mpi.supp). */
#define MPI_KEEP_COMPONENTS \
  "OMPI_MCA_mca_base_component_disable_dlclose=1 PMIX_MCA_mca_base_component_disable_dlclose=1 "

/* Runs `mpirun -np np dist_worker args` (bounded by `timeout`: 240 s, for the ASan build on a
 * loaded machine), its output into *out (static
 * buffer); returns the exit status and the seconds it took. */
static int run_mpi(int np, const char *args, double *seconds, char **out) {
  static char buf[1 << 16];
  char cmd[2048];
  snprintf(cmd, sizeof cmd,
           "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 "
           "OMPI_MCA_btl_vader_single_copy_mechanism=none " MPI_KEEP_COMPONENTS
           "timeout -k 5 240 mpirun --oversubscribe --bind-to none -np %d %s %s/tests/dist_worker "
           "%s 2>&1",
           np, getenv("DEFT_MPI_LAUNCH_ENV") ? getenv("DEFT_MPI_LAUNCH_ENV") : "",
           DEFT_BINARY_DIR, args);
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  FILE *p = popen(cmd, "r");
  ck_assert_ptr_nonnull(p);
  size_t n = fread(buf, 1, sizeof buf - 1, p);
  buf[n] = '\0';
  int rc = pclose(p);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  *seconds = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
  *out = buf;
  fprintf(stderr, "---- mpirun -np %d %s (%.1f s, status %d)\n%s", np, args, *seconds, rc, buf);
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : 128;
}

static int count(const char *s, const char *needle) {
  int n = 0;
  for (const char *p = s; (p = strstr(p, needle)); p++) n++;
  return n;
}

START_TEST(mpi_allreduce_every_dtype_and_shape) {
  for (int np = 2; np <= 4; np += 2) {
    double t;
    char *out;
    ck_assert_int_eq(run_mpi(np, "allreduce", &t, &out), 0);
    ck_assert_int_eq(count(out, "OK allreduce"), np);
  }
}
END_TEST

START_TEST(mpi_allgather_every_dtype_and_shape) {
  for (int np = 2; np <= 4; np += 2) {
    double t;
    char *out;
    ck_assert_int_eq(run_mpi(np, "allgather", &t, &out), 0);
    ck_assert_int_eq(count(out, "OK allgather"), np);
    /* The trailing-dims mismatch fails on every rank, naming rank 0's shape and rank 1's. */
    ck_assert_int_eq(count(out, "FAIL mismatch: INVALID_ARGUMENT"), np);
    ck_assert_int_eq(count(out, "rank 0 has float [2,2], rank 1 has float [2,3]"), np);
  }
}
END_TEST

START_TEST(mpi_failed_run_completes_the_allreduce_in_flight) {
  for (int np = 2; np <= 4; np += 2) {
    double t;
    char *out;
    ck_assert_int_eq(run_mpi(np, "async_error", &t, &out), 0);
    ck_assert_int_eq(count(out, "OK async_error"), np);
    ck_assert_int_eq(count(out, "failing run: INVALID_ARGUMENT"), np);
  }
}
END_TEST

/* Reads a float .npy file. */
static deft_tensor *read_weights(const char *dir) {
  char path[1200];
  snprintf(path, sizeof path, "%s/weights.npy", dir);
  deft_status *st = deft_status_new();
  deft_tensor *t = deft_npy_read(path, st);
  ck_assert_msg(t, "%s", deft_status_message(st));
  deft_status_free(st);
  return t;
}

/* 1 rank at the global batch, 2 and 4 at their shares: the same weights after N steps. */
static void ranks_train_like_one_process(const char *mode) {
  const int nps[3] = {1, 2, 4};
  deft_tensor *w[3];
  for (int k = 0; k < 3; k++) {
    char dir[1024], args[1200];
    snprintf(dir, sizeof dir, "%s/%s%d", tu_tmpdir(), mode, nps[k]);
    char mk[1100];
    snprintf(mk, sizeof mk, "mkdir -p %s", dir);
    ck_assert_int_eq(system(mk), 0);
    snprintf(args, sizeof args, "%s %s 200 6", mode, dir);
    double t;
    char *out;
    ck_assert_int_eq(run_mpi(nps[k], args, &t, &out), 0);
    ck_assert_int_eq(count(out, "OK train"), nps[k]);
    w[k] = read_weights(dir);
    if (k == 1 && !strcmp(mode, "train")) { /* rank 0's checkpoint restores in one process */
      char cmd[1400];
      snprintf(cmd, sizeof cmd, "%s/tests/dist_worker restore %s", DEFT_BINARY_DIR, dir);
      ck_assert_int_eq(system(cmd), 0);
    }
  }
  int64_t n = deft_tensor_num_elements(w[0]);
  const float *a = deft_tensor_data(w[0]);
  for (int k = 1; k < 3; k++) {
    ck_assert_int_eq(deft_tensor_num_elements(w[k]), n);
    const float *b = deft_tensor_data(w[k]);
    for (int64_t i = 0; i < n; i++)
      ck_assert_msg(fabsf(a[i] - b[i]) <= 1e-5f * (1 + fabsf(a[i])),
                    "%d ranks: weight %lld is %.8g, one process has %.8g", nps[k], (long long)i,
                    (double)b[i], (double)a[i]);
  }
  for (int k = 0; k < 3; k++) deft_tensor_free(w[k]);
}

START_TEST(mpi_ranks_train_like_one_process) { ranks_train_like_one_process("train"); }
END_TEST

/* The embedding's gradient is sparse: gathered (DeftAllgather), never densified. */
START_TEST(mpi_sparse_embedding_trains_like_one_process) { ranks_train_like_one_process("embed"); }
END_TEST

/* deft-train under mpirun, unchanged: one epoch of the chapter's BN model on Fashion-MNIST, two
 * ranks; only rank 0 prints, and the accuracy is the one-process run's (BN's batch statistics
 * are per rank, so not bit for bit). */
START_TEST(mpi_deft_train_unchanged) {
  if (access("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz", R_OK) != 0) {
    ck_assert_msg(!getenv("CI"), "Fashion-MNIST is missing (tools/install-deps.sh installs it)");
    return;
  }
  char cmd[2048];
  snprintf(cmd, sizeof cmd,
           "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 "
           "OMPI_MCA_btl_vader_single_copy_mechanism=none " MPI_KEEP_COMPONENTS "timeout -k 5 300 mpirun "
           "--oversubscribe --bind-to none -np 2 %s/deft-train --epochs 1 --out %s/bn 2>&1",
           DEFT_BINARY_DIR, tu_tmpdir());
  FILE *p = popen(cmd, "r");
  static char buf[1 << 14];
  size_t n = fread(buf, 1, sizeof buf - 1, p);
  buf[n] = '\0';
  int rc = pclose(p);
  fprintf(stderr, "---- mpirun -np 2 deft-train --epochs 1\n%s", buf);
  ck_assert_int_eq(rc, 0);
  ck_assert_int_eq(count(buf, "epoch 0  val_acc"), 1); /* rank 0 only */
  ck_assert_int_eq(count(buf, "test_acc"), 1);
  ck_assert_ptr_nonnull(strstr(buf, "2 ranks (MPI), 100 rows per rank"));
  double acc = atof(strstr(buf, "test_acc") + 8);
  /* One process reaches 0.81 after one epoch (bench/README.md). */
  ck_assert_msg(acc > 0.78 && acc < 0.86, "test_acc %g", acc);
  char meta[1200];
  snprintf(meta, sizeof meta, "%s/bn.meta", tu_tmpdir());
  ck_assert_int_eq(access(meta, R_OK), 0);
  /* The meta graph records the allreduce ops. */
  deft_status *st = deft_status_new();
  deft_graph *g = deft_import_meta_graph(meta, NULL, NULL, st);
  ck_assert_msg(g, "%s", deft_status_message(st));
  int nar = 0;
  for (int i = 0; i < deft_graph_num_ops(g); i++)
    if (!strcmp(deft_op_type(deft_graph_op_at(g, i)), "DeftAllreduce")) nar++;
  ck_assert_int_ge(nar, 1);
  deft_graph_free(g);
  deft_status_free(st);
}
END_TEST

START_TEST(mpi_rank_that_dies_or_never_joins) {
  double t;
  char *out;
  int rc = run_mpi(2, "die", &t, &out);
  ck_assert_int_ne(rc, 0);
  ck_assert_msg(t < 60, "took %.1f s", t);
  rc = run_mpi(2, "nojoin", &t, &out);
  ck_assert_int_ne(rc, 0);
  ck_assert_msg(t < 60, "took %.1f s", t);
  ck_assert_ptr_nonnull(strstr(out, "rank 0 FAIL allreduce: DEADLINE_EXCEEDED"));
  ck_assert_ptr_nonnull(strstr(out, "made no progress"));
  ck_assert_ptr_nonnull(strstr(out, "broken communicator keeps DEADLINE_EXCEEDED"));
}
END_TEST

START_TEST(mpi_differing_variables_refused_at_broadcast) {
  double t;
  char *out;
  ck_assert_int_eq(run_mpi(4, "differ", &t, &out), 0);
  /* Every rank fails, naming rank 0's variable and the rank that differs. */
  ck_assert_int_eq(count(out, "FAIL broadcast: FAILED_PRECONDITION"), 4);
  ck_assert_int_eq(count(out, "ranks: rank 0 has 'hidden/kernel float [8,16]'"), 4);
  ck_assert_int_eq(count(out, "rank(s) 1 differ"), 4);
}
END_TEST
#endif

static Suite *make(void) {
  Suite *s = suite_create("dist");
  TCase *t = tcase_create("one_process");
  tcase_add_test(t, allreduce_identity_in_one_process);
  tcase_add_test(t, distributed_optimizer_fusion_groups);
  tcase_add_test(t, batcher_shards_partition_the_global_batch);
  tcase_add_test(t, allgather_identity_in_one_process);
  tcase_add_test(t, distributed_optimizer_gathers_sparse_gradients);
  suite_add_tcase(s, t);
#ifdef DEFT_TEST_MPI
  TCase *m = tcase_create("mpi");
  tcase_set_timeout(m, 600);
  tcase_add_test(m, mpi_allreduce_every_dtype_and_shape);
  tcase_add_test(m, mpi_ranks_train_like_one_process);
  tcase_add_test(m, mpi_allgather_every_dtype_and_shape);
  tcase_add_test(m, mpi_sparse_embedding_trains_like_one_process);
  tcase_add_test(m, mpi_failed_run_completes_the_allreduce_in_flight);
  tcase_add_test(m, mpi_deft_train_unchanged);
  tcase_add_test(m, mpi_rank_that_dies_or_never_joins);
  tcase_add_test(m, mpi_differing_variables_refused_at_broadcast);
  suite_add_tcase(s, m);
#endif
  return s;
}

int main(void) { return tu_run_suite(make()); }
