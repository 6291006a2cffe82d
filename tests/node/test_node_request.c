/* Unit tests of ratuszd's request decoding (node/request.c): the role table
 * of docs/protocol.md 6.2, defaults, every kind of refusal (nothing is
 * encoded then), commands equal to what the storage encoders build from the
 * same fields, and the reply encoders (errors, redaction). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "node/request.h"
#include "rzclient.h"

static const uint8_t RID[16] = {1, 2,  3,  4,  5,  6,  7,  8,
                                9, 10, 11, 12, 13, 14, 15, 16};
#define AT_MS 1795000000000ull

/* Builds a body from "key", type, value triples: 's' str, 'u' uint, 'i'
 * int, 'b' bool, 'f' double. */
typedef struct kv
{
    const char *k;
    char t;
    const char *s;
    uint64_t u;
} kv;

static void body_of(rz_buf *b, const kv *pairs, size_t n)
{
    rz_mp_put_map(b, (uint32_t)n);
    for (size_t i = 0; i < n; i++) {
        rz_mp_put_cstr(b, pairs[i].k);
        switch (pairs[i].t) {
        case 's':
            rz_mp_put_cstr(b, pairs[i].s);
            break;
        case 'u':
            rz_mp_put_uint(b, pairs[i].u);
            break;
        case 'i':
            rz_mp_put_int(b, -(int64_t)pairs[i].u);
            break;
        case 'b':
            rz_mp_put_bool(b, pairs[i].u != 0);
            break;
        case 'f':
            rz_mp_put_double(b, (double)pairs[i].u / 2.0);
            break;
        default:
            rz_mp_put_nil(b);
            break;
        }
    }
}

/* Decodes a body given as raw msgpack bytes for `type` and `role`. */
static int decode_raw(uint32_t type, int role, const uint8_t *body, size_t len,
                      rz_req *out, rz_buf *cmd, char *err)
{
    rz_envelope env;
    memset(&env, 0, sizeof(env));
    env.type = type;
    memcpy(env.request_id, RID, 16);
    env.body = body;
    env.body_len = len;
    rz_buf_reset(cmd);
    return rz_req_decode(&env, role, AT_MS, out, cmd, err);
}

static int decode(uint32_t type, int role, const kv *pairs, size_t n,
                  rz_req *out, rz_buf *cmd, char *err)
{
    rz_buf b;
    int rv;
    rz_buf_init(&b, RZ_FRAME_MAX_BYTES);
    body_of(&b, pairs, n);
    rv = decode_raw(type, role, b.data, b.len, out, cmd, err);
    rz_buf_close(&b);
    return rv;
}

