/* Unit tests of consensus/snapshot.c: the snapshot descriptor codec, the
 * state-transfer frames (roundtrip, every truncation, bit flips, bad
 * fields) and the transfer receiver against out-of-order, duplicated,
 * stale, contradicting and corrupted chunks: it never crashes and never
 * reports a copy whose bytes differ from the ones announced. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/common.h"
#include "consensus/msg.h"
#include "consensus/snapshot.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* ---- Descriptor ---------------------------------------------------------- */

static void test_desc(void **state)
{
    rz_snap_desc d, got;
    uint8_t b[RZ_SNAP_DESC_BYTES];
    unsigned i;
    (void)state;

    memset(&d, 0, sizeof d);
    d.index = 1234567;
    d.state_index = 1234500; /* below index: trailing barriers */
    for (i = 0; i < 32; i++) {
        d.checksum[i] = (uint8_t)(i * 7 + 1);
    }
    rz_snap_desc_encode(&d, b);
    assert_int_equal(rz_snap_desc_decode(b, sizeof b, &got), 0);
    assert_true(got.index == d.index && got.state_index == d.state_index);
    assert_memory_equal(got.checksum, d.checksum, 32);
    /* Wrong lengths. */
    assert_int_equal(rz_snap_desc_decode(b, sizeof b - 1, &got), RZ_EMALFORMED);
    assert_int_equal(rz_snap_desc_decode(b, 0, &got), RZ_EMALFORMED);
    assert_int_equal(rz_snap_desc_decode(NULL, sizeof b, &got), RZ_EMALFORMED);
    /* Any flip in the magic or format is refused. */
    for (i = 0; i < 8; i++) {
        uint8_t c[RZ_SNAP_DESC_BYTES];
        memcpy(c, b, sizeof c);
        c[i] ^= 0x01;
        assert_int_equal(rz_snap_desc_decode(c, sizeof c, &got), RZ_EMALFORMED);
    }
    /* Index 0 is impossible. */
    memset(b + 8, 0, 8);
    assert_int_equal(rz_snap_desc_decode(b, sizeof b, &got), RZ_EMALFORMED);
}

/* ---- Frames -------------------------------------------------------------- */

static void chunk_make(rz_xfer_msg *m, const uint8_t *data, size_t len)
{
    unsigned i;
    memset(m, 0, sizeof *m);
    m->type = RZ_XFER_MSG_CHUNK;
    m->xfer_id = 77;
    m->term = 9;
    m->total_bytes = 100000;
    m->offset = 4096;
    m->state_index = 555;
    for (i = 0; i < 32; i++) {
        m->file_hash[i] = (uint8_t)i;
        m->state_checksum[i] = (uint8_t)(255 - i);
    }
    m->data = data;
    m->len = len;
}

static void encode(const rz_xfer_msg *m, rz_buf *b)
{
    rz_buf_init(b, RZ_PEER_FRAME_MAX_BYTES);
    assert_int_equal(rz_xfer_msg_encode(m, 3, "127.0.0.1:7513", b), 0);
}

