/*
 * CRC-32 at CPL3 (see crc32.h): the table is built on every call, which costs less at native speed than the
 * CPL0 code that would build it once.
 */
#include "crc32.h"

#define CRC32_POLYNOMIAL 0xedb88320u

static uint32_t crc32_table[256] = {0};

uint64_t user_crc32(uint64_t address, uint64_t length) {
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++) c = (c & 1) ? CRC32_POLYNOMIAL ^ (c >> 1) : c >> 1;
        crc32_table[n] = c;
    }
    const uint8_t *bytes = (const uint8_t *)address;
    uint32_t crc = 0xffffffffu;
    for (uint64_t i = 0; i < length; i++) crc = crc32_table[(crc ^ bytes[i]) & 0xff] ^ (crc >> 8);
    return crc ^ 0xffffffffu;
}
