/* callcenter: what a call-center desktop does with libratusz when a
 * resident phones in. It records the call as a case, routes it to the
 * responsible unit, adds a note the resident can see, reads the case back
 * with its history, lists the district's open cases and prints a summary.
 *
 * It uses only the public header (ratusz.h) and links only libratusz:
 *
 *   callcenter --endpoints 127.0.0.1:7411,127.0.0.1:7412,127.0.0.1:7413 \
 *              --identity var/agent.identity [--setup var/operator.identity]
 *
 * --setup loads the three catalog entries the demo needs (a district, a
 * unit and a service) with an operator identity first; agents may not
 * change the catalog. Exit status 0 when every step worked. */
#include "ratusz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_ENDPOINTS 16
#define DISTRICT "MOKOTOW"
#define UNIT "ZDM-MOK"
#define SERVICE "ROAD_DAMAGE"

static void fail(const char *step, int rv, const ratusz_outcome *o)
{
    fprintf(stderr, "callcenter: %s failed: %s (%s)%s%s\n", step,
            ratusz_strerror(rv), ratusz_errname(rv),
            o != NULL && o->message[0] != '\0' ? ": " : "",
            o != NULL ? o->message : "");
}

/* Splits "a,b,c" in place into at most MAX_ENDPOINTS pointers (plain
 * C11: no strtok_r). */
static size_t split_endpoints(char *list, const char *out[MAX_ENDPOINTS])
{
    size_t n = 0;
    char *p = list;
    while (p != NULL && *p != '\0' && n < MAX_ENDPOINTS) {
        char *comma = strchr(p, ',');
        if (comma != NULL) {
            *comma = '\0';
        }
        if (*p != '\0') {
            out[n++] = p;
        }
        p = comma != NULL ? comma + 1 : NULL;
    }
    return n;
}

static int setup_catalog(const ratusz_options *base, const char *identity)
{
    ratusz_options o = *base;
    ratusz_catalog_item items[3];
    ratusz_outcome oc;
    ratusz_call call;
    ratusz *h = NULL;
    char errmsg[RATUSZ_ERRMSG_BYTES];
    int rv;
    o.identity_path = identity;
    rv = ratusz_open(&o, &h, errmsg);
    if (rv != 0) {
        fprintf(stderr, "callcenter: cannot open %s: %s\n", identity, errmsg);
        return rv;
    }
    memset(items, 0, sizeof(items));
    items[0].type = RATUSZ_CATALOG_DISTRICT;
    items[0].code = DISTRICT;
    items[0].name = "Mokotów";
    items[1].type = RATUSZ_CATALOG_UNIT;
    items[1].code = UNIT;
    items[1].name = "Zarząd Dróg Miejskich, Mokotów";
    items[2].type = RATUSZ_CATALOG_SERVICE;
    items[2].code = SERVICE;
    items[2].name = "Damaged road surface";
    items[2].kind = RATUSZ_KIND_INCIDENT;
    items[2].sla_hours = 72;
    memset(&call, 0, sizeof(call));
    call.outcome = &oc;
    rv = ratusz_catalog_upsert(h, &call, items, 3, NULL);
    if (rv != 0) {
        fail("catalog upsert", rv, &oc);
    }
    ratusz_close(h);
    return rv;
}

static void print_event(const ratusz_event *e)
{
    const char *type = ratusz_event_type_name((int)e->type);
    const char *actor = ratusz_actor_role_name((int)e->actor_role);
    printf("  #%u %-15s by %-8s", (unsigned)e->seq, type ? type : "?",
           actor ? actor : "?");
    if (e->type == RATUSZ_EVENT_ROUTED) {
        printf(" to %s", e->unit_to);
    } else if (e->type == RATUSZ_EVENT_STATUS_CHANGED) {
        const char *from = ratusz_case_status_name(e->status_from);
        const char *to = ratusz_case_status_name(e->status_to);
        printf(" %s -> %s", from ? from : "?", to ? to : "?");
    } else if (e->type == RATUSZ_EVENT_COMMENT) {
        printf(" (%s) \"%s\"", e->is_public ? "public" : "internal", e->text);
    }
    printf("\n");
}

