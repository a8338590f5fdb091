/* SPDX-License-Identifier: Apache-2.0 */
/* tests/test_string_ops.c - string tensors through the API and .npy files (|S and <U, read and
 * written, checked against NumPy's own files), quantized tensors as .npy storage types and
 * quantized feeds, and the string ops: StaticRegexFullMatch / RegexFullMatch (against Python's
 * re.fullmatch on patterns whose meaning RE2, PCRE2 and Python agree on), StringToNumber and
 * AsString (against NumPy's conversions and Python's % formatting). */
#include <check.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/file_io.h"
#include "deft/deft.h"
#include "testutil.h"

/* Python writes, into DIR: subjects.npy (<U), re_<k>.npy (bool, re.fullmatch of pattern k),
 * nums.npy (|S) with num_f32.npy / num_f64.npy / num_i64.npy, fmt_<k>.npy (|S, Python's %
 * formatting of vals.npy), bytes.npy (|S), text.npy (<U, non-ASCII), q8.npy (int8). */
static const char *gen =
    "import sys, re, numpy as np\n"
    "d = sys.argv[1]; pats = sys.argv[2:]\n"
    "subj = ['ab', 'axxb', '123', 'HeLLo', '555-1234', 'cd', '', '\\u00e9', '\\u00e9\\u00e9',\n"
    "        'bob@ex.com', 'ab\\n', 'a\\u2603b', 'hello']\n"
    "np.save(d + '/subjects.npy', np.array(subj))\n"
    "for k, p in enumerate(pats):\n"
    "    np.save(d + '/re_%d.npy' % k, np.array([re.fullmatch(p, s) is not None for s in subj]))\n"
    "nums = [b'1.5', b' -3 ', b'1e3', b'-0.125', b'7']\n"
    "np.save(d + '/nums.npy', np.array(nums))\n"
    "np.save(d + '/num_f32.npy', np.array([float(x) for x in nums], np.float32))\n"
    "np.save(d + '/num_f64.npy', np.array([float(x) for x in nums], np.float64))\n"
    "vals = [3.14159, -2.0, 1e10, 0.000123]\n"
    "np.save(d + '/vals.npy', np.array(vals, np.float32))\n"
    "fmts = ['%f', '%.2f', '%e', '%08.3f', '%g']\n"
    "for k, f in enumerate(fmts):\n"
    "    np.save(d + '/fmt_%d.npy' % k,\n"
    "            np.array([(f % float(np.float32(v))).encode() for v in vals]))\n"
    "np.save(d + '/bytes.npy', np.array([b'a\\x00b', b'', b'\\xff\\xfe', b'tail']))\n"
    "np.save(d + '/text.npy', np.array([['x', '\\u00e9t\\u00e9'], ['\\U0001f600', '']]))\n"
    "np.save(d + '/q8.npy', np.array([-128, -1, 0, 127], np.int8))\n"
    "np.save(d + '/u8.npy', np.array([0, 200, 255], np.uint8))\n";

static const char *const patterns[] = {
    "a.*b", "[0-9]+",          "(?i)hello", "\\d{3}-\\d{4}", "ab|cd", "x?",
    ".",    "\\w+@\\w+\\.com", "\\x{e9}+",  "a.b",           "ab$",   "[^a-z]*",
};
#define NPAT 12

static const char *dir(void) {
  static char d[4096];
  static bool made;
  if (!made) {
    snprintf(d, sizeof d, "%s/strings", tu_tmpdir());
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", d);
    ck_assert_int_eq(system(cmd), 0);
    const char *args[NPAT + 2];
    args[0] = d;
    for (int i = 0; i < NPAT; i++) args[1 + i] = patterns[i];
    args[NPAT + 1] = NULL;
    /* Python's re has no \x{..}: give it the same pattern in its spelling */
    static char alt[32];
    snprintf(alt, sizeof alt, "%s", "\\u00e9+");
    args[1 + 8] = alt;
    ck_assert_msg(tu_python(gen, args) == 0, "the NumPy generator failed");
    made = true;
  }
  return d;
}

static deft_tensor *npy(const char *name) {
  char p[4400];
  snprintf(p, sizeof p, "%s/%s.npy", dir(), name);
  deft_status *st = deft_status_new();
  deft_tensor *t = deft_npy_read(p, st);
  ck_assert_msg(t, "%s", deft_status_message(st));
  deft_status_free(st);
  return t;
}

