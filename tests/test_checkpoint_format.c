/* SPDX-License-Identifier: Apache-2.0 */
/* tests/test_checkpoint_format.c - the V2 checkpoint format: CRC32C, tables (.index), bundle
 * byte layouts, round trips of every dtype, and real TF checkpoints. Independent references:
 * the byte dumps and facts of ../shared/spec/TF_FORMATS.md section 4, real TF checkpoints in
 * ../shared/tf1 (their CRCs, README facts, byte-for-byte rewrites), and a separate reader
 * written in Python (no deft code) for tensor values. */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint_testutil.h"
#include "proto/bundle.h"
#include "base/crc32c.h"
#include "proto/sstable.h"
#include "base/tensor_internal.h"
#include "tensor_bundle.pb-c.h"
#include "testutil.h"

#define SERVING "tf1/tensorflow__serving/tensorflow_serving/servables/tensorflow/testdata/"
#define HALF_PLUS_TWO SERVING "saved_model_half_plus_two_cpu/00000123/variables/variables"
#define HALF_PLUS_THREE SERVING "saved_model_half_plus_three/00000123/variables/variables"
#define KKEISHIRO "tf1/KKeishiro__hands-on-machine-learning/186368e3/my_model_final.ckpt"
#define HAERFEST "tf1/haerfest__handson-ml/my_model_final.ckpt"
#define TAOBAI "tf1/tao-bai__Hands-on-Machine-Learning/my_model_final.ckpt"

/* ---- helpers ---- */

/* Parses "00 1a ff ..." into out; returns the byte count. */
static size_t unhex(const char *hex, unsigned char *out) {
  size_t n = 0;
  for (const char *p = hex; *p;) {
    if (*p == ' ' || *p == '\n') {
      p++;
      continue;
    }
    unsigned v;
    ck_assert_int_eq(sscanf(p, "%2x", &v), 1);
    out[n++] = (unsigned char)v;
    p += 2;
  }
  return n;
}

/* The worked example of TF_FORMATS 4.5: tensor "v", float [2] = {1, 2}. */
static const char EXAMPLE_DATA_HEX[] = "00 00 80 3f 00 00 00 40";
static const char EXAMPLE_INDEX_HEX[] =
    "00 00 06 08 01 1a 02 08 01 00 01 0f 76 08 01 12"
    "04 12 02 08 02 28 08 35 59 3c e5 35 00 00 00 00"
    "01 00 00 00 00 30 55 93 58 00 00 00 00 01 00 00"
    "00 00 c0 f2 a1 b0 00 01 02 77 00 24 00 00 00 00"
    "01 00 00 00 00 94 60 b2 cd 29 08 36 0e 00 00 00"
    "00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00"
    "00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00"
    "00 57 fb 80 8b 24 75 47 db";

/* ---- CRC32C ---- */

START_TEST(crc32c_values) {
  ck_assert_uint_eq(deft_crc32c("123456789", 9), 0xE3069283u);
  ck_assert_uint_eq(deft_crc32c("", 0), 0);
  /* extend over pieces == one pass */
  const char *msg = "The quick brown fox jumps over the lazy dog";
  size_t n = strlen(msg);
  for (size_t cut = 0; cut <= n; cut++)
    ck_assert_uint_eq(deft_crc32c_extend(deft_crc32c(msg, cut), msg + cut, n - cut),
                      deft_crc32c(msg, n));
  /* mask is not the identity, and unmask inverts it */
  const uint32_t vals[] = {0, 1, 0xE3069283u, 0xFFFFFFFFu, 0x80000000u, 0x12345678u};
  for (size_t i = 0; i < sizeof vals / sizeof *vals; i++) {
    ck_assert_uint_ne(deft_crc32c_mask(vals[i]), vals[i]);
    ck_assert_uint_eq(deft_crc32c_unmask(deft_crc32c_mask(vals[i])), vals[i]);
  }
  /* TF_FORMATS 4.3: the empty metaindex block's trailer is 00 c0 f2 a1 b0 */
  const unsigned char meta[9] = {0, 0, 0, 0, 1, 0, 0, 0, 0};
  ck_assert_uint_eq(deft_crc32c_mask(deft_crc32c(meta, 9)), 0xb0a1f2c0u);
}
END_TEST

/* ---- the worked example, byte for byte ---- */

