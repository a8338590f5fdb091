/* SPDX-License-Identifier: Apache-2.0 */
/* runtime/plan_fuse.c - folding a producer step into its one consumer at plan time.
 *
 * tf.layers.batch_normalization's non-fused graph (and the gradient deft_gradients builds for
 * it) computes [N, C] intermediates that one op reads once: batchnorm/mul_1 = x * scale read by
 * add_1, moments/SquaredDifference read by moments/variance (a Mean over the batch), and the
 * gradient's mul_1_grad/Mul_1 = x * dy read by Sum_1. The planner computes such a pair in one
 * pass, without the intermediate:
 *   Mul -> Add                   y = x * s + t, s and t vectors over x's last dim;
 *   Mul | SquaredDifference -> Sum | Mean over axis 0 of a rank-2 operand.
 * The graph is unchanged (files still match TF): the producer's step becomes `absorbed` (elided,
 * so only its deadness propagates) and the consumer's step runs fused_compute, whose loops
 * (ops/fused_kernels.c) round exactly as the two kernels do, so every value is bit-identical.
 *
 * A pair is fused only when the producer's output is fetched by no one and read by no running
 * step but the consumer, apart from Shape / Size / Rank ops, which are pointed at the producer's
 * full-shaped operand instead (the pattern guarantees the same shape from build-time shapes). So
 * a fetched intermediate, or one another op reads, keeps the unfused steps. What is decided at
 * run time (dtypes, dims, the reduction axes) falls back, when it does not fit, to running the
 * producer's kernel and then the consumer's, exactly the unfused steps.
 *
 * A session made with deft_session_options_set_plan_fusion(o, false) skips the pass (for A/B
 * comparisons). */
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/thread_pool.h"
#include "ops/fused_kernels.h"
#include "runtime/session_internal.h"

enum { FUSE_MUL_ADD = 1, FUSE_COLSUM };

struct deft_fusion {
  int kind;
  int pstep;            /* the absorbed producer's step */
  int x;                /* FUSE_MUL_ADD: the producer's input holding x (the other is s) */
  int t;                /* FUSE_MUL_ADD: the consumer's input holding t */
  deft_fused_elem elem; /* FUSE_COLSUM: the producer's op */
  bool mean, keep_dims; /* FUSE_COLSUM: the consumer is a Mean; its keep_dims */
  deft_kernel_fn orig;  /* the consumer's own kernel (the fallback) */
};

static bool is_type(const deft_op *op, const char *t) { return !strcmp(op->type, t); }

static deft_shape out_shape(deft_output o) { return o.op->out_shapes[o.index]; }

/* A rank-2 float tensor with a known last dim > 1: the [N, C] operand. */
static bool is_matrix(deft_output o, int64_t *cols) {
  deft_shape s = out_shape(o);
  if (deft_output_type(o) != DEFT_FLOAT || s.rank != 2 || s.dims[1] <= 1) return false;
  *cols = s.dims[1];
  return true;
}

/* A float vector over `cols` columns: shape [cols] or [1, cols]. */
static bool is_row_vector(deft_output o, int64_t cols) {
  deft_shape s = out_shape(o);
  if (deft_output_type(o) != DEFT_FLOAT) return false;
  return (s.rank == 1 && s.dims[0] == cols) || (s.rank == 2 && s.dims[0] == 1 && s.dims[1] == cols);
}

/* Ops that read only their input's shape. */
static bool shape_only(const deft_op *op) {
  return op->ninputs == 1 && (is_type(op, "Shape") || is_type(op, "Size") || is_type(op, "Rank"));
}

static bool pure_plain(const deft_step *st) {
  const deft_op *op = st->op;
  if (st->kind != DEFT_STEP_PLAIN || st->frame != 0 || st->elided || st->fusion || st->absorbed)
    return false;
  if (!op->reg || (op->reg->def->flags & (DEFT_OP_STATEFUL | DEFT_OP_IS_MERGE))) return false;
  for (int k = 0; k < op->noutputs; k++)
    if (op->out_ref[k]) return false;
  for (int k = 0; k < op->ninputs; k++)
    if (op->inputs[k].op->out_ref[op->inputs[k].index]) return false;
  return op->noutputs == 1;
}

/* Whether the producer step ps's output can vanish into consumer step ci: read once by ci,
 * otherwise only by shape-only ops (when `shapes_ok`: x is known to have the output's shape),
 * and not fetched. */
static bool only_reader(const deft_plan *p, int ps, int ci, bool shapes_ok) {
  int slot = p->steps[ps].out_base;
  for (int i = 0; i < p->nfetches; i++)
    if (p->fetch_slots[i] == slot) return false;
  int reads = 0;
  for (int i = ps + 1; i < p->nsteps; i++) {
    const deft_step *st = &p->steps[i];
    if (st->elided) continue;
    for (int k = 0; k < st->op->ninputs; k++) {
      if (st->in_slots[k] != slot) continue;
      if (i == ci)
        reads++;
      else if (!shapes_ok || !shape_only(st->op))
        return false;
    }
  }
  return reads == 1;
}

