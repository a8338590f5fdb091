/* SPDX-License-Identifier: Apache-2.0 */
/* tools/cli/cli.h - parts of the `deft` program (tools/deft.c) that live in their own files:
 * feed values (inline expressions in the style of saved_model_cli --input_exprs, .npy files,
 * .npz archives with a key), checkpoint arguments, and "did you mean" for misspelt names.
 * Uses only the public API (deft/deft.h). */
#ifndef DEFT_TOOLS_CLI_H
#define DEFT_TOOLS_CLI_H

#include <stdbool.h>
#include <stddef.h>

#include "deft/deft.h"

/* The tensor a --feed value gives, or NULL with st set. value is one of
 *   FILE.npy                         a NumPy file
 *   FILE.npz[KEY] or FILE.npz        array KEY of a NumPy archive (np.savez / np.savez_compressed;
 *                                    without a key the archive must hold one array)
 *   an expression                    [[1,2,3]], 5, -0.5, True, np.ones((2,3)), np.zeros([4]),
 *                                    np.full((2,3), 0.5), np.array([1,2]) ("numpy." or nothing
 *                                    for "np." also works)
 * An expression's values take `dtype` (the fed tensor's: float, double, int32, int64, uint8, bool);
 * an integer dtype refuses a fraction or a value out of its range. Errors name the column (1-based)
 * of the expression where the problem is. The caller frees the tensor. */
deft_tensor *cli_feed_value(const char *value, deft_dtype dtype, deft_status *st);

/* True iff value names a file (ends in ".npy", ".npz" or ".npz[KEY]"), not an expression. */
bool cli_feed_is_file(const char *value);

/* Array `key` (NULL: the only one) of the .npz archive at path, or NULL with st set: NOT_FOUND
 * naming the archive's keys when key is missing, DATA_LOSS for a damaged archive (bad headers,
 * CRC mismatch, bad deflate data), UNIMPLEMENTED for compression methods other than stored and
 * deflate. */
deft_tensor *cli_npz_read(const char *path, const char *key, deft_status *st);

/* The checkpoint prefix a --checkpoint argument means, in buf: "X.index" and
 * "X.data-NNNNN-of-MMMMM" mean "X"; a directory means its latest checkpoint (its `checkpoint`
 * file); a directory without that file is an error (NOT_FOUND) listing the prefixes it holds.
 * Returns false with st set. */
bool checkpoint_prefix(const char *arg, char *buf, size_t size, deft_status *st);

/* After a failed lookup of `name` in g (st holds the error): appends "; did you mean 'X'?" to
 * st's message when an op name differs from name's op part only in case, or is within a small
 * edit distance of it. tensor: name may have an output index (":0"), kept in the suggestion. */
void cli_suggest_name(const deft_graph *g, const char *name, deft_status *st);

/* The members of collection `key` as the file at path stores them (path: a binary MetaGraphDef,
 * or with saved_model a SavedModel directory or saved_model.pb, whose meta graph of `tag`
 * (NULL: "serve") is read): node names, each bytes_list value's name (its first string field:
 * the context name of a cond_context or while_context entry, a queue runner's queue name),
 * int64 and float values, "Any <type_url>" for any_list values. A NULL-terminated array to free
 * with cli_strings_free, or NULL (no such collection, a text file, unreadable file, OOM). */
char **cli_raw_collection(const char *path, bool saved_model, const char *tag, const char *key);
void cli_strings_free(char **v);

#endif
