/* base/file_io.h - whole-file I/O for the protobuf files deft reads and writes (.meta, .pb,
 * checkpoint indexes). Internal to the library.
 *
 * Errors go to a deft_status (which may be NULL) with the path in the message:
 *   NOT_FOUND           the file, or a directory on its path, does not exist;
 *   FAILED_PRECONDITION permission denied, read-only file system, or not a regular file;
 *   RESOURCE_EXHAUSTED  the file exceeds the size limit, out of memory, disk full;
 *   DATA_LOSS           an I/O error, or the file shrank while it was read;
 *   INTERNAL            any other system error (the errno text is included).
 */
#ifndef DEFT_RUNTIME_PBIO_H
#define DEFT_RUNTIME_PBIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "deft/status.h"

/* Largest file deft_read_file accepts: 2 GiB - 1, the most a protobuf message may hold. */
#define DEFT_READ_FILE_MAX ((size_t)INT32_MAX)

/* Reads the whole regular file at `path`. On success returns true and sets *data to a buffer
 * of *len bytes followed by one NUL byte (so text files can be used as C strings); the caller
 * frees it with deft_free. The buffer is non-NULL even for an empty file. On failure returns
 * false, sets *data = NULL and *len = 0, and fills st. */
bool deft_read_file(const char *path, uint8_t **data, size_t *len, deft_status *st);

/* Like deft_read_file, with a caller-chosen size limit: a file of more than `max_len` bytes
 * fails with RESOURCE_EXHAUSTED before anything is allocated. */
bool deft_read_file_max(const char *path, size_t max_len, uint8_t **data, size_t *len,
                        deft_status *st);

/* Replaces (or creates) the file at `path` with `len` bytes of `data`, atomically: the bytes
 * go to a new temporary file in the same directory, which is flushed to disk (fsync) and then
 * renamed over `path`; the directory is then synced too (best effort). Readers see either the
 * old file or the complete new one. On failure returns false, fills st, removes the temporary
 * file and leaves any existing `path` untouched. The new file gets mode 0666 minus the umask.
 * `data` may be NULL when len is 0. */
bool deft_write_file_atomic(const char *path, const void *data, size_t len, deft_status *st);

#endif
