/* SPDX-License-Identifier: Apache-2.0 */
/* base/crc32c.h - CRC32C (Castagnoli), as used by TF's checkpoint bundles and LevelDB-style
 * tables: reflected polynomial 0x82F63B78, initial value and final xor 0xFFFFFFFF (see
 * ../shared/spec/TF_FORMATS.md section 4.3). Internal to the library; no allocation, no state. */
#ifndef DEFT_RUNTIME_CRC32C_H
#define DEFT_RUNTIME_CRC32C_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Returns the CRC32C of the concatenation A ‖ data[0..n), where crc is the CRC32C of A (0 for an
 * empty A). data may be NULL when n is 0. */
uint32_t deft_crc32c_extend(uint32_t crc, const void *data, size_t n);

/* Returns the CRC32C of A ‖ n zero bytes, where crc is the CRC32C of A; O(log n) for large n
 * (the zero-byte step is linear over GF(2), so n steps are a matrix power). */
uint32_t deft_crc32c_extend_zeros(uint32_t crc, uint64_t n);

/* Returns the CRC32C of data[0..n). crc32c("123456789") is 0xE3069283. */
static inline uint32_t deft_crc32c(const void *data, size_t n) {
  return deft_crc32c_extend(0, data, n);
}

/* The "masked" form stored in files (rotate right by 15, add 0xa282ead8), so that a CRC of data
 * that itself contains CRCs does not degenerate. deft_crc32c_unmask(deft_crc32c_mask(c)) == c. */
uint32_t deft_crc32c_mask(uint32_t crc);
uint32_t deft_crc32c_unmask(uint32_t masked);

#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
/* Fuzz builds only (tests/fuzz, -DDEFT_FUZZ=ON): when true, the checkpoint readers accept
 * stored checksums that do not match, so that mutated bytes reach the decoders behind them.
 * The fuzz target sets it per input; it does not exist in any other build. */
extern bool deft_fuzz_skip_crc;
#define DEFT_CRC_BAD(stored, actual) ((stored) != (actual) && !deft_fuzz_skip_crc)
#else
#define DEFT_CRC_BAD(stored, actual) ((stored) != (actual))
#endif

#endif
