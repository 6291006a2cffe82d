/* ratuszctl argument parsing shared by every command group: flags from a
 * table, positional arguments, strict numbers, usage errors (exit 2). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/common.h"
#include "ctl.h"

int ctl_usage_err(const char *cmd, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "ratuszctl %s: %s; run 'ratuszctl %s --help'.\n", cmd, msg,
            cmd);
    return CTL_EXIT_USAGE;
}

static ctl_opt *find(ctl_opt *opts, size_t n_opts, const char *s, size_t len)
{
    for (size_t i = 0; i < n_opts; i++)
        if (strlen(opts[i].flag) == len && !strncmp(opts[i].flag, s, len))
            return &opts[i];
    return NULL;
}

int ctl_args_parse(const char *cmd, int argc, char **argv, ctl_opt *opts,
                   size_t n_opts, const char **pos, size_t max_pos,
                   size_t *n_pos)
{
    bool only_pos = false;
    *n_pos = 0;
    for (int i = 0; i < argc; i++) {
        const char *s = argv[i];
        if (!only_pos && !strcmp(s, "--")) {
            only_pos = true;
            continue;
        }
        if (!only_pos && s[0] == '-' && s[1] != '\0') {
            const char *eq = strchr(s, '=');
            size_t len = eq ? (size_t)(eq - s) : strlen(s);
            ctl_opt *o = find(opts, n_opts, s, len);
            if (!o)
                return ctl_usage_err(cmd, "unknown flag '%.*s'",
                                     (int)(len > 60 ? 60 : len), s);
            if (o->seen)
                return ctl_usage_err(cmd, "%s is given twice", o->flag);
            o->seen = true;
            if (!o->has_value) {
                if (eq)
                    return ctl_usage_err(cmd, "%s takes no value", o->flag);
                continue;
            }
            if (eq) {
                o->value = eq + 1;
            } else if (i + 1 < argc) {
                o->value = argv[++i];
            } else {
                return ctl_usage_err(cmd, "%s needs a value", o->flag);
            }
            continue;
        }
        if (*n_pos == max_pos)
            return ctl_usage_err(cmd, "unexpected argument '%.60s'", s);
        pos[(*n_pos)++] = s;
    }
    return 0;
}

bool ctl_parse_u64(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    if (!s || !*s)
        return false;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return false;
        if (v > (UINT64_MAX - 9u) / 10u)
            return false;
        v = v * 10u + (uint64_t)(*s - '0');
    }
    *out = v;
    return true;
}

bool ctl_is_help(int argc, char **argv)
{
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--"))
            return false;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
            return true;
    }
    return false;
}
