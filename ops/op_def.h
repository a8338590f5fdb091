/* SPDX-License-Identifier: Apache-2.0 */
/* ops/op_def.h - what an op is: the registry entry, and the contexts its shape function, kernel
 * and gradient builder see. Internal to the library.
 *
 * Each op family file (ops/math_ops.c, ops/nn_ops.c, ...) defines a table of deft_op_def, with
 * definition, kernel and gradient side by side, and the public constructors for its ops. The
 * registry (ops/registry.c) lists the family tables explicitly.
 *
 * Signatures are written as in TF's op registrations:
 *   .inputs  = "a: T, b: T"                 arg: `name: TYPE`, TYPE one of
 *                                             a dtype name (float, int32, bool, string, ...),
 *                                             a type attr name (T), `N * T` / `N * int32`,
 *                                             a list(type) attr name, or `Ref(...)` of those
 *   .outputs = "product: T"
 *   .attrs   = "T: {float, double}, transpose_a: bool = false"
 *              attr: `name: KIND [>= min] [= default]`, KIND one of type, {t1, t2} (type with
 *              allowed values), numbertype, realnumbertype, int, float, bool, string,
 *              {'A', 'B'} (string with allowed values), shape, tensor, func, list(type),
 *              list(int), list(float), list(bool), list(string), list(shape), list(tensor).
 *              Defaults: true/false, numbers, DT_* or dtype names, "str" or 'str', [] and
 *              `unknown` (the unknown-rank shape).
 */
#ifndef DEFT_OPS_OP_DEF_H
#define DEFT_OPS_OP_DEF_H

#include <stddef.h>
#include <stdint.h>

#include "deft/graph.h"
#include "deft/status.h"
#include "deft/tensor.h"
#include "deft/threadpool.h"
#include "base/tensor_internal.h"
#include "ops/kernel.h"

typedef struct deft_shape_ctx deft_shape_ctx;

/* Flags of an op definition. */
enum {
  DEFT_OP_STATEFUL = 1u << 0, /* never pruned as constant, never CSE'd; TF's is_stateful */
  DEFT_OP_NOT_DIFFERENTIABLE = 1u << 1, /* explicit "no gradient" mark (grad must be NULL) */
  DEFT_OP_ALLOWS_UNINIT = 1u << 2,      /* may take an uninitialized variable (Assign, RefSwitch) */
  DEFT_OP_COMMUTATIVE = 1u << 3,
  DEFT_OP_IS_MERGE = 1u << 4,        /* runs when any input is alive (Merge) */
  DEFT_OP_SOURCE_VARIABLE = 1u << 5, /* VariableV2/Variable: output 0 is a ref to storage */
  DEFT_OP_AGGREGATE = 1u << 6,
  DEFT_OP_ASYNC = 1u << 7, /* its kernel may start work that finishes later (ops/kernel.h) */
};

/* Computes output shapes at build time (dtypes come from the signature). Reads inputs' shapes,
 * constant input values and attrs through the context; may fail. */
typedef void (*deft_shape_fn)(deft_shape_ctx *ctx);

/* Checks attrs and what is known of the inputs once per plan, and fills the step's parameter
 * block (ops/kernel.h, "the prepare step"). */
typedef void (*deft_prepare_fn)(deft_prepare_ctx *ctx);

/* A shared prepare step (ops/concat_slice_ops.c) for ops whose compute step needs only the int
 * attr "axis" (Pack, Unpack, OneHot): stores it in a deft_axis_params block. The compute step
 * range-checks it, knowing the rank. */
typedef struct deft_axis_params {
  int64_t axis;
} deft_axis_params;
void deft_prepare_axis(deft_prepare_ctx *p);

/* Computes outputs from inputs at run time. */
typedef void (*deft_kernel_fn)(deft_kernel_ctx *ctx);

/* Builds the gradient of `op` with the ordinary op constructors. grads[i] is the gradient flowing
 * into output i (invalid when none); the builder stores the gradient for input i in
 * grad_inputs[i] (left invalid = no gradient). Runs inside name scope "gradients/<op>_grad". */
typedef void (*deft_grad_fn)(deft_graph *g, deft_op *op, const deft_output *grads,
                             deft_output *grad_inputs);

