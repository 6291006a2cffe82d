/* The Raft log store: raft's log, term, vote and snapshot descriptor in
 * their own LMDB env, dir/raft.mdb, one durable txn per operation.
 *
 * Durability. The env is opened with LMDB's default full sync: every commit
 * fsyncs the data pages and then the meta page. MDB_NOSYNC is out (a crash
 * may corrupt the file if the disk reorders writes). MDB_NOMETASYNC, which
 * the state env uses, is out too: it leaves the meta page of the last commit
 * unsynced, so a power loss may undo that txn. The state env can afford that
 * because the log replays what it loses; the log cannot: raft treats
 * set_term/set_vote and an append callback as "on disk", and a forgotten
 * vote lets a server vote twice in one term, a forgotten acknowledged entry
 * lets a committed entry vanish from a majority (Raft paper §5.2, §5.4).
 *
 * Named databases and the byte layout of their records (all integers
 * big-endian; "check" is the first 8 bytes of the BLAKE2b-128 of the key,
 * then the record's bytes before the check field, then its payload, so a
 * torn, bit-rotten or misplaced record is caught on read):
 *
 *   "entries": key = index (8 bytes), value =
 *     offset size field
 *     0      1    tag 0xE1 (log entry, format 1)
 *     1      1    raft entry type (1 command, 2 barrier, 3 change)
 *     2      2    zero
 *     4      4    data length n
 *     8      8    term (>= 1)
 *     16     8    check
 *     24     n    data (opaque to the store)
 *
 *   "meta": key = one ASCII word, value =
 *     offset size field
 *     0      1    tag: 'V' version, 'T' term, 'O' vote, 'S' snapshot
 *     1      3    zero
 *     4      4    payload length n
 *     8      8    check
 *     16     n    payload:
 *       "version":  16 bytes "ratusz-raft-log\0", 4 bytes format (1)
 *       "term":     8 bytes current term
 *       "vote":     8 bytes server id voted for in that term (0 = none)
 *       "snapshot": index 8, term 8, conf_index 8, state_index 8,
 *                   state checksum 32 (at state_index), encoded
 *                   configuration (the rest)
 *
 * The entries are contiguous: keys first..last with no gap. When the log is
 * empty, last_index is the snapshot's index (0 without a snapshot), so the
 * next append goes right after what the snapshot covers. Entries are kept
 * small by the callers (DESIGN.md §4) so values stay in ordinary pages; the
 * aging benchmark (ratusz-bench log --aging) checks the free list does not
 * grow over millions of append/compact cycles.
 *
 * Space. Appends stop (RZ_ENOSPACE, nothing written) while a reserve of
 * pages (1/32 of the map, at least 16) is still free, so truncate and
 * compaction, which need fresh pages before they free any, keep working on
 * a full log; LMDB reuses pages a txn frees two txns later. The file is
 * grown ahead of LMDB in 8 MiB chunks of written zeros (grow_ahead), so most
 * commits overwrite existing blocks and their fdatasync has no size change
 * to journal. An LMDB file holding anything but these two tables is refused
 * before anything is created in it.
 *
 * Threads: the store is single-threaded; the writer (log_writer.c) uses it
 * from its worker thread while nobody else does. MDB_NOTLS keeps read txns
 * off thread-local slots so any thread may use the store in turn. */
#include "consensus/logstore.h"

#include <errno.h>
#include <limits.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <raft.h>

#include "common/limits.h"

#define LOG_FILE "raft.mdb"
#define PATH_BYTES 4096
#define FORMAT_VERSION 1u
#define VERSION_MAGIC "ratusz-raft-log" /* 15 chars + NUL = 16 bytes */
#define VERSION_MAGIC_BYTES 16u

#define ENTRY_TAG 0xE1u
#define ENTRY_HDR_BYTES 24u
#define ENTRY_CHECK_OFF 16u
#define META_HDR_BYTES 16u
#define META_CHECK_OFF 8u
#define SNAP_FIXED_BYTES (8u + 8u + 8u + 8u + 32u)

/* Default map size: address space only, the file grows as pages are used.
 * 1 GiB holds about a million 1 KiB entries, far more than the trailing
 * window a node keeps between compactions. */
#if SIZE_MAX > 0xffffffffu
#define DEFAULT_MAP_SIZE_BYTES ((size_t)1 << 30)
#else
#define DEFAULT_MAP_SIZE_BYTES ((size_t)256 << 20)
#endif

/* See the top of the file for why neither MDB_NOSYNC nor MDB_NOMETASYNC. */
#define LOG_ENV_FLAGS (MDB_NOSUBDIR | MDB_NOTLS)

struct rz_logstore
{
    MDB_env *env;
    MDB_dbi entries_dbi;
    MDB_dbi meta_dbi;
    char path[PATH_BYTES];
    /* Cached from the file, updated only after a commit succeeds. */
    uint64_t term;
    uint64_t voted_for;
    uint64_t first_index;
    uint64_t last_index;
    bool has_snapshot;
    uint64_t snap_index;
    uint64_t page_bytes;
    uint64_t file_bytes; /* size of raft.mdb as last extended or seen */
    bool grow_ahead;     /* extend the file ahead of LMDB (see grow_ahead) */
    /* Bytes returned by get/load stay here until the next call. */
    uint8_t *scratch;
    size_t scratch_cap;
    char errmsg[RZ_ERRMSG_BYTES];
};

static const char k_version[] = "version";
static const char k_term[] = "term";
static const char k_vote[] = "vote";
static const char k_snapshot[] = "snapshot";

/* What every operation leaves true of the cached bounds: the log is
 * first..last (empty when first == last + 1), and an empty log after a
 * snapshot ends at the snapshot. */
static void check_bounds(const rz_logstore *ls)
{
    RZ_ASSERT(ls->first_index >= 1);
    RZ_ASSERT(ls->first_index <= ls->last_index + 1);
    RZ_ASSERT(ls->first_index <= ls->last_index || !ls->has_snapshot ||
              ls->last_index == ls->snap_index);
}

/* ---- Errors --------------------------------------------------------------
 * Every LMDB code becomes an RZ_E* code here and goes no further. */

static int mdb_to_rz(int rc)
{
    switch (rc) {
    case 0:
        return 0;
    case MDB_MAP_FULL:
    case ENOSPC:
    case EDQUOT:
        return RZ_ENOSPACE;
    case MDB_TXN_FULL:
    case MDB_BAD_VALSIZE:
        return RZ_ETOOBIG;
    case MDB_NOTFOUND:
        return RZ_ENOTFOUND;
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID:
    case MDB_VERSION_MISMATCH:
    case MDB_INCOMPATIBLE:
        return RZ_ECORRUPT;
    case ENOMEM:
        return RZ_ENOMEM;
    case MDB_READERS_FULL:
        return RZ_EBUSY;
    case EACCES:
    case EPERM:
    case EROFS:
        return RZ_EPERM;
    default:
        return RZ_EIO;
    }
}

