/* ratuszctl operations: a blocking request/response connection to a node's
 * client port (docs/protocol.md 5-6), reply-map getters, STATUS and
 * CHECKSUM decoding, and leader-only requests with redirects and retries
 * under one request_id (exactly-once, DESIGN.md §3). */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ops.h"

void ops_hex(const uint8_t *p, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15u];
    }
    out[2 * n] = '\0';
}

void ops_conn_init(ops_conn *c, const rz_identity *id)
{
    memset(c, 0, sizeof *c);
    c->fd = -1;
    c->id = id;
}

void ops_conn_close(ops_conn *c)
{
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
    if (c->sc_init) {
        rz_secure_conn_close(&c->sc);
        c->sc_init = false;
    }
    c->rpos = c->rlen = 0;
    c->addr[0] = '\0';
}

/* Writes everything the secure conn has queued (blocking, bounded by the
 * socket's send timeout). */
static int flush_out(ops_conn *c)
{
    size_t n;
    const uint8_t *p = rz_secure_out(&c->sc, &n);
    while (n > 0) {
        ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR) {
                continue;
            }
            return RZ_ECLOSED;
        }
        rz_secure_out_consume(&c->sc, (size_t)w);
        p = rz_secure_out(&c->sc, &n);
    }
    return 0;
}

/* The next event of the secure conn before deadline_ms (monotonic). */
static int next_event(ops_conn *c, uint64_t deadline_ms, rz_secure_event *ev)
{
    /* Bounded: each pass consumes input or waits on poll with a deadline. */
    for (;;) {
        uint64_t now;
        struct pollfd pfd;
        ssize_t r;
        int rv;
        if (c->rpos < c->rlen) {
            size_t used = 0;
            rv = rz_secure_feed(&c->sc, c->rbuf + c->rpos, c->rlen - c->rpos,
                                &used, ev);
            c->rpos += used;
            (void)flush_out(c);
            if (rv != 0) {
                return rv;
            }
            if (ev->type != RZ_SECURE_EV_NONE) {
                return 0;
            }
            continue;
        }
        now = rz_mono_ms();
        if (now >= deadline_ms) {
            return RZ_ETIMEDOUT;
        }
        pfd.fd = c->fd;
        pfd.events = POLLIN;
        pfd.revents = 0;
        rv = poll(&pfd, 1, (int)(deadline_ms - now));
        if (rv == 0) {
            return RZ_ETIMEDOUT;
        }
        if (rv < 0) {
            if (errno == EINTR) {
                continue;
            }
            return RZ_EIO;
        }
        r = recv(c->fd, c->rbuf, sizeof c->rbuf, 0);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            rv = rz_secure_eof(&c->sc);
            return rv != 0 ? rv : RZ_ECLOSED;
        }
        c->rpos = 0;
        c->rlen = (size_t)r;
    }
}

/* TCP connect with a deadline (non-blocking connect + poll), then back to
 * blocking mode: sends are bounded by SO_SNDTIMEO, receives by poll. */
static int dial(const char *addr, int timeout_ms, int *fd_out, char *errmsg)
{
    char host[CTL_ADDR_BYTES];
    const char *colon = strrchr(addr, ':');
    struct addrinfo hints, *res = NULL;
    struct timeval tv = {5, 0};
    int one = 1;
    int fd = -1;
    int rv = RZ_ECLOSED;
    if (colon == NULL || colon == addr ||
        (size_t)(colon - addr) >= sizeof host) {
        rz_errmsg_set(errmsg, "'%s' is not HOST:PORT", addr);
        return RZ_EINVAL;
    }
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = '\0';
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, colon + 1, &hints, &res) != 0 || res == NULL) {
        rz_errmsg_set(errmsg, "cannot resolve %s", addr);
        return RZ_EINVAL;
    }
    fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        rz_errmsg_set(errmsg, "socket: %s", strerror(errno));
        goto done;
    }
    if (connect(fd, res->ai_addr, res->ai_addrlen) != 0) {
        struct pollfd pfd = {fd, POLLOUT, 0};
        int err = 0;
        socklen_t len = sizeof err;
        if (errno != EINPROGRESS) {
            rz_errmsg_set(errmsg, "connect %s: %s", addr, strerror(errno));
            goto done;
        }
        if (poll(&pfd, 1, timeout_ms) != 1 ||
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
            rz_errmsg_set(errmsg, "connect %s: %s", addr,
                          err != 0 ? strerror(err) : "timed out");
            rv = err != 0 ? RZ_ECLOSED : RZ_ETIMEDOUT;
            goto done;
        }
    }
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0) {
        rz_errmsg_set(errmsg, "fcntl: %s", strerror(errno));
        goto done;
    }
    *fd_out = fd;
    fd = -1;
    rv = 0;
