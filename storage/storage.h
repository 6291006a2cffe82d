/* storage: the case state machine of ratusz over LMDB (DESIGN.md §2, §3).
 *
 * This is the one public header of storage/. It owns the state env
 * (`<dir>/state.mdb`), applies committed commands deterministically, answers
 * queries and produces state checksums and consistent copies. It never reads
 * a clock or a random source: every time it stores comes from the commands.
 * The byte layout of commands, results and stored records is documented in
 * docs/storage.md; callers build commands with the rz_cmd_*_encode functions
 * and read results with rz_result_decode, never by hand.
 *
 * Threads: an rz_storage object is used by one thread at a time (the apply
 * loop); it holds no locks of its own. */
#ifndef RZ_STORAGE_H
#define RZ_STORAGE_H

#include "common/common.h"
#include "common/limits.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---------------------------------------------------------------------------
 * Enumerations of the data model. Their numeric values are stored on disk and
 * travel in commands, so they never change; new values are appended.
 * ------------------------------------------------------------------------ */

typedef enum rz_status {
    RZ_STATUS_NEW = 0,
    RZ_STATUS_TRIAGE = 1,
    RZ_STATUS_ROUTED = 2,
    RZ_STATUS_IN_PROGRESS = 3,
    RZ_STATUS_ON_HOLD = 4,
    RZ_STATUS_RESOLVED = 5,
    RZ_STATUS_CLOSED = 6,
    RZ_STATUS_COUNT = 7
} rz_status;

typedef enum rz_kind {
    RZ_KIND_INFORMATION = 0,
    RZ_KIND_INCIDENT = 1,
    RZ_KIND_COMPLAINT = 2,
    RZ_KIND_SUGGESTION = 3,
    RZ_KIND_COUNT = 4
} rz_kind;

typedef enum rz_channel {
    RZ_CHANNEL_PHONE = 0,
    RZ_CHANNEL_WEB = 1,
    RZ_CHANNEL_MOBILE = 2,
    RZ_CHANNEL_EMAIL = 3,
    RZ_CHANNEL_CHAT = 4,
    RZ_CHANNEL_FAX = 5,
    RZ_CHANNEL_WALK_IN = 6,
    RZ_CHANNEL_INTERNAL = 7,
    RZ_CHANNEL_COUNT = 8
} rz_channel;

/* Who did something, as recorded on events. */
typedef enum rz_actor_role {
    RZ_ACTOR_SYSTEM = 0,
    RZ_ACTOR_RESIDENT = 1,
    RZ_ACTOR_AGENT = 2,
    RZ_ACTOR_UNIT = 3,
    RZ_ACTOR_OPERATOR = 4,
    RZ_ACTOR_PORTAL = 5,
    RZ_ACTOR_COUNT = 6
} rz_actor_role;

typedef enum rz_event_type {
    RZ_EV_CREATED = 0,
    RZ_EV_ROUTED = 1,           /* unit_from -> unit_to (status ROUTED) */
    RZ_EV_STATUS_CHANGED = 2,   /* status_from -> status_to, text=resolution */
    RZ_EV_COMMENT = 3,          /* is_public, text */
    RZ_EV_ASSIGNED = 4,         /* other_id = assignee */
    RZ_EV_MERGED = 5,           /* other_id = the other case of the merge */
    RZ_EV_REOPENED = 6,         /* CLOSED -> IN_PROGRESS */
    RZ_EV_CITIZEN_NOTIFIED = 7, /* channel, text */
    RZ_EV_PII_ERASED = 8,       /* other_id = reporter id */
    RZ_EV_COUNT = 9
} rz_event_type;

/* Names for logs, JSON and the seed file ("NEW", "PHONE", ...); NULL for
 * values out of range. parse: 0 or RZ_EINVAL. */
const char *rz_status_name(int status);
const char *rz_kind_name(int kind);
const char *rz_channel_name(int channel);
const char *rz_event_type_name(int type);
int rz_status_parse(const char *s, rz_status *out);
int rz_kind_parse(const char *s, rz_kind *out);
int rz_channel_parse(const char *s, rz_channel *out);

/* The status lifecycle of DESIGN.md §2 as a transition table. `how` says
 * which command makes the move. A move is allowed when the table has the
 * (from, to, how) triple; ROUTED is only reached through the route command
 * and CLOSED -> IN_PROGRESS only through reopen. */
