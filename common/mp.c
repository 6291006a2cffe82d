/* The bounded msgpack codec: encoding through msgpack-c's packer, decoding
 * through our own validator and cursor.
 *
 * Why decoding is ours: Debian's msgpack-c 4.0 reserves memory for whatever
 * count a header announces (a 6-byte input announcing 268M elements reserves
 * ~8 GB) and recurses per nesting level (DESIGN.md §5). Every ratusz decoder
 * therefore validates the whole frame first — each count against the bytes
 * actually left, every size and the depth against explicit limits — and then
 * reads it with a bounds-checked cursor that allocates nothing.
 *
 * msgpack wire format facts used here (from the msgpack spec): a value starts
 * with one type byte; fixint/fixstr/fixarray/fixmap carry their value or size
 * in that byte; other types follow it with a big-endian size or value of 1,
 * 2, 4 or 8 bytes; ext types also carry a one-byte type tag. */
#include "common.h"
#include "limits.h"

#include <msgpack.h>
#include <string.h>

const rz_mp_limits rz_mp_default_limits = {
    .max_depth = RZ_MP_MAX_DEPTH,
    .max_str_bytes = RZ_MP_MAX_STR_BYTES,
    .max_items = RZ_MP_MAX_ITEMS,
};

/* ---- Encoding ---------------------------------------------------------- */

static int pack_write(void *data, const char *p, size_t n)
{
    return rz_buf_append((rz_buf *)data, p, n) == 0 ? 0 : -1;
}

#define WITH_PACKER(b, call)                        \
    do {                                            \
        msgpack_packer pk_;                         \
        RZ_PRE((b) != NULL);                        \
        msgpack_packer_init(&pk_, (b), pack_write); \
        (void)(call);                               \
    } while (0)

void rz_mp_put_nil(rz_buf *b)
{
    WITH_PACKER(b, msgpack_pack_nil(&pk_));
}

void rz_mp_put_bool(rz_buf *b, bool v)
{
    WITH_PACKER(b, v ? msgpack_pack_true(&pk_) : msgpack_pack_false(&pk_));
}

void rz_mp_put_uint(rz_buf *b, uint64_t v)
{
    WITH_PACKER(b, msgpack_pack_uint64(&pk_, v));
}

void rz_mp_put_int(rz_buf *b, int64_t v)
{
    WITH_PACKER(b, msgpack_pack_int64(&pk_, v));
}

void rz_mp_put_double(rz_buf *b, double v)
{
    WITH_PACKER(b, msgpack_pack_double(&pk_, v));
}

void rz_mp_put_str(rz_buf *b, const char *s, size_t len)
{
    RZ_PRE(s != NULL || len == 0);
    if (len > UINT32_MAX) {
        b->err = b->err != 0 ? b->err : RZ_ETOOBIG;
        return;
    }
    WITH_PACKER(b, msgpack_pack_str_with_body(&pk_, s, len));
}

void rz_mp_put_cstr(rz_buf *b, const char *s)
{
    if (s == NULL) {
        rz_mp_put_nil(b);
        return;
    }
    rz_mp_put_str(b, s, strlen(s));
}

void rz_mp_put_bin(rz_buf *b, const void *p, size_t len)
{
    RZ_PRE(p != NULL || len == 0);
    if (len > UINT32_MAX) {
        b->err = b->err != 0 ? b->err : RZ_ETOOBIG;
        return;
    }
    WITH_PACKER(b, msgpack_pack_bin_with_body(&pk_, p, len));
}

void rz_mp_put_array(rz_buf *b, uint32_t n)
{
    WITH_PACKER(b, msgpack_pack_array(&pk_, n));
}

void rz_mp_put_map(rz_buf *b, uint32_t n)
{
    WITH_PACKER(b, msgpack_pack_map(&pk_, n));
}

void rz_mp_put_raw(rz_buf *b, const void *p, size_t len)
{
    (void)rz_buf_append(b, p, len);
}

/* ---- Headers ----------------------------------------------------------- */

/* One parsed value header. */
typedef struct head
{
    rz_mp_type type;
    size_t head_bytes; /* type byte plus size/value bytes (and ext tag) */
    uint64_t u;        /* UINT value, or payload size (STR/BIN/EXT), or
                          element count (ARRAY) / pair count (MAP) */
    int64_t i;         /* INT value */
    double f;          /* FLOAT value */
    bool b;            /* BOOL value */
} head;

static uint64_t be_n(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t k = 0; k < n; k++) {
        v = (v << 8) | p[k];
    }
    return v;
}

/* Parses the header at p (at most `avail` bytes). Returns false when the
 * bytes are not a complete, valid header. Does not check that a payload is
 * present. */
