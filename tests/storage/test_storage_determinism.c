/* Determinism and robustness of storage/: the same random command stream
 * gives the same checksums in fresh envs, in batches or one by one, and
 * with the process dropped and the env reopened at random points
 * (skip-on-replay); malformed command bytes change nothing; corrupted
 * stored records give RZ_ECORRUPT, never a crash. Seeds are printed. */
#include "helpers.h"

#include <lmdb.h>

typedef struct gen
{
    uint64_t x;
    uint64_t now_ms;
    uint64_t n_cases; /* rough upper bound of case ids */
} gen;

static uint64_t rnd(gen *g)
{
    /* xorshift64* */
    g->x ^= g->x >> 12;
    g->x ^= g->x << 25;
    g->x ^= g->x >> 27;
    return g->x * 2685821657736338717ull;
}

static uint32_t below(gen *g, uint32_t n)
{
    return (uint32_t)(rnd(g) % n);
}

static const char *pick(gen *g, const char *const *a, size_t n)
{
    return a[below(g, (uint32_t)n)];
}

#define PICK(g, a) pick((g), (a), RZ_ARRAY_LEN(a))

static const char *const services[] = {"ROAD_POTHOLE", "NOISE", "TREE", "OTHER",
                                       "BAD"};
static const char *const districts[] = {"MOKOTOW", "WOLA", "UNKNOWN",
                                        "NOWHERE"};
static const char *const units[] = {"ZDM", "SM", "ZZW", "NOPE"};
static const char *const texts[] = {NULL, "", "ok", "Zażółć gęślą jaźń",
                                    "bad \xff utf8"};

