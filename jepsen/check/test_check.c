/* Unit tests of the checker library: the three models, per-key
 * partitioning, unknown outcomes, the parsers and their errors, and the
 * generator's linearizable and broken histories. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "check.h"
#include "common/common.h"

#include <stdlib.h>
#include <string.h>

/* ---- Helpers ---- */

typedef struct hist
{
    rz_check_history *h;
} hist;

static rz_check_history *new_hist(rz_check_model m)
{
    rz_check_history *h = NULL;
    assert_int_equal(rz_check_history_create(m, &h), 0);
    return h;
}

static rz_check_op base_op(int64_t p, int64_t t0, int64_t t1, rz_check_f f,
                           rz_check_outcome out)
{
    return (rz_check_op){.process = p,
                         .invoke_time = t0,
                         .return_time = t1,
                         .f = f,
                         .outcome = out,
                         .version = RZ_CHECK_VERSION_NONE,
                         .expected_version = RZ_CHECK_VERSION_NONE};
}

/* Register ops: value NULL = nil. */
static void reg(rz_check_history *h, int64_t p, int64_t t0, int64_t t1,
                rz_check_f f, rz_check_outcome out, const char *v,
                const char *v2)
{
    rz_check_op op = base_op(p, t0, t1, f, out);
    op.value = v;
    op.value_len = v ? strlen(v) : 0;
    op.value2 = v2;
    op.value2_len = v2 ? strlen(v2) : 0;
    assert_int_equal(rz_check_history_add(h, &op), 0);
}

static void kv(rz_check_history *h, const char *key, int64_t p, int64_t t0,
               int64_t t1, rz_check_f f, const char *v)
{
    rz_check_op op = base_op(p, t0, t1, f, RZ_CHECK_OK);
    op.key = key;
    op.key_len = strlen(key);
    op.value = v;
    op.value_len = strlen(v);
    assert_int_equal(rz_check_history_add(h, &op), 0);
}

static void cs(rz_check_history *h, const char *key, int64_t p, int64_t t0,
               int64_t t1, rz_check_f f, rz_check_outcome out,
               rz_check_status st, int64_t version, int64_t expected,
               rz_check_fail_reason why)
{
    rz_check_op op = base_op(p, t0, t1, f, out);
    op.key = key;
    op.key_len = strlen(key);
    op.status = st;
    op.version = version;
    op.expected_version = expected;
    op.fail_reason = why;
    assert_int_equal(rz_check_history_add(h, &op), 0);
}

static rz_check_verdict verdict_of(rz_check_history *h, char **explain)
{
    rz_check_result res;
    rz_check_verdict v;
    assert_int_equal(rz_check_run(h, NULL, &res), 0);
    v = res.verdict;
    if (explain != NULL) {
        *explain = strdup(res.explanation);
    }
    rz_check_result_close(&res);
    rz_check_history_destroy(h);
    return v;
}

#define LIN RZ_CHECK_LINEARIZABLE
#define BAD RZ_CHECK_NOT_LINEARIZABLE
#define NONE RZ_CHECK_VERSION_NONE

/* ---- Register ---- */

static void test_register_basic(void **state)
{
    rz_check_history *h;
    char *ex = NULL;
    (void)state;
    /* Sequential write then read of the value. */
    h = new_hist(RZ_CHECK_MODEL_REGISTER);
    reg(h, 0, 0, 10, RZ_CHECK_F_WRITE, RZ_CHECK_OK, "1", NULL);
    reg(h, 1, 20, 30, RZ_CHECK_F_READ, RZ_CHECK_OK, "1", NULL);
    assert_int_equal(verdict_of(h, NULL), LIN);
    /* A read that starts after the write returned must see it. */
    h = new_hist(RZ_CHECK_MODEL_REGISTER);
    reg(h, 0, 0, 10, RZ_CHECK_F_WRITE, RZ_CHECK_OK, "1", NULL);
    reg(h, 1, 20, 30, RZ_CHECK_F_READ, RZ_CHECK_OK, NULL, NULL);
    assert_int_equal(verdict_of(h, &ex), BAD);
    assert_non_null(strstr(ex, "read -> nil"));
    assert_non_null(strstr(ex, "write 1"));
    free(ex);
    /* ...but a concurrent read may see the old value. */
    h = new_hist(RZ_CHECK_MODEL_REGISTER);
    reg(h, 0, 0, 10, RZ_CHECK_F_WRITE, RZ_CHECK_OK, "1", NULL);
    reg(h, 1, 5, 15, RZ_CHECK_F_READ, RZ_CHECK_OK, NULL, NULL);
    reg(h, 2, 6, 16, RZ_CHECK_F_READ, RZ_CHECK_OK, "1", NULL);
    assert_int_equal(verdict_of(h, NULL), LIN);
    /* Two concurrent reads cannot see new then old if they are ordered. */
    h = new_hist(RZ_CHECK_MODEL_REGISTER);
    reg(h, 0, 0, 100, RZ_CHECK_F_WRITE, RZ_CHECK_OK, "1", NULL);
    reg(h, 1, 5, 15, RZ_CHECK_F_READ, RZ_CHECK_OK, "1", NULL);
    reg(h, 2, 20, 30, RZ_CHECK_F_READ, RZ_CHECK_OK, NULL, NULL);
    assert_int_equal(verdict_of(h, NULL), BAD);
}

