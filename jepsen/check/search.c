/* search: the linearizability search (Wing & Gong 1993 with Lowe's
 * memoisation, the algorithm of Knossos and Porcupine), one key at a time,
 * and the explanation of a failing key (shortest failing prefix, then a
 * greedy shrink to a small core of operations).
 *
 * The search walks a doubly linked list of call and return entries in time
 * order. At a call it tries to linearize that operation next: if the model
 * accepts it and the pair (set of linearized operations, new state) was never
 * seen, it pushes the choice on an explicit stack, unlinks the operation and
 * starts again from the head. Reaching a return entry means the operation
 * returning there should have been linearized already: backtrack. Success is
 * every definite operation linearized; operations of unknown outcome have
 * their return at +infinity, so they may take effect at any time after
 * their invocation or never. */
#include "check_int.h"

#include "common/common.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- Memo table of (linearized bitset, state) ---- */

typedef struct cache
{
    uint64_t *arena;  /* records: [hash, state, bitset words...] */
    size_t len, cap;  /* words used / allocated in the arena */
    size_t *slots;    /* arena offset + 1, 0 = empty */
    size_t n_slots;   /* power of two */
    size_t count;     /* records */
    size_t words;     /* bitset words per record */
    size_t max_words; /* memory budget, in 8-byte words */
} cache;

static int cache_init(cache *c, size_t words, uint64_t max_mb)
{
    memset(c, 0, sizeof(*c));
    c->words = words;
    c->max_words = (size_t)(max_mb * 1024u * 1024u / 8u);
    c->n_slots = 1024;
    c->slots = calloc(c->n_slots, sizeof(*c->slots));
    return c->slots == NULL ? RZ_ENOMEM : 0;
}

static void cache_close(cache *c)
{
    free(c->arena);
    free(c->slots);
    memset(c, 0, sizeof(*c));
}

static int cache_grow_slots(cache *c)
{
    size_t n = c->n_slots * 2u;
    size_t *slots = calloc(n, sizeof(*slots));
    if (slots == NULL) {
        return RZ_ENOMEM;
    }
    for (size_t i = 0; i < c->n_slots; i++) {
        size_t off = c->slots[i];
        size_t j;
        if (off == 0) {
            continue;
        }
        j = (size_t)c->arena[off - 1u] & (n - 1u);
        for (size_t probe = 0; probe < n && slots[j] != 0; probe++) {
            j = (j + 1u) & (n - 1u);
        }
        slots[j] = off;
    }
    free(c->slots);
    c->slots = slots;
    c->n_slots = n;
    return 0;
}

/* 1 if (bits, state) was added, 0 if it was there already, RZ_ENOMEM, or
 * RZ_ETOOBIG when the memory budget is spent. */
static int cache_add(cache *c, uint64_t hash, uint64_t state,
                     const uint64_t *bits)
{
    size_t rec = 2u + c->words;
    size_t j;
    if ((c->count + 1u) * 2u > c->n_slots) {
        int rv = cache_grow_slots(c);
        if (rv != 0) {
            return rv;
        }
    }
    j = (size_t)hash & (c->n_slots - 1u);
    for (size_t probe = 0; probe < c->n_slots; probe++) {
        size_t off = c->slots[j];
        const uint64_t *r;
        if (off == 0) {
            break;
        }
        r = c->arena + off - 1u;
        if (r[0] == hash && r[1] == state &&
            memcmp(r + 2, bits, c->words * sizeof(*bits)) == 0) {
            return 0;
        }
        j = (j + 1u) & (c->n_slots - 1u);
    }
    RZ_ASSERT(c->slots[j] == 0);
    RZ_ASSERT(c->count * 2u <= c->n_slots);
    if (c->len + rec > c->cap) {
        size_t cap = c->cap == 0 ? 4096u : c->cap * 2u;
        uint64_t *a;
        while (cap < c->len + rec) {
            cap *= 2u;
        }
        if (cap > c->max_words) {
            if (c->len + rec > c->max_words) {
                return RZ_ETOOBIG;
            }
            cap = c->max_words;
        }
        a = realloc(c->arena, cap * sizeof(*a));
        if (a == NULL) {
            return RZ_ENOMEM;
        }
        c->arena = a;
        c->cap = cap;
    }
    c->arena[c->len] = hash;
    c->arena[c->len + 1u] = state;
    memcpy(c->arena + c->len + 2u, bits, c->words * sizeof(*bits));
    c->slots[j] = c->len + 1u;
    c->len += rec;
    c->count++;
    return 1;
}

