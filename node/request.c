/* Decoding and validation of client request bodies, the role table, and the
 * reply encoders shared by every handler (docs/protocol.md section 6). */
#include "node/request.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "node/config.h"

/* ---- Types and roles ---------------------------------------------------- */

rz_req_class rz_req_class_of(uint32_t type)
{
    switch (type) {
    case RZ_MSG_PING:
    case RZ_MSG_STATUS:
    case RZ_MSG_CHECKSUM:
    case RZ_MSG_WATCH_CANCEL:
        return RZ_REQ_LOCAL;
    case RZ_MSG_CASE_CREATE:
    case RZ_MSG_CASE_UPDATE:
    case RZ_MSG_REPORTER_ERASE:
    case RZ_MSG_CATALOG_UPSERT:
        return RZ_REQ_WRITE;
    case RZ_MSG_CASE_GET:
    case RZ_MSG_CASE_LIST:
    case RZ_MSG_REPORTER_GET:
    case RZ_MSG_CATALOG_GET:
    case RZ_MSG_STATS:
        return RZ_REQ_READ;
    case RZ_MSG_WATCH:
        return RZ_REQ_WATCH;
    case RZ_MSG_MEMBER_ADD:
    case RZ_MSG_MEMBER_PROMOTE:
    case RZ_MSG_MEMBER_REMOVE:
    case RZ_MSG_LEADER_TRANSFER:
        return RZ_REQ_ADMIN;
    default:
        return RZ_REQ_UNKNOWN;
    }
}

const char *rz_req_type_name(uint32_t type)
{
    switch (type) {
    case RZ_MSG_PING:
        return "ping";
    case RZ_MSG_STATUS:
        return "status";
    case RZ_MSG_CASE_CREATE:
        return "case_create";
    case RZ_MSG_CASE_GET:
        return "case_get";
    case RZ_MSG_CASE_LIST:
        return "case_list";
    case RZ_MSG_CASE_UPDATE:
        return "case_update";
    case RZ_MSG_REPORTER_GET:
        return "reporter_get";
    case RZ_MSG_REPORTER_ERASE:
        return "reporter_erase";
    case RZ_MSG_CATALOG_GET:
        return "catalog_get";
    case RZ_MSG_CATALOG_UPSERT:
        return "catalog_upsert";
    case RZ_MSG_STATS:
        return "stats";
    case RZ_MSG_WATCH:
        return "watch";
    case RZ_MSG_WATCH_CANCEL:
        return "watch_cancel";
    case RZ_MSG_MEMBER_ADD:
        return "member_add";
    case RZ_MSG_MEMBER_PROMOTE:
        return "member_promote";
    case RZ_MSG_MEMBER_REMOVE:
        return "member_remove";
    case RZ_MSG_LEADER_TRANSFER:
        return "leader_transfer";
    case RZ_MSG_CHECKSUM:
        return "checksum";
    default:
        return "unknown";
    }
}

#define R_PORTAL RZ_ROLE_BIT(RZ_ROLE_PORTAL)
#define R_AGENT RZ_ROLE_BIT(RZ_ROLE_AGENT)
#define R_AUDITOR RZ_ROLE_BIT(RZ_ROLE_AUDITOR)
#define R_OPERATOR RZ_ROLE_BIT(RZ_ROLE_OPERATOR)
#define R_ALL (R_PORTAL | R_AGENT | R_AUDITOR | R_OPERATOR)

bool rz_req_allowed(const rz_req *req)
{
    uint32_t mask;
    switch (req->type) {
    case RZ_MSG_PING:
    case RZ_MSG_STATUS:
    case RZ_MSG_CATALOG_GET:
    case RZ_MSG_STATS:
    case RZ_MSG_CASE_GET:
    case RZ_MSG_CASE_LIST:
    case RZ_MSG_WATCH:
    case RZ_MSG_WATCH_CANCEL:
        mask = R_ALL;
        break;
    case RZ_MSG_CASE_CREATE:
        mask = R_PORTAL | R_AGENT | R_OPERATOR;
        break;
    case RZ_MSG_CASE_UPDATE:
        mask = req->op == RZ_OP_COMMENT && req->public_comment
                   ? (R_PORTAL | R_AGENT | R_OPERATOR)
                   : (R_AGENT | R_OPERATOR);
        break;
    case RZ_MSG_REPORTER_GET:
        mask = R_AGENT | R_OPERATOR;
        break;
    case RZ_MSG_CHECKSUM:
        mask = R_AUDITOR | R_OPERATOR;
        break;
    case RZ_MSG_REPORTER_ERASE:
    case RZ_MSG_CATALOG_UPSERT:
    case RZ_MSG_MEMBER_ADD:
    case RZ_MSG_MEMBER_PROMOTE:
    case RZ_MSG_MEMBER_REMOVE:
    case RZ_MSG_LEADER_TRANSFER:
        mask = R_OPERATOR;
        break;
    default:
        return false;
    }
    return req->role >= RZ_ROLE_MIN && req->role <= RZ_ROLE_MAX &&
           (mask & RZ_ROLE_BIT(req->role)) != 0;
}