static void test_register_cas_and_unknown(void **state)
{
    rz_check_history *h;
    (void)state;
    /* A failed cas says the value was not `from`. */
    h = new_hist(RZ_CHECK_MODEL_REGISTER);
    reg(h, 0, 0, 10, RZ_CHECK_F_WRITE, RZ_CHECK_OK, "1", NULL);
    reg(h, 0, 20, 30, RZ_CHECK_F_CAS, RZ_CHECK_FAIL, "1", "2");
    assert_int_equal(verdict_of(h, NULL), BAD);
    h = new_hist(RZ_CHECK_MODEL_REGISTER);
    reg(h, 0, 0, 10, RZ_CHECK_F_WRITE, RZ_CHECK_OK, "1", NULL);
    reg(h, 0, 20, 30, RZ_CHECK_F_CAS, RZ_CHECK_FAIL, "3", "2");
    reg(h, 0, 40, 50, RZ_CHECK_F_READ, RZ_CHECK_OK, "1", NULL);
    assert_int_equal(verdict_of(h, NULL), LIN);
    /* A successful cas needs the value to be `from`. */
    h = new_hist(RZ_CHECK_MODEL_REGISTER);
    reg(h, 0, 0, 10, RZ_CHECK_F_WRITE, RZ_CHECK_OK, "1", NULL);
    reg(h, 0, 20, 30, RZ_CHECK_F_CAS, RZ_CHECK_OK, "1", "2");
    reg(h, 1, 40, 50, RZ_CHECK_F_READ, RZ_CHECK_OK, "2", NULL);
    assert_int_equal(verdict_of(h, NULL), LIN);
    h = new_hist(RZ_CHECK_MODEL_REGISTER);
    reg(h, 0, 0, 10, RZ_CHECK_F_WRITE, RZ_CHECK_OK, "1", NULL);
    reg(h, 0, 20, 30, RZ_CHECK_F_CAS, RZ_CHECK_OK, "5", "2");
    assert_int_equal(verdict_of(h, NULL), BAD);
    /* An unknown write may take effect long after its invocation... */
    h = new_hist(RZ_CHECK_MODEL_REGISTER);
    reg(h, 0, 0, 10, RZ_CHECK_F_WRITE, RZ_CHECK_UNKNOWN, "7", NULL);
    reg(h, 1, 20, 30, RZ_CHECK_F_READ, RZ_CHECK_OK, NULL, NULL);
    reg(h, 1, 40, 50, RZ_CHECK_F_READ, RZ_CHECK_OK, "7", NULL);
    assert_int_equal(verdict_of(h, NULL), LIN);
    /* ...or never, but only once. */
    h = new_hist(RZ_CHECK_MODEL_REGISTER);
    reg(h, 0, 0, 10, RZ_CHECK_F_WRITE, RZ_CHECK_UNKNOWN, "7", NULL);
    reg(h, 1, 20, 30, RZ_CHECK_F_READ, RZ_CHECK_OK, "7", NULL);
    reg(h, 1, 40, 50, RZ_CHECK_F_READ, RZ_CHECK_OK, NULL, NULL);
    assert_int_equal(verdict_of(h, NULL), BAD);
    /* It cannot take effect before its invocation. */
    h = new_hist(RZ_CHECK_MODEL_REGISTER);
    reg(h, 1, 0, 10, RZ_CHECK_F_READ, RZ_CHECK_OK, "7", NULL);
    reg(h, 0, 20, 30, RZ_CHECK_F_WRITE, RZ_CHECK_UNKNOWN, "7", NULL);
    assert_int_equal(verdict_of(h, NULL), BAD);
    /* Failed writes and unknown reads are dropped. */
    h = new_hist(RZ_CHECK_MODEL_REGISTER);
    reg(h, 0, 0, 10, RZ_CHECK_F_WRITE, RZ_CHECK_FAIL, "7", NULL);
    reg(h, 0, 20, 30, RZ_CHECK_F_READ, RZ_CHECK_UNKNOWN, "9", NULL);
    reg(h, 1, 40, 50, RZ_CHECK_F_READ, RZ_CHECK_OK, NULL, NULL);
    assert_int_equal(rz_check_history_len(h), 3);
    assert_int_equal(verdict_of(h, NULL), LIN);
}

/* A history needing backtracking: the first order tried fails. */
static void test_register_backtracking(void **state)
{
    rz_check_history *h = new_hist(RZ_CHECK_MODEL_REGISTER);
    (void)state;
    reg(h, 0, 0, 100, RZ_CHECK_F_WRITE, RZ_CHECK_OK, "1", NULL);
    reg(h, 1, 1, 100, RZ_CHECK_F_WRITE, RZ_CHECK_OK, "2", NULL);
    reg(h, 2, 2, 100, RZ_CHECK_F_WRITE, RZ_CHECK_OK, "3", NULL);
    reg(h, 3, 10, 20, RZ_CHECK_F_READ, RZ_CHECK_OK, "3", NULL);
    reg(h, 3, 30, 40, RZ_CHECK_F_READ, RZ_CHECK_OK, "1", NULL);
    reg(h, 3, 50, 60, RZ_CHECK_F_READ, RZ_CHECK_OK, "2", NULL);
    assert_int_equal(verdict_of(h, NULL), LIN);
    h = new_hist(RZ_CHECK_MODEL_REGISTER);
    reg(h, 0, 0, 100, RZ_CHECK_F_WRITE, RZ_CHECK_OK, "1", NULL);
    reg(h, 1, 1, 100, RZ_CHECK_F_WRITE, RZ_CHECK_OK, "2", NULL);
    reg(h, 3, 10, 20, RZ_CHECK_F_READ, RZ_CHECK_OK, "1", NULL);
    reg(h, 3, 30, 40, RZ_CHECK_F_READ, RZ_CHECK_OK, "2", NULL);
    reg(h, 3, 50, 60, RZ_CHECK_F_READ, RZ_CHECK_OK, "1", NULL);
    assert_int_equal(verdict_of(h, NULL), BAD);
}

/* The explanation shrinks a long history to the two operations that
 * conflict: a write acknowledged before a read that missed it. */
static void test_explanation_shrinks(void **state)
{
    rz_check_history *h = new_hist(RZ_CHECK_MODEL_REGISTER);
    char *ex = NULL;
    char v[16];
    (void)state;
    for (int i = 0; i < 40; i++) {
        snprintf(v, sizeof(v), "%d", i);
        reg(h, i % 3, i * 100, i * 100 + 150, RZ_CHECK_F_WRITE, RZ_CHECK_OK, v,
            NULL);
        reg(h, 3, i * 100 + 160, i * 100 + 170, RZ_CHECK_F_READ, RZ_CHECK_OK,
            i == 25 ? "3" : v, NULL);
    }
    assert_int_equal(verdict_of(h, &ex), BAD);
    if (strstr(ex, "Smallest failing sub-history found: 2 operations") ==
            NULL ||
        strstr(ex, "read -> 3") == NULL) {
        fail_msg("explanation not shrunk to 2 operations:\n%s", ex);
    }
    free(ex);
}

/* ---- Cross-check against brute force ----
 *
 * Small random register histories, checked by enumerating every order of
 * every allowed subset of operations (iterative permutations, Heap's
 * algorithm). The search's shortcuts (memo, greedy observations, "never
 * happened" choices) must agree with this definition of linearizability. */

typedef struct bop
{
    int64_t inv, ret; /* ret = INT64_MAX: unknown */
    rz_check_f f;
    rz_check_outcome out;
    int a, b; /* write value / cas from,to / read result; 0 = nil */
} bop;

static bool brute_order_ok(const bop *ops, const int *seq, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        const bop *o = &ops[seq[i]];
        for (int j = i + 1; j < n; j++) {
            if (ops[seq[j]].ret < o->inv) {
                return false; /* seq[j] returned before o was invoked */
            }
        }
        if (o->f == RZ_CHECK_F_READ) {
            if (o->a != v) {
                return false;
            }
        } else if (o->f == RZ_CHECK_F_WRITE) {
            v = o->a;
        } else if (o->out == RZ_CHECK_FAIL) {
            if (v == o->a) {
                return false;
            }
        } else {
            if (v != o->a) {
                return false;
            }
            v = o->b;
        }
    }
    return true;
}

