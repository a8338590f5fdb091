/* base/crc32c.c - table-driven CRC32C (see base/crc32c.h). */
#include "base/crc32c.h"

#include <pthread.h>

#define CRC32C_POLY 0x82F63B78u /* Castagnoli, bit-reflected */
#define CRC32C_MASK_DELTA 0xa282ead8u

/* table[b] = CRC of the single byte b (reflected, no pre/post conditioning), filled once. */
static uint32_t crc_table[256];
static pthread_once_t crc_table_once = PTHREAD_ONCE_INIT;

static void crc_table_init(void) {
  for (uint32_t b = 0; b < 256; b++) {
    uint32_t c = b;
    for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ CRC32C_POLY : c >> 1;
    crc_table[b] = c;
  }
}

uint32_t deft_crc32c_extend(uint32_t crc, const void *data, size_t n) {
  pthread_once(&crc_table_once, crc_table_init);
  const unsigned char *p = data;
  uint32_t c = crc ^ 0xFFFFFFFFu;
  for (size_t i = 0; i < n; i++) c = crc_table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

uint32_t deft_crc32c_mask(uint32_t crc) {
  return ((crc >> 15) | (crc << 17)) + CRC32C_MASK_DELTA;
}

uint32_t deft_crc32c_unmask(uint32_t masked) {
  uint32_t rot = masked - CRC32C_MASK_DELTA;
  return (rot >> 17) | (rot << 15);
}
