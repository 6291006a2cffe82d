/* A replica: canonical/raft 0.15 over our raft_io, the state machine bound
 * through rz_sm, and the client-facing operations of consensus.h
 * (proposals, read barriers, membership, leadership transfer, status). */
#include "consensus/io.h"
#include "consensus/msg.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "common/limits.h"

/* A proposal waiting for its entry to be applied (leader only). */
typedef struct pending
{
    uint64_t index;
    uint64_t term;
    rz_propose_cb cb;
    void *arg;
} pending;

typedef struct apply_req
{
    struct raft_apply req;
    rz_replica *rep;
} apply_req;

typedef struct read_req
{
    struct raft_barrier req;
    rz_replica *rep;
    rz_read_cb cb;
    void *arg;
    int status;
    struct read_req *next;
} read_req;

/* A committed command waiting for the batch apply. */
typedef struct queued
{
    uint64_t index;
    uint8_t *cmd; /* copy */
    size_t len;
    bool ours; /* a proposal of this leader: cb/arg get the result */
    rz_propose_cb cb;
    void *arg;
    bool applied;  /* the state machine applied it (result below) */
    rz_buf result; /* its result, until the callback */
} queued;

typedef struct change_req
{
    struct raft_change req;
    rz_replica *rep;
    rz_change_cb cb;
    void *arg;
    uint64_t id;
    bool then_standby; /* add: assign STANDBY once the SPARE is in */
} change_req;

typedef struct transfer_req
{
    struct raft_transfer req;
    rz_replica *rep;
    rz_change_cb cb;
    void *arg;
} transfer_req;

struct rz_replica
{
    struct raft raft;
    struct raft_fsm fsm;
    rz_io_core core;
    rz_logstore *ls;
    rz_sim *sim;  /* simulator environment, or */
    rz_io_uv *uv; /* libuv environment */
    void (*user_close_cb)(void *arg);
    void *user_close_arg;
    rz_sm sm;
    uint64_t id;
    char address[RZ_ADDRESS_MAX_BYTES + 1];
    uint32_t mitigations_off;
    bool closed;
    bool failed; /* the state machine failed: the replica stopped */

    struct raft_transfer disk_transfer;
    bool disk_transfer_busy;
    uint64_t disk_transfer_last_ms;

    /* Commands raft applied during the current raft call, applied to the
     * state machine in one batch when raft returns (flush_applies). */
    struct queued *q;
    size_t n_q, cap_q;
    size_t n_applied;                /* q[0..n_applied) are applied */
    struct read_req *deferred_reads; /* barrier callbacks behind the batch */

    pending *pend; /* ring buffer ordered by index */
    size_t pend_head, pend_n, pend_cap;
    rz_buf result;
};

static void flush_applies(rz_replica *rep);

/* Most proposals in flight on one leader. */
#define PENDING_MAX 65536u

static int rz_code_of(int raft_rv)
{
    switch (raft_rv) {
    case 0:
        return 0;
    case RAFT_NOTLEADER:
        return RZ_ENOTLEADER;
    case RAFT_LEADERSHIPLOST:
        return RZ_ELEADERSHIPLOST;
    case RAFT_SHUTDOWN:
    case RAFT_CANCELED:
        return RZ_ESHUTDOWN;
    case RAFT_NOMEM:
        return RZ_ENOMEM;
    case RAFT_NOSPACE:
        return RZ_ENOSPACE;
    case RAFT_IOERR:
        return RZ_EIO;
    case RAFT_CANTCHANGE:
    case RAFT_BUSY:
        return RZ_EBUSY;
    case RAFT_BADID:
    case RAFT_NOTFOUND:
        return RZ_ENOTFOUND;
    case RAFT_DUPLICATEID:
    case RAFT_DUPLICATEADDRESS:
        return RZ_EEXISTS;
    default:
        return RZ_EINVAL;
    }
}

/* ---- Pending proposals ------------------------------------------------- */

static pending *pend_at(rz_replica *rep, size_t i)
{
    return &rep->pend[(rep->pend_head + i) % rep->pend_cap];
}

static int pend_push(rz_replica *rep, const pending *p)
{
    if (rep->pend_n == rep->pend_cap) {
        size_t cap = rep->pend_cap > 0 ? rep->pend_cap * 2 : 64;
        pending *np;
        size_t i;
        if (cap > PENDING_MAX) {
            return RZ_EBUSY;
        }
        np = malloc(cap * sizeof *np);
        if (np == NULL) {
            return RZ_ENOMEM;
        }
        for (i = 0; i < rep->pend_n; i++) {
            np[i] = *pend_at(rep, i);
        }
        free(rep->pend);
        rep->pend = np;
        rep->pend_cap = cap;
        rep->pend_head = 0;
    }
    if (rep->pend_n > 0) {
        RZ_ASSERT(pend_at(rep, rep->pend_n - 1)->index < p->index);
    }
    *pend_at(rep, rep->pend_n) = *p;
    rep->pend_n++;
    return 0;
}

static pending pend_pop(rz_replica *rep)
{
    pending p;
    RZ_PRE(rep->pend_n > 0);
    p = *pend_at(rep, 0);
    rep->pend_head = (rep->pend_head + 1) % rep->pend_cap;
    rep->pend_n--;
    return p;
}

static void leader_of(rz_replica *rep, rz_propose_result *res)
{
    raft_id id = 0;
    const char *addr = NULL;
    raft_leader(&rep->raft, &id, &addr);
    res->leader_id = id;
    res->leader_address = addr;
}

/* Fails every pending proposal with `status`. */
static void pend_fail_all(rz_replica *rep, int status)
{
    size_t guard = rep->pend_n;
    while (rep->pend_n > 0 && guard-- > 0) {
        pending p = pend_pop(rep);
        rz_propose_result res;
        memset(&res, 0, sizeof res);
        res.status = status;
        res.index = p.index;
        if (!rep->closed) {
            leader_of(rep, &res);
        }
        p.cb(p.arg, &res);
    }
}

