/* storage env: opening state.mdb, the meta record, the state checksum,
 * durability, consistent copies and read views. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *const rz_storage__table_names[T_COUNT] = {
    "meta",      "cases", "events",     "revs",    "reporters",
    "districts", "units", "services",   "rules",   "idx",
    "stats",     "dedup", "dedup_time", "results",
};

/* Default map size: 16 GiB of address space (the file grows only as
 * needed) holds decades of Warsaw's cases. */
#define DEFAULT_MAP_SIZE_BYTES (16ull << 30)
#define DEFAULT_RESULTS_KEPT 100000u
/* Flags of state.mdb (DESIGN.md §4): MDB_NOMETASYNC syncs data pages on
 * every commit but not the meta page, so a power loss may undo the last
 * txn (the log replays it) and never corrupts the file; MDB_NOSYNC could.
 * MDB_NOTLS lets a read txn be reset and renewed. */
#define STATE_ENV_FLAGS (MDB_NOSUBDIR | MDB_NOMETASYNC | MDB_NOTLS)
#define STATE_FILE "state.mdb"
#define PATH_BYTES 4096

int rz_storage__mdb_err(int rc)
{
    switch (rc) {
    case 0:
        return 0;
    case MDB_MAP_FULL:
    case ENOSPC:
        return RZ_ENOSPACE;
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID:
    case MDB_VERSION_MISMATCH:
    case MDB_KEYEXIST:
    case MDB_NOTFOUND:
        /* Our code only meets KEYEXIST/NOTFOUND here when the tables
         * disagree with each other (an index without its case). */
        return RZ_ECORRUPT;
    case ENOMEM:
        return RZ_ENOMEM;
    default:
        return RZ_EIO;
    }
}

/* ---- Meta: "state" -> [schema, applied_index, next_case_id,
 * next_reporter_id, log_time_ms, lanes bin(32)] ---------------------------- */

void rz_storage__meta_encode(rz_buf *b, const rz_meta *m)
{
    uint8_t lanes[32];
    for (int i = 0; i < 4; i++) {
        rz_put_be64(lanes + 8 * i, m->lanes[i]);
    }
    rz_mp_put_array(b, 6);
    rz_mp_put_uint(b, RZ_STORAGE_SCHEMA);
    rz_mp_put_uint(b, m->applied_index);
    rz_mp_put_uint(b, m->next_case_id);
    rz_mp_put_uint(b, m->next_reporter_id);
    rz_mp_put_uint(b, m->log_time_ms);
    rz_mp_put_bin(b, lanes, sizeof(lanes));
}

static int meta_decode(const void *p, size_t len, rz_meta *m)
{
    rz_mp_dec d;
    uint32_t n = 0;
    uint32_t schema = 0;
    uint8_t lanes[32];
    rz_mp_dec_init(&d, p, len);
    rz_mp_get_array(&d, &n);
    if (d.err != 0 || n != 6) {
        return RZ_ECORRUPT;
    }
    rz_mp_get_u32(&d, &schema);
    rz_mp_get_u64(&d, &m->applied_index);
    rz_mp_get_u64(&d, &m->next_case_id);
    rz_mp_get_u64(&d, &m->next_reporter_id);
    rz_mp_get_u64(&d, &m->log_time_ms);
    rz_mp_get_bin_exact(&d, lanes, sizeof(lanes));
    if (!rz_mp_done(&d) || schema != RZ_STORAGE_SCHEMA ||
        m->next_case_id == 0 || m->next_reporter_id == 0) {
        return RZ_ECORRUPT;
    }
    for (int i = 0; i < 4; i++) {
        m->lanes[i] = rz_get_be64(lanes + 8 * i);
    }
    return 0;
}

int rz_storage__meta_read(rz_storage *s, MDB_txn *txn, rz_meta *m)
{
    MDB_val k = {5, (void *)"state"};
    MDB_val v;
    int rc = mdb_get(txn, s->dbi[T_META], &k, &v);
    memset(m, 0, sizeof(*m));
    if (rc == MDB_NOTFOUND) {
        m->next_case_id = 1;
        m->next_reporter_id = 1;
        return 0;
    }
    if (rc != 0) {
        return rz_storage__mdb_err(rc);
    }
    return meta_decode(v.mv_data, v.mv_size, m);
}

/* ---- Checksum --------------------------------------------------------------
 *
 * An additive multiset hash: every record (table id, key, value) hashes to
 * 256 bits read as four 64-bit lanes, and the state's lanes are the sums
 * mod 2^64 of all its records' lanes. Writing a record adds its hash,
 * overwriting or deleting one subtracts the old one, so the lanes follow the
 * state in O(1) per write and do not depend on the order of writes. */