/* One random command: mostly valid, some rejected, a few malformed. */
static void gen_cmd(gen *g, rz_buf *out)
{
    uint8_t rid[16];
    const uint8_t *ridp = NULL;
    uint32_t what = below(g, 100);
    /* Half the commands hit a few early cases, so that those travel deep
     * into the lifecycle; the rest are spread over all (and past) ids. */
    uint64_t id = below(g, 2) == 0 ? 1 + below(g, 30)
                                   : 1 + below(g, (uint32_t)g->n_cases + 2);
    uint32_t ev = below(g, 4) == 0 ? below(g, 6) : 0;
    rz_actor actor = {(uint8_t)below(g, RZ_ACTOR_COUNT), rnd(g) % 100};
    if (below(g, 10) < 7) {
        for (int i = 0; i < 16; i++) {
            rid[i] = (uint8_t)rnd(g);
        }
        rid[0] |= 1;
        ridp = rid;
    }
    /* Log time: mostly forward, sometimes a skewed clock behind, rarely a
     * jump past the dedup retention window. */
    g->now_ms += below(g, 5000);
    if (below(g, 50) == 0) {
        g->now_ms -= below(g, 3000);
    }
    if (below(g, 400) == 0) {
        g->now_ms += RZ_DEDUP_RETENTION_MS;
    }
    if (what < 28) {
        rz_case_create c = sample_create(PICK(g, services), PICK(g, districts));
        rz_reporter rep = {"Jan", "+48 1", NULL, "Prosta 1"};
        c.channel = (uint8_t)below(g, RZ_CHANNEL_COUNT + 1);
        c.kind = (uint8_t)below(g, RZ_KIND_COUNT);
        c.description = below(g, 20) == 0 ? "bad \xc0 utf8" : "opis";
        if (below(g, 5) == 0) {
            c.reporter = &rep;
        } else if (below(g, 5) == 0) {
            c.reporter_id = 1 + below(g, 5);
        }
        rz_cmd_create_encode(out, ridp, g->now_ms, &c);
        g->n_cases++;
    } else if (what < 48) {
        /* Moves weighted towards the working part of the lifecycle. */
        static const uint8_t tos[] = {
            RZ_STATUS_IN_PROGRESS, RZ_STATUS_IN_PROGRESS, RZ_STATUS_IN_PROGRESS,
            RZ_STATUS_ON_HOLD,     RZ_STATUS_ON_HOLD,     RZ_STATUS_RESOLVED,
            RZ_STATUS_RESOLVED,    RZ_STATUS_CLOSED,      RZ_STATUS_TRIAGE,
            RZ_STATUS_NEW,         RZ_STATUS_ROUTED,      RZ_STATUS_COUNT};
        rz_cmd_status_encode(out, ridp, g->now_ms, id, ev,
                             tos[below(g, RZ_ARRAY_LEN(tos))], PICK(g, texts),
                             actor);
    } else if (what < 60) {
        rz_cmd_route_encode(out, ridp, g->now_ms, id, ev, PICK(g, units),
                            PICK(g, texts), actor);
    } else if (what < 64) {
        rz_cmd_reopen_encode(out, ridp, g->now_ms, id, ev, PICK(g, texts),
                             actor);
    } else if (what < 69) {
        rz_cmd_assign_encode(out, ridp, g->now_ms, id, ev, rnd(g) % 50, actor);
    } else if (what < 77) {
        rz_cmd_comment_encode(out, ridp, g->now_ms, id, below(g, 2) == 0,
                              PICK(g, texts), actor);
    } else if (what < 80) {
        /* Merged cases accept nothing more: merge mostly later ones. */
        rz_cmd_merge_encode(out, ridp, g->now_ms,
                            1 + below(g, (uint32_t)g->n_cases + 2), ev,
                            1 + below(g, (uint32_t)g->n_cases + 2), actor);
    } else if (what < 85) {
        rz_cmd_notify_encode(out, ridp, g->now_ms, id,
                             (uint8_t)below(g, RZ_CHANNEL_COUNT + 1),
                             PICK(g, texts), actor);
    } else if (what < 87) {
        rz_cmd_erase_reporter_encode(out, ridp, g->now_ms, 1 + below(g, 6),
                                     actor);
    } else if (what < 90) {
        rz_catalog_item it[2] = {
            {.type = RZ_CAT_UNIT, .code = PICK(g, units), .name = "Unit"},
            {.type = RZ_CAT_RULE,
             .code = PICK(g, services),
             .district = PICK(g, districts),
             .unit_id = PICK(g, units)},
        };
        rz_cmd_catalog_encode(out, ridp, g->now_ms, it, 1 + below(g, 2));
    } else if (what < 94) {
        rz_cmd_noop_encode(out, ridp, g->now_ms);
    } else {
        uint32_t n = below(g, 40);
        for (uint32_t i = 0; i < n; i++) {
            uint8_t byte = (uint8_t)rnd(g);
            rz_buf_append(out, &byte, 1);
        }
    }
    assert_int_equal(out->err, 0);
}

/* The seed of a test: its default, or RZ_STORAGE_SEED from the environment
 * to explore others (a failing seed is printed and re-runs exactly). */
static uint64_t seed_or(uint64_t dflt)
{
    const char *s = getenv("RZ_STORAGE_SEED");
    return s != NULL && s[0] != 0 ? strtoull(s, NULL, 0) : dflt;
}

/* The catalog every stream starts from (index 1). */
static void start(env *e)
{
    e->now_ms = 1700000000000ull;
    load_small_catalog(e);
}

typedef struct stream
{
    size_t n;
    rz_buf *cmds;    /* cmds[i] is applied at index i + 2 */
    rz_buf *results; /* from the reference run */
} stream;

static void stream_make(stream *st, size_t n, uint64_t seed)
{
    gen g = {seed | 1, 1700000000000ull, 0};
    st->n = n;
    st->cmds = calloc(n, sizeof(rz_buf));
    st->results = calloc(n, sizeof(rz_buf));
    assert_non_null(st->cmds);
    assert_non_null(st->results);
    for (size_t i = 0; i < n; i++) {
        rz_buf_init(&st->cmds[i], RZ_COMMAND_MAX_BYTES);
        rz_buf_init(&st->results[i], 1024);
        gen_cmd(&g, &st->cmds[i]);
    }
}