START_TEST(worked_example_bytes) {
  const char *dir = cku_fresh_dir("example");
  char prefix[1100], path[1200];
  snprintf(prefix, sizeof prefix, "%s/P", dir);
  cku_save_example(prefix);
  unsigned char want[256];
  size_t len, wn;
  snprintf(path, sizeof path, "%s.data-00000-of-00001", prefix);
  unsigned char *got = cku_read_bytes(path, &len);
  ck_assert_ptr_nonnull(got);
  wn = unhex(EXAMPLE_DATA_HEX, want);
  ck_assert_int_eq(len, 8);
  ck_assert_mem_eq(got, want, wn);
  free(got);
  snprintf(path, sizeof path, "%s.index", prefix);
  got = cku_read_bytes(path, &len);
  ck_assert_ptr_nonnull(got);
  wn = unhex(EXAMPLE_INDEX_HEX, want);
  ck_assert_int_eq(wn, 121);
  ck_assert_int_eq(len, 121);
  ck_assert_mem_eq(got, want, 121);
  free(got);
  ck_assert_int_eq(cku_count_temp_files(dir), 0);

  /* and the reader decodes TF's bytes (written here from the spec, not by deft) */
  snprintf(prefix, sizeof prefix, "%s/Q", dir);
  snprintf(path, sizeof path, "%s.index", prefix);
  cku_write_bytes(path, want, wn);
  snprintf(path, sizeof path, "%s.data-00000-of-00001", prefix);
  cku_write_bytes(path, want, unhex(EXAMPLE_DATA_HEX, want));
  deft_status *s = deft_status_new();
  deft_bundle_reader *r = deft_bundle_reader_open(prefix, s);
  ck_assert_msg(r != NULL, "%s", deft_status_message(s));
  ck_assert_int_eq(deft_bundle_reader_num_entries(r), 1);
  ck_assert_str_eq(deft_bundle_reader_key(r, 0), "v");
  ck_assert_ptr_null(deft_bundle_reader_key(r, 1));
  deft_tensor *t = deft_bundle_reader_read(r, "v", s);
  ck_assert_ptr_nonnull(t);
  ck_assert_int_eq(deft_tensor_dtype(t), DEFT_FLOAT);
  ck_assert_int_eq(deft_tensor_rank(t), 1);
  ck_assert_int_eq(deft_tensor_dim(t, 0), 2);
  ck_assert(deft_tensor_f32(t)[0] == 1.0f && deft_tensor_f32(t)[1] == 2.0f);
  deft_tensor_free(t);
  deft_bundle_reader_free(r);
  deft_status_free(s);
}
END_TEST
static const char *const INDEPENDENT_READER_PY =
    "# Independent V2 checkpoint reader (TF_FORMATS.md 4), sharing no code with deft: parses the\n"
    "# .index table and the entries' protobuf wire format by hand, checks CRCs, and prints one\n"
    "# line per tensor:\n"
    "# key dtype dims offset size crc_ok packed sum min max\n"
    "import struct, sys\n"
    "prefix, out = sys.argv[1], sys.argv[2]\n"
    "T = []\n"
    "for b in range(256):\n"
    "    for _ in range(8): b = (b >> 1) ^ 0x82F63B78 if b & 1 else b >> 1\n"
    "    T.append(b)\n"
    "def crc32c(data, c=0xFFFFFFFF):\n"
    "    for x in data: c = T[(c ^ x) & 0xFF] ^ (c >> 8)\n"
    "    return c ^ 0xFFFFFFFF\n"
    "def unmask(m):\n"
    "    r = (m - 0xa282ead8) & 0xFFFFFFFF\n"
    "    return ((r >> 17) | (r << 15)) & 0xFFFFFFFF\n"
    "def varint(b, i):\n"
    "    v = s = 0\n"
    "    while b[i] & 0x80: v |= (b[i] & 0x7F) << s; s += 7; i += 1\n"
    "    return v | (b[i] << s), i + 1\n"
    "def block(f, off, size):\n"
    "    blk, typ = f[off:off + size], f[off + size]\n"
    "    stored = struct.unpack('<I', f[off + size + 1:off + size + 5])[0]\n"
    "    assert unmask(stored) == crc32c(blk + bytes([typ])), 'block crc'\n"
    "    assert typ == 0, 'compressed block'\n"
    "    return blk\n"
    "def entries(b):\n"
    "    n = struct.unpack('<I', b[-4:])[0]\n"
    "    limit, i, key, out = len(b) - 4 - 4 * n, 0, b'', []\n"
    "    while i < limit:\n"
    "        sh, i = varint(b, i); ns, i = varint(b, i); vl, i = varint(b, i)\n"
    "        key = key[:sh] + b[i:i + ns]; out.append((key, b[i + ns:i + ns + vl])); i += ns + vl\n"
    "    return out\n"
    "def fields(b):\n"
    "    d, i = {}, 0\n"
    "    while i < len(b):\n"
    "        tag, i = varint(b, i)\n"
    "        if tag & 7 == 0: v, i = varint(b, i)\n"
    "        elif tag & 7 == 2: n, i = varint(b, i); v = b[i:i + n]; i += n\n"
    "        elif tag & 7 == 5: v = struct.unpack('<I', b[i:i + 4])[0]; i += 4\n"
    "        else: raise ValueError('wire type')\n"
    "        d.setdefault(tag >> 3, []).append(v)\n"
    "    return d\n"
    "idx = open(prefix + '.index', 'rb').read()\n"
    "assert idx[-8:] == bytes.fromhex('57fb808b247547db'), 'magic'\n"
    "h, p = [], 0\n"
    "for _ in range(4): v, p = varint(idx[-48:], p); h.append(v)\n"
    "table = []\n"
    "for _, v in entries(block(idx, h[2], h[3])):\n"
    "    o, j = varint(v, 0); s, j = varint(v, j); table += entries(block(idx, o, s))\n"
    "assert table[0][0] == b'', 'header'\n"
    "data, end = open(prefix + '.data-00000-of-00001', 'rb').read(), 0\n"
    "with open(out, 'w') as w:\n"
    "    for key, val in table[1:]:\n"
    "        e = fields(val)\n"
    "        dims = [fields(d).get(1, [0])[0] for d in fields(e[2][0]).get(2, [])]\n"
    "        off, size, dt = e.get(4, [0])[0], e.get(5, [0])[0], e[1][0]\n"
    "        raw = data[off:off + size]\n"
    "        ok = int(len(raw) == size and unmask(e[6][0]) == crc32c(raw))\n"
    "        packed, end = int(off == end), off + size\n"
    "        vals = struct.unpack('<%d%s' % (size // 4, 'f'), raw) if dt == 1 else [0.0]\n"
    "        s = 0.0\n"
    "        for x in vals: s += x\n"
    "        shape = ','.join(map(str, dims)) or '-'\n"
    "        w.write('%s %d %s %d %d %d %d %r %r %r\\n' % (key.decode(), dt, shape, off,\n"
    "                size, ok, packed, s, min(vals), max(vals)))\n"
    "    w.write('END %d %d\\n' % (end, len(data)))\n";

