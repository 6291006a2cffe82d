/* The secure channel (DESIGN.md §5): cluster keys and credentials, the
 * handshake and the encrypted framing every ratusz connection uses, a libuv
 * adaptor around it and the [type, request_id, body] message envelope.
 *
 * Layers, bottom up:
 *   - credentials: a cluster Ed25519 key signs each holder's credential
 *     {public key, role, name, node id, not-after}; key files are 0600;
 *   - rz_secure_conn: a pure, I/O-free state machine. Feed it the bytes the
 *     peer sent; it returns events (established, a whole authenticated
 *     frame, clean close) and leaves the bytes to send in its output buffer.
 *     The unit tests, the fuzzers and a deterministic simulator drive it;
 *   - rz_secure_uv: a thin libuv shell (uv_stream_t reads and writes, a
 *     handshake timer, a bounded write queue, a close callback);
 *   - rz_envelope: the msgpack message envelope read from authenticated
 *     frame bytes.
 *
 * docs/protocol.md is the byte-by-byte description of the wire format; the
 * tables here are the same. sodium.h stays inside common/: libsodium state
 * lives in opaque aligned storage below. */
#ifndef RZ_SECURE_H
#define RZ_SECURE_H

#include "common/common.h"
#include "common/limits.h"

#include <uv.h>

/* ---------------------------------------------------------------------------
 * Sizes of the primitives (libsodium 1.0.18; checked by _Static_assert in
 * the sources)
 * ------------------------------------------------------------------------ */

#define RZ_SIGN_PUBLIC_BYTES 32u   /* crypto_sign_PUBLICKEYBYTES */
#define RZ_SIGN_SECRET_BYTES 64u   /* crypto_sign_SECRETKEYBYTES */
#define RZ_SIGNATURE_BYTES 64u     /* crypto_sign_BYTES */
#define RZ_KX_PUBLIC_BYTES 32u     /* crypto_kx_PUBLICKEYBYTES */
#define RZ_KX_SECRET_BYTES 32u     /* crypto_kx_SECRETKEYBYTES */
#define RZ_STREAM_HEADER_BYTES 24u /* secretstream HEADERBYTES */
#define RZ_STREAM_ABYTES 17u       /* secretstream ABYTES */
#define RZ_CLUSTER_ID_BYTES 16u

/* Version of the handshake and framing described in docs/protocol.md. */
#define RZ_SECURE_PROTO_VERSION 1u

/* ---------------------------------------------------------------------------
 * Roles and credentials
 * ------------------------------------------------------------------------ */

typedef enum rz_role {
    RZ_ROLE_NODE = 1,     /* a ratuszd peer; its credential names a node id */
    RZ_ROLE_OPERATOR = 2, /* ratuszctl: membership, snapshots, recovery */
    RZ_ROLE_AGENT = 3,    /* call-center desktop */
    RZ_ROLE_PORTAL = 4,   /* web portal and mobile back ends */
    RZ_ROLE_AUDITOR = 5   /* read-only access */
} rz_role;

#define RZ_ROLE_MIN 1
#define RZ_ROLE_MAX 5
/* Role masks for listeners: RZ_ROLE_BIT(RZ_ROLE_NODE) | ... */
#define RZ_ROLE_BIT(r) (1u << (unsigned)(r))
#define RZ_ROLES_ALL                                             \
    (RZ_ROLE_BIT(RZ_ROLE_NODE) | RZ_ROLE_BIT(RZ_ROLE_OPERATOR) | \
     RZ_ROLE_BIT(RZ_ROLE_AGENT) | RZ_ROLE_BIT(RZ_ROLE_PORTAL) |  \
     RZ_ROLE_BIT(RZ_ROLE_AUDITOR))
#define RZ_ROLES_CLIENTS (RZ_ROLES_ALL & ~RZ_ROLE_BIT(RZ_ROLE_NODE))

/* "node", "operator", ... ; NULL for anything else. */
const char *rz_role_name(int role);
/* The inverse; RZ_EINVAL for an unknown name. */
int rz_role_parse(const char *s, rz_role *out);

/* The cluster's trust anchor: its Ed25519 public key, and the cluster id
 * derived from it (first 16 bytes of BLAKE2b("ratusz/cluster-id/v1" || pk)),
 * so two clusters never share an id by accident. */
