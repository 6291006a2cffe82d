/* check: ratusz's linearizability checker — a C library the simulator calls
 * in-process and the CLI `ratusz-check` wraps (jepsen/check/README.md).
 *
 * A history is a list of operations, each with the client process that ran
 * it, a key, an invocation time, a return time (or none: outcome unknown),
 * what it did and what it saw. rz_check_run() partitions the history by key
 * and searches each key for a linearization (Wing & Gong's algorithm with
 * Lowe's memoisation of (linearized set, model state), iterative, bounded).
 * On a violation it explains the smallest failing sub-history it found.
 *
 * Ownership follows lmdb.h: every pointer a caller passes in is borrowed for
 * the duration of the call only (strings are copied); everything the library
 * returns is owned by the object named in the comment and stays valid until
 * that object is destroyed or closed.
 *
 * Errors are negative RZ_E* codes of common/common.h: RZ_ENOMEM,
 * RZ_EINVAL (a caller bug: bad enum, times out of order), RZ_EMALFORMED
 * (unreadable input file; errmsg says which line and why), RZ_ETOOBIG (a
 * limit below was passed). */
#ifndef RZ_CHECK_H
#define RZ_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ---- Limits (why: bounded memory for hostile or runaway input) ---- */

/* Operations in one history: a day-long fault-injection run at a few
 * hundred ops per second. */
#define RZ_CHECK_MAX_OPS (16u * 1024u * 1024u)
/* Longest input line of any format. */
#define RZ_CHECK_MAX_LINE_BYTES (1u << 20)
/* Longest key or value string. */
#define RZ_CHECK_MAX_STR_BYTES (64u * 1024u)
/* Longest kv string state an append may build (the model's string grows
 * with every append). */
#define RZ_CHECK_MAX_STATE_BYTES (16u * 1024u * 1024u)
/* All strings the kv model may build while searching (every distinct state
 * an append creates is kept); past it the key's verdict is unknown. */
#define RZ_CHECK_MAX_INTERN_BYTES (1024ull * 1024u * 1024u)
/* Explanation text kept for a failed check. */
#define RZ_CHECK_MAX_EXPLAIN_BYTES (256u * 1024u)
/* Keys explained in detail; the rest are only counted. */
#define RZ_CHECK_MAX_EXPLAINED_KEYS 5u

/* ---- Operations ---- */

typedef enum rz_check_model {
    RZ_CHECK_MODEL_REGISTER = 1, /* read / write / cas of one value */
    RZ_CHECK_MODEL_KV,           /* string map: get / put / append */
    RZ_CHECK_MODEL_CASE          /* a ratusz case: create / status / read */
} rz_check_model;

typedef enum rz_check_f {
    RZ_CHECK_F_READ = 1, /* register */
    RZ_CHECK_F_WRITE,
    RZ_CHECK_F_CAS,
    RZ_CHECK_F_GET, /* kv */
    RZ_CHECK_F_PUT,
    RZ_CHECK_F_APPEND,
    RZ_CHECK_F_CREATE, /* case */
    RZ_CHECK_F_SET_STATUS,
    RZ_CHECK_F_CASE_READ
} rz_check_f;

typedef enum rz_check_outcome {
    RZ_CHECK_OK = 1, /* it happened, and saw what it says */
    RZ_CHECK_FAIL,   /* it definitely did not take effect */
    RZ_CHECK_UNKNOWN /* timeout, :info, no reply: maybe, at any later time */
} rz_check_outcome;

/* Why a case operation failed. Only the definite reasons constrain the
 * model; RZ_CHECK_FAIL_OTHER just means "did not happen". */
typedef enum rz_check_fail_reason {
    RZ_CHECK_FAIL_OTHER = 0,
    RZ_CHECK_FAIL_VERSION_MISMATCH, /* version != expected_version */
    RZ_CHECK_FAIL_NOT_FOUND,        /* the case did not exist */
    RZ_CHECK_FAIL_BAD_STATUS        /* transition not allowed from status */
} rz_check_fail_reason;

/* Which command moved a case (DESIGN.md §2: ROUTED is reached only by the
 * route command, CLOSED -> IN_PROGRESS only by reopen). ANY = not recorded:
 * the model then allows the union of the three. */
typedef enum rz_check_via {
    RZ_CHECK_VIA_ANY = 0,
    RZ_CHECK_VIA_STATUS,
    RZ_CHECK_VIA_ROUTE,
    RZ_CHECK_VIA_REOPEN
} rz_check_via;

