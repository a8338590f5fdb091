/* tests/grad_check.h - finite-difference gradient cases. Each op family contributes a table in
 * tests/grad_cases_<family>.c; tests/test_gradients.c checks every case (central differences in
 * float64 against deft_gradients) and that every differentiable op in the registry has a case. */
#ifndef DEFT_TESTS_GRAD_CHECK_H
#define DEFT_TESTS_GRAD_CHECK_H

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

/* Each family file defines these two symbols (tests/test_gradients.c lists all families). */
#define TU_GRAD_CASES(family)                                  \
  extern const tu_grad_case tu_grad_cases_##family[];          \
  extern const int tu_grad_cases_##family##_count

#endif
