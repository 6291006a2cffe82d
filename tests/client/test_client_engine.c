/* Unit tests of libratusz's request engine (client/core.c) and its callback
 * API, against fake nodes in the same process: real secure-channel servers
 * on 127.0.0.1 (ephemeral ports) that redirect, stay silent, send garbage
 * or answer. They check that every retry resends the very same bytes (same
 * request_id, same body), that redirects and silent nodes are handled
 * within the deadline, that a hostile node cannot crash the client, and
 * the callback API's promises (no callback from inside a call, exactly
 * one callback, cancellation on close). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "client/codec.h"
#include "client/ratusz.h"
#include "common/common.h"
#include "common/secure.h"

#include <uv.h>

typedef enum mode {
    M_OK = 1,    /* answer creates with case 42 */
    M_REDIRECT,  /* ENOTLEADER naming the `to` node */
    M_SILENT,    /* never answer */
    M_GARBAGE,   /* answer with a frame that is no envelope */
    M_BAD_ERROR, /* answer with an ERROR whose body is a string */
    M_DENIED     /* ERROR RZ_EDENIED */
} mode;

#define MAX_LOG 16

typedef struct fake_node fake_node;

typedef struct fake_conn
{
    fake_node *node;
    uv_tcp_t tcp;
    rz_secure_uv s;
} fake_conn;

struct fake_node
{
    uv_tcp_t listener;
    mode m;
    fake_node *to; /* M_REDIRECT */
    char addr[64];
    rz_identity id;
    /* What arrived: whole frame plaintexts. */
    uint8_t *log[MAX_LOG];
    size_t log_len[MAX_LOG];
    int n_log;
};

static uv_loop_t loop;
static rz_cluster_key ckey;
static char client_identity[256];

static void fc_closed(rz_secure_uv *s, int status)
{
    (void)status;
    free(s->data);
}

static void fc_established(rz_secure_uv *s)
{
    (void)s;
}

static void reply(fake_conn *fc, uint32_t type, const uint8_t *rid,
                  const rz_buf *body)
{
    rz_buf b;
    rz_buf_init(&b, 1 << 20);
    rz_envelope_encode(&b, type, rid, body->data, body->len);
    assert_int_equal(b.err, 0);
    assert_int_equal(rz_secure_uv_send(&fc->s, b.data, b.len), 0);
    rz_buf_close(&b);
}

static void fc_frame(rz_secure_uv *s, const uint8_t *p, size_t n)
{
    fake_conn *fc = s->data;
    fake_node *fn = fc->node;
    rz_envelope env;
    rz_buf body;
    assert_int_equal(rz_envelope_decode(p, n, NULL, &env), 0);
    if (fn->n_log < MAX_LOG) {
        fn->log[fn->n_log] = malloc(n);
        memcpy(fn->log[fn->n_log], p, n);
        fn->log_len[fn->n_log++] = n;
    }
    rz_buf_init(&body, 4096);
    switch (fn->m) {
    case M_OK:
        rz_mp_put_map(&body, 5);
        rz_mp_put_cstr(&body, "case_id");
        rz_mp_put_uint(&body, 42);
        rz_mp_put_cstr(&body, "number");
        rz_mp_put_cstr(&body, "42/26");
        rz_mp_put_cstr(&body, "version");
        rz_mp_put_uint(&body, 1);
        rz_mp_put_cstr(&body, "index");
        rz_mp_put_uint(&body, 7);
        rz_mp_put_cstr(&body, "status");
        rz_mp_put_uint(&body, 0);
        reply(fc, RZ_CLIENT_REPLY, env.request_id, &body);
        break;
    case M_REDIRECT:
        rz_mp_put_map(&body, 3);
        rz_mp_put_cstr(&body, "code");
        rz_mp_put_int(&body, RZ_ENOTLEADER);
        rz_mp_put_cstr(&body, "message");
        rz_mp_put_cstr(&body, "not the leader");
        rz_mp_put_cstr(&body, "leader_address");
        rz_mp_put_cstr(&body, fn->to->addr);
        reply(fc, RZ_CLIENT_ERROR, env.request_id, &body);
        break;
    case M_DENIED:
        rz_mp_put_map(&body, 1);
        rz_mp_put_cstr(&body, "code");
        rz_mp_put_int(&body, RZ_EDENIED);
        reply(fc, RZ_CLIENT_ERROR, env.request_id, &body);
        break;
    case M_BAD_ERROR:
        rz_mp_put_cstr(&body, "not a map");
        reply(fc, RZ_CLIENT_ERROR, env.request_id, &body);
        break;
    case M_GARBAGE: {
        static const uint8_t junk[] = {0xc1, 0xff, 0x00};
        assert_int_equal(rz_secure_uv_send(&fc->s, junk, sizeof(junk)), 0);
        break;
    }
    case M_SILENT:
        break;
    }
    rz_buf_close(&body);
}