static bool brute_linearizable(const bop *ops, int n)
{
    int perm[8], c[8], seq[8];
    int n_opt = 0, opt_idx[8];
    for (int i = 0; i < n; i++) {
        perm[i] = i;
        c[i] = 0;
        if (ops[i].out == RZ_CHECK_UNKNOWN) {
            opt_idx[n_opt++] = i;
        }
    }
    for (int i = 1;;) {
        for (int mask = 0; mask < (1 << n_opt); mask++) {
            int m = 0;
            for (int k = 0; k < n; k++) {
                bool include = true;
                for (int q = 0; q < n_opt; q++) {
                    if (opt_idx[q] == perm[k]) {
                        include = (mask >> q) & 1;
                    }
                }
                if (include) {
                    seq[m++] = perm[k];
                }
            }
            if (brute_order_ok(ops, seq, m)) {
                return true;
            }
        }
        /* Next permutation (Heap's algorithm, iterative). */
        while (i < n && c[i] >= i) {
            c[i] = 0;
            i++;
        }
        if (i >= n) {
            return false;
        }
        {
            int j = i % 2 == 0 ? 0 : c[i];
            int t = perm[j];
            perm[j] = perm[i];
            perm[i] = t;
        }
        c[i]++;
        i = 1;
    }
}

static void test_bruteforce_register(void **state)
{
    uint64_t rng = 99;
    int n_lin = 0, n_bad = 0;
    (void)state;
    for (int iter = 0; iter < 1500; iter++) {
        bop ops[7];
        int n = 3 + iter % 5;
        rz_check_history *h = new_hist(RZ_CHECK_MODEL_REGISTER);
        bool want, got;
        for (int i = 0; i < n; i++) {
            uint64_t r;
            rng = rng * 6364136223846793005ull + 1442695040888963407ull;
            r = rng >> 16;
            ops[i].inv = (int64_t)(r % 20u);
            ops[i].ret = ops[i].inv + (int64_t)((r >> 8) % 10u);
            ops[i].f = (rz_check_f)(RZ_CHECK_F_READ + (r >> 16) % 3u);
            ops[i].a = (int)((r >> 20) % 3u);
            ops[i].b = (int)((r >> 24) % 3u);
            ops[i].out = (r >> 28) % 6u == 0 ? RZ_CHECK_UNKNOWN
                         : (r >> 28) % 6u == 1 && ops[i].f == RZ_CHECK_F_CAS
                             ? RZ_CHECK_FAIL
                             : RZ_CHECK_OK;
            if (ops[i].f == RZ_CHECK_F_READ && ops[i].out == RZ_CHECK_UNKNOWN) {
                ops[i].out = RZ_CHECK_OK;
            }
        }
        for (int i = 0; i < n; i++) {
            char va[4], vb[4];
            snprintf(va, sizeof(va), "%d", ops[i].a);
            snprintf(vb, sizeof(vb), "%d", ops[i].b);
            /* Process i: one op each, so no process runs two at once. */
            reg(h, i, ops[i].inv, ops[i].ret, ops[i].f, ops[i].out,
                ops[i].a == 0 ? NULL : va, ops[i].b == 0 ? NULL : vb);
            if (ops[i].out == RZ_CHECK_UNKNOWN) {
                ops[i].ret = INT64_MAX;
            }
        }
        want = brute_linearizable(ops, n);
        got = verdict_of(h, NULL) == LIN;
        if (want != got) {
            fail_msg("history %d (%d ops): brute force says %d, search %d",
                     iter, n, want, got);
        }
        n_lin += want ? 1 : 0;
        n_bad += want ? 0 : 1;
    }
    assert_true(n_lin > 100 && n_bad > 100);
}

/* The same for small random case histories: creates (some of unknown
 * outcome and so of unknown status), status changes with and without an
 * expected version, definite failures of every reason, and reads. An
 * unknown create may have made the case NEW or ROUTED: brute force tries
 * both. */
typedef struct cop
{
    int64_t inv, ret; /* ret = INT64_MAX: unknown */
    rz_check_f f;
    rz_check_outcome out;
    rz_check_fail_reason why;
    int status;   /* create ok / set target / read (0 = not found) */
    int version;  /* reported; 0 = not reported */
    int expected; /* set: -1 = none */
} cop;

static bool brute_case_seq(const cop *ops, const int *seq, int n, int choice)
{
    bool ex = false;
    int st = 0, ver = 0;
    for (int i = 0; i < n; i++) {
        const cop *o = &ops[seq[i]];
        for (int j = i + 1; j < n; j++) {
            if (ops[seq[j]].ret < o->inv) {
                return false;
            }
        }
        if (o->f == RZ_CHECK_F_CREATE) {
            if (ex) {
                return false;
            }
            ex = true;
            ver = 1;
            st = o->out == RZ_CHECK_OK
                     ? o->status
                     : ((choice >> seq[i]) & 1 ? RZ_CHECK_STATUS_ROUTED
                                               : RZ_CHECK_STATUS_NEW);
        } else if (o->f == RZ_CHECK_F_CASE_READ) {
            if (o->status == 0 ? ex
                               : (!ex || st != o->status ||
                                  (o->version != 0 && o->version != ver))) {
                return false;
            }
        } else if (o->out == RZ_CHECK_FAIL) {
            bool okf = o->why == RZ_CHECK_FAIL_NOT_FOUND ? !ex
                       : o->why == RZ_CHECK_FAIL_VERSION_MISMATCH
                           ? ex && o->expected >= 0 && ver != o->expected
                           : ex && !rz_check_status_allowed(
                                       (rz_check_status)st,
                                       (rz_check_status)o->status);
            if (!okf) {
                return false;
            }
        } else {
            if (!ex || (o->expected >= 0 && ver != o->expected) ||
                !rz_check_status_allowed((rz_check_status)st,
                                         (rz_check_status)o->status) ||
                (o->version != 0 && o->version != ver + 1)) {
                return false;
            }
            st = o->status;
            ver++;
        }
    }
    return true;
}

static bool brute_case(const cop *ops, int n)
{
    int perm[8], c[8], seq[8];
    int n_opt = 0, opt_idx[8];
    for (int i = 0; i < n; i++) {
        perm[i] = i;
        c[i] = 0;
        if (ops[i].out == RZ_CHECK_UNKNOWN) {
            opt_idx[n_opt++] = i;
        }
    }
    for (int i = 1;;) {
        for (int mask = 0; mask < (1 << n_opt); mask++) {
            int m = 0;
            for (int k = 0; k < n; k++) {
                bool include = true;
                for (int q = 0; q < n_opt; q++) {
                    if (opt_idx[q] == perm[k]) {
                        include = (mask >> q) & 1;
                    }
                }
                if (include) {
                    seq[m++] = perm[k];
                }
            }
            for (int choice = 0; choice < (1 << n); choice++) {
                if (brute_case_seq(ops, seq, m, choice)) {
                    return true;
                }
            }
        }
        while (i < n && c[i] >= i) {
            c[i] = 0;
            i++;
        }
        if (i >= n) {
            return false;
        }
        {
            int j = i % 2 == 0 ? 0 : c[i];
            int t = perm[j];
            perm[j] = perm[i];
            perm[i] = t;
        }
        c[i]++;
        i = 1;
    }
}