/* Points the shape-only readers of ps's output at slot `to`. */
static void redirect_shape_readers(deft_plan *p, int ps, int to) {
  int slot = p->steps[ps].out_base;
  for (int i = ps + 1; i < p->nsteps; i++) {
    deft_step *st = &p->steps[i];
    if (!st->elided && shape_only(st->op) && st->in_slots[0] == slot) st->in_slots[0] = to;
  }
}

/* The step producing input k of step st, or -1 (fed, or not a step's output 0). */
static int producer(const deft_plan *p, const int *step_of_slot, const deft_step *st, int k) {
  int s = st->in_slots[k];
  return s < p->nslots ? step_of_slot[s] : -1;
}

/* Tries to fuse consumer step ci with the producer of its input `pin`. */
static bool try_fuse(deft_plan *p, const int *step_of_slot, int ci, int pin, deft_fusion *f) {
  deft_step *cs = &p->steps[ci];
  int pi = producer(p, step_of_slot, cs, pin);
  if (pi < 0 || !pure_plain(&p->steps[pi])) return false;
  deft_step *ps = &p->steps[pi];
  const deft_op *pop = ps->op, *cop = cs->op;
  if (pop->ninputs != 2 || cs->op->inputs[pin].index != 0) return false;
  memset(f, 0, sizeof *f);
  f->pstep = pi;
  bool shapes_ok = true; /* the producer's output has x's shape whatever the run feeds */
  int64_t cols;
  if ((is_type(cop, "Add") || is_type(cop, "AddV2")) && is_type(pop, "Mul")) {
    int xi = is_matrix(pop->inputs[0], &cols) ? 0 : is_matrix(pop->inputs[1], &cols) ? 1 : -1;
    if (xi < 0 || !is_row_vector(pop->inputs[1 - xi], cols) ||
        !is_row_vector(cop->inputs[1 - pin], cols))
      return false;
    f->kind = FUSE_MUL_ADD;
    f->x = xi;
    f->t = 1 - pin;
  } else if ((is_type(cop, "Sum") || is_type(cop, "Mean")) && pin == 0 &&
             (is_type(pop, "Mul") || is_type(pop, "SquaredDifference"))) {
    int xi = is_matrix(pop->inputs[0], &cols) ? 0 : is_matrix(pop->inputs[1], &cols) ? 1 : -1;
    if (xi < 0) return false;
    deft_output other = pop->inputs[1 - xi];
    deft_shape xs = out_shape(pop->inputs[xi]), os = out_shape(other);
    bool same = os.rank == 2 && os.dims[0] == xs.dims[0] && os.dims[1] == cols;
    if (!same && !is_row_vector(other, cols)) return false;
    shapes_ok = !same; /* two [?, C] operands may broadcast [1, C] against [N, C] */
    if (deft_output_type(cop->inputs[0]) != DEFT_FLOAT) return false;
    bool keep = false;
    deft_op_attr_bool(cop, "keep_dims", &keep);
    f->kind = FUSE_COLSUM;
    f->x = xi;
    f->elem = is_type(pop, "Mul") ? DEFT_FUSED_MUL : DEFT_FUSED_SQDIFF;
    f->mean = is_type(cop, "Mean");
    f->keep_dims = keep;
  } else {
    return false;
  }
  if (!only_reader(p, pi, ci, shapes_ok)) return false;
  /* x's slot: the shape-only readers' new input (x has the producer's output shape). */
  redirect_shape_readers(p, pi, ps->in_slots[f->x]);
  return true;
}

bool deft_plan_fuse(deft_plan *p, deft_status *status) {
  int *step_of_slot = deft_malloc(sizeof(int) * (size_t)(p->nslots + 1));
  if (!step_of_slot) {
    deft_status_set(status, DEFT_RESOURCE_EXHAUSTED, "out of memory planning a run");
    return false;
  }
  for (int i = 0; i < p->nslots; i++) step_of_slot[i] = -1;
  for (int i = 0; i < p->nsteps; i++)
    if (p->steps[i].op->noutputs > 0) step_of_slot[p->steps[i].out_base] = i;
  bool ok = true;
  for (int ci = 0; ci < p->nsteps && ok; ci++) {
    deft_step *cs = &p->steps[ci];
    if (!pure_plain(cs) || cs->op->ninputs != 2) continue;
    deft_fusion f;
    int pin = -1;
    for (int k = 0; k < 2 && pin < 0; k++)
      if (try_fuse(p, step_of_slot, ci, k, &f)) pin = k;
    if (pin < 0) continue;
    cs->fusion = deft_malloc(sizeof *cs->fusion);
    if (!cs->fusion) {
      deft_status_set(status, DEFT_RESOURCE_EXHAUSTED, "out of memory planning a run");
      ok = false;
      break;
    }
    *cs->fusion = f;
    p->steps[f.pstep].absorbed = true;
    p->steps[f.pstep].elided = true;
  }
  deft_free(step_of_slot);
  return ok;
}

int deft_step_fused_producer(const deft_step *st) { return st->fusion ? st->fusion->pstep : -1; }

