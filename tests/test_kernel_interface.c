/* tests/test_kernel_interface.c - the kernel interface below the ops (issue: a prepare step and a
 * device seam): every op type with a kernel is supported by the CPU device and resolves to the
 * table's kernel; prepare steps run once per plan and fill the parameter block the compute step
 * reads; a prepare failure fails planning before any step runs, naming the node; buffers know
 * their memory. */
#include <stdio.h>
#include <string.h>

#include "base/tensor_internal.h"
#include "graph/graph_internal.h"
#include "ops/math_internal.h"
#include "runtime/device.h"
#include "runtime/session_internal.h"
#include "testutil.h"

START_TEST(cpu_device_supports_exactly_the_ops_with_kernels) {
  const deft_device *cpu = deft_device_cpu();
  ck_assert_str_eq(cpu->type, "CPU");
  ck_assert_ptr_eq(cpu->memory, &deft_host_memory);
  int with = 0, without = 0;
  for (int i = 0; i < deft_registry_count(); i++) {
    const deft_op_reg *reg = deft_registry_at(i);
    deft_kernel_impl k = {NULL, NULL};
    bool has = cpu->find_kernel(cpu, reg, &k);
    ck_assert_msg(has == (reg->def->kernel != NULL), "%s", reg->def->type);
    ck_assert(deft_device_supports_op(cpu, reg) == has);
    if (has) {
      ck_assert_ptr_eq(k.compute, reg->def->kernel);
      ck_assert_ptr_eq(k.prepare, reg->def->prepare);
      with++;
    } else {
      without++;
    }
  }
  ck_assert_int_gt(with, 50);
  ck_assert(!deft_device_supports_op(cpu, NULL)); /* a type deft does not know */
  (void)without;
}
END_TEST

static deft_step *step_of(deft_plan *p, const char *name) {
  for (int i = 0; i < p->nsteps; i++)
    if (!strcmp(p->steps[i].op->name, name)) return &p->steps[i];
  return NULL;
}

START_TEST(prepare_fills_the_block_once_per_plan) {
  deft_graph *g = deft_graph_new();
  float av[6] = {1, 2, 3, 4, 5, 6};
  int64_t d23[2] = {2, 3};
  deft_tensor *ta = deft_tensor_from_data(DEFT_FLOAT, d23, 2, av, sizeof av, NULL);
  deft_output a = deft_const(g, ta, "a");
  deft_output m = deft_matmul(g, a, a, false, true, "m"); /* a a^T: [[14, 32], [32, 77]] */
  deft_output s = deft_add(g, m, m, "s");
  ck_assert(deft_graph_ok(g));
  deft_status *st = deft_status_new();
  deft_session *sess = deft_session_new(g, st);
  deft_tensor *out = NULL;
  const void *first = NULL;
  for (int run = 0; run < 3; run++) {
    ck_assert_msg(deft_session_run(sess, NULL, NULL, 0, &s, &out, 1, NULL, 0, st), "%s",
                  deft_status_message(st));
    const float *o = deft_tensor_data(out);
    ck_assert(o[0] == 28 && o[1] == 64 && o[2] == 64 && o[3] == 154);
    deft_tensor_free(out);
    deft_step *ms = step_of(sess->last, "m"), *as = step_of(sess->last, "s");
    ck_assert_ptr_nonnull(ms);
    ck_assert_ptr_nonnull(ms->params); /* MatMul has a prepare step */
    ck_assert_uint_eq(ms->params_size, sizeof(deft_matmul_params));
    const deft_matmul_params *mp = ms->params;
    ck_assert(!mp->ta && mp->tb && !mp->try_sparse);
    ck_assert_ptr_null(as->params); /* Add has none */
    if (run == 0) first = ms->params;
    ck_assert_ptr_eq(ms->params, first); /* the plan is reused: prepared once */
  }
  deft_tensor_free(ta);
  deft_session_free(sess);
  deft_graph_free(g);
  deft_status_free(st);
}
END_TEST