static void test_bruteforce_case(void **state)
{
    static const int statuses[] = {RZ_CHECK_STATUS_NEW, RZ_CHECK_STATUS_ROUTED,
                                   RZ_CHECK_STATUS_TRIAGE,
                                   RZ_CHECK_STATUS_IN_PROGRESS};
    uint64_t rng = 7;
    int n_lin = 0, n_bad = 0;
    (void)state;
    for (int iter = 0; iter < 1500; iter++) {
        cop ops[6];
        int n = 2 + iter % 4;
        rz_check_history *h = new_hist(RZ_CHECK_MODEL_CASE);
        bool want, got;
        for (int i = 0; i < n; i++) {
            uint64_t r;
            cop *o = &ops[i];
            rng = rng * 6364136223846793005ull + 1442695040888963407ull;
            r = rng >> 16;
            o->inv = (int64_t)(r % 16u);
            o->ret = o->inv + (int64_t)((r >> 6) % 8u);
            o->f = i == 0 || (r >> 10) % 7u == 0
                       ? RZ_CHECK_F_CREATE
                       : (rz_check_f)(RZ_CHECK_F_SET_STATUS + (r >> 13) % 2u);
            o->out = (r >> 15) % 5u == 0 ? RZ_CHECK_UNKNOWN : RZ_CHECK_OK;
            o->why = RZ_CHECK_FAIL_OTHER;
            o->status = statuses[(r >> 18) % 4u];
            o->version = (int)((r >> 21) % 4u);
            o->expected = (int)((r >> 24) % 4u) - 1;
            if (o->f == RZ_CHECK_F_CREATE) {
                o->status = (r >> 26) % 2u ? RZ_CHECK_STATUS_NEW
                                           : RZ_CHECK_STATUS_ROUTED;
                o->version = o->out == RZ_CHECK_OK ? 1 : 0;
                o->expected = -1;
            } else if (o->f == RZ_CHECK_F_CASE_READ) {
                o->out = RZ_CHECK_OK;
                o->expected = -1;
                if ((r >> 27) % 5u == 0) {
                    o->status = 0;
                    o->version = 0;
                }
            } else if ((r >> 28) % 3u == 0) {
                o->out = RZ_CHECK_FAIL;
                o->why = (rz_check_fail_reason)(1u + (r >> 30) % 3u);
                o->version = 0;
            }
            if (o->out == RZ_CHECK_UNKNOWN) {
                o->version = 0;
            }
        }
        for (int i = 0; i < n; i++) {
            const cop *o = &ops[i];
            rz_check_status st = (rz_check_status)o->status;
            if (o->f == RZ_CHECK_F_CREATE && o->out != RZ_CHECK_OK) {
                st = RZ_CHECK_STATUS_NONE;
            }
            cs(h, "1", i, o->inv, o->ret, o->f, o->out, st,
               o->version == 0 ? NONE : o->version, o->expected, o->why);
        }
        for (int i = 0; i < n; i++) {
            if (ops[i].out == RZ_CHECK_UNKNOWN) {
                ops[i].ret = INT64_MAX;
            }
        }
        want = brute_case(ops, n);
        got = verdict_of(h, NULL) == LIN;
        if (want != got) {
            fail_msg("case history %d (%d ops): brute force says %d, "
                     "search %d",
                     iter, n, want, got);
        }
        n_lin += want ? 1 : 0;
        n_bad += want ? 0 : 1;
    }
    assert_true(n_lin > 100 && n_bad > 100);
}

/* ---- kv ---- */

static void test_kv(void **state)
{
    rz_check_history *h;
    char *ex = NULL;
    (void)state;
    h = new_hist(RZ_CHECK_MODEL_KV);
    kv(h, "x", 0, 0, 10, RZ_CHECK_F_APPEND, "a");
    kv(h, "x", 0, 20, 30, RZ_CHECK_F_APPEND, "b");
    kv(h, "x", 1, 40, 50, RZ_CHECK_F_GET, "ab");
    kv(h, "y", 1, 60, 70, RZ_CHECK_F_GET, "");
    kv(h, "y", 1, 80, 90, RZ_CHECK_F_PUT, "z");
    kv(h, "y", 2, 85, 95, RZ_CHECK_F_GET, "z");
    assert_int_equal(verdict_of(h, NULL), LIN);
    h = new_hist(RZ_CHECK_MODEL_KV);
    kv(h, "x", 0, 0, 10, RZ_CHECK_F_APPEND, "a");
    kv(h, "x", 0, 20, 30, RZ_CHECK_F_APPEND, "b");
    kv(h, "x", 1, 40, 50, RZ_CHECK_F_GET, "ba");
    kv(h, "y", 1, 60, 70, RZ_CHECK_F_GET, "");
    assert_int_equal(verdict_of(h, &ex), BAD);
    /* Only key x is blamed. */
    assert_non_null(strstr(ex, "key \"x\""));
    assert_null(strstr(ex, "key \"y\""));
    free(ex);
    /* Concurrent appends in either order. */
    h = new_hist(RZ_CHECK_MODEL_KV);
    kv(h, "x", 0, 0, 10, RZ_CHECK_F_APPEND, "a");
    kv(h, "x", 1, 0, 10, RZ_CHECK_F_APPEND, "b");
    kv(h, "x", 2, 20, 30, RZ_CHECK_F_GET, "ba");
    assert_int_equal(verdict_of(h, NULL), LIN);
}

/* ---- case ---- */

#define OK RZ_CHECK_OK
#define FAIL RZ_CHECK_FAIL
#define UNK RZ_CHECK_UNKNOWN
#define CREATE RZ_CHECK_F_CREATE
#define SET RZ_CHECK_F_SET_STATUS
#define READ RZ_CHECK_F_CASE_READ
#define S(x) RZ_CHECK_STATUS_##x
#define WHY(x) RZ_CHECK_FAIL_##x

