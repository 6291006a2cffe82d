/* portfuzz: sends hostile bytes to one port of a running ratuszd, for the
 * fault tests (DESIGN.md §6: bad input from any socket gets an error, the
 * node never crashes and never applies it). Blocking sockets, the secure
 * channel's pure state machine for the handshakes, one seed.
 *
 *   portfuzz fuzz --target HOST:PORT --kind client|peer|http
 *                 [--identity FILE] [--count N] [--seconds S] [--seed N]
 *       Opens up to N connections (default 50) within S seconds (default 5)
 *       and on each does one of: random bytes; a truncated frame; an
 *       oversized length prefix; (client, peer, with --identity) a valid
 *       handshake followed by raw garbage; a valid handshake followed by
 *       sealed frames that are not valid messages (random bytes, msgpack of
 *       the wrong shape, envelopes of unknown types or with bad bodies on
 *       the client port, raft-like frames with bad fields or a sender id
 *       that is not the credential's on the peer port). http: random
 *       bytes, truncated and oversized requests. Exits 1 if a handshake
 *       was tried and none succeeded (the garbage after it was never sent).
 *
 *   portfuzz probe --target HOST:PORT --identity FILE
 *       Asks the node (client port) STATUS and CHECKSUM; prints
 *       "node_id=1 state=leader term=2 leader_id=1 applied_index=7
 *        checksum=<hex> data_checksum=<hex>".
 *
 *   portfuzz create --target HOST:PORT[,HOST:PORT...] --identity FILE
 *                   [--count N] [--bytes B]
 *       Creates N cases (default 1; descriptions of B bytes) through
 *       whichever node leads; prints the last "case_id=1 index=5". */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "common/common.h"
#include "common/limits.h"
#include "common/secure.h"

#define IO_TIMEOUT_MS 3000
#define MSG_PING 1u
#define MSG_STATUS 2u
#define MSG_CASE_CREATE 3u
#define MSG_CHECKSUM 24u
#define MSG_REPLY 64u
#define MSG_ERROR 65u

typedef enum kind { KIND_CLIENT, KIND_PEER, KIND_HTTP } kind;

static uint64_t rng_state;

static uint64_t rnd(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint32_t rnd_below(uint32_t n)
{
    return n == 0 ? 0 : (uint32_t)(rnd() % n);
}

static void rnd_fill(uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        p[i] = (uint8_t)rnd();
    }
}

static uint64_t mono_ms(void)
{
    return rz_mono_ms();
}

/* ---- Sockets ------------------------------------------------------------ */

static int parse_target(const char *s, struct sockaddr_in *out)
{
    char host[64];
    const char *colon = strrchr(s, ':');
    long port;
    if (colon == NULL || (size_t)(colon - s) >= sizeof(host)) {
        return -1;
    }
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    port = strtol(colon + 1, NULL, 10);
    memset(out, 0, sizeof(*out));
    out->sin_family = AF_INET;
    out->sin_port = htons((uint16_t)port);
    if (port <= 0 || port > 65535 ||
        inet_pton(AF_INET, host, &out->sin_addr) != 1) {
        return -1;
    }
    return 0;
}