static void stream_free(stream *st)
{
    for (size_t i = 0; i < st->n; i++) {
        rz_buf_close(&st->cmds[i]);
        rz_buf_close(&st->results[i]);
    }
    free(st->cmds);
    free(st->results);
}

/* Applies entries [from, to) of the stream in one batch. */
static void apply_range(env *e, const stream *st, size_t from, size_t to,
                        rz_buf *results)
{
    rz_storage_entry en[64];
    RZ_ASSERT(to - from <= 64);
    for (size_t i = from; i < to; i++) {
        en[i - from] =
            (rz_storage_entry){i + 2, st->cmds[i].data, st->cmds[i].len};
        rz_buf_reset(&results[i - from]);
    }
    assert_int_equal(rz_storage_apply_batch(e->s, en, to - from, results), 0);
}

static void test_same_stream_same_checksum(void **state)
{
    const uint64_t seed = seed_or(0x5eed0001u);
    const size_t N = 3000;
    stream st;
    env a, b, c;
    gen g = {seed * 7 + 1, 0, 0};
    rz_buf res[64];
    uint8_t(*sums)[32];
    uint8_t sa[32], sb[32], sc[32];
    (void)state;
    print_message("seed %#llx\n", (unsigned long long)seed);
    sums = calloc(N, 32);
    assert_non_null(sums);
    for (int i = 0; i < 64; i++) {
        rz_buf_init(&res[i], 1024);
    }
    stream_make(&st, N, seed);
    env_init(&a);
    env_init(&b);
    env_init(&c);
    /* Keep few results, so that pruning runs inside the stream too (every
     * replica must use the same value). */
    for (env *e = &a; e != NULL; e = e == &a ? &b : e == &b ? &c : NULL) {
        env_close(e);
        e->results_kept = 500;
        /* A runs with the production flags; B and C skip fsync to keep
         * the test fast (the flag changes nothing that is applied). */
        e->durable = e == &a;
        env_open(e);
    }
    start(&a);
    start(&b);
    start(&c);

    /* A: random batches; its results and checksums are the reference. */
    for (size_t i = 0; i < N;) {
        size_t k = 1 + below(&g, 64);
        if (i + k > N) {
            k = N - i;
        }
        apply_range(&a, &st, i, i + k, res);
        for (size_t j = 0; j < k; j++) {
            rz_buf_append(&st.results[i + j], res[j].data, res[j].len);
        }
        i += k;
        assert_int_equal(rz_storage_checksum(a.s, sums[i - 1], NULL), 0);
    }

    /* B: one command per txn; same result bytes and checksum at every
     * index where A committed. */
    for (size_t i = 0; i < N; i++) {
        uint8_t sum[32];
        static const uint8_t zero[32];
        apply_range(&b, &st, i, i + 1, res);
        assert_int_equal(res[0].len, st.results[i].len);
        assert_memory_equal(res[0].data, st.results[i].data, res[0].len);
        if (memcmp(sums[i], zero, 32) != 0) {
            assert_int_equal(rz_storage_checksum(b.s, sum, NULL), 0);
            assert_memory_equal(sum, sums[i], 32);
        }
    }

    /* C: batches, with the process state dropped at random points: close,
     * reopen, replay a random stretch already applied (skipped, stored
     * results returned), carry on. */
    for (size_t i = 0; i < N;) {
        size_t k = 1 + below(&g, 32);
        if (i + k > N) {
            k = N - i;
        }
        apply_range(&c, &st, i, i + k, res);
        i += k;
        if (below(&g, 8) == 0) {
            size_t back = below(&g, 40);
            size_t from = back > i ? 0 : i - back;
            env_close(&c);
            env_open(&c);
            assert_int_equal(rz_storage_applied_index(c.s), i + 1);
            while (from < i) {
                size_t kk = 1 + below(&g, 16);
                if (from + kk > i) {
                    kk = i - from;
                }
                apply_range(&c, &st, from, from + kk, res);
                for (size_t j = 0; j < kk; j++) {
                    assert_int_equal(res[j].len, st.results[from + j].len);
                    assert_memory_equal(res[j].data, st.results[from + j].data,
                                        res[j].len);
                }
                from += kk;
            }
            assert_int_equal(rz_storage_applied_index(c.s), i + 1);
        }
    }

    checksum_of(&a, sa);
    checksum_of(&b, sb);
    checksum_of(&c, sc);
    assert_memory_equal(sa, sb, 32);
    assert_memory_equal(sa, sc, 32);
    assert_memory_equal(sa, sums[N - 1], 32);
    {
        /* The stream did real work: cases of every status exist. */
        rz_storage_read *rd;
        uint64_t total = 0, count;
        assert_int_equal(rz_storage_read_begin(a.s, &rd), 0);
        for (int s = 0; s < RZ_STATUS_COUNT; s++) {
            assert_int_equal(rz_storage_stat_get(rd, RZ_STAT_STATUS, NULL,
                                                 (uint64_t)s, &count),
                             0);
            print_message("%s: %llu\n", rz_status_name(s),
                          (unsigned long long)count);
            assert_true(count > 0);
            total += count;
        }
        rz_storage_read_end(rd);
        print_message("%llu cases\n", (unsigned long long)total);
        assert_true(total > 200);
    }
    env_destroy(&a);
    env_destroy(&b);
    env_destroy(&c);
    stream_free(&st);
    for (int i = 0; i < 64; i++) {
        rz_buf_close(&res[i]);
    }
    free(sums);
}