/* Records the failed step in errmsg and returns the translated code. */
static int fail_mdb(rz_logstore *ls, int rc, const char *what)
{
    int err = mdb_to_rz(rc);
    RZ_ASSERT(err != 0);
    rz_errmsg_set(ls->errmsg, "%s: %s (%s)", ls->path, what, mdb_strerror(rc));
    return err;
}

/* ---- Record checks ------------------------------------------------------ */

static uint64_t record_check(const void *key, size_t key_len, const void *hdr,
                             size_t hdr_len, const void *payload,
                             size_t payload_len)
{
    rz_hash_state st;
    uint8_t out[16];
    rz_hash_init(&st, sizeof out);
    rz_hash_update(&st, key, key_len);
    rz_hash_update(&st, hdr, hdr_len);
    if (payload_len > 0) {
        rz_hash_update(&st, payload, payload_len);
    }
    rz_hash_final(&st, out, sizeof out);
    return rz_get_be64(out);
}

static void entry_encode(uint8_t *out, const uint8_t key[8],
                         const rz_log_entry *e)
{
    out[0] = (uint8_t)ENTRY_TAG;
    out[1] = e->type;
    out[2] = 0;
    out[3] = 0;
    rz_put_be32(out + 4, (uint32_t)e->len);
    rz_put_be64(out + 8, e->term);
    if (e->len > 0) {
        memcpy(out + ENTRY_HDR_BYTES, e->data, e->len);
    }
    rz_put_be64(out + ENTRY_CHECK_OFF,
                record_check(key, 8, out, ENTRY_CHECK_OFF, e->data, e->len));
}

/* Validates one stored entry; fills *e pointing into `val`. */
static int entry_decode(rz_logstore *ls, const MDB_val *key, const MDB_val *val,
                        rz_log_entry *e)
{
    const uint8_t *v = val->mv_data;
    uint64_t index = 0;
    if (key->mv_size != 8) {
        rz_errmsg_set(ls->errmsg, "%s: entry key of %zu bytes, not 8", ls->path,
                      key->mv_size);
        return RZ_ECORRUPT;
    }
    index = rz_get_be64(key->mv_data);
    if (val->mv_size < ENTRY_HDR_BYTES || v[0] != ENTRY_TAG || v[2] != 0 ||
        v[3] != 0) {
        rz_errmsg_set(ls->errmsg,
                      "%s: entry %llu has a bad header (size %zu, tag %u)",
                      ls->path, (unsigned long long)index, val->mv_size,
                      val->mv_size > 0 ? v[0] : 0u);
        return RZ_ECORRUPT;
    }
    uint32_t len = rz_get_be32(v + 4);
    if ((size_t)len != val->mv_size - ENTRY_HDR_BYTES) {
        rz_errmsg_set(ls->errmsg,
                      "%s: entry %llu says %u data bytes but holds %zu",
                      ls->path, (unsigned long long)index, len,
                      val->mv_size - ENTRY_HDR_BYTES);
        return RZ_ECORRUPT;
    }
    uint64_t check = record_check(key->mv_data, 8, v, ENTRY_CHECK_OFF,
                                  v + ENTRY_HDR_BYTES, len);
    if (check != rz_get_be64(v + ENTRY_CHECK_OFF)) {
        rz_errmsg_set(ls->errmsg, "%s: entry %llu fails its checksum", ls->path,
                      (unsigned long long)index);
        return RZ_ECORRUPT;
    }
    e->type = v[1];
    e->term = rz_get_be64(v + 8);
    e->data = v + ENTRY_HDR_BYTES;
    e->len = len;
    if (e->type < RAFT_COMMAND || e->type > RAFT_CHANGE || e->term == 0) {
        rz_errmsg_set(ls->errmsg, "%s: entry %llu has type %u term %llu",
                      ls->path, (unsigned long long)index, e->type,
                      (unsigned long long)e->term);
        return RZ_ECORRUPT;
    }
    return 0;
}

/* Writes meta record `key` with `tag` and payload p[0..n) into txn. */
static int meta_put(rz_logstore *ls, MDB_txn *txn, const char *key, char tag,
                    const void *p1, size_t n1, const void *p2, size_t n2)
{
    MDB_val k = {strlen(key), (void *)key};
    MDB_val v = {META_HDR_BYTES + n1 + n2, NULL};
    int rc = mdb_put(txn, ls->meta_dbi, &k, &v, MDB_RESERVE);
    if (rc != 0) {
        return fail_mdb(ls, rc, "writing the log meta");
    }
    uint8_t *out = v.mv_data;
    memset(out, 0, META_HDR_BYTES);
    out[0] = (uint8_t)tag;
    rz_put_be32(out + 4, (uint32_t)(n1 + n2));
    if (n1 > 0) {
        memcpy(out + META_HDR_BYTES, p1, n1);
    }
    if (n2 > 0) {
        memcpy(out + META_HDR_BYTES + n1, p2, n2);
    }
    rz_put_be64(out + META_CHECK_OFF,
                record_check(key, strlen(key), out, META_CHECK_OFF,
                             out + META_HDR_BYTES, n1 + n2));
    return 0;
}

/* Reads and validates meta record `key`: *payload and *n point into the txn's
 * pages. RZ_ENOTFOUND if absent. */
static int meta_get(rz_logstore *ls, MDB_txn *txn, const char *key, char tag,
                    const uint8_t **payload, size_t *n)
{
    MDB_val k = {strlen(key), (void *)key};
    MDB_val v;
    int rc = mdb_get(txn, ls->meta_dbi, &k, &v);
    if (rc == MDB_NOTFOUND) {
        return RZ_ENOTFOUND;
    }
    if (rc != 0) {
        return fail_mdb(ls, rc, "reading the log meta");
    }
    const uint8_t *r = v.mv_data;
    if (v.mv_size < META_HDR_BYTES || r[0] != (uint8_t)tag || r[1] != 0 ||
        r[2] != 0 || r[3] != 0 ||
        rz_get_be32(r + 4) != v.mv_size - META_HDR_BYTES) {
        rz_errmsg_set(ls->errmsg, "%s: meta record \"%s\" has a bad header",
                      ls->path, key);
        return RZ_ECORRUPT;
    }
    size_t len = v.mv_size - META_HDR_BYTES;
    if (record_check(key, strlen(key), r, META_CHECK_OFF, r + META_HDR_BYTES,
                     len) != rz_get_be64(r + META_CHECK_OFF)) {
        rz_errmsg_set(ls->errmsg, "%s: meta record \"%s\" fails its checksum",
                      ls->path, key);
        return RZ_ECORRUPT;
    }
    *payload = r + META_HDR_BYTES;
    *n = len;
    return 0;
}

