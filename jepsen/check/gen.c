/* gen: synthetic case histories for tests and benchmarks of the checker.
 *
 * P processes run N operations over K cases against a simulated, correct
 * case store: each operation gets an invocation time, a linearization point
 * and a return time; the store applies operations in linearization-point
 * order, so the history is linearizable by construction. With a break, one
 * operation is made subtly wrong in a way no linearization can explain. */
#include "check_int.h"

#include "common/common.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

enum { G_CREATE, G_SET_STATUS, G_READ };

typedef struct gop
{
    int64_t inv, lin, ret;
    int64_t process;
    uint32_t case_id;
    uint8_t kind;
    bool info;    /* outcome unknown to the client */
    bool applied; /* info ops: whether it took effect */
    bool ok;
    uint8_t fail; /* rz_check_fail_reason when !ok */
    uint8_t target;
    int64_t expected;
    uint8_t out_status; /* NONE = not found */
    int64_t out_version;
} gop;

typedef struct gcase
{
    bool exists;
    uint8_t status;
    int64_t version;
    int64_t create_op; /* -1 until created */
    int64_t last_mut;  /* last applied ok set-status, -1 if none */
    uint8_t before_status;
    int64_t before_version;
} gcase;

typedef struct gen
{
    uint64_t rng;
    gop *ops;
    uint32_t *by_lin; /* op indices in linearization order */
    int64_t *next_same;
    gcase *cases;
    const rz_check_gen_options *o;
    bool broken;
    size_t k;          /* linearization index being applied */
    size_t break_from; /* breaks only from here on: somewhere random */
} gen;

static uint64_t rnd(gen *g, uint64_t n)
{
    return rz_check__mix(&g->rng) % n;
}

static double rnd01(gen *g)
{
    return (double)(rz_check__mix(&g->rng) >> 11) / 9007199254740992.0;
}

typedef struct lin_key
{
    int64_t lin;
    uint32_t op;
} lin_key;

static int lin_key_cmp(const void *pa, const void *pb)
{
    const lin_key *a = pa, *b = pb;
    if (a->lin != b->lin) {
        return a->lin < b->lin ? -1 : 1;
    }
    return (a->op > b->op) - (a->op < b->op);
}

/* Allowed targets of `from`, for picking a valid status change. */
static uint8_t pick_target(gen *g, uint8_t from)
{
    uint8_t opts[RZ_CHECK_STATUS_COUNT];
    size_t n = 0;
    for (uint8_t t = 1; t < RZ_CHECK_STATUS_COUNT; t++) {
        if (rz_check_status_allowed((rz_check_status)from,
                                    (rz_check_status)t)) {
            opts[n++] = t;
        }
    }
    RZ_ASSERT(n > 0);
    return opts[rnd(g, n)];
}

static void apply_set_status(gen *g, gop *op, gcase *c)
{
    rz_check_break br = g->o->breaks;
    bool force = false;
    if (!c->exists) {
        op->target = (uint8_t)(1u + rnd(g, RZ_CHECK_STATUS_COUNT - 1u));
        op->expected = (int64_t)rnd(g, 3);
        op->ok = false;
        op->fail = RZ_CHECK_FAIL_NOT_FOUND;
        return;
    }
    if (!g->broken && !op->info && g->k >= g->break_from &&
        (br == RZ_CHECK_BREAK_VERSION_JUMP ||
         br == RZ_CHECK_BREAK_LOST_WRITE)) {
        force = br == RZ_CHECK_BREAK_VERSION_JUMP;
        if (br == RZ_CHECK_BREAK_LOST_WRITE) {
            int64_t nx = g->next_same[op - g->ops];
            force = nx >= 0 && g->ops[nx].kind == G_READ && !g->ops[nx].info &&
                    g->ops[nx].inv > op->ret;
        }
    }
    op->expected = force || rnd01(g) < 0.85            ? c->version
                   : rnd(g, 2) == 0 || c->version <= 1 ? c->version + 1
                                                       : c->version - 1;
    op->target = force || rnd01(g) < 0.95
                     ? pick_target(g, c->status)
                     : (uint8_t)(1u + rnd(g, RZ_CHECK_STATUS_COUNT - 1u));
    if (op->expected != c->version) {
        op->ok = false;
        op->fail = RZ_CHECK_FAIL_VERSION_MISMATCH;
        return;
    }
    if (!rz_check_status_allowed((rz_check_status)c->status,
                                 (rz_check_status)op->target)) {
        op->ok = false;
        op->fail = RZ_CHECK_FAIL_BAD_STATUS;
        return;
    }
    op->ok = true;
    op->out_version = c->version + 1;
    if (op->info && !op->applied) {
        return;
    }
    if (force && br == RZ_CHECK_BREAK_LOST_WRITE) {
        g->broken = true; /* acknowledged, never applied */
        return;
    }
    if (force && br == RZ_CHECK_BREAK_VERSION_JUMP) {
        g->broken = true;
        op->out_version = c->version + 2;
    }
    if (!op->info) {
        c->last_mut = op - g->ops;
        c->before_status = c->status;
        c->before_version = c->version;
    } else {
        c->last_mut = -1; /* an unknown write may be left out: no stale */
    }
    c->status = op->target;
    c->version = op->out_version;
}

