/* Integration checks of libratusz against a real local cluster, one phase
 * per subcommand; tests/client/client_cluster.sh starts the cluster (with
 * tests/integration/cluster.sh) and runs the phases in order, restarting
 * nodes between them. Node i listens for clients on endpoint i of
 * --endpoints and runs as process i of --pids.
 *
 *   client_it PHASE --dir CLUSTER_DIR --endpoints A,B,C --pids "P1 P2 P3"
 *
 * Phases: bootstrap, timeout-retry, auth, chaos, converge, pause, watch.
 * Each prints what it checked; a failed check prints why and exits 1.
 * chaos and watch print "killed N" for the node they killed, which the
 * script restarts. */
#include "client/ratusz.h"
#include "common/common.h"
#include "common/secure.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define MAX_NODES 5

static const char *g_dir;
static char g_eplist[1024];
static const char *g_ep[MAX_NODES];
static size_t g_n;
static pid_t g_pid[MAX_NODES];
static char g_tag[64]; /* unique per run: descriptions carry it */

static _Noreturn void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "client_it: FAIL: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(1);
}

#define CHECK(cond, ...)      \
    do {                      \
        if (!(cond)) {        \
            die(__VA_ARGS__); \
        }                     \
    } while (0)

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static uint64_t mono_ms(void)
{
    return rz_mono_ms();
}

static char *path_of(const char *name)
{
    static char buf[4][512];
    static int i;
    char *p = buf[i++ % 4];
    snprintf(p, 512, "%s/%s", g_dir, name);
    return p;
}

/* A handle on the given endpoints (NULL = all) with an identity file. */
static ratusz *open_h(const char *identity, const char *const *eps, size_t n,
                      uint32_t timeout_ms)
{
    ratusz_options o;
    ratusz *h = NULL;
    char errmsg[RATUSZ_ERRMSG_BYTES] = "";
    int rv;
    memset(&o, 0, sizeof(o));
    o.endpoints = eps != NULL ? eps : g_ep;
    o.n_endpoints = eps != NULL ? n : g_n;
    o.identity_path = identity;
    o.timeout_ms = timeout_ms;
    o.connect_timeout_ms = 1000;
    rv = ratusz_open(&o, &h, errmsg);
    CHECK(rv == 0, "ratusz_open(%s): %s: %s", identity, ratusz_errname(rv),
          errmsg);
    return h;
}

/* The node id (1-based) that is leader as the nodes themselves say, 0 if
 * none is, after waiting up to wait_ms. Only live nodes are asked. */
static size_t find_leader(ratusz *op, uint32_t wait_ms, size_t except)
{
    uint64_t until = mono_ms() + wait_ms;
    do {
        for (size_t i = 0; i < g_n; i++) {
            ratusz_status_info *st = NULL;
            ratusz_call call;
            if (i + 1 == except) {
                continue;
            }
            memset(&call, 0, sizeof(call));
            call.timeout_ms = 300;
            call.no_retry = true;
            if (ratusz_node_status(op, &call, g_ep[i], &st) == 0) {
                bool leads = strcmp(st->state, "leader") == 0;
                ratusz_status_info_free(st);
                if (leads) {
                    return i + 1;
                }
            }
        }
        sleep_ms(50);
    } while (mono_ms() < until);
    return 0;
}

static void signal_node(size_t id, int sig)
{
    CHECK(id >= 1 && id <= g_n && g_pid[id - 1] > 0, "no pid for node %zu", id);
    CHECK(kill(g_pid[id - 1], sig) == 0, "kill(%d, %d): %s", (int)g_pid[id - 1],
          sig, strerror(errno));
}

static int create_tagged(ratusz *h, ratusz_call *call, const char *desc,
                         ratusz_created *out)
{
    ratusz_case_new c;
    ratusz_case_new_init(&c);
    c.description = desc;
    c.channel = RATUSZ_CHANNEL_PHONE;
    return ratusz_case_create(h, call, &c, out);
}

/* Every case whose description starts with prefix: counts per exact
 * description go to the caller through `count` (called per case). */
typedef void (*case_fn)(void *ctx, const ratusz_case *c);

static size_t for_each_case(ratusz *h, const char *prefix, case_fn fn,
                            void *ctx)
{
    ratusz_list_filter f;
    ratusz_outcome oc;
    ratusz_call call;
    size_t n = 0;
    int pages = 0;
    ratusz_list_filter_init(&f);
    f.limit = 1000;
    memset(&call, 0, sizeof(call));
    call.outcome = &oc;
    call.timeout_ms = 10000;
    do {
        ratusz_page *page = NULL;
        int rv = ratusz_case_list(h, &call, &f, &page);
        CHECK(rv == 0, "list: %s: %s", ratusz_errname(rv), oc.message);
        for (size_t i = 0; i < page->n_cases; i++) {
            const ratusz_case *c = &page->cases[i];
            if (strncmp(c->description, prefix, strlen(prefix)) == 0) {
                n++;
                if (fn != NULL) {
                    fn(ctx, c);
                }
            }
        }
        f.cursor = page->next_cursor;
        ratusz_page_free(page);
    } while (f.cursor != 0 && ++pages < 10000);
    return n;
}

/* ---------------------------------------------------------------------------
 * bootstrap: three members agree on one leader; a handle that knows only a
 * follower creates through a redirect and reads back
 * ------------------------------------------------------------------------ */

