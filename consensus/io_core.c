/* The environment-independent part of our raft_io: the raft_io contract of
 * consensus/io.h over the LMDB log store, with the mitigation hooks at the
 * three points where messages and appends pass (send, recv, op done). */
#include "consensus/io.h"
#include "consensus/msg.h"

#include <stdlib.h>
#include <string.h>

static rz_io_core *core_of(struct raft_io *io)
{
    rz_io_core *core = io->impl;
    RZ_ASSERT(core != NULL);
    return core;
}

static int raft_code_of(int err)
{
    switch (err) {
    case 0:
        return 0;
    case RZ_ENOMEM:
        return RAFT_NOMEM;
    case RZ_ENOSPACE:
        return RAFT_NOSPACE;
    case RZ_ECORRUPT:
        return RAFT_CORRUPT;
    default:
        return RAFT_IOERR;
    }
}

/* ---- After raft returns ------------------------------------------------ */

static void send_now(rz_io_core *core, const struct raft_message *m)
{
    core->ops->send(core->backend, m);
}

static void release_held(rz_io_core *core)
{
    struct raft *r = core->io.data;
    size_t i;
    if (core->n_appends > 0 || core->n_held == 0) {
        return;
    }
    for (i = 0; i < core->n_held; i++) {
        const struct raft_message *m = &core->held[i].m;
        /* A RequestVote of an election that is over, or whose entries were
         * truncated while it waited, would announce what is not stored:
         * drop it; raft asks again at its next election. */
        if (m->type == RAFT_IO_REQUEST_VOTE &&
            (r->state != RAFT_CANDIDATE ||
             r->current_term + (m->request_vote.pre_vote ? 1u : 0u) !=
                 m->request_vote.term ||
             m->request_vote.last_log_index > r->last_stored)) {
            continue;
        }
        send_now(core, m);
    }
    core->n_held = 0;
}

static void fire_send_done(rz_io_core *core)
{
    /* Bounded: a send callback only frees raft's request. */
    size_t i;
    for (i = 0; i < core->n_done; i++) {
        rz_io_send_done d = core->done[i];
        d.cb(d.req, 0);
    }
    core->n_done = 0;
}

static struct raft_snapshot *snapshot_build(rz_io_core *core);

/* snapshot_get completions, after raft returned (as raft's own backend
 * completes them from the loop). status != 0 cancels them. */
static void fire_gets(rz_io_core *core, int status)
{
    size_t i;
    size_t n = core->n_gets;
    rz_io_get_done g[RZ_IO_GETS_MAX];
    memcpy(g, core->gets, n * sizeof g[0]);
    core->n_gets = 0;
    for (i = 0; i < n; i++) {
        struct raft_snapshot *s = status == 0 ? snapshot_build(core) : NULL;
        g[i].cb(g[i].req, s,
                s != NULL ? 0 : (status != 0 ? status : RAFT_NOMEM));
    }
}

/* Runs after every return from raft into the core. */
static void after_raft(rz_io_core *core)
{
    if (core->closing) {
        return;
    }
    rz_mitigate__leader_barrier(core);
    release_held(core);
    fire_send_done(core);
    if (core->n_gets > 0) {
        fire_gets(core, 0);
    }
    if (core->after != NULL) {
        core->after(core->after_arg);
    }
}

/* ---- Disk queue -------------------------------------------------------- */

/* Ops that change what the log holds at its end: appends, and installed
 * snapshots (raft announces the snapshot's index before it is durable).
 * Votes wait for them (mitigation 3). */
static bool op_extends(const rz_io_op *op)
{
    return op->type == RZ_IO_OP_APPEND ||
           (op->type == RZ_IO_OP_SNAPSHOT && op->trailing == 0);
}

static void queue_push(rz_io_core *core, rz_io_op *op)
{
    op->next = NULL;
    if (core->q_tail != NULL) {
        core->q_tail->next = op;
    } else {
        core->q_head = op;
    }
    core->q_tail = op;
    core->n_ops++;
    if (op_extends(op)) {
        core->n_appends++;
    }
    if (core->disk_failed) {
        op->returned = true; /* held back until maybe_retry */
    } else {
        core->ops->submit(core->backend, op);
    }
}

