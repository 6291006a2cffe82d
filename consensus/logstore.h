/* The Raft log, term, vote and snapshot descriptor in their own LMDB env
 * (raft.mdb), kept apart from the state env so a log fsync never blocks
 * apply (DESIGN.md §4).
 *
 * Private to consensus/. Two layers:
 *  - rz_logstore: synchronous, single-threaded operations, each one LMDB txn,
 *    durable when it returns. The simulator calls these directly (it decides
 *    in virtual time when an append "reaches the disk").
 *  - rz_log_writer: group commit for the real node. A worker thread takes
 *    queued operations in FIFO order, merges consecutive appends into one txn
 *    (everything queued while one commit syncs goes into the next) and fires
 *    completions on the libuv loop in FIFO order. Truncate and snapshot
 *    operations are ordered barriers in the same queue.
 *
 * Entry bytes are opaque here (raft's entry type is stored beside them); the
 * store never interprets commands. */
#ifndef RZ_CONSENSUS_LOGSTORE_H
#define RZ_CONSENSUS_LOGSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "common/common.h"

typedef struct rz_logstore rz_logstore; /* opaque */

typedef struct rz_logstore_options
{
    size_t map_size_bytes; /* 0 = default (see logstore.c) */
    /* Benchmarks and tests of page reuse only: opens the env with
     * MDB_NOSYNC, so nothing is durable on return. Never set in the node. */
    bool unsafe_no_sync;
} rz_logstore_options;

/* Largest entry the store accepts: an entry never exceeds one peer frame
 * (raft sends it in AppendEntries), and DESIGN.md §4 wants entries far
 * smaller so values stay in ordinary LMDB pages. */
#define RZ_LOG_ENTRY_MAX_BYTES (4u << 20)
/* Largest encoded configuration in a snapshot descriptor. */
#define RZ_LOG_CONF_MAX_BYTES (1u << 20)
/* Most entries in one append call (one raft_io append, or one txn of the
 * writer): bounds the work of a single txn. */
#define RZ_LOG_APPEND_MAX_ENTRIES 65536u

/* One log entry as stored. `data` is borrowed: for appends, owned by the
 * caller until the call (or, for the writer, the completion) returns; for
 * reads, valid until the next call on the store or rz_logstore_close. */
typedef struct rz_log_entry
{
    uint64_t term;
    uint8_t type; /* raft's entry type (command, barrier, change) */
    const void *data;
    size_t len;
} rz_log_entry;

/* The snapshot descriptor (DESIGN.md §4: descriptors, not images). */
typedef struct rz_log_snapshot
{
    uint64_t index;
    uint64_t term;
    uint64_t conf_index;
    const void *conf; /* encoded raft configuration; borrowed as above */
    size_t conf_len;
    /* The state env's applied index when the snapshot was taken: below
     * index when the last entries were not commands, above it when the
     * state ran ahead of raft after a state transfer (snapshot.h). */
    uint64_t state_index;
    uint8_t checksum[32]; /* state checksum at state_index */
} rz_log_snapshot;

/* What load() finds. */
typedef struct rz_log_state
{
    uint64_t term;
    uint64_t voted_for; /* 0 = none */
    bool has_snapshot;
    rz_log_snapshot snapshot;
    uint64_t first_index; /* index of the first stored entry; when the log is
                             empty, last_index + 1 */
    uint64_t last_index;  /* 0 when no entry was ever stored */
} rz_log_state;

/* Opens (creating if needed) dir/raft.mdb. Caller owns *out until close.
 * errmsg: RZ_ERRMSG_BYTES, filled on failure. RZ_ECORRUPT for a file that is
 * not a ratusz log or whose records fail validation. */
int rz_logstore_open(const char *dir, const rz_logstore_options *opts,
                     rz_logstore **out, char *errmsg);
void rz_logstore_close(rz_logstore *ls);

int rz_logstore_load(rz_logstore *ls, rz_log_state *out);

/* Reads entry `index` (first_index <= index <= last_index), RZ_ENOTFOUND
 * outside. */
int rz_logstore_get(rz_logstore *ls, uint64_t index, rz_log_entry *out);

/* Durable on return. set_term clears the vote. */
int rz_logstore_set_term(rz_logstore *ls, uint64_t term);
int rz_logstore_set_vote(rz_logstore *ls, uint64_t server_id);

/* Appends n entries at first_index, which must be last_index + 1 (or any
 * index when the log is empty after a snapshot install). One txn, durable
 * on return. RZ_ENOSPACE when the map is full: nothing is written. */
int rz_logstore_append(rz_logstore *ls, uint64_t first_index,
                       const rz_log_entry *entries, size_t n);

/* Deletes every entry at or above `index`. */
int rz_logstore_truncate(rz_logstore *ls, uint64_t index);

/* Stores a snapshot descriptor and deletes entries at or below
 * snap->index - trailing. With trailing == 0 the whole log is replaced:
 * every entry is deleted and the next append may start at snap->index + 1.
 * The caller must have synced the state env first (DESIGN.md §4). */
int rz_logstore_snapshot_put(rz_logstore *ls, const rz_log_snapshot *snap,
                             uint64_t trailing);

/* Several appends in one txn, durable on return: spans[i] must start right
 * after spans[i-1] ends; spans[0] follows the rules of rz_logstore_append.
 * All or nothing. Used by the writer to merge queued appends. */