/* The io core calls this after every return from raft: a leader that lost
 * its term can no longer learn the outcome of its proposals. */
static void disk_transfer_cb(struct raft_transfer *req)
{
    rz_replica *rep = req->data;
    rep->disk_transfer_busy = false;
}

/* A leader whose log cannot be written cannot take proposals (DESIGN.md
 * §6: the node refuses writes with a clear error); after an election
 * timeout of that it hands leadership to a follower so the cluster stays
 * available. */
static void maybe_hand_over(rz_replica *rep)
{
    struct raft *r = &rep->raft;
    uint64_t since = rep->core.disk_failing_since_ms;
    uint64_t now = r->io->time(r->io);
    if (since == 0 || r->state != RAFT_LEADER || rep->disk_transfer_busy ||
        r->transfer != NULL) {
        return;
    }
    if (now - since < r->election_timeout ||
        now - rep->disk_transfer_last_ms < r->election_timeout) {
        return;
    }
    rep->disk_transfer.data = rep;
    rep->disk_transfer_last_ms = now;
    if (raft_transfer(r, &rep->disk_transfer, 0, disk_transfer_cb) == 0) {
        rep->disk_transfer_busy = true;
    }
}

static void after_raft(void *arg)
{
    rz_replica *rep = arg;
    flush_applies(rep);
    maybe_hand_over(rep);
    if (rep->pend_n == 0) {
        return;
    }
    if (rep->raft.state != RAFT_LEADER ||
        rep->raft.current_term != pend_at(rep, 0)->term) {
        pend_fail_all(rep, RZ_ELEADERSHIPLOST);
    }
}

/* ---- FSM --------------------------------------------------------------- */

static int fsm_apply(struct raft_fsm *fsm, const struct raft_buffer *buf,
                     void **result)
{
    rz_replica *rep = fsm->data;
    /* raft 0.15 does not pass the index: it applies entries in order and
     * sets last_applied after this returns. */
    uint64_t index = raft_last_applied(&rep->raft) + 1;
    queued *qe;

    *result = NULL;
    if (rep->failed) {
        return RAFT_IOERR;
    }
    /* After a restart the state may already cover this entry (the state env
     * commits each batch with its applied_index). */
    if (index <= rep->sm.applied_index(rep->sm.data)) {
        return 0;
    }
    if (rep->n_q == rep->cap_q) {
        size_t cap = rep->cap_q > 0 ? rep->cap_q * 2 : 64;
        queued *nq = realloc(rep->q, cap * sizeof *nq);
        if (nq == NULL) {
            return RAFT_NOMEM;
        }
        rep->q = nq;
        rep->cap_q = cap;
    }
    qe = &rep->q[rep->n_q];
    memset(qe, 0, sizeof *qe);
    qe->index = index;
    qe->len = buf->len;
    qe->cmd = malloc(buf->len > 0 ? buf->len : 1);
    if (qe->cmd == NULL) {
        return RAFT_NOMEM;
    }
    memcpy(qe->cmd, buf->base, buf->len);
    /* Ours only while we still lead in the term we proposed it in: a leader
     * never truncates its own log within its term. Decided now, while raft
     * applies it, not when the batch runs. */
    if (rep->pend_n > 0 && pend_at(rep, 0)->index == index &&
        rep->raft.state == RAFT_LEADER &&
        rep->raft.current_term == pend_at(rep, 0)->term) {
        pending p = pend_pop(rep);
        qe->ours = true;
        qe->cb = p.cb;
        qe->arg = p.arg;
    }
    rep->n_q++;
    return 0;
}

/* Applies the queued commands not applied yet in batches of at most
 * RZ_PROPOSE_BATCH_MAX (one state machine step each), keeping their
 * results; no callback runs here, so raft may call it (fsm_snapshot needs
 * the state at raft's last_applied). */
static void apply_queued(rz_replica *rep)
{
    /* On the stack (10 KB), not static: flushes of two replicas may nest. */
    rz_buf results[RZ_PROPOSE_BATCH_MAX];
    rz_sm_entry e[RZ_PROPOSE_BATCH_MAX];
    size_t i;

    while (rep->n_applied < rep->n_q) {
        size_t first = rep->n_applied;
        size_t n = rep->n_q - first;
        int rv = 0;
        if (n > RZ_PROPOSE_BATCH_MAX) {
            n = RZ_PROPOSE_BATCH_MAX;
        }
        for (i = 0; i < n; i++) {
            queued *qe = &rep->q[first + i];
            e[i].index = qe->index;
            e[i].cmd = qe->cmd;
            e[i].len = qe->len;
            rz_buf_init(&results[i], RZ_FRAME_MAX_BYTES);
        }
        if (!rep->failed) {
            rv = rep->sm.apply_batch(rep->sm.data, e, n, results);
        }
        if (rv != 0 || rep->failed) {
            /* The state machine failed: nothing of the batch was applied;
             * carrying on would diverge, so the replica stops applying. */
            rep->failed = true;
        }
        for (i = 0; i < n; i++) {
            queued *qe = &rep->q[first + i];
            qe->applied = true;
            qe->result = results[i]; /* moves the buffer */
        }
        rep->n_applied += n;
    }
}

/* Applies the commands raft applied during its last call (apply_queued),
 * answers the proposals among them, then the read barriers that waited
 * behind them. Runs whenever raft returns to us, so a crash never finds a
 * batch. */
