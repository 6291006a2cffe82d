/* Unit tests of credentials and key files: issue, encode and verify; every
 * altered bit of a credential is refused; key files are 0600 and refused
 * when group or others may read them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/common.h"
#include "common/secure.h"

#define NOW_MS 1800000000000ull

static char dir[256];

static int setup(void **state)
{
    (void)state;
    if (rz_crypto_init() != 0) {
        return -1;
    }
    snprintf(dir, sizeof(dir), "/tmp/rz-secure-cred-XXXXXX");
    return mkdtemp(dir) != NULL ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[300];
    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_roles(void **state)
{
    rz_role r;
    (void)state;
    for (int i = RZ_ROLE_MIN; i <= RZ_ROLE_MAX; i++) {
        assert_int_equal(rz_role_parse(rz_role_name(i), &r), 0);
        assert_int_equal(r, i);
    }
    assert_null(rz_role_name(0));
    assert_null(rz_role_name(6));
    assert_int_equal(rz_role_parse("admin", &r), RZ_EINVAL);
}

static void test_issue_verify(void **state)
{
    rz_cluster_key key, other;
    rz_identity id;
    rz_credential c;
    char errmsg[RZ_ERRMSG_BYTES];
    (void)state;
    rz_cluster_key_generate(&key);
    rz_cluster_key_generate(&other);
    assert_memory_not_equal(key.pub.id, other.pub.id, RZ_CLUSTER_ID_BYTES);
    assert_int_equal(rz_identity_issue(&key, RZ_ROLE_PORTAL, "portal-1", 0,
                                       NOW_MS + 1000, &id, errmsg),
                     0);
    assert_int_equal(id.cred_len, RZ_CRED_FIXED_BYTES + 8 + 64);
    assert_int_equal(
        rz_cred_verify(&key.pub, id.cred_bytes, id.cred_len, NOW_MS, &c), 0);
    assert_int_equal(c.role, RZ_ROLE_PORTAL);
    assert_string_equal(c.name, "portal-1");
    assert_int_equal(c.not_after_ms, NOW_MS + 1000);
    assert_int_equal(
        rz_cred_verify(&key.pub, id.cred_bytes, id.cred_len, NOW_MS + 1001, &c),
        RZ_EEXPIRED);
    assert_int_equal(
        rz_cred_verify(&other.pub, id.cred_bytes, id.cred_len, NOW_MS, &c),
        RZ_EAUTH);
    /* Every altered bit is refused. */
    for (size_t bit = 0; bit < id.cred_len * 8; bit++) {
        uint8_t b[RZ_CRED_MAX_BYTES];
        int rv;
        memcpy(b, id.cred_bytes, id.cred_len);
        b[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        rv = rz_cred_verify(&key.pub, b, id.cred_len, NOW_MS, &c);
        assert_true(rv == RZ_EAUTH || rv == RZ_EMALFORMED);
    }
    /* And every truncation. */
    for (size_t k = 0; k < id.cred_len; k++) {
        assert_int_not_equal(
            rz_cred_verify(&key.pub, id.cred_bytes, k, NOW_MS, &c), 0);
    }
    /* Bad issues. */
    assert_int_equal(
        rz_identity_issue(&key, RZ_ROLE_NODE, "n1", 0, NOW_MS, &id, errmsg),
        RZ_EINVAL);
    assert_non_null(strstr(errmsg, "node id"));
    assert_int_equal(
        rz_identity_issue(&key, RZ_ROLE_AGENT, "a", 4, NOW_MS, &id, errmsg),
        RZ_EINVAL);
    assert_int_equal(
        rz_identity_issue(&key, RZ_ROLE_AGENT, "", 0, NOW_MS, &id, errmsg),
        RZ_EINVAL);
    assert_int_equal(
        rz_identity_issue(&key, RZ_ROLE_AGENT, "a\nb", 0, NOW_MS, &id, errmsg),
        RZ_EINVAL);
    assert_int_equal(
        rz_identity_issue(&key, RZ_ROLE_AGENT, "\xff", 0, NOW_MS, &id, errmsg),
        RZ_EINVAL);
    assert_int_equal(
        rz_identity_issue(&key, (rz_role)9, "x", 0, NOW_MS, &id, errmsg),
        RZ_EINVAL);
    {
        char longname[RZ_CRED_NAME_MAX_BYTES + 2];
        memset(longname, 'a', sizeof(longname) - 1);
        longname[sizeof(longname) - 1] = '\0';
        assert_int_equal(rz_identity_issue(&key, RZ_ROLE_AGENT, longname, 0,
                                           NOW_MS, &id, errmsg),
                         RZ_EINVAL);
        longname[RZ_CRED_NAME_MAX_BYTES] = '\0';
        assert_int_equal(rz_identity_issue(&key, RZ_ROLE_AGENT, longname, 0,
                                           NOW_MS, &id, errmsg),
                         0);
        assert_int_equal(id.cred_len, RZ_CRED_MAX_BYTES);
    }
    rz_cluster_key_wipe(&key);
    rz_cluster_key_wipe(&other);
}

