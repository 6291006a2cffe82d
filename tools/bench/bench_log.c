/* ratusz-bench log: the raft log store on the disk it runs on.
 *
 * Default mode, all in one run on the same filesystem (a temp dir under
 * --dir, default the working directory, so it measures that disk and never
 * tmpfs):
 *   - baseline: a loop of one 4 KiB pwrite + fdatasync (fdatasync_per_s);
 *   - 1 KiB single-entry appends through the group-commit writer on a uv
 *     loop with 1, 16 and 256 appends kept queued (append_per_s_qN), and
 *     how many entries each LMDB commit carried at queue depth 256
 *     (entries_per_fsync_q256; each commit syncs data and meta pages);
 *   - the deterministic simulator's speed (sim_steps_per_s, in
 *     bench_log_sim.c): three replicas on tmpfs under a steady load.
 * Targets (issue #5): entries_per_fsync_q256 >= 100 and append_per_s_q1 >=
 * fdatasync_per_s / 3 (an LMDB commit costs two syncs plus the write).
 *
 * Aging mode (--aging N): N cycles of "append a batch, then snapshot_put
 * with a trailing window", printing file size, pages used and LMDB's free
 * list (pages and records) after a warm-up and at the end, to show the log
 * does not fragment over millions of append/compact cycles (DESIGN.md §4).
 * The aging store runs without fsync by default (--aging-sync to keep it):
 * page allocation and reuse are the same, only a million syncs slower. */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/common.h"
#include "consensus/logstore.h"

#define ENTRY_BYTES 1024u
#define MAX_DEPTH 256u
#define BENCH_MAP_BYTES ((size_t)8 << 30)

typedef struct run
{
    rz_log_writer *w;
    uv_loop_t loop;
    uint64_t next_index;
    uint64_t deadline_ns;
    uint64_t completed;
    unsigned in_flight;
    int failed;
    rz_log_req reqs[MAX_DEPTH];
    rz_log_entry entries[MAX_DEPTH];
    uint8_t payload[ENTRY_BYTES];
} run;

static void on_append(rz_log_req *req, int status);

static int queue_one(run *r, rz_log_req *req)
{
    rz_log_entry *e = &r->entries[req - r->reqs];
    *e = (rz_log_entry){1, 1, r->payload, ENTRY_BYTES};
    req->data = r;
    int rv = rz_log_writer_append(r->w, req, r->next_index, e, 1, on_append);
    if (rv == 0) {
        r->next_index++;
        r->in_flight++;
    }
    return rv;
}

static void on_append(rz_log_req *req, int status)
{
    run *r = req->data;
    r->in_flight--;
    if (status != 0) {
        fprintf(stderr, "bench log: append failed: %s\n", rz_strerror(status));
        r->failed = 1;
        return;
    }
    r->completed++;
    if (!r->failed && rz_mono_ns() < r->deadline_ns) {
        if (queue_one(r, req) != 0) {
            r->failed = 1;
        }
    }
}

/* Totals of one queue depth over one or more slices. */
typedef struct tally
{
    uint64_t appends;
    uint64_t ns;
    uint64_t commits;
    uint64_t entries;
    uint64_t commit_ns;
} tally;

/* Keeps `depth` appends queued for `seconds` and adds to *t. */
static int phase_appends(run *r, unsigned depth, double seconds, tally *t)
{
    rz_log_writer_stats s0, s1;
    rz_log_writer_stats_get(r->w, &s0);
    r->completed = 0;
    r->failed = 0;
    uint64_t t0 = rz_mono_ns();
    r->deadline_ns = t0 + (uint64_t)(seconds * 1e9);
    for (unsigned i = 0; i < depth; i++) {
        int rv = queue_one(r, &r->reqs[i]);
        if (rv != 0) {
            return rv;
        }
    }
    while (r->in_flight > 0) {
        uv_run(&r->loop, UV_RUN_ONCE);
    }
    t->ns += rz_mono_ns() - t0;
    rz_log_writer_stats_get(r->w, &s1);
    if (r->failed) {
        return RZ_EIO;
    }
    t->appends += r->completed;
    t->commits += s1.commits - s0.commits;
    t->entries += s1.entries_written - s0.entries_written;
    t->commit_ns += s1.fsync_ns_total - s0.fsync_ns_total;
    return 0;
}

static double tally_print(unsigned depth, const tally *t, double *per_commit)
{
    double per_s = (double)t->appends * 1e9 / (double)t->ns;
    *per_commit =
        t->commits > 0 ? (double)t->entries / (double)t->commits : 0.0;
    fprintf(stderr,
            "  depth %3u: %.0f appends/s, %.1f entries per commit, %.3f ms "
            "per commit\n",
            depth, per_s, *per_commit,
            t->commits > 0 ? (double)t->commit_ns / 1e6 / (double)t->commits
                           : 0.0);
    return per_s;
}

