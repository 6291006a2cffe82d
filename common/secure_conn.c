/* The secure channel's connection state machine: the SIGMA-style handshake
 * and the secretstream framing of DESIGN.md §5, with no I/O of its own
 * (docs/protocol.md describes the same bytes for other implementations). */
#include "common/secure.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

_Static_assert(RZ_KX_PUBLIC_BYTES == crypto_kx_PUBLICKEYBYTES, "kx pk");
_Static_assert(RZ_KX_SECRET_BYTES == crypto_kx_SECRETKEYBYTES, "kx sk");
_Static_assert(crypto_kx_SEEDBYTES == 32, "kx seed");
_Static_assert(crypto_kx_SESSIONKEYBYTES == 32, "kx session key");
_Static_assert(RZ_STREAM_HEADER_BYTES ==
                   crypto_secretstream_xchacha20poly1305_HEADERBYTES,
               "header");
_Static_assert(RZ_STREAM_ABYTES == crypto_secretstream_xchacha20poly1305_ABYTES,
               "abytes");
_Static_assert(crypto_secretstream_xchacha20poly1305_KEYBYTES == 32, "key");
_Static_assert(sizeof(crypto_secretstream_xchacha20poly1305_state) <=
                   sizeof(((rz_secure_conn *)0)->tx),
               "secretstream state storage");
_Static_assert(sizeof(crypto_generichash_state) <=
                   sizeof(((rz_secure_conn *)0)->transcript),
               "transcript storage");

/* ---- Message layouts (frame payloads; see secure.h and protocol.md) ---- */

enum {
    MSG_HELLO = 0x01,
    MSG_SERVER_AUTH = 0x02,
    MSG_CLIENT_AUTH = 0x03,
    MSG_SERVER_DONE = 0x04,
};

#define HELLO_BYTES (2u + RZ_CLUSTER_ID_BYTES + RZ_KX_PUBLIC_BYTES)
#define SAUTH_BYTES(n) (1u + RZ_KX_PUBLIC_BYTES + 2u + (n) + RZ_SIGNATURE_BYTES)
#define CAUTH_BYTES(n)                                             \
    (1u + 2u + (n) + RZ_SIGNATURE_BYTES + RZ_STREAM_HEADER_BYTES + \
     RZ_STREAM_ABYTES)
#define SDONE_BYTES (1u + RZ_STREAM_HEADER_BYTES + RZ_STREAM_ABYTES)
#define ERROR_BYTES 2u
#define HASH_BYTES 64u /* BLAKE2b-512 transcript hash */

_Static_assert(CAUTH_BYTES(RZ_CRED_MAX_BYTES) <=
                   RZ_SECURE_HANDSHAKE_MSG_MAX_BYTES,
               "the largest handshake message fits the limit");
_Static_assert(ERROR_BYTES < SDONE_BYTES && ERROR_BYTES < RZ_STREAM_ABYTES &&
                   SDONE_BYTES < HELLO_BYTES,
               "an error frame is shorter than any other frame");

static const char transcript_context[] = "ratusz/handshake/v1";
static const char label_c2s[] = "ratusz/key/c2s";
static const char label_s2c[] = "ratusz/key/s2c";

#define TX(c) ((crypto_secretstream_xchacha20poly1305_state *)(void *)(c)->tx)
#define RX(c) ((crypto_secretstream_xchacha20poly1305_state *)(void *)(c)->rx)
#define TRANSCRIPT(c) ((crypto_generichash_state *)(void *)(c)->transcript)

/* The connection lifecycle as a table of allowed moves (STYLE.md habit
 * 11), checked on every move:
 *
 *   server: HELLO -> CAUTH -> OPEN -> PEER_CLOSED
 *   client: SAUTH -> SDONE -> OPEN -> PEER_CLOSED
 *   any state but FAILED -> FAILED */
static bool move_allowed(rz_secure_state from, rz_secure_state to)
{
    static const struct
    {
        rz_secure_state from, to;
    } moves[] = {
        {RZ_SECURE_HELLO, RZ_SECURE_CAUTH},
        {RZ_SECURE_CAUTH, RZ_SECURE_OPEN},
        {RZ_SECURE_SAUTH, RZ_SECURE_SDONE},
        {RZ_SECURE_SDONE, RZ_SECURE_OPEN},
        {RZ_SECURE_OPEN, RZ_SECURE_PEER_CLOSED},
    };
    if (to == RZ_SECURE_FAILED) {
        return from != RZ_SECURE_FAILED;
    }
    for (size_t i = 0; i < RZ_ARRAY_LEN(moves); i++) {
        if (moves[i].from == from && moves[i].to == to) {
            return true;
        }
    }
    return false;
}

static void set_state(rz_secure_conn *c, rz_secure_state to)
{
    RZ_ASSERT(move_allowed(c->state, to));
    c->state = to;
}

static bool in_handshake(const rz_secure_conn *c)
{
    return c->state == RZ_SECURE_HELLO || c->state == RZ_SECURE_SAUTH ||
           c->state == RZ_SECURE_CAUTH || c->state == RZ_SECURE_SDONE;
}

