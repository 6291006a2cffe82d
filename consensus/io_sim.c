/* The simulator environment: a virtual clock, an event queue, an in-memory
 * network with delay / loss / reordering / duplication / partitions and a
 * disk per node whose operations become durable only at a virtual
 * completion time (then they are written with the synchronous log store
 * calls; a crash drops the ones still pending). Everything random comes
 * from one seed. */
#include "consensus/io.h"
#include "consensus/msg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/limits.h"

enum { EV_TICK = 1, EV_MSG, EV_DISK, EV_USER };

/* A message in flight: one frame of the raft message codec, so every
 * simulated message also goes through the encoder and the validating
 * decoder the real transport uses. */
typedef struct sim_msg
{
    uint64_t from;
    uint8_t *bytes;
    size_t len;
} sim_msg;

typedef struct sim_event
{
    uint64_t t_ms;
    uint64_t seq;
    int type;
    uint64_t node;
    uint64_t gen;
    sim_msg *msg;
    void (*fn)(void *arg);
    void *arg;
} sim_event;

typedef struct sim_disk_op
{
    rz_io_op *op;
    struct sim_disk_op *next;
} sim_disk_op;

typedef struct sim_node
{
    rz_sim *sim;
    uint64_t id;
    bool up;
    uint64_t gen; /* bumped on every attach/detach: stale events are dropped */
    rz_io_core *core;
    char address[RZ_ADDRESS_MAX_BYTES + 1];
    unsigned tick_ms;
    rz_sim_disk disk;
    uint64_t disk_due_ms; /* completion time of the last queued op */
    bool poisoned;        /* a write failed: later ones fail until reset */
    sim_disk_op *dq_head, *dq_tail;
} sim_node;

struct rz_sim
{
    uint64_t now_ms;
    uint64_t seq;
    uint64_t rng[4];
    sim_event *heap;
    size_t n_events, cap_events;
    rz_sim_net net;
    bool link_down[RZ_SIM_MAX_NODES + 1][RZ_SIM_MAX_NODES + 1];
    bool drop_entries[RZ_SIM_MAX_NODES + 1][RZ_SIM_MAX_NODES + 1];
    uint32_t link_extra_ms[RZ_SIM_MAX_NODES + 1][RZ_SIM_MAX_NODES + 1];
    sim_node nodes[RZ_SIM_MAX_NODES + 1];
    rz_sim_msg_observer observer;
    void *observer_arg;
    rz_buf frame; /* encoding scratch */
};

/* ---- PRNG: xoshiro256** seeded by splitmix64 --------------------------- */

static uint64_t splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t rz_sim_rand(rz_sim *sim)
{
    uint64_t *s = sim->rng;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint64_t rz_sim_rand_range(rz_sim *sim, uint64_t lo, uint64_t hi)
{
    RZ_PRE(lo <= hi);
    if (hi - lo == UINT64_MAX) {
        return rz_sim_rand(sim);
    }
    return lo + rz_sim_rand(sim) % (hi - lo + 1);
}

static bool chance_ppm(rz_sim *sim, uint32_t ppm)
{
    return ppm > 0 && rz_sim_rand(sim) % 1000000u < ppm;
}

/* ---- Event heap -------------------------------------------------------- */

static bool ev_before(const sim_event *a, const sim_event *b)
{
    return a->t_ms < b->t_ms || (a->t_ms == b->t_ms && a->seq < b->seq);
}

static int ev_push(rz_sim *sim, sim_event ev)
{
    size_t i;
    if (sim->n_events == sim->cap_events) {
        size_t cap = sim->cap_events > 0 ? sim->cap_events * 2 : 256;
        sim_event *p = realloc(sim->heap, cap * sizeof *p);
        if (p == NULL) {
            return RZ_ENOMEM;
        }
        sim->heap = p;
        sim->cap_events = cap;
    }
    RZ_PRE(ev.t_ms >= sim->now_ms);
    ev.seq = sim->seq++;
    i = sim->n_events++;
    sim->heap[i] = ev;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!ev_before(&sim->heap[i], &sim->heap[parent])) {
            break;
        }
        sim_event tmp = sim->heap[parent];
        sim->heap[parent] = sim->heap[i];
        sim->heap[i] = tmp;
        i = parent;
    }
    return 0;
}

