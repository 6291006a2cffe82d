/* client/codec.h (private to client/): request bodies of docs/protocol.md 6
 * encoded from the public structs of ratusz.h, and replies decoded from
 * untrusted bytes into them. Pure functions: no I/O, no clock, so the unit
 * tests drive them with hostile input. */
#ifndef RZ_CLIENT_CODEC_H
#define RZ_CLIENT_CODEC_H

#include "client/ratusz.h"
#include "common/common.h"
#include "common/limits.h"

/* Message types of docs/protocol.md 6.2. */
enum {
    RZ_CLIENT_PING = 1,
    RZ_CLIENT_STATUS = 2,
    RZ_CLIENT_CASE_CREATE = 3,
    RZ_CLIENT_CASE_GET = 4,
    RZ_CLIENT_CASE_LIST = 5,
    RZ_CLIENT_CASE_UPDATE = 6,
    RZ_CLIENT_REPORTER_GET = 7,
    RZ_CLIENT_REPORTER_ERASE = 8,
    RZ_CLIENT_CATALOG_GET = 9,
    RZ_CLIENT_CATALOG_UPSERT = 10,
    RZ_CLIENT_STATS = 11,
    RZ_CLIENT_WATCH = 12,
    RZ_CLIENT_WATCH_CANCEL = 13,
    RZ_CLIENT_MEMBER_ADD = 20,
    RZ_CLIENT_MEMBER_PROMOTE = 21,
    RZ_CLIENT_MEMBER_REMOVE = 22,
    RZ_CLIENT_LEADER_TRANSFER = 23,
    RZ_CLIENT_CHECKSUM = 24,
    RZ_CLIENT_REPLY = 64,
    RZ_CLIENT_ERROR = 65,
    RZ_CLIENT_EVENTS = 66
};

/* Largest request body the library builds: a request is one client frame,
 * and the envelope around the body takes a few dozen bytes. */
#define RZ_CLIENT_BODY_MAX_BYTES (RZ_FRAME_MAX_BYTES - 64u)

/* Keys every request body may carry (docs/protocol.md 6.1). Zero values are
 * left out. */
typedef struct rz_client_common
{
    uint32_t timeout_ms;
    uint32_t max_stale_ms; /* reads only */
    uint64_t actor_id;     /* writes only */
} rz_client_common;

/* Encoders: each writes one msgpack map into b (which the caller
 * initialised). 0, RZ_EINVAL or RZ_EUTF8 for a bad argument (with a
 * sentence in errmsg, RZ_ERRMSG_BYTES, may be NULL), RZ_ETOOBIG/RZ_ENOMEM
 * from the buffer. On error b's contents are unspecified. */
int rz_client_enc_case_create(rz_buf *b, const rz_client_common *k,
                              const ratusz_case_new *c, char *errmsg);
int rz_client_enc_case_get(rz_buf *b, const rz_client_common *k,
                           uint64_t case_id, bool with_history, char *errmsg);
int rz_client_enc_case_list(rz_buf *b, const rz_client_common *k,
                            const ratusz_list_filter *f, char *errmsg);
int rz_client_enc_case_update(rz_buf *b, const rz_client_common *k,
                              const ratusz_update *u, char *errmsg);
/* {"reporter_id"}: REPORTER_GET and REPORTER_ERASE. */
int rz_client_enc_reporter(rz_buf *b, const rz_client_common *k,
                           uint64_t reporter_id, char *errmsg);
int rz_client_enc_catalog_upsert(rz_buf *b, const rz_client_common *k,
                                 const ratusz_catalog_item *items, size_t n,
                                 char *errmsg);
/* Only the common keys: PING, STATUS, CATALOG_GET, STATS, WATCH_CANCEL. */
int rz_client_enc_empty(rz_buf *b, const rz_client_common *k);
int rz_client_enc_watch(rz_buf *b, uint64_t from_revision, uint32_t from_sub);
int rz_client_enc_checksum(rz_buf *b, const rz_client_common *k, bool scan);
/* MEMBER_ADD (address != NULL), MEMBER_PROMOTE, MEMBER_REMOVE (force) and
 * LEADER_TRANSFER: {"id", "address"?, "force"?}. */
int rz_client_enc_member(rz_buf *b, const rz_client_common *k, uint64_t id,
                         const char *address, bool with_force, bool force,
                         char *errmsg);

/* An ERROR body. */
typedef struct rz_client_error
{
    int code;                          /* negative */
    char message[RATUSZ_ERRMSG_BYTES]; /* "" if none */
    uint64_t leader_id;
    char leader_address[RATUSZ_ADDRESS_BYTES]; /* "" if none */
    uint32_t version;
    uint64_t case_id;
} rz_client_error;

/* Decoders of reply bodies (body[0..n) is one msgpack value from a node).
 * 0 or RZ_EMALFORMED (a listed key of the wrong type, a count or length
 * over its bound, anything but a map), RZ_ENOMEM. Outputs are written only
 * on success. Unknown keys are skipped. */
int rz_client_dec_error(const uint8_t *body, size_t n, rz_client_error *out);
int rz_client_dec_created(const uint8_t *body, size_t n, ratusz_created *out);
int rz_client_dec_write(const uint8_t *body, size_t n,
                        ratusz_write_result *out);
int rz_client_dec_case_info(const uint8_t *body, size_t n,
                            ratusz_case_info **out);
int rz_client_dec_page(const uint8_t *body, size_t n, ratusz_page **out);
int rz_client_dec_reporter(const uint8_t *body, size_t n,
                           ratusz_reporter_info *out);
int rz_client_dec_catalog(const uint8_t *body, size_t n, ratusz_catalog **out);
int rz_client_dec_stats(const uint8_t *body, size_t n, ratusz_stats **out);
int rz_client_dec_ping(const uint8_t *body, size_t n, ratusz_ping_info *out);
int rz_client_dec_status(const uint8_t *body, size_t n,
                         ratusz_status_info **out);
int rz_client_dec_checksum(const uint8_t *body, size_t n,
                           ratusz_checksum_info *out);
/* The integer value of `key` in a map ("index", "leader_id"); absent = 0. */
int rz_client_dec_uint_key(const uint8_t *body, size_t n, const char *key,
                           uint64_t *out);

/* One EVENTS batch; free with rz_client_batch_free. */
typedef struct rz_client_batch
{
    ratusz_event *events;
    size_t n_events;
    uint64_t next_revision;
    uint32_t next_sub;
    char *arena; /* the events' strings */
} rz_client_batch;

int rz_client_dec_events(const uint8_t *body, size_t n, rz_client_batch **out);
void rz_client_batch_free(rz_client_batch *b);

#endif /* RZ_CLIENT_CODEC_H */
