/* libFuzzer target: handshake messages. Byte 0 picks the side under test
 * (even: the server, fed what a client sends; odd: the client, fed what a
 * server sends) and byte 1 the chunk size; the rest is the peer's bytes.
 * Seeds are recorded conversations, so mutations start from messages whose
 * signatures verify. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pair pr;
    side *s;
    size_t n = 0;
    if (size < 2) {
        return 0;
    }
    fuzz_setup();
    fuzz_pair_init(&pr, 4096);
    s = (data[0] & 1) ? &pr.client : &pr.server;
    /* The side under test already said what it says first. */
    (void)rz_secure_out(&s->c, &n);
    rz_secure_out_consume(&s->c, n);
    fuzz_feed_chunked(s, data + 2, size - 2, data[1]);
    if (s->rv == 0 && s->established > 0) {
        /* Got through: the stream must work in the outgoing direction. */
        if (rz_secure_send(&s->c, "ping", 4) != 0 ||
            rz_secure_close(&s->c) != 0) {
            abort();
        }
    }
    if (s->rv != 0 && rz_secure_peer(&s->c) != NULL) {
        abort(); /* a failed conn has no peer */
    }
    pair_close(&pr);
    return 0;
}