static void wipe_handshake_secrets(rz_secure_conn *c)
{
    sodium_memzero(c->eph_sk, sizeof(c->eph_sk));
    sodium_memzero(c->rx_key, sizeof(c->rx_key));
    sodium_memzero(c->transcript, sizeof(c->transcript));
}

/* Drops the bytes already handed over, so the buffer's cap counts only
 * pending bytes. */
static void out_compact(rz_secure_conn *c)
{
    if (c->out_pos > 0) {
        memmove(c->out.data, c->out.data + c->out_pos, c->out.len - c->out_pos);
        c->out.len -= c->out_pos;
        c->out_pos = 0;
    }
}

/* Appends a frame header and payload to the output. Sends stop at the
 * high-water mark and the buffer's cap leaves room above it, so only an
 * allocation can fail. */
static int out_frame(rz_secure_conn *c, const uint8_t *payload, size_t n)
{
    uint8_t hdr[RZ_FRAME_HEADER_BYTES];
    int rv;
    out_compact(c);
    rz_put_be32(hdr, (uint32_t)n);
    rv = rz_buf_reserve(&c->out, sizeof(hdr) + n);
    if (rv != 0) {
        c->out.err = 0;
        return rv;
    }
    rz_buf_append(&c->out, hdr, sizeof(hdr));
    rz_buf_append(&c->out, payload, n);
    RZ_POST(c->out.err == 0);
    return 0;
}

/* Ends the connection: one plaintext error frame, keys wiped. A failure
 * caused by the peer's own error frame sends nothing back. */
static int fail(rz_secure_conn *c, int err, int code, const char *why)
{
    RZ_PRE(err < 0);
    if (c->state == RZ_SECURE_FAILED) {
        return c->err;
    }
    set_state(c, RZ_SECURE_FAILED);
    c->err = err;
    if (why != NULL) {
        rz_errmsg_set(c->errmsg, "%s", why);
    }
    wipe_handshake_secrets(c);
    sodium_memzero(c->tx, sizeof(c->tx));
    sodium_memzero(c->rx, sizeof(c->rx));
    if (code != 0) {
        uint8_t e[ERROR_BYTES] = {RZ_SECURE_ERROR_TYPE, (uint8_t)code};
        /* Room for it is kept above the send limit; only a failed
         * allocation can drop it, and the connection ends either way. */
        (void)out_frame(c, e, sizeof(e));
    }
    return err;
}

void rz_secure_fail(rz_secure_conn *c, int err, rz_secure_errcode code)
{
    RZ_PRE(c != NULL && err < 0);
    fail(c, err, (int)code, "closed by the application");
}

/* Failures of the handshake tell the peer only "handshake failed". */
static int hs_fail(rz_secure_conn *c, int err, const char *why)
{
    return fail(c, err, RZ_SECURE_ERR_HANDSHAKE, why);
}

int rz_secure_conn_init(rz_secure_conn *c, const rz_secure_config *cfg,
                        bool is_client, uint64_t now_ms, uint64_t wall_ms)
{
    uint8_t seed[crypto_kx_SEEDBYTES];
    uint32_t max_frame;
    size_t out_max;
    int rv;
    RZ_PRE(c != NULL && cfg != NULL);
    memset(c, 0, sizeof(*c));
    max_frame =
        cfg->max_frame_bytes != 0 ? cfg->max_frame_bytes : RZ_FRAME_MAX_BYTES;
    if (cfg->id == NULL || cfg->id->cred_len < RZ_CRED_MIN_BYTES ||
        cfg->id->cred_len > RZ_CRED_MAX_BYTES ||
        (cfg->allowed_roles & RZ_ROLES_ALL) == 0 ||
        (cfg->allowed_roles & ~RZ_ROLES_ALL) != 0 ||
        max_frame > RZ_PEER_FRAME_MAX_BYTES) {
        return RZ_EINVAL;
    }
    c->cfg = *cfg;
    c->is_client = is_client;
    c->max_frame_bytes = max_frame;
    c->wall_ms = wall_ms;
    c->deadline_ms = now_ms + (cfg->handshake_timeout_ms != 0
                                   ? cfg->handshake_timeout_ms
                                   : RZ_SECURE_HANDSHAKE_TIMEOUT_MS);
    /* A whole frame of the largest kind plus its header. */
    rz_buf_init(
        &c->in,
        RZ_SECURE_FRAME_BYTES(max_frame) >
                RZ_FRAME_HEADER_BYTES + RZ_SECURE_HANDSHAKE_MSG_MAX_BYTES
            ? RZ_SECURE_FRAME_BYTES(max_frame)
            : RZ_FRAME_HEADER_BYTES + RZ_SECURE_HANDSHAKE_MSG_MAX_BYTES);
    /* Sends stop at the high-water mark; the slack above it keeps room for
     * handshake messages and the error frame, which must never fail. */
    out_max = (size_t)RZ_SECURE_WRITE_HIGH_WATER_BYTES +
              2u * RZ_SECURE_HANDSHAKE_MSG_MAX_BYTES;
    rz_buf_init(&c->out, out_max);
    if (rz_buf_reserve(&c->out, 2u * RZ_SECURE_HANDSHAKE_MSG_MAX_BYTES) != 0) {
        rv = RZ_ENOMEM;
        goto err_after_bufs;
    }
    c->plain = malloc(max_frame > 0 ? max_frame : 1u);
    if (c->plain == NULL) {
        rv = RZ_ENOMEM;
        goto err_after_bufs;
    }

    if (cfg->random != NULL) {
        cfg->random(cfg->random_data, seed, sizeof(seed));
    } else {
        randombytes_buf(seed, sizeof(seed));
    }
    rv = crypto_kx_seed_keypair(c->eph_pk, c->eph_sk, seed);
    sodium_memzero(seed, sizeof(seed));
    RZ_ASSERT(rv == 0);
    rv = crypto_generichash_init(TRANSCRIPT(c), NULL, 0, HASH_BYTES);
    RZ_ASSERT(rv == 0);
    crypto_generichash_update(TRANSCRIPT(c),
                              (const uint8_t *)transcript_context,
                              sizeof(transcript_context) - 1);

    if (is_client) {
        uint8_t hello[HELLO_BYTES];
        hello[0] = MSG_HELLO;
        hello[1] = RZ_SECURE_PROTO_VERSION;
        memcpy(hello + 2, cfg->id->cluster.id, RZ_CLUSTER_ID_BYTES);
        memcpy(hello + 2 + RZ_CLUSTER_ID_BYTES, c->eph_pk, RZ_KX_PUBLIC_BYTES);
        crypto_generichash_update(TRANSCRIPT(c), hello, sizeof(hello));
        rv = out_frame(c, hello, sizeof(hello));
        RZ_ASSERT(rv == 0);
        c->state = RZ_SECURE_SAUTH;
    } else {
        c->state = RZ_SECURE_HELLO;
    }
    return 0;

err_after_bufs:
    rz_buf_close(&c->in);
    rz_buf_close(&c->out);
    return rv;
}