void deft_fusion_free(deft_fusion *f) { deft_free(f); }

static const deft_tensor *slot_value(const deft_plan *p, int s) {
  const deft_slot *sl = &p->slots[s];
  return sl->ref ? &sl->ref->value : &sl->value;
}

/* A float vector of `cols` elements (shape [cols] or [1, cols]). */
static bool row_vector_value(const deft_tensor *v, int64_t cols) {
  return v->dtype == DEFT_FLOAT && v->buf && v->n == cols &&
         (v->rank == 1 || (v->rank == 2 && v->dims[0] == 1));
}

typedef struct mul_add_job {
  const float *x, *s, *t;
  float *y;
  int64_t cols;
} mul_add_job;

static void mul_add_range(void *arg, int64_t begin, int64_t end) {
  const mul_add_job *j = arg;
  deft_fused_mul_add_rows_f32(j->x, j->s, j->t, j->y, begin, end, j->cols);
}

/* The fast paths; false when the run's values do not fit (then nothing was written). */
static bool fused_mul_add(deft_kernel_ctx *c, const deft_fusion *f, const deft_step *ps) {
  const deft_tensor *x = slot_value(c->plan, ps->in_slots[f->x]);
  const deft_tensor *s = slot_value(c->plan, ps->in_slots[1 - f->x]);
  const deft_tensor *t = deft_kernel_input(c, f->t);
  if (x->dtype != DEFT_FLOAT || x->rank != 2 || x->n == 0 || !x->buf) return false;
  int64_t cols = x->dims[1];
  if (!row_vector_value(s, cols) || !row_vector_value(t, cols)) return false;
  deft_tensor *y = deft_kernel_output(c, 0, DEFT_FLOAT, x->dims, 2);
  if (!y) return true; /* failed: the context holds the error */
  mul_add_job j = {deft_tensor_f32(x), deft_tensor_f32(s), deft_tensor_f32(t), deft_tensor_f32(y),
                   cols};
  /* Rows split as the binary kernel splits them (131072 elements a range at least). */
  int64_t grain = 131072 / cols;
  deft_parallel_for(deft_kernel_threadpool(c), deft_kernel_threads(c), x->dims[0],
                    grain < 1 ? 1 : grain, mul_add_range, &j);
  return true;
}

static bool fused_colsum(deft_kernel_ctx *c, const deft_fusion *f, const deft_step *ps) {
  const deft_tensor *a = slot_value(c->plan, ps->in_slots[f->x]);
  const deft_tensor *b = slot_value(c->plan, ps->in_slots[1 - f->x]);
  const deft_tensor *axes = deft_kernel_input(c, 1);
  if (a->dtype != DEFT_FLOAT || a->rank != 2 || !a->buf || a->dims[0] < 2 || a->dims[1] < 2)
    return false;
  int64_t rows = a->dims[0], cols = a->dims[1], b_row;
  if (b->dtype == DEFT_FLOAT && b->rank == 2 && b->dims[0] == rows && b->dims[1] == cols && b->buf)
    b_row = cols;
  else if (row_vector_value(b, cols))
    b_row = 0;
  else
    return false;
  /* Axes: exactly axis 0 (or -2), int32 or int64, scalar or vector. */
  if (axes->n != 1 || !axes->buf || axes->rank > 1) return false;
  int64_t ax = axes->dtype == DEFT_INT32   ? deft_tensor_i32(axes)[0]
               : axes->dtype == DEFT_INT64 ? deft_tensor_i64(axes)[0]
                                           : 99;
  if (ax != 0 && ax != -2) return false;
  int64_t od[2] = {1, cols};
  deft_tensor *out = f->keep_dims ? deft_kernel_output(c, 0, DEFT_FLOAT, od, 2)
                                  : deft_kernel_output(c, 0, DEFT_FLOAT, od + 1, 1);
  if (!out) return true;
  float *o = deft_tensor_f32(out);
  /* SquaredDifference is symmetric and Mul commutes, so the operands' order does not matter. */
  deft_fused_colsum_f32(f->elem, deft_tensor_f32(a), cols, deft_tensor_f32(b), b_row, o, rows,
                        cols);
  if (f->mean) deft_fused_divide_f32(o, cols, rows);
  return true;
}

/* The consumer's compute step: the fused pass, or the two kernels one after the other. */
void deft_fused_compute(deft_kernel_ctx *c) {
  deft_step *cs = c->step;
  const deft_fusion *f = cs->fusion;
  deft_step *ps = &c->plan->steps[f->pstep];
  bool done = f->kind == FUSE_MUL_ADD ? fused_mul_add(c, f, ps) : fused_colsum(c, f, ps);
  if (done) return;
  const deft_op *cop = c->op;
  c->op = ps->op;
  c->step = ps;
  ps->compute(c);
  c->op = cop;
  c->step = cs;
  if (!c->failed) f->orig(c);
}

void deft_fusion_set_kernel(deft_step *st) {
  st->fusion->orig = st->compute;
  st->compute = deft_fused_compute;
}
