/* model: the sequential specifications the search checks histories against
 * (register, kv map, ratusz case), and how states and operations print. */
#include "check_int.h"

#include "common/common.h"

#include <stdlib.h>
#include <string.h>

/* A case state packs {exists, status, version} into one u64 so the memo
 * table can hash it like any other state: 0 = does not exist; otherwise bit
 * 40 is set, bits 32..39 hold the status and bits 0..31 the version. */
#define CASE_EXISTS (1ull << 40)
/* Status of a case created by an operation whose result was not reported:
 * NEW or ROUTED (DESIGN.md §2: routed at once when a rule matches). A read
 * narrows it down to what it saw. */
#define STATUS_NEW_OR_ROUTED 15u

static uint64_t case_pack(uint64_t status, uint64_t version)
{
    RZ_PRE(status <= 0xffu && version <= UINT32_MAX);
    return CASE_EXISTS | (status << 32) | version;
}

static bool case_exists(uint64_t s)
{
    return (s & CASE_EXISTS) != 0;
}

static rz_check_status case_status(uint64_t s)
{
    return (rz_check_status)((s >> 32) & 0xffu);
}

static uint64_t case_version(uint64_t s)
{
    return s & 0xffffffffull;
}

/* Whether `to` is allowed from the state's status; a state that is NEW or
 * ROUTED allows what either allows (`all` asks for both). */
static bool case_allowed(uint64_t s, uint64_t to, bool all, uint8_t via)
{
    rz_check_status st = case_status(s);
    rz_check_status t = (rz_check_status)to;
    rz_check_via v = (rz_check_via)via;
    if ((unsigned)st == STATUS_NEW_OR_ROUTED) {
        bool a = rz_check_status_allowed_via(RZ_CHECK_STATUS_NEW, t, v);
        bool b = rz_check_status_allowed_via(RZ_CHECK_STATUS_ROUTED, t, v);
        return all ? (a && b) : (a || b);
    }
    return rz_check_status_allowed_via(st, t, v);
}

static bool case_status_matches(uint64_t s, uint64_t seen)
{
    uint64_t st = (uint64_t)case_status(s);
    if (st == STATUS_NEW_OR_ROUTED) {
        return seen == RZ_CHECK_STATUS_NEW || seen == RZ_CHECK_STATUS_ROUTED;
    }
    return st == seen;
}

static bool case_step(uint64_t s, const rz_check__op *op, uint64_t *next)
{
    *next = s;
    switch ((rz_check_f)op->f) {
    case RZ_CHECK_F_CREATE: {
        uint64_t st =
            op->out1 == RZ_CHECK__NONE ? STATUS_NEW_OR_ROUTED : op->out1;
        if (case_exists(s)) {
            return false; /* a case is created once (exactly-once ids) */
        }
        if (st != STATUS_NEW_OR_ROUTED && st != RZ_CHECK_STATUS_NEW &&
            st != RZ_CHECK_STATUS_ROUTED) {
            return false;
        }
        if (op->out2 != RZ_CHECK__NONE && op->out2 != 1) {
            return false;
        }
        *next = case_pack(st, 1);
        return true;
    }
    case RZ_CHECK_F_SET_STATUS:
        if (op->outcome == RZ_CHECK_FAIL) {
            /* A definite failure must be explained by the state at its
             * linearization point, and changes nothing. */
            switch ((rz_check_fail_reason)op->fail_reason) {
            case RZ_CHECK_FAIL_VERSION_MISMATCH:
                return case_exists(s) && op->in2 != RZ_CHECK__NONE &&
                       case_version(s) != op->in2;
            case RZ_CHECK_FAIL_NOT_FOUND:
                return !case_exists(s);
            case RZ_CHECK_FAIL_BAD_STATUS:
                if (!case_exists(s)) {
                    return false;
                }
                if ((unsigned)case_status(s) == STATUS_NEW_OR_ROUTED) {
                    /* The refusal tells which of the two it was. */
                    bool a = rz_check_status_allowed_via(
                        RZ_CHECK_STATUS_NEW, (rz_check_status)op->in1,
                        (rz_check_via)op->via);
                    bool b = rz_check_status_allowed_via(
                        RZ_CHECK_STATUS_ROUTED, (rz_check_status)op->in1,
                        (rz_check_via)op->via);
                    if (a != b) {
                        *next = case_pack(a ? RZ_CHECK_STATUS_ROUTED
                                            : RZ_CHECK_STATUS_NEW,
                                          case_version(s));
                    }
                    return !(a && b);
                }
                return !case_allowed(s, op->in1, true, op->via);
            case RZ_CHECK_FAIL_OTHER:
                return true;
            }
            return false;
        }
        if (!case_exists(s)) {
            return false;
        }
        if (op->in2 != RZ_CHECK__NONE && case_version(s) != op->in2) {
            return false;
        }
        if (!case_allowed(s, op->in1, false, op->via)) {
            return false;
        }
        if (case_version(s) >= UINT32_MAX) {
            return false;
        }
        if (op->out2 != RZ_CHECK__NONE && op->out2 != case_version(s) + 1u) {
            return false;
        }
        *next = case_pack(op->in1, case_version(s) + 1u);
        return true;
    case RZ_CHECK_F_CASE_READ:
        if (op->out1 == RZ_CHECK_STATUS_NONE) {
            return !case_exists(s);
        }
        if (!case_exists(s) || !case_status_matches(s, op->out1)) {
            return false;
        }
        if (op->out2 != RZ_CHECK__NONE && op->out2 != case_version(s)) {
            return false;
        }
        *next = case_pack(op->out1, case_version(s));
        return true;
    default:
        RZ_UNREACHABLE();
    }
}

