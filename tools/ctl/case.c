/* ratuszctl case: create, get, list, update and watch cases through
 * libratusz. Tables for people, --json for scripts (docs/ratuszctl.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "common/common.h"

/* Most events `case watch --count` may wait for. */
#define WATCH_COUNT_MAX 1000000000ull
/* How long one wait of a watch lasts before it looks at Ctrl-C again. */
#define WATCH_POLL_MS 200

static void case_usage(FILE *f)
{
    fprintf(
        f,
        "usage:\n"
        "  ratuszctl case create --description TEXT [--service CODE (OTHER)]\n"
        "      [--district CODE (UNKNOWN)] [--channel PHONE|WEB|MOBILE|EMAIL|"
        "CHAT|FAX|WALK_IN|INTERNAL]\n"
        "      [--kind INFORMATION|INCIDENT|COMPLAINT|SUGGESTION] "
        "[--priority LOW|NORMAL|HIGH|URGENT]\n"
        "      [--street S] [--house-no N] [--lat F --lon F] [--notify]\n"
        "      [--reporter-id N | --reporter-name S [--reporter-phone S]\n"
        "       [--reporter-email S] [--reporter-address S]] [--actor-id N]\n"
        "  ratuszctl case get ID [--no-history]\n"
        "  ratuszctl case list [--status S] [--district D] [--unit U] "
        "[--service S]\n"
        "      [--channel C] [--reporter-id N] [--created-from T] "
        "[--created-to T]\n"
        "      [--limit N (50)] [--cursor C] [--all]    (T: Unix ms or "
        "YYYY-MM-DD[THH:MM:SSZ])\n"
        "  ratuszctl case update ID --status S [--resolution TEXT]\n"
        "                          | --route UNIT [--note TEXT]\n"
        "                          | --assign N | --comment TEXT [--public]\n"
        "                          | --reopen REASON | --merge-into ID\n"
        "                          [--expected-version V] [--actor-id N]\n"
        "  ratuszctl case watch [--from REVISION (1) [--from-sub N]] "
        "[--count N]\n" CTL_COMMON_USAGE
        "exit codes: 0 ok, 1 the cluster refused or failed the operation, 2 "
        "usage or bad input,\n  3 the cluster is unreachable or has no "
        "leader\n");
}

#define bad(...) ctl_usage_err("case", __VA_ARGS__)

static bool parse_id(const char *s, uint64_t *id)
{
    return ctl_parse_u64(s, id) && *id > 0 && *id < (1ull << 63);
}

/* Prints what a write did. */
static void print_write(const ctl_client *c, const char *op,
                        const ratusz_write_result *r)
{
    ctl_out o = {.json = c->json};
    ctl_out_u64(&o, "case_id", r->case_id);
    ctl_out_str(&o, "op", op);
    ctl_out_u64(&o, "version", r->version);
    ctl_out_u64(&o, "index", r->index);
    ctl_out_end(&o);
}

/* ---- create -----------------------------------------------------------------
 */

enum {
    C_DESCRIPTION = CTL_O_COMMON,
    C_SERVICE,
    C_DISTRICT,
    C_CHANNEL,
    C_KIND,
    C_PRIORITY,
    C_STREET,
    C_HOUSE_NO,
    C_LAT,
    C_LON,
    C_NOTIFY,
    C_REPORTER_ID,
    C_R_NAME,
    C_R_PHONE,
    C_R_EMAIL,
    C_R_ADDRESS,
    C_ACTOR,
    C_N
};

static bool parse_coord(const char *s, double lim, double *out)
{
    char *end = NULL;
    double v = strtod(s, &end);
    if (!*s || !end || *end || !(v >= -lim && v <= lim))
        return false;
    *out = v;
    return true;
}

static int actor_flag(const ctl_opt *o, ratusz_call *call)
{
    uint64_t v;
    if (!o->seen)
        return 0;
    if (!ctl_parse_u64(o->value, &v) || v >= (1ull << 63))
        return bad("--actor-id must be a whole number");
    call->actor_id = v;
    return 0;
}

