/* ratusz-bench storage: the state machine on synthetic Warsaw-like data.
 *
 * Loads the Warsaw catalog seed, applies N case creates (channels,
 * districts and services in realistic proportions) and a stream of status
 * changes, both in batches of 256 commands per txn, then measures gets and
 * list pages (district + status, 50 per page) on the full store, and the
 * baseline: plain mdb_put of 1 KiB values under sequential 8-byte keys in
 * batches of 256 per txn, in an env opened with state.mdb's flags. Prints
 * one JSON object as the last line of stdout. */
#include "bench.h"

#include "common/common.h"
#include "storage/storage.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef RZ_BENCH_SEED_PATH
#define RZ_BENCH_SEED_PATH "data/warsaw.tsv"
#endif

#define BATCH 256u
#define MAP_SIZE_BYTES (32ull << 30)

typedef struct weighted
{
    const char *code;
    uint32_t weight;
} weighted;

/* Districts weighted by population (thousands, rounded). */
static const weighted districts[] = {
    {"MOKOTOW", 220},  {"PRAGA-POLUDNIE", 180}, {"URSYNOW", 150},
    {"WOLA", 140},     {"BIELANY", 130},        {"BIALOLEKA", 130},
    {"TARGOWEK", 125}, {"BEMOWO", 120},         {"SRODMIESCIE", 100},
    {"WAWER", 80},     {"OCHOTA", 80},          {"PRAGA-POLNOC", 65},
    {"URSUS", 60},     {"ZOLIBORZ", 50},        {"WILANOW", 45},
    {"WLOCHY", 45},    {"REMBERTOW", 25},       {"WESOLA", 25},
    {"UNKNOWN", 10},
};

/* Services roughly as a city help desk sees them: parking, roads, waste
 * and noise dominate. */
static const weighted services[] = {
    {"ILLEGAL_PARKING", 300},
    {"ROAD_POTHOLE", 120},
    {"WASTE_NOT_COLLECTED", 110},
    {"NOISE", 90},
    {"STREET_LIGHT", 60},
    {"SNOW_SIDEWALK", 50},
    {"ABANDONED_VEHICLE", 45},
    {"PT_INFO", 40},
    {"WASTE_BIN", 40},
    {"TREE_FALLEN", 30},
    {"ILLEGAL_DUMPING", 30},
    {"SIDEWALK", 25},
    {"TRAFFIC_LIGHT", 20},
    {"BUS_STOP", 20},
    {"GRAFFITI", 15},
    {"ANIMAL", 15},
    {"WATER_LEAK", 12},
    {"PT_DELAY", 12},
    {"DISTRICT_INFO", 12},
    {"OTHER", 40},
    {"STAFF_COMPLAINT", 5},
};

/* Channels as Warsaw reported them (DESIGN.md: 430k phone, 28k web, 17k
 * app, 4k e-mail, 3k chat, 5 fax of 514k; the rest internal/walk-in). */
