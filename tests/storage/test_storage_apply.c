/* Unit tests of storage/: every command with every rejection, the status
 * lifecycle for every pair of statuses, exactly-once and skip-on-replay,
 * queries, the catalog seed, checksums and copies. */
#include "helpers.h"

#include <fcntl.h>

/* ---- Small command helpers ---------------------------------------------- */

static rz_result do_status(env *e, uint64_t id, uint32_t ev, int to,
                           const char *text)
{
    rz_buf b;
    rz_result r;
    rz_buf_init(&b, RZ_COMMAND_MAX_BYTES * 2);
    assert_int_equal(rz_cmd_status_encode(&b, NULL, e->now_ms, id, ev,
                                          (uint8_t)to, text, agent),
                     0);
    r = apply_buf(e, &b);
    rz_buf_close(&b);
    return r;
}

static rz_result do_route(env *e, uint64_t id, uint32_t ev, const char *unit)
{
    rz_buf b;
    rz_result r;
    rz_buf_init(&b, RZ_COMMAND_MAX_BYTES);
    assert_int_equal(rz_cmd_route_encode(&b, NULL, e->now_ms, id, ev, unit,
                                         "routing note", agent),
                     0);
    r = apply_buf(e, &b);
    rz_buf_close(&b);
    return r;
}

static rz_result do_reopen(env *e, uint64_t id, uint32_t ev)
{
    rz_buf b;
    rz_result r;
    rz_buf_init(&b, RZ_COMMAND_MAX_BYTES);
    assert_int_equal(
        rz_cmd_reopen_encode(&b, NULL, e->now_ms, id, ev, "disputed", agent),
        0);
    r = apply_buf(e, &b);
    rz_buf_close(&b);
    return r;
}

static rz_result do_merge(env *e, uint64_t id, uint32_t ev, uint64_t into)
{
    rz_buf b;
    rz_result r;
    rz_buf_init(&b, RZ_COMMAND_MAX_BYTES);
    assert_int_equal(
        rz_cmd_merge_encode(&b, NULL, e->now_ms, id, ev, into, agent), 0);
    r = apply_buf(e, &b);
    rz_buf_close(&b);
    return r;
}

static rz_result do_catalog(env *e, const rz_catalog_item *items, size_t n)
{
    rz_buf b;
    rz_result r;
    rz_buf_init(&b, RZ_COMMAND_MAX_BYTES * 4);
    assert_int_equal(rz_cmd_catalog_encode(&b, NULL, e->now_ms, items, n), 0);
    r = apply_buf(e, &b);
    rz_buf_close(&b);
    return r;
}

static void data_checksum(env *e, uint8_t out[32])
{
    assert_int_equal(rz_storage_checksum_scan(e->s, true, out, NULL), 0);
}

static char *repeat(char c, size_t n)
{
    char *s = malloc(n + 1);
    assert_non_null(s);
    memset(s, c, n);
    s[n] = 0;
    return s;
}

static size_t history(env *e, uint64_t id, rz_event *ev, size_t max)
{
    rz_storage_read *rd;
    size_t n = 0;
    assert_int_equal(rz_storage_read_begin(e->s, &rd), 0);
    assert_int_equal(rz_storage_case_history(rd, id, 0, ev, max, &n), 0);
    rz_storage_read_end(rd);
    return n;
}

/* ---- Create ------------------------------------------------------------- */

static void test_create_routes_by_rule(void **state)
{
    env e;
    rz_case c;
    rz_event ev[4];
    rz_case_create cc = sample_create("ROAD_POTHOLE", "MOKOTOW");
    rz_result r;
    (void)state;
    env_init(&e);
    load_small_catalog(&e);
    r = do_create(&e, &cc);
    assert_int_equal(r.code, 0);
    assert_int_equal(r.case_id, 1);
    assert_int_equal(r.version, 1);
    assert_string_equal(r.number, "1/23");
    get_case(&e, 1, &c);
    assert_int_equal(c.status, RZ_STATUS_ROUTED);
    assert_string_equal(c.unit_id, "ZDM");
    assert_string_equal(c.description, cc.description);
    assert_string_equal(c.street, "Marszałkowska");
    assert_int_equal(c.created_ms, e.now_ms);
    assert_int_equal(c.due_ms, e.now_ms + 72ull * 3600000ull);
    assert_true(c.lat == cc.lat && c.lon == cc.lon);
    assert_int_equal(history(&e, 1, ev, 4), 2);
    assert_int_equal(ev[0].type, RZ_EV_CREATED);
    assert_int_equal(ev[1].type, RZ_EV_ROUTED);
    assert_string_equal(ev[1].unit_to, "ZDM");
    assert_int_equal(ev[0].revision, e.index);
    /* A service with no rule for the district waits for triage. */
    cc = sample_create("ROAD_POTHOLE", "UNKNOWN");
    r = do_create(&e, &cc);
    assert_int_equal(r.code, 0);
    get_case(&e, 2, &c);
    assert_int_equal(c.status, RZ_STATUS_NEW);
    assert_string_equal(c.unit_id, "");
    /* OTHER exists without a catalog entry; no SLA. */
    cc = sample_create("OTHER", "WOLA");
    r = do_create(&e, &cc);
    assert_int_equal(r.code, 0);
    get_case(&e, 3, &c);
    assert_int_equal(c.status, RZ_STATUS_NEW);
    assert_int_equal(c.due_ms, 0);
    /* The display number takes the UTC year of creation. */
    e.now_ms = 1735689600000ull; /* 2025-01-01T00:00:00Z */
    r = do_create(&e, &cc);
    assert_string_equal(r.number, "4/25");
    env_destroy(&e);
}

static void expect_create_rejected(env *e, const rz_case_create *cc, int code)
{
    uint8_t before[32], after[32];
    rz_result r;
    data_checksum(e, before);
    r = do_create(e, cc);
    assert_int_equal(r.code, code);
    data_checksum(e, after);
    assert_memory_equal(before, after, 32);
}

static void test_create_rejections(void **state)
{
    env e;
    rz_case_create cc;
    rz_reporter rep = {"Jan Kowalski", "+48 600 000 000", "jan@example.pl",
                       "ul. Prosta 1"};
    char *big;
    rz_result r;
    (void)state;
    env_init(&e);
    load_small_catalog(&e);
    cc = sample_create("NO_SUCH", "MOKOTOW");
    expect_create_rejected(&e, &cc, RZ_ENOSERVICE);
    cc = sample_create("ROAD_POTHOLE", "NOWHERE");
    expect_create_rejected(&e, &cc, RZ_ENODISTRICT);
    cc = sample_create("ROAD_POTHOLE", "WOLA");
    cc.reporter_id = 99;
    expect_create_rejected(&e, &cc, RZ_ENOREPORTER);
    cc.reporter = &rep; /* both an existing and a new reporter */
    expect_create_rejected(&e, &cc, RZ_EINVAL);
    cc = sample_create("ROAD_POTHOLE", "WOLA");
    cc.kind = RZ_KIND_COUNT;
    expect_create_rejected(&e, &cc, RZ_EINVAL);
    cc = sample_create("ROAD_POTHOLE", "WOLA");
    cc.channel = RZ_CHANNEL_COUNT;
    expect_create_rejected(&e, &cc, RZ_EINVAL);
    cc = sample_create("ROAD_POTHOLE", "WOLA");
    cc.priority = 4;
    expect_create_rejected(&e, &cc, RZ_EINVAL);
    cc = sample_create("ROAD_POTHOLE", "WOLA");
    cc.description = "";
    expect_create_rejected(&e, &cc, RZ_EINVAL);
    cc = sample_create("ROAD_POTHOLE", "WOLA");
    cc.lat = 91.0;
    expect_create_rejected(&e, &cc, RZ_EINVAL);
    cc = sample_create("ROAD_POTHOLE", "WOLA");
    cc.lon = -180.5;
    expect_create_rejected(&e, &cc, RZ_EINVAL);
    cc = sample_create("ROAD_POTHOLE", "WOLA");
    cc.description = "bad \xc3\x28 utf8";
    expect_create_rejected(&e, &cc, RZ_EUTF8);
    cc = sample_create("ROAD POTHOLE", "WOLA");
    expect_create_rejected(&e, &cc, RZ_EINVAL);
    big = repeat('x', RZ_DESCRIPTION_MAX_BYTES + 1);
    cc = sample_create("ROAD_POTHOLE", "WOLA");
    cc.description = big;
    expect_create_rejected(&e, &cc, RZ_ETOOBIG);
    big[RZ_DESCRIPTION_MAX_BYTES] = 0; /* exactly at the limit is fine */
    r = do_create(&e, &cc);
    assert_int_equal(r.code, 0);
    assert_int_equal(r.case_id, 1); /* rejections consumed no id */
    free(big);
    big = repeat('s', RZ_NAME_MAX_BYTES + 1);
    cc = sample_create("ROAD_POTHOLE", "WOLA");
    cc.street = big;
    expect_create_rejected(&e, &cc, RZ_ETOOBIG);
    free(big);
    big = repeat('7', RZ_HOUSE_NO_MAX_BYTES + 1);
    cc = sample_create("ROAD_POTHOLE", "WOLA");
    cc.house_no = big;
    expect_create_rejected(&e, &cc, RZ_ETOOBIG);
    free(big);
    big = repeat('A', RZ_CODE_MAX_BYTES + 1);
    cc = sample_create(big, "WOLA");
    expect_create_rejected(&e, &cc, RZ_ETOOBIG);
    free(big);
    big = repeat('n', RZ_PII_FIELD_MAX_BYTES + 1);
    rep.name = big;
    cc = sample_create("ROAD_POTHOLE", "WOLA");
    cc.reporter = &rep;
    expect_create_rejected(&e, &cc, RZ_ETOOBIG);
    free(big);
    env_destroy(&e);
}

