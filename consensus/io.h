/* Private to consensus/: our raft_io, split into a core that every
 * environment shares (the raft_io contract and the mitigations of
 * DESIGN.md §4) and a backend per environment (simulator now, libuv later).
 *
 * The raft_io contract the core keeps (facts from raft 0.15's src/uv*.c):
 *  - load runs once, before start;
 *  - append takes no index and is called while earlier appends are in
 *    flight; callbacks fire in FIFO order. The core numbers appends itself
 *    (next_index) and keeps every disk operation in one FIFO queue;
 *  - truncate has no callback, waits for in-flight appends and comes before
 *    the appends that follow it: it is an operation in the same queue;
 *  - set_term / set_vote are durable on return (synchronous log store
 *    calls: term and vote are separate records from the entries);
 *  - snapshot_put(trailing) is an op in the same queue: trailing 0 replaces
 *    the log (an installed snapshot), otherwise it compacts it; raft's
 *    snapshot data is our descriptor (snapshot.h), never the state;
 *  - send is best effort; InstallSnapshot and the state-transfer frames
 *    go out as encoded frames (xfer.c).
 *
 * A backend executes queued disk operations in order and reports each with
 * rz_io__op_done; once one fails, every later one it already holds fails
 * too (without touching the disk) until the core calls reset() and submits
 * them again. The core never fails an append to raft: raft 0.15 does not
 * undo a failed follower append (its in-memory log keeps the entries and
 * last_stored stops for good), so a failed write is retried on every tick
 * and raft only sees a slow disk; the replica meanwhile refuses new
 * proposals with a clear error (DESIGN.md §6). */
#ifndef RZ_CONSENSUS_IO_H
#define RZ_CONSENSUS_IO_H

#include <raft.h>

#include "consensus/consensus.h"
#include "consensus/logstore.h"
#include "consensus/snapshot.h"

/* A snapshot op records a descriptor and compacts the log (trailing > 0,
 * this node's own snapshot) or replaces the log (trailing 0, an installed
 * snapshot); it is ordered with the appends like a truncate. */
enum { RZ_IO_OP_APPEND = 1, RZ_IO_OP_TRUNCATE = 2, RZ_IO_OP_SNAPSHOT = 3 };

/* The AppendEntries an append or a result answers (mitigation 5). */
typedef struct rz_io_ae_ctx
{
    bool valid;
    uint64_t term; /* term of the AppendEntries */
    uint64_t from; /* its sender, the leader */
    uint64_t end;  /* prev_log_index + n_entries */
} rz_io_ae_ctx;

typedef struct rz_io_op
{
    int type;
    uint64_t index; /* first entry (append) or first deleted (truncate) */
    unsigned n;
    rz_log_entry *entries; /* views of raft's entries, valid until cb */
    struct raft_io_append *req;
    raft_io_append_cb cb;
    uint64_t term_at_submit; /* raft's term when raft submitted it */
    bool leader_at_submit;
    rz_io_ae_ctx ae; /* follower appends: the AppendEntries that caused it */
    /* Snapshot ops. */
    rz_log_snapshot snap; /* conf points at conf_buf */
    void *conf_buf;       /* raft_malloc'd encoded configuration */
    uint64_t trailing;
    struct raft_io_snapshot_put *sreq;
    raft_io_snapshot_put_cb scb;
    const struct raft_snapshot *rsnap; /* raft's, valid until scb */
    bool returned; /* the backend reported it (failed, awaiting retry) */
    int status;
    struct rz_io_op *next;
    struct rz_io_core *core;
    rz_log_req log_req; /* the libuv backend's request to the log writer */
} rz_io_op;

