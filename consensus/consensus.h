/* consensus: a replica of the ratusz log over canonical/raft 0.15 with our
 * own raft_io (DESIGN.md §4).
 *
 * This is the one public header of consensus/. node/ and the simulator use
 * only this; raft.h stays inside consensus/. A replica runs the real raft
 * core over one of two io environments:
 *  - the simulator environment (rz_sim): virtual clock, in-memory network
 *    with delay / loss / reordering / duplication / partitions, and a disk
 *    whose appends become durable only at a virtual completion time, all
 *    driven by one seed;
 *  - the libuv environment for the real node: the group-commit log writer
 *    and a peer transport supplied by node/ (rz_transport).
 *
 * The raft 0.15 safety mitigations of DESIGN.md §4 (and a sixth and a
 * seventh the simulator found) live in the io core (consensus/mitigate.c, reads
 * in replica.c); each has a test-only switch to turn it off
 * (rz_replica_options.mitigations_off) so the simulator can show that the
 * flaw is real.
 *
 * Snapshots are descriptors of the state env, never images of it (raft's
 * snapshot holds {index, state applied index, state checksum}); the state
 * env is synced before the log store records a snapshot and discards the
 * entries below its trailing window. A follower that needs an
 * InstallSnapshot first receives a consistent copy of the leader's state
 * env in acknowledged chunks (rz_sm.copy on the leader, rz_sm.install on
 * the follower, verified by file hash and state checksum); raft sees the
 * InstallSnapshot only once the follower's state covers it (xfer.c,
 * docs/storage.md).
 *
 * Threads: a replica and its environment are used by one thread (the loop
 * or the simulator). */
#ifndef RZ_CONSENSUS_H
#define RZ_CONSENSUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "common/common.h"

/* ---------------------------------------------------------------------------
 * The state machine, as consensus sees it. storage/ implements it (node/ or
 * the simulator binds it); tests bind a toy one.
 * ------------------------------------------------------------------------ */

typedef struct rz_sm_entry
{
    uint64_t index;  /* raft index of the command */
    const void *cmd; /* borrowed for the call */
    size_t len;
} rz_sm_entry;

typedef struct rz_sm
{
    void *data;
    /* Applies n committed commands with increasing indexes, all above
     * applied_index(), in one step; appends command i's result bytes to
     * results[i] (caller-owned buffers). Returns 0, or an error only for a
     * failure of the node itself (then nothing of the call was applied and
     * the replica stops: carrying on would diverge). */
    int (*apply_batch)(void *data, const rz_sm_entry *entries, size_t n,
                       rz_buf *results);
    /* Index of the last applied command (0 for a fresh state). Consensus
     * skips every committed entry at or below it after a restart. */
    uint64_t (*applied_index)(void *data);
    /* Checksum of the state at its applied index. */
    int (*checksum)(void *data, uint8_t out[32], uint64_t *applied_index);
    /* The three below enable snapshots, log compaction and state transfer
     * (all NULL: raft never takes a snapshot and the log grows).
     * sync: makes every applied command durable; consensus calls it before
     * the log store discards entries the state covers. */
    int (*sync)(void *data);
    /* Writes a consistent copy of the state to fd (from its current
     * offset; fd stays the caller's) and returns the applied index and
     * the state checksum of that copy. No apply runs meanwhile. */
    int (*copy)(void *data, int fd, uint64_t *applied_index,
                uint8_t checksum[32]);
    /* Replaces the state by the copy at `path` (written by copy on another
     * replica, its bytes already verified): first checks that the copy
     * opens with exactly applied_index and checksum (RZ_ECORRUPT
     * otherwise, and the state is untouched), then makes it the state,
     * durably. On success path is gone and applied_index() returns the
     * copy's. On another error the state must still be usable (the old
     * or the new one). */
    int (*install)(void *data, const char *path, uint64_t applied_index,
                   const uint8_t checksum[32]);
} rz_sm;

/* ---------------------------------------------------------------------------
 * Mitigations of raft 0.15's flaws (DESIGN.md §4). Test-only switches: a
 * production replica always runs with mitigations_off == 0.
 * ------------------------------------------------------------------------ */

