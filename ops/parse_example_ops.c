/* SPDX-License-Identifier: Apache-2.0 */
/* ops/parse_example_ops.c - tf.Example parsing: ParseExample (TF 1.x's, keys as lists of string
 * scalars) and ParseExampleV2 (TF >= 1.15's, keys as string vectors), the ops behind
 * tf.parse_example and TF Serving's classify and regress signatures. Neither is differentiable.
 *
 * The serialized protos are decoded by hand from the wire format (no generated code, no
 * allocation per message), from these facts of tensorflow/core/example/{example,feature}.proto:
 *   Example   { Features features = 1; }
 *   Features  { map<string, Feature> feature = 1; }   (entries: key = 1, value = 2)
 *   Feature   { oneof kind { BytesList bytes_list = 1; FloatList float_list = 2;
 *                            Int64List int64_list = 3; } }
 *   BytesList { repeated bytes value = 1; }
 *   FloatList { repeated float value = 1 [packed = true]; }  (unpacked fixed32 also accepted)
 *   Int64List { repeated int64 value = 1 [packed = true]; }  (unpacked varints also accepted)
 * Protobuf's merge rules hold: repeated `features` fields merge, a map key given twice keeps
 * its last value, a oneof member set twice concatenates, and a different member replaces it.
 * Unknown fields are skipped. A Feature with no member set counts as absent.
 *
 * Semantics (TF's): dense feature j of Tdense[j] (float, int64 or string) and fully defined
 * dense_shapes[j] must hold exactly num_elements(dense_shapes[j]) values; an example without it
 * takes dense_defaults[j], which must then have that many elements (an empty default makes the
 * feature required). Output dense_values[j] is [batch] + dense_shapes[j]. Sparse feature k gives
 * a SparseTensor: indices [n, 2] int64 of (example, position), values [n], dense shape
 * [batch, longest list]. ParseExampleV2 also takes a scalar `serialized` (batch dims dropped:
 * dense [shape], indices [n, 1], shape [1]); ragged keys are not supported. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/tensor_internal.h"
#include "ops/op_def.h"
#include "proto/sstable.h"

enum { KIND_NONE = 0, KIND_BYTES = 1, KIND_FLOAT = 2, KIND_INT64 = 3 };

static const char *kind_name(int kind) {
  static const char *const names[] = {"none", "bytes (string)", "float", "int64"};
  return names[kind];
}

static int kind_of(deft_dtype t) {
  return t == DEFT_STRING ? KIND_BYTES : t == DEFT_FLOAT ? KIND_FLOAT : KIND_INT64;
}

/* ---- the wire format ---- */

typedef struct pb_field {
  uint32_t num;
  int wt;
  uint64_t v;          /* varint / fixed values */
  const uint8_t *data; /* length-delimited payload */
  size_t len;
  const uint8_t *at; /* the field's tag */
} pb_field;

/* Reads the next field of [*p, end). Returns 1 with *f filled, 0 at the end, -1 on malformed
 * bytes (*why set, *err_at the offending byte). */
static int next_field(const uint8_t **p, const uint8_t *end, pb_field *f, const char **why,
                      const uint8_t **err_at) {
  if (*p >= end) return 0;
  uint64_t tag;
  const uint8_t *q = deft_varint_get(*p, end, 64, &tag);
  *err_at = *p;
  if (!q) return *why = "truncated or overlong field tag", -1;
  f->at = *p;
  f->num = (uint32_t)(tag >> 3);
  f->wt = (int)(tag & 7);
  if (tag >> 3 == 0 || tag >> 3 > 0x1fffffff) return *why = "invalid field number 0", -1;
  *err_at = q;
  switch (f->wt) {
    case 0:
      q = deft_varint_get(q, end, 64, &f->v);
      if (!q) return *why = "truncated varint", -1;
      break;
    case 1:
      if (end - q < 8) return *why = "truncated 64-bit value", -1;
      f->v = 0;
      for (int i = 7; i >= 0; i--) f->v = f->v << 8 | q[i];
      q += 8;
      break;
    case 5:
      if (end - q < 4) return *why = "truncated 32-bit value", -1;
      f->v = (uint64_t)q[0] | (uint64_t)q[1] << 8 | (uint64_t)q[2] << 16 | (uint64_t)q[3] << 24;
      q += 4;
      break;
    case 2: {
      uint64_t len;
      const uint8_t *r = deft_varint_get(q, end, 64, &len);
      if (!r) return *why = "truncated length", -1;
      if (len > (uint64_t)(end - r)) return *why = "length runs past the end of its message", -1;
      f->data = r;
      f->len = (size_t)len;
      q = r + len;
      break;
    }
    default:
      return *err_at = f->at, *why = "unsupported wire type (groups or 6/7)", -1;
  }
  *p = q;
  return 1;
}

