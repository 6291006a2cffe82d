/* Unit tests of libratusz's request encoding and its defensive decoding of
 * replies (client/codec.c), and of the public names and error codes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "client/codec.h"
#include "client/ratusz.h"
#include "common/common.h"

/* The public codes are the cluster's codes (checked at compile time here
 * too, besides client/names.c, so a renumbering fails this test's build). */
_Static_assert((int)RATUSZ_ENOCASE == (int)RZ_ENOCASE, "ENOCASE");
_Static_assert((int)RATUSZ_ENOTLEADER == (int)RZ_ENOTLEADER, "ENOTLEADER");
_Static_assert((int)RATUSZ_EUTF8 == (int)RZ_EUTF8, "EUTF8");
_Static_assert((int)RATUSZ_ETIMEDOUT == (int)RZ_ETIMEDOUT, "ETIMEDOUT");

/* ---- helpers: read a map's values from encoded bytes ---- */

/* Finds key in the map at p[0..n); *d is positioned at its value. */
static bool find_key(const rz_buf *b, const char *key, rz_mp_dec *d)
{
    uint32_t pairs;
    rz_mp_dec_init(d, b->data, b->len);
    if (rz_mp_get_map(d, &pairs) != 0) {
        return false;
    }
    for (uint32_t i = 0; i < pairs; i++) {
        const char *k;
        uint32_t len;
        if (rz_mp_get_str(d, &k, &len, 64) != 0) {
            return false;
        }
        if (len == strlen(key) && memcmp(k, key, len) == 0) {
            return true;
        }
        if (rz_mp_skip(d) != 0) {
            return false;
        }
    }
    return false;
}

static uint64_t key_u64(const rz_buf *b, const char *key)
{
    rz_mp_dec d;
    uint64_t v = 0;
    assert_true(find_key(b, key, &d));
    assert_int_equal(rz_mp_get_u64(&d, &v), 0);
    return v;
}

static bool key_bool(const rz_buf *b, const char *key)
{
    rz_mp_dec d;
    bool v = false;
    assert_true(find_key(b, key, &d));
    assert_int_equal(rz_mp_get_bool(&d, &v), 0);
    return v;
}

static void key_str(const rz_buf *b, const char *key, char *out, size_t size)
{
    rz_mp_dec d;
    assert_true(find_key(b, key, &d));
    assert_int_equal(rz_mp_get_cstr(&d, out, size), 0);
}

static bool has_key(const rz_buf *b, const char *key)
{
    rz_mp_dec d;
    return find_key(b, key, &d);
}

/* ---- names and codes ---- */

static void test_error_codes(void **state)
{
    (void)state;
    /* Every code of common's table has a public name and the same
     * sentence. */
    for (int e = -1; e > RZ__ELAST; e--) {
        assert_string_not_equal(ratusz_errname(e), "RATUSZ_EUNKNOWN");
        assert_string_equal(ratusz_strerror(e), rz_strerror(e));
        /* "RZ_ENOCASE" -> "RATUSZ_ENOCASE" */
        assert_string_equal(ratusz_errname(e) + 7, rz_errname(e) + 3);
    }
    assert_string_equal(ratusz_errname(0), "RATUSZ_OK");
    assert_string_equal(ratusz_errname(RZ__ELAST), "RATUSZ_EUNKNOWN");
    assert_string_equal(ratusz_errname(5), "RATUSZ_EUNKNOWN");
    assert_int_equal(RATUSZ_ELAST, RZ__ELAST + 1);
}

