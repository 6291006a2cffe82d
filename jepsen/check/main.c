/* ratusz-check: checks a recorded client history for linearizability
 * (README.md in this folder). The last line printed is the verdict. */
#include "check.h"

#include "common/common.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

enum {
    EXIT_LINEARIZABLE = 0,
    EXIT_NOT_LINEARIZABLE = 1,
    EXIT_BAD_INPUT = 2,
    EXIT_UNKNOWN = 3
};

static void usage(FILE *f)
{
    fprintf(f, "usage: ratusz-check --model register|kv|case "
               "--format jepsen-log|edn|jsonl [options] FILE\n"
               "  FILE            a history, or - for standard input\n"
               "  --timeout SEC   give up after SEC seconds (verdict unknown, "
               "exit 3)\n"
               "  --max-memory-mb N  memo table budget per key (default "
               "1024)\n"
               "  --shrink-seconds S  time to shrink each failing key "
               "(default 2; 0 disables)\n"
               "  --first         stop at the first key that fails\n"
               "  --quiet         print only the verdict\n"
               "exit status: 0 linearizable, 1 not linearizable, 2 unreadable "
               "input or bad usage, 3 unknown (budget ran out)\n");
}

static int parse_double(const char *s, double *out)
{
    char *end;
    errno = 0;
    *out = strtod(s, &end);
    return errno != 0 || end == s || *end != '\0' || *out < 0 ? -1 : 0;
}

int main(int argc, char **argv)
{
    rz_check_model model = 0;
    rz_check_format format = 0;
    rz_check_options opts = {0};
    const char *path = NULL;
    bool quiet = false;
    char errmsg[RZ_ERRMSG_BYTES];
    rz_check_history *h = NULL;
    rz_check_result res;
    FILE *in;
    int rv;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        double d;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--quiet") == 0) {
            quiet = true;
        } else if (strcmp(a, "--first") == 0) {
            opts.stop_at_first_fail = true;
        } else if (strcmp(a, "--model") == 0 && v != NULL) {
            if (rz_check_model_parse(v, &model) != 0) {
                fprintf(stderr, "ratusz-check: unknown model '%s'\n", v);
                return EXIT_BAD_INPUT;
            }
            i++;
        } else if (strcmp(a, "--format") == 0 && v != NULL) {
            if (rz_check_format_parse(v, &format) != 0) {
                fprintf(stderr, "ratusz-check: unknown format '%s'\n", v);
                return EXIT_BAD_INPUT;
            }
            i++;
        } else if ((strcmp(a, "--timeout") == 0 ||
                    strcmp(a, "--shrink-seconds") == 0 ||
                    strcmp(a, "--max-memory-mb") == 0) &&
                   v != NULL) {
            if (parse_double(v, &d) != 0) {
                fprintf(stderr, "ratusz-check: %s needs a number >= 0\n", a);
                return EXIT_BAD_INPUT;
            }
            if (a[2] == 't') {
                opts.max_seconds = d;
            } else if (a[2] == 's') {
                opts.shrink_seconds = d == 0 ? -1 : d;
            } else {
                opts.max_cache_mb = (uint64_t)d;
            }
            i++;
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "ratusz-check: unknown option '%s'\n", a);
            usage(stderr);
            return EXIT_BAD_INPUT;
        } else if (path == NULL) {
            path = a;
        } else {
            fprintf(stderr, "ratusz-check: one history at a time\n");
            return EXIT_BAD_INPUT;
        }
    }
    if (model == 0 || format == 0 || path == NULL) {
        usage(stderr);
        return EXIT_BAD_INPUT;
    }
    in = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    if (in == NULL) {
        fprintf(stderr, "ratusz-check: cannot open %s: %s\n", path,
                strerror(errno));
        return EXIT_BAD_INPUT;
    }
    rv = rz_check_history_read(in, format, model, &h, errmsg);
    if (in != stdin) {
        fclose(in);
    }
    if (rv != 0) {
        fprintf(stderr, "ratusz-check: %s: %s\n", path,
                rv == RZ_EMALFORMED ? errmsg : rz_strerror(rv));
        return EXIT_BAD_INPUT;
    }
    rv = rz_check_run(h, &opts, &res);
    if (rv != 0) {
        fprintf(stderr, "ratusz-check: %s\n", rz_strerror(rv));
        rz_check_history_destroy(h);
        return EXIT_BAD_INPUT;
    }
    if (!quiet) {
        fputs(res.explanation, stdout);
        printf("checked %zu operations on %zu keys in %.3f s (%llu search "
               "steps): %zu not linearizable, %zu unknown\n",
               res.n_ops, res.n_keys, res.seconds,
               (unsigned long long)res.n_steps, res.n_bad_keys, res.n_unknown);
    }
    switch (res.verdict) {
    case RZ_CHECK_LINEARIZABLE:
        rv = EXIT_LINEARIZABLE;
        puts("linearizable");
        break;
    case RZ_CHECK_NOT_LINEARIZABLE:
        rv = EXIT_NOT_LINEARIZABLE;
        puts("not linearizable");
        break;
    default:
        rv = EXIT_UNKNOWN;
        puts("unknown");
        break;
    }
    rz_check_result_close(&res);
    rz_check_history_destroy(h);
    return rv;
}