static void flush_applies(rz_replica *rep)
{
    size_t i;

    apply_queued(rep);
    for (i = 0; i < rep->n_q; i++) {
        queued *qe = &rep->q[i];
        RZ_ASSERT(qe->applied);
        if (qe->ours) {
            rz_propose_result res;
            memset(&res, 0, sizeof res);
            res.status = rep->failed ? RZ_EIO : 0;
            res.index = qe->index;
            res.result = qe->result.data;
            res.len = qe->result.len;
            qe->cb(qe->arg, &res);
        }
        free(qe->cmd);
        rz_buf_close(&qe->result);
    }
    rep->n_q = 0;
    rep->n_applied = 0;
    while (rep->deferred_reads != NULL) {
        read_req *rr = rep->deferred_reads;
        raft_id id = 0;
        const char *addr = NULL;
        rep->deferred_reads = rr->next;
        raft_leader(&rep->raft, &id, &addr);
        rr->cb(rr->arg, rep->failed ? RZ_EIO : rr->status, id);
        free(rr);
    }
}

/* Shutdown or crash: nothing queued is applied (a restart replays it from
 * the log); its proposals and reads end with RZ_ESHUTDOWN. */
static void drop_queue(rz_replica *rep)
{
    size_t i;
    for (i = 0; i < rep->n_q; i++) {
        queued *qe = &rep->q[i];
        if (qe->ours) {
            rz_propose_result res;
            memset(&res, 0, sizeof res);
            res.status = RZ_ESHUTDOWN;
            res.index = qe->index;
            qe->cb(qe->arg, &res);
        }
        free(qe->cmd);
        if (qe->applied) {
            rz_buf_close(&qe->result);
        }
    }
    rep->n_q = 0;
    rep->n_applied = 0;
    free(rep->q);
    rep->q = NULL;
    rep->cap_q = 0;
    while (rep->deferred_reads != NULL) {
        read_req *rr = rep->deferred_reads;
        rep->deferred_reads = rr->next;
        rr->cb(rr->arg, RZ_ESHUTDOWN, 0);
        free(rr);
    }
}

/* raft takes a snapshot at its last_applied: the state machine catches up
 * with the commands queued in this raft call, is synced (DESIGN.md §4: the
 * state env is durable before the log store discards entries it covers),
 * and raft gets a descriptor of it, never the state. */
static int fsm_snapshot(struct raft_fsm *fsm, struct raft_buffer *bufs[],
                        unsigned *n_bufs)
{
    rz_replica *rep = fsm->data;
    rz_snap_desc d;
    uint64_t at = 0;
    struct raft_buffer *b;
    int rv;

    apply_queued(rep);
    if (rep->failed || rep->sm.sync == NULL) {
        return RAFT_BUSY; /* raft tries again later; the log keeps growing */
    }
    /* raft 0.15's takeSnapshot records its CURRENT configuration under the
     * index of the last COMMITTED one: while a change is uncommitted that
     * would make an uncommitted configuration look committed (fixed
     * upstream after 0.15, 2ed5d42 / baa8f52). Wait for the change to
     * commit; mitigation 7 also relies on the snapshot's configuration
     * being the committed one. */
    if (rep->raft.configuration_uncommitted_index != 0) {
        return RAFT_BUSY;
    }
    /* raft marks a configuration committed when its commit index passes
     * it, before it applies it: a snapshot at last_applied would name a
     * configuration from beyond its own index. Wait for the apply. */
    if (rep->raft.configuration_index > raft_last_applied(&rep->raft)) {
        return RAFT_BUSY;
    }
    rv = rep->sm.sync(rep->sm.data);
    if (rv == 0) {
        rv = rep->sm.checksum(rep->sm.data, d.checksum, &at);
    }
    if (rv != 0) {
        rz_log(RZ_LOG_ERROR, "snapshot: state sync failed", "err=%s",
               rz_strerror(rv));
        return RAFT_BUSY;
    }
    /* Every command up to raft's last_applied is in the state now (or was
     * skipped because the state already held it): the state at `at` is the
     * state at last_applied (snapshot.h). */
    d.index = raft_last_applied(&rep->raft);
    d.state_index = at;
    b = raft_malloc(sizeof *b);
    if (b == NULL) {
        return RAFT_NOMEM;
    }
    b->base = raft_malloc(RZ_SNAP_DESC_BYTES);
    if (b->base == NULL) {
        raft_free(b);
        return RAFT_NOMEM;
    }
    b->len = RZ_SNAP_DESC_BYTES;
    rz_snap_desc_encode(&d, b->base);
    *bufs = b;
    *n_bufs = 1;
    return 0;
}

/* raft restores a snapshot at start (the log store's descriptor) or after
 * installing one from the leader. The state is already there (the state
 * env, or the copy the transfer installed before raft saw the message):
 * this only checks that it covers the descriptor, and that it is the
 * same state when it is at the same index. Takes buf->base. */
static int fsm_restore(struct raft_fsm *fsm, struct raft_buffer *buf)
{
    rz_replica *rep = fsm->data;
    rz_snap_desc d;
    uint8_t sum[32];
    uint64_t at = 0;
    /* buf->base becomes ours only on success: on an error raft frees it. */
    int rv = rz_snap_desc_decode(buf->base, buf->len, &d);
    if (rv != 0) {
        rz_log(RZ_LOG_ERROR, "snapshot descriptor is malformed", NULL);
        return RAFT_CORRUPT;
    }
    RZ_ASSERT(rep->n_q == 0);
    if (rep->sm.checksum == NULL) {
        /* A state machine without checksums: only the index is checked. */
        at = rep->sm.applied_index(rep->sm.data);
        memset(sum, 0, sizeof sum);
    } else if (rep->sm.checksum(rep->sm.data, sum, &at) != 0) {
        return RAFT_IOERR;
    }
    if (at < d.state_index) {
        rz_log(RZ_LOG_ERROR,
               "the state env is behind the raft log's snapshot: restore "
               "state.mdb from a backup or remove raft.mdb and state.mdb to "
               "rejoin as a new member",
               "state_index=%llu snapshot_state_index=%llu",
               (unsigned long long)at, (unsigned long long)d.state_index);
        return RAFT_CORRUPT;
    }
    if (rep->sm.checksum != NULL && at == d.state_index &&
        memcmp(sum, d.checksum, 32) != 0) {
        rz_log(RZ_LOG_ERROR,
               "the state env differs from the snapshot taken at its index",
               "state_index=%llu", (unsigned long long)at);
        return RAFT_CORRUPT;
    }
    raft_free(buf->base);
    return 0;
}

