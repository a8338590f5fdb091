/* SPDX-License-Identifier: Apache-2.0 */
/* tests/capi_header_c11.c - TensorFlow's C API headers compile as strict, warning-free C11. */
#include "tensorflow/c/c_api.h"

int capi_header_c11_probe(void);
int capi_header_c11_probe(void) { return (int)sizeof(TF_Output) + (int)TF_FLOAT; }