static void assert_strings(const deft_tensor *a, const deft_tensor *b, const char *what) {
  ck_assert_int_eq(deft_tensor_dtype(a), DEFT_STRING);
  ck_assert_int_eq(deft_tensor_dtype(b), DEFT_STRING);
  ck_assert_int_eq(deft_tensor_num_elements(a), deft_tensor_num_elements(b));
  for (int64_t i = 0; i < deft_tensor_num_elements(a); i++) {
    size_t la, lb;
    const char *sa = deft_tensor_string(a, i, &la), *sb = deft_tensor_string(b, i, &lb);
    ck_assert_msg(la == lb && (!la || !memcmp(sa, sb, la)),
                  "%s: element %" PRId64 ": '%.*s' vs '%.*s'", what, i, (int)la, sa ? sa : "",
                  (int)lb, sb ? sb : "");
  }
}

/* Runs a one-input graph: feeds x to `in`, fetches `out`. */
static deft_tensor *run(deft_graph *g, deft_output in, const deft_tensor *x, deft_output out,
                        deft_status *st) {
  deft_session *s = deft_session_new(g, st);
  ck_assert_msg(s, "%s", deft_status_message(st));
  deft_tensor *v = NULL;
  const deft_tensor *fv[1] = {x};
  deft_session_run(s, &in, fv, in.op ? 1 : 0, &out, &v, 1, NULL, 0, st);
  deft_session_free(s);
  return v;
}

/* ---- .npy ---- */

