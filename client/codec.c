/* Request bodies encoded from ratusz.h's structs and replies decoded from a
 * node's untrusted bytes (docs/protocol.md 6). Decoding is table-driven: a
 * reply map is walked key by key, listed keys are read with the type the
 * protocol gives them (anything else is RZ_EMALFORMED), unknown keys are
 * skipped so that nodes can add fields. */
#include "client/codec.h"

#include <stdlib.h>
#include <string.h>

_Static_assert(sizeof(ratusz_case_status) == sizeof(int) &&
                   sizeof(ratusz_kind) == sizeof(int) &&
                   sizeof(ratusz_event_type) == sizeof(int),
               "enum fields are decoded as int");

/* ---------------------------------------------------------------------------
 * Encoding
 * ------------------------------------------------------------------------ */

/* A map whose pair count is known only at the end: pairs go to `kv`, and
 * finish writes the header and the pairs into the output. */
typedef struct mapb
{
    rz_buf kv;
    uint32_t n;
} mapb;

static void mb_init(mapb *m)
{
    rz_buf_init(&m->kv, RZ_CLIENT_BODY_MAX_BYTES);
    m->n = 0;
}

static void mb_key(mapb *m, const char *key)
{
    rz_mp_put_cstr(&m->kv, key);
    m->n++;
}

static void mb_uint(mapb *m, const char *key, uint64_t v)
{
    mb_key(m, key);
    rz_mp_put_uint(&m->kv, v);
}

static void mb_bool(mapb *m, const char *key, bool v)
{
    mb_key(m, key);
    rz_mp_put_bool(&m->kv, v);
}

static void mb_str(mapb *m, const char *key, const char *s)
{
    mb_key(m, key);
    rz_mp_put_cstr(&m->kv, s != NULL ? s : "");
}

static void mb_common(mapb *m, const rz_client_common *k)
{
    if (k == NULL) {
        return;
    }
    if (k->timeout_ms != 0) {
        mb_uint(m, "timeout_ms", k->timeout_ms);
    }
    if (k->max_stale_ms != 0) {
        mb_uint(m, "max_stale_ms", k->max_stale_ms);
    }
    if (k->actor_id != 0) {
        mb_uint(m, "actor_id", k->actor_id);
    }
}

static int mb_finish(mapb *m, rz_buf *out)
{
    int rv = m->kv.err;
    if (rv == 0) {
        rz_mp_put_map(out, m->n);
        rz_mp_put_raw(out, m->kv.data, m->kv.len);
        rv = out->err;
    }
    rz_buf_close(&m->kv);
    return rv;
}

/* Checks an optional string argument: NULL counts as "". */
static int check_str(const char *s, size_t max_bytes, bool required,
                     const char *what, char *errmsg)
{
    size_t len = s != NULL ? strlen(s) : 0;
    if (required && len == 0) {
        if (errmsg != NULL) {
            rz_errmsg_set(errmsg, "%s is required", what);
        }
        return RZ_EINVAL;
    }
    if (len > max_bytes) {
        if (errmsg != NULL) {
            rz_errmsg_set(errmsg, "%s is %zu bytes; the limit is %zu bytes",
                          what, len, max_bytes);
        }
        return RZ_EINVAL;
    }
    if (!rz_utf8_valid(s != NULL ? s : "", len)) {
        if (errmsg != NULL) {
            rz_errmsg_set(errmsg, "%s is not valid UTF-8", what);
        }
        return RZ_EUTF8;
    }
    return 0;
}

static int bad_arg(char *errmsg, const char *what)
{
    if (errmsg != NULL) {
        rz_errmsg_set(errmsg, "%s", what);
    }
    return RZ_EINVAL;
}

static bool is_set(const char *s)
{
    return s != NULL && s[0] != '\0';
}

int rz_client_enc_empty(rz_buf *b, const rz_client_common *k)
{
    mapb m;
    RZ_PRE(b != NULL);
    mb_init(&m);
    mb_common(&m, k);
    return mb_finish(&m, b);
}

int rz_client_enc_case_create(rz_buf *b, const rz_client_common *k,
                              const ratusz_case_new *c, char *errmsg)
{
    static const struct
    {
        size_t off;
        size_t max;
        const char *key;
    } strs[] = {
        {offsetof(ratusz_case_new, service), RZ_CODE_MAX_BYTES, "service"},
        {offsetof(ratusz_case_new, district), RZ_CODE_MAX_BYTES, "district"},
        {offsetof(ratusz_case_new, street), RZ_NAME_MAX_BYTES, "street"},
        {offsetof(ratusz_case_new, house_no), RZ_HOUSE_NO_MAX_BYTES,
         "house_no"},
    };
    mapb m;
    int rv;
    RZ_PRE(b != NULL);
    if (c == NULL) {
        return bad_arg(errmsg, "the new case is NULL");
    }
    rv = check_str(c->description, RZ_DESCRIPTION_MAX_BYTES, true,
                   "description", errmsg);
    for (size_t i = 0; rv == 0 && i < RZ_ARRAY_LEN(strs); i++) {
        const char *s;
        memcpy(&s, (const char *)c + strs[i].off, sizeof(s));
        rv = check_str(s, strs[i].max, false, strs[i].key, errmsg);
    }
    if (rv != 0) {
        return rv;
    }
    if ((unsigned)c->kind > RATUSZ_KIND_SUGGESTION) {
        return bad_arg(errmsg, "kind is out of range");
    }
    if ((unsigned)c->channel > RATUSZ_CHANNEL_INTERNAL) {
        return bad_arg(errmsg, "channel is out of range");
    }
    if ((unsigned)c->priority > RATUSZ_PRIORITY_URGENT) {
        return bad_arg(errmsg, "priority is out of range");
    }
    if (!(c->lat >= -90.0 && c->lat <= 90.0) ||
        !(c->lon >= -180.0 && c->lon <= 180.0)) {
        return bad_arg(errmsg, "lat must be -90..90 and lon -180..180");
    }
    if (c->reporter != NULL && c->reporter_id != 0) {
        return bad_arg(errmsg, "give either reporter or reporter_id");
    }
    if (c->reporter != NULL) {
        const char *pii[4] = {c->reporter->name, c->reporter->phone,
                              c->reporter->email, c->reporter->address};
        for (size_t i = 0; rv == 0 && i < 4; i++) {
            rv = check_str(pii[i], RZ_PII_FIELD_MAX_BYTES, false,
                           "a reporter field", errmsg);
        }
        if (rv != 0) {
            return rv;
        }
    }
    mb_init(&m);
    mb_common(&m, k);
    mb_uint(&m, "kind", (uint64_t)c->kind);
    mb_uint(&m, "channel", (uint64_t)c->channel);
    mb_uint(&m, "priority", (uint64_t)c->priority);
    mb_str(&m, "description", c->description);
    for (size_t i = 0; i < RZ_ARRAY_LEN(strs); i++) {
        const char *s;
        memcpy(&s, (const char *)c + strs[i].off, sizeof(s));
        if (is_set(s)) {
            mb_str(&m, strs[i].key, s);
        }
    }
    if (c->lat != 0.0 || c->lon != 0.0) {
        mb_key(&m, "lat");
        rz_mp_put_double(&m.kv, c->lat);
        mb_key(&m, "lon");
        rz_mp_put_double(&m.kv, c->lon);
    }
    if (c->notify) {
        mb_bool(&m, "notify", true);
    }
    if (c->reporter_id != 0) {
        mb_uint(&m, "reporter_id", c->reporter_id);
    }
    if (c->reporter != NULL) {
        mb_key(&m, "reporter");
        rz_mp_put_map(&m.kv, 4);
        rz_mp_put_cstr(&m.kv, "name");
        rz_mp_put_cstr(&m.kv, c->reporter->name ? c->reporter->name : "");
        rz_mp_put_cstr(&m.kv, "phone");
        rz_mp_put_cstr(&m.kv, c->reporter->phone ? c->reporter->phone : "");
        rz_mp_put_cstr(&m.kv, "email");
        rz_mp_put_cstr(&m.kv, c->reporter->email ? c->reporter->email : "");
        rz_mp_put_cstr(&m.kv, "address");
        rz_mp_put_cstr(&m.kv, c->reporter->address ? c->reporter->address : "");
    }
    return mb_finish(&m, b);
}

