/* SPDX-License-Identifier: Apache-2.0 */
/* tests/test_hostile.c - hostile files and graphs (issue 11): every file of ../shared/hostile
 * gives a clear status, and each bug it found has a regression test that needs no shared file:
 * nesting depth of binary protobufs, string and repeated-value amplification, the per-import
 * constant budget, overflow hidden by a zero dim, the executor's buffer pool on long chains,
 * checkpoint string entries verified before allocating. */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/alloc.h"
#include "graph.pb-c.h"
#include "proto/bundle.h"
#include "proto/tensor_proto.h"
#include "testutil.h"

/* ---- building wire format by hand ---- */

typedef struct wbuf {
  uint8_t *p;
  size_t n, cap;
} wbuf;

static void wb_byte(wbuf *b, uint8_t c) {
  if (b->n == b->cap) {
    b->cap = b->cap ? 2 * b->cap : 256;
    b->p = realloc(b->p, b->cap);
    ck_assert_ptr_nonnull(b->p);
  }
  b->p[b->n++] = c;
}
static void wb_varint(wbuf *b, uint64_t v) {
  while (v >= 0x80) {
    wb_byte(b, (uint8_t)(v | 0x80));
    v >>= 7;
  }
  wb_byte(b, (uint8_t)v);
}
static void wb_bytes(wbuf *b, const void *p, size_t n) {
  for (size_t i = 0; i < n; i++) wb_byte(b, ((const uint8_t *)p)[i]);
}
/* Field `num` of wire type 2 holding inner's bytes. */
static void wb_sub(wbuf *b, int num, const wbuf *inner) {
  wb_varint(b, (uint64_t)num << 3 | 2);
  wb_varint(b, inner->n);
  wb_bytes(b, inner->p, inner->n);
}

/* A TensorProto nesting variant_val (15) -> VariantTensorDataProto.tensors (3) `levels` deep. */
static wbuf nested_tensor(int levels) {
  wbuf t = {0};
  wb_varint(&t, 1 << 3); /* dtype = DT_FLOAT */
  wb_varint(&t, 1);
  for (int i = 0; i < levels; i++) {
    wbuf v = {0}, outer = {0};
    wb_sub(&v, 3, &t);
    wb_varint(&outer, 1 << 3);
    wb_varint(&outer, 21); /* DT_VARIANT */
    wb_sub(&outer, 15, &v);
    free(t.p);
    free(v.p);
    t = outer;
  }
  return t;
}

START_TEST(nesting_depth) {
  deft_status *st = deft_status_new();
  /* 48 levels (97 messages) parse; 60 (121) and 5000 are refused before protobuf-c recurses. */
  wbuf ok = nested_tensor(48);
  ck_assert(deft_pb_check_depth(&tensorflow__tensor_proto__descriptor, ok.p, ok.n, st));
  ProtobufCMessage *m = deft_pb_unpack(&tensorflow__tensor_proto__descriptor, ok.p, ok.n, st);
  ck_assert_msg(m != NULL, "%s", deft_status_message(st));
  protobuf_c_message_free_unpacked(m, deft_protobuf_allocator());
  int bad_levels[] = {60, 5000};
  for (int k = 0; k < 2; k++) {
    wbuf bad = nested_tensor(bad_levels[k]);
    ck_assert_ptr_null(deft_tensor_parse_proto(bad.p, bad.n, st));
    TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "TensorProto", "100 deep", "byte offset");
    free(bad.p);
  }
  /* the same inside a GraphDef file: node (1) -> attr (5) entry -> value (2) -> tensor (8) */
  wbuf deep = nested_tensor(5000), av = {0}, entry = {0}, node = {0}, gd = {0};
  wb_sub(&av, 8, &deep);
  wb_varint(&entry, 1 << 3 | 2);
  wb_varint(&entry, 5);
  wb_bytes(&entry, "value", 5);
  wb_sub(&entry, 2, &av);
  wb_varint(&node, 1 << 3 | 2);
  wb_varint(&node, 1);
  wb_bytes(&node, "c", 1);
  wb_sub(&node, 5, &entry);
  wb_sub(&gd, 1, &node);
  char path[512];
  snprintf(path, sizeof path, "%s/deep.pb", tu_tmpdir());
  FILE *f = fopen(path, "wb");
  ck_assert_ptr_nonnull(f);
  ck_assert_uint_eq(fwrite(gd.p, 1, gd.n, f), gd.n);
  fclose(f);
  ck_assert_ptr_null(deft_import_graph_def(path, NULL, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "deep.pb", "100 deep");
  /* truncated bytes are still DATA_LOSS */
  ck_assert_ptr_null(deft_tensor_parse_proto(ok.p, ok.n - 3, st));
  ck_assert_int_eq(deft_status_code(st), DEFT_DATA_LOSS);
  free(ok.p);
  free(deep.p);
  free(av.p);
  free(entry.p);
  free(node.p);
  free(gd.p);
  deft_status_free(st);
}
END_TEST

/* A serialized TensorProto of dtype, shape dims[0..rank) and the given raw typed-field bytes
 * (field number, wire type 2 for packed/bytes) appended. */
static wbuf tensor_bytes(int dtype, const int64_t *dims, int rank) {
  wbuf t = {0}, shape = {0};
  wb_varint(&t, 1 << 3);
  wb_varint(&t, (uint64_t)dtype);
  for (int i = 0; i < rank; i++) {
    wbuf dim = {0};
    wb_varint(&dim, 1 << 3);
    wb_varint(&dim, (uint64_t)dims[i]);
    wb_sub(&shape, 2, &dim);
    free(dim.p);
  }
  wb_sub(&t, 2, &shape);
  free(shape.p);
  return t;
}

