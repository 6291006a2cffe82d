/* Unit tests of the group-commit log writer (consensus/log_writer.c):
 * FIFO completions, merging of queued appends, truncate and snapshot as
 * ordered barriers, failures that write nothing and recovery, shutdown. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "helpers.h"

#define MAX_REQS 2048

typedef struct op
{
    rz_log_req req;
    rz_log_entry entries[8];
    uint8_t bufs[8][600];
    int seq;    /* position in the queue */
    int status; /* what the callback said */
    int fired;
} op;

typedef struct fx
{
    char dir[128];
    rz_logstore *ls;
    uv_loop_t loop;
    rz_log_writer *w;
    op *ops; /* MAX_REQS */
    int n_ops;
    int next_fired; /* completion order check */
    int order_ok;
    int closed;
} fx;

static void on_done(rz_log_req *req, int status)
{
    op *o = (op *)req; /* req is the first member */
    fx *f = req->data;
    o->status = status;
    o->fired++;
    if (o->seq != f->next_fired) {
        f->order_ok = 0;
    }
    f->next_fired++;
}

static void on_closed(void *arg)
{
    fx *f = arg;
    f->closed = 1;
}

static void open_store(fx *f, size_t map_bytes)
{
    char errmsg[RZ_ERRMSG_BYTES];
    rz_logstore_options o = {.map_size_bytes = map_bytes};
    assert_int_equal(rz_logstore_open(f->dir, &o, &f->ls, errmsg), 0);
    assert_int_equal(rz_log_writer_create(&f->loop, f->ls, &f->w), 0);
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    f->ops = calloc(MAX_REQS, sizeof *f->ops);
    f->order_ok = 1;
    tdir_make(f->dir, "writer");
    assert_int_equal(uv_loop_init(&f->loop), 0);
    *state = f;
    return 0;
}

/* Destroys the writer (draining it) and runs the loop until it is closed. */
static void writer_stop(fx *f)
{
    if (f->w == NULL) {
        return;
    }
    rz_log_writer_destroy(f->w, on_closed, f);
    f->w = NULL;
    for (int i = 0; i < 100000 && !f->closed; i++) {
        uv_run(&f->loop, UV_RUN_ONCE);
    }
    assert_true(f->closed);
}

static int teardown(void **state)
{
    fx *f = *state;
    writer_stop(f);
    rz_logstore_close(f->ls);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    tdir_remove(f->dir);
    free(f->ops);
    free(f);
    return 0;
}

static op *next_op(fx *f)
{
    assert_true(f->n_ops < MAX_REQS);
    op *o = &f->ops[f->n_ops];
    memset(o, 0, sizeof *o);
    o->seq = f->n_ops++;
    o->req.data = f;
    return o;
}

static void q_append(fx *f, uint64_t first, size_t n, uint64_t term)
{
    op *o = next_op(f);
    assert_true(n <= 8);
    for (size_t i = 0; i < n; i++) {
        size_t len = payload_len(first + i);
        payload_fill(o->bufs[i], len, first + i, term);
        o->entries[i] = (rz_log_entry){term, 1, o->bufs[i], len};
    }
    assert_int_equal(
        rz_log_writer_append(f->w, &o->req, first, o->entries, n, on_done), 0);
}

/* Runs the loop until every queued op has fired. */
static void run_all(fx *f)
{
    for (int i = 0; i < 100000 && f->next_fired < f->n_ops; i++) {
        uv_run(&f->loop, UV_RUN_ONCE);
    }
    assert_int_equal(f->next_fired, f->n_ops);
    assert_true(f->order_ok);
    assert_int_equal(rz_log_writer_pending(f->w), 0);
}

static void check_range(rz_logstore *ls, uint64_t first, uint64_t last,
                        uint64_t term)
{
    for (uint64_t i = first; i <= last; i++) {
        rz_log_entry e;
        assert_int_equal(rz_logstore_get(ls, i, &e), 0);
        assert_true(payload_ok(&e, i, term));
    }
}