/* ---- real TF checkpoints ---- */

static void assert_entry(const deft_bundle_reader *r, const char *key, deft_dtype dt,
                         deft_shape want) {
  deft_dtype got_dt;
  deft_shape got;
  ck_assert_msg(deft_bundle_reader_lookup(r, key, &got_dt, &got), "no key %s", key);
  ck_assert_int_eq(got_dt, dt);
  ck_assert_int_eq(got.rank, want.rank);
  for (int i = 0; i < want.rank; i++) ck_assert_int_eq(got.dims[i], want.dims[i]);
}

START_TEST(real_kkeishiro_facts) {
  TU_REQUIRE_SHARED(prefix, KKEISHIRO);
  deft_bundle_reader *r = cku_open_ok(prefix);
  /* README: tf.layers.dense 784-300-50-50-50-50-10 */
  static const char *const keys[] = {
      "hidden1/bias", "hidden1/kernel", "hidden2/bias", "hidden2/kernel",
      "hidden3/bias", "hidden3/kernel", "hidden4/bias", "hidden4/kernel",
      "hidden5/bias", "hidden5/kernel", "outputs/bias", "outputs/kernel"};
  ck_assert_int_eq(deft_bundle_reader_num_entries(r), 12);
  for (int i = 0; i < 12; i++) ck_assert_str_eq(deft_bundle_reader_key(r, i), keys[i]);
  const int64_t widths[] = {784, 300, 50, 50, 50, 50, 10};
  for (int l = 0; l < 6; l++) {
    char k[32], b[32];
    snprintf(k, sizeof k, l < 5 ? "hidden%d/kernel" : "outputs/kernel", l + 1);
    snprintf(b, sizeof b, l < 5 ? "hidden%d/bias" : "outputs/bias", l + 1);
    assert_entry(r, k, DEFT_FLOAT, DEFT_SHAPE(widths[l], widths[l + 1]));
    assert_entry(r, b, DEFT_FLOAT, DEFT_SHAPE(widths[l + 1]));
  }
  ck_assert(!deft_bundle_reader_lookup(r, "hidden6/kernel", NULL, NULL));
  ck_assert_int_eq(cku_read_all(r), 12);
  deft_bundle_reader_free(r);
}
END_TEST

START_TEST(real_haerfest_and_taobai_facts) {
  TU_REQUIRE_SHARED(p1, HAERFEST);
  deft_bundle_reader *r = cku_open_ok(p1);
  /* README: hand-built 784-300-100-10, variables dnn/hidden1/weights, dnn/hidden1/biases, ... */
  assert_entry(r, "dnn/hidden1/weights", DEFT_FLOAT, DEFT_SHAPE(784, 300));
  assert_entry(r, "dnn/hidden1/biases", DEFT_FLOAT, DEFT_SHAPE(300));
  ck_assert_int_eq(cku_read_all(r), 6);
  deft_bundle_reader_free(r);

  TU_REQUIRE_SHARED(p2, TAOBAI);
  r = cku_open_ok(p2);
  /* README: batch-norm net 784-300-100-10 with tf.layers.batch_normalization */
  assert_entry(r, "hidden1/kernel", DEFT_FLOAT, DEFT_SHAPE(784, 300));
  assert_entry(r, "hidden2/kernel", DEFT_FLOAT, DEFT_SHAPE(300, 100));
  assert_entry(r, "outputs/kernel", DEFT_FLOAT, DEFT_SHAPE(100, 10));
  assert_entry(r, "batch_normalization/moving_mean", DEFT_FLOAT, DEFT_SHAPE(300));
  assert_entry(r, "batch_normalization_1/moving_variance", DEFT_FLOAT, DEFT_SHAPE(100));
  assert_entry(r, "batch_normalization_2/gamma", DEFT_FLOAT, DEFT_SHAPE(10));
  ck_assert_int_gt(cku_read_all(r), 16); /* more than one restart interval of keys */
  deft_bundle_reader_free(r);
}
END_TEST

START_TEST(real_serving_half_plus) {
  TU_REQUIRE_SHARED(p2, HALF_PLUS_TWO); /* its .index has a Snappy-compressed block */
  deft_bundle_reader *r = cku_open_ok(p2);
  assert_entry(r, "a", DEFT_FLOAT, DEFT_SCALAR);
  assert_entry(r, "b", DEFT_FLOAT, DEFT_SCALAR);
  ck_assert(cku_read_scalar(r, "a") == 0.5);
  ck_assert(cku_read_scalar(r, "b") == 2.0);
  cku_read_all(r);
  deft_bundle_reader_free(r);
  TU_REQUIRE_SHARED(p3, HALF_PLUS_THREE);
  r = cku_open_ok(p3);
  ck_assert(cku_read_scalar(r, "a") == 0.5);
  ck_assert(cku_read_scalar(r, "b") == 3.0);
  cku_read_all(r);
  deft_bundle_reader_free(r);
}
END_TEST