/* ---- what an op is asked for ---- */

typedef struct pe_params {
  bool v2;
  int nsparse, ndense;
  const deft_dtype *sparse_types, *dense_types; /* owned by the graph */
  deft_shape dense_shapes[];
} pe_params;

/* One requested feature as found in one example: the Feature message's bytes (NULL = absent),
 * then, after pe_scan_feature, its kind, the start of the fields that count, and the number of
 * values. */
typedef struct pe_found {
  const uint8_t *feat;
  size_t len;
  int kind;
  const uint8_t *run;
  int64_t count;
} pe_found;

typedef struct pe_error {
  const char *why;
  size_t offset;
} pe_error;

#define PE_FAIL(e, base, at, msg) ((e)->why = (msg), (e)->offset = (size_t)((at) - (base)), false)

/* Counts (and checks) the values of one list message of `kind`. */
static bool count_list(int kind, const uint8_t *base, const uint8_t *p, const uint8_t *end,
                       int64_t *count, pe_error *e) {
  pb_field f;
  const char *why;
  const uint8_t *at;
  int r;
  while ((r = next_field(&p, end, &f, &why, &at)) > 0) {
    if (f.num != 1) continue;
    if (kind == KIND_BYTES) {
      if (f.wt != 2) return PE_FAIL(e, base, f.at, "BytesList value is not length-delimited");
      (*count)++;
    } else if (kind == KIND_FLOAT) {
      if (f.wt == 5)
        (*count)++;
      else if (f.wt == 2 && f.len % 4 == 0)
        *count += (int64_t)(f.len / 4);
      else
        return PE_FAIL(e, base, f.at, "FloatList value is neither fixed32 nor packed floats");
    } else if (f.wt == 0) {
      (*count)++;
    } else if (f.wt == 2) {
      const uint8_t *q = f.data, *qe = f.data + f.len;
      uint64_t v;
      while (q < qe) {
        const uint8_t *n = deft_varint_get(q, qe, 64, &v);
        if (!n) return PE_FAIL(e, base, q, "truncated varint in packed Int64List values");
        q = n;
        (*count)++;
      }
    } else {
      return PE_FAIL(e, base, f.at, "Int64List value is neither a varint nor packed varints");
    }
  }
  if (r < 0) return PE_FAIL(e, base, at, why);
  return true;
}

/* Finds the Feature's kind and the run of fields that make its value, and counts them. */
static bool scan_feature(pe_found *fd, const uint8_t *base, pe_error *e) {
  const uint8_t *p = fd->feat, *end = fd->feat + fd->len, *at;
  pb_field f;
  const char *why;
  int r;
  fd->kind = KIND_NONE;
  fd->count = 0;
  while ((r = next_field(&p, end, &f, &why, &at)) > 0) {
    if (f.num < 1 || f.num > 3) continue;
    if (f.wt != 2) return PE_FAIL(e, base, f.at, "Feature's list field is not a message");
    if ((int)f.num != fd->kind) {
      fd->kind = (int)f.num;
      fd->run = f.at;
      fd->count = 0;
    }
    if (!count_list(fd->kind, base, f.data, f.data + f.len, &fd->count, e)) return false;
  }
  if (r < 0) return PE_FAIL(e, base, at, why);
  return true;
}