/* ---- Open / close ------------------------------------------------------ */

static int config_of(const rz_member *members, size_t n,
                     struct raft_configuration *conf)
{
    size_t i;
    raft_configuration_init(conf);
    for (i = 0; i < n; i++) {
        int rv = raft_configuration_add(conf, members[i].id, members[i].address,
                                        members[i].voter ? RAFT_VOTER
                                                         : RAFT_STANDBY);
        if (rv != 0) {
            raft_configuration_close(conf);
            return rz_code_of(rv);
        }
    }
    return 0;
}

int rz_replica_bootstrap(const char *dir, const rz_member *members, size_t n,
                         char *errmsg)
{
    struct raft_configuration conf;
    rz_logstore *ls = NULL;
    int rv;

    if (dir == NULL || members == NULL || n == 0 ||
        n > RZ_CONSENSUS_MAX_MEMBERS) {
        rz_errmsg_set(errmsg,
                      "bootstrap needs a directory and 1 to %u "
                      "members",
                      RZ_CONSENSUS_MAX_MEMBERS);
        return RZ_EINVAL;
    }
    rv = config_of(members, n, &conf);
    if (rv != 0) {
        rz_errmsg_set(errmsg, "bad member list: %s", rz_strerror(rv));
        return rv;
    }
    rv = rz_logstore_open(dir, NULL, &ls, errmsg);
    if (rv == 0) {
        rv = rz_io__bootstrap(ls, &conf);
        if (rv != 0) {
            rz_errmsg_set(errmsg, "bootstrap %s: %s", dir, rz_strerror(rv));
        }
        rz_logstore_close(ls);
    }
    raft_configuration_close(&conf);
    return rv;
}

int rz_replica_bootstrap_at(const char *dir, const rz_member *members, size_t n,
                            uint64_t index, const uint8_t checksum[32],
                            char *errmsg)
{
    struct raft_configuration conf;
    struct raft_buffer buf = {NULL, 0};
    rz_logstore *ls = NULL;
    rz_log_state st;
    rz_log_snapshot snap;
    bool voter = false;
    size_t i;
    int rv;

    if (dir == NULL || members == NULL || n == 0 ||
        n > RZ_CONSENSUS_MAX_MEMBERS || index == 0 || checksum == NULL) {
        rz_errmsg_set(errmsg,
                      "bootstrap at an index needs a directory, 1 to %u "
                      "members, an index above 0 and the state checksum",
                      RZ_CONSENSUS_MAX_MEMBERS);
        return RZ_EINVAL;
    }
    for (i = 0; i < n; i++) {
        voter = voter || members[i].voter;
    }
    if (!voter) {
        rz_errmsg_set(errmsg, "the configuration needs a voter");
        return RZ_EINVAL;
    }
    rv = config_of(members, n, &conf);
    if (rv != 0) {
        rz_errmsg_set(errmsg, "bad member list: %s", rz_strerror(rv));
        return rv;
    }
    rv = rz_io__encode_conf(&conf, &buf);
    raft_configuration_close(&conf);
    if (rv != 0) {
        rz_errmsg_set(errmsg, "encode the configuration: %s", rz_strerror(rv));
        return rv;
    }
    rv = rz_logstore_open(dir, NULL, &ls, errmsg);
    if (rv != 0) {
        raft_free(buf.base);
        return rv;
    }
    rv = rz_logstore_load(ls, &st);
    if (rv == 0 && (st.term != 0 || st.last_index != 0 || st.has_snapshot)) {
        rz_errmsg_set(errmsg, "%s: the raft log is not empty", dir);
        rv = RZ_EEXISTS;
    } else if (rv != 0) {
        rz_errmsg_set(errmsg, "load %s: %s", dir, rz_strerror(rv));
    }
    if (rv == 0) {
        /* The descriptor first, then the term: a crash in between leaves a
         * log with a snapshot and term 0, which the next bootstrap_at
         * refuses (not empty) rather than silently starting at index 1. */
        memset(&snap, 0, sizeof snap);
        snap.index = index;
        snap.term = 1;
        snap.conf_index = index;
        snap.conf = buf.base;
        snap.conf_len = buf.len;
        snap.state_index = index;
        memcpy(snap.checksum, checksum, 32);
        rv = rz_logstore_snapshot_put(ls, &snap, 0);
        if (rv == 0) {
            rv = rz_logstore_set_term(ls, 1);
        }
        if (rv != 0) {
            rz_errmsg_set(errmsg, "bootstrap %s at %llu: %s (%s)", dir,
                          (unsigned long long)index, rz_strerror(rv),
                          rz_logstore_errmsg(ls));
        }
    }
    rz_logstore_close(ls);
    raft_free(buf.base);
    return rv;
}

int rz_replica_recover(const char *dir, const rz_member *members, size_t n,
                       char *errmsg)
{
    struct raft_configuration conf;
    rz_logstore *ls = NULL;
    bool voter = false;
    size_t i;
    int rv;

    if (dir == NULL || members == NULL || n == 0 ||
        n > RZ_CONSENSUS_MAX_MEMBERS) {
        rz_errmsg_set(errmsg, "recover needs a directory and 1 to %u members",
                      RZ_CONSENSUS_MAX_MEMBERS);
        return RZ_EINVAL;
    }
    for (i = 0; i < n; i++) {
        voter = voter || members[i].voter;
    }
    if (!voter) {
        rz_errmsg_set(errmsg, "the recovered configuration needs a voter");
        return RZ_EINVAL;
    }
    rv = config_of(members, n, &conf);
    if (rv != 0) {
        rz_errmsg_set(errmsg, "bad member list: %s", rz_strerror(rv));
        return rv;
    }
    rv = rz_logstore_open(dir, NULL, &ls, errmsg);
    if (rv == 0) {
        rv = rz_io__recover(ls, &conf);
        if (rv != 0) {
            rz_errmsg_set(errmsg, "recover %s: %s", dir, rz_strerror(rv));
        }
        rz_logstore_close(ls);
    }
    raft_configuration_close(&conf);
    return rv;
}