uint8_t rz_req_actor_role(int role)
{
    switch (role) {
    case RZ_ROLE_AGENT:
        return RZ_ACTOR_AGENT;
    case RZ_ROLE_PORTAL:
        return RZ_ACTOR_PORTAL;
    case RZ_ROLE_OPERATOR:
        return RZ_ACTOR_OPERATOR;
    default:
        return RZ_ACTOR_SYSTEM;
    }
}

/* ---- Field readers -------------------------------------------------------
 * Each reads the value of one key: wrong type or range -> RZ_EINVAL with
 * the key named. The frame was validated by the envelope decoder, so the
 * structure is sound; only types and ranges are checked here. */

typedef struct field_ctx
{
    rz_mp_dec *d;
    char *errmsg;
    const char *key; /* NUL-terminated copy of the current key */
} field_ctx;

static int bad(field_ctx *f, const char *why)
{
    rz_errmsg_set(f->errmsg, "key \"%s\": %s", f->key, why);
    return RZ_EINVAL;
}

static int get_uint(field_ctx *f, uint64_t *out, uint64_t lo, uint64_t hi)
{
    uint64_t v;
    if (rz_mp_peek(f->d) != RZ_MP_UINT) {
        if (rz_mp_peek(f->d) == RZ_MP_INT) {
            return bad(f, "must not be negative");
        }
        return bad(f, "must be an integer");
    }
    if (rz_mp_get_u64(f->d, &v) != 0) {
        return bad(f, "must be an integer");
    }
    if (v < lo || v > hi) {
        rz_errmsg_set(f->errmsg, "key \"%s\": %llu is not in %llu..%llu",
                      f->key, (unsigned long long)v, (unsigned long long)lo,
                      (unsigned long long)hi);
        return RZ_EINVAL;
    }
    *out = v;
    return 0;
}

static int get_u8(field_ctx *f, uint8_t *out, uint8_t lo, uint8_t hi)
{
    uint64_t v;
    int rv = get_uint(f, &v, lo, hi);
    if (rv == 0) {
        *out = (uint8_t)v;
    }
    return rv;
}

static int get_bool(field_ctx *f, bool *out)
{
    if (rz_mp_peek(f->d) != RZ_MP_BOOL || rz_mp_get_bool(f->d, out) != 0) {
        return bad(f, "must be true or false");
    }
    return 0;
}

static int get_f64(field_ctx *f, double *out, double lo, double hi)
{
    rz_mp_type t = rz_mp_peek(f->d);
    double v;
    if (t == RZ_MP_FLOAT) {
        if (rz_mp_get_double(f->d, &v) != 0) {
            return bad(f, "must be a number");
        }
    } else if (t == RZ_MP_UINT || t == RZ_MP_INT) {
        int64_t i;
        if (rz_mp_get_i64(f->d, &i) != 0) {
            return bad(f, "must be a number");
        }
        v = (double)i;
    } else {
        return bad(f, "must be a number");
    }
    if (!isfinite(v) || v < lo || v > hi) {
        return bad(f, "is out of range");
    }
    *out = v;
    return 0;
}

/* A str of at most max_bytes, valid UTF-8, without NUL, copied into
 * out[0..max_bytes]. */
static int get_text(field_ctx *f, char *out, uint32_t max_bytes)
{
    const char *s;
    uint32_t len;
    if (rz_mp_peek(f->d) != RZ_MP_STR ||
        rz_mp_get_str(f->d, &s, &len, UINT32_MAX) != 0) {
        return bad(f, "must be a string");
    }
    if (len > max_bytes) {
        rz_errmsg_set(f->errmsg, "key \"%s\": longer than %u bytes", f->key,
                      max_bytes);
        return RZ_EINVAL;
    }
    if (!rz_utf8_valid(s, len)) {
        rz_errmsg_set(f->errmsg, "key \"%s\": not valid UTF-8", f->key);
        return RZ_EUTF8;
    }
    if (memchr(s, '\0', len) != NULL) {
        return bad(f, "must not contain NUL characters");
    }
    memcpy(out, s, len);
    out[len] = '\0';
    return 0;
}

/* Reads the next map key into key[0..size); keys that are not strings are
 * refused (docs/protocol.md 6.1: maps with string keys). */
static int next_key(field_ctx *f, char *key, size_t size)
{
    const char *s;
    uint32_t len;
    if (rz_mp_peek(f->d) != RZ_MP_STR ||
        rz_mp_get_str(f->d, &s, &len, UINT32_MAX) != 0) {
        rz_errmsg_set(f->errmsg, "body keys must be strings");
        return RZ_EINVAL;
    }
    if (len >= size) {
        /* Longer than any key we know: ignored like any unknown key. */
        len = 0;
    }
    memcpy(key, s, len);
    key[len] = '\0';
    f->key = key;
    return 0;
}

