/* SPDX-License-Identifier: Apache-2.0 */
/* graph/rnn_cells.c - TF 1.x's RNN cells (BasicRNNCell, BasicLSTMCell, LSTMCell, GRUCell,
 * MultiRNNCell, DropoutWrapper, OutputProjectionWrapper) and static_rnn, built from the ordinary
 * op constructors with TF's variable and node names (deft/rnn.h).
 *
 * Scopes: a cell's first call opens its variable scope (creating its variables there) and
 * remembers the name scope that came with it; later calls re-enter that name scope as-is, so
 * TF's uniquified op names follow (MatMul_1, ...), as Layer.__call__ does. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "deft/control_flow.h"
#include "deft/ops.h"
#include "deft/rnn.h"
#include "graph/graph_internal.h"
#include "ops/op_build.h"

static const deft_output NONE = {NULL, 0};

typedef enum cell_kind {
  CELL_BASIC,
  CELL_BASIC_LSTM,
  CELL_LSTM,
  CELL_GRU,
  CELL_MULTI,
  CELL_DROPOUT,
  CELL_PROJECTION
} cell_kind;

/* Variable slots, by kind. */
enum { V_KERNEL, V_BIAS, V_WF, V_WI, V_WO, V_PROJ, V_MAX };
enum { V_GATES_KERNEL = 0, V_GATES_BIAS, V_CAND_KERNEL, V_CAND_BIAS };

struct deft_rnn_cell {
  deft_graph *g;
  cell_kind kind;
  int64_t units; /* the cell's own width (projection: output_size) */
  char *name;    /* the user's scope name, or NULL for the default */
  char *act;     /* activation name (owned), NULL for the kind's default */
  float forget_bias;
  deft_lstm_options lstm;
  bool built;
  int64_t input_size; /* fixed by the first call */
  char *nscope;       /* the name scope of the first call */
  deft_op *vars[V_MAX];
  deft_rnn_cell **cells; /* MULTI: the stack; DROPOUT, PROJECTION: cells[0] wrapped */
  int ncells;
  deft_output keep[3]; /* DROPOUT: input, output, state keep probabilities */
  int64_t seed;
};

static const char *default_scope(const deft_rnn_cell *c) {
  switch (c->kind) {
    case CELL_BASIC:
      return "basic_rnn_cell";
    case CELL_BASIC_LSTM:
      return "basic_lstm_cell";
    case CELL_LSTM:
      return "lstm_cell";
    case CELL_GRU:
      return "gru_cell";
    case CELL_MULTI:
      return "multi_rnn_cell";
    case CELL_PROJECTION:
      return "output_projection_wrapper";
    case CELL_DROPOUT:
      return NULL;
  }
  return NULL;
}

static const char *type_name(const deft_rnn_cell *c) {
  switch (c->kind) {
    case CELL_BASIC:
      return "BasicRNNCell";
    case CELL_BASIC_LSTM:
      return "BasicLSTMCell";
    case CELL_LSTM:
      return "LSTMCell";
    case CELL_GRU:
      return "GRUCell";
    case CELL_MULTI:
      return "MultiRNNCell";
    case CELL_DROPOUT:
      return "DropoutWrapper";
    case CELL_PROJECTION:
      return "OutputProjectionWrapper";
  }
  return "RNNCell";
}

static char *dup_or_null(const char *s) {
  if (!s) return NULL;
  size_t n = strlen(s) + 1;
  char *d = deft_malloc(n);
  if (d) memcpy(d, s, n);
  return d;
}

static deft_rnn_cell *cell_new(deft_graph *g, cell_kind kind, int64_t units, const char *act,
                               const char *name) {
  if (!deft_graph_ok(g)) return NULL;
  deft_rnn_cell *c = deft_calloc(1, sizeof *c);
  if (!c || (act && !(c->act = dup_or_null(act))) || (name && !(c->name = dup_or_null(name)))) {
    if (c) {
      deft_free(c->act);
      deft_free(c);
    }
    deft_graph_fail(g, DEFT_RESOURCE_EXHAUSTED, "out of memory creating an RNN cell");
    return NULL;
  }
  c->g = g;
  c->kind = kind;
  c->units = units;
  c->input_size = -1;
  if (kind != CELL_MULTI && kind != CELL_DROPOUT && units < 1) {
    deft_graph_fail(g, DEFT_INVALID_ARGUMENT, "%s: num_units must be >= 1, got %lld", type_name(c),
                    (long long)units);
    deft_rnn_cell_free(c);
    return NULL;
  }
  return c;
}

void deft_rnn_cell_free(deft_rnn_cell *c) {
  if (!c) return;
  for (int i = 0; i < c->ncells; i++) deft_rnn_cell_free(c->cells[i]);
  deft_free(c->cells);
  deft_free(c->name);
  deft_free(c->act);
  deft_free(c->nscope);
  deft_free(c);
}

deft_rnn_cell *deft_rnn_cell_basic(deft_graph *g, int64_t units, const char *act,
                                   const char *name) {
  return cell_new(g, CELL_BASIC, units, act, name);
}

deft_rnn_cell *deft_rnn_cell_basic_lstm(deft_graph *g, int64_t units, float forget_bias,
                                        const char *act, const char *name) {
  deft_rnn_cell *c = cell_new(g, CELL_BASIC_LSTM, units, act, name);
  if (c) c->forget_bias = forget_bias;
  return c;
}

deft_lstm_options deft_lstm_options_default(void) {
  deft_lstm_options o;
  memset(&o, 0, sizeof o);
  o.forget_bias = 1.0f;
  return o;
}