/* Parses one serialized Example: found[k] for each of the nkeys keys (absent ones stay NULL). */
static bool parse_example(const uint8_t *base, size_t size, const deft_bytes *keys, int nkeys,
                          pe_found *found, pe_error *e) {
  const uint8_t *p = base, *end = base + size, *at;
  pb_field f, g, h;
  const char *why;
  int r;
  memset(found, 0, sizeof *found * (size_t)nkeys);
  while ((r = next_field(&p, end, &f, &why, &at)) > 0) {
    if (f.num != 1) continue;
    if (f.wt != 2) return PE_FAIL(e, base, f.at, "Example.features is not a message");
    const uint8_t *q = f.data, *qe = f.data + f.len;
    while ((r = next_field(&q, qe, &g, &why, &at)) > 0) {
      if (g.num != 1) continue;
      if (g.wt != 2) return PE_FAIL(e, base, g.at, "Features.feature entry is not a message");
      const uint8_t *s = g.data, *se = g.data + g.len;
      const uint8_t *key = (const uint8_t *)"", *val = NULL;
      size_t klen = 0, vlen = 0;
      while ((r = next_field(&s, se, &h, &why, &at)) > 0) {
        if (h.num == 1 || h.num == 2) {
          if (h.wt != 2)
            return PE_FAIL(e, base, h.at,
                           "feature map entry's key or value is not length-delimited");
          if (h.num == 1)
            key = h.data, klen = h.len;
          else
            val = h.data, vlen = h.len;
        }
      }
      if (r < 0) return PE_FAIL(e, base, at, why);
      for (int k = 0; k < nkeys; k++)
        if (keys[k].len == klen && (!klen || !memcmp(keys[k].data, key, klen))) {
          found[k].feat = val ? val : g.data + g.len; /* no value: an empty Feature */
          found[k].len = vlen;
        }
    }
    if (r < 0) return PE_FAIL(e, base, at, why);
  }
  if (r < 0) return PE_FAIL(e, base, at, why);
  for (int k = 0; k < nkeys; k++)
    if (found[k].feat && !scan_feature(&found[k], base, e)) return false;
  return true;
}

/* Writes fd's values (already counted and checked) into out, from element `at` on: floats,
 * int64s, or strings. */
static bool fill_values(const pe_found *fd, deft_tensor *out, int64_t at) {
  const uint8_t *p = fd->run, *end = fd->feat + fd->len, *a;
  pb_field f, v;
  const char *why;
  while (next_field(&p, end, &f, &why, &a) > 0) {
    if ((int)f.num != fd->kind) continue;
    const uint8_t *q = f.data, *qe = f.data + f.len;
    while (next_field(&q, qe, &v, &why, &a) > 0) {
      if (v.num != 1) continue;
      if (fd->kind == KIND_BYTES) {
        if (!deft_tensor_set_string(out, at++, (const char *)v.data, v.len, NULL)) return false;
      } else if (fd->kind == KIND_FLOAT) {
        float *o = deft_tensor_f32(out);
        if (v.wt == 5) {
          uint32_t bits = (uint32_t)v.v;
          memcpy(&o[at++], &bits, 4);
        } else {
          for (size_t i = 0; i < v.len; i += 4) {
            uint32_t bits = (uint32_t)v.data[i] | (uint32_t)v.data[i + 1] << 8 |
                            (uint32_t)v.data[i + 2] << 16 | (uint32_t)v.data[i + 3] << 24;
            memcpy(&o[at++], &bits, 4);
          }
        }
      } else {
        int64_t *o = deft_tensor_i64(out);
        if (v.wt == 0) {
          o[at++] = (int64_t)v.v;
        } else {
          const uint8_t *r = v.data, *re = v.data + v.len;
          uint64_t x;
          while (r < re && (r = deft_varint_get(r, re, 64, &x))) o[at++] = (int64_t)x;
        }
      }
    }
  }
  return true;
}

/* Copies element i of src (same dtype) to element j of dst. */
static bool copy_elem(deft_tensor *dst, int64_t j, const deft_tensor *src, int64_t i) {
  if (src->dtype == DEFT_STRING) {
    size_t len;
    const char *s = deft_tensor_string(src, i, &len);
    return deft_tensor_set_string(dst, j, s, len, NULL);
  }
  size_t es = deft_dtype_size(src->dtype);
  memcpy((char *)dst->buf->data + (size_t)j * es, (const char *)src->buf->data + (size_t)i * es,
         es);
  return true;
}

/* ---- the kernel ---- */

