/* Unit tests of the secure channel state machine over an in-memory pair:
 * handshakes for every role, and every failure the issue lists — foreign,
 * expired and wrong-role credentials, a flipped bit anywhere in the
 * handshake, replayed handshakes, truncated streams, oversize, replayed and
 * reordered frames — each ending in exactly one plaintext error frame. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/common.h"
#include "common/secure.h"
#include "pair.h"

typedef struct fixture
{
    rz_cluster_key cluster;
    rz_cluster_key other; /* another cluster */
    rz_identity node1;    /* node 1, the server in most tests */
    rz_identity node2;
    rz_identity role_ids[RZ_ROLE_MAX + 1];
} fixture;

static fixture fx;

static int setup(void **state)
{
    char errmsg[RZ_ERRMSG_BYTES];
    (void)state;
    if (rz_crypto_init() != 0) {
        return -1;
    }
    rz_cluster_key_generate(&fx.cluster);
    rz_cluster_key_generate(&fx.other);
    if (rz_identity_issue(&fx.cluster, RZ_ROLE_NODE, "n1", 1,
                          PAIR_FAR_FUTURE_MS, &fx.node1, errmsg) != 0 ||
        rz_identity_issue(&fx.cluster, RZ_ROLE_NODE, "n2", 2,
                          PAIR_FAR_FUTURE_MS, &fx.node2, errmsg) != 0) {
        return -1;
    }
    for (int r = RZ_ROLE_MIN; r <= RZ_ROLE_MAX; r++) {
        if (rz_identity_issue(&fx.cluster, (rz_role)r, rz_role_name(r),
                              r == RZ_ROLE_NODE ? 7u : 0u, PAIR_FAR_FUTURE_MS,
                              &fx.role_ids[r], errmsg) != 0) {
            return -1;
        }
    }
    return 0;
}

static const uint8_t expected_error_frame_prefix[] = {0, 0, 0, 2, 0xEE};

/* The side failed with `err` and sent exactly one error frame with `code`. */
static void assert_error_frame(const side *s, int err, int code)
{
    assert_int_equal(s->rv, err);
    assert_int_equal(s->fail_out_len, RZ_SECURE_ERROR_FRAME_BYTES);
    assert_memory_equal(s->fail_out, expected_error_frame_prefix, 5);
    assert_int_equal(s->fail_out[5], code);
    assert_null(rz_secure_peer(&s->c));
}

/* The side failed because of the peer's error frame and sent nothing. */
static void assert_failed_silently(const side *s, int err)
{
    assert_int_equal(s->rv, err);
    assert_int_equal(s->fail_out_len, 0);
}

/* A standard pair: client `cid` (expects a node) to server node1 allowing
 * `allowed`. */
static void start(pair *pr, const rz_identity *cid, const rz_identity *sid,
                  uint32_t allowed, uint64_t wall_ms)
{
    rz_secure_config cc, sc;
    pair_cfg(&cc, cid, RZ_ROLE_BIT(RZ_ROLE_NODE), 4096);
    pair_cfg(&sc, sid, allowed, 4096);
    pair_init(pr, &cc, &sc, wall_ms);
}

static void send_frame(side *s, const void *p, size_t n)
{
    assert_int_equal(rz_secure_send(&s->c, p, n), 0);
}

static void test_handshake_every_role(void **state)
{
    (void)state;
    for (int r = RZ_ROLE_MIN; r <= RZ_ROLE_MAX; r++) {
        pair pr;
        const rz_credential *peer;
        const char *hello = "dzien dobry";
        start(&pr, &fx.role_ids[r], &fx.node1, RZ_ROLES_ALL, PAIR_WALL_MS);
        pair_pump(&pr);
        assert_int_equal(pr.client.rv, 0);
        assert_int_equal(pr.server.rv, 0);
        assert_int_equal(pr.client.established, 1);
        assert_int_equal(pr.server.established, 1);
        peer = rz_secure_peer(&pr.server.c);
        assert_non_null(peer);
        assert_int_equal(peer->role, r);
        assert_string_equal(peer->name, rz_role_name(r));
        assert_int_equal(peer->node_id, r == RZ_ROLE_NODE ? 7 : 0);
        assert_memory_equal(peer->pk, fx.role_ids[r].cred.pk,
                            RZ_SIGN_PUBLIC_BYTES);
        peer = rz_secure_peer(&pr.client.c);
        assert_non_null(peer);
        assert_int_equal(peer->role, RZ_ROLE_NODE);
        assert_int_equal(peer->node_id, 1);

        /* Frames both ways, then a clean close from each side. */
        send_frame(&pr.client, hello, strlen(hello));
        send_frame(&pr.client, "", 0);
        send_frame(&pr.server, "ok", 2);
        pair_pump(&pr);
        assert_int_equal(pr.server.n_frames, 2);
        assert_int_equal(pr.server.frame_len[0], strlen(hello));
        assert_true(pr.server.frame_hash[0] == rz_hash64(hello, strlen(hello)));
        assert_int_equal(pr.server.frame_len[1], 0);
        assert_int_equal(pr.client.n_frames, 1);
        assert_true(pr.client.frame_hash[0] == rz_hash64("ok", 2));
        assert_int_equal(rz_secure_close(&pr.client.c), 0);
        assert_int_equal(rz_secure_send(&pr.client.c, "x", 1), RZ_EPROTO);
        pair_pump(&pr);
        assert_int_equal(pr.server.closed, 1);
        /* Half-closed: the server may still answer, then close. */
        send_frame(&pr.server, "bye", 3);
        assert_int_equal(rz_secure_close(&pr.server.c), 0);
        pair_pump(&pr);
        assert_int_equal(pr.client.n_frames, 2);
        assert_int_equal(pr.client.closed, 1);
        assert_int_equal(rz_secure_eof(&pr.client.c), 0);
        assert_int_equal(rz_secure_eof(&pr.server.c), 0);
        pair_close(&pr);
    }
}

