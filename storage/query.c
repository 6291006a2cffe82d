/* storage queries: get a case and its history, list with filters and a
 * cursor, stats counters, the change feed and catalog reads. All run on a
 * read view and validate every stored record they decode. */
#include "internal.h"

#include <string.h>

static int rget(rz_storage_read *r, int t, const void *k, size_t kl, MDB_val *v)
{
    MDB_val key = {kl, (void *)k};
    int rc = mdb_get(r->txn, r->s->dbi[t], &key, v);
    if (rc == MDB_NOTFOUND) {
        return RZ_ENOTFOUND;
    }
    return rz_storage__mdb_err(rc);
}

static int case_read(rz_storage_read *r, uint64_t id, rz_case *out)
{
    uint8_t k[8];
    MDB_val v;
    int rv;
    rz_put_be64(k, id);
    rv = rget(r, T_CASES, k, 8, &v);
    if (rv != 0) {
        return rv == RZ_ENOTFOUND ? RZ_ENOCASE : rv;
    }
    return rz_storage__case_decode(v.mv_data, v.mv_size, id, out);
}

int rz_storage_case_get(rz_storage_read *r, uint64_t case_id, rz_case *out)
{
    RZ_PRE(r != NULL && out != NULL);
    return case_read(r, case_id, out);
}

int rz_storage_case_history(rz_storage_read *r, uint64_t case_id,
                            uint32_t from_seq, rz_event *out, size_t max,
                            size_t *n)
{
    uint8_t ck[8];
    uint8_t sk[12];
    MDB_val k = {12, sk};
    MDB_val v;
    MDB_cursor *cur = NULL;
    int rv;
    int rc;
    RZ_PRE(r != NULL && n != NULL && (out != NULL || max == 0));
    *n = 0;
    rz_put_be64(ck, case_id);
    rv = rget(r, T_CASES, ck, 8, &v);
    if (rv != 0) {
        return rv == RZ_ENOTFOUND ? RZ_ENOCASE : rv;
    }
    memcpy(sk, ck, 8);
    rz_put_be32(sk + 8, from_seq);
    rv =
        rz_storage__mdb_err(mdb_cursor_open(r->txn, r->s->dbi[T_EVENTS], &cur));
    if (rv != 0) {
        return rv;
    }
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0 && *n < max;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        rz_event *e = &out[*n];
        if (k.mv_size != 12 || memcmp(k.mv_data, ck, 8) != 0) {
            break;
        }
        rv = rz_storage__event_decode(v.mv_data, v.mv_size, e);
        if (rv != 0) {
            break;
        }
        e->case_id = case_id;
        e->seq = rz_get_be32((const uint8_t *)k.mv_data + 8);
        (*n)++;
    }
    if (rv == 0 && rc != 0 && rc != MDB_NOTFOUND) {
        rv = rz_storage__mdb_err(rc);
    }
    mdb_cursor_close(cur);
    return rv;
}

/* ---- List ------------------------------------------------------------------
 */

static bool list_matches(const rz_list_query *q, const rz_case *c)
{
    uint32_t f = q->filters;
    return (!(f & RZ_FILTER_STATUS) || c->status == q->status) &&
           (!(f & RZ_FILTER_CHANNEL) || c->channel == q->channel) &&
           (!(f & RZ_FILTER_DISTRICT) ||
            strcmp(c->district, q->district) == 0) &&
           (!(f & RZ_FILTER_UNIT) || strcmp(c->unit_id, q->unit_id) == 0) &&
           (!(f & RZ_FILTER_SERVICE) ||
            strcmp(c->service_code, q->service_code) == 0) &&
           (!(f & RZ_FILTER_REPORTER) || c->reporter_id == q->reporter_id) &&
           (!(f & RZ_FILTER_CREATED) || (c->created_ms >= q->created_from_ms &&
                                         c->created_ms < q->created_to_ms));
}