/* ---- The search over one key ---- */

typedef struct entry
{
    int64_t time;
    int32_t prev, next;
    int32_t op;    /* index into the key's operations */
    int32_t match; /* the call's return entry, or the return's call */
    bool is_call;
} entry;

typedef struct frame
{
    int32_t call; /* entry linearized at this depth */
    bool forced;  /* an observation taken greedily: no alternatives */
    bool omitted; /* an optional operation decided "never happened" */
    uint64_t state_before;
} frame;

enum { VERDICT_OK = 0, VERDICT_BAD = 1, VERDICT_UNKNOWN = 3 };

typedef struct search
{
    /* inputs */
    const rz_check_history *h;
    rz_check__model_ctx *m;
    const rz_check__op *ops;
    size_t n;
    uint64_t deadline_ns; /* 0 = none */
    uint64_t max_steps;   /* 0 = none */
    uint64_t max_cache_mb;
    /* outputs */
    int verdict;
    uint64_t steps;
    size_t best_depth;   /* most operations linearized at once */
    uint32_t *best;      /* their order (n entries, caller allocated) */
    uint64_t best_state; /* state after them */
} search;

/* An operation that may or may not have taken effect: unknown outcome
 * (its return is at +infinity), or relaxed while shrinking (it keeps its
 * window: if it happened, it happened before its return). */
static bool is_optional(const rz_check__op *op)
{
    return op->outcome == RZ_CHECK_UNKNOWN;
}

/* Operations that never change the state (reads, failed cas, definite
 * status-change failures). When one of them is enabled (invoked before every
 * pending return) and consistent with the current state, linearizing it
 * right now is as good as any later choice: moving it to the front of any
 * valid completion keeps that completion valid, since it neither changes the
 * states others see nor has to follow any pending operation. So the search
 * takes it greedily and never tries alternatives at that point, which keeps
 * many concurrent reads from multiplying the search space. Not in a state
 * that stands for several (see rz_check__model_state_exact): there an
 * observation may narrow the state, which is a real choice. */
static bool is_observation(const rz_check__op *op)
{
    switch ((rz_check_f)op->f) {
    case RZ_CHECK_F_READ:
    case RZ_CHECK_F_GET:
    case RZ_CHECK_F_CASE_READ:
        return true;
    case RZ_CHECK_F_CAS:
    case RZ_CHECK_F_SET_STATUS:
        return op->outcome == RZ_CHECK_FAIL;
    default:
        return false;
    }
}

static uint64_t now_ns(void)
{
    return rz_mono_ns();
}

/* Sorting by time, calls before returns at equal times (touching operations
 * count as concurrent), then by operation: a total, deterministic order. */
static int entry_cmp(const void *pa, const void *pb)
{
    const entry *a = pa, *b = pb;
    if (a->time != b->time) {
        return a->time < b->time ? -1 : 1;
    }
    if (a->is_call != b->is_call) {
        return a->is_call ? -1 : 1;
    }
    return (a->op > b->op) - (a->op < b->op);
}

static void lift(entry *e, int32_t i)
{
    entry *c = &e[i], *r = &e[c->match];
    RZ_PRE(c->is_call && !r->is_call && r->match == i);
    e[c->prev].next = c->next;
    e[c->next].prev = c->prev;
    e[r->prev].next = r->next;
    e[r->next].prev = r->prev;
}

static void unlift(entry *e, int32_t i)
{
    entry *c = &e[i];
    int32_t ri = c->match;
    entry *r = &e[ri];
    RZ_PRE(c->is_call && !r->is_call);
    /* Both are unlinked now (lifts are undone in reverse order). */
    RZ_ASSERT(e[r->prev].next != ri && e[c->prev].next != i);
    e[r->prev].next = ri;
    e[r->next].prev = ri;
    e[c->prev].next = i;
    e[c->next].prev = i;
}

static uint64_t state_hash(uint64_t s)
{
    uint64_t x = s;
    return rz_check__mix(&x);
}