typedef struct rz_cluster_pub
{
    uint8_t pk[RZ_SIGN_PUBLIC_BYTES];
    uint8_t id[RZ_CLUSTER_ID_BYTES];
} rz_cluster_pub;

/* The cluster key, held by operators offline. Caller-allocated; wipe it with
 * rz_cluster_key_wipe when done. */
typedef struct rz_cluster_key
{
    rz_cluster_pub pub;
    uint8_t sk[RZ_SIGN_SECRET_BYTES];
} rz_cluster_key;

/* A fresh random cluster key. */
void rz_cluster_key_generate(rz_cluster_key *key);
/* Overwrites the secret with zeros. */
void rz_cluster_key_wipe(rz_cluster_key *key);
/* Fills pub (id included) from a cluster public key. */
void rz_cluster_pub_from_pk(rz_cluster_pub *pub,
                            const uint8_t pk[RZ_SIGN_PUBLIC_BYTES]);

/* A credential, decoded. Wire format (all integers big-endian):
 *
 *   off   len  field
 *   0     1    format version = 1
 *   1     16   cluster id
 *   17    32   holder's Ed25519 public key
 *   49    1    role (1..5, rz_role)
 *   50    8    node id (u64; non-zero for role node, 0 for every other role)
 *   58    8    not_after_ms (u64, Unix ms; invalid after this instant)
 *   66    1    name length n (1..RZ_CRED_NAME_MAX_BYTES)
 *   67    n    name (UTF-8, no control characters)
 *   67+n  64   Ed25519 signature by the cluster key over
 *              "ratusz/credential/v1" || bytes[0 .. 67+n)
 *
 * The signature is checked over the raw bytes before any field is trusted.
 */
typedef struct rz_credential
{
    uint8_t cluster_id[RZ_CLUSTER_ID_BYTES];
    uint8_t pk[RZ_SIGN_PUBLIC_BYTES];
    rz_role role;
    uint64_t node_id;
    uint64_t not_after_ms;
    char name[RZ_CRED_NAME_MAX_BYTES + 1]; /* NUL-terminated */
    uint8_t sig[RZ_SIGNATURE_BYTES];
} rz_credential;

#define RZ_CRED_FIXED_BYTES 67u
#define RZ_CRED_MIN_BYTES (RZ_CRED_FIXED_BYTES + 1u + RZ_SIGNATURE_BYTES)
#define RZ_CRED_MAX_BYTES \
    (RZ_CRED_FIXED_BYTES + RZ_CRED_NAME_MAX_BYTES + RZ_SIGNATURE_BYTES)

/* Issues a credential for `pk`: fills *out and signs it with the cluster
 * key. RZ_EINVAL (with a sentence in errmsg, may be NULL) for a bad role, a
 * node id that does not match the role, or a name that is empty, too long,
 * not UTF-8 or has control characters. */
int rz_cred_issue(const rz_cluster_key *key,
                  const uint8_t pk[RZ_SIGN_PUBLIC_BYTES], rz_role role,
                  const char *name, uint64_t node_id, uint64_t not_after_ms,
                  rz_credential *out, char *errmsg);

/* Encodes a signed credential into out[0..out_size); *len gets its size.
 * RZ_ETOOBIG when out_size < RZ_CRED_MAX_BYTES would not hold it. */
int rz_cred_encode(const rz_credential *cred, uint8_t *out, size_t out_size,
                   size_t *len);

/* Verifies p[0..n) as a credential of `cluster` valid at now_ms and decodes
 * it into *out. The signature is checked over the raw bytes first.
 * RZ_EMALFORMED (bad layout or field), RZ_EAUTH (another cluster or a bad
 * signature), RZ_EEXPIRED (now_ms > not_after_ms). *out is written only on
 * success. */
int rz_cred_verify(const rz_cluster_pub *cluster, const void *p, size_t n,
                   uint64_t now_ms, rz_credential *out);

/* What a node or client holds: the cluster's public key, its credential (and
 * the credential's encoding, sent in handshakes) and its own secret key.
 * Caller-allocated; wipe with rz_identity_wipe. */
typedef struct rz_identity
{
    rz_cluster_pub cluster;
    rz_credential cred;
    uint8_t cred_bytes[RZ_CRED_MAX_BYTES];
    size_t cred_len;
    uint8_t sk[RZ_SIGN_SECRET_BYTES];
} rz_identity;

