/* Unit tests of common/: error table, buffers and the bounded msgpack codec. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/common.h"
#include "common/limits.h"

static void test_errors_have_messages(void **state)
{
    (void)state;
    assert_string_equal(rz_errname(RZ_ENOCASE), "RZ_ENOCASE");
    assert_string_equal(rz_errname(0), "RZ_OK");
    assert_string_equal(rz_errname(-9999), "RZ_EUNKNOWN");
    for (int e = -1; e > RZ__ELAST; e--) {
        assert_string_not_equal(rz_strerror(e), "unknown error");
        assert_string_not_equal(rz_errname(e), "RZ_EUNKNOWN");
    }
}

static void test_buf_cap_is_sticky(void **state)
{
    rz_buf b;
    (void)state;
    rz_buf_init(&b, 10);
    assert_int_equal(rz_buf_append(&b, "12345", 5), 0);
    assert_int_equal(rz_buf_append(&b, "123456", 6), RZ_ETOOBIG);
    assert_int_equal(b.len, 5);
    assert_int_equal(rz_buf_append(&b, "1", 1), RZ_ETOOBIG);
    rz_buf_reset(&b);
    assert_int_equal(rz_buf_append(&b, "1234567890", 10), 0);
    rz_buf_close(&b);
}

static void encode_sample(rz_buf *b)
{
    rz_mp_put_array(b, 9);
    rz_mp_put_uint(b, 0);
    rz_mp_put_uint(b, UINT64_MAX);
    rz_mp_put_int(b, -5);
    rz_mp_put_int(b, INT64_MIN);
    rz_mp_put_cstr(b, "Mokotów");
    rz_mp_put_bin(b, "\x00\x01\x02", 3);
    rz_mp_put_double(b, 52.2297);
    rz_mp_put_map(b, 1);
    rz_mp_put_cstr(b, "k");
    rz_mp_put_nil(b);
    rz_mp_put_bool(b, true);
}

static void test_roundtrip(void **state)
{
    rz_buf b;
    rz_mp_dec d;
    uint32_t n;
    uint64_t u;
    int64_t i;
    const char *s;
    uint32_t len;
    const uint8_t *bin;
    double f;
    bool flag;
    (void)state;

    rz_buf_init(&b, 1024);
    encode_sample(&b);
    assert_int_equal(b.err, 0);
    assert_int_equal(rz_mp_validate(b.data, b.len, 1, NULL), 0);

    rz_mp_dec_init(&d, b.data, b.len);
    assert_int_equal(rz_mp_get_array(&d, &n), 0);
    assert_int_equal(n, 9);
    assert_int_equal(rz_mp_get_u64(&d, &u), 0);
    assert_int_equal(u, 0);
    assert_int_equal(rz_mp_get_u64(&d, &u), 0);
    assert_true(u == UINT64_MAX);
    assert_int_equal(rz_mp_get_i64(&d, &i), 0);
    assert_int_equal(i, -5);
    assert_int_equal(rz_mp_get_i64(&d, &i), 0);
    assert_true(i == INT64_MIN);
    assert_int_equal(rz_mp_get_str(&d, &s, &len, 100), 0);
    assert_int_equal(len, strlen("Mokotów"));
    assert_memory_equal(s, "Mokotów", len);
    assert_int_equal(rz_mp_get_bin(&d, &bin, &len, 3), 0);
    assert_int_equal(len, 3);
    assert_int_equal(bin[2], 2);
    assert_int_equal(rz_mp_get_double(&d, &f), 0);
    assert_true(f == 52.2297);
    assert_int_equal(rz_mp_get_map(&d, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(rz_mp_skip(&d), 0);
    assert_true(rz_mp_try_nil(&d));
    assert_int_equal(rz_mp_get_bool(&d, &flag), 0);
    assert_true(flag);
    assert_true(rz_mp_done(&d));
    rz_buf_close(&b);
}

static void test_type_mismatch_is_sticky(void **state)
{
    rz_buf b;
    rz_mp_dec d;
    uint64_t u;
    uint32_t n;
    (void)state;
    rz_buf_init(&b, 64);
    rz_mp_put_cstr(&b, "x");
    rz_mp_put_uint(&b, 7);
    rz_mp_dec_init(&d, b.data, b.len);
    assert_int_equal(rz_mp_get_u64(&d, &u), RZ_EMALFORMED);
    /* Once failed, every later read fails too. */
    assert_int_equal(rz_mp_get_array(&d, &n), RZ_EMALFORMED);
    assert_false(rz_mp_done(&d));
    rz_buf_close(&b);

    /* A value too large for the requested width is refused. */
    rz_buf_init(&b, 64);
    rz_mp_put_uint(&b, 70000);
    rz_mp_dec_init(&d, b.data, b.len);
    uint8_t small;
    assert_int_equal(rz_mp_get_u8(&d, &small), RZ_EMALFORMED);
    rz_buf_close(&b);
}

/* DESIGN.md §5: a 6-byte frame announcing 268M elements must be refused
 * before anything reserves memory for them. */