static void test_role_table(void **state)
{
    static const struct
    {
        uint32_t type;
        rz_update_op op;
        bool pub;
        /* allowed for portal, agent, auditor, operator */
        bool p, a, au, o;
    } rows[] = {
        {RZ_MSG_PING, 0, false, 1, 1, 1, 1},
        {RZ_MSG_STATUS, 0, false, 1, 1, 1, 1},
        {RZ_MSG_CATALOG_GET, 0, false, 1, 1, 1, 1},
        {RZ_MSG_STATS, 0, false, 1, 1, 1, 1},
        {RZ_MSG_CASE_CREATE, 0, false, 1, 1, 0, 1},
        {RZ_MSG_CASE_GET, 0, false, 1, 1, 1, 1},
        {RZ_MSG_CASE_LIST, 0, false, 1, 1, 1, 1},
        {RZ_MSG_WATCH, 0, false, 1, 1, 1, 1},
        {RZ_MSG_CASE_UPDATE, RZ_OP_COMMENT, true, 1, 1, 0, 1},
        {RZ_MSG_CASE_UPDATE, RZ_OP_COMMENT, false, 0, 1, 0, 1},
        {RZ_MSG_CASE_UPDATE, RZ_OP_STATUS, false, 0, 1, 0, 1},
        {RZ_MSG_CASE_UPDATE, RZ_OP_ROUTE, true, 0, 1, 0, 1},
        {RZ_MSG_REPORTER_GET, 0, false, 0, 1, 0, 1},
        {RZ_MSG_REPORTER_ERASE, 0, false, 0, 0, 0, 1},
        {RZ_MSG_CATALOG_UPSERT, 0, false, 0, 0, 0, 1},
        {RZ_MSG_MEMBER_ADD, 0, false, 0, 0, 0, 1},
        {RZ_MSG_MEMBER_PROMOTE, 0, false, 0, 0, 0, 1},
        {RZ_MSG_MEMBER_REMOVE, 0, false, 0, 0, 0, 1},
        {RZ_MSG_LEADER_TRANSFER, 0, false, 0, 0, 0, 1},
        {RZ_MSG_CHECKSUM, 0, false, 0, 0, 1, 1},
        {99, 0, false, 0, 0, 0, 0},
    };
    static const int roles[4] = {RZ_ROLE_PORTAL, RZ_ROLE_AGENT, RZ_ROLE_AUDITOR,
                                 RZ_ROLE_OPERATOR};
    (void)state;
    for (size_t i = 0; i < RZ_ARRAY_LEN(rows); i++) {
        bool want[4] = {rows[i].p, rows[i].a, rows[i].au, rows[i].o};
        for (int r = 0; r < 4; r++) {
            rz_req q;
            memset(&q, 0, sizeof(q));
            q.type = rows[i].type;
            q.op = rows[i].op;
            q.public_comment = rows[i].pub;
            q.role = roles[r];
            if (rz_req_allowed(&q) != want[r]) {
                fail_msg("type %u op %d role %s: allowed=%d, want %d",
                         rows[i].type, rows[i].op, rz_role_name(roles[r]),
                         !want[r], want[r]);
            }
            q.role = RZ_ROLE_NODE; /* never a client */
            assert_false(rz_req_allowed(&q));
        }
    }
    assert_int_equal(rz_req_class_of(RZ_MSG_CASE_CREATE), RZ_REQ_WRITE);
    assert_int_equal(rz_req_class_of(RZ_MSG_CASE_GET), RZ_REQ_READ);
    assert_int_equal(rz_req_class_of(RZ_MSG_WATCH), RZ_REQ_WATCH);
    assert_int_equal(rz_req_class_of(RZ_MSG_MEMBER_ADD), RZ_REQ_ADMIN);
    assert_int_equal(rz_req_class_of(RZ_MSG_REPLY), RZ_REQ_UNKNOWN);
    assert_int_equal(rz_req_class_of(0), RZ_REQ_UNKNOWN);
    assert_int_equal(rz_req_actor_role(RZ_ROLE_PORTAL), RZ_ACTOR_PORTAL);
    assert_int_equal(rz_req_actor_role(RZ_ROLE_AGENT), RZ_ACTOR_AGENT);
    assert_int_equal(rz_req_actor_role(RZ_ROLE_OPERATOR), RZ_ACTOR_OPERATOR);
}

/* A create with every field decodes into exactly the command the storage
 * encoder builds from the same values; defaults fill the rest. */
