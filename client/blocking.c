/* The blocking, thread-safe API of ratusz.h: a thin layer over the engine
 * of core.c, which runs on an internal thread with its own libuv loop. A
 * calling thread encodes its request itself, queues the op under the
 * handle's mutex, wakes the loop with uv_async_send and waits on its own
 * condition variable; the loop thread decodes the reply straight into the
 * caller's output and signals. */
#include "client/core.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A watch stops its stream (WATCH_CANCEL) while this many events wait for
 * the reader, and starts it again from where it stopped once the reader is
 * below the low mark: memory stays bounded without pausing the connection
 * that other calls share. */
#define WATCH_QUEUE_HIGH_EVENTS 1000u
#define WATCH_QUEUE_LOW_EVENTS 250u

typedef int (*decode_fn)(const uint8_t *body, size_t n, void *out);

/* One blocking call in flight: on the caller's stack. */
typedef struct sync_call
{
    rz_client_op op;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool done;
    int status;
    decode_fn dec;
    void *out;
} sync_call;

struct ratusz_watch;
static void watch_control(struct ratusz_watch *w);
static void watch_done(rz_client_op *op, int status, const uint8_t *body,
                       size_t n);

/* ---------------------------------------------------------------------------
 * The loop thread
 * ------------------------------------------------------------------------ */

static void *loop_main(void *arg)
{
    ratusz *h = arg;
    (void)uv_run(h->loop, UV_RUN_DEFAULT);
    return NULL;
}

static void on_async_closed(uv_handle_t *handle)
{
    ratusz *h = handle->data;
    RZ_ASSERT(h->handles_open > 0);
    h->handles_open--;
}

static void on_async(uv_async_t *a)
{
    ratusz *h = a->data;
    rz_client_op *q;
    bool stopping;
    pthread_mutex_lock(&h->mu);
    q = h->sq_head;
    h->sq_head = h->sq_tail = NULL;
    stopping = h->stopping;
    pthread_mutex_unlock(&h->mu);
    while (q != NULL) {
        rz_client_op *op = q;
        int rv;
        q = q->sq_next;
        op->sq_next = NULL;
        rv = rz_client_op_start(h, op, op->endpoint);
        if (rv != 0) {
            if (op->outcome != NULL) {
                memset(op->outcome, 0, sizeof(*op->outcome));
                op->outcome->code = rv;
                rz_errmsg_set(op->outcome->message, "%s", rz_strerror(rv));
            }
            op->done(op, rv, NULL, 0);
        }
    }
    /* Requests of watch readers (resume, cancel). */
    for (rz_client_op *op = h->ops; op != NULL && !h->closing;) {
        rz_client_op *next = op->next;
        if (op->done == watch_done) {
            watch_control(op->data);
        }
        op = next;
    }
    if (stopping && !h->closing) {
        rz_client_core_close(h);
        uv_close((uv_handle_t *)&h->async, on_async_closed);
    }
}

int ratusz_open(const ratusz_options *opts, ratusz **out, char *errmsg)
{
    sigset_t pipe_set;
    sigset_t old_set;
    ratusz *h;
    int started;
    int rv;
    if (out == NULL) {
        return RZ_EINVAL;
    }
    h = calloc(1, sizeof(*h));
    if (h == NULL) {
        return RZ_ENOMEM;
    }
    if (uv_loop_init(&h->own_loop) != 0) {
        free(h);
        return RZ_EIO;
    }
    rv = rz_client_core_init(h, &h->own_loop, opts, errmsg);
    if (rv != 0) {
        goto err_after_loop;
    }
    if (uv_async_init(&h->own_loop, &h->async, on_async) != 0) {
        rv = RZ_EIO;
        goto err_after_core;
    }
    h->async.data = h;
    h->handles_open++;
    h->blocking = true;
    if (pthread_mutex_init(&h->mu, NULL) != 0) {
        rv = RZ_ENOMEM;
        goto err_after_async;
    }
    /* The loop thread writes to sockets a node may have reset: with
     * SIGPIPE blocked in that thread (it inherits the mask from here), a
     * write to a dead connection fails with EPIPE instead of killing the
     * caller's process. The caller's own mask is restored at once. */
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old_set);
    started = pthread_create(&h->thread, NULL, loop_main, h);
    pthread_sigmask(SIG_SETMASK, &old_set, NULL);
    if (started != 0) {
        rv = RZ_ENOMEM;
        if (errmsg != NULL) {
            rz_errmsg_set(errmsg, "cannot start the client thread");
        }
        goto err_after_mutex;
    }
    *out = h;
    return 0;