done:
    if (fd >= 0) {
        close(fd);
    }
    freeaddrinfo(res);
    return rv;
}

int ops_conn_open(ops_conn *c, const char *addr, int timeout_ms, char *errmsg)
{
    rz_secure_config cfg;
    rz_secure_event ev;
    uint64_t deadline = rz_mono_ms() + (uint64_t)timeout_ms;
    int rv;
    RZ_PRE(c != NULL && addr != NULL && c->id != NULL);
    if (c->fd >= 0 && strcmp(c->addr, addr) == 0) {
        return 0;
    }
    ops_conn_close(c);
    if (strlen(addr) >= sizeof c->addr) {
        rz_errmsg_set(errmsg, "address '%.40s...' is too long", addr);
        return RZ_EINVAL;
    }
    rv = dial(addr, timeout_ms, &c->fd, errmsg);
    if (rv != 0) {
        return rv;
    }
    memset(&cfg, 0, sizeof cfg);
    cfg.id = c->id;
    cfg.allowed_roles = RZ_ROLE_BIT(RZ_ROLE_NODE);
    cfg.max_frame_bytes = RZ_FRAME_MAX_BYTES;
    rv = rz_secure_conn_init(&c->sc, &cfg, true, rz_mono_ms(), rz_now_ms());
    if (rv != 0) {
        rz_errmsg_set(errmsg, "secure channel: %s", rz_strerror(rv));
        close(c->fd);
        c->fd = -1;
        return rv;
    }
    c->sc_init = true;
    rv = flush_out(c);
    while (rv == 0) {
        rv = next_event(c, deadline, &ev);
        if (rv == 0 && ev.type == RZ_SECURE_EV_ESTABLISHED) {
            snprintf(c->addr, sizeof c->addr, "%s", addr);
            return 0;
        }
        if (rv == 0 && ev.type != RZ_SECURE_EV_NONE) {
            rv = RZ_EPROTO;
        }
    }
    rz_errmsg_set(errmsg, "handshake with %s: %s%s%s", addr, rz_strerror(rv),
                  rz_secure_errmsg(&c->sc)[0] ? ": " : "",
                  rz_secure_errmsg(&c->sc));
    ops_conn_close(c);
    return rv;
}

void ops_reply_init(ops_reply *r)
{
    memset(r, 0, sizeof *r);
    rz_buf_init(&r->body, RZ_FRAME_MAX_BYTES);
}

void ops_reply_close(ops_reply *r)
{
    rz_buf_close(&r->body);
}

/* Fills r from an envelope's type and body. */
static int reply_take(ops_reply *r, uint32_t type, const uint8_t *body,
                      size_t len)
{
    int64_t code = 0;
    rz_buf_reset(&r->body);
    r->code = 0;
    r->message[0] = '\0';
    r->leader_address[0] = '\0';
    r->leader_id = 0;
    if (rz_buf_append(&r->body, body, len) != 0) {
        return RZ_ENOMEM;
    }
    if (type == OPS_MSG_REPLY) {
        return 0;
    }
    if (type != OPS_MSG_ERROR) {
        return RZ_EPROTO;
    }
    {
        const uint8_t *p;
        size_t n;
        rz_mp_dec d;
        if (!ops_map_raw(&r->body, "code", &p, &n)) {
            return RZ_EPROTO;
        }
        rz_mp_dec_init(&d, p, n);
        if (rz_mp_get_i64(&d, &code) != 0 || code >= 0 || code < INT32_MIN) {
            return RZ_EPROTO;
        }
    }
    r->code = (int)code;
    (void)ops_map_str(&r->body, "message", r->message, sizeof r->message);
    (void)ops_map_str(&r->body, "leader_address", r->leader_address,
                      sizeof r->leader_address);
    (void)ops_map_u64(&r->body, "leader_id", &r->leader_id);
    return 0;
}

