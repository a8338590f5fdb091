/* SPDX-License-Identifier: Apache-2.0 */
/* base/simd.h - DEFT_SIMD_CLONES, for hot loops that get AVX-512 (x86-64-v4) and AVX2 clones
 * next to the baseline one, picked once at load time (GCC's target_clones, an ELF ifunc).
 * Results are identical across clones since contraction into FMA is off in ISO C mode. */
#ifndef DEFT_RUNTIME_SIMD_H
#define DEFT_RUNTIME_SIMD_H

/* Not under ThreadSanitizer: the clones' ifunc resolvers run before TSan's runtime starts and
 * crash in its instrumentation (GCC defines __SANITIZE_THREAD__ with -fsanitize=thread). */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) && \
    !defined(__SANITIZE_THREAD__)
#define DEFT_SIMD_CLONES __attribute__((target_clones("arch=x86-64-v4", "avx2", "default")))
#else
#define DEFT_SIMD_CLONES
#endif

#endif
