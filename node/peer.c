/* The peer transport of ratuszd (node/peer.h): raft frames between nodes
 * over TCP and the secure channel, one outgoing connection per peer with
 * reconnect backoff, bounded queues and a bounded number of incoming
 * connections.
 *
 * Objects and who frees them:
 *   - the net owns its peers and every connection (in and out);
 *   - a peer (one per destination node id) owns its queue of frames and a
 *     timer (the backoff, or the connect timeout of its dial); it points at
 *     its current outgoing connection, if any, and at a name resolution in
 *     flight, which it lets go of (the resolution frees itself);
 *   - a connection (conn) owns a TCP handle and, once the TCP connection is
 *     up, an rz_secure_uv around it. It is freed in the callback that says
 *     its last handle is closed: the secure adaptor's `closed`, or the TCP
 *     handle's close callback when the secure layer never started.
 *
 * Lifecycle of an outgoing connection (checked on every move):
 *
 *   from        to           when
 *   DIALING     SECURING     TCP connected, secure adaptor started
 *   DIALING     CLOSING      connect failed or timed out, or the peer let
 *                            go of it
 *   SECURING    OPEN         handshake done, credential names the peer id
 *   SECURING    CLOSING      handshake failed or wrong id
 *   OPEN        CLOSING      connection lost, address changed, net closing
 *
 * Incoming connections are DIALING only until accepted, then move the same
 * way (OPEN: the credential is a node's). */
#include "node/peer.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/limits.h"

/* First reconnect delay, and the most it doubles to (docs/protocol.md 7). */
#define BACKOFF_MIN_MS 100u
#define BACKOFF_MAX_MS 5000u
/* The backoff starts over only after a connection stayed up this long, so
 * a peer that accepts and drops at once is not dialled ten times a second
 * forever. */
#define BACKOFF_RESET_MS 1000u

/* A peer nobody sent to for this long is forgotten (its connection closed,
 * its queue freed): a member removed from the configuration must not be
 * dialled forever. A leader sends heartbeats to every member many times a
 * second; a follower that forgot its peers dials them again (in about a
 * round trip) when it becomes a candidate. */
#define PEER_IDLE_MS_DEFAULT 60000u
/* How often idle peers are looked for (at most). */
#define SWEEP_MS 1000u

/* Most destinations at once: a configuration holds at most
 * RZ_CONSENSUS_MAX_MEMBERS servers; the rest is room for members being
 * replaced while idle ones age out. */
#define PEERS_MAX (4u * RZ_CONSENSUS_MAX_MEMBERS)

/* A TCP connect that has not completed after this long is given up and
 * retried (a SYN to a partitioned or vanished machine is otherwise retried
 * by the kernel for minutes, and the heal would go unnoticed that long). */
#define CONNECT_TIMEOUT_MS_DEFAULT 3000u

/* TCP_USER_TIMEOUT of every peer connection: data the other end has not
 * acknowledged for this long (a partition, a dead machine) aborts the
 * connection, so it is re-dialled instead of waiting out TCP's
 * retransmission backoff (minutes after a long partition). Keepalive probes
 * after KEEPALIVE_S of silence catch the same on idle connections. */
#define TCP_USER_TIMEOUT_MS 5000u
#define KEEPALIVE_S 2u

/* Backlog of the listening socket. */
#define LISTEN_BACKLOG 128

_Static_assert(RZ_PEER_QUEUE_MAX_BYTES >= RZ_PEER_FRAME_MAX_BYTES,
               "a peer's queue must hold the largest frame");

typedef struct out_frame
{
    struct out_frame *next;
    size_t len;
    uint8_t data[];
} out_frame;

typedef enum conn_state {
    CONN_DIALING = 1,
    CONN_SECURING,
    CONN_OPEN,
    CONN_CLOSING
} conn_state;

/* Where a peer is: a numeric address, or a DNS name resolved at each dial
 * (so a moved machine is found again). */
typedef struct dest
{
    struct sockaddr_storage addr; /* valid when numeric (or resolved) */
    bool numeric;
    char host[RZ_ADDRESS_MAX_BYTES + 1];
    char port[8];
} dest;

typedef struct peer peer;

/* A name resolution in flight. It outlives its peer if need be: the peer
 * lets go of it (peer = NULL) and the callback frees it. */
typedef struct resolve
{
    uv_getaddrinfo_t req;
    peer *peer;
} resolve;

typedef struct conn
{
    rz_secure_uv s; /* valid once state >= CONN_SECURING */
    uv_tcp_t tcp;
    uv_connect_t connect_req;
    rz_peer_net *net;
    peer *peer;           /* outgoing: the peer it serves, NULL once let go */
    uint64_t expected_id; /* outgoing: the node id we dialled */
    bool inbound;
    bool secure_started; /* rz_secure_uv_init succeeded: it closes tcp */
    conn_state state;
    uint64_t opened_ms;       /* loop time the handshake finished */
    struct conn *prev, *next; /* the net's list of live connections */
} conn;

struct peer
{
    rz_peer_net *net;
    uint64_t id;
    char address[RZ_ADDRESS_MAX_BYTES + 1]; /* the dialled "HOST:PORT" */
    dest d;
    struct resolve *res; /* a name being resolved for a dial, or NULL */
    conn *c; /* current outgoing connection, NULL while backing off */
    out_frame *head, *tail;
    size_t queued_bytes;
    uint64_t n_queued;
    uv_timer_t timer; /* backoff */
    uint32_t backoff_ms;
    uint64_t last_send_ms;
    bool warned;  /* the wrong-node warning for this address was logged */
    bool closing; /* timer closing; freed in its close callback */
};

