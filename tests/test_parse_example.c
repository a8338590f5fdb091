/* SPDX-License-Identifier: Apache-2.0 */
/* tests/test_parse_example.c - ParseExample and ParseExampleV2 on tf.Example protos serialized by
 * Google's protobuf for Python (tests/gen_examples.py, which also computes the expected outputs
 * from the feature values), hand-made wire bytes for the encodings that encoder never writes
 * (unpacked floats and int64s, merged and repeated fields) and for malformed input; TF Serving's
 * half_plus_two SavedModel (../shared/tf1) through its classify and regress signatures, in
 * process and with `deft run`. */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/file_io.h"
#include "deft/deft.h"
#include "testutil.h"

#define HALF_PLUS_TWO                                                         \
  "tf1/tensorflow__serving/tensorflow_serving/servables/tensorflow/testdata/" \
  "saved_model_half_plus_two_cpu/00000123"

static const char *dir(void) {
  static char d[4096];
  static bool made;
  if (!made) {
    snprintf(d, sizeof d, "%s/examples", tu_tmpdir());
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", d);
    ck_assert_int_eq(system(cmd), 0);
    const char *args[] = {d, NULL};
    int rc = tu_python_file(DEFT_SOURCE_DIR "/tests/gen_examples.py", args);
    ck_assert_msg(rc == 0, "tests/gen_examples.py failed (needs NumPy and python3-protobuf)");
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

static void assert_same(const deft_tensor *a, const deft_tensor *b, const char *what) {
  ck_assert_msg(deft_tensor_dtype(a) == deft_tensor_dtype(b), "%s: dtype %s vs %s", what,
                deft_dtype_name(deft_tensor_dtype(a)), deft_dtype_name(deft_tensor_dtype(b)));
  ck_assert_msg(deft_tensor_rank(a) == deft_tensor_rank(b), "%s: rank %d vs %d", what,
                deft_tensor_rank(a), deft_tensor_rank(b));
  for (int i = 0; i < deft_tensor_rank(a); i++)
    ck_assert_msg(deft_tensor_dim(a, i) == deft_tensor_dim(b, i),
                  "%s: dim %d: %" PRId64 " vs %" PRId64, what, i, deft_tensor_dim(a, i),
                  deft_tensor_dim(b, i));
  if (deft_tensor_dtype(a) == DEFT_STRING) {
    for (int64_t i = 0; i < deft_tensor_num_elements(a); i++) {
      size_t la, lb;
      const char *sa = deft_tensor_string(a, i, &la), *sb = deft_tensor_string(b, i, &lb);
      ck_assert_msg(la == lb && (!la || !memcmp(sa, sb, la)), "%s: string %" PRId64 " differs",
                    what, i);
    }
  } else {
    ck_assert_msg(!memcmp(deft_tensor_data(a), deft_tensor_data(b), deft_tensor_nbytes(a)),
                  "%s: values differ", what);
  }
}

/* The features of gen_examples.py: sparse tags (string), ids (int64); dense age int64 [1]
 * (default -1), scores float [2] (required), name string [] (default "anon"). */
typedef struct parse_graph {
  deft_graph *g;
  deft_output serialized, names;
  deft_op *op;
} parse_graph;

static deft_output string_vec(deft_graph *g, const char *const *v, int n) {
  int64_t dims[1] = {n};
  deft_tensor *t = deft_tensor_new(DEFT_STRING, dims, 1, NULL);
  for (int i = 0; i < n; i++) deft_tensor_set_string(t, i, v[i], strlen(v[i]), NULL);
  deft_output o = deft_const(g, t, NULL);
  deft_tensor_free(t);
  return o;
}

static parse_graph build(bool v2, bool scalar, bool scores_default) {
  parse_graph p = {deft_graph_new(), {0}, {0}, NULL};
  deft_graph *g = p.g;
  p.serialized =
      deft_placeholder(g, DEFT_STRING, scalar ? DEFT_SCALAR : DEFT_SHAPE(-1), "serialized");
  p.names = deft_placeholder(g, DEFT_STRING, deft_shape_unknown(), "names");
  const char *sk[2] = {"tags", "ids"}, *dk[3] = {"age", "scores", "name"};
  deft_op_builder *b =
      deft_op_builder_new(g, v2 ? "ParseExampleV2" : "ParseExample", "ParseExample");
  deft_op_builder_add_input(b, p.serialized);
  deft_op_builder_add_input(b, p.names);
  if (v2) {
    deft_op_builder_add_input(b, string_vec(g, sk, 2));
    deft_op_builder_add_input(b, string_vec(g, dk, 3));
    deft_op_builder_add_input(b, string_vec(g, NULL, 0));
  } else {
    deft_output s[2], d[3];
    for (int i = 0; i < 2; i++) s[i] = deft_const_string(g, sk[i], NULL);
    for (int i = 0; i < 3; i++) d[i] = deft_const_string(g, dk[i], NULL);
    deft_op_builder_add_input_list(b, s, 2);
    deft_op_builder_add_input_list(b, d, 3);
  }
  int64_t one = 1;
  deft_tensor *age = deft_tensor_new(DEFT_INT64, &one, 1, NULL);
  ((int64_t *)deft_tensor_data(age))[0] = -1;
  int64_t zero = 0, two = 2;
  deft_tensor *scores = scores_default ? deft_tensor_new(DEFT_FLOAT, &two, 1, NULL)
                                       : deft_tensor_new(DEFT_FLOAT, &zero, 1, NULL);
  if (scores_default) ((float *)deft_tensor_data(scores))[1] = 9.5f;
  deft_tensor *name = deft_tensor_scalar_string("anon");
  deft_output defs[3] = {deft_const(g, age, NULL), deft_const(g, scores, NULL),
                         deft_const(g, name, NULL)};
  deft_tensor_free(age);
  deft_tensor_free(scores);
  deft_tensor_free(name);
  deft_op_builder_add_input_list(b, defs, 3);
  deft_dtype st[2] = {DEFT_STRING, DEFT_INT64}, dt[3] = {DEFT_INT64, DEFT_FLOAT, DEFT_STRING};
  deft_shape ds[3] = {DEFT_SHAPE(1), DEFT_SHAPE(2), DEFT_SCALAR};
  if (v2) {
    deft_op_builder_set_attr_int(b, "num_sparse", 2);
    deft_op_builder_set_attr_type_list(b, "ragged_value_types", NULL, 0);
    deft_op_builder_set_attr_type_list(b, "ragged_split_types", NULL, 0);
  } else {
    deft_op_builder_set_attr_int(b, "Nsparse", 2);
    deft_op_builder_set_attr_int(b, "Ndense", 3);
  }
  deft_op_builder_set_attr_type_list(b, "sparse_types", st, 2);
  deft_op_builder_set_attr_type_list(b, "Tdense", dt, 3);
  deft_op_builder_set_attr_shape_list(b, "dense_shapes", ds, 3);
  p.op = deft_op_builder_finish(b);
  ck_assert_msg(deft_graph_ok(g), "%s", deft_status_message(deft_graph_status(g)));
  return p;
}

/* Runs p on serialized (and names, or an empty vector) and returns its 9 outputs in out[]:
 * indices tags, ids; values tags, ids; shapes tags, ids; dense age, scores, name. */
static bool run_parse(parse_graph *p, deft_tensor *ser, deft_tensor *names, deft_tensor **out,
                      deft_status *st) {
  deft_session *s = deft_session_new(p->g, st);
  ck_assert_msg(s, "%s", deft_status_message(st));
  int64_t zero = 0;
  deft_tensor *empty = names ? NULL : deft_tensor_new(DEFT_STRING, &zero, 1, NULL);
  deft_output feeds[2] = {p->serialized, p->names}, fetches[9];
  const deft_tensor *fv[2] = {ser, names ? names : empty};
  for (int i = 0; i < 9; i++) fetches[i] = deft_op_output(p->op, i);
  bool ok = deft_session_run(s, feeds, fv, 2, fetches, out, 9, NULL, 0, st);
  deft_tensor_free(empty);
  deft_session_free(s);
  return ok;
}

static void check_batch(bool v2) {
  parse_graph p = build(v2, false, false);
  deft_status *st = deft_status_new();
  deft_tensor *ser = npy("batch"), *names = npy("names"), *out[9];
  for (int pass = 0; pass < 2; pass++) {
    ck_assert_msg(run_parse(&p, ser, pass ? names : NULL, out, st), "pass %d: %s", pass,
                  deft_status_message(st));
    const char *exp[9] = {"exp_tags_indices", "exp_ids_indices", "exp_tags_values",
                          "exp_ids_values",   "exp_tags_shape",  "exp_ids_shape",
                          "exp_age",          "exp_scores",      "exp_name"};
    for (int i = 0; i < 9; i++) {
      deft_tensor *want = npy(exp[i]);
      assert_same(out[i], want, exp[i]);
      deft_tensor_free(want);
      deft_tensor_free(out[i]);
    }
  }
  /* build-time shapes: dense [?] + dense shape; sparse [?, 2], [?], [2] */
  deft_shape sh = deft_output_shape(deft_op_output(p.op, 7));
  ck_assert_int_eq(sh.rank, 2);
  ck_assert_int_eq(sh.dims[1], 2);
  sh = deft_output_shape(deft_op_output(p.op, 0));
  ck_assert_int_eq(sh.rank, 2);
  ck_assert_int_eq(sh.dims[1], 2);
  ck_assert_int_eq(deft_output_shape(deft_op_output(p.op, 8)).rank, 1);
  deft_tensor_free(ser);
  deft_tensor_free(names);
  deft_graph_free(p.g);
  deft_status_free(st);
}

START_TEST(parse_example_batch) { check_batch(false); }
END_TEST

START_TEST(parse_example_v2_batch) { check_batch(true); }
END_TEST

/* ParseExampleV2 of a scalar: dense outputs lose the batch dim, sparse indices are [n, 1]. */
START_TEST(parse_example_v2_scalar) {
  parse_graph p = build(true, true, false);
  deft_status *st = deft_status_new();
  deft_tensor *batch = npy("batch"), *out[9];
  size_t len;
  const char *s1 = deft_tensor_string(batch, 1, &len);
  deft_tensor *ser = deft_tensor_new(DEFT_STRING, NULL, 0, NULL);
  deft_tensor_set_string(ser, 0, s1, len, NULL);
  deft_tensor *names = deft_tensor_scalar_string("one");
  ck_assert_msg(run_parse(&p, ser, names, out, st), "%s", deft_status_message(st));
  /* example 1: tags ["c"], ids [-5, 2^40, 0], no age (default -1), scores [1e-3, 3e10] */
  ck_assert_int_eq(deft_tensor_rank(out[1]), 2);
  ck_assert_int_eq(deft_tensor_dim(out[1], 0), 3);
  ck_assert_int_eq(deft_tensor_dim(out[1], 1), 1);
  const int64_t *ix = deft_tensor_data(out[1]), *iv = deft_tensor_data(out[3]);
  ck_assert(ix[0] == 0 && ix[1] == 1 && ix[2] == 2);
  ck_assert(iv[0] == -5 && iv[1] == (int64_t)1 << 40 && iv[2] == 0);
  ck_assert_int_eq(((const int64_t *)deft_tensor_data(out[5]))[0], 3);
  ck_assert_int_eq(deft_tensor_rank(out[6]), 1);
  ck_assert_int_eq(((const int64_t *)deft_tensor_data(out[6]))[0], -1);
  ck_assert_float_eq(((const float *)deft_tensor_data(out[7]))[0], 1e-3f);
  ck_assert_float_eq(((const float *)deft_tensor_data(out[7]))[1], 3.0e10f);
  ck_assert_int_eq(deft_tensor_rank(out[8]), 0);
  ck_assert_str_eq(deft_tensor_string(out[8], 0, NULL), "anon");
  for (int i = 0; i < 9; i++) deft_tensor_free(out[i]);
  deft_tensor_free(ser);
  deft_tensor_free(names);
  deft_tensor_free(batch);
  deft_graph_free(p.g);
  deft_status_free(st);
}
END_TEST

/* ---- hand-made wire bytes ---- */

typedef struct buf {
  char b[512];
  size_t n;
} buf;

static void put(buf *o, const void *p, size_t n) {
  memcpy(o->b + o->n, p, n);
  o->n += n;
}
static void put_byte(buf *o, int c) { o->b[o->n++] = (char)c; }
static void put_ld(buf *o, int field, const buf *payload) {
  put_byte(o, field << 3 | 2);
  put_byte(o, (int)payload->n); /* < 128 here */
  put(o, payload->b, payload->n);
}
/* A map entry {key, value = feature bytes} inside a Features message field of an Example. */
static void put_feature(buf *features, const char *key, const buf *feature) {
  buf e = {.n = 0}, k = {.n = 0};
  put(&k, key, strlen(key));
  put_ld(&e, 1, &k);
  put_ld(&e, 2, feature);
  put_ld(features, 1, &e);
}

static deft_tensor *one(const buf *ex) {
  int64_t d = 1;
  deft_tensor *t = deft_tensor_new(DEFT_STRING, &d, 1, NULL);
  deft_tensor_set_string(t, 0, ex->b, ex->n, NULL);
  return t;
}

/* Unpacked floats (fixed32 fields) and int64s (varint fields), a feature given twice (the last
 * wins), a float_list split over two fields (they concatenate), an unknown field, and the Features
 * message split over two `features` fields (they merge). */
START_TEST(wire_encodings) {
  buf scores = {.n = 0}, fl = {.n = 0}, fl2 = {.n = 0}, age = {.n = 0}, il = {.n = 0};
  float a = 1.5f, b = -4.0f;
  put_byte(&fl, 1 << 3 | 5), put(&fl, &a, 4);
  put_byte(&fl2, 1 << 3 | 5), put(&fl2, &b, 4);
  put_ld(&scores, 2, &fl);
  put_ld(&scores, 2, &fl2);
  put_byte(&il, 1 << 3 | 0), put_byte(&il, 0x2a); /* 42 */
  put_byte(&il, 7 << 3 | 0), put_byte(&il, 1);    /* unknown field 7 */
  put_ld(&age, 3, &il);
  buf old_age = {.n = 0}, old_il = {.n = 0};
  put_byte(&old_il, 1 << 3 | 0), put_byte(&old_il, 5);
  put_ld(&old_age, 3, &old_il);
  buf f1 = {.n = 0}, f2 = {.n = 0}, ex = {.n = 0};
  put_feature(&f1, "age", &old_age);
  put_feature(&f1, "scores", &scores);
  put_feature(&f2, "age", &age);
  put_ld(&ex, 1, &f1);
  put_byte(&ex, 9 << 3 | 2), put_byte(&ex, 0); /* unknown empty field 9 */
  put_ld(&ex, 1, &f2);
  parse_graph p = build(false, false, false);
  deft_status *st = deft_status_new();
  deft_tensor *ser = one(&ex), *out[9];
  ck_assert_msg(run_parse(&p, ser, NULL, out, st), "%s", deft_status_message(st));
  ck_assert_int_eq(((const int64_t *)deft_tensor_data(out[6]))[0], 42);
  ck_assert_float_eq(((const float *)deft_tensor_data(out[7]))[0], 1.5f);
  ck_assert_float_eq(((const float *)deft_tensor_data(out[7]))[1], -4.0f);
  ck_assert_int_eq(deft_tensor_dim(out[0], 0), 0); /* no tags */
  ck_assert_int_eq(((const int64_t *)deft_tensor_data(out[4]))[1], 0);
  for (int i = 0; i < 9; i++) deft_tensor_free(out[i]);
  deft_tensor_free(ser);
  deft_graph_free(p.g);
  deft_status_free(st);
}
END_TEST

START_TEST(malformed_bytes) {
  struct {
    const char *bytes;
    size_t n;
    const char *at, *why;
  } cases[] = {
      {"\x0a\x05\x0a\x03", 4, "at byte 1", "past the end"}, /* features length 5 of 2 */
      {"\x0a\x01\x0a", 3, "at byte 3", "truncated length"}, /* entry without its length */
      {"\x0b", 1, "at byte 0", "wire type"},                /* group start */
      {"\x80", 1, "at byte 0", "tag"},                      /* truncated tag varint */
      {"\x0a\x0a\x0a\x08\x0a\x03\x61\x67\x65\x12\x01\x1a", 12, "at byte 12", "truncated length"},
      {"\x0a\x0a\x0a\x08\x0a\x03\x61\x67\x65\x12\x01\x08", 12, "at byte 12", "truncated varint"},
      {"\x0a\x0b\x0a\x09\x0a\x03\x61\x67\x65\x12\x02\x08\x01", 13, "at byte 11", "not a message"},
  };
  deft_status *st = deft_status_new();
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    parse_graph p = build(i % 2 == 1, false, false);
    buf ex = {.n = 0};
    put(&ex, cases[i].bytes, cases[i].n);
    deft_tensor *ser = one(&ex), *out[9];
    ck_assert_msg(!run_parse(&p, ser, NULL, out, st), "case %zu parsed", i);
    TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "ParseExample", "example 0", cases[i].at,
                     cases[i].why);
    deft_tensor_free(ser);
    deft_graph_free(p.g);
  }
  deft_status_free(st);
}
END_TEST