int ops_conn_call(ops_conn *c, uint32_t type, const uint8_t *request_id,
                  const rz_buf *body, int timeout_ms, ops_reply *r,
                  char *errmsg)
{
    uint8_t rid[RZ_REQUEST_ID_BYTES];
    uint64_t deadline = rz_mono_ms() + (uint64_t)timeout_ms;
    rz_buf env;
    rz_secure_event ev;
    int rv;
    RZ_PRE(c != NULL && body != NULL && r != NULL);
    if (c->fd < 0) {
        rz_errmsg_set(errmsg, "not connected");
        return RZ_ECLOSED;
    }
    if (request_id != NULL) {
        memcpy(rid, request_id, sizeof rid);
    } else {
        rz_random_bytes(rid, sizeof rid);
    }
    rz_buf_init(&env, RZ_FRAME_MAX_BYTES);
    rz_envelope_encode(&env, type, rid, body->data, body->len);
    rv = env.err;
    if (rv == 0) {
        rv = rz_secure_send(&c->sc, env.data, env.len);
    }
    rz_buf_close(&env);
    if (rv == 0) {
        rv = flush_out(c);
    }
    /* Frames of other requests (none: one in flight) or stray watch
     * batches are skipped; the deadline bounds the loop. */
    while (rv == 0) {
        rz_envelope e;
        rv = next_event(c, deadline, &ev);
        if (rv != 0) {
            break;
        }
        if (ev.type == RZ_SECURE_EV_CLOSED) {
            rv = RZ_ECLOSED;
            break;
        }
        if (ev.type != RZ_SECURE_EV_FRAME) {
            continue;
        }
        if (rz_envelope_decode(ev.data, ev.len, NULL, &e) != 0) {
            rv = RZ_EMALFORMED;
            break;
        }
        if (memcmp(e.request_id, rid, sizeof rid) != 0) {
            continue;
        }
        rv = reply_take(r, e.type, e.body, e.body_len);
        if (rv == 0) {
            return 0;
        }
    }
    rz_errmsg_set(errmsg, "request to %s: %s", c->addr, rz_strerror(rv));
    ops_conn_close(c);
    return rv;
}

/* ---- reply maps -------------------------------------------------------- */

/* Positions d on the value of key in the top-level map m. */
static bool map_find(const rz_buf *m, const char *key, rz_mp_dec *d)
{
    uint32_t n;
    size_t klen = strlen(key);
    rz_mp_dec_init(d, m->data, m->len);
    if (rz_mp_get_map(d, &n) != 0) {
        return false;
    }
    for (uint32_t i = 0; i < n; i++) {
        const char *s;
        uint32_t len;
        if (rz_mp_peek(d) == RZ_MP_STR) {
            if (rz_mp_get_str(d, &s, &len, 1024) != 0) {
                return false;
            }
            if (len == klen && memcmp(s, key, klen) == 0) {
                return true;
            }
        } else if (rz_mp_skip(d) != 0) {
            return false;
        }
        if (rz_mp_skip(d) != 0) {
            return false;
        }
    }
    return false;
}

bool ops_map_raw(const rz_buf *m, const char *key, const uint8_t **p, size_t *n)
{
    rz_mp_dec d;
    return map_find(m, key, &d) && rz_mp_next_raw(&d, p, n) == 0;
}

bool ops_map_u64(const rz_buf *m, const char *key, uint64_t *out)
{
    rz_mp_dec d;
    return map_find(m, key, &d) && rz_mp_get_u64(&d, out) == 0;
}

bool ops_map_bool(const rz_buf *m, const char *key, bool *out)
{
    rz_mp_dec d;
    return map_find(m, key, &d) && rz_mp_get_bool(&d, out) == 0;
}

bool ops_map_str(const rz_buf *m, const char *key, char *out, size_t size)
{
    rz_mp_dec d;
    const char *s;
    uint32_t len;
    if (!map_find(m, key, &d) || rz_mp_get_str(&d, &s, &len, 1u << 20) != 0) {
        return false;
    }
    if (len >= size) {
        len = (uint32_t)(size - 1);
    }
    memcpy(out, s, len);
    out[len] = '\0';
    return true;
}