/* Where "example i" is in messages: its index and, when names were given, its name. */
static void example_label(const deft_tensor *names, int64_t i, char *buf, size_t size) {
  size_t len = 0;
  const char *nm = names->n ? deft_tensor_string(names, i, &len) : NULL;
  if (nm && len)
    snprintf(buf, size, "example %" PRId64 " (name '%.*s')", i, (int)len, nm);
  else
    snprintf(buf, size, "example %" PRId64, i);
}

static bool string_vector(deft_kernel_ctx *c, int i, const char *what, int64_t n) {
  const deft_tensor *t = deft_kernel_input(c, i);
  if (t->dtype != DEFT_STRING || t->rank != 1 || t->n != n) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT,
                     "%s must be a string vector of %" PRId64
                     " elements, got rank %d with %" PRId64,
                     what, n, t->rank, t->n);
    return false;
  }
  return true;
}

static void parse_example_kernel(deft_kernel_ctx *c) {
  const pe_params *pp = deft_kernel_params(c);
  int ns = pp->nsparse, nd = pp->ndense, nkeys = ns + nd;
  const deft_tensor *ser = deft_kernel_input(c, 0), *names = deft_kernel_input(c, 1);
  bool scalar = pp->v2 && ser->rank == 0;
  if (ser->rank != 1 && !scalar) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "serialized must be a %s, got rank %d",
                     pp->v2 ? "scalar or vector" : "vector", ser->rank);
    return;
  }
  int64_t batch = ser->n;
  if (names->n != 0 && (names->n != batch || names->rank != ser->rank)) {
    deft_kernel_fail(c, DEFT_INVALID_ARGUMENT,
                     "names must be empty or shaped like serialized (%" PRId64
                     " elements), got %" PRId64,
                     batch, names->n);
    return;
  }
  /* the keys: sparse first, then dense, as the outputs */
  deft_bytes *keys = deft_calloc((size_t)(nkeys ? nkeys : 1), sizeof *keys);
  pe_found *found =
      deft_calloc((size_t)(batch ? batch : 1) * (size_t)(nkeys ? nkeys : 1), sizeof *found);
  if (!keys || !found) {
    deft_kernel_fail(c, DEFT_RESOURCE_EXHAUSTED, "out of memory");
    goto done;
  }
  int defaults_at;
  if (pp->v2) {
    if (!string_vector(c, 2, "sparse_keys", ns) || !string_vector(c, 3, "dense_keys", nd) ||
        !string_vector(c, 4, "ragged_keys", 0))
      goto done;
    for (int k = 0; k < nkeys; k++) {
      const deft_tensor *t = deft_kernel_input(c, k < ns ? 2 : 3);
      keys[k].data = (char *)deft_tensor_string(t, k < ns ? k : k - ns, &keys[k].len);
    }
    defaults_at = 5;
  } else {
    for (int k = 0; k < nkeys; k++) {
      const deft_tensor *t = deft_kernel_input(c, 2 + k);
      if (t->dtype != DEFT_STRING || t->n != 1) {
        deft_kernel_fail(c, DEFT_INVALID_ARGUMENT, "%s_keys[%d] must be a string scalar",
                         k < ns ? "sparse" : "dense", k < ns ? k : k - ns);
        goto done;
      }
      keys[k].data = (char *)deft_tensor_string(t, 0, &keys[k].len);
    }
    defaults_at = 2 + nkeys;
  }
  for (int j = 0; j < nd; j++) {
    const deft_tensor *d = deft_kernel_input(c, defaults_at + j);
    int64_t want = deft_shape_num_elements(pp->dense_shapes[j]);
    if (d->n != 0 && d->n != want) {
      char sh[128];
      deft_kernel_fail(c, DEFT_INVALID_ARGUMENT,
                       "dense_defaults[%d] for feature '%s' has %" PRId64
                       " elements, but dense_shapes[%d] %s needs %" PRId64 " (or 0: required)",
                       j, keys[ns + j].data ? keys[ns + j].data : "", d->n, j,
                       deft_shape_format(pp->dense_shapes[j], sh, sizeof sh), want);
      goto done;
    }
  }
  /* parse every example */
  char label[512];
  for (int64_t i = 0; i < batch; i++) {
    size_t len;
    const char *s = deft_tensor_string(ser, i, &len);
    pe_error e;
    if (!parse_example((const uint8_t *)(s ? s : ""), len, keys, nkeys, found + i * nkeys, &e)) {
      example_label(names, i, label, sizeof label);
      deft_kernel_fail(c, DEFT_INVALID_ARGUMENT,
                       "serialized %s is not a valid tf.Example: %s at byte %zu of its %zu", label,
                       e.why, e.offset, len);
      goto done;
    }
  }
  /* sparse outputs */
  for (int k = 0; k < ns; k++) {
    int want_kind = kind_of(pp->sparse_types[k]);
    int64_t total = 0, longest = 0;
    for (int64_t i = 0; i < batch; i++) {
      const pe_found *fd = &found[i * nkeys + k];
      if (!fd->feat || fd->kind == KIND_NONE) continue;
      if (fd->kind != want_kind) {
        example_label(names, i, label, sizeof label);
        deft_kernel_fail(c, DEFT_INVALID_ARGUMENT,
                         "%s, sparse feature '%s': the example holds %s values, the op expects %s",
                         label, keys[k].data, kind_name(fd->kind), kind_name(want_kind));
        goto done;
      }
      total += fd->count;
      if (fd->count > longest) longest = fd->count;
    }
    int r = scalar ? 1 : 2;
    int64_t idims[2] = {total, r}, sdims[1] = {r};
    deft_tensor *ind = deft_kernel_output(c, k, DEFT_INT64, idims, 2);
    deft_tensor *val = deft_kernel_output(c, ns + k, pp->sparse_types[k], idims, 1);
    deft_tensor *shp = deft_kernel_output(c, 2 * ns + k, DEFT_INT64, sdims, 1);
    if (!ind || !val || !shp) goto done;
    int64_t *ix = deft_tensor_i64(ind), at = 0;
    for (int64_t i = 0; i < batch; i++) {
      const pe_found *fd = &found[i * nkeys + k];
      if (!fd->feat || fd->kind == KIND_NONE) continue;
      for (int64_t v = 0; v < fd->count; v++) {
        if (!scalar) *ix++ = i;
        *ix++ = v;
      }
      if (!fill_values(fd, val, at)) goto oom;
      at += fd->count;
    }
    int64_t *sv = deft_tensor_i64(shp);
    if (!scalar) *sv++ = batch;
    *sv = longest;
  }
  /* dense outputs */
  for (int j = 0; j < nd; j++) {
    deft_dtype dt = pp->dense_types[j];
    const deft_shape *ds = &pp->dense_shapes[j];
    int64_t dims[DEFT_MAX_RANK + 1], per = deft_shape_num_elements(*ds);
    int rank = 0;
    if (!scalar) dims[rank++] = batch;
    for (int d = 0; d < ds->rank; d++) dims[rank++] = ds->dims[d];
    if (rank > DEFT_MAX_RANK) {
      deft_kernel_fail(c, DEFT_UNIMPLEMENTED, "dense_values[%d] would have rank %d, over %d", j,
                       rank, DEFT_MAX_RANK);
      goto done;
    }
    deft_tensor *out = deft_kernel_output(c, 3 * ns + j, dt, dims, rank);
    if (!out) goto done;
    const deft_tensor *def = deft_kernel_input(c, defaults_at + j);
    const char *key = keys[ns + j].data ? keys[ns + j].data : "";
    for (int64_t i = 0; i < batch; i++) {
      const pe_found *fd = &found[i * nkeys + ns + j];
      if (!fd->feat || fd->kind == KIND_NONE) {
        if (def->n == 0 && per != 0) {
          example_label(names, i, label, sizeof label);
          deft_kernel_fail(c, DEFT_INVALID_ARGUMENT,
                           "%s: feature '%s' (%s) is required but could not be found (its "
                           "dense_defaults entry is empty)",
                           label, key, deft_dtype_name(dt));
          goto done;
        }
        for (int64_t v = 0; v < per; v++)
          if (!copy_elem(out, i * per + v, def, v)) goto oom;
        continue;
      }
      if (fd->kind != kind_of(dt)) {
        example_label(names, i, label, sizeof label);
        deft_kernel_fail(c, DEFT_INVALID_ARGUMENT,
                         "%s, dense feature '%s': the example holds %s values, the op expects %s",
                         label, key, kind_name(fd->kind), kind_name(kind_of(dt)));
        goto done;
      }
      if (fd->count != per) {
        char sh[128];
        example_label(names, i, label, sizeof label);
        deft_kernel_fail(c, DEFT_INVALID_ARGUMENT,
                         "%s, dense feature '%s': %" PRId64
                         " %s values, but dense shape %s "
                         "needs %" PRId64,
                         label, key, fd->count, kind_name(fd->kind),
                         deft_shape_format(*ds, sh, sizeof sh), per);
        goto done;
      }
      if (!fill_values(fd, out, i * per)) goto oom;
    }
  }
  goto done;