/* Builds the sorted, linked entry list: entries 0..2n-1 and the head
 * sentinel at 2n. The array is sorted first, then each call finds its
 * return through a position table. */
static int build_entries(const rz_check__op *ops, size_t n, entry **out)
{
    size_t ne = 2u * n;
    entry *e = malloc((ne + 1u) * sizeof(*e));
    int32_t *pos_call = malloc(n * sizeof(*pos_call));
    int32_t *pos_ret = malloc(n * sizeof(*pos_ret));
    int rv = RZ_ENOMEM;
    if (e == NULL || pos_call == NULL || pos_ret == NULL) {
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        e[2u * i] = (entry){
            .time = ops[i].invoke_time, .op = (int32_t)i, .is_call = true};
        e[2u * i + 1u] = (entry){
            .time = ops[i].return_time, .op = (int32_t)i, .is_call = false};
    }
    qsort(e, ne, sizeof(*e), entry_cmp);
    for (size_t k = 0; k < ne; k++) {
        if (e[k].is_call) {
            pos_call[e[k].op] = (int32_t)k;
        } else {
            pos_ret[e[k].op] = (int32_t)k;
        }
    }
    for (size_t k = 0; k < ne; k++) {
        e[k].match = e[k].is_call ? pos_ret[e[k].op] : pos_call[e[k].op];
        e[k].prev = k == 0 ? (int32_t)ne : (int32_t)k - 1;
        e[k].next = (int32_t)k + 1;
    }
    e[ne] = (entry){.time = 0,
                    .prev = ne == 0 ? (int32_t)ne : (int32_t)ne - 1,
                    .next = ne == 0 ? (int32_t)ne : 0,
                    .op = -1,
                    .match = -1,
                    .is_call = false};
    if (ne > 0) {
        e[ne - 1u].next = (int32_t)ne;
    }
    *out = e;
    e = NULL;
    rv = 0;
out:
    free(e);
    free(pos_call);
    free(pos_ret);
    return rv;
}