int rz_client_enc_case_get(rz_buf *b, const rz_client_common *k,
                           uint64_t case_id, bool with_history, char *errmsg)
{
    mapb m;
    RZ_PRE(b != NULL);
    if (case_id == 0) {
        return bad_arg(errmsg, "case_id 0 names no case");
    }
    mb_init(&m);
    mb_common(&m, k);
    mb_uint(&m, "case_id", case_id);
    mb_bool(&m, "history", with_history);
    return mb_finish(&m, b);
}

int rz_client_enc_case_list(rz_buf *b, const rz_client_common *k,
                            const ratusz_list_filter *f, char *errmsg)
{
    mapb m;
    int rv = 0;
    RZ_PRE(b != NULL);
    if (f != NULL) {
        if (f->status != RATUSZ_ANY &&
            (f->status < 0 || f->status > RATUSZ_STATUS_CLOSED)) {
            return bad_arg(errmsg, "status filter is out of range");
        }
        if (f->channel != RATUSZ_ANY &&
            (f->channel < 0 || f->channel > RATUSZ_CHANNEL_INTERNAL)) {
            return bad_arg(errmsg, "channel filter is out of range");
        }
        if (f->limit > RZ_LIST_PAGE_MAX) {
            return bad_arg(errmsg, "limit is over 1000");
        }
        if (f->created_to_ms != 0 && f->created_from_ms >= f->created_to_ms) {
            return bad_arg(errmsg, "created_from_ms must be below "
                                   "created_to_ms");
        }
        rv = check_str(f->district, RZ_CODE_MAX_BYTES, false, "district",
                       errmsg);
        if (rv == 0) {
            rv = check_str(f->unit_id, RZ_CODE_MAX_BYTES, false, "unit_id",
                           errmsg);
        }
        if (rv == 0) {
            rv = check_str(f->service, RZ_CODE_MAX_BYTES, false, "service",
                           errmsg);
        }
        if (rv != 0) {
            return rv;
        }
    }
    mb_init(&m);
    mb_common(&m, k);
    if (f != NULL) {
        if (f->status != RATUSZ_ANY) {
            mb_uint(&m, "status", (uint64_t)f->status);
        }
        if (f->channel != RATUSZ_ANY) {
            mb_uint(&m, "channel", (uint64_t)f->channel);
        }
        if (is_set(f->district)) {
            mb_str(&m, "district", f->district);
        }
        if (is_set(f->unit_id)) {
            mb_str(&m, "unit_id", f->unit_id);
        }
        if (is_set(f->service)) {
            mb_str(&m, "service", f->service);
        }
        if (f->created_from_ms != 0) {
            mb_uint(&m, "created_from_ms", f->created_from_ms);
        }
        if (f->created_to_ms != 0) {
            mb_uint(&m, "created_to_ms", f->created_to_ms);
        }
        if (f->reporter_id != 0) {
            mb_uint(&m, "reporter_id", f->reporter_id);
        }
        if (f->cursor != 0) {
            mb_uint(&m, "cursor", f->cursor);
        }
        if (f->limit != 0) {
            mb_uint(&m, "limit", f->limit);
        }
    }
    return mb_finish(&m, b);
}

int rz_client_enc_case_update(rz_buf *b, const rz_client_common *k,
                              const ratusz_update *u, char *errmsg)
{
    mapb m;
    const char *op;
    int rv;
    RZ_PRE(b != NULL);
    if (u == NULL) {
        return bad_arg(errmsg, "the update is NULL");
    }
    op = ratusz_op_name((int)u->op);
    if (op == NULL) {
        return bad_arg(errmsg, "op is not one of status, route, reopen, "
                               "assign, comment, merge, notify");
    }
    if (u->case_id == 0) {
        return bad_arg(errmsg, "case_id 0 names no case");
    }
    rv = check_str(u->text, RZ_COMMENT_MAX_BYTES, u->op == RATUSZ_OP_COMMENT,
                   "text", errmsg);
    if (rv == 0) {
        rv = check_str(u->unit_id, RZ_CODE_MAX_BYTES, u->op == RATUSZ_OP_ROUTE,
                       "unit_id", errmsg);
    }
    if (rv != 0) {
        return rv;
    }
    if (u->op == RATUSZ_OP_STATUS &&
        ((unsigned)u->status > RATUSZ_STATUS_CLOSED ||
         u->status == RATUSZ_STATUS_ROUTED)) {
        return bad_arg(errmsg, "status is out of range (ROUTED is set by "
                               "the route op)");
    }
    if (u->op == RATUSZ_OP_NOTIFY &&
        (unsigned)u->channel > RATUSZ_CHANNEL_INTERNAL) {
        return bad_arg(errmsg, "channel is out of range");
    }
    if (u->op == RATUSZ_OP_MERGE &&
        (u->into_case_id == 0 || u->into_case_id == u->case_id)) {
        return bad_arg(errmsg, "into_case_id must name another case");
    }
    mb_init(&m);
    mb_common(&m, k);
    mb_str(&m, "op", op);
    mb_uint(&m, "case_id", u->case_id);
    if (u->expected_version != 0 && u->op != RATUSZ_OP_COMMENT &&
        u->op != RATUSZ_OP_NOTIFY) {
        mb_uint(&m, "expected_version", u->expected_version);
    }
    switch (u->op) {
    case RATUSZ_OP_STATUS:
        mb_uint(&m, "status", (uint64_t)u->status);
        mb_str(&m, "resolution", u->text);
        break;
    case RATUSZ_OP_ROUTE:
        mb_str(&m, "unit_id", u->unit_id);
        mb_str(&m, "note", u->text);
        break;
    case RATUSZ_OP_REOPEN:
        mb_str(&m, "reason", u->text);
        break;
    case RATUSZ_OP_ASSIGN:
        mb_uint(&m, "assignee_id", u->assignee_id);
        break;
    case RATUSZ_OP_COMMENT:
        mb_str(&m, "text", u->text);
        mb_bool(&m, "public", u->is_public);
        break;
    case RATUSZ_OP_MERGE:
        mb_uint(&m, "into_case_id", u->into_case_id);
        break;
    case RATUSZ_OP_NOTIFY:
        mb_uint(&m, "channel", (uint64_t)u->channel);
        mb_str(&m, "text", u->text);
        break;
    }
    return mb_finish(&m, b);
}

