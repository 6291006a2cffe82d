/* ratuszctl status and member list: every node is asked for its own view
 * (STATUS is answered by the node asked), and the views are put together:
 * who leads in the highest term, each member's role, indexes and lag
 * (leader's commit index - member's applied index), and which members did
 * not answer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "common/common.h"

/* A node that does not answer STATUS within this long counts as
 * unreachable (a paused process must not stall the whole report). */
#define STATUS_NODE_TIMEOUT_MS 2000u

typedef struct node_view
{
    char client[CTL_ADDR_BYTES]; /* where it was asked */
    uint64_t id;                 /* from the endpoints file or its reply */
    ratusz_status_info *st;      /* NULL = unreachable */
    char err[RATUSZ_ERRMSG_BYTES];
} node_view;

typedef struct cluster_view
{
    node_view nodes[CTL_MAX_ENDPOINTS];
    size_t n;
    const ratusz_status_info *leader; /* the leader's own view, if reached */
    uint64_t leader_id;               /* 0 = none known */
    uint64_t term;
    size_t n_reachable;
} cluster_view;

static node_view *find_node(cluster_view *v, uint64_t id, const char *client)
{
    for (size_t i = 0; i < v->n; i++) {
        if (id && v->nodes[i].id == id)
            return &v->nodes[i];
        if (client && client[0] && !strcmp(v->nodes[i].client, client))
            return &v->nodes[i];
    }
    return NULL;
}

static void ask(ctl_client *c, node_view *n)
{
    ratusz_call call;
    ratusz_outcome out;
    int rc;
    memset(&call, 0, sizeof call);
    call.timeout_ms = c->timeout_ms < STATUS_NODE_TIMEOUT_MS
                          ? c->timeout_ms
                          : STATUS_NODE_TIMEOUT_MS;
    /* One attempt: a node that refuses the connection is down now, which
     * is what a status report should say (retrying until the deadline
     * could report a node that was restarted meanwhile as never down). */
    call.no_retry = true;
    call.outcome = &out;
    rc = ratusz_node_status(c->h, &call, n->client, &n->st);
    if (rc != 0) {
        n->st = NULL;
        snprintf(n->err, sizeof n->err, "%s",
                 out.message[0] ? out.message : ratusz_strerror(rc));
        return;
    }
    n->id = n->st->node_id;
}

/* Asks every endpoint, then every configured member not asked yet (a
 * member added after the endpoints file was written), and works out the
 * leader: the node that says it leads in the highest term, else the leader
 * id the nodes of the highest term report. */
static void gather(ctl_client *c, cluster_view *v)
{
    memset(v, 0, sizeof *v);
    for (size_t i = 0; i < c->where.n; i++) {
        node_view *n = &v->nodes[v->n++];
        snprintf(n->client, sizeof n->client, "%s", c->where.ep[i].client);
        n->id = c->where.ep[i].id;
        ask(c, n);
    }
    /* Bounded: at most CTL_MAX_ENDPOINTS nodes in all. */
    for (size_t i = 0; i < v->n; i++) {
        const ratusz_status_info *st = v->nodes[i].st;
        for (size_t m = 0; st && m < st->n_members; m++) {
            const ratusz_member *mb = &st->members[m];
            node_view *n;
            if (find_node(v, mb->id, mb->client_address) ||
                !mb->client_address[0] || v->n == CTL_MAX_ENDPOINTS)
                continue;
            n = &v->nodes[v->n++];
            snprintf(n->client, sizeof n->client, "%s", mb->client_address);
            n->id = mb->id;
            ask(c, n);
        }
    }
    for (size_t i = 0; i < v->n; i++) {
        const ratusz_status_info *st = v->nodes[i].st;
        if (!st)
            continue;
        v->n_reachable++;
        if (st->term > v->term)
            v->term = st->term;
    }
    for (size_t i = 0; i < v->n; i++) {
        const ratusz_status_info *st = v->nodes[i].st;
        if (st && st->term == v->term && !strcmp(st->state, "leader")) {
            v->leader = st;
            v->leader_id = st->node_id;
        }
    }
    for (size_t i = 0; i < v->n && !v->leader_id; i++) {
        const ratusz_status_info *st = v->nodes[i].st;
        if (st && st->term == v->term && st->leader_id)
            v->leader_id = st->leader_id;
    }
}

/* The configuration to show: the leader's, else that of the reachable node
 * in the highest term, else none (then the endpoints are listed). */
static const ratusz_status_info *config_view(const cluster_view *v)
{
    const ratusz_status_info *best = v->leader;
    for (size_t i = 0; i < v->n && !best; i++)
        if (v->nodes[i].st && v->nodes[i].st->term == v->term)
            best = v->nodes[i].st;
    return best;
}

