/* ratuszctl operations: a throw-away three-node cluster of real ratuszd
 * processes on 127.0.0.1 (drill --local): a temp dir with a fresh cluster
 * key, identities and configs, the processes started and signalled by PID,
 * everything removed afterwards. */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ops.h"

/* How long a started node may take to answer STATUS, and the whole cluster
 * to elect its first leader. */
#define LOCAL_START_TIMEOUT_MS 20000u
/* SIGTERM hands leadership over first (DESIGN.md §7): give it time. */
#define LOCAL_STOP_TIMEOUT_MS 10000u
/* Credentials of a throw-away cluster live one day. */
#define LOCAL_CRED_LIFE_MS (24u * 3600u * 1000u)

static void nap_ms(unsigned ms)
{
    struct timespec ts = {(time_t)(ms / 1000u), (long)(ms % 1000u) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

void ops_ratuszd_path(const char *flag, char *out, size_t size)
{
    char self[CTL_PATH_BYTES];
    ssize_t n;
    if (flag != NULL) {
        snprintf(out, size, "%s", flag);
        return;
    }
    n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        char *slash;
        self[n] = '\0';
        slash = strrchr(self, '/');
        if (slash != NULL) {
            *slash = '\0';
            if ((size_t)snprintf(out, size, "%s/../node/ratuszd", self) <
                    size &&
                access(out, X_OK) == 0) {
                return;
            }
            if ((size_t)snprintf(out, size, "%s/ratuszd", self) < size &&
                access(out, X_OK) == 0) {
                return;
            }
        }
    }
    /* Bounded by the entries of PATH. */
    {
        const char *path = getenv("PATH");
        while (path != NULL && *path) {
            const char *colon = strchr(path, ':');
            size_t len = colon ? (size_t)(colon - path) : strlen(path);
            if (len > 0 &&
                (size_t)snprintf(out, size, "%.*s/ratuszd", (int)len, path) <
                    size &&
                access(out, X_OK) == 0) {
                return;
            }
            path = colon ? colon + 1 : NULL;
        }
    }
    snprintf(out, size, "ratuszd");
}

static int write_text(const char *path, const char *text, char *errmsg)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        rz_errmsg_set(errmsg, "cannot write %s: %s", path, strerror(errno));
        return RZ_EIO;
    }
    fputs(text, f);
    if (fclose(f) != 0) {
        rz_errmsg_set(errmsg, "cannot write %s: %s", path, strerror(errno));
        return RZ_EIO;
    }
    return 0;
}

