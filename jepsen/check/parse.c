/* parse: reading histories from files — Jepsen log lines, Jepsen EDN maps
 * and JSON lines — into rz_check histories. Each line becomes a record
 * (process, type, f, key, value, time, error); invocations wait in a table
 * per process until their completion arrives.
 *
 * The JSON and EDN readers are small tokenizers with an explicit stack of
 * at most MAX_DEPTH containers (no recursion): a line becomes a flat array
 * of tokens, each with its depth and, inside a map, its key. */
#include "check_int.h"

#include "common/common.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* Deepest nesting any record uses is 2 (record > value map); 8 leaves room
 * for fields the checker ignores. */
#define MAX_DEPTH 8
/* Most tokens in one line: a record has a dozen. */
#define MAX_TOKENS 128
/* Most items of a value vector or map. */
#define MAX_ITEMS 4

/* ---- Tokens ---- */

typedef enum tok_type {
    T_OPEN_MAP = 1,
    T_CLOSE_MAP,
    T_OPEN_VEC,
    T_CLOSE_VEC,
    T_STR, /* strings, and EDN keywords without their colon */
    T_INT,
    T_NIL,
    T_BOOL
} tok_type;

typedef struct tok
{
    tok_type type;
    uint8_t depth;   /* containers around the token */
    bool keyword;    /* EDN :keyword */
    const char *key; /* member name inside a map, else NULL */
    size_t key_len;
    const char *s; /* T_STR: decoded bytes */
    size_t len;
    int64_t i; /* T_INT; T_BOOL: 0/1 */
} tok;

typedef struct lexer
{
    const char *p, *end;
    char *scratch; /* decoded strings; as large as the line */
    size_t scratch_len;
    tok toks[MAX_TOKENS];
    size_t n;
    /* containers: 'm' map or 'v' vector, and for maps whether a key is
     * expected next */
    char stack[MAX_DEPTH];
    bool want_key[MAX_DEPTH];
    uint8_t depth;
    const char *pending_key;
    size_t pending_key_len;
    char *err; /* RZ_ERRMSG_BYTES */
} lexer;

static int lex_fail(lexer *lx, const char *what)
{
    rz_errmsg_set(lx->err, "%s", what);
    return RZ_EMALFORMED;
}

static int emit(lexer *lx, tok t)
{
    if (lx->n == MAX_TOKENS) {
        return lex_fail(lx, "too many values in one line");
    }
    t.depth = lx->depth;
    t.key = lx->pending_key;
    t.key_len = lx->pending_key_len;
    lx->pending_key = NULL;
    lx->pending_key_len = 0;
    lx->toks[lx->n++] = t;
    return 0;
}

static int push(lexer *lx, char kind)
{
    if (lx->depth == MAX_DEPTH) {
        return lex_fail(lx, "values nested too deeply");
    }
    lx->stack[lx->depth] = kind;
    lx->want_key[lx->depth] = kind == 'm';
    lx->depth++;
    return 0;
}

static int put_utf8(lexer *lx, uint32_t cp)
{
    char *o = lx->scratch + lx->scratch_len;
    if (cp < 0x80) {
        o[0] = (char)cp;
        lx->scratch_len += 1;
    } else if (cp < 0x800) {
        o[0] = (char)(0xc0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3f));
        lx->scratch_len += 2;
    } else if (cp < 0x10000) {
        o[0] = (char)(0xe0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        lx->scratch_len += 3;
    } else {
        o[0] = (char)(0xf0 | (cp >> 18));
        o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[3] = (char)(0x80 | (cp & 0x3f));
        lx->scratch_len += 4;
    }
    return 0;
}

static int hex4(const char *p, const char *end, uint32_t *out)
{
    uint32_t v = 0;
    if (end - p < 4) {
        return -1;
    }
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9') {
            v |= (uint32_t)(c - '0');
        } else if (c >= 'a' && c <= 'f') {
            v |= (uint32_t)(c - 'a' + 10);
        } else if (c >= 'A' && c <= 'F') {
            v |= (uint32_t)(c - 'A' + 10);
        } else {
            return -1;
        }
    }
    *out = v;
    return 0;
}

/* A quoted string at lx->p (JSON escapes; EDN uses the same common ones).
 * The decoded bytes go to scratch. A \u escape of n hex digits decodes to
 * at most n/2+... bytes, never more than its 6 source bytes, so scratch as
 * large as the line always suffices. */
static int lex_string(lexer *lx, const char **s, size_t *len)
{
    const char *start;
    RZ_PRE(*lx->p == '"');
    lx->p++;
    start = lx->scratch + lx->scratch_len;
    *s = start;
    while (lx->p < lx->end && *lx->p != '"') {
        unsigned char c = (unsigned char)*lx->p;
        if (c < 0x20) {
            return lex_fail(lx, "control character inside a string");
        }
        if (c != '\\') {
            lx->scratch[lx->scratch_len++] = (char)c;
            lx->p++;
            continue;
        }
        if (lx->end - lx->p < 2) {
            return lex_fail(lx, "unterminated escape in a string");
        }
        c = (unsigned char)lx->p[1];
        lx->p += 2;
        switch (c) {
        case '"':
        case '\\':
        case '/':
            lx->scratch[lx->scratch_len++] = (char)c;
            break;
        case 'n':
            lx->scratch[lx->scratch_len++] = '\n';
            break;
        case 't':
            lx->scratch[lx->scratch_len++] = '\t';
            break;
        case 'r':
            lx->scratch[lx->scratch_len++] = '\r';
            break;
        case 'b':
            lx->scratch[lx->scratch_len++] = '\b';
            break;
        case 'f':
            lx->scratch[lx->scratch_len++] = '\f';
            break;
        case 'u': {
            uint32_t cp, lo;
            if (hex4(lx->p, lx->end, &cp) != 0) {
                return lex_fail(lx, "bad \\u escape in a string");
            }
            lx->p += 4;
            if (cp >= 0xd800 && cp <= 0xdbff) {
                if (lx->end - lx->p < 6 || lx->p[0] != '\\' ||
                    lx->p[1] != 'u' || hex4(lx->p + 2, lx->end, &lo) != 0 ||
                    lo < 0xdc00 || lo > 0xdfff) {
                    return lex_fail(lx, "unpaired surrogate in a string");
                }
                lx->p += 6;
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            } else if (cp >= 0xdc00 && cp <= 0xdfff) {
                return lex_fail(lx, "unpaired surrogate in a string");
            }
            put_utf8(lx, cp);
            break;
        }
        default:
            return lex_fail(lx, "unknown escape in a string");
        }
    }
    if (lx->p == lx->end) {
        return lex_fail(lx, "unterminated string");
    }
    lx->p++;
    *len = (size_t)(lx->scratch + lx->scratch_len - start);
    if (!rz_utf8_valid(start, *len)) {
        return lex_fail(lx, "a string is not valid UTF-8");
    }
    if (*len > RZ_CHECK_MAX_STR_BYTES) {
        return lex_fail(lx, "a string is longer than 64 KiB");
    }
    return 0;
}