static void test_frames_roundtrip(void **state)
{
    uint8_t data[700];
    rz_xfer_msg m, got;
    rz_buf b;
    unsigned i;
    (void)state;

    for (i = 0; i < sizeof data; i++) {
        data[i] = (uint8_t)rnd();
    }
    chunk_make(&m, data, sizeof data);
    encode(&m, &b);
    assert_true(rz_xfer_frame_is(b.data, b.len));
    assert_int_equal(rz_xfer_msg_decode(b.data, b.len, &got), 0);
    assert_int_equal(got.type, RZ_XFER_MSG_CHUNK);
    assert_true(got.sender == 3 && got.xfer_id == 77 && got.term == 9);
    assert_true(got.total_bytes == 100000 && got.offset == 4096);
    assert_true(got.state_index == 555 && got.len == sizeof data);
    assert_string_equal(got.sender_address, "127.0.0.1:7513");
    assert_memory_equal(got.file_hash, m.file_hash, 32);
    assert_memory_equal(got.state_checksum, m.state_checksum, 32);
    assert_memory_equal(got.data, data, sizeof data);
    rz_buf_close(&b);

    memset(&m, 0, sizeof m);
    m.type = RZ_XFER_MSG_ACK;
    m.xfer_id = 5;
    m.next_offset = 8192;
    m.status = RZ_XFER_DONE;
    m.state_index = 99;
    encode(&m, &b);
    assert_int_equal(rz_xfer_msg_decode(b.data, b.len, &got), 0);
    assert_true(got.type == RZ_XFER_MSG_ACK && got.xfer_id == 5 &&
                got.next_offset == 8192 && got.status == RZ_XFER_DONE &&
                got.state_index == 99);
    rz_buf_close(&b);

    memset(&m, 0, sizeof m);
    m.type = RZ_XFER_MSG_NEED;
    m.snapshot_index = 40;
    m.state_index = 12;
    encode(&m, &b);
    assert_int_equal(rz_xfer_msg_decode(b.data, b.len, &got), 0);
    assert_true(got.type == RZ_XFER_MSG_NEED && got.snapshot_index == 40 &&
                got.state_index == 12);
    rz_buf_close(&b);
}

/* A raft message frame is not a transfer frame, and the transfer decoder
 * refuses it. */
static void test_frames_not_raft(void **state)
{
    struct raft_message m;
    rz_xfer_msg got;
    rz_buf b;
    (void)state;
    memset(&m, 0, sizeof m);
    m.type = RAFT_IO_APPEND_ENTRIES_RESULT;
    m.append_entries_result.term = 3;
    rz_buf_init(&b, 4096);
    assert_int_equal(rz_msg_encode(&m, 2, "n2", &b), 0);
    assert_false(rz_xfer_frame_is(b.data, b.len));
    assert_int_equal(rz_xfer_msg_decode(b.data, b.len, &got), RZ_EMALFORMED);
    rz_buf_close(&b);
}

static void test_frames_malformed(void **state)
{
    uint8_t data[300];
    rz_xfer_msg m, got;
    rz_buf b;
    size_t n;
    unsigned i, k;
    (void)state;

    memset(data, 0xab, sizeof data);
    chunk_make(&m, data, sizeof data);
    encode(&m, &b);
    /* Every truncation. */
    for (n = 0; n < b.len; n++) {
        assert_int_equal(rz_xfer_msg_decode(b.data, n, &got), RZ_EMALFORMED);
        (void)rz_xfer_frame_is(b.data, n);
    }
    /* Random flips: refused, or a message that passes the same checks. */
    for (k = 0; k < 3000; k++) {
        uint8_t *c = malloc(b.len);
        assert_non_null(c);
        memcpy(c, b.data, b.len);
        for (i = 0; i < 1 + rnd() % 4; i++) {
            c[rnd() % b.len] ^= (uint8_t)(1u << (rnd() % 8));
        }
        if (rz_xfer_msg_decode(c, b.len, &got) == 0 &&
            got.type == RZ_XFER_MSG_CHUNK) {
            assert_true(got.len > 0 && got.offset + got.len <= got.total_bytes);
        }
        free(c);
    }
    rz_buf_close(&b);

    /* Fields that no valid chunk has. */
    chunk_make(&m, data, sizeof data);
    m.total_bytes = 100; /* data past the end */
    m.offset = 0;
    encode(&m, &b);
    assert_int_equal(rz_xfer_msg_decode(b.data, b.len, &got), RZ_EMALFORMED);
    rz_buf_close(&b);
    chunk_make(&m, data, sizeof data);
    m.term = 0;
    encode(&m, &b);
    assert_int_equal(rz_xfer_msg_decode(b.data, b.len, &got), RZ_EMALFORMED);
    rz_buf_close(&b);
    chunk_make(&m, data, sizeof data);
    m.offset = UINT64_MAX - 10; /* overflowing offset + len */
    m.total_bytes = UINT64_MAX;
    encode(&m, &b);
    assert_int_equal(rz_xfer_msg_decode(b.data, b.len, &got), RZ_EMALFORMED);
    rz_buf_close(&b);
    /* The encoder refuses an empty chunk and a bad status. */
    chunk_make(&m, data, 0);
    rz_buf_init(&b, 1024);
    assert_int_equal(rz_xfer_msg_encode(&m, 1, "a", &b), RZ_EINVAL);
    rz_buf_close(&b);
    memset(&m, 0, sizeof m);
    m.type = RZ_XFER_MSG_ACK;
    m.status = 3;
    rz_buf_init(&b, 1024);
    assert_int_equal(rz_xfer_msg_encode(&m, 1, "a", &b), RZ_EINVAL);
    rz_buf_close(&b);
}