int main(int argc, char **argv)
{
    const char *endpoints[MAX_ENDPOINTS];
    const char *identity = NULL;
    const char *setup = NULL;
    char *list = NULL;
    ratusz_options opts;
    ratusz_case_new c;
    ratusz_reporter who;
    ratusz_created created;
    ratusz_write_result w;
    ratusz_case_info *info = NULL;
    ratusz_list_filter f;
    ratusz_outcome oc;
    ratusz_call call;
    ratusz *h = NULL;
    char errmsg[RATUSZ_ERRMSG_BYTES];
    char description[200];
    size_t open_cases = 0;
    size_t pages = 0;
    int rv;

    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--endpoints") == 0) {
            list = argv[i + 1];
        } else if (strcmp(argv[i], "--identity") == 0) {
            identity = argv[i + 1];
        } else if (strcmp(argv[i], "--setup") == 0) {
            setup = argv[i + 1];
        }
    }
    if (list == NULL || identity == NULL) {
        fprintf(stderr, "usage: callcenter --endpoints H:P[,H:P...] "
                        "--identity FILE [--setup OPERATOR_IDENTITY]\n");
        return 2;
    }
    memset(&opts, 0, sizeof(opts));
    opts.endpoints = endpoints;
    opts.n_endpoints = split_endpoints(list, endpoints);
    opts.identity_path = identity;
    opts.timeout_ms = 10000;
    if (setup != NULL && setup_catalog(&opts, setup) != 0) {
        return 1;
    }
    rv = ratusz_open(&opts, &h, errmsg);
    if (rv != 0) {
        fprintf(stderr, "callcenter: cannot open the handle: %s\n", errmsg);
        return 1;
    }
    memset(&call, 0, sizeof(call));
    call.outcome = &oc;
    call.actor_id = 1042; /* the agent's staff number, kept on the events */

    /* 1. The call: a resident reports a pothole. */
    snprintf(description, sizeof(description),
             "Deep pothole in the right lane, a car lost a hubcap "
             "[callcenter-demo %ld]",
             (long)time(NULL));
    ratusz_case_new_init(&c);
    c.channel = RATUSZ_CHANNEL_PHONE;
    c.kind = RATUSZ_KIND_INCIDENT;
    c.service = SERVICE;
    c.description = description;
    c.district = DISTRICT;
    c.street = "ul. Puławska";
    c.house_no = "145";
    c.lat = 52.1826;
    c.lon = 21.0236;
    c.notify = true;
    memset(&who, 0, sizeof(who));
    who.name = "Jan Kowalski";
    who.phone = "+48 600 000 000";
    c.reporter = &who;
    rv = ratusz_case_create(h, &call, &c, &created);
    if (rv != 0) {
        fail("create", rv, &oc);
        goto out;
    }
    printf("created case %s (id %llu), status %s\n", created.number,
           (unsigned long long)created.case_id,
           ratusz_case_status_name((int)created.status));

    /* 2. Route it to the road authority, only if nobody changed it since. */
    rv = ratusz_case_route(h, &call, created.case_id, created.version, UNIT,
                           "road surface, Mokotów section", &w);
    if (rv != 0) {
        fail("route", rv, &oc);
        goto out;
    }
    printf("routed to %s, version %u\n", UNIT, (unsigned)w.version);

    /* 3. A note the resident will see on the portal. */
    rv = ratusz_case_comment(h, &call, created.case_id,
                             "Thank you, the road crew has been informed.",
                             true, &w);
    if (rv != 0) {
        fail("comment", rv, &oc);
        goto out;
    }

    /* 4. Read it back with its history. */
    rv = ratusz_case_get(h, &call, created.case_id, true, &info);
    if (rv != 0) {
        fail("get", rv, &oc);
        goto out;
    }
    printf("case %s: %s, unit %s, version %u, %zu events:\n", info->c.number,
           ratusz_case_status_name((int)info->c.status), info->c.unit_id,
           (unsigned)info->c.version, info->n_history);
    for (size_t i = 0; i < info->n_history; i++) {
        print_event(&info->history[i]);
    }

    /* 5. The district's open cases, following the cursor. */
    ratusz_list_filter_init(&f);
    f.district = DISTRICT;
    f.limit = 100;
    do {
        ratusz_page *page = NULL;
        rv = ratusz_case_list(h, &call, &f, &page);
        if (rv != 0) {
            fail("list", rv, &oc);
            goto out;
        }
        for (size_t i = 0; i < page->n_cases; i++) {
            open_cases += page->cases[i].closed_ms == 0;
        }
        f.cursor = page->next_cursor;
        ratusz_page_free(page);
        pages++;
    } while (f.cursor != 0 && pages < 1000);

    printf("summary: case %s %s to %s with %zu events; %zu open cases in "
           "%s\n",
           info->c.number, ratusz_case_status_name((int)info->c.status),
           info->c.unit_id, info->n_history, open_cases, DISTRICT);
    rv = info->c.status == RATUSZ_STATUS_ROUTED && open_cases >= 1 ? 0 : 1;

out:
    ratusz_case_info_free(info);
    ratusz_close(h);
    return rv == 0 ? 0 : 1;
}
