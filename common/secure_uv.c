/* The libuv shell around the secure channel state machine: socket reads in,
 * whole authenticated frames out, a bounded write queue, a handshake timer
 * and an orderly close (DESIGN.md §5). All decisions live in
 * secure_conn.c; this file only moves bytes and runs callbacks. */
#include "common/secure.h"

#include <stdlib.h>
#include <string.h>

/* One queued write: the request and the bytes it carries, one allocation. */
typedef struct wreq
{
    uv_write_t req;
    rz_secure_uv *s;
    size_t n;
    uint8_t data[];
} wreq;

static void maybe_close(rz_secure_uv *s);
static void begin_close(rz_secure_uv *s, int status, bool linger);

static void on_handle_closed(uv_handle_t *h)
{
    rz_secure_uv *s = h->data;
    RZ_ASSERT(s->handles_open > 0);
    s->handles_open--;
    if (s->handles_open > 0) {
        return;
    }
    RZ_ASSERT(s->queued_bytes == 0);
    if (s->errmsg[0] == '\0') {
        rz_errmsg_set(s->errmsg, "%s", rz_secure_errmsg(&s->conn));
    }
    rz_secure_conn_close(&s->conn);
    free(s->rbuf);
    s->rbuf = NULL;
    s->cbs.closed(s, s->close_status);
}

static void on_write(uv_write_t *req, int status)
{
    wreq *w = (wreq *)req;
    rz_secure_uv *s = w->s;
    RZ_ASSERT(s->queued_bytes >= w->n);
    s->queued_bytes -= w->n;
    free(w);
    if (status < 0 && !s->closing) {
        rz_errmsg_set(s->errmsg, "write failed: %s", uv_strerror(status));
        begin_close(s, RZ_EIO, false);
        return;
    }
    if (s->closing) {
        maybe_close(s);
        return;
    }
    if (s->want_writable && s->queued_bytes <= s->high_water_bytes / 2) {
        s->want_writable = false;
        if (s->cbs.writable != NULL) {
            s->cbs.writable(s);
        }
    }
}

/* Queues w (filled with w->n bytes) on the stream. */
static int queue_write(rz_secure_uv *s, wreq *w)
{
    uv_buf_t buf = uv_buf_init((char *)w->data, (unsigned)w->n);
    int rv;
    w->s = s;
    rv = uv_write(&w->req, s->stream, &buf, 1, on_write);
    if (rv != 0) {
        free(w);
        return RZ_EIO;
    }
    s->queued_bytes += w->n;
    return 0;
}

/* Hands whatever the state machine produced (handshake messages, the error
 * frame, the final frame) to the stream. */
static int flush(rz_secure_uv *s)
{
    size_t n = 0;
    const uint8_t *p = rz_secure_out(&s->conn, &n);
    wreq *w;
    if (n == 0 || s->handles_closing) {
        return 0;
    }
    w = malloc(sizeof(*w) + n);
    if (w == NULL) {
        return RZ_ENOMEM;
    }
    memcpy(w->data, p, n);
    w->n = n;
    rz_secure_out_consume(&s->conn, n);
    return queue_write(s, w);
}

static void close_handles(rz_secure_uv *s)
{
    RZ_PRE(!s->handles_closing);
    s->handles_closing = true;
    uv_close((uv_handle_t *)s->stream, on_handle_closed);
    uv_close((uv_handle_t *)&s->timer, on_handle_closed);
}

static void maybe_close(rz_secure_uv *s)
{
    if (!s->closing || s->handles_closing || s->in_callback) {
        return;
    }
    if (s->linger && s->queued_bytes > 0) {
        return;
    }
    close_handles(s);
}

static void on_timer(uv_timer_t *t);

/* Ends the connection with `status`: stops reading; with linger, waits
 * (at most RZ_SECURE_LINGER_MS) for queued bytes such as the error frame or
 * the final frame to leave. Only the first call counts. */
static void begin_close(rz_secure_uv *s, int status, bool linger)
{
    if (s->closing) {
        return;
    }
    s->closing = true;
    s->close_status = status;
    s->linger = linger;
    if (s->reading) {
        uv_read_stop(s->stream);
        s->reading = false;
    }
    uv_timer_stop(&s->timer);
    if (linger) {
        uv_timer_start(&s->timer, on_timer, RZ_SECURE_LINGER_MS, 0);
    }
    maybe_close(s);
}