typedef struct rz_io_backend_ops
{
    uint64_t (*now_ms)(void *b);
    int (*random)(void *b, int min, int max);
    /* Start calling rz_io__tick every tick_ms. */
    void (*start)(void *b, unsigned tick_ms);
    /* Copies the message before returning; best effort. */
    void (*send)(void *b, const struct raft_message *m);
    /* Sends an already encoded frame (state transfer, InstallSnapshot) to
     * node `to`; copies it; best effort. kind is an RZ_SIM_MSG_* code and
     * index a number for the simulator's observer. */
    void (*send_frame)(void *b, uint64_t to, const char *to_address,
                       const void *frame, size_t len, int kind, uint64_t index);
    /* Queues op for execution after every op submitted before it. */
    void (*submit)(void *b, rz_io_op *op);
    /* Clears the failed state before the core submits failed ops again. */
    void (*reset)(void *b);
    /* Stops the backend: the simulator forgets every op not yet reported
     * (a crash); libuv lets the writer finish them (their completions
     * arrive first). Then calls done(arg), possibly before returning. */
    void (*close)(void *b, void (*done)(void *arg), void *arg);
} rz_io_backend_ops;

/* Messages held back until in-flight appends are durable (mitigation 3). */
#define RZ_IO_HELD_MAX 32u

typedef struct rz_io_held
{
    struct raft_message m;
    char address[RZ_ADDRESS_MAX_BYTES + 1];
} rz_io_held;

typedef struct rz_io_send_done
{
    struct raft_io_send *req;
    raft_io_send_cb cb;
} rz_io_send_done;

/* The last snapshot this node recorded, for raft's snapshot_get. */
typedef struct rz_io_snap
{
    bool has;
    uint64_t index, term, conf_index;
    void *conf; /* malloc'd encoded configuration */
    size_t conf_len;
    uint8_t desc[RZ_SNAP_DESC_BYTES];
} rz_io_snap;

/* A consistent copy of this leader's state, shared by the transfers that
 * send it; an unlinked temporary file, so nothing is left after a crash. */
typedef struct rz_xfer_image
{
    int fd; /* -1 when there is none */
    uint64_t total_bytes;
    uint64_t state_index;
    uint8_t checksum[32];
    uint8_t file_hash[32];
    unsigned refs;
} rz_xfer_image;

/* The leader's view of one follower's state transfer. */
typedef struct rz_xfer_peer
{
    uint64_t id; /* 0 = free slot */
    char address[RZ_ADDRESS_MAX_BYTES + 1];
    uint64_t want;    /* snapshot index the follower asked a state for */
    bool active;      /* a transfer is running */
    uint64_t xfer_id; /* of the running transfer */
    uint64_t acked;   /* bytes the follower confirmed */
    uint64_t sent;    /* bytes sent since the last go-back */
    uint64_t progress_ms, send_ms;
    uint64_t done_state_index; /* the follower's state after a transfer */
    /* raft's last InstallSnapshot to it, as a frame, resent once the
     * follower's state covers its index. */
    void *is_frame;
    size_t is_len;
    uint64_t is_index; /* raft index it installs */
    uint64_t is_state; /* state index it needs (its descriptor's) */
    uint64_t is_send_ms;
} rz_xfer_peer;

/* A deferred snapshot_get completion. */
typedef struct rz_io_get_done
{
    struct raft_io_snapshot_get *req;
    raft_io_snapshot_get_cb cb;
} rz_io_get_done;

#define RZ_IO_GETS_MAX 32u

