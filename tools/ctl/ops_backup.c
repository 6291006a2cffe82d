/* ratuszctl backup, backup verify, recover and compact: the commands that
 * work on a node's data directory on this machine (storage.h and
 * consensus.h), not over the network.
 *
 * A backup is a consistent compacted LMDB copy of the state env
 * (state.mdb), taken while the node runs: LMDB lets another process read
 * the env through its lock file, and the copy comes from one read
 * transaction, so it holds exactly the state at one applied index. The file
 * is a fixed header followed by the copy (all integers big-endian):
 *
 *   off  len  field
 *   0    8    magic "RZBACKUP"
 *   8    4    format version = 1
 *   12   4    header length = 192
 *   16   16   cluster id (from <data>/node.identity; zeros if unknown)
 *   32   8    node id the copy was taken from (0 if unknown)
 *   40   8    applied index of the copy
 *   48   8    created, Unix ms
 *   56   8    payload length in bytes
 *   64   32   state checksum (rz_storage_checksum of the copy)
 *   96   32   data checksum (rz_storage_checksum_scan data_only)
 *   128  32   BLAKE2b-256 of the payload
 *   160  32   BLAKE2b-256 of bytes 0..160 of this header
 *   192  ...  payload: the state.mdb copy
 */
#define _XOPEN_SOURCE 700
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "consensus/consensus.h"
#include "ops.h"
#include "out.h"
#include "storage/storage.h"

#define BACKUP_MAGIC "RZBACKUP"
#define BACKUP_FORMAT 1u
#define BACKUP_HEADER_BYTES 192u
#define BACKUP_HASHED_BYTES 160u
#define COPY_CHUNK_BYTES (1u << 20)

typedef struct backup_header
{
    uint8_t cluster_id[RZ_CLUSTER_ID_BYTES];
    uint64_t node_id;
    uint64_t applied_index;
    uint64_t created_ms;
    uint64_t payload_bytes;
    uint8_t checksum[32];
    uint8_t data_checksum[32];
    uint8_t payload_hash[32];
} backup_header;

static void header_encode(const backup_header *h, uint8_t out[192])
{
    memset(out, 0, BACKUP_HEADER_BYTES);
    memcpy(out, BACKUP_MAGIC, 8);
    rz_put_be32(out + 8, BACKUP_FORMAT);
    rz_put_be32(out + 12, BACKUP_HEADER_BYTES);
    memcpy(out + 16, h->cluster_id, 16);
    rz_put_be64(out + 32, h->node_id);
    rz_put_be64(out + 40, h->applied_index);
    rz_put_be64(out + 48, h->created_ms);
    rz_put_be64(out + 56, h->payload_bytes);
    memcpy(out + 64, h->checksum, 32);
    memcpy(out + 96, h->data_checksum, 32);
    memcpy(out + 128, h->payload_hash, 32);
    rz_hash(out, BACKUP_HASHED_BYTES, out + BACKUP_HASHED_BYTES, 32);
}

static int header_decode(const uint8_t in[192], backup_header *h, char *errmsg)
{
    uint8_t hash[32];
    if (memcmp(in, BACKUP_MAGIC, 8) != 0) {
        rz_errmsg_set(errmsg, "not a ratusz backup (bad magic)");
        return RZ_EMALFORMED;
    }
    if (rz_get_be32(in + 8) != BACKUP_FORMAT ||
        rz_get_be32(in + 12) != BACKUP_HEADER_BYTES) {
        rz_errmsg_set(errmsg,
                      "backup format %u is not known to this "
                      "ratuszctl",
                      rz_get_be32(in + 8));
        return RZ_EMALFORMED;
    }
    rz_hash(in, BACKUP_HASHED_BYTES, hash, 32);
    if (memcmp(hash, in + BACKUP_HASHED_BYTES, 32) != 0) {
        rz_errmsg_set(errmsg, "the backup header is damaged (hash mismatch)");
        return RZ_ECORRUPT;
    }
    memcpy(h->cluster_id, in + 16, 16);
    h->node_id = rz_get_be64(in + 32);
    h->applied_index = rz_get_be64(in + 40);
    h->created_ms = rz_get_be64(in + 48);
    h->payload_bytes = rz_get_be64(in + 56);
    memcpy(h->checksum, in + 64, 32);
    memcpy(h->data_checksum, in + 96, 32);
    memcpy(h->payload_hash, in + 128, 32);
    return 0;
}

static int write_all(int fd, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n > 0) {
        ssize_t w = write(fd, b, n);
        if (w < 0) {
            if (errno == EINTR) {
                continue;
            }
            return errno == ENOSPC ? RZ_ENOSPACE : RZ_EIO;
        }
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Reads exactly n bytes (RZ_EMALFORMED on a short file). */
static int read_all(int fd, void *p, size_t n)
{
    uint8_t *b = p;
    while (n > 0) {
        ssize_t r = read(fd, b, n);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0) {
            return RZ_EIO;
        }
        if (r == 0) {
            return RZ_EMALFORMED;
        }
        b += r;
        n -= (size_t)r;
    }
    return 0;
}

/* Copies n bytes from in to out (out < 0: only hashes), hashing them. */
static int copy_hash(int in, int out, uint64_t n, uint8_t hash[32])
{
    rz_hash_state st;
    uint8_t *buf = malloc(COPY_CHUNK_BYTES);
    int rv = 0;
    if (buf == NULL) {
        return RZ_ENOMEM;
    }
    rz_hash_init(&st, 32);
    while (n > 0 && rv == 0) {
        size_t chunk = n > COPY_CHUNK_BYTES ? COPY_CHUNK_BYTES : (size_t)n;
        rv = read_all(in, buf, chunk);
        if (rv == 0) {
            rz_hash_update(&st, buf, chunk);
            if (out >= 0) {
                rv = write_all(out, buf, chunk);
            }
        }
        n -= chunk;
    }
    rz_hash_final(&st, hash, 32);
    free(buf);
    return rv;
}

static void rm_quiet(const char *dir, const char *name)
{
    char p[CTL_PATH_BYTES + 64];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    (void)unlink(p);
}

/* Removes a scratch dir made by scratch_dir (its state.mdb and lock). */
static void scratch_remove(const char *dir)
{
    rm_quiet(dir, "state.mdb");
    rm_quiet(dir, "state.mdb-lock");
    rm_quiet(dir, "state.copy");
    (void)rmdir(dir);
}

