/* SPDX-License-Identifier: Apache-2.0 */
/* base/file_io.c - whole-file reads and atomic writes (see base/file_io.h). */
#define _XOPEN_SOURCE 700 /* realpath */
#include "base/file_io.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/alloc.h"

/* Largest single read()/write() request; Linux transfers at most about 2 GiB per call. */
#define IO_CHUNK ((size_t)1 << 30)

deft_code deft_code_from_errno(int e) {
  switch (e) {
    case ENOENT:
    case ENOTDIR:
      return DEFT_NOT_FOUND;
    case EACCES:
    case EPERM:
    case EROFS:
    case EISDIR:
    case ETXTBSY:
    case ELOOP:
    case EEXIST:
      return DEFT_FAILED_PRECONDITION;
    case ENOSPC:
    case ENOMEM:
    case EMFILE:
    case ENFILE:
    case EFBIG:
#ifdef EDQUOT
    case EDQUOT:
#endif
      return DEFT_RESOURCE_EXHAUSTED;
    case ENAMETOOLONG:
      return DEFT_INVALID_ARGUMENT;
    case EIO:
      return DEFT_DATA_LOSS;
    default:
      return DEFT_INTERNAL;
  }
}

void deft_io_error(deft_status *s, int err, const char *action, const char *path) {
  char msg[256];
  if (strerror_r(err, msg, sizeof msg) != 0) snprintf(msg, sizeof msg, "errno %d", err);
  deft_status_set(s, deft_code_from_errno(err), "cannot %s '%s': %s", action, path, msg);
}

/* Sets st from errno value e: "<what> '<path>': <system message>". */
static void set_errno_status(deft_status *st, int e, const char *what, const char *path) {
  char msg[256];
  if (strerror_r(e, msg, sizeof msg) != 0) snprintf(msg, sizeof msg, "errno %d", e);
  deft_status_set(st, deft_code_from_errno(e), "%s '%s': %s", what, path, msg);
}

static void close_keep_errno(int fd) {
  int e = errno;
  close(fd);
  errno = e;
}

bool deft_read_file_max(const char *path, size_t max_len, uint8_t **data, size_t *len,
                        deft_status *st) {
  *data = NULL;
  *len = 0;
  /* O_NONBLOCK: opening a FIFO must not hang; it is rejected below as not a regular file. */
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    set_errno_status(st, errno, "cannot open", path);
    return false;
  }
  struct stat sb;
  if (fstat(fd, &sb) != 0) {
    set_errno_status(st, errno, "cannot stat", path);
    close_keep_errno(fd);
    return false;
  }
  if (!S_ISREG(sb.st_mode)) {
    deft_status_set(st, DEFT_FAILED_PRECONDITION, "cannot read '%s': %s", path,
                    S_ISDIR(sb.st_mode) ? "it is a directory" : "not a regular file");
    close(fd);
    return false;
  }
  if (sb.st_size < 0 || (uintmax_t)sb.st_size > (uintmax_t)max_len) {
    deft_status_set(st, DEFT_RESOURCE_EXHAUSTED,
                    "cannot read '%s': file is %jd bytes, more than the limit of %zu bytes", path,
                    (intmax_t)sb.st_size, max_len);
    close(fd);
    return false;
  }
  /* Back to blocking reads: EAGAIN must not turn the loop below into a spin. */
  int flags = fcntl(fd, F_GETFL);
  if (flags >= 0) (void)fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  size_t size = (size_t)sb.st_size;
  uint8_t *buf = deft_malloc(size + 1);
  if (!buf) {
    deft_status_set(st, DEFT_RESOURCE_EXHAUSTED,
                    "cannot read '%s': out of memory for %zu bytes", path, size);
    close(fd);
    return false;
  }
  size_t off = 0;
  while (off < size) {
    size_t want = size - off < IO_CHUNK ? size - off : IO_CHUNK;
    ssize_t r = read(fd, buf + off, want);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      char what[96];
      snprintf(what, sizeof what, "read error at byte offset %zu of", off);
      set_errno_status(st, errno, what, path);
      close_keep_errno(fd);
      deft_free(buf);
      return false;
    }
    if (r == 0) {
      deft_status_set(st, DEFT_DATA_LOSS,
                      "cannot read '%s': file ended at byte offset %zu, expected %zu bytes "
                      "(was it truncated while being read?)",
                      path, off, size);
      close(fd);
      deft_free(buf);
      return false;
    }
    off += (size_t)r;
  }
  close(fd);
  buf[size] = 0;
  *data = buf;
  *len = size;
  return true;
}