/* Compares deft's view of a checkpoint with the independent Python reader's. */
static void compare_with_python(const char *prefix) {
  char out[1024];
  snprintf(out, sizeof out, "%s/py-ckpt-%d.txt", tu_tmpdir(), (int)getpid());
  const char *args[] = {prefix, out, NULL};
  ck_assert_int_eq(tu_python(INDEPENDENT_READER_PY, args), 0);
  FILE *f = fopen(out, "r");
  ck_assert_ptr_nonnull(f);
  deft_bundle_reader *r = cku_open_ok(prefix);
  deft_status *s = deft_status_new();
  char key[256], dims[128], sum_s[64], min_s[64], max_s[64];
  int dt, crc_ok, packed, lines = 0;
  long long off, size;
  while (fscanf(f, "%255s", key) == 1) {
    if (strcmp(key, "END") == 0) {
      long long end, flen;
      ck_assert_int_eq(fscanf(f, "%lld %lld", &end, &flen), 2);
      ck_assert_int_eq(end, flen); /* densely packed: the last tensor ends the file */
      break;
    }
    ck_assert_int_eq(fscanf(f, "%d %127s %lld %lld %d %d %63s %63s %63s", &dt, dims, &off, &size,
                            &crc_ok, &packed, sum_s, min_s, max_s), 9);
    ck_assert_msg(crc_ok && packed, "python: %s crc_ok=%d packed=%d", key, crc_ok, packed);
    ck_assert_str_eq(deft_bundle_reader_key(r, lines), key); /* same order */
    lines++;
    deft_tensor *t = deft_bundle_reader_read(r, key, s);
    ck_assert_msg(t != NULL, "%s", deft_status_message(s));
    ck_assert_int_eq(deft_tensor_dtype(t), dt);
    char shape[128] = "";
    for (int i = 0; i < deft_tensor_rank(t); i++)
      snprintf(shape + strlen(shape), sizeof shape - strlen(shape), "%s%" PRId64, i ? "," : "",
               deft_tensor_dim(t, i));
    ck_assert_str_eq(shape[0] ? shape : "-", dims);
    double sum = 0, mn = INFINITY, mx = -INFINITY;
    for (int64_t i = 0; i < deft_tensor_num_elements(t); i++) {
      double v = deft_tensor_get_double(t, i);
      sum += v;
      mn = v < mn ? v : mn;
      mx = v > mx ? v : mx;
    }
    ck_assert_msg(sum == strtod(sum_s, NULL), "%s: sum %.17g vs python %s", key, sum, sum_s);
    ck_assert_msg(mn == strtod(min_s, NULL) && mx == strtod(max_s, NULL), "%s: min/max", key);
    deft_tensor_free(t);
  }
  fclose(f);
  unlink(out);
  ck_assert_int_gt(lines, 0);
  ck_assert_int_eq(lines, deft_bundle_reader_num_entries(r));
  deft_bundle_reader_free(r);
  deft_status_free(s);
}

START_TEST(real_checkpoints_vs_python) {
  if (access("/usr/bin/python3", X_OK) != 0) return; /* no independent reference here */
  TU_REQUIRE_SHARED(p1, KKEISHIRO);
  compare_with_python(p1);
  TU_REQUIRE_SHARED(p2, HAERFEST);
  compare_with_python(p2);
  TU_REQUIRE_SHARED(p3, TAOBAI);
  compare_with_python(p3);
  TU_REQUIRE_SHARED(p4, HALF_PLUS_THREE);
  compare_with_python(p4);
}
END_TEST

/* Reads every tensor of a TF checkpoint, writes them with deft, and compares the files. */
static void rewrite_and_compare(const char *tf_prefix, bool compare_index) {
  char src[1024], out[1100], a[1200], b[1200];
  snprintf(src, sizeof src, "%s", tf_prefix);
  snprintf(out, sizeof out, "%s/rewrite", cku_fresh_dir("rewrite"));
  deft_bundle_reader *r = cku_open_ok(src);
  deft_status *s = deft_status_new();
  deft_bundle_writer *w = deft_bundle_writer_new(out, s);
  for (int i = deft_bundle_reader_num_entries(r) - 1; i >= 0; i--) { /* reverse order on purpose */
    deft_tensor *t = deft_bundle_reader_read(r, deft_bundle_reader_key(r, i), s);
    ck_assert_ptr_nonnull(t);
    ck_assert(deft_bundle_writer_add(w, deft_bundle_reader_key(r, i), t, s));
    deft_tensor_free(t);
  }
  ck_assert_msg(deft_bundle_writer_finish(w, s), "%s", deft_status_message(s));
  deft_bundle_writer_free(w);
  deft_bundle_reader_free(r);
  deft_status_free(s);
  for (int k = compare_index ? 0 : 1; k < 2; k++) {
    const char *suffix = k == 0 ? ".index" : ".data-00000-of-00001";
    snprintf(a, sizeof a, "%s%s", src, suffix);
    snprintf(b, sizeof b, "%s%s", out, suffix);
    size_t na, nb;
    unsigned char *da = cku_read_bytes(a, &na), *db = cku_read_bytes(b, &nb);
    ck_assert_ptr_nonnull(da);
    ck_assert_ptr_nonnull(db);
    ck_assert_msg(na == nb, "%s: %zu vs %zu bytes", a, na, nb);
    ck_assert_msg(memcmp(da, db, na) == 0, "%s differs from deft's rewrite", a);
    free(da);
    free(db);
  }
}

START_TEST(real_checkpoints_rewrite_identical) {
  TU_REQUIRE_SHARED(p1, KKEISHIRO);
  rewrite_and_compare(p1, true);
  TU_REQUIRE_SHARED(p2, HAERFEST);
  rewrite_and_compare(p2, true);
  TU_REQUIRE_SHARED(p3, TAOBAI); /* 19 entries: a restart point at entry 16 */
  rewrite_and_compare(p3, true);
  TU_REQUIRE_SHARED(p4, HALF_PLUS_THREE);
  rewrite_and_compare(p4, true);
  TU_REQUIRE_SHARED(p5, HALF_PLUS_TWO); /* TF compressed this index; deft never compresses */
  rewrite_and_compare(p5, false);
}
END_TEST

/* ---- round trips ---- */

