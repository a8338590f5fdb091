/* tests/test_multinomial.c - ops/multinomial_ops.c: Multinomial's samples bit for bit against an
 * independent Python Philox with TF's CPU sampling rule (two runs in one session: the second
 * continues the stream at a fresh block), a frequency check, -inf logits never drawn, shapes,
 * seeds as TF derives them, and errors naming the node. */
#include <math.h>
#include <string.h>
#include <unistd.h>

#include "math_testutil.h"
#include "philox_py.h"

static const char multinomial_py[] =
    TU_PHILOX_PY
    "seed, seed2, batch, nc, ns, runs = [int(a) for a in sys.argv[1:7]]\n"
    "logits = np.fromfile(sys.argv[7], dtype=np.float32).reshape(batch, nc)\n"
    "key = [seed & M, (seed >> 32) & M]\n"
    "block = 0\n"
    "out = []\n"
    "def u2d(x0, x1):\n"
    "    man = ((x0 & 0xfffff) << 32) | x1\n"
    "    return struct.unpack('<d', struct.pack('<Q', (1023 << 52) | man))[0] - 1.0\n"
    "for run in range(runs):\n"
    "    words = []\n"
    "    while len(words) < 2 * batch * ns:\n"
    "        words += philox([block & M, block >> 32, seed2 & M, (seed2 >> 32) & M], key)\n"
    "        block += 1\n"
    "    w = 0\n"
    "    for b in range(batch):\n"
    "        row = logits[b].astype(np.float64)\n"
    "        fin = np.isfinite(row)\n"
    "        mx = row[fin].max()\n"
    "        cdf = np.cumsum(np.where(fin, np.exp(np.where(fin, row, 0) - mx), 0.0))\n"
    "        for j in range(ns):\n"
    "            u = u2d(words[w], words[w + 1]); w += 2\n"
    "            out.append(int(np.searchsorted(cdf, u * cdf[-1], side='right')))\n"
    "np.asarray(out, dtype=np.int64).tofile(sys.argv[8])\n";

START_TEST(matches_python_philox) {
  enum { B = 3, C = 5, S = 7 };
  float lg[B * C];
  for (int i = 0; i < B * C; i++) lg[i] = (float)(mtu_urand() * 4 - 2);
  lg[3] = -INFINITY; /* never drawn */
  char in[512], out[512];
  snprintf(in, sizeof in, "%s/mn-in-%d.bin", tu_tmpdir(), (int)getpid());
  snprintf(out, sizeof out, "%s/mn-out-%d.bin", tu_tmpdir(), (int)getpid());
  FILE *f = fopen(in, "wb");
  ck_assert_ptr_nonnull(f);
  ck_assert_int_eq(fwrite(lg, sizeof(float), B * C, f), B * C);
  fclose(f);
  const char *args[] = {"12345", "678", "3", "5", "7", "2", in, out, NULL};
  ck_assert_int_eq(tu_python(multinomial_py, args), 0);
  int64_t ref[2 * B * S];
  f = fopen(out, "rb");
  ck_assert_ptr_nonnull(f);
  ck_assert_int_eq(fread(ref, sizeof(int64_t), 2 * B * S, f), 2 * B * S);
  fclose(f);
  unlink(in);
  unlink(out);
  deft_graph *g = deft_graph_new();
  deft_graph_set_seed(g, 12345);
  deft_status *st = deft_status_new();
  deft_tensor *lt = deft_tensor_from_data(DEFT_FLOAT, (const int64_t[]){B, C}, 2, lg, sizeof lg,
                                          st);
  deft_output y = deft_multinomial(g, deft_const(g, lt, "logits"), deft_const_int32(g, S, "n"),
                                   DEFT_INT64, 678, "mn");
  ck_assert_msg(deft_graph_ok(g), "%s", deft_status_message(deft_graph_status(g)));
  deft_shape s = deft_output_shape(y);
  ck_assert(s.rank == 2 && s.dims[0] == B && s.dims[1] == S);
  int64_t seed = 0, seed2 = 0;
  ck_assert(deft_op_attr_int(y.op, "seed", &seed) && seed == 12345);
  ck_assert(deft_op_attr_int(y.op, "seed2", &seed2) && seed2 == 678);
  deft_session *sess = deft_session_new(g, st);
  ck_assert_ptr_nonnull(sess);
  for (int r = 0; r < 2; r++) {
    deft_tensor *t = NULL;
    ck_assert_msg(deft_session_run(sess, NULL, NULL, 0, &y, &t, 1, NULL, 0, st), "%s",
                  deft_status_message(st));
    const int64_t *v = deft_tensor_data(t);
    for (int i = 0; i < B * S; i++) {
      ck_assert_msg(v[i] == ref[r * B * S + i], "run %d [%d]: %lld vs %lld", r, i,
                    (long long)v[i], (long long)ref[r * B * S + i]);
      if (i / S == 0) ck_assert_int_ne(v[i], 3);
    }
    deft_tensor_free(t);
  }
  deft_session_free(sess);
  deft_tensor_free(lt);
  deft_status_free(st);
  deft_graph_free(g);
}
END_TEST

