/* rz_replica_bootstrap_at: a log seeded for a state restored from a backup.
 * A toy state that has applied commands up to raft index 500 gets a log
 * whose snapshot descriptor sits at 500; a single replica opened on it (the
 * libuv environment) must elect itself, give new commands indexes 501.. and
 * apply every one of them (a log starting at index 1 would have its first
 * 500 entries skipped as already applied). A state behind the descriptor or
 * with another checksum is refused at open; bad arguments and a non-empty
 * log are refused and change nothing. */
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/common.h"
#include "consensus/consensus.h"

#define CHECK(c)                                                             \
    do {                                                                     \
        if (!(c)) {                                                          \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, \
                    #c);                                                     \
            exit(1);                                                         \
        }                                                                    \
    } while (0)

#define AT 500u

typedef struct toy
{
    uint64_t applied;
    uint64_t chain;
    uint64_t n_cmds;
    uint64_t first_index; /* index of the first command applied here */
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
        if (t->first_index == 0) {
            t->first_index = e[i].index;
        }
        t->applied = e[i].index;
        t->n_cmds++;
        CHECK(rz_buf_append(&results[i], &e[i].index, sizeof e[i].index) == 0);
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

static int toy_sync(void *data)
{
    (void)data;
    return 0;
}

static int t_send(void *data, uint64_t to, const char *addr, const void *p,
                  size_t len)
{
    (void)data;
    (void)to;
    (void)addr;
    (void)p;
    (void)len;
    return 0; /* a single voter never needs a peer */
}

static uv_loop_t loop;
static char base[128];
static int n_done, n_ok, closed;
static uint64_t min_index = UINT64_MAX, max_index;

static int rm_cb(const char *path, const struct stat *sb, int flag,
                 struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void cleanup(void)
{
    if (base[0] != '\0') {
        nftw(base, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    }
}

static void run_ms(uint64_t ms)
{
    uint64_t end = uv_now(&loop) + ms;
    while (uv_now(&loop) < end) {
        uv_run(&loop, UV_RUN_NOWAIT);
        usleep(1000);
        uv_update_time(&loop);
    }
}

static void prop_cb(void *arg, const rz_propose_result *res)
{
    (void)arg;
    n_done++;
    if (res->status == 0) {
        uint64_t applied_at;
        CHECK(res->len == sizeof applied_at);
        memcpy(&applied_at, res->result, sizeof applied_at);
        CHECK(applied_at == res->index);
        if (res->index < min_index) {
            min_index = res->index;
        }
        if (res->index > max_index) {
            max_index = res->index;
        }
        n_ok++;
    }
}

static void closed_cb(void *arg)
{
    (void)arg;
    closed++;
}

static void options(rz_replica_options *o, const char *dir, toy *t)
{
    memset(o, 0, sizeof *o);
    o->id = 1;
    o->address = "n1";
    o->dir = dir;
    o->sm.data = t;
    o->sm.apply_batch = toy_apply;
    o->sm.applied_index = toy_applied;
    o->sm.checksum = toy_checksum;
    o->sm.sync = toy_sync;
    o->election_timeout_ms = 150;
    o->heartbeat_timeout_ms = 30;
    o->tick_ms = 10;
    o->log_map_size_bytes = 16u << 20;
}

static void close_replica(rz_replica *r)
{
    int i;
    closed = 0;
    rz_replica_close(r, closed_cb, NULL);
    for (i = 0; i < 1000 && closed == 0; i++) {
        run_ms(5);
    }
    CHECK(closed == 1);
}

/* Opening over a state that does not match the descriptor must fail. */
static void expect_refused(const char *dir, toy *t, rz_transport *tr)
{
    rz_replica_options o;
    rz_replica *r = NULL;
    char errmsg[RZ_ERRMSG_BYTES];
    uint64_t applied = t->applied;
    options(&o, dir, t);
    CHECK(rz_replica_open_uv(&loop, tr, &o, &r, errmsg) != 0);
    CHECK(r == NULL);
    CHECK(t->applied == applied && t->n_cmds == 0);
}

int main(void)
{
    char dir[160], dir2[160], dir3[160];
    char errmsg[RZ_ERRMSG_BYTES];
    rz_member m = {1, "n1", true};
    rz_member standby = {1, "n1", false};
    rz_transport tr = {NULL, t_send};
    rz_replica_options o;
    rz_replica *r = NULL;
    toy t, other;
    uint8_t sum[32];
    uint64_t at = 0;
    rz_proposal p[20];
    char cmds[20][16];
    int i;

    snprintf(base, sizeof base, "/dev/shm/ratusz-bootat-%d", (int)getpid());
    CHECK(mkdir(base, 0700) == 0);
    atexit(cleanup);
    CHECK(uv_loop_init(&loop) == 0);
    snprintf(dir, sizeof dir, "%s/a", base);
    snprintf(dir2, sizeof dir2, "%s/b", base);
    snprintf(dir3, sizeof dir3, "%s/c", base);
    CHECK(mkdir(dir, 0700) == 0 && mkdir(dir2, 0700) == 0 &&
          mkdir(dir3, 0700) == 0);

    /* The restored state: commands up to raft index AT. */
    memset(&t, 0, sizeof t);
    t.applied = AT;
    t.chain = 0x5eed5eed5eedull;
    CHECK(toy_checksum(&t, sum, &at) == 0 && at == AT);

    /* Bad arguments change nothing. */
    CHECK(rz_replica_bootstrap_at(dir, &m, 1, 0, sum, errmsg) == RZ_EINVAL);
    CHECK(rz_replica_bootstrap_at(dir, &m, 0, AT, sum, errmsg) == RZ_EINVAL);
    CHECK(rz_replica_bootstrap_at(dir, &standby, 1, AT, sum, errmsg) ==
          RZ_EINVAL);
    CHECK(rz_replica_bootstrap_at(dir, &m, 1, AT, sum, errmsg) == 0);
    /* A second seeding, or an ordinary bootstrap on top, is refused. */
    CHECK(rz_replica_bootstrap_at(dir, &m, 1, AT, sum, errmsg) == RZ_EEXISTS);
    CHECK(rz_replica_bootstrap(dir, &m, 1, errmsg) == RZ_EEXISTS);

    /* A state behind the descriptor, and one at the index with another
     * checksum, are refused at open. */
    CHECK(rz_replica_bootstrap_at(dir2, &m, 1, AT, sum, errmsg) == 0);
    other = t;
    other.applied = AT - 1;
    other.n_cmds = 0;
    expect_refused(dir2, &other, &tr);
    CHECK(rz_replica_bootstrap_at(dir3, &m, 1, AT, sum, errmsg) == 0);
    other = t;
    other.chain ^= 1;
    expect_refused(dir3, &other, &tr);

    /* The matching state opens, elects itself and continues at AT + 1. */
    options(&o, dir, &t);
    CHECK(rz_replica_open_uv(&loop, &tr, &o, &r, errmsg) == 0);
    for (i = 0; i < 300; i++) {
        rz_replica_status s;
        rz_replica_status_get(r, &s);
        if (s.state == RZ_REPLICA_LEADER) {
            break;
        }
        run_ms(10);
    }
    CHECK(i < 300);
    for (i = 0; i < 20; i++) {
        snprintf(cmds[i], sizeof cmds[i], "new-%d", i);
        p[i].cmd = cmds[i];
        p[i].len = strlen(cmds[i]);
        p[i].cb = prop_cb;
        p[i].arg = NULL;
    }
    CHECK(rz_replica_propose(r, p, 20) == 0);
    for (i = 0; i < 500 && n_done < 20; i++) {
        run_ms(5);
    }
    CHECK(n_done == 20 && n_ok == 20);
    CHECK(t.n_cmds == 20); /* every new command applied, none skipped */
    CHECK(t.first_index > AT && min_index > AT);
    /* Only the leader's barrier (and no configuration entry) lies between
     * the descriptor and the first command. */
    CHECK(min_index <= AT + 2);
    CHECK(t.applied == max_index && max_index - min_index == 19);
    close_replica(r);

    /* Reopened: nothing is applied twice, the log goes on after it. */
    {
        uint64_t before = t.applied;
        r = NULL;
        n_done = n_ok = 0;
        CHECK(rz_replica_open_uv(&loop, &tr, &o, &r, errmsg) == 0);
        for (i = 0; i < 300; i++) {
            rz_replica_status s;
            rz_replica_status_get(r, &s);
            if (s.state == RZ_REPLICA_LEADER) {
                break;
            }
            run_ms(10);
        }
        CHECK(i < 300);
        CHECK(t.n_cmds == 20);
        CHECK(rz_replica_propose(r, p, 1) == 0);
        for (i = 0; i < 500 && n_done < 1; i++) {
            run_ms(5);
        }
        CHECK(n_ok == 1 && t.n_cmds == 21 && t.applied > before);
        close_replica(r);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(uv_loop_close(&loop) == 0);
    printf("bootstrap_at: 21 commands applied at %" PRIu64 "..%" PRIu64
           " after a seeded index %u\n",
           min_index, t.applied, AT);
    return 0;
}
