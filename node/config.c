/* The configuration key table of ratuszd and the INI / flag parsers over it.
 */
#include "config.h"

#include <errno.h>
#include <ini.h>
#include <stdlib.h>
#include <string.h>

typedef enum key_type { KEY_U64, KEY_STR, KEY_BOOL } key_type;

typedef struct key_def
{
    const char *section;
    const char *name; /* the flag is --name with '_' turned into '-' */
    key_type type;
    size_t offset;
    size_t size; /* KEY_STR: buffer size */
    const char *def;
    uint64_t min; /* KEY_U64 range */
    uint64_t max;
    const char *help;
} key_def;

#define U64(sec, field, dflt, lo, hi, text)                                 \
    {                                                                       \
        sec, #field, KEY_U64, offsetof(rz_node_config, field), 0, dflt, lo, \
            hi, text                                                        \
    }
#define STR(sec, field, dflt, text)                                \
    {                                                              \
        sec, #field, KEY_STR, offsetof(rz_node_config, field),     \
            sizeof(((rz_node_config *)0)->field), dflt, 0, 0, text \
    }

static const key_def keys[] = {
    U64("node", id, "0", 1, INT64_MAX,
        "this node's server id (required; unique in the cluster)"),
    STR("node", data_dir, "",
        "data directory: raft.mdb, state.mdb, keys (required)"),
    STR("node", client_listen, "127.0.0.1:7400",
        "host:port for front ends and ratuszctl"),
    STR("node", peer_listen, "127.0.0.1:7500",
        "host:port for raft traffic between nodes"),
    STR("node", metrics_listen, "127.0.0.1:7600",
        "host:port for /metrics, /livez, /readyz; 'off' disables"),
    STR("node", log_level, "info", "debug, info, warn or error"),
    STR("node", identity, "",
        "the node's identity file (ratuszctl keys issue --role node); "
        "default <data_dir>/node.identity"),
    {"cluster", "members", KEY_STR, offsetof(rz_node_config, members_spec),
     sizeof(((rz_node_config *)0)->members_spec), "", 0, 0,
     "initial voters: ID=PEER_HOST:PORT/CLIENT_HOST:PORT,..."},
    {"cluster", "bootstrap", KEY_BOOL, offsetof(rz_node_config, bootstrap), 0,
     "true", 0, 1,
     "bootstrap an empty log with cluster.members when this node is one "
     "of them (true/false)"},
    U64("raft", election_timeout_ms, "500", 100, 60000,
        "election timeout in milliseconds (raft waits 1-2x this without a "
        "leader before it campaigns; see docs/operations.md)"),
    U64("raft", heartbeat_timeout_ms, "50", 10, 10000,
        "leader heartbeat interval in milliseconds (below the election "
        "timeout)"),
    U64("raft", snapshot_threshold, "100000", 16, UINT32_MAX,
        "entries applied between snapshot descriptors"),
    U64("raft", snapshot_trailing, "50000", 0, UINT32_MAX,
        "entries kept in the log behind a snapshot"),
    U64("storage", state_map_size_bytes, "17179869184", 1u << 20,
        UINT64_C(1) << 44, "LMDB map size of state.mdb in bytes"),
    U64("storage", log_map_size_bytes, "4294967296", 1u << 20,
        UINT64_C(1) << 42, "LMDB map size of raft.mdb in bytes"),
    U64("storage", disk_alarm_percent, "90", 10, 99,
        "map use (percent) above which new cases are refused"),
    U64("limits", max_clients, "1024", 1, 65536,
        "most client connections at once"),
    U64("limits", request_timeout_ms, "5000", 100, 600000,
        "deadline of a client request inside the node"),
};

static const key_def *key_find(const char *section, const char *name)
{
    const char *dot = section == NULL ? strchr(name, '.') : NULL;
    char sec[16];
    if (dot != NULL) {
        /* "--node.data_dir": the section is named in the flag. */
        size_t n = (size_t)(dot - name);
        if (n == 0 || n >= sizeof(sec)) {
            return NULL;
        }
        memcpy(sec, name, n);
        sec[n] = '\0';
        section = sec;
        name = dot + 1;
    }
    for (size_t i = 0; i < RZ_ARRAY_LEN(keys); i++) {
        if ((section == NULL || strcmp(keys[i].section, section) == 0) &&
            strcmp(keys[i].name, name) == 0) {
            return &keys[i];
        }
    }
    return NULL;
}

