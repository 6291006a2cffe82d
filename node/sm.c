/* storage/ bound to consensus's rz_sm (sm.h). */
#include "node/sm.h"

#include <stdio.h>
#include <string.h>

/* ---- Over an rz_storage pointer ------------------------------------------ */

static int st_apply_batch(rz_storage *st, const rz_sm_entry *e, size_t n,
                          rz_buf *results)
{
    rz_storage_entry se[RZ_PROPOSE_BATCH_MAX];
    size_t i;

    RZ_PRE(n <= RZ_PROPOSE_BATCH_MAX);
    if (st == NULL) {
        return RZ_EIO; /* an install lost the env: stop applying */
    }
    for (i = 0; i < n; i++) {
        se[i].index = e[i].index;
        se[i].cmd = e[i].cmd;
        se[i].cmd_len = e[i].len;
    }
    return rz_storage_apply_batch(st, se, n, results);
}

static int st_copy(rz_storage *st, int fd, uint64_t *applied_index,
                   uint8_t checksum[32])
{
    uint64_t at = 0;
    int rv;
    if (st == NULL) {
        return RZ_EIO;
    }
    /* One loop turn: no apply between the copy and the checksum, so the
     * checksum is the copy's. */
    rv = rz_storage_copy_to_fd(st, fd, applied_index);
    if (rv == 0) {
        rv = rz_storage_checksum(st, checksum, &at);
    }
    if (rv == 0 && at != *applied_index) {
        rv = RZ_EIO;
    }
    return rv;
}

static int sm_apply_batch(void *data, const rz_sm_entry *e, size_t n,
                          rz_buf *results)
{
    return st_apply_batch(data, e, n, results);
}

static uint64_t sm_applied_index(void *data)
{
    return rz_storage_applied_index(data);
}

static int sm_checksum(void *data, uint8_t out[32], uint64_t *applied_index)
{
    return rz_storage_checksum(data, out, applied_index);
}

static int sm_sync(void *data)
{
    return rz_storage_sync(data);
}

static int sm_copy(void *data, int fd, uint64_t *applied_index,
                   uint8_t checksum[32])
{
    return st_copy(data, fd, applied_index, checksum);
}

static int sm_install_refused(void *data, const char *path,
                              uint64_t applied_index,
                              const uint8_t checksum[32])
{
    (void)data;
    (void)path;
    (void)applied_index;
    (void)checksum;
    rz_log(RZ_LOG_ERROR,
           "cannot install a state transfer: the node binds its state "
           "with rz_node_sm_bind; use rz_node_state_bind",
           NULL);
    return RZ_EINVAL;
}

void rz_node_sm_bind(rz_storage *st, rz_sm *out)
{
    RZ_PRE(st != NULL && out != NULL);
    memset(out, 0, sizeof *out);
    out->data = st;
    out->apply_batch = sm_apply_batch;
    out->applied_index = sm_applied_index;
    out->checksum = sm_checksum;
    out->sync = sm_sync;
    out->copy = sm_copy;
    out->install = sm_install_refused;
}

/* ---- Install ------------------------------------------------------------- */

/* The directory part of path (path ends in "/state.mdb"). */
static int parent_of(const char *path, char *out, size_t out_size)
{
    const char *slash = strrchr(path, '/');
    size_t n;
    if (slash == NULL || strcmp(slash, "/state.mdb") != 0) {
        return RZ_EINVAL;
    }
    n = (size_t)(slash - path);
    if (n == 0 || n >= out_size) {
        return RZ_EINVAL;
    }
    memcpy(out, path, n);
    out[n] = '\0';
    return 0;
}

/* Opens the copy where it lies and compares its applied index and state
 * checksum with what the leader announced. */
static int copy_verify(const char *path, const rz_storage_options *opts,
                       uint64_t applied_index, const uint8_t checksum[32],
                       char *errmsg)
{
    char cdir[RZ_NODE_STATE_DIR_BYTES];
    rz_storage *c = NULL;
    uint8_t sum[32];
    uint64_t at = 0;
    int rv = parent_of(path, cdir, sizeof cdir);
    if (rv != 0) {
        rz_errmsg_set(errmsg, "state copy path %s is not <dir>/state.mdb",
                      path);
        return rv;
    }
    rv = rz_storage_open(cdir, opts, &c, errmsg);
    if (rv != 0) {
        return RZ_ECORRUPT;
    }
    rv = rz_storage_checksum(c, sum, &at);
    rz_storage_close(c);
    if (rv != 0) {
        return RZ_ECORRUPT;
    }
    if (at != applied_index || memcmp(sum, checksum, 32) != 0) {
        rz_errmsg_set(errmsg,
                      "state copy holds applied index %llu, expected %llu "
                      "with the announced checksum",
                      (unsigned long long)at,
                      (unsigned long long)applied_index);
        return RZ_ECORRUPT;
    }
    return 0;
}