static int case_create(int argc, char **argv)
{
    ctl_opt o[C_N] = {CTL_COMMON_OPTS,
                      {"--description", true, NULL, false},
                      {"--service", true, NULL, false},
                      {"--district", true, NULL, false},
                      {"--channel", true, NULL, false},
                      {"--kind", true, NULL, false},
                      {"--priority", true, NULL, false},
                      {"--street", true, NULL, false},
                      {"--house-no", true, NULL, false},
                      {"--lat", true, NULL, false},
                      {"--lon", true, NULL, false},
                      {"--notify", false, NULL, false},
                      {"--reporter-id", true, NULL, false},
                      {"--reporter-name", true, NULL, false},
                      {"--reporter-phone", true, NULL, false},
                      {"--reporter-email", true, NULL, false},
                      {"--reporter-address", true, NULL, false},
                      {"--actor-id", true, NULL, false}};
    const char *pos[1];
    size_t n_pos;
    ratusz_case_new cn;
    ratusz_reporter rep = {0};
    ratusz_call call;
    ratusz_outcome out;
    ratusz_created cr;
    ctl_client c;
    int rc;
    if ((rc = ctl_args_parse("case", argc, argv, o, C_N, pos, 0, &n_pos)))
        return rc;
    ratusz_case_new_init(&cn);
    memset(&call, 0, sizeof call);
    if (!o[C_DESCRIPTION].seen || !o[C_DESCRIPTION].value[0])
        return bad("create needs --description TEXT");
    if (strlen(o[C_DESCRIPTION].value) > RATUSZ_DESCRIPTION_MAX_BYTES)
        return bad("--description is longer than 4000 bytes");
    cn.description = o[C_DESCRIPTION].value;
    cn.service = o[C_SERVICE].value;
    cn.district = o[C_DISTRICT].value;
    cn.street = o[C_STREET].value;
    cn.house_no = o[C_HOUSE_NO].value;
    cn.notify = o[C_NOTIFY].seen;
    if (o[C_CHANNEL].seen &&
        ratusz_channel_parse(o[C_CHANNEL].value, &cn.channel) != 0)
        return bad("--channel '%s' is not PHONE, WEB, MOBILE, EMAIL, CHAT, "
                   "FAX, WALK_IN or INTERNAL",
                   o[C_CHANNEL].value);
    if (o[C_KIND].seen && ratusz_kind_parse(o[C_KIND].value, &cn.kind) != 0)
        return bad("--kind '%s' is not INFORMATION, INCIDENT, COMPLAINT or "
                   "SUGGESTION",
                   o[C_KIND].value);
    if (o[C_PRIORITY].seen &&
        ratusz_priority_parse(o[C_PRIORITY].value, &cn.priority) != 0)
        return bad("--priority '%s' is not LOW, NORMAL, HIGH or URGENT",
                   o[C_PRIORITY].value);
    if (o[C_LAT].seen != o[C_LON].seen)
        return bad("--lat and --lon go together");
    if (o[C_LAT].seen && (!parse_coord(o[C_LAT].value, 90, &cn.lat) ||
                          !parse_coord(o[C_LON].value, 180, &cn.lon)))
        return bad("--lat must be -90..90 and --lon -180..180 degrees");
    if (o[C_REPORTER_ID].seen &&
        !parse_id(o[C_REPORTER_ID].value, &cn.reporter_id))
        return bad("--reporter-id must be a number above 0");
    if (o[C_R_NAME].seen || o[C_R_PHONE].seen || o[C_R_EMAIL].seen ||
        o[C_R_ADDRESS].seen) {
        if (o[C_REPORTER_ID].seen)
            return bad("give --reporter-id or --reporter-name..., not "
                       "both");
        rep.name = o[C_R_NAME].value;
        rep.phone = o[C_R_PHONE].value;
        rep.email = o[C_R_EMAIL].value;
        rep.address = o[C_R_ADDRESS].value;
        cn.reporter = &rep;
    }
    if ((rc = actor_flag(&o[C_ACTOR], &call)))
        return rc;
    if ((rc = ctl_client_open(&c, "case", o)))
        return rc;
    call.outcome = &out;
    rc = ratusz_case_create(c.h, &call, &cn, &cr);
    if (rc != 0) {
        rc = ctl_client_fail(&c, rc, &out);
        ctl_client_close(&c);
        return rc;
    }
    {
        ctl_out p = {.json = c.json};
        ctl_out_u64(&p, "case_id", cr.case_id);
        ctl_out_str(&p, "number", cr.number);
        char sb[16];
        ctl_out_str(&p, "status",
                    ctl_name(ratusz_case_status_name((int)cr.status), sb,
                             sizeof sb, (int)cr.status));
        ctl_out_str(&p, "unit_id", cr.unit_id);
        ctl_out_u64(&p, "version", cr.version);
        ctl_out_u64(&p, "reporter_id", cr.reporter_id);
        ctl_out_u64(&p, "index", cr.index);
        ctl_out_end(&p);
    }
    ctl_client_close(&c);
    return CTL_EXIT_OK;
}

