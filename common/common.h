/* common: the leaf code every ratusz module shares — error codes, always-on
 * assertions, byte buffers and the bounded msgpack codec.
 *
 * This is the public header of common/ for everything but limits
 * (common/limits.h) and the secure channel (common/secure.h). msgpack.h is
 * included only by common/; other modules encode and decode through the
 * rz_mp_* functions below. */
#ifndef RZ_COMMON_H
#define RZ_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---------------------------------------------------------------------------
 * Errors
 *
 * Functions return int: 0 on success, a negative RZ_E* code on failure. The
 * numeric values travel on the wire and in stored results, so they never
 * change; new codes are appended. Each message is a sentence a user can act
 * on.
 * ------------------------------------------------------------------------ */

#define RZ_ERRORS(X)                                                         \
    X(RZ_ENOMEM, -1, "out of memory")                                        \
    X(RZ_EINVAL, -2, "invalid argument")                                     \
    X(RZ_EMALFORMED, -3,                                                     \
      "malformed input: the bytes do not form a valid "                      \
      "message")                                                             \
    X(RZ_ECORRUPT, -4,                                                       \
      "stored data is corrupt: restore this node from a "                    \
      "healthy replica or a backup")                                         \
    X(RZ_ETOOBIG, -5, "a value exceeds its size limit")                      \
    X(RZ_ENOTFOUND, -6, "not found")                                         \
    X(RZ_EEXISTS, -7, "already exists")                                      \
    X(RZ_EIO, -8, "input/output error: check the disk and the logs")         \
    X(RZ_ENOSPACE, -9,                                                       \
      "out of disk space: free space or grow the map size, "                 \
      "then retry")                                                          \
    X(RZ_EBADSTATUS, -10,                                                    \
      "that status change is not allowed from the "                          \
      "case's current status")                                               \
    X(RZ_EVERSION, -11,                                                      \
      "the case changed since you read it: read it again "                   \
      "and retry with the new version")                                      \
    X(RZ_ENOTLEADER, -12,                                                    \
      "this node is not the leader: send the request "                       \
      "to the leader")                                                       \
    X(RZ_ELEADERSHIPLOST, -13,                                               \
      "leadership was lost before the outcome was "                          \
      "known: the request may or may not have "                              \
      "taken effect; retry with the same request id")                        \
    X(RZ_ETIMEDOUT, -14,                                                     \
      "the request timed out: retry with the same "                          \
      "request id")                                                          \
    X(RZ_EAUTH, -15, "authentication failed")                                \
    X(RZ_EDENIED, -16,                                                       \
      "permission denied: your credential's role may not "                   \
      "do this")                                                             \
    X(RZ_EEXPIRED, -17, "the credential has expired: issue a new one")       \
    X(RZ_ECLOSED, -18, "the connection is closed")                           \
    X(RZ_EPROTO, -19, "protocol error: the peer sent an unexpected message") \
    X(RZ_EBUSY, -20, "busy: too many requests in flight, retry later")       \
    X(RZ_ESHUTDOWN, -21, "the node is shutting down")                        \
    X(RZ_EUNAVAILABLE, -22,                                                  \
      "no leader is reachable: the cluster has no "                          \
      "quorum right now; retry later")                                       \
    X(RZ_ECANCELED, -23, "the operation was canceled")                       \
    X(RZ_ESTALE, -24,                                                        \
      "this replica cannot prove it is within the requested "                \
      "staleness bound")                                                     \
    X(RZ_ENOCASE, -25, "no case with that id")                               \
    X(RZ_ENOSERVICE, -26, "no service with that code in the catalog")        \
    X(RZ_ENOUNIT, -27, "no unit with that id in the catalog")                \
    X(RZ_ENODISTRICT, -28, "no district with that code in the catalog")      \
    X(RZ_ENOREPORTER, -29, "no reporter with that id")                       \
    X(RZ_EMERGED, -30, "the case was merged into another case")              \
    X(RZ_EPERM, -31, "operation not permitted")                              \
    X(RZ_ECONFIG, -32, "invalid configuration")                              \
    X(RZ_EQUORUM, -33,                                                       \
      "that change would leave the cluster without a "                       \
      "quorum of live voters")                                               \
    X(RZ_EUTF8, -34, "text is not valid UTF-8")                              \
    X(RZ_EREUSED, -35,                                                       \
      "that request_id was already used for a different request: use a "     \
      "fresh request_id for a new request")

