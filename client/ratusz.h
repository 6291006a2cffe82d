/* ratusz.h: the client library of ratusz, the clustered case store for city
 * help desks. Call-center desktops, portal back ends and ratuszctl link
 * against it to create, read, change and watch cases on a ratusz cluster.
 *
 * This header is the manual (in the manner of lmdb.h). It includes only
 * standard C headers; link with -lratusz (pkg-config --libs ratusz).
 *
 * ## Model
 *
 * A handle (`ratusz`) knows the client addresses of the cluster's nodes and
 * holds one encrypted, authenticated connection per node it has talked to
 * (docs/protocol.md). Every call has a deadline (ratusz_call.timeout_ms or
 * the handle's default). Within it the library
 *   - sends writes and linearizable reads to the leader, learning the leader
 *     from RATUSZ_ENOTLEADER replies (redirects) and remembering it;
 *   - retries retriable outcomes (a lost connection, RATUSZ_ENOTLEADER,
 *     RATUSZ_ELEADERSHIPLOST, RATUSZ_ETIMEDOUT from a node, RATUSZ_ECLOSED,
 *     RATUSZ_EUNAVAILABLE, RATUSZ_EBUSY, RATUSZ_ESHUTDOWN) with exponential
 *     backoff and jitter (20 ms doubling to 200 ms during the first 5 s
 *     of a call, the span of a leader fail-over, then up to 1 s), trying
 *     the other nodes;
 *   - resends EXACTLY the same request (same request_id, same body bytes) on
 *     every retry, so a retried write is applied at most once: the cluster
 *     remembers request_id -> result for 24 h of log time and answers a
 *     repeat with the original result.
 * When the deadline passes first, the call returns RATUSZ_ETIMEDOUT. For a
 * write the outcome is then UNKNOWN: the write may or may not have been
 * applied. To find out without risking a duplicate, repeat the call with
 * the same request_id (ratusz_outcome.request_id of the failed call, put
 * into ratusz_call.request_id) and the same arguments; within 24 h this
 * returns the original result if it was applied, and applies it once if it
 * was not.
 *
 * ## Threads
 *
 * A handle from ratusz_open() is thread-safe: any number of threads may
 * make blocking calls on it at once (they are multiplexed over the same
 * connections by an internal thread running a libuv loop). ratusz_close()
 * must not race with calls on the same handle.
 *
 * A handle from ratusz_uv_open() lives on the caller's libuv loop: it may be
 * used only from that loop's thread, only with the ratusz_async_* calls,
 * and is closed with ratusz_uv_close(). Like any libuv program, the caller
 * must ignore or block SIGPIPE on that thread (a node that dies mid-write
 * would otherwise kill the process); blocking handles block it in their
 * own thread and need nothing. Blocking calls on it return
 * RATUSZ_EINVAL (they would deadlock the loop); ratusz_async_* calls on a
 * blocking handle return RATUSZ_EINVAL too.
 *
 * Result objects (ratusz_case_info, ratusz_page, ...) belong to the caller
 * once returned and are independent of the handle: they may be read from any
 * thread and must be freed with their free function.
 *
 * ## Errors
 *
 * Every call returns 0 or a negative RATUSZ_E* code. The codes are the
 * cluster's own (the same numbers travel on the wire); ratusz_strerror()
 * gives a sentence saying what to do, ratusz_errname() the symbol. Besides
 * the codes listed per call, any call that talks to the cluster can return:
 *   RATUSZ_EINVAL      an argument is bad (NULL where not allowed, a string
 *                      over its limit, an enum out of range), nothing sent;
 *                      or the node refused a value (message names the key)
 *   RATUSZ_EUTF8       a string is not valid UTF-8
 *   RATUSZ_ENOMEM      out of memory
 *   RATUSZ_ETIMEDOUT   the deadline passed after the request had been sent
 *                      at least once (writes: outcome unknown, see above)
 *   RATUSZ_EUNAVAILABLE the deadline passed before the request could be
 *                      sent to any node (nothing was applied); the
 *                      outcome's message says why (connection refused,
 *                      handshake timed out, ...)
 *   RATUSZ_EAUTH       the handshake failed (a node refused our credential:
 *                      wrong cluster, expired, revoked role) or the node's
 *                      credential is not of our cluster; not retried
 *   RATUSZ_EEXPIRED    our own credential has expired (checked locally
 *                      before connecting)
 *   RATUSZ_EDENIED     the credential's role may not make this call
 *   RATUSZ_EPROTO      a node's REPLY to this call did not decode (not
 *                      retried: for a write, the write did happen); a
 *                      frame that breaks the protocol otherwise drops that
 *                      connection and the call is retried elsewhere while
 *                      time remains
 *   RATUSZ_ETOOBIG     the request or its reply is over a size limit
 *   RATUSZ_ENOSPACE, RATUSZ_EIO  the leader cannot write its log
 *   RATUSZ_ESTALE      a stale read no replica could serve within the bound
 *   RATUSZ_ECANCELED   the handle was closed while the call was pending
 * Details (the node's message, the current version after RATUSZ_EVERSION,
 * the request_id used) go to ratusz_call.outcome when the caller gives one.
 */