/* Case statuses (DESIGN.md §2). 0 means "none": not found on a read. */
typedef enum rz_check_status {
    RZ_CHECK_STATUS_NONE = 0,
    RZ_CHECK_STATUS_NEW,
    RZ_CHECK_STATUS_TRIAGE,
    RZ_CHECK_STATUS_ROUTED,
    RZ_CHECK_STATUS_IN_PROGRESS,
    RZ_CHECK_STATUS_ON_HOLD,
    RZ_CHECK_STATUS_RESOLVED,
    RZ_CHECK_STATUS_CLOSED
} rz_check_status;
#define RZ_CHECK_STATUS_COUNT 8

/* "No return": the return time of an operation of unknown outcome. */
#define RZ_CHECK_TIME_NEVER INT64_MAX
/* "Not reported" for versions and expected versions. */
#define RZ_CHECK_VERSION_NONE (-1)

/* One operation as the caller describes it. All pointers are borrowed for
 * the call to rz_check_history_add() only; the history copies what it keeps.
 *
 *   model     f           value / value2          status / version
 *   register  read        value = result (NULL = nil)
 *             write       value = written
 *             cas         value = from, value2 = to
 *   kv        get         value = result
 *             put,append  value = argument
 *   case      create                              ok: resulting status
 *                                                 (NEW or ROUTED), version
 *             set_status  expected_version        status = target;
 *                                                 ok: version = new version
 *             case_read                           ok: status (NONE = not
 *                                                 found) and version
 *
 * version may be RZ_CHECK_VERSION_NONE or 0 (not reported: versions start
 * at 1). expected_version must be RZ_CHECK_VERSION_NONE when the request
 * had none: 0 is a real expectation (that never matches). fail_reason
 * matters only for a failed set_status. */
typedef struct rz_check_op
{
    int64_t process;     /* client id; one operation at a time per process */
    const char *key;     /* NULL = the empty key (single-register logs) */
    size_t key_len;      /* bytes of key */
    int64_t invoke_time; /* any unit; the CLI uses ns or line numbers */
    int64_t return_time; /* >= invoke_time; ignored if outcome UNKNOWN */
    rz_check_f f;
    rz_check_outcome outcome;
    const char *value; /* see the table; NULL = nil */
    size_t value_len;
    const char *value2;
    size_t value2_len;
    rz_check_status status;
    int64_t version;
    int64_t expected_version;
    rz_check_fail_reason fail_reason;
    rz_check_via via; /* set_status: the command used (0 = not recorded) */
} rz_check_op;

/* ---- Histories ---- */

typedef struct rz_check_history rz_check_history;

/* Allocates an empty history for `model`; *out is owned by the caller and
 * freed with rz_check_history_destroy(). RZ_ENOMEM, RZ_EINVAL. */
int rz_check_history_create(rz_check_model model, rz_check_history **out);
/* Frees the history and every string it copied. NULL is a no-op. */
void rz_check_history_destroy(rz_check_history *h);

/* Appends one operation (copied). RZ_EINVAL if f does not belong to the
 * history's model or return_time < invoke_time, RZ_ETOOBIG past
 * RZ_CHECK_MAX_OPS or RZ_CHECK_MAX_STR_BYTES, RZ_ENOMEM. On error nothing is
 * added. */
int rz_check_history_add(rz_check_history *h, const rz_check_op *op);

/* Operations added so far (before failed/no-op operations are dropped). */
size_t rz_check_history_len(const rz_check_history *h);

/* Input formats of rz_check_history_read() (README.md "Formats"). */
typedef enum rz_check_format {
    RZ_CHECK_FORMAT_JEPSEN_LOG = 1, /* jepsen.util log lines, line order */
    RZ_CHECK_FORMAT_EDN,            /* one Jepsen EDN map per line */
    RZ_CHECK_FORMAT_JSONL           /* one JSON object per line, time_ns */
} rz_check_format;

/* Parses "register"/"kv"/"case" and "jepsen-log"/"edn"/"jsonl"; RZ_EINVAL
 * for anything else. */
int rz_check_model_parse(const char *s, rz_check_model *out);
int rz_check_format_parse(const char *s, rz_check_format *out);

/* Reads a whole history from `in` (borrowed, read to EOF, not closed) into
 * a new history *out (caller frees with rz_check_history_destroy). On
 * RZ_EMALFORMED/RZ_ETOOBIG errmsg (RZ_ERRMSG_BYTES, may be NULL) says which
 * line and why, and *out is left NULL. Invocations never completed count as
 * unknown outcome. */
