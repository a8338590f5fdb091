/* SPDX-License-Identifier: Apache-2.0 */
/* runtime/session_internal.h - sessions, cached plans and the kernel context. Internal. */
#ifndef DEFT_RUNTIME_SESSION_INTERNAL_H
#define DEFT_RUNTIME_SESSION_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "deft/session.h"
#include "deft/threadpool.h"
#include "graph/graph_internal.h"
#include "base/strmap.h"
#include "ops/op_def.h"
#include "base/file_io.h"
#include "base/tensor_internal.h"
#include "runtime/device.h"

#include <stdatomic.h>
#include <time.h>

/* One tensor value in a plan. Owner slots keep their buffer across runs (reused when unshared);
 * alias slots (forwarded buffers) and fed slots drop theirs after their last use. */
typedef struct deft_slot {
  deft_tensor value;
  deft_var *ref; /* set when the value is a reference to variable storage */
  bool dead;
  bool produced;
  bool alias;
  bool fed;
} deft_slot;

/* What the executor does with a step beyond running its kernel (runtime/EXECUTOR.md). */
typedef enum deft_step_kind {
  DEFT_STEP_PLAIN = 0,
  DEFT_STEP_ENTER,       /* Enter: its value enters iteration 0 only; dead after */
  DEFT_STEP_ENTER_CONST, /* Enter with is_constant: runs in iteration 0, the value stays */
  DEFT_STEP_NEXT,        /* NextIteration: live output = the frame runs another iteration */
  DEFT_STEP_TRIGGER,     /* ControlTrigger: never dead */
} deft_step_kind;

typedef struct deft_step { /* 8-byte fields first, then ints, then bytes: 192 bytes a step */
  deft_op *op;
  int *in_slots;   /* op->ninputs slot indices */
  int *ctrl_steps; /* steps of control inputs (for deadness) */
  int *release;    /* alias/fed slots whose last use is this step */
  uint64_t var_inputs; /* bit k: input k is a variable's storage (deft_kernel_input_is_variable) */
  deft_kernel_fn compute; /* the kernel's compute step on the session's device */
  void *params;    /* the prepare step's parameter block (deft_kernel_params), or NULL */
  size_t params_size;
  void *scratch;   /* deft_kernel_scratch's memory (aligned), kept across runs */
  size_t scratch_size;
  uint64_t state[4]; /* deft_kernel_state */
  struct deft_fusion *fusion; /* set: this step's kernel also computes an absorbed producer's
                               * work (runtime/plan_fuse.c); freed with the plan */
  double prof_t;     /* -DDEFT_EXEC_PROFILE builds: seconds in the kernel, and calls */
  long prof_n;
  /* Asynchronous kernels (ops/kernel.h): the DEFT_OP_ASYNC steps whose work must be finished
   * before this step runs (those it reads or has a control edge from, and itself; nwait of
   * them), and, run state of an async step, its work in flight (NULL when none). */
  int *wait_steps;
  void *async_obj;
  const struct deft_async_ops *async_ops;
  int frame;        /* 0: the root; f >= 1: plan->frames[f - 1] */
  int begins_frame; /* f >= 1 when this is the first step of frame f's range, else 0 */
  int out_base;     /* op's outputs occupy slots [out_base, out_base + noutputs) */
  int nctrl;
  int nrelease;
  int nwait;
  uint8_t kind;  /* deft_step_kind */
  bool elided;   /* a pure op whose outputs nothing reads: only its deadness matters */
  bool absorbed; /* this pure step's work is done by a later fused step (it is elided) */
} deft_step;

/* A TF1 while loop's frame in a plan: its steps are the range [begin, end), run once per
 * iteration; frames nest (runtime/frames.c, runtime/EXECUTOR.md). */
typedef struct deft_frame_def {
  const char *name; /* the Enters' frame_name (the graph's string) */
  int parent;       /* 0: the root, else a frame number */
  int begin, end;
  int nnext;
  int *next_steps;  /* its NextIteration steps: one live = another iteration */
  int nrelease;
  int *release;     /* slots released when the loop finishes (constant Enters' values) */
  int64_t iter;     /* run state: the current iteration */
} deft_frame_def;