void rz_secure_conn_close(rz_secure_conn *c)
{
    RZ_PRE(c != NULL);
    if (c->plain != NULL) {
        sodium_memzero(c->plain, c->max_frame_bytes);
        free(c->plain);
    }
    rz_buf_close(&c->in);
    rz_buf_close(&c->out);
    sodium_memzero(c, sizeof(*c));
}

/* ---- Handshake ---- */

/* A snapshot of the running transcript hash (the running state goes on). */
static void transcript_peek(rz_secure_conn *c, uint8_t h[HASH_BYTES])
{
    crypto_generichash_state copy;
    memcpy(&copy, TRANSCRIPT(c), sizeof(copy));
    crypto_generichash_final(&copy, h, HASH_BYTES);
    sodium_memzero(&copy, sizeof(copy));
}

/* Ed25519 over label || h; the labels keep a server's signature from being
 * replayed as a client's. */
static void sign_hash(const rz_secure_conn *c, const char label[5],
                      const uint8_t h[HASH_BYTES],
                      uint8_t sig[RZ_SIGNATURE_BYTES])
{
    uint8_t msg[4 + HASH_BYTES];
    memcpy(msg, label, 4);
    memcpy(msg + 4, h, HASH_BYTES);
    crypto_sign_detached(sig, NULL, msg, sizeof(msg), c->cfg.id->sk);
}

static bool verify_hash(const char label[5], const uint8_t h[HASH_BYTES],
                        const uint8_t sig[RZ_SIGNATURE_BYTES],
                        const uint8_t pk[RZ_SIGN_PUBLIC_BYTES])
{
    uint8_t msg[4 + HASH_BYTES];
    memcpy(msg, label, 4);
    memcpy(msg + 4, h, HASH_BYTES);
    return crypto_sign_verify_detached(sig, msg, sizeof(msg), pk) == 0;
}

/* key = BLAKE2b-256(key: transcript hash, message: label || kx key). */
static void mix_key(uint8_t out[32], const char *label, size_t label_len,
                    const uint8_t kx[32], const uint8_t h[HASH_BYTES])
{
    crypto_generichash_state st;
    crypto_generichash_init(&st, h, HASH_BYTES, 32);
    crypto_generichash_update(&st, (const uint8_t *)label, label_len);
    crypto_generichash_update(&st, kx, 32);
    crypto_generichash_final(&st, out, 32);
    sodium_memzero(&st, sizeof(st));
}

/* Verifies a peer credential from the handshake: cluster, signature,
 * expiry, role for this listener, and the listener's policy hook. */