/* A node whose attr a prepare step cannot read (a malformed file the import checks would have
 * refused, made here by editing the node) fails planning with the node named, and no step of
 * the run executes: the variable's AssignAdd, a target of the same run, does not happen. */
START_TEST(prepare_failure_fails_planning_before_any_step) {
  deft_graph *g = deft_graph_new();
  deft_op *v = deft_variable_new(g, "v", deft_const_float(g, 1.0f, "init"), true);
  deft_output inc = deft_assign_add(g, deft_op_output(v, 0), deft_const_float(g, 5.0f, "five"),
                                    "inc");
  float one = 1;
  int64_t d11[2] = {1, 1};
  deft_tensor *t = deft_tensor_from_data(DEFT_FLOAT, d11, 2, &one, sizeof one, NULL);
  deft_output c = deft_const(g, t, "c");
  deft_output m = deft_matmul(g, c, c, false, false, "m");
  deft_op *init = deft_global_variables_initializer(g, "init_all");
  ck_assert(deft_graph_ok(g));
  deft_attr *ta = (deft_attr *)deft_op_find_attr(m.op, "transpose_a");
  ck_assert_ptr_nonnull(ta);
  ta->v.kind = DEFT_ATTR_INT; /* now the wrong kind */
  deft_status *st = deft_status_new();
  deft_session *sess = deft_session_new(g, st);
  ck_assert(deft_session_run(sess, NULL, NULL, 0, NULL, NULL, 0, &init, 1, st));
  deft_tensor *out = NULL;
  ck_assert(!deft_session_run(sess, NULL, NULL, 0, &m, &out, 1, &inc.op, 1, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "MatMul 'm'", "transpose_a", "wrong kind");
  ck_assert_ptr_null(out);
  deft_output vv = deft_variable_value(v);
  ck_assert(deft_session_run(sess, NULL, NULL, 0, &vv, &out, 1, NULL, 0, st));
  ck_assert(*(const float *)deft_tensor_data(out) == 1.0f); /* the AssignAdd never ran */
  deft_tensor_free(out);
  deft_tensor_free(t);
  deft_session_free(sess);
  deft_graph_free(g);
  deft_status_free(st);
}
END_TEST

/* The op families added last read their attrs in prepare too: a malformed attr (its kind
 * changed here) fails planning, naming the node and the attr, before the kernel runs. And with
 * the attrs intact each op computes its TF value (independently known small cases). */
START_TEST(late_families_read_attrs_in_prepare) {
  static const struct {
    const char *node, *attr;
  } cases[] = {{"cs", "exclusive"}, {"bmm", "adj_x"}, {"gv2", "batch_dims"},
               {"pr", "first_n"},   {"oh", "axis"}};
  for (size_t k = 0; k <= sizeof cases / sizeof *cases; k++) {
    deft_graph *g = deft_graph_new();
    float xv[4] = {1, 2, 3, 4};
    int64_t d22[2] = {2, 2}, d4 = 4;
    deft_tensor *tx = deft_tensor_from_data(DEFT_FLOAT, d22, 2, xv, sizeof xv, NULL);
    deft_tensor *tv = deft_tensor_from_data(DEFT_FLOAT, &d4, 1, xv, sizeof xv, NULL);
    deft_output x = deft_const(g, tx, "x"), v = deft_const(g, tv, "v");
    deft_output fetch[5];
    /* exclusive cumsum of [1 2 3 4]: [0 1 3 6] */
    fetch[0] = deft_cumsum(g, v, deft_const_int32(g, 0, "ax"), true, false, "cs");
    /* x^T x = [[10 14] [14 20]] */
    fetch[1] = deft_batch_matmul(g, x, x, true, false, false, "bmm");
    /* x[:, 1] = [2 4] */
    fetch[2] = deft_gather_v2(g, x, deft_const_int32(g, 1, "i"), deft_const_int32(g, 1, "a1"),
                              0, "gv2");
    fetch[3] = deft_print(g, v, NULL, 0, "", 0, 3, "pr");
    /* one_hot([1], depth 3, axis 0): [[0] [1] [0]] */
    int32_t one = 1;
    int64_t d1 = 1;
    deft_tensor *ti = deft_tensor_from_data(DEFT_INT32, &d1, 1, &one, sizeof one, NULL);
    fetch[4] = deft_one_hot(g, deft_const(g, ti, "ix"), deft_const_int32(g, 3, "depth"),
                            deft_const_float(g, 1.0f, "on"), deft_const_float(g, 0.0f, "off"),
                            0, "oh");
    ck_assert_msg(deft_graph_ok(g), "%s", deft_status_message(deft_graph_status(g)));
    if (k < sizeof cases / sizeof *cases) {
      deft_op *op = deft_graph_op_by_name(g, cases[k].node);
      ck_assert_ptr_nonnull(op);
      deft_attr *a = (deft_attr *)deft_op_find_attr(op, cases[k].attr);
      ck_assert_ptr_nonnull(a);
      a->v.kind = DEFT_ATTR_STRING == a->v.kind ? DEFT_ATTR_INT : DEFT_ATTR_STRING;
      a->v.u.s.p = (char *)"";
      a->v.u.s.len = 0;
    }
    deft_status *st = deft_status_new();
    deft_session *sess = deft_session_new(g, st);
    deft_tensor *out[5] = {NULL};
    bool ok = deft_session_run(sess, NULL, NULL, 0, fetch, out, 5, NULL, 0, st);
    if (k < sizeof cases / sizeof *cases) {
      ck_assert_msg(!ok, "%s ran with a malformed %s", cases[k].node, cases[k].attr);
      char quoted[64];
      snprintf(quoted, sizeof quoted, "'%s'", cases[k].node);
      TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, quoted, cases[k].attr);
    } else {
      ck_assert_msg(ok, "%s", deft_status_message(st));
      static const float want0[] = {0, 1, 3, 6}, want1[] = {10, 14, 14, 20}, want2[] = {2, 4},
                         want4[] = {0, 1, 0};
      const float *w[] = {want0, want1, want2, xv, want4};
      const int64_t n[] = {4, 4, 2, 4, 3};
      for (int f = 0; f < 5; f++) {
        ck_assert_int_eq(deft_tensor_num_elements(out[f]), n[f]);
        const float *o = deft_tensor_data(out[f]);
        for (int64_t i = 0; i < n[f]; i++) ck_assert_float_eq(o[i], w[f][i]);
      }
    }
    for (int f = 0; f < 5; f++) deft_tensor_free(out[f]);
    deft_tensor_free(tx);
    deft_tensor_free(tv);
    deft_tensor_free(ti);
    deft_session_free(sess);
    deft_graph_free(g);
    deft_status_free(st);
  }
}
END_TEST

