/* tests/test_summary.c - event files and summary ops (deft/summary.h). The files deft writes are
 * decoded by an independent reader (tests/tfevents.py: its own CRC32C, Google's protobuf over
 * deft's .proto files); scalar values and histogram buckets are checked against NumPy. */
#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ops/op_def.h"
#include "base/alloc.h"
#include "testutil.h"

/* Python prologue: argv[1] = work dir, argv[2] = event file. */
#define PY_PROLOGUE                                                                  \
  "import sys\n"                                                                     \
  "sys.path.insert(0, '" DEFT_SOURCE_DIR "/tests')\n"                                \
  "import tfevents\n"                                                                \
  "event_pb2, graph_pb2, meta_graph_pb2, summary_pb2 = tfevents.protos(sys.argv[1])\n" \
  "ev = tfevents.events(sys.argv[2], event_pb2)\n"

static void run_python(const char *script, const char *const *args) {
  ck_assert_msg(tu_python(script, args) == 0,
                "the Python check failed (tools/install-deps.sh installs python3-protobuf, "
                "protobuf-compiler and python3-numpy)");
}

static char *dir_for(const char *name) {
  static char buf[600];
  snprintf(buf, sizeof buf, "%s/%s", tu_tmpdir(), name);
  return buf;
}

static off_t file_size(const char *path) {
  struct stat sb;
  return stat(path, &sb) == 0 ? sb.st_size : -1;
}

/* A small graph: x (placeholder) -> dnn/MatMul with a Const. */
static deft_graph *small_graph(void) {
  deft_graph *g = deft_graph_new();
  deft_output x = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(-1, 3), "x");
  deft_graph_push_scope(g, "dnn");
  float w[6] = {1, 2, 3, 4, 5, 6};
  deft_status *st = deft_status_new();
  deft_tensor *wt = deft_tensor_from_data(DEFT_FLOAT, (int64_t[]){3, 2}, 2, w, sizeof w, st);
  deft_output c = deft_const(g, wt, "w");
  deft_matmul(g, x, c, false, false, NULL);
  deft_graph_pop_scope(g);
  deft_tensor_free(wt);
  deft_status_free(st);
  ck_assert(deft_graph_ok(g));
  return g;
}

START_TEST(writer_file_and_records) {
  deft_status *st = deft_status_new();
  char logdir[700];
  snprintf(logdir, sizeof logdir, "%s/nested/run1", dir_for("writer"));
  deft_summary_writer *w = deft_summary_writer_new(logdir, st);
  ck_assert_msg(w, "%s", deft_status_message(st));
  const char *path = deft_summary_writer_path(w);
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  char expect[1200];
  snprintf(expect, sizeof expect, "%s/events.out.tfevents.", logdir);
  ck_assert_msg(!strncmp(path, expect, strlen(expect)), "%s", path);
  const char *rest = path + strlen(expect);
  ck_assert_int_eq(strspn(rest, "0123456789"), 10);
  ck_assert_str_eq(rest + 11, host);
  /* The file_version record is on disk at once; later records wait for a flush. */
  off_t first = file_size(path);
  ck_assert_int_eq(first, 16 + 9 + 2 + 13); /* framing, wall_time, file_version */
  deft_graph *g = small_graph();
  ck_assert_msg(deft_summary_writer_add_graph(w, g, 0, st), "%s", deft_status_message(st));
  ck_assert_msg(deft_summary_writer_add_meta_graph(w, g, 0, st), "%s", deft_status_message(st));
  ck_assert(deft_summary_writer_add_scalar(w, "loss", 0.25f, 3, st));
  ck_assert(deft_summary_writer_add_scalar(w, "eval/accuracy", 0.9375f, -7, st));
  ck_assert_int_eq(file_size(path), first);
  ck_assert_msg(deft_summary_writer_flush(w, st), "%s", deft_status_message(st));
  ck_assert_int_gt(file_size(path), first);
  ck_assert(deft_summary_writer_close(w, st));
  ck_assert(deft_summary_writer_close(w, st)); /* twice is a no-op */
  ck_assert(!deft_summary_writer_add_scalar(w, "late", 1, 1, st));
  TU_ASSERT_STATUS(st, DEFT_FAILED_PRECONDITION, "closed", path);
  char now[64];
  snprintf(now, sizeof now, "%lld", (long long)time(NULL));
  const char *script =
      PY_PROLOGUE
      "import time\n"
      "now = float(sys.argv[3])\n"
      "assert len(ev) == 5, len(ev)\n"
      "assert ev[0].WhichOneof('what') == 'file_version'\n"
      "assert ev[0].file_version == 'brain.Event:2'\n"
      "for e in ev: assert abs(e.wall_time - now) < 600, e.wall_time\n"
      "assert ev[1].WhichOneof('what') == 'graph_def' and ev[1].step == 0\n"
      "gd = graph_pb2.GraphDef(); gd.ParseFromString(ev[1].graph_def)\n"
      "names = [n.name for n in gd.node]\n"
      "assert names == ['x', 'dnn/w', 'dnn/MatMul'], names\n"
      "assert [n.op for n in gd.node] == ['Placeholder', 'Const', 'MatMul']\n"
      "assert list(gd.node[2].input) == ['x', 'dnn/w']\n"
      "assert ev[2].WhichOneof('what') == 'meta_graph_def'\n"
      "mg = meta_graph_pb2.MetaGraphDef(); mg.ParseFromString(ev[2].meta_graph_def)\n"
      "assert [n.name for n in mg.graph_def.node] == names\n"
      "assert 'MatMul' in [o.name for o in mg.meta_info_def.stripped_op_list.op]\n"
      "s = ev[3]; assert s.step == 3 and s.WhichOneof('what') == 'summary'\n"
      "assert [(v.tag, v.simple_value) for v in s.summary.value] == [('loss', 0.25)]\n"
      "s = ev[4]; assert s.step == -7\n"
      "assert [(v.tag, v.simple_value) for v in s.summary.value] == [('eval/accuracy', 0.9375)]\n"
      "assert ev[1].wall_time <= ev[4].wall_time\n";
  const char *args[] = {dir_for("writer"), path, now, NULL};
  run_python(script, args);
  deft_summary_writer_free(w);
  deft_graph_free(g);
  deft_status_free(st);
}
END_TEST