static void test_create_with_reporter(void **state)
{
    env e;
    rz_case_create cc = sample_create("NOISE", "MOKOTOW");
    rz_reporter rep = {"Anna Nowak", "+48 500 100 200", "anna@example.pl",
                       NULL};
    rz_reporter_data d;
    rz_storage_read *rd;
    rz_result r;
    uint64_t ids[4];
    size_t n;
    uint64_t cursor;
    rz_list_query q;
    (void)state;
    env_init(&e);
    load_small_catalog(&e);
    cc.reporter = &rep;
    r = do_create(&e, &cc);
    assert_int_equal(r.code, 0);
    assert_int_equal(r.reporter_id, 1);
    cc.reporter = NULL;
    cc.reporter_id = 1;
    r = do_create(&e, &cc);
    assert_int_equal(r.code, 0);
    assert_int_equal(r.case_id, 2);
    assert_int_equal(rz_storage_read_begin(e.s, &rd), 0);
    {
        uint64_t seen = 0;
        assert_int_equal(rz_storage_read_index(rd, &seen), 0);
        assert_int_equal(seen, e.index);
    }
    assert_int_equal(rz_storage_reporter_get(rd, 1, &d), 0);
    assert_string_equal(d.name, "Anna Nowak");
    assert_string_equal(d.email, "anna@example.pl");
    assert_string_equal(d.address, "");
    memset(&q, 0, sizeof(q));
    q.filters = RZ_FILTER_REPORTER;
    q.reporter_id = 1;
    assert_int_equal(rz_storage_case_list(rd, &q, ids, NULL, &n, &cursor), 0);
    assert_int_equal(n, 2);
    assert_int_equal(ids[0], 2);
    assert_int_equal(ids[1], 1);
    assert_int_equal(cursor, 0);
    rz_storage_read_end(rd);
    env_destroy(&e);
}

/* ---- Status, route, reopen ------------------------------------------------
 */

static void test_status_rejections(void **state)
{
    env e;
    rz_case_create cc = sample_create("TREE", "WOLA");
    uint8_t before[32], after[32];
    rz_case c;
    rz_result r;
    char *big;
    (void)state;
    env_init(&e);
    load_small_catalog(&e);
    assert_int_equal(do_create(&e, &cc).code, 0);
    data_checksum(&e, before);
    assert_int_equal(do_status(&e, 9, 0, RZ_STATUS_TRIAGE, NULL).code,
                     RZ_ENOCASE);
    r = do_status(&e, 1, 5, RZ_STATUS_TRIAGE, NULL);
    assert_int_equal(r.code, RZ_EVERSION);
    assert_int_equal(r.version, 1); /* the current version */
    assert_int_equal(do_status(&e, 1, 0, RZ_STATUS_RESOLVED, NULL).code,
                     RZ_EBADSTATUS);
    assert_int_equal(do_status(&e, 1, 0, RZ_STATUS_COUNT, NULL).code,
                     RZ_EINVAL);
    /* ROUTED only by routing, which names the unit. */
    assert_int_equal(do_status(&e, 1, 0, RZ_STATUS_ROUTED, NULL).code,
                     RZ_EBADSTATUS);
    big = repeat('r', RZ_COMMENT_MAX_BYTES + 1);
    assert_int_equal(do_status(&e, 1, 0, RZ_STATUS_CLOSED, big).code,
                     RZ_ETOOBIG);
    free(big);
    assert_int_equal(do_route(&e, 1, 0, "NO_UNIT").code, RZ_ENOUNIT);
    assert_int_equal(do_route(&e, 1, 3, "ZDM").code, RZ_EVERSION);
    assert_int_equal(do_reopen(&e, 1, 0).code, RZ_EBADSTATUS);
    data_checksum(&e, after);
    assert_memory_equal(before, after, 32);
    /* Compare-and-set that matches. */
    r = do_route(&e, 1, 1, "ZDM");
    assert_int_equal(r.code, 0);
    assert_int_equal(r.version, 2);
    r = do_route(&e, 1, 2, "SM"); /* re-route */
    assert_int_equal(r.code, 0);
    assert_int_equal(do_status(&e, 1, 3, RZ_STATUS_IN_PROGRESS, NULL).code, 0);
    assert_int_equal(do_route(&e, 1, 0, "ZDM").code, RZ_EBADSTATUS);
    assert_int_equal(
        do_status(&e, 1, 0, RZ_STATUS_RESOLVED, "Patched by the crew").code, 0);
    assert_int_equal(do_status(&e, 1, 0, RZ_STATUS_CLOSED, NULL).code, 0);
    get_case(&e, 1, &c);
    assert_int_equal(c.status, RZ_STATUS_CLOSED);
    assert_string_equal(c.resolution, "Patched by the crew");
    assert_string_equal(c.unit_id, "SM");
    assert_int_equal(c.closed_ms, e.now_ms);
    assert_int_equal(c.version, 6);
    assert_int_equal(do_status(&e, 1, 0, RZ_STATUS_IN_PROGRESS, NULL).code,
                     RZ_EBADSTATUS); /* only by reopen */
    assert_int_equal(do_reopen(&e, 1, 6).code, 0);
    get_case(&e, 1, &c);
    assert_int_equal(c.status, RZ_STATUS_IN_PROGRESS);
    assert_int_equal(c.closed_ms, 0);
    env_destroy(&e);
}

/* DESIGN.md §2, written out independently of storage's own table. */
static bool design_allows(int from, int to)
{
    static const char *const allowed[RZ_STATUS_COUNT] = {
        [RZ_STATUS_NEW] = "TRIAGE ROUTED CLOSED",
        [RZ_STATUS_TRIAGE] = "ROUTED CLOSED",
        [RZ_STATUS_ROUTED] = "IN_PROGRESS ROUTED TRIAGE CLOSED",
        [RZ_STATUS_IN_PROGRESS] = "ON_HOLD RESOLVED TRIAGE",
        [RZ_STATUS_ON_HOLD] = "IN_PROGRESS RESOLVED CLOSED",
        [RZ_STATUS_RESOLVED] = "CLOSED IN_PROGRESS",
        [RZ_STATUS_CLOSED] = "IN_PROGRESS",
    };
    char list[64];
    char *save = NULL;
    snprintf(list, sizeof(list), "%s", allowed[from]);
    for (char *t = strtok_r(list, " ", &save); t != NULL;
         t = strtok_r(NULL, " ", &save)) {
        if (strcmp(t, rz_status_name(to)) == 0) {
            return true;
        }
    }
    return false;
}

/* Creates a case and walks it to `status`; returns its id. */
static uint64_t case_in(env *e, int status)
{
    rz_case_create cc = sample_create("TREE", "WOLA");
    rz_result r = do_create(e, &cc);
    uint64_t id = r.case_id;
    assert_int_equal(r.code, 0);
    switch (status) {
    case RZ_STATUS_NEW:
        break;
    case RZ_STATUS_TRIAGE:
    case RZ_STATUS_CLOSED:
        assert_int_equal(do_status(e, id, 0, status, NULL).code, 0);
        break;
    default:
        assert_int_equal(do_route(e, id, 0, "ZZW").code, 0);
        if (status == RZ_STATUS_ROUTED) {
            break;
        }
        assert_int_equal(do_status(e, id, 0, RZ_STATUS_IN_PROGRESS, NULL).code,
                         0);
        if (status != RZ_STATUS_IN_PROGRESS) {
            assert_int_equal(do_status(e, id, 0, status, NULL).code, 0);
        }
    }
    return id;
}