static int query_check(const rz_list_query *q)
{
    uint32_t f = q->filters;
    if ((f & ~0x7fu) != 0 || q->limit > RZ_LIST_PAGE_MAX ||
        ((f & RZ_FILTER_STATUS) && q->status >= RZ_STATUS_COUNT) ||
        ((f & RZ_FILTER_CHANNEL) && q->channel >= RZ_CHANNEL_COUNT)) {
        return RZ_EINVAL;
    }
    if (((f & RZ_FILTER_DISTRICT) &&
         rz_storage__code_check(
             q->district, strnlen(q->district, sizeof(q->district))) != 0) ||
        ((f & RZ_FILTER_SERVICE) &&
         rz_storage__code_check(
             q->service_code,
             strnlen(q->service_code, sizeof(q->service_code))) != 0)) {
        return RZ_EINVAL;
    }
    /* unit "" lists the cases no unit is responsible for. */
    if ((f & RZ_FILTER_UNIT) && q->unit_id[0] != 0 &&
        rz_storage__code_check(q->unit_id,
                               strnlen(q->unit_id, sizeof(q->unit_id))) != 0) {
        return RZ_EINVAL;
    }
    return 0;
}

/* The index that drives a list query (the most selective one its filters
 * allow) and the filters it already satisfies. Returns the prefix length,
 * 0 when no index applies (the cases table drives). */
static size_t list_driver(const rz_list_query *q, rz_key *k, uint32_t *covered)
{
    uint32_t f = q->filters;
    bool st = (f & RZ_FILTER_STATUS) != 0;
    size_t n;
    memset(k, 0, sizeof(*k));
    *covered = 0;
    if (f & RZ_FILTER_REPORTER) {
        k->b[0] = 'r';
        rz_put_be64(k->b + 1, q->reporter_id);
        k->len = 9;
        *covered = RZ_FILTER_REPORTER;
        return k->len;
    }
    {
        const char *code = NULL;
        uint8_t tag = 0;
        uint32_t bit = 0;
        if (f & RZ_FILTER_UNIT) {
            code = q->unit_id;
            tag = st ? 'U' : 'u';
            bit = RZ_FILTER_UNIT;
        } else if (f & RZ_FILTER_SERVICE) {
            code = q->service_code;
            tag = st ? 'V' : 'v';
            bit = RZ_FILTER_SERVICE;
        } else if (f & RZ_FILTER_DISTRICT) {
            code = q->district;
            tag = st ? 'D' : 'd';
            bit = RZ_FILTER_DISTRICT;
        }
        if (code != NULL) {
            n = strlen(code);
            k->b[0] = tag;
            memcpy(k->b + 1, code, n);
            k->b[1 + n] = 0;
            k->len = (uint8_t)(n + 2);
            *covered = bit;
            if (st) {
                k->b[k->len++] = q->status;
                *covered |= RZ_FILTER_STATUS;
            }
            return k->len;
        }
    }
    if (st) {
        k->b[0] = 's';
        k->b[1] = q->status;
        k->len = 2;
        *covered = RZ_FILTER_STATUS;
        return k->len;
    }
    if (f & RZ_FILTER_CHANNEL) {
        k->b[0] = 'c';
        k->b[1] = q->channel;
        k->len = 2;
        *covered = RZ_FILTER_CHANNEL;
        return k->len;
    }
    return 0;
}

/* created_ms of case id (which must exist: ids are dense). */
static int created_of(rz_storage_read *r, uint64_t id, uint64_t *ms)
{
    int rv = case_read(r, id, &r->s->read_case);
    if (rv == RZ_ENOCASE) {
        return RZ_ECORRUPT;
    }
    *ms = r->s->read_case.created_ms;
    return rv;
}

/* The largest id <= upper created before to_ms (0 if none). created_ms
 * never decreases with the case id (both follow log order and log time never
 * goes back), so a binary search finds it. */
static int created_upper(rz_storage_read *r, uint64_t upper, uint64_t to_ms,
                         uint64_t *out)
{
    uint64_t lo = 1, hi = upper, best = 0;
    /* At most 64 halvings. */
    while (lo <= hi && hi != 0) {
        uint64_t mid = lo + (hi - lo) / 2;
        uint64_t ms = 0;
        int rv = created_of(r, mid, &ms);
        if (rv != 0) {
            return rv;
        }
        if (ms < to_ms) {
            best = mid;
            lo = mid + 1;
        } else {
            hi = mid - 1;
        }
    }
    *out = best;
    return 0;
}

/* What to do with one candidate case id: 1 = take, 0 = skip, 2 = stop (no
 * older case can match), or an error. */