static void test_create_matches_encoder(void **state)
{
    rz_buf cmd, want, b;
    rz_req q;
    char err[RZ_ERRMSG_BYTES];
    rz_reporter rep = {"Jan Kowalski", "+48 600 000 000", "",
                       "Marszalkowska 1"};
    rz_case_create c;
    (void)state;
    rz_buf_init(&cmd, RZ_COMMAND_MAX_BYTES);
    rz_buf_init(&want, RZ_COMMAND_MAX_BYTES);
    rz_buf_init(&b, RZ_FRAME_MAX_BYTES);
    rz_mp_put_map(&b, 15);
    rz_mp_put_cstr(&b, "kind");
    rz_mp_put_uint(&b, 2);
    rz_mp_put_cstr(&b, "channel");
    rz_mp_put_uint(&b, 1);
    rz_mp_put_cstr(&b, "priority");
    rz_mp_put_uint(&b, 3);
    rz_mp_put_cstr(&b, "service");
    rz_mp_put_cstr(&b, "ROADS");
    rz_mp_put_cstr(&b, "description");
    rz_mp_put_cstr(&b, "Dziura w jezdni");
    rz_mp_put_cstr(&b, "district");
    rz_mp_put_cstr(&b, "MOKOTOW");
    rz_mp_put_cstr(&b, "street");
    rz_mp_put_cstr(&b, "Pulawska");
    rz_mp_put_cstr(&b, "house_no");
    rz_mp_put_cstr(&b, "12A");
    rz_mp_put_cstr(&b, "lat");
    rz_mp_put_double(&b, 52.2);
    rz_mp_put_cstr(&b, "lon");
    rz_mp_put_int(&b, 21); /* an integer is accepted as f64 */
    rz_mp_put_cstr(&b, "notify");
    rz_mp_put_bool(&b, true);
    rz_mp_put_cstr(&b, "reporter");
    rz_mp_put_map(&b, 4);
    rz_mp_put_cstr(&b, "name");
    rz_mp_put_cstr(&b, rep.name);
    rz_mp_put_cstr(&b, "phone");
    rz_mp_put_cstr(&b, rep.phone);
    rz_mp_put_cstr(&b, "email");
    rz_mp_put_cstr(&b, rep.email);
    rz_mp_put_cstr(&b, "address");
    rz_mp_put_cstr(&b, rep.address);
    rz_mp_put_cstr(&b, "actor_id");
    rz_mp_put_uint(&b, 77);
    rz_mp_put_cstr(&b, "timeout_ms");
    rz_mp_put_uint(&b, 1500);
    rz_mp_put_cstr(&b, "future_key"); /* unknown keys are ignored */
    rz_mp_put_array(&b, 2);
    rz_mp_put_nil(&b);
    rz_mp_put_map(&b, 0);
    assert_int_equal(decode_raw(RZ_MSG_CASE_CREATE, RZ_ROLE_AGENT, b.data,
                                b.len, &q, &cmd, err),
                     0);
    assert_int_equal(q.timeout_ms, 1500);
    assert_int_equal(q.actor_id, 77);
    memset(&c, 0, sizeof(c));
    c.kind = 2;
    c.channel = 1;
    c.priority = 3;
    c.service_code = "ROADS";
    c.description = "Dziura w jezdni";
    c.district = "MOKOTOW";
    c.street = "Pulawska";
    c.house_no = "12A";
    c.lat = 52.2;
    c.lon = 21.0;
    c.notify = true;
    c.reporter = &rep;
    c.actor.role = RZ_ACTOR_AGENT;
    c.actor.id = 77;
    assert_int_equal(rz_cmd_create_encode(&want, RID, AT_MS, &c), 0);
    assert_int_equal(cmd.len, want.len);
    assert_memory_equal(cmd.data, want.data, want.len);

    /* Defaults: kind INCIDENT, priority 1, OTHER, UNKNOWN, portal actor. */
    {
        kv p[] = {{"description", 's', "x", 0}};
        rz_buf_reset(&want);
        assert_int_equal(
            decode(RZ_MSG_CASE_CREATE, RZ_ROLE_PORTAL, p, 1, &q, &cmd, err), 0);
        memset(&c, 0, sizeof(c));
        c.kind = RZ_KIND_INCIDENT;
        c.priority = 1;
        c.service_code = "OTHER";
        c.district = "UNKNOWN";
        c.description = "x";
        c.street = "";
        c.house_no = "";
        c.actor.role = RZ_ACTOR_PORTAL;
        assert_int_equal(rz_cmd_create_encode(&want, RID, AT_MS, &c), 0);
        assert_int_equal(cmd.len, want.len);
        assert_memory_equal(cmd.data, want.data, want.len);
    }
    rz_buf_close(&b);
    rz_buf_close(&cmd);
    rz_buf_close(&want);
}