/* ---- Malformed bytes ---------------------------------------------------- */

static void test_malformed_stream_changes_nothing(void **state)
{
    const uint64_t seed = seed_or(0xbadc0deu);
    stream st;
    env e;
    gen g = {seed, 1700000000000ull, 50};
    uint8_t before[32], after[32];
    rz_buf cmd;
    rz_buf res[1];
    (void)state;
    print_message("seed %#llx\n", (unsigned long long)seed);
    stream_make(&st, 400, seed + 1);
    env_init(&e);
    start(&e);
    rz_buf_init(&res[0], 1024);
    for (size_t i = 0; i < st.n; i++) {
        apply_range(&e, &st, i, i + 1, res);
    }
    e.index = st.n + 1;
    assert_int_equal(rz_storage_applied_index(e.s), e.index);
    assert_int_equal(rz_storage_checksum_scan(e.s, true, before, NULL), 0);
    rz_buf_init(&cmd, RZ_COMMAND_MAX_BYTES * 2);
    for (int i = 0; i < 3000; i++) {
        rz_result r;
        uint32_t kind = below(&g, 3);
        rz_buf_reset(&cmd);
        if (kind == 0) {
            /* Random bytes. */
            uint32_t n = below(&g, 200);
            for (uint32_t k = 0; k < n; k++) {
                uint8_t byte = (uint8_t)rnd(&g);
                rz_buf_append(&cmd, &byte, 1);
            }
        } else if (kind == 1) {
            /* A truncated valid command. */
            const rz_buf *src = &st.cmds[below(&g, (uint32_t)st.n)];
            if (src->len < 2) {
                continue;
            }
            rz_buf_append(&cmd, src->data, below(&g, (uint32_t)src->len));
        } else {
            /* A valid header with a body of random scalars. */
            uint32_t n = below(&g, 16);
            uint32_t type = below(&g, 11);
            if (type == 0 && n == 0) {
                n = 1;
            }
            rz_mp_put_array(&cmd, 4);
            rz_mp_put_uint(&cmd, type);
            rz_mp_put_bin(&cmd, "0123456789abcdef", 16);
            rz_mp_put_uint(&cmd, g.now_ms);
            rz_mp_put_array(&cmd, n);
            for (uint32_t k = 0; k < n; k++) {
                switch (below(&g, 6)) {
                case 0:
                    rz_mp_put_nil(&cmd);
                    break;
                case 1:
                    rz_mp_put_bool(&cmd, true);
                    break;
                case 2:
                    rz_mp_put_uint(&cmd, rnd(&g));
                    break;
                case 3:
                    rz_mp_put_int(&cmd, -1 - (int64_t)below(&g, 1000));
                    break;
                case 4:
                    rz_mp_put_cstr(&cmd, "x y");
                    break;
                default:
                    rz_mp_put_array(&cmd, 0);
                    break;
                }
            }
        }
        r = apply_buf(&e, &cmd);
        if (r.code == 0) {
            fail_msg("malformed command %d (kind %u) was accepted", i, kind);
        }
        if (i % 500 == 0) {
            assert_int_equal(rz_storage_checksum_scan(e.s, true, after, NULL),
                             0);
            assert_memory_equal(before, after, 32);
        }
    }
    assert_int_equal(rz_storage_checksum_scan(e.s, true, after, NULL), 0);
    assert_memory_equal(before, after, 32);
    checksum_of(&e, after); /* and the incremental one still agrees */
    rz_buf_close(&cmd);
    rz_buf_close(&res[0]);
    stream_free(&st);
    env_destroy(&e);
}