static void on_accept(uv_stream_t *server, int status)
{
    static const rz_secure_uv_cbs cbs = {fc_established, fc_frame, NULL,
                                         fc_closed};
    fake_node *fn = server->data;
    fake_conn *fc;
    rz_secure_config cfg;
    assert_int_equal(status, 0);
    fc = calloc(1, sizeof(*fc));
    fc->node = fn;
    uv_tcp_init(&loop, &fc->tcp);
    assert_int_equal(uv_accept(server, (uv_stream_t *)&fc->tcp), 0);
    memset(&cfg, 0, sizeof(cfg));
    cfg.id = &fn->id;
    cfg.allowed_roles = RZ_ROLES_CLIENTS;
    assert_int_equal(rz_secure_uv_init(&loop, &fc->s, (uv_stream_t *)&fc->tcp,
                                       &cfg, false, 0, &cbs),
                     0);
    fc->s.data = fc;
}

static void node_start(fake_node *fn, uint64_t id, mode m)
{
    struct sockaddr_in sa;
    struct sockaddr_storage bound;
    int len = sizeof(bound);
    char errmsg[RZ_ERRMSG_BYTES];
    memset(fn, 0, sizeof(*fn));
    fn->m = m;
    assert_int_equal(rz_identity_issue(&ckey, RZ_ROLE_NODE, "fake", id,
                                       rz_now_ms() + 3600000, &fn->id, errmsg),
                     0);
    uv_tcp_init(&loop, &fn->listener);
    fn->listener.data = fn;
    uv_ip4_addr("127.0.0.1", 0, &sa);
    assert_int_equal(
        uv_tcp_bind(&fn->listener, (const struct sockaddr *)&sa, 0), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&fn->listener, 16, on_accept), 0);
    uv_tcp_getsockname(&fn->listener, (struct sockaddr *)&bound, &len);
    snprintf(fn->addr, sizeof(fn->addr), "127.0.0.1:%d",
             ntohs(((struct sockaddr_in *)&bound)->sin_port));
}

static void on_listener_closed(uv_handle_t *h)
{
    *(bool *)h->data = true;
}

/* Closes the listener and waits for it: fn lives on a test's stack. */
static void node_stop(fake_node *fn)
{
    bool closed = false;
    fn->listener.data = &closed;
    uv_close((uv_handle_t *)&fn->listener, on_listener_closed);
    while (!closed) {
        uv_run(&loop, UV_RUN_ONCE);
    }
    for (int i = 0; i < fn->n_log; i++) {
        free(fn->log[i]);
    }
    rz_identity_wipe(&fn->id);
}

/* ---- the client side ---- */

typedef struct result
{
    int calls;
    int status;
    ratusz_created created;
    bool in_call; /* set while the async call itself runs */
    bool called_inside;
} result;

static void on_created(void *arg, int status, const ratusz_created *res)
{
    result *r = arg;
    r->calls++;
    r->status = status;
    r->called_inside = r->in_call;
    if (status == 0) {
        assert_non_null(res);
        r->created = *res;
    } else {
        assert_null(res);
    }
}

static bool closed_flag;

static void on_closed(void *arg)
{
    *(bool *)arg = true;
}