static const weighted channels[] = {
    {"PHONE", 83600}, {"WEB", 5400}, {"MOBILE", 3300},  {"EMAIL", 800},
    {"CHAT", 600},    {"FAX", 1},    {"WALK_IN", 2000}, {"INTERNAL", 4299},
};

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static size_t pick(const weighted *w, size_t n)
{
    uint64_t total = 0, x;
    for (size_t i = 0; i < n; i++) {
        total += w[i].weight;
    }
    x = rnd() % total;
    for (size_t i = 0; i < n; i++) {
        if (x < w[i].weight) {
            return i;
        }
        x -= w[i].weight;
    }
    return n - 1;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

typedef struct bench
{
    rz_storage *s;
    uint64_t index;
    uint64_t now_ms;
    rz_buf cmds[BATCH];
    rz_buf res[BATCH];
    rz_storage_entry en[BATCH];
    uint8_t *status; /* per case, as the results said */
    uint64_t n_cases;
    uint64_t apply_ns;
    uint64_t rejected;
} bench;

/* Applies the n commands in b->cmds at the next indexes, timing only the
 * apply. */
static int run_batch(bench *b, size_t n)
{
    uint64_t t0;
    int rv;
    for (size_t i = 0; i < n; i++) {
        b->en[i] =
            (rz_storage_entry){++b->index, b->cmds[i].data, b->cmds[i].len};
        rz_buf_reset(&b->res[i]);
    }
    t0 = rz_mono_ns();
    rv = rz_storage_apply_batch(b->s, b->en, n, b->res);
    b->apply_ns += rz_mono_ns() - t0;
    if (rv != 0) {
        fprintf(stderr, "bench storage: apply failed: %s\n", rz_strerror(rv));
    }
    return rv;
}

static int load_seed(bench *b, const char *path)
{
    FILE *f = fopen(path, "rb");
    char *text;
    long len;
    size_t n = 0;
    char err[RZ_ERRMSG_BYTES] = "";
    int rv;
    if (f == NULL) {
        fprintf(stderr, "bench storage: cannot open %s: %s\n", path,
                strerror(errno));
        return RZ_EIO;
    }
    fseek(f, 0, SEEK_END);
    len = ftell(f);
    rewind(f);
    text = malloc((size_t)len + 1);
    if (text == NULL || fread(text, 1, (size_t)len, f) != (size_t)len) {
        fclose(f);
        free(text);
        return RZ_EIO;
    }
    fclose(f);
    rv = rz_catalog_seed_encode(text, (size_t)len, b->now_ms, b->cmds, BATCH,
                                &n, err);
    free(text);
    if (rv != 0) {
        fprintf(stderr, "bench storage: %s: %s\n", path, err);
        return rv;
    }
    rv = run_batch(b, n);
    for (size_t i = 0; i < n && rv == 0; i++) {
        rz_result r;
        if (rz_result_decode(b->res[i].data, b->res[i].len, &r) != 0 ||
            r.code != 0) {
            fprintf(stderr, "bench storage: seed command rejected\n");
            rv = RZ_EINVAL;
        }
    }
    return rv;
}

static const char *const descriptions[] = {
    "Samochód zaparkowany na chodniku, blokuje przejście dla pieszych.",
    "Duża dziura w jezdni na prawym pasie, niebezpieczna dla rowerzystów.",
    "Od tygodnia nie odebrano odpadów segregowanych z altany śmietnikowej.",
    "Głośna muzyka z lokalu po godzinie 23, powtarza się co weekend.",
    "Nie świeci latarnia przy przejściu dla pieszych od trzech dni.",
};

static int phase_create(bench *b, uint64_t n_cases)
{
    static const char *const streets[] = {
        "Marszałkowska", "Puławska", "Grochowska", "Górczewska", "Modlińska"};
    for (uint64_t done = 0; done < n_cases;) {
        size_t n = n_cases - done < BATCH ? (size_t)(n_cases - done) : BATCH;
        int rv;
        for (size_t i = 0; i < n; i++) {
            rz_case_create c;
            uint8_t rid[16];
            char house[16];
            memset(&c, 0, sizeof(c));
            rz_channel ch = RZ_CHANNEL_PHONE;
            rz_channel_parse(
                channels[pick(channels, RZ_ARRAY_LEN(channels))].code, &ch);
            c.kind = RZ_KIND_INCIDENT;
            c.channel = (uint8_t)ch;
            c.priority = (uint8_t)(rnd() % 4);
            c.service_code =
                services[pick(services, RZ_ARRAY_LEN(services))].code;
            c.district =
                districts[pick(districts, RZ_ARRAY_LEN(districts))].code;
            c.description = descriptions[rnd() % RZ_ARRAY_LEN(descriptions)];
            c.street = streets[rnd() % RZ_ARRAY_LEN(streets)];
            snprintf(house, sizeof(house), "%u", (unsigned)(1 + rnd() % 200));
            c.house_no = house;
            c.lat = 52.1 + (double)(rnd() % 20000) / 100000.0;
            c.lon = 20.85 + (double)(rnd() % 35000) / 100000.0;
            c.notify = rnd() % 2 == 0;
            c.actor = (rz_actor){RZ_ACTOR_AGENT, 1 + rnd() % 300};
            for (int k = 0; k < 16; k++) {
                rid[k] = (uint8_t)rnd();
            }
            /* ~1,900 cases a day: one every ~45 s of log time. */
            b->now_ms += 45000;
            rz_buf_reset(&b->cmds[i]);
            rz_cmd_create_encode(&b->cmds[i], rid, b->now_ms, &c);
        }
        rv = run_batch(b, n);
        if (rv != 0) {
            return rv;
        }
        for (size_t i = 0; i < n; i++) {
            rz_result r;
            if (rz_result_decode(b->res[i].data, b->res[i].len, &r) != 0 ||
                r.code != 0 || r.case_id != b->n_cases + 1) {
                fprintf(stderr, "bench storage: create rejected: %s\n",
                        rz_errname(r.code));
                return RZ_EINVAL;
            }
            b->n_cases++;
        }
        done += n;
    }
    /* Statuses after create, read back once (routed unless no rule). */
    {
        rz_storage_read *rd;
        rz_case *c = malloc(sizeof(*c));
        int rv = c != NULL ? rz_storage_read_begin(b->s, &rd) : RZ_ENOMEM;
        for (uint64_t id = 1; id <= b->n_cases && rv == 0; id++) {
            rv = rz_storage_case_get(rd, id, c);
            b->status[id] = c->status;
        }
        if (c != NULL && rv == 0) {
            rz_storage_read_end(rd);
        }
        free(c);
        return rv;
    }
}

/* A next status for a case in `from` that the lifecycle allows, along the
 * usual path (in progress, resolved, closed), or -1. */
static int next_status(int from)
{
    switch (from) {
    case RZ_STATUS_NEW:
        return RZ_STATUS_TRIAGE;
    case RZ_STATUS_ROUTED:
        return RZ_STATUS_IN_PROGRESS;
    case RZ_STATUS_IN_PROGRESS:
        return rnd() % 5 == 0 ? RZ_STATUS_ON_HOLD : RZ_STATUS_RESOLVED;
    case RZ_STATUS_ON_HOLD:
        return RZ_STATUS_IN_PROGRESS;
    case RZ_STATUS_RESOLVED:
        return RZ_STATUS_CLOSED;
    default:
        return -1;
    }
}

static int phase_status(bench *b, uint64_t n_changes)
{
    for (uint64_t done = 0; done < n_changes;) {
        size_t n = 0;
        uint64_t ids[BATCH];
        int tos[BATCH];
        int rv;
        /* One change per case per batch keeps the expected statuses
         * exact. */
        while (n < BATCH && done + n < n_changes) {
            uint64_t id = 1 + rnd() % b->n_cases;
            int to = next_status(b->status[id]);
            bool dup = false;
            if (to < 0) {
                continue;
            }
            for (size_t k = 0; k < n; k++) {
                dup = dup || ids[k] == id;
            }
            if (dup) {
                continue;
            }
            b->now_ms += 1000;
            rz_buf_reset(&b->cmds[n]);
            rz_cmd_status_encode(&b->cmds[n], NULL, b->now_ms, id, 0,
                                 (uint8_t)to, NULL,
                                 (rz_actor){RZ_ACTOR_UNIT, 1 + rnd() % 100});
            ids[n] = id;
            tos[n] = to;
            n++;
        }
        rv = run_batch(b, n);
        if (rv != 0) {
            return rv;
        }
        for (size_t i = 0; i < n; i++) {
            rz_result r;
            if (rz_result_decode(b->res[i].data, b->res[i].len, &r) != 0 ||
                r.code != 0) {
                b->rejected++;
                continue;
            }
            b->status[ids[i]] = (uint8_t)tos[i];
        }
        done += n;
    }
    return 0;
}

static int phase_get(bench *b, uint64_t n_gets, double *per_s)
{
    rz_case *c = malloc(sizeof(*c));
    uint64_t t0, ns;
    int rv = 0;
    if (c == NULL) {
        return RZ_ENOMEM;
    }
    t0 = rz_mono_ns();
    for (uint64_t i = 0; i < n_gets && rv == 0; i++) {
        rz_storage_read *rd;
        uint64_t id = 1 + rnd() % b->n_cases;
        rv = rz_storage_read_begin(b->s, &rd);
        if (rv == 0) {
            rv = rz_storage_case_get(rd, id, c);
            rz_storage_read_end(rd);
        }
    }
    ns = rz_mono_ns() - t0;
    free(c);
    *per_s = (double)n_gets * 1e9 / (double)ns;
    return rv;
}

static int phase_list(bench *b, uint32_t n_queries, double *p50_ms,
                      double *p99_ms, double *mean_page)
{
    uint64_t *lat = calloc(n_queries, sizeof(uint64_t));
    rz_case *cases = calloc(50, sizeof(rz_case));
    uint64_t ids[50];
    uint64_t total = 0;
    int rv = 0;
    if (lat == NULL || cases == NULL) {
        free(lat);
        free(cases);
        return RZ_ENOMEM;
    }
    for (uint32_t i = 0; i < n_queries && rv == 0; i++) {
        static const uint8_t sts[] = {RZ_STATUS_ROUTED, RZ_STATUS_IN_PROGRESS,
                                      RZ_STATUS_CLOSED, RZ_STATUS_RESOLVED,
                                      RZ_STATUS_NEW,    RZ_STATUS_ON_HOLD};
        rz_list_query q;
        rz_storage_read *rd;
        size_t n = 0;
        uint64_t next = 0, t0;
        memset(&q, 0, sizeof(q));
        q.filters = RZ_FILTER_DISTRICT | RZ_FILTER_STATUS;
        snprintf(q.district, sizeof(q.district), "%s",
                 districts[rnd() % RZ_ARRAY_LEN(districts)].code);
        q.status = sts[rnd() % RZ_ARRAY_LEN(sts)];
        q.limit = 50;
        /* Half the queries continue from a cursor deep in the list. */
        if (rnd() % 2 == 0) {
            q.cursor = 1 + rnd() % b->n_cases;
        }
        t0 = rz_mono_ns();
        rv = rz_storage_read_begin(b->s, &rd);
        if (rv == 0) {
            rv = rz_storage_case_list(rd, &q, ids, cases, &n, &next);
            rz_storage_read_end(rd);
        }
        lat[i] = rz_mono_ns() - t0;
        total += n;
    }
    qsort(lat, n_queries, sizeof(uint64_t), cmp_u64);
    *p50_ms = (double)lat[n_queries / 2] / 1e6;
    *p99_ms = (double)lat[(size_t)((double)n_queries * 0.99)] / 1e6;
    *mean_page = (double)total / n_queries;
    free(lat);
    free(cases);
    return rv;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: ratusz-bench storage [--cases N] [--changes N] [--gets N]\n"
            "                            [--lists N] [--raw N] [--dir DIR]\n"
            "                            [--seed-file PATH]\n"
            "  defaults: 1000000 cases, 300000 status changes, 300000 gets,\n"
            "  2000 list pages, 1000000 raw puts, a fresh dir under /tmp.\n");
}