typedef enum rz_move {
    RZ_MOVE_STATUS = 1, /* rz_cmd_status_encode */
    RZ_MOVE_ROUTE = 2,  /* rz_cmd_route_encode */
    RZ_MOVE_REOPEN = 4  /* rz_cmd_reopen_encode */
} rz_move;
bool rz_status_move_allowed(int from, int to, rz_move how);

/* ---------------------------------------------------------------------------
 * Opening and closing
 * ------------------------------------------------------------------------ */

typedef struct rz_storage rz_storage; /* opaque */

typedef struct rz_storage_options
{
    size_t map_size_bytes; /* LMDB map size; 0 = default (16 GiB) */
    /* How many results of past log indexes are kept for skip-on-replay
     * (0 = default 100000). Part of replicated state: every replica of one
     * cluster must use the same value. */
    uint32_t results_kept;
    /* Tests only: open with MDB_NOSYNC (no fsync at all). A crash of the
     * machine can then lose or corrupt the env; never set it for data that
     * matters. */
    bool unsafe_no_sync;
} rz_storage_options;

/* Opens (creating if needed) the state env `<dir>/state.mdb` (dir must
 * exist). opts may be NULL. On success *out is owned by the caller (free with
 * rz_storage_close). On failure returns RZ_EIO / RZ_ECORRUPT / RZ_ENOMEM /
 * RZ_EINVAL with a sentence in errmsg (RZ_ERRMSG_BYTES, may be NULL). */
int rz_storage_open(const char *dir, const rz_storage_options *opts,
                    rz_storage **out, char *errmsg);
/* Closes the env; any open read view must have been ended. NULL is a no-op. */
void rz_storage_close(rz_storage *s);

/* ---------------------------------------------------------------------------
 * Apply
 * ------------------------------------------------------------------------ */

/* Applies one committed command at raft index `index`. If index <=
 * applied_index the command is skipped and the result stored for that index
 * is appended instead (RZ_ENOTFOUND result if it is older than results_kept).
 * Appends the result bytes (msgpack, read with rz_result_decode; includes an
 * RZ_E* code: a rejected command is a *successful apply* with an error
 * result, so every replica rejects it identically) to `result` (caller owns
 * it). Returns 0, or an error only for failures of the node itself (RZ_EIO,
 * RZ_ENOSPACE, RZ_ECORRUPT, RZ_ENOMEM), never for bad command bytes; after
 * such an error nothing of the call was applied. cmd is borrowed for the
 * call. */
int rz_storage_apply(rz_storage *s, uint64_t index, const void *cmd,
                     size_t cmd_len, rz_buf *result);

/* The same for a batch of entries with increasing indexes in ONE LMDB txn
 * (this is what gives throughput). results is an array of n caller-owned
 * buffers; results[i] gets entry i's result appended. On a node failure the
 * whole batch is undone and every results[i] is cut back to its length
 * before the call. A results buffer that hits its own cap does not undo
 * the batch: it is committed and that buffer's error is returned. */
typedef struct rz_storage_entry
{
    uint64_t index;
    const void *cmd; /* borrowed for the call */
    size_t cmd_len;
} rz_storage_entry;
int rz_storage_apply_batch(rz_storage *s, const rz_storage_entry *entries,
                           size_t n, rz_buf *results);

/* Index of the last applied (committed) command, 0 for a fresh env. */
uint64_t rz_storage_applied_index(const rz_storage *s);

/* The state checksum at the current applied index (also returned): BLAKE2b
 * over an additive multiset hash of every stored record, kept up to date on
 * every write, plus the counters in meta. Equal replicated state gives an
 * equal checksum. Cheap (no scan). */
int rz_storage_checksum(rz_storage *s, uint8_t out[32],
                        uint64_t *applied_index);
/* The same checksum computed by scanning every table (for `ratuszctl check`
 * and tests: it must equal rz_storage_checksum). With data_only, the
 * bookkeeping of exactly-once and skip-on-replay (results, dedup, applied
 * index, log time) is left out: two envs with the same cases, events,
 * reporters and catalog then agree. */
int rz_storage_checksum_scan(rz_storage *s, bool data_only, uint8_t out[32],
                             uint64_t *applied_index);

/* Space of the state env: the LMDB map size, the bytes of the data file's
 * high-water mark (pages ever used) and the bytes in use now (that mark minus
 * pages on LMDB's free list, which later writes reuse). The node's disk alarm
 * compares used_bytes with map_bytes. RZ_EIO on an LMDB error. */