/* Reads an 8-byte meta value; 0 when absent. */
static int meta_get_u64(rz_logstore *ls, MDB_txn *txn, const char *key,
                        char tag, uint64_t *out)
{
    const uint8_t *p = NULL;
    size_t n = 0;
    int rv = meta_get(ls, txn, key, tag, &p, &n);
    if (rv == RZ_ENOTFOUND) {
        *out = 0;
        return 0;
    }
    if (rv != 0) {
        return rv;
    }
    if (n != 8) {
        rz_errmsg_set(ls->errmsg, "%s: meta \"%s\" holds %zu bytes, not 8",
                      ls->path, key, n);
        return RZ_ECORRUPT;
    }
    *out = rz_get_be64(p);
    return 0;
}

static int meta_put_u64(rz_logstore *ls, MDB_txn *txn, const char *key,
                        char tag, uint64_t value)
{
    uint8_t b[8];
    rz_put_be64(b, value);
    return meta_put(ls, txn, key, tag, b, sizeof b, NULL, 0);
}

/* Decodes the snapshot payload; conf points into p. */
static int snapshot_decode(rz_logstore *ls, const uint8_t *p, size_t n,
                           rz_log_snapshot *s)
{
    if (n < SNAP_FIXED_BYTES || n - SNAP_FIXED_BYTES > RZ_LOG_CONF_MAX_BYTES) {
        rz_errmsg_set(ls->errmsg, "%s: snapshot descriptor of %zu bytes",
                      ls->path, n);
        return RZ_ECORRUPT;
    }
    s->index = rz_get_be64(p);
    s->term = rz_get_be64(p + 8);
    s->conf_index = rz_get_be64(p + 16);
    s->state_index = rz_get_be64(p + 24);
    memcpy(s->checksum, p + 32, 32);
    s->conf = p + SNAP_FIXED_BYTES;
    s->conf_len = n - SNAP_FIXED_BYTES;
    if (s->index == 0 || s->term == 0 || s->conf_index > s->index) {
        rz_errmsg_set(ls->errmsg,
                      "%s: snapshot descriptor index %llu term %llu "
                      "conf_index %llu is impossible",
                      ls->path, (unsigned long long)s->index,
                      (unsigned long long)s->term,
                      (unsigned long long)s->conf_index);
        return RZ_ECORRUPT;
    }
    return 0;
}

/* ---- Txn helpers -------------------------------------------------------- */

static int txn_begin(rz_logstore *ls, unsigned flags, MDB_txn **txn)
{
    int rc = mdb_txn_begin(ls->env, NULL, flags, txn);
    if (rc != 0) {
        return fail_mdb(ls, rc, "starting a txn");
    }
    return 0;
}

static int txn_commit(rz_logstore *ls, MDB_txn *txn)
{
    int rc = mdb_txn_commit(txn);
    if (rc != 0) {
        return fail_mdb(ls, rc, "committing");
    }
    return 0;
}

/* Keeps a copy of n bytes in the store's scratch buffer. */
static int scratch_copy(rz_logstore *ls, const void *p, size_t n,
                        const void **out)
{
    if (n > ls->scratch_cap) {
        size_t cap = ls->scratch_cap > 0 ? ls->scratch_cap : 4096;
        while (cap < n) {
            cap *= 2;
        }
        uint8_t *nb = realloc(ls->scratch, cap);
        if (nb == NULL) {
            return RZ_ENOMEM;
        }
        ls->scratch = nb;
        ls->scratch_cap = cap;
    }
    if (n > 0) {
        memcpy(ls->scratch, p, n);
    }
    *out = ls->scratch;
    return 0;
}

/* Reads first/last keys and the entry count and checks they agree with a
 * contiguous log; fills ls->first_index/last_index (needs has_snapshot and
 * snap_index already read). */
static int bounds_read(rz_logstore *ls, MDB_txn *txn)
{
    MDB_cursor *c = NULL;
    MDB_val k, v;
    MDB_stat st;
    int rv = 0;
    int rc = mdb_stat(txn, ls->entries_dbi, &st);
    if (rc != 0) {
        return fail_mdb(ls, rc, "reading the entry count");
    }
    if (st.ms_entries == 0) {
        ls->last_index = ls->has_snapshot ? ls->snap_index : 0;
        ls->first_index = ls->last_index + 1;
        check_bounds(ls);
        return 0;
    }
    rc = mdb_cursor_open(txn, ls->entries_dbi, &c);
    if (rc != 0) {
        return fail_mdb(ls, rc, "opening a cursor");
    }
    rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
    if (rc == 0 && k.mv_size == 8) {
        ls->first_index = rz_get_be64(k.mv_data);
        rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
    }
    if (rc != 0) {
        rv = fail_mdb(ls, rc, "reading the log bounds");
        goto out;
    }
    if (k.mv_size != 8) {
        rz_errmsg_set(ls->errmsg, "%s: an entry key is not 8 bytes", ls->path);
        rv = RZ_ECORRUPT;
        goto out;
    }
    ls->last_index = rz_get_be64(k.mv_data);
    if (ls->first_index == 0 || ls->last_index < ls->first_index ||
        ls->last_index - ls->first_index + 1 != (uint64_t)st.ms_entries) {
        rz_errmsg_set(ls->errmsg,
                      "%s: the log is not contiguous (first %llu, last "
                      "%llu, %zu entries)",
                      ls->path, (unsigned long long)ls->first_index,
                      (unsigned long long)ls->last_index, st.ms_entries);
        rv = RZ_ECORRUPT;
    }
out:
    mdb_cursor_close(c);
    return rv;
}

/* Reads term, vote and snapshot index into the cache. */
static int meta_read(rz_logstore *ls, MDB_txn *txn, rz_log_snapshot *snap)
{
    const uint8_t *p = NULL;
    size_t n = 0;
    rz_log_snapshot tmp;
    int rv = meta_get_u64(ls, txn, k_term, 'T', &ls->term);
    if (rv == 0) {
        rv = meta_get_u64(ls, txn, k_vote, 'O', &ls->voted_for);
    }
    if (rv != 0) {
        return rv;
    }
    rv = meta_get(ls, txn, k_snapshot, 'S', &p, &n);
    if (rv == RZ_ENOTFOUND) {
        ls->has_snapshot = false;
        ls->snap_index = 0;
        return 0;
    }
    if (rv == 0) {
        rv = snapshot_decode(ls, p, n, snap != NULL ? snap : &tmp);
    }
    if (rv != 0) {
        return rv;
    }
    ls->has_snapshot = true;
    ls->snap_index = snap != NULL ? snap->index : tmp.index;
    return 0;
}