/* Every refusal: the right code, the key named, no command bytes. */
static void test_refusals(void **state)
{
    static char long_desc[RZ_DESCRIPTION_MAX_BYTES + 2];
    static const char bad_utf8[] = {'a', (char)0xc3, (char)0x28, 0};
    struct
    {
        uint32_t type;
        kv p[3];
        size_t n;
        int code;
        const char *needle;
    } cases[] = {
        {RZ_MSG_CASE_CREATE,
         {{"kind", 'u', NULL, 1}},
         1,
         RZ_EINVAL,
         "description"},
        {RZ_MSG_CASE_CREATE,
         {{"description", 's', "", 0}},
         1,
         RZ_EINVAL,
         "description"},
        {RZ_MSG_CASE_CREATE,
         {{"description", 's', long_desc, 0}},
         1,
         RZ_EINVAL,
         "description"},
        {RZ_MSG_CASE_CREATE,
         {{"description", 's', bad_utf8, 0}},
         1,
         RZ_EUTF8,
         "description"},
        {RZ_MSG_CASE_CREATE,
         {{"description", 's', "x", 0}, {"kind", 's', "1", 0}},
         2,
         RZ_EINVAL,
         "kind"},
        {RZ_MSG_CASE_CREATE,
         {{"description", 's', "x", 0}, {"kind", 'u', NULL, 4}},
         2,
         RZ_EINVAL,
         "kind"},
        {RZ_MSG_CASE_CREATE,
         {{"description", 's', "x", 0}, {"channel", 'i', NULL, 1}},
         2,
         RZ_EINVAL,
         "negative"},
        {RZ_MSG_CASE_CREATE,
         {{"description", 's', "x", 0}, {"lat", 'f', NULL, 200}},
         2,
         RZ_EINVAL,
         "lat"},
        {RZ_MSG_CASE_CREATE,
         {{"description", 's', "x", 0}, {"timeout_ms", 'u', NULL, 0}},
         2,
         RZ_EINVAL,
         "timeout_ms"},
        {RZ_MSG_CASE_CREATE,
         {{"description", 's', "x", 0}, {"notify", 'u', NULL, 1}},
         2,
         RZ_EINVAL,
         "notify"},
        {RZ_MSG_CASE_UPDATE, {{"case_id", 'u', NULL, 1}}, 1, RZ_EINVAL, "op"},
        {RZ_MSG_CASE_UPDATE,
         {{"op", 's', "fly", 0}, {"case_id", 'u', NULL, 1}},
         2,
         RZ_EINVAL,
         "fly"},
        {RZ_MSG_CASE_UPDATE,
         {{"op", 's', "status", 0}, {"case_id", 'u', NULL, 1}},
         2,
         RZ_EINVAL,
         "status"},
        {RZ_MSG_CASE_UPDATE,
         {{"op", 's', "status", 0},
          {"case_id", 'u', NULL, 1},
          {"status", 'u', NULL, 2}},
         3,
         RZ_EINVAL,
         "route"},
        {RZ_MSG_CASE_UPDATE,
         {{"op", 's', "route", 0}},
         1,
         RZ_EINVAL,
         "case_id"},
        {RZ_MSG_CASE_UPDATE,
         {{"op", 's', "route", 0}, {"case_id", 'u', NULL, 1}},
         2,
         RZ_EINVAL,
         "unit_id"},
        {RZ_MSG_CASE_UPDATE,
         {{"op", 's', "comment", 0}, {"case_id", 'u', NULL, 1}},
         2,
         RZ_EINVAL,
         "text"},
        {RZ_MSG_CASE_UPDATE,
         {{"op", 's', "merge", 0}, {"case_id", 'u', NULL, 1}},
         2,
         RZ_EINVAL,
         "into_case_id"},
        {RZ_MSG_CASE_UPDATE,
         {{"op", 's', "assign", 0},
          {"case_id", 'u', NULL, 1},
          {"expected_version", 'u', NULL, 1ull << 33}},
         3,
         RZ_EINVAL,
         "expected_version"},
        {RZ_MSG_CASE_GET, {{"history", 'b', NULL, 1}}, 1, RZ_EINVAL, "case_id"},
        {RZ_MSG_CASE_GET, {{"case_id", 'u', NULL, 0}}, 1, RZ_EINVAL, "case_id"},
        {RZ_MSG_CASE_LIST, {{"limit", 'u', NULL, 1001}}, 1, RZ_EINVAL, "limit"},
        {RZ_MSG_CASE_LIST,
         {{"created_from_ms", 'u', NULL, 5}, {"created_to_ms", 'u', NULL, 5}},
         2,
         RZ_EINVAL,
         "created_from_ms"},
        {RZ_MSG_REPORTER_ERASE,
         {{"x", 'u', NULL, 1}},
         1,
         RZ_EINVAL,
         "reporter_id"},
        {RZ_MSG_CATALOG_UPSERT,
         {{"items", 'u', NULL, 1}},
         1,
         RZ_EINVAL,
         "items"},
        {RZ_MSG_CATALOG_UPSERT, {{"x", 'u', NULL, 1}}, 1, RZ_EINVAL, "items"},
        {RZ_MSG_MEMBER_ADD,
         {{"id", 'u', NULL, 4}, {"address", 's', "127.0.0.1:7504", 0}},
         2,
         RZ_EINVAL,
         "PEER_HOST"},
        {RZ_MSG_MEMBER_ADD,
         {{"address", 's', "a:1/b:2", 0}},
         1,
         RZ_EINVAL,
         "id"},
        {RZ_MSG_MEMBER_REMOVE,
         {{"id", 'u', NULL, 2}, {"force", 's', "yes", 0}},
         2,
         RZ_EINVAL,
         "force"},
    };
    rz_buf cmd;
    (void)state;
    memset(long_desc, 'a', sizeof(long_desc) - 1);
    rz_buf_init(&cmd, RZ_COMMAND_MAX_BYTES);
    for (size_t i = 0; i < RZ_ARRAY_LEN(cases); i++) {
        rz_req q;
        char err[RZ_ERRMSG_BYTES];
        int rv = decode(cases[i].type, RZ_ROLE_OPERATOR, cases[i].p, cases[i].n,
                        &q, &cmd, err);
        if (rv != cases[i].code || strstr(err, cases[i].needle) == NULL ||
            cmd.len != 0) {
            fail_msg("case %zu: %s '%s' (cmd %zu bytes), want %s naming '%s'",
                     i, rz_errname(rv), err, cmd.len, rz_errname(cases[i].code),
                     cases[i].needle);
        }
    }
    rz_buf_close(&cmd);
}