static void apply_read(gen *g, gop *op, gcase *c)
{
    rz_check_break br = g->o->breaks;
    op->ok = true;
    op->out_status = c->exists ? c->status : RZ_CHECK_STATUS_NONE;
    op->out_version = c->version;
    if (g->broken || op->info || !c->exists || g->k < g->break_from) {
        return;
    }
    if (br == RZ_CHECK_BREAK_STALE_READ && c->last_mut >= 0 &&
        g->ops[c->last_mut].ret < op->inv) {
        op->out_status = c->before_status;
        op->out_version = c->before_version;
        g->broken = true;
    } else if (br == RZ_CHECK_BREAK_DUPLICATE_CREATE && c->create_op >= 0 &&
               !g->ops[c->create_op].info &&
               g->ops[c->create_op].ret < op->inv) {
        op->kind = G_CREATE;
        op->out_status = RZ_CHECK_STATUS_NEW;
        op->out_version = 1;
        g->broken = true;
    }
}

static void apply_all(gen *g)
{
    size_t n = (size_t)g->o->n_ops;
    for (size_t k = 0; k < n; k++) {
        gop *op = &g->ops[g->by_lin[k]];
        gcase *c = &g->cases[op->case_id];
        g->k = k;
        op->applied = !op->info || rnd(g, 2) == 0;
        switch (op->kind) {
        case G_CREATE:
            RZ_ASSERT(!c->exists);
            op->ok = true;
            op->out_status =
                rnd(g, 2) == 0 ? RZ_CHECK_STATUS_NEW : RZ_CHECK_STATUS_ROUTED;
            op->out_version = 1;
            if (op->applied) {
                c->exists = true;
                c->status = op->out_status;
                c->version = 1;
                c->create_op = (int64_t)g->by_lin[k];
            }
            break;
        case G_SET_STATUS:
            apply_set_status(g, op, c);
            break;
        default:
            apply_read(g, op, c);
            break;
        }
    }
}

typedef struct gevent
{
    int64_t time;
    uint32_t op;
    bool is_ret;
} gevent;

static int gevent_cmp(const void *pa, const void *pb)
{
    const gevent *a = pa, *b = pb;
    if (a->time != b->time) {
        return a->time < b->time ? -1 : 1;
    }
    if (a->is_ret != b->is_ret) {
        return a->is_ret ? 1 : -1;
    }
    return (a->op > b->op) - (a->op < b->op);
}

static const char *status_str(uint8_t s)
{
    return rz_check_status_name((rz_check_status)s);
}

static void write_event(FILE *out, const gop *op, bool is_ret)
{
    static const char *const fnames[] = {"create", "set-status", "read"};
    const char *type = !is_ret    ? "invoke"
                       : op->info ? "info"
                       : op->ok   ? "ok"
                                  : "fail";
    fprintf(out, "{\"process\":%" PRId64 ",\"type\":\"%s\",\"f\":\"%s\"",
            op->process, type, fnames[op->kind]);
    if (op->kind != G_CREATE || is_ret) {
        fprintf(out, ",\"key\":\"%u\"", op->case_id);
    }
    if (op->kind == G_SET_STATUS && (!is_ret || op->info || !op->ok)) {
        fprintf(out,
                ",\"value\":{\"status\":\"%s\",\"expected_version\":%" PRId64
                "}",
                status_str(op->target), op->expected);
    } else if (!is_ret || op->info) {
        fprintf(out, ",\"value\":null");
    } else if (op->kind == G_SET_STATUS) {
        fprintf(out, ",\"value\":{\"status\":\"%s\",\"version\":%" PRId64 "}",
                status_str(op->target), op->out_version);
    } else if (op->out_status == RZ_CHECK_STATUS_NONE) {
        fprintf(out, ",\"value\":null");
    } else {
        fprintf(out, ",\"value\":{\"status\":\"%s\",\"version\":%" PRId64 "}",
                status_str(op->out_status), op->out_version);
    }
    if (is_ret && !op->info && !op->ok) {
        static const char *const why[] = {"other", "version-mismatch",
                                          "not-found", "bad-status"};
        fprintf(out, ",\"error\":\"%s\"", why[op->fail]);
    }
    fprintf(out, ",\"time_ns\":%" PRId64 "}\n", is_ret ? op->ret : op->inv);
}