int rz_client_enc_reporter(rz_buf *b, const rz_client_common *k,
                           uint64_t reporter_id, char *errmsg)
{
    mapb m;
    RZ_PRE(b != NULL);
    if (reporter_id == 0) {
        return bad_arg(errmsg, "reporter_id 0 names no reporter");
    }
    mb_init(&m);
    mb_common(&m, k);
    mb_uint(&m, "reporter_id", reporter_id);
    return mb_finish(&m, b);
}

int rz_client_enc_catalog_upsert(rz_buf *b, const rz_client_common *k,
                                 const ratusz_catalog_item *items, size_t n,
                                 char *errmsg)
{
    mapb m;
    int rv = 0;
    RZ_PRE(b != NULL);
    if (items == NULL || n == 0 || n > RZ_CATALOG_UPSERT_MAX_ITEMS) {
        return bad_arg(errmsg, "give 1..512 catalog items");
    }
    for (size_t i = 0; i < n && rv == 0; i++) {
        const ratusz_catalog_item *it = &items[i];
        if ((unsigned)it->type > RATUSZ_CATALOG_RULE) {
            return bad_arg(errmsg, "a catalog item's type is out of range");
        }
        if ((unsigned)it->kind > RATUSZ_KIND_SUGGESTION) {
            return bad_arg(errmsg, "a catalog item's kind is out of range");
        }
        rv = check_str(it->code, RZ_CODE_MAX_BYTES, true, "code", errmsg);
        if (rv == 0) {
            rv = check_str(it->name, RZ_NAME_MAX_BYTES, false, "name", errmsg);
        }
        if (rv == 0) {
            rv = check_str(it->district, RZ_CODE_MAX_BYTES,
                           it->type == RATUSZ_CATALOG_RULE, "district", errmsg);
        }
        if (rv == 0) {
            rv = check_str(it->unit_id, RZ_CODE_MAX_BYTES,
                           it->type == RATUSZ_CATALOG_RULE, "unit_id", errmsg);
        }
    }
    if (rv != 0) {
        return rv;
    }
    mb_init(&m);
    mb_common(&m, k);
    mb_key(&m, "items");
    rz_mp_put_array(&m.kv, (uint32_t)n);
    for (size_t i = 0; i < n; i++) {
        const ratusz_catalog_item *it = &items[i];
        bool rule = it->type == RATUSZ_CATALOG_RULE;
        bool svc = it->type == RATUSZ_CATALOG_SERVICE;
        rz_mp_put_map(&m.kv, rule ? 4u : svc ? 5u : 3u);
        rz_mp_put_cstr(&m.kv, "type");
        rz_mp_put_uint(&m.kv, (uint64_t)it->type);
        rz_mp_put_cstr(&m.kv, "code");
        rz_mp_put_cstr(&m.kv, it->code);
        if (rule) {
            rz_mp_put_cstr(&m.kv, "district");
            rz_mp_put_cstr(&m.kv, it->district);
            rz_mp_put_cstr(&m.kv, "unit_id");
            rz_mp_put_cstr(&m.kv, it->unit_id);
            continue;
        }
        rz_mp_put_cstr(&m.kv, "name");
        rz_mp_put_cstr(&m.kv, it->name != NULL ? it->name : "");
        if (svc) {
            rz_mp_put_cstr(&m.kv, "kind");
            rz_mp_put_uint(&m.kv, (uint64_t)it->kind);
            rz_mp_put_cstr(&m.kv, "sla_hours");
            rz_mp_put_uint(&m.kv, it->sla_hours);
        }
    }
    return mb_finish(&m, b);
}

int rz_client_enc_watch(rz_buf *b, uint64_t from_revision, uint32_t from_sub)
{
    mapb m;
    RZ_PRE(b != NULL);
    mb_init(&m);
    mb_uint(&m, "from_revision", from_revision);
    mb_uint(&m, "from_sub", from_sub);
    return mb_finish(&m, b);
}

int rz_client_enc_checksum(rz_buf *b, const rz_client_common *k, bool scan)
{
    mapb m;
    RZ_PRE(b != NULL);
    mb_init(&m);
    mb_common(&m, k);
    mb_bool(&m, "scan", scan);
    return mb_finish(&m, b);
}

int rz_client_enc_member(rz_buf *b, const rz_client_common *k, uint64_t id,
                         const char *address, bool with_force, bool force,
                         char *errmsg)
{
    mapb m;
    int rv;
    RZ_PRE(b != NULL);
    if (address != NULL) {
        rv = check_str(address, 2 * RATUSZ_ADDRESS_BYTES, true, "address",
                       errmsg);
        if (rv != 0) {
            return rv;
        }
    }
    mb_init(&m);
    mb_common(&m, k);
    mb_uint(&m, "id", id);
    if (address != NULL) {
        mb_str(&m, "address", address);
    }
    if (with_force) {
        mb_bool(&m, "force", force);
    }
    return mb_finish(&m, b);
}

/* ---------------------------------------------------------------------------
 * Decoding
 * ------------------------------------------------------------------------ */

/* Where decoded strings live: one allocation sized so that it never grows
 * (every string of the body plus its NUL fits in twice the body, since each
 * string costs at least one header byte), so pointers into it stay valid. */
typedef struct arena
{
    char *p;
    size_t len;
    size_t cap;
} arena;

static int arena_init(arena *a, size_t body_len)
{
    a->cap = 2 * body_len + 1;
    a->len = 0;
    a->p = malloc(a->cap);
    return a->p == NULL ? RZ_ENOMEM : 0;
}

static const char *arena_add(arena *a, const char *s, uint32_t len)
{
    char *out;
    RZ_ASSERT(a->len + len + 1 <= a->cap);
    out = a->p + a->len;
    memcpy(out, s, len);
    out[len] = '\0';
    a->len += (size_t)len + 1;
    return out;
}

typedef enum fkind {
    F_U64,
    F_U32,
    F_ENUM, /* int field, value 0..INT32_MAX (unknown values kept) */
    F_NEG,  /* int field, a negative error code */
    F_BOOL,
    F_F64,   /* float, or an integer */
    F_STR,   /* const char * into the arena */
    F_CHARS, /* char[size], NUL-terminated; longer is malformed */
    F_BIN    /* uint8_t[size], exactly size bytes */
} fkind;

typedef struct field
{
    const char *key;
    fkind kind;
    size_t off;
    size_t size; /* F_CHARS, F_BIN */
} field;

#define FLD(type, key, kind, member)                                   \
    {                                                                  \
        key, kind, offsetof(type, member), sizeof(((type *)0)->member) \
    }

static const char empty_str[1] = "";