int rz_node_state_install(rz_storage **st, const char *dir,
                          const rz_storage_options *opts, const char *path,
                          uint64_t applied_index, const uint8_t checksum[32],
                          char *errmsg)
{
    int rv;
    int rv2;

    RZ_PRE(st != NULL && dir != NULL && path != NULL && checksum != NULL);
    rv = copy_verify(path, opts, applied_index, checksum, errmsg);
    if (rv != 0) {
        return rv;
    }
    rz_storage_close(*st);
    *st = NULL;
    rv = rz_storage_install_copy(dir, path);
    if (rv != 0) {
        rz_errmsg_set(errmsg, "install the state copy into %s: %s", dir,
                      rz_strerror(rv));
    }
    /* Reopen whichever env is in place now (the copy, or the old one). */
    rv2 = rz_storage_open(dir, opts, st, rv == 0 ? errmsg : NULL);
    if (rv2 != 0) {
        *st = NULL;
        return rv != 0 ? rv : rv2;
    }
    if (rv == 0 && rz_storage_applied_index(*st) != applied_index) {
        rz_errmsg_set(errmsg, "the installed state reopened at %llu",
                      (unsigned long long)rz_storage_applied_index(*st));
        rv = RZ_ECORRUPT;
    }
    return rv;
}

/* ---- Over an rz_node_state ----------------------------------------------- */

int rz_node_state_open(rz_node_state *ns, const char *dir,
                       const rz_storage_options *opts, char *errmsg)
{
    RZ_PRE(ns != NULL && dir != NULL);
    memset(ns, 0, sizeof *ns);
    if (strlen(dir) >= sizeof ns->dir) {
        rz_errmsg_set(errmsg, "data directory path too long");
        return RZ_EINVAL;
    }
    snprintf(ns->dir, sizeof ns->dir, "%s", dir);
    if (opts != NULL) {
        ns->opts = *opts;
    }
    return rz_storage_open(dir, &ns->opts, &ns->st, errmsg);
}

void rz_node_state_close(rz_node_state *ns)
{
    if (ns == NULL) {
        return;
    }
    rz_storage_close(ns->st);
    ns->st = NULL;
}

static int ns_apply_batch(void *data, const rz_sm_entry *e, size_t n,
                          rz_buf *results)
{
    rz_node_state *ns = data;
    return st_apply_batch(ns->st, e, n, results);
}

static uint64_t ns_applied_index(void *data)
{
    rz_node_state *ns = data;
    return ns->st != NULL ? rz_storage_applied_index(ns->st) : 0;
}

static int ns_checksum(void *data, uint8_t out[32], uint64_t *applied_index)
{
    rz_node_state *ns = data;
    if (ns->st == NULL) {
        return RZ_EIO;
    }
    return rz_storage_checksum(ns->st, out, applied_index);
}

static int ns_sync(void *data)
{
    rz_node_state *ns = data;
    return ns->st != NULL ? rz_storage_sync(ns->st) : RZ_EIO;
}

static int ns_copy(void *data, int fd, uint64_t *applied_index,
                   uint8_t checksum[32])
{
    rz_node_state *ns = data;
    return st_copy(ns->st, fd, applied_index, checksum);
}

static int ns_install(void *data, const char *path, uint64_t applied_index,
                      const uint8_t checksum[32])
{
    rz_node_state *ns = data;
    char errmsg[RZ_ERRMSG_BYTES];
    int rv;
    errmsg[0] = '\0';
    if (ns->st == NULL) {
        return RZ_EIO;
    }
    rv = rz_node_state_install(&ns->st, ns->dir, &ns->opts, path, applied_index,
                               checksum, errmsg);
    if (rv != 0) {
        char q[RZ_ERRMSG_BYTES + 8];
        rz_log(RZ_LOG_ERROR, "state transfer install failed", "err=%s",
               rz_log_quote(q, sizeof q, errmsg));
    }
    return rv;
}

void rz_node_state_bind(rz_node_state *ns, rz_sm *out)
{
    RZ_PRE(ns != NULL && ns->st != NULL && out != NULL);
    memset(out, 0, sizeof *out);
    out->data = ns;
    out->apply_batch = ns_apply_batch;
    out->applied_index = ns_applied_index;
    out->checksum = ns_checksum;
    out->sync = ns_sync;
    out->copy = ns_copy;
    out->install = ns_install;
}