static void queue_pop(rz_io_core *core, rz_io_op *op)
{
    RZ_ASSERT(core->q_head == op);
    core->q_head = op->next;
    if (core->q_head == NULL) {
        core->q_tail = NULL;
    }
    RZ_ASSERT(core->n_ops > 0);
    core->n_ops--;
    if (op_extends(op)) {
        RZ_ASSERT(core->n_appends > 0);
        core->n_appends--;
    }
}

static void op_free(rz_io_op *op)
{
    free(op->entries);
    raft_free(op->conf_buf);
    free(op);
}

/* The snapshot op reached the disk: remember what raft's snapshot_get must
 * return from now on. Takes the op's configuration bytes. */
static void snap_remember(rz_io_core *core, rz_io_op *op)
{
    rz_snap_desc d;
    free(core->snap.conf);
    core->snap.conf = malloc(op->snap.conf_len > 0 ? op->snap.conf_len : 1);
    RZ_ASSERT(core->snap.conf != NULL);
    memcpy(core->snap.conf, op->snap.conf, op->snap.conf_len);
    core->snap.conf_len = op->snap.conf_len;
    core->snap.has = true;
    core->snap.index = op->snap.index;
    core->snap.term = op->snap.term;
    core->snap.conf_index = op->snap.conf_index;
    d.index = op->snap.index;
    d.state_index = op->snap.state_index;
    memcpy(d.checksum, op->snap.checksum, 32);
    rz_snap_desc_encode(&d, core->snap.desc);
}

/* Every op of a failed queue came back: clear the failure and submit them
 * all again, in order. Called from the tick, so a full disk is retried at
 * the tick rate. */
static void maybe_retry(rz_io_core *core)
{
    rz_io_op *op;
    if (!core->disk_failed) {
        return;
    }
    for (op = core->q_head; op != NULL; op = op->next) {
        if (!op->returned) {
            return; /* the backend still holds some */
        }
    }
    core->ops->reset(core->backend);
    core->disk_failed = false;
    for (op = core->q_head; op != NULL; op = op->next) {
        op->returned = false;
        core->ops->submit(core->backend, op);
    }
}

void rz_io__op_done(rz_io_core *core, rz_io_op *op, int status)
{
    RZ_PRE(op != NULL);
    if (status != 0) {
        /* Keep it queued; every later op fails too (backend contract). */
        op->returned = true;
        op->status = status;
        core->disk_failed = true;
        core->disk_status = status;
        if (core->disk_failing_since_ms == 0) {
            uint64_t now = core->ops->now_ms(core->backend);
            core->disk_failing_since_ms = now > 0 ? now : 1;
        }
        return;
    }
    core->disk_failing_since_ms = 0;
    RZ_ASSERT(!core->disk_failed);
    queue_pop(core, op);
    if (op->type == RZ_IO_OP_APPEND) {
        rz_mitigate__leader_self_ack(core, op);
        core->ctx = op->ae;
        op->cb(op->req, 0);
        core->ctx.valid = false;
    } else if (op->type == RZ_IO_OP_SNAPSHOT) {
        snap_remember(core, op);
        if (op->trailing > 0) {
            core->stat_snapshots++;
        }
        /* An installed snapshot is answered like the AppendEntries it
         * replaces (mitigation 5 needs the InstallSnapshot's context). A
         * raft that is closing discards it and leaks its bufs array (see
         * backend_closed): free that after the callback. */
        struct raft *r = core->io.data;
        struct raft_buffer *bufs =
            op->trailing == 0 && r->state == RAFT_UNAVAILABLE ? op->rsnap->bufs
                                                              : NULL;
        core->ctx = op->ae;
        op->scb(op->sreq, 0);
        core->ctx.valid = false;
        raft_free(bufs);
    }
    op_free(op);
    after_raft(core);
}

/* ---- raft_io methods --------------------------------------------------- */

static int io_init(struct raft_io *io, raft_id id, const char *address)
{
    rz_io_core *core = core_of(io);
    (void)address;
    RZ_PRE(id == core->id);
    return 0;
}