err_after_mutex:
    pthread_mutex_destroy(&h->mu);
err_after_async:
    uv_close((uv_handle_t *)&h->async, NULL);
err_after_core:
    rz_client_core_close(h);
    (void)uv_run(&h->own_loop, UV_RUN_DEFAULT);
    rz_identity_wipe(&h->id);
err_after_loop:
    (void)uv_loop_close(&h->own_loop);
    free(h);
    return rv;
}

void ratusz_close(ratusz *h)
{
    if (h == NULL) {
        return;
    }
    RZ_PRE(h->blocking);
    pthread_mutex_lock(&h->mu);
    h->stopping = true;
    pthread_mutex_unlock(&h->mu);
    uv_async_send(&h->async);
    pthread_join(h->thread, NULL);
    RZ_ASSERT(h->handles_open == 0);
    (void)uv_loop_close(&h->own_loop);
    pthread_mutex_destroy(&h->mu);
    rz_identity_wipe(&h->id);
    free(h);
}

/* Queues a prepared op for the loop thread. RZ_ECANCELED once closing. */
static int submit(ratusz *h, rz_client_op *op)
{
    pthread_mutex_lock(&h->mu);
    if (h->stopping) {
        pthread_mutex_unlock(&h->mu);
        rz_client_op_discard(op);
        return RZ_ECANCELED;
    }
    op->sq_next = NULL;
    if (h->sq_tail != NULL) {
        h->sq_tail->sq_next = op;
    } else {
        h->sq_head = op;
    }
    h->sq_tail = op;
    pthread_mutex_unlock(&h->mu);
    uv_async_send(&h->async);
    return 0;
}

/* ---------------------------------------------------------------------------
 * Blocking calls
 * ------------------------------------------------------------------------ */

static void sync_done(rz_client_op *op, int status, const uint8_t *body,
                      size_t n)
{
    sync_call *sc = op->data;
    if (status == 0 && sc->dec != NULL) {
        status = sc->dec(body, n, sc->out);
        if (status != 0) {
            if (status == RZ_EMALFORMED) {
                status = RZ_EPROTO;
            }
            if (op->outcome != NULL) {
                op->outcome->code = status;
                rz_errmsg_set(op->outcome->message,
                              "the reply from %s does not decode",
                              op->outcome->endpoint);
            }
        }
    }
    pthread_mutex_lock(&sc->mu);
    sc->status = status;
    sc->done = true;
    pthread_cond_signal(&sc->cv);
    pthread_mutex_unlock(&sc->mu);
}

static void outcome_local(const ratusz_call *call, int rv, const char *msg)
{
    if (call != NULL && call->outcome != NULL) {
        memset(call->outcome, 0, sizeof(*call->outcome));
        call->outcome->code = rv;
        rz_errmsg_set(call->outcome->message, "%s",
                      msg != NULL && msg[0] != '\0' ? msg : rz_strerror(rv));
    }
}

/* Runs one request to the end: prepare, submit, wait, decode (on the loop
 * thread, into out). Takes over `body` (closes it). */
