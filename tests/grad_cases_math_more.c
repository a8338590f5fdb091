/* SPDX-License-Identifier: Apache-2.0 */
/* tests/grad_cases_math_more.c - finite-difference gradient cases for the second math table
 * (ops/math_more_ops.c): Div with broadcasting, Pow on positive bases (both gradients) and on
 * mixed signs, the unary ops and SoftplusGrad. */
#include "grad_check.h"

static deft_output b_div(deft_graph *g, const deft_output *in) {
  return deft_div_v1(g, in[0], in[1], NULL);
}
static deft_output b_pow(deft_graph *g, const deft_output *in) {
  return deft_pow(g, in[0], in[1], NULL);
}
/* x^3 of any sign (the exponent a Const, so only x is checked) */
static deft_output b_pow_cube(deft_graph *g, const deft_output *in) {
  return deft_pow(g, in[0], deft_const_double(g, 3.0, "three"), NULL);
}
static deft_output u_log1p(deft_graph *g, const deft_output *in) {
  return deft_log1p(g, in[0], NULL);
}
static deft_output u_expm1(deft_graph *g, const deft_output *in) {
  return deft_expm1(g, in[0], NULL);
}
static deft_output u_erf(deft_graph *g, const deft_output *in) {
  return deft_erf(g, in[0], NULL);
}
static deft_output u_softplus(deft_graph *g, const deft_output *in) {
  return deft_softplus(g, in[0], NULL);
}
static deft_output u_softsign(deft_graph *g, const deft_output *in) {
  return deft_softsign(g, in[0], NULL);
}
static deft_output b_softplus_grad(deft_graph *g, const deft_output *in) {
  return deft_softplus_grad(g, in[0], in[1], NULL);
}

static deft_output r_min(deft_graph *g, const deft_output *in) {
  const int32_t ax = 1;
  return deft_min(g, in[0], deft_const_int32_vector(g, &ax, 1, "axes"), false, NULL);
}

#define S1(a) {1, {a}}
#define S2(a, b) {2, {a, b}}

const tu_grad_case tu_grad_cases_math_more[] = {
    {"Div", "[2,3] / [3]", 2, {S2(2, 3), S1(3)}, b_div, 0.5, 2},
    {"Pow", "[2,3] ^ [2,3], positive bases", 2, {S2(2, 3), S2(2, 3)}, b_pow, 0.5, 2},
    {"Pow", "[4] ^ 3, mixed signs", 1, {S1(4)}, b_pow_cube, 0, 0},
    {"Log1p", "[2,3]", 1, {S2(2, 3)}, u_log1p, -0.5, 2},
    {"Expm1", "[2,3]", 1, {S2(2, 3)}, u_expm1, 0, 0},
    {"Erf", "[2,3]", 1, {S2(2, 3)}, u_erf, -2, 2},
    {"Softplus", "[2,3]", 1, {S2(2, 3)}, u_softplus, -4, 4},
    {"Softsign", "[2,3]", 1, {S2(2, 3)}, u_softsign, -3, 3},
    {"Min", "[3,4] axis 1", 1, {S2(3, 4)}, r_min, 0, 0},
    {"SoftplusGrad", "[2,3]", 2, {S2(2, 3), S2(2, 3)}, b_softplus_grad, -2, 2},
};

const int tu_grad_cases_math_more_count =
    (int)(sizeof tu_grad_cases_math_more / sizeof tu_grad_cases_math_more[0]);