struct rz_peer_net
{
    uv_loop_t *loop;
    rz_peer_options opts;
    rz_secure_config server_cfg;
    uv_tcp_t listener;
    uv_timer_t sweep;
    peer *peers[PEERS_MAX];
    size_t n_peers;
    conn *conns; /* every live connection, in and out */
    uint32_t n_inbound;
    rz_peer_stats stats;
    uint32_t idle_ms;
    uint32_t connect_timeout_ms;
    bool closing;
    int handles_open; /* listener, sweep timer, closing peer timers */
    void (*close_cb)(void *arg);
    void *close_arg;
};

/* Allowed moves of a connection (see the table at the top). */
static void conn_move(conn *c, conn_state to)
{
    static const uint8_t allowed[5] = {
        [CONN_DIALING] = (1u << CONN_SECURING) | (1u << CONN_CLOSING),
        [CONN_SECURING] = (1u << CONN_OPEN) | (1u << CONN_CLOSING),
        [CONN_OPEN] = (1u << CONN_CLOSING),
        [CONN_CLOSING] = 0,
    };
    RZ_ASSERT(c->state >= CONN_DIALING && c->state <= CONN_CLOSING);
    RZ_ASSERT((allowed[c->state] & (1u << to)) != 0);
    c->state = to;
}

/* ---------------------------------------------------------------------------
 * Addresses
 * ------------------------------------------------------------------------ */

/* A DNS name: letters, digits, '-', '_' and '.', not starting with '-' or
 * '.', and not all digits and dots (that is a bad IPv4 address). */
static bool host_name_valid(const char *h)
{
    bool other = false;
    if (h[0] == '\0' || h[0] == '-' || h[0] == '.') {
        return false;
    }
    for (const char *c = h; *c != '\0'; c++) {
        bool digit = *c >= '0' && *c <= '9';
        bool alpha = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z');
        if (!digit && !alpha && *c != '-' && *c != '_' && *c != '.') {
            return false;
        }
        other = other || (!digit && *c != '.');
    }
    return other;
}

/* Parses the peer part (before '/') of a configuration address:
 * "A.B.C.D:PORT", "[V6]:PORT" or "NAME:PORT". On success dial[] gets the
 * "HOST:PORT" text. */
static int address_parse(const char *address, dest *out,
                         char dial[RZ_ADDRESS_MAX_BYTES + 1])
{
    const char *end;
    const char *colon;
    size_t len;
    size_t host_len;
    char *num_end = NULL;
    unsigned long port;

    if (address == NULL) {
        return RZ_EINVAL;
    }
    end = strchr(address, '/');
    len = end != NULL ? (size_t)(end - address) : strlen(address);
    if (len == 0 || len > RZ_ADDRESS_MAX_BYTES) {
        return RZ_EINVAL;
    }
    memcpy(dial, address, len);
    dial[len] = '\0';
    colon = strrchr(dial, ':');
    if (colon == NULL || colon == dial || colon[1] < '0' || colon[1] > '9') {
        return RZ_EINVAL;
    }
    errno = 0;
    port = strtoul(colon + 1, &num_end, 10);
    if (errno != 0 || *num_end != '\0' || port == 0 || port > 65535) {
        return RZ_EINVAL;
    }
    memset(out, 0, sizeof(*out));
    snprintf(out->port, sizeof(out->port), "%lu", port);
    host_len = (size_t)(colon - dial);
    memcpy(out->host, dial, host_len);
    out->host[host_len] = '\0';
    out->numeric = true;
    if (out->host[0] == '[') {
        char v6[RZ_ADDRESS_MAX_BYTES + 1];
        if (host_len < 3 || out->host[host_len - 1] != ']') {
            return RZ_EINVAL;
        }
        memcpy(v6, out->host + 1, host_len - 2);
        v6[host_len - 2] = '\0';
        if (uv_ip6_addr(v6, (int)port, (struct sockaddr_in6 *)&out->addr) !=
            0) {
            return RZ_EINVAL;
        }
        return 0;
    }
    if (uv_ip4_addr(out->host, (int)port, (struct sockaddr_in *)&out->addr) ==
        0) {
        return 0;
    }
    if (!host_name_valid(out->host)) {
        return RZ_EINVAL;
    }
    out->numeric = false;
    return 0;
}

/* True if the peer part of `address` is `dial` (the fast path of a send to
 * a known peer: no parsing). */
static bool same_dial(const char *dial, const char *address)
{
    const char *end = strchr(address, '/');
    size_t len = end != NULL ? (size_t)(end - address) : strlen(address);
    return len == strlen(dial) && memcmp(dial, address, len) == 0;
}

static socklen_t addr_len(const struct sockaddr_storage *a)
{
    return a->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                    : sizeof(struct sockaddr_in);
}

/* ---------------------------------------------------------------------------
 * Connections
 * ------------------------------------------------------------------------ */

static void peer_conn_lost(peer *p);
static void peer_flush(peer *p);
static void net_maybe_finish(rz_peer_net *n);

static void conn_link(rz_peer_net *n, conn *c)
{
    c->prev = NULL;
    c->next = n->conns;
    if (n->conns != NULL) {
        n->conns->prev = c;
    }
    n->conns = c;
}