/* ---- Body decoding ------------------------------------------------------ */

typedef struct create_fields
{
    rz_case_create c;
    char service[RZ_CODE_MAX_BYTES + 1];
    char district[RZ_CODE_MAX_BYTES + 1];
    char street[RZ_NAME_MAX_BYTES + 1];
    char house_no[RZ_HOUSE_NO_MAX_BYTES + 1];
    char description[RZ_DESCRIPTION_MAX_BYTES + 1];
    bool has_description;
    bool has_reporter;
    rz_reporter rep;
    char pii[4][RZ_PII_FIELD_MAX_BYTES + 1];
} create_fields;

typedef struct update_fields
{
    char op[16];
    uint64_t expected_version;
    uint64_t status;
    bool has_status;
    char text[RZ_COMMENT_MAX_BYTES + 1]; /* resolution, note, reason, text */
    char unit_id[RZ_CODE_MAX_BYTES + 1];
    bool has_unit;
    bool has_text;
    uint64_t assignee_id;
    bool has_assignee;
    uint64_t into_case_id;
    uint8_t channel;
    bool has_channel;
} update_fields;

typedef struct catalog_fields
{
    char code[RZ_CODE_MAX_BYTES + 1];
    char name[RZ_NAME_MAX_BYTES + 1];
    char district[RZ_CODE_MAX_BYTES + 1];
    char unit_id[RZ_CODE_MAX_BYTES + 1];
} catalog_fields;

/* The scratch of one decode: big (a create holds a 4 KB description, a
 * catalog upsert 512 items), so it lives on the heap. */
typedef struct decode_scratch
{
    create_fields cr;
    update_fields up;
    rz_catalog_item items[RZ_CATALOG_UPSERT_MAX_ITEMS];
    catalog_fields cat[RZ_CATALOG_UPSERT_MAX_ITEMS];
    size_t n_items;
    bool has_items;
} decode_scratch;

static int decode_reporter(field_ctx *f, create_fields *cr)
{
    static const char *const names[4] = {"name", "phone", "email", "address"};
    uint32_t n;
    char key[32];
    int rv;
    if (rz_mp_peek(f->d) != RZ_MP_MAP || rz_mp_get_map(f->d, &n) != 0) {
        return bad(f, "must be a map");
    }
    for (uint32_t i = 0; i < n; i++) {
        size_t k;
        rv = next_key(f, key, sizeof(key));
        if (rv != 0) {
            return rv;
        }
        for (k = 0; k < 4; k++) {
            if (strcmp(key, names[k]) == 0) {
                break;
            }
        }
        if (k == 4) {
            rv = rz_mp_skip(f->d);
        } else {
            rv = get_text(f, cr->pii[k], RZ_PII_FIELD_MAX_BYTES);
        }
        if (rv != 0) {
            return rv;
        }
    }
    cr->rep.name = cr->pii[0];
    cr->rep.phone = cr->pii[1];
    cr->rep.email = cr->pii[2];
    cr->rep.address = cr->pii[3];
    cr->has_reporter = true;
    return 0;
}

static int decode_catalog_item(field_ctx *f, rz_catalog_item *it,
                               catalog_fields *cf)
{
    uint32_t n;
    char key[32];
    bool has_type = false;
    int rv = 0;
    if (rz_mp_peek(f->d) != RZ_MP_MAP || rz_mp_get_map(f->d, &n) != 0) {
        f->key = "items";
        return bad(f, "each item must be a map");
    }
    memset(it, 0, sizeof(*it));
    for (uint32_t i = 0; i < n && rv == 0; i++) {
        rv = next_key(f, key, sizeof(key));
        if (rv != 0) {
            break;
        }
        if (strcmp(key, "type") == 0) {
            rv = get_u8(f, &it->type, 0, RZ_CAT_COUNT - 1);
            has_type = true;
        } else if (strcmp(key, "code") == 0) {
            rv = get_text(f, cf->code, RZ_CODE_MAX_BYTES);
        } else if (strcmp(key, "name") == 0) {
            rv = get_text(f, cf->name, RZ_NAME_MAX_BYTES);
        } else if (strcmp(key, "kind") == 0) {
            rv = get_u8(f, &it->kind, 0, RZ_KIND_COUNT - 1);
        } else if (strcmp(key, "sla_hours") == 0) {
            uint64_t v;
            rv = get_uint(f, &v, 0, 24u * 365u * 10u);
            it->sla_hours = (uint32_t)v;
        } else if (strcmp(key, "district") == 0) {
            rv = get_text(f, cf->district, RZ_CODE_MAX_BYTES);
        } else if (strcmp(key, "unit_id") == 0) {
            rv = get_text(f, cf->unit_id, RZ_CODE_MAX_BYTES);
        } else {
            rv = rz_mp_skip(f->d);
        }
    }
    if (rv != 0) {
        return rv;
    }
    f->key = "items";
    if (!has_type) {
        return bad(f, "every item needs a \"type\"");
    }
    if (cf->code[0] == '\0') {
        return bad(f, "every item needs a \"code\"");
    }
    it->code = cf->code;
    it->name = it->type == RZ_CAT_RULE ? NULL : cf->name;
    it->district = cf->district;
    it->unit_id = cf->unit_id;
    if (it->type == RZ_CAT_RULE &&
        (cf->district[0] == '\0' || cf->unit_id[0] == '\0')) {
        return bad(f, "a rule needs \"district\" and \"unit_id\"");
    }
    if (it->type != RZ_CAT_RULE && cf->name[0] == '\0') {
        return bad(f, "districts, units and services need a \"name\"");
    }
    return 0;
}