static void test_case_model(void **state)
{
    rz_check_history *h;
    (void)state;
    /* The ordinary life of a case. */
    h = new_hist(RZ_CHECK_MODEL_CASE);
    cs(h, "1", 0, 0, 10, READ, OK, S(NONE), NONE, NONE, 0);
    cs(h, "1", 0, 20, 30, SET, FAIL, S(TRIAGE), NONE, 1, WHY(NOT_FOUND));
    cs(h, "1", 0, 40, 50, CREATE, OK, S(NEW), 1, NONE, 0);
    cs(h, "1", 1, 60, 70, SET, OK, S(TRIAGE), 2, 1, 0);
    cs(h, "1", 2, 65, 75, SET, FAIL, S(ROUTED), NONE, 1, WHY(VERSION_MISMATCH));
    cs(h, "1", 0, 80, 90, READ, OK, S(TRIAGE), 2, NONE, 0);
    cs(h, "1", 0, 100, 110, SET, FAIL, S(IN_PROGRESS), NONE, 2,
       WHY(BAD_STATUS));
    assert_int_equal(verdict_of(h, NULL), LIN);
    /* A stale read after an acknowledged status change. */
    h = new_hist(RZ_CHECK_MODEL_CASE);
    cs(h, "1", 0, 0, 10, CREATE, OK, S(NEW), 1, NONE, 0);
    cs(h, "1", 1, 20, 30, SET, OK, S(TRIAGE), 2, 1, 0);
    cs(h, "1", 0, 40, 50, READ, OK, S(NEW), 1, NONE, 0);
    assert_int_equal(verdict_of(h, NULL), BAD);
    /* A version mismatch while the versions matched. */
    h = new_hist(RZ_CHECK_MODEL_CASE);
    cs(h, "1", 0, 0, 10, CREATE, OK, S(NEW), 1, NONE, 0);
    cs(h, "1", 1, 20, 30, SET, FAIL, S(TRIAGE), NONE, 1, WHY(VERSION_MISMATCH));
    assert_int_equal(verdict_of(h, NULL), BAD);
    /* A second create of the same case. */
    h = new_hist(RZ_CHECK_MODEL_CASE);
    cs(h, "1", 0, 0, 10, CREATE, OK, S(NEW), 1, NONE, 0);
    cs(h, "1", 1, 20, 30, CREATE, OK, S(NEW), 1, NONE, 0);
    assert_int_equal(verdict_of(h, NULL), BAD);
    /* A transition the lifecycle forbids, acknowledged. */
    h = new_hist(RZ_CHECK_MODEL_CASE);
    cs(h, "1", 0, 0, 10, CREATE, OK, S(NEW), 1, NONE, 0);
    cs(h, "1", 1, 20, 30, SET, OK, S(IN_PROGRESS), 2, 1, 0);
    assert_int_equal(verdict_of(h, NULL), BAD);
    /* A version that jumps. */
    h = new_hist(RZ_CHECK_MODEL_CASE);
    cs(h, "1", 0, 0, 10, CREATE, OK, S(ROUTED), 1, NONE, 0);
    cs(h, "1", 1, 20, 30, SET, OK, S(IN_PROGRESS), 3, 1, 0);
    assert_int_equal(verdict_of(h, NULL), BAD);
    /* Creates start NEW or ROUTED at version 1, nothing else. */
    h = new_hist(RZ_CHECK_MODEL_CASE);
    cs(h, "1", 0, 0, 10, CREATE, OK, S(CLOSED), 1, NONE, 0);
    assert_int_equal(verdict_of(h, NULL), BAD);
    /* An unknown create: the case may exist later, NEW or ROUTED. */
    h = new_hist(RZ_CHECK_MODEL_CASE);
    cs(h, "1", 0, 0, 10, CREATE, UNK, S(NONE), NONE, NONE, 0);
    cs(h, "1", 1, 20, 30, READ, OK, S(NONE), NONE, NONE, 0);
    cs(h, "1", 1, 40, 50, READ, OK, S(ROUTED), 1, NONE, 0);
    cs(h, "1", 1, 60, 70, SET, OK, S(IN_PROGRESS), 2, 1, 0);
    assert_int_equal(verdict_of(h, NULL), LIN);
    /* Once seen ROUTED it is not NEW. */
    h = new_hist(RZ_CHECK_MODEL_CASE);
    cs(h, "1", 0, 0, 10, CREATE, UNK, S(NONE), NONE, NONE, 0);
    cs(h, "1", 1, 40, 50, READ, OK, S(ROUTED), 1, NONE, 0);
    cs(h, "1", 1, 60, 70, READ, OK, S(NEW), 1, NONE, 0);
    assert_int_equal(verdict_of(h, NULL), BAD);
    /* A refused transition tells which one it was: IN_PROGRESS is allowed
     * from ROUTED only, so refusing it means NEW. */
    h = new_hist(RZ_CHECK_MODEL_CASE);
    cs(h, "1", 0, 0, 10, CREATE, UNK, S(NONE), NONE, NONE, 0);
    cs(h, "1", 1, 20, 30, SET, FAIL, S(IN_PROGRESS), NONE, 1, WHY(BAD_STATUS));
    cs(h, "1", 1, 40, 50, READ, OK, S(ROUTED), 1, NONE, 0);
    assert_int_equal(verdict_of(h, NULL), BAD);
    h = new_hist(RZ_CHECK_MODEL_CASE);
    cs(h, "1", 0, 0, 10, CREATE, UNK, S(NONE), NONE, NONE, 0);
    cs(h, "1", 1, 20, 30, SET, FAIL, S(IN_PROGRESS), NONE, 1, WHY(BAD_STATUS));
    cs(h, "1", 1, 40, 50, READ, OK, S(NEW), 1, NONE, 0);
    assert_int_equal(verdict_of(h, NULL), LIN);
    /* TRIAGE is allowed from both: refusing it is impossible. */
    h = new_hist(RZ_CHECK_MODEL_CASE);
    cs(h, "1", 0, 0, 10, CREATE, UNK, S(NONE), NONE, NONE, 0);
    cs(h, "1", 1, 20, 30, SET, FAIL, S(TRIAGE), NONE, 1, WHY(BAD_STATUS));
    assert_int_equal(verdict_of(h, NULL), BAD);
    /* Version 0 (a zero-initialised op) means "not reported". */
    h = new_hist(RZ_CHECK_MODEL_CASE);
    cs(h, "1", 0, 0, 10, CREATE, OK, S(NEW), 0, NONE, 0);
    cs(h, "1", 0, 20, 30, READ, OK, S(NEW), 0, NONE, 0);
    assert_int_equal(verdict_of(h, NULL), LIN);
    /* Different cases are independent. */
    h = new_hist(RZ_CHECK_MODEL_CASE);
    cs(h, "1", 0, 0, 10, CREATE, OK, S(NEW), 1, NONE, 0);
    cs(h, "2", 0, 20, 30, READ, OK, S(NONE), NONE, NONE, 0);
    assert_int_equal(verdict_of(h, NULL), LIN);
}

static void test_status_table(void **state)
{
    (void)state;
    assert_true(rz_check_status_allowed(S(NEW), S(TRIAGE)));
    assert_true(rz_check_status_allowed(S(ROUTED), S(ROUTED)));
    assert_true(rz_check_status_allowed(S(CLOSED), S(IN_PROGRESS)));
    assert_false(rz_check_status_allowed(S(NEW), S(IN_PROGRESS)));
    assert_false(rz_check_status_allowed(S(CLOSED), S(NEW)));
    assert_false(rz_check_status_allowed(S(NONE), S(NEW)));
    assert_string_equal(rz_check_status_name(S(ON_HOLD)), "ON_HOLD");
    assert_null(rz_check_status_name((rz_check_status)99));
}

static void test_api_errors(void **state)
{
    rz_check_history *h = new_hist(RZ_CHECK_MODEL_REGISTER);
    rz_check_op op = base_op(0, 10, 5, RZ_CHECK_F_READ, RZ_CHECK_OK);
    (void)state;
    assert_int_equal(rz_check_history_add(h, &op), RZ_EINVAL);
    op = base_op(0, 0, 5, RZ_CHECK_F_GET, RZ_CHECK_OK);
    assert_int_equal(rz_check_history_add(h, &op), RZ_EINVAL);
    op = base_op(0, 0, 5, RZ_CHECK_F_READ, (rz_check_outcome)9);
    assert_int_equal(rz_check_history_add(h, &op), RZ_EINVAL);
    assert_int_equal(rz_check_history_len(h), 0);
    rz_check_history_destroy(h);
    assert_int_equal(rz_check_history_create((rz_check_model)0, &h), RZ_EINVAL);
    assert_null(h);
}

