/* Tests of the peer transport (node/peer.h) over real TCP on 127.0.0.1, all
 * nets on one loop in this process (ports 16100-16199): frames both ways
 * between three nets, a listener that starts late, a restarted peer, an
 * operator credential on the peer port, a peer that names the wrong id, an
 * address change, the queue bound, the inbound connection bound, bad
 * arguments, and closing with frames queued everywhere (the ASan build
 * checks that everything is freed). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/common.h"
#include "common/secure.h"
#include "node/peer.h"

#define FAR_FUTURE_MS 4102444800000ull
#define MAX_ID 4u

static rz_cluster_key cluster;
static rz_identity ids[MAX_ID]; /* node identities 1..3 */
static rz_identity operator_id;

/* One transport under test and what it received. */
typedef struct tnode
{
    rz_peer_net *net;
    rz_transport t;
    const rz_identity *id;
    char listen[32];
    uint64_t got[MAX_ID];      /* frames received from node id i */
    uint64_t last_seq[MAX_ID]; /* seq of the last one, + 1 (0: none yet) */
    uint64_t sent[MAX_ID];     /* frames sent to node id i (their seq) */
    bool order_ok;
    bool closed;
} tnode;

typedef struct world
{
    uv_loop_t loop;
    uv_timer_t wake;
} world;

static void on_wake(uv_timer_t *t)
{
    (void)t;
}

static int world_setup(void **state)
{
    world *w = calloc(1, sizeof(*w));
    assert_non_null(w);
    assert_int_equal(uv_loop_init(&w->loop), 0);
    /* Keeps the loop turning so that run_until sees the clock move. */
    uv_timer_init(&w->loop, &w->wake);
    uv_timer_start(&w->wake, on_wake, 5, 5);
    *state = w;
    return 0;
}

static int world_teardown(void **state)
{
    world *w = *state;
    uint64_t deadline = rz_mono_ms() + 3000;
    uv_close((uv_handle_t *)&w->wake, NULL);
    /* Requests still in flight (a name resolution) finish in the thread
     * pool; wait for them, boundedly. */
    while (uv_run(&w->loop, UV_RUN_NOWAIT) != 0 && rz_mono_ms() < deadline) {
        usleep(1000);
    }
    /* Every handle of every net is closed: nothing leaked on the loop. */
    assert_int_equal(uv_loop_close(&w->loop), 0);
    free(w);
    return 0;
}

typedef bool (*pred_fn)(void *arg);

/* Runs the loop until pred holds or timeout_ms passes; returns pred. */
static bool run_until(world *w, pred_fn pred, void *arg, uint64_t timeout_ms)
{
    uint64_t deadline;
    uv_update_time(&w->loop);
    deadline = uv_now(&w->loop) + timeout_ms;
    while (!pred(arg) && uv_now(&w->loop) < deadline) {
        uv_run(&w->loop, UV_RUN_ONCE);
    }
    return pred(arg);
}

static bool never(void *arg)
{
    (void)arg;
    return false;
}

static void run_for(world *w, uint64_t ms)
{
    (void)run_until(w, never, NULL, ms);
}

static void on_frame(void *arg, uint64_t from_id, const void *frame, size_t len)
{
    tnode *n = arg;
    const uint8_t *p = frame;
    uint64_t claimed, seq;
    if (from_id == 0 || from_id >= MAX_ID || len < 16) {
        n->order_ok = false;
        return;
    }
    claimed = rz_get_be64(p);
    seq = rz_get_be64(p + 8);
    /* The authenticated id is the sender's; frames of one sender arrive in
     * order, whole. */
    if (claimed != from_id || seq + 1 <= n->last_seq[from_id] ||
        p[len - 1] != (uint8_t)(seq * 7u)) {
        n->order_ok = false;
    }
    n->last_seq[from_id] = seq + 1;
    n->got[from_id]++;
}

static uint32_t next_idle_ms;            /* idle_ms of the next node_start */
static uint32_t next_connect_timeout_ms; /* and its connect_timeout_ms */

static int node_start(world *w, tnode *n, uint64_t id, uint16_t port)
{
    rz_peer_options opts;
    char errmsg[RZ_ERRMSG_BYTES] = "";
    int rv;
    memset(n->got, 0, sizeof(n->got));
    memset(n->last_seq, 0, sizeof(n->last_seq));
    n->order_ok = true;
    n->closed = false;
    n->id = &ids[id];
    snprintf(n->listen, sizeof(n->listen), "127.0.0.1:%u", (unsigned)port);
    memset(&opts, 0, sizeof(opts));
    opts.identity = n->id;
    opts.listen = n->listen;
    opts.on_frame = on_frame;
    opts.arg = n;
    opts.idle_ms = next_idle_ms;
    opts.connect_timeout_ms = next_connect_timeout_ms;
    next_idle_ms = 0;
    next_connect_timeout_ms = 0;
    rv = rz_peer_net_start(&w->loop, &opts, &n->net, errmsg);
    if (rv != 0) {
        print_message("start %s: %s\n", n->listen, errmsg);
        return rv;
    }
    rz_peer_net_transport(n->net, &n->t);
    return 0;
}