enum {
    /* (1)+(2) leader barrier on election; AppendEntries results capped at
     * the commit index until the io counted a majority on the barrier. */
    RZ_MITIGATE_LEADER_BARRIER = 1u << 0,
    /* (3) RequestVote held until in-flight appends are durable (see
     * mitigate.c for why TimeoutNow is not). */
    RZ_MITIGATE_VOTE_DURABLE = 1u << 1,
    /* (4) linearizable reads always behind a barrier. */
    RZ_MITIGATE_READ_BARRIER = 1u << 2,
    /* (5) a success AppendEntries result reports at most prev_log_index +
     * n_entries of the AppendEntries it answers. */
    RZ_MITIGATE_RESULT_CAP = 1u << 3,
    /* (6) found by the simulator: one vote per term, even for the target
     * of this node's own leadership transfer. */
    RZ_MITIGATE_VOTE_ONCE = 1u << 4,
    /* (7) found by the simulator with compacted logs: a follower rolls back
     * an uncommitted configuration whose committed predecessor was
     * compacted away without crashing raft (mitigate.c). */
    RZ_MITIGATE_CONF_ROLLBACK = 1u << 5,
    /* (8) found by the leader-kill drill: a follower that has not heard
     * from its leader for an election timeout takes part in an election
     * (raft 0.15 refuses votes as long as it remembers a leader, so every
     * fail-over took two election rounds). */
    RZ_MITIGATE_STICKY_TIMEOUT = 1u << 6,
    /* (9) pre-vote (thesis §9.6), so that a rejoining follower does not
     * depose a healthy leader by raising the term. */
    RZ_MITIGATE_PRE_VOTE = 1u << 7,
    RZ_MITIGATE_ALL = 0xffu
};

/* ---------------------------------------------------------------------------
 * The simulator environment: one process, N replicas, virtual time, one
 * seed. Every source of nondeterminism (timers, delays, raft's random
 * election timeouts, faults) comes from the seed, so a run replays exactly.
 * ------------------------------------------------------------------------ */

typedef struct rz_sim rz_sim; /* opaque */

#define RZ_SIM_MAX_NODES 8u

typedef struct rz_sim_net
{
    uint32_t delay_min_ms; /* one-way delay range */
    uint32_t delay_max_ms;
    uint32_t loss_ppm;    /* messages dropped, per million */
    uint32_t dup_ppm;     /* messages delivered twice, per million */
    uint32_t reorder_ppm; /* messages given a long extra delay */
    uint32_t reorder_extra_ms;
} rz_sim_net;

typedef struct rz_sim_disk
{
    uint32_t latency_min_ms; /* time until an append is durable */
    uint32_t latency_max_ms;
    bool failing; /* writes fail with RZ_EIO until cleared */
    bool full;    /* writes fail with RZ_ENOSPACE until cleared */
} rz_sim_disk;

/* Creates a world at virtual time 0. Caller owns *out (rz_sim_destroy). */
int rz_sim_create(uint64_t seed, rz_sim **out);
/* Every replica of the world must have been closed or crashed first. */
void rz_sim_destroy(rz_sim *sim);
uint64_t rz_sim_now_ms(const rz_sim *sim);
/* The world's PRNG, for the driver's own choices (kept in the same stream
 * so one seed decides everything). */
uint64_t rz_sim_rand(rz_sim *sim);
/* Uniform in [lo, hi]. */
uint64_t rz_sim_rand_range(rz_sim *sim, uint64_t lo, uint64_t hi);
/* Runs events in time order up to and including virtual time t_ms, then sets
 * the clock to t_ms. Returns the number of events run. */
uint64_t rz_sim_run_until(rz_sim *sim, uint64_t t_ms);
/* Runs one event if there is one at or before t_ms; false otherwise. */
bool rz_sim_step(rz_sim *sim, uint64_t t_ms);
/* A driver callback at virtual time t_ms (>= now). */
int rz_sim_at(rz_sim *sim, uint64_t t_ms, void (*fn)(void *arg), void *arg);

void rz_sim_net_set(rz_sim *sim, const rz_sim_net *net);
/* Cuts (up=false) or heals the one-way link from -> to (node ids). */
void rz_sim_link_set(rz_sim *sim, uint64_t from, uint64_t to, bool up);
/* Heals every link (and clears the two settings below). */
void rz_sim_links_heal(rz_sim *sim);
/* Scripted schedules: on the link from -> to, drop AppendEntries that carry
 * entries (heartbeats pass), and add extra_ms to every delay. */
