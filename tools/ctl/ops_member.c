/* ratuszctl member add|promote|remove|replace and leader transfer: the
 * membership changes of DESIGN.md §7. A new member joins as a non-voter, is
 * watched until it has caught up (the leader's match index for it and its
 * own applied index, from STATUS), and only then promoted; the node refuses
 * a change that would leave fewer live voters than a quorum (RZ_EQUORUM)
 * unless --force. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ops.h"
#include "out.h"

static void nap_ms(unsigned ms)
{
    struct timespec ts = {(time_t)(ms / 1000u), (long)(ms % 1000u) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

typedef struct mctx
{
    const char *cmd;
    ctl_where w;
    rz_identity id;
    ops_conn c;
    uint64_t timeout_ms;
    bool json;
    bool quiet; /* no progress lines */
} mctx;

/* Sends a leader-only request; prints a refusal with its explanation.
 * Returns 0 (reply in r) or a CTL exit code. */
static int leader_request(mctx *m, uint32_t type, const rz_buf *body,
                          ops_reply *r, const char *what)
{
    char errmsg[RZ_ERRMSG_BYTES] = "";
    int rv = ops_leader_call(&m->c, &m->w, type, body,
                             rz_mono_ms() + m->timeout_ms, r, errmsg);
    if (rv != 0) {
        fprintf(stderr, "ratuszctl %s: %s: no leader answered (%s).\n", m->cmd,
                what, errmsg);
        return CTL_EXIT_UNREACHABLE;
    }
    if (r->code != 0) {
        if (r->code == RZ_EQUORUM) {
            fprintf(stderr,
                    "ratuszctl %s: %s refused: %s. Bring the missing voters "
                    "back first, or add --force if they are gone for good "
                    "(docs/operations.md).\n",
                    m->cmd, what,
                    r->message[0] ? r->message : rz_strerror(RZ_EQUORUM));
        } else {
            fprintf(stderr, "ratuszctl %s: %s failed: %s (%s).\n", m->cmd, what,
                    r->message[0] ? r->message : rz_strerror(r->code),
                    rz_errname(r->code));
        }
        return CTL_EXIT_FAIL;
    }
    return 0;
}

static int simple_change(mctx *m, uint32_t type, uint64_t id, bool force,
                         const char *address, uint64_t *index, const char *what)
{
    rz_buf body;
    ops_reply r;
    int rv;
    rz_buf_init(&body, 512);
    rz_mp_put_map(
        &body, address != NULL ? 2 : (type == OPS_MSG_MEMBER_REMOVE ? 2 : 1));
    rz_mp_put_cstr(&body, "id");
    rz_mp_put_uint(&body, id);
    if (address != NULL) {
        rz_mp_put_cstr(&body, "address");
        rz_mp_put_cstr(&body, address);
    } else if (type == OPS_MSG_MEMBER_REMOVE) {
        rz_mp_put_cstr(&body, "force");
        rz_mp_put_bool(&body, force);
    }
    ops_reply_init(&r);
    rv = leader_request(m, type, &body, &r, what);
    if (rv == 0) {
        *index = 0;
        (void)ops_map_u64(&r.body, "index", index);
    }
    ops_reply_close(&r);
    rz_buf_close(&body);
    return rv;
}

/* The leader's STATUS (via the connection's current node or a redirect). */
static int leader_status(mctx *m, ops_status *st)
{
    char errmsg[RZ_ERRMSG_BYTES];
    for (size_t i = 0; i <= m->w.n; i++) {
        const char *addr = i == 0 && m->c.fd >= 0 ? m->c.addr
                           : i == 0               ? m->w.ep[0].client
                                                  : m->w.ep[i - 1].client;
        if (ops_conn_open(&m->c, addr, 1000, errmsg) != 0 ||
            ops_status_get(&m->c, 2000, st, errmsg) != 0) {
            continue;
        }
        if (!strcmp(st->state, "leader")) {
            return 0;
        }
        if (st->leader_address[0] &&
            ops_conn_open(&m->c, st->leader_address, 1000, errmsg) == 0 &&
            ops_status_get(&m->c, 2000, st, errmsg) == 0 &&
            !strcmp(st->state, "leader")) {
            return 0;
        }
    }
    return RZ_ENOTLEADER;
}

/* Waits until member id has caught up: the leader's match index for it
 * reaches the leader's commit index seen when waiting began, and the node
 * itself (asked at client_address when known) has applied that far. */