/* One row of the report: a configured member or an asked endpoint. */
typedef struct row
{
    uint64_t id;
    const char *address, *client;
    bool voter, in_config;
    const node_view *node; /* NULL if never asked */
} row;

static size_t rows_of(cluster_view *v, row *rows)
{
    const ratusz_status_info *cfg = config_view(v);
    size_t n = 0;
    for (size_t m = 0; cfg && m < cfg->n_members; m++) {
        const ratusz_member *mb = &cfg->members[m];
        row *r = &rows[n++];
        r->id = mb->id;
        r->address = mb->address;
        r->client = mb->client_address;
        r->voter = mb->voter;
        r->in_config = true;
        r->node = find_node(v, mb->id, mb->client_address);
        if (n == 2 * CTL_MAX_ENDPOINTS)
            return n;
    }
    /* Endpoints that are not in the configuration (or no configuration
     * known: every endpoint). */
    for (size_t i = 0; i < v->n && n < 2 * CTL_MAX_ENDPOINTS; i++) {
        const node_view *nd = &v->nodes[i];
        bool listed = false;
        for (size_t k = 0; k < n; k++)
            listed = listed || rows[k].node == nd ||
                     (nd->id && rows[k].id == nd->id);
        if (listed)
            continue;
        rows[n].id = nd->id;
        rows[n].address = "";
        rows[n].client = nd->client;
        rows[n].voter = false;
        rows[n].in_config = false;
        rows[n].node = nd;
        n++;
    }
    return n;
}

static const char *role_of(const row *r)
{
    if (!r->node || !r->node->st)
        return "unknown";
    return r->node->st->state;
}

static void hex16(const uint8_t *p, char *out)
{
    for (int i = 0; i < 16; i++)
        snprintf(out + 2 * i, 3, "%02x", p[i]);
}