/* A fresh directory next to `near` (a file path) for a state copy. */
static int scratch_dir(const char *near, char *out, size_t size, char *errmsg)
{
    if ((size_t)snprintf(out, size, "%s.tmp-XXXXXX", near) >= size) {
        rz_errmsg_set(errmsg, "path too long: %s", near);
        return RZ_EINVAL;
    }
    if (mkdtemp(out) == NULL) {
        rz_errmsg_set(errmsg, "cannot create a scratch dir next to %s: %s",
                      near, strerror(errno));
        return RZ_EIO;
    }
    return 0;
}

/* Opens the state env in dir and reads applied index, the checksum kept
 * up to date, the full-scan checksum (must equal it) and the data-only
 * checksum. */
static int state_measure(const char *dir, backup_header *h, char *errmsg)
{
    rz_storage *s = NULL;
    uint8_t scan[32];
    char path[CTL_PATH_BYTES + 32];
    struct stat st;
    int rv;
    /* rz_storage_open would create a missing env: a measurement must not. */
    snprintf(path, sizeof path, "%s/state.mdb", dir);
    if (stat(path, &st) != 0) {
        rz_errmsg_set(errmsg, "no state env at %s", path);
        return RZ_ENOTFOUND;
    }
    rv = rz_storage_open(dir, NULL, &s, errmsg);
    if (rv != 0) {
        return rv;
    }
    rv = rz_storage_checksum(s, h->checksum, &h->applied_index);
    if (rv == 0) {
        rv = rz_storage_checksum_scan(s, false, scan, NULL);
    }
    if (rv == 0 && memcmp(scan, h->checksum, 32) != 0) {
        rz_errmsg_set(errmsg, "the state copy's kept checksum differs from a "
                              "full scan: the source env is damaged");
        rv = RZ_ECORRUPT;
    }
    if (rv == 0) {
        rv = rz_storage_checksum_scan(s, true, h->data_checksum, NULL);
    }
    if (rv != 0 && errmsg[0] == '\0') {
        rz_errmsg_set(errmsg, "checksum of %s: %s", dir, rz_strerror(rv));
    }
    rz_storage_close(s);
    return rv;
}

static void node_identity_of(const char *data, backup_header *h)
{
    char p[CTL_PATH_BYTES + 64];
    rz_identity id;
    snprintf(p, sizeof p, "%s/node.identity", data);
    if (rz_identity_read(p, &id, NULL) == 0) {
        memcpy(h->cluster_id, id.cluster.id, RZ_CLUSTER_ID_BYTES);
        h->node_id = id.cred.node_id;
        rz_identity_wipe(&id);
    }
}

/* backup FILE --data DIR */
static int backup_take(const char *file, const char *data, backup_header *h,
                       char *errmsg)
{
    char scratch[CTL_PATH_BYTES];
    char copy[CTL_PATH_BYTES + 32];
    char tmp[CTL_PATH_BYTES + 32];
    rz_storage *s = NULL;
    struct stat st;
    int fd = -1, in = -1;
    uint8_t head[BACKUP_HEADER_BYTES];
    int rv;
    memset(h, 0, sizeof *h);
    snprintf(copy, sizeof copy, "%s/state.mdb", data);
    if (stat(copy, &st) != 0) {
        rz_errmsg_set(errmsg,
                      "no state env at %s: give the data dir of a "
                      "node with --data",
                      copy);
        return RZ_ENOTFOUND;
    }
    if (access(file, F_OK) == 0) {
        rz_errmsg_set(errmsg, "%s exists: choose a new file name", file);
        return RZ_EEXISTS;
    }
    node_identity_of(data, h);
    rv = scratch_dir(file, scratch, sizeof scratch, errmsg);
    if (rv != 0) {
        return rv;
    }
    snprintf(copy, sizeof copy, "%s/state.mdb", scratch);
    fd = open(copy, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        rz_errmsg_set(errmsg, "cannot create %s: %s", copy, strerror(errno));
        rv = RZ_EIO;
        goto out;
    }
    /* A second process on a live env: LMDB's lock file coordinates it with
     * the node; the copy runs in one read txn of this process. */
    rv = rz_storage_open(data, NULL, &s, errmsg);
    if (rv == 0) {
        rv = rz_storage_copy_to_fd(s, fd, NULL);
        if (rv != 0) {
            rz_errmsg_set(errmsg, "copy of %s: %s", data, rz_strerror(rv));
        }
        rz_storage_close(s);
    }
    if (rv == 0 && fsync(fd) != 0) {
        rv = RZ_EIO;
    }
    close(fd);
    fd = -1;
    if (rv != 0) {
        goto out;
    }
    /* The copy says itself which index it holds. */
    rv = state_measure(scratch, h, errmsg);
    if (rv != 0) {
        goto out;
    }
    in = open(copy, O_RDONLY | O_CLOEXEC);
    if (in < 0 || fstat(in, &st) != 0) {
        rv = RZ_EIO;
        goto out;
    }
    h->payload_bytes = (uint64_t)st.st_size;
    h->created_ms = rz_now_ms();
    rv = copy_hash(in, -1, h->payload_bytes, h->payload_hash);
    if (rv != 0 || lseek(in, 0, SEEK_SET) != 0) {
        rv = rv != 0 ? rv : RZ_EIO;
        goto out;
    }
    snprintf(tmp, sizeof tmp, "%s.partial", file);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        rz_errmsg_set(errmsg, "cannot create %s: %s", tmp, strerror(errno));
        rv = RZ_EIO;
        goto out;
    }
    header_encode(h, head);
    rv = write_all(fd, head, sizeof head);
    if (rv == 0) {
        uint8_t again[32];
        rv = copy_hash(in, fd, h->payload_bytes, again);
        if (rv == 0 && memcmp(again, h->payload_hash, 32) != 0) {
            rz_errmsg_set(errmsg, "the copy changed while it was written");
            rv = RZ_EIO;
        }
    }
    if (rv == 0 && fsync(fd) != 0) {
        rv = RZ_EIO;
    }
    close(fd);
    fd = -1;
    if (rv == 0 && rename(tmp, file) != 0) {
        rz_errmsg_set(errmsg, "cannot rename %s: %s", tmp, strerror(errno));
        rv = RZ_EIO;
    }
    if (rv != 0) {
        (void)unlink(tmp);
        if (errmsg[0] == '\0') {
            rz_errmsg_set(errmsg, "writing %s: %s", file, rz_strerror(rv));
        }
    }
out:
    if (in >= 0) {
        close(in);
    }
    if (fd >= 0) {
        close(fd);
    }
    scratch_remove(scratch);
    return rv;
}

/* Checks FILE end to end: header hash, payload hash, and the payload opened
 * as a state env with the header's applied index and checksums. With
 * extract_dir, leaves the payload there as state.copy. */