static ratusz *open_uv(const char *const *eps, size_t n)
{
    ratusz_options o;
    ratusz *h = NULL;
    char errmsg[RATUSZ_ERRMSG_BYTES] = "";
    memset(&o, 0, sizeof(o));
    o.endpoints = eps;
    o.n_endpoints = n;
    o.identity_path = client_identity;
    o.timeout_ms = 5000;
    o.connect_timeout_ms = 1000;
    assert_int_equal(ratusz_uv_open(&loop, &o, &h, errmsg), 0);
    return h;
}

/* Runs the loop until r has its callback (bounded by a wall deadline). */
static void run_until(result *r, uint64_t max_ms)
{
    uint64_t until = rz_mono_ms() + max_ms;
    while (r->calls == 0 && rz_mono_ms() < until) {
        uv_run(&loop, UV_RUN_ONCE);
    }
    assert_int_equal(r->calls, 1);
}

static void close_uv(ratusz *h)
{
    closed_flag = false;
    ratusz_uv_close(h, on_closed, &closed_flag);
    while (!closed_flag) {
        uv_run(&loop, UV_RUN_ONCE);
    }
}

static void start_create(ratusz *h, const ratusz_call *call, result *r)
{
    ratusz_case_new c;
    ratusz_case_new_init(&c);
    c.description = "engine test";
    memset(r, 0, sizeof(*r));
    r->in_call = true;
    assert_int_equal(ratusz_async_case_create(h, call, &c, on_created, r), 0);
    r->in_call = false;
}

static void assert_same_frames(const fake_node *a, int ia, const fake_node *b,
                               int ib)
{
    assert_true(ia < a->n_log && ib < b->n_log);
    assert_int_equal(a->log_len[ia], b->log_len[ib]);
    assert_memory_equal(a->log[ia], b->log[ib], a->log_len[ia]);
}

static void test_redirect_resends_same_bytes(void **state)
{
    fake_node a;
    fake_node b;
    ratusz_outcome oc;
    ratusz_call call;
    const char *eps[1];
    result r;
    ratusz *h;
    rz_envelope env;
    (void)state;
    node_start(&b, 2, M_OK);
    node_start(&a, 1, M_REDIRECT);
    a.to = &b;
    eps[0] = a.addr; /* the handle knows only the follower */
    h = open_uv(eps, 1);
    memset(&call, 0, sizeof(call));
    call.outcome = &oc;
    call.actor_id = 5;
    start_create(h, &call, &r);
    assert_int_equal(r.calls, 0); /* never from inside the call */
    run_until(&r, 5000);
    assert_false(r.called_inside);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.created.case_id, 42);
    assert_string_equal(r.created.number, "42/26");
    assert_int_equal(oc.redirects, 1);
    assert_int_equal(oc.attempts, 2);
    assert_string_equal(oc.endpoint, b.addr);
    assert_int_equal(a.n_log, 1);
    assert_int_equal(b.n_log, 1);
    assert_same_frames(&a, 0, &b, 0);
    assert_int_equal(rz_envelope_decode(b.log[0], b.log_len[0], NULL, &env), 0);
    assert_int_equal(env.type, RZ_CLIENT_CASE_CREATE);
    assert_memory_equal(env.request_id, oc.request_id, 16);
    /* The leader is remembered: the next call goes straight to it. */
    start_create(h, &call, &r);
    run_until(&r, 5000);
    assert_int_equal(r.status, 0);
    assert_int_equal(a.n_log, 1);
    assert_int_equal(b.n_log, 2);
    assert_int_equal(oc.attempts, 1);
    close_uv(h);
    /* A DNS name works as an endpoint too. */
    {
        char name[64];
        snprintf(name, sizeof(name), "localhost%s", strrchr(b.addr, ':'));
        eps[0] = name;
        h = open_uv(eps, 1);
        start_create(h, &call, &r);
        run_until(&r, 5000);
        assert_int_equal(r.status, 0);
        assert_int_equal(b.n_log, 3);
        close_uv(h);
    }
    node_stop(&a);
    node_stop(&b);
}

