/* ratuszctl: where the cluster is. The endpoints and the identity come from
 * flags (--endpoints, --identity), then the environment (RATUSZ_ENDPOINTS,
 * RATUSZ_IDENTITY), then the make-run directory (RATUSZ_VAR, default ./var:
 * cluster.endpoints and operator.identity). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/common.h"
#include "ctl.h"

/* "HOST:PORT" with a port from 1 to 65535 and a non-empty host. */
static bool addr_ok(const char *s)
{
    const char *colon = strrchr(s, ':');
    uint64_t port;
    return colon && colon != s && ctl_parse_u64(colon + 1, &port) &&
           port >= 1 && port <= 65535 && strlen(s) < CTL_ADDR_BYTES;
}

/* "H:P,H:P,..." from a flag or the environment. */
static int parse_list(const char *cmd, const char *what, const char *list,
                      ctl_where *w)
{
    const char *p = list;
    w->n = 0;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        ctl_endpoint *e;
        if (w->n == CTL_MAX_ENDPOINTS)
            return ctl_usage_err(cmd, "%s has more than %d endpoints", what,
                                 CTL_MAX_ENDPOINTS);
        e = &w->ep[w->n];
        memset(e, 0, sizeof *e);
        if (len == 0 || len >= CTL_ADDR_BYTES)
            return ctl_usage_err(cmd, "%s has an empty or overlong item", what);
        memcpy(e->client, p, len);
        e->client[len] = '\0';
        if (!addr_ok(e->client))
            return ctl_usage_err(cmd, "%s: '%s' is not HOST:PORT", what,
                                 e->client);
        w->n++;
        p += len;
        if (*p == ',')
            p++;
    }
    if (w->n == 0)
        return ctl_usage_err(cmd, "%s is empty; give HOST:PORT,...", what);
    return 0;
}

/* var/cluster.endpoints: "ID CLIENT PEER METRICS" per line. A missing file
 * returns ENOENT without printing, so the caller can say what to do. */
static int read_file(const char *cmd, const char *path, ctl_where *w)
{
    char line[512];
    size_t lineno = 0;
    FILE *f = fopen(path, "r");
    if (!f)
        return errno == ENOENT ? -ENOENT
                               : ctl_usage_err(cmd, "cannot read %s (%s)", path,
                                               strerror(errno));
    w->n = 0;
    while (fgets(line, sizeof line, f)) {
        char id[32], client[CTL_ADDR_BYTES], peer[CTL_ADDR_BYTES];
        ctl_endpoint *e;
        uint64_t v;
        lineno++;
        if (line[0] == '#' || line[0] == '\n')
            continue;
        if (w->n == CTL_MAX_ENDPOINTS ||
            sscanf(line, "%31s %127s %127s", id, client, peer) != 3 ||
            !ctl_parse_u64(id, &v) || v == 0 || !addr_ok(client)) {
            fclose(f);
            return ctl_usage_err(cmd,
                                 "%s line %zu is not 'ID CLIENT_HOST:PORT "
                                 "PEER_HOST:PORT METRICS_HOST:PORT'",
                                 path, lineno);
        }
        e = &w->ep[w->n++];
        e->id = v;
        snprintf(e->client, sizeof e->client, "%s", client);
        snprintf(e->peer, sizeof e->peer, "%s", peer);
    }
    fclose(f);
    if (w->n == 0)
        return ctl_usage_err(cmd, "%s lists no node", path);
    return 0;
}

int ctl_where_resolve(const char *cmd, const char *flag_endpoints,
                      const char *flag_identity, ctl_where *w)
{
    const char *env_ep = getenv("RATUSZ_ENDPOINTS");
    const char *env_id = getenv("RATUSZ_IDENTITY");
    const char *var = getenv("RATUSZ_VAR");
    char path[CTL_PATH_BYTES];
    int rc;
    memset(w, 0, sizeof *w);
    if (!var || !*var)
        var = "var";
    if (flag_endpoints) {
        snprintf(w->source, sizeof w->source, "--endpoints");
        rc = parse_list(cmd, "--endpoints", flag_endpoints, w);
    } else if (env_ep && *env_ep) {
        snprintf(w->source, sizeof w->source, "RATUSZ_ENDPOINTS");
        rc = parse_list(cmd, "RATUSZ_ENDPOINTS", env_ep, w);
    } else {
        if ((size_t)snprintf(path, sizeof path, "%s/cluster.endpoints", var) >=
            sizeof path)
            return ctl_usage_err(cmd, "RATUSZ_VAR is too long");
        snprintf(w->source, sizeof w->source, "%s", path);
        rc = read_file(cmd, path, w);
        if (rc == -ENOENT) {
            fprintf(stderr,
                    "ratuszctl %s: no cluster given and no %s; run it from "
                    "the directory of 'make run', or give --endpoints "
                    "HOST:PORT,... and --identity FILE.\n",
                    cmd, path);
            return CTL_EXIT_USAGE;
        }
    }
    if (rc != 0)
        return rc;
    if (flag_identity)
        snprintf(w->identity, sizeof w->identity, "%s", flag_identity);
    else if (env_id && *env_id)
        snprintf(w->identity, sizeof w->identity, "%s", env_id);
    else
        snprintf(w->identity, sizeof w->identity, "%s/operator.identity", var);
    {
        struct stat st;
        if (stat(w->identity, &st) != 0) {
            fprintf(stderr,
                    "ratuszctl %s: no identity file %s; give --identity FILE "
                    "(ratuszctl keys issue makes one).\n",
                    cmd, w->identity);
            return CTL_EXIT_USAGE;
        }
    }
    return 0;
}