START_TEST(string_amplification) {
  deft_status *st = deft_status_new();
  /* 10^8 empty strings: 1.6 GB of elements, over the 1 GiB default budget, refused at once */
  int64_t big[] = {100000000};
  wbuf t = tensor_bytes(7, big, 1);
  wbuf one = {0};
  wb_sub(&t, 8, &one);
  ck_assert_ptr_null(deft_tensor_parse_proto(t.p, t.n, st));
  TU_ASSERT_STATUS(st, DEFT_RESOURCE_EXHAUSTED, "budget");
  free(t.p);
  /* 2^24 copies of a 4 KiB string: the string bytes count, not only 16 bytes per element */
  int64_t mid[] = {1 << 24};
  t = tensor_bytes(7, mid, 1);
  char s4k[4096];
  memset(s4k, 'x', sizeof s4k);
  wbuf sv = {0};
  wb_bytes(&sv, s4k, sizeof s4k);
  wb_sub(&t, 8, &sv);
  ck_assert_ptr_null(deft_tensor_parse_proto(t.p, t.n, st));
  TU_ASSERT_STATUS(st, DEFT_RESOURCE_EXHAUSTED, "[16777216]");
  /* a budget that fits the elements but not the string bytes refuses too */
  uint64_t budget = (uint64_t)16 * 1000 + 10;
  free(t.p);
  int64_t small[] = {1000};
  t = tensor_bytes(7, small, 1);
  wbuf ab = {0};
  wb_bytes(&ab, "ab", 2);
  wb_sub(&t, 8, &ab);
  Tensorflow__TensorProto *p =
      tensorflow__tensor_proto__unpack(deft_protobuf_allocator(), t.n, t.p);
  ck_assert_ptr_nonnull(p);
  ck_assert_ptr_null(deft_tensor_from_proto_limited(p, &budget, st));
  TU_ASSERT_STATUS(st, DEFT_RESOURCE_EXHAUSTED, "18000 bytes", "16010 bytes left");
  ck_assert_uint_eq(budget, 16010);
  /* within budget: every element is the repeated "ab", and the budget goes down by 18000 */
  budget = 20000;
  deft_tensor *v = deft_tensor_from_proto_limited(p, &budget, st);
  ck_assert_msg(v != NULL, "%s", deft_status_message(st));
  ck_assert_uint_eq(budget, 2000);
  for (int64_t i = 0; i < 1000; i++) {
    size_t len;
    const char *e = deft_tensor_string(v, i, &len);
    ck_assert_uint_eq(len, 2);
    ck_assert(memcmp(e, "ab", 2) == 0);
  }
  deft_tensor_free(v);
  tensorflow__tensor_proto__free_unpacked(p, deft_protobuf_allocator());
  free(t.p);
  free(sv.p);
  free(ab.p);
  free(one.p);
  deft_status_free(st);
}
END_TEST

/* The repeated tail of a decoded string tensor shares one copy (the 13-byte proto that names
 * 10^8 elements cost one malloc per element, within the budget). Every path that writes, copies,
 * saves, encodes or frees such a tensor keeps each element its own value. */
bool deft_array_copy_elems(deft_tensor *dst, int64_t doff, const deft_tensor *src, int64_t soff,
                           int64_t n);
void deft_array_zero(deft_tensor *t);

/* Element i of t is `want` (a NUL-terminated string). */
static void expect_elem(const deft_tensor *t, int64_t i, const char *want) {
  size_t len;
  const char *e = deft_tensor_string(t, i, &len);
  ck_assert_msg(e && len == strlen(want) && memcmp(e, want, len) == 0,
                "element %" PRId64 ": '%.*s', want '%s'", i, (int)len, e ? e : "", want);
}

/* The values a decoded [n] tensor of {"head", "tail-value"...} holds after the edits below: the
 * tail everywhere but at 0 ("head") and at the indices of `edits` (their strings). */
static const char *tail_value(int64_t i, const int64_t *at, const char *const *s, int nedits) {
  for (int k = nedits - 1; k >= 0; k--)
    if (at[k] == i)
      return s[k];
  return i == 0 ? "head" : "tail-value";
}