static void conn_unlink(rz_peer_net *n, conn *c)
{
    if (c->prev != NULL) {
        c->prev->next = c->next;
    } else {
        RZ_ASSERT(n->conns == c);
        n->conns = c->next;
    }
    if (c->next != NULL) {
        c->next->prev = c->prev;
    }
    c->prev = NULL;
    c->next = NULL;
}

/* The connection's memory goes: the last of its handles is closed. */
static void conn_free(conn *c)
{
    rz_peer_net *n = c->net;
    conn_unlink(n, c);
    if (c->inbound) {
        RZ_ASSERT(n->n_inbound > 0);
        n->n_inbound--;
    }
    RZ_ASSERT(c->peer == NULL || c->peer->c != c);
    free(c);
    net_maybe_finish(n);
}

static void on_tcp_closed(uv_handle_t *h)
{
    conn_free(h->data);
}

/* Lets go of the peer a connection serves (it may go on closing alone). */
static void conn_detach(conn *c)
{
    if (c->peer != NULL && c->peer->c == c) {
        c->peer->c = NULL;
    }
    c->peer = NULL;
}

/* An outgoing connection stops serving its peer: the peer's bookkeeping
 * (connected count, and the backoff, which starts over only after a
 * connection that lasted). */
static void conn_let_go(conn *c, bool was_open)
{
    peer *p = c->peer;
    rz_peer_net *n = c->net;
    RZ_PRE(p != NULL && p->c == c);
    conn_detach(c);
    if (!was_open) {
        return;
    }
    RZ_ASSERT(n->stats.peers_connected > 0);
    n->stats.peers_connected--;
    n->stats.disconnects++;
    if (uv_now(n->loop) - c->opened_ms >= BACKOFF_RESET_MS) {
        p->backoff_ms = BACKOFF_MIN_MS;
    }
}

/* Closes a connection in whatever state it is: a clean secure shutdown when
 * it is open (the peer gets our FINAL frame), an abort otherwise. */
static void conn_close(conn *c, int err)
{
    if (c->state == CONN_CLOSING) {
        return;
    }
    if (!c->secure_started) {
        conn_move(c, CONN_CLOSING);
        /* A pending connect request is cancelled: its callback runs with
         * UV_ECANCELED before this close callback. */
        c->tcp.data = c;
        uv_close((uv_handle_t *)&c->tcp, on_tcp_closed);
        return;
    }
    if (c->state == CONN_OPEN && err == 0) {
        conn_move(c, CONN_CLOSING);
        rz_secure_uv_shutdown(&c->s);
        return;
    }
    conn_move(c, CONN_CLOSING);
    rz_secure_uv_abort(&c->s, err != 0 ? err : RZ_ECANCELED);
}

/* A node keeps one outgoing connection per peer, so an older incoming one
 * from the same node id is obsolete (the node restarted, or its connection
 * was replaced and the old one is half-open): it is closed cleanly, so a
 * peer cannot pile up incoming connections. */
static void close_older_inbound(conn *fresh, uint64_t node_id)
{
    size_t guard = 0;
    for (conn *c = fresh->net->conns; c != NULL; c = c->next) {
        const rz_credential *cred;
        RZ_ASSERT(guard++ <= fresh->net->n_inbound + 4u * PEERS_MAX + 1024u);
        if (c == fresh || !c->inbound || c->state != CONN_OPEN) {
            continue;
        }
        cred = rz_secure_peer(&c->s.conn);
        if (cred != NULL && cred->node_id == node_id) {
            conn_close(c, 0);
        }
    }
}

static void on_established(rz_secure_uv *s)
{
    conn *c = s->data;
    rz_peer_net *n = c->net;
    const rz_credential *cred = rz_secure_peer(&s->conn);
    RZ_ASSERT(cred != NULL);
    if (c->state != CONN_SECURING) {
        return; /* closing already */
    }
    /* The adaptor checked the role against allowed_roles and the policy
     * hook checked the id; checked again here because the transport's
     * guarantee to consensus (DESIGN.md §5) rests on it. */
    if (cred->role != RZ_ROLE_NODE || cred->node_id == 0 ||
        (!c->inbound && cred->node_id != c->expected_id)) {
        rz_log(RZ_LOG_WARN, "peer refused: wrong credential",
               "peer=%llu role=%d credential_node=%llu",
               (unsigned long long)c->expected_id, (int)cred->role,
               (unsigned long long)cred->node_id);
        conn_close(c, RZ_EDENIED);
        return;
    }
    conn_move(c, CONN_OPEN);
    if (c->inbound) {
        close_older_inbound(c, cred->node_id);
        return;
    }
    if (c->peer == NULL) {
        conn_close(c, 0);
        return;
    }
    n->stats.connects++;
    n->stats.peers_connected++;
    c->opened_ms = uv_now(n->loop);
    rz_log(RZ_LOG_INFO, "peer connected", "peer=%llu address=%s",
           (unsigned long long)c->peer->id, c->peer->address);
    peer_flush(c->peer);
}

