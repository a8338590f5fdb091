/* SPDX-License-Identifier: Apache-2.0 */
/* runtime/summary_writer.c - tf.summary.FileWriter's job: Event records in TFRecord framing,
 * appended to <logdir>/events.out.tfevents.<time>.<host>. See deft/summary.h for the contract. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "deft/summary.h"
#include "event.pb-c.h"
#include "graph/io_internal.h"
#include "base/alloc.h"
#include "base/crc32c.h"
#include "proto/tensor_proto.h"
#include "summary.pb-c.h"

/* Flush by itself once this many events are buffered (TF's max_queue default). */
#define WRITER_MAX_QUEUE 10

struct deft_summary_writer {
  char *path;
  int fd; /* -1 once closed */
  uint8_t *buf;
  size_t len, cap;
  int queued;
};

static double wall_time(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* mkdir -p. Returns false with st set, naming the directory. */
static bool make_dirs(const char *dir, deft_status *st) {
  char *p = deft_strdup(dir);
  if (!p) {
    deft_status_set(st, DEFT_RESOURCE_EXHAUSTED, "out of memory creating '%s'", dir);
    return false;
  }
  bool ok = true;
  for (char *s = p + 1;; s++) {
    if (*s != '/' && *s) continue;
    char c = *s;
    *s = 0;
    if (mkdir(p, 0777) != 0 && errno != EEXIST) {
      deft_status_set(st, DEFT_FAILED_PRECONDITION, "cannot create directory '%s': %s", p,
                      strerror(errno));
      ok = false;
      break;
    }
    *s = c;
    if (!c) break;
  }
  struct stat sb;
  if (ok && (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))) {
    deft_status_set(st, DEFT_FAILED_PRECONDITION, "'%s' is not a directory", dir);
    ok = false;
  }
  deft_free(p);
  return ok;
}

static void put_u32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* Appends one TFRecord: length, masked CRC of the length, data, masked CRC of the data. */
static bool buffer_record(deft_summary_writer *w, const uint8_t *data, size_t n, deft_status *st) {
  size_t need = w->len + n + 16;
  if (need > w->cap) {
    size_t cap = w->cap ? w->cap : 4096;
    while (cap < need) cap *= 2;
    uint8_t *nb = deft_realloc(w->buf, cap);
    if (!nb) {
      deft_status_set(st, DEFT_RESOURCE_EXHAUSTED, "out of memory buffering a record of %zu "
                      "bytes for '%s'", n, w->path);
      return false;
    }
    w->buf = nb;
    w->cap = cap;
  }
  uint8_t *p = w->buf + w->len;
  uint64_t len64 = n;
  for (int i = 0; i < 8; i++) p[i] = (uint8_t)(len64 >> (8 * i));
  put_u32(p + 8, deft_crc32c_mask(deft_crc32c(p, 8)));
  if (n) memcpy(p + 12, data, n);
  put_u32(p + 12 + n, deft_crc32c_mask(deft_crc32c(data, n)));
  w->len = need;
  return true;
}

static bool write_all(deft_summary_writer *w, deft_status *st) {
  size_t off = 0;
  while (off < w->len) {
    ssize_t k = write(w->fd, w->buf + off, w->len - off);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) {
      deft_code code = errno == ENOSPC || errno == EDQUOT ? DEFT_RESOURCE_EXHAUSTED
                                                          : DEFT_DATA_LOSS;
      deft_status_set(st, code, "cannot write '%s': %s", w->path,
                      k < 0 ? strerror(errno) : "short write");
      return false;
    }
    off += (size_t)k;
  }
  w->len = 0;
  w->queued = 0;
  return true;
}

static void close_fd(deft_summary_writer *w) {
  if (w->fd >= 0) close(w->fd);
  w->fd = -1;
}

bool deft_summary_writer_flush(deft_summary_writer *w, deft_status *status) {
  deft_status_clear(status);
  if (w->fd < 0) return true;
  bool ok = write_all(w, status);
  if (ok && fsync(w->fd) != 0 && errno != EINVAL && errno != EROFS) {
    deft_status_set(status, DEFT_DATA_LOSS, "cannot sync '%s': %s", w->path, strerror(errno));
    ok = false;
  }
  if (!ok) close_fd(w);
  return ok;
}