void rz_sim_link_drop_entries(rz_sim *sim, uint64_t from, uint64_t to,
                              bool drop);
void rz_sim_link_delay(rz_sim *sim, uint64_t from, uint64_t to,
                       uint32_t extra_ms);
void rz_sim_disk_set(rz_sim *sim, uint64_t id, const rz_sim_disk *disk);
/* Optional observer of every message a node hands to the network (for
 * traces and scripted scenarios). type is raft's message type code
 * (RZ_SIM_MSG_*); index is the announced last_log_index of a RequestVote or
 * TimeoutNow, prev_log_index of an AppendEntries, last_log_index of a
 * result, 1 for a granted vote. */
enum {
    RZ_SIM_MSG_APPEND_ENTRIES = 1,
    RZ_SIM_MSG_APPEND_ENTRIES_RESULT = 2,
    RZ_SIM_MSG_REQUEST_VOTE = 3,
    RZ_SIM_MSG_REQUEST_VOTE_RESULT = 4,
    RZ_SIM_MSG_INSTALL_SNAPSHOT = 5,
    RZ_SIM_MSG_TIMEOUT_NOW = 6,
    /* State transfer frames (index: offset, next offset, snapshot index). */
    RZ_SIM_MSG_XFER_CHUNK = 7,
    RZ_SIM_MSG_XFER_ACK = 8,
    RZ_SIM_MSG_XFER_NEED = 9
};
typedef void (*rz_sim_msg_observer)(void *arg, uint64_t from, uint64_t to,
                                    int type, uint64_t term, uint64_t index);
void rz_sim_observe(rz_sim *sim, rz_sim_msg_observer fn, void *arg);

/* ---------------------------------------------------------------------------
 * Replica
 * ------------------------------------------------------------------------ */

typedef struct rz_replica rz_replica; /* opaque */

/* Most servers in one configuration (voters, non-voters and spares). */
#define RZ_CONSENSUS_MAX_MEMBERS 16u

#define RZ_ADDRESS_MAX_BYTES 128u

typedef struct rz_replica_options
{
    uint64_t id;                   /* > 0, unique in the cluster */
    const char *address;           /* copied; <= RZ_ADDRESS_MAX_BYTES */
    const char *dir;               /* holds raft.mdb; must exist */
    rz_sm sm;                      /* borrowed: must outlive the replica */
    uint32_t election_timeout_ms;  /* 0 = 1000 */
    uint32_t heartbeat_timeout_ms; /* 0 = 100 */
    uint32_t tick_ms;              /* 0 = 20 */
    uint32_t mitigations_off;      /* RZ_MITIGATE_* bits; tests only */
    size_t log_map_size_bytes;     /* 0 = the log store's default */
    /* Tests only (the simulator, whose disk model decides durability
     * itself): the log env without fsync. Never set in the node. */
    bool log_unsafe_no_sync;
    /* Snapshots (only with sm.sync/copy/install): a snapshot every
     * snapshot_threshold applied entries (0 = 100000), keeping the last
     * snapshot_trailing entries in the log (0 = 50000) so a follower a
     * little behind catches up from the log, not by state transfer. */
    uint32_t snapshot_threshold;
    uint32_t snapshot_trailing;
    /* How long raft waits for an InstallSnapshot to be answered before it
     * sends another (0 = raft's 30000 ms); a transfer that stops moving is
     * dropped after max(10 election timeouts, this). */
    uint32_t install_snapshot_timeout_ms;
    /* Bytes per state-transfer chunk (0 = 1 MiB, at most 1 MiB). */
    uint32_t xfer_chunk_bytes;
} rz_replica_options;

/* Opens a replica in the simulator: opens the log store in opts->dir,
 * loads it and starts raft. Caller owns *out. errmsg: RZ_ERRMSG_BYTES. */
int rz_replica_open_sim(rz_sim *sim, const rz_replica_options *opts,
                        rz_replica **out, char *errmsg);

/* The peer transport of the libuv environment, supplied by node/ (TCP
 * over the secure channel) or by a test. send hands one frame (consensus's
 * raft message codec, sender id and address inside) to the peer `to_id` at
 * `to_address`; best effort; it copies the bytes before returning. */
typedef struct rz_transport
{
    void *data;
    int (*send)(void *data, uint64_t to_id, const char *to_address,
                const void *frame, size_t len);
} rz_transport;