static void on_frame(rz_secure_uv *s, const uint8_t *p, size_t len)
{
    conn *c = s->data;
    rz_peer_net *n = c->net;
    const rz_credential *cred = rz_secure_peer(&s->conn);
    /* Outgoing connections only send (docs/protocol.md 7): a frame on one
     * is ignored. Nothing is delivered once the net is closing, since the
     * receiver may be going away. */
    if (!c->inbound || c->state != CONN_OPEN || n->closing || cred == NULL) {
        return;
    }
    n->stats.frames_received++;
    n->opts.on_frame(n->opts.arg, cred->node_id, p, len);
}

static void on_writable(rz_secure_uv *s)
{
    conn *c = s->data;
    if (c->peer != NULL && c->state == CONN_OPEN) {
        peer_flush(c->peer);
    }
}

static void on_closed(rz_secure_uv *s, int status)
{
    conn *c = s->data;
    rz_peer_net *n = c->net;
    /* An attached connection still OPEN here was lost, not closed by us
     * (we let go of a connection before closing an open one). */
    bool was_open = c->state == CONN_OPEN;
    if (c->state != CONN_CLOSING) {
        conn_move(c, CONN_CLOSING);
    }
    if (status == RZ_EAUTH || status == RZ_EDENIED) {
        n->stats.refused++;
    }
    if (c->peer != NULL && c->peer->c == c) {
        peer *p = c->peer;
        conn_let_go(c, was_open);
        {
            char detail[2 * RZ_ERRMSG_BYTES + 3];
            rz_log(was_open ? RZ_LOG_INFO : RZ_LOG_DEBUG,
                   was_open ? "peer connection lost" : "peer handshake failed",
                   "peer=%llu status=%s detail=%s", (unsigned long long)p->id,
                   rz_errname(status),
                   rz_log_quote(detail, sizeof(detail), s->errmsg));
        }
        peer_conn_lost(p);
    }
    conn_free(c);
}

static const rz_secure_uv_cbs conn_cbs = {
    .established = on_established,
    .frame = on_frame,
    .writable = on_writable,
    .closed = on_closed,
};

/* Policy hook of outgoing connections: the dialled peer must be the node id
 * we meant to reach (a stale address may now belong to another node). */
static int policy_expected_id(void *data, const rz_credential *peer_cred)
{
    const conn *c = data;
    if (peer_cred->role == RZ_ROLE_NODE &&
        peer_cred->node_id == c->expected_id) {
        return 0;
    }
    /* Once per address, not at every redial. */
    if (c->peer != NULL && !c->peer->warned) {
        c->peer->warned = true;
        rz_log(RZ_LOG_WARN, "peer refused: the address belongs to another node",
               "peer=%llu address=%s credential_node=%llu",
               (unsigned long long)c->expected_id, c->peer->address,
               (unsigned long long)peer_cred->node_id);
    }
    return RZ_EDENIED;
}

/* Starts the secure layer on a connected TCP handle. On failure the caller
 * still owns the TCP handle. */
static int conn_secure_start(conn *c, bool is_client)
{
    rz_peer_net *n = c->net;
    rz_secure_config cfg = n->server_cfg;
    int rv;
    if (is_client) {
        cfg.policy = policy_expected_id;
        cfg.policy_data = c;
    }
    rv = rz_secure_uv_init(n->loop, &c->s, (uv_stream_t *)&c->tcp, &cfg,
                           is_client, 0, &conn_cbs);
    if (rv != 0) {
        return rv;
    }
    c->s.data = c;
    c->secure_started = true;
    conn_move(c, CONN_SECURING);
    return 0;
}

/* Socket options every peer connection gets (see the limits above). */
static void tune_socket(uv_tcp_t *tcp)
{
    uv_os_fd_t fd;
    unsigned int user_timeout_ms = TCP_USER_TIMEOUT_MS;
    (void)uv_tcp_nodelay(tcp, 1);
    (void)uv_tcp_keepalive(tcp, 1, KEEPALIVE_S);
    if (uv_fileno((uv_handle_t *)tcp, &fd) == 0) {
        (void)setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout_ms,
                         sizeof(user_timeout_ms));
    }
}

static void on_connect(uv_connect_t *req, int status)
{
    conn *c = req->data;
    peer *p = c->peer;
    int rv;
    if (c->state == CONN_CLOSING) {
        return; /* we closed it: the close callback frees it */
    }
    RZ_ASSERT(c->state == CONN_DIALING);
    if (status < 0) {
        rz_log(RZ_LOG_DEBUG, "peer dial failed", "peer=%llu error=\"%s\"",
               (unsigned long long)c->expected_id, uv_strerror(status));
        conn_detach(c);
        conn_close(c, RZ_EIO);
        if (p != NULL) {
            peer_conn_lost(p);
        }
        return;
    }
    tune_socket(&c->tcp);
    rv = conn_secure_start(c, true);
    if (rv != 0) {
        conn_detach(c);
        conn_close(c, rv);
        if (p != NULL) {
            peer_conn_lost(p);
        }
    }
}

/* ---------------------------------------------------------------------------
 * Peers
 * ------------------------------------------------------------------------ */

static void peer_dial(peer *p);

/* The peer's timer: the end of a backoff (dial again), or the connect
 * timeout of the dial in progress. */
static void on_peer_timer(uv_timer_t *t)
{
    peer *p = t->data;
    if (p->closing || p->net->closing || p->res != NULL) {
        return;
    }
    if (p->c != NULL) {
        conn *c = p->c;
        if (c->state == CONN_DIALING) {
            rz_log(RZ_LOG_DEBUG, "peer dial timed out", "peer=%llu",
                   (unsigned long long)p->id);
            conn_detach(c);
            conn_close(c, RZ_ETIMEDOUT);
            peer_conn_lost(p);
        }
        return;
    }
    peer_dial(p);
}