static int key_set(rz_node_config *c, const key_def *k, const char *value,
                   char *errmsg)
{
    char *base = (char *)c + k->offset;
    if (k->type == KEY_STR) {
        size_t len = strlen(value);
        if (len >= k->size) {
            rz_errmsg_set(errmsg, "%s.%s: value is longer than %zu bytes",
                          k->section, k->name, k->size - 1);
            return RZ_ECONFIG;
        }
        memcpy(base, value, len + 1);
        return 0;
    }
    if (k->type == KEY_BOOL) {
        bool b;
        if (strcmp(value, "true") == 0 || strcmp(value, "yes") == 0 ||
            strcmp(value, "1") == 0) {
            b = true;
        } else if (strcmp(value, "false") == 0 || strcmp(value, "no") == 0 ||
                   strcmp(value, "0") == 0) {
            b = false;
        } else {
            rz_errmsg_set(errmsg, "%s.%s: '%s' is not true or false",
                          k->section, k->name, value);
            return RZ_ECONFIG;
        }
        memcpy(base, &b, sizeof(b));
        return 0;
    }
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(value, &end, 10);
    if (value[0] == '\0' || value[0] == '-' || *end != '\0' || errno != 0 ||
        v < k->min || v > k->max) {
        rz_errmsg_set(errmsg,
                      "%s.%s: '%s' is not a whole number from %llu to %llu",
                      k->section, k->name, value, (unsigned long long)k->min,
                      (unsigned long long)k->max);
        return RZ_ECONFIG;
    }
    uint64_t u = (uint64_t)v;
    memcpy(base, &u, sizeof(u));
    return 0;
}

void rz_config_defaults(rz_node_config *c)
{
    char errmsg[RZ_ERRMSG_BYTES];
    memset(c, 0, sizeof(*c));
    for (size_t i = 0; i < RZ_ARRAY_LEN(keys); i++) {
        if (keys[i].type != KEY_STR) {
            int rv = key_set(c, &keys[i], keys[i].def, errmsg);
            if (rv == 0) {
                continue;
            }
            /* Defaults below the minimum (node.id) mean "required". */
            RZ_ASSERT(keys[i].type == KEY_U64);
            uint64_t v = strtoull(keys[i].def, NULL, 10);
            memcpy((char *)c + keys[i].offset, &v, sizeof(v));
        } else {
            int rv = key_set(c, &keys[i], keys[i].def, errmsg);
            RZ_ASSERT(rv == 0);
        }
    }
}

typedef struct ini_ctx
{
    rz_node_config *c;
    const char *path;
    char *errmsg;
    int rv;
} ini_ctx;

static int on_ini_line(void *user, const char *section, const char *name,
                       const char *value)
{
    ini_ctx *ctx = user;
    const key_def *k = key_find(section, name);
    if (ctx->rv != 0) {
        return 0;
    }
    if (k == NULL) {
        rz_errmsg_set(ctx->errmsg, "%s: unknown key '%s' in section [%s]",
                      ctx->path, name, section);
        ctx->rv = RZ_ECONFIG;
        return 0;
    }
    char inner[RZ_ERRMSG_BYTES];
    if (key_set(ctx->c, k, value, inner) != 0) {
        rz_errmsg_set(ctx->errmsg, "%s: %s", ctx->path, inner);
        ctx->rv = RZ_ECONFIG;
        return 0;
    }
    return 1;
}

int rz_config_load_file(rz_node_config *c, const char *path, char *errmsg)
{
    ini_ctx ctx = {c, path, errmsg, 0};
    int line = ini_parse(path, on_ini_line, &ctx);
    if (ctx.rv != 0) {
        return ctx.rv;
    }
    if (line == -1) {
        rz_errmsg_set(errmsg, "cannot open config file %s: %s", path,
                      strerror(errno));
        return RZ_ECONFIG;
    }
    if (line != 0) {
        rz_errmsg_set(errmsg, "%s:%d: not a 'key = value' line or [section]",
                      path, line);
        return RZ_ECONFIG;
    }
    return 0;
}

/* "--election-timeout-ms" -> "election_timeout_ms" */
static bool flag_to_name(const char *flag, char *name, size_t size)
{
    size_t n = 0;
    if (strncmp(flag, "--", 2) != 0) {
        return false;
    }
    for (const char *p = flag + 2; *p != '\0' && *p != '='; p++) {
        if (n + 1 >= size) {
            return false;
        }
        name[n++] = *p == '-' ? '_' : *p;
    }
    name[n] = '\0';
    return n > 0;
}

