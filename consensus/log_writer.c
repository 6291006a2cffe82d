/* Group commit for the raft log store: one worker thread turns everything
 * queued while the previous commit was syncing into one LMDB txn, so a busy
 * leader pays one sync for many appends (TigerBeetle's "batch everything").
 *
 * Queues and threads. The loop thread pushes requests onto `queue` under
 * `mu` and signals `cond`. The worker takes the WHOLE queue at once and
 * walks it in order:
 *   - a run of appends whose indexes chain (each starts where the previous
 *     one ends) becomes one txn, up to MERGE_MAX_REQS requests;
 *   - truncate and snapshot_put are barriers: each is its own txn, after
 *     everything before it and before everything after it.
 * After each txn the worker moves the requests it covered onto `done` and
 * wakes the loop with uv_async_send; the loop's async callback fires their
 * callbacks. Both lists are FIFO and the worker handles requests in queue
 * order, so callbacks fire in the order the requests were queued.
 *
 * Failures. A txn that fails writes nothing (LMDB aborts it whole), so its
 * requests all fail with the same code. Later requests are still attempted:
 * once space returns (a compaction, a truncate) appends succeed again. An
 * append that no longer chains because an earlier one failed reports the
 * earlier failure's code (raft sees RZ_ENOSPACE, not a puzzling gap). If a
 * merged txn fails for a bad argument, its requests are retried one by one
 * so only the bad one (and what depends on it) fails. */
#include <stdlib.h>
#include <string.h>

#include "consensus/logstore.h"

enum { OP_APPEND = 1, OP_TRUNCATE, OP_SNAPSHOT };

/* Most requests merged into one txn: bounds the txn's size and the time a
 * completion waits behind others. */
#define MERGE_MAX_REQS 1024u

struct rz_log_writer
{
    uv_loop_t *loop;
    rz_logstore *ls;
    uv_async_t async;
    uv_thread_t thread;
    uv_mutex_t mu;
    uv_cond_t cond;
    /* Under mu. */
    rz_log_req *queue_head, *queue_tail;
    rz_log_req *done_head, *done_tail;
    bool stopping;
    bool exited;
    rz_log_writer_stats stats;
    uint64_t timings[RZ_LOG_WRITER_TIMINGS]; /* append txn durations, ns */
    size_t n_timings;
    /* Loop thread only. */
    size_t pending;
    bool delivering;  /* inside on_async's callback loop */
    bool signal_owed; /* requests queued while delivering */
    bool closing;
    void (*close_cb)(void *arg);
    void *close_arg;
    /* Worker only. */
    int last_fail;
    rz_log_span spans[MERGE_MAX_REQS];
};

/* ---- Worker ---------------------------------------------------------------
 */

static void done_push(rz_log_writer *w, rz_log_req *first, rz_log_req *last,
                      uint64_t commits, uint64_t entries, uint64_t ns)
{
    last->next = NULL;
    uv_mutex_lock(&w->mu);
    if (w->done_tail != NULL) {
        w->done_tail->next = first;
    } else {
        w->done_head = first;
    }
    w->done_tail = last;
    w->stats.commits += commits;
    w->stats.entries_written += entries;
    w->stats.fsync_ns_total += ns;
    if (commits > 0 && w->n_timings < RZ_LOG_WRITER_TIMINGS) {
        w->timings[w->n_timings++] = ns;
    }
    uv_mutex_unlock(&w->mu);
    uv_async_send(&w->async);
}

/* Commits spans[0..n) in one txn; returns the status for all of them. */
static int commit_spans(rz_log_writer *w, size_t n, uint64_t *entries,
                        uint64_t *ns)
{
    uint64_t t0 = rz_mono_ns();
    int rv = rz_logstore_append_spans(w->ls, w->spans, n);
    *ns = rz_mono_ns() - t0;
    *entries = 0;
    if (rv == 0) {
        for (size_t i = 0; i < n; i++) {
            *entries += w->spans[i].n;
        }
        w->last_fail = 0;
        return 0;
    }
    if (rv == RZ_EINVAL && w->last_fail != 0) {
        return w->last_fail; /* a gap left by an earlier failure */
    }
    w->last_fail = rv;
    return rv;
}

/* Handles the run of chaining appends starting at *head; returns the first
 * request after it. */