static void test_enum_names(void **state)
{
    ratusz_case_status st;
    ratusz_channel ch;
    ratusz_event_type et;
    ratusz_actor_role ar;
    ratusz_kind k;
    ratusz_op op;
    (void)state;
    for (int v = 0; v <= RATUSZ_STATUS_CLOSED; v++) {
        assert_int_equal(
            ratusz_case_status_parse(ratusz_case_status_name(v), &st), 0);
        assert_int_equal((int)st, v);
    }
    assert_null(ratusz_case_status_name(7));
    assert_null(ratusz_case_status_name(-1));
    assert_string_equal(ratusz_case_status_name(RATUSZ_STATUS_IN_PROGRESS),
                        "IN_PROGRESS");
    assert_int_equal(ratusz_channel_parse("phone", &ch), 0);
    assert_int_equal(ch, RATUSZ_CHANNEL_PHONE);
    assert_int_equal(ratusz_channel_parse("Walk_In", &ch), 0);
    assert_int_equal(ch, RATUSZ_CHANNEL_WALK_IN);
    ch = RATUSZ_CHANNEL_FAX;
    assert_int_equal(ratusz_channel_parse("PIGEON", &ch), RATUSZ_EINVAL);
    assert_int_equal(ch, RATUSZ_CHANNEL_FAX); /* untouched */
    assert_int_equal(ratusz_channel_parse(NULL, &ch), RATUSZ_EINVAL);
    assert_int_equal(ratusz_event_type_parse("PII_ERASED", &et), 0);
    assert_int_equal(et, 8);
    assert_int_equal(ratusz_actor_role_parse("portal", &ar), 0);
    assert_int_equal(ar, 5);
    assert_int_equal(ratusz_kind_parse("SUGGESTION", &k), 0);
    assert_int_equal(k, 3);
    assert_string_equal(ratusz_op_name(RATUSZ_OP_NOTIFY), "notify");
    assert_null(ratusz_op_name(0));
    assert_int_equal(ratusz_op_parse("merge", &op), 0);
    assert_int_equal(op, RATUSZ_OP_MERGE);
    assert_string_equal(ratusz_priority_name(3), "URGENT");
    assert_string_equal(ratusz_catalog_type_name(3), "RULE");
    assert_string_equal(ratusz_version(), "0.1.0");
}

/* ---- encoding ---- */

static void test_encode_create(void **state)
{
    rz_client_common k = {2500, 0, 77};
    ratusz_case_new c;
    ratusz_reporter r = {"Anna", "+48 1", NULL, NULL};
    char s[128];
    rz_buf b;
    (void)state;
    ratusz_case_new_init(&c);
    assert_int_equal(c.kind, RATUSZ_KIND_INCIDENT);
    assert_int_equal(c.priority, RATUSZ_PRIORITY_NORMAL);
    c.description = "Broken lamp";
    c.district = "WOLA";
    c.channel = RATUSZ_CHANNEL_EMAIL;
    c.lat = 52.2;
    c.lon = 20.9;
    c.reporter = &r;
    rz_buf_init(&b, 1 << 16);
    assert_int_equal(rz_client_enc_case_create(&b, &k, &c, NULL), 0);
    assert_int_equal(rz_mp_validate(b.data, b.len, 1, NULL), 0);
    assert_int_equal(key_u64(&b, "timeout_ms"), 2500);
    assert_int_equal(key_u64(&b, "actor_id"), 77);
    assert_int_equal(key_u64(&b, "kind"), 1);
    assert_int_equal(key_u64(&b, "channel"), 3);
    assert_int_equal(key_u64(&b, "priority"), 1);
    key_str(&b, "description", s, sizeof(s));
    assert_string_equal(s, "Broken lamp");
    key_str(&b, "district", s, sizeof(s));
    assert_string_equal(s, "WOLA");
    assert_false(has_key(&b, "service")); /* empty: the node's default */
    assert_false(has_key(&b, "max_stale_ms"));
    assert_false(has_key(&b, "reporter_id"));
    assert_true(has_key(&b, "reporter"));
    assert_true(has_key(&b, "lat"));
    rz_buf_close(&b);
}