static int backup_check(const char *file, backup_header *h,
                        const char *extract_dir, char *errmsg)
{
    uint8_t head[BACKUP_HEADER_BYTES];
    uint8_t hash[32];
    char scratch[CTL_PATH_BYTES];
    char copy[CTL_PATH_BYTES + 32];
    backup_header m;
    struct stat st;
    int in, out = -1;
    int rv;
    in = open(file, O_RDONLY | O_CLOEXEC);
    if (in < 0) {
        rz_errmsg_set(errmsg, "cannot open %s: %s", file, strerror(errno));
        return RZ_ENOTFOUND;
    }
    rv = read_all(in, head, sizeof head);
    if (rv != 0) {
        rz_errmsg_set(errmsg, "%s is too short for a backup", file);
        close(in);
        return RZ_EMALFORMED;
    }
    rv = header_decode(head, h, errmsg);
    if (rv == 0 &&
        (fstat(in, &st) != 0 ||
         (uint64_t)st.st_size != BACKUP_HEADER_BYTES + h->payload_bytes)) {
        rz_errmsg_set(errmsg, "%s is truncated or has trailing bytes", file);
        rv = RZ_ECORRUPT;
    }
    if (rv != 0) {
        close(in);
        return rv;
    }
    if (extract_dir != NULL) {
        snprintf(scratch, sizeof scratch, "%s", extract_dir);
    } else {
        rv = scratch_dir(file, scratch, sizeof scratch, errmsg);
        if (rv != 0) {
            close(in);
            return rv;
        }
    }
    snprintf(copy, sizeof copy, "%s/%s", scratch,
             extract_dir != NULL ? "state.copy" : "state.mdb");
    out = open(copy, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (out < 0) {
        rz_errmsg_set(errmsg, "cannot create %s: %s", copy, strerror(errno));
        rv = RZ_EIO;
        goto out;
    }
    rv = copy_hash(in, out, h->payload_bytes, hash);
    if (rv == 0 && fsync(out) != 0) {
        rv = RZ_EIO;
    }
    close(out);
    if (rv != 0) {
        rz_errmsg_set(errmsg, "reading %s: %s", file, rz_strerror(rv));
        goto out;
    }
    if (memcmp(hash, h->payload_hash, 32) != 0) {
        rz_errmsg_set(errmsg, "the payload of %s is damaged (hash mismatch)",
                      file);
        rv = RZ_ECORRUPT;
        goto out;
    }
    if (extract_dir != NULL) {
        /* The caller installs state.copy; measure it under its final name
         * only after the install. */
        goto out;
    }
    memset(&m, 0, sizeof m);
    rv = state_measure(scratch, &m, errmsg);
    if (rv == 0 && (m.applied_index != h->applied_index ||
                    memcmp(m.checksum, h->checksum, 32) != 0 ||
                    memcmp(m.data_checksum, h->data_checksum, 32) != 0)) {
        rz_errmsg_set(errmsg, "the state in %s does not match its header",
                      file);
        rv = RZ_ECORRUPT;
    }
out:
    close(in);
    if (extract_dir == NULL) {
        scratch_remove(scratch);
    }
    return rv;
}

static void header_print(const char *what, const char *file,
                         const backup_header *h, bool json, bool ok,
                         const char *err)
{
    ctl_out o;
    char cid[33], sum[65], dsum[65];
    memset(&o, 0, sizeof o);
    o.json = json;
    ops_hex(h->cluster_id, 16, cid);
    ops_hex(h->checksum, 32, sum);
    ops_hex(h->data_checksum, 32, dsum);
    ctl_out_str(&o, what, ok ? "ok" : "FAILED");
    ctl_out_str(&o, "file", file);
    if (!ok) {
        ctl_out_str(&o, "error", err);
    } else {
        ctl_out_str(&o, "cluster_id", cid);
        ctl_out_u64(&o, "node_id", h->node_id);
        ctl_out_u64(&o, "applied_index", h->applied_index);
        ctl_out_u64(&o, "payload_bytes", h->payload_bytes);
        ctl_out_u64(&o, "created_ms", h->created_ms);
        ctl_out_str(&o, "checksum", sum);
        ctl_out_str(&o, "data_checksum", dsum);
    }
    ctl_out_end(&o);
}

static void backup_usage(FILE *f)
{
    fprintf(f,
            "usage: ratuszctl backup FILE --data DIR [--json]\n"
            "       ratuszctl backup verify FILE [--json]\n"
            "backup writes a consistent, checksummed copy of the state of the "
            "node whose\ndata dir is DIR (on this machine; the node may keep "
            "running) to FILE.\nverify checks the header, the payload hash, "
            "and that the payload opens as a\nstate env with the recorded "
            "applied index and checksums.\n"
            "exit codes: 0 ok, 1 failed, 2 usage error\n");
}

int ctl_backup_main(int argc, char **argv)
{
    ctl_opt opts[] = {{"--data", true, NULL, false},
                      {"--json", false, NULL, false}};
    const char *pos[2];
    size_t n_pos;
    backup_header h;
    char errmsg[RZ_ERRMSG_BYTES] = "";
    int rv;
    if (ctl_is_help(argc - 1, argv + 1)) {
        backup_usage(stdout);
        return CTL_EXIT_OK;
    }
    rv = ctl_args_parse("backup", argc - 1, argv + 1, opts, 2, pos, 2, &n_pos);
    if (rv != 0) {
        return rv;
    }
    if (rz_crypto_init() != 0) {
        return CTL_EXIT_FAIL;
    }
    memset(&h, 0, sizeof h);
    if (n_pos == 2 && !strcmp(pos[0], "verify")) {
        if (opts[0].seen) {
            return ctl_usage_err("backup", "verify takes no --data");
        }
        rv = backup_check(pos[1], &h, NULL, errmsg);
        header_print("verify", pos[1], &h, opts[1].seen, rv == 0, errmsg);
        return rv == 0 ? CTL_EXIT_OK : CTL_EXIT_FAIL;
    }
    if (n_pos != 1) {
        return ctl_usage_err("backup", "give FILE, or 'verify FILE'");
    }
    if (!opts[0].seen) {
        return ctl_usage_err("backup", "--data DIR (the node's data dir) is "
                                       "required");
    }
    rv = backup_take(pos[0], opts[0].value, &h, errmsg);
    header_print("backup", pos[0], &h, opts[1].seen, rv == 0, errmsg);
    return rv == 0 ? CTL_EXIT_OK : CTL_EXIT_FAIL;
}

/* ---- recover ------------------------------------------------------------ */

/* The raft log of a stopped node: current term, last index and the last
 * entry's term, read by opening a replica on a COPY of its raft.mdb (so
 * nothing of the node's own files is touched), with an id that is not in
 * any configuration (a non-member never campaigns) and a transport that
 * sends nothing. */
typedef struct log_info
{
    uint64_t term;
    uint64_t last_index;
    uint64_t last_term; /* 0 when the last entry is inside a snapshot */
} log_info;

static int no_send(void *data, uint64_t to_id, const char *to_address,
                   const void *frame, size_t len)
{
    (void)data;
    (void)to_id;
    (void)to_address;
    (void)frame;
    (void)len;
    return 0;
}

static int no_apply(void *data, const rz_sm_entry *entries, size_t n,
                    rz_buf *results)
{
    /* Nothing is ever committed to a non-member that hears no leader. */
    (void)data;
    (void)entries;
    (void)n;
    (void)results;
    return RZ_EIO;
}

static uint64_t fixed_applied(void *data)
{
    return *(const uint64_t *)data;
}

static void set_flag(void *arg)
{
    *(bool *)arg = true;
}

static int file_copy(const char *from, const char *to)
{
    struct stat st;
    uint8_t hash[32];
    int in = open(from, O_RDONLY | O_CLOEXEC);
    int out;
    int rv;
    if (in < 0 || fstat(in, &st) != 0) {
        if (in >= 0) {
            close(in);
        }
        return RZ_ENOTFOUND;
    }
    out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (out < 0) {
        close(in);
        return RZ_EIO;
    }
    rv = copy_hash(in, out, (uint64_t)st.st_size, hash);
    close(in);
    close(out);
    return rv;
}

static int log_info_read(const char *dir, uint64_t applied, log_info *out,
                         char *errmsg)
{
    char scratch[CTL_PATH_BYTES];
    char from[CTL_PATH_BYTES + 32], to[CTL_PATH_BYTES + 32];
    rz_transport t = {NULL, no_send};
    rz_replica_options o;
    rz_replica_status st;
    rz_replica *r = NULL;
    uv_loop_t loop;
    bool closed = false;
    int rv;
    memset(out, 0, sizeof *out);
    snprintf(scratch, sizeof scratch, "%s/ratusz-recover-XXXXXX",
             getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
    if (mkdtemp(scratch) == NULL) {
        rz_errmsg_set(errmsg, "mkdtemp: %s", strerror(errno));
        return RZ_EIO;
    }
    snprintf(from, sizeof from, "%s/raft.mdb", dir);
    snprintf(to, sizeof to, "%s/raft.mdb", scratch);
    rv = file_copy(from, to);
    if (rv != 0) {
        rz_errmsg_set(errmsg, "no raft log at %s", from);
        goto out;
    }
    if (uv_loop_init(&loop) != 0) {
        rv = RZ_EIO;
        goto out;
    }
    memset(&o, 0, sizeof o);
    o.id = UINT64_C(0x7fffffffffff0001); /* in no configuration */
    o.address = "127.0.0.1:1/127.0.0.1:1";
    o.dir = scratch;
    o.sm.data = &applied;
    o.sm.apply_batch = no_apply;
    o.sm.applied_index = fixed_applied;
    o.election_timeout_ms = 60000;
    rv = rz_replica_open_uv(&loop, &t, &o, &r, errmsg);
    if (rv == 0) {
        const void *data;
        size_t len;
        rz_replica_status_get(r, &st);
        out->term = st.term;
        out->last_index = st.last_index;
        if (st.last_index > 0 &&
            rz_replica_log_entry(r, st.last_index, &out->last_term, &data,
                                 &len) != 0) {
            out->last_term = 0;
        }
        rz_replica_close(r, set_flag, &closed);
    } else {
        closed = true; /* a failed open frees itself on the loop */
    }
    /* Bounded: closing takes a few loop iterations (the log writer's
     * thread and the timers). */
    for (int i = 0; i < 100000 && uv_run(&loop, UV_RUN_ONCE) != 0; i++) {
    }
    (void)closed;
    (void)uv_loop_close(&loop);
out:
    (void)unlink(to);
    snprintf(to, sizeof to, "%s/raft.mdb-lock", scratch);
    (void)unlink(to);
    (void)rmdir(scratch);
    return rv;
}

/* True when <dir>/ratuszd.pid names a live process. */
static bool node_running(const char *dir)
{
    char p[CTL_PATH_BYTES + 64];
    long pid = 0;
    FILE *f;
    snprintf(p, sizeof p, "%s/ratuszd.pid", dir);
    f = fopen(p, "r");
    if (f == NULL) {
        return false;
    }
    if (fscanf(f, "%ld", &pid) != 1) {
        pid = 0;
    }
    fclose(f);
    return pid > 0 && kill((pid_t)pid, 0) == 0;
}

/* "ID=PEER/CLIENT,..." into members (addresses point into buf). */
static int members_parse(const char *spec, char *buf, size_t size, rz_member *m,
                         size_t *n)
{
    char *save = NULL;
    char *item;
    *n = 0;
    if (strlen(spec) >= size) {
        return RZ_ETOOBIG;
    }
    snprintf(buf, size, "%s", spec);
    for (item = strtok_r(buf, ",", &save); item != NULL;
         item = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(item, '=');
        uint64_t id;
        if (*n == RZ_CONSENSUS_MAX_MEMBERS || eq == NULL) {
            return RZ_EINVAL;
        }
        *eq = '\0';
        if (!ctl_parse_u64(item, &id) || id == 0 ||
            strchr(eq + 1, '/') == NULL ||
            strlen(eq + 1) > RZ_ADDRESS_MAX_BYTES) {
            return RZ_EINVAL;
        }
        for (size_t i = 0; i < *n; i++) {
            if (m[i].id == id) {
                return RZ_EINVAL;
            }
        }
        m[*n].id = id;
        m[*n].address = eq + 1;
        m[*n].voter = true;
        (*n)++;
    }
    return *n > 0 ? 0 : RZ_EINVAL;
}

static void recover_usage(FILE *f)
{
    fprintf(f,
            "usage: ratuszctl recover --data DIR[,DIR...] --members "
            "ID=PEER_H:P/CLIENT_H:P,...\n"
            "                         [--dry-run] [--json]\n"
            "After a cluster lost its quorum for good: with every node "
            "STOPPED, the dry run\nlists each given data dir's applied index "
            "and node id and names the most\nup-to-date one; without "
            "--dry-run exactly one DIR is given and a new\nconfiguration "
            "(--members, usually just that node) is forced onto its log.\n"
            "Start that node, then add fresh nodes with 'ratuszctl member "
            "add'.\n"
            "See docs/operations.md, 'Recovery from quorum loss'.\n"
            "exit codes: 0 ok, 1 failed, 2 usage error\n");
}

int ctl_recover_main(int argc, char **argv)
{
    ctl_opt opts[] = {{"--data", true, NULL, false},
                      {"--members", true, NULL, false},
                      {"--dry-run", false, NULL, false},
                      {"--json", false, NULL, false}};
    const char *pos[1];
    size_t n_pos;
    char dirs[CTL_PATH_BYTES];
    char *dir[CTL_MAX_ENDPOINTS];
    size_t n_dirs = 0;
    char mbuf[4096];
    rz_member members[RZ_CONSENSUS_MAX_MEMBERS];
    size_t n_members = 0;
    char errmsg[RZ_ERRMSG_BYTES] = "";
    char *save = NULL;
    int rv;
    if (ctl_is_help(argc - 1, argv + 1)) {
        recover_usage(stdout);
        return CTL_EXIT_OK;
    }
    rv = ctl_args_parse("recover", argc - 1, argv + 1, opts, 4, pos, 0, &n_pos);
    if (rv != 0) {
        return rv;
    }
    if (!opts[0].seen) {
        return ctl_usage_err("recover", "--data DIR is required");
    }
    if (strlen(opts[0].value) >= sizeof dirs) {
        return ctl_usage_err("recover", "--data is too long");
    }
    snprintf(dirs, sizeof dirs, "%s", opts[0].value);
    for (char *t = strtok_r(dirs, ",", &save); t != NULL;
         t = strtok_r(NULL, ",", &save)) {
        if (n_dirs == CTL_MAX_ENDPOINTS) {
            return ctl_usage_err("recover", "at most %d data dirs",
                                 CTL_MAX_ENDPOINTS);
        }
        dir[n_dirs++] = t;
    }
    if (n_dirs == 0) {
        return ctl_usage_err("recover", "--data names no dir");
    }
    if (!opts[2].seen && n_dirs != 1) {
        return ctl_usage_err("recover", "recover one data dir at a time (run "
                                        "--dry-run to choose it)");
    }
    if (!opts[2].seen && !opts[1].seen) {
        return ctl_usage_err("recover", "--members ID=PEER/CLIENT,... is "
                                        "required");
    }
    if (opts[1].seen && members_parse(opts[1].value, mbuf, sizeof mbuf, members,
                                      &n_members) != 0) {
        return ctl_usage_err("recover", "--members wants "
                                        "ID=PEER_HOST:PORT/CLIENT_HOST:PORT,..."
                                        " with distinct ids");
    }
    if (rz_crypto_init() != 0) {
        return CTL_EXIT_FAIL;
    }
    for (size_t i = 0; i < n_dirs; i++) {
        if (node_running(dir[i])) {
            fprintf(stderr,
                    "ratuszctl recover: the node of %s is running "
                    "(ratuszd.pid): stop every node first.\n",
                    dir[i]);
            return CTL_EXIT_FAIL;
        }
    }
    if (opts[2].seen) {
        ctl_json j;
        size_t best = SIZE_MAX;
        uint64_t best_index = 0;
        backup_header h[CTL_MAX_ENDPOINTS];
        int res[CTL_MAX_ENDPOINTS];
        log_info li[CTL_MAX_ENDPOINTS];
        char err[CTL_MAX_ENDPOINTS][RZ_ERRMSG_BYTES];
        for (size_t i = 0; i < n_dirs; i++) {
            memset(&h[i], 0, sizeof h[i]);
            err[i][0] = '\0';
            node_identity_of(dir[i], &h[i]);
            res[i] = state_measure(dir[i], &h[i], err[i]);
            if (res[i] == 0) {
                res[i] =
                    log_info_read(dir[i], h[i].applied_index, &li[i], err[i]);
            }
            /* Raft's own order (§5.4.1): the higher last term, then the
             * longer log; the applied index breaks ties. */
            if (res[i] == 0 &&
                (best == SIZE_MAX || li[i].last_term > li[best].last_term ||
                 (li[i].last_term == li[best].last_term &&
                  (li[i].last_index > li[best].last_index ||
                   (li[i].last_index == li[best].last_index &&
                    h[i].applied_index > best_index))))) {
                best = i;
                best_index = h[i].applied_index;
            }
        }
        if (opts[3].seen) {
            ctl_json_init(&j, stdout);
            ctl_json_obj_begin(&j, NULL);
            ctl_json_arr_begin(&j, "dirs");
        }
        for (size_t i = 0; i < n_dirs; i++) {
            if (opts[3].seen) {
                ctl_json_obj_begin(&j, NULL);
                ctl_json_str(&j, "data", dir[i]);
                if (res[i] == 0) {
                    ctl_json_u64(&j, "node_id", h[i].node_id);
                    ctl_json_u64(&j, "applied_index", h[i].applied_index);
                    ctl_json_u64(&j, "term", li[i].term);
                    ctl_json_u64(&j, "last_log_term", li[i].last_term);
                    ctl_json_u64(&j, "last_log_index", li[i].last_index);
                } else {
                    ctl_json_str(&j, "error", err[i]);
                }
                ctl_json_bool(&j, "use", i == best);
                ctl_json_obj_end(&j);
            } else if (res[i] == 0) {
                printf("%-32s node %-3llu term %-4llu last log term %-4llu "
                       "index %-9llu applied %-9llu%s\n",
                       dir[i], (unsigned long long)h[i].node_id,
                       (unsigned long long)li[i].term,
                       (unsigned long long)li[i].last_term,
                       (unsigned long long)li[i].last_index,
                       (unsigned long long)h[i].applied_index,
                       i == best ? "  <- use this one" : "");
            } else {
                printf("%-40s unreadable: %s\n", dir[i], err[i]);
            }
        }
        if (opts[3].seen) {
            ctl_json_arr_end(&j);
            ctl_json_obj_end(&j);
            ctl_json_end(&j);
        } else if (best != SIZE_MAX) {
            printf("recover with: ratuszctl recover --data %s --members "
                   "ID=PEER/CLIENT (this node alone)\n",
                   dir[best]);
        }
        return best != SIZE_MAX ? CTL_EXIT_OK : CTL_EXIT_FAIL;
    }
    rv = rz_replica_recover(dir[0], members, n_members, errmsg);
    if (rv != 0) {
        fprintf(stderr, "ratuszctl recover: %s\n",
                errmsg[0] ? errmsg : rz_strerror(rv));
        return CTL_EXIT_FAIL;
    }
    printf("recovered %s: its log now ends with a configuration of %zu "
           "member(s); start this node alone, then add the others with "
           "'ratuszctl member add'\n",
           dir[0], n_members);
    return CTL_EXIT_OK;
}

/* ---- compact ------------------------------------------------------------ */

int ctl_compact_main(int argc, char **argv)
{
    ctl_opt opts[] = {{"--data", true, NULL, false},
                      {"--json", false, NULL, false}};
    const char *pos[1];
    size_t n_pos;
    char path[CTL_PATH_BYTES + 32];
    char copy[CTL_PATH_BYTES + 32];
    backup_header before, after;
    struct stat st;
    uint64_t size_before = 0, size_after = 0;
    char errmsg[RZ_ERRMSG_BYTES] = "";
    rz_storage *s = NULL;
    ctl_out o;
    int fd;
    int rv;
    if (ctl_is_help(argc - 1, argv + 1)) {
        printf("usage: ratuszctl compact --data DIR [--json]\n"
               "Rewrites the state env of a STOPPED node compacted (a copy "
               "without free pages,\nchecked, then renamed over state.mdb). "
               "Compact one node at a time, followers\nfirst (move the "
               "leader away with 'ratuszctl leader transfer').\n"
               "exit codes: 0 ok, 1 failed, 2 usage error\n");
        return CTL_EXIT_OK;
    }
    rv = ctl_args_parse("compact", argc - 1, argv + 1, opts, 2, pos, 0, &n_pos);
    if (rv != 0) {
        return rv;
    }
    if (!opts[0].seen) {
        return ctl_usage_err("compact", "--data DIR is required");
    }
    if (rz_crypto_init() != 0) {
        return CTL_EXIT_FAIL;
    }
    if (node_running(opts[0].value)) {
        fprintf(stderr,
                "ratuszctl compact: the node of %s is running "
                "(ratuszd.pid): stop it first.\n",
                opts[0].value);
        return CTL_EXIT_FAIL;
    }
    snprintf(path, sizeof path, "%s/state.mdb", opts[0].value);
    if (stat(path, &st) != 0) {
        fprintf(stderr, "ratuszctl compact: no state env at %s.\n", path);
        return CTL_EXIT_FAIL;
    }
    size_before = (uint64_t)st.st_size;
    memset(&before, 0, sizeof before);
    memset(&after, 0, sizeof after);
    rv = state_measure(opts[0].value, &before, errmsg);
    snprintf(copy, sizeof copy, "%s/state.mdb.compact", opts[0].value);
    if (rv == 0) {
        fd = open(copy, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0) {
            rz_errmsg_set(errmsg, "cannot create %s: %s", copy,
                          strerror(errno));
            rv = RZ_EIO;
        } else {
            rv = rz_storage_open(opts[0].value, NULL, &s, errmsg);
            if (rv == 0) {
                rv = rz_storage_copy_to_fd(s, fd, NULL);
                rz_storage_close(s);
            }
            if (rv == 0 && fsync(fd) != 0) {
                rv = RZ_EIO;
            }
            close(fd);
        }
    }
    if (rv == 0) {
        rv = rz_storage_install_copy(opts[0].value, copy);
    }
    if (rv == 0) {
        rv = state_measure(opts[0].value, &after, errmsg);
    }
    if (rv == 0 && (after.applied_index != before.applied_index ||
                    memcmp(after.checksum, before.checksum, 32) != 0)) {
        rz_errmsg_set(errmsg, "the compacted env does not match the old one");
        rv = RZ_ECORRUPT;
    }
    (void)unlink(copy);
    if (rv == 0 && stat(path, &st) == 0) {
        size_after = (uint64_t)st.st_size;
    }
    memset(&o, 0, sizeof o);
    o.json = opts[1].seen;
    ctl_out_str(&o, "compact", rv == 0 ? "ok" : "FAILED");
    ctl_out_str(&o, "data", opts[0].value);
    if (rv != 0) {
        ctl_out_str(&o, "error", errmsg[0] ? errmsg : rz_strerror(rv));
    } else {
        ctl_out_u64(&o, "applied_index", after.applied_index);
        ctl_out_u64(&o, "bytes_before", size_before);
        ctl_out_u64(&o, "bytes_after", size_after);
    }
    ctl_out_end(&o);
    return rv == 0 ? CTL_EXIT_OK : CTL_EXIT_FAIL;
}

/* ---- restore ------------------------------------------------------------ */

/* Credentials made by restore live this long (renew with `keys issue`). */
#define RESTORE_CRED_DAYS 365u
#define RESTORE_MS_PER_DAY ((uint64_t)24u * 3600u * 1000u)
/* Most directory entries looked at to call a dir empty. */
#define RESTORE_DIR_SCAN_MAX 4u

/* Files restore may create in the data dir, removed again on failure. */
static const char *const restore_files[] = {
    "state.copy",    "state.mdb",     "state.mdb-lock", "raft.mdb",
    "raft.mdb-lock", "node.identity", "ratuszd.conf"};

typedef struct restore_ctx
{
    const char *data;
    char keys[CTL_PATH_BYTES];
    char conf[CTL_PATH_BYTES + 32];
    char op_identity[CTL_PATH_BYTES + 32];
    bool made_data, made_keys, wrote_key, wrote_op;
} restore_ctx;

static void restore_undo(const restore_ctx *c)
{
    for (size_t i = 0; i < sizeof restore_files / sizeof restore_files[0];
         i++) {
        rm_quiet(c->data, restore_files[i]);
    }
    if (c->made_data) {
        (void)rmdir(c->data);
    }
    if (c->wrote_key) {
        rm_quiet(c->keys, "cluster.key");
    }
    if (c->wrote_op) {
        rm_quiet(c->keys, "operator.identity");
    }
    if (c->made_keys) {
        (void)rmdir(c->keys);
    }
}

/* 1 when dir holds nothing but . and .., 0 when it holds something, -1
 * when it is not a readable directory. */
static int dir_empty(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int empty = 1;
    if (d == NULL) {
        return -1;
    }
    /* Bounded: the third real entry already answers the question. */
    for (unsigned i = 0; i < RESTORE_DIR_SCAN_MAX && (e = readdir(d)) != NULL;
         i++) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            empty = 0;
            break;
        }
    }
    closedir(d);
    return empty;
}