START_TEST(string_tail_shared) {
  deft_status *st = deft_status_new();
  enum { N = 100000 };
  int64_t dims[] = {N};
  wbuf t = tensor_bytes(7, dims, 1), head = {0}, tail = {0};
  wb_bytes(&head, "head", 4);
  wb_bytes(&tail, "tail-value", 10);
  wb_sub(&t, 8, &head);
  wb_sub(&t, 8, &tail);
  /* decoding: a bounded number of allocations, not one per element (was N + a few) */
  deft_alloc_hooks h = {-1, false, 0, 0};
  deft_alloc_hooks *old = deft_alloc_hooks_set(&h);
  deft_tensor *v = deft_tensor_parse_proto(t.p, t.n, st);
  deft_alloc_hooks_set(old);
  ck_assert_msg(v != NULL, "%s", deft_status_message(st));
  ck_assert_int_lt(h.count, 30);
  ck_assert_int_eq(deft_tensor_num_elements(v), N);
  for (int64_t i = 0; i < N; i++)
    expect_elem(v, i, i == 0 ? "head" : "tail-value");
  /* an out-of-memory while sharing the tail fails cleanly (every allocation, in turn) */
  Tensorflow__TensorProto *p =
      tensorflow__tensor_proto__unpack(deft_protobuf_allocator(), t.n, t.p);
  ck_assert_ptr_nonnull(p);
  for (int fail = 0; fail < 30; fail++) {
    deft_alloc_hooks fh = {fail, true, 0, 0};
    uint64_t budget = DEFT_TENSOR_PROTO_DEFAULT_BUDGET;
    old = deft_alloc_hooks_set(&fh);
    deft_tensor *f = deft_tensor_from_proto_limited(p, &budget, st);
    deft_alloc_hooks_set(old);
    if (f) {
      expect_elem(f, N - 1, "tail-value");
      deft_tensor_free(f);
      break;
    }
    ck_assert_int_eq(deft_status_code(st), DEFT_RESOURCE_EXHAUSTED);
    ck_assert_int_lt(fail, 29);
  }
  tensorflow__tensor_proto__free_unpacked(p, deft_protobuf_allocator());
  /* a copy shares its own copy of the tail: again no allocation per element */
  h = (deft_alloc_hooks){-1, false, 0, 0};
  old = deft_alloc_hooks_set(&h);
  deft_tensor *c = deft_tensor_copy(v, st);
  deft_alloc_hooks_set(old);
  ck_assert_msg(c != NULL, "%s", deft_status_message(st));
  ck_assert_int_lt(h.count, 10);
  /* writes into one element change no other, in the original or in the copy */
  static const int64_t at[] = {5, 11, 7, 9, 5};
  static const char *const vs[] = {"changed", "last", "", "x", "again"};
  ck_assert(deft_tensor_set_string(v, 5, "changed", 7, st));
  ck_assert(deft_tensor_set_string(v, 11, "last", 4, st));
  ck_assert(deft_tensor_set_string(v, 7, "", 0, st));
  ck_assert(deft_array_copy_elems(v, 9, v, 0, 1)); /* a kernel's element copy: "head" */
  ck_assert(deft_tensor_set_string(v, 9, "x", 1, st));
  ck_assert(deft_tensor_set_string(v, 5, "again", 5, st));
  for (int64_t i = 0; i < N; i++)
    expect_elem(v, i, tail_value(i, at, vs, 5));
  for (int64_t i = 0; i < N; i++)
    expect_elem(c, i, i == 0 ? "head" : "tail-value");
  ck_assert(deft_tensor_set_string(c, 3, "c3", 2, st));
  expect_elem(c, 2, "tail-value");
  expect_elem(c, 4, "tail-value");
  expect_elem(v, 3, "tail-value");
  /* encoding writes the tail once and reads back the same values */
  uint8_t *out = NULL;
  size_t len = 0;
  ck_assert_msg(deft_tensor_serialize_proto(v, &out, &len, st), "%s", deft_status_message(st));
  ck_assert_uint_lt(len, 200);
  deft_tensor *back = deft_tensor_parse_proto(out, len, st);
  ck_assert_msg(back != NULL, "%s", deft_status_message(st));
  for (int64_t i = 0; i < N; i++)
    expect_elem(back, i, tail_value(i, at, vs, 5));
  deft_tensor_free(back);
  deft_free(out);
  /* a checkpoint saves and restores every element */
  char prefix[1024];
  snprintf(prefix, sizeof prefix, "%s/strtail", tu_tmpdir());
  deft_bundle_writer *w = deft_bundle_writer_new(prefix, st);
  ck_assert_msg(w != NULL, "%s", deft_status_message(st));
  ck_assert(deft_bundle_writer_add(w, "c", c, st));
  ck_assert(deft_bundle_writer_add(w, "v", v, st));
  ck_assert_msg(deft_bundle_writer_finish(w, st), "%s", deft_status_message(st));
  deft_bundle_writer_free(w);
  deft_bundle_reader *r = deft_bundle_reader_open(prefix, st);
  ck_assert_msg(r != NULL, "%s", deft_status_message(st));
  deft_tensor *rv = deft_bundle_reader_read(r, "v", st), *rc = deft_bundle_reader_read(r, "c", st);
  ck_assert_msg(rv && rc, "%s", deft_status_message(st));
  for (int64_t i = 0; i < N; i++)
    expect_elem(rv, i, tail_value(i, at, vs, 5));
  for (int64_t i = 0; i < N; i++)
    expect_elem(rc, i, i == 0 ? "head" : i == 3 ? "c3" : "tail-value");
  deft_tensor_free(rv);
  deft_tensor_free(rc);
  deft_bundle_reader_free(r);
  /* kernels: Tile copies elements, StaticRegexFullMatch reads them, ZerosLike-style clearing */
  deft_tensor *g0 = deft_tensor_parse_proto(t.p, t.n, st);
  ck_assert_msg(g0 != NULL, "%s", deft_status_message(st));
  deft_graph *g = deft_graph_new();
  int32_t two = 2;
  deft_output tiled =
      deft_tile(g, deft_const(g, g0, "s"), deft_const_int32_vector(g, &two, 1, "m"), "tile");
  deft_op_builder *b = deft_op_builder_new(g, "StaticRegexFullMatch", "match");
  deft_op_builder_add_input(b, tiled);
  deft_op_builder_set_attr_string(b, "pattern", "tail.*", 6);
  deft_output match = deft_op_output(deft_op_builder_finish(b), 0);
  ck_assert_msg(deft_graph_ok(g), "%s", deft_status_message(deft_graph_status(g)));
  deft_session *s = deft_session_new(g, st);
  deft_output fetch[] = {tiled, match};
  deft_tensor *res[2] = {NULL, NULL};
  ck_assert_msg(deft_session_run(s, NULL, NULL, 0, fetch, res, 2, NULL, 0, st), "%s",
                deft_status_message(st));
  const bool *m = deft_tensor_data(res[1]);
  for (int64_t i = 0; i < 2 * N; i++) {
    expect_elem(res[0], i, i % N == 0 ? "head" : "tail-value");
    ck_assert(m[i] == (i % N != 0));
  }
  deft_tensor_free(res[0]);
  deft_tensor_free(res[1]);
  deft_session_free(s);
  deft_graph_free(g);
  deft_array_zero(g0);
  for (int64_t i = 0; i < N; i++)
    expect_elem(g0, i, "");
  deft_tensor_free(g0);
  deft_tensor_free(c);
  deft_tensor_free(v);
  free(t.p);
  free(head.p);
  free(tail.p);
  deft_status_free(st);
}
END_TEST

