/* SPDX-License-Identifier: Apache-2.0 */
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

/* ---- errno ---- */

/* The one errno -> status code mapping of deft (see the top of this file; EEXIST is
 * FAILED_PRECONDITION). */
deft_code deft_code_from_errno(int e);
/* Sets s to deft_code_from_errno(err) with "cannot <action> '<path>': <strerror>". */
void deft_io_error(deft_status *s, int err, const char *action, const char *path);

/* ---- fault injection ----
 * An explicit object, passed to whatever writes (a session holds one for its save/restore
 * kernels, see deft_session_set_io_hooks): never process-wide. */
typedef enum deft_io_call {
  DEFT_IO_CREATE, /* creating a temporary file (path: the final name) */
  DEFT_IO_WRITE,  /* one write(2) call */
  DEFT_IO_FSYNC,
  DEFT_IO_RENAME, /* path: the destination */
  DEFT_IO_UNLINK
} deft_io_call;

typedef struct deft_io_hooks {
  /* Called before each such call; a non-zero return is an errno value the call then fails
   * with (the call is not made). */
  int (*fault)(void *ctx, deft_io_call call, const char *path);
  void *ctx;
} deft_io_hooks;

/* rename(from, to) through the hooks (io may be NULL); false with st set naming both. */
bool deft_io_rename(const deft_io_hooks *io, const char *from, const char *to, deft_status *st);
/* unlink(path) through the hooks; false when it failed (callers treat deletion as best
 * effort). */
bool deft_io_unlink(const deft_io_hooks *io, const char *path);
/* fsyncs the directory holding path (best effort), making renames in it durable. */
void deft_io_sync_parent_dir(const char *path);

/* ---- atomic files: the one implementation of write-to-temporary, fsync, rename ----
 * open creates "<path><tag><random>" exclusively (tag NULL = ".tmp") next to path; write
 * buffers 64 KiB; close flushes, fsyncs and closes; install renames the temporary onto path;
 * commit = close + install + sync the directory, then frees. free closes and removes a
 * temporary file that was not installed. Errors name the file and the call, mapped with
 * deft_code_from_errno. Not thread-safe on one object. */
typedef struct deft_atomic_file deft_atomic_file;
deft_atomic_file *deft_atomic_file_open(const char *path, const char *tag,
                                        const deft_io_hooks *io, deft_status *st);
bool deft_atomic_file_write(deft_atomic_file *f, const void *data, size_t n, deft_status *st);
/* Bytes written so far (buffered included). */
uint64_t deft_atomic_file_offset(const deft_atomic_file *f);
/* The temporary file's name, NULL once installed. */
const char *deft_atomic_file_tmp_path(const deft_atomic_file *f);
bool deft_atomic_file_close(deft_atomic_file *f, deft_status *st);
bool deft_atomic_file_install(deft_atomic_file *f, deft_status *st);
bool deft_atomic_file_commit(deft_atomic_file *f, deft_status *st);
void deft_atomic_file_free(deft_atomic_file *f);

/* deft_write_file_atomic through io's hooks with temporary-name tag (NULL = ".tmp"). */
bool deft_write_file_atomic_io(const deft_io_hooks *io, const char *path, const void *data,
                               size_t len, const char *tag, deft_status *st);

/* ---- confinement ---- */

/* The absolute, symlink-free form of path (realpath), or for a path that does not exist yet,
 * of its directory plus its last component (which must not be "." or ".."). NULL when it
 * cannot be resolved or on OOM. deft_malloc'd. */
char *deft_path_resolve(const char *path);
/* True iff path resolves (deft_path_resolve) to one of dirs (resolved absolute directories)
 * or below one. False when it cannot be resolved. */
bool deft_path_within(const char *path, char *const *dirs, int ndirs);

#endif
