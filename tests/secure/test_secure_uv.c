/* Integration test of the libuv adaptor over real TCP on 127.0.0.1: a
 * paused reader makes the sender's queue stop at its high-water mark (and
 * say so with RZ_EBUSY), resuming drains it with every frame delivered in
 * order, both sides close cleanly; a silent client is dropped at the
 * handshake deadline with one error frame; a wrong role is refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/common.h"
#include "common/secure.h"

#define FAR_FUTURE_MS 4102444800000ull
#define FRAME_BYTES 16384u
#define HIGH_WATER (256u * 1024u)
#define EXTRA_FRAMES 300u

static rz_cluster_key cluster;
static rz_identity node_id, agent_id;

typedef struct peer
{
    rz_secure_uv s;
    uv_tcp_t tcp;
    bool established;
    bool closed;
    int status;
    uint64_t frames;
    bool order_ok;
    char errmsg[RZ_ERRMSG_BYTES];
} peer;

typedef struct world
{
    uv_loop_t loop;
    uv_tcp_t listener;
    uv_connect_t connect;
    uv_timer_t check;
    uv_timer_t guard;
    peer server;
    peer client;
    rz_secure_config server_cfg;
    rz_secure_config client_cfg;
    size_t client_high_water;
    bool pause_server;
    /* back-pressure bookkeeping */
    uint64_t sent;
    uint64_t target;
    bool saw_busy;
    size_t max_queued;
    uint64_t sent_at_check;
    uint64_t last_sent;
    size_t last_queued;
    int stable_ticks;
    bool timed_out;
} world;

static world *W;

static void on_closed(rz_secure_uv *s, int status)
{
    peer *p = s->data;
    p->closed = true;
    p->status = status;
    snprintf(p->errmsg, sizeof(p->errmsg), "%s", s->errmsg);
    if (W->server.closed && W->client.closed) {
        uv_close((uv_handle_t *)&W->listener, NULL);
        uv_close((uv_handle_t *)&W->check, NULL);
        uv_close((uv_handle_t *)&W->guard, NULL);
    }
}

static void on_frame(rz_secure_uv *s, const uint8_t *p, size_t n)
{
    peer *pe = s->data;
    uint8_t want[8];
    rz_put_be64(want, pe->frames);
    if (n != FRAME_BYTES || memcmp(p, want, 8) != 0 ||
        p[n - 1] != (uint8_t)pe->frames) {
        pe->order_ok = false;
    }
    pe->frames++;
}

/* The client sends numbered frames until the target or the queue's bound. */
static void pump_client(void)
{
    static uint8_t buf[FRAME_BYTES];
    while (W->sent < W->target) {
        int rv;
        rz_put_be64(buf, W->sent);
        buf[FRAME_BYTES - 1] = (uint8_t)W->sent;
        rv = rz_secure_uv_send(&W->client.s, buf, sizeof(buf));
        if (W->client.s.queued_bytes > W->max_queued) {
            W->max_queued = W->client.s.queued_bytes;
        }
        if (rv == RZ_EBUSY) {
            W->saw_busy = true;
            return;
        }
        assert_int_equal(rv, 0);
        W->sent++;
    }
    if (W->target != UINT64_MAX) {
        rz_secure_uv_shutdown(&W->client.s);
    }
}

static void on_writable(rz_secure_uv *s)
{
    (void)s;
    pump_client();
}

static void on_established(rz_secure_uv *s)
{
    peer *p = s->data;
    p->established = true;
    if (p == &W->server && W->pause_server) {
        rz_secure_uv_pause(s);
    }
    if (p == &W->client && W->pause_server) {
        pump_client();
    }
}

static const rz_secure_uv_cbs cbs = {on_established, on_frame, on_writable,
                                     on_closed};

static void on_connection(uv_stream_t *l, int status)
{
    int rv;
    assert_int_equal(status, 0);
    uv_tcp_init(&W->loop, &W->server.tcp);
    assert_int_equal(uv_accept(l, (uv_stream_t *)&W->server.tcp), 0);
    W->server.s.data = &W->server;
    rv =
        rz_secure_uv_init(&W->loop, &W->server.s, (uv_stream_t *)&W->server.tcp,
                          &W->server_cfg, false, 0, &cbs);
    assert_int_equal(rv, 0);
    W->server.s.data = &W->server;
}

static void on_connect(uv_connect_t *req, int status)
{
    int rv;
    (void)req;
    assert_int_equal(status, 0);
    rv =
        rz_secure_uv_init(&W->loop, &W->client.s, (uv_stream_t *)&W->client.tcp,
                          &W->client_cfg, true, W->client_high_water, &cbs);
    assert_int_equal(rv, 0);
    W->client.s.data = &W->client;
}

static void on_guard(uv_timer_t *t)
{
    (void)t;
    W->timed_out = true;
    uv_stop(&W->loop);
}