/* A string tensor's repeated tail is encoded once (the fuzz_tensor_proto timeout: 32 bytes
 * decoded to millions of empty strings, and re-encoding wrote one string_val each). The work is
 * checked by allocation count and size, and the round trip by value. */
START_TEST(string_tail_encoded_once) {
  deft_status *st = deft_status_new();
  int64_t dims[] = {126, 127, 100};
  wbuf t = tensor_bytes(7, dims, 3), empty = {0};
  wb_sub(&t, 8, &empty);
  ck_assert_uint_lt(t.n, 40);
  deft_alloc_hooks dh = {-1, false, 0, 0}; /* decoding: no pass per empty element either */
  deft_alloc_hooks *dold = deft_alloc_hooks_set(&dh);
  deft_tensor *v = deft_tensor_parse_proto(t.p, t.n, st);
  deft_alloc_hooks_set(dold);
  ck_assert_msg(v != NULL, "%s", deft_status_message(st));
  ck_assert_int_lt(dh.count, 30);
  ck_assert_int_eq(deft_tensor_num_elements(v), 126 * 127 * 100);
  deft_alloc_hooks h = {-1, false, 0, 0};
  deft_alloc_hooks *old = deft_alloc_hooks_set(&h);
  uint8_t *out = NULL;
  size_t len = 0;
  bool ok = deft_tensor_serialize_proto(v, &out, &len, st);
  deft_alloc_hooks_set(old);
  ck_assert_msg(ok, "%s", deft_status_message(st));
  ck_assert_uint_lt(len, 40);
  ck_assert_int_lt(h.count, 20);
  ck_assert_uint_lt(h.bytes, 16384);
  deft_tensor *back = deft_tensor_parse_proto(out, len, st);
  ck_assert_msg(back != NULL, "%s", deft_status_message(st));
  ck_assert_int_eq(deft_tensor_num_elements(back), 126 * 127 * 100);
  size_t l;
  deft_tensor_string(back, 126 * 127 * 100 - 1, &l);
  ck_assert_uint_eq(l, 0);
  deft_tensor_free(back);
  deft_free(out);
  deft_tensor_free(v);
  free(t.p);
  /* mixed tails: the values before the tail are kept, the tail's value once */
  static const struct {
    int n;
    const char *s[5];
    size_t written;
  } cases[] = {{5, {"a", "b", "c", "c", "c"}, 3},
               {2, {"x", "x"}, 1},
               {3, {"a", "", ""}, 2},
               {3, {"", "a", ""}, 3},
               {4, {"ab", "a", "b", "ab"}, 4},
               {1, {"q"}, 1}};
  for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
    int64_t n = cases[k].n;
    deft_tensor *x = deft_tensor_new(DEFT_STRING, &n, 1, st);
    for (int i = 0; i < cases[k].n; i++)
      ck_assert(deft_tensor_set_string(x, i, cases[k].s[i], strlen(cases[k].s[i]), st));
    ck_assert(deft_tensor_serialize_proto(x, &out, &len, st));
    Tensorflow__TensorProto *p = tensorflow__tensor_proto__unpack(NULL, len, out);
    ck_assert_ptr_nonnull(p);
    ck_assert_uint_eq(p->n_string_val, cases[k].written);
    tensorflow__tensor_proto__free_unpacked(p, NULL);
    back = deft_tensor_parse_proto(out, len, st);
    ck_assert_msg(back != NULL, "%s", deft_status_message(st));
    ck_assert_int_eq(deft_tensor_num_elements(back), n);
    for (int i = 0; i < cases[k].n; i++) {
      const char *e = deft_tensor_string(back, i, &l);
      ck_assert_uint_eq(l, strlen(cases[k].s[i]));
      ck_assert(memcmp(e, cases[k].s[i], l) == 0);
    }
    deft_tensor_free(back);
    deft_tensor_free(x);
    deft_free(out);
  }
  deft_status_free(st);
}
END_TEST