/* An integer; fractions and exponents are refused (histories carry ids,
 * versions and nanoseconds). */
static int lex_int(lexer *lx, int64_t *out)
{
    const char *p = lx->p;
    bool neg = false;
    uint64_t v = 0;
    if (p < lx->end && *p == '-') {
        neg = true;
        p++;
    }
    if (p == lx->end || *p < '0' || *p > '9') {
        return lex_fail(lx, "expected a number");
    }
    while (p < lx->end && *p >= '0' && *p <= '9') {
        uint64_t d = (uint64_t)(*p - '0');
        if (v > (UINT64_MAX - d) / 10u) {
            return lex_fail(lx, "integer out of range");
        }
        v = v * 10u + d;
        p++;
    }
    if (p < lx->end && (*p == '.' || *p == 'e' || *p == 'E')) {
        return lex_fail(lx, "only integer numbers are supported");
    }
    if ((!neg && v > (uint64_t)INT64_MAX) ||
        (neg && v > (uint64_t)INT64_MAX + 1u)) {
        return lex_fail(lx, "integer out of range");
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    lx->p = p;
    return 0;
}

static bool is_ws(char c, bool edn)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || (edn && c == ',');
}

static void skip_ws(lexer *lx, bool edn)
{
    while (lx->p < lx->end && is_ws(*lx->p, edn)) {
        lx->p++;
    }
}

static bool word_is(const lexer *lx, const char *w)
{
    size_t n = strlen(w);
    return (size_t)(lx->end - lx->p) >= n && memcmp(lx->p, w, n) == 0;
}

static void lexer_init(lexer *lx, const char *line, size_t len, char *scratch,
                       char *err)
{
    memset(lx, 0, sizeof(*lx));
    lx->p = line;
    lx->end = line + len;
    lx->scratch = scratch;
    lx->err = err;
}

/* JSON: one value per line. States follow the grammar: a value, then either
 * the end of the line (depth 0), a comma or a closing bracket. */
static int lex_json(lexer *lx)
{
    enum { VALUE, AFTER, KEY, KEY_OR_CLOSE, VALUE_OR_CLOSE } st = VALUE;
    int rv;
    size_t bound = (size_t)(lx->end - lx->p) + 1u;
    for (size_t guard = 0; guard <= bound; guard++) {
        skip_ws(lx, false);
        if (st == AFTER && lx->depth == 0) {
            return lx->p == lx->end
                       ? 0
                       : lex_fail(lx, "unexpected text after the object");
        }
        if (lx->p == lx->end) {
            return lex_fail(lx, "line ends inside an object");
        }
        if ((st == KEY_OR_CLOSE && *lx->p == '}') ||
            (st == VALUE_OR_CLOSE && *lx->p == ']') ||
            (st == AFTER && (*lx->p == '}' || *lx->p == ']'))) {
            char want = *lx->p == '}' ? 'm' : 'v';
            if (lx->stack[lx->depth - 1u] != want) {
                return lex_fail(lx, "mismatched bracket");
            }
            lx->depth--;
            lx->p++;
            rv = emit(lx,
                      (tok){.type = want == 'm' ? T_CLOSE_MAP : T_CLOSE_VEC});
            if (rv != 0) {
                return rv;
            }
            st = AFTER;
            continue;
        }
        if (st == AFTER) {
            if (*lx->p != ',') {
                return lex_fail(lx, "expected ',' or a closing bracket");
            }
            lx->p++;
            st = lx->stack[lx->depth - 1u] == 'm' ? KEY : VALUE;
            continue;
        }
        if (st == KEY || st == KEY_OR_CLOSE) {
            if (*lx->p != '"') {
                return lex_fail(lx, "expected a quoted member name");
            }
            rv = lex_string(lx, &lx->pending_key, &lx->pending_key_len);
            if (rv != 0) {
                return rv;
            }
            skip_ws(lx, false);
            if (lx->p == lx->end || *lx->p != ':') {
                return lex_fail(lx, "expected ':' after a member name");
            }
            lx->p++;
            st = VALUE;
            continue;
        }
        /* A value. */
        if (*lx->p == '{' || *lx->p == '[') {
            bool map = *lx->p == '{';
            lx->p++;
            rv = emit(lx, (tok){.type = map ? T_OPEN_MAP : T_OPEN_VEC});
            if (rv == 0) {
                rv = push(lx, map ? 'm' : 'v');
            }
            if (rv != 0) {
                return rv;
            }
            st = map ? KEY_OR_CLOSE : VALUE_OR_CLOSE;
            continue;
        }
        if (lx->depth == 0) {
            return lex_fail(lx, "each line must be one JSON object");
        }
        if (*lx->p == '"') {
            tok t = {.type = T_STR};
            rv = lex_string(lx, &t.s, &t.len);
            if (rv == 0) {
                rv = emit(lx, t);
            }
        } else if (word_is(lx, "null")) {
            lx->p += 4;
            rv = emit(lx, (tok){.type = T_NIL});
        } else if (word_is(lx, "true")) {
            lx->p += 4;
            rv = emit(lx, (tok){.type = T_BOOL, .i = 1});
        } else if (word_is(lx, "false")) {
            lx->p += 5;
            rv = emit(lx, (tok){.type = T_BOOL, .i = 0});
        } else {
            tok t = {.type = T_INT};
            rv = lex_int(lx, &t.i);
            if (rv == 0) {
                rv = emit(lx, t);
            }
        }
        if (rv != 0) {
            return rv;
        }
        st = AFTER;
    }
    return lex_fail(lx, "malformed JSON");
}