/* ---- get --------------------------------------------------------------------
 */

static void print_case_table(const ratusz_case_info *ci)
{
    const ratusz_case *k = &ci->c;
    char created[32], updated[32], due[32], closed[32], b[4][16];
    ctl_time_str(k->created_ms, created, sizeof created);
    ctl_time_str(k->updated_ms, updated, sizeof updated);
    ctl_time_str(k->due_ms, due, sizeof due);
    ctl_time_str(k->closed_ms, closed, sizeof closed);
    printf("case         %llu (%s), version %u\n",
           (unsigned long long)k->case_id, k->number, k->version);
    printf("status       %s%s%s\n",
           ctl_name(ratusz_case_status_name((int)k->status), b[0], 16,
                    (int)k->status),
           k->resolution[0] ? ": " : "", k->resolution);
    printf("service      %s (%s, priority %s)\n", k->service,
           ctl_name(ratusz_kind_name((int)k->kind), b[1], 16, (int)k->kind),
           ctl_name(ratusz_priority_name((int)k->priority), b[2], 16,
                    (int)k->priority));
    printf("unit         %s\n", k->unit_id[0] ? k->unit_id : "-");
    printf("district     %s%s%s%s%s\n", k->district, k->street[0] ? ", " : "",
           k->street, k->house_no[0] ? " " : "", k->house_no);
    printf("channel      %s\n", ctl_name(ratusz_channel_name((int)k->channel),
                                         b[3], 16, (int)k->channel));
    printf("created      %s   updated %s\n", created, updated);
    printf("due          %s   closed  %s\n", due, closed);
    if (k->parent_case_id)
        printf("merged into  %llu\n", (unsigned long long)k->parent_case_id);
    if (k->assignee_id)
        printf("assignee     %llu\n", (unsigned long long)k->assignee_id);
    if (k->reporter_id)
        printf("reporter     %llu%s\n", (unsigned long long)k->reporter_id,
               k->notify ? " (wants progress messages)" : "");
    printf("description  %s\n", k->description);
    if (ci->n_history == 0)
        return;
    {
        static const char *const heads[] = {"SEQ",   "REVISION", "AT",
                                            "EVENT", "BY",       "DETAIL"};
        ctl_table t;
        printf("\nhistory%s:\n",
               ci->truncated ? " (cut: the first events)" : "");
        ctl_table_init(&t, 6, heads);
        for (size_t i = 0; i < ci->n_history; i++) {
            const ratusz_event *e = &ci->history[i];
            char at[32], detail[512], nb[2][16];
            if (ctl_table_rows(&t) == CTL_TABLE_MAX_ROWS)
                ctl_table_print(&t, stdout);
            ctl_time_str(e->at_ms, at, sizeof at);
            ctl_event_detail(e, detail, sizeof detail);
            ctl_table_cellf(&t, "%u", e->seq);
            ctl_table_cellf(&t, "%llu", (unsigned long long)e->revision);
            ctl_table_cell(&t, at);
            ctl_table_cell(&t, ctl_name(ratusz_event_type_name((int)e->type),
                                        nb[0], 16, (int)e->type));
            ctl_table_cell(&t,
                           ctl_name(ratusz_actor_role_name((int)e->actor_role),
                                    nb[1], 16, (int)e->actor_role));
            ctl_table_cell(&t, detail);
        }
        ctl_table_print(&t, stdout);
        ctl_table_close(&t);
    }
}