static int run(ratusz *h, const ratusz_call *call, uint32_t type,
               rz_client_target target, const char *endpoint, rz_buf *body,
               decode_fn dec, void *out)
{
    sync_call sc;
    int rv;
    if (body->err != 0) {
        rv = body->err;
        rz_buf_close(body);
        outcome_local(call, rv, NULL);
        return rv;
    }
    rv = rz_client_op_prepare(h, &sc.op, call, type, target, body->data,
                              body->len);
    rz_buf_close(body);
    if (rv != 0) {
        outcome_local(call, rv, NULL);
        return rv;
    }
    sc.op.done = sync_done;
    sc.op.data = &sc;
    sc.op.endpoint = endpoint;
    sc.done = false;
    sc.status = 0;
    sc.dec = dec;
    sc.out = out;
    pthread_mutex_init(&sc.mu, NULL);
    pthread_cond_init(&sc.cv, NULL);
    rv = submit(h, &sc.op);
    if (rv == 0) {
        pthread_mutex_lock(&sc.mu);
        while (!sc.done) {
            pthread_cond_wait(&sc.cv, &sc.mu);
        }
        rv = sc.status;
        pthread_mutex_unlock(&sc.mu);
    } else {
        outcome_local(call, rv, "the handle is closing");
    }
    pthread_cond_destroy(&sc.cv);
    pthread_mutex_destroy(&sc.mu);
    return rv;
}

/* Checks the handle and builds the common keys; on error the outcome says
 * why. */
static int begin(ratusz *h, const ratusz_call *call, bool write, bool read,
                 rz_client_common *k, rz_buf *body)
{
    int rv;
    if (h == NULL || !h->blocking) {
        outcome_local(call, RZ_EINVAL,
                      "a blocking call needs a handle from ratusz_open");
        return RZ_EINVAL;
    }
    rv = rz_client_common_of(h, call, write, read, k);
    if (rv != 0) {
        outcome_local(call, rv, "timeout_ms or actor_id is out of range");
        return rv;
    }
    rz_buf_init(body, RZ_CLIENT_BODY_MAX_BYTES);
    return 0;
}

/* Encoder errors carry a sentence: keep it for the outcome. */
static int enc_failed(const ratusz_call *call, rz_buf *body, int rv,
                      const char *errmsg)
{
    rz_buf_close(body);
    outcome_local(call, rv, errmsg);
    return rv;
}

static rz_client_target read_target(const ratusz_call *call)
{
    return call != NULL && call->max_stale_ms > 0 ? RZ_TARGET_ANY
                                                  : RZ_TARGET_LEADER;
}

static int dec_created(const uint8_t *b, size_t n, void *out)
{
    return rz_client_dec_created(b, n, out);
}

static int dec_write(const uint8_t *b, size_t n, void *out)
{
    ratusz_write_result tmp;
    return rz_client_dec_write(b, n, out != NULL ? out : &tmp);
}

static int dec_case_info(const uint8_t *b, size_t n, void *out)
{
    return rz_client_dec_case_info(b, n, out);
}

static int dec_page(const uint8_t *b, size_t n, void *out)
{
    return rz_client_dec_page(b, n, out);
}

static int dec_reporter(const uint8_t *b, size_t n, void *out)
{
    return rz_client_dec_reporter(b, n, out);
}

static int dec_catalog(const uint8_t *b, size_t n, void *out)
{
    return rz_client_dec_catalog(b, n, out);
}

static int dec_stats(const uint8_t *b, size_t n, void *out)
{
    return rz_client_dec_stats(b, n, out);
}

static int dec_ping(const uint8_t *b, size_t n, void *out)
{
    return rz_client_dec_ping(b, n, out);
}

static int dec_status(const uint8_t *b, size_t n, void *out)
{
    return rz_client_dec_status(b, n, out);
}

static int dec_checksum(const uint8_t *b, size_t n, void *out)
{
    return rz_client_dec_checksum(b, n, out);
}

static int dec_index(const uint8_t *b, size_t n, void *out)
{
    uint64_t tmp;
    return rz_client_dec_uint_key(b, n, "index", out != NULL ? out : &tmp);
}

static int dec_leader(const uint8_t *b, size_t n, void *out)
{
    uint64_t tmp;
    return rz_client_dec_uint_key(b, n, "leader_id", out != NULL ? out : &tmp);
}

int ratusz_case_create(ratusz *h, const ratusz_call *call,
                       const ratusz_case_new *c, ratusz_created *out)
{
    char errmsg[RZ_ERRMSG_BYTES] = "";
    rz_client_common k;
    rz_buf body;
    int rv = begin(h, call, true, false, &k, &body);
    if (rv != 0) {
        return rv;
    }
    if (out == NULL) {
        return enc_failed(call, &body, RZ_EINVAL, "out is NULL");
    }
    rv = rz_client_enc_case_create(&body, &k, c, errmsg);
    if (rv != 0) {
        return enc_failed(call, &body, rv, errmsg);
    }
    return run(h, call, RZ_CLIENT_CASE_CREATE, RZ_TARGET_LEADER, NULL, &body,
               dec_created, out);
}