static void test_encode_create_refusals(void **state)
{
    char big[RZ_DESCRIPTION_MAX_BYTES + 2];
    char errmsg[RZ_ERRMSG_BYTES];
    ratusz_reporter r = {"A", NULL, NULL, NULL};
    ratusz_case_new c;
    rz_buf b;
    (void)state;
    rz_buf_init(&b, 1 << 16);
    ratusz_case_new_init(&c);
    assert_int_equal(rz_client_enc_case_create(&b, NULL, &c, errmsg),
                     RZ_EINVAL);
    assert_non_null(strstr(errmsg, "description"));
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    c.description = big;
    assert_int_equal(rz_client_enc_case_create(&b, NULL, &c, errmsg),
                     RZ_EINVAL);
    assert_non_null(strstr(errmsg, "4000"));
    big[RZ_DESCRIPTION_MAX_BYTES] = '\0'; /* exactly at the limit: fine */
    rz_buf_reset(&b);
    assert_int_equal(rz_client_enc_case_create(&b, NULL, &c, errmsg), 0);
    c.description = "ok";
    c.street = "\xc3\x28"; /* invalid UTF-8 */
    assert_int_equal(rz_client_enc_case_create(&b, NULL, &c, errmsg), RZ_EUTF8);
    c.street = NULL;
    c.lat = 91.0;
    assert_int_equal(rz_client_enc_case_create(&b, NULL, &c, errmsg),
                     RZ_EINVAL);
    c.lat = 0.0;
    c.kind = (ratusz_kind)9;
    assert_int_equal(rz_client_enc_case_create(&b, NULL, &c, errmsg),
                     RZ_EINVAL);
    c.kind = RATUSZ_KIND_COMPLAINT;
    c.reporter = &r;
    c.reporter_id = 5;
    assert_int_equal(rz_client_enc_case_create(&b, NULL, &c, errmsg),
                     RZ_EINVAL);
    assert_int_equal(rz_client_enc_case_create(&b, NULL, NULL, errmsg),
                     RZ_EINVAL);
    rz_buf_close(&b);
}

static void test_encode_update(void **state)
{
    ratusz_update u;
    char s[64];
    rz_buf b;
    (void)state;
    rz_buf_init(&b, 1 << 16);
    memset(&u, 0, sizeof(u));
    u.op = RATUSZ_OP_STATUS;
    u.case_id = 12;
    u.expected_version = 4;
    u.status = RATUSZ_STATUS_IN_PROGRESS;
    u.text = "crew on site";
    assert_int_equal(rz_client_enc_case_update(&b, NULL, &u, NULL), 0);
    key_str(&b, "op", s, sizeof(s));
    assert_string_equal(s, "status");
    assert_int_equal(key_u64(&b, "case_id"), 12);
    assert_int_equal(key_u64(&b, "expected_version"), 4);
    assert_int_equal(key_u64(&b, "status"), 3);
    key_str(&b, "resolution", s, sizeof(s));
    assert_string_equal(s, "crew on site");

    /* ROUTED is the route op's business. */
    u.status = RATUSZ_STATUS_ROUTED;
    assert_int_equal(rz_client_enc_case_update(&b, NULL, &u, NULL), RZ_EINVAL);

    /* A comment carries no expected_version even if one is set. */
    rz_buf_reset(&b);
    u.op = RATUSZ_OP_COMMENT;
    u.text = "hello";
    u.is_public = true;
    assert_int_equal(rz_client_enc_case_update(&b, NULL, &u, NULL), 0);
    assert_false(has_key(&b, "expected_version"));
    assert_true(key_bool(&b, "public"));

    rz_buf_reset(&b);
    u.op = RATUSZ_OP_ROUTE;
    u.unit_id = "ZDM";
    assert_int_equal(rz_client_enc_case_update(&b, NULL, &u, NULL), 0);
    key_str(&b, "unit_id", s, sizeof(s));
    assert_string_equal(s, "ZDM");
    key_str(&b, "note", s, sizeof(s));
    assert_string_equal(s, "hello");
    u.unit_id = NULL; /* route needs a unit */
    assert_int_equal(rz_client_enc_case_update(&b, NULL, &u, NULL), RZ_EINVAL);

    rz_buf_reset(&b);
    u.op = RATUSZ_OP_MERGE;
    u.into_case_id = 12; /* into itself */
    assert_int_equal(rz_client_enc_case_update(&b, NULL, &u, NULL), RZ_EINVAL);
    u.into_case_id = 3;
    assert_int_equal(rz_client_enc_case_update(&b, NULL, &u, NULL), 0);
    assert_int_equal(key_u64(&b, "into_case_id"), 3);

    u.op = (ratusz_op)42;
    assert_int_equal(rz_client_enc_case_update(&b, NULL, &u, NULL), RZ_EINVAL);
    u.op = RATUSZ_OP_ASSIGN;
    u.case_id = 0;
    assert_int_equal(rz_client_enc_case_update(&b, NULL, &u, NULL), RZ_EINVAL);
    rz_buf_close(&b);
}

