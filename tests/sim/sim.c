/* The deterministic simulator of ratusz (DESIGN.md §4, §8): N replicas of
 * the real raft 0.15 core, our raft_io, the LMDB log store and the real
 * storage/ state machine in one process, driven by one seed through the
 * virtual clock, network and disks of consensus's rz_sim.
 *
 *   sim --seed N [--nodes 3|5]            one seed, verbose trace on failure
 *   sim --seeds N [--from S] [--nodes 3|5] many seeds
 *   sim --scenario fig8|stale-tail|stale-read|vote-durable|transfer-vote|
 *       recover|disk-full|catchup [--off MASK] --expect violation|clean
 *
 * Every replica takes a snapshot every SIM_SNAPSHOT_THRESHOLD entries and
 * keeps SIM_SNAPSHOT_TRAILING, so every run compacts its logs and a
 * replica that was down or cut off long enough (and the joiner) catches up
 * by state transfer (small chunks, so transfers span many frames and meet
 * the network's loss, duplication and reordering).
 *
 * Checks: at most one leader per term; every replica that applies index i
 * applies the same command and has the same state checksum there (state
 * machine safety, which log matching implies for committed entries); no
 * acknowledged command missing from the final state; no request id applied
 * twice; per-case real-time order of reads against acknowledged writes;
 * liveness: after the faults heal, a leader serves and every replica
 * catches up within a bounded virtual time. A failure prints the seed and
 * the last lines of the trace. */
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/common.h"
#include "consensus/consensus.h"
#include "jepsen/check/check.h"
#include "node/sm.h"
#include "storage/storage.h"

#define MAX_NODES 6 /* five replicas and one that joins later */
#define TRACE_LINES 300
#define TRACE_LINE_BYTES 200
#define MAX_CLIENTS 3
#define MAX_OPS 4096
#define MAX_CASES 2048
/* A snapshot every 32 entries, 48 kept: a snapshot in every run that
 * applies 64 entries or more (97-100% of seeds), entries discarded from
 * index 80 on, and a replica that falls 48-80 entries behind needs a state
 * transfer (about 2 runs in 3 install one). Each transfer costs an LMDB
 * copy and two env opens: smaller values (24,24) took the sim label ~40%
 * over its time budget for little more coverage. */
#define SIM_SNAPSHOT_THRESHOLD 32u
#define SIM_SNAPSHOT_TRAILING 48u
#define SIM_XFER_CHUNK_BYTES 4096u

/* ---- World -------------------------------------------------------------- */

typedef struct world world;

typedef struct node
{
    world *w;
    uint64_t id;
    bool up;
    rz_replica *rep;
    rz_storage *st;
    char dir[256];
    uint32_t election_timeout_ms;
    int last_state;
    uint64_t last_term;
} node;

typedef struct applied
{
    bool set;
    uint64_t cmd_hash;
    uint64_t by;  /* first node that applied it */
    bool has_sum; /* some node ended a batch here: its state checksum */
    uint64_t sum_by;
    uint8_t checksum[32];
} applied;

/* One client operation, for the history checks. */
enum { OP_CREATE = 1, OP_STATUS, OP_READ };
enum { RES_PENDING = 0, RES_OK, RES_FAIL, RES_INFO };

typedef struct op
{
    int kind;
    int client;
    uint64_t request_id;
    uint64_t case_id;
    uint32_t expected_version;
    uint8_t to_status;
    uint64_t invoke_ms, complete_ms;
    uint64_t invoke_seq, complete_seq; /* w->clock: exact real-time order */
    int result;                        /* RES_* */
    int code;                          /* the state machine's result code */
    uint32_t version;                  /* after the write / as read */
    uint8_t status;                    /* as read */
    uint64_t acked_case;               /* create: the case id returned */
    int attempts;
} op;

typedef struct client
{
    world *w;
    int idx;
    uint64_t target; /* the node it believes leads */
    int busy_op;     /* index in ops, -1 when idle */
    uint64_t next_rid;
} client;

typedef struct known_case
{
    uint64_t id;
    uint32_t version;
    uint8_t status;
} known_case;

struct world
{
    rz_sim *sim;
    uint64_t seed;
    int n_nodes; /* the initial voters, ids 1..n_nodes */
    int n_all;   /* plus the joiner (id n_nodes + 1) when there is one */
    node nodes[MAX_NODES + 1];
    char base[200];
    uint32_t mit_off;
    bool verbose;

    applied *app;
    size_t n_app;

    uint64_t *leader_of_term;
    size_t n_terms;

    client clients[MAX_CLIENTS];
    op ops[MAX_OPS];
    size_t n_ops;
    known_case cases[MAX_CASES];
    size_t n_cases;
    bool load_on;
    bool check_votes;
    uint64_t clock; /* logical time of client invocations and completions */

    char trace[TRACE_LINES][TRACE_LINE_BYTES];
    size_t trace_n;
    char violation[512];
    bool failed;
    uint64_t events;
    uint64_t syncs;    /* state syncs before snapshots */
    uint64_t installs; /* state transfers installed */
};

static void tracef(world *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void tracef(world *w, const char *fmt, ...)
{
    char *line = w->trace[w->trace_n % TRACE_LINES];
    int k = snprintf(line, TRACE_LINE_BYTES, "%8" PRIu64 "ms ",
                     rz_sim_now_ms(w->sim));
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + k, (size_t)(TRACE_LINE_BYTES - k), fmt, ap);
    va_end(ap);
    w->trace_n++;
    if (w->verbose) {
        fprintf(stderr, "%s\n", line);
    }
}