/* Repeated values are filled in bulk and correctly: the given values, then the last repeated. */
START_TEST(repeated_fill) {
  deft_status *st = deft_status_new();
  int64_t dims[] = {3, 1001};
  for (int dt = 0; dt < 4; dt++) {
    static const int dtypes[] = {1, 9, 4, 10}; /* float, int64, uint8, bool */
    wbuf t = tensor_bytes(dtypes[dt], dims, 2), vals = {0};
    int field = dt == 0 ? 5 : dt == 1 ? 10 : dt == 2 ? 7 : 11;
    if (dt == 0) {
      float f[3] = {1.5f, -2.0f, 7.25f};
      wb_bytes(&vals, f, sizeof f);
    } else {
      for (int i = 0; i < 3; i++)
        wb_varint(&vals, dt == 3 ? (uint64_t)(i != 1) : (uint64_t)(i + 5));
    }
    wb_sub(&t, field, &vals);
    deft_tensor *v = deft_tensor_parse_proto(t.p, t.n, st);
    ck_assert_msg(v != NULL, "%s", deft_status_message(st));
    ck_assert_int_eq(deft_tensor_num_elements(v), 3003);
    for (int64_t i = 0; i < 3003; i++) {
      int64_t k = i < 3 ? i : 2;
      double want = dt == 0 ? (double)((float[]){1.5f, -2.0f, 7.25f})[k]
                  : dt == 3 ? (double)(k != 1) : (double)(k + 5);
      ck_assert_double_eq(deft_tensor_get_double(v, i), want);
    }
    deft_tensor_free(v);
    free(t.p);
    free(vals.p);
  }
  /* a zero repeated tail (a tf.zeros-like constant) comes from zeroed memory: the given values,
   * then zeros; -0.0 is not all zero bytes and is repeated as itself */
  static const float lasts[] = {0.0f, -0.0f};
  for (int k = 0; k < 2; k++) {
    wbuf t = tensor_bytes(1, dims, 2), vals = {0};
    float f[2] = {7.5f, lasts[k]};
    wb_bytes(&vals, f, sizeof f);
    wb_sub(&t, 5, &vals);
    deft_tensor *v = deft_tensor_parse_proto(t.p, t.n, st);
    ck_assert_msg(v != NULL, "%s", deft_status_message(st));
    const float *d = deft_tensor_data(v);
    ck_assert_float_eq(d[0], 7.5f);
    for (int64_t i = 1; i < 3003; i++) {
      ck_assert_float_eq(d[i], 0.0f);
      ck_assert_int_eq(signbit(d[i]) != 0, k == 1);
    }
    deft_tensor_free(v);
    free(t.p);
    free(vals.p);
  }
  deft_status_free(st);
}
END_TEST

/* Writes a GraphDef with `n` Consts of shape [count] float, one value 0.5 each. */
static void write_consts(const char *path, int n, int64_t count) {
  wbuf gd = {0};
  for (int i = 0; i < n; i++) {
    wbuf t = tensor_bytes(1, &count, 1), vals = {0}, av = {0}, e1 = {0}, e2 = {0}, tv = {0},
         node = {0};
    float h = 0.5f;
    wb_bytes(&vals, &h, 4);
    wb_sub(&t, 5, &vals);
    wb_sub(&av, 8, &t);
    wb_varint(&e1, 1 << 3 | 2);
    wb_varint(&e1, 5);
    wb_bytes(&e1, "value", 5);
    wb_sub(&e1, 2, &av);
    wb_varint(&tv, 6 << 3); /* AttrValue.type */
    wb_varint(&tv, 1);
    wb_varint(&e2, 1 << 3 | 2);
    wb_varint(&e2, 5);
    wb_bytes(&e2, "dtype", 5);
    wb_sub(&e2, 2, &tv);
    char name[16];
    snprintf(name, sizeof name, "c%d", i);
    wb_varint(&node, 1 << 3 | 2);
    wb_varint(&node, strlen(name));
    wb_bytes(&node, name, strlen(name));
    wb_varint(&node, 2 << 3 | 2);
    wb_varint(&node, 5);
    wb_bytes(&node, "Const", 5);
    wb_sub(&node, 5, &e1);
    wb_sub(&node, 5, &e2);
    wb_sub(&gd, 1, &node);
    free(t.p), free(vals.p), free(av.p), free(e1.p), free(e2.p), free(tv.p), free(node.p);
  }
  FILE *f = fopen(path, "wb");
  ck_assert_ptr_nonnull(f);
  ck_assert_uint_eq(fwrite(gd.p, 1, gd.n, f), gd.n);
  fclose(f);
  free(gd.p);
}

