/* The libuv backend of our raft_io (the real node): disk operations go to
 * the group-commit log writer in queue order, ticks come from a loop
 * timer, messages leave through the transport as frames of the raft
 * message codec. */
#include "consensus/io.h"
#include "consensus/msg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/limits.h"

struct rz_io_uv
{
    uv_loop_t *loop;
    rz_io_core *core;
    rz_logstore *ls;
    rz_log_writer *writer;
    uv_timer_t timer;
    rz_transport transport;
    uint64_t id;
    char address[RZ_ADDRESS_MAX_BYTES + 1];
    rz_buf frame;
    bool timer_started;
    int closing_parts; /* timer and writer still closing */
    void (*done)(void *arg);
    void *done_arg;
};

static uint64_t backend_now_uv(void *b)
{
    rz_io_uv *u = b;
    return uv_now(u->loop);
}

static int backend_random_uv(void *b, int min, int max)
{
    (void)b;
    RZ_PRE(min <= max);
    return min + (int)rz_random_uniform((uint32_t)(max - min) + 1u);
}

static void tick_cb(uv_timer_t *t)
{
    rz_io_uv *u = t->data;
    rz_io__tick(u->core);
}

static void backend_start_uv(void *b, unsigned tick_ms)
{
    rz_io_uv *u = b;
    u->timer_started = true;
    RZ_ASSERT(uv_timer_start(&u->timer, tick_cb, tick_ms, tick_ms) == 0);
}

static void backend_send_uv(void *b, const struct raft_message *m)
{
    rz_io_uv *u = b;
    rz_buf_reset(&u->frame);
    if (rz_msg_encode(m, u->id, u->address, &u->frame) != 0) {
        return; /* best effort: raft sends again */
    }
    (void)u->transport.send(u->transport.data, m->server_id, m->server_address,
                            u->frame.data, u->frame.len);
}

static void backend_send_frame_uv(void *b, uint64_t to, const char *to_address,
                                  const void *frame, size_t len, int kind,
                                  uint64_t index)
{
    rz_io_uv *u = b;
    (void)kind;
    (void)index;
    (void)u->transport.send(u->transport.data, to, to_address, frame, len);
}

static void log_cb(rz_log_req *req, int status)
{
    rz_io_op *op = req->data;
    rz_io__op_done(op->core, op, status);
}

static void backend_submit_uv(void *b, rz_io_op *op)
{
    rz_io_uv *u = b;
    int rv;
    op->log_req.data = op;
    if (op->type == RZ_IO_OP_APPEND) {
        rv = rz_log_writer_append(u->writer, &op->log_req, op->index,
                                  op->entries, op->n, log_cb);
    } else if (op->type == RZ_IO_OP_SNAPSHOT) {
        rv = rz_log_writer_snapshot_put(u->writer, &op->log_req, &op->snap,
                                        op->trailing, log_cb);
    } else {
        rv = rz_log_writer_truncate(u->writer, &op->log_req, op->index, log_cb);
    }
    /* The writer refuses only after it was stopped, and the core never
     * submits after close. */
    RZ_ASSERT(rv == 0);
}

static void backend_reset_uv(void *b)
{
    /* The writer takes new requests again once the store is writable. */
    (void)b;
}

static void part_closed(rz_io_uv *u)
{
    RZ_ASSERT(u->closing_parts > 0);
    if (--u->closing_parts == 0) {
        u->done(u->done_arg);
    }
}

static void timer_closed(uv_handle_t *h)
{
    part_closed(h->data);
}

static void writer_closed(void *arg)
{
    part_closed(arg);
}

static void uv_close_backend(void *b, void (*done)(void *arg), void *arg)
{
    rz_io_uv *u = b;
    u->done = done;
    u->done_arg = arg;
    u->closing_parts = 2;
    uv_timer_stop(&u->timer);
    uv_close((uv_handle_t *)&u->timer, timer_closed);
    /* Queued writes finish first; their completions reach the core. */
    rz_log_writer_destroy(u->writer, writer_closed, u);
    u->writer = NULL;
}

static const rz_io_backend_ops uv_ops = {
    .now_ms = backend_now_uv,
    .random = backend_random_uv,
    .start = backend_start_uv,
    .send = backend_send_uv,
    .send_frame = backend_send_frame_uv,
    .submit = backend_submit_uv,
    .reset = backend_reset_uv,
    .close = uv_close_backend,
};

int rz_io_uv__create(uv_loop_t *loop, rz_logstore *ls, const rz_transport *t,
                     uint64_t id, const char *address, rz_io_core *core,
                     const rz_io_backend_ops **ops, rz_io_uv **out)
{
    rz_io_uv *u;
    int rv;

    RZ_PRE(loop != NULL && ls != NULL && t != NULL && t->send != NULL);
    u = calloc(1, sizeof *u);
    if (u == NULL) {
        return RZ_ENOMEM;
    }
    u->loop = loop;
    u->core = core;
    u->ls = ls;
    u->transport = *t;
    u->id = id;
    snprintf(u->address, sizeof u->address, "%s", address);
    rz_buf_init(&u->frame, RZ_PEER_FRAME_MAX_BYTES);
    rv = rz_log_writer_create(loop, ls, &u->writer);
    if (rv != 0) {
        rz_buf_close(&u->frame);
        free(u);
        return rv;
    }
    RZ_ASSERT(uv_timer_init(loop, &u->timer) == 0);
    u->timer.data = u;
    *ops = &uv_ops;
    *out = u;
    return 0;
}

void rz_io_uv__destroy(rz_io_uv *u)
{
    if (u == NULL) {
        return;
    }
    RZ_PRE(u->writer == NULL);
    rz_buf_close(&u->frame);
    free(u);
}

size_t rz_io_uv__timings(rz_io_uv *u, uint64_t *ns, size_t max)
{
    if (u == NULL || u->writer == NULL) {
        return 0;
    }
    return rz_log_writer_timings_drain(u->writer, ns, max);
}
