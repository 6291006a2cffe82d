/* storage/ private header: the table layout, the storage object and the
 * helpers shared by the files of this module. Nothing outside storage/
 * includes it. The layout is documented for people in docs/storage.md. */
#ifndef RZ_STORAGE_INTERNAL_H
#define RZ_STORAGE_INTERNAL_H

#include "storage/storage.h"

#include <lmdb.h>

/* Schema version kept in meta; bumped on any change of the layout below. */
#define RZ_STORAGE_SCHEMA 1u

/* Tables (LMDB named databases). The numeric id is hashed into the state
 * checksum, so it never changes. */
typedef enum table_id {
    T_META = 0,   /* "state" -> [schema, applied, next ids, log time, lanes] */
    T_CASES = 1,  /* case_id be64 -> case record */
    T_EVENTS = 2, /* case_id be64 | seq be32 -> event record */
    T_REVS = 3,   /* revision be64 | sub be32 -> case_id be64 | seq be32 */
    T_REPORTERS = 4,   /* reporter_id be64 -> [name, phone, email, address] */
    T_DISTRICTS = 5,   /* code -> [name] */
    T_UNITS = 6,       /* code -> [name] */
    T_SERVICES = 7,    /* code -> [name, kind, sla_hours] */
    T_RULES = 8,       /* service 0x00 district -> [unit] */
    T_IDX = 9,         /* secondary index keys -> empty */
    T_STATS = 10,      /* dim | key -> count be64 */
    T_DEDUP = 11,      /* request_id[16] -> [log time, result bin] */
    T_DEDUP_TIME = 12, /* log time be64 | request_id[16] -> empty */
    T_RESULTS = 13,    /* index be64 -> result bytes */
    T_COUNT = 14
} table_id;

extern const char *const rz_storage__table_names[T_COUNT];

/* Replicated counters, stored under meta "state" once per txn. */
typedef struct rz_meta
{
    uint64_t applied_index;
    uint64_t next_case_id;     /* first 1 */
    uint64_t next_reporter_id; /* first 1 */
    uint64_t log_time_ms;      /* max at_ms of every command applied */
    uint64_t lanes[4];         /* additive multiset hash of all records */
} rz_meta;

struct rz_storage_read
{
    rz_storage *s;
    MDB_txn *txn;
    bool meta_loaded;
    rz_meta meta; /* valid once meta_loaded */
};

struct rz_storage
{
    MDB_env *env;
    MDB_dbi dbi[T_COUNT];
    uint32_t results_kept;
    rz_meta meta;  /* as of the last commit */
    MDB_txn *rtxn; /* reused read txn (reset while no view is open) */
    bool view_open;
    rz_storage_read view;
    /* Scratch space for apply, kept here so that an apply allocates
     * nothing in the steady state. */
    rz_buf val;
    rz_buf res;
    rz_case old_case, new_case, other_old, other_new;
    rz_event ev;
    rz_case read_case;          /* queries: a case examined by a list filter */
    struct cat_item *cat_items; /* RZ_CATALOG_UPSERT_MAX_ITEMS, lazily */
    char errmsg[RZ_ERRMSG_BYTES];
};

/* Command types: the first element of every command. */
typedef enum cmd_type {
    CMD_NOOP = 0,
    CMD_CREATE = 1,
    CMD_STATUS = 2,
    CMD_ROUTE = 3,
    CMD_REOPEN = 4,
    CMD_ASSIGN = 5,
    CMD_COMMENT = 6,
    CMD_MERGE = 7,
    CMD_NOTIFY = 8,
    CMD_ERASE_REPORTER = 9,
    CMD_CATALOG = 10,
    CMD_COUNT = 11
} cmd_type;

/* ---- Status, names (codec.c) ---- */

/* Length of a NUL-free code or RZ_EINVAL / RZ_ETOOBIG. */
int rz_storage__code_check(const char *s, size_t len);
/* Key of a rule: service 0x00 district, into k (RULE_KEY_MAX bytes). */
#define RULE_KEY_MAX (2u * RZ_CODE_MAX_BYTES + 1u)
size_t rz_storage__rule_key(uint8_t *k, const char *service,
                            const char *district);
/* Days since 1970-01-01 and two-digit year of a UTC time in ms. */
uint32_t rz_storage__day(uint64_t ms);
void rz_storage__number(uint64_t case_id, uint64_t created_ms, char out[32]);

/* ---- Records (codec.c): encode into a buffer, decode with validation
 * (RZ_ECORRUPT for anything a correct writer never produces). ---- */

void rz_storage__case_encode(rz_buf *b, const rz_case *c);
int rz_storage__case_decode(const void *p, size_t len, uint64_t case_id,
                            rz_case *out);
void rz_storage__event_encode(rz_buf *b, const rz_event *e);
int rz_storage__event_decode(const void *p, size_t len, rz_event *out);
void rz_storage__result_encode(rz_buf *b, const rz_result *r);

/* Index keys of a case (T_IDX) and stats counters it belongs to (T_STATS). */
#define IDX_KEY_MAX (2u + RZ_CODE_MAX_BYTES + 1u + 1u + 8u)
typedef struct rz_key
{
    uint8_t len;
    uint8_t b[IDX_KEY_MAX];
} rz_key;
#define CASE_KEYS_MAX 10u
size_t rz_storage__case_index_keys(const rz_case *c, rz_key *out);
size_t rz_storage__case_stat_keys(const rz_case *c, rz_key *out);
/* A stats key for one dimension. */
void rz_storage__stat_key(rz_key *k, int dim, const char *s, uint64_t num);

/* ---- Env (env.c) ---- */

/* Translates an LMDB error into an RZ_E* code. */
int rz_storage__mdb_err(int rc);
/* Reads meta "state" in txn (zeros and next ids 1 for a fresh env). */
int rz_storage__meta_read(rz_storage *s, MDB_txn *txn, rz_meta *m);
void rz_storage__meta_encode(rz_buf *b, const rz_meta *m);
/* The meta record a read view sees (read on first use). */
int rz_storage__view_meta(rz_storage_read *r, const rz_meta **out);
/* The hash of one record, added to or subtracted from the lanes. */
void rz_storage__record_hash(int table, const void *k, size_t klen,
                             const void *v, size_t vlen, uint64_t lanes[4],
                             bool add);
void rz_storage__checksum_final(const rz_meta *m, bool data_only,
                                uint8_t out[32]);

#endif /* RZ_STORAGE_INTERNAL_H */