static bool same_tensor(const deft_tensor *a, const deft_tensor *b) {
  if (deft_tensor_dtype(a) != deft_tensor_dtype(b) || deft_tensor_rank(a) != deft_tensor_rank(b))
    return false;
  for (int i = 0; i < deft_tensor_rank(a); i++)
    if (deft_tensor_dim(a, i) != deft_tensor_dim(b, i)) return false;
  if (deft_tensor_dtype(a) != DEFT_STRING)
    return memcmp(deft_tensor_data(a), deft_tensor_data(b), deft_tensor_nbytes(a)) == 0;
  for (int64_t i = 0; i < deft_tensor_num_elements(a); i++) {
    size_t la, lb;
    const char *sa = deft_tensor_string(a, i, &la), *sb = deft_tensor_string(b, i, &lb);
    if (la != lb || memcmp(sa, sb, la) != 0) return false;
  }
  return true;
}

enum { NRT = 11 };
static const char *const RT_KEYS[NRT] = {"f32", "f64", "i32", "i64", "u8", "bool", "str",
                                         "scalar", "sscalar", "empty", "estr"};

static void make_round_trip_tensors(deft_tensor **t) {
  deft_status *s = deft_status_new();
  t[0] = cku_float_tensor((const int64_t[]){2, 3}, 2,
                      (const float[]){1.5f, -2, 0, 1e-30f, 3e38f, -0.0f});
  t[1] = deft_tensor_from_data(DEFT_DOUBLE, (const int64_t[]){3}, 1,
                               (const double[]){3.141592653589793, -1e300, 5e-324}, 24, s);
  t[2] = deft_tensor_from_data(DEFT_INT32, (const int64_t[]){3}, 1,
                               (const int32_t[]){INT32_MIN, -1, INT32_MAX}, 12, s);
  t[3] = deft_tensor_from_data(DEFT_INT64, (const int64_t[]){1, 2}, 2,
                               (const int64_t[]){INT64_MIN, INT64_MAX}, 16, s);
  t[4] = deft_tensor_from_data(DEFT_UINT8, (const int64_t[]){4}, 1,
                               (const uint8_t[]){0, 1, 128, 255}, 4, s);
  t[5] = deft_tensor_from_data(DEFT_BOOL, (const int64_t[]){3}, 1,
                               (const bool[]){true, false, true}, 3, s);
  t[6] = deft_tensor_new(DEFT_STRING, (const int64_t[]){2, 2}, 2, s);
  char big[300];
  for (int i = 0; i < 300; i++) big[i] = (char)(i * 7);
  ck_assert(deft_tensor_set_string(t[6], 0, "a\0b", 3, s)); /* embedded NUL */
  ck_assert(deft_tensor_set_string(t[6], 1, "", 0, s));
  ck_assert(deft_tensor_set_string(t[6], 2, big, sizeof big, s)); /* two-byte varint length */
  ck_assert(deft_tensor_set_string(t[6], 3, "xyz", 3, s));
  t[7] = deft_tensor_scalar_float(42.0f);
  t[8] = deft_tensor_scalar_string("hello");
  t[9] = deft_tensor_new(DEFT_FLOAT, (const int64_t[]){0, 5}, 2, s);
  t[10] = deft_tensor_new(DEFT_STRING, (const int64_t[]){0}, 1, s);
  for (int i = 0; i < NRT; i++) ck_assert_ptr_nonnull(t[i]);
  deft_status_free(s);
}

START_TEST(round_trip_all_dtypes) {
  char prefix[1100];
  snprintf(prefix, sizeof prefix, "%s/rt.ckpt-7", cku_fresh_dir("roundtrip"));
  deft_tensor *t[NRT];
  make_round_trip_tensors(t);
  deft_status *s = deft_status_new();
  deft_bundle_writer *w = deft_bundle_writer_new(prefix, s);
  for (int i = NRT - 1; i >= 0; i--) /* any order */
    ck_assert_msg(deft_bundle_writer_add(w, RT_KEYS[i], t[i], s), "%s", deft_status_message(s));
  ck_assert_msg(deft_bundle_writer_finish(w, s), "%s", deft_status_message(s));
  deft_bundle_writer_free(w);
  deft_bundle_reader *r = cku_open_ok(prefix);
  ck_assert_int_eq(deft_bundle_reader_num_entries(r), NRT);
  for (int i = 1; i < NRT; i++) /* bytewise sorted */
    ck_assert_int_lt(strcmp(deft_bundle_reader_key(r, i - 1), deft_bundle_reader_key(r, i)), 0);
  for (int i = 0; i < NRT; i++) {
    deft_dtype dt;
    deft_shape sh;
    ck_assert(deft_bundle_reader_lookup(r, RT_KEYS[i], &dt, &sh));
    ck_assert_int_eq(dt, deft_tensor_dtype(t[i]));
    ck_assert_int_eq(sh.rank, deft_tensor_rank(t[i]));
    deft_tensor *got = deft_bundle_reader_read(r, RT_KEYS[i], s);
    ck_assert_msg(got != NULL, "%s: %s", RT_KEYS[i], deft_status_message(s));
    ck_assert_msg(same_tensor(got, t[i]), "tensor %s differs after the round trip", RT_KEYS[i]);
    deft_tensor_free(got);
    deft_tensor_free(t[i]);
  }
  deft_bundle_reader_free(r);
  deft_status_free(s);
}
END_TEST

/* A test-side walker over one table block (TF_FORMATS 4.3), independent of proto/sstable.c. */
typedef struct raw_entry {
  size_t off, shared;
  char key[64];
  size_t klen;
  const unsigned char *val;
  size_t vlen;
} raw_entry;