/* Keys, identities, configs and cluster.endpoints for nodes 1..3. */
static int local_prepare(ops_local *l, char *errmsg)
{
    rz_cluster_key key;
    char members[1024] = "";
    char path[CTL_PATH_BYTES + 64];
    char text[4096];
    char endpoints[1024] = "";
    uint64_t expiry = rz_now_ms() + LOCAL_CRED_LIFE_MS;
    int rv;
    rz_cluster_key_generate(&key);
    rv = rz_identity_issue(&key, RZ_ROLE_OPERATOR, "drill", 0, expiry,
                           &l->operator_id, errmsg);
    if (rv == 0) {
        snprintf(path, sizeof path, "%s/operator.identity", l->dir);
        rv = rz_identity_write(path, &l->operator_id, errmsg);
    }
    for (unsigned i = 1; rv == 0 && i <= OPS_LOCAL_NODES; i++) {
        size_t len = strlen(members);
        snprintf(members + len, sizeof members - len,
                 "%s%u=127.0.0.1:%u/127.0.0.1:%u", i > 1 ? "," : "", i,
                 l->base_port + 10u + i, l->base_port + i);
    }
    memset(&l->where, 0, sizeof l->where);
    snprintf(l->where.identity, sizeof l->where.identity,
             "%s/operator.identity", l->dir);
    snprintf(l->where.source, sizeof l->where.source, "drill --local");
    for (unsigned i = 1; rv == 0 && i <= OPS_LOCAL_NODES; i++) {
        rz_identity node;
        char name[16];
        size_t len = strlen(endpoints);
        ctl_endpoint *e = &l->where.ep[l->where.n++];
        snprintf(name, sizeof name, "n%u", i);
        snprintf(path, sizeof path, "%s/n%u", l->dir, i);
        if (mkdir(path, 0700) != 0) {
            rz_errmsg_set(errmsg, "mkdir %s: %s", path, strerror(errno));
            rv = RZ_EIO;
            break;
        }
        rv = rz_identity_issue(&key, RZ_ROLE_NODE, name, i, expiry, &node,
                               errmsg);
        if (rv == 0) {
            snprintf(path, sizeof path, "%s/n%u/node.identity", l->dir, i);
            rv = rz_identity_write(path, &node, errmsg);
            rz_identity_wipe(&node);
        }
        if (rv != 0) {
            break;
        }
        snprintf(text, sizeof text,
                 "[node]\nid = %u\ndata_dir = %s/n%u\n"
                 "client_listen = 127.0.0.1:%u\npeer_listen = 127.0.0.1:%u\n"
                 "metrics_listen = 127.0.0.1:%u\n[cluster]\nmembers = %s\n",
                 i, l->dir, i, l->base_port + i, l->base_port + 10u + i,
                 l->base_port + 20u + i, members);
        if (l->election_timeout_ms != 0) {
            size_t tl = strlen(text);
            snprintf(text + tl, sizeof text - tl,
                     "[raft]\nelection_timeout_ms = %u\n",
                     l->election_timeout_ms);
        }
        snprintf(path, sizeof path, "%s/n%u/ratuszd.conf", l->dir, i);
        rv = write_text(path, text, errmsg);
        e->id = i;
        snprintf(e->client, sizeof e->client, "127.0.0.1:%u", l->base_port + i);
        snprintf(e->peer, sizeof e->peer, "127.0.0.1:%u",
                 l->base_port + 10u + i);
        snprintf(endpoints + len, sizeof endpoints - len,
                 "%u 127.0.0.1:%u 127.0.0.1:%u 127.0.0.1:%u\n", i,
                 l->base_port + i, l->base_port + 10u + i,
                 l->base_port + 20u + i);
    }
    if (rv == 0) {
        snprintf(path, sizeof path, "%s/cluster.endpoints", l->dir);
        rv = write_text(path, endpoints, errmsg);
    }
    rz_cluster_key_wipe(&key);
    return rv;
}

int ops_local_node_start(ops_local *l, uint64_t id, char *errmsg)
{
    char conf[CTL_PATH_BYTES + 64];
    char logp[CTL_PATH_BYTES + 64];
    ops_conn c;
    uint64_t deadline;
    pid_t pid;
    int rv = RZ_ETIMEDOUT;
    RZ_PRE(id >= 1 && id <= OPS_LOCAL_NODES && l->pid[id] == 0);
    snprintf(conf, sizeof conf, "%s/n%u/ratuszd.conf", l->dir, (unsigned)id);
    snprintf(logp, sizeof logp, "%s/n%u/ratuszd.log", l->dir, (unsigned)id);
    pid = fork();
    if (pid < 0) {
        rz_errmsg_set(errmsg, "fork: %s", strerror(errno));
        return RZ_EIO;
    }
    if (pid == 0) {
        int fd = open(logp, O_WRONLY | O_CREAT | O_APPEND, 0600);
        int null = open("/dev/null", O_RDONLY);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        if (null >= 0) {
            dup2(null, 0);
        }
        execl(l->ratuszd, "ratuszd", "--config", conf, (char *)NULL);
        fprintf(stderr, "ratuszctl: cannot run %s: %s\n", l->ratuszd,
                strerror(errno));
        _exit(127);
    }
    l->pid[id] = pid;
    ops_conn_init(&c, &l->operator_id);
    deadline = rz_mono_ms() + LOCAL_START_TIMEOUT_MS;
    /* Bounded by the deadline; each pass sleeps. */
    while (rz_mono_ms() < deadline) {
        int status;
        ops_status st;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            l->pid[id] = 0;
            rz_errmsg_set(errmsg, "ratuszd of node %u exited at start; see %s",
                          (unsigned)id, logp);
            rv = RZ_EIO;
            break;
        }
        if (ops_conn_open(&c, l->where.ep[id - 1].client, 500, errmsg) == 0 &&
            ops_status_get(&c, 1000, &st, errmsg) == 0) {
            rv = 0;
            break;
        }
        nap_ms(50);
    }
    ops_conn_close(&c);
    if (rv == RZ_ETIMEDOUT) {
        rz_errmsg_set(errmsg, "node %u does not answer after %u ms; see %s",
                      (unsigned)id, LOCAL_START_TIMEOUT_MS, logp);
    }
    return rv;
}