bool deft_read_file(const char *path, uint8_t **data, size_t *len, deft_status *st) {
  return deft_read_file_max(path, DEFT_READ_FILE_MAX, data, len, st);
}

/* ---- fault injection ---- */

/* The errno the hooks inject for this call, or 0. */
static int injected(const deft_io_hooks *io, deft_io_call call, const char *path) {
  return io && io->fault ? io->fault(io->ctx, call, path) : 0;
}

bool deft_io_rename(const deft_io_hooks *io, const char *from, const char *to,
                    deft_status *st) {
  int e = injected(io, DEFT_IO_RENAME, to);
  if (!e && rename(from, to) != 0) e = errno;
  if (!e) return true;
  char what[64 + 4096];
  snprintf(what, sizeof what, "rename '%s' to", from);
  deft_io_error(st, e, what, to);
  return false;
}

bool deft_io_unlink(const deft_io_hooks *io, const char *path) {
  if (injected(io, DEFT_IO_UNLINK, path)) return false;
  return unlink(path) == 0;
}

/* ---- atomic files ---- */

#define ATOMIC_BUF 65536

struct deft_atomic_file {
  const deft_io_hooks *io;
  int fd;
  char *path;     /* the final name */
  char *tmp_path; /* the temporary file, NULL once renamed or removed */
  uint64_t offset;
  size_t len;
  unsigned char buf[ATOMIC_BUF];
};

static uint64_t random_u64(void) {
  static atomic_uint_fast64_t counter;
  uint64_t v = 0;
  int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    if (read(fd, &v, sizeof v) != (ssize_t)sizeof v) v = 0;
    close(fd);
  }
  return v ^ (uint64_t)getpid() << 32 ^ (uint64_t)atomic_fetch_add(&counter, 1);
}

deft_atomic_file *deft_atomic_file_open(const char *path, const char *tag,
                                        const deft_io_hooks *io, deft_status *st) {
  deft_atomic_file *f = deft_malloc(sizeof *f);
  size_t cap = strlen(path) + (tag ? strlen(tag) : 4) + 24;
  char *final = deft_strdup(path), *tmp = deft_malloc(cap);
  if (!f || !final || !tmp) {
    deft_free(f);
    deft_free(final);
    deft_free(tmp);
    deft_status_set(st, DEFT_RESOURCE_EXHAUSTED, "cannot write '%s': out of memory", path);
    return NULL;
  }
  /* A fresh name next to the target (same file system, so rename is atomic). O_EXCL never
   * reuses a file someone else made; on a clash, try another name. */
  int fd = -1, e = injected(io, DEFT_IO_CREATE, path);
  for (int attempt = 0; !e && attempt < 100 && fd < 0; attempt++) {
    snprintf(tmp, cap, "%s%s%" PRIu64, path, tag ? tag : ".tmp", random_u64());
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0 && errno != EEXIST) e = errno;
  }
  if (fd < 0) {
    deft_io_error(st, e ? e : EEXIST, "create a temporary file for", path);
    deft_free(f);
    deft_free(final);
    deft_free(tmp);
    return NULL;
  }
  f->io = io;
  f->fd = fd;
  f->path = final;
  f->tmp_path = tmp;
  f->offset = 0;
  f->len = 0;
  return f;
}

/* Writes n bytes at p to f's descriptor. */
static bool write_fd(deft_atomic_file *f, const unsigned char *p, size_t n, deft_status *st) {
  while (n > 0) {
    int e = injected(f->io, DEFT_IO_WRITE, f->tmp_path);
    size_t want = n < IO_CHUNK ? n : IO_CHUNK;
    ssize_t w = e ? -1 : write(f->fd, p, want);
    if (w < 0 && !e && errno == EINTR) continue;
    if (w <= 0) {
      deft_io_error(st, e ? e : w == 0 ? EIO : errno, "write", f->tmp_path);
      return false;
    }
    p += w;
    n -= (size_t)w;
  }
  return true;
}

bool deft_atomic_file_write(deft_atomic_file *f, const void *data, size_t n, deft_status *st) {
  const unsigned char *p = data;
  f->offset += n;
  if (f->len + n > sizeof f->buf) {
    bool ok = write_fd(f, f->buf, f->len, st);
    f->len = 0;
    if (!ok) return false;
    if (n >= sizeof f->buf) return write_fd(f, p, n, st);
  }
  if (n) memcpy(f->buf + f->len, p, n);
  f->len += n;
  return true;
}