/* The backend stopped: appends it never completed are not durable (lost
 * in a crash, or never written); raft gets its references back through
 * their callbacks. Newest first: raft 0.15's leader callback truncates its
 * in-memory log from the failed append's index, which must still exist
 * when it runs. */
static void backend_closed(void *arg)
{
    rz_io_core *core = arg;
    rz_io_op *op;
    while (core->q_head != NULL) {
        rz_io_op *prev = NULL;
        op = core->q_head;
        while (op->next != NULL) {
            prev = op;
            op = op->next;
        }
        if (prev != NULL) {
            prev->next = NULL;
        } else {
            core->q_head = NULL;
        }
        core->q_tail = prev;
        core->n_ops--;
        if (op_extends(op)) {
            core->n_appends--;
        }
        if (op->type == RZ_IO_OP_APPEND) {
            op->cb(op->req, RAFT_CANCELED);
        } else if (op->type == RZ_IO_OP_SNAPSHOT) {
            /* raft 0.15's installSnapshotCb frees an installed snapshot's
             * data and configuration on failure but not its bufs array
             * (replication.c, "discard"): free it after the callback. */
            struct raft_buffer *bufs =
                op->trailing == 0 ? op->rsnap->bufs : NULL;
            op->scb(op->sreq, RAFT_CANCELED);
            raft_free(bufs);
        }
        op_free(op);
    }
    core->n_held = 0;
    fire_send_done(core);
    fire_gets(core, RAFT_CANCELED);
    if (core->close_cb != NULL) {
        core->close_cb(&core->io);
    }
}

static void io_close(struct raft_io *io, raft_io_close_cb cb)
{
    rz_io_core *core = core_of(io);
    core->closing = true;
    core->close_cb = cb;
    core->ops->close(core->backend, backend_closed, core);
}

static int io_load(struct raft_io *io, raft_term *term, raft_id *voted_for,
                   struct raft_snapshot **snapshot, raft_index *start_index,
                   struct raft_entry *entries[], size_t *n_entries)
{
    rz_io_core *core = core_of(io);
    rz_log_state st;
    struct raft_entry *ents = NULL;
    uint8_t *batch = NULL;
    size_t n = 0;
    size_t total = 0;
    size_t off = 0;
    uint64_t i;
    int rv;