int ops_local_node_signal(ops_local *l, uint64_t id, int sig)
{
    pid_t pid;
    uint64_t deadline;
    RZ_PRE(id >= 1 && id <= OPS_LOCAL_NODES);
    pid = l->pid[id];
    if (pid <= 0) {
        return RZ_ENOTFOUND;
    }
    if (kill(pid, sig) != 0) {
        return RZ_EIO;
    }
    if (sig != SIGKILL && sig != SIGTERM) {
        return 0;
    }
    deadline = rz_mono_ms() + LOCAL_STOP_TIMEOUT_MS;
    /* Bounded: after the deadline the process gets SIGKILL, and waitpid
     * then returns once the kernel has reaped it. */
    for (;;) {
        int status;
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid || (w < 0 && errno == ECHILD)) {
            break;
        }
        if (rz_mono_ms() > deadline) {
            (void)kill(pid, SIGKILL);
            (void)waitpid(pid, &status, 0);
            break;
        }
        nap_ms(10);
    }
    l->pid[id] = 0;
    return 0;
}

static int rm_entry(const char *path, const struct stat *sb, int flag,
                    struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path) == 0 ? 0 : 0;
}

void ops_local_stop(ops_local *l, bool keep)
{
    for (uint64_t i = 1; i <= OPS_LOCAL_NODES; i++) {
        if (l->pid[i] > 0) {
            /* A paused node (leader-partition) must run to exit. */
            (void)kill(l->pid[i], SIGCONT);
            (void)ops_local_node_signal(l, i, SIGTERM);
        }
    }
    rz_identity_wipe(&l->operator_id);
    if (!keep && l->dir[0] != '\0') {
        (void)nftw(l->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    }
}

int ops_local_start(ops_local *l, char *errmsg)
{
    const char *tmp = getenv("TMPDIR");
    ops_conn c;
    uint64_t deadline;
    int rv;
    if (rz_crypto_init() != 0) {
        rz_errmsg_set(errmsg, "libsodium failed to start");
        return RZ_EIO;
    }
    if (access(l->ratuszd, X_OK) != 0) {
        rz_errmsg_set(errmsg,
                      "no ratuszd at %s: build it (cmake --build ... "
                      "--target ratuszd) or give --ratuszd PATH",
                      l->ratuszd);
        return RZ_ENOTFOUND;
    }
    snprintf(l->dir, sizeof l->dir, "%s/ratusz-drill-XXXXXX",
             tmp != NULL && *tmp ? tmp : "/tmp");
    if (mkdtemp(l->dir) == NULL) {
        rz_errmsg_set(errmsg, "mkdtemp %s: %s", l->dir, strerror(errno));
        l->dir[0] = '\0';
        return RZ_EIO;
    }
    rv = local_prepare(l, errmsg);
    for (uint64_t i = 1; rv == 0 && i <= OPS_LOCAL_NODES; i++) {
        rv = ops_local_node_start(l, i, errmsg);
    }
    if (rv != 0) {
        return rv;
    }
    ops_conn_init(&c, &l->operator_id);
    deadline = rz_mono_ms() + LOCAL_START_TIMEOUT_MS;
    rv = RZ_ETIMEDOUT;
    while (rv != 0 && rz_mono_ms() < deadline) {
        for (size_t i = 0; i < l->where.n; i++) {
            ops_status st;
            if (ops_conn_open(&c, l->where.ep[i].client, 500, errmsg) == 0 &&
                ops_status_get(&c, 1000, &st, errmsg) == 0 &&
                !strcmp(st.state, "leader")) {
                rv = 0;
                break;
            }
        }
        if (rv != 0) {
            nap_ms(50);
        }
    }
    ops_conn_close(&c);
    if (rv != 0) {
        rz_errmsg_set(errmsg, "the local cluster in %s elected no leader",
                      l->dir);
    }
    return rv;
}