#ifndef RATUSZ_H
#define RATUSZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define RATUSZ_API __attribute__((visibility("default")))
#else
#define RATUSZ_API
#endif

/* Version of this header and library: "0.1.0". */
#define RATUSZ_VERSION_MAJOR 0
#define RATUSZ_VERSION_MINOR 1
#define RATUSZ_VERSION_PATCH 0
RATUSZ_API const char *ratusz_version(void);

/* ---------------------------------------------------------------------------
 * Errors: the values are those of the cluster (wire values, never change)
 * ------------------------------------------------------------------------ */

enum {
    RATUSZ_OK = 0,
    RATUSZ_ENOMEM = -1,      /* out of memory */
    RATUSZ_EINVAL = -2,      /* invalid argument */
    RATUSZ_EMALFORMED = -3,  /* the bytes do not form a valid message */
    RATUSZ_ECORRUPT = -4,    /* a node's stored data is corrupt */
    RATUSZ_ETOOBIG = -5,     /* a value exceeds its size limit */
    RATUSZ_ENOTFOUND = -6,   /* not found */
    RATUSZ_EEXISTS = -7,     /* already exists */
    RATUSZ_EIO = -8,         /* input/output error on a node */
    RATUSZ_ENOSPACE = -9,    /* a node is out of disk space */
    RATUSZ_EBADSTATUS = -10, /* status change not allowed from the current */
    RATUSZ_EVERSION = -11,   /* expected_version does not match */
    RATUSZ_ENOTLEADER = -12, /* the node asked is not the leader */
    RATUSZ_ELEADERSHIPLOST = -13, /* leader changed: outcome unknown */
    RATUSZ_ETIMEDOUT = -14,       /* deadline passed: outcome unknown */
    RATUSZ_EAUTH = -15,           /* authentication failed */
    RATUSZ_EDENIED = -16,         /* the role may not do this */
    RATUSZ_EEXPIRED = -17,        /* the credential has expired */
    RATUSZ_ECLOSED = -18,         /* the connection is closed */
    RATUSZ_EPROTO = -19,          /* protocol error */
    RATUSZ_EBUSY = -20,           /* too many requests in flight */
    RATUSZ_ESHUTDOWN = -21,       /* the node is shutting down */
    RATUSZ_EUNAVAILABLE = -22,    /* no leader reachable */
    RATUSZ_ECANCELED = -23,       /* the operation was canceled */
    RATUSZ_ESTALE = -24,          /* replica not fresh enough */
    RATUSZ_ENOCASE = -25,         /* no case with that id */
    RATUSZ_ENOSERVICE = -26,      /* no such service in the catalog */
    RATUSZ_ENOUNIT = -27,         /* no such unit in the catalog */
    RATUSZ_ENODISTRICT = -28,     /* no such district in the catalog */
    RATUSZ_ENOREPORTER = -29,     /* no reporter with that id */
    RATUSZ_EMERGED = -30,         /* the case was merged into another */
    RATUSZ_EPERM = -31,           /* operation not permitted */
    RATUSZ_ECONFIG = -32,         /* invalid configuration */
    RATUSZ_EQUORUM = -33,         /* the change would lose quorum */
    RATUSZ_EUTF8 = -34,           /* text is not valid UTF-8 */
    RATUSZ_EREUSED = -35          /* request_id reused for another request */
};
/* The most negative code this library knows; codes beyond it (from a newer
 * node) are passed through and read "unknown error". */
#define RATUSZ_ELAST RATUSZ_EREUSED

/* A sentence for a code ("unknown error" for others). Static, never NULL. */
RATUSZ_API const char *ratusz_strerror(int err);
/* The symbol: "RATUSZ_ENOCASE", "RATUSZ_OK"; "RATUSZ_EUNKNOWN" for codes
 * not in the table. Static. */
RATUSZ_API const char *ratusz_errname(int err);

/* Sizes of caller buffers. */
#define RATUSZ_ERRMSG_BYTES 256
#define RATUSZ_REQUEST_ID_BYTES 16
#define RATUSZ_ADDRESS_BYTES 256 /* "host:port" + NUL */
#define RATUSZ_NUMBER_BYTES 32   /* display number "135285/19" + NUL */
#define RATUSZ_CODE_BYTES 65     /* service/district/unit code + NUL */
#define RATUSZ_PII_BYTES 257     /* reporter field + NUL */
/* Limits checked locally before anything is sent (RATUSZ_EINVAL). */
#define RATUSZ_DESCRIPTION_MAX_BYTES 4000
#define RATUSZ_TEXT_MAX_BYTES 4000 /* resolution, note, reason, comment */
#define RATUSZ_STREET_MAX_BYTES 200
#define RATUSZ_HOUSE_NO_MAX_BYTES 32
#define RATUSZ_MAX_ENDPOINTS 16
#define RATUSZ_CATALOG_UPSERT_MAX_ITEMS 512
#define RATUSZ_LIST_LIMIT_MAX 1000

/* ---------------------------------------------------------------------------
 * Enumerations (wire values of docs/protocol.md 6.3-6.4)
 *
 * Each has a name function returning the upper-case name ("NEW", "PHONE";
 * static; NULL for a value out of range) and a parse function accepting
 * that name in any letter case (0, or RATUSZ_EINVAL with *out untouched).
 * ------------------------------------------------------------------------ */

