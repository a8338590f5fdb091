/* SPDX-License-Identifier: Apache-2.0 */
/* graph/initializers.c - variable initializers with TF's maths and node names
 * (TF_FORMATS.md 3.4 and 6.1), and tf.get_variable. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "deft/ops.h"
#include "deft/train.h"
#include "graph/graph_internal.h"

deft_initializer deft_init_zeros(void) {
  deft_initializer i = {DEFT_INIT_ZEROS, 0, 0, DEFT_FAN_IN, DEFT_DIST_TRUNCATED_NORMAL, 0};
  return i;
}
deft_initializer deft_init_ones(void) {
  deft_initializer i = {DEFT_INIT_ONES, 1, 0, DEFT_FAN_IN, DEFT_DIST_TRUNCATED_NORMAL, 0};
  return i;
}
deft_initializer deft_init_constant(double value) {
  deft_initializer i = {DEFT_INIT_CONSTANT, value, 0, DEFT_FAN_IN, DEFT_DIST_TRUNCATED_NORMAL, 0};
  return i;
}
deft_initializer deft_init_truncated_normal(double mean, double stddev, int64_t seed) {
  deft_initializer i = {DEFT_INIT_TRUNCATED_NORMAL, mean, stddev, DEFT_FAN_IN,
                        DEFT_DIST_TRUNCATED_NORMAL, seed};
  return i;
}
deft_initializer deft_init_random_normal(double mean, double stddev, int64_t seed) {
  deft_initializer i = {DEFT_INIT_RANDOM_NORMAL, mean, stddev, DEFT_FAN_IN,
                        DEFT_DIST_UNTRUNCATED_NORMAL, seed};
  return i;
}
deft_initializer deft_init_random_uniform(double minval, double maxval, int64_t seed) {
  deft_initializer i = {DEFT_INIT_RANDOM_UNIFORM, minval, maxval, DEFT_FAN_IN, DEFT_DIST_UNIFORM,
                        seed};
  return i;
}
deft_initializer deft_init_variance_scaling(double scale, deft_fan_mode mode,
                                            deft_distribution distribution, int64_t seed) {
  deft_initializer i = {DEFT_INIT_VARIANCE_SCALING, scale, 0, mode, distribution, seed};
  return i;
}
deft_initializer deft_init_glorot_uniform(int64_t seed) {
  return deft_init_variance_scaling(1.0, DEFT_FAN_AVG, DEFT_DIST_UNIFORM, seed);
}
deft_initializer deft_init_he_normal(int64_t seed) {
  return deft_init_variance_scaling(2.0, DEFT_FAN_IN, DEFT_DIST_TRUNCATED_NORMAL, seed);
}

static deft_output scalar(deft_graph *g, deft_dtype dtype, double v, const char *name) {
  return dtype == DEFT_DOUBLE ? deft_const_double(g, v, name)
                              : deft_const_float(g, (float)v, name);
}

/* An Add whose name is the enclosing scope's own name ("…/random_uniform"), as TF names the last
 * op of an initializer. */
static deft_output add_named(deft_graph *g, deft_output a, deft_output b, const char *full) {
  deft_output none = {NULL, 0};
  deft_op_builder *bl = deft_op_builder_new(g, "Add", NULL);
  deft_op_builder_set_exact_name(bl, full);
  deft_op_builder_add_input(bl, a);
  deft_op_builder_add_input(bl, b);
  deft_op *op = deft_op_builder_finish(bl);
  if (!op) return none;
  return deft_op_output(op, 0);
}

static deft_output shape_const(deft_graph *g, deft_shape shape) {
  int32_t dims[DEFT_MAX_RANK];
  for (int i = 0; i < shape.rank; i++) dims[i] = (int32_t)shape.dims[i];
  return deft_const_int32_vector(g, dims, shape.rank, "shape");
}

/* scope "kind": shape, a, b Consts, the random op, then mul (and sub) and the named Add. */
static deft_output random_init(deft_graph *g, deft_initializer in, deft_dtype dtype,
                               deft_shape shape) {
  deft_output none = {NULL, 0};
  const char *scope_name = in.kind == DEFT_INIT_RANDOM_UNIFORM   ? "random_uniform"
                           : in.kind == DEFT_INIT_TRUNCATED_NORMAL ? "truncated_normal"
                                                                   : "random_normal";
  const char *full = deft_graph_push_scope(g, scope_name);
  if (!full) return none;
  deft_output shp = shape_const(g, shape), result = none;
  if (in.kind == DEFT_INIT_RANDOM_UNIFORM) {
    deft_output lo = scalar(g, dtype, in.a, "min"), hi = scalar(g, dtype, in.b, "max");
    deft_output rnd = deft_random_uniform(g, shp, dtype, in.seed, "RandomUniform");
    deft_output range = deft_sub(g, hi, lo, "sub");
    deft_output mul = deft_mul(g, rnd, range, "mul");
    deft_graph_pop_scope(g);
    return add_named(g, mul, lo, full);
  }
  deft_output mean = scalar(g, dtype, in.a, "mean"), sd = scalar(g, dtype, in.b, "stddev");
  deft_output rnd = in.kind == DEFT_INIT_TRUNCATED_NORMAL
                        ? deft_truncated_normal(g, shp, dtype, in.seed, "TruncatedNormal")
                        : deft_random_normal(g, shp, dtype, in.seed, "RandomStandardNormal");
  deft_output mul = deft_mul(g, rnd, sd, "mul");
  deft_graph_pop_scope(g);
  result = add_named(g, mul, mean, full);
  return result;
}