int ratusz_case_get(ratusz *h, const ratusz_call *call, uint64_t case_id,
                    bool with_history, ratusz_case_info **out)
{
    char errmsg[RZ_ERRMSG_BYTES] = "";
    rz_client_common k;
    rz_buf body;
    int rv = begin(h, call, false, true, &k, &body);
    if (rv != 0) {
        return rv;
    }
    if (out == NULL) {
        return enc_failed(call, &body, RZ_EINVAL, "out is NULL");
    }
    rv = rz_client_enc_case_get(&body, &k, case_id, with_history, errmsg);
    if (rv != 0) {
        return enc_failed(call, &body, rv, errmsg);
    }
    return run(h, call, RZ_CLIENT_CASE_GET, read_target(call), NULL, &body,
               dec_case_info, out);
}

int ratusz_case_list(ratusz *h, const ratusz_call *call,
                     const ratusz_list_filter *f, ratusz_page **out)
{
    char errmsg[RZ_ERRMSG_BYTES] = "";
    rz_client_common k;
    rz_buf body;
    int rv = begin(h, call, false, true, &k, &body);
    if (rv != 0) {
        return rv;
    }
    if (out == NULL) {
        return enc_failed(call, &body, RZ_EINVAL, "out is NULL");
    }
    rv = rz_client_enc_case_list(&body, &k, f, errmsg);
    if (rv != 0) {
        return enc_failed(call, &body, rv, errmsg);
    }
    return run(h, call, RZ_CLIENT_CASE_LIST, read_target(call), NULL, &body,
               dec_page, out);
}

int ratusz_case_update(ratusz *h, const ratusz_call *call,
                       const ratusz_update *u, ratusz_write_result *out)
{
    char errmsg[RZ_ERRMSG_BYTES] = "";
    rz_client_common k;
    rz_buf body;
    int rv = begin(h, call, true, false, &k, &body);
    if (rv != 0) {
        return rv;
    }
    rv = rz_client_enc_case_update(&body, &k, u, errmsg);
    if (rv != 0) {
        return enc_failed(call, &body, rv, errmsg);
    }
    return run(h, call, RZ_CLIENT_CASE_UPDATE, RZ_TARGET_LEADER, NULL, &body,
               dec_write, out);
}

int ratusz_case_set_status(ratusz *h, const ratusz_call *call, uint64_t case_id,
                           uint32_t expected_version, ratusz_case_status status,
                           const char *resolution, ratusz_write_result *out)
{
    ratusz_update u;
    memset(&u, 0, sizeof(u));
    u.op = RATUSZ_OP_STATUS;
    u.case_id = case_id;
    u.expected_version = expected_version;
    u.status = status;
    u.text = resolution;
    return ratusz_case_update(h, call, &u, out);
}

int ratusz_case_route(ratusz *h, const ratusz_call *call, uint64_t case_id,
                      uint32_t expected_version, const char *unit_id,
                      const char *note, ratusz_write_result *out)
{
    ratusz_update u;
    memset(&u, 0, sizeof(u));
    u.op = RATUSZ_OP_ROUTE;
    u.case_id = case_id;
    u.expected_version = expected_version;
    u.unit_id = unit_id;
    u.text = note;
    return ratusz_case_update(h, call, &u, out);
}

int ratusz_case_comment(ratusz *h, const ratusz_call *call, uint64_t case_id,
                        const char *text, bool is_public,
                        ratusz_write_result *out)
{
    ratusz_update u;
    memset(&u, 0, sizeof(u));
    u.op = RATUSZ_OP_COMMENT;
    u.case_id = case_id;
    u.text = text;
    u.is_public = is_public;
    return ratusz_case_update(h, call, &u, out);
}

