/* storage apply: the deterministic state machine. Each committed command is
 * parsed, validated against the stored state and either written in full or
 * rejected with an error result that changes nothing but the bookkeeping
 * (applied index, stored result, request id). Every command of a batch runs
 * in one LMDB write txn; the meta record is written once at its end. */
#include "internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Oldest dedup and result records pruned per apply. One apply adds at most
 * one of each, so pruning a few more keeps both tables bounded. */
#define PRUNE_PER_APPLY 8u
/* Most cases one reporter erasure touches in one command. */
#define ERASE_CASES_MAX 10000u
/* Longest SLA a service may have: ten years. */
#define SLA_HOURS_MAX (24u * 365u * 10u)

typedef struct actx
{
    rz_storage *s;
    MDB_txn *txn;
    rz_meta m;
    uint64_t index;
    uint32_t sub; /* events written so far by this command */
    /* One write cursor per table, opened on first use: a cursor finds a
     * record and then replaces or deletes it in place, one B-tree descent
     * instead of two. LMDB closes them when the txn ends. They are
     * positioned with MDB_SET, never MDB_SET_KEY: that one points the key at
     * the page, which the following put rewrites under it. */
    MDB_cursor *cur[T_COUNT];
} actx;

static int cursor_of(actx *a, int t, MDB_cursor **out)
{
    if (a->cur[t] == NULL) {
        int rc = mdb_cursor_open(a->txn, a->s->dbi[t], &a->cur[t]);
        if (rc != 0) {
            a->cur[t] = NULL;
            return rz_storage__mdb_err(rc);
        }
    }
    *out = a->cur[t];
    return 0;
}

/* ---- Writes that keep the checksum lanes -----------------------------------
 */

/* 0, RZ_ENOTFOUND, or a node failure. */
static int tget(actx *a, int t, const void *k, size_t kl, MDB_val *v)
{
    MDB_val key = {kl, (void *)k};
    int rc = mdb_get(a->txn, a->s->dbi[t], &key, v);
    if (rc == MDB_NOTFOUND) {
        return RZ_ENOTFOUND;
    }
    return rz_storage__mdb_err(rc);
}

/* Puts a record. `fresh` says the key cannot exist yet (a new case, event,
 * index key): then no lookup is needed, and finding it anyway means the
 * tables disagree (RZ_ECORRUPT). `append` says it is also the largest key
 * of its table. */
static int tput(actx *a, int t, const void *k, size_t kl, const void *v,
                size_t vl, bool fresh, bool append)
{
    MDB_val key = {kl, (void *)k};
    MDB_val val = {vl, (void *)v};
    MDB_cursor *cur = NULL;
    unsigned flags = 0;
    int rc;
    int rv;
    RZ_PRE(t != T_META);
    if (fresh) {
        flags = append ? MDB_APPEND : MDB_NOOVERWRITE;
        rc = mdb_put(a->txn, a->s->dbi[t], &key, &val, flags);
    } else {
        MDB_val old;
        if ((rv = cursor_of(a, t, &cur)) != 0) {
            return rv;
        }
        rc = mdb_cursor_get(cur, &key, &old, MDB_SET);
        if (rc == 0) {
            rz_storage__record_hash(t, k, kl, old.mv_data, old.mv_size,
                                    a->m.lanes, false);
            flags = MDB_CURRENT;
        } else if (rc != MDB_NOTFOUND) {
            return rz_storage__mdb_err(rc);
        }
        rc = mdb_cursor_put(cur, &key, &val, flags);
    }
    if (rc != 0) {
        return rz_storage__mdb_err(rc);
    }
    rz_storage__record_hash(t, k, kl, v, vl, a->m.lanes, true);
    return 0;
}

static int tdel(actx *a, int t, const void *k, size_t kl, bool must_exist)
{
    MDB_val key = {kl, (void *)k};
    MDB_val old;
    MDB_cursor *cur = NULL;
    int rv = cursor_of(a, t, &cur);
    int rc;
    if (rv != 0) {
        return rv;
    }
    rc = mdb_cursor_get(cur, &key, &old, MDB_SET);
    if (rc == MDB_NOTFOUND) {
        return must_exist ? RZ_ECORRUPT : 0;
    }
    if (rc != 0) {
        return rz_storage__mdb_err(rc);
    }
    rz_storage__record_hash(t, k, kl, old.mv_data, old.mv_size, a->m.lanes,
                            false);
    return rz_storage__mdb_err(mdb_cursor_del(cur, 0));
}

static int counter_add(actx *a, const rz_key *k, int64_t delta)
{
    MDB_val key = {k->len, (void *)k->b};
    MDB_val v;
    MDB_cursor *cur = NULL;
    uint64_t count = 0;
    uint8_t b[8];
    int rv = cursor_of(a, T_STATS, &cur);
    int rc;
    if (rv != 0) {
        return rv;
    }
    rc = mdb_cursor_get(cur, &key, &v, MDB_SET);
    if (rc == 0) {
        if (v.mv_size != 8) {
            return RZ_ECORRUPT;
        }
        count = rz_get_be64(v.mv_data);
        rz_storage__record_hash(T_STATS, k->b, k->len, v.mv_data, 8, a->m.lanes,
                                false);
    } else if (rc != MDB_NOTFOUND) {
        return rz_storage__mdb_err(rc);
    }
    if (delta < 0 && count < (uint64_t)(-delta)) {
        return RZ_ECORRUPT;
    }
    count = delta < 0 ? count - (uint64_t)(-delta) : count + (uint64_t)delta;
    if (count == 0) {
        /* A counter at zero is deleted, so the state does not remember
         * values that came and went. */
        RZ_ASSERT(rc == 0);
        return rz_storage__mdb_err(mdb_cursor_del(cur, 0));
    }
    rz_put_be64(b, count);
    v.mv_size = 8;
    v.mv_data = b;
    rc = mdb_cursor_put(cur, &key, &v, rc == 0 ? MDB_CURRENT : 0);
    if (rc != 0) {
        return rz_storage__mdb_err(rc);
    }
    rz_storage__record_hash(T_STATS, k->b, k->len, b, 8, a->m.lanes, true);
    return 0;
}

static bool key_in(const rz_key *k, const rz_key *set, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (set[i].len == k->len && memcmp(set[i].b, k->b, k->len) == 0) {
            return true;
        }
    }
    return false;
}

/* Writes case c (old = its previous state, or NULL for a new case) with the
 * index keys and counters that change. */