START_TEST(npy_strings_read_and_write) {
  deft_status *st = deft_status_new();
  deft_tensor *b = npy("bytes"), *u = npy("text");
  /* |S: trailing NULs are padding, interior ones kept */
  const char *want[4] = {"a\0b", "", "\xff\xfe", "tail"};
  const size_t wl[4] = {3, 0, 2, 4};
  for (int i = 0; i < 4; i++) {
    size_t len;
    const char *s = deft_tensor_string(b, i, &len);
    ck_assert_uint_eq(len, wl[i]);
    ck_assert(!len || !memcmp(s, want[i], len));
  }
  /* <U: UTF-8, shape kept */
  ck_assert_int_eq(deft_tensor_rank(u), 2);
  const char *wu[4] = {"x", "\xc3\xa9t\xc3\xa9", "\xf0\x9f\x98\x80", ""};
  for (int i = 0; i < 4; i++)
    ck_assert_str_eq(deft_tensor_string(u, i, NULL) ? deft_tensor_string(u, i, NULL) : "", wu[i]);
  /* written as |S, NumPy reads the same bytes back */
  char path[4400];
  snprintf(path, sizeof path, "%s/written.npy", dir());
  ck_assert_msg(deft_npy_write(path, u, st), "%s", deft_status_message(st));
  const char *check =
      "import sys, numpy as np\n"
      "a = np.load(sys.argv[1])\n"
      "assert a.dtype == np.dtype('S5'), a.dtype\n"
      "assert a.shape == (2, 2)\n"
      "assert a.tolist() == [[b'x', '\\u00e9t\\u00e9'.encode()],"
      " ['\\U0001f600'.encode(), b'']], a.tolist()\n";
  const char *args[] = {path, NULL};
  ck_assert_int_eq(tu_python(check, args), 0);
  deft_tensor *back = deft_npy_read(path, st);
  ck_assert_msg(back, "%s", deft_status_message(st));
  assert_strings(back, u, "round trip");
  deft_tensor_free(back);
  /* an element ending in NUL cannot be |S */
  deft_tensor *bad = deft_tensor_scalar_string("x");
  ck_assert(deft_tensor_set_string(bad, 0, "x\0", 2, st));
  ck_assert(!deft_npy_write(path, bad, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "NUL", "element 0");
  deft_tensor_free(bad);
  deft_tensor_free(b);
  deft_tensor_free(u);
  deft_status_free(st);
}
END_TEST

START_TEST(npy_string_errors) {
  deft_status *st = deft_status_new();
  char path[4400];
  snprintf(path, sizeof path, "%s/bad_u.npy", dir());
  /* a <U1 element holding 0x110000, past Unicode */
  const char *mk =
      "import sys, numpy as np\n"
      "np.save(sys.argv[1], np.array(['ab', 'c']))\n"
      "b = bytearray(open(sys.argv[1], 'rb').read())\n"
      "b[-4:] = (0x110000).to_bytes(4, 'little')\n"
      "open(sys.argv[1], 'wb').write(b)\n";
  const char *args[] = {path, NULL};
  ck_assert_int_eq(tu_python(mk, args), 0);
  ck_assert_ptr_null(deft_npy_read(path, st));
  TU_ASSERT_STATUS(st, DEFT_DATA_LOSS, "bad_u.npy", "element 1", "0x110000", "at byte 140");
  /* big-endian >U is refused */
  const char *mk2 = "import sys, numpy as np\nnp.save(sys.argv[1], np.array(['ab'], '>U2'))\n";
  ck_assert_int_eq(tu_python(mk2, args), 0);
  ck_assert_ptr_null(deft_npy_read(path, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, ">U2", "|S<n>");
  deft_status_free(st);
}
END_TEST

START_TEST(npy_quantized) {
  deft_status *st = deft_status_new();
  deft_tensor *q = npy("q8"), *u = npy("u8");
  ck_assert_int_eq(deft_tensor_dtype(q), DEFT_QINT8);
  ck_assert_int_eq((int)deft_tensor_get_double(q, 0), -128);
  ck_assert_int_eq((int)deft_tensor_get_double(q, 3), 127);
  /* quint8 <- uint8 and qint32 <- int32 feeds; fetched and written as their storage types */
  deft_graph *g = deft_graph_new();
  deft_output p8 = deft_placeholder(g, DEFT_QUINT8, deft_shape_unknown(), "p8");
  deft_output id = deft_identity(g, p8, "id");
  deft_tensor *got = run(g, p8, u, id, st);
  ck_assert_msg(got, "%s", deft_status_message(st));
  ck_assert_int_eq(deft_tensor_dtype(got), DEFT_QUINT8);
  ck_assert_int_eq(((const uint8_t *)deft_tensor_data(got))[1], 200);
  const char *descr[3] = {"|u1", "|i1", "<i4"};
  deft_tensor *q32 = deft_tensor_new(DEFT_QINT32, (int64_t[]){2}, 1, st);
  ((int32_t *)deft_tensor_data(q32))[0] = -70000;
  ((int32_t *)deft_tensor_data(q32))[1] = 5;
  deft_tensor *ts[3] = {got, q, q32};
  for (int i = 0; i < 3; i++) {
    char path[4400];
    snprintf(path, sizeof path, "%s/q_%d.npy", dir(), i);
    ck_assert_msg(deft_npy_write(path, ts[i], st), "%s", deft_status_message(st));
    char check[512];
    snprintf(check, sizeof check,
             "import sys, numpy as np\na = np.load(sys.argv[1])\n"
             "assert a.dtype == np.dtype('%s'), a.dtype\n"
             "assert a.tolist() == %s, a.tolist()\n",
             descr[i],
             i == 0   ? "[0, 200, 255]"
             : i == 1 ? "[-128, -1, 0, 127]"
                      : "[-70000, 5]");
    const char *args[] = {path, NULL};
    ck_assert_int_eq(tu_python(check, args), 0);
  }
  deft_graph_free(g);
  g = deft_graph_new();
  deft_output p32 = deft_placeholder(g, DEFT_QINT32, deft_shape_unknown(), "p32");
  deft_tensor *i32 = deft_tensor_new(DEFT_INT32, (int64_t[]){1}, 1, st);
  ((int32_t *)deft_tensor_data(i32))[0] = -7;
  deft_tensor *got32 = run(g, p32, i32, deft_identity(g, p32, NULL), st);
  ck_assert_msg(got32, "%s", deft_status_message(st));
  ck_assert_int_eq(deft_tensor_dtype(got32), DEFT_QINT32);
  ck_assert_int_eq(((const int32_t *)deft_tensor_data(got32))[0], -7);
  /* other mismatches still fail */
  ck_assert_ptr_null(run(g, p32, u, deft_identity(g, p32, NULL), st));
  ck_assert_int_eq(deft_status_code(st), DEFT_INVALID_ARGUMENT);
  deft_tensor_free(got32);
  deft_tensor_free(i32);
  deft_graph_free(g);
  deft_tensor_free(q32);
  deft_tensor_free(got);
  deft_tensor_free(q);
  deft_tensor_free(u);
  deft_status_free(st);
}
END_TEST

/* A string placeholder fed and fetched through the API. */
START_TEST(string_feed_fetch) {
  deft_status *st = deft_status_new();
  deft_graph *g = deft_graph_new();
  deft_output p = deft_placeholder(g, DEFT_STRING, DEFT_SHAPE(-1), "s");
  deft_tensor *x = npy("bytes");
  deft_tensor *got = run(g, p, x, deft_identity(g, p, NULL), st);
  ck_assert_msg(got, "%s", deft_status_message(st));
  assert_strings(got, x, "identity");
  deft_tensor_free(got);
  deft_tensor_free(x);
  deft_graph_free(g);
  deft_status_free(st);
}
END_TEST

/* ---- ops ---- */

static deft_op *unary(deft_graph *g, const char *type, deft_output in, const char *name) {
  deft_op_builder *b = deft_op_builder_new(g, type, name);
  deft_op_builder_add_input(b, in);
  return deft_op_builder_finish(b);
}

START_TEST(regex_full_match) {
  deft_status *st = deft_status_new();
  deft_tensor *subj = npy("subjects");
  for (int k = 0; k < NPAT; k++) {
    char name[32];
    snprintf(name, sizeof name, "re_%d", k);
    deft_tensor *want = npy(name);
    for (int dyn = 0; dyn < 2; dyn++) {
      deft_graph *g = deft_graph_new();
      deft_output p = deft_placeholder(g, DEFT_STRING, DEFT_SHAPE(-1), "s");
      deft_op_builder *b =
          deft_op_builder_new(g, dyn ? "RegexFullMatch" : "StaticRegexFullMatch", "m");
      deft_op_builder_add_input(b, p);
      if (dyn)
        deft_op_builder_add_input(b, deft_const_string(g, patterns[k], NULL));
      else
        deft_op_builder_set_attr_string(b, "pattern", patterns[k], strlen(patterns[k]));
      deft_op *op = deft_op_builder_finish(b);
      ck_assert_msg(op, "%s", deft_status_message(deft_graph_status(g)));
      ck_assert(deft_output_shape(deft_op_output(op, 0)).rank == 1);
      deft_tensor *got = run(g, p, subj, deft_op_output(op, 0), st);
      ck_assert_msg(got, "%s", deft_status_message(st));
      ck_assert_int_eq(deft_tensor_dtype(got), DEFT_BOOL);
      for (int64_t i = 0; i < deft_tensor_num_elements(subj); i++)
        ck_assert_msg(
            ((const bool *)deft_tensor_data(got))[i] == ((const bool *)deft_tensor_data(want))[i],
            "pattern '%s', subject %" PRId64 " ('%s')", patterns[k], i,
            deft_tensor_string(subj, i, NULL) ? deft_tensor_string(subj, i, NULL) : "");
      deft_tensor_free(got);
      deft_graph_free(g);
    }
    deft_tensor_free(want);
  }
  /* a bad pattern fails planning (static) or the run (dynamic), naming the node and pattern */
  for (int dyn = 0; dyn < 2; dyn++) {
    deft_graph *g = deft_graph_new();
    deft_output p = deft_placeholder(g, DEFT_STRING, DEFT_SHAPE(-1), "s");
    deft_op_builder *b =
        deft_op_builder_new(g, dyn ? "RegexFullMatch" : "StaticRegexFullMatch", "bad_re");
    deft_op_builder_add_input(b, p);
    if (dyn)
      deft_op_builder_add_input(b, deft_const_string(g, "a(b", NULL));
    else
      deft_op_builder_set_attr_string(b, "pattern", "a(b", 3);
    deft_op *op = deft_op_builder_finish(b);
    ck_assert_ptr_null(run(g, p, subj, deft_op_output(op, 0), st));
    TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "bad_re", "a(b", "offset 3");
    deft_graph_free(g);
  }
  /* a pattern that backtracks without end stops at the match limit */
  deft_graph *g = deft_graph_new();
  deft_output p = deft_placeholder(g, DEFT_STRING, deft_shape_unknown(), "s");
  deft_op_builder *b = deft_op_builder_new(g, "StaticRegexFullMatch", "slow");
  deft_op_builder_add_input(b, p);
  deft_op_builder_set_attr_string(b, "pattern", "(a|aa)*c", 8);
  deft_op *op = deft_op_builder_finish(b);
  deft_tensor *x = deft_tensor_scalar_string(
      "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab");
  deft_tensor *got = run(g, p, x, deft_op_output(op, 0), st);
  if (!got)
    TU_ASSERT_STATUS(st, DEFT_RESOURCE_EXHAUSTED, "slow", "limit");
  else
    ck_assert(!((const bool *)deft_tensor_data(got))[0]);
  deft_tensor_free(got);
  deft_tensor_free(x);
  deft_graph_free(g);
  deft_tensor_free(subj);
  deft_status_free(st);
}
END_TEST

START_TEST(string_to_number) {
  deft_status *st = deft_status_new();
  deft_tensor *nums = npy("nums");
  const char *ref[2] = {"num_f32", "num_f64"};
  deft_dtype dts[2] = {DEFT_FLOAT, DEFT_DOUBLE};
  for (int k = 0; k < 2; k++) {
    deft_graph *g = deft_graph_new();
    deft_output p = deft_placeholder(g, DEFT_STRING, DEFT_SHAPE(-1), "s");
    deft_op_builder *b = deft_op_builder_new(g, "StringToNumber", "n");
    deft_op_builder_add_input(b, p);
    if (k) deft_op_builder_set_attr_type(b, "out_type", dts[k]);
    deft_op *op = deft_op_builder_finish(b);
    deft_tensor *got = run(g, p, nums, deft_op_output(op, 0), st);
    ck_assert_msg(got, "%s", deft_status_message(st));
    deft_tensor *want = npy(ref[k]);
    ck_assert_int_eq(deft_tensor_dtype(got), dts[k]);
    ck_assert(!memcmp(deft_tensor_data(got), deft_tensor_data(want), deft_tensor_nbytes(want)));
    deft_tensor_free(want);
    deft_tensor_free(got);
    deft_graph_free(g);
  }
  /* integers, and the errors */
  struct {
    const char *s;
    deft_dtype t;
    int64_t want; /* or INT64_MIN: an error */
  } cases[] = {
      {" 42", DEFT_INT32, 42},
      {"-2147483648", DEFT_INT32, INT32_MIN},
      {"2147483648", DEFT_INT32, INT64_MIN},
      {"9223372036854775807", DEFT_INT64, INT64_MAX},
      {"1.5", DEFT_INT64, INT64_MIN},
      {"12a", DEFT_FLOAT, INT64_MIN},
      {"", DEFT_FLOAT, INT64_MIN},
      {"1e99", DEFT_FLOAT, INT64_MIN},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    deft_graph *g = deft_graph_new();
    deft_output p = deft_placeholder(g, DEFT_STRING, deft_shape_unknown(), "s");
    deft_op_builder *b = deft_op_builder_new(g, "StringToNumber", "to_num");
    deft_op_builder_add_input(b, p);
    deft_op_builder_set_attr_type(b, "out_type", cases[i].t);
    deft_op *op = deft_op_builder_finish(b);
    deft_tensor *x = deft_tensor_scalar_string(cases[i].s);
    deft_tensor *got = run(g, p, x, deft_op_output(op, 0), st);
    if (cases[i].want == INT64_MIN) {
      ck_assert_msg(!got, "'%s' converted", cases[i].s);
      TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "to_num", "element 0", "not a valid");
    } else {
      ck_assert_msg(got, "%s", deft_status_message(st));
      ck_assert_int_eq(
          (int64_t)deft_tensor_get_double(got, 0) == cases[i].want || cases[i].want == INT64_MAX,
          1);
      if (cases[i].want == INT64_MAX)
        ck_assert(((const int64_t *)deft_tensor_data(got))[0] == INT64_MAX);
    }
    deft_tensor_free(got);
    deft_tensor_free(x);
    deft_graph_free(g);
  }
  deft_tensor_free(nums);
  deft_status_free(st);
}
END_TEST