static void test_peer_port_node_to_node(void **state)
{
    pair pr;
    (void)state;
    start(&pr, &fx.node2, &fx.node1, RZ_ROLE_BIT(RZ_ROLE_NODE), PAIR_WALL_MS);
    pair_pump(&pr);
    assert_int_equal(pr.server.established, 1);
    assert_int_equal(rz_secure_peer(&pr.server.c)->node_id, 2);
    assert_string_equal(rz_secure_peer(&pr.server.c)->name, "n2");
    pair_close(&pr);
}

/* A client whose credential is not from this cluster: one issued by another
 * cluster key, and one carrying this cluster's id but forged with another
 * key. */
static void test_foreign_credential(void **state)
{
    char errmsg[RZ_ERRMSG_BYTES];
    rz_identity foreign, forged;
    rz_cluster_key fake;
    pair pr;
    (void)state;
    assert_int_equal(rz_identity_issue(&fx.other, RZ_ROLE_AGENT, "intruder", 0,
                                       PAIR_FAR_FUTURE_MS, &foreign, errmsg),
                     0);
    foreign.cluster = fx.cluster.pub; /* it says hello to our cluster */
    fake = fx.other;
    fake.pub = fx.cluster.pub; /* our id and public key, another secret */
    assert_int_equal(rz_identity_issue(&fake, RZ_ROLE_AGENT, "forger", 0,
                                       PAIR_FAR_FUTURE_MS, &forged, errmsg),
                     0);
    forged.cluster = fx.cluster.pub;

    start(&pr, &foreign, &fx.node1, RZ_ROLES_ALL, PAIR_WALL_MS);
    pair_pump(&pr);
    assert_error_frame(&pr.server, RZ_EAUTH, RZ_SECURE_ERR_HANDSHAKE);
    assert_failed_silently(&pr.client, RZ_EAUTH);
    assert_int_equal(pr.server.established + pr.client.established, 0);
    pair_close(&pr);

    start(&pr, &forged, &fx.node1, RZ_ROLES_ALL, PAIR_WALL_MS);
    pair_pump(&pr);
    assert_error_frame(&pr.server, RZ_EAUTH, RZ_SECURE_ERR_HANDSHAKE);
    assert_failed_silently(&pr.client, RZ_EAUTH);
    pair_close(&pr);

    /* A forged server: the client refuses it. */
    forged.cred.role = RZ_ROLE_NODE;
    assert_int_equal(rz_identity_issue(&fake, RZ_ROLE_NODE, "fake-node", 9,
                                       PAIR_FAR_FUTURE_MS, &forged, errmsg),
                     0);
    forged.cluster = fx.cluster.pub;
    start(&pr, &fx.role_ids[RZ_ROLE_AGENT], &forged, RZ_ROLES_ALL,
          PAIR_WALL_MS);
    pair_pump(&pr);
    assert_error_frame(&pr.client, RZ_EAUTH, RZ_SECURE_ERR_HANDSHAKE);
    assert_failed_silently(&pr.server, RZ_EAUTH);
    pair_close(&pr);

    /* A client of another cluster altogether is refused at hello. */
    foreign.cluster = fx.other.pub;
    start(&pr, &foreign, &fx.node1, RZ_ROLES_ALL, PAIR_WALL_MS);
    pair_pump(&pr);
    assert_error_frame(&pr.server, RZ_EAUTH, RZ_SECURE_ERR_HANDSHAKE);
    pair_close(&pr);
    rz_identity_wipe(&foreign);
    rz_identity_wipe(&forged);
}

static void test_expired_credential(void **state)
{
    char errmsg[RZ_ERRMSG_BYTES];
    rz_identity agent, node;
    pair pr;
    (void)state;
    assert_int_equal(rz_identity_issue(&fx.cluster, RZ_ROLE_AGENT, "old", 0,
                                       PAIR_WALL_MS - 1, &agent, errmsg),
                     0);
    assert_int_equal(rz_identity_issue(&fx.cluster, RZ_ROLE_NODE, "oldn", 3,
                                       PAIR_WALL_MS, &node, errmsg),
                     0);
    /* Expired client. */
    start(&pr, &agent, &fx.node1, RZ_ROLES_ALL, PAIR_WALL_MS);
    pair_pump(&pr);
    assert_error_frame(&pr.server, RZ_EEXPIRED, RZ_SECURE_ERR_HANDSHAKE);
    assert_failed_silently(&pr.client, RZ_EAUTH);
    pair_close(&pr);
    /* Valid up to and including its not-after instant. */
    start(&pr, &fx.role_ids[RZ_ROLE_AGENT], &node, RZ_ROLES_ALL, PAIR_WALL_MS);
    pair_pump(&pr);
    assert_int_equal(pr.client.established, 1);
    pair_close(&pr);
    /* Expired server, one millisecond later. */
    start(&pr, &fx.role_ids[RZ_ROLE_AGENT], &node, RZ_ROLES_ALL,
          PAIR_WALL_MS + 1);
    pair_pump(&pr);
    assert_error_frame(&pr.client, RZ_EEXPIRED, RZ_SECURE_ERR_HANDSHAKE);
    assert_failed_silently(&pr.server, RZ_EAUTH);
    pair_close(&pr);
}