static int case_write(actx *a, const rz_case *old, const rz_case *c)
{
    rz_key ok[CASE_KEYS_MAX], nk[CASE_KEYS_MAX];
    size_t on = 0, nn;
    uint8_t id[8];
    rz_buf *b = &a->s->val;
    int rv;
    rz_put_be64(id, c->case_id);
    rz_buf_reset(b);
    rz_storage__case_encode(b, c);
    if (b->err != 0) {
        return RZ_ENOMEM;
    }
    rv = tput(a, T_CASES, id, 8, b->data, b->len, old == NULL, old == NULL);
    if (rv != 0) {
        return rv;
    }
    if (old != NULL) {
        on = rz_storage__case_index_keys(old, ok);
    }
    nn = rz_storage__case_index_keys(c, nk);
    for (size_t i = 0; i < on; i++) {
        if (!key_in(&ok[i], nk, nn) &&
            (rv = tdel(a, T_IDX, ok[i].b, ok[i].len, true)) != 0) {
            return rv;
        }
    }
    for (size_t i = 0; i < nn; i++) {
        if (!key_in(&nk[i], ok, on) && (rv = tput(a, T_IDX, nk[i].b, nk[i].len,
                                                  "", 0, true, false)) != 0) {
            return rv;
        }
    }
    on = old != NULL ? rz_storage__case_stat_keys(old, ok) : 0;
    nn = rz_storage__case_stat_keys(c, nk);
    for (size_t i = 0; i < on; i++) {
        if (!key_in(&ok[i], nk, nn) && (rv = counter_add(a, &ok[i], -1)) != 0) {
            return rv;
        }
    }
    for (size_t i = 0; i < nn; i++) {
        if (!key_in(&nk[i], ok, on) && (rv = counter_add(a, &nk[i], 1)) != 0) {
            return rv;
        }
    }
    if (c->status == RZ_STATUS_CLOSED &&
        (old == NULL || old->status != RZ_STATUS_CLOSED)) {
        rz_key k;
        rz_storage__stat_key(&k, RZ_STAT_CLOSED_DAY, NULL,
                             rz_storage__day(c->closed_ms));
        if ((rv = counter_add(a, &k, 1)) != 0) {
            return rv;
        }
    }
    return 0;
}

/* Appends event e to case c (which the caller writes afterwards): seq,
 * revision and time are filled here. Callers have checked that the case
 * has room for it. */
static int event_add(actx *a, rz_case *c, rz_event *e, bool append)
{
    uint8_t k[12], rk[12];
    rz_buf *b = &a->s->val;
    int rv;
    RZ_PRE(c->n_events < RZ_CASE_EVENTS_MAX);
    e->case_id = c->case_id;
    e->seq = c->n_events++;
    e->revision = a->index;
    e->at_ms = a->m.log_time_ms;
    c->version++;
    c->updated_ms = a->m.log_time_ms;
    rz_put_be64(k, c->case_id);
    rz_put_be32(k + 8, e->seq);
    rz_buf_reset(b);
    rz_storage__event_encode(b, e);
    if (b->err != 0) {
        return RZ_ENOMEM;
    }
    rv = tput(a, T_EVENTS, k, 12, b->data, b->len, true, append);
    if (rv != 0) {
        return rv;
    }
    rz_put_be64(rk, a->index);
    rz_put_be32(rk + 8, a->sub++);
    return tput(a, T_REVS, rk, 12, k, 12, true, true);
}

/* ---- Reads during apply
 * ------------------------------------------------------ */

/* RZ_ENOCASE (a rejection) or a node failure. */
static int case_load(actx *a, uint64_t id, rz_case *c)
{
    uint8_t k[8];
    MDB_val v;
    int rv;
    rz_put_be64(k, id);
    rv = tget(a, T_CASES, k, 8, &v);
    if (rv == RZ_ENOTFOUND) {
        return RZ_ENOCASE;
    }
    if (rv != 0) {
        return rv;
    }
    return rz_storage__case_decode(v.mv_data, v.mv_size, id, c);
}

static bool is_rejection(int rv)
{
    return rv != RZ_ECORRUPT && rv != RZ_EIO && rv != RZ_ENOSPACE &&
           rv != RZ_ENOMEM;
}

static int exists(actx *a, int t, const char *code, bool *out)
{
    MDB_val v;
    int rv = tget(a, t, code, strlen(code), &v);
    *out = rv == 0;
    return rv == RZ_ENOTFOUND ? 0 : rv;
}

/* Service record: [name, kind, sla_hours]. */
static int service_sla(actx *a, const char *code, bool *found,
                       uint32_t *sla_hours)
{
    MDB_val v;
    rz_mp_dec d;
    uint32_t n = 0;
    const char *name;
    uint32_t name_len;
    uint8_t kind = 0;
    int rv = tget(a, T_SERVICES, code, strlen(code), &v);
    *found = false;
    *sla_hours = 0;
    if (rv == RZ_ENOTFOUND) {
        return 0;
    }
    if (rv != 0) {
        return rv;
    }
    rz_mp_dec_init(&d, v.mv_data, v.mv_size);
    rz_mp_get_array(&d, &n);
    rz_mp_get_str(&d, &name, &name_len, RZ_NAME_MAX_BYTES);
    rz_mp_get_u8(&d, &kind);
    rz_mp_get_u32(&d, sla_hours);
    if (n != 3 || !rz_mp_done(&d) || kind >= RZ_KIND_COUNT ||
        *sla_hours > SLA_HOURS_MAX) {
        return RZ_ECORRUPT;
    }
    *found = true;
    return 0;
}

/* Rule record: [unit]. unit[0] == 0 when there is no rule. */
static int rule_unit(actx *a, const char *service, const char *district,
                     char unit[RZ_CODE_MAX_BYTES + 1])
{
    uint8_t k[RULE_KEY_MAX];
    MDB_val v;
    rz_mp_dec d;
    uint32_t n = 0;
    int rv =
        tget(a, T_RULES, k, rz_storage__rule_key(k, service, district), &v);
    unit[0] = 0;
    if (rv == RZ_ENOTFOUND) {
        return 0;
    }
    if (rv != 0) {
        return rv;
    }
    rz_mp_dec_init(&d, v.mv_data, v.mv_size);
    rz_mp_get_array(&d, &n);
    rz_mp_get_cstr(&d, unit, RZ_CODE_MAX_BYTES + 1);
    if (n != 1 || !rz_mp_done(&d) ||
        rz_storage__code_check(unit, strlen(unit)) != 0) {
        unit[0] = 0;
        return RZ_ECORRUPT;
    }
    return 0;
}

/* ---- Parsing command bodies
 * --------------------------------------------------
 *
 * The first problem in field order decides the error: RZ_EMALFORMED for a
 * wrong type or count, RZ_ETOOBIG for an oversize field, RZ_EUTF8 for bad
 * text, RZ_EINVAL for a value out of range. */

typedef struct prs
{
    rz_mp_dec d;
    int err;
} prs;

static void perr(prs *p, int e)
{
    if (p->err == 0) {
        p->err = e;
    }
}

static void p_check(prs *p)
{
    if (p->d.err != 0) {
        perr(p, RZ_EMALFORMED);
    }
}

static uint64_t p_u64(prs *p)
{
    uint64_t v = 0;
    rz_mp_get_u64(&p->d, &v);
    p_check(p);
    return v;
}

/* An unsigned integer that must be below `bound` (RZ_EINVAL otherwise). */
static uint8_t p_enum(prs *p, uint64_t bound)
{
    uint64_t v = p_u64(p);
    if (v >= bound) {
        perr(p, RZ_EINVAL);
        return 0;
    }
    return (uint8_t)v;
}

static uint32_t p_u32(prs *p)
{
    uint64_t v = p_u64(p);
    if (v > UINT32_MAX) {
        perr(p, RZ_EINVAL);
        return 0;
    }
    return (uint32_t)v;
}