/* The data dir: created (one level) when missing, refused when not empty. */
static int restore_data_dir(restore_ctx *c, char *errmsg)
{
    struct stat st;
    if (stat(c->data, &st) != 0) {
        if (mkdir(c->data, 0700) != 0) {
            rz_errmsg_set(errmsg, "cannot create %s: %s", c->data,
                          strerror(errno));
            return RZ_EIO;
        }
        c->made_data = true;
        return 0;
    }
    if (dir_empty(c->data) != 1) {
        rz_errmsg_set(errmsg,
                      "%s is not an empty directory: restore only into a "
                      "new or empty data dir (nothing was changed)",
                      c->data);
        return RZ_EEXISTS;
    }
    return 0;
}

/* The keys dir: its cluster.key and operator.identity must not exist (a
 * restore never overwrites a key). */
static int restore_keys_dir(restore_ctx *c, char *errmsg)
{
    char p[CTL_PATH_BYTES + 32];
    struct stat st;
    snprintf(p, sizeof p, "%s/cluster.key", c->keys);
    if (access(p, F_OK) == 0) {
        rz_errmsg_set(errmsg,
                      "%s exists: restore creates a NEW cluster key and "
                      "never overwrites one; give another --keys DIR",
                      p);
        return RZ_EEXISTS;
    }
    if (access(c->op_identity, F_OK) == 0) {
        rz_errmsg_set(errmsg, "%s exists: give another --keys DIR",
                      c->op_identity);
        return RZ_EEXISTS;
    }
    if (stat(c->keys, &st) != 0) {
        if (mkdir(c->keys, 0700) != 0) {
            rz_errmsg_set(errmsg, "cannot create %s: %s", c->keys,
                          strerror(errno));
            return RZ_EIO;
        }
        c->made_keys = true;
    } else if (!S_ISDIR(st.st_mode)) {
        rz_errmsg_set(errmsg, "%s is not a directory", c->keys);
        return RZ_EINVAL;
    }
    return 0;
}

