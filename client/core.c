/* The request engine of libratusz: connections to nodes over the secure
 * channel, routing to the leader, redirects, retries with backoff and
 * deadlines, replies matched to requests by request_id. Everything here
 * runs on the handle's loop thread.
 *
 * A retry always resends op->frame, the very bytes of the first try, so a
 * write keeps its request_id and body and the cluster applies it at most
 * once (docs/protocol.md 6.1). Retries are never sent from inside the
 * callback that failed the previous try: they are scheduled on the handle's
 * one timer, which keeps the control flow flat (no recursion between
 * connection failures and new connections). */
#include "client/core.h"

#include <stdlib.h>
#include <string.h>

/* Backoff between tries: 20 ms doubling to 1 s, each wait drawn from
 * [b/2, b] so that many clients do not retry in lockstep. */
#define BACKOFF_MIN_MS 20u
#define BACKOFF_MAX_MS 1000u
/* During the first seconds of a call the backoff stays short: a leader
 * fail-over takes an election timeout or two (ratuszd's default 500 ms), and
 * retries spaced up to 1 s apart added ~0.5 s of client-visible outage on
 * top of it (measured with ratuszctl drill). Past this window the cluster
 * is more likely without a quorum, and clients back off further. */
#define BACKOFF_FAILOVER_MAX_MS 200u
#define BACKOFF_FAILOVER_WINDOW_MS 5000u
/* A sent request with no reply this long is tried elsewhere (the node may
 * be paused or partitioned while its TCP connection stays up); after each
 * try that timed out the next one waits twice as long, up to the cap (a
 * slow but live cluster still gets to answer). */
#define ATTEMPT_MIN_MS 1000u
#define ATTEMPT_MAX_MS 4000u
/* A node that left a request unanswered past the try's time (paused,
 * partitioned) is not tried again, nor followed in redirects, for this
 * long unless no other node is left: followers keep naming a stopped
 * leader until their election timeout runs out. */
#define NODE_SUSPECT_MS 10000u
/* Redirects in a row followed at once; more back off (two nodes that point
 * at each other during an election must not spin). */
#define REDIRECTS_AT_ONCE 3u
/* A node whose connection failed is avoided for 50 ms doubling to 1 s. */
#define NODE_DOWN_MIN_MS 50u
#define NODE_DOWN_MAX_MS 1000u
/* The largest timeout a call may ask for (docs/protocol.md 6.1). */
#define TIMEOUT_MAX_MS 600000u
#define TIMEOUT_DEFAULT_MS 5000u
#define CONNECT_TIMEOUT_DEFAULT_MS 2000u

static void schedule(ratusz *h);
static void conn_fail(rz_client_conn *c, int err, const char *msg);

static uint64_t now_ms(const ratusz *h)
{
    return uv_now(h->loop);
}

static uint32_t min_u32(uint32_t a, uint32_t b)
{
    return a < b ? a : b;
}

/* ---------------------------------------------------------------------------
 * Nodes
 * ------------------------------------------------------------------------ */

/* Splits "host:port" or "[v6]:port" into n->host and n->port. */
static int node_parse(rz_client_node *n, const char *addr)
{
    const char *colon;
    size_t host_len;
    size_t port_len;
    size_t len = strlen(addr);
    if (len == 0 || len >= sizeof(n->addr)) {
        return RZ_EINVAL;
    }
    colon = strrchr(addr, ':');
    if (colon == NULL || colon == addr) {
        return RZ_EINVAL;
    }
    port_len = len - (size_t)(colon - addr) - 1;
    if (port_len == 0 || port_len > 5 ||
        strspn(colon + 1, "0123456789") != port_len || atoi(colon + 1) <= 0 ||
        atoi(colon + 1) > 65535) {
        return RZ_EINVAL;
    }
    host_len = (size_t)(colon - addr);
    if (addr[0] == '[') {
        if (host_len < 3 || addr[host_len - 1] != ']') {
            return RZ_EINVAL;
        }
        memcpy(n->host, addr + 1, host_len - 2);
        n->host[host_len - 2] = '\0';
    } else {
        if (memchr(addr, ']', host_len) != NULL) {
            return RZ_EINVAL;
        }
        memcpy(n->host, addr, host_len);
        n->host[host_len] = '\0';
    }
    memcpy(n->port, colon + 1, port_len);
    n->port[port_len] = '\0';
    memcpy(n->addr, addr, len + 1);
    return 0;
}

/* The index of the node with address addr, added if new; -1 if the table
 * is full or the address is malformed. */
static int node_find_or_add(ratusz *h, const char *addr)
{
    for (int i = 0; i < h->n_nodes; i++) {
        if (strcmp(h->nodes[i].addr, addr) == 0) {
            return i;
        }
    }
    if (h->n_nodes >= RATUSZ_MAX_ENDPOINTS) {
        return -1;
    }
    memset(&h->nodes[h->n_nodes], 0, sizeof(h->nodes[0]));
    if (node_parse(&h->nodes[h->n_nodes], addr) != 0) {
        return -1;
    }
    return h->n_nodes++;
}