int ratusz_reporter_get(ratusz *h, const ratusz_call *call,
                        uint64_t reporter_id, ratusz_reporter_info *out)
{
    char errmsg[RZ_ERRMSG_BYTES] = "";
    rz_client_common k;
    rz_buf body;
    int rv = begin(h, call, false, true, &k, &body);
    if (rv != 0) {
        return rv;
    }
    if (out == NULL) {
        return enc_failed(call, &body, RZ_EINVAL, "out is NULL");
    }
    rv = rz_client_enc_reporter(&body, &k, reporter_id, errmsg);
    if (rv != 0) {
        return enc_failed(call, &body, rv, errmsg);
    }
    return run(h, call, RZ_CLIENT_REPORTER_GET, read_target(call), NULL, &body,
               dec_reporter, out);
}

int ratusz_reporter_erase(ratusz *h, const ratusz_call *call,
                          uint64_t reporter_id, ratusz_write_result *out)
{
    char errmsg[RZ_ERRMSG_BYTES] = "";
    rz_client_common k;
    rz_buf body;
    int rv = begin(h, call, true, false, &k, &body);
    if (rv != 0) {
        return rv;
    }
    rv = rz_client_enc_reporter(&body, &k, reporter_id, errmsg);
    if (rv != 0) {
        return enc_failed(call, &body, rv, errmsg);
    }
    return run(h, call, RZ_CLIENT_REPORTER_ERASE, RZ_TARGET_LEADER, NULL, &body,
               dec_write, out);
}

int ratusz_catalog_get(ratusz *h, const ratusz_call *call, ratusz_catalog **out)
{
    rz_client_common k;
    rz_buf body;
    int rv = begin(h, call, false, true, &k, &body);
    if (rv != 0) {
        return rv;
    }
    if (out == NULL) {
        return enc_failed(call, &body, RZ_EINVAL, "out is NULL");
    }
    (void)rz_client_enc_empty(&body, &k);
    return run(h, call, RZ_CLIENT_CATALOG_GET, read_target(call), NULL, &body,
               dec_catalog, out);
}

int ratusz_catalog_upsert(ratusz *h, const ratusz_call *call,
                          const ratusz_catalog_item *items, size_t n_items,
                          ratusz_write_result *out)
{
    char errmsg[RZ_ERRMSG_BYTES] = "";
    rz_client_common k;
    rz_buf body;
    int rv = begin(h, call, true, false, &k, &body);
    if (rv != 0) {
        return rv;
    }
    rv = rz_client_enc_catalog_upsert(&body, &k, items, n_items, errmsg);
    if (rv != 0) {
        return enc_failed(call, &body, rv, errmsg);
    }
    return run(h, call, RZ_CLIENT_CATALOG_UPSERT, RZ_TARGET_LEADER, NULL, &body,
               dec_write, out);
}

int ratusz_stats_get(ratusz *h, const ratusz_call *call, ratusz_stats **out)
{
    rz_client_common k;
    rz_buf body;
    int rv = begin(h, call, false, true, &k, &body);
    if (rv != 0) {
        return rv;
    }
    if (out == NULL) {
        return enc_failed(call, &body, RZ_EINVAL, "out is NULL");
    }
    (void)rz_client_enc_empty(&body, &k);
    return run(h, call, RZ_CLIENT_STATS, read_target(call), NULL, &body,
               dec_stats, out);
}

int ratusz_ping(ratusz *h, const ratusz_call *call, const char *endpoint,
                ratusz_ping_info *out)
{
    rz_client_common k;
    rz_buf body;
    int rv = begin(h, call, false, false, &k, &body);
    if (rv != 0) {
        return rv;
    }
    if (out == NULL) {
        return enc_failed(call, &body, RZ_EINVAL, "out is NULL");
    }
    (void)rz_client_enc_empty(&body, &k);
    return run(h, call, RZ_CLIENT_PING, RZ_TARGET_ANY, endpoint, &body,
               dec_ping, out);
}