static void on_net_closed(void *arg)
{
    tnode *n = arg;
    n->closed = true;
}

static bool node_is_closed(void *arg)
{
    return ((tnode *)arg)->closed;
}

static void node_close(world *w, tnode *n)
{
    rz_peer_net_close(n->net, on_net_closed, n);
    assert_true(run_until(w, node_is_closed, n, 5000));
    n->net = NULL;
}

/* Sends k frames of `bytes` (>= 16) from n to node `to` at `address`. */
static int send_frames(tnode *n, uint64_t to, const char *address, int k,
                       size_t bytes)
{
    uint8_t *buf = calloc(1, bytes);
    int rv = 0;
    assert_non_null(buf);
    assert_true(bytes >= 16 && to < MAX_ID);
    for (int i = 0; i < k && rv == 0; i++) {
        uint64_t seq = n->sent[to];
        rz_put_be64(buf, n->id->cred.node_id);
        rz_put_be64(buf + 8, seq);
        buf[bytes - 1] = (uint8_t)(seq * 7u);
        rv = n->t.send(n->t.data, to, address, buf, bytes);
        if (rv == 0) {
            n->sent[to]++;
        }
    }
    free(buf);
    return rv;
}

static rz_peer_stats stats_of(const tnode *n)
{
    rz_peer_stats s;
    rz_peer_net_stats(n->net, &s);
    return s;
}

/* ---------------------------------------------------------------------------
 * Three nets exchange frames both ways
 * ------------------------------------------------------------------------ */

#define EXCHANGE_FRAMES 60

typedef struct trio
{
    tnode n[MAX_ID];
    uint64_t want;
} trio;

static bool trio_done(void *arg)
{
    trio *t = arg;
    for (uint64_t i = 1; i <= 3; i++) {
        for (uint64_t j = 1; j <= 3; j++) {
            if (i != j && t->n[i].got[j] < t->want) {
                return false;
            }
        }
    }
    return true;
}

static void test_exchange_three(void **state)
{
    world *w = *state;
    static trio t;
    char addr[MAX_ID][64];
    memset(&t, 0, sizeof(t));
    for (uint64_t i = 1; i <= 3; i++) {
        assert_int_equal(node_start(w, &t.n[i], i, (uint16_t)(16100 + i)), 0);
        /* The configuration form: peer part before '/'. */
        snprintf(addr[i], sizeof(addr[i]), "127.0.0.1:%u/127.0.0.1:%u",
                 (unsigned)(16100 + i), (unsigned)(17990 + i));
    }
    /* Mixed sizes, including frames far larger than a socket read, so
     * frames are split and joined by the transport. */
    for (int round = 0; round < EXCHANGE_FRAMES; round++) {
        size_t bytes = round % 10 == 9 ? 300000u : 16u + (size_t)round * 37u;
        for (uint64_t i = 1; i <= 3; i++) {
            for (uint64_t j = 1; j <= 3; j++) {
                if (i != j) {
                    assert_int_equal(send_frames(&t.n[i], j, addr[j], 1, bytes),
                                     0);
                }
            }
        }
    }
    t.want = EXCHANGE_FRAMES;
    assert_true(run_until(w, trio_done, &t, 5000));
    run_for(w, 50); /* nothing more, nothing twice */
    for (uint64_t i = 1; i <= 3; i++) {
        rz_peer_stats s = stats_of(&t.n[i]);
        assert_true(t.n[i].order_ok);
        for (uint64_t j = 1; j <= 3; j++) {
            assert_int_equal(t.n[i].got[j], i == j ? 0 : EXCHANGE_FRAMES);
            if (i != j) {
                assert_true(rz_peer_net_connected(t.n[i].net, j));
            }
        }
        assert_int_equal(s.frames_sent, 2 * EXCHANGE_FRAMES);
        assert_int_equal(s.frames_received, 2 * EXCHANGE_FRAMES);
        assert_int_equal(s.frames_dropped, 0);
        assert_int_equal(s.connects, 2);
        assert_int_equal(s.disconnects, 0);
        assert_int_equal(s.peers_connected, 2);
        assert_int_equal(s.refused, 0);
        assert_int_equal(s.queued_bytes, 0);
        assert_int_equal(s.inbound_connected, 2);
        assert_int_equal(s.peers, 2);
    }
    for (uint64_t i = 1; i <= 3; i++) {
        node_close(w, &t.n[i]);
    }
}

/* ---------------------------------------------------------------------------
 * A listener that starts late is reached after backoff
 * ------------------------------------------------------------------------ */

typedef struct duo
{
    tnode a, b, c;
    uint64_t want;
} duo;

static bool b_got_from_1(void *arg)
{
    duo *d = arg;
    return d->b.got[1] >= d->want;
}

static bool c_got_from_1(void *arg)
{
    duo *d = arg;
    return d->c.got[1] >= d->want;
}