typedef enum ratusz_case_status {
    RATUSZ_STATUS_NEW = 0,
    RATUSZ_STATUS_TRIAGE = 1,
    RATUSZ_STATUS_ROUTED = 2,
    RATUSZ_STATUS_IN_PROGRESS = 3,
    RATUSZ_STATUS_ON_HOLD = 4,
    RATUSZ_STATUS_RESOLVED = 5,
    RATUSZ_STATUS_CLOSED = 6
} ratusz_case_status;

typedef enum ratusz_kind {
    RATUSZ_KIND_INFORMATION = 0,
    RATUSZ_KIND_INCIDENT = 1,
    RATUSZ_KIND_COMPLAINT = 2,
    RATUSZ_KIND_SUGGESTION = 3
} ratusz_kind;

typedef enum ratusz_channel {
    RATUSZ_CHANNEL_PHONE = 0,
    RATUSZ_CHANNEL_WEB = 1,
    RATUSZ_CHANNEL_MOBILE = 2,
    RATUSZ_CHANNEL_EMAIL = 3,
    RATUSZ_CHANNEL_CHAT = 4,
    RATUSZ_CHANNEL_FAX = 5,
    RATUSZ_CHANNEL_WALK_IN = 6,
    RATUSZ_CHANNEL_INTERNAL = 7
} ratusz_channel;

typedef enum ratusz_priority {
    RATUSZ_PRIORITY_LOW = 0,
    RATUSZ_PRIORITY_NORMAL = 1,
    RATUSZ_PRIORITY_HIGH = 2,
    RATUSZ_PRIORITY_URGENT = 3
} ratusz_priority;

typedef enum ratusz_event_type {
    RATUSZ_EVENT_CREATED = 0,
    RATUSZ_EVENT_ROUTED = 1,
    RATUSZ_EVENT_STATUS_CHANGED = 2,
    RATUSZ_EVENT_COMMENT = 3,
    RATUSZ_EVENT_ASSIGNED = 4,
    RATUSZ_EVENT_MERGED = 5,
    RATUSZ_EVENT_REOPENED = 6,
    RATUSZ_EVENT_CITIZEN_NOTIFIED = 7,
    RATUSZ_EVENT_PII_ERASED = 8
} ratusz_event_type;

typedef enum ratusz_actor_role {
    RATUSZ_ACTOR_SYSTEM = 0,
    RATUSZ_ACTOR_RESIDENT = 1,
    RATUSZ_ACTOR_AGENT = 2,
    RATUSZ_ACTOR_UNIT = 3,
    RATUSZ_ACTOR_OPERATOR = 4,
    RATUSZ_ACTOR_PORTAL = 5
} ratusz_actor_role;

/* Catalog entry types (CATALOG_UPSERT item "type"). */
typedef enum ratusz_catalog_type {
    RATUSZ_CATALOG_DISTRICT = 0,
    RATUSZ_CATALOG_UNIT = 1,
    RATUSZ_CATALOG_SERVICE = 2,
    RATUSZ_CATALOG_RULE = 3
} ratusz_catalog_type;

/* Operations of ratusz_case_update (names "status", "route", ...). */
typedef enum ratusz_op {
    RATUSZ_OP_STATUS = 1,
    RATUSZ_OP_ROUTE = 2,
    RATUSZ_OP_REOPEN = 3,
    RATUSZ_OP_ASSIGN = 4,
    RATUSZ_OP_COMMENT = 5,
    RATUSZ_OP_MERGE = 6,
    RATUSZ_OP_NOTIFY = 7
} ratusz_op;

RATUSZ_API const char *ratusz_case_status_name(int v);
RATUSZ_API int ratusz_case_status_parse(const char *s, ratusz_case_status *out);
RATUSZ_API const char *ratusz_kind_name(int v);
RATUSZ_API int ratusz_kind_parse(const char *s, ratusz_kind *out);
RATUSZ_API const char *ratusz_channel_name(int v);
RATUSZ_API int ratusz_channel_parse(const char *s, ratusz_channel *out);
RATUSZ_API const char *ratusz_priority_name(int v);
RATUSZ_API int ratusz_priority_parse(const char *s, ratusz_priority *out);
RATUSZ_API const char *ratusz_event_type_name(int v);
RATUSZ_API int ratusz_event_type_parse(const char *s, ratusz_event_type *out);
RATUSZ_API const char *ratusz_actor_role_name(int v);
RATUSZ_API int ratusz_actor_role_parse(const char *s, ratusz_actor_role *out);
RATUSZ_API const char *ratusz_catalog_type_name(int v);
RATUSZ_API int ratusz_catalog_type_parse(const char *s,
                                         ratusz_catalog_type *out);
/* Lower-case names as on the wire: "status", "route", ... */
RATUSZ_API const char *ratusz_op_name(int v);
RATUSZ_API int ratusz_op_parse(const char *s, ratusz_op *out);

/* ---------------------------------------------------------------------------
 * Handles
 * ------------------------------------------------------------------------ */

typedef struct ratusz ratusz;

