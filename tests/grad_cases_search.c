/* tests/grad_cases_search.c - finite-difference gradient cases for ops/search_ops.c (TopKV2 and
 * Print; the other ops have no gradient, as in TF). */
#include "grad_check.h"

static deft_output print_quiet(deft_graph *g, const deft_output *x) {
  return deft_print(g, x[0], NULL, 0, "", 0, 3, NULL); /* first_n 0: prints nothing */
}

static deft_output top_k_values(deft_graph *g, const deft_output *x) {
  deft_op *op = deft_top_k(g, x[0], deft_const_int32(g, 2, "k"), true, NULL);
  return deft_op_output(op, 0);
}

const tu_grad_case tu_grad_cases_search[] = {
    {"TopKV2", "[2,3,5] k 2", 1, {{3, {2, 3, 5}}}, top_k_values, 0, 0},
    {"TopKV2", "[7] k 2", 1, {{1, {7}}}, top_k_values, 0, 0},
    {"Print", "[2,3], first_n 0", 1, {{2, {2, 3}}}, print_quiet, 0, 0},
};

const int tu_grad_cases_search_count =
    (int)(sizeof tu_grad_cases_search / sizeof tu_grad_cases_search[0]);