static int check_peer_cred(rz_secure_conn *c, const uint8_t *p, size_t n)
{
    int rv = rz_cred_verify(&c->cfg.id->cluster, p, n, c->wall_ms, &c->peer);
    if (rv == RZ_EEXPIRED) {
        return hs_fail(c, rv, "the peer's credential has expired");
    }
    if (rv != 0) {
        return hs_fail(c, rv == RZ_EMALFORMED ? RZ_EMALFORMED : RZ_EAUTH,
                       "the peer's credential is not valid for this "
                       "cluster");
    }
    if ((c->cfg.allowed_roles & RZ_ROLE_BIT(c->peer.role)) == 0) {
        rz_errmsg_set(c->errmsg,
                      "a peer with role %s may not connect here (name %s)",
                      rz_role_name((int)c->peer.role), c->peer.name);
        return fail(c, RZ_EDENIED, RZ_SECURE_ERR_HANDSHAKE, NULL);
    }
    if (c->cfg.policy != NULL) {
        rv = c->cfg.policy(c->cfg.policy_data, &c->peer);
        if (rv != 0) {
            return hs_fail(c, RZ_EDENIED,
                           "the listener's policy refused "
                           "the peer");
        }
    }
    return 0;
}

static void derive_keys(const rz_secure_conn *c, const uint8_t kx_rx[32],
                        const uint8_t kx_tx[32], const uint8_t h[HASH_BYTES],
                        uint8_t key_rx[32], uint8_t key_tx[32])
{
    const char *rx_label = c->is_client ? label_s2c : label_c2s;
    const char *tx_label = c->is_client ? label_c2s : label_s2c;
    _Static_assert(sizeof(label_c2s) == sizeof(label_s2c), "labels");
    mix_key(key_rx, rx_label, sizeof(label_c2s) - 1, kx_rx, h);
    mix_key(key_tx, tx_label, sizeof(label_c2s) - 1, kx_tx, h);
}

/* Writes stream header || an empty "finished" message at out. */
static void start_push(rz_secure_conn *c, const uint8_t key_tx[32],
                       uint8_t *out)
{
    unsigned long long clen = 0;
    int rv =
        crypto_secretstream_xchacha20poly1305_init_push(TX(c), out, key_tx);
    RZ_ASSERT(rv == 0);
    rv = crypto_secretstream_xchacha20poly1305_push(
        TX(c), out + RZ_STREAM_HEADER_BYTES, &clen, NULL, 0, NULL, 0,
        crypto_secretstream_xchacha20poly1305_TAG_MESSAGE);
    RZ_ASSERT(rv == 0 && clen == RZ_STREAM_ABYTES);
}

/* Reads stream header || finished from the peer. */
static bool start_pull(rz_secure_conn *c, const uint8_t key_rx[32],
                       const uint8_t *in)
{
    unsigned long long mlen = 0;
    unsigned char tag = 0;
    if (crypto_secretstream_xchacha20poly1305_init_pull(RX(c), in, key_rx) !=
        0) {
        return false;
    }
    if (crypto_secretstream_xchacha20poly1305_pull(
            RX(c), c->plain, &mlen, &tag, in + RZ_STREAM_HEADER_BYTES,
            RZ_STREAM_ABYTES, NULL, 0) != 0) {
        return false;
    }
    return mlen == 0 &&
           tag == crypto_secretstream_xchacha20poly1305_TAG_MESSAGE;
}

/* Server: HELLO arrived; answer with SERVER_AUTH. */
static int on_hello(rz_secure_conn *c, const uint8_t *p, size_t n)
{
    uint8_t msg[SAUTH_BYTES(RZ_CRED_MAX_BYTES)];
    uint8_t h[HASH_BYTES];
    const rz_identity *id = c->cfg.id;
    size_t len;
    int rv;
    if (n != HELLO_BYTES || p[0] != MSG_HELLO) {
        return hs_fail(c, RZ_EMALFORMED, "the client's hello is malformed");
    }
    if (p[1] != RZ_SECURE_PROTO_VERSION) {
        return hs_fail(c, RZ_EPROTO,
                       "the client speaks another protocol version");
    }
    if (sodium_memcmp(p + 2, id->cluster.id, RZ_CLUSTER_ID_BYTES) != 0) {
        return hs_fail(c, RZ_EAUTH, "the client belongs to another cluster");
    }
    memcpy(c->peer_eph_pk, p + 2 + RZ_CLUSTER_ID_BYTES, RZ_KX_PUBLIC_BYTES);
    crypto_generichash_update(TRANSCRIPT(c), p, n);

    msg[0] = MSG_SERVER_AUTH;
    memcpy(msg + 1, c->eph_pk, RZ_KX_PUBLIC_BYTES);
    rz_put_be32(h, (uint32_t)id->cred_len); /* h as scratch for the u16 */
    msg[1 + RZ_KX_PUBLIC_BYTES] = h[2];
    msg[2 + RZ_KX_PUBLIC_BYTES] = h[3];
    memcpy(msg + 3 + RZ_KX_PUBLIC_BYTES, id->cred_bytes, id->cred_len);
    len = 3 + RZ_KX_PUBLIC_BYTES + id->cred_len;
    crypto_generichash_update(TRANSCRIPT(c), msg, len);
    transcript_peek(c, h);
    sign_hash(c, "RZ-S", h, msg + len);
    crypto_generichash_update(TRANSCRIPT(c), msg + len, RZ_SIGNATURE_BYTES);
    len += RZ_SIGNATURE_BYTES;
    RZ_ASSERT(len == SAUTH_BYTES(id->cred_len));
    rv = out_frame(c, msg, len);
    if (rv != 0) {
        return hs_fail(c, RZ_ENOMEM, "out of memory");
    }
    set_state(c, RZ_SECURE_CAUTH);
    return 0;
}