typedef struct ratusz_options
{
    /* Client addresses of the nodes, "host:port" (IPv4, "[IPv6]:port" or a
     * DNS name), 1..RATUSZ_MAX_ENDPOINTS of them. Copied by open. Leaders
     * learned from redirects are added (up to the same bound). */
    const char *const *endpoints;
    size_t n_endpoints;
    /* Identity file (ratuszctl keys issue): credential, secret key and the
     * cluster's public key. Read once by open; must be mode 0600. */
    const char *identity_path;
    /* Default deadline of a call in ms (0 = 5000); max 600000. */
    uint32_t timeout_ms;
    /* Longest a TCP connect plus handshake may take before the node counts
     * as unreachable for this attempt (0 = 2000). */
    uint32_t connect_timeout_ms;
} ratusz_options;

/* Opens a blocking, thread-safe handle: reads the identity, starts the
 * internal loop thread. Does not connect: connections open on first use, so
 * open succeeds while the cluster is down.
 *   h      out: the handle, to be closed with ratusz_close.
 *   errmsg optional (may be NULL), RATUSZ_ERRMSG_BYTES: a sentence on error.
 * Errors: RATUSZ_EINVAL (no endpoints, a malformed endpoint, bad timeouts),
 * RATUSZ_EAUTH / RATUSZ_ECORRUPT / RATUSZ_EIO / RATUSZ_EPERM (identity file
 * unreadable, damaged, or readable by group or others: errmsg names the file
 * and the fix), RATUSZ_EEXPIRED (the credential has expired), RATUSZ_ENOMEM.
 * *h is set only on success. */
RATUSZ_API int ratusz_open(const ratusz_options *opts, ratusz **h,
                           char *errmsg);

/* Closes a blocking handle: calls still pending in other threads return
 * RATUSZ_ECANCELED (no call may START during or after close: the caller
 * orders that), watches must be closed first. Closes every connection,
 * joins the internal thread and frees the handle. NULL is a no-op. */
RATUSZ_API void ratusz_close(ratusz *h);

/* Per-call outcome details, filled (when ratusz_call.outcome is set) before
 * the call returns or, for async calls, before the callback runs. */
typedef struct ratusz_outcome
{
    int code; /* the call's return value */
    /* The node's message for a code that came from a node, or the local
     * detail (e.g. "connect to 127.0.0.1:7411: connection refused"). */
    char message[RATUSZ_ERRMSG_BYTES];
    /* The request_id the call used (the caller's or the random one): pass
     * it back in ratusz_call.request_id to retry a write whose outcome is
     * unknown. */
    uint8_t request_id[RATUSZ_REQUEST_ID_BYTES];
    uint32_t attempts;        /* requests sent (1 = no retry) */
    uint32_t redirects;       /* RATUSZ_ENOTLEADER replies followed */
    uint32_t current_version; /* with RATUSZ_EVERSION: the case's version */
    uint64_t case_id;         /* the case an error names (0 if none) */
    /* The endpoint that gave the final answer ("" if none). */
    char endpoint[RATUSZ_ADDRESS_BYTES];
} ratusz_outcome;

/* Per-call options. NULL (or all zero) = defaults. Borrowed for the call. */
typedef struct ratusz_call
{
    uint32_t timeout_ms;   /* 0 = the handle's default; max 600000 */
    uint32_t max_stale_ms; /* reads: 0 = linearizable; > 0 = any replica
                              within that staleness may answer */
    /* Exactly-once key of a write: all zero = the library draws a random
     * one. Give the one of a failed attempt to retry it safely. */
    uint8_t request_id[RATUSZ_REQUEST_ID_BYTES];
    uint64_t actor_id; /* writes: person recorded on the events (< 2^63) */
    /* Set to send exactly once: no retries and no redirects (tests,
     * diagnostics); a retriable outcome (RATUSZ_ENOTLEADER, a lost
     * connection, ...) is then returned as it is. */
    bool no_retry;
    ratusz_outcome *outcome; /* optional out; for async calls it must stay
                                valid until the callback */
} ratusz_call;

/* ---------------------------------------------------------------------------
 * Cases
 * ------------------------------------------------------------------------ */

/* A resident's personal data, kept apart from cases (GDPR). Input: each
 * field a NUL-terminated UTF-8 string of at most 256 bytes, NULL = "". */
typedef struct ratusz_reporter
{
    const char *name;
    const char *phone;
    const char *email;
    const char *address;
} ratusz_reporter;

/* A new case. Initialise with ratusz_case_new_init (kind INCIDENT, priority
 * NORMAL, channel PHONE, everything else empty) and set what you know.
 * Strings are borrowed for the call; NULL = "" (service "OTHER", district
 * "UNKNOWN" on the node). */
typedef struct ratusz_case_new
{
    ratusz_kind kind;
    ratusz_channel channel;
    ratusz_priority priority;
    const char *service;     /* catalog service code, <= 64 bytes */
    const char *description; /* required, 1..4000 bytes */
    const char *district;    /* catalog district code, <= 64 bytes */
    const char *street;      /* <= 200 bytes */
    const char *house_no;    /* <= 32 bytes */
    double lat, lon;         /* WGS84; 0/0 = unknown */
    bool notify;             /* consent to progress messages */
    uint64_t reporter_id;    /* an existing reporter, 0 = none */
    /* A new reporter (NULL = none); not together with reporter_id. */
    const ratusz_reporter *reporter;
} ratusz_case_new;