static void test_encode_list_and_others(void **state)
{
    rz_client_common k = {1000, 250, 9};
    ratusz_list_filter f;
    ratusz_catalog_item items[2];
    rz_buf b;
    (void)state;
    rz_buf_init(&b, 1 << 16);
    ratusz_list_filter_init(&f);
    assert_int_equal(rz_client_enc_case_list(&b, &k, &f, NULL), 0);
    assert_false(has_key(&b, "status"));
    assert_false(has_key(&b, "channel"));
    assert_int_equal(key_u64(&b, "max_stale_ms"), 250);
    rz_buf_reset(&b);
    f.status = RATUSZ_STATUS_NEW; /* 0 is a real filter */
    f.district = "WOLA";
    f.limit = 10;
    f.cursor = 99;
    assert_int_equal(rz_client_enc_case_list(&b, &k, &f, NULL), 0);
    assert_int_equal(key_u64(&b, "status"), 0);
    assert_int_equal(key_u64(&b, "limit"), 10);
    assert_int_equal(key_u64(&b, "cursor"), 99);
    f.limit = 1001;
    assert_int_equal(rz_client_enc_case_list(&b, &k, &f, NULL), RZ_EINVAL);
    f.limit = 0;
    f.created_from_ms = 10;
    f.created_to_ms = 10;
    assert_int_equal(rz_client_enc_case_list(&b, &k, &f, NULL), RZ_EINVAL);

    memset(items, 0, sizeof(items));
    items[0].type = RATUSZ_CATALOG_UNIT;
    items[0].code = "ZDM";
    items[0].name = "Roads";
    items[1].type = RATUSZ_CATALOG_RULE;
    items[1].code = "ROAD";
    items[1].district = "WOLA";
    items[1].unit_id = "ZDM";
    rz_buf_reset(&b);
    assert_int_equal(rz_client_enc_catalog_upsert(&b, &k, items, 2, NULL), 0);
    assert_int_equal(rz_mp_validate(b.data, b.len, 1, NULL), 0);
    assert_int_equal(rz_client_enc_catalog_upsert(&b, &k, items, 0, NULL),
                     RZ_EINVAL);
    items[1].unit_id = NULL; /* a rule needs its unit */
    assert_int_equal(rz_client_enc_catalog_upsert(&b, &k, items, 2, NULL),
                     RZ_EINVAL);

    rz_buf_reset(&b);
    assert_int_equal(rz_client_enc_member(&b, &k, 4, "127.0.0.1:1/127.0.0.1:2",
                                          false, false, NULL),
                     0);
    assert_int_equal(key_u64(&b, "id"), 4);
    assert_false(has_key(&b, "force"));
    rz_buf_reset(&b);
    assert_int_equal(rz_client_enc_member(&b, &k, 4, NULL, true, true, NULL),
                     0);
    assert_true(key_bool(&b, "force"));
    rz_buf_reset(&b);
    assert_int_equal(rz_client_enc_watch(&b, 17, 3), 0);
    assert_int_equal(key_u64(&b, "from_revision"), 17);
    assert_int_equal(key_u64(&b, "from_sub"), 3);
    assert_int_equal(rz_client_enc_reporter(&b, &k, 0, NULL), RZ_EINVAL);
    rz_buf_close(&b);
}

/* ---- decoding ---- */

static void put_kv_uint(rz_buf *b, const char *k, uint64_t v)
{
    rz_mp_put_cstr(b, k);
    rz_mp_put_uint(b, v);
}

static void put_kv_str(rz_buf *b, const char *k, const char *v)
{
    rz_mp_put_cstr(b, k);
    rz_mp_put_cstr(b, v);
}

static void put_event(rz_buf *b, uint64_t case_id, uint32_t seq, int type,
                      uint64_t revision, const char *text)
{
    rz_mp_put_map(b, 6);
    put_kv_uint(b, "case_id", case_id);
    put_kv_uint(b, "seq", seq);
    put_kv_uint(b, "type", (uint64_t)type);
    put_kv_uint(b, "revision", revision);
    put_kv_str(b, "text", text);
    rz_mp_put_cstr(b, "public");
    rz_mp_put_bool(b, true);
}

static void put_case(rz_buf *b, uint64_t id, const char *desc)
{
    rz_mp_put_map(b, 7);
    put_kv_uint(b, "case_id", id);
    put_kv_str(b, "number", "7/26");
    put_kv_uint(b, "status", 2);
    put_kv_str(b, "description", desc);
    rz_mp_put_cstr(b, "lat");
    rz_mp_put_double(b, 52.25);
    rz_mp_put_cstr(b, "lon");
    rz_mp_put_uint(b, 21); /* an integer is accepted as f64 */
    put_kv_str(b, "future_field", "ignored");
}

