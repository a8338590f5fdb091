/* SPDX-License-Identifier: Apache-2.0 */
/* runtime/device.h - devices: where a session's kernels run and its buffers live. Internal.
 *
 * A device answers, for each op type, whether it can run it and with which kernel (its own
 * kernel table), and names the memory its buffers live in (base/tensor_internal.h's
 * deft_memory). Plans resolve every step's kernel through the session's device when they are
 * built, so an op a device does not support fails planning with a message naming it, and a
 * step never looks a kernel up while running. The CPU is the one device now; its kernels are
 * the op table's (ops/op_def.h: prepare and kernel).
 *
 * Thread-safety: devices are immutable tables; any thread may use them. */
#ifndef DEFT_RUNTIME_DEVICE_H
#define DEFT_RUNTIME_DEVICE_H

#include <stdbool.h>

#include "base/tensor_internal.h"
#include "ops/op_def.h"

/* An op's kernel on one device: the prepare step (may be NULL) and the compute step. */
typedef struct deft_kernel_impl {
  deft_prepare_fn prepare;
  deft_kernel_fn compute;
} deft_kernel_impl;

typedef struct deft_device {
  const char *type;          /* TF's device type: "CPU" */
  const deft_memory *memory; /* where the device's buffers live */
  /* Fills *out with the device's kernel for the op type `reg` and returns true, or returns
   * false when the device cannot run it. */
  bool (*find_kernel)(const struct deft_device *d, const deft_op_reg *reg, deft_kernel_impl *out);
} deft_device;

/* The CPU device: host memory, the op table's kernels. */
const deft_device *deft_device_cpu(void);

/* True iff d can run ops of type `reg` (NULL: a type deft does not know: false). */
static inline bool deft_device_supports_op(const deft_device *d, const deft_op_reg *reg) {
  deft_kernel_impl k;
  return reg && d->find_kernel(d, reg, &k);
}

#endif