/* Wrong feature type, a missing required feature, the wrong number of values; each error names
 * the node, the example (with its name when given) and the feature. */
START_TEST(feature_errors) {
  struct {
    const char *file;
    const char *kw1, *kw2;
  } cases[] = {
      {"bad_wrong_type", "holds int64 values", "expects float"},
      {"bad_missing", "required", "dense_defaults"},
      {"bad_wrong_shape", "3 float values", "[2]"},
  };
  deft_status *st = deft_status_new();
  for (int v2 = 0; v2 < 2; v2++)
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
      parse_graph p = build(v2, false, false);
      deft_tensor *ser = npy(cases[i].file), *out[9];
      const char *nm[2] = {"good", "bad one"};
      int64_t two = 2;
      deft_tensor *names = deft_tensor_new(DEFT_STRING, &two, 1, NULL);
      for (int k = 0; k < 2; k++) deft_tensor_set_string(names, k, nm[k], strlen(nm[k]), NULL);
      ck_assert_msg(!run_parse(&p, ser, names, out, st), "%s parsed", cases[i].file);
      TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "'ParseExample'", "example 1 (name 'bad one')",
                       "scores", cases[i].kw1, cases[i].kw2);
      deft_tensor_free(names);
      deft_tensor_free(ser);
      deft_graph_free(p.g);
    }
  /* a default that does not match its dense shape fails before parsing */
  parse_graph p = build(false, false, false);
  deft_graph_free(p.g);
  deft_status_free(st);
}
END_TEST