/* ---- Open / close -------------------------------------------------------- */

/* Opens the named DBs and writes or checks the format version. */
/* Refuses an LMDB file that holds anything but our two tables (say the
 * state env copied to the wrong name) before MDB_CREATE writes into it. */
static int check_foreign(rz_logstore *ls, MDB_txn *txn)
{
    MDB_dbi main_dbi;
    MDB_cursor *c = NULL;
    MDB_val k, v;
    int rv = 0;
    int rc = mdb_dbi_open(txn, NULL, 0, &main_dbi);
    if (rc == 0) {
        rc = mdb_cursor_open(txn, main_dbi, &c);
    }
    if (rc != 0) {
        return fail_mdb(ls, rc, "reading the table names");
    }
    rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
    /* At most our two names; a third key is already foreign. */
    for (int i = 0; rc == 0 && i < 3; i++) {
        bool ours = (k.mv_size == 7 && memcmp(k.mv_data, "entries", 7) == 0) ||
                    (k.mv_size == 4 && memcmp(k.mv_data, "meta", 4) == 0);
        if (!ours) {
            rz_errmsg_set(ls->errmsg,
                          "%s: an LMDB file but not a ratusz raft log (it "
                          "holds other tables or keys)",
                          ls->path);
            rv = RZ_ECORRUPT;
            break;
        }
        rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
    }
    if (rv == 0 && rc != 0 && rc != MDB_NOTFOUND) {
        rv = fail_mdb(ls, rc, "reading the table names");
    }
    mdb_cursor_close(c);
    return rv;
}

static int open_dbs(rz_logstore *ls)
{
    MDB_txn *txn = NULL;
    const uint8_t *p = NULL;
    size_t n = 0;
    int rv = txn_begin(ls, 0, &txn);
    if (rv != 0) {
        return rv;
    }
    rv = check_foreign(ls, txn);
    if (rv != 0) {
        mdb_txn_abort(txn);
        return rv;
    }
    int rc = mdb_dbi_open(txn, "entries", MDB_CREATE, &ls->entries_dbi);
    if (rc == 0) {
        rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &ls->meta_dbi);
    }
    if (rc != 0) {
        rv = fail_mdb(ls, rc,
                      "opening the log tables (is this a ratusz "
                      "raft log?)");
        goto abort;
    }
    rv = meta_get(ls, txn, k_version, 'V', &p, &n);
    if (rv == RZ_ENOTFOUND) {
        MDB_stat st;
        rc = mdb_stat(txn, ls->entries_dbi, &st);
        if (rc != 0) {
            rv = fail_mdb(ls, rc, "reading the entry count");
            goto abort;
        }
        if (st.ms_entries != 0) {
            rz_errmsg_set(ls->errmsg,
                          "%s: entries without a format version record",
                          ls->path);
            rv = RZ_ECORRUPT;
            goto abort;
        }
        uint8_t ver[4];
        rz_put_be32(ver, FORMAT_VERSION);
        rv = meta_put(ls, txn, k_version, 'V', VERSION_MAGIC,
                      VERSION_MAGIC_BYTES, ver, sizeof ver);
    } else if (rv == 0) {
        if (n != VERSION_MAGIC_BYTES + 4 ||
            memcmp(p, VERSION_MAGIC, VERSION_MAGIC_BYTES) != 0 ||
            rz_get_be32(p + VERSION_MAGIC_BYTES) != FORMAT_VERSION) {
            rz_errmsg_set(ls->errmsg, "%s: not a ratusz raft log of format %u",
                          ls->path, FORMAT_VERSION);
            rv = RZ_ECORRUPT;
        }
    }
    if (rv == 0) {
        rv = meta_read(ls, txn, NULL);
    }
    if (rv == 0) {
        rv = bounds_read(ls, txn);
    }
    if (rv != 0) {
        goto abort;
    }
    return txn_commit(ls, txn);
abort:
    mdb_txn_abort(txn);
    return rv;
}

int rz_logstore_open(const char *dir, const rz_logstore_options *opts,
                     rz_logstore **out, char *errmsg)
{
    RZ_PRE(dir != NULL && out != NULL && errmsg != NULL);
    int rv = 0;
    int rc = 0;
    errmsg[0] = '\0';
    rz_logstore *ls = calloc(1, sizeof *ls);
    if (ls == NULL) {
        rz_errmsg_set(errmsg, "out of memory opening the raft log");
        return RZ_ENOMEM;
    }
    int w = snprintf(ls->path, sizeof ls->path, "%s/%s", dir, LOG_FILE);
    if (w < 0 || (size_t)w >= sizeof ls->path) {
        rz_errmsg_set(errmsg, "raft log directory path is too long");
        rv = RZ_EINVAL;
        goto err_after_alloc;
    }
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        rz_errmsg_set(errmsg, "%s is not a directory: create it first", dir);
        rv = RZ_ENOTFOUND;
        goto err_after_alloc;
    }
    rc = mdb_env_create(&ls->env);
    if (rc != 0) {
        rz_errmsg_set(errmsg, "%s: %s", ls->path, mdb_strerror(rc));
        rv = mdb_to_rz(rc);
        goto err_after_alloc;
    }
    size_t map = DEFAULT_MAP_SIZE_BYTES;
    unsigned flags = LOG_ENV_FLAGS;
    if (opts != NULL && opts->map_size_bytes > 0) {
        map = opts->map_size_bytes;
    }
    if (opts != NULL && opts->unsafe_no_sync) {
        flags |= MDB_NOSYNC;
    }
    rc = mdb_env_set_mapsize(ls->env, map);
    if (rc == 0) {
        rc = mdb_env_set_maxdbs(ls->env, 2);
    }
    if (rc == 0) {
        rc = mdb_env_open(ls->env, ls->path, flags, 0600);
    }
    if (rc != 0) {
        rz_errmsg_set(errmsg, "%s: %s%s", ls->path, mdb_strerror(rc),
                      rc == MDB_INVALID ? " (not an LMDB file)" : "");
        rv = mdb_to_rz(rc);
        goto err_after_env;
    }
    int dead = 0;
    (void)mdb_reader_check(ls->env, &dead);
    MDB_stat est;
    rc = mdb_env_stat(ls->env, &est);
    if (rc != 0) {
        rz_errmsg_set(errmsg, "%s: %s", ls->path, mdb_strerror(rc));
        rv = mdb_to_rz(rc);
        goto err_after_env;
    }
    ls->page_bytes = est.ms_psize;
    ls->grow_ahead = opts == NULL || !opts->unsafe_no_sync;
    mdb_filehandle_t fd;
    struct stat fsb;
    if (mdb_env_get_fd(ls->env, &fd) == 0 && fstat(fd, &fsb) == 0) {
        ls->file_bytes = (uint64_t)fsb.st_size;
    }
    rv = open_dbs(ls);
    if (rv != 0) {
        memcpy(errmsg, ls->errmsg, RZ_ERRMSG_BYTES);
        goto err_after_env;
    }
    *out = ls;
    return 0;