/* The outgoing connection is gone (or never came up): try again later,
 * after the current backoff with jitter, and double the backoff. */
static void peer_conn_lost(peer *p)
{
    uint32_t half;
    uint32_t delay_ms;
    RZ_PRE(p->c == NULL && p->res == NULL);
    if (p->closing || p->net->closing) {
        return;
    }
    /* "Equal jitter": somewhere in [backoff/2, backoff], so peers that
     * lost each other at the same moment do not dial in lockstep. */
    half = p->backoff_ms / 2u;
    delay_ms = half + rz_random_uniform(half + 1u);
    p->backoff_ms = p->backoff_ms >= BACKOFF_MAX_MS / 2u ? BACKOFF_MAX_MS
                                                         : p->backoff_ms * 2u;
    RZ_ASSERT(p->backoff_ms >= BACKOFF_MIN_MS &&
              p->backoff_ms <= BACKOFF_MAX_MS);
    uv_timer_start(&p->timer, on_peer_timer, delay_ms, 0);
}

static void peer_connect(peer *p)
{
    rz_peer_net *n = p->net;
    conn *c;
    int rv;
    RZ_PRE(p->c == NULL && p->res == NULL && !p->closing && !n->closing);
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        peer_conn_lost(p);
        return;
    }
    c->net = n;
    c->peer = p;
    c->expected_id = p->id;
    c->state = CONN_DIALING;
    if (uv_tcp_init(n->loop, &c->tcp) != 0) {
        free(c);
        peer_conn_lost(p);
        return;
    }
    c->tcp.data = c;
    c->connect_req.data = c;
    conn_link(n, c);
    p->c = c;
    rv = uv_tcp_connect(&c->connect_req, &c->tcp,
                        (const struct sockaddr *)&p->d.addr, on_connect);
    if (rv != 0) {
        conn_detach(c);
        conn_close(c, RZ_EIO);
        peer_conn_lost(p);
        return;
    }
    uv_timer_start(&p->timer, on_peer_timer, n->connect_timeout_ms, 0);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    resolve *r = req->data;
    peer *p = r->peer;
    bool ok = status == 0 && res != NULL &&
              res->ai_addrlen <= sizeof(struct sockaddr_storage);
    if (p != NULL) {
        RZ_ASSERT(p->res == r);
        p->res = NULL;
        if (ok) {
            memcpy(&p->d.addr, res->ai_addr, res->ai_addrlen);
        }
    }
    if (res != NULL) {
        uv_freeaddrinfo(res);
    }
    free(r);
    if (p == NULL) {
        return; /* the peer went away or moved meanwhile */
    }
    if (!ok) {
        rz_log(RZ_LOG_DEBUG, "peer name not resolved", "peer=%llu host=%s",
               (unsigned long long)p->id, p->d.host);
        peer_conn_lost(p);
        return;
    }
    peer_connect(p);
}

/* Lets go of a name resolution in flight (its callback frees it). */
static void peer_resolve_cancel(peer *p)
{
    if (p->res != NULL) {
        p->res->peer = NULL;
        (void)uv_cancel((uv_req_t *)&p->res->req);
        p->res = NULL;
    }
}

/* One attempt to reach the peer: resolve its name (every time, so that a
 * moved machine is found), then connect. */
static void peer_dial(peer *p)
{
    rz_peer_net *n = p->net;
    struct addrinfo hints;
    resolve *r;
    RZ_PRE(p->c == NULL && p->res == NULL && !p->closing && !n->closing);
    n->stats.dials++;
    if (p->d.numeric) {
        peer_connect(p);
        return;
    }
    r = calloc(1, sizeof(*r));
    if (r == NULL) {
        peer_conn_lost(p);
        return;
    }
    r->peer = p;
    r->req.data = r;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    p->res = r;
    if (uv_getaddrinfo(n->loop, &r->req, on_resolved, p->d.host, p->d.port,
                       &hints) != 0) {
        p->res = NULL;
        free(r);
        peer_conn_lost(p);
    }
}

static void peer_queue_free(peer *p)
{
    size_t guard = 0;
    while (p->head != NULL) {
        out_frame *f = p->head;
        RZ_ASSERT(guard++ <= RZ_PEER_QUEUE_MAX_BYTES);
        p->head = f->next;
        free(f);
    }
    p->tail = NULL;
    p->queued_bytes = 0;
    p->n_queued = 0;
}

/* Hands queued frames to the open connection until it refuses (RZ_EBUSY:
 * its writable callback calls again) or the queue is empty. */
static void peer_flush(peer *p)
{
    rz_peer_net *n = p->net;
    size_t guard = 0;
    while (p->head != NULL && p->c != NULL && p->c->state == CONN_OPEN) {
        out_frame *f = p->head;
        int rv = rz_secure_uv_send(&p->c->s, f->data, f->len);
        RZ_ASSERT(guard++ <= RZ_PEER_QUEUE_MAX_BYTES);
        if (rv != 0 && rv != RZ_ETOOBIG) {
            /* RZ_EBUSY: the writable callback calls again. Anything else:
             * the adaptor is closing the connection; the frame stays for
             * the next one. */
            return;
        }
        p->head = f->next;
        if (p->head == NULL) {
            p->tail = NULL;
        }
        RZ_ASSERT(p->queued_bytes >= f->len);
        p->queued_bytes -= f->len;
        free(f);
        RZ_ASSERT(p->n_queued > 0);
        p->n_queued--;
        if (rv == 0) {
            n->stats.frames_sent++;
        } else {
            n->stats.frames_dropped++; /* cannot happen: len was checked */
        }
    }
}

