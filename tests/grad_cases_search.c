/* SPDX-License-Identifier: Apache-2.0 */
/* tests/grad_cases_search.c - finite-difference gradient cases for ops/search_ops.c (Print; the
 * other ops have no gradient, as in TF, or none yet: TopKV2). */
#include "grad_check.h"

static deft_output print_quiet(deft_graph *g, const deft_output *x) {
  return deft_print(g, x[0], NULL, 0, "", 0, 3, NULL); /* first_n 0: prints nothing */
}

const tu_grad_case tu_grad_cases_search[] = {
    {"Print", "[2,3], first_n 0", 1, {{2, {2, 3}}}, print_quiet, 0, 0},
};

const int tu_grad_cases_search_count =
    (int)(sizeof tu_grad_cases_search / sizeof tu_grad_cases_search[0]);