/* Sets every F_STR field of obj to "". */
static void fields_default(const field *fs, size_t nf, void *obj)
{
    for (size_t i = 0; i < nf; i++) {
        if (fs[i].kind == F_STR) {
            const char *e = empty_str;
            memcpy((char *)obj + fs[i].off, &e, sizeof(e));
        }
    }
}

static int get_f64(rz_mp_dec *d, double *out)
{
    switch (rz_mp_peek(d)) {
    case RZ_MP_FLOAT:
        return rz_mp_get_double(d, out);
    case RZ_MP_UINT: {
        uint64_t u;
        if (rz_mp_get_u64(d, &u) != 0) {
            return RZ_EMALFORMED;
        }
        *out = (double)u;
        return 0;
    }
    case RZ_MP_INT: {
        int64_t v;
        if (rz_mp_get_i64(d, &v) != 0) {
            return RZ_EMALFORMED;
        }
        *out = (double)v;
        return 0;
    }
    default:
        d->err = RZ_EMALFORMED;
        return RZ_EMALFORMED;
    }
}

/* Reads one value of field f into obj. */
static int field_read(rz_mp_dec *d, const field *f, void *obj, arena *a)
{
    char *dst = (char *)obj + f->off;
    switch (f->kind) {
    case F_U64: {
        uint64_t v;
        if (rz_mp_get_u64(d, &v) != 0) {
            return RZ_EMALFORMED;
        }
        memcpy(dst, &v, sizeof(v));
        return 0;
    }
    case F_U32: {
        uint32_t v;
        if (rz_mp_get_u32(d, &v) != 0) {
            return RZ_EMALFORMED;
        }
        memcpy(dst, &v, sizeof(v));
        return 0;
    }
    case F_ENUM: {
        uint32_t v;
        int iv;
        if (rz_mp_get_u32(d, &v) != 0 || v > INT32_MAX) {
            return RZ_EMALFORMED;
        }
        iv = (int)v;
        memcpy(dst, &iv, sizeof(iv));
        return 0;
    }
    case F_NEG: {
        int64_t v;
        int iv;
        if (rz_mp_get_i64(d, &v) != 0 || v >= 0 || v < INT32_MIN) {
            return RZ_EMALFORMED;
        }
        iv = (int)v;
        memcpy(dst, &iv, sizeof(iv));
        return 0;
    }
    case F_BOOL: {
        bool v;
        if (rz_mp_get_bool(d, &v) != 0) {
            return RZ_EMALFORMED;
        }
        memcpy(dst, &v, sizeof(v));
        return 0;
    }
    case F_F64: {
        double v;
        if (get_f64(d, &v) != 0) {
            return RZ_EMALFORMED;
        }
        memcpy(dst, &v, sizeof(v));
        return 0;
    }
    case F_STR: {
        const char *s;
        const char *copy;
        uint32_t len;
        if (a == NULL || rz_mp_get_str(d, &s, &len, RZ_FRAME_MAX_BYTES) != 0) {
            return RZ_EMALFORMED;
        }
        copy = arena_add(a, s, len);
        memcpy(dst, &copy, sizeof(copy));
        return 0;
    }
    case F_CHARS: {
        const char *s;
        uint32_t len;
        if (rz_mp_get_str(d, &s, &len, (uint32_t)(f->size - 1)) != 0) {
            return RZ_EMALFORMED;
        }
        memcpy(dst, s, len);
        dst[len] = '\0';
        return 0;
    }
    case F_BIN:
        return rz_mp_get_bin_exact(d, dst, (uint32_t)f->size);
    }
    RZ_UNREACHABLE();
}

/* Called for keys that are not in the table; returns 1 when it consumed
 * the value, 0 to let the walker skip it, or a negative error. */
typedef int (*special_fn)(void *ctx, const char *key, uint32_t key_len,
                          rz_mp_dec *d);

static bool key_is(const char *key, uint32_t len, const char *name)
{
    return strlen(name) == len && memcmp(key, name, len) == 0;
}

/* Walks one map at the cursor into obj. */
static int dec_fields(rz_mp_dec *d, const field *fs, size_t nf, void *obj,
                      arena *a, special_fn special, void *ctx)
{
    uint32_t n;
    if (rz_mp_get_map(d, &n) != 0) {
        return RZ_EMALFORMED;
    }
    fields_default(fs, nf, obj);
    for (uint32_t i = 0; i < n; i++) {
        const char *key;
        uint32_t key_len;
        size_t j;
        int rv = 0;
        if (rz_mp_get_str(d, &key, &key_len, 64) != 0) {
            return RZ_EMALFORMED;
        }
        for (j = 0; j < nf; j++) {
            if (key_is(key, key_len, fs[j].key)) {
                break;
            }
        }
        if (j < nf) {
            rv = field_read(d, &fs[j], obj, a);
        } else if (special != NULL) {
            rv = special(ctx, key, key_len, d);
            if (rv == 0) {
                rv = rz_mp_skip(d);
            } else if (rv == 1) {
                rv = 0;
            }
        } else {
            rv = rz_mp_skip(d);
        }
        if (rv != 0) {
            return rv == RZ_ENOMEM ? RZ_ENOMEM : RZ_EMALFORMED;
        }
    }
    return d->err != 0 ? RZ_EMALFORMED : 0;
}

/* Starts decoding a body: it must be exactly one value within the limits. */
static int dec_start(rz_mp_dec *d, const uint8_t *body, size_t n)
{
    if (body == NULL || n == 0 || rz_mp_validate(body, n, 1, NULL) != 0) {
        return RZ_EMALFORMED;
    }
    rz_mp_dec_init(d, body, n);
    return 0;
}

/* Reads an array header whose elements each take >= min_bytes. */
static int dec_array(rz_mp_dec *d, uint32_t *n)
{
    if (rz_mp_get_array(d, n) != 0 || *n > RZ_MP_MAX_ITEMS ||
        *n > (size_t)(d->end - d->p)) {
        d->err = RZ_EMALFORMED;
        return RZ_EMALFORMED;
    }
    return 0;
}

int rz_client_dec_error(const uint8_t *body, size_t n, rz_client_error *out)
{
    static const field fs[] = {
        FLD(rz_client_error, "code", F_NEG, code),
        FLD(rz_client_error, "leader_id", F_U64, leader_id),
        FLD(rz_client_error, "version", F_U32, version),
        FLD(rz_client_error, "case_id", F_U64, case_id),
    };
    rz_client_error e;
    rz_mp_dec d;
    uint32_t pairs;
    if (dec_start(&d, body, n) != 0) {
        return RZ_EMALFORMED;
    }
    memset(&e, 0, sizeof(e));
    /* message and leader_address are read by hand: a long message is cut
     * rather than refused (it is for people), an address must fit. */
    if (rz_mp_get_map(&d, &pairs) != 0) {
        return RZ_EMALFORMED;
    }
    for (uint32_t i = 0; i < pairs; i++) {
        const char *key;
        const char *s;
        uint32_t key_len;
        uint32_t len;
        size_t j;
        int rv = 0;
        if (rz_mp_get_str(&d, &key, &key_len, 64) != 0) {
            return RZ_EMALFORMED;
        }
        for (j = 0; j < RZ_ARRAY_LEN(fs); j++) {
            if (key_is(key, key_len, fs[j].key)) {
                break;
            }
        }
        if (j < RZ_ARRAY_LEN(fs)) {
            rv = field_read(&d, &fs[j], &e, NULL);
        } else if (key_is(key, key_len, "message")) {
            rv = rz_mp_get_str(&d, &s, &len, RZ_FRAME_MAX_BYTES);
            if (rv == 0) {
                size_t keep =
                    len < sizeof(e.message) - 1 ? len : sizeof(e.message) - 1;
                memcpy(e.message, s, keep);
                e.message[keep] = '\0';
            }
        } else if (key_is(key, key_len, "leader_address")) {
            rv = rz_mp_get_cstr(&d, e.leader_address, sizeof(e.leader_address));
        } else {
            rv = rz_mp_skip(&d);
        }
        if (rv != 0) {
            return RZ_EMALFORMED;
        }
    }
    if (d.err != 0 || e.code == 0) {
        return RZ_EMALFORMED;
    }
    *out = e;
    return 0;
}

