/* rz-jepsen-client: one client process of the jepsen harness. It talks to
 * the cluster through libratusz only and writes its own history as JSON
 * lines (jepsen/run merges them), in the jsonl format of ratusz-check
 * (jepsen/check/README.md): every operation an "invoke" line and, when it
 * ends, an "ok", "fail" (definitely did not happen) or "info" (unknown)
 * line, stamped with CLOCK_MONOTONIC nanoseconds.
 *
 * Workloads (--workload):
 *   cases     creates, status changes with expected_version, reads, on the
 *             newest cases any client created (shared through --ids)
 *   set       creates only
 *   register  reads and status changes of one case (--case)
 *   watch     a watcher of the change feed (feed workload): every event
 *             with its position, then "caught-up" once it has seen the
 *             final index written by the harness (--final FILE)
 * A write whose outcome is unknown is retried with the SAME request_id
 * (exactly-once, docs/protocol.md 6.1) for up to --retry-s seconds, so a
 * retry reveals the id a create got; still unknown, it is recorded "info"
 * and the process continues under a new process id (process + stride), as
 * Jepsen does, because the unknown operation stays open forever.
 *
 * Admin commands (--admin CMD ...) for the harness: setup, create, list
 * FILE, checksum, member-add ID ADDR, member-promote ID, member-remove ID.
 */
#include "client/ratusz.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_IDS 1000000
#define HOT_IDS 8 /* operations go to the newest few cases: contention */
#define OP_TIMEOUT_MS 2000
#define LIST_PAGE 1000
#define JEPSEN_UNIT "JEPSEN"

typedef struct opts
{
    const char *workload;
    const char *endpoints;
    const char *identity;
    const char *out;
    const char *ids;
    const char *final_path;
    int64_t process;
    int64_t stride;
    double duration_s;
    double rate;
    double retry_s;
    uint64_t seed;
    uint64_t case_id;
    const char *admin;
    char **admin_args;
    int n_admin_args;
} opts;

typedef struct known
{
    uint64_t id;
    int status; /* -1 = unknown */
    uint32_t version;
} known;

typedef struct client
{
    opts o;
    ratusz *h;
    FILE *out;
    FILE *ids;
    uint64_t *id_list;
    size_t n_ids;
    known hot[HOT_IDS * 4];
    size_t n_hot;
    uint64_t rng;
    uint64_t n_ops;
    uint64_t n_info;
} client;

static const char *const status_names[] = {
    "NEW", "TRIAGE", "ROUTED", "IN_PROGRESS", "ON_HOLD", "RESOLVED", "CLOSED"};