/* Client: SERVER_AUTH arrived; verify the server and answer CLIENT_AUTH. */
static int on_server_auth(rz_secure_conn *c, const uint8_t *p, size_t n)
{
    uint8_t msg[CAUTH_BYTES(RZ_CRED_MAX_BYTES)];
    uint8_t h[HASH_BYTES];
    uint8_t kx_rx[32], kx_tx[32], key_tx[32];
    const rz_identity *id = c->cfg.id;
    size_t cred_len;
    size_t len;
    int rv;
    if (n < SAUTH_BYTES(RZ_CRED_MIN_BYTES) || p[0] != MSG_SERVER_AUTH) {
        return hs_fail(c, RZ_EMALFORMED, "the server's reply is malformed");
    }
    cred_len =
        ((size_t)p[1 + RZ_KX_PUBLIC_BYTES] << 8) | p[2 + RZ_KX_PUBLIC_BYTES];
    if (n != SAUTH_BYTES(cred_len)) {
        return hs_fail(c, RZ_EMALFORMED, "the server's reply is malformed");
    }
    rv = check_peer_cred(c, p + 3 + RZ_KX_PUBLIC_BYTES, cred_len);
    if (rv != 0) {
        return rv;
    }
    memcpy(c->peer_eph_pk, p + 1, RZ_KX_PUBLIC_BYTES);
    crypto_generichash_update(TRANSCRIPT(c), p, n - RZ_SIGNATURE_BYTES);
    transcript_peek(c, h);
    if (!verify_hash("RZ-S", h, p + n - RZ_SIGNATURE_BYTES, c->peer.pk)) {
        return hs_fail(c, RZ_EAUTH,
                       "the server's signature does not match "
                       "the handshake");
    }
    crypto_generichash_update(TRANSCRIPT(c), p + n - RZ_SIGNATURE_BYTES,
                              RZ_SIGNATURE_BYTES);

    msg[0] = MSG_CLIENT_AUTH;
    msg[1] = (uint8_t)(id->cred_len >> 8);
    msg[2] = (uint8_t)(id->cred_len & 0xffu);
    memcpy(msg + 3, id->cred_bytes, id->cred_len);
    len = 3 + id->cred_len;
    crypto_generichash_update(TRANSCRIPT(c), msg, len);
    transcript_peek(c, h);
    sign_hash(c, "RZ-C", h, msg + len);
    crypto_generichash_update(TRANSCRIPT(c), msg + len, RZ_SIGNATURE_BYTES);
    len += RZ_SIGNATURE_BYTES;
    crypto_generichash_final(TRANSCRIPT(c), h, HASH_BYTES);

    if (crypto_kx_client_session_keys(kx_rx, kx_tx, c->eph_pk, c->eph_sk,
                                      c->peer_eph_pk) != 0) {
        return hs_fail(c, RZ_EAUTH, "the server's ephemeral key is weak");
    }
    derive_keys(c, kx_rx, kx_tx, h, c->rx_key, key_tx);
    start_push(c, key_tx, msg + len);
    len += RZ_STREAM_HEADER_BYTES + RZ_STREAM_ABYTES;
    RZ_ASSERT(len == CAUTH_BYTES(id->cred_len));
    sodium_memzero(kx_rx, sizeof(kx_rx));
    sodium_memzero(kx_tx, sizeof(kx_tx));
    sodium_memzero(key_tx, sizeof(key_tx));
    sodium_memzero(c->eph_sk, sizeof(c->eph_sk));
    rv = out_frame(c, msg, len);
    if (rv != 0) {
        return hs_fail(c, RZ_ENOMEM, "out of memory");
    }
    set_state(c, RZ_SECURE_SDONE);
    return 0;
}