/* Creates a fresh key pair for a holder and issues its credential with the
 * cluster key (errors as rz_cred_issue). */
int rz_identity_issue(const rz_cluster_key *key, rz_role role, const char *name,
                      uint64_t node_id, uint64_t not_after_ms, rz_identity *out,
                      char *errmsg);
void rz_identity_wipe(rz_identity *id);

/* ---------------------------------------------------------------------------
 * Key files
 *
 * Text files, one "key value" per line, values in standard base64:
 *
 *   cluster key file                 identity file
 *   ratusz-cluster-key v1            ratusz-identity v1
 *   secret <64-byte Ed25519 sk>      cluster <32-byte cluster public key>
 *                                    credential <credential bytes>
 *                                    secret <64-byte Ed25519 sk>
 *
 * Both hold secrets: they are created with mode 0600 (never overwriting an
 * existing file: RZ_EEXISTS) and refused when group or others have any
 * permission, with an errmsg naming the file and the chmod to run. Reading
 * an identity also checks that the credential is signed by the cluster key
 * in the file and matches the secret key (expiry is checked by handshakes,
 * against the clock of the moment). errmsg (RZ_ERRMSG_BYTES, may be NULL)
 * gets a sentence on failure.
 * ------------------------------------------------------------------------ */

int rz_cluster_key_write(const char *path, const rz_cluster_key *key,
                         char *errmsg);
int rz_cluster_key_read(const char *path, rz_cluster_key *out, char *errmsg);
int rz_identity_write(const char *path, const rz_identity *id, char *errmsg);
int rz_identity_read(const char *path, rz_identity *out, char *errmsg);

/* ---------------------------------------------------------------------------
 * The connection state machine (pure: no I/O, no clock, no allocation after
 * init except the bounded buffers)
 *
 * Every byte on a connection is part of a frame: u32 length (big-endian) |
 * payload. The handshake (4 plaintext frames) establishes one
 * crypto_secretstream_xchacha20poly1305 state per direction; after it each
 * frame's payload is one secretstream message. A plaintext error frame is
 * the 2-byte payload {0xEE, code}: it cannot be confused with a handshake
 * message (>= 42 bytes) or a secretstream message (>= 17 bytes).
 *
 *   C -> S  HELLO        01 | version | cluster id (16) | client eph (32)
 *   S -> C  SERVER_AUTH  02 | server eph (32) | u16 n | credential (n) |
 *                        signature (64) over "RZ-S" || h_s
 *   C -> S  CLIENT_AUTH  03 | u16 n | credential (n) | signature (64) over
 *                        "RZ-C" || h_c | stream header (24) | finished (17)
 *   S -> C  SERVER_DONE  04 | stream header (24) | finished (17)
 *
 * h_s and h_c are BLAKE2b-512 transcript hashes (docs/protocol.md has their
 * exact inputs); the session keys are the crypto_kx keys mixed with the
 * final transcript hash; "finished" is an empty secretstream message that
 * proves each side derived the same key and received the header intact.
 * ------------------------------------------------------------------------ */

/* Plaintext error codes: a fixed, small set, so a failure tells the peer
 * nothing that helps an attacker (the detail stays in the local errmsg). */
typedef enum rz_secure_errcode {
    RZ_SECURE_ERR_HANDSHAKE = 1, /* any handshake failure -> RZ_EAUTH */
    RZ_SECURE_ERR_STREAM = 2,    /* bad, replayed, reordered frame ->
                                    RZ_EPROTO */
    RZ_SECURE_ERR_TOOBIG = 3,    /* frame over the limit -> RZ_ETOOBIG */
    RZ_SECURE_ERR_TIMEOUT = 4    /* handshake too slow -> RZ_ETIMEDOUT */
} rz_secure_errcode;

#define RZ_SECURE_ERROR_TYPE 0xEEu
#define RZ_SECURE_ERROR_FRAME_BYTES 6u /* 00 00 00 02 EE code */

/* Everything wire-visible is a frame header plus a payload. */
#define RZ_FRAME_HEADER_BYTES 4u
/* Bytes a sealed frame with n bytes of payload takes on the wire. */
#define RZ_SECURE_FRAME_BYTES(n) \
    ((size_t)RZ_FRAME_HEADER_BYTES + RZ_STREAM_ABYTES + (size_t)(n))