/* A full queue (10 events since the last flush) goes to disk by itself; an unflushed tail is all
 * a crash can lose: the file always ends at a record boundary that the reader accepts. */
START_TEST(writer_queue_and_tail) {
  deft_status *st = deft_status_new();
  deft_summary_writer *w = deft_summary_writer_new(dir_for("queue"), st);
  ck_assert_msg(w, "%s", deft_status_message(st));
  const char *path = deft_summary_writer_path(w);
  off_t first = file_size(path);
  for (int i = 0; i < 9; i++) ck_assert(deft_summary_writer_add_scalar(w, "v", (float)i, i, st));
  ck_assert_int_eq(file_size(path), first);
  ck_assert(deft_summary_writer_add_scalar(w, "v", 9.0f, 9, st)); /* the 10th queued */
  off_t ten = file_size(path);
  ck_assert_int_gt(ten, first);
  ck_assert(deft_summary_writer_add_scalar(w, "v", 10.0f, 10, st));
  ck_assert_int_eq(file_size(path), ten);
  /* Read now, as after a crash: file_version and ten scalars, all whole. */
  const char *script =
      PY_PROLOGUE
      "want = int(sys.argv[3])\n"
      "assert len(ev) == want, (len(ev), want)\n"
      "vals = [(e.step, e.summary.value[0].simple_value) for e in ev[1:]]\n"
      "assert vals == [(i, float(i)) for i in range(want - 1)], vals\n";
  const char *args[] = {dir_for("queue"), path, "11", NULL};
  run_python(script, args);
  ck_assert(deft_summary_writer_close(w, st));
  const char *args2[] = {dir_for("queue"), path, "12", NULL};
  run_python(script, args2);
  /* A second writer in the same directory (same second, most likely) gets its own file. */
  deft_summary_writer *w2 = deft_summary_writer_new(dir_for("queue"), st);
  ck_assert(w2);
  ck_assert_str_ne(deft_summary_writer_path(w2), path);
  deft_summary_writer_free(w2);
  deft_summary_writer_free(w);
  deft_status_free(st);
}
END_TEST