    RZ_PRE(!core->loaded);
    core->loaded = true;
    rv = rz_logstore_load(core->ls, &st);
    if (rv != 0) {
        rz_errmsg_set(io->errmsg, "load the raft log: %s", rz_strerror(rv));
        return raft_code_of(rv);
    }
    *term = st.term;
    *voted_for = st.voted_for;
    *snapshot = NULL;
    *start_index = 1;
    if (st.has_snapshot) {
        rz_log_snapshot *ss = &st.snapshot;
        rz_snap_desc d;
        free(core->snap.conf);
        core->snap.conf = malloc(ss->conf_len > 0 ? ss->conf_len : 1);
        if (core->snap.conf == NULL) {
            return RAFT_NOMEM;
        }
        memcpy(core->snap.conf, ss->conf, ss->conf_len);
        core->snap.conf_len = ss->conf_len;
        core->snap.has = true;
        core->snap.index = ss->index;
        core->snap.term = ss->term;
        core->snap.conf_index = ss->conf_index;
        d.index = ss->index;
        d.state_index = ss->state_index;
        memcpy(d.checksum, ss->checksum, 32);
        rz_snap_desc_encode(&d, core->snap.desc);
        *snapshot = snapshot_build(core);
        if (*snapshot == NULL) {
            rz_errmsg_set(io->errmsg, "the raft log's snapshot configuration "
                                      "cannot be decoded");
            return RAFT_CORRUPT;
        }
        /* Entries kept in the trailing window, or none: the next append
         * goes right after the snapshot. */
        *start_index = st.first_index;
    }
    if (st.last_index >= st.first_index && st.last_index > 0) {
        if (st.first_index != 1 && !st.has_snapshot) {
            rz_errmsg_set(io->errmsg,
                          "the raft log starts at %llu without a snapshot",
                          (unsigned long long)st.first_index);
            return RAFT_CORRUPT;
        }
        n = (size_t)(st.last_index - st.first_index + 1);
    }
    core->next_index = st.last_index + 1;
    if (n == 0) {
        *entries = NULL;
        *n_entries = 0;
        return 0;
    }
    /* Two passes: sizes, then one batch that raft frees with the entries. */
    for (i = 0; i < n; i++) {
        rz_log_entry e;
        rv = rz_logstore_get(core->ls, st.first_index + i, &e);
        if (rv != 0) {
            goto err;
        }
        total += e.len;
    }
    ents = raft_calloc(n, sizeof *ents);
    batch = raft_malloc(total > 0 ? total : 1);
    if (ents == NULL || batch == NULL) {
        rv = RZ_ENOMEM;
        goto err;
    }
    for (i = 0; i < n; i++) {
        rz_log_entry e;
        rv = rz_logstore_get(core->ls, st.first_index + i, &e);
        if (rv != 0) {
            goto err;
        }
        if (e.type < RAFT_COMMAND || e.type > RAFT_CHANGE || e.term == 0) {
            rv = RZ_ECORRUPT;
            goto err;
        }
        ents[i].term = e.term;
        ents[i].type = e.type;
        ents[i].buf.base = batch + off;
        ents[i].buf.len = e.len;
        ents[i].batch = batch;
        if (e.len > 0) {
            memcpy(batch + off, e.data, e.len);
        }
        off += e.len;
    }
    *entries = ents;
    *n_entries = n;
    return 0;
err:
    raft_free(ents);
    raft_free(batch);
    if (*snapshot != NULL) {
        raft_configuration_close(&(*snapshot)->configuration);
        raft_free((*snapshot)->bufs[0].base);
        raft_free((*snapshot)->bufs);
        raft_free(*snapshot);
        *snapshot = NULL;
    }
    rz_errmsg_set(io->errmsg, "load the raft log: %s", rz_strerror(rv));
    return raft_code_of(rv);
}

static int io_start(struct raft_io *io, unsigned msecs, raft_io_tick_cb tick,
                    raft_io_recv_cb recv)
{
    rz_io_core *core = core_of(io);
    core->tick_cb = tick;
    core->recv_cb = recv;
    core->ops->start(core->backend, core->tick_ms > 0 ? core->tick_ms : msecs);
    return 0;
}

/* raft_configuration_encode pads its output to 8 bytes and leaves the
 * padding uninitialised, so two nodes bootstrapping the same configuration
 * would store different bytes at index 1. The layout (raft 0.15
 * configuration.c): format byte, u64 count, then per server u64 id, the
 * NUL-terminated address and a role byte; everything after that is
 * padding, which is zeroed here. */
int rz_io__encode_conf(const struct raft_configuration *conf,
                       struct raft_buffer *buf)
{
    size_t used = 1 + 8;
    unsigned i;
    if (raft_configuration_encode(conf, buf) != 0) {
        return RZ_ENOMEM;
    }
    for (i = 0; i < conf->n; i++) {
        used += 8 + strlen(conf->servers[i].address) + 1 + 1;
    }
    RZ_ASSERT(used <= buf->len);
    memset((uint8_t *)buf->base + used, 0, buf->len - used);
    return 0;
}

static uint64_t get_le64(const uint8_t *p)
{
    uint64_t v = 0;
    int i;
    for (i = 7; i >= 0; i--) {
        v = (v << 8) | p[i];
    }
    return v;
}

/* The inverse of rz_io__encode_conf (raft 0.15 exports no decoder): format byte
 * 1, u64 little-endian count, then per server u64 little-endian id, the
 * NUL-terminated address and a role byte. The bytes come from our own log
 * store (checked there), but are still read with every bound checked. */
