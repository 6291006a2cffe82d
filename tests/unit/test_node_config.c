/* Unit tests of ratuszd's configuration: file, flags, and every refusal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "node/config.h"

static char tmp_path[64];

static const char *write_file(const char *text)
{
    snprintf(tmp_path, sizeof(tmp_path), "/tmp/rz-config-XXXXXX");
    int fd = mkstemp(tmp_path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return tmp_path;
}

static void test_defaults_need_id_and_dir(void **state)
{
    rz_node_config c;
    char err[RZ_ERRMSG_BYTES];
    (void)state;
    rz_config_defaults(&c);
    /* The defaults are consistent (their values are the key table's). */
    assert_true(c.election_timeout_ms >= 100);
    assert_true(c.heartbeat_timeout_ms * 2 <= c.election_timeout_ms);
    assert_string_equal(c.client_listen, "127.0.0.1:7400");
    assert_int_equal(rz_config_validate(&c, err), RZ_ECONFIG);
    assert_non_null(strstr(err, "node.id"));
    c.id = 1;
    assert_int_equal(rz_config_validate(&c, err), RZ_ECONFIG);
    assert_non_null(strstr(err, "node.data_dir"));
}

static void test_file_then_flags(void **state)
{
    rz_node_config c;
    char err[RZ_ERRMSG_BYTES];
    bool help;
    const char *path = write_file(
        "[node]\nid = 2\ndata_dir = /tmp/x\n"
        "[raft]\nelection_timeout_ms = 800\n"
        "[cluster]\nmembers = "
        "1=127.0.0.1:7501/127.0.0.1:7401,2=127.0.0.1:7502/127.0.0.1:7402\n");
    const char *argv[] = {"ratuszd", "--election-timeout-ms",
                          "1200",    "--config",
                          path,      "--log-level=debug"};
    (void)state;
    rz_config_defaults(&c);
    assert_int_equal(rz_config_parse_args(&c, 6, (char **)argv, &help, err), 0);
    assert_false(help);
    assert_int_equal(c.id, 2);
    assert_int_equal(c.election_timeout_ms, 1200); /* the flag wins */
    assert_string_equal(c.log_level, "debug");
    assert_int_equal(rz_config_validate(&c, err), 0);
    assert_int_equal(c.n_members, 2);
    assert_int_equal(c.members[1].id, 2);
    assert_string_equal(c.members[1].address, "127.0.0.1:7502/127.0.0.1:7402");
    assert_string_equal(c.members[1].peer_address, "127.0.0.1:7502");
    assert_string_equal(c.members[1].client_address, "127.0.0.1:7402");
    assert_true(c.bootstrap);
    assert_string_equal(c.identity, "/tmp/x/node.identity");
    unlink(path);
}

/* Flags may name their section ("--node.data_dir"); booleans are checked. */
static void test_section_flags_and_bool(void **state)
{
    rz_node_config c;
    char err[RZ_ERRMSG_BYTES];
    bool help;
    const char *argv[] = {
        "ratuszd",         "--node.id",       "3",
        "--node.data_dir", "/tmp/d3",         "--cluster.bootstrap=false",
        "--node.identity", "/tmp/n3.identity"};
    const char *bad[] = {"ratuszd", "--cluster.bootstrap", "maybe"};
    (void)state;
    rz_config_defaults(&c);
    assert_true(c.bootstrap);
    assert_int_equal(rz_config_parse_args(&c, 8, (char **)argv, &help, err), 0);
    assert_int_equal(rz_config_validate(&c, err), 0);
    assert_int_equal(c.id, 3);
    assert_string_equal(c.data_dir, "/tmp/d3");
    assert_false(c.bootstrap);
    assert_string_equal(c.identity, "/tmp/n3.identity");
    rz_config_defaults(&c);
    assert_int_equal(rz_config_parse_args(&c, 3, (char **)bad, &help, err),
                     RZ_ECONFIG);
    assert_non_null(strstr(err, "cluster.bootstrap"));
}

/* Each bad input is refused with a message naming the key. */
static void test_refusals_name_the_key(void **state)
{
    static const struct
    {
        const char *file;
        const char *expect;
    } cases[] = {
        {"[node]\nid = -1\n", "node.id"},
        {"[node]\nid = 12x\n", "node.id"},
        {"[node]\nnope = 1\n", "nope"},
        {"[nosuch]\nid = 1\n", "[nosuch]"},
        {"[raft]\nelection_timeout_ms = 5\n", "raft.election_timeout_ms"},
        {"garbage line\n", ":1:"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        rz_node_config c;
        char err[RZ_ERRMSG_BYTES];
        const char *path = write_file(cases[i].file);
        rz_config_defaults(&c);
        assert_int_equal(rz_config_load_file(&c, path, err), RZ_ECONFIG);
        if (strstr(err, cases[i].expect) == NULL) {
            fail_msg("case %zu: '%s' does not name '%s'", i, err,
                     cases[i].expect);
        }
        unlink(path);
    }
}

static void test_validate_relations(void **state)
{
    static const struct
    {
        const char *flag;
        const char *value;
        const char *expect;
    } cases[] = {
        {"--client-listen", "localhost", "node.client_listen"},
        {"--peer-listen", "127.0.0.1:70000", "node.peer_listen"},
        {"--members", "1=127.0.0.1:1/127.0.0.1:3,1=127.0.0.1:2/127.0.0.1:4",
         "appears twice"},
        {"--members", "1=127.0.0.1:1", "CLIENT_HOST:PORT"},
        {"--members", "1=127.0.0.1:1/127.0.0.1", "CLIENT_HOST:PORT"},
        {"--members", "x=127.0.0.1:1", "cluster.members"},
        {"--heartbeat-timeout-ms", "900", "heartbeat"},
        {"--log-level", "loud", "node.log_level"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        rz_node_config c;
        char err[RZ_ERRMSG_BYTES];
        bool help;
        const char *argv[] = {"ratuszd",
                              "--id",
                              "1",
                              "--data-dir",
                              "/tmp/d",
                              (char *)cases[i].flag,
                              (char *)cases[i].value};
        rz_config_defaults(&c);
        assert_int_equal(rz_config_parse_args(&c, 7, (char **)argv, &help, err),
                         0);
        assert_int_equal(rz_config_validate(&c, err), RZ_ECONFIG);
        if (strstr(err, cases[i].expect) == NULL) {
            fail_msg("case %zu: '%s' does not name '%s'", i, err,
                     cases[i].expect);
        }
    }
}

static void test_unknown_flag_and_help(void **state)
{
    rz_node_config c;
    char err[RZ_ERRMSG_BYTES];
    bool help;
    const char *bad[] = {"ratuszd", "--no-such-key", "1"};
    const char *lone[] = {"ratuszd", "--id"};
    const char *h[] = {"ratuszd", "--help"};
    (void)state;
    rz_config_defaults(&c);
    assert_int_equal(rz_config_parse_args(&c, 3, (char **)bad, &help, err),
                     RZ_ECONFIG);
    assert_non_null(strstr(err, "--no_such_key"));
    assert_int_equal(rz_config_parse_args(&c, 2, (char **)lone, &help, err),
                     RZ_ECONFIG);
    assert_int_equal(rz_config_parse_args(&c, 2, (char **)h, &help, err), 0);
    assert_true(help);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_need_id_and_dir),
        cmocka_unit_test(test_file_then_flags),
        cmocka_unit_test(test_section_flags_and_bool),
        cmocka_unit_test(test_refusals_name_the_key),
        cmocka_unit_test(test_validate_relations),
        cmocka_unit_test(test_unknown_flag_and_help),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