static bool p_bool(prs *p)
{
    bool v = false;
    rz_mp_get_bool(&p->d, &v);
    p_check(p);
    return v;
}

static double p_double(prs *p)
{
    double v = 0;
    rz_mp_get_double(&p->d, &v);
    p_check(p);
    if (!isfinite(v)) {
        perr(p, RZ_EINVAL);
        return 0;
    }
    return v;
}

/* A str (or nil = "") of at most out_size - 1 bytes of UTF-8 without NUL,
 * copied into out. */
static void p_text(prs *p, char *out, size_t out_size)
{
    const char *s = NULL;
    uint32_t len = 0;
    out[0] = 0;
    if (rz_mp_try_nil(&p->d)) {
        return;
    }
    rz_mp_get_str(&p->d, &s, &len, RZ_COMMAND_MAX_BYTES);
    p_check(p);
    if (p->d.err != 0) {
        return;
    }
    if (len >= out_size) {
        perr(p, RZ_ETOOBIG);
    } else if (!rz_utf8_valid(s, len)) {
        perr(p, RZ_EUTF8);
    } else if (memchr(s, 0, len) != NULL) {
        perr(p, RZ_EINVAL);
    } else {
        memcpy(out, s, len);
        out[len] = 0;
    }
}

/* A catalog code; "" only when optional. */
static void p_code(prs *p, char out[RZ_CODE_MAX_BYTES + 1], bool optional)
{
    int rv;
    p_text(p, out, RZ_CODE_MAX_BYTES + 1);
    if (p->err != 0 || (optional && out[0] == 0)) {
        return;
    }
    rv = rz_storage__code_check(out, strlen(out));
    if (rv != 0) {
        perr(p, rv);
    }
}

static void p_body(prs *p, uint32_t expected)
{
    uint32_t n = 0;
    rz_mp_get_array(&p->d, &n);
    p_check(p);
    if (p->d.err == 0 && n != expected) {
        perr(p, RZ_EMALFORMED);
    }
}

static rz_actor p_actor(prs *p)
{
    rz_actor act;
    act.role = p_enum(p, RZ_ACTOR_COUNT);
    act.id = p_u64(p);
    return act;
}

static void p_end(prs *p)
{
    if (!rz_mp_done(&p->d)) {
        perr(p, RZ_EMALFORMED);
    }
}

/* ---- Commands
 * ------------------------------------------------------------------
 *
 * Each exec_* returns 0 with r->code set (0 or a rejection), or a node
 * failure. Everything is validated before the first write. */

static void event_init(rz_event *e, uint8_t type, rz_actor actor)
{
    memset(e, 0, offsetof(rz_event, text));
    e->text[0] = 0;
    e->type = type;
    e->actor = actor;
}

static int result_of_case(rz_result *r, const rz_case *c)
{
    r->code = 0;
    r->case_id = c->case_id;
    r->version = c->version;
    rz_storage__number(c->case_id, c->created_ms, r->number);
    return 0;
}

/* Starts a change of s->old_case: s->new_case becomes a copy of it, and
 * s->ev a fresh event of `type` by `actor` that leaves the status as it is
 * (callers set what their command changes). Returns the event. */
static rz_event *case_event_begin(rz_storage *s, uint8_t type, rz_actor actor)
{
    rz_event *e = &s->ev;
    s->new_case = s->old_case;
    event_init(e, type, actor);
    e->status_from = e->status_to = s->new_case.status;
    return e;
}

/* Reporter record: [name, phone, email, address]. */
static void reporter_encode(rz_buf *b,
                            const char pii[4][RZ_PII_FIELD_MAX_BYTES + 1])
{
    rz_mp_put_array(b, 4);
    for (int i = 0; i < 4; i++) {
        rz_mp_put_cstr(b, pii[i]);
    }
}

static int exec_create(actx *a, prs *p, rz_result *r)
{
    rz_storage *s = a->s;
    rz_case *c = &s->new_case;
    rz_event *e = &s->ev;
    char pii[4][RZ_PII_FIELD_MAX_BYTES + 1];
    bool has_pii = false;
    bool found = false;
    uint32_t sla_hours = 0;
    char unit[RZ_CODE_MAX_BYTES + 1];
    rz_actor actor;
    int rv;

    memset(c, 0, sizeof(*c));
    memset(pii, 0, sizeof(pii));
    p_body(p, 15);
    c->kind = p_enum(p, RZ_KIND_COUNT);
    c->channel = p_enum(p, RZ_CHANNEL_COUNT);
    c->priority = p_enum(p, 4);
    p_code(p, c->service_code, false);
    p_text(p, c->description, sizeof(c->description));
    if (p->err == 0 && c->description[0] == 0) {
        perr(p, RZ_EINVAL);
    }
    p_code(p, c->district, false);
    p_text(p, c->street, sizeof(c->street));
    p_text(p, c->house_no, sizeof(c->house_no));
    c->lat = p_double(p);
    c->lon = p_double(p);
    if (fabs(c->lat) > 90.0 || fabs(c->lon) > 180.0) {
        perr(p, RZ_EINVAL);
    }
    c->notify = p_bool(p);
    c->reporter_id = p_u64(p);
    if (!rz_mp_try_nil(&p->d)) {
        p_body(p, 4);
        for (int i = 0; i < 4; i++) {
            p_text(p, pii[i], sizeof(pii[i]));
        }
        has_pii = true;
        if (c->reporter_id != 0) {
            perr(p, RZ_EINVAL); /* either an existing reporter or a new one */
        }
    }
    actor = p_actor(p);
    p_end(p);
    if (p->err != 0) {
        r->code = p->err;
        return 0;
    }

    /* OTHER (uncategorised, for triage) exists even when the catalog does
     * not list it; listing it gives it a name and an SLA. */
    rv = service_sla(a, c->service_code, &found, &sla_hours);
    if (rv != 0) {
        return rv;
    }
    if (!found && strcmp(c->service_code, "OTHER") != 0) {
        r->code = RZ_ENOSERVICE;
        return 0;
    }
    if (strcmp(c->district, "UNKNOWN") != 0) {
        if ((rv = exists(a, T_DISTRICTS, c->district, &found)) != 0) {
            return rv;
        }
        if (!found) {
            r->code = RZ_ENODISTRICT;
            return 0;
        }
    }
    if (c->reporter_id != 0) {
        uint8_t k[8];
        MDB_val v;
        rz_put_be64(k, c->reporter_id);
        rv = tget(a, T_REPORTERS, k, 8, &v);
        if (rv == RZ_ENOTFOUND) {
            r->code = RZ_ENOREPORTER;
            return 0;
        }
        if (rv != 0) {
            return rv;
        }
    }
    if ((rv = rule_unit(a, c->service_code, c->district, unit)) != 0) {
        return rv;
    }

    /* Valid: write. */
    c->case_id = a->m.next_case_id++;
    if (has_pii) {
        uint8_t k[8];
        c->reporter_id = a->m.next_reporter_id++;
        rz_put_be64(k, c->reporter_id);
        rz_buf_reset(&s->val);
        reporter_encode(&s->val,
                        (const char(*)[RZ_PII_FIELD_MAX_BYTES + 1]) pii);
        if (s->val.err != 0) {
            return RZ_ENOMEM;
        }
        rv = tput(a, T_REPORTERS, k, 8, s->val.data, s->val.len, true, true);
        if (rv != 0) {
            return rv;
        }
        r->reporter_id = c->reporter_id;
    }
    c->created_ms = a->m.log_time_ms;
    c->due_ms =
        sla_hours > 0 ? c->created_ms + (uint64_t)sla_hours * 3600000u : 0;
    c->status = RZ_STATUS_NEW;
    c->version = 0;
    event_init(e, RZ_EV_CREATED, actor);
    e->channel = c->channel;
    if ((rv = event_add(a, c, e, true)) != 0) {
        return rv;
    }
    if (unit[0] != 0) {
        /* DESIGN.md §2: a routing rule for (service, district) routes the
         * case at once. */
        event_init(e, RZ_EV_ROUTED, (rz_actor){RZ_ACTOR_SYSTEM, 0});
        e->status_from = RZ_STATUS_NEW;
        e->status_to = RZ_STATUS_ROUTED;
        memcpy(e->unit_to, unit, sizeof(unit));
        if ((rv = event_add(a, c, e, true)) != 0) {
            return rv;
        }
        c->status = RZ_STATUS_ROUTED;
        memcpy(c->unit_id, unit, sizeof(unit));
    }
    c->version = 1; /* a create is one change however many events it made */
    if ((rv = case_write(a, NULL, c)) != 0) {
        return rv;
    }
    {
        rz_key k;
        rz_storage__stat_key(&k, RZ_STAT_CREATED_DAY, NULL,
                             rz_storage__day(c->created_ms));
        if ((rv = counter_add(a, &k, 1)) != 0) {
            return rv;
        }
    }
    return result_of_case(r, c);
}

