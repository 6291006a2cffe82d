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

/* Runs after every return from raft into the core. */
static void after_raft(rz_io_core *core)
{
    if (core->closing) {
        return;
    }
    rz_mitigate__leader_barrier(core);
    release_held(core);
    fire_send_done(core);
    if (core->after != NULL) {
        core->after(core->after_arg);
    }
}

/* ---- Disk queue -------------------------------------------------------- */

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
    if (op->type == RZ_IO_OP_APPEND) {
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
    if (op->type == RZ_IO_OP_APPEND) {
        RZ_ASSERT(core->n_appends > 0);
        core->n_appends--;
    }
}

static void op_free(rz_io_op *op)
{
    free(op->entries);
    free(op);
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
        if (op->type == RZ_IO_OP_APPEND) {
            core->n_appends--;
            op->cb(op->req, RAFT_CANCELED);
        }
        op_free(op);
    }
    core->n_held = 0;
    fire_send_done(core);
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
    if (st.has_snapshot) {
        /* Snapshots are not written yet (see the report of issue #5). */
        rz_errmsg_set(io->errmsg, "the raft log holds a snapshot; this build "
                                  "cannot load snapshots yet");
        return RAFT_CORRUPT;
    }
    *term = st.term;
    *voted_for = st.voted_for;
    *snapshot = NULL;
    *start_index = 1;
    if (st.last_index >= st.first_index && st.last_index > 0) {
        if (st.first_index != 1) {
            rz_errmsg_set(io->errmsg,
                          "the raft log starts at %llu without a snapshot",
                          (unsigned long long)st.first_index);
            return RAFT_CORRUPT;
        }
        n = (size_t)(st.last_index - st.first_index + 1);
    }
    core->next_index = (n > 0 ? st.last_index : 0) + 1;
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
static int encode_conf(const struct raft_configuration *conf,
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
    if (encode_conf(conf, &buf) != 0) {
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
    if (encode_conf(conf, &buf) != 0) {
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

static int io_set_term(struct raft_io *io, raft_term term)
{
    rz_io_core *core = core_of(io);
    int rv = rz_logstore_set_term(core->ls, term);
    if (rv != 0) {
        rz_errmsg_set(io->errmsg, "store the term: %s", rz_strerror(rv));
    }
    return raft_code_of(rv);
}

static int io_set_vote(struct raft_io *io, raft_id server_id)
{
    rz_io_core *core = core_of(io);
    int rv = rz_logstore_set_vote(core->ls, server_id);
    if (rv != 0) {
        rz_errmsg_set(io->errmsg, "store the vote: %s", rz_strerror(rv));
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

static int io_snapshot_put(struct raft_io *io, unsigned trailing,
                           struct raft_io_snapshot_put *req,
                           const struct raft_snapshot *snapshot,
                           raft_io_snapshot_put_cb cb)
{
    (void)trailing;
    (void)req;
    (void)snapshot;
    (void)cb;
    rz_errmsg_set(io->errmsg, "snapshots are not supported by this build");
    return RAFT_IOERR;
}

static int io_snapshot_get(struct raft_io *io, struct raft_io_snapshot_get *req,
                           raft_io_snapshot_get_cb cb)
{
    (void)req;
    (void)cb;
    rz_errmsg_set(io->errmsg, "snapshots are not supported by this build");
    return RAFT_NOTFOUND;
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
}

void rz_io__recv(rz_io_core *core, struct raft_message *msg)
{
    RZ_PRE(core->recv_cb != NULL);
    if (core->closing) {
        rz_msg_release(msg);
        return;
    }
    if (msg->type == RAFT_IO_APPEND_ENTRIES) {
        core->ctx.valid = true;
        core->ctx.term = msg->append_entries.term;
        core->ctx.from = msg->server_id;
        core->ctx.end =
            msg->append_entries.prev_log_index + msg->append_entries.n_entries;
    } else if (msg->type == RAFT_IO_APPEND_ENTRIES_RESULT) {
        rz_mitigate__leader_result(core, msg);
    } else if (!rz_mitigate__vote_once(core, msg)) {
        return;
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
}
