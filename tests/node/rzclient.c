/* The blocking test client of rzclient.h. */
#include "rzclient.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <unistd.h>

static int flush_out(rzc *c)
{
    size_t n;
    const uint8_t *p = rz_secure_out(&c->conn, &n);
    while (n > 0) {
        ssize_t w = write(c->fd, p, n);
        if (w < 0) {
            if (errno == EINTR) {
                continue;
            }
            return RZ_ECLOSED;
        }
        rz_secure_out_consume(&c->conn, (size_t)w);
        p = rz_secure_out(&c->conn, &n);
    }
    return 0;
}

/* Feeds buffered bytes or reads more; returns the next event. */
static int next_event(rzc *c, int timeout_ms, rz_secure_event *ev)
{
    uint64_t deadline = rz_mono_ms() + (uint64_t)timeout_ms;
    for (;;) {
        int rv;
        if (c->rpos < c->rlen) {
            size_t used = 0;
            rv = rz_secure_feed(&c->conn, c->rbuf + c->rpos, c->rlen - c->rpos,
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
        uint64_t now = rz_mono_ms();
        if (now >= deadline) {
            return RZ_ETIMEDOUT;
        }
        struct pollfd pfd = {c->fd, POLLIN, 0};
        rv = poll(&pfd, 1, (int)(deadline - now));
        if (rv == 0) {
            return RZ_ETIMEDOUT;
        }
        if (rv < 0) {
            if (errno == EINTR) {
                continue;
            }
            return RZ_EIO;
        }
        ssize_t r = read(c->fd, c->rbuf, sizeof(c->rbuf));
        if (r <= 0) {
            rv = rz_secure_eof(&c->conn);
            return rv != 0 ? rv : RZ_ECLOSED;
        }
        c->rpos = 0;
        c->rlen = (size_t)r;
    }
}

int rzc_connect(rzc *c, const char *addr, const char *identity_path,
                int timeout_ms)
{
    char host[128];
    const char *colon = strrchr(addr, ':');
    struct sockaddr_in sa;
    rz_secure_config cfg;
    rz_secure_event ev;
    int rv;
    int one = 1;

    memset(c, 0, sizeof(*c));
    c->fd = -1;
    if (colon == NULL || (size_t)(colon - addr) >= sizeof(host)) {
        return RZ_EINVAL;
    }
    memcpy(host, addr, (size_t)(colon - addr));
    host[colon - addr] = '\0';
    rz_crypto_init();
    rv = rz_identity_read(identity_path, &c->id, c->errmsg);
    if (rv != 0) {
        return rv;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)atoi(colon + 1));
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        return RZ_EINVAL;
    }
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        snprintf(c->errmsg, sizeof(c->errmsg), "connect %s: %s", addr,
                 strerror(errno));
        if (c->fd >= 0) {
            close(c->fd);
            c->fd = -1;
        }
        return RZ_ECLOSED;
    }
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    memset(&cfg, 0, sizeof(cfg));
    cfg.id = &c->id;
    cfg.allowed_roles = RZ_ROLE_BIT(RZ_ROLE_NODE);
    cfg.max_frame_bytes = RZ_FRAME_MAX_BYTES;
    rv = rz_secure_conn_init(&c->conn, &cfg, true, rz_mono_ms(), rz_now_ms());
    if (rv != 0) {
        close(c->fd);
        c->fd = -1;
        return rv;
    }
    rv = flush_out(c);
    while (rv == 0) {
        rv = next_event(c, timeout_ms, &ev);
        if (rv == 0 && ev.type == RZ_SECURE_EV_ESTABLISHED) {
            return 0;
        }
    }
    snprintf(c->errmsg, sizeof(c->errmsg), "handshake: %s (%s)", rz_errname(rv),
             rz_secure_errmsg(&c->conn));
    return rv;
}

int rzc_send_plain(rzc *c, const void *p, size_t n)
{
    int rv = rz_secure_send(&c->conn, p, n);
    if (rv != 0) {
        return rv;
    }
    return flush_out(c);
}

