#include "out.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/common.h"

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
    put(o, key, val, false);
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

void ctl_out_hex(ctl_out *o, const char *key, const uint8_t *p, size_t n)
{
    size_t i;
    RZ_ASSERT(o->n < CTL_OUT_MAX_FIELDS);
    RZ_ASSERT(2 * n < sizeof o->own[0]);
    char *b = o->own[o->n];
    for (i = 0; i < n; i++)
        snprintf(b + 2 * i, 3, "%02x", p[i]);
    b[2 * i] = '\0';
    put(o, key, b, false);
}

/* JSON string escaping: quotes, backslash and control characters. */
static void json_str(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
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
            json_str(o->keys[i]);
            putchar(':');
            if (o->raw[i])
                fputs(o->vals[i], stdout);
            else
                json_str(o->vals[i]);
        }
        puts("}");
        return;
    }
    for (int i = 0; i < o->n; i++)
        printf("%-*s  %s\n", (int)w, o->keys[i], o->vals[i]);
}
