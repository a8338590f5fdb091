/* examples/mlp_forward.c - build the chapter's 784-300-100-10 network in C (dense layers with He
 * variance-scaling init, ELU), run it on MNIST test images, and print logits and predictions.
 *
 *   mlp_forward [--data DIR] [--count N] [--dump DIR]
 *
 * --dump writes the weights fetched from the session and the outputs as .npy files, so another
 * tool (the test suite uses NumPy) can recompute the forward pass independently. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deft/deft.h"

static int fail(deft_status *st, const char *what) {
  fprintf(stderr, "mlp_forward: %s: %s\n", what, deft_status_message(st));
  return 1;
}

int main(int argc, char **argv) {
  const char *data = "../shared/data/mnist", *dump = NULL;
  long count = 10;
  static const struct option opts[] = {{"data", required_argument, NULL, 'd'},
                                       {"dump", required_argument, NULL, 'o'},
                                       {"count", required_argument, NULL, 'n'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
  const char *usage = "usage: mlp_forward [--data DIR] [--count N] [--dump DIR]\n";
  for (int c; (c = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
    char *end = NULL;
    switch (c) {
      case 'd': data = optarg; break;
      case 'o': dump = optarg; break;
      case 'n':
        count = strtol(optarg, &end, 10);
        if (!*optarg || *end || count < 1) {
          fprintf(stderr, "mlp_forward: --count needs a positive number, not \"%s\"\n", optarg);
          return 2;
        }
        break;
      case 'h': fputs(usage, stdout); return 0;
      default: fputs(usage, stderr); return 2;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "mlp_forward: unexpected argument \"%s\"\n%s", argv[optind], usage);
    return 2;
  }
  deft_status *st = deft_status_new();
  deft_tensor *images = NULL, *labels = NULL;
  if (!deft_mnist_load(data, false, NULL, NULL, &images, &labels, st)) return fail(st, data);
  if (count < 1 || count > deft_tensor_dim(images, 0)) count = deft_tensor_dim(images, 0);
  deft_tensor *x = deft_tensor_slice_rows(images, 0, count, st);
  if (!x) return fail(st, "slicing");

  /* Build: X -> dense(300, elu) -> dense(100, elu) -> dense(10) = logits. */
  deft_graph *g = deft_graph_new();
  deft_graph_set_seed(g, 42);
  deft_output X = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(-1, 784), "X");
  deft_dense_options he = {0};
  he.kernel_initializer = deft_init_he_normal(0);
  he.activation = "elu";
  deft_graph_push_scope(g, "dnn");
  deft_output h1 = deft_dense(g, X, 300, &he, "hidden1");
  deft_output h2 = deft_dense(g, h1, 100, &he, "hidden2");
  he.activation = NULL;
  deft_output logits = deft_dense(g, h2, 10, &he, "outputs");
  deft_graph_pop_scope(g);
  deft_output pred = deft_argmax(g, logits, 1, "predictions");
  deft_op *init = deft_global_variables_initializer(g, "init");
  if (!deft_graph_ok(g)) return fail((deft_status *)deft_graph_status(g), "building");

  /* Run. */
  deft_session *s = deft_session_new(g, st);
  if (!s || !deft_session_run(s, NULL, NULL, 0, NULL, NULL, 0, &init, 1, st))
    return fail(st, "initializing");
  deft_output fetches[2] = {logits, pred};
  deft_tensor *out[2];
  if (!deft_session_run(s, &X, (const deft_tensor *const[]){x}, 1, fetches, out, 2, NULL, 0, st))
    return fail(st, "running");
  for (long i = 0; i < count && i < 10; i++) {
    printf("image %ld  label %d  prediction %d  logits", i, (int)deft_tensor_get_double(labels, i),
           (int)deft_tensor_get_double(out[1], i));
    for (int k = 0; k < 10; k++) printf(" %+.4f", deft_tensor_get_double(out[0], i * 10 + k));
    printf("\n");
  }

  if (dump) {
    const char *vars[6] = {"hidden1/kernel", "hidden1/bias", "hidden2/kernel",
                           "hidden2/bias",   "outputs/kernel", "outputs/bias"};
    char path[4096];
    for (int i = 0; i < 6; i++) {
      deft_tensor *v = deft_session_variable_value(s, deft_graph_op_by_name(g, vars[i]), st);
      snprintf(path, sizeof path, "%s/%.*s_%s.npy", dump, (int)strcspn(vars[i], "/"), vars[i],
               strchr(vars[i], '/') + 1);
      if (!v || !deft_npy_write(path, v, st)) return fail(st, path);
      deft_tensor_free(v);
    }
    snprintf(path, sizeof path, "%s/x.npy", dump);
    if (!deft_npy_write(path, x, st)) return fail(st, path);
    snprintf(path, sizeof path, "%s/logits.npy", dump);
    if (!deft_npy_write(path, out[0], st)) return fail(st, path);
    snprintf(path, sizeof path, "%s/predictions.npy", dump);
    if (!deft_npy_write(path, out[1], st)) return fail(st, path);
  }
  deft_tensor_free(out[0]);
  deft_tensor_free(out[1]);
  deft_session_free(s);
  deft_graph_free(g);
  deft_tensor_free(x);
  deft_tensor_free(images);
  deft_tensor_free(labels);
  deft_status_free(st);
  return 0;
}
