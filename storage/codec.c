/* storage codecs: names of the enumerations, the status transition table,
 * the command encoders, results, and the stored case and event records.
 * Byte layouts are documented in docs/storage.md. */
#include "internal.h"

#include <math.h>
#include <string.h>

/* ---- Names ---------------------------------------------------------------
 */

static const char *const status_names[RZ_STATUS_COUNT] = {
    "NEW", "TRIAGE", "ROUTED", "IN_PROGRESS", "ON_HOLD", "RESOLVED", "CLOSED",
};
static const char *const kind_names[RZ_KIND_COUNT] = {
    "INFORMATION", "INCIDENT", "COMPLAINT", "SUGGESTION"};
static const char *const channel_names[RZ_CHANNEL_COUNT] = {
    "PHONE", "WEB", "MOBILE", "EMAIL", "CHAT", "FAX", "WALK_IN", "INTERNAL"};
static const char *const event_names[RZ_EV_COUNT] = {
    "CREATED", "ROUTED",   "STATUS_CHANGED",   "COMMENT",   "ASSIGNED",
    "MERGED",  "REOPENED", "CITIZEN_NOTIFIED", "PII_ERASED"};

static const char *name_of(const char *const *names, int n, int v)
{
    return v >= 0 && v < n ? names[v] : NULL;
}

static int parse_name(const char *const *names, int n, const char *s, int *out)
{
    for (int i = 0; i < n; i++) {
        if (strcmp(names[i], s) == 0) {
            *out = i;
            return 0;
        }
    }
    return RZ_EINVAL;
}

const char *rz_status_name(int status)
{
    return name_of(status_names, RZ_STATUS_COUNT, status);
}
const char *rz_kind_name(int kind)
{
    return name_of(kind_names, RZ_KIND_COUNT, kind);
}
const char *rz_channel_name(int channel)
{
    return name_of(channel_names, RZ_CHANNEL_COUNT, channel);
}
const char *rz_event_type_name(int type)
{
    return name_of(event_names, RZ_EV_COUNT, type);
}

int rz_status_parse(const char *s, rz_status *out)
{
    int v = 0;
    int rv = parse_name(status_names, RZ_STATUS_COUNT, s, &v);
    if (rv == 0) {
        *out = (rz_status)v;
    }
    return rv;
}
int rz_kind_parse(const char *s, rz_kind *out)
{
    int v = 0;
    int rv = parse_name(kind_names, RZ_KIND_COUNT, s, &v);
    if (rv == 0) {
        *out = (rz_kind)v;
    }
    return rv;
}
int rz_channel_parse(const char *s, rz_channel *out)
{
    int v = 0;
    int rv = parse_name(channel_names, RZ_CHANNEL_COUNT, s, &v);
    if (rv == 0) {
        *out = (rz_channel)v;
    }
    return rv;
}

/* ---- The status lifecycle (DESIGN.md §2) ---------------------------------
 *
 * moves[from][to] holds the commands that may make the move. ROUTED is
 * entered only by routing (a unit must be named), and a CLOSED case comes
 * back only by reopening, so that both leave a distinct event. */

#define S_ RZ_MOVE_STATUS
#define R_ RZ_MOVE_ROUTE
#define O_ RZ_MOVE_REOPEN
static const uint8_t moves[RZ_STATUS_COUNT][RZ_STATUS_COUNT] = {
    /*               NEW TRIAGE ROUTED IN_PROG ON_HOLD RESOLVED CLOSED */
    [RZ_STATUS_NEW] = {0, S_, R_, 0, 0, 0, S_},
    [RZ_STATUS_TRIAGE] = {0, 0, R_, 0, 0, 0, S_},
    [RZ_STATUS_ROUTED] = {0, S_, R_, S_, 0, 0, S_},
    [RZ_STATUS_IN_PROGRESS] = {0, S_, 0, 0, S_, S_, 0},
    [RZ_STATUS_ON_HOLD] = {0, 0, 0, S_, 0, S_, S_},
    [RZ_STATUS_RESOLVED] = {0, 0, 0, S_, 0, 0, S_},
    [RZ_STATUS_CLOSED] = {0, 0, 0, O_, 0, 0, 0},
};
#undef S_
#undef R_
#undef O_