static rz_log_req *do_appends(rz_log_writer *w, rz_log_req *head)
{
    size_t n = 0;
    rz_log_req *last = head;
    rz_log_req *r = head;
    for (; r != NULL && r->op == OP_APPEND && n < MERGE_MAX_REQS; r = r->next) {
        if (n > 0 &&
            r->index != w->spans[n - 1].first_index + w->spans[n - 1].n) {
            break;
        }
        w->spans[n] = (rz_log_span){r->index, r->entries, r->n};
        last = r;
        n++;
    }
    RZ_ASSERT(n > 0);
    rz_log_req *after = last->next;
    uint64_t entries = 0;
    uint64_t ns = 0;
    int rv = commit_spans(w, n, &entries, &ns);
    if ((rv == RZ_EINVAL || rv == RZ_ETOOBIG) && n > 1) {
        /* One bad request must not sink the others: one txn each. */
        rz_log_req *q = head;
        for (size_t i = 0; i < n; i++) {
            rz_log_req *next = q->next;
            w->spans[0] = (rz_log_span){q->index, q->entries, q->n};
            q->status = commit_spans(w, 1, &entries, &ns);
            done_push(w, q, q, q->status == 0 ? 1 : 0, entries, ns);
            q = next;
        }
        return after;
    }
    for (rz_log_req *q = head; q != after; q = q->next) {
        q->status = rv;
    }
    done_push(w, head, last, rv == 0 ? 1 : 0, entries, ns);
    return after;
}

static rz_log_req *do_barrier(rz_log_writer *w, rz_log_req *r)
{
    rz_log_req *after = r->next;
    uint64_t t0 = rz_mono_ns();
    if (r->op == OP_TRUNCATE) {
        r->status = rz_logstore_truncate(w->ls, r->index);
    } else {
        RZ_ASSERT(r->op == OP_SNAPSHOT);
        r->status = rz_logstore_snapshot_put(w->ls, &r->snapshot, r->trailing);
    }
    if (r->status == 0) {
        /* The log changed shape: an old gap no longer explains anything. */
        w->last_fail = 0;
    }
    done_push(w, r, r, r->status == 0 ? 1 : 0, 0, rz_mono_ns() - t0);
    return after;
}

static void worker_main(void *arg)
{
    rz_log_writer *w = arg;
    for (;;) {
        uv_mutex_lock(&w->mu);
        while (w->queue_head == NULL && !w->stopping) {
            uv_cond_wait(&w->cond, &w->mu);
        }
        rz_log_req *r = w->queue_head;
        w->queue_head = NULL;
        w->queue_tail = NULL;
        if (r == NULL) {
            RZ_ASSERT(w->stopping);
            w->exited = true;
            uv_mutex_unlock(&w->mu);
            uv_async_send(&w->async);
            return;
        }
        uv_mutex_unlock(&w->mu);
        while (r != NULL) {
            r = r->op == OP_APPEND ? do_appends(w, r) : do_barrier(w, r);
        }
    }
}

/* ---- Loop side ------------------------------------------------------------
 */

static void on_closed(uv_handle_t *h)
{
    rz_log_writer *w = h->data;
    void (*cb)(void *) = w->close_cb;
    void *arg = w->close_arg;
    uv_cond_destroy(&w->cond);
    uv_mutex_destroy(&w->mu);
    free(w);
    if (cb != NULL) {
        cb(arg);
    }
}

static void on_async(uv_async_t *a)
{
    rz_log_writer *w = a->data;
    uv_mutex_lock(&w->mu);
    rz_log_req *r = w->done_head;
    w->done_head = NULL;
    w->done_tail = NULL;
    bool exited = w->exited;
    uv_mutex_unlock(&w->mu);
    /* Requests the callbacks queue wake the worker once, after the last
     * callback, so they go into one txn instead of trickling into several
     * (batch per loop iteration, STYLE.md habit 10). Bounded by the number
     * of requests ever queued. */
    w->delivering = true;
    while (r != NULL) {
        rz_log_req *next = r->next;
        RZ_ASSERT(w->pending > 0);
        w->pending--;
        r->next = NULL;
        r->cb(r, r->status);
        r = next;
    }
    w->delivering = false;
    if (w->signal_owed) {
        w->signal_owed = false;
        uv_mutex_lock(&w->mu);
        uv_cond_signal(&w->cond);
        uv_mutex_unlock(&w->mu);
    }
    if (exited && !w->closing) {
        RZ_ASSERT(w->pending == 0);
        w->closing = true;
        uv_thread_join(&w->thread);
        uv_close((uv_handle_t *)&w->async, on_closed);
    }
}