deft_rnn_cell *deft_rnn_cell_lstm(deft_graph *g, int64_t units, const deft_lstm_options *o,
                                  const char *name) {
  deft_lstm_options d = deft_lstm_options_default();
  if (!o) o = &d;
  if (o->num_proj < 0 || o->cell_clip < 0 || o->proj_clip < 0) {
    deft_graph_fail(g, DEFT_INVALID_ARGUMENT,
                    "LSTMCell: num_proj, cell_clip and proj_clip must be >= 0 (0 = none)");
    return NULL;
  }
  deft_rnn_cell *c = cell_new(g, CELL_LSTM, units, o->activation, name);
  if (!c) return NULL;
  c->lstm = *o;
  c->lstm.activation = c->act;
  c->forget_bias = o->forget_bias;
  return c;
}

deft_rnn_cell *deft_rnn_cell_gru(deft_graph *g, int64_t units, const char *act, const char *name) {
  return cell_new(g, CELL_GRU, units, act, name);
}

/* Takes ownership of inner[0..n) whatever happens. */
static deft_rnn_cell *wrapper_new(deft_graph *g, cell_kind kind, deft_rnn_cell *const *inner, int n,
                                  int64_t units, const char *act) {
  bool ok = n >= 1;
  for (int i = 0; i < n && ok; i++) ok = inner[i] && inner[i]->g == g;
  deft_rnn_cell *c = ok ? cell_new(g, kind, units, act, NULL) : NULL;
  if (c) {
    c->cells = deft_malloc((size_t)n * sizeof *c->cells);
    if (!c->cells) {
      deft_graph_fail(g, DEFT_RESOURCE_EXHAUSTED, "out of memory creating an RNN cell");
      deft_rnn_cell_free(c);
      c = NULL;
    }
  } else if (!ok && deft_graph_ok(g)) {
    deft_graph_fail(g, DEFT_INVALID_ARGUMENT, "%s needs %s cell(s) of this graph",
                    kind == CELL_MULTI     ? "MultiRNNCell"
                    : kind == CELL_DROPOUT ? "DropoutWrapper"
                                           : "OutputProjectionWrapper",
                    kind == CELL_MULTI ? "one or more" : "one");
  }
  if (!c) {
    for (int i = 0; i < n; i++) deft_rnn_cell_free(inner[i]);
    return NULL;
  }
  memcpy(c->cells, inner, (size_t)n * sizeof *c->cells);
  c->ncells = n;
  return c;
}

deft_rnn_cell *deft_rnn_cell_multi(deft_graph *g, deft_rnn_cell *const *cells, int n) {
  return wrapper_new(g, CELL_MULTI, cells, n < 0 ? 0 : n, 0, NULL);
}

deft_rnn_cell *deft_rnn_cell_dropout(deft_graph *g, deft_rnn_cell *cell, deft_output in_keep,
                                     deft_output out_keep, deft_output state_keep, int64_t seed) {
  deft_output keeps[3] = {in_keep, out_keep, state_keep};
  for (int i = 0; i < 3; i++) {
    if (keeps[i].op && !deft_inputs_ok(g, "DropoutWrapper", &keeps[i], 1)) {
      deft_rnn_cell_free(cell);
      return NULL;
    }
  }
  deft_rnn_cell *c = wrapper_new(g, CELL_DROPOUT, &cell, 1, 0, NULL);
  if (!c) return NULL;
  memcpy(c->keep, keeps, sizeof keeps);
  c->seed = seed;
  return c;
}

deft_rnn_cell *deft_rnn_cell_output_projection(deft_graph *g, deft_rnn_cell *cell,
                                               int64_t output_size, const char *act) {
  if (output_size < 1) {
    deft_graph_fail(g, DEFT_INVALID_ARGUMENT,
                    "OutputProjectionWrapper: output_size must be >= 1, got %lld",
                    (long long)output_size);
    deft_rnn_cell_free(cell);
    return NULL;
  }
  return wrapper_new(g, CELL_PROJECTION, &cell, 1, output_size, act);
}

/* ---- sizes ---- */

int64_t deft_rnn_cell_output_size(const deft_rnn_cell *c) {
  switch (c->kind) {
    case CELL_LSTM:
      return c->lstm.num_proj > 0 ? c->lstm.num_proj : c->units;
    case CELL_MULTI:
      return deft_rnn_cell_output_size(c->cells[c->ncells - 1]);
    case CELL_DROPOUT:
      return deft_rnn_cell_output_size(c->cells[0]);
    default:
      return c->units;
  }
}

int deft_rnn_cell_state_count(const deft_rnn_cell *c) {
  switch (c->kind) {
    case CELL_BASIC_LSTM:
    case CELL_LSTM:
      return 2;
    case CELL_MULTI: {
      int n = 0;
      for (int i = 0; i < c->ncells; i++) n += deft_rnn_cell_state_count(c->cells[i]);
      return n;
    }
    case CELL_DROPOUT:
    case CELL_PROJECTION:
      return deft_rnn_cell_state_count(c->cells[0]);
    default:
      return 1;
  }
}

/* Width of state tensor i, and whether it is an LSTM's c (which DropoutWrapper leaves alone, as
 * TF's default dropout_state_filter_visitor does). */
static int64_t state_info(const deft_rnn_cell *c, int i, bool *is_c) {
  if (is_c) *is_c = false;
  if (i < 0 || i >= deft_rnn_cell_state_count(c)) return 0;
  switch (c->kind) {
    case CELL_BASIC_LSTM:
    case CELL_LSTM:
      if (i == 0) {
        if (is_c) *is_c = true;
        return c->units;
      }
      return deft_rnn_cell_output_size(c);
    case CELL_MULTI:
      for (int k = 0; k < c->ncells; k++) {
        int n = deft_rnn_cell_state_count(c->cells[k]);
        if (i < n) return state_info(c->cells[k], i, is_c);
        i -= n;
      }
      return 0;
    case CELL_DROPOUT:
    case CELL_PROJECTION:
      return state_info(c->cells[0], i, is_c);
    default:
      return c->units;
  }
}

int64_t deft_rnn_cell_state_size(const deft_rnn_cell *c, int i) { return state_info(c, i, NULL); }

/* ---- zero state ---- */