typedef struct rz_storage_space
{
    uint64_t map_bytes;
    uint64_t file_bytes;
    uint64_t used_bytes;
} rz_storage_space;
int rz_storage_space_get(rz_storage *s, rz_storage_space *out);

/* Makes everything committed durable (mdb_env_sync with force): call before
 * the log store discards entries the state covers. */
int rz_storage_sync(rz_storage *s);
/* Writes a consistent compacted copy of the env to fd (mdb_env_copyfd2 +
 * MDB_CP_COMPACT) and says which applied index it holds. Must not run
 * concurrently with an apply on the same object. fd stays the caller's. */
int rz_storage_copy_to_fd(rz_storage *s, int fd, uint64_t *applied_index);
/* Makes the file copy_path (written by rz_storage_copy_to_fd) the state env
 * of dir: fsyncs it and renames it over `<dir>/state.mdb` atomically. No
 * rz_storage may be open on dir. The copy is checked to open first
 * (RZ_ECORRUPT otherwise, and dir is left untouched). */
int rz_storage_install_copy(const char *dir, const char *copy_path);

/* ---------------------------------------------------------------------------
 * Commands. Every command carries the client request_id (16 bytes, all zero
 * = none; NULL = none) and at_ms, the proposer's wall clock. Encoders append
 * to `out` (caller owns it) and return 0 or the buffer's error (RZ_ETOOBIG
 * past its cap). They do not validate: apply does, so that an encoder can
 * also build the bad commands the tests send.
 * ------------------------------------------------------------------------ */

typedef struct rz_actor
{
    uint8_t role; /* rz_actor_role */
    uint64_t id;  /* user id within the role, 0 = unknown */
} rz_actor;

typedef struct rz_reporter
{
    const char *name; /* each NULL or NUL-terminated, <= PII_FIELD bytes */
    const char *phone;
    const char *email;
    const char *address;
} rz_reporter;

typedef struct rz_case_create
{
    uint8_t kind;                /* rz_kind */
    uint8_t channel;             /* rz_channel */
    uint8_t priority;            /* 0 (low) .. 3 (urgent) */
    const char *service_code;    /* catalog code or "OTHER" */
    const char *description;     /* UTF-8, <= RZ_DESCRIPTION_MAX_BYTES */
    const char *district;        /* catalog code or "UNKNOWN" */
    const char *street;          /* may be NULL */
    const char *house_no;        /* may be NULL */
    double lat, lon;             /* WGS84; 0,0 = unknown */
    bool notify;                 /* consent to progress messages */
    uint64_t reporter_id;        /* existing reporter, 0 = none/new */
    const rz_reporter *reporter; /* personal data of a new reporter, or NULL */
    rz_actor actor;
} rz_case_create;

int rz_cmd_noop_encode(rz_buf *out, const uint8_t request_id[16],
                       uint64_t at_ms);
int rz_cmd_create_encode(rz_buf *out, const uint8_t request_id[16],
                         uint64_t at_ms, const rz_case_create *c);
/* expected_version 0 = no compare-and-set. to must not be ROUTED (use route)
 * and a CLOSED case moves only by reopen. resolution may be NULL. */
int rz_cmd_status_encode(rz_buf *out, const uint8_t request_id[16],
                         uint64_t at_ms, uint64_t case_id,
                         uint32_t expected_version, uint8_t to,
                         const char *resolution, rz_actor actor);
/* Route or re-route to a unit: status becomes ROUTED. note may be NULL. */
int rz_cmd_route_encode(rz_buf *out, const uint8_t request_id[16],
                        uint64_t at_ms, uint64_t case_id,
                        uint32_t expected_version, const char *unit_id,
                        const char *note, rz_actor actor);
/* CLOSED -> IN_PROGRESS. */
int rz_cmd_reopen_encode(rz_buf *out, const uint8_t request_id[16],
                         uint64_t at_ms, uint64_t case_id,
                         uint32_t expected_version, const char *reason,
                         rz_actor actor);
/* Assign to a person of the responsible unit (0 = unassign). */
int rz_cmd_assign_encode(rz_buf *out, const uint8_t request_id[16],
                         uint64_t at_ms, uint64_t case_id,
                         uint32_t expected_version, uint64_t assignee_id,
                         rz_actor actor);