bool rz_status_move_allowed(int from, int to, rz_move how)
{
    if (from < 0 || from >= RZ_STATUS_COUNT || to < 0 ||
        to >= RZ_STATUS_COUNT) {
        return false;
    }
    return (moves[from][to] & (uint8_t)how) != 0;
}

/* ---- Small helpers -------------------------------------------------------
 */

int rz_storage__code_check(const char *s, size_t len)
{
    if (len == 0) {
        return RZ_EINVAL;
    }
    if (len > RZ_CODE_MAX_BYTES) {
        return RZ_ETOOBIG;
    }
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                  (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
        if (!ok) {
            return RZ_EINVAL;
        }
    }
    return 0;
}

size_t rz_storage__rule_key(uint8_t *k, const char *service,
                            const char *district)
{
    size_t a = strlen(service), b = strlen(district);
    RZ_PRE(a <= RZ_CODE_MAX_BYTES && b <= RZ_CODE_MAX_BYTES);
    memcpy(k, service, a);
    k[a] = 0;
    memcpy(k + a + 1, district, b);
    return a + 1 + b;
}

uint32_t rz_storage__day(uint64_t ms)
{
    return (uint32_t)(ms / 86400000u);
}

/* Year of a day count since 1970-01-01 (the proleptic Gregorian calendar
 * in 400-year eras of 146097 days, with years starting on March 1st so that
 * the leap day ends the year). */
static uint64_t year_of_day(uint64_t days)
{
    uint64_t z = days + 719468u;
    uint64_t era = z / 146097u;
    uint64_t doe = z - era * 146097u;
    uint64_t yoe = (doe - doe / 1460u + doe / 36524u - doe / 146096u) / 365u;
    uint64_t doy = doe - (365u * yoe + yoe / 4u - yoe / 100u);
    uint64_t mp = (5u * doy + 2u) / 153u;
    uint64_t y = yoe + era * 400u;
    return mp >= 10u ? y + 1u : y; /* January and February */
}

void rz_storage__number(uint64_t case_id, uint64_t created_ms, char out[32])
{
    /* By hand rather than snprintf: every case read formats one. */
    uint64_t yy = year_of_day(created_ms / 86400000u) % 100u;
    char digits[20];
    size_t n = 0, k = 0;
    do {
        digits[n++] = (char)('0' + case_id % 10u);
        case_id /= 10u;
    } while (case_id != 0 && n < sizeof(digits));
    while (n > 0) {
        out[k++] = digits[--n];
    }
    out[k++] = '/';
    out[k++] = (char)('0' + yy / 10u);
    out[k++] = (char)('0' + yy % 10u);
    out[k] = 0;
    RZ_POST(k < 32);
}

/* ---- Commands ------------------------------------------------------------
 *
 * Every command is a msgpack array [type, request_id bin(16), at_ms, body]
 * where body is an array whose layout depends on the type. */

static void cmd_head(rz_buf *out, cmd_type type, const uint8_t rid[16],
                     uint64_t at_ms, uint32_t n_body)
{
    static const uint8_t zero[RZ_REQUEST_ID_BYTES];
    rz_mp_put_array(out, 4);
    rz_mp_put_uint(out, (uint64_t)type);
    rz_mp_put_bin(out, rid != NULL ? rid : zero, RZ_REQUEST_ID_BYTES);
    rz_mp_put_uint(out, at_ms);
    rz_mp_put_array(out, n_body);
}

static void put_actor(rz_buf *out, rz_actor a)
{
    rz_mp_put_uint(out, a.role);
    rz_mp_put_uint(out, a.id);
}

