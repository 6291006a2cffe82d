/* The libuv environment end to end: three replicas on one real loop with
 * the group-commit log writer, the raft message codec and an in-process
 * transport, over a toy state machine (a hash chain of the commands).
 * Proposals in batches, a read barrier, a leadership transfer, a transport
 * that refuses a forged sender, log compaction through the writer and a
 * state transfer to a follower that was cut off past the leader's log, and
 * a clean close. Exits non-zero on the first failed check. */
#define _XOPEN_SOURCE 700
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/common.h"
#include "consensus/consensus.h"

#define N 3
#define CHECK(c)                                                             \
    do {                                                                     \
        if (!(c)) {                                                          \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, \
                    #c);                                                     \
            exit(1);                                                         \
        }                                                                    \
    } while (0)

/* ---- Toy state machine ---- */

typedef struct toy
{
    uint64_t applied;
    uint64_t chain;
    uint64_t n_cmds;
} toy;

static int toy_apply(void *data, const rz_sm_entry *e, size_t n,
                     rz_buf *results)
{
    toy *t = data;
    size_t i, k;
    for (i = 0; i < n; i++) {
        const uint8_t *p = e[i].cmd;
        CHECK(e[i].index > t->applied);
        for (k = 0; k < e[i].len; k++) {
            t->chain = (t->chain ^ p[k]) * 1099511628211ull;
        }
        t->applied = e[i].index;
        t->n_cmds++;
        rz_buf_append(&results[i], &t->n_cmds, sizeof t->n_cmds);
    }
    return 0;
}

static uint64_t toy_applied(void *data)
{
    return ((toy *)data)->applied;
}

static int toy_checksum(void *data, uint8_t out[32], uint64_t *idx)
{
    toy *t = data;
    memset(out, 0, 32);
    memcpy(out, &t->chain, sizeof t->chain);
    *idx = t->applied;
    return 0;
}

static int n_syncs;

static int toy_sync(void *data)
{
    (void)data;
    n_syncs++;
    return 0;
}

/* The toy's whole state is its struct: the copy is its bytes. */
static int toy_copy(void *data, int fd, uint64_t *idx, uint8_t sum[32])
{
    toy *t = data;
    CHECK(write(fd, t, sizeof *t) == (ssize_t)sizeof *t);
    *idx = t->applied;
    return toy_checksum(data, sum, idx);
}

static int toy_install(void *data, const char *path, uint64_t idx,
                       const uint8_t sum[32])
{
    toy *t = data;
    toy c;
    uint8_t got[32];
    uint64_t at = 0;
    int fd = open(path, O_RDONLY);
    CHECK(fd >= 0);
    CHECK(read(fd, &c, sizeof c) == (ssize_t)sizeof c);
    close(fd);
    CHECK(toy_checksum(&c, got, &at) == 0);
    if (at != idx || memcmp(got, sum, 32) != 0) {
        return RZ_ECORRUPT;
    }
    CHECK(unlink(path) == 0);
    *t = c;
    return 0;
}

/* ---- In-process transport: frames queued, delivered from an idle ---- */

typedef struct frame
{
    uint64_t from, to;
    uint8_t *bytes;
    size_t len;
    struct frame *next;
} frame;

static uv_loop_t loop;
static rz_replica *reps[N + 1];
static toy toys[N + 1];
static uint64_t ids[N + 1];
static frame *q_head, *q_tail;
static uv_idle_t idle;
static bool cut[N + 1];
static uint8_t saved[4096]; /* a frame node 2 sent, for the forgery check */
static size_t saved_len;

static int t_send(void *data, uint64_t to, const char *addr, const void *p,
                  size_t len)
{
    uint64_t from = *(uint64_t *)data;
    frame *f;
    (void)addr;
    if (to < 1 || to > N || cut[from] || cut[to]) {
        return 0;
    }
    if (from == 2 && len <= sizeof saved) {
        memcpy(saved, p, len);
        saved_len = len;
    }
    f = calloc(1, sizeof *f);
    CHECK(f != NULL);
    f->from = from;
    f->to = to;
    f->bytes = malloc(len);
    CHECK(f->bytes != NULL);
    memcpy(f->bytes, p, len);
    f->len = len;
    if (q_tail != NULL) {
        q_tail->next = f;
    } else {
        q_head = f;
    }
    q_tail = f;
    return 0;
}

static void idle_cb(uv_idle_t *h)
{
    frame *f = q_head;
    (void)h;
    q_head = q_tail = NULL;
    while (f != NULL) {
        frame *next = f->next;
        if (reps[f->to] != NULL) {
            CHECK(rz_replica_deliver(reps[f->to], f->from, f->bytes, f->len) ==
                  0);
        }
        free(f->bytes);
        free(f);
        f = next;
    }
}