static int list_visit(rz_storage_read *r, const rz_list_query *q,
                      uint32_t residual, bool need_case, uint64_t id,
                      rz_case *out)
{
    rz_case *c = out != NULL ? out : &r->s->read_case;
    int rv;
    if (!need_case) {
        return 1;
    }
    rv = case_read(r, id, c);
    if (rv != 0) {
        return rv == RZ_ENOCASE ? RZ_ECORRUPT : rv; /* index without case */
    }
    if ((residual & RZ_FILTER_CREATED) && c->created_ms < q->created_from_ms) {
        return 2;
    }
    if (list_matches(q, c)) {
        return 1;
    }
    /* A case that fails a filter its index entry promised means the index
     * and the record disagree. */
    {
        rz_list_query sub = *q;
        sub.filters = residual;
        return list_matches(&sub, c) ? RZ_ECORRUPT : 0;
    }
}

int rz_storage_case_list(rz_storage_read *r, const rz_list_query *q,
                         uint64_t *ids, rz_case *cases, size_t *n,
                         uint64_t *next_cursor)
{
    uint32_t limit;
    uint64_t upper;
    uint32_t covered = 0, residual;
    rz_key pk;
    size_t plen;
    uint32_t scanned = 0;
    uint64_t last = 0;
    bool stopped = false;
    int rv;
    RZ_PRE(r != NULL && q != NULL && ids != NULL && n != NULL &&
           next_cursor != NULL);
    *n = 0;
    *next_cursor = 0;
    rv = query_check(q);
    if (rv != 0) {
        return rv;
    }
    limit = q->limit == 0 ? RZ_LIST_PAGE_DEFAULT : q->limit;
    {
        const rz_meta *m;
        rv = rz_storage__view_meta(r, &m);
        if (rv != 0) {
            return rv;
        }
        upper = m->next_case_id - 1;
    }
    if (q->cursor != 0 && q->cursor - 1 < upper) {
        upper = q->cursor - 1;
    }
    if ((q->filters & RZ_FILTER_CREATED) && upper > 0) {
        rv = created_upper(r, upper, q->created_to_ms, &upper);
        if (rv != 0) {
            return rv;
        }
    }
    if (upper == 0) {
        return 0;
    }
    plen = list_driver(q, &pk, &covered);
    residual = q->filters & ~covered;
    if (plen == 0) {
        /* The cases table drives: ids are dense, newest is highest. */
        for (uint64_t id = upper; id >= 1 && *n < limit; id--) {
            int v;
            if (scanned++ == RZ_LIST_SCAN_MAX) {
                stopped = true;
                break;
            }
            last = id;
            v = list_visit(r, q, residual, true, id,
                           cases != NULL ? &cases[*n] : NULL);
            if (v < 0) {
                *n = 0;
                return v;
            }
            if (v == 2) {
                return 0;
            }
            if (v == 1) {
                ids[(*n)++] = id;
            }
        }
        if (*n == limit || stopped) {
            *next_cursor = last > 1 ? last : 0;
        }
        return 0;
    }
    {
        MDB_cursor *cur = NULL;
        MDB_val k, v;
        uint8_t seek[IDX_KEY_MAX + 8];
        int rc;
        bool need_case = residual != 0 || cases != NULL;
        memcpy(seek, pk.b, plen);
        rz_put_be64(seek + plen, ~upper);
        k.mv_size = plen + 8;
        k.mv_data = seek;
        rv = rz_storage__mdb_err(
            mdb_cursor_open(r->txn, r->s->dbi[T_IDX], &cur));
        if (rv != 0) {
            return rv;
        }
        for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
             rc == 0 && *n < limit;
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
            uint64_t id;
            int vis;
            if (k.mv_size != plen + 8 || memcmp(k.mv_data, pk.b, plen) != 0) {
                break;
            }
            if (scanned++ == RZ_LIST_SCAN_MAX) {
                stopped = true;
                break;
            }
            id = ~rz_get_be64((const uint8_t *)k.mv_data + plen);
            if (v.mv_size != 0 || id == 0 || id > upper) {
                rv = RZ_ECORRUPT;
                break;
            }
            last = id;
            vis = list_visit(r, q, residual, need_case, id,
                             cases != NULL ? &cases[*n] : NULL);
            if (vis < 0) {
                rv = vis;
                break;
            }
            if (vis == 2) {
                break;
            }
            if (vis == 1) {
                ids[(*n)++] = id;
            }
            if (*n == limit) {
                *next_cursor = id;
            }
        }
        if (rv == 0 && rc != 0 && rc != MDB_NOTFOUND) {
            rv = rz_storage__mdb_err(rc);
        }
        mdb_cursor_close(cur);
        if (rv != 0) {
            *n = 0;
            *next_cursor = 0;
            return rv;
        }
        if (stopped) {
            *next_cursor = last;
        }
    }
    return 0;
}