oom:
  deft_kernel_fail(c, DEFT_RESOURCE_EXHAUSTED, "out of memory");
done:
  deft_free(keys);
  deft_free(found);
}

/* ---- prepare and shapes ---- */

static bool check_types(deft_prepare_ctx *p, const char *attr, const deft_dtype *t, int n) {
  for (int i = 0; i < n; i++)
    if (t[i] != DEFT_FLOAT && t[i] != DEFT_INT64 && t[i] != DEFT_STRING) {
      deft_prepare_fail(p, DEFT_INVALID_ARGUMENT,
                        "attr '%s'[%d] is %s; a tf.Example feature is float, int64 or string", attr,
                        i, deft_dtype_name(t[i]));
      return false;
    }
  return true;
}

static void pe_prepare(deft_prepare_ctx *p, bool v2) {
  const deft_op *op = deft_prepare_op(p);
  const deft_dtype *st = NULL, *dt = NULL;
  int nst = 0, ndt = 0;
  int64_t ns = 0, nd = 0;
  if (!deft_op_attr_type_list(op, "sparse_types", &st, &nst) ||
      !deft_op_attr_type_list(op, "Tdense", &dt, &ndt)) {
    deft_prepare_fail(p, DEFT_INVALID_ARGUMENT,
                      "attrs 'sparse_types' and 'Tdense' must be type lists");
    return;
  }
  if (v2) {
    ns = deft_prepare_attr_int(p, "num_sparse");
    nd = ndt;
    const deft_dtype *rt = NULL;
    int nrt = 0;
    if (deft_op_attr_type_list(op, "ragged_value_types", &rt, &nrt) && nrt > 0) {
      deft_prepare_fail(p, DEFT_UNIMPLEMENTED, "ragged features are not supported");
      return;
    }
  } else {
    ns = deft_prepare_attr_int(p, "Nsparse");
    nd = deft_prepare_attr_int(p, "Ndense");
  }
  if (deft_prepare_failed(p)) return;
  int type = 0, nshapes = 0;
  bool is_list = false;
  if (!deft_op_attr_metadata(op, "dense_shapes", &type, &is_list, &nshapes) || !is_list)
    nshapes = -1;
  if (ns != nst || nd != ndt || nshapes != nd) {
    deft_prepare_fail(p, DEFT_INVALID_ARGUMENT,
                      "%" PRId64 " sparse keys with %d sparse_types, %" PRId64
                      " dense keys with %d Tdense and %d dense_shapes: the counts must agree",
                      ns, nst, nd, ndt, nshapes);
    return;
  }
  if (!check_types(p, "sparse_types", st, nst) || !check_types(p, "Tdense", dt, ndt)) return;
  pe_params *pp = deft_prepare_params(p, sizeof *pp + sizeof(deft_shape) * (size_t)nd);
  if (!pp) return;
  pp->v2 = v2;
  pp->nsparse = (int)ns;
  pp->ndense = (int)nd;
  pp->sparse_types = st;
  pp->dense_types = dt;
  for (int j = 0; j < nd; j++) {
    deft_op_attr_shape_list_at(op, "dense_shapes", j, &pp->dense_shapes[j]);
    if (!deft_shape_is_fully_defined(pp->dense_shapes[j])) {
      char sh[128];
      deft_prepare_fail(p, DEFT_UNIMPLEMENTED,
                        "dense_shapes[%d] is %s; deft parses fixed-length dense features only "
                        "(no FixedLenSequenceFeature)",
                        j, deft_shape_format(pp->dense_shapes[j], sh, sizeof sh));
      return;
    }
  }
}

