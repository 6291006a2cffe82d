/* ratuszctl keys: init (cluster key), issue (identity), show (decode). Only
 * common/secure.h touches key material; this file never prints secrets. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "common/common.h"
#include "common/secure.h"
#include "ctl.h"
#include "out.h"

#define CTL_PATH_BYTES 4096
#define CTL_DAYS_MAX 36500u
#define CTL_MS_PER_DAY 86400000ull

typedef struct keys_args
{
    const char *dir, *role, *name, *node_id, *days, *out, *file;
    bool json;
} keys_args;

static void keys_usage(FILE *f)
{
    fprintf(f, "usage:\n"
               "  ratuszctl keys init --dir DIR [--json]\n"
               "  ratuszctl keys issue --dir DIR --role "
               "node|operator|agent|portal|auditor --name NAME\n"
               "                       [--node-id N] [--days N (365)] "
               "[--out FILE] [--json]\n"
               "  ratuszctl keys show FILE [--json]\n"
               "exit codes: 0 ok, 1 operation failed, 2 usage error\n");
}

static int usage_err(const char *what)
{
    fprintf(stderr, "ratuszctl keys: %s; run 'ratuszctl keys --help'.\n", what);
    return CTL_EXIT_USAGE;
}

/* Parses flags after the subcommand; one positional argument (show's FILE)
 * is kept in a->file. Returns 0 or CTL_EXIT_USAGE (message printed). */
static int parse(int argc, char **argv, keys_args *a)
{
    static const struct
    {
        const char *flag;
        size_t off;
    } flags[] = {
        {"--dir", offsetof(keys_args, dir)},
        {"--role", offsetof(keys_args, role)},
        {"--name", offsetof(keys_args, name)},
        {"--node-id", offsetof(keys_args, node_id)},
        {"--days", offsetof(keys_args, days)},
        {"--out", offsetof(keys_args, out)},
    };
    char msg[128];
    memset(a, 0, sizeof *a);
    for (int i = 0; i < argc; i++) {
        const char *s = argv[i];
        bool found = false;
        if (!strcmp(s, "--json")) {
            a->json = true;
            continue;
        }
        for (size_t f = 0; f < sizeof flags / sizeof flags[0]; f++) {
            if (strcmp(s, flags[f].flag))
                continue;
            if (i + 1 >= argc) {
                snprintf(msg, sizeof msg, "%s needs a value", s);
                return usage_err(msg);
            }
            memcpy((char *)a + flags[f].off, &argv[i + 1], sizeof(char *));
            i++;
            found = true;
            break;
        }
        if (found)
            continue;
        if (s[0] == '-' || a->file) {
            snprintf(msg, sizeof msg, "unexpected argument '%.60s'", s);
            return usage_err(msg);
        }
        a->file = s;
    }
    return 0;
}

/* Strict decimal: digits only, no sign, no overflow. */
static bool parse_u64(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    if (!s || !*s)
        return false;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return false;
        if (v > (UINT64_MAX - 9u) / 10u)
            return false;
        v = v * 10u + (uint64_t)(*s - '0');
    }
    *out = v;
    return true;
}

static void iso8601(uint64_t ms, char *out, size_t n)
{
    time_t t = (time_t)(ms / 1000u);
    struct tm tm;
    if (!gmtime_r(&t, &tm) || !strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm))
        snprintf(out, n, "invalid");
}

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static void out_cluster(ctl_out *o, const rz_cluster_pub *pub)
{
    ctl_out_hex(o, "cluster_id", pub->id, sizeof pub->id);
    ctl_out_hex(o, "cluster_public_key", pub->pk, sizeof pub->pk);
}