static void phase_bootstrap(void)
{
    ratusz *op = open_h(path_of("operator.identity"), NULL, 0, 5000);
    ratusz *ag;
    ratusz_created cr;
    ratusz_case_info *info = NULL;
    ratusz_outcome oc;
    ratusz_call call;
    ratusz_ping_info ping;
    char desc[128];
    size_t leader = find_leader(op, 10000, 0);
    size_t follower;
    uint64_t leader_seen = 0;
    uint32_t redirects;
    int rv;
    CHECK(leader != 0, "no leader");
    for (size_t i = 0; i < g_n; i++) {
        ratusz_status_info *st = NULL;
        rv = ratusz_node_status(op, NULL, g_ep[i], &st);
        CHECK(rv == 0, "status of %s: %s", g_ep[i], ratusz_errname(rv));
        CHECK(st->node_id == i + 1, "node at %s says it is %llu", g_ep[i],
              (unsigned long long)st->node_id);
        CHECK(st->n_members == g_n, "%s sees %zu members", g_ep[i],
              st->n_members);
        for (size_t m = 0; m < st->n_members; m++) {
            CHECK(st->members[m].voter, "member %llu is not a voter",
                  (unsigned long long)st->members[m].id);
        }
        CHECK(leader_seen == 0 || st->leader_id == leader_seen,
              "nodes disagree on the leader");
        leader_seen = st->leader_id;
        CHECK(strcmp(st->leader_address, g_ep[leader - 1]) == 0,
              "%s names leader address '%s', expected %s", g_ep[i],
              st->leader_address, g_ep[leader - 1]);
        ratusz_status_info_free(st);
    }
    CHECK(leader_seen == leader, "leader id %llu, expected %zu",
          (unsigned long long)leader_seen, leader);
    printf("bootstrap: %zu voters, leader n%zu\n", g_n, leader);

    /* A handle that knows only a follower. */
    follower = leader % g_n + 1;
    ag = open_h(path_of("agent.identity"), &g_ep[follower - 1], 1, 5000);
    memset(&call, 0, sizeof(call));
    call.outcome = &oc;
    snprintf(desc, sizeof(desc), "%s redirect", g_tag);
    rv = create_tagged(ag, &call, desc, &cr);
    CHECK(rv == 0, "create via follower: %s: %s", ratusz_errname(rv),
          oc.message);
    CHECK(oc.redirects >= 1, "no redirect was followed (%u)", oc.redirects);
    redirects = oc.redirects;
    CHECK(strcmp(oc.endpoint, g_ep[leader - 1]) == 0,
          "answered by %s, not the leader %s", oc.endpoint, g_ep[leader - 1]);
    CHECK(cr.case_id != 0 && cr.version >= 1 && cr.number[0] != '\0',
          "bad create reply");
    rv = ratusz_case_get(ag, &call, cr.case_id, true, &info);
    CHECK(rv == 0, "get: %s: %s", ratusz_errname(rv), oc.message);
    CHECK(strcmp(info->c.description, desc) == 0, "description differs");
    CHECK(strcmp(info->c.number, cr.number) == 0, "number differs");
    CHECK(info->n_history == 1 &&
              info->history[0].type == RATUSZ_EVENT_CREATED &&
              info->history[0].actor_role == RATUSZ_ACTOR_AGENT,
          "history is not one CREATED by an agent");
    ratusz_case_info_free(info);
    /* A stale read is served by the follower itself. */
    call.max_stale_ms = 5000;
    {
        /* Bounded staleness: the follower may not have applied the create
         * yet (it learns the commit index with the next heartbeat). */
        uint64_t until = mono_ms() + 3000;
        do {
            rv = ratusz_case_get(ag, &call, cr.case_id, false, &info);
            if (rv == RATUSZ_ENOCASE) {
                sleep_ms(20);
            }
        } while (rv == RATUSZ_ENOCASE && mono_ms() < until);
    }
    CHECK(rv == 0, "stale get: %s: %s", ratusz_errname(rv), oc.message);
    CHECK(strcmp(oc.endpoint, g_ep[follower - 1]) == 0,
          "stale read answered by %s, not the follower", oc.endpoint);
    CHECK(info->n_history == 0, "history sent though not asked for");
    ratusz_case_info_free(info);
    memset(&call, 0, sizeof(call));
    rv = ratusz_ping(ag, &call, g_ep[follower - 1], &ping);
    CHECK(rv == 0 && strcmp(ping.role, "agent") == 0 &&
              ping.node_id == follower,
          "ping: %s role '%s'", ratusz_errname(rv), ping.role);
    /* No such case. */
    memset(&call, 0, sizeof(call));
    call.outcome = &oc;
    rv = ratusz_case_get(ag, &call, 999999999, true, &info);
    CHECK(rv == RATUSZ_ENOCASE && oc.case_id == 999999999,
          "get of a missing case: %s", ratusz_errname(rv));
    printf("bootstrap: create via follower n%zu redirected to n%zu (%u "
           "redirects), case %s read back\n",
           follower, leader, redirects, cr.number);
    ratusz_close(ag);
    ratusz_close(op);
}

/* ---------------------------------------------------------------------------
 * timeout-retry: a write that timed out, retried with the same request_id,
 * returns the original result and leaves exactly one case
 * ------------------------------------------------------------------------ */

static void phase_timeout_retry(void)
{
    ratusz *op = open_h(path_of("operator.identity"), NULL, 0, 5000);
    ratusz *ag = open_h(path_of("agent.identity"), NULL, 0, 5000);
    ratusz_created cr1;
    ratusz_created cr2;
    ratusz_outcome oc;
    ratusz_call call;
    uint8_t rid[RATUSZ_REQUEST_ID_BYTES];
    char desc[128];
    size_t leader = find_leader(op, 10000, 0);
    size_t n;
    int rv;
    CHECK(leader != 0, "no leader");
    /* A first write: the handle learns the leader and connects to it. */
    snprintf(desc, sizeof(desc), "%s warm-up", g_tag);
    CHECK(create_tagged(ag, NULL, desc, &cr1) == 0, "warm-up create");
    /* With both followers stopped the leader cannot commit: the create
     * times out with its outcome unknown. */
    for (size_t i = 1; i <= g_n; i++) {
        if (i != leader) {
            signal_node(i, SIGSTOP);
        }
    }
    snprintf(desc, sizeof(desc), "%s timeout-retry", g_tag);
    memset(&call, 0, sizeof(call));
    call.outcome = &oc;
    call.timeout_ms = 800;
    rv = create_tagged(ag, &call, desc, &cr1);
    for (size_t i = 1; i <= g_n; i++) {
        if (i != leader) {
            signal_node(i, SIGCONT);
        }
    }
    CHECK(rv == RATUSZ_ETIMEDOUT, "create without a quorum: %s (%s)",
          ratusz_errname(rv), oc.message);
    memcpy(rid, oc.request_id, sizeof(rid));
    printf("timeout-retry: create timed out after %u tries (%s)\n", oc.attempts,
           oc.message);
    /* Retry with the same request_id until it succeeds. */
    memset(&call, 0, sizeof(call));
    memcpy(call.request_id, rid, sizeof(rid));
    call.outcome = &oc;
    call.timeout_ms = 15000;
    rv = create_tagged(ag, &call, desc, &cr1);
    CHECK(rv == 0, "retry: %s (%s)", ratusz_errname(rv), oc.message);
    CHECK(memcmp(oc.request_id, rid, sizeof(rid)) == 0,
          "the retry used another request_id");
    /* And once more: the original result again. */
    rv = create_tagged(ag, &call, desc, &cr2);
    CHECK(rv == 0, "second retry: %s", ratusz_errname(rv));
    /* The same case, number and version. (The node's `index` in a
     * repeated reply is the index of the repeat's own log entry, not the
     * original's: not compared.) */
    CHECK(cr2.case_id == cr1.case_id && cr2.version == cr1.version &&
              strcmp(cr2.number, cr1.number) == 0,
          "a retry with the same request_id gave case %llu index %llu "
          "number %s, the first case %llu index %llu number %s",
          (unsigned long long)cr2.case_id, (unsigned long long)cr2.index,
          cr2.number, (unsigned long long)cr1.case_id,
          (unsigned long long)cr1.index, cr1.number);
    n = for_each_case(ag, desc, NULL, NULL);
    CHECK(n == 1, "%zu cases with the retried description", n);
    /* A fresh request_id is a new case (the dedup is by request_id). */
    memset(&call, 0, sizeof(call));
    rv = create_tagged(ag, &call, desc, &cr2);
    CHECK(rv == 0 && cr2.case_id != cr1.case_id, "fresh create");
    printf("timeout-retry: retries with the same request_id returned case "
           "%llu (index %llu) twice; exactly one case exists\n",
           (unsigned long long)cr1.case_id, (unsigned long long)cr1.index);
    ratusz_close(ag);
    ratusz_close(op);
}

/* ---------------------------------------------------------------------------
 * auth: refusals with clear errors
 * ------------------------------------------------------------------------ */

