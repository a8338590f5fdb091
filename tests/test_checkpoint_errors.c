/* SPDX-License-Identifier: Apache-2.0 */
/* tests/test_checkpoint_errors.c - V2 checkpoint bundles when things go wrong: atomic saves
 * under injected write and rename failures, missing, damaged and hand-crafted .index and
 * .data files, writer misuse, exhaustive corruption loops and allocation failures. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkpoint_testutil.h"
#include "base/alloc.h"
#include "proto/bundle.h"
#include "base/crc32c.h"
#include "proto/sstable.h"
#include "base/tensor_internal.h"
#include "tensor_bundle.pb-c.h"
#include "testutil.h"

/* ---- helpers ---- */

static bool file_exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

/* ---- atomic saves ---- */

/* Saves version `version` of the test bundle at prefix with w's files through io (NULL: no
 * faults); returns what finish returned. */
static bool save_version(const char *prefix, int version, bool extra, const deft_io_hooks *io,
                         deft_status *s) {
  float v[1000];
  for (int i = 0; i < 1000; i++) v[i] = (float)(i * version);
  deft_tensor *w = cku_float_tensor((const int64_t[]){1000}, 1, v);
  deft_tensor *str = deft_tensor_scalar_string(version == 1 ? "old" : "new");
  deft_bundle_writer *bw = deft_bundle_writer_new(prefix, s);
  deft_bundle_writer_set_io(bw, io);
  ck_assert(deft_bundle_writer_add(bw, "w", w, s));
  ck_assert(deft_bundle_writer_add(bw, "s", str, s));
  if (extra) ck_assert(deft_bundle_writer_add(bw, "extra", str, s));
  bool ok = deft_bundle_writer_finish(bw, s);
  deft_bundle_writer_free(bw);
  deft_tensor_free(w);
  deft_tensor_free(str);
  return ok;
}

