/* Throughput of the peer transport, by hand (not a ctest test): two nets on
 * one loop over 127.0.0.1 (ports 16096-16097), one direction, so one core
 * seals, sends, receives and opens every frame.
 *   test_peer_bench [FRAME_BYTES [FRAMES]]     (default 128 200000)
 * Prints frames/s and MB/s; exits 1 if a frame is lost or reordered. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "node/peer.h"

#define FAR_FUTURE_MS 4102444800000ull

typedef struct bench
{
    uint64_t got;
    bool order_ok;
    int closed;
} bench;

static void on_frame(void *arg, uint64_t from_id, const void *frame, size_t len)
{
    bench *b = arg;
    uint64_t seq = len >= 8 ? rz_get_be64(frame) : UINT64_MAX;
    if (from_id != 1 || seq != b->got) {
        b->order_ok = false;
    }
    b->got++;
}

static void on_closed(void *arg)
{
    ((bench *)arg)->closed++;
}

int main(int argc, char **argv)
{
    size_t size = argc > 1 ? strtoul(argv[1], NULL, 10) : 128;
    uint64_t count = argc > 2 ? strtoull(argv[2], NULL, 10) : 200000;
    static rz_identity a, b;
    rz_cluster_key key;
    char errmsg[RZ_ERRMSG_BYTES] = "";
    uv_loop_t loop;
    bench bn = {0, true, 0};
    rz_peer_net *na = NULL, *nb = NULL;
    rz_transport t;
    uint8_t *buf;
    uint64_t sent = 0, busy = 0, t0;
    double secs;
    const char *to = "127.0.0.1:16097";

    if (size < 8 || size > RZ_PEER_FRAME_MAX_BYTES || count == 0 ||
        rz_crypto_init() != 0 || uv_loop_init(&loop) != 0) {
        fprintf(stderr, "usage: test_peer_bench [FRAME_BYTES>=8 [FRAMES]]\n");
        return 2;
    }
    rz_log_set_level(RZ_LOG_WARN);
    rz_cluster_key_generate(&key);
    if (rz_identity_issue(&key, RZ_ROLE_NODE, "n1", 1, FAR_FUTURE_MS, &a,
                          errmsg) != 0 ||
        rz_identity_issue(&key, RZ_ROLE_NODE, "n2", 2, FAR_FUTURE_MS, &b,
                          errmsg) != 0) {
        fprintf(stderr, "test_peer_bench: %s\n", errmsg);
        return 1;
    }
    rz_peer_options oa = {.identity = &a,
                          .listen = "127.0.0.1:16096",
                          .on_frame = on_frame,
                          .arg = &bn};
    rz_peer_options ob = oa;
    ob.identity = &b;
    ob.listen = to;
    if (rz_peer_net_start(&loop, &oa, &na, errmsg) != 0 ||
        rz_peer_net_start(&loop, &ob, &nb, errmsg) != 0) {
        fprintf(stderr, "test_peer_bench: %s\n", errmsg);
        return 1;
    }
    rz_peer_net_transport(na, &t);
    buf = calloc(1, size);
    if (buf == NULL) {
        return 1;
    }
    /* Connected first, so the clock measures the steady state. */
    t.send(t.data, 2, to, buf, size);
    sent = 1;
    while (bn.got < 1) {
        uv_run(&loop, UV_RUN_ONCE);
    }
    t0 = rz_mono_ns();
    while (bn.got < count + 1) {
        /* Batches of 1000, then let the loop move them. */
        for (int k = 0; k < 1000 && sent < count + 1; k++) {
            rz_put_be64(buf, sent);
            if (t.send(t.data, 2, to, buf, size) != 0) {
                busy++; /* the queue is full: drain first */
                break;
            }
            sent++;
        }
        uv_run(&loop, UV_RUN_NOWAIT);
    }
    secs = (double)(rz_mono_ns() - t0) / 1e9;
    printf("frame_bytes=%zu frames=%llu time_s=%.3f frames_per_s=%.0f "
           "MB_per_s=%.1f queue_full=%llu order_ok=%d\n",
           size, (unsigned long long)count, secs, (double)count / secs,
           (double)count * (double)size / secs / 1e6, (unsigned long long)busy,
           bn.order_ok ? 1 : 0);
    rz_peer_net_close(na, on_closed, &bn);
    rz_peer_net_close(nb, on_closed, &bn);
    while (bn.closed < 2) {
        uv_run(&loop, UV_RUN_ONCE);
    }
    free(buf);
    (void)uv_loop_close(&loop);
    return bn.order_ok ? 0 : 1;
}