int rz_cmd_noop_encode(rz_buf *out, const uint8_t request_id[16],
                       uint64_t at_ms)
{
    RZ_PRE(out != NULL);
    cmd_head(out, CMD_NOOP, request_id, at_ms, 0);
    return out->err;
}

int rz_cmd_create_encode(rz_buf *out, const uint8_t request_id[16],
                         uint64_t at_ms, const rz_case_create *c)
{
    RZ_PRE(out != NULL && c != NULL);
    cmd_head(out, CMD_CREATE, request_id, at_ms, 15);
    rz_mp_put_uint(out, c->kind);
    rz_mp_put_uint(out, c->channel);
    rz_mp_put_uint(out, c->priority);
    rz_mp_put_cstr(out, c->service_code);
    rz_mp_put_cstr(out, c->description);
    rz_mp_put_cstr(out, c->district);
    rz_mp_put_cstr(out, c->street);
    rz_mp_put_cstr(out, c->house_no);
    rz_mp_put_double(out, c->lat);
    rz_mp_put_double(out, c->lon);
    rz_mp_put_bool(out, c->notify);
    rz_mp_put_uint(out, c->reporter_id);
    if (c->reporter == NULL) {
        rz_mp_put_nil(out);
    } else {
        rz_mp_put_array(out, 4);
        rz_mp_put_cstr(out, c->reporter->name);
        rz_mp_put_cstr(out, c->reporter->phone);
        rz_mp_put_cstr(out, c->reporter->email);
        rz_mp_put_cstr(out, c->reporter->address);
    }
    put_actor(out, c->actor);
    return out->err;
}

int rz_cmd_status_encode(rz_buf *out, const uint8_t request_id[16],
                         uint64_t at_ms, uint64_t case_id,
                         uint32_t expected_version, uint8_t to,
                         const char *resolution, rz_actor actor)
{
    RZ_PRE(out != NULL);
    cmd_head(out, CMD_STATUS, request_id, at_ms, 6);
    rz_mp_put_uint(out, case_id);
    rz_mp_put_uint(out, expected_version);
    rz_mp_put_uint(out, to);
    rz_mp_put_cstr(out, resolution);
    put_actor(out, actor);
    return out->err;
}

int rz_cmd_route_encode(rz_buf *out, const uint8_t request_id[16],
                        uint64_t at_ms, uint64_t case_id,
                        uint32_t expected_version, const char *unit_id,
                        const char *note, rz_actor actor)
{
    RZ_PRE(out != NULL);
    cmd_head(out, CMD_ROUTE, request_id, at_ms, 6);
    rz_mp_put_uint(out, case_id);
    rz_mp_put_uint(out, expected_version);
    rz_mp_put_cstr(out, unit_id);
    rz_mp_put_cstr(out, note);
    put_actor(out, actor);
    return out->err;
}

int rz_cmd_reopen_encode(rz_buf *out, const uint8_t request_id[16],
                         uint64_t at_ms, uint64_t case_id,
                         uint32_t expected_version, const char *reason,
                         rz_actor actor)
{
    RZ_PRE(out != NULL);
    cmd_head(out, CMD_REOPEN, request_id, at_ms, 5);
    rz_mp_put_uint(out, case_id);
    rz_mp_put_uint(out, expected_version);
    rz_mp_put_cstr(out, reason);
    put_actor(out, actor);
    return out->err;
}

int rz_cmd_assign_encode(rz_buf *out, const uint8_t request_id[16],
                         uint64_t at_ms, uint64_t case_id,
                         uint32_t expected_version, uint64_t assignee_id,
                         rz_actor actor)
{
    RZ_PRE(out != NULL);
    cmd_head(out, CMD_ASSIGN, request_id, at_ms, 5);
    rz_mp_put_uint(out, case_id);
    rz_mp_put_uint(out, expected_version);
    rz_mp_put_uint(out, assignee_id);
    put_actor(out, actor);
    return out->err;
}

