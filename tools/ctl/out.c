/* ratuszctl output: key/value lines, streaming JSON and tables (out.h). */
#include "out.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"

/* ---- key/value ------------------------------------------------------------
 */

static void put(ctl_out *o, const char *key, const char *val, bool raw)
{
    RZ_ASSERT(o->n < CTL_OUT_MAX_FIELDS);
    o->keys[o->n] = key;
    o->vals[o->n] = val;
    o->raw[o->n] = raw;
    o->n++;
}

void ctl_out_str(ctl_out *o, const char *key, const char *val)
{
    put(o, key, val ? val : "", false);
}

void ctl_out_u64(ctl_out *o, const char *key, uint64_t val)
{
    RZ_ASSERT(o->n < CTL_OUT_MAX_FIELDS);
    snprintf(o->own[o->n], sizeof o->own[o->n], "%" PRIu64, val);
    put(o, key, o->own[o->n], true);
}

void ctl_out_bool(ctl_out *o, const char *key, bool val)
{
    put(o, key, val ? "true" : "false", true);
}

static void hex(char *b, size_t size, const uint8_t *p, size_t n)
{
    size_t i;
    RZ_ASSERT(2 * n < size);
    for (i = 0; i < n; i++)
        snprintf(b + 2 * i, 3, "%02x", p[i]);
    b[2 * i] = '\0';
}

void ctl_out_hex(ctl_out *o, const char *key, const uint8_t *p, size_t n)
{
    RZ_ASSERT(o->n < CTL_OUT_MAX_FIELDS);
    hex(o->own[o->n], sizeof o->own[0], p, n);
    put(o, key, o->own[o->n], false);
}

void ctl_json_escape(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20 || c == 0x7f)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

void ctl_out_end(const ctl_out *o)
{
    size_t w = 0;
    for (int i = 0; i < o->n; i++)
        if (strlen(o->keys[i]) > w)
            w = strlen(o->keys[i]);
    if (o->json) {
        putchar('{');
        for (int i = 0; i < o->n; i++) {
            if (i)
                putchar(',');
            ctl_json_escape(stdout, o->keys[i]);
            putchar(':');
            if (o->raw[i])
                fputs(o->vals[i], stdout);
            else
                ctl_json_escape(stdout, o->vals[i]);
        }
        puts("}");
        fflush(stdout);
        return;
    }
    for (int i = 0; i < o->n; i++)
        printf("%-*s  %s\n", (int)w, o->keys[i], o->vals[i]);
    fflush(stdout);
}

/* ---- streaming JSON -------------------------------------------------------
 */

void ctl_json_init(ctl_json *j, FILE *f)
{
    memset(j, 0, sizeof *j);
    j->f = f;
}

/* Writes the separator and the key of the next value at the current
 * depth. Keys are required inside objects only; the writer does not track
 * which containers are objects, so callers pass NULL inside arrays. */
static void json_key(ctl_json *j, const char *key)
{
    RZ_ASSERT(j->depth >= 0 && j->depth <= CTL_JSON_MAX_DEPTH);
    RZ_ASSERT(j->depth > 0 || key == NULL);
    if (j->comma[j->depth])
        fputc(',', j->f);
    j->comma[j->depth] = true;
    if (key) {
        ctl_json_escape(j->f, key);
        fputc(':', j->f);
    }
}

static void json_open(ctl_json *j, const char *key, char c)
{
    json_key(j, key);
    RZ_ASSERT(j->depth < CTL_JSON_MAX_DEPTH);
    fputc(c, j->f);
    j->depth++;
    j->comma[j->depth] = false;
}

static void json_close(ctl_json *j, char c)
{
    RZ_ASSERT(j->depth > 0);
    j->depth--;
    fputc(c, j->f);
}

void ctl_json_obj_begin(ctl_json *j, const char *key)
{
    json_open(j, key, '{');
}

void ctl_json_obj_end(ctl_json *j)
{
    json_close(j, '}');
}

void ctl_json_arr_begin(ctl_json *j, const char *key)
{
    json_open(j, key, '[');
}

void ctl_json_arr_end(ctl_json *j)
{
    json_close(j, ']');
}

void ctl_json_str(ctl_json *j, const char *key, const char *val)
{
    json_key(j, key);
    ctl_json_escape(j->f, val ? val : "");
}

void ctl_json_u64(ctl_json *j, const char *key, uint64_t val)
{
    json_key(j, key);
    fprintf(j->f, "%" PRIu64, val);
}

void ctl_json_i64(ctl_json *j, const char *key, int64_t val)
{
    json_key(j, key);
    fprintf(j->f, "%" PRId64, val);
}

