/* Unit tests of the synchronous raft log store (consensus/logstore.c):
 * append, get, truncate, term and vote, snapshot descriptors, reopen,
 * corruption detection and a full map. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <lmdb.h>

#include "helpers.h"

#define MAX_BATCH 64

typedef struct fx
{
    char dir[128];
    rz_logstore *ls;
    char errmsg[RZ_ERRMSG_BYTES];
} fx;

/* Appends entries [first, first+n) with `term` and the test payloads. */
static int append_range(rz_logstore *ls, uint64_t first, size_t n,
                        uint64_t term)
{
    static uint8_t bufs[MAX_BATCH][600];
    rz_log_entry e[MAX_BATCH];
    assert_true(n <= MAX_BATCH);
    for (size_t i = 0; i < n; i++) {
        size_t len = payload_len(first + i);
        payload_fill(bufs[i], len, first + i, term);
        e[i] = (rz_log_entry){term, 1, bufs[i], len};
    }
    return rz_logstore_append(ls, first, e, n);
}

static void check_range(rz_logstore *ls, uint64_t first, uint64_t last,
                        uint64_t term)
{
    for (uint64_t i = first; i <= last; i++) {
        rz_log_entry e;
        assert_int_equal(rz_logstore_get(ls, i, &e), 0);
        assert_true(payload_ok(&e, i, term));
        assert_int_equal(e.type, 1);
    }
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    tdir_make(f->dir, "logstore");
    assert_int_equal(rz_logstore_open(f->dir, NULL, &f->ls, f->errmsg), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    rz_logstore_close(f->ls);
    tdir_remove(f->dir);
    free(f);
    return 0;
}

static void reopen(fx *f)
{
    rz_logstore_close(f->ls);
    f->ls = NULL;
    assert_int_equal(rz_logstore_open(f->dir, NULL, &f->ls, f->errmsg), 0);
}

static void test_empty_load(void **state)
{
    fx *f = *state;
    rz_log_state st;
    rz_log_entry e;
    assert_int_equal(rz_logstore_load(f->ls, &st), 0);
    assert_int_equal(st.term, 0);
    assert_int_equal(st.voted_for, 0);
    assert_false(st.has_snapshot);
    assert_int_equal(st.last_index, 0);
    assert_int_equal(st.first_index, 1);
    assert_int_equal(rz_logstore_get(f->ls, 1, &e), RZ_ENOTFOUND);
    assert_int_equal(rz_logstore_get(f->ls, 0, &e), RZ_ENOTFOUND);
}

static void test_append_get_reopen(void **state)
{
    fx *f = *state;
    rz_log_state st;
    assert_int_equal(append_range(f->ls, 1, 10, 1), 0);
    assert_int_equal(append_range(f->ls, 11, 40, 2), 0);
    check_range(f->ls, 1, 10, 1);
    check_range(f->ls, 11, 50, 2);
    reopen(f);
    assert_int_equal(rz_logstore_load(f->ls, &st), 0);
    assert_int_equal(st.first_index, 1);
    assert_int_equal(st.last_index, 50);
    check_range(f->ls, 1, 10, 1);
    check_range(f->ls, 11, 50, 2);
    rz_log_entry e;
    assert_int_equal(rz_logstore_get(f->ls, 51, &e), RZ_ENOTFOUND);
}

static void test_append_rules(void **state)
{
    fx *f = *state;
    rz_log_state st;
    uint8_t b[8] = {0};
    rz_log_entry bad_type = {1, 9, b, sizeof b};
    rz_log_entry bad_term = {0, 1, b, sizeof b};
    /* A gap, a rewrite and bad entries are refused and change nothing. */
    assert_int_equal(append_range(f->ls, 2, 1, 1), RZ_EINVAL);
    assert_int_equal(append_range(f->ls, 1, 3, 1), 0);
    assert_int_equal(append_range(f->ls, 3, 1, 1), RZ_EINVAL);
    assert_int_equal(append_range(f->ls, 5, 1, 1), RZ_EINVAL);
    assert_int_equal(rz_logstore_append(f->ls, 4, &bad_type, 1), RZ_EINVAL);
    assert_int_equal(rz_logstore_append(f->ls, 4, &bad_term, 1), RZ_EINVAL);
    assert_true(strlen(rz_logstore_errmsg(f->ls)) > 0);
    assert_int_equal(rz_logstore_load(f->ls, &st), 0);
    assert_int_equal(st.last_index, 3);
    check_range(f->ls, 1, 3, 1);
    /* Spans must chain. */
    uint8_t p[8];
    rz_log_entry e = {1, 1, p, sizeof p};
    rz_log_span spans[2] = {{4, &e, 1}, {6, &e, 1}};
    assert_int_equal(rz_logstore_append_spans(f->ls, spans, 2), RZ_EINVAL);
    spans[1].first_index = 5;
    assert_int_equal(rz_logstore_append_spans(f->ls, spans, 2), 0);
    assert_int_equal(rz_logstore_load(f->ls, &st), 0);
    assert_int_equal(st.last_index, 5);
}

static void test_truncate(void **state)
{
    fx *f = *state;
    rz_log_state st;
    assert_int_equal(append_range(f->ls, 1, 20, 1), 0);
    assert_int_equal(rz_logstore_truncate(f->ls, 15), 0);
    assert_int_equal(rz_logstore_load(f->ls, &st), 0);
    assert_int_equal(st.last_index, 14);
    rz_log_entry e;
    assert_int_equal(rz_logstore_get(f->ls, 15, &e), RZ_ENOTFOUND);
    /* Truncating past the end is a no-op; the next append continues. */
    assert_int_equal(rz_logstore_truncate(f->ls, 100), 0);
    assert_int_equal(append_range(f->ls, 15, 5, 3), 0);
    check_range(f->ls, 1, 14, 1);
    check_range(f->ls, 15, 19, 3);
    reopen(f);
    assert_int_equal(rz_logstore_load(f->ls, &st), 0);
    assert_int_equal(st.last_index, 19);
    check_range(f->ls, 15, 19, 3);
    /* Truncate everything: the log restarts at 1. */
    assert_int_equal(rz_logstore_truncate(f->ls, 1), 0);
    assert_int_equal(rz_logstore_load(f->ls, &st), 0);
    assert_int_equal(st.last_index, 0);
    assert_int_equal(st.first_index, 1);
    assert_int_equal(append_range(f->ls, 1, 2, 4), 0);
    check_range(f->ls, 1, 2, 4);
    assert_int_equal(rz_logstore_truncate(f->ls, 0), RZ_EINVAL);
}

static void test_term_vote(void **state)
{
    fx *f = *state;
    rz_log_state st;
    assert_int_equal(rz_logstore_set_term(f->ls, 3), 0);
    assert_int_equal(rz_logstore_set_vote(f->ls, 7), 0);
    reopen(f);
    assert_int_equal(rz_logstore_load(f->ls, &st), 0);
    assert_int_equal(st.term, 3);
    assert_int_equal(st.voted_for, 7);
    /* A new term clears the vote, durably. */
    assert_int_equal(rz_logstore_set_term(f->ls, 4), 0);
    reopen(f);
    assert_int_equal(rz_logstore_load(f->ls, &st), 0);
    assert_int_equal(st.term, 4);
    assert_int_equal(st.voted_for, 0);
    assert_int_equal(rz_logstore_set_term(f->ls, 2), RZ_EINVAL);
    assert_int_equal(rz_logstore_load(f->ls, &st), 0);
    assert_int_equal(st.term, 4);
}

static rz_log_snapshot make_snap(uint64_t index, uint64_t term)
{
    static const char conf[] = "configuration-bytes";
    rz_log_snapshot s;
    memset(&s, 0, sizeof s);
    s.index = index;
    s.term = term;
    s.conf_index = 1;
    s.conf = conf;
    s.conf_len = sizeof conf;
    s.state_index = index - 3; /* the last entries were not commands */
    for (int i = 0; i < 32; i++) {
        s.checksum[i] = (uint8_t)(index + (uint64_t)i);
    }
    return s;
}

static void test_snapshot_trailing(void **state)
{
    fx *f = *state;
    rz_log_state st;
    assert_int_equal(append_range(f->ls, 1, 50, 2), 0);
    rz_log_snapshot s = make_snap(40, 2);
    assert_int_equal(rz_logstore_snapshot_put(f->ls, &s, 10), 0);
    reopen(f);
    assert_int_equal(rz_logstore_load(f->ls, &st), 0);
    assert_true(st.has_snapshot);
    assert_int_equal(st.snapshot.index, 40);
    assert_int_equal(st.snapshot.term, 2);
    assert_int_equal(st.snapshot.conf_index, 1);
    assert_int_equal(st.snapshot.conf_len, s.conf_len);
    assert_memory_equal(st.snapshot.conf, s.conf, s.conf_len);
    assert_memory_equal(st.snapshot.checksum, s.checksum, 32);
    assert_int_equal(st.snapshot.state_index, 37);
    assert_int_equal(st.first_index, 31);
    assert_int_equal(st.last_index, 50);
    rz_log_entry e;
    assert_int_equal(rz_logstore_get(f->ls, 30, &e), RZ_ENOTFOUND);
    check_range(f->ls, 31, 50, 2);
    assert_int_equal(append_range(f->ls, 51, 5, 2), 0);
    check_range(f->ls, 51, 55, 2);
    /* A trailing window larger than the log deletes nothing. */
    s = make_snap(55, 2);
    assert_int_equal(rz_logstore_snapshot_put(f->ls, &s, 1000), 0);
    assert_int_equal(rz_logstore_load(f->ls, &st), 0);
    assert_int_equal(st.first_index, 31);
    assert_int_equal(st.snapshot.index, 55);
}

static void test_snapshot_replace(void **state)
{
    fx *f = *state;
    rz_log_state st;
    assert_int_equal(append_range(f->ls, 1, 20, 1), 0);
    /* Trailing 0: an installed snapshot replaces the whole log, even one
     * that runs past it. */
    rz_log_snapshot s = make_snap(100, 5);
    assert_int_equal(rz_logstore_snapshot_put(f->ls, &s, 0), 0);
    assert_int_equal(rz_logstore_load(f->ls, &st), 0);
    assert_int_equal(st.last_index, 100);
    assert_int_equal(st.first_index, 101);
    rz_log_entry e;
    assert_int_equal(rz_logstore_get(f->ls, 5, &e), RZ_ENOTFOUND);
    assert_int_equal(append_range(f->ls, 101, 3, 5), 0);
    reopen(f);
    assert_int_equal(rz_logstore_load(f->ls, &st), 0);
    assert_int_equal(st.first_index, 101);
    assert_int_equal(st.last_index, 103);
    check_range(f->ls, 101, 103, 5);
    /* Truncating everything after a snapshot keeps last_index at it. */
    assert_int_equal(rz_logstore_truncate(f->ls, 101), 0);
    assert_int_equal(rz_logstore_load(f->ls, &st), 0);
    assert_int_equal(st.last_index, 100);
    /* Bad descriptors are refused. */
    s = make_snap(0, 1);
    assert_int_equal(rz_logstore_snapshot_put(f->ls, &s, 0), RZ_EINVAL);
    s = make_snap(10, 1);
    s.conf_index = 11;
    assert_int_equal(rz_logstore_snapshot_put(f->ls, &s, 0), RZ_EINVAL);
    /* A descriptor whose term disagrees with the entry it keeps. */
    assert_int_equal(append_range(f->ls, 101, 5, 5), 0);
    s = make_snap(103, 4);
    assert_int_equal(rz_logstore_snapshot_put(f->ls, &s, 2), RZ_EINVAL);
    assert_non_null(strstr(rz_logstore_errmsg(f->ls), "term"));
    assert_int_equal(rz_logstore_load(f->ls, &st), 0);
    assert_int_equal(st.snapshot.index, 100);
    assert_int_equal(st.first_index, 101);
}

static void test_bootstrap(void **state)
{
    fx *f = *state;
    rz_log_state st;
    rz_log_entry e;
    assert_int_equal(rz_logstore_bootstrap(f->ls, "conf", 4), 0);
    assert_int_equal(rz_logstore_bootstrap(f->ls, "conf", 4), RZ_EEXISTS);
    reopen(f);
    assert_int_equal(rz_logstore_load(f->ls, &st), 0);
    assert_int_equal(st.term, 1);
    assert_int_equal(st.last_index, 1);
    assert_int_equal(rz_logstore_get(f->ls, 1, &e), 0);
    assert_int_equal(e.type, 3);
    assert_int_equal(e.term, 1);
    assert_int_equal(e.len, 4);
    assert_memory_equal(e.data, "conf", 4);
}

/* Rewrites one record of raft.mdb behind the store's back. */
static void raw_edit(const char *dir, const char *db, const void *key,
                     size_t key_len, size_t flip_at, int delete_it)
{
    char path[192];
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_val k = {key_len, (void *)key};
    MDB_val v;
    snprintf(path, sizeof path, "%s/raft.mdb", dir);
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 2), 0);
    assert_int_equal(mdb_env_open(env, path, MDB_NOSUBDIR, 0600), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, db, 0, &dbi), 0);
    if (delete_it) {
        assert_int_equal(mdb_del(txn, dbi, &k, NULL), 0);
    } else {
        uint8_t copy[1024];
        assert_int_equal(mdb_get(txn, dbi, &k, &v), 0);
        assert_true(v.mv_size <= sizeof copy && flip_at < v.mv_size);
        memcpy(copy, v.mv_data, v.mv_size);
        copy[flip_at] ^= 0x10;
        v.mv_data = copy;
        assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
    }
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
}