static void test_lifecycle_every_pair(void **state)
{
    env e;
    (void)state;
    env_init(&e);
    load_small_catalog(&e);
    for (int from = 0; from < RZ_STATUS_COUNT; from++) {
        for (int to = 0; to < RZ_STATUS_COUNT; to++) {
            bool allowed = design_allows(from, to);
            uint64_t id = case_in(&e, from);
            rz_case before, after;
            rz_result r;
            get_case(&e, id, &before);
            assert_int_equal(before.status, from);
            if (to == RZ_STATUS_ROUTED) {
                r = do_route(&e, id, 0, "ZDM");
            } else if (from == RZ_STATUS_CLOSED &&
                       to == RZ_STATUS_IN_PROGRESS) {
                r = do_reopen(&e, id, 0);
            } else {
                r = do_status(&e, id, 0, to, NULL);
            }
            get_case(&e, id, &after);
            if (allowed) {
                if (r.code != 0) {
                    fail_msg("%s -> %s should be allowed, got %s",
                             rz_status_name(from), rz_status_name(to),
                             rz_errname(r.code));
                }
                assert_int_equal(after.status, to);
                assert_int_equal(after.version, before.version + 1);
            } else {
                if (r.code != RZ_EBADSTATUS) {
                    fail_msg("%s -> %s should be refused, got %s",
                             rz_status_name(from), rz_status_name(to),
                             rz_errname(r.code));
                }
                assert_int_equal(after.status, from);
                assert_int_equal(after.version, before.version);
            }
            /* The other commands never make the move. */
            if (to == RZ_STATUS_ROUTED && from != RZ_STATUS_CLOSED) {
                uint64_t id2 = case_in(&e, from);
                assert_int_equal(do_status(&e, id2, 0, to, NULL).code,
                                 RZ_EBADSTATUS);
            }
            if (from != RZ_STATUS_CLOSED && to == RZ_STATUS_IN_PROGRESS) {
                uint64_t id2 = case_in(&e, from);
                assert_int_equal(do_reopen(&e, id2, 0).code, RZ_EBADSTATUS);
            }
            if (from == RZ_STATUS_CLOSED && to == RZ_STATUS_IN_PROGRESS) {
                uint64_t id2 = case_in(&e, from);
                assert_int_equal(do_status(&e, id2, 0, to, NULL).code,
                                 RZ_EBADSTATUS);
            }
            assert_int_equal(
                rz_status_move_allowed(
                    from, to, RZ_MOVE_STATUS | RZ_MOVE_ROUTE | RZ_MOVE_REOPEN),
                design_allows(from, to));
        }
    }
    env_destroy(&e);
}

/* ---- Assign, comment, notify, merge, erase ----------------------------------
 */

static void test_assign_comment_notify(void **state)
{
    env e;
    rz_case_create cc = sample_create("ROAD_POTHOLE", "WOLA");
    rz_buf b;
    rz_event ev[8];
    rz_case c;
    char *big;
    size_t n;
    (void)state;
    env_init(&e);
    load_small_catalog(&e);
    assert_int_equal(do_create(&e, &cc).code, 0);
    rz_buf_init(&b, RZ_COMMAND_MAX_BYTES * 2);
    assert_int_equal(rz_cmd_assign_encode(&b, NULL, 1, 1, 0, 4242, agent), 0);
    assert_int_equal(apply_buf(&e, &b).code, 0);
    rz_buf_reset(&b);
    rz_cmd_assign_encode(&b, NULL, 1, 1, 9, 4242, agent);
    assert_int_equal(apply_buf(&e, &b).code, RZ_EVERSION);
    rz_buf_reset(&b);
    rz_cmd_assign_encode(&b, NULL, 1, 77, 0, 4242, agent);
    assert_int_equal(apply_buf(&e, &b).code, RZ_ENOCASE);
    rz_buf_reset(&b);
    rz_cmd_assign_encode(&b, NULL, 1, 1, 0, 1, (rz_actor){RZ_ACTOR_COUNT, 1});
    assert_int_equal(apply_buf(&e, &b).code, RZ_EINVAL);
    rz_buf_reset(&b);
    rz_cmd_comment_encode(&b, NULL, 1, 1, true, "", agent);
    assert_int_equal(apply_buf(&e, &b).code, RZ_EINVAL);
    big = repeat('c', RZ_COMMENT_MAX_BYTES + 1);
    rz_buf_reset(&b);
    rz_cmd_comment_encode(&b, NULL, 1, 1, true, big, agent);
    assert_int_equal(apply_buf(&e, &b).code, RZ_ETOOBIG);
    free(big);
    rz_buf_reset(&b);
    rz_cmd_comment_encode(&b, NULL, 1, 1, false, "internal note", agent);
    assert_int_equal(apply_buf(&e, &b).code, 0);
    rz_buf_reset(&b);
    rz_cmd_comment_encode(&b, NULL, 1, 2, false, "x", agent);
    assert_int_equal(apply_buf(&e, &b).code, RZ_ENOCASE);
    rz_buf_reset(&b);
    rz_cmd_notify_encode(&b, NULL, 1, 1, RZ_CHANNEL_COUNT, "sms", agent);
    assert_int_equal(apply_buf(&e, &b).code, RZ_EINVAL);
    rz_buf_reset(&b);
    rz_cmd_notify_encode(&b, NULL, 1, 1, RZ_CHANNEL_EMAIL, "Your case moved",
                         agent);
    assert_int_equal(apply_buf(&e, &b).code, 0);
    n = history(&e, 1, ev, 8);
    assert_int_equal(n, 5);
    assert_int_equal(ev[2].type, RZ_EV_ASSIGNED);
    assert_int_equal(ev[2].other_id, 4242);
    assert_int_equal(ev[3].type, RZ_EV_COMMENT);
    assert_false(ev[3].is_public);
    assert_string_equal(ev[3].text, "internal note");
    assert_int_equal(ev[4].type, RZ_EV_CITIZEN_NOTIFIED);
    assert_int_equal(ev[4].channel, RZ_CHANNEL_EMAIL);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(ev[i].seq, i);
    }
    get_case(&e, 1, &c);
    assert_int_equal(c.assignee_id, 4242);
    assert_int_equal(c.version, 4);
    /* No assignment on a closed case. */
    assert_int_equal(do_status(&e, 1, 0, RZ_STATUS_CLOSED, NULL).code, 0);
    rz_buf_reset(&b);
    rz_cmd_assign_encode(&b, NULL, 1, 1, 0, 5, agent);
    assert_int_equal(apply_buf(&e, &b).code, RZ_EBADSTATUS);
    rz_buf_close(&b);
    env_destroy(&e);
}

static void test_merge(void **state)
{
    env e;
    rz_case_create cc = sample_create("ROAD_POTHOLE", "WOLA");
    rz_case c;
    rz_event ev[4];
    rz_result r;
    (void)state;
    env_init(&e);
    load_small_catalog(&e);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(do_create(&e, &cc).code, 0);
    }
    assert_int_equal(do_merge(&e, 2, 0, 2).code, RZ_EINVAL);
    assert_int_equal(do_merge(&e, 2, 0, 9).code, RZ_ENOCASE);
    assert_int_equal(do_merge(&e, 9, 0, 1).code, RZ_ENOCASE);
    assert_int_equal(do_merge(&e, 2, 7, 1).code, RZ_EVERSION);
    r = do_merge(&e, 2, 1, 1);
    assert_int_equal(r.code, 0);
    get_case(&e, 2, &c);
    assert_int_equal(c.status, RZ_STATUS_CLOSED);
    assert_int_equal(c.parent_case_id, 1);
    assert_int_equal(history(&e, 1, ev, 4), 3);
    assert_int_equal(ev[2].type, RZ_EV_MERGED);
    assert_int_equal(ev[2].other_id, 2);
    assert_int_equal(do_merge(&e, 2, 0, 3).code, RZ_EMERGED);
    assert_int_equal(do_merge(&e, 3, 0, 2).code, RZ_EMERGED);
    assert_int_equal(do_status(&e, 2, 0, RZ_STATUS_TRIAGE, NULL).code,
                     RZ_EMERGED);
    assert_int_equal(do_reopen(&e, 2, 0).code, RZ_EMERGED);
    env_destroy(&e);
}

static void test_erase_reporter(void **state)
{
    env e;
    rz_case_create cc = sample_create("NOISE", "MOKOTOW");
    rz_reporter rep = {"Ewa", "+48 1", "ewa@example.pl", "ul. Długa 2"};
    rz_reporter_data d;
    rz_storage_read *rd;
    rz_event ev[8];
    rz_buf b;
    size_t n;
    (void)state;
    env_init(&e);
    load_small_catalog(&e);
    cc.reporter = &rep;
    assert_int_equal(do_create(&e, &cc).code, 0);
    cc.reporter = NULL;
    assert_int_equal(do_create(&e, &cc).code, 0); /* anonymous */
    cc.reporter_id = 1;
    assert_int_equal(do_create(&e, &cc).code, 0);
    rz_buf_init(&b, 1024);
    rz_cmd_erase_reporter_encode(&b, NULL, 5, 2, agent);
    assert_int_equal(apply_buf(&e, &b).code, RZ_ENOREPORTER);
    rz_buf_reset(&b);
    rz_cmd_erase_reporter_encode(&b, NULL, 5, 1, agent);
    assert_int_equal(apply_buf(&e, &b).code, 0);
    assert_int_equal(apply_buf(&e, &b).code, RZ_ENOREPORTER); /* gone */
    rz_buf_close(&b);
    assert_int_equal(rz_storage_read_begin(e.s, &rd), 0);
    assert_int_equal(rz_storage_reporter_get(rd, 1, &d), RZ_ENOREPORTER);
    rz_storage_read_end(rd);
    n = history(&e, 1, ev, 8);
    assert_int_equal(ev[n - 1].type, RZ_EV_PII_ERASED);
    assert_int_equal(ev[n - 1].other_id, 1);
    n = history(&e, 3, ev, 8);
    assert_int_equal(ev[n - 1].type, RZ_EV_PII_ERASED);
    n = history(&e, 2, ev, 8);
    assert_int_not_equal(ev[n - 1].type, RZ_EV_PII_ERASED);
    env_destroy(&e);
}

/* ---- Catalog ----------------------------------------------------------------
 */