static deft_output fconst(deft_graph *g, deft_dtype dt, double v, const char *name) {
  return dt == DEFT_DOUBLE ? deft_const_double(g, v, name) : deft_const_float(g, (float)v, name);
}

bool deft_rnn_cell_zero_state(deft_rnn_cell *c, deft_output batch_size, deft_dtype dtype,
                              deft_output *state) {
  deft_graph *g = c->g;
  if (!deft_inputs_ok(g, "zero_state", &batch_size, 1)) return false;
  if (dtype != DEFT_FLOAT && dtype != DEFT_DOUBLE) {
    deft_graph_fail(g, DEFT_INVALID_ARGUMENT, "%s zero_state: dtype must be float or double",
                    type_name(c));
    return false;
  }
  char scope[64];
  snprintf(scope, sizeof scope, "%sZeroState", type_name(c));
  if (!deft_graph_push_scope(g, scope)) return false;
  int n = deft_rnn_cell_state_count(c);
  for (int i = 0; i < n; i++) {
    char nm[4][32];
    char sfx[16] = "";
    if (i > 0) snprintf(sfx, sizeof sfx, "_%d", i);
    snprintf(nm[0], sizeof nm[0], "ExpandDims%s", sfx);
    snprintf(nm[1], sizeof nm[1], "Const%s", sfx);
    snprintf(nm[2], sizeof nm[2], "concat%s", sfx);
    snprintf(nm[3], sizeof nm[3], "zeros%s", sfx);
    char dimname[48], axisname[48], valname[48];
    snprintf(dimname, sizeof dimname, "%s/dim", nm[0]);
    snprintf(axisname, sizeof axisname, "%s/axis", nm[2]);
    snprintf(valname, sizeof valname, "%s/Const", nm[3]);
    deft_output b = deft_expand_dims(g, batch_size, deft_const_int32(g, 0, dimname), nm[0]);
    int32_t width = (int32_t)state_info(c, i, NULL);
    deft_output w = deft_const_int32_vector(g, &width, 1, nm[1]);
    deft_output parts[2] = {b, w};
    deft_output dims = deft_concat(g, parts, 2, deft_const_int32(g, 0, axisname), nm[2]);
    deft_output zero = fconst(g, dtype, 0.0, valname);
    state[i] = deft_fill(g, dims, zero, nm[3]);
  }
  deft_graph_pop_scope(g);
  return deft_graph_ok(g);
}

/* ---- building one step ---- */

/* Enters the cell's scope: on the first call its variable scope (variables are made there), on
 * later calls its first call's name scope, re-entered as-is. */
static bool enter(deft_rnn_cell *c) {
  deft_graph *g = c->g;
  if (!c->built) {
    if (!deft_graph_push_variable_scope(g, c->name, default_scope(c))) return false;
    c->nscope = dup_or_null(deft_graph_scope(g));
    if (!c->nscope) {
      deft_graph_pop_variable_scope(g);
      deft_graph_fail(g, DEFT_RESOURCE_EXHAUSTED, "out of memory building an RNN cell");
      return false;
    }
    return true;
  }
  size_t n = strlen(c->nscope);
  char *s = deft_malloc(n + 2);
  if (!s) {
    deft_graph_fail(g, DEFT_RESOURCE_EXHAUSTED, "out of memory building an RNN cell");
    return false;
  }
  memcpy(s, c->nscope, n);
  s[n] = '/';
  s[n + 1] = 0;
  const char *ok = deft_graph_push_scope(g, s);
  deft_free(s);
  return ok != NULL;
}

static void leave(deft_rnn_cell *c, bool first) {
  if (first)
    deft_graph_pop_variable_scope(c->g);
  else
    deft_graph_pop_scope(c->g);
}

/* A sub-scope inside a cell (GRU's "gates", MultiRNNCell's "cell_<i>"): a variable scope on the
 * first call, a (uniquified) name scope later, as re-entering tf.variable_scope(name) does. */
static bool enter_sub(deft_graph *g, const char *name, bool first) {
  return first ? deft_graph_push_variable_scope(g, name, NULL) != NULL
               : deft_graph_push_scope(g, name) != NULL;
}

static void leave_sub(deft_graph *g, bool first) {
  if (first)
    deft_graph_pop_variable_scope(g);
  else
    deft_graph_pop_scope(g);
}

/* TF's rnn_cell_impl._linear: concat(args, 1) @ kernel (+ bias), creating "kernel" [width (the
 * args' widths summed), out] and "bias" [out] in the current variable scope on the first call. */
static deft_output linear(deft_graph *g, const deft_output *args, int n, int64_t width, int64_t out,
                          bool bias, deft_op **kslot, deft_op **bslot, deft_initializer kinit,
                          deft_initializer binit, bool first) {
  deft_output x = args[0];
  if (n > 1) x = deft_concat(g, args, n, deft_const_int32(g, 1, "concat/axis"), "concat");
  if (!deft_graph_ok(g)) return NONE;
  if (first) {
    deft_dtype dt = deft_output_dtype(x);
    *kslot = deft_get_variable(g, "kernel", dt, DEFT_SHAPE(width, out), kinit, true);
    if (bias) {
      if (binit.kind == DEFT_INIT_DEFAULT) binit = deft_init_zeros();
      *bslot = deft_get_variable(g, "bias", dt, DEFT_SHAPE(out), binit, true);
    }
    if (!deft_graph_ok(g)) return NONE;
  }
  deft_output y = deft_matmul(g, x, deft_variable_value(*kslot), false, false, "MatMul");
  if (bias) y = deft_bias_add(g, y, deft_variable_value(*bslot), "BiasAdd");
  return y;
}

static int64_t in_w(deft_output x) { return deft_output_shape(x).dims[1]; }

static deft_output act(deft_graph *g, const deft_rnn_cell *c, deft_output x, const char *dflt) {
  return deft_activation(g, x, c->act ? c->act : dflt, 0.0f, NULL);
}

