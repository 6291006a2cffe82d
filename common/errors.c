/* The error table of common.h turned into rz_strerror and rz_errname, and the
 * always-on assertion handler. */
#include "common.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

const char *rz_strerror(int err)
{
    switch (err) {
    case RZ_OK:
        return "success";
#define RZ__ERR_MSG(name, value, msg) \
    case name:                        \
        return msg;
        RZ_ERRORS(RZ__ERR_MSG)
#undef RZ__ERR_MSG
    default:
        return "unknown error";
    }
}

const char *rz_errname(int err)
{
    switch (err) {
    case RZ_OK:
        return "RZ_OK";
#define RZ__ERR_NAME(name, value, msg) \
    case name:                         \
        return #name;
        RZ_ERRORS(RZ__ERR_NAME)
#undef RZ__ERR_NAME
    default:
        return "RZ_EUNKNOWN";
    }
}

void rz_errmsg_set(char *errmsg, const char *fmt, ...)
{
    va_list ap;
    RZ_PRE(errmsg != NULL);
    RZ_PRE(fmt != NULL);
    va_start(ap, fmt);
    vsnprintf(errmsg, RZ_ERRMSG_BYTES, fmt, ap);
    va_end(ap);
}

void rz_assert_fail(const char *expr, const char *file, int line,
                    const char *func)
{
    fprintf(stderr,
            "level=fatal msg=\"assertion failed\" expr=\"%s\" file=%s "
            "line=%d func=%s\n",
            expr, file, line, func);
    fflush(stderr);
    abort();
}
