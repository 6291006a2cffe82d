/* Integration test: group commits survive kill -9 (label integration).
 *
 * Each round a child process reopens the log, sets a new term and keeps a
 * few dozen appends queued through the writer (plus an occasional
 * compaction). Before queueing it records "announced up to i" and, in each
 * completion, "acknowledged up to i" in an ack file (write(2) of one
 * 16-byte record; it survives the kill in the page cache). The parent
 * kill -9s the child at a random moment, reopens the store and checks:
 *   - it opens and loads cleanly (every record validated);
 *   - every acknowledged entry is there, with the term it was written in;
 *   - nothing past the last announced index exists;
 *   - every entry's bytes are exactly what was submitted for its index.
 * A process kill leaves the kernel's page cache intact, so this checks the
 * store's own crash consistency (txn atomicity, ordering of acks after
 * commits), not power loss; LMDB's full sync covers that part. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"

#define ROUNDS 10
#define IN_FLIGHT 24
#define MAX_ENTRIES_PER_REQ 4
#define COMPACT_EVERY 50 /* completions */
#define TRAILING 100
#define MAX_INDEX 2000000u

/* REC_TERM: set_term(index) returned (the term must be on disk). */
enum { REC_ANNOUNCE = 1, REC_ACK = 2, REC_TERM = 3 };

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "%s:%d: check failed: %s (seed %u)\n", __FILE__, \
                    __LINE__, #cond, seed);                                  \
            exit(1);                                                         \
        }                                                                    \
    } while (0)

static unsigned seed;

/* ---- Child ----------------------------------------------------------------
 */

typedef struct creq
{
    rz_log_req req;
    rz_log_entry entries[MAX_ENTRIES_PER_REQ];
    uint8_t bufs[MAX_ENTRIES_PER_REQ][600];
    int is_snapshot;
} creq;

typedef struct child
{
    rz_log_writer *w;
    int ack_fd;
    uint64_t term;
    uint64_t next_index;  /* next index to queue */
    uint64_t round_first; /* first index written in this round */
    uint64_t acked;
    unsigned completions;
    unsigned rng;
    creq reqs[IN_FLIGHT + 1];
} child;

static void record(int fd, uint64_t kind, uint64_t index)
{
    uint8_t rec[16];
    rz_put_be64(rec, kind);
    rz_put_be64(rec + 8, index);
    if (write(fd, rec, sizeof rec) != (ssize_t)sizeof rec) {
        _exit(3);
    }
}

static void on_child_done(rz_log_req *req, int status);

static void queue_append(child *c, creq *r)
{
    size_t n = 1 + (size_t)(rand_r(&c->rng) % MAX_ENTRIES_PER_REQ);
    for (size_t i = 0; i < n; i++) {
        uint64_t index = c->next_index + i;
        size_t len = payload_len(index);
        payload_fill(r->bufs[i], len, index, c->term);
        r->entries[i] = (rz_log_entry){c->term, 1, r->bufs[i], len};
    }
    r->is_snapshot = 0;
    r->req.data = c;
    record(c->ack_fd, REC_ANNOUNCE, c->next_index + n - 1);
    if (rz_log_writer_append(c->w, &r->req, c->next_index, r->entries, n,
                             on_child_done) != 0) {
        _exit(4);
    }
    c->next_index += n;
}

static void on_child_done(rz_log_req *req, int status)
{
    creq *r = (creq *)req;
    child *c = req->data;
    if (status != 0) {
        _exit(5);
    }
    if (!r->is_snapshot) {
        /* Completions come in FIFO order, so this is a new high mark. */
        uint64_t last = req->index + req->n - 1;
        if (last <= c->acked) {
            _exit(6);
        }
        c->acked = last;
        record(c->ack_fd, REC_ACK, last);
    }
    c->completions++;
    if (c->completions % COMPACT_EVERY == 0 && c->acked >= c->round_first) {
        /* Compact up to an index written in this round (its term is ours);
         * the spare request slot is free: one snapshot at a time. */
        creq *s = &c->reqs[IN_FLIGHT];
        if (!s->is_snapshot) {
            rz_log_snapshot snap;
            memset(&snap, 0, sizeof snap);
            snap.index = c->acked;
            snap.term = c->term;
            snap.conf_index = 1;
            snap.conf = "conf";
            snap.conf_len = 4;
            s->is_snapshot = 1;
            s->req.data = c;
            if (rz_log_writer_snapshot_put(c->w, &s->req, &snap, TRAILING,
                                           on_child_done) != 0) {
                _exit(7);
            }
        }
    }
    if (r->is_snapshot) {
        r->is_snapshot = 0;
        return;
    }
    if (c->next_index < MAX_INDEX) {
        queue_append(c, r);
    }
}

