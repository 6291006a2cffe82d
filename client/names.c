/* Names and messages of codes and enums, and the small helpers of ratusz.h
 * that need no connection. The RATUSZ_E* codes are the RZ_E* codes of
 * common/common.h; the asserts below keep them equal. */
#include "client/ratusz.h"
#include "common/common.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

_Static_assert((int)RATUSZ_ENOMEM == (int)RZ_ENOMEM,
               "RATUSZ_ENOMEM must equal RZ_ENOMEM");
_Static_assert((int)RATUSZ_EINVAL == (int)RZ_EINVAL,
               "RATUSZ_EINVAL must equal RZ_EINVAL");
_Static_assert((int)RATUSZ_EMALFORMED == (int)RZ_EMALFORMED,
               "RATUSZ_EMALFORMED must equal RZ_EMALFORMED");
_Static_assert((int)RATUSZ_ECORRUPT == (int)RZ_ECORRUPT,
               "RATUSZ_ECORRUPT must equal RZ_ECORRUPT");
_Static_assert((int)RATUSZ_ETOOBIG == (int)RZ_ETOOBIG,
               "RATUSZ_ETOOBIG must equal RZ_ETOOBIG");
_Static_assert((int)RATUSZ_ENOTFOUND == (int)RZ_ENOTFOUND,
               "RATUSZ_ENOTFOUND must equal RZ_ENOTFOUND");
_Static_assert((int)RATUSZ_EEXISTS == (int)RZ_EEXISTS,
               "RATUSZ_EEXISTS must equal RZ_EEXISTS");
_Static_assert((int)RATUSZ_EIO == (int)RZ_EIO, "RATUSZ_EIO must equal RZ_EIO");
_Static_assert((int)RATUSZ_ENOSPACE == (int)RZ_ENOSPACE,
               "RATUSZ_ENOSPACE must equal RZ_ENOSPACE");
_Static_assert((int)RATUSZ_EBADSTATUS == (int)RZ_EBADSTATUS,
               "RATUSZ_EBADSTATUS must equal RZ_EBADSTATUS");
_Static_assert((int)RATUSZ_EVERSION == (int)RZ_EVERSION,
               "RATUSZ_EVERSION must equal RZ_EVERSION");
_Static_assert((int)RATUSZ_ENOTLEADER == (int)RZ_ENOTLEADER,
               "RATUSZ_ENOTLEADER must equal RZ_ENOTLEADER");
_Static_assert((int)RATUSZ_ELEADERSHIPLOST == (int)RZ_ELEADERSHIPLOST,
               "RATUSZ_ELEADERSHIPLOST must equal RZ_ELEADERSHIPLOST");
_Static_assert((int)RATUSZ_ETIMEDOUT == (int)RZ_ETIMEDOUT,
               "RATUSZ_ETIMEDOUT must equal RZ_ETIMEDOUT");
_Static_assert((int)RATUSZ_EAUTH == (int)RZ_EAUTH,
               "RATUSZ_EAUTH must equal RZ_EAUTH");
_Static_assert((int)RATUSZ_EDENIED == (int)RZ_EDENIED,
               "RATUSZ_EDENIED must equal RZ_EDENIED");
_Static_assert((int)RATUSZ_EEXPIRED == (int)RZ_EEXPIRED,
               "RATUSZ_EEXPIRED must equal RZ_EEXPIRED");
_Static_assert((int)RATUSZ_ECLOSED == (int)RZ_ECLOSED,
               "RATUSZ_ECLOSED must equal RZ_ECLOSED");
_Static_assert((int)RATUSZ_EPROTO == (int)RZ_EPROTO,
               "RATUSZ_EPROTO must equal RZ_EPROTO");
_Static_assert((int)RATUSZ_EBUSY == (int)RZ_EBUSY,
               "RATUSZ_EBUSY must equal RZ_EBUSY");
_Static_assert((int)RATUSZ_ESHUTDOWN == (int)RZ_ESHUTDOWN,
               "RATUSZ_ESHUTDOWN must equal RZ_ESHUTDOWN");