int rz_check_gen_write(FILE *out, const rz_check_gen_options *o)
{
    gen g;
    size_t n;
    int64_t *free_at = NULL, *proc_id = NULL, *last_on_case = NULL;
    bool *created = NULL;
    gevent *ev = NULL;
    int rv = RZ_ENOMEM;

    RZ_PRE(out != NULL && o != NULL);
    if (o->n_ops == 0 || o->n_cases == 0 || o->n_processes == 0 ||
        o->n_ops > RZ_CHECK_MAX_OPS || o->info_rate < 0 || o->info_rate > 1) {
        return RZ_EINVAL;
    }
    n = (size_t)o->n_ops;
    memset(&g, 0, sizeof(g));
    g.o = o;
    g.rng = o->seed;
    g.ops = calloc(n, sizeof(*g.ops));
    g.by_lin = malloc(n * sizeof(*g.by_lin));
    g.next_same = malloc(n * sizeof(*g.next_same));
    g.cases = calloc((size_t)o->n_cases + 1u, sizeof(*g.cases));
    free_at = calloc(o->n_processes, sizeof(*free_at));
    proc_id = malloc(o->n_processes * sizeof(*proc_id));
    created = calloc((size_t)o->n_cases + 1u, sizeof(*created));
    last_on_case = malloc(((size_t)o->n_cases + 1u) * sizeof(*last_on_case));
    ev = malloc(2u * n * sizeof(*ev));
    if (g.ops == NULL || g.by_lin == NULL || g.next_same == NULL ||
        g.cases == NULL || free_at == NULL || proc_id == NULL ||
        created == NULL || last_on_case == NULL || ev == NULL) {
        goto out;
    }
    for (uint32_t p = 0; p < o->n_processes; p++) {
        proc_id[p] = p;
    }
    for (uint32_t c = 0; c <= o->n_cases; c++) {
        g.cases[c].create_op = -1;
        g.cases[c].last_mut = -1;
        last_on_case[c] = -1;
    }
    /* Shells: who, when, which case, what kind. A process runs one
     * operation at a time; after an unknown outcome Jepsen retires the
     * process and a fresh one takes its place. */
    for (size_t i = 0; i < n; i++) {
        uint32_t p = (uint32_t)(i % o->n_processes);
        gop *op = &g.ops[i];
        op->case_id = 1u + (uint32_t)rnd(&g, o->n_cases);
        op->process = proc_id[p];
        op->inv = free_at[p] + 1 + (int64_t)rnd(&g, 1000);
        op->lin = op->inv + 1 + (int64_t)rnd(&g, 5000);
        op->ret = op->lin + 1 + (int64_t)rnd(&g, 5000);
        op->info = rnd01(&g) < o->info_rate;
        free_at[p] = op->ret;
        if (op->info) {
            proc_id[p] += o->n_processes;
        }
        if (!created[op->case_id]) {
            created[op->case_id] = true;
            op->kind = G_CREATE;
        } else {
            op->kind = rnd(&g, 2) == 0 ? G_READ : G_SET_STATUS;
        }
    }
    {
        /* The event array is free until the output step: borrow it. */
        lin_key *keys = (lin_key *)ev;
        _Static_assert(sizeof(lin_key) <= 2u * sizeof(gevent),
                       "two events hold one sort key");
        for (size_t i = 0; i < n; i++) {
            keys[i] = (lin_key){g.ops[i].lin, (uint32_t)i};
        }
        qsort(keys, n, sizeof(*keys), lin_key_cmp);
        for (size_t k = 0; k < n; k++) {
            g.by_lin[k] = keys[k].op;
        }
    }
    for (size_t k = n; k > 0; k--) {
        uint32_t i = g.by_lin[k - 1u];
        g.next_same[i] = last_on_case[g.ops[i].case_id];
        last_on_case[g.ops[i].case_id] = (int64_t)i;
    }
    g.break_from = (size_t)rnd(&g, n) / 2u;
    apply_all(&g);
    if (o->breaks != RZ_CHECK_BREAK_NONE && !g.broken) {
        rv = RZ_ENOTFOUND;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        ev[2u * i] = (gevent){g.ops[i].inv, (uint32_t)i, false};
        ev[2u * i + 1u] = (gevent){g.ops[i].ret, (uint32_t)i, true};
    }
    qsort(ev, 2u * n, sizeof(*ev), gevent_cmp);
    for (size_t k = 0; k < 2u * n; k++) {
        write_event(out, &g.ops[ev[k].op], ev[k].is_ret);
    }
    rv = ferror(out) ? RZ_EIO : 0;
out:
    free(g.ops);
    free(g.by_lin);
    free(g.next_same);
    free(g.cases);
    free(free_at);
    free(proc_id);
    free(created);
    free(last_on_case);
    free(ev);
    return rv;
}