static int wait_caught_up(mctx *m, uint64_t id, const char *client_address)
{
    uint64_t deadline = rz_mono_ms() + m->timeout_ms;
    uint64_t target = 0;
    uint64_t last_print = 0;
    ops_conn nc;
    char errmsg[RZ_ERRMSG_BYTES];
    int rv = RZ_ETIMEDOUT;
    ops_conn_init(&nc, &m->id);
    while (rz_mono_ms() < deadline) {
        ops_status st;
        uint64_t match = 0, applied = 0;
        bool found = false;
        if (leader_status(m, &st) != 0) {
            nap_ms(200);
            continue;
        }
        if (target == 0) {
            target = st.commit_index;
        }
        for (size_t i = 0; i < st.n_members; i++) {
            if (st.members[i].id == id) {
                match = st.members[i].match_index;
                found = true;
            }
        }
        if (!found) {
            fprintf(stderr,
                    "ratuszctl %s: node %llu is not in the "
                    "configuration any more.\n",
                    m->cmd, (unsigned long long)id);
            rv = RZ_ENOTFOUND;
            break;
        }
        if (client_address != NULL) {
            ops_status ns;
            if (ops_conn_open(&nc, client_address, 500, errmsg) == 0 &&
                ops_status_get(&nc, 1000, &ns, errmsg) == 0) {
                applied = ns.applied_index;
            }
        } else {
            applied = match;
        }
        if (!m->quiet && (rz_mono_ms() - last_print >= 1000 ||
                          (match >= target && applied >= target))) {
            uint64_t have = applied < match ? applied : match;
            double pct = target == 0 || have >= target
                             ? 100.0
                             : 100.0 * (double)have / (double)target;
            last_print = rz_mono_ms();
            fprintf(stderr,
                    "node %llu catching up: match index %llu, applied %llu, "
                    "target %llu (%.0f%%)\n",
                    (unsigned long long)id, (unsigned long long)match,
                    (unsigned long long)applied, (unsigned long long)target,
                    pct);
        }
        if (match >= target && applied >= target) {
            rv = 0;
            break;
        }
        nap_ms(200);
    }
    ops_conn_close(&nc);
    if (rv == RZ_ETIMEDOUT) {
        fprintf(stderr,
                "ratuszctl %s: node %llu did not catch up within %llu ms; it "
                "stays a non-voter (check that it runs and reaches the "
                "leader's peer port, then 'ratuszctl member promote %llu').\n",
                m->cmd, (unsigned long long)id,
                (unsigned long long)m->timeout_ms, (unsigned long long)id);
    }
    return rv;
}

/* "PEER_H:P/CLIENT_H:P" -> the client part. */
static const char *client_part(const char *address)
{
    const char *slash = strchr(address, '/');
    return slash != NULL && slash[1] ? slash + 1 : NULL;
}

static bool address_ok(const char *a)
{
    const char *slash = strchr(a, '/');
    return slash != NULL && slash != a && strchr(a, ':') != NULL &&
           strchr(slash, ':') != NULL && strlen(a) < CTL_ADDR_BYTES;
}

static int add_and_promote(mctx *m, uint64_t id, const char *address)
{
    uint64_t index = 0;
    int rv = simple_change(m, OPS_MSG_MEMBER_ADD, id, false, address, &index,
                           "member add");
    if (rv != 0) {
        return rv;
    }
    if (!m->quiet) {
        fprintf(stderr, "node %llu added as a non-voter (index %llu)\n",
                (unsigned long long)id, (unsigned long long)index);
    }
    if (wait_caught_up(m, id, client_part(address)) != 0) {
        return CTL_EXIT_FAIL;
    }
    rv = simple_change(m, OPS_MSG_MEMBER_PROMOTE, id, false, NULL, &index,
                       "member promote");
    if (rv == 0 && !m->quiet) {
        fprintf(stderr, "node %llu promoted to voter (index %llu)\n",
                (unsigned long long)id, (unsigned long long)index);
    }
    return rv;
}

static int transfer(mctx *m, uint64_t to, uint64_t *leader)
{
    rz_buf body;
    ops_reply r;
    int rv;
    rz_buf_init(&body, 64);
    rz_mp_put_map(&body, 1);
    rz_mp_put_cstr(&body, "id");
    rz_mp_put_uint(&body, to);
    ops_reply_init(&r);
    rv = leader_request(m, OPS_MSG_LEADER_TRANSFER, &body, &r,
                        "leader transfer");
    if (rv == 0 && !ops_map_u64(&r.body, "leader_id", leader)) {
        rv = CTL_EXIT_FAIL;
    }
    ops_reply_close(&r);
    rz_buf_close(&body);
    return rv;
}

