/* An in-memory pair of secure channel state machines for tests, fuzz seeds
 * and the wire benchmark: bytes move from one side's output to the other's
 * input, with hooks to alter them on the way. */
#ifndef RZ_TEST_SECURE_PAIR_H
#define RZ_TEST_SECURE_PAIR_H

#include "common/secure.h"

#include <stdlib.h>
#include <string.h>

#define PAIR_MAX_FRAMES 64
/* Far in the future (Unix ms), for credentials that must not expire. */
#define PAIR_FAR_FUTURE_MS 4102444800000ull
/* The wall and monotonic clocks the tests pretend it is. */
#define PAIR_WALL_MS 1800000000000ull
#define PAIR_NOW_MS 1000ull

typedef struct side
{
    rz_secure_conn c;
    int rv;          /* first error the side failed with, 0 while alive */
    int established; /* ESTABLISHED events seen */
    int closed;      /* CLOSED events seen */
    size_t n_frames;
    size_t frame_len[PAIR_MAX_FRAMES];
    uint64_t frame_hash[PAIR_MAX_FRAMES];
    /* The output pending at the moment the side failed: must be exactly one
     * error frame, or nothing when the peer's error frame caused it. */
    uint8_t fail_out[64];
    size_t fail_out_len;
} side;

static inline void side_note_fail(side *s, int rv)
{
    size_t n = 0;
    const uint8_t *p = rz_secure_out(&s->c, &n);
    if (s->rv != 0 || rv == 0) {
        return;
    }
    s->rv = rv;
    s->fail_out_len = n < sizeof(s->fail_out) ? n : sizeof(s->fail_out);
    if (n > 0) {
        memcpy(s->fail_out, p, s->fail_out_len);
    }
}

/* Feeds p[0..n) to s, recording events; stops at a failure. */
static inline void side_feed(side *s, const uint8_t *p, size_t n)
{
    size_t guard = 0;
    while (n > 0 && s->rv == 0 && guard++ < 10000000) {
        rz_secure_event ev;
        size_t used = 0;
        int rv = rz_secure_feed(&s->c, p, n, &used, &ev);
        p += used;
        n -= used;
        if (rv != 0) {
            side_note_fail(s, rv);
            return;
        }
        if (ev.type == RZ_SECURE_EV_ESTABLISHED) {
            s->established++;
        } else if (ev.type == RZ_SECURE_EV_CLOSED) {
            s->closed++;
        } else if (ev.type == RZ_SECURE_EV_FRAME) {
            if (s->n_frames < PAIR_MAX_FRAMES) {
                s->frame_len[s->n_frames] = ev.len;
                s->frame_hash[s->n_frames] = rz_hash64(ev.data, ev.len);
            }
            s->n_frames++;
        }
    }
}

/* A hook that may alter the bytes of the k-th transfer (0-based). */
typedef void (*pair_mutate_fn)(void *data, size_t k, uint8_t *p, size_t *n);

typedef struct pair
{
    side client;
    side server;
    size_t transfers; /* non-empty transfers so far */
    pair_mutate_fn mutate;
    void *mutate_data;
    uint8_t *scratch; /* copy of the bytes in flight */
    size_t scratch_size;
} pair;

/* Moves everything `from` has to send into `to`. Returns bytes moved. */
static inline size_t pair_transfer(pair *pr, side *from, side *to)
{
    size_t n = 0;
    const uint8_t *p = rz_secure_out(&from->c, &n);
    if (n == 0) {
        return 0;
    }
    if (n > pr->scratch_size) {
        uint8_t *bigger = realloc(pr->scratch, n);
        RZ_ASSERT(bigger != NULL);
        pr->scratch = bigger;
        pr->scratch_size = n;
    }
    memcpy(pr->scratch, p, n);
    rz_secure_out_consume(&from->c, n);
    if (pr->mutate != NULL) {
        pr->mutate(pr->mutate_data, pr->transfers, pr->scratch, &n);
    }
    pr->transfers++;
    side_feed(to, pr->scratch, n);
    return n;
}

/* Moves bytes both ways until neither side has anything to send. */
static inline void pair_pump(pair *pr)
{
    for (int round = 0; round < 1000; round++) {
        size_t moved = pair_transfer(pr, &pr->client, &pr->server);
        moved += pair_transfer(pr, &pr->server, &pr->client);
        if (moved == 0) {
            return;
        }
    }
}

static inline void pair_cfg(rz_secure_config *cfg, const rz_identity *id,
                            uint32_t allowed_roles, uint32_t max_frame_bytes)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->id = id;
    cfg->allowed_roles = allowed_roles;
    cfg->max_frame_bytes = max_frame_bytes;
}

/* Starts both sides (not pumped). */
static inline void pair_init(pair *pr, const rz_secure_config *client_cfg,
                             const rz_secure_config *server_cfg,
                             uint64_t wall_ms)
{
    int rv;
    memset(pr, 0, sizeof(*pr));
    rv = rz_secure_conn_init(&pr->client.c, client_cfg, true, PAIR_NOW_MS,
                             wall_ms);
    RZ_ASSERT(rv == 0);
    rv = rz_secure_conn_init(&pr->server.c, server_cfg, false, PAIR_NOW_MS,
                             wall_ms);
    RZ_ASSERT(rv == 0);
}

static inline void pair_close(pair *pr)
{
    rz_secure_conn_close(&pr->client.c);
    rz_secure_conn_close(&pr->server.c);
    free(pr->scratch);
    pr->scratch = NULL;
}

#endif /* RZ_TEST_SECURE_PAIR_H */
