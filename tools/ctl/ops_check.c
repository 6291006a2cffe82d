/* ratuszctl check: state checksums of every replica compared at one applied
 * index (DESIGN.md §6: every replica that applies index i has the same
 * state at i), and the replica that differs named. */
#include <errno.h>
#include <stdio.h>
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

int ops_check_cluster(const ctl_where *w, const rz_identity *id, bool scan,
                      uint64_t timeout_ms, ops_check_result *res, char *errmsg)
{
    uint64_t deadline = rz_mono_ms() + timeout_ms;
    ops_conn c;
    int rv = RZ_ETIMEDOUT;
    memset(res, 0, sizeof *res);
    ops_conn_init(&c, id);
    /* Bounded by the deadline; each pass asks every node once. */
    do {
        bool all = true;
        bool same_index = true;
        res->n = w->n;
        for (size_t i = 0; i < w->n; i++) {
            ops_check_node *n = &res->node[i];
            memset(n, 0, sizeof *n);
            snprintf(n->address, sizeof n->address, "%s", w->ep[i].client);
            if (ops_conn_open(&c, w->ep[i].client, 1000, n->error) == 0 &&
                ops_checksum_get(&c, scan, 10000, &n->sum, n->error) == 0) {
                n->ok = true;
                if (n->sum.applied_index != res->node[0].sum.applied_index) {
                    same_index = false;
                }
            } else {
                all = false;
            }
        }
        if (all && same_index) {
            rv = 0;
            break;
        }
        nap_ms(100);
    } while (rz_mono_ms() < deadline);
    ops_conn_close(&c);
    if (rv != 0) {
        size_t ok = 0;
        for (size_t i = 0; i < res->n; i++) {
            ok += res->node[i].ok;
        }
        rz_errmsg_set(errmsg,
                      ok < res->n ? "%zu of %zu nodes did not answer CHECKSUM"
                                  : "applied indexes did not meet within the "
                                    "timeout (%zu of %zu nodes answered); "
                                    "retry when writes are quiet",
                      res->n - ok, res->n);
        return rv;
    }
    /* The reference is the checksum most nodes have (ties: the first). */
    res->consistent = true;
    {
        size_t best = 0, best_votes = 0;
        for (size_t i = 0; i < res->n; i++) {
            size_t votes = 0;
            for (size_t j = 0; j < res->n; j++) {
                votes += !memcmp(res->node[i].sum.checksum,
                                 res->node[j].sum.checksum, 32);
            }
            if (votes > best_votes) {
                best = i;
                best_votes = votes;
            }
        }
        for (size_t i = 0; i < res->n; i++) {
            res->node[i].differs =
                memcmp(res->node[i].sum.checksum, res->node[best].sum.checksum,
                       32) != 0 ||
                memcmp(res->node[i].sum.data_checksum,
                       res->node[best].sum.data_checksum, 32) != 0;
            if (res->node[i].differs) {
                res->consistent = false;
            }
        }
    }
    return 0;
}

static void check_usage(FILE *f)
{
    fprintf(f,
            "usage: ratuszctl check [--scan] [--timeout-ms N] [--json]\n"
            "                       [--endpoints H:P,...] [--identity FILE]\n"
            "Asks every node for its state checksum (CHECKSUM) until all "
            "report the same\napplied index, then compares them and names "
            "any replica that differs.\n--scan recomputes each checksum by "
            "a full table scan (slower, checks the\nincremental one too).\n"
            "exit codes: 0 consistent, 1 a replica differs or the check "
            "could not finish,\n2 usage error\n");
}