/* Policy hook, on either side: called with the peer's credential once it is
 * verified (cluster, signature, expiry, role); return 0 to accept it or
 * RZ_EDENIED. A listener may restrict names; a node dialing peer 3 checks
 * that the credential names node id 3. */
typedef int (*rz_secure_policy_fn)(void *data, const rz_credential *peer);

/* Draws n random bytes for an ephemeral key seed. Tests and the simulator
 * pass a seeded one for reproducible handshakes. */
typedef void (*rz_secure_random_fn)(void *data, void *p, size_t n);

typedef struct rz_secure_config
{
    const rz_identity *id; /* borrowed; must outlive every conn using it */
    /* Roles the peer may have (RZ_ROLE_BIT mask). A listener on the raft port
     * allows only RZ_ROLE_BIT(RZ_ROLE_NODE); a client expects a node. */
    uint32_t allowed_roles;
    /* Largest frame payload (plaintext bytes) accepted and sent, <=
     * RZ_PEER_FRAME_MAX_BYTES; 0 means RZ_FRAME_MAX_BYTES. */
    uint32_t max_frame_bytes;
    /* Time the handshake may take, from init; 0 means
     * RZ_SECURE_HANDSHAKE_TIMEOUT_MS. */
    uint64_t handshake_timeout_ms;
    rz_secure_policy_fn policy; /* optional */
    void *policy_data;
    rz_secure_random_fn random; /* optional; NULL: libsodium's CSPRNG */
    void *random_data;
} rz_secure_config;

typedef enum rz_secure_state {
    RZ_SECURE_HELLO = 1,   /* server: waiting for HELLO */
    RZ_SECURE_SAUTH,       /* client: waiting for SERVER_AUTH */
    RZ_SECURE_CAUTH,       /* server: waiting for CLIENT_AUTH */
    RZ_SECURE_SDONE,       /* client: waiting for SERVER_DONE */
    RZ_SECURE_OPEN,        /* established */
    RZ_SECURE_PEER_CLOSED, /* the peer's final frame arrived */
    RZ_SECURE_FAILED       /* failed: only the error frame leaves */
} rz_secure_state;

typedef enum rz_secure_event_type {
    RZ_SECURE_EV_NONE = 0,    /* input used up; feed more */
    RZ_SECURE_EV_ESTABLISHED, /* handshake done; peer credential known */
    RZ_SECURE_EV_FRAME,       /* one authenticated frame in ev->data */
    RZ_SECURE_EV_CLOSED       /* the peer closed cleanly (final tag) */
} rz_secure_event_type;

typedef struct rz_secure_event
{
    rz_secure_event_type type;
    const uint8_t *data; /* FRAME: the payload, valid until the next call on
                            the conn */
    size_t len;
} rz_secure_event;

/* One connection. Caller-allocated; the fields are private. */
typedef struct rz_secure_conn
{
    rz_secure_config cfg;
    bool is_client;
    rz_secure_state state;
    int err;         /* the error that failed the conn, 0 if none */
    bool sent_final; /* our final frame is in `out` */
    uint64_t deadline_ms;
    uint64_t wall_ms;
    uint32_t max_frame_bytes;
    rz_buf in;      /* partial frame being received */
    rz_buf out;     /* bytes to send (handshake frames, error frame, sends) */
    size_t out_pos; /* out.data[0..out_pos) were already handed over */
    uint8_t *plain; /* RZ_SECURE_FRAME payload buffer, max_frame_bytes */
    rz_credential peer;
    uint8_t eph_pk[RZ_KX_PUBLIC_BYTES];
    uint8_t eph_sk[RZ_KX_SECRET_BYTES];
    uint8_t peer_eph_pk[RZ_KX_PUBLIC_BYTES];
    uint8_t rx_key[32]; /* client: until SERVER_DONE brings the header */
    uint64_t tx_frames_since_rekey;
    uint64_t tx_bytes_since_rekey;
    _Alignas(64) uint8_t transcript[384]; /* crypto_generichash_state */
    _Alignas(16) uint8_t tx[64];          /* secretstream push state */
    _Alignas(16) uint8_t rx[64];          /* secretstream pull state */
    char errmsg[RZ_ERRMSG_BYTES];         /* local detail of a failure */
} rz_secure_conn;