static bool parse_head(const uint8_t *p, size_t avail, head *h)
{
    uint8_t c;
    size_t n = 0; /* bytes of size/value after the type byte */

    memset(h, 0, sizeof(*h));
    if (avail == 0) {
        return false;
    }
    c = p[0];
    h->head_bytes = 1;
    if (c <= 0x7f) {
        h->type = RZ_MP_UINT;
        h->u = c;
        return true;
    }
    if (c >= 0xe0) {
        h->type = RZ_MP_INT;
        h->i = (int8_t)c;
        return true;
    }
    if (c >= 0x80 && c <= 0x8f) {
        h->type = RZ_MP_MAP;
        h->u = c & 0x0fu;
        return true;
    }
    if (c >= 0x90 && c <= 0x9f) {
        h->type = RZ_MP_ARRAY;
        h->u = c & 0x0fu;
        return true;
    }
    if (c >= 0xa0 && c <= 0xbf) {
        h->type = RZ_MP_STR;
        h->u = c & 0x1fu;
        return true;
    }
    switch (c) {
    case 0xc0:
        h->type = RZ_MP_NIL;
        return true;
    case 0xc2:
    case 0xc3:
        h->type = RZ_MP_BOOL;
        h->b = c == 0xc3;
        return true;
    case 0xc4:
    case 0xc5:
    case 0xc6:
        h->type = RZ_MP_BIN;
        n = (size_t)1 << (c - 0xc4);
        break;
    case 0xc7:
    case 0xc8:
    case 0xc9:
        h->type = RZ_MP_EXT;
        n = (size_t)1 << (c - 0xc7);
        break;
    case 0xca:
    case 0xcb:
        h->type = RZ_MP_FLOAT;
        n = c == 0xca ? 4 : 8;
        break;
    case 0xcc:
    case 0xcd:
    case 0xce:
    case 0xcf:
        h->type = RZ_MP_UINT;
        n = (size_t)1 << (c - 0xcc);
        break;
    case 0xd0:
    case 0xd1:
    case 0xd2:
    case 0xd3:
        h->type = RZ_MP_INT;
        n = (size_t)1 << (c - 0xd0);
        break;
    case 0xd4:
    case 0xd5:
    case 0xd6:
    case 0xd7:
    case 0xd8:
        /* fixext: a type tag byte, then 1..16 payload bytes */
        if (avail < 2) {
            return false;
        }
        h->type = RZ_MP_EXT;
        h->head_bytes = 2;
        h->u = (uint64_t)1 << (c - 0xd4);
        return true;
    case 0xd9:
    case 0xda:
    case 0xdb:
        h->type = RZ_MP_STR;
        n = (size_t)1 << (c - 0xd9);
        break;
    case 0xdc:
    case 0xdd:
        h->type = RZ_MP_ARRAY;
        n = c == 0xdc ? 2 : 4;
        break;
    case 0xde:
    case 0xdf:
        h->type = RZ_MP_MAP;
        n = c == 0xde ? 2 : 4;
        break;
    default: /* 0xc1 is never used */
        return false;
    }
    if (avail - 1 < n) {
        return false;
    }
    h->head_bytes = 1 + n;
    if (h->type == RZ_MP_FLOAT) {
        if (n == 4) {
            uint32_t bits = (uint32_t)be_n(p + 1, 4);
            float fv;
            memcpy(&fv, &bits, sizeof(fv));
            h->f = (double)fv;
        } else {
            uint64_t bits = be_n(p + 1, 8);
            memcpy(&h->f, &bits, sizeof(h->f));
        }
    } else if (h->type == RZ_MP_INT) {
        uint64_t raw = be_n(p + 1, n);
        switch (n) {
        case 1:
            h->i = (int8_t)raw;
            break;
        case 2:
            h->i = (int16_t)raw;
            break;
        case 4:
            h->i = (int32_t)raw;
            break;
        default:
            h->i = (int64_t)raw;
            break;
        }
    } else {
        h->u = be_n(p + 1, n);
    }
    if (h->type == RZ_MP_EXT) {
        if (avail - h->head_bytes < 1) {
            return false;
        }
        h->head_bytes += 1; /* the ext type tag */
    }
    return true;
}

static bool is_sized(rz_mp_type t)
{
    return t == RZ_MP_STR || t == RZ_MP_BIN || t == RZ_MP_EXT;
}

/* ---- Validation -------------------------------------------------------- */