/* A new cluster key, the node's identity in the data dir and an operator
 * identity beside the key. */
static int restore_identities(restore_ctx *c, uint64_t node_id,
                              rz_cluster_pub *pub, char *errmsg)
{
    rz_cluster_key key;
    rz_identity id;
    char p[CTL_PATH_BYTES + 32];
    uint64_t expiry = rz_now_ms() + RESTORE_CRED_DAYS * RESTORE_MS_PER_DAY;
    char name[32];
    int rv;
    rz_cluster_key_generate(&key);
    *pub = key.pub;
    snprintf(p, sizeof p, "%s/cluster.key", c->keys);
    rv = rz_cluster_key_write(p, &key, errmsg);
    if (rv == 0) {
        c->wrote_key = true;
        snprintf(name, sizeof name, "n%llu", (unsigned long long)node_id);
        rv = rz_identity_issue(&key, RZ_ROLE_NODE, name, node_id, expiry, &id,
                               errmsg);
        if (rv == 0) {
            snprintf(p, sizeof p, "%s/node.identity", c->data);
            rv = rz_identity_write(p, &id, errmsg);
            rz_identity_wipe(&id);
        }
    }
    if (rv == 0) {
        rv = rz_identity_issue(&key, RZ_ROLE_OPERATOR, "operator", 0, expiry,
                               &id, errmsg);
        if (rv == 0) {
            rv = rz_identity_write(c->op_identity, &id, errmsg);
            c->wrote_op = rv == 0;
            rz_identity_wipe(&id);
        }
    }
    rz_cluster_key_wipe(&key);
    return rv;
}

