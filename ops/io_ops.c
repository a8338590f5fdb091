/* SPDX-License-Identifier: Apache-2.0 */
/* ops/io_ops.c - the saver's ops, as TF's Saver graph uses them: SaveV2 and RestoreV2 (V2
 * checkpoints through proto/bundle.h), RestoreSlice and Restore (TF <= 0.12's, reading V1
 * checkpoints too), MergeV2Checkpoints, ShardedFilename and StringJoin. */
#include <errno.h>
#include <glob.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "deft/ops.h"
#include "ops/op_build.h"
#include "ops/op_def.h"
#include "base/alloc.h"
#include "proto/bundle.h"
#include "base/tensor_internal.h"

/* Parameter blocks the prepare steps fill (attrs are owned by the graph, which outlives plans). */
typedef struct {
  const deft_dtype *types; /* RestoreV2's dtypes */
  int ntypes;
} restore_params;
typedef struct {
  bool delete_old_dirs;
} merge_params;
typedef struct {
  const char *sep; /* StringJoin's separator */
  size_t seplen;
} join_params;

static bool scalar_string(deft_kernel_ctx *c, int i, const char *what, const char **out) {
  const deft_tensor *t = deft_kernel_input(c, i);
  if (t->dtype != DEFT_STRING || t->n != 1) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "input %d (%s) must be a string scalar", i, what);
    return false;
  }
  *out = deft_tensor_string(t, 0, NULL);
  return true;
}

/* tensor_names and shape_and_slices: string vectors of length n; slices must be "" (deft does
 * not support partitioned variables). */
static bool names_and_slices(deft_kernel_ctx *c, int64_t n, const deft_tensor **names) {
  const deft_tensor *nm = deft_kernel_input(c, 1), *sl = deft_kernel_input(c, 2);
  if (nm->dtype != DEFT_STRING || sl->dtype != DEFT_STRING || nm->n != n || sl->n != n) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT,
                     "tensor_names and shape_and_slices must be string vectors of %" PRId64
                     " elements (got %" PRId64 " and %" PRId64 ")", n, nm->n, sl->n);
    return false;
  }
  for (int64_t i = 0; i < n; i++) {
    size_t len;
    deft_tensor_string(sl, i, &len);
    if (len) {
      deft_kernel_fail(c, DEFT_UNIMPLEMENTED,
                       "tensor '%s' is a slice of a partitioned variable; deft reads and writes "
                       "whole tensors only", deft_tensor_string(nm, i, NULL));
      return false;
    }
  }
  *names = nm;
  return true;
}

/* Confinement: the files of the checkpoint at prefix. */
static bool check_prefix(deft_kernel_ctx *c, const char *prefix) {
  char path[4200];
  snprintf(path, sizeof path, "%s.index", prefix);
  if (!deft_kernel_check_path(c, prefix) || !deft_kernel_check_path(c, path)) return false;
  snprintf(path, sizeof path, "%s.data-00000-of-00001", prefix);
  return deft_kernel_check_path(c, path);
}

static void save_kernel(deft_kernel_ctx *c) {
  const char *prefix;
  const deft_tensor *names;
  int64_t n = deft_kernel_num_inputs(c) - 3;
  if (!scalar_string(c, 0, "prefix", &prefix) || !names_and_slices(c, n, &names)) return;
  if (!check_prefix(c, prefix)) return;
  deft_status *st = deft_status_new();
  deft_bundle_writer *w = st ? deft_bundle_writer_new(prefix, st) : NULL;
  if (w) deft_bundle_writer_set_io(w, deft_kernel_io(c));
  bool ok = w != NULL;
  for (int64_t i = 0; ok && i < n; i++)
    ok = deft_bundle_writer_add(w, deft_tensor_string(names, i, NULL),
                                deft_kernel_input(c, (int)(3 + i)), st);
  ok = ok && deft_bundle_writer_finish(w, st);
  if (!ok)
    deft_kernel_fail(c, st ? deft_status_code(st) : DEFT_RESOURCE_EXHAUSTED, "saving to '%s': %s",
                     prefix, st ? deft_status_message(st) : "out of memory");
  deft_bundle_writer_free(w);
  deft_status_free(st);
}

static void restore_shape(deft_shape_ctx *c) {
  for (int i = 0; i < deft_shape_ctx_num_outputs(c); i++)
    deft_shape_ctx_set_output(c, i, deft_shape_unknown());
}