static void child_main(const char *dir, int round)
{
    char errmsg[RZ_ERRMSG_BYTES];
    char path[192];
    static child c;
    rz_logstore *ls = NULL;
    rz_log_state st;
    uv_loop_t loop;
    if (rz_crypto_init() != 0 ||
        rz_logstore_open(dir, NULL, &ls, errmsg) != 0 ||
        rz_logstore_load(ls, &st) != 0) {
        _exit(10);
    }
    c.term = (uint64_t)round + 1;
    snprintf(path, sizeof path, "%s/acks", dir);
    c.ack_fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0600);
    if (c.ack_fd < 0) {
        _exit(12);
    }
    if (rz_logstore_set_term(ls, c.term) != 0) {
        _exit(11);
    }
    record(c.ack_fd, REC_TERM, c.term);
    if (uv_loop_init(&loop) != 0 ||
        rz_log_writer_create(&loop, ls, &c.w) != 0) {
        _exit(12);
    }
    c.next_index = st.last_index + 1;
    c.round_first = c.next_index;
    c.acked = st.last_index;
    c.rng = seed + (unsigned)round;
    for (int i = 0; i < IN_FLIGHT; i++) {
        queue_append(&c, &c.reqs[i]);
    }
    uv_run(&loop, UV_RUN_DEFAULT); /* until killed */
    _exit(13);
}

/* ---- Parent ----------------------------------------------------------------
 */

typedef struct history
{
    uint64_t announced; /* highest index ever announced */
    uint64_t acked;     /* highest index ever acknowledged */
    uint64_t term_set;  /* highest term a child's set_term returned */
    uint64_t *term_of;  /* term each acknowledged index was written in */
} history;

/* Reads the ack records the child of `round` wrote after `offset`. */
static void read_acks(const char *dir, off_t *offset, history *h, int round,
                      uint64_t round_first)
{
    char path[192];
    uint8_t rec[16];
    snprintf(path, sizeof path, "%s/acks", dir);
    int fd = open(path, O_RDONLY);
    if (fd < 0 && errno == ENOENT) {
        return; /* killed before it opened the file */
    }
    CHECK(fd >= 0);
    CHECK(lseek(fd, *offset, SEEK_SET) == *offset);
    for (;;) {
        ssize_t n = read(fd, rec, sizeof rec);
        if (n == 0) {
            break;
        }
        CHECK(n == (ssize_t)sizeof rec);
        *offset += n;
        uint64_t kind = rz_get_be64(rec);
        uint64_t index = rz_get_be64(rec + 8);
        CHECK(index < MAX_INDEX + MAX_ENTRIES_PER_REQ);
        if (kind == REC_ANNOUNCE) {
            if (index > h->announced) {
                h->announced = index;
            }
        } else if (kind == REC_TERM) {
            if (index > h->term_set) {
                h->term_set = index;
            }
        } else {
            CHECK(kind == REC_ACK);
            CHECK(index <= h->announced);
            /* Acks come in FIFO order: everything from the previous high
             * mark (or this round's start) up to index is acknowledged. */
            uint64_t from =
                h->acked + 1 > round_first ? h->acked + 1 : round_first;
            for (uint64_t i = from; i <= index; i++) {
                if (h->term_of[i] == 0) {
                    h->term_of[i] = (uint64_t)round + 1;
                }
            }
            if (index > h->acked) {
                h->acked = index;
            }
        }
    }
    close(fd);
}