/* Opens a replica on a libuv loop: the log store in opts->dir behind the
 * group-commit writer, ticks on a loop timer, messages through t. Caller
 * owns *out until rz_replica_close's callback. */
int rz_replica_open_uv(uv_loop_t *loop, const rz_transport *t,
                       const rz_replica_options *opts, rz_replica **out,
                       char *errmsg);
/* Hands a frame received from a peer to the replica (on the loop thread).
 * The frame's sender must be `authenticated_id`, the id the peer's
 * credential names (DESIGN.md §5): RZ_EPERM otherwise, RZ_EMALFORMED for a
 * bad frame; either way nothing reaches raft. */
int rz_replica_deliver(rz_replica *r, uint64_t authenticated_id,
                       const void *frame, size_t len);
/* Graceful stop (libuv): writes already queued finish, pending requests
 * fail with RZ_ESHUTDOWN, then cb(arg) and the replica is freed. */
void rz_replica_close(rz_replica *r, void (*cb)(void *arg), void *arg);

/* A crash (kill -9): appends not yet durable are lost, pending requests
 * fail with RZ_ESHUTDOWN, the replica is freed. The state machine stays the
 * caller's (close and reopen it to simulate the state env after a crash). */
void rz_replica_crash(rz_replica *r);

typedef struct rz_member
{
    uint64_t id;
    const char *address;
    bool voter;
} rz_member;

/* Writes the first configuration to a pristine log (before the replica is
 * opened): RZ_EEXISTS if the log is not empty. Run on every initial member
 * with the same list. */
int rz_replica_bootstrap(const char *dir, const rz_member *members, size_t n,
                         char *errmsg);

/* Seeds a pristine log for a state env restored from a backup (the
 * `ratuszctl restore` step): the state already holds every command up to
 * `index` with `checksum` (rz_storage_checksum), so instead of a
 * configuration at index 1 (whose next entries the state would skip as
 * already applied) the log gets term 1 and a snapshot descriptor at raft
 * index `index` (state_index = index, the checksum, the given members as its
 * configuration). raft loads it at start, fsm_restore checks the state
 * against it, and the log continues at index + 1. RZ_EEXISTS if the log is
 * not empty, RZ_EINVAL for index 0 or a list without a voter. */
int rz_replica_bootstrap_at(const char *dir, const rz_member *members, size_t n,
                            uint64_t index, const uint8_t checksum[32],
                            char *errmsg);

/* Forces a new configuration onto a stopped replica's log after the
 * cluster lost its quorum for good (the `ratuszctl recover` step): run it
 * once, on the survivor with the highest term and longest log, then copy
 * its directory to the other survivors and start them. Appends one
 * configuration entry in the log's current term. RZ_ENOTFOUND on an empty
 * log, RZ_EINVAL for a list without a voter. */
int rz_replica_recover(const char *dir, const rz_member *members, size_t n,
                       char *errmsg);

/* ---- Proposals ---------------------------------------------------------- */

/* status: 0 (result/len hold the state machine's result bytes, borrowed for
 * the call; index is the command's raft index), RZ_ENOTLEADER (leader_id /
 * leader_address name the known leader, 0 / NULL if none),
 * RZ_ELEADERSHIPLOST (the outcome is unknown: the command may still be
 * committed), RZ_ESHUTDOWN, RZ_ENOSPACE / RZ_EIO (the log cannot be
 * written). */
typedef struct rz_propose_result
{
    int status;
    uint64_t index;
    const void *result;
    size_t len;
    uint64_t leader_id;
    const char *leader_address;
} rz_propose_result;
typedef void (*rz_propose_cb)(void *arg, const rz_propose_result *res);

typedef struct rz_proposal
{
    const void *cmd; /* copied */
    size_t len;      /* <= RZ_COMMAND_MAX_BYTES */
    rz_propose_cb cb;
    void *arg;
} rz_proposal;

/* Most commands in one batch (one raft_apply). */
#define RZ_PROPOSE_BATCH_MAX 256u

/* Proposes n commands as one raft_apply (n entries in the log, one command
 * each). Each callback fires exactly once, possibly before this returns
 * (RZ_ENOTLEADER). Returns 0 when the callbacks own the outcome, or RZ_EINVAL
 * / RZ_ETOOBIG for bad arguments (no callback fires). */
int rz_replica_propose(rz_replica *r, const rz_proposal *p, size_t n);