static void restore_kernel(deft_kernel_ctx *c) {
  const char *prefix;
  const deft_tensor *names;
  int64_t n = deft_kernel_num_outputs(c);
  if (!scalar_string(c, 0, "prefix", &prefix) || !names_and_slices(c, n, &names)) return;
  const restore_params *rp = deft_kernel_params(c);
  const deft_dtype *types = rp->types;
  int ntypes = rp->ntypes;
  if (!check_prefix(c, prefix)) return;
  deft_status *st = deft_status_new();
  deft_bundle_reader *r = st ? deft_bundle_reader_open(prefix, st) : NULL;
  if (!r) {
    deft_kernel_fail(c, st ? deft_status_code(st) : DEFT_RESOURCE_EXHAUSTED,
                     "restoring from '%s': %s", prefix,
                     st ? deft_status_message(st) : "out of memory");
    deft_status_free(st);
    return;
  }
  for (int64_t i = 0; i < n; i++) {
    const char *key = deft_tensor_string(names, i, NULL);
    deft_tensor *t = deft_bundle_reader_read(r, key, st);
    if (!t) {
      deft_kernel_fail(c, deft_status_code(st), "restoring '%s' from '%s': %s", key, prefix,
                       deft_status_message(st));
      break;
    }
    if (i < ntypes && t->dtype != types[i]) {
      deft_kernel_fail(c, DEFT_INVALID_ARGUMENT,
                       "checkpoint '%s' stores '%s' as %s, but the graph expects %s", prefix, key,
                       deft_dtype_name(t->dtype), deft_dtype_name(types[i]));
      deft_tensor_free(t);
      break;
    }
    deft_kernel_forward(c, (int)i, t);
    deft_tensor_free(t);
  }
  deft_bundle_reader_free(r);
  deft_status_free(st);
}

/* RestoreSlice and Restore (TF <= 0.12's saver): one tensor from the checkpoint at
 * file_pattern, a V1 checkpoint file (proto/tensor_slice_reader.h) or a V2 prefix, read whole
 * (shape_and_slice must be ""). A pattern with glob characters must match exactly one file. */
static void restore_slice_kernel(deft_kernel_ctx *c) {
  const char *pattern, *name;
  if (!scalar_string(c, 0, "file_pattern", &pattern) || !scalar_string(c, 1, "tensor_name", &name))
    return;
  if (deft_kernel_num_inputs(c) > 2) {
    size_t len;
    const deft_tensor *sl = deft_kernel_input(c, 2);
    if (sl->dtype != DEFT_STRING || sl->n != 1) {
      deft_kernel_fail(c, DEFT_INVALID_ARGUMENT,
                       "input 2 (shape_and_slice) must be a string scalar");
      return;
    }
    deft_tensor_string(sl, 0, &len);
    if (len) {
      deft_kernel_fail(c, DEFT_UNIMPLEMENTED,
                       "tensor '%s' is restored as slice '%s' of a partitioned variable; deft "
                       "reads whole tensors only", name, deft_tensor_string(sl, 0, NULL));
      return;
    }
  }
  const char *path = pattern;
  glob_t gl;
  bool globbed = strpbrk(pattern, "*?[") != NULL;
  if (globbed) {
    int rc = glob(pattern, 0, NULL, &gl);
    if (rc != 0 || gl.gl_pathc != 1) {
      deft_kernel_fail(c, rc == GLOB_NOMATCH ? DEFT_NOT_FOUND : DEFT_UNIMPLEMENTED,
                       "file_pattern '%s' matches %zu files; deft restores from exactly one "
                       "(sharded V1 checkpoints are not supported)", pattern,
                       rc == 0 ? (size_t)gl.gl_pathc : (size_t)0);
      if (rc == 0) globfree(&gl);
      return;
    }
    path = gl.gl_pathv[0];
  }
  deft_dtype want = deft_kernel_output_dtype(c, 0);
  deft_status *st = deft_status_new();
  deft_bundle_reader *r = NULL;
  deft_tensor *t = NULL;
  if (!st) {
    deft_kernel_fail(c, DEFT_RESOURCE_EXHAUSTED, "out of memory");
  } else if (check_prefix(c, path)) {
    r = deft_bundle_reader_open(path, st);
    t = r ? deft_bundle_reader_read(r, name, st) : NULL;
    if (!t)
      deft_kernel_fail(c, deft_status_code(st), "restoring '%s' from '%s': %s", name, path,
                       deft_status_message(st));
    else if (t->dtype != want)
      deft_kernel_fail(c, DEFT_INVALID_ARGUMENT,
                       "checkpoint '%s' stores '%s' as %s, but attr dt is %s", path, name,
                       deft_dtype_name(t->dtype), deft_dtype_name(want));
    else
      deft_kernel_forward(c, 0, t);
  }
  deft_tensor_free(t);
  deft_bundle_reader_free(r);
  deft_status_free(st);
  if (globbed) globfree(&gl);
}