static void world_start(world *w)
{
    struct sockaddr_in addr;
    struct sockaddr_storage bound;
    int len = sizeof(bound);
    memset(w, 0, sizeof(*w));
    W = w;
    w->server.order_ok = true;
    w->client.order_ok = true;
    w->target = UINT64_MAX;
    assert_int_equal(uv_loop_init(&w->loop), 0);
    uv_tcp_init(&w->loop, &w->listener);
    uv_ip4_addr("127.0.0.1", 0, &addr);
    assert_int_equal(uv_tcp_bind(&w->listener, (struct sockaddr *)&addr, 0), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&w->listener, 8, on_connection),
                     0);
    uv_tcp_getsockname(&w->listener, (struct sockaddr *)&bound, &len);
    memcpy(&addr, &bound, sizeof(addr));
    uv_timer_init(&w->loop, &w->check);
    uv_timer_init(&w->loop, &w->guard);
    uv_timer_start(&w->guard, on_guard, 20000, 0);
    memset(&w->server_cfg, 0, sizeof(w->server_cfg));
    w->server_cfg.id = &node_id;
    w->server_cfg.allowed_roles = RZ_ROLES_ALL;
    w->server_cfg.max_frame_bytes = 64 * 1024;
    memset(&w->client_cfg, 0, sizeof(w->client_cfg));
    w->client_cfg.id = &agent_id;
    w->client_cfg.allowed_roles = RZ_ROLE_BIT(RZ_ROLE_NODE);
    w->client_cfg.max_frame_bytes = 64 * 1024;
    w->client_high_water = HIGH_WATER;
    uv_tcp_init(&w->loop, &w->client.tcp);
    assert_int_equal(uv_tcp_connect(&w->connect, &w->client.tcp,
                                    (struct sockaddr *)&addr, on_connect),
                     0);
}

static void world_finish(world *w)
{
    uv_run(&w->loop, UV_RUN_DEFAULT);
    assert_false(w->timed_out);
    assert_int_equal(uv_loop_close(&w->loop), 0);
}

static int setup(void **state)
{
    char errmsg[RZ_ERRMSG_BYTES];
    (void)state;
    if (rz_crypto_init() != 0) {
        return -1;
    }
    rz_cluster_key_generate(&cluster);
    if (rz_identity_issue(&cluster, RZ_ROLE_NODE, "n1", 1, FAR_FUTURE_MS,
                          &node_id, errmsg) != 0 ||
        rz_identity_issue(&cluster, RZ_ROLE_AGENT, "desk-1", 0, FAR_FUTURE_MS,
                          &agent_id, errmsg) != 0) {
        return -1;
    }
    return 0;
}

/* Every 50 ms: once the paused reader has made the sender stall (nothing
 * sent or completed for three ticks), check the bound, then let the reader
 * go. */
static void on_check(uv_timer_t *t)
{
    bool same;
    if (!W->server.established || !W->saw_busy) {
        return;
    }
    same =
        W->sent == W->last_sent && W->client.s.queued_bytes == W->last_queued;
    W->stable_ticks = same ? W->stable_ticks + 1 : 0;
    W->last_sent = W->sent;
    W->last_queued = W->client.s.queued_bytes;
    if (W->stable_ticks < 3) {
        return;
    }
    uv_timer_stop(t);
    assert_true(W->server.established);
    assert_true(W->saw_busy);
    assert_int_equal(W->server.frames, 0);
    assert_true(W->max_queued <= HIGH_WATER);
    assert_true(W->client.s.queued_bytes > HIGH_WATER / 2);
    /* Filling up again stops at the bound too. What the sender accepted
     * while the reader slept is the kernel's socket buffers (a few MiB on
     * loopback) plus at most the high-water mark: bounded. */
    W->saw_busy = false;
    pump_client();
    assert_true(W->saw_busy);
    assert_true(W->client.s.queued_bytes <= HIGH_WATER);
    assert_true(W->sent * FRAME_BYTES < 64u * 1024u * 1024u);
    W->sent_at_check = W->sent;
    W->target = W->sent + EXTRA_FRAMES;
    rz_secure_uv_resume(&W->server.s);
}

static void test_back_pressure(void **state)
{
    world w;
    (void)state;
    world_start(&w);
    w.pause_server = true;
    uv_timer_start(&w.check, on_check, 50, 50);
    world_finish(&w);
    assert_true(w.client.closed && w.server.closed);
    assert_int_equal(w.client.status, 0);
    assert_int_equal(w.server.status, 0);
    assert_true(w.sent_at_check > 0);
    assert_int_equal(w.sent, w.sent_at_check + EXTRA_FRAMES);
    assert_int_equal(w.server.frames, w.sent);
    assert_true(w.server.order_ok);
    assert_true(w.max_queued <= HIGH_WATER);
    printf("back-pressure: %llu frames of %u bytes; sender stalled after "
           "%llu with at most %zu bytes queued (bound %u)\n",
           (unsigned long long)w.sent, FRAME_BYTES,
           (unsigned long long)w.sent_at_check, w.max_queued, HIGH_WATER);
}