/* ---- Parsers ---- */

static int read_str(const char *text, rz_check_format fmt, rz_check_model m,
                    rz_check_history **h, char *err)
{
    FILE *f = fmemopen((void *)text, strlen(text), "r");
    int rv;
    assert_non_null(f);
    rv = rz_check_history_read(f, fmt, m, h, err);
    fclose(f);
    return rv;
}

static rz_check_verdict check_str(const char *text, rz_check_format fmt,
                                  rz_check_model m)
{
    rz_check_history *h = NULL;
    char err[RZ_ERRMSG_BYTES];
    int rv = read_str(text, fmt, m, &h, err);
    if (rv != 0) {
        fail_msg("unexpected parse error: %s", err);
    }
    return verdict_of(h, NULL);
}

static void expect_malformed(const char *text, rz_check_format fmt,
                             rz_check_model m, const char *want)
{
    rz_check_history *h = NULL;
    char err[RZ_ERRMSG_BYTES] = "";
    assert_int_equal(read_str(text, fmt, m, &h, err), RZ_EMALFORMED);
    assert_null(h);
    if (strstr(err, want) == NULL) {
        fail_msg("error '%s' does not mention '%s'", err, want);
    }
}

#define J RZ_CHECK_FORMAT_JSONL
#define E RZ_CHECK_FORMAT_EDN
#define L RZ_CHECK_FORMAT_JEPSEN_LOG
#define MR RZ_CHECK_MODEL_REGISTER
#define MK RZ_CHECK_MODEL_KV
#define MC RZ_CHECK_MODEL_CASE

static void test_parse_jsonl(void **state)
{
    (void)state;
    assert_int_equal(
        check_str("{\"process\":0,\"type\":\"invoke\",\"f\":\"write\","
                  "\"value\":3,\"time_ns\":1}\n"
                  "{\"process\":0,\"type\":\"ok\",\"f\":\"write\","
                  "\"value\":3,\"time_ns\":2}\n"
                  "  \n"
                  "{\"process\":1,\"type\":\"invoke\",\"f\":\"cas\","
                  "\"value\":[3,4],\"time_ns\":3}\n"
                  "{\"process\":1,\"type\":\"ok\",\"f\":\"cas\","
                  "\"value\":[3,4],\"time_ns\":4}\n"
                  "{\"time_ns\":5,\"process\":2,\"type\":\"invoke\","
                  "\"f\":\"read\",\"value\":null,\"extra\":{\"a\":[1]}}\n"
                  "{\"process\":2,\"type\":\"ok\",\"f\":\"read\","
                  "\"value\":4,\"time_ns\":6}\n",
                  J, MR),
        LIN);
    /* Strings with escapes, including a surrogate pair, are one value. */
    assert_int_equal(
        check_str("{\"process\":0,\"type\":\"invoke\",\"f\":\"put\","
                  "\"key\":\"k\\\"1\",\"value\":\"\\u00e9\\ud83d\\ude00\","
                  "\"time_ns\":1}\n"
                  "{\"process\":0,\"type\":\"ok\",\"f\":\"put\","
                  "\"key\":\"k\\\"1\",\"value\":\"\\u00e9\\ud83d\\ude00\","
                  "\"time_ns\":2}\n"
                  "{\"process\":0,\"type\":\"invoke\",\"f\":\"get\","
                  "\"key\":\"k\\\"1\",\"value\":null,\"time_ns\":3}\n"
                  "{\"process\":0,\"type\":\"ok\",\"f\":\"get\","
                  "\"key\":\"k\\\"1\",\"value\":\"\xc3\xa9\xf0\x9f\x98\x80\","
                  "\"time_ns\":4}\n",
                  J, MK),
        LIN);
    /* Case records; an invocation never completed is unknown. */
    assert_int_equal(
        check_str(
            "{\"process\":0,\"type\":\"invoke\",\"f\":\"create\","
            "\"value\":null,\"time_ns\":1}\n"
            "{\"process\":0,\"type\":\"ok\",\"f\":\"create\",\"key\":7,"
            "\"value\":{\"status\":\"NEW\",\"version\":1},\"time_ns\":2}\n"
            "{\"process\":1,\"type\":\"invoke\",\"f\":\"set-status\","
            "\"key\":\"7\",\"value\":{\"status\":\"CLOSED\","
            "\"expected_version\":1},\"time_ns\":3}\n"
            "{\"process\":2,\"type\":\"invoke\",\"f\":\"set-status\","
            "\"key\":\"7\",\"value\":{\"status\":\"TRIAGE\","
            "\"expected_version\":1},\"time_ns\":4}\n"
            "{\"process\":2,\"type\":\"fail\",\"f\":\"set-status\","
            "\"key\":\"7\",\"error\":\"version-mismatch\",\"value\":null,"
            "\"time_ns\":5}\n"
            "{\"process\":2,\"type\":\"invoke\",\"f\":\"read\",\"key\":\"7\","
            "\"value\":null,\"time_ns\":6}\n"
            "{\"process\":2,\"type\":\"ok\",\"f\":\"read\",\"key\":\"7\","
            "\"value\":{\"status\":\"CLOSED\",\"version\":2},\"time_ns\":7}\n",
            J, MC),
        LIN);
}