static void test_catalog_rejections(void **state)
{
    env e;
    uint8_t before[32], after[32];
    rz_catalog_item it[3];
    rz_catalog_item *many;
    rz_storage_read *rd;
    char name[RZ_NAME_MAX_BYTES + 1];
    char unit[RZ_CODE_MAX_BYTES + 1];
    rz_service svc;
    (void)state;
    env_init(&e);
    load_small_catalog(&e);
    data_checksum(&e, before);
    memset(it, 0, sizeof(it));
    it[0] = (rz_catalog_item){.type = RZ_CAT_RULE,
                              .code = "NOPE",
                              .district = "WOLA",
                              .unit_id = "ZDM"};
    assert_int_equal(do_catalog(&e, it, 1).code, RZ_ENOSERVICE);
    it[0].code = "NOISE";
    it[0].district = "NOWHERE";
    assert_int_equal(do_catalog(&e, it, 1).code, RZ_ENODISTRICT);
    it[0].district = "WOLA";
    it[0].unit_id = "NOBODY";
    assert_int_equal(do_catalog(&e, it, 1).code, RZ_ENOUNIT);
    it[0] = (rz_catalog_item){.type = RZ_CAT_UNIT, .code = "X", .name = ""};
    assert_int_equal(do_catalog(&e, it, 1).code, RZ_EINVAL);
    it[0] = (rz_catalog_item){.type = RZ_CAT_UNIT, .code = "a b", .name = "n"};
    assert_int_equal(do_catalog(&e, it, 1).code, RZ_EINVAL);
    it[0] = (rz_catalog_item){.type = 9, .code = "X", .name = "n"};
    assert_int_equal(do_catalog(&e, it, 1).code, RZ_EINVAL);
    it[0] = (rz_catalog_item){
        .type = RZ_CAT_SERVICE, .code = "S", .name = "n", .kind = 7};
    assert_int_equal(do_catalog(&e, it, 1).code, RZ_EINVAL);
    it[0] = (rz_catalog_item){.type = RZ_CAT_SERVICE,
                              .code = "S",
                              .name = "n",
                              .sla_hours = 1u << 30};
    assert_int_equal(do_catalog(&e, it, 1).code, RZ_EINVAL);
    /* A valid item followed by a bad one: nothing of it is applied. */
    it[0] = (rz_catalog_item){.type = RZ_CAT_UNIT, .code = "NEW", .name = "n"};
    it[1] = (rz_catalog_item){.type = RZ_CAT_RULE,
                              .code = "NOISE",
                              .district = "WOLA",
                              .unit_id = "MISSING"};
    assert_int_equal(do_catalog(&e, it, 2).code, RZ_ENOUNIT);
    many = calloc(RZ_CATALOG_UPSERT_MAX_ITEMS + 1, sizeof(*many));
    assert_non_null(many);
    for (size_t i = 0; i <= RZ_CATALOG_UPSERT_MAX_ITEMS; i++) {
        many[i] =
            (rz_catalog_item){.type = RZ_CAT_UNIT, .code = "U", .name = "n"};
    }
    assert_int_equal(do_catalog(&e, many, RZ_CATALOG_UPSERT_MAX_ITEMS + 1).code,
                     RZ_ETOOBIG);
    free(many);
    data_checksum(&e, after);
    assert_memory_equal(before, after, 32);
    /* A rule may use items defined earlier in the same command; upserts
     * replace. */
    it[0] = (rz_catalog_item){
        .type = RZ_CAT_UNIT, .code = "NEW", .name = "New unit"};
    it[1] = (rz_catalog_item){.type = RZ_CAT_RULE,
                              .code = "NOISE",
                              .district = "WOLA",
                              .unit_id = "NEW"};
    it[2] = (rz_catalog_item){.type = RZ_CAT_SERVICE,
                              .code = "NOISE",
                              .name = "Night noise",
                              .kind = RZ_KIND_COMPLAINT,
                              .sla_hours = 3};
    assert_int_equal(do_catalog(&e, it, 3).code, 0);
    assert_int_equal(rz_storage_read_begin(e.s, &rd), 0);
    assert_int_equal(rz_storage_unit_get(rd, "NEW", name), 0);
    assert_string_equal(name, "New unit");
    assert_int_equal(rz_storage_rule_get(rd, "NOISE", "WOLA", unit), 0);
    assert_string_equal(unit, "NEW");
    assert_int_equal(rz_storage_service_get(rd, "NOISE", &svc), 0);
    assert_string_equal(svc.name, "Night noise");
    assert_int_equal(svc.sla_hours, 3);
    assert_int_equal(rz_storage_service_get(rd, "NOPE", &svc), RZ_ENOSERVICE);
    assert_int_equal(rz_storage_unit_get(rd, "NOPE", name), RZ_ENOUNIT);
    assert_int_equal(rz_storage_district_get(rd, "NOPE", name), RZ_ENODISTRICT);
    assert_int_equal(rz_storage_rule_get(rd, "TREE", "WOLA", unit),
                     RZ_ENOTFOUND);
    rz_storage_read_end(rd);
    env_destroy(&e);
}

/* ---- Malformed commands, no-op
 * ------------------------------------------------ */

static void test_noop_and_malformed(void **state)
{
    /* Each command below has its own request id: a reused id would be
     * refused as RZ_EREUSED before its body is looked at. */
    env e;
    rz_buf b;
    uint8_t before[32], after[32];
    uint8_t *huge;
    (void)state;
    env_init(&e);
    load_small_catalog(&e);
    rz_buf_init(&b, RZ_COMMAND_MAX_BYTES * 2);
    assert_int_equal(rz_cmd_noop_encode(&b, NULL, 5), 0);
    assert_int_equal(apply_buf(&e, &b).code, 0);
    assert_int_equal(rz_storage_applied_index(e.s), e.index);
    data_checksum(&e, before);
    /* Not msgpack at all. */
    rz_buf_reset(&b);
    rz_buf_append(&b, "\xc1\xc1\xc1", 3);
    assert_int_equal(apply_buf(&e, &b).code, RZ_EMALFORMED);
    /* Empty. */
    rz_buf_reset(&b);
    assert_int_equal(apply_buf(&e, &b).code, RZ_EMALFORMED);
    /* Unknown command type. */
    rz_buf_reset(&b);
    rz_mp_put_array(&b, 4);
    rz_mp_put_uint(&b, 99);
    rz_mp_put_bin(&b, "0123456789abcd01", 16);
    rz_mp_put_uint(&b, 1);
    rz_mp_put_array(&b, 0);
    assert_int_equal(apply_buf(&e, &b).code, RZ_EMALFORMED);
    /* A request id of the wrong length. */
    rz_buf_reset(&b);
    rz_mp_put_array(&b, 4);
    rz_mp_put_uint(&b, 0);
    rz_mp_put_bin(&b, "0123", 4);
    rz_mp_put_uint(&b, 1);
    rz_mp_put_array(&b, 0);
    assert_int_equal(apply_buf(&e, &b).code, RZ_EMALFORMED);
    /* A body with an extra field. */
    rz_buf_reset(&b);
    rz_mp_put_array(&b, 4);
    rz_mp_put_uint(&b, 0);
    rz_mp_put_bin(&b, "0123456789abcd02", 16);
    rz_mp_put_uint(&b, 1);
    rz_mp_put_array(&b, 1);
    rz_mp_put_uint(&b, 1);
    assert_int_equal(apply_buf(&e, &b).code, RZ_EMALFORMED);
    /* Trailing bytes after a valid command. */
    rz_buf_reset(&b);
    rz_cmd_noop_encode(&b, NULL, 5);
    rz_buf_append(&b, "\x00", 1);
    assert_int_equal(apply_buf(&e, &b).code, RZ_EMALFORMED);
    /* A field of the wrong type: case id as a string. */
    rz_buf_reset(&b);
    rz_mp_put_array(&b, 4);
    rz_mp_put_uint(&b, 2);
    rz_mp_put_bin(&b, "0123456789abcd03", 16);
    rz_mp_put_uint(&b, 1);
    rz_mp_put_array(&b, 6);
    rz_mp_put_cstr(&b, "1");
    rz_mp_put_uint(&b, 0);
    rz_mp_put_uint(&b, 1);
    rz_mp_put_nil(&b);
    rz_mp_put_uint(&b, 0);
    rz_mp_put_uint(&b, 0);
    assert_int_equal(apply_buf(&e, &b).code, RZ_EMALFORMED);
    /* Larger than any command may be. */
    huge = calloc(1, RZ_COMMAND_MAX_BYTES + 1);
    assert_non_null(huge);
    rz_buf_reset(&b);
    rz_buf_append(&b, huge, RZ_COMMAND_MAX_BYTES + 1);
    free(huge);
    assert_int_equal(apply_buf(&e, &b).code, RZ_ETOOBIG);
    data_checksum(&e, after);
    assert_memory_equal(before, after, 32);
    rz_buf_close(&b);
    env_destroy(&e);
}

/* ---- Exactly once and skip-on-replay ----------------------------------------
 */

static void checksum_scan_data(env *e, uint8_t out[32])
{
    uint64_t at = 0;
    assert_int_equal(rz_storage_checksum_scan(e->s, true, out, &at), 0);
}

