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

#include "runtime/alloc.h"
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
      "assert ev[0].WhichOneof('what') == 'file_version' and ev[0].file_version == 'brain.Event:2'\n"
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

static Suite *suite(void) {
  Suite *s = suite_create("summary");
  TCase *tc = tcase_create("writer");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, writer_file_and_records);
  tcase_add_test(tc, writer_queue_and_tail);
  tcase_add_test(tc, writer_errors);
  tcase_add_test(tc, writer_out_of_memory);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return tu_run_suite(suite()); }