static void node_mark_down(ratusz *h, int idx)
{
    rz_client_node *n = &h->nodes[idx];
    uint32_t shift = n->fails < 5 ? n->fails : 5;
    n->fails++;
    n->down_until_ms =
        now_ms(h) + min_u32(NODE_DOWN_MIN_MS << shift, NODE_DOWN_MAX_MS);
    if (h->leader == idx) {
        h->leader = -1;
    }
}

/* The next node to try for op: the leader when known (for LEADER ops),
 * else round robin from after the last node tried, skipping nodes that
 * failed recently unless every node did. */
static int node_pick(ratusz *h, rz_client_op *op)
{
    uint64_t now = now_ms(h);
    uint32_t start;
    int best = -1;
    uint64_t best_avoid = 0;
    if (op->target == RZ_TARGET_FIXED) {
        return op->fixed_node;
    }
    if (op->target == RZ_TARGET_LEADER && h->leader >= 0) {
        return h->leader;
    }
    if (op->node < 0) {
        /* A first try with no leader known: a node we are already talking
         * to answers (or redirects) soonest; a new connection to a node
         * that is down or stopped could cost the connect timeout. */
        for (int i = 0; i < h->n_nodes; i++) {
            if (h->nodes[i].conn != NULL &&
                h->nodes[i].conn->state == RZ_CONN_OPEN) {
                return i;
            }
        }
    }
    start = op->node >= 0 ? (uint32_t)op->node + 1u : h->rr++;
    for (int k = 0; k < h->n_nodes; k++) {
        int i = (int)((start + (uint32_t)k) % (uint32_t)h->n_nodes);
        uint64_t avoid = h->nodes[i].down_until_ms;
        if (h->nodes[i].suspect_until_ms > avoid) {
            avoid = h->nodes[i].suspect_until_ms;
        }
        if (avoid <= now) {
            return i;
        }
        if (best < 0 || avoid < best_avoid) {
            best = i;
            best_avoid = avoid;
        }
    }
    return best;
}

/* ---------------------------------------------------------------------------
 * Ops
 * ------------------------------------------------------------------------ */

static void op_unlink(ratusz *h, rz_client_op *op)
{
    if (op->prev != NULL) {
        op->prev->next = op->next;
    } else {
        RZ_ASSERT(h->ops == op);
        h->ops = op->next;
    }
    if (op->next != NULL) {
        op->next->prev = op->prev;
    }
    op->prev = op->next = NULL;
    RZ_ASSERT(h->n_ops > 0);
    h->n_ops--;
}

static void op_set_message(rz_client_op *op, const char *msg)
{
    if (msg != NULL) {
        rz_errmsg_set(op->message, "%s", msg);
    }
}

/* Ends op with status; body is the REPLY body for status 0. */
static void op_finish(rz_client_op *op, int status, const uint8_t *body,
                      size_t n)
{
    ratusz *h = op->h;
    RZ_PRE(op->state != RZ_OP_DONE && op->state != RZ_OP_NEW);
    op_unlink(h, op);
    op->state = RZ_OP_DONE;
    op->conn = NULL;
    if (op->outcome != NULL) {
        ratusz_outcome *o = op->outcome;
        memset(o, 0, sizeof(*o));
        o->code = status;
        if (status != 0) {
            rz_errmsg_set(o->message, "%s",
                          op->message[0] != '\0' ? op->message
                                                 : rz_strerror(status));
        }
        memcpy(o->request_id, op->rid, sizeof(o->request_id));
        o->attempts = op->attempts;
        o->redirects = op->redirects;
        o->current_version = op->current_version;
        o->case_id = op->err_case_id;
        if (op->node >= 0 && op->node < h->n_nodes) {
            rz_errmsg_set(o->endpoint, "%s", h->nodes[op->node].addr);
        }
    }
    free(op->frame);
    op->frame = NULL;
    /* Last: the callee may free op. */
    op->done(op, status, body, n);
}

/* The deadline passed. A write that was sent may have been applied. */
static void op_expire(rz_client_op *op)
{
    int status = op->ever_sent ? RZ_ETIMEDOUT : RZ_EUNAVAILABLE;
    if (op->message[0] == '\0') {
        rz_errmsg_set(op->message, "%s", rz_strerror(status));
    } else {
        char last[RATUSZ_ERRMSG_BYTES];
        rz_errmsg_set(last, "%s", op->message);
        rz_errmsg_set(op->message, "%s (last: %s)",
                      op->ever_sent ? "no reply within the deadline"
                                    : "no node reachable within the deadline",
                      last);
    }
    op_finish(op, status, NULL, 0);
}