/* Writes an identity file signed by `key` for role, valid until
 * not_after_ms. */
static void make_identity(const rz_cluster_key *key, rz_role role,
                          uint64_t not_after_ms, const char *path)
{
    rz_identity id;
    char errmsg[RZ_ERRMSG_BYTES] = "";
    int rv =
        rz_identity_issue(key, role, "it-client", 0, not_after_ms, &id, errmsg);
    CHECK(rv == 0, "issue: %s", errmsg);
    unlink(path);
    rv = rz_identity_write(path, &id, errmsg);
    CHECK(rv == 0, "write %s: %s", path, errmsg);
    rz_identity_wipe(&id);
}

/* A raw TCP client: sends bytes, returns what came back before EOF (at
 * most cap bytes, within timeout_ms). */
static size_t raw_exchange(const char *ep, const void *p, size_t n,
                           uint8_t *out, size_t cap, int timeout_ms)
{
    struct sockaddr_in sa;
    char host[64];
    const char *colon = strrchr(ep, ':');
    size_t got = 0;
    uint64_t until = mono_ms() + (uint64_t)timeout_ms;
    int fd;
    CHECK(colon != NULL && (size_t)(colon - ep) < sizeof(host), "endpoint");
    memcpy(host, ep, (size_t)(colon - ep));
    host[colon - ep] = '\0';
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)atoi(colon + 1));
    CHECK(inet_pton(AF_INET, host, &sa.sin_addr) == 1, "address %s", host);
    fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(fd >= 0, "socket");
    CHECK(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0, "connect %s",
          ep);
    if (n > 0) {
        CHECK(write(fd, p, n) == (ssize_t)n, "write");
    }
    while (got < cap && mono_ms() < until) {
        struct pollfd pfd = {fd, POLLIN, 0};
        ssize_t r;
        if (poll(&pfd, 1, (int)(until - mono_ms())) <= 0) {
            break;
        }
        r = read(fd, out + got, cap - got);
        if (r <= 0) {
            break;
        }
        got += (size_t)r;
    }
    close(fd);
    return got;
}

/* A client that connects and never starts the handshake. */
typedef struct silent_client
{
    pthread_t t;
    size_t got;
    uint8_t reply[16];
    uint64_t ms;
} silent_client;

static void *silent_main(void *arg)
{
    silent_client *sc = arg;
    uint64_t t0 = mono_ms();
    sc->got = raw_exchange(g_ep[2 % g_n], NULL, 0, sc->reply, sizeof(sc->reply),
                           8000);
    sc->ms = mono_ms() - t0;
    return NULL;
}

static void phase_auth(void)
{
    silent_client sc;
    static const char *const refuse_names[] = {"foreign", "expired"};
    rz_cluster_key key;
    rz_cluster_key foreign;
    ratusz_options o;
    ratusz_outcome oc;
    ratusz_call call;
    ratusz_ping_info ping;
    ratusz *h = NULL;
    char errmsg[RATUSZ_ERRMSG_BYTES] = "";
    char fpath[512];
    char epath[512];
    uint8_t reply[64];
    size_t got;
    int rv;
    CHECK(rz_crypto_init() == 0, "crypto");
    CHECK(rz_cluster_key_read(path_of("keys/cluster.key"), &key, errmsg) == 0,
          "cluster key: %s", errmsg);

    /* 0. No handshake at all: the node gives up after its handshake time
     * (5 s) with error frame 4. Runs while the checks below go on. */
    memset(&sc, 0, sizeof(sc));
    CHECK(pthread_create(&sc.t, NULL, silent_main, &sc) == 0, "thread");
    /* 1. Garbage instead of a handshake: the node answers one error frame
     * and closes: "too big" (3) for text whose first bytes read as a huge
     * length, "handshake failed" (1) for a frame of HELLO's size that is
     * not a HELLO. */
    {
        static const char garbage[] = "GET / HTTP/1.0\r\n\r\nxxxxxxxxxxxxxxxx";
        uint8_t hello[54];
        got = raw_exchange(g_ep[0], garbage, sizeof(garbage), reply,
                           sizeof(reply), 3000);
        CHECK(got >= 6 && reply[3] == 2 && reply[4] == 0xEE && reply[5] == 3,
              "garbage got %zu bytes back, not error frame 3", got);
        memset(hello, 0x5a, sizeof(hello));
        hello[0] = hello[1] = hello[2] = 0;
        hello[3] = 50;
        got = raw_exchange(g_ep[1], hello, sizeof(hello), reply, sizeof(reply),
                           3000);
        CHECK(got >= 6 && reply[4] == 0xEE && reply[5] == 1,
              "a bogus HELLO got %zu bytes back, not error frame 1", got);
        printf("auth: garbage before a handshake: error frame 3 (too big) "
               "or 1 (handshake failed), then closed\n");
    }

    /* 2. A credential of another cluster. */
    rz_cluster_key_generate(&foreign);
    snprintf(fpath, sizeof(fpath), "%s/foreign.identity", g_dir);
    make_identity(&foreign, RZ_ROLE_AGENT, rz_now_ms() + 3600000, fpath);
    rz_cluster_key_wipe(&foreign);
    /* 3. A credential of this cluster that expires in a moment. */
    snprintf(epath, sizeof(epath), "%s/expiring.identity", g_dir);
    make_identity(&key, RZ_ROLE_AGENT, rz_now_ms() + 1500, epath);
    for (int k = 0; k < 2; k++) {
        const char *p = k == 0 ? fpath : epath;
        h = open_h(p, NULL, 0, 3000);
        if (k == 1) {
            sleep_ms(1800); /* now it has expired */
        }
        memset(&call, 0, sizeof(call));
        call.outcome = &oc;
        rv = ratusz_ping(h, &call, NULL, &ping);
        CHECK(rv == (k == 0 ? RATUSZ_EAUTH : RATUSZ_EEXPIRED),
              "%s credential: ping gave %s (%s)", refuse_names[k],
              ratusz_errname(rv), oc.message);
        CHECK(oc.attempts <= 1, "a refused credential was retried");
        printf("auth: %s credential refused: %s (%s)\n", refuse_names[k],
               ratusz_errname(rv), oc.message);
        ratusz_close(h);
    }
    /* An already expired credential is refused before connecting. */
    make_identity(&key, RZ_ROLE_AGENT, rz_now_ms() - 1000, epath);
    memset(&o, 0, sizeof(o));
    o.endpoints = g_ep;
    o.n_endpoints = g_n;
    o.identity_path = epath;
    h = NULL;
    rv = ratusz_open(&o, &h, errmsg);
    CHECK(rv == RATUSZ_EEXPIRED && h == NULL && strstr(errmsg, epath) != NULL,
          "open with an expired credential: %s (%s)", ratusz_errname(rv),
          errmsg);
    rz_cluster_key_wipe(&key);

    /* 4. Roles: a portal may create but not manage the cluster or read
     * personal data; an auditor may not create. */
    h = open_h(path_of("portal.identity"), NULL, 0, 5000);
    {
        ratusz_created cr;
        ratusz_checksum_info ck;
        ratusz_reporter_info rep;
        ratusz_case_info *info = NULL;
        uint64_t idx = 0;
        char desc[128];
        snprintf(desc, sizeof(desc), "%s portal", g_tag);
        memset(&call, 0, sizeof(call));
        call.outcome = &oc;
        rv = ratusz_member_add(h, &call, 9, "127.0.0.1:1/127.0.0.1:2", &idx);
        CHECK(rv == RATUSZ_EDENIED, "portal member add: %s",
              ratusz_errname(rv));
        CHECK(oc.attempts == 1, "a denied call was retried (%u)", oc.attempts);
        printf("auth: portal member add refused: %s (%s)\n", ratusz_errname(rv),
               oc.message);
        rv = ratusz_leader_transfer(h, &call, 0, &idx);
        CHECK(rv == RATUSZ_EDENIED, "portal leader transfer: %s",
              ratusz_errname(rv));
        rv = ratusz_checksum(h, &call, g_ep[0], false, &ck);
        CHECK(rv == RATUSZ_EDENIED, "portal checksum: %s", ratusz_errname(rv));
        rv = ratusz_reporter_get(h, &call, 1, &rep);
        CHECK(rv == RATUSZ_EDENIED, "portal reporter get: %s",
              ratusz_errname(rv));
        rv = create_tagged(h, &call, desc, &cr);
        CHECK(rv == 0, "portal create: %s (%s)", ratusz_errname(rv),
              oc.message);
        rv = ratusz_case_set_status(h, &call, cr.case_id, 0,
                                    RATUSZ_STATUS_TRIAGE, NULL, NULL);
        CHECK(rv == RATUSZ_EDENIED, "portal status change: %s",
              ratusz_errname(rv));
        rv = ratusz_case_comment(h, &call, cr.case_id, "still there", true,
                                 NULL);
        CHECK(rv == 0, "portal public comment: %s", ratusz_errname(rv));
        rv = ratusz_case_get(h, &call, cr.case_id, true, &info);
        CHECK(rv == 0 && info->c.reporter_id == 0 && info->n_history == 2,
              "portal get: %s", ratusz_errname(rv));
        CHECK(info->history[0].actor_role == RATUSZ_ACTOR_PORTAL,
              "portal's create recorded as actor %d",
              (int)info->history[0].actor_role);
        ratusz_case_info_free(info);
    }
    ratusz_close(h);
    h = open_h(path_of("auditor.identity"), NULL, 0, 5000);
    {
        ratusz_created cr;
        ratusz_checksum_info ck;
        memset(&call, 0, sizeof(call));
        call.outcome = &oc;
        rv = create_tagged(h, &call, "auditor", &cr);
        CHECK(rv == RATUSZ_EDENIED, "auditor create: %s", ratusz_errname(rv));
        rv = ratusz_checksum(h, &call, g_ep[0], false, &ck);
        CHECK(rv == 0, "auditor checksum: %s", ratusz_errname(rv));
    }
    ratusz_close(h);
    /* Every node still serves. */
    h = open_h(path_of("agent.identity"), NULL, 0, 5000);
    for (size_t i = 0; i < g_n; i++) {
        rv = ratusz_ping(h, NULL, g_ep[i], &ping);
        CHECK(rv == 0, "ping %s after the refusals: %s", g_ep[i],
              ratusz_errname(rv));
    }
    ratusz_close(h);
    pthread_join(sc.t, NULL);
    CHECK(sc.got >= 6 && sc.reply[4] == 0xEE && sc.reply[5] == 4,
          "a silent client got %zu bytes back in %llu ms, not error frame 4",
          sc.got, (unsigned long long)sc.ms);
    printf("auth: a client that never starts the handshake: error frame 4 "
           "after %llu ms\n",
           (unsigned long long)sc.ms);
    printf("auth: roles enforced; all nodes still serve\n");
}