START_TEST(writer_errors) {
  deft_status *st = deft_status_new();
  /* The log directory is a file. */
  char file[700];
  snprintf(file, sizeof file, "%s/a_file", dir_for(""));
  FILE *f = fopen(file, "w");
  fputs("x", f);
  fclose(f);
  ck_assert_ptr_null(deft_summary_writer_new(file, st));
  TU_ASSERT_STATUS(st, DEFT_FAILED_PRECONDITION, file);
  char under[800];
  snprintf(under, sizeof under, "%s/sub", file);
  ck_assert_ptr_null(deft_summary_writer_new(under, st));
  TU_ASSERT_STATUS(st, DEFT_FAILED_PRECONDITION, "cannot create directory", file);
  ck_assert_ptr_null(deft_summary_writer_new("", st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "log directory");

  deft_summary_writer *w = deft_summary_writer_new(dir_for("errors"), st);
  ck_assert(w);
  /* Not a string tensor; a string that is not a Summary. */
  deft_tensor *num = deft_tensor_scalar_float(1);
  ck_assert(!deft_summary_writer_add_summary(w, num, 0, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "string tensor", "float");
  deft_tensor *bad = deft_tensor_new(DEFT_STRING, (int64_t[]){2}, 1, st);
  deft_tensor_set_string(bad, 1, "\xff\xff\xff", 3, st);
  ck_assert(!deft_summary_writer_add_summary(w, bad, 0, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "element 1", "3 bytes", "tensorflow.Summary");
  /* A graph with a sticky error. */
  deft_graph *g = deft_graph_new();
  deft_graph_fail(g, DEFT_INVALID_ARGUMENT, "broken on purpose");
  ck_assert(!deft_summary_writer_add_graph(w, g, 0, st));
  TU_ASSERT_STATUS(st, DEFT_FAILED_PRECONDITION, "broken on purpose");
  ck_assert(deft_summary_writer_close(w, st));
  /* Nothing but the file_version event was written. */
  const char *script = PY_PROLOGUE "assert len(ev) == 1, len(ev)\n";
  const char *args[] = {dir_for("errors"), deft_summary_writer_path(w), NULL};
  run_python(script, args);
  deft_graph_free(g);
  deft_tensor_free(num);
  deft_tensor_free(bad);
  deft_summary_writer_free(w);
  deft_summary_writer_free(NULL);
  deft_status_free(st);
}
END_TEST

/* Every allocation failure on the writer's paths is an error (or a success), never a crash or a
 * leak (the sanitizer build checks the leaks). */
START_TEST(writer_out_of_memory) {
  deft_graph *g = small_graph();
  deft_status *st = deft_status_new();
  int failures = 0;
  for (long n = 0; n < 400; n++) {
    char dir[700];
    snprintf(dir, sizeof dir, "%s/oom%ld", dir_for("oom"), n);
    deft_alloc_fail_after(n);
    deft_summary_writer *w = deft_summary_writer_new(dir, st);
    bool ok = w && deft_summary_writer_add_graph(w, g, 0, st) &&
              deft_summary_writer_add_scalar(w, "s", 1, 1, st) &&
              deft_summary_writer_close(w, st);
    deft_alloc_fail_after(-1);
    deft_summary_writer_free(w);
    if (ok) break;
    failures++;
    ck_assert_int_eq(deft_status_code(st), DEFT_RESOURCE_EXHAUSTED);
  }
  ck_assert_int_gt(failures, 3);
  deft_graph_free(g);
  deft_status_free(st);
}
END_TEST

/* ---- summary ops ---- */

static deft_tensor *run1(deft_session *s, deft_output feed, const deft_tensor *v,
                         deft_output fetch, deft_status *st) {
  deft_tensor *out = NULL;
  bool ok = deft_session_run(s, feed.op ? &feed : NULL, feed.op ? &v : NULL, feed.op ? 1 : 0,
                             &fetch, &out, 1, NULL, 0, st);
  return ok ? out : NULL;
}

START_TEST(builders_names_and_collection) {
  deft_graph *g = deft_graph_new();
  deft_output x = deft_placeholder(g, DEFT_FLOAT, DEFT_SCALAR, "x");
  deft_output w = deft_placeholder(g, DEFT_DOUBLE, DEFT_SHAPE(2, 3), "w");
  deft_graph_push_scope(g, "loss");
  deft_graph_pop_scope(g);
  deft_output s1 = deft_summary_scalar(g, "loss", x); /* the scope "loss" is taken */
  deft_output s2 = deft_summary_scalar(g, "my loss!", x);
  deft_graph_push_scope(g, "eval");
  deft_output s3 = deft_summary_scalar(g, "accuracy", x);
  deft_graph_pop_scope(g);
  deft_output h = deft_summary_histogram(g, "dnn/hidden1/kernel", w);
  ck_assert_msg(deft_graph_ok(g), "%s", deft_status_message(deft_graph_status(g)));
  ck_assert_str_eq(deft_op_name(s1.op), "loss_1");
  ck_assert_str_eq(deft_op_type(s1.op), "ScalarSummary");
  ck_assert_str_eq(deft_op_name(deft_op_input(s1.op, 0).op), "loss_1/tags");
  ck_assert_str_eq(deft_op_type(deft_op_input(s1.op, 0).op), "Const");
  ck_assert_str_eq(deft_op_name(s2.op), "my_loss_");
  ck_assert_str_eq(deft_op_name(s3.op), "eval/accuracy");
  ck_assert_str_eq(deft_op_name(h.op), "dnn/hidden1/kernel");
  ck_assert_str_eq(deft_op_type(h.op), "HistogramSummary");
  ck_assert_str_eq(deft_op_name(deft_op_input(h.op, 0).op), "dnn/hidden1/kernel/tag");
  deft_dtype t;
  ck_assert(deft_op_attr_type(h.op, "T", &t) && t == DEFT_DOUBLE);
  ck_assert(deft_op_attr_type(s1.op, "T", &t) && t == DEFT_FLOAT);
  ck_assert_int_eq(deft_output_dtype(s1), DEFT_STRING);
  ck_assert_int_eq(deft_output_shape(h).rank, 0);
  deft_output items[8];
  ck_assert_int_eq(deft_graph_get_collection(g, DEFT_SUMMARIES, NULL, items, 8, NULL), 4);
  ck_assert(items[0].op == s1.op && items[3].op == h.op);
  deft_output m = deft_summary_merge_all(g, NULL);
  ck_assert_str_eq(deft_op_name(m.op), "Merge/MergeSummary");
  int64_t n;
  ck_assert(deft_op_attr_int(m.op, "N", &n) && n == 4);
  /* TF's types, marked not differentiable. */
  const char *types[] = {"ScalarSummary", "HistogramSummary", "MergeSummary"};
  for (int i = 0; i < 3; i++) {
    const deft_op_reg *r = deft_registry_lookup(types[i]);
    ck_assert_msg(r && (r->def->flags & DEFT_OP_NOT_DIFFERENTIABLE) && !r->def->grad, "%s",
                  types[i]);
  }
  /* The graph with its SUMMARIES collection exports as TF's files have it. */
  char path[700];
  snprintf(path, sizeof path, "%s/summaries.meta", dir_for(""));
  deft_status *st = deft_status_new();
  ck_assert_msg(deft_export_meta_graph(g, path, NULL, st), "%s", deft_status_message(st));
  const char *script =
      "import sys\n"
      "sys.path.insert(0, '" DEFT_SOURCE_DIR "/tests')\n"
      "import tfevents\n"
      "event_pb2, graph_pb2, meta_graph_pb2, summary_pb2 = tfevents.protos(sys.argv[1])\n"
      "m = meta_graph_pb2.MetaGraphDef(); m.ParseFromString(open(sys.argv[2], 'rb').read())\n"
      "c = m.collection_def['summaries'].node_list.value\n"
      "assert list(c) == ['loss_1:0', 'my_loss_:0', 'eval/accuracy:0', 'dnn/hidden1/kernel:0'], c\n"
      "ops = {o.name: o for o in m.meta_info_def.stripped_op_list.op}\n"
      "s = ops['ScalarSummary']\n"
      "assert [a.name for a in s.input_arg] == ['tags', 'values'] and s.output_arg[0].type == 7\n"
      "hs = ops['HistogramSummary']; assert hs.attr[0].default_value.type == 1\n"
      "ms = ops['MergeSummary']\n"
      "assert ms.input_arg[0].number_attr == 'N' and ms.attr[0].minimum == 1\n"
      "node = {n.name: n for n in m.graph_def.node}\n"
      "assert node['loss_1/tags'].attr['value'].tensor.string_val == [b'loss_1']\n"
      "assert list(node['Merge/MergeSummary'].input) == ['loss_1', 'my_loss_', 'eval/accuracy',\n"
      "    'dnn/hidden1/kernel']\n";
  const char *args[] = {dir_for("export"), path, NULL};
  run_python(script, args);
  deft_status_free(st);
  deft_graph_free(g);
}
END_TEST

/* Values with edge cases for the histogram: exact edges, 0, both signs, beyond 1e20, tiny. */
static deft_tensor *histogram_values(int64_t n) {
  deft_tensor *t = deft_tensor_new(DEFT_FLOAT, (int64_t[]){n}, 1, NULL);
  float *v = deft_tensor_data(t);
  uint64_t r = 88172645463325252ull;
  for (int64_t i = 0; i < n; i++) {
    r ^= r << 13, r ^= r >> 7, r ^= r << 17;
    double u = (double)(r >> 11) / 9007199254740992.0;
    v[i] = (float)((u - 0.3) * (i % 3 == 0 ? 0.1 : 10.0));
  }
  const float special[] = {0.0f, -0.0f, 1e-12f, -1e-12f, 1e-13f, 1e25f, -3e30f, 1.0f, 1.1f, 5e-7f};
  for (size_t i = 0; i < sizeof special / sizeof special[0] && (int64_t)i < n; i++)
    v[i] = special[i];
  return t;
}

START_TEST(ops_values_against_numpy) {
  deft_status *st = deft_status_new();
  deft_graph *g = deft_graph_new();
  deft_output x = deft_placeholder(g, DEFT_DOUBLE, DEFT_SCALAR, "x");
  deft_output w = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(-1), "w");
  deft_summary_scalar(g, "loss", x);
  deft_summary_histogram(g, "weights", w);
  deft_output empty = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(-1), "empty");
  deft_summary_histogram(g, "nothing", empty);
  deft_output m = deft_summary_merge_all(g, NULL);
  ck_assert_msg(deft_graph_ok(g), "%s", deft_status_message(deft_graph_status(g)));
  deft_session *s = deft_session_new(g, st);
  deft_tensor *xv = deft_tensor_scalar_double(0.1), *wv = histogram_values(5000);
  deft_tensor *ev = deft_tensor_new(DEFT_FLOAT, (int64_t[]){0}, 1, st);
  deft_output feeds[3] = {x, w, empty};
  deft_tensor *vals[3] = {xv, wv, ev}, *out = NULL;
  ck_assert_msg(deft_session_run(s, feeds, tu_feeds(vals), 3, &m, &out, 1, NULL, 0, st), "%s",
                deft_status_message(st));
  ck_assert_int_eq(deft_tensor_dtype(out), DEFT_STRING);
  char dir[600], npy[700];
  snprintf(dir, sizeof dir, "%s", dir_for("ops"));
  deft_summary_writer *wr = deft_summary_writer_new(dir, st);
  ck_assert(wr);
  ck_assert_msg(deft_summary_writer_add_summary(wr, out, 42, st), "%s", deft_status_message(st));
  ck_assert(deft_summary_writer_close(wr, st));
  snprintf(npy, sizeof npy, "%s/weights.npy", dir);
  ck_assert(deft_npy_write(npy, wv, st));
  const char *script =
      PY_PROLOGUE
      "import numpy as np\n"
      "w = np.load(sys.argv[3]).astype(np.float64)\n"
      "assert len(ev) == 2 and ev[1].step == 42\n"
      "vals = ev[1].summary.value\n"
      "assert [v.tag for v in vals] == ['loss', 'weights', 'nothing'], [v.tag for v in vals]\n"
      "assert vals[0].simple_value == np.float32(0.1), vals[0].simple_value\n"
      "pos = []\n"
      "v = 1e-12\n"
      "while v < 1e20:\n"
      "    pos.append(v); v *= 1.1\n"
      "DMAX = np.finfo(np.float64).max\n"
      "edges = np.array([-DMAX] + [-p for p in reversed(pos)] + [0.0] + pos + [DMAX])\n"
      "assert len(edges) == 1551, len(edges)\n"
      "def expect(x):\n"
      "    counts = np.bincount(np.searchsorted(edges, x, side='right'), minlength=len(edges))\n"
      "    lim, cnt, i = [], [], 0\n"
      "    while i < len(edges):\n"
      "        end, c = edges[i], counts[i]; i += 1\n"
      "        if c <= 0:\n"
      "            while i < len(edges) and counts[i] <= 0:\n"
      "                end = edges[i]; i += 1\n"
      "        lim.append(end); cnt.append(float(c))\n"
      "    return lim, cnt\n"
      "h = vals[1].histo\n"
      "lim, cnt = expect(w)\n"
      "assert list(h.bucket_limit) == lim, (len(h.bucket_limit), len(lim))\n"
      "assert list(h.bucket) == cnt\n"
      "assert sum(cnt) == len(w) == h.num\n"
      "assert h.min == w.min() and h.max == w.max(), (h.min, h.max)\n"
      "assert np.isclose(h.sum, w.sum(), rtol=1e-12, atol=0), (h.sum, w.sum())\n"
      "assert np.isclose(h.sum_squares, (w * w).sum(), rtol=1e-12), h.sum_squares\n"
      "e = vals[2].histo\n"
      "assert e.num == 0 and e.min == DMAX and e.max == -DMAX\n"
      "assert list(e.bucket_limit) == [DMAX] and list(e.bucket) == [0.0], e\n";
  const char *args[] = {dir, deft_summary_writer_path(wr), npy, NULL};
  run_python(script, args);
  deft_summary_writer_free(wr);
  deft_tensor_free(out);
  deft_tensor_free(xv);
  deft_tensor_free(wv);
  deft_tensor_free(ev);
  deft_session_free(s);
  deft_graph_free(g);
  deft_status_free(st);
}
END_TEST

START_TEST(ops_errors) {
  deft_status *st = deft_status_new();
  deft_graph *g = deft_graph_new();
  deft_output v = deft_const_float(g, 1.0f, "v");
  /* A scalar tag with a vector value: caught by the shape function, naming the op. */
  deft_output vec = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(3), "vec");
  ck_assert(!deft_output_ok(deft_summary_scalar(g, "bad", vec)));
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "ScalarSummary 'bad'",
                   "tags and values not the same shape", "[3]");
  deft_graph_clear_error(g);
  ck_assert(!deft_output_ok(deft_summary_merge(g, NULL, 0, NULL)));
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "at least one input");
  deft_graph_clear_error(g);
  ck_assert(!deft_output_ok(deft_summary_merge_all(g, NULL))); /* empty: no error */
  ck_assert(deft_graph_ok(g));
  /* ... and at run time when the shape is only known then. */
  deft_output any = deft_placeholder(g, DEFT_FLOAT, deft_shape_unknown(), "any");
  deft_output late = deft_summary_scalar(g, "late", any);
  deft_output hist = deft_summary_histogram(g, "hist", any);
  deft_output a = deft_summary_scalar(g, "a", v);
  deft_output dup[2] = {a, a};
  deft_output merged = deft_summary_merge(g, dup, 2, NULL);
  deft_output junk = deft_const_string(g, "not a summary \xff", "junk");
  deft_output mixed[2] = {a, junk};
  deft_output bad_merge = deft_summary_merge(g, mixed, 2, "bad_merge");
  ck_assert_msg(deft_graph_ok(g), "%s", deft_status_message(deft_graph_status(g)));
  deft_session *s = deft_session_new(g, st);
  deft_tensor *three = deft_tensor_new(DEFT_FLOAT, (int64_t[]){3}, 1, st);
  ck_assert_ptr_null(run1(s, any, three, late, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "late", "tags and values not the same shape");
  float *d = deft_tensor_data(three);
  d[1] = NAN;
  ck_assert_ptr_null(run1(s, any, three, hist, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "Nan in summary histogram for: hist");
  d[1] = -INFINITY;
  ck_assert_ptr_null(run1(s, any, three, hist, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "Infinity in summary histogram for: hist");
  deft_output none = {NULL, 0};
  ck_assert_ptr_null(run1(s, none, NULL, merged, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "Duplicate tag a found in summary inputs");
  ck_assert_ptr_null(run1(s, none, NULL, bad_merge, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "bad_merge", "Could not parse", "input 1");
  deft_tensor_free(three);
  deft_session_free(s);
  deft_graph_free(g);
  deft_status_free(st);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("summary");
  TCase *tc = tcase_create("writer");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, writer_file_and_records);
  tcase_add_test(tc, writer_queue_and_tail);
  tcase_add_test(tc, writer_errors);
  tcase_add_test(tc, writer_out_of_memory);
  suite_add_tcase(s, tc);
  TCase *ops = tcase_create("ops");
  tcase_set_timeout(ops, 120);
  tcase_add_test(ops, builders_names_and_collection);
  tcase_add_test(ops, ops_values_against_numpy);
  tcase_add_test(ops, ops_errors);
  suite_add_tcase(s, ops);
  return s;
}

int main(void) { return tu_run_suite(suite()); }