static int deny_name_n2(void *data, const rz_credential *peer)
{
    int *calls = data;
    (*calls)++;
    return strcmp(peer->name, "n2") == 0 ? RZ_EDENIED : 0;
}

static int expect_node_2(void *data, const rz_credential *peer)
{
    (void)data;
    return peer->node_id == 2 ? 0 : RZ_EDENIED;
}

static void test_wrong_role(void **state)
{
    rz_secure_config cc, sc;
    int calls = 0;
    pair pr;
    (void)state;
    /* The raft port admits nodes only. */
    for (int r = RZ_ROLE_OPERATOR; r <= RZ_ROLE_MAX; r++) {
        start(&pr, &fx.role_ids[r], &fx.node1, RZ_ROLE_BIT(RZ_ROLE_NODE),
              PAIR_WALL_MS);
        pair_pump(&pr);
        assert_error_frame(&pr.server, RZ_EDENIED, RZ_SECURE_ERR_HANDSHAKE);
        assert_failed_silently(&pr.client, RZ_EAUTH);
        assert_int_equal(pr.server.established, 0);
        pair_close(&pr);
    }
    /* The client listener refuses nodes posing as clients. */
    start(&pr, &fx.node2, &fx.node1, RZ_ROLES_CLIENTS, PAIR_WALL_MS);
    pair_pump(&pr);
    assert_error_frame(&pr.server, RZ_EDENIED, RZ_SECURE_ERR_HANDSHAKE);
    pair_close(&pr);
    /* A client expecting a node refuses a server with another role. */
    start(&pr, &fx.role_ids[RZ_ROLE_AGENT], &fx.role_ids[RZ_ROLE_OPERATOR],
          RZ_ROLES_ALL, PAIR_WALL_MS);
    pair_pump(&pr);
    assert_error_frame(&pr.client, RZ_EDENIED, RZ_SECURE_ERR_HANDSHAKE);
    assert_failed_silently(&pr.server, RZ_EAUTH);
    pair_close(&pr);
    /* The policy hook sees verified credentials and can refuse. */
    pair_cfg(&cc, &fx.node2, RZ_ROLE_BIT(RZ_ROLE_NODE), 0);
    pair_cfg(&sc, &fx.node1, RZ_ROLE_BIT(RZ_ROLE_NODE), 0);
    sc.policy = deny_name_n2;
    sc.policy_data = &calls;
    pair_init(&pr, &cc, &sc, PAIR_WALL_MS);
    pair_pump(&pr);
    assert_int_equal(calls, 1);
    assert_error_frame(&pr.server, RZ_EDENIED, RZ_SECURE_ERR_HANDSHAKE);
    pair_close(&pr);
    cc.id = &fx.role_ids[RZ_ROLE_NODE];
    pair_init(&pr, &cc, &sc, PAIR_WALL_MS);
    pair_pump(&pr);
    assert_int_equal(calls, 2);
    assert_int_equal(pr.server.established, 1);
    pair_close(&pr);
    /* A node dialing what it believes is node 2 reaches node n1: refused. */
    sc.policy = NULL;
    sc.id = &fx.node1;
    cc.id = &fx.role_ids[RZ_ROLE_NODE];
    cc.policy = expect_node_2;
    pair_init(&pr, &cc, &sc, PAIR_WALL_MS);
    pair_pump(&pr);
    assert_error_frame(&pr.client, RZ_EDENIED, RZ_SECURE_ERR_HANDSHAKE);
    assert_failed_silently(&pr.server, RZ_EAUTH);
    pair_close(&pr);
    sc.id = &fx.node2;
    pair_init(&pr, &cc, &sc, PAIR_WALL_MS);
    pair_pump(&pr);
    assert_int_equal(pr.client.established, 1);
    assert_int_equal(rz_secure_peer(&pr.client.c)->node_id, 2);
    pair_close(&pr);
}

/* ---- Bit flips ---- */

typedef struct flip
{
    size_t transfer; /* which transfer to alter */
    size_t bit;      /* which bit of it */
    size_t len;      /* out: bytes of that transfer */
    bool hit;
} flip;

static void flip_mutate(void *data, size_t k, uint8_t *p, size_t *n)
{
    flip *f = data;
    if (k != f->transfer) {
        return;
    }
    f->len = *n;
    if (f->bit / 8 < *n) {
        p[f->bit / 8] ^= (uint8_t)(1u << (f->bit % 8));
        f->hit = true;
    }
}

/* Both sides end failed; neither delivered a frame; the client never
 * established; every side that failed on its own sent one error frame. */
