/* Writes the seed corpus of one fuzz target into a directory: recorded
 * handshakes and frames of the deterministic pair in fuzz_common.h, and
 * sample envelopes.
 *   usage: gen_seeds handshake|frame|envelope DIR */
#include "fuzz_common.h"

#include <stdio.h>

static int n_written;

static int write_seed(const char *dir, const char *name, const uint8_t *p,
                      size_t n)
{
    char path[512];
    FILE *f;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "wb");
    if (f == NULL || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
        fprintf(stderr, "gen_seeds: cannot write %s\n", path);
        return 1;
    }
    n_written++;
    return 0;
}

typedef struct recording
{
    uint8_t bytes[4][RZ_SECURE_HANDSHAKE_MSG_MAX_BYTES + 4];
    size_t len[4];
} recording;

static void record(void *data, size_t k, uint8_t *p, size_t *n)
{
    recording *r = data;
    if (k < 4 && *n <= sizeof(r->bytes[0])) {
        memcpy(r->bytes[k], p, *n);
        r->len[k] = *n;
    }
}

/* prefix (2 bytes) || message a || message b */
static int seed2(const char *dir, const char *name, uint8_t which,
                 uint8_t chunk, const recording *r, int a, int b)
{
    uint8_t buf[2 + 2 * sizeof(r->bytes[0])];
    size_t n = 2;
    buf[0] = which;
    buf[1] = chunk;
    memcpy(buf + n, r->bytes[a], r->len[a]);
    n += r->len[a];
    if (b >= 0) {
        memcpy(buf + n, r->bytes[b], r->len[b]);
        n += r->len[b];
    }
    return write_seed(dir, name, buf, n);
}

static int gen_handshake(const char *dir)
{
    recording r;
    pair pr;
    int rv = 0;
    static const uint8_t err[] = {0, 0, 0, 0, 0, 2, 0xEE, 1};
    memset(&r, 0, sizeof(r));
    fuzz_pair_init(&pr, 4096);
    pr.mutate = record;
    pr.mutate_data = &r;
    pair_pump(&pr);
    if (pr.server.established != 1 || pr.client.established != 1) {
        fprintf(stderr, "gen_seeds: the recorded handshake failed\n");
        pair_close(&pr);
        return 1;
    }
    pair_close(&pr);
    /* The recording must replay the way fuzz_handshake feeds it: to a fresh
     * pair from the same random state, each side reaching established. */
    for (int which = 0; which < 2; which++) {
        size_t n = 0;
        side *s;
        fuzz_pair_init(&pr, 4096);
        s = which == 0 ? &pr.server : &pr.client;
        (void)rz_secure_out(&s->c, &n);
        rz_secure_out_consume(&s->c, n);
        side_feed(s, r.bytes[which], r.len[which]);
        side_feed(s, r.bytes[which + 2], r.len[which + 2]);
        if (s->established != 1) {
            fprintf(stderr, "gen_seeds: a recorded handshake does not "
                            "replay\n");
            rv = 1;
        }
        pair_close(&pr);
    }
    rv |= seed2(dir, "server-full", 0, 0, &r, 0, 2);
    rv |= seed2(dir, "server-chunked", 0, 7, &r, 0, 2);
    rv |= seed2(dir, "server-hello", 0, 0, &r, 0, -1);
    rv |= seed2(dir, "client-full", 1, 0, &r, 1, 3);
    rv |= seed2(dir, "client-bytewise", 1, 1, &r, 1, 3);
    rv |= seed2(dir, "client-auth-only", 1, 0, &r, 1, -1);
    rv |= write_seed(dir, "error-frame", err, sizeof(err));
    return rv;
}

