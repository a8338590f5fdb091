/* SPDX-License-Identifier: Apache-2.0 */
/* tests/public_header_c11.c - the public headers compile as strict C11 (-std=c11 -pedantic
 * -Werror); built by tests/CMakeLists.txt, nothing to run. */
#include "deft/deft.h"

int deft_public_header_check(void);
int deft_public_header_check(void) {
  deft_shape s = DEFT_SHAPE(-1, 784);
  deft_dense_options o = {.activation = "relu"};
  return s.rank + (o.activation != NULL);
}