static int restore_config(restore_ctx *c, uint64_t node_id, const char *peer,
                          const char *client, const char *metrics, char *errmsg)
{
    char abs[CTL_PATH_BYTES];
    FILE *f;
    if (realpath(c->data, abs) == NULL) {
        rz_errmsg_set(errmsg, "realpath %s: %s", c->data, strerror(errno));
        return RZ_EIO;
    }
    f = fopen(c->conf, "wx");
    if (f == NULL) {
        rz_errmsg_set(errmsg, "cannot create %s: %s", c->conf, strerror(errno));
        return RZ_EIO;
    }
    fprintf(f,
            "# Written by `ratuszctl restore`: a single-node cluster seeded "
            "from a backup.\n# Grow it with `ratuszctl member add`.\n"
            "[node]\nid = %llu\ndata_dir = %s\nclient_listen = %s\n"
            "peer_listen = %s\nmetrics_listen = %s\n"
            "[cluster]\nmembers = %llu=%s/%s\n",
            (unsigned long long)node_id, abs, client, peer, metrics,
            (unsigned long long)node_id, peer, client);
    if (fclose(f) != 0) {
        rz_errmsg_set(errmsg, "cannot write %s: %s", c->conf, strerror(errno));
        return RZ_EIO;
    }
    return 0;
}