static void test_late_listener(void **state)
{
    world *w = *state;
    static duo d;
    rz_peer_stats s;
    memset(&d, 0, sizeof(d));
    assert_int_equal(node_start(w, &d.a, 1, 16111), 0);
    assert_int_equal(send_frames(&d.a, 2, "127.0.0.1:16112", 5, 100), 0);
    run_for(w, 400);
    s = stats_of(&d.a);
    assert_false(rz_peer_net_connected(d.a.net, 2));
    /* Several attempts, but backing off: 0, ~50-100, ~100-200 ms later... */
    assert_true(s.dials >= 2 && s.dials <= 6);
    assert_int_equal(s.frames_sent, 0);
    assert_int_equal(s.queued_bytes, 5 * 100);
    assert_int_equal(s.connects, 0);

    assert_int_equal(node_start(w, &d.b, 2, 16112), 0);
    d.want = 5;
    assert_true(run_until(w, b_got_from_1, &d, 6000));
    assert_true(d.b.order_ok);
    assert_int_equal(d.b.got[1], 5);
    s = stats_of(&d.a);
    assert_true(rz_peer_net_connected(d.a.net, 2));
    assert_int_equal(s.connects, 1);
    assert_int_equal(s.frames_sent, 5);
    assert_int_equal(s.queued_bytes, 0);
    node_close(w, &d.a);
    node_close(w, &d.b);
}

/* ---------------------------------------------------------------------------
 * A restarted peer is reconnected
 * ------------------------------------------------------------------------ */

static bool a_disconnected(void *arg)
{
    duo *d = arg;
    rz_peer_stats s = stats_of(&d->a);
    return s.disconnects >= 1 && !rz_peer_net_connected(d->a.net, 2);
}

static void test_restart(void **state)
{
    world *w = *state;
    static duo d;
    rz_peer_stats s;
    const char *b_addr = "127.0.0.1:16122/127.0.0.1:17122";
    memset(&d, 0, sizeof(d));
    assert_int_equal(node_start(w, &d.a, 1, 16121), 0);
    assert_int_equal(node_start(w, &d.b, 2, 16122), 0);
    assert_int_equal(send_frames(&d.a, 2, b_addr, 3, 64), 0);
    d.want = 3;
    assert_true(run_until(w, b_got_from_1, &d, 3000));

    node_close(w, &d.b); /* a clean close: A sees its connection end */
    assert_true(run_until(w, a_disconnected, &d, 3000));
    s = stats_of(&d.a);
    assert_int_equal(s.connects, 1);
    assert_int_equal(s.disconnects, 1);
    assert_int_equal(s.peers_connected, 0);

    /* Frames sent while B is down wait in A's queue. */
    assert_int_equal(send_frames(&d.a, 2, b_addr, 4, 64), 0);
    run_for(w, 150);
    assert_int_equal(node_start(w, &d.b, 2, 16122), 0);
    d.want = 4;
    assert_true(run_until(w, b_got_from_1, &d, 6000));
    assert_true(d.b.order_ok);
    assert_int_equal(d.b.got[1], 4);
    s = stats_of(&d.a);
    assert_int_equal(s.connects, 2);
    assert_int_equal(s.frames_sent, 7);
    assert_true(rz_peer_net_connected(d.a.net, 2));
    node_close(w, &d.a);
    node_close(w, &d.b);
}

/* ---------------------------------------------------------------------------
 * An operator credential is refused on the peer port
 * ------------------------------------------------------------------------ */

typedef struct raw_client
{
    rz_secure_uv s;
    uv_tcp_t tcp;
    uv_connect_t req;
    rz_secure_config cfg;
    bool connect_failed;
    bool established;
    bool closed;
    int status;
} raw_client;

static void raw_established(rz_secure_uv *s)
{
    raw_client *c = s->data;
    c->established = true;
}

static void raw_frame(rz_secure_uv *s, const uint8_t *p, size_t n)
{
    (void)s;
    (void)p;
    (void)n;
}

static void raw_closed(rz_secure_uv *s, int status)
{
    raw_client *c = s->data;
    c->closed = true;
    c->status = status;
}

static const rz_secure_uv_cbs raw_cbs = {raw_established, raw_frame, NULL,
                                         raw_closed};

static void raw_connected(uv_connect_t *req, int status)
{
    raw_client *c = req->data;
    if (status != 0 ||
        rz_secure_uv_init(req->handle->loop, &c->s, (uv_stream_t *)&c->tcp,
                          &c->cfg, true, 0, &raw_cbs) != 0) {
        c->connect_failed = true;
        uv_close((uv_handle_t *)&c->tcp, NULL);
        return;
    }
    c->s.data = c;
}

static bool raw_done(void *arg)
{
    raw_client *c = arg;
    return c->closed || c->connect_failed;
}