static void on_peer_timer_closed(uv_handle_t *h)
{
    peer *p = h->data;
    rz_peer_net *n = p->net;
    RZ_ASSERT(n->handles_open > 0);
    n->handles_open--;
    free(p);
    net_maybe_finish(n);
}

/* Forgets a peer: closes its connection cleanly, frees its queue, and frees
 * it once its timer is closed. The caller removed it from n->peers. */
static void peer_close(peer *p)
{
    rz_peer_net *n = p->net;
    RZ_PRE(!p->closing);
    p->closing = true;
    peer_resolve_cancel(p);
    if (p->c != NULL) {
        conn *c = p->c;
        conn_let_go(c, c->state == CONN_OPEN);
        conn_close(c, 0);
    }
    n->stats.frames_dropped += p->n_queued;
    peer_queue_free(p);
    uv_timer_stop(&p->timer);
    n->handles_open++;
    uv_close((uv_handle_t *)&p->timer, on_peer_timer_closed);
}

static peer *peer_find(const rz_peer_net *n, uint64_t id)
{
    for (size_t i = 0; i < n->n_peers; i++) {
        if (n->peers[i]->id == id) {
            return n->peers[i];
        }
    }
    return NULL;
}

static int peer_create(rz_peer_net *n, uint64_t id, peer **out)
{
    peer *p;
    if (n->n_peers >= PEERS_MAX) {
        return RZ_EBUSY;
    }
    p = calloc(1, sizeof(*p));
    if (p == NULL) {
        return RZ_ENOMEM;
    }
    if (uv_timer_init(n->loop, &p->timer) != 0) {
        free(p);
        return RZ_EIO;
    }
    p->timer.data = p;
    p->net = n;
    p->id = id;
    p->backoff_ms = BACKOFF_MIN_MS;
    n->peers[n->n_peers++] = p;
    *out = p;
    return 0;
}

/* ---------------------------------------------------------------------------
 * Sending (the rz_transport)
 * ------------------------------------------------------------------------ */

/* Points the peer at a new address: the old connection (to whoever now
 * has the old address) is replaced, queued frames stay. */
static void peer_readdress(peer *p, const dest *d, const char *dial)
{
    snprintf(p->address, sizeof(p->address), "%s", dial);
    p->d = *d;
    p->warned = false;
    peer_resolve_cancel(p);
    uv_timer_stop(&p->timer);
    p->backoff_ms = BACKOFF_MIN_MS;
    if (p->c != NULL) {
        conn *c = p->c;
        conn_let_go(c, c->state == CONN_OPEN);
        conn_close(c, 0);
    }
}

static int net_send(void *data, uint64_t to_id, const char *to_address,
                    const void *frame, size_t len)
{
    rz_peer_net *n = data;
    dest d;
    char dial[RZ_ADDRESS_MAX_BYTES + 1];
    peer *p;
    out_frame *f;
    int rv;

    RZ_PRE(n != NULL);
    if (n->closing) {
        return RZ_ESHUTDOWN;
    }
    /* An empty frame is no raft message (and would let a queue grow in
     * count while its byte bound never fills). */
    if (to_id == 0 || frame == NULL || len == 0) {
        n->stats.frames_dropped++;
        return RZ_EINVAL;
    }
    if (len > RZ_PEER_FRAME_MAX_BYTES) {
        n->stats.frames_dropped++;
        return RZ_ETOOBIG;
    }
    p = peer_find(n, to_id);
    if (p == NULL || to_address == NULL || !same_dial(p->address, to_address)) {
        rv = address_parse(to_address, &d, dial);
        if (rv != 0) {
            n->stats.frames_dropped++;
            return rv;
        }
        if (p == NULL) {
            rv = peer_create(n, to_id, &p);
            if (rv != 0) {
                n->stats.frames_dropped++;
                return rv;
            }
            snprintf(p->address, sizeof(p->address), "%s", dial);
            p->d = d;
        } else {
            rz_log(RZ_LOG_INFO, "peer address changed",
                   "peer=%llu old=%s new=%s", (unsigned long long)to_id,
                   p->address, dial);
            peer_readdress(p, &d, dial);
        }
    }
    p->last_send_ms = uv_now(n->loop);
    if (p->queued_bytes + len > RZ_PEER_QUEUE_MAX_BYTES) {
        n->stats.frames_dropped++;
        return RZ_EBUSY;
    }
    f = malloc(sizeof(*f) + len);
    if (f == NULL) {
        n->stats.frames_dropped++;
        return RZ_ENOMEM;
    }
    f->next = NULL;
    f->len = len;
    if (len > 0) {
        memcpy(f->data, frame, len);
    }
    if (p->tail != NULL) {
        p->tail->next = f;
    } else {
        p->head = f;
    }
    p->tail = f;
    p->queued_bytes += len;
    p->n_queued++;
    if (p->c == NULL && p->res == NULL &&
        !uv_is_active((uv_handle_t *)&p->timer)) {
        peer_dial(p);
    } else {
        peer_flush(p);
    }
    return 0;
}