/* Runs the search; s->verdict is set unless an error is returned. */
static int search_run(search *s)
{
    size_t n = s->n;
    size_t words = (n + 63u) / 64u;
    entry *e = NULL;
    frame *stack = NULL;
    uint64_t *bits = NULL, *zob = NULL;
    cache c;
    size_t n_def = 0, n_def_lin = 0, depth = 0, n_omitted = 0;
    uint64_t state, hash = 0, seed = 0x5eed;
    int32_t head = (int32_t)(2u * n), cur;
    int rv;

    RZ_PRE(n < INT32_MAX / 2);
    s->verdict = VERDICT_UNKNOWN;
    s->steps = 0;
    s->best_depth = 0;
    s->best_state = state = rz_check__model_init(s->h);
    rv = cache_init(&c, words == 0 ? 1 : words,
                    s->max_cache_mb == 0 ? 1024 : s->max_cache_mb);
    if (rv != 0) {
        return rv;
    }
    rv = build_entries(s->ops, n, &e);
    if (rv != 0) {
        goto out;
    }
    stack = malloc((n + 1u) * sizeof(*stack));
    bits = calloc(words + 1u, sizeof(*bits));
    zob = malloc((n + 1u) * sizeof(*zob));
    if (stack == NULL || bits == NULL || zob == NULL) {
        rv = RZ_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        zob[i] = rz_check__mix(&seed);
        n_def += is_optional(&s->ops[i]) ? 0u : 1u;
    }
    if (n_def == 0) {
        s->verdict = VERDICT_OK;
        goto out;
    }

    cur = e[head].next;
    for (;;) {
        const entry *en;
        s->steps++;
        if ((s->steps & 4095u) == 0 &&
            ((s->deadline_ns != 0 && now_ns() > s->deadline_ns) ||
             (s->max_steps != 0 && s->steps > s->max_steps))) {
            s->verdict = VERDICT_UNKNOWN;
            goto out;
        }
        en = &e[cur];
        if (cur != head && en->is_call) {
            const rz_check__op *op = &s->ops[en->op];
            bool forced = is_observation(op) && !is_optional(op) &&
                          rz_check__model_state_exact(s->h, state);
            uint64_t next;
            if (rz_check__model_step(s->m, state, op, &next)) {
                size_t w = (size_t)en->op / 64u;
                uint64_t bit = 1ull << ((size_t)en->op % 64u);
                uint64_t h2 = hash ^ zob[en->op];
                int added;
                bits[w] |= bit;
                added = cache_add(&c, h2 ^ state_hash(next), next, bits);
                if (added < 0) {
                    if (added == RZ_ETOOBIG) {
                        s->verdict = VERDICT_UNKNOWN; /* memory budget */
                    } else {
                        rv = added;
                    }
                    goto out;
                }
                if (added == 1) {
                    stack[depth++] = (frame){cur, forced, false, state};
                    state = next;
                    hash = h2;
                    lift(e, cur);
                    n_def_lin += is_optional(op) ? 0u : 1u;
                    if (depth - n_omitted > s->best_depth) {
                        size_t nb = 0;
                        for (size_t k = 0; k < depth; k++) {
                            if (!stack[k].omitted) {
                                s->best[nb++] = (uint32_t)e[stack[k].call].op;
                            }
                        }
                        s->best_depth = nb;
                        s->best_state = state;
                    }
                    RZ_ASSERT(n_def_lin <= n_def && depth <= n);
                    if (n_def_lin == n_def) {
                        s->verdict = VERDICT_OK;
                        goto out;
                    }
                    cur = e[head].next;
                    continue;
                }
                bits[w] &= ~bit;
                if (!forced) {
                    cur = en->next;
                    continue;
                }
                /* The greedy choice leads to a configuration already
                 * explored (and failed): so does this one. */
            } else if (s->m->err != 0) {
                if (s->m->err == RZ_ETOOBIG) {
                    /* kv strings past their limits: a budget, no verdict */
                    s->m->err = 0;
                    s->verdict = VERDICT_UNKNOWN;
                } else {
                    rv = s->m->err;
                }
                goto out;
            } else {
                cur = en->next;
                continue;
            }
        } else if (cur != head && is_optional(&s->ops[en->op])) {
            /* The return of an optional operation not linearized so far:
             * from here on it did not happen. That is a choice like any
             * other (memoised as done, state unchanged); the alternative,
             * taking effect earlier, is explored by the other branches, so
             * backtracking goes straight past it. */
            int32_t call = en->match;
            int32_t o = en->op;
            size_t w = (size_t)o / 64u;
            uint64_t bit = 1ull << ((size_t)o % 64u);
            uint64_t h2 = hash ^ zob[o];
            int added;
            bits[w] |= bit;
            added = cache_add(&c, h2 ^ state_hash(state), state, bits);
            if (added < 0) {
                if (added == RZ_ETOOBIG) {
                    s->verdict = VERDICT_UNKNOWN;
                } else {
                    rv = added;
                }
                goto out;
            }
            if (added == 1) {
                stack[depth++] = (frame){call, true, true, state};
                n_omitted++;
                hash = h2;
                lift(e, call);
                cur = e[head].next;
                continue;
            }
            bits[w] &= ~bit;
        }
        /* A return (or a forced dead end): the operation returning here was
         * not linearized in time along this path. Undo choices back to the
         * last one that has alternatives and try the next. */
        for (;;) {
            frame f;
            int32_t o;
            if (depth == 0) {
                s->verdict = VERDICT_BAD;
                goto out;
            }
            f = stack[--depth];
            o = e[f.call].op;
            bits[(size_t)o / 64u] &= ~(1ull << ((size_t)o % 64u));
            hash ^= zob[o];
            state = f.state_before;
            unlift(e, f.call);
            n_def_lin -= is_optional(&s->ops[o]) ? 0u : 1u;
            n_omitted -= f.omitted ? 1u : 0u;
            cur = e[f.call].next;
            if (!f.forced) {
                break;
            }
        }
    }

out:
    cache_close(&c);
    free(e);
    free(stack);
    free(bits);
    free(zob);
    return rv;
}

/* ---- Shrinking ---- */

/* Search steps one shrinking probe may take (tens of milliseconds). */
#define SHRINK_PROBE_MAX_STEPS 500000u