/* Bodies that are not maps, keys that are not strings, nested junk. */
static void test_malformed_bodies(void **state)
{
    static const uint8_t not_map[] = {0x93, 1, 2, 3};
    static const uint8_t int_key[] = {0x81, 0x01, 0x02};
    static const uint8_t nil_body[] = {0xc0};
    /* {"reporter": 5} */
    static const uint8_t rep_int[] = {0x81, 0xa8, 'r', 'e', 'p', 'o',
                                      'r',  't',  'e', 'r', 0x05};
    rz_buf cmd;
    rz_req q;
    char err[RZ_ERRMSG_BYTES];
    (void)state;
    rz_buf_init(&cmd, RZ_COMMAND_MAX_BYTES);
    assert_int_equal(decode_raw(RZ_MSG_PING, RZ_ROLE_AGENT, not_map,
                                sizeof(not_map), &q, &cmd, err),
                     RZ_EMALFORMED);
    assert_int_equal(decode_raw(RZ_MSG_CASE_CREATE, RZ_ROLE_AGENT, nil_body,
                                sizeof(nil_body), &q, &cmd, err),
                     RZ_EMALFORMED);
    assert_int_equal(decode_raw(RZ_MSG_CASE_CREATE, RZ_ROLE_AGENT, int_key,
                                sizeof(int_key), &q, &cmd, err),
                     RZ_EINVAL);
    assert_int_equal(decode_raw(RZ_MSG_CASE_CREATE, RZ_ROLE_AGENT, rep_int,
                                sizeof(rep_int), &q, &cmd, err),
                     RZ_EINVAL);
    assert_non_null(strstr(err, "reporter"));
    assert_int_equal(cmd.len, 0);
    /* Truncated bytes (the envelope decoder would refuse these first, the
     * body decoder still never reads past the end). */
    assert_int_not_equal(decode_raw(RZ_MSG_CASE_CREATE, RZ_ROLE_AGENT, rep_int,
                                    sizeof(rep_int) - 1, &q, &cmd, err),
                         0);
    rz_buf_close(&cmd);
}