/* Packs ev with the current wall time and buffers it, flushing when the queue is full. */
static bool add_event(deft_summary_writer *w, Tensorflow__Event *ev, deft_status *st) {
  if (w->fd < 0) {
    deft_status_set(st, DEFT_FAILED_PRECONDITION, "the summary writer of '%s' is closed",
                    w->path);
    return false;
  }
  ev->wall_time = wall_time();
  uint8_t *data;
  size_t n;
  if (!deft_pb_pack(&ev->base, "the Event", &data, &n, st)) return false;
  bool ok = buffer_record(w, data, n, st);
  deft_free(data);
  if (ok && ++w->queued >= WRITER_MAX_QUEUE) ok = deft_summary_writer_flush(w, st);
  return ok;
}

deft_summary_writer *deft_summary_writer_new(const char *logdir, deft_status *status) {
  deft_status_clear(status);
  if (!logdir || !*logdir) {
    deft_status_set(status, DEFT_INVALID_ARGUMENT, "the summary writer needs a log directory");
    return NULL;
  }
  if (!make_dirs(logdir, status)) return NULL;
  deft_summary_writer *w = deft_calloc(1, sizeof *w);
  char host[256];
  if (gethostname(host, sizeof host) != 0) snprintf(host, sizeof host, "localhost");
  host[sizeof host - 1] = 0;
  for (char *h = host; *h; h++)
    if (*h == '/') *h = '_';
  size_t plen = strlen(logdir) + strlen(host) + 64;
  if (w) w->path = deft_malloc(plen);
  if (!w || !w->path) {
    deft_free(w);
    deft_status_set(status, DEFT_RESOURCE_EXHAUSTED, "out of memory opening an event file in "
                    "'%s'", logdir);
    return NULL;
  }
  w->fd = -1;
  long long secs = (long long)time(NULL);
  for (int k = 0; k < 1000 && w->fd < 0; k++) {
    if (k) snprintf(w->path, plen, "%s/events.out.tfevents.%010lld.%s.%d", logdir, secs, host, k);
    else snprintf(w->path, plen, "%s/events.out.tfevents.%010lld.%s", logdir, secs, host);
    w->fd = open(w->path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0666);
    if (w->fd < 0 && errno != EEXIST) break;
  }
  if (w->fd < 0) {
    deft_status_set(status, DEFT_FAILED_PRECONDITION, "cannot create the event file '%s': %s",
                    w->path, strerror(errno));
    deft_summary_writer_free(w);
    return NULL;
  }
  Tensorflow__Event ev;
  tensorflow__event__init(&ev);
  ev.what_case = TENSORFLOW__EVENT__WHAT_FILE_VERSION;
  ev.file_version = "brain.Event:2";
  if (!add_event(w, &ev, status) || !deft_summary_writer_flush(w, status)) {
    unlink(w->path);
    deft_summary_writer_free(w);
    return NULL;
  }
  return w;
}

const char *deft_summary_writer_path(const deft_summary_writer *w) { return w->path; }

static bool add_graph_bytes(deft_summary_writer *w, const deft_graph *g, int64_t step, bool meta,
                            deft_status *status) {
  deft_status_clear(status);
  uint8_t *data = NULL;
  size_t n = 0;
  bool ok = meta ? deft_io_pack_meta_graph(g, w->path, &data, &n, status)
                 : deft_io_pack_graph_def(g, w->path, &data, &n, status);
  if (ok) {
    Tensorflow__Event ev;
    tensorflow__event__init(&ev);
    ev.step = step;
    ev.what_case =
        meta ? TENSORFLOW__EVENT__WHAT_META_GRAPH_DEF : TENSORFLOW__EVENT__WHAT_GRAPH_DEF;
    ProtobufCBinaryData b = {n, data};
    if (meta) ev.meta_graph_def = b;
    else ev.graph_def = b;
    ok = add_event(w, &ev, status);
  }
  deft_free(data);
  return ok;
}

bool deft_summary_writer_add_graph(deft_summary_writer *w, const deft_graph *g, int64_t step,
                                   deft_status *status) {
  return add_graph_bytes(w, g, step, false, status);
}