int rz_io__conf_decode(const void *data, size_t len,
                       struct raft_configuration *c)
{
    const uint8_t *p = data;
    size_t off = 9;
    uint64_t n, i;
    raft_configuration_init(c);
    if (len < 9 || p[0] != 1) {
        return RZ_ECORRUPT;
    }
    n = get_le64(p + 1);
    if (n == 0 || n > RZ_CONSENSUS_MAX_MEMBERS * 64u) {
        return RZ_ECORRUPT;
    }
    for (i = 0; i < n; i++) {
        const uint8_t *nul;
        uint64_t id;
        const char *addr;
        int role;
        if (len - off < 8 + 2) {
            goto bad;
        }
        id = get_le64(p + off);
        off += 8;
        addr = (const char *)(p + off);
        nul = memchr(p + off, '\0', len - off);
        if (nul == NULL || nul == p + off || (size_t)(nul - p) + 1 >= len) {
            goto bad;
        }
        off = (size_t)(nul - p) + 1;
        role = p[off++];
        if (raft_configuration_add(c, id, addr, role) != 0) {
            goto bad;
        }
    }
    return 0;
bad:
    raft_configuration_close(c);
    raft_configuration_init(c);
    return RZ_ECORRUPT;
}

int rz_io__bootstrap(rz_logstore *ls, const struct raft_configuration *conf)
{
    struct raft_buffer buf;
    rz_log_state st;
    rz_log_entry e;
    int rv;

    rv = rz_logstore_load(ls, &st);
    if (rv != 0) {
        return rv;
    }
    if (st.term != 0 || st.last_index != 0 || st.has_snapshot) {
        return RZ_EEXISTS;
    }
    if (rz_io__encode_conf(conf, &buf) != 0) {
        return RZ_ENOMEM;
    }
    e.term = 1;
    e.type = RAFT_CHANGE;
    e.data = buf.base;
    e.len = buf.len;
    rv = rz_logstore_set_term(ls, 1);
    if (rv == 0) {
        rv = rz_logstore_append(ls, 1, &e, 1);
    }
    raft_free(buf.base);
    return rv;
}

static int io_bootstrap(struct raft_io *io,
                        const struct raft_configuration *conf)
{
    rz_io_core *core = core_of(io);
    int rv = rz_io__bootstrap(core->ls, conf);
    if (rv == RZ_EEXISTS) {
        return RAFT_CANTBOOTSTRAP;
    }
    return raft_code_of(rv);
}

int rz_io__recover(rz_logstore *ls, const struct raft_configuration *conf)
{
    /* Appends the forced configuration as a new entry of the current term,
     * as raft's own backend does. Runs on a stopped node. */
    struct raft_buffer buf;
    rz_log_state st;
    rz_log_entry e;
    int rv;

    rv = rz_logstore_load(ls, &st);
    if (rv != 0) {
        return rv;
    }
    if (st.term == 0 || st.last_index == 0) {
        return RZ_ENOTFOUND; /* nothing to recover: bootstrap instead */
    }
    if (rz_io__encode_conf(conf, &buf) != 0) {
        return RZ_ENOMEM;
    }
    e.term = st.term;
    e.type = RAFT_CHANGE;
    e.data = buf.base;
    e.len = buf.len;
    rv = rz_logstore_append(ls, st.last_index + 1, &e, 1);
    raft_free(buf.base);
    return rv;
}

static int io_recover(struct raft_io *io, const struct raft_configuration *conf)
{
    rz_io_core *core = core_of(io);
    return raft_code_of(rz_io__recover(core->ls, conf));
}

/* A failed set_term / set_vote (a failing or full disk). raft 0.15's
 * convertToCandidate (src/convert.c) handles a failed electionStart (whose
 * set_term / set_vote failed) with `r->state = RAFT_FOLLOWER` and a free of
 * candidate_state.votes, but leaves the state union as it is:
 * follower_state.current_leader.address then aliases candidate_state's
 * disrupt_leader / in_pre_vote flags and padding. Its caller (tickCb via
 * tickFollower, or recvCb via recvTimeoutNow) runs convertToUnavailable next,
 * whose convertClearFollower frees that garbage pointer: the SIGSEGV of a
 * follower whose fsync failed (jepsen finding 2). Every set_term / set_vote
 * failure ends in RAFT_UNAVAILABLE in raft 0.15 anyway (it is returned up to
 * tickCb / recvCb), so clearing those bytes now changes nothing else: after
 * the failure path the address is NULL and nothing is freed. */