/* ---- Receiver ------------------------------------------------------------ */

#define IMG_BYTES 10007u
#define CHUNK 1000u

typedef struct img
{
    uint8_t bytes[IMG_BYTES];
    uint8_t hash[32];
    uint8_t sum[32];
    uint64_t id, term, state_index, from;
} img;

static void img_make(img *g, uint64_t id, uint64_t term, uint64_t from)
{
    unsigned i;
    for (i = 0; i < IMG_BYTES; i++) {
        g->bytes[i] = (uint8_t)rnd();
    }
    rz_hash(g->bytes, IMG_BYTES, g->hash, 32);
    for (i = 0; i < 32; i++) {
        g->sum[i] = (uint8_t)rnd();
    }
    g->id = id;
    g->term = term;
    g->state_index = 500 + id;
    g->from = from;
}

static void img_chunk(const img *g, unsigned k, rz_xfer_msg *m)
{
    uint64_t off = (uint64_t)k * CHUNK;
    memset(m, 0, sizeof *m);
    m->type = RZ_XFER_MSG_CHUNK;
    m->sender = g->from;
    snprintf(m->sender_address, sizeof m->sender_address, "n%llu",
             (unsigned long long)g->from);
    m->xfer_id = g->id;
    m->term = g->term;
    m->total_bytes = IMG_BYTES;
    m->offset = off;
    memcpy(m->file_hash, g->hash, 32);
    m->state_index = g->state_index;
    memcpy(m->state_checksum, g->sum, 32);
    m->data = g->bytes + off;
    m->len = IMG_BYTES - off < CHUNK ? (size_t)(IMG_BYTES - off) : CHUNK;
}

#define N_CHUNKS ((IMG_BYTES + CHUNK - 1) / CHUNK)

static char tdir[256];

static int setup(void **state)
{
    const char *base = getenv("TMPDIR");
    (void)state;
    snprintf(tdir, sizeof tdir, "%s/rz-xfer-XXXXXX",
             base != NULL && base[0] != '\0' ? base : "/tmp");
    return mkdtemp(tdir) != NULL ? 0 : -1;
}

static int teardown(void **state)
{
    char p[512];
    (void)state;
    snprintf(p, sizeof p, "%s/xfer-recv/state.mdb", tdir);
    unlink(p);
    snprintf(p, sizeof p, "%s/xfer-recv", tdir);
    rmdir(p);
    return rmdir(tdir) == 0 ? 0 : -1;
}

/* The copy on disk equals g's bytes. */
static void assert_file_is(const rz_xfer_recv *rx, const img *g)
{
    static uint8_t buf[IMG_BYTES + 1];
    FILE *f = fopen(rx->path, "rb");
    size_t n;
    assert_non_null(f);
    n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    assert_int_equal(n, IMG_BYTES);
    assert_memory_equal(buf, g->bytes, IMG_BYTES);
}