static int case_get(int argc, char **argv)
{
    ctl_opt o[CTL_O_COMMON + 1] = {CTL_COMMON_OPTS,
                                   {"--no-history", false, NULL, false}};
    const char *pos[1];
    size_t n_pos;
    uint64_t id;
    ratusz_case_info *ci = NULL;
    ratusz_call call;
    ratusz_outcome out;
    ctl_client c;
    int rc;
    if ((rc = ctl_args_parse("case", argc, argv, o, CTL_O_COMMON + 1, pos, 1,
                             &n_pos)))
        return rc;
    if (n_pos != 1 || !parse_id(pos[0], &id))
        return bad("get needs a case id (a number above 0)");
    if ((rc = ctl_client_open(&c, "case", o)))
        return rc;
    memset(&call, 0, sizeof call);
    call.outcome = &out;
    rc = ratusz_case_get(c.h, &call, id, !o[CTL_O_COMMON].seen, &ci);
    if (rc != 0) {
        rc = ctl_client_fail(&c, rc, &out);
        ctl_client_close(&c);
        return rc;
    }
    /* --json: the case's fields at the top level, then its history and
     * the index the read saw (docs/ratuszctl.md). */
    if (c.json) {
        ctl_json j;
        ctl_json_init(&j, stdout);
        ctl_json_obj_begin(&j, NULL);
        ctl_json_case_fields(&j, &ci->c);
        ctl_json_arr_begin(&j, "history");
        for (size_t i = 0; i < ci->n_history; i++)
            ctl_json_event(&j, NULL, &ci->history[i]);
        ctl_json_arr_end(&j);
        ctl_json_bool(&j, "truncated", ci->truncated);
        ctl_json_u64(&j, "index", ci->index);
        ctl_json_obj_end(&j);
        ctl_json_end(&j);
    } else {
        print_case_table(ci);
    }
    ratusz_case_info_free(ci);
    ctl_client_close(&c);
    return CTL_EXIT_OK;
}

/* ---- list -------------------------------------------------------------------
 */

enum {
    L_STATUS = CTL_O_COMMON,
    L_DISTRICT,
    L_UNIT,
    L_SERVICE,
    L_CHANNEL,
    L_REPORTER,
    L_FROM,
    L_TO,
    L_LIMIT,
    L_CURSOR,
    L_ALL,
    L_N
};