START_TEST(frequencies_int32_double) {
  /* logits log([0.1, 0.2, 0.7]): 20000 draws land within 0.015 of each probability */
  deft_graph *g = deft_graph_new();
  deft_status *st = deft_status_new();
  const double lg[3] = {log(0.1), log(0.2), log(0.7)};
  deft_tensor *lt = deft_tensor_from_data(DEFT_DOUBLE, (const int64_t[]){1, 3}, 2, lg, sizeof lg,
                                          st);
  deft_output y = deft_multinomial(g, deft_const(g, lt, "logits"),
                                   deft_const_int32(g, 20000, "n"), DEFT_INT32, 7, NULL);
  deft_tensor *t = mtu_run_ok(g, y, NULL, NULL, 0);
  ck_assert_int_eq(deft_tensor_dtype(t), DEFT_INT32);
  int count[3] = {0, 0, 0};
  const int32_t *v = deft_tensor_data(t);
  for (int i = 0; i < 20000; i++) {
    ck_assert(v[i] >= 0 && v[i] < 3);
    count[v[i]]++;
  }
  ck_assert(fabs(count[0] / 20000.0 - 0.1) < 0.015);
  ck_assert(fabs(count[1] / 20000.0 - 0.2) < 0.015);
  ck_assert(fabs(count[2] / 20000.0 - 0.7) < 0.015);
  deft_tensor_free(t);
  deft_tensor_free(lt);
  deft_status_free(st);
  deft_graph_free(g);
}
END_TEST

START_TEST(errors) {
  deft_graph *g = deft_graph_new();
  deft_output l3 = mtu_ph(g, DEFT_FLOAT, DEFT_SHAPE(2, 2, 2), "l3");
  deft_output bad = deft_multinomial(g, l3, deft_const_int32(g, 2, "n"), DEFT_INT64, 1, "m3");
  ck_assert_ptr_null(bad.op);
  TU_ASSERT_STATUS(deft_graph_status(g), DEFT_INVALID_ARGUMENT, "Multinomial 'm3'", "2-D");
  deft_graph_free(g);
  g = deft_graph_new();
  deft_output l = mtu_ph(g, DEFT_FLOAT, DEFT_SHAPE(-1, -1), "l");
  deft_output n = mtu_ph(g, DEFT_INT32, DEFT_SCALAR, "n");
  deft_output y = deft_multinomial(g, l, n, DEFT_INT64, 1, "mn");
  ck_assert(deft_graph_ok(g));
  deft_status *st = deft_status_new();
  deft_tensor *lv = mtu_rand_tensor(DEFT_FLOAT, DEFT_SHAPE(2, 0), 0, 1, false, false);
  deft_tensor *nv = deft_tensor_scalar_int32(3);
  deft_output feeds[2] = {l, n};
  deft_tensor *vals[2] = {lv, nv};
  ck_assert_ptr_null(mtu_run(g, y, feeds, vals, 2, 1, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "Multinomial 'mn'", "num_classes");
  deft_tensor *lv2 = mtu_rand_tensor(DEFT_FLOAT, DEFT_SHAPE(2, 3), 0, 1, false, false);
  deft_tensor *neg = deft_tensor_scalar_int32(-1);
  vals[0] = lv2, vals[1] = neg;
  ck_assert_ptr_null(mtu_run(g, y, feeds, vals, 2, 1, st));
  TU_ASSERT_STATUS(st, DEFT_INVALID_ARGUMENT, "Multinomial 'mn'", "non-negative");
  deft_tensor_free(lv);
  deft_tensor_free(lv2);
  deft_tensor_free(nv);
  deft_tensor_free(neg);
  deft_status_free(st);
  deft_graph_free(g);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("multinomial");
  TCase *t = tcase_create("multinomial");
  tcase_add_test(t, matches_python_philox);
  tcase_add_test(t, frequencies_int32_double);
  tcase_add_test(t, errors);
  suite_add_tcase(s, t);
  return s;
}

int main(void) { return tu_run_suite(suite()); }