/* Starts a connection at time now_ms (any monotonic clock; the same one must
 * be given to rz_secure_tick). wall_ms is the wall clock (Unix ms) the peer's
 * credential expiry is checked against: the handshake is bounded to a few
 * seconds, so its start is the moment that counts. A client puts its HELLO
 * in the output at once. `cfg` is copied; cfg->id is borrowed. RZ_EINVAL for
 * a bad config, RZ_ENOMEM. On success the conn must be closed with
 * rz_secure_conn_close. */
int rz_secure_conn_init(rz_secure_conn *c, const rz_secure_config *cfg,
                        bool is_client, uint64_t now_ms, uint64_t wall_ms);
/* Frees the buffers and wipes the keys. */
void rz_secure_conn_close(rz_secure_conn *c);

/* Processes bytes the peer sent, up to the first event. *used gets the
 * number of bytes taken (the rest must be fed again), *ev the event
 * (RZ_SECURE_EV_NONE when all bytes were taken without one). Returns 0, or a
 * negative RZ_E* when the connection failed: from then on every call returns
 * that error, the output holds the one plaintext error frame (unless the
 * failure was an error frame from the peer), and the caller sends it and
 * closes the connection. */
int rz_secure_feed(rz_secure_conn *c, const void *p, size_t n, size_t *used,
                   rz_secure_event *ev);

/* The peer closed its side (EOF). 0 if it had sent its final frame,
 * otherwise the stream was truncated: the conn fails with RZ_EPROTO. */
int rz_secure_eof(rz_secure_conn *c);

/* The clock advanced: fails the conn with RZ_ETIMEDOUT when the handshake is
 * not done by its deadline. */
int rz_secure_tick(rz_secure_conn *c, uint64_t now_ms);

/* Fails the conn with `err` from outside (e.g. the application's own
 * limit): the output gets the error frame for `code`. */
void rz_secure_fail(rz_secure_conn *c, int err, rz_secure_errcode code);

/* Seals p[0..n) as one frame into out[0..out_size), which must hold
 * RZ_SECURE_FRAME_BYTES(n). `final` marks the last frame (clean close;
 * nothing may be sealed after it). Every RZ_SECURE_REKEY_FRAMES frames or
 * RZ_SECURE_REKEY_BYTES bytes the frame carries the REKEY tag instead.
 * RZ_EPROTO before the handshake is done or after a final frame or failure,
 * RZ_ETOOBIG over max_frame_bytes. */
int rz_secure_seal(rz_secure_conn *c, const void *p, size_t n, bool final,
                   uint8_t *out, size_t out_size);
/* rz_secure_seal into the conn's output buffer. */
int rz_secure_send(rz_secure_conn *c, const void *p, size_t n);
/* Queues the final frame (empty payload, FINAL tag). */
int rz_secure_close(rz_secure_conn *c);

/* The bytes waiting to be sent (valid until the next call on the conn) and
 * how to drop the first n of them once they are handed to the transport. */
const uint8_t *rz_secure_out(const rz_secure_conn *c, size_t *n);
void rz_secure_out_consume(rz_secure_conn *c, size_t n);

/* The verified peer credential; NULL until established. */
const rz_credential *rz_secure_peer(const rz_secure_conn *c);
bool rz_secure_is_open(const rz_secure_conn *c);
/* Local detail of the failure (never sent to the peer); "" if none. */
const char *rz_secure_errmsg(const rz_secure_conn *c);

/* ---------------------------------------------------------------------------
 * libuv adaptor
 *
 * Wraps a connected uv_stream_t (an accepted or connected TCP handle): reads
 * bytes into the state machine, calls back with whole authenticated frames,
 * writes sealed frames through a bounded queue, and drops the connection
 * when the handshake misses its deadline. The adaptor takes over the stream:
 * it closes it, and calls `closed` once after every handle it uses is
 * closed; only then may the caller free the rz_secure_uv and the stream.
 * If init returns an error no callback runs and the stream is untouched.
 * ------------------------------------------------------------------------ */

typedef struct rz_secure_uv rz_secure_uv;

typedef struct rz_secure_uv_cbs
{
    /* The handshake finished; rz_secure_peer(&s->conn) is the peer. */
    void (*established)(rz_secure_uv *s);
    /* One authenticated frame; p is valid during the call only. */
    void (*frame)(rz_secure_uv *s, const uint8_t *p, size_t n);
    /* The write queue drained below its low-water mark after a send
     * returned RZ_EBUSY. Optional. */
    void (*writable)(rz_secure_uv *s);
    /* The connection is gone: status 0 after a clean close by either side,
     * or the RZ_E* error that ended it, with the local detail (never sent
     * to the peer; for the log) in s->errmsg. Called exactly once. */
    void (*closed)(rz_secure_uv *s, int status);
} rz_secure_uv_cbs;