static bool path_exists(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0;
}

static void test_recv_in_order(void **state)
{
    static img g;
    rz_xfer_recv rx;
    rz_xfer_msg c, ack;
    unsigned k;
    (void)state;

    img_make(&g, 1, 4, 2);
    assert_int_equal(rz_xfer_recv_init(&rx, tdir), 0);
    for (k = 0; k < N_CHUNKS; k++) {
        int act;
        img_chunk(&g, k, &c);
        act = rz_xfer_recv_chunk(&rx, &c, 10, 100 + k, &ack);
        if (k + 1 < N_CHUNKS) {
            assert_int_equal(act, RZ_XFER_RX_ACK);
            assert_int_equal(ack.status, RZ_XFER_MORE);
            assert_int_equal(ack.next_offset, (uint64_t)(k + 1) * CHUNK);
            assert_int_equal(ack.xfer_id, 1);
        } else {
            assert_int_equal(act, RZ_XFER_RX_COMPLETE);
        }
    }
    assert_file_is(&rx, &g);
    assert_int_equal(rx.state_index, g.state_index);
    assert_memory_equal(rx.checksum, g.sum, 32);
    rz_xfer_recv_finish(&rx, 0, g.state_index, &ack);
    assert_int_equal(ack.status, RZ_XFER_DONE);
    assert_int_equal(ack.state_index, g.state_index);
    assert_int_equal(rx.n_installed, 1);
    assert_false(rx.active);
    assert_false(path_exists(rx.dir)); /* nothing left behind */
}

static void test_recv_out_of_order_and_dups(void **state)
{
    static img g;
    rz_xfer_recv rx;
    rz_xfer_msg c, ack;
    unsigned k;
    (void)state;

    img_make(&g, 2, 4, 2);
    assert_int_equal(rz_xfer_recv_init(&rx, tdir), 0);
    /* A middle chunk first: nothing is written, the ack asks for 0. */
    img_chunk(&g, 3, &c);
    assert_int_equal(rz_xfer_recv_chunk(&rx, &c, 10, 1, &ack), RZ_XFER_RX_ACK);
    assert_int_equal(ack.next_offset, 0);
    assert_int_equal(ack.status, RZ_XFER_MORE);
    assert_false(rx.active);
    assert_false(path_exists(rx.path));
    /* Chunk 0, then 2 (a gap): the ack stays at 1000. */
    img_chunk(&g, 0, &c);
    assert_int_equal(rz_xfer_recv_chunk(&rx, &c, 10, 2, &ack), RZ_XFER_RX_ACK);
    img_chunk(&g, 2, &c);
    assert_int_equal(rz_xfer_recv_chunk(&rx, &c, 10, 3, &ack), RZ_XFER_RX_ACK);
    assert_int_equal(ack.next_offset, CHUNK);
    /* Everything twice, from 0: duplicates change nothing. */
    for (k = 0; k < N_CHUNKS; k++) {
        int act;
        img_chunk(&g, k, &c);
        act = rz_xfer_recv_chunk(&rx, &c, 10, 10 + k, &ack);
        if (k + 1 == N_CHUNKS) {
            assert_int_equal(act, RZ_XFER_RX_COMPLETE);
            break;
        }
        assert_int_equal(act, RZ_XFER_RX_ACK);
        act = rz_xfer_recv_chunk(&rx, &c, 10, 10 + k, &ack);
        assert_int_equal(act, RZ_XFER_RX_ACK);
        assert_int_equal(ack.next_offset, (uint64_t)(k + 1) * CHUNK);
    }
    assert_file_is(&rx, &g);
    assert_int_equal(rx.bytes_received, IMG_BYTES);
    rz_xfer_recv_finish(&rx, RZ_ECORRUPT, 10, &ack); /* install refused */
    assert_int_equal(ack.status, RZ_XFER_ABORT);
    assert_int_equal(rx.n_aborted, 1);
    assert_false(path_exists(rx.dir));
}