static bool is_mutation(const rz_check__op *op)
{
    switch ((rz_check_f)op->f) {
    case RZ_CHECK_F_WRITE:
    case RZ_CHECK_F_PUT:
    case RZ_CHECK_F_APPEND:
    case RZ_CHECK_F_CREATE:
        return true;
    case RZ_CHECK_F_CAS:
    case RZ_CHECK_F_SET_STATUS:
        return op->outcome != RZ_CHECK_FAIL;
    default:
        return false;
    }
}

/* Relaxing an operation forgets what its result said: a mutation becomes
 * "may have taken effect at any time after its invocation", anything that
 * only observed the state is dropped. A relaxed history allows every
 * linearization the original allows, so if it still fails, the original
 * fails for the reasons that remain. Returns false if the op is dropped. */
static bool relax(rz_check__op *op, bool keep_window)
{
    if (!is_mutation(op)) {
        return false;
    }
    op->outcome = RZ_CHECK_UNKNOWN;
    if (!keep_window) {
        op->return_time = RZ_CHECK_TIME_NEVER;
    }
    if (op->f == RZ_CHECK_F_CREATE) {
        op->out1 = RZ_CHECK__NONE;
        op->out2 = RZ_CHECK__NONE;
    }
    if (op->f == RZ_CHECK_F_SET_STATUS) {
        op->out2 = RZ_CHECK__NONE;
    }
    return true;
}

/* What a shrinking probe does with each operation. */
enum {
    KEEP_DROP = 0,    /* left out */
    KEEP_AS_IS = 1,   /* as recorded */
    KEEP_PENDING = 2, /* in flight at the prefix's end: relaxed, no return */
    KEEP_RELAXED = 3  /* relaxed within its own window */
};

typedef struct shrink
{
    search base; /* h, m, budget; ops/n set per probe */
    const rz_check__op *all;
    size_t n_all;
    rz_check__op *work; /* n_all */
    uint32_t *best;     /* n_all */
    uint8_t *keep;      /* per op: KEEP_* */
    uint32_t *map;      /* work index -> index in all */
    int64_t *def_ret;   /* sorted return times of definite ops */
    size_t n_def;
    uint64_t steps;
} shrink;

/* Builds the probe history from keep[] and checks it. */
static int probe(shrink *sh, int *verdict)
{
    size_t n = 0;
    int rv;
    for (size_t i = 0; i < sh->n_all; i++) {
        if (sh->keep[i] == 0) {
            continue;
        }
        sh->work[n] = sh->all[i];
        if (sh->keep[i] >= KEEP_PENDING &&
            !relax(&sh->work[n], sh->keep[i] == KEEP_RELAXED)) {
            continue;
        }
        sh->map[n] = (uint32_t)i;
        n++;
    }
    sh->base.ops = sh->work;
    sh->base.n = n;
    sh->base.best = sh->best;
    rv = search_run(&sh->base);
    sh->steps += sh->base.steps;
    *verdict = sh->base.verdict;
    return rv;
}

/* keep[] for the prefix of the history up to the return of the k-th
 * definite operation (1-based): operations returned by then as they are,
 * operations in flight relaxed, later ones dropped. */
static void prefix_keep(shrink *sh, size_t k)
{
    int64_t t = sh->def_ret[k - 1u];
    for (size_t i = 0; i < sh->n_all; i++) {
        const rz_check__op *op = &sh->all[i];
        if (!is_optional(op) && op->return_time <= t) {
            sh->keep[i] = KEEP_AS_IS;
        } else if (op->invoke_time <= t) {
            sh->keep[i] = KEEP_PENDING;
        } else {
            sh->keep[i] = KEEP_DROP;
        }
    }
}

static int cmp_i64(const void *pa, const void *pb)
{
    int64_t a = *(const int64_t *)pa, b = *(const int64_t *)pb;
    return (a > b) - (a < b);
}

/* Finds the shortest failing prefix by bisection (a prefix of a
 * non-linearizable history that fails makes every longer one fail), then
 * relaxes its operations one by one while the rest still fails. On return
 * keep[] describes the smallest failing sub-history found. */