/* Schedules another try after a retriable failure. */
static void op_retry(rz_client_op *op, int err, const char *msg, bool at_once)
{
    ratusz *h = op->h;
    op->last_err = err;
    op_set_message(op, msg);
    op->conn = NULL;
    if (op->no_retry) {
        op_finish(op, err, NULL, 0);
        return;
    }
    op->state = RZ_OP_IDLE;
    if (at_once) {
        op->wake_ms = now_ms(h);
    } else {
        uint32_t b = op->backoff_ms;
        uint64_t now = now_ms(h);
        uint64_t started = op->deadline_ms != UINT64_MAX
                               ? op->deadline_ms - op->timeout_ms
                               : now;
        uint32_t cap = now - started < BACKOFF_FAILOVER_WINDOW_MS
                           ? BACKOFF_FAILOVER_MAX_MS
                           : BACKOFF_MAX_MS;
        b = min_u32(b, cap);
        op->wake_ms = now + b / 2 + rz_random_uniform(b / 2 + 1);
        op->backoff_ms = min_u32(b * 2, cap);
    }
}

static void op_send(rz_client_op *op, rz_client_conn *c)
{
    ratusz *h = op->h;
    int rv;
    RZ_PRE(c->state == RZ_CONN_OPEN);
    rv = rz_secure_uv_send(&c->s, op->frame, op->frame_len);
    if (rv != 0) {
        char msg[RATUSZ_ERRMSG_BYTES];
        rz_errmsg_set(msg, "send to %s: %s", h->nodes[c->node].addr,
                      rz_strerror(rv));
        if (rv == RZ_ETOOBIG) {
            op_set_message(op, msg);
            op_finish(op, rv, NULL, 0);
        } else {
            op_retry(op, rv, msg, false);
        }
        return;
    }
    op->state = RZ_OP_SENT;
    op->conn = c;
    op->ever_sent = true;
    op->attempts++;
    if (op->events != NULL || op->target == RZ_TARGET_FIXED) {
        op->attempt_deadline_ms = UINT64_MAX;
    } else {
        uint32_t shift = op->timeouts < 2 ? op->timeouts : 2;
        op->attempt_deadline_ms =
            now_ms(h) + min_u32(ATTEMPT_MIN_MS << shift, ATTEMPT_MAX_MS);
    }
}

static rz_client_conn *conn_open(ratusz *h, int idx);

/* Sends op (IDLE, due) to the node it should go to next. */
static void op_dispatch(rz_client_op *op)
{
    ratusz *h = op->h;
    rz_client_conn *c;
    int idx;

    RZ_PRE(op->state == RZ_OP_IDLE);
    if (op->rebuild != NULL) {
        int rv = op->rebuild(op);
        if (rv != 0) {
            op_finish(op, rv, NULL, 0);
            return;
        }
    }
    idx = node_pick(h, op);
    if (idx < 0) {
        op_retry(op, RZ_EUNAVAILABLE, "no node to send to", false);
        return;
    }
    op->node = idx;
    c = h->nodes[idx].conn;
    if (c == NULL) {
        c = conn_open(h, idx);
        if (c == NULL) {
            char msg[RATUSZ_ERRMSG_BYTES];
            rz_errmsg_set(msg, "cannot open a connection to %s",
                          h->nodes[idx].addr);
            node_mark_down(h, idx);
            op_retry(op, RZ_EUNAVAILABLE, msg, false);
            return;
        }
    }
    if (c->state == RZ_CONN_OPEN) {
        op_send(op, c);
        return;
    }
    op->state = RZ_OP_WAITCONN;
    op->conn = c;
}

/* Codes after which the same request may be sent again (docs/protocol.md
 * 6.8). */
static bool retriable(int err)
{
    switch (err) {
    case RZ_ENOTLEADER:
    case RZ_ELEADERSHIPLOST:
    case RZ_ETIMEDOUT:
    case RZ_ECLOSED:
    case RZ_EUNAVAILABLE:
    case RZ_EBUSY:
    case RZ_ESHUTDOWN:
        return true;
    default:
        return false;
    }
}

/* An ERROR reply for op from node idx. */
static void op_error_reply(rz_client_op *op, int idx, const rz_client_error *e)
{
    ratusz *h = op->h;
    char msg[RATUSZ_ERRMSG_BYTES];
    rz_errmsg_set(msg, "%s: %s", h->nodes[idx].addr,
                  e->message[0] != '\0' ? e->message : rz_strerror(e->code));
    op->current_version = e->version;
    op->err_case_id = e->case_id;
    if (e->code == RZ_ENOTLEADER && op->target != RZ_TARGET_FIXED) {
        int to = -1;
        if (e->leader_address[0] != '\0') {
            to = node_find_or_add(h, e->leader_address);
        }
        if (to >= 0 && to != idx &&
            h->nodes[to].suspect_until_ms <= now_ms(h)) {
            h->leader = to;
            op->redirects++;
            op->run_redirects++;
            op_retry(op, e->code, msg, op->run_redirects <= REDIRECTS_AT_ONCE);
            return;
        }
        if (h->leader == idx) {
            h->leader = -1;
        }
        op_retry(op, e->code, msg, false);
        return;
    }
    if (e->code == RZ_ESTALE && op->target == RZ_TARGET_ANY &&
        ++op->stale_refusals < (uint32_t)h->n_nodes) {
        op_retry(op, e->code, msg, true);
        return;
    }
    if (retriable(e->code)) {
        if ((e->code == RZ_ESHUTDOWN || e->code == RZ_ELEADERSHIPLOST) &&
            h->leader == idx) {
            h->leader = -1;
        }
        op_retry(op, e->code, msg, false);
        return;
    }
    op_set_message(op, msg);
    op_finish(op, e->code, NULL, 0);
}