static void test_recv_corrupt_and_contradicting(void **state)
{
    static img g;
    static uint8_t bad[CHUNK];
    rz_xfer_recv rx;
    rz_xfer_msg c, ack;
    unsigned k;
    (void)state;

    img_make(&g, 3, 4, 2);
    assert_int_equal(rz_xfer_recv_init(&rx, tdir), 0);
    /* One chunk's bytes differ from what the hash covers. */
    for (k = 0; k < N_CHUNKS; k++) {
        int act;
        img_chunk(&g, k, &c);
        if (k == 4) {
            memcpy(bad, c.data, c.len);
            bad[17] ^= 0x40;
            c.data = bad;
        }
        act = rz_xfer_recv_chunk(&rx, &c, 10, k, &ack);
        assert_int_not_equal(act, RZ_XFER_RX_COMPLETE);
    }
    assert_int_equal(ack.status, RZ_XFER_ABORT);
    assert_false(rx.active);
    assert_false(path_exists(rx.dir));

    /* The same transfer announcing another copy midway: dropped. */
    img_chunk(&g, 0, &c);
    assert_int_equal(rz_xfer_recv_chunk(&rx, &c, 10, 1, &ack), RZ_XFER_RX_ACK);
    img_chunk(&g, 1, &c);
    c.state_checksum[0] ^= 1;
    assert_int_equal(rz_xfer_recv_chunk(&rx, &c, 10, 2, &ack), RZ_XFER_RX_ACK);
    assert_int_equal(ack.status, RZ_XFER_ABORT);
    assert_false(rx.active);
    img_chunk(&g, 0, &c);
    assert_int_equal(rz_xfer_recv_chunk(&rx, &c, 10, 3, &ack), RZ_XFER_RX_ACK);
    img_chunk(&g, 1, &c);
    c.total_bytes = IMG_BYTES + 1;
    assert_int_equal(rz_xfer_recv_chunk(&rx, &c, 10, 4, &ack), RZ_XFER_RX_ACK);
    assert_int_equal(ack.status, RZ_XFER_ABORT);

    /* Chunks no valid frame carries are ignored. */
    img_chunk(&g, 0, &c);
    c.len = 0;
    assert_int_equal(rz_xfer_recv_chunk(&rx, &c, 10, 5, &ack),
                     RZ_XFER_RX_IGNORE);
    img_chunk(&g, 10, &c);
    c.len = CHUNK; /* past the end */
    assert_int_equal(rz_xfer_recv_chunk(&rx, &c, 10, 5, &ack),
                     RZ_XFER_RX_IGNORE);
    rz_xfer_recv_abort(&rx);
    assert_false(path_exists(rx.dir));
}