/* What deft_frames_order returns; all NULL / 0 when the needed ops hold no loop. */
typedef struct deft_frames_result {
  deft_op **order; /* norder ops, each frame's contiguous */
  int norder;
  int *frame_of;   /* by op id: 0 root, f >= 1 frames[f - 1]; -1 not needed */
  deft_frame_def *frames;
  int nframes;
} deft_frames_result;

/* Assigns the needed ops to frames and orders them (runtime/frames.c). fed(ctx, o) tells a fed
 * tensor, op_fed(ctx, op) an op with a fed output. Returns false with st set (INVALID_ARGUMENT
 * naming the node) on frames that do not nest, an Exit without its Enter, a NextIteration outside
 * a loop or a cycle that is not a loop. When no needed op is in a loop, out stays empty and the
 * caller orders the ops itself. */
bool deft_frames_order(deft_graph *g, const bool *need, bool (*fed)(const void *, deft_output),
                       bool (*op_fed)(const void *, const deft_op *), const void *fed_ctx,
                       deft_frames_result *out, deft_status *st);
bool deft_op_is_enter(const deft_op *op);
bool deft_op_is_exit(const deft_op *op);
bool deft_op_is_next_iteration(const deft_op *op);
/* True iff data input k of op is a loop back edge (a NextIteration into a Merge). */
bool deft_op_is_back_edge(const deft_op *op, int k);

/* Per-run resources (TensorArrays, stacks): kernels' objects that live until the run ends. */
typedef struct deft_run_resource {
  void *obj;
  void (*destroy)(void *obj);
} deft_run_resource;

/* One size class of a plan's buffer pool. */
typedef struct deft_pool_class {
  deft_buffer **v;
  int n, cap;
} deft_pool_class;
#define DEFT_POOL_CLASSES 256
#define DEFT_PLAN_MEMOS 4

typedef struct deft_plan {
  int nsteps;
  deft_step *steps;
  int *step_ints;    /* one block: every step's in_slots and ctrl_steps */
  int *release_ints; /* one block: every step's release list */
  int nframes;
  deft_frame_def *frames; /* frame f >= 1 is frames[f - 1] */
  deft_run_resource *resources; /* this run's (handles are index + 1); kept allocated */
  int nresources, resources_cap;
  void *shared_scratch; /* deft_kernel_shared_scratch's memory (aligned), kept across runs */
  size_t shared_scratch_size;
  bool *step_dead;
  /* Run state: set when anything in this run marked a slot or step dead (a Switch's untaken
   * branch, an Enter after iteration 0, a loop's NextIterations before it starts). Until then
   * no input can be dead, and the executor skips deadness propagation. */
  bool run_any_dead;
  int nslots;
  deft_slot *slots;
  int nfeeds;
  deft_output *feeds;
  int *feed_slots;
  int nfetches;
  deft_output *fetches;
  int *fetch_slots;
  int ntargets;
  deft_op **targets;
  int ntail_release;
  int *tail_release; /* fed slots never consumed, released at the end */
  int nasync;        /* the DEFT_OP_ASYNC steps (ops/kernel.h), and how many have work in flight */
  int *async_steps;
  int npending;
  /* Buffers no slot holds any more, in size classes (DEFT_POOL_CLASSES: four per power of two,
   * each a stack): outputs take them before allocating (see deft_kernel_output). A put or take
   * costs O(1) whatever the pool holds. pool_class is NULL until the first put. */
  deft_pool_class *pool_class;
  int npool; /* buffers in all classes */
  /* The run limits of the run using the plan (one at a time). */
  uint64_t run_allocated;       /* output bytes allocated by the current run */
  struct timespec run_deadline; /* CLOCK_MONOTONIC; valid when opts.max_run_seconds > 0 */
  /* A plan holds one run's state, so one run uses it at a time: `busy` is claimed by the run
   * (atomic exchange). A run that finds every plan of its signature busy (the session runs in
   * several threads) builds another one, chained from the first through `twin` (under the
   * session's mu). */
  atomic_bool busy;
  struct deft_plan *twin;
  /* deft_kernel_memo_find/_new (ops/kernel.h): a few blocks of memory tagged with a key and the
   * run that stored them; kept across runs (steady-state runs allocate nothing). */
  uint64_t run_id; /* bumped at the start of every run */
  struct deft_memo {
    uint64_t run, k0, k1;
    void *mem;
    size_t cap;
  } memos[DEFT_PLAN_MEMOS];
  unsigned memo_next; /* the entry the next eviction takes */
} deft_plan;