static int shrink_run(shrink *sh, uint64_t deadline_ns, size_t *prefix_ops)
{
    size_t lo = 1, hi = sh->n_def;
    int verdict;
    int rv;
    sh->base.deadline_ns = deadline_ns;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2u;
        prefix_keep(sh, mid);
        rv = probe(sh, &verdict);
        if (rv != 0) {
            return rv;
        }
        if (verdict == VERDICT_BAD) {
            hi = mid;
        } else {
            lo = mid + 1u;
        }
        if (now_ns() > deadline_ns) {
            break;
        }
    }
    prefix_keep(sh, hi);
    *prefix_ops = 0;
    for (size_t i = 0; i < sh->n_all; i++) {
        *prefix_ops += sh->keep[i] != 0 ? 1u : 0u;
    }
    for (size_t i = 0; i < sh->n_all; i++) {
        if (sh->keep[i] != KEEP_AS_IS || is_optional(&sh->all[i]) ||
            now_ns() > deadline_ns) {
            continue;
        }
        sh->keep[i] = KEEP_RELAXED;
        rv = probe(sh, &verdict);
        if (rv != 0) {
            return rv;
        }
        if (verdict != VERDICT_BAD) {
            sh->keep[i] = KEEP_AS_IS; /* needed to show the violation */
        }
    }
    return 0;
}

/* ---- Explaining a failing key ---- */

static void key_print(rz_check__text *t, const rz_check_history *h,
                      uint32_t key)
{
    if (h->strs.lens[key] == 0 && h->model == RZ_CHECK_MODEL_REGISTER) {
        rz_check__text_printf(t, "the register");
    } else if (h->model == RZ_CHECK_MODEL_CASE) {
        rz_check__text_printf(t, "case %.80s", h->strs.strs[key]);
    } else {
        rz_check__text_printf(t, "key \"%.80s\"", h->strs.strs[key]);
    }
}

static void explain_search(rz_check__text *t, const rz_check_history *h,
                           const rz_check__op *ops, size_t n, const search *s)
{
    uint8_t *done = calloc(n + 1u, 1);
    size_t blocker = SIZE_MAX, shown = 0;
    if (done == NULL) {
        return;
    }
    for (size_t k = 0; k < s->best_depth; k++) {
        done[s->best[k]] = 1;
    }
    for (size_t i = 0; i < n; i++) {
        if (!done[i] && !is_optional(&ops[i]) &&
            (blocker == SIZE_MAX ||
             ops[i].return_time < ops[blocker].return_time)) {
            blocker = i;
        }
    }
    rz_check__text_printf(t,
                          "  The longest linearization the search found "
                          "takes %zu of %zu operations, ending in state ",
                          s->best_depth, n);
    rz_check__state_print(t, h, s->best_state);
    rz_check__text_printf(t, ".\n");
    if (s->best_depth > 0) {
        size_t from = s->best_depth > 4 ? s->best_depth - 4u : 0;
        rz_check__text_printf(t, "  Its last operations:\n");
        for (size_t k = from; k < s->best_depth; k++) {
            rz_check__text_printf(t, "    ");
            rz_check__op_print(t, h, &ops[s->best[k]]);
            rz_check__text_printf(t, "\n");
        }
    }
    if (blocker != SIZE_MAX) {
        rz_check__text_printf(t, "  It cannot go on: this operation must "
                                 "take effect before it returns, and no "
                                 "order of the pending ones allows it:\n"
                                 "    ");
        rz_check__op_print(t, h, &ops[blocker]);
        rz_check__text_printf(t, "\n  Pending (concurrent) operations:\n");
        for (size_t i = 0; i < n && shown < 12; i++) {
            if (done[i] || i == blocker ||
                ops[i].invoke_time > ops[blocker].return_time) {
                continue;
            }
            rz_check__text_printf(t, "    ");
            rz_check__op_print(t, h, &ops[i]);
            rz_check__text_printf(t, "\n");
            shown++;
        }
        if (shown == 0) {
            rz_check__text_printf(t, "    (none)\n");
        }
    }
    free(done);
}