static int list_filter(ctl_opt *o, ratusz_list_filter *f)
{
    uint64_t v;
    ratusz_list_filter_init(f);
    if (o[L_STATUS].seen) {
        ratusz_case_status st;
        if (ratusz_case_status_parse(o[L_STATUS].value, &st) != 0)
            return bad("--status '%s' is not NEW, TRIAGE, ROUTED, "
                       "IN_PROGRESS, ON_HOLD, RESOLVED or CLOSED",
                       o[L_STATUS].value);
        f->status = (int)st;
    }
    if (o[L_CHANNEL].seen) {
        ratusz_channel ch;
        if (ratusz_channel_parse(o[L_CHANNEL].value, &ch) != 0)
            return bad("--channel '%s' is not a channel (PHONE, WEB, ...)",
                       o[L_CHANNEL].value);
        f->channel = (int)ch;
    }
    f->district = o[L_DISTRICT].value;
    f->unit_id = o[L_UNIT].value;
    f->service = o[L_SERVICE].value;
    if (o[L_REPORTER].seen && !parse_id(o[L_REPORTER].value, &f->reporter_id))
        return bad("--reporter-id must be a number above 0");
    if (o[L_FROM].seen && !ctl_time_parse(o[L_FROM].value, &f->created_from_ms))
        return bad("--created-from '%s' is not Unix ms or "
                   "YYYY-MM-DD[THH:MM:SSZ]",
                   o[L_FROM].value);
    if (o[L_TO].seen && !ctl_time_parse(o[L_TO].value, &f->created_to_ms))
        return bad("--created-to '%s' is not Unix ms or "
                   "YYYY-MM-DD[THH:MM:SSZ]",
                   o[L_TO].value);
    if (f->created_from_ms && f->created_to_ms &&
        f->created_from_ms >= f->created_to_ms)
        return bad("--created-from must be before --created-to");
    if (o[L_LIMIT].seen) {
        if (!ctl_parse_u64(o[L_LIMIT].value, &v) || v == 0 ||
            v > RATUSZ_LIST_LIMIT_MAX)
            return bad("--limit must be 1..1000");
        f->limit = (uint32_t)v;
    }
    if (o[L_CURSOR].seen && !ctl_parse_u64(o[L_CURSOR].value, &f->cursor))
        return bad("--cursor must be a number from an earlier list");
    return 0;
}

static void list_row(ctl_table *t, const ratusz_case *k)
{
    char created[32], b[16];
    ctl_time_str(k->created_ms, created, sizeof created);
    ctl_table_cellf(t, "%llu", (unsigned long long)k->case_id);
    ctl_table_cell(t, k->number);
    ctl_table_cell(t, ctl_name(ratusz_case_status_name((int)k->status), b,
                               sizeof b, (int)k->status));
    ctl_table_cell(t, k->service);
    ctl_table_cell(t, k->district);
    ctl_table_cell(t, k->unit_id[0] ? k->unit_id : "-");
    ctl_table_cell(t, created);
    ctl_table_cell(t, k->description);
}

static int case_list(int argc, char **argv)
{
    static const char *const heads[] = {"CASE",    "NUMBER",     "STATUS",
                                        "SERVICE", "DISTRICT",   "UNIT",
                                        "CREATED", "DESCRIPTION"};
    ctl_opt o[L_N] = {CTL_COMMON_OPTS,
                      {"--status", true, NULL, false},
                      {"--district", true, NULL, false},
                      {"--unit", true, NULL, false},
                      {"--service", true, NULL, false},
                      {"--channel", true, NULL, false},
                      {"--reporter-id", true, NULL, false},
                      {"--created-from", true, NULL, false},
                      {"--created-to", true, NULL, false},
                      {"--limit", true, NULL, false},
                      {"--cursor", true, NULL, false},
                      {"--all", false, NULL, false}};
    const char *pos[1];
    size_t n_pos, total = 0;
    ratusz_list_filter f;
    ratusz_call call;
    ratusz_outcome out;
    ctl_client c;
    ctl_table t;
    ctl_json j;
    uint64_t next = 0, index = 0;
    bool began = false;
    int rc;
    if ((rc = ctl_args_parse("case", argc, argv, o, L_N, pos, 0, &n_pos)))
        return rc;
    if ((rc = list_filter(o, &f)))
        return rc;
    if ((rc = ctl_client_open(&c, "case", o)))
        return rc;
    memset(&call, 0, sizeof call);
    call.outcome = &out;
    ctl_table_init(&t, 8, heads);
    ctl_json_init(&j, stdout);
    /* One page per iteration; --all follows next_cursor until it is 0 (the
     * cursor only moves to older cases, so this ends). */
    for (;;) {
        ratusz_page *pg = NULL;
        rc = ratusz_case_list(c.h, &call, &f, &pg);
        if (rc != 0) {
            if (began) {
                ctl_json_arr_end(&j);
                ctl_json_obj_end(&j);
                ctl_json_end(&j);
            }
            rc = ctl_client_fail(&c, rc, &out);
            goto done;
        }
        if (c.json && !began) {
            ctl_json_obj_begin(&j, NULL);
            ctl_json_arr_begin(&j, "cases");
            began = true;
        }
        for (size_t i = 0; i < pg->n_cases; i++) {
            if (c.json) {
                ctl_json_case(&j, NULL, &pg->cases[i]);
                continue;
            }
            if (ctl_table_rows(&t) == CTL_TABLE_MAX_ROWS)
                ctl_table_print(&t, stdout);
            list_row(&t, &pg->cases[i]);
        }
        total += pg->n_cases;
        next = pg->next_cursor;
        index = pg->index;
        ratusz_page_free(pg);
        if (!o[L_ALL].seen || next == 0 || ctl_interrupted)
            break;
        f.cursor = next;
    }
    if (c.json) {
        ctl_json_arr_end(&j);
        ctl_json_u64(&j, "next_cursor", next);
        ctl_json_u64(&j, "index", index);
        ctl_json_obj_end(&j);
        ctl_json_end(&j);
    } else {
        ctl_table_print(&t, stdout);
        if (next)
            printf("(%zu shown; more with --cursor %llu, or --all)\n", total,
                   (unsigned long long)next);
    }
    rc = CTL_EXIT_OK;
done:
    ctl_table_close(&t);
    ctl_client_close(&c);
    return rc;
}