int rz_cmd_comment_encode(rz_buf *out, const uint8_t request_id[16],
                          uint64_t at_ms, uint64_t case_id, bool is_public,
                          const char *text, rz_actor actor);
/* Marks case_id a duplicate of into_case_id and closes it. */
int rz_cmd_merge_encode(rz_buf *out, const uint8_t request_id[16],
                        uint64_t at_ms, uint64_t case_id,
                        uint32_t expected_version, uint64_t into_case_id,
                        rz_actor actor);
/* Records that the resident was notified through `channel`. */
int rz_cmd_notify_encode(rz_buf *out, const uint8_t request_id[16],
                         uint64_t at_ms, uint64_t case_id, uint8_t channel,
                         const char *text, rz_actor actor);
/* GDPR erasure: deletes the reporter's personal data and records PII_ERASED
 * on each of their cases. */
int rz_cmd_erase_reporter_encode(rz_buf *out, const uint8_t request_id[16],
                                 uint64_t at_ms, uint64_t reporter_id,
                                 rz_actor actor);

/* Catalog upsert: up to RZ_CATALOG_UPSERT_MAX_ITEMS items, applied in
 * order; a rule may refer to a service, district or unit defined earlier in
 * the same command. */
typedef enum rz_cat_type {
    RZ_CAT_DISTRICT = 0, /* code, name */
    RZ_CAT_UNIT = 1,     /* code, name */
    RZ_CAT_SERVICE = 2,  /* code, name, kind, sla_hours */
    RZ_CAT_RULE = 3,     /* code = service, district, unit_id */
    RZ_CAT_COUNT = 4
} rz_cat_type;
typedef struct rz_catalog_item
{
    uint8_t type;         /* rz_cat_type */
    const char *code;     /* district/unit/service code */
    const char *name;     /* districts, units, services; NULL for rules */
    uint8_t kind;         /* services */
    uint32_t sla_hours;   /* services; 0 = no due date */
    const char *district; /* rules */
    const char *unit_id;  /* rules */
} rz_catalog_item;
int rz_cmd_catalog_encode(rz_buf *out, const uint8_t request_id[16],
                          uint64_t at_ms, const rz_catalog_item *items,
                          size_t n_items);

/* ---------------------------------------------------------------------------
 * Results
 * ------------------------------------------------------------------------ */

typedef struct rz_result
{
    int code;             /* 0 or a negative RZ_E* code */
    uint64_t case_id;     /* the case the command touched (create: new id) */
    uint32_t version;     /* version after the command; on RZ_EVERSION the
                             case's current version */
    uint64_t reporter_id; /* create with a new reporter: its id */
    char number[32];      /* display number "<case_id>/<YY>", or "" */
} rz_result;

/* Decodes result bytes (from apply). 0 or RZ_EMALFORMED. */
int rz_result_decode(const void *p, size_t len, rz_result *out);

/* ---------------------------------------------------------------------------
 * Catalog seed (data/warsaw.tsv): a tab-separated text file, documented in
 * docs/storage.md, turned into catalog upsert commands.
 * ------------------------------------------------------------------------ */

/* Parses text[0..len) and appends one encoded catalog command per element of
 * cmds (caller-initialised buffers, at most max_cmds), each at most
 * RZ_COMMAND_MAX_BYTES and RZ_CATALOG_UPSERT_MAX_ITEMS items. Request ids are
 * derived from the text (hash of the file and the command's position), so
 * loading the same file twice is deduplicated. RZ_EINVAL with "line N: why"
 * in errmsg on a bad line; RZ_ETOOBIG if more than max_cmds are needed. */
int rz_catalog_seed_encode(const char *text, size_t len, uint64_t at_ms,
                           rz_buf *cmds, size_t max_cmds, size_t *n_cmds,
                           char *errmsg);

/* ---------------------------------------------------------------------------
 * Queries run on a read view: a consistent snapshot of the committed state
 * (an LMDB read txn). Everything a query returns is copied into caller
 * memory. Stored records are validated as they are decoded: RZ_ECORRUPT for
 * a bad one, never a crash.
 * ------------------------------------------------------------------------ */

typedef struct rz_storage_read rz_storage_read; /* opaque */

/* One view at a time per rz_storage (it is reused, so beginning one is
 * cheap). *out is valid until rz_storage_read_end. */