int rz_mp_validate(const void *data, size_t len, uint32_t n_objects,
                   const rz_mp_limits *lim)
{
    /* remaining[d] = elements still expected at depth d; depth 0 is the
     * frame itself. */
    uint64_t remaining[RZ_MP_MAX_DEPTH + 2];
    const uint8_t *p = data;
    const uint8_t *end;
    uint32_t depth = 0;

    RZ_PRE(data != NULL || len == 0);
    if (lim == NULL) {
        lim = &rz_mp_default_limits;
    }
    RZ_PRE(lim->max_depth <= RZ_MP_MAX_DEPTH);
    end = p + len;
    if ((uint64_t)n_objects > len) {
        return RZ_EMALFORMED;
    }
    remaining[0] = n_objects;

    /* Every iteration consumes at least one byte, so the loop runs at most
     * len times. */
    while (depth > 0 || remaining[0] > 0) {
        head h;
        size_t left = (size_t)(end - p);
        if (remaining[depth] == 0) {
            depth--;
            continue;
        }
        if (!parse_head(p, left, &h)) {
            return RZ_EMALFORMED;
        }
        p += h.head_bytes;
        left -= h.head_bytes;
        remaining[depth]--;
        if (is_sized(h.type)) {
            if (h.u > lim->max_str_bytes || h.u > left) {
                return RZ_EMALFORMED;
            }
            p += h.u;
        } else if (h.type == RZ_MP_ARRAY || h.type == RZ_MP_MAP) {
            uint64_t items = h.type == RZ_MP_MAP ? h.u * 2 : h.u;
            if (h.u > lim->max_items || items > left) {
                return RZ_EMALFORMED;
            }
            if (items > 0) {
                if (depth + 1 > lim->max_depth) {
                    return RZ_EMALFORMED;
                }
                depth++;
                remaining[depth] = items;
            }
        }
    }
    return p == end ? 0 : RZ_EMALFORMED;
}

/* ---- Cursor ------------------------------------------------------------ */

void rz_mp_dec_init(rz_mp_dec *d, const void *data, size_t len)
{
    RZ_PRE(d != NULL);
    RZ_PRE(data != NULL || len == 0);
    d->p = data;
    d->end = d->p + len;
    d->err = 0;
}

static int fail(rz_mp_dec *d)
{
    d->err = RZ_EMALFORMED;
    return RZ_EMALFORMED;
}

/* Reads the next header; on success *h is filled and the cursor is NOT yet
 * advanced. */
static bool next_head(const rz_mp_dec *d, head *h)
{
    if (d->err != 0) {
        return false;
    }
    return parse_head(d->p, (size_t)(d->end - d->p), h);
}

rz_mp_type rz_mp_peek(const rz_mp_dec *d)
{
    head h;
    if (!next_head(d, &h)) {
        return RZ_MP_NONE;
    }
    return h.type;
}

bool rz_mp_done(const rz_mp_dec *d)
{
    return d->err == 0 && d->p == d->end;
}

/* Consumes a header of type t (scalars and container headers). */
static int take(rz_mp_dec *d, rz_mp_type t, head *h)
{
    if (!next_head(d, h) || h->type != t) {
        return fail(d);
    }
    d->p += h->head_bytes;
    return 0;
}

int rz_mp_get_nil(rz_mp_dec *d)
{
    head h;
    return take(d, RZ_MP_NIL, &h);
}

bool rz_mp_try_nil(rz_mp_dec *d)
{
    if (rz_mp_peek(d) != RZ_MP_NIL) {
        return false;
    }
    d->p += 1;
    return true;
}

int rz_mp_get_bool(rz_mp_dec *d, bool *out)
{
    head h;
    if (take(d, RZ_MP_BOOL, &h) != 0) {
        return RZ_EMALFORMED;
    }
    *out = h.b;
    return 0;
}

int rz_mp_get_u64(rz_mp_dec *d, uint64_t *out)
{
    head h;
    if (!next_head(d, &h)) {
        return fail(d);
    }
    if (h.type == RZ_MP_UINT) {
        *out = h.u;
    } else if (h.type == RZ_MP_INT && h.i >= 0) {
        *out = (uint64_t)h.i;
    } else {
        return fail(d);
    }
    d->p += h.head_bytes;
    return 0;
}

int rz_mp_get_u32(rz_mp_dec *d, uint32_t *out)
{
    rz_mp_dec save = *d;
    uint64_t v;
    if (rz_mp_get_u64(d, &v) != 0) {
        return RZ_EMALFORMED;
    }
    if (v > UINT32_MAX) {
        *d = save;
        return fail(d);
    }
    *out = (uint32_t)v;
    return 0;
}

int rz_mp_get_u8(rz_mp_dec *d, uint8_t *out)
{
    rz_mp_dec save = *d;
    uint64_t v;
    if (rz_mp_get_u64(d, &v) != 0) {
        return RZ_EMALFORMED;
    }
    if (v > UINT8_MAX) {
        *d = save;
        return fail(d);
    }
    *out = (uint8_t)v;
    return 0;
}