/* ---- update -----------------------------------------------------------------
 */

enum {
    U_STATUS = CTL_O_COMMON,
    U_RESOLUTION,
    U_ROUTE,
    U_NOTE,
    U_ASSIGN,
    U_COMMENT,
    U_PUBLIC,
    U_REOPEN,
    U_MERGE,
    U_EXPECTED,
    U_ACTOR,
    U_N
};

/* Checks the op's flags: exactly one op, and the modifiers it allows. */
static int update_args(ctl_opt *o, ratusz_update *u)
{
    static const int ops[] = {U_STATUS,  U_ROUTE,  U_ASSIGN,
                              U_COMMENT, U_REOPEN, U_MERGE};
    int n = 0;
    uint64_t v;
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
        n += o[ops[i]].seen;
    if (n != 1)
        return bad("update needs exactly one of --status, --route, --assign, "
                   "--comment, --reopen, --merge-into");
    if (o[U_RESOLUTION].seen && !o[U_STATUS].seen)
        return bad("--resolution goes with --status");
    if (o[U_NOTE].seen && !o[U_ROUTE].seen)
        return bad("--note goes with --route");
    if (o[U_PUBLIC].seen && !o[U_COMMENT].seen)
        return bad("--public goes with --comment");
    if (o[U_EXPECTED].seen) {
        if (o[U_COMMENT].seen)
            return bad("a comment takes no --expected-version");
        if (!ctl_parse_u64(o[U_EXPECTED].value, &v) || v == 0 || v > UINT32_MAX)
            return bad("--expected-version must be a version above 0");
        u->expected_version = (uint32_t)v;
    }
    if (o[U_STATUS].seen) {
        u->op = RATUSZ_OP_STATUS;
        if (ratusz_case_status_parse(o[U_STATUS].value, &u->status) != 0)
            return bad("--status '%s' is not TRIAGE, IN_PROGRESS, ON_HOLD, "
                       "RESOLVED or CLOSED",
                       o[U_STATUS].value);
        if (u->status == RATUSZ_STATUS_ROUTED)
            return bad("--status ROUTED is reached with --route UNIT");
        u->text = o[U_RESOLUTION].value;
    } else if (o[U_ROUTE].seen) {
        u->op = RATUSZ_OP_ROUTE;
        u->unit_id = o[U_ROUTE].value;
        u->text = o[U_NOTE].value;
        if (!u->unit_id[0])
            return bad("--route needs a unit code");
    } else if (o[U_ASSIGN].seen) {
        u->op = RATUSZ_OP_ASSIGN;
        if (!ctl_parse_u64(o[U_ASSIGN].value, &u->assignee_id) ||
            u->assignee_id >= (1ull << 63))
            return bad("--assign needs a person's number (0 = nobody)");
    } else if (o[U_COMMENT].seen) {
        u->op = RATUSZ_OP_COMMENT;
        u->text = o[U_COMMENT].value;
        u->is_public = o[U_PUBLIC].seen;
        if (!u->text[0])
            return bad("--comment needs a text");
    } else if (o[U_REOPEN].seen) {
        u->op = RATUSZ_OP_REOPEN;
        u->text = o[U_REOPEN].value;
    } else {
        u->op = RATUSZ_OP_MERGE;
        if (!parse_id(o[U_MERGE].value, &u->into_case_id))
            return bad("--merge-into needs a case id");
    }
    if (u->text && strlen(u->text) > RATUSZ_TEXT_MAX_BYTES)
        return bad("the text is longer than 4000 bytes");
    return 0;
}