static bool step_basic(deft_rnn_cell *c, deft_output x, const deft_output *s, deft_output *out,
                       deft_output *ns, bool first) {
  deft_graph *g = c->g;
  deft_output args[2] = {x, s[0]};
  deft_output y = linear(g, args, 2, in_w(x) + c->units, c->units, true, &c->vars[V_KERNEL],
                         &c->vars[V_BIAS], deft_init_glorot_uniform(0), deft_init_zeros(), first);
  if (!y.op) return false;
  *out = ns[0] = act(g, c, y, "tanh");
  return deft_graph_ok(g);
}

/* BasicLSTMCell and LSTMCell. */
static bool step_lstm(deft_rnn_cell *c, deft_output x, const deft_output *s, deft_output *out,
                      deft_output *ns, bool first) {
  deft_graph *g = c->g;
  bool full = c->kind == CELL_LSTM;
  deft_lstm_options *o = &c->lstm;
  deft_initializer kinit = full && o->initializer.kind != DEFT_INIT_DEFAULT
                               ? o->initializer
                               : deft_init_glorot_uniform(0);
  deft_output cprev = s[0], hprev = s[1];
  deft_output args[2] = {x, hprev};
  deft_output z = linear(g, args, 2, in_w(x) + deft_rnn_cell_output_size(c), 4 * c->units, true,
                         &c->vars[V_KERNEL], &c->vars[V_BIAS], kinit, deft_init_zeros(), first);
  if (!z.op) return false;
  deft_dtype dt = deft_output_dtype(z);
  deft_op *sp = deft_split(g, deft_const_int32(g, 1, "split/split_dim"), z, 4, "split");
  if (!sp) return false;
  deft_output gi = deft_op_output(sp, 0), gj = deft_op_output(sp, 1), gf = deft_op_output(sp, 2),
              go = deft_op_output(sp, 3);
  bool peep = full && o->use_peepholes;
  if (peep && first) {
    const char *nm[3] = {"w_f_diag", "w_i_diag", "w_o_diag"};
    for (int k = 0; k < 3; k++)
      c->vars[V_WF + k] = deft_get_variable(g, nm[k], dt, DEFT_SHAPE(c->units), kinit, true);
    if (!deft_graph_ok(g)) return false;
  }
  deft_output fb = fconst(g, dt, c->forget_bias, "add/y");
  deft_output fpre = deft_add(g, gf, fb, "add");
  deft_output ipre = gi;
  if (peep) {
    fpre =
        deft_add(g, fpre, deft_mul(g, deft_variable_value(c->vars[V_WF]), cprev, "mul"), "add_1");
    ipre =
        deft_add(g, gi, deft_mul(g, deft_variable_value(c->vars[V_WI]), cprev, "mul_1"), "add_2");
  }
  deft_output cnew = deft_add(
      g, deft_mul(g, cprev, deft_sigmoid(g, fpre, "Sigmoid"), "Mul"),
      deft_mul(g, deft_sigmoid(g, ipre, "Sigmoid_1"), act(g, c, gj, "tanh"), "Mul_1"), "Add_1");
  if (full && o->cell_clip > 0)
    cnew = deft_clip_by_value_op(g, cnew, fconst(g, dt, -o->cell_clip, "clip_by_value/min"),
                                 fconst(g, dt, o->cell_clip, "clip_by_value/max"), "clip_by_value");
  deft_output opre = go;
  if (peep)
    opre = deft_add(g, go, deft_mul(g, deft_variable_value(c->vars[V_WO]), cnew, "mul_2"), "add_3");
  deft_output h = deft_mul(g, act(g, c, cnew, "tanh"), deft_sigmoid(g, opre, "Sigmoid_2"), "Mul_2");
  if (full && o->num_proj > 0) {
    if (!enter_sub(g, "projection", first)) return false;
    h = linear(g, &h, 1, c->units, o->num_proj, false, &c->vars[V_PROJ], NULL, kinit,
               deft_init_zeros(), first);
    leave_sub(g, first);
    if (!h.op) return false;
    if (o->proj_clip > 0)
      h = deft_clip_by_value_op(g, h, fconst(g, dt, -o->proj_clip, "clip_by_value_1/min"),
                                fconst(g, dt, o->proj_clip, "clip_by_value_1/max"),
                                "clip_by_value_1");
  }
  ns[0] = cnew;
  ns[1] = *out = h;
  return deft_graph_ok(g);
}

static bool step_gru(deft_rnn_cell *c, deft_output x, const deft_output *s, deft_output *out,
                     deft_output *ns, bool first) {
  deft_graph *g = c->g;
  deft_output h = s[0];
  if (!enter_sub(g, "gates", first)) return false;
  deft_output args[2] = {x, h};
  deft_output z =
      linear(g, args, 2, in_w(x) + c->units, 2 * c->units, true, &c->vars[V_GATES_KERNEL],
             &c->vars[V_GATES_BIAS], deft_init_glorot_uniform(0), deft_init_ones(), first);
  if (z.op) z = deft_sigmoid(g, z, "Sigmoid");
  leave_sub(g, first);
  if (!z.op) return false;
  deft_op *sp = deft_split(g, deft_const_int32(g, 1, "split/split_dim"), z, 2, "split");
  if (!sp) return false;
  deft_output r = deft_op_output(sp, 0), u = deft_op_output(sp, 1);
  deft_output rh = deft_mul(g, r, h, "mul");
  if (!enter_sub(g, "candidate", first)) return false;
  deft_output args2[2] = {x, rh};
  deft_output cand =
      linear(g, args2, 2, in_w(x) + c->units, c->units, true, &c->vars[V_CAND_KERNEL],
             &c->vars[V_CAND_BIAS], deft_init_glorot_uniform(0), deft_init_zeros(), first);
  if (cand.op) cand = act(g, c, cand, "tanh");
  leave_sub(g, first);
  if (!cand.op) return false;
  deft_dtype dt = deft_output_dtype(u);
  deft_output one_minus_u = deft_sub(g, fconst(g, dt, 1.0, "sub/x"), u, "sub");
  *out = ns[0] =
      deft_add(g, deft_mul(g, u, h, "mul_1"), deft_mul(g, one_minus_u, cand, "mul_2"), "add");
  return deft_graph_ok(g);
}

