/* The mitigations of raft 0.15's known flaws (DESIGN.md §4), each in one
 * function, each with a test-only switch (rz_replica_options.
 * mitigations_off). Mitigation 4 (reads behind a barrier) lives in
 * replica.c's rz_replica_read, the one place reads enter consensus. */
#include "consensus/io.h"

static bool is_off(const rz_io_core *core, uint32_t bit)
{
    return (core->mitigations_off & bit) != 0;
}

static void barrier_cb(struct raft_barrier *req, int status)
{
    rz_io_core *core = req->data;
    (void)status;
    core->breq_busy = false;
}

/* Mitigations 1 and 2. Raft paper §5.4.2 (Figure 8): a leader may only
 * commit entries of its own term by counting replicas; raft 0.15 counts
 * replicas for entries of any term (fixed upstream in 524f735) and appends
 * no entry of its own on election (fixed upstream in 29bb302). So the
 * leader appends a barrier of its term as soon as it learns it leads (here,
 * after the raft call that made it leader returns), and until its io has
 * counted a majority of acknowledgements at or above the barrier's index,
 * rz_mitigate__leader_result hides every follower's progress above the
 * commit index from raft: raft then cannot count replicas of an older
 * term's entry, and once the barrier is on a majority it commits the
 * barrier (its own term) and everything before it. */
void rz_mitigate__leader_barrier(rz_io_core *core)
{
    struct raft *r = core->io.data;
    int rv;

    if (is_off(core, RZ_MITIGATE_LEADER_BARRIER)) {
        return;
    }
    if (r->state != RAFT_LEADER || core->lead_term == r->current_term ||
        core->breq_busy) {
        return;
    }
    core->breq.data = core;
    rv = raft_barrier(r, &core->breq, barrier_cb);
    if (rv != 0) {
        return; /* retried after the next raft call; results stay capped */
    }
    core->breq_busy = true;
    core->lead_term = r->current_term;
    core->barrier_index = core->breq.index;
    core->barrier_ok = false;
    core->self_ack = false;
    core->n_acks = 0;
}

static void barrier_check_majority(rz_io_core *core)
{
    struct raft *r = core->io.data;
    unsigned voters = 0;
    unsigned acked = 0;
    unsigned i;
    size_t j;

    for (i = 0; i < r->configuration.n; i++) {
        const struct raft_server *s = &r->configuration.servers[i];
        if (s->role != RAFT_VOTER) {
            continue;
        }
        voters++;
        if (s->id == core->id) {
            acked += core->self_ack ? 1u : 0u;
            continue;
        }
        for (j = 0; j < core->n_acks; j++) {
            if (core->acks[j] == s->id) {
                acked++;
                break;
            }
        }
    }
    if (voters > 0 && acked > voters / 2) {
        core->barrier_ok = true;
    }
}

void rz_mitigate__leader_self_ack(rz_io_core *core, const rz_io_op *op)
{
    struct raft *r = core->io.data;
    if (is_off(core, RZ_MITIGATE_LEADER_BARRIER) || core->lead_term == 0 ||
        r->state != RAFT_LEADER || r->current_term != core->lead_term) {
        return;
    }
    /* Appends complete in FIFO order and a leader never truncates in its
     * term, so this append's end covers everything before it. */
    if (op->term_at_submit == core->lead_term &&
        op->index + op->n - 1 >= core->barrier_index) {
        core->self_ack = true;
        barrier_check_majority(core);
    }
}

void rz_mitigate__leader_result(rz_io_core *core, struct raft_message *m)
{
    struct raft *r = core->io.data;
    struct raft_append_entries_result *res = &m->append_entries_result;
    size_t j;

    if (is_off(core, RZ_MITIGATE_LEADER_BARRIER) || r->state != RAFT_LEADER) {
        return;
    }
    if (core->lead_term == r->current_term && core->barrier_ok) {
        return;
    }
    if (core->lead_term == r->current_term && res->rejected == 0 &&
        res->term == r->current_term &&
        res->last_log_index >= core->barrier_index) {
        bool seen = false;
        for (j = 0; j < core->n_acks; j++) {
            seen = seen || core->acks[j] == m->server_id;
        }
        if (!seen && core->n_acks < RZ_CONSENSUS_MAX_MEMBERS) {
            core->acks[core->n_acks++] = m->server_id;
        }
        barrier_check_majority(core);
        if (core->barrier_ok) {
            return;
        }
    }
    if (res->rejected == 0 && res->last_log_index > r->commit_index) {
        res->last_log_index = r->commit_index;
        core->stat_results_capped++;
    }
}