/* DESIGN.md §2 lifecycle: allowed[from] lists the targets. */
static const int allowed[7][4] = {
    {1, 2, 6, -1},  /* NEW -> TRIAGE, ROUTED, CLOSED */
    {2, 6, -1, -1}, /* TRIAGE -> ROUTED, CLOSED */
    {3, 2, 1, 6},   /* ROUTED -> IN_PROGRESS, ROUTED, TRIAGE, CLOSED */
    {4, 5, 1, -1},  /* IN_PROGRESS -> ON_HOLD, RESOLVED, TRIAGE */
    {3, 5, 6, -1},  /* ON_HOLD -> IN_PROGRESS, RESOLVED, CLOSED */
    {6, 3, -1, -1}, /* RESOLVED -> CLOSED, IN_PROGRESS */
    {3, -1, -1, -1} /* CLOSED -> IN_PROGRESS (reopen) */
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void sleep_ns(uint64_t ns)
{
    struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000u),
                          .tv_nsec = (long)(ns % 1000000000u)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* xorshift64*: a seeded, reproducible stream per client. */
static uint64_t rnd(client *c)
{
    c->rng ^= c->rng >> 12;
    c->rng ^= c->rng << 25;
    c->rng ^= c->rng >> 27;
    return c->rng * 2685821657736338717u;
}

static double rnd01(client *c)
{
    return (double)(rnd(c) >> 11) / 9007199254740992.0;
}

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("rz-jepsen-client: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

/* One history line; `rest` is the JSON after time_ns (starts with ',' or
 * is ""). Flushed at once so a killed harness loses at most a line. */
static void emit(client *c, const char *type, const char *f, uint64_t key,
                 const char *rest)
{
    char keybuf[32] = "";
    if (key != 0) {
        snprintf(keybuf, sizeof(keybuf), ",\"key\":\"%" PRIu64 "\"", key);
    }
    fprintf(c->out,
            "{\"process\":%" PRId64 ",\"type\":\"%s\",\"f\":\"%s\"%s,"
            "\"time_ns\":%" PRIu64 "%s}\n",
            c->o.process, type, f, keybuf, now_ns(), rest);
    fflush(c->out);
}

/* Outcome of a write error: 1 = definite failure (the command was refused
 * or rejected identically by every replica), 0 = unknown. */
static int definite(int err)
{
    switch (err) {
    case RATUSZ_EVERSION:
    case RATUSZ_ENOCASE:
    case RATUSZ_EBADSTATUS:
    case RATUSZ_ENOUNIT:
    case RATUSZ_EMERGED:
    case RATUSZ_EINVAL:
    case RATUSZ_EUTF8:
    case RATUSZ_EDENIED:
    case RATUSZ_EPERM:
    case RATUSZ_EAUTH:
    case RATUSZ_EEXPIRED:
    case RATUSZ_ETOOBIG:
        return 1;
    default:
        return 0;
    }
}

static const char *fail_reason(int err)
{
    switch (err) {
    case RATUSZ_EVERSION:
        return "version-mismatch";
    case RATUSZ_ENOCASE:
        return "not-found";
    case RATUSZ_EBADSTATUS:
        return "bad-status";
    default:
        return ratusz_errname(err);
    }
}

static void new_process(client *c)
{
    c->o.process += c->o.stride;
    c->n_info++;
}

/* Reads ids other clients appended to the shared file since last time. */
static void ids_refresh(client *c)
{
    char line[64];
    if (c->ids == NULL && c->o.ids != NULL) {
        c->ids = fopen(c->o.ids, "r"); /* may not exist yet */
    }
    if (c->ids == NULL) {
        return;
    }
    clearerr(c->ids);
    while (fgets(line, sizeof(line), c->ids) != NULL) {
        size_t n = strlen(line);
        if (n == 0 || line[n - 1] != '\n') {
            /* a line being written: read it again next time */
            fseek(c->ids, -(long)n, SEEK_CUR);
            break;
        }
        uint64_t id = strtoull(line, NULL, 10);
        if (id != 0 && c->n_ids < MAX_IDS) {
            c->id_list[c->n_ids++] = id;
        }
    }
}

static void ids_publish(client *c, uint64_t id)
{
    FILE *f;
    if (c->o.ids == NULL) {
        return;
    }
    /* O_APPEND: a short line lands whole even with other writers */
    f = fopen(c->o.ids, "a");
    if (f != NULL) {
        fprintf(f, "%" PRIu64 "\n", id);
        fclose(f);
    }
}

static known *hot_get(client *c, uint64_t id)
{
    for (size_t i = 0; i < c->n_hot; i++) {
        if (c->hot[i].id == id) {
            return &c->hot[i];
        }
    }
    if (c->n_hot == sizeof(c->hot) / sizeof(c->hot[0])) {
        memmove(&c->hot[0], &c->hot[1], sizeof(c->hot[0]) * (c->n_hot - 1));
        c->n_hot--;
    }
    c->hot[c->n_hot] = (known){.id = id, .status = -1, .version = 0};
    return &c->hot[c->n_hot++];
}

static int retry_until(client *c, uint64_t t0)
{
    return now_ns() - t0 < (uint64_t)(c->o.retry_s * 1e9);
}

/* A create, retried with its request_id until its outcome is known. */
static void op_create(client *c)
{
    char tag[96], rest[256];
    ratusz_outcome oc;
    ratusz_call call;
    ratusz_case_new cn;
    ratusz_created cr;
    uint64_t t0 = now_ns();
    int err;
    snprintf(tag, sizeof(tag), "jepsen-%" PRIu64 "-p%" PRId64 "-%" PRIu64,
             c->o.seed, c->o.process, c->n_ops);
    snprintf(rest, sizeof(rest), ",\"value\":null,\"tag\":\"%s\"", tag);
    emit(c, "invoke", "create", 0, rest);
    memset(&call, 0, sizeof(call));
    call.timeout_ms = OP_TIMEOUT_MS;
    call.outcome = &oc;
    ratusz_case_new_init(&cn);
    cn.description = tag;
    cn.channel = RATUSZ_CHANNEL_INTERNAL;
    for (;;) {
        memset(&oc, 0, sizeof(oc));
        err = ratusz_case_create(c->h, &call, &cn, &cr);
        if (err == 0 || definite(err) || !retry_until(c, t0)) {
            break;
        }
        memcpy(call.request_id, oc.request_id, sizeof(call.request_id));
    }
    if (err == 0) {
        const char *st =
            cr.status <= RATUSZ_STATUS_CLOSED ? status_names[cr.status] : "?";
        snprintf(rest, sizeof(rest),
                 ",\"value\":{\"status\":\"%s\",\"version\":%u},"
                 "\"tag\":\"%s\",\"index\":%" PRIu64,
                 st, cr.version, tag, cr.index);
        emit(c, "ok", "create", cr.case_id, rest);
        known *k = hot_get(c, cr.case_id);
        k->status = (int)cr.status;
        k->version = cr.version;
        ids_publish(c, cr.case_id);
    } else if (definite(err)) {
        snprintf(rest, sizeof(rest),
                 ",\"value\":null,\"tag\":\"%s\",\"error\":\"%s\"", tag,
                 ratusz_errname(err));
        emit(c, "fail", "create", 0, rest);
    } else {
        snprintf(rest, sizeof(rest),
                 ",\"value\":null,\"tag\":\"%s\",\"error\":\"%s\"", tag,
                 ratusz_errname(err));
        emit(c, "info", "create", 0, rest);
        new_process(c);
    }
}

static void op_read(client *c, uint64_t id)
{
    char rest[160];
    ratusz_call call;
    ratusz_case_info *info = NULL;
    int err;
    emit(c, "invoke", "read", id, ",\"value\":null");
    memset(&call, 0, sizeof(call));
    call.timeout_ms = OP_TIMEOUT_MS;
    err = ratusz_case_get(c->h, &call, id, false, &info);
    if (err == 0) {
        int st = (int)info->c.status;
        snprintf(rest, sizeof(rest),
                 ",\"value\":{\"status\":\"%s\",\"version\":%u}",
                 st >= 0 && st <= 6 ? status_names[st] : "?", info->c.version);
        emit(c, "ok", "read", id, rest);
        known *k = hot_get(c, id);
        k->status = st;
        k->version = info->c.version;
        ratusz_case_info_free(info);
    } else if (err == RATUSZ_ENOCASE) {
        emit(c, "ok", "read", id, ",\"value\":null");
    } else {
        /* a read that failed changed nothing: a definite failure */
        snprintf(rest, sizeof(rest), ",\"value\":null,\"error\":\"%s\"",
                 ratusz_errname(err));
        emit(c, "fail", "read", id, rest);
    }
}

static void op_set_status(client *c, uint64_t id)
{
    char val[160], rest[320];
    ratusz_outcome oc;
    ratusz_call call;
    ratusz_update u;
    ratusz_write_result wr;
    uint64_t t0 = now_ns();
    known *k = hot_get(c, id);
    int from = k->status, to;
    const char *via;
    int err;
    if (from < 0) {
        op_read(c, id);
        return;
    }
    /* 95% an allowed move, else any status (bad-status refusals) */
    if (rnd01(c) < 0.95) {
        int n = 0;
        while (n < 4 && allowed[from][n] >= 0) {
            n++;
        }
        to = allowed[from][rnd(c) % (uint64_t)n];
    } else {
        to = (int)(rnd(c) % 7u);
    }
    memset(&u, 0, sizeof(u));
    u.case_id = id;
    /* 85% the version we last saw (it may be stale: a mismatch) */
    u.expected_version = rnd01(c) < 0.85
                             ? k->version
                             : (uint32_t)(1 + rnd(c) % (k->version + 2u));
    if (to == RATUSZ_STATUS_ROUTED) {
        via = "route";
        u.op = RATUSZ_OP_ROUTE;
        u.unit_id = JEPSEN_UNIT;
    } else if (from == RATUSZ_STATUS_CLOSED &&
               to == RATUSZ_STATUS_IN_PROGRESS) {
        via = "reopen";
        u.op = RATUSZ_OP_REOPEN;
        u.text = "jepsen reopen";
    } else {
        via = "status";
        u.op = RATUSZ_OP_STATUS;
        u.status = (ratusz_case_status)to;
    }
    snprintf(val, sizeof(val),
             "{\"status\":\"%s\",\"expected_version\":%u,\"via\":\"%s\"}",
             status_names[to], u.expected_version, via);
    snprintf(rest, sizeof(rest), ",\"value\":%s", val);
    emit(c, "invoke", "set-status", id, rest);
    memset(&call, 0, sizeof(call));
    call.timeout_ms = OP_TIMEOUT_MS;
    call.outcome = &oc;
    for (;;) {
        memset(&oc, 0, sizeof(oc));
        err = ratusz_case_update(c->h, &call, &u, &wr);
        if (err == 0 || definite(err) || !retry_until(c, t0)) {
            break;
        }
        memcpy(call.request_id, oc.request_id, sizeof(call.request_id));
    }
    if (err == 0) {
        snprintf(rest, sizeof(rest),
                 ",\"value\":{\"status\":\"%s\",\"version\":%u,\"via\":"
                 "\"%s\"},\"index\":%" PRIu64,
                 status_names[to], wr.version, via, wr.index);
        emit(c, "ok", "set-status", id, rest);
        k = hot_get(c, id);
        k->status = to;
        k->version = wr.version;
    } else if (definite(err)) {
        snprintf(rest, sizeof(rest), ",\"value\":%s,\"error\":\"%s\"", val,
                 fail_reason(err));
        emit(c, "fail", "set-status", id, rest);
        if (err == RATUSZ_EVERSION && oc.current_version != 0) {
            k = hot_get(c, id);
            k->version = oc.current_version;
            k->status = -1; /* version known, status not: read first */
        }
    } else {
        snprintf(rest, sizeof(rest), ",\"value\":%s,\"error\":\"%s\"", val,
                 ratusz_errname(err));
        emit(c, "info", "set-status", id, rest);
        k = hot_get(c, id);
        k->status = -1;
        new_process(c);
    }
}

static uint64_t pick_case(client *c)
{
    if (c->o.case_id != 0) {
        return c->o.case_id;
    }
    ids_refresh(c);
    if (c->n_ids == 0) {
        return 0;
    }
    size_t window = c->n_ids < HOT_IDS ? c->n_ids : HOT_IDS;
    return c->id_list[c->n_ids - 1 - (size_t)(rnd(c) % window)];
}

static void run_ops(client *c)
{
    uint64_t start = now_ns();
    uint64_t end = start + (uint64_t)(c->o.duration_s * 1e9);
    double gap_ns = 1e9 / c->o.rate;
    double next = (double)start + rnd01(c) * gap_ns;
    while (now_ns() < end) {
        uint64_t t = now_ns();
        if ((double)t < next) {
            sleep_ns((uint64_t)(next - (double)t));
        }
        /* pacing with jitter: mean gap 1/rate */
        next += gap_ns * (0.5 + rnd01(c));
        if ((double)now_ns() > next + 5e9) {
            next = (double)now_ns(); /* do not burst after a long stall */
        }
        c->n_ops++;
        int wl_set = strcmp(c->o.workload, "set") == 0;
        int wl_reg = strcmp(c->o.workload, "register") == 0;
        uint64_t id = wl_set ? 0 : pick_case(c);
        double p = rnd01(c);
        if (!wl_reg && (id == 0 || wl_set || p < 0.25)) {
            op_create(c);
        } else if (p < 0.6) {
            op_read(c, id);
        } else {
            op_set_status(c, id);
        }
    }
}

/* The number of events the harness's final listing holds (one integer in
 * FILE, written after the listing), or 0 while the file does not exist. */
static uint64_t final_events(const char *path)
{
    FILE *f = fopen(path, "r");
    unsigned long long n = 0;
    if (f == NULL) {
        return 0;
    }
    if (fscanf(f, "%llu", &n) != 1) {
        n = 0;
    }
    fclose(f);
    return n;
}

static void run_watch(client *c)
{
    ratusz_watch *w = NULL;
    ratusz_call call;
    const ratusz_event *ev;
    uint64_t end = now_ns() + (uint64_t)(c->o.duration_s * 1e9);
    /* after the run, at most 60 s to catch up with the final listing */
    uint64_t give_up = end + 200ull * 1000000000u;
    uint64_t n_seen = 0, target = 0;
    int err;
    memset(&call, 0, sizeof(call));
    call.timeout_ms = 10000;
    for (;;) {
        err = ratusz_watch_open(c->h, &call, 1, 0, &w);
        if (err == 0) {
            break;
        }
        if (now_ns() > give_up) {
            die("cannot open a watch: %s", ratusz_errname(err));
        }
        sleep_ns(200000000u);
    }
    for (;;) {
        err = ratusz_watch_next(w, 500, &ev);
        if (err == 0) {
            fprintf(c->out,
                    "{\"kind\":\"event\",\"case_id\":%" PRIu64 ",\"seq\":%u,"
                    "\"revision\":%" PRIu64 ",\"type\":%d,\"time_ns\":%" PRIu64
                    "}\n",
                    ev->case_id, ev->seq, ev->revision, (int)ev->type,
                    now_ns());
            fflush(c->out);
            n_seen++;
        } else if (err != RATUSZ_ETIMEDOUT) {
            fprintf(c->out,
                    "{\"kind\":\"error\",\"error\":\"%s\",\"time_ns\":%" PRIu64
                    "}\n",
                    ratusz_errname(err), now_ns());
            if (err == RATUSZ_EDENIED || err == RATUSZ_EAUTH ||
                err == RATUSZ_ECANCELED) {
                break;
            }
            sleep_ns(100000000u);
        }
        if (now_ns() > end && c->o.final_path != NULL && target == 0) {
            target = final_events(c->o.final_path);
        }
        if (target != 0 && n_seen >= target) {
            uint64_t rev = 0;
            uint32_t sub = 0;
            ratusz_watch_position(w, &rev, &sub);
            fprintf(c->out,
                    "{\"kind\":\"caught-up\",\"events\":%" PRIu64
                    ",\"position\":%" PRIu64 ",\"time_ns\":%" PRIu64 "}\n",
                    n_seen, rev, now_ns());
            break;
        }
        if (now_ns() > give_up) {
            break;
        }
        if (now_ns() > end && c->o.final_path == NULL) {
            break;
        }
    }
    fflush(c->out);
    ratusz_watch_close(w);
}

/* ---- admin commands ---------------------------------------------------- */

static void hex(char *dst, const uint8_t *src, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        snprintf(dst + 2 * i, 3, "%02x", src[i]);
    }
}

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s != '\0'; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') {
            fprintf(f, "\\%c", ch);
        } else if (ch < 0x20) {
            fprintf(f, "\\u%04x", ch);
        } else {
            fputc(ch, f);
        }
    }
    fputc('"', f);
}