static bool kv_append(rz_check__model_ctx *m, uint64_t s, uint64_t arg,
                      uint64_t *next)
{
    rz_check__strtab *t = m->strs;
    size_t a = t->lens[s], b = t->lens[arg];
    char *buf;
    uint32_t id;
    int rv;
    if (b == 0) {
        *next = s;
        return true;
    }
    if (a + b > RZ_CHECK_MAX_STATE_BYTES ||
        t->bytes + a + b > RZ_CHECK_MAX_INTERN_BYTES) {
        m->err = RZ_ETOOBIG;
        return false;
    }
    buf = malloc(a + b);
    if (buf == NULL) {
        m->err = RZ_ENOMEM;
        return false;
    }
    memcpy(buf, t->strs[s], a);
    memcpy(buf + a, t->strs[arg], b);
    rv = rz_check__strtab_intern(t, buf, a + b, &id);
    free(buf);
    if (rv != 0) {
        m->err = rv;
        return false;
    }
    *next = id;
    return true;
}

bool rz_check__model_state_exact(const rz_check_history *h, uint64_t s)
{
    return h->model != RZ_CHECK_MODEL_CASE || !case_exists(s) ||
           (unsigned)case_status(s) != STATUS_NEW_OR_ROUTED;
}

uint64_t rz_check__model_init(const rz_check_history *h)
{
    switch (h->model) {
    case RZ_CHECK_MODEL_REGISTER:
        return RZ_CHECK__NIL;
    case RZ_CHECK_MODEL_KV:
        return h->empty_id;
    case RZ_CHECK_MODEL_CASE:
        return 0;
    }
    RZ_UNREACHABLE();
}

bool rz_check__model_step(rz_check__model_ctx *m, uint64_t s,
                          const rz_check__op *op, uint64_t *next)
{
    RZ_PRE(m != NULL && op != NULL && next != NULL);
    *next = s;
    switch ((rz_check_f)op->f) {
    case RZ_CHECK_F_READ:
    case RZ_CHECK_F_GET:
        return op->out1 == s;
    case RZ_CHECK_F_WRITE:
    case RZ_CHECK_F_PUT:
        *next = op->in1;
        return true;
    case RZ_CHECK_F_CAS:
        if (op->outcome == RZ_CHECK_FAIL) {
            return s != op->in1; /* "the value was not from" */
        }
        if (s != op->in1) {
            return false;
        }
        *next = op->in2;
        return true;
    case RZ_CHECK_F_APPEND:
        return kv_append(m, s, op->in1, next);
    case RZ_CHECK_F_CREATE:
    case RZ_CHECK_F_SET_STATUS:
    case RZ_CHECK_F_CASE_READ:
        return case_step(s, op, next);
    }
    RZ_UNREACHABLE();
}

/* ---- Printing ---- */

static void value_print(rz_check__text *t, const rz_check_history *h,
                        uint64_t id)
{
    const char *s;
    uint32_t len;
    if (id == RZ_CHECK__NIL) {
        rz_check__text_printf(t, "nil");
        return;
    }
    RZ_ASSERT(id < h->strs.n);
    s = h->strs.strs[id];
    len = h->strs.lens[id];
    if (h->model == RZ_CHECK_MODEL_REGISTER) {
        rz_check__text_printf(t, "%.*s", (int)(len > 60 ? 60 : len), s);
    } else if (len > 60) {
        /* Long kv strings: the tail is where appends differ. */
        rz_check__text_printf(t, "\"...%s\" (%u bytes)", s + len - 50, len);
    } else {
        rz_check__text_printf(t, "\"%s\"", s);
    }
}