/* Builds the gradient of `op` for its input 0 as TF's IndexedSlices (the gathers: rows of
 * params) in *grad0; no other input gets one. Returns false, building nothing, when this op's
 * gradient is dense (e.g. a gather along another axis): the walk then calls `grad`. */
struct deft_indexed_slices;
typedef bool (*deft_sparse_grad_fn)(deft_graph *g, deft_op *op, const deft_output *grads,
                                    struct deft_indexed_slices *grad0);

typedef struct deft_op_def {
  const char *type;
  const char *inputs;
  const char *outputs;
  const char *attrs;
  unsigned flags;
  deft_shape_fn shape;   /* NULL: output shapes unknown */
  deft_prepare_fn prepare; /* NULL: nothing to prepare */
  deft_kernel_fn kernel; /* the CPU kernel's compute step; NULL: deft cannot run it on the CPU
                            (import still works) */
  deft_grad_fn grad;     /* NULL only with DEFT_OP_NOT_DIFFERENTIABLE, or for ops with no
                            float inputs/outputs (gradients then stop there) */
  deft_sparse_grad_fn sparse_grad; /* optional, beside grad (deft_gradients_sparse) */
} deft_op_def;

/* ---- parsed signatures (filled by the registry) ---- */

typedef enum deft_attr_kind {
  DEFT_ATTR_NONE = 0,
  DEFT_ATTR_STRING,
  DEFT_ATTR_INT,
  DEFT_ATTR_FLOAT,
  DEFT_ATTR_BOOL,
  DEFT_ATTR_TYPE,
  DEFT_ATTR_SHAPE,
  DEFT_ATTR_TENSOR,
  DEFT_ATTR_FUNC,
  DEFT_ATTR_LIST_STRING,
  DEFT_ATTR_LIST_INT,
  DEFT_ATTR_LIST_FLOAT,
  DEFT_ATTR_LIST_BOOL,
  DEFT_ATTR_LIST_TYPE,
  DEFT_ATTR_LIST_SHAPE,
  DEFT_ATTR_LIST_TENSOR,
  DEFT_ATTR_LIST_FUNC
} deft_attr_kind;

typedef struct deft_str {
  char *p; /* NUL-terminated */
  size_t len;
} deft_str;

/* An attr value. Lists own their arrays. Tensors are owned. FUNC values keep the name only. */
typedef struct deft_attr_value {
  deft_attr_kind kind;
  union {
    deft_str s;
    int64_t i;
    float f;
    bool b;
    int type; /* a TF DataType number (may be one deft does not run) */
    deft_shape shape;
    deft_tensor *tensor;
    struct {
      int n;
      union {
        deft_str *s;
        int64_t *i;
        float *f;
        bool *b;
        int *type;
        deft_shape *shape;
        deft_tensor **tensor;
      } v;
    } list;
  } u;
} deft_attr_value;

/* A node's attr: its name and value. */
typedef struct deft_attr {
  const char *name;
  deft_attr_value v;
} deft_attr;

typedef struct deft_arg_def {
  const char *name;
  int fixed_type;             /* a TF DataType number, or 0 */
  const char *type_attr;      /* "T", or NULL */
  const char *number_attr;    /* "N" for `N * T`, or NULL */
  const char *type_list_attr; /* for list(type) args, or NULL */
  bool is_ref;
} deft_arg_def;

typedef struct deft_attr_def {
  const char *name;
  const char *type_str; /* TF's spelling: "type", "list(type)", "int", ... */
  deft_attr_kind kind;
  bool has_default;
  deft_attr_value default_value;
  int nallowed_types; /* 0 = any */
  int *allowed_types;
  int nallowed_strings;
  char **allowed_strings;
  bool has_minimum;
  int64_t minimum;
} deft_attr_def;

typedef struct deft_op_reg {
  const deft_op_def *def;
  int ninputs;
  deft_arg_def *inputs;
  int noutputs;
  deft_arg_def *outputs;
  int nattrs;
  deft_attr_def *attrs;
} deft_op_reg;

/* Returns the registry entry for op type `type`, or NULL if deft does not know it. Thread-safe;
 * the registry is built on first use. */
const deft_op_reg *deft_registry_lookup(const char *type);