/* Server: CLIENT_AUTH arrived; verify the client, start both streams. */
static int on_client_auth(rz_secure_conn *c, const uint8_t *p, size_t n,
                          rz_secure_event *ev)
{
    uint8_t msg[SDONE_BYTES];
    uint8_t h[HASH_BYTES];
    uint8_t kx_rx[32], kx_tx[32], key_rx[32], key_tx[32];
    size_t cred_len;
    size_t sig_at;
    bool ok;
    int rv;
    if (n < CAUTH_BYTES(RZ_CRED_MIN_BYTES) || p[0] != MSG_CLIENT_AUTH) {
        return hs_fail(c, RZ_EMALFORMED, "the client's auth is malformed");
    }
    cred_len = ((size_t)p[1] << 8) | p[2];
    if (n != CAUTH_BYTES(cred_len)) {
        return hs_fail(c, RZ_EMALFORMED, "the client's auth is malformed");
    }
    rv = check_peer_cred(c, p + 3, cred_len);
    if (rv != 0) {
        return rv;
    }
    sig_at = 3 + cred_len;
    crypto_generichash_update(TRANSCRIPT(c), p, sig_at);
    transcript_peek(c, h);
    if (!verify_hash("RZ-C", h, p + sig_at, c->peer.pk)) {
        return hs_fail(c, RZ_EAUTH,
                       "the client's signature does not match "
                       "the handshake");
    }
    crypto_generichash_update(TRANSCRIPT(c), p + sig_at, RZ_SIGNATURE_BYTES);
    crypto_generichash_final(TRANSCRIPT(c), h, HASH_BYTES);
    if (crypto_kx_server_session_keys(kx_rx, kx_tx, c->eph_pk, c->eph_sk,
                                      c->peer_eph_pk) != 0) {
        return hs_fail(c, RZ_EAUTH, "the client's ephemeral key is weak");
    }
    derive_keys(c, kx_rx, kx_tx, h, key_rx, key_tx);
    ok = start_pull(c, key_rx, p + sig_at + RZ_SIGNATURE_BYTES);
    if (ok) {
        msg[0] = MSG_SERVER_DONE;
        start_push(c, key_tx, msg + 1);
    }
    sodium_memzero(kx_rx, sizeof(kx_rx));
    sodium_memzero(kx_tx, sizeof(kx_tx));
    sodium_memzero(key_rx, sizeof(key_rx));
    sodium_memzero(key_tx, sizeof(key_tx));
    if (!ok) {
        return hs_fail(c, RZ_EAUTH,
                       "the client's stream header or finished "
                       "message does not open");
    }
    rv = out_frame(c, msg, sizeof(msg));
    if (rv != 0) {
        return hs_fail(c, RZ_ENOMEM, "out of memory");
    }
    wipe_handshake_secrets(c);
    set_state(c, RZ_SECURE_OPEN);
    ev->type = RZ_SECURE_EV_ESTABLISHED;
    return 0;
}

/* Client: SERVER_DONE arrived. */
static int on_server_done(rz_secure_conn *c, const uint8_t *p, size_t n,
                          rz_secure_event *ev)
{
    bool ok;
    if (n != SDONE_BYTES || p[0] != MSG_SERVER_DONE) {
        return hs_fail(c, RZ_EMALFORMED, "the server's done is malformed");
    }
    ok = start_pull(c, c->rx_key, p + 1);
    if (!ok) {
        return hs_fail(c, RZ_EAUTH,
                       "the server's stream header or finished "
                       "message does not open");
    }
    wipe_handshake_secrets(c);
    set_state(c, RZ_SECURE_OPEN);
    ev->type = RZ_SECURE_EV_ESTABLISHED;
    return 0;
}

/* ---- Frames ---- */

static int on_error_frame(rz_secure_conn *c, uint8_t code)
{
    static const int errs[] = {RZ_EPROTO, RZ_EAUTH, RZ_EPROTO, RZ_ETOOBIG,
                               RZ_ETIMEDOUT};
    int err = code < RZ_ARRAY_LEN(errs) && code != 0 ? errs[code] : RZ_EPROTO;
    rz_errmsg_set(c->errmsg,
                  "the peer closed the connection with error "
                  "code %u",
                  (unsigned)code);
    return fail(c, err, 0, NULL);
}

static int on_stream_frame(rz_secure_conn *c, const uint8_t *p, size_t n,
                           rz_secure_event *ev)
{
    unsigned long long mlen = 0;
    unsigned char tag = 0;
    if (c->state == RZ_SECURE_PEER_CLOSED) {
        return fail(c, RZ_EPROTO, RZ_SECURE_ERR_STREAM,
                    "the peer sent a frame after its final frame");
    }
    /* check_length let through 2-byte frames as possible error frames. */
    if (n < RZ_STREAM_ABYTES) {
        return fail(c, RZ_EPROTO, RZ_SECURE_ERR_STREAM,
                    "a frame is too short to be authentic");
    }
    RZ_ASSERT(n - RZ_STREAM_ABYTES <= c->max_frame_bytes);
    /* Authenticates the frame and its place in the stream: a replayed,
     * reordered, truncated or altered frame fails here. */
    if (crypto_secretstream_xchacha20poly1305_pull(RX(c), c->plain, &mlen, &tag,
                                                   p, n, NULL, 0) != 0) {
        return fail(c, RZ_EPROTO, RZ_SECURE_ERR_STREAM,
                    "a frame failed authentication (altered, replayed or "
                    "out of order)");
    }
    if (tag == crypto_secretstream_xchacha20poly1305_TAG_FINAL) {
        if (mlen != 0) {
            return fail(c, RZ_EPROTO, RZ_SECURE_ERR_STREAM,
                        "the final frame carries data");
        }
        set_state(c, RZ_SECURE_PEER_CLOSED);
        ev->type = RZ_SECURE_EV_CLOSED;
        return 0;
    }
    if (tag != crypto_secretstream_xchacha20poly1305_TAG_MESSAGE &&
        tag != crypto_secretstream_xchacha20poly1305_TAG_REKEY) {
        return fail(c, RZ_EPROTO, RZ_SECURE_ERR_STREAM,
                    "a frame carries an unknown tag");
    }
    ev->type = RZ_SECURE_EV_FRAME;
    ev->data = c->plain;
    ev->len = (size_t)mlen;
    return 0;
}