static void test_operator_refused(void **state)
{
    world *w = *state;
    static duo d;
    static raw_client c;
    struct sockaddr_in addr;
    rz_peer_options opts;
    rz_peer_net *bad = NULL;
    char errmsg[RZ_ERRMSG_BYTES] = "";
    rz_peer_stats s;
    memset(&d, 0, sizeof(d));
    memset(&c, 0, sizeof(c));
    assert_int_equal(node_start(w, &d.b, 2, 16131), 0);

    c.cfg.id = &operator_id;
    c.cfg.allowed_roles = RZ_ROLE_BIT(RZ_ROLE_NODE);
    c.req.data = &c;
    uv_tcp_init(&w->loop, &c.tcp);
    uv_ip4_addr("127.0.0.1", 16131, &addr);
    assert_int_equal(uv_tcp_connect(&c.req, &c.tcp,
                                    (const struct sockaddr *)&addr,
                                    raw_connected),
                     0);
    assert_true(run_until(w, raw_done, &c, 3000));
    assert_false(c.connect_failed);
    assert_false(c.established);
    assert_int_equal(c.status, RZ_EAUTH); /* the node's error frame */
    s = stats_of(&d.b);
    assert_int_equal(s.refused, 1);
    assert_int_equal(s.frames_received, 0);

    /* A net cannot be started with anything but a node credential. */
    memset(&opts, 0, sizeof(opts));
    opts.identity = &operator_id;
    opts.listen = "127.0.0.1:16132";
    opts.on_frame = on_frame;
    assert_int_equal(rz_peer_net_start(&w->loop, &opts, &bad, errmsg),
                     RZ_EINVAL);
    assert_null(bad);
    assert_true(strstr(errmsg, "role node") != NULL);
    node_close(w, &d.b);
}

/* ---------------------------------------------------------------------------
 * A dialled peer that names another id is dropped (and dialled again only
 * after backoff)
 * ------------------------------------------------------------------------ */

static void test_wrong_id(void **state)
{
    world *w = *state;
    static duo d;
    rz_peer_stats s;
    memset(&d, 0, sizeof(d));
    assert_int_equal(node_start(w, &d.a, 1, 16141), 0);
    /* Node 3 listens where node 1 believes node 2 is. */
    assert_int_equal(node_start(w, &d.c, 3, 16142), 0);
    assert_int_equal(send_frames(&d.a, 2, "127.0.0.1:16142", 3, 64), 0);
    run_for(w, 1000);
    s = stats_of(&d.a);
    assert_false(rz_peer_net_connected(d.a.net, 2));
    assert_int_equal(s.connects, 0);
    assert_int_equal(s.frames_sent, 0);
    assert_true(s.refused >= 2);
    /* Backoff: attempts at 0 and then after 50-100, 100-200, 200-400,
     * 400-800 ms: 3 to 5 within a second, never a busy loop. */
    assert_true(s.dials >= 3 && s.dials <= 5);
    /* Every dial was refused (the last one may still be in its
     * handshake). */
    assert_true(s.refused == s.dials || s.refused + 1 == s.dials);
    assert_int_equal(d.c.got[1], 0);
    assert_int_equal(stats_of(&d.c).frames_received, 0);
    node_close(w, &d.a);
    node_close(w, &d.c);
}

/* ---------------------------------------------------------------------------
 * A peer id at a new address: the old connection is replaced
 * ------------------------------------------------------------------------ */

static void test_address_change(void **state)
{
    world *w = *state;
    static duo d;
    rz_peer_stats s;
    memset(&d, 0, sizeof(d));
    assert_int_equal(node_start(w, &d.a, 1, 16151), 0);
    assert_int_equal(node_start(w, &d.b, 2, 16152), 0);
    assert_int_equal(node_start(w, &d.c, 2, 16153), 0); /* node 2, moved */
    assert_int_equal(
        send_frames(&d.a, 2, "127.0.0.1:16152/127.0.0.1:17152", 3, 64), 0);
    d.want = 3;
    assert_true(run_until(w, b_got_from_1, &d, 3000));
    assert_int_equal(
        send_frames(&d.a, 2, "127.0.0.1:16153/127.0.0.1:17153", 4, 64), 0);
    d.want = 4;
    assert_true(run_until(w, c_got_from_1, &d, 3000));
    run_for(w, 50);
    assert_int_equal(d.b.got[1], 3);
    assert_int_equal(d.c.got[1], 4);
    assert_true(d.b.order_ok && d.c.order_ok);
    s = stats_of(&d.a);
    assert_int_equal(s.connects, 2);
    assert_int_equal(s.disconnects, 1);
    assert_int_equal(s.peers_connected, 1);
    assert_int_equal(s.peers, 1);
    /* The old address's end of the replaced connection is closed too. */
    assert_int_equal(stats_of(&d.b).inbound_connected, 0);
    node_close(w, &d.a);
    node_close(w, &d.b);
    node_close(w, &d.c);
}

static bool old_inbound_closed(void *arg)
{
    duo *d = arg;
    return stats_of(&d->a).disconnects == 1 &&
           stats_of(&d->b).inbound_connected == 1;
}

/* A second incoming connection from the same node id replaces the first
 * (a restarted node's old connection may be half-open). */
