/* SPDX-License-Identifier: Apache-2.0 */
/* base/simd.h - DEFT_SIMD_CLONES, for hot loops that get AVX-512 (x86-64-v4) and AVX2 + FMA
 * (x86-64-v3) clones next to the baseline one, picked once at load time (GCC's target_clones, an
 * ELF ifunc). Results are identical across clones: contraction into FMA is off in ISO C mode, and
 * where a loop wants a fused multiply-add it calls fma(), which the v3 and v4 clones inline and
 * vectorize and the baseline gets from libm, exactly rounded either way. */
#ifndef DEFT_RUNTIME_SIMD_H
#define DEFT_RUNTIME_SIMD_H

/* Not under ThreadSanitizer: the clones' ifunc resolvers run before TSan's runtime starts and
 * crash in its instrumentation (GCC defines __SANITIZE_THREAD__ with -fsanitize=thread). */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) && \
    !defined(__SANITIZE_THREAD__)
#define DEFT_SIMD_CLONES \
  __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define DEFT_SIMD_CLONES
#endif

#endif