/* Loads the case a command targets and applies the common checks: exists,
 * not merged (unless allow_merged), version matches, room for n_events
 * more events. 0 with r->code set on a rejection, or a node failure. */
static int target_load(actx *a, uint64_t id, uint32_t expected_version,
                       uint32_t n_events, bool allow_merged, rz_case *c,
                       rz_result *r)
{
    int rv = case_load(a, id, c);
    r->case_id = id;
    if (rv != 0) {
        if (is_rejection(rv)) {
            r->code = rv;
            return 0;
        }
        return rv;
    }
    r->version = c->version;
    if (c->parent_case_id != 0 && !allow_merged) {
        r->code = RZ_EMERGED;
    } else if (expected_version != 0 && expected_version != c->version) {
        r->code = RZ_EVERSION;
    } else if (c->n_events + n_events > RZ_CASE_EVENTS_MAX) {
        r->code = RZ_ETOOBIG;
    }
    return 0;
}

static int finish_case(actx *a, rz_result *r)
{
    int rv = case_write(a, &a->s->old_case, &a->s->new_case);
    if (rv != 0) {
        return rv;
    }
    return result_of_case(r, &a->s->new_case);
}

/* Records s->ev on s->new_case and writes the case (the usual last step of a
 * command that changes one case). */
static int case_event_commit(actx *a, rz_result *r)
{
    int rv = event_add(a, &a->s->new_case, &a->s->ev, false);
    if (rv != 0) {
        return rv;
    }
    return finish_case(a, r);
}

static int exec_status(actx *a, prs *p, rz_result *r)
{
    rz_storage *s = a->s;
    rz_event *e = &s->ev;
    uint64_t id;
    uint32_t ev;
    uint8_t to;
    rz_actor actor;
    int rv;
    p_body(p, 6);
    id = p_u64(p);
    ev = p_u32(p);
    to = p_enum(p, RZ_STATUS_COUNT);
    p_text(p, e->text, sizeof(e->text));
    actor = p_actor(p);
    p_end(p);
    if (p->err != 0) {
        r->code = p->err;
        return 0;
    }
    rv = target_load(a, id, ev, 1, false, &s->old_case, r);
    if (rv != 0 || r->code != 0) {
        return rv;
    }
    if (!rz_status_move_allowed(s->old_case.status, to, RZ_MOVE_STATUS)) {
        r->code = RZ_EBADSTATUS;
        return 0;
    }
    {
        rz_case *c = &s->new_case;
        char text[RZ_COMMENT_MAX_BYTES + 1];
        memcpy(text, e->text, sizeof(text));
        e = case_event_begin(s, RZ_EV_STATUS_CHANGED, actor);
        memcpy(e->text, text, sizeof(text));
        e->status_to = to;
        memcpy(e->unit_from, c->unit_id, sizeof(c->unit_id));
        c->status = to;
        if (to == RZ_STATUS_TRIAGE) {
            /* Back to triage ("not ours"): no unit is responsible now. */
            c->unit_id[0] = 0;
            c->assignee_id = 0;
        }
        memcpy(e->unit_to, c->unit_id, sizeof(c->unit_id));
        if ((to == RZ_STATUS_RESOLVED || to == RZ_STATUS_CLOSED) &&
            text[0] != 0) {
            memcpy(c->resolution, text, sizeof(text));
        }
        if (to == RZ_STATUS_CLOSED) {
            c->closed_ms = a->m.log_time_ms;
        }
    }
    return case_event_commit(a, r);
}

static int exec_route(actx *a, prs *p, rz_result *r)
{
    rz_storage *s = a->s;
    rz_event *e = &s->ev;
    char unit[RZ_CODE_MAX_BYTES + 1];
    char note[RZ_COMMENT_MAX_BYTES + 1];
    uint64_t id;
    uint32_t ev;
    rz_actor actor;
    bool found = false;
    int rv;
    p_body(p, 6);
    id = p_u64(p);
    ev = p_u32(p);
    p_code(p, unit, false);
    p_text(p, note, sizeof(note));
    actor = p_actor(p);
    p_end(p);
    if (p->err != 0) {
        r->code = p->err;
        return 0;
    }
    rv = target_load(a, id, ev, 1, false, &s->old_case, r);
    if (rv != 0 || r->code != 0) {
        return rv;
    }
    if (!rz_status_move_allowed(s->old_case.status, RZ_STATUS_ROUTED,
                                RZ_MOVE_ROUTE)) {
        r->code = RZ_EBADSTATUS;
        return 0;
    }
    if ((rv = exists(a, T_UNITS, unit, &found)) != 0) {
        return rv;
    }
    if (!found) {
        r->code = RZ_ENOUNIT;
        return 0;
    }
    e = case_event_begin(s, RZ_EV_ROUTED, actor);
    memcpy(e->text, note, sizeof(note));
    e->status_to = RZ_STATUS_ROUTED;
    memcpy(e->unit_from, s->new_case.unit_id, sizeof(e->unit_from));
    memcpy(e->unit_to, unit, sizeof(unit));
    if (strcmp(s->new_case.unit_id, unit) != 0) {
        s->new_case.assignee_id = 0; /* a new unit assigns its own people */
    }
    s->new_case.status = RZ_STATUS_ROUTED;
    memcpy(s->new_case.unit_id, unit, sizeof(unit));
    return case_event_commit(a, r);
}