START_TEST(import_constant_budget) {
  deft_status *st = deft_status_new();
  char path[512];
  snprintf(path, sizeof path, "%s/consts.pb", tu_tmpdir());
  write_consts(path, 3, 1000); /* 3 x 4000 bytes */
  deft_import_options *o = deft_import_options_new();
  deft_import_options_set_max_constant_bytes(o, 11999);
  ck_assert_ptr_null(deft_import_graph_def(path, o, st));
  TU_ASSERT_STATUS(st, DEFT_RESOURCE_EXHAUSTED, "'c2'", "4000 bytes", "3999 bytes left");
  deft_import_options_set_max_constant_bytes(o, 12000);
  deft_graph *g = deft_import_graph_def(path, o, st);
  ck_assert_msg(g != NULL, "%s", deft_status_message(st));
  deft_graph_free(g);
  /* the default (1 GiB) takes a tf.zeros-like Const of 64 MiB and refuses one of 1 GiB + 4
   * bytes before allocating it */
  write_consts(path, 1, (int64_t)1 << 24);
  g = deft_import_graph_def(path, NULL, st);
  ck_assert_msg(g != NULL, "%s", deft_status_message(st));
  deft_session *s = deft_session_new(g, st);
  deft_output c = deft_op_output(deft_graph_op_by_name(g, "c0"), 0);
  deft_tensor *out = NULL;
  ck_assert(deft_session_run(s, NULL, NULL, 0, &c, &out, 1, NULL, 0, st));
  const float *d = deft_tensor_data(out);
  ck_assert_float_eq(d[0], 0.5f);
  ck_assert_float_eq(d[((int64_t)1 << 24) - 1], 0.5f);
  deft_tensor_free(out);
  deft_session_free(s);
  deft_graph_free(g);
  write_consts(path, 1, ((int64_t)1 << 28) + 1);
  ck_assert_ptr_null(deft_import_graph_def(path, NULL, st));
  TU_ASSERT_STATUS(st, DEFT_RESOURCE_EXHAUSTED, "'c0'", "1073741828 bytes", "budget");
  /* the budget is shared by all the import's Consts: 64 x 4000 bytes with room for 50 */
  write_consts(path, 64, 1000);
  deft_import_options_set_max_constant_bytes(o, 50 * 4000);
  ck_assert_ptr_null(deft_import_graph_def(path, o, st));
  TU_ASSERT_STATUS(st, DEFT_RESOURCE_EXHAUSTED, "'c50'", "0 bytes left");
  deft_import_options_free(o);
  deft_status_free(st);
}
END_TEST

START_TEST(zero_dim_overflow) {
  deft_status *st = deft_status_new();
  int64_t e62 = (int64_t)1 << 62;
  int64_t a[] = {0, e62, e62}, b[] = {e62, e62, 0}, c[] = {0, 5, 7};
  ck_assert_ptr_null(deft_tensor_new(DEFT_FLOAT, a, 3, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "overflows");
  ck_assert_ptr_null(deft_tensor_new(DEFT_FLOAT, b, 3, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "overflows");
  deft_tensor *t = deft_tensor_new(DEFT_FLOAT, c, 3, st);
  ck_assert_ptr_nonnull(t);
  ck_assert_int_eq(deft_tensor_num_elements(t), 0);
  deft_tensor_free(t);
  /* TensorProto decoding refuses the hidden overflow too */
  wbuf tb = tensor_bytes(1, a, 3);
  ck_assert_ptr_null(deft_tensor_parse_proto(tb.p, tb.n, st));
  ck_assert_int_eq(deft_status_code(st), DEFT_RESOURCE_EXHAUSTED);
  free(tb.p);
  /* shape functions: Tile and ConcatV2 of placeholders with a zero dim and huge others */
  deft_graph *g = deft_graph_new();
  int64_t pd[] = {0, e62};
  deft_output x = deft_placeholder(g, DEFT_FLOAT, deft_shape_make(2, pd), "x");
  int32_t mv[] = {1, 4};
  int64_t two = 2;
  deft_tensor *m = deft_tensor_from_data(DEFT_INT32, &two, 1, mv, sizeof mv, st);
  deft_output tile = deft_tile(g, x, deft_const(g, m, "m"), "tile");
  ck_assert_ptr_null(tile.op);
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "tile", "overflows int64");
  deft_tensor_free(m);
  deft_graph_free(g);
  g = deft_graph_new();
  x = deft_placeholder(g, DEFT_FLOAT, deft_shape_make(2, pd), "x");
  deft_output xs[] = {x, x};
  deft_output cat = deft_concat(g, xs, 2, deft_const_int32(g, 1, "ax"), "cat");
  ck_assert_ptr_null(cat.op);
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "cat", "overflow");
  deft_graph_free(g);
  deft_status_free(st);
}
END_TEST

/* Gradients of a long Square chain: the pool is O(1) per op (bug: quadratic memmove). Checks
 * the values (x = 1: y = 1, dy/dx = 2^n = inf in float) on a chain built here. */
START_TEST(long_chain_pool) {
  deft_status *st = deft_status_new();
  deft_graph *g = deft_graph_new();
  deft_output x = deft_placeholder(g, DEFT_FLOAT, deft_shape_make(0, NULL), "x");
  deft_output y = x;
  int n = 20000;
  for (int i = 0; i < n; i++) {
    char name[32];
    snprintf(name, sizeof name, "s%d", i);
    y = deft_square(g, y, name);
  }
  deft_output dx;
  ck_assert(deft_gradients(g, &y, 1, &x, 1, NULL, &dx));
  deft_session *s = deft_session_new(g, st);
  float xs[] = {1.0f, 0.5f};
  for (int k = 0; k < 2; k++) {
    deft_tensor *xv = deft_tensor_scalar_float(xs[k]);
    deft_output fetch[] = {y, dx};
    deft_tensor *out[2] = {NULL, NULL};
    ck_assert_msg(
        deft_session_run(s, &x, (const deft_tensor *const[]){xv}, 1, fetch, out, 2, NULL, 0, st),
        "%s", deft_status_message(st));
    float yv = *(const float *)deft_tensor_data(out[0]);
    float gv = *(const float *)deft_tensor_data(out[1]);
    if (k == 0) {
      ck_assert_float_eq(yv, 1.0f);
      ck_assert(isinf(gv) && gv > 0);
    } else { /* y underflows to 0, and so does the gradient (2^n y_(n-1) ...) */
      ck_assert_float_eq(yv, 0.0f);
      ck_assert_float_eq(gv, 0.0f);
    }
    deft_tensor_free(out[0]);
    deft_tensor_free(out[1]);
    deft_tensor_free(xv);
  }
  deft_session_free(s);
  deft_graph_free(g);
  deft_status_free(st);
}
END_TEST