static void test_wrong_role_over_tcp(void **state)
{
    world w;
    (void)state;
    world_start(&w);
    w.server_cfg.allowed_roles = RZ_ROLE_BIT(RZ_ROLE_NODE);
    world_finish(&w);
    assert_int_equal(w.server.status, RZ_EDENIED);
    assert_int_equal(w.client.status, RZ_EAUTH);
    /* The detail stays local: the server knows why, the client only that
     * the handshake failed. */
    assert_non_null(strstr(w.server.errmsg, "role agent may not connect"));
    assert_non_null(strstr(w.client.errmsg, "error code 1"));
    assert_false(w.server.established);
    assert_false(w.client.established);
}

/* A raw TCP client that connects and says nothing. */
typedef struct silent
{
    uv_loop_t loop;
    uv_tcp_t listener;
    uv_tcp_t raw;
    uv_connect_t connect;
    peer server;
    rz_secure_config cfg;
    uint8_t got[64];
    size_t got_len;
    bool eof;
    uint64_t started_ms;
    uint64_t closed_after_ms;
} silent;

static silent *S;

static void silent_closed(rz_secure_uv *s, int status)
{
    (void)s;
    S->server.closed = true;
    S->server.status = status;
    S->closed_after_ms = uv_now(&S->loop) - S->started_ms;
    uv_close((uv_handle_t *)&S->listener, NULL);
}

static void silent_established(rz_secure_uv *s)
{
    (void)s;
    fail_msg("a silent client cannot finish a handshake");
}

static const rz_secure_uv_cbs silent_cbs = {silent_established, on_frame, NULL,
                                            silent_closed};

static void silent_connection(uv_stream_t *l, int status)
{
    assert_int_equal(status, 0);
    uv_tcp_init(&S->loop, &S->server.tcp);
    assert_int_equal(uv_accept(l, (uv_stream_t *)&S->server.tcp), 0);
    assert_int_equal(rz_secure_uv_init(&S->loop, &S->server.s,
                                       (uv_stream_t *)&S->server.tcp, &S->cfg,
                                       false, 0, &silent_cbs),
                     0);
}

static void raw_alloc(uv_handle_t *h, size_t n, uv_buf_t *buf)
{
    static char b[256];
    (void)h;
    (void)n;
    *buf = uv_buf_init(b, sizeof(b));
}

static void raw_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    if (n > 0) {
        size_t room = sizeof(S->got) - S->got_len;
        size_t take = (size_t)n < room ? (size_t)n : room;
        memcpy(S->got + S->got_len, buf->base, take);
        S->got_len += take;
    } else if (n < 0) {
        S->eof = true;
        uv_close((uv_handle_t *)st, NULL);
    }
}

static void raw_connected(uv_connect_t *req, int status)
{
    assert_int_equal(status, 0);
    uv_read_start(req->handle, raw_alloc, raw_read);
}

static void test_handshake_deadline(void **state)
{
    silent s;
    struct sockaddr_in addr;
    struct sockaddr_storage bound;
    int len = sizeof(bound);
    static const uint8_t want[] = {0, 0, 0, 2, 0xEE, RZ_SECURE_ERR_TIMEOUT};
    (void)state;
    memset(&s, 0, sizeof(s));
    S = &s;
    assert_int_equal(uv_loop_init(&s.loop), 0);
    s.cfg.id = &node_id;
    s.cfg.allowed_roles = RZ_ROLES_ALL;
    s.cfg.handshake_timeout_ms = 200;
    uv_tcp_init(&s.loop, &s.listener);
    uv_ip4_addr("127.0.0.1", 0, &addr);
    assert_int_equal(uv_tcp_bind(&s.listener, (struct sockaddr *)&addr, 0), 0);
    assert_int_equal(
        uv_listen((uv_stream_t *)&s.listener, 8, silent_connection), 0);
    uv_tcp_getsockname(&s.listener, (struct sockaddr *)&bound, &len);
    memcpy(&addr, &bound, sizeof(addr));
    uv_tcp_init(&s.loop, &s.raw);
    s.started_ms = uv_now(&s.loop);
    assert_int_equal(uv_tcp_connect(&s.connect, &s.raw,
                                    (struct sockaddr *)&addr, raw_connected),
                     0);
    uv_run(&s.loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&s.loop), 0);
    assert_true(s.server.closed);
    assert_int_equal(s.server.status, RZ_ETIMEDOUT);
    assert_true(s.closed_after_ms >= 190 && s.closed_after_ms < 5000);
    /* Exactly one error frame, then the connection ends. */
    assert_true(s.eof);
    assert_int_equal(s.got_len, sizeof(want));
    assert_memory_equal(s.got, want, sizeof(want));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_back_pressure),
        cmocka_unit_test(test_wrong_role_over_tcp),
        cmocka_unit_test(test_handshake_deadline),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