static void close_cb(struct raft *r)
{
    rz_replica *rep = r->data;
    rep->closed = true;
}

static int check_options(const rz_replica_options *opts, char *errmsg)
{
    if (opts == NULL || opts->id == 0 || opts->dir == NULL ||
        opts->address == NULL || strlen(opts->address) > RZ_ADDRESS_MAX_BYTES ||
        opts->sm.apply_batch == NULL || opts->sm.applied_index == NULL) {
        rz_errmsg_set(errmsg, "replica options are incomplete");
        return RZ_EINVAL;
    }
    return 0;
}

static rz_replica *replica_new(const rz_replica_options *opts)
{
    rz_replica *rep = calloc(1, sizeof *rep);
    if (rep == NULL) {
        return NULL;
    }
    rep->id = opts->id;
    rep->sm = opts->sm;
    rep->mitigations_off = opts->mitigations_off;
    snprintf(rep->address, sizeof rep->address, "%s", opts->address);
    rz_buf_init(&rep->result, RZ_FRAME_MAX_BYTES);
    return rep;
}

static int open_log(rz_replica *rep, const rz_replica_options *opts,
                    char *errmsg)
{
    rz_logstore_options lopts;
    memset(&lopts, 0, sizeof lopts);
    lopts.map_size_bytes = opts->log_map_size_bytes;
    lopts.unsafe_no_sync = opts->log_unsafe_no_sync;
    return rz_logstore_open(opts->dir, &lopts, &rep->ls, errmsg);
}

/* raft_init + options + raft_start over an initialised io core. */
static int start_raft(rz_replica *rep, const rz_replica_options *opts,
                      char *errmsg)
{
    int rv;
    rep->core.tick_ms = opts->tick_ms > 0 ? opts->tick_ms : 20;
    rep->core.after = after_raft;
    rep->core.after_arg = rep;
    rep->fsm.version = 1;
    rep->fsm.data = rep;
    rep->fsm.apply = fsm_apply;
    rep->fsm.snapshot = fsm_snapshot;
    rep->fsm.restore = fsm_restore;
    rv =
        raft_init(&rep->raft, &rep->core.io, &rep->fsm, opts->id, rep->address);
    if (rv != 0) {
        rz_errmsg_set(errmsg, "raft_init: %s", raft_strerror(rv));
        return rz_code_of(rv);
    }
    rep->raft.data = rep;
    raft_set_election_timeout(&rep->raft, opts->election_timeout_ms > 0
                                              ? opts->election_timeout_ms
                                              : 1000);
    /* Pre-vote (Raft thesis §9.6): a node that was down or cut off and
     * comes back first asks whether it could win before it raises its
     * term, so a rejoining follower whose timer fires before the leader's
     * heartbeats reach it no longer makes the leader step down (seen in
     * fault_peer_flap: three elections after one follower restart). */
    raft_set_pre_vote(&rep->raft,
                      (opts->mitigations_off & RZ_MITIGATE_PRE_VOTE) == 0);
    raft_set_heartbeat_timeout(&rep->raft, opts->heartbeat_timeout_ms > 0
                                               ? opts->heartbeat_timeout_ms
                                               : 100);
    if (opts->sm.sync != NULL && opts->sm.checksum != NULL) {
        raft_set_snapshot_threshold(&rep->raft, opts->snapshot_threshold > 0
                                                    ? opts->snapshot_threshold
                                                    : 100000u);
        raft_set_snapshot_trailing(&rep->raft, opts->snapshot_trailing > 0
                                                   ? opts->snapshot_trailing
                                                   : 50000u);
    } else {
        /* No way to make the state durable first: never compact. */
        raft_set_snapshot_threshold(&rep->raft, UINT_MAX);
    }
    if (opts->install_snapshot_timeout_ms > 0) {
        raft_set_install_snapshot_timeout(&rep->raft,
                                          opts->install_snapshot_timeout_ms);
    }
    rv = rz_io__xfer_init(&rep->core, &rep->sm, opts->dir,
                          opts->xfer_chunk_bytes);
    if (rv != 0) {
        rz_errmsg_set(errmsg, "state transfer setup: %s", rz_strerror(rv));
        return rv;
    }
    rv = raft_start(&rep->raft);
    if (rv != 0) {
        rz_errmsg_set(errmsg, "raft_start: %s (%s)", raft_strerror(rv),
                      raft_errmsg(&rep->raft));
        return rz_code_of(rv) != 0 ? rz_code_of(rv) : RZ_EIO;
    }
    flush_applies(rep); /* a lone voter applies during raft_start */
    return 0;
}

int rz_replica_open_sim(rz_sim *sim, const rz_replica_options *opts,
                        rz_replica **out, char *errmsg)
{
    rz_replica *rep;
    const rz_io_backend_ops *ops;
    void *backend;
    int rv;

    if (sim == NULL) {
        return RZ_EINVAL;
    }
    rv = check_options(opts, errmsg);
    if (rv != 0) {
        return rv;
    }
    rep = replica_new(opts);
    if (rep == NULL) {
        return RZ_ENOMEM;
    }
    rep->sim = sim;
    rv = open_log(rep, opts, errmsg);
    if (rv != 0) {
        goto err_after_alloc;
    }
    rv =
        rz_sim__attach(sim, opts->id, rep->address, &rep->core, &ops, &backend);
    if (rv != 0) {
        rz_errmsg_set(errmsg, "node %llu is already running",
                      (unsigned long long)opts->id);
        goto err_after_logstore;
    }
    rz_io__init(&rep->core, opts->id, rep->ls, ops, backend,
                opts->mitigations_off);
    rv = start_raft(rep, opts, errmsg);
    if (rv != 0) {
        /* The simulator's io closes synchronously. */
        raft_close(&rep->raft, close_cb);
        rz_sim__detach(sim, opts->id);
        rz_io__fini(&rep->core);
        goto err_after_logstore;
    }
    *out = rep;
    return 0;

err_after_logstore:
    rz_logstore_close(rep->ls);
err_after_alloc:
    rz_buf_close(&rep->result);
    free(rep);
    return rv;
}