static int exec_reopen(actx *a, prs *p, rz_result *r)
{
    rz_storage *s = a->s;
    rz_event *e = &s->ev;
    char reason[RZ_COMMENT_MAX_BYTES + 1];
    uint64_t id;
    uint32_t ev;
    rz_actor actor;
    int rv;
    p_body(p, 5);
    id = p_u64(p);
    ev = p_u32(p);
    p_text(p, reason, sizeof(reason));
    actor = p_actor(p);
    p_end(p);
    if (p->err != 0) {
        r->code = p->err;
        return 0;
    }
    rv = target_load(a, id, ev, 1, false, &s->old_case, r);
    if (rv != 0 || r->code != 0) {
        return rv;
    }
    if (!rz_status_move_allowed(s->old_case.status, RZ_STATUS_IN_PROGRESS,
                                RZ_MOVE_REOPEN)) {
        r->code = RZ_EBADSTATUS;
        return 0;
    }
    e = case_event_begin(s, RZ_EV_REOPENED, actor);
    memcpy(e->text, reason, sizeof(reason));
    e->status_to = RZ_STATUS_IN_PROGRESS;
    s->new_case.status = RZ_STATUS_IN_PROGRESS;
    s->new_case.closed_ms = 0;
    s->new_case.resolution[0] = 0;
    return case_event_commit(a, r);
}

static int exec_assign(actx *a, prs *p, rz_result *r)
{
    rz_storage *s = a->s;
    rz_event *e = &s->ev;
    uint64_t id, assignee;
    uint32_t ev;
    rz_actor actor;
    int rv;
    p_body(p, 5);
    id = p_u64(p);
    ev = p_u32(p);
    assignee = p_u64(p);
    actor = p_actor(p);
    p_end(p);
    if (p->err != 0) {
        r->code = p->err;
        return 0;
    }
    rv = target_load(a, id, ev, 1, false, &s->old_case, r);
    if (rv != 0 || r->code != 0) {
        return rv;
    }
    if (s->old_case.status == RZ_STATUS_CLOSED) {
        r->code = RZ_EBADSTATUS; /* reopen first */
        return 0;
    }
    e = case_event_begin(s, RZ_EV_ASSIGNED, actor);
    e->other_id = assignee;
    s->new_case.assignee_id = assignee;
    return case_event_commit(a, r);
}

static int exec_comment(actx *a, prs *p, rz_result *r)
{
    rz_storage *s = a->s;
    rz_event *e = &s->ev;
    char text[RZ_COMMENT_MAX_BYTES + 1];
    uint64_t id;
    bool is_public;
    rz_actor actor;
    int rv;
    p_body(p, 5);
    id = p_u64(p);
    is_public = p_bool(p);
    p_text(p, e->text, sizeof(e->text));
    if (p->err == 0 && e->text[0] == 0) {
        perr(p, RZ_EINVAL);
    }
    actor = p_actor(p);
    p_end(p);
    if (p->err != 0) {
        r->code = p->err;
        return 0;
    }
    rv = target_load(a, id, 0, 1, false, &s->old_case, r);
    if (rv != 0 || r->code != 0) {
        return rv;
    }
    memcpy(text, e->text, sizeof(text));
    e = case_event_begin(s, RZ_EV_COMMENT, actor);
    memcpy(e->text, text, sizeof(text));
    e->is_public = is_public;
    return case_event_commit(a, r);
}

static int exec_notify(actx *a, prs *p, rz_result *r)
{
    rz_storage *s = a->s;
    rz_event *e = &s->ev;
    char text[RZ_COMMENT_MAX_BYTES + 1];
    uint64_t id;
    uint8_t channel;
    rz_actor actor;
    int rv;
    p_body(p, 5);
    id = p_u64(p);
    channel = p_enum(p, RZ_CHANNEL_COUNT);
    p_text(p, e->text, sizeof(e->text));
    actor = p_actor(p);
    p_end(p);
    if (p->err != 0) {
        r->code = p->err;
        return 0;
    }
    /* A resident may be told about a merged case too. */
    rv = target_load(a, id, 0, 1, true, &s->old_case, r);
    if (rv != 0 || r->code != 0) {
        return rv;
    }
    memcpy(text, e->text, sizeof(text));
    e = case_event_begin(s, RZ_EV_CITIZEN_NOTIFIED, actor);
    memcpy(e->text, text, sizeof(text));
    e->channel = channel;
    return case_event_commit(a, r);
}

static int exec_merge(actx *a, prs *p, rz_result *r)
{
    rz_storage *s = a->s;
    rz_event *e = &s->ev;
    uint64_t id, into;
    uint32_t ev;
    rz_actor actor;
    rz_result other;
    int rv;
    p_body(p, 5);
    id = p_u64(p);
    ev = p_u32(p);
    into = p_u64(p);
    actor = p_actor(p);
    p_end(p);
    if (p->err == 0 && id == into) {
        perr(p, RZ_EINVAL);
    }
    if (p->err != 0) {
        r->code = p->err;
        return 0;
    }
    rv = target_load(a, id, ev, 1, false, &s->old_case, r);
    if (rv != 0 || r->code != 0) {
        return rv;
    }
    memset(&other, 0, sizeof(other));
    rv = target_load(a, into, 0, 1, false, &s->other_old, &other);
    if (rv != 0) {
        return rv;
    }
    if (other.code != 0) {
        r->code = other.code;
        return 0;
    }
    /* The duplicate is closed and points at the case it joined. */
    e = case_event_begin(s, RZ_EV_MERGED, actor);
    e->status_to = RZ_STATUS_CLOSED;
    e->other_id = into;
    if (s->new_case.status != RZ_STATUS_CLOSED) {
        s->new_case.closed_ms = a->m.log_time_ms;
    }
    s->new_case.status = RZ_STATUS_CLOSED;
    s->new_case.parent_case_id = into;
    if ((rv = event_add(a, &s->new_case, e, false)) != 0) {
        return rv;
    }
    if ((rv = case_write(a, &s->old_case, &s->new_case)) != 0) {
        return rv;
    }
    s->other_new = s->other_old;
    event_init(e, RZ_EV_MERGED, actor);
    e->status_from = e->status_to = s->other_new.status;
    e->other_id = id;
    if ((rv = event_add(a, &s->other_new, e, false)) != 0) {
        return rv;
    }
    if ((rv = case_write(a, &s->other_old, &s->other_new)) != 0) {
        return rv;
    }
    return result_of_case(r, &s->new_case);
}

