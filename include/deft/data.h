/* SPDX-License-Identifier: Apache-2.0 */
/* deft/data.h - getting data into tensors: IDX files (MNIST and Fashion-MNIST), NumPy .npy files,
 * row slices, and a shuffled mini-batch iterator like the chapter's shuffle_batch.
 *
 * Errors name the file and, for malformed files, the byte offset of the problem.
 *
 * Thread safety: loading functions may run concurrently (they share nothing). A batcher is used
 * by one thread at a time; the tensors it returns follow deft/tensor.h's rules. */
#ifndef DEFT_DATA_H
#define DEFT_DATA_H

#include <stdint.h>

#include "deft/tensor.h"
#include "deft/threadpool.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Reads an IDX file (raw, or gzip-compressed: detected by content, not by name). The result has
 * the file's dims and its element type: ubyte -> DEFT_UINT8, int -> DEFT_INT32, float ->
 * DEFT_FLOAT, double -> DEFT_DOUBLE (signed byte and short widen to DEFT_INT32).
 * Errors: NOT_FOUND (missing file), DATA_LOSS (bad magic, truncated data, trailing bytes), with
 * path and byte offset. The caller owns the result. */
DEFT_API deft_tensor *deft_idx_read(const char *path, deft_status *status);

/* Reads a NumPy .npy file (format 1.0, 2.0 or 3.0; little-endian; C order or 1-D Fortran) of
 * dtype <f4, <f8, <i4, <i8, |u1, |b1, |i1 (read as DEFT_QINT8: deft has no int8), |S<n> (bytes:
 * a DEFT_STRING tensor, trailing NUL bytes of each element dropped as NumPy does, so bytes
 * ending in 0x00, such as some serialized protos, cannot travel in |S) or <U<n>
 * (UCS-4 text: a DEFT_STRING tensor of UTF-8). Errors: NOT_FOUND; DATA_LOSS or INVALID_ARGUMENT
 * naming the path and offset for a bad magic, a malformed header, an unsupported dtype or order, or
 * truncated data. The caller owns the result. */
DEFT_API deft_tensor *deft_npy_read(const char *path, deft_status *status);

/* Writes t as a .npy file (format 1.0). String tensors are written as |S<longest element>
 * (INVALID_ARGUMENT if an element ends with a NUL byte, which |S cannot keep); DEFT_QINT8,
 * DEFT_QUINT8 and DEFT_QINT32 as their storage types |i1, |u1 and <i4. The file is written to a
 * temporary name and renamed into place, so a failure never leaves a partial file at path. */
DEFT_API bool deft_npy_write(const char *path, const deft_tensor *t, deft_status *status);

/* Returns rows [begin, end) of t along dim 0 as a new tensor. When the rows start at a 64-byte
 * boundary of t's data (row 0 always does) the result shares t's buffer, as deft_tensor_share
 * does, and costs no copy: t may then be freed, the rows stay alive, and writing through either
 * tensor's data is not allowed (a session never writes into a shared buffer). Otherwise, and for
 * string tensors, the rows are copied. INVALID_ARGUMENT if t is a scalar or the range is out of
 * bounds. */
DEFT_API deft_tensor *deft_tensor_slice_rows(const deft_tensor *t, int64_t begin, int64_t end,
                                             deft_status *status);

/* Converts a DEFT_UINT8 image tensor [N, d1, d2, ...] to DEFT_FLOAT [N, d1*d2*...] scaled by
 * 1/255 (the chapter's X.astype(float32).reshape(-1, 784) / 255.0). */
DEFT_API deft_tensor *deft_images_to_float(const deft_tensor *images, deft_status *status);

/* An MNIST-layout dataset directory: train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz],
 * t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]. Images come back as DEFT_FLOAT
 * [N, 784] scaled to [0, 1] (or DEFT_UINT8 [N, 784] if `keep_uint8`), labels as DEFT_INT32 [N].
 * Any of the output pointers may be NULL to skip that file. Returns false with status set (naming
 * the file) on error; on failure no outputs are left allocated. */