static void test_huge_announced_count(void **state)
{
    const uint8_t arr32[] = {0xdd, 0x10, 0x00, 0x00, 0x00, 0xc0};
    const uint8_t map32[] = {0xdf, 0x0f, 0xff, 0xff, 0xff, 0xc0};
    const uint8_t str32[] = {0xdb, 0x7f, 0xff, 0xff, 0xff, 'a'};
    rz_mp_dec d;
    uint32_t n;
    (void)state;
    assert_int_equal(rz_mp_validate(arr32, sizeof(arr32), 1, NULL),
                     RZ_EMALFORMED);
    assert_int_equal(rz_mp_validate(map32, sizeof(map32), 1, NULL),
                     RZ_EMALFORMED);
    assert_int_equal(rz_mp_validate(str32, sizeof(str32), 1, NULL),
                     RZ_EMALFORMED);
    rz_mp_dec_init(&d, arr32, sizeof(arr32));
    assert_int_equal(rz_mp_get_array(&d, &n), RZ_EMALFORMED);
    rz_mp_dec_init(&d, arr32, sizeof(arr32));
    assert_int_equal(rz_mp_skip(&d), RZ_EMALFORMED);
}

static void test_depth_limit(void **state)
{
    uint8_t deep[64];
    (void)state;
    /* n nested one-element arrays around a nil. */
    for (uint32_t n = 1; n < 40; n++) {
        memset(deep, 0x91, n);
        deep[n] = 0xc0;
        int rv = rz_mp_validate(deep, n + 1, 1, NULL);
        if (n <= RZ_MP_MAX_DEPTH) {
            assert_int_equal(rv, 0);
        } else {
            assert_int_equal(rv, RZ_EMALFORMED);
        }
    }
}

static void test_trailing_and_count(void **state)
{
    const uint8_t two[] = {0x01, 0x02};
    (void)state;
    assert_int_equal(rz_mp_validate(two, 2, 1, NULL), RZ_EMALFORMED);
    assert_int_equal(rz_mp_validate(two, 2, 2, NULL), 0);
    assert_int_equal(rz_mp_validate(two, 2, 3, NULL), RZ_EMALFORMED);
    assert_int_equal(rz_mp_validate(two, 0, 0, NULL), 0);
    const uint8_t never[] = {0xc1};
    assert_int_equal(rz_mp_validate(never, 1, 1, NULL), RZ_EMALFORMED);
}

static void test_truncation_everywhere(void **state)
{
    rz_buf b;
    (void)state;
    rz_buf_init(&b, 1024);
    encode_sample(&b);
    for (size_t cut = 0; cut < b.len; cut++) {
        rz_mp_dec d;
        assert_int_equal(rz_mp_validate(b.data, cut, 1, NULL), RZ_EMALFORMED);
        rz_mp_dec_init(&d, b.data, cut);
        /* Skipping a truncated value fails cleanly. */
        assert_int_equal(rz_mp_skip(&d), RZ_EMALFORMED);
    }
    rz_buf_close(&b);
}

/* Random bytes and random mutations of a valid message: the validator and
 * the cursor never read out of bounds (the sanitizer build checks that) and
 * whatever validates can be skipped exactly to its end. */
static void test_random_bytes(void **state)
{
    rz_buf b;
    uint8_t buf[256];
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    (void)state;
    rz_buf_init(&b, 1024);
    encode_sample(&b);
    for (int iter = 0; iter < 200000; iter++) {
        size_t len;
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        if (iter % 2 == 0) {
            len = (seed >> 33) % sizeof(buf);
            for (size_t k = 0; k < len; k++) {
                seed = seed * 6364136223846793005ull + 1;
                buf[k] = (uint8_t)(seed >> 56);
            }
        } else {
            len = b.len;
            memcpy(buf, b.data, len);
            buf[(seed >> 20) % len] ^= (uint8_t)(1u << ((seed >> 8) % 8));
        }
        int rv = rz_mp_validate(buf, len, 1, NULL);
        rz_mp_dec d;
        rz_mp_dec_init(&d, buf, len);
        int srv = rz_mp_skip(&d);
        if (rv == 0) {
            assert_int_equal(srv, 0);
            assert_true(rz_mp_done(&d));
        }
    }
    rz_buf_close(&b);
}

static void test_utf8(void **state)
{
    (void)state;
    assert_true(rz_utf8_valid("Żółć", strlen("Żółć")));
    assert_false(rz_utf8_valid("\xc0\xaf", 2));         /* overlong */
    assert_false(rz_utf8_valid("\xed\xa0\x80", 3));     /* surrogate */
    assert_false(rz_utf8_valid("\xe2\x82", 2));         /* truncated */
    assert_false(rz_utf8_valid("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_errors_have_messages),
        cmocka_unit_test(test_buf_cap_is_sticky),
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_type_mismatch_is_sticky),
        cmocka_unit_test(test_huge_announced_count),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_trailing_and_count),
        cmocka_unit_test(test_truncation_everywhere),
        cmocka_unit_test(test_random_bytes),
        cmocka_unit_test(test_utf8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
