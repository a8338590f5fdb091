/* SPDX-License-Identifier: Apache-2.0 */
/* proto/bundle.h - TensorFlow V2 checkpoints ("tensor bundles"): a prefix P names the files
 * P.index (a table from tensor name to BundleEntryProto, see proto/sstable.h) and
 * P.data-00000-of-00001 (the tensor bytes), plus the text `checkpoint` state file of a directory.
 * Format: ../shared/spec/TF_FORMATS.md section 4. This layer knows nothing of graphs or sessions:
 * it maps names to tensors. Internal to the library.
 *
 * Conventions: functions that fail return false/NULL and set the deft_status (which may be NULL);
 * malformed files give DEFT_DATA_LOSS with the file's path and, where it applies, the byte offset
 * or the tensor name; a missing file gives DEFT_NOT_FOUND naming it. All memory comes from
 * base/alloc.h; strings returned to the caller are released with deft_free. Host byte order
 * must be little-endian (as the files are). */
#ifndef DEFT_RUNTIME_BUNDLE_H
#define DEFT_RUNTIME_BUNDLE_H

#include <stdbool.h>

#include "deft/status.h"
#include "deft/tensor.h"
#include "base/file_io.h"

/* ---- writing ---- */

typedef struct deft_bundle_writer deft_bundle_writer;

/* Starts a checkpoint at prefix (e.g. "/dir/model.ckpt-1000"). Nothing is written until finish.
 * Returns the writer (owned by the caller; free with deft_bundle_writer_free), or NULL with
 * status set (INVALID_ARGUMENT for an empty prefix, RESOURCE_EXHAUSTED). */
deft_bundle_writer *deft_bundle_writer_new(const char *prefix, deft_status *status);

/* Records tensor t under key (a non-empty NUL-terminated name such as "dense/kernel"). Keys may
 * be added in any order. t's buffer is shared, not copied, until finish or free: the caller must
 * not change it in place meanwhile (deft's copy-on-write helpers copy a shared buffer first).
 * Returns false with status set: INVALID_ARGUMENT for an empty or duplicate key, an empty tensor
 * or a dtype deft does not know; FAILED_PRECONDITION after finish; RESOURCE_EXHAUSTED. */
bool deft_bundle_writer_add(deft_bundle_writer *w, const char *key, const deft_tensor *t,
                            deft_status *status);

/* Writes P.data-00000-of-00001 (tensors densely packed in bytewise key order) and P.index, byte
 * for byte as TensorFlow would. Atomic: both files are written as "<final>.tempstate<random>",
 * fsynced and renamed into place; on any failure the temporary files are removed and a previous
 * checkpoint at the same prefix is left intact (its data file is restored if the second rename
 * fails). Returns true on success; false with status set (I/O errors name the file). Call at
 * most once; the writer then only accepts free. */
bool deft_bundle_writer_finish(deft_bundle_writer *w, deft_status *status);

/* Frees w and releases its references to the added tensors. Accepts NULL. Does not write. */
void deft_bundle_writer_free(deft_bundle_writer *w);

/* Makes w's files go through io's fault-injection hooks (base/file_io.h); io (may be NULL)
 * must outlive w. */
void deft_bundle_writer_set_io(deft_bundle_writer *w, const deft_io_hooks *io);

/* ---- reading ---- */

typedef struct deft_bundle_reader deft_bundle_reader;

/* Opens the checkpoint at prefix: reads and validates P.index (every block CRC, the header entry,
 * every BundleEntryProto) and opens each data shard P.data-%05d-of-%05d that an entry refers
 * to. Returns the reader (owned by the caller; free with deft_bundle_reader_free) or NULL with
 * status set: NOT_FOUND naming the missing .index or data file; DATA_LOSS for malformed files;
 * UNIMPLEMENTED for big-endian bundles; FAILED_PRECONDITION for a bundle version this reader does
 * not accept. Entries whose key holds a NUL byte (slices of partitioned variables) are skipped. */
deft_bundle_reader *deft_bundle_reader_open(const char *prefix, deft_status *status);

/* Returns the number of data shards the header declares (P.data-00000-of-N ... ). */
int deft_bundle_reader_num_shards(const deft_bundle_reader *r);