static bool edn_delim(char c)
{
    return is_ws(c, true) || c == '{' || c == '}' || c == '[' || c == ']' ||
           c == '(' || c == ')' || c == '"';
}

/* EDN: the subset Jepsen histories use — maps, vectors (and lists read as
 * vectors), strings, keywords, integers, nil, true, false. */
static int lex_edn(lexer *lx)
{
    int rv;
    size_t bound = (size_t)(lx->end - lx->p) + 1u;
    for (size_t guard = 0; guard <= bound; guard++) {
        tok t = {0};
        bool is_key;
        skip_ws(lx, true);
        if (lx->p == lx->end) {
            if (lx->depth != 0 || lx->n == 0) {
                return lex_fail(lx, "line ends inside a map");
            }
            return 0;
        }
        if (lx->depth == 0 && lx->n > 0) {
            return lex_fail(lx, "unexpected text after the map");
        }
        is_key = lx->depth > 0 && lx->stack[lx->depth - 1u] == 'm' &&
                 lx->want_key[lx->depth - 1u];
        if (*lx->p == '}' || *lx->p == ']' || *lx->p == ')') {
            char want = *lx->p == '}' ? 'm' : 'v';
            if (lx->depth == 0 || lx->stack[lx->depth - 1u] != want) {
                return lex_fail(lx, "mismatched bracket");
            }
            if (want == 'm' && !lx->want_key[lx->depth - 1u]) {
                return lex_fail(lx, "a map key has no value");
            }
            lx->depth--;
            lx->p++;
            rv = emit(lx,
                      (tok){.type = want == 'm' ? T_CLOSE_MAP : T_CLOSE_VEC});
            if (rv != 0) {
                return rv;
            }
            goto after_value;
        }
        if (lx->depth == 0 && *lx->p != '{') {
            return lex_fail(lx, "each line must be one EDN map");
        }
        if (is_key) {
            if (*lx->p != ':') {
                return lex_fail(lx, "map keys must be keywords");
            }
            lx->pending_key = ++lx->p;
            while (lx->p < lx->end && !edn_delim(*lx->p)) {
                lx->p++;
            }
            lx->pending_key_len = (size_t)(lx->p - lx->pending_key);
            lx->want_key[lx->depth - 1u] = false;
            continue;
        }
        if (*lx->p == '{' || *lx->p == '[' || *lx->p == '(') {
            bool map = *lx->p == '{';
            lx->p++;
            rv = emit(lx, (tok){.type = map ? T_OPEN_MAP : T_OPEN_VEC});
            if (rv == 0) {
                rv = push(lx, map ? 'm' : 'v');
            }
            if (rv != 0) {
                return rv;
            }
            continue;
        }
        if (*lx->p == '"') {
            t.type = T_STR;
            rv = lex_string(lx, &t.s, &t.len);
        } else if (*lx->p == ':') {
            t.type = T_STR;
            t.keyword = true;
            t.s = ++lx->p;
            while (lx->p < lx->end && !edn_delim(*lx->p)) {
                lx->p++;
            }
            t.len = (size_t)(lx->p - t.s);
            rv = t.len == 0 ? lex_fail(lx, "empty keyword") : 0;
        } else if (*lx->p == '-' || (*lx->p >= '0' && *lx->p <= '9')) {
            t.type = T_INT;
            rv = lex_int(lx, &t.i);
            if (rv == 0 && lx->p < lx->end && !edn_delim(*lx->p)) {
                rv = lex_fail(lx, "malformed number");
            }
        } else {
            const char *w = lx->p;
            size_t n;
            while (lx->p < lx->end && !edn_delim(*lx->p)) {
                lx->p++;
            }
            n = (size_t)(lx->p - w);
            if (n == 3 && memcmp(w, "nil", 3) == 0) {
                t.type = T_NIL;
            } else if (n == 4 && memcmp(w, "true", 4) == 0) {
                t = (tok){.type = T_BOOL, .i = 1};
            } else if (n == 5 && memcmp(w, "false", 5) == 0) {
                t = (tok){.type = T_BOOL, .i = 0};
            } else {
                t.type = T_STR; /* a symbol: keep its text */
                t.s = w;
                t.len = n;
                rv = n == 0 ? lex_fail(lx, "unexpected character") : 0;
            }
            if (n == 0) {
                return rv;
            }
            rv = 0;
        }
        if (rv == 0) {
            rv = emit(lx, t);
        }
        if (rv != 0) {
            return rv;
        }
    after_value:
        if (lx->depth > 0 && lx->stack[lx->depth - 1u] == 'm') {
            lx->want_key[lx->depth - 1u] = true;
        }
    }
    return lex_fail(lx, "malformed EDN");
}

/* ---- Records ---- */

typedef struct scalar
{
    tok_type type; /* 0 = absent; T_STR, T_INT, T_NIL, T_BOOL */
    bool keyword;
    const char *s;
    size_t len;
    int64_t i;
} scalar;

typedef struct value
{
    enum { V_ABSENT = 0, V_SCALAR, V_VEC, V_MAP } kind;
    scalar sc;
    size_t n;
    scalar items[MAX_ITEMS];
    const char *names[MAX_ITEMS]; /* V_MAP member names */
    size_t name_lens[MAX_ITEMS];
} value;