/* 4 KiB pwrite + fdatasync in a loop on the same filesystem, for `seconds`;
 * adds to *ops and *ns. */
static int phase_fdatasync(const char *dir, double seconds, uint64_t *ops,
                           uint64_t *ns)
{
    char path[600];
    uint8_t block[4096];
    memset(block, 0xab, sizeof block);
    snprintf(path, sizeof path, "%s/fdatasync.bin", dir);
    int fd = open(path, O_RDWR | O_CREAT, 0600);
    if (fd < 0) {
        perror("bench log: open");
        return RZ_EIO;
    }
    int rv = 0;
    uint64_t n = 0;
    uint64_t t0 = rz_mono_ns();
    uint64_t end = t0 + (uint64_t)(seconds * 1e9);
    uint64_t now = t0;
    /* Rewrites the first 1 MiB round-robin: the file size stops changing,
     * which is the best case for fdatasync (no metadata to flush). */
    for (; now < end && n < UINT64_MAX; n++) {
        off_t off = (off_t)((n % 256) * sizeof block);
        if (pwrite(fd, block, sizeof block, off) != (ssize_t)sizeof block ||
            fdatasync(fd) != 0) {
            perror("bench log: pwrite/fdatasync");
            rv = RZ_EIO;
            break;
        }
        now = rz_mono_ns();
    }
    close(fd);
    *ops += n;
    *ns += now - t0;
    return rv;
}