static void test_corrupt_entry(void **state)
{
    fx *f = *state;
    rz_log_state st;
    rz_log_entry e;
    assert_int_equal(append_range(f->ls, 1, 10, 1), 0);
    rz_logstore_close(f->ls);
    f->ls = NULL;
    uint8_t key[8];
    rz_put_be64(key, 4);
    raw_edit(f->dir, "entries", key, 8, 30, 0); /* a data byte */
    assert_int_equal(rz_logstore_open(f->dir, NULL, &f->ls, f->errmsg), 0);
    assert_int_equal(rz_logstore_load(f->ls, &st), RZ_ECORRUPT);
    assert_non_null(strstr(rz_logstore_errmsg(f->ls), "entry 4"));
    assert_int_equal(rz_logstore_get(f->ls, 4, &e), RZ_ECORRUPT);
    assert_int_equal(rz_logstore_get(f->ls, 5, &e), 0);
    /* A header byte (the term) is caught too. */
    rz_logstore_close(f->ls);
    f->ls = NULL;
    rz_put_be64(key, 6);
    raw_edit(f->dir, "entries", key, 8, 9, 0);
    assert_int_equal(rz_logstore_open(f->dir, NULL, &f->ls, f->errmsg), 0);
    assert_int_equal(rz_logstore_get(f->ls, 6, &e), RZ_ECORRUPT);
}