/* Retries an admin call for up to 60 s on outcomes that are not final. */
#define ADMIN_RETRY(expr)                                                    \
    do {                                                                     \
        uint64_t t0_ = now_ns();                                             \
        for (;;) {                                                           \
            err = (expr);                                                    \
            if (err == 0 || definite(err) ||                                 \
                now_ns() - t0_ > 60ull * 1000000000u) {                      \
                break;                                                       \
            }                                                                \
            memcpy(call.request_id, oc.request_id, sizeof(call.request_id)); \
        }                                                                    \
    } while (0)

static int admin_list(client *c, const char *path)
{
    ratusz_call call;
    ratusz_outcome oc;
    ratusz_list_filter flt;
    ratusz_page *page = NULL;
    char tmp[4096];
    int err = 0;
    uint64_t index = 0, n = 0;
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (f == NULL) {
        die("cannot write %s: %s", tmp, strerror(errno));
    }
    memset(&call, 0, sizeof(call));
    call.timeout_ms = 10000;
    call.outcome = &oc;
    ratusz_list_filter_init(&flt);
    flt.limit = LIST_PAGE;
    fputs("{\"cases\":[", f);
    for (;;) {
        ADMIN_RETRY(ratusz_case_list(c->h, &call, &flt, &page));
        if (err != 0) {
            fprintf(stderr, "list: %s (%s)\n", ratusz_errname(err), oc.message);
            fclose(f);
            return 1;
        }
        if (index == 0) {
            index = page->index;
        }
        for (size_t i = 0; i < page->n_cases; i++) {
            const ratusz_case *cs = &page->cases[i];
            fprintf(f,
                    "%s\n{\"case_id\":%" PRIu64 ",\"status\":\"%s\","
                    "\"version\":%u,\"n_events\":%u,\"tag\":",
                    n++ == 0 ? "" : ",", cs->case_id,
                    (int)cs->status >= 0 && (int)cs->status <= 6
                        ? status_names[cs->status]
                        : "?",
                    cs->version, cs->n_events);
            json_str(f, cs->description);
            fputc('}', f);
        }
        uint64_t next = page->next_cursor;
        ratusz_page_free(page);
        page = NULL;
        if (next == 0) {
            break;
        }
        flt.cursor = next;
    }
    fprintf(f, "\n],\"index\":%" PRIu64 "}\n", index);
    if (fclose(f) != 0 || rename(tmp, path) != 0) {
        die("cannot write %s: %s", path, strerror(errno));
    }
    return 0;
}