static int status_print(ctl_client *c, cluster_view *v)
{
    row rows[2 * CTL_MAX_ENDPOINTS];
    size_t n = rows_of(v, rows);
    const ratusz_status_info *any = config_view(v);
    uint64_t leader_commit = v->leader ? v->leader->commit_index : 0;
    char cid[33] = "";
    if (any)
        hex16(any->cluster_id, cid);
    for (size_t i = 0; i < v->n; i++) {
        char other[33];
        if (!v->nodes[i].st || !any)
            continue;
        hex16(v->nodes[i].st->cluster_id, other);
        if (strcmp(other, cid))
            fprintf(stderr,
                    "ratuszctl status: %s belongs to another cluster (%s); "
                    "fix the endpoints.\n",
                    v->nodes[i].client, other);
    }
    if (c->json) {
        ctl_json j;
        ctl_json_init(&j, stdout);
        ctl_json_obj_begin(&j, NULL);
        if (any)
            ctl_json_str(&j, "cluster_id", cid);
        else
            ctl_json_null(&j, "cluster_id");
        if (v->leader_id)
            ctl_json_u64(&j, "leader", v->leader_id);
        else
            ctl_json_null(&j, "leader");
        ctl_json_u64(&j, "term", v->term);
        ctl_json_u64(&j, "reachable", v->n_reachable);
        ctl_json_arr_begin(&j, "members");
        for (size_t i = 0; i < n; i++) {
            const row *r = &rows[i];
            const ratusz_status_info *st = r->node ? r->node->st : NULL;
            ctl_json_obj_begin(&j, NULL);
            ctl_json_u64(&j, "id", r->id);
            ctl_json_str(&j, "address", r->address);
            ctl_json_str(&j, "client_address", r->client);
            ctl_json_str(&j, "role", role_of(r));
            ctl_json_bool(&j, "voter", r->voter);
            ctl_json_bool(&j, "in_configuration", r->in_config);
            ctl_json_bool(&j, "reachable", st != NULL);
            if (st) {
                ctl_json_u64(&j, "term", st->term);
                ctl_json_u64(&j, "commit_index", st->commit_index);
                ctl_json_u64(&j, "applied_index", st->applied_index);
                ctl_json_u64(&j, "last_index", st->last_index);
                if (v->leader)
                    ctl_json_i64(&j, "lag",
                                 (int64_t)leader_commit -
                                     (int64_t)st->applied_index);
                else
                    ctl_json_null(&j, "lag");
                ctl_json_bool(&j, "disk_alarm", st->disk_alarm);
                ctl_json_str(&j, "version", st->version);
                ctl_json_obj_begin(&j, "snapshot");
                ctl_json_u64(&j, "index", st->snapshot.index);
                ctl_json_u64(&j, "taken", st->snapshot.taken);
                ctl_json_u64(&j, "transfers_sent", st->snapshot.transfers_sent);
                ctl_json_u64(&j, "bytes_sent", st->snapshot.bytes_sent);
                ctl_json_u64(&j, "transfers_installed",
                             st->snapshot.transfers_installed);
                ctl_json_u64(&j, "transfers_aborted",
                             st->snapshot.transfers_aborted);
                ctl_json_u64(&j, "bytes_received", st->snapshot.bytes_received);
                ctl_json_obj_end(&j);
            } else {
                ctl_json_null(&j, "applied_index");
                ctl_json_null(&j, "lag");
                ctl_json_str(&j, "error", r->node ? r->node->err : "not asked");
            }
            ctl_json_obj_end(&j);
        }
        ctl_json_arr_end(&j);
        ctl_json_obj_end(&j);
        ctl_json_end(&j);
    } else {
        static const char *const heads[] = {
            "ID",     "ROLE",    "VOTER", "REACHABLE", "TERM",
            "COMMIT", "APPLIED", "LAG",   "CLIENT",    "PEER"};
        ctl_table t;
        printf("cluster  %s\n", cid[0] ? cid : "(unknown: no node answered)");
        if (v->leader_id)
            printf("leader   %llu (term %llu)\n",
                   (unsigned long long)v->leader_id,
                   (unsigned long long)v->term);
        else
            printf("leader   none known (term %llu)\n",
                   (unsigned long long)v->term);
        printf("nodes    %zu of %zu answered\n\n", v->n_reachable, n);
        ctl_table_init(&t, 10, heads);
        for (size_t i = 0; i < n; i++) {
            const row *r = &rows[i];
            const ratusz_status_info *st = r->node ? r->node->st : NULL;
            ctl_table_cellf(&t, "%llu", (unsigned long long)r->id);
            ctl_table_cell(&t, role_of(r));
            ctl_table_cell(&t, r->in_config ? (r->voter ? "yes" : "no") : "-");
            ctl_table_cell(&t, st ? "yes" : "NO");
            if (st) {
                ctl_table_cellf(&t, "%llu", (unsigned long long)st->term);
                ctl_table_cellf(&t, "%llu",
                                (unsigned long long)st->commit_index);
                ctl_table_cellf(&t, "%llu",
                                (unsigned long long)st->applied_index);
                if (v->leader)
                    ctl_table_cellf(&t, "%lld",
                                    (long long)leader_commit -
                                        (long long)st->applied_index);
                else
                    ctl_table_cell(&t, "-");
            } else {
                for (int k = 0; k < 4; k++)
                    ctl_table_cell(&t, "-");
            }
            ctl_table_cell(&t, r->client[0] ? r->client : "-");
            ctl_table_cell(&t, r->address[0] ? r->address : "-");
        }
        ctl_table_print(&t, stdout);
        ctl_table_close(&t);
        for (size_t i = 0; i < n; i++)
            if (rows[i].node && !rows[i].node->st)
                printf("node %llu at %s: %s\n", (unsigned long long)rows[i].id,
                       rows[i].node->client, rows[i].node->err);
        for (size_t i = 0; i < n; i++) {
            const ratusz_status_info *st =
                rows[i].node ? rows[i].node->st : NULL;
            if (st == NULL) {
                continue;
            }
            if (st->disk_alarm) {
                printf("node %llu: DISK ALARM: new cases are refused until "
                       "space is freed (see docs/operations.md)\n",
                       (unsigned long long)rows[i].id);
            }
            if (st->snapshot.transfers_installed > 0 ||
                st->snapshot.transfers_sent > 0 ||
                st->snapshot.bytes_received > 0) {
                printf("node %llu: state transfers: %llu installed "
                       "(%llu bytes received), %llu sent (%llu bytes), "
                       "%llu aborted\n",
                       (unsigned long long)rows[i].id,
                       (unsigned long long)st->snapshot.transfers_installed,
                       (unsigned long long)st->snapshot.bytes_received,
                       (unsigned long long)st->snapshot.transfers_sent,
                       (unsigned long long)st->snapshot.bytes_sent,
                       (unsigned long long)st->snapshot.transfers_aborted);
            }
        }
    }
    if (v->n_reachable == 0) {
        fprintf(stderr,
                "ratuszctl status: no node answered (endpoints from %s); "
                "start the cluster ('make run') or check --endpoints.\n",
                c->where.source);
        return CTL_EXIT_UNREACHABLE;
    }
    return CTL_EXIT_OK;
}

static void view_free(cluster_view *v)
{
    for (size_t i = 0; i < v->n; i++)
        ratusz_status_info_free(v->nodes[i].st);
    v->n = 0;
}

static const char status_usage[] =
    "usage: ratuszctl status [--json]\n"
    "  asks every node: role, term, commit/applied index, lag (leader's "
    "commit - applied)\n" CTL_COMMON_USAGE
    "exit codes: 0 ok (also with some nodes down), 2 usage, 3 no node "
    "answered\n";