static void restore_one_shape(deft_shape_ctx *c) {
  deft_shape_ctx_set_output(c, 0, deft_shape_unknown());
}

/* Removes the directory holding prefix's files if it is now empty (delete_old_dirs). */
static void remove_prefix_dir(const char *prefix) {
  const char *slash = strrchr(prefix, '/');
  if (!slash) return;
  char dir[4096];
  snprintf(dir, sizeof dir, "%.*s", (int)(slash - prefix), prefix);
  remove(dir); /* only succeeds when empty, as intended */
}

/* One source (every single-device TF1 save): its two files are renamed into place. */
static bool merge_one(deft_kernel_ctx *c, const char *src, const char *dest) {
  const char *suffixes[2] = {".data-00000-of-00001", ".index"};
  for (int i = 0; i < 2; i++) {
    char from[4096], to[4096];
    snprintf(from, sizeof from, "%s%s", src, suffixes[i]);
    snprintf(to, sizeof to, "%s%s", dest, suffixes[i]);
    deft_status *st = deft_status_new();
    bool ok = st && deft_io_rename(deft_kernel_io(c), from, to, st);
    if (!ok) {
      deft_kernel_fail(c, st ? deft_status_code(st) : DEFT_RESOURCE_EXHAUSTED,
                       "cannot move '%s' to '%s': %s", from, to,
                       st ? deft_status_message(st) : "out of memory");
      deft_status_free(st);
      return false;
    }
    deft_status_free(st);
  }
  return true;
}

/* Several sources (one per device of a sharded saver): every tensor of every source is written
 * into one checkpoint at dest (atomically, by the bundle writer), then the sources' files are
 * removed. A key present in two sources is an error, and nothing is written or removed. The
 * tensors are held in memory until the merged checkpoint is written. */
static bool merge_many(deft_kernel_ctx *c, const deft_tensor *srcs, const char *dest) {
  int64_t n = srcs->n;
  deft_status *st = deft_status_new();
  deft_bundle_reader **rs = deft_calloc((size_t)n, sizeof *rs);
  deft_bundle_writer *w = rs ? deft_bundle_writer_new(dest, st) : NULL;
  if (w) deft_bundle_writer_set_io(w, deft_kernel_io(c));
  bool ok = w != NULL;
  if (!rs) deft_kernel_fail(c, DEFT_RESOURCE_EXHAUSTED, "out of memory");
  else if (!w) deft_kernel_fail(c, deft_status_code(st), "%s", deft_status_message(st));
  for (int64_t i = 0; ok && i < n; i++) {
    const char *src = deft_tensor_string(srcs, i, NULL);
    rs[i] = deft_bundle_reader_open(src, st);
    if (!rs[i]) {
      deft_kernel_fail(c, deft_status_code(st), "source %" PRId64 ": %s", i,
                       deft_status_message(st));
      ok = false;
      break;
    }
    for (int k = 0; ok && k < deft_bundle_reader_num_entries(rs[i]); k++) {
      const char *key = deft_bundle_reader_key(rs[i], k);
      for (int64_t j = 0; j < i; j++)
        if (deft_bundle_reader_lookup(rs[j], key, NULL, NULL)) {
          deft_kernel_fail(c, DEFT_INVALID_ARGUMENT,
                           "tensor '%s' is in two of the checkpoints to merge: '%s' and '%s'",
                           key, deft_tensor_string(srcs, j, NULL), src);
          ok = false;
          break;
        }
      deft_tensor *t = ok ? deft_bundle_reader_read(rs[i], key, st) : NULL;
      if (ok && (!t || !deft_bundle_writer_add(w, key, t, st))) {
        deft_kernel_fail(c, deft_status_code(st), "%s", deft_status_message(st));
        ok = false;
      }
      deft_tensor_free(t);
    }
  }
  if (ok && !deft_bundle_writer_finish(w, st)) {
    deft_kernel_fail(c, deft_status_code(st), "%s", deft_status_message(st));
    ok = false;
  }
  for (int64_t i = 0; ok && i < n; i++) { /* the merged checkpoint is in place: drop sources */
    const char *src = deft_tensor_string(srcs, i, NULL);
    char path[4096];
    int shards = deft_bundle_reader_num_shards(rs[i]);
    for (int k = 0; k < shards; k++) {
      snprintf(path, sizeof path, "%s.data-%05d-of-%05d", src, k, shards);
      deft_io_unlink(deft_kernel_io(c), path);
    }
    snprintf(path, sizeof path, "%s.index", src);
    deft_io_unlink(deft_kernel_io(c), path);
  }
  for (int64_t i = 0; rs && i < n; i++) deft_bundle_reader_free(rs[i]);
  deft_free(rs);
  deft_bundle_writer_free(w);
  deft_status_free(st);
  return ok;
}