int ctl_check_main(int argc, char **argv)
{
    ctl_opt opts[] = {{"--scan", false, NULL, false},
                      {"--timeout-ms", true, NULL, false},
                      {"--json", false, NULL, false},
                      {"--endpoints", true, NULL, false},
                      {"--identity", true, NULL, false}};
    const char *pos[1];
    size_t n_pos;
    uint64_t timeout_ms = 30000;
    ctl_where w;
    rz_identity id;
    ops_check_result res;
    char errmsg[RZ_ERRMSG_BYTES] = "";
    int rv;
    if (ctl_is_help(argc - 1, argv + 1)) {
        check_usage(stdout);
        return CTL_EXIT_OK;
    }
    rv = ctl_args_parse("check", argc - 1, argv + 1, opts, 5, pos, 0, &n_pos);
    if (rv != 0) {
        return rv;
    }
    if (opts[1].seen && (!ctl_parse_u64(opts[1].value, &timeout_ms) ||
                         timeout_ms == 0 || timeout_ms > 3600000)) {
        return ctl_usage_err("check", "--timeout-ms wants 1..3600000");
    }
    rv = ctl_where_resolve("check", opts[3].value, opts[4].value, &w);
    if (rv != 0) {
        return rv;
    }
    rv = ops_identity_load("check", &w, &id);
    if (rv != 0) {
        return rv;
    }
    rv = ops_check_cluster(&w, &id, opts[0].seen, timeout_ms, &res, errmsg);
    rz_identity_wipe(&id);
    if (opts[2].seen) {
        ctl_json j;
        ctl_json_init(&j, stdout);
        ctl_json_obj_begin(&j, NULL);
        ctl_json_bool(&j, "consistent", rv == 0 && res.consistent);
        if (rv != 0) {
            ctl_json_str(&j, "error", errmsg);
        }
        ctl_json_arr_begin(&j, "nodes");
        for (size_t i = 0; i < res.n; i++) {
            const ops_check_node *n = &res.node[i];
            ctl_json_obj_begin(&j, NULL);
            ctl_json_str(&j, "address", n->address);
            ctl_json_bool(&j, "answered", n->ok);
            if (n->ok) {
                ctl_json_u64(&j, "node_id", n->sum.node_id);
                ctl_json_u64(&j, "applied_index", n->sum.applied_index);
                ctl_json_hex(&j, "checksum", n->sum.checksum, 32);
                ctl_json_hex(&j, "data_checksum", n->sum.data_checksum, 32);
                ctl_json_bool(&j, "differs", n->differs);
            } else {
                ctl_json_str(&j, "error", n->error);
            }
            ctl_json_obj_end(&j);
        }
        ctl_json_arr_end(&j);
        ctl_json_obj_end(&j);
        ctl_json_end(&j);
    } else {
        static const char *const heads[] = {"NODE", "ADDRESS", "APPLIED",
                                            "CHECKSUM", "RESULT"};
        ctl_table t;
        ctl_table_init(&t, 5, heads);
        for (size_t i = 0; i < res.n; i++) {
            const ops_check_node *n = &res.node[i];
            char hex[65];
            if (n->ok) {
                ops_hex(n->sum.checksum, 8, hex);
                ctl_table_cellf(&t, "%llu", (unsigned long long)n->sum.node_id);
                ctl_table_cell(&t, n->address);
                ctl_table_cellf(&t, "%llu",
                                (unsigned long long)n->sum.applied_index);
                ctl_table_cellf(&t, "%s...", hex);
                ctl_table_cell(&t, rv != 0      ? "?"
                                   : n->differs ? "DIFFERS"
                                                : "same");
            } else {
                ctl_table_cell(&t, "?");
                ctl_table_cell(&t, n->address);
                ctl_table_cell(&t, "-");
                ctl_table_cell(&t, "-");
                ctl_table_cell(&t, n->error);
            }
        }
        ctl_table_print(&t, stdout);
        ctl_table_close(&t);
        if (rv != 0) {
            printf("check did not finish: %s\n", errmsg);
        } else if (res.consistent) {
            printf("all %zu replicas have the same state at index %llu\n",
                   res.n, (unsigned long long)res.node[0].sum.applied_index);
        } else {
            for (size_t i = 0; i < res.n; i++) {
                if (res.node[i].differs) {
                    printf("node %llu (%s) DIFFERS from the others at index "
                           "%llu: stop it and rebuild it from a replica "
                           "(docs/operations.md)\n",
                           (unsigned long long)res.node[i].sum.node_id,
                           res.node[i].address,
                           (unsigned long long)res.node[i].sum.applied_index);
                }
            }
        }
    }
    return rv == 0 && res.consistent ? CTL_EXIT_OK : CTL_EXIT_FAIL;
}