/* TF1's nn.dropout (deft_nn_dropout), with the keep probability cast to x's dtype. */
static deft_output tf1_dropout(deft_graph *g, deft_output x, deft_output keep, int64_t seed) {
  deft_dtype dt = deft_output_dtype(x);
  deft_output k = deft_output_dtype(keep) == dt ? keep : deft_cast(g, keep, dt, "Cast");
  return deft_nn_dropout(g, x, k, seed, NULL);
}

static bool cell_step(deft_rnn_cell *c, deft_output x, const deft_output *s, deft_output *out,
                      deft_output *ns);

static bool step_multi(deft_rnn_cell *c, deft_output x, const deft_output *s, deft_output *out,
                       deft_output *ns, bool first) {
  deft_graph *g = c->g;
  deft_output cur = x;
  int off = 0;
  for (int i = 0; i < c->ncells; i++) {
    char nm[32];
    snprintf(nm, sizeof nm, "cell_%d", i);
    if (!enter_sub(g, nm, first)) return false;
    bool ok = cell_step(c->cells[i], cur, s + off, &cur, ns + off);
    leave_sub(g, first);
    if (!ok) return false;
    off += deft_rnn_cell_state_count(c->cells[i]);
  }
  *out = cur;
  return true;
}

static bool step_dropout(deft_rnn_cell *c, deft_output x, const deft_output *s, deft_output *out,
                         deft_output *ns) {
  deft_graph *g = c->g;
  if (c->keep[0].op) x = tf1_dropout(g, x, c->keep[0], c->seed);
  if (!x.op) return false;
  if (!cell_step(c->cells[0], x, s, out, ns)) return false;
  if (c->keep[1].op) *out = tf1_dropout(g, *out, c->keep[1], c->seed ? c->seed + 1 : 0);
  if (c->keep[2].op) {
    int n = deft_rnn_cell_state_count(c);
    for (int i = 0; i < n; i++) {
      bool is_c;
      state_info(c, i, &is_c);
      if (!is_c) ns[i] = tf1_dropout(g, ns[i], c->keep[2], c->seed ? c->seed + 2 + i : 0);
    }
  }
  return deft_graph_ok(g);
}

static bool step_projection(deft_rnn_cell *c, deft_output x, const deft_output *s, deft_output *out,
                            deft_output *ns, bool first) {
  deft_graph *g = c->g;
  deft_output inner;
  if (!cell_step(c->cells[0], x, s, &inner, ns)) return false;
  deft_output y = linear(g, &inner, 1, deft_rnn_cell_output_size(c->cells[0]), c->units, true,
                         &c->vars[V_KERNEL], &c->vars[V_BIAS], deft_init_glorot_uniform(0),
                         deft_init_zeros(), first);
  if (!y.op) return false;
  *out = deft_activation(g, y, c->act, 0.0f, NULL);
  return deft_graph_ok(g);
}

/* Checks the step's input and state widths against the cell's (the first call fixes the input
 * width), naming the cell. */
static bool check_step(deft_rnn_cell *c, deft_output x, const deft_output *s) {
  deft_graph *g = c->g;
  int n = deft_rnn_cell_state_count(c);
  if (!deft_inputs_ok(g, type_name(c), &x, 1) || !deft_inputs_ok(g, type_name(c), s, n))
    return false;
  deft_shape xs = deft_output_shape(x);
  const char *who = c->nscope ? c->nscope : (c->name ? c->name : type_name(c));
  if (xs.rank != 2 || xs.dims[1] < 0) {
    char sh[96];
    deft_graph_fail(g, DEFT_INVALID_ARGUMENT,
                    "%s '%s': the input '%s:%d' has shape %s; it must be [batch, input size] with "
                    "a known input size",
                    type_name(c), who, x.op->name, x.index, deft_shape_format(xs, sh, sizeof sh));
    return false;
  }
  if (c->input_size >= 0 && xs.dims[1] != c->input_size) {
    deft_graph_fail(g, DEFT_INVALID_ARGUMENT,
                    "%s '%s': the input '%s:%d' has %lld features, but the cell was first called "
                    "with %lld",
                    type_name(c), who, x.op->name, x.index, (long long)xs.dims[1],
                    (long long)c->input_size);
    return false;
  }
  for (int i = 0; i < n; i++) {
    deft_shape ss = deft_output_shape(s[i]);
    int64_t want = state_info(c, i, NULL);
    if (ss.rank >= 0 && (ss.rank != 2 || (ss.dims[1] >= 0 && ss.dims[1] != want))) {
      char sh[96];
      deft_graph_fail(g, DEFT_INVALID_ARGUMENT,
                      "%s '%s': state tensor %d ('%s:%d') has shape %s; it must be [batch, %lld]",
                      type_name(c), who, i, s[i].op->name, s[i].index,
                      deft_shape_format(ss, sh, sizeof sh), (long long)want);
      return false;
    }
  }
  return true;
}

static bool cell_step(deft_rnn_cell *c, deft_output x, const deft_output *s, deft_output *out,
                      deft_output *ns) {
  if (!check_step(c, x, s)) return false;
  if (c->kind == CELL_DROPOUT) return step_dropout(c, x, s, out, ns);
  bool first = !c->built;
  if (!enter(c)) return false;
  bool ok = false;
  switch (c->kind) {
    case CELL_BASIC:
      ok = step_basic(c, x, s, out, ns, first);
      break;
    case CELL_BASIC_LSTM:
    case CELL_LSTM:
      ok = step_lstm(c, x, s, out, ns, first);
      break;
    case CELL_GRU:
      ok = step_gru(c, x, s, out, ns, first);
      break;
    case CELL_MULTI:
      ok = step_multi(c, x, s, out, ns, first);
      break;
    case CELL_PROJECTION:
      ok = step_projection(c, x, s, out, ns, first);
      break;
    case CELL_DROPOUT:
      break;
  }
  leave(c, first);
  if (ok && first) {
    c->built = true;
    c->input_size = deft_output_shape(x).dims[1];
  }
  return ok && deft_graph_ok(c->g);
}