int rz_client_common_of(const ratusz *h, const ratusz_call *call, bool write,
                        bool read, rz_client_common *out)
{
    uint32_t timeout = call != NULL && call->timeout_ms != 0 ? call->timeout_ms
                                                             : h->timeout_ms;
    memset(out, 0, sizeof(*out));
    if (timeout > TIMEOUT_MAX_MS) {
        return RZ_EINVAL;
    }
    out->timeout_ms = timeout;
    if (call != NULL && read) {
        out->max_stale_ms = call->max_stale_ms;
    }
    if (call != NULL && write) {
        if (call->actor_id > (uint64_t)INT64_MAX) {
            return RZ_EINVAL;
        }
        out->actor_id = call->actor_id;
    }
    return 0;
}

static bool all_zero(const uint8_t *p, size_t n)
{
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++) {
        acc |= p[i];
    }
    return acc == 0;
}

int rz_client_op_prepare(ratusz *h, rz_client_op *op, const ratusz_call *call,
                         uint32_t type, rz_client_target target,
                         const uint8_t *body, size_t n)
{
    rz_buf b;
    size_t len;
    uint32_t timeout = call != NULL && call->timeout_ms != 0 ? call->timeout_ms
                                                             : h->timeout_ms;
    RZ_PRE(op != NULL && body != NULL && n > 0);
    memset(op, 0, sizeof(*op));
    if (timeout > TIMEOUT_MAX_MS) {
        return RZ_EINVAL;
    }
    op->h = h;
    op->type = type;
    op->target = target;
    op->timeout_ms = timeout;
    op->node = -1;
    op->fixed_node = -1;
    op->backoff_ms = BACKOFF_MIN_MS;
    if (call != NULL) {
        op->no_retry = call->no_retry;
        op->outcome = call->outcome;
        memcpy(op->rid, call->request_id, sizeof(op->rid));
    }
    if (all_zero(op->rid, sizeof(op->rid))) {
        rz_random_bytes(op->rid, sizeof(op->rid));
    }
    rz_buf_init(&b, RZ_FRAME_MAX_BYTES);
    rz_envelope_encode(&b, type, op->rid, body, n);
    if (b.err != 0) {
        int rv = b.err;
        rz_buf_close(&b);
        return rv;
    }
    op->frame = rz_buf_take(&b, &len);
    op->frame_len = len;
    return 0;
}

int rz_client_op_set_body(rz_client_op *op, const uint8_t *body, size_t n)
{
    rz_buf b;
    size_t len;
    rz_random_bytes(op->rid, sizeof(op->rid));
    rz_buf_init(&b, RZ_FRAME_MAX_BYTES);
    rz_envelope_encode(&b, op->type, op->rid, body, n);
    if (b.err != 0) {
        int rv = b.err;
        rz_buf_close(&b);
        return rv;
    }
    free(op->frame);
    op->frame = rz_buf_take(&b, &len);
    op->frame_len = len;
    return 0;
}

void rz_client_op_discard(rz_client_op *op)
{
    free(op->frame);
    op->frame = NULL;
}

int rz_client_op_start(ratusz *h, rz_client_op *op, const char *endpoint)
{
    RZ_PRE(op->state == RZ_OP_NEW && op->done != NULL);
    if (h->closing) {
        rz_client_op_discard(op);
        return RZ_ECANCELED;
    }
    if (endpoint != NULL) {
        int idx = node_find_or_add(h, endpoint);
        if (idx < 0) {
            rz_client_op_discard(op);
            return RZ_EINVAL;
        }
        op->fixed_node = idx;
        if (op->target == RZ_TARGET_ANY) {
            op->target = RZ_TARGET_FIXED;
        }
    }
    if (op->target == RZ_TARGET_FIXED && op->fixed_node < 0) {
        rz_client_op_discard(op);
        return RZ_EINVAL;
    }
    uv_update_time(h->loop);
    op->deadline_ms =
        op->events != NULL ? UINT64_MAX : now_ms(h) + (uint64_t)op->timeout_ms;
    op->state = RZ_OP_IDLE;
    op->wake_ms = now_ms(h);
    op->next = h->ops;
    op->prev = NULL;
    if (h->ops != NULL) {
        h->ops->prev = op;
    }
    h->ops = op;
    h->n_ops++;
    /* Sent from the timer, never from inside this call: an async caller's
     * callback must not run before its call returned. */
    schedule(h);
    return 0;
}