int rz_client_dec_created(const uint8_t *body, size_t n, ratusz_created *out)
{
    static const field fs[] = {
        FLD(ratusz_created, "case_id", F_U64, case_id),
        FLD(ratusz_created, "number", F_CHARS, number),
        FLD(ratusz_created, "status", F_ENUM, status),
        FLD(ratusz_created, "unit_id", F_CHARS, unit_id),
        FLD(ratusz_created, "version", F_U32, version),
        FLD(ratusz_created, "reporter_id", F_U64, reporter_id),
        FLD(ratusz_created, "index", F_U64, index),
    };
    ratusz_created c;
    rz_mp_dec d;
    if (dec_start(&d, body, n) != 0) {
        return RZ_EMALFORMED;
    }
    memset(&c, 0, sizeof(c));
    if (dec_fields(&d, fs, RZ_ARRAY_LEN(fs), &c, NULL, NULL, NULL) != 0 ||
        c.case_id == 0) {
        return RZ_EMALFORMED;
    }
    *out = c;
    return 0;
}

int rz_client_dec_write(const uint8_t *body, size_t n, ratusz_write_result *out)
{
    static const field fs[] = {
        FLD(ratusz_write_result, "index", F_U64, index),
        FLD(ratusz_write_result, "case_id", F_U64, case_id),
        FLD(ratusz_write_result, "version", F_U32, version),
    };
    ratusz_write_result w;
    rz_mp_dec d;
    if (dec_start(&d, body, n) != 0) {
        return RZ_EMALFORMED;
    }
    memset(&w, 0, sizeof(w));
    if (dec_fields(&d, fs, RZ_ARRAY_LEN(fs), &w, NULL, NULL, NULL) != 0) {
        return RZ_EMALFORMED;
    }
    *out = w;
    return 0;
}

static const field case_fields[] = {
    FLD(ratusz_case, "case_id", F_U64, case_id),
    FLD(ratusz_case, "number", F_STR, number),
    FLD(ratusz_case, "version", F_U32, version),
    FLD(ratusz_case, "kind", F_ENUM, kind),
    FLD(ratusz_case, "channel", F_ENUM, channel),
    FLD(ratusz_case, "status", F_ENUM, status),
    FLD(ratusz_case, "priority", F_ENUM, priority),
    FLD(ratusz_case, "service", F_STR, service),
    FLD(ratusz_case, "district", F_STR, district),
    FLD(ratusz_case, "unit_id", F_STR, unit_id),
    FLD(ratusz_case, "street", F_STR, street),
    FLD(ratusz_case, "house_no", F_STR, house_no),
    FLD(ratusz_case, "lat", F_F64, lat),
    FLD(ratusz_case, "lon", F_F64, lon),
    FLD(ratusz_case, "description", F_STR, description),
    FLD(ratusz_case, "resolution", F_STR, resolution),
    FLD(ratusz_case, "created_ms", F_U64, created_ms),
    FLD(ratusz_case, "updated_ms", F_U64, updated_ms),
    FLD(ratusz_case, "due_ms", F_U64, due_ms),
    FLD(ratusz_case, "closed_ms", F_U64, closed_ms),
    FLD(ratusz_case, "reporter_id", F_U64, reporter_id),
    FLD(ratusz_case, "parent_case_id", F_U64, parent_case_id),
    FLD(ratusz_case, "assignee_id", F_U64, assignee_id),
    FLD(ratusz_case, "n_events", F_U32, n_events),
    FLD(ratusz_case, "notify", F_BOOL, notify),
};

static const field event_fields[] = {
    FLD(ratusz_event, "case_id", F_U64, case_id),
    FLD(ratusz_event, "seq", F_U32, seq),
    FLD(ratusz_event, "type", F_ENUM, type),
    FLD(ratusz_event, "revision", F_U64, revision),
    FLD(ratusz_event, "at_ms", F_U64, at_ms),
    FLD(ratusz_event, "actor_role", F_ENUM, actor_role),
    FLD(ratusz_event, "actor_id", F_U64, actor_id),
    FLD(ratusz_event, "status_from", F_ENUM, status_from),
    FLD(ratusz_event, "status_to", F_ENUM, status_to),
    FLD(ratusz_event, "unit_from", F_STR, unit_from),
    FLD(ratusz_event, "unit_to", F_STR, unit_to),
    FLD(ratusz_event, "other_id", F_U64, other_id),
    FLD(ratusz_event, "channel", F_ENUM, channel),
    FLD(ratusz_event, "public", F_BOOL, is_public),
    FLD(ratusz_event, "text", F_STR, text),
};

/* An array of maps into a fresh array of elem_size-byte objects. */
static int dec_objects(rz_mp_dec *d, const field *fs, size_t nf,
                       size_t elem_size, arena *a, void **items, size_t *n)
{
    uint32_t count;
    char *arr = NULL;
    if (dec_array(d, &count) != 0) {
        return RZ_EMALFORMED;
    }
    if (count > 0) {
        arr = calloc(count, elem_size);
        if (arr == NULL) {
            return RZ_ENOMEM;
        }
    }
    for (uint32_t i = 0; i < count; i++) {
        char *obj = arr + (size_t)i * elem_size;
        int rv = dec_fields(d, fs, nf, obj, a, NULL, NULL);
        if (rv != 0) {
            free(arr);
            return rv;
        }
    }
    *items = arr;
    *n = count;
    return 0;
}

/* The private wrappers of the library-allocated results: the public struct
 * first (so a pointer to it is a pointer to the wrapper), then the arena. */
typedef struct case_info_priv
{
    ratusz_case_info pub;
    char *arena;
} case_info_priv;

typedef struct case_info_ctx
{
    case_info_priv *p;
    arena *a;
    bool have_case;
} case_info_ctx;

