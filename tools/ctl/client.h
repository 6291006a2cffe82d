/* ratuszctl's use of libratusz (client/ratusz.h): opening a handle from the
 * flags and ./var, the flags every cluster command shares, turning a failed
 * call into one sentence and an exit code, and JSON/text renderings of the
 * library's cases and events. */
#ifndef RZ_CTL_CLIENT_H
#define RZ_CTL_CLIENT_H
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client/ratusz.h"
#include "ctl.h"
#include "out.h"

/* Default deadline of one call (--timeout-ms overrides). */
#define CTL_TIMEOUT_MS_DEFAULT 5000u
#define CTL_TIMEOUT_MS_MAX 600000u

/* The flags every cluster command takes, first in its option table:
 * opts[CTL_O_JSON] ... opts[CTL_O_TIMEOUT]. */
enum {
    CTL_O_JSON = 0,
    CTL_O_ENDPOINTS,
    CTL_O_IDENTITY,
    CTL_O_TIMEOUT,
    CTL_O_COMMON
};
#define CTL_COMMON_OPTS                                                 \
    {"--json", false, NULL, false}, {"--endpoints", true, NULL, false}, \
        {"--identity", true, NULL, false},                              \
    {                                                                   \
        "--timeout-ms", true, NULL, false                               \
    }
#define CTL_COMMON_USAGE                                                     \
    "common flags: --json, --endpoints H:P,... (RATUSZ_ENDPOINTS), "         \
    "--identity FILE\n  (RATUSZ_IDENTITY), --timeout-ms N (5000); default: " \
    "$RATUSZ_VAR or ./var of 'make run'\n"

typedef struct ctl_client
{
    ratusz *h;
    ctl_where where;
    uint32_t timeout_ms;
    bool json;
    const char *cmd; /* "case", "status", ... for messages */
} ctl_client;

/* Resolves where the cluster is from the common flags and opens a handle.
 * Returns 0 or an exit code (sentence printed). */
int ctl_client_open(ctl_client *c, const char *cmd, const ctl_opt *opts);
void ctl_client_close(ctl_client *c);

/* Prints one sentence for a failed call (rc, with the outcome's message)
 * and returns the exit code: CTL_EXIT_UNREACHABLE when no node could be
 * reached or none knew a leader, CTL_EXIT_USAGE for a value the cluster
 * refused as invalid, CTL_EXIT_FAIL otherwise. */
int ctl_client_fail(const ctl_client *c, int rc, const ratusz_outcome *o);

/* Set by the SIGINT/SIGTERM handler of ctl_catch_signals. */
extern volatile sig_atomic_t ctl_interrupted;
void ctl_catch_signals(void);

/* Renderings. "YYYY-MM-DDTHH:MM:SSZ" (UTC) or "-" for 0. */
void ctl_time_str(uint64_t ms, char *out, size_t n);
/* Parses a time flag: Unix ms, YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ (UTC). */
bool ctl_time_parse(const char *s, uint64_t *ms);
/* Enum names with a fallback for values this build does not know. */
const char *ctl_name(const char *name, char *buf, size_t n, int v);
void ctl_json_case(ctl_json *j, const char *key, const ratusz_case *c);
/* The case's fields into the object that is open in j. */
void ctl_json_case_fields(ctl_json *j, const ratusz_case *c);
void ctl_json_event(ctl_json *j, const char *key, const ratusz_event *e);
/* One line describing what an event did ("NEW -> ROUTED", "to ZDM"...). */
void ctl_event_detail(const ratusz_event *e, char *out, size_t n);
#endif