/* One whole frame payload p[0..n). */
static int on_frame(rz_secure_conn *c, const uint8_t *p, size_t n,
                    rz_secure_event *ev)
{
    if (n == ERROR_BYTES && p[0] == RZ_SECURE_ERROR_TYPE) {
        return on_error_frame(c, p[1]);
    }
    switch (c->state) {
    case RZ_SECURE_HELLO:
        return on_hello(c, p, n);
    case RZ_SECURE_SAUTH:
        return on_server_auth(c, p, n);
    case RZ_SECURE_CAUTH:
        return on_client_auth(c, p, n, ev);
    case RZ_SECURE_SDONE:
        return on_server_done(c, p, n, ev);
    case RZ_SECURE_OPEN:
    case RZ_SECURE_PEER_CLOSED:
        return on_stream_frame(c, p, n, ev);
    case RZ_SECURE_FAILED:
        break;
    }
    RZ_UNREACHABLE();
}

/* Checks an announced payload length before any of it is buffered. */
static int check_length(rz_secure_conn *c, uint32_t len)
{
    if (len == ERROR_BYTES) {
        return 0;
    }
    if (in_handshake(c)) {
        if (len > RZ_SECURE_HANDSHAKE_MSG_MAX_BYTES) {
            return fail(c, RZ_ETOOBIG, RZ_SECURE_ERR_TOOBIG,
                        "a handshake message is over its size limit");
        }
        return 0;
    }
    if (len < RZ_STREAM_ABYTES) {
        return fail(c, RZ_EPROTO, RZ_SECURE_ERR_STREAM,
                    "a frame is too short to be authentic");
    }
    if (len - RZ_STREAM_ABYTES > c->max_frame_bytes) {
        return fail(c, RZ_ETOOBIG, RZ_SECURE_ERR_TOOBIG,
                    "a frame is over this listener's size limit");
    }
    return 0;
}

int rz_secure_feed(rz_secure_conn *c, const void *data, size_t n, size_t *used,
                   rz_secure_event *ev)
{
    const uint8_t *p = data;
    size_t off = 0;
    int rv = 0;
    RZ_PRE(c != NULL && used != NULL && ev != NULL && (p != NULL || n == 0));
    ev->type = RZ_SECURE_EV_NONE;
    ev->data = NULL;
    ev->len = 0;
    *used = 0;
    if (c->state == RZ_SECURE_FAILED) {
        return c->err;
    }
    /* Each round takes at least one byte or ends: bounded by n. */
    while (off < n && ev->type == RZ_SECURE_EV_NONE) {
        uint32_t len;
        size_t take;
        if (c->in.len < RZ_FRAME_HEADER_BYTES) {
            take = RZ_FRAME_HEADER_BYTES - c->in.len;
            take = take < n - off ? take : n - off;
            rz_buf_append(&c->in, p + off, take);
            off += take;
            if (c->in.err != 0) {
                rv = fail(c, RZ_ENOMEM, RZ_SECURE_ERR_STREAM, "out of memory");
                break;
            }
            if (c->in.len < RZ_FRAME_HEADER_BYTES) {
                break;
            }
            len = rz_get_be32(c->in.data);
            rv = check_length(c, len);
            if (rv != 0) {
                break;
            }
        }
        len = rz_get_be32(c->in.data);
        if (c->in.len == RZ_FRAME_HEADER_BYTES && n - off >= len) {
            /* The whole payload is in the input: no copy. */
            rz_buf_reset(&c->in);
            rv = on_frame(c, p + off, len, ev);
            off += len;
        } else {
            take = RZ_FRAME_HEADER_BYTES + len - c->in.len;
            take = take < n - off ? take : n - off;
            rz_buf_append(&c->in, p + off, take);
            off += take;
            if (c->in.err != 0) {
                rv = fail(c, RZ_ENOMEM, RZ_SECURE_ERR_STREAM, "out of memory");
                break;
            }
            if (c->in.len == RZ_FRAME_HEADER_BYTES + len) {
                rv = on_frame(c, c->in.data + RZ_FRAME_HEADER_BYTES, len, ev);
                rz_buf_reset(&c->in);
            }
        }
        if (rv != 0) {
            break;
        }
    }
    *used = off;
    RZ_POST(off <= n);
    return rv;
}

int rz_secure_eof(rz_secure_conn *c)
{
    RZ_PRE(c != NULL);
    if (c->state == RZ_SECURE_PEER_CLOSED && c->in.len == 0) {
        return 0;
    }
    return fail(c, RZ_EPROTO, RZ_SECURE_ERR_STREAM,
                "the peer closed the connection mid-stream (truncated)");
}

int rz_secure_tick(rz_secure_conn *c, uint64_t now_ms)
{
    RZ_PRE(c != NULL);
    if (c->state == RZ_SECURE_FAILED) {
        return c->err;
    }
    if (in_handshake(c) && now_ms >= c->deadline_ms) {
        return fail(c, RZ_ETIMEDOUT, RZ_SECURE_ERR_TIMEOUT,
                    "the handshake did not finish in time");
    }
    return 0;
}

