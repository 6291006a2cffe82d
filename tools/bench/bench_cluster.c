/* ratusz-bench cluster: creates and linearizable gets against a three-node
 * ratusz cluster on 127.0.0.1 (started here, or named with --endpoints), and
 * with --vs-etcd the same load shape against a three-node etcd (Debian
 * etcd-server) started in the same run, so the ratios compare two systems
 * measured on the same machine at the same moment.
 *
 * Load shape: for 1, 16 and 64 concurrent clients (threads), each creates
 * cases with ~500-byte descriptions back to back for --seconds (ratusz: one
 * libratusz handle shared by all threads, as a front-end server would; etcd:
 * one keep-alive HTTP connection per thread to its JSON gateway, a put of
 * the same size); then 64 clients read what was written with linearizable
 * reads (ratusz: case get without history; etcd: range, which is
 * linearizable by default). Every operation's latency is kept; p50/p99 are
 * exact. */
#include "bench.h"

#include "client/ratusz.h"
#include "common/common.h"
#include "common/secure.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NODES 3
#define MAX_CLIENTS 64
#define DESC_BYTES 500
#define FAR_FUTURE_MS 4102444800000ull

static const int client_counts[] = {1, 16, 64};
#define N_PHASES 3

/* ---- Latency samples ---------------------------------------------------- */

typedef struct samples
{
    uint64_t *ns;
    size_t n, cap;
    uint64_t errors;
} samples;

static void samples_add(samples *s, uint64_t ns)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 4096;
        uint64_t *p = realloc(s->ns, cap * sizeof *p);
        RZ_ASSERT(p != NULL);
        s->ns = p;
        s->cap = cap;
    }
    s->ns[s->n++] = ns;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

typedef struct phase_result
{
    double per_s, p50_ms, p99_ms;
    uint64_t ops, errors;
} phase_result;

static void summarize(samples *all, double seconds, phase_result *out)
{
    out->ops = all->n;
    out->errors = all->errors;
    out->per_s = seconds > 0 ? (double)all->n / seconds : 0;
    out->p50_ms = out->p99_ms = 0;
    if (all->n > 0) {
        qsort(all->ns, all->n, sizeof all->ns[0], cmp_u64);
        out->p50_ms = (double)all->ns[all->n / 2] / 1e6;
        out->p99_ms = (double)all->ns[(all->n * 99) / 100] / 1e6;
    }
}

/* ---- A system under test ------------------------------------------------ */

typedef struct driver driver;
struct driver
{
    const char *name;
    /* Per-thread connection state (NULL on failure). */
    void *(*thread_open)(driver *d, int tid);
    void (*thread_close)(driver *d, void *conn);
    /* One write with payload desc; on success stores a key for reads. */
    int (*write)(driver *d, void *conn, int tid, uint64_t seq,
                 const char *desc);
    /* One linearizable read of a random earlier write. */
    int (*read)(driver *d, void *conn, uint64_t rnd);
    void *data;
};

/* Keys written in a run, for the read phase (ids for ratusz, sequence
 * pairs for etcd). */
typedef struct written
{
    pthread_mutex_t mu;
    uint64_t *keys;
    size_t n, cap;
} written;

static void written_add(written *w, uint64_t key)
{
    pthread_mutex_lock(&w->mu);
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 4096;
        uint64_t *p = realloc(w->keys, cap * sizeof *p);
        RZ_ASSERT(p != NULL);
        w->keys = p;
        w->cap = cap;
    }
    w->keys[w->n++] = key;
    pthread_mutex_unlock(&w->mu);
}

static uint64_t written_pick(written *w, uint64_t rnd)
{
    uint64_t k = 0;
    pthread_mutex_lock(&w->mu);
    if (w->n > 0) {
        k = w->keys[rnd % w->n];
    }
    pthread_mutex_unlock(&w->mu);
    return k;
}

typedef struct worker
{
    driver *d;
    int tid;
    bool reads;
    uint64_t stop_ns;
    samples s;
    pthread_t th;
} worker;