static void test_fifo_and_merge(void **state)
{
    fx *f = *state;
    open_store(f, 0);
    /* 1000 single-entry appends queued faster than one sync. */
    for (uint64_t i = 1; i <= 1000; i++) {
        q_append(f, i, 1, 1);
    }
    assert_int_equal(rz_log_writer_pending(f->w), 1000);
    run_all(f);
    for (int i = 0; i < f->n_ops; i++) {
        assert_int_equal(f->ops[i].status, 0);
        assert_int_equal(f->ops[i].fired, 1);
    }
    rz_log_writer_stats st;
    rz_log_writer_stats_get(f->w, &st);
    assert_int_equal(st.entries_written, 1000);
    /* At most MERGE_MAX_REQS (1024) per txn, and the worker can only have
     * started on a few before the rest were queued. */
    assert_true(st.commits >= 1 && st.commits < 100);
    writer_stop(f);
    rz_log_state ls;
    assert_int_equal(rz_logstore_load(f->ls, &ls), 0);
    assert_int_equal(ls.last_index, 1000);
    check_range(f->ls, 1, 1000, 1);
}

static void q_truncate(fx *f, uint64_t index)
{
    op *o = next_op(f);
    assert_int_equal(rz_log_writer_truncate(f->w, &o->req, index, on_done), 0);
}

static void q_snapshot(fx *f, uint64_t index, uint64_t term, uint64_t trailing)
{
    op *o = next_op(f);
    rz_log_snapshot s;
    memset(&s, 0, sizeof s);
    s.index = index;
    s.term = term;
    s.conf_index = 1;
    s.conf = "c";
    s.conf_len = 1;
    assert_int_equal(
        rz_log_writer_snapshot_put(f->w, &o->req, &s, trailing, on_done), 0);
}

static void test_barriers_ordered(void **state)
{
    fx *f = *state;
    open_store(f, 0);
    /* Appends in flight, a truncate behind them, then the new tail: the
     * truncate must see all of 1..80 and come before 41.. of term 2. */
    for (uint64_t i = 1; i <= 80; i += 8) {
        q_append(f, i, 8, 1);
    }
    q_truncate(f, 41);
    for (uint64_t i = 41; i <= 64; i += 8) {
        q_append(f, i, 8, 2);
    }
    q_snapshot(f, 60, 2, 10);
    q_append(f, 65, 3, 2);
    run_all(f);
    for (int i = 0; i < f->n_ops; i++) {
        assert_int_equal(f->ops[i].status, 0);
    }
    writer_stop(f);
    rz_log_state st;
    assert_int_equal(rz_logstore_load(f->ls, &st), 0);
    assert_int_equal(st.first_index, 51);
    assert_int_equal(st.last_index, 67);
    assert_true(st.has_snapshot);
    assert_int_equal(st.snapshot.index, 60);
    check_range(f->ls, 51, 67, 2);
}

static void test_install_replaces_in_flight(void **state)
{
    fx *f = *state;
    open_store(f, 0);
    /* A snapshot install (trailing 0) queued behind appends replaces all of
     * them; the append queued after it continues from the snapshot. */
    for (uint64_t i = 1; i <= 40; i += 8) {
        q_append(f, i, 8, 1);
    }
    q_snapshot(f, 500, 3, 0);
    q_append(f, 501, 4, 3);
    run_all(f);
    for (int i = 0; i < f->n_ops; i++) {
        assert_int_equal(f->ops[i].status, 0);
    }
    writer_stop(f);
    rz_log_state st;
    rz_log_entry e;
    assert_int_equal(rz_logstore_load(f->ls, &st), 0);
    assert_int_equal(st.snapshot.index, 500);
    assert_int_equal(st.first_index, 501);
    assert_int_equal(st.last_index, 504);
    assert_int_equal(rz_logstore_get(f->ls, 40, &e), RZ_ENOTFOUND);
    check_range(f->ls, 501, 504, 3);
}

