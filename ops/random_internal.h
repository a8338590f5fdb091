/* ops/random_internal.h - what ops/random_ops.c shares with the other random ops
 * (ops/multinomial_ops.c): the op's Philox stream, TF's seed derivation and TF's uint32 -> double
 * conversion. Internal to the library. */
#ifndef DEFT_OPS_RANDOM_INTERNAL_H
#define DEFT_OPS_RANDOM_INTERNAL_H

#include <stdint.h>

#include "deft/graph.h"
#include "ops/kernel.h"

/* The session's stream state for the kernel's op, seeded on first use from (seed, seed2) as TF's
 * PhiloxRandom is (key = seed, counter high half = seed2), or from /dev/urandom when both are 0.
 * NULL after recording an error. */
deft_rng_state *deft_random_op_state(deft_kernel_ctx *c, int64_t seed, int64_t seed2);

/* The next Philox4x32-10 block (four uint32s) of st; advances its counter by one. */
void deft_random_next_block(deft_rng_state *st, uint32_t out[4]);

/* TF's Uint64ToDouble: 52 random mantissa bits (20 of x0, 32 of x1) as a double in [0, 1). */
double deft_random_u32x2_to_double(uint32_t x0, uint32_t x1);

/* TF's random_seed.get_seed: (graph seed, op seed) -> the new op's (seed, seed2) attrs. */
void deft_random_derive_seeds(deft_graph *g, int64_t op_seed, int64_t *seed, int64_t *seed2);

#endif