/* Sends a WATCH_CANCEL for the stream's current request_id (best effort:
 * events that still come for it match no op and are dropped). */
static void stream_send_cancel(rz_client_op *op)
{
    rz_buf body;
    rz_buf b;
    if (op->state != RZ_OP_SENT || op->conn == NULL ||
        op->conn->state != RZ_CONN_OPEN) {
        return;
    }
    rz_buf_init(&body, 64);
    rz_buf_init(&b, 128);
    if (rz_client_enc_empty(&body, NULL) == 0) {
        rz_envelope_encode(&b, RZ_CLIENT_WATCH_CANCEL, op->rid, body.data,
                           body.len);
        if (b.err == 0) {
            (void)rz_secure_uv_send(&op->conn->s, b.data, b.len);
        }
    }
    rz_buf_close(&b);
    rz_buf_close(&body);
}

void rz_client_stream_park(rz_client_op *op)
{
    if (op->state == RZ_OP_DONE || op->state == RZ_OP_PARKED) {
        return;
    }
    stream_send_cancel(op);
    op->conn = NULL;
    op->state = RZ_OP_PARKED;
}

void rz_client_stream_resume(rz_client_op *op)
{
    if (op->state != RZ_OP_PARKED) {
        return;
    }
    op->state = RZ_OP_IDLE;
    op->wake_ms = now_ms(op->h);
    schedule(op->h);
}

void rz_client_stream_cancel(rz_client_op *op)
{
    if (op->state == RZ_OP_DONE || op->state == RZ_OP_NEW) {
        return;
    }
    stream_send_cancel(op);
    op_set_message(op, "the watch was closed");
    op_finish(op, RZ_ECANCELED, NULL, 0);
}

/* ---------------------------------------------------------------------------
 * The timer: deadlines, due retries, attempt and connect timeouts
 * ------------------------------------------------------------------------ */

static void on_timer(uv_timer_t *t)
{
    ratusz *h = t->data;
    uint64_t now = now_ms(h);
    rz_client_op *op = h->ops;
    h->timer_at = 0;
    for (int i = 0; i < h->n_nodes; i++) {
        rz_client_conn *c = h->nodes[i].conn;
        if (c != NULL && c->state != RZ_CONN_OPEN &&
            c->connect_deadline_ms <= now) {
            char msg[RATUSZ_ERRMSG_BYTES];
            rz_errmsg_set(msg, "connect to %s: no handshake within %u ms",
                          h->nodes[i].addr, (unsigned)h->connect_timeout_ms);
            conn_fail(c, RZ_ETIMEDOUT, msg);
        }
    }
    /* An op may finish (and be freed by its owner) while we walk: keep the
     * next one first. Ops started from inside callbacks go to the head, so
     * the walk is bounded by the ops present when it began. */
    while (op != NULL && !h->closing) {
        rz_client_op *next = op->next;
        if (op->deadline_ms <= now && op->state != RZ_OP_DONE) {
            op_expire(op);
        } else if (op->state == RZ_OP_IDLE && op->wake_ms <= now) {
            op_dispatch(op);
        } else if (op->state == RZ_OP_SENT && op->attempt_deadline_ms <= now) {
            char msg[RATUSZ_ERRMSG_BYTES];
            rz_errmsg_set(msg, "%s: no reply within the try's time",
                          h->nodes[op->node].addr);
            if (h->leader == op->node) {
                h->leader = -1; /* it may be paused: look for another */
            }
            h->nodes[op->node].suspect_until_ms = now + NODE_SUSPECT_MS;
            op->timeouts++;
            op_retry(op, RZ_ETIMEDOUT, msg, true);
        }
        op = next;
    }
    schedule(h);
}

/* Arms the timer for the earliest thing due. */
static void schedule(ratusz *h)
{
    uint64_t at = UINT64_MAX;
    uint64_t now;
    if (h->closing) {
        return;
    }
    for (rz_client_op *op = h->ops; op != NULL; op = op->next) {
        uint64_t t = op->deadline_ms;
        if (op->state == RZ_OP_IDLE && op->wake_ms < t) {
            t = op->wake_ms;
        }
        if (op->state == RZ_OP_SENT && op->attempt_deadline_ms < t) {
            t = op->attempt_deadline_ms;
        }
        if (t < at) {
            at = t;
        }
    }
    for (int i = 0; i < h->n_nodes; i++) {
        rz_client_conn *c = h->nodes[i].conn;
        if (c != NULL && c->state != RZ_CONN_OPEN &&
            c->connect_deadline_ms < at) {
            at = c->connect_deadline_ms;
        }
    }
    if (at == UINT64_MAX) {
        uv_timer_stop(&h->timer);
        h->timer_at = 0;
        return;
    }
    if (h->timer_at != 0 && h->timer_at == at) {
        return;
    }
    now = now_ms(h);
    h->timer_at = at;
    uv_timer_start(&h->timer, on_timer, at > now ? at - now : 0, 0);
}