static void test_corrupt_gap_and_meta(void **state)
{
    fx *f = *state;
    assert_int_equal(append_range(f->ls, 1, 10, 1), 0);
    assert_int_equal(rz_logstore_set_term(f->ls, 5), 0);
    rz_logstore_close(f->ls);
    f->ls = NULL;
    uint8_t key[8];
    rz_put_be64(key, 5);
    raw_edit(f->dir, "entries", key, 8, 0, 1); /* a hole in the log */
    assert_int_equal(rz_logstore_open(f->dir, NULL, &f->ls, f->errmsg),
                     RZ_ECORRUPT);
    assert_non_null(strstr(f->errmsg, "contiguous"));
    assert_null(f->ls);

    char dir2[128];
    tdir_make(dir2, "logstore-meta");
    rz_logstore *ls2;
    assert_int_equal(rz_logstore_open(dir2, NULL, &ls2, f->errmsg), 0);
    assert_int_equal(rz_logstore_set_term(ls2, 5), 0);
    rz_logstore_close(ls2);
    raw_edit(dir2, "meta", "term", 4, 20, 0);
    assert_int_equal(rz_logstore_open(dir2, NULL, &ls2, f->errmsg),
                     RZ_ECORRUPT);
    assert_non_null(strstr(f->errmsg, "\"term\""));
    tdir_remove(dir2);

    /* Not a ratusz log at all. */
    tdir_make(dir2, "logstore-junk");
    char path[192];
    snprintf(path, sizeof path, "%s/raft.mdb", dir2);
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    for (int i = 0; i < 16384; i++) {
        fputc(i * 7, fp);
    }
    fclose(fp);
    assert_int_equal(rz_logstore_open(dir2, NULL, &ls2, f->errmsg),
                     RZ_ECORRUPT);
    tdir_remove(dir2);
    /* Reopen something for teardown. */
    assert_int_equal(rz_logstore_open(f->dir, NULL, &f->ls, f->errmsg),
                     RZ_ECORRUPT);
    tdir_remove(f->dir);
    tdir_make(f->dir, "logstore");
    assert_int_equal(rz_logstore_open(f->dir, NULL, &f->ls, f->errmsg), 0);
}