static int dial(const struct sockaddr_in *addr)
{
    struct timeval tv = {IO_TIMEOUT_MS / 1000, 0};
    int one = 1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -1;
    }
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (const struct sockaddr *)addr, sizeof(*addr)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Closes fd, half the time with a reset instead of a FIN. */
static void hang_up(int fd)
{
    if (rnd() & 1u) {
        struct linger lg = {1, 0};
        (void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    }
    close(fd);
}

/* Best effort: the node may close on us half-way, which is its right. */
static int send_all(int fd, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n > 0) {
        ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
        if (w <= 0) {
            return -1;
        }
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

/* ---- Secure channel over a blocking socket ------------------------------ */

static int flush_conn(int fd, rz_secure_conn *c)
{
    size_t n = 0;
    const uint8_t *p = rz_secure_out(c, &n);
    if (n == 0) {
        return 0;
    }
    if (send_all(fd, p, n) != 0) {
        return -1;
    }
    rz_secure_out_consume(c, n);
    return 0;
}

static uint8_t rbuf[64 * 1024];
static size_t rpos, rlen;

/* Feeds bytes until an event other than NONE arrives (or failure). */
static int next_event(int fd, rz_secure_conn *c, rz_secure_event *ev)
{
    for (int guard = 0; guard < 100000; guard++) {
        if (rpos < rlen) {
            size_t used = 0;
            int rv = rz_secure_feed(c, rbuf + rpos, rlen - rpos, &used, ev);
            rpos += used;
            if (rv != 0) {
                return rv;
            }
            if (flush_conn(fd, c) != 0) {
                return RZ_EIO;
            }
            if (ev->type != RZ_SECURE_EV_NONE) {
                return 0;
            }
            continue;
        }
        ssize_t r = recv(fd, rbuf, sizeof(rbuf), 0);
        if (r <= 0) {
            return RZ_EIO;
        }
        rpos = 0;
        rlen = (size_t)r;
    }
    return RZ_EIO;
}

static int handshake(int fd, rz_secure_conn *c, const rz_identity *id,
                     uint32_t max_frame)
{
    rz_secure_config cfg;
    rz_secure_event ev;
    int rv;
    memset(&cfg, 0, sizeof(cfg));
    cfg.id = id;
    cfg.allowed_roles = RZ_ROLE_BIT(RZ_ROLE_NODE);
    cfg.max_frame_bytes = max_frame;
    rpos = rlen = 0;
    rv = rz_secure_conn_init(c, &cfg, true, mono_ms(), rz_now_ms());
    if (rv != 0) {
        return rv;
    }
    if (flush_conn(fd, c) != 0) {
        return RZ_EIO;
    }
    rv = next_event(fd, c, &ev);
    if (rv == 0 && ev.type != RZ_SECURE_EV_ESTABLISHED) {
        rv = RZ_EPROTO;
    }
    return rv;
}

static int send_sealed(int fd, rz_secure_conn *c, const void *p, size_t n)
{
    int rv = rz_secure_send(c, p, n);
    if (rv != 0) {
        return rv;
    }
    return flush_conn(fd, c) == 0 ? 0 : RZ_EIO;
}

/* ---- Garbage ------------------------------------------------------------ */

static uint8_t gbuf[(4u << 20) + 64u];

static void fuzz_random(int fd)
{
    size_t n = 1 + rnd_below(rnd_below(8) == 0 ? 65536 : 2048);
    rnd_fill(gbuf, n);
    (void)send_all(fd, gbuf, n);
}

static void fuzz_truncated(int fd, kind k)
{
    if (k == KIND_HTTP) {
        static const char req[] =
            "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n";
        (void)send_all(fd, req, 1 + rnd_below(sizeof(req) - 2));
        return;
    }
    /* A HELLO-sized frame or a bigger one, cut short. */
    uint32_t len = rnd_below(2) ? 50u : 1u + rnd_below(300);
    size_t have = rnd_below(len);
    rz_put_be32(gbuf, len);
    gbuf[4] = 0x01;
    gbuf[5] = RZ_SECURE_PROTO_VERSION;
    rnd_fill(gbuf + 6, have);
    (void)send_all(fd, gbuf, 4 + have);
}

static void fuzz_oversized(int fd, kind k)
{
    static const uint32_t lens[] = {0xffffffffu,
                                    0x80000000u,
                                    0x7fffffffu,
                                    RZ_FRAME_MAX_BYTES + 1u,
                                    RZ_PEER_FRAME_MAX_BYTES + 1u,
                                    RZ_SECURE_HANDSHAKE_MSG_MAX_BYTES + 1u,
                                    0u,
                                    1u,
                                    2u};
    if (k == KIND_HTTP) {
        /* One endless header line, or a huge Content-Length. */
        size_t n = 16384 + rnd_below(65536);
        memcpy(gbuf, "GET /", 5);
        memset(gbuf + 5, 'A', n);
        (void)send_all(fd, gbuf, n + 5);
        return;
    }
    rz_put_be32(gbuf, lens[rnd_below(RZ_ARRAY_LEN(lens))]);
    size_t extra = rnd_below(4096);
    rnd_fill(gbuf + 4, extra);
    (void)send_all(fd, gbuf, 4 + extra);
}

/* A msgpack value that is not what the port expects. */
static size_t wrong_shape(uint8_t *out, size_t cap, kind k)
{
    rz_buf b;
    uint8_t rid[RZ_REQUEST_ID_BYTES];
    size_t n;
    rz_buf_init(&b, cap);
    rnd_fill(rid, sizeof(rid));
    switch (rnd_below(k == KIND_PEER ? 7 : 6)) {
    case 0: /* an envelope of an unknown or reply type */
        rz_envelope_encode(&b, 25 + rnd_below(200), rid, "\x80", 1);
        break;
    case 1: /* a request whose body is not a map */
        rz_envelope_encode(&b, 1 + rnd_below(24), rid, "\x93\x01\x02\x03", 4);
        break;
    case 2: { /* a request whose body has keys of the wrong types */
        uint8_t body[64];
        rz_buf bb;
        rz_buf_init(&bb, sizeof(body));
        rz_mp_put_map(&bb, 3);
        rz_mp_put_cstr(&bb, "description");
        rz_mp_put_uint(&bb, rnd());
        rz_mp_put_cstr(&bb, "case_id");
        rz_mp_put_cstr(&bb, "x");
        rz_mp_put_cstr(&bb, "timeout_ms");
        rz_mp_put_int(&bb, -5);
        rz_envelope_encode(&b, 1 + rnd_below(24), rid, bb.data, bb.len);
        rz_buf_close(&bb);
        break;
    }
    case 3: /* an array header that announces far more than is there */
        rz_mp_put_array(&b, 0xffffffffu);
        rz_mp_put_uint(&b, 1);
        break;
    case 4: /* nesting deeper than any limit */
        for (int i = 0; i < 40; i++) {
            rz_mp_put_array(&b, 1);
        }
        rz_mp_put_nil(&b);
        break;
    case 5: /* two values */
        rz_mp_put_uint(&b, 1);
        rz_mp_put_uint(&b, 2);
        break;
    default: { /* raft-like: [1, type, sender, address, body] with a body
                  of the wrong types, from the credential's id or not */
        rz_mp_put_array(&b, 5);
        rz_mp_put_uint(&b, 1);
        rz_mp_put_uint(&b, 1 + rnd_below(8));
        /* 9 is the fault test's own node credential: that frame reaches
         * the body decoder; the others are refused by sender id. */
        rz_mp_put_uint(&b, rnd_below(2) ? 9u : rnd_below(4));
        rz_mp_put_cstr(&b, "127.0.0.1:1/127.0.0.1:2");
        /* [term, true, >= 256]: no raft body has this shape (a vote
         * result's third element is 0..2), so nothing valid gets through
         * even from id 9. */
        rz_mp_put_array(&b, 3);
        rz_mp_put_uint(&b, rnd());
        rz_mp_put_bool(&b, true);
        rz_mp_put_uint(&b, rnd() | 0x100u);
        break;
    }
    }
    n = b.err == 0 ? b.len : 0;
    if (n > 0) {
        memcpy(out, b.data, n);
    }
    rz_buf_close(&b);
    return n;
}

typedef struct counters
{
    uint64_t connections;
    uint64_t refused;
    uint64_t handshakes_tried;
    uint64_t handshakes_ok;
    uint64_t frames;
} counters;

static void fuzz_after_handshake(int fd, kind k, const rz_identity *id,
                                 bool raw, counters *cnt)
{
    rz_secure_conn c;
    int rv;
    cnt->handshakes_tried++;
    rv = handshake(fd, &c, id, RZ_PEER_FRAME_MAX_BYTES);
    if (rv != 0) {
        rz_secure_conn_close(&c);
        return;
    }
    cnt->handshakes_ok++;
    if (raw) {
        /* Bytes that cannot open: a plausible length and junk, or junk. */
        size_t n = 17 + rnd_below(2048);
        rz_put_be32(gbuf, (uint32_t)n);
        rnd_fill(gbuf + 4, n);
        (void)send_all(fd, gbuf + (rnd_below(2) ? 0 : 4), n);
    } else {
        int frames = 1 + (int)rnd_below(8);
        for (int i = 0; i < frames; i++) {
            size_t n;
            if (rnd_below(3) == 0) {
                n = rnd_below(4096);
                rnd_fill(gbuf, n);
            } else {
                n = wrong_shape(gbuf, 4096, k);
            }
            if (rnd_below(40) == 0) {
                /* Over the client port's limit (the peer port's is ours). */
                n = k == KIND_CLIENT ? RZ_FRAME_MAX_BYTES + 1u : n;
            }
            if (send_sealed(fd, &c, gbuf, n) != 0) {
                break;
            }
            cnt->frames++;
        }
    }
    rz_secure_conn_close(&c);
}

static int cmd_fuzz(const char *target, kind k, const char *identity_path,
                    uint64_t count, uint64_t seconds)
{
    struct sockaddr_in addr;
    rz_identity id;
    bool have_id = false;
    char errmsg[RZ_ERRMSG_BYTES];
    counters cnt = {0};
    uint64_t deadline = mono_ms() + seconds * 1000u;
    if (parse_target(target, &addr) != 0) {
        fprintf(stderr, "portfuzz: bad --target %s\n", target);
        return 2;
    }
    if (identity_path != NULL) {
        if (rz_identity_read(identity_path, &id, errmsg) != 0) {
            fprintf(stderr, "portfuzz: %s\n", errmsg);
            return 2;
        }
        have_id = true;
    }
    for (uint64_t i = 0; i < count && mono_ms() < deadline; i++) {
        int fd = dial(&addr);
        uint32_t modes = k == KIND_HTTP || !have_id ? 3u : 5u;
        if (fd < 0) {
            cnt.refused++;
            usleep(20000);
            continue;
        }
        cnt.connections++;
        switch (rnd_below(modes)) {
        case 0:
            fuzz_random(fd);
            break;
        case 1:
            fuzz_truncated(fd, k);
            break;
        case 2:
            fuzz_oversized(fd, k);
            break;
        case 3:
            fuzz_after_handshake(fd, k, &id, true, &cnt);
            break;
        default:
            fuzz_after_handshake(fd, k, &id, false, &cnt);
            break;
        }
        hang_up(fd);
    }
    printf("portfuzz: target=%s connections=%llu refused=%llu "
           "handshakes=%llu/%llu sealed_frames=%llu\n",
           target, (unsigned long long)cnt.connections,
           (unsigned long long)cnt.refused,
           (unsigned long long)cnt.handshakes_ok,
           (unsigned long long)cnt.handshakes_tried,
           (unsigned long long)cnt.frames);
    if (have_id) {
        rz_identity_wipe(&id);
    }
    if (cnt.connections == 0 ||
        (cnt.handshakes_tried > 0 && cnt.handshakes_ok == 0)) {
        fprintf(stderr, "portfuzz: %s: %s\n", target,
                cnt.connections == 0 ? "no connection was accepted"
                                     : "no handshake succeeded");
        return 1;
    }
    return 0;
}

/* ---- Requests (probe, create) ------------------------------------------- */

typedef struct reply
{
    uint32_t type;
    uint8_t frame[64 * 1024];
    size_t len;
    rz_envelope env;
} reply;

static int request(int fd, rz_secure_conn *c, uint32_t type, const rz_buf *body,
                   reply *out)
{
    uint8_t rid[RZ_REQUEST_ID_BYTES];
    rz_buf b;
    int rv;
    rz_random_bytes(rid, sizeof(rid));
    rz_buf_init(&b, RZ_FRAME_MAX_BYTES);
    rz_envelope_encode(&b, type, rid, body->data, body->len);
    rv = b.err != 0 ? b.err : send_sealed(fd, c, b.data, b.len);
    rz_buf_close(&b);
    for (int guard = 0; rv == 0 && guard < 100; guard++) {
        rz_secure_event ev;
        rv = next_event(fd, c, &ev);
        if (rv != 0 || ev.type != RZ_SECURE_EV_FRAME) {
            return rv != 0 ? rv : RZ_ECLOSED;
        }
        if (ev.len > sizeof(out->frame)) {
            continue;
        }
        memcpy(out->frame, ev.data, ev.len);
        out->len = ev.len;
        if (rz_envelope_decode(out->frame, out->len, NULL, &out->env) == 0 &&
            memcmp(out->env.request_id, rid, sizeof(rid)) == 0) {
            out->type = out->env.type;
            return 0;
        }
    }
    return rv != 0 ? rv : RZ_ETIMEDOUT;
}

/* Reads the integer (or bin, as hex) value of `key` from a reply body map;
 * skips everything else. */
static int body_get(const reply *r, const char *key, uint64_t *u, int64_t *i,
                    char *hex, size_t hex_size, char *str, size_t str_size)
{
    rz_mp_dec d;
    uint32_t n = 0;
    rz_mp_dec_init(&d, r->env.body, r->env.body_len);
    if (rz_mp_get_map(&d, &n) != 0) {
        return RZ_EMALFORMED;
    }
    for (uint32_t k = 0; k < n; k++) {
        const char *s;
        uint32_t len;
        if (rz_mp_get_str(&d, &s, &len, 256) != 0) {
            return RZ_EMALFORMED;
        }
        if (len != strlen(key) || memcmp(s, key, len) != 0) {
            rz_mp_skip(&d);
            continue;
        }
        switch (rz_mp_peek(&d)) {
        case RZ_MP_UINT:
            return u != NULL ? rz_mp_get_u64(&d, u) : RZ_EINVAL;
        case RZ_MP_INT:
            return i != NULL ? rz_mp_get_i64(&d, i) : RZ_EINVAL;
        case RZ_MP_BIN: {
            const uint8_t *p;
            uint32_t bl;
            if (hex == NULL || rz_mp_get_bin(&d, &p, &bl, 64) != 0 ||
                hex_size < 2 * (size_t)bl + 1) {
                return RZ_EINVAL;
            }
            for (uint32_t j = 0; j < bl; j++) {
                snprintf(hex + 2 * j, 3, "%02x", p[j]);
            }
            hex[2 * bl] = '\0';
            return 0;
        }
        case RZ_MP_STR:
            return str != NULL ? rz_mp_get_cstr(&d, str, str_size) : RZ_EINVAL;
        default:
            return RZ_EINVAL;
        }
    }
    return RZ_ENOTFOUND;
}

static int open_session(const char *target, const rz_identity *id, int *fd,
                        rz_secure_conn *c)
{
    struct sockaddr_in addr;
    int rv;
    if (parse_target(target, &addr) != 0) {
        return RZ_EINVAL;
    }
    *fd = dial(&addr);
    if (*fd < 0) {
        return RZ_EIO;
    }
    rv = handshake(*fd, c, id, RZ_FRAME_MAX_BYTES);
    if (rv != 0) {
        rz_secure_conn_close(c);
        close(*fd);
    }
    return rv;
}

static int cmd_probe(const char *target, const rz_identity *id)
{
    static reply r;
    rz_secure_conn c;
    rz_buf body;
    uint64_t node_id = 0, term = 0, leader = 0, applied = 0;
    char state[32] = "?", sum[80] = "?", data_sum[80] = "?";
    int fd, rv;
    rv = open_session(target, id, &fd, &c);
    if (rv != 0) {
        fprintf(stderr, "portfuzz probe %s: %s\n", target, rz_strerror(rv));
        return 1;
    }
    rz_buf_init(&body, 64);
    rz_mp_put_map(&body, 0);
    rv = request(fd, &c, MSG_STATUS, &body, &r);
    if (rv == 0 && r.type == MSG_REPLY) {
        (void)body_get(&r, "node_id", &node_id, NULL, NULL, 0, NULL, 0);
        (void)body_get(&r, "term", &term, NULL, NULL, 0, NULL, 0);
        (void)body_get(&r, "leader_id", &leader, NULL, NULL, 0, NULL, 0);
        (void)body_get(&r, "state", NULL, NULL, NULL, 0, state, sizeof(state));
    } else if (rv == 0) {
        rv = RZ_EPROTO;
    }
    rz_buf_reset(&body);
    rz_mp_put_map(&body, 1);
    rz_mp_put_cstr(&body, "scan");
    rz_mp_put_bool(&body, false);
    if (rv == 0) {
        rv = request(fd, &c, MSG_CHECKSUM, &body, &r);
    }
    if (rv == 0 && r.type == MSG_REPLY) {
        (void)body_get(&r, "applied_index", &applied, NULL, NULL, 0, NULL, 0);
        rv = body_get(&r, "checksum", NULL, NULL, sum, sizeof(sum), NULL, 0);
        (void)body_get(&r, "data_checksum", NULL, NULL, data_sum,
                       sizeof(data_sum), NULL, 0);
    } else if (rv == 0) {
        rv = RZ_EPROTO;
    }
    rz_buf_close(&body);
    rz_secure_conn_close(&c);
    close(fd);
    if (rv != 0) {
        fprintf(stderr, "portfuzz probe %s: %s\n", target, rz_strerror(rv));
        return 1;
    }
    printf("node_id=%llu state=%s term=%llu leader_id=%llu applied_index=%llu "
           "checksum=%s data_checksum=%s\n",
           (unsigned long long)node_id, state, (unsigned long long)term,
           (unsigned long long)leader, (unsigned long long)applied, sum,
           data_sum);
    return 0;
}

/* Sends one CASE_CREATE with a description of `bytes` bytes. */
static int send_create(int fd, rz_secure_conn *c,
                       const uint8_t rid[RZ_REQUEST_ID_BYTES], size_t bytes)
{
    static char text[RZ_DESCRIPTION_MAX_BYTES + 1];
    rz_buf body, env;
    int rv;
    if (bytes == 0 || bytes > RZ_DESCRIPTION_MAX_BYTES) {
        bytes = 40;
    }
    for (size_t i = 0; i < bytes; i++) {
        text[i] = (char)('a' + (char)(i % 26));
    }
    text[bytes] = '\0';
    rz_buf_init(&body, RZ_DESCRIPTION_MAX_BYTES + 64);
    rz_mp_put_map(&body, 1);
    rz_mp_put_cstr(&body, "description");
    rz_mp_put_cstr(&body, text);
    rz_buf_init(&env, RZ_DESCRIPTION_MAX_BYTES + 128);
    rz_envelope_encode(&env, MSG_CASE_CREATE, rid, body.data, body.len);
    rv = env.err != 0 ? env.err : send_sealed(fd, c, env.data, env.len);
    rz_buf_close(&env);
    rz_buf_close(&body);
    return rv;
}

/* Reads one reply envelope into *r. */
static int read_reply(int fd, rz_secure_conn *c, reply *r)
{
    rz_secure_event ev;
    int rv = next_event(fd, c, &ev);
    if (rv != 0 || ev.type != RZ_SECURE_EV_FRAME || ev.len > sizeof(r->frame)) {
        return rv != 0 ? rv : RZ_ECLOSED;
    }
    memcpy(r->frame, ev.data, ev.len);
    r->len = ev.len;
    return rz_envelope_decode(r->frame, r->len, NULL, &r->env);
}

/* Creates `count` cases: the first through whichever node leads (retried
 * with the same request id, so exactly once), the rest on the same
 * connection in windows of requests in flight. */
static int cmd_create(const char *targets, const rz_identity *id,
                      uint64_t count, size_t bytes)
{
    static reply r;
    char list[1024];
    uint8_t rid[RZ_REQUEST_ID_BYTES];
    rz_random_bytes(rid, sizeof(rid));
    snprintf(list, sizeof(list), "%s", targets);
    /* A few rounds over the nodes: a follower answers NOT_LEADER. */
    for (int round = 0; round < 20; round++) {
        char *save = NULL;
        char copy[1024];
        snprintf(copy, sizeof(copy), "%s", list);
        for (char *t = strtok_r(copy, ",", &save); t != NULL;
             t = strtok_r(NULL, ",", &save)) {
            rz_secure_conn c;
            int fd, rv;
            uint64_t case_id = 0, index = 0, done = 0;
            if (open_session(t, id, &fd, &c) != 0) {
                continue;
            }
            rv = send_create(fd, &c, rid, bytes);
            for (int guard = 0; rv == 0 && guard < 10; guard++) {
                rv = read_reply(fd, &c, &r);
                if (rv == 0 &&
                    memcmp(r.env.request_id, rid, sizeof(rid)) == 0) {
                    break;
                }
            }
            if (rv != 0 || r.env.type != MSG_REPLY) {
                rz_secure_conn_close(&c);
                close(fd);
                continue;
            }
            (void)body_get(&r, "case_id", &case_id, NULL, NULL, 0, NULL, 0);
            (void)body_get(&r, "index", &index, NULL, NULL, 0, NULL, 0);
            done = 1;
            while (rv == 0 && done < count) {
                uint64_t window = count - done < 256 ? count - done : 256;
                for (uint64_t k = 0; rv == 0 && k < window; k++) {
                    uint8_t more[RZ_REQUEST_ID_BYTES];
                    rz_random_bytes(more, sizeof(more));
                    rv = send_create(fd, &c, more, bytes);
                }
                for (uint64_t k = 0; rv == 0 && k < window; k++) {
                    rv = read_reply(fd, &c, &r);
                    if (rv == 0 && r.env.type != MSG_REPLY) {
                        rv = RZ_EPROTO;
                    }
                    if (rv == 0) {
                        (void)body_get(&r, "case_id", &case_id, NULL, NULL, 0,
                                       NULL, 0);
                        (void)body_get(&r, "index", &index, NULL, NULL, 0, NULL,
                                       0);
                        done++;
                    }
                }
            }
            rz_secure_conn_close(&c);
            close(fd);
            if (rv != 0) {
                fprintf(stderr, "portfuzz create: %llu of %llu created: %s\n",
                        (unsigned long long)done, (unsigned long long)count,
                        rz_strerror(rv));
                return 1;
            }
            printf("case_id=%llu index=%llu\n", (unsigned long long)case_id,
                   (unsigned long long)index);
            return 0;
        }
        usleep(200000);
    }
    fprintf(stderr, "portfuzz create: no node created the case\n");
    return 1;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: portfuzz fuzz --target HOST:PORT --kind client|peer|http "
            "[--identity FILE] [--count N] [--seconds S] [--seed N]\n"
            "       portfuzz probe --target HOST:PORT --identity FILE\n"
            "       portfuzz create --target HOST:PORT[,...] --identity FILE "
            "[--count N] [--bytes B]\n");
}

int main(int argc, char **argv)
{
    const char *target = NULL, *identity = NULL, *kind_s = "client";
    uint64_t count = 0, seconds = 5, seed = 1, bytes = 0;
    kind k;
    int rv;
    if (argc < 2) {
        usage();
        return 2;
    }
    for (int i = 2; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--target") == 0) {
            target = argv[i + 1];
        } else if (strcmp(argv[i], "--identity") == 0) {
            identity = argv[i + 1];
        } else if (strcmp(argv[i], "--kind") == 0) {
            kind_s = argv[i + 1];
        } else if (strcmp(argv[i], "--count") == 0) {
            count = strtoull(argv[i + 1], NULL, 10);
        } else if (strcmp(argv[i], "--seconds") == 0) {
            seconds = strtoull(argv[i + 1], NULL, 10);
        } else if (strcmp(argv[i], "--bytes") == 0) {
            bytes = strtoull(argv[i + 1], NULL, 10);
        } else if (strcmp(argv[i], "--seed") == 0) {
            seed = strtoull(argv[i + 1], NULL, 10);
        } else {
            usage();
            return 2;
        }
    }
    if (target == NULL || rz_crypto_init() != 0) {
        usage();
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    rng_state = seed;
    if (strcmp(kind_s, "client") == 0) {
        k = KIND_CLIENT;
    } else if (strcmp(kind_s, "peer") == 0) {
        k = KIND_PEER;
    } else if (strcmp(kind_s, "http") == 0) {
        k = KIND_HTTP;
    } else {
        usage();
        return 2;
    }
    if (strcmp(argv[1], "fuzz") == 0) {
        return cmd_fuzz(target, k, identity, count != 0 ? count : 50, seconds);
    }
    if (identity == NULL) {
        usage();
        return 2;
    }
    {
        static rz_identity id;
        char errmsg[RZ_ERRMSG_BYTES];
        if (rz_identity_read(identity, &id, errmsg) != 0) {
            fprintf(stderr, "portfuzz: %s\n", errmsg);
            return 2;
        }
        if (strcmp(argv[1], "probe") == 0) {
            rv = cmd_probe(target, &id);
        } else if (strcmp(argv[1], "create") == 0) {
            rv = cmd_create(target, &id, count != 0 ? count : 1, (size_t)bytes);
        } else {
            usage();
            rv = 2;
        }
        rz_identity_wipe(&id);
    }
    return rv;
}
