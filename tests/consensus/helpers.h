/* Helpers shared by the consensus log-store tests: temporary directories and
 * entries whose bytes encode their own index, so any misplaced or
 * half-written entry is caught by content. Each test file includes this
 * once. */
#ifndef RZ_TEST_CONSENSUS_HELPERS_H
#define RZ_TEST_CONSENSUS_HELPERS_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/common.h"
#include "consensus/logstore.h"

/* Makes a fresh directory under TMPDIR (or /tmp); dir has 128 bytes. */
static inline void tdir_make(char *dir, const char *name)
{
    const char *base = getenv("TMPDIR");
    snprintf(dir, 128, "%s/rz-%s-XXXXXX",
             base != NULL && base[0] != '\0' ? base : "/tmp", name);
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        abort();
    }
}

static inline void tdir_remove(const char *dir)
{
    char path[192];
    snprintf(path, sizeof path, "%s/raft.mdb", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/raft.mdb-lock", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/acks", dir);
    unlink(path);
    rmdir(dir);
}

/* Fills buf[0..len) with bytes derived from (index, term); len >= 8 puts the
 * index itself in the first 8 bytes. */
static inline void payload_fill(uint8_t *buf, size_t len, uint64_t index,
                                uint64_t term)
{
    uint64_t x = index * 0x9e3779b97f4a7c15ull ^ term;
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        buf[i] = (uint8_t)x;
    }
    if (len >= 8) {
        rz_put_be64(buf, index);
    }
}

/* Payload length of entry `index` in the tests: varies, never 0. */
static inline size_t payload_len(uint64_t index)
{
    return 8 + (size_t)(index * 37 % 500);
}

/* True if e holds the payload of (index, term). */
static inline int payload_ok(const rz_log_entry *e, uint64_t index,
                             uint64_t term)
{
    uint8_t want[600];
    size_t len = payload_len(index);
    if (e->len != len || e->term != term) {
        return 0;
    }
    payload_fill(want, len, index, term);
    return memcmp(want, e->data, len) == 0;
}

#endif /* RZ_TEST_CONSENSUS_HELPERS_H */
