/* ratuszctl: the operator's command-line tool. Subcommands live in a table
 * so that later ones (status, case, member, backup) are one line each. */
#include <stdio.h>
#include <string.h>

#include "ctl.h"
#include "ops.h"

typedef struct ctl_cmd
{
    const char *name;
    const char *help;
    int (*run)(int argc, char **argv);
} ctl_cmd;

static const ctl_cmd cmds[] = {
    {"keys", "cluster key and identity files (init, issue, show)",
     ctl_keys_main},
#ifdef RZ_CTL_HAVE_CLIENT
    {"status", "every node's role, term, indexes and lag", ctl_status_main},
    {"case", "cases: create, get, list, update, watch", ctl_case_main},
    {"catalog", "the catalog: load FILE, list", ctl_catalog_main},
    {"member", "the cluster's members: list", ctl_member_main},
#endif
    {"drill", "failover drill while writing (--local: throw-away cluster)",
     ctl_drill_main},
    {"check", "compare replica state checksums at one applied index",
     ctl_check_main},
    {"backup", "consistent checksummed copy of a node's state; verify",
     ctl_backup_main},
    {"restore", "seed a new single-node cluster from a backup",
     ctl_restore_main},
    {"recover", "rebuild from a survivor after quorum loss (--dry-run)",
     ctl_recover_main},
    {"compact", "rewrite a stopped node's state env compacted",
     ctl_compact_main},
    {"leader", "leadership: transfer [--to ID]", ctl_leader_main},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: ratuszctl <command> [args] (ratuszctl <command> "
               "--help)\ncommands:\n");
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        fprintf(f, "  %-8s %s\n", cmds[i].name, cmds[i].help);
    fprintf(f, "exit codes: 0 ok, 1 operation failed, 2 usage error, 3 "
               "cluster unreachable\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return CTL_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(stdout);
        return CTL_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (!strcmp(argv[1], cmds[i].name))
            return cmds[i].run(argc - 1, argv + 1);
    fprintf(stderr,
            "ratuszctl: unknown command '%s'; run 'ratuszctl --help'.\n",
            argv[1]);
    return CTL_EXIT_USAGE;
}