static void test_silent_node_then_another(void **state)
{
    fake_node s;
    fake_node b;
    ratusz_outcome oc;
    ratusz_call call;
    const char *eps[2];
    result r;
    ratusz *h;
    uint8_t rid[16];
    (void)state;
    node_start(&s, 1, M_SILENT);
    node_start(&b, 2, M_OK);
    eps[0] = s.addr;
    eps[1] = b.addr;
    h = open_uv(eps, 2);
    memset(&call, 0, sizeof(call));
    memset(rid, 0xab, sizeof(rid));
    memcpy(call.request_id, rid, sizeof(rid)); /* the caller's own id */
    call.outcome = &oc;
    start_create(h, &call, &r);
    run_until(&r, 5000);
    assert_int_equal(r.status, 0);
    assert_int_equal(s.n_log, 1);
    assert_int_equal(b.n_log, 1);
    assert_same_frames(&s, 0, &b, 0);
    assert_memory_equal(oc.request_id, rid, 16);
    assert_int_equal(oc.attempts, 2);
    close_uv(h);
    node_stop(&s);
    node_stop(&b);
}

static void test_hostile_nodes(void **state)
{
    static const mode bad[] = {M_GARBAGE, M_BAD_ERROR};
    (void)state;
    for (size_t k = 0; k < 2; k++) {
        fake_node g;
        fake_node b;
        ratusz_outcome oc;
        ratusz_call call;
        const char *eps[2];
        result r;
        ratusz *h;
        node_start(&g, 1, bad[k]);
        node_start(&b, 2, M_OK);
        eps[0] = g.addr;
        eps[1] = b.addr;
        h = open_uv(eps, 2);
        memset(&call, 0, sizeof(call));
        call.outcome = &oc;
        start_create(h, &call, &r);
        run_until(&r, 5000);
        /* The hostile node's connection was dropped; the same request went
         * to the next node. */
        assert_int_equal(r.status, 0);
        assert_int_equal(g.n_log, 1);
        assert_int_equal(b.n_log, 1);
        assert_same_frames(&g, 0, &b, 0);
        close_uv(h);
        node_stop(&g);
        node_stop(&b);
    }
}

static void test_deadline_and_final_errors(void **state)
{
    fake_node s;
    fake_node d;
    ratusz_outcome oc;
    ratusz_call call;
    const char *eps[1];
    result r;
    ratusz *h;
    uint64_t t0;
    (void)state;
    node_start(&s, 1, M_SILENT);
    eps[0] = s.addr;
    h = open_uv(eps, 1);
    memset(&call, 0, sizeof(call));
    call.outcome = &oc;
    call.timeout_ms = 300;
    t0 = rz_mono_ms();
    start_create(h, &call, &r);
    run_until(&r, 5000);
    /* Sent and unanswered: the outcome is unknown. */
    assert_int_equal(r.status, RATUSZ_ETIMEDOUT);
    assert_true(rz_mono_ms() - t0 >= 290 && rz_mono_ms() - t0 < 2000);
    assert_int_equal(oc.code, RATUSZ_ETIMEDOUT);
    assert_false(oc.request_id[0] == 0 && oc.request_id[1] == 0 &&
                 oc.request_id[2] == 0 && oc.request_id[3] == 0);
    close_uv(h);
    node_stop(&s);

    /* A refusal is final: one try, no retry. */
    node_start(&d, 1, M_DENIED);
    eps[0] = d.addr;
    h = open_uv(eps, 1);
    call.timeout_ms = 0;
    start_create(h, &call, &r);
    run_until(&r, 5000);
    assert_int_equal(r.status, RATUSZ_EDENIED);
    assert_int_equal(oc.attempts, 1);
    assert_int_equal(d.n_log, 1);
    close_uv(h);
    node_stop(&d);

    /* Nobody listens: never sent, so EUNAVAILABLE (the outcome is known). */
    eps[0] = "127.0.0.1:1";
    h = open_uv(eps, 1);
    call.timeout_ms = 300;
    start_create(h, &call, &r);
    run_until(&r, 5000);
    assert_int_equal(r.status, RATUSZ_EUNAVAILABLE);
    assert_int_equal(oc.attempts, 0);
    close_uv(h);
}