/* Returns the number of tensor entries (the header entry not counted). */
int deft_bundle_reader_num_entries(const deft_bundle_reader *r);

/* Returns the i-th key in bytewise order (0 <= i < num_entries), or NULL when i is out of range.
 * The string is owned by r and valid until deft_bundle_reader_free. */
const char *deft_bundle_reader_key(const deft_bundle_reader *r, int i);

/* Looks key up without reading data. Returns false if the checkpoint has no such key. Otherwise
 * returns true and stores the entry's dtype (TF's DataType number, which may be one deft does not
 * support) and shape (the unknown shape if its rank exceeds DEFT_MAX_RANK) where the pointers are
 * non-NULL. */
bool deft_bundle_reader_lookup(const deft_bundle_reader *r, const char *key, deft_dtype *dtype,
                               deft_shape *shape);

/* Reads the tensor stored under key and checks its size and CRC. Returns a new tensor owned by
 * the caller (deft_tensor_free), or NULL with status set: NOT_FOUND naming the key if absent;
 * DATA_LOSS "checkpoint tensor '<key>' in <file>: ..." for a size or crc32c mismatch, bytes past
 * the end of the shard or malformed string data; UNIMPLEMENTED naming key and dtype for dtypes
 * deft does not support, for sliced (partitioned) entries and for ranks above DEFT_MAX_RANK;
 * INTERNAL for read errors; RESOURCE_EXHAUSTED. */
deft_tensor *deft_bundle_reader_read(deft_bundle_reader *r, const char *key,
                                     deft_status *status);

/* Closes the shard files and frees r. Accepts NULL. */
void deft_bundle_reader_free(deft_bundle_reader *r);

/* ---- the `checkpoint` state file of a directory (TF_FORMATS.md 4.7) ---- */

/* Parses <dir>/checkpoint (protobuf text format of CheckpointState, C-style string escapes).
 * Paths that are not absolute are joined onto dir. On success returns true and stores
 * model_checkpoint_path in *model_path and the all_model_checkpoint_paths in *all_paths (an array
 * of *n strings, NULL when n is 0); release them with deft_checkpoint_state_free. all_paths and
 * n may be NULL when not wanted. Timestamp fields are accepted and ignored. On failure returns
 * false, stores nothing, and sets status: NOT_FOUND if the file does not exist, DATA_LOSS with
 * the path and byte offset for malformed text, an unknown field or a missing
 * model_checkpoint_path. */
bool deft_checkpoint_state_read(const char *dir, char **model_path, char ***all_paths, int *n,
                                deft_status *status);

/* Frees what deft_checkpoint_state_read returned. Accepts NULLs. */
void deft_checkpoint_state_free(char *model_path, char **all_paths, int n);

/* Atomically writes <dir>/checkpoint in TF 1.10's layout:
 *   model_checkpoint_path: "<model_path>"\n
 *   all_model_checkpoint_paths: "<all_paths[i]>"\n   (for each i < n)
 * with C-style escapes (non-printable bytes as octal). The text goes to
 * <dir>/checkpoint.tmp<random>, is fsynced, then renamed over <dir>/checkpoint; on failure the
 * temporary file is removed. Returns true on success, false with status set (I/O errors name the
 * file; INVALID_ARGUMENT for n < 0 or a NULL path). */
bool deft_checkpoint_state_write(const char *dir, const char *model_path,
                                 const char *const *all_paths, int n, deft_status *status);

/* Returns model_checkpoint_path of <dir>/checkpoint (joined onto dir if relative) if the file
 * <path>.index exists; the string is owned by the caller (deft_free). Otherwise returns NULL with
 * status set: NOT_FOUND if there is no state file or no such .index file, or the state file's
 * error (DATA_LOSS) if it cannot be parsed. */
/* deft_checkpoint_state_write through io's fault-injection hooks (io may be NULL). */
bool deft_checkpoint_state_write_io(const char *dir, const char *model_path,
                                    const char *const *all_paths, int n,
                                    const deft_io_hooks *io, deft_status *status);

char *deft_latest_checkpoint(const char *dir, deft_status *status);

#endif
