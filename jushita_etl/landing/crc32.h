/* CRC-32 with zlib's polynomial, as Python's zlib.crc32: the check of every landing-log record. Shared by the
 * writer (mq/landing_callback.c) and the reader (landing/segment.c); each includes its own static copy. */
#ifndef JUSHITA_CRC32_H
#define JUSHITA_CRC32_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void) {
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[n] = c;
    }
}

static uint32_t crc32_of(const unsigned char *data, size_t n) {
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) c = crc_table[(c ^ data[i]) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

#endif