static void assert_flip_failed(pair *pr)
{
    side *sides[2] = {&pr->client, &pr->server};
    if (pr->client.rv == 0 && pr->server.rv == 0) {
        /* A flipped length left a side waiting for bytes that never come:
         * the handshake deadline drops whoever is still in the handshake
         * (a server that already finished hears the client's error). */
        assert_int_equal(rz_secure_tick(&pr->client.c, PAIR_NOW_MS + 1), 0);
        for (int i = 0; i < 2; i++) {
            int rv = rz_secure_tick(
                &sides[i]->c, PAIR_NOW_MS + RZ_SECURE_HANDSHAKE_TIMEOUT_MS);
            if (rv != 0) {
                side_note_fail(sides[i], rv);
                assert_error_frame(sides[i], RZ_ETIMEDOUT,
                                   RZ_SECURE_ERR_TIMEOUT);
            }
        }
        assert_true(pr->client.rv == RZ_ETIMEDOUT);
    }
    pair_pump(pr);
    assert_int_equal(pr->client.established, 0);
    for (int i = 0; i < 2; i++) {
        side *s = sides[i];
        assert_true(s->rv < 0);
        assert_int_equal(s->n_frames, 0);
        assert_true(s->fail_out_len == 0 ||
                    s->fail_out_len == RZ_SECURE_ERROR_FRAME_BYTES);
        if (s->fail_out_len > 0) {
            assert_memory_equal(s->fail_out, expected_error_frame_prefix, 5);
        }
    }
    /* At least one side detected the flip itself. */
    assert_true(pr->client.fail_out_len + pr->server.fail_out_len > 0);
}

static void test_handshake_bit_flips(void **state)
{
    size_t total = 0;
    (void)state;
    /* Transfers 0..3 are HELLO, SERVER_AUTH, CLIENT_AUTH, SERVER_DONE. */
    for (size_t m = 0; m < 4; m++) {
        for (size_t bit = 0;; bit++) {
            flip f = {m, bit, 0, false};
            pair pr;
            start(&pr, &fx.role_ids[RZ_ROLE_AGENT], &fx.node1, RZ_ROLES_ALL,
                  PAIR_WALL_MS);
            pr.mutate = flip_mutate;
            pr.mutate_data = &f;
            pair_pump(&pr);
            if (!f.hit) {
                assert_true(f.len > 0);
                assert_int_equal(bit, f.len * 8);
                pair_close(&pr);
                break;
            }
            assert_flip_failed(&pr);
            pair_close(&pr);
            total++;
        }
    }
    /* Four messages of at least 46 bytes each were all covered. */
    assert_true(total >= 4 * 46 * 8);
}

/* Flips every bit of the first two data frames. */
static void test_frame_bit_flips(void **state)
{
    (void)state;
    for (size_t bit = 0;; bit++) {
        flip f = {4, bit, 0, false};
        size_t expect;
        pair pr;
        start(&pr, &fx.role_ids[RZ_ROLE_PORTAL], &fx.node1, RZ_ROLES_ALL,
              PAIR_WALL_MS);
        pair_pump(&pr);
        assert_int_equal(pr.client.established, 1);
        pr.mutate = flip_mutate;
        pr.mutate_data = &f;
        send_frame(&pr.client, "frame one", 9);
        send_frame(&pr.client, "2", 1);
        pair_pump(&pr);
        if (!f.hit) {
            assert_int_equal(bit, f.len * 8);
            pair_close(&pr);
            break;
        }
        /* Either the frame failed authentication (or its length did not
         * fit), or a grown length left the server waiting for more. Only a
         * frame wholly before the flipped bit is delivered. */
        expect = bit / 8 < RZ_SECURE_FRAME_BYTES(9) ? 0 : 1;
        if (pr.server.rv == 0) {
            assert_int_equal(pr.server.n_frames, expect);
            assert_int_equal(rz_secure_eof(&pr.server.c), RZ_EPROTO);
            side_note_fail(&pr.server, RZ_EPROTO);
        }
        assert_int_equal(pr.server.n_frames, expect);
        if (expect == 1) {
            assert_true(pr.server.frame_hash[0] == rz_hash64("frame one", 9));
        }
        assert_int_equal(pr.server.fail_out_len, RZ_SECURE_ERROR_FRAME_BYTES);
        assert_memory_equal(pr.server.fail_out, expected_error_frame_prefix, 5);
        pair_close(&pr);
    }
}

/* ---- Replays ---- */

typedef struct recorder
{
    uint8_t msg[4][RZ_SECURE_HANDSHAKE_MSG_MAX_BYTES + 4];
    size_t len[4];
} recorder;

static void record_mutate(void *data, size_t k, uint8_t *p, size_t *n)
{
    recorder *r = data;
    if (k < 4 && *n <= sizeof(r->msg[0])) {
        memcpy(r->msg[k], p, *n);
        r->len[k] = *n;
    }
}