START_TEST(as_string) {
  deft_status *st = deft_status_new();
  deft_tensor *vals = npy("vals");
  struct {
    int64_t precision, width;
    bool scientific, shortest;
    const char *fill;
  } cfg[5] = {{-1, -1, false, false, ""},
              {2, -1, false, false, ""},
              {-1, -1, true, false, ""},
              {3, 8, false, false, "0"},
              {-1, -1, false, true, ""}};
  for (int k = 0; k < 5; k++) {
    deft_graph *g = deft_graph_new();
    deft_output p = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(-1), "x");
    deft_op_builder *b = deft_op_builder_new(g, "AsString", "fmt");
    deft_op_builder_add_input(b, p);
    deft_op_builder_set_attr_int(b, "precision", cfg[k].precision);
    deft_op_builder_set_attr_int(b, "width", cfg[k].width);
    deft_op_builder_set_attr_bool(b, "scientific", cfg[k].scientific);
    deft_op_builder_set_attr_bool(b, "shortest", cfg[k].shortest);
    deft_op_builder_set_attr_string(b, "fill", cfg[k].fill, strlen(cfg[k].fill));
    deft_op *op = deft_op_builder_finish(b);
    deft_tensor *got = run(g, p, vals, deft_op_output(op, 0), st);
    ck_assert_msg(got, "%s", deft_status_message(st));
    char name[16];
    snprintf(name, sizeof name, "fmt_%d", k);
    deft_tensor *want = npy(name);
    assert_strings(got, want, name);
    deft_tensor_free(want);
    deft_tensor_free(got);
    deft_graph_free(g);
  }
  /* ints and bools */
  deft_graph *g = deft_graph_new();
  deft_output p = deft_placeholder(g, DEFT_BOOL, deft_shape_unknown(), "b");
  deft_op *op = unary(g, "AsString", p, "s");
  deft_tensor *x = deft_tensor_scalar_bool(true);
  deft_tensor *got = run(g, p, x, deft_op_output(op, 0), st);
  ck_assert_msg(got, "%s", deft_status_message(st));
  ck_assert_str_eq(deft_tensor_string(got, 0, NULL), "true");
  deft_tensor_free(got);
  deft_tensor_free(x);
  deft_graph_free(g);
  g = deft_graph_new();
  p = deft_placeholder(g, DEFT_INT64, deft_shape_unknown(), "i");
  op = unary(g, "AsString", p, "s");
  x = deft_tensor_scalar_int64(-9007199254740993);
  got = run(g, p, x, deft_op_output(op, 0), st);
  ck_assert_msg(got, "%s", deft_status_message(st));
  ck_assert_str_eq(deft_tensor_string(got, 0, NULL), "-9007199254740993");
  deft_tensor_free(got);
  deft_tensor_free(x);
  /* precision on an int: a planning error naming the node */
  deft_op_builder *b = deft_op_builder_new(g, "AsString", "bad_fmt");
  deft_op_builder_add_input(b, p);
  deft_op_builder_set_attr_int(b, "precision", 2);
  op = deft_op_builder_finish(b);
  x = deft_tensor_scalar_int64(1);
  ck_assert_ptr_null(run(g, p, x, deft_op_output(op, 0), st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "bad_fmt", "float types only");
  deft_tensor_free(x);
  deft_graph_free(g);
  deft_tensor_free(vals);
  deft_status_free(st);
}
END_TEST

/* TF marks all of them not differentiable: no gradient flows through. */
START_TEST(not_differentiable) {
  deft_graph *g = deft_graph_new();
  deft_output x = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(2), "x");
  deft_op *s = unary(g, "AsString", x, "s");
  deft_op *n = unary(g, "StringToNumber", deft_op_output(s, 0), "n");
  int32_t axis = 0;
  deft_output y = deft_reduce_sum(g, deft_op_output(n, 0), &axis, 1, false, NULL);
  deft_output dx = {NULL, 0};
  deft_gradients(g, &y, 1, &x, 1, NULL, &dx);
  ck_assert_ptr_null(dx.op);
  deft_graph_free(g);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("string_ops");
  TCase *tc = tcase_create("strings");
  tcase_add_test(tc, npy_strings_read_and_write);
  tcase_add_test(tc, npy_string_errors);
  tcase_add_test(tc, npy_quantized);
  tcase_add_test(tc, string_feed_fetch);
  tcase_add_test(tc, regex_full_match);
  tcase_add_test(tc, string_to_number);
  tcase_add_test(tc, as_string);
  tcase_add_test(tc, not_differentiable);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return tu_run_suite(suite()); }