static void test_skip_and_dedup(void **state)
{
    env e;
    rz_case_create cc = sample_create("ROAD_POTHOLE", "WOLA");
    rz_buf cmd, out, out2;
    rz_result r, r2;
    uint8_t rid[16];
    uint8_t sum1[32], sum2[32];
    rz_case c;
    (void)state;
    env_init(&e);
    load_small_catalog(&e);
    rz_buf_init(&cmd, RZ_COMMAND_MAX_BYTES);
    rz_buf_init(&out, 1024);
    rz_buf_init(&out2, 1024);
    next_rid(&e, rid);
    rz_cmd_create_encode(&cmd, rid, e.now_ms, &cc);
    assert_int_equal(rz_storage_apply(e.s, 5, cmd.data, cmd.len, &out), 0);
    assert_int_equal(rz_storage_applied_index(e.s), 5);
    checksum_of(&e, sum1);
    /* Index 5 again, even with other bytes: skipped, stored result. */
    assert_int_equal(rz_storage_apply(e.s, 5, "junk", 4, &out2), 0);
    assert_int_equal(out.len, out2.len);
    assert_memory_equal(out.data, out2.data, out.len);
    /* An index never applied below applied_index: RZ_ENOTFOUND result. */
    rz_buf_reset(&out2);
    assert_int_equal(rz_storage_apply(e.s, 3, cmd.data, cmd.len, &out2), 0);
    assert_int_equal(rz_result_decode(out2.data, out2.len, &r2), 0);
    assert_int_equal(r2.code, RZ_ENOTFOUND);
    checksum_of(&e, sum2);
    assert_memory_equal(sum1, sum2, 32);
    /* The same request id at a new index: the original result. */
    e.index = 5;
    r = apply_buf(&e, &cmd);
    assert_int_equal(rz_result_decode(out.data, out.len, &r2), 0);
    assert_int_equal(r.code, 0);
    assert_int_equal(r.case_id, r2.case_id);
    {
        rz_storage_read *rd;
        assert_int_equal(rz_storage_read_begin(e.s, &rd), 0);
        assert_int_equal(rz_storage_case_get(rd, 2, &c), RZ_ENOCASE);
        rz_storage_read_end(rd);
    }
    /* A retry stamped by another leader's clock (a later at_ms): still the
     * original result. */
    rz_buf_reset(&cmd);
    rz_cmd_create_encode(&cmd, rid, e.now_ms + 5000, &cc);
    r = apply_buf(&e, &cmd);
    assert_int_equal(r.code, 0);
    assert_int_equal(r.case_id, r2.case_id);
    /* A different request under the same id is refused (RZ_EREUSED) and
     * changes nothing; the id keeps its first result for retries. */
    checksum_scan_data(&e, sum1);
    rz_buf_reset(&cmd);
    rz_cmd_comment_encode(&cmd, rid, e.now_ms, r2.case_id, true, "reused id",
                          agent);
    r = apply_buf(&e, &cmd);
    assert_int_equal(r.code, RZ_EREUSED);
    rz_buf_reset(&cmd);
    {
        rz_case_create other = cc;
        other.description = "another report under the same id";
        rz_cmd_create_encode(&cmd, rid, e.now_ms, &other);
    }
    r = apply_buf(&e, &cmd);
    assert_int_equal(r.code, RZ_EREUSED);
    checksum_scan_data(&e, sum2);
    assert_memory_equal(sum1, sum2, 32);
    rz_buf_reset(&cmd);
    rz_cmd_create_encode(&cmd, rid, e.now_ms, &cc);
    r = apply_buf(&e, &cmd);
    assert_int_equal(r.code, 0);
    assert_int_equal(r.case_id, r2.case_id);
    /* A proposer clock behind the log time does not move time back. */
    rz_buf_reset(&cmd);
    cc.description = "late clock";
    rz_cmd_create_encode(&cmd, NULL, e.now_ms - 60000, &cc);
    r = apply_buf(&e, &cmd);
    get_case(&e, r.case_id, &c);
    assert_int_equal(c.created_ms, e.now_ms);
    /* After the retention window in log time (and enough applies to prune)
     * the request id is forgotten: it creates a new case. */
    for (int i = 0; i < 4; i++) {
        rz_buf_reset(&cmd);
        rz_cmd_noop_encode(&cmd, NULL, e.now_ms + RZ_DEDUP_RETENTION_MS + 1000);
        apply_buf(&e, &cmd);
    }
    rz_buf_reset(&cmd);
    cc.description = "Dziura w jezdni przed numerem 5";
    rz_cmd_create_encode(&cmd, rid, e.now_ms, &cc);
    r = apply_buf(&e, &cmd);
    assert_int_equal(r.code, 0);
    assert_int_equal(r.case_id, 3);
    rz_buf_close(&cmd);
    rz_buf_close(&out);
    rz_buf_close(&out2);
    env_destroy(&e);
}

static void test_results_pruned(void **state)
{
    env e;
    rz_storage_options o = {.map_size_bytes = 64u << 20, .results_kept = 10};
    rz_buf cmd, out;
    rz_result r;
    (void)state;
    env_init(&e);
    env_close(&e);
    assert_int_equal(rz_storage_open(e.dir, &o, &e.s, NULL), 0);
    rz_buf_init(&cmd, 256);
    rz_buf_init(&out, 256);
    rz_cmd_noop_encode(&cmd, NULL, 1);
    for (int i = 0; i < 30; i++) {
        apply_buf(&e, &cmd);
    }
    assert_int_equal(rz_storage_apply(e.s, 25, "", 0, &out), 0);
    assert_int_equal(rz_result_decode(out.data, out.len, &r), 0);
    assert_int_equal(r.code, 0);
    rz_buf_reset(&out);
    assert_int_equal(rz_storage_apply(e.s, 3, "", 0, &out), 0);
    assert_int_equal(rz_result_decode(out.data, out.len, &r), 0);
    assert_int_equal(r.code, RZ_ENOTFOUND);
    rz_buf_close(&cmd);
    rz_buf_close(&out);
    env_destroy(&e);
}

static void test_batch(void **state)
{
    env e;
    rz_case_create cc = sample_create("ROAD_POTHOLE", "WOLA");
    enum { N = 300 };
    rz_buf *cmds = calloc(N, sizeof(rz_buf));
    rz_buf *res = calloc(N, sizeof(rz_buf));
    rz_storage_entry *en = calloc(N, sizeof(*en));
    uint8_t sum[32];
    (void)state;
    assert_non_null(cmds);
    assert_non_null(res);
    assert_non_null(en);
    env_init(&e);
    load_small_catalog(&e);
    for (size_t i = 0; i < N; i++) {
        rz_buf_init(&cmds[i], RZ_COMMAND_MAX_BYTES);
        rz_buf_init(&res[i], 256);
        if (i % 3 == 2) {
            rz_cmd_status_encode(&cmds[i], NULL, e.now_ms, i / 3 + 1, 0,
                                 RZ_STATUS_IN_PROGRESS, NULL, agent);
        } else {
            rz_cmd_create_encode(&cmds[i], NULL, e.now_ms, &cc);
        }
        en[i] = (rz_storage_entry){e.index + 1 + i, cmds[i].data, cmds[i].len};
    }
    assert_int_equal(rz_storage_apply_batch(e.s, en, N, res), 0);
    assert_int_equal(rz_storage_applied_index(e.s), e.index + N);
    for (size_t i = 0; i < N; i++) {
        rz_result r;
        assert_int_equal(rz_result_decode(res[i].data, res[i].len, &r), 0);
        assert_int_equal(r.code, 0);
        rz_buf_close(&cmds[i]);
        rz_buf_close(&res[i]);
    }
    checksum_of(&e, sum);
    free(cmds);
    free(res);
    free(en);
    env_destroy(&e);
}

/* ---- Queries
 * ------------------------------------------------------------------- */

static uint32_t lcg(uint32_t *x)
{
    *x = *x * 1664525u + 1013904223u;
    return *x >> 8;
}

static const char *const districts[] = {"MOKOTOW", "WOLA", "UNKNOWN"};
static const char *const services[] = {"ROAD_POTHOLE", "NOISE", "TREE",
                                       "OTHER"};
static const char *const units[] = {"ZDM", "SM", "ZZW"};

/* A mixed population of cases: created over several days, in every status
 * reachable, over every channel. */
static void populate(env *e, uint32_t n, uint32_t seed)
{
    static const rz_reporter rep = {"R", NULL, NULL, NULL};
    for (uint32_t i = 0; i < n; i++) {
        rz_case_create cc =
            sample_create(services[lcg(&seed) % 4], districts[lcg(&seed) % 3]);
        rz_result r;
        uint32_t path = lcg(&seed) % 6;
        cc.channel = (uint8_t)(lcg(&seed) % RZ_CHANNEL_COUNT);
        if (lcg(&seed) % 4 == 0) {
            cc.reporter = &rep;
        } else if (lcg(&seed) % 3 == 0 && i > 0) {
            cc.reporter_id = 1;
        }
        e->now_ms += lcg(&seed) % (6u * 3600u * 1000u);
        r = do_create(e, &cc);
        if (r.code == RZ_ENOREPORTER) {
            cc.reporter_id = 0;
            r = do_create(e, &cc);
        }
        assert_int_equal(r.code, 0);
        if (path >= 1) {
            do_route(e, r.case_id, 0, units[lcg(&seed) % 3]);
        }
        if (path >= 2) {
            do_status(e, r.case_id, 0, RZ_STATUS_IN_PROGRESS, NULL);
        }
        if (path >= 3) {
            do_status(e, r.case_id, 0, RZ_STATUS_RESOLVED, "done");
        }
        if (path >= 4) {
            do_status(e, r.case_id, 0, RZ_STATUS_CLOSED, NULL);
        }
        if (path == 5) {
            do_reopen(e, r.case_id, 0);
        }
    }
}

