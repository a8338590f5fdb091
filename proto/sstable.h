/* SPDX-License-Identifier: Apache-2.0 */
/* proto/sstable.h - LevelDB-style immutable sorted tables, the format of a TF checkpoint's
 * .index file (../shared/spec/TF_FORMATS.md section 4.3): prefix-compressed data blocks with
 * restart arrays, an empty metaindex block, an index block, and a 48-byte footer with the table
 * magic. Each block is followed by a type byte (0 = none, 1 = Snappy) and a masked CRC32C.
 *
 * The builder writes exactly the bytes TF's TableBuilder writes for the same entries (no
 * compression). The reader loads a whole table into memory, verifies every block's CRC and
 * structure, and decodes all entries up front; every malformed input is a DEFT_DATA_LOSS naming
 * the file and the byte offset. Keys and values are byte strings (may contain NUL bytes), ordered
 * bytewise (memcmp, shorter prefix first). Internal to the library. */
#ifndef DEFT_RUNTIME_SSTABLE_H
#define DEFT_RUNTIME_SSTABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "deft/status.h"

/* TF's defaults: flush a data block once its size estimate reaches 256 KiB; a restart point every
 * 16 entries in data blocks (every entry in the index block). */
#define DEFT_SSTABLE_BLOCK_SIZE 262144
#define DEFT_SSTABLE_RESTART_INTERVAL 16
#define DEFT_SSTABLE_FOOTER_SIZE 48
#define DEFT_SSTABLE_MAGIC UINT64_C(0xdb4775248b80fb57)

/* ---- varints (LEB128, as in protobuf) ---- */

/* Writes v as a varint to dst (room for 10 bytes needed). Returns the number of bytes written. */
size_t deft_varint64_put(unsigned char *dst, uint64_t v);

/* Decodes a varint of at most 10 bytes (5 when max_bits is 32) from [p, limit). Returns the byte
 * after it and stores the value in *v, or returns NULL when the varint is truncated, too long, or
 * overflows max_bits (32 or 64). */
const unsigned char *deft_varint_get(const unsigned char *p, const unsigned char *limit,
                                     int max_bits, uint64_t *v);

/* deft_io_error (base/file_io.h) sets a status from a failed file operation's errno. */
#include "base/file_io.h"

/* ---- writing ---- */

/* Receives the table's bytes in order. Returns false with status set to stop the build. */
typedef bool (*deft_sstable_write_fn)(void *ctx, const void *data, size_t n,
                                      deft_status *status);

typedef struct deft_sstable_builder deft_sstable_builder;

/* Returns a builder that passes its output to write(ctx, ...), or NULL (RESOURCE_EXHAUSTED) when
 * memory is exhausted. The caller owns the builder; free it with deft_sstable_builder_free. */
deft_sstable_builder *deft_sstable_builder_new(deft_sstable_write_fn write, void *ctx,
                                               deft_status *status);

/* Sets the data block size threshold (default DEFT_SSTABLE_BLOCK_SIZE). Only before the first
 * add; tests use small sizes to get many blocks. */
void deft_sstable_builder_set_block_size(deft_sstable_builder *b, size_t block_size);

/* Appends an entry. key must sort strictly after the previous key (INVALID_ARGUMENT otherwise).
 * The bytes are copied. Returns false with status set on failure (bad order, out of memory, or
 * the write callback's error); after a failure the builder only accepts free. */
bool deft_sstable_builder_add(deft_sstable_builder *b, const void *key, size_t klen,
                              const void *value, size_t vlen, deft_status *status);

/* Writes the last data block, the metaindex and index blocks and the footer. Returns false with
 * status set on failure. Call at most once. */
bool deft_sstable_builder_finish(deft_sstable_builder *b, deft_status *status);

/* Returns the number of bytes passed to the write callback so far. */
uint64_t deft_sstable_builder_file_size(const deft_sstable_builder *b);

/* Frees b. Accepts NULL. Does not call the write callback. */
void deft_sstable_builder_free(deft_sstable_builder *b);

/* ---- reading ---- */

typedef struct deft_sstable deft_sstable;

/* Reads and validates the whole table in the file at path. Returns NULL with status set on
 * failure: NOT_FOUND if the file does not exist, DATA_LOSS (path and byte offset in the message)
 * if it is malformed, RESOURCE_EXHAUSTED / INTERNAL / FAILED_PRECONDITION for memory and I/O
 * errors. The caller owns the table; free it with deft_sstable_free. */
deft_sstable *deft_sstable_open(const char *path, deft_status *status);

/* Like deft_sstable_open, on a copy of the size bytes at data; name is used in messages. */
deft_sstable *deft_sstable_open_buffer(const void *data, size_t size, const char *name,
                                       deft_status *status);

/* Returns the number of entries (all data blocks together). */
size_t deft_sstable_num_entries(const deft_sstable *t);

/* Returns the number of data blocks. */
size_t deft_sstable_num_data_blocks(const deft_sstable *t);

/* Stores entry i's key and value (0 <= i < num_entries; entries sorted by key). The pointers are
 * owned by t and valid until deft_sstable_free; the key is also NUL-terminated after its
 * length (the value is not). */
void deft_sstable_entry(const deft_sstable *t, size_t i, const char **key, size_t *klen,
                        const char **value, size_t *vlen);

/* Looks key up. Returns true and stores the entry's index in *index (may be NULL) if present;
 * false otherwise. */
bool deft_sstable_find(const deft_sstable *t, const void *key, size_t klen, size_t *index);

/* Frees t. Accepts NULL. */
void deft_sstable_free(deft_sstable *t);

#endif