/* ---- Stats ------------------------------------------------------------------
 */

static bool dim_is_string(int dim)
{
    return dim == RZ_STAT_DISTRICT || dim == RZ_STAT_UNIT ||
           dim == RZ_STAT_SERVICE || dim == RZ_STAT_OPEN_DISTRICT;
}

int rz_storage_stat_get(rz_storage_read *r, rz_stat_dim dim, const char *key,
                        uint64_t num, uint64_t *count)
{
    rz_key k;
    MDB_val v;
    int rv;
    RZ_PRE(r != NULL && count != NULL);
    *count = 0;
    if ((int)dim < 0 || dim >= RZ_STAT_COUNT) {
        return RZ_EINVAL;
    }
    if (dim_is_string((int)dim)) {
        if (key == NULL ||
            strnlen(key, RZ_CODE_MAX_BYTES + 1) > RZ_CODE_MAX_BYTES) {
            return RZ_EINVAL;
        }
        rz_storage__stat_key(&k, (int)dim, key, 0);
    } else {
        rz_storage__stat_key(&k, (int)dim, NULL, num);
    }
    rv = rget(r, T_STATS, k.b, k.len, &v);
    if (rv == RZ_ENOTFOUND) {
        return 0;
    }
    if (rv != 0) {
        return rv;
    }
    if (v.mv_size != 8) {
        return RZ_ECORRUPT;
    }
    *count = rz_get_be64(v.mv_data);
    return 0;
}

int rz_storage_stats_encode(rz_storage_read *r, rz_buf *out)
{
    MDB_stat st;
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    int rv;
    int rc;
    RZ_PRE(r != NULL && out != NULL);
    rv = rz_storage__mdb_err(mdb_stat(r->txn, r->s->dbi[T_STATS], &st));
    if (rv != 0) {
        return rv;
    }
    if (st.ms_entries > UINT32_MAX) {
        return RZ_ETOOBIG;
    }
    rv = rz_storage__mdb_err(mdb_cursor_open(r->txn, r->s->dbi[T_STATS], &cur));
    if (rv != 0) {
        return rv;
    }
    rz_mp_put_array(out, (uint32_t)st.ms_entries);
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        const uint8_t *kb = k.mv_data;
        int dim;
        if (k.mv_size < 2 || v.mv_size != 8 || kb[0] >= RZ_STAT_COUNT) {
            rv = RZ_ECORRUPT;
            break;
        }
        dim = kb[0];
        rz_mp_put_array(out, 3);
        rz_mp_put_uint(out, (uint64_t)dim);
        if (dim_is_string(dim)) {
            if (kb[k.mv_size - 1] != 0 || k.mv_size - 2 > RZ_CODE_MAX_BYTES) {
                rv = RZ_ECORRUPT;
                break;
            }
            rz_mp_put_str(out, (const char *)kb + 1, k.mv_size - 2);
        } else {
            if (k.mv_size != 9) {
                rv = RZ_ECORRUPT;
                break;
            }
            rz_mp_put_uint(out, rz_get_be64(kb + 1));
        }
        rz_mp_put_uint(out, rz_get_be64(v.mv_data));
    }
    if (rv == 0 && rc != MDB_NOTFOUND) {
        rv = rz_storage__mdb_err(rc);
    }
    mdb_cursor_close(cur);
    return rv != 0 ? rv : out->err;
}

/* ---- Feed
 * -------------------------------------------------------------------- */