/* Read barrier: cb fires with status 0 once this replica has proven it is
 * the leader and applied everything committed before the call (then reads
 * of the state machine are linearizable), or with an error as for
 * proposals. With stale == true the read is served at once from any replica
 * (status 0) and may be stale. */
typedef void (*rz_read_cb)(void *arg, int status, uint64_t leader_id);
int rz_replica_read(rz_replica *r, bool stale, rz_read_cb cb, void *arg);

/* ---- Membership and leadership ------------------------------------------ */

typedef void (*rz_change_cb)(void *arg, int status);
/* Adds a server as a non-voter (it replicates the log, does not vote). */
int rz_replica_member_add(rz_replica *r, uint64_t id, const char *address,
                          rz_change_cb cb, void *arg);
/* Makes a non-voter a voter once it has caught up. */
int rz_replica_member_promote(rz_replica *r, uint64_t id, rz_change_cb cb,
                              void *arg);
int rz_replica_member_remove(rz_replica *r, uint64_t id, rz_change_cb cb,
                             void *arg);
/* Hands leadership to `id` (0 = any up-to-date voter). cb fires when the
 * transfer finished or gave up; check the leader afterwards. */
int rz_replica_transfer(rz_replica *r, uint64_t id, rz_change_cb cb, void *arg);

/* ---- Status -------------------------------------------------------------- */

typedef enum rz_role_state {
    RZ_REPLICA_UNAVAILABLE = 0,
    RZ_REPLICA_FOLLOWER = 1,
    RZ_REPLICA_CANDIDATE = 2,
    RZ_REPLICA_LEADER = 3
} rz_role_state;

typedef struct rz_member_status
{
    uint64_t id;
    bool voter;
    bool standby;                           /* non-voter that replicates */
    uint64_t match_index;                   /* leader only; 0 elsewhere */
    char address[RZ_ADDRESS_MAX_BYTES + 1]; /* as in the configuration */
} rz_member_status;

typedef struct rz_replica_status
{
    uint64_t id;
    int state; /* rz_role_state */
    uint64_t term;
    uint64_t voted_for;
    uint64_t leader_id;
    uint64_t commit_index;
    uint64_t applied_index;
    uint64_t last_index;
    uint64_t stored_index; /* last entry known durable on this node */
    bool disk_failed;      /* the io is retrying a failed write */
    /* The state machine failed an apply (a failed write of the state
     * env): this replica applies nothing more; its owner closes it and opens
     * it again from the durable log. */
    bool apply_failed;
    /* Followers: ms since the election timer was last reset by the
     * current leader (an AppendEntries or heartbeat); UINT64_MAX when there
     * is no known leader. 0 on the leader. Stale reads use it with
     * applied_index == commit_index to bound their staleness. */
    uint64_t leader_contact_age_ms;
    /* Snapshots and state transfer. */
    uint64_t snapshot_index;      /* last snapshot recorded, 0 = none */
    uint64_t snapshots_taken;     /* by this node since it started */
    uint64_t xfers_sent;          /* transfers a follower confirmed */
    uint64_t xfer_bytes_sent;     /* chunk bytes sent (resends included) */
    uint64_t xfers_installed;     /* transfers installed on this node */
    uint64_t xfers_aborted;       /* received transfers dropped */
    uint64_t xfer_bytes_received; /* chunk bytes written */
    size_t n_members;
    rz_member_status members[RZ_CONSENSUS_MAX_MEMBERS];
} rz_replica_status;

void rz_replica_status_get(rz_replica *r, rz_replica_status *out);

/* Durations in ns of the log's append txns (each ending with its fsyncs)
 * since the last call, up to max, oldest first (libuv environment; 0 in the
 * simulator). For ratuszd's ratusz_disk_log_fsync_duration_seconds. */
size_t rz_replica_log_sync_times(rz_replica *r, uint64_t *ns, size_t max);

/* Reads entry `index` of this replica's durable log (for checks and
 * tooling: the simulator compares logs with it). *term is 0 and *len 0 when
 * there is no such entry. *data is borrowed until the next call on the
 * replica. RZ_EIO / RZ_ECORRUPT on a log store failure. */
int rz_replica_log_entry(rz_replica *r, uint64_t index, uint64_t *term,
                         const void **data, size_t *len);

#endif /* RZ_CONSENSUS_H */