void ctl_json_f64(ctl_json *j, const char *key, double val)
{
    json_key(j, key);
    /* JSON has no NaN or infinity; the protocol never sends them for a
     * coordinate, but a bad value must not make unparsable output. */
    if (isfinite(val))
        fprintf(j->f, "%.7f", val);
    else
        fputs("null", j->f);
}

void ctl_json_bool(ctl_json *j, const char *key, bool val)
{
    json_key(j, key);
    fputs(val ? "true" : "false", j->f);
}

void ctl_json_null(ctl_json *j, const char *key)
{
    json_key(j, key);
    fputs("null", j->f);
}

void ctl_json_hex(ctl_json *j, const char *key, const uint8_t *p, size_t n)
{
    char b[2 * 64 + 1];
    RZ_ASSERT(n <= 64);
    hex(b, sizeof b, p, n);
    ctl_json_str(j, key, b);
}

void ctl_json_end(ctl_json *j)
{
    RZ_ASSERT(j->depth == 0);
    fputc('\n', j->f);
    fflush(j->f);
    j->comma[0] = false;
}

/* ---- tables ---------------------------------------------------------------
 */

void *ctl_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "ratuszctl: out of memory; free some memory and "
                        "run the command again.\n");
        exit(1);
    }
    return p;
}

char *ctl_xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = ctl_xmalloc(n);
    memcpy(p, s, n);
    return p;
}

void ctl_table_init(ctl_table *t, int n_cols, const char *const *heads)
{
    RZ_PRE(n_cols > 0 && n_cols <= CTL_TABLE_MAX_COLS);
    memset(t, 0, sizeof *t);
    t->n_cols = n_cols;
    for (int i = 0; i < n_cols; i++)
        t->heads[i] = heads[i];
    t->cells =
        ctl_xmalloc(sizeof(char *) * CTL_TABLE_MAX_ROWS * (size_t)n_cols);
}

/* Characters (UTF-8 code points) in s: continuation bytes do not count. */
static size_t width(const char *s)
{
    size_t w = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            w++;
    return w;
}

/* A copy of s for display: control characters (a description may hold
 * newlines) become spaces, and more than CTL_TABLE_CELL_CHARS characters
 * are cut at a character boundary, ending in "...". */
static char *cell_copy(const char *s)
{
    size_t n = strlen(s), chars = 0, i;
    char *c = ctl_xmalloc(n + 4);
    for (i = 0; i < n; i++) {
        unsigned char b = (unsigned char)s[i];
        if ((b & 0xC0) != 0x80 && chars++ == CTL_TABLE_CELL_CHARS - 3 &&
            width(s + i) > 3) {
            memcpy(c + i, "...", 4);
            return c;
        }
        c[i] = b < 0x20 || b == 0x7f ? ' ' : (char)b;
    }
    c[n] = '\0';
    return c;
}

void ctl_table_cell(ctl_table *t, const char *s)
{
    RZ_ASSERT(t->n_cells < CTL_TABLE_MAX_ROWS * (size_t)t->n_cols);
    t->cells[t->n_cells++] = cell_copy(s ? s : "");
}

void ctl_table_cellf(ctl_table *t, const char *fmt, ...)
{
    char b[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b, sizeof b, fmt, ap);
    va_end(ap);
    ctl_table_cell(t, b);
}

size_t ctl_table_rows(const ctl_table *t)
{
    return t->n_cells / (size_t)t->n_cols;
}

void ctl_table_print(ctl_table *t, FILE *f)
{
    size_t w[CTL_TABLE_MAX_COLS];
    size_t rows = ctl_table_rows(t);
    RZ_ASSERT(t->n_cells % (size_t)t->n_cols == 0);
    for (int c = 0; c < t->n_cols; c++)
        w[c] = width(t->heads[c]);
    for (size_t i = 0; i < t->n_cells; i++) {
        size_t cw = width(t->cells[i]);
        int c = (int)(i % (size_t)t->n_cols);
        if (cw > w[c])
            w[c] = cw;
    }
    for (size_t r = 0; r <= rows; r++) {
        for (int c = 0; c < t->n_cols; c++) {
            const char *s =
                r == 0 ? t->heads[c]
                       : t->cells[(r - 1) * (size_t)t->n_cols + (size_t)c];
            bool last = c == t->n_cols - 1;
            fputs(s, f);
            if (!last)
                fprintf(f, "%*s", (int)(w[c] - width(s) + 2), "");
        }
        fputc('\n', f);
    }
    for (size_t i = 0; i < t->n_cells; i++)
        free(t->cells[i]);
    t->n_cells = 0;
    fflush(f);
}

void ctl_table_close(ctl_table *t)
{
    for (size_t i = 0; i < t->n_cells; i++)
        free(t->cells[i]);
    free(t->cells);
    t->cells = NULL;
    t->n_cells = 0;
}