/* Every step of restore; on failure *c says what to undo. */
static int restore_run(restore_ctx *c, const char *file, uint64_t node_id,
                       const char *peer, const char *client,
                       const char *metrics, backup_header *h,
                       rz_cluster_pub *pub, char *errmsg)
{
    char copy[CTL_PATH_BYTES + 32];
    char address[2 * CTL_ADDR_BYTES + 2];
    backup_header m;
    rz_member member;
    int rv = restore_data_dir(c, errmsg);
    if (rv == 0) {
        rv = restore_keys_dir(c, errmsg);
    }
    /* The payload, hash-checked on the way, then made the state env and
     * measured under its final name: the same checks as `backup verify`. */
    if (rv == 0) {
        rv = backup_check(file, h, c->data, errmsg);
    }
    if (rv == 0) {
        snprintf(copy, sizeof copy, "%s/state.copy", c->data);
        rv = rz_storage_install_copy(c->data, copy);
        if (rv != 0) {
            rz_errmsg_set(errmsg, "install the state copy into %s: %s", c->data,
                          rz_strerror(rv));
        }
    }
    if (rv == 0) {
        memset(&m, 0, sizeof m);
        rv = state_measure(c->data, &m, errmsg);
    }
    if (rv == 0 && (m.applied_index != h->applied_index ||
                    memcmp(m.checksum, h->checksum, 32) != 0 ||
                    memcmp(m.data_checksum, h->data_checksum, 32) != 0)) {
        rz_errmsg_set(errmsg, "the state in %s does not match its header",
                      file);
        rv = RZ_ECORRUPT;
    }
    if (rv == 0 && h->applied_index == 0) {
        rz_errmsg_set(errmsg,
                      "%s holds an empty state (applied index 0): "
                      "start a new cluster instead",
                      file);
        rv = RZ_EINVAL;
    }
    if (rv == 0) {
        rv = restore_identities(c, node_id, pub, errmsg);
    }
    if (rv == 0) {
        /* The log starts after the restored state, or the node would skip
         * its first applied_index new commands as already applied. */
        snprintf(address, sizeof address, "%s/%s", peer, client);
        member.id = node_id;
        member.address = address;
        member.voter = true;
        rv = rz_replica_bootstrap_at(c->data, &member, 1, h->applied_index,
                                     h->checksum, errmsg);
    }
    if (rv == 0) {
        rv = restore_config(c, node_id, peer, client, metrics, errmsg);
    }
    return rv;
}