static void uv_closed_cb(struct raft *r)
{
    rz_replica *rep = r->data;
    void (*cb)(void *) = rep->user_close_cb;
    void *arg = rep->user_close_arg;
    rep->closed = true;
    drop_queue(rep);
    pend_fail_all(rep, RZ_ESHUTDOWN);
    rz_io__fini(&rep->core);
    rz_io_uv__destroy(rep->uv);
    rz_logstore_close(rep->ls);
    rz_buf_close(&rep->result);
    free(rep->pend);
    free(rep);
    if (cb != NULL) {
        cb(arg);
    }
}

int rz_replica_open_uv(uv_loop_t *loop, const rz_transport *t,
                       const rz_replica_options *opts, rz_replica **out,
                       char *errmsg)
{
    rz_replica *rep;
    const rz_io_backend_ops *ops;
    int rv;

    if (loop == NULL || t == NULL || t->send == NULL) {
        return RZ_EINVAL;
    }
    rv = check_options(opts, errmsg);
    if (rv != 0) {
        return rv;
    }
    rep = replica_new(opts);
    if (rep == NULL) {
        return RZ_ENOMEM;
    }
    rv = open_log(rep, opts, errmsg);
    if (rv != 0) {
        rz_buf_close(&rep->result);
        free(rep);
        return rv;
    }
    rv = rz_io_uv__create(loop, rep->ls, t, opts->id, rep->address, &rep->core,
                          &ops, &rep->uv);
    if (rv != 0) {
        rz_errmsg_set(errmsg, "start the log writer: %s", rz_strerror(rv));
        rz_logstore_close(rep->ls);
        rz_buf_close(&rep->result);
        free(rep);
        return rv;
    }
    rz_io__init(&rep->core, opts->id, rep->ls, ops, rep->uv,
                opts->mitigations_off);
    rv = start_raft(rep, opts, errmsg);
    if (rv != 0) {
        /* Closing is asynchronous here; the replica frees itself. */
        raft_close(&rep->raft, uv_closed_cb);
        return rv;
    }
    *out = rep;
    return 0;
}

void rz_replica_close(rz_replica *rep, void (*cb)(void *arg), void *arg)
{
    RZ_PRE(rep != NULL && rep->uv != NULL);
    rep->user_close_cb = cb;
    rep->user_close_arg = arg;
    raft_close(&rep->raft, uv_closed_cb);
}

int rz_replica_deliver(rz_replica *rep, uint64_t authenticated_id,
                       const void *frame, size_t len)
{
    struct raft_message m;
    char address[RZ_MSG_ADDRESS_MAX_BYTES + 1];
    int rv;

    if (rep == NULL || frame == NULL || rep->closed) {
        return RZ_EINVAL;
    }
    if (rz_xfer_frame_is(frame, len)) {
        /* State transfer: decoded twice (here for the sender, in the core
         * for the body), cheap next to the chunk's disk write. */
        rz_xfer_msg xm;
        rv = rz_xfer_msg_decode(frame, len, &xm);
        if (rv != 0) {
            return rv;
        }
        if (xm.sender != authenticated_id) {
            return RZ_EPERM;
        }
        rz_io__recv_xfer(&rep->core, frame, len);
        return 0;
    }
    rv = rz_msg_decode(frame, len, &m, address, sizeof address);
    if (rv != 0) {
        return rv;
    }
    if (m.server_id != authenticated_id) {
        rz_msg_release(&m);
        return RZ_EPERM;
    }
    rz_io__recv(&rep->core, &m);
    return 0;
}

void rz_replica_crash(rz_replica *rep)
{
    if (rep == NULL) {
        return;
    }
    /* raft fails its requests (our callbacks run), the io drops every
     * append not yet durable and gives raft its references back. */
    raft_close(&rep->raft, close_cb);
    RZ_ASSERT(rep->closed);
    drop_queue(rep);
    pend_fail_all(rep, RZ_ESHUTDOWN);
    rz_sim__detach(rep->sim, rep->id);
    rz_io__fini(&rep->core);
    rz_logstore_close(rep->ls);
    rz_buf_close(&rep->result);
    free(rep->pend);
    free(rep);
}

/* ---- Proposals --------------------------------------------------------- */

static void apply_cb(struct raft_apply *req, int status, void *result)
{
    apply_req *ar = (apply_req *)req;
    (void)result;
    (void)status;
    /* Outcomes are delivered per entry from fsm_apply (raft 0.15 calls this
     * once, for the first entry of the batch) or by after_raft/crash. */
    free(ar);
}

static void fail_now(const rz_proposal *p, size_t n, int status,
                     rz_replica *rep)
{
    size_t i;
    for (i = 0; i < n; i++) {
        rz_propose_result res;
        memset(&res, 0, sizeof res);
        res.status = status;
        leader_of(rep, &res);
        p[i].cb(p[i].arg, &res);
    }
}