static void explain_core(rz_check__text *t, const rz_check_history *h,
                         const shrink *sh, size_t prefix_ops)
{
    size_t n_core = 0, n_maybe = 0;
    for (size_t i = 0; i < sh->n_all; i++) {
        bool def = sh->keep[i] == KEEP_AS_IS && !is_optional(&sh->all[i]);
        n_core += def ? 1u : 0u;
        n_maybe += sh->keep[i] != KEEP_DROP && !def && is_mutation(&sh->all[i])
                       ? 1u
                       : 0u;
    }
    rz_check__text_printf(t,
                          "  Shortest failing prefix: %zu of %zu operations. "
                          "Smallest failing sub-history found: %zu "
                          "operation%s",
                          prefix_ops, sh->n_all, n_core,
                          n_core == 1 ? "" : "s");
    if (n_maybe > 0) {
        rz_check__text_printf(t,
                              "; %zu other write%s of the prefix, had %s "
                              "taken effect or not (within %s window, or "
                              "any time after invocation if still "
                              "pending), cannot explain it",
                              n_maybe, n_maybe == 1 ? "" : "s",
                              n_maybe == 1 ? "it" : "they",
                              n_maybe == 1 ? "its" : "their");
    }
    rz_check__text_printf(t, ":\n");
    for (size_t i = 0; i < sh->n_all; i++) {
        if (sh->keep[i] == KEEP_AS_IS && !is_optional(&sh->all[i])) {
            rz_check__text_printf(t, "    ");
            rz_check__op_print(t, h, &sh->all[i]);
            rz_check__text_printf(t, "\n");
        }
    }
}

static int explain_key(rz_check__text *t, const rz_check_history *h,
                       rz_check__model_ctx *m, const rz_check__op *ops,
                       size_t n, const search *s, uint64_t shrink_deadline_ns,
                       uint64_t max_cache_mb, uint64_t *steps)
{
    shrink sh;
    size_t prefix_ops = 0;
    int rv = RZ_ENOMEM;
    key_print(t, h, ops[0].key);
    rz_check__text_printf(t, " is not linearizable (%zu operations).\n", n);
    explain_search(t, h, ops, n, s);
    if (shrink_deadline_ns == 0) {
        return 0;
    }
    if (now_ns() >= shrink_deadline_ns) {
        rz_check__text_printf(t, "  (no time left to shrink this key)\n");
        return 0;
    }
    memset(&sh, 0, sizeof(sh));
    sh.base.h = h;
    sh.base.m = m;
    sh.base.max_cache_mb = max_cache_mb;
    /* A probe that cannot decide quickly counts as "does not fail": the op
     * is kept, which is always sound, and the budget goes to other ops. */
    sh.base.max_steps = SHRINK_PROBE_MAX_STEPS;
    sh.all = ops;
    sh.n_all = n;
    sh.work = malloc(n * sizeof(*sh.work));
    sh.best = malloc(n * sizeof(*sh.best));
    sh.keep = malloc(n);
    sh.map = malloc(n * sizeof(*sh.map));
    sh.def_ret = malloc(n * sizeof(*sh.def_ret));
    if (sh.work == NULL || sh.best == NULL || sh.keep == NULL ||
        sh.map == NULL || sh.def_ret == NULL) {
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (!is_optional(&ops[i])) {
            sh.def_ret[sh.n_def++] = ops[i].return_time;
        }
    }
    RZ_ASSERT(sh.n_def > 0);
    qsort(sh.def_ret, sh.n_def, sizeof(*sh.def_ret), cmp_i64);
    rv = shrink_run(&sh, shrink_deadline_ns, &prefix_ops);
    *steps += sh.steps;
    if (rv == 0) {
        explain_core(t, h, &sh, prefix_ops);
        if (now_ns() > shrink_deadline_ns) {
            rz_check__text_printf(t, "  (shrinking stopped at its time "
                                     "budget; a smaller core may exist)\n");
        }
    }
out:
    free(sh.work);
    free(sh.best);
    free(sh.keep);
    free(sh.map);
    free(sh.def_ret);
    return rv;
}

/* ---- Whole histories ---- */