/* Prints an identity; returns CTL_EXIT_FAIL when it has expired. */
static int out_identity(const char *file, const rz_identity *id, bool json)
{
    ctl_out o = {.json = json};
    char when[40];
    uint64_t now = rz_now_ms();
    bool expired = now > id->cred.not_after_ms;
    iso8601(id->cred.not_after_ms, when, sizeof when);
    ctl_out_str(&o, "kind", "identity");
    ctl_out_str(&o, "file", file);
    ctl_out_str(&o, "role", rz_role_name((int)id->cred.role));
    ctl_out_str(&o, "name", id->cred.name);
    ctl_out_u64(&o, "node_id", id->cred.node_id);
    out_cluster(&o, &id->cluster);
    ctl_out_hex(&o, "public_key", id->cred.pk, sizeof id->cred.pk);
    ctl_out_str(&o, "not_after", when);
    ctl_out_bool(&o, "expired", expired);
    ctl_out_end(&o);
    if (expired) {
        fprintf(stderr,
                "ratuszctl keys: %s expired at %s; issue a new one with "
                "'ratuszctl keys issue'.\n",
                file, when);
        return CTL_EXIT_FAIL;
    }
    return CTL_EXIT_OK;
}

static int keys_init(const keys_args *a)
{
    char path[CTL_PATH_BYTES], err[RZ_ERRMSG_BYTES] = "";
    rz_cluster_key key;
    int rc;
    if (!a->dir)
        return usage_err("init needs --dir DIR");
    if (a->role || a->name || a->node_id || a->days || a->out || a->file)
        return usage_err("init takes only --dir and --json");
    if ((size_t)snprintf(path, sizeof path, "%s/cluster.key", a->dir) >=
        sizeof path)
        return usage_err("--dir is too long");
    if (mkdir(a->dir, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr,
                "ratuszctl keys: cannot create directory %s (%s); pick a "
                "writable place for --dir.\n",
                a->dir, strerror(errno));
        return CTL_EXIT_FAIL;
    }
    if (exists(path)) {
        fprintf(stderr,
                "ratuszctl keys: %s already exists; keep using it, or move "
                "it away first if you really mean to start a new cluster.\n",
                path);
        return CTL_EXIT_FAIL;
    }
    rz_cluster_key_generate(&key);
    rc = rz_cluster_key_write(path, &key, err);
    if (rc != 0) {
        rz_cluster_key_wipe(&key);
        fprintf(stderr, "ratuszctl keys: %s\n", err[0] ? err : rz_strerror(rc));
        return CTL_EXIT_FAIL;
    }
    ctl_out o = {.json = a->json};
    ctl_out_str(&o, "kind", "cluster-key");
    ctl_out_str(&o, "file", path);
    out_cluster(&o, &key.pub);
    ctl_out_end(&o);
    rz_cluster_key_wipe(&key);
    return CTL_EXIT_OK;
}

static int keys_issue(const keys_args *a)
{
    char kpath[CTL_PATH_BYTES], opath[CTL_PATH_BYTES];
    char err[RZ_ERRMSG_BYTES] = "";
    rz_cluster_key key;
    rz_identity *id;
    rz_role role;
    uint64_t node_id = 0, days = 365;
    int rc, ret = CTL_EXIT_FAIL;
    if (!a->dir || !a->role || !a->name)
        return usage_err("issue needs --dir DIR, --role ROLE and --name NAME");
    if (a->file)
        return usage_err("issue takes no positional argument");
    if (rz_role_parse(a->role, &role) != 0)
        return usage_err(
            "--role must be node, operator, agent, portal or auditor");
    if (role == RZ_ROLE_NODE) {
        if (!a->node_id || !parse_u64(a->node_id, &node_id) || node_id == 0)
            return usage_err("role node needs --node-id N with N > 0");
    } else if (a->node_id) {
        return usage_err("--node-id is only for role node");
    }
    if (a->days &&
        (!parse_u64(a->days, &days) || days == 0 || days > CTL_DAYS_MAX))
        return usage_err("--days must be a whole number from 1 to 36500");
    if ((size_t)snprintf(kpath, sizeof kpath, "%s/cluster.key", a->dir) >=
        sizeof kpath)
        return usage_err("--dir is too long");
    if (a->out) {
        if ((size_t)snprintf(opath, sizeof opath, "%s", a->out) >= sizeof opath)
            return usage_err("--out is too long");
    } else if (strchr(a->name, '/') || !strcmp(a->name, ".") ||
               !strcmp(a->name, "..")) {
        return usage_err("--name has a '/' or is '.'/'..'; give --out FILE");
    } else if ((size_t)snprintf(opath, sizeof opath, "%s/%s.id", a->dir,
                                a->name) >= sizeof opath) {
        return usage_err("--dir or --name is too long");
    }
    if (exists(opath)) {
        fprintf(stderr,
                "ratuszctl keys: %s already exists; choose another --name or "
                "--out, or move the old file away.\n",
                opath);
        return CTL_EXIT_FAIL;
    }
    rc = rz_cluster_key_read(kpath, &key, err);
    if (rc != 0) {
        fprintf(stderr, "ratuszctl keys: %s\n", err[0] ? err : rz_strerror(rc));
        return CTL_EXIT_FAIL;
    }
    id = calloc(1, sizeof *id);
    if (!id) {
        rz_cluster_key_wipe(&key);
        fprintf(stderr, "ratuszctl keys: out of memory.\n");
        return CTL_EXIT_FAIL;
    }
    rc = rz_identity_issue(&key, role, a->name, node_id,
                           rz_now_ms() + days * CTL_MS_PER_DAY, id, err);
    if (rc != 0) {
        fprintf(stderr, "ratuszctl keys: %s\n", err[0] ? err : rz_strerror(rc));
        goto cleanup;
    }
    rc = rz_identity_write(opath, id, err);
    if (rc != 0) {
        fprintf(stderr, "ratuszctl keys: %s\n", err[0] ? err : rz_strerror(rc));
        goto cleanup;
    }
    ret = out_identity(opath, id, a->json);
cleanup:
    rz_identity_wipe(id);
    free(id);
    rz_cluster_key_wipe(&key);
    return ret;
}