/* ---- Corrupted records ----------------------------------------------------
 */

/* Direct access to state.mdb while no rz_storage has it open. */
typedef struct raw
{
    MDB_env *env;
    MDB_txn *txn;
} raw;

static MDB_dbi raw_open(raw *r, const char *dir, const char *table)
{
    char path[128];
    MDB_dbi dbi;
    snprintf(path, sizeof(path), "%s/state.mdb", dir);
    assert_int_equal(mdb_env_create(&r->env), 0);
    assert_int_equal(mdb_env_set_maxdbs(r->env, 32), 0);
    assert_int_equal(mdb_env_set_mapsize(r->env, 256u << 20), 0);
    assert_int_equal(mdb_env_open(r->env, path, MDB_NOSUBDIR, 0600), 0);
    assert_int_equal(mdb_txn_begin(r->env, NULL, 0, &r->txn), 0);
    assert_int_equal(mdb_dbi_open(r->txn, table, 0, &dbi), 0);
    return dbi;
}

static void raw_close(raw *r)
{
    assert_int_equal(mdb_txn_commit(r->txn), 0);
    mdb_env_close(r->env);
}

/* Replaces the value of key in table with p[0..n). */
static void poke(const char *dir, const char *table, const void *k, size_t kl,
                 const void *p, size_t n)
{
    raw r;
    MDB_dbi dbi = raw_open(&r, dir, table);
    MDB_val key = {kl, (void *)k};
    MDB_val val = {n, (void *)p};
    assert_int_equal(mdb_put(r.txn, dbi, &key, &val, 0), 0);
    raw_close(&r);
}

/* Copies the value of key in table into out (at most cap bytes). */
static size_t peek(const char *dir, const char *table, const void *k, size_t kl,
                   uint8_t *out, size_t cap)
{
    raw r;
    MDB_dbi dbi = raw_open(&r, dir, table);
    MDB_val key = {kl, (void *)k};
    MDB_val val;
    assert_int_equal(mdb_get(r.txn, dbi, &key, &val), 0);
    assert_true(val.mv_size <= cap);
    memcpy(out, val.mv_data, val.mv_size);
    raw_close(&r);
    return val.mv_size;
}