static void violation(world *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void violation(world *w, const char *fmt, ...)
{
    va_list ap;
    if (w->failed) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(w->violation, sizeof w->violation, fmt, ap);
    va_end(ap);
    w->failed = true;
    tracef(w, "VIOLATION: %s", w->violation);
}

static void trace_dump(world *w)
{
    size_t start = w->trace_n > TRACE_LINES ? w->trace_n - TRACE_LINES : 0;
    size_t i;
    fprintf(stderr, "---- last %zu trace lines (seed %" PRIu64 ") ----\n",
            w->trace_n - start, w->seed);
    for (i = start; i < w->trace_n; i++) {
        fprintf(stderr, "%s\n", w->trace[i % TRACE_LINES]);
    }
}

static uint64_t fnv(const void *p, size_t n)
{
    const uint8_t *b = p;
    uint64_t h = 1469598103934665603ull;
    size_t i;
    for (i = 0; i < n; i++) {
        h = (h ^ b[i]) * 1099511628211ull;
    }
    return h;
}

/* ---- The state machine binding: storage/ plus the safety records -------- */

static int sm_apply_batch(void *data, const rz_sm_entry *e, size_t n,
                          rz_buf *results)
{
    node *nd = data;
    world *w = nd->w;
    rz_storage_entry se[RZ_PROPOSE_BATCH_MAX] = {{0, NULL, 0}};
    size_t i;
    int rv;

    RZ_ASSERT(n <= RZ_PROPOSE_BATCH_MAX);
    for (i = 0; i < n; i++) {
        se[i].index = e[i].index;
        se[i].cmd = e[i].cmd;
        se[i].cmd_len = e[i].len;
    }
    rv = rz_storage_apply_batch(nd->st, se, n, results);
    if (rv != 0) {
        return rv;
    }
    /* One checksum per batch: the state at its last index. */
    {
        uint8_t sum[32];
        uint64_t at = 0;
        RZ_ASSERT(rz_storage_checksum(nd->st, sum, &at) == 0);
        for (i = 0; i < n; i++) {
            uint64_t idx = e[i].index;
            uint64_t h = fnv(e[i].cmd, e[i].len);
            bool last = i + 1 == n;
            if (idx >= w->n_app) {
                size_t cap = w->n_app > 0 ? w->n_app : 256;
                while (cap <= idx) {
                    cap *= 2;
                }
                applied *p = realloc(w->app, cap * sizeof *p);
                RZ_ASSERT(p != NULL);
                memset(p + w->n_app, 0, (cap - w->n_app) * sizeof *p);
                w->app = p;
                w->n_app = cap;
            }
            if (!w->app[idx].set) {
                w->app[idx].set = true;
                w->app[idx].cmd_hash = h;
                w->app[idx].by = nd->id;
            } else if (w->app[idx].cmd_hash != h) {
                violation(w,
                          "node %" PRIu64 " applied a different command at "
                          "index %" PRIu64 " than node %" PRIu64,
                          nd->id, idx, w->app[idx].by);
            }
            if (last && !w->app[idx].has_sum) {
                w->app[idx].has_sum = true;
                w->app[idx].sum_by = nd->id;
                memcpy(w->app[idx].checksum, sum, 32);
            } else if (last && memcmp(w->app[idx].checksum, sum, 32) != 0) {
                violation(w,
                          "node %" PRIu64 " has a different state checksum "
                          "at index %" PRIu64 " than node %" PRIu64,
                          nd->id, idx, w->app[idx].sum_by);
            }
            tracef(w, "n%" PRIu64 " apply %" PRIu64 " cmd=%016" PRIx64, nd->id,
                   idx, h);
        }
    }
    return 0;
}

static uint64_t sm_applied_index(void *data)
{
    node *nd = data;
    return rz_storage_applied_index(nd->st);
}

static int sm_checksum(void *data, uint8_t out[32], uint64_t *applied_index)
{
    node *nd = data;
    return rz_storage_checksum(nd->st, out, applied_index);
}

/* --snapshot THRESHOLD,TRAILING overrides the defaults above. */
static uint32_t snap_threshold = SIM_SNAPSHOT_THRESHOLD;
static uint32_t snap_trailing = SIM_SNAPSHOT_TRAILING;

static void storage_options(rz_storage_options *so)
{
    memset(so, 0, sizeof *so);
    so->map_size_bytes = 64u << 20; /* small maps: a run holds little */
    /* The simulated disk decides what survives a crash (a crash is a
     * process crash: the env is closed, its writes are in the file), so
     * fsync only costs time here. */
    so->unsafe_no_sync = true;
}

static int sm_sync(void *data)
{
    node *nd = data;
    nd->w->syncs++;
    return rz_storage_sync(nd->st);
}

static int sm_copy(void *data, int fd, uint64_t *applied_index,
                   uint8_t checksum[32])
{
    node *nd = data;
    uint64_t at = 0;
    int rv = rz_storage_copy_to_fd(nd->st, fd, applied_index);
    if (rv == 0) {
        rv = rz_storage_checksum(nd->st, checksum, &at);
    }
    RZ_ASSERT(rv != 0 || at == *applied_index);
    tracef(nd->w, "n%" PRIu64 " state copy at %" PRIu64, nd->id,
           *applied_index);
    return rv;
}

/* The node's binding (node/sm.c) does the install; the simulator also
 * checks the installed state against what other replicas had there. */
static int sm_install(void *data, const char *path, uint64_t applied_index,
                      const uint8_t checksum[32])
{
    node *nd = data;
    world *w = nd->w;
    rz_storage_options so;
    char errmsg[RZ_ERRMSG_BYTES];
    uint8_t sum[32];
    uint64_t at = 0;
    int rv;

    storage_options(&so);
    errmsg[0] = '\0';
    rv = rz_node_state_install(&nd->st, nd->dir, &so, path, applied_index,
                               checksum, errmsg);
    if (rv != 0) {
        tracef(w, "n%" PRIu64 " install at %" PRIu64 " refused: %s", nd->id,
               applied_index, errmsg);
        if (nd->st == NULL) {
            violation(w, "n%" PRIu64 " lost its state env in an install",
                      nd->id);
        }
        return rv;
    }
    RZ_ASSERT(rz_storage_checksum(nd->st, sum, &at) == 0);
    w->installs++;
    tracef(w, "n%" PRIu64 " INSTALLED state at %" PRIu64, nd->id, at);
    if (at != applied_index || memcmp(sum, checksum, 32) != 0) {
        violation(w, "n%" PRIu64 " installed a state other than announced",
                  nd->id);
    } else if (at < w->n_app && w->app[at].has_sum &&
               memcmp(w->app[at].checksum, sum, 32) != 0) {
        violation(w,
                  "n%" PRIu64 " installed a state whose checksum at %" PRIu64
                  " differs from node %" PRIu64 "'s",
                  nd->id, at, w->app[at].sum_by);
    }
    return 0;
}

/* ---- Nodes -------------------------------------------------------------- */

static int rm_cb(const char *path, const struct stat *sb, int flag,
                 struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void node_start(world *w, node *nd)
{
    char errmsg[RZ_ERRMSG_BYTES];
    rz_replica_options o;
    char addr[32];
    rz_storage_options so;
    int rv;

    RZ_PRE(!nd->up);
    storage_options(&so);
    rv = rz_storage_open(nd->dir, &so, &nd->st, errmsg);
    if (rv != 0) {
        fprintf(stderr, "storage open %s: %s\n", nd->dir, errmsg);
        abort();
    }
    snprintf(addr, sizeof addr, "n%" PRIu64, nd->id);
    memset(&o, 0, sizeof o);
    o.id = nd->id;
    o.address = addr;
    o.dir = nd->dir;
    o.sm.data = nd;
    o.sm.apply_batch = sm_apply_batch;
    o.sm.applied_index = sm_applied_index;
    o.sm.checksum = sm_checksum;
    o.sm.sync = sm_sync;
    o.sm.copy = sm_copy;
    o.sm.install = sm_install;
    o.snapshot_threshold = snap_threshold;
    o.snapshot_trailing = snap_trailing;
    o.xfer_chunk_bytes = SIM_XFER_CHUNK_BYTES;
    o.install_snapshot_timeout_ms = 3000;
    o.election_timeout_ms = nd->election_timeout_ms;
    o.heartbeat_timeout_ms = 100;
    o.tick_ms = 20;
    o.mitigations_off = w->mit_off;
    o.log_map_size_bytes = 64u << 20;
    o.log_unsafe_no_sync = true;
    rv = rz_replica_open_sim(w->sim, &o, &nd->rep, errmsg);
    if (rv != 0) {
        fprintf(stderr, "replica open n%" PRIu64 ": %s\n", nd->id, errmsg);
        abort();
    }
    nd->up = true;
    nd->last_state = -1;
    tracef(w, "n%" PRIu64 " start (state applied %" PRIu64 ")", nd->id,
           rz_storage_applied_index(nd->st));
}

static void node_crash(world *w, node *nd)
{
    RZ_PRE(nd->up);
    nd->up = false;
    tracef(w, "n%" PRIu64 " CRASH", nd->id);
    rz_replica_crash(nd->rep);
    nd->rep = NULL;
    rz_storage_close(nd->st);
    nd->st = NULL;
}

static void observe(void *arg, uint64_t from, uint64_t to, int type,
                    uint64_t term, uint64_t index)
{
    world *w = arg;
    static const char *names[] = {"?",         "AE",  "AE-result",  "RV",
                                  "RV-result", "IS",  "TimeoutNow", "chunk",
                                  "chunk-ack", "NEED"};
    if (type == RZ_SIM_MSG_APPEND_ENTRIES ||
        type == RZ_SIM_MSG_APPEND_ENTRIES_RESULT ||
        type == RZ_SIM_MSG_XFER_CHUNK || type == RZ_SIM_MSG_XFER_ACK) {
        if (!w->verbose) {
            return;
        }
    }
    tracef(w, "n%" PRIu64 " -> n%" PRIu64 " %s term %" PRIu64 " idx %" PRIu64,
           from, to, type >= 1 && type <= 9 ? names[type] : "?", term, index);
    /* A candidate may only announce what it has stored (mitigation 3). */
    if (type == RZ_SIM_MSG_REQUEST_VOTE && w->check_votes) {
        rz_replica_status s;
        rz_replica_status_get(w->nodes[from].rep, &s);
        if (index > s.stored_index) {
            violation(w,
                      "n%" PRIu64 " asks for votes announcing index %" PRIu64
                      " with only %" PRIu64 " durable",
                      from, index, s.stored_index);
        }
    }
}

static void world_init(world *w, uint64_t seed, int n_nodes, uint32_t mit_off)
{
    rz_member members[MAX_NODES];
    char addrs[MAX_NODES][16];
    char errmsg[RZ_ERRMSG_BYTES];
    int i;

    memset(w, 0, sizeof *w);
    w->seed = seed;
    w->n_nodes = n_nodes;
    w->n_all = n_nodes;
    w->mit_off = mit_off;
    RZ_ASSERT(rz_sim_create(seed, &w->sim) == 0);
    rz_sim_observe(w->sim, observe, w);
    snprintf(w->base, sizeof w->base, "/dev/shm/ratusz-sim-%d-%" PRIu64,
             (int)getpid(), seed);
    nftw(w->base, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    RZ_ASSERT(mkdir(w->base, 0700) == 0);
    for (i = 0; i < n_nodes; i++) {
        snprintf(addrs[i], sizeof addrs[i], "n%d", i + 1);
        members[i].id = (uint64_t)i + 1;
        members[i].address = addrs[i];
        members[i].voter = true;
    }
    for (i = 1; i <= n_nodes; i++) {
        node *nd = &w->nodes[i];
        nd->w = w;
        nd->id = (uint64_t)i;
        nd->election_timeout_ms = 1000;
        snprintf(nd->dir, sizeof nd->dir, "%s/n%d", w->base, i);
        RZ_ASSERT(mkdir(nd->dir, 0700) == 0);
        if (rz_replica_bootstrap(nd->dir, members, (size_t)n_nodes, errmsg) !=
            0) {
            fprintf(stderr, "bootstrap: %s\n", errmsg);
            abort();
        }
    }
    /* The joiner's directory: no bootstrap, it learns the log from a
     * leader once it is added. */
    {
        node *nd = &w->nodes[n_nodes + 1];
        nd->w = w;
        nd->id = (uint64_t)n_nodes + 1;
        nd->election_timeout_ms = 1000;
        snprintf(nd->dir, sizeof nd->dir, "%s/n%d", w->base, n_nodes + 1);
        RZ_ASSERT(mkdir(nd->dir, 0700) == 0);
    }
    for (i = 0; i < MAX_CLIENTS; i++) {
        w->clients[i].w = w;
        w->clients[i].idx = i;
        w->clients[i].busy_op = -1;
        w->clients[i].target = 1;
    }
}

static void world_fini(world *w)
{
    int i;
    for (i = 1; i <= w->n_all; i++) {
        if (w->nodes[i].up) {
            node_crash(w, &w->nodes[i]);
        }
    }
    rz_sim_destroy(w->sim);
    free(w->app);
    free(w->leader_of_term);
    nftw(w->base, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- Per-event checks --------------------------------------------------- */

static void check_leaders(world *w)
{
    int i;
    for (i = 1; i <= w->n_all; i++) {
        node *nd = &w->nodes[i];
        rz_replica_status s;
        if (!nd->up) {
            continue;
        }
        rz_replica_status_get(nd->rep, &s);
        if (s.state != nd->last_state || s.term != nd->last_term) {
            if (s.state == RZ_REPLICA_LEADER ||
                nd->last_state == RZ_REPLICA_LEADER) {
                tracef(w,
                       "n%" PRIu64 " %s term %" PRIu64 " (last %" PRIu64
                       " commit %" PRIu64 ")",
                       nd->id,
                       s.state == RZ_REPLICA_LEADER ? "LEADER" : "steps down",
                       s.term, s.last_index, s.commit_index);
            }
            nd->last_state = s.state;
            nd->last_term = s.term;
        }
        if (s.state != RZ_REPLICA_LEADER) {
            continue;
        }
        if (s.term >= w->n_terms) {
            size_t cap = w->n_terms > 0 ? w->n_terms : 64;
            while (cap <= s.term) {
                cap *= 2;
            }
            uint64_t *p = realloc(w->leader_of_term, cap * sizeof *p);
            RZ_ASSERT(p != NULL);
            memset(p + w->n_terms, 0, (cap - w->n_terms) * sizeof *p);
            w->leader_of_term = p;
            w->n_terms = cap;
        }
        if (w->leader_of_term[s.term] == 0) {
            w->leader_of_term[s.term] = nd->id;
        } else if (w->leader_of_term[s.term] != nd->id) {
            violation(w,
                      "two leaders in term %" PRIu64 ": n%" PRIu64
                      " and n%" PRIu64,
                      s.term, w->leader_of_term[s.term], nd->id);
        }
    }
}

typedef bool (*pred_fn)(world *w, void *arg);

/* Runs events one at a time until pred holds (true) or t_ms passes. */
static bool run_until(world *w, uint64_t t_ms, pred_fn pred, void *arg)
{
    for (;;) {
        if (pred != NULL && pred(w, arg)) {
            return true;
        }
        if (w->failed) {
            return false;
        }
        if (!rz_sim_step(w->sim, t_ms)) {
            rz_sim_run_until(w->sim, t_ms);
            check_leaders(w);
            return pred != NULL && pred(w, arg);
        }
        w->events++;
        check_leaders(w);
    }
}

static node *leader(world *w)
{
    int i;
    node *best = NULL;
    uint64_t term = 0;
    for (i = 1; i <= w->n_all; i++) {
        rz_replica_status s;
        if (!w->nodes[i].up) {
            continue;
        }
        rz_replica_status_get(w->nodes[i].rep, &s);
        if (s.state == RZ_REPLICA_LEADER && s.term >= term) {
            best = &w->nodes[i];
            term = s.term;
        }
    }
    return best;
}

static bool has_leader(world *w, void *arg)
{
    (void)arg;
    return leader(w) != NULL;
}

/* ---- Clients ------------------------------------------------------------ */

static void client_issue(client *c);
static void client_attempt(client *c);

static void client_retry_cb(void *arg)
{
    client *c = arg;
    if (c->busy_op >= 0) {
        client_attempt(c);
    }
}

static void client_done(client *c, int result)
{
    world *w = c->w;
    op *o = &w->ops[c->busy_op];
    o->result = result;
    o->complete_ms = rz_sim_now_ms(w->sim);
    o->complete_seq = ++w->clock;
    c->busy_op = -1;
}

static known_case *case_find(world *w, uint64_t id)
{
    size_t i;
    for (i = 0; i < w->n_cases; i++) {
        if (w->cases[i].id == id) {
            return &w->cases[i];
        }
    }
    return NULL;
}

/* Outcome unknown or not leader: try again (same request id). */
static void client_again(client *c, uint64_t delay_ms, const char *why)
{
    world *w = c->w;
    op *o = &w->ops[c->busy_op];
    if (o->attempts >= 12) {
        tracef(w, "c%d op%d gives up (%s)", c->idx, c->busy_op, why);
        client_done(c, o->kind == OP_READ ? RES_FAIL : RES_INFO);
        return;
    }
    RZ_ASSERT(rz_sim_at(w->sim, rz_sim_now_ms(w->sim) + delay_ms,
                        client_retry_cb, c) == 0);
}

static void propose_cb(void *arg, const rz_propose_result *res)
{
    client *c = arg;
    world *w = c->w;
    op *o;
    rz_result r;

    if (c->busy_op < 0) {
        return;
    }
    o = &w->ops[c->busy_op];
    if (res->status == RZ_ENOTLEADER) {
        if (res->leader_id != 0) {
            c->target = res->leader_id;
        } else {
            c->target = 1 + rz_sim_rand(w->sim) % (uint64_t)w->n_nodes;
        }
        client_again(c, 30, "not leader");
        return;
    }
    if (res->status != 0) {
        /* Leadership lost, shutdown, disk: the outcome may be either. */
        c->target = 1 + rz_sim_rand(w->sim) % (uint64_t)w->n_nodes;
        client_again(c, 100, rz_errname(res->status));
        return;
    }
    if (rz_result_decode(res->result, res->len, &r) != 0) {
        violation(w, "undecodable result for op %d", c->busy_op);
        return;
    }
    o->code = r.code;
    o->version = r.version;
    if (o->kind == OP_CREATE && r.code == 0) {
        o->acked_case = r.case_id;
        if (case_find(w, r.case_id) == NULL && w->n_cases < MAX_CASES) {
            known_case *k = &w->cases[w->n_cases++];
            k->id = r.case_id;
            k->version = r.version;
            k->status = 0;
        }
    }
    if (o->kind == OP_STATUS && r.code == 0) {
        known_case *k = case_find(w, o->case_id);
        if (k != NULL && r.version > k->version) {
            k->version = r.version;
            k->status = o->to_status;
        }
    }
    tracef(w, "c%d op%d ok index %" PRIu64 " code %d case %" PRIu64 " v%u",
           c->idx, c->busy_op, res->index, r.code, r.case_id, r.version);
    client_done(c, RES_OK);
}

static void read_cb(void *arg, int status, uint64_t leader_id)
{
    client *c = arg;
    world *w = c->w;
    op *o;
    node *nd;
    rz_storage_read *rd;
    rz_case cs;

    if (c->busy_op < 0) {
        return;
    }
    o = &w->ops[c->busy_op];
    if (status != 0) {
        c->target = leader_id != 0
                        ? leader_id
                        : 1 + rz_sim_rand(w->sim) % (uint64_t)w->n_nodes;
        client_again(c, 50, rz_errname(status));
        return;
    }
    nd = &w->nodes[c->target];
    if (!nd->up) {
        client_again(c, 50, "down");
        return;
    }
    RZ_ASSERT(rz_storage_read_begin(nd->st, &rd) == 0);
    if (rz_storage_case_get(rd, o->case_id, &cs) == 0) {
        o->version = cs.version;
        o->status = cs.status;
        o->code = 0;
    } else {
        o->code = RZ_ENOCASE;
    }
    rz_storage_read_end(rd);
    tracef(w, "c%d op%d read n%" PRIu64 " case %" PRIu64 " v%u", c->idx,
           c->busy_op, nd->id, o->case_id, o->version);
    client_done(c, RES_OK);
}

static void client_attempt(client *c)
{
    world *w = c->w;
    op *o = &w->ops[c->busy_op];
    node *nd;
    uint8_t rid[16];
    rz_buf b;
    rz_proposal p;

    o->attempts++;
    if (c->target < 1 || c->target > (uint64_t)w->n_nodes ||
        !w->nodes[c->target].up) {
        c->target = 1 + rz_sim_rand(w->sim) % (uint64_t)w->n_nodes;
        client_again(c, 50, "target down");
        return;
    }
    nd = &w->nodes[c->target];
    if (o->kind == OP_READ) {
        RZ_ASSERT(rz_replica_read(nd->rep, false, read_cb, c) == 0);
        return;
    }
    memset(rid, 0, sizeof rid);
    memcpy(rid, &o->request_id, sizeof o->request_id);
    rz_buf_init(&b, RZ_COMMAND_MAX_BYTES);
    if (o->kind == OP_CREATE) {
        rz_case_create cc;
        char desc[64];
        memset(&cc, 0, sizeof cc);
        snprintf(desc, sizeof desc, "rq:%016" PRIx64, o->request_id);
        cc.kind = RZ_KIND_INCIDENT;
        cc.channel = RZ_CHANNEL_PHONE;
        cc.service_code = "OTHER";
        cc.description = desc;
        cc.district = "UNKNOWN";
        cc.actor.role = RZ_ACTOR_AGENT;
        RZ_ASSERT(rz_cmd_create_encode(&b, rid, rz_sim_now_ms(w->sim), &cc) ==
                  0);
    } else {
        rz_actor a = {RZ_ACTOR_AGENT, 7};
        RZ_ASSERT(rz_cmd_status_encode(&b, rid, rz_sim_now_ms(w->sim),
                                       o->case_id, o->expected_version,
                                       o->to_status, NULL, a) == 0);
    }
    p.cmd = b.data;
    p.len = b.len;
    p.cb = propose_cb;
    p.arg = c;
    RZ_ASSERT(rz_replica_propose(nd->rep, &p, 1) == 0);
    rz_buf_close(&b);
}

static void client_issue(client *c)
{
    world *w = c->w;
    op *o;
    uint64_t dice;

    if (c->busy_op >= 0 || w->n_ops >= MAX_OPS || !w->load_on) {
        return;
    }
    o = &w->ops[w->n_ops];
    memset(o, 0, sizeof *o);
    o->client = c->idx;
    o->invoke_ms = rz_sim_now_ms(w->sim);
    o->invoke_seq = ++w->clock;
    dice = rz_sim_rand(w->sim) % 100;
    if (dice < 45 || w->n_cases == 0) {
        o->kind = OP_CREATE;
        o->request_id = ((uint64_t)(c->idx + 1) << 48) | ++c->next_rid;
    } else if (dice < 80) {
        known_case *k = &w->cases[rz_sim_rand(w->sim) % w->n_cases];
        int to;
        int tries = 0;
        o->kind = OP_STATUS;
        o->request_id = ((uint64_t)(c->idx + 1) << 48) | ++c->next_rid;
        o->case_id = k->id;
        o->expected_version = k->version;
        do {
            to = (int)(rz_sim_rand(w->sim) % RZ_STATUS_COUNT);
        } while (!rz_status_move_allowed(k->status, to, RZ_MOVE_STATUS) &&
                 ++tries < 16);
        o->to_status = (uint8_t)to;
    } else {
        known_case *k = &w->cases[rz_sim_rand(w->sim) % w->n_cases];
        o->kind = OP_READ;
        o->case_id = k->id;
    }
    c->busy_op = (int)w->n_ops++;
    client_attempt(c);
}

static void load_tick(void *arg)
{
    world *w = arg;
    int i;
    if (!w->load_on) {
        return;
    }
    for (i = 0; i < MAX_CLIENTS; i++) {
        if (rz_sim_rand(w->sim) % 3 == 0) {
            client_issue(&w->clients[i]);
        }
    }
    RZ_ASSERT(rz_sim_at(w->sim, rz_sim_now_ms(w->sim) + 25, load_tick, w) == 0);
}

/* ---- Faults ------------------------------------------------------------- */

typedef struct restart_arg
{
    world *w;
    int id;
} restart_arg;

static restart_arg restart_args[MAX_NODES + 1];

static void restart_cb(void *arg)
{
    restart_arg *ra = arg;
    node *nd = &ra->w->nodes[ra->id];
    if (!nd->up) {
        node_start(ra->w, nd);
    }
}

static void transfer_done(void *arg, int status)
{
    world *w = arg;
    tracef(w, "transfer done: %s", rz_errname(status));
}

static void chaos_tick(void *arg);

static void member_done(void *arg, int status)
{
    world *w = arg;
    tracef(w, "member change done: %s", rz_errname(status));
}

static void heal_all(world *w)
{
    rz_sim_net net = {1, 10, 0, 0, 0, 0};
    rz_sim_disk disk = {1, 5, false, false};
    int i;
    rz_sim_links_heal(w->sim);
    rz_sim_net_set(w->sim, &net);
    for (i = 1; i <= w->n_all; i++) {
        rz_sim_disk_set(w->sim, (uint64_t)i, &disk);
    }
}

static uint64_t chaos_until_ms;
/* Virtual time of load and faults per seed (--horizon). */
static uint64_t horizon_ms = 12000;
/* Mitigations switched off in random runs (--off with --seed/--seeds). */
static uint32_t random_off;

static void chaos_tick(void *arg)
{
    world *w = arg;
    rz_sim *sim = w->sim;
    uint64_t dice = rz_sim_rand(sim) % 100;
    int n = w->n_nodes;
    int id = 1 + (int)(rz_sim_rand(sim) % (uint64_t)n);
    int i, j;
    int down = 0;

    if (rz_sim_now_ms(sim) >= chaos_until_ms) {
        return;
    }
    for (i = 1; i <= n; i++) {
        down += w->nodes[i].up ? 0 : 1;
    }
    if (dice < 15) {
        /* A partition of random shape: each node joins side 0 or 1. */
        int side[MAX_NODES + 1];
        for (i = 1; i <= w->n_all; i++) {
            side[i] = (int)(rz_sim_rand(sim) % 2);
        }
        for (i = 1; i <= w->n_all; i++) {
            for (j = 1; j <= w->n_all; j++) {
                if (i != j) {
                    rz_sim_link_set(sim, (uint64_t)i, (uint64_t)j,
                                    side[i] == side[j]);
                }
            }
        }
        tracef(w, "chaos: partition");
    } else if (dice < 22) {
        int k = 1 + (int)(rz_sim_rand(sim) % (uint64_t)n);
        if (k != id) {
            rz_sim_link_set(sim, (uint64_t)id, (uint64_t)k, false);
            tracef(w, "chaos: cut n%d -> n%d", id, k);
        }
    } else if (dice < 40) {
        rz_sim_links_heal(sim);
        tracef(w, "chaos: heal links");
    } else if (dice < 52) {
        if (w->nodes[id].up && down < (n - 1) / 2 + 1) {
            node_crash(w, &w->nodes[id]);
            restart_args[id].w = w;
            restart_args[id].id = id;
            RZ_ASSERT(
                rz_sim_at(sim,
                          rz_sim_now_ms(sim) + rz_sim_rand_range(sim, 50, 3000),
                          restart_cb, &restart_args[id]) == 0);
        }
    } else if (dice < 60) {
        rz_sim_net net;
        net.delay_min_ms = (uint32_t)rz_sim_rand_range(sim, 0, 5);
        net.delay_max_ms =
            net.delay_min_ms + (uint32_t)rz_sim_rand_range(sim, 1, 60);
        net.loss_ppm = (uint32_t)rz_sim_rand_range(sim, 0, 200000);
        net.dup_ppm = (uint32_t)rz_sim_rand_range(sim, 0, 100000);
        net.reorder_ppm = (uint32_t)rz_sim_rand_range(sim, 0, 200000);
        net.reorder_extra_ms = (uint32_t)rz_sim_rand_range(sim, 1, 300);
        rz_sim_net_set(sim, &net);
        tracef(w, "chaos: net delay %u-%u loss %u dup %u reorder %u",
               net.delay_min_ms, net.delay_max_ms, net.loss_ppm, net.dup_ppm,
               net.reorder_ppm);
    } else if (dice < 68) {
        rz_sim_disk disk = {1, 5, false, false};
        uint64_t d2 = rz_sim_rand(sim) % 4;
        if (d2 == 0) {
            disk.latency_min_ms = 20;
            disk.latency_max_ms = 400;
        } else if (d2 == 1) {
            disk.full = true;
        } else if (d2 == 2) {
            disk.failing = true;
        }
        rz_sim_disk_set(sim, (uint64_t)id, &disk);
        tracef(w, "chaos: disk n%d %s", id,
               d2 == 0   ? "slow"
               : d2 == 1 ? "full"
               : d2 == 2 ? "failing"
                         : "ok");
    } else if (dice < 82 && w->n_all > n) {
        /* Membership change of the joiner: add as non-voter, promote,
         * remove, in turn. */
        node *l = leader(w);
        int jn = w->n_all;
        if (l != NULL && (int)l->id != jn) {
            rz_replica_status st;
            size_t m;
            int role = 0; /* 0 absent, 1 standby, 2 voter */
            int rv;
            rz_replica_status_get(l->rep, &st);
            for (m = 0; m < st.n_members; m++) {
                if (st.members[m].id == (uint64_t)jn) {
                    role = st.members[m].voter     ? 2
                           : st.members[m].standby ? 1
                                                   : 0;
                }
            }
            if (role == 0) {
                char addr[16];
                snprintf(addr, sizeof addr, "n%d", jn);
                rv = rz_replica_member_add(l->rep, (uint64_t)jn, addr,
                                           member_done, w);
            } else if (role == 1) {
                rv = rz_replica_member_promote(l->rep, (uint64_t)jn,
                                               member_done, w);
            } else {
                rv = rz_replica_member_remove(l->rep, (uint64_t)jn, member_done,
                                              w);
            }
            tracef(w, "chaos: member n%d %s on n%" PRIu64 ": %s", jn,
                   role == 0   ? "add"
                   : role == 1 ? "promote"
                               : "remove",
                   l->id, rz_errname(rv));
        }
    } else if (dice < 88) {
        node *l = leader(w);
        if (l != NULL) {
            uint64_t to = 1 + rz_sim_rand(sim) % (uint64_t)n;
            int rv = rz_replica_transfer(l->rep, to == l->id ? 0 : to,
                                         transfer_done, w);
            tracef(w, "chaos: transfer n%" PRIu64 " -> n%" PRIu64 ": %s", l->id,
                   to, rz_errname(rv));
        }
    }
    RZ_ASSERT(rz_sim_at(sim,
                        rz_sim_now_ms(sim) + rz_sim_rand_range(sim, 100, 600),
                        chaos_tick, w) == 0);
}

/* ---- Final checks ------------------------------------------------------- */

/* Whether node i takes part in the final checks: the initial voters
 * always, the joiner while the leader's configuration holds it as a voter
 * or standby. */
static bool is_member(world *w, int i)
{
    node *l;
    rz_replica_status s;
    size_t m;
    if (i <= w->n_nodes) {
        return true;
    }
    l = leader(w);
    if (l == NULL) {
        return false;
    }
    rz_replica_status_get(l->rep, &s);
    for (m = 0; m < s.n_members; m++) {
        if (s.members[m].id == (uint64_t)i &&
            (s.members[m].voter || s.members[m].standby)) {
            return true;
        }
    }
    return false;
}

typedef struct noop_wait
{
    bool done;
    int status;
} noop_wait;

static void noop_cb(void *arg, const rz_propose_result *res)
{
    noop_wait *nw = arg;
    nw->done = true;
    nw->status = res->status;
}

static bool noop_done(world *w, void *arg)
{
    (void)w;
    return ((noop_wait *)arg)->done;
}

static bool all_caught_up(world *w, void *arg)
{
    uint64_t *target = arg;
    int i;
    for (i = 1; i <= w->n_all; i++) {
        rz_replica_status s;
        if (!w->nodes[i].up || !is_member(w, i)) {
            continue;
        }
        rz_replica_status_get(w->nodes[i].rep, &s);
        if (s.applied_index < *target) {
            return false;
        }
    }
    return true;
}

/* After the faults heal: a leader serves a write and every replica applies
 * it, within bound_ms of virtual time. */
static void check_liveness(world *w, uint64_t bound_ms)
{
    uint64_t deadline = rz_sim_now_ms(w->sim) + bound_ms;
    int attempts = 0;
    uint64_t target = 0;

    while (!w->failed && rz_sim_now_ms(w->sim) < deadline && attempts < 50) {
        noop_wait nw = {false, 0};
        uint8_t rid[16];
        rz_buf b;
        rz_proposal p;
        node *l;

        attempts++;
        if (!run_until(w, deadline, has_leader, NULL)) {
            break;
        }
        l = leader(w);
        memset(rid, 0, sizeof rid);
        rz_buf_init(&b, 256);
        RZ_ASSERT(rz_cmd_noop_encode(&b, rid, rz_sim_now_ms(w->sim)) == 0);
        p.cmd = b.data;
        p.len = b.len;
        p.cb = noop_cb;
        p.arg = &nw;
        RZ_ASSERT(rz_replica_propose(l->rep, &p, 1) == 0);
        rz_buf_close(&b);
        run_until(w, deadline, noop_done, &nw);
        if (nw.done && nw.status == 0) {
            rz_replica_status s;
            rz_replica_status_get(l->rep, &s);
            target = s.commit_index;
            break;
        }
        if (!nw.done) {
            /* Let the request drain before trying again. */
            run_until(w, deadline, noop_done, &nw);
        }
    }
    if (w->failed) {
        return;
    }
    if (target == 0) {
        violation(w,
                  "liveness: no leader served a write within %" PRIu64
                  " ms after the faults healed",
                  bound_ms);
        return;
    }
    if (!run_until(w, deadline, all_caught_up, &target)) {
        int i;
        for (i = 1; i <= w->n_all; i++) {
            rz_replica_status s;
            size_t m;
            if (!w->nodes[i].up) {
                continue;
            }
            rz_replica_status_get(w->nodes[i].rep, &s);
            tracef(w,
                   "n%d state %d term %" PRIu64 " last %" PRIu64
                   " stored %" PRIu64 " commit %" PRIu64 " applied %" PRIu64
                   " disk_failed %d",
                   i, s.state, s.term, s.last_index, s.stored_index,
                   s.commit_index, s.applied_index, s.disk_failed);
            for (m = 0; m < s.n_members; m++) {
                if (s.state == RZ_REPLICA_LEADER) {
                    tracef(w, "  member n%" PRIu64 " match %" PRIu64,
                           s.members[m].id, s.members[m].match_index);
                }
            }
        }
        violation(w,
                  "liveness: not every replica applied index %" PRIu64
                  " within %" PRIu64 " ms after the faults healed",
                  target, bound_ms);
    }
}

/* Log matching (Raft paper §5.3) on the durable logs: every member's log
 * agrees with the leader's, term and bytes, up to what both stored. */
static void check_logs(world *w)
{
    node *l = leader(w);
    rz_replica_status ls;
    int i;
    if (l == NULL) {
        return;
    }
    rz_replica_status_get(l->rep, &ls);
    for (i = 1; i <= w->n_all && !w->failed; i++) {
        rz_replica_status s;
        uint64_t idx, upto;
        if (!w->nodes[i].up || &w->nodes[i] == l || !is_member(w, i)) {
            continue;
        }
        rz_replica_status_get(w->nodes[i].rep, &s);
        upto =
            s.stored_index < ls.stored_index ? s.stored_index : ls.stored_index;
        for (idx = 1; idx <= upto && !w->failed; idx++) {
            uint64_t t1, t2, h1;
            const void *d;
            size_t n;
            RZ_ASSERT(rz_replica_log_entry(l->rep, idx, &t1, &d, &n) == 0);
            h1 = fnv(d, n);
            RZ_ASSERT(rz_replica_log_entry(w->nodes[i].rep, idx, &t2, &d, &n) ==
                      0);
            if (t1 == 0 || t2 == 0) {
                continue; /* compacted away on one of them */
            }
            if (t1 != t2 || h1 != fnv(d, n)) {
                violation(w,
                          "log matching: n%d's entry %" PRIu64 " (term %" PRIu64
                          ") differs from leader n%" PRIu64 "'s (term %" PRIu64
                          ")",
                          i, idx, t2, l->id, t1);
            }
        }
    }
}

static void check_final_state(world *w)
{
    int i;
    size_t k;
    uint8_t sum0[32];
    uint64_t idx0 = 0;

    /* Every replica has the same state. */
    for (i = 1; i <= w->n_all && !w->failed; i++) {
        uint8_t sum[32];
        uint64_t idx = 0;
        if (!is_member(w, i)) {
            continue;
        }
        RZ_ASSERT(rz_storage_checksum(w->nodes[i].st, sum, &idx) == 0);
        if (i == 1) {
            memcpy(sum0, sum, 32);
            idx0 = idx;
        } else if (idx != idx0 || memcmp(sum, sum0, 32) != 0) {
            violation(w,
                      "final state of n%d (index %" PRIu64
                      ") differs from n1 (index %" PRIu64 ")",
                      i, idx, idx0);
        }
    }
    /* Acknowledged commands are in the final state; request ids once. */
    for (i = 1; i <= w->n_all && !w->failed; i++) {
        rz_storage_read *rd;
        static rz_case cs;
        static uint64_t seen_rid[MAX_OPS * 2];
        size_t n_seen = 0;
        uint64_t id;
        if (!is_member(w, i)) {
            continue;
        }
        RZ_ASSERT(rz_storage_read_begin(w->nodes[i].st, &rd) == 0);
        for (id = 1; id < MAX_OPS * 2; id++) {
            uint64_t rid = 0;
            size_t s;
            if (rz_storage_case_get(rd, id, &cs) != 0) {
                break;
            }
            if (sscanf(cs.description, "rq:%" SCNx64, &rid) != 1) {
                violation(w, "case %" PRIu64 " has a foreign description", id);
                break;
            }
            for (s = 0; s < n_seen; s++) {
                if (seen_rid[s] == rid) {
                    violation(w,
                              "request id %016" PRIx64
                              " created two cases (second: %" PRIu64 ")",
                              rid, id);
                }
            }
            seen_rid[n_seen++] = rid;
        }
        for (k = 0; k < w->n_ops && !w->failed; k++) {
            op *o = &w->ops[k];
            if (o->result != RES_OK || o->code != 0) {
                continue;
            }
            if (o->kind == OP_CREATE) {
                uint64_t rid = 0;
                if (rz_storage_case_get(rd, o->acked_case, &cs) != 0 ||
                    sscanf(cs.description, "rq:%" SCNx64, &rid) != 1 ||
                    rid != o->request_id) {
                    violation(w,
                              "acknowledged create op%zu (case %" PRIu64
                              ") is missing on n%d",
                              k, o->acked_case, i);
                }
            } else if (o->kind == OP_STATUS) {
                if (rz_storage_case_get(rd, o->case_id, &cs) != 0 ||
                    cs.version < o->version) {
                    violation(w,
                              "acknowledged status change op%zu (case %" PRIu64
                              " v%u) is missing on n%d",
                              k, o->case_id, o->version, i);
                }
            }
        }
        rz_storage_read_end(rd);
    }
}

/* Per case, in real time: a read returns at least the version of every
 * write acknowledged before the read was invoked, and no version that no
 * write invoked before the read completed could have produced. */
static void check_history(world *w)
{
    size_t r, k;
    for (r = 0; r < w->n_ops && !w->failed; r++) {
        op *rd = &w->ops[r];
        uint32_t floor_v = 0;
        uint32_t ceil_v = 0;
        if (rd->kind != OP_READ || rd->result != RES_OK || rd->code != 0) {
            continue;
        }
        for (k = 0; k < w->n_ops; k++) {
            op *wr = &w->ops[k];
            uint64_t cid = wr->kind == OP_CREATE ? wr->acked_case : wr->case_id;
            if (wr->kind == OP_READ || cid != rd->case_id) {
                continue;
            }
            if (wr->kind == OP_CREATE) {
                floor_v = floor_v > 1 ? floor_v : 1;
                ceil_v = ceil_v > 1 ? ceil_v : 1;
                continue;
            }
            if (wr->result == RES_OK && wr->code == 0 &&
                wr->complete_ms < rd->invoke_ms && wr->version > floor_v) {
                floor_v = wr->version;
            }
            if (wr->invoke_ms <= rd->complete_ms) {
                ceil_v += 1; /* each write adds at most one version */
            }
        }
        if (rd->version < floor_v) {
            violation(w,
                      "stale read op%zu: case %" PRIu64 " v%u, but v%u "
                      "was acknowledged before the read began",
                      r, rd->case_id, rd->version, floor_v);
        } else if (rd->version > ceil_v) {
            violation(w, "read op%zu: case %" PRIu64 " v%u was never written",
                      r, rd->case_id, rd->version);
        }
    }
}

/* Linearizability of the client history, per case, with the checker of
 * jepsen/check (the case model: create, status change with expected
 * version, read). Operations that never completed have unknown outcome. */
static void check_linearizable(world *w)
{
    rz_check_history *h = NULL;
    rz_check_result res;
    size_t k;

    RZ_ASSERT(rz_check_history_create(RZ_CHECK_MODEL_CASE, &h) == 0);
    for (k = 0; k < w->n_ops; k++) {
        const op *o = &w->ops[k];
        rz_check_op c;
        char key[24];
        uint64_t cid = o->kind == OP_CREATE ? o->acked_case : o->case_id;
        if (cid == 0) {
            continue; /* a create nobody learned the id of: never read */
        }
        memset(&c, 0, sizeof c);
        snprintf(key, sizeof key, "%" PRIu64, cid);
        c.process = o->client;
        c.key = key;
        c.key_len = strlen(key);
        c.invoke_time = (int64_t)o->invoke_seq;
        c.return_time = o->result == RES_PENDING || o->result == RES_INFO
                            ? RZ_CHECK_TIME_NEVER
                            : (int64_t)o->complete_seq;
        c.version = RZ_CHECK_VERSION_NONE;
        c.expected_version = RZ_CHECK_VERSION_NONE;
        if (o->result == RES_PENDING || o->result == RES_INFO) {
            c.outcome = RZ_CHECK_UNKNOWN;
        } else if (o->result == RES_FAIL) {
            c.outcome = RZ_CHECK_FAIL;
        } else {
            c.outcome = RZ_CHECK_OK;
        }
        if (o->kind == OP_CREATE) {
            c.f = RZ_CHECK_F_CREATE;
            c.status = RZ_CHECK_STATUS_NEW;
            c.version = 1;
        } else if (o->kind == OP_STATUS) {
            c.f = RZ_CHECK_F_SET_STATUS;
            c.status = (rz_check_status)(o->to_status + 1);
            c.expected_version = o->expected_version > 0
                                     ? (int64_t)o->expected_version
                                     : RZ_CHECK_VERSION_NONE;
            if (c.outcome == RZ_CHECK_OK && o->code != 0) {
                c.outcome = RZ_CHECK_FAIL;
                /* A refused transition is reported as "did not happen":
                 * the checker's table allows CLOSED -> IN_PROGRESS, which
                 * storage only does through the reopen command. */
                c.fail_reason = o->code == RZ_EVERSION
                                    ? RZ_CHECK_FAIL_VERSION_MISMATCH
                                    : RZ_CHECK_FAIL_OTHER;
            } else if (c.outcome == RZ_CHECK_OK) {
                c.version = o->version;
            }
        } else {
            c.f = RZ_CHECK_F_CASE_READ;
            if (c.outcome == RZ_CHECK_OK && o->code == 0) {
                c.status = (rz_check_status)(o->status + 1);
                c.version = o->version;
            } else if (c.outcome == RZ_CHECK_OK) {
                c.status = RZ_CHECK_STATUS_NONE;
            }
        }
        RZ_ASSERT(rz_check_history_add(h, &c) == 0);
    }
    memset(&res, 0, sizeof res);
    {
        rz_check_options opts;
        memset(&opts, 0, sizeof opts);
        opts.max_seconds = 20;
        opts.shrink_seconds = 1;
        RZ_ASSERT(rz_check_run(h, &opts, &res) == 0);
    }
    if (res.verdict == RZ_CHECK_NOT_LINEARIZABLE) {
        fprintf(stderr, "checker (seed %" PRIu64 "):\n%s\n", w->seed,
                res.explanation);
        violation(w, "client history is not linearizable (%zu of %zu cases)",
                  res.n_bad_keys, res.n_keys);
    } else if (res.verdict != RZ_CHECK_LINEARIZABLE) {
        tracef(w, "checker: search budget ran out on %zu cases", res.n_unknown);
    }
    rz_check_result_close(&res);
    rz_check_history_destroy(h);
}

/* ---- Random runs -------------------------------------------------------- */

/* Totals over a --seeds run: compaction and transfers happen. */
static uint64_t total_syncs, total_installs, seeds_with_install;
static uint64_t total_xfer_bytes, seeds_with_snapshot;

static int run_seed(uint64_t seed, int n_nodes, bool verbose)
{
    static world w;
    int i;
    int rc;

    world_init(&w, seed, n_nodes, random_off);
    w.verbose = verbose;
    w.check_votes = true;
    for (i = 1; i <= n_nodes; i++) {
        node_start(&w, &w.nodes[i]);
    }
    /* The joiner runs from the start with an empty log and no
     * configuration; chaos adds, promotes and removes it. */
    w.n_all = n_nodes + 1;
    node_start(&w, &w.nodes[w.n_all]);
    w.load_on = true;
    chaos_until_ms = horizon_ms;
    RZ_ASSERT(rz_sim_at(w.sim, 200, load_tick, &w) == 0);
    RZ_ASSERT(rz_sim_at(w.sim, 1500, chaos_tick, &w) == 0);
    run_until(&w, chaos_until_ms, NULL, NULL);
    /* Heal everything, let the clients finish, then check. */
    heal_all(&w);
    for (i = 1; i <= w.n_all; i++) {
        if (!w.nodes[i].up) {
            node_start(&w, &w.nodes[i]);
        }
    }
    w.load_on = false;
    run_until(&w, rz_sim_now_ms(w.sim) + 2000, NULL, NULL);
    check_liveness(&w, 20000);
    if (!w.failed) {
        check_logs(&w);
    }
    if (!w.failed) {
        check_final_state(&w);
    }
    if (!w.failed) {
        check_history(&w);
    }
    if (!w.failed) {
        check_linearizable(&w);
    }
    {
        uint64_t applied_max = 0;
        for (i = 1; i <= w.n_all; i++) {
            if (w.nodes[i].up) {
                rz_replica_status s;
                rz_replica_status_get(w.nodes[i].rep, &s);
                total_xfer_bytes += s.xfer_bytes_sent;
                if (s.applied_index > applied_max) {
                    applied_max = s.applied_index;
                }
            }
        }
        /* Compaction must happen in every run long enough for it. */
        if (!w.failed && w.syncs == 0 &&
            applied_max >= 2u * (uint64_t)snap_threshold) {
            violation(&w, "no snapshot was taken up to index %" PRIu64,
                      applied_max);
        }
    }
    rc = w.failed ? 1 : 0;
    total_syncs += w.syncs;
    total_installs += w.installs;
    seeds_with_install += w.installs > 0 ? 1u : 0u;
    seeds_with_snapshot += w.syncs > 0 ? 1u : 0u;
    if (w.failed) {
        trace_dump(&w);
        fprintf(stderr,
                "FAIL seed %" PRIu64 " nodes %d: %s\n"
                "replay: sim --seed %" PRIu64 " --nodes %d --horizon %" PRIu64
                " --off 0x%x --verbose\n",
                seed, n_nodes, w.violation, seed, n_nodes, horizon_ms,
                random_off);
    }
    world_fini(&w);
    return rc;
}

/* ---- Scripted scenarios ---------------------------------------------------
 */

/* Each scenario drives the faults of one raft 0.15 flaw by hand, waiting on
 * the cluster's state rather than on fixed times, and reports whether the
 * checks saw a violation. The ctest entries run each one twice: with the
 * mitigation switched off it must find the violation, with it on none. */

typedef struct sc_prop
{
    bool done;
    int status;
    uint64_t index;
    int op;
} sc_prop;

static void sc_prop_cb(void *arg, const rz_propose_result *res)
{
    sc_prop *sp = arg;
    sp->done = true;
    sp->status = res->status;
    sp->index = res->index;
}

static void sc_cut(world *w, int a, int b)
{
    rz_sim_link_set(w->sim, (uint64_t)a, (uint64_t)b, false);
    rz_sim_link_set(w->sim, (uint64_t)b, (uint64_t)a, false);
}

static void sc_isolate(world *w, int a)
{
    int i;
    for (i = 1; i <= w->n_nodes; i++) {
        if (i != a) {
            sc_cut(w, a, i);
        }
    }
}

/* Proposes a create with request id `rid` on node id; sp records the
 * outcome. */
static void sc_create(world *w, int id, uint64_t rid, sc_prop *sp)
{
    uint8_t r16[16];
    char desc[64];
    rz_case_create cc;
    rz_buf b;
    rz_proposal p;

    memset(sp, 0, sizeof *sp);
    memset(r16, 0, sizeof r16);
    memcpy(r16, &rid, sizeof rid);
    memset(&cc, 0, sizeof cc);
    snprintf(desc, sizeof desc, "rq:%016" PRIx64, rid);
    cc.kind = RZ_KIND_INCIDENT;
    cc.service_code = "OTHER";
    cc.description = desc;
    cc.district = "UNKNOWN";
    rz_buf_init(&b, RZ_COMMAND_MAX_BYTES);
    RZ_ASSERT(rz_cmd_create_encode(&b, r16, rz_sim_now_ms(w->sim), &cc) == 0);
    p.cmd = b.data;
    p.len = b.len;
    p.cb = sc_prop_cb;
    p.arg = sp;
    RZ_ASSERT(rz_replica_propose(w->nodes[id].rep, &p, 1) == 0);
    rz_buf_close(&b);
    tracef(w, "scenario: propose rq %" PRIu64 " on n%d", rid, id);
}

static bool sc_prop_done(world *w, void *arg)
{
    (void)w;
    return ((sc_prop *)arg)->done;
}

static rz_replica_status sc_status(world *w, int id)
{
    rz_replica_status s;
    rz_replica_status_get(w->nodes[id].rep, &s);
    return s;
}

typedef struct sc_wait
{
    int id;         /* node, or 0 for "any in mask" */
    uint32_t mask;  /* nodes that qualify (bit i = node i) */
    uint64_t index; /* index to reach */
    int found;
} sc_wait;

static bool sc_stored(world *w, void *arg)
{
    sc_wait *sw = arg;
    return w->nodes[sw->id].up &&
           sc_status(w, sw->id).stored_index >= sw->index;
}

static bool sc_leader_in(world *w, void *arg)
{
    sc_wait *sw = arg;
    int i;
    for (i = 1; i <= w->n_nodes; i++) {
        if ((sw->mask & (1u << i)) && w->nodes[i].up &&
            sc_status(w, i).state == RZ_REPLICA_LEADER) {
            sw->found = i;
            return true;
        }
    }
    return false;
}

static bool sc_leader_applied(world *w, void *arg)
{
    sc_wait *sw = arg;
    int i;
    for (i = 1; i <= w->n_nodes; i++) {
        if ((sw->mask & (1u << i)) && w->nodes[i].up) {
            rz_replica_status s = sc_status(w, i);
            if (s.state == RZ_REPLICA_LEADER && s.applied_index >= sw->index) {
                sw->found = i;
                return true;
            }
        }
    }
    return false;
}

static bool sc_all_applied(world *w, void *arg)
{
    sc_wait *sw = arg;
    int i;
    for (i = 1; i <= w->n_nodes; i++) {
        if (w->nodes[i].up && sc_status(w, i).applied_index < sw->index) {
            return false;
        }
    }
    return true;
}

static uint64_t sc_after(world *w, uint64_t ms)
{
    return rz_sim_now_ms(w->sim) + ms;
}

/* Starts every node, elects a leader and commits one create everywhere.
 * Returns the leader. */
static int sc_baseline(world *w)
{
    sc_wait sw = {0, 0, 0, 0};
    sc_prop sp;
    int i;
    for (i = 1; i <= w->n_nodes; i++) {
        node_start(w, &w->nodes[i]);
        sw.mask |= 1u << i;
    }
    RZ_ASSERT(run_until(w, sc_after(w, 10000), sc_leader_in, &sw));
    sc_create(w, sw.found, 1, &sp);
    RZ_ASSERT(run_until(w, sc_after(w, 5000), sc_prop_done, &sp));
    RZ_ASSERT(sp.status == 0);
    sw.index = sp.index;
    RZ_ASSERT(run_until(w, sc_after(w, 5000), sc_all_applied, &sw));
    tracef(w, "scenario: baseline done, leader n%d, index %" PRIu64, sw.found,
           sp.index);
    return sw.found;
}

/* Heals everything, restarts every node and runs the final checks. */
static void sc_finish(world *w)
{
    int i;
    heal_all(w);
    for (i = 1; i <= w->n_nodes; i++) {
        if (!w->nodes[i].up) {
            node_start(w, &w->nodes[i]);
        }
    }
    run_until(w, sc_after(w, 3000), NULL, NULL);
    check_liveness(w, 20000);
    if (!w->failed) {
        check_logs(w);
    }
    if (!w->failed) {
        check_final_state(w);
    }
    if (!w->failed) {
        check_history(w);
    }
}

/* Raft paper §5.4.2, Figure 8, with five servers (s1..s5 are node ids
 * chosen from whoever leads first). */
static void sc_fig8(world *w)
{
    int s[6];
    int i, k;
    /* static: a proposal may outlive the scenario (its node crashes at the
     * end) */
    static sc_prop pa, pb;
    sc_wait sw;
    uint64_t idx_a;

    s[1] = sc_baseline(w);
    for (i = 1, k = 2; i <= 5; i++) {
        if (i != s[1]) {
            s[k++] = i;
        }
    }
    /* (a) s1 leads and gets entry A onto s2 only. */
    for (k = 3; k <= 5; k++) {
        sc_cut(w, s[1], s[k]);
    }
    sc_create(w, s[1], 100, &pa);
    idx_a = sc_status(w, s[1]).last_index;
    sw = (sc_wait){s[2], 0, idx_a, 0};
    RZ_ASSERT(run_until(w, sc_after(w, 3000), sc_stored, &sw));
    tracef(w, "scenario: (a) A at %" PRIu64 " on s1=n%d and s2=n%d", idx_a,
           s[1], s[2]);
    /* (b) s1 crashes; s5 is elected by s3, s4 and itself, appends B
     * locally only, crashes. s2 is cut off; s3 and s4 cannot reach each
     * other, so only s5 can gather three votes. */
    node_crash(w, &w->nodes[s[1]]);
    sc_isolate(w, s[2]);
    sc_cut(w, s[3], s[4]);
    sw = (sc_wait){0, 1u << s[5], 0, 0};
    if (!run_until(w, sc_after(w, 20000), sc_leader_in, &sw)) {
        violation(w, "scenario: s5 was not elected in (b)");
        return;
    }
    sc_isolate(w, s[5]);
    sc_create(w, s[5], 200, &pb);
    run_until(w, sc_after(w, 300), NULL, NULL);
    tracef(w, "scenario: (b) s5=n%d leads term %" PRIu64 " with B", s[5],
           sc_status(w, s[5]).term);
    node_crash(w, &w->nodes[s[5]]);
    /* (c) s1 restarts; s1 or s2 is elected with s3 (s4 cut off), sends A
     * to s3 and commits it. It crashes as soon as it has applied A. */
    rz_sim_links_heal(w->sim);
    sc_isolate(w, s[4]);
    node_start(w, &w->nodes[s[1]]);
    sw = (sc_wait){0, (1u << s[1]) | (1u << s[2]), idx_a, 0};
    if (run_until(w, sc_after(w, 20000), sc_leader_applied, &sw)) {
        tracef(w, "scenario: (c) n%d applied index %" PRIu64 ", crashes",
               sw.found, idx_a);
        node_crash(w, &w->nodes[sw.found]);
    } else {
        tracef(w, "scenario: (c) nobody applied A");
        sw.found = 0;
    }
    /* (d) s5 restarts with every link up (the crashed leader stays down):
     * with the flaw it is elected and overwrites index idx_a with B. */
    rz_sim_links_heal(w->sim);
    node_start(w, &w->nodes[s[5]]);
    run_until(w, sc_after(w, 8000), NULL, NULL);
    sc_finish(w);
}

/* Mitigation 5: a follower with a stale tail answers the new leader's first
 * heartbeat (prev = the leader's last index, no entries) with its own
 * last_stored. */
static void sc_stale_tail(world *w)
{
    int s[6];
    int i, k;
    /* static: a proposal may outlive the scenario (its node crashes at the
     * end) */
    static sc_prop px, p2;
    sc_wait sw;
    uint64_t idx;

    s[1] = sc_baseline(w);
    for (i = 1, k = 2; i <= 5; i++) {
        if (i != s[1]) {
            s[k++] = i;
        }
    }
    /* s3 never campaigns in this scenario (it would win with its longer
     * log and hide the flaw). */
    node_crash(w, &w->nodes[s[3]]);
    w->nodes[s[3]].election_timeout_ms = 60000;
    node_start(w, &w->nodes[s[3]]);
    run_until(w, sc_after(w, 1000), NULL, NULL);
    /* s1 gets three entries onto s3 only: a stale tail once s1 is gone. */
    sc_cut(w, s[1], s[2]);
    sc_cut(w, s[1], s[4]);
    sc_cut(w, s[1], s[5]);
    sc_create(w, s[1], 100, &px);
    sc_create(w, s[1], 101, &px);
    sc_create(w, s[1], 102, &px);
    idx = sc_status(w, s[1]).last_index;
    sw = (sc_wait){s[3], 0, idx, 0};
    RZ_ASSERT(run_until(w, sc_after(w, 3000), sc_stored, &sw));
    tracef(w, "scenario: stale tail up to %" PRIu64 " on s3=n%d", idx, s[3]);
    node_crash(w, &w->nodes[s[1]]);
    rz_sim_links_heal(w->sim);
    sw = (sc_wait){0, (1u << s[2]) | (1u << s[4]) | (1u << s[5]), 0, 0};
    if (!run_until(w, sc_after(w, 20000), sc_leader_in, &sw)) {
        violation(w, "scenario: no new leader");
        return;
    }
    /* The new leader L keeps only one real follower R (and s3, whose
     * stale tail is the point); before the answer to its first heartbeat
     * arrives, L's log grows past the stale tail. */
    {
        int l = sw.found;
        int r = 0;
        int j;
        uint64_t last;
        for (j = 2; j <= 5; j++) {
            if (s[j] != l && s[j] != s[3] && r == 0) {
                r = s[j];
            }
        }
        for (j = 2; j <= 5; j++) {
            if (s[j] != l && s[j] != s[3] && s[j] != r) {
                sc_cut(w, l, s[j]);
            }
        }
        /* s3 gets only heartbeats from L, and its answers come late: after
         * R's acknowledgement and L's own write of the barrier. */
        rz_sim_link_drop_entries(w->sim, (uint64_t)l, (uint64_t)s[3], true);
        rz_sim_link_delay(w->sim, (uint64_t)s[3], (uint64_t)l, 40);
        /* raft 0.15 only tries to commit the leader's last stored index:
         * fill L's log up to the end of s3's stale tail. */
        {
            uint64_t rid = 200;
            while (sc_status(w, l).last_index < idx && rid < 210) {
                sc_create(w, l, rid, &p2);
                rid++;
            }
        }
        last = sc_status(w, l).last_index;
        tracef(w, "scenario: new leader n%d, last %" PRIu64 ", follower n%d", l,
               last, r);
        /* If L commits its entries counting s3, crashing L and R leaves
         * them on no live replica but as stale tails elsewhere. */
        sw = (sc_wait){0, 1u << l, last, 0};
        if (run_until(w, sc_after(w, 3000), sc_leader_applied, &sw)) {
            tracef(w, "scenario: n%d applied %" PRIu64 "; n%d and n%d crash", l,
                   last, l, r);
            node_crash(w, &w->nodes[l]);
            node_crash(w, &w->nodes[r]);
        }
        /* From here on s3 may campaign like everybody else. */
        node_crash(w, &w->nodes[s[3]]);
        w->nodes[s[3]].election_timeout_ms = 1000;
        node_start(w, &w->nodes[s[3]]);
        (void)px;
        rz_sim_links_heal(w->sim);
        node_start(w, &w->nodes[s[1]]);
        run_until(w, sc_after(w, 8000), NULL, NULL);
    }
    sc_finish(w);
}

/* Mitigation 4: a leader cut off from the others still believes it leads
 * (raft 0.15 steps down only after an election timeout) and would serve a
 * read from its own, stale state. */
static void sc_stale_read(world *w)
{
    /* static: a proposal may outlive the scenario (its node crashes at the
     * end) */
    static sc_prop sp;
    sc_wait sw;
    op *o;
    int old;
    int i;

    /* Node 1 keeps leadership for 5 s without a quorum; the others elect
     * a new leader within about a second. */
    w->nodes[1].election_timeout_ms = 5000;
    w->nodes[2].election_timeout_ms = 400;
    w->nodes[3].election_timeout_ms = 400;
    old = sc_baseline(w);
    if (old != 1) {
        RZ_ASSERT(rz_replica_transfer(w->nodes[old].rep, 1, transfer_done, w) ==
                  0);
        sw = (sc_wait){0, 1u << 1, 0, 0};
        RZ_ASSERT(run_until(w, sc_after(w, 5000), sc_leader_in, &sw));
    }
    run_until(w, sc_after(w, 500), NULL, NULL);
    /* Case 1 exists (baseline), version 1. */
    sc_isolate(w, 1);
    sw = (sc_wait){0, (1u << 2) | (1u << 3), 0, 0};
    RZ_ASSERT(run_until(w, sc_after(w, 4000), sc_leader_in, &sw));
    /* A status change acknowledged by the new leader... */
    o = &w->ops[w->n_ops++];
    memset(o, 0, sizeof *o);
    o->kind = OP_STATUS;
    o->case_id = 1;
    o->invoke_ms = rz_sim_now_ms(w->sim);
    {
        uint8_t r16[16] = {9};
        rz_actor a = {RZ_ACTOR_AGENT, 1};
        rz_buf b;
        rz_proposal p;
        rz_result r;
        rz_buf_init(&b, 4096);
        RZ_ASSERT(rz_cmd_status_encode(&b, r16, rz_sim_now_ms(w->sim), 1, 0,
                                       RZ_STATUS_TRIAGE, NULL, a) == 0);
        memset(&sp, 0, sizeof sp);
        p.cmd = b.data;
        p.len = b.len;
        p.cb = sc_prop_cb;
        p.arg = &sp;
        RZ_ASSERT(rz_replica_propose(w->nodes[sw.found].rep, &p, 1) == 0);
        rz_buf_close(&b);
        RZ_ASSERT(run_until(w, sc_after(w, 3000), sc_prop_done, &sp));
        RZ_ASSERT(sp.status == 0);
        /* The result bytes are gone by now; the version after a status
         * change of a fresh case is 2. */
        (void)r;
        o->version = 2;
        o->code = 0;
        o->result = RES_OK;
        o->complete_ms = rz_sim_now_ms(w->sim);
    }
    tracef(w, "scenario: n%d acknowledged case 1 v2; reading on n1", sw.found);
    run_until(w, sc_after(w, 10), NULL, NULL);
    /* ...then a linearizable read on the old leader. */
    for (i = 0; i < MAX_CLIENTS; i++) {
        w->clients[i].target = 1;
    }
    o = &w->ops[w->n_ops];
    memset(o, 0, sizeof *o);
    o->kind = OP_READ;
    o->case_id = 1;
    o->invoke_ms = rz_sim_now_ms(w->sim);
    w->clients[0].busy_op = (int)w->n_ops++;
    o->attempts = 11; /* one attempt: the old leader only */
    RZ_ASSERT(
        rz_replica_read(w->nodes[1].rep, false, read_cb, &w->clients[0]) == 0);
    run_until(w, sc_after(w, 8000), NULL, NULL);
    sc_finish(w);
}

/* Mitigation 3: a follower whose append is not yet durable times out and
 * asks for votes announcing the unpersisted index. */
static void sc_vote_durable(world *w)
{
    rz_sim_disk slow = {2500, 2500, false, false};
    /* static: a proposal may outlive the scenario (its node crashes at the
     * end) */
    static sc_prop sp;
    int l;
    int i;

    w->check_votes = true;
    l = sc_baseline(w);
    for (i = 1; i <= w->n_nodes; i++) {
        if (i != l) {
            rz_sim_disk_set(w->sim, (uint64_t)i, &slow);
        }
    }
    sc_create(w, l, 100, &sp);
    /* Let the entry reach the followers' (slow) disks, then cut the leader
     * off so their election timers fire while the appends are pending. */
    run_until(w, sc_after(w, 30), NULL, NULL);
    sc_isolate(w, l);
    run_until(w, sc_after(w, 6000), NULL, NULL);
    sc_finish(w);
}

/* Mitigation 6 (found by the simulator): the leader L hands over to A,
 * but A's TimeoutNow is slow and the transfer times out; L then hands over
 * to B. A campaigns first and L votes for it; then B, the target of L's
 * current transfer, campaigns in the same term and raft 0.15 grants it a
 * second vote (electionVote's is_transferee exception). */
typedef struct sc_flag
{
    bool done;
} sc_flag;

static void sc_flag_cb(void *arg, int status)
{
    (void)status;
    ((sc_flag *)arg)->done = true;
}

static bool sc_flag_done(world *w, void *arg)
{
    (void)w;
    return ((sc_flag *)arg)->done;
}

static void sc_transfer_vote(world *w)
{
    static sc_flag f1, f2;
    int l;

    /* Node 1 wins the first election; 2 and 3 never time out on their
     * own during the scenario. */
    w->nodes[1].election_timeout_ms = 1000;
    w->nodes[2].election_timeout_ms = 8000;
    w->nodes[3].election_timeout_ms = 8000;
    l = sc_baseline(w);
    if (l != 1) {
        violation(w, "scenario: node 1 was not the first leader");
        return;
    }
    /* A = 2 hears node 1 late, B = 3 a little late; A and B cannot talk. */
    rz_sim_link_delay(w->sim, 1, 2, 1100);
    rz_sim_link_delay(w->sim, 1, 3, 300);
    sc_cut(w, 2, 3);
    run_until(w, sc_after(w, 1200), NULL, NULL);
    memset(&f1, 0, sizeof f1);
    memset(&f2, 0, sizeof f2);
    RZ_ASSERT(rz_replica_transfer(w->nodes[1].rep, 2, sc_flag_cb, &f1) == 0);
    tracef(w, "scenario: transfer n1 -> n2");
    run_until(w, sc_after(w, 3000), sc_flag_done, &f1);
    tracef(w, "scenario: transfer n1 -> n3");
    if (rz_replica_transfer(w->nodes[1].rep, 3, sc_flag_cb, &f2) != 0) {
        tracef(w, "scenario: second transfer refused");
    }
    run_until(w, sc_after(w, 3000), NULL, NULL);
    sc_finish(w);
}

/* Recovery after losing quorum for good: two of three replicas are gone;
 * the survivor gets a forced one-voter configuration, starts alone, still
 * holds every acknowledged case and takes writes again. */
static void sc_recover(world *w)
{
    static sc_prop sp[6];
    rz_member me;
    char addr[16];
    char errmsg[RZ_ERRMSG_BYTES];
    sc_wait sw;
    int l, i, k;

    l = sc_baseline(w);
    for (k = 0; k < 5; k++) {
        sc_create(w, l, 300 + (uint64_t)k, &sp[k]);
    }
    for (k = 0; k < 5; k++) {
        if (!run_until(w, sc_after(w, 3000), sc_prop_done, &sp[k]) ||
            sp[k].status != 0) {
            violation(w, "scenario: create %d was not acknowledged", k);
            return;
        }
    }
    for (i = 1; i <= w->n_nodes; i++) {
        node_crash(w, &w->nodes[i]);
    }
    snprintf(addr, sizeof addr, "n%d", l);
    me.id = (uint64_t)l;
    me.address = addr;
    me.voter = true;
    if (rz_replica_recover(w->nodes[l].dir, &me, 1, errmsg) != 0) {
        violation(w, "scenario: recover failed: %s", errmsg);
        return;
    }
    tracef(w, "scenario: n%d recovered alone", l);
    node_start(w, &w->nodes[l]);
    sw = (sc_wait){0, 1u << l, 0, 0};
    if (!run_until(w, sc_after(w, 10000), sc_leader_in, &sw)) {
        violation(w, "scenario: the recovered node did not lead");
        return;
    }
    sc_create(w, l, 400, &sp[5]);
    if (!run_until(w, sc_after(w, 3000), sc_prop_done, &sp[5]) ||
        sp[5].status != 0) {
        violation(w, "scenario: the recovered node took no write");
        return;
    }
    {
        rz_storage_read *rd;
        static rz_case cs;
        RZ_ASSERT(rz_storage_read_begin(w->nodes[l].st, &rd) == 0);
        /* Cases 1 (baseline), 2..6 (acknowledged) and 7 (after). */
        for (k = 1; k <= 7; k++) {
            if (rz_storage_case_get(rd, (uint64_t)k, &cs) != 0) {
                violation(w, "scenario: case %d is missing after recover", k);
            }
        }
        rz_storage_read_end(rd);
    }
}

/* DESIGN.md §6: a full disk makes the node refuse writes with a clear
 * error, a leader hands over, and the node catches up once space is back. */
static void sc_disk_full(world *w)
{
    static sc_prop sp[4];
    rz_sim_disk full = {1, 5, false, true};
    rz_sim_disk ok = {1, 5, false, false};
    sc_wait sw;
    int l, k;

    l = sc_baseline(w);
    rz_sim_disk_set(w->sim, (uint64_t)l, &full);
    sc_create(w, l, 500, &sp[0]); /* raft takes it; the write fails */
    run_until(w, sc_after(w, 50), NULL, NULL);
    sc_create(w, l, 501, &sp[1]);
    run_until(w, sc_after(w, 10), sc_prop_done, &sp[1]);
    if (!sp[1].done || sp[1].status != RZ_ENOSPACE) {
        violation(w,
                  "scenario: a leader with a full disk answered %s, "
                  "not RZ_ENOSPACE",
                  sp[1].done ? rz_errname(sp[1].status) : "nothing");
        return;
    }
    sw = (sc_wait){0, 0, 0, 0};
    for (k = 1; k <= w->n_nodes; k++) {
        if (k != l) {
            sw.mask |= 1u << k;
        }
    }
    if (!run_until(w, sc_after(w, 5000), sc_leader_in, &sw)) {
        violation(w, "scenario: the full leader n%d kept leadership", l);
        return;
    }
    tracef(w, "scenario: n%d handed over to n%d", l, sw.found);
    sc_create(w, sw.found, 502, &sp[2]);
    if (!run_until(w, sc_after(w, 3000), sc_prop_done, &sp[2]) ||
        sp[2].status != 0) {
        violation(w, "scenario: the new leader took no write");
        return;
    }
    rz_sim_disk_set(w->sim, (uint64_t)l, &ok);
    sc_finish(w); /* the node must catch up (liveness) and agree */
}

/* State transfer: a follower is down while the others write and compact
 * past everything it holds; after its restart it can only catch up by a
 * state transfer, over a link that loses, duplicates and reorders frames.
 * Then its state checksum at the common applied index equals the others'. */
#define SC_CATCHUP_WRITES 96
static void sc_catchup(world *w)
{
    static sc_prop sp[SC_CATCHUP_WRITES];
    rz_sim_net lossy = {1, 10, 150000, 150000, 100000, 40};
    rz_sim_net calm = {1, 10, 0, 0, 0, 0};
    rz_replica_status ls, fs;
    sc_wait sw = {0, 0, 0, 0};
    uint8_t sums[MAX_NODES + 1][32];
    uint64_t at[MAX_NODES + 1];
    uint64_t before;
    int l, f, k, i;

    l = sc_baseline(w);
    f = l % w->n_nodes + 1;
    before = sc_status(w, f).last_index;
    node_crash(w, &w->nodes[f]);
    for (k = 0; k < SC_CATCHUP_WRITES; k++) {
        sc_create(w, l, 1000 + (uint64_t)k, &sp[k]);
        if (!run_until(w, sc_after(w, 5000), sc_prop_done, &sp[k]) ||
            sp[k].status != 0) {
            violation(w, "scenario: write %d was not acknowledged", k);
            return;
        }
    }
    ls = sc_status(w, l);
    for (i = 1; i <= w->n_nodes; i++) {
        uint64_t t = 0;
        const void *d;
        size_t n;
        if (!w->nodes[i].up) {
            continue;
        }
        RZ_ASSERT(
            rz_replica_log_entry(w->nodes[i].rep, before + 1, &t, &d, &n) == 0);
        if (t != 0) {
            violation(w,
                      "scenario: n%d still holds entry %" PRIu64
                      " (snapshot at %" PRIu64 "): no compaction",
                      i, before + 1, ls.snapshot_index);
            return;
        }
    }
    tracef(w,
           "scenario: n%d down at %" PRIu64 "; leader n%d at %" PRIu64
           ", snapshot %" PRIu64,
           f, before, l, ls.commit_index, ls.snapshot_index);
    rz_sim_net_set(w->sim, &lossy);
    node_start(w, &w->nodes[f]);
    sw.index = ls.commit_index;
    if (!run_until(w, sc_after(w, 30000), sc_all_applied, &sw)) {
        violation(w, "scenario: n%d did not catch up over a lossy link", f);
        return;
    }
    rz_sim_net_set(w->sim, &calm);
    run_until(w, sc_after(w, 1000), NULL, NULL);
    fs = sc_status(w, f);
    ls = sc_status(w, l);
    tracef(w,
           "scenario: n%d installed %" PRIu64 " transfer(s), %" PRIu64
           " bytes written, %" PRIu64 " dropped; leader sent %" PRIu64 " bytes",
           f, fs.xfers_installed, fs.xfer_bytes_received, fs.xfers_aborted,
           ls.xfer_bytes_sent);
    if (fs.xfers_installed == 0) {
        violation(w, "scenario: n%d caught up without a state transfer", f);
        return;
    }
    /* Every replica at the same applied index has the same state. */
    for (i = 1; i <= w->n_nodes; i++) {
        RZ_ASSERT(rz_storage_checksum(w->nodes[i].st, sums[i], &at[i]) == 0);
    }
    for (i = 1; i <= w->n_nodes; i++) {
        if (at[i] != at[l]) {
            violation(w,
                      "scenario: n%d applied %" PRIu64 ", the leader %" PRIu64,
                      i, at[i], at[l]);
            return;
        }
        if (memcmp(sums[i], sums[l], 32) != 0) {
            violation(w,
                      "scenario: n%d's state checksum at %" PRIu64
                      " differs from the leader's",
                      i, at[i]);
            return;
        }
    }
    tracef(w, "scenario: every state at %" PRIu64 " agrees", at[l]);
    sc_finish(w);
}

/* Mitigation 7: a follower holds an uncommitted configuration entry while
 * its committed configuration (the bootstrap entry at index 1) was
 * compacted out of its log; a new leader that never had the entry makes it
 * truncate, and raft 0.15 rolls back by decoding the missing entry. Without
 * the mitigation the process dies (run_scenario runs this one in a child
 * and counts the signal as the violation). */
#define SC_ROLLBACK_WRITES 100
static void sc_conf_rollback(world *w)
{
    static sc_prop sp[SC_ROLLBACK_WRITES + 3];
    static sc_flag added;
    sc_wait sw;
    int s[6];
    int i, k;
    uint64_t t = 0;
    const void *d;
    size_t n;

    s[1] = sc_baseline(w);
    for (i = 1, k = 2; i <= 5; i++) {
        if (i != s[1]) {
            s[k++] = i;
        }
    }
    for (k = 0; k < SC_ROLLBACK_WRITES; k++) {
        sc_create(w, s[1], 3000 + (uint64_t)k, &sp[k]);
        if (!run_until(w, sc_after(w, 5000), sc_prop_done, &sp[k]) ||
            sp[k].status != 0) {
            violation(w, "scenario: write %d was not acknowledged", k);
            return;
        }
    }
    sw = (sc_wait){0, 0, sp[SC_ROLLBACK_WRITES - 1].index, 0};
    RZ_ASSERT(run_until(w, sc_after(w, 5000), sc_all_applied, &sw));
    run_until(w, sc_after(w, 500), NULL, NULL);
    RZ_ASSERT(rz_replica_log_entry(w->nodes[s[2]].rep, 1, &t, &d, &n) == 0);
    if (t != 0) {
        violation(w, "scenario: n%d's log was not compacted", s[2]);
        return;
    }
    /* s1 and s2 alone: the configuration change reaches s2, never a
     * majority. */
    for (k = 3; k <= 5; k++) {
        sc_cut(w, s[1], s[k]);
        sc_cut(w, s[2], s[k]);
    }
    memset(&added, 0, sizeof added);
    RZ_ASSERT(rz_replica_member_add(w->nodes[s[1]].rep, 6, "n6", sc_flag_cb,
                                    &added) == 0);
    sw = (sc_wait){s[2], 0, sc_status(w, s[1]).last_index, 0};
    if (!run_until(w, sc_after(w, 3000), sc_stored, &sw)) {
        violation(w, "scenario: the change did not reach n%d", s[2]);
        return;
    }
    tracef(w, "scenario: uncommitted change at %" PRIu64 " on n%d and n%d",
           sw.index, s[1], s[2]);
    node_crash(w, &w->nodes[s[1]]);
    sw = (sc_wait){0, (1u << s[3]) | (1u << s[4]) | (1u << s[5]), 0, 0};
    if (!run_until(w, sc_after(w, 20000), sc_leader_in, &sw)) {
        violation(w, "scenario: no new leader");
        return;
    }
    sc_create(w, sw.found, 4000, &sp[SC_ROLLBACK_WRITES]);
    run_until(w, sc_after(w, 2000), sc_prop_done, &sp[SC_ROLLBACK_WRITES]);
    tracef(w, "scenario: n%d leads without the change; healing n%d", sw.found,
           s[2]);
    rz_sim_links_heal(w->sim);
    sw = (sc_wait){0, 0, sc_status(w, sw.found).commit_index, 0};
    if (!run_until(w, sc_after(w, 20000), sc_all_applied, &sw)) {
        violation(w, "scenario: n%d did not rejoin", s[2]);
        return;
    }
    sc_finish(w);
}

/* Runs fn in a child process: a crash of raft is the violation. */
static void sc_in_child(world *w, void (*fn)(world *w))
{
    pid_t pid;
    int st = 0;
    fflush(stdout);
    fflush(stderr);
    pid = fork();
    RZ_ASSERT(pid >= 0);
    if (pid == 0) {
        fn(w);
        if (w->failed) {
            trace_dump(w);
        }
        _exit(w->failed ? 1 : 0);
    }
    RZ_ASSERT(waitpid(pid, &st, 0) == pid);
    if (WIFSIGNALED(st)) {
        violation(w, "raft crashed (signal %d)", WTERMSIG(st));
    } else if (WEXITSTATUS(st) != 0) {
        violation(w, "the scenario found a violation or crashed (exit %d)",
                  WEXITSTATUS(st));
    }
}

static int run_scenario(const char *name, uint32_t off, const char *expect,
                        bool verbose)
{
    static world w;
    bool want_violation;
    int nodes = 5;
    int rc;

    if (expect == NULL ||
        (strcmp(expect, "violation") != 0 && strcmp(expect, "clean") != 0)) {
        fprintf(stderr, "--expect violation|clean is required\n");
        return 2;
    }
    want_violation = strcmp(expect, "violation") == 0;
    if (strcmp(name, "stale-read") == 0 || strcmp(name, "vote-durable") == 0 ||
        strcmp(name, "transfer-vote") == 0 || strcmp(name, "recover") == 0 ||
        strcmp(name, "disk-full") == 0 || strcmp(name, "catchup") == 0) {
        nodes = 3;
    } else if (strcmp(name, "fig8") != 0 && strcmp(name, "stale-tail") != 0 &&
               strcmp(name, "conf-rollback") != 0) {
        fprintf(stderr, "unknown scenario %s\n", name);
        return 2;
    }
    world_init(&w, 1, nodes, off);
    w.verbose = verbose;
    if (strcmp(name, "fig8") == 0) {
        sc_fig8(&w);
    } else if (strcmp(name, "stale-tail") == 0) {
        sc_stale_tail(&w);
    } else if (strcmp(name, "stale-read") == 0) {
        sc_stale_read(&w);
    } else if (strcmp(name, "transfer-vote") == 0) {
        sc_transfer_vote(&w);
    } else if (strcmp(name, "recover") == 0) {
        sc_recover(&w);
    } else if (strcmp(name, "disk-full") == 0) {
        sc_disk_full(&w);
    } else if (strcmp(name, "catchup") == 0) {
        sc_catchup(&w);
    } else if (strcmp(name, "conf-rollback") == 0) {
        sc_in_child(&w, sc_conf_rollback);
    } else {
        sc_vote_durable(&w);
    }
    if (w.failed != want_violation || verbose) {
        trace_dump(&w);
    }
    printf("scenario %s, mitigations off 0x%x: %s%s\n", name, off,
           w.failed ? "violation: " : "no violation",
           w.failed ? w.violation : "");
    rc = w.failed == want_violation ? 0 : 1;
    world_fini(&w);
    return rc;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: sim --seed N [--nodes 3|5] [--horizon MS] [--verbose]\n"
            "       sim --seeds N [--from S] [--nodes 3|5] [--horizon MS]\n"
            "       sim --scenario fig8|stale-tail|stale-read|vote-durable|\n"
            "           transfer-vote|recover|disk-full|catchup|conf-rollback\n"
            "           [--off MASK] --expect violation|clean [--verbose]\n");
}

int main(int argc, char **argv)
{
    uint64_t seed = 0;
    uint64_t seeds = 0;
    uint64_t from = 1;
    int nodes = 3;
    bool verbose = false;
    bool one = false;
    const char *scenario = NULL;
    const char *expect = NULL;
    uint32_t off = 0;
    int i;

    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--verbose") == 0) {
            verbose = true;
            continue;
        }
        if (v == NULL) {
            usage();
            return 2;
        }
        if (strcmp(a, "--seed") == 0) {
            seed = strtoull(v, NULL, 0);
            one = true;
        } else if (strcmp(a, "--seeds") == 0) {
            seeds = strtoull(v, NULL, 0);
        } else if (strcmp(a, "--from") == 0) {
            from = strtoull(v, NULL, 0);
        } else if (strcmp(a, "--nodes") == 0) {
            nodes = atoi(v);
        } else if (strcmp(a, "--scenario") == 0) {
            scenario = v;
        } else if (strcmp(a, "--expect") == 0) {
            expect = v;
        } else if (strcmp(a, "--horizon") == 0) {
            horizon_ms = strtoull(v, NULL, 0);
            if (horizon_ms < 2000 || horizon_ms > 3600000) {
                usage();
                return 2;
            }
        } else if (strcmp(a, "--snapshot") == 0) {
            unsigned t = 0, k = 0;
            if (sscanf(v, "%u,%u", &t, &k) != 2 || t == 0 || k == 0) {
                usage();
                return 2;
            }
            snap_threshold = t;
            snap_trailing = k;
        } else if (strcmp(a, "--off") == 0) {
            off = (uint32_t)strtoul(v, NULL, 0);
        } else {
            usage();
            return 2;
        }
        i++;
    }
    if (nodes != 3 && nodes != 5) {
        usage();
        return 2;
    }
    /* consensus logs every transfer; the trace has them when it matters. */
    rz_log_set_level(verbose ? RZ_LOG_INFO : RZ_LOG_ERROR);
    if (scenario != NULL) {
        return run_scenario(scenario, off, expect, verbose);
    }
    random_off = off;
    if (one) {
        return run_seed(seed, nodes, verbose);
    }
    if (seeds > 0) {
        uint64_t s;
        uint64_t failures = 0;
        for (s = from; s < from + seeds; s++) {
            failures += (uint64_t)run_seed(s, nodes, false);
        }
        printf("%" PRIu64 " seeds from %" PRIu64 " on %d nodes: %" PRIu64
               " failed; %" PRIu64 " snapshots (in %" PRIu64 " seeds), %" PRIu64
               " state transfers installed (in %" PRIu64 " seeds, %" PRIu64
               " KiB sent)\n",
               seeds, from, nodes, failures, total_syncs, seeds_with_snapshot,
               total_installs, seeds_with_install, total_xfer_bytes / 1024u);
        return failures > 0 ? 1 : 0;
    }
    usage();
    return 2;
}