static void rm_env(const char *dir, const char *name)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    unlink(path);
    snprintf(path, sizeof(path), "%s/%s-lock", dir, name);
    unlink(path);
}

int rz_bench_storage(int argc, char **argv)
{
    uint64_t n_cases = 1000000, n_changes = 300000, n_gets = 300000,
             n_raw = 1000000;
    uint32_t n_lists = 2000;
    const char *seed_path = RZ_BENCH_SEED_PATH;
    char dir[256] = "";
    bool own_dir = false;
    rz_storage_options opts = {.map_size_bytes = MAP_SIZE_BYTES};
    char err[RZ_ERRMSG_BYTES] = "";
    bench *b;
    double create_per_s = 0, change_per_s = 0, get_per_s = 0, raw_per_s = 0;
    double p50 = 0, p99 = 0, mean_page = 0;
    uint64_t raw_ns = 0;
    int rv;

    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(argv[i], "--help") == 0) {
            usage();
            return 0;
        }
        if (v == NULL) {
            usage();
            return 2;
        }
        if (strcmp(argv[i], "--cases") == 0) {
            n_cases = strtoull(v, NULL, 10);
        } else if (strcmp(argv[i], "--changes") == 0) {
            n_changes = strtoull(v, NULL, 10);
        } else if (strcmp(argv[i], "--gets") == 0) {
            n_gets = strtoull(v, NULL, 10);
        } else if (strcmp(argv[i], "--lists") == 0) {
            n_lists = (uint32_t)strtoul(v, NULL, 10);
        } else if (strcmp(argv[i], "--raw") == 0) {
            n_raw = strtoull(v, NULL, 10);
        } else if (strcmp(argv[i], "--dir") == 0) {
            snprintf(dir, sizeof(dir), "%s", v);
        } else if (strcmp(argv[i], "--seed-file") == 0) {
            seed_path = v;
        } else {
            usage();
            return 2;
        }
        i++;
    }
    if (n_cases == 0 || n_gets == 0 || n_lists == 0 || n_raw == 0) {
        usage();
        return 2;
    }
    if (dir[0] == 0) {
        snprintf(dir, sizeof(dir), "/tmp/rz-bench-storage-XXXXXX");
        if (mkdtemp(dir) == NULL) {
            perror("mkdtemp");
            return 1;
        }
        own_dir = true;
    }
    b = calloc(1, sizeof(*b));
    if (b == NULL) {
        return 1;
    }
    b->status = calloc(n_cases + 1, 1);
    b->now_ms = 1735689600000ull; /* 2025-01-01 */
    for (size_t i = 0; i < BATCH; i++) {
        rz_buf_init(&b->cmds[i], RZ_COMMAND_MAX_BYTES);
        rz_buf_init(&b->res[i], 1024);
    }
    rv = b->status != NULL ? 0 : RZ_ENOMEM;
    if (rv == 0) {
        rv = rz_storage_open(dir, &opts, &b->s, err);
        if (rv != 0) {
            fprintf(stderr, "bench storage: %s\n", err);
        }
    }
    if (rv == 0) {
        rv = load_seed(b, seed_path);
    }
    if (rv == 0) {
        fprintf(stderr, "bench storage: creating %llu cases in %s\n",
                (unsigned long long)n_cases, dir);
        b->apply_ns = 0;
        rv = phase_create(b, n_cases);
        create_per_s = (double)n_cases * 1e9 / (double)b->apply_ns;
        fprintf(stderr, "  create: %.0f/s\n", create_per_s);
    }
    if (rv == 0) {
        b->apply_ns = 0;
        rv = phase_status(b, n_changes);
        change_per_s = (double)n_changes * 1e9 / (double)b->apply_ns;
        fprintf(stderr, "  status change: %.0f/s (%llu rejected)\n",
                change_per_s, (unsigned long long)b->rejected);
        if (rv == 0 && b->rejected != 0) {
            rv = RZ_EINVAL; /* the bench's model of the lifecycle is wrong */
        }
    }
    if (rv == 0) {
        rv = phase_get(b, n_gets, &get_per_s);
        fprintf(stderr, "  get: %.0f/s\n", get_per_s);
    }
    if (rv == 0) {
        rv = phase_list(b, n_lists, &p50, &p99, &mean_page);
        fprintf(stderr, "  list: p50 %.3f ms, p99 %.3f ms, %.1f cases/page\n",
                p50, p99, mean_page);
    }
    rz_storage_close(b->s);
    if (rv == 0) {
        fprintf(stderr, "bench storage: %llu raw puts of 1 KiB\n",
                (unsigned long long)n_raw);
        rv = rz_storage_bench_raw_put(dir, MAP_SIZE_BYTES, n_raw, 1024, BATCH,
                                      &raw_ns);
        raw_per_s = (double)n_raw * 1e9 / (double)raw_ns;
        fprintf(stderr, "  raw put: %.0f/s\n", raw_per_s);
    }
    if (own_dir) {
        rm_env(dir, "state.mdb");
        rm_env(dir, "raw.mdb");
        rmdir(dir);
    }
    for (size_t i = 0; i < BATCH; i++) {
        rz_buf_close(&b->cmds[i]);
        rz_buf_close(&b->res[i]);
    }
    free(b->status);
    free(b);
    if (rv != 0) {
        fprintf(stderr, "bench storage: failed: %s\n", rz_strerror(rv));
        return 1;
    }
    printf("{\"bench\":\"storage\",\"cases\":%llu,\"create_per_s\":%.0f,"
           "\"status_change_per_s\":%.0f,\"get_per_s\":%.0f,"
           "\"list_p50_ms\":%.3f,\"list_p99_ms\":%.3f,\"raw_put_per_s\":%.0f,"
           "\"create_ratio\":%.3f}\n",
           (unsigned long long)n_cases, create_per_s, change_per_s, get_per_s,
           p50, p99, raw_per_s, create_per_s / raw_per_s);
    return 0;
}