bool deft_summary_writer_add_meta_graph(deft_summary_writer *w, const deft_graph *g,
                                        int64_t step, deft_status *status) {
  return add_graph_bytes(w, g, step, true, status);
}

bool deft_summary_writer_add_summary(deft_summary_writer *w, const deft_tensor *summary,
                                     int64_t step, deft_status *status) {
  deft_status_clear(status);
  if (!summary || deft_tensor_dtype(summary) != DEFT_STRING) {
    deft_status_set(status, DEFT_INVALID_ARGUMENT, "a summary must be a string tensor, got %s",
                    summary ? deft_dtype_name(deft_tensor_dtype(summary)) : "NULL");
    return false;
  }
  int64_t n = deft_tensor_num_elements(summary);
  Tensorflow__Summary **parts = deft_calloc((size_t)(n ? n : 1), sizeof *parts);
  Tensorflow__Summary__Value **values = NULL;
  bool ok = parts != NULL;
  size_t nvalues = 0;
  for (int64_t i = 0; ok && i < n; i++) {
    size_t len;
    const char *bytes = deft_tensor_string(summary, i, &len);
    parts[i] = tensorflow__summary__unpack(deft_protobuf_allocator(), len, (const uint8_t *)bytes);
    if (!parts[i]) {
      deft_status_set(status, DEFT_INVALID_ARGUMENT, "summary element %lld (%zu bytes) is not a "
                      "serialized tensorflow.Summary", (long long)i, len);
      ok = false;
    } else {
      nvalues += parts[i]->n_value;
    }
  }
  if (ok) values = deft_calloc(nvalues ? nvalues : 1, sizeof *values);
  if (!parts || (ok && !values)) {
    deft_status_set(status, DEFT_RESOURCE_EXHAUSTED, "out of memory writing a summary");
    ok = false;
  }
  if (ok) {
    size_t k = 0;
    for (int64_t i = 0; i < n; i++)
      for (size_t j = 0; j < parts[i]->n_value; j++) values[k++] = parts[i]->value[j];
    Tensorflow__Summary merged;
    tensorflow__summary__init(&merged);
    merged.n_value = nvalues;
    merged.value = values;
    Tensorflow__Event ev;
    tensorflow__event__init(&ev);
    ev.step = step;
    ev.what_case = TENSORFLOW__EVENT__WHAT_SUMMARY;
    ev.summary = &merged;
    ok = add_event(w, &ev, status);
  }
  for (int64_t i = 0; parts && i < n; i++)
    if (parts[i]) tensorflow__summary__free_unpacked(parts[i], deft_protobuf_allocator());
  deft_free(parts);
  deft_free(values);
  return ok;
}

bool deft_summary_writer_add_scalar(deft_summary_writer *w, const char *tag, float value,
                                    int64_t step, deft_status *status) {
  deft_status_clear(status);
  Tensorflow__Summary__Value v;
  tensorflow__summary__value__init(&v);
  v.tag = (char *)tag;
  v.value_case = TENSORFLOW__SUMMARY__VALUE__VALUE_SIMPLE_VALUE;
  v.simple_value = value;
  Tensorflow__Summary__Value *vp = &v;
  Tensorflow__Summary s;
  tensorflow__summary__init(&s);
  s.n_value = 1;
  s.value = &vp;
  Tensorflow__Event ev;
  tensorflow__event__init(&ev);
  ev.step = step;
  ev.what_case = TENSORFLOW__EVENT__WHAT_SUMMARY;
  ev.summary = &s;
  return add_event(w, &ev, status);
}

bool deft_summary_writer_close(deft_summary_writer *w, deft_status *status) {
  deft_status_clear(status);
  if (w->fd < 0) return true;
  bool ok = deft_summary_writer_flush(w, status);
  if (w->fd >= 0 && close(w->fd) != 0 && ok) {
    deft_status_set(status, DEFT_DATA_LOSS, "cannot close '%s': %s", w->path, strerror(errno));
    ok = false;
  }
  w->fd = -1;
  return ok;
}

void deft_summary_writer_free(deft_summary_writer *w) {
  if (!w) return;
  if (w->fd >= 0) deft_summary_writer_close(w, NULL);
  deft_free(w->buf);
  deft_free(w->path);
  deft_free(w);
}