/* TF's _compute_fans. */
static void fans(deft_shape s, double *fan_in, double *fan_out) {
  if (s.rank < 1) {
    *fan_in = *fan_out = 1;
  } else if (s.rank == 1) {
    *fan_in = *fan_out = (double)s.dims[0];
  } else if (s.rank == 2) {
    *fan_in = (double)s.dims[0];
    *fan_out = (double)s.dims[1];
  } else {
    double r = 1;
    for (int i = 0; i < s.rank - 2; i++) r *= (double)s.dims[i];
    *fan_in = (double)s.dims[s.rank - 2] * r;
    *fan_out = (double)s.dims[s.rank - 1] * r;
  }
}

deft_output deft_initializer_build(deft_graph *g, deft_initializer init, deft_dtype dtype,
                                   deft_shape shape) {
  deft_output none = {NULL, 0};
  if (!deft_graph_ok(g)) return none;
  if (!deft_shape_is_fully_defined(shape)) {
    char s[128];
    deft_graph_fail(g, DEFT_INVALID_ARGUMENT, "initializer: shape %s is not fully defined",
                    deft_shape_format(shape, s, sizeof s));
    return none;
  }
  switch (init.kind) {
    case DEFT_INIT_ZEROS: return deft_const_fill(g, dtype, shape, 0.0, "zeros");
    case DEFT_INIT_ONES: return deft_const_fill(g, dtype, shape, 1.0, "ones");
    case DEFT_INIT_CONSTANT: return deft_const_fill(g, dtype, shape, init.a, "Const");
    case DEFT_INIT_TRUNCATED_NORMAL:
    case DEFT_INIT_RANDOM_NORMAL:
    case DEFT_INIT_RANDOM_UNIFORM:
      if (dtype != DEFT_FLOAT && dtype != DEFT_DOUBLE) break;
      return random_init(g, init, dtype, shape);
    case DEFT_INIT_VARIANCE_SCALING: {
      if (dtype != DEFT_FLOAT && dtype != DEFT_DOUBLE) break;
      if (init.a <= 0) {
        deft_graph_fail(g, DEFT_INVALID_ARGUMENT,
                        "variance scaling initializer: scale must be positive, got %g", init.a);
        return none;
      }
      double fi, fo;
      fans(shape, &fi, &fo);
      double n = init.mode == DEFT_FAN_IN ? fi : init.mode == DEFT_FAN_OUT ? fo : (fi + fo) / 2;
      if (n < 1) n = 1;
      double s = init.a / n;
      deft_initializer r = init;
      if (init.distribution == DEFT_DIST_UNIFORM) {
        double limit = sqrt(3.0 * s);
        r.kind = DEFT_INIT_RANDOM_UNIFORM, r.a = -limit, r.b = limit;
      } else if (init.distribution == DEFT_DIST_UNTRUNCATED_NORMAL) {
        r.kind = DEFT_INIT_RANDOM_NORMAL, r.a = 0, r.b = sqrt(s);
      } else if (init.distribution == DEFT_DIST_TRUNCATED_NORMAL_TF110) {
        r.kind = DEFT_INIT_TRUNCATED_NORMAL, r.a = 0, r.b = sqrt(s);
      } else {
        r.kind = DEFT_INIT_TRUNCATED_NORMAL, r.a = 0, r.b = sqrt(s) / 0.87962566103423978;
      }
      return random_init(g, r, dtype, shape);
    }
    case DEFT_INIT_DEFAULT:
      return deft_initializer_build(g, deft_init_glorot_uniform(init.seed), dtype, shape);
  }
  deft_graph_fail(g, DEFT_INVALID_ARGUMENT, "initializer kind %d cannot fill a %s variable",
                  (int)init.kind, deft_dtype_name(dtype));
  return none;
}

deft_op *deft_get_variable(deft_graph *g, const char *name, deft_dtype dtype, deft_shape shape,
                           deft_initializer init, bool trainable) {
  if (!deft_graph_ok(g)) return NULL;
  const char *vs = deft_graph_variable_scope(g);
  char full[1024];
  snprintf(full, sizeof full, "%s%s%s", vs, *vs ? "/" : "", name);
  if (!*name) {
    deft_graph_fail(g, DEFT_RESOURCE_EXHAUSTED, "out of memory creating variable '%s'", name);
    return NULL;
  }
  if (deft_graph_op_by_name(g, full)) {
    deft_graph_fail(g, DEFT_ALREADY_EXISTS, "variable '%s' already exists", full);
    return NULL;
  }
  char scope[1100];
  snprintf(scope, sizeof scope, "%s/Initializer/", full);
  if (!deft_graph_push_scope(g, scope)) return NULL;
  deft_output value = deft_initializer_build(g, init, dtype, shape);
  deft_graph_pop_scope(g);
  if (!value.op) return NULL;
  return deft_variable_new_exact(g, full, value, trainable);
}