/* ---------------------------------------------------------------------------
 * Listening
 * ------------------------------------------------------------------------ */

static void on_refused_closed(uv_handle_t *h)
{
    rz_peer_net *n = h->data;
    free(h);
    RZ_ASSERT(n->handles_open > 0);
    n->handles_open--;
    net_maybe_finish(n);
}

/* Accepts a connection over the limit only to close it at once, so the
 * kernel's backlog does not hold it and the listener is not woken again. */
static void refuse_connection(rz_peer_net *n, uv_stream_t *listener)
{
    uv_tcp_t *t = malloc(sizeof(*t));
    if (t == NULL || uv_tcp_init(n->loop, t) != 0) {
        free(t);
        return;
    }
    t->data = n;
    (void)uv_accept(listener, (uv_stream_t *)t);
    n->handles_open++;
    uv_close((uv_handle_t *)t, on_refused_closed);
}

/* At RZ_PEER_INBOUND_MAX live incoming connections, the oldest one still in
 * its handshake gives way, so that silent or slow unauthenticated
 * connections cannot keep a node from reaching us (they are dropped at the
 * handshake deadline anyway). RZ_EBUSY when every slot is authenticated. */
static int inbound_make_room(rz_peer_net *n)
{
    conn *oldest = NULL;
    uint32_t live = 0;
    size_t guard = 0;
    for (conn *c = n->conns; c != NULL; c = c->next) {
        RZ_ASSERT(guard++ <= n->n_inbound + 4u * PEERS_MAX + 1024u);
        if (!c->inbound || c->state == CONN_CLOSING) {
            continue;
        }
        live++;
        if (c->state != CONN_OPEN) {
            oldest = c; /* the list is newest first */
        }
    }
    if (live < RZ_PEER_INBOUND_MAX) {
        return 0;
    }
    if (oldest == NULL) {
        return RZ_EBUSY;
    }
    n->stats.refused++;
    conn_close(oldest, RZ_EBUSY);
    return 0;
}

static void on_connection(uv_stream_t *listener, int status)
{
    rz_peer_net *n = listener->data;
    conn *c;
    if (status < 0 || n->closing) {
        return;
    }
    if (inbound_make_room(n) != 0) {
        n->stats.refused++;
        refuse_connection(n, listener);
        return;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        refuse_connection(n, listener);
        return;
    }
    c->net = n;
    c->inbound = true;
    c->state = CONN_DIALING;
    if (uv_tcp_init(n->loop, &c->tcp) != 0) {
        free(c);
        refuse_connection(n, listener);
        return;
    }
    c->tcp.data = c;
    conn_link(n, c);
    n->n_inbound++;
    if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0 ||
        conn_secure_start(c, false) != 0) {
        conn_close(c, RZ_EIO);
        return;
    }
    tune_socket(&c->tcp);
}

/* A bound, listening socket made with plain calls, so that a bad or busy
 * address fails here, synchronously, with nothing to close on the loop. */
static int listen_socket(const char *listen_addr, int *fd_out, char *errmsg)
{
    dest d;
    struct sockaddr_storage addr;
    char dial[RZ_ADDRESS_MAX_BYTES + 1];
    int one = 1;
    int fd;
    int rv = address_parse(listen_addr, &d, dial);
    if (rv == 0 && !d.numeric && strcmp(d.host, "localhost") == 0) {
        rv = uv_ip4_addr("127.0.0.1", atoi(d.port),
                         (struct sockaddr_in *)&d.addr);
        d.numeric = true;
    }
    if (rv != 0 || !d.numeric) {
        rz_errmsg_set(errmsg,
                      "peer listener: '%s' is not HOST:PORT with a numeric "
                      "IPv4 or [IPv6] host and a port in 1..65535",
                      listen_addr != NULL ? listen_addr : "(null)");
        return RZ_EINVAL;
    }
    addr = d.addr;
    fd = socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        rz_errmsg_set(errmsg, "peer listener: socket: %s", strerror(errno));
        return RZ_EIO;
    }
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (const struct sockaddr *)&addr, addr_len(&addr)) != 0 ||
        listen(fd, LISTEN_BACKLOG) != 0) {
        rz_errmsg_set(errmsg,
                      "peer listener: cannot listen on %s: %s (is another "
                      "process using the port?)",
                      dial, strerror(errno));
        close(fd);
        return RZ_EIO;
    }
    *fd_out = fd;
    return 0;
}

static void on_sweep(uv_timer_t *t)
{
    rz_peer_net *n = t->data;
    uint64_t now = uv_now(n->loop);
    size_t i = 0;
    while (i < n->n_peers) {
        peer *p = n->peers[i];
        if (now - p->last_send_ms >= n->idle_ms) {
            rz_log(RZ_LOG_INFO, "peer idle: forgotten", "peer=%llu",
                   (unsigned long long)p->id);
            n->peers[i] = n->peers[--n->n_peers];
            n->peers[n->n_peers] = NULL;
            peer_close(p);
        } else {
            i++;
        }
    }
}

static void on_failed_listener_closed(uv_handle_t *h)
{
    free(h->data);
}