static void test_inbound_replaced(void **state)
{
    world *w = *state;
    static duo d;
    static tnode a2;
    rz_peer_stats s;
    memset(&d, 0, sizeof(d));
    memset(&a2, 0, sizeof(a2));
    assert_int_equal(node_start(w, &d.a, 1, 16155), 0);
    assert_int_equal(node_start(w, &d.b, 2, 16156), 0);
    assert_int_equal(node_start(w, &a2, 1, 16157), 0); /* node 1 again */
    assert_int_equal(send_frames(&d.a, 2, "127.0.0.1:16156", 2, 64), 0);
    d.want = 2;
    assert_true(run_until(w, b_got_from_1, &d, 3000));
    a2.sent[2] = 100; /* keeps the sequence increasing for B's check */
    assert_int_equal(send_frames(&a2, 2, "127.0.0.1:16156", 2, 64), 0);
    d.want = 4;
    assert_true(run_until(w, b_got_from_1, &d, 3000));
    /* True once A's older connection is closed, and for at least the
     * 50 ms until A dials again. */
    assert_true(run_until(w, old_inbound_closed, &d, 1000));
    s = stats_of(&d.b);
    assert_int_equal(s.inbound_connected, 1);
    assert_true(rz_peer_net_connected(a2.net, 2));
    assert_true(d.b.order_ok);
    /* The two node-1 nets now keep displacing each other at B (a broken
     * setup: one identity twice). Their connections live less than a
     * second, so their backoff keeps growing instead of starting over:
     * a handful of dials each in 1.2 s, not one every 50-100 ms. */
    run_for(w, 1200);
    assert_true(stats_of(&d.a).dials <= 7);
    assert_true(stats_of(&a2).dials <= 7);
    node_close(w, &d.a);
    node_close(w, &d.b);
    node_close(w, &a2);
}

/* ---------------------------------------------------------------------------
 * The queue bound, bad arguments, and close with everything queued
 * ------------------------------------------------------------------------ */

static void test_queue_bound(void **state)
{
    world *w = *state;
    static duo d;
    rz_peer_stats s;
    const size_t mib = 1u << 20;
    const uint32_t fit = RZ_PEER_QUEUE_MAX_BYTES / (1u << 20);
    uint8_t small[16] = {0};
    memset(&d, 0, sizeof(d));
    assert_int_equal(node_start(w, &d.a, 1, 16161), 0);
    /* Nobody listens on 16162: everything waits in the queue. */
    assert_int_equal(send_frames(&d.a, 2, "127.0.0.1:16162", (int)fit, mib), 0);
    assert_int_equal(send_frames(&d.a, 2, "127.0.0.1:16162", 1, mib), RZ_EBUSY);
    assert_int_equal(send_frames(&d.a, 2, "127.0.0.1:16162", 1, 16), RZ_EBUSY);
    s = stats_of(&d.a);
    assert_int_equal(s.queued_bytes, RZ_PEER_QUEUE_MAX_BYTES);
    assert_int_equal(s.frames_dropped, 2);
    /* Another peer's queue is its own. */
    assert_int_equal(send_frames(&d.a, 3, "127.0.0.1:16163", 2, 100), 0);
    assert_int_equal(stats_of(&d.a).queued_bytes,
                     RZ_PEER_QUEUE_MAX_BYTES + 200);
    /* An [IPv6]:PORT address is one too (nobody listens there either). */
    assert_int_equal(
        d.a.t.send(d.a.t.data, 7, "[::1]:16164/[::1]:17164", small, 16), 0);

    /* Bad arguments are refused and counted, never a crash. */
    {
        static const char *bad[] = {
            "nonsense",         "127.0.0.1",     "127.0.0.1:",
            ":16162",           "127.0.0.1:0",   "127.0.0.1:65536",
            "127.0.0.1:16x",    "[::1:16162",    "999.1.1.1:1000",
            "/127.0.0.1:16162", "127.0.0.1:+80", "-bad.host:80",
            "a b:80",           "host/:80",      ""};
        for (size_t i = 0; i < RZ_ARRAY_LEN(bad); i++) {
            assert_int_equal(d.a.t.send(d.a.t.data, 3, bad[i], small, 16),
                             RZ_EINVAL);
        }
        assert_int_equal(d.a.t.send(d.a.t.data, 3, NULL, small, 16), RZ_EINVAL);
        assert_int_equal(
            d.a.t.send(d.a.t.data, 0, "127.0.0.1:16163", small, 16), RZ_EINVAL);
        /* An empty frame is no message. */
        assert_int_equal(d.a.t.send(d.a.t.data, 3, "127.0.0.1:16163", small, 0),
                         RZ_EINVAL);
        uint8_t *huge = calloc(1, RZ_PEER_FRAME_MAX_BYTES + 1u);
        assert_non_null(huge);
        assert_int_equal(d.a.t.send(d.a.t.data, 3, "127.0.0.1:16163", huge,
                                    RZ_PEER_FRAME_MAX_BYTES + 1u),
                         RZ_ETOOBIG);
        free(huge);
        s = stats_of(&d.a);
        assert_int_equal(s.frames_dropped, 2 + RZ_ARRAY_LEN(bad) + 4);
        assert_int_equal(s.peers, 3);
    }
    run_for(w, 200); /* dials fail and back off meanwhile */
    assert_int_equal(stats_of(&d.a).queued_bytes,
                     RZ_PEER_QUEUE_MAX_BYTES + 200 + 16);
    /* Closing frees 32 MiB of queued frames (the ASan build checks). */
    node_close(w, &d.a);
}

/* More than the secure channel's write queue holds (8 MiB) at once: the
 * transport keeps the rest and goes on when the channel drains, every
 * frame arrives, in order. */