typedef struct rz_io_core
{
    struct raft_io io; /* io.impl == this; io.data == the struct raft */
    const rz_io_backend_ops *ops;
    void *backend;
    rz_logstore *ls; /* owned by the replica */
    uint64_t id;
    uint32_t mitigations_off;
    unsigned tick_ms;

    raft_io_tick_cb tick_cb;
    raft_io_recv_cb recv_cb;
    raft_io_close_cb close_cb;
    bool loaded;
    bool closing;

    /* Disk operations in FIFO order (submitted to the backend). */
    uint64_t next_index; /* index the next append gets */
    rz_io_op *q_head, *q_tail;
    size_t n_ops;
    size_t n_appends; /* appends and snapshot installs in the queue */
    bool disk_failed; /* ops are waiting for a retry */
    int disk_status;  /* the failure, RZ_E* */
    /* When writes started failing (virtual or loop ms), 0 once one
     * succeeds again: unlike disk_failed it stays set across retries. */
    uint64_t disk_failing_since_ms;

    /* Send completions, fired after raft returns to the core. */
    rz_io_send_done *done;
    size_t n_done, cap_done;

    /* Mitigation 3. */
    rz_io_held held[RZ_IO_HELD_MAX];
    size_t n_held;

    /* Mitigation 5: the AppendEntries being answered right now. */
    rz_io_ae_ctx ctx;

    /* Mitigations 1+2: this leader's barrier. */
    uint64_t lead_term;     /* term whose barrier was appended, 0 = none */
    uint64_t barrier_index; /* its index */
    bool barrier_ok;        /* a majority acknowledged it */
    bool self_ack;
    uint64_t acks[RZ_CONSENSUS_MAX_MEMBERS]; /* ids that acknowledged */
    size_t n_acks;
    struct raft_barrier breq;
    bool breq_busy;

    /* Called after every return from raft into the core (the replica fails
     * proposals of a deposed leader there). */
    void (*after)(void *arg);
    void *after_arg;

    /* Snapshots and state transfer (xfer.c). */
    const rz_sm *sm; /* the replica's state machine, borrowed */
    rz_io_snap snap;
    rz_io_get_done gets[RZ_IO_GETS_MAX];
    size_t n_gets;
    char dir[RZ_XFER_PATH_BYTES]; /* the replica's directory */
    size_t chunk_bytes;
    uint64_t xfer_term; /* term the sender state belongs to */
    uint64_t next_xfer_id;
    rz_xfer_image img;
    rz_xfer_peer peers[RZ_CONSENSUS_MAX_MEMBERS];
    rz_xfer_recv rx;
    rz_buf xframe; /* encoding scratch */
    uint8_t *xbuf; /* chunk read buffer (chunk_bytes) */
    uint64_t stat_snapshots;
    uint64_t stat_xfers_started, stat_xfers_sent, stat_xfer_bytes_sent;
    uint64_t stat_is_gated;

    uint64_t stat_results_capped; /* for tests: results changed by m1/m5 */
    uint64_t stat_results_dropped;
    uint64_t stat_votes_held;
    uint64_t stat_votes_dropped;
    uint64_t stat_votes_unstuck; /* mitigation 8 applied */
    uint64_t stat_rollbacks;     /* mitigation 7 rolled back a configuration */
    uint64_t stat_rollbacks_dropped;
} rz_io_core;

/* Fills core->io. ls and backend stay the caller's. */
int rz_io__init(rz_io_core *core, uint64_t id, rz_logstore *ls,
                const rz_io_backend_ops *ops, void *backend,
                uint32_t mitigations_off);
/* Enables snapshots and state transfer: sm (borrowed, outlives the core),
 * dir holds the temporary files, chunk_bytes (0 = 1 MiB) sizes chunks. */
int rz_io__xfer_init(rz_io_core *core, const rz_sm *sm, const char *dir,
                     size_t chunk_bytes);
/* Frees what init and the run allocated (after raft closed the io). */
void rz_io__fini(rz_io_core *core);

/* Backend -> core. */
void rz_io__tick(rz_io_core *core);
/* msg is raft-owned as raft's recv expects (entries allocated with
 * raft_malloc, one batch); server_address valid for the call. */
void rz_io__recv(rz_io_core *core, struct raft_message *msg);
void rz_io__op_done(rz_io_core *core, rz_io_op *op, int status);
/* A state-transfer frame from an authenticated peer (either backend). */
void rz_io__recv_xfer(rz_io_core *core, const void *frame, size_t len);

/* ---- Snapshots and state transfer (xfer.c) ------------------------------ */

/* Leader: raft sends an InstallSnapshot (forwarded as a frame, kept for
 * resending). */
void rz_io__xfer_install_snapshot(rz_io_core *core,
                                  const struct raft_message *m);