static int exec_erase(actx *a, prs *p, rz_result *r)
{
    rz_storage *s = a->s;
    uint64_t rep;
    uint8_t rk[8];
    uint8_t prefix[9];
    MDB_val v;
    MDB_cursor *cur = NULL;
    uint64_t *ids = NULL;
    size_t n = 0;
    rz_actor actor;
    int rv;
    int rc;
    p_body(p, 3);
    rep = p_u64(p);
    actor = p_actor(p);
    p_end(p);
    if (p->err != 0) {
        r->code = p->err;
        return 0;
    }
    rz_put_be64(rk, rep);
    rv = tget(a, T_REPORTERS, rk, 8, &v);
    if (rv == RZ_ENOTFOUND) {
        r->code = RZ_ENOREPORTER;
        return 0;
    }
    if (rv != 0) {
        return rv;
    }
    /* Collect the reporter's cases from the 'r' index. */
    ids = malloc(sizeof(*ids) * ERASE_CASES_MAX);
    if (ids == NULL) {
        return RZ_ENOMEM;
    }
    prefix[0] = 'r';
    memcpy(prefix + 1, rk, 8);
    rv = rz_storage__mdb_err(mdb_cursor_open(a->txn, s->dbi[T_IDX], &cur));
    if (rv != 0) {
        goto done;
    }
    {
        MDB_val k = {sizeof(prefix), prefix};
        for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
            if (k.mv_size != 17 || memcmp(k.mv_data, prefix, 9) != 0) {
                break;
            }
            if (n == ERASE_CASES_MAX) {
                r->code = RZ_ETOOBIG;
                goto done;
            }
            ids[n++] = ~rz_get_be64((const uint8_t *)k.mv_data + 9);
        }
        if (rc != 0 && rc != MDB_NOTFOUND) {
            rv = rz_storage__mdb_err(rc);
            goto done;
        }
    }
    mdb_cursor_close(cur);
    cur = NULL;
    for (size_t i = 0; i < n; i++) {
        rv = case_load(a, ids[i], &s->old_case);
        if (rv != 0) {
            rv = rv == RZ_ENOCASE ? RZ_ECORRUPT : rv;
            goto done;
        }
        if (s->old_case.n_events >= RZ_CASE_EVENTS_MAX) {
            r->code = RZ_ETOOBIG;
            goto done;
        }
    }
    /* Valid: write. */
    if ((rv = tdel(a, T_REPORTERS, rk, 8, true)) != 0) {
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        rz_event *e = &s->ev;
        if ((rv = case_load(a, ids[i], &s->old_case)) != 0) {
            goto done;
        }
        e = case_event_begin(s, RZ_EV_PII_ERASED, actor);
        e->other_id = rep;
        if ((rv = event_add(a, &s->new_case, e, false)) != 0 ||
            (rv = case_write(a, &s->old_case, &s->new_case)) != 0) {
            goto done;
        }
    }
    r->code = 0;
    r->reporter_id = rep;
done:
    if (cur != NULL) {
        mdb_cursor_close(cur);
    }
    free(ids);
    return rv;
}

struct cat_item
{
    uint8_t type;
    uint8_t kind;
    uint32_t sla_hours;
    char code[RZ_CODE_MAX_BYTES + 1];
    char name[RZ_NAME_MAX_BYTES + 1];
    char district[RZ_CODE_MAX_BYTES + 1];
    char unit[RZ_CODE_MAX_BYTES + 1];
};

/* Whether code is defined as `type` in the store or by items[0..before). */
static int cat_defined(actx *a, const struct cat_item *items, size_t before,
                       uint8_t type, const char *code, bool *found)
{
    static const int tables[RZ_CAT_COUNT] = {T_DISTRICTS, T_UNITS, T_SERVICES,
                                             T_RULES};
    for (size_t i = 0; i < before; i++) {
        if (items[i].type == type && strcmp(items[i].code, code) == 0) {
            *found = true;
            return 0;
        }
    }
    return exists(a, tables[type], code, found);
}

static int exec_catalog(actx *a, prs *p, rz_result *r)
{
    rz_storage *s = a->s;
    struct cat_item *items;
    uint32_t n = 0;
    int rv;
    if (s->cat_items == NULL) {
        s->cat_items = calloc(RZ_CATALOG_UPSERT_MAX_ITEMS, sizeof(*items));
        if (s->cat_items == NULL) {
            return RZ_ENOMEM;
        }
    }
    items = s->cat_items;
    p_body(p, 1);
    rz_mp_get_array(&p->d, &n);
    p_check(p);
    if (p->err == 0 && n > RZ_CATALOG_UPSERT_MAX_ITEMS) {
        perr(p, RZ_ETOOBIG);
    }
    for (uint32_t i = 0; i < n && p->err == 0; i++) {
        struct cat_item *it = &items[i];
        memset(it, 0, sizeof(*it));
        p_body(p, 7);
        it->type = p_enum(p, RZ_CAT_COUNT);
        p_code(p, it->code, false);
        p_text(p, it->name, sizeof(it->name));
        it->kind = p_enum(p, RZ_KIND_COUNT);
        it->sla_hours = p_u32(p);
        if (it->sla_hours > SLA_HOURS_MAX) {
            perr(p, RZ_EINVAL);
        }
        p_code(p, it->district, it->type != RZ_CAT_RULE);
        p_code(p, it->unit, it->type != RZ_CAT_RULE);
        if (p->err == 0 && it->type != RZ_CAT_RULE && it->name[0] == 0) {
            perr(p, RZ_EINVAL); /* districts, units and services need names */
        }
    }
    p_end(p);
    if (p->err != 0) {
        r->code = p->err;
        return 0;
    }
    for (uint32_t i = 0; i < n; i++) {
        const struct cat_item *it = &items[i];
        bool found = true;
        if (it->type != RZ_CAT_RULE) {
            continue;
        }
        if (strcmp(it->code, "OTHER") != 0) {
            rv = cat_defined(a, items, i, RZ_CAT_SERVICE, it->code, &found);
            if (rv != 0) {
                return rv;
            }
        }
        if (!found) {
            r->code = RZ_ENOSERVICE;
            return 0;
        }
        if (strcmp(it->district, "UNKNOWN") != 0) {
            rv =
                cat_defined(a, items, i, RZ_CAT_DISTRICT, it->district, &found);
            if (rv != 0) {
                return rv;
            }
        }
        if (!found) {
            r->code = RZ_ENODISTRICT;
            return 0;
        }
        rv = cat_defined(a, items, i, RZ_CAT_UNIT, it->unit, &found);
        if (rv != 0) {
            return rv;
        }
        if (!found) {
            r->code = RZ_ENOUNIT;
            return 0;
        }
    }
    /* Valid: write. */
    for (uint32_t i = 0; i < n; i++) {
        const struct cat_item *it = &items[i];
        uint8_t k[RULE_KEY_MAX];
        size_t kl;
        int t;
        rz_buf_reset(&s->val);
        switch (it->type) {
        case RZ_CAT_DISTRICT:
        case RZ_CAT_UNIT:
            t = it->type == RZ_CAT_DISTRICT ? T_DISTRICTS : T_UNITS;
            rz_mp_put_array(&s->val, 1);
            rz_mp_put_cstr(&s->val, it->name);
            kl = strlen(it->code);
            memcpy(k, it->code, kl);
            break;
        case RZ_CAT_SERVICE:
            t = T_SERVICES;
            rz_mp_put_array(&s->val, 3);
            rz_mp_put_cstr(&s->val, it->name);
            rz_mp_put_uint(&s->val, it->kind);
            rz_mp_put_uint(&s->val, it->sla_hours);
            kl = strlen(it->code);
            memcpy(k, it->code, kl);
            break;
        default:
            RZ_ASSERT(it->type == RZ_CAT_RULE);
            t = T_RULES;
            rz_mp_put_array(&s->val, 1);
            rz_mp_put_cstr(&s->val, it->unit);
            kl = rz_storage__rule_key(k, it->code, it->district);
            break;
        }
        if (s->val.err != 0) {
            return RZ_ENOMEM;
        }
        rv = tput(a, t, k, kl, s->val.data, s->val.len, false, false);
        if (rv != 0) {
            return rv;
        }
    }
    r->code = 0;
    return 0;
}