static uint64_t tvarint(const unsigned char **p) {
  uint64_t v = 0;
  for (int s = 0;; s += 7) {
    unsigned char b = *(*p)++;
    v |= (uint64_t)(b & 0x7f) << s;
    if (!(b & 0x80)) return v;
  }
}

static uint32_t tfixed32(const unsigned char *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Walks the block at b[0..size); returns the entry count; restarts go to *restarts. */
static int walk_block(const unsigned char *b, size_t size, raw_entry *out, int max,
                      uint32_t *restarts, uint32_t *nrestarts) {
  *nrestarts = tfixed32(b + size - 4);
  size_t limit = size - 4 - 4 * *nrestarts;
  for (uint32_t i = 0; i < *nrestarts; i++) restarts[i] = tfixed32(b + limit + 4 * i);
  const unsigned char *p = b;
  int n = 0;
  char key[64] = "";
  while ((size_t)(p - b) < limit) {
    ck_assert_int_lt(n, max);
    raw_entry *e = &out[n++];
    e->off = (size_t)(p - b);
    e->shared = tvarint(&p);
    size_t ns = tvarint(&p), vl = tvarint(&p);
    ck_assert_uint_lt(e->shared + ns, sizeof key);
    memcpy(key + e->shared, p, ns);
    e->klen = e->shared + ns;
    memcpy(e->key, key, e->klen);
    e->key[e->klen] = '\0';
    p += ns;
    e->val = p;
    e->vlen = vl;
    p += vl;
  }
  return n;
}

/* Locates the index block through the footer and returns its entries. */
static int walk_index(const unsigned char *f, size_t len, raw_entry *out, int max) {
  const unsigned char *p = f + len - 48;
  tvarint(&p);
  tvarint(&p);
  uint64_t off = tvarint(&p), size = tvarint(&p);
  uint32_t restarts[64], nr;
  int n = walk_block(f + off, size, out, max, restarts, &nr);
  ck_assert_int_eq(nr, n); /* restart interval 1 in the index block */
  return n;
}

START_TEST(restart_points_every_16) {
  char prefix[1100], path[1200];
  snprintf(prefix, sizeof prefix, "%s/forty", cku_fresh_dir("forty"));
  deft_status *s = deft_status_new();
  deft_bundle_writer *w = deft_bundle_writer_new(prefix, s);
  for (int i = 39; i >= 0; i--) {
    char key[32];
    snprintf(key, sizeof key, "layer%02d/weights", i);
    deft_tensor *t = deft_tensor_scalar_int32(i * 3);
    ck_assert(deft_bundle_writer_add(w, key, t, s));
    deft_tensor_free(t);
  }
  ck_assert(deft_bundle_writer_finish(w, s));
  deft_bundle_writer_free(w);
  snprintf(path, sizeof path, "%s.index", prefix);
  size_t len;
  unsigned char *f = cku_read_bytes(path, &len);
  raw_entry idx[4], e[64];
  ck_assert_int_eq(walk_index(f, len, idx, 4), 1); /* one data block */
  ck_assert_str_eq(idx[0].key, "m"); /* short successor of "layer39/weights" */
  const unsigned char *hp = idx[0].val;
  uint64_t off = tvarint(&hp), size = tvarint(&hp);
  ck_assert_int_eq(off, 0);
  uint32_t restarts[8], nr;
  int n = walk_block(f + off, size, e, 64, restarts, &nr);
  ck_assert_int_eq(n, 41); /* header + 40 */
  ck_assert_int_eq(nr, 3); /* entries 0, 16, 32 */
  for (int r = 0; r < 3; r++) {
    ck_assert_int_eq(restarts[r], e[16 * r].off);
    ck_assert_int_eq(e[16 * r].shared, 0);
  }
  for (int i = 2; i < n; i++) /* all other keys share "layer" or more with their predecessor */
    if (i % 16) ck_assert_int_ge(e[i].shared, 5);
  /* the block trailer's CRC covers contents + type byte */
  ck_assert_uint_eq(f[off + size], 0);
  ck_assert_uint_eq(tfixed32(f + off + size + 1),
                    deft_crc32c_mask(deft_crc32c(f + off, size + 1)));
  free(f);
  deft_bundle_reader *r = cku_open_ok(prefix);
  ck_assert_int_eq(deft_bundle_reader_num_entries(r), 40);
  for (int i = 0; i < 40; i++) {
    char key[32];
    snprintf(key, sizeof key, "layer%02d/weights", i);
    ck_assert_str_eq(deft_bundle_reader_key(r, i), key);
    ck_assert(cku_read_scalar(r, key) == i * 3);
  }
  deft_bundle_reader_free(r);
  deft_status_free(s);
}
END_TEST

/* In-memory sink for the table builder. */
typedef struct membuf {
  unsigned char *p;
  size_t len, cap;
} membuf;

static bool mem_write(void *ctx, const void *data, size_t n, deft_status *s) {
  membuf *m = ctx;
  if (m->len + n > m->cap) {
    m->cap = (m->len + n) * 2;
    m->p = realloc(m->p, m->cap);
    ck_assert_ptr_nonnull(m->p);
  }
  memcpy(m->p + m->len, data, n);
  m->len += n;
  return true;
}

START_TEST(sstable_separators_and_blocks) {
  deft_status *s = deft_status_new();
  /* Block size 1: every entry is its own block, so every index key is a separator. */
  membuf m = {0};
  deft_sstable_builder *b = deft_sstable_builder_new(mem_write, &m, s);
  deft_sstable_builder_set_block_size(b, 1);
  static const char *const keys[] = {"abc", "abx", "b\xff\xff", "c", "c\xff", "\xff\xff"};
  static const char *const want_index[] = {"abd", "abx", "b\xff\xff", "c", "d", "\xff\xff"};
  for (int i = 0; i < 6; i++)
    ck_assert(deft_sstable_builder_add(b, keys[i], strlen(keys[i]), "v", 1, s));
  ck_assert(!deft_sstable_builder_add(b, "a", 1, "", 0, s)); /* out of order */
  TU_ASSERT_STATUS(s, DEFT_INVALID_ARGUMENT, "increasing");
  deft_sstable_builder_free(b);
  /* same keys again, cleanly */
  m.len = 0;
  b = deft_sstable_builder_new(mem_write, &m, s);
  deft_sstable_builder_set_block_size(b, 1);
  for (int i = 0; i < 6; i++)
    ck_assert(deft_sstable_builder_add(b, keys[i], strlen(keys[i]), "v", 1, s));
  ck_assert(deft_sstable_builder_finish(b, s));
  ck_assert_int_eq(deft_sstable_builder_file_size(b), m.len);
  deft_sstable_builder_free(b);
  raw_entry idx[8];
  ck_assert_int_eq(walk_index(m.p, m.len, idx, 8), 6);
  for (int i = 0; i < 6; i++) {
    ck_assert_int_eq(idx[i].klen, strlen(want_index[i]));
    ck_assert_mem_eq(idx[i].key, want_index[i], idx[i].klen);
  }
  deft_sstable *t = deft_sstable_open_buffer(m.p, m.len, "mem", s);
  ck_assert_msg(t != NULL, "%s", deft_status_message(s));
  ck_assert_int_eq(deft_sstable_num_data_blocks(t), 6);
  deft_sstable_free(t);

  /* Many entries over small blocks, and one oversized value that gets a block of its own. */
  m.len = 0;
  b = deft_sstable_builder_new(mem_write, &m, s);
  deft_sstable_builder_set_block_size(b, 256);
  static char bigval[1024];
  memset(bigval, 'z', sizeof bigval);
  for (int i = 0; i < 500; i++) {
    char key[32];
    snprintf(key, sizeof key, "key%05d", i);
    size_t vlen = i == 250 ? sizeof bigval : (size_t)(i % 13);
    ck_assert(deft_sstable_builder_add(b, key, strlen(key), bigval, vlen, s));
  }
  ck_assert(deft_sstable_builder_finish(b, s));
  deft_sstable_builder_free(b);
  t = deft_sstable_open_buffer(m.p, m.len, "mem", s);
  ck_assert_msg(t != NULL, "%s", deft_status_message(s));
  ck_assert_int_eq(deft_sstable_num_entries(t), 500);
  ck_assert_int_gt(deft_sstable_num_data_blocks(t), 10);
  for (int i = 0; i < 500; i++) {
    char key[32];
    size_t at, vlen;
    const char *v;
    snprintf(key, sizeof key, "key%05d", i);
    ck_assert(deft_sstable_find(t, key, strlen(key), &at));
    ck_assert_int_eq(at, i);
    deft_sstable_entry(t, at, NULL, NULL, &v, &vlen);
    ck_assert_int_eq(vlen, i == 250 ? sizeof bigval : (size_t)(i % 13));
    ck_assert(vlen == 0 || v[0] == 'z');
  }
  ck_assert(!deft_sstable_find(t, "key", 3, NULL));
  ck_assert(!deft_sstable_find(t, "key99999", 8, NULL));
  deft_sstable_free(t);
  free(m.p);
  deft_status_free(s);
}
END_TEST

/* Wraps hand-made data block bytes (with a valid trailer CRC) in a table whose index entry has
 * key ikey, and opens it; structure errors behind a correct CRC must still be caught. */
static deft_sstable *open_raw(const unsigned char *blk, size_t n, unsigned char type,
                              const char *ikey, deft_status *s) {
  membuf m = {0};
  size_t at[2], len[2];
  unsigned char index[64] = {0, (unsigned char)strlen(ikey), 2}, meta[8] = {0, 0, 0, 0, 1};
  size_t k = 3 + strlen(ikey);
  memcpy(index + 3, ikey, strlen(ikey));
  index[k++] = 0; /* handle: offset 0, size n (< 128) */
  index[k++] = (unsigned char)n;
  k += 4; /* restart 0 */
  index[k++] = 1;
  k += 3;
  for (int b = 0; b < 3; b++) {
    const unsigned char *p = b == 0 ? blk : b == 1 ? meta : index;
    size_t pn = b == 0 ? n : b == 1 ? 8 : k;
    unsigned char trailer[5] = {b == 0 ? type : 0};
    uint32_t crc = deft_crc32c_mask(deft_crc32c_extend(deft_crc32c(p, pn), trailer, 1));
    for (int i = 0; i < 4; i++) trailer[1 + i] = (unsigned char)(crc >> (8 * i));
    if (b) at[b - 1] = m.len, len[b - 1] = pn;
    mem_write(&m, p, pn, NULL);
    mem_write(&m, trailer, 5, NULL);
  }
  unsigned char footer[48] = {(unsigned char)at[0], (unsigned char)len[0], (unsigned char)at[1],
                              (unsigned char)len[1]};
  unhex("57 fb 80 8b 24 75 47 db", footer + 40);
  mem_write(&m, footer, 48, NULL);
  deft_sstable *t = deft_sstable_open_buffer(m.p, m.len, "raw.index", s);
  free(m.p);
  return t;
}

START_TEST(sstable_structure_errors) {
  static const struct {
    const char *hex, *ikey, *kw1, *kw2;
    unsigned char type;
  } cases[] = {
      {"00 01 00 61  00 00 00 00 01 00 00 00", "b", NULL, NULL, 0}, /* valid: key "a" */
      {"80 80 80 80 80 80  00 00 00 00 01 00 00 00", "b", "bad varint", "at offset 0", 0},
      {"00 00 00 64 00 00 00", "b", "restart array out of range", "100 restarts", 0},
      {"00 01 00 61 05 01 00 62  00 00 00 00 01 00 00 00", "b", "shared-prefix", "offset 4", 0},
      {"00 05 00 61  00 00 00 00 01 00 00 00", "b", "overruns", "offset 0", 0},
      {"00 01 00 62 00 01 00 61  00 00 00 00 01 00 00 00", "c", "not greater", "offset 4", 0},
      {"00 01 00 61 00 01 00 62  00 00 00 00 02 00 00 00 02 00 00 00", "c", "restart point 1",
       "entry boundary", 0},
      {"00 01 00 61 00 01 00 62  00 00 00 00 09 00 00 00 02 00 00 00", "c", "restart point 1",
       "out of range", 0},
      {"00 01 00 62  00 00 00 00 01 00 00 00", "a", "outside the range", "offset 0", 0},
      {"00 01 00 61  00 00 00 00 01 00 00 00", "b", "compression type 2", "offset 0", 2},
      {"ff ff ff ff 0f 00 01", "b", "Snappy", "offset 0", 1},
      {"00 00", "b", "no restart count", "offset 0", 0},
  };
  deft_status *s = deft_status_new();
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    unsigned char blk[64];
    size_t n = unhex(cases[i].hex, blk);
    deft_sstable *t = open_raw(blk, n, cases[i].type, cases[i].ikey, s);
    if (!cases[i].kw1) {
      ck_assert_msg(t != NULL, "%s", deft_status_message(s));
      ck_assert(deft_sstable_find(t, "a", 1, NULL));
      deft_sstable_free(t);
      continue;
    }
    ck_assert_msg(t == NULL, "case %zu accepted", i);
    TU_ASSERT_STATUS(s, DEFT_DATA_LOSS, "raw.index", cases[i].kw1, cases[i].kw2);
  }
  deft_status_free(s);
}
END_TEST