static int decode_items(field_ctx *f, decode_scratch *s)
{
    uint32_t n;
    int rv;
    if (rz_mp_peek(f->d) != RZ_MP_ARRAY || rz_mp_get_array(f->d, &n) != 0) {
        return bad(f, "must be an array");
    }
    if (n == 0 || n > RZ_CATALOG_UPSERT_MAX_ITEMS) {
        rz_errmsg_set(f->errmsg, "key \"items\": needs 1..%u items",
                      RZ_CATALOG_UPSERT_MAX_ITEMS);
        return RZ_EINVAL;
    }
    for (uint32_t i = 0; i < n; i++) {
        rv = decode_catalog_item(f, &s->items[i], &s->cat[i]);
        if (rv != 0) {
            return rv;
        }
    }
    s->n_items = n;
    s->has_items = true;
    return 0;
}

/* One key of any request body. Unknown keys are skipped. */
static int decode_field(field_ctx *f, rz_req *r, decode_scratch *s)
{
    const char *k = f->key;
    create_fields *cr = &s->cr;
    update_fields *up = &s->up;
    uint64_t v;
    int rv;

    /* Keys common to every request. */
    if (strcmp(k, "timeout_ms") == 0) {
        return get_uint(f, &r->timeout_ms, 1, 600000);
    }
    if (strcmp(k, "max_stale_ms") == 0) {
        return get_uint(f, &r->max_stale_ms, 0, UINT32_MAX);
    }
    if (strcmp(k, "actor_id") == 0) {
        return get_uint(f, &r->actor_id, 0, INT64_MAX);
    }
    switch (r->type) {
    case RZ_MSG_CASE_CREATE:
        if (strcmp(k, "kind") == 0) {
            return get_u8(f, &cr->c.kind, 0, RZ_KIND_COUNT - 1);
        }
        if (strcmp(k, "channel") == 0) {
            return get_u8(f, &cr->c.channel, 0, RZ_CHANNEL_COUNT - 1);
        }
        if (strcmp(k, "priority") == 0) {
            return get_u8(f, &cr->c.priority, 0, 3);
        }
        if (strcmp(k, "service") == 0) {
            return get_text(f, cr->service, RZ_CODE_MAX_BYTES);
        }
        if (strcmp(k, "description") == 0) {
            cr->has_description = true;
            return get_text(f, cr->description, RZ_DESCRIPTION_MAX_BYTES);
        }
        if (strcmp(k, "district") == 0) {
            return get_text(f, cr->district, RZ_CODE_MAX_BYTES);
        }
        if (strcmp(k, "street") == 0) {
            return get_text(f, cr->street, RZ_NAME_MAX_BYTES);
        }
        if (strcmp(k, "house_no") == 0) {
            return get_text(f, cr->house_no, RZ_HOUSE_NO_MAX_BYTES);
        }
        if (strcmp(k, "lat") == 0) {
            return get_f64(f, &cr->c.lat, -90.0, 90.0);
        }
        if (strcmp(k, "lon") == 0) {
            return get_f64(f, &cr->c.lon, -180.0, 180.0);
        }
        if (strcmp(k, "notify") == 0) {
            return get_bool(f, &cr->c.notify);
        }
        if (strcmp(k, "reporter_id") == 0) {
            return get_uint(f, &cr->c.reporter_id, 0, INT64_MAX);
        }
        if (strcmp(k, "reporter") == 0) {
            return decode_reporter(f, cr);
        }
        break;
    case RZ_MSG_CASE_UPDATE:
        if (strcmp(k, "op") == 0) {
            return get_text(f, up->op, sizeof(up->op) - 1);
        }
        if (strcmp(k, "case_id") == 0) {
            return get_uint(f, &r->case_id, 1, INT64_MAX);
        }
        if (strcmp(k, "expected_version") == 0) {
            return get_uint(f, &up->expected_version, 0, UINT32_MAX);
        }
        if (strcmp(k, "status") == 0) {
            up->has_status = true;
            return get_uint(f, &up->status, 0, RZ_STATUS_COUNT - 1);
        }
        if (strcmp(k, "resolution") == 0 || strcmp(k, "note") == 0 ||
            strcmp(k, "reason") == 0 || strcmp(k, "text") == 0) {
            up->has_text = true;
            return get_text(f, up->text, RZ_COMMENT_MAX_BYTES);
        }
        if (strcmp(k, "unit_id") == 0) {
            up->has_unit = true;
            return get_text(f, up->unit_id, RZ_CODE_MAX_BYTES);
        }
        if (strcmp(k, "assignee_id") == 0) {
            up->has_assignee = true;
            return get_uint(f, &up->assignee_id, 0, INT64_MAX);
        }
        if (strcmp(k, "public") == 0) {
            return get_bool(f, &r->public_comment);
        }
        if (strcmp(k, "into_case_id") == 0) {
            return get_uint(f, &up->into_case_id, 1, INT64_MAX);
        }
        if (strcmp(k, "channel") == 0) {
            up->has_channel = true;
            return get_u8(f, &up->channel, 0, RZ_CHANNEL_COUNT - 1);
        }
        break;
    case RZ_MSG_CASE_GET:
        if (strcmp(k, "case_id") == 0) {
            return get_uint(f, &r->case_id, 1, INT64_MAX);
        }
        if (strcmp(k, "history") == 0) {
            return get_bool(f, &r->history);
        }
        break;
    case RZ_MSG_CASE_LIST:
        if (strcmp(k, "status") == 0) {
            r->list.filters |= RZ_FILTER_STATUS;
            return get_u8(f, &r->list.status, 0, RZ_STATUS_COUNT - 1);
        }
        if (strcmp(k, "district") == 0) {
            r->list.filters |= RZ_FILTER_DISTRICT;
            return get_text(f, r->list.district, RZ_CODE_MAX_BYTES);
        }
        if (strcmp(k, "unit_id") == 0) {
            r->list.filters |= RZ_FILTER_UNIT;
            return get_text(f, r->list.unit_id, RZ_CODE_MAX_BYTES);
        }
        if (strcmp(k, "service") == 0) {
            r->list.filters |= RZ_FILTER_SERVICE;
            return get_text(f, r->list.service_code, RZ_CODE_MAX_BYTES);
        }
        if (strcmp(k, "channel") == 0) {
            r->list.filters |= RZ_FILTER_CHANNEL;
            return get_u8(f, &r->list.channel, 0, RZ_CHANNEL_COUNT - 1);
        }
        if (strcmp(k, "created_from_ms") == 0) {
            r->list.filters |= RZ_FILTER_CREATED;
            return get_uint(f, &r->list.created_from_ms, 0, UINT64_MAX);
        }
        if (strcmp(k, "created_to_ms") == 0) {
            r->list.filters |= RZ_FILTER_CREATED;
            return get_uint(f, &r->list.created_to_ms, 0, UINT64_MAX);
        }
        if (strcmp(k, "reporter_id") == 0) {
            r->list.filters |= RZ_FILTER_REPORTER;
            return get_uint(f, &r->list.reporter_id, 0, INT64_MAX);
        }
        if (strcmp(k, "cursor") == 0) {
            return get_uint(f, &r->list.cursor, 0, UINT64_MAX);
        }
        if (strcmp(k, "limit") == 0) {
            rv = get_uint(f, &v, 1, RZ_LIST_PAGE_MAX);
            r->list.limit = (uint32_t)v;
            return rv;
        }
        break;
    case RZ_MSG_REPORTER_GET:
    case RZ_MSG_REPORTER_ERASE:
        if (strcmp(k, "reporter_id") == 0) {
            return get_uint(f, &r->reporter_id, 1, INT64_MAX);
        }
        break;
    case RZ_MSG_CATALOG_UPSERT:
        if (strcmp(k, "items") == 0) {
            return decode_items(f, s);
        }
        break;
    case RZ_MSG_WATCH:
        if (strcmp(k, "from_revision") == 0) {
            return get_uint(f, &r->from.revision, 0, UINT64_MAX);
        }
        if (strcmp(k, "from_sub") == 0) {
            rv = get_uint(f, &v, 0, UINT32_MAX);
            r->from.sub = (uint32_t)v;
            return rv;
        }
        break;
    case RZ_MSG_CHECKSUM:
        if (strcmp(k, "scan") == 0) {
            return get_bool(f, &r->scan);
        }
        break;
    case RZ_MSG_MEMBER_ADD:
        if (strcmp(k, "address") == 0) {
            return get_text(f, r->address, RZ_ADDRESS_MAX_BYTES);
        }
        /* fall through */
    case RZ_MSG_MEMBER_PROMOTE:
    case RZ_MSG_MEMBER_REMOVE:
    case RZ_MSG_LEADER_TRANSFER:
        if (strcmp(k, "id") == 0) {
            return get_uint(f, &r->member_id,
                            r->type == RZ_MSG_LEADER_TRANSFER ? 0 : 1,
                            INT64_MAX);
        }
        if (r->type == RZ_MSG_MEMBER_REMOVE && strcmp(k, "force") == 0) {
            return get_bool(f, &r->force);
        }
        break;
    default:
        break;
    }
    return rz_mp_skip(f->d) == 0 ? 0 : RZ_EMALFORMED;
}