static void test_parse_errors(void **state)
{
    static const char inv[] =
        "{\"process\":0,\"type\":\"invoke\",\"f\":\"read\",\"value\":null,"
        "\"time_ns\":1}\n";
    char deep[256];
    (void)state;
    expect_malformed("{\"process\":0,\"type\":\"invoke\"", J, MR,
                     "line 1: line ends inside an object");
    expect_malformed("{\"process\":0,\"type\":\"invoke\",\"f\":\"read\","
                     "\"value\":\"abc}\n",
                     J, MR, "unterminated string");
    expect_malformed("{\"process\":0,\"type\":\"invoke\",\"f\":\"read\","
                     "\"value\":1.5,\"time_ns\":1}\n",
                     J, MR, "only integer numbers");
    expect_malformed("{\"process\":0,\"type\":\"invoke\",\"f\":\"read\","
                     "\"value\":null,\"time_ns\":1} x\n",
                     J, MR, "unexpected text after");
    expect_malformed("[1,2]\n", J, MR, "one map");
    expect_malformed("{\"process\":0,\"type\":\"invoke\",\"f\":\"read\","
                     "\"value\":null}\n",
                     J, MR, "time_ns");
    expect_malformed("{\"process\":0,\"type\":\"begin\",\"f\":\"read\","
                     "\"value\":null,\"time_ns\":1}\n",
                     J, MR, "invoke, ok, fail or info");
    expect_malformed("{\"process\":0,\"type\":\"invoke\",\"f\":\"frob\","
                     "\"value\":null,\"time_ns\":1}\n",
                     J, MR, "not an operation of this model");
    expect_malformed("{\"process\":0,\"type\":\"ok\",\"f\":\"read\","
                     "\"value\":null,\"time_ns\":1}\n",
                     J, MR, "never invoked");
    {
        char two[512];
        snprintf(two, sizeof(two), "%s%s", inv, inv);
        expect_malformed(two, J, MR, "line 2: process 0 invokes");
    }
    expect_malformed("{\"a\":\"\\ud800\"}\n", J, MR, "surrogate");
    expect_malformed("{\"a\":\"\\q\"}\n", J, MR, "unknown escape");
    expect_malformed("{\"a\":\"\xff\"}\n", J, MR, "UTF-8");
    expect_malformed("{\"a\":99999999999999999999}\n", J, MR, "range");
    expect_malformed("{\"a\" 1}\n", J, MR, "expected ':'");
    expect_malformed("{\"a\":1]\n", J, MR, "mismatched");
    /* Nesting past the fixed depth is refused, not recursed into. */
    memset(deep, 0, sizeof(deep));
    strcpy(deep, "{\"a\":");
    for (int i = 0; i < 20; i++) {
        strcat(deep, "[");
    }
    strcat(deep, "\n");
    expect_malformed(deep, J, MR, "nested too deeply");
    {
        static const char nul[] = "{\"a\":1}\0garbage\n";
        FILE *f = fmemopen((void *)nul, sizeof(nul) - 1u, "r");
        rz_check_history *h = NULL;
        char err[RZ_ERRMSG_BYTES];
        assert_int_equal(rz_check_history_read(f, J, MR, &h, err),
                         RZ_EMALFORMED);
        assert_non_null(strstr(err, "NUL"));
        fclose(f);
    }
    /* EDN and Jepsen log errors. */
    expect_malformed("{:process 0 :type :invoke :f :get :key \"a\" :value}\n",
                     E, MK, "no value");
    expect_malformed("{:process 0, :type :invoke, :f :get, :key \"a\"\n", E, MK,
                     "ends inside");
    expect_malformed("{:process 0, :type :invoke, :f :get} {}\n", E, MK,
                     "after the map");
    expect_malformed("INFO  jepsen.util - 0\t:invoke\t:read\tnil\n"
                     "INFO  jepsen.util - 0\t:begin\t:read\tnil\n",
                     L, MR, "line 2: type must be");
    expect_malformed("INFO  jepsen.util - 0\t:invoke\t:cas\t[1 2\n", L, MR,
                     "unterminated vector");
    expect_malformed("just some text\nno history here\n", L, MR,
                     "no operations found");
    /* Case values must name real statuses. */
    expect_malformed(
        "{\"process\":1,\"type\":\"invoke\",\"f\":\"set-status\","
        "\"key\":\"7\",\"value\":{\"status\":\"DONE\"},\"time_ns\":3}\n",
        J, MC, "status must be");
}

static void test_parse_edn_and_log(void **state)
{
    (void)state;
    assert_int_equal(
        check_str("{:process 0, :type :invoke, :f :append, :key \"0\", "
                  ":value \"x 0 0 y\"}\n"
                  "{:process 1, :type :invoke, :f :get, :key \"0\", :value "
                  "nil}\n"
                  "{:process :nemesis, :type :info, :f :start, :value nil}\n"
                  "{:process 0, :type :ok, :f :append, :key \"0\", :value "
                  "\"x 0 0 y\"}\n"
                  "{:process 1, :type :ok, :f :get, :key \"0\", :value "
                  "\"\"}\n",
                  E, MK),
        LIN);
    assert_int_equal(
        check_str("header line\n"
                  "INFO  jepsen.util - 0\t:invoke\t:write\t1\n"
                  "INFO  jepsen.util - 0\t:ok\t:write\t1\n"
                  "INFO  jepsen.util - 1   :invoke :cas    [1 2]\n"
                  "INFO  jepsen.util - 1   :info   :cas    :timed-out\n"
                  "INFO  jepsen.util - 2\t:invoke\t:read\tnil\n"
                  "INFO  jepsen.util - 2\t:fail\t:read\t:timed-out\n"
                  "INFO  jepsen.util - 3\t:invoke\t:read\tnil\n"
                  "INFO  jepsen.util - 3\t:ok\t:read\t2\n"
                  "INFO  jepsen.util - 3\t:invoke\t:read\tnil\n"
                  "INFO  jepsen.util - 3\t:ok\t:read\t2\n",
                  L, MR),
        LIN);
    assert_int_equal(check_str("INFO  jepsen.util - 0\t:invoke\t:write\t1\n"
                               "INFO  jepsen.util - 0\t:ok\t:write\t1\n"
                               "INFO  jepsen.util - 1\t:invoke\t:cas\t[1 2]\n"
                               "INFO  jepsen.util - 1\t:fail\t:cas\t[1 2]\n",
                               L, MR),
                     BAD);
}

/* Random damage to valid histories of every format: each parse either
 * succeeds (then the check runs) or fails cleanly with RZ_EMALFORMED. The
 * sanitizer build turns any memory error into a failure. */
static void test_parse_mutations(void **state)
{
    static const struct
    {
        rz_check_format fmt;
        rz_check_model model;
        const char *text;
    } seeds[] = {
        {J, MC,
         "{\"process\":0,\"type\":\"invoke\",\"f\":\"create\",\"value\":null,"
         "\"time_ns\":1}\n"
         "{\"process\":0,\"type\":\"ok\",\"f\":\"create\",\"key\":\"7\","
         "\"value\":{\"status\":\"NEW\",\"version\":1},\"time_ns\":2}\n"
         "{\"process\":1,\"type\":\"invoke\",\"f\":\"set-status\",\"key\":"
         "\"7\",\"value\":{\"status\":\"TRIAGE\",\"expected_version\":1},"
         "\"time_ns\":3}\n"
         "{\"process\":1,\"type\":\"ok\",\"f\":\"set-status\",\"key\":\"7\","
         "\"value\":{\"status\":\"TRIAGE\",\"version\":2},\"time_ns\":4}\n"},
        {E, MK,
         "{:process 0, :type :invoke, :f :append, :key \"0\", :value \"x\"}\n"
         "{:process 0, :type :ok, :f :append, :key \"0\", :value \"x\"}\n"
         "{:process 1, :type :invoke, :f :get, :key \"0\", :value nil}\n"
         "{:process 1, :type :ok, :f :get, :key \"0\", :value \"x\"}\n"},
        {L, MR,
         "INFO  jepsen.util - 0\t:invoke\t:write\t1\n"
         "INFO  jepsen.util - 0\t:ok\t:write\t1\n"
         "INFO  jepsen.util - 1\t:invoke\t:cas\t[1 2]\n"
         "INFO  jepsen.util - 1\t:fail\t:cas\t[1 2]\n"},
    };
    static const char alphabet[] = "{}[]\":,\\ \n\t0-9aZ\x00\xff:u";
    uint64_t rng = 12345;
    size_t n_ok = 0, n_bad = 0;
    /* RZ_CHECK_MUTATIONS=100000 runs a longer fuzzing session by hand. */
    const char *env = getenv("RZ_CHECK_MUTATIONS");
    int iters = env != NULL ? atoi(env) : 400;
    (void)state;
    for (size_t k = 0; k < RZ_ARRAY_LEN(seeds); k++) {
        size_t len = strlen(seeds[k].text);
        char *buf = malloc(len + 8u);
        assert_non_null(buf);
        for (int iter = 0; iter < iters; iter++) {
            size_t n = len;
            rz_check_history *h = NULL;
            char err[RZ_ERRMSG_BYTES];
            FILE *f;
            int rv;
            memcpy(buf, seeds[k].text, len);
            for (int m = 0; m < 1 + iter % 4; m++) {
                size_t pos;
                rng = rng * 6364136223846793005ull + 1442695040888963407ull;
                pos = (size_t)(rng >> 33) % n;
                switch ((rng >> 20) % 3u) {
                case 0: /* replace */
                    buf[pos] = alphabet[(rng >> 8) % (sizeof(alphabet) - 1u)];
                    break;
                case 1: /* delete */
                    memmove(buf + pos, buf + pos + 1u, n - pos - 1u);
                    n--;
                    break;
                default: /* insert */
                    memmove(buf + pos + 1u, buf + pos, n - pos);
                    buf[pos] = alphabet[(rng >> 8) % (sizeof(alphabet) - 1u)];
                    n++;
                    break;
                }
            }
            f = fmemopen(buf, n, "r");
            assert_non_null(f);
            rv =
                rz_check_history_read(f, seeds[k].fmt, seeds[k].model, &h, err);
            fclose(f);
            if (rv == 0) {
                rz_check_result res;
                assert_int_equal(rz_check_run(h, NULL, &res), 0);
                rz_check_result_close(&res);
                rz_check_history_destroy(h);
                n_ok++;
            } else {
                assert_int_equal(rv, RZ_EMALFORMED);
                assert_null(h);
                assert_true(strlen(err) > 0);
                n_bad++;
            }
        }
        free(buf);
    }
    /* Both paths were exercised. */
    assert_true(n_ok > 10);
    assert_true(n_bad > 10);
}