static int keys_show(const keys_args *a)
{
    char err[RZ_ERRMSG_BYTES] = "", first[32] = "";
    FILE *f;
    int rc, ret;
    if (!a->file)
        return usage_err("show needs FILE");
    if (a->dir || a->role || a->name || a->node_id || a->days || a->out)
        return usage_err("show takes only FILE and --json");
    /* The first line says which kind of file this is. */
    f = fopen(a->file, "r");
    if (!f) {
        fprintf(stderr,
                "ratuszctl keys: cannot open %s (%s); check the path.\n",
                a->file, strerror(errno));
        return CTL_EXIT_FAIL;
    }
    if (!fgets(first, sizeof first, f))
        first[0] = '\0';
    fclose(f);
    if (!strncmp(first, "ratusz-cluster-key", 18)) {
        rz_cluster_key key;
        rc = rz_cluster_key_read(a->file, &key, err);
        if (rc != 0) {
            fprintf(stderr, "ratuszctl keys: %s\n",
                    err[0] ? err : rz_strerror(rc));
            return CTL_EXIT_FAIL;
        }
        ctl_out o = {.json = a->json};
        ctl_out_str(&o, "kind", "cluster-key");
        ctl_out_str(&o, "file", a->file);
        out_cluster(&o, &key.pub);
        ctl_out_end(&o);
        rz_cluster_key_wipe(&key);
        return CTL_EXIT_OK;
    }
    rz_identity *id = calloc(1, sizeof *id);
    if (!id) {
        fprintf(stderr, "ratuszctl keys: out of memory.\n");
        return CTL_EXIT_FAIL;
    }
    rc = rz_identity_read(a->file, id, err);
    if (rc != 0) {
        fprintf(stderr, "ratuszctl keys: %s\n", err[0] ? err : rz_strerror(rc));
        ret = CTL_EXIT_FAIL;
    } else {
        ret = out_identity(a->file, id, a->json);
    }
    rz_identity_wipe(id);
    free(id);
    return ret;
}

int ctl_keys_main(int argc, char **argv)
{
    keys_args a;
    int rc;
    if (argc < 2) {
        keys_usage(stderr);
        return CTL_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        keys_usage(stdout);
        return CTL_EXIT_OK;
    }
    rc = parse(argc - 2, argv + 2, &a);
    if (rc != 0)
        return rc;
    if (!strcmp(argv[1], "init"))
        return keys_init(&a);
    if (!strcmp(argv[1], "issue"))
        return keys_issue(&a);
    if (!strcmp(argv[1], "show"))
        return keys_show(&a);
    return usage_err("unknown keys subcommand (init, issue, show)");
}