static int case_info_special(void *vctx, const char *key, uint32_t len,
                             rz_mp_dec *d)
{
    case_info_ctx *ctx = vctx;
    if (key_is(key, len, "case")) {
        int rv = dec_fields(d, case_fields, RZ_ARRAY_LEN(case_fields),
                            &ctx->p->pub.c, ctx->a, NULL, NULL);
        ctx->have_case = rv == 0;
        return rv == 0 ? 1 : rv;
    }
    if (key_is(key, len, "history")) {
        void *items = NULL;
        size_t count = 0;
        int rv;
        if (ctx->p->pub.history != NULL) {
            return RZ_EMALFORMED; /* a repeated key would leak */
        }
        rv = dec_objects(d, event_fields, RZ_ARRAY_LEN(event_fields),
                         sizeof(ratusz_event), ctx->a, &items, &count);
        if (rv != 0) {
            return rv;
        }
        ctx->p->pub.history = items;
        ctx->p->pub.n_history = count;
        return 1;
    }
    return 0;
}

void ratusz_case_info_free(ratusz_case_info *info)
{
    case_info_priv *p = (case_info_priv *)info;
    if (p == NULL) {
        return;
    }
    free(p->pub.history);
    free(p->arena);
    free(p);
}

int rz_client_dec_case_info(const uint8_t *body, size_t n,
                            ratusz_case_info **out)
{
    static const field fs[] = {
        FLD(ratusz_case_info, "truncated", F_BOOL, truncated),
        FLD(ratusz_case_info, "index", F_U64, index),
        FLD(ratusz_case_info, "stale_ms", F_U64, stale_ms),
    };
    case_info_priv *p;
    case_info_ctx ctx;
    arena a;
    rz_mp_dec d;
    int rv;
    if (dec_start(&d, body, n) != 0) {
        return RZ_EMALFORMED;
    }
    p = calloc(1, sizeof(*p));
    if (p == NULL) {
        return RZ_ENOMEM;
    }
    if (arena_init(&a, n) != 0) {
        free(p);
        return RZ_ENOMEM;
    }
    p->arena = a.p;
    fields_default(case_fields, RZ_ARRAY_LEN(case_fields), &p->pub.c);
    ctx.p = p;
    ctx.a = &a;
    ctx.have_case = false;
    rv = dec_fields(&d, fs, RZ_ARRAY_LEN(fs), &p->pub, &a, case_info_special,
                    &ctx);
    if (rv == 0 && (!ctx.have_case || p->pub.c.case_id == 0)) {
        rv = RZ_EMALFORMED;
    }
    if (rv != 0) {
        ratusz_case_info_free(&p->pub);
        return rv;
    }
    *out = &p->pub;
    return 0;
}

typedef struct page_priv
{
    ratusz_page pub;
    char *arena;
} page_priv;

typedef struct list_ctx
{
    arena *a;
    const field *fs;
    size_t nf;
    size_t elem_size;
    const char *key;
    void **items;
    size_t *n;
} list_ctx;

/* Handles one array-of-maps key of a reply (ctx->key). */
static int list_special(void *vctx, const char *key, uint32_t len, rz_mp_dec *d)
{
    list_ctx *ctx = vctx;
    int rv;
    if (!key_is(key, len, ctx->key)) {
        return 0;
    }
    if (*ctx->items != NULL) {
        return RZ_EMALFORMED;
    }
    rv = dec_objects(d, ctx->fs, ctx->nf, ctx->elem_size, ctx->a, ctx->items,
                     ctx->n);
    return rv == 0 ? 1 : rv;
}

void ratusz_page_free(ratusz_page *page)
{
    page_priv *p = (page_priv *)page;
    if (p == NULL) {
        return;
    }
    free(p->pub.cases);
    free(p->arena);
    free(p);
}

int rz_client_dec_page(const uint8_t *body, size_t n, ratusz_page **out)
{
    static const field fs[] = {
        FLD(ratusz_page, "next_cursor", F_U64, next_cursor),
        FLD(ratusz_page, "index", F_U64, index),
        FLD(ratusz_page, "stale_ms", F_U64, stale_ms),
    };
    page_priv *p;
    list_ctx ctx;
    void *items = NULL;
    arena a;
    rz_mp_dec d;
    int rv;
    if (dec_start(&d, body, n) != 0) {
        return RZ_EMALFORMED;
    }
    p = calloc(1, sizeof(*p));
    if (p == NULL || arena_init(&a, n) != 0) {
        free(p);
        return RZ_ENOMEM;
    }
    p->arena = a.p;
    ctx = (list_ctx){&a,
                     case_fields,
                     RZ_ARRAY_LEN(case_fields),
                     sizeof(ratusz_case),
                     "cases",
                     &items,
                     &p->pub.n_cases};
    rv = dec_fields(&d, fs, RZ_ARRAY_LEN(fs), &p->pub, &a, list_special, &ctx);
    p->pub.cases = items;
    if (rv != 0) {
        ratusz_page_free(&p->pub);
        return rv;
    }
    *out = &p->pub;
    return 0;
}

int rz_client_dec_reporter(const uint8_t *body, size_t n,
                           ratusz_reporter_info *out)
{
    static const field fs[] = {
        FLD(ratusz_reporter_info, "name", F_CHARS, name),
        FLD(ratusz_reporter_info, "phone", F_CHARS, phone),
        FLD(ratusz_reporter_info, "email", F_CHARS, email),
        FLD(ratusz_reporter_info, "address", F_CHARS, address),
    };
    ratusz_reporter_info r;
    rz_mp_dec d;
    if (dec_start(&d, body, n) != 0) {
        return RZ_EMALFORMED;
    }
    memset(&r, 0, sizeof(r));
    if (dec_fields(&d, fs, RZ_ARRAY_LEN(fs), &r, NULL, NULL, NULL) != 0) {
        return RZ_EMALFORMED;
    }
    *out = r;
    return 0;
}

typedef struct catalog_priv
{
    ratusz_catalog pub;
    char *arena;
} catalog_priv;

typedef struct catalog_ctx
{
    arena *a;
    ratusz_catalog_item *items; /* room for every element of the body */
    size_t n;
    size_t cap;
} catalog_ctx;

/* Catalog arrays: districts/units {code, name}, services {code, name, kind,
 * sla_hours}, rules {service, district, unit_id}; all become items. */