/* Budgets: 20 concurrent writes and a read of a value nobody wrote. Proving
 * that takes every order of the writes, so small budgets end in UNKNOWN and
 * a generous one in NOT_LINEARIZABLE. */
static rz_check_history *hard_history(int n_writes)
{
    rz_check_history *h = new_hist(RZ_CHECK_MODEL_REGISTER);
    char v[16];
    for (int i = 0; i < n_writes; i++) {
        snprintf(v, sizeof(v), "%d", i);
        reg(h, i, 0, 100, RZ_CHECK_F_WRITE, RZ_CHECK_OK, v, NULL);
    }
    reg(h, 99, 200, 210, RZ_CHECK_F_READ, RZ_CHECK_OK, "999", NULL);
    return h;
}

static void test_budgets(void **state)
{
    rz_check_history *h;
    rz_check_result res;
    rz_check_options o = {.max_cache_mb = 1, .shrink_seconds = -1};
    (void)state;
    h = hard_history(20);
    assert_int_equal(rz_check_run(h, &o, &res), 0);
    assert_int_equal(res.verdict, RZ_CHECK_UNKNOWN_VERDICT);
    assert_int_equal(res.n_unknown, 1);
    assert_non_null(strstr(res.explanation, "budget"));
    rz_check_result_close(&res);
    o = (rz_check_options){.max_seconds = 0.2, .shrink_seconds = -1};
    assert_int_equal(rz_check_run(h, &o, &res), 0);
    assert_int_equal(res.verdict, RZ_CHECK_UNKNOWN_VERDICT);
    assert_true(res.seconds < 2.0);
    rz_check_result_close(&res);
    rz_check_history_destroy(h);
    h = hard_history(8);
    assert_int_equal(verdict_of(h, NULL), BAD);
}

/* ---- Generator ---- */

static rz_check_verdict gen_verdict(const rz_check_gen_options *o,
                                    char **text_out)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    rz_check_history *h = NULL;
    char err[RZ_ERRMSG_BYTES];
    rz_check_verdict v;
    assert_non_null(f);
    assert_int_equal(rz_check_gen_write(f, o), 0);
    fclose(f);
    f = fmemopen(buf, len, "r");
    assert_int_equal(rz_check_history_read(f, J, MC, &h, err), 0);
    fclose(f);
    v = verdict_of(h, NULL);
    if (text_out != NULL) {
        *text_out = buf;
    } else {
        free(buf);
    }
    return v;
}

static void test_gen_linearizable(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 5; seed++) {
        rz_check_gen_options o = {.n_ops = 4000,
                                  .n_cases = 1 + (uint32_t)seed * 3u,
                                  .n_processes = 4 + (uint32_t)seed * 3u,
                                  .seed = seed,
                                  .info_rate = 0.05 * (double)(seed % 3u)};
        assert_int_equal(gen_verdict(&o, NULL), LIN);
    }
}

static void test_gen_broken(void **state)
{
    (void)state;
    for (int b = RZ_CHECK_BREAK_STALE_READ; b <= RZ_CHECK_BREAK_VERSION_JUMP;
         b++) {
        for (uint64_t seed = 1; seed <= 4; seed++) {
            rz_check_gen_options o = {.n_ops = 3000,
                                      .n_cases = 20,
                                      .n_processes = 8,
                                      .seed = seed * 11u,
                                      .info_rate = 0.03,
                                      .breaks = (rz_check_break)b};
            if (gen_verdict(&o, NULL) != BAD) {
                fail_msg("break %d seed %llu was not caught", b,
                         (unsigned long long)o.seed);
            }
            /* The same seed without the break is fine. */
            o.breaks = RZ_CHECK_BREAK_NONE;
            assert_int_equal(gen_verdict(&o, NULL), LIN);
        }
    }
}

static void test_gen_deterministic(void **state)
{
    rz_check_gen_options o = {.n_ops = 500,
                              .n_cases = 5,
                              .n_processes = 3,
                              .seed = 42,
                              .info_rate = 0.1};
    char *a = NULL, *b = NULL;
    (void)state;
    assert_int_equal(gen_verdict(&o, &a), LIN);
    assert_int_equal(gen_verdict(&o, &b), LIN);
    assert_string_equal(a, b);
    free(a);
    free(b);
    o.n_ops = 0;
    assert_int_equal(rz_check_gen_write(stdout, &o), RZ_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_register_basic),
        cmocka_unit_test(test_register_cas_and_unknown),
        cmocka_unit_test(test_register_backtracking),
        cmocka_unit_test(test_explanation_shrinks),
        cmocka_unit_test(test_bruteforce_register),
        cmocka_unit_test(test_bruteforce_case),
        cmocka_unit_test(test_kv),
        cmocka_unit_test(test_case_model),
        cmocka_unit_test(test_status_table),
        cmocka_unit_test(test_api_errors),
        cmocka_unit_test(test_parse_jsonl),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_parse_edn_and_log),
        cmocka_unit_test(test_parse_mutations),
        cmocka_unit_test(test_budgets),
        cmocka_unit_test(test_gen_linearizable),
        cmocka_unit_test(test_gen_broken),
        cmocka_unit_test(test_gen_deterministic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
