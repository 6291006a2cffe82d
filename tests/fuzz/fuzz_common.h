/* Shared by the secure channel fuzz targets and their seed generator: a
 * deterministic random source, so keys, ephemerals and stream headers are
 * the same in every run and recorded seeds (with valid signatures) stay
 * valid; and one cluster with a node and an agent. */
#ifndef RZ_FUZZ_COMMON_H
#define RZ_FUZZ_COMMON_H

#include "common/secure.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "../secure/pair.h"

static uint64_t fuzz_rng_state;

static uint64_t fuzz_next(void)
{
    /* splitmix64: plenty for reproducible test keys, never for real ones. */
    uint64_t z = (fuzz_rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static const char *fuzz_rng_name(void)
{
    return "ratusz-fuzz";
}

static uint32_t fuzz_rng_random(void)
{
    return (uint32_t)fuzz_next();
}

static void fuzz_rng_stir(void)
{
}

static uint32_t fuzz_rng_uniform(const uint32_t upper)
{
    return upper == 0 ? 0 : (uint32_t)(fuzz_next() % upper);
}

static void fuzz_rng_buf(void *const buf, const size_t size)
{
    uint8_t *p = buf;
    for (size_t i = 0; i < size; i += 8) {
        uint64_t v = fuzz_next();
        size_t n = size - i < 8 ? size - i : 8;
        memcpy(p + i, &v, n);
    }
}

static int fuzz_rng_close(void)
{
    return 0;
}

static randombytes_implementation fuzz_rng = {
    fuzz_rng_name,    fuzz_rng_random, fuzz_rng_stir,
    fuzz_rng_uniform, fuzz_rng_buf,    fuzz_rng_close,
};

typedef struct fuzz_world
{
    rz_cluster_key cluster;
    rz_identity node;
    rz_identity agent;
} fuzz_world;

static fuzz_world fuzz_w;

/* Once per process: deterministic libsodium and the identities. */
static inline void fuzz_setup(void)
{
    static int done;
    char errmsg[RZ_ERRMSG_BYTES];
    if (done) {
        return;
    }
    done = 1;
    randombytes_set_implementation(&fuzz_rng);
    if (rz_crypto_init() != 0) {
        abort();
    }
    fuzz_rng_state = 1;
    rz_cluster_key_generate(&fuzz_w.cluster);
    if (rz_identity_issue(&fuzz_w.cluster, RZ_ROLE_NODE, "n1", 1,
                          PAIR_FAR_FUTURE_MS, &fuzz_w.node, errmsg) != 0 ||
        rz_identity_issue(&fuzz_w.cluster, RZ_ROLE_AGENT, "desk", 0,
                          PAIR_FAR_FUTURE_MS, &fuzz_w.agent, errmsg) != 0) {
        abort();
    }
}

/* A client (agent) and a server (node) started from the same random state
 * every time, so a recorded conversation replays byte for byte. */
static inline void fuzz_pair_init(pair *pr, uint32_t server_max_frame)
{
    rz_secure_config cc, sc;
    fuzz_rng_state = 42;
    pair_cfg(&cc, &fuzz_w.agent, RZ_ROLE_BIT(RZ_ROLE_NODE), 4096);
    pair_cfg(&sc, &fuzz_w.node, RZ_ROLES_ALL, server_max_frame);
    pair_init(pr, &cc, &sc, PAIR_WALL_MS);
}

/* Feeds p[0..n) to s in chunks of `chunk` bytes (0: all at once), so both
 * the whole-frame and the buffered paths of the decoder run. */
static inline void fuzz_feed_chunked(side *s, const uint8_t *p, size_t n,
                                     size_t chunk)
{
    while (n > 0 && s->rv == 0) {
        size_t k = chunk == 0 || chunk > n ? n : chunk;
        side_feed(s, p, k);
        p += k;
        n -= k;
    }
}

#endif /* RZ_FUZZ_COMMON_H */