static int gen_frame(const char *dir)
{
    static uint8_t stream[8192];
    static uint8_t big[1000];
    size_t len = 0;
    size_t first = 0;
    size_t n = 0;
    const uint8_t *p;
    pair pr;
    int rv = 0;
    fuzz_pair_init(&pr, 1024);
    pair_pump(&pr);
    if (pr.server.established != 1) {
        fprintf(stderr, "gen_seeds: the handshake failed\n");
        pair_close(&pr);
        return 1;
    }
    memset(big, 'b', sizeof(big));
    stream[len++] = 0; /* chunk size byte */
    if (rz_secure_send(&pr.client.c, "hello", 5) != 0) {
        rv = 1;
    }
    p = rz_secure_out(&pr.client.c, &n);
    memcpy(stream + len, p, n);
    len += n;
    first = len;
    rz_secure_out_consume(&pr.client.c, n);
    if (rz_secure_send(&pr.client.c, "", 0) != 0 ||
        rz_secure_send(&pr.client.c, big, sizeof(big)) != 0 ||
        rz_secure_close(&pr.client.c) != 0) {
        rv = 1;
    }
    p = rz_secure_out(&pr.client.c, &n);
    memcpy(stream + len, p, n);
    len += n;
    rz_secure_out_consume(&pr.client.c, n);
    pair_close(&pr);
    rv |= write_seed(dir, "one-frame", stream, first);
    rv |= write_seed(dir, "stream-to-final", stream, len);
    stream[0] = 3;
    rv |= write_seed(dir, "stream-chunked", stream, len);
    return rv;
}

static int gen_envelope(const char *dir)
{
    uint8_t rid[RZ_REQUEST_ID_BYTES];
    rz_buf body, b;
    int rv = 0;
    for (size_t i = 0; i < sizeof(rid); i++) {
        rid[i] = (uint8_t)i;
    }
    rz_buf_init(&body, 4096);
    rz_buf_init(&b, 8192);
    rz_mp_put_map(&body, 3);
    rz_mp_put_cstr(&body, "kind");
    rz_mp_put_cstr(&body, "INCIDENT");
    rz_mp_put_cstr(&body, "location");
    rz_mp_put_array(&body, 2);
    rz_mp_put_double(&body, 52.2297);
    rz_mp_put_double(&body, 21.0122);
    rz_mp_put_cstr(&body, "notify");
    rz_mp_put_bool(&body, true);
    rz_envelope_encode(&b, 1, rid, body.data, body.len);
    rv |= write_seed(dir, "create-like", b.data, b.len);
    rz_buf_reset(&b);
    rz_envelope_encode(&b, 4000000000u, rid, "\xc0", 1);
    rv |= write_seed(dir, "nil-body", b.data, b.len);
    rz_buf_reset(&b);
    rz_mp_put_array(&b, 3);
    rz_mp_put_uint(&b, 2);
    rz_mp_put_bin(&b, rid, sizeof(rid));
    rz_mp_put_array(&b, 2);
    rz_mp_put_array(&b, 1);
    rz_mp_put_str(&b, "x", 1);
    rz_mp_put_int(&b, -5);
    rv |= write_seed(dir, "nested-body", b.data, b.len);
    rz_buf_close(&b);
    rz_buf_close(&body);
    return rv;
}

int main(int argc, char **argv)
{
    int rv;
    if (argc != 3) {
        fprintf(stderr, "usage: gen_seeds handshake|frame|envelope DIR\n");
        return 2;
    }
    fuzz_setup();
    if (strcmp(argv[1], "handshake") == 0) {
        rv = gen_handshake(argv[2]);
    } else if (strcmp(argv[1], "frame") == 0) {
        rv = gen_frame(argv[2]);
    } else if (strcmp(argv[1], "envelope") == 0) {
        rv = gen_envelope(argv[2]);
    } else {
        fprintf(stderr, "gen_seeds: unknown target %s\n", argv[1]);
        return 2;
    }
    fprintf(stderr, "gen_seeds: %d seeds for %s in %s\n", n_written, argv[1],
            argv[2]);
    return rv == 0 && n_written > 0 ? 0 : 1;
}
