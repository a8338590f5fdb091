/* tests/test_checkpoint.c - CRC32C, tables (.index), V2 checkpoint bundles and the `checkpoint`
 * state file. Independent references: the byte dumps and facts of ../shared/spec/TF_FORMATS.md
 * section 4, real TF checkpoints in ../shared/tf1 (their CRCs, README facts, byte-for-byte
 * rewrites), and a separate reader written in Python (no deft code) for tensor values. */
#include <dirent.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/alloc.h"
#include "runtime/bundle.h"
#include "runtime/crc32c.h"
#include "runtime/sstable.h"
#include "runtime/tensor_internal.h"
#include "tensor_bundle.pb-c.h"
#include "testutil.h"

#define SERVING "tf1/tensorflow__serving/tensorflow_serving/servables/tensorflow/testdata/"
#define HALF_PLUS_TWO SERVING "saved_model_half_plus_two_cpu/00000123/variables/variables"
#define HALF_PLUS_THREE SERVING "saved_model_half_plus_three/00000123/variables/variables"
#define KKEISHIRO "tf1/KKeishiro__hands-on-machine-learning/186368e3/my_model_final.ckpt"
#define HAERFEST "tf1/haerfest__handson-ml/my_model_final.ckpt"
#define TAOBAI "tf1/tao-bai__Hands-on-Machine-Learning/my_model_final.ckpt"

/* ---- helpers ---- */

static unsigned char *read_bytes(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *b = malloc((size_t)n + 1);
  ck_assert_ptr_nonnull(b);
  ck_assert_int_eq(fread(b, 1, (size_t)n, f), (size_t)n);
  fclose(f);
  *len = (size_t)n;
  return b;
}

static void write_bytes(const char *path, const void *data, size_t len) {
  FILE *f = fopen(path, "wb");
  ck_assert_ptr_nonnull(f);
  ck_assert_int_eq(fwrite(data, 1, len, f), len);
  fclose(f);
}

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

/* A fresh directory under the test's temporary directory. */
static const char *fresh_dir(const char *name) {
  static char path[1024];
  snprintf(path, sizeof path, "%s/%s", tu_tmpdir(), name);
  char cmd[1200];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
  ck_assert_int_eq(system(cmd), 0);
  ck_assert_int_eq(mkdir(path, 0755), 0);
  return path;
}

/* Counts directory entries whose name contains "tempstate" or ".tmp". */
static int count_temp_files(const char *dir) {
  DIR *d = opendir(dir);
  ck_assert_ptr_nonnull(d);
  int n = 0;
  struct dirent *de;
  while ((de = readdir(d)))
    if (strstr(de->d_name, "tempstate") || strstr(de->d_name, ".tmp")) n++;
  closedir(d);
  return n;
}

static bool file_exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

static deft_tensor *float_tensor(const int64_t *dims, int rank, const float *v) {
  deft_tensor *t = deft_tensor_new(DEFT_FLOAT, dims, rank, NULL);
  ck_assert_ptr_nonnull(t);
  memcpy(deft_tensor_data(t), v, deft_tensor_nbytes(t));
  return t;
}