RATUSZ_API void ratusz_case_new_init(ratusz_case_new *c);

/* What a create returned: the new case (or, on a retry with the same
 * request_id, the case the first attempt created). */
typedef struct ratusz_created
{
    uint64_t case_id;
    char number[RATUSZ_NUMBER_BYTES]; /* "<case_id>/<YY>" */
    ratusz_case_status status;        /* ROUTED if the catalog routed it */
    char unit_id[RATUSZ_CODE_BYTES];  /* "" if not routed */
    uint32_t version;
    uint64_t reporter_id; /* the new reporter's id, or the one given */
    uint64_t index;       /* raft index (revision) of the create */
} ratusz_created;

/* The reply of every other write. */
typedef struct ratusz_write_result
{
    uint64_t index;   /* raft index (revision) of the command */
    uint64_t case_id; /* the case touched, 0 if none */
    uint32_t version; /* the case's version after the command */
} ratusz_write_result;

/* Creates a case. `out` is written only on success.
 * Errors (besides the common ones): RATUSZ_EINVAL (no description, a field
 * over its limit, both reporter and reporter_id), RATUSZ_ENOSERVICE,
 * RATUSZ_ENODISTRICT, RATUSZ_ENOREPORTER, RATUSZ_EDENIED (auditor). */
RATUSZ_API int ratusz_case_create(ratusz *h, const ratusz_call *call,
                                  const ratusz_case_new *c,
                                  ratusz_created *out);

/* A case as read. All strings are NUL-terminated, never NULL ("" when
 * empty), and owned by the object that holds the case (a ratusz_case_info
 * or ratusz_page): valid until it is freed. */
typedef struct ratusz_case
{
    uint64_t case_id;
    const char *number;
    uint32_t version;
    ratusz_kind kind;
    ratusz_channel channel;
    ratusz_case_status status;
    ratusz_priority priority;
    const char *service;
    const char *district;
    const char *unit_id;
    const char *street;
    const char *house_no;
    double lat, lon;
    const char *description;
    const char *resolution;
    uint64_t created_ms, updated_ms;
    uint64_t due_ms;         /* 0 = no SLA */
    uint64_t closed_ms;      /* 0 = open */
    uint64_t reporter_id;    /* 0 for portal callers (redacted) */
    uint64_t parent_case_id; /* 0 = not merged */
    uint64_t assignee_id;    /* 0 for portal callers (redacted) */
    uint32_t n_events;
    bool notify;
} ratusz_case;

/* One history event. Strings as in ratusz_case (owned by the containing
 * object: a ratusz_case_info, or the watch until the next watch call). */
typedef struct ratusz_event
{
    uint64_t case_id;
    uint32_t seq;
    ratusz_event_type type;
    uint64_t revision; /* raft index of the command that made it */
    uint64_t at_ms;
    ratusz_actor_role actor_role;
    uint64_t actor_id;
    int status_from, status_to; /* ratusz_case_status values */
    const char *unit_from;
    const char *unit_to;
    uint64_t other_id; /* merged-into case, assignee, ... */
    int channel;       /* CITIZEN_NOTIFIED: ratusz_channel */
    bool is_public;    /* COMMENT: visible to the resident */
    const char *text;
} ratusz_event;

/* A case with its history. Library-allocated; free with
 * ratusz_case_info_free. */
typedef struct ratusz_case_info
{
    ratusz_case c;
    ratusz_event *history; /* oldest first; n_history of them */
    size_t n_history;
    bool truncated;    /* the history was cut (10,000 events or ~960 KiB) */
    uint64_t index;    /* the applied index the read saw */
    uint64_t stale_ms; /* stale reads: the staleness the replica proved */
} ratusz_case_info;

/* Reads a case (and, with with_history, its history).
 *   out  out: set only on success; free with ratusz_case_info_free.
 * Errors: RATUSZ_ENOCASE, RATUSZ_ESTALE (stale reads). */
RATUSZ_API int ratusz_case_get(ratusz *h, const ratusz_call *call,
                               uint64_t case_id, bool with_history,
                               ratusz_case_info **out);
RATUSZ_API void ratusz_case_info_free(ratusz_case_info *info);

/* Filters of a list (combined with AND). Initialise with
 * ratusz_list_filter_init: "no filter" is RATUSZ_ANY for status and channel,
 * NULL for strings and 0 for the other numbers. */
#define RATUSZ_ANY (-1)
typedef struct ratusz_list_filter
{
    int status;  /* ratusz_case_status or RATUSZ_ANY */
    int channel; /* ratusz_channel or RATUSZ_ANY */
    const char *district;
    const char *unit_id;
    const char *service;
    uint64_t created_from_ms; /* from <= created; 0 = no lower bound */
    uint64_t created_to_ms;   /* created < to; 0 = no upper bound */
    uint64_t reporter_id;     /* 0 = any */
    uint64_t cursor;          /* 0 = newest; then page->next_cursor */
    uint32_t limit;           /* 1..1000, 0 = 50 */
} ratusz_list_filter;

