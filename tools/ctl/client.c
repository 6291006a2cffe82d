/* ratuszctl on libratusz (client.h): handles, failures, renderings. */
#include "client.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/common.h"

volatile sig_atomic_t ctl_interrupted;

static void on_signal(int sig)
{
    (void)sig;
    ctl_interrupted = 1;
}

void ctl_catch_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

int ctl_client_open(ctl_client *c, const char *cmd, const ctl_opt *opts)
{
    const char *eps[CTL_MAX_ENDPOINTS];
    char errmsg[RATUSZ_ERRMSG_BYTES] = "";
    ratusz_options o;
    uint64_t t = CTL_TIMEOUT_MS_DEFAULT;
    int rc;
    memset(c, 0, sizeof *c);
    c->cmd = cmd;
    c->json = opts[CTL_O_JSON].seen;
    if (opts[CTL_O_TIMEOUT].seen &&
        (!ctl_parse_u64(opts[CTL_O_TIMEOUT].value, &t) || t == 0 ||
         t > CTL_TIMEOUT_MS_MAX))
        return ctl_usage_err(cmd, "--timeout-ms must be 1..600000");
    c->timeout_ms = (uint32_t)t;
    rc = ctl_where_resolve(cmd, opts[CTL_O_ENDPOINTS].value,
                           opts[CTL_O_IDENTITY].value, &c->where);
    if (rc != 0)
        return rc;
    for (size_t i = 0; i < c->where.n; i++)
        eps[i] = c->where.ep[i].client;
    memset(&o, 0, sizeof o);
    o.endpoints = eps;
    o.n_endpoints = c->where.n;
    o.identity_path = c->where.identity;
    o.timeout_ms = c->timeout_ms;
    o.connect_timeout_ms = c->timeout_ms < 1000u ? c->timeout_ms : 1000u;
    rc = ratusz_open(&o, &c->h, errmsg);
    if (rc != 0) {
        fprintf(stderr, "ratuszctl %s: %s\n", cmd,
                errmsg[0] ? errmsg : ratusz_strerror(rc));
        c->h = NULL;
        /* A bad identity or endpoint is bad input; nothing was sent. */
        return rc == RATUSZ_ENOMEM ? CTL_EXIT_FAIL : CTL_EXIT_USAGE;
    }
    return 0;
}

void ctl_client_close(ctl_client *c)
{
    ratusz_close(c->h);
    c->h = NULL;
}

/* What to do after an error the cluster gave, where a general sentence
 * helps more than the code's own. */
static const char *hint(int rc)
{
    switch (rc) {
    case RATUSZ_ENOCASE:
        return "check the case id ('ratuszctl case list')";
    case RATUSZ_EBADSTATUS:
        return "see the status lifecycle in docs/ratuszctl.md";
    case RATUSZ_EVERSION:
        return "read the case again ('ratuszctl case get') and retry with "
               "its version";
    case RATUSZ_EDENIED:
        return "use an identity whose role may do this (--identity; the "
               "operator's is var/operator.identity)";
    case RATUSZ_ENOSERVICE:
    case RATUSZ_ENOUNIT:
    case RATUSZ_ENODISTRICT:
        return "see the codes with 'ratuszctl catalog list'";
    case RATUSZ_ETIMEDOUT:
        return "the outcome is unknown: check with 'ratuszctl case get' or "
               "'case list' before trying again";
    default:
        return NULL;
    }
}

int ctl_client_fail(const ctl_client *c, int rc, const ratusz_outcome *o)
{
    const char *msg = o && o->message[0] ? o->message : ratusz_strerror(rc);
    const char *h = hint(rc);
    if (rc == RATUSZ_EUNAVAILABLE) {
        fprintf(stderr,
                "ratuszctl %s: the cluster is unreachable or has no leader "
                "(%s; endpoints from %s); start it ('make run') or check "
                "--endpoints.\n",
                c->cmd, msg, c->where.source);
        return CTL_EXIT_UNREACHABLE;
    }
    if (rc == RATUSZ_EVERSION && o) {
        fprintf(stderr,
                "ratuszctl %s: the case is at version %u, not the expected "
                "one; %s.\n",
                c->cmd, o->current_version, h);
        return CTL_EXIT_FAIL;
    }
    fprintf(stderr, "ratuszctl %s: %s (%s)%s%s.\n", c->cmd, msg,
            ratusz_errname(rc), h ? "; " : "", h ? h : "");
    return CTL_EXIT_FAIL;
}

void ctl_time_str(uint64_t ms, char *out, size_t n)
{
    time_t t = (time_t)(ms / 1000u);
    struct tm tm;
    if (ms == 0 || !gmtime_r(&t, &tm) ||
        !strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm))
        snprintf(out, n, "-");
}

bool ctl_time_parse(const char *s, uint64_t *ms)
{
    struct tm tm;
    const char *end;
    time_t t;
    if (ctl_parse_u64(s, ms))
        return true;
    memset(&tm, 0, sizeof tm);
    end = strptime(s, "%Y-%m-%d", &tm);
    if (end && *end == 'T')
        end = strptime(end, "T%H:%M:%SZ", &tm);
    if (!end || *end != '\0')
        return false;
    t = timegm(&tm);
    if (t < 0)
        return false;
    *ms = (uint64_t)t * 1000u;
    return true;
}