/* Follower: false when an InstallSnapshot must not reach raft yet (the
 * state does not cover it: a NEED went to the leader); the message was
 * released then. */
bool rz_io__xfer_gate(rz_io_core *core, struct raft_message *m);
/* Every tick: resends, stalls, new transfers. */
void rz_io__xfer_tick(rz_io_core *core);
/* Frees files, descriptors and buffers (at close). */
void rz_io__xfer_fini(rz_io_core *core);

/* Writes term 1 and the configuration entry to an empty log store. */
int rz_io__bootstrap(rz_logstore *ls, const struct raft_configuration *conf);
/* Appends a forced configuration entry (raft_io.recover). RZ_ENOTFOUND on
 * an empty log. */
int rz_io__recover(rz_logstore *ls, const struct raft_configuration *conf);

/* ---- The mitigations (mitigate.c), each in one function ---------------- */

/* (1)+(2): after raft returns, a new leader appends its barrier. */
void rz_mitigate__leader_barrier(rz_io_core *core);
/* (1): an AppendEntries result reaching the leader is counted towards the
 * barrier and capped at the commit index until a majority acknowledged. */
void rz_mitigate__leader_result(rz_io_core *core, struct raft_message *m);
/* (1): the leader's own append of the barrier is durable. */
void rz_mitigate__leader_self_ack(rz_io_core *core, const rz_io_op *op);
/* (3): true when the message must wait for in-flight appends. */
bool rz_mitigate__hold_vote(rz_io_core *core, const struct raft_message *m);
/* (5): caps a success result; false when it must be dropped. */
bool rz_mitigate__result_cap(rz_io_core *core, struct raft_message *m);
/* (6): false when an incoming RequestVote must be dropped (one vote per
 * term even for a transfer target). */
bool rz_mitigate__vote_once(rz_io_core *core, const struct raft_message *m);
/* Mitigation 8: may set a RequestVote's disrupt_leader flag. */
void rz_mitigate__sticky_timeout(rz_io_core *core, struct raft_message *m);
/* (7): before an AppendEntries reaches raft, rolls back an uncommitted
 * configuration whose committed predecessor is no longer in raft's log;
 * false when the message must be dropped. */
bool rz_mitigate__conf_rollback(rz_io_core *core, const struct raft_message *m);
/* The inverse of raft_configuration_encode (0.15 exports none): c is
 * initialised here; RZ_ECORRUPT for bad bytes. */
int rz_io__conf_decode(const void *p, size_t len, struct raft_configuration *c);

/* ---- The simulator backend (io_sim.c) ---------------------------------- */

/* Attaches node `id` to the world and returns its backend. */
int rz_sim__attach(rz_sim *sim, uint64_t id, const char *address,
                   rz_io_core *core, const rz_io_backend_ops **ops,
                   void **backend);
/* Detaches (crash): events for it are dropped from now on. */
void rz_sim__detach(rz_sim *sim, uint64_t id);

/* ---- The libuv backend (io_uv.c) --------------------------------------- */

typedef struct rz_io_uv rz_io_uv;
/* Creates the backend of one replica on `loop`: a group-commit writer over
 * ls and the peer transport t (copied). */
int rz_io_uv__create(uv_loop_t *loop, rz_logstore *ls, const rz_transport *t,
                     uint64_t id, const char *address, rz_io_core *core,
                     const rz_io_backend_ops **ops, rz_io_uv **out);
/* Frees it after its close op finished. */
void rz_io_uv__destroy(rz_io_uv *b);
/* rz_log_writer_timings_drain of the backend's writer (0 once closed). */
size_t rz_io_uv__timings(rz_io_uv *b, uint64_t *ns, size_t max);
/* raft_configuration_encode with the padding after the last server zeroed,
 * so equal configurations are stored as equal bytes (io_core.c). */
int rz_io__encode_conf(const struct raft_configuration *conf,
                       struct raft_buffer *buf);

#endif /* RZ_CONSENSUS_IO_H */