int rz_storage_read_begin(rz_storage *s, rz_storage_read **out);
void rz_storage_read_end(rz_storage_read *r);
/* The applied index the view sees: 0 or RZ_ECORRUPT / RZ_EIO. */
int rz_storage_read_index(rz_storage_read *r, uint64_t *applied_index);

typedef struct rz_case
{
    uint64_t case_id;
    uint32_t version;
    uint32_t n_events;
    uint8_t kind, channel, status, priority;
    bool notify;
    char service_code[RZ_CODE_MAX_BYTES + 1];
    char district[RZ_CODE_MAX_BYTES + 1];
    char unit_id[RZ_CODE_MAX_BYTES + 1]; /* "" = not routed */
    char street[RZ_NAME_MAX_BYTES + 1];
    char house_no[RZ_HOUSE_NO_MAX_BYTES + 1];
    double lat, lon;
    char description[RZ_DESCRIPTION_MAX_BYTES + 1];
    char resolution[RZ_COMMENT_MAX_BYTES + 1];
    uint64_t created_ms, updated_ms, due_ms, closed_ms;
    uint64_t reporter_id, parent_case_id, assignee_id;
    char number[32]; /* "<case_id>/<YY>" */
} rz_case;

typedef struct rz_event
{
    uint64_t case_id;
    uint32_t seq; /* 0.. within the case */
    uint8_t type; /* rz_event_type */
    uint64_t revision;
    uint64_t at_ms;
    rz_actor actor;
    uint8_t status_from, status_to; /* STATUS_CHANGED, ROUTED, REOPENED */
    char unit_from[RZ_CODE_MAX_BYTES + 1], unit_to[RZ_CODE_MAX_BYTES + 1];
    uint64_t other_id; /* ASSIGNED, MERGED, PII_ERASED */
    uint8_t channel;   /* CITIZEN_NOTIFIED, CREATED */
    bool is_public;    /* COMMENT */
    char text[RZ_COMMENT_MAX_BYTES + 1];
} rz_event;

/* RZ_ENOCASE if there is no such case. */
int rz_storage_case_get(rz_storage_read *r, uint64_t case_id, rz_case *out);
/* History of a case: events with seq >= from_seq, up to max, in seq order.
 * Call again with from_seq = last seq + 1 until *n < max for the whole
 * history. RZ_ENOCASE if there is no such case. */
int rz_storage_case_history(rz_storage_read *r, uint64_t case_id,
                            uint32_t from_seq, rz_event *out, size_t max,
                            size_t *n);

/* List filters: any combination; a field takes part when its bit is set. */
enum {
    RZ_FILTER_STATUS = 1u << 0,
    RZ_FILTER_DISTRICT = 1u << 1,
    RZ_FILTER_UNIT = 1u << 2,
    RZ_FILTER_SERVICE = 1u << 3,
    RZ_FILTER_CHANNEL = 1u << 4,
    RZ_FILTER_CREATED = 1u << 5, /* created_from_ms <= created < to */
    RZ_FILTER_REPORTER = 1u << 6
};
typedef struct rz_list_query
{
    uint32_t filters;
    uint8_t status, channel;
    char district[RZ_CODE_MAX_BYTES + 1];
    char unit_id[RZ_CODE_MAX_BYTES + 1];
    char service_code[RZ_CODE_MAX_BYTES + 1];
    uint64_t created_from_ms, created_to_ms;
    uint64_t reporter_id;
    uint64_t cursor; /* 0 = start at the newest; else only ids < cursor */
    uint32_t limit;  /* 1..RZ_LIST_PAGE_MAX; 0 = RZ_LIST_PAGE_DEFAULT */
} rz_list_query;

/* Newest first (by case id, which follows creation order). Fills ids[0..*n)
 * and, if cases is not NULL, cases[0..*n) (both sized >= limit).
 * *next_cursor is the cursor of the next page (which may turn out empty),
 * 0 when the list is known to be complete. A page
 * is cut short (with a non-zero cursor) after scanning RZ_LIST_SCAN_MAX index
 * entries, so a selective filter never makes one call slow; pages stay
 * correct while writes continue because the cursor is a case id and new
 * cases get higher ids. RZ_EINVAL for a bad query. */
#define RZ_LIST_SCAN_MAX 20000u
int rz_storage_case_list(rz_storage_read *r, const rz_list_query *q,
                         uint64_t *ids, rz_case *cases, size_t *n,
                         uint64_t *next_cursor);

