/* ratusz-bench log, simulator phase: how fast the deterministic simulator
 * runs (sim_steps_per_s), i.e. how many seeds a CI minute buys. Three
 * replicas of the real raft core over our raft_io and LMDB log store, on
 * tmpfs, with a toy state machine (storage/ is measured by `ratusz-bench
 * storage`), under a steady load of 16 proposals of 256 bytes every 10 ms of
 * virtual time, with network delays and disk latencies as in the simulator's
 * random runs. One step is one simulator event (a message delivery, a disk
 * completion, a timer). */
#include "bench.h"

#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/common.h"
#include "consensus/consensus.h"

#define SIM_NODES 3
#define SIM_BATCH 16
#define SIM_CMD_BYTES 256
#define SIM_PROPOSE_EVERY_MS 10

typedef struct toy_sm
{
    uint64_t applied;
    uint64_t sum;
} toy_sm;

typedef struct sim_bench
{
    rz_sim *sim;
    rz_replica *reps[SIM_NODES];
    toy_sm sms[SIM_NODES];
    uint8_t cmd[SIM_CMD_BYTES];
    uint64_t committed;
    uint64_t refused;
    bool stop;
} sim_bench;

static int toy_apply(void *data, const rz_sm_entry *e, size_t n,
                     rz_buf *results)
{
    toy_sm *t = data;
    for (size_t i = 0; i < n; i++) {
        RZ_ASSERT(e[i].index > t->applied);
        t->applied = e[i].index;
        t->sum += e[i].len;
        rz_mp_put_uint(&results[i], t->applied);
    }
    return 0;
}

static uint64_t toy_applied(void *data)
{
    return ((toy_sm *)data)->applied;
}

static int toy_checksum(void *data, uint8_t out[32], uint64_t *applied)
{
    toy_sm *t = data;
    memset(out, 0, 32);
    rz_put_be64(out, t->sum);
    *applied = t->applied;
    return 0;
}

static void on_proposed(void *arg, const rz_propose_result *res)
{
    sim_bench *b = arg;
    if (res->status == 0) {
        b->committed++;
    } else {
        b->refused++;
    }
}

/* Every SIM_PROPOSE_EVERY_MS of virtual time: a batch to the leader. */
static void propose_tick(void *arg)
{
    sim_bench *b = arg;
    rz_proposal p[SIM_BATCH];
    if (b->stop) {
        return;
    }
    for (int i = 0; i < SIM_NODES; i++) {
        rz_replica_status st;
        rz_replica_status_get(b->reps[i], &st);
        if (st.state != RZ_REPLICA_LEADER) {
            continue;
        }
        for (int k = 0; k < SIM_BATCH; k++) {
            p[k] = (rz_proposal){b->cmd, sizeof(b->cmd), on_proposed, b};
        }
        (void)rz_replica_propose(b->reps[i], p, SIM_BATCH);
        break;
    }
    (void)rz_sim_at(b->sim, rz_sim_now_ms(b->sim) + SIM_PROPOSE_EVERY_MS,
                    propose_tick, b);
}

static int rm_entry(const char *path, const struct stat *sb, int flag,
                    struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

int rz_bench__sim_steps(double seconds, double *steps_per_s,
                        double *virtual_speedup)
{
    static sim_bench b;
    char base[128];
    char dirs[SIM_NODES][160];
    char addrs[SIM_NODES][16];
    char err[RZ_ERRMSG_BYTES];
    rz_member members[SIM_NODES];
    uint64_t steps = 0;
    uint64_t t0;
    uint64_t elapsed_ns;
    int rv = 0;

    memset(&b, 0, sizeof b);
    for (size_t i = 0; i < sizeof(b.cmd); i++) {
        b.cmd[i] = (uint8_t)(i * 7);
    }
    snprintf(base, sizeof base, "/dev/shm/ratusz-bench-sim-%d", (int)getpid());
    nftw(base, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    if (mkdir(base, 0700) != 0 || rz_sim_create(1, &b.sim) != 0) {
        fprintf(stderr, "bench log: cannot set up the simulator in %s\n", base);
        return RZ_EIO;
    }
    rz_sim_net_set(b.sim, &(rz_sim_net){.delay_min_ms = 1, .delay_max_ms = 5});
    for (int i = 0; i < SIM_NODES; i++) {
        snprintf(addrs[i], sizeof addrs[i], "n%d", i + 1);
        members[i] = (rz_member){(uint64_t)i + 1, addrs[i], true};
        rz_sim_disk_set(
            b.sim, (uint64_t)i + 1,
            &(rz_sim_disk){.latency_min_ms = 1, .latency_max_ms = 3});
    }
    for (int i = 0; i < SIM_NODES && rv == 0; i++) {
        rz_replica_options o;
        snprintf(dirs[i], sizeof dirs[i], "%s/n%d", base, i + 1);
        memset(&o, 0, sizeof o);
        o.id = (uint64_t)i + 1;
        o.address = addrs[i];
        o.dir = dirs[i];
        o.sm = (rz_sm){.data = &b.sms[i],
                       .apply_batch = toy_apply,
                       .applied_index = toy_applied,
                       .checksum = toy_checksum};
        o.log_map_size_bytes = 256u << 20;
        o.log_unsafe_no_sync = true;
        if (mkdir(dirs[i], 0700) != 0) {
            rv = RZ_EIO;
            break;
        }
        rv = rz_replica_bootstrap(dirs[i], members, SIM_NODES, err);
        if (rv == 0) {
            rv = rz_replica_open_sim(b.sim, &o, &b.reps[i], err);
        }
        if (rv != 0) {
            fprintf(stderr, "bench log: simulator replica %d: %s\n", i + 1,
                    err);
        }
    }
    if (rv == 0) {
        (void)rz_sim_at(b.sim, 0, propose_tick, &b);
        t0 = rz_mono_ns();
        /* Advance virtual time in 100 ms slices until the wall budget is
         * spent; the budget bounds the run. */
        do {
            steps += rz_sim_run_until(b.sim, rz_sim_now_ms(b.sim) + 100);
            elapsed_ns = rz_mono_ns() - t0;
        } while ((double)elapsed_ns < seconds * 1e9);
        b.stop = true;
        *steps_per_s = (double)steps * 1e9 / (double)elapsed_ns;
        *virtual_speedup =
            (double)rz_sim_now_ms(b.sim) * 1e6 / (double)elapsed_ns;
        fprintf(stderr,
                "  simulator: %llu steps, %.1f virtual s in %.2f s, %llu "
                "commands committed, %llu refused\n",
                (unsigned long long)steps,
                (double)rz_sim_now_ms(b.sim) / 1000.0, (double)elapsed_ns / 1e9,
                (unsigned long long)b.committed, (unsigned long long)b.refused);
        if (b.committed == 0) {
            fprintf(stderr, "bench log: the simulated cluster committed "
                            "nothing\n");
            rv = RZ_EUNAVAILABLE;
        }
    }
    for (int i = 0; i < SIM_NODES; i++) {
        if (b.reps[i] != NULL) {
            rz_replica_crash(b.reps[i]);
        }
    }
    rz_sim_destroy(b.sim);
    nftw(base, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return rv;
}