bool deft_rnn_cell_call(deft_rnn_cell *c, deft_output x, const deft_output *s, deft_output *out,
                        deft_output *ns) {
  if (!deft_graph_ok(c->g)) return false;
  return cell_step(c, x, s, out, ns);
}

/* ---- static_rnn ---- */

bool deft_static_rnn(deft_graph *g, deft_rnn_cell *c, const deft_output *inputs, int steps,
                     const deft_output *initial, deft_output seq_len, const char *scope,
                     deft_output *outputs, deft_output *final_state) {
  if (!deft_graph_ok(g)) return false;
  if (c->g != g || steps < 1) {
    deft_graph_fail(g, DEFT_INVALID_ARGUMENT,
                    "static_rnn: needs a cell of this graph and at least one input (got %d)",
                    steps);
    return false;
  }
  if (!deft_inputs_ok(g, "static_rnn", inputs, steps)) return false;
  if (seq_len.op && !deft_inputs_ok(g, "static_rnn", &seq_len, 1)) return false;
  int n = deft_rnn_cell_state_count(c);
  deft_output *state = deft_malloc(2 * (size_t)n * sizeof *state);
  if (!state) {
    deft_graph_fail(g, DEFT_RESOURCE_EXHAUSTED, "out of memory in static_rnn");
    return false;
  }
  deft_output *next = state + n;
  bool ok = deft_graph_push_variable_scope(g, scope ? scope : "rnn", NULL) != NULL;
  deft_output zero_out = NONE;
  if (ok) {
    deft_dtype dt = deft_output_dtype(inputs[0]);
    deft_output batch = NONE;
    if (!initial || seq_len.op) {
      int32_t b0 = 0, b1 = 1;
      batch = deft_strided_slice(g, deft_shape_of(g, inputs[0], "Shape"),
                                 deft_const_int32_vector(g, &b0, 1, "strided_slice/stack"),
                                 deft_const_int32_vector(g, &b1, 1, "strided_slice/stack_1"),
                                 deft_const_int32_vector(g, &b1, 1, "strided_slice/stack_2"), 0, 0,
                                 0, 0, 1, "strided_slice");
    }
    if (initial)
      memcpy(state, initial, (size_t)n * sizeof *state);
    else
      ok = deft_rnn_cell_zero_state(c, batch, dt, state);
    if (ok && seq_len.op) {
      if (deft_output_dtype(seq_len) != DEFT_INT32)
        seq_len = deft_cast(g, seq_len, DEFT_INT32, "ToInt32");
      seq_len = deft_identity(g, seq_len, "sequence_length");
      int32_t w = (int32_t)deft_rnn_cell_output_size(c);
      deft_output parts[2] = {
          deft_expand_dims(g, batch, deft_const_int32(g, 0, "ExpandDims/dim"), "ExpandDims"),
          deft_const_int32_vector(g, &w, 1, "Const")};
      deft_output dims = deft_concat(g, parts, 2, deft_const_int32(g, 0, "concat/axis"), "concat");
      zero_out = deft_fill(g, dims, fconst(g, dt, 0.0, "zeros/Const"), "zeros");
      ok = deft_graph_ok(g);
    }
  }
  for (int t = 0; ok && t < steps; t++) {
    deft_output out;
    ok = deft_rnn_cell_call(c, inputs[t], state, &out, next);
    if (!ok) break;
    if (seq_len.op) {
      /* A row whose sequence has ended keeps its state and outputs zeros. */
      char nm[32];
      snprintf(nm, sizeof nm, "time_%d", t);
      deft_output done = deft_greater_equal(g, deft_const_int32(g, t, nm), seq_len, "GreaterEqual");
      out = deft_select(g, done, zero_out, out, "Select");
      for (int i = 0; i < n; i++) next[i] = deft_select(g, done, state[i], next[i], "Select");
      ok = deft_graph_ok(g);
    }
    outputs[t] = out;
    memcpy(state, next, (size_t)n * sizeof *state);
  }
  if (ok && final_state) memcpy(final_state, state, (size_t)n * sizeof *state);
  deft_graph_pop_variable_scope(g);
  deft_free(state);
  return ok && deft_graph_ok(g);
}

/* ---- tf.nn.dynamic_rnn ---- */

typedef struct {
  deft_rnn_cell *cell;
  deft_tensor_array in, out;
  deft_output steps, seq_len, zero_out;
  int nstate;
} dyn_ctx;

static bool dyn_cond(deft_graph *g, const deft_output *v, int n, void *user, deft_output *pred) {
  (void)n;
  dyn_ctx *d = user;
  *pred = deft_less(g, v[0], d->steps, "Less");
  return true;
}

/* v: time, the output array's flow, the state. */
static bool dyn_body(deft_graph *g, const deft_output *v, int n, void *user, deft_output *next) {
  (void)n;
  dyn_ctx *d = user;
  deft_output x = deft_tensor_array_read(g, d->in, v[0], "TensorArrayReadV3");
  deft_output out;
  if (!deft_rnn_cell_call(d->cell, x, v + 2, &out, next + 2)) return false;
  if (d->seq_len.op) {
    /* TF's _rnn_step: a row whose sequence has ended outputs zeros and keeps its state */
    deft_output done = deft_greater_equal(g, v[0], d->seq_len, "GreaterEqual");
    out = deft_select(g, done, d->zero_out, out, "Select");
    for (int i = 0; i < d->nstate; i++)
      next[2 + i] = deft_select(g, done, v[2 + i], next[2 + i], "Select_1");
  }
  deft_tensor_array o = d->out;
  o.flow = v[1];
  next[1] = deft_tensor_array_write(g, o, v[0], out, "TensorArrayWrite/TensorArrayWriteV3");
  next[0] = deft_add(g, v[0], deft_const_int32(g, 1, "add/y"), "add");
  return deft_graph_ok(g);
}

