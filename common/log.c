/* logfmt logging to stderr: one line per event, one write(2) per line. */
#include "common.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* One log line never exceeds this; longer lines are truncated. */
#define LOG_LINE_MAX_BYTES 2048
#define LOG_CONTEXT_MAX_BYTES 128

static rz_log_level log_level = RZ_LOG_INFO;
static char log_context[LOG_CONTEXT_MAX_BYTES];

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void rz_log_set_level(rz_log_level level)
{
    RZ_PRE(level >= RZ_LOG_DEBUG && level <= RZ_LOG_ERROR);
    log_level = level;
}

int rz_log_level_parse(const char *s, rz_log_level *out)
{
    for (size_t i = 0; i < RZ_ARRAY_LEN(level_names); i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (rz_log_level)i;
            return 0;
        }
    }
    return RZ_EINVAL;
}

void rz_log_set_context(const char *kv)
{
    if (kv == NULL) {
        log_context[0] = '\0';
        return;
    }
    snprintf(log_context, sizeof(log_context), "%s", kv);
}

const char *rz_log_quote(char *out, size_t out_size, const char *s)
{
    size_t n = 0;
    RZ_PRE(out_size >= 3);
    out[n++] = '"';
    for (const char *p = s; *p != '\0' && n + 3 < out_size; p++) {
        char c = *p;
        if (c == '"' || c == '\\') {
            out[n++] = '\\';
            out[n++] = c;
        } else if (c == '\n') {
            out[n++] = '\\';
            out[n++] = 'n';
        } else if ((unsigned char)c < 0x20) {
            out[n++] = '?';
        } else {
            out[n++] = c;
        }
    }
    out[n++] = '"';
    out[n] = '\0';
    return out;
}

void rz_log(rz_log_level level, const char *msg, const char *fmt, ...)
{
    char line[LOG_LINE_MAX_BYTES];
    char quoted[512];
    struct timespec ts;
    struct tm tm;
    size_t n;
    int w;

    RZ_PRE(msg != NULL);
    if (level < log_level) {
        return;
    }
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    w = snprintf(line, sizeof(line),
                 "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s%s%s msg=%s",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                 tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000L,
                 level_names[level], log_context[0] != '\0' ? " " : "",
                 log_context, rz_log_quote(quoted, sizeof(quoted), msg));
    n = w < 0 ? 0 : (size_t)w;
    if (n >= sizeof(line)) {
        n = sizeof(line) - 1;
    }
    if (fmt != NULL && fmt[0] != '\0' && n + 2 < sizeof(line)) {
        va_list ap;
        line[n++] = ' ';
        va_start(ap, fmt);
        w = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
        va_end(ap);
        n += w < 0 ? 0 : (size_t)w;
        if (n >= sizeof(line)) {
            n = sizeof(line) - 1;
        }
    }
    line[n++] = '\n';
    /* A short write to stderr is not worth failing over. */
    if (write(STDERR_FILENO, line, n) < 0) {
        return;
    }
}