err_after_env:
    mdb_env_close(ls->env);
err_after_alloc:
    free(ls);
    return rv;
}

void rz_logstore_close(rz_logstore *ls)
{
    if (ls == NULL) {
        return;
    }
    mdb_env_close(ls->env);
    free(ls->scratch);
    free(ls);
}

const char *rz_logstore_errmsg(const rz_logstore *ls)
{
    RZ_PRE(ls != NULL);
    return ls->errmsg;
}

/* ---- Reads --------------------------------------------------------------- */

int rz_logstore_load(rz_logstore *ls, rz_log_state *out)
{
    RZ_PRE(ls != NULL && out != NULL);
    MDB_txn *txn = NULL;
    MDB_cursor *c = NULL;
    rz_log_snapshot snap;
    memset(&snap, 0, sizeof snap);
    memset(out, 0, sizeof *out);
    ls->errmsg[0] = '\0';
    int rv = txn_begin(ls, MDB_RDONLY, &txn);
    if (rv != 0) {
        return rv;
    }
    rv = meta_read(ls, txn, &snap);
    if (rv == 0) {
        rv = bounds_read(ls, txn);
    }
    if (rv != 0) {
        goto out;
    }
    /* Validate every entry: contiguous keys, checksums, terms that never
     * decrease (Raft's Log Matching property depends on it). */
    int rc = mdb_cursor_open(txn, ls->entries_dbi, &c);
    if (rc != 0) {
        rv = fail_mdb(ls, rc, "opening a cursor");
        goto out;
    }
    uint64_t expect = ls->first_index;
    uint64_t prev_term = 0;
    MDB_val k, v;
    rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
    for (uint64_t i = 0; rc == 0 && i <= ls->last_index - ls->first_index;
         i++) {
        rz_log_entry e;
        rv = entry_decode(ls, &k, &v, &e);
        if (rv != 0) {
            goto out;
        }
        if (rz_get_be64(k.mv_data) != expect || e.term < prev_term) {
            rz_errmsg_set(ls->errmsg,
                          "%s: entry %llu (term %llu) out of order after "
                          "term %llu",
                          ls->path, (unsigned long long)rz_get_be64(k.mv_data),
                          (unsigned long long)e.term,
                          (unsigned long long)prev_term);
            rv = RZ_ECORRUPT;
            goto out;
        }
        prev_term = e.term;
        expect++;
        rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
    }
    if (rc != 0 && rc != MDB_NOTFOUND) {
        rv = fail_mdb(ls, rc, "reading the entries");
        goto out;
    }
    if (ls->has_snapshot && prev_term != 0 && ls->first_index <= snap.index &&
        snap.index <= ls->last_index) {
        /* The entry at the snapshot's index must carry the same term. */
        MDB_val kk, vv;
        uint8_t kb[8];
        rz_log_entry e;
        rz_put_be64(kb, snap.index);
        kk.mv_size = 8;
        kk.mv_data = kb;
        rc = mdb_get(txn, ls->entries_dbi, &kk, &vv);
        if (rc != 0) {
            rv = fail_mdb(ls, rc, "reading the snapshot's entry");
            goto out;
        }
        rv = entry_decode(ls, &kk, &vv, &e);
        if (rv == 0 && e.term != snap.term) {
            rz_errmsg_set(ls->errmsg,
                          "%s: entry %llu has term %llu but the snapshot "
                          "says %llu",
                          ls->path, (unsigned long long)snap.index,
                          (unsigned long long)e.term,
                          (unsigned long long)snap.term);
            rv = RZ_ECORRUPT;
        }
        if (rv != 0) {
            goto out;
        }
    }
    out->term = ls->term;
    out->voted_for = ls->voted_for;
    out->has_snapshot = ls->has_snapshot;
    out->first_index = ls->first_index;
    out->last_index = ls->last_index;
    if (ls->has_snapshot) {
        out->snapshot = snap;
        rv = scratch_copy(ls, snap.conf, snap.conf_len, &out->snapshot.conf);
    }
out:
    mdb_cursor_close(c);
    mdb_txn_abort(txn);
    return rv;
}

int rz_logstore_get(rz_logstore *ls, uint64_t index, rz_log_entry *out)
{
    RZ_PRE(ls != NULL && out != NULL);
    if (index < ls->first_index || index > ls->last_index) {
        return RZ_ENOTFOUND;
    }
    MDB_txn *txn = NULL;
    uint8_t kb[8];
    rz_put_be64(kb, index);
    MDB_val k = {8, kb};
    MDB_val v;
    int rv = txn_begin(ls, MDB_RDONLY, &txn);
    if (rv != 0) {
        return rv;
    }
    int rc = mdb_get(txn, ls->entries_dbi, &k, &v);
    if (rc == MDB_NOTFOUND) {
        rz_errmsg_set(ls->errmsg, "%s: entry %llu is missing inside the log",
                      ls->path, (unsigned long long)index);
        rv = RZ_ECORRUPT;
    } else if (rc != 0) {
        rv = fail_mdb(ls, rc, "reading an entry");
    } else {
        rv = entry_decode(ls, &k, &v, out);
    }
    if (rv == 0) {
        rv = scratch_copy(ls, out->data, out->len, &out->data);
    }
    mdb_txn_abort(txn);
    return rv;
}

/* ---- Writes -------------------------------------------------------------- */

int rz_logstore_set_term(rz_logstore *ls, uint64_t term)
{
    RZ_PRE(ls != NULL);
    MDB_txn *txn = NULL;
    if (term < ls->term) {
        rz_errmsg_set(ls->errmsg, "term %llu is below the current %llu",
                      (unsigned long long)term, (unsigned long long)ls->term);
        return RZ_EINVAL;
    }
    int rv = txn_begin(ls, 0, &txn);
    if (rv != 0) {
        return rv;
    }
    rv = meta_put_u64(ls, txn, k_term, 'T', term);
    if (rv == 0) {
        rv = meta_put_u64(ls, txn, k_vote, 'O', 0);
    }
    if (rv != 0) {
        mdb_txn_abort(txn);
        return rv;
    }
    rv = txn_commit(ls, txn);
    if (rv == 0) {
        ls->term = term;
        ls->voted_for = 0;
    }
    return rv;
}