static void *worker_main(void *arg)
{
    worker *w = arg;
    char desc[DESC_BYTES + 1];
    void *conn = w->d->thread_open(w->d, w->tid);
    uint64_t seq = 0;
    uint64_t rnd = 0x9e3779b97f4a7c15ull * ((uint64_t)w->tid + 1u);
    if (conn == NULL) {
        w->s.errors++;
        return NULL;
    }
    memset(desc, 'x', DESC_BYTES);
    desc[DESC_BYTES] = 0;
    while (rz_mono_ns() < w->stop_ns) {
        uint64_t t0 = rz_mono_ns();
        int rv;
        if (w->reads) {
            rnd ^= rnd << 13;
            rnd ^= rnd >> 7;
            rnd ^= rnd << 17;
            rv = w->d->read(w->d, conn, rnd);
        } else {
            int k = snprintf(desc, sizeof desc, "bench t%d s%llu ", w->tid,
                             (unsigned long long)seq);
            desc[k] = 'x';
            rv = w->d->write(w->d, conn, w->tid, seq, desc);
            seq++;
        }
        if (rv == 0) {
            samples_add(&w->s, rz_mono_ns() - t0);
        } else {
            w->s.errors++;
        }
    }
    w->d->thread_close(w->d, conn);
    return NULL;
}

static void run_phase(driver *d, int clients, bool reads, double seconds,
                      phase_result *out)
{
    worker *ws = calloc((size_t)clients, sizeof *ws);
    samples all = {0};
    uint64_t t0 = rz_mono_ns();
    double took;
    RZ_ASSERT(ws != NULL);
    for (int i = 0; i < clients; i++) {
        ws[i].d = d;
        ws[i].tid = i;
        ws[i].reads = reads;
        ws[i].stop_ns = t0 + (uint64_t)(seconds * 1e9);
        RZ_ASSERT(pthread_create(&ws[i].th, NULL, worker_main, &ws[i]) == 0);
    }
    for (int i = 0; i < clients; i++) {
        pthread_join(ws[i].th, NULL);
        for (size_t k = 0; k < ws[i].s.n; k++) {
            samples_add(&all, ws[i].s.ns[k]);
        }
        all.errors += ws[i].s.errors;
        free(ws[i].s.ns);
    }
    took = (double)(rz_mono_ns() - t0) / 1e9;
    summarize(&all, took, out);
    free(all.ns);
    free(ws);
    fprintf(stderr,
            "  %-6s %-6s %2d clients: %8.0f/s  p50 %7.2f ms  p99 %7.2f ms  "
            "(%llu ops, %llu errors)\n",
            d->name, reads ? "get" : "create", clients, out->per_s, out->p50_ms,
            out->p99_ms, (unsigned long long)out->ops,
            (unsigned long long)out->errors);
}

/* ---- Processes ---------------------------------------------------------- */

typedef struct procs
{
    pid_t pid[NODES];
    int n;
} procs;

static void procs_stop(procs *p)
{
    for (int i = 0; i < p->n; i++) {
        if (p->pid[i] > 0) {
            kill(p->pid[i], SIGTERM);
        }
    }
    for (int i = 0; i < p->n; i++) {
        if (p->pid[i] > 0) {
            int st;
            uint64_t until = rz_mono_ms() + 10000;
            while (waitpid(p->pid[i], &st, WNOHANG) == 0) {
                if (rz_mono_ms() > until) {
                    kill(p->pid[i], SIGKILL);
                    waitpid(p->pid[i], &st, 0);
                    break;
                }
                usleep(20000);
            }
            p->pid[i] = 0;
        }
    }
    p->n = 0;
}

/* Starts argv with stdout/stderr to logpath; the child dies with us. */
static pid_t spawn(const char *const argv[], const char *logpath)
{
    pid_t pid = fork();
    if (pid == 0) {
        /* execv wants mutable strings: copies, in the child only. */
        char *v[32];
        size_t n = 0;
        while (argv[n] != NULL && n + 1 < RZ_ARRAY_LEN(v)) {
            v[n] = strdup(argv[n]);
            n++;
        }
        v[n] = NULL;
        int fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        execv(v[0], v);
        _exit(127);
    }
    return pid;
}