START_TEST(buffers_know_their_memory) {
  deft_buffer *b = deft_buffer_new(256);
  ck_assert_ptr_nonnull(b);
  ck_assert(deft_buffer_on_host(b));
  ck_assert_str_eq(b->memory->name, "host");
  deft_buffer *v = deft_buffer_view(b, 64, 128);
  ck_assert_ptr_nonnull(v);
  ck_assert_ptr_eq(v->memory, b->memory);
  char src[16] = "fifteen bytes..", dst[16] = {0};
  b->memory->copy_from_host(b->data, src, sizeof src);
  b->memory->copy_to_host(dst, b->data, sizeof dst);
  ck_assert_mem_eq(src, dst, sizeof src);
  deft_buffer_unref(v);
  deft_buffer_unref(b);
}
END_TEST

int main(void) {
  Suite *s = suite_create("kernel_interface");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, cpu_device_supports_exactly_the_ops_with_kernels);
  tcase_add_test(tc, prepare_fills_the_block_once_per_plan);
  tcase_add_test(tc, prepare_failure_fails_planning_before_any_step);
  tcase_add_test(tc, late_families_read_attrs_in_prepare);
  tcase_add_test(tc, buffers_know_their_memory);
  suite_add_tcase(s, tc);
  return tu_run_suite(s);
}