int rz_check_history_read(FILE *in, rz_check_format format,
                          rz_check_model model, rz_check_history **out,
                          char *errmsg);

/* ---- Checking ---- */

typedef enum rz_check_verdict {
    RZ_CHECK_LINEARIZABLE = 0,
    RZ_CHECK_NOT_LINEARIZABLE = 1,
    RZ_CHECK_UNKNOWN_VERDICT = 3 /* a search budget ran out */
} rz_check_verdict;

typedef struct rz_check_options
{
    double max_seconds;      /* whole run; 0 = no limit */
    uint64_t max_cache_mb;   /* memo table per key; 0 = 1024 */
    double shrink_seconds;   /* all failing keys; 0 = 2 s, <0 = no shrink */
    bool stop_at_first_fail; /* stop after the first failing key */
} rz_check_options;

typedef struct rz_check_result
{
    rz_check_verdict verdict;
    size_t n_ops;      /* operations checked (after dropping no-ops) */
    size_t n_keys;     /* partitions */
    size_t n_bad_keys; /* keys found not linearizable */
    size_t n_unknown;  /* keys whose search ran out of budget */
    uint64_t n_steps;  /* search steps over all keys */
    double seconds;    /* wall time of rz_check_run */
    char *explanation; /* NUL-terminated, owned; "" when linearizable */
} rz_check_result;

/* Checks `h` (borrowed) with its model. Its operations are not modified,
 * but the kv model interns the strings appends build into h's string table,
 * so one history must not be checked by two threads at once. Fills *res
 * (caller allocated; release with rz_check_result_close). `opts` may be NULL
 * for defaults. Returns 0 or RZ_ENOMEM; a verdict is never an error (a kv
 * key whose strings pass RZ_CHECK_MAX_STATE_BYTES or
 * RZ_CHECK_MAX_INTERN_BYTES gets no verdict, like a spent budget). */
int rz_check_run(const rz_check_history *h, const rz_check_options *opts,
                 rz_check_result *res);
/* Frees res->explanation. */
void rz_check_result_close(rz_check_result *res);

/* ---- Names ---- */

/* "NEW", "TRIAGE", ...; "NONE" for 0; NULL outside the enum. */
const char *rz_check_status_name(rz_check_status s);
/* Parses a status name (case-sensitive, as above); RZ_EINVAL otherwise. */
int rz_check_status_parse(const char *s, size_t len, rz_check_status *out);
/* True if a case may move from `from` to `to` (DESIGN.md §2 table). */
bool rz_check_status_allowed(rz_check_status from, rz_check_status to);
/* The same for one command: VIA_STATUS excludes moves to ROUTED and
 * CLOSED -> IN_PROGRESS, VIA_ROUTE allows only moves to ROUTED, VIA_REOPEN
 * only CLOSED -> IN_PROGRESS; VIA_ANY is rz_check_status_allowed. */
bool rz_check_status_allowed_via(rz_check_status from, rz_check_status to,
                                 rz_check_via via);

/* ---- Synthetic histories (the generator and the tests) ---- */

typedef enum rz_check_break {
    RZ_CHECK_BREAK_NONE = 0,
    RZ_CHECK_BREAK_STALE_READ,       /* a read sees a superseded version */
    RZ_CHECK_BREAK_LOST_WRITE,       /* an acked status change vanishes */
    RZ_CHECK_BREAK_DUPLICATE_CREATE, /* a case is created twice */
    RZ_CHECK_BREAK_VERSION_JUMP      /* a status change skips a version */
} rz_check_break;

/* Parses "none", "stale-read", "lost-write", "duplicate-create",
 * "version-jump"; RZ_EINVAL otherwise. */
int rz_check_break_parse(const char *s, rz_check_break *out);

typedef struct rz_check_gen_options
{
    uint64_t n_ops;       /* operations (>= 1) */
    uint32_t n_cases;     /* cases (>= 1) */
    uint32_t n_processes; /* concurrent clients (>= 1) */
    uint64_t seed;
    double info_rate;      /* fraction of ops with unknown outcome */
    rz_check_break breaks; /* one subtle violation, or none */
} rz_check_gen_options;

/* Writes a case-model history in the jsonl format to `out` (borrowed).
 * Same options and seed give the same bytes. RZ_EINVAL for bad options,
 * RZ_ENOMEM, RZ_EIO on a write error. When a break was asked for and the
 * history offers no place for it, returns RZ_ENOTFOUND. */
int rz_check_gen_write(FILE *out, const rz_check_gen_options *opts);

#endif /* RZ_CHECK_H */