RATUSZ_API void ratusz_list_filter_init(ratusz_list_filter *f);

/* One page of a list, newest first. Library-allocated; free with
 * ratusz_page_free. A page may be shorter than the limit while next_cursor
 * is non-zero: keep following next_cursor until it is 0. */
typedef struct ratusz_page
{
    ratusz_case *cases;
    size_t n_cases;
    uint64_t next_cursor; /* 0 = no more */
    uint64_t index;
    uint64_t stale_ms;
} ratusz_page;

/* Lists cases. `f` NULL = no filter, first page of 50.
 * Errors: RATUSZ_EINVAL (created_from >= created_to, limit > 1000). */
RATUSZ_API int ratusz_case_list(ratusz *h, const ratusz_call *call,
                                const ratusz_list_filter *f, ratusz_page **out);
RATUSZ_API void ratusz_page_free(ratusz_page *page);

/* A change to a case. Zero-initialise, set op and case_id and the fields of
 * the op; strings are borrowed for the call, NULL = "".
 *   op       keys used
 *   STATUS   status (not ROUTED), text = resolution, expected_version
 *   ROUTE    unit_id, text = note, expected_version
 *   REOPEN   text = reason, expected_version
 *   ASSIGN   assignee_id (0 = unassign), expected_version
 *   COMMENT  text, is_public        (no expected_version)
 *   MERGE    into_case_id, expected_version
 *   NOTIFY   channel, text          (no expected_version)
 * expected_version 0 = no compare-and-set. */
typedef struct ratusz_update
{
    ratusz_op op;
    uint64_t case_id;
    uint32_t expected_version;
    ratusz_case_status status;
    const char *unit_id;
    const char *text; /* <= 4000 bytes */
    uint64_t assignee_id;
    bool is_public;
    uint64_t into_case_id;
    ratusz_channel channel;
} ratusz_update;

/* Applies one change. `out` (may be NULL) is written only on success.
 * Errors: RATUSZ_ENOCASE, RATUSZ_EBADSTATUS (the lifecycle forbids it),
 * RATUSZ_EVERSION (outcome->current_version has the case's version),
 * RATUSZ_ENOUNIT, RATUSZ_EMERGED, RATUSZ_EDENIED (portal: only public
 * comments; auditor: nothing). A rejected change was still committed: a
 * retry with the same request_id gets the same error. */
RATUSZ_API int ratusz_case_update(ratusz *h, const ratusz_call *call,
                                  const ratusz_update *u,
                                  ratusz_write_result *out);

/* Convenience wrappers of ratusz_case_update (same errors). */
RATUSZ_API int
ratusz_case_set_status(ratusz *h, const ratusz_call *call, uint64_t case_id,
                       uint32_t expected_version, ratusz_case_status status,
                       const char *resolution, ratusz_write_result *out);
RATUSZ_API int ratusz_case_route(ratusz *h, const ratusz_call *call,
                                 uint64_t case_id, uint32_t expected_version,
                                 const char *unit_id, const char *note,
                                 ratusz_write_result *out);
RATUSZ_API int ratusz_case_comment(ratusz *h, const ratusz_call *call,
                                   uint64_t case_id, const char *text,
                                   bool is_public, ratusz_write_result *out);

/* ---------------------------------------------------------------------------
 * Reporters (agent and operator roles)
 * ------------------------------------------------------------------------ */

typedef struct ratusz_reporter_info
{
    char name[RATUSZ_PII_BYTES];
    char phone[RATUSZ_PII_BYTES];
    char email[RATUSZ_PII_BYTES];
    char address[RATUSZ_PII_BYTES];
} ratusz_reporter_info;

/* Errors: RATUSZ_ENOREPORTER, RATUSZ_EDENIED. `out` only on success; an
 * erased reporter reads as empty strings. */
RATUSZ_API int ratusz_reporter_get(ratusz *h, const ratusz_call *call,
                                   uint64_t reporter_id,
                                   ratusz_reporter_info *out);
/* Erases a reporter's personal data (GDPR), operator only.
 * Errors: RATUSZ_ENOREPORTER, RATUSZ_EDENIED. */
RATUSZ_API int ratusz_reporter_erase(ratusz *h, const ratusz_call *call,
                                     uint64_t reporter_id,
                                     ratusz_write_result *out);

/* ---------------------------------------------------------------------------
 * Catalog
 * ------------------------------------------------------------------------ */

/* One catalog entry, for upserts (strings borrowed for the call, NULL = "")
 * and in ratusz_catalog (strings owned by it).
 *   DISTRICT  code, name
 *   UNIT      code, name
 *   SERVICE   code, name, kind, sla_hours
 *   RULE      code = service code, district, unit_id */
typedef struct ratusz_catalog_item
{
    ratusz_catalog_type type;
    const char *code;
    const char *name;
    ratusz_kind kind;
    uint32_t sla_hours;
    const char *district;
    const char *unit_id;
} ratusz_catalog_item;

typedef struct ratusz_catalog
{
    ratusz_catalog_item *items; /* districts, units, services, rules */
    size_t n_items;
    uint64_t index;
} ratusz_catalog;