/* MergeV2Checkpoints(checkpoint_prefixes, destination_prefix): the checkpoints at the source
 * prefixes become one checkpoint at the destination; delete_old_dirs removes the sources'
 * directories when they are left empty. */
static void merge_kernel(deft_kernel_ctx *c) {
  const deft_tensor *srcs = deft_kernel_input(c, 0);
  const char *dest;
  if (!scalar_string(c, 1, "destination_prefix", &dest)) return;
  if (srcs->dtype != DEFT_STRING || srcs->rank > 1 || srcs->n < 1) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT,
                     "checkpoint_prefixes must be a non-empty string vector (got %s with %" PRId64
                     " elements)", deft_dtype_name(srcs->dtype), srcs->n);
    return;
  }
  if (!check_prefix(c, dest)) return;
  for (int64_t i = 0; i < srcs->n; i++)
    if (!check_prefix(c, deft_tensor_string(srcs, i, NULL))) return;
  for (int64_t i = 0; i < srcs->n; i++)
    if (!strcmp(deft_tensor_string(srcs, i, NULL), dest)) {
      deft_kernel_fail(c, DEFT_INVALID_ARGUMENT,
                       "source %" PRId64 " is the destination prefix '%s' itself", i, dest);
      return;
    }
  bool ok = srcs->n == 1 ? merge_one(c, deft_tensor_string(srcs, 0, NULL), dest)
                         : merge_many(c, srcs, dest);
  if (!ok || !((const merge_params *)deft_kernel_params(c))->delete_old_dirs) return;
  for (int64_t i = 0; i < srcs->n; i++) remove_prefix_dir(deft_tensor_string(srcs, i, NULL));
}

static void sharded_filename_kernel(deft_kernel_ctx *c) {
  const char *base;
  if (!scalar_string(c, 0, "basename", &base)) return;
  const deft_tensor *shard = deft_kernel_input(c, 1), *num = deft_kernel_input(c, 2);
  if (shard->n != 1 || num->n != 1) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "shard and num_shards must be scalars");
    return;
  }
  char buf[4096];
  snprintf(buf, sizeof buf, "%s-%05d-of-%05d", base, deft_tensor_i32(shard)[0],
           deft_tensor_i32(num)[0]);
  deft_tensor *out = deft_kernel_output(c, 0, DEFT_STRING, NULL, 0);
  deft_status *st = deft_status_new();
  if (out && !deft_tensor_set_string(out, 0, buf, strlen(buf), st))
    deft_kernel_fail(c, DEFT_RESOURCE_EXHAUSTED, "out of memory");
  deft_status_free(st);
}

/* StringJoin of scalars and same-shape string tensors (scalars broadcast). */
static void string_join_kernel(deft_kernel_ctx *c) {
  int n = deft_kernel_num_inputs(c);
  const deft_tensor *shape_src = NULL;
  for (int i = 0; i < n; i++) {
    const deft_tensor *t = deft_kernel_input(c, i);
    if (t->rank == 0) continue;
    if (shape_src && (t->rank != shape_src->rank ||
                      memcmp(t->dims, shape_src->dims, sizeof(int64_t) * (size_t)t->rank))) {
      deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "input %d's shape differs from the others'", i);
      return;
    }
    shape_src = t;
  }
  const join_params *jp = deft_kernel_params(c);
  const char *sep = jp->sep;
  size_t seplen = jp->seplen;
  deft_tensor *out = shape_src ? deft_kernel_output(c, 0, DEFT_STRING, shape_src->dims, shape_src->rank)
                               : deft_kernel_output(c, 0, DEFT_STRING, NULL, 0);
  if (!out) return;
  for (int64_t e = 0; e < out->n; e++) {
    size_t total = 0;
    for (int i = 0; i < n; i++) {
      const deft_tensor *t = deft_kernel_input(c, i);
      size_t len;
      deft_tensor_string(t, t->rank ? e : 0, &len);
      total += len + (i ? seplen : 0);
    }
    char *buf = deft_malloc(total + 1);
    if (!buf) {
      deft_kernel_fail(c, DEFT_RESOURCE_EXHAUSTED, "out of memory");
      return;
    }
    size_t pos = 0;
    for (int i = 0; i < n; i++) {
      const deft_tensor *t = deft_kernel_input(c, i);
      size_t len;
      const char *p = deft_tensor_string(t, t->rank ? e : 0, &len);
      if (i) memcpy(buf + pos, sep, seplen), pos += seplen;
      memcpy(buf + pos, p, len);
      pos += len;
    }
    bool ok = deft_tensor_set_string(out, e, buf, pos, NULL);
    deft_free(buf);
    if (!ok) {
      deft_kernel_fail(c, DEFT_RESOURCE_EXHAUSTED, "out of memory");
      return;
    }
  }
}