struct rz_secure_uv
{
    void *data; /* the caller's */
    rz_secure_conn conn;
    uv_loop_t *loop;
    uv_stream_t *stream; /* borrowed memory; the adaptor closes the handle */
    uv_timer_t timer;
    rz_secure_uv_cbs cbs;
    size_t queued_bytes;     /* written but not yet completed */
    size_t high_water_bytes; /* sends fail with RZ_EBUSY past this */
    bool want_writable;      /* a send was refused; call writable later */
    bool paused;
    bool reading;
    bool in_callback;   /* delivering events: closing waits for the unwind */
    bool shutting_down; /* our final frame is sent; waiting for the peer's */
    bool closing;
    bool linger;          /* closing waits for the queue to drain */
    bool handles_closing; /* uv_close was called on the handles */
    int close_status;
    int handles_open;
    char errmsg[RZ_ERRMSG_BYTES]; /* why it failed; set before `closed` */
    uint8_t *rbuf;                /* RZ_SECURE_READ_CHUNK_BYTES */
    size_t rpos;                  /* unprocessed bytes rbuf[rpos..rlen) */
    size_t rlen;
};

/* Starts the handshake on `stream` (connected, not reading). cfg as for
 * rz_secure_conn_init; high_water_bytes 0 means
 * RZ_SECURE_WRITE_HIGH_WATER_BYTES and must hold a largest frame. */
int rz_secure_uv_init(uv_loop_t *loop, rz_secure_uv *s, uv_stream_t *stream,
                      const rz_secure_config *cfg, bool is_client,
                      size_t high_water_bytes, const rz_secure_uv_cbs *cbs);

/* Seals and queues one frame. RZ_EBUSY when the queue is at its high-water
 * mark (nothing queued; `writable` fires once it drains), RZ_EPROTO before
 * established or after closing, RZ_ETOOBIG, RZ_ENOMEM. */
int rz_secure_uv_send(rz_secure_uv *s, const void *p, size_t n);

/* Stops and restarts delivering frames (and reading from the socket): how a
 * busy receiver pushes back on its peer. */
void rz_secure_uv_pause(rz_secure_uv *s);
void rz_secure_uv_resume(rz_secure_uv *s);

/* Clean close: sends the final frame and goes on delivering the peer's
 * frames until the peer's final frame arrives (or RZ_SECURE_LINGER_MS
 * passes), then closes once the queue drained; `closed` gets 0. Before the
 * handshake is done it closes at once with RZ_ECANCELED. Idempotent. */
void rz_secure_uv_shutdown(rz_secure_uv *s);

/* Immediate close with `err` (queued frames are dropped); `closed` gets err.
 */
void rz_secure_uv_abort(rz_secure_uv *s, int err);

/* ---------------------------------------------------------------------------
 * Message envelope: the msgpack array [type, request_id, body] carried in
 * each frame (decoded only from authenticated frame bytes).
 *
 *   type        positive integer (u32), the message kind (docs/protocol.md)
 *   request_id  bin 16: client-chosen, echoed in the reply (DESIGN.md §3)
 *   body        any one msgpack value, decoded by the message's owner
 * ------------------------------------------------------------------------ */

typedef struct rz_envelope
{
    uint32_t type;
    uint8_t request_id[RZ_REQUEST_ID_BYTES];
    const uint8_t *body; /* points into the decoded frame */
    size_t body_len;     /* > 0: exactly one msgpack value */
} rz_envelope;

/* Appends the envelope to b; body[0..body_len) must be one encoded msgpack
 * value (appended verbatim). Errors are sticky in b->err. */
void rz_envelope_encode(rz_buf *b, uint32_t type,
                        const uint8_t request_id[RZ_REQUEST_ID_BYTES],
                        const void *body, size_t body_len);

/* Decodes p[0..n) (one whole frame) under `lim` (NULL = defaults).
 * RZ_EMALFORMED for anything but exactly one such array; *out only on
 * success, its body borrowed from p. */
int rz_envelope_decode(const void *p, size_t n, const rz_mp_limits *lim,
                       rz_envelope *out);

#endif /* RZ_SECURE_H */