static sim_event ev_pop(rz_sim *sim)
{
    sim_event top = sim->heap[0];
    size_t i = 0;
    RZ_PRE(sim->n_events > 0);
    sim->heap[0] = sim->heap[--sim->n_events];
    for (;;) {
        size_t l = 2 * i + 1;
        size_t r = l + 1;
        size_t m = i;
        if (l < sim->n_events && ev_before(&sim->heap[l], &sim->heap[m])) {
            m = l;
        }
        if (r < sim->n_events && ev_before(&sim->heap[r], &sim->heap[m])) {
            m = r;
        }
        if (m == i) {
            break;
        }
        sim_event tmp = sim->heap[m];
        sim->heap[m] = sim->heap[i];
        sim->heap[i] = tmp;
        i = m;
    }
    return top;
}

/* ---- Messages ---------------------------------------------------------- */

static void msg_free(sim_msg *sm)
{
    if (sm == NULL) {
        return;
    }
    free(sm->bytes);
    free(sm);
}

static sim_msg *msg_copy(const rz_buf *frame, uint64_t from)
{
    sim_msg *sm = calloc(1, sizeof *sm);
    if (sm == NULL) {
        return NULL;
    }
    sm->bytes = malloc(frame->len);
    if (sm->bytes == NULL) {
        free(sm);
        return NULL;
    }
    memcpy(sm->bytes, frame->data, frame->len);
    sm->len = frame->len;
    sm->from = from;
    return sm;
}

/* Decodes the frame into the raft-owned message raft's recv expects. */
static void msg_deliver(sim_node *to, const sim_msg *sm)
{
    struct raft_message m;
    char address[RZ_MSG_ADDRESS_MAX_BYTES + 1];
    int rv;
    if (rz_xfer_frame_is(sm->bytes, sm->len)) {
        rz_io__recv_xfer(to->core, sm->bytes, sm->len);
        return;
    }
    rv = rz_msg_decode(sm->bytes, sm->len, &m, address, sizeof address);
    RZ_ASSERT(rv == 0); /* we encoded it ourselves */
    RZ_ASSERT(m.server_id == sm->from);
    rz_io__recv(to->core, &m);
}

static bool link_up(const rz_sim *sim, uint64_t from, uint64_t to)
{
    return !sim->link_down[from][to];
}

static uint64_t msg_delay(rz_sim *sim)
{
    uint64_t d =
        rz_sim_rand_range(sim, sim->net.delay_min_ms, sim->net.delay_max_ms);
    if (chance_ppm(sim, sim->net.reorder_ppm)) {
        d += rz_sim_rand_range(sim, 1, sim->net.reorder_extra_ms + 1);
    }
    return d;
}

/* Puts the encoded frame on the link from -> to, with the link's faults. */
static void link_put(rz_sim *sim, uint64_t from, uint64_t to,
                     const rz_buf *frame)
{
    unsigned copies = 1;
    unsigned k;
    if (!link_up(sim, from, to) || chance_ppm(sim, sim->net.loss_ppm)) {
        return;
    }
    if (chance_ppm(sim, sim->net.dup_ppm)) {
        copies = 2;
    }
    for (k = 0; k < copies; k++) {
        sim_event ev;
        sim_msg *sm = msg_copy(frame, from);
        if (sm == NULL) {
            return;
        }
        memset(&ev, 0, sizeof ev);
        ev.t_ms = sim->now_ms + msg_delay(sim) + sim->link_extra_ms[from][to];
        ev.type = EV_MSG;
        ev.node = to;
        ev.msg = sm;
        if (ev_push(sim, ev) != 0) {
            msg_free(sm);
        }
    }
}

static void backend_send_frame(void *b, uint64_t to, const char *to_address,
                               const void *frame, size_t len, int kind,
                               uint64_t index)
{
    sim_node *node = b;
    rz_sim *sim = node->sim;
    uint64_t term = 0;
    (void)to_address;
    if (to == 0 || to > RZ_SIM_MAX_NODES || to == node->id) {
        return;
    }
    if (sim->observer != NULL) {
        sim->observer(sim->observer_arg, node->id, to, kind, term, index);
    }
    rz_buf_reset(&sim->frame);
    if (rz_buf_append(&sim->frame, frame, len) != 0) {
        return;
    }
    link_put(sim, node->id, to, &sim->frame);
}