/* Many ops asking for one name get "n", "n_1", "n_2", ... in linear time: the use count of "n"
 * advances with each (each op's name used to test every suffix taken before it: the gradient
 * accumulations of a 25k-op chain, all "gradients/AddN", took 1.7 s). The bound is CPU time,
 * 20x what the linear walk takes under ASan, a tenth of what the quadratic one took. */
START_TEST(repeated_names_linear) {
  deft_graph *g = deft_graph_new();
  deft_output x = deft_placeholder(g, DEFT_FLOAT, deft_shape_make(0, NULL), "n");
  int n = 40000;
  clock_t c0 = clock();
  for (int i = 1; i <= n; i++) {
    x = deft_identity(g, x, i == 7 ? "n_9" : "n"); /* a name taken out of turn is skipped */
  }
  double cpu = (double)(clock() - c0) / CLOCKS_PER_SEC;
  ck_assert_msg(deft_graph_ok(g), "%s", deft_status_message(deft_graph_status(g)));
  ck_assert_str_eq(deft_op_name(deft_graph_op_at(g, 1)), "n_1");
  ck_assert_str_eq(deft_op_name(deft_graph_op_at(g, 6)), "n_6");
  ck_assert_str_eq(deft_op_name(deft_graph_op_at(g, 7)), "n_9");
  ck_assert_str_eq(deft_op_name(deft_graph_op_at(g, 8)), "n_7");
  ck_assert_str_eq(deft_op_name(deft_graph_op_at(g, 9)), "n_8");
  ck_assert_str_eq(deft_op_name(deft_graph_op_at(g, 10)), "n_10");
  ck_assert_str_eq(deft_op_name(deft_graph_op_at(g, n)), "n_40000");
  ck_assert_str_eq(deft_graph_unique_name(g, "N", false), "N_40001");
  ck_assert_msg(cpu < 4.0, "%d ops named 'n' took %.2f s", n, cpu);
  deft_graph_free(g);
}
END_TEST

/* The work of gradients and a first run (planning included) of an n-op Square chain, by the
 * allocation hook's count and bytes (load-independent, unlike time). */
static void chain_work(int n, long *count, unsigned long long *bytes) {
  deft_status *st = deft_status_new();
  deft_graph *g = deft_graph_new();
  deft_output x = deft_placeholder(g, DEFT_FLOAT, deft_shape_make(0, NULL), "x"), y = x;
  for (int i = 0; i < n; i++) {
    char name[32];
    snprintf(name, sizeof name, "s%d", i);
    y = deft_square(g, y, name);
  }
  deft_session *s = deft_session_new(g, st);
  deft_tensor *xv = deft_tensor_scalar_float(1.0f), *out = NULL;
  deft_alloc_hooks h = {-1, false, 0, 0};
  deft_alloc_hooks *old = deft_alloc_hooks_set(&h);
  deft_output dx;
  ck_assert(deft_gradients(g, &y, 1, &x, 1, NULL, &dx));
  ck_assert_msg(
      deft_session_run(s, &x, (const deft_tensor *const[]){xv}, 1, &dx, &out, 1, NULL, 0, st), "%s",
      deft_status_message(st));
  deft_alloc_hooks_set(old);
  ck_assert(isinf(*(const float *)deft_tensor_data(out)));
  *count = h.count;
  *bytes = h.bytes;
  deft_tensor_free(out);
  deft_tensor_free(xv);
  deft_session_free(s);
  deft_graph_free(g);
  deft_status_free(st);
}

/* Gradients and a run of a long chain cost a bounded, linear amount per op (the 25k chain of
 * ../shared/hostile took 1.6 s; each Square's gradient adds 3 ops, each op a plan step). */
START_TEST(long_chain_bounded_work) {
  long c1, c2;
  unsigned long long b1, b2;
  chain_work(2000, &c1, &b1);
  chain_work(8000, &c2, &b2);
  fprintf(stderr, "chain: 2000 ops %ld allocations %llu bytes; 8000 ops %ld, %llu\n", c1, b1, c2,
          b2);
  ck_assert_int_le(c2, c1 * 41 / 10); /* linear */
  ck_assert_uint_le(b2, b1 * 41 / 10);
  /* per chain op (4 ops built and planned): 12 allocations and 4.8 KB (builders reused, name
   * keys in the graph's arena), were 19 and 5.8 KB, and 34 and 6.9 KB before that */
  ck_assert_int_le(c2 / 8000, 14);
  ck_assert_uint_le(b2 / 8000, 5400);
}
END_TEST

/* ---- the files of ../shared/hostile ---- */

static deft_graph *import_any(const char *path, deft_status *st) {
  return deft_import_graph_def(path, NULL, st);
}