int rz_storage_feed(rz_storage_read *r, rz_feed_pos *pos, rz_event *out,
                    size_t max, size_t *n)
{
    uint8_t sk[12];
    MDB_val k = {12, sk};
    MDB_val v;
    MDB_cursor *cur = NULL;
    int rv;
    int rc;
    RZ_PRE(r != NULL && pos != NULL && n != NULL && (out != NULL || max == 0));
    *n = 0;
    if (max > RZ_FEED_BATCH_MAX) {
        return RZ_EINVAL;
    }
    rz_put_be64(sk, pos->revision);
    rz_put_be32(sk + 8, pos->sub);
    rv = rz_storage__mdb_err(mdb_cursor_open(r->txn, r->s->dbi[T_REVS], &cur));
    if (rv != 0) {
        return rv;
    }
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0 && *n < max;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        rz_event *e = &out[*n];
        MDB_val ev;
        uint64_t rev;
        if (k.mv_size != 12 || v.mv_size != 12) {
            rv = RZ_ECORRUPT;
            break;
        }
        rev = rz_get_be64(k.mv_data);
        rv = rget(r, T_EVENTS, v.mv_data, 12, &ev);
        if (rv != 0) {
            rv = rv == RZ_ENOTFOUND ? RZ_ECORRUPT : rv;
            break;
        }
        rv = rz_storage__event_decode(ev.mv_data, ev.mv_size, e);
        if (rv != 0) {
            break;
        }
        if (e->revision != rev) {
            rv = RZ_ECORRUPT;
            break;
        }
        e->case_id = rz_get_be64(v.mv_data);
        e->seq = rz_get_be32((const uint8_t *)v.mv_data + 8);
        pos->revision = rev;
        pos->sub = rz_get_be32((const uint8_t *)k.mv_data + 8) + 1;
        (*n)++;
    }
    if (rv == 0 && rc != 0 && rc != MDB_NOTFOUND) {
        rv = rz_storage__mdb_err(rc);
    }
    mdb_cursor_close(cur);
    return rv;
}

/* ---- Catalog and reporters
 * ------------------------------------------------------ */

/* Decodes a stored [str...] record of n strings into outs (each of
 * out_size). */
static int strs_decode(const MDB_val *v, uint32_t n, char **outs,
                       size_t out_size)
{
    rz_mp_dec d;
    uint32_t count = 0;
    rz_mp_dec_init(&d, v->mv_data, v->mv_size);
    rz_mp_get_array(&d, &count);
    if (d.err != 0 || count != n) {
        return RZ_ECORRUPT;
    }
    for (uint32_t i = 0; i < n; i++) {
        char scratch[RZ_PII_FIELD_MAX_BYTES + 1];
        RZ_ASSERT(out_size <= sizeof(scratch));
        rz_mp_get_cstr(&d, outs[i] != NULL ? outs[i] : scratch, out_size);
    }
    return rz_mp_done(&d) ? 0 : RZ_ECORRUPT;
}

static int code_arg(const char *code)
{
    if (code == NULL) {
        return RZ_EINVAL;
    }
    return rz_storage__code_check(code, strnlen(code, RZ_CODE_MAX_BYTES + 1)) ==
                   0
               ? 0
               : RZ_EINVAL;
}

int rz_storage_service_get(rz_storage_read *r, const char *code,
                           rz_service *out)
{
    MDB_val v;
    rz_mp_dec d;
    uint32_t n = 0;
    int rv = code_arg(code);
    RZ_PRE(r != NULL && out != NULL);
    if (rv != 0) {
        return rv;
    }
    rv = rget(r, T_SERVICES, code, strlen(code), &v);
    if (rv != 0) {
        return rv == RZ_ENOTFOUND ? RZ_ENOSERVICE : rv;
    }
    memset(out, 0, sizeof(*out));
    memcpy(out->code, code, strlen(code));
    rz_mp_dec_init(&d, v.mv_data, v.mv_size);
    rz_mp_get_array(&d, &n);
    rz_mp_get_cstr(&d, out->name, sizeof(out->name));
    rz_mp_get_u8(&d, &out->kind);
    rz_mp_get_u32(&d, &out->sla_hours);
    if (n != 3 || !rz_mp_done(&d) || out->kind >= RZ_KIND_COUNT) {
        return RZ_ECORRUPT;
    }
    return 0;
}

int rz_storage_rule_get(rz_storage_read *r, const char *service,
                        const char *district,
                        char unit_id[RZ_CODE_MAX_BYTES + 1])
{
    uint8_t k[RULE_KEY_MAX];
    MDB_val v;
    char *outs[1] = {unit_id};
    int rv;
    RZ_PRE(r != NULL && unit_id != NULL);
    if (code_arg(service) != 0 || code_arg(district) != 0) {
        return RZ_EINVAL;
    }
    rv = rget(r, T_RULES, k, rz_storage__rule_key(k, service, district), &v);
    if (rv != 0) {
        return rv;
    }
    return strs_decode(&v, 1, outs, RZ_CODE_MAX_BYTES + 1);
}