/* ---------------------------------------------------------------------------
 * chaos: 8 threads create cases while the leader is killed with SIGKILL;
 * every acknowledged case exists exactly once
 * ------------------------------------------------------------------------ */

#define CHAOS_THREADS 8
#define CHAOS_MAX_PER_THREAD 4000

typedef struct chaos_thread
{
    pthread_t t;
    ratusz *h;
    int index;
    atomic_int *stop;
    size_t acked;
    size_t retried_unknown; /* ETIMEDOUT/EUNAVAILABLE, retried */
    uint64_t *case_ids;     /* per sequence number */
    uint64_t max_gap_ms;    /* longest time without an ack */
} chaos_thread;

static void *chaos_main(void *arg)
{
    chaos_thread *ct = arg;
    uint64_t last_ack = mono_ms();
    for (size_t seq = 0; seq < CHAOS_MAX_PER_THREAD && !atomic_load(ct->stop);
         seq++) {
        ratusz_created cr;
        ratusz_outcome oc;
        ratusz_call call;
        char desc[128];
        int rv;
        int tries = 0;
        snprintf(desc, sizeof(desc), "%s chaos t%d n%zu.", g_tag, ct->index,
                 seq);
        memset(&call, 0, sizeof(call));
        call.outcome = &oc;
        call.timeout_ms = 5000;
        /* Retry an unknown outcome with the same request_id until the
         * cluster answers: then the case exists exactly once. */
        do {
            rv = create_tagged(ct->h, &call, desc, &cr);
            if (rv == 0) {
                break;
            }
            CHECK(rv == RATUSZ_ETIMEDOUT || rv == RATUSZ_EUNAVAILABLE,
                  "chaos create: %s (%s)", ratusz_errname(rv), oc.message);
            memcpy(call.request_id, oc.request_id, sizeof(call.request_id));
            ct->retried_unknown++;
        } while (++tries < 6);
        CHECK(rv == 0, "chaos create never succeeded: %s", ratusz_errname(rv));
        ct->case_ids[seq] = cr.case_id;
        ct->acked = seq + 1;
        {
            uint64_t now = mono_ms();
            if (now - last_ack > ct->max_gap_ms) {
                ct->max_gap_ms = now - last_ack;
            }
            last_ack = now;
        }
    }
    return NULL;
}

typedef struct tally
{
    chaos_thread *threads;
    size_t seen;
    size_t dup;
    size_t stray;
    uint8_t *hits[CHAOS_THREADS];
} tally;

static void tally_case(void *vctx, const ratusz_case *c)
{
    tally *t = vctx;
    int ti = -1;
    size_t seq = 0;
    const char *p = c->description + strlen(g_tag);
    t->seen++;
    if (sscanf(p, " chaos t%d n%zu.", &ti, &seq) != 2 || ti < 0 ||
        ti >= CHAOS_THREADS || seq >= CHAOS_MAX_PER_THREAD) {
        return;
    }
    if (seq >= t->threads[ti].acked) {
        t->stray++; /* applied but never acknowledged: allowed once */
    }
    if (t->hits[ti][seq]++ > 0) {
        t->dup++;
    }
    if (seq < t->threads[ti].acked && t->threads[ti].case_ids[seq] != 0 &&
        t->threads[ti].case_ids[seq] != c->case_id) {
        die("t%d n%zu acknowledged as case %llu but stored as %llu", ti, seq,
            (unsigned long long)t->threads[ti].case_ids[seq],
            (unsigned long long)c->case_id);
    }
}