static void backend_send(void *b, const struct raft_message *m)
{
    sim_node *node = b;
    rz_sim *sim = node->sim;
    uint64_t to = m->server_id;

    if (to == 0 || to > RZ_SIM_MAX_NODES || to == node->id) {
        return;
    }
    if (sim->observer != NULL) {
        uint64_t term = 0;
        uint64_t index = 0;
        switch (m->type) {
        case RAFT_IO_APPEND_ENTRIES:
            term = m->append_entries.term;
            index = m->append_entries.prev_log_index;
            break;
        case RAFT_IO_APPEND_ENTRIES_RESULT:
            term = m->append_entries_result.term;
            index = m->append_entries_result.last_log_index;
            break;
        case RAFT_IO_REQUEST_VOTE:
            term = m->request_vote.term;
            index = m->request_vote.last_log_index;
            break;
        case RAFT_IO_REQUEST_VOTE_RESULT:
            term = m->request_vote_result.term;
            index = m->request_vote_result.vote_granted ? 1u : 0u;
            break;
        case RAFT_IO_TIMEOUT_NOW:
            term = m->timeout_now.term;
            index = m->timeout_now.last_log_index;
            break;
        default:
            break;
        }
        sim->observer(sim->observer_arg, node->id, to, m->type, term, index);
    }
    if (sim->drop_entries[node->id][to] && m->type == RAFT_IO_APPEND_ENTRIES &&
        m->append_entries.n_entries > 0) {
        return;
    }
    rz_buf_reset(&sim->frame);
    if (rz_msg_encode(m, node->id, node->address, &sim->frame) != 0) {
        return;
    }
    link_put(sim, node->id, to, &sim->frame);
}

/* ---- Disk -------------------------------------------------------------- */

static int disk_exec(sim_node *node, rz_io_op *op)
{
    rz_logstore *ls = node->core->ls;
    if (node->poisoned || node->disk.failing) {
        return RZ_EIO;
    }
    if (node->disk.full) {
        return RZ_ENOSPACE;
    }
    if (op->type == RZ_IO_OP_APPEND) {
        return rz_logstore_append(ls, op->index, op->entries, op->n);
    }
    if (op->type == RZ_IO_OP_SNAPSHOT) {
        return rz_logstore_snapshot_put(ls, &op->snap, op->trailing);
    }
    return rz_logstore_truncate(ls, op->index);
}

static void backend_submit(void *b, rz_io_op *op)
{
    sim_node *node = b;
    rz_sim *sim = node->sim;
    sim_disk_op *d = calloc(1, sizeof *d);
    sim_event ev;
    uint64_t due;

    RZ_ASSERT(d != NULL);
    d->op = op;
    if (node->dq_tail != NULL) {
        node->dq_tail->next = d;
    } else {
        node->dq_head = d;
    }
    node->dq_tail = d;
    /* Like the group-commit writer: an op queued while earlier ones are
     * being written completes no earlier than they do, but the latencies
     * overlap instead of adding up. */
    due = sim->now_ms;
    if (op->type == RZ_IO_OP_APPEND) {
        due += rz_sim_rand_range(sim, node->disk.latency_min_ms,
                                 node->disk.latency_max_ms);
    }
    if (due < node->disk_due_ms) {
        due = node->disk_due_ms;
    }
    node->disk_due_ms = due;
    memset(&ev, 0, sizeof ev);
    ev.t_ms = due;
    ev.type = EV_DISK;
    ev.node = node->id;
    ev.gen = node->gen;
    RZ_ASSERT(ev_push(sim, ev) == 0);
}

static void disk_complete(sim_node *node)
{
    sim_disk_op *d = node->dq_head;
    rz_io_op *op;
    int status;

    if (d == NULL) {
        return; /* canceled by a reset/cancel */
    }
    node->dq_head = d->next;
    if (node->dq_head == NULL) {
        node->dq_tail = NULL;
    }
    op = d->op;
    free(d);
    status = disk_exec(node, op);
    if (status != 0) {
        /* A debugging aid only: it prints, it decides nothing. */
        if (getenv("RZ_SIM_DEBUG") != NULL) {
            fprintf(stderr, "n%llu disk op %d index %llu: %s (%s)\n",
                    (unsigned long long)node->id, op->type,
                    (unsigned long long)op->index, rz_strerror(status),
                    rz_logstore_errmsg(node->core->ls));
        }
        node->poisoned = true;
    }
    rz_io__op_done(node->core, op, status);
}