_Static_assert((int)RATUSZ_EUNAVAILABLE == (int)RZ_EUNAVAILABLE,
               "RATUSZ_EUNAVAILABLE must equal RZ_EUNAVAILABLE");
_Static_assert((int)RATUSZ_ECANCELED == (int)RZ_ECANCELED,
               "RATUSZ_ECANCELED must equal RZ_ECANCELED");
_Static_assert((int)RATUSZ_ESTALE == (int)RZ_ESTALE,
               "RATUSZ_ESTALE must equal RZ_ESTALE");
_Static_assert((int)RATUSZ_ENOCASE == (int)RZ_ENOCASE,
               "RATUSZ_ENOCASE must equal RZ_ENOCASE");
_Static_assert((int)RATUSZ_ENOSERVICE == (int)RZ_ENOSERVICE,
               "RATUSZ_ENOSERVICE must equal RZ_ENOSERVICE");
_Static_assert((int)RATUSZ_ENOUNIT == (int)RZ_ENOUNIT,
               "RATUSZ_ENOUNIT must equal RZ_ENOUNIT");
_Static_assert((int)RATUSZ_ENODISTRICT == (int)RZ_ENODISTRICT,
               "RATUSZ_ENODISTRICT must equal RZ_ENODISTRICT");
_Static_assert((int)RATUSZ_ENOREPORTER == (int)RZ_ENOREPORTER,
               "RATUSZ_ENOREPORTER must equal RZ_ENOREPORTER");
_Static_assert((int)RATUSZ_EMERGED == (int)RZ_EMERGED,
               "RATUSZ_EMERGED must equal RZ_EMERGED");
_Static_assert((int)RATUSZ_EPERM == (int)RZ_EPERM,
               "RATUSZ_EPERM must equal RZ_EPERM");
_Static_assert((int)RATUSZ_ECONFIG == (int)RZ_ECONFIG,
               "RATUSZ_ECONFIG must equal RZ_ECONFIG");
_Static_assert((int)RATUSZ_EQUORUM == (int)RZ_EQUORUM,
               "RATUSZ_EQUORUM must equal RZ_EQUORUM");
_Static_assert((int)RATUSZ_EUTF8 == (int)RZ_EUTF8,
               "RATUSZ_EUTF8 must equal RZ_EUTF8");
_Static_assert((int)RATUSZ_EREUSED == (int)RZ_EREUSED,
               "RATUSZ_EREUSED must equal RZ_EREUSED");
_Static_assert((int)RATUSZ_ERRMSG_BYTES == (int)RZ_ERRMSG_BYTES,
               "errmsg sizes");

static const char *const err_names[] = {
    "RATUSZ_OK",         "RATUSZ_ENOMEM",          "RATUSZ_EINVAL",
    "RATUSZ_EMALFORMED", "RATUSZ_ECORRUPT",        "RATUSZ_ETOOBIG",
    "RATUSZ_ENOTFOUND",  "RATUSZ_EEXISTS",         "RATUSZ_EIO",
    "RATUSZ_ENOSPACE",   "RATUSZ_EBADSTATUS",      "RATUSZ_EVERSION",
    "RATUSZ_ENOTLEADER", "RATUSZ_ELEADERSHIPLOST", "RATUSZ_ETIMEDOUT",
    "RATUSZ_EAUTH",      "RATUSZ_EDENIED",         "RATUSZ_EEXPIRED",
    "RATUSZ_ECLOSED",    "RATUSZ_EPROTO",          "RATUSZ_EBUSY",
    "RATUSZ_ESHUTDOWN",  "RATUSZ_EUNAVAILABLE",    "RATUSZ_ECANCELED",
    "RATUSZ_ESTALE",     "RATUSZ_ENOCASE",         "RATUSZ_ENOSERVICE",
    "RATUSZ_ENOUNIT",    "RATUSZ_ENODISTRICT",     "RATUSZ_ENOREPORTER",
    "RATUSZ_EMERGED",    "RATUSZ_EPERM",           "RATUSZ_ECONFIG",
    "RATUSZ_EQUORUM",    "RATUSZ_EUTF8",           "RATUSZ_EREUSED",
};