static void restore_usage(FILE *f)
{
    fprintf(
        f,
        "usage: ratuszctl restore FILE --data DIR [--keys DIR] [--node-id N]\n"
        "                         [--peer H:P] [--client H:P] [--metrics "
        "H:P|off] [--json]\n"
        "Seeds a NEW single-node cluster from a backup: verifies FILE (as "
        "'backup verify'),\ninstalls its state into DIR (new or empty), "
        "creates a new cluster key (so old\nclients and nodes are refused), "
        "the node's identity (DIR/node.identity) and an\noperator identity, "
        "writes the raft log so it continues after the backup's\napplied "
        "index, and DIR/ratuszd.conf. --keys defaults to DIR/../keys (its\n"
        "cluster.key is never overwritten); --node-id 1, --peer "
        "127.0.0.1:7500,\n--client 127.0.0.1:7400, --metrics off.\n"
        "Then: ratuszd --config DIR/ratuszd.conf, and 'ratuszctl member add' "
        "for the others.\n"
        "exit codes: 0 ok, 1 failed (nothing is left behind), 2 usage "
        "error\n");
}

static bool host_port_ok(const char *s)
{
    const char *colon = strrchr(s, ':');
    uint64_t port;
    return colon != NULL && colon != s && strlen(s) < CTL_ADDR_BYTES &&
           strchr(s, '/') == NULL && strchr(s, ',') == NULL &&
           ctl_parse_u64(colon + 1, &port) && port > 0 && port < 65536;
}

int ctl_restore_main(int argc, char **argv)
{
    ctl_opt opts[] = {
        {"--data", true, NULL, false},    {"--keys", true, NULL, false},
        {"--node-id", true, NULL, false}, {"--peer", true, NULL, false},
        {"--client", true, NULL, false},  {"--metrics", true, NULL, false},
        {"--json", false, NULL, false}};
    const char *pos[1];
    size_t n_pos;
    restore_ctx c;
    backup_header h;
    rz_cluster_pub pub;
    uint64_t node_id = 1;
    const char *peer, *client, *metrics;
    char errmsg[RZ_ERRMSG_BYTES] = "";
    char next[3 * CTL_PATH_BYTES];
    ctl_out o;
    int rv;
    if (ctl_is_help(argc - 1, argv + 1)) {
        restore_usage(stdout);
        return CTL_EXIT_OK;
    }
    rv = ctl_args_parse("restore", argc - 1, argv + 1, opts, 7, pos, 1, &n_pos);
    if (rv != 0) {
        return rv;
    }
    if (n_pos != 1) {
        return ctl_usage_err("restore", "give the backup FILE");
    }
    if (!opts[0].seen || opts[0].value[0] == '\0') {
        return ctl_usage_err("restore", "--data DIR (the new node's data "
                                        "dir) is required");
    }
    if (opts[2].seen && (!ctl_parse_u64(opts[2].value, &node_id) ||
                         node_id == 0 || node_id > INT64_MAX)) {
        return ctl_usage_err("restore", "--node-id must be a whole number "
                                        "above 0");
    }
    peer = opts[3].seen ? opts[3].value : "127.0.0.1:7500";
    client = opts[4].seen ? opts[4].value : "127.0.0.1:7400";
    metrics = opts[5].seen ? opts[5].value : "off";
    if (!host_port_ok(peer) || !host_port_ok(client) ||
        (strcmp(metrics, "off") != 0 && !host_port_ok(metrics))) {
        return ctl_usage_err("restore", "--peer, --client and --metrics want "
                                        "HOST:PORT (--metrics also 'off')");
    }
    if (strlen(peer) + 1 + strlen(client) > RZ_ADDRESS_MAX_BYTES) {
        return ctl_usage_err("restore",
                             "--peer and --client together are "
                             "longer than %u bytes",
                             RZ_ADDRESS_MAX_BYTES);
    }
    memset(&c, 0, sizeof c);
    c.data = opts[0].value;
    if (strlen(c.data) >= CTL_PATH_BYTES - 64) {
        return ctl_usage_err("restore", "--data is too long");
    }
    if (opts[1].seen) {
        if (strlen(opts[1].value) >= CTL_PATH_BYTES - 64) {
            return ctl_usage_err("restore", "--keys is too long");
        }
        snprintf(c.keys, sizeof c.keys, "%s", opts[1].value);
    } else {
        /* DIR/../keys without resolving DIR (it may not exist yet). */
        snprintf(c.keys, sizeof c.keys, "%s", c.data);
        size_t len = strlen(c.keys);
        while (len > 1 && c.keys[len - 1] == '/') {
            c.keys[--len] = '\0';
        }
        char *slash = strrchr(c.keys, '/');
        if (slash == NULL) {
            snprintf(c.keys, sizeof c.keys, "keys");
        } else {
            snprintf(slash + 1, sizeof c.keys - (size_t)(slash + 1 - c.keys),
                     "keys");
        }
    }
    snprintf(c.conf, sizeof c.conf, "%s/ratuszd.conf", c.data);
    snprintf(c.op_identity, sizeof c.op_identity, "%s/operator.identity",
             c.keys);
    if (rz_crypto_init() != 0) {
        return CTL_EXIT_FAIL;
    }
    memset(&h, 0, sizeof h);
    memset(&pub, 0, sizeof pub);
    rv = restore_run(&c, pos[0], node_id, peer, client, metrics, &h, &pub,
                     errmsg);
    if (rv != 0) {
        restore_undo(&c);
    }
    memset(&o, 0, sizeof o);
    o.json = opts[6].seen;
    ctl_out_str(&o, "restore", rv == 0 ? "ok" : "FAILED");
    ctl_out_str(&o, "file", pos[0]);
    ctl_out_str(&o, "data", c.data);
    if (rv != 0) {
        ctl_out_str(&o, "error", errmsg[0] ? errmsg : rz_strerror(rv));
        ctl_out_end(&o);
        return CTL_EXIT_FAIL;
    }
    ctl_out_hex(&o, "cluster_id", pub.id, sizeof pub.id);
    ctl_out_hex(&o, "source_cluster_id", h.cluster_id, sizeof h.cluster_id);
    ctl_out_u64(&o, "node_id", node_id);
    ctl_out_u64(&o, "applied_index", h.applied_index);
    ctl_out_hex(&o, "checksum", h.checksum, 32);
    ctl_out_hex(&o, "data_checksum", h.data_checksum, 32);
    ctl_out_str(&o, "keys", c.keys);
    ctl_out_str(&o, "operator_identity", c.op_identity);
    ctl_out_str(&o, "config", c.conf);
    snprintf(next, sizeof next,
             "ratuszd --config %s; then ratuszctl member add (with "
             "--identity %s) for the other nodes",
             c.conf, c.op_identity);
    ctl_out_str(&o, "next", next);
    ctl_out_end(&o);
    return CTL_EXIT_OK;
}