int rz_check_run(const rz_check_history *h, const rz_check_options *opts,
                 rz_check_result *res)
{
    rz_check_options o = {0};
    rz_check__model_ctx m;
    rz_check__text text;
    size_t n_keys = h->strs.n;
    size_t *start = NULL;
    rz_check__op *sorted = NULL;
    uint32_t *best = NULL;
    uint64_t t0 = now_ns(), deadline = 0, shrink_dl = 0;
    int rv = RZ_ENOMEM;

    RZ_PRE(h != NULL && res != NULL);
    memset(res, 0, sizeof(*res));
    if (opts != NULL) {
        o = *opts;
    }
    if (o.max_seconds > 0) {
        deadline = t0 + (uint64_t)(o.max_seconds * 1e9);
    }
    rz_check__text_init(&text, RZ_CHECK_MAX_EXPLAIN_BYTES);
    m = (rz_check__model_ctx){.model = h->model,
                              .strs = (rz_check__strtab *)&h->strs};

    /* Partition by key with a counting sort; within a key the operations
     * keep their order of addition. */
    start = calloc(n_keys + 1u, sizeof(*start));
    sorted = malloc((h->n_ops + 1u) * sizeof(*sorted));
    best = malloc((h->n_ops + 1u) * sizeof(*best));
    if (start == NULL || sorted == NULL || best == NULL) {
        goto out;
    }
    for (size_t i = 0; i < h->n_ops; i++) {
        start[h->ops[i].key + 1u]++;
    }
    for (size_t k = 0; k < n_keys; k++) {
        start[k + 1u] += start[k];
    }
    for (size_t i = 0; i < h->n_ops; i++) {
        sorted[start[h->ops[i].key]++] = h->ops[i];
    }
    for (size_t k = n_keys; k > 0; k--) {
        start[k] = start[k - 1u];
    }
    start[0] = 0;

    res->n_ops = h->n_ops;
    for (size_t k = 0; k < n_keys; k++) {
        size_t n = start[k + 1u] - start[k];
        search s;
        if (n == 0) {
            continue;
        }
        res->n_keys++;
        s = (search){.h = h,
                     .m = &m,
                     .ops = sorted + start[k],
                     .n = n,
                     .deadline_ns = deadline,
                     .max_cache_mb = o.max_cache_mb,
                     .best = best};
        rv = search_run(&s);
        res->n_steps += s.steps;
        if (rv != 0) {
            goto out;
        }
        if (s.verdict == VERDICT_UNKNOWN) {
            res->n_unknown++;
            key_print(&text, h, (uint32_t)k);
            rz_check__text_printf(&text,
                                  ": the search ran out of its time or "
                                  "memory budget after %llu steps "
                                  "(%zu operations); no verdict.\n",
                                  (unsigned long long)s.steps, n);
        } else if (s.verdict == VERDICT_BAD) {
            res->n_bad_keys++;
            if (res->n_bad_keys == 1 && o.shrink_seconds >= 0) {
                /* One shrinking budget for the whole run, so many failing
                 * keys cannot multiply it. */
                double budget_s =
                    o.shrink_seconds == 0 ? 2.0 : o.shrink_seconds;
                shrink_dl = now_ns() + (uint64_t)(budget_s * 1e9);
                if (deadline != 0 && deadline < shrink_dl) {
                    shrink_dl = deadline;
                }
            }
            if (res->n_bad_keys <= RZ_CHECK_MAX_EXPLAINED_KEYS) {
                rv = explain_key(&text, h, &m, sorted + start[k], n, &s,
                                 shrink_dl, o.max_cache_mb, &res->n_steps);
                if (rv != 0) {
                    goto out;
                }
            }
            if (o.stop_at_first_fail) {
                break;
            }
        }
    }
    if (res->n_bad_keys > RZ_CHECK_MAX_EXPLAINED_KEYS) {
        rz_check__text_printf(&text,
                              "... and %zu more keys are not linearizable.\n",
                              res->n_bad_keys - RZ_CHECK_MAX_EXPLAINED_KEYS);
    }
    if (text.nomem) {
        rv = RZ_ENOMEM;
        goto out;
    }
    res->verdict = res->n_bad_keys > 0  ? RZ_CHECK_NOT_LINEARIZABLE
                   : res->n_unknown > 0 ? RZ_CHECK_UNKNOWN_VERDICT
                                        : RZ_CHECK_LINEARIZABLE;
    res->explanation = text.s != NULL ? text.s : calloc(1, 1);
    if (res->explanation == NULL) {
        rv = RZ_ENOMEM;
        goto out;
    }
    text.s = NULL;
    rv = 0;
out:
    res->seconds = (double)(now_ns() - t0) / 1e9;
    rz_check__text_close(&text);
    free(start);
    free(sorted);
    free(best);
    return rv;
}

void rz_check_result_close(rz_check_result *res)
{
    if (res == NULL) {
        return;
    }
    free(res->explanation);
    res->explanation = NULL;
}