int rzc_send(rzc *c, uint32_t type, const uint8_t request_id[16],
             const void *body, size_t body_len)
{
    rz_buf b;
    int rv;
    rz_buf_init(&b, RZ_FRAME_MAX_BYTES + 64);
    rz_envelope_encode(&b, type, request_id, body, body_len);
    rv = b.err != 0 ? b.err : rzc_send_plain(c, b.data, b.len);
    rz_buf_close(&b);
    return rv;
}

int rzc_recv(rzc *c, int timeout_ms, rz_buf *out)
{
    rz_secure_event ev;
    for (;;) {
        int rv = next_event(c, timeout_ms, &ev);
        if (rv != 0) {
            return rv;
        }
        if (ev.type == RZ_SECURE_EV_CLOSED) {
            return RZ_ECLOSED;
        }
        if (ev.type == RZ_SECURE_EV_FRAME) {
            rz_buf_reset(out);
            return rz_buf_append(out, ev.data, ev.len);
        }
    }
}

int rzc_call(rzc *c, uint32_t type, const void *body, size_t body_len,
             int timeout_ms, uint32_t *reply_type, rz_buf *reply_body)
{
    return rzc_call_id(c, type, NULL, body, body_len, timeout_ms, reply_type,
                       reply_body);
}

int rzc_call_id(rzc *c, uint32_t type, const uint8_t request_id[16],
                const void *body, size_t body_len, int timeout_ms,
                uint32_t *reply_type, rz_buf *reply_body)
{
    uint8_t id[16];
    rz_buf f;
    int rv;
    if (request_id != NULL) {
        memcpy(id, request_id, 16);
    } else {
        rz_random_bytes(id, sizeof(id));
    }
    rv = rzc_send(c, type, id, body, body_len);
    if (rv != 0) {
        return rv;
    }
    rz_buf_init(&f, RZ_FRAME_MAX_BYTES + 64);
    for (;;) {
        rz_envelope env;
        rv = rzc_recv(c, timeout_ms, &f);
        if (rv != 0) {
            break;
        }
        if (rz_envelope_decode(f.data, f.len, NULL, &env) != 0) {
            rv = RZ_EMALFORMED;
            break;
        }
        if (memcmp(env.request_id, id, 16) == 0 && env.type != 66) {
            *reply_type = env.type;
            rz_buf_reset(reply_body);
            rv = rz_buf_append(reply_body, env.body, env.body_len);
            break;
        }
    }
    rz_buf_close(&f);
    return rv;
}

void rzc_close(rzc *c)
{
    if (c->fd >= 0) {
        if (rz_secure_close(&c->conn) == 0) {
            (void)flush_out(c);
        }
        close(c->fd);
        c->fd = -1;
        rz_secure_conn_close(&c->conn);
    }
    rz_identity_wipe(&c->id);
}

static bool find_key(const void *p, size_t n, const char *key, rz_mp_dec *d)
{
    uint32_t m;
    rz_mp_dec_init(d, p, n);
    if (rz_mp_get_map(d, &m) != 0) {
        return false;
    }
    for (uint32_t i = 0; i < m; i++) {
        const char *s;
        uint32_t len;
        if (rz_mp_peek(d) == RZ_MP_STR &&
            rz_mp_get_str(d, &s, &len, 1024) == 0 && len == strlen(key) &&
            memcmp(s, key, len) == 0) {
            return true;
        }
        if (d->err != 0 || rz_mp_skip(d) != 0) {
            return false;
        }
    }
    return false;
}

bool rzc_map_uint(const void *p, size_t n, const char *key, uint64_t *out)
{
    rz_mp_dec d;
    return find_key(p, n, key, &d) && rz_mp_get_u64(&d, out) == 0;
}

bool rzc_map_int(const void *p, size_t n, const char *key, int64_t *out)
{
    rz_mp_dec d;
    return find_key(p, n, key, &d) && rz_mp_get_i64(&d, out) == 0;
}

bool rzc_map_str(const void *p, size_t n, const char *key, char *out,
                 size_t out_size)
{
    rz_mp_dec d;
    return find_key(p, n, key, &d) && rz_mp_get_cstr(&d, out, out_size) == 0;
}