static int rm_rf(const char *dir)
{
    char cmd[PATH_MAX + 32];
    if (dir[0] == 0 || strcmp(dir, "/") == 0) {
        return -1;
    }
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd);
}

/* ---- etcd over its HTTP/JSON gateway ------------------------------------ */

typedef struct etcd_conn
{
    int fd;
    char buf[16384];
} etcd_conn;

static written etcd_written = {PTHREAD_MUTEX_INITIALIZER, NULL, 0, 0};
static int etcd_port;

static int tcp_connect(int port)
{
    struct sockaddr_in a;
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    if (fd < 0) {
        return -1;
    }
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static void *etcd_open(driver *d, int tid)
{
    etcd_conn *c = calloc(1, sizeof *c);
    (void)d;
    (void)tid;
    if (c == NULL) {
        return NULL;
    }
    c->fd = tcp_connect(etcd_port);
    if (c->fd < 0) {
        free(c);
        return NULL;
    }
    return c;
}

static void etcd_close(driver *d, void *conn)
{
    etcd_conn *c = conn;
    (void)d;
    close(c->fd);
    free(c);
}

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static size_t base64(const char *in, size_t n, char *out)
{
    size_t o = 0, i;
    for (i = 0; i + 2 < n; i += 3) {
        unsigned v = ((unsigned)(uint8_t)in[i] << 16) |
                     ((unsigned)(uint8_t)in[i + 1] << 8) | (uint8_t)in[i + 2];
        out[o++] = b64[(v >> 18) & 63];
        out[o++] = b64[(v >> 12) & 63];
        out[o++] = b64[(v >> 6) & 63];
        out[o++] = b64[v & 63];
    }
    if (i < n) {
        unsigned v = (unsigned)(uint8_t)in[i] << 16;
        if (i + 1 < n) {
            v |= (unsigned)(uint8_t)in[i + 1] << 8;
        }
        out[o++] = b64[(v >> 18) & 63];
        out[o++] = b64[(v >> 12) & 63];
        out[o++] = i + 1 < n ? b64[(v >> 6) & 63] : '=';
        out[o++] = '=';
    }
    out[o] = 0;
    return o;
}

/* One POST with a JSON body on the keep-alive connection; 0 on HTTP 200. */
static int etcd_post(etcd_conn *c, const char *path, const char *body)
{
    char head[256];
    size_t blen = strlen(body), got = 0, need = 0;
    int hl = snprintf(head, sizeof head,
                      "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                      "Content-Type: application/json\r\n"
                      "Content-Length: %zu\r\n\r\n",
                      path, blen);
    if (write(c->fd, head, (size_t)hl) != hl ||
        write(c->fd, body, blen) != (ssize_t)blen) {
        return -1;
    }
    for (;;) {
        ssize_t r = read(c->fd, c->buf + got, sizeof c->buf - 1 - got);
        char *end, *cl;
        if (r <= 0) {
            return -1;
        }
        got += (size_t)r;
        c->buf[got] = 0;
        end = strstr(c->buf, "\r\n\r\n");
        if (end == NULL) {
            continue;
        }
        cl = strcasestr(c->buf, "content-length:");
        if (cl == NULL || cl > end) {
            return -1; /* the gateway always sends a length */
        }
        need = (size_t)(end + 4 - c->buf) + strtoul(cl + 15, NULL, 10);
        if (need >= sizeof c->buf) {
            return -1;
        }
        if (got >= need) {
            break;
        }
    }
    return strncmp(c->buf, "HTTP/1.1 200", 12) == 0 ? 0 : -1;
}

static int etcd_write(driver *d, void *conn, int tid, uint64_t seq,
                      const char *desc)
{
    char key[64], kb[96], vb[700], body[1024];
    (void)d;
    snprintf(key, sizeof key, "case/%d/%llu", tid, (unsigned long long)seq);
    base64(key, strlen(key), kb);
    base64(desc, strlen(desc), vb);
    snprintf(body, sizeof body, "{\"key\":\"%s\",\"value\":\"%s\"}", kb, vb);
    if (etcd_post(conn, "/v3/kv/put", body) != 0) {
        return -1;
    }
    written_add(&etcd_written, ((uint64_t)tid << 40) | seq);
    return 0;
}

static int etcd_read(driver *d, void *conn, uint64_t rnd)
{
    uint64_t k = written_pick(&etcd_written, rnd);
    char key[64], kb[96], body[160];
    (void)d;
    snprintf(key, sizeof key, "case/%llu/%llu", (unsigned long long)(k >> 40),
             (unsigned long long)(k & ((1ull << 40) - 1)));
    base64(key, strlen(key), kb);
    snprintf(body, sizeof body, "{\"key\":\"%s\"}", kb);
    return etcd_post(conn, "/v3/kv/range", body);
}

static int etcd_start(const char *dir, int base, procs *p)
{
    char cluster[512], name[NODES][16], data[NODES][PATH_MAX], peer[NODES][64],
        client[NODES][64], log[PATH_MAX];
    int n = 0;
    for (int i = 0; i < NODES; i++) {
        snprintf(name[i], sizeof name[i], "e%d", i + 1);
        snprintf(peer[i], sizeof peer[i], "http://127.0.0.1:%d",
                 base + 100 + i);
        snprintf(client[i], sizeof client[i], "http://127.0.0.1:%d", base + i);
        if (snprintf(data[i], sizeof data[i], "%s/e%d", dir, i + 1) >=
            (int)sizeof data[i]) {
            return -1;
        }
        n += snprintf(cluster + n, sizeof cluster - (size_t)n, "%s%s=%s",
                      i ? "," : "", name[i], peer[i]);
    }
    for (int i = 0; i < NODES; i++) {
        const char *argv[] = {"/usr/bin/etcd", "--name",
                              name[i],         "--data-dir",
                              data[i],         "--listen-peer-urls",
                              peer[i],         "--initial-advertise-peer-urls",
                              peer[i],         "--listen-client-urls",
                              client[i],       "--advertise-client-urls",
                              client[i],       "--initial-cluster",
                              cluster,         "--initial-cluster-state",
                              "new",           "--initial-cluster-token",
                              "ratusz-bench",  "--log-level",
                              "warn",          NULL};
        if (snprintf(log, sizeof log, "%s/e%d.log", dir, i + 1) >=
            (int)sizeof log) {
            return -1;
        }
        p->pid[i] = spawn(argv, log);
        p->n = i + 1;
    }
    etcd_port = base;
    /* Ready when a put succeeds. */
    for (int tries = 0; tries < 300; tries++) {
        etcd_conn *c = etcd_open(NULL, 0);
        if (c != NULL) {
            int rv = etcd_post(c, "/v3/kv/put",
                               "{\"key\":\"cmVhZHk=\",\"value\":\"MQ==\"}");
            etcd_close(NULL, c);
            if (rv == 0) {
                return 0;
            }
        }
        usleep(100000);
    }
    return -1;
}

/* ---- ratusz ------------------------------------------------------------- */

static written rz_written = {PTHREAD_MUTEX_INITIALIZER, NULL, 0, 0};

/* Creates the cluster key, three node identities and a client identity in
 * dir, writes nothing else; returns the client identity path in id_path. */
static int ratusz_keys(const char *dir, char *id_path, size_t id_size)
{
    rz_cluster_key key;
    char path[PATH_MAX], errmsg[RZ_ERRMSG_BYTES];
    int rv = 0;
    rz_cluster_key_generate(&key);
    for (int i = 0; i <= NODES && rv == 0; i++) {
        rz_identity id;
        if (i < NODES) {
            char name[16];
            snprintf(name, sizeof name, "n%d", i + 1);
            snprintf(path, sizeof path, "%s/n%d", dir, i + 1);
            mkdir(path, 0700);
            snprintf(path, sizeof path, "%s/n%d/node.identity", dir, i + 1);
            rv = rz_identity_issue(&key, RZ_ROLE_NODE, name, (uint64_t)i + 1,
                                   FAR_FUTURE_MS, &id, errmsg);
        } else {
            snprintf(path, sizeof path, "%s/agent.identity", dir);
            rv = rz_identity_issue(&key, RZ_ROLE_AGENT, "bench", 0,
                                   FAR_FUTURE_MS, &id, errmsg);
            snprintf(id_path, id_size, "%s", path);
        }
        if (rv == 0) {
            rv = rz_identity_write(path, &id, errmsg);
        }
        rz_identity_wipe(&id);
    }
    rz_cluster_key_wipe(&key);
    if (rv != 0) {
        fprintf(stderr, "bench cluster: %s\n", errmsg);
    }
    return rv;
}

static int ratusz_start(const char *ratuszd, const char *dir, int base,
                        procs *p, char *endpoints, size_t ep_size,
                        char *id_path, size_t id_size)
{
    char members[512], data[PATH_MAX], id[16], client[64], peer[64],
        log[PATH_MAX];
    int n = 0, e = 0;
    if (ratusz_keys(dir, id_path, id_size) != 0) {
        return -1;
    }
    for (int i = 0; i < NODES; i++) {
        n += snprintf(members + n, sizeof members - (size_t)n,
                      "%s%d=127.0.0.1:%d/127.0.0.1:%d", i ? "," : "", i + 1,
                      base + 100 + i, base + i);
        e += snprintf(endpoints + e, ep_size - (size_t)e, "%s127.0.0.1:%d",
                      i ? "," : "", base + i);
    }
    for (int i = 0; i < NODES; i++) {
        snprintf(id, sizeof id, "%d", i + 1);
        snprintf(data, sizeof data, "%s/n%d", dir, i + 1);
        snprintf(client, sizeof client, "127.0.0.1:%d", base + i);
        snprintf(peer, sizeof peer, "127.0.0.1:%d", base + 100 + i);
        const char *argv[] = {ratuszd, "--node.id",
                              id,      "--node.data_dir",
                              data,    "--node.client_listen",
                              client,  "--node.peer_listen",
                              peer,    "--node.metrics_listen",
                              "off",   "--cluster.members",
                              members, NULL};
        snprintf(log, sizeof log, "%s/n%d/ratuszd.log", dir, i + 1);
        p->pid[i] = spawn(argv, log);
        p->n = i + 1;
    }
    return 0;
}

static ratusz *rz_handle;

static void *rzb_open(driver *d, int tid)
{
    (void)d;
    (void)tid;
    return rz_handle; /* one thread-safe handle for every client thread */
}

static void rzb_close(driver *d, void *conn)
{
    (void)d;
    (void)conn;
}

static int rzb_write(driver *d, void *conn, int tid, uint64_t seq,
                     const char *desc)
{
    ratusz_case_new c;
    ratusz_created out;
    int rv;
    (void)d;
    (void)tid;
    (void)seq;
    ratusz_case_new_init(&c);
    c.description = desc;
    rv = ratusz_case_create(conn, NULL, &c, &out);
    if (rv == 0) {
        written_add(&rz_written, out.case_id);
    }
    return rv;
}

static int rzb_read(driver *d, void *conn, uint64_t rnd)
{
    ratusz_case_info *info = NULL;
    uint64_t id = written_pick(&rz_written, rnd);
    int rv;
    (void)d;
    rv = ratusz_case_get(conn, NULL, id, false, &info);
    ratusz_case_info_free(info);
    return rv;
}

/* Waits until a create goes through (a leader serves). */
static int ratusz_wait_ready(ratusz *h)
{
    for (int tries = 0; tries < 60; tries++) {
        ratusz_case_new c;
        ratusz_created out;
        ratusz_case_new_init(&c);
        c.description = "bench warm-up";
        if (ratusz_case_create(h, NULL, &c, &out) == 0) {
            return 0;
        }
        usleep(250000);
    }
    return -1;
}

static void self_dir(char *out, size_t size)
{
    ssize_t n = readlink("/proc/self/exe", out, size - 1);
    char *slash;
    out[n > 0 ? n : 0] = 0;
    slash = strrchr(out, '/');
    if (slash != NULL) {
        *slash = 0;
    }
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: ratusz-bench cluster [--seconds S] [--vs-etcd]\n"
            "                            [--endpoints H:P,... --identity F]\n"
            "                            [--base-port P] [--ratuszd PATH]\n"
            "  Starts a three-node ratusz cluster on 127.0.0.1 (or uses\n"
            "  --endpoints) and measures creates with ~500-byte descriptions\n"
            "  from 1, 16 and 64 clients and linearizable gets from 64;\n"
            "  --vs-etcd runs the same load against a three-node etcd\n"
            "  (Debian etcd-server) started in the same run.\n");
}