/* ---------------------------------------------------------------------------
 * Connections
 * ------------------------------------------------------------------------ */

static void conn_maybe_free(rz_client_conn *c)
{
    ratusz *h = c->h;
    if (c->gai_pending || !c->tcp_closed) {
        return;
    }
    free(c);
    RZ_ASSERT(h->handles_open > 0);
    h->handles_open--;
    if (h->closing && h->handles_open == 0 && h->close_done != NULL) {
        h->close_done(h->close_arg);
    }
}

static void on_tcp_closed(uv_handle_t *handle)
{
    rz_client_conn *c = handle->data;
    c->tcp_closed = true;
    conn_maybe_free(c);
}

static void on_secure_closed(rz_secure_uv *s, int status)
{
    rz_client_conn *c = s->data;
    if (!c->failed) {
        char msg[RATUSZ_ERRMSG_BYTES];
        int err = status == 0 ? RZ_ECLOSED : status;
        rz_errmsg_set(msg, "%s: %s%s%s", c->h->nodes[c->node].addr,
                      rz_strerror(err), s->errmsg[0] != '\0' ? ": " : "",
                      s->errmsg);
        conn_fail(c, err, msg);
    }
    c->tcp_closed = true;
    conn_maybe_free(c);
}

/* Our credential expired (the node refuses it with a bare "handshake
 * failed"): say so, since only we can tell. */
static int auth_error(ratusz *h)
{
    return rz_now_ms() > h->id.cred.not_after_ms ? RZ_EEXPIRED : RZ_EAUTH;
}

/* The connection is unusable: detach it from its node, move its ops on,
 * and close it. Idempotent. */
static void conn_fail(rz_client_conn *c, int err, const char *msg)
{
    ratusz *h = c->h;
    rz_client_op *op = h->ops;
    bool refused = err == RZ_EAUTH || err == RZ_EEXPIRED;
    if (c->failed) {
        return;
    }
    c->failed = true;
    if (h->nodes[c->node].conn == c) {
        h->nodes[c->node].conn = NULL;
    }
    if (c->state != RZ_CONN_OPEN) {
        node_mark_down(h, c->node);
    } else if (h->leader == c->node) {
        h->leader = -1;
    }
    if (refused) {
        err = auth_error(h);
    }
    while (op != NULL && !h->closing) {
        rz_client_op *next = op->next;
        if (op->conn == c &&
            (op->state == RZ_OP_SENT || op->state == RZ_OP_WAITCONN)) {
            if (refused) {
                /* Every node checks credentials the same way: trying
                 * another would only hide the reason. */
                op_set_message(op, msg);
                op_finish(op, err, NULL, 0);
            } else {
                op_retry(op, err == 0 ? RZ_ECLOSED : err, msg, false);
            }
        }
        op = next;
    }
    if (c->secure_started) {
        rz_secure_uv_abort(&c->s, err < 0 ? err : RZ_ECLOSED);
    } else if (!uv_is_closing((uv_handle_t *)&c->tcp)) {
        uv_close((uv_handle_t *)&c->tcp, on_tcp_closed);
    }
    schedule(h);
}

static void on_established(rz_secure_uv *s)
{
    rz_client_conn *c = s->data;
    ratusz *h = c->h;
    rz_client_op *op = h->ops;
    c->state = RZ_CONN_OPEN;
    h->nodes[c->node].fails = 0;
    h->nodes[c->node].down_until_ms = 0;
    while (op != NULL && !h->closing) {
        rz_client_op *next = op->next;
        if (op->conn == c && op->state == RZ_OP_WAITCONN) {
            op_send(op, c);
        }
        op = next;
    }
    schedule(h);
}

static rz_client_op *op_find(ratusz *h, rz_client_conn *c,
                             const uint8_t rid[RZ_REQUEST_ID_BYTES])
{
    for (rz_client_op *op = h->ops; op != NULL; op = op->next) {
        if (op->conn == c && op->state == RZ_OP_SENT &&
            memcmp(op->rid, rid, RZ_REQUEST_ID_BYTES) == 0) {
            return op;
        }
    }
    return NULL;
}