bool rzc_map_raw(const void *p, size_t n, const char *key, const uint8_t **v,
                 size_t *vlen)
{
    rz_mp_dec d;
    return find_key(p, n, key, &d) && rz_mp_next_raw(&d, v, vlen) == 0;
}

static void json_str(rz_buf *out, const char *s, size_t n)
{
    rz_buf_append(out, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        char esc[8];
        if (ch == '"' || ch == '\\') {
            esc[0] = '\\';
            esc[1] = (char)ch;
            rz_buf_append(out, esc, 2);
        } else if (ch < 0x20) {
            snprintf(esc, sizeof(esc), "\\u%04x", ch);
            rz_buf_append(out, esc, 6);
        } else {
            rz_buf_append(out, &s[i], 1);
        }
    }
    rz_buf_append(out, "\"", 1);
}

/* Test code: bounded recursion over the (validated, depth <= 16) value. */
static void json_value(rz_mp_dec *d, rz_buf *out, int depth)
{
    char num[64];
    uint32_t n;
    if (depth > 20) {
        d->err = RZ_EMALFORMED;
        return;
    }
    switch (rz_mp_peek(d)) {
    case RZ_MP_NIL:
        rz_mp_get_nil(d);
        rz_buf_append(out, "null", 4);
        break;
    case RZ_MP_BOOL: {
        bool b = false;
        rz_mp_get_bool(d, &b);
        rz_buf_append(out, b ? "true" : "false", b ? 4 : 5);
        break;
    }
    case RZ_MP_UINT: {
        uint64_t v = 0;
        rz_mp_get_u64(d, &v);
        snprintf(num, sizeof(num), "%llu", (unsigned long long)v);
        rz_buf_append(out, num, strlen(num));
        break;
    }
    case RZ_MP_INT: {
        int64_t v = 0;
        rz_mp_get_i64(d, &v);
        snprintf(num, sizeof(num), "%lld", (long long)v);
        rz_buf_append(out, num, strlen(num));
        break;
    }
    case RZ_MP_FLOAT: {
        double v = 0;
        rz_mp_get_double(d, &v);
        snprintf(num, sizeof(num), "%.17g", v);
        rz_buf_append(out, num, strlen(num));
        break;
    }
    case RZ_MP_STR: {
        const char *s;
        uint32_t len;
        rz_mp_get_str(d, &s, &len, UINT32_MAX);
        json_str(out, s, len);
        break;
    }
    case RZ_MP_BIN: {
        const uint8_t *p;
        uint32_t len;
        rz_mp_get_bin(d, &p, &len, UINT32_MAX);
        rz_buf_append(out, "\"", 1);
        for (uint32_t i = 0; i < len; i++) {
            snprintf(num, sizeof(num), "%02x", p[i]);
            rz_buf_append(out, num, 2);
        }
        rz_buf_append(out, "\"", 1);
        break;
    }
    case RZ_MP_ARRAY:
        rz_mp_get_array(d, &n);
        rz_buf_append(out, "[", 1);
        for (uint32_t i = 0; i < n && d->err == 0; i++) {
            if (i > 0) {
                rz_buf_append(out, ",", 1);
            }
            json_value(d, out, depth + 1);
        }
        rz_buf_append(out, "]", 1);
        break;
    case RZ_MP_MAP:
        rz_mp_get_map(d, &n);
        rz_buf_append(out, "{", 1);
        for (uint32_t i = 0; i < n && d->err == 0; i++) {
            if (i > 0) {
                rz_buf_append(out, ",", 1);
            }
            if (rz_mp_peek(d) == RZ_MP_STR) {
                json_value(d, out, depth + 1);
            } else {
                rz_buf_append(out, "\"", 1);
                json_value(d, out, depth + 1);
                rz_buf_append(out, "\"", 1);
            }
            rz_buf_append(out, ":", 1);
            json_value(d, out, depth + 1);
        }
        rz_buf_append(out, "}", 1);
        break;
    default:
        rz_mp_skip(d);
        rz_buf_append(out, "null", 4);
        break;
    }
}

void rzc_to_json(const void *p, size_t n, rz_buf *out)
{
    rz_mp_dec d;
    rz_mp_dec_init(&d, p, n);
    json_value(&d, out, 0);
}
