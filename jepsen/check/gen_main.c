/* ratusz-check-gen: writes a synthetic case history (jsonl) for the
 * checker, linearizable or with one subtle violation (--break). */
#include "check.h"

#include "common/common.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: ratusz-check-gen [--ops N] [--cases K] "
               "[--processes P] [--seed S] [--info-rate R]\n"
               "         [--break none|stale-read|lost-write|"
               "duplicate-create|version-jump] [-o FILE]\n"
               "defaults: 1000 ops, 10 cases, 5 processes, seed 1, info "
               "rate 0.02; writes to standard output\n");
}

static int parse_u64(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    *out = strtoull(s, &end, 10);
    return errno != 0 || end == s || *end != '\0' || s[0] == '-' ? -1 : 0;
}

int main(int argc, char **argv)
{
    rz_check_gen_options o = {.n_ops = 1000,
                              .n_cases = 10,
                              .n_processes = 5,
                              .seed = 1,
                              .info_rate = 0.02};
    const char *path = NULL;
    FILE *out = stdout;
    int rv;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        uint64_t n = 0;
        bool bad = v == NULL;
        if (strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        }
        if (!bad && strcmp(a, "--break") == 0) {
            bad = rz_check_break_parse(v, &o.breaks) != 0;
        } else if (!bad && strcmp(a, "-o") == 0) {
            path = v;
        } else if (!bad && strcmp(a, "--info-rate") == 0) {
            char *end;
            o.info_rate = strtod(v, &end);
            bad = *end != '\0' || end == v;
        } else if (!bad && parse_u64(v, &n) == 0) {
            if (strcmp(a, "--ops") == 0) {
                o.n_ops = n;
            } else if (strcmp(a, "--cases") == 0 && n <= UINT32_MAX) {
                o.n_cases = (uint32_t)n;
            } else if (strcmp(a, "--processes") == 0 && n <= 100000) {
                o.n_processes = (uint32_t)n;
            } else if (strcmp(a, "--seed") == 0) {
                o.seed = n;
            } else {
                bad = true;
            }
        } else {
            bad = true;
        }
        if (bad) {
            fprintf(stderr, "ratusz-check-gen: bad argument '%s'\n", a);
            usage(stderr);
            return 2;
        }
        i++;
    }
    if (path != NULL) {
        out = fopen(path, "w");
        if (out == NULL) {
            fprintf(stderr, "ratusz-check-gen: cannot write %s: %s\n", path,
                    strerror(errno));
            return 2;
        }
    }
    rv = rz_check_gen_write(out, &o);
    if (out != stdout && fclose(out) != 0 && rv == 0) {
        rv = RZ_EIO;
    }
    if (rv == RZ_ENOTFOUND) {
        fprintf(stderr, "ratusz-check-gen: no place for that break in this "
                        "history; try more operations or another seed\n");
        return 1;
    }
    if (rv != 0) {
        fprintf(stderr, "ratusz-check-gen: %s\n", rz_strerror(rv));
        return rv == RZ_EINVAL ? 2 : 1;
    }
    return 0;
}