int rz_replica_propose(rz_replica *rep, const rz_proposal *p, size_t n)
{
    struct raft_buffer bufs[RZ_PROPOSE_BATCH_MAX];
    apply_req *ar;
    size_t i;
    uint64_t first;
    uint64_t term;
    int rv;

    if (rep == NULL || p == NULL || n == 0 || n > RZ_PROPOSE_BATCH_MAX) {
        return RZ_EINVAL;
    }
    for (i = 0; i < n; i++) {
        if (p[i].cb == NULL || p[i].cmd == NULL || p[i].len == 0) {
            return RZ_EINVAL;
        }
        if (p[i].len > RZ_COMMAND_MAX_BYTES) {
            return RZ_ETOOBIG;
        }
    }
    if (rep->failed) {
        fail_now(p, n, RZ_EIO, rep);
        return 0;
    }
    if (rep->raft.state != RAFT_LEADER) {
        fail_now(p, n, RZ_ENOTLEADER, rep);
        return 0;
    }
    if (rep->core.disk_failing_since_ms != 0) {
        fail_now(p, n, rep->core.disk_status, rep);
        return 0;
    }
    if (rep->pend_n + n > PENDING_MAX) {
        fail_now(p, n, RZ_EBUSY, rep);
        return 0;
    }
    ar = calloc(1, sizeof *ar);
    if (ar == NULL) {
        return RZ_ENOMEM;
    }
    ar->rep = rep;
    for (i = 0; i < n; i++) {
        bufs[i].base = raft_malloc(p[i].len);
        bufs[i].len = p[i].len;
        if (bufs[i].base == NULL) {
            while (i-- > 0) {
                raft_free(bufs[i].base);
            }
            free(ar);
            return RZ_ENOMEM;
        }
        memcpy(bufs[i].base, p[i].cmd, p[i].len);
    }
    term = rep->raft.current_term;
    rv = raft_apply(&rep->raft, &ar->req, bufs, (unsigned)n, apply_cb);
    if (rv != 0) {
        for (i = 0; i < n; i++) {
            raft_free(bufs[i].base);
        }
        free(ar);
        fail_now(p, n, rz_code_of(rv), rep);
        return 0;
    }
    first = ar->req.index;
    for (i = 0; i < n; i++) {
        pending pe;
        pe.index = first + i;
        pe.term = term;
        pe.cb = p[i].cb;
        pe.arg = p[i].arg;
        /* Room was checked above. */
        RZ_ASSERT(pend_push(rep, &pe) == 0);
    }
    return 0;
}

/* ---- Reads ------------------------------------------------------------- */

static void read_cb(struct raft_barrier *req, int status)
{
    read_req *rr = (read_req *)req;
    raft_id id = 0;
    const char *addr = NULL;
    /* The commands before the barrier may still wait in the batch: the
     * read must see them, so it runs after flush_applies (appended in
     * order, the list is short). */
    if (status == 0 && rr->rep->n_q > 0) {
        read_req **tail = &rr->rep->deferred_reads;
        while (*tail != NULL) {
            tail = &(*tail)->next;
        }
        rr->status = 0;
        rr->next = NULL;
        *tail = rr;
        return;
    }
    if (!rr->rep->closed) {
        raft_leader(&rr->rep->raft, &id, &addr);
    }
    rr->cb(rr->arg, rz_code_of(status), id);
    free(rr);
}

int rz_replica_read(rz_replica *rep, bool stale, rz_read_cb cb, void *arg)
{
    read_req *rr;
    raft_id id = 0;
    const char *addr = NULL;
    int rv;

    if (rep == NULL || cb == NULL) {
        return RZ_EINVAL;
    }
    raft_leader(&rep->raft, &id, &addr);
    if (stale) {
        cb(arg, 0, id);
        return 0;
    }
    if (rep->raft.state != RAFT_LEADER) {
        cb(arg, RZ_ENOTLEADER, id);
        return 0;
    }
    /* Mitigation 4 (dqlite#386; Raft paper §6.4, §8): a leader that was
     * deposed without knowing it would serve stale state. A barrier entry
     * commits only while this replica still leads, and its callback runs
     * once everything before it is applied. Off (tests only): trust the
     * local belief of leadership, as a naive server would. */
    if ((rep->mitigations_off & RZ_MITIGATE_READ_BARRIER) != 0) {
        cb(arg, 0, id);
        return 0;
    }
    rr = calloc(1, sizeof *rr);
    if (rr == NULL) {
        return RZ_ENOMEM;
    }
    rr->rep = rep;
    rr->cb = cb;
    rr->arg = arg;
    rv = raft_barrier(&rep->raft, &rr->req, read_cb);
    if (rv != 0) {
        free(rr);
        cb(arg, rz_code_of(rv), id);
    }
    return 0;
}

/* ---- Membership and leadership ----------------------------------------- */

static void change_cb(struct raft_change *req, int status)
{
    change_req *cr = (change_req *)req;
    if (status == 0 && cr->then_standby && !cr->rep->closed) {
        int rv;
        cr->then_standby = false;
        rv = raft_assign(&cr->rep->raft, &cr->req, cr->id, RAFT_STANDBY,
                         change_cb);
        if (rv == 0) {
            return;
        }
        status = rv;
    }
    cr->cb(cr->arg, rz_code_of(status));
    free(cr);
}

static change_req *change_new(rz_replica *rep, rz_change_cb cb, void *arg,
                              uint64_t id)
{
    change_req *cr = calloc(1, sizeof *cr);
    if (cr != NULL) {
        cr->rep = rep;
        cr->cb = cb;
        cr->arg = arg;
        cr->id = id;
    }
    return cr;
}

/* The one way a membership change starts: checks the arguments, then
 * submits `kind` to raft; the request is freed here if raft refuses it and
 * by change_cb otherwise. */
typedef enum change_kind {
    CHANGE_ADD,
    CHANGE_PROMOTE,
    CHANGE_REMOVE
} change_kind;

