/* base/file_io.c - whole-file reads and atomic writes (see base/file_io.h). */
#include "base/file_io.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/alloc.h"

/* Largest single read()/write() request; Linux transfers at most about 2 GiB per call. */
#define IO_CHUNK ((size_t)1 << 30)

static deft_code code_for_errno(int e) {
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

/* Sets st from errno value e: "<what> '<path>': <system message>". */
static void set_errno_status(deft_status *st, int e, const char *what, const char *path) {
  char msg[256];
  if (strerror_r(e, msg, sizeof msg) != 0) snprintf(msg, sizeof msg, "errno %d", e);
  deft_status_set(st, code_for_errno(e), "%s '%s': %s", what, path, msg);
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

/* Writes all of data to fd; returns 0 or an errno value. */
static int write_all(int fd, const uint8_t *data, size_t len) {
  size_t off = 0;
  while (off < len) {
    size_t want = len - off < IO_CHUNK ? len - off : IO_CHUNK;
    ssize_t w = write(fd, data + off, want);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return errno;
    if (w == 0) return EIO;
    off += (size_t)w;
  }
  return 0;
}

/* Makes the rename of a file in path's directory durable. Best effort: some file systems
 * cannot sync a directory, and the new file's data is already on disk. */
static void sync_parent_dir(const char *path) {
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

bool deft_write_file_atomic(const char *path, const void *data, size_t len, deft_status *st) {
  static atomic_uint counter;
  size_t tmp_cap = strlen(path) + 64;
  char *tmp = deft_malloc(tmp_cap);
  if (!tmp) {
    deft_status_set(st, DEFT_RESOURCE_EXHAUSTED, "cannot write '%s': out of memory", path);
    return false;
  }
  /* A fresh name next to the target (same file system, so rename is atomic). O_EXCL never
   * reuses a file someone else made; on a clash, try the next name. */
  int fd = -1;
  for (int attempt = 0; attempt < 100 && fd < 0; attempt++) {
    snprintf(tmp, tmp_cap, "%s.tmp-%ld-%u", path, (long)getpid(),
             atomic_fetch_add(&counter, 1u));
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0 && errno != EEXIST) break;
  }
  if (fd < 0) {
    set_errno_status(st, errno, "cannot create a temporary file for", path);
    deft_free(tmp);
    return false;
  }
  const char *failed = NULL;
  int err = write_all(fd, data, len);
  if (err) failed = "write error on temporary file for";
  if (!failed && fsync(fd) != 0) {
    err = errno;
    failed = "cannot sync temporary file for";
  }
  if (close(fd) != 0 && !failed) {
    err = errno;
    failed = "cannot close temporary file for";
  }
  if (!failed && rename(tmp, path) != 0) {
    err = errno;
    failed = "cannot rename temporary file onto";
  }
  if (failed) {
    unlink(tmp);
    set_errno_status(st, err, failed, path);
    deft_free(tmp);
    return false;
  }
  deft_free(tmp);
  sync_parent_dir(path);
  return true;
}