static bool brute_match(const rz_list_query *q, const rz_case *c)
{
    uint32_t f = q->filters;
    return (!(f & RZ_FILTER_STATUS) || c->status == q->status) &&
           (!(f & RZ_FILTER_CHANNEL) || c->channel == q->channel) &&
           (!(f & RZ_FILTER_DISTRICT) || !strcmp(c->district, q->district)) &&
           (!(f & RZ_FILTER_UNIT) || !strcmp(c->unit_id, q->unit_id)) &&
           (!(f & RZ_FILTER_SERVICE) ||
            !strcmp(c->service_code, q->service_code)) &&
           (!(f & RZ_FILTER_REPORTER) || c->reporter_id == q->reporter_id) &&
           (!(f & RZ_FILTER_CREATED) || (c->created_ms >= q->created_from_ms &&
                                         c->created_ms < q->created_to_ms));
}

static void test_list_matches_brute_force(void **state)
{
    env e;
    enum { N = 150 };
    rz_case *all = calloc(N + 1, sizeof(rz_case));
    rz_case *page_cases = calloc(RZ_LIST_PAGE_MAX, sizeof(rz_case));
    uint64_t ids[RZ_LIST_PAGE_MAX];
    uint32_t seed = 7;
    rz_storage_read *rd;
    (void)state;
    assert_non_null(all);
    assert_non_null(page_cases);
    env_init(&e);
    load_small_catalog(&e);
    populate(&e, N, 12345);
    assert_int_equal(rz_storage_read_begin(e.s, &rd), 0);
    for (uint64_t id = 1; id <= N; id++) {
        assert_int_equal(rz_storage_case_get(rd, id, &all[id]), 0);
    }
    for (int round = 0; round < 400; round++) {
        rz_list_query q;
        uint64_t expect[N];
        size_t n_expect = 0, got = 0;
        size_t pages = 0;
        memset(&q, 0, sizeof(q));
        q.filters = lcg(&seed) & 0x7f;
        q.status = (uint8_t)(lcg(&seed) % RZ_STATUS_COUNT);
        q.channel = (uint8_t)(lcg(&seed) % RZ_CHANNEL_COUNT);
        strcpy(q.district, districts[lcg(&seed) % 3]);
        strcpy(q.unit_id, lcg(&seed) % 4 == 0 ? "" : units[lcg(&seed) % 3]);
        strcpy(q.service_code, services[lcg(&seed) % 4]);
        q.reporter_id = 1 + lcg(&seed) % 3;
        q.created_from_ms = all[1 + lcg(&seed) % N].created_ms;
        q.created_to_ms = q.created_from_ms + lcg(&seed) % (100u * 3600000u);
        q.limit = 1 + lcg(&seed) % 20;
        for (uint64_t id = N; id >= 1; id--) {
            if (brute_match(&q, &all[id])) {
                expect[n_expect++] = id;
            }
        }
        for (;;) {
            size_t n = 0;
            uint64_t next = 0;
            bool want_cases = (pages & 1) != 0;
            assert_int_equal(
                rz_storage_case_list(rd, &q, ids,
                                     want_cases ? page_cases : NULL, &n, &next),
                0);
            assert_true(n <= q.limit);
            for (size_t i = 0; i < n; i++) {
                assert_true(got < n_expect);
                assert_int_equal(ids[i], expect[got]);
                if (want_cases) {
                    assert_int_equal(page_cases[i].case_id, ids[i]);
                    assert_int_equal(page_cases[i].version,
                                     all[ids[i]].version);
                }
                got++;
            }
            pages++;
            if (next == 0) {
                break;
            }
            assert_true(pages < 1000);
            q.cursor = next;
        }
        assert_int_equal(got, n_expect);
    }
    rz_storage_read_end(rd);
    free(all);
    free(page_cases);
    env_destroy(&e);
}

static void test_list_cursor_while_writing(void **state)
{
    env e;
    rz_list_query q;
    uint64_t ids[10];
    uint64_t seen[200];
    size_t n_seen = 0, n;
    uint64_t next;
    rz_storage_read *rd;
    rz_case_create cc = sample_create("ROAD_POTHOLE", "WOLA");
    (void)state;
    env_init(&e);
    load_small_catalog(&e);
    for (int i = 0; i < 25; i++) {
        assert_int_equal(do_create(&e, &cc).code, 0);
    }
    memset(&q, 0, sizeof(q));
    q.filters = RZ_FILTER_DISTRICT | RZ_FILTER_STATUS;
    strcpy(q.district, "WOLA");
    q.status = RZ_STATUS_ROUTED;
    q.limit = 10;
    do {
        assert_int_equal(rz_storage_read_begin(e.s, &rd), 0);
        assert_int_equal(rz_storage_case_list(rd, &q, ids, NULL, &n, &next), 0);
        rz_storage_read_end(rd);
        for (size_t i = 0; i < n; i++) {
            seen[n_seen++] = ids[i];
        }
        /* Writes between pages: newer cases. */
        assert_int_equal(do_create(&e, &cc).code, 0);
        assert_int_equal(do_create(&e, &cc).code, 0);
        q.cursor = next;
    } while (next != 0);
    assert_int_equal(n_seen, 25);
    for (size_t i = 0; i < n_seen; i++) {
        assert_int_equal(seen[i], 25 - i); /* newest first, no repeats */
    }
    env_destroy(&e);
}

static void test_stats(void **state)
{
    env e;
    enum { N = 80 };
    rz_storage_read *rd;
    uint64_t by_status[RZ_STATUS_COUNT] = {0};
    uint64_t by_channel[RZ_CHANNEL_COUNT] = {0};
    uint64_t count;
    rz_buf out;
    (void)state;
    env_init(&e);
    load_small_catalog(&e);
    populate(&e, N, 99);
    assert_int_equal(rz_storage_read_begin(e.s, &rd), 0);
    for (uint64_t id = 1; id <= N; id++) {
        rz_case c;
        assert_int_equal(rz_storage_case_get(rd, id, &c), 0);
        by_status[c.status]++;
        by_channel[c.channel]++;
    }
    for (int s = 0; s < RZ_STATUS_COUNT; s++) {
        assert_int_equal(
            rz_storage_stat_get(rd, RZ_STAT_STATUS, NULL, (uint64_t)s, &count),
            0);
        assert_int_equal(count, by_status[s]);
    }
    for (int ch = 0; ch < RZ_CHANNEL_COUNT; ch++) {
        assert_int_equal(rz_storage_stat_get(rd, RZ_STAT_CHANNEL, NULL,
                                             (uint64_t)ch, &count),
                         0);
        assert_int_equal(count, by_channel[ch]);
    }
    /* String dimensions and per-day counts against list queries. */
    for (int i = 0; i < 3; i++) {
        rz_list_query q;
        uint64_t ids[RZ_LIST_PAGE_MAX];
        size_t n;
        uint64_t next;
        memset(&q, 0, sizeof(q));
        q.filters = RZ_FILTER_DISTRICT;
        strcpy(q.district, districts[i]);
        q.limit = RZ_LIST_PAGE_MAX;
        assert_int_equal(rz_storage_case_list(rd, &q, ids, NULL, &n, &next), 0);
        assert_int_equal(
            rz_storage_stat_get(rd, RZ_STAT_DISTRICT, districts[i], 0, &count),
            0);
        assert_int_equal(count, n);
        memset(&q, 0, sizeof(q));
        q.filters = RZ_FILTER_UNIT;
        strcpy(q.unit_id, units[i]);
        q.limit = RZ_LIST_PAGE_MAX;
        assert_int_equal(rz_storage_case_list(rd, &q, ids, NULL, &n, &next), 0);
        assert_int_equal(
            rz_storage_stat_get(rd, RZ_STAT_UNIT, units[i], 0, &count), 0);
        assert_int_equal(count, n);
    }
    {
        uint64_t total = 0;
        uint32_t first = (uint32_t)(1700000000000ull / 86400000ull);
        for (uint32_t d = first; d < first + 60; d++) {
            assert_int_equal(
                rz_storage_stat_get(rd, RZ_STAT_CREATED_DAY, NULL, d, &count),
                0);
            total += count;
        }
        assert_int_equal(total, N);
    }
    /* Open cases per district and closings per day, from the records. */
    {
        uint64_t open[3] = {0, 0, 0};
        uint64_t closings = 0, counted = 0;
        uint32_t first = (uint32_t)(1700000000000ull / 86400000ull);
        rz_event ev[16];
        for (uint64_t id = 1; id <= N; id++) {
            rz_case c;
            size_t n = 0;
            assert_int_equal(rz_storage_case_get(rd, id, &c), 0);
            for (int i = 0; i < 3; i++) {
                if (strcmp(c.district, districts[i]) == 0 &&
                    c.status != RZ_STATUS_RESOLVED &&
                    c.status != RZ_STATUS_CLOSED) {
                    open[i]++;
                }
            }
            assert_int_equal(rz_storage_case_history(rd, id, 0, ev, 16, &n), 0);
            for (size_t k = 0; k < n; k++) {
                closings += ev[k].type == RZ_EV_STATUS_CHANGED &&
                            ev[k].status_to == RZ_STATUS_CLOSED;
            }
        }
        for (int i = 0; i < 3; i++) {
            assert_int_equal(rz_storage_stat_get(rd, RZ_STAT_OPEN_DISTRICT,
                                                 districts[i], 0, &count),
                             0);
            assert_int_equal(count, open[i]);
        }
        for (uint32_t d = first; d < first + 60; d++) {
            assert_int_equal(
                rz_storage_stat_get(rd, RZ_STAT_CLOSED_DAY, NULL, d, &count),
                0);
            counted += count;
        }
        assert_true(closings > 0);
        assert_int_equal(counted, closings);
    }
    rz_buf_init(&out, 1 << 20);
    assert_int_equal(rz_storage_stats_encode(rd, &out), 0);
    assert_int_equal(rz_mp_validate(out.data, out.len, 1, NULL), 0);
    rz_buf_reset(&out);
    assert_int_equal(rz_storage_catalog_encode(rd, &out), 0);
    assert_int_equal(rz_mp_validate(out.data, out.len, 1, NULL), 0);
    {
        /* [districts, units, services, rules] of the small catalog. */
        static const uint32_t expect[4] = {2, 3, 3, 3};
        rz_mp_dec d;
        uint32_t n = 0;
        rz_mp_dec_init(&d, out.data, out.len);
        assert_int_equal(rz_mp_get_array(&d, &n), 0);
        assert_int_equal(n, 4);
        for (int t = 0; t < 4; t++) {
            uint32_t items = 0;
            assert_int_equal(rz_mp_get_array(&d, &items), 0);
            assert_int_equal(items, expect[t]);
            for (uint32_t i = 0; i < items; i++) {
                uint32_t fields = 0;
                const char *code;
                uint32_t len;
                assert_int_equal(rz_mp_get_array(&d, &fields), 0);
                assert_int_equal(fields, t == 2 ? 4u : t == 3 ? 3u : 2u);
                assert_int_equal(rz_mp_get_str(&d, &code, &len, 64), 0);
                for (uint32_t f = 1; f < fields; f++) {
                    assert_int_equal(rz_mp_skip(&d), 0);
                }
            }
        }
        assert_true(rz_mp_done(&d));
    }
    rz_buf_close(&out);
    rz_storage_read_end(rd);
    env_destroy(&e);
}