const char *ctl_name(const char *name, char *buf, size_t n, int v)
{
    if (name)
        return name;
    snprintf(buf, n, "%d", v);
    return buf;
}

void ctl_json_case(ctl_json *j, const char *key, const ratusz_case *c)
{
    ctl_json_obj_begin(j, key);
    ctl_json_case_fields(j, c);
    ctl_json_obj_end(j);
}

void ctl_json_case_fields(ctl_json *j, const ratusz_case *c)
{
    char b[16];
    ctl_json_u64(j, "case_id", c->case_id);
    ctl_json_str(j, "number", c->number);
    ctl_json_str(j, "status",
                 ctl_name(ratusz_case_status_name((int)c->status), b, sizeof b,
                          (int)c->status));
    ctl_json_u64(j, "version", c->version);
    ctl_json_str(
        j, "kind",
        ctl_name(ratusz_kind_name((int)c->kind), b, sizeof b, (int)c->kind));
    ctl_json_str(j, "channel",
                 ctl_name(ratusz_channel_name((int)c->channel), b, sizeof b,
                          (int)c->channel));
    ctl_json_str(j, "priority",
                 ctl_name(ratusz_priority_name((int)c->priority), b, sizeof b,
                          (int)c->priority));
    ctl_json_str(j, "service", c->service);
    ctl_json_str(j, "district", c->district);
    ctl_json_str(j, "unit_id", c->unit_id);
    ctl_json_str(j, "street", c->street);
    ctl_json_str(j, "house_no", c->house_no);
    ctl_json_f64(j, "lat", c->lat);
    ctl_json_f64(j, "lon", c->lon);
    ctl_json_str(j, "description", c->description);
    ctl_json_str(j, "resolution", c->resolution);
    ctl_json_u64(j, "created_ms", c->created_ms);
    ctl_json_u64(j, "updated_ms", c->updated_ms);
    ctl_json_u64(j, "due_ms", c->due_ms);
    ctl_json_u64(j, "closed_ms", c->closed_ms);
    ctl_json_u64(j, "reporter_id", c->reporter_id);
    ctl_json_u64(j, "parent_case_id", c->parent_case_id);
    ctl_json_u64(j, "assignee_id", c->assignee_id);
    ctl_json_u64(j, "n_events", c->n_events);
    ctl_json_bool(j, "notify", c->notify);
}

/* A status of an event as a name, or null when the event carries none. */
static void json_status(ctl_json *j, const char *key, int v)
{
    const char *n = ratusz_case_status_name(v);
    if (n)
        ctl_json_str(j, key, n);
    else
        ctl_json_null(j, key);
}

void ctl_json_event(ctl_json *j, const char *key, const ratusz_event *e)
{
    char b[16];
    ctl_json_obj_begin(j, key);
    ctl_json_u64(j, "case_id", e->case_id);
    ctl_json_u64(j, "seq", e->seq);
    ctl_json_str(j, "type",
                 ctl_name(ratusz_event_type_name((int)e->type), b, sizeof b,
                          (int)e->type));
    ctl_json_u64(j, "revision", e->revision);
    ctl_json_u64(j, "at_ms", e->at_ms);
    ctl_json_str(j, "actor_role",
                 ctl_name(ratusz_actor_role_name((int)e->actor_role), b,
                          sizeof b, (int)e->actor_role));
    ctl_json_u64(j, "actor_id", e->actor_id);
    json_status(j, "status_from", e->status_from);
    json_status(j, "status_to", e->status_to);
    ctl_json_str(j, "unit_from", e->unit_from);
    ctl_json_str(j, "unit_to", e->unit_to);
    ctl_json_u64(j, "other_id", e->other_id);
    ctl_json_str(
        j, "channel",
        ctl_name(ratusz_channel_name(e->channel), b, sizeof b, e->channel));
    ctl_json_bool(j, "public", e->is_public);
    ctl_json_str(j, "text", e->text);
    ctl_json_obj_end(j);
}

void ctl_event_detail(const ratusz_event *e, char *out, size_t n)
{
    const char *from = ratusz_case_status_name(e->status_from);
    const char *to = ratusz_case_status_name(e->status_to);
    const char *text = e->text ? e->text : "";
    switch (e->type) {
    case RATUSZ_EVENT_ROUTED:
        snprintf(out, n, "%s -> %s%s%s", e->unit_from[0] ? e->unit_from : "-",
                 e->unit_to, text[0] ? ": " : "", text);
        break;
    case RATUSZ_EVENT_STATUS_CHANGED:
    case RATUSZ_EVENT_REOPENED:
        snprintf(out, n, "%s -> %s%s%s", from ? from : "?", to ? to : "?",
                 text[0] ? ": " : "", text);
        break;
    case RATUSZ_EVENT_COMMENT:
        snprintf(out, n, "(%s) %s", e->is_public ? "public" : "internal", text);
        break;
    case RATUSZ_EVENT_ASSIGNED:
        snprintf(out, n, "to %llu", (unsigned long long)e->other_id);
        break;
    case RATUSZ_EVENT_MERGED:
        snprintf(out, n, "with case %llu", (unsigned long long)e->other_id);
        break;
    case RATUSZ_EVENT_CREATED:
        snprintf(out, n, "%s%s", to ? "status " : "", to ? to : "");
        break;
    default:
        snprintf(out, n, "%s", text);
        break;
    }
}