int ctl_status_main(int argc, char **argv)
{
    ctl_opt o[CTL_O_COMMON] = {CTL_COMMON_OPTS};
    const char *pos[1];
    size_t n_pos;
    ctl_client c;
    cluster_view *v;
    int rc;
    if (ctl_is_help(argc - 1, argv + 1)) {
        fputs(status_usage, stdout);
        return CTL_EXIT_OK;
    }
    if ((rc = ctl_args_parse("status", argc - 1, argv + 1, o, CTL_O_COMMON, pos,
                             0, &n_pos)))
        return rc;
    if ((rc = ctl_client_open(&c, "status", o)))
        return rc;
    v = ctl_xmalloc(sizeof *v);
    gather(&c, v);
    rc = status_print(&c, v);
    view_free(v);
    free(v);
    ctl_client_close(&c);
    return rc;
}

/* The membership changes of the operations commands, if linked in. */
__attribute__((weak)) int ctl_ops_member_main(int argc, char **argv);

static const char member_usage[] =
    "usage: ratuszctl member list [--json]\n"
    "  the members of the cluster's configuration as the leader (or the "
    "most recent node) sees it\n" CTL_COMMON_USAGE
    "exit codes: 0 ok, 2 usage, 3 no node answered\n";

int ctl_member_main(int argc, char **argv)
{
    ctl_opt o[CTL_O_COMMON] = {CTL_COMMON_OPTS};
    const char *pos[1];
    size_t n_pos;
    ctl_client c;
    cluster_view *v;
    const ratusz_status_info *cfg;
    int rc = CTL_EXIT_OK;
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(member_usage, argc < 2 ? stderr : stdout);
        /* add/promote/remove/replace live with the operations commands
         * (ops_*.c, issue #7) when they are built in: their usage too. */
        if (ctl_ops_member_main)
            return ctl_ops_member_main(argc, argv);
        return argc < 2 ? CTL_EXIT_USAGE : CTL_EXIT_OK;
    }
    if (strcmp(argv[1], "list")) {
        if (ctl_ops_member_main)
            return ctl_ops_member_main(argc, argv);
        return ctl_usage_err("member", "unknown subcommand '%s' (list)",
                             argv[1]);
    }
    if (ctl_is_help(argc - 1, argv + 1)) {
        fputs(member_usage, stdout);
        return CTL_EXIT_OK;
    }
    if ((rc = ctl_args_parse("member", argc - 2, argv + 2, o, CTL_O_COMMON, pos,
                             0, &n_pos)))
        return rc;
    if ((rc = ctl_client_open(&c, "member", o)))
        return rc;
    v = ctl_xmalloc(sizeof *v);
    gather(&c, v);
    cfg = config_view(v);
    if (!cfg) {
        fprintf(stderr,
                "ratuszctl member: no node answered (endpoints from %s); "
                "start the cluster ('make run') or check --endpoints.\n",
                c.where.source);
        rc = CTL_EXIT_UNREACHABLE;
    } else if (c.json) {
        ctl_json j;
        ctl_json_init(&j, stdout);
        ctl_json_obj_begin(&j, NULL);
        if (v->leader_id)
            ctl_json_u64(&j, "leader", v->leader_id);
        else
            ctl_json_null(&j, "leader");
        ctl_json_arr_begin(&j, "members");
        for (size_t i = 0; i < cfg->n_members; i++) {
            const ratusz_member *m = &cfg->members[i];
            ctl_json_obj_begin(&j, NULL);
            ctl_json_u64(&j, "id", m->id);
            ctl_json_str(&j, "address", m->address);
            ctl_json_str(&j, "client_address", m->client_address);
            ctl_json_bool(&j, "voter", m->voter);
            ctl_json_obj_end(&j);
        }
        ctl_json_arr_end(&j);
        ctl_json_obj_end(&j);
        ctl_json_end(&j);
    } else {
        static const char *const heads[] = {"ID", "VOTER", "LEADER", "PEER",
                                            "CLIENT"};
        ctl_table t;
        ctl_table_init(&t, 5, heads);
        for (size_t i = 0; i < cfg->n_members; i++) {
            const ratusz_member *m = &cfg->members[i];
            ctl_table_cellf(&t, "%llu", (unsigned long long)m->id);
            ctl_table_cell(&t, m->voter ? "yes" : "no");
            ctl_table_cell(&t, m->id == v->leader_id ? "*" : "");
            ctl_table_cell(&t, m->address);
            ctl_table_cell(&t, m->client_address[0] ? m->client_address : "-");
        }
        ctl_table_print(&t, stdout);
        ctl_table_close(&t);
    }
    view_free(v);
    free(v);
    ctl_client_close(&c);
    return rc;
}