int rz_cmd_comment_encode(rz_buf *out, const uint8_t request_id[16],
                          uint64_t at_ms, uint64_t case_id, bool is_public,
                          const char *text, rz_actor actor)
{
    RZ_PRE(out != NULL);
    cmd_head(out, CMD_COMMENT, request_id, at_ms, 5);
    rz_mp_put_uint(out, case_id);
    rz_mp_put_bool(out, is_public);
    rz_mp_put_cstr(out, text);
    put_actor(out, actor);
    return out->err;
}

int rz_cmd_merge_encode(rz_buf *out, const uint8_t request_id[16],
                        uint64_t at_ms, uint64_t case_id,
                        uint32_t expected_version, uint64_t into_case_id,
                        rz_actor actor)
{
    RZ_PRE(out != NULL);
    cmd_head(out, CMD_MERGE, request_id, at_ms, 5);
    rz_mp_put_uint(out, case_id);
    rz_mp_put_uint(out, expected_version);
    rz_mp_put_uint(out, into_case_id);
    put_actor(out, actor);
    return out->err;
}

int rz_cmd_notify_encode(rz_buf *out, const uint8_t request_id[16],
                         uint64_t at_ms, uint64_t case_id, uint8_t channel,
                         const char *text, rz_actor actor)
{
    RZ_PRE(out != NULL);
    cmd_head(out, CMD_NOTIFY, request_id, at_ms, 5);
    rz_mp_put_uint(out, case_id);
    rz_mp_put_uint(out, channel);
    rz_mp_put_cstr(out, text);
    put_actor(out, actor);
    return out->err;
}

int rz_cmd_erase_reporter_encode(rz_buf *out, const uint8_t request_id[16],
                                 uint64_t at_ms, uint64_t reporter_id,
                                 rz_actor actor)
{
    RZ_PRE(out != NULL);
    cmd_head(out, CMD_ERASE_REPORTER, request_id, at_ms, 3);
    rz_mp_put_uint(out, reporter_id);
    put_actor(out, actor);
    return out->err;
}

int rz_cmd_catalog_encode(rz_buf *out, const uint8_t request_id[16],
                          uint64_t at_ms, const rz_catalog_item *items,
                          size_t n_items)
{
    RZ_PRE(out != NULL && (items != NULL || n_items == 0));
    if (n_items > UINT32_MAX) {
        return RZ_ETOOBIG;
    }
    cmd_head(out, CMD_CATALOG, request_id, at_ms, 1);
    rz_mp_put_array(out, (uint32_t)n_items);
    for (size_t i = 0; i < n_items; i++) {
        const rz_catalog_item *it = &items[i];
        rz_mp_put_array(out, 7);
        rz_mp_put_uint(out, it->type);
        rz_mp_put_cstr(out, it->code);
        rz_mp_put_cstr(out, it->name);
        rz_mp_put_uint(out, it->kind);
        rz_mp_put_uint(out, it->sla_hours);
        rz_mp_put_cstr(out, it->district);
        rz_mp_put_cstr(out, it->unit_id);
    }
    return out->err;
}

/* ---- Results: [code, case_id, version, reporter_id, number] ------------ */

void rz_storage__result_encode(rz_buf *b, const rz_result *r)
{
    rz_mp_put_array(b, 5);
    rz_mp_put_int(b, r->code);
    rz_mp_put_uint(b, r->case_id);
    rz_mp_put_uint(b, r->version);
    rz_mp_put_uint(b, r->reporter_id);
    rz_mp_put_cstr(b, r->number);
}