static void test_backpressure(void **state)
{
    world *w = *state;
    static duo d;
    rz_peer_stats s;
    const int frames = 64; /* x 256 KiB = 16 MiB */
    memset(&d, 0, sizeof(d));
    assert_int_equal(node_start(w, &d.a, 1, 16175), 0);
    assert_int_equal(node_start(w, &d.b, 2, 16176), 0);
    assert_int_equal(send_frames(&d.a, 2, "127.0.0.1:16176", 1, 64), 0);
    d.want = 1;
    assert_true(run_until(w, b_got_from_1, &d, 3000));
    assert_int_equal(
        send_frames(&d.a, 2, "127.0.0.1:16176", frames, 256u * 1024u), 0);
    s = stats_of(&d.a);
    /* The channel took what fits under its high-water mark; the rest
     * waits in the peer's queue. */
    assert_true(s.queued_bytes > 0);
    assert_true(s.frames_sent < 1u + (uint64_t)frames);
    d.want = 1u + (uint64_t)frames;
    assert_true(run_until(w, b_got_from_1, &d, 10000));
    assert_true(d.b.order_ok);
    s = stats_of(&d.a);
    assert_int_equal(s.frames_sent, 1 + frames);
    assert_int_equal(s.queued_bytes, 0);
    assert_int_equal(s.frames_dropped, 0);
    node_close(w, &d.a);
    node_close(w, &d.b);
}

/* Frames queued in the transport and in the secure channel, connections in
 * every state: close frees it all. */
static void test_close_busy(void **state)
{
    world *w = *state;
    static trio t;
    memset(&t, 0, sizeof(t));
    assert_int_equal(node_start(w, &t.n[1], 1, 16171), 0);
    assert_int_equal(node_start(w, &t.n[2], 2, 16172), 0);
    assert_int_equal(send_frames(&t.n[1], 2, "127.0.0.1:16172", 2, 64), 0);
    t.want = 0;
    run_for(w, 100);
    assert_true(rz_peer_net_connected(t.n[1].net, 2));
    /* 100 x 256 KiB: more than the secure channel's write queue holds. */
    assert_int_equal(
        send_frames(&t.n[1], 2, "127.0.0.1:16172", 100, 256u * 1024u), 0);
    assert_int_equal(send_frames(&t.n[2], 1, "127.0.0.1:16171", 50, 4096), 0);
    /* Dialling (nothing listens), and a connection mid-handshake. */
    assert_int_equal(send_frames(&t.n[1], 3, "127.0.0.1:16173", 3, 64), 0);
    assert_true(stats_of(&t.n[1]).queued_bytes > 0);
    rz_peer_net_close(t.n[1].net, on_net_closed, &t.n[1]);
    rz_peer_net_close(t.n[2].net, on_net_closed, &t.n[2]);
    assert_true(run_until(w, node_is_closed, &t.n[1], 5000));
    assert_true(run_until(w, node_is_closed, &t.n[2], 5000));
    assert_true(t.n[1].order_ok && t.n[2].order_ok);
}

/* ---------------------------------------------------------------------------
 * At most RZ_PEER_INBOUND_MAX incoming connections
 * ------------------------------------------------------------------------ */

#define SILENT_CONNS (RZ_PEER_INBOUND_MAX + 1u)

typedef struct silent
{
    uv_tcp_t tcp[SILENT_CONNS];
    uv_connect_t req[SILENT_CONNS];
    uint8_t buf[64];
    uint32_t connected;
    uint32_t eof;
    uint32_t closed;
} silent;

static void silent_alloc(uv_handle_t *h, size_t n, uv_buf_t *buf)
{
    silent *s = h->data;
    (void)n;
    *buf = uv_buf_init((char *)s->buf, sizeof(s->buf));
}

static void silent_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    silent *s = st->data;
    (void)buf;
    if (n < 0) {
        s->eof++;
        uv_read_stop(st);
    }
}

static void silent_connected(uv_connect_t *req, int status)
{
    silent *s = req->handle->data;
    if (status == 0) {
        s->connected++;
        uv_read_start(req->handle, silent_alloc, silent_read);
    }
}

static void silent_closed(uv_handle_t *h)
{
    silent *s = h->data;
    s->closed++;
}

typedef struct limit_ctx
{
    silent *s;
    tnode *b;
} limit_ctx;

static bool limit_reached(void *arg)
{
    limit_ctx *c = arg;
    rz_peer_stats st = stats_of(c->b);
    return c->s->connected == SILENT_CONNS && c->s->eof >= 1 &&
           st.inbound_connected == RZ_PEER_INBOUND_MAX && st.refused >= 1;
}

static bool inbound_gone(void *arg)
{
    limit_ctx *c = arg;
    return c->s->closed == SILENT_CONNS &&
           stats_of(c->b).inbound_connected == 0;
}