int ratusz_node_status(ratusz *h, const ratusz_call *call, const char *endpoint,
                       ratusz_status_info **out)
{
    rz_client_common k;
    rz_buf body;
    int rv = begin(h, call, false, false, &k, &body);
    if (rv != 0) {
        return rv;
    }
    if (out == NULL || endpoint == NULL) {
        return enc_failed(call, &body, RZ_EINVAL,
                          "endpoint and out are required");
    }
    (void)rz_client_enc_empty(&body, &k);
    return run(h, call, RZ_CLIENT_STATUS, RZ_TARGET_FIXED, endpoint, &body,
               dec_status, out);
}

int ratusz_checksum(ratusz *h, const ratusz_call *call, const char *endpoint,
                    bool scan, ratusz_checksum_info *out)
{
    rz_client_common k;
    rz_buf body;
    int rv = begin(h, call, false, false, &k, &body);
    if (rv != 0) {
        return rv;
    }
    if (out == NULL || endpoint == NULL) {
        return enc_failed(call, &body, RZ_EINVAL,
                          "endpoint and out are required");
    }
    (void)rz_client_enc_checksum(&body, &k, scan);
    return run(h, call, RZ_CLIENT_CHECKSUM, RZ_TARGET_FIXED, endpoint, &body,
               dec_checksum, out);
}

static int member_call(ratusz *h, const ratusz_call *call, uint32_t type,
                       uint64_t id, const char *address, bool with_force,
                       bool force, decode_fn dec, uint64_t *out)
{
    char errmsg[RZ_ERRMSG_BYTES] = "";
    rz_client_common k;
    rz_buf body;
    int rv = begin(h, call, false, false, &k, &body);
    if (rv != 0) {
        return rv;
    }
    rv =
        rz_client_enc_member(&body, &k, id, address, with_force, force, errmsg);
    if (rv != 0) {
        return enc_failed(call, &body, rv, errmsg);
    }
    return run(h, call, type, RZ_TARGET_LEADER, NULL, &body, dec, out);
}

int ratusz_member_add(ratusz *h, const ratusz_call *call, uint64_t id,
                      const char *address, uint64_t *index)
{
    if (address == NULL || id == 0) {
        outcome_local(call, RZ_EINVAL, "member add needs an id and address");
        return RZ_EINVAL;
    }
    return member_call(h, call, RZ_CLIENT_MEMBER_ADD, id, address, false, false,
                       dec_index, index);
}

int ratusz_member_promote(ratusz *h, const ratusz_call *call, uint64_t id,
                          uint64_t *index)
{
    return member_call(h, call, RZ_CLIENT_MEMBER_PROMOTE, id, NULL, false,
                       false, dec_index, index);
}

int ratusz_member_remove(ratusz *h, const ratusz_call *call, uint64_t id,
                         bool force, uint64_t *index)
{
    return member_call(h, call, RZ_CLIENT_MEMBER_REMOVE, id, NULL, true, force,
                       dec_index, index);
}

int ratusz_leader_transfer(ratusz *h, const ratusz_call *call, uint64_t id,
                           uint64_t *leader_id)
{
    return member_call(h, call, RZ_CLIENT_LEADER_TRANSFER, id, NULL, false,
                       false, dec_leader, leader_id);
}

/* ---------------------------------------------------------------------------
 * Watch
 * ------------------------------------------------------------------------ */

typedef struct wbatch
{
    rz_client_batch *b;
    size_t pos; /* next event to hand out */
    struct wbatch *next;
} wbatch;

struct ratusz_watch
{
    ratusz *h;
    rz_client_op op;
    pthread_mutex_t mu; /* guards everything below but op */
    pthread_cond_t cv;
    wbatch *head, *tail;
    wbatch *lent; /* the batch the last returned event is in */
    size_t queued_events;
    bool parked;      /* the stream was stopped for back-pressure */
    bool resume_sent; /* the reader asked the loop to restart it */
    bool finished;    /* the op is done (final_err) */
    int final_err;
    uint64_t read_revision; /* after the batches handed out whole */
    uint32_t read_sub;
    /* Loop thread only: where the stream resumes (after the last batch
     * received). */
    uint64_t next_revision;
    uint32_t next_sub;
};

static int watch_rebuild(rz_client_op *op)
{
    ratusz_watch *w = op->data;
    rz_buf body;
    int rv;
    rz_buf_init(&body, 128);
    rv = rz_client_enc_watch(&body, w->next_revision, w->next_sub);
    if (rv == 0) {
        rv = rz_client_op_set_body(op, body.data, body.len);
    }
    rz_buf_close(&body);
    return rv;
}