static int admin(client *c)
{
    ratusz_call call;
    ratusz_outcome oc;
    int err = 0;
    const char *cmd = c->o.admin;
    char **av = c->o.admin_args;
    int ac = c->o.n_admin_args;
    memset(&call, 0, sizeof(call));
    memset(&oc, 0, sizeof(oc));
    call.timeout_ms = 10000;
    call.outcome = &oc;
    if (strcmp(cmd, "setup") == 0) {
        ratusz_catalog_item it = {.type = RATUSZ_CATALOG_UNIT,
                                  .code = JEPSEN_UNIT,
                                  .name = "jepsen test unit"};
        ratusz_write_result wr;
        ADMIN_RETRY(ratusz_catalog_upsert(c->h, &call, &it, 1, &wr));
    } else if (strcmp(cmd, "create") == 0) {
        ratusz_case_new cn;
        ratusz_created cr;
        ratusz_case_new_init(&cn);
        cn.description = "jepsen-register";
        ADMIN_RETRY(ratusz_case_create(c->h, &call, &cn, &cr));
        if (err == 0) {
            printf("%" PRIu64 " %s %u\n", cr.case_id,
                   cr.status <= RATUSZ_STATUS_CLOSED ? status_names[cr.status]
                                                     : "?",
                   cr.version);
        }
    } else if (strcmp(cmd, "list") == 0 && ac == 1) {
        return admin_list(c, av[0]);
    } else if (strcmp(cmd, "checksum") == 0) {
        ratusz_checksum_info ci;
        char h1[65], h2[65];
        const char *ep = c->o.endpoints;
        err = ratusz_checksum(c->h, &call, ep, false, &ci);
        if (err == 0) {
            hex(h1, ci.checksum, 32);
            hex(h2, ci.data_checksum, 32);
            printf("{\"node_id\":%" PRIu64 ",\"applied_index\":%" PRIu64
                   ",\"checksum\":\"%s\",\"data_checksum\":\"%s\"}\n",
                   ci.node_id, ci.applied_index, h1, h2);
        }
    } else if (strcmp(cmd, "member-add") == 0 && ac == 2) {
        ADMIN_RETRY(ratusz_member_add(c->h, &call, strtoull(av[0], NULL, 10),
                                      av[1], NULL));
        if (err == RATUSZ_EEXISTS) {
            err = 0; /* a retry after an unknown outcome: done */
        }
    } else if (strcmp(cmd, "member-promote") == 0 && ac == 1) {
        ADMIN_RETRY(ratusz_member_promote(c->h, &call,
                                          strtoull(av[0], NULL, 10), NULL));
    } else if (strcmp(cmd, "member-remove") == 0 && ac == 1) {
        ADMIN_RETRY(ratusz_member_remove(c->h, &call, strtoull(av[0], NULL, 10),
                                         false, NULL));
        if (err == RATUSZ_ENOTFOUND) {
            err = 0;
        }
    } else {
        die("unknown admin command %s (or wrong arguments)", cmd);
    }
    if (err != 0) {
        fprintf(stderr, "%s: %s (%s)\n", cmd, ratusz_errname(err), oc.message);
        return 1;
    }
    return 0;
}

