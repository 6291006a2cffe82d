/* history: building a history of compact operations from rz_check_op
 * descriptions, interning strings, and the names of models, formats and
 * statuses. */
#include "check_int.h"

#include "common/common.h"

#include <stdlib.h>
#include <string.h>

/* ---- String interner ---- */

static uint64_t str_hash(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a, then a final mix */
    for (size_t i = 0; i < len; i++) {
        h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

int rz_check__strtab_init(rz_check__strtab *t)
{
    RZ_PRE(t != NULL);
    memset(t, 0, sizeof(*t));
    t->cap = 64;
    t->n = 1; /* id 0 is nil */
    t->n_slots = 128;
    t->strs = calloc(t->cap, sizeof(*t->strs));
    t->lens = calloc(t->cap, sizeof(*t->lens));
    t->slots = calloc(t->n_slots, sizeof(*t->slots));
    if (t->strs == NULL || t->lens == NULL || t->slots == NULL) {
        rz_check__strtab_close(t);
        return RZ_ENOMEM;
    }
    return 0;
}

void rz_check__strtab_close(rz_check__strtab *t)
{
    if (t->strs != NULL) {
        for (uint32_t i = 1; i < t->n; i++) {
            free(t->strs[i]);
        }
    }
    free(t->strs);
    free(t->lens);
    free(t->slots);
    memset(t, 0, sizeof(*t));
}

static int strtab_grow_slots(rz_check__strtab *t)
{
    uint32_t n_slots = t->n_slots * 2u;
    uint32_t *slots;
    if (n_slots < t->n_slots) {
        return RZ_ETOOBIG;
    }
    slots = calloc(n_slots, sizeof(*slots));
    if (slots == NULL) {
        return RZ_ENOMEM;
    }
    for (uint32_t id = 1; id < t->n; id++) {
        uint32_t i =
            (uint32_t)str_hash(t->strs[id], t->lens[id]) & (n_slots - 1u);
        for (uint32_t probe = 0; probe < n_slots; probe++) {
            if (slots[i] == 0) {
                slots[i] = id;
                break;
            }
            i = (i + 1u) & (n_slots - 1u);
        }
    }
    free(t->slots);
    t->slots = slots;
    t->n_slots = n_slots;
    return 0;
}

int rz_check__strtab_intern(rz_check__strtab *t, const char *s, size_t len,
                            uint32_t *id)
{
    uint32_t i;
    RZ_PRE(t != NULL && id != NULL && (s != NULL || len == 0));
    if (len > UINT32_MAX - 1u) {
        return RZ_ETOOBIG;
    }
    if ((uint64_t)(t->n + 1u) * 2u > t->n_slots) {
        int rv = strtab_grow_slots(t);
        if (rv != 0) {
            return rv;
        }
    }
    i = (uint32_t)str_hash(s, len) & (t->n_slots - 1u);
    for (uint32_t probe = 0; probe < t->n_slots; probe++) {
        uint32_t cur = t->slots[i];
        if (cur == 0) {
            break;
        }
        if (t->lens[cur] == len && memcmp(t->strs[cur], s, len) == 0) {
            *id = cur;
            return 0;
        }
        i = (i + 1u) & (t->n_slots - 1u);
    }
    RZ_ASSERT(t->slots[i] == 0);
    if (t->n == t->cap) {
        uint32_t cap = t->cap * 2u;
        char **strs = realloc(t->strs, cap * sizeof(*strs));
        uint32_t *lens;
        if (strs == NULL) {
            return RZ_ENOMEM;
        }
        t->strs = strs;
        lens = realloc(t->lens, cap * sizeof(*lens));
        if (lens == NULL) {
            return RZ_ENOMEM;
        }
        t->lens = lens;
        t->cap = cap;
    }
    t->strs[t->n] = malloc(len + 1u);
    if (t->strs[t->n] == NULL) {
        return RZ_ENOMEM;
    }
    if (len > 0) {
        memcpy(t->strs[t->n], s, len);
    }
    t->strs[t->n][len] = '\0';
    t->lens[t->n] = (uint32_t)len;
    t->bytes += len;
    t->slots[i] = t->n;
    *id = t->n;
    t->n++;
    return 0;
}

/* ---- Text buffer ---- */

void rz_check__text_init(rz_check__text *t, size_t max_bytes)
{
    memset(t, 0, sizeof(*t));
    t->max = max_bytes;
}

void rz_check__text_printf(rz_check__text *t, const char *fmt, ...)
{
    va_list ap;
    char small[512];
    int n;
    va_start(ap, fmt);
    n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0 || t->truncated || t->nomem) {
        return;
    }
    if (t->len + (size_t)n + 1u > t->max) {
        t->truncated = true;
        return;
    }
    if (t->len + (size_t)n + 1u > t->cap) {
        size_t cap = t->cap == 0 ? 4096 : t->cap;
        char *s;
        while (cap < t->len + (size_t)n + 1u) {
            cap *= 2u;
        }
        s = realloc(t->s, cap);
        if (s == NULL) {
            t->nomem = true;
            return;
        }
        t->s = s;
        t->cap = cap;
    }
    if ((size_t)n < sizeof(small)) {
        memcpy(t->s + t->len, small, (size_t)n + 1u);
    } else {
        va_start(ap, fmt);
        (void)vsnprintf(t->s + t->len, (size_t)n + 1u, fmt, ap);
        va_end(ap);
    }
    t->len += (size_t)n;
}

void rz_check__text_close(rz_check__text *t)
{
    free(t->s);
    memset(t, 0, sizeof(*t));
}

/* ---- Histories ---- */

int rz_check_history_create(rz_check_model model, rz_check_history **out)
{
    rz_check_history *h;
    int rv;
    RZ_PRE(out != NULL);
    *out = NULL;
    if (model != RZ_CHECK_MODEL_REGISTER && model != RZ_CHECK_MODEL_KV &&
        model != RZ_CHECK_MODEL_CASE) {
        return RZ_EINVAL;
    }
    h = calloc(1, sizeof(*h));
    if (h == NULL) {
        return RZ_ENOMEM;
    }
    h->model = model;
    rv = rz_check__strtab_init(&h->strs);
    if (rv != 0) {
        goto err_after_alloc;
    }
    rv = rz_check__strtab_intern(&h->strs, "", 0, &h->empty_id);
    if (rv != 0) {
        goto err_after_strtab;
    }
    *out = h;
    return 0;

err_after_strtab:
    rz_check__strtab_close(&h->strs);
err_after_alloc:
    free(h);
    return rv;
}

void rz_check_history_destroy(rz_check_history *h)
{
    if (h == NULL) {
        return;
    }
    rz_check__strtab_close(&h->strs);
    free(h->ops);
    free(h);
}

size_t rz_check_history_len(const rz_check_history *h)
{
    RZ_PRE(h != NULL);
    return h->n_added;
}

static bool f_in_model(rz_check_model m, rz_check_f f)
{
    switch (m) {
    case RZ_CHECK_MODEL_REGISTER:
        return f == RZ_CHECK_F_READ || f == RZ_CHECK_F_WRITE ||
               f == RZ_CHECK_F_CAS;
    case RZ_CHECK_MODEL_KV:
        return f == RZ_CHECK_F_GET || f == RZ_CHECK_F_PUT ||
               f == RZ_CHECK_F_APPEND;
    case RZ_CHECK_MODEL_CASE:
        return f == RZ_CHECK_F_CREATE || f == RZ_CHECK_F_SET_STATUS ||
               f == RZ_CHECK_F_CASE_READ;
    }
    return false;
}

static bool is_observation(rz_check_f f)
{
    return f == RZ_CHECK_F_READ || f == RZ_CHECK_F_GET ||
           f == RZ_CHECK_F_CASE_READ;
}

static int intern_value(rz_check_history *h, const char *s, size_t len,
                        uint64_t *id)
{
    uint32_t v;
    int rv;
    if (s == NULL) {
        /* nil: the register's empty value; kv treats nil as "". */
        *id = h->model == RZ_CHECK_MODEL_KV ? h->empty_id : RZ_CHECK__NIL;
        return 0;
    }
    if (len > RZ_CHECK_MAX_STR_BYTES) {
        return RZ_ETOOBIG;
    }
    rv = rz_check__strtab_intern(&h->strs, s, len, &v);
    *id = v;
    return rv;
}

/* Versions start at 1 (a create makes version 1), so 0 — what a
 * zero-initialised rz_check_op holds — means "not reported" too. */
static uint64_t version_u64(int64_t v)
{
    return v <= 0 ? RZ_CHECK__NONE : (uint64_t)v;
}

static uint64_t expected_u64(int64_t v)
{
    return v < 0 ? RZ_CHECK__NONE : (uint64_t)v;
}

/* Whether an operation can be dropped before the search because it neither
 * changed the state nor observed it: a read that never returned, a write
 * that definitely failed, a case operation that failed for a reason that
 * says nothing about the state. A failed cas stays: it says the value was
 * not `from` (checker-data README). */
static bool is_noop(const rz_check_op *op)
{
    if (op->outcome == RZ_CHECK_UNKNOWN) {
        return is_observation(op->f);
    }
    if (op->outcome != RZ_CHECK_FAIL) {
        return false;
    }
    if (op->f == RZ_CHECK_F_CAS) {
        return false;
    }
    if (op->f == RZ_CHECK_F_SET_STATUS) {
        return op->fail_reason == RZ_CHECK_FAIL_OTHER;
    }
    return true;
}

int rz_check_history_add(rz_check_history *h, const rz_check_op *op)
{
    rz_check__op c;
    int rv;
    RZ_PRE(h != NULL && op != NULL);
    if (!f_in_model(h->model, op->f) ||
        (op->outcome != RZ_CHECK_OK && op->outcome != RZ_CHECK_FAIL &&
         op->outcome != RZ_CHECK_UNKNOWN)) {
        return RZ_EINVAL;
    }
    if (op->outcome != RZ_CHECK_UNKNOWN && op->return_time < op->invoke_time) {
        return RZ_EINVAL;
    }
    if (op->key_len > RZ_CHECK_MAX_STR_BYTES) {
        return RZ_ETOOBIG;
    }
    if (h->n_added >= RZ_CHECK_MAX_OPS) {
        return RZ_ETOOBIG;
    }
    if (op->f == RZ_CHECK_F_SET_STATUS &&
        (op->status <= RZ_CHECK_STATUS_NONE ||
         op->status > RZ_CHECK_STATUS_CLOSED)) {
        return RZ_EINVAL;
    }
    if ((int)op->status < 0 || op->status > RZ_CHECK_STATUS_CLOSED) {
        return RZ_EINVAL;
    }
    h->n_added++;
    if (is_noop(op)) {
        return 0;
    }
    memset(&c, 0, sizeof(c));
    c.process = op->process;
    c.invoke_time = op->invoke_time;
    c.return_time =
        op->outcome == RZ_CHECK_UNKNOWN ? RZ_CHECK_TIME_NEVER : op->return_time;
    c.f = (uint8_t)op->f;
    c.outcome = (uint8_t)op->outcome;
    c.fail_reason = (uint8_t)op->fail_reason;
    c.via = (uint8_t)op->via;
    c.in1 = c.in2 = c.out1 = c.out2 = RZ_CHECK__NONE;
    {
        uint32_t key;
        rv = rz_check__strtab_intern(&h->strs, op->key ? op->key : "",
                                     op->key ? op->key_len : 0, &key);
        if (rv != 0) {
            goto err;
        }
        c.key = key;
    }
    switch (op->f) {
    case RZ_CHECK_F_READ:
    case RZ_CHECK_F_GET:
        rv = intern_value(h, op->value, op->value_len, &c.out1);
        break;
    case RZ_CHECK_F_WRITE:
    case RZ_CHECK_F_PUT:
    case RZ_CHECK_F_APPEND:
        rv = intern_value(h, op->value, op->value_len, &c.in1);
        break;
    case RZ_CHECK_F_CAS:
        rv = intern_value(h, op->value, op->value_len, &c.in1);
        if (rv == 0) {
            rv = intern_value(h, op->value2, op->value2_len, &c.in2);
        }
        break;
    case RZ_CHECK_F_CREATE:
        c.out1 = op->status == RZ_CHECK_STATUS_NONE ? RZ_CHECK__NONE
                                                    : (uint64_t)op->status;
        c.out2 = version_u64(op->version);
        break;
    case RZ_CHECK_F_SET_STATUS:
        c.in1 = (uint64_t)op->status;
        c.in2 = expected_u64(op->expected_version);
        c.out2 = version_u64(op->version);
        break;
    case RZ_CHECK_F_CASE_READ:
        c.out1 = (uint64_t)op->status;
        c.out2 = version_u64(op->version);
        break;
    }
    if (rv != 0) {
        goto err;
    }
    if (h->n_ops == h->cap_ops) {
        size_t cap = h->cap_ops == 0 ? 1024 : h->cap_ops * 2u;
        rz_check__op *ops = realloc(h->ops, cap * sizeof(*ops));
        if (ops == NULL) {
            rv = RZ_ENOMEM;
            goto err;
        }
        h->ops = ops;
        h->cap_ops = cap;
    }
    c.seq = (uint32_t)h->n_ops;
    h->ops[h->n_ops++] = c;
    return 0;

err:
    /* Interned strings may stay behind; they are harmless and freed with
     * the history. */
    h->n_added--;
    return rv;
}

/* ---- Names ---- */

static const char *const status_names[RZ_CHECK_STATUS_COUNT] = {
    "NONE",        "NEW",     "TRIAGE",   "ROUTED",
    "IN_PROGRESS", "ON_HOLD", "RESOLVED", "CLOSED"};

const char *rz_check_status_name(rz_check_status s)
{
    if ((int)s < 0 || (int)s >= RZ_CHECK_STATUS_COUNT) {
        return NULL;
    }
    return status_names[s];
}

int rz_check_status_parse(const char *s, size_t len, rz_check_status *out)
{
    for (int i = 1; i < RZ_CHECK_STATUS_COUNT; i++) {
        if (strlen(status_names[i]) == len &&
            memcmp(status_names[i], s, len) == 0) {
            *out = (rz_check_status)i;
            return 0;
        }
    }
    return RZ_EINVAL;
}

bool rz_check_status_allowed(rz_check_status from, rz_check_status to)
{
    /* DESIGN.md §2, one bit per allowed target status. */
#define B(x) (1u << RZ_CHECK_STATUS_##x)
    static const unsigned allowed[RZ_CHECK_STATUS_COUNT] = {
        [RZ_CHECK_STATUS_NEW] = B(TRIAGE) | B(ROUTED) | B(CLOSED),
        [RZ_CHECK_STATUS_TRIAGE] = B(ROUTED) | B(CLOSED),
        [RZ_CHECK_STATUS_ROUTED] =
            B(IN_PROGRESS) | B(ROUTED) | B(TRIAGE) | B(CLOSED),
        [RZ_CHECK_STATUS_IN_PROGRESS] = B(ON_HOLD) | B(RESOLVED) | B(TRIAGE),
        [RZ_CHECK_STATUS_ON_HOLD] = B(IN_PROGRESS) | B(RESOLVED) | B(CLOSED),
        [RZ_CHECK_STATUS_RESOLVED] = B(CLOSED) | B(IN_PROGRESS),
        [RZ_CHECK_STATUS_CLOSED] = B(IN_PROGRESS),
    };
#undef B
    if ((int)from <= 0 || (int)from >= RZ_CHECK_STATUS_COUNT || (int)to <= 0 ||
        (int)to >= RZ_CHECK_STATUS_COUNT) {
        return false;
    }
    return (allowed[from] & (1u << to)) != 0;
}

bool rz_check_status_allowed_via(rz_check_status from, rz_check_status to,
                                 rz_check_via via)
{
    bool reopen =
        from == RZ_CHECK_STATUS_CLOSED && to == RZ_CHECK_STATUS_IN_PROGRESS;
    if (!rz_check_status_allowed(from, to)) {
        return false;
    }
    switch (via) {
    case RZ_CHECK_VIA_ANY:
        return true;
    case RZ_CHECK_VIA_STATUS:
        return to != RZ_CHECK_STATUS_ROUTED && !reopen;
    case RZ_CHECK_VIA_ROUTE:
        return to == RZ_CHECK_STATUS_ROUTED;
    case RZ_CHECK_VIA_REOPEN:
        return reopen;
    }
    return false;
}

int rz_check_model_parse(const char *s, rz_check_model *out)
{
    if (strcmp(s, "register") == 0) {
        *out = RZ_CHECK_MODEL_REGISTER;
    } else if (strcmp(s, "kv") == 0) {
        *out = RZ_CHECK_MODEL_KV;
    } else if (strcmp(s, "case") == 0) {
        *out = RZ_CHECK_MODEL_CASE;
    } else {
        return RZ_EINVAL;
    }
    return 0;
}

int rz_check_format_parse(const char *s, rz_check_format *out)
{
    if (strcmp(s, "jepsen-log") == 0) {
        *out = RZ_CHECK_FORMAT_JEPSEN_LOG;
    } else if (strcmp(s, "edn") == 0) {
        *out = RZ_CHECK_FORMAT_EDN;
    } else if (strcmp(s, "jsonl") == 0) {
        *out = RZ_CHECK_FORMAT_JSONL;
    } else {
        return RZ_EINVAL;
    }
    return 0;
}

int rz_check_break_parse(const char *s, rz_check_break *out)
{
    static const char *const names[] = {"none", "stale-read", "lost-write",
                                        "duplicate-create", "version-jump"};
    for (size_t i = 0; i < RZ_ARRAY_LEN(names); i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = (rz_check_break)i;
            return 0;
        }
    }
    return RZ_EINVAL;
}