static void test_inbound_limit(void **state)
{
    world *w = *state;
    static duo d;
    static silent s;
    limit_ctx ctx = {&s, &d.b};
    struct sockaddr_in addr;
    rz_peer_stats st;
    memset(&d, 0, sizeof(d));
    memset(&s, 0, sizeof(s));
    assert_int_equal(node_start(w, &d.b, 2, 16181), 0);
    uv_ip4_addr("127.0.0.1", 16181, &addr);
    /* Silent connections: they never start a handshake. */
    for (uint32_t i = 0; i < SILENT_CONNS; i++) {
        uv_tcp_init(&w->loop, &s.tcp[i]);
        s.tcp[i].data = &s;
        assert_int_equal(uv_tcp_connect(&s.req[i], &s.tcp[i],
                                        (const struct sockaddr *)&addr,
                                        silent_connected),
                         0);
        /* One at a time, so the one over the limit is the last. */
        run_for(w, 2);
    }
    assert_true(run_until(w, limit_reached, &ctx, 3000));
    st = stats_of(&d.b);
    /* The oldest silent connection gave way to the one over the limit. */
    assert_int_equal(s.eof, 1);
    assert_int_equal(st.refused, 1);
    assert_int_equal(st.frames_received, 0);
    /* A node still gets through: the next oldest silent one gives way. */
    assert_int_equal(node_start(w, &d.a, 1, 16182), 0);
    assert_int_equal(send_frames(&d.a, 2, "127.0.0.1:16181", 2, 64), 0);
    d.want = 2;
    assert_true(run_until(w, b_got_from_1, &d, 3000));
    assert_int_equal(s.eof, 2);
    assert_int_equal(stats_of(&d.b).refused, 2);
    node_close(w, &d.a);
    for (uint32_t i = 0; i < SILENT_CONNS; i++) {
        uv_close((uv_handle_t *)&s.tcp[i], silent_closed);
    }
    assert_true(run_until(w, inbound_gone, &ctx, 3000));
    node_close(w, &d.b);
}

/* ---------------------------------------------------------------------------
 * A DNS name is resolved at each dial; closing during a resolution is safe
 * ------------------------------------------------------------------------ */

static void test_resolve(void **state)
{
    world *w = *state;
    static duo d;
    static tnode c;
    rz_peer_stats s;
    memset(&d, 0, sizeof(d));
    memset(&c, 0, sizeof(c));
    assert_int_equal(node_start(w, &d.a, 1, 16195), 0);
    assert_int_equal(node_start(w, &d.b, 2, 16196), 0);
    assert_int_equal(
        send_frames(&d.a, 2, "localhost:16196/localhost:17196", 3, 64), 0);
    d.want = 3;
    assert_true(run_until(w, b_got_from_1, &d, 3000));
    assert_true(d.b.order_ok);
    s = stats_of(&d.a);
    assert_int_equal(s.connects, 1);
    assert_int_equal(s.frames_sent, 3);
    /* A net closed right after a send to a name: the resolution still in
     * flight is let go of (the teardown waits for it; ASan checks). */
    assert_int_equal(node_start(w, &c, 3, 16197), 0);
    assert_int_equal(send_frames(&c, 2, "localhost:16196", 1, 64), 0);
    node_close(w, &c);
    node_close(w, &d.a);
    node_close(w, &d.b);
}

/* ---------------------------------------------------------------------------
 * A destination nobody sends to is forgotten, and found again on the next
 * send
 * ------------------------------------------------------------------------ */

static bool a_forgot_b(void *arg)
{
    duo *d = arg;
    return stats_of(&d->a).peers == 0 && stats_of(&d->b).inbound_connected == 0;
}

static void test_idle_forgotten(void **state)
{
    world *w = *state;
    static duo d;
    rz_peer_stats s;
    memset(&d, 0, sizeof(d));
    next_idle_ms = 300;
    assert_int_equal(node_start(w, &d.a, 1, 16198), 0);
    assert_int_equal(node_start(w, &d.b, 2, 16199), 0);
    assert_int_equal(send_frames(&d.a, 2, "127.0.0.1:16199", 2, 64), 0);
    /* Someone nobody listens for: its queued frame goes with it. */
    assert_int_equal(send_frames(&d.a, 3, "127.0.0.1:16190", 1, 64), 0);
    d.want = 2;
    assert_true(run_until(w, b_got_from_1, &d, 3000));
    run_for(w, 100); /* not idle yet */
    assert_true(rz_peer_net_connected(d.a.net, 2));
    assert_true(run_until(w, a_forgot_b, &d, 3000));
    s = stats_of(&d.a);
    assert_false(rz_peer_net_connected(d.a.net, 2));
    assert_int_equal(s.disconnects, 1);
    assert_int_equal(s.peers_connected, 0);
    assert_int_equal(s.queued_bytes, 0);
    assert_int_equal(s.frames_dropped, 1);
    /* The next send dials again. */
    assert_int_equal(send_frames(&d.a, 2, "127.0.0.1:16199", 1, 64), 0);
    d.want = 3;
    assert_true(run_until(w, b_got_from_1, &d, 3000));
    assert_true(d.b.order_ok);
    assert_int_equal(stats_of(&d.a).connects, 2);
    node_close(w, &d.a);
    node_close(w, &d.b);
}

/* ---------------------------------------------------------------------------
 * A connect that hangs (SYNs dropped) is given up and retried
 * ------------------------------------------------------------------------ */