static void test_update_ops_match_encoders(void **state)
{
    rz_buf cmd, want;
    rz_req q;
    char err[RZ_ERRMSG_BYTES];
    rz_actor actor = {RZ_ACTOR_AGENT, 5};
    (void)state;
    rz_buf_init(&cmd, RZ_COMMAND_MAX_BYTES);
    rz_buf_init(&want, RZ_COMMAND_MAX_BYTES);
    {
        kv p[] = {
            {"op", 's', "status", 0},           {"case_id", 'u', NULL, 9},
            {"status", 'u', NULL, 3},           {"resolution", 's', "ok", 0},
            {"expected_version", 'u', NULL, 4}, {"actor_id", 'u', NULL, 5}};
        assert_int_equal(
            decode(RZ_MSG_CASE_UPDATE, RZ_ROLE_AGENT, p, 6, &q, &cmd, err), 0);
        rz_buf_reset(&want);
        rz_cmd_status_encode(&want, RID, AT_MS, 9, 4, 3, "ok", actor);
        assert_int_equal(q.op, RZ_OP_STATUS);
        assert_int_equal(cmd.len, want.len);
        assert_memory_equal(cmd.data, want.data, want.len);
    }
    {
        kv p[] = {{"op", 's', "route", 0},
                  {"case_id", 'u', NULL, 9},
                  {"unit_id", 's', "ZDM", 0},
                  {"actor_id", 'u', NULL, 5}};
        assert_int_equal(
            decode(RZ_MSG_CASE_UPDATE, RZ_ROLE_AGENT, p, 4, &q, &cmd, err), 0);
        rz_buf_reset(&want);
        rz_cmd_route_encode(&want, RID, AT_MS, 9, 0, "ZDM", NULL, actor);
        assert_int_equal(cmd.len, want.len);
        assert_memory_equal(cmd.data, want.data, want.len);
    }
    {
        kv p[] = {{"op", 's', "comment", 0},
                  {"case_id", 'u', NULL, 9},
                  {"text", 's', "thanks", 0},
                  {"public", 'b', NULL, 1}};
        assert_int_equal(
            decode(RZ_MSG_CASE_UPDATE, RZ_ROLE_PORTAL, p, 4, &q, &cmd, err), 0);
        assert_true(q.public_comment);
        assert_true(rz_req_allowed(&q));
        rz_buf_reset(&want);
        rz_cmd_comment_encode(&want, RID, AT_MS, 9, true, "thanks",
                              (rz_actor){RZ_ACTOR_PORTAL, 0});
        assert_int_equal(cmd.len, want.len);
        assert_memory_equal(cmd.data, want.data, want.len);
    }
    {
        kv p[] = {{"op", 's', "merge", 0},
                  {"case_id", 'u', NULL, 9},
                  {"into_case_id", 'u', NULL, 3}};
        assert_int_equal(
            decode(RZ_MSG_CASE_UPDATE, RZ_ROLE_OPERATOR, p, 3, &q, &cmd, err),
            0);
        rz_buf_reset(&want);
        rz_cmd_merge_encode(&want, RID, AT_MS, 9, 0, 3,
                            (rz_actor){RZ_ACTOR_OPERATOR, 0});
        assert_int_equal(cmd.len, want.len);
        assert_memory_equal(cmd.data, want.data, want.len);
    }
    rz_buf_close(&cmd);
    rz_buf_close(&want);
}

