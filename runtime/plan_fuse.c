/* SPDX-License-Identifier: Apache-2.0 */
/* runtime/plan_fuse.c - folding producer steps into their one consumer at plan time.
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
 * Convolution epilogues (FUSE_EPILOGUE; found first, so the pairs above never split a chain): a
 * head (Conv2D or DepthwiseConv2dNative, NHWC, or MatMul) whose output is read once, by a chain
 * of links each read once by the next:
 *   BiasAdd (NHWC) / Add / AddV2 / Mul / Sub of a per-channel vector (static shape [..., C],
 *   every other dim 1, C the head's static output channels), FusedBatchNorm(V2, V3) with
 *   is_training false (its other outputs unread; scale / offset / mean / variance vectors of
 *   C; not last, since the fused step has one output), at most DEFT_EPI_MAX_OPS of them,
 *   then optionally Relu / Relu6 / Elu (which ends the chain).
 * The last link's step runs the head's kernel writing straight into its own output slot, with a
 * deft_epilogue (ops/fused_kernels.h) built per run from the links' current values (a batch
 * norm's scale and shift as its kernel computes them, so variables may change between runs):
 * the convolution kernels apply it to each block of rows they write (through conv_params.ep),
 * MatMul's output gets it after the product. The head and the other links are absorbed. Every
 * op rounds as its kernel does, so results are bit-identical to the unfused plan's. A fetched
 * link ends the chain there (its value is the fused step's output); a value read by anything
 * else, an operand that is not a per-channel vector, float64 (the head's output dtype) or an op
 * reading the value twice stops the chain before that link. At run time, inputs that do not fit
 * (dtype, rank, the vectors' length) run the unfused kernels in order.
 *
 * A session made with deft_session_options_set_plan_fusion(o, false) skips the pass (for A/B
 * comparisons). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/thread_pool.h"
#include "ops/conv_internal.h"
#include "ops/fused_kernels.h"
#include "runtime/session_internal.h"

enum { FUSE_MUL_ADD = 1, FUSE_COLSUM, FUSE_EPILOGUE };
enum { HEAD_CONV = 1, HEAD_DEPTHWISE, HEAD_MATMUL };

/* FUSE_EPILOGUE: one link of the chain after the head. */
typedef struct epi_link {
  int step;       /* the link's step (the last link is the fused step itself) */
  int act;        /* a deft_epi_act other than NONE: an activation; else an op: */
  deft_epi_op op;
  int vin;        /* the step's input holding the per-channel vector (BN: 1) */
  float eps;      /* BN: epsilon */
} epi_link;
#define MAX_LINKS (DEFT_EPI_MAX_OPS + 1)