int rz_result_decode(const void *p, size_t len, rz_result *out)
{
    rz_mp_dec d;
    uint32_t n = 0;
    int64_t code = 0;
    RZ_PRE(out != NULL);
    memset(out, 0, sizeof(*out));
    rz_mp_dec_init(&d, p, len);
    rz_mp_get_array(&d, &n);
    if (d.err != 0 || n != 5) {
        return RZ_EMALFORMED;
    }
    rz_mp_get_i64(&d, &code);
    rz_mp_get_u64(&d, &out->case_id);
    rz_mp_get_u32(&d, &out->version);
    rz_mp_get_u64(&d, &out->reporter_id);
    rz_mp_get_cstr(&d, out->number, sizeof(out->number));
    if (!rz_mp_done(&d) || code > 0 || code <= RZ__ELAST) {
        memset(out, 0, sizeof(*out));
        return RZ_EMALFORMED;
    }
    out->code = (int)code;
    return 0;
}

/* ---- Stored case record --------------------------------------------------
 *
 * [kind, service, channel, description, district, street, house_no, lat,
 *  lon, unit, status, resolution, priority, created_ms, updated_ms, due_ms,
 *  closed_ms, reporter_id, notify, parent_case_id, version, n_events,
 *  assignee_id]  (23 elements; the case id is the key) */

#define CASE_FIELDS 23u

void rz_storage__case_encode(rz_buf *b, const rz_case *c)
{
    rz_mp_put_array(b, CASE_FIELDS);
    rz_mp_put_uint(b, c->kind);
    rz_mp_put_cstr(b, c->service_code);
    rz_mp_put_uint(b, c->channel);
    rz_mp_put_cstr(b, c->description);
    rz_mp_put_cstr(b, c->district);
    rz_mp_put_cstr(b, c->street);
    rz_mp_put_cstr(b, c->house_no);
    rz_mp_put_double(b, c->lat);
    rz_mp_put_double(b, c->lon);
    rz_mp_put_cstr(b, c->unit_id);
    rz_mp_put_uint(b, c->status);
    rz_mp_put_cstr(b, c->resolution);
    rz_mp_put_uint(b, c->priority);
    rz_mp_put_uint(b, c->created_ms);
    rz_mp_put_uint(b, c->updated_ms);
    rz_mp_put_uint(b, c->due_ms);
    rz_mp_put_uint(b, c->closed_ms);
    rz_mp_put_uint(b, c->reporter_id);
    rz_mp_put_bool(b, c->notify);
    rz_mp_put_uint(b, c->parent_case_id);
    rz_mp_put_uint(b, c->version);
    rz_mp_put_uint(b, c->n_events);
    rz_mp_put_uint(b, c->assignee_id);
}

static bool code_ok(const char *s)
{
    return rz_storage__code_check(s, strlen(s)) == 0;
}

int rz_storage__case_decode(const void *p, size_t len, uint64_t case_id,
                            rz_case *c)
{
    rz_mp_dec d;
    uint32_t n = 0;
    rz_mp_dec_init(&d, p, len);
    rz_mp_get_array(&d, &n);
    if (d.err != 0 || n != CASE_FIELDS) {
        return RZ_ECORRUPT;
    }
    c->case_id = case_id;
    rz_mp_get_u8(&d, &c->kind);
    rz_mp_get_cstr(&d, c->service_code, sizeof(c->service_code));
    rz_mp_get_u8(&d, &c->channel);
    rz_mp_get_cstr(&d, c->description, sizeof(c->description));
    rz_mp_get_cstr(&d, c->district, sizeof(c->district));
    rz_mp_get_cstr(&d, c->street, sizeof(c->street));
    rz_mp_get_cstr(&d, c->house_no, sizeof(c->house_no));
    rz_mp_get_double(&d, &c->lat);
    rz_mp_get_double(&d, &c->lon);
    rz_mp_get_cstr(&d, c->unit_id, sizeof(c->unit_id));
    rz_mp_get_u8(&d, &c->status);
    rz_mp_get_cstr(&d, c->resolution, sizeof(c->resolution));
    rz_mp_get_u8(&d, &c->priority);
    rz_mp_get_u64(&d, &c->created_ms);
    rz_mp_get_u64(&d, &c->updated_ms);
    rz_mp_get_u64(&d, &c->due_ms);
    rz_mp_get_u64(&d, &c->closed_ms);
    rz_mp_get_u64(&d, &c->reporter_id);
    rz_mp_get_bool(&d, &c->notify);
    rz_mp_get_u64(&d, &c->parent_case_id);
    rz_mp_get_u32(&d, &c->version);
    rz_mp_get_u32(&d, &c->n_events);
    rz_mp_get_u64(&d, &c->assignee_id);
    if (!rz_mp_done(&d) || c->kind >= RZ_KIND_COUNT ||
        c->channel >= RZ_CHANNEL_COUNT || c->status >= RZ_STATUS_COUNT ||
        c->priority > 3 || c->version == 0 || c->n_events == 0 ||
        c->n_events > RZ_CASE_EVENTS_MAX || !code_ok(c->service_code) ||
        !code_ok(c->district) ||
        (c->unit_id[0] != '\0' && !code_ok(c->unit_id)) || !isfinite(c->lat) ||
        !isfinite(c->lon) || c->updated_ms < c->created_ms ||
        c->parent_case_id == case_id) {
        return RZ_ECORRUPT;
    }
    rz_storage__number(case_id, c->created_ms, c->number);
    return 0;
}