int rz_mp_get_i64(rz_mp_dec *d, int64_t *out)
{
    head h;
    if (!next_head(d, &h)) {
        return fail(d);
    }
    if (h.type == RZ_MP_INT) {
        *out = h.i;
    } else if (h.type == RZ_MP_UINT && h.u <= INT64_MAX) {
        *out = (int64_t)h.u;
    } else {
        return fail(d);
    }
    d->p += h.head_bytes;
    return 0;
}

int rz_mp_get_double(rz_mp_dec *d, double *out)
{
    head h;
    if (take(d, RZ_MP_FLOAT, &h) != 0) {
        return RZ_EMALFORMED;
    }
    *out = h.f;
    return 0;
}

static int get_sized(rz_mp_dec *d, rz_mp_type t, const uint8_t **p,
                     uint32_t *len, uint32_t max_len)
{
    head h;
    if (!next_head(d, &h) || h.type != t || h.u > max_len ||
        h.u > (uint64_t)(d->end - d->p) - h.head_bytes) {
        return fail(d);
    }
    *p = d->p + h.head_bytes;
    *len = (uint32_t)h.u;
    d->p += h.head_bytes + h.u;
    return 0;
}

int rz_mp_get_str(rz_mp_dec *d, const char **s, uint32_t *len, uint32_t max_len)
{
    const uint8_t *p;
    if (get_sized(d, RZ_MP_STR, &p, len, max_len) != 0) {
        return RZ_EMALFORMED;
    }
    *s = (const char *)p;
    return 0;
}

int rz_mp_get_cstr(rz_mp_dec *d, char *out, size_t out_size)
{
    const char *s;
    uint32_t len;
    RZ_PRE(out_size > 0);
    if (rz_mp_get_str(d, &s, &len, UINT32_MAX) != 0) {
        return RZ_EMALFORMED;
    }
    if ((size_t)len >= out_size) {
        return fail(d);
    }
    memcpy(out, s, len);
    out[len] = '\0';
    return 0;
}

int rz_mp_get_bin(rz_mp_dec *d, const uint8_t **p, uint32_t *len,
                  uint32_t max_len)
{
    return get_sized(d, RZ_MP_BIN, p, len, max_len);
}

int rz_mp_get_bin_exact(rz_mp_dec *d, void *out, uint32_t len)
{
    const uint8_t *p;
    uint32_t got;
    if (rz_mp_get_bin(d, &p, &got, len) != 0) {
        return RZ_EMALFORMED;
    }
    if (got != len) {
        return fail(d);
    }
    memcpy(out, p, len);
    return 0;
}

static int get_container(rz_mp_dec *d, rz_mp_type t, uint32_t *n)
{
    head h;
    uint64_t items;
    if (!next_head(d, &h) || h.type != t) {
        return fail(d);
    }
    items = t == RZ_MP_MAP ? h.u * 2 : h.u;
    /* Every element takes at least one byte. */
    if (h.u > RZ_MP_MAX_ITEMS ||
        items > (uint64_t)(d->end - d->p) - h.head_bytes) {
        return fail(d);
    }
    d->p += h.head_bytes;
    *n = (uint32_t)h.u;
    return 0;
}

int rz_mp_get_array(rz_mp_dec *d, uint32_t *n)
{
    return get_container(d, RZ_MP_ARRAY, n);
}

int rz_mp_get_map(rz_mp_dec *d, uint32_t *n)
{
    return get_container(d, RZ_MP_MAP, n);
}

int rz_mp_skip(rz_mp_dec *d)
{
    uint64_t pending = 1;
    while (pending > 0) {
        head h;
        size_t left;
        if (!next_head(d, &h)) {
            return fail(d);
        }
        left = (size_t)(d->end - d->p) - h.head_bytes;
        pending--;
        if (is_sized(h.type)) {
            if (h.u > left) {
                return fail(d);
            }
            d->p += h.head_bytes + h.u;
            continue;
        }
        if (h.type == RZ_MP_ARRAY || h.type == RZ_MP_MAP) {
            uint64_t items = h.type == RZ_MP_MAP ? h.u * 2 : h.u;
            if (items > left || pending + items > left) {
                return fail(d);
            }
            pending += items;
        }
        d->p += h.head_bytes;
    }
    return 0;
}

int rz_mp_next_raw(const rz_mp_dec *d, const uint8_t **p, size_t *len)
{
    rz_mp_dec copy = *d;
    if (rz_mp_skip(&copy) != 0) {
        return RZ_EMALFORMED;
    }
    *p = d->p;
    *len = (size_t)(copy.p - d->p);
    return 0;
}