void rz_storage__record_hash(int table, const void *k, size_t klen,
                             const void *v, size_t vlen, uint64_t lanes[4],
                             bool add)
{
    rz_hash_state st;
    uint8_t head[5];
    uint8_t out[32];
    RZ_PRE(table > T_META && table < T_COUNT);
    head[0] = (uint8_t)table;
    rz_put_be32(head + 1, (uint32_t)klen);
    rz_hash_init(&st, sizeof(out));
    rz_hash_update(&st, head, sizeof(head));
    rz_hash_update(&st, k, klen);
    rz_hash_update(&st, v, vlen);
    rz_hash_final(&st, out, sizeof(out));
    for (int i = 0; i < 4; i++) {
        uint64_t x = rz_get_be64(out + 8 * i);
        lanes[i] = add ? lanes[i] + x : lanes[i] - x;
    }
}

void rz_storage__checksum_final(const rz_meta *m, bool data_only,
                                uint8_t out[32])
{
    static const char tag[] = "ratusz-state-v1";
    uint8_t buf[sizeof(tag) + 32 + 32];
    size_t n = 0;
    memcpy(buf, tag, sizeof(tag));
    n += sizeof(tag);
    for (int i = 0; i < 4; i++) {
        rz_put_be64(buf + n, m->lanes[i]);
        n += 8;
    }
    rz_put_be64(buf + n, data_only ? 0 : m->applied_index);
    rz_put_be64(buf + n + 8, m->next_case_id);
    rz_put_be64(buf + n + 16, m->next_reporter_id);
    rz_put_be64(buf + n + 24, data_only ? 0 : m->log_time_ms);
    n += 32;
    RZ_ASSERT(n == sizeof(buf));
    rz_hash(buf, n, out, 32);
}

int rz_storage_checksum(rz_storage *s, uint8_t out[32], uint64_t *applied_index)
{
    RZ_PRE(s != NULL && out != NULL);
    rz_storage__checksum_final(&s->meta, false, out);
    if (applied_index != NULL) {
        *applied_index = s->meta.applied_index;
    }
    return 0;
}

static bool bookkeeping(int t)
{
    return t == T_DEDUP || t == T_DEDUP_TIME || t == T_RESULTS;
}

int rz_storage_checksum_scan(rz_storage *s, bool data_only, uint8_t out[32],
                             uint64_t *applied_index)
{
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    rz_meta m;
    int rv;
    RZ_PRE(s != NULL && out != NULL);
    rv = rz_storage__mdb_err(mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn));
    if (rv != 0) {
        return rv;
    }
    rv = rz_storage__meta_read(s, txn, &m);
    if (rv != 0) {
        goto err_after_txn;
    }
    memset(m.lanes, 0, sizeof(m.lanes));
    for (int t = T_META + 1; t < T_COUNT; t++) {
        MDB_val k, v;
        int rc;
        if (data_only && bookkeeping(t)) {
            continue;
        }
        rv = rz_storage__mdb_err(mdb_cursor_open(txn, s->dbi[t], &cur));
        if (rv != 0) {
            goto err_after_txn;
        }
        /* Bounded by the number of records in the table. */
        for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
            rz_storage__record_hash(t, k.mv_data, k.mv_size, v.mv_data,
                                    v.mv_size, m.lanes, true);
        }
        mdb_cursor_close(cur);
        cur = NULL;
        if (rc != MDB_NOTFOUND) {
            rv = rz_storage__mdb_err(rc);
            goto err_after_txn;
        }
    }
    rz_storage__checksum_final(&m, data_only, out);
    if (applied_index != NULL) {
        *applied_index = m.applied_index;
    }
err_after_txn:
    mdb_txn_abort(txn);
    return rv;
}

/* ---- Open / close ----------------------------------------------------------
 */

static int state_path(const char *dir, char *out)
{
    int n = snprintf(out, PATH_BYTES, "%s/%s", dir, STATE_FILE);
    return n > 0 && n < PATH_BYTES ? 0 : RZ_EINVAL;
}