static void pe_prepare_v1(deft_prepare_ctx *p) { pe_prepare(p, false); }
static void pe_prepare_v2(deft_prepare_ctx *p) { pe_prepare(p, true); }

static void pe_shape(deft_shape_ctx *c, bool v2) {
  const deft_op *op = c->op;
  int64_t ns = 0;
  int nd = 0;
  const deft_dtype *dt;
  if (!deft_op_attr_int(op, v2 ? "num_sparse" : "Nsparse", &ns) ||
      !deft_op_attr_type_list(op, "Tdense", &dt, &nd))
    return;
  deft_shape ser = deft_shape_ctx_input(c, 0);
  if (!v2 && ser.rank > 1) ser.rank = 1;
  if (!v2 && ser.rank != 1) ser = DEFT_SHAPE(-1);
  if (v2 && ser.rank > 1) {
    deft_shape_fail(c, DEFT_INVALID_ARGUMENT,
                    "serialized has rank %d; deft parses a scalar or a "
                    "vector of Examples",
                    ser.rank);
    return;
  }
  int r = ser.rank < 0 ? -1 : ser.rank + 1;
  for (int k = 0; k < ns; k++) {
    deft_shape_ctx_set_output(c, k, DEFT_SHAPE(-1, r));
    deft_shape_ctx_set_output(c, (int)ns + k, DEFT_SHAPE(-1));
    deft_shape_ctx_set_output(c, 2 * (int)ns + k, DEFT_SHAPE(r));
  }
  for (int j = 0; j < nd; j++) {
    deft_shape ds;
    deft_shape out = deft_shape_unknown();
    if (deft_op_attr_shape_list_at(op, "dense_shapes", j, &ds) && ds.rank >= 0 && ser.rank >= 0 &&
        ds.rank + ser.rank <= DEFT_MAX_RANK) {
      out.rank = 0;
      if (ser.rank == 1) out.dims[out.rank++] = ser.dims[0];
      for (int d = 0; d < ds.rank; d++) out.dims[out.rank++] = ds.dims[d];
    }
    deft_shape_ctx_set_output(c, 3 * (int)ns + j, out);
  }
}