/* Reads the whole catalog. Free *out with ratusz_catalog_free. */
RATUSZ_API int ratusz_catalog_get(ratusz *h, const ratusz_call *call,
                                  ratusz_catalog **out);
RATUSZ_API void ratusz_catalog_free(ratusz_catalog *cat);
/* Inserts or replaces 1..512 entries in one command (operator only).
 * Errors: RATUSZ_EINVAL, RATUSZ_ETOOBIG (over 64 KiB encoded: split it),
 * RATUSZ_ENOSERVICE / RATUSZ_ENOUNIT / RATUSZ_ENODISTRICT (a rule naming
 * an unknown entry), RATUSZ_EDENIED. */
RATUSZ_API int ratusz_catalog_upsert(ratusz *h, const ratusz_call *call,
                                     const ratusz_catalog_item *items,
                                     size_t n_items, ratusz_write_result *out);

/* ---------------------------------------------------------------------------
 * Stats
 * ------------------------------------------------------------------------ */

/* Dimensions (docs/storage.md): 0 status, 1 district, 2 unit, 3 service,
 * 4 channel, 5 created day, 6 closed day, 7 open per district. */
typedef struct ratusz_counter
{
    uint32_t dim;
    const char *key_str; /* dims 1, 2, 3, 7; NULL otherwise */
    uint64_t key_int;    /* the other dims */
    uint64_t count;
} ratusz_counter;

typedef struct ratusz_stats
{
    ratusz_counter *counters;
    size_t n_counters;
    uint64_t index;
} ratusz_stats;

/* Free *out with ratusz_stats_free. */
RATUSZ_API int ratusz_stats_get(ratusz *h, const ratusz_call *call,
                                ratusz_stats **out);
RATUSZ_API void ratusz_stats_free(ratusz_stats *st);

/* ---------------------------------------------------------------------------
 * Watch: the change feed, in revision order
 * ------------------------------------------------------------------------ */

typedef struct ratusz_watch ratusz_watch;

/* Opens a watch from position (from_revision, from_sub) (1, 0 = from the
 * beginning). Any replica serves it (call->max_stale_ms is not needed).
 * Connects before returning (errors as for any call); afterwards the watch
 * reconnects by itself, to any node, resuming from the position after the
 * last event it received: no gap and no duplicate. Blocking handles only.
 * Free with ratusz_watch_close. */
RATUSZ_API int ratusz_watch_open(ratusz *h, const ratusz_call *call,
                                 uint64_t from_revision, uint32_t from_sub,
                                 ratusz_watch **out);
/* Waits up to timeout_ms (0 = do not wait) for the next event.
 *   ev  out: borrowed, valid until the next call on the watch.
 * Errors: RATUSZ_ETIMEDOUT (nothing new in time; the watch goes on),
 * RATUSZ_EDENIED / RATUSZ_EAUTH (not retried), RATUSZ_ECANCELED (handle
 * closing). One thread at a time per watch. */
RATUSZ_API int ratusz_watch_next(ratusz_watch *w, int timeout_ms,
                                 const ratusz_event **ev);
/* The position to store to resume from after a restart: where the stream
 * continues after the events already returned, exact at batch boundaries;
 * mid-batch it is the start of the current batch, so a restarted reader may
 * see up to one batch (<= 1000 events) again and should skip events whose
 * (case_id, seq) it has seen. */
RATUSZ_API void ratusz_watch_position(const ratusz_watch *w, uint64_t *revision,
                                      uint32_t *sub);
/* Cancels the watch and frees it. NULL is a no-op. */
RATUSZ_API void ratusz_watch_close(ratusz_watch *w);

/* ---------------------------------------------------------------------------
 * Cluster operations (the node asked answers, no redirect)
 * ------------------------------------------------------------------------ */

typedef struct ratusz_ping_info
{
    uint64_t node_id;
    uint8_t cluster_id[16];
    char role[16]; /* our role as the node sees it: "agent", "portal", ... */
} ratusz_ping_info;

/* Pings `endpoint` ("host:port"; NULL = any reachable node). */
RATUSZ_API int ratusz_ping(ratusz *h, const ratusz_call *call,
                           const char *endpoint, ratusz_ping_info *out);

typedef struct ratusz_member
{
    uint64_t id;
    const char *address;        /* peer address */
    const char *client_address; /* "" if unknown */
    bool voter;
    uint64_t match_index; /* on the leader only, 0 elsewhere */
} ratusz_member;

/* A node's snapshots and state transfers since it started (a follower that
 * was down past the log's trailing window catches up by a transfer). */
typedef struct ratusz_snapshot_info
{
    uint64_t index;               /* last snapshot recorded, 0 = none */
    uint64_t taken;               /* snapshots taken */
    uint64_t transfers_sent;      /* state copies a follower confirmed */
    uint64_t bytes_sent;          /* chunk bytes sent, resends included */
    uint64_t transfers_installed; /* state copies installed here */
    uint64_t transfers_aborted;   /* received copies dropped */
    uint64_t bytes_received;      /* chunk bytes written here */
} ratusz_snapshot_info;

/* One node's view of the cluster. Strings owned by the object; free with
 * ratusz_status_info_free. */