typedef enum rec_type { R_INVOKE = 1, R_OK, R_FAIL, R_INFO } rec_type;

typedef struct record
{
    bool skip; /* not a client operation (e.g. the nemesis) */
    int64_t process;
    rec_type type;
    scalar f;
    scalar key;
    value value;
    scalar error;
    bool has_time;
    int64_t time;
} record;

static bool name_is(const char *s, size_t len, const char *want)
{
    return strlen(want) == len && memcmp(s, want, len) == 0;
}

static scalar scalar_of(const tok *t)
{
    return (scalar){.type = t->type,
                    .keyword = t->keyword,
                    .s = t->s,
                    .len = t->len,
                    .i = t->i};
}

static bool is_scalar(const tok *t)
{
    return t->type == T_STR || t->type == T_INT || t->type == T_NIL ||
           t->type == T_BOOL;
}

static int rec_fail(char *err, const char *what)
{
    rz_errmsg_set(err, "%s", what);
    return RZ_EMALFORMED;
}

/* Reads the members of the top-level map into a record. `time_name` is
 * "time_ns" for JSON and "time" for EDN. */
static int record_from_tokens(const lexer *lx, const char *time_name, record *r,
                              char *err)
{
    bool has_process = false, has_type = false;
    memset(r, 0, sizeof(*r));
    if (lx->n == 0 || lx->toks[0].type != T_OPEN_MAP) {
        return rec_fail(err, "each line must hold one map/object");
    }
    for (size_t i = 1; i < lx->n; i++) {
        const tok *t = &lx->toks[i];
        if (t->depth != 1 || t->key == NULL) {
            continue; /* closing tokens and nested members */
        }
        if (name_is(t->key, t->key_len, "process")) {
            has_process = true;
            if (t->type != T_INT) {
                r->skip = true; /* :nemesis and other non-clients */
            }
            r->process = t->i;
        } else if (name_is(t->key, t->key_len, "type")) {
            has_type = true;
            if (t->type != T_STR) {
                return rec_fail(err, "type must be a string");
            }
            if (name_is(t->s, t->len, "invoke")) {
                r->type = R_INVOKE;
            } else if (name_is(t->s, t->len, "ok")) {
                r->type = R_OK;
            } else if (name_is(t->s, t->len, "fail")) {
                r->type = R_FAIL;
            } else if (name_is(t->s, t->len, "info")) {
                r->type = R_INFO;
            } else {
                return rec_fail(err, "type must be invoke, ok, fail or info");
            }
        } else if (name_is(t->key, t->key_len, "f")) {
            if (t->type != T_STR) {
                return rec_fail(err, "f must be a string");
            }
            r->f = scalar_of(t);
        } else if (name_is(t->key, t->key_len, "key")) {
            if (t->type != T_STR && t->type != T_INT) {
                return rec_fail(err, "key must be a string or an integer");
            }
            r->key = scalar_of(t);
        } else if (name_is(t->key, t->key_len, time_name)) {
            if (t->type != T_INT || t->i < 0) {
                return rec_fail(err, "time must be a non-negative integer");
            }
            r->has_time = true;
            r->time = t->i;
        } else if (name_is(t->key, t->key_len, "error")) {
            if (is_scalar(t)) {
                r->error = scalar_of(t);
            }
        } else if (name_is(t->key, t->key_len, "value")) {
            value *v = &r->value;
            if (is_scalar(t)) {
                v->kind = V_SCALAR;
                v->sc = scalar_of(t);
                continue;
            }
            v->kind = t->type == T_OPEN_MAP ? V_MAP : V_VEC;
            for (i++; i < lx->n && lx->toks[i].depth > 1; i++) {
                const tok *it = &lx->toks[i];
                if (it->depth > 2 || !is_scalar(it)) {
                    return rec_fail(err, "value is nested too deeply");
                }
                if (v->n == MAX_ITEMS) {
                    return rec_fail(err, "value has too many items");
                }
                v->items[v->n] = scalar_of(it);
                v->names[v->n] = it->key;
                v->name_lens[v->n] = it->key_len;
                v->n++;
            }
            i--; /* the closing token, seen by the loop */
        }
    }
    if (!has_process || !has_type || r->f.type == 0) {
        return rec_fail(err, "a record needs process, type and f");
    }
    return 0;
}

/* Jepsen log lines: "... jepsen.util - <process> <type> <f> <value>". Lines
 * without the marker are ignored (README of checker-data). */