bool ops_map_bin(const rz_buf *m, const char *key, uint8_t *out, size_t n)
{
    rz_mp_dec d;
    return map_find(m, key, &d) &&
           rz_mp_get_bin_exact(&d, out, (uint32_t)n) == 0;
}

/* ---- STATUS and CHECKSUM ---------------------------------------------- */

/* One member map of a STATUS reply. */
static int member_decode(rz_mp_dec *d, ops_member *m)
{
    uint32_t n;
    memset(m, 0, sizeof *m);
    if (rz_mp_get_map(d, &n) != 0) {
        return RZ_EPROTO;
    }
    for (uint32_t i = 0; i < n; i++) {
        char key[40];
        if (rz_mp_peek(d) != RZ_MP_STR || rz_mp_get_cstr(d, key, sizeof key)) {
            if (rz_mp_skip(d) != 0 || rz_mp_skip(d) != 0) {
                return RZ_EPROTO;
            }
            continue;
        }
        if (!strcmp(key, "id")) {
            (void)rz_mp_get_u64(d, &m->id);
        } else if (!strcmp(key, "address")) {
            (void)rz_mp_get_cstr(d, m->address, sizeof m->address);
        } else if (!strcmp(key, "client_address")) {
            (void)rz_mp_get_cstr(d, m->client_address,
                                 sizeof m->client_address);
        } else if (!strcmp(key, "voter")) {
            (void)rz_mp_get_bool(d, &m->voter);
        } else if (!strcmp(key, "match_index")) {
            (void)rz_mp_get_u64(d, &m->match_index);
        } else {
            (void)rz_mp_skip(d);
        }
        if (d->err != 0) {
            return RZ_EPROTO;
        }
    }
    return 0;
}

int ops_status_get(ops_conn *c, int timeout_ms, ops_status *st, char *errmsg)
{
    ops_reply r;
    rz_buf body;
    int rv;
    memset(st, 0, sizeof *st);
    rz_buf_init(&body, 16);
    rz_mp_put_map(&body, 0);
    ops_reply_init(&r);
    rv = ops_conn_call(c, OPS_MSG_STATUS, NULL, &body, timeout_ms, &r, errmsg);
    if (rv == 0 && r.code != 0) {
        rz_errmsg_set(errmsg, "STATUS on %s: %s", c->addr,
                      r.message[0] ? r.message : rz_strerror(r.code));
        rv = r.code;
    }
    if (rv == 0) {
        const uint8_t *p;
        size_t n;
        bool ok = ops_map_u64(&r.body, "node_id", &st->node_id) &&
                  ops_map_str(&r.body, "state", st->state, sizeof st->state) &&
                  ops_map_u64(&r.body, "term", &st->term) &&
                  ops_map_u64(&r.body, "commit_index", &st->commit_index) &&
                  ops_map_u64(&r.body, "applied_index", &st->applied_index) &&
                  ops_map_u64(&r.body, "leader_id", &st->leader_id);
        (void)ops_map_u64(&r.body, "last_index", &st->last_index);
        (void)ops_map_str(&r.body, "leader_address", st->leader_address,
                          sizeof st->leader_address);
        (void)ops_map_bin(&r.body, "cluster_id", st->cluster_id,
                          sizeof st->cluster_id);
        if (ok && ops_map_raw(&r.body, "members", &p, &n)) {
            rz_mp_dec d;
            uint32_t count;
            rz_mp_dec_init(&d, p, n);
            if (rz_mp_get_array(&d, &count) != 0) {
                ok = false;
            }
            for (uint32_t i = 0; ok && i < count; i++) {
                ops_member m;
                if (member_decode(&d, &m) != 0) {
                    ok = false;
                } else if (st->n_members < CTL_MAX_ENDPOINTS) {
                    st->members[st->n_members++] = m;
                }
            }
        }
        if (!ok) {
            rz_errmsg_set(errmsg, "STATUS reply of %s lacks a key", c->addr);
            rv = RZ_EPROTO;
        }
    }
    ops_reply_close(&r);
    rz_buf_close(&body);
    return rv;
}