static int name_get(rz_storage_read *r, int t, const char *code, char *name,
                    int missing)
{
    MDB_val v;
    char *outs[1] = {name};
    int rv = code_arg(code);
    if (rv != 0) {
        return rv;
    }
    rv = rget(r, t, code, strlen(code), &v);
    if (rv != 0) {
        return rv == RZ_ENOTFOUND ? missing : rv;
    }
    return strs_decode(&v, 1, outs, RZ_NAME_MAX_BYTES + 1);
}

int rz_storage_unit_get(rz_storage_read *r, const char *unit_id,
                        char name[RZ_NAME_MAX_BYTES + 1])
{
    RZ_PRE(r != NULL);
    return name_get(r, T_UNITS, unit_id, name, RZ_ENOUNIT);
}

int rz_storage_district_get(rz_storage_read *r, const char *code,
                            char name[RZ_NAME_MAX_BYTES + 1])
{
    RZ_PRE(r != NULL);
    return name_get(r, T_DISTRICTS, code, name, RZ_ENODISTRICT);
}

int rz_storage_reporter_get(rz_storage_read *r, uint64_t reporter_id,
                            rz_reporter_data *out)
{
    uint8_t k[8];
    MDB_val v;
    char *outs[4];
    int rv;
    RZ_PRE(r != NULL && out != NULL);
    outs[0] = out->name;
    outs[1] = out->phone;
    outs[2] = out->email;
    outs[3] = out->address;
    rz_put_be64(k, reporter_id);
    rv = rget(r, T_REPORTERS, k, 8, &v);
    if (rv != 0) {
        return rv == RZ_ENOTFOUND ? RZ_ENOREPORTER : rv;
    }
    return strs_decode(&v, 4, outs, RZ_PII_FIELD_MAX_BYTES + 1);
}

/* One catalog table as an array of items: the key split into its codes,
 * then the stored fields verbatim. */
static int table_encode(rz_storage_read *r, int t, rz_buf *out)
{
    MDB_stat st;
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    int rv;
    int rc;
    rv = rz_storage__mdb_err(mdb_stat(r->txn, r->s->dbi[t], &st));
    if (rv != 0) {
        return rv;
    }
    if (st.ms_entries > RZ_MP_MAX_ITEMS) {
        return RZ_ETOOBIG;
    }
    rv = rz_storage__mdb_err(mdb_cursor_open(r->txn, r->s->dbi[t], &cur));
    if (rv != 0) {
        return rv;
    }
    rz_mp_put_array(out, (uint32_t)st.ms_entries);
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        const char *kb = k.mv_data;
        rz_mp_dec d;
        uint32_t n = 0;
        rz_mp_dec_init(&d, v.mv_data, v.mv_size);
        if (rz_mp_validate(v.mv_data, v.mv_size, 1, NULL) != 0 ||
            rz_mp_get_array(&d, &n) != 0 || n > 3 || k.mv_size == 0 ||
            k.mv_size > RULE_KEY_MAX) {
            rv = RZ_ECORRUPT;
            break;
        }
        if (t == T_RULES) {
            const char *z = memchr(kb, 0, k.mv_size);
            if (z == NULL) {
                rv = RZ_ECORRUPT;
                break;
            }
            rz_mp_put_array(out, 2 + n);
            rz_mp_put_str(out, kb, (size_t)(z - kb));
            rz_mp_put_str(out, z + 1, k.mv_size - (size_t)(z - kb) - 1);
        } else {
            rz_mp_put_array(out, 1 + n);
            rz_mp_put_str(out, kb, k.mv_size);
        }
        rz_mp_put_raw(out, d.p, (size_t)(d.end - d.p));
    }
    if (rv == 0 && rc != MDB_NOTFOUND) {
        rv = rz_storage__mdb_err(rc);
    }
    mdb_cursor_close(cur);
    return rv;
}

int rz_storage_catalog_encode(rz_storage_read *r, rz_buf *out)
{
    static const int tables[4] = {T_DISTRICTS, T_UNITS, T_SERVICES, T_RULES};
    RZ_PRE(r != NULL && out != NULL);
    rz_mp_put_array(out, 4);
    for (int i = 0; i < 4; i++) {
        int rv = table_encode(r, tables[i], out);
        if (rv != 0) {
            return rv;
        }
    }
    return out->err;
}