static void test_failure_and_recovery(void **state)
{
    fx *f = *state;
    open_store(f, 256 * 1024);
    /* One txn at a time until the map is full. */
    uint64_t next = 1;
    int rv = 0;
    for (int i = 0; i < 1000 && rv == 0; i++) {
        q_append(f, next, 8, 1);
        run_all(f);
        rv = f->ops[f->n_ops - 1].status;
        if (rv == 0) {
            next += 8;
        }
    }
    assert_int_equal(rv, RZ_ENOSPACE);
    uint64_t stored = next - 1;
    assert_true(stored > 64);
    /* Queued behind the failure: all fail, with the failure's code, and
     * write nothing. */
    int first_queued = f->n_ops;
    for (int i = 0; i < 5; i++) {
        q_append(f, next + (uint64_t)i * 8, 8, 1);
    }
    run_all(f);
    for (int i = first_queued; i < f->n_ops; i++) {
        assert_int_equal(f->ops[i].status, RZ_ENOSPACE);
    }
    rz_log_writer_stats ws;
    rz_log_writer_stats_get(f->w, &ws);
    assert_int_equal(ws.entries_written, stored);
    /* Compaction through the writer frees space; appends work again. */
    q_snapshot(f, stored, 1, 8);
    int snap_op = f->n_ops - 1;
    q_append(f, stored + 1, 8, 1);
    q_append(f, stored + 9, 8, 1);
    run_all(f);
    assert_int_equal(f->ops[snap_op].status, 0);
    assert_int_equal(f->ops[f->n_ops - 2].status, 0);
    assert_int_equal(f->ops[f->n_ops - 1].status, 0);
    writer_stop(f);
    rz_log_state st;
    assert_int_equal(rz_logstore_load(f->ls, &st), 0);
    assert_int_equal(st.first_index, stored - 7);
    assert_int_equal(st.last_index, stored + 16);
    check_range(f->ls, stored - 7, stored + 16, 1);
}

static void test_bad_request_alone(void **state)
{
    fx *f = *state;
    open_store(f, 0);
    q_append(f, 1, 4, 1);
    q_append(f, 5, 4, 1);
    op *bad = next_op(f);
    static const uint8_t junk[4] = {1, 2, 3, 4};
    bad->entries[0] = (rz_log_entry){1, 77, junk, sizeof junk};
    assert_int_equal(
        rz_log_writer_append(f->w, &bad->req, 9, bad->entries, 1, on_done), 0);
    q_append(f, 10, 2, 1);
    run_all(f);
    assert_int_equal(f->ops[0].status, 0);
    assert_int_equal(f->ops[1].status, 0);
    assert_int_equal(f->ops[2].status, RZ_EINVAL);
    assert_int_equal(f->ops[3].status, RZ_EINVAL);
    writer_stop(f);
    rz_log_state st;
    assert_int_equal(rz_logstore_load(f->ls, &st), 0);
    assert_int_equal(st.last_index, 8);
    check_range(f->ls, 1, 8, 1);
}

static void test_destroy_drains(void **state)
{
    fx *f = *state;
    open_store(f, 0);
    for (uint64_t i = 1; i <= 300; i += 3) {
        q_append(f, i, 3, 1);
    }
    rz_log_writer *w = f->w;
    rz_log_writer_destroy(w, on_closed, f);
    f->w = NULL;
    /* Refused after destroy, and its callback never fires. */
    op *late = next_op(f);
    f->n_ops--;
    assert_int_equal(
        rz_log_writer_append(w, &late->req, 301, f->ops[0].entries, 1, on_done),
        RZ_ESHUTDOWN);
    for (int i = 0; i < 100000 && !f->closed; i++) {
        uv_run(&f->loop, UV_RUN_ONCE);
    }
    assert_true(f->closed);
    assert_int_equal(f->next_fired, f->n_ops);
    assert_true(f->order_ok);
    rz_log_state st;
    assert_int_equal(rz_logstore_load(f->ls, &st), 0);
    assert_int_equal(st.last_index, 300);
    check_range(f->ls, 1, 300, 1);
}

int main(void)
{
    if (rz_crypto_init() != 0) {
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fifo_and_merge, setup, teardown),
        cmocka_unit_test_setup_teardown(test_barriers_ordered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_install_replaces_in_flight, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_failure_and_recovery, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_bad_request_alone, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_destroy_drains, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