static void test_replayed_handshake(void **state)
{
    recorder rec;
    pair pr, again;
    (void)state;
    memset(&rec, 0, sizeof(rec));
    start(&pr, &fx.role_ids[RZ_ROLE_OPERATOR], &fx.node1, RZ_ROLES_ALL,
          PAIR_WALL_MS);
    pr.mutate = record_mutate;
    pr.mutate_data = &rec;
    pair_pump(&pr);
    assert_int_equal(pr.server.established, 1);
    pair_close(&pr);

    /* The client's messages replayed to a fresh server: its new ephemeral
     * key changes the transcript, so the old signature does not verify. */
    start(&again, &fx.role_ids[RZ_ROLE_OPERATOR], &fx.node1, RZ_ROLES_ALL,
          PAIR_WALL_MS);
    side_feed(&again.server, rec.msg[0], rec.len[0]);
    assert_int_equal(again.server.rv, 0);
    rz_secure_out_consume(&again.server.c,
                          again.server.c.out.len - again.server.c.out_pos);
    side_feed(&again.server, rec.msg[2], rec.len[2]);
    assert_error_frame(&again.server, RZ_EAUTH, RZ_SECURE_ERR_HANDSHAKE);
    assert_int_equal(again.server.established, 0);
    pair_close(&again);

    /* The server's messages replayed to a fresh client. */
    start(&again, &fx.role_ids[RZ_ROLE_OPERATOR], &fx.node1, RZ_ROLES_ALL,
          PAIR_WALL_MS);
    rz_secure_out_consume(&again.client.c,
                          again.client.c.out.len - again.client.c.out_pos);
    side_feed(&again.client, rec.msg[1], rec.len[1]);
    assert_error_frame(&again.client, RZ_EAUTH, RZ_SECURE_ERR_HANDSHAKE);
    side_feed(&again.client, rec.msg[3], rec.len[3]);
    assert_int_equal(again.client.established, 0);
    pair_close(&again);

    /* The whole recorded client side, in one go, to a fresh server. */
    start(&again, &fx.role_ids[RZ_ROLE_OPERATOR], &fx.node1, RZ_ROLES_ALL,
          PAIR_WALL_MS);
    {
        uint8_t both[2 * sizeof(rec.msg[0])];
        memcpy(both, rec.msg[0], rec.len[0]);
        memcpy(both + rec.len[0], rec.msg[2], rec.len[2]);
        side_feed(&again.server, both, rec.len[0] + rec.len[2]);
    }
    assert_int_equal(again.server.rv, RZ_EAUTH);
    assert_int_equal(again.server.established, 0);
    pair_close(&again);
}

/* Captures the client's bytes after the handshake instead of delivering. */
typedef struct capture
{
    uint8_t bytes[8192];
    size_t len;
    size_t cuts[16]; /* offsets where each sent frame ends */
    size_t n_cuts;
} capture;

static void take_client_out(pair *pr, capture *cap)
{
    size_t n = 0;
    const uint8_t *p = rz_secure_out(&pr->client.c, &n);
    assert_true(cap->len + n <= sizeof(cap->bytes));
    memcpy(cap->bytes + cap->len, p, n);
    cap->len += n;
    cap->cuts[cap->n_cuts++] = cap->len;
    rz_secure_out_consume(&pr->client.c, n);
}

static void established_pair(pair *pr)
{
    start(pr, &fx.role_ids[RZ_ROLE_AGENT], &fx.node1, RZ_ROLES_ALL,
          PAIR_WALL_MS);
    pair_pump(pr);
    assert_int_equal(pr->server.established, 1);
    assert_int_equal(pr->client.established, 1);
}

static void test_replayed_and_reordered_frames(void **state)
{
    capture cap;
    pair pr;
    size_t f1, f2, f3;
    (void)state;
    memset(&cap, 0, sizeof(cap));
    established_pair(&pr);
    send_frame(&pr.client, "first", 5);
    take_client_out(&pr, &cap);
    send_frame(&pr.client, "second", 6);
    take_client_out(&pr, &cap);
    send_frame(&pr.client, "third", 5);
    take_client_out(&pr, &cap);
    f1 = cap.cuts[0];
    f2 = cap.cuts[1] - cap.cuts[0];
    f3 = cap.cuts[2] - cap.cuts[1];

    /* Replay: the first frame twice. */
    side_feed(&pr.server, cap.bytes, f1);
    assert_int_equal(pr.server.n_frames, 1);
    side_feed(&pr.server, cap.bytes, f1);
    assert_error_frame(&pr.server, RZ_EPROTO, RZ_SECURE_ERR_STREAM);
    assert_int_equal(pr.server.n_frames, 1);
    pair_close(&pr);

    /* Reorder: the second frame first (same keys: recapture). */
    memset(&cap, 0, sizeof(cap));
    established_pair(&pr);
    send_frame(&pr.client, "first", 5);
    take_client_out(&pr, &cap);
    send_frame(&pr.client, "second", 6);
    take_client_out(&pr, &cap);
    side_feed(&pr.server, cap.bytes + cap.cuts[0], f2);
    assert_error_frame(&pr.server, RZ_EPROTO, RZ_SECURE_ERR_STREAM);
    assert_int_equal(pr.server.n_frames, 0);
    pair_close(&pr);

    /* A dropped frame: first then third. */
    memset(&cap, 0, sizeof(cap));
    established_pair(&pr);
    send_frame(&pr.client, "first", 5);
    take_client_out(&pr, &cap);
    send_frame(&pr.client, "second", 6);
    take_client_out(&pr, &cap);
    send_frame(&pr.client, "third", 5);
    take_client_out(&pr, &cap);
    side_feed(&pr.server, cap.bytes, f1);
    side_feed(&pr.server, cap.bytes + cap.cuts[1], f3);
    assert_error_frame(&pr.server, RZ_EPROTO, RZ_SECURE_ERR_STREAM);
    assert_int_equal(pr.server.n_frames, 1);
    /* The client hears the error frame and stops too. */
    pair_pump(&pr);
    assert_failed_silently(&pr.client, RZ_EPROTO);
    assert_int_equal(rz_secure_send(&pr.client.c, "x", 1), RZ_EPROTO);
    pair_close(&pr);
}