/* Mitigation 3. Raft paper §5.4.1 (election restriction) assumes a
 * candidate's log is what it has stored; raft 0.15 puts the last index of
 * its in-memory log, persisted or not, in RequestVote (fixed upstream in
 * a54636b and 634cb11). Holding RequestVote until every in-flight append is
 * durable makes the index it announces a stored one; core's release_held
 * drops it if the election ended or the entries were truncated meanwhile.
 * DESIGN.md also names TimeoutNow; it is not held: its receiver campaigns
 * only with a log the leader saw it store (match index = the leader's last
 * index) and its RequestVote is held by its own io, while holding it at a
 * leader whose disk has failed would block the very hand-over that keeps
 * the cluster writable (found by the disk-full scenario). */
bool rz_mitigate__hold_vote(rz_io_core *core, const struct raft_message *m)
{
    rz_io_held *h;
    size_t len;

    if (is_off(core, RZ_MITIGATE_VOTE_DURABLE)) {
        return false;
    }
    if (m->type != RAFT_IO_REQUEST_VOTE) {
        return false;
    }
    if (core->n_appends == 0) {
        return false;
    }
    core->stat_votes_held++;
    if (core->n_held == RZ_IO_HELD_MAX) {
        return true; /* dropped: raft retries at its next election timeout */
    }
    h = &core->held[core->n_held++];
    h->m = *m;
    len = 0;
    if (m->server_address != NULL) {
        while (len < RZ_ADDRESS_MAX_BYTES && m->server_address[len] != '\0') {
            h->address[len] = m->server_address[len];
            len++;
        }
    }
    h->address[len] = '\0';
    h->m.server_address = h->address;
    return true;
}

/* Mitigation 5. Raft paper §5.3: a success reply means the follower's log
 * matches the leader's through the entries of *that* AppendEntries. raft
 * 0.15 reports last_stored instead, which may cover a stale tail from an
 * older term; the leader's match index then runs ahead (a follower that
 * never catches up) and, per mitigation 1, a stale entry could be counted
 * as a copy of the barrier (fixed only in cowsql/raft 66ed6afd). The io
 * knows which AppendEntries a result answers: raft sends it either inside
 * the recv call of that AppendEntries or inside the callback of the append
 * that AppendEntries caused (core->ctx). A success result sent in any other
 * context, or to another leader or term than the AppendEntries it answers,
 * is dropped (send is best effort; the leader asks again). */
bool rz_mitigate__result_cap(rz_io_core *core, struct raft_message *m)
{
    struct raft_append_entries_result *res = &m->append_entries_result;

    if (is_off(core, RZ_MITIGATE_RESULT_CAP) || res->rejected != 0) {
        return true;
    }
    if (!core->ctx.valid || core->ctx.term != res->term ||
        core->ctx.from != m->server_id) {
        core->stat_results_dropped++;
        return false;
    }
    if (res->last_log_index > core->ctx.end) {
        res->last_log_index = core->ctx.end;
        core->stat_results_capped++;
    }
    return true;
}

/* Found by the simulator (seed 137 on 3 nodes), not in DESIGN.md: raft 0.15
 * grants a vote to the target of its own leadership transfer even when it
 * already voted for another candidate in that term (electionVote's
 * is_transferee exception). A TimeoutNow of an earlier, timed-out transfer
 * that arrives late makes its old target campaign in the same term as the
 * new target; the old leader votes for both and the term gets two leaders,
 * breaking Election Safety (Raft paper §5.2: at most one vote per term).
 * The exception is never needed: a transferee campaigns in a term above the
 * leader's, where the leader has not voted yet. So the io drops a
 * RequestVote for the current term from a candidate other than the one
 * this node already voted for: raft would have refused it but for that
 * exception, and send is best effort. */
bool rz_mitigate__vote_once(rz_io_core *core, const struct raft_message *m)
{
    struct raft *r = core->io.data;
    const struct raft_request_vote *rv = &m->request_vote;

    if (is_off(core, RZ_MITIGATE_VOTE_ONCE) ||
        m->type != RAFT_IO_REQUEST_VOTE || rv->pre_vote) {
        return true;
    }
    if (rv->term == r->current_term && r->voted_for != 0 &&
        r->voted_for != rv->candidate_id) {
        core->stat_votes_dropped++;
        return false;
    }
    return true;
}

/* Mitigation 8, found by the leader-kill drill (not in DESIGN.md). Raft
 * thesis §4.2.3 (disruptive servers): "if a server receives a RequestVote
 * request within the MINIMUM ELECTION TIMEOUT of hearing from a current
 * leader, it does not update its term or grant its vote". raft 0.15
 * (recvRequestVote) refuses instead for as long as a follower remembers a
 * leader at all, and forgets it only when its own election timer fires. When
 * a leader dies, the follower whose timer fires first campaigns, the other
 * refuses it (its timer, started by the same last heartbeat, has not fired
 * yet), then campaigns in the same term itself and is refused in turn: the
 * first round always fails and a fail-over takes two rounds (measured: 3 s
 * of client-visible outage with a 1 s election timeout). Later releases
 * made the check time-based. So the io applies the thesis rule: a follower
 * whose last contact with its leader (raft's election timer start, reset by
 * every AppendEntries of the current leader) is at least the election
 * timeout old treats the RequestVote as if the candidate had permission to
 * disrupt the leader; every other check of raft (term, log up to date, one
 * vote per term) still applies. A follower that hears its leader keeps
 * refusing, so a removed or partitioned server still cannot disrupt a
 * healthy cluster. */
