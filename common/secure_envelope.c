/* The message envelope [type, request_id, body] carried in each
 * authenticated frame (DESIGN.md §5 "Messages"). */
#include "common/secure.h"

#include <string.h>

void rz_envelope_encode(rz_buf *b, uint32_t type,
                        const uint8_t request_id[RZ_REQUEST_ID_BYTES],
                        const void *body, size_t body_len)
{
    RZ_PRE(b != NULL && request_id != NULL && body != NULL && body_len > 0);
    rz_mp_put_array(b, 3);
    rz_mp_put_uint(b, type);
    rz_mp_put_bin(b, request_id, RZ_REQUEST_ID_BYTES);
    rz_mp_put_raw(b, body, body_len);
}

int rz_envelope_decode(const void *p, size_t n, const rz_mp_limits *lim,
                       rz_envelope *out)
{
    rz_mp_dec d;
    rz_envelope e;
    uint32_t count = 0;
    const uint8_t *body = NULL;
    size_t body_len = 0;
    RZ_PRE(out != NULL && (p != NULL || n == 0));
    /* The whole frame is checked against the limits before any value is
     * read: exactly one object, every count backed by bytes. */
    if (rz_mp_validate(p, n, 1, lim) != 0) {
        return RZ_EMALFORMED;
    }
    memset(&e, 0, sizeof(e));
    rz_mp_dec_init(&d, p, n);
    if (rz_mp_get_array(&d, &count) != 0 || count != 3 ||
        rz_mp_get_u32(&d, &e.type) != 0 ||
        rz_mp_get_bin_exact(&d, e.request_id, RZ_REQUEST_ID_BYTES) != 0 ||
        rz_mp_next_raw(&d, &body, &body_len) != 0 || rz_mp_skip(&d) != 0 ||
        !rz_mp_done(&d)) {
        return RZ_EMALFORMED;
    }
    if (e.type == 0 || body_len == 0) {
        return RZ_EMALFORMED;
    }
    e.body = body;
    e.body_len = body_len;
    *out = e;
    return 0;
}