/* ---- Stored event record -------------------------------------------------
 *
 * [type, at_ms, revision, actor_role, actor_id, status_from, status_to,
 *  unit_from, unit_to, other_id, channel, is_public, text] (13 elements;
 * the key holds case id and seq). */

#define EVENT_FIELDS 13u

void rz_storage__event_encode(rz_buf *b, const rz_event *e)
{
    rz_mp_put_array(b, EVENT_FIELDS);
    rz_mp_put_uint(b, e->type);
    rz_mp_put_uint(b, e->at_ms);
    rz_mp_put_uint(b, e->revision);
    rz_mp_put_uint(b, e->actor.role);
    rz_mp_put_uint(b, e->actor.id);
    rz_mp_put_uint(b, e->status_from);
    rz_mp_put_uint(b, e->status_to);
    rz_mp_put_cstr(b, e->unit_from);
    rz_mp_put_cstr(b, e->unit_to);
    rz_mp_put_uint(b, e->other_id);
    rz_mp_put_uint(b, e->channel);
    rz_mp_put_bool(b, e->is_public);
    rz_mp_put_cstr(b, e->text);
}

int rz_storage__event_decode(const void *p, size_t len, rz_event *e)
{
    rz_mp_dec d;
    uint32_t n = 0;
    rz_mp_dec_init(&d, p, len);
    rz_mp_get_array(&d, &n);
    if (d.err != 0 || n != EVENT_FIELDS) {
        return RZ_ECORRUPT;
    }
    rz_mp_get_u8(&d, &e->type);
    rz_mp_get_u64(&d, &e->at_ms);
    rz_mp_get_u64(&d, &e->revision);
    rz_mp_get_u8(&d, &e->actor.role);
    rz_mp_get_u64(&d, &e->actor.id);
    rz_mp_get_u8(&d, &e->status_from);
    rz_mp_get_u8(&d, &e->status_to);
    rz_mp_get_cstr(&d, e->unit_from, sizeof(e->unit_from));
    rz_mp_get_cstr(&d, e->unit_to, sizeof(e->unit_to));
    rz_mp_get_u64(&d, &e->other_id);
    rz_mp_get_u8(&d, &e->channel);
    rz_mp_get_bool(&d, &e->is_public);
    rz_mp_get_cstr(&d, e->text, sizeof(e->text));
    if (!rz_mp_done(&d) || e->type >= RZ_EV_COUNT ||
        e->actor.role >= RZ_ACTOR_COUNT || e->status_from >= RZ_STATUS_COUNT ||
        e->status_to >= RZ_STATUS_COUNT || e->channel >= RZ_CHANNEL_COUNT ||
        e->revision == 0) {
        return RZ_ECORRUPT;
    }
    return 0;
}