int ops_checksum_get(ops_conn *c, bool scan, int timeout_ms, ops_checksum *out,
                     char *errmsg)
{
    ops_reply r;
    rz_buf body;
    int rv;
    memset(out, 0, sizeof *out);
    rz_buf_init(&body, 32);
    rz_mp_put_map(&body, 1);
    rz_mp_put_cstr(&body, "scan");
    rz_mp_put_bool(&body, scan);
    ops_reply_init(&r);
    rv =
        ops_conn_call(c, OPS_MSG_CHECKSUM, NULL, &body, timeout_ms, &r, errmsg);
    if (rv == 0 && r.code != 0) {
        rz_errmsg_set(errmsg, "CHECKSUM on %s: %s", c->addr,
                      r.message[0] ? r.message : rz_strerror(r.code));
        rv = r.code;
    }
    if (rv == 0 &&
        !(ops_map_u64(&r.body, "node_id", &out->node_id) &&
          ops_map_u64(&r.body, "applied_index", &out->applied_index) &&
          ops_map_bin(&r.body, "checksum", out->checksum, 32) &&
          ops_map_bin(&r.body, "data_checksum", out->data_checksum, 32))) {
        rz_errmsg_set(errmsg, "CHECKSUM reply of %s lacks a key", c->addr);
        rv = RZ_EPROTO;
    }
    ops_reply_close(&r);
    rz_buf_close(&body);
    return rv;
}

bool ops_retryable(int code)
{
    return code == RZ_ENOTLEADER || code == RZ_ELEADERSHIPLOST ||
           code == RZ_ETIMEDOUT || code == RZ_ESHUTDOWN || code == RZ_EBUSY ||
           code == RZ_ECLOSED || code == RZ_EUNAVAILABLE || code == RZ_EIO ||
           code == RZ_ENOSPACE || code == RZ_EPROTO;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {(time_t)(ms / 1000u), (long)(ms % 1000u) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

int ops_leader_call(ops_conn *c, const ctl_where *w, uint32_t type,
                    const rz_buf *body, uint64_t deadline_ms, ops_reply *r,
                    char *errmsg)
{
    uint8_t rid[RZ_REQUEST_ID_BYTES];
    char next[CTL_ADDR_BYTES];
    size_t turn = 0;
    unsigned backoff_ms = 20;
    int last = RZ_ETIMEDOUT;
    RZ_PRE(w->n > 0);
    rz_random_bytes(rid, sizeof rid);
    snprintf(next, sizeof next, "%s", c->fd >= 0 ? c->addr : w->ep[0].client);
    /* Bounded by the deadline: every pass waits or sleeps. */
    while (rz_mono_ms() < deadline_ms) {
        uint64_t left = deadline_ms - rz_mono_ms();
        int timeout = left > 5000 ? 5000 : (int)left;
        int rv =
            ops_conn_open(c, next, timeout < 1000 ? timeout : 1000, errmsg);
        if (rv == 0) {
            rv = ops_conn_call(c, type, rid, body, timeout, r, errmsg);
        }
        if (rv == 0 && !ops_retryable(r->code)) {
            return 0;
        }
        last = rv != 0 ? rv : r->code;
        if (rv == 0 && r->code == RZ_ENOTLEADER && r->leader_address[0] &&
            strcmp(r->leader_address, next) != 0) {
            snprintf(next, sizeof next, "%s", r->leader_address);
            continue;
        }
        turn = (turn + 1) % w->n;
        snprintf(next, sizeof next, "%s", w->ep[turn].client);
        sleep_ms(backoff_ms);
        backoff_ms = backoff_ms < 200 ? backoff_ms * 2 : 200;
    }
    rz_errmsg_set(errmsg, "no leader answered in time (last: %s)",
                  rz_strerror(last));
    return RZ_ETIMEDOUT;
}

int ops_identity_load(const char *cmd, const ctl_where *w, rz_identity *id)
{
    char errmsg[RZ_ERRMSG_BYTES] = "";
    int rv;
    if (rz_crypto_init() != 0) {
        fprintf(stderr, "ratuszctl %s: libsodium failed to start.\n", cmd);
        return CTL_EXIT_FAIL;
    }
    rv = rz_identity_read(w->identity, id, errmsg);
    if (rv != 0) {
        fprintf(stderr, "ratuszctl %s: %s\n", cmd,
                errmsg[0] ? errmsg : rz_strerror(rv));
        return CTL_EXIT_USAGE;
    }
    return 0;
}