static int case_update(int argc, char **argv)
{
    ctl_opt o[U_N] = {CTL_COMMON_OPTS,
                      {"--status", true, NULL, false},
                      {"--resolution", true, NULL, false},
                      {"--route", true, NULL, false},
                      {"--note", true, NULL, false},
                      {"--assign", true, NULL, false},
                      {"--comment", true, NULL, false},
                      {"--public", false, NULL, false},
                      {"--reopen", true, NULL, false},
                      {"--merge-into", true, NULL, false},
                      {"--expected-version", true, NULL, false},
                      {"--actor-id", true, NULL, false}};
    const char *pos[1];
    size_t n_pos;
    ratusz_update u;
    ratusz_write_result r;
    ratusz_call call;
    ratusz_outcome out;
    ctl_client c;
    int rc;
    if ((rc = ctl_args_parse("case", argc, argv, o, U_N, pos, 1, &n_pos)))
        return rc;
    memset(&u, 0, sizeof u);
    memset(&call, 0, sizeof call);
    if (n_pos != 1 || !parse_id(pos[0], &u.case_id))
        return bad("update needs a case id (a number above 0)");
    if ((rc = update_args(o, &u)) || (rc = actor_flag(&o[U_ACTOR], &call)))
        return rc;
    if ((rc = ctl_client_open(&c, "case", o)))
        return rc;
    call.outcome = &out;
    rc = ratusz_case_update(c.h, &call, &u, &r);
    if (rc != 0) {
        rc = ctl_client_fail(&c, rc, &out);
        ctl_client_close(&c);
        return rc;
    }
    print_write(&c, ratusz_op_name((int)u.op), &r);
    ctl_client_close(&c);
    return CTL_EXIT_OK;
}

/* ---- watch ------------------------------------------------------------------
 */

static void watch_line(const ctl_client *c, const ratusz_event *e)
{
    char at[32], detail[512], b[2][16];
    if (c->json) {
        ctl_json j;
        ctl_json_init(&j, stdout);
        ctl_json_event(&j, NULL, e);
        ctl_json_end(&j);
        return;
    }
    ctl_time_str(e->at_ms, at, sizeof at);
    ctl_event_detail(e, detail, sizeof detail);
    printf(
        "%-8llu %s case %-8llu #%-3u %-16s %-9s %s\n",
        (unsigned long long)e->revision, at, (unsigned long long)e->case_id,
        e->seq,
        ctl_name(ratusz_event_type_name((int)e->type), b[0], 16, (int)e->type),
        ctl_name(ratusz_actor_role_name((int)e->actor_role), b[1], 16,
                 (int)e->actor_role),
        detail);
    fflush(stdout);
}