/* ---- main -------------------------------------------------------------- */

static const char *usage =
    "usage: rz-jepsen-client --endpoints H:P,... --identity FILE\n"
    "         --workload cases|set|register|watch --out FILE\n"
    "         [--process P --stride S --duration-s D --rate R --seed N]\n"
    "         [--ids FILE] [--case ID] [--final FILE] [--retry-s S]\n"
    "       rz-jepsen-client --endpoints ... --identity FILE --admin CMD "
    "[ARGS]\n";

static double num_arg(const char *name, const char *v, double lo, double hi)
{
    char *end = NULL;
    double d = strtod(v, &end);
    if (end == v || *end != '\0' || d < lo || d > hi) {
        die("%s: %s is not a number in %g..%g", name, v, lo, hi);
    }
    return d;
}

static void parse(opts *o, int argc, char **argv)
{
    o->workload = "cases";
    o->stride = 1;
    o->duration_s = 10;
    o->rate = 10;
    o->retry_s = 30;
    o->seed = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--admin") == 0 && v != NULL) {
            o->admin = v;
            o->admin_args = &argv[i + 2];
            o->n_admin_args = argc - i - 2;
            return;
        }
        if (v == NULL) {
            die("%s needs a value\n%s", a, usage);
        }
        i++;
        if (strcmp(a, "--workload") == 0) {
            o->workload = v;
        } else if (strcmp(a, "--endpoints") == 0) {
            o->endpoints = v;
        } else if (strcmp(a, "--identity") == 0) {
            o->identity = v;
        } else if (strcmp(a, "--out") == 0) {
            o->out = v;
        } else if (strcmp(a, "--ids") == 0) {
            o->ids = v;
        } else if (strcmp(a, "--final") == 0) {
            o->final_path = v;
        } else if (strcmp(a, "--process") == 0) {
            o->process = (int64_t)num_arg(a, v, 0, 1e12);
        } else if (strcmp(a, "--stride") == 0) {
            o->stride = (int64_t)num_arg(a, v, 1, 1e6);
        } else if (strcmp(a, "--duration-s") == 0) {
            o->duration_s = num_arg(a, v, 0, 1e6);
        } else if (strcmp(a, "--rate") == 0) {
            o->rate = num_arg(a, v, 0.001, 1e5);
        } else if (strcmp(a, "--retry-s") == 0) {
            o->retry_s = num_arg(a, v, 0, 3600);
        } else if (strcmp(a, "--seed") == 0) {
            o->seed = (uint64_t)num_arg(a, v, 0, 1e15);
        } else if (strcmp(a, "--case") == 0) {
            o->case_id = (uint64_t)num_arg(a, v, 1, 1e15);
        } else {
            die("unknown option %s\n%s", a, usage);
        }
    }
}