static void test_connect_timeout(void **state)
{
    world *w = *state;
    static duo d;
    struct sockaddr_in addr;
    int lfd, fds[4];
    rz_peer_stats s;
    memset(&d, 0, sizeof(d));
    /* A listener that never accepts, its accept queue filled: the kernel
     * drops further SYNs, so a connect hangs as it would towards a
     * partitioned machine. */
    lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(lfd >= 0);
    uv_ip4_addr("127.0.0.1", 16189, &addr);
    assert_int_equal(bind(lfd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    assert_int_equal(listen(lfd, 0), 0);
    for (size_t i = 0; i < RZ_ARRAY_LEN(fds); i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        assert_true(fds[i] >= 0);
        (void)connect(fds[i], (struct sockaddr *)&addr, sizeof(addr));
    }
    run_for(w, 50);

    next_connect_timeout_ms = 200;
    assert_int_equal(node_start(w, &d.a, 1, 16188), 0);
    assert_int_equal(send_frames(&d.a, 2, "127.0.0.1:16189", 1, 64), 0);
    run_for(w, 1000);
    s = stats_of(&d.a);
    /* 200 ms hung, 50-100 ms backoff, 200 ms hung, 100-200 ms...: without
     * the timeout there would be one dial, hanging. */
    assert_true(s.dials >= 2);
    assert_int_equal(s.connects, 0);
    assert_int_equal(s.queued_bytes, 64);
    node_close(w, &d.a);
    for (size_t i = 0; i < RZ_ARRAY_LEN(fds); i++) {
        close(fds[i]);
    }
    close(lfd);
}

/* ---------------------------------------------------------------------------
 * Start errors
 * ------------------------------------------------------------------------ */

static void test_start_errors(void **state)
{
    world *w = *state;
    static duo d;
    rz_peer_options opts;
    rz_peer_net *n = NULL;
    char errmsg[RZ_ERRMSG_BYTES] = "";
    static const char *bad[] = {"nonsense", "127.0.0.1", "127.0.0.1:0",
                                "example.org:16191", ""};
    memset(&d, 0, sizeof(d));
    memset(&opts, 0, sizeof(opts));
    opts.identity = &ids[1];
    opts.on_frame = on_frame;
    for (size_t i = 0; i < RZ_ARRAY_LEN(bad); i++) {
        opts.listen = bad[i];
        errmsg[0] = '\0';
        assert_int_equal(rz_peer_net_start(&w->loop, &opts, &n, errmsg),
                         RZ_EINVAL);
        assert_true(strstr(errmsg, "HOST:PORT") != NULL);
    }
    /* A port in use: a clear error, nothing left on the loop (teardown
     * checks that uv_loop_close succeeds). */
    assert_int_equal(node_start(w, &d.a, 1, 16191), 0);
    opts.listen = "127.0.0.1:16191";
    errmsg[0] = '\0';
    assert_int_equal(rz_peer_net_start(&w->loop, &opts, &n, errmsg), RZ_EIO);
    assert_true(strstr(errmsg, "16191") != NULL);
    assert_null(n);
    node_close(w, &d.a);
}

static int group_setup(void **state)
{
    char errmsg[RZ_ERRMSG_BYTES];
    static const char *names[MAX_ID] = {"", "n1", "n2", "n3"};
    (void)state;
    assert_int_equal(rz_crypto_init(), 0);
    rz_cluster_key_generate(&cluster);
    for (uint64_t i = 1; i < MAX_ID; i++) {
        assert_int_equal(rz_identity_issue(&cluster, RZ_ROLE_NODE, names[i], i,
                                           FAR_FUTURE_MS, &ids[i], errmsg),
                         0);
    }
    assert_int_equal(rz_identity_issue(&cluster, RZ_ROLE_OPERATOR, "ops", 0,
                                       FAR_FUTURE_MS, &operator_id, errmsg),
                     0);
    rz_log_set_level(RZ_LOG_WARN);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_exchange_three, world_setup,
                                        world_teardown),
        cmocka_unit_test_setup_teardown(test_late_listener, world_setup,
                                        world_teardown),
        cmocka_unit_test_setup_teardown(test_restart, world_setup,
                                        world_teardown),
        cmocka_unit_test_setup_teardown(test_operator_refused, world_setup,
                                        world_teardown),
        cmocka_unit_test_setup_teardown(test_wrong_id, world_setup,
                                        world_teardown),
        cmocka_unit_test_setup_teardown(test_address_change, world_setup,
                                        world_teardown),
        cmocka_unit_test_setup_teardown(test_inbound_replaced, world_setup,
                                        world_teardown),
        cmocka_unit_test_setup_teardown(test_queue_bound, world_setup,
                                        world_teardown),
        cmocka_unit_test_setup_teardown(test_backpressure, world_setup,
                                        world_teardown),
        cmocka_unit_test_setup_teardown(test_close_busy, world_setup,
                                        world_teardown),
        cmocka_unit_test_setup_teardown(test_inbound_limit, world_setup,
                                        world_teardown),
        cmocka_unit_test_setup_teardown(test_resolve, world_setup,
                                        world_teardown),
        cmocka_unit_test_setup_teardown(test_idle_forgotten, world_setup,
                                        world_teardown),
        cmocka_unit_test_setup_teardown(test_connect_timeout, world_setup,
                                        world_teardown),
        cmocka_unit_test_setup_teardown(test_start_errors, world_setup,
                                        world_teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, NULL);
}