int rz_config_parse_args(rz_node_config *c, int argc, char **argv, bool *help,
                         char *errmsg)
{
    int rv;
    *help = false;
    /* --config first, so that flags override the file wherever they stand. */
    for (int i = 1; i < argc; i++) {
        const char *path = NULL;
        if (strcmp(argv[i], "--config") == 0) {
            if (i + 1 >= argc) {
                rz_errmsg_set(errmsg, "--config needs a file name");
                return RZ_ECONFIG;
            }
            path = argv[i + 1];
        } else if (strncmp(argv[i], "--config=", 9) == 0) {
            path = argv[i] + 9;
        }
        if (path != NULL) {
            rv = rz_config_load_file(c, path, errmsg);
            if (rv != 0) {
                return rv;
            }
        }
    }
    for (int i = 1; i < argc; i++) {
        char name[64];
        const char *value;
        const char *eq;
        const key_def *k;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            *help = true;
            continue;
        }
        if (!flag_to_name(argv[i], name, sizeof(name))) {
            rz_errmsg_set(errmsg, "unexpected argument '%s' (see --help)",
                          argv[i]);
            return RZ_ECONFIG;
        }
        eq = strchr(argv[i], '=');
        if (eq != NULL) {
            value = eq + 1;
        } else if (i + 1 < argc) {
            value = argv[++i];
        } else {
            rz_errmsg_set(errmsg, "%s needs a value", argv[i]);
            return RZ_ECONFIG;
        }
        if (strcmp(name, "config") == 0) {
            continue;
        }
        k = key_find(NULL, name);
        if (k == NULL) {
            rz_errmsg_set(errmsg, "unknown flag --%s (see --help)", name);
            return RZ_ECONFIG;
        }
        rv = key_set(c, k, value, errmsg);
        if (rv != 0) {
            return rv;
        }
    }
    return 0;
}

int rz_config_split_address(const char *addr, char *host, size_t host_size,
                            uint16_t *port)
{
    const char *colon = strrchr(addr, ':');
    char *end = NULL;
    unsigned long p;
    size_t hlen;
    if (colon == NULL || colon == addr) {
        return RZ_ECONFIG;
    }
    hlen = (size_t)(colon - addr);
    if (hlen >= host_size) {
        return RZ_ECONFIG;
    }
    errno = 0;
    p = strtoul(colon + 1, &end, 10);
    if (colon[1] == '\0' || *end != '\0' || errno != 0 || p == 0 || p > 65535) {
        return RZ_ECONFIG;
    }
    memcpy(host, addr, hlen);
    host[hlen] = '\0';
    *port = (uint16_t)p;
    return 0;
}

static int check_address(const char *key, const char *addr, bool allow_off,
                         char *errmsg)
{
    char host[RZ_CONFIG_STR_MAX_BYTES];
    uint16_t port;
    if (allow_off && strcmp(addr, "off") == 0) {
        return 0;
    }
    if (rz_config_split_address(addr, host, sizeof(host), &port) != 0) {
        rz_errmsg_set(errmsg,
                      "%s: '%s' is not HOST:PORT with a port from 1 to 65535",
                      key, addr);
        return RZ_ECONFIG;
    }
    return 0;
}

int rz_config_split_member_address(const char *addr, char *peer, char *client)
{
    const char *slash = strchr(addr, '/');
    char host[RZ_CONFIG_STR_MAX_BYTES];
    char part[RZ_CONFIG_STR_MAX_BYTES];
    uint16_t port;
    size_t n;
    if (slash == NULL || strchr(slash + 1, '/') != NULL) {
        return RZ_ECONFIG;
    }
    n = (size_t)(slash - addr);
    if (n >= sizeof(part) || strlen(slash + 1) >= sizeof(part)) {
        return RZ_ECONFIG;
    }
    memcpy(part, addr, n);
    part[n] = '\0';
    if (rz_config_split_address(part, host, sizeof(host), &port) != 0 ||
        rz_config_split_address(slash + 1, host, sizeof(host), &port) != 0) {
        return RZ_ECONFIG;
    }
    if (peer != NULL) {
        memcpy(peer, part, n + 1);
    }
    if (client != NULL) {
        snprintf(client, RZ_CONFIG_STR_MAX_BYTES, "%s", slash + 1);
    }
    return 0;
}

