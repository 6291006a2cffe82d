/* Helpers shared by the storage tests: temporary state dirs, applying
 * commands with increasing indexes and reading results back. Each test
 * file includes this once. */
#ifndef RZ_TEST_STORAGE_HELPERS_H
#define RZ_TEST_STORAGE_HELPERS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/common.h"
#include "storage/storage.h"

typedef struct env
{
    char dir[64];
    rz_storage *s;
    uint64_t index; /* last index applied through apply_cmd */
    uint64_t now_ms;
    uint32_t rid_counter;
    uint32_t results_kept; /* 0 = storage's default */
    bool durable;          /* the production flags; else no fsync (fast) */
} env;

static void env_rm(const char *dir)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/state.mdb", dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/state.mdb-lock", dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/copy.mdb", dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/raw.mdb", dir);
    unlink(path);
    snprintf(path, sizeof(path), "%s/raw.mdb-lock", dir);
    unlink(path);
    rmdir(dir);
}

static void env_open(env *e)
{
    char err[RZ_ERRMSG_BYTES] = "";
    rz_storage_options o = {.map_size_bytes = 256u << 20,
                            .results_kept = e->results_kept,
                            .unsafe_no_sync = !e->durable};
    int rv = rz_storage_open(e->dir, &o, &e->s, err);
    if (rv != 0) {
        fail_msg("open %s: %s (%s)", e->dir, rz_errname(rv), err);
    }
}

static void env_init(env *e)
{
    memset(e, 0, sizeof(*e));
    snprintf(e->dir, sizeof(e->dir), "/tmp/rz-storage-XXXXXX");
    assert_non_null(mkdtemp(e->dir));
    e->now_ms = 1700000000000ull; /* 2023-11-14 */
    env_open(e);
}

static void env_close(env *e)
{
    rz_storage_close(e->s);
    e->s = NULL;
}

static inline void env_destroy(env *e)
{
    env_close(e);
    env_rm(e->dir);
}

static void next_rid(env *e, uint8_t rid[16])
{
    memset(rid, 0, 16);
    e->rid_counter++;
    rz_put_be32(rid, e->rid_counter);
    rid[15] = 0x5a;
}

/* Applies cmd at the next index and decodes its result. */
static rz_result apply_buf(env *e, const rz_buf *cmd)
{
    rz_buf out;
    rz_result r;
    int rv;
    assert_int_equal(cmd->err, 0);
    rz_buf_init(&out, 4096);
    e->index++;
    rv = rz_storage_apply(e->s, e->index, cmd->data, cmd->len, &out);
    if (rv != 0) {
        fail_msg("apply at %llu failed: %s", (unsigned long long)e->index,
                 rz_errname(rv));
    }
    assert_int_equal(rz_result_decode(out.data, out.len, &r), 0);
    rz_buf_close(&out);
    return r;
}

static const rz_actor agent = {RZ_ACTOR_AGENT, 7};

/* A minimal valid create. */
static inline rz_case_create sample_create(const char *service,
                                           const char *district)
{
    rz_case_create c;
    memset(&c, 0, sizeof(c));
    c.kind = RZ_KIND_INCIDENT;
    c.channel = RZ_CHANNEL_PHONE;
    c.priority = 1;
    c.service_code = service;
    c.district = district;
    c.description = "Dziura w jezdni przed numerem 5";
    c.street = "Marszałkowska";
    c.house_no = "5";
    c.lat = 52.2297;
    c.lon = 21.0122;
    c.notify = true;
    c.actor = agent;
    return c;
}

static inline rz_result do_create(env *e, const rz_case_create *c)
{
    rz_buf b;
    rz_result r;
    uint8_t rid[16];
    next_rid(e, rid);
    rz_buf_init(&b, RZ_COMMAND_MAX_BYTES * 2);
    assert_int_equal(rz_cmd_create_encode(&b, rid, e->now_ms, c), 0);
    r = apply_buf(e, &b);
    rz_buf_close(&b);
    return r;
}

/* A small catalog: two districts, three units, three services, rules. */
static inline void load_small_catalog(env *e)
{
    rz_catalog_item items[] = {
        {.type = RZ_CAT_DISTRICT, .code = "MOKOTOW", .name = "Mokotów"},
        {.type = RZ_CAT_DISTRICT, .code = "WOLA", .name = "Wola"},
        {.type = RZ_CAT_UNIT, .code = "ZDM", .name = "Roads"},
        {.type = RZ_CAT_UNIT, .code = "SM", .name = "City guard"},
        {.type = RZ_CAT_UNIT, .code = "ZZW", .name = "Greenery"},
        {.type = RZ_CAT_SERVICE,
         .code = "ROAD_POTHOLE",
         .name = "Pothole",
         .kind = RZ_KIND_INCIDENT,
         .sla_hours = 72},
        {.type = RZ_CAT_SERVICE,
         .code = "NOISE",
         .name = "Noise",
         .kind = RZ_KIND_INCIDENT,
         .sla_hours = 2},
        {.type = RZ_CAT_SERVICE,
         .code = "TREE",
         .name = "Tree",
         .kind = RZ_KIND_INCIDENT,
         .sla_hours = 0},
        {.type = RZ_CAT_RULE,
         .code = "ROAD_POTHOLE",
         .district = "MOKOTOW",
         .unit_id = "ZDM"},
        {.type = RZ_CAT_RULE,
         .code = "ROAD_POTHOLE",
         .district = "WOLA",
         .unit_id = "ZDM"},
        {.type = RZ_CAT_RULE,
         .code = "NOISE",
         .district = "MOKOTOW",
         .unit_id = "SM"},
    };
    rz_buf b;
    rz_result r;
    uint8_t rid[16];
    next_rid(e, rid);
    rz_buf_init(&b, RZ_COMMAND_MAX_BYTES);
    assert_int_equal(
        rz_cmd_catalog_encode(&b, rid, e->now_ms, items, RZ_ARRAY_LEN(items)),
        0);
    r = apply_buf(e, &b);
    assert_int_equal(r.code, 0);
    rz_buf_close(&b);
}

static inline void get_case(env *e, uint64_t id, rz_case *c)
{
    rz_storage_read *rd;
    assert_int_equal(rz_storage_read_begin(e->s, &rd), 0);
    assert_int_equal(rz_storage_case_get(rd, id, c), 0);
    rz_storage_read_end(rd);
}

static inline void checksum_of(env *e, uint8_t out[32])
{
    uint8_t scan[32];
    uint64_t a = 0, b = 0;
    assert_int_equal(rz_storage_checksum(e->s, out, &a), 0);
    assert_int_equal(rz_storage_checksum_scan(e->s, false, scan, &b), 0);
    assert_int_equal(a, b);
    assert_memory_equal(out, scan, 32);
}

#endif /* RZ_TEST_STORAGE_HELPERS_H */
