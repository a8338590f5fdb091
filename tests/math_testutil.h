/* SPDX-License-Identifier: Apache-2.0 */
/* tests/math_testutil.h - helpers shared by the math suites (test_math_elementwise.c,
 * test_math_reduce_matmul.c, test_math_errors.c, test_math_gradients.c): seeded random tensors,
 * running one fetch, and batches of NumPy evaluations run through tu_python (inputs and results
 * travel as raw little-endian float64 files). Defined in tests/math_testutil.c; the functions
 * carry the prefix mtu_, since they are linked into every test executable. */
#ifndef DEFT_TESTS_MATH_TESTUTIL_H
#define DEFT_TESTS_MATH_TESTUTIL_H

#include <stdbool.h>
#include <stdint.h>

#include "testutil.h"

/* A binary op constructor such as deft_add. */
typedef deft_output (*binary_fn)(deft_graph *, deft_output, deft_output, const char *);

/* Uniform in [0, 1), from a fixed-seed xorshift generator. */
double mtu_urand(void);

/* True for the integer dtypes int32, int64 and uint8. */
bool mtu_is_int(deft_dtype t);

/* Stores v, converted to t's dtype, as element i of t. */
void mtu_set_elem(deft_tensor *t, int64_t i, double v);

/* A tensor of dtype/shape with values uniform in [lo, hi] (integers for integer dtypes or when
 * `whole`); `nonzero` keeps values at least 0.5 (1 for integers) away from zero. */
deft_tensor *mtu_rand_tensor(deft_dtype dt, deft_shape s, double lo, double hi, bool whole,
                         bool nonzero);

/* A tensor of dtype/shape holding v, converted to dt. */
deft_tensor *mtu_from_values(deft_dtype dt, deft_shape s, const double *v);

/* Runs `fetch` with feeds; returns the value or NULL with st set. */
deft_tensor *mtu_run(deft_graph *g, deft_output fetch, const deft_output *feeds,
                 deft_tensor *const *vals, int nfeeds, int threads, deft_status *st);

/* Like mtu_run() on one thread; the test fails if the graph has an error or the run fails. */
deft_tensor *mtu_run_ok(deft_graph *g, deft_output fetch, const deft_output *feeds,
                    deft_tensor *const *vals, int nfeeds);

/* NumPy's name for dtype t ("float32", ..., "bool_"). */
const char *mtu_np_dtype(deft_dtype t);

/* A batch of NumPy evaluations: each case names its inputs a, b, c. */
typedef struct np_case {
  char expr[256];
  int nin;
  const deft_tensor *in[3];
  bool f64;          /* compute in float64, round the result to float32 once */
  deft_tensor *want; /* float64 result, filled by np_run */
} np_case;

/* Evaluates every case's expr with NumPy in one Python run and fills each want. */
void mtu_np_run(np_case *cases, int n);

/* Frees the results np_run filled in. */
void mtu_np_free(np_case *cases, int n);

/* Checks got against want (float64): shapes equal; |g - w| <= atol + rtol |w|; NaNs and
 * infinities must match. */
void mtu_check_close(const deft_tensor *got, const deft_tensor *want, double rtol, double atol,
                 const char *label);

/* The relative tolerance for results of dtype t: float32 2e-6, float64 1e-13, integers exact. */
double mtu_rtol_of(deft_dtype t);

/* A placeholder (deft_placeholder). */
deft_output mtu_ph(deft_graph *g, deft_dtype dt, deft_shape s, const char *name);

#endif