int rz_log_writer_create(uv_loop_t *loop, rz_logstore *ls, rz_log_writer **out)
{
    RZ_PRE(loop != NULL && ls != NULL && out != NULL);
    int rv = RZ_ENOMEM;
    rz_log_writer *w = calloc(1, sizeof *w);
    if (w == NULL) {
        return RZ_ENOMEM;
    }
    w->loop = loop;
    w->ls = ls;
    if (uv_mutex_init(&w->mu) != 0) {
        goto err_after_alloc;
    }
    if (uv_cond_init(&w->cond) != 0) {
        goto err_after_mutex;
    }
    if (uv_async_init(loop, &w->async, on_async) != 0) {
        rv = RZ_EIO;
        goto err_after_cond;
    }
    w->async.data = w;
    if (uv_thread_create(&w->thread, worker_main, w) != 0) {
        /* The handle closes asynchronously; it frees w. */
        w->closing = true;
        uv_close((uv_handle_t *)&w->async, on_closed);
        return RZ_EIO;
    }
    *out = w;
    return 0;
err_after_cond:
    uv_cond_destroy(&w->cond);
err_after_mutex:
    uv_mutex_destroy(&w->mu);
err_after_alloc:
    free(w);
    return rv;
}

static int submit(rz_log_writer *w, rz_log_req *req, int op, rz_log_cb cb)
{
    RZ_PRE(w != NULL && req != NULL && cb != NULL);
    if (w->pending >= RZ_LOG_WRITER_MAX_PENDING) {
        return RZ_EBUSY;
    }
    req->op = op;
    req->cb = cb;
    req->status = 0;
    req->next = NULL;
    uv_mutex_lock(&w->mu);
    if (w->stopping) {
        uv_mutex_unlock(&w->mu);
        return RZ_ESHUTDOWN;
    }
    if (w->queue_tail != NULL) {
        w->queue_tail->next = req;
    } else {
        w->queue_head = req;
    }
    w->queue_tail = req;
    if (w->delivering) {
        w->signal_owed = true;
    } else {
        uv_cond_signal(&w->cond);
    }
    uv_mutex_unlock(&w->mu);
    w->pending++;
    return 0;
}

int rz_log_writer_append(rz_log_writer *w, rz_log_req *req,
                         uint64_t first_index, const rz_log_entry *entries,
                         size_t n, rz_log_cb cb)
{
    RZ_PRE(entries != NULL || n == 0);
    if (n == 0 || n > RZ_LOG_APPEND_MAX_ENTRIES) {
        return RZ_EINVAL;
    }
    req->index = first_index;
    req->entries = entries;
    req->n = n;
    return submit(w, req, OP_APPEND, cb);
}

int rz_log_writer_truncate(rz_log_writer *w, rz_log_req *req, uint64_t index,
                           rz_log_cb cb)
{
    req->index = index;
    req->entries = NULL;
    req->n = 0;
    return submit(w, req, OP_TRUNCATE, cb);
}

int rz_log_writer_snapshot_put(rz_log_writer *w, rz_log_req *req,
                               const rz_log_snapshot *snap, uint64_t trailing,
                               rz_log_cb cb)
{
    RZ_PRE(snap != NULL);
    req->snapshot = *snap;
    req->trailing = trailing;
    req->entries = NULL;
    req->n = 0;
    return submit(w, req, OP_SNAPSHOT, cb);
}

size_t rz_log_writer_pending(const rz_log_writer *w)
{
    RZ_PRE(w != NULL);
    return w->pending;
}

void rz_log_writer_stats_get(const rz_log_writer *w, rz_log_writer_stats *out)
{
    RZ_PRE(w != NULL && out != NULL);
    rz_log_writer *mw = (rz_log_writer *)w; /* the mutex is not const */
    uv_mutex_lock(&mw->mu);
    *out = w->stats;
    uv_mutex_unlock(&mw->mu);
}

void rz_log_writer_destroy(rz_log_writer *w, void (*close_cb)(void *arg),
                           void *arg)
{
    RZ_PRE(w != NULL);
    w->close_cb = close_cb;
    w->close_arg = arg;
    uv_mutex_lock(&w->mu);
    RZ_PRE(!w->stopping);
    w->stopping = true;
    uv_cond_signal(&w->cond);
    uv_mutex_unlock(&w->mu);
}

size_t rz_log_writer_timings_drain(rz_log_writer *w, uint64_t *ns, size_t max)
{
    size_t n;
    RZ_PRE(w != NULL && (ns != NULL || max == 0));
    uv_mutex_lock(&w->mu);
    n = w->n_timings < max ? w->n_timings : max;
    memcpy(ns, w->timings, n * sizeof *ns);
    /* What did not fit stays for the next call, oldest first. */
    memmove(w->timings, w->timings + n, (w->n_timings - n) * sizeof *ns);
    w->n_timings -= n;
    uv_mutex_unlock(&w->mu);
    return n;
}