static const char *status_name(uint64_t st)
{
    if (st == STATUS_NEW_OR_ROUTED) {
        return "NEW|ROUTED";
    }
    return rz_check_status_name((rz_check_status)st);
}

void rz_check__state_print(rz_check__text *t, const rz_check_history *h,
                           uint64_t s)
{
    if (h->model != RZ_CHECK_MODEL_CASE) {
        value_print(t, h, s);
    } else if (!case_exists(s)) {
        rz_check__text_printf(t, "no case");
    } else {
        rz_check__text_printf(t, "%s v%llu", status_name(case_status(s)),
                              (unsigned long long)case_version(s));
    }
}

static void version_print(rz_check__text *t, const char *prefix, uint64_t v)
{
    if (v != RZ_CHECK__NONE) {
        rz_check__text_printf(t, "%sv%llu", prefix, (unsigned long long)v);
    }
}

void rz_check__op_print(rz_check__text *t, const rz_check_history *h,
                        const rz_check__op *op)
{
    bool ok = op->outcome == RZ_CHECK_OK;
    rz_check__text_printf(t, "p%-4lld ", (long long)op->process);
    if (op->return_time == RZ_CHECK_TIME_NEVER) {
        rz_check__text_printf(t, "[%s %lld .. never] ",
                              h->time_is_line ? "line" : "t",
                              (long long)op->invoke_time);
    } else {
        rz_check__text_printf(
            t, "[%s %lld .. %lld] ", h->time_is_line ? "line" : "t",
            (long long)op->invoke_time, (long long)op->return_time);
    }
    switch ((rz_check_f)op->f) {
    case RZ_CHECK_F_READ:
    case RZ_CHECK_F_GET:
        rz_check__text_printf(t, "%s -> ",
                              op->f == RZ_CHECK_F_READ ? "read" : "get");
        value_print(t, h, op->out1);
        break;
    case RZ_CHECK_F_WRITE:
    case RZ_CHECK_F_PUT:
    case RZ_CHECK_F_APPEND:
        rz_check__text_printf(t, "%s ",
                              op->f == RZ_CHECK_F_WRITE ? "write"
                              : op->f == RZ_CHECK_F_PUT ? "put"
                                                        : "append");
        value_print(t, h, op->in1);
        break;
    case RZ_CHECK_F_CAS:
        rz_check__text_printf(t, "cas ");
        value_print(t, h, op->in1);
        rz_check__text_printf(t, " -> ");
        value_print(t, h, op->in2);
        if (op->outcome == RZ_CHECK_FAIL) {
            rz_check__text_printf(t, " FAILED (value was not ");
            value_print(t, h, op->in1);
            rz_check__text_printf(t, ")");
        }
        break;
    case RZ_CHECK_F_CREATE:
        rz_check__text_printf(t, "create");
        if (ok) {
            rz_check__text_printf(t, " -> %s",
                                  op->out1 == RZ_CHECK__NONE
                                      ? "NEW|ROUTED"
                                      : status_name(op->out1));
            version_print(t, " ", op->out2);
        }
        break;
    case RZ_CHECK_F_SET_STATUS:
        rz_check__text_printf(t, "set-status %s", status_name(op->in1));
        version_print(t, " expecting ", op->in2);
        if (ok) {
            rz_check__text_printf(t, " -> ok");
            version_print(t, " ", op->out2);
        } else if (op->outcome == RZ_CHECK_FAIL) {
            static const char *const why[] = {
                "failed", "FAILED: version mismatch", "FAILED: not found",
                "FAILED: transition not allowed"};
            rz_check__text_printf(t, " -> %s",
                                  op->fail_reason < RZ_ARRAY_LEN(why)
                                      ? why[op->fail_reason]
                                      : "failed");
        }
        break;
    case RZ_CHECK_F_CASE_READ:
        rz_check__text_printf(t, "read -> ");
        if (op->out1 == RZ_CHECK_STATUS_NONE) {
            rz_check__text_printf(t, "not found");
        } else {
            rz_check__text_printf(t, "%s", status_name(op->out1));
            version_print(t, " ", op->out2);
        }
        break;
    }
    if (op->outcome == RZ_CHECK_UNKNOWN) {
        rz_check__text_printf(t, " (outcome unknown)");
    }
}