/* The stream cut at every byte of the first frames (and of the handshake):
 * the receiver sees exactly the whole frames before the cut, then the
 * truncation as an error. */
static void test_truncated_stream(void **state)
{
    static const size_t sizes[] = {10, 0, 300, 1};
    capture cap;
    (void)state;
    memset(&cap, 0, sizeof(cap));
    {
        pair pr;
        established_pair(&pr);
        for (size_t i = 0; i < RZ_ARRAY_LEN(sizes); i++) {
            uint8_t buf[300];
            memset(buf, (int)i + 1, sizeof(buf));
            send_frame(&pr.client, buf, sizes[i]);
            take_client_out(&pr, &cap);
        }
        assert_int_equal(rz_secure_close(&pr.client.c), 0);
        take_client_out(&pr, &cap);
        pair_close(&pr);
    }
    for (size_t k = 0; k <= cap.len; k++) {
        /* Fresh keys each time: re-send the same frames on a new pair. */
        pair pr;
        capture again;
        size_t whole = 0;
        memset(&again, 0, sizeof(again));
        established_pair(&pr);
        for (size_t i = 0; i < RZ_ARRAY_LEN(sizes); i++) {
            uint8_t buf[300];
            memset(buf, (int)i + 1, sizeof(buf));
            send_frame(&pr.client, buf, sizes[i]);
            take_client_out(&pr, &again);
        }
        assert_int_equal(rz_secure_close(&pr.client.c), 0);
        take_client_out(&pr, &again);
        assert_int_equal(again.len, cap.len);
        side_feed(&pr.server, again.bytes, k);
        while (whole < RZ_ARRAY_LEN(sizes) && again.cuts[whole] <= k) {
            whole++;
        }
        assert_int_equal(pr.server.n_frames, whole);
        for (size_t i = 0; i < whole; i++) {
            assert_int_equal(pr.server.frame_len[i], sizes[i]);
        }
        if (k == cap.len) {
            assert_int_equal(pr.server.closed, 1);
            assert_int_equal(rz_secure_eof(&pr.server.c), 0);
        } else {
            int rv = rz_secure_eof(&pr.server.c);
            assert_int_equal(rv, RZ_EPROTO);
            side_note_fail(&pr.server, rv);
            assert_error_frame(&pr.server, RZ_EPROTO, RZ_SECURE_ERR_STREAM);
            assert_int_equal(pr.server.closed, 0);
        }
        pair_close(&pr);
    }
}

typedef struct cut
{
    size_t transfer;
    size_t keep;
    bool hit;
} cut;

static void cut_mutate(void *data, size_t k, uint8_t *p, size_t *n)
{
    cut *c = data;
    (void)p;
    if (k == c->transfer && c->keep < *n) {
        *n = c->keep;
        c->hit = true;
    } else if (k > c->transfer) {
        *n = 0; /* the connection is gone after the cut */
    }
}

static void test_truncated_handshake(void **state)
{
    (void)state;
    for (size_t m = 0; m < 4; m++) {
        for (size_t keep = 0;; keep++) {
            cut c = {m, keep, false};
            pair pr;
            side *receiver;
            int rv;
            start(&pr, &fx.role_ids[RZ_ROLE_AUDITOR], &fx.node1, RZ_ROLES_ALL,
                  PAIR_WALL_MS);
            pr.mutate = cut_mutate;
            pr.mutate_data = &c;
            pair_pump(&pr);
            if (!c.hit) {
                pair_close(&pr);
                break;
            }
            receiver = (m % 2 == 0) ? &pr.server : &pr.client;
            assert_int_equal(receiver->rv, 0);
            rv = rz_secure_eof(&receiver->c);
            side_note_fail(receiver, rv);
            assert_error_frame(receiver, RZ_EPROTO, RZ_SECURE_ERR_STREAM);
            assert_int_equal(pr.client.established, 0);
            pair_close(&pr);
        }
    }
}

static void test_oversize_frame(void **state)
{
    rz_secure_config cc, sc;
    uint8_t big[2048];
    uint8_t hdr[4];
    pair pr;
    size_t n = 0;
    (void)state;
    memset(big, 'x', sizeof(big));
    pair_cfg(&cc, &fx.role_ids[RZ_ROLE_AGENT], RZ_ROLE_BIT(RZ_ROLE_NODE), 4096);
    pair_cfg(&sc, &fx.node1, RZ_ROLES_ALL, 1024);
    pair_init(&pr, &cc, &sc, PAIR_WALL_MS);
    pair_pump(&pr);
    assert_int_equal(pr.server.established, 1);
    /* The server's own limit stops its sends. */
    assert_int_equal(rz_secure_send(&pr.server.c, big, 1025), RZ_ETOOBIG);
    assert_null(rz_secure_out(&pr.server.c, &n));
    send_frame(&pr.client, big, 1024);
    pair_pump(&pr);
    assert_int_equal(pr.server.n_frames, 1);
    /* 1025 bytes: refused from the length prefix alone, before the payload
     * is buffered. */
    send_frame(&pr.client, big, 1025);
    {
        const uint8_t *p = rz_secure_out(&pr.client.c, &n);
        assert_int_equal(n, RZ_SECURE_FRAME_BYTES(1025));
        memcpy(hdr, p, 4);
        rz_secure_out_consume(&pr.client.c, n);
    }
    side_feed(&pr.server, hdr, 4);
    assert_error_frame(&pr.server, RZ_ETOOBIG, RZ_SECURE_ERR_TOOBIG);
    assert_int_equal(pr.server.n_frames, 1);
    pair_pump(&pr);
    assert_failed_silently(&pr.client, RZ_ETOOBIG);
    pair_close(&pr);

    /* During the handshake a message over its limit is dropped too. */
    start(&pr, &fx.role_ids[RZ_ROLE_AGENT], &fx.node1, RZ_ROLES_ALL,
          PAIR_WALL_MS);
    rz_put_be32(hdr, RZ_SECURE_HANDSHAKE_MSG_MAX_BYTES + 1);
    side_feed(&pr.server, hdr, 4);
    assert_error_frame(&pr.server, RZ_ETOOBIG, RZ_SECURE_ERR_TOOBIG);
    pair_close(&pr);
}

