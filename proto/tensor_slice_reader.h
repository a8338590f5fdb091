/* SPDX-License-Identifier: Apache-2.0 */
/* proto/tensor_slice_reader.h - TF's V1 checkpoints (TF <= 0.12: SaveSlices / RestoreSlice), the
 * tensor-slice table format (proto/saved_tensor_slice.proto): one SSTable file whose key "" holds
 * the metadata of every tensor (name, shape, dtype, saved slices) and whose other keys hold one
 * slice each. The reader loads the table, decodes the metadata, and assembles a tensor from its
 * slices on read, checking that they cover it exactly once. Internal to the library; the bundle
 * reader (proto/bundle.h) opens V1 files through it, so every checkpoint path of deft reads
 * them. */
#ifndef DEFT_PROTO_TENSOR_SLICE_READER_H
#define DEFT_PROTO_TENSOR_SLICE_READER_H

#include <stdbool.h>

#include "deft/status.h"
#include "deft/tensor.h"

typedef struct deft_v1_reader deft_v1_reader;

/* True iff path is a regular file ending with an SSTable footer (the table magic in its last 8
 * bytes): how a V1 checkpoint file is told apart from a V2 prefix. */
bool deft_v1_is_table(const char *path);

/* Opens the V1 checkpoint file at path. NULL with status set: NOT_FOUND, DATA_LOSS naming the
 * file (and the entry's key or byte offset) for a malformed table, metadata or slice key. */
deft_v1_reader *deft_v1_reader_open(const char *path, deft_status *status);

/* The tensors, in name order (0 <= i < num). */
int deft_v1_reader_num(const deft_v1_reader *r);
const char *deft_v1_reader_name(const deft_v1_reader *r, int i);

/* Stored dtype (TF's number) and shape of name; false if absent. */
bool deft_v1_reader_lookup(const deft_v1_reader *r, const char *name, deft_dtype *dtype,
                           deft_shape *shape);

/* Assembles tensor `name` from its slices. NULL with status set: NOT_FOUND, UNIMPLEMENTED for a
 * dtype deft does not store, DATA_LOSS for slices that are out of bounds, overlap, leave a gap
 * or hold the wrong number of values. */
deft_tensor *deft_v1_reader_read(const deft_v1_reader *r, const char *name, deft_status *status);

void deft_v1_reader_free(deft_v1_reader *r);

#endif