static void phase_chaos(void)
{
    ratusz *op = open_h(path_of("operator.identity"), NULL, 0, 5000);
    ratusz *ag = open_h(path_of("agent.identity"), NULL, 0, 5000);
    chaos_thread th[CHAOS_THREADS];
    atomic_int stop = 0;
    size_t leader = find_leader(op, 10000, 0);
    size_t next;
    size_t total = 0;
    size_t unknown = 0;
    uint64_t t_kill;
    uint64_t max_gap = 0;
    char prefix[96];
    tally t;
    CHECK(leader != 0, "no leader");
    memset(th, 0, sizeof(th));
    for (int i = 0; i < CHAOS_THREADS; i++) {
        th[i].h = ag; /* one thread-safe handle for all eight */
        th[i].index = i;
        th[i].stop = &stop;
        th[i].case_ids = calloc(CHAOS_MAX_PER_THREAD, sizeof(uint64_t));
        CHECK(th[i].case_ids != NULL, "oom");
        CHECK(pthread_create(&th[i].t, NULL, chaos_main, &th[i]) == 0,
              "thread");
    }
    sleep_ms(1000);
    t_kill = mono_ms();
    signal_node(leader, SIGKILL);
    printf("killed %zu\n", leader);
    fflush(stdout);
    next = find_leader(op, 15000, leader);
    CHECK(next != 0, "no new leader after killing n%zu", leader);
    printf("chaos: n%zu killed, n%zu leads after %llu ms\n", leader, next,
           (unsigned long long)(mono_ms() - t_kill));
    sleep_ms(1500);
    atomic_store(&stop, 1);
    for (int i = 0; i < CHAOS_THREADS; i++) {
        pthread_join(th[i].t, NULL);
        total += th[i].acked;
        unknown += th[i].retried_unknown;
        if (th[i].max_gap_ms > max_gap) {
            max_gap = th[i].max_gap_ms;
        }
    }
    CHECK(total > 0, "nothing was acknowledged");
    memset(&t, 0, sizeof(t));
    t.threads = th;
    for (int i = 0; i < CHAOS_THREADS; i++) {
        t.hits[i] = calloc(CHAOS_MAX_PER_THREAD, 1);
        CHECK(t.hits[i] != NULL, "oom");
    }
    snprintf(prefix, sizeof(prefix), "%s chaos ", g_tag);
    (void)for_each_case(ag, prefix, tally_case, &t);
    for (int i = 0; i < CHAOS_THREADS; i++) {
        for (size_t s = 0; s < th[i].acked; s++) {
            CHECK(t.hits[i][s] == 1,
                  "acknowledged case t%d n%zu is stored %u times", i, s,
                  (unsigned)t.hits[i][s]);
        }
        free(t.hits[i]);
        free(th[i].case_ids);
    }
    CHECK(t.dup == 0, "%zu duplicated cases", t.dup);
    printf("chaos: %zu cases acknowledged by %d threads, each stored "
           "exactly once (%zu stored in all, %zu unacknowledged, %zu "
           "outcome-unknown retries by the caller); longest wait for an "
           "ack %llu ms\n",
           total, CHAOS_THREADS, t.seen, t.stray, unknown,
           (unsigned long long)max_gap);
    ratusz_close(ag);
    ratusz_close(op);
}

/* ---------------------------------------------------------------------------
 * converge: every replica reaches the same applied index with the same
 * checksum
 * ------------------------------------------------------------------------ */

static void phase_converge(void)
{
    ratusz *op = open_h(path_of("operator.identity"), NULL, 0, 3000);
    uint64_t until = mono_ms() + 20000;
    ratusz_checksum_info ck[MAX_NODES];
    bool same = false;
    while (!same && mono_ms() < until) {
        bool all = true;
        for (size_t i = 0; i < g_n; i++) {
            ratusz_call call;
            memset(&call, 0, sizeof(call));
            call.timeout_ms = 1000;
            if (ratusz_checksum(op, &call, g_ep[i], false, &ck[i]) != 0) {
                all = false;
            }
        }
        same = all;
        for (size_t i = 1; same && i < g_n; i++) {
            same = ck[i].applied_index == ck[0].applied_index &&
                   memcmp(ck[i].checksum, ck[0].checksum, 32) == 0 &&
                   memcmp(ck[i].data_checksum, ck[0].data_checksum, 32) == 0;
        }
        if (!same) {
            sleep_ms(200);
        }
    }
    CHECK(same, "replicas did not converge within 20 s");
    /* The full scan agrees with the incremental checksum. */
    for (size_t i = 0; i < g_n; i++) {
        ratusz_checksum_info full;
        int rv = ratusz_checksum(op, NULL, g_ep[i], true, &full);
        CHECK(rv == 0, "scan checksum: %s", ratusz_errname(rv));
        if (full.applied_index == ck[i].applied_index) {
            CHECK(memcmp(full.checksum, ck[i].checksum, 32) == 0,
                  "n%zu: scan and incremental checksums differ", i + 1);
        }
    }
    printf("converge: %zu replicas at applied index %llu with equal "
           "checksums\n",
           g_n, (unsigned long long)ck[0].applied_index);
    ratusz_close(op);
}

/* ---------------------------------------------------------------------------
 * pause: a SIGSTOPped leader is replaced; its late replies after SIGCONT
 * break nothing
 * ------------------------------------------------------------------------ */

static void phase_pause(void)
{
    ratusz *op = open_h(path_of("operator.identity"), NULL, 0, 5000);
    ratusz *ag = open_h(path_of("agent.identity"), NULL, 0, 10000);
    size_t leader = find_leader(op, 10000, 0);
    size_t next;
    ratusz_created cr;
    ratusz_outcome oc;
    ratusz_call call;
    char desc[128];
    char prefix[96];
    uint64_t t0;
    size_t n;
    int rv;
    CHECK(leader != 0, "no leader");
    snprintf(prefix, sizeof(prefix), "%s pause ", g_tag);
    /* A write to warm the connection to the leader. */
    snprintf(desc, sizeof(desc), "%s0", prefix);
    memset(&call, 0, sizeof(call));
    call.outcome = &oc;
    CHECK(create_tagged(ag, &call, desc, &cr) == 0, "warm-up create");
    signal_node(leader, SIGSTOP);
    t0 = mono_ms();
    /* This write goes to the stopped leader first, gets no reply, and is
     * retried until the new leader takes it. */
    snprintf(desc, sizeof(desc), "%s1", prefix);
    rv = create_tagged(ag, &call, desc, &cr);
    CHECK(rv == 0, "create while the leader is stopped: %s (%s)",
          ratusz_errname(rv), oc.message);
    next = find_leader(op, 10000, leader);
    printf("pause: n%zu stopped; create served by %s after %llu ms, %u "
           "tries; n%zu leads\n",
           leader, oc.endpoint, (unsigned long long)(mono_ms() - t0),
           oc.attempts, next);
    CHECK(strcmp(oc.endpoint, g_ep[leader - 1]) != 0,
          "answered by the stopped node");
    signal_node(leader, SIGCONT);
    /* The old leader wakes up, steps down and answers what it still had:
     * the handle drops those late replies. Writes and reads go on. */
    for (int i = 2; i < 12; i++) {
        ratusz_case_info *info = NULL;
        snprintf(desc, sizeof(desc), "%s%d", prefix, i);
        rv = create_tagged(ag, &call, desc, &cr);
        CHECK(rv == 0, "create after SIGCONT: %s (%s)", ratusz_errname(rv),
              oc.message);
        rv = ratusz_case_get(ag, &call, cr.case_id, true, &info);
        CHECK(rv == 0 && strcmp(info->c.description, desc) == 0,
              "read back after SIGCONT: %s", ratusz_errname(rv));
        ratusz_case_info_free(info);
    }
    n = for_each_case(ag, prefix, NULL, NULL);
    CHECK(n == 12, "%zu pause cases, expected 12", n);
    printf("pause: after SIGCONT 10 more creates and reads; 12 cases, none "
           "duplicated\n");
    ratusz_close(ag);
    ratusz_close(op);
}