int rz_peer_net_start(uv_loop_t *loop, const rz_peer_options *opts,
                      rz_peer_net **out, char *errmsg)
{
    rz_peer_net *n;
    int fd = -1;
    int rv;

    RZ_PRE(loop != NULL && opts != NULL && out != NULL);
    if (opts->identity == NULL || opts->on_frame == NULL ||
        opts->identity->cred.role != RZ_ROLE_NODE ||
        opts->identity->cred.node_id == 0) {
        rz_errmsg_set(errmsg, "peer transport: the identity must be a "
                              "credential with role node");
        return RZ_EINVAL;
    }
    rv = listen_socket(opts->listen, &fd, errmsg);
    if (rv != 0) {
        return rv;
    }
    n = calloc(1, sizeof(*n));
    if (n == NULL) {
        close(fd);
        return RZ_ENOMEM;
    }
    n->loop = loop;
    n->opts = *opts;
    n->idle_ms = opts->idle_ms != 0 ? opts->idle_ms : PEER_IDLE_MS_DEFAULT;
    n->connect_timeout_ms = opts->connect_timeout_ms != 0
                                ? opts->connect_timeout_ms
                                : CONNECT_TIMEOUT_MS_DEFAULT;
    n->server_cfg.id = opts->identity;
    n->server_cfg.allowed_roles = RZ_ROLE_BIT(RZ_ROLE_NODE);
    n->server_cfg.max_frame_bytes = RZ_PEER_FRAME_MAX_BYTES;
    if (uv_tcp_init(loop, &n->listener) != 0) {
        close(fd);
        free(n);
        return RZ_EIO;
    }
    n->listener.data = n;
    n->handles_open = 1;
    if (uv_tcp_open(&n->listener, fd) != 0) {
        close(fd);
        rv = RZ_EIO;
        goto err_after_listener;
    }
    rv = uv_listen((uv_stream_t *)&n->listener, LISTEN_BACKLOG, on_connection);
    if (rv != 0) {
        rz_errmsg_set(errmsg, "peer listener: %s", uv_strerror(rv));
        rv = RZ_EIO;
        goto err_after_listener;
    }
    RZ_ASSERT(uv_timer_init(loop, &n->sweep) == 0);
    n->sweep.data = n;
    n->handles_open++;
    {
        uint32_t every_ms =
            n->idle_ms / 2u < SWEEP_MS ? n->idle_ms / 2u + 1u : SWEEP_MS;
        uv_timer_start(&n->sweep, on_sweep, every_ms, every_ms);
    }
    *out = n;
    return 0;

err_after_listener:
    /* The handle lives in the net, so the net is freed by the close
     * callback once the loop runs again. */
    uv_close((uv_handle_t *)&n->listener, on_failed_listener_closed);
    return rv;
}

void rz_peer_net_transport(rz_peer_net *n, rz_transport *out)
{
    RZ_PRE(n != NULL && out != NULL);
    out->data = n;
    out->send = net_send;
}

void rz_peer_net_stats(const rz_peer_net *n, rz_peer_stats *out)
{
    uint64_t queued = 0;
    RZ_PRE(n != NULL && out != NULL);
    *out = n->stats;
    for (size_t i = 0; i < n->n_peers; i++) {
        queued += n->peers[i]->queued_bytes;
    }
    out->queued_bytes = queued;
    out->inbound_connected = n->n_inbound;
    out->peers = (uint32_t)n->n_peers;
}

bool rz_peer_net_connected(const rz_peer_net *n, uint64_t id)
{
    const peer *p;
    RZ_PRE(n != NULL);
    p = peer_find(n, id);
    return p != NULL && p->c != NULL && p->c->state == CONN_OPEN;
}

/* ---------------------------------------------------------------------------
 * Closing
 * ------------------------------------------------------------------------ */

static void net_maybe_finish(rz_peer_net *n)
{
    void (*cb)(void *arg);
    void *arg;
    if (!n->closing || n->handles_open > 0 || n->conns != NULL ||
        n->close_cb == NULL) {
        return;
    }
    RZ_ASSERT(n->n_peers == 0 && n->n_inbound == 0);
    cb = n->close_cb;
    arg = n->close_arg;
    n->close_cb = NULL;
    free(n);
    cb(arg);
}

static void on_net_handle_closed(uv_handle_t *h)
{
    rz_peer_net *n = h->data;
    RZ_ASSERT(n->handles_open > 0);
    n->handles_open--;
    net_maybe_finish(n);
}

void rz_peer_net_close(rz_peer_net *n, void (*cb)(void *arg), void *arg)
{
    conn *c;
    size_t guard = 0;
    RZ_PRE(n != NULL && cb != NULL);
    RZ_PRE(!n->closing);
    n->closing = true;
    n->close_cb = cb;
    n->close_arg = arg;
    uv_close((uv_handle_t *)&n->listener, on_net_handle_closed);
    uv_timer_stop(&n->sweep);
    uv_close((uv_handle_t *)&n->sweep, on_net_handle_closed);
    while (n->n_peers > 0) {
        peer *p = n->peers[--n->n_peers];
        n->peers[n->n_peers] = NULL;
        peer_close(p);
    }
    /* Incoming connections (and outgoing ones already let go of) close
     * too; conn_close only starts it, so the list stays intact here. */
    for (c = n->conns; c != NULL; c = c->next) {
        RZ_ASSERT(guard++ <= RZ_PEER_INBOUND_MAX + 4u * PEERS_MAX + 1024u);
        conn_close(c, 0);
    }
    net_maybe_finish(n);
}