static const char member_usage[] =
    "usage: ratuszctl member add ID PEER_H:P/CLIENT_H:P   join as non-voter, "
    "wait until\n"
    "                                                    caught up, promote\n"
    "       ratuszctl member promote ID\n"
    "       ratuszctl member remove ID [--force]\n"
    "       ratuszctl member replace OLD_ID NEW_ID PEER_H:P/CLIENT_H:P\n"
    "  flags: --timeout-ms N (catch-up wait, default 600000), --quiet, "
    "--json,\n"
    "         --endpoints H:P,..., --identity FILE\n"
    "A change that would leave fewer live voters than a quorum is refused "
    "(RZ_EQUORUM)\nunless --force. The new node must run first (its own "
    "node.identity, role node,\ncluster.bootstrap = false).\n"
    "exit codes: 0 ok, 1 refused or failed, 2 usage error, 3 no leader\n";

static int mctx_open(mctx *m, const char *cmd, ctl_opt *opts)
{
    uint64_t v;
    int rv;
    memset(m, 0, sizeof *m);
    m->cmd = cmd;
    m->timeout_ms = 600000;
    if (opts[0].seen) {
        if (!ctl_parse_u64(opts[0].value, &v) || v == 0 || v > 86400000) {
            return ctl_usage_err(cmd, "--timeout-ms wants 1..86400000");
        }
        m->timeout_ms = v;
    }
    m->quiet = opts[1].seen;
    m->json = opts[2].seen;
    rv = ctl_where_resolve(cmd, opts[3].value, opts[4].value, &m->w);
    if (rv != 0) {
        return rv;
    }
    rv = ops_identity_load(cmd, &m->w, &m->id);
    if (rv != 0) {
        return rv;
    }
    ops_conn_init(&m->c, &m->id);
    return 0;
}

static void mctx_close(mctx *m)
{
    ops_conn_close(&m->c);
    rz_identity_wipe(&m->id);
}

static void result_print(const mctx *m, const char *op, uint64_t id, bool ok)
{
    ctl_out o;
    memset(&o, 0, sizeof o);
    o.json = m->json;
    ctl_out_str(&o, "member", op);
    ctl_out_u64(&o, "id", id);
    ctl_out_str(&o, "result", ok ? "ok" : "failed");
    ctl_out_end(&o);
}