static int record_from_log(const char *line, size_t len, char *scratch,
                           record *r, bool *ignored, char *err)
{
    static const char marker[] = "jepsen.util - ";
    const char *p = memmem(line, len, marker, sizeof(marker) - 1u);
    const char *end = line + len;
    const char *fields[3];
    size_t lens[3];
    lexer lx;
    memset(r, 0, sizeof(*r));
    *ignored = p == NULL;
    if (p == NULL) {
        return 0;
    }
    p += sizeof(marker) - 1u;
    for (int k = 0; k < 3; k++) {
        while (p < end && (*p == ' ' || *p == '\t')) {
            p++;
        }
        fields[k] = p;
        while (p < end && *p != ' ' && *p != '\t') {
            p++;
        }
        lens[k] = (size_t)(p - fields[k]);
        if (lens[k] == 0) {
            return rec_fail(err, "expected: process, type, f, value");
        }
    }
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r')) {
        p++;
    }
    while (end > p && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r')) {
        end--;
    }
    /* process */
    lexer_init(&lx, fields[0], lens[0], scratch, err);
    if (fields[0][0] == ':') {
        r->skip = true; /* :nemesis */
        return 0;
    }
    if (lex_int(&lx, &r->process) != 0 || lx.p != lx.end) {
        return rec_fail(err, "process must be an integer");
    }
    if (name_is(fields[1], lens[1], ":invoke")) {
        r->type = R_INVOKE;
    } else if (name_is(fields[1], lens[1], ":ok")) {
        r->type = R_OK;
    } else if (name_is(fields[1], lens[1], ":fail")) {
        r->type = R_FAIL;
    } else if (name_is(fields[1], lens[1], ":info")) {
        r->type = R_INFO;
    } else {
        return rec_fail(err, "type must be :invoke, :ok, :fail or :info");
    }
    if (fields[2][0] != ':' || lens[2] < 2) {
        return rec_fail(err, "f must be a keyword such as :read");
    }
    r->f = (scalar){.type = T_STR, .s = fields[2] + 1, .len = lens[2] - 1};
    /* value: nil, an integer, a keyword, or [from to] */
    if (p == end) {
        return rec_fail(err, "missing value");
    }
    if (*p == '[') {
        const char *q = p + 1;
        value *v = &r->value;
        v->kind = V_VEC;
        while (q < end && *q != ']') {
            const char *w;
            int64_t n;
            while (q < end && *q == ' ') {
                q++;
            }
            w = q;
            while (q < end && *q != ' ' && *q != ']') {
                q++;
            }
            if (q == w) {
                continue;
            }
            if (v->n == MAX_ITEMS) {
                return rec_fail(err, "value has too many items");
            }
            lexer_init(&lx, w, (size_t)(q - w), scratch, err);
            if (name_is(w, (size_t)(q - w), "nil")) {
                v->items[v->n++] = (scalar){.type = T_NIL};
            } else if (lex_int(&lx, &n) == 0 && lx.p == lx.end) {
                v->items[v->n++] = (scalar){.type = T_INT, .i = n};
            } else {
                return rec_fail(err, "vector items must be integers");
            }
        }
        if (q == end) {
            return rec_fail(err, "unterminated vector");
        }
        return 0;
    }
    r->value.kind = V_SCALAR;
    lexer_init(&lx, p, (size_t)(end - p), scratch, err);
    if (name_is(p, (size_t)(end - p), "nil")) {
        r->value.sc.type = T_NIL;
    } else if (*p != ':' && lex_int(&lx, &r->value.sc.i) == 0 &&
               lx.p == lx.end) {
        r->value.sc.type = T_INT;
    } else {
        r->value.sc = (scalar){.type = T_STR,
                               .keyword = *p == ':',
                               .s = *p == ':' ? p + 1 : p,
                               .len = (size_t)(end - p) - (*p == ':')};
    }
    return 0;
}

/* ---- Pairing invocations with completions ---- */

typedef struct pending
{
    int64_t process;
    bool used;
    size_t line;
    rz_check_op op; /* strings below are owned copies */
    char *key, *value, *value2;
} pending;

typedef struct reader
{
    rz_check_history *h;
    rz_check_format format;
    pending *tab; /* open addressing by process */
    size_t n_tab; /* power of two */
    size_t n_used;
    char *err;
    size_t line;
    char *numbuf; /* integer-to-text for values and keys */
} reader;

static uint64_t proc_hash(int64_t p)
{
    uint64_t x = (uint64_t)p;
    return rz_check__mix(&x);
}

static void pending_clear(pending *e)
{
    free(e->key);
    free(e->value);
    free(e->value2);
    memset(e, 0, sizeof(*e));
}

static pending *pending_find(reader *rd, int64_t process)
{
    size_t i = (size_t)proc_hash(process) & (rd->n_tab - 1u);
    for (size_t probe = 0; probe < rd->n_tab; probe++) {
        if (!rd->tab[i].used) {
            return NULL;
        }
        if (rd->tab[i].process == process) {
            return &rd->tab[i];
        }
        i = (i + 1u) & (rd->n_tab - 1u);
    }
    return NULL;
}

/* Removes an entry, re-inserting the rest of its probe run so later lookups
 * still find them (linear probing without tombstones). */
static void pending_remove(reader *rd, pending *e)
{
    size_t i = (size_t)(e - rd->tab);
    pending_clear(e);
    rd->n_used--;
    for (size_t probe = 0; probe < rd->n_tab; probe++) {
        pending moved;
        size_t j;
        i = (i + 1u) & (rd->n_tab - 1u);
        if (!rd->tab[i].used) {
            break;
        }
        moved = rd->tab[i];
        memset(&rd->tab[i], 0, sizeof(rd->tab[i]));
        j = (size_t)proc_hash(moved.process) & (rd->n_tab - 1u);
        while (rd->tab[j].used) {
            j = (j + 1u) & (rd->n_tab - 1u);
        }
        rd->tab[j] = moved;
    }
}

static int pending_insert(reader *rd, int64_t process, pending **out)
{
    size_t i;
    if ((rd->n_used + 1u) * 2u > rd->n_tab) {
        size_t n = rd->n_tab * 2u;
        pending *tab = calloc(n, sizeof(*tab));
        if (tab == NULL) {
            return RZ_ENOMEM;
        }
        for (size_t k = 0; k < rd->n_tab; k++) {
            size_t j;
            if (!rd->tab[k].used) {
                continue;
            }
            j = (size_t)proc_hash(rd->tab[k].process) & (n - 1u);
            while (tab[j].used) {
                j = (j + 1u) & (n - 1u);
            }
            tab[j] = rd->tab[k];
        }
        free(rd->tab);
        rd->tab = tab;
        rd->n_tab = n;
    }
    i = (size_t)proc_hash(process) & (rd->n_tab - 1u);
    while (rd->tab[i].used) {
        i = (i + 1u) & (rd->n_tab - 1u);
    }
    rd->tab[i].used = true;
    rd->tab[i].process = process;
    rd->n_used++;
    *out = &rd->tab[i];
    return 0;
}

/* Text of a scalar for register values and keys; NULL for nil. The result
 * is a fresh heap copy (*out) owned by the caller. */
