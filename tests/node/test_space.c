/* The disk alarm's evaluation (node/space.h): raised at the mark by either
 * gauge, held until both fall below the hysteresis, never raised by an
 * unread gauge; and a real sample of a fresh state env. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "node/space.h"

static rz_space_sample sample(uint64_t env_used, uint64_t fs_used)
{
    rz_space_sample s = {.map_bytes = 1000000,
                         .map_used_bytes = env_used,
                         .fs_bytes = 2000000,
                         .fs_used_bytes = fs_used};
    return s;
}

static void test_raise_and_clear(void **state)
{
    const char *why = NULL;
    rz_space_sample s;
    (void)state;
    s = sample(899000, 100000); /* 89.9 % of the map */
    assert_false(rz_space_alarm_eval(&s, 90, false, &why));
    assert_string_equal(why, "");
    s = sample(900000, 100000); /* 90 %: raised */
    assert_true(rz_space_alarm_eval(&s, 90, false, &why));
    assert_string_equal(why, "state env");
    s = sample(860000, 100000); /* 86 %: still above 85, held */
    assert_true(rz_space_alarm_eval(&s, 90, true, &why));
    s = sample(849000, 100000); /* below 85: cleared */
    assert_false(rz_space_alarm_eval(&s, 90, true, &why));
    s = sample(100000, 1900000); /* the file system at 95 % */
    assert_true(rz_space_alarm_eval(&s, 90, false, &why));
    assert_string_equal(why, "file system");
    s = sample(100000, 1750000); /* 87.5 %: held */
    assert_true(rz_space_alarm_eval(&s, 90, true, &why));
    s = sample(100000, 1600000); /* 80 %: cleared */
    assert_false(rz_space_alarm_eval(&s, 90, true, NULL));
}

static void test_unread_gauge(void **state)
{
    rz_space_sample s = {0, 0, 0, 0};
    (void)state;
    assert_false(rz_space_alarm_eval(&s, 10, false, NULL));
    assert_false(rz_space_alarm_eval(&s, 10, true, NULL));
}

static void test_real_sample(void **state)
{
    char dir[] = "/tmp/rz-space-XXXXXX";
    rz_storage_options o = {.map_size_bytes = 4u << 20, .unsafe_no_sync = true};
    rz_storage *st = NULL;
    rz_space_sample s;
    char path[64];
    (void)state;
    assert_non_null(mkdtemp(dir));
    assert_int_equal(rz_storage_open(dir, &o, &st, NULL), 0);
    assert_int_equal(rz_space_sample_read(st, dir, &s), 0);
    assert_int_equal(s.map_bytes, 4u << 20);
    assert_true(s.map_used_bytes > 0 && s.map_used_bytes < s.map_bytes);
    assert_true(s.fs_bytes > 0 && s.fs_used_bytes <= s.fs_bytes);
    /* A fresh env is far from the mark (unless /tmp itself is full). */
    assert_true(s.map_used_bytes * 10u < s.map_bytes);
    rz_storage_close(st);
    snprintf(path, sizeof path, "%s/state.mdb", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/state.mdb-lock", dir);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_raise_and_clear),
        cmocka_unit_test(test_unread_gauge),
        cmocka_unit_test(test_real_sample),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