static int catalog_special(void *vctx, const char *key, uint32_t len,
                           rz_mp_dec *d)
{
    static const field named[] = {
        FLD(ratusz_catalog_item, "code", F_STR, code),
        FLD(ratusz_catalog_item, "name", F_STR, name),
        FLD(ratusz_catalog_item, "kind", F_ENUM, kind),
        FLD(ratusz_catalog_item, "sla_hours", F_U32, sla_hours),
        /* only to give these fields "" */
        FLD(ratusz_catalog_item, "\x01", F_STR, district),
        FLD(ratusz_catalog_item, "\x02", F_STR, unit_id),
    };
    static const field rule[] = {
        FLD(ratusz_catalog_item, "service", F_STR, code),
        FLD(ratusz_catalog_item, "district", F_STR, district),
        FLD(ratusz_catalog_item, "unit_id", F_STR, unit_id),
        FLD(ratusz_catalog_item, "\x01", F_STR, name),
    };
    catalog_ctx *ctx = vctx;
    ratusz_catalog_type type;
    uint32_t count;
    if (key_is(key, len, "districts")) {
        type = RATUSZ_CATALOG_DISTRICT;
    } else if (key_is(key, len, "units")) {
        type = RATUSZ_CATALOG_UNIT;
    } else if (key_is(key, len, "services")) {
        type = RATUSZ_CATALOG_SERVICE;
    } else if (key_is(key, len, "rules")) {
        type = RATUSZ_CATALOG_RULE;
    } else {
        return 0;
    }
    if (dec_array(d, &count) != 0 || count > ctx->cap - ctx->n) {
        return RZ_EMALFORMED;
    }
    for (uint32_t i = 0; i < count; i++) {
        ratusz_catalog_item *it = &ctx->items[ctx->n];
        int rv;
        memset(it, 0, sizeof(*it));
        if (type == RATUSZ_CATALOG_RULE) {
            rv =
                dec_fields(d, rule, RZ_ARRAY_LEN(rule), it, ctx->a, NULL, NULL);
        } else {
            rv = dec_fields(d, named, RZ_ARRAY_LEN(named), it, ctx->a, NULL,
                            NULL);
        }
        if (rv != 0) {
            return rv;
        }
        it->type = type;
        ctx->n++;
    }
    return 1;
}

void ratusz_catalog_free(ratusz_catalog *cat)
{
    catalog_priv *p = (catalog_priv *)cat;
    if (p == NULL) {
        return;
    }
    free(p->pub.items);
    free(p->arena);
    free(p);
}

int rz_client_dec_catalog(const uint8_t *body, size_t n, ratusz_catalog **out)
{
    static const field fs[] = {
        FLD(ratusz_catalog, "index", F_U64, index),
    };
    catalog_priv *p;
    catalog_ctx ctx;
    arena a;
    rz_mp_dec d;
    int rv;
    if (dec_start(&d, body, n) != 0) {
        return RZ_EMALFORMED;
    }
    p = calloc(1, sizeof(*p));
    if (p == NULL) {
        return RZ_ENOMEM;
    }
    /* Every item takes at least one byte of the body: n bounds the count. */
    ctx.cap = n;
    ctx.n = 0;
    ctx.items = calloc(n, sizeof(ratusz_catalog_item));
    if (ctx.items == NULL || arena_init(&a, n) != 0) {
        free(ctx.items);
        free(p);
        return RZ_ENOMEM;
    }
    ctx.a = &a;
    p->arena = a.p;
    p->pub.items = ctx.items;
    rv = dec_fields(&d, fs, RZ_ARRAY_LEN(fs), &p->pub, &a, catalog_special,
                    &ctx);
    p->pub.n_items = ctx.n;
    if (rv != 0) {
        ratusz_catalog_free(&p->pub);
        return rv;
    }
    *out = &p->pub;
    return 0;
}

typedef struct stats_priv
{
    ratusz_stats pub;
    char *arena;
} stats_priv;

typedef struct stats_ctx
{
    arena *a;
    ratusz_stats *st;
} stats_ctx;

/* "counters": [[dim, key, count]...], key a str or an int. */
static int stats_special(void *vctx, const char *key, uint32_t len,
                         rz_mp_dec *d)
{
    stats_ctx *ctx = vctx;
    uint32_t count;
    if (!key_is(key, len, "counters")) {
        return 0;
    }
    if (ctx->st->counters != NULL || dec_array(d, &count) != 0) {
        return RZ_EMALFORMED;
    }
    ctx->st->counters = calloc(count > 0 ? count : 1, sizeof(ratusz_counter));
    if (ctx->st->counters == NULL) {
        return RZ_ENOMEM;
    }
    for (uint32_t i = 0; i < count; i++) {
        ratusz_counter *c = &ctx->st->counters[i];
        uint32_t three;
        if (rz_mp_get_array(d, &three) != 0 || three != 3 ||
            rz_mp_get_u32(d, &c->dim) != 0) {
            return RZ_EMALFORMED;
        }
        if (rz_mp_peek(d) == RZ_MP_STR) {
            const char *s;
            uint32_t sl;
            if (rz_mp_get_str(d, &s, &sl, RZ_FRAME_MAX_BYTES) != 0) {
                return RZ_EMALFORMED;
            }
            c->key_str = arena_add(ctx->a, s, sl);
        } else if (rz_mp_get_u64(d, &c->key_int) != 0) {
            return RZ_EMALFORMED;
        }
        if (rz_mp_get_u64(d, &c->count) != 0) {
            return RZ_EMALFORMED;
        }
        ctx->st->n_counters = i + 1;
    }
    return 1;
}

void ratusz_stats_free(ratusz_stats *st)
{
    stats_priv *p = (stats_priv *)st;
    if (p == NULL) {
        return;
    }
    free(p->pub.counters);
    free(p->arena);
    free(p);
}

int rz_client_dec_stats(const uint8_t *body, size_t n, ratusz_stats **out)
{
    static const field fs[] = {
        FLD(ratusz_stats, "index", F_U64, index),
    };
    stats_priv *p;
    stats_ctx ctx;
    arena a;
    rz_mp_dec d;
    int rv;
    if (dec_start(&d, body, n) != 0) {
        return RZ_EMALFORMED;
    }
    p = calloc(1, sizeof(*p));
    if (p == NULL || arena_init(&a, n) != 0) {
        free(p);
        return RZ_ENOMEM;
    }
    p->arena = a.p;
    ctx.a = &a;
    ctx.st = &p->pub;
    rv = dec_fields(&d, fs, RZ_ARRAY_LEN(fs), &p->pub, &a, stats_special, &ctx);
    if (rv != 0) {
        ratusz_stats_free(&p->pub);
        return rv;
    }
    *out = &p->pub;
    return 0;
}

int rz_client_dec_ping(const uint8_t *body, size_t n, ratusz_ping_info *out)
{
    static const field fs[] = {
        FLD(ratusz_ping_info, "node_id", F_U64, node_id),
        FLD(ratusz_ping_info, "cluster_id", F_BIN, cluster_id),
        FLD(ratusz_ping_info, "role", F_CHARS, role),
    };
    ratusz_ping_info p;
    rz_mp_dec d;
    if (dec_start(&d, body, n) != 0) {
        return RZ_EMALFORMED;
    }
    memset(&p, 0, sizeof(p));
    if (dec_fields(&d, fs, RZ_ARRAY_LEN(fs), &p, NULL, NULL, NULL) != 0) {
        return RZ_EMALFORMED;
    }
    *out = p;
    return 0;
}

typedef struct status_priv
{
    ratusz_status_info pub;
    char *arena;
} status_priv;

void ratusz_status_info_free(ratusz_status_info *st)
{
    status_priv *p = (status_priv *)st;
    if (p == NULL) {
        return;
    }
    free(p->pub.members);
    free(p->arena);
    free(p);
}

/* STATUS: the members list and the snapshot map. */
typedef struct status_ctx
{
    list_ctx list;
    ratusz_snapshot_info *snapshot;
    bool snapshot_seen;
} status_ctx;