const char *ratusz_version(void)
{
    return "0.1.0";
}

const char *ratusz_strerror(int err)
{
    /* common's table has the same codes, so its sentences serve. */
    return rz_strerror(err);
}

const char *ratusz_errname(int err)
{
    if (err > 0 || (size_t) - (long)err >= RZ_ARRAY_LEN(err_names)) {
        return "RATUSZ_EUNKNOWN";
    }
    return err_names[-err];
}

/* Name tables indexed by wire value. */
static const char *const status_names[] = {
    "NEW", "TRIAGE", "ROUTED", "IN_PROGRESS", "ON_HOLD", "RESOLVED", "CLOSED"};
static const char *const kind_names[] = {"INFORMATION", "INCIDENT", "COMPLAINT",
                                         "SUGGESTION"};
static const char *const channel_names[] = {
    "PHONE", "WEB", "MOBILE", "EMAIL", "CHAT", "FAX", "WALK_IN", "INTERNAL"};
static const char *const priority_names[] = {"LOW", "NORMAL", "HIGH", "URGENT"};
static const char *const event_names[] = {
    "CREATED", "ROUTED",   "STATUS_CHANGED",   "COMMENT",   "ASSIGNED",
    "MERGED",  "REOPENED", "CITIZEN_NOTIFIED", "PII_ERASED"};
static const char *const actor_names[] = {"SYSTEM", "RESIDENT", "AGENT",
                                          "UNIT",   "OPERATOR", "PORTAL"};
static const char *const catalog_names[] = {"DISTRICT", "UNIT", "SERVICE",
                                            "RULE"};
/* Index 0 is unused: ops start at 1. */
static const char *const op_names[] = {NULL,     "status",  "route", "reopen",
                                       "assign", "comment", "merge", "notify"};

static const char *name_of(const char *const *names, size_t n, int v)
{
    if (v < 0 || (size_t)v >= n) {
        return NULL;
    }
    return names[v];
}

static int parse_of(const char *const *names, size_t n, const char *s, int *out)
{
    if (s == NULL) {
        return RATUSZ_EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        if (names[i] != NULL && strcasecmp(names[i], s) == 0) {
            *out = (int)i;
            return 0;
        }
    }
    return RATUSZ_EINVAL;
}

/* name and parse functions for one enum type and its table. */
#define NAME_PARSE(prefix, type, table)                       \
    const char *prefix##_name(int v)                          \
    {                                                         \
        return name_of(table, RZ_ARRAY_LEN(table), v);        \
    }                                                         \
    int prefix##_parse(const char *s, type *out)              \
    {                                                         \
        int v = 0;                                            \
        int rv = parse_of(table, RZ_ARRAY_LEN(table), s, &v); \
        if (rv == 0) {                                        \
            *out = (type)v;                                   \
        }                                                     \
        return rv;                                            \
    }

NAME_PARSE(ratusz_case_status, ratusz_case_status, status_names)
NAME_PARSE(ratusz_kind, ratusz_kind, kind_names)
NAME_PARSE(ratusz_channel, ratusz_channel, channel_names)
NAME_PARSE(ratusz_priority, ratusz_priority, priority_names)
NAME_PARSE(ratusz_event_type, ratusz_event_type, event_names)
NAME_PARSE(ratusz_actor_role, ratusz_actor_role, actor_names)
NAME_PARSE(ratusz_catalog_type, ratusz_catalog_type, catalog_names)
NAME_PARSE(ratusz_op, ratusz_op, op_names)

void ratusz_case_new_init(ratusz_case_new *c)
{
    RZ_PRE(c != NULL);
    memset(c, 0, sizeof(*c));
    c->kind = RATUSZ_KIND_INCIDENT;
    c->channel = RATUSZ_CHANNEL_PHONE;
    c->priority = RATUSZ_PRIORITY_NORMAL;
}

void ratusz_list_filter_init(ratusz_list_filter *f)
{
    RZ_PRE(f != NULL);
    memset(f, 0, sizeof(*f));
    f->status = RATUSZ_ANY;
    f->channel = RATUSZ_ANY;
}