/* Number of registered op types, and entry i in name order (for tests and tools). */
int deft_registry_count(void);
const deft_op_reg *deft_registry_at(int i);

/* Returns the attr definition `name` of reg, or NULL. */
const deft_attr_def *deft_op_reg_attr(const deft_op_reg *reg, const char *name);

/* Returns the TF name of a DataType number ("DT_FLOAT"), or NULL if unknown; and the reverse
 * (accepts "DT_FLOAT" or "float"), or 0 if unknown. */
const char *deft_tf_type_name(int type);
int deft_tf_type_from_name(const char *name);

/* ---- the shape-function context ---- */

struct deft_shape_ctx {
  deft_op *op;          /* attrs and inputs are final; outputs' dtypes are set */
  deft_status *status;  /* set through deft_shape_fail */
};

int deft_shape_ctx_num_inputs(const deft_shape_ctx *c);
deft_shape deft_shape_ctx_input(const deft_shape_ctx *c, int i);
deft_dtype deft_shape_ctx_input_dtype(const deft_shape_ctx *c, int i);
/* The value of input i if its producer is a Const (possibly behind Identity), else NULL. */
const deft_tensor *deft_shape_ctx_input_const(const deft_shape_ctx *c, int i);
int deft_shape_ctx_num_outputs(const deft_shape_ctx *c);
void deft_shape_ctx_set_output(deft_shape_ctx *c, int i, deft_shape s);
/* Records a build error: the message is prefixed with "<Type> '<name>': ". */
void deft_shape_fail(deft_shape_ctx *c, deft_code code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* Merges two partial shapes that must be compatible (for elementwise ops with same-shape inputs);
 * on conflict fails naming both inputs and returns the unknown shape. */
deft_shape deft_shape_merge(deft_shape_ctx *c, int input_a, int input_b);
/* The NumPy broadcast of inputs a and b's shapes; fails naming both producers when
 * incompatible. */
deft_shape deft_shape_broadcast(deft_shape_ctx *c, int input_a, int input_b);
/* Shape helper for the common unary case: output 0 = input 0's shape. */
void deft_shape_unchanged(deft_shape_ctx *c);
/* Output 0 = broadcast of inputs 0 and 1. */
void deft_shape_binary_broadcast(deft_shape_ctx *c);

/* ---- family tables, listed by ops/registry.c ---- */
typedef struct deft_op_family {
  const char *name;
  const deft_op_def *defs;
  size_t count;
} deft_op_family;

extern const deft_op_family deft_ops_array;
extern const deft_op_family deft_ops_math;
extern const deft_op_family deft_ops_nn;
extern const deft_op_family deft_ops_state;
extern const deft_op_family deft_ops_random;
extern const deft_op_family deft_ops_control_flow;
extern const deft_op_family deft_ops_tensor_array;
extern const deft_op_family deft_ops_io;
extern const deft_op_family deft_ops_training;
extern const deft_op_family deft_ops_shape;
extern const deft_op_family deft_ops_summary;
extern const deft_op_family deft_ops_slice;
extern const deft_op_family deft_ops_transpose;
extern const deft_op_family deft_ops_gather;
extern const deft_op_family deft_ops_math_more;
extern const deft_op_family deft_ops_array_more;
extern const deft_op_family deft_ops_batch_matmul;
extern const deft_op_family deft_ops_nn_more;
extern const deft_op_family deft_ops_search;
extern const deft_op_family deft_ops_sequence;
extern const deft_op_family deft_ops_multinomial;
extern const deft_op_family deft_ops_sparse_grad;
extern const deft_op_family deft_ops_resource_var;
extern const deft_op_family deft_ops_quantize;
extern const deft_op_family deft_ops_pool;
extern const deft_op_family deft_ops_fused_bn;
extern const deft_op_family deft_ops_pad;
extern const deft_op_family deft_ops_space;
extern const deft_op_family deft_ops_conv;
extern const deft_op_family deft_ops_collective;
extern const deft_op_family deft_ops_parse_example;
extern const deft_op_family deft_ops_string;

#define DEFT_FAMILY(sym, tbl) \
  const deft_op_family sym = {#sym, tbl, sizeof(tbl) / sizeof(tbl[0])}

#endif
