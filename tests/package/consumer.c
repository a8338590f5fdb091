/* SPDX-License-Identifier: Apache-2.0 */
/* tests/package/consumer.c - a program outside deft's tree, built against an installed deft
 * (tests/package/run.sh): the version macros agree with the library, a graph runs, and the
 * library does not leak internals (this file defines a symbol named like one of deft's protobuf-c
 * descriptors; linking the static library would fail if deft exported its own). */
#include <stdio.h>
#include <string.h>

#include <deft/deft.h>

/* Same name as the descriptor deft's proto/ code has internally. */
const int tensorflow__attr_value__descriptor = 42;

int main(void) {
  if (strcmp(deft_version(), DEFT_VERSION_STRING) != 0) {
    fprintf(stderr, "consumer: library %s, headers %s\n", deft_version(), DEFT_VERSION_STRING);
    return 1;
  }
#if DEFT_VERSION < DEFT_MAKE_VERSION(0, 2, 0)
#error "deft/version.h: expected at least 0.2.0"
#endif
  deft_status *st = deft_status_new();
  deft_graph *g = deft_graph_new();
  deft_output x = deft_placeholder(g, DEFT_FLOAT, DEFT_SHAPE(-1), "x");
  deft_output y = deft_add(g, x, deft_const_float(g, 1.5f, "c"), "y");
  deft_session *s = deft_session_new(g, st);
  float v[2] = {1, 2};
  deft_tensor *t = deft_tensor_from_data(DEFT_FLOAT, (int64_t[]){2}, 1, v, sizeof v, st);
  deft_tensor *out = NULL;
  const deft_tensor *feeds[1] = {t};
  if (!s || !t || !deft_session_run(s, &x, feeds, 1, &y, &out, 1, NULL, 0, st)) {
    fprintf(stderr, "consumer: %s\n", deft_status_message(st));
    return 1;
  }
  double a = deft_tensor_get_double(out, 0), b = deft_tensor_get_double(out, 1);
  printf("deft %s: [%g, %g] (descriptor %d)\n", deft_version(), a, b,
         tensorflow__attr_value__descriptor);
  int rc = (a == 2.5 && b == 3.5) ? 0 : 1;
  deft_tensor_free(out);
  deft_tensor_free(t);
  deft_session_free(s);
  deft_graph_free(g);
  deft_status_free(st);
  return rc;
}