static void test_feed(void **state)
{
    env e;
    rz_event *all = calloc(2000, sizeof(rz_event));
    rz_event *page = calloc(7, sizeof(rz_event));
    size_t n_all = 0;
    rz_feed_pos pos = {1, 0};
    rz_storage_read *rd;
    uint64_t events_total = 0;
    (void)state;
    assert_non_null(all);
    assert_non_null(page);
    env_init(&e);
    load_small_catalog(&e);
    populate(&e, 40, 5);
    assert_int_equal(do_merge(&e, 3, 0, 4).code, 0); /* two events, one rev */
    assert_int_equal(rz_storage_read_begin(e.s, &rd), 0);
    for (int i = 0; i < 1000; i++) {
        size_t n = 0;
        assert_int_equal(rz_storage_feed(rd, &pos, page, 7, &n), 0);
        for (size_t k = 0; k < n; k++) {
            assert_true(n_all < 2000);
            all[n_all++] = page[k];
        }
        if (n < 7) {
            break;
        }
    }
    for (uint64_t id = 1; id <= 40; id++) {
        rz_case c;
        assert_int_equal(rz_storage_case_get(rd, id, &c), 0);
        events_total += c.n_events;
    }
    assert_int_equal(n_all, events_total);
    for (size_t i = 1; i < n_all; i++) {
        assert_true(all[i - 1].revision <= all[i].revision);
    }
    /* Each feed event is the same as in its case's history. */
    for (size_t i = 0; i < n_all; i++) {
        rz_event h;
        size_t n = 0;
        assert_int_equal(
            rz_storage_case_history(rd, all[i].case_id, all[i].seq, &h, 1, &n),
            0);
        assert_int_equal(n, 1);
        assert_int_equal(h.revision, all[i].revision);
        assert_int_equal(h.type, all[i].type);
    }
    /* Resuming from the middle of a revision. */
    {
        rz_feed_pos p = {e.index, 0};
        size_t n = 0;
        assert_int_equal(rz_storage_feed(rd, &p, page, 1, &n), 0);
        assert_int_equal(n, 1);
        assert_int_equal(page[0].type, RZ_EV_MERGED);
        assert_int_equal(rz_storage_feed(rd, &p, page, 7, &n), 0);
        assert_int_equal(n, 1);
        assert_int_equal(page[0].type, RZ_EV_MERGED);
        assert_int_equal(rz_storage_feed(rd, &p, page, 7, &n), 0);
        assert_int_equal(n, 0);
    }
    rz_storage_read_end(rd);
    free(all);
    free(page);
    env_destroy(&e);
}