/* ---- One entry
 * ------------------------------------------------------------------ */

static const rz_mp_limits cmd_limits = {
    .max_depth = 4, /* command > body > catalog items > item */
    .max_str_bytes = RZ_COMMAND_MAX_BYTES,
    .max_items = RZ_MP_MAX_ITEMS,
};

static int exec(actx *a, uint8_t type, prs *p, rz_result *r)
{
    switch (type) {
    case CMD_NOOP:
        p_body(p, 0);
        p_end(p);
        r->code = p->err;
        return 0;
    case CMD_CREATE:
        return exec_create(a, p, r);
    case CMD_STATUS:
        return exec_status(a, p, r);
    case CMD_ROUTE:
        return exec_route(a, p, r);
    case CMD_REOPEN:
        return exec_reopen(a, p, r);
    case CMD_ASSIGN:
        return exec_assign(a, p, r);
    case CMD_COMMENT:
        return exec_comment(a, p, r);
    case CMD_MERGE:
        return exec_merge(a, p, r);
    case CMD_NOTIFY:
        return exec_notify(a, p, r);
    case CMD_ERASE_REPORTER:
        return exec_erase(a, p, r);
    case CMD_CATALOG:
        return exec_catalog(a, p, r);
    default:
        r->code = RZ_EMALFORMED;
        return 0;
    }
}

/* Dedup record: [log time, result bin, fingerprint bin 16]. The
 * fingerprint is a hash of the command without its request id and time
 * (which a retry through another leader stamps anew): a retry carries the
 * same one, a different request that reuses the id does not. Records
 * written before the fingerprint existed have two elements and match any
 * request. */
#define FINGERPRINT_BYTES 16u

static void fingerprint(uint8_t type, const uint8_t *body, size_t len,
                        uint8_t out[FINGERPRINT_BYTES])
{
    uint8_t buf[1 + 64];
    uint8_t body_hash[64];
    rz_hash(body, len, body_hash, sizeof body_hash);
    buf[0] = type;
    memcpy(buf + 1, body_hash, sizeof body_hash);
    rz_hash(buf, sizeof buf, out, FINGERPRINT_BYTES);
}

static int dedup_get(actx *a, const uint8_t rid[16],
                     const uint8_t fp[FINGERPRINT_BYTES], const uint8_t **res,
                     uint32_t *res_len, bool *found, bool *same)
{
    MDB_val v;
    rz_mp_dec d;
    uint32_t n = 0;
    uint64_t t = 0;
    int rv = tget(a, T_DEDUP, rid, RZ_REQUEST_ID_BYTES, &v);
    *found = false;
    *same = true;
    if (rv == RZ_ENOTFOUND) {
        return 0;
    }
    if (rv != 0) {
        return rv;
    }
    rz_mp_dec_init(&d, v.mv_data, v.mv_size);
    rz_mp_get_array(&d, &n);
    rz_mp_get_u64(&d, &t);
    rz_mp_get_bin(&d, res, res_len, 1024);
    if (n == 3) {
        uint8_t stored[FINGERPRINT_BYTES];
        rz_mp_get_bin_exact(&d, stored, FINGERPRINT_BYTES);
        *same = memcmp(stored, fp, FINGERPRINT_BYTES) == 0;
    }
    if ((n != 2 && n != 3) || !rz_mp_done(&d)) {
        return RZ_ECORRUPT;
    }
    *found = true;
    return 0;
}

static int dedup_put(actx *a, const uint8_t rid[16],
                     const uint8_t fp[FINGERPRINT_BYTES], const rz_buf *res)
{
    uint8_t tk[8 + RZ_REQUEST_ID_BYTES];
    rz_buf *b = &a->s->val;
    int rv;
    rz_buf_reset(b);
    rz_mp_put_array(b, 3);
    rz_mp_put_uint(b, a->m.log_time_ms);
    rz_mp_put_bin(b, res->data, res->len);
    rz_mp_put_bin(b, fp, FINGERPRINT_BYTES);
    if (b->err != 0) {
        return RZ_ENOMEM;
    }
    rv = tput(a, T_DEDUP, rid, RZ_REQUEST_ID_BYTES, b->data, b->len, true,
              false);
    if (rv != 0) {
        return rv;
    }
    rz_put_be64(tk, a->m.log_time_ms);
    memcpy(tk + 8, rid, RZ_REQUEST_ID_BYTES);
    return tput(a, T_DEDUP_TIME, tk, sizeof(tk), "", 0, true, false);
}

/* Forgets request ids older than the retention window in log time, and
 * results of indexes older than results_kept: a few per apply, oldest
 * first, so the work is bounded and the same on every replica. */
static int prune(actx *a)
{
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    int rv = 0;
    int rc;
    uint32_t i;
    rv = rz_storage__mdb_err(
        mdb_cursor_open(a->txn, a->s->dbi[T_DEDUP_TIME], &cur));
    if (rv != 0) {
        return rv;
    }
    for (i = 0; i < PRUNE_PER_APPLY; i++) {
        uint8_t key[8 + RZ_REQUEST_ID_BYTES];
        rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
        if (rc == MDB_NOTFOUND) {
            break;
        }
        if (rc != 0 || k.mv_size != sizeof(key)) {
            rv = rc != 0 ? rz_storage__mdb_err(rc) : RZ_ECORRUPT;
            break;
        }
        memcpy(key, k.mv_data, sizeof(key));
        if (rz_get_be64(key) + RZ_DEDUP_RETENTION_MS >= a->m.log_time_ms) {
            break;
        }
        if ((rv = tdel(a, T_DEDUP_TIME, key, sizeof(key), true)) != 0 ||
            (rv = tdel(a, T_DEDUP, key + 8, RZ_REQUEST_ID_BYTES, true)) != 0) {
            break;
        }
    }
    mdb_cursor_close(cur);
    if (rv != 0 || a->index <= a->s->results_kept) {
        return rv;
    }
    rv = rz_storage__mdb_err(
        mdb_cursor_open(a->txn, a->s->dbi[T_RESULTS], &cur));
    if (rv != 0) {
        return rv;
    }
    for (i = 0; i < PRUNE_PER_APPLY; i++) {
        uint8_t key[8];
        rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
        if (rc == MDB_NOTFOUND) {
            break;
        }
        if (rc != 0 || k.mv_size != 8) {
            rv = rc != 0 ? rz_storage__mdb_err(rc) : RZ_ECORRUPT;
            break;
        }
        memcpy(key, k.mv_data, 8);
        if (rz_get_be64(key) > a->index - a->s->results_kept) {
            break;
        }
        if ((rv = tdel(a, T_RESULTS, key, 8, true)) != 0) {
            break;
        }
    }
    mdb_cursor_close(cur);
    return rv;
}