/* ---- Helpers ---- */

static int leader_id(void)
{
    int i;
    for (i = 1; i <= N; i++) {
        rz_replica_status s;
        if (reps[i] == NULL) {
            continue;
        }
        rz_replica_status_get(reps[i], &s);
        if (s.state == RZ_REPLICA_LEADER) {
            return i;
        }
    }
    return 0;
}

static void run_ms(uint64_t ms)
{
    uint64_t end = uv_now(&loop) + ms;
    while (uv_now(&loop) < end) {
        uv_run(&loop, UV_RUN_ONCE);
    }
}

static int wait_leader(void)
{
    int i;
    for (i = 0; i < 300; i++) {
        int l = leader_id();
        if (l != 0) {
            return l;
        }
        run_ms(10);
    }
    return 0;
}

static int n_done, n_ok;

static void prop_cb(void *arg, const rz_propose_result *res)
{
    (void)arg;
    n_done++;
    if (res->status == 0) {
        CHECK(res->len == sizeof(uint64_t));
        n_ok++;
    }
}

static int read_status = 1;
static void read_cb(void *arg, int status, uint64_t leader)
{
    (void)arg;
    (void)leader;
    read_status = status;
}

static int change_status = 1;
static void change_cb(void *arg, int status)
{
    (void)arg;
    change_status = status;
}

static int closed;
static void closed_cb(void *arg)
{
    (void)arg;
    closed++;
}