static int open_tables(rz_storage *s, char *errmsg)
{
    MDB_txn *txn = NULL;
    rz_meta m;
    int rc;
    int rv;
    rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (rc != 0) {
        rz_errmsg_set(errmsg, "cannot begin a txn on state.mdb: %s",
                      mdb_strerror(rc));
        return rz_storage__mdb_err(rc);
    }
    for (int t = 0; t < T_COUNT; t++) {
        rc = mdb_dbi_open(txn, rz_storage__table_names[t], MDB_CREATE,
                          &s->dbi[t]);
        if (rc != 0) {
            rz_errmsg_set(errmsg, "cannot open table %s of state.mdb: %s",
                          rz_storage__table_names[t], mdb_strerror(rc));
            rv = rz_storage__mdb_err(rc);
            goto err_after_txn;
        }
    }
    rv = rz_storage__meta_read(s, txn, &m);
    if (rv != 0) {
        rz_errmsg_set(errmsg,
                      "state.mdb has a corrupt or foreign meta record "
                      "(schema %u expected): restore it from a replica",
                      RZ_STORAGE_SCHEMA);
        goto err_after_txn;
    }
    if (m.applied_index == 0 && m.next_case_id == 1) {
        MDB_val k = {5, (void *)"state"};
        MDB_val v;
        rz_buf_reset(&s->val);
        rz_storage__meta_encode(&s->val, &m);
        v.mv_size = s->val.len;
        v.mv_data = s->val.data;
        rc = s->val.err != 0 ? ENOMEM : mdb_put(txn, s->dbi[T_META], &k, &v, 0);
        if (rc != 0) {
            rz_errmsg_set(errmsg, "cannot initialise state.mdb: %s",
                          mdb_strerror(rc));
            rv = rz_storage__mdb_err(rc);
            goto err_after_txn;
        }
    }
    rc = mdb_txn_commit(txn);
    if (rc != 0) {
        rz_errmsg_set(errmsg, "cannot commit to state.mdb: %s",
                      mdb_strerror(rc));
        return rz_storage__mdb_err(rc);
    }
    s->meta = m;
    return 0;
err_after_txn:
    mdb_txn_abort(txn);
    return rv;
}

int rz_storage_open(const char *dir, const rz_storage_options *opts,
                    rz_storage **out, char *errmsg)
{
    char path[PATH_BYTES];
    char scratch[RZ_ERRMSG_BYTES];
    rz_storage *s;
    size_t map_size = DEFAULT_MAP_SIZE_BYTES;
    int rc;
    int rv;
    RZ_PRE(dir != NULL && out != NULL);
    if (errmsg == NULL) {
        errmsg = scratch;
    }
    *out = NULL;
    if (opts != NULL && opts->map_size_bytes != 0) {
        map_size = opts->map_size_bytes;
    }
    if (state_path(dir, path) != 0) {
        rz_errmsg_set(errmsg, "state directory path is too long");
        return RZ_EINVAL;
    }
    if (rz_crypto_init() != 0) {
        rz_errmsg_set(errmsg, "libsodium failed to initialise");
        return RZ_EIO;
    }
    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        rz_errmsg_set(errmsg, "out of memory opening the state env");
        return RZ_ENOMEM;
    }
    s->results_kept = DEFAULT_RESULTS_KEPT;
    if (opts != NULL && opts->results_kept != 0) {
        s->results_kept = opts->results_kept;
    }
    rz_buf_init(&s->val, RZ_COMMAND_MAX_BYTES * 2u);
    rz_buf_init(&s->res, 1024);
    rc = mdb_env_create(&s->env);
    if (rc != 0) {
        rz_errmsg_set(errmsg, "cannot create an LMDB env: %s",
                      mdb_strerror(rc));
        rv = rz_storage__mdb_err(rc);
        goto err_after_alloc;
    }
    rc = mdb_env_set_maxdbs(s->env, T_COUNT);
    if (rc == 0) {
        rc = mdb_env_set_mapsize(s->env, map_size);
    }
    if (rc == 0) {
        unsigned flags = STATE_ENV_FLAGS;
        if (opts != NULL && opts->unsafe_no_sync) {
            flags = (flags & ~(unsigned)MDB_NOMETASYNC) | MDB_NOSYNC;
        }
        rc = mdb_env_open(s->env, path, flags, 0600);
    }
    if (rc != 0) {
        rz_errmsg_set(errmsg, "cannot open %s: %s", path, mdb_strerror(rc));
        rv = rz_storage__mdb_err(rc);
        goto err_after_env;
    }
    rv = open_tables(s, errmsg);
    if (rv != 0) {
        goto err_after_env;
    }
    *out = s;
    return 0;
err_after_env:
    mdb_env_close(s->env);
err_after_alloc:
    rz_buf_close(&s->val);
    rz_buf_close(&s->res);
    free(s);
    return rv;
}