static void test_map_full(void **state)
{
    fx *f = *state;
    rz_log_state st;
    rz_logstore_close(f->ls);
    tdir_remove(f->dir);
    tdir_make(f->dir, "logstore-full");
    rz_logstore_options o = {.map_size_bytes = 256 * 1024};
    assert_int_equal(rz_logstore_open(f->dir, &o, &f->ls, f->errmsg), 0);
    uint64_t next = 1;
    int rv = 0;
    for (int i = 0; i < 10000 && rv == 0; i++) {
        rv = append_range(f->ls, next, 16, 1);
        if (rv == 0) {
            next += 16;
        }
    }
    assert_int_equal(rv, RZ_ENOSPACE);
    assert_true(next > 100);
    assert_true(strlen(rz_logstore_errmsg(f->ls)) > 0);
    /* Nothing of the failed append was written; smaller appends may still
     * fit, and the log stays readable. */
    assert_int_equal(rz_logstore_load(f->ls, &st), 0);
    assert_int_equal(st.last_index, next - 1);
    check_range(f->ls, 1, next - 1, 1);
    /* Keep filling one entry at a time until even that fails. */
    for (int i = 0; i < 1000; i++) {
        rv = append_range(f->ls, next, 1, 1);
        if (rv != 0) {
            break;
        }
        next++;
    }
    assert_int_equal(rv, RZ_ENOSPACE);
    assert_int_equal(rz_logstore_load(f->ls, &st), 0);
    assert_int_equal(st.last_index, next - 1);
    /* Truncate still works and frees room for appends again. */
    assert_int_equal(rz_logstore_truncate(f->ls, next / 2), 0);
    next = next / 2;
    /* LMDB reuses the pages a txn frees only two txns later (the previous
     * meta page still points at them), so in a map that is completely full
     * the first append after the truncate may still fail; it writes nothing
     * and a retry succeeds. */
    rv = RZ_ENOSPACE;
    for (int i = 0; i < 3 && rv == RZ_ENOSPACE; i++) {
        rv = append_range(f->ls, next, 16, 2);
        if (rv != 0) {
            assert_int_equal(rz_logstore_load(f->ls, &st), 0);
            assert_int_equal(st.last_index, next - 1);
        }
    }
    assert_int_equal(rv, 0);
    check_range(f->ls, next, next + 15, 2);
    check_range(f->ls, 1, next - 1, 1);
    rz_logstore_close(f->ls);
    f->ls = NULL;
    assert_int_equal(rz_logstore_open(f->dir, &o, &f->ls, f->errmsg), 0);
    assert_int_equal(rz_logstore_load(f->ls, &st), 0);
    assert_int_equal(st.last_index, next + 15);
}

