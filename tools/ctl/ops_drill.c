/* ratuszctl drill: a failover drill (DESIGN.md §7, issue #7). While
 * several writer threads create cases at a steady rate, each round injects
 * one fault (kill -9 of the leader, a paused leader, kill -9 of a follower,
 * or a SIGTERM restart of every node in turn), measures what the clients
 * saw, and at the end proves that every acknowledged case exists exactly
 * once and that the replicas agree.
 *
 * Measures, per round (t0 = the moment the fault is injected):
 *   detect  first write error any writer saw after t0 (a refused or closed
 *           connection, a timeout, NOT_LEADER...) or first write attempt
 *           that had been waiting WRITE_SLOW_MS;
 *   elect   first STATUS poll after t0 in which a node other than the old
 *           leader reports itself leader;
 *   outage  the longest gap between two consecutive acknowledgements (of
 *           all writers together) around the fault.
 * A write is acknowledged when the cluster answered its CASE_CREATE with a
 * case id; a write whose outcome stays unknown is retried with the same
 * request_id (exactly-once), for up to WRITE_GIVE_UP_MS. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client/ratusz.h"
#include "ops.h"
#include "out.h"

#define DRILL_MAX_ROUNDS 1000u
#define DRILL_MAX_WRITERS 16u
/* One attempt of a write waits this long before the writer tries another
 * node with the same request_id: a paused leader must not hold a writer
 * for longer than the election takes. */
#define WRITE_ATTEMPT_MS 700
/* A write not acknowledged after this long is counted as unknown. */
#define WRITE_GIVE_UP_MS 30000u
/* After the fault: how long to wait for a new leader and for writes to
 * resume before the round is declared failed. */
#define ROUND_RECOVER_MS 20000u
/* A write attempt slower than this counts as the clients noticing the
 * fault (time to detect), at the moment it became this slow. */
#define WRITE_SLOW_MS 250u
/* Steady writing before each fault, so the outage has a baseline. */
#define ROUND_WARMUP_MS 700u

typedef enum drill_kind {
    DRILL_LEADER_KILL,
    DRILL_LEADER_PARTITION,
    DRILL_FOLLOWER_KILL,
    DRILL_ROLLING_RESTART
} drill_kind;

static const char *const kind_names[] = {"leader-kill", "leader-partition",
                                         "follower-kill", "rolling-restart"};

typedef struct drill_ack
{
    uint32_t writer;
    uint32_t seq;
    uint64_t case_id;
    uint64_t at_ms; /* monotonic */
} drill_ack;

typedef struct drill_round
{
    uint64_t victim;
    uint64_t old_leader, new_leader;
    uint64_t t_fault, t_elect, t_resume, t_end; /* monotonic ms */
    uint64_t t_leader_stop; /* rolling-restart: SIGTERM of the leader */
    int64_t detect_ms, elect_ms, outage_ms; /* -1 = not applicable */
    bool ok;
    char note[128];
} drill_round;

typedef struct drill
{
    drill_kind kind;
    unsigned rounds;
    unsigned writers;
    unsigned rate; /* writes per second, all writers together */
    bool raw;      /* writers use ops_conn instead of libratusz */
    uint32_t partition_ms;
    uint64_t run_id;
    ctl_where w;
    ops_local local;
    bool is_local;
    char var_dir[CTL_PATH_BYTES];
    rz_identity id;
    /* Shared with the writers, under mu. */
    pthread_mutex_t mu;
    volatile int stop;
    drill_ack *acks;
    size_t n_acks, cap_acks;
    uint64_t *errs; /* times of write errors */
    size_t n_errs, cap_errs;
    uint64_t unknown; /* writes given up on */
    uint64_t rejected;
    uint64_t attempts;
    char first_reject[RZ_ERRMSG_BYTES];
    uint64_t t_start;
    drill_round round[DRILL_MAX_ROUNDS];
} drill;

typedef struct writer
{
    drill *d;
    uint32_t index;
    pthread_t th;
} writer;