static void rm_store(const char *dir)
{
    char path[600];
    snprintf(path, sizeof path, "%s/raft.mdb", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/raft.mdb-lock", dir);
    unlink(path);
}

/* Slices the baseline and depth 1 alternate in: a shared disk's speed
 * drifts over seconds, and the q1/fdatasync ratio should compare like with
 * like. */
#define SLICES 8

static int throughput(const char *dir, double seconds)
{
    char err[RZ_ERRMSG_BYTES];
    char path[600];
    rz_logstore_options o = {.map_size_bytes = BENCH_MAP_BYTES};
    rz_logstore *ls = NULL;
    tally t1 = {0}, t16 = {0}, t256 = {0};
    uint64_t fd_ops = 0, fd_ns = 0;
    double pc = 0, pc256 = 0;
    run *r = calloc(1, sizeof *r);
    if (r == NULL) {
        return RZ_ENOMEM;
    }
    for (size_t i = 0; i < ENTRY_BYTES; i++) {
        r->payload[i] = (uint8_t)(i * 31);
    }
    r->next_index = 1;
    int rv = rz_logstore_open(dir, &o, &ls, err);
    if (rv != 0) {
        fprintf(stderr, "bench log: %s\n", err);
        free(r);
        return rv;
    }
    if (uv_loop_init(&r->loop) != 0) {
        rz_logstore_close(ls);
        free(r);
        return RZ_EIO;
    }
    rv = rz_log_writer_create(&r->loop, ls, &r->w);
    for (int i = 0; i < SLICES && rv == 0; i++) {
        rv = phase_fdatasync(dir, seconds / SLICES, &fd_ops, &fd_ns);
        if (rv == 0) {
            rv = phase_appends(r, 1, seconds / SLICES, &t1);
        }
    }
    if (rv == 0) {
        rv = phase_appends(r, 16, seconds, &t16);
    }
    if (rv == 0) {
        rv = phase_appends(r, 256, seconds, &t256);
    }
    if (r->w != NULL) {
        rz_log_writer_destroy(r->w, NULL, NULL);
        uv_run(&r->loop, UV_RUN_DEFAULT);
    }
    (void)uv_loop_close(&r->loop);
    rz_logstore_close(ls);
    rm_store(dir);
    snprintf(path, sizeof path, "%s/fdatasync.bin", dir);
    unlink(path);
    free(r);
    if (rv != 0) {
        return rv;
    }
    double sim_steps = 0, sim_speedup = 0;
    rv = rz_bench__sim_steps(seconds, &sim_steps, &sim_speedup);
    if (rv != 0) {
        return rv;
    }
    double fds = (double)fd_ops * 1e9 / (double)fd_ns;
    fprintf(stderr, "  fdatasync: %.0f/s (4 KiB writes)\n", fds);
    double q1 = tally_print(1, &t1, &pc);
    double q16 = tally_print(16, &t16, &pc);
    double q256 = tally_print(256, &t256, &pc256);
    fprintf(stderr,
            "  targets: entries/commit at q256 %.0f (>= 100): %s; "
            "q1 %.0f >= fdatasync/3 %.0f: %s\n",
            pc256, pc256 >= 100 ? "met" : "MISSED", q1, fds / 3,
            q1 >= fds / 3 ? "met" : "MISSED");
    printf("{\"append_per_s_q1\": %.0f, \"append_per_s_q16\": %.0f, "
           "\"append_per_s_q256\": %.0f, \"entries_per_fsync_q256\": %.1f, "
           "\"fdatasync_per_s\": %.0f, \"sim_steps_per_s\": %.0f, "
           "\"sim_virtual_speedup\": %.1f, \"entry_bytes\": %u, "
           "\"seconds_per_phase\": %.1f}\n",
           q1, q16, q256, pc256, fds, sim_steps, sim_speedup, ENTRY_BYTES,
           seconds);
    return 0;
}

/* ---- Aging ----------------------------------------------------------------
 */

typedef struct aging_opts
{
    uint64_t cycles;
    uint32_t batch;
    uint64_t window;
    bool sync;
    uint32_t max_entry_bytes; /* entries are 64..max bytes, uniform */
} aging_opts;

static void space_print(const char *when, uint64_t cycle,
                        const rz_logstore_space *s)
{
    fprintf(stderr,
            "  %-6s cycle %10llu: file %8.1f MiB, pages used %8llu, entry "
            "pages %6llu (overflow %llu), free pages %6llu in %llu "
            "records, %llu entries\n",
            when, (unsigned long long)cycle,
            (double)s->file_bytes / (1024.0 * 1024.0),
            (unsigned long long)s->pages_used,
            (unsigned long long)s->entry_pages,
            (unsigned long long)s->overflow_pages,
            (unsigned long long)s->free_pages,
            (unsigned long long)s->freelist_records,
            (unsigned long long)s->entries);
}

static int aging(const char *dir, const aging_opts *a)
{
    char err[RZ_ERRMSG_BYTES];
    rz_logstore_options o = {.map_size_bytes = BENCH_MAP_BYTES,
                             .unsafe_no_sync = !a->sync};
    rz_logstore *ls = NULL;
    rz_log_entry *e = calloc(a->batch, sizeof *e);
    uint8_t *data = malloc(a->max_entry_bytes);
    int rv = e != NULL && data != NULL ? 0 : RZ_ENOMEM;
    if (rv == 0) {
        rv = rz_logstore_open(dir, &o, &ls, err);
        if (rv != 0) {
            fprintf(stderr, "bench log: %s\n", err);
        }
    }
    if (rv != 0) {
        free(e);
        free(data);
        return rv;
    }
    for (size_t i = 0; i < a->max_entry_bytes; i++) {
        data[i] = (uint8_t)(i * 7);
    }
    fprintf(stderr,
            "bench log: aging %llu cycles (append %u entries of 64..%u "
            "bytes, then snapshot_put with trailing %llu), %s, in %s\n",
            (unsigned long long)a->cycles, a->batch, a->max_entry_bytes,
            (unsigned long long)a->window, a->sync ? "synced" : "no fsync",
            dir);
    rz_logstore_space before, after;
    memset(&before, 0, sizeof before);
    /* Warm-up: until the trailing window is full the log only grows. */
    uint64_t warm = 4 * (a->window / a->batch + 1);
    uint64_t rng = 88172645463325252ull;
    uint64_t next = 1;
    uint64_t t0 = rz_mono_ns();
    uint64_t t_warm = t0;
    uint64_t report_every = a->cycles / 10 > 0 ? a->cycles / 10 : 1;
    for (uint64_t c = 0; c < warm + a->cycles && rv == 0; c++) {
        if (c == warm) {
            rv = rz_logstore_space_get(ls, &before);
            space_print("before", 0, &before);
            t_warm = rz_mono_ns();
        }
        for (uint32_t i = 0; i < a->batch; i++) {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            /* Command-sized entries; by default up to about half a page,
             * where LMDB starts to put values in overflow pages. */
            e[i] = (rz_log_entry){
                1, 1, data, 64 + (size_t)(rng % (a->max_entry_bytes - 63))};
        }
        if (rv == 0) {
            rv = rz_logstore_append(ls, next, e, a->batch);
        }
        next += a->batch;
        if (rv == 0) {
            rz_log_snapshot s;
            memset(&s, 0, sizeof s);
            s.index = next - 1;
            s.term = 1;
            s.conf_index = 1;
            s.conf = data;
            s.conf_len = 64;
            rv = rz_logstore_snapshot_put(ls, &s, a->window);
        }
        if (rv == 0 && c >= warm && (c - warm + 1) % report_every == 0) {
            rz_logstore_space sp;
            rv = rz_logstore_space_get(ls, &sp);
            space_print("", c - warm + 1, &sp);
        }
    }
    if (rv != 0) {
        fprintf(stderr, "bench log: aging failed: %s (%s)\n", rz_strerror(rv),
                rz_logstore_errmsg(ls));
    }
    if (rv == 0) {
        rv = rz_logstore_space_get(ls, &after);
    }
    uint64_t ns = rz_mono_ns() - t_warm;
    rz_logstore_close(ls);
    rm_store(dir);
    free(e);
    free(data);
    if (rv != 0) {
        return rv;
    }
    space_print("after", a->cycles, &after);
    printf("{\"aging_cycles\": %llu, \"aging_batch\": %u, "
           "\"aging_window\": %llu, \"aging_max_entry_bytes\": %u, "
           "\"aging_synced\": %s, "
           "\"aging_cycles_per_s\": %.0f, "
           "\"aging_file_bytes_before\": %llu, "
           "\"aging_file_bytes_after\": %llu, "
           "\"aging_pages_used_before\": %llu, "
           "\"aging_pages_used_after\": %llu, "
           "\"aging_entry_pages_before\": %llu, "
           "\"aging_entry_pages_after\": %llu, "
           "\"aging_overflow_pages_after\": %llu, "
           "\"aging_free_pages_before\": %llu, "
           "\"aging_free_pages_after\": %llu, "
           "\"aging_freelist_records_before\": %llu, "
           "\"aging_freelist_records_after\": %llu}\n",
           (unsigned long long)a->cycles, a->batch,
           (unsigned long long)a->window, a->max_entry_bytes,
           a->sync ? "true" : "false", (double)a->cycles * 1e9 / (double)ns,
           (unsigned long long)before.file_bytes,
           (unsigned long long)after.file_bytes,
           (unsigned long long)before.pages_used,
           (unsigned long long)after.pages_used,
           (unsigned long long)before.entry_pages,
           (unsigned long long)after.entry_pages,
           (unsigned long long)after.overflow_pages,
           (unsigned long long)before.free_pages,
           (unsigned long long)after.free_pages,
           (unsigned long long)before.freelist_records,
           (unsigned long long)after.freelist_records);
    return 0;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: ratusz-bench log [--dir DIR] [--seconds N]\n"
            "       ratusz-bench log --aging CYCLES [--batch N] [--window N]\n"
            "                        [--max-entry-bytes N] [--aging-sync]\n"
            "                        [--dir DIR]\n"
            "  Data go to a fresh directory under DIR (default: the working\n"
            "  directory, so the disk under test is the one you run on).\n"
            "  --seconds: per phase (default 2; three phases plus the\n"
            "  baseline, which alternates with depth 1).\n"
            "  --aging: append/compact cycles instead (batch 1, window "
            "1024).\n");
}