int main(int argc, char **argv)
{
    static client c;
    char errmsg[RATUSZ_ERRMSG_BYTES] = "";
    char eps[RATUSZ_MAX_ENDPOINTS * RATUSZ_ADDRESS_BYTES];
    const char *ep[RATUSZ_MAX_ENDPOINTS];
    size_t n_ep = 0;
    int rc = 0;
    parse(&c.o, argc, argv);
    if (c.o.endpoints == NULL || c.o.identity == NULL) {
        die("--endpoints and --identity are required\n%s", usage);
    }
    snprintf(eps, sizeof(eps), "%s", c.o.endpoints);
    for (char *save = NULL, *t = strtok_r(eps, ",", &save);
         t != NULL && n_ep < RATUSZ_MAX_ENDPOINTS;
         t = strtok_r(NULL, ",", &save)) {
        ep[n_ep++] = t;
    }
    ratusz_options ro = {.endpoints = ep,
                         .n_endpoints = n_ep,
                         .identity_path = c.o.identity,
                         .timeout_ms = OP_TIMEOUT_MS,
                         .connect_timeout_ms = 1000};
    int err = ratusz_open(&ro, &c.h, errmsg);
    if (err != 0) {
        die("cannot open the client: %s (%s)", ratusz_errname(err), errmsg);
    }
    if (c.o.admin != NULL) {
        rc = admin(&c);
        ratusz_close(c.h);
        return rc;
    }
    if (c.o.out == NULL) {
        die("--out is required\n%s", usage);
    }
    c.out = fopen(c.o.out, "a");
    if (c.out == NULL) {
        die("cannot write %s: %s", c.o.out, strerror(errno));
    }
    c.rng = c.o.seed * 0x9E3779B97F4A7C15u + (uint64_t)c.o.process + 1u;
    if (strcmp(c.o.workload, "watch") == 0) {
        run_watch(&c);
    } else if (strcmp(c.o.workload, "cases") == 0 ||
               strcmp(c.o.workload, "set") == 0 ||
               strcmp(c.o.workload, "register") == 0) {
        if (strcmp(c.o.workload, "register") == 0 && c.o.case_id == 0) {
            die("--workload register needs --case ID");
        }
        c.id_list = calloc(MAX_IDS, sizeof(*c.id_list));
        if (c.id_list == NULL) {
            die("out of memory");
        }
        run_ops(&c);
        fprintf(stderr, "ops %" PRIu64 ", unknown outcomes %" PRIu64 "\n",
                c.n_ops, c.n_info);
    } else {
        die("unknown workload %s", c.o.workload);
    }
    if (c.ids != NULL) {
        fclose(c.ids);
    }
    free(c.id_list);
    fclose(c.out);
    ratusz_close(c.h);
    return rc;
}