static void test_catalog_upsert(void **state)
{
    rz_buf b, cmd, want;
    rz_req q;
    char err[RZ_ERRMSG_BYTES];
    rz_catalog_item items[2];
    (void)state;
    rz_buf_init(&b, RZ_FRAME_MAX_BYTES);
    rz_buf_init(&cmd, RZ_COMMAND_MAX_BYTES);
    rz_buf_init(&want, RZ_COMMAND_MAX_BYTES);
    rz_mp_put_map(&b, 1);
    rz_mp_put_cstr(&b, "items");
    rz_mp_put_array(&b, 2);
    rz_mp_put_map(&b, 3);
    rz_mp_put_cstr(&b, "type");
    rz_mp_put_uint(&b, 0);
    rz_mp_put_cstr(&b, "code");
    rz_mp_put_cstr(&b, "MOKOTOW");
    rz_mp_put_cstr(&b, "name");
    rz_mp_put_cstr(&b, "Mokotow");
    rz_mp_put_map(&b, 4);
    rz_mp_put_cstr(&b, "type");
    rz_mp_put_uint(&b, 3);
    rz_mp_put_cstr(&b, "code");
    rz_mp_put_cstr(&b, "ROADS");
    rz_mp_put_cstr(&b, "district");
    rz_mp_put_cstr(&b, "MOKOTOW");
    rz_mp_put_cstr(&b, "unit_id");
    rz_mp_put_cstr(&b, "ZDM");
    assert_int_equal(decode_raw(RZ_MSG_CATALOG_UPSERT, RZ_ROLE_OPERATOR, b.data,
                                b.len, &q, &cmd, err),
                     0);
    memset(items, 0, sizeof(items));
    items[0].type = RZ_CAT_DISTRICT;
    items[0].code = "MOKOTOW";
    items[0].name = "Mokotow";
    items[0].district = "";
    items[0].unit_id = "";
    items[1].type = RZ_CAT_RULE;
    items[1].code = "ROADS";
    items[1].district = "MOKOTOW";
    items[1].unit_id = "ZDM";
    assert_int_equal(rz_cmd_catalog_encode(&want, RID, AT_MS, items, 2), 0);
    assert_int_equal(cmd.len, want.len);
    assert_memory_equal(cmd.data, want.data, want.len);
    /* 513 items are refused. */
    rz_buf_reset(&b);
    rz_mp_put_map(&b, 1);
    rz_mp_put_cstr(&b, "items");
    rz_mp_put_array(&b, RZ_CATALOG_UPSERT_MAX_ITEMS + 1);
    for (uint32_t i = 0; i <= RZ_CATALOG_UPSERT_MAX_ITEMS; i++) {
        rz_mp_put_map(&b, 0);
    }
    assert_int_equal(decode_raw(RZ_MSG_CATALOG_UPSERT, RZ_ROLE_OPERATOR, b.data,
                                b.len, &q, &cmd, err),
                     RZ_EINVAL);
    assert_int_equal(cmd.len, 0);
    rz_buf_close(&b);
    rz_buf_close(&cmd);
    rz_buf_close(&want);
}