static void assert_version(const char *prefix, int version, int entries) {
  deft_bundle_reader *r = cku_open_ok(prefix);
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

/* Each create, write, fsync, rename and unlink of a save fails in turn (through the writer's
 * I/O hooks, an object: nothing process-wide): a failed save leaves the previous version whole
 * and no temporary file; a save whose failed call was only best effort is complete. */
START_TEST(atomic_save_failure_keeps_previous) {
  const char *d = cku_fresh_dir("atomic");
  char dir[1024], prefix[1100];
  snprintf(dir, sizeof dir, "%s", d);
  snprintf(prefix, sizeof prefix, "%s/model.ckpt", dir);
  deft_status *s = deft_status_new();
  bool seen[DEFT_IO_UNLINK + 1] = {false};
  int k;
  for (k = 0; k < 200; k++) {
    ck_assert_msg(save_version(prefix, 1, false, NULL, s), "%s", deft_status_message(s));
    cku_fault_plan f = {k, 0, false, DEFT_IO_CREATE};
    deft_io_hooks io = {cku_fault, &f};
    deft_status_clear(s);
    bool ok = save_version(prefix, 2, true, &io, s);
    if (f.fired && f.failed_call == DEFT_IO_UNLINK) {
      /* the one unlink is of the backup link to the previous data file, after the new files
       * are in place: best effort, so the save stands and that backup (a .tempstate name) is
       * what is left */
      ck_assert_msg(ok, "call %d: %s", k, deft_status_message(s));
      ck_assert_int_le(cku_count_temp_files(dir), 1);
      char cmd[1200];
      snprintf(cmd, sizeof cmd, "rm -f %s/*tempstate*", dir);
      ck_assert_int_eq(system(cmd), 0);
    }
    ck_assert_msg(cku_count_temp_files(dir) == 0, "call %d (kind %d) failed, save %d: %s", k,
                  f.failed_call, ok, deft_status_message(s));
    if (!f.fired) { /* every call has failed once: now the save goes through */
      ck_assert_msg(ok, "%s", deft_status_message(s));
      assert_version(prefix, 2, 3);
      break;
    }
    seen[f.failed_call] = true;
    if (ok) {
      assert_version(prefix, 2, 3);
    } else {
      ck_assert_msg(strstr(deft_status_message(s), "model.ckpt"), "call %d: %s", k,
                    deft_status_message(s));
      assert_version(prefix, 1, 2);
    }
  }
  ck_assert_int_lt(k, 200);
  ck_assert(seen[DEFT_IO_CREATE] && seen[DEFT_IO_WRITE] && seen[DEFT_IO_FSYNC] &&
            seen[DEFT_IO_RENAME] && seen[DEFT_IO_UNLINK]);
  deft_status_free(s);
}
END_TEST

START_TEST(atomic_rename_failure_restores_data) {
  const char *d = cku_fresh_dir("rename");
  char dir[1024], prefix[1100], path[1200];
  snprintf(dir, sizeof dir, "%s", d);
  snprintf(prefix, sizeof prefix, "%s/ck", dir);
  snprintf(path, sizeof path, "%s.data-00000-of-00001", prefix);
  cku_write_bytes(path, "OLD", 3);
  snprintf(path, sizeof path, "%s.index", prefix); /* a non-empty directory: rename onto it fails */
  ck_assert_int_eq(mkdir(path, 0755), 0);
  snprintf(path, sizeof path, "%s.index/x", prefix);
  cku_write_bytes(path, "x", 1);
  deft_status *s = deft_status_new();
  int64_t dims[1] = {2};
  deft_tensor *t = cku_float_tensor(dims, 1, (const float[]){1, 2});
  deft_bundle_writer *w = deft_bundle_writer_new(prefix, s);
  ck_assert(deft_bundle_writer_add(w, "v", t, s));
  ck_assert(!deft_bundle_writer_finish(w, s));
  ck_assert_int_ne(deft_status_code(s), DEFT_OK);
  ck_assert_ptr_nonnull(strstr(deft_status_message(s), "ck.index"));
  deft_bundle_writer_free(w);
  snprintf(path, sizeof path, "%s.data-00000-of-00001", prefix);
  size_t len;
  unsigned char *b = cku_read_bytes(path, &len);
  ck_assert_int_eq(len, 3);
  ck_assert_mem_eq(b, "OLD", 3);
  free(b);
  ck_assert_int_eq(cku_count_temp_files(dir), 0);
  /* without a previous data file, none is left behind */
  unlink(path);
  w = deft_bundle_writer_new(prefix, s);
  ck_assert(deft_bundle_writer_add(w, "v", t, s));
  ck_assert(!deft_bundle_writer_finish(w, s));
  deft_bundle_writer_free(w);
  ck_assert(!file_exists(path));
  ck_assert_int_eq(cku_count_temp_files(dir), 0);
  deft_tensor_free(t);
  deft_status_free(s);
}
END_TEST

/* ---- error paths ---- */

/* Saves the worked example at <dir>/P and returns the prefix (static buffer). */
static const char *example_in(const char *name) {
  static char prefix[1100];
  snprintf(prefix, sizeof prefix, "%s/P", cku_fresh_dir(name));
  cku_save_example(prefix);
  return prefix;
}

/* Rewrites byte `at` of file path (xor with x), or truncates it to `at` bytes when x is 0. */
static void damage(const char *path, size_t at, unsigned char x) {
  size_t len;
  unsigned char *b = cku_read_bytes(path, &len);
  ck_assert_ptr_nonnull(b);
  if (x) {
    ck_assert_int_lt(at, len);
    b[at] ^= x;
  }
  cku_write_bytes(path, b, x ? len : at);
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
  snprintf(prefix, sizeof prefix, "%s/nothing", cku_fresh_dir("missing"));
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
  unsigned char *b = cku_read_bytes(index, &len);
  memset(b + 73, 0xff, 40); /* footer handles: a varint that never ends */
  cku_write_bytes(index, b, len);
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
  deft_bundle_reader *r = cku_open_ok(prefix);
  ck_assert_ptr_null(deft_bundle_reader_read(r, "v", s));
  TU_ASSERT_STATUS(s, DEFT_DATA_LOSS, "checkpoint tensor 'v'", data, "crc32c mismatch");
  ck_assert_ptr_null(deft_bundle_reader_read(r, "dense/kernel", s));
  TU_ASSERT_STATUS(s, DEFT_NOT_FOUND, "'dense/kernel'");
  ck_assert(!deft_bundle_reader_lookup(r, "dense/kernel", NULL, NULL));
  ck_assert(!deft_bundle_reader_lookup(r, "", NULL, NULL)); /* the header is not a tensor */
  deft_bundle_reader_free(r);

  damage(data, 4, 0); /* shorter than the entry says */
  r = cku_open_ok(prefix);
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
  snprintf(dir, sizeof dir, "%s", cku_fresh_dir("misuse"));
  snprintf(prefix, sizeof prefix, "%s/afile", dir);
  cku_write_bytes(prefix, "x", 1);
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
  deft_bundle_reader *r = cku_open_ok(prefix);
  ck_assert_int_eq(deft_bundle_reader_num_entries(r), 300);
  ck_assert(cku_read_scalar(r, "k299") == 5);
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
  snprintf(dir, sizeof dir, "%s", cku_fresh_dir("crafted"));
  snprintf(prefix, sizeof prefix, "%s/c", dir);
  const float two[2] = {3, 4};
  snprintf(path, sizeof path, "%s.data-00000-of-00001", prefix);
  cku_write_bytes(path, two, 8);
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
  deft_bundle_reader *r = cku_open_ok(prefix);
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
  cku_write_bytes(path, two, 8);
  snprintf(path, sizeof path, "%s.data-00001-of-00002", prefix);
  cku_write_bytes(path, one, 4);
  r = cku_open_ok(prefix);
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
  deft_tensor *f = cku_float_tensor((const int64_t[]){3}, 1, (const float[]){1, 2, 3});
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

/* The crc32c of n zero bytes in O(log n) agrees with the byte-by-byte checksum. */
START_TEST(crc_of_zeros) {
  static unsigned char z[100000];
  uint64_t lens[] = {0, 1, 7, 255, 1024, 1025, 4096, 65536, 99999};
  for (size_t k = 0; k < sizeof lens / sizeof *lens; k++)
    for (uint32_t seed = 0; seed < 3; seed++) {
      uint32_t c0 = deft_crc32c("abc", seed);
      ck_assert_uint_eq(deft_crc32c_extend_zeros(c0, lens[k]),
                        deft_crc32c_extend(c0, z, (size_t)lens[k]));
    }
}
END_TEST

/* Writes the DT_STRING entry bytes of TF_FORMATS 4.2 for `n` strings, string i of length
 * len_of(i) filled with 'a' + i % 26, to f at its end; returns the entry's masked crc32c (over
 * the uint32 LE lengths, the masked lengths checksum, the bytes), computed here byte by byte. */
static uint32_t write_string_entry(FILE *f, int64_t n, size_t (*len_of)(int64_t),
                                   bool bad_lengths_crc) {
  uint32_t lcrc = 0;
  for (int64_t i = 0; i < n; i++) {
    size_t len = len_of(i);
    unsigned char v[10], le[4] = {(unsigned char)len, (unsigned char)(len >> 8),
                                  (unsigned char)(len >> 16), (unsigned char)(len >> 24)};
    size_t nv = 0;
    for (size_t x = len;; x >>= 7) {
      v[nv++] = (unsigned char)(x >= 0x80 ? (x & 0x7f) | 0x80 : x);
      if (x < 0x80) break;
    }
    ck_assert_uint_eq(fwrite(v, 1, nv, f), nv);
    lcrc = deft_crc32c_extend(lcrc, le, 4);
  }
  uint32_t m = deft_crc32c_mask(lcrc) ^ (bad_lengths_crc ? 1u : 0u);
  unsigned char mb[4] = {(unsigned char)m, (unsigned char)(m >> 8), (unsigned char)(m >> 16),
                         (unsigned char)(m >> 24)};
  uint32_t crc = deft_crc32c_extend(lcrc, mb, 4);
  ck_assert_uint_eq(fwrite(mb, 1, 4, f), 4);
  for (int64_t i = 0; i < n; i++) {
    char buf[64];
    size_t len = len_of(i);
    memset(buf, 'a' + (int)(i % 26), len);
    crc = deft_crc32c_extend(crc, buf, len);
    ck_assert_uint_eq(fwrite(buf, 1, len, f), len);
  }
  return deft_crc32c_mask(crc);
}

/* Mostly empty strings, a few of length 3 among them and at the end. */
static size_t sparse_len(int64_t i) { return i % 100003 == 5 || i == (1 << 20) - 1 ? 3 : 0; }

/* A string entry is verified streaming from the file before anything of its size is
 * allocated: a hostile index claiming 2^27 strings over a sparse data file fails its crc with a
 * few MB allocated (it took 24 s and 6.4 GB); a genuine entry of 2^20 mostly empty strings
 * (checksums extended over runs of zeros) still reads back exactly. */
START_TEST(string_entry_verified_before_allocating) {
  char dir[1024], prefix[1100], path[1200];
  snprintf(dir, sizeof dir, "%s", cku_fresh_dir("strbound"));
  snprintf(prefix, sizeof prefix, "%s/c", dir);
  snprintf(path, sizeof path, "%s.data-00000-of-00001", prefix);
  FILE *f = fopen(path, "wb");
  ck_assert_ptr_nonnull(f);
  int64_t n = 1 << 20;
  uint32_t crc = write_string_entry(f, n, sparse_len, false);
  int64_t size = ftell(f);
  uint32_t crc2 = write_string_entry(f, 1000, sparse_len, true); /* entry crc right, lengths' not */
  int64_t size2 = ftell(f) - size;
  fclose(f);
  int64_t big = (int64_t)1 << 27;
  ck_assert_int_eq(truncate(path, size + size2 + big + 4), 0); /* a hole after the entries */
  crafted e[] = {{"big", DEFT_STRING, 1, 0, {big, 0}, size + size2, big + 4, 12345, 0},
                 {"t", DEFT_STRING, 1, 0, {n, 0}, 0, size, crc, 0},
                 {"u", DEFT_STRING, 1, 0, {1000, 0}, size, size2, crc2, 0}};
  craft_index(prefix, 1, 0, 0, e, 3);
  deft_status *s = deft_status_new();
  deft_bundle_reader *r = deft_bundle_reader_open(prefix, s);
  ck_assert_msg(r != NULL, "%s", deft_status_message(s));
  deft_alloc_hooks h = {-1, false, 0, 0};
  deft_alloc_hooks *old = deft_alloc_hooks_set(&h);
  deft_tensor *t = deft_bundle_reader_read(r, "big", s);
  deft_alloc_hooks_set(old);
  ck_assert_ptr_null(t);
  TU_ASSERT_STATUS(s, DEFT_DATA_LOSS, "'big'", "crc32c mismatch");
  ck_assert_uint_lt(h.bytes, (unsigned long long)4 << 20);
  ck_assert_int_lt(h.count, 10);
  t = deft_bundle_reader_read(r, "t", s);
  ck_assert_msg(t != NULL, "%s", deft_status_message(s));
  ck_assert_int_eq(deft_tensor_num_elements(t), n);
  const deft_bytes *str = deft_tensor_str(t);
  for (int64_t i = 0; i < n; i++) {
    ck_assert_uint_eq(str[i].len, sparse_len(i));
    for (size_t k = 0; k < str[i].len; k++) ck_assert_int_eq(str[i].data[k], 'a' + i % 26);
  }
  deft_tensor_free(t);
  ck_assert_ptr_null(deft_bundle_reader_read(r, "u", s));
  TU_ASSERT_STATUS(s, DEFT_DATA_LOSS, "'u'", "string lengths checksum mismatch");
  deft_bundle_reader_free(r);
  deft_status_free(s);
}
END_TEST

START_TEST(corruption_loop_index) {
  char dir[1024], good[1100], bad[1100], path[1200];
  snprintf(dir, sizeof dir, "%s", cku_fresh_dir("fuzz"));
  snprintf(good, sizeof good, "%s/good", dir);
  snprintf(bad, sizeof bad, "%s/bad", dir);
  save_small_mixed(good);
  snprintf(path, sizeof path, "%s.data-00000-of-00001", good);
  size_t dlen, ilen;
  unsigned char *data = cku_read_bytes(path, &dlen);
  snprintf(path, sizeof path, "%s.data-00000-of-00001", bad);
  cku_write_bytes(path, data, dlen);
  snprintf(path, sizeof path, "%s.index", good);
  unsigned char *index = cku_read_bytes(path, &ilen);
  snprintf(path, sizeof path, "%s.index", bad);
  deft_status *s = deft_status_new();
  int opened = 0;
  const unsigned char flips[] = {0x01, 0x80, 0xff};
  for (size_t pos = 0; pos < ilen; pos++) {
    for (size_t k = 0; k < sizeof flips; k++) {
      index[pos] ^= flips[k];
      cku_write_bytes(path, index, ilen);
      index[pos] ^= flips[k];
      int r = try_everything(bad, s);
      if (r >= 0) opened++;
      /* every byte before the footer's zero padding is covered by a CRC or is a handle */
      if (pos < ilen - 48) ck_assert_msg(r == -1, "flip at %zu was not detected", pos);
    }
  }
  ck_assert_int_gt(opened, 0); /* flips in the footer padding are harmless */
  for (size_t n = 0; n < ilen; n++) {
    cku_write_bytes(path, index, n);
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
  snprintf(good, sizeof good, "%s/good", cku_fresh_dir("fuzzdata"));
  save_small_mixed(good);
  snprintf(path, sizeof path, "%s.data-00000-of-00001", good);
  size_t len;
  unsigned char *data = cku_read_bytes(path, &len);
  deft_status *s = deft_status_new();
  ck_assert_int_eq(try_everything(good, s), 0);
  for (size_t pos = 0; pos < len; pos++) {
    data[pos] ^= 0x11;
    cku_write_bytes(path, data, len);
    data[pos] ^= 0x11;
    /* each byte belongs to exactly one tensor, and the CRC catches the change */
    ck_assert_int_eq(try_everything(good, s), 1);
  }
  for (size_t n = 0; n < len; n++) {
    cku_write_bytes(path, data, n);
    ck_assert_int_ge(try_everything(good, s), 1);
  }
  free(data);
  deft_status_free(s);
}
END_TEST

START_TEST(out_of_memory_paths) {
  char dir[1024], prefix[1100];
  snprintf(dir, sizeof dir, "%s", cku_fresh_dir("oom"));
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
    ck_assert_int_eq(cku_count_temp_files(dir), 0);
  }
  deft_tensor_free(t);
  deft_status_free(s);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("checkpoint_errors");
  TCase *tc = tcase_create("atomic");
  tcase_add_test(tc, atomic_save_failure_keeps_previous);
  tcase_add_test(tc, atomic_rename_failure_restores_data);
  suite_add_tcase(s, tc);
  tc = tcase_create("errors");
  tcase_add_test(tc, error_missing_and_damaged_index);
  tcase_add_test(tc, error_data_and_keys);
  tcase_add_test(tc, error_writer_misuse_and_unwritable);
  tcase_add_test(tc, crafted_bundles);
  tcase_add_test(tc, crc_of_zeros);
  tcase_add_test(tc, string_entry_verified_before_allocating);
  tcase_add_test(tc, corruption_loop_index);
  tcase_add_test(tc, corruption_loop_data);
  tcase_add_test(tc, out_of_memory_paths);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return tu_run_suite(suite()); }
