/* Client requests of ratuszd (docs/protocol.md section 6): message types,
 * the role table, decoding and validating request bodies, and building the
 * storage command of a write. Private to node/ (tests include it): pure
 * functions, no I/O, so every refusal is unit-tested.
 *
 * A body is decoded from an authenticated, validated frame; every field with
 * the wrong msgpack type or out of range is RZ_EINVAL (RZ_EUTF8 for text that
 * is not UTF-8, RZ_EMALFORMED for a body that is not a map), with a sentence
 * naming the key in errmsg, and nothing is applied. */
#ifndef RZ_NODE_REQUEST_H
#define RZ_NODE_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/common.h"
#include "common/secure.h"
#include "consensus/consensus.h"
#include "storage/storage.h"

/* Message types (docs/protocol.md 6.2). */
enum {
    RZ_MSG_PING = 1,
    RZ_MSG_STATUS = 2,
    RZ_MSG_CASE_CREATE = 3,
    RZ_MSG_CASE_GET = 4,
    RZ_MSG_CASE_LIST = 5,
    RZ_MSG_CASE_UPDATE = 6,
    RZ_MSG_REPORTER_GET = 7,
    RZ_MSG_REPORTER_ERASE = 8,
    RZ_MSG_CATALOG_GET = 9,
    RZ_MSG_CATALOG_UPSERT = 10,
    RZ_MSG_STATS = 11,
    RZ_MSG_WATCH = 12,
    RZ_MSG_WATCH_CANCEL = 13,
    RZ_MSG_MEMBER_ADD = 20,
    RZ_MSG_MEMBER_PROMOTE = 21,
    RZ_MSG_MEMBER_REMOVE = 22,
    RZ_MSG_LEADER_TRANSFER = 23,
    RZ_MSG_CHECKSUM = 24,
    RZ_MSG_REPLY = 64,
    RZ_MSG_ERROR = 65,
    RZ_MSG_EVENTS = 66
};

/* How the node serves a request. */
typedef enum rz_req_class {
    RZ_REQ_UNKNOWN = 0, /* not a request type: RZ_EPROTO */
    RZ_REQ_LOCAL,       /* answered at once from this node (PING, STATUS,
                           CHECKSUM, WATCH_CANCEL) */
    RZ_REQ_WRITE,       /* a storage command proposed on the leader */
    RZ_REQ_READ,        /* linearizable (barrier) or stale read */
    RZ_REQ_WATCH,       /* a stream */
    RZ_REQ_ADMIN        /* membership and leadership on the leader */
} rz_req_class;

rz_req_class rz_req_class_of(uint32_t type);
/* "case_create", ...; "unknown" for anything else (metric labels). */
const char *rz_req_type_name(uint32_t type);

/* CASE_UPDATE ops. */
typedef enum rz_update_op {
    RZ_OP_NONE = 0,
    RZ_OP_STATUS,
    RZ_OP_ROUTE,
    RZ_OP_REOPEN,
    RZ_OP_ASSIGN,
    RZ_OP_COMMENT,
    RZ_OP_MERGE,
    RZ_OP_NOTIFY
} rz_update_op;

/* A decoded request. Reads keep their parameters here (fixed-size, so a
 * request can wait for a read barrier after its frame is gone); a write's
 * command is built into the caller's buffer. */
typedef struct rz_req
{
    uint32_t type;
    uint8_t request_id[RZ_REQUEST_ID_BYTES];
    int role;              /* rz_role of the caller's credential */
    uint64_t timeout_ms;   /* 0 = the node's default */
    uint64_t max_stale_ms; /* 0 = linearizable */
    uint64_t actor_id;     /* writes */
    rz_update_op op;       /* CASE_UPDATE */
    bool public_comment;   /* CASE_UPDATE comment with "public": true */
    uint64_t case_id;      /* CASE_GET, CASE_UPDATE */
    bool history;          /* CASE_GET */
    uint64_t reporter_id;  /* REPORTER_GET, REPORTER_ERASE */
    rz_list_query list;    /* CASE_LIST */
    bool scan;             /* CHECKSUM */
    rz_feed_pos from;      /* WATCH */
    uint64_t member_id;    /* MEMBER_*, LEADER_TRANSFER */
    bool force;            /* MEMBER_REMOVE */
    char address[RZ_ADDRESS_MAX_BYTES + 1]; /* MEMBER_ADD */
} rz_req;

/* Decodes the body of `env` (type already known to be a request) for a
 * caller with `role`. For a write, appends the storage command stamped with
 * at_ms and the actor to `cmd` (cap >= RZ_COMMAND_MAX_BYTES). Returns 0,
 * RZ_EMALFORMED, RZ_EINVAL, RZ_EUTF8 or RZ_ETOOBIG with a sentence in errmsg
 * (RZ_ERRMSG_BYTES). The role is not checked here: see rz_req_allowed. */
int rz_req_decode(const rz_envelope *env, int role, uint64_t at_ms, rz_req *out,
                  rz_buf *cmd, char *errmsg);

/* The role table of docs/protocol.md 6.2, for a decoded request. */
bool rz_req_allowed(const rz_req *req);

/* Actor role recorded on events for a credential role (agent -> AGENT,
 * portal -> PORTAL, operator -> OPERATOR, anything else SYSTEM). */
uint8_t rz_req_actor_role(int role);

/* ---- Replies ------------------------------------------------------------ */

/* Appends a whole envelope [type, request_id, body] whose body the caller
 * writes: call begin, write exactly one msgpack value, done. */
void rz_reply_error(rz_buf *b, const uint8_t request_id[RZ_REQUEST_ID_BYTES],
                    int code, const char *message);
/* An ERROR with extra keys: leader_id/leader_address (ENOTLEADER; address
 * NULL = none), version (EVERSION, written when has_version), case_id
 * (written when non-zero). */
void rz_reply_error_ex(rz_buf *b, const uint8_t request_id[RZ_REQUEST_ID_BYTES],
                       int code, const char *message, uint64_t leader_id,
                       const char *leader_address, bool has_version,
                       uint32_t version, uint64_t case_id);
/* A case map (docs/protocol.md 6.4); `redact` for role portal. */
void rz_reply_put_case(rz_buf *b, const rz_case *c, bool redact);
/* An event map; `redact` (portal) zeroes other_id of ASSIGNED (the
 * assignee) and PII_ERASED (the reporter), as the case map hides them. */
void rz_reply_put_event(rz_buf *b, const rz_event *e, bool redact);
/* Whether a portal may see the event (non-public comments are left out). */
bool rz_reply_event_visible(const rz_event *e, bool redact);

#endif /* RZ_NODE_REQUEST_H */