uint64_t deft_atomic_file_offset(const deft_atomic_file *f) { return f->offset; }
const char *deft_atomic_file_tmp_path(const deft_atomic_file *f) { return f->tmp_path; }

bool deft_atomic_file_close(deft_atomic_file *f, deft_status *st) {
  if (f->fd < 0) return true;
  bool ok = write_fd(f, f->buf, f->len, st);
  f->len = 0;
  int e = ok ? injected(f->io, DEFT_IO_FSYNC, f->tmp_path) : 0;
  if (ok && (e || fsync(f->fd) != 0)) {
    deft_io_error(st, e ? e : errno, "sync", f->tmp_path);
    ok = false;
  }
  if (close(f->fd) != 0 && ok) {
    deft_io_error(st, errno, "close", f->tmp_path);
    ok = false;
  }
  f->fd = -1;
  return ok;
}

bool deft_atomic_file_install(deft_atomic_file *f, deft_status *st) {
  if (!deft_io_rename(f->io, f->tmp_path, f->path, st)) return false;
  deft_free(f->tmp_path);
  f->tmp_path = NULL;
  return true;
}

void deft_atomic_file_free(deft_atomic_file *f) {
  if (!f) return;
  if (f->fd >= 0) close(f->fd);
  if (f->tmp_path) (void)unlink(f->tmp_path); /* cleanup is not a fault-injection point */
  deft_free(f->tmp_path);
  deft_free(f->path);
  deft_free(f);
}

void deft_io_sync_parent_dir(const char *path) {
  const char *slash = strrchr(path, '/');
  char *dir = NULL;
  if (!slash) dir = deft_strdup(".");
  else if (slash == path) dir = deft_strdup("/");
  else dir = deft_strndup(path, (size_t)(slash - path));
  if (!dir) return;
  int fd = open(dir, O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    (void)fsync(fd);
    close(fd);
  }
  deft_free(dir);
}

bool deft_atomic_file_commit(deft_atomic_file *f, deft_status *st) {
  bool ok = deft_atomic_file_close(f, st) && deft_atomic_file_install(f, st);
  if (ok) deft_io_sync_parent_dir(f->path);
  deft_atomic_file_free(f);
  return ok;
}

bool deft_write_file_atomic_io(const deft_io_hooks *io, const char *path, const void *data,
                               size_t len, const char *tag, deft_status *st) {
  deft_atomic_file *f = deft_atomic_file_open(path, tag, io, st);
  if (!f) return false;
  if (!deft_atomic_file_write(f, data, len, st)) {
    deft_atomic_file_free(f);
    return false;
  }
  return deft_atomic_file_commit(f, st);
}

bool deft_write_file_atomic(const char *path, const void *data, size_t len, deft_status *st) {
  return deft_write_file_atomic_io(NULL, path, data, len, NULL, st);
}

/* ---- confinement ---- */

char *deft_path_resolve(const char *path) {
  char buf[PATH_MAX];
  if (realpath(path, buf)) return deft_strdup(buf);
  if (errno != ENOENT) return NULL;
  /* Not there (yet): resolve the directory, keep the last component (never "." or ".."). */
  const char *slash = strrchr(path, '/');
  const char *base = slash ? slash + 1 : path;
  if (!*base || !strcmp(base, ".") || !strcmp(base, "..")) return NULL;
  char *dir = !slash ? deft_strdup(".")
             : slash == path ? deft_strdup("/")
                             : deft_strndup(path, (size_t)(slash - path));
  if (!dir) return NULL;
  bool ok = realpath(dir, buf) != NULL;
  deft_free(dir);
  if (!ok) return NULL;
  size_t a = strlen(buf), b = strlen(base);
  char *r = deft_malloc(a + b + 2);
  if (!r) return NULL;
  memcpy(r, buf, a);
  r[a] = '/';
  memcpy(r + a + 1, base, b + 1);
  return r;
}

bool deft_path_within(const char *path, char *const *dirs, int ndirs) {
  char *r = deft_path_resolve(path);
  if (!r) return false;
  bool inside = false;
  for (int i = 0; i < ndirs && !inside; i++) {
    size_t n = strlen(dirs[i]);
    if (n == 1 && dirs[i][0] == '/') inside = true;
    else inside = !strncmp(r, dirs[i], n) && (r[n] == '/' || r[n] == 0);
  }
  deft_free(r);
  return inside;
}
