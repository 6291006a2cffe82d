/* ratuszctl output: what people read and what scripts parse.
 *
 * Three printers, all to stdout:
 * - ctl_out: aligned "key  value" lines for people, or one flat JSON object
 *   (--json); fields are collected, then printed by ctl_out_end.
 * - ctl_json: a streaming JSON writer for nested output (status members,
 *   case histories); one value per line of output when ended.
 * - ctl_table: columns for people, widths measured in characters (UTF-8
 *   code points, so Polish names line up), long cells cut with "...".
 * Every structure is bounded; exceeding a bound is a programming error
 * (asserted), except table rows, which are flushed by the caller. */
#ifndef RZ_CTL_OUT_H
#define RZ_CTL_OUT_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CTL_OUT_MAX_FIELDS 16

typedef struct ctl_out
{
    bool json;
    int n;
    const char *keys[CTL_OUT_MAX_FIELDS];
    const char *vals[CTL_OUT_MAX_FIELDS]; /* borrowed or points into own */
    char own[CTL_OUT_MAX_FIELDS][80];     /* numbers and hex */
    bool raw[CTL_OUT_MAX_FIELDS];         /* JSON number/bool, not a string */
} ctl_out;

/* Strings are borrowed: they must live until ctl_out_end. More than
 * CTL_OUT_MAX_FIELDS fields is a programming error (asserted). */
void ctl_out_str(ctl_out *o, const char *key, const char *val);
void ctl_out_u64(ctl_out *o, const char *key, uint64_t val);
void ctl_out_bool(ctl_out *o, const char *key, bool val);
void ctl_out_hex(ctl_out *o, const char *key, const uint8_t *p, size_t n);
void ctl_out_end(const ctl_out *o);

/* Writes s as a JSON string (quotes, backslash and control characters
 * escaped; UTF-8 passed through). */
void ctl_json_escape(FILE *f, const char *s);

/* ---- streaming JSON ------------------------------------------------------ */

/* Deepest nesting the writer supports: status is 3 levels, a case 3. */
#define CTL_JSON_MAX_DEPTH 8

typedef struct ctl_json
{
    FILE *f;
    int depth;
    bool comma[CTL_JSON_MAX_DEPTH + 1]; /* a value was written at depth */
} ctl_json;

/* `key` names the value inside an object and must be NULL inside an array
 * or for the top value (asserted). Strings are copied out at once. */
void ctl_json_init(ctl_json *j, FILE *f);
void ctl_json_obj_begin(ctl_json *j, const char *key);
void ctl_json_obj_end(ctl_json *j);
void ctl_json_arr_begin(ctl_json *j, const char *key);
void ctl_json_arr_end(ctl_json *j);
void ctl_json_str(ctl_json *j, const char *key, const char *val);
void ctl_json_u64(ctl_json *j, const char *key, uint64_t val);
void ctl_json_i64(ctl_json *j, const char *key, int64_t val);
void ctl_json_f64(ctl_json *j, const char *key, double val);
void ctl_json_bool(ctl_json *j, const char *key, bool val);
void ctl_json_null(ctl_json *j, const char *key);
void ctl_json_hex(ctl_json *j, const char *key, const uint8_t *p, size_t n);
/* Ends the top value with a newline and flushes (a watch line must reach a
 * pipe at once). Asserts that every object and array was closed. */
void ctl_json_end(ctl_json *j);

/* ---- tables -------------------------------------------------------------- */

#define CTL_TABLE_MAX_COLS 12
/* Rows held before the caller must print (a page of `case list` is at most
 * 1000 cases). */
#define CTL_TABLE_MAX_ROWS 1024
/* Longest cell shown, in characters; longer ones end in "...". */
#define CTL_TABLE_CELL_CHARS 60

typedef struct ctl_table
{
    int n_cols;
    const char *heads[CTL_TABLE_MAX_COLS]; /* borrowed, static strings */
    char **cells;                          /* n_rows * n_cols, owned */
    size_t n_cells;
} ctl_table;

/* heads: n_cols static strings (borrowed for the table's life). */
void ctl_table_init(ctl_table *t, int n_cols, const char *const *heads);
/* Appends the next cell (rows fill left to right); copied. */
void ctl_table_cell(ctl_table *t, const char *s);
void ctl_table_cellf(ctl_table *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
size_t ctl_table_rows(const ctl_table *t);
/* Prints the header and the rows held, then forgets the rows (the table
 * can be filled again). A partial last row is a programming error. */
void ctl_table_print(ctl_table *t, FILE *f);
void ctl_table_close(ctl_table *t);

/* Allocation that cannot fail: a CLI out of memory prints one sentence and
 * exits 1. */
void *ctl_xmalloc(size_t n);
char *ctl_xstrdup(const char *s);
#endif
