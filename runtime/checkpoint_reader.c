/* SPDX-License-Identifier: Apache-2.0 */
/* runtime/checkpoint_reader.c - the public checkpoint reader (deft/saver.h), a thin layer over
 * the bundle reader (proto/bundle.h). */
#include "deft/saver.h"
#include "proto/bundle.h"

/* A deft_checkpoint_reader is a deft_bundle_reader under its public name. */
deft_checkpoint_reader *deft_checkpoint_reader_open(const char *prefix, deft_status *status) {
  deft_bundle_reader *b = deft_bundle_reader_open(prefix, status);
  if (!b) return NULL;
  /* The struct is just the bundle reader: avoid an extra allocation that could fail. */
  return (deft_checkpoint_reader *)b;
}

void deft_checkpoint_reader_free(deft_checkpoint_reader *r) {
  deft_bundle_reader_free((deft_bundle_reader *)r);
}

int deft_checkpoint_reader_num_tensors(const deft_checkpoint_reader *r) {
  return deft_bundle_reader_num_entries((const deft_bundle_reader *)r);
}

const char *deft_checkpoint_reader_name(const deft_checkpoint_reader *r, int i) {
  return deft_bundle_reader_key((const deft_bundle_reader *)r, i);
}

bool deft_checkpoint_reader_lookup(const deft_checkpoint_reader *r, const char *name,
                                   deft_dtype *dtype, deft_shape *shape) {
  deft_dtype d;
  deft_shape s;
  bool ok = deft_bundle_reader_lookup((const deft_bundle_reader *)r, name, &d, &s);
  if (ok && dtype) *dtype = d;
  if (ok && shape) *shape = s;
  return ok;
}

deft_tensor *deft_checkpoint_reader_read(deft_checkpoint_reader *r, const char *name,
                                         deft_status *status) {
  return deft_bundle_reader_read((deft_bundle_reader *)r, name, status);
}