static void build_case_info(rz_buf *b)
{
    rz_mp_put_map(b, 5);
    rz_mp_put_cstr(b, "case");
    put_case(b, 7, "Pothole");
    rz_mp_put_cstr(b, "history");
    rz_mp_put_array(b, 2);
    put_event(b, 7, 0, RATUSZ_EVENT_CREATED, 10, "");
    put_event(b, 7, 1, RATUSZ_EVENT_COMMENT, 12, "on our way");
    put_kv_uint(b, "index", 12);
    rz_mp_put_cstr(b, "truncated");
    rz_mp_put_bool(b, false);
    put_kv_uint(b, "stale_ms", 0);
}

static void test_decode_case_info(void **state)
{
    ratusz_case_info *info = NULL;
    rz_buf b;
    (void)state;
    rz_buf_init(&b, 1 << 16);
    build_case_info(&b);
    assert_int_equal(rz_client_dec_case_info(b.data, b.len, &info), 0);
    assert_int_equal(info->c.case_id, 7);
    assert_string_equal(info->c.number, "7/26");
    assert_int_equal(info->c.status, RATUSZ_STATUS_ROUTED);
    assert_string_equal(info->c.description, "Pothole");
    assert_string_equal(info->c.unit_id, ""); /* absent: "" not NULL */
    assert_true(info->c.lat == 52.25);
    assert_true(info->c.lon == 21.0);
    assert_int_equal(info->n_history, 2);
    assert_int_equal(info->history[1].type, RATUSZ_EVENT_COMMENT);
    assert_string_equal(info->history[1].text, "on our way");
    assert_string_equal(info->history[1].unit_to, "");
    assert_true(info->history[1].is_public);
    assert_int_equal(info->index, 12);
    ratusz_case_info_free(info);
    rz_buf_close(&b);
}

/* Every prefix of a valid reply and many single-byte corruptions decode to
 * an error or to a result that frees cleanly: never a crash, never a leak
 * (the sanitizer build checks the latter). */
static void test_decode_hostile_bytes(void **state)
{
    rz_buf b;
    uint32_t seed = 12345;
    size_t ok = 0;
    (void)state;
    rz_buf_init(&b, 1 << 16);
    build_case_info(&b);
    for (size_t n = 0; n < b.len; n++) {
        ratusz_case_info *info = NULL;
        assert_int_not_equal(rz_client_dec_case_info(b.data, n, &info), 0);
        assert_null(info);
    }
    for (int i = 0; i < 20000; i++) {
        uint8_t *copy = malloc(b.len);
        ratusz_case_info *info = NULL;
        ratusz_page *page = NULL;
        rz_client_batch *batch = NULL;
        ratusz_status_info *st = NULL;
        ratusz_catalog *cat = NULL;
        ratusz_stats *stats = NULL;
        rz_client_error e;
        ratusz_created cr;
        assert_non_null(copy);
        memcpy(copy, b.data, b.len);
        for (int flips = 0; flips < 1 + i % 3; flips++) {
            seed = seed * 1103515245u + 12345u;
            copy[(seed >> 8) % b.len] = (uint8_t)(seed >> 20);
        }
        if (rz_client_dec_case_info(copy, b.len, &info) == 0) {
            assert_non_null(info->c.number);
            assert_non_null(info->c.description);
            ok++;
            ratusz_case_info_free(info);
        }
        /* The same bytes fed to every other decoder. */
        if (rz_client_dec_page(copy, b.len, &page) == 0) {
            ratusz_page_free(page);
        }
        if (rz_client_dec_events(copy, b.len, &batch) == 0) {
            rz_client_batch_free(batch);
        }
        if (rz_client_dec_status(copy, b.len, &st) == 0) {
            ratusz_status_info_free(st);
        }
        if (rz_client_dec_catalog(copy, b.len, &cat) == 0) {
            ratusz_catalog_free(cat);
        }
        if (rz_client_dec_stats(copy, b.len, &stats) == 0) {
            ratusz_stats_free(stats);
        }
        (void)rz_client_dec_error(copy, b.len, &e);
        (void)rz_client_dec_created(copy, b.len, &cr);
        free(copy);
    }
    assert_true(ok > 0); /* some corruptions hit only string bytes */
    rz_buf_close(&b);
}