static void on_frame(rz_secure_uv *s, const uint8_t *p, size_t n)
{
    rz_client_conn *c = s->data;
    ratusz *h = c->h;
    rz_envelope env;
    rz_client_op *op;
    const char *broken = NULL;
    if (c->failed) {
        return;
    }
    if (rz_envelope_decode(p, n, NULL, &env) != 0) {
        broken = "a frame that is not a message envelope";
        goto broken;
    }
    h->nodes[c->node].suspect_until_ms = 0; /* it answers again */
    op = op_find(h, c, env.request_id);
    if (op == NULL) {
        /* A late reply to a try we gave up on, or a cancelled stream. */
        return;
    }
    switch (env.type) {
    case RZ_CLIENT_REPLY:
        if (op->events != NULL) {
            return; /* the answer to a WATCH_CANCEL */
        }
        if (op->target == RZ_TARGET_LEADER) {
            h->leader = c->node; /* only the leader serves these */
        }
        op_finish(op, 0, env.body, env.body_len);
        break;
    case RZ_CLIENT_ERROR: {
        rz_client_error e;
        if (rz_client_dec_error(env.body, env.body_len, &e) != 0) {
            broken = "an ERROR body that does not decode";
            goto broken;
        }
        op_error_reply(op, c->node, &e);
        break;
    }
    case RZ_CLIENT_EVENTS:
        if (op->events == NULL) {
            broken = "EVENTS for a request that is not a watch";
            goto broken;
        }
        if (op->events(op, env.body, env.body_len) != 0) {
            broken = "an EVENTS body that does not decode";
            goto broken;
        }
        op->run_redirects = 0;
        op->backoff_ms = BACKOFF_MIN_MS;
        break;
    default:
        return; /* a message type of a newer node */
    }
    schedule(h);
    return;

broken : {
    char msg[RATUSZ_ERRMSG_BYTES];
    rz_errmsg_set(msg, "%s sent %s", h->nodes[c->node].addr, broken);
    conn_fail(c, RZ_EPROTO, msg);
}
}

static void on_connect(uv_connect_t *req, int status)
{
    rz_client_conn *c = req->data;
    ratusz *h = c->h;
    static const rz_secure_uv_cbs cbs = {on_established, on_frame, NULL,
                                         on_secure_closed};
    int rv;
    if (c->failed) {
        return; /* closing already */
    }
    if (status < 0) {
        char msg[RATUSZ_ERRMSG_BYTES];
        rz_errmsg_set(msg, "connect to %s: %s", h->nodes[c->node].addr,
                      uv_strerror(status));
        conn_fail(c, RZ_EUNAVAILABLE, msg);
        return;
    }
    (void)uv_tcp_nodelay(&c->tcp, 1);
    rv = rz_secure_uv_init(h->loop, &c->s, (uv_stream_t *)&c->tcp, &h->scfg,
                           true, 0, &cbs);
    if (rv != 0) {
        char msg[RATUSZ_ERRMSG_BYTES];
        rz_errmsg_set(msg, "handshake with %s: %s", h->nodes[c->node].addr,
                      rz_strerror(rv));
        conn_fail(c, rv, msg);
        return;
    }
    c->s.data = c; /* init cleared it */
    c->secure_started = true;
    c->state = RZ_CONN_HANDSHAKE;
}

static void conn_connect(rz_client_conn *c, const struct sockaddr *sa)
{
    int rv;
    c->state = RZ_CONN_CONNECTING;
    c->creq.data = c;
    rv = uv_tcp_connect(&c->creq, &c->tcp, sa, on_connect);
    if (rv != 0) {
        char msg[RATUSZ_ERRMSG_BYTES];
        rz_errmsg_set(msg, "connect to %s: %s", c->h->nodes[c->node].addr,
                      uv_strerror(rv));
        conn_fail(c, RZ_EUNAVAILABLE, msg);
    }
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    rz_client_conn *c = req->data;
    c->gai_pending = false;
    if (c->failed) {
        uv_freeaddrinfo(res);
        conn_maybe_free(c);
        return;
    }
    if (status < 0 || res == NULL) {
        char msg[RATUSZ_ERRMSG_BYTES];
        rz_errmsg_set(msg, "resolve %s: %s", c->h->nodes[c->node].addr,
                      uv_strerror(status < 0 ? status : UV_EAI_NONAME));
        uv_freeaddrinfo(res);
        conn_fail(c, RZ_EUNAVAILABLE, msg);
        return;
    }
    conn_connect(c, res->ai_addr);
    uv_freeaddrinfo(res);
}

/* Opens a connection to node idx (or NULL on a local failure). The
 * handshake runs in the background; ops wait for `established`. */