static void nap_ms(unsigned ms)
{
    struct timespec ts = {(time_t)(ms / 1000u), (long)(ms % 1000u) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static void tag_make(const drill *d, uint32_t writer_index, uint32_t seq,
                     char *out, size_t size)
{
    snprintf(out, size, "drill %016llx w%u #%u", (unsigned long long)d->run_id,
             writer_index, seq);
}

/* Inverse of tag_make for this run: false for other descriptions. */
static bool tag_parse(const drill *d, const char *s, uint32_t *writer_index,
                      uint32_t *seq)
{
    unsigned long long run;
    unsigned wi, sq;
    char tail;
    if (sscanf(s, "drill %16llx w%u #%u%c", &run, &wi, &sq, &tail) != 3) {
        return false;
    }
    if (run != d->run_id) {
        return false;
    }
    *writer_index = wi;
    *seq = sq;
    return true;
}

static void *grow(void *p, size_t *cap, size_t elem)
{
    size_t ncap = *cap ? *cap * 2 : 4096;
    void *np = realloc(p, ncap * elem);
    if (np == NULL) {
        fprintf(stderr, "ratuszctl drill: out of memory.\n");
        exit(CTL_EXIT_FAIL);
    }
    *cap = ncap;
    return np;
}

/* A failed or slow attempt that began at `started`: the clients noticed at
 * the error or once the attempt was WRITE_SLOW_MS old, whichever came
 * first. */
static void note_error(drill *d, uint64_t started)
{
    uint64_t now = rz_mono_ms();
    uint64_t at = started + WRITE_SLOW_MS < now ? started + WRITE_SLOW_MS : now;
    pthread_mutex_lock(&d->mu);
    if (d->n_errs == d->cap_errs) {
        d->errs = grow(d->errs, &d->cap_errs, sizeof *d->errs);
    }
    d->errs[d->n_errs++] = at;
    pthread_mutex_unlock(&d->mu);
}

/* One CASE_CREATE until acknowledged, rejected or given up, always with
 * the same request_id. Returns 1 acked, 0 rejected, -1 unknown. */
static int write_one(drill *d, ops_conn *c, char *target, uint32_t wi,
                     uint32_t seq, uint64_t *case_id)
{
    char tag[96];
    char errmsg[RZ_ERRMSG_BYTES];
    uint8_t rid[RZ_REQUEST_ID_BYTES];
    uint64_t give_up = rz_mono_ms() + WRITE_GIVE_UP_MS;
    size_t turn = 0;
    ops_reply r;
    rz_buf body;
    int result = -1;
    tag_make(d, wi, seq, tag, sizeof tag);
    rz_random_bytes(rid, sizeof rid);
    rz_buf_init(&body, 1024);
    rz_mp_put_map(&body, 3);
    rz_mp_put_cstr(&body, "description");
    rz_mp_put_cstr(&body, tag);
    rz_mp_put_cstr(&body, "channel");
    rz_mp_put_uint(&body, 7); /* INTERNAL */
    rz_mp_put_cstr(&body, "timeout_ms");
    rz_mp_put_uint(&body, WRITE_ATTEMPT_MS);
    ops_reply_init(&r);
    /* Bounded by give_up; every failed pass sleeps or moves on. */
    while (rz_mono_ms() < give_up) {
        uint64_t started = rz_mono_ms();
        int rv = ops_conn_open(c, target, 300, errmsg);
        if (rv == 0) {
            __atomic_add_fetch(&d->attempts, 1, __ATOMIC_RELAXED);
            rv = ops_conn_call(c, OPS_MSG_CASE_CREATE, rid, &body,
                               WRITE_ATTEMPT_MS, &r, errmsg);
        }
        if (rv == 0 && r.code == 0) {
            if (rz_mono_ms() - started > WRITE_SLOW_MS) {
                note_error(d, started);
            }
            result = ops_map_u64(&r.body, "case_id", case_id) ? 1 : -1;
            break;
        }
        if (rv == 0 && !ops_retryable(r.code)) {
            pthread_mutex_lock(&d->mu);
            if (d->rejected++ == 0) {
                snprintf(d->first_reject, sizeof d->first_reject, "%s: %.160s",
                         rz_errname(r.code), r.message);
            }
            pthread_mutex_unlock(&d->mu);
            result = 0;
            break;
        }
        note_error(d, started);
        if (rv == 0 && r.code == RZ_ENOTLEADER && r.leader_address[0]) {
            if (strcmp(r.leader_address, target) != 0) {
                snprintf(target, CTL_ADDR_BYTES, "%s", r.leader_address);
                continue;
            }
        }
        /* No usable hint: the next node, after a short pause so a cluster
         * in the middle of an election is not hammered. */
        turn = (turn + 1) % d->w.n;
        snprintf(target, CTL_ADDR_BYTES, "%s", d->w.ep[turn].client);
        nap_ms(20);
    }
    ops_reply_close(&r);
    rz_buf_close(&body);
    return result;
}

#ifdef RZ_CTL_HAVE_CLIENT
/* The same write through libratusz, as a front end does it: the library
 * follows redirects and retries with one request_id until the call's
 * deadline; a call that ends without an answer is retried with the
 * outcome's request_id (still the same case) until WRITE_GIVE_UP_MS. */
static int write_one_lib(drill *d, ratusz *h, uint32_t wi, uint32_t seq,
                         uint64_t *case_id)
{
    char tag[96];
    uint64_t give_up = rz_mono_ms() + WRITE_GIVE_UP_MS;
    ratusz_case_new cn;
    ratusz_call call;
    ratusz_outcome oc;
    ratusz_created cr;
    tag_make(d, wi, seq, tag, sizeof tag);
    ratusz_case_new_init(&cn);
    cn.description = tag;
    cn.channel = (ratusz_channel)7; /* INTERNAL */
    memset(&call, 0, sizeof call);
    call.timeout_ms = 5000;
    call.outcome = &oc;
    /* Bounded by give_up. */
    while (rz_mono_ms() < give_up) {
        uint64_t started = rz_mono_ms();
        int rv = ratusz_case_create(h, &call, &cn, &cr);
        if (rz_mono_ms() - started > WRITE_SLOW_MS || oc.attempts > 1) {
            note_error(d, started);
        }
        if (rv == 0) {
            *case_id = cr.case_id;
            return 1;
        }
        if (!ops_retryable(rv) && rv != RATUSZ_EUNAVAILABLE) {
            pthread_mutex_lock(&d->mu);
            if (d->rejected++ == 0) {
                snprintf(d->first_reject, sizeof d->first_reject, "%s: %.160s",
                         rz_errname(rv), oc.message);
            }
            pthread_mutex_unlock(&d->mu);
            return 0;
        }
        memcpy(call.request_id, oc.request_id, sizeof call.request_id);
    }
    return -1;
}
#endif

static void *writer_main(void *arg)
{
    writer *wr = arg;
    drill *d = wr->d;
#ifdef RZ_CTL_HAVE_CLIENT
    ratusz *h = NULL;
    if (!d->raw) {
        const char *eps[CTL_MAX_ENDPOINTS];
        ratusz_options o;
        char errmsg[RATUSZ_ERRMSG_BYTES];
        for (size_t i = 0; i < d->w.n; i++) {
            eps[i] = d->w.ep[i].client;
        }
        memset(&o, 0, sizeof o);
        o.endpoints = eps;
        o.n_endpoints = d->w.n;
        o.identity_path = d->w.identity;
        o.connect_timeout_ms = 300;
        if (ratusz_open(&o, &h, errmsg) != 0) {
            fprintf(stderr, "ratuszctl drill: libratusz: %s\n", errmsg);
            return NULL;
        }
    }
#endif
    ops_conn c;
    char target[CTL_ADDR_BYTES];
    uint64_t period_ms = (uint64_t)d->writers * 1000u / d->rate;
    uint64_t next = rz_mono_ms() + wr->index * period_ms / d->writers;
    uint32_t seq = 0;
    ops_conn_init(&c, &d->id);
    snprintf(target, sizeof target, "%s", d->w.ep[wr->index % d->w.n].client);
    while (!__atomic_load_n(&d->stop, __ATOMIC_ACQUIRE)) {
        uint64_t now = rz_mono_ms();
        uint64_t case_id = 0;
        int res;
        if (now < next) {
            nap_ms((unsigned)(next - now));
        }
        /* A steady rate: a slow write is not followed by a burst. */
        next = (now > next ? now : next) + period_ms;
#ifdef RZ_CTL_HAVE_CLIENT
        if (h != NULL) {
            res = write_one_lib(d, h, wr->index, seq, &case_id);
        } else
#endif
        {
            res = write_one(d, &c, target, wr->index, seq, &case_id);
        }
        pthread_mutex_lock(&d->mu);
        if (res == 1) {
            if (d->n_acks == d->cap_acks) {
                d->acks = grow(d->acks, &d->cap_acks, sizeof *d->acks);
            }
            d->acks[d->n_acks].writer = wr->index;
            d->acks[d->n_acks].seq = seq;
            d->acks[d->n_acks].case_id = case_id;
            d->acks[d->n_acks].at_ms = rz_mono_ms();
            d->n_acks++;
        } else if (res < 0) {
            d->unknown++;
        }
        pthread_mutex_unlock(&d->mu);
        seq++;
    }
    ops_conn_close(&c);
#ifdef RZ_CTL_HAVE_CLIENT
    ratusz_close(h);
#endif
    return NULL;
}

/* ---- cluster control ---------------------------------------------------- */

/* The node that reports itself leader (0 if none answered so), and the
 * endpoint index of node id (or SIZE_MAX). */
static uint64_t find_leader(drill *d, ops_conn *c, uint64_t except,
                            ops_status *lst)
{
    char errmsg[RZ_ERRMSG_BYTES];
    for (size_t i = 0; i < d->w.n; i++) {
        ops_status st;
        if (d->w.ep[i].id == except) {
            continue;
        }
        if (ops_conn_open(c, d->w.ep[i].client, 200, errmsg) == 0 &&
            ops_status_get(c, 300, &st, errmsg) == 0 &&
            !strcmp(st.state, "leader") && st.node_id != except) {
            if (lst != NULL) {
                *lst = st;
            }
            return st.node_id;
        }
    }
    return 0;
}

/* Waits until a leader exists and every node answers with an applied
 * index at or above the leader's commit index seen at the start. */
static int wait_healthy(drill *d, ops_conn *c, uint64_t timeout_ms,
                        uint64_t *leader)
{
    uint64_t deadline = rz_mono_ms() + timeout_ms;
    char errmsg[RZ_ERRMSG_BYTES];
    ops_status lst;
    uint64_t target = 0;
    while (rz_mono_ms() < deadline) {
        size_t good = 0;
        uint64_t l = find_leader(d, c, 0, &lst);
        if (l != 0) {
            if (target == 0) {
                target = lst.commit_index;
            }
            for (size_t i = 0; i < d->w.n; i++) {
                ops_status st;
                if (ops_conn_open(c, d->w.ep[i].client, 200, errmsg) == 0 &&
                    ops_status_get(c, 300, &st, errmsg) == 0 &&
                    st.applied_index >= target && st.leader_id == l) {
                    good++;
                }
            }
            if (good == d->w.n) {
                *leader = l;
                return 0;
            }
        }
        nap_ms(50);
    }
    return RZ_ETIMEDOUT;
}

/* PID of node id in a named cluster: <var>/n<id>/ratuszd.pid. */
static pid_t remote_pid(const drill *d, uint64_t id)
{
    char path[CTL_PATH_BYTES + 64];
    long pid = 0;
    FILE *f;
    snprintf(path, sizeof path, "%s/n%llu/ratuszd.pid", d->var_dir,
             (unsigned long long)id);
    f = fopen(path, "r");
    if (f == NULL) {
        return 0;
    }
    if (fscanf(f, "%ld", &pid) != 1) {
        pid = 0;
    }
    fclose(f);
    return (pid_t)pid;
}

static int node_signal(drill *d, uint64_t id, int sig)
{
    if (d->is_local) {
        return ops_local_node_signal(&d->local, id, sig);
    }
    {
        pid_t pid = remote_pid(d, id);
        if (pid <= 0 || kill(pid, sig) != 0) {
            return RZ_ENOTFOUND;
        }
        if (sig == SIGKILL || sig == SIGTERM) {
            uint64_t deadline = rz_mono_ms() + 15000;
            while (kill(pid, 0) == 0 && rz_mono_ms() < deadline) {
                nap_ms(20);
            }
        }
    }
    return 0;
}

/* Starts node id again (local), or waits until whoever supervises the
 * named cluster (systemd, make run) has restarted it. */
static int node_restart(drill *d, uint64_t id, char *errmsg)
{
    if (d->is_local) {
        return ops_local_node_start(&d->local, id, errmsg);
    }
    {
        ops_conn c;
        ops_status st;
        uint64_t deadline = rz_mono_ms() + 60000;
        int rv = RZ_ETIMEDOUT;
        ops_conn_init(&c, &d->id);
        while (rz_mono_ms() < deadline) {
            for (size_t i = 0; i < d->w.n; i++) {
                if (d->w.ep[i].id == id &&
                    ops_conn_open(&c, d->w.ep[i].client, 300, errmsg) == 0 &&
                    ops_status_get(&c, 500, &st, errmsg) == 0) {
                    rv = 0;
                }
            }
            if (rv == 0) {
                break;
            }
            nap_ms(200);
        }
        ops_conn_close(&c);
        if (rv != 0) {
            rz_errmsg_set(errmsg,
                          "node %llu did not come back within 60 s: a named "
                          "cluster's nodes are restarted by their "
                          "supervisor, not by the drill",
                          (unsigned long long)id);
        }
        return rv;
    }
}

/* Polls STATUS until a node other than old_leader leads; t_elect. */
static uint64_t wait_new_leader(drill *d, ops_conn *c, uint64_t old_leader,
                                uint64_t deadline, uint64_t *new_leader)
{
    while (rz_mono_ms() < deadline) {
        uint64_t l = find_leader(d, c, old_leader, NULL);
        if (l != 0) {
            *new_leader = l;
            return rz_mono_ms();
        }
        nap_ms(10);
    }
    return 0;
}

/* Waits until some write is acknowledged after `after`. */
static uint64_t wait_ack_after(drill *d, uint64_t after, uint64_t deadline)
{
    while (rz_mono_ms() < deadline) {
        uint64_t last = 0;
        pthread_mutex_lock(&d->mu);
        if (d->n_acks > 0) {
            last = d->acks[d->n_acks - 1].at_ms;
        }
        pthread_mutex_unlock(&d->mu);
        if (last > after) {
            return last;
        }
        nap_ms(5);
    }
    return 0;
}

static int run_round(drill *d, drill_round *rd, ops_conn *c)
{
    char errmsg[RZ_ERRMSG_BYTES] = "";
    uint64_t leader = 0;
    uint64_t deadline;
    int rv = wait_healthy(d, c, 30000, &leader);
    if (rv != 0) {
        snprintf(rd->note, sizeof rd->note,
                 "cluster not healthy before the "
                 "round");
        return rv;
    }
    nap_ms(ROUND_WARMUP_MS);
    leader = find_leader(d, c, 0, NULL);
    rd->old_leader = leader;
    rd->victim = leader;
    if (d->kind == DRILL_FOLLOWER_KILL) {
        for (size_t i = 0; i < d->w.n; i++) {
            if (d->w.ep[i].id != leader) {
                rd->victim = d->w.ep[i].id;
                break;
            }
        }
    }
    rd->t_fault = rz_mono_ms();
    deadline = rd->t_fault + ROUND_RECOVER_MS;
    switch (d->kind) {
    case DRILL_LEADER_KILL:
    case DRILL_FOLLOWER_KILL:
        rv = node_signal(d, rd->victim, SIGKILL);
        break;
    case DRILL_LEADER_PARTITION:
        rv = node_signal(d, rd->victim, SIGSTOP);
        break;
    case DRILL_ROLLING_RESTART:
        rv = 0;
        break;
    }
    if (rv != 0) {
        snprintf(rd->note, sizeof rd->note, "could not signal node %llu",
                 (unsigned long long)rd->victim);
        return rv;
    }
    if (d->kind == DRILL_ROLLING_RESTART) {
        /* Followers first, the leader last: one leader change per round. */
        uint64_t order[CTL_MAX_ENDPOINTS];
        size_t n = 0;
        for (size_t i = 0; i < d->w.n; i++) {
            if (d->w.ep[i].id != leader) {
                order[n++] = d->w.ep[i].id;
            }
        }
        order[n++] = leader;
        for (size_t i = 0; i < n && rv == 0; i++) {
            uint64_t l2;
            if (order[i] == leader) {
                rd->t_leader_stop = rz_mono_ms();
            }
            rv = node_signal(d, order[i], SIGTERM);
            if (rv == 0 && order[i] == leader) {
                rd->t_elect =
                    wait_new_leader(d, c, leader, deadline, &rd->new_leader);
            }
            if (rv == 0) {
                rv = node_restart(d, order[i], errmsg);
            }
            if (rv == 0) {
                rv = wait_healthy(d, c, 30000, &l2);
            }
        }
        rd->t_resume =
            wait_ack_after(d, rd->t_elect ? rd->t_elect : rd->t_fault,
                           rz_mono_ms() + ROUND_RECOVER_MS);
    } else {
        if (d->kind != DRILL_FOLLOWER_KILL) {
            rd->t_elect =
                wait_new_leader(d, c, leader, deadline, &rd->new_leader);
        }
        rd->t_resume = wait_ack_after(
            d, rd->t_elect ? rd->t_elect : rd->t_fault, deadline);
        if (d->kind == DRILL_LEADER_PARTITION) {
            uint64_t heal = rd->t_fault + d->partition_ms;
            uint64_t now = rz_mono_ms();
            if (now < heal) {
                nap_ms((unsigned)(heal - now));
            }
            rv = node_signal(d, rd->victim, SIGCONT);
        } else {
            nap_ms(300);
            rv = node_restart(d, rd->victim, errmsg);
        }
    }
    rd->t_end = rz_mono_ms();
    if (rv != 0) {
        snprintf(rd->note, sizeof rd->note, "%s", errmsg);
        return rv;
    }
    if (d->kind != DRILL_FOLLOWER_KILL && rd->t_elect == 0) {
        snprintf(rd->note, sizeof rd->note, "no new leader within %u ms",
                 ROUND_RECOVER_MS);
        return RZ_ETIMEDOUT;
    }
    if (rd->t_resume == 0) {
        snprintf(rd->note, sizeof rd->note, "writes did not resume");
        return RZ_ETIMEDOUT;
    }
    rd->ok = true;
    return 0;
}

/* ---- analysis ----------------------------------------------------------- */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static void measure(drill *d)
{
    uint64_t *t = malloc((d->n_acks + 1) * sizeof *t);
    if (t == NULL) {
        fprintf(stderr, "ratuszctl drill: out of memory.\n");
        exit(CTL_EXIT_FAIL);
    }
    for (size_t i = 0; i < d->n_acks; i++) {
        t[i] = d->acks[i].at_ms;
    }
    qsort(t, d->n_acks, sizeof *t, cmp_u64);
    qsort(d->errs, d->n_errs, sizeof *d->errs, cmp_u64);
    for (unsigned r = 0; r < d->rounds; r++) {
        drill_round *rd = &d->round[r];
        uint64_t worst = 0;
        rd->detect_ms = rd->elect_ms = rd->outage_ms = -1;
        if (rd->t_fault == 0) {
            continue;
        }
        for (size_t i = 0; i < d->n_errs; i++) {
            if (d->errs[i] >= rd->t_fault && d->errs[i] <= rd->t_end) {
                rd->detect_ms = (int64_t)(d->errs[i] - rd->t_fault);
                break;
            }
        }
        if (rd->t_elect != 0) {
            uint64_t from =
                rd->t_leader_stop != 0 ? rd->t_leader_stop : rd->t_fault;
            rd->elect_ms = (int64_t)(rd->t_elect - from);
        }
        /* Gaps between consecutive acks where the later one is after the
         * fault and the earlier one before the round ended. */
        for (size_t i = 1; i < d->n_acks; i++) {
            if (t[i] > rd->t_fault && t[i - 1] < rd->t_end &&
                t[i] - t[i - 1] > worst) {
                worst = t[i] - t[i - 1];
            }
        }
        rd->outage_ms = (int64_t)worst;
    }
    free(t);
}

typedef struct stat2
{
    int64_t p50, max;
} stat2;

static stat2 stat_of(const drill *d, size_t field)
{
    int64_t v[DRILL_MAX_ROUNDS];
    size_t n = 0;
    stat2 s = {-1, -1};
    for (unsigned r = 0; r < d->rounds; r++) {
        const drill_round *rd = &d->round[r];
        int64_t x = field == 0   ? rd->detect_ms
                    : field == 1 ? rd->elect_ms
                                 : rd->outage_ms;
        if (x >= 0) {
            v[n++] = x;
        }
    }
    if (n == 0) {
        return s;
    }
    qsort(v, n, sizeof v[0], cmp_i64);
    s.p50 = v[(n - 1) / 2];
    s.max = v[n - 1];
    return s;
}

/* Lists every case linearizably (leader, CASE_LIST pages) and counts each
 * of this run's tags. counts[w][seq] grows as needed. */
typedef struct tag_counts
{
    uint32_t *n[DRILL_MAX_WRITERS];
    uint64_t *case_id[DRILL_MAX_WRITERS];
    size_t cap[DRILL_MAX_WRITERS];
} tag_counts;

static int list_cases(drill *d, tag_counts *tc, uint64_t *n_listed,
                      char *errmsg)
{
    ops_conn c;
    ops_reply r;
    rz_buf body;
    uint64_t cursor = 0;
    uint64_t from_ms = rz_now_ms() - (rz_mono_ms() - d->t_start) - 600000u;
    int rv = 0;
    ops_conn_init(&c, &d->id);
    ops_reply_init(&r);
    rz_buf_init(&body, 256);
    *n_listed = 0;
    /* Bounded by the number of cases: every page moves the cursor. */
    for (unsigned page = 0; page < 1000000u; page++) {
        const uint8_t *p;
        size_t n;
        rz_mp_dec dec;
        uint32_t count;
        uint64_t next = 0;
        rz_buf_reset(&body);
        rz_mp_put_map(&body, 3);
        rz_mp_put_cstr(&body, "limit");
        rz_mp_put_uint(&body, 1000);
        rz_mp_put_cstr(&body, "cursor");
        rz_mp_put_uint(&body, cursor);
        rz_mp_put_cstr(&body, "created_from_ms");
        rz_mp_put_uint(&body, from_ms);
        rv = ops_leader_call(&c, &d->w, OPS_MSG_CASE_LIST, &body,
                             rz_mono_ms() + 30000, &r, errmsg);
        if (rv == 0 && r.code != 0) {
            rz_errmsg_set(errmsg, "CASE_LIST: %s", r.message);
            rv = r.code;
        }
        if (rv != 0) {
            break;
        }
        if (!ops_map_raw(&r.body, "cases", &p, &n)) {
            rz_errmsg_set(errmsg, "CASE_LIST reply without cases");
            rv = RZ_EPROTO;
            break;
        }
        (void)ops_map_u64(&r.body, "next_cursor", &next);
        rz_mp_dec_init(&dec, p, n);
        if (rz_mp_get_array(&dec, &count) != 0) {
            rv = RZ_EPROTO;
            break;
        }
        for (uint32_t i = 0; i < count; i++) {
            const uint8_t *cp;
            size_t cn;
            rz_buf one;
            char desc[128] = "";
            uint64_t case_id = 0;
            uint32_t wi, seq;
            if (rz_mp_next_raw(&dec, &cp, &cn) != 0 || rz_mp_skip(&dec) != 0) {
                rv = RZ_EPROTO;
                break;
            }
            /* A borrowed view of the case map for the getters. */
            one.data = (uint8_t *)(uintptr_t)cp;
            one.len = cn;
            (*n_listed)++;
            if (!ops_map_str(&one, "description", desc, sizeof desc) ||
                !ops_map_u64(&one, "case_id", &case_id) ||
                !tag_parse(d, desc, &wi, &seq) || wi >= d->writers) {
                continue;
            }
            while (seq >= tc->cap[wi]) {
                size_t old = tc->cap[wi];
                tc->n[wi] = grow(tc->n[wi], &tc->cap[wi], sizeof(uint32_t));
                tc->cap[wi] = old;
                tc->case_id[wi] =
                    grow(tc->case_id[wi], &tc->cap[wi], sizeof(uint64_t));
                memset(tc->n[wi] + old, 0,
                       (tc->cap[wi] - old) * sizeof(uint32_t));
            }
            tc->n[wi][seq]++;
            tc->case_id[wi][seq] = case_id;
        }
        if (rv != 0 || next == 0) {
            break;
        }
        cursor = next;
    }
    rz_buf_close(&body);
    ops_reply_close(&r);
    ops_conn_close(&c);
    return rv;
}

/* ---- the command -------------------------------------------------------- */

static void drill_usage(FILE *f)
{
    fprintf(
        f,
        "usage: ratuszctl drill leader-kill|leader-partition|follower-kill|"
        "rolling-restart\n"
        "         [--rounds N] [--local [--base-port P] [--ratuszd PATH]\n"
        "         [--election-timeout-ms MS] [--keep]] [--yes] [--json]\n"
        "         [--writers N] [--rate PER_S] [--partition-ms MS]\n"
        "         [--endpoints H:P,...] [--identity FILE] [--var DIR]\n"
        "         [--client lib|raw]\n"
        "Writes cases at a steady rate while each round injects a fault, "
        "then checks\nthat every acknowledged case exists exactly once and "
        "that all replicas agree.\n"
        "  leader-kill       kill -9 the leader, restart it after the new "
        "leader serves\n"
        "  leader-partition  SIGSTOP the leader for --partition-ms "
        "(default 3000): on\n"
        "                    one host a paused process is what a partition "
        "looks like\n"
        "                    to the others (the jepsen harness cuts real "
        "links)\n"
        "  follower-kill     kill -9 a follower, restart it\n"
        "  rolling-restart   SIGTERM + restart every node in turn, the "
        "leader last\n"
        "Writers use libratusz as a front end does (--client lib, the "
        "default), or\nratuszctl's own one-request client (--client raw).\n"
        "--local runs a throw-away 3-node cluster on 127.0.0.1 (ports "
        "base+1..3,\nbase+11..13, base+21..23; default base 19500) and "
        "removes it afterwards.\n"
        "A named cluster is drilled only if its var dir holds a file "
        "'drill-target'\nor with --yes; nodes are signalled by the PIDs in "
        "<var>/n<ID>/ratuszd.pid\nand must be restarted by their supervisor.\n"
        "exit codes: 0 nothing lost or duplicated and replicas consistent, "
        "1 otherwise,\n2 usage error\n");
}

static void stat_line(const char *what, stat2 s)
{
    if (s.p50 < 0) {
        printf("%-19s -   (not applicable to this drill)\n", what);
        return;
    }
    printf("%-19s p50 %6lld ms   max %6lld ms\n", what, (long long)s.p50,
           (long long)s.max);
}

static void report(drill *d, uint64_t acknowledged, uint64_t lost,
                   uint64_t duplicated, uint64_t mismatched, bool consistent,
                   const char *check_note, bool json, uint64_t listed)
{
    stat2 det = stat_of(d, 0), ele = stat_of(d, 1), out = stat_of(d, 2);
    unsigned ok_rounds = 0;
    for (unsigned r = 0; r < d->rounds; r++) {
        ok_rounds += d->round[r].ok;
    }
    if (json) {
        ctl_json j;
        ctl_json_init(&j, stdout);
        ctl_json_obj_begin(&j, NULL);
        ctl_json_str(&j, "drill", kind_names[d->kind]);
        ctl_json_u64(&j, "rounds", d->rounds);
        ctl_json_u64(&j, "rounds_ok", ok_rounds);
        ctl_json_u64(&j, "acknowledged", acknowledged);
        ctl_json_u64(&j, "lost", lost);
        ctl_json_u64(&j, "duplicated", duplicated);
        ctl_json_u64(&j, "mismatched", mismatched);
        ctl_json_u64(&j, "unknown", d->unknown);
        ctl_json_u64(&j, "rejected", d->rejected);
        ctl_json_u64(&j, "listed", listed);
        ctl_json_i64(&j, "detect_p50_ms", det.p50);
        ctl_json_i64(&j, "detect_max_ms", det.max);
        ctl_json_i64(&j, "elect_p50_ms", ele.p50);
        ctl_json_i64(&j, "elect_max_ms", ele.max);
        ctl_json_i64(&j, "outage_p50_ms", out.p50);
        ctl_json_i64(&j, "outage_max_ms", out.max);
        ctl_json_bool(&j, "consistent", consistent);
        if (check_note[0]) {
            ctl_json_str(&j, "check", check_note);
        }
        ctl_json_arr_begin(&j, "per_round");
        for (unsigned r = 0; r < d->rounds; r++) {
            const drill_round *rd = &d->round[r];
            ctl_json_obj_begin(&j, NULL);
            ctl_json_u64(&j, "victim", rd->victim);
            ctl_json_u64(&j, "new_leader", rd->new_leader);
            ctl_json_i64(&j, "detect_ms", rd->detect_ms);
            ctl_json_i64(&j, "elect_ms", rd->elect_ms);
            ctl_json_i64(&j, "outage_ms", rd->outage_ms);
            ctl_json_bool(&j, "ok", rd->ok);
            if (rd->note[0]) {
                ctl_json_str(&j, "note", rd->note);
            }
            ctl_json_obj_end(&j);
        }
        ctl_json_arr_end(&j);
        ctl_json_obj_end(&j);
        ctl_json_end(&j);
        return;
    }
    {
        static const char *const heads[] = {"ROUND",  "VICTIM", "NEW LEADER",
                                            "DETECT", "ELECT",  "OUTAGE",
                                            "RESULT"};
        ctl_table t;
        printf("drill %s: %u rounds on %s\n\n", kind_names[d->kind], d->rounds,
               d->is_local ? "a throw-away local cluster" : d->w.source);
        ctl_table_init(&t, 7, heads);
        for (unsigned r = 0; r < d->rounds; r++) {
            const drill_round *rd = &d->round[r];
            ctl_table_cellf(&t, "%u", r + 1);
            ctl_table_cellf(&t, "%llu", (unsigned long long)rd->victim);
            if (rd->new_leader) {
                ctl_table_cellf(&t, "%llu", (unsigned long long)rd->new_leader);
            } else {
                ctl_table_cell(&t, "-");
            }
            if (rd->detect_ms >= 0) {
                ctl_table_cellf(&t, "%lld ms", (long long)rd->detect_ms);
            } else {
                ctl_table_cell(&t, "-");
            }
            if (rd->elect_ms >= 0) {
                ctl_table_cellf(&t, "%lld ms", (long long)rd->elect_ms);
            } else {
                ctl_table_cell(&t, "-");
            }
            ctl_table_cellf(&t, "%lld ms", (long long)rd->outage_ms);
            ctl_table_cell(&t, rd->ok ? "ok" : rd->note);
        }
        ctl_table_print(&t, stdout);
        ctl_table_close(&t);
    }
    printf("\n");
    stat_line("time to detect", det);
    stat_line("time to elect", ele);
    stat_line("write outage", out);
    printf("cases acknowledged  %llu (unknown outcome: %llu, rejected: "
           "%llu)\n",
           (unsigned long long)acknowledged, (unsigned long long)d->unknown,
           (unsigned long long)d->rejected);
    printf("cases lost          %llu%s\n", (unsigned long long)lost,
           lost ? "   <-- MUST BE 0" : "");
    printf("cases duplicated    %llu%s\n", (unsigned long long)duplicated,
           duplicated ? "   <-- MUST BE 0" : "");
    if (mismatched) {
        printf("acks naming another case id  %llu   <-- MUST BE 0\n",
               (unsigned long long)mismatched);
    }
    printf("replicas consistent %s%s%s\n", consistent ? "yes" : "NO",
           check_note[0] ? ": " : "", check_note);
    if (d->rejected) {
        printf("first rejection: %s\n", d->first_reject);
    }
}

static int parse_kind(const char *s, drill_kind *k)
{
    for (int i = 0; i < 4; i++) {
        if (!strcmp(s, kind_names[i])) {
            *k = (drill_kind)i;
            return 0;
        }
    }
    return -1;
}

int ctl_drill_main(int argc, char **argv)
{
    enum {
        O_ROUNDS,
        O_LOCAL,
        O_YES,
        O_JSON,
        O_BASE,
        O_RATUSZD,
        O_ET,
        O_KEEP,
        O_WRITERS,
        O_RATE,
        O_PART,
        O_EP,
        O_ID,
        O_VAR,
        O_CLIENT,
        O_N
    };
    ctl_opt opts[O_N] = {{"--rounds", true, NULL, false},
                         {"--local", false, NULL, false},
                         {"--yes", false, NULL, false},
                         {"--json", false, NULL, false},
                         {"--base-port", true, NULL, false},
                         {"--ratuszd", true, NULL, false},
                         {"--election-timeout-ms", true, NULL, false},
                         {"--keep", false, NULL, false},
                         {"--writers", true, NULL, false},
                         {"--rate", true, NULL, false},
                         {"--partition-ms", true, NULL, false},
                         {"--endpoints", true, NULL, false},
                         {"--identity", true, NULL, false},
                         {"--var", true, NULL, false},
                         {"--client", true, NULL, false}};
    const char *pos[1];
    size_t n_pos;
    uint64_t v;
    char errmsg[RZ_ERRMSG_BYTES] = "";
    char check_note[RZ_ERRMSG_BYTES] = "";
    drill *d;
    writer wr[DRILL_MAX_WRITERS];
    ops_conn c;
    ops_check_result cr;
    tag_counts tc;
    uint64_t lost = 0, dup = 0, mismatched = 0, listed = 0;
    bool consistent = false;
    int rv;
    int exit_code = CTL_EXIT_FAIL;

    if (ctl_is_help(argc - 1, argv + 1)) {
        drill_usage(stdout);
        return CTL_EXIT_OK;
    }
    rv = ctl_args_parse("drill", argc - 1, argv + 1, opts, O_N, pos, 1, &n_pos);
    if (rv != 0) {
        return rv;
    }
    d = calloc(1, sizeof *d);
    if (d == NULL) {
        return CTL_EXIT_FAIL;
    }
    if (n_pos != 1 || parse_kind(pos[0], &d->kind) != 0) {
        free(d);
        return ctl_usage_err("drill",
                             "name the drill: leader-kill, leader-partition, "
                             "follower-kill or rolling-restart");
    }
    d->rounds = 5;
    d->writers = 4;
    d->rate = 100;
    d->partition_ms = 3000;
    d->local.base_port = 19500;
#define NUM_OPT(o, lo, hi, dst)                                                \
    if (opts[o].seen) {                                                        \
        if (!ctl_parse_u64(opts[o].value, &v) || v < (lo) || v > (hi)) {       \
            free(d);                                                           \
            return ctl_usage_err("drill", "%s wants %llu..%llu", opts[o].flag, \
                                 (unsigned long long)(lo),                     \
                                 (unsigned long long)(hi));                    \
        }                                                                      \
        dst = (__typeof__(dst))v;                                              \
    }
    NUM_OPT(O_ROUNDS, 1, DRILL_MAX_ROUNDS, d->rounds)
    NUM_OPT(O_WRITERS, 1, DRILL_MAX_WRITERS, d->writers)
    NUM_OPT(O_RATE, 1, 5000, d->rate)
    NUM_OPT(O_PART, 100, 600000, d->partition_ms)
    NUM_OPT(O_BASE, 1024, 65000, d->local.base_port)
    NUM_OPT(O_ET, 100, 60000, d->local.election_timeout_ms)
#undef NUM_OPT
    if (opts[O_CLIENT].seen && strcmp(opts[O_CLIENT].value, "lib") != 0 &&
        strcmp(opts[O_CLIENT].value, "raw") != 0) {
        free(d);
        return ctl_usage_err("drill", "--client is lib or raw");
    }
#ifdef RZ_CTL_HAVE_CLIENT
    d->raw = opts[O_CLIENT].seen && !strcmp(opts[O_CLIENT].value, "raw");
#else
    d->raw = true;
#endif
    if (d->rate < d->writers) {
        d->rate = d->writers;
    }
    if (!opts[O_LOCAL].seen && (opts[O_BASE].seen || opts[O_RATUSZD].seen ||
                                opts[O_ET].seen || opts[O_KEEP].seen)) {
        free(d);
        return ctl_usage_err("drill", "--base-port, --ratuszd, "
                                      "--election-timeout-ms and --keep go "
                                      "with --local");
    }
    if (opts[O_LOCAL].seen && (opts[O_EP].seen || opts[O_VAR].seen)) {
        free(d);
        return ctl_usage_err("drill", "--local makes its own cluster: drop "
                                      "--endpoints/--var");
    }
    rz_random_bytes(&d->run_id, sizeof d->run_id);
    pthread_mutex_init(&d->mu, NULL);
    memset(&tc, 0, sizeof tc);

    if (opts[O_LOCAL].seen) {
        d->is_local = true;
        ops_ratuszd_path(opts[O_RATUSZD].value, d->local.ratuszd,
                         sizeof d->local.ratuszd);
        if (!opts[O_JSON].seen) {
            printf("starting a throw-away 3-node cluster on 127.0.0.1:%u-%u "
                   "with %s ...\n",
                   d->local.base_port + 1u, d->local.base_port + 23u,
                   d->local.ratuszd);
            fflush(stdout);
        }
        rv = ops_local_start(&d->local, errmsg);
        if (rv != 0) {
            fprintf(stderr, "ratuszctl drill: %s\n", errmsg);
            goto out_local;
        }
        d->w = d->local.where;
        d->id = d->local.operator_id;
    } else {
        const char *var =
            opts[O_VAR].value ? opts[O_VAR].value : getenv("RATUSZ_VAR");
        char marker[CTL_PATH_BYTES + 32];
        snprintf(d->var_dir, sizeof d->var_dir, "%s",
                 var != NULL && *var ? var : "var");
        snprintf(marker, sizeof marker, "%s/drill-target", d->var_dir);
        if (!opts[O_YES].seen && access(marker, F_OK) != 0) {
            fprintf(stderr,
                    "ratuszctl drill: refusing to drill a cluster that is not "
                    "marked as a drill target: kills and pauses its nodes. "
                    "Create %s (or pass --yes) if this cluster may be "
                    "drilled, or use --local for a throw-away cluster.\n",
                    marker);
            free(d);
            return CTL_EXIT_FAIL;
        }
        rv = ctl_where_resolve("drill", opts[O_EP].value, opts[O_ID].value,
                               &d->w);
        if (rv != 0) {
            free(d);
            return rv;
        }
        for (size_t i = 0; i < d->w.n; i++) {
            if (d->w.ep[i].id == 0) {
                fprintf(stderr, "ratuszctl drill: a named cluster needs node "
                                "ids: use var/cluster.endpoints, not "
                                "--endpoints.\n");
                free(d);
                return CTL_EXIT_USAGE;
            }
        }
        rv = ops_identity_load("drill", &d->w, &d->id);
        if (rv != 0) {
            free(d);
            return rv;
        }
    }

    d->t_start = rz_mono_ms();
    for (uint32_t i = 0; i < d->writers; i++) {
        wr[i].d = d;
        wr[i].index = i;
        if (pthread_create(&wr[i].th, NULL, writer_main, &wr[i]) != 0) {
            fprintf(stderr, "ratuszctl drill: cannot start a writer thread.\n");
            d->writers = i;
            break;
        }
    }
    ops_conn_init(&c, &d->id);
    for (unsigned r = 0; r < d->rounds; r++) {
        rv = run_round(d, &d->round[r], &c);
        if (!opts[O_JSON].seen) {
            fprintf(stderr, "round %u/%u: %s%s\n", r + 1, d->rounds,
                    rv == 0 ? "ok" : "FAILED: ", d->round[r].note);
        }
        if (rv != 0) {
            d->rounds = r + 1;
            break;
        }
    }
    /* Writes after the last fault, then stop the writers. */
    nap_ms(500);
    __atomic_store_n(&d->stop, 1, __ATOMIC_RELEASE);
    for (uint32_t i = 0; i < d->writers; i++) {
        pthread_join(wr[i].th, NULL);
    }
    measure(d);

    /* Every replica back and caught up, then the checks. */
    {
        uint64_t leader;
        (void)wait_healthy(d, &c, 30000, &leader);
    }
    rv = list_cases(d, &tc, &listed, errmsg);
    if (rv != 0) {
        snprintf(check_note, sizeof check_note, "listing failed: %s", errmsg);
        lost = d->n_acks; /* nothing proven */
    } else {
        for (size_t i = 0; i < d->n_acks; i++) {
            const drill_ack *a = &d->acks[i];
            uint32_t n =
                a->seq < tc.cap[a->writer] ? tc.n[a->writer][a->seq] : 0;
            if (n == 0) {
                lost++;
            } else if (tc.case_id[a->writer][a->seq] != a->case_id) {
                mismatched++;
            }
        }
        for (uint32_t wi = 0; wi < DRILL_MAX_WRITERS; wi++) {
            for (size_t s = 0; s < tc.cap[wi]; s++) {
                dup += tc.n[wi][s] > 1 ? tc.n[wi][s] - 1 : 0;
            }
        }
        rv = ops_check_cluster(&d->w, &d->id, false, 30000, &cr, errmsg);
        consistent = rv == 0 && cr.consistent;
        if (rv != 0) {
            snprintf(check_note, sizeof check_note, "%s", errmsg);
        } else if (!consistent) {
            size_t len = 0;
            for (size_t i = 0; i < cr.n; i++) {
                if (cr.node[i].differs && len < sizeof check_note) {
                    len += (size_t)snprintf(
                        check_note + len, sizeof check_note - len,
                        "node %llu differs at index %llu; ",
                        (unsigned long long)cr.node[i].sum.node_id,
                        (unsigned long long)cr.node[i].sum.applied_index);
                }
            }
        } else {
            snprintf(check_note, sizeof check_note,
                     "%zu replicas at index "
                     "%llu",
                     cr.n, (unsigned long long)cr.node[0].sum.applied_index);
        }
    }
    ops_conn_close(&c);
    report(d, d->n_acks, lost, dup, mismatched, consistent, check_note,
           opts[O_JSON].seen, listed);
    {
        bool rounds_ok = true;
        for (unsigned r = 0; r < d->rounds; r++) {
            rounds_ok = rounds_ok && d->round[r].ok;
        }
        exit_code = lost == 0 && dup == 0 && mismatched == 0 && consistent &&
                            rounds_ok && d->n_acks > 0
                        ? CTL_EXIT_OK
                        : CTL_EXIT_FAIL;
    }
out_local:
    if (d->is_local) {
        /* A failed drill keeps the cluster's logs for the post-mortem. */
        bool keep = opts[O_KEEP].seen || exit_code != CTL_EXIT_OK;
        if (keep && d->local.dir[0] != '\0') {
            fprintf(stderr, "ratuszctl drill: kept %s (nodes stopped)\n",
                    d->local.dir);
        }
        ops_local_stop(&d->local, keep);
    }
    rz_identity_wipe(&d->id);
    for (uint32_t wi = 0; wi < DRILL_MAX_WRITERS; wi++) {
        free(tc.n[wi]);
        free(tc.case_id[wi]);
    }
    free(d->acks);
    free(d->errs);
    pthread_mutex_destroy(&d->mu);
    free(d);
    return exit_code;
}