static int scalar_text(const scalar *sc, char **out, size_t *len)
{
    char buf[32];
    const char *s;
    size_t n;
    *out = NULL;
    *len = 0;
    switch (sc->type) {
    case T_NIL:
        return 0;
    case T_INT:
        n = (size_t)snprintf(buf, sizeof(buf), "%lld", (long long)sc->i);
        s = buf;
        break;
    case T_BOOL:
        s = sc->i ? "true" : "false";
        n = strlen(s);
        break;
    case T_STR:
        s = sc->s;
        n = sc->len;
        break;
    default:
        return RZ_EINVAL;
    }
    *out = malloc(n + 1u);
    if (*out == NULL) {
        return RZ_ENOMEM;
    }
    memcpy(*out, s, n);
    (*out)[n] = '\0';
    *len = n;
    return 0;
}

static int parse_f(rz_check_model m, const scalar *f, rz_check_f *out)
{
    static const struct
    {
        rz_check_model m;
        const char *name;
        rz_check_f f;
    } fs[] = {
        {RZ_CHECK_MODEL_REGISTER, "read", RZ_CHECK_F_READ},
        {RZ_CHECK_MODEL_REGISTER, "write", RZ_CHECK_F_WRITE},
        {RZ_CHECK_MODEL_REGISTER, "cas", RZ_CHECK_F_CAS},
        {RZ_CHECK_MODEL_KV, "get", RZ_CHECK_F_GET},
        {RZ_CHECK_MODEL_KV, "read", RZ_CHECK_F_GET},
        {RZ_CHECK_MODEL_KV, "put", RZ_CHECK_F_PUT},
        {RZ_CHECK_MODEL_KV, "write", RZ_CHECK_F_PUT},
        {RZ_CHECK_MODEL_KV, "append", RZ_CHECK_F_APPEND},
        {RZ_CHECK_MODEL_CASE, "create", RZ_CHECK_F_CREATE},
        {RZ_CHECK_MODEL_CASE, "set-status", RZ_CHECK_F_SET_STATUS},
        {RZ_CHECK_MODEL_CASE, "read", RZ_CHECK_F_CASE_READ},
    };
    for (size_t i = 0; i < RZ_ARRAY_LEN(fs); i++) {
        if (fs[i].m == m && name_is(f->s, f->len, fs[i].name)) {
            *out = fs[i].f;
            return 0;
        }
    }
    return RZ_EINVAL;
}

static const scalar *map_get(const value *v, const char *name)
{
    if (v->kind != V_MAP) {
        return NULL;
    }
    for (size_t i = 0; i < v->n; i++) {
        if (v->names[i] != NULL &&
            name_is(v->names[i], v->name_lens[i], name)) {
            return &v->items[i];
        }
    }
    return NULL;
}

static int rd_fail(reader *rd, const char *what)
{
    rz_errmsg_set(rd->err, "%s", what);
    return RZ_EMALFORMED;
}

/* Fills the case fields of `op` from a value map: status, version,
 * expected_version. */
static int case_fields(reader *rd, const value *v, rz_check_op *op, bool target)
{
    const scalar *st = map_get(v, "status");
    const scalar *ver = map_get(v, "version");
    const scalar *exp = map_get(v, "expected_version");
    const scalar *via = map_get(v, "via");
    if (v->kind != V_MAP) {
        return v->kind == V_SCALAR && v->sc.type == T_NIL
                   ? 0
                   : rd_fail(rd, "a case value must be a map "
                                 "{status, version, expected_version}");
    }
    if (st != NULL) {
        rz_check_status s;
        if (st->type != T_STR ||
            rz_check_status_parse(st->s, st->len, &s) != 0) {
            return rd_fail(rd, "status must be NEW, TRIAGE, ROUTED, "
                               "IN_PROGRESS, ON_HOLD, RESOLVED or CLOSED");
        }
        if (target || op->status == RZ_CHECK_STATUS_NONE) {
            op->status = s;
        }
    }
    if (ver != NULL) {
        if (ver->type != T_INT || ver->i < 0) {
            return rd_fail(rd, "version must be a non-negative integer");
        }
        op->version = ver->i;
    }
    if (exp != NULL) {
        if (exp->type != T_INT || exp->i < 0) {
            return rd_fail(rd, "expected_version must be a non-negative "
                               "integer");
        }
        op->expected_version = exp->i;
    }
    if (via != NULL) {
        static const char *const names[] = {"any", "status", "route", "reopen"};
        size_t k;
        for (k = 0; k < RZ_ARRAY_LEN(names); k++) {
            if (via->type == T_STR && name_is(via->s, via->len, names[k])) {
                op->via = (rz_check_via)k;
                break;
            }
        }
        if (k == RZ_ARRAY_LEN(names)) {
            return rd_fail(rd, "via must be status, route, reopen or any");
        }
    }
    return 0;
}

static int take_text(const scalar *sc, char **dst, const char **s, size_t *len)
{
    size_t n;
    int rv;
    free(*dst);
    rv = scalar_text(sc, dst, &n);
    *s = *dst;
    *len = n;
    return rv;
}