int rz_logstore_set_vote(rz_logstore *ls, uint64_t server_id)
{
    RZ_PRE(ls != NULL);
    MDB_txn *txn = NULL;
    int rv = txn_begin(ls, 0, &txn);
    if (rv != 0) {
        return rv;
    }
    rv = meta_put_u64(ls, txn, k_vote, 'O', server_id);
    if (rv != 0) {
        mdb_txn_abort(txn);
        return rv;
    }
    rv = txn_commit(ls, txn);
    if (rv == 0) {
        ls->voted_for = server_id;
    }
    return rv;
}

/* Checks a span's entries; RZ_EINVAL with errmsg for bad arguments. */
static int span_check(rz_logstore *ls, const rz_log_span *s)
{
    if (s->n == 0 || s->n > RZ_LOG_APPEND_MAX_ENTRIES || s->entries == NULL ||
        s->first_index == 0 || s->first_index > UINT64_MAX - s->n) {
        rz_errmsg_set(ls->errmsg, "append of %zu entries at %llu", s->n,
                      (unsigned long long)s->first_index);
        return RZ_EINVAL;
    }
    for (size_t i = 0; i < s->n; i++) {
        const rz_log_entry *e = &s->entries[i];
        if (e->type < RAFT_COMMAND || e->type > RAFT_CHANGE || e->term == 0 ||
            e->len > RZ_LOG_ENTRY_MAX_BYTES ||
            (e->len > 0 && e->data == NULL)) {
            rz_errmsg_set(ls->errmsg,
                          "entry %llu: type %u, term %llu, %zu bytes",
                          (unsigned long long)(s->first_index + i), e->type,
                          (unsigned long long)e->term, e->len);
            return e->len > RZ_LOG_ENTRY_MAX_BYTES ? RZ_ETOOBIG : RZ_EINVAL;
        }
    }
    return 0;
}

/* Appends stop short of a full map: they leave a reserve of pages so that
 * truncate and compaction, which need fresh pages for copy-on-write and for
 * the free list before they free anything, still work when appends no longer
 * fit. Without it a completely full map could not even be compacted. */
static uint64_t reserve_pages(uint64_t max_pages)
{
    uint64_t r = max_pages / 32;
    return r < 16 ? 16 : r;
}

/* Growing the file ahead of LMDB. LMDB extends raft.mdb one commit at a
 * time by writing past its end, so each such commit's fdatasync must also
 * journal the new size and blocks. Writing zeros a chunk ahead (and syncing
 * once) lets most commits overwrite blocks that already exist, as a WAL
 * preallocates its segments. LMDB only uses pages up to its last page
 * number, so a longer file is harmless; this is an optimisation only and a
 * failure (a full disk) undoes itself and leaves the error to LMDB. */
#define GROW_CHUNK_BYTES ((uint64_t)8 << 20)
#define GROW_ZERO_BYTES ((size_t)256 << 10)

static void grow_ahead(rz_logstore *ls, uint64_t used_bytes, uint64_t bytes,
                       uint64_t map_bytes)
{
    static const uint8_t zeros[GROW_ZERO_BYTES];
    uint64_t want = used_bytes + 2 * bytes + GROW_CHUNK_BYTES / 4;
    if (!ls->grow_ahead || want <= ls->file_bytes) {
        return;
    }
    mdb_filehandle_t fd;
    if (mdb_env_get_fd(ls->env, &fd) != 0) {
        return;
    }
    uint64_t target = (want / GROW_CHUNK_BYTES + 1) * GROW_CHUNK_BYTES;
    if (target > map_bytes) {
        target = map_bytes;
    }
    uint64_t start = ls->file_bytes > used_bytes ? ls->file_bytes : used_bytes;
    uint64_t off = start;
    /* Bounded: target - start <= GROW_CHUNK_BYTES + want - file_bytes. */
    while (off < target) {
        size_t n = target - off < GROW_ZERO_BYTES ? (size_t)(target - off)
                                                  : GROW_ZERO_BYTES;
        ssize_t w = pwrite(fd, zeros, n, (off_t)off);
        if (w <= 0) {
            break;
        }
        off += (uint64_t)w;
    }
    if (off < target || fdatasync(fd) != 0) {
        (void)ftruncate(fd, (off_t)start);
        ls->grow_ahead = false; /* do not retry on every append */
        return;
    }
    ls->file_bytes = target;
}

/* RZ_ENOSPACE (with errmsg) if appending `bytes` of records could eat into
 * the reserve. Counts the free list only when the high-water mark is near
 * the end of the map, so the common case costs one mdb_env_info. */
