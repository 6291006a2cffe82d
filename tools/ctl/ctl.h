/* ratuszctl internals: subcommand handlers, exit codes, argument parsing
 * shared by the command groups. */
#ifndef RZ_CTL_H
#define RZ_CTL_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CTL_EXIT_OK 0
#define CTL_EXIT_FAIL 1  /* the operation failed (error from the cluster) */
#define CTL_EXIT_USAGE 2 /* unknown subcommand/flag, missing/bad value */
#define CTL_EXIT_UNREACHABLE 3 /* no node of the cluster could be reached */

int ctl_keys_main(int argc, char **argv);
int ctl_status_main(int argc, char **argv);
int ctl_case_main(int argc, char **argv);
int ctl_catalog_main(int argc, char **argv);
int ctl_member_main(int argc, char **argv);

/* One flag of a command: `flag` ("--status"), whether it takes a value, and
 * what the parser found (value borrowed from argv). */
typedef struct ctl_opt
{
    const char *flag;
    bool has_value;
    const char *value;
    bool seen;
} ctl_opt;

/* Parses argv[0..argc) against opts (flags may be "--f V" or "--f=V"; "--"
 * ends the flags) and collects at most max_pos positional arguments.
 * Returns 0 or CTL_EXIT_USAGE after printing one sentence naming `cmd`. */
int ctl_args_parse(const char *cmd, int argc, char **argv, ctl_opt *opts,
                   size_t n_opts, const char **pos, size_t max_pos,
                   size_t *n_pos);
/* Prints "ratuszctl CMD: <what>; run 'ratuszctl CMD --help'." and returns
 * CTL_EXIT_USAGE. */
int ctl_usage_err(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Strict decimal: digits only, no sign, no overflow. */
bool ctl_parse_u64(const char *s, uint64_t *out);
/* True when --help or -h appears before "--". */
bool ctl_is_help(int argc, char **argv);

/* ---- where the cluster is (where.c) -------------------------------------- */

/* Most nodes ratuszctl talks to (a cluster is 3-7 voters plus a few
 * non-voters while members change). */
#define CTL_MAX_ENDPOINTS 16
#define CTL_ADDR_BYTES 128
#define CTL_PATH_BYTES 4096

typedef struct ctl_endpoint
{
    uint64_t id;                 /* 0 = unknown (given as --endpoints) */
    char client[CTL_ADDR_BYTES]; /* HOST:PORT of the client port */
    char peer[CTL_ADDR_BYTES];   /* "" when unknown */
} ctl_endpoint;

typedef struct ctl_where
{
    ctl_endpoint ep[CTL_MAX_ENDPOINTS];
    size_t n;
    char identity[CTL_PATH_BYTES];
    char source[CTL_PATH_BYTES]; /* where the endpoints came from */
} ctl_where;

/* Fills *w from the flags (NULL when not given), then RATUSZ_ENDPOINTS /
 * RATUSZ_IDENTITY, then $RATUSZ_VAR (default "var")/cluster.endpoints and
 * operator.identity. 0, or CTL_EXIT_USAGE with one sentence printed. */
int ctl_where_resolve(const char *cmd, const char *flag_endpoints,
                      const char *flag_identity, ctl_where *w);
#endif