static void test_close_cancels_and_bad_calls(void **state)
{
    fake_node s;
    ratusz_options o;
    ratusz_case_new c;
    ratusz_ping_info ping;
    const char *eps[1];
    result r;
    ratusz *h;
    ratusz *bh = NULL;
    bool done = false;
    (void)state;
    node_start(&s, 1, M_SILENT);
    eps[0] = s.addr;
    h = open_uv(eps, 1);
    start_create(h, NULL, &r);
    for (int i = 0; i < 20; i++) {
        uv_run(&loop, UV_RUN_NOWAIT); /* let it be sent */
    }
    ratusz_uv_close(h, on_closed, &done);
    /* Pending calls are cancelled by close itself. */
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.status, RATUSZ_ECANCELED);
    while (!done) {
        uv_run(&loop, UV_RUN_ONCE);
    }

    /* Bad arguments: an error at once and the callback never runs. */
    h = open_uv(eps, 1);
    ratusz_case_new_init(&c);
    memset(&r, 0, sizeof(r));
    assert_int_equal(ratusz_async_case_create(h, NULL, &c, on_created, &r),
                     RATUSZ_EINVAL);
    c.description = "x";
    assert_int_equal(ratusz_async_case_create(h, NULL, &c, NULL, &r),
                     RATUSZ_EINVAL);
    /* A blocking call on a loop handle would deadlock the loop. */
    assert_int_equal(ratusz_ping(h, NULL, NULL, &ping), RATUSZ_EINVAL);
    for (int i = 0; i < 5; i++) {
        uv_run(&loop, UV_RUN_NOWAIT);
    }
    assert_int_equal(r.calls, 0);
    close_uv(h);
    node_stop(&s);

    /* And an async call on a blocking handle. */
    memset(&o, 0, sizeof(o));
    o.endpoints = eps;
    o.n_endpoints = 1;
    o.identity_path = client_identity;
    assert_int_equal(ratusz_open(&o, &bh, NULL), 0);
    assert_int_equal(ratusz_async_case_create(bh, NULL, &c, on_created, &r),
                     RATUSZ_EINVAL);
    ratusz_close(bh);
    /* Bad options. */
    o.n_endpoints = 0;
    assert_int_equal(ratusz_open(&o, &bh, NULL), RATUSZ_EINVAL);
    o.n_endpoints = 1;
    eps[0] = "no-port";
    assert_int_equal(ratusz_open(&o, &bh, NULL), RATUSZ_EINVAL);
    eps[0] = "127.0.0.1:99999";
    assert_int_equal(ratusz_open(&o, &bh, NULL), RATUSZ_EINVAL);
    eps[0] = "127.0.0.1:7411";
    o.identity_path = "/nonexistent/identity";
    assert_int_not_equal(ratusz_open(&o, &bh, NULL), 0);
}

static int setup(void **state)
{
    rz_identity id;
    char errmsg[RZ_ERRMSG_BYTES];
    (void)state;
    signal(SIGPIPE, SIG_IGN); /* ratusz.h: the loop handle's caller's job */
    assert_int_equal(rz_crypto_init(), 0);
    assert_int_equal(uv_loop_init(&loop), 0);
    rz_cluster_key_generate(&ckey);
    snprintf(client_identity, sizeof(client_identity),
             "/tmp/rz-client-engine-%ld.identity", (long)getpid());
    unlink(client_identity);
    assert_int_equal(rz_identity_issue(&ckey, RZ_ROLE_AGENT, "engine", 0,
                                       rz_now_ms() + 3600000, &id, errmsg),
                     0);
    assert_int_equal(rz_identity_write(client_identity, &id, errmsg), 0);
    rz_identity_wipe(&id);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(client_identity);
    /* Every handle of the fakes and the clients is closed: the loop ends
     * with nothing left. */
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    rz_cluster_key_wipe(&ckey);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_redirect_resends_same_bytes),
        cmocka_unit_test(test_silent_node_then_another),
        cmocka_unit_test(test_hostile_nodes),
        cmocka_unit_test(test_deadline_and_final_errors),
        cmocka_unit_test(test_close_cancels_and_bad_calls),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