/* ---------------------------------------------------------------------------
 * watch: the feed in revision order; the node serving it is killed and the
 * watch resumes on another with no gap and no duplicate
 * ------------------------------------------------------------------------ */

static void phase_watch(void)
{
    ratusz *op = open_h(path_of("operator.identity"), NULL, 0, 5000);
    size_t leader = find_leader(op, 10000, 0);
    const char *eps[2];
    size_t victim = 0;
    size_t other = 0;
    ratusz *wh;
    ratusz *ag;
    ratusz_watch *w = NULL;
    uint64_t last_rev = 0;
    uint32_t last_seq_case = 0;
    size_t n_events = 0;
    size_t n_created = 0;
    size_t n_cases;
    size_t written = 0;
    char desc[128];
    int rv;
    CHECK(leader != 0, "no leader");
    for (size_t i = 1; i <= g_n; i++) {
        if (i != leader) {
            if (victim == 0) {
                victim = i;
            } else if (other == 0) {
                other = i;
            }
        }
    }
    CHECK(victim != 0 && other != 0, "need two followers");
    /* The watch handle knows two followers, the first one first: the watch
     * runs there until it is killed. */
    eps[0] = g_ep[victim - 1];
    eps[1] = g_ep[other - 1];
    wh = open_h(path_of("auditor.identity"), eps, 2, 5000);
    ag = open_h(path_of("agent.identity"), NULL, 0, 10000);
    rv = ratusz_watch_open(wh, NULL, 1, 0, &w);
    CHECK(rv == 0, "watch open: %s", ratusz_errname(rv));
    /* A slow reader: over a thousand events pile up, so the watch stops
     * its stream and starts it again as the reader catches up. */
    sleep_ms(1500);
    {
        uint64_t last_case = 0;
        uint64_t until = mono_ms() + 30000;
        bool killed = false;
        (void)last_seq_case;
        for (;;) {
            const ratusz_event *ev = NULL;
            rv = ratusz_watch_next(w, 300, &ev);
            if (rv == RATUSZ_ETIMEDOUT) {
                if (!killed) {
                    /* Caught up: kill the node serving the watch, then
                     * write more while it is gone. */
                    signal_node(victim, SIGKILL);
                    printf("killed %zu\n", victim);
                    fflush(stdout);
                    killed = true;
                    for (int i = 0; i < 20; i++) {
                        ratusz_created cr;
                        snprintf(desc, sizeof(desc), "%s watch %d", g_tag, i);
                        CHECK(create_tagged(ag, NULL, desc, &cr) == 0,
                              "create during the watch");
                        written++;
                    }
                    continue;
                }
                n_cases = for_each_case(ag, "", NULL, NULL);
                if (n_created >= n_cases) {
                    break;
                }
                CHECK(mono_ms() < until,
                      "the watch saw %zu creations of %zu cases", n_created,
                      n_cases);
                continue;
            }
            CHECK(rv == 0, "watch next: %s", ratusz_errname(rv));
            /* Revision order; within a revision one command's events. */
            CHECK(ev->revision >= last_rev,
                  "revision %llu after %llu: out of order or repeated",
                  (unsigned long long)ev->revision,
                  (unsigned long long)last_rev);
            CHECK(!(ev->revision == last_rev && ev->case_id == last_case &&
                    ev->type == RATUSZ_EVENT_CREATED),
                  "a CREATED event repeated at revision %llu",
                  (unsigned long long)ev->revision);
            last_rev = ev->revision;
            last_case = ev->case_id;
            n_events++;
            n_created += ev->type == RATUSZ_EVENT_CREATED;
        }
    }
    n_cases = for_each_case(ag, "", NULL, NULL);
    CHECK(n_created == n_cases, "the watch saw %zu creations, %zu cases exist",
          n_created, n_cases);
    {
        uint64_t rev = 0;
        uint32_t sub = 0;
        ratusz_watch_position(w, &rev, &sub);
        CHECK(rev > last_rev || (rev == last_rev && sub > 0),
              "position %llu/%u not past the last event's revision %llu",
              (unsigned long long)rev, (unsigned)sub,
              (unsigned long long)last_rev);
    }
    printf("watch: %zu events in revision order, one CREATED per case (%zu), "
           "across the kill of n%zu (%zu written meanwhile)\n",
           n_events, n_cases, victim, written);
    ratusz_watch_close(w);
    ratusz_close(ag);
    ratusz_close(wh);
    ratusz_close(op);
}

/* ---------------------------------------------------------------------------
 * api: every other call of ratusz.h against the real nodes (catalog,
 * stats, reporters, each update op, compare-and-set, membership, leader
 * transfer)
 * ------------------------------------------------------------------------ */