static int case_watch(int argc, char **argv)
{
    ctl_opt o[CTL_O_COMMON + 3] = {CTL_COMMON_OPTS,
                                   {"--from", true, NULL, false},
                                   {"--count", true, NULL, false},
                                   {"--from-sub", true, NULL, false}};
    const char *pos[1];
    size_t n_pos;
    uint64_t from = 1, from_sub = 0, count = 0, seen = 0;
    ratusz_watch *w = NULL;
    ratusz_call call;
    ratusz_outcome out;
    ctl_client c;
    int rc;
    if ((rc = ctl_args_parse("case", argc, argv, o, CTL_O_COMMON + 3, pos, 0,
                             &n_pos)))
        return rc;
    if (o[CTL_O_COMMON + 2].seen &&
        (!ctl_parse_u64(o[CTL_O_COMMON + 2].value, &from_sub) ||
         from_sub > UINT32_MAX))
        return bad("--from-sub must be a position within a revision");
    if (o[CTL_O_COMMON].seen &&
        (!ctl_parse_u64(o[CTL_O_COMMON].value, &from) || from == 0))
        return bad("--from must be a revision above 0");
    if (o[CTL_O_COMMON + 1].seen &&
        (!ctl_parse_u64(o[CTL_O_COMMON + 1].value, &count) || count == 0 ||
         count > WATCH_COUNT_MAX))
        return bad("--count must be a number above 0");
    if ((rc = ctl_client_open(&c, "case", o)))
        return rc;
    memset(&call, 0, sizeof call);
    call.outcome = &out;
    ctl_catch_signals();
    rc = ratusz_watch_open(c.h, &call, from, (uint32_t)from_sub, &w);
    if (rc != 0) {
        rc = ctl_client_fail(&c, rc, &out);
        ctl_client_close(&c);
        return rc;
    }
    if (!c.json)
        printf("%-8s %-20s %-13s %-4s %-16s %-9s %s\n", "REVISION", "AT",
               "CASE", "SEQ", "EVENT", "BY", "DETAIL");
    /* Until Ctrl-C (or --count events): each wait is short so an interrupt
     * is noticed within WATCH_POLL_MS. */
    rc = 0;
    while (!ctl_interrupted && (count == 0 || seen < count)) {
        const ratusz_event *ev = NULL;
        int r = ratusz_watch_next(w, WATCH_POLL_MS, &ev);
        if (r == RATUSZ_ETIMEDOUT)
            continue;
        if (r != 0) {
            out.code = r;
            snprintf(out.message, sizeof out.message, "%s", ratusz_strerror(r));
            rc = ctl_client_fail(&c, r, &out);
            break;
        }
        watch_line(&c, ev);
        seen++;
    }
    if (rc == 0 && !c.json) {
        uint64_t rev;
        uint32_t sub;
        ratusz_watch_position(w, &rev, &sub);
        fprintf(stderr,
                "ratuszctl case: watch ended after %llu event(s); resume "
                "with --from %llu --from-sub %u\n",
                (unsigned long long)seen, (unsigned long long)rev, sub);
    }
    ratusz_watch_close(w);
    ctl_client_close(&c);
    return rc;
}

int ctl_case_main(int argc, char **argv)
{
    static const struct
    {
        const char *name;
        int (*run)(int, char **);
    } subs[] = {{"create", case_create},
                {"get", case_get},
                {"list", case_list},
                {"update", case_update},
                {"watch", case_watch}};
    if (argc < 2) {
        case_usage(stderr);
        return CTL_EXIT_USAGE;
    }
    if (ctl_is_help(argc - 1, argv + 1)) {
        case_usage(stdout);
        return CTL_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++)
        if (!strcmp(argv[1], subs[i].name))
            return subs[i].run(argc - 2, argv + 2);
    return bad("unknown subcommand '%s' (create, get, list, update, watch)",
               argv[1]);
}