void rz_storage_close(rz_storage *s)
{
    if (s == NULL) {
        return;
    }
    RZ_PRE(!s->view_open);
    if (s->rtxn != NULL) {
        mdb_txn_abort(s->rtxn);
    }
    mdb_env_close(s->env);
    rz_buf_close(&s->val);
    rz_buf_close(&s->res);
    free(s->cat_items);
    free(s);
}

uint64_t rz_storage_applied_index(const rz_storage *s)
{
    RZ_PRE(s != NULL);
    return s->meta.applied_index;
}

/* ---- Durability and copies -------------------------------------------------
 */

int rz_storage_sync(rz_storage *s)
{
    RZ_PRE(s != NULL);
    return rz_storage__mdb_err(mdb_env_sync(s->env, 1));
}

int rz_storage_copy_to_fd(rz_storage *s, int fd, uint64_t *applied_index)
{
    int rc;
    RZ_PRE(s != NULL && fd >= 0);
    /* Single-threaded object: no apply runs during the copy, so the copy
     * holds exactly the committed meta. */
    rc = mdb_env_copyfd2(s->env, fd, MDB_CP_COMPACT);
    if (rc != 0) {
        return rz_storage__mdb_err(rc);
    }
    if (applied_index != NULL) {
        *applied_index = s->meta.applied_index;
    }
    return 0;
}

/* Opens a copy read-only and reads its meta, to refuse installing a file
 * that is not a state env. */
static int copy_check(const char *copy_path)
{
    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    MDB_dbi dbi;
    MDB_val k = {5, (void *)"state"};
    MDB_val v;
    rz_meta m;
    int rv = RZ_ECORRUPT;
    if (mdb_env_create(&env) != 0) {
        return RZ_ENOMEM;
    }
    if (mdb_env_set_maxdbs(env, T_COUNT) != 0 ||
        mdb_env_open(env, copy_path, MDB_NOSUBDIR | MDB_RDONLY | MDB_NOLOCK,
                     0600) != 0 ||
        mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) != 0) {
        goto done;
    }
    if (mdb_dbi_open(txn, rz_storage__table_names[T_META], 0, &dbi) == 0 &&
        mdb_get(txn, dbi, &k, &v) == 0 &&
        meta_decode(v.mv_data, v.mv_size, &m) == 0) {
        rv = 0;
    }
    mdb_txn_abort(txn);
done:
    mdb_env_close(env);
    return rv;
}

int rz_storage_install_copy(const char *dir, const char *copy_path)
{
    char path[PATH_BYTES];
    int fd;
    int rv;
    RZ_PRE(dir != NULL && copy_path != NULL);
    if (state_path(dir, path) != 0) {
        return RZ_EINVAL;
    }
    rv = copy_check(copy_path);
    if (rv != 0) {
        return rv;
    }
    fd = open(copy_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return RZ_EIO;
    }
    rv = fsync(fd) == 0 ? 0 : RZ_EIO;
    close(fd);
    if (rv != 0) {
        return rv;
    }
    if (rename(copy_path, path) != 0) {
        return errno == ENOSPC ? RZ_ENOSPACE : RZ_EIO;
    }
    /* The rename is durable once the directory is synced. */
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        return RZ_EIO;
    }
    rv = fsync(fd) == 0 ? 0 : RZ_EIO;
    close(fd);
    return rv;
}

/* ---- Read views ------------------------------------------------------------
 */

int rz_storage_read_begin(rz_storage *s, rz_storage_read **out)
{
    int rc;
    RZ_PRE(s != NULL && out != NULL && !s->view_open);
    if (s->rtxn == NULL) {
        rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &s->rtxn);
        if (rc != 0) {
            s->rtxn = NULL;
        }
    } else {
        rc = mdb_txn_renew(s->rtxn);
    }
    if (rc != 0) {
        return rz_storage__mdb_err(rc);
    }
    s->view.s = s;
    s->view.txn = s->rtxn;
    s->view.meta_loaded = false; /* read when a query needs it */
    s->view_open = true;
    *out = &s->view;
    return 0;
}

void rz_storage_read_end(rz_storage_read *r)
{
    if (r == NULL) {
        return;
    }
    RZ_PRE(r->s->view_open);
    mdb_txn_reset(r->txn);
    r->s->view_open = false;
}

int rz_storage__view_meta(rz_storage_read *r, const rz_meta **out)
{
    if (!r->meta_loaded) {
        int rv = rz_storage__meta_read(r->s, r->txn, &r->meta);
        if (rv != 0) {
            return rv;
        }
        r->meta_loaded = true;
    }
    *out = &r->meta;
    return 0;
}

