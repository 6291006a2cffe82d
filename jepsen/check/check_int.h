/* check_int: structures shared by the files of jepsen/check/ (private). */
#ifndef RZ_CHECK_INT_H
#define RZ_CHECK_INT_H

#include "check.h"

#include <stdarg.h>

/* "Not reported" inside the compact op (versions are stored as u64). */
#define RZ_CHECK__NONE UINT64_MAX
/* Interned id of nil (register) — id 0 is never a real string. */
#define RZ_CHECK__NIL 0u

/* A string interner: each distinct byte string gets a small id, so model
 * states and values compare as integers. Ids are dense from 1. */
typedef struct rz_check__strtab
{
    char **strs;      /* id -> NUL-terminated copy (strs[0] unused) */
    uint32_t *lens;   /* id -> length */
    uint32_t n;       /* ids in use, including 0 */
    uint32_t cap;     /* capacity of strs/lens */
    uint32_t *slots;  /* open addressing, 0 = empty, else id */
    uint32_t n_slots; /* power of two */
    uint64_t bytes;   /* total bytes copied (bounded by the caller) */
} rz_check__strtab;

int rz_check__strtab_init(rz_check__strtab *t);
void rz_check__strtab_close(rz_check__strtab *t);
/* Id of s[0..len), adding it if new. RZ_ENOMEM. */
int rz_check__strtab_intern(rz_check__strtab *t, const char *s, size_t len,
                            uint32_t *id);

/* The compact operation the search works on. The meaning of in1/in2/out1/
 * out2 per f is in history.c (rz_check_history_add). */
typedef struct rz_check__op
{
    int64_t process;
    int64_t invoke_time;
    int64_t return_time; /* RZ_CHECK_TIME_NEVER when outcome UNKNOWN */
    uint64_t in1, in2, out1, out2;
    uint32_t key;
    uint32_t seq; /* position in the history as added */
    uint8_t f;
    uint8_t outcome;
    uint8_t fail_reason;
    uint8_t via; /* rz_check_via */
} rz_check__op;

struct rz_check_history
{
    rz_check_model model;
    rz_check__op *ops;
    size_t n_ops;
    size_t cap_ops;
    size_t n_added; /* including dropped no-ops */
    rz_check__strtab strs;
    uint32_t empty_id; /* id of "" (kv initial state) */
    bool time_is_line; /* times are input line numbers (for printing) */
};

/* A growable text buffer with a cap; writes past the cap are dropped and
 * `truncated` set. */
typedef struct rz_check__text
{
    char *s;
    size_t len, cap, max;
    bool truncated;
    bool nomem;
} rz_check__text;

void rz_check__text_init(rz_check__text *t, size_t max_bytes);
void rz_check__text_printf(rz_check__text *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void rz_check__text_close(rz_check__text *t);

/* Model stepping (model.c). A model state is one u64: the interned value
 * (register, kv) or a packed case {exists, status, version}. */
typedef struct rz_check__model_ctx
{
    rz_check_model model;
    rz_check__strtab *strs; /* kv appends intern new strings */
    int err;                /* sticky RZ_ENOMEM / RZ_ETOOBIG from appends */
} rz_check__model_ctx;

uint64_t rz_check__model_init(const rz_check_history *h);
/* False for a state that stands for several (a case created with an
 * unreported status: NEW or ROUTED). Observations may narrow such a state,
 * so the search does not take them greedily there. */
bool rz_check__model_state_exact(const rz_check_history *h, uint64_t s);
/* True if `op` may take effect in state s; *next is the state after. */
bool rz_check__model_step(rz_check__model_ctx *m, uint64_t s,
                          const rz_check__op *op, uint64_t *next);
/* Prints a state and an operation readably. */
void rz_check__state_print(rz_check__text *t, const rz_check_history *h,
                           uint64_t s);
void rz_check__op_print(rz_check__text *t, const rz_check_history *h,
                        const rz_check__op *op);

/* splitmix64: the checker's and the generator's only source of randomness
 * (deterministic from a seed). */
static inline uint64_t rz_check__mix(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

#endif /* RZ_CHECK_INT_H */