static void dq_clear(sim_node *node)
{
    while (node->dq_head != NULL) {
        sim_disk_op *d = node->dq_head;
        node->dq_head = d->next;
        free(d);
    }
    node->dq_tail = NULL;
}

static void backend_reset(void *b)
{
    sim_node *node = b;
    RZ_PRE(node->dq_head == NULL);
    node->poisoned = false;
}

static void backend_close(void *b, void (*done)(void *arg), void *arg)
{
    sim_node *node = b;
    dq_clear(node);
    node->gen++; /* pending disk events of this incarnation are void */
    done(arg);
}

/* ---- Clock, random, ticks ---------------------------------------------- */

static uint64_t backend_now(void *b)
{
    sim_node *node = b;
    return node->sim->now_ms;
}

static int backend_random(void *b, int min, int max)
{
    sim_node *node = b;
    RZ_PRE(min <= max);
    return min + (int)(rz_sim_rand(node->sim) %
                       (uint64_t)((int64_t)max - (int64_t)min + 1));
}

static void schedule_tick(sim_node *node)
{
    sim_event ev;
    memset(&ev, 0, sizeof ev);
    ev.t_ms = node->sim->now_ms + node->tick_ms;
    ev.type = EV_TICK;
    ev.node = node->id;
    ev.gen = node->gen;
    RZ_ASSERT(ev_push(node->sim, ev) == 0);
}

static void backend_start(void *b, unsigned tick_ms)
{
    sim_node *node = b;
    node->tick_ms = tick_ms > 0 ? tick_ms : 10;
    schedule_tick(node);
}

static const rz_io_backend_ops sim_ops = {
    .now_ms = backend_now,
    .random = backend_random,
    .start = backend_start,
    .send = backend_send,
    .send_frame = backend_send_frame,
    .submit = backend_submit,
    .reset = backend_reset,
    .close = backend_close,
};

/* ---- World ------------------------------------------------------------- */

int rz_sim_create(uint64_t seed, rz_sim **out)
{
    rz_sim *sim = calloc(1, sizeof *sim);
    uint64_t x = seed;
    unsigned i;

    if (sim == NULL) {
        return RZ_ENOMEM;
    }
    for (i = 0; i < 4; i++) {
        sim->rng[i] = splitmix(&x);
    }
    rz_buf_init(&sim->frame, RZ_PEER_FRAME_MAX_BYTES);
    sim->net.delay_min_ms = 1;
    sim->net.delay_max_ms = 10;
    for (i = 0; i <= RZ_SIM_MAX_NODES; i++) {
        sim->nodes[i].sim = sim;
        sim->nodes[i].id = i;
        sim->nodes[i].disk.latency_min_ms = 1;
        sim->nodes[i].disk.latency_max_ms = 5;
    }
    *out = sim;
    return 0;
}

void rz_sim_destroy(rz_sim *sim)
{
    size_t i;
    unsigned k;
    if (sim == NULL) {
        return;
    }
    for (k = 0; k <= RZ_SIM_MAX_NODES; k++) {
        RZ_PRE(!sim->nodes[k].up);
        dq_clear(&sim->nodes[k]);
    }
    for (i = 0; i < sim->n_events; i++) {
        msg_free(sim->heap[i].msg);
    }
    free(sim->heap);
    rz_buf_close(&sim->frame);
    free(sim);
}

uint64_t rz_sim_now_ms(const rz_sim *sim)
{
    return sim->now_ms;
}

int rz_sim_at(rz_sim *sim, uint64_t t_ms, void (*fn)(void *arg), void *arg)
{
    sim_event ev;
    memset(&ev, 0, sizeof ev);
    ev.t_ms = t_ms < sim->now_ms ? sim->now_ms : t_ms;
    ev.type = EV_USER;
    ev.fn = fn;
    ev.arg = arg;
    return ev_push(sim, ev);
}

