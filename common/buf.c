/* Growable byte buffers with a hard cap and a sticky error. */
#include "common.h"

#include <stdlib.h>
#include <string.h>

void rz_buf_init(rz_buf *b, size_t max_bytes)
{
    RZ_PRE(b != NULL);
    RZ_PRE(max_bytes > 0);
    memset(b, 0, sizeof(*b));
    b->max_bytes = max_bytes;
}

void rz_buf_close(rz_buf *b)
{
    RZ_PRE(b != NULL);
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->err = 0;
}

void rz_buf_reset(rz_buf *b)
{
    RZ_PRE(b != NULL);
    b->len = 0;
    b->err = 0;
}

int rz_buf_reserve(rz_buf *b, size_t n)
{
    size_t want;
    size_t cap;
    uint8_t *data;

    RZ_PRE(b != NULL);
    if (b->err != 0) {
        return b->err;
    }
    if (n > b->max_bytes - b->len) {
        b->err = RZ_ETOOBIG;
        return b->err;
    }
    want = b->len + n;
    if (want <= b->cap) {
        return 0;
    }
    cap = b->cap < 64 ? 64 : b->cap;
    while (cap < want) {
        cap = cap > SIZE_MAX / 2 ? want : cap * 2;
    }
    if (cap > b->max_bytes) {
        cap = b->max_bytes;
    }
    data = realloc(b->data, cap);
    if (data == NULL) {
        b->err = RZ_ENOMEM;
        return b->err;
    }
    b->data = data;
    b->cap = cap;
    RZ_POST(b->cap >= want);
    return 0;
}

int rz_buf_append(rz_buf *b, const void *p, size_t n)
{
    int rv;
    RZ_PRE(p != NULL || n == 0);
    rv = rz_buf_reserve(b, n);
    if (rv != 0) {
        return rv;
    }
    if (n > 0) {
        memcpy(b->data + b->len, p, n);
        b->len += n;
    }
    return 0;
}

uint8_t *rz_buf_take(rz_buf *b, size_t *len)
{
    uint8_t *data;
    RZ_PRE(b != NULL);
    RZ_PRE(len != NULL);
    data = b->data;
    *len = b->len;
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    return data;
}