/* Parses "1=127.0.0.1:7501/127.0.0.1:7401,2=..." into c->members. */
static int parse_members(rz_node_config *c, char *errmsg)
{
    const char *p = c->members_spec;
    c->n_members = 0;
    while (*p != '\0') {
        const char *comma = strchr(p, ',');
        size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);
        char item[RZ_CONFIG_STR_MAX_BYTES];
        char *eq;
        char *end = NULL;
        rz_config_member *m;
        if (c->n_members == RZ_CONFIG_MAX_MEMBERS) {
            rz_errmsg_set(errmsg, "cluster.members: more than %d members",
                          RZ_CONFIG_MAX_MEMBERS);
            return RZ_ECONFIG;
        }
        if (len == 0 || len >= sizeof(item)) {
            rz_errmsg_set(errmsg, "cluster.members: empty or overlong item");
            return RZ_ECONFIG;
        }
        memcpy(item, p, len);
        item[len] = '\0';
        eq = strchr(item, '=');
        m = &c->members[c->n_members];
        errno = 0;
        m->id = eq != NULL ? strtoull(item, &end, 10) : 0;
        if (eq == NULL || end != eq || m->id == 0 || errno != 0 ||
            strlen(eq + 1) > 128 ||
            rz_config_split_member_address(eq + 1, m->peer_address,
                                           m->client_address) != 0) {
            rz_errmsg_set(errmsg,
                          "cluster.members: '%s' is not "
                          "ID=PEER_HOST:PORT/CLIENT_HOST:PORT with an id "
                          "above 0",
                          item);
            return RZ_ECONFIG;
        }
        snprintf(m->address, sizeof(m->address), "%s", eq + 1);
        for (size_t k = 0; k < c->n_members; k++) {
            if (c->members[k].id == m->id) {
                rz_errmsg_set(errmsg, "cluster.members: id %llu appears twice",
                              (unsigned long long)m->id);
                return RZ_ECONFIG;
            }
        }
        c->n_members++;
        p += len;
        if (*p == ',') {
            p++;
        }
    }
    return 0;
}

int rz_config_validate(rz_node_config *c, char *errmsg)
{
    rz_log_level level;
    int rv;
    if (c->id == 0) {
        rz_errmsg_set(errmsg, "node.id is required: set it in the config "
                              "file or with --id");
        return RZ_ECONFIG;
    }
    if (c->data_dir[0] == '\0') {
        rz_errmsg_set(errmsg, "node.data_dir is required: set it in the "
                              "config file or with --data-dir");
        return RZ_ECONFIG;
    }
    if (rz_log_level_parse(c->log_level, &level) != 0) {
        rz_errmsg_set(errmsg,
                      "node.log_level: '%s' is not debug, info, warn "
                      "or error",
                      c->log_level);
        return RZ_ECONFIG;
    }
    rv = check_address("node.client_listen", c->client_listen, false, errmsg);
    if (rv == 0) {
        rv = check_address("node.peer_listen", c->peer_listen, false, errmsg);
    }
    if (rv == 0) {
        rv = check_address("node.metrics_listen", c->metrics_listen, true,
                           errmsg);
    }
    if (rv == 0) {
        rv = parse_members(c, errmsg);
    }
    if (rv != 0) {
        return rv;
    }
    if (c->identity[0] == '\0') {
        int n = snprintf(c->identity, sizeof(c->identity), "%s/node.identity",
                         c->data_dir);
        if (n < 0 || (size_t)n >= sizeof(c->identity)) {
            rz_errmsg_set(errmsg, "node.data_dir is too long for the default "
                                  "node.identity path");
            return RZ_ECONFIG;
        }
    }
    if (c->heartbeat_timeout_ms * 2 > c->election_timeout_ms) {
        rz_errmsg_set(errmsg,
                      "raft.heartbeat_timeout_ms (%llu) must be at most half "
                      "of raft.election_timeout_ms (%llu)",
                      (unsigned long long)c->heartbeat_timeout_ms,
                      (unsigned long long)c->election_timeout_ms);
        return RZ_ECONFIG;
    }
    if (c->snapshot_trailing > c->snapshot_threshold * 10) {
        rz_errmsg_set(errmsg, "raft.snapshot_trailing must be at most 10 "
                              "times raft.snapshot_threshold");
        return RZ_ECONFIG;
    }
    return 0;
}

void rz_config_print_help(FILE *out)
{
    fprintf(out, "usage: ratuszd [--config FILE] [--KEY VALUE]...\n\n"
                 "Every key of the INI file can also be given as a flag, "
                 "--name or --section.name\n('-' and '_' are the same); "
                 "flags override the file. See docs/ratuszd.md.\n\n");
    const char *section = "";
    for (size_t i = 0; i < RZ_ARRAY_LEN(keys); i++) {
        char flag[64];
        size_t n = 0;
        if (strcmp(section, keys[i].section) != 0) {
            section = keys[i].section;
            fprintf(out, "[%s]\n", section);
        }
        for (const char *p = keys[i].name; *p != '\0' && n + 1 < sizeof(flag);
             p++) {
            flag[n++] = *p == '_' ? '-' : *p;
        }
        flag[n] = '\0';
        fprintf(out, "  %-22s --%-22s %s", keys[i].name, flag, keys[i].help);
        if (keys[i].def[0] != '\0' && strcmp(keys[i].def, "0") != 0) {
            fprintf(out, " (default %s)", keys[i].def);
        }
        fprintf(out, "\n");
    }
}