static int missing(char *errmsg, const char *key)
{
    rz_errmsg_set(errmsg, "key \"%s\" is required", key);
    return RZ_EINVAL;
}

static const struct
{
    const char *name;
    rz_update_op op;
} update_ops[] = {
    {"status", RZ_OP_STATUS},   {"route", RZ_OP_ROUTE},
    {"reopen", RZ_OP_REOPEN},   {"assign", RZ_OP_ASSIGN},
    {"comment", RZ_OP_COMMENT}, {"merge", RZ_OP_MERGE},
    {"notify", RZ_OP_NOTIFY},
};

/* Checks the keys a CASE_UPDATE op needs and encodes its command. */
static int encode_update(rz_req *r, decode_scratch *s, uint64_t at_ms,
                         rz_actor actor, rz_buf *cmd, char *errmsg)
{
    update_fields *up = &s->up;
    uint32_t ev = (uint32_t)up->expected_version;
    const char *text = up->has_text ? up->text : NULL;
    if (up->op[0] == '\0') {
        return missing(errmsg, "op");
    }
    for (size_t i = 0; i < RZ_ARRAY_LEN(update_ops); i++) {
        if (strcmp(up->op, update_ops[i].name) == 0) {
            r->op = update_ops[i].op;
        }
    }
    if (r->op == RZ_OP_NONE) {
        rz_errmsg_set(errmsg,
                      "key \"op\": '%s' is not status, route, reopen, assign, "
                      "comment, merge or notify",
                      up->op);
        return RZ_EINVAL;
    }
    if (r->case_id == 0) {
        return missing(errmsg, "case_id");
    }
    switch (r->op) {
    case RZ_OP_STATUS:
        if (!up->has_status) {
            return missing(errmsg, "status");
        }
        if (up->status == RZ_STATUS_ROUTED) {
            rz_errmsg_set(errmsg, "key \"status\": ROUTED is reached with op "
                                  "\"route\"");
            return RZ_EINVAL;
        }
        return rz_cmd_status_encode(cmd, r->request_id, at_ms, r->case_id, ev,
                                    (uint8_t)up->status, text, actor);
    case RZ_OP_ROUTE:
        if (!up->has_unit || up->unit_id[0] == '\0') {
            return missing(errmsg, "unit_id");
        }
        return rz_cmd_route_encode(cmd, r->request_id, at_ms, r->case_id, ev,
                                   up->unit_id, text, actor);
    case RZ_OP_REOPEN:
        return rz_cmd_reopen_encode(cmd, r->request_id, at_ms, r->case_id, ev,
                                    text, actor);
    case RZ_OP_ASSIGN:
        if (!up->has_assignee) {
            return missing(errmsg, "assignee_id");
        }
        return rz_cmd_assign_encode(cmd, r->request_id, at_ms, r->case_id, ev,
                                    up->assignee_id, actor);
    case RZ_OP_COMMENT:
        if (!up->has_text || up->text[0] == '\0') {
            return missing(errmsg, "text");
        }
        return rz_cmd_comment_encode(cmd, r->request_id, at_ms, r->case_id,
                                     r->public_comment, up->text, actor);
    case RZ_OP_MERGE:
        if (up->into_case_id == 0) {
            return missing(errmsg, "into_case_id");
        }
        return rz_cmd_merge_encode(cmd, r->request_id, at_ms, r->case_id, ev,
                                   up->into_case_id, actor);
    case RZ_OP_NOTIFY:
        if (!up->has_channel) {
            return missing(errmsg, "channel");
        }
        return rz_cmd_notify_encode(cmd, r->request_id, at_ms, r->case_id,
                                    up->channel, text, actor);
    default:
        RZ_UNREACHABLE();
    }
}