static void disarm_failed_election(struct raft *r)
{
    if (r != NULL && r->state == RAFT_CANDIDATE) {
        r->follower_state.current_leader.address = NULL;
    }
}

static int io_set_term(struct raft_io *io, raft_term term)
{
    rz_io_core *core = core_of(io);
    int rv = rz_logstore_set_term(core->ls, term);
    if (rv != 0) {
        rz_errmsg_set(io->errmsg, "store the term: %s", rz_strerror(rv));
        disarm_failed_election(io->data);
    }
    return raft_code_of(rv);
}

static int io_set_vote(struct raft_io *io, raft_id server_id)
{
    rz_io_core *core = core_of(io);
    int rv = rz_logstore_set_vote(core->ls, server_id);
    if (rv != 0) {
        rz_errmsg_set(io->errmsg, "store the vote: %s", rz_strerror(rv));
        disarm_failed_election(io->data);
    }
    return raft_code_of(rv);
}

static int defer_send_done(rz_io_core *core, struct raft_io_send *req,
                           raft_io_send_cb cb)
{
    if (cb == NULL) {
        return 0;
    }
    if (core->n_done == core->cap_done) {
        size_t cap = core->cap_done > 0 ? core->cap_done * 2 : 64;
        rz_io_send_done *p = realloc(core->done, cap * sizeof *p);
        if (p == NULL) {
            return RAFT_NOMEM;
        }
        core->done = p;
        core->cap_done = cap;
    }
    core->done[core->n_done].req = req;
    core->done[core->n_done].cb = cb;
    core->n_done++;
    return 0;
}

static int io_send(struct raft_io *io, struct raft_io_send *req,
                   const struct raft_message *message, raft_io_send_cb cb)
{
    rz_io_core *core = core_of(io);
    struct raft_message m = *message;
    int rv;

    RZ_PRE(!core->closing);
    rv = defer_send_done(core, req, cb);
    if (rv != 0) {
        return rv;
    }
    if (m.type == RAFT_IO_INSTALL_SNAPSHOT) {
        /* The descriptor goes out as is; the state follows on demand. */
        rz_io__xfer_install_snapshot(core, &m);
        return 0;
    }
    if (m.type == RAFT_IO_APPEND_ENTRIES_RESULT &&
        !rz_mitigate__result_cap(core, &m)) {
        return 0; /* dropped: send is best effort */
    }
    if (rz_mitigate__hold_vote(core, &m)) {
        return 0;
    }
    send_now(core, &m);
    return 0;
}

static int io_append(struct raft_io *io, struct raft_io_append *req,
                     const struct raft_entry entries[], unsigned n,
                     raft_io_append_cb cb)
{
    rz_io_core *core = core_of(io);
    struct raft *r = io->data;
    rz_io_op *op;
    unsigned i;

    RZ_PRE(n > 0);
    RZ_PRE(!core->closing);
    op = calloc(1, sizeof *op);
    if (op == NULL) {
        return RAFT_NOMEM;
    }
    op->entries = calloc(n, sizeof *op->entries);
    if (op->entries == NULL) {
        free(op);
        return RAFT_NOMEM;
    }
    for (i = 0; i < n; i++) {
        op->entries[i].term = entries[i].term;
        op->entries[i].type = (uint8_t)entries[i].type;
        op->entries[i].data = entries[i].buf.base;
        op->entries[i].len = entries[i].buf.len;
    }
    op->type = RZ_IO_OP_APPEND;
    op->core = core;
    op->index = core->next_index;
    op->n = n;
    op->req = req;
    op->cb = cb;
    op->term_at_submit = r->current_term;
    op->leader_at_submit = r->state == RAFT_LEADER;
    op->ae = core->ctx; /* set while a follower answers an AppendEntries */
    core->next_index += n;
    queue_push(core, op);
    return 0;
}