static void test_decode_announced_counts(void **state)
{
    /* A map announcing a history of 2^32-1 events in a few bytes. */
    static const uint8_t huge[] = {0x81, 0xa7, 'h',  'i',  's',  't',  'o', 'r',
                                   'y',  0xdd, 0xff, 0xff, 0xff, 0xff, 0x80};
    /* Nesting 40 deep. */
    uint8_t deep[48];
    ratusz_case_info *info = NULL;
    ratusz_page *page = NULL;
    (void)state;
    assert_int_equal(rz_client_dec_case_info(huge, sizeof(huge), &info),
                     RZ_EMALFORMED);
    memset(deep, 0x91, sizeof(deep)); /* fixarray of 1, nested */
    deep[sizeof(deep) - 1] = 0xc0;
    assert_int_equal(rz_client_dec_page(deep, sizeof(deep), &page),
                     RZ_EMALFORMED);
    assert_null(info);
    assert_null(page);
    /* Trailing bytes after the value. */
    {
        uint8_t two[] = {0x80, 0x80};
        ratusz_write_result w;
        assert_int_equal(rz_client_dec_write(two, 2, &w), RZ_EMALFORMED);
        assert_int_equal(rz_client_dec_write(two, 1, &w), 0);
    }
}

static void test_decode_wrong_types(void **state)
{
    ratusz_created cr;
    rz_client_error e;
    rz_buf b;
    (void)state;
    rz_buf_init(&b, 4096);
    /* case_id as a string */
    rz_mp_put_map(&b, 1);
    put_kv_str(&b, "case_id", "7");
    assert_int_equal(rz_client_dec_created(b.data, b.len, &cr), RZ_EMALFORMED);
    /* no case_id at all */
    rz_buf_reset(&b);
    rz_mp_put_map(&b, 1);
    put_kv_str(&b, "number", "7/26");
    assert_int_equal(rz_client_dec_created(b.data, b.len, &cr), RZ_EMALFORMED);
    /* a number longer than its buffer */
    rz_buf_reset(&b);
    rz_mp_put_map(&b, 2);
    put_kv_uint(&b, "case_id", 7);
    put_kv_str(&b, "number", "0123456789012345678901234567890123456789");
    assert_int_equal(rz_client_dec_created(b.data, b.len, &cr), RZ_EMALFORMED);
    /* a good one, with an unknown key */
    rz_buf_reset(&b);
    rz_mp_put_map(&b, 5);
    put_kv_uint(&b, "case_id", 7);
    put_kv_str(&b, "number", "7/26");
    put_kv_uint(&b, "status", 2);
    put_kv_str(&b, "unit_id", "ZDM");
    rz_mp_put_cstr(&b, "new_thing");
    rz_mp_put_array(&b, 2);
    rz_mp_put_nil(&b);
    rz_mp_put_nil(&b);
    assert_int_equal(rz_client_dec_created(b.data, b.len, &cr), 0);
    assert_int_equal(cr.case_id, 7);
    assert_string_equal(cr.number, "7/26");
    assert_string_equal(cr.unit_id, "ZDM");
    assert_int_equal(cr.status, RATUSZ_STATUS_ROUTED);

    /* ERROR bodies */
    rz_buf_reset(&b);
    rz_mp_put_map(&b, 4);
    rz_mp_put_cstr(&b, "code");
    rz_mp_put_int(&b, RZ_ENOTLEADER);
    put_kv_str(&b, "name", "RZ_ENOTLEADER");
    put_kv_str(&b, "leader_address", "127.0.0.1:7412");
    put_kv_uint(&b, "leader_id", 2);
    assert_int_equal(rz_client_dec_error(b.data, b.len, &e), 0);
    assert_int_equal(e.code, RZ_ENOTLEADER);
    assert_string_equal(e.leader_address, "127.0.0.1:7412");
    assert_int_equal(e.leader_id, 2);
    rz_buf_reset(&b);
    rz_mp_put_map(&b, 1);
    put_kv_uint(&b, "code", 12); /* must be negative */
    assert_int_equal(rz_client_dec_error(b.data, b.len, &e), RZ_EMALFORMED);
    rz_buf_reset(&b);
    rz_mp_put_map(&b, 2);
    rz_mp_put_cstr(&b, "code");
    rz_mp_put_int(&b, -25);
    rz_mp_put_cstr(&b, "message");
    {
        char longmsg[2000];
        memset(longmsg, 'm', sizeof(longmsg) - 1);
        longmsg[sizeof(longmsg) - 1] = '\0';
        rz_mp_put_cstr(&b, longmsg); /* cut, not refused */
    }
    assert_int_equal(rz_client_dec_error(b.data, b.len, &e), 0);
    assert_int_equal(strlen(e.message), RATUSZ_ERRMSG_BYTES - 1);
    rz_buf_close(&b);
}