static int watch_events(rz_client_op *op, const uint8_t *body, size_t n)
{
    ratusz_watch *w = op->data;
    rz_client_batch *b = NULL;
    wbatch *wb;
    bool park = false;
    int rv = rz_client_dec_events(body, n, &b);
    if (rv != 0) {
        return rv;
    }
    /* No gap, no duplicate: a batch must start where the last one ended. */
    if (b->n_events > 0 && b->events[0].revision < w->next_revision) {
        rz_client_batch_free(b);
        return RZ_EMALFORMED;
    }
    wb = calloc(1, sizeof(*wb));
    if (wb == NULL) {
        rz_client_batch_free(b);
        return RZ_ENOMEM;
    }
    wb->b = b;
    w->next_revision = b->next_revision;
    w->next_sub = b->next_sub;
    pthread_mutex_lock(&w->mu);
    if (w->tail != NULL) {
        w->tail->next = wb;
    } else {
        w->head = wb;
    }
    w->tail = wb;
    w->queued_events += b->n_events;
    if (w->queued_events >= WATCH_QUEUE_HIGH_EVENTS && !w->parked) {
        w->parked = true;
        w->resume_sent = false;
        park = true;
    }
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    if (park) {
        rz_client_stream_park(op);
    }
    return 0;
}

static void watch_done(rz_client_op *op, int status, const uint8_t *body,
                       size_t n)
{
    ratusz_watch *w = op->data;
    (void)body;
    (void)n;
    pthread_mutex_lock(&w->mu);
    w->finished = true;
    w->final_err = status != 0 ? status : RZ_ECLOSED;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

/* Loop thread: act on what the reader asked for. */
static void watch_control(ratusz_watch *w)
{
    bool cancel;
    bool resume;
    pthread_mutex_lock(&w->h->mu);
    cancel = w->op.cancel_requested;
    resume = w->op.resume_requested;
    w->op.resume_requested = false;
    pthread_mutex_unlock(&w->h->mu);
    if (cancel) {
        rz_client_stream_cancel(&w->op);
        return;
    }
    if (resume) {
        pthread_mutex_lock(&w->mu);
        w->parked = false;
        pthread_mutex_unlock(&w->mu);
        rz_client_stream_resume(&w->op);
    }
}

int ratusz_watch_open(ratusz *h, const ratusz_call *call,
                      uint64_t from_revision, uint32_t from_sub,
                      ratusz_watch **out)
{
    ratusz_ping_info ping;
    ratusz_watch *w;
    rz_buf body;
    int rv;
    if (h == NULL || !h->blocking || out == NULL) {
        outcome_local(call, RZ_EINVAL, "a watch needs a blocking handle");
        return RZ_EINVAL;
    }
    /* A ping first: a node is reachable and takes our credential, so the
     * caller hears of those problems now rather than from watch_next. */
    rv = ratusz_ping(h, call, NULL, &ping);
    if (rv != 0) {
        return rv;
    }
    w = calloc(1, sizeof(*w));
    if (w == NULL) {
        return RZ_ENOMEM;
    }
    w->h = h;
    w->next_revision = from_revision != 0 ? from_revision : 1;
    w->next_sub = from_sub;
    w->read_revision = w->next_revision;
    w->read_sub = w->next_sub;
    rz_buf_init(&body, 128);
    rv = rz_client_enc_watch(&body, w->next_revision, w->next_sub);
    if (rv == 0) {
        rv = rz_client_op_prepare(h, &w->op, NULL, RZ_CLIENT_WATCH,
                                  RZ_TARGET_ANY, body.data, body.len);
    }
    rz_buf_close(&body);
    if (rv != 0) {
        free(w);
        return rv;
    }
    w->op.done = watch_done;
    w->op.events = watch_events;
    w->op.rebuild = watch_rebuild;
    w->op.data = w;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    rv = submit(h, &w->op);
    if (rv != 0) {
        pthread_cond_destroy(&w->cv);
        pthread_mutex_destroy(&w->mu);
        free(w);
        return rv;
    }
    *out = w;
    return 0;
}

/* Frees the batch lent out by the previous call once it is used up. */
static void watch_reclaim(ratusz_watch *w)
{
    if (w->lent != NULL && w->lent->pos == w->lent->b->n_events) {
        rz_client_batch_free(w->lent->b);
        free(w->lent);
        w->lent = NULL;
    }
}

static void abs_deadline(struct timespec *ts, int timeout_ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += timeout_ms / 1000;
    ts->tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

int ratusz_watch_next(ratusz_watch *w, int timeout_ms, const ratusz_event **ev)
{
    struct timespec until;
    bool ask_resume = false;
    int rv = RZ_ETIMEDOUT;
    if (w == NULL || ev == NULL || timeout_ms < 0) {
        return RZ_EINVAL;
    }
    abs_deadline(&until, timeout_ms);
    pthread_mutex_lock(&w->mu);
    watch_reclaim(w);
    for (;;) {
        wbatch *wb = w->head;
        if (wb != NULL && wb->pos < wb->b->n_events) {
            *ev = &wb->b->events[wb->pos++];
            w->queued_events--;
            rv = 0;
        }
        if (wb != NULL && wb->pos == wb->b->n_events) {
            /* Used up: it stays alive while its last event is lent. */
            w->head = wb->next;
            if (w->head == NULL) {
                w->tail = NULL;
            }
            w->read_revision = wb->b->next_revision;
            w->read_sub = wb->b->next_sub;
            if (rv == 0) {
                RZ_ASSERT(w->lent == NULL);
                w->lent = wb;
            } else {
                rz_client_batch_free(wb->b);
                free(wb);
            }
        } else if (rv == 0) {
            w->lent = NULL;
        }
        if (rv == 0) {
            break;
        }
        if (w->head != NULL) {
            continue; /* an empty batch was skipped */
        }
        if (w->finished) {
            rv = w->final_err;
            break;
        }
        if (timeout_ms == 0 ||
            pthread_cond_timedwait(&w->cv, &w->mu, &until) == ETIMEDOUT) {
            rv = RZ_ETIMEDOUT;
            if (w->head == NULL) {
                break;
            }
        }
    }
    if (w->parked && !w->resume_sent &&
        w->queued_events < WATCH_QUEUE_LOW_EVENTS) {
        w->resume_sent = true;
        ask_resume = true;
    }
    pthread_mutex_unlock(&w->mu);
    if (ask_resume) {
        pthread_mutex_lock(&w->h->mu);
        w->op.resume_requested = true;
        pthread_mutex_unlock(&w->h->mu);
        uv_async_send(&w->h->async);
    }
    return rv;
}

void ratusz_watch_position(const ratusz_watch *w, uint64_t *revision,
                           uint32_t *sub)
{
    ratusz_watch *mw = (ratusz_watch *)w;
    RZ_PRE(w != NULL);
    pthread_mutex_lock(&mw->mu);
    if (revision != NULL) {
        *revision = w->read_revision;
    }
    if (sub != NULL) {
        *sub = w->read_sub;
    }
    pthread_mutex_unlock(&mw->mu);
}

void ratusz_watch_close(ratusz_watch *w)
{
    bool finished;
    if (w == NULL) {
        return;
    }
    pthread_mutex_lock(&w->mu);
    finished = w->finished;
    pthread_mutex_unlock(&w->mu);
    if (!finished) {
        pthread_mutex_lock(&w->h->mu);
        w->op.cancel_requested = true;
        pthread_mutex_unlock(&w->h->mu);
        uv_async_send(&w->h->async);
        pthread_mutex_lock(&w->mu);
        while (!w->finished) {
            pthread_cond_wait(&w->cv, &w->mu);
        }
        pthread_mutex_unlock(&w->mu);
    }
    watch_reclaim(w);
    if (w->lent != NULL) {
        rz_client_batch_free(w->lent->b);
        free(w->lent);
    }
    while (w->head != NULL) {
        wbatch *wb = w->head;
        w->head = wb->next;
        rz_client_batch_free(wb->b);
        free(wb);
    }
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    free(w);
}