typedef struct rz_log_span
{
    uint64_t first_index;
    const rz_log_entry *entries; /* borrowed for the call */
    size_t n;
} rz_log_span;
int rz_logstore_append_spans(rz_logstore *ls, const rz_log_span *spans,
                             size_t n_spans);

/* Context for the last error of the store (an empty string if none); owned
 * by the store, valid until the next call on it. */
const char *rz_logstore_errmsg(const rz_logstore *ls);

/* Space accounting of raft.mdb, for the aging benchmark and metrics. */
typedef struct rz_logstore_space
{
    uint64_t file_bytes;       /* size of raft.mdb on disk */
    uint64_t map_bytes;        /* configured map size */
    uint64_t page_bytes;       /* LMDB page size */
    uint64_t pages_used;       /* last used page number + 1 (high water) */
    uint64_t entry_pages;      /* branch+leaf+overflow pages of entries */
    uint64_t overflow_pages;   /* overflow pages of entries (big values) */
    uint64_t entries;          /* entries stored */
    uint64_t free_pages;       /* page numbers on LMDB's free list */
    uint64_t freelist_records; /* records in the free-list DB */
} rz_logstore_space;
int rz_logstore_space_get(rz_logstore *ls, rz_logstore_space *out);

/* Bootstrap: writes term 1 and one configuration entry at index 1 to an
 * empty store. RZ_EEXISTS when the store is not empty. */
int rz_logstore_bootstrap(rz_logstore *ls, const void *conf, size_t conf_len);

/* ---- Group commit ------------------------------------------------------ */

typedef struct rz_log_writer rz_log_writer; /* opaque */
typedef struct rz_log_req rz_log_req;

/* Fired on the loop thread, in the order the requests were queued. status is
 * 0 or an RZ_E* code; on error nothing of that request was written, nor of
 * any request merged into the same txn (they fail with the same code).
 * Later requests are still attempted, so appends succeed again once the
 * store is writable (after a compaction or a truncate); an append that no
 * longer follows the log because an earlier one failed fails with that
 * earlier code. Raft sees append errors, never a partial log. */
typedef void (*rz_log_cb)(rz_log_req *req, int status);

struct rz_log_req
{
    void *data; /* for the caller */
    /* private below */
    int op;
    uint64_t index;
    const rz_log_entry *entries;
    size_t n;
    rz_log_snapshot snapshot;
    uint64_t trailing;
    int status;
    rz_log_cb cb;
    rz_log_req *next;
};

/* Most requests queued or being written at once; beyond it the queue
 * functions return RZ_EBUSY (raft 0.15 keeps far fewer appends in flight). */
#define RZ_LOG_WRITER_MAX_PENDING 65536u

/* Starts the worker thread; completions are delivered on `loop`.
 * Caller allocates w via rz_log_writer_create; ls stays owned by the caller
 * and must not be used directly while the writer runs. */
int rz_log_writer_create(uv_loop_t *loop, rz_logstore *ls, rz_log_writer **out);
/* Queue operations. `entries` (and the bytes they point to), and for
 * snapshot_put the configuration bytes snap->conf points to, stay owned by
 * the caller until cb fires (the descriptor itself is copied into req).
 * Returns RZ_ESHUTDOWN after destroy, RZ_EBUSY past
 * RZ_LOG_WRITER_MAX_PENDING; then cb never fires. */
int rz_log_writer_append(rz_log_writer *w, rz_log_req *req,
                         uint64_t first_index, const rz_log_entry *entries,
                         size_t n, rz_log_cb cb);
int rz_log_writer_truncate(rz_log_writer *w, rz_log_req *req, uint64_t index,
                           rz_log_cb cb);
int rz_log_writer_snapshot_put(rz_log_writer *w, rz_log_req *req,
                               const rz_log_snapshot *snap, uint64_t trailing,
                               rz_log_cb cb);
/* Number of requests queued or being written (for metrics and for holding
 * RequestVote until appends are durable — DESIGN.md §4 flaw 3). */
size_t rz_log_writer_pending(const rz_log_writer *w);
/* Statistics for the benchmark and metrics. */
typedef struct rz_log_writer_stats
{
    uint64_t commits;         /* LMDB txns committed */
    uint64_t entries_written; /* entries appended */
    uint64_t
        fsync_ns_total; /* time spent in write txns (their sync dominates) */
} rz_log_writer_stats;
void rz_log_writer_stats_get(const rz_log_writer *w, rz_log_writer_stats *out);
/* Durations (ns) of the append txns (each ends with its fsyncs) committed
 * since the last call, oldest first: copies up to max of them into ns and
 * returns how many. At most RZ_LOG_WRITER_TIMINGS are kept between calls;
 * later ones are counted in the stats only. For the fsync histogram. */
#define RZ_LOG_WRITER_TIMINGS 1024u
size_t rz_log_writer_timings_drain(rz_log_writer *w, uint64_t *ns, size_t max);
/* Returns at once; keep running the loop. Every request queued before it
 * still completes (callbacks fire, in order), then the thread stops, w is
 * freed and close_cb(arg) (may be NULL) runs on the loop. Afterwards the
 * caller may use ls directly again or close it. */
void rz_log_writer_destroy(rz_log_writer *w, void (*close_cb)(void *arg),
                           void *arg);

#endif /* RZ_CONSENSUS_LOGSTORE_H */