/* Stats counters (DESIGN.md §3 dashboards), maintained on apply. */
typedef enum rz_stat_dim {
    RZ_STAT_STATUS = 0,        /* num = status: cases now in it */
    RZ_STAT_DISTRICT = 1,      /* key = district: cases */
    RZ_STAT_UNIT = 2,          /* key = unit ("" = not routed): cases */
    RZ_STAT_SERVICE = 3,       /* key = service code: cases */
    RZ_STAT_CHANNEL = 4,       /* num = channel: cases */
    RZ_STAT_CREATED_DAY = 5,   /* num = days since 1970-01-01 UTC: created */
    RZ_STAT_CLOSED_DAY = 6,    /* num = days since 1970-01-01 UTC: closed */
    RZ_STAT_OPEN_DISTRICT = 7, /* key = district: cases not RESOLVED/CLOSED */
    RZ_STAT_COUNT = 8
} rz_stat_dim;
/* One counter (0 if never counted). key is used by string dimensions, num by
 * the others. */
int rz_storage_stat_get(rz_storage_read *r, rz_stat_dim dim, const char *key,
                        uint64_t num, uint64_t *count);
/* Every counter as msgpack appended to out: an array of [dim, key-or-num,
 * count], in key order. */
int rz_storage_stats_encode(rz_storage_read *r, rz_buf *out);

/* The change feed: events in revision order from *pos on, up to max (<=
 * RZ_FEED_BATCH_MAX). One command can produce several events (a merge, an
 * erasure), so a position is (revision, sub): start with {from_revision, 0};
 * on return *pos is where to resume. */
typedef struct rz_feed_pos
{
    uint64_t revision;
    uint32_t sub;
} rz_feed_pos;
int rz_storage_feed(rz_storage_read *r, rz_feed_pos *pos, rz_event *out,
                    size_t max, size_t *n);

/* Catalog reads. */
typedef struct rz_service
{
    char code[RZ_CODE_MAX_BYTES + 1];
    char name[RZ_NAME_MAX_BYTES + 1];
    uint8_t kind;
    uint32_t sla_hours;
} rz_service;
int rz_storage_service_get(rz_storage_read *r, const char *code,
                           rz_service *out);
/* unit_id of the routing rule (service, district); RZ_ENOTFOUND if none. */
int rz_storage_rule_get(rz_storage_read *r, const char *service,
                        const char *district,
                        char unit_id[RZ_CODE_MAX_BYTES + 1]);
/* RZ_ENOTFOUND if missing; name may be NULL. */
int rz_storage_unit_get(rz_storage_read *r, const char *unit_id,
                        char name[RZ_NAME_MAX_BYTES + 1]);
int rz_storage_district_get(rz_storage_read *r, const char *code,
                            char name[RZ_NAME_MAX_BYTES + 1]);
/* Reporter personal data (RZ_ENOREPORTER if missing or erased). Each field
 * is copied into a buffer of RZ_PII_FIELD_MAX_BYTES + 1. */
typedef struct rz_reporter_data
{
    char name[RZ_PII_FIELD_MAX_BYTES + 1];
    char phone[RZ_PII_FIELD_MAX_BYTES + 1];
    char email[RZ_PII_FIELD_MAX_BYTES + 1];
    char address[RZ_PII_FIELD_MAX_BYTES + 1];
} rz_reporter_data;
int rz_storage_reporter_get(rz_storage_read *r, uint64_t reporter_id,
                            rz_reporter_data *out);
/* The whole catalog as msgpack appended to out: [districts, units, services,
 * rules], each an array of items as in the catalog command. */
int rz_storage_catalog_encode(rz_storage_read *r, rz_buf *out);

/* ---------------------------------------------------------------------------
 * Baseline for ratusz-bench: plain mdb_put of n values of value_bytes under
 * sequential 8-byte big-endian keys, batch per txn, in a fresh env at
 * `<dir>/raw.mdb` opened with the same flags as state.mdb. Returns the
 * elapsed monotonic nanoseconds in *elapsed_ns.
 * ------------------------------------------------------------------------ */
int rz_storage_bench_raw_put(const char *dir, size_t map_size_bytes, uint64_t n,
                             size_t value_bytes, uint32_t batch,
                             uint64_t *elapsed_ns);

#endif /* RZ_STORAGE_H */