int ctl_ops_member_main(int argc, char **argv)
{
    ctl_opt opts[] = {
        {"--timeout-ms", true, NULL, false}, {"--quiet", false, NULL, false},
        {"--json", false, NULL, false},      {"--endpoints", true, NULL, false},
        {"--identity", true, NULL, false},   {"--force", false, NULL, false}};
    const char *pos[4];
    size_t n_pos;
    const char *sub;
    uint64_t id = 0, id2 = 0, index = 0;
    mctx m;
    int rv;
    if (argc < 2 || ctl_is_help(argc - 1, argv + 1)) {
        fputs(member_usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? CTL_EXIT_USAGE : CTL_EXIT_OK;
    }
    sub = argv[1];
    rv = ctl_args_parse("member", argc - 2, argv + 2, opts, 6, pos, 4, &n_pos);
    if (rv != 0) {
        return rv;
    }
    if (!strcmp(sub, "add") || !strcmp(sub, "promote") ||
        !strcmp(sub, "remove")) {
        size_t want = !strcmp(sub, "add") ? 2 : 1;
        if (n_pos != want || !ctl_parse_u64(pos[0], &id) || id == 0 ||
            (want == 2 && !address_ok(pos[1]))) {
            return ctl_usage_err("member", "%s wants %s", sub,
                                 want == 2
                                     ? "ID PEER_HOST:PORT/CLIENT_HOST:PORT"
                                     : "ID (a node id > 0)");
        }
    } else if (!strcmp(sub, "replace")) {
        if (n_pos != 3 || !ctl_parse_u64(pos[0], &id) || id == 0 ||
            !ctl_parse_u64(pos[1], &id2) || id2 == 0 || id == id2 ||
            !address_ok(pos[2])) {
            return ctl_usage_err("member", "replace wants OLD_ID NEW_ID "
                                           "PEER_HOST:PORT/CLIENT_HOST:PORT "
                                           "with two different ids");
        }
    } else {
        return ctl_usage_err("member",
                             "unknown subcommand '%.40s' (list, "
                             "add, promote, remove, replace)",
                             sub);
    }
    if (opts[5].seen && strcmp(sub, "remove") != 0 &&
        strcmp(sub, "replace") != 0) {
        return ctl_usage_err("member", "--force goes with remove or replace");
    }
    rv = mctx_open(&m, "member", opts);
    if (rv != 0) {
        return rv;
    }
    if (!strcmp(sub, "add")) {
        rv = add_and_promote(&m, id, pos[1]);
    } else if (!strcmp(sub, "promote")) {
        rv = simple_change(&m, OPS_MSG_MEMBER_PROMOTE, id, false, NULL, &index,
                           "member promote");
    } else if (!strcmp(sub, "remove")) {
        rv = simple_change(&m, OPS_MSG_MEMBER_REMOVE, id, opts[5].seen, NULL,
                           &index, "member remove");
    } else {
        /* replace: the new node joins and is promoted before the old one
         * leaves, so the voter count never drops below the old one; a
         * leader being replaced hands over first. */
        ops_status st;
        rv = add_and_promote(&m, id2, pos[2]);
        if (rv == 0 && leader_status(&m, &st) == 0 && st.node_id == id) {
            uint64_t leader = 0;
            rv = transfer(&m, id2, &leader);
            if (rv == 0 && leader == id) {
                fprintf(stderr,
                        "ratuszctl member: node %llu leads and did "
                        "not hand over; retry the remove later.\n",
                        (unsigned long long)id);
                rv = CTL_EXIT_FAIL;
            }
        }
        if (rv == 0) {
            rv = simple_change(&m, OPS_MSG_MEMBER_REMOVE, id, opts[5].seen,
                               NULL, &index, "member remove");
        }
    }
    result_print(&m, sub, !strcmp(sub, "replace") ? id2 : id, rv == 0);
    mctx_close(&m);
    return rv;
}

int ctl_leader_main(int argc, char **argv)
{
    ctl_opt opts[] = {
        {"--timeout-ms", true, NULL, false}, {"--quiet", false, NULL, false},
        {"--json", false, NULL, false},      {"--endpoints", true, NULL, false},
        {"--identity", true, NULL, false},   {"--to", true, NULL, false}};
    const char *pos[1];
    size_t n_pos;
    uint64_t to = 0, leader = 0;
    ops_status before;
    mctx m;
    ctl_out o;
    int rv;
    if (argc < 2 || ctl_is_help(argc - 1, argv + 1) ||
        strcmp(argv[1], "transfer") != 0) {
        if (argc >= 2 && ctl_is_help(argc - 1, argv + 1)) {
            printf("usage: ratuszctl leader transfer [--to ID] [--json]\n"
                   "Hands leadership to node ID (default: any up-to-date "
                   "voter) and prints the\nleader afterwards.\n"
                   "exit codes: 0 moved, 1 the transfer gave up, 2 usage "
                   "error, 3 no leader\n");
            return CTL_EXIT_OK;
        }
        return ctl_usage_err("leader", "the subcommand is 'transfer'");
    }
    rv = ctl_args_parse("leader", argc - 2, argv + 2, opts, 6, pos, 0, &n_pos);
    if (rv != 0) {
        return rv;
    }
    if (opts[5].seen && (!ctl_parse_u64(opts[5].value, &to) || to == 0)) {
        return ctl_usage_err("leader", "--to wants a node id > 0");
    }
    if (!opts[0].seen) {
        opts[0].seen = true;
        opts[0].value = "15000";
    }
    rv = mctx_open(&m, "leader", opts);
    if (rv != 0) {
        return rv;
    }
    memset(&before, 0, sizeof before);
    (void)leader_status(&m, &before);
    if (to != 0 && before.node_id == to) {
        /* Nothing to move: the node refuses a transfer to itself. */
        leader = to;
        rv = 0;
        goto print;
    }
    rv = transfer(&m, to, &leader);
    if (rv == 0 && (leader == before.node_id || (to != 0 && leader != to))) {
        fprintf(stderr,
                "ratuszctl leader: the transfer gave up; node %llu leads "
                "(is the target a caught-up voter that is running?).\n",
                (unsigned long long)leader);
        rv = CTL_EXIT_FAIL;
    }
print:
    memset(&o, 0, sizeof o);
    o.json = m.json;
    ctl_out_u64(&o, "old_leader", before.node_id);
    ctl_out_u64(&o, "leader", leader);
    ctl_out_str(&o, "result",
                rv != 0                    ? "failed"
                : leader == before.node_id ? "already leads"
                                           : "moved");
    ctl_out_end(&o);
    mctx_close(&m);
    return rv;
}