static void phase_api(void)
{
    ratusz *op = open_h(path_of("operator.identity"), NULL, 0, 10000);
    ratusz *ag = open_h(path_of("agent.identity"), NULL, 0, 10000);
    ratusz_catalog_item items[4];
    ratusz_catalog *cat = NULL;
    ratusz_stats *st = NULL;
    ratusz_case_new c;
    ratusz_reporter who = {"Ewa Nowak", "+48 22 000", "ewa@example.org",
                           "ul. Prosta 1"};
    ratusz_reporter_info rep;
    ratusz_created cr;
    ratusz_created other;
    ratusz_write_result w;
    ratusz_update u;
    ratusz_case_info *info = NULL;
    ratusz_list_filter f;
    ratusz_page *page = NULL;
    ratusz_outcome oc;
    ratusz_call call;
    char desc[128];
    size_t leader;
    size_t target;
    uint64_t idx = 0;
    uint64_t new_leader = 0;
    bool found = false;
    int rv;
    memset(&call, 0, sizeof(call));
    call.outcome = &oc;

    /* Catalog: a district, a unit, a service and a routing rule. */
    memset(items, 0, sizeof(items));
    items[0].type = RATUSZ_CATALOG_DISTRICT;
    items[0].code = "WOLA";
    items[0].name = "Wola";
    items[1].type = RATUSZ_CATALOG_UNIT;
    items[1].code = "ZOM";
    items[1].name = "Zarząd Oczyszczania Miasta";
    items[2].type = RATUSZ_CATALOG_SERVICE;
    items[2].code = "LITTER";
    items[2].name = "Litter";
    items[2].kind = RATUSZ_KIND_INCIDENT;
    items[2].sla_hours = 24;
    items[3].type = RATUSZ_CATALOG_RULE;
    items[3].code = "LITTER";
    items[3].district = "WOLA";
    items[3].unit_id = "ZOM";
    rv = ratusz_catalog_upsert(op, &call, items, 4, &w);
    CHECK(rv == 0 && w.index > 0, "catalog upsert: %s (%s)", ratusz_errname(rv),
          oc.message);
    rv = ratusz_catalog_upsert(ag, &call, items, 4, &w);
    CHECK(rv == RATUSZ_EDENIED, "agent catalog upsert: %s", ratusz_errname(rv));
    rv = ratusz_catalog_get(ag, &call, &cat);
    CHECK(rv == 0, "catalog get: %s (%s)", ratusz_errname(rv), oc.message);
    for (size_t i = 0; i < cat->n_items; i++) {
        const ratusz_catalog_item *it = &cat->items[i];
        if (it->type == RATUSZ_CATALOG_RULE &&
            strcmp(it->code, "LITTER") == 0 &&
            strcmp(it->district, "WOLA") == 0 &&
            strcmp(it->unit_id, "ZOM") == 0) {
            found = true;
        }
        if (it->type == RATUSZ_CATALOG_SERVICE &&
            strcmp(it->code, "LITTER") == 0) {
            CHECK(it->sla_hours == 24 && it->kind == RATUSZ_KIND_INCIDENT,
                  "service LITTER read back as sla %u kind %d",
                  (unsigned)it->sla_hours, (int)it->kind);
        }
    }
    CHECK(found, "the routing rule is not in the catalog (%zu items)",
          cat->n_items);
    ratusz_catalog_free(cat);

    /* A case the rule routes at once, with a new reporter. */
    snprintf(desc, sizeof(desc), "%s api litter", g_tag);
    ratusz_case_new_init(&c);
    c.description = desc;
    c.service = "LITTER";
    c.district = "WOLA";
    c.reporter = &who;
    rv = ratusz_case_create(ag, &call, &c, &cr);
    CHECK(rv == 0, "create: %s (%s)", ratusz_errname(rv), oc.message);
    CHECK(cr.status == RATUSZ_STATUS_ROUTED && strcmp(cr.unit_id, "ZOM") == 0,
          "the rule did not route: status %d unit '%s'", (int)cr.status,
          cr.unit_id);
    CHECK(cr.reporter_id != 0, "no reporter id");
    c.service = "NO_SUCH_SERVICE";
    c.reporter = NULL;
    rv = ratusz_case_create(ag, &call, &c, &other);
    CHECK(rv == RATUSZ_ENOSERVICE, "unknown service: %s", ratusz_errname(rv));
    rv = ratusz_reporter_get(ag, &call, cr.reporter_id, &rep);
    CHECK(rv == 0 && strcmp(rep.name, "Ewa Nowak") == 0 &&
              strcmp(rep.email, "ewa@example.org") == 0,
          "reporter get: %s '%s'", ratusz_errname(rv), rep.name);

    /* Each update op, with compare-and-set. */
    rv = ratusz_case_set_status(ag, &call, cr.case_id, cr.version + 5,
                                RATUSZ_STATUS_IN_PROGRESS, NULL, &w);
    CHECK(rv == RATUSZ_EVERSION && oc.current_version == cr.version,
          "stale expected_version: %s, current %u (created %u)",
          ratusz_errname(rv), oc.current_version, cr.version);
    rv = ratusz_case_set_status(ag, &call, cr.case_id, cr.version,
                                RATUSZ_STATUS_IN_PROGRESS, NULL, &w);
    CHECK(rv == 0 && w.version == cr.version + 1 && w.case_id == cr.case_id,
          "status: %s (%s)", ratusz_errname(rv), oc.message);
    rv = ratusz_case_set_status(ag, &call, cr.case_id, 0, RATUSZ_STATUS_NEW,
                                NULL, &w);
    CHECK(rv == RATUSZ_EBADSTATUS, "IN_PROGRESS -> NEW: %s",
          ratusz_errname(rv));
    memset(&u, 0, sizeof(u));
    u.op = RATUSZ_OP_ASSIGN;
    u.case_id = cr.case_id;
    u.assignee_id = 314;
    rv = ratusz_case_update(ag, &call, &u, &w);
    CHECK(rv == 0, "assign: %s (%s)", ratusz_errname(rv), oc.message);
    u.op = RATUSZ_OP_NOTIFY;
    u.channel = RATUSZ_CHANNEL_EMAIL;
    u.text = "we are on it";
    rv = ratusz_case_update(ag, &call, &u, &w);
    CHECK(rv == 0, "notify: %s (%s)", ratusz_errname(rv), oc.message);
    rv = ratusz_case_set_status(ag, &call, cr.case_id, 0,
                                RATUSZ_STATUS_RESOLVED, "cleaned", &w);
    CHECK(rv == 0, "resolve: %s (%s)", ratusz_errname(rv), oc.message);
    rv = ratusz_case_set_status(ag, &call, cr.case_id, 0, RATUSZ_STATUS_CLOSED,
                                NULL, &w);
    CHECK(rv == 0, "close: %s (%s)", ratusz_errname(rv), oc.message);
    memset(&u, 0, sizeof(u));
    u.op = RATUSZ_OP_REOPEN;
    u.case_id = cr.case_id;
    u.text = "it is back";
    rv = ratusz_case_update(ag, &call, &u, &w);
    CHECK(rv == 0, "reopen: %s (%s)", ratusz_errname(rv), oc.message);
    rv = ratusz_case_get(ag, &call, cr.case_id, true, &info);
    CHECK(rv == 0, "get: %s", ratusz_errname(rv));
    CHECK(info->c.status == RATUSZ_STATUS_IN_PROGRESS &&
              info->c.assignee_id == 314 &&
              info->c.reporter_id == cr.reporter_id &&
              info->c.due_ms > info->c.created_ms,
          "case after the ops: status %d assignee %llu resolution '%s'",
          (int)info->c.status, (unsigned long long)info->c.assignee_id,
          info->c.resolution);
    /* CREATED, ROUTED (by the rule), IN_PROGRESS, ASSIGNED, NOTIFIED,
     * RESOLVED, CLOSED, REOPENED. */
    CHECK(info->n_history == 8, "%zu events, expected 8", info->n_history);
    CHECK(info->history[1].type == RATUSZ_EVENT_ROUTED &&
              strcmp(info->history[1].unit_to, "ZOM") == 0,
          "event 1 is not the rule's ROUTED to ZOM");
    CHECK(info->history[5].type == RATUSZ_EVENT_STATUS_CHANGED &&
              info->history[5].status_from == RATUSZ_STATUS_IN_PROGRESS &&
              info->history[5].status_to == RATUSZ_STATUS_RESOLVED,
          "event 5 is not IN_PROGRESS -> RESOLVED");
    CHECK(strcmp(info->history[5].text, "cleaned") == 0,
          "the resolution event's text is '%s'", info->history[5].text);
    CHECK(info->history[4].type == RATUSZ_EVENT_CITIZEN_NOTIFIED &&
              info->history[4].channel == RATUSZ_CHANNEL_EMAIL,
          "event 4 is not the e-mail notification");
    CHECK(info->history[3].type == RATUSZ_EVENT_ASSIGNED &&
              info->history[3].other_id == 314,
          "event 3 is not ASSIGNED to 314 (other_id %llu)",
          (unsigned long long)info->history[3].other_id);
    CHECK(info->history[7].type == RATUSZ_EVENT_REOPENED,
          "event 7 is not REOPENED");
    ratusz_case_info_free(info);

    /* Merge a duplicate into it. */
    c.service = "LITTER";
    rv = ratusz_case_create(ag, &call, &c, &other);
    CHECK(rv == 0, "second create: %s", ratusz_errname(rv));
    memset(&u, 0, sizeof(u));
    u.op = RATUSZ_OP_MERGE;
    u.case_id = other.case_id;
    u.into_case_id = cr.case_id;
    rv = ratusz_case_update(ag, &call, &u, &w);
    CHECK(rv == 0, "merge: %s (%s)", ratusz_errname(rv), oc.message);
    rv = ratusz_case_get(ag, &call, other.case_id, false, &info);
    CHECK(rv == 0 && info->c.parent_case_id == cr.case_id &&
              info->c.status == RATUSZ_STATUS_CLOSED,
          "merged case: parent %llu status %d",
          (unsigned long long)info->c.parent_case_id, (int)info->c.status);
    ratusz_case_info_free(info);

    /* List with filters. */
    ratusz_list_filter_init(&f);
    f.district = "WOLA";
    f.status = RATUSZ_STATUS_IN_PROGRESS;
    f.unit_id = "ZOM";
    rv = ratusz_case_list(ag, &call, &f, &page);
    CHECK(rv == 0, "list: %s (%s)", ratusz_errname(rv), oc.message);
    CHECK(page->n_cases == 1 && page->cases[0].case_id == cr.case_id,
          "filtered list has %zu cases", page->n_cases);
    ratusz_page_free(page);

    /* Erase the reporter: the personal data is gone. */
    rv = ratusz_reporter_erase(ag, &call, cr.reporter_id, &w);
    CHECK(rv == RATUSZ_EDENIED, "agent erase: %s", ratusz_errname(rv));
    rv = ratusz_reporter_erase(op, &call, cr.reporter_id, &w);
    CHECK(rv == 0, "erase: %s (%s)", ratusz_errname(rv), oc.message);
    rv = ratusz_reporter_get(ag, &call, cr.reporter_id, &rep);
    CHECK((rv == 0 && rep.name[0] == '\0' && rep.phone[0] == '\0') ||
              rv == RATUSZ_ENOREPORTER,
          "reporter after erase: %s '%s'", ratusz_errname(rv), rep.name);

    /* Stats. */
    rv = ratusz_stats_get(ag, &call, &st);
    CHECK(rv == 0 && st->n_counters > 0 && st->index > 0, "stats: %s (%s)",
          ratusz_errname(rv), oc.message);
    found = false;
    for (size_t i = 0; i < st->n_counters; i++) {
        if (st->counters[i].dim == 1 && st->counters[i].key_str != NULL &&
            strcmp(st->counters[i].key_str, "WOLA") == 0 &&
            st->counters[i].count >= 2) {
            found = true;
        }
    }
    CHECK(found, "no district counter for WOLA >= 2 in %zu counters",
          st->n_counters);
    ratusz_stats_free(st);

    /* Membership: a non-voter that never comes up is added and removed;
     * promoting it would lose quorum, so it is refused... or left to the
     * node's rules: only add and remove are checked. */
    rv = ratusz_member_add(op, &call, 9, "127.0.0.1:17399/127.0.0.1:17398",
                           &idx);
    CHECK(rv == 0 && idx > 0, "member add: %s (%s)", ratusz_errname(rv),
          oc.message);
    rv = ratusz_member_add(op, &call, 9, "127.0.0.1:17399/127.0.0.1:17398",
                           &idx);
    CHECK(rv != 0, "adding member 9 twice succeeded");
    rv = ratusz_member_remove(op, &call, 9, false, &idx);
    CHECK(rv == 0, "member remove: %s (%s)", ratusz_errname(rv), oc.message);

    /* Leader transfer to a named follower. */
    leader = find_leader(op, 5000, 0);
    CHECK(leader != 0, "no leader");
    target = leader % g_n + 1;
    rv = ratusz_leader_transfer(op, &call, target, &new_leader);
    CHECK(rv == 0, "leader transfer: %s (%s)", ratusz_errname(rv), oc.message);
    CHECK(new_leader == target || new_leader == leader,
          "transfer answered leader %llu", (unsigned long long)new_leader);
    /* The agent's handle follows the new leader on its next write. */
    snprintf(desc, sizeof(desc), "%s api after transfer", g_tag);
    c.description = desc;
    rv = ratusz_case_create(ag, &call, &c, &other);
    CHECK(rv == 0, "create after the transfer: %s (%s)", ratusz_errname(rv),
          oc.message);
    printf("api: catalog, routing rule, reporter, every update op, "
           "compare-and-set, merge, filters, erase, stats, member add/remove, "
           "leader transfer n%zu -> n%llu all as documented\n",
           leader, (unsigned long long)new_leader);
    ratusz_close(ag);
    ratusz_close(op);
}