/* A required feature with a default given: missing examples take it. */
START_TEST(dense_default_used) {
  parse_graph p = build(false, false, true);
  deft_status *st = deft_status_new();
  deft_tensor *ser = npy("bad_missing"), *out[9];
  ck_assert_msg(run_parse(&p, ser, NULL, out, st), "%s", deft_status_message(st));
  const float *sc = deft_tensor_data(out[7]);
  ck_assert_float_eq(sc[2], 0.0f);
  ck_assert_float_eq(sc[3], 9.5f);
  ck_assert_int_eq(((const int64_t *)deft_tensor_data(out[6]))[1], 3);
  for (int i = 0; i < 9; i++) deft_tensor_free(out[i]);
  deft_tensor_free(ser);
  deft_graph_free(p.g);
  deft_status_free(st);
}
END_TEST

START_TEST(attr_errors) {
  deft_status *st = deft_status_new();
  /* Tdense of a type tf.Example cannot hold: planning fails naming the attr */
  deft_graph *g = deft_graph_new();
  deft_output ser = deft_placeholder(g, DEFT_STRING, DEFT_SHAPE(-1), "s");
  deft_op_builder *b = deft_op_builder_new(g, "ParseExample", "pe");
  deft_op_builder_add_input(b, ser);
  deft_op_builder_add_input(b, deft_const_string(g, "", NULL));
  deft_output key = deft_const_string(g, "k", NULL), def = deft_const_int32(g, 0, NULL);
  deft_op_builder_add_input_list(b, NULL, 0);
  deft_op_builder_add_input_list(b, &key, 1);
  deft_op_builder_add_input_list(b, &def, 1);
  deft_dtype t = DEFT_INT32;
  deft_shape s = DEFT_SCALAR;
  deft_op_builder_set_attr_int(b, "Nsparse", 0);
  deft_op_builder_set_attr_int(b, "Ndense", 1);
  deft_op_builder_set_attr_type_list(b, "sparse_types", NULL, 0);
  deft_op_builder_set_attr_type_list(b, "Tdense", &t, 1);
  deft_op_builder_set_attr_shape_list(b, "dense_shapes", &s, 1);
  deft_op *op = deft_op_builder_finish(b);
  ck_assert_msg(op, "%s", deft_status_message(deft_graph_status(g)));
  deft_session *sess = deft_session_new(g, st);
  deft_output o = deft_op_output(op, 0);
  deft_tensor *v = NULL;
  int64_t one = 1;
  deft_tensor *in = deft_tensor_new(DEFT_STRING, &one, 1, NULL);
  const deft_tensor *fv[1] = {in};
  ck_assert(!deft_session_run(sess, &ser, fv, 1, &o, &v, 1, NULL, 0, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "pe", "Tdense", "int32");
  deft_tensor_free(in);
  deft_session_free(sess);
  deft_graph_free(g);
  deft_status_free(st);
}
END_TEST

/* TF Serving's half_plus_two: y = 0.5 x + 2, y2 = 0.5 x + 3 (../shared/tf1/README.md), through
 * the classify and regress signatures' ParseExample. */
START_TEST(serving_signatures) {
  TU_REQUIRE_SHARED(path, HALF_PLUS_TWO);
  deft_status *st = deft_status_new();
  deft_graph *g = deft_load_saved_model(path, "serve", NULL, st);
  ck_assert_msg(g, "%s", deft_status_message(st));
  deft_session *s = deft_session_new(g, st);
  ck_assert_msg(s, "%s", deft_status_message(st));
  char prefix[4400];
  snprintf(prefix, sizeof prefix, "%s/variables/variables", path);
  deft_saver *sv = deft_saver_from_names(g, "save/Const:0", "save/control_dependency:0",
                                         "save/restore_all", 0, st);
  ck_assert_msg(sv && deft_saver_restore(sv, s, prefix, st), "%s", deft_status_message(st));
  deft_tensor *ex = npy("serving"), *out[2] = {NULL, NULL};
  deft_output feed = deft_graph_tensor_by_name(g, "tf_example:0", st);
  deft_output fetch[2] = {deft_graph_tensor_by_name(g, "y:0", st),
                          deft_graph_tensor_by_name(g, "y2:0", st)};
  const deft_tensor *fv[1] = {ex};
  ck_assert_msg(deft_session_run(s, &feed, fv, 1, fetch, out, 2, NULL, 0, st), "%s",
                deft_status_message(st));
  const float want_y[3] = {2.5f, 3.0f, 4.5f}, want_y2[3] = {3.5f, 4.0f, 5.5f};
  for (int i = 0; i < 3; i++) {
    ck_assert_float_eq(((const float *)deft_tensor_data(out[0]))[i], want_y[i]);
    ck_assert_float_eq(((const float *)deft_tensor_data(out[1]))[i], want_y2[i]);
  }
  deft_tensor_free(out[0]);
  deft_tensor_free(out[1]);
  /* deft run with the signature, feeding the |S .npy */
  char cmd[32768], outdir[8400];
  snprintf(outdir, sizeof outdir, "%s/run", dir());
  snprintf(cmd, sizeof cmd,
           "mkdir -p '%s' && '%s/deft' run '%s' --signature regress_x_to_y --feed "
           "inputs='%s/serving.npy' --out '%s' > '%s/run.txt' 2>&1",
           outdir, DEFT_BINARY_DIR, path, dir(), outdir, dir());
  ck_assert_msg(system(cmd) == 0, "deft run failed: see %s/run.txt", dir());
  snprintf(cmd, sizeof cmd, "%s/outputs.npy", outdir);
  deft_tensor *y = deft_npy_read(cmd, st);
  ck_assert_msg(y, "%s", deft_status_message(st));
  for (int i = 0; i < 3; i++)
    ck_assert_float_eq(((const float *)deft_tensor_data(y))[i], want_y[i]);
  deft_tensor_free(y);
  deft_tensor_free(ex);
  deft_saver_free(sv);
  deft_session_free(s);
  deft_graph_free(g);
  deft_status_free(st);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("parse_example");
  TCase *tc = tcase_create("parse");
  tcase_add_test(tc, parse_example_batch);
  tcase_add_test(tc, parse_example_v2_batch);
  tcase_add_test(tc, parse_example_v2_scalar);
  tcase_add_test(tc, wire_encodings);
  tcase_add_test(tc, malformed_bytes);
  tcase_add_test(tc, feature_errors);
  tcase_add_test(tc, dense_default_used);
  tcase_add_test(tc, attr_errors);
  tcase_add_test(tc, serving_signatures);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return tu_run_suite(suite()); }