void rz_mitigate__sticky_timeout(rz_io_core *core, struct raft_message *m)
{
    struct raft *r = core->io.data;
    raft_time now;

    if (is_off(core, RZ_MITIGATE_STICKY_TIMEOUT) ||
        m->type != RAFT_IO_REQUEST_VOTE || m->request_vote.disrupt_leader ||
        r->state != RAFT_FOLLOWER || r->follower_state.current_leader.id == 0) {
        return;
    }
    now = r->io->time(r->io);
    if (now >= r->election_timer_start &&
        now - r->election_timer_start >= r->election_timeout) {
        m->request_vote.disrupt_leader = true;
        core->stat_votes_unstuck++;
    }
}

/* ---- Mitigation 7: configuration rollback past a compacted entry -------- */

static uint64_t log_count(const struct raft_log *l)
{
    if (l->size == 0 || l->back == l->front) {
        return 0;
    }
    return l->back > l->front ? l->back - l->front
                              : l->size - l->front + l->back;
}

/* raft 0.15's logTermOf over its public struct raft_log. */
static uint64_t log_term(const struct raft_log *l, uint64_t index)
{
    uint64_t n = log_count(l);
    if (index == 0) {
        return 0;
    }
    if (index == l->snapshot.last_index) {
        return l->snapshot.last_term;
    }
    if (index <= l->offset || index > l->offset + n) {
        return 0;
    }
    return l->entries[(l->front + (index - 1 - l->offset)) % l->size].term;
}

static bool log_holds(const struct raft_log *l, uint64_t index)
{
    return index > l->offset && index <= l->offset + log_count(l);
}

/* Found by the simulator once logs were compacted (seed 109 on 3 nodes):
 * a follower that must truncate an uncommitted configuration entry rolls
 * back to the committed configuration by decoding ITS LOG ENTRY
 * (membershipRollback), which is gone when the log was compacted past it or
 * replaced by an installed snapshot: raft 0.15 dereferences NULL and the
 * process dies (fixed upstream after 0.15 in baa8f52, "Ensure configuration
 * rollback is possible", which keeps the snapshot's configuration). Raft
 * paper §4.1: a server uses the latest configuration in its log, committed
 * or not, and falls back to the previous one when that entry is removed.
 * So before raft handles an AppendEntries that will truncate at or below
 * the uncommitted configuration (same checks as raft's: term, log matching
 * at prev, first conflicting entry), the io does the rollback itself from
 * the configuration it recorded with its last snapshot, which is the
 * committed one (fsm_snapshot never snapshots an uncommitted one). Returns
 * false when it cannot (then the message is dropped: a stuck follower, not
 * a dead one). */
bool rz_mitigate__conf_rollback(rz_io_core *core, const struct raft_message *m)
{
    struct raft *r = core->io.data;
    const struct raft_append_entries *a = &m->append_entries;
    struct raft_configuration conf;
    uint64_t cut = 0;
    unsigned j;

    if (is_off(core, RZ_MITIGATE_CONF_ROLLBACK) || r->state == RAFT_LEADER ||
        r->configuration_uncommitted_index == 0 ||
        (r->configuration_index != 0 &&
         log_holds(&r->log, r->configuration_index)) ||
        a->term < r->current_term) {
        return true; /* raft can roll back by itself, or will not */
    }
    if (a->prev_log_index > 0 &&
        log_term(&r->log, a->prev_log_index) != a->prev_log_term) {
        return true; /* rejected before anything is truncated */
    }
    for (j = 0; j < a->n_entries; j++) {
        uint64_t index = a->prev_log_index + 1 + j;
        uint64_t local = log_term(&r->log, index);
        if (local == 0) {
            break;
        }
        if (local != a->entries[j].term) {
            cut = index;
            break;
        }
    }
    if (cut == 0 || cut > r->configuration_uncommitted_index ||
        cut <= r->commit_index) {
        return true;
    }
    if (r->configuration_index == 0) {
        /* Nothing committed yet (a joining server): no configuration. */
        raft_configuration_init(&conf);
    } else if (!core->snap.has ||
               core->snap.conf_index != r->configuration_index ||
               rz_io__conf_decode(core->snap.conf, core->snap.conf_len,
                                  &conf) != 0) {
        core->stat_rollbacks_dropped++;
        return false;
    }
    raft_configuration_close(&r->configuration);
    r->configuration = conf;
    r->configuration_uncommitted_index = 0;
    core->stat_rollbacks++;
    return true;
}