/* ---- Sending ---- */

int rz_secure_seal(rz_secure_conn *c, const void *p, size_t n, bool final,
                   uint8_t *out, size_t out_size)
{
    unsigned long long clen = 0;
    unsigned char tag = crypto_secretstream_xchacha20poly1305_TAG_MESSAGE;
    int rv;
    RZ_PRE(c != NULL && out != NULL && (p != NULL || n == 0));
    if ((c->state != RZ_SECURE_OPEN && c->state != RZ_SECURE_PEER_CLOSED) ||
        c->sent_final) {
        return RZ_EPROTO;
    }
    if (n > c->max_frame_bytes) {
        return RZ_ETOOBIG;
    }
    RZ_PRE(out_size >= RZ_SECURE_FRAME_BYTES(n));
    if (final) {
        tag = crypto_secretstream_xchacha20poly1305_TAG_FINAL;
        c->sent_final = true;
    } else if (c->tx_frames_since_rekey + 1 >= RZ_SECURE_REKEY_FRAMES ||
               c->tx_bytes_since_rekey + n >= RZ_SECURE_REKEY_BYTES) {
        /* The REKEY tag makes both sides ratchet the key right after this
         * frame (libsodium does it in push and pull), so nothing else needs
         * to be agreed on. */
        tag = crypto_secretstream_xchacha20poly1305_TAG_REKEY;
        c->tx_frames_since_rekey = 0;
        c->tx_bytes_since_rekey = 0;
    } else {
        c->tx_frames_since_rekey++;
        c->tx_bytes_since_rekey += n;
    }
    rv = crypto_secretstream_xchacha20poly1305_push(
        TX(c), out + RZ_FRAME_HEADER_BYTES, &clen, p, n, NULL, 0, tag);
    RZ_ASSERT(rv == 0 && clen == n + RZ_STREAM_ABYTES);
    rz_put_be32(out, (uint32_t)clen);
    return 0;
}

int rz_secure_send(rz_secure_conn *c, const void *p, size_t n)
{
    size_t need = RZ_SECURE_FRAME_BYTES(n);
    int rv;
    RZ_PRE(c != NULL);
    if ((c->state != RZ_SECURE_OPEN && c->state != RZ_SECURE_PEER_CLOSED) ||
        c->sent_final) {
        return RZ_EPROTO;
    }
    if (n > c->max_frame_bytes) {
        return RZ_ETOOBIG;
    }
    if (c->out.len - c->out_pos + need > RZ_SECURE_WRITE_HIGH_WATER_BYTES) {
        return RZ_EBUSY;
    }
    out_compact(c);
    rv = rz_buf_reserve(&c->out, need);
    if (rv != 0) {
        c->out.err = 0;
        return rv == RZ_ETOOBIG ? RZ_EBUSY : rv;
    }
    rv = rz_secure_seal(c, p, n, false, c->out.data + c->out.len, need);
    RZ_ASSERT(rv == 0);
    c->out.len += need;
    return 0;
}

int rz_secure_close(rz_secure_conn *c)
{
    size_t need = RZ_SECURE_FRAME_BYTES(0);
    int rv;
    RZ_PRE(c != NULL);
    if ((c->state != RZ_SECURE_OPEN && c->state != RZ_SECURE_PEER_CLOSED) ||
        c->sent_final) {
        return RZ_EPROTO;
    }
    out_compact(c);
    rv = rz_buf_reserve(&c->out, need);
    if (rv != 0) {
        c->out.err = 0;
        return rv == RZ_ETOOBIG ? RZ_EBUSY : rv;
    }
    rv = rz_secure_seal(c, NULL, 0, true, c->out.data + c->out.len, need);
    RZ_ASSERT(rv == 0);
    c->out.len += need;
    return 0;
}

const uint8_t *rz_secure_out(const rz_secure_conn *c, size_t *n)
{
    RZ_PRE(c != NULL && n != NULL);
    *n = c->out.len - c->out_pos;
    return *n > 0 ? c->out.data + c->out_pos : NULL;
}

void rz_secure_out_consume(rz_secure_conn *c, size_t n)
{
    RZ_PRE(c != NULL && n <= c->out.len - c->out_pos);
    c->out_pos += n;
    if (c->out_pos == c->out.len) {
        /* Keeps the memory: the next frame reuses it. */
        c->out.len = 0;
        c->out_pos = 0;
    }
}

const rz_credential *rz_secure_peer(const rz_secure_conn *c)
{
    RZ_PRE(c != NULL);
    return c->state == RZ_SECURE_OPEN || c->state == RZ_SECURE_PEER_CLOSED
               ? &c->peer
               : NULL;
}

bool rz_secure_is_open(const rz_secure_conn *c)
{
    RZ_PRE(c != NULL);
    return c->state == RZ_SECURE_OPEN;
}

const char *rz_secure_errmsg(const rz_secure_conn *c)
{
    RZ_PRE(c != NULL);
    return c->errmsg;
}