static void pe_shape_v1(deft_shape_ctx *c) { pe_shape(c, false); }
static void pe_shape_v2(deft_shape_ctx *c) { pe_shape(c, true); }

static const deft_op_def parse_defs[] = {
    {.type = "ParseExample",
     .inputs = "serialized: string, names: string, sparse_keys: Nsparse * string, "
               "dense_keys: Ndense * string, dense_defaults: Tdense",
     .outputs = "sparse_indices: Nsparse * int64, sparse_values: sparse_types, "
                "sparse_shapes: Nsparse * int64, dense_values: Tdense",
     .attrs = "Nsparse: int >= 0, Ndense: int >= 0, sparse_types: list(type) >= 0, "
              "Tdense: list(type) >= 0, dense_shapes: list(shape) >= 0",
     .flags = DEFT_OP_NOT_DIFFERENTIABLE,
     .shape = pe_shape_v1,
     .prepare = pe_prepare_v1,
     .kernel = parse_example_kernel},
    {.type = "ParseExampleV2",
     .inputs = "serialized: string, names: string, sparse_keys: string, dense_keys: string, "
               "ragged_keys: string, dense_defaults: Tdense",
     .outputs = "sparse_indices: num_sparse * int64, sparse_values: sparse_types, "
                "sparse_shapes: num_sparse * int64, dense_values: Tdense, "
                "ragged_values: ragged_value_types, ragged_row_splits: ragged_split_types",
     .attrs = "Tdense: list(type) >= 0, num_sparse: int >= 0, sparse_types: list(type) >= 0, "
              "ragged_value_types: list(type) >= 0, ragged_split_types: list(type) >= 0, "
              "dense_shapes: list(shape) >= 0",
     .flags = DEFT_OP_NOT_DIFFERENTIABLE,
     .shape = pe_shape_v2,
     .prepare = pe_prepare_v2,
     .kernel = parse_example_kernel},
};

DEFT_FAMILY(deft_ops_parse_example, parse_defs);