static deft_output dim_of(deft_graph *g, deft_output shape, int32_t i, const char *name) {
  int32_t b = i, e = i + 1, s = 1;
  char n0[96], n1[96], n2[96];
  snprintf(n0, sizeof n0, "%s/stack", name);
  snprintf(n1, sizeof n1, "%s/stack_1", name);
  snprintf(n2, sizeof n2, "%s/stack_2", name);
  return deft_strided_slice(g, shape, deft_const_int32_vector(g, &b, 1, n0),
                            deft_const_int32_vector(g, &e, 1, n1),
                            deft_const_int32_vector(g, &s, 1, n2), 0, 0, 0, 0, 1, name);
}

static deft_output swap01(deft_graph *g, deft_output x, const char *name) {
  deft_shape s = deft_output_shape(x);
  int32_t perm[DEFT_MAX_RANK];
  int r = s.rank < 2 ? 3 : s.rank;
  for (int i = 0; i < r; i++) perm[i] = i;
  perm[0] = 1, perm[1] = 0;
  char pn[96];
  snprintf(pn, sizeof pn, "%s/perm", name);
  return deft_transpose(g, x, deft_const_int32_vector(g, perm, r, pn), name);
}

/* deft_dynamic_rnn's body. scope NULL means "re-enter the open variable scope", as TF's
 * dynamic_rnn(scope=<a VariableScope object>) does: the variables stay in the current variable
 * scope, and the ops go under a new name scope named after its last component, inside the
 * current name scope ("bidirectional_rnn/fw" -> ops "bidirectional_rnn/fw/fw/while/..."). */
static bool dynamic_rnn_in(deft_graph *g, deft_rnn_cell *c, deft_output inputs,
                           const deft_output *initial, deft_output seq_len, bool time_major,
                           const char *scope, deft_output *outputs, deft_output *final_state) {
  if (outputs) *outputs = NONE;
  if (!deft_graph_ok(g)) return false;
  if (!c || c->g != g) {
    deft_graph_fail(g, DEFT_INVALID_ARGUMENT, "dynamic_rnn: needs a cell of this graph");
    return false;
  }
  if (!deft_inputs_ok(g, "dynamic_rnn", &inputs, 1)) return false;
  if (seq_len.op && !deft_inputs_ok(g, "dynamic_rnn", &seq_len, 1)) return false;
  deft_shape is = deft_output_shape(inputs);
  if (is.rank != 3 || is.dims[2] < 0) {
    char sb[64];
    deft_graph_fail(g, DEFT_INVALID_ARGUMENT,
                    "dynamic_rnn: inputs '%s' must be [%s, input size] with a known input size, "
                    "got shape %s",
                    deft_op_name(inputs.op), time_major ? "time, batch" : "batch, time",
                    deft_shape_format(is, sb, sizeof sb));
    return false;
  }
  int n = deft_rnn_cell_state_count(c);
  deft_output *vars = deft_malloc(sizeof *vars * (size_t)(n + 2) * 2);
  if (!vars) {
    deft_graph_fail(g, DEFT_RESOURCE_EXHAUSTED, "out of memory in dynamic_rnn");
    return false;
  }
  deft_output *res = vars + n + 2;
  dyn_ctx d;
  memset(&d, 0, sizeof d);
  d.cell = c;
  d.nstate = n;
  bool ok;
  if (scope) {
    ok = deft_graph_push_variable_scope(g, scope, NULL) != NULL;
  } else {
    const char *vs = deft_graph_variable_scope(g), *last = strrchr(vs, '/');
    ok = deft_graph_push_scope(g, last ? last + 1 : vs) != NULL;
  }
  if (ok) {
    deft_dtype dt = deft_output_dtype(inputs);
    deft_output x = time_major ? inputs : swap01(g, inputs, "transpose");
    deft_output shape = deft_shape_of(g, x, "Shape");
    deft_output batch = dim_of(g, shape, 1, "strided_slice");
    if (initial)
      memcpy(vars + 2, initial, sizeof *vars * (size_t)n);
    else
      ok = deft_rnn_cell_zero_state(c, batch, dt, vars + 2);
    if (ok && seq_len.op) {
      if (deft_output_dtype(seq_len) != DEFT_INT32)
        seq_len = deft_cast(g, seq_len, DEFT_INT32, "ToInt32");
      d.seq_len = deft_identity(g, seq_len, "sequence_length");
      int32_t w = (int32_t)deft_rnn_cell_output_size(c);
      deft_output parts[2] = {
          deft_expand_dims(g, batch, deft_const_int32(g, 0, "ExpandDims/dim"), "ExpandDims"),
          deft_const_int32_vector(g, &w, 1, "Const")};
      deft_output dims = deft_concat(g, parts, 2, deft_const_int32(g, 0, "concat/axis"), "concat");
      d.zero_out = deft_fill(g, dims, fconst(g, dt, 0.0, "zeros/Const"), "zeros");
    }
    d.steps = dim_of(g, deft_shape_of(g, x, "Shape_1"), 0, "strided_slice_1");
    deft_shape xs = deft_output_shape(x);
    int64_t ed[2] = {xs.dims[1], xs.dims[2]};
    int64_t od[2] = {xs.dims[1], deft_rnn_cell_output_size(c)};
    d.out = deft_tensor_array_new(g, dt, d.steps, deft_shape_make(2, od), false, true, true,
                                  "TensorArray");
    d.in = deft_tensor_array_new(g, dt, d.steps, deft_shape_make(2, ed), false, true, true,
                                 "TensorArray_1");
    d.in.flow = deft_tensor_array_unstack(g, d.in, x, "TensorArrayUnstack");
    vars[0] = deft_const_int32(g, 0, "time");
    vars[1] = d.out.flow;
    ok = ok && deft_graph_ok(g);
    deft_shape *inv = ok ? deft_malloc(sizeof *inv * (size_t)(n + 2)) : NULL;
    if (ok && !inv) {
      deft_graph_fail(g, DEFT_RESOURCE_EXHAUSTED, "out of memory in dynamic_rnn");
      ok = false;
    }
    if (ok) {
      /* the batch dim of the state may be unknown at first and known after a step */
      for (int i = 0; i < n + 2; i++) inv[i] = deft_output_shape(vars[i]);
      deft_status *sst = deft_status_new();
      for (int i = 2; i < n + 2 && ok; i++) {
        int64_t dims[2] = {-1, deft_rnn_cell_state_size(c, i - 2)};
        inv[i] = deft_shape_make(2, dims);
        /* the zero state's width is the cell's (Fill's shape function cannot know it) */
        if (!sst || !deft_output_set_shape(vars[i], inv[i], sst)) {
          deft_graph_fail(g, DEFT_INVALID_ARGUMENT, "dynamic_rnn: initial state %d: %s", i - 2,
                          sst ? deft_status_message(sst) : "out of memory");
          ok = false;
        }
      }
      deft_status_free(sst);
    }
    if (ok) {
      deft_while_options o = deft_while_options_default();
      o.shape_invariants = inv;
      o.parallel_iterations = 32;
      ok = deft_while_loop(g, dyn_cond, dyn_body, &d, vars, n + 2, &o, res);
    }
    deft_free(inv);
    if (ok) {
      deft_tensor_array out = d.out;
      out.flow = res[1];
      deft_output y = deft_tensor_array_stack(g, out, "TensorArrayStack");
      if (!time_major) y = swap01(g, y, "transpose_1");
      if (outputs) *outputs = y;
      if (final_state) memcpy(final_state, res + 2, sizeof *res * (size_t)n);
      ok = deft_graph_ok(g);
    }
  }
  if (scope)
    deft_graph_pop_variable_scope(g);
  else
    deft_graph_pop_scope(g);
  deft_free(vars);
  if (!ok && outputs) *outputs = NONE;
  return ok && deft_graph_ok(g);
}