static int io_truncate(struct raft_io *io, raft_index index)
{
    rz_io_core *core = core_of(io);
    rz_io_op *op;

    RZ_PRE(index >= 1);
    RZ_PRE(index <= core->next_index);
    op = calloc(1, sizeof *op);
    if (op == NULL) {
        return RAFT_NOMEM;
    }
    op->type = RZ_IO_OP_TRUNCATE;
    op->core = core;
    op->index = index;
    core->next_index = index;
    queue_push(core, op);
    return 0;
}

/* raft's snapshot_put: trailing > 0 is this node's own snapshot (fsm
 * snapshot synced the state env already), trailing 0 installs a snapshot
 * received from the leader (the state env holds it already: see the gate
 * in xfer.c). Either way one op in the disk queue, after the appends
 * raft submitted before it. */
static int io_snapshot_put(struct raft_io *io, unsigned trailing,
                           struct raft_io_snapshot_put *req,
                           const struct raft_snapshot *snapshot,
                           raft_io_snapshot_put_cb cb)
{
    rz_io_core *core = core_of(io);
    struct raft_buffer conf;
    rz_snap_desc d;
    rz_io_op *op;

    RZ_PRE(!core->closing);
    if (snapshot->n_bufs != 1 ||
        rz_snap_desc_decode(snapshot->bufs[0].base, snapshot->bufs[0].len,
                            &d) != 0 ||
        d.index != snapshot->index || snapshot->term == 0 ||
        snapshot->configuration_index > snapshot->index) {
        rz_errmsg_set(io->errmsg, "snapshot %llu carries no valid descriptor",
                      (unsigned long long)snapshot->index);
        return RAFT_CORRUPT;
    }
    if (rz_io__encode_conf(&snapshot->configuration, &conf) != 0) {
        return RAFT_NOMEM;
    }
    op = calloc(1, sizeof *op);
    if (op == NULL) {
        raft_free(conf.base);
        return RAFT_NOMEM;
    }
    op->type = RZ_IO_OP_SNAPSHOT;
    op->core = core;
    op->index = snapshot->index;
    op->conf_buf = conf.base;
    op->snap.index = snapshot->index;
    op->snap.term = snapshot->term;
    op->snap.conf_index = snapshot->configuration_index;
    op->snap.conf = conf.base;
    op->snap.conf_len = conf.len;
    op->snap.state_index = d.state_index;
    memcpy(op->snap.checksum, d.checksum, 32);
    op->trailing = trailing;
    op->sreq = req;
    op->scb = cb;
    op->rsnap = snapshot;
    if (trailing == 0) {
        /* The whole log is replaced: raft's next append follows the
         * snapshot. */
        op->ae = core->ctx;
        core->next_index = snapshot->index + 1;
    }
    queue_push(core, op);
    return 0;
}

/* A raft_snapshot of the last recorded descriptor, allocated as raft
 * frees it (snapshotClose + raft_free); NULL without one or on NOMEM. */
static struct raft_snapshot *snapshot_build(rz_io_core *core)
{
    struct raft_snapshot *s;
    if (!core->snap.has) {
        return NULL;
    }
    s = raft_calloc(1, sizeof *s);
    if (s == NULL) {
        return NULL;
    }
    s->index = core->snap.index;
    s->term = core->snap.term;
    s->configuration_index = core->snap.conf_index;
    if (rz_io__conf_decode(core->snap.conf, core->snap.conf_len,
                           &s->configuration) != 0) {
        raft_free(s);
        return NULL;
    }
    s->bufs = raft_malloc(sizeof *s->bufs);
    if (s->bufs != NULL) {
        s->bufs[0].base = raft_malloc(RZ_SNAP_DESC_BYTES);
    }
    if (s->bufs == NULL || s->bufs[0].base == NULL) {
        if (s->bufs != NULL) {
            raft_free(s->bufs);
        }
        raft_configuration_close(&s->configuration);
        raft_free(s);
        return NULL;
    }
    memcpy(s->bufs[0].base, core->snap.desc, RZ_SNAP_DESC_BYTES);
    s->bufs[0].len = RZ_SNAP_DESC_BYTES;
    s->n_bufs = 1;
    return s;
}