static void test_decode_others(void **state)
{
    ratusz_status_info *st = NULL;
    rz_client_batch *batch = NULL;
    ratusz_catalog *cat = NULL;
    ratusz_stats *stats = NULL;
    ratusz_checksum_info ck;
    uint8_t sum[32];
    uint64_t v = 0;
    rz_buf b;
    (void)state;
    rz_buf_init(&b, 1 << 16);

    /* STATUS with two members */
    rz_mp_put_map(&b, 4);
    put_kv_uint(&b, "node_id", 2);
    put_kv_str(&b, "state", "follower");
    put_kv_str(&b, "leader_address", "127.0.0.1:7411");
    rz_mp_put_cstr(&b, "members");
    rz_mp_put_array(&b, 2);
    for (int i = 1; i <= 2; i++) {
        rz_mp_put_map(&b, 3);
        put_kv_uint(&b, "id", (uint64_t)i);
        put_kv_str(&b, "client_address", i == 1 ? "a:1" : "b:2");
        rz_mp_put_cstr(&b, "voter");
        rz_mp_put_bool(&b, true);
    }
    assert_int_equal(rz_client_dec_status(b.data, b.len, &st), 0);
    assert_int_equal(st->node_id, 2);
    assert_string_equal(st->state, "follower");
    assert_string_equal(st->version, "");
    assert_int_equal(st->n_members, 2);
    assert_string_equal(st->members[1].client_address, "b:2");
    assert_string_equal(st->members[1].address, "");
    ratusz_status_info_free(st);

    /* EVENTS: in order, resumable */
    rz_buf_reset(&b);
    rz_mp_put_map(&b, 3);
    rz_mp_put_cstr(&b, "events");
    rz_mp_put_array(&b, 2);
    put_event(&b, 1, 0, 0, 5, "a");
    put_event(&b, 2, 0, 0, 6, "b");
    put_kv_uint(&b, "next_revision", 7);
    put_kv_uint(&b, "next_sub", 0);
    assert_int_equal(rz_client_dec_events(b.data, b.len, &batch), 0);
    assert_int_equal(batch->n_events, 2);
    assert_int_equal(batch->next_revision, 7);
    assert_string_equal(batch->events[1].text, "b");
    rz_client_batch_free(batch);
    /* an event past the resume point, or out of order: malformed */
    rz_buf_reset(&b);
    rz_mp_put_map(&b, 2);
    rz_mp_put_cstr(&b, "events");
    rz_mp_put_array(&b, 2);
    put_event(&b, 1, 0, 0, 6, "a");
    put_event(&b, 2, 0, 0, 5, "b");
    put_kv_uint(&b, "next_revision", 7);
    assert_int_equal(rz_client_dec_events(b.data, b.len, &batch),
                     RZ_EMALFORMED);
    rz_buf_reset(&b);
    rz_mp_put_map(&b, 2);
    rz_mp_put_cstr(&b, "events");
    rz_mp_put_array(&b, 1);
    put_event(&b, 1, 0, 0, 9, "a");
    put_kv_uint(&b, "next_revision", 7);
    assert_int_equal(rz_client_dec_events(b.data, b.len, &batch),
                     RZ_EMALFORMED);

    /* CATALOG: every array becomes items of its type */
    rz_buf_reset(&b);
    rz_mp_put_map(&b, 3);
    rz_mp_put_cstr(&b, "districts");
    rz_mp_put_array(&b, 1);
    rz_mp_put_map(&b, 2);
    put_kv_str(&b, "code", "WOLA");
    put_kv_str(&b, "name", "Wola");
    rz_mp_put_cstr(&b, "rules");
    rz_mp_put_array(&b, 1);
    rz_mp_put_map(&b, 3);
    put_kv_str(&b, "service", "ROAD");
    put_kv_str(&b, "district", "WOLA");
    put_kv_str(&b, "unit_id", "ZDM");
    put_kv_uint(&b, "index", 40);
    assert_int_equal(rz_client_dec_catalog(b.data, b.len, &cat), 0);
    assert_int_equal(cat->n_items, 2);
    assert_int_equal(cat->items[0].type, RATUSZ_CATALOG_DISTRICT);
    assert_string_equal(cat->items[0].name, "Wola");
    assert_string_equal(cat->items[0].unit_id, "");
    assert_int_equal(cat->items[1].type, RATUSZ_CATALOG_RULE);
    assert_string_equal(cat->items[1].code, "ROAD");
    assert_string_equal(cat->items[1].unit_id, "ZDM");
    assert_int_equal(cat->index, 40);
    ratusz_catalog_free(cat);

    /* STATS: str and int keys; a counter that is not a triple */
    rz_buf_reset(&b);
    rz_mp_put_map(&b, 1);
    rz_mp_put_cstr(&b, "counters");
    rz_mp_put_array(&b, 2);
    rz_mp_put_array(&b, 3);
    rz_mp_put_uint(&b, 1);
    rz_mp_put_cstr(&b, "WOLA");
    rz_mp_put_uint(&b, 12);
    rz_mp_put_array(&b, 3);
    rz_mp_put_uint(&b, 0);
    rz_mp_put_uint(&b, 2);
    rz_mp_put_uint(&b, 5);
    assert_int_equal(rz_client_dec_stats(b.data, b.len, &stats), 0);
    assert_int_equal(stats->n_counters, 2);
    assert_string_equal(stats->counters[0].key_str, "WOLA");
    assert_null(stats->counters[1].key_str);
    assert_int_equal(stats->counters[1].key_int, 2);
    assert_int_equal(stats->counters[1].count, 5);
    ratusz_stats_free(stats);
    rz_buf_reset(&b);
    rz_mp_put_map(&b, 1);
    rz_mp_put_cstr(&b, "counters");
    rz_mp_put_array(&b, 1);
    rz_mp_put_array(&b, 2);
    rz_mp_put_uint(&b, 1);
    rz_mp_put_uint(&b, 1);
    assert_int_equal(rz_client_dec_stats(b.data, b.len, &stats), RZ_EMALFORMED);

    /* CHECKSUM: bin32 exactly */
    memset(sum, 0xab, sizeof(sum));
    rz_buf_reset(&b);
    rz_mp_put_map(&b, 2);
    put_kv_uint(&b, "applied_index", 99);
    rz_mp_put_cstr(&b, "checksum");
    rz_mp_put_bin(&b, sum, 32);
    assert_int_equal(rz_client_dec_checksum(b.data, b.len, &ck), 0);
    assert_int_equal(ck.applied_index, 99);
    assert_memory_equal(ck.checksum, sum, 32);
    rz_buf_reset(&b);
    rz_mp_put_map(&b, 1);
    rz_mp_put_cstr(&b, "checksum");
    rz_mp_put_bin(&b, sum, 31);
    assert_int_equal(rz_client_dec_checksum(b.data, b.len, &ck), RZ_EMALFORMED);

    rz_buf_reset(&b);
    rz_mp_put_map(&b, 1);
    put_kv_uint(&b, "leader_id", 3);
    assert_int_equal(rz_client_dec_uint_key(b.data, b.len, "leader_id", &v), 0);
    assert_int_equal(v, 3);
    rz_buf_close(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error_codes),
        cmocka_unit_test(test_enum_names),
        cmocka_unit_test(test_encode_create),
        cmocka_unit_test(test_encode_create_refusals),
        cmocka_unit_test(test_encode_update),
        cmocka_unit_test(test_encode_list_and_others),
        cmocka_unit_test(test_decode_case_info),
        cmocka_unit_test(test_decode_hostile_bytes),
        cmocka_unit_test(test_decode_announced_counts),
        cmocka_unit_test(test_decode_wrong_types),
        cmocka_unit_test(test_decode_others),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