bool deft_dynamic_rnn(deft_graph *g, deft_rnn_cell *c, deft_output inputs,
                      const deft_output *initial, deft_output seq_len, bool time_major,
                      const char *scope, deft_output *outputs, deft_output *final_state) {
  return dynamic_rnn_in(g, c, inputs, initial, seq_len, time_major, scope ? scope : "rnn", outputs,
                        final_state);
}

/* TF 1.x's bidirectional _reverse: ReverseSequence along the time axis with sequence lengths,
 * else reverse(x, axis=[time axis]), a ReverseV2 whose axis is the Const "ReverseV2/axis". */
static deft_output reverse_time(deft_graph *g, deft_output x, deft_output lens, int64_t seq_dim,
                                int64_t batch_dim) {
  if (lens.op) return deft_reverse_sequence(g, x, lens, seq_dim, batch_dim, "ReverseSequence");
  const char *leaf = deft_leaf_name(g, NULL, "ReverseV2");
  if (!leaf) return NONE;
  char an[256];
  snprintf(an, sizeof an, "%s/axis", leaf);
  int32_t axis = (int32_t)seq_dim;
  return deft_reverse_v2(g, x, deft_const_int32_vector(g, &axis, 1, an), leaf);
}

/* tf.nn.bidirectional_dynamic_rnn, scoped as TF 1.x scopes it: variable scope "<scope>/fw" (its
 * ops re-entered as name scope "<scope>/fw/fw"), then "<scope>/bw" on the inputs reversed in
 * time ("<scope>/bw/ReverseSequence", or ReverseV2 without sequence lengths), and the backward
 * outputs reversed back outside "<scope>" (in the caller's name scope), as TF does. */
bool deft_bidirectional_dynamic_rnn(deft_graph *g, deft_rnn_cell *fw, deft_rnn_cell *bw,
                                    deft_output inputs, deft_output seq_len, bool time_major,
                                    const char *scope, deft_output *out_fw, deft_output *out_bw,
                                    deft_output *state_fw, deft_output *state_bw) {
  if (!deft_graph_ok(g)) return false;
  if (!deft_inputs_ok(g, "bidirectional_dynamic_rnn", &inputs, 1)) return false;
  if (seq_len.op && !deft_inputs_ok(g, "bidirectional_dynamic_rnn", &seq_len, 1)) return false;
  if (!deft_graph_push_variable_scope(g, scope ? scope : "bidirectional_rnn", NULL)) return false;
  bool ok = deft_graph_push_variable_scope(g, "fw", NULL) != NULL;
  if (ok) {
    ok = dynamic_rnn_in(g, fw, inputs, NULL, seq_len, time_major, NULL, out_fw, state_fw);
    deft_graph_pop_variable_scope(g);
  }
  int64_t seq_dim = time_major ? 0 : 1, batch_dim = time_major ? 1 : 0;
  deft_output rout = NONE;
  if (ok && (ok = deft_graph_push_variable_scope(g, "bw", NULL) != NULL)) {
    deft_output rin = reverse_time(g, inputs, seq_len, seq_dim, batch_dim);
    ok = rin.op && dynamic_rnn_in(g, bw, rin, NULL, seq_len, time_major, NULL, &rout, state_bw);
    deft_graph_pop_variable_scope(g);
  }
  deft_graph_pop_variable_scope(g);
  if (ok && out_bw) {
    *out_bw = reverse_time(g, rout, seq_len, seq_dim, batch_dim);
    ok = out_bw->op != NULL;
  }
  return ok && deft_graph_ok(g);
}