static void path_in_dir(char *out, size_t size, const char *name)
{
    snprintf(out, size, "%s/%s", dir, name);
}

static void test_key_files(void **state)
{
    char path[300], idpath[300];
    char errmsg[RZ_ERRMSG_BYTES];
    rz_cluster_key key, back;
    rz_identity id, idback;
    struct stat st;
    (void)state;
    rz_cluster_key_generate(&key);
    path_in_dir(path, sizeof(path), "cluster.key");
    assert_int_equal(rz_cluster_key_write(path, &key, errmsg), 0);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(rz_cluster_key_read(path, &back, errmsg), 0);
    assert_memory_equal(&back, &key, sizeof(key));
    /* Never overwritten. */
    assert_int_equal(rz_cluster_key_write(path, &key, errmsg), RZ_EEXISTS);
    assert_non_null(strstr(errmsg, path));

    assert_int_equal(
        rz_identity_issue(&key, RZ_ROLE_NODE, "n3", 3, NOW_MS + 1, &id, errmsg),
        0);
    path_in_dir(idpath, sizeof(idpath), "n3.identity");
    assert_int_equal(rz_identity_write(idpath, &id, errmsg), 0);
    assert_int_equal(rz_identity_read(idpath, &idback, errmsg), 0);
    assert_memory_equal(idback.sk, id.sk, sizeof(id.sk));
    assert_int_equal(idback.cred_len, id.cred_len);
    assert_memory_equal(idback.cred_bytes, id.cred_bytes, id.cred_len);
    assert_memory_equal(&idback.cluster, &id.cluster, sizeof(id.cluster));
    assert_int_equal(idback.cred.node_id, 3);

    /* Readable by group or others: refused, with the fix in the message. */
    for (int i = 0; i < 3; i++) {
        static const mode_t modes[] = {0640, 0604, 0660};
        assert_int_equal(chmod(idpath, modes[i]), 0);
        memset(errmsg, 0, sizeof(errmsg));
        assert_int_equal(rz_identity_read(idpath, &idback, errmsg), RZ_EPERM);
        assert_non_null(strstr(errmsg, "chmod 600"));
        assert_non_null(strstr(errmsg, idpath));
        assert_int_equal(chmod(path, modes[i]), 0);
        assert_int_equal(rz_cluster_key_read(path, &back, errmsg), RZ_EPERM);
    }
    assert_int_equal(chmod(idpath, 0600), 0);
    assert_int_equal(chmod(path, 0400), 0);
    assert_int_equal(rz_cluster_key_read(path, &back, errmsg), 0);

    /* Missing and malformed files. */
    path_in_dir(path, sizeof(path), "missing.key");
    assert_int_equal(rz_cluster_key_read(path, &back, errmsg), RZ_ENOTFOUND);
    assert_int_equal(rz_cluster_key_read(idpath, &back, errmsg), RZ_EMALFORMED);
    assert_non_null(strstr(errmsg, "not a ratusz cluster key file"));
    {
        FILE *f;
        path_in_dir(path, sizeof(path), "bad.identity");
        f = fopen(path, "w");
        assert_non_null(f);
        fputs("ratusz-identity v1\ncluster !!!\n", f);
        fclose(f);
        assert_int_equal(chmod(path, 0600), 0);
        assert_int_equal(rz_identity_read(path, &idback, errmsg),
                         RZ_EMALFORMED);
    }
    /* An identity whose credential belongs to another key. */
    {
        rz_identity mixed = id;
        rz_identity other;
        assert_int_equal(rz_identity_issue(&key, RZ_ROLE_NODE, "n4", 4,
                                           NOW_MS + 1, &other, errmsg),
                         0);
        memcpy(mixed.sk, other.sk, sizeof(mixed.sk));
        path_in_dir(path, sizeof(path), "mixed.identity");
        assert_int_equal(rz_identity_write(path, &mixed, errmsg), 0);
        assert_int_equal(rz_identity_read(path, &idback, errmsg), RZ_EAUTH);
        assert_non_null(strstr(errmsg, "another key"));
    }
    rz_identity_wipe(&id);
    rz_cluster_key_wipe(&key);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roles),
        cmocka_unit_test(test_issue_verify),
        cmocka_unit_test(test_key_files),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