static void test_recv_terms_and_covered(void **state)
{
    static img old, cur;
    rz_xfer_recv rx;
    rz_xfer_msg c, ack;
    unsigned k;
    (void)state;

    img_make(&cur, 5, 7, 3);
    img_make(&old, 4, 6, 2);
    assert_int_equal(rz_xfer_recv_init(&rx, tdir), 0);
    img_chunk(&cur, 0, &c);
    assert_int_equal(rz_xfer_recv_chunk(&rx, &c, 10, 1, &ack), RZ_XFER_RX_ACK);
    /* A deposed leader's transfer (older term) cannot replace it. */
    img_chunk(&old, 0, &c);
    assert_int_equal(rz_xfer_recv_chunk(&rx, &c, 10, 2, &ack),
                     RZ_XFER_RX_IGNORE);
    assert_int_equal(rx.xfer_id, cur.id);
    /* A newer transfer (offset 0, newer term) does. */
    old.term = 8;
    img_chunk(&old, 0, &c);
    assert_int_equal(rz_xfer_recv_chunk(&rx, &c, 10, 3, &ack), RZ_XFER_RX_ACK);
    assert_int_equal(rx.xfer_id, old.id);
    assert_int_equal(rx.n_aborted, 1);
    /* The replaced transfer's chunks only get "start over". */
    img_chunk(&cur, 1, &c);
    cur.term = 8;
    img_chunk(&cur, 1, &c);
    assert_int_equal(rz_xfer_recv_chunk(&rx, &c, 10, 4, &ack), RZ_XFER_RX_ACK);
    assert_int_equal(ack.xfer_id, cur.id);
    assert_int_equal(ack.next_offset, 0);
    for (k = 1; k < N_CHUNKS; k++) {
        img_chunk(&old, k, &c);
        (void)rz_xfer_recv_chunk(&rx, &c, 10, 5 + k, &ack);
    }
    assert_file_is(&rx, &old);
    rz_xfer_recv_abort(&rx);

    /* A state this node already holds: DONE at once, nothing written. */
    img_chunk(&cur, 0, &c);
    assert_int_equal(rz_xfer_recv_chunk(&rx, &c, cur.state_index, 9, &ack),
                     RZ_XFER_RX_ACK);
    assert_int_equal(ack.status, RZ_XFER_DONE);
    assert_int_equal(ack.state_index, cur.state_index);
    assert_false(rx.active);
    assert_false(path_exists(rx.dir));
}

/* Random interleavings of two transfers' chunks, duplicated and out of
 * order, some corrupted: whenever the receiver reports a complete copy it
 * is byte for byte the one its transfer announced. */
static void test_recv_random(void **state)
{
    static img g[2];
    static uint8_t bad[CHUNK];
    rz_xfer_recv rx;
    unsigned round;
    int completes = 0;
    (void)state;

    assert_int_equal(rz_xfer_recv_init(&rx, tdir), 0);
    for (round = 0; round < 40; round++) {
        unsigned step;
        img_make(&g[0], 10 + 2 * round, 3 + round, 2);
        img_make(&g[1], 11 + 2 * round, 3 + round + rnd() % 2, 3);
        for (step = 0; step < 400; step++) {
            const img *p = &g[rnd() % 2];
            rz_xfer_msg c, ack;
            int act;
            unsigned k =
                (unsigned)(rnd() % 3 == 0 ? rnd() % N_CHUNKS : rx.next / CHUNK);
            if (k >= N_CHUNKS) {
                k = N_CHUNKS - 1;
            }
            img_chunk(p, k, &c);
            if (rnd() % 50 == 0) {
                memcpy(bad, c.data, c.len);
                bad[rnd() % c.len] ^= 0x10;
                c.data = bad;
            }
            act = rz_xfer_recv_chunk(&rx, &c, 10, step, &ack);
            if (act == RZ_XFER_RX_COMPLETE) {
                const img *owner = rx.xfer_id == g[0].id ? &g[0] : &g[1];
                assert_true(rx.xfer_id == owner->id);
                assert_file_is(&rx, owner);
                assert_int_equal(rx.state_index, owner->state_index);
                rz_xfer_recv_finish(&rx, 0, 10, &ack);
                completes++;
                break;
            }
        }
        rz_xfer_recv_abort(&rx);
    }
    assert_true(completes > 0);
    assert_false(path_exists(rx.dir));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_desc),
        cmocka_unit_test(test_frames_roundtrip),
        cmocka_unit_test(test_frames_not_raft),
        cmocka_unit_test(test_frames_malformed),
        cmocka_unit_test(test_recv_in_order),
        cmocka_unit_test(test_recv_out_of_order_and_dups),
        cmocka_unit_test(test_recv_corrupt_and_contradicting),
        cmocka_unit_test(test_recv_terms_and_covered),
        cmocka_unit_test(test_recv_random),
    };
    if (rz_crypto_init() != 0) {
        return 1;
    }
    return cmocka_run_group_tests(tests, setup, teardown);
}