/* Required keys and the command of a write. */
static int finish(rz_req *r, decode_scratch *s, uint64_t at_ms, rz_buf *cmd,
                  char *errmsg)
{
    rz_actor actor = {rz_req_actor_role(r->role), r->actor_id};
    create_fields *cr = &s->cr;
    int rv = 0;
    switch (r->type) {
    case RZ_MSG_CASE_CREATE:
        if (!cr->has_description || cr->description[0] == '\0') {
            return missing(errmsg, "description");
        }
        if (cr->has_reporter && cr->c.reporter_id != 0) {
            rz_errmsg_set(errmsg, "give either \"reporter_id\" or "
                                  "\"reporter\", not both");
            return RZ_EINVAL;
        }
        cr->c.service_code = cr->service[0] != '\0' ? cr->service : "OTHER";
        cr->c.district = cr->district[0] != '\0' ? cr->district : "UNKNOWN";
        cr->c.description = cr->description;
        cr->c.street = cr->street;
        cr->c.house_no = cr->house_no;
        cr->c.reporter = cr->has_reporter ? &cr->rep : NULL;
        cr->c.actor = actor;
        rv = rz_cmd_create_encode(cmd, r->request_id, at_ms, &cr->c);
        break;
    case RZ_MSG_CASE_UPDATE:
        rv = encode_update(r, s, at_ms, actor, cmd, errmsg);
        if (rv != 0 && rv != RZ_ETOOBIG && rv != RZ_ENOMEM) {
            return rv;
        }
        break;
    case RZ_MSG_REPORTER_ERASE:
        if (r->reporter_id == 0) {
            return missing(errmsg, "reporter_id");
        }
        rv = rz_cmd_erase_reporter_encode(cmd, r->request_id, at_ms,
                                          r->reporter_id, actor);
        break;
    case RZ_MSG_CATALOG_UPSERT:
        if (!s->has_items) {
            return missing(errmsg, "items");
        }
        rv = rz_cmd_catalog_encode(cmd, r->request_id, at_ms, s->items,
                                   s->n_items);
        break;
    case RZ_MSG_CASE_GET:
        if (r->case_id == 0) {
            return missing(errmsg, "case_id");
        }
        break;
    case RZ_MSG_REPORTER_GET:
        if (r->reporter_id == 0) {
            return missing(errmsg, "reporter_id");
        }
        break;
    case RZ_MSG_CASE_LIST:
        if ((r->list.filters & RZ_FILTER_CREATED) != 0 &&
            r->list.created_to_ms == 0) {
            r->list.created_to_ms = UINT64_MAX;
        }
        if ((r->list.filters & RZ_FILTER_CREATED) != 0 &&
            r->list.created_from_ms >= r->list.created_to_ms) {
            rz_errmsg_set(errmsg, "\"created_from_ms\" must be below "
                                  "\"created_to_ms\"");
            return RZ_EINVAL;
        }
        break;
    case RZ_MSG_MEMBER_ADD:
        if (r->address[0] == '\0') {
            return missing(errmsg, "address");
        }
        if (rz_config_split_member_address(r->address, NULL, NULL) != 0) {
            rz_errmsg_set(errmsg,
                          "key \"address\": '%s' is not "
                          "PEER_HOST:PORT/CLIENT_HOST:PORT",
                          r->address);
            return RZ_EINVAL;
        }
        /* fall through */
    case RZ_MSG_MEMBER_PROMOTE:
    case RZ_MSG_MEMBER_REMOVE:
        if (r->member_id == 0) {
            return missing(errmsg, "id");
        }
        break;
    default:
        break;
    }
    if (rv == RZ_ETOOBIG) {
        rz_errmsg_set(errmsg, "the command is larger than %u bytes",
                      RZ_COMMAND_MAX_BYTES);
    }
    return rv;
}

