/* ratusz-bench: load generator and micro-benchmarks. Benchmarks are not
 * tests: each prints ratios against a baseline measured in the same run. */
#include "bench.h"

#include <stdio.h>
#include <string.h>

typedef struct subcommand
{
    const char *name;
    int (*run)(int argc, char **argv);
    const char *help;
} subcommand;

static const subcommand subcommands[] = {
#ifdef RZ_BENCH_HAVE_STORAGE
    {"storage", rz_bench_storage,
     "state machine: creates, status changes, gets, lists vs raw mdb_put"},
#endif
#ifdef RZ_BENCH_HAVE_WIRE
    {"wire", rz_bench_wire,
     "secure channel: handshakes and seal/open vs memcpy"},
#endif
#ifdef RZ_BENCH_HAVE_LOG
    {"log", rz_bench_log,
     "raft log store: appends and group commit vs fdatasync"},
#endif
#ifdef RZ_BENCH_HAVE_CLUSTER
    {"cluster", rz_bench_cluster, "three-node cluster: creates and gets"},
#endif
    {NULL, NULL, NULL},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: ratusz-bench SUBCOMMAND [options]\n\nsubcommands:\n");
    for (size_t i = 0; subcommands[i].name != NULL; i++) {
        fprintf(out, "  %-10s %s\n", subcommands[i].name, subcommands[i].help);
    }
    fprintf(out, "\nEach prints one JSON object as its last line of output.\n"
                 "'ratusz-bench SUBCOMMAND --help' lists its options.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (size_t i = 0; subcommands[i].name != NULL; i++) {
        if (strcmp(argv[1], subcommands[i].name) == 0) {
            return subcommands[i].run(argc - 1, argv + 1);
        }
    }
    fprintf(stderr, "ratusz-bench: unknown subcommand '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