static int io_snapshot_get(struct raft_io *io, struct raft_io_snapshot_get *req,
                           raft_io_snapshot_get_cb cb)
{
    rz_io_core *core = core_of(io);
    if (!core->snap.has) {
        rz_errmsg_set(io->errmsg, "no snapshot was recorded");
        return RAFT_NOTFOUND;
    }
    if (core->n_gets == RZ_IO_GETS_MAX) {
        return RAFT_BUSY;
    }
    core->gets[core->n_gets].req = req;
    core->gets[core->n_gets].cb = cb;
    core->n_gets++;
    return 0;
}

static raft_time io_time(struct raft_io *io)
{
    rz_io_core *core = core_of(io);
    return core->ops->now_ms(core->backend);
}

static int io_random(struct raft_io *io, int min, int max)
{
    rz_io_core *core = core_of(io);
    return core->ops->random(core->backend, min, max);
}

/* ---- Backend -> core --------------------------------------------------- */

void rz_io__tick(rz_io_core *core)
{
    if (core->closing || core->tick_cb == NULL) {
        return;
    }
    maybe_retry(core);
    core->tick_cb(&core->io);
    after_raft(core);
    if (!core->closing) {
        rz_io__xfer_tick(core);
    }
}

void rz_io__recv(rz_io_core *core, struct raft_message *msg)
{
    RZ_PRE(core->recv_cb != NULL);
    if (core->closing) {
        rz_msg_release(msg);
        return;
    }
    if (msg->type == RAFT_IO_APPEND_ENTRIES) {
        if (!rz_mitigate__conf_rollback(core, msg)) {
            rz_msg_release(msg);
            return;
        }
        core->ctx.valid = true;
        core->ctx.term = msg->append_entries.term;
        core->ctx.from = msg->server_id;
        core->ctx.end =
            msg->append_entries.prev_log_index + msg->append_entries.n_entries;
    } else if (msg->type == RAFT_IO_APPEND_ENTRIES_RESULT) {
        rz_mitigate__leader_result(core, msg);
    } else if (msg->type == RAFT_IO_INSTALL_SNAPSHOT) {
        if (!rz_io__xfer_gate(core, msg)) {
            return; /* released: the state must come first */
        }
        /* Raft's answer reports the snapshot's index (mitigation 5). */
        core->ctx.valid = true;
        core->ctx.term = msg->install_snapshot.term;
        core->ctx.from = msg->server_id;
        core->ctx.end = msg->install_snapshot.last_index;
    } else if (!rz_mitigate__vote_once(core, msg)) {
        return;
    } else {
        rz_mitigate__sticky_timeout(core, msg);
    }
    core->recv_cb(&core->io, msg);
    core->ctx.valid = false;
    after_raft(core);
}

int rz_io__init(rz_io_core *core, uint64_t id, rz_logstore *ls,
                const rz_io_backend_ops *ops, void *backend,
                uint32_t mitigations_off)
{
    RZ_PRE(core != NULL && ls != NULL && ops != NULL);
    memset(core, 0, sizeof *core);
    core->id = id;
    core->ls = ls;
    core->ops = ops;
    core->backend = backend;
    core->mitigations_off = mitigations_off;
    core->next_index = 1;
    core->img.fd = -1;
    core->rx.fd = -1;
    core->io.version = 1;
    core->io.impl = core;
    core->io.init = io_init;
    core->io.close = io_close;
    core->io.load = io_load;
    core->io.start = io_start;
    core->io.bootstrap = io_bootstrap;
    core->io.recover = io_recover;
    core->io.set_term = io_set_term;
    core->io.set_vote = io_set_vote;
    core->io.send = io_send;
    core->io.append = io_append;
    core->io.truncate = io_truncate;
    core->io.snapshot_put = io_snapshot_put;
    core->io.snapshot_get = io_snapshot_get;
    core->io.time = io_time;
    core->io.random = io_random;
    return 0;
}

void rz_io__fini(rz_io_core *core)
{
    RZ_PRE(core->q_head == NULL);
    free(core->done);
    core->done = NULL;
    rz_io__xfer_fini(core);
    free(core->snap.conf);
    memset(&core->snap, 0, sizeof core->snap);
}
