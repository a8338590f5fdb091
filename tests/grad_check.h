/* SPDX-License-Identifier: Apache-2.0 */
/* tests/grad_check.h - finite-difference gradient cases. Each op family contributes a table in
 * tests/grad_cases_<family>.c; tests/test_gradients.c checks every case (central differences in
 * float64 against deft_gradients) and that every differentiable op in the registry has a case;
 * family suites check their cases again with tu_grad_check (tests/grad_check.c), against the
 * op's own gradient function or with a tighter step. */
#ifndef DEFT_TESTS_GRAD_CHECK_H
#define DEFT_TESTS_GRAD_CHECK_H

#include <stdint.h>

#include "deft/deft.h"

/* A constant shape literal for case tables: TU_SHAPE(2, 3); TU_SCALAR for rank 0. */
#define TU_SHAPE(...) {DEFT_SHAPE_NARGS_(__VA_ARGS__), {__VA_ARGS__}}
#define TU_SCALAR {0, {0}}

typedef struct tu_grad_case {
  const char *op_type; /* the registry op type this case covers */
  const char *label;   /* a short description, e.g. "broadcast [2,3]+[3]" */
  int ninputs;         /* float64 inputs, fed as placeholders */
  deft_shape shapes[4];
  /* Builds the op from the float64 inputs (constants for non-differentiable inputs such as
   * labels and axes are built here) and returns the tensor to differentiate. */
  deft_output (*build)(deft_graph *g, const deft_output *inputs);
  double lo, hi; /* range of random input values (e.g. 0.5..2 for log/sqrt); 0,0 = -1..1 */
} tu_grad_case;

/* How tu_grad_check obtains the gradients it checks. */
typedef enum {
  TU_GRAD_DIRECT,        /* the op's registered gradient function, called directly in scope
                          * "gradients/<op>_grad" (case inputs must feed the op directly, once) */
  TU_GRAD_VIA_GRADIENTS, /* deft_gradients over the whole case graph */
} tu_grad_path;

/* Builds case gc, learns y's shape from one forward run, builds the gradients of sum(gy * y)
 * (gy a placeholder) by `path`, and checks every case input's gradient against central
 * differences (h = 1e-4, tolerance 1e-6 * (1 + |numeric|)), in float64, with inputs drawn from the
 * xorshift state *rng. Fails the current Check test on any mismatch. */
void tu_grad_check(const tu_grad_case *gc, tu_grad_path path, uint64_t *rng);

/* Each family file defines these two symbols (tests/test_gradients.c lists all families). */
#define TU_GRAD_CASES(family)                                  \
  extern const tu_grad_case tu_grad_cases_##family[];          \
  extern const int tu_grad_cases_##family##_count

#endif