static int room_check(rz_logstore *ls, uint64_t bytes)
{
    MDB_envinfo info;
    int rc = mdb_env_info(ls->env, &info);
    if (rc != 0) {
        return fail_mdb(ls, rc, "reading env info");
    }
    uint64_t max_pages = info.me_mapsize / ls->page_bytes;
    /* Leaves are at least half full; a few more pages for branches, the
     * meta DB and the free list. */
    uint64_t need = 2 * bytes / ls->page_bytes + 8 + reserve_pages(max_pages);
    uint64_t used = (uint64_t)info.me_last_pgno + 1;
    if (used + need <= max_pages) {
        grow_ahead(ls, used * ls->page_bytes, bytes, info.me_mapsize);
        return 0;
    }
    /* LMDB lets only a read txn open the free list (DB 0). */
    uint64_t free_pages = 0;
    MDB_txn *txn = NULL;
    MDB_cursor *c = NULL;
    MDB_val k, v;
    int rv = txn_begin(ls, MDB_RDONLY, &txn);
    if (rv != 0) {
        return rv;
    }
    rc = mdb_cursor_open(txn, 0, &c);
    if (rc != 0) {
        mdb_txn_abort(txn);
        return fail_mdb(ls, rc, "opening the free list");
    }
    rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
    for (uint32_t i = 0; rc == 0 && i < UINT32_MAX; i++) {
        size_t count = 0;
        if (v.mv_size >= sizeof count) {
            memcpy(&count, v.mv_data, sizeof count);
        }
        free_pages += count;
        rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(c);
    mdb_txn_abort(txn);
    if (rc != MDB_NOTFOUND) {
        return fail_mdb(ls, rc, "reading the free list");
    }
    if (used <= max_pages && max_pages - used + free_pages >= need) {
        return 0;
    }
    rz_errmsg_set(ls->errmsg,
                  "%s: the log map (%llu bytes) is full; compact the log or "
                  "raise the map size",
                  ls->path, (unsigned long long)info.me_mapsize);
    return RZ_ENOSPACE;
}

int rz_logstore_append_spans(rz_logstore *ls, const rz_log_span *spans,
                             size_t n_spans)
{
    RZ_PRE(ls != NULL && spans != NULL && n_spans > 0);
    MDB_txn *txn = NULL;
    ls->errmsg[0] = '\0';
    bool empty = ls->first_index > ls->last_index;
    uint64_t next = spans[0].first_index;
    if (!(next == ls->last_index + 1 || (empty && ls->has_snapshot))) {
        rz_errmsg_set(ls->errmsg, "append at %llu but the log ends at %llu",
                      (unsigned long long)next,
                      (unsigned long long)ls->last_index);
        return RZ_EINVAL;
    }
    size_t total = 0;
    uint64_t bytes = 0;
    for (size_t s = 0; s < n_spans; s++) {
        int rv = span_check(ls, &spans[s]);
        if (rv != 0) {
            return rv;
        }
        if (spans[s].first_index != next) {
            rz_errmsg_set(ls->errmsg, "append at %llu, expected %llu",
                          (unsigned long long)spans[s].first_index,
                          (unsigned long long)next);
            return RZ_EINVAL;
        }
        next += spans[s].n;
        total += spans[s].n;
        for (size_t i = 0; i < spans[s].n; i++) {
            bytes += ENTRY_HDR_BYTES + 8 + 8 + spans[s].entries[i].len;
        }
    }
    int rv = room_check(ls, bytes);
    if (rv == 0) {
        rv = txn_begin(ls, 0, &txn);
    }
    if (rv != 0) {
        return rv;
    }
    for (size_t s = 0; s < n_spans; s++) {
        for (size_t i = 0; i < spans[s].n; i++) {
            const rz_log_entry *e = &spans[s].entries[i];
            uint8_t kb[8];
            rz_put_be64(kb, spans[s].first_index + i);
            MDB_val k = {8, kb};
            MDB_val v = {ENTRY_HDR_BYTES + e->len, NULL};
            /* Keys only grow, so MDB_APPEND fills pages densely and skips
             * the search; it fails if a key would not be the largest. */
            int rc =
                mdb_put(txn, ls->entries_dbi, &k, &v, MDB_RESERVE | MDB_APPEND);
            if (rc != 0) {
                rv = fail_mdb(ls, rc, "appending entries");
                mdb_txn_abort(txn);
                return rv;
            }
            entry_encode(v.mv_data, kb, e);
        }
    }
    rv = txn_commit(ls, txn);
    if (rv == 0) {
        if (empty) {
            ls->first_index = spans[0].first_index;
        }
        ls->last_index = next - 1;
        RZ_POST(ls->last_index - ls->first_index + 1 >= total);
        check_bounds(ls);
    }
    return rv;
}

int rz_logstore_append(rz_logstore *ls, uint64_t first_index,
                       const rz_log_entry *entries, size_t n)
{
    rz_log_span s = {first_index, entries, n};
    return rz_logstore_append_spans(ls, &s, 1);
}

/* Deletes, inside txn, the entries at one end of the log: with top, every
 * index >= bound (truncate); otherwise every index <= bound (compaction).
 * The cursor re-seeks that end after each delete rather than rely on where
 * LMDB leaves it. Bounded by the number of entries in the log. */
static int delete_end(rz_logstore *ls, MDB_txn *txn, bool top, uint64_t bound)
{
    const MDB_cursor_op end = top ? MDB_LAST : MDB_FIRST;
    MDB_cursor *c = NULL;
    MDB_val k, v;
    int rv = 0;
    int rc = mdb_cursor_open(txn, ls->entries_dbi, &c);
    if (rc != 0) {
        return fail_mdb(ls, rc, "opening a cursor");
    }
    rc = mdb_cursor_get(c, &k, &v, end);
    for (uint64_t i = 0; rc == 0 && i <= ls->last_index - ls->first_index;
         i++) {
        uint64_t index;
        if (k.mv_size != 8) {
            break;
        }
        index = rz_get_be64(k.mv_data);
        if (top ? index < bound : index > bound) {
            break;
        }
        rc = mdb_cursor_del(c, 0);
        if (rc == 0) {
            rc = mdb_cursor_get(c, &k, &v, end);
        }
    }
    if (rc != 0 && rc != MDB_NOTFOUND) {
        rv =
            fail_mdb(ls, rc, top ? "truncating the log" : "compacting the log");
    }
    mdb_cursor_close(c);
    return rv;
}

/* Re-reads the bounds after a commit that deleted entries. */
static int bounds_refresh(rz_logstore *ls)
{
    MDB_txn *txn = NULL;
    int rv = txn_begin(ls, MDB_RDONLY, &txn);
    if (rv != 0) {
        return rv;
    }
    rv = bounds_read(ls, txn);
    mdb_txn_abort(txn);
    return rv;
}

int rz_logstore_truncate(rz_logstore *ls, uint64_t index)
{
    RZ_PRE(ls != NULL);
    MDB_txn *txn = NULL;
    ls->errmsg[0] = '\0';
    if (index == 0) {
        rz_errmsg_set(ls->errmsg, "truncate at index 0");
        return RZ_EINVAL;
    }
    if (ls->first_index > ls->last_index || index > ls->last_index) {
        return 0; /* nothing at or above index */
    }
    int rv = txn_begin(ls, 0, &txn);
    if (rv != 0) {
        return rv;
    }
    rv = delete_end(ls, txn, true, index);
    if (rv != 0) {
        mdb_txn_abort(txn);
        return rv;
    }
    rv = txn_commit(ls, txn);
    if (rv == 0) {
        rv = bounds_refresh(ls);
    }
    return rv;
}

/* RZ_EINVAL unless the stored entry at index has `term`. */
static int check_term_at(rz_logstore *ls, MDB_txn *txn, uint64_t index,
                         uint64_t term)
{
    uint8_t kb[8];
    rz_put_be64(kb, index);
    MDB_val k = {8, kb};
    MDB_val v;
    rz_log_entry e;
    int rc = mdb_get(txn, ls->entries_dbi, &k, &v);
    if (rc != 0) {
        return fail_mdb(ls, rc, "reading the snapshot's entry");
    }
    int rv = entry_decode(ls, &k, &v, &e);
    if (rv == 0 && e.term != term) {
        rz_errmsg_set(ls->errmsg,
                      "snapshot at %llu says term %llu but the entry there "
                      "has term %llu",
                      (unsigned long long)index, (unsigned long long)term,
                      (unsigned long long)e.term);
        rv = RZ_EINVAL;
    }
    return rv;
}

int rz_logstore_snapshot_put(rz_logstore *ls, const rz_log_snapshot *snap,
                             uint64_t trailing)
{
    RZ_PRE(ls != NULL && snap != NULL);
    MDB_txn *txn = NULL;
    ls->errmsg[0] = '\0';
    if (snap->index == 0 || snap->term == 0 || snap->conf_index > snap->index ||
        snap->conf_len > RZ_LOG_CONF_MAX_BYTES ||
        (snap->conf_len > 0 && snap->conf == NULL)) {
        rz_errmsg_set(ls->errmsg,
                      "snapshot index %llu term %llu conf_index %llu conf "
                      "%zu bytes",
                      (unsigned long long)snap->index,
                      (unsigned long long)snap->term,
                      (unsigned long long)snap->conf_index, snap->conf_len);
        return RZ_EINVAL;
    }
    uint8_t fixed[SNAP_FIXED_BYTES];
    rz_put_be64(fixed, snap->index);
    rz_put_be64(fixed + 8, snap->term);
    rz_put_be64(fixed + 16, snap->conf_index);
    rz_put_be64(fixed + 24, snap->state_index);
    memcpy(fixed + 32, snap->checksum, 32);
    int rv = txn_begin(ls, 0, &txn);
    if (rv != 0) {
        return rv;
    }
    if (trailing > 0 && ls->first_index <= snap->index &&
        snap->index <= ls->last_index) {
        /* The entry kept at the snapshot's index must agree with it, or
         * the next load would (rightly) call the log corrupt. */
        rv = check_term_at(ls, txn, snap->index, snap->term);
    }
    if (rv == 0) {
        rv = meta_put(ls, txn, k_snapshot, 'S', fixed, sizeof fixed, snap->conf,
                      snap->conf_len);
    }
    if (rv == 0 && ls->first_index <= ls->last_index) {
        if (trailing == 0) {
            /* Replace the whole log (raft installs a snapshot this way). */
            int rc = mdb_drop(txn, ls->entries_dbi, 0);
            if (rc != 0) {
                rv = fail_mdb(ls, rc, "emptying the log");
            }
        } else if (snap->index > trailing) {
            rv = delete_end(ls, txn, false, snap->index - trailing);
        }
    }
    if (rv != 0) {
        mdb_txn_abort(txn);
        return rv;
    }
    rv = txn_commit(ls, txn);
    if (rv == 0) {
        ls->has_snapshot = true;
        ls->snap_index = snap->index;
        rv = bounds_refresh(ls);
    }
    return rv;
}

int rz_logstore_bootstrap(rz_logstore *ls, const void *conf, size_t conf_len)
{
    RZ_PRE(ls != NULL && (conf != NULL || conf_len == 0));
    MDB_txn *txn = NULL;
    ls->errmsg[0] = '\0';
    if (ls->term != 0 || ls->voted_for != 0 || ls->has_snapshot ||
        ls->last_index != 0) {
        rz_errmsg_set(ls->errmsg, "%s: the raft log is not empty", ls->path);
        return RZ_EEXISTS;
    }
    if (conf_len > RZ_LOG_ENTRY_MAX_BYTES) {
        return RZ_ETOOBIG;
    }
    rz_log_entry e = {1, RAFT_CHANGE, conf, conf_len};
    uint8_t kb[8];
    rz_put_be64(kb, 1);
    MDB_val k = {8, kb};
    MDB_val v = {ENTRY_HDR_BYTES + conf_len, NULL};
    int rv = txn_begin(ls, 0, &txn);
    if (rv != 0) {
        return rv;
    }
    rv = meta_put_u64(ls, txn, k_term, 'T', 1);
    if (rv == 0) {
        int rc = mdb_put(txn, ls->entries_dbi, &k, &v, MDB_RESERVE);
        if (rc != 0) {
            rv = fail_mdb(ls, rc, "writing the bootstrap entry");
        } else {
            entry_encode(v.mv_data, kb, &e);
        }
    }
    if (rv != 0) {
        mdb_txn_abort(txn);
        return rv;
    }
    rv = txn_commit(ls, txn);
    if (rv == 0) {
        ls->term = 1;
        ls->first_index = 1;
        ls->last_index = 1;
    }
    return rv;
}

/* ---- Space accounting ---------------------------------------------------- */

int rz_logstore_space_get(rz_logstore *ls, rz_logstore_space *out)
{
    RZ_PRE(ls != NULL && out != NULL);
    MDB_envinfo info;
    MDB_stat st, env_st;
    MDB_txn *txn = NULL;
    MDB_cursor *c = NULL;
    struct stat sb;
    memset(out, 0, sizeof *out);
    int rc = mdb_env_info(ls->env, &info);
    if (rc == 0) {
        rc = mdb_env_stat(ls->env, &env_st);
    }
    if (rc != 0) {
        return fail_mdb(ls, rc, "reading env info");
    }
    if (stat(ls->path, &sb) == 0) {
        out->file_bytes = (uint64_t)sb.st_size;
    }
    out->map_bytes = info.me_mapsize;
    out->page_bytes = env_st.ms_psize;
    out->pages_used = (uint64_t)info.me_last_pgno + 1;
    int rv = txn_begin(ls, MDB_RDONLY, &txn);
    if (rv != 0) {
        return rv;
    }
    rc = mdb_stat(txn, ls->entries_dbi, &st);
    if (rc != 0) {
        rv = fail_mdb(ls, rc, "reading entry stats");
        goto out;
    }
    out->entry_pages =
        st.ms_branch_pages + st.ms_leaf_pages + st.ms_overflow_pages;
    out->overflow_pages = st.ms_overflow_pages;
    out->entries = st.ms_entries;
    /* LMDB's free list is DB 0: each record's value is an ID list whose
     * first word is the number of page numbers that follow. */
    rc = mdb_cursor_open(txn, 0, &c);
    if (rc != 0) {
        rv = fail_mdb(ls, rc, "opening the free list");
        goto out;
    }
    MDB_val k, v;
    rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
    for (uint64_t i = 0; rc == 0 && i < UINT32_MAX; i++) {
        if (v.mv_size >= sizeof(size_t)) {
            size_t count = 0;
            memcpy(&count, v.mv_data, sizeof count);
            out->free_pages += count;
        }
        out->freelist_records++;
        rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
    }
    if (rc != MDB_NOTFOUND && rc != 0) {
        rv = fail_mdb(ls, rc, "reading the free list");
    }
out:
    mdb_cursor_close(c);
    mdb_txn_abort(txn);
    return rv;
}