static int status_special(void *vctx, const char *key, uint32_t len,
                          rz_mp_dec *d)
{
    static const field snap_fields[] = {
        FLD(ratusz_snapshot_info, "index", F_U64, index),
        FLD(ratusz_snapshot_info, "taken", F_U64, taken),
        FLD(ratusz_snapshot_info, "transfers_sent", F_U64, transfers_sent),
        FLD(ratusz_snapshot_info, "bytes_sent", F_U64, bytes_sent),
        FLD(ratusz_snapshot_info, "transfers_installed", F_U64,
            transfers_installed),
        FLD(ratusz_snapshot_info, "transfers_aborted", F_U64,
            transfers_aborted),
        FLD(ratusz_snapshot_info, "bytes_received", F_U64, bytes_received),
    };
    status_ctx *ctx = vctx;
    int rv;
    if (!key_is(key, len, "snapshot")) {
        return list_special(&ctx->list, key, len, d);
    }
    if (ctx->snapshot_seen) {
        return RZ_EMALFORMED;
    }
    ctx->snapshot_seen = true;
    rv = dec_fields(d, snap_fields, RZ_ARRAY_LEN(snap_fields), ctx->snapshot,
                    NULL, NULL, NULL);
    return rv == 0 ? 1 : rv;
}

int rz_client_dec_status(const uint8_t *body, size_t n,
                         ratusz_status_info **out)
{
    static const field fs[] = {
        FLD(ratusz_status_info, "node_id", F_U64, node_id),
        FLD(ratusz_status_info, "cluster_id", F_BIN, cluster_id),
        FLD(ratusz_status_info, "state", F_STR, state),
        FLD(ratusz_status_info, "term", F_U64, term),
        FLD(ratusz_status_info, "commit_index", F_U64, commit_index),
        FLD(ratusz_status_info, "applied_index", F_U64, applied_index),
        FLD(ratusz_status_info, "last_index", F_U64, last_index),
        FLD(ratusz_status_info, "leader_id", F_U64, leader_id),
        FLD(ratusz_status_info, "leader_address", F_STR, leader_address),
        FLD(ratusz_status_info, "disk_alarm", F_BOOL, disk_alarm),
        FLD(ratusz_status_info, "version", F_STR, version),
    };
    static const field member_fields[] = {
        FLD(ratusz_member, "id", F_U64, id),
        FLD(ratusz_member, "address", F_STR, address),
        FLD(ratusz_member, "client_address", F_STR, client_address),
        FLD(ratusz_member, "voter", F_BOOL, voter),
        FLD(ratusz_member, "match_index", F_U64, match_index),
    };
    status_priv *p;
    status_ctx ctx;
    void *items = NULL;
    arena a;
    rz_mp_dec d;
    int rv;
    if (dec_start(&d, body, n) != 0) {
        return RZ_EMALFORMED;
    }
    p = calloc(1, sizeof(*p));
    if (p == NULL || arena_init(&a, n) != 0) {
        free(p);
        return RZ_ENOMEM;
    }
    p->arena = a.p;
    ctx.list = (list_ctx){&a,
                          member_fields,
                          RZ_ARRAY_LEN(member_fields),
                          sizeof(ratusz_member),
                          "members",
                          &items,
                          &p->pub.n_members};
    ctx.snapshot = &p->pub.snapshot;
    ctx.snapshot_seen = false;
    rv =
        dec_fields(&d, fs, RZ_ARRAY_LEN(fs), &p->pub, &a, status_special, &ctx);
    p->pub.members = items;
    if (rv != 0) {
        ratusz_status_info_free(&p->pub);
        return rv;
    }
    *out = &p->pub;
    return 0;
}

int rz_client_dec_checksum(const uint8_t *body, size_t n,
                           ratusz_checksum_info *out)
{
    static const field fs[] = {
        FLD(ratusz_checksum_info, "node_id", F_U64, node_id),
        FLD(ratusz_checksum_info, "applied_index", F_U64, applied_index),
        FLD(ratusz_checksum_info, "checksum", F_BIN, checksum),
        FLD(ratusz_checksum_info, "data_checksum", F_BIN, data_checksum),
    };
    ratusz_checksum_info c;
    rz_mp_dec d;
    if (dec_start(&d, body, n) != 0) {
        return RZ_EMALFORMED;
    }
    memset(&c, 0, sizeof(c));
    if (dec_fields(&d, fs, RZ_ARRAY_LEN(fs), &c, NULL, NULL, NULL) != 0) {
        return RZ_EMALFORMED;
    }
    *out = c;
    return 0;
}

typedef struct uint_key_ctx
{
    const char *key;
    uint64_t v;
} uint_key_ctx;

static int uint_key_special(void *vctx, const char *key, uint32_t len,
                            rz_mp_dec *d)
{
    uint_key_ctx *ctx = vctx;
    if (!key_is(key, len, ctx->key)) {
        return 0;
    }
    return rz_mp_get_u64(d, &ctx->v) == 0 ? 1 : RZ_EMALFORMED;
}

int rz_client_dec_uint_key(const uint8_t *body, size_t n, const char *key,
                           uint64_t *out)
{
    uint_key_ctx ctx = {key, 0};
    rz_mp_dec d;
    RZ_PRE(key != NULL);
    if (dec_start(&d, body, n) != 0 ||
        dec_fields(&d, NULL, 0, NULL, NULL, uint_key_special, &ctx) != 0) {
        return RZ_EMALFORMED;
    }
    *out = ctx.v;
    return 0;
}

void rz_client_batch_free(rz_client_batch *b)
{
    if (b == NULL) {
        return;
    }
    free(b->events);
    free(b->arena);
    free(b);
}

int rz_client_dec_events(const uint8_t *body, size_t n, rz_client_batch **out)
{
    static const field fs[] = {
        FLD(rz_client_batch, "next_revision", F_U64, next_revision),
        FLD(rz_client_batch, "next_sub", F_U32, next_sub),
    };
    rz_client_batch *b;
    list_ctx ctx;
    void *items = NULL;
    arena a;
    rz_mp_dec d;
    int rv;
    if (dec_start(&d, body, n) != 0) {
        return RZ_EMALFORMED;
    }
    b = calloc(1, sizeof(*b));
    if (b == NULL || arena_init(&a, n) != 0) {
        free(b);
        return RZ_ENOMEM;
    }
    b->arena = a.p;
    ctx = (list_ctx){&a,
                     event_fields,
                     RZ_ARRAY_LEN(event_fields),
                     sizeof(ratusz_event),
                     "events",
                     &items,
                     &b->n_events};
    rv = dec_fields(&d, fs, RZ_ARRAY_LEN(fs), b, &a, list_special, &ctx);
    b->events = items;
    /* A batch must say where to resume; events must move forward. */
    if (rv == 0 && b->next_revision == 0) {
        rv = RZ_EMALFORMED;
    }
    for (size_t i = 0; rv == 0 && i < b->n_events; i++) {
        if (b->events[i].revision >= b->next_revision + 1 ||
            (i > 0 && b->events[i].revision < b->events[i - 1].revision)) {
            rv = RZ_EMALFORMED;
        }
    }
    if (rv != 0) {
        rz_client_batch_free(b);
        return rv;
    }
    *out = b;
    return 0;
}