static void json_phases(const char *prefix, const phase_result *w,
                        const phase_result *r)
{
    for (int i = 0; i < N_PHASES; i++) {
        printf("\"%screates_per_s_c%d\":%.0f,\"%sp50_ms_c%d\":%.3f,"
               "\"%sp99_ms_c%d\":%.3f,",
               prefix, client_counts[i], w[i].per_s, prefix, client_counts[i],
               w[i].p50_ms, prefix, client_counts[i], w[i].p99_ms);
    }
    printf("\"%sgets_per_s\":%.0f,\"%sgets_p99_ms\":%.3f", prefix, r->per_s,
           prefix, r->p99_ms);
}

int rz_bench_cluster(int argc, char **argv)
{
    double seconds = 3.0;
    bool vs_etcd = false;
    const char *endpoints_arg = NULL, *identity_arg = NULL;
    char ratuszd[PATH_MAX] = "", dir[] = "/tmp/ratusz-bench-XXXXXX";
    char endpoints[256], id_path[PATH_MAX], errmsg[RATUSZ_ERRMSG_BYTES];
    int base = 19800, status = 1;
    procs rp = {{0}, 0}, ep = {{0}, 0};
    phase_result rw[N_PHASES], rr, ew[N_PHASES], er;
    const char *eps[NODES];
    size_t n_eps = 0;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--vs-etcd") == 0) {
            vs_etcd = true;
        } else if (strcmp(a, "--seconds") == 0 && v != NULL) {
            seconds = atof(v);
            i++;
        } else if (strcmp(a, "--endpoints") == 0 && v != NULL) {
            endpoints_arg = v;
            i++;
        } else if (strcmp(a, "--identity") == 0 && v != NULL) {
            identity_arg = v;
            i++;
        } else if (strcmp(a, "--base-port") == 0 && v != NULL) {
            base = atoi(v);
            i++;
        } else if (strcmp(a, "--ratuszd") == 0 && v != NULL) {
            snprintf(ratuszd, sizeof ratuszd, "%s", v);
            i++;
        } else if (strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "bench cluster: unknown or incomplete flag %s\n",
                    a);
            usage(stderr);
            return 2;
        }
    }
    if (seconds <= 0 || seconds > 600 || base < 1024 || base > 65000 ||
        (endpoints_arg != NULL) != (identity_arg != NULL)) {
        fprintf(stderr, "bench cluster: --seconds must be in (0, 600], "
                        "--base-port in 1024..65000, and --endpoints needs "
                        "--identity\n");
        return 2;
    }
    if (vs_etcd && access("/usr/bin/etcd", X_OK) != 0) {
        fprintf(stderr, "bench cluster: --vs-etcd needs Debian's etcd-server "
                        "(apt-get install etcd-server)\n");
        return 2;
    }
    if (mkdtemp(dir) == NULL) {
        perror("bench cluster: mkdtemp");
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    if (endpoints_arg != NULL) {
        snprintf(endpoints, sizeof endpoints, "%s", endpoints_arg);
        snprintf(id_path, sizeof id_path, "%s", identity_arg);
    } else {
        if (ratuszd[0] == 0) {
            self_dir(ratuszd, sizeof ratuszd);
            strncat(ratuszd, "/../node/ratuszd",
                    sizeof ratuszd - strlen(ratuszd) - 1);
        }
        fprintf(stderr, "starting three ratuszd in %s (ports %d..)\n", dir,
                base);
        if (ratusz_start(ratuszd, dir, base, &rp, endpoints, sizeof endpoints,
                         id_path, sizeof id_path) != 0) {
            goto out;
        }
    }
    for (char *p = endpoints; p != NULL && n_eps < NODES;) {
        char *comma = strchr(p, ',');
        eps[n_eps++] = p;
        if (comma != NULL) {
            *comma = 0;
            p = comma + 1;
        } else {
            p = NULL;
        }
    }
    {
        ratusz_options o = {.endpoints = eps,
                            .n_endpoints = n_eps,
                            .identity_path = id_path,
                            .timeout_ms = 10000};
        if (ratusz_open(&o, &rz_handle, errmsg) != 0) {
            fprintf(stderr, "bench cluster: %s\n", errmsg);
            goto out;
        }
    }
    if (ratusz_wait_ready(rz_handle) != 0) {
        fprintf(stderr,
                "bench cluster: the ratusz cluster did not serve "
                "within 15 s (logs in %s)\n",
                dir);
        goto out;
    }
    {
        driver d = {"ratusz", rzb_open, rzb_close, rzb_write, rzb_read, NULL};
        for (int i = 0; i < N_PHASES; i++) {
            run_phase(&d, client_counts[i], false, seconds, &rw[i]);
        }
        run_phase(&d, MAX_CLIENTS, true, seconds, &rr);
    }
    ratusz_close(rz_handle);
    rz_handle = NULL;
    procs_stop(&rp);
    if (vs_etcd) {
        char edir[PATH_MAX];
        snprintf(edir, sizeof edir, "%s/etcd", dir);
        mkdir(edir, 0700);
        fprintf(stderr, "starting three etcd in %s (ports %d..)\n", edir,
                base + 300);
        if (etcd_start(edir, base + 300, &ep) != 0) {
            fprintf(stderr,
                    "bench cluster: etcd did not serve within 30 s "
                    "(logs in %s)\n",
                    edir);
            goto out;
        }
        driver d = {"etcd", etcd_open, etcd_close, etcd_write, etcd_read, NULL};
        for (int i = 0; i < N_PHASES; i++) {
            run_phase(&d, client_counts[i], false, seconds, &ew[i]);
        }
        run_phase(&d, MAX_CLIENTS, true, seconds, &er);
        procs_stop(&ep);
    }
    printf("{\"bench\":\"cluster\",\"seconds\":%.1f,", seconds);
    json_phases("", rw, &rr);
    if (vs_etcd) {
        printf(",");
        json_phases("etcd_", ew, &er);
        printf(",\"vs_etcd_write_ratio\":%.3f,\"vs_etcd_read_ratio\":%.3f,"
               "\"p99_below_etcd_c64\":%s",
               ew[N_PHASES - 1].per_s > 0
                   ? rw[N_PHASES - 1].per_s / ew[N_PHASES - 1].per_s
                   : 0,
               er.per_s > 0 ? rr.per_s / er.per_s : 0,
               rw[N_PHASES - 1].p99_ms < ew[N_PHASES - 1].p99_ms ? "true"
                                                                 : "false");
    }
    printf("}\n");
    status = 0;
out:
    if (rz_handle != NULL) {
        ratusz_close(rz_handle);
        rz_handle = NULL;
    }
    procs_stop(&rp);
    procs_stop(&ep);
    if (status == 0) {
        rm_rf(dir);
    }
    return status;
}