static int rm_cb(const char *path, const struct stat *sb, int flag,
                 struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static char base[128];

/* Removes the test's directory on every exit, failed checks included. */
static void cleanup(void)
{
    if (base[0] != '\0') {
        nftw(base, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    }
}

static void propose_batch(int l, int n, int tag)
{
    rz_proposal p[64];
    char cmds[64][32];
    int i;
    CHECK(n <= 64);
    for (i = 0; i < n; i++) {
        snprintf(cmds[i], sizeof cmds[i], "cmd-%d-%d", tag, i);
        p[i].cmd = cmds[i];
        p[i].len = strlen(cmds[i]);
        p[i].cb = prop_cb;
        p[i].arg = NULL;
    }
    CHECK(rz_replica_propose(reps[l], p, (size_t)n) == 0);
}

int main(void)
{
    char dirs[N + 1][160];
    char addrs[N + 1][16];
    rz_member members[N];
    char errmsg[RZ_ERRMSG_BYTES];
    rz_transport tr[N + 1];
    int i, l, round;

    snprintf(base, sizeof base, "/dev/shm/ratusz-uvtest-%d", (int)getpid());
    CHECK(mkdir(base, 0700) == 0);
    atexit(cleanup);
    CHECK(uv_loop_init(&loop) == 0);
    CHECK(uv_idle_init(&loop, &idle) == 0);
    CHECK(uv_idle_start(&idle, idle_cb) == 0);

    for (i = 1; i <= N; i++) {
        snprintf(dirs[i], sizeof dirs[i], "%s/n%d", base, i);
        snprintf(addrs[i], sizeof addrs[i], "n%d", i);
        CHECK(mkdir(dirs[i], 0700) == 0);
        members[i - 1].id = (uint64_t)i;
        members[i - 1].address = addrs[i];
        members[i - 1].voter = true;
    }
    for (i = 1; i <= N; i++) {
        CHECK(rz_replica_bootstrap(dirs[i], members, N, errmsg) == 0);
    }
    /* A second bootstrap of the same log is refused. */
    CHECK(rz_replica_bootstrap(dirs[1], members, N, errmsg) == RZ_EEXISTS);

    for (i = 1; i <= N; i++) {
        rz_replica_options o;
        memset(&o, 0, sizeof o);
        ids[i] = (uint64_t)i;
        tr[i].data = &ids[i];
        tr[i].send = t_send;
        o.id = (uint64_t)i;
        o.address = addrs[i];
        o.dir = dirs[i];
        o.sm.data = &toys[i];
        o.sm.apply_batch = toy_apply;
        o.sm.applied_index = toy_applied;
        o.sm.checksum = toy_checksum;
        o.sm.sync = toy_sync;
        o.sm.copy = toy_copy;
        o.sm.install = toy_install;
        o.snapshot_threshold = 32;
        o.snapshot_trailing = 8;
        o.xfer_chunk_bytes = 8; /* the toy's state spans several chunks */
        o.election_timeout_ms = 150;
        o.heartbeat_timeout_ms = 30;
        o.tick_ms = 10;
        o.log_map_size_bytes = 64u << 20;
        CHECK(rz_replica_open_uv(&loop, &tr[i], &o, &reps[i], errmsg) == 0);
    }

    l = wait_leader();
    CHECK(l != 0);
    /* A follower refuses proposals with the leader's id. */
    {
        int f = l % N + 1;
        n_done = n_ok = 0;
        propose_batch(f, 1, 0);
        CHECK(n_done == 1 && n_ok == 0);
    }
    /* Batches of proposals, each one raft_apply. */
    n_done = n_ok = 0;
    for (round = 0; round < 10; round++) {
        propose_batch(l, 20, round + 1);
    }
    for (i = 0; i < 500 && n_done < 200; i++) {
        run_ms(5);
    }
    CHECK(n_done == 200);
    CHECK(n_ok == 200);
    /* Linearizable read behind a barrier. */
    CHECK(rz_replica_read(reps[l], false, read_cb, NULL) == 0);
    for (i = 0; i < 200 && read_status == 1; i++) {
        run_ms(5);
    }
    CHECK(read_status == 0);
    /* A frame whose sender differs from the authenticated peer is refused,
     * garbage is malformed. */
    {
        static const uint8_t junk[] = {0x93, 0x01, 0x02};
        CHECK(rz_replica_deliver(reps[1], 2, junk, sizeof junk) ==
              RZ_EMALFORMED);
        CHECK(saved_len > 0);
        CHECK(rz_replica_deliver(reps[1], 3, saved, saved_len) == RZ_EPERM);
    }
    /* Leadership transfer to another voter. */
    {
        int target = l % N + 1;
        CHECK(rz_replica_transfer(reps[l], (uint64_t)target, change_cb, NULL) ==
              0);
        for (i = 0; i < 300 && change_status == 1; i++) {
            run_ms(5);
        }
        CHECK(change_status == 0);
        l = wait_leader();
        CHECK(l == target);
    }
    n_done = n_ok = 0;
    propose_batch(l, 30, 99);
    for (i = 0; i < 500 && n_done < 30; i++) {
        run_ms(5);
    }
    CHECK(n_ok == 30);
    /* Every replica applies the same commands. */
    for (i = 0; i < 300; i++) {
        if (toys[1].n_cmds == 230 && toys[2].n_cmds == 230 &&
            toys[3].n_cmds == 230) {
            break;
        }
        run_ms(5);
    }
    for (i = 1; i <= N; i++) {
        CHECK(toys[i].n_cmds == 230);
        CHECK(toys[i].chain == toys[1].chain);
        CHECK(toys[i].applied == toys[1].applied);
    }
    /* Compaction and state transfer: a follower is cut off while the
     * others go far past the trailing window, then it is let back. */
    {
        int f = l % N + 1;
        rz_replica_status ls, fs;
        cut[f] = true;
        n_done = n_ok = 0;
        for (round = 0; round < 4; round++) {
            propose_batch(l, 25, 200 + round);
            for (i = 0; i < 500 && n_done < 25 * (round + 1); i++) {
                run_ms(5);
            }
        }
        CHECK(n_ok == 100);
        /* The snapshot op completes on the writer thread. */
        for (i = 0; i < 200; i++) {
            rz_replica_status_get(reps[l], &ls);
            if (ls.snapshot_index > toys[f].applied + 8) {
                break;
            }
            run_ms(5);
        }
        CHECK(ls.snapshot_index > toys[f].applied + 8);
        CHECK(n_syncs > 0);
        cut[f] = false;
        /* The follower's state jumps at the install; the leader counts the
         * transfer when the follower's answer arrives, a loop turn later. */
        for (i = 0; i < 1000; i++) {
            rz_replica_status_get(reps[l], &ls);
            if (toys[f].n_cmds == 330 && ls.xfers_sent >= 1) {
                break;
            }
            run_ms(5);
        }
        rz_replica_status_get(reps[f], &fs);
        rz_replica_status_get(reps[l], &ls);
        CHECK(fs.xfers_installed >= 1);
        CHECK(ls.xfers_sent >= 1);
        CHECK(toys[f].n_cmds == 330);
        CHECK(toys[f].chain == toys[l].chain);
        printf("uv replicas: n%d caught up by state transfer (%" PRIu64
               " bytes), leader snapshot at %" PRIu64 "\n",
               f, fs.xfer_bytes_received, ls.snapshot_index);
    }
    for (i = 1; i <= N; i++) {
        rz_replica_close(reps[i], closed_cb, NULL);
        reps[i] = NULL;
    }
    /* The writers finish on their threads: wait up to 5 s of loop time. */
    for (i = 0; i < 1000 && closed < N; i++) {
        run_ms(5);
    }
    CHECK(closed == N);
    uv_idle_stop(&idle);
    uv_close((uv_handle_t *)&idle, NULL);
    idle_cb(&idle); /* frees frames still queued */
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(uv_loop_close(&loop) == 0);
    printf("uv replicas: 330 commands applied identically on %d replicas\n", N);
    return 0;
}