static void test_corrupt_records(void **state)
{
    env e;
    rz_case_create cc = sample_create("ROAD_POTHOLE", "WOLA");
    uint8_t k[12];
    uint8_t orig[8192], bad[8192];
    size_t n;
    rz_storage_read *rd;
    rz_case c;
    rz_event ev[8];
    size_t nev;
    rz_list_query q;
    uint64_t ids[16], next, count;
    rz_feed_pos pos = {1, 0};
    rz_buf cmd, out;
    gen g = {0xc0ffee, 0, 0};
    int outcomes[2] = {0, 0};
    char err[RZ_ERRMSG_BYTES];
    rz_case *cases = calloc(4, sizeof(rz_case));
    (void)state;
    assert_non_null(cases);
    print_message("seed %#llx\n", (unsigned long long)g.x);
    env_init(&e);
    load_small_catalog(&e);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(do_create(&e, &cc).code, 0);
    }
    env_close(&e);

    /* A case record that is not msgpack. */
    rz_put_be64(k, 1);
    n = peek(e.dir, "cases", k, 8, orig, sizeof(orig));
    memcpy(bad, orig, n);
    bad[0] = 0xc1;
    poke(e.dir, "cases", k, 8, bad, n);
    /* An event record with the wrong number of fields. */
    rz_put_be64(k, 2);
    rz_put_be32(k + 8, 0);
    n = peek(e.dir, "events", k, 12, bad, sizeof(bad));
    bad[0] = 0x93;
    poke(e.dir, "events", k, 12, bad, n);
    /* A counter of the wrong size. */
    {
        uint8_t sk[9] = {RZ_STAT_STATUS};
        rz_put_be64(sk + 1, RZ_STATUS_ROUTED);
        poke(e.dir, "stats", sk, 9, "abc", 3);
    }
    /* An index entry whose case does not exist. */
    {
        uint8_t ik[10] = {'s', RZ_STATUS_NEW};
        rz_put_be64(ik + 2, ~(uint64_t)3);
        poke(e.dir, "idx", ik, 10, "", 0);
    }

    env_open(&e);
    assert_int_equal(rz_storage_read_begin(e.s, &rd), 0);
    assert_int_equal(rz_storage_case_get(rd, 1, &c), RZ_ECORRUPT);
    assert_int_equal(rz_storage_case_get(rd, 3, &c), 0);
    assert_int_equal(rz_storage_case_history(rd, 2, 0, ev, 8, &nev),
                     RZ_ECORRUPT);
    assert_int_equal(rz_storage_case_history(rd, 3, 0, ev, 8, &nev), 0);
    assert_int_equal(rz_storage_feed(rd, &pos, ev, 8, &nev), RZ_ECORRUPT);
    assert_int_equal(
        rz_storage_stat_get(rd, RZ_STAT_STATUS, NULL, RZ_STATUS_ROUTED, &count),
        RZ_ECORRUPT);
    memset(&q, 0, sizeof(q));
    q.filters = RZ_FILTER_STATUS;
    q.status = RZ_STATUS_NEW;
    q.limit = 4;
    /* Index-only pages cannot see it; pages with their cases can. */
    assert_int_equal(rz_storage_case_list(rd, &q, ids, cases, &n, &next),
                     RZ_ECORRUPT);
    q.status = RZ_STATUS_ROUTED;
    q.filters |= RZ_FILTER_CHANNEL; /* needs the records */
    assert_int_equal(rz_storage_case_list(rd, &q, ids, NULL, &n, &next),
                     RZ_ECORRUPT);
    rz_storage_read_end(rd);

    /* Apply on a corrupt case is a failure of the node, not a rejection:
     * nothing is applied, the index does not move. */
    rz_buf_init(&cmd, 1024);
    rz_buf_init(&out, 1024);
    rz_cmd_status_encode(&cmd, NULL, e.now_ms, 1, 0, RZ_STATUS_IN_PROGRESS,
                         NULL, agent);
    assert_int_equal(
        rz_storage_apply(e.s, e.index + 1, cmd.data, cmd.len, &out),
        RZ_ECORRUPT);
    assert_int_equal(out.len, 0);
    assert_int_equal(rz_storage_applied_index(e.s), e.index);
    /* A create counts ROUTED in the corrupt counter: also a failure. */
    rz_buf_reset(&cmd);
    rz_cmd_create_encode(&cmd, NULL, e.now_ms, &cc);
    assert_int_equal(
        rz_storage_apply(e.s, e.index + 1, cmd.data, cmd.len, &out),
        RZ_ECORRUPT);
    assert_int_equal(rz_storage_applied_index(e.s), e.index);
    /* A failure in the middle of a batch undoes the whole batch and leaves
     * the callers' result buffers as they were. */
    {
        rz_buf cmds[3], res[3];
        rz_storage_entry en[3];
        uint8_t before[32], after[32];
        /* (Incremental only: the pokes above changed records behind its
         * back, which a scan would show.) */
        assert_int_equal(rz_storage_checksum(e.s, before, NULL), 0);
        assert_int_equal(rz_storage_checksum_scan(e.s, false, after, NULL), 0);
        assert_memory_not_equal(before, after, 32);
        for (int i = 0; i < 3; i++) {
            rz_buf_init(&cmds[i], 1024);
            rz_buf_init(&res[i], 1024);
            rz_buf_append(&res[i], "x", 1);
        }
        rz_cmd_comment_encode(&cmds[0], NULL, e.now_ms, 3, true, "fine", agent);
        rz_cmd_status_encode(&cmds[1], NULL, e.now_ms, 1, 0,
                             RZ_STATUS_IN_PROGRESS, NULL, agent);
        rz_cmd_noop_encode(&cmds[2], NULL, e.now_ms);
        for (int i = 0; i < 3; i++) {
            en[i] = (rz_storage_entry){e.index + 1 + (uint64_t)i, cmds[i].data,
                                       cmds[i].len};
        }
        assert_int_equal(rz_storage_apply_batch(e.s, en, 3, res), RZ_ECORRUPT);
        assert_int_equal(rz_storage_applied_index(e.s), e.index);
        assert_int_equal(rz_storage_checksum(e.s, after, NULL), 0);
        assert_memory_equal(before, after, 32);
        for (int i = 0; i < 3; i++) {
            assert_int_equal(res[i].len, 1);
            rz_buf_close(&cmds[i]);
            rz_buf_close(&res[i]);
        }
    }
    env_close(&e);

    /* Random bit flips in a case record: a clean error or a valid case,
     * never a crash (the sanitizer build checks the reads). */
    rz_put_be64(k, 4);
    n = peek(e.dir, "cases", k, 8, orig, sizeof(orig));
    for (int i = 0; i < 150; i++) {
        int rv;
        memcpy(bad, orig, n);
        for (uint32_t f = 1 + below(&g, 3); f > 0; f--) {
            uint32_t bit = below(&g, (uint32_t)n * 8);
            bad[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        }
        poke(e.dir, "cases", k, 8, bad, n);
        env_open(&e);
        assert_int_equal(rz_storage_read_begin(e.s, &rd), 0);
        rv = rz_storage_case_get(rd, 4, &c);
        rz_storage_read_end(rd);
        assert_true(rv == 0 || rv == RZ_ECORRUPT);
        outcomes[rv == 0 ? 0 : 1]++;
        env_close(&e);
    }
    print_message("bit flips: %d decoded, %d corrupt\n", outcomes[0],
                  outcomes[1]);
    assert_true(outcomes[1] > 0);

    /* A corrupt meta record: open refuses with a sentence. */
    poke(e.dir, "meta", "state", 5, "\x96\x01", 2);
    err[0] = 0;
    assert_int_equal(rz_storage_open(e.dir, NULL, &e.s, err), RZ_ECORRUPT);
    assert_non_null(strstr(err, "corrupt"));
    e.s = NULL;
    /* A state file that is not LMDB at all. */
    {
        char path[128];
        FILE *f;
        char junk[8192];
        snprintf(path, sizeof(path), "%s/state.mdb", e.dir);
        f = fopen(path, "wb");
        assert_non_null(f);
        for (size_t i = 0; i < sizeof(junk); i++) {
            junk[i] = (char)rnd(&g);
        }
        assert_int_equal(fwrite(junk, 1, sizeof(junk), f), sizeof(junk));
        fclose(f);
        err[0] = 0;
        assert_int_equal(rz_storage_open(e.dir, NULL, &e.s, err), RZ_ECORRUPT);
        assert_true(err[0] != 0);
        e.s = NULL;
    }
    rz_buf_close(&cmd);
    rz_buf_close(&out);
    free(cases);
    env_rm(e.dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_stream_same_checksum),
        cmocka_unit_test(test_malformed_stream_changes_nothing),
        cmocka_unit_test(test_corrupt_records),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
