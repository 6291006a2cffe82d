/* ratuszctl output: aligned "key  value" lines for people, one JSON object
 * for scripts (--json). Fields are collected, then printed by out_end. */
#ifndef RZ_CTL_OUT_H
#define RZ_CTL_OUT_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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
#endif