/* Replies: ERROR keys, and portal redaction of cases and events. */
static void test_replies(void **state)
{
    rz_buf b;
    rz_envelope env;
    char s[64];
    int64_t code;
    uint64_t u;
    rz_case c;
    rz_event e;
    (void)state;
    rz_buf_init(&b, RZ_FRAME_MAX_BYTES);
    rz_reply_error_ex(&b, RID, RZ_ENOTLEADER, NULL, 3, "127.0.0.1:7413", false,
                      0, 0);
    assert_int_equal(rz_envelope_decode(b.data, b.len, NULL, &env), 0);
    assert_int_equal(env.type, RZ_MSG_ERROR);
    assert_memory_equal(env.request_id, RID, 16);
    assert_true(rzc_map_int(env.body, env.body_len, "code", &code));
    assert_int_equal(code, RZ_ENOTLEADER);
    assert_true(rzc_map_str(env.body, env.body_len, "name", s, sizeof(s)));
    assert_string_equal(s, "RZ_ENOTLEADER");
    assert_true(rzc_map_uint(env.body, env.body_len, "leader_id", &u));
    assert_int_equal(u, 3);
    assert_true(
        rzc_map_str(env.body, env.body_len, "leader_address", s, sizeof(s)));
    assert_string_equal(s, "127.0.0.1:7413");
    rz_buf_reset(&b);
    rz_reply_error_ex(&b, RID, RZ_EVERSION, NULL, 0, NULL, true, 7, 12);
    assert_int_equal(rz_envelope_decode(b.data, b.len, NULL, &env), 0);
    assert_true(rzc_map_uint(env.body, env.body_len, "version", &u));
    assert_int_equal(u, 7);
    assert_true(rzc_map_uint(env.body, env.body_len, "case_id", &u));
    assert_int_equal(u, 12);
    assert_false(rzc_map_uint(env.body, env.body_len, "leader_id", &u));

    memset(&c, 0, sizeof(c));
    c.case_id = 4;
    c.reporter_id = 99;
    c.assignee_id = 98;
    snprintf(c.number, sizeof(c.number), "4/26");
    rz_buf_reset(&b);
    rz_reply_put_case(&b, &c, true);
    assert_int_equal(rz_mp_validate(b.data, b.len, 1, NULL), 0);
    assert_true(rzc_map_uint(b.data, b.len, "reporter_id", &u));
    assert_int_equal(u, 0);
    assert_true(rzc_map_uint(b.data, b.len, "assignee_id", &u));
    assert_int_equal(u, 0);
    rz_buf_reset(&b);
    rz_reply_put_case(&b, &c, false);
    assert_true(rzc_map_uint(b.data, b.len, "reporter_id", &u));
    assert_int_equal(u, 99);
    assert_true(rzc_map_str(b.data, b.len, "number", s, sizeof(s)));
    assert_string_equal(s, "4/26");

    memset(&e, 0, sizeof(e));
    e.type = RZ_EV_COMMENT;
    e.is_public = false;
    assert_false(rz_reply_event_visible(&e, true));
    assert_true(rz_reply_event_visible(&e, false));
    e.is_public = true;
    assert_true(rz_reply_event_visible(&e, true));
    e.type = RZ_EV_STATUS_CHANGED;
    e.is_public = false;
    assert_true(rz_reply_event_visible(&e, true));
    rz_buf_reset(&b);
    rz_reply_put_event(&b, &e, true);
    assert_int_equal(rz_mp_validate(b.data, b.len, 1, NULL), 0);
    /* The assignee of an ASSIGNED event is hidden from a portal. */
    e.type = RZ_EV_ASSIGNED;
    e.other_id = 42;
    rz_buf_reset(&b);
    rz_reply_put_event(&b, &e, true);
    assert_true(rzc_map_uint(b.data, b.len, "other_id", &u));
    assert_int_equal(u, 0);
    rz_buf_reset(&b);
    rz_reply_put_event(&b, &e, false);
    assert_true(rzc_map_uint(b.data, b.len, "other_id", &u));
    assert_int_equal(u, 42);
    rz_buf_close(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_role_table),
        cmocka_unit_test(test_create_matches_encoder),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_malformed_bodies),
        cmocka_unit_test(test_update_ops_match_encoders),
        cmocka_unit_test(test_catalog_upsert),
        cmocka_unit_test(test_replies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