int main(int argc, char **argv)
{
    const char *phase;
    const char *pids = NULL;
    if (argc < 2) {
        fprintf(stderr, "usage: client_it PHASE --dir D --endpoints A,B,C "
                        "--pids \"P1 P2 P3\" [--tag T]\n");
        return 2;
    }
    phase = argv[1];
    snprintf(g_tag, sizeof(g_tag), "it%ld", (long)getpid());
    for (int i = 2; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--dir") == 0) {
            g_dir = argv[i + 1];
        } else if (strcmp(argv[i], "--endpoints") == 0) {
            snprintf(g_eplist, sizeof(g_eplist), "%s", argv[i + 1]);
        } else if (strcmp(argv[i], "--pids") == 0) {
            pids = argv[i + 1];
        }
    }
    CHECK(g_dir != NULL && g_eplist[0] != '\0', "--dir and --endpoints");
    {
        char *save = NULL;
        for (char *t = strtok_r(g_eplist, ",", &save);
             t != NULL && g_n < MAX_NODES; t = strtok_r(NULL, ",", &save)) {
            g_ep[g_n++] = t;
        }
    }
    if (pids != NULL) {
        const char *p = pids;
        for (size_t i = 0; i < g_n && *p != '\0'; i++) {
            char *end;
            g_pid[i] = (pid_t)strtol(p, &end, 10);
            p = end;
        }
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (strcmp(phase, "bootstrap") == 0) {
        phase_bootstrap();
    } else if (strcmp(phase, "timeout-retry") == 0) {
        phase_timeout_retry();
    } else if (strcmp(phase, "auth") == 0) {
        phase_auth();
    } else if (strcmp(phase, "chaos") == 0) {
        phase_chaos();
    } else if (strcmp(phase, "converge") == 0) {
        phase_converge();
    } else if (strcmp(phase, "pause") == 0) {
        phase_pause();
    } else if (strcmp(phase, "api") == 0) {
        phase_api();
    } else if (strcmp(phase, "watch") == 0) {
        phase_watch();
    } else {
        die("unknown phase %s", phase);
    }
    return 0;
}