START_TEST(string_tensor_layout) {
  /* TF_FORMATS 4.2 for ["ab", ""]: varint lengths, Mask(crc32c(02 00 00 00 00 00 00 00)) as 4
   * LE bytes, then "ab"; entry crc = Mask(crc over lengths-as-uint32, those 4 bytes, "ab"). */
  char prefix[1100], path[1200];
  snprintf(prefix, sizeof prefix, "%s/s", cku_fresh_dir("strlayout"));
  deft_tensor *t = deft_tensor_new(DEFT_STRING, (const int64_t[]){2}, 1, NULL);
  ck_assert(deft_tensor_set_string(t, 0, "ab", 2, NULL));
  cku_save_one(prefix, "names", t);
  deft_tensor_free(t);
  const unsigned char lens32[8] = {2, 0, 0, 0, 0, 0, 0, 0};
  uint32_t mlen = deft_crc32c_mask(deft_crc32c(lens32, 8));
  unsigned char want[10] = {2, 0, (unsigned char)mlen, (unsigned char)(mlen >> 8),
                            (unsigned char)(mlen >> 16), (unsigned char)(mlen >> 24), 'a', 'b'};
  snprintf(path, sizeof path, "%s.data-00000-of-00001", prefix);
  size_t len;
  unsigned char *d = cku_read_bytes(path, &len);
  ck_assert_int_eq(len, 8);
  ck_assert_mem_eq(d, want, 8);
  unsigned char crcin[14];
  memcpy(crcin, lens32, 8);
  memcpy(crcin + 8, want + 2, 6);
  uint32_t want_entry_crc = deft_crc32c_mask(deft_crc32c(crcin, 14));
  free(d);
  snprintf(path, sizeof path, "%s.index", prefix);
  d = cku_read_bytes(path, &len);
  deft_status *s = deft_status_new();
  deft_sstable *tb = deft_sstable_open_buffer(d, len, path, s);
  ck_assert_ptr_nonnull(tb);
  size_t at, vlen;
  const char *v;
  ck_assert(deft_sstable_find(tb, "names", 5, &at));
  deft_sstable_entry(tb, at, NULL, NULL, &v, &vlen);
  Tensorflow__BundleEntryProto *e = tensorflow__bundle_entry_proto__unpack(NULL, vlen,
                                                                           (const uint8_t *)v);
  ck_assert_ptr_nonnull(e);
  ck_assert_int_eq(e->dtype, 7);
  ck_assert_int_eq(e->size, 8);
  ck_assert_uint_eq(e->crc32c, want_entry_crc);
  tensorflow__bundle_entry_proto__free_unpacked(e, NULL);
  deft_sstable_free(tb);
  free(d);
  deft_status_free(s);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("checkpoint_format");
  TCase *tc = tcase_create("format");
  tcase_add_test(tc, crc32c_values);
  tcase_add_test(tc, worked_example_bytes);
  tcase_add_test(tc, restart_points_every_16);
  tcase_add_test(tc, sstable_separators_and_blocks);
  tcase_add_test(tc, sstable_structure_errors);
  tcase_add_test(tc, string_tensor_layout);
  tcase_add_test(tc, round_trip_all_dtypes);
  suite_add_tcase(s, tc);
  tc = tcase_create("real_tf");
  tcase_add_test(tc, real_kkeishiro_facts);
  tcase_add_test(tc, real_haerfest_and_taobai_facts);
  tcase_add_test(tc, real_serving_half_plus);
  tcase_add_test(tc, real_checkpoints_vs_python);
  tcase_add_test(tc, real_checkpoints_rewrite_identical);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return tu_run_suite(suite()); }