int rz_req_decode(const rz_envelope *env, int role, uint64_t at_ms, rz_req *out,
                  rz_buf *cmd, char *errmsg)
{
    decode_scratch *s;
    rz_mp_dec d;
    field_ctx f;
    uint32_t n;
    char key[40];
    int rv = 0;

    RZ_PRE(env != NULL && out != NULL && cmd != NULL);
    memset(out, 0, sizeof(*out));
    out->type = env->type;
    memcpy(out->request_id, env->request_id, RZ_REQUEST_ID_BYTES);
    out->role = role;
    out->history = true;
    out->from.revision = 1;
    errmsg[0] = '\0';
    rz_mp_dec_init(&d, env->body, env->body_len);
    if (rz_mp_peek(&d) != RZ_MP_MAP || rz_mp_get_map(&d, &n) != 0) {
        rz_errmsg_set(errmsg, "the body must be a map");
        return RZ_EMALFORMED;
    }
    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        return RZ_ENOMEM;
    }
    s->cr.c.kind = RZ_KIND_INCIDENT;
    s->cr.c.priority = 1;
    f.d = &d;
    f.errmsg = errmsg;
    f.key = "";
    for (uint32_t i = 0; i < n && rv == 0; i++) {
        rv = next_key(&f, key, sizeof(key));
        if (rv == 0) {
            rv = decode_field(&f, out, s);
        }
    }
    if (rv == 0 && d.err != 0) {
        rz_errmsg_set(errmsg, "the body is not well-formed msgpack");
        rv = RZ_EMALFORMED;
    }
    if (rv == 0) {
        rv = finish(out, s, at_ms, cmd, errmsg);
    }
    free(s);
    return rv;
}

/* ---- Replies ------------------------------------------------------------ */

static void put_kv_str(rz_buf *b, const char *k, const char *v)
{
    rz_mp_put_cstr(b, k);
    rz_mp_put_cstr(b, v);
}