static rz_client_conn *conn_open(ratusz *h, int idx)
{
    rz_client_node *n = &h->nodes[idx];
    rz_client_conn *c = calloc(1, sizeof(*c));
    union {
        struct sockaddr_in v4;
        struct sockaddr_in6 v6;
    } sa;
    int port = atoi(n->port);
    if (c == NULL) {
        return NULL;
    }
    c->h = h;
    c->node = idx;
    if (uv_tcp_init(h->loop, &c->tcp) != 0) {
        free(c);
        return NULL;
    }
    c->tcp.data = c;
    h->handles_open++;
    n->conn = c;
    c->connect_deadline_ms = now_ms(h) + h->connect_timeout_ms;
    if (uv_ip4_addr(n->host, port, &sa.v4) == 0) {
        conn_connect(c, (const struct sockaddr *)&sa.v4);
    } else if (uv_ip6_addr(n->host, port, &sa.v6) == 0) {
        conn_connect(c, (const struct sockaddr *)&sa.v6);
    } else {
        struct addrinfo hints;
        memset(&hints, 0, sizeof(hints));
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        c->state = RZ_CONN_RESOLVING;
        c->gai.data = c;
        c->gai_pending = true;
        if (uv_getaddrinfo(h->loop, &c->gai, on_resolved, n->host, n->port,
                           &hints) != 0) {
            c->gai_pending = false;
            conn_fail(c, RZ_EUNAVAILABLE, "cannot start name resolution");
        }
    }
    /* A connect that failed at once already detached itself. */
    return c->failed ? NULL : c;
}

/* ---------------------------------------------------------------------------
 * Init and close
 * ------------------------------------------------------------------------ */

int rz_client_core_init(ratusz *h, uv_loop_t *loop, const ratusz_options *o,
                        char *errmsg)
{
    int rv;
    if (o == NULL || o->endpoints == NULL || o->n_endpoints == 0 ||
        o->n_endpoints > RATUSZ_MAX_ENDPOINTS || o->identity_path == NULL) {
        if (errmsg != NULL) {
            rz_errmsg_set(errmsg, "give 1..%d endpoints and an identity file",
                          RATUSZ_MAX_ENDPOINTS);
        }
        return RZ_EINVAL;
    }
    if (o->timeout_ms > TIMEOUT_MAX_MS) {
        if (errmsg != NULL) {
            rz_errmsg_set(errmsg, "timeout_ms is over %u", TIMEOUT_MAX_MS);
        }
        return RZ_EINVAL;
    }
    if (rz_crypto_init() != 0) {
        if (errmsg != NULL) {
            rz_errmsg_set(errmsg, "libsodium could not start");
        }
        return RZ_EIO;
    }
    h->loop = loop;
    h->leader = -1;
    h->timeout_ms = o->timeout_ms != 0 ? o->timeout_ms : TIMEOUT_DEFAULT_MS;
    h->connect_timeout_ms = o->connect_timeout_ms != 0
                                ? o->connect_timeout_ms
                                : CONNECT_TIMEOUT_DEFAULT_MS;
    for (size_t i = 0; i < o->n_endpoints; i++) {
        if (o->endpoints[i] == NULL ||
            node_find_or_add(h, o->endpoints[i]) < 0) {
            if (errmsg != NULL) {
                rz_errmsg_set(errmsg,
                              "endpoint %zu (%s) is not host:port or "
                              "[ipv6]:port",
                              i, o->endpoints[i] ? o->endpoints[i] : "NULL");
            }
            return RZ_EINVAL;
        }
    }
    rv = rz_identity_read(o->identity_path, &h->id, errmsg);
    if (rv != 0) {
        return rv;
    }
    if (rz_now_ms() > h->id.cred.not_after_ms) {
        if (errmsg != NULL) {
            rz_errmsg_set(errmsg,
                          "the credential in %s has expired: issue a new "
                          "one (ratuszctl keys issue)",
                          o->identity_path);
        }
        rz_identity_wipe(&h->id);
        return RZ_EEXPIRED;
    }
    h->scfg.id = &h->id;
    h->scfg.allowed_roles = RZ_ROLE_BIT(RZ_ROLE_NODE);
    if (uv_timer_init(loop, &h->timer) != 0) {
        rz_identity_wipe(&h->id);
        return RZ_EIO;
    }
    h->timer.data = h;
    h->handles_open++;
    return 0;
}

static void on_timer_closed(uv_handle_t *handle)
{
    ratusz *h = handle->data;
    RZ_ASSERT(h->handles_open > 0);
    h->handles_open--;
    if (h->handles_open == 0 && h->close_done != NULL) {
        h->close_done(h->close_arg);
    }
}

void rz_client_core_close(ratusz *h)
{
    if (h->closing) {
        return;
    }
    /* Closing first, so that callbacks cannot start new ops; then the
     * pending ops (their owners may be waiting), then the handles. */
    h->closing = true;
    while (h->ops != NULL) {
        rz_client_op *op = h->ops;
        op_set_message(op, "the handle was closed");
        op_finish(op, RZ_ECANCELED, NULL, 0);
    }
    for (int i = 0; i < h->n_nodes; i++) {
        if (h->nodes[i].conn != NULL) {
            conn_fail(h->nodes[i].conn, RZ_ECANCELED, "closing");
        }
    }
    uv_timer_stop(&h->timer);
    uv_close((uv_handle_t *)&h->timer, on_timer_closed);
}