/* The invocation half: opens a pending operation for the process. */
static int on_invoke(reader *rd, const record *r, int64_t time)
{
    pending *e = pending_find(rd, r->process);
    rz_check_f f;
    int rv;
    if (e != NULL) {
        rz_errmsg_set(rd->err,
                      "process %lld invokes an operation before its "
                      "operation from line %zu completed",
                      (long long)r->process, e->line);
        return RZ_EMALFORMED;
    }
    if (parse_f(rd->h->model, &r->f, &f) != 0) {
        rz_errmsg_set(rd->err, "f \"%.*s\" is not an operation of this model",
                      (int)(r->f.len > 40 ? 40 : r->f.len), r->f.s);
        return RZ_EMALFORMED;
    }
    rv = pending_insert(rd, r->process, &e);
    if (rv != 0) {
        return rv;
    }
    e->line = rd->line;
    e->op = (rz_check_op){.process = r->process,
                          .invoke_time = time,
                          .f = f,
                          .version = RZ_CHECK_VERSION_NONE,
                          .expected_version = RZ_CHECK_VERSION_NONE};
    if (r->key.type != 0) {
        const char *k;
        rv = take_text(&r->key, &e->key, &k, &e->op.key_len);
        e->op.key = k;
        if (rv != 0) {
            return rv;
        }
    }
    switch (f) {
    case RZ_CHECK_F_WRITE:
    case RZ_CHECK_F_PUT:
    case RZ_CHECK_F_APPEND:
        if (r->value.kind != V_SCALAR) {
            return rd_fail(rd, "a write needs a scalar value");
        }
        return take_text(&r->value.sc, &e->value, &e->op.value,
                         &e->op.value_len);
    case RZ_CHECK_F_CAS:
        if (r->value.kind != V_VEC || r->value.n != 2) {
            return rd_fail(rd, "a cas needs a value [from to]");
        }
        rv = take_text(&r->value.items[0], &e->value, &e->op.value,
                       &e->op.value_len);
        if (rv == 0) {
            rv = take_text(&r->value.items[1], &e->value2, &e->op.value2,
                           &e->op.value2_len);
        }
        return rv;
    case RZ_CHECK_F_SET_STATUS:
        rv = case_fields(rd, &r->value, &e->op, true);
        if (rv == 0 && e->op.status == RZ_CHECK_STATUS_NONE) {
            return rd_fail(rd, "a set-status needs a value with status");
        }
        e->op.version = RZ_CHECK_VERSION_NONE;
        return rv;
    default:
        return 0; /* reads and creates carry no input */
    }
}

static rz_check_fail_reason fail_reason(const record *r)
{
    const scalar *e = &r->error;
    const scalar *m = map_get(&r->value, "error");
    if (e->type != T_STR && m != NULL) {
        e = m;
    }
    if (e->type != T_STR) {
        return RZ_CHECK_FAIL_OTHER;
    }
    if (name_is(e->s, e->len, "version-mismatch")) {
        return RZ_CHECK_FAIL_VERSION_MISMATCH;
    }
    if (name_is(e->s, e->len, "not-found")) {
        return RZ_CHECK_FAIL_NOT_FOUND;
    }
    if (name_is(e->s, e->len, "bad-status")) {
        return RZ_CHECK_FAIL_BAD_STATUS;
    }
    return RZ_CHECK_FAIL_OTHER;
}

static int add_pending(reader *rd, pending *e)
{
    int rv = rz_check_history_add(rd->h, &e->op);
    if (rv == RZ_EINVAL) {
        rz_errmsg_set(rd->err,
                      "the operation invoked at line %zu is inconsistent "
                      "(a completion before its invocation?)",
                      e->line);
        return RZ_EMALFORMED;
    }
    if (rv == RZ_ETOOBIG) {
        rz_errmsg_set(rd->err, "the history has more operations than the "
                               "checker's limit");
    }
    return rv;
}

/* The completion half: finishes the process's pending operation. */
static int on_complete(reader *rd, const record *r, int64_t time)
{
    pending *e = pending_find(rd, r->process);
    rz_check_op *op;
    rz_check_f f;
    int rv = 0;
    if (e == NULL) {
        rz_errmsg_set(rd->err,
                      "process %lld completes an operation it never "
                      "invoked",
                      (long long)r->process);
        return RZ_EMALFORMED;
    }
    op = &e->op;
    if (parse_f(rd->h->model, &r->f, &f) != 0 || f != op->f) {
        rz_errmsg_set(rd->err,
                      "the completion's f differs from the invocation at "
                      "line %zu",
                      e->line);
        return RZ_EMALFORMED;
    }
    if (time < op->invoke_time) {
        return rd_fail(rd, "an operation completes before it was invoked");
    }
    op->return_time = time;
    op->outcome = r->type == R_OK     ? RZ_CHECK_OK
                  : r->type == R_FAIL ? RZ_CHECK_FAIL
                                      : RZ_CHECK_UNKNOWN;
    if (op->key == NULL && r->key.type != 0) {
        const char *k;
        rv = take_text(&r->key, &e->key, &k, &op->key_len);
        op->key = k;
    }
    if (rv == 0 && op->outcome == RZ_CHECK_OK) {
        switch (f) {
        case RZ_CHECK_F_READ:
        case RZ_CHECK_F_GET:
            if (r->value.kind != V_SCALAR) {
                return rd_fail(rd, "a read's completion needs a scalar "
                                   "value");
            }
            rv = take_text(&r->value.sc, &e->value, &op->value, &op->value_len);
            break;
        case RZ_CHECK_F_CREATE:
        case RZ_CHECK_F_CASE_READ:
        case RZ_CHECK_F_SET_STATUS:
            rv = case_fields(rd, &r->value, op, false);
            break;
        default:
            break;
        }
    }
    if (rv == 0 && op->outcome == RZ_CHECK_FAIL) {
        op->fail_reason = fail_reason(r);
    }
    if (rv == 0 && rd->h->model == RZ_CHECK_MODEL_CASE && op->key == NULL) {
        /* A case operation nobody can attribute to a case. A create whose
         * outcome is unknown may lack its id; it then cannot be checked. */
        if (!(f == RZ_CHECK_F_CREATE && op->outcome != RZ_CHECK_OK)) {
            return rd_fail(rd, "a case operation needs a key (the case id)");
        }
        pending_remove(rd, e);
        rd->h->n_added++;
        return 0;
    }
    if (rv == 0) {
        rv = add_pending(rd, e);
    }
    pending_remove(rd, e);
    return rv;
}

static int on_record(reader *rd, const record *r)
{
    int64_t time = (int64_t)rd->line;
    if (r->skip) {
        return 0;
    }
    if (rd->format == RZ_CHECK_FORMAT_JSONL) {
        if (!r->has_time) {
            return rd_fail(rd, "a record needs time_ns");
        }
        time = r->time;
    }
    if (r->type == R_INVOKE) {
        return on_invoke(rd, r, time);
    }
    return on_complete(rd, r, time);
}

/* Reads one line (without its newline) into *buf; 0 at EOF, 1 for a line,
 * RZ_ETOOBIG for an overlong line, RZ_ENOMEM. */