/* ---- Index and stats keys ------------------------------------------------
 *
 * Index keys end with the bitwise inverse of the case id (big-endian), so a
 * forward scan of one prefix lists the newest case first. Codes never hold
 * a 0x00 byte, which therefore ends a code inside a key. */

static void key_u8(rz_key *k, uint8_t v)
{
    RZ_ASSERT(k->len < IDX_KEY_MAX);
    k->b[k->len++] = v;
}

static void key_code(rz_key *k, const char *s)
{
    size_t n = strlen(s);
    RZ_ASSERT(n <= RZ_CODE_MAX_BYTES && k->len + n + 1 <= IDX_KEY_MAX);
    memcpy(k->b + k->len, s, n);
    k->len = (uint8_t)(k->len + n);
    key_u8(k, 0);
}

static void key_u64(rz_key *k, uint64_t v)
{
    RZ_ASSERT(k->len + 8u <= IDX_KEY_MAX);
    rz_put_be64(k->b + k->len, v);
    k->len = (uint8_t)(k->len + 8u);
}

size_t rz_storage__case_index_keys(const rz_case *c, rz_key *out)
{
    size_t n = 0;
    uint64_t inv = ~c->case_id;
    memset(out, 0, sizeof(*out) * CASE_KEYS_MAX);
    key_u8(&out[n], 's');
    key_u8(&out[n], c->status);
    key_u64(&out[n++], inv);
    key_u8(&out[n], 'c');
    key_u8(&out[n], c->channel);
    key_u64(&out[n++], inv);
    key_u8(&out[n], 'd');
    key_code(&out[n], c->district);
    key_u64(&out[n++], inv);
    key_u8(&out[n], 'D');
    key_code(&out[n], c->district);
    key_u8(&out[n], c->status);
    key_u64(&out[n++], inv);
    key_u8(&out[n], 'u');
    key_code(&out[n], c->unit_id);
    key_u64(&out[n++], inv);
    key_u8(&out[n], 'U');
    key_code(&out[n], c->unit_id);
    key_u8(&out[n], c->status);
    key_u64(&out[n++], inv);
    key_u8(&out[n], 'v');
    key_code(&out[n], c->service_code);
    key_u64(&out[n++], inv);
    key_u8(&out[n], 'V');
    key_code(&out[n], c->service_code);
    key_u8(&out[n], c->status);
    key_u64(&out[n++], inv);
    if (c->reporter_id != 0) {
        key_u8(&out[n], 'r');
        key_u64(&out[n], c->reporter_id);
        key_u64(&out[n++], inv);
    }
    RZ_POST(n <= CASE_KEYS_MAX);
    return n;
}

void rz_storage__stat_key(rz_key *k, int dim, const char *s, uint64_t num)
{
    memset(k, 0, sizeof(*k));
    key_u8(k, (uint8_t)dim);
    if (s != NULL) {
        key_code(k, s);
    } else {
        key_u64(k, num);
    }
}

size_t rz_storage__case_stat_keys(const rz_case *c, rz_key *out)
{
    size_t n = 0;
    rz_storage__stat_key(&out[n++], RZ_STAT_STATUS, NULL, c->status);
    rz_storage__stat_key(&out[n++], RZ_STAT_DISTRICT, c->district, 0);
    rz_storage__stat_key(&out[n++], RZ_STAT_UNIT, c->unit_id, 0);
    rz_storage__stat_key(&out[n++], RZ_STAT_SERVICE, c->service_code, 0);
    rz_storage__stat_key(&out[n++], RZ_STAT_CHANNEL, NULL, c->channel);
    if (c->status != RZ_STATUS_RESOLVED && c->status != RZ_STATUS_CLOSED) {
        rz_storage__stat_key(&out[n++], RZ_STAT_OPEN_DISTRICT, c->district, 0);
    }
    RZ_POST(n <= CASE_KEYS_MAX);
    return n;
}
