/* tests/grad_cases_sequence.c - finite-difference gradient cases for ops/sequence_ops.c
 * (ReverseSequence). */
#include "grad_check.h"

static deft_output revseq_b0_s1(deft_graph *g, const deft_output *x) {
  const int64_t lens[3] = {2, 0, 4};
  deft_tensor *t = deft_tensor_new(DEFT_INT64, (const int64_t[]){3}, 1, NULL);
  for (int i = 0; i < 3; i++) ((int64_t *)deft_tensor_data(t))[i] = lens[i];
  deft_output l = deft_const(g, t, "lens");
  deft_tensor_free(t);
  return deft_reverse_sequence(g, x[0], l, 1, 0, NULL);
}

static deft_output revseq_b2_s0(deft_graph *g, const deft_output *x) {
  const int32_t lens[2] = {3, 1};
  return deft_reverse_sequence(g, x[0], deft_const_int32_vector(g, lens, 2, "lens"), 0, -1,
                               NULL);
}

const tu_grad_case tu_grad_cases_sequence[] = {
    {"ReverseSequence", "[3,4,2] seq 1 batch 0", 1, {{3, {3, 4, 2}}}, revseq_b0_s1, 0, 0},
    {"ReverseSequence", "[3,2,2] seq 0 batch -1", 1, {{3, {3, 2, 2}}}, revseq_b2_s0, 0, 0},
};

const int tu_grad_cases_sequence_count =
    (int)(sizeof tu_grad_cases_sequence / sizeof tu_grad_cases_sequence[0]);