enum {
    RZ_OK = 0,
#define RZ__ERR_ENUM(name, value, msg) name = (value),
    RZ_ERRORS(RZ__ERR_ENUM)
#undef RZ__ERR_ENUM
        RZ__ELAST = -36
};

/* A static sentence for an RZ_E* code (or "unknown error" for anything
 * else). Never NULL; owned by the library. */
const char *rz_strerror(int err);

/* The symbolic name ("RZ_ENOCASE") of a code, for logs and JSON; "RZ_OK" for
 * 0 and "RZ_EUNKNOWN" for codes not in the table. */
const char *rz_errname(int err);

/* Size of the errmsg buffer on objects that can fail with context. */
#define RZ_ERRMSG_BYTES 256

/* printf-style formatting into an errmsg buffer of RZ_ERRMSG_BYTES bytes;
 * always NUL-terminates. */
void rz_errmsg_set(char *errmsg, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* ---------------------------------------------------------------------------
 * Assertions — always on, release builds included (STYLE.md habit 6). A
 * replica that carries on after a broken invariant spreads the damage, so a
 * failed assertion prints where and why and aborts. Never use them on input
 * from the network or the disk: validate that and return an error.
 * ------------------------------------------------------------------------ */

_Noreturn void rz_assert_fail(const char *expr, const char *file, int line,
                              const char *func);

#define RZ_ASSERT(cond)                                          \
    do {                                                         \
        if (__builtin_expect(!(cond), 0)) {                      \
            rz_assert_fail(#cond, __FILE__, __LINE__, __func__); \
        }                                                        \
    } while (0)
/* A precondition on the arguments of a function. */
#define RZ_PRE(cond) RZ_ASSERT(cond)
/* A postcondition on what a function produced. */
#define RZ_POST(cond) RZ_ASSERT(cond)
#define RZ_UNREACHABLE() \
    rz_assert_fail("unreachable", __FILE__, __LINE__, __func__)

#define RZ_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ---------------------------------------------------------------------------
 * Byte buffers
 *
 * A growable buffer with a hard cap. Appends that would pass the cap, or fail
 * to allocate, set a sticky error and are dropped, so an encoder can write a
 * whole message and check once at the end.
 * ------------------------------------------------------------------------ */

typedef struct rz_buf
{
    uint8_t *data;    /* heap, owned by the buffer; NULL while empty */
    size_t len;       /* bytes written */
    size_t cap;       /* bytes allocated */
    size_t max_bytes; /* hard cap on len */
    int err;          /* sticky: first error seen, 0 if none */
} rz_buf;

/* Caller allocates `b`; the buffer holds at most max_bytes (> 0). */
void rz_buf_init(rz_buf *b, size_t max_bytes);
/* Frees the data; `b` may be initialised again. */
void rz_buf_close(rz_buf *b);
/* Forgets the contents and the sticky error but keeps the memory. */
void rz_buf_reset(rz_buf *b);
/* Makes room for n more bytes. RZ_ETOOBIG past max_bytes, RZ_ENOMEM. */
int rz_buf_reserve(rz_buf *b, size_t n);
/* Appends n bytes from p (may be NULL when n is 0). */
int rz_buf_append(rz_buf *b, const void *p, size_t n);
/* Hands the data to the caller (free with free()) and empties `b`. */
uint8_t *rz_buf_take(rz_buf *b, size_t *len);

/* ---------------------------------------------------------------------------
 * msgpack encoding (appends to an rz_buf; errors are sticky in b->err)
 * ------------------------------------------------------------------------ */

void rz_mp_put_nil(rz_buf *b);
void rz_mp_put_bool(rz_buf *b, bool v);
void rz_mp_put_uint(rz_buf *b, uint64_t v);
void rz_mp_put_int(rz_buf *b, int64_t v);
void rz_mp_put_double(rz_buf *b, double v);
void rz_mp_put_str(rz_buf *b, const char *s, size_t len);
/* A NUL-terminated string; NULL is encoded as nil. */
void rz_mp_put_cstr(rz_buf *b, const char *s);
void rz_mp_put_bin(rz_buf *b, const void *p, size_t len);
void rz_mp_put_array(rz_buf *b, uint32_t n);
void rz_mp_put_map(rz_buf *b, uint32_t n);
/* Appends already-encoded msgpack bytes verbatim. */
void rz_mp_put_raw(rz_buf *b, const void *p, size_t len);

/* ---------------------------------------------------------------------------
 * msgpack decoding
 *
 * Decoding has two steps. rz_mp_validate() walks a whole frame without
 * recursion and checks it against explicit limits: nesting depth, string and
 * binary sizes, element counts — each announced count checked against the
 * bytes actually left (every element takes at least one byte) — and that the
 * frame holds exactly the expected number of top-level objects with no
 * trailing bytes. Then an rz_mp_dec cursor reads the values in order. The
 * cursor is bounds-checked on its own too, so reading unvalidated bytes is
 * safe, only less precise in its errors. Errors are sticky in d->err.
 *
 * Decoded strings and binaries point into the input buffer: they stay valid
 * as long as the caller keeps that buffer.
 * ------------------------------------------------------------------------ */

typedef struct rz_mp_limits
{
    uint32_t max_depth;     /* nesting of arrays and maps */
    uint32_t max_str_bytes; /* one str, bin or ext value */
    uint32_t max_items;     /* elements of one array, or pairs of one map */
} rz_mp_limits;

/* The default limits of common/limits.h. */
extern const rz_mp_limits rz_mp_default_limits;

/* Checks that data[0..len) holds exactly n_objects msgpack objects within
 * `lim` (NULL = defaults). 0 or RZ_EMALFORMED. Never reads past len. */
int rz_mp_validate(const void *data, size_t len, uint32_t n_objects,
                   const rz_mp_limits *lim);

typedef enum rz_mp_type {
    RZ_MP_NONE = 0, /* end of input or error */
    RZ_MP_NIL,
    RZ_MP_BOOL,
    RZ_MP_UINT,
    RZ_MP_INT, /* negative integers only */
    RZ_MP_FLOAT,
    RZ_MP_STR,
    RZ_MP_BIN,
    RZ_MP_ARRAY,
    RZ_MP_MAP,
    RZ_MP_EXT
} rz_mp_type;

typedef struct rz_mp_dec
{
    const uint8_t *p;   /* next byte to read; borrowed */
    const uint8_t *end; /* one past the last byte */
    int err;            /* sticky: RZ_EMALFORMED once anything was wrong */
} rz_mp_dec;

void rz_mp_dec_init(rz_mp_dec *d, const void *data, size_t len);
/* Type of the next value without consuming it (RZ_MP_NONE at the end or
 * after an error). */
rz_mp_type rz_mp_peek(const rz_mp_dec *d);
/* True when every byte was consumed and no error occurred. */
bool rz_mp_done(const rz_mp_dec *d);
/* Each getter consumes one value of exactly its type, or sets d->err and
 * returns RZ_EMALFORMED (leaving *out untouched). Integer getters accept any
 * msgpack integer encoding whose value fits the output type. */
int rz_mp_get_nil(rz_mp_dec *d);
/* Consumes a nil and returns true, or consumes nothing and returns false. */
bool rz_mp_try_nil(rz_mp_dec *d);
int rz_mp_get_bool(rz_mp_dec *d, bool *out);
int rz_mp_get_u64(rz_mp_dec *d, uint64_t *out);
int rz_mp_get_u32(rz_mp_dec *d, uint32_t *out);
int rz_mp_get_u8(rz_mp_dec *d, uint8_t *out);
int rz_mp_get_i64(rz_mp_dec *d, int64_t *out);
int rz_mp_get_double(rz_mp_dec *d, double *out);
/* A str of at most max_len bytes; *s points into the input (not
 * NUL-terminated). */
int rz_mp_get_str(rz_mp_dec *d, const char **s, uint32_t *len,
                  uint32_t max_len);
/* A str copied into out[0..out_size) and NUL-terminated; RZ_ETOOBIG (sticky
 * as RZ_EMALFORMED) when it does not fit. */
int rz_mp_get_cstr(rz_mp_dec *d, char *out, size_t out_size);
int rz_mp_get_bin(rz_mp_dec *d, const uint8_t **p, uint32_t *len,
                  uint32_t max_len);
/* A bin of exactly len bytes copied into out. */
int rz_mp_get_bin_exact(rz_mp_dec *d, void *out, uint32_t len);
int rz_mp_get_array(rz_mp_dec *d, uint32_t *n);
int rz_mp_get_map(rz_mp_dec *d, uint32_t *n);
/* Skips one whole value, containers included (iteratively, depth-bounded). */
int rz_mp_skip(rz_mp_dec *d);
/* Bytes of the next whole value without consuming it: for copying a nested
 * value verbatim. */
int rz_mp_next_raw(const rz_mp_dec *d, const uint8_t **p, size_t *len);

/* ---------------------------------------------------------------------------
 * Hashing and randomness (libsodium underneath)
 * ------------------------------------------------------------------------ */

/* Must be called once before the functions below and before the secure
 * channel; idempotent and thread-safe. RZ_EIO if libsodium cannot start. */
int rz_crypto_init(void);

/* Keyless BLAKE2b of p[0..n) into out[0..out_bytes), out_bytes in 16..64.
 * Deterministic across machines: usable for state checksums. */
void rz_hash(const void *p, size_t n, uint8_t *out, size_t out_bytes);

/* Streaming BLAKE2b: init, update any number of times, final. The state is
 * caller-allocated and opaque (aligned storage for libsodium's state). */
typedef struct rz_hash_state
{
    _Alignas(64) uint8_t opaque[384];
} rz_hash_state;
void rz_hash_init(rz_hash_state *st, size_t out_bytes);
void rz_hash_update(rz_hash_state *st, const void *p, size_t n);
void rz_hash_final(rz_hash_state *st, uint8_t *out, size_t out_bytes);

/* First 8 bytes of rz_hash as a big-endian integer. */
uint64_t rz_hash64(const void *p, size_t n);

/* Cryptographically random bytes (request ids, keys, nonces). */
void rz_random_bytes(void *p, size_t n);
/* Uniform random integer in [0, upper) (upper > 0). */
uint32_t rz_random_uniform(uint32_t upper);

/* ---------------------------------------------------------------------------
 * Logging: logfmt lines on stderr (DESIGN.md §7)
 *
 *   ts=2026-11-28T06:30:00.123Z level=info node=1 msg="became leader" term=4
 *
 * Never log personal data (names, phone numbers, addresses, descriptions):
 * log ids. Each line is written with one write(2), so lines from threads do
 * not interleave.
 * ------------------------------------------------------------------------ */

typedef enum rz_log_level {
    RZ_LOG_DEBUG = 0,
    RZ_LOG_INFO = 1,
    RZ_LOG_WARN = 2,
    RZ_LOG_ERROR = 3
} rz_log_level;

/* Lines below `level` are dropped. Default RZ_LOG_INFO. */
void rz_log_set_level(rz_log_level level);
/* Parses "debug", "info", "warn", "error"; RZ_EINVAL otherwise. */
int rz_log_level_parse(const char *s, rz_log_level *out);
/* key=value pairs put on every line after the level (e.g. "node=2"); copied;
 * NULL clears. */
void rz_log_set_context(const char *kv);
/* One line: msg is quoted; fmt (may be NULL) formats further key=value
 * pairs, already in logfmt. Use rz_log_quote for free text values. */
void rz_log(rz_log_level level, const char *msg, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Quotes s for logfmt into out[0..out_size) (always NUL-terminated,
 * truncated if needed) and returns out. */
const char *rz_log_quote(char *out, size_t out_size, const char *s);

/* ---------------------------------------------------------------------------
 * Small helpers
 * ------------------------------------------------------------------------ */

/* True if s[0..len) is valid UTF-8 (no overlongs, no surrogates). */
bool rz_utf8_valid(const char *s, size_t len);

/* Wall clock in milliseconds since the Unix epoch (for stamping commands;
 * the state machine never calls it). */
uint64_t rz_now_ms(void);
/* Monotonic clock in milliseconds and nanoseconds (for timeouts). */
uint64_t rz_mono_ms(void);
uint64_t rz_mono_ns(void);

/* Big-endian integers, for LMDB keys (so byte order is numeric order) and
 * frame headers. */
void rz_put_be64(uint8_t *p, uint64_t v);
uint64_t rz_get_be64(const uint8_t *p);
void rz_put_be32(uint8_t *p, uint32_t v);
uint32_t rz_get_be32(const uint8_t *p);

#endif /* RZ_COMMON_H */
