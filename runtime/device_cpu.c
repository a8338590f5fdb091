/* SPDX-License-Identifier: Apache-2.0 */
/* runtime/device_cpu.c - the CPU device (see runtime/device.h): host memory, and the kernels of
 * the op table, which are the CPU's. */
#include "runtime/device.h"

static bool cpu_find_kernel(const deft_device *d, const deft_op_reg *reg, deft_kernel_impl *out) {
  (void)d;
  if (!reg->def->kernel) return false;
  out->prepare = reg->def->prepare;
  out->compute = reg->def->kernel;
  return true;
}

static const deft_device cpu = {"CPU", &deft_host_memory, cpu_find_kernel};

const deft_device *deft_device_cpu(void) { return &cpu; }