static int change_start(rz_replica *rep, change_kind kind, uint64_t id,
                        const char *address, rz_change_cb cb, void *arg)
{
    change_req *cr;
    int rv;
    if (rep == NULL || id == 0 || cb == NULL) {
        return RZ_EINVAL;
    }
    if (kind == CHANGE_ADD &&
        (address == NULL || strlen(address) > RZ_ADDRESS_MAX_BYTES)) {
        return RZ_EINVAL;
    }
    cr = change_new(rep, cb, arg, id);
    if (cr == NULL) {
        return RZ_ENOMEM;
    }
    switch (kind) {
    case CHANGE_ADD:
        /* raft 0.15 adds a server as a spare (no log); a non-voter that
         * replicates is a standby, so the add is followed by an assign. */
        cr->then_standby = true;
        rv = raft_add(&rep->raft, &cr->req, id, address, change_cb);
        break;
    case CHANGE_PROMOTE:
        rv = raft_assign(&rep->raft, &cr->req, id, RAFT_VOTER, change_cb);
        break;
    default:
        rv = raft_remove(&rep->raft, &cr->req, id, change_cb);
        break;
    }
    if (rv != 0) {
        free(cr);
        return rz_code_of(rv);
    }
    return 0;
}

int rz_replica_member_add(rz_replica *rep, uint64_t id, const char *address,
                          rz_change_cb cb, void *arg)
{
    return change_start(rep, CHANGE_ADD, id, address, cb, arg);
}

int rz_replica_member_promote(rz_replica *rep, uint64_t id, rz_change_cb cb,
                              void *arg)
{
    return change_start(rep, CHANGE_PROMOTE, id, NULL, cb, arg);
}

int rz_replica_member_remove(rz_replica *rep, uint64_t id, rz_change_cb cb,
                             void *arg)
{
    return change_start(rep, CHANGE_REMOVE, id, NULL, cb, arg);
}

static void transfer_cb(struct raft_transfer *req)
{
    transfer_req *tr = (transfer_req *)req;
    int status = 0;
    if (!tr->rep->closed) {
        raft_id id = 0;
        const char *addr = NULL;
        raft_leader(&tr->rep->raft, &id, &addr);
        status = (tr->req.id != 0 && id == tr->req.id) ? 0 : RZ_ETIMEDOUT;
    } else {
        status = RZ_ESHUTDOWN;
    }
    tr->cb(tr->arg, status);
    free(tr);
}

int rz_replica_transfer(rz_replica *rep, uint64_t id, rz_change_cb cb,
                        void *arg)
{
    transfer_req *tr;
    int rv;
    if (rep == NULL || cb == NULL) {
        return RZ_EINVAL;
    }
    tr = calloc(1, sizeof *tr);
    if (tr == NULL) {
        return RZ_ENOMEM;
    }
    tr->rep = rep;
    tr->cb = cb;
    tr->arg = arg;
    rv = raft_transfer(&rep->raft, &tr->req, id, transfer_cb);
    if (rv != 0) {
        free(tr);
        return rz_code_of(rv);
    }
    return 0;
}

/* ---- Status ------------------------------------------------------------ */

void rz_replica_status_get(rz_replica *rep, rz_replica_status *out)
{
    struct raft *r = &rep->raft;
    raft_id id = 0;
    const char *addr = NULL;
    unsigned i;

    memset(out, 0, sizeof *out);
    out->id = rep->id;
    switch (r->state) {
    case RAFT_FOLLOWER:
        out->state = RZ_REPLICA_FOLLOWER;
        break;
    case RAFT_CANDIDATE:
        out->state = RZ_REPLICA_CANDIDATE;
        break;
    case RAFT_LEADER:
        out->state = RZ_REPLICA_LEADER;
        break;
    default:
        out->state = RZ_REPLICA_UNAVAILABLE;
        break;
    }
    raft_leader(r, &id, &addr);
    out->term = r->current_term;
    out->voted_for = r->voted_for;
    out->leader_id = id;
    out->commit_index = r->commit_index;
    out->applied_index = r->last_applied;
    out->last_index = raft_last_index(r);
    out->stored_index = r->last_stored;
    out->disk_failed = rep->core.disk_failing_since_ms != 0;
    out->apply_failed = rep->failed;
    out->snapshot_index = rep->core.snap.has ? rep->core.snap.index : 0;
    out->snapshots_taken = rep->core.stat_snapshots;
    out->xfers_sent = rep->core.stat_xfers_sent;
    out->xfer_bytes_sent = rep->core.stat_xfer_bytes_sent;
    out->xfers_installed = rep->core.rx.n_installed;
    out->xfers_aborted = rep->core.rx.n_aborted;
    out->xfer_bytes_received = rep->core.rx.bytes_received;
    if (r->state == RAFT_LEADER) {
        out->leader_contact_age_ms = 0;
    } else if (r->state == RAFT_FOLLOWER && id != 0) {
        raft_time now = r->io->time(r->io);
        out->leader_contact_age_ms =
            now >= r->election_timer_start ? now - r->election_timer_start : 0;
    } else {
        out->leader_contact_age_ms = UINT64_MAX;
    }
    for (i = 0; i < r->configuration.n && i < RZ_CONSENSUS_MAX_MEMBERS; i++) {
        const struct raft_server *s = &r->configuration.servers[i];
        rz_member_status *m = &out->members[i];
        m->id = s->id;
        m->voter = s->role == RAFT_VOTER;
        m->standby = s->role == RAFT_STANDBY;
        if (s->address != NULL) {
            snprintf(m->address, sizeof m->address, "%s", s->address);
        }
        if (r->state == RAFT_LEADER && r->leader_state.progress != NULL) {
            m->match_index = r->leader_state.progress[i].match_index;
        }
    }
    out->n_members = i;
}

int rz_replica_log_entry(rz_replica *rep, uint64_t index, uint64_t *term,
                         const void **data, size_t *len)
{
    rz_log_entry e;
    int rv = rz_logstore_get(rep->ls, index, &e);
    *term = 0;
    *data = NULL;
    *len = 0;
    if (rv == RZ_ENOTFOUND) {
        return 0;
    }
    if (rv != 0) {
        return rv;
    }
    *term = e.term;
    *data = e.data;
    *len = e.len;
    return 0;
}

size_t rz_replica_log_sync_times(rz_replica *rep, uint64_t *ns, size_t max)
{
    RZ_PRE(rep != NULL);
    return rep->uv != NULL ? rz_io_uv__timings(rep->uv, ns, max) : 0;
}