static void scalar_out(deft_shape_ctx *c) { deft_shape_ctx_set_output(c, 0, DEFT_SCALAR); }

/* ---- prepare steps: the attrs each compute step reads ---- */

static void restore_prepare(deft_prepare_ctx *p) {
  restore_params *rp = deft_prepare_params(p, sizeof *rp);
  if (rp && !deft_op_attr_type_list(deft_prepare_op(p), "dtypes", &rp->types, &rp->ntypes))
    deft_prepare_fail(p, DEFT_INVALID_ARGUMENT, "attr 'dtypes' is missing or not a type list");
}

static void merge_prepare(deft_prepare_ctx *p) {
  bool del = deft_prepare_attr_bool(p, "delete_old_dirs");
  merge_params *mp = deft_prepare_params(p, sizeof *mp);
  if (mp) mp->delete_old_dirs = del;
}

static void join_prepare(deft_prepare_ctx *p) {
  join_params *jp = deft_prepare_params(p, sizeof *jp);
  if (!jp) return;
  jp->sep = "";
  deft_op_attr_string(deft_prepare_op(p), "separator", &jp->sep, &jp->seplen);
}

static const deft_op_def io_defs[] = {
    {.type = "SaveV2",
     .inputs = "prefix: string, tensor_names: string, shape_and_slices: string, tensors: dtypes",
     .attrs = "dtypes: list(type)", .flags = DEFT_OP_STATEFUL | DEFT_OP_NOT_DIFFERENTIABLE,
     .kernel = save_kernel},
    {.type = "RestoreV2", .inputs = "prefix: string, tensor_names: string, shape_and_slices: string",
     .outputs = "tensors: dtypes", .attrs = "dtypes: list(type) >= 1",
     .flags = DEFT_OP_STATEFUL | DEFT_OP_NOT_DIFFERENTIABLE, .shape = restore_shape,
     .prepare = restore_prepare, .kernel = restore_kernel},
    {.type = "RestoreSlice",
     .inputs = "file_pattern: string, tensor_name: string, shape_and_slice: string",
     .outputs = "tensor: dt", .attrs = "dt: type, preferred_shard: int = -1",
     .flags = DEFT_OP_STATEFUL | DEFT_OP_NOT_DIFFERENTIABLE, .shape = restore_one_shape,
     .kernel = restore_slice_kernel},
    {.type = "Restore", .inputs = "file_pattern: string, tensor_name: string",
     .outputs = "tensor: dt", .attrs = "dt: type, preferred_shard: int = -1",
     .flags = DEFT_OP_STATEFUL | DEFT_OP_NOT_DIFFERENTIABLE, .shape = restore_one_shape,
     .kernel = restore_slice_kernel},
    {.type = "MergeV2Checkpoints", .inputs = "checkpoint_prefixes: string, destination_prefix: string",
     .attrs = "delete_old_dirs: bool = true", .flags = DEFT_OP_STATEFUL | DEFT_OP_NOT_DIFFERENTIABLE,
     .prepare = merge_prepare, .kernel = merge_kernel},
    {.type = "ShardedFilename", .inputs = "basename: string, shard: int32, num_shards: int32",
     .outputs = "filename: string", .flags = DEFT_OP_NOT_DIFFERENTIABLE, .shape = scalar_out,
     .kernel = sharded_filename_kernel},
    {.type = "StringJoin", .inputs = "inputs: N * string", .outputs = "output: string",
     .attrs = "N: int >= 1, separator: string = \"\"", .flags = DEFT_OP_NOT_DIFFERENTIABLE,
     .prepare = join_prepare, .kernel = string_join_kernel},
};

DEFT_FAMILY(deft_ops_io, io_defs);
