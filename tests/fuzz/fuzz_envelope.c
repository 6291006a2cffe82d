/* libFuzzer target: the message envelope decoder (the msgpack that an
 * authenticated frame carries). A decoded envelope must re-encode to the
 * same bytes' meaning: same type, id and body. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rz_envelope e, again;
    rz_buf b;
    if (rz_envelope_decode(data, size, NULL, &e) != 0) {
        return 0;
    }
    if (e.body < data || e.body + e.body_len > data + size ||
        rz_mp_validate(e.body, e.body_len, 1, NULL) != 0) {
        abort();
    }
    rz_buf_init(&b, size + 64);
    rz_envelope_encode(&b, e.type, e.request_id, e.body, e.body_len);
    if (b.err != 0 || rz_envelope_decode(b.data, b.len, NULL, &again) != 0 ||
        again.type != e.type ||
        memcmp(again.request_id, e.request_id, RZ_REQUEST_ID_BYTES) != 0 ||
        again.body_len != e.body_len ||
        memcmp(again.body, e.body, e.body_len) != 0) {
        abort();
    }
    rz_buf_close(&b);
    return 0;
}