/* An LMDB file with other tables (the state env under the wrong name) is
 * refused and left as it was. */
static void test_foreign_env(void **state)
{
    fx *f = *state;
    char path[192];
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_stat st;
    rz_logstore_close(f->ls);
    f->ls = NULL;
    tdir_remove(f->dir);
    tdir_make(f->dir, "logstore-foreign");
    snprintf(path, sizeof path, "%s/raft.mdb", f->dir);
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 4), 0);
    assert_int_equal(mdb_env_open(env, path, MDB_NOSUBDIR, 0600), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "cases", MDB_CREATE, &dbi), 0);
    MDB_val k = {3, (void *)"abc"}, v = {3, (void *)"xyz"};
    assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
    assert_int_equal(rz_logstore_open(f->dir, NULL, &f->ls, f->errmsg),
                     RZ_ECORRUPT);
    assert_non_null(strstr(f->errmsg, "not a ratusz raft log"));
    assert_null(f->ls);
    /* Untouched: still exactly one table in the main DB. */
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 4), 0);
    assert_int_equal(mdb_env_open(env, path, MDB_NOSUBDIR, 0600), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, NULL, 0, &dbi), 0);
    assert_int_equal(mdb_stat(txn, dbi, &st), 0);
    assert_int_equal(st.ms_entries, 1);
    mdb_txn_abort(txn);
    mdb_env_close(env);
    tdir_remove(f->dir);
    tdir_make(f->dir, "logstore");
    assert_int_equal(rz_logstore_open(f->dir, NULL, &f->ls, f->errmsg), 0);
}