/* The state machine failed: send its error frame, then close. */
static void fail_close(rz_secure_uv *s, int err)
{
    bool linger = flush(s) == 0;
    begin_close(s, err, linger);
}

static void on_timer(uv_timer_t *t)
{
    rz_secure_uv *s = t->data;
    int rv;
    if (s->closing) {
        s->linger = false;
        maybe_close(s);
        return;
    }
    if (s->shutting_down) {
        /* The peer never answered our final frame: close anyway, once
         * what we queued has left (bounded by one more linger). */
        begin_close(s, 0, true);
        return;
    }
    rv = rz_secure_tick(&s->conn, uv_now(s->loop));
    if (rv != 0) {
        fail_close(s, rv);
    }
}

static void start_reading(rz_secure_uv *s);

/* Feeds the unprocessed read bytes to the state machine and delivers the
 * events, until they are used up, the receiver pauses or the conn ends. */
static void process(rz_secure_uv *s)
{
    bool was_in_callback = s->in_callback;
    s->in_callback = true;
    while (s->rpos < s->rlen && !s->paused && !s->closing) {
        rz_secure_event ev;
        size_t used = 0;
        int rv = rz_secure_feed(&s->conn, s->rbuf + s->rpos, s->rlen - s->rpos,
                                &used, &ev);
        s->rpos += used;
        if (rv == 0) {
            rv = flush(s);
        }
        if (rv != 0) {
            fail_close(s, rv);
            break;
        }
        switch (ev.type) {
        case RZ_SECURE_EV_NONE:
            break;
        case RZ_SECURE_EV_ESTABLISHED:
            uv_timer_stop(&s->timer);
            s->cbs.established(s);
            break;
        case RZ_SECURE_EV_FRAME:
            s->cbs.frame(s, ev.data, ev.len);
            break;
        case RZ_SECURE_EV_CLOSED:
            /* The peer is done: answer with our final frame (unless we
             * sent one) and close once it is written. */
            if (!s->conn.sent_final && rz_secure_close(&s->conn) == 0) {
                (void)flush(s);
            }
            begin_close(s, 0, true);
            break;
        }
    }
    s->in_callback = was_in_callback;
    if (s->in_callback) {
        return;
    }
    if (s->rpos == s->rlen) {
        s->rpos = 0;
        s->rlen = 0;
    }
    if (s->closing) {
        maybe_close(s);
    } else if (s->paused && s->reading) {
        uv_read_stop(s->stream);
        s->reading = false;
    } else if (!s->paused && !s->reading && s->rpos == s->rlen) {
        start_reading(s);
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    rz_secure_uv *s = h->data;
    (void)suggested;
    /* Reading runs only while every byte read so far was processed. */
    RZ_ASSERT(s->rpos == s->rlen);
    *buf = uv_buf_init((char *)s->rbuf, RZ_SECURE_READ_CHUNK_BYTES);
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    rz_secure_uv *s = stream->data;
    int rv;
    (void)buf;
    if (nread > 0) {
        s->rpos = 0;
        s->rlen = (size_t)nread;
        process(s);
        return;
    }
    if (nread == 0 || s->closing) {
        return;
    }
    if (nread == UV_EOF) {
        rv = rz_secure_eof(&s->conn);
        if (rv == 0) {
            if (!s->conn.sent_final && rz_secure_close(&s->conn) == 0) {
                (void)flush(s);
            }
            begin_close(s, 0, true);
        } else {
            fail_close(s, rv);
        }
        return;
    }
    rz_errmsg_set(s->errmsg, "read failed: %s", uv_strerror((int)nread));
    begin_close(s, RZ_EIO, false);
}

static void start_reading(rz_secure_uv *s)
{
    if (uv_read_start(s->stream, on_alloc, on_read) != 0) {
        begin_close(s, RZ_EIO, false);
        return;
    }
    s->reading = true;
}

int rz_secure_uv_init(uv_loop_t *loop, rz_secure_uv *s, uv_stream_t *stream,
                      const rz_secure_config *cfg, bool is_client,
                      size_t high_water_bytes, const rz_secure_uv_cbs *cbs)
{
    uint64_t now;
    int rv;
    RZ_PRE(loop != NULL && s != NULL && stream != NULL && cfg != NULL);
    RZ_PRE(cbs != NULL && cbs->established != NULL && cbs->frame != NULL &&
           cbs->closed != NULL);
    memset(s, 0, sizeof(*s));
    s->loop = loop;
    s->stream = stream;
    s->cbs = *cbs;
    s->high_water_bytes = high_water_bytes != 0
                              ? high_water_bytes
                              : RZ_SECURE_WRITE_HIGH_WATER_BYTES;
    if (s->high_water_bytes < RZ_SECURE_FRAME_BYTES(cfg->max_frame_bytes != 0
                                                        ? cfg->max_frame_bytes
                                                        : RZ_FRAME_MAX_BYTES)) {
        return RZ_EINVAL;
    }
    s->rbuf = malloc(RZ_SECURE_READ_CHUNK_BYTES);
    if (s->rbuf == NULL) {
        return RZ_ENOMEM;
    }
    now = uv_now(loop);
    rv = rz_secure_conn_init(&s->conn, cfg, is_client, now, rz_now_ms());
    if (rv != 0) {
        goto err_after_rbuf;
    }
    if (uv_timer_init(loop, &s->timer) != 0) {
        rv = RZ_EIO;
        goto err_after_conn;
    }
    s->timer.data = s;
    stream->data = s;
    s->handles_open = 2;
    uv_timer_start(&s->timer, on_timer, s->conn.deadline_ms - now, 0);
    start_reading(s);
    rv = flush(s);
    if (rv != 0) {
        begin_close(s, rv, false);
    }
    /* From here on, failures are reported through `closed`. */
    return 0;

err_after_conn:
    rz_secure_conn_close(&s->conn);
err_after_rbuf:
    free(s->rbuf);
    s->rbuf = NULL;
    return rv;
}

int rz_secure_uv_send(rz_secure_uv *s, const void *p, size_t n)
{
    size_t need = RZ_SECURE_FRAME_BYTES(n);
    wreq *w;
    int rv;
    RZ_PRE(s != NULL);
    if (s->closing || !rz_secure_peer(&s->conn) || s->conn.sent_final) {
        return RZ_EPROTO;
    }
    if (n > s->conn.max_frame_bytes) {
        return RZ_ETOOBIG;
    }
    if (s->queued_bytes + need > s->high_water_bytes) {
        s->want_writable = true;
        return RZ_EBUSY;
    }
    w = malloc(sizeof(*w) + need);
    if (w == NULL) {
        return RZ_ENOMEM;
    }
    rv = rz_secure_seal(&s->conn, p, n, false, w->data, need);
    RZ_ASSERT(rv == 0);
    w->n = need;
    rv = queue_write(s, w);
    if (rv != 0) {
        /* The stream now misses a frame: the connection cannot go on. */
        begin_close(s, rv, false);
    }
    return rv;
}

void rz_secure_uv_pause(rz_secure_uv *s)
{
    RZ_PRE(s != NULL);
    s->paused = true;
    if (!s->in_callback && s->reading) {
        uv_read_stop(s->stream);
        s->reading = false;
    }
}

void rz_secure_uv_resume(rz_secure_uv *s)
{
    RZ_PRE(s != NULL);
    if (!s->paused) {
        return;
    }
    s->paused = false;
    if (s->in_callback || s->closing) {
        return; /* the running loop goes on with the bytes it has */
    }
    process(s);
}

void rz_secure_uv_shutdown(rz_secure_uv *s)
{
    RZ_PRE(s != NULL);
    if (s->closing) {
        return;
    }
    if (!rz_secure_peer(&s->conn)) {
        begin_close(s, RZ_ECANCELED, false);
        return;
    }
    if (s->shutting_down) {
        return;
    }
    if (s->conn.state == RZ_SECURE_PEER_CLOSED) {
        /* The peer is done already: our final frame ends it all. */
        if (!s->conn.sent_final && rz_secure_close(&s->conn) == 0) {
            (void)flush(s);
        }
        begin_close(s, 0, true);
        return;
    }
    s->shutting_down = true;
    if (rz_secure_close(&s->conn) != 0 || flush(s) != 0) {
        begin_close(s, RZ_EIO, false);
        return;
    }
    /* Keep reading: the peer may still send until its own final frame. */
    uv_timer_start(&s->timer, on_timer, RZ_SECURE_LINGER_MS, 0);
}

void rz_secure_uv_abort(rz_secure_uv *s, int err)
{
    RZ_PRE(s != NULL && err < 0);
    begin_close(s, err, false);
}