DEFT_API bool deft_mnist_load(const char *dir, bool keep_uint8, deft_tensor **train_images,
                              deft_tensor **train_labels, deft_tensor **test_images,
                              deft_tensor **test_labels, deft_status *status);

/* A shuffled mini-batch iterator over (x, y) with the same number of rows. Each epoch draws a new
 * permutation and splits it into n = rows / batch_size nearly equal batches, the first rows % n
 * of them one row larger (NumPy's array_split). x may be DEFT_UINT8, in which case batches come
 * out as DEFT_FLOAT scaled by 1/255; otherwise batches keep x's dtype. y may be NULL. */
typedef struct deft_batcher deft_batcher;

/* Returns a new batcher. The batcher keeps references to x and y (they must not be modified
 * while it lives). `seed` fixes the sequence of permutations. INVALID_ARGUMENT if the row counts
 * differ or batch_size is < 1 or larger than the row count. */
DEFT_API deft_batcher *deft_batcher_new(const deft_tensor *x, const deft_tensor *y,
                                        int64_t batch_size, uint64_t seed, deft_status *status);

/* Frees b. Accepts NULL. */
DEFT_API void deft_batcher_free(deft_batcher *b);

/* Number of batches per epoch. */
DEFT_API int64_t deft_batcher_num_batches(const deft_batcher *b);

/* shuffle == false makes every epoch that starts after this call go through the rows in order
 * (batch i holds the rows that array_split gives it), for evaluating a model in batches whose
 * buffers are reused; the random sequence is not advanced meanwhile. true (the default) restores
 * shuffling. */
DEFT_API void deft_batcher_set_shuffle(deft_batcher *b, bool shuffle);

/* Data-parallel sharding (deft/dist.h): b restarts its epoch (the next call starts a
 * new one) and from then on yields rank `rank`'s part of
 * each global batch of `size` ranks. Every rank draws the same permutation (give every rank's
 * batcher the same seed), splits it into n = rows / (batch_size * size) global batches as above,
 * and takes part `rank` of each global batch's array_split into `size` parts; so the ranks'
 * batches of one step are disjoint, together they are the batch one process would get with
 * batch_size * size, and every rank has n batches per epoch. size 1 undoes it. Returns false
 * with INVALID_ARGUMENT (b unchanged) if rank is not in [0, size) or batch_size * size exceeds
 * the rows. */
DEFT_API bool deft_batcher_set_shard(deft_batcher *b, int rank, int size, deft_status *status);

/* Makes deft_batcher_next gather each batch's rows over pool's threads (NULL: on the calling
 * thread alone, the default). The pool is borrowed and must outlive its use by b, e.g. a
 * session's (deft_session_threadpool); a pool busy with another loop (a run of another thread)
 * leaves the gather to the calling thread. Batches are the same whichever threads gather them. */
DEFT_API void deft_batcher_set_threadpool(deft_batcher *b, deft_threadpool *pool);

/* What deft_batcher_next produced. */
typedef enum deft_batch_result {
  DEFT_BATCH_READY = 0, /* *xb (and *yb) hold the next batch */
  DEFT_BATCH_END = 1,   /* the epoch is over: no batch; the next call starts a new epoch */
  DEFT_BATCH_ERROR = 2  /* failed (status set); no batch */
} deft_batch_result;

/* Produces the next batch of the current epoch into *xb and *yb (yb may be NULL). The tensors are
 * owned by the batcher and valid until the next call; their buffers are reused. Returns
 * DEFT_BATCH_READY with a batch, DEFT_BATCH_END at the end of an epoch (the next call starts a
 * new, reshuffled epoch), or DEFT_BATCH_ERROR with status set (e.g. out of memory). Loop with
 * `while (deft_batcher_next(b, &xb, &yb, st) == DEFT_BATCH_READY)`, then check for the error. */
DEFT_API deft_batch_result deft_batcher_next(deft_batcher *b, const deft_tensor **xb,
                                             const deft_tensor **yb, deft_status *status);

#ifdef __cplusplus
}
#endif
#endif
