/* libFuzzer target: the frame decoder after a completed handshake. Byte 0
 * is the chunk size; the rest is the stream the client would send. Seeds
 * are frames the (deterministic) client really sealed. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pair pr;
    size_t n = 0;
    if (size < 1) {
        return 0;
    }
    fuzz_setup();
    fuzz_pair_init(&pr, 1024);
    pair_pump(&pr);
    if (pr.server.established != 1 || pr.client.established != 1) {
        abort();
    }
    (void)rz_secure_out(&pr.client.c, &n);
    rz_secure_out_consume(&pr.client.c, n);
    fuzz_feed_chunked(&pr.server, data + 1, size - 1, data[0]);
    if (pr.server.rv == 0) {
        (void)rz_secure_eof(&pr.server.c);
    }
    /* No frame larger than the listener's limit is ever delivered. */
    for (size_t i = 0; i < pr.server.n_frames && i < PAIR_MAX_FRAMES; i++) {
        if (pr.server.frame_len[i] > 1024) {
            abort();
        }
    }
    pair_close(&pr);
    return 0;
}