static uint64_t verify(const char *dir, history *h, int round)
{
    char errmsg[RZ_ERRMSG_BYTES];
    rz_logstore *ls = NULL;
    rz_log_state st;
    int rv = rz_logstore_open(dir, NULL, &ls, errmsg);
    if (rv != 0) {
        fprintf(stderr, "open: %s\n", errmsg);
    }
    CHECK(rv == 0);
    rv = rz_logstore_load(ls, &st);
    if (rv != 0) {
        fprintf(stderr, "load: %s\n", rz_logstore_errmsg(ls));
    }
    CHECK(rv == 0);
    /* Every term whose set_term returned is on disk (a child killed under
     * load may die before its set_term, even two in a row); never a term
     * from nowhere. */
    if (st.term < h->term_set || st.term > (uint64_t)round + 1) {
        fprintf(stderr, "round %d: term on disk %llu, set %llu\n", round,
                (unsigned long long)st.term, (unsigned long long)h->term_set);
    }
    CHECK(st.term >= h->term_set && st.term <= (uint64_t)round + 1);
    CHECK(st.last_index >= h->acked);     /* every ack is on disk */
    CHECK(st.last_index <= h->announced); /* nothing unannounced */
    for (uint64_t i = st.first_index; i <= st.last_index; i++) {
        rz_log_entry e;
        CHECK(rz_logstore_get(ls, i, &e) == 0);
        CHECK(e.term >= 1 && e.term <= st.term);
        CHECK(payload_ok(&e, i, e.term)); /* exactly what was submitted */
        /* Acknowledged entries, and unacknowledged ones a previous round
         * left on disk, never change: the child only appends after them. */
        if (h->term_of[i] != 0) {
            CHECK(h->term_of[i] == e.term);
        } else {
            CHECK(i > h->acked);
            h->term_of[i] = e.term;
        }
    }
    uint64_t last = st.last_index;
    rz_logstore_close(ls);
    return last;
}

int main(int argc, char **argv)
{
    char dir[128];
    seed = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10)
                    : (unsigned)time(NULL) ^ (unsigned)getpid();
    fprintf(stderr, "test_consensus_log_crash: seed %u\n", seed);
    CHECK(rz_crypto_init() == 0);
    tdir_make(dir, "logcrash");
    /* Left behind on failure, for a look with mdb_dump. */
    fprintf(stderr, "test_consensus_log_crash: dir %s\n", dir);
    history h = {0, 0, 0, calloc(MAX_INDEX + 8, sizeof(uint64_t))};
    CHECK(h.term_of != NULL);
    off_t offset = 0;
    unsigned rng = seed;
    uint64_t last = 0;
    for (int round = 0; round < ROUNDS; round++) {
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) {
            /* Never outlive the parent (a ctest timeout kills only it). */
            if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() == 1) {
                _exit(2);
            }
            child_main(dir, round);
        }
        /* Kill at a random moment: early rounds sometimes before the child
         * got far, later ones after many group commits. */
        useconds_t delay =
            (useconds_t)((unsigned)rand_r(&rng) % 300000u) + 1000u;
        usleep(delay);
        CHECK(kill(pid, SIGKILL) == 0);
        int status = 0;
        CHECK(waitpid(pid, &status, 0) == pid);
        if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)) {
            fprintf(stderr, "child exited with status %d\n",
                    WIFEXITED(status) ? WEXITSTATUS(status) : -1);
            CHECK(0);
        }
        read_acks(dir, &offset, &h, round, last + 1);
        uint64_t now = verify(dir, &h, round);
        fprintf(stderr,
                "round %d: killed after %u ms, log ends at %llu, acked "
                "%llu, announced %llu\n",
                round, (unsigned)(delay / 1000), (unsigned long long)now,
                (unsigned long long)h.acked, (unsigned long long)h.announced);
        /* Indexes above the surviving log may be reused next round with a
         * new term: forget what was announced but never stored. */
        CHECK(now >= last);
        last = now;
        h.announced = now;
    }
    CHECK(h.acked > 0);
    free(h.term_of);
    tdir_remove(dir);
    fprintf(stderr, "test_consensus_log_crash: ok\n");
    return 0;
}