/* Writes one tensor key -> t at prefix. */
static void save_one(const char *prefix, const char *key, const deft_tensor *t) {
  deft_status *s = deft_status_new();
  deft_bundle_writer *w = deft_bundle_writer_new(prefix, s);
  ck_assert_ptr_nonnull(w);
  ck_assert_msg(deft_bundle_writer_add(w, key, t, s), "%s", deft_status_message(s));
  ck_assert_msg(deft_bundle_writer_finish(w, s), "%s", deft_status_message(s));
  deft_bundle_writer_free(w);
  deft_status_free(s);
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

static void save_example(const char *prefix) {
  int64_t dims[1] = {2};
  deft_tensor *t = float_tensor(dims, 1, (const float[]){1.0f, 2.0f});
  save_one(prefix, "v", t);
  deft_tensor_free(t);
}

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
  const char *dir = fresh_dir("example");
  char prefix[1100], path[1200];
  snprintf(prefix, sizeof prefix, "%s/P", dir);
  save_example(prefix);
  unsigned char want[256];
  size_t len, wn;
  snprintf(path, sizeof path, "%s.data-00000-of-00001", prefix);
  unsigned char *got = read_bytes(path, &len);
  ck_assert_ptr_nonnull(got);
  wn = unhex(EXAMPLE_DATA_HEX, want);
  ck_assert_int_eq(len, 8);
  ck_assert_mem_eq(got, want, wn);
  free(got);
  snprintf(path, sizeof path, "%s.index", prefix);
  got = read_bytes(path, &len);
  ck_assert_ptr_nonnull(got);
  wn = unhex(EXAMPLE_INDEX_HEX, want);
  ck_assert_int_eq(wn, 121);
  ck_assert_int_eq(len, 121);
  ck_assert_mem_eq(got, want, 121);
  free(got);
  ck_assert_int_eq(count_temp_files(dir), 0);

  /* and the reader decodes TF's bytes (written here from the spec, not by deft) */
  snprintf(prefix, sizeof prefix, "%s/Q", dir);
  snprintf(path, sizeof path, "%s.index", prefix);
  write_bytes(path, want, wn);
  snprintf(path, sizeof path, "%s.data-00000-of-00001", prefix);
  write_bytes(path, want, unhex(EXAMPLE_DATA_HEX, want));
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

static deft_bundle_reader *open_ok(const char *prefix) {
  deft_status *s = deft_status_new();
  deft_bundle_reader *r = deft_bundle_reader_open(prefix, s);
  ck_assert_msg(r != NULL, "%s: %s", prefix, deft_status_message(s));
  deft_status_free(s);
  return r;
}

static void assert_entry(const deft_bundle_reader *r, const char *key, deft_dtype dt,
                         deft_shape want) {
  deft_dtype got_dt;
  deft_shape got;
  ck_assert_msg(deft_bundle_reader_lookup(r, key, &got_dt, &got), "no key %s", key);
  ck_assert_int_eq(got_dt, dt);
  ck_assert_int_eq(got.rank, want.rank);
  for (int i = 0; i < want.rank; i++) ck_assert_int_eq(got.dims[i], want.dims[i]);
}

static double read_scalar(deft_bundle_reader *r, const char *key) {
  deft_status *s = deft_status_new();
  deft_tensor *t = deft_bundle_reader_read(r, key, s);
  ck_assert_msg(t != NULL, "%s", deft_status_message(s));
  ck_assert_int_eq(deft_tensor_num_elements(t), 1);
  double v = deft_tensor_get_double(t, 0);
  deft_tensor_free(t);
  deft_status_free(s);
  return v;
}

/* Reads every tensor (which verifies every CRC) and returns how many there were. */
static int read_all(deft_bundle_reader *r) {
  deft_status *s = deft_status_new();
  for (int i = 0; i < deft_bundle_reader_num_entries(r); i++) {
    deft_tensor *t = deft_bundle_reader_read(r, deft_bundle_reader_key(r, i), s);
    ck_assert_msg(t != NULL, "%s", deft_status_message(s));
    deft_tensor_free(t);
  }
  deft_status_free(s);
  return deft_bundle_reader_num_entries(r);
}

START_TEST(real_kkeishiro_facts) {
  TU_REQUIRE_SHARED(prefix, KKEISHIRO);
  deft_bundle_reader *r = open_ok(prefix);
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
  ck_assert_int_eq(read_all(r), 12);
  deft_bundle_reader_free(r);
}
END_TEST

START_TEST(real_haerfest_and_taobai_facts) {
  TU_REQUIRE_SHARED(p1, HAERFEST);
  deft_bundle_reader *r = open_ok(p1);
  /* README: hand-built 784-300-100-10, variables dnn/hidden1/weights, dnn/hidden1/biases, ... */
  assert_entry(r, "dnn/hidden1/weights", DEFT_FLOAT, DEFT_SHAPE(784, 300));
  assert_entry(r, "dnn/hidden1/biases", DEFT_FLOAT, DEFT_SHAPE(300));
  ck_assert_int_eq(read_all(r), 6);
  deft_bundle_reader_free(r);

  TU_REQUIRE_SHARED(p2, TAOBAI);
  r = open_ok(p2);
  /* README: batch-norm net 784-300-100-10 with tf.layers.batch_normalization */
  assert_entry(r, "hidden1/kernel", DEFT_FLOAT, DEFT_SHAPE(784, 300));
  assert_entry(r, "hidden2/kernel", DEFT_FLOAT, DEFT_SHAPE(300, 100));
  assert_entry(r, "outputs/kernel", DEFT_FLOAT, DEFT_SHAPE(100, 10));
  assert_entry(r, "batch_normalization/moving_mean", DEFT_FLOAT, DEFT_SHAPE(300));
  assert_entry(r, "batch_normalization_1/moving_variance", DEFT_FLOAT, DEFT_SHAPE(100));
  assert_entry(r, "batch_normalization_2/gamma", DEFT_FLOAT, DEFT_SHAPE(10));
  ck_assert_int_gt(read_all(r), 16); /* more than one restart interval of keys */
  deft_bundle_reader_free(r);
}
END_TEST

START_TEST(real_serving_half_plus) {
  TU_REQUIRE_SHARED(p2, HALF_PLUS_TWO); /* its .index has a Snappy-compressed block */
  deft_bundle_reader *r = open_ok(p2);
  assert_entry(r, "a", DEFT_FLOAT, DEFT_SCALAR);
  assert_entry(r, "b", DEFT_FLOAT, DEFT_SCALAR);
  ck_assert(read_scalar(r, "a") == 0.5);
  ck_assert(read_scalar(r, "b") == 2.0);
  read_all(r);
  deft_bundle_reader_free(r);
  TU_REQUIRE_SHARED(p3, HALF_PLUS_THREE);
  r = open_ok(p3);
  ck_assert(read_scalar(r, "a") == 0.5);
  ck_assert(read_scalar(r, "b") == 3.0);
  read_all(r);
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
  deft_bundle_reader *r = open_ok(prefix);
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
  snprintf(out, sizeof out, "%s/rewrite", fresh_dir("rewrite"));
  deft_bundle_reader *r = open_ok(src);
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
    unsigned char *da = read_bytes(a, &na), *db = read_bytes(b, &nb);
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
  t[0] = float_tensor((const int64_t[]){2, 3}, 2,
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
  snprintf(prefix, sizeof prefix, "%s/rt.ckpt-7", fresh_dir("roundtrip"));
  deft_tensor *t[NRT];
  make_round_trip_tensors(t);
  deft_status *s = deft_status_new();
  deft_bundle_writer *w = deft_bundle_writer_new(prefix, s);
  for (int i = NRT - 1; i >= 0; i--) /* any order */
    ck_assert_msg(deft_bundle_writer_add(w, RT_KEYS[i], t[i], s), "%s", deft_status_message(s));
  ck_assert_msg(deft_bundle_writer_finish(w, s), "%s", deft_status_message(s));
  deft_bundle_writer_free(w);
  deft_bundle_reader *r = open_ok(prefix);
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

/* A test-side walker over one table block (TF_FORMATS 4.3), independent of runtime/sstable.c. */
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
    memcpy(key + e->shared, p, ns);
    e->klen = e->shared + ns;
    memcpy(e->key, key, e->klen);
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
  snprintf(prefix, sizeof prefix, "%s/forty", fresh_dir("forty"));
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
  unsigned char *f = read_bytes(path, &len);
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
  deft_bundle_reader *r = open_ok(prefix);
  ck_assert_int_eq(deft_bundle_reader_num_entries(r), 40);
  for (int i = 0; i < 40; i++) {
    char key[32];
    snprintf(key, sizeof key, "layer%02d/weights", i);
    ck_assert_str_eq(deft_bundle_reader_key(r, i), key);
    ck_assert(read_scalar(r, key) == i * 3);
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
  snprintf(prefix, sizeof prefix, "%s/s", fresh_dir("strlayout"));
  deft_tensor *t = deft_tensor_new(DEFT_STRING, (const int64_t[]){2}, 1, NULL);
  ck_assert(deft_tensor_set_string(t, 0, "ab", 2, NULL));
  save_one(prefix, "names", t);
  deft_tensor_free(t);
  const unsigned char lens32[8] = {2, 0, 0, 0, 0, 0, 0, 0};
  uint32_t mlen = deft_crc32c_mask(deft_crc32c(lens32, 8));
  unsigned char want[10] = {2, 0, (unsigned char)mlen, (unsigned char)(mlen >> 8),
                            (unsigned char)(mlen >> 16), (unsigned char)(mlen >> 24), 'a', 'b'};
  snprintf(path, sizeof path, "%s.data-00000-of-00001", prefix);
  size_t len;
  unsigned char *d = read_bytes(path, &len);
  ck_assert_int_eq(len, 8);
  ck_assert_mem_eq(d, want, 8);
  unsigned char crcin[14];
  memcpy(crcin, lens32, 8);
  memcpy(crcin + 8, want + 2, 6);
  uint32_t want_entry_crc = deft_crc32c_mask(deft_crc32c(crcin, 14));
  free(d);
  snprintf(path, sizeof path, "%s.index", prefix);
  d = read_bytes(path, &len);
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

/* ---- atomic saves ---- */

static void save_version(const char *prefix, int version, bool extra, deft_status *s,
                         bool expect_ok) {
  float v[1000];
  for (int i = 0; i < 1000; i++) v[i] = (float)(i * version);
  deft_tensor *w = float_tensor((const int64_t[]){1000}, 1, v);
  deft_tensor *str = deft_tensor_scalar_string(version == 1 ? "old" : "new");
  deft_bundle_writer *bw = deft_bundle_writer_new(prefix, s);
  ck_assert(deft_bundle_writer_add(bw, "w", w, s));
  ck_assert(deft_bundle_writer_add(bw, "s", str, s));
  if (extra) ck_assert(deft_bundle_writer_add(bw, "extra", str, s));
  bool ok = deft_bundle_writer_finish(bw, s);
  ck_assert_msg(ok == expect_ok, "finish returned %d: %s", ok, deft_status_message(s));
  deft_bundle_writer_free(bw);
  deft_tensor_free(w);
  deft_tensor_free(str);
}

static void assert_version(const char *prefix, int version, int entries) {
  deft_bundle_reader *r = open_ok(prefix);
  ck_assert_int_eq(deft_bundle_reader_num_entries(r), entries);
  deft_status *s = deft_status_new();
  deft_tensor *w = deft_bundle_reader_read(r, "w", s), *str = deft_bundle_reader_read(r, "s", s);
  ck_assert_msg(w && str, "%s", deft_status_message(s));
  ck_assert(deft_tensor_f32(w)[999] == 999.0f * version);
  ck_assert_str_eq(deft_tensor_string(str, 0, NULL), version == 1 ? "old" : "new");
  deft_tensor_free(w);
  deft_tensor_free(str);
  deft_bundle_reader_free(r);
  deft_status_free(s);
}

START_TEST(atomic_save_failure_keeps_previous) {
  const char *d = fresh_dir("atomic");
  char dir[1024], prefix[1100], probe[1100], path[1200];
  snprintf(dir, sizeof dir, "%s", d);
  snprintf(prefix, sizeof prefix, "%s/model.ckpt", dir);
  snprintf(probe, sizeof probe, "%s/probe/model.ckpt", dir);
  deft_status *s = deft_status_new();
  save_version(prefix, 1, false, s, true);
  /* how many bytes does the second version take? */
  snprintf(path, sizeof path, "%s/probe", dir);
  ck_assert_int_eq(mkdir(path, 0755), 0);
  save_version(probe, 2, true, s, true);
  struct stat st;
  snprintf(path, sizeof path, "%s.data-00000-of-00001", probe);
  ck_assert_int_eq(stat(path, &st), 0);
  long data_size = (long)st.st_size, total = data_size;
  snprintf(path, sizeof path, "%s.index", probe);
  ck_assert_int_eq(stat(path, &st), 0);
  total += (long)st.st_size;
  ck_assert_int_gt(data_size, 4000);
  const long cuts[] = {0, 1, 100, 4000, data_size - 1, data_size, data_size + 1, total - 48,
                       total - 1};
  for (size_t i = 0; i < sizeof cuts / sizeof *cuts + 40; i++) {
    long n = i < sizeof cuts / sizeof *cuts ? cuts[i] : (long)(i - 9) * total / 40;
    deft_bundle_test_fail_after_bytes(n);
    save_version(prefix, 2, true, s, false);
    deft_bundle_test_fail_after_bytes(-1);
    TU_ASSERT_STATUS(s, DEFT_INTERNAL, "injected", "tempstate", "model.ckpt");
    ck_assert_int_eq(count_temp_files(dir), 0);
    assert_version(prefix, 1, 2);
  }
  deft_bundle_test_fail_after_bytes(total); /* exactly enough */
  save_version(prefix, 2, true, s, true);
  deft_bundle_test_fail_after_bytes(-1);
  assert_version(prefix, 2, 3);
  ck_assert_int_eq(count_temp_files(dir), 0);
  deft_status_free(s);
}
END_TEST

START_TEST(atomic_rename_failure_restores_data) {
  const char *d = fresh_dir("rename");
  char dir[1024], prefix[1100], path[1200];
  snprintf(dir, sizeof dir, "%s", d);
  snprintf(prefix, sizeof prefix, "%s/ck", dir);
  snprintf(path, sizeof path, "%s.data-00000-of-00001", prefix);
  write_bytes(path, "OLD", 3);
  snprintf(path, sizeof path, "%s.index", prefix); /* a non-empty directory: rename onto it fails */
  ck_assert_int_eq(mkdir(path, 0755), 0);
  snprintf(path, sizeof path, "%s.index/x", prefix);
  write_bytes(path, "x", 1);
  deft_status *s = deft_status_new();
  int64_t dims[1] = {2};
  deft_tensor *t = float_tensor(dims, 1, (const float[]){1, 2});
  deft_bundle_writer *w = deft_bundle_writer_new(prefix, s);
  ck_assert(deft_bundle_writer_add(w, "v", t, s));
  ck_assert(!deft_bundle_writer_finish(w, s));
  ck_assert_int_ne(deft_status_code(s), DEFT_OK);
  ck_assert_ptr_nonnull(strstr(deft_status_message(s), "ck.index"));
  deft_bundle_writer_free(w);
  snprintf(path, sizeof path, "%s.data-00000-of-00001", prefix);
  size_t len;
  unsigned char *b = read_bytes(path, &len);
  ck_assert_int_eq(len, 3);
  ck_assert_mem_eq(b, "OLD", 3);
  free(b);
  ck_assert_int_eq(count_temp_files(dir), 0);
  /* without a previous data file, none is left behind */
  unlink(path);
  w = deft_bundle_writer_new(prefix, s);
  ck_assert(deft_bundle_writer_add(w, "v", t, s));
  ck_assert(!deft_bundle_writer_finish(w, s));
  deft_bundle_writer_free(w);
  ck_assert(!file_exists(path));
  ck_assert_int_eq(count_temp_files(dir), 0);
  deft_tensor_free(t);
  deft_status_free(s);
}
END_TEST

/* ---- error paths ---- */

/* Saves the worked example at <dir>/P and returns the prefix (static buffer). */
static const char *example_in(const char *name) {
  static char prefix[1100];
  snprintf(prefix, sizeof prefix, "%s/P", fresh_dir(name));
  save_example(prefix);
  return prefix;
}

/* Rewrites byte `at` of file path (xor with x), or truncates it to `at` bytes when x is 0. */
static void damage(const char *path, size_t at, unsigned char x) {
  size_t len;
  unsigned char *b = read_bytes(path, &len);
  ck_assert_ptr_nonnull(b);
  if (x) {
    ck_assert_int_lt(at, len);
    b[at] ^= x;
  }
  write_bytes(path, b, x ? len : at);
  free(b);
}

static void expect_open_error(const char *prefix, deft_code code, const char *const *kw) {
  deft_status *s = deft_status_new();
  deft_bundle_reader *r = deft_bundle_reader_open(prefix, s);
  ck_assert_msg(r == NULL, "open of %s should fail", prefix);
  tu_assert_status(s, code, kw, __FILE__, __LINE__);
  deft_status_free(s);
}
#define EXPECT_OPEN_ERROR(prefix, code, ...) \
  expect_open_error((prefix), (code), (const char *const[]){__VA_ARGS__, NULL})

START_TEST(error_missing_and_damaged_index) {
  char prefix[1100], index[1200];
  snprintf(prefix, sizeof prefix, "%s/nothing", fresh_dir("missing"));
  EXPECT_OPEN_ERROR(prefix, DEFT_NOT_FOUND, "nothing.index");

  snprintf(prefix, sizeof prefix, "%s", example_in("magic"));
  snprintf(index, sizeof index, "%s.index", prefix);
  damage(index, 120, 0x01); /* last magic byte */
  EXPECT_OPEN_ERROR(prefix, DEFT_DATA_LOSS, index, "magic", "offset 113");

  snprintf(prefix, sizeof prefix, "%s", example_in("trunc"));
  snprintf(index, sizeof index, "%s.index", prefix);
  damage(index, 100, 0);
  EXPECT_OPEN_ERROR(prefix, DEFT_DATA_LOSS, index, "magic");
  damage(index, 20, 0);
  EXPECT_OPEN_ERROR(prefix, DEFT_DATA_LOSS, index, "truncated");

  snprintf(prefix, sizeof prefix, "%s", example_in("blockcrc"));
  snprintf(index, sizeof index, "%s.index", prefix);
  damage(index, 12, 0x20); /* the key "v" in the data block */
  EXPECT_OPEN_ERROR(prefix, DEFT_DATA_LOSS, index, "CRC", "data block at offset 0");

  snprintf(prefix, sizeof prefix, "%s", example_in("indexcrc"));
  snprintf(index, sizeof index, "%s.index", prefix);
  damage(index, 57, 0x01); /* the index key "w" */
  EXPECT_OPEN_ERROR(prefix, DEFT_DATA_LOSS, index, "CRC", "index block at offset 54");

  snprintf(prefix, sizeof prefix, "%s", example_in("handle"));
  snprintf(index, sizeof index, "%s.index", prefix);
  damage(index, 76, 0x0e ^ 0x7f); /* index handle size 14 -> 127 */
  EXPECT_OPEN_ERROR(prefix, DEFT_DATA_LOSS, index, "index block handle", "out of range");

  snprintf(prefix, sizeof prefix, "%s", example_in("varint"));
  snprintf(index, sizeof index, "%s.index", prefix);
  size_t len;
  unsigned char *b = read_bytes(index, &len);
  memset(b + 73, 0xff, 40); /* footer handles: a varint that never ends */
  write_bytes(index, b, len);
  free(b);
  EXPECT_OPEN_ERROR(prefix, DEFT_DATA_LOSS, index, "varint", "offset");
}
END_TEST

START_TEST(error_data_and_keys) {
  char prefix[1100], data[1200];
  snprintf(prefix, sizeof prefix, "%s", example_in("datacrc"));
  snprintf(data, sizeof data, "%s.data-00000-of-00001", prefix);
  damage(data, 5, 0x40);
  deft_status *s = deft_status_new();
  deft_bundle_reader *r = open_ok(prefix);
  ck_assert_ptr_null(deft_bundle_reader_read(r, "v", s));
  TU_ASSERT_STATUS(s, DEFT_DATA_LOSS, "checkpoint tensor 'v'", data, "crc32c mismatch");
  ck_assert_ptr_null(deft_bundle_reader_read(r, "dense/kernel", s));
  TU_ASSERT_STATUS(s, DEFT_NOT_FOUND, "'dense/kernel'");
  ck_assert(!deft_bundle_reader_lookup(r, "dense/kernel", NULL, NULL));
  ck_assert(!deft_bundle_reader_lookup(r, "", NULL, NULL)); /* the header is not a tensor */
  deft_bundle_reader_free(r);

  damage(data, 4, 0); /* shorter than the entry says */
  r = open_ok(prefix);
  ck_assert_ptr_null(deft_bundle_reader_read(r, "v", s));
  TU_ASSERT_STATUS(s, DEFT_DATA_LOSS, "'v'", "beyond the end");
  deft_bundle_reader_free(r);

  unlink(data);
  EXPECT_OPEN_ERROR(prefix, DEFT_NOT_FOUND, "P.data-00000-of-00001");
  deft_status_free(s);
}
END_TEST

START_TEST(error_writer_misuse_and_unwritable) {
  deft_status *s = deft_status_new();
  char dir[1024], prefix[1100];
  snprintf(dir, sizeof dir, "%s", fresh_dir("misuse"));
  snprintf(prefix, sizeof prefix, "%s/afile", dir);
  write_bytes(prefix, "x", 1);
  snprintf(prefix, sizeof prefix, "%s/afile/ck", dir); /* a file where a directory should be */
  deft_tensor *t = deft_tensor_scalar_int64(5);
  ck_assert_ptr_null(deft_bundle_writer_new("", s));
  TU_ASSERT_STATUS(s, DEFT_INVALID_ARGUMENT, "prefix");
  deft_bundle_writer *w = deft_bundle_writer_new(prefix, s);
  ck_assert(deft_bundle_writer_add(w, "x", t, s));
  ck_assert(!deft_bundle_writer_add(w, "x", t, s));
  TU_ASSERT_STATUS(s, DEFT_INVALID_ARGUMENT, "duplicate", "'x'");
  ck_assert(!deft_bundle_writer_add(w, "", t, s));
  TU_ASSERT_STATUS(s, DEFT_INVALID_ARGUMENT, "empty");
  deft_tensor unset = {0};
  ck_assert(!deft_bundle_writer_add(w, "y", &unset, s));
  TU_ASSERT_STATUS(s, DEFT_INVALID_ARGUMENT, "'y'");
  ck_assert(!deft_bundle_writer_finish(w, s));
  TU_ASSERT_STATUS(s, DEFT_NOT_FOUND, "afile/ck.data-00000-of-00001", "cannot create");
  ck_assert(!deft_bundle_writer_finish(w, s));
  TU_ASSERT_STATUS(s, DEFT_FAILED_PRECONDITION, "already finished");
  ck_assert(!deft_bundle_writer_add(w, "z", t, s));
  TU_ASSERT_STATUS(s, DEFT_FAILED_PRECONDITION, "already finished");
  deft_bundle_writer_free(w);
  if (geteuid() != 0) { /* permissions do not stop root */
    char ro[1040];
    snprintf(ro, sizeof ro, "%s/ro", dir);
    ck_assert_int_eq(mkdir(ro, 0555), 0);
    snprintf(prefix, sizeof prefix, "%s/ck", ro);
    w = deft_bundle_writer_new(prefix, s);
    ck_assert(deft_bundle_writer_add(w, "x", t, s));
    ck_assert(!deft_bundle_writer_finish(w, s));
    TU_ASSERT_STATUS(s, DEFT_FAILED_PRECONDITION, "ro/ck", "Permission denied");
    deft_bundle_writer_free(w);
  }
  /* many keys: the duplicate detector's table grows */
  snprintf(prefix, sizeof prefix, "%s/many", dir);
  w = deft_bundle_writer_new(prefix, s);
  for (int i = 0; i < 300; i++) {
    char key[16];
    snprintf(key, sizeof key, "k%d", i);
    ck_assert(deft_bundle_writer_add(w, key, t, s));
  }
  ck_assert(!deft_bundle_writer_add(w, "k123", t, s));
  TU_ASSERT_STATUS(s, DEFT_INVALID_ARGUMENT, "duplicate", "'k123'");
  ck_assert(deft_bundle_writer_finish(w, s));
  deft_bundle_writer_free(w);
  deft_bundle_reader *r = open_ok(prefix);
  ck_assert_int_eq(deft_bundle_reader_num_entries(r), 300);
  ck_assert(read_scalar(r, "k299") == 5);
  deft_bundle_reader_free(r);
  deft_bundle_writer_free(NULL);
  deft_bundle_reader_free(NULL);
  deft_tensor_free(t);
  deft_status_free(s);
}
END_TEST

/* ---- hand-made bundles for the reader's checks ---- */

static bool file_write_cb(void *ctx, const void *data, size_t n, deft_status *s) {
  return fwrite(data, 1, n, ctx) == n;
}

typedef struct crafted {
  const char *key;
  int dtype, rank, shard;
  int64_t dims[2], offset, size;
  uint32_t crc;
  int nslices;
} crafted;

/* Writes <prefix>.index with the given header fields and entries (keys sorted by the caller). */
static void craft_index(const char *prefix, int num_shards, int endianness, int min_consumer,
                        const crafted *e, int n) {
  char path[1200];
  snprintf(path, sizeof path, "%s.index", prefix);
  FILE *f = fopen(path, "wb");
  ck_assert_ptr_nonnull(f);
  deft_status *s = deft_status_new();
  deft_sstable_builder *b = deft_sstable_builder_new(file_write_cb, f, s);
  Tensorflow__VersionDef v = TENSORFLOW__VERSION_DEF__INIT;
  v.producer = 1;
  v.min_consumer = min_consumer;
  Tensorflow__BundleHeaderProto h = TENSORFLOW__BUNDLE_HEADER_PROTO__INIT;
  h.num_shards = num_shards;
  h.endianness = (Tensorflow__BundleHeaderProto__Endianness)endianness;
  h.version = &v;
  uint8_t buf[256];
  size_t len = tensorflow__bundle_header_proto__pack(&h, buf);
  ck_assert(deft_sstable_builder_add(b, "", 0, buf, len, s));
  for (int i = 0; i < n; i++) {
    Tensorflow__TensorShapeProto__Dim d[2], *dp[2] = {&d[0], &d[1]};
    for (int k = 0; k < 2; k++) {
      tensorflow__tensor_shape_proto__dim__init(&d[k]);
      d[k].size = e[i].dims[k];
    }
    Tensorflow__TensorShapeProto sh = TENSORFLOW__TENSOR_SHAPE_PROTO__INIT;
    sh.n_dim = (size_t)e[i].rank;
    sh.dim = dp;
    Tensorflow__TensorSliceProto slice = TENSORFLOW__TENSOR_SLICE_PROTO__INIT, *slp[1] = {&slice};
    Tensorflow__BundleEntryProto be = TENSORFLOW__BUNDLE_ENTRY_PROTO__INIT;
    be.dtype = (Tensorflow__DataType)e[i].dtype;
    be.shape = &sh;
    be.shard_id = e[i].shard;
    be.offset = e[i].offset;
    be.size = e[i].size;
    be.crc32c = e[i].crc;
    be.n_slices = (size_t)e[i].nslices;
    be.slices = slp;
    len = tensorflow__bundle_entry_proto__pack(&be, buf);
    ck_assert(deft_sstable_builder_add(b, e[i].key, strlen(e[i].key), buf, len, s));
  }
  ck_assert(deft_sstable_builder_finish(b, s));
  deft_sstable_builder_free(b);
  fclose(f);
  deft_status_free(s);
}

static uint32_t masked_crc(const void *p, size_t n) { return deft_crc32c_mask(deft_crc32c(p, n)); }

START_TEST(crafted_bundles) {
  char dir[1024], prefix[1100], path[1200];
  snprintf(dir, sizeof dir, "%s", fresh_dir("crafted"));
  snprintf(prefix, sizeof prefix, "%s/c", dir);
  const float two[2] = {3, 4};
  snprintf(path, sizeof path, "%s.data-00000-of-00001", prefix);
  write_bytes(path, two, 8);
  uint32_t crc = masked_crc(two, 8);
  const crafted entries[] = {
      {"bad_size", 1, 1, 0, {3, 0}, 0, 8, crc, 0},   /* float [3] needs 12 bytes */
      {"far", 1, 1, 0, {2, 0}, 100, 8, crc, 0},      /* beyond the 8-byte file */
      {"h", 19, 1, 0, {4, 0}, 0, 8, crc, 0},         /* DT_HALF */
      {"matrix", 1, 2, 0, {1, 2}, 0, 8, crc, 0},   /* fine: [1,2] */
      {"sliced", 1, 1, 0, {2, 0}, 0, 0, 0, 1},       /* a partitioned variable */
      {"strs", 7, 1, 0, {2, 0}, 0, 8, crc, 0},       /* not valid string data */
  };
  craft_index(prefix, 1, 0, 0, entries, 6);
  deft_status *s = deft_status_new();
  deft_bundle_reader *r = open_ok(prefix);
  ck_assert_int_eq(deft_bundle_reader_num_entries(r), 6);
  deft_dtype dt;
  ck_assert(deft_bundle_reader_lookup(r, "h", &dt, NULL));
  ck_assert_int_eq(dt, 19);
  ck_assert_ptr_null(deft_bundle_reader_read(r, "h", s));
  TU_ASSERT_STATUS(s, DEFT_UNIMPLEMENTED, "'h'", "half", "19");
  ck_assert_ptr_null(deft_bundle_reader_read(r, "sliced", s));
  TU_ASSERT_STATUS(s, DEFT_UNIMPLEMENTED, "'sliced'", "slices");
  ck_assert_ptr_null(deft_bundle_reader_read(r, "bad_size", s));
  TU_ASSERT_STATUS(s, DEFT_DATA_LOSS, "'bad_size'", "size", path);
  ck_assert_ptr_null(deft_bundle_reader_read(r, "far", s));
  TU_ASSERT_STATUS(s, DEFT_DATA_LOSS, "'far'", "beyond the end");
  ck_assert_ptr_null(deft_bundle_reader_read(r, "strs", s));
  TU_ASSERT_STATUS(s, DEFT_DATA_LOSS, "'strs'", path);
  deft_tensor *t = deft_bundle_reader_read(r, "matrix", s);
  ck_assert_ptr_nonnull(t);
  ck_assert(deft_tensor_f32(t)[1] == 4.0f);
  deft_tensor_free(t);
  deft_bundle_reader_free(r);

  /* header checks */
  craft_index(prefix, 1, 1, 0, entries, 1);
  EXPECT_OPEN_ERROR(prefix, DEFT_UNIMPLEMENTED, "big-endian");
  craft_index(prefix, 1, 0, 2, entries, 1);
  EXPECT_OPEN_ERROR(prefix, DEFT_FAILED_PRECONDITION, "min_consumer 2");
  craft_index(prefix, 0, 0, 0, entries, 1);
  EXPECT_OPEN_ERROR(prefix, DEFT_DATA_LOSS, "num_shards = 0");
  const crafted bad_shard[] = {{"x", 1, 1, 3, {2, 0}, 0, 8, crc, 0}};
  craft_index(prefix, 1, 0, 0, bad_shard, 1);
  EXPECT_OPEN_ERROR(prefix, DEFT_DATA_LOSS, "'x'", "shard_id");
  const crafted neg_dim[] = {{"x", 1, 1, 0, {-1, 0}, 0, 8, crc, 0}};
  craft_index(prefix, 1, 0, 0, neg_dim, 1);
  EXPECT_OPEN_ERROR(prefix, DEFT_DATA_LOSS, "'x'", "negative dimension");

  /* no header entry at all */
  snprintf(path, sizeof path, "%s.index", prefix);
  FILE *f = fopen(path, "wb");
  deft_sstable_builder *b = deft_sstable_builder_new(file_write_cb, f, s);
  ck_assert(deft_sstable_builder_add(b, "v", 1, "", 0, s));
  ck_assert(deft_sstable_builder_finish(b, s));
  deft_sstable_builder_free(b);
  fclose(f);
  EXPECT_OPEN_ERROR(prefix, DEFT_DATA_LOSS, "header", path);

  /* two shards */
  const float one[1] = {7};
  const crafted sharded[] = {{"a", 1, 1, 1, {1, 0}, 0, 4, masked_crc(one, 4), 0},
                             {"b", 1, 1, 0, {2, 0}, 0, 8, crc, 0}};
  craft_index(prefix, 2, 0, 0, sharded, 2);
  snprintf(path, sizeof path, "%s.data-00000-of-00002", prefix);
  write_bytes(path, two, 8);
  snprintf(path, sizeof path, "%s.data-00001-of-00002", prefix);
  write_bytes(path, one, 4);
  r = open_ok(prefix);
  t = deft_bundle_reader_read(r, "a", s);
  ck_assert_msg(t != NULL, "%s", deft_status_message(s));
  ck_assert(deft_tensor_f32(t)[0] == 7.0f);
  deft_tensor_free(t);
  t = deft_bundle_reader_read(r, "b", s);
  ck_assert(t != NULL && deft_tensor_f32(t)[1] == 4.0f);
  deft_tensor_free(t);
  deft_bundle_reader_free(r);
  unlink(path);
  EXPECT_OPEN_ERROR(prefix, DEFT_NOT_FOUND, "c.data-00001-of-00002");
  deft_status_free(s);
}
END_TEST

/* ---- corruption loops: no crash, and an error or a valid result ---- */

static void save_small_mixed(const char *prefix) {
  deft_status *s = deft_status_new();
  deft_bundle_writer *w = deft_bundle_writer_new(prefix, s);
  deft_tensor *f = float_tensor((const int64_t[]){3}, 1, (const float[]){1, 2, 3});
  deft_tensor *str = deft_tensor_new(DEFT_STRING, (const int64_t[]){3}, 1, s);
  ck_assert(deft_tensor_set_string(str, 0, "ab", 2, s));
  ck_assert(deft_tensor_set_string(str, 2, "xyz", 3, s));
  deft_tensor *i = deft_tensor_scalar_int64(-9);
  ck_assert(deft_bundle_writer_add(w, "dense/kernel", f, s));
  ck_assert(deft_bundle_writer_add(w, "names", str, s));
  ck_assert(deft_bundle_writer_add(w, "global_step", i, s));
  ck_assert(deft_bundle_writer_finish(w, s));
  deft_bundle_writer_free(w);
  deft_tensor_free(f);
  deft_tensor_free(str);
  deft_tensor_free(i);
  deft_status_free(s);
}

/* Opens prefix and reads everything; returns the number of failed reads, or -1 if open failed. */
static int try_everything(const char *prefix, deft_status *s) {
  deft_bundle_reader *r = deft_bundle_reader_open(prefix, s);
  if (!r) {
    deft_code c = deft_status_code(s);
    ck_assert_msg(c == DEFT_DATA_LOSS || c == DEFT_NOT_FOUND || c == DEFT_UNIMPLEMENTED ||
                  c == DEFT_FAILED_PRECONDITION || c == DEFT_RESOURCE_EXHAUSTED,
                  "unexpected %s: %s", deft_code_name(c), deft_status_message(s));
    ck_assert(strlen(deft_status_message(s)) > 0);
    return -1;
  }
  int failed = 0;
  for (int k = 0; k < deft_bundle_reader_num_entries(r); k++) {
    deft_tensor *t = deft_bundle_reader_read(r, deft_bundle_reader_key(r, k), s);
    if (!t) {
      failed++;
      deft_code c = deft_status_code(s);
      ck_assert_msg(c == DEFT_DATA_LOSS || c == DEFT_UNIMPLEMENTED || c == DEFT_RESOURCE_EXHAUSTED,
                    "%s", deft_status_message(s));
    }
    deft_tensor_free(t);
  }
  deft_bundle_reader_free(r);
  return failed;
}

START_TEST(corruption_loop_index) {
  char dir[1024], good[1100], bad[1100], path[1200];
  snprintf(dir, sizeof dir, "%s", fresh_dir("fuzz"));
  snprintf(good, sizeof good, "%s/good", dir);
  snprintf(bad, sizeof bad, "%s/bad", dir);
  save_small_mixed(good);
  snprintf(path, sizeof path, "%s.data-00000-of-00001", good);
  size_t dlen, ilen;
  unsigned char *data = read_bytes(path, &dlen);
  snprintf(path, sizeof path, "%s.data-00000-of-00001", bad);
  write_bytes(path, data, dlen);
  snprintf(path, sizeof path, "%s.index", good);
  unsigned char *index = read_bytes(path, &ilen);
  snprintf(path, sizeof path, "%s.index", bad);
  deft_status *s = deft_status_new();
  int opened = 0;
  const unsigned char flips[] = {0x01, 0x80, 0xff};
  for (size_t pos = 0; pos < ilen; pos++) {
    for (size_t k = 0; k < sizeof flips; k++) {
      index[pos] ^= flips[k];
      write_bytes(path, index, ilen);
      index[pos] ^= flips[k];
      int r = try_everything(bad, s);
      if (r >= 0) opened++;
      /* every byte before the footer's zero padding is covered by a CRC or is a handle */
      if (pos < ilen - 48) ck_assert_msg(r == -1, "flip at %zu was not detected", pos);
    }
  }
  ck_assert_int_gt(opened, 0); /* flips in the footer padding are harmless */
  for (size_t n = 0; n < ilen; n++) {
    write_bytes(path, index, n);
    ck_assert_int_eq(try_everything(bad, s), -1);
    ck_assert_int_eq(deft_status_code(s), DEFT_DATA_LOSS);
  }
  /* the same through the in-memory table reader, with every single-bit flip */
  for (size_t pos = 0; pos < ilen; pos++)
    for (int bit = 0; bit < 8; bit++) {
      index[pos] ^= (unsigned char)(1 << bit);
      deft_sstable_free(deft_sstable_open_buffer(index, ilen, "mem", s));
      index[pos] ^= (unsigned char)(1 << bit);
    }
  free(index);
  free(data);
  deft_status_free(s);
}
END_TEST

START_TEST(corruption_loop_data) {
  char good[1100], path[1200];
  snprintf(good, sizeof good, "%s/good", fresh_dir("fuzzdata"));
  save_small_mixed(good);
  snprintf(path, sizeof path, "%s.data-00000-of-00001", good);
  size_t len;
  unsigned char *data = read_bytes(path, &len);
  deft_status *s = deft_status_new();
  ck_assert_int_eq(try_everything(good, s), 0);
  for (size_t pos = 0; pos < len; pos++) {
    data[pos] ^= 0x11;
    write_bytes(path, data, len);
    data[pos] ^= 0x11;
    /* each byte belongs to exactly one tensor, and the CRC catches the change */
    ck_assert_int_eq(try_everything(good, s), 1);
  }
  for (size_t n = 0; n < len; n++) {
    write_bytes(path, data, n);
    ck_assert_int_ge(try_everything(good, s), 1);
  }
  free(data);
  deft_status_free(s);
}
END_TEST

START_TEST(out_of_memory_paths) {
  char dir[1024], prefix[1100];
  snprintf(dir, sizeof dir, "%s", fresh_dir("oom"));
  snprintf(prefix, sizeof prefix, "%s/oom", dir);
  save_small_mixed(prefix);
  deft_status *s = deft_status_new();
  for (long n = 0;; n++) { /* reader: every allocation failure is reported, nothing leaks */
    deft_alloc_fail_after(n);
    int r = try_everything(prefix, s);
    deft_alloc_fail_after(-1);
    if (r == 0) break;
    ck_assert_int_lt(n, 10000);
  }
  for (long n = 0;; n++) { /* reader, checking the codes */
    deft_alloc_fail_after(n);
    deft_bundle_reader *r = deft_bundle_reader_open(prefix, s);
    deft_alloc_fail_after(-1);
    if (r) {
      deft_bundle_reader_free(r);
      break;
    }
    TU_ASSERT_STATUS(s, DEFT_RESOURCE_EXHAUSTED, "out of memory");
  }
  deft_tensor *t = deft_tensor_scalar_string("abc");
  for (long n = 0;; n++) { /* writer */
    deft_alloc_fail_after(n);
    deft_bundle_writer *w = deft_bundle_writer_new(prefix, s);
    bool ok = w && deft_bundle_writer_add(w, "k", t, s) && deft_bundle_writer_finish(w, s);
    deft_bundle_writer_free(w);
    deft_alloc_fail_after(-1);
    if (ok) break;
    TU_ASSERT_STATUS(s, DEFT_RESOURCE_EXHAUSTED, "out of memory");
    ck_assert_int_eq(count_temp_files(dir), 0);
  }
  deft_tensor_free(t);
  deft_status_free(s);
}
END_TEST

/* ---- the `checkpoint` state file ---- */

START_TEST(state_write_exact_and_read_back) {
  char dir[1024], path[1100];
  snprintf(dir, sizeof dir, "%s", fresh_dir("state"));
  deft_status *s = deft_status_new();
  const char *all[] = {"model.ckpt"};
  ck_assert(deft_checkpoint_state_write(dir, "model.ckpt", all, 1, s));
  snprintf(path, sizeof path, "%s/checkpoint", dir);
  size_t len;
  unsigned char *b = read_bytes(path, &len);
  static const char tf110[] = "model_checkpoint_path: \"model.ckpt\"\n"
                              "all_model_checkpoint_paths: \"model.ckpt\"\n";
  ck_assert_int_eq(len, 77); /* TF_FORMATS 4.7 */
  ck_assert_mem_eq(b, tf110, 77);
  free(b);
  char *model, **paths;
  int n;
  ck_assert(deft_checkpoint_state_read(dir, &model, &paths, &n, s));
  char want[1200];
  snprintf(want, sizeof want, "%s/model.ckpt", dir); /* relative: joined onto dir */
  ck_assert_str_eq(model, want);
  ck_assert_int_eq(n, 1);
  ck_assert_str_eq(paths[0], want);
  deft_checkpoint_state_free(model, paths, n);

  /* escapes, absolute paths, several entries */
  const char *odd[] = {"/abs/a\"b", "rel\\x", "new\nline", "caf\xc3\xa9\t'q'"};
  ck_assert(deft_checkpoint_state_write(dir, odd[3], odd, 4, s));
  b = read_bytes(path, &len);
  b = realloc(b, len + 1);
  b[len] = 0;
  ck_assert_ptr_nonnull(strstr((char *)b, "\"/abs/a\\\"b\""));
  ck_assert_ptr_nonnull(strstr((char *)b, "\"rel\\\\x\""));
  ck_assert_ptr_nonnull(strstr((char *)b, "\"new\\nline\""));
  ck_assert_ptr_nonnull(strstr((char *)b, "\"caf\\303\\251\\t\\'q\\'\""));
  free(b);
  ck_assert(deft_checkpoint_state_read(dir, &model, &paths, &n, s));
  ck_assert_int_eq(n, 4);
  ck_assert_str_eq(paths[0], odd[0]);
  for (int i = 1; i < 4; i++) {
    snprintf(want, sizeof want, "%s/%s", dir, odd[i]);
    ck_assert_str_eq(paths[i], want);
  }
  ck_assert_str_eq(model, paths[3]);
  deft_checkpoint_state_free(model, paths, n);
  ck_assert_int_eq(count_temp_files(dir), 0);

  /* an injected write failure leaves the previous state file alone */
  deft_bundle_test_fail_after_bytes(10);
  ck_assert(!deft_checkpoint_state_write(dir, "other", NULL, 0, s));
  deft_bundle_test_fail_after_bytes(-1);
  TU_ASSERT_STATUS(s, DEFT_INTERNAL, "injected", "checkpoint.tmp");
  ck_assert_int_eq(count_temp_files(dir), 0);
  ck_assert(deft_checkpoint_state_read(dir, &model, NULL, NULL, s));
  ck_assert_str_eq(model, want);
  deft_free(model);
  ck_assert(!deft_checkpoint_state_write(dir, NULL, NULL, 0, s));
  TU_ASSERT_STATUS(s, DEFT_INVALID_ARGUMENT, "missing");
  deft_status_free(s);
}
END_TEST

START_TEST(state_read_variants) {
  char dir[1024], path[1100];
  snprintf(dir, sizeof dir, "%s", fresh_dir("statevar"));
  snprintf(path, sizeof path, "%s/checkpoint", dir);
  static const char text[] =
      "# a comment\n"
      "model_checkpoint_path: '/m/ckpt-2'\n"
      "all_model_checkpoint_paths: \"/m/ck\" \"pt-1\"\n"  /* adjacent strings concatenate */
      "all_model_checkpoint_paths: \"/m/\\x41\\102\\?\"\n"
      "all_model_checkpoint_timestamps: 1571234567.123\n"
      "all_model_checkpoint_timestamps: [1571234568, 1e9]\n"
      "last_preserved_timestamp: 1571234500.5\n"
      "all_model_checkpoint_paths: [ \"/l1\", '/l2' ]\n";
  write_bytes(path, text, sizeof text - 1);
  deft_status *s = deft_status_new();
  char *model, **paths;
  int n;
  ck_assert_msg(deft_checkpoint_state_read(dir, &model, &paths, &n, s), "%s",
                deft_status_message(s));
  ck_assert_str_eq(model, "/m/ckpt-2");
  ck_assert_int_eq(n, 4);
  ck_assert_str_eq(paths[0], "/m/ckpt-1");
  ck_assert_str_eq(paths[1], "/m/AB?");
  ck_assert_str_eq(paths[2], "/l1");
  ck_assert_str_eq(paths[3], "/l2");
  deft_checkpoint_state_free(model, paths, n);
  deft_checkpoint_state_free(NULL, NULL, 0);
  deft_status_free(s);
}
END_TEST

START_TEST(state_corrupt_files) {
  char dir[1024], path[1100];
  snprintf(dir, sizeof dir, "%s", fresh_dir("statebad"));
  snprintf(path, sizeof path, "%s/checkpoint", dir);
  static const struct {
    const char *text, *kw1, *kw2;
  } cases[] = {
      {"model_checkpoint_path \"x\"\n", "byte offset 22", "':'"},
      {"model_checkpoint_path: \"x\n\"\n", "byte offset 25", "newline"},
      {"model_checkpoint_path: \"unterminated", "byte offset", "unterminated"},
      {"bogus_field: \"x\"\n", "byte offset 13", "unknown field 'bogus_field'"},
      {"all_model_checkpoint_paths: \"a\"\n", "no model_checkpoint_path", ""},
      {"model_checkpoint_path: \"a\\q\"", "byte offset", "escape"},
      {"model_checkpoint_path: \"a\"\nmodel_checkpoint_path: \"b\"", "byte offset", "twice"},
      {"model_checkpoint_path: x", "byte offset 23", "quoted string"},
      {"model_checkpoint_path: \"a\\0b\"", "byte offset", "NUL"},
      {"\x01\x02garbage", "byte offset 0", "field name"},
      {"", "no model_checkpoint_path", ""},
  };
  deft_status *s = deft_status_new();
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    write_bytes(path, cases[i].text, strlen(cases[i].text));
    char *model = (char *)"untouched";
    ck_assert_msg(!deft_checkpoint_state_read(dir, &model, NULL, NULL, s), "case %zu", i);
    TU_ASSERT_STATUS(s, DEFT_DATA_LOSS, path, cases[i].kw1, cases[i].kw2);
    ck_assert_str_eq(model, "untouched");
    ck_assert_ptr_null(deft_latest_checkpoint(dir, s));
    ck_assert_int_eq(deft_status_code(s), DEFT_DATA_LOSS);
  }
  unlink(path);
  char *model;
  ck_assert(!deft_checkpoint_state_read(dir, &model, NULL, NULL, s));
  TU_ASSERT_STATUS(s, DEFT_NOT_FOUND, path);
  ck_assert_ptr_null(deft_latest_checkpoint(dir, s));
  TU_ASSERT_STATUS(s, DEFT_NOT_FOUND, path);
  deft_status_free(s);
}
END_TEST

START_TEST(state_real_and_latest) {
  TU_REQUIRE_SHARED(kdir, "tf1/KKeishiro__hands-on-machine-learning/186368e3");
  char dir[1024], want[1100];
  snprintf(dir, sizeof dir, "%s", kdir);
  deft_status *s = deft_status_new();
  char *model, **paths;
  int n;
  ck_assert_msg(deft_checkpoint_state_read(dir, &model, &paths, &n, s), "%s",
                deft_status_message(s));
  snprintf(want, sizeof want, "%s/my_new_model_final.ckpt", dir);
  ck_assert_str_eq(model, want);
  ck_assert_int_eq(n, 1);
  ck_assert_str_eq(paths[0], want);
  deft_checkpoint_state_free(model, paths, n);
  char *latest = deft_latest_checkpoint(dir, s);
  ck_assert_msg(latest != NULL, "%s", deft_status_message(s));
  ck_assert_str_eq(latest, want);
  deft_bundle_reader *r = open_ok(latest); /* and it is a readable checkpoint */
  ck_assert_int_eq(read_all(r), 12);
  deft_bundle_reader_free(r);
  deft_free(latest);

  /* a state file naming a checkpoint whose .index is gone */
  snprintf(dir, sizeof dir, "%s", fresh_dir("latest"));
  const char *all[] = {"gone.ckpt"};
  ck_assert(deft_checkpoint_state_write(dir, "gone.ckpt", all, 1, s));
  ck_assert_ptr_null(deft_latest_checkpoint(dir, s));
  TU_ASSERT_STATUS(s, DEFT_NOT_FOUND, "gone.ckpt.index");
  char prefix[1100];
  snprintf(prefix, sizeof prefix, "%s/gone.ckpt", dir);
  save_example(prefix);
  latest = deft_latest_checkpoint(dir, s);
  ck_assert_ptr_nonnull(latest);
  ck_assert_str_eq(latest, prefix);
  deft_free(latest);
  deft_status_free(s);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("checkpoint");
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
  tc = tcase_create("atomic");
  tcase_add_test(tc, atomic_save_failure_keeps_previous);
  tcase_add_test(tc, atomic_rename_failure_restores_data);
  suite_add_tcase(s, tc);
  tc = tcase_create("errors");
  tcase_add_test(tc, error_missing_and_damaged_index);
  tcase_add_test(tc, error_data_and_keys);
  tcase_add_test(tc, error_writer_misuse_and_unwritable);
  tcase_add_test(tc, crafted_bundles);
  tcase_add_test(tc, corruption_loop_index);
  tcase_add_test(tc, corruption_loop_data);
  tcase_add_test(tc, out_of_memory_paths);
  suite_add_tcase(s, tc);
  tc = tcase_create("state");
  tcase_add_test(tc, state_write_exact_and_read_back);
  tcase_add_test(tc, state_read_variants);
  tcase_add_test(tc, state_corrupt_files);
  tcase_add_test(tc, state_real_and_latest);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return tu_run_suite(suite()); }