struct deft_session_options {
  uint64_t run_memory_budget; /* 0 = unlimited */
  double max_run_seconds;     /* <= 0 = none */
  char **dirs;                /* resolved allowed directories; none = unconfined */
  int ndirs;
  struct deft_comm *comm;     /* deft_session_options_set_comm (borrowed), or NULL */
  bool no_fusion;             /* deft_session_options_set_plan_fusion(o, false) */
};

/* Runs may come from several threads at once (include/deft/session.h): `mu` guards the plan
 * cache and the variable/RNG tables; each run claims a plan of its own (deft_plan.busy). The
 * thread settings are written only by deft_session_set_threads, never during a run. */
struct deft_session {
  deft_graph *graph;
  const deft_device *device;   /* where kernels run (the CPU) */
  deft_session_options opts;   /* a copy (dirs owned) */
  const deft_io_hooks *io;     /* fault injection for the graph's file ops (tests), or NULL */
  atomic_bool cancel;          /* deft_session_cancel */
  int threads;           /* what kernels split over (deft_kernel_threads) */
  deft_threadpool *pool; /* NULL with 1 thread */
  bool own_pool;         /* pool was made by the session (freed with it) */
  deft_code pool_error;  /* set_threads could not start the threads: runs fail with this */
  int pool_error_threads;
  pthread_mutex_t mu;
  deft_var **vars;  /* indexed by op id; created on first use; under mu */
  deft_rng_state **rngs;
  int nvars_cap;
  deft_strmap plans; /* signature -> deft_plan* (and its twins); under mu */
  _Atomic(deft_plan *) last; /* the plan of the previous run: a repeated signature skips the
                              * lookup (a plan lives as long as the session) */
};

struct deft_kernel_ctx {
  deft_session *session;
  const deft_op *op;
  deft_plan *plan;
  deft_step *step;
  deft_status *status;
  bool failed;
};

/* Session storage for a variable op / an op's RNG (created on first use); NULL on OOM. */
deft_var *deft_session_var(deft_session *s, const deft_op *op);
deft_rng_state *deft_session_rng(deft_session *s, const deft_op *op);

/* Makes s's graph file ops (SaveV2, RestoreV2, MergeV2Checkpoints) and its saver's state file
 * go through io's fault-injection hooks; io (NULL = none) must outlive s. For tests. */
void deft_session_set_io_hooks(deft_session *s, const deft_io_hooks *io);
/* s's hooks (NULL = none). */
const deft_io_hooks *deft_session_io_hooks(const deft_session *s);

/* Builds the plan for a signature; NULL with status set on failure. Freed with
 * deft_plan_free. */
deft_plan *deft_plan_build(deft_session *s, const deft_output *feeds, int nfeeds,
                           const deft_output *fetches, int nfetches, deft_op *const *targets,
                           int ntargets, deft_status *status);
void deft_plan_free(deft_plan *p);
/* Frees the plan's memos (runtime/executor.c); deft_plan_free calls it. */
void deft_plan_memos_free(deft_plan *p);

/* Plan-time fusion (runtime/plan_fuse.c), run after elision and before releases are planned
 * (unless the session's options turn it off): marks producer steps absorbed into their one
 * consumer and gives the consumer a fusion record. False with status set on OOM. */
typedef struct deft_fusion deft_fusion;
bool deft_plan_fuse(deft_plan *p, deft_status *status);
/* The k-th (k >= 0, in step order) absorbed producer's step index of a fused step, or -1 past
 * the last (and for a step that is not fused). */
int deft_step_fused_producer(const deft_step *st, int k);
/* After the step's kernel is resolved: keeps it as the fallback and runs the fused one. */
void deft_fusion_set_kernel(deft_step *st);
void deft_fusion_free(deft_fusion *f);
#ifdef DEFT_EXEC_PROFILE
/* Prints the plan's per-step kernel times to stderr (runtime/executor.c). */
void deft_plan_prof_dump(deft_plan *p);
#endif
/* Executes a plan. feed_values line up with the plan's feeds. */
bool deft_plan_run(deft_session *s, deft_plan *p, const deft_tensor *const *feed_values,
                   deft_tensor **fetch_values, deft_status *status);

#endif