/* The file is grown ahead of LMDB and the space report adds up. */
static void test_space_and_growth(void **state)
{
    fx *f = *state;
    rz_logstore_space sp;
    rz_log_state st;
    assert_int_equal(append_range(f->ls, 1, 64, 1), 0);
    assert_int_equal(rz_logstore_space_get(f->ls, &sp), 0);
    assert_int_equal(sp.entries, 64);
    assert_int_equal(sp.page_bytes > 0, 1);
    assert_true(sp.entry_pages > 0);
    assert_true(sp.pages_used * sp.page_bytes <= sp.file_bytes);
    assert_true(sp.file_bytes >= (8u << 20)); /* one chunk ahead */
    reopen(f);
    assert_int_equal(rz_logstore_load(f->ls, &st), 0);
    assert_int_equal(st.last_index, 64);
    check_range(f->ls, 1, 64, 1);
}

static void test_open_errors(void **state)
{
    (void)state;
    char errmsg[RZ_ERRMSG_BYTES];
    rz_logstore *ls = NULL;
    assert_int_equal(
        rz_logstore_open("/nonexistent/rz-nowhere", NULL, &ls, errmsg),
        RZ_ENOTFOUND);
    assert_non_null(strstr(errmsg, "not a directory"));
    assert_null(ls);
}

int main(void)
{
    if (rz_crypto_init() != 0) {
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_empty_load, setup, teardown),
        cmocka_unit_test_setup_teardown(test_append_get_reopen, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_append_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_term_vote, setup, teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_trailing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_replace, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bootstrap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_entry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_gap_and_meta, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_map_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_foreign_env, setup, teardown),
        cmocka_unit_test_setup_teardown(test_space_and_growth, setup, teardown),
        cmocka_unit_test(test_open_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