int rz_storage_read_index(rz_storage_read *r, uint64_t *applied_index)
{
    const rz_meta *m;
    int rv;
    RZ_PRE(r != NULL && applied_index != NULL);
    rv = rz_storage__view_meta(r, &m);
    *applied_index = rv == 0 ? m->applied_index : 0;
    return rv;
}

/* ---- Baseline for ratusz-bench ----------------------------------------------
 */

int rz_storage_bench_raw_put(const char *dir, size_t map_size_bytes, uint64_t n,
                             size_t value_bytes, uint32_t batch,
                             uint64_t *elapsed_ns)
{
    char path[PATH_BYTES];
    MDB_env *env = NULL;
    MDB_dbi dbi;
    MDB_txn *txn = NULL;
    uint8_t *value;
    uint64_t t0;
    int rc;
    int pn = snprintf(path, sizeof(path), "%s/raw.mdb", dir);
    RZ_PRE(batch > 0 && elapsed_ns != NULL);
    if (pn <= 0 || pn >= (int)sizeof(path)) {
        return RZ_EINVAL;
    }
    value = calloc(1, value_bytes > 0 ? value_bytes : 1);
    if (value == NULL) {
        return RZ_ENOMEM;
    }
    for (size_t i = 0; i < value_bytes; i++) {
        value[i] = (uint8_t)(i * 131u + 7u);
    }
    rc = mdb_env_create(&env);
    if (rc == 0) {
        rc = mdb_env_set_maxdbs(env, 2);
    }
    if (rc == 0) {
        rc = mdb_env_set_mapsize(env, map_size_bytes);
    }
    if (rc == 0) {
        rc = mdb_env_open(env, path, STATE_ENV_FLAGS, 0600);
    }
    if (rc == 0) {
        rc = mdb_txn_begin(env, NULL, 0, &txn);
    }
    if (rc == 0) {
        rc = mdb_dbi_open(txn, "raw", MDB_CREATE, &dbi);
    }
    if (rc == 0) {
        rc = mdb_txn_commit(txn);
        txn = NULL;
    }
    t0 = rz_mono_ns();
    for (uint64_t i = 0; rc == 0 && i < n; i += batch) {
        rc = mdb_txn_begin(env, NULL, 0, &txn);
        for (uint64_t j = i; rc == 0 && j < i + batch && j < n; j++) {
            uint8_t kb[8];
            MDB_val k = {8, kb};
            MDB_val v = {value_bytes, value};
            rz_put_be64(kb, j + 1);
            rc = mdb_put(txn, dbi, &k, &v, 0);
        }
        if (rc == 0) {
            rc = mdb_txn_commit(txn);
        } else if (txn != NULL) {
            mdb_txn_abort(txn);
        }
        txn = NULL;
    }
    *elapsed_ns = rz_mono_ns() - t0;
    if (env != NULL) {
        mdb_env_close(env);
    }
    free(value);
    return rz_storage__mdb_err(rc);
}

int rz_storage_space_get(rz_storage *s, rz_storage_space *out)
{
    MDB_envinfo info;
    MDB_stat st;
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    uint64_t free_pages = 0, pages;
    int rc;
    RZ_PRE(s != NULL && out != NULL);
    memset(out, 0, sizeof *out);
    rc = mdb_env_info(s->env, &info);
    if (rc == 0) {
        rc = mdb_env_stat(s->env, &st);
    }
    if (rc == 0) {
        rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
    }
    /* The free list is table 0: each record lists freed page numbers, the
     * first word being their count. It stays small (LMDB merges it). */
    if (rc == 0) {
        rc = mdb_cursor_open(txn, 0, &cur);
    }
    while (rc == 0) {
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
        if (rc == 0 && v.mv_size >= sizeof(size_t)) {
            size_t n;
            memcpy(&n, v.mv_data, sizeof n);
            free_pages += n;
        }
    }
    if (cur != NULL) {
        mdb_cursor_close(cur);
    }
    if (txn != NULL) {
        mdb_txn_abort(txn);
    }
    if (rc != MDB_NOTFOUND) {
        return RZ_EIO;
    }
    pages = (uint64_t)info.me_last_pgno + 1u;
    out->map_bytes = (uint64_t)info.me_mapsize;
    out->file_bytes = pages * st.ms_psize;
    out->used_bytes =
        (pages > free_pages ? pages - free_pages : 0) * st.ms_psize;
    return 0;
}