/* The stored result of an index already applied. */
static int replay_result(actx *a, uint64_t index, rz_buf *out)
{
    uint8_t k[8];
    MDB_val v;
    rz_result r;
    int rv;
    rz_put_be64(k, index);
    rv = tget(a, T_RESULTS, k, 8, &v);
    if (rv == 0) {
        if (rz_result_decode(v.mv_data, v.mv_size, &r) != 0) {
            return RZ_ECORRUPT;
        }
        (void)rz_buf_append(out, v.mv_data, v.mv_size);
        return 0;
    }
    if (rv != RZ_ENOTFOUND) {
        return rv;
    }
    memset(&r, 0, sizeof(r));
    r.code = RZ_ENOTFOUND;
    rz_storage__result_encode(out, &r);
    return 0;
}

static int apply_one(actx *a, const rz_storage_entry *en, rz_buf *out)
{
    rz_storage *s = a->s;
    rz_result r;
    prs p;
    uint8_t type = 0;
    uint8_t rid[RZ_REQUEST_ID_BYTES];
    uint8_t fp[FINGERPRINT_BYTES];
    bool has_rid = false;
    uint64_t at_ms = 0;
    uint32_t n = 0;
    uint8_t k[8];
    int rv;

    if (en->index <= a->m.applied_index) {
        return replay_result(a, en->index, out);
    }
    a->index = en->index;
    a->sub = 0;
    memset(&r, 0, sizeof(r));
    memset(rid, 0, sizeof(rid));
    rz_buf_reset(&s->res);

    /* Header: [type, request_id, at_ms, body]. */
    if (en->cmd_len > RZ_COMMAND_MAX_BYTES) {
        r.code = RZ_ETOOBIG;
    } else if (en->cmd_len == 0 ||
               rz_mp_validate(en->cmd, en->cmd_len, 1, &cmd_limits) != 0) {
        r.code = RZ_EMALFORMED;
    } else {
        rz_mp_dec_init(&p.d, en->cmd, en->cmd_len);
        p.err = 0;
        rz_mp_get_array(&p.d, &n);
        rz_mp_get_u8(&p.d, &type);
        rz_mp_get_bin_exact(&p.d, rid, RZ_REQUEST_ID_BYTES);
        rz_mp_get_u64(&p.d, &at_ms);
        if (p.d.err != 0 || n != 4) {
            r.code = RZ_EMALFORMED;
        } else {
            fingerprint(type, p.d.p, (size_t)(p.d.end - p.d.p), fp);
        }
    }
    if (r.code == 0) {
        static const uint8_t zero[RZ_REQUEST_ID_BYTES];
        has_rid = memcmp(rid, zero, sizeof(rid)) != 0;
        if (has_rid) {
            const uint8_t *prev;
            uint32_t prev_len;
            bool found;
            bool same;
            rv = dedup_get(a, rid, fp, &prev, &prev_len, &found, &same);
            if (rv != 0) {
                return rv;
            }
            if (found && !same) {
                /* Another request under a used id: refused, and the id
                 * keeps the first request's result for its retries. */
                r.code = RZ_EREUSED;
                has_rid = false;
                rz_storage__result_encode(&s->res, &r);
                if (s->res.err != 0) {
                    return RZ_ENOMEM;
                }
                goto record;
            }
            if (found) {
                /* A retry: the original result, nothing applied again. */
                if (rz_buf_append(&s->res, prev, prev_len) != 0) {
                    return RZ_ENOMEM;
                }
                has_rid = false;
                goto record;
            }
        }
        /* Log time never goes back, whatever a proposer's clock says. */
        if (at_ms > a->m.log_time_ms) {
            a->m.log_time_ms = at_ms;
        }
        rv = exec(a, type, &p, &r);
        if (rv != 0) {
            return rv;
        }
    }
    rz_storage__result_encode(&s->res, &r);
    if (s->res.err != 0) {
        return RZ_ENOMEM;
    }
    if (has_rid && (rv = dedup_put(a, rid, fp, &s->res)) != 0) {
        return rv;
    }
record:
    rz_put_be64(k, en->index);
    rv = tput(a, T_RESULTS, k, 8, s->res.data, s->res.len, true, true);
    if (rv != 0) {
        return rv;
    }
    if ((rv = prune(a)) != 0) {
        return rv;
    }
    a->m.applied_index = en->index;
    (void)rz_buf_append(out, s->res.data, s->res.len);
    return 0;
}

/* ---- Public
 * ------------------------------------------------------------------------ */

int rz_storage_apply_batch(rz_storage *s, const rz_storage_entry *entries,
                           size_t n, rz_buf *results)
{
    actx a;
    size_t lens_on_stack[256]; /* a batch of 256 needs no malloc */
    size_t *lens = lens_on_stack;
    MDB_val mk = {5, (void *)"state"};
    MDB_val mv;
    int rv = 0;
    int rc;
    RZ_PRE(s != NULL && (entries != NULL || n == 0));
    RZ_PRE(results != NULL || n == 0);
    if (n == 0) {
        return 0;
    }
    if (n > RZ_ARRAY_LEN(lens_on_stack)) {
        lens = malloc(n * sizeof(*lens));
        if (lens == NULL) {
            return RZ_ENOMEM;
        }
    }
    for (size_t i = 0; i < n; i++) {
        lens[i] = results[i].len;
    }
    memset(&a, 0, sizeof(a));
    a.s = s;
    a.m = s->meta;
    rc = mdb_txn_begin(s->env, NULL, 0, &a.txn);
    if (rc != 0) {
        rv = rz_storage__mdb_err(rc);
        goto done;
    }
    for (size_t i = 0; i < n && rv == 0; i++) {
        rv = apply_one(&a, &entries[i], &results[i]);
    }
    if (rv == 0) {
        rz_buf_reset(&s->val);
        rz_storage__meta_encode(&s->val, &a.m);
        mv.mv_size = s->val.len;
        mv.mv_data = s->val.data;
        rv = s->val.err != 0 ? RZ_ENOMEM
                             : rz_storage__mdb_err(
                                   mdb_put(a.txn, s->dbi[T_META], &mk, &mv, 0));
    }
    if (rv != 0) {
        mdb_txn_abort(a.txn);
        goto done;
    }
    rc = mdb_txn_commit(a.txn);
    if (rc != 0) {
        rv = rz_storage__mdb_err(rc);
        goto done;
    }
    s->meta = a.m;
    for (size_t i = 0; i < n && rv == 0; i++) {
        rv = results[i].err;
    }
    if (lens != lens_on_stack) {
        free(lens);
    }
    return rv;
done:
    /* Nothing of the batch happened: give the callers' buffers back as they
     * were. */
    for (size_t i = 0; i < n; i++) {
        results[i].len = lens[i];
    }
    if (lens != lens_on_stack) {
        free(lens);
    }
    return rv;
}

int rz_storage_apply(rz_storage *s, uint64_t index, const void *cmd,
                     size_t cmd_len, rz_buf *result)
{
    rz_storage_entry e = {index, cmd, cmd_len};
    return rz_storage_apply_batch(s, &e, 1, result);
}