START_TEST(shared_hostile_files) {
  TU_REQUIRE_SHARED(dir, "hostile");
  deft_status *st = deft_status_new();
  char path[1024];
  static const struct {
    const char *file;
    deft_code code;
    const char *word;
  } imports[] = {
      {"const_variant_nested_5000.pb", DEFT_INVALID_ARGUMENT, "100 deep"},
      {"nested_attr_5000.pb", DEFT_INVALID_ARGUMENT, "100 deep"},
      {"const_string_64gib.pb", DEFT_RESOURCE_EXHAUSTED, "limit"},
      {"const_2gib.pb", DEFT_RESOURCE_EXHAUSTED, "budget"},
      {"const_64x2gib.pb", DEFT_RESOURCE_EXHAUSTED, "budget"},
      {"text-ubsan-tile_shape.pbtxt", DEFT_RESOURCE_EXHAUSTED, "'x'"},
      {"text-ubsan-concat_shape.pbtxt", DEFT_RESOURCE_EXHAUSTED, "'x'"},
      {"text-ubsan-pack_prod_dims.pbtxt", DEFT_RESOURCE_EXHAUSTED, "'x'"},
  };
  for (size_t i = 0; i < sizeof imports / sizeof *imports; i++) {
    snprintf(path, sizeof path, "%s/%s", dir, imports[i].file);
    deft_graph *g = import_any(path, st);
    ck_assert_msg(g == NULL, "%s imported", imports[i].file);
    TU_ASSERT_STATUS(st, imports[i].code, imports[i].word, imports[i].file);
  }
  static const char *protos[] = {"tensor_proto-string-amplification-13bytes",
                                 "tensor_proto-timeout-bool-402M-elements.fuzzer"};
  for (int i = 0; i < 2; i++) {
    snprintf(path, sizeof path, "%s/%s", dir, protos[i]);
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    uint8_t buf[256];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    deft_tensor *t = deft_tensor_parse_proto(buf, n, st);
    if (i == 0) {
      ck_assert_ptr_null(t);
      TU_ASSERT_STATUS(st, DEFT_RESOURCE_EXHAUSTED, "budget");
    } else { /* 402M bools fit the 1 GiB budget: bool_val [true, false], false repeated */
      ck_assert_msg(t != NULL, "%s", deft_status_message(st));
      const bool *b = deft_tensor_data(t);
      int64_t ne = deft_tensor_num_elements(t);
      ck_assert_int_gt(ne, 400000000);
      ck_assert(b[0]);
      ck_assert(memchr(b + 1, 1, (size_t)ne - 1) == NULL);
      deft_tensor_free(t);
    }
  }
  static const char *idx[] = {"idx-ubsan-row_elements", "idx-ubsan-row_elements-handmade.idx"};
  for (int i = 0; i < 2; i++) {
    snprintf(path, sizeof path, "%s/%s", dir, idx[i]);
    deft_tensor *t = deft_idx_read(path, st);
    ck_assert_msg(t == NULL, "%s read", idx[i]);
    ck_assert(!deft_status_ok(st));
  }
  /* the 25k chain: import, gradients, one run */
  snprintf(path, sizeof path, "%s/hang-quadratic-buffer-pool-chain_square_25k.pb", dir);
  deft_graph *g = import_any(path, st);
  ck_assert_msg(g != NULL, "%s", deft_status_message(st));
  deft_output x = deft_op_output(deft_graph_op_by_name(g, "n0"), 0);
  deft_output y = deft_op_output(deft_graph_op_at(g, deft_graph_num_ops(g) - 1), 0);
  deft_output dx;
  ck_assert(deft_gradients(g, &y, 1, &x, 1, NULL, &dx));
  deft_session *s = deft_session_new(g, st);
  deft_tensor *out = NULL;
  ck_assert_msg(deft_session_run(s, NULL, NULL, 0, &dx, &out, 1, NULL, 0, st), "%s",
                deft_status_message(st));
  ck_assert(isinf(*(const float *)deft_tensor_data(out)));
  deft_tensor_free(out);
  deft_session_free(s);
  deft_graph_free(g);
  /* the checkpoint index over a sparse data file: a crc32c mismatch, before any allocation
   * per claimed element */
  snprintf(path, sizeof path, "%s/ck", tu_tmpdir());
  char cmd[4096];
  snprintf(cmd, sizeof cmd, "cp %s/ckpt-string-amplification/t.index %s.index && "
           "truncate -s 268435460 %s.data-00000-of-00001", dir, path, path);
  ck_assert_int_eq(system(cmd), 0);
  deft_checkpoint_reader *r = deft_checkpoint_reader_open(path, st);
  ck_assert_msg(r != NULL, "%s", deft_status_message(st));
  ck_assert_int_ge(deft_checkpoint_reader_num_tensors(r), 1);
  deft_tensor *t = deft_checkpoint_reader_read(r, deft_checkpoint_reader_name(r, 0), st);
  ck_assert_ptr_null(t);
  TU_ASSERT_STATUS(st, DEFT_DATA_LOSS, "crc32c mismatch");
  deft_checkpoint_reader_free(r);
  snprintf(cmd, sizeof cmd, "rm -f %s.index %s.data-00000-of-00001", path, path);
  ck_assert_int_eq(system(cmd), 0);
  deft_status_free(st);
}
END_TEST

static Suite *make(void) {
  Suite *s = suite_create("hostile");
  TCase *c = tcase_create("core");
  tcase_add_test(c, nesting_depth);
  tcase_add_test(c, string_amplification);
  tcase_add_test(c, string_tail_encoded_once);
  tcase_add_test(c, string_tail_shared);
  tcase_add_test(c, repeated_fill);
  tcase_add_test(c, import_constant_budget);
  tcase_add_test(c, zero_dim_overflow);
  tcase_add_test(c, long_chain_pool);
  tcase_add_test(c, repeated_names_linear);
  tcase_add_test(c, long_chain_bounded_work);
  tcase_add_test(c, shared_hostile_files);
  suite_add_tcase(s, c);
  return s;
}

int main(void) { return tu_run_suite(make()); }