static void test_handshake_timeout(void **state)
{
    pair pr;
    (void)state;
    start(&pr, &fx.role_ids[RZ_ROLE_AGENT], &fx.node1, RZ_ROLES_ALL,
          PAIR_WALL_MS);
    /* Only the hello arrives; the client stalls. */
    pair_transfer(&pr, &pr.client, &pr.server);
    assert_int_equal(
        rz_secure_tick(&pr.server.c,
                       PAIR_NOW_MS + RZ_SECURE_HANDSHAKE_TIMEOUT_MS - 1),
        0);
    rz_secure_out_consume(&pr.server.c,
                          pr.server.c.out.len - pr.server.c.out_pos);
    side_note_fail(
        &pr.server,
        rz_secure_tick(&pr.server.c,
                       PAIR_NOW_MS + RZ_SECURE_HANDSHAKE_TIMEOUT_MS));
    assert_error_frame(&pr.server, RZ_ETIMEDOUT, RZ_SECURE_ERR_TIMEOUT);
    /* Once established, the clock no longer matters. */
    pair_close(&pr);
    established_pair(&pr);
    assert_int_equal(rz_secure_tick(&pr.server.c, UINT64_MAX), 0);
    pair_close(&pr);
}

static void test_rekey_and_long_stream(void **state)
{
    pair pr;
    const size_t n = 2 * RZ_SECURE_REKEY_FRAMES + 3;
    (void)state;
    established_pair(&pr);
    for (size_t i = 0; i < n; i++) {
        uint8_t b[8];
        rz_put_be64(b, i);
        send_frame(&pr.client, b, sizeof(b));
        if (i % 64 == 63) {
            pair_pump(&pr);
        }
    }
    pair_pump(&pr);
    assert_int_equal(pr.server.rv, 0);
    assert_int_equal(pr.server.n_frames, n);
    for (size_t i = 0; i < PAIR_MAX_FRAMES; i++) {
        uint8_t b[8];
        rz_put_be64(b, i);
        assert_true(pr.server.frame_hash[i] == rz_hash64(b, sizeof(b)));
    }
    pair_close(&pr);
}

static void test_bytes_after_final_and_bad_use(void **state)
{
    rz_secure_config cfg;
    rz_secure_conn c;
    pair pr;
    (void)state;
    established_pair(&pr);
    assert_int_equal(rz_secure_close(&pr.client.c), 0);
    assert_int_equal(rz_secure_close(&pr.client.c), RZ_EPROTO);
    pair_pump(&pr);
    assert_int_equal(pr.server.closed, 1);
    /* A frame after the final one, sealed by a second sender with the same
     * stream cannot exist; any bytes at all are a protocol error. */
    {
        uint8_t junk[4 + RZ_STREAM_ABYTES] = {0, 0, 0, RZ_STREAM_ABYTES};
        side_feed(&pr.server, junk, sizeof(junk));
        assert_error_frame(&pr.server, RZ_EPROTO, RZ_SECURE_ERR_STREAM);
    }
    pair_close(&pr);
    /* Sends before the handshake are refused; so is a bad config. */
    start(&pr, &fx.role_ids[RZ_ROLE_AGENT], &fx.node1, RZ_ROLES_ALL,
          PAIR_WALL_MS);
    assert_int_equal(rz_secure_send(&pr.client.c, "x", 1), RZ_EPROTO);
    pair_close(&pr);
    pair_cfg(&cfg, &fx.node1, 0, 0);
    assert_int_equal(rz_secure_conn_init(&c, &cfg, false, 0, 0), RZ_EINVAL);
    pair_cfg(&cfg, &fx.node1, RZ_ROLES_ALL, RZ_PEER_FRAME_MAX_BYTES + 1);
    assert_int_equal(rz_secure_conn_init(&c, &cfg, false, 0, 0), RZ_EINVAL);
    pair_cfg(&cfg, NULL, RZ_ROLES_ALL, 0);
    assert_int_equal(rz_secure_conn_init(&c, &cfg, false, 0, 0), RZ_EINVAL);
}

/* An error frame from the peer ends the connection without an answer. */
static void test_error_frame_from_peer(void **state)
{
    static const uint8_t e[] = {0, 0, 0, 2, 0xEE, RZ_SECURE_ERR_TIMEOUT};
    static const uint8_t unknown[] = {0, 0, 0, 2, 0xEE, 0x77};
    pair pr;
    (void)state;
    established_pair(&pr);
    side_feed(&pr.client, e, sizeof(e));
    assert_failed_silently(&pr.client, RZ_ETIMEDOUT);
    side_feed(&pr.server, unknown, sizeof(unknown));
    assert_failed_silently(&pr.server, RZ_EPROTO);
    pair_close(&pr);
}