static int read_line(FILE *in, char **buf, size_t *cap, size_t *len)
{
    size_t n = 0;
    int c;
    if (*cap == 0) {
        /* Always a buffer, even for an empty first line. */
        *buf = malloc(4096);
        if (*buf == NULL) {
            return RZ_ENOMEM;
        }
        *cap = 4096;
    }
    /* One reader per stream: the unlocked variant is several times faster
     * on multi-megabyte histories. */
    while ((c = getc_unlocked(in)) != EOF) {
        if (c == '\n') {
            break;
        }
        if (n + 1u >= *cap) {
            size_t nc = *cap == 0 ? 4096 : *cap * 2u;
            char *b;
            if (n >= RZ_CHECK_MAX_LINE_BYTES) {
                return RZ_ETOOBIG;
            }
            b = realloc(*buf, nc);
            if (b == NULL) {
                return RZ_ENOMEM;
            }
            *buf = b;
            *cap = nc;
        }
        (*buf)[n++] = (char)c;
    }
    if (c == EOF && n == 0) {
        return ferror(in) ? RZ_EIO : 0;
    }
    *len = n;
    return 1;
}

static bool blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!is_ws(s[i], false)) {
            return false;
        }
    }
    return true;
}

int rz_check_history_read(FILE *in, rz_check_format format,
                          rz_check_model model, rz_check_history **out,
                          char *errmsg)
{
    reader rd;
    char errbuf[RZ_ERRMSG_BYTES] = "";
    char *line = NULL, *scratch = NULL;
    size_t cap = 0, len = 0, n_lines_nonblank = 0, scratch_cap = 0;
    lexer *lx = NULL;
    int rv;

    RZ_PRE(in != NULL && out != NULL);
    *out = NULL;
    memset(&rd, 0, sizeof(rd));
    rd.format = format;
    rd.err = errbuf;
    if (format != RZ_CHECK_FORMAT_JEPSEN_LOG && format != RZ_CHECK_FORMAT_EDN &&
        format != RZ_CHECK_FORMAT_JSONL) {
        return RZ_EINVAL;
    }
    rv = rz_check_history_create(model, &rd.h);
    if (rv != 0) {
        return rv;
    }
    rd.h->time_is_line = format != RZ_CHECK_FORMAT_JSONL;
    rd.n_tab = 64;
    rd.tab = calloc(rd.n_tab, sizeof(*rd.tab));
    lx = malloc(sizeof(*lx));
    if (rd.tab == NULL || lx == NULL) {
        rv = RZ_ENOMEM;
        goto out;
    }
    for (;;) {
        record r;
        bool ignored = false;
        rv = read_line(in, &line, &cap, &len);
        if (rv == RZ_ETOOBIG) {
            rz_errmsg_set(errbuf, "line is longer than %u bytes",
                          RZ_CHECK_MAX_LINE_BYTES);
            rv = RZ_EMALFORMED;
        }
        if (rv <= 0) {
            break;
        }
        rd.line++;
        if (memchr(line, '\0', len) != NULL) {
            rz_errmsg_set(errbuf, "line holds a NUL byte (binary data?)");
            rv = RZ_EMALFORMED;
            break;
        }
        if (blank(line, len)) {
            continue;
        }
        n_lines_nonblank++;
        if (len + 1u > scratch_cap) {
            free(scratch);
            scratch_cap = len + 1u;
            scratch = malloc(scratch_cap);
            if (scratch == NULL) {
                rv = RZ_ENOMEM;
                break;
            }
        }
        if (format == RZ_CHECK_FORMAT_JEPSEN_LOG) {
            rv = record_from_log(line, len, scratch, &r, &ignored, errbuf);
        } else {
            lexer_init(lx, line, len, scratch, errbuf);
            rv = format == RZ_CHECK_FORMAT_JSONL ? lex_json(lx) : lex_edn(lx);
            if (rv == 0) {
                rv = record_from_tokens(
                    lx, format == RZ_CHECK_FORMAT_JSONL ? "time_ns" : "time",
                    &r, errbuf);
            }
        }
        if (rv == 0 && !ignored) {
            rv = on_record(&rd, &r);
        }
        if (rv != 0) {
            break;
        }
    }
    if (rv == 0) {
        /* Invocations that never completed: outcome unknown. */
        for (size_t i = 0; i < rd.n_tab && rv == 0; i++) {
            pending *e = &rd.tab[i];
            if (!e->used) {
                continue;
            }
            e->op.outcome = RZ_CHECK_UNKNOWN;
            if (rd.h->model == RZ_CHECK_MODEL_CASE && e->op.key == NULL) {
                rd.h->n_added++; /* a create whose case id is unknown */
                continue;
            }
            rv = add_pending(&rd, e);
        }
        if (rv == 0 && n_lines_nonblank > 0 && rd.h->n_added == 0) {
            rz_errmsg_set(errbuf, "no operations found: is this the right "
                                  "--format?");
            rv = RZ_EMALFORMED;
        }
    } else if (rv == RZ_EMALFORMED || rv == RZ_ETOOBIG) {
        char msg[RZ_ERRMSG_BYTES];
        memcpy(msg, errbuf, sizeof(msg));
        rz_errmsg_set(errbuf, "line %zu: %s", rd.line, msg);
        rv = RZ_EMALFORMED;
    } else if (rv == RZ_EIO) {
        rz_errmsg_set(errbuf, "read error");
    }
out:
    if (rd.tab != NULL) {
        for (size_t i = 0; i < rd.n_tab; i++) {
            pending_clear(&rd.tab[i]);
        }
    }
    free(rd.tab);
    free(lx);
    free(line);
    free(scratch);
    if (errmsg != NULL) {
        memcpy(errmsg, errbuf, RZ_ERRMSG_BYTES);
    }
    if (rv != 0) {
        rz_check_history_destroy(rd.h);
        return rv;
    }
    *out = rd.h;
    return 0;
}