static void run_event(rz_sim *sim, sim_event *ev)
{
    sim_node *node = NULL;
    if (ev->type != EV_USER) {
        RZ_ASSERT(ev->node >= 1 && ev->node <= RZ_SIM_MAX_NODES);
        node = &sim->nodes[ev->node];
    }
    switch (ev->type) {
    case EV_TICK:
        if (node->up && ev->gen == node->gen) {
            schedule_tick(node);
            rz_io__tick(node->core);
        }
        break;
    case EV_MSG:
        if (node->up && link_up(sim, ev->msg->from, ev->node)) {
            msg_deliver(node, ev->msg);
        }
        msg_free(ev->msg);
        break;
    case EV_DISK:
        if (node->up && ev->gen == node->gen) {
            disk_complete(node);
        }
        break;
    case EV_USER:
        ev->fn(ev->arg);
        break;
    default:
        RZ_UNREACHABLE();
    }
}

bool rz_sim_step(rz_sim *sim, uint64_t t_ms)
{
    sim_event ev;
    if (sim->n_events == 0 || sim->heap[0].t_ms > t_ms) {
        return false;
    }
    ev = ev_pop(sim);
    RZ_ASSERT(ev.t_ms >= sim->now_ms);
    sim->now_ms = ev.t_ms;
    run_event(sim, &ev);
    return true;
}

uint64_t rz_sim_run_until(rz_sim *sim, uint64_t t_ms)
{
    uint64_t n = 0;
    while (rz_sim_step(sim, t_ms)) {
        n++;
    }
    if (sim->now_ms < t_ms) {
        sim->now_ms = t_ms;
    }
    return n;
}

void rz_sim_net_set(rz_sim *sim, const rz_sim_net *net)
{
    RZ_PRE(net->delay_min_ms <= net->delay_max_ms);
    sim->net = *net;
}

void rz_sim_link_set(rz_sim *sim, uint64_t from, uint64_t to, bool up)
{
    RZ_PRE(from <= RZ_SIM_MAX_NODES && to <= RZ_SIM_MAX_NODES);
    sim->link_down[from][to] = !up;
}

void rz_sim_links_heal(rz_sim *sim)
{
    memset(sim->link_down, 0, sizeof sim->link_down);
    memset(sim->drop_entries, 0, sizeof sim->drop_entries);
    memset(sim->link_extra_ms, 0, sizeof sim->link_extra_ms);
}

void rz_sim_link_drop_entries(rz_sim *sim, uint64_t from, uint64_t to,
                              bool drop)
{
    RZ_PRE(from <= RZ_SIM_MAX_NODES && to <= RZ_SIM_MAX_NODES);
    sim->drop_entries[from][to] = drop;
}

void rz_sim_link_delay(rz_sim *sim, uint64_t from, uint64_t to,
                       uint32_t extra_ms)
{
    RZ_PRE(from <= RZ_SIM_MAX_NODES && to <= RZ_SIM_MAX_NODES);
    sim->link_extra_ms[from][to] = extra_ms;
}

void rz_sim_disk_set(rz_sim *sim, uint64_t id, const rz_sim_disk *disk)
{
    RZ_PRE(id >= 1 && id <= RZ_SIM_MAX_NODES);
    RZ_PRE(disk->latency_min_ms <= disk->latency_max_ms);
    sim->nodes[id].disk = *disk;
}

void rz_sim_observe(rz_sim *sim, rz_sim_msg_observer fn, void *arg)
{
    sim->observer = fn;
    sim->observer_arg = arg;
}

int rz_sim__attach(rz_sim *sim, uint64_t id, const char *address,
                   rz_io_core *core, const rz_io_backend_ops **ops,
                   void **backend)
{
    sim_node *node;
    if (id == 0 || id > RZ_SIM_MAX_NODES) {
        return RZ_EINVAL;
    }
    node = &sim->nodes[id];
    if (node->up) {
        return RZ_EEXISTS;
    }
    node->up = true;
    node->gen++;
    node->core = core;
    node->poisoned = false;
    node->disk_due_ms = sim->now_ms;
    snprintf(node->address, sizeof node->address, "%s", address);
    *ops = &sim_ops;
    *backend = node;
    return 0;
}

void rz_sim__detach(rz_sim *sim, uint64_t id)
{
    sim_node *node;
    RZ_PRE(id >= 1 && id <= RZ_SIM_MAX_NODES);
    node = &sim->nodes[id];
    dq_clear(node);
    node->up = false;
    node->gen++;
    node->core = NULL;
}