/* ---- Catalog seed
 * ------------------------------------------------------------- */

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *p;
    long n;
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    assert_true(n > 0);
    rewind(f);
    p = malloc((size_t)n);
    assert_non_null(p);
    assert_int_equal(fread(p, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return p;
}

static void test_seed_warsaw(void **state)
{
    env e;
    size_t len, n_cmds = 0;
    char *text = read_file(RZ_SOURCE_DIR "/data/warsaw.tsv", &len);
    rz_buf cmds[8];
    char err[RZ_ERRMSG_BYTES] = "";
    rz_storage_read *rd;
    char name[RZ_NAME_MAX_BYTES + 1];
    char unit[RZ_CODE_MAX_BYTES + 1];
    static const char *const d18[] = {
        "BEMOWO",      "BIALOLEKA",      "BIELANY",      "MOKOTOW",
        "OCHOTA",      "PRAGA-POLUDNIE", "PRAGA-POLNOC", "REMBERTOW",
        "SRODMIESCIE", "TARGOWEK",       "URSUS",        "URSYNOW",
        "WAWER",       "WESOLA",         "WILANOW",      "WLOCHY",
        "WOLA",        "ZOLIBORZ"};
    rz_case_create cc;
    rz_result r;
    rz_case c;
    uint8_t sum1[32], sum2[32];
    (void)state;
    for (int i = 0; i < 8; i++) {
        rz_buf_init(&cmds[i], RZ_COMMAND_MAX_BYTES);
    }
    env_init(&e);
    assert_int_equal(
        rz_catalog_seed_encode(text, len, e.now_ms, cmds, 8, &n_cmds, err), 0);
    assert_true(n_cmds >= 1);
    for (size_t i = 0; i < n_cmds; i++) {
        assert_true(cmds[i].len <= RZ_COMMAND_MAX_BYTES);
        assert_int_equal(apply_buf(&e, &cmds[i]).code, 0);
    }
    data_checksum(&e, sum1);
    /* Loading the same file again is deduplicated by request id. */
    for (size_t i = 0; i < n_cmds; i++) {
        assert_int_equal(apply_buf(&e, &cmds[i]).code, 0);
    }
    data_checksum(&e, sum2);
    assert_memory_equal(sum1, sum2, 32);
    assert_int_equal(rz_storage_read_begin(e.s, &rd), 0);
    for (size_t i = 0; i < RZ_ARRAY_LEN(d18); i++) {
        char ud[RZ_CODE_MAX_BYTES + 1];
        assert_int_equal(rz_storage_district_get(rd, d18[i], name), 0);
        snprintf(ud, sizeof(ud), "UD-%s", d18[i]);
        assert_int_equal(rz_storage_unit_get(rd, ud, name), 0);
        assert_int_equal(rz_storage_rule_get(rd, "SIDEWALK", d18[i], unit), 0);
        assert_string_equal(unit, ud);
        assert_int_equal(rz_storage_rule_get(rd, "ROAD_POTHOLE", d18[i], unit),
                         0);
        assert_string_equal(unit, "ZDM");
    }
    assert_int_equal(rz_storage_rule_get(rd, "WASTE_BIN", "WESOLA", unit), 0);
    assert_string_equal(unit, "UD-WESOLA");
    assert_int_equal(rz_storage_rule_get(rd, "WASTE_BIN", "WOLA", unit), 0);
    assert_string_equal(unit, "MPO");
    assert_int_equal(rz_storage_rule_get(rd, "OTHER", "WOLA", unit),
                     RZ_ENOTFOUND);
    assert_int_equal(rz_storage_unit_get(rd, "SM", name), 0);
    assert_int_equal(rz_storage_unit_get(rd, "ZTM", name), 0);
    assert_int_equal(rz_storage_unit_get(rd, "ZZW", name), 0);
    rz_storage_read_end(rd);
    cc = sample_create("GRAFFITI", "PRAGA-POLNOC");
    r = do_create(&e, &cc);
    assert_int_equal(r.code, 0);
    get_case(&e, r.case_id, &c);
    assert_int_equal(c.status, RZ_STATUS_ROUTED);
    assert_string_equal(c.unit_id, "UD-PRAGA-POLNOC");
    /* Bad seed lines are refused with their line number. */
    {
        static const char *const bad[] = {
            "district\tX\n",
            "unit\tA B\tName\n",
            "service\tS\tINCIDENTAL\t3\tName\n",
            "service\tS\tINCIDENT\tmany\tName\n",
            "rule\tS\tX\n",
            "street\tX\tY\n",
            "district\tX\tok\nunit\tU\t\n",
            "rule\tS\t*\tU\n",
            "district\tX\tName\t\n",
        };
        for (size_t i = 0; i < RZ_ARRAY_LEN(bad); i++) {
            size_t n = 0;
            rz_buf_reset(&cmds[0]);
            err[0] = 0;
            assert_int_equal(rz_catalog_seed_encode(bad[i], strlen(bad[i]), 1,
                                                    cmds, 8, &n, err),
                             RZ_EINVAL);
            assert_non_null(strstr(err, "line "));
        }
    }
    for (int i = 0; i < 8; i++) {
        rz_buf_close(&cmds[i]);
    }
    free(text);
    env_destroy(&e);
}

/* ---- Checksums and copies
 * ----------------------------------------------------- */

static void test_copy_and_install(void **state)
{
    env e, f;
    uint8_t sum1[32], sum2[32];
    uint64_t idx = 0, idx2 = 0;
    char copy[128];
    char garbage[128];
    int fd;
    (void)state;
    env_init(&e);
    env_close(&e);
    e.durable = true; /* copies of an env with the production flags */
    env_open(&e);
    load_small_catalog(&e);
    populate(&e, 30, 3);
    checksum_of(&e, sum1);
    env_init(&f);
    snprintf(copy, sizeof(copy), "%s/copy.mdb", f.dir);
    fd = open(copy, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(rz_storage_copy_to_fd(e.s, fd, &idx), 0);
    close(fd);
    assert_int_equal(idx, e.index);
    assert_int_equal(rz_storage_sync(e.s), 0);
    env_close(&f);
    /* Something that is not an env is refused and changes nothing. */
    snprintf(garbage, sizeof(garbage), "%s/garbage", f.dir);
    fd = open(garbage, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_int_equal(write(fd, "not lmdb at all", 15), 15);
    close(fd);
    assert_int_equal(rz_storage_install_copy(f.dir, garbage), RZ_ECORRUPT);
    unlink(garbage);
    assert_int_equal(rz_storage_install_copy(f.dir, copy), 0);
    env_open(&f);
    assert_int_equal(rz_storage_checksum(f.s, sum2, &idx2), 0);
    assert_int_equal(idx2, idx);
    assert_memory_equal(sum1, sum2, 32);
    assert_int_equal(rz_storage_checksum_scan(f.s, false, sum2, NULL), 0);
    assert_memory_equal(sum1, sum2, 32);
    /* The copy carries on exactly like the original. */
    {
        rz_case_create cc = sample_create("NOISE", "MOKOTOW");
        f.index = e.index;
        f.now_ms = e.now_ms;
        f.rid_counter = e.rid_counter;
        assert_int_equal(do_create(&e, &cc).code, 0);
        assert_int_equal(do_create(&f, &cc).code, 0);
        checksum_of(&e, sum1);
        checksum_of(&f, sum2);
        assert_memory_equal(sum1, sum2, 32);
    }
    env_destroy(&f);
    env_destroy(&e);
}

static void test_number_year(void **state)
{
    env e;
    rz_case_create cc = sample_create("OTHER", "UNKNOWN");
    (void)state;
    env_init(&e);
    e.now_ms = 1546300799999ull; /* 2018-12-31T23:59:59.999Z */
    assert_string_equal(do_create(&e, &cc).number, "1/18");
    e.now_ms = 1546300800000ull; /* 2019-01-01T00:00:00Z */
    assert_string_equal(do_create(&e, &cc).number, "2/19");
    e.now_ms = 1709251199000ull; /* 2024-02-29T23:59:59Z */
    assert_string_equal(do_create(&e, &cc).number, "3/24");
    e.now_ms = 4102444800000ull; /* 2100-01-01T00:00:00Z */
    assert_string_equal(do_create(&e, &cc).number, "4/00");
    env_destroy(&e);
}

/* A full map is a failure of the node: the batch is undone, the state and
 * its checksum stay consistent, and applying resumes once there is room. */
static void test_map_full(void **state)
{
    env e;
    rz_storage_options small = {.map_size_bytes = 1u << 20,
                                .unsafe_no_sync = true};
    rz_storage_options big = {.map_size_bytes = 64u << 20,
                              .unsafe_no_sync = true};
    rz_case_create cc = sample_create("ROAD_POTHOLE", "WOLA");
    rz_buf cmd, out;
    uint8_t sum[32];
    int rv = 0;
    int i;
    (void)state;
    env_init(&e);
    env_close(&e);
    assert_int_equal(rz_storage_open(e.dir, &small, &e.s, NULL), 0);
    {
        /* A fresh env uses a few pages of its map. */
        rz_storage_space sp;
        assert_int_equal(rz_storage_space_get(e.s, &sp), 0);
        assert_true(sp.used_bytes > 0);
        assert_true(sp.used_bytes * 10u < sp.map_bytes);
    }
    load_small_catalog(&e);
    rz_buf_init(&cmd, RZ_COMMAND_MAX_BYTES);
    rz_buf_init(&out, 1024);
    for (i = 0; i < 100000 && rv == 0; i++) {
        rz_buf_reset(&cmd);
        rz_buf_reset(&out);
        rz_cmd_create_encode(&cmd, NULL, e.now_ms, &cc);
        rv = rz_storage_apply(e.s, e.index + 1, cmd.data, cmd.len, &out);
        if (rv == 0) {
            e.index++;
        }
    }
    assert_int_equal(rv, RZ_ENOSPACE);
    assert_int_equal(out.len, 0);
    assert_int_equal(rz_storage_applied_index(e.s), e.index);
    {
        /* A full map reports nearly all of it used (the disk alarm's
         * input). */
        rz_storage_space sp;
        assert_int_equal(rz_storage_space_get(e.s, &sp), 0);
        assert_int_equal(sp.map_bytes, 1u << 20);
        assert_true(sp.used_bytes <= sp.file_bytes);
        assert_true(sp.file_bytes <= sp.map_bytes);
        assert_true(sp.used_bytes * 10u >= sp.map_bytes * 8u);
    }
    checksum_of(&e, sum);
    env_close(&e);
    assert_int_equal(rz_storage_open(e.dir, &big, &e.s, NULL), 0);
    assert_int_equal(rz_storage_applied_index(e.s), e.index);
    assert_int_equal(
        rz_storage_apply(e.s, e.index + 1, cmd.data, cmd.len, &out), 0);
    e.index++;
    {
        rz_result r;
        assert_int_equal(rz_result_decode(out.data, out.len, &r), 0);
        assert_int_equal(r.code, 0);
        assert_int_equal(r.case_id, (uint64_t)i);
    }
    checksum_of(&e, sum);
    rz_buf_close(&cmd);
    rz_buf_close(&out);
    env_destroy(&e);
}

static void test_names(void **state)
{
    rz_status s;
    rz_channel ch;
    rz_kind k;
    (void)state;
    for (int i = 0; i < RZ_STATUS_COUNT; i++) {
        assert_int_equal(rz_status_parse(rz_status_name(i), &s), 0);
        assert_int_equal(s, i);
    }
    for (int i = 0; i < RZ_CHANNEL_COUNT; i++) {
        assert_int_equal(rz_channel_parse(rz_channel_name(i), &ch), 0);
        assert_int_equal(ch, i);
    }
    for (int i = 0; i < RZ_KIND_COUNT; i++) {
        assert_int_equal(rz_kind_parse(rz_kind_name(i), &k), 0);
        assert_int_equal(k, i);
    }
    for (int i = 0; i < RZ_EV_COUNT; i++) {
        assert_non_null(rz_event_type_name(i));
    }
    assert_null(rz_status_name(RZ_STATUS_COUNT));
    assert_int_equal(rz_status_parse("DONE", &s), RZ_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_number_year),
        cmocka_unit_test(test_create_routes_by_rule),
        cmocka_unit_test(test_create_rejections),
        cmocka_unit_test(test_create_with_reporter),
        cmocka_unit_test(test_status_rejections),
        cmocka_unit_test(test_lifecycle_every_pair),
        cmocka_unit_test(test_assign_comment_notify),
        cmocka_unit_test(test_merge),
        cmocka_unit_test(test_erase_reporter),
        cmocka_unit_test(test_catalog_rejections),
        cmocka_unit_test(test_noop_and_malformed),
        cmocka_unit_test(test_skip_and_dedup),
        cmocka_unit_test(test_results_pruned),
        cmocka_unit_test(test_batch),
        cmocka_unit_test(test_list_matches_brute_force),
        cmocka_unit_test(test_list_cursor_while_writing),
        cmocka_unit_test(test_stats),
        cmocka_unit_test(test_feed),
        cmocka_unit_test(test_seed_warsaw),
        cmocka_unit_test(test_copy_and_install),
        cmocka_unit_test(test_map_full),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