static void test_envelope(void **state)
{
    uint8_t rid[RZ_REQUEST_ID_BYTES];
    rz_envelope e;
    rz_buf body, b;
    (void)state;
    for (size_t i = 0; i < sizeof(rid); i++) {
        rid[i] = (uint8_t)(i * 7);
    }
    rz_buf_init(&body, 1024);
    rz_mp_put_map(&body, 1);
    rz_mp_put_cstr(&body, "case_id");
    rz_mp_put_uint(&body, 135285);
    rz_buf_init(&b, 4096);
    rz_envelope_encode(&b, 7, rid, body.data, body.len);
    assert_int_equal(b.err, 0);
    assert_int_equal(rz_envelope_decode(b.data, b.len, NULL, &e), 0);
    assert_int_equal(e.type, 7);
    assert_memory_equal(e.request_id, rid, sizeof(rid));
    assert_int_equal(e.body_len, body.len);
    assert_memory_equal(e.body, body.data, body.len);
    /* Every strict prefix and a trailing byte are malformed. */
    for (size_t k = 0; k < b.len; k++) {
        assert_int_equal(rz_envelope_decode(b.data, k, NULL, &e),
                         RZ_EMALFORMED);
    }
    rz_buf_append(&b, "\xc0", 1);
    assert_int_equal(rz_envelope_decode(b.data, b.len, NULL, &e),
                     RZ_EMALFORMED);

    /* Wrong shapes. */
    {
        static const struct
        {
            const char *bytes;
            size_t len;
        } bad[] = {
            {"\x92\x01\xc4\x00", 4},         /* two elements */
            {"\x93\x00\xc4\x10", 4},         /* truncated */
            {"\x93\xa1x\xc0\xc0", 5},        /* type is a string */
            {"\x93\x01\xc4\x01\x00\xc0", 6}, /* request id of 1 byte */
            {"\xdd\x10\x00\x00\x00\x01", 6}, /* 268M elements announced */
            {"\x80", 1},                     /* a map */
        };
        for (size_t i = 0; i < RZ_ARRAY_LEN(bad); i++) {
            assert_int_equal(
                rz_envelope_decode(bad[i].bytes, bad[i].len, NULL, &e),
                RZ_EMALFORMED);
        }
    }
    /* Type 0 is not a message. */
    rz_buf_reset(&b);
    rz_envelope_encode(&b, 0, rid, "\xc0", 1);
    assert_int_equal(rz_envelope_decode(b.data, b.len, NULL, &e),
                     RZ_EMALFORMED);
    rz_buf_close(&b);
    rz_buf_close(&body);
}

static void counter_random(void *data, void *p, size_t n)
{
    uint8_t *seed = data;
    memset(p, *seed, n);
}

/* A seeded random source makes the ephemeral key (and so the HELLO)
 * reproducible, as a deterministic simulator needs. */
static void test_seeded_ephemerals(void **state)
{
    rz_secure_config cfg;
    rz_secure_conn a, b;
    uint8_t seed_a = 1, seed_b = 2;
    uint8_t hello_a[64];
    size_t na = 0, nb = 0;
    const uint8_t *p;
    (void)state;
    pair_cfg(&cfg, &fx.role_ids[RZ_ROLE_AGENT], RZ_ROLE_BIT(RZ_ROLE_NODE), 0);
    cfg.random = counter_random;
    cfg.random_data = &seed_a;
    assert_int_equal(rz_secure_conn_init(&a, &cfg, true, 0, PAIR_WALL_MS), 0);
    p = rz_secure_out(&a, &na);
    assert_int_equal(na, 4 + 50);
    memcpy(hello_a, p, na);
    rz_secure_conn_close(&a);
    assert_int_equal(rz_secure_conn_init(&a, &cfg, true, 0, PAIR_WALL_MS), 0);
    p = rz_secure_out(&a, &na);
    assert_memory_equal(p, hello_a, na);
    cfg.random_data = &seed_b;
    assert_int_equal(rz_secure_conn_init(&b, &cfg, true, 0, PAIR_WALL_MS), 0);
    p = rz_secure_out(&b, &nb);
    assert_int_equal(nb, na);
    assert_memory_not_equal(p, hello_a, na);
    rz_secure_conn_close(&a);
    rz_secure_conn_close(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_handshake_every_role),
        cmocka_unit_test(test_peer_port_node_to_node),
        cmocka_unit_test(test_foreign_credential),
        cmocka_unit_test(test_expired_credential),
        cmocka_unit_test(test_wrong_role),
        cmocka_unit_test(test_handshake_bit_flips),
        cmocka_unit_test(test_frame_bit_flips),
        cmocka_unit_test(test_replayed_handshake),
        cmocka_unit_test(test_replayed_and_reordered_frames),
        cmocka_unit_test(test_truncated_stream),
        cmocka_unit_test(test_truncated_handshake),
        cmocka_unit_test(test_oversize_frame),
        cmocka_unit_test(test_handshake_timeout),
        cmocka_unit_test(test_rekey_and_long_stream),
        cmocka_unit_test(test_bytes_after_final_and_bad_use),
        cmocka_unit_test(test_error_frame_from_peer),
        cmocka_unit_test(test_envelope),
        cmocka_unit_test(test_seeded_ephemerals),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