typedef struct ratusz_status_info
{
    uint64_t node_id;
    uint8_t cluster_id[16];
    const char *state; /* "leader", "follower", "candidate", "unavailable" */
    uint64_t term, commit_index, applied_index, last_index;
    uint64_t leader_id;         /* 0 = none known */
    const char *leader_address; /* client address, "" if unknown */
    ratusz_member *members;
    size_t n_members;
    bool disk_alarm;
    const char *version;
    ratusz_snapshot_info snapshot; /* all 0 from a node that does not say */
} ratusz_status_info;

/* STATUS of exactly the node at `endpoint` (need not be a configured one).
 * Retried on the same node only. */
RATUSZ_API int ratusz_node_status(ratusz *h, const ratusz_call *call,
                                  const char *endpoint,
                                  ratusz_status_info **out);
RATUSZ_API void ratusz_status_info_free(ratusz_status_info *st);

typedef struct ratusz_checksum_info
{
    uint64_t node_id;
    uint64_t applied_index;
    uint8_t checksum[32];
    uint8_t data_checksum[32]; /* leaves out dedup bookkeeping */
} ratusz_checksum_info;

/* State checksum of the node at `endpoint` (operator, auditor). scan = a
 * full table scan instead of the incremental checksum. */
RATUSZ_API int ratusz_checksum(ratusz *h, const ratusz_call *call,
                               const char *endpoint, bool scan,
                               ratusz_checksum_info *out);

/* Membership (operator only; sent to the leader). *index (may be NULL) gets
 * the commit index when the change completed. These are not exactly-once
 * in the state machine: a retry after an unknown outcome may answer
 * RATUSZ_EEXISTS / RATUSZ_ENOTFOUND for a change that did happen.
 * Errors: RATUSZ_EQUORUM (would lose quorum; remove takes force),
 * RATUSZ_EEXISTS, RATUSZ_ENOTFOUND, RATUSZ_EBUSY (a change in progress). */
RATUSZ_API int ratusz_member_add(ratusz *h, const ratusz_call *call,
                                 uint64_t id, const char *address,
                                 uint64_t *index);
RATUSZ_API int ratusz_member_promote(ratusz *h, const ratusz_call *call,
                                     uint64_t id, uint64_t *index);
RATUSZ_API int ratusz_member_remove(ratusz *h, const ratusz_call *call,
                                    uint64_t id, bool force, uint64_t *index);
/* Hands leadership to `id` (0 = any up-to-date voter). *leader_id gets the
 * leader after the transfer, which may still be the old one. */
RATUSZ_API int ratusz_leader_transfer(ratusz *h, const ratusz_call *call,
                                      uint64_t id, uint64_t *leader_id);

/* ---------------------------------------------------------------------------
 * Callback API on the caller's libuv loop (C servers)
 *
 * struct uv_loop_s is libuv's uv_loop_t: pass your loop. Every async call
 * returns 0 (the callback will run exactly once, later, on the loop thread,
 * never from inside the call) or an error (the callback never runs). The
 * result passed to a callback is borrowed: valid during the callback only
 * (copy what you keep). Deadlines, retries and redirects are as for the
 * blocking calls. The call's strings and structs are copied before the
 * call returns.
 * ------------------------------------------------------------------------ */

struct uv_loop_s;

/* Opens a handle on `loop` (errors as ratusz_open). Runs no thread. */
RATUSZ_API int ratusz_uv_open(struct uv_loop_s *loop,
                              const ratusz_options *opts, ratusz **h,
                              char *errmsg);
/* Starts closing: the callbacks of pending calls run with
 * RATUSZ_ECANCELED before this returns (so do not call it from a callback
 * that frees what those callbacks use), connections close; `done` (may be
 * NULL) runs later on the loop once every handle of ours is closed and the
 * handle is freed, after which the loop may be closed. Idempotent. */
RATUSZ_API void ratusz_uv_close(ratusz *h, void (*done)(void *arg), void *arg);

typedef void (*ratusz_created_cb)(void *arg, int status,
                                  const ratusz_created *res);
typedef void (*ratusz_case_info_cb)(void *arg, int status,
                                    const ratusz_case_info *res);
typedef void (*ratusz_page_cb)(void *arg, int status, const ratusz_page *res);
typedef void (*ratusz_write_cb)(void *arg, int status,
                                const ratusz_write_result *res);

RATUSZ_API int ratusz_async_case_create(ratusz *h, const ratusz_call *call,
                                        const ratusz_case_new *c,
                                        ratusz_created_cb cb, void *arg);
RATUSZ_API int ratusz_async_case_get(ratusz *h, const ratusz_call *call,
                                     uint64_t case_id, bool with_history,
                                     ratusz_case_info_cb cb, void *arg);
RATUSZ_API int ratusz_async_case_list(ratusz *h, const ratusz_call *call,
                                      const ratusz_list_filter *f,
                                      ratusz_page_cb cb, void *arg);
RATUSZ_API int ratusz_async_case_update(ratusz *h, const ratusz_call *call,
                                        const ratusz_update *u,
                                        ratusz_write_cb cb, void *arg);

#ifdef __cplusplus
}
#endif

#endif /* RATUSZ_H */