struct deft_fusion {
  int kind;
  int pstep;            /* the absorbed producer's step (FUSE_EPILOGUE: the head) */
  int x;                /* FUSE_MUL_ADD: the producer's input holding x (the other is s) */
  int t;                /* FUSE_MUL_ADD: the consumer's input holding t */
  deft_fused_elem elem; /* FUSE_COLSUM: the producer's op */
  bool mean, keep_dims; /* FUSE_COLSUM: the consumer is a Mean; its keep_dims */
  deft_kernel_fn orig;  /* the consumer's own kernel (the fallback) */
  /* FUSE_EPILOGUE: the head (pstep: Conv2D, DepthwiseConv2dNative or MatMul) and the links
   * after it; all steps but the last link are absorbed. */
  int head;             /* HEAD_* */
  int head_rank;        /* 4 (convolutions) or 2 (MatMul) */
  bool tb;              /* MatMul: transpose_b */
  int nlinks;
  epi_link links[MAX_LINKS];
  double *bn;           /* BN links' da, db vectors (2 * C doubles a link), grown on demand */
  int64_t bn_cap;
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

/* Who reads each slot: per slot a list of (step, input) entries, built once per pass, so that
 * the questions below cost the readers of one slot, not a scan of every later step (a
 * 1,000-layer MLP's training plan has 28,000 steps). An entry is current while its step's input
 * still names the slot: redirect_shape_readers moves readers to another slot by adding entries
 * there, and the old ones are skipped. Elided steps are skipped when asked, as they read
 * nothing at run time. */
typedef struct reader {
  int next;  /* the slot's next entry, or -1 */
  int step, input;
} reader;

typedef struct readers {
  int nslots;
  int *head; /* nslots: the slot's first entry, or -1 */
  reader *ent;
  int n, cap;
} readers;

static bool readers_push(readers *r, int slot, int step, int input) {
  if (slot < 0 || slot >= r->nslots) return true;
  if (r->n == r->cap) {
    int cap = r->cap ? 2 * r->cap : 1024;
    reader *ent = deft_realloc(r->ent, sizeof *ent * (size_t)cap);
    if (!ent) return false;
    r->ent = ent;
    r->cap = cap;
  }
  r->ent[r->n] = (reader){r->head[slot], step, input};
  r->head[slot] = r->n++;
  return true;
}

static void readers_free(readers *r) {
  deft_free(r->head);
  deft_free(r->ent);
}

static bool readers_build(const deft_plan *p, readers *r) {
  memset(r, 0, sizeof *r);
  r->nslots = p->nslots;
  r->head = deft_malloc(sizeof(int) * (size_t)(p->nslots + 1));
  if (!r->head) return false;
  for (int i = 0; i < p->nslots; i++) r->head[i] = -1;
  for (int i = p->nsteps - 1; i >= 0; i--) /* lists in step order (pushed at the head) */
    for (int k = p->steps[i].op->ninputs - 1; k >= 0; k--)
      if (!readers_push(r, p->steps[i].in_slots[k], i, k)) return false;
  return true;
}

/* Iterates the current readers e of slot (step r->ent[e].step, input r->ent[e].input). */
#define FOR_READERS(p, r, slot, e)                                                     \
  for (int e = (slot) >= 0 && (slot) < (r)->nslots ? (r)->head[slot] : -1; e >= 0;     \
       e = (r)->ent[e].next)                                                             \
    if ((p)->steps[(r)->ent[e].step].in_slots[(r)->ent[e].input] == (slot))

/* Whether the producer step ps's output can vanish into consumer step ci: read once by ci,
 * otherwise only by shape-only ops (when `shapes_ok`: x is known to have the output's shape),
 * and not fetched. */
static bool only_reader(const deft_plan *p, const readers *r, int ps, int ci, bool shapes_ok) {
  int slot = p->steps[ps].out_base;
  for (int i = 0; i < p->nfetches; i++)
    if (p->fetch_slots[i] == slot) return false;
  int reads = 0;
  FOR_READERS(p, r, slot, e) {
    int i = r->ent[e].step;
    const deft_step *st = &p->steps[i];
    if (i <= ps || st->elided) continue;
    if (i == ci)
      reads++;
    else if (!shapes_ok || !shape_only(st->op))
      return false;
  }
  return reads == 1;
}

/* Points the shape-only readers of ps's output at slot `to`. */
static bool redirect_shape_readers(deft_plan *p, readers *r, int ps, int to) {
  int slot = p->steps[ps].out_base;
  FOR_READERS(p, r, slot, e) {
    int i = r->ent[e].step;
    deft_step *st = &p->steps[i];
    if (i > ps && !st->elided && shape_only(st->op) && r->ent[e].input == 0) {
      st->in_slots[0] = to;
      if (!readers_push(r, to, i, 0)) return false;
    }
  }
  return true;
}

/* The step producing input k of step st, or -1 (fed, or not a step's output 0). */
static int producer(const deft_plan *p, const int *step_of_slot, const deft_step *st, int k) {
  int s = st->in_slots[k];
  return s < p->nslots ? step_of_slot[s] : -1;
}

/* Tries to fuse consumer step ci with the producer of its input `pin`. */
static bool try_fuse(deft_plan *p, readers *r, const int *step_of_slot, int ci, int pin,
                     deft_fusion *f, bool *oom) {
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
  if (!only_reader(p, r, pi, ci, shapes_ok)) return false;
  /* x's slot: the shape-only readers' new input (x has the producer's output shape). */
  if (!redirect_shape_readers(p, r, pi, ps->in_slots[f->x])) {
    *oom = true;
    return false;
  }
  return true;
}


/* ---- FUSE_EPILOGUE: a convolution or MatMul and the per-channel ops after it ---- */

/* The output's static last dim when the op has exactly rank `rank` and a float output 0 whose
 * last dim is known; else -1. */
static int64_t channels(const deft_op *op, int rank) {
  deft_output o = {(deft_op *)op, 0};
  deft_shape s = out_shape(o);
  if (deft_output_type(o) != DEFT_FLOAT || s.rank != rank || s.dims[rank - 1] <= 0) return -1;
  return s.dims[rank - 1];
}

/* A float operand of static shape [..., C] with every other dim 1, of rank 1..max_rank: it
 * broadcasts over the rows of a [rows..., C] tensor without changing its shape. */
static bool is_channel_vector(deft_output o, int64_t C, int max_rank) {
  deft_shape s = out_shape(o);
  if (deft_output_type(o) != DEFT_FLOAT || s.rank < 1 || s.rank > max_rank) return false;
  for (int k = 0; k < s.rank - 1; k++)
    if (s.dims[k] != 1) return false;
  return s.dims[s.rank - 1] == C;
}

static bool nhwc(const deft_op *op) {
  const char *df;
  size_t len;
  return !deft_op_attr_string(op, "data_format", &df, &len) || (len == 4 && !memcmp(df, "NHWC", 4));
}

static bool is_fused_bn(const deft_op *op) {
  return is_type(op, "FusedBatchNorm") || is_type(op, "FusedBatchNormV2") ||
         is_type(op, "FusedBatchNormV3");
}

static bool slot_fetched(const deft_plan *p, int slot) {
  for (int i = 0; i < p->nfetches; i++)
    if (p->fetch_slots[i] == slot) return true;
  return false;
}

/* The one running step from `from` on that reads `slot`, once (its input *pin), when nothing
 * else there reads it and it is not fetched; else -1. */
static int sole_reader(const deft_plan *p, const readers *r, int from, int slot, int *pin) {
  if (slot_fetched(p, slot)) return -1;
  int found = -1;
  FOR_READERS(p, r, slot, e) {
    int i = r->ent[e].step;
    if (i < from || p->steps[i].elided) continue;
    if (found >= 0) return -1;
    found = i;
    *pin = r->ent[e].input;
  }
  return found;
}

/* Whether step st's outputs other than 0 are read by no running step and not fetched. */
static bool extra_outputs_unread(const deft_plan *p, const readers *r, const deft_step *st) {
  for (int k = 1; k < st->op->noutputs; k++) {
    int slot = st->out_base + k;
    if (slot_fetched(p, slot)) return false;
    FOR_READERS(p, r, slot, e) {
      if (!p->steps[r->ent[e].step].elided) return false;
    }
  }
  return true;
}

/* Like pure_plain, but a fused batch norm's several outputs are allowed. */
static bool pure_link(const deft_step *st) {
  if (pure_plain(st)) return true;
  const deft_op *op = st->op;
  if (!is_fused_bn(op) || !op->reg || st->kind != DEFT_STEP_PLAIN || st->frame != 0 ||
      st->elided || st->fusion || st->absorbed)
    return false;
  for (int k = 0; k < op->ninputs; k++)
    if (op->inputs[k].op->out_ref[op->inputs[k].index]) return false;
  for (int k = 0; k < op->noutputs; k++)
    if (op->out_ref[k]) return false;
  return true;
}

/* Classifies step li (reading the chain's value at input pin) as a link; false when it is none. */
static bool classify_link(const deft_step *ls, int pin, int64_t C, int rank, epi_link *l) {
  const deft_op *op = ls->op;
  memset(l, 0, sizeof *l);
  if (channels(op, rank) != C) return false; /* float, and the value's shape */
  if (is_type(op, "Relu") || is_type(op, "Relu6") || is_type(op, "Elu")) {
    l->act = is_type(op, "Relu") ? DEFT_EPI_RELU : is_type(op, "Relu6") ? DEFT_EPI_RELU6
                                                                        : DEFT_EPI_ELU;
    return op->ninputs == 1;
  }
  if (is_fused_bn(op)) {
    bool training = true;
    deft_op_attr_bool(op, "is_training", &training);
    if (training || pin != 0 || !nhwc(op) || op->ninputs != 5) return false;
    for (int k = 1; k < 5; k++)
      if (!is_channel_vector(op->inputs[k], C, 1)) return false;
    l->op = DEFT_EPI_BN;
    l->vin = 1;
    l->eps = 0.0001f;
    deft_op_attr_float(op, "epsilon", &l->eps);
    return true;
  }
  if (op->ninputs != 2) return false;
  l->vin = 1 - pin;
  if (!is_channel_vector(op->inputs[l->vin], C, rank)) return false;
  if (is_type(op, "BiasAdd") && pin == 0 && nhwc(op))
    l->op = DEFT_EPI_ADD;
  else if (is_type(op, "Add") || is_type(op, "AddV2"))
    l->op = DEFT_EPI_ADD;
  else if (is_type(op, "Mul"))
    l->op = DEFT_EPI_MUL;
  else if (is_type(op, "Sub"))
    l->op = pin == 0 ? DEFT_EPI_SUB : DEFT_EPI_RSUB;
  else
    return false;
  return true;
}

/* Tries to start a chain at head step hi; on success fills f (the fused step is its last link's)
 * and returns that step, else -1. */
static int try_chain(const deft_plan *p, const readers *r, int hi, deft_fusion *f) {
  const deft_step *hs = &p->steps[hi];
  const deft_op *hop = hs->op;
  if (!pure_plain(hs) || hop->ninputs != 2) return -1;
  memset(f, 0, sizeof *f);
  if (is_type(hop, "Conv2D")) f->head = HEAD_CONV, f->head_rank = 4;
  else if (is_type(hop, "DepthwiseConv2dNative")) f->head = HEAD_DEPTHWISE, f->head_rank = 4;
  else if (is_type(hop, "MatMul")) f->head = HEAD_MATMUL, f->head_rank = 2;
  else return -1;
  if (f->head != HEAD_MATMUL && !nhwc(hop)) return -1;
  if (f->head == HEAD_MATMUL) deft_op_attr_bool(hop, "transpose_b", &f->tb);
  int64_t C = channels(hop, f->head_rank);
  if (C < 0) return -1;
  int cur = hi, nops = 0;
  while (f->nlinks < MAX_LINKS) {
    int pin = -1, li = sole_reader(p, r, cur + 1, p->steps[cur].out_base, &pin);
    if (li < 0 || !pure_link(&p->steps[li])) break;
    epi_link l;
    if (!classify_link(&p->steps[li], pin, C, f->head_rank, &l)) break;
    if (!l.act && nops == DEFT_EPI_MAX_OPS) break;
    /* A batch norm's other outputs: produced only by its own kernel (the fallback). */
    if (is_fused_bn(p->steps[li].op) && !extra_outputs_unread(p, r, &p->steps[li])) break;
    l.step = li;
    f->links[f->nlinks++] = l;
    nops += !l.act;
    cur = li;
    if (l.act) break;
  }
  /* The fused step has one output: a trailing batch norm stays its own step. */
  while (f->nlinks > 0 && p->steps[f->links[f->nlinks - 1].step].op->noutputs != 1) f->nlinks--;
  if (f->nlinks == 0) return -1;
  f->kind = FUSE_EPILOGUE;
  f->pstep = hi;
  return f->links[f->nlinks - 1].step;
}

static bool fuse_chains(deft_plan *p, const readers *r, deft_status *status) {
  for (int hi = 0; hi < p->nsteps; hi++) {
    deft_fusion f;
    int ci = try_chain(p, r, hi, &f);
    if (ci < 0) continue;
    deft_step *cs = &p->steps[ci];
    cs->fusion = deft_malloc(sizeof *cs->fusion);
    if (!cs->fusion) {
      deft_status_set(status, DEFT_RESOURCE_EXHAUSTED, "out of memory planning a run");
      return false;
    }
    *cs->fusion = f;
    for (int j = 0; ; j++) {
      int s = deft_step_fused_producer(cs, j);
      if (s < 0) break;
      p->steps[s].absorbed = true;
      p->steps[s].elided = true;
    }
  }
  return true;
}

bool deft_plan_fuse(deft_plan *p, deft_status *status) {
  readers r;
  int *step_of_slot = NULL;
  bool ok = readers_build(p, &r) && fuse_chains(p, &r, status) &&
            (step_of_slot = deft_malloc(sizeof(int) * (size_t)(p->nslots + 1)));
  if (ok) {
    for (int i = 0; i < p->nslots; i++) step_of_slot[i] = -1;
    for (int i = 0; i < p->nsteps; i++)
      if (p->steps[i].op->noutputs > 0) step_of_slot[p->steps[i].out_base] = i;
  }
  bool oom = false;
  for (int ci = 0; ok && ci < p->nsteps; ci++) {
    deft_step *cs = &p->steps[ci];
    if (!pure_plain(cs) || cs->op->ninputs != 2) continue;
    deft_fusion f;
    int pin = -1;
    for (int k = 0; k < 2 && pin < 0 && !oom; k++)
      if (try_fuse(p, &r, step_of_slot, ci, k, &f, &oom)) pin = k;
    if (oom) ok = false;
    if (pin < 0) continue;
    cs->fusion = deft_malloc(sizeof *cs->fusion);
    if (!cs->fusion) {
      ok = false;
      break;
    }
    *cs->fusion = f;
    p->steps[f.pstep].absorbed = true;
    p->steps[f.pstep].elided = true;
  }
  if (!ok && deft_status_ok(status))
    deft_status_set(status, DEFT_RESOURCE_EXHAUSTED, "out of memory planning a run");
  deft_free(step_of_slot);
  readers_free(&r);
  return ok;
}

int deft_step_fused_producer(const deft_step *st, int k) {
  const deft_fusion *f = st->fusion;
  if (!f || k < 0) return -1;
  if (k == 0) return f->pstep;
  if (f->kind != FUSE_EPILOGUE || k >= f->nlinks) return -1;
  return f->links[k - 1].step;
}

void deft_fusion_free(deft_fusion *f) {
  if (f) deft_free(f->bn);
  deft_free(f);
}

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


/* A float vector value of C elements with every dim but the last 1, rank 1..max_rank. */
static bool channel_vector_value(const deft_tensor *v, int64_t C, int max_rank) {
  if (v->dtype != DEFT_FLOAT || !v->buf || v->n != C || v->rank < 1 || v->rank > max_rank)
    return false;
  return v->dims[v->rank - 1] == C;
}

/* Builds the run's epilogue from the links' current values (a batch norm's da, db computed as
 * its kernel computes them); false when one does not fit (the fallback runs). */
static bool build_epilogue(deft_plan *p, deft_fusion *f, int64_t C, deft_epilogue *ep) {
  memset(ep, 0, sizeof *ep);
  int nbn = 0;
  for (int i = 0; i < f->nlinks; i++) nbn += !f->links[i].act && f->links[i].op == DEFT_EPI_BN;
  if (nbn && f->bn_cap < 2 * C * nbn) {
    double *b = deft_malloc(sizeof(double) * (size_t)(2 * C * nbn));
    if (!b) return false;
    deft_free(f->bn);
    f->bn = b;
    f->bn_cap = 2 * C * nbn;
  }
  double *bn = f->bn;
  for (int i = 0; i < f->nlinks; i++) {
    const epi_link *l = &f->links[i];
    const deft_step *ls = &p->steps[l->step];
    if (l->act) {
      ep->act = (deft_epi_act)l->act;
      continue;
    }
    int k = ep->nops++;
    ep->ops[k].op = l->op;
    if (l->op != DEFT_EPI_BN) {
      const deft_tensor *v = slot_value(p, ls->in_slots[l->vin]);
      if (!channel_vector_value(v, C, f->head_rank)) return false;
      ep->ops[k].a = deft_tensor_f32(v);
      continue;
    }
    const float *in[4];
    for (int q = 0; q < 4; q++) {
      const deft_tensor *v = slot_value(p, ls->in_slots[1 + q]);
      if (!channel_vector_value(v, C, 1)) return false;
      in[q] = deft_tensor_f32(v);
    }
    /* scale, offset, mean, variance: as the batch norm kernel, in double. */
    double *da = bn, *db = bn + C;
    bn += 2 * C;
    for (int64_t j = 0; j < C; j++) {
      double inv = 1.0 / sqrt((double)in[3][j] + (double)l->eps);
      da[j] = inv * (double)in[0][j];
      db[j] = (double)in[1][j] - (double)in[2][j] * da[j];
    }
    ep->ops[k].da = da;
    ep->ops[k].db = db;
  }
  return true;
}

/* The head's kernel writing the fused step's output, with the epilogue applied (inside the
 * convolution kernels, after the product for MatMul); false when the run's values do not fit
 * (nothing was written then). */
static bool fused_epilogue(deft_kernel_ctx *c, deft_fusion *f, deft_step *hs) {
  deft_plan *p = c->plan;
  const deft_tensor *a = slot_value(p, hs->in_slots[0]), *b = slot_value(p, hs->in_slots[1]);
  if (a->dtype != DEFT_FLOAT || b->dtype != DEFT_FLOAT || b->rank != f->head_rank) return false;
  int64_t C = f->head == HEAD_CONV        ? b->dims[3]
              : f->head == HEAD_DEPTHWISE ? b->dims[2] * b->dims[3]
              : f->tb                     ? b->dims[0]
                                          : b->dims[1];
  if (C <= 0) return false;
  deft_epilogue ep;
  if (!build_epilogue(p, f, C, &ep)) return false;
  deft_step *cs = c->step;
  const deft_op *cop = c->op;
  conv_params *cp = f->head != HEAD_MATMUL ? hs->params : NULL;
  if (f->head != HEAD_MATMUL && !cp) return false;
  /* The convolution's instruction set (chosen when it was prepared), or the calling thread's. */
  ep.isa = (int)(cp ? cp->isa : deft_conv_isa());
  /* The head's kernel, its output going to the fused step's slot (the plan is this run's). */
  int out_base = hs->out_base;
  hs->out_base = cs->out_base;
  if (cp) cp->ep = &ep;
  c->op = hs->op;
  c->step = hs;
  hs->compute(c);
  c->op = cop;
  c->step = cs;
  if (cp) cp->ep = NULL;
  hs->out_base = out_base;
  if (c->failed || f->head != HEAD_MATMUL) return true;
  const deft_tensor *y = slot_value(p, cs->out_base);
  if (y->dtype == DEFT_FLOAT && y->rank == 2 && y->dims[1] == C && y->buf)
    deft_epilogue_rows_f32(&ep, deft_tensor_f32(y), y->dims[0], C);
  return true;
}

/* The consumer's compute step: the fused pass, or the kernels one after the other. */
void deft_fused_compute(deft_kernel_ctx *c) {
  deft_step *cs = c->step;
  const deft_fusion *f = cs->fusion;
  deft_step *ps = &c->plan->steps[f->pstep];
  bool done = f->kind == FUSE_MUL_ADD ? fused_mul_add(c, f, ps)
              : f->kind == FUSE_COLSUM ? fused_colsum(c, f, ps)
                                       : fused_epilogue(c, cs->fusion, ps);
  if (done) return;
  const deft_op *cop = c->op;
  for (int k = 0, si; !c->failed && (si = deft_step_fused_producer(cs, k)) >= 0; k++) {
    deft_step *st = &c->plan->steps[si];
    c->op = st->op;
    c->step = st;
    st->compute(c);
  }
  c->op = cop;
  c->step = cs;
  if (!c->failed) f->orig(c);
}

void deft_fusion_set_kernel(deft_step *st) {
  st->fusion->orig = st->compute;
  st->compute = deft_fused_compute;
}