static void put_kv_uint(rz_buf *b, const char *k, uint64_t v)
{
    rz_mp_put_cstr(b, k);
    rz_mp_put_uint(b, v);
}

void rz_reply_error_ex(rz_buf *b, const uint8_t request_id[RZ_REQUEST_ID_BYTES],
                       int code, const char *message, uint64_t leader_id,
                       const char *leader_address, bool has_version,
                       uint32_t version, uint64_t case_id)
{
    uint32_t n = 3;
    bool leader = code == RZ_ENOTLEADER;
    if (leader) {
        n += leader_address != NULL ? 2u : 1u;
    }
    n += has_version ? 1u : 0u;
    n += case_id != 0 ? 1u : 0u;
    rz_mp_put_array(b, 3);
    rz_mp_put_uint(b, RZ_MSG_ERROR);
    rz_mp_put_bin(b, request_id, RZ_REQUEST_ID_BYTES);
    rz_mp_put_map(b, n);
    rz_mp_put_cstr(b, "code");
    rz_mp_put_int(b, code);
    put_kv_str(b, "name", rz_errname(code));
    put_kv_str(b, "message",
               message != NULL && message[0] != '\0' ? message
                                                     : rz_strerror(code));
    if (leader) {
        put_kv_uint(b, "leader_id", leader_id);
        if (leader_address != NULL) {
            put_kv_str(b, "leader_address", leader_address);
        }
    }
    if (has_version) {
        put_kv_uint(b, "version", version);
    }
    if (case_id != 0) {
        put_kv_uint(b, "case_id", case_id);
    }
}

void rz_reply_error(rz_buf *b, const uint8_t request_id[RZ_REQUEST_ID_BYTES],
                    int code, const char *message)
{
    rz_reply_error_ex(b, request_id, code, message, 0, NULL, false, 0, 0);
}

void rz_reply_put_case(rz_buf *b, const rz_case *c, bool redact)
{
    rz_mp_put_map(b, 25);
    put_kv_uint(b, "case_id", c->case_id);
    put_kv_str(b, "number", c->number);
    put_kv_uint(b, "version", c->version);
    put_kv_uint(b, "kind", c->kind);
    put_kv_uint(b, "channel", c->channel);
    put_kv_uint(b, "status", c->status);
    put_kv_uint(b, "priority", c->priority);
    put_kv_str(b, "service", c->service_code);
    put_kv_str(b, "district", c->district);
    put_kv_str(b, "unit_id", c->unit_id);
    put_kv_str(b, "street", c->street);
    put_kv_str(b, "house_no", c->house_no);
    rz_mp_put_cstr(b, "lat");
    rz_mp_put_double(b, c->lat);
    rz_mp_put_cstr(b, "lon");
    rz_mp_put_double(b, c->lon);
    put_kv_str(b, "description", c->description);
    put_kv_str(b, "resolution", c->resolution);
    put_kv_uint(b, "created_ms", c->created_ms);
    put_kv_uint(b, "updated_ms", c->updated_ms);
    put_kv_uint(b, "due_ms", c->due_ms);
    put_kv_uint(b, "closed_ms", c->closed_ms);
    put_kv_uint(b, "reporter_id", redact ? 0 : c->reporter_id);
    put_kv_uint(b, "parent_case_id", c->parent_case_id);
    put_kv_uint(b, "assignee_id", redact ? 0 : c->assignee_id);
    put_kv_uint(b, "n_events", c->n_events);
    rz_mp_put_cstr(b, "notify");
    rz_mp_put_bool(b, c->notify);
}

void rz_reply_put_event(rz_buf *b, const rz_event *e, bool redact)
{
    bool hide =
        redact && (e->type == RZ_EV_ASSIGNED || e->type == RZ_EV_PII_ERASED);
    rz_mp_put_map(b, 15);
    put_kv_uint(b, "case_id", e->case_id);
    put_kv_uint(b, "seq", e->seq);
    put_kv_uint(b, "type", e->type);
    put_kv_uint(b, "revision", e->revision);
    put_kv_uint(b, "at_ms", e->at_ms);
    put_kv_uint(b, "actor_role", e->actor.role);
    put_kv_uint(b, "actor_id", e->actor.id);
    put_kv_uint(b, "status_from", e->status_from);
    put_kv_uint(b, "status_to", e->status_to);
    put_kv_str(b, "unit_from", e->unit_from);
    put_kv_str(b, "unit_to", e->unit_to);
    put_kv_uint(b, "other_id", hide ? 0 : e->other_id);
    put_kv_uint(b, "channel", e->channel);
    rz_mp_put_cstr(b, "public");
    rz_mp_put_bool(b, e->is_public);
    put_kv_str(b, "text", e->text);
}

bool rz_reply_event_visible(const rz_event *e, bool redact)
{
    return !redact || e->type != RZ_EV_COMMENT || e->is_public;
}
