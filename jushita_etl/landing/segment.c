/* The landing log's segment reader in C: a segment image turned into columns without walking its records in
 * Python (landing/segment.py maps the file and builds the Arrow arrays; the per-record Python loop measured
 * 7-11 us a record, and its garbage was most of the consumer's page faults).
 *
 * The record layout is segment.py's (see segment.encode), written by DurableLog and by the consumer's native
 * callback (jushita_etl/mq/landing_callback.c): u32 payload length, u32 crc32(payload); payload = i32 queue_id,
 * i64 queue_offset, i64 born_timestamp, i64 received_ms, i32 reconsume_times, then msg_id, topic, tags, keys each
 * as i32 length (-1: null) + bytes, then the body. Little-endian, as every machine this runs on.
 * Built by jushita_etl/native.py with the system C compiler; segment.py reads in Python when it cannot be built.
 */
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "crc32.h"

/* jwal_index lists the intact records from *pos on (up to max_records; *pos moves past them): for each,
 * INDEX_WIDTH offsets into data: the fixed fields, then offset and length (-1: null) of msg_id, topic, tags and
 * keys, then the body's offset and length. It stops at the first torn or corrupt record (never acknowledged: its
 * fsync did not complete). jwal_gather copies one variable-length field of every indexed record into one
 * contiguous buffer with Arrow-style offsets. */
#define INDEX_WIDTH 11

size_t jwal_index(const unsigned char *data, size_t len, size_t *pos, int64_t *out, size_t max_records) {
    pthread_once(&crc_once, crc_init);
    size_t count = 0;
    while (count < max_records && *pos + 8 <= len) {
        uint32_t payload, crc;
        memcpy(&payload, data + *pos, 4);
        memcpy(&crc, data + *pos + 4, 4);
        size_t start = *pos + 8, end = start + payload;
        if (payload < 32 + 16 || end > len || crc32_of(data + start, payload) != crc) break;
        int64_t *row = out + count * INDEX_WIDTH;
        row[0] = (int64_t)start;
        size_t at = start + 32; /* past the fixed fields */
        int intact = 1;
        for (int k = 0; k < 4 && intact; k++) {
            int32_t n;
            memcpy(&n, data + at, 4);
            at += 4;
            if (n > 0 && at + (size_t)n > end) intact = 0;
            row[1 + 2 * k] = (int64_t)at, row[2 + 2 * k] = n < 0 ? -1 : n;
            at += n > 0 ? (size_t)n : 0;
            if (k < 3 && at + 4 > end) intact = 0;
        }
        if (!intact) break;
        row[9] = (int64_t)at, row[10] = (int64_t)(end - at);
        count++;
        *pos = end;
    }
    return count;
}

void jwal_gather(const unsigned char *data, const int64_t *index, size_t count, int field, int32_t *offsets,
                 unsigned char *values) {
    int32_t at = 0;
    offsets[0] = 0;
    for (size_t i = 0; i < count; i++) {
        const int64_t *row = index + i * INDEX_WIDTH;
        int64_t n = row[field + 1];
        if (n > 0) memcpy(values + at, data + row[field], (size_t)n), at += (int32_t)n;
        offsets[i + 1] = at;
    }
}