int rz_bench_log(int argc, char **argv)
{
    const char *base = ".";
    double seconds = 2;
    aging_opts a = {0, 1, 1024, false, 2047};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0) {
            usage();
            return 0;
        }
        if (strcmp(argv[i], "--aging-sync") == 0) {
            a.sync = true;
            continue;
        }
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v == NULL) {
            usage();
            return 2;
        }
        if (strcmp(argv[i], "--dir") == 0) {
            base = v;
        } else if (strcmp(argv[i], "--seconds") == 0) {
            seconds = strtod(v, NULL);
        } else if (strcmp(argv[i], "--aging") == 0) {
            a.cycles = strtoull(v, NULL, 10);
        } else if (strcmp(argv[i], "--batch") == 0) {
            a.batch = (uint32_t)strtoul(v, NULL, 10);
        } else if (strcmp(argv[i], "--max-entry-bytes") == 0) {
            a.max_entry_bytes = (uint32_t)strtoul(v, NULL, 10);
        } else if (strcmp(argv[i], "--window") == 0) {
            a.window = strtoull(v, NULL, 10);
        } else {
            usage();
            return 2;
        }
        i++;
    }
    if (!(seconds > 0 && seconds <= 3600) || a.batch == 0 ||
        a.max_entry_bytes < 64 || a.max_entry_bytes > (1u << 20) ||
        a.batch > RZ_LOG_APPEND_MAX_ENTRIES) {
        usage();
        return 2;
    }
    if (rz_crypto_init() != 0) {
        return 1;
    }
    char dir[512];
    snprintf(dir, sizeof dir, "%s/rz-bench-log-XXXXXX", base);
    if (mkdtemp(dir) == NULL) {
        fprintf(stderr, "bench log: cannot create a directory under %s: %s\n",
                base, strerror(errno));
        return 1;
    }
    int rv;
    if (a.cycles > 0) {
        rv = aging(dir, &a);
    } else {
        fprintf(stderr, "bench log: %.1f s per phase in %s\n", seconds, dir);
        rv = throughput(dir, seconds);
    }
    rmdir(dir);
    if (rv != 0) {
        fprintf(stderr, "bench log: %s\n", rz_strerror(rv));
        return 1;
    }
    return 0;
}
