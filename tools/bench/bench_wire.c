/* ratusz-bench wire: the secure channel over an in-memory pair of state
 * machines on one core — full handshakes (both ends) per second, and frames
 * sealed and opened per second at 1 KiB and 64 KiB, next to memcpy of the
 * same frames measured in the same run. */
#include "bench.h"

#include "common/common.h"
#include "common/secure.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAR_FUTURE_MS 4102444800000ull

typedef struct wire_ids
{
    rz_cluster_key cluster;
    rz_identity node;
    rz_identity agent;
} wire_ids;

/* Moves a's pending output into b; returns 0 or the error b failed with,
 * counting ESTABLISHED events into *established. */
/* Nanoseconds spent inside the server's calls (its share of a handshake). */
static uint64_t server_ns;

static int move_bytes(rz_secure_conn *a, rz_secure_conn *b, int *established,
                      size_t *moved, bool b_is_server)
{
    uint64_t t0 = b_is_server ? rz_mono_ns() : 0;
    int rv = 0;
    size_t n = 0;
    const uint8_t *p = rz_secure_out(a, &n);
    size_t off = 0;
    *moved = n;
    while (off < n) {
        rz_secure_event ev;
        size_t used = 0;
        rv = rz_secure_feed(b, p + off, n - off, &used, &ev);
        if (rv != 0) {
            break;
        }
        off += used;
        if (ev.type == RZ_SECURE_EV_ESTABLISHED) {
            (*established)++;
        }
    }
    rz_secure_out_consume(a, n);
    if (b_is_server) {
        server_ns += rz_mono_ns() - t0;
    }
    return rv;
}

static int handshake(const wire_ids *ids, rz_secure_conn *c, rz_secure_conn *s,
                     uint32_t max_frame)
{
    rz_secure_config cc, sc;
    int established = 0;
    uint64_t now, t0;
    int rv;
    memset(&cc, 0, sizeof(cc));
    cc.id = &ids->agent;
    cc.allowed_roles = RZ_ROLE_BIT(RZ_ROLE_NODE);
    cc.max_frame_bytes = max_frame;
    sc = cc;
    sc.id = &ids->node;
    sc.allowed_roles = RZ_ROLES_ALL;
    now = rz_now_ms();
    rv = rz_secure_conn_init(c, &cc, true, 0, now);
    if (rv != 0) {
        return rv;
    }
    t0 = rz_mono_ns();
    rv = rz_secure_conn_init(s, &sc, false, 0, now);
    server_ns += rz_mono_ns() - t0;
    if (rv != 0) {
        rz_secure_conn_close(c);
        return rv;
    }
    for (int round = 0; round < 8 && established < 2; round++) {
        size_t m1 = 0, m2 = 0;
        rv = move_bytes(c, s, &established, &m1, true);
        if (rv == 0) {
            rv = move_bytes(s, c, &established, &m2, false);
        }
        if (rv != 0) {
            break;
        }
    }
    if (rv == 0 && established != 2) {
        rv = RZ_EPROTO;
    }
    if (rv != 0) {
        rz_secure_conn_close(c);
        rz_secure_conn_close(s);
    }
    return rv;
}

static double seconds_since(uint64_t t0_ns)
{
    return (double)(rz_mono_ns() - t0_ns) / 1e9;
}

static int bench_handshakes(const wire_ids *ids, double seconds, double *per_s,
                            double *server_per_s)
{
    uint64_t t0 = rz_mono_ns();
    server_ns = 0;
    uint64_t n = 0;
    double el;
    do {
        rz_secure_conn c, s;
        int rv = handshake(ids, &c, &s, 1024);
        if (rv != 0) {
            return rv;
        }
        rz_secure_conn_close(&c);
        rz_secure_conn_close(&s);
        n++;
        el = seconds_since(t0);
    } while (el < seconds);
    *per_s = (double)n / el;
    *server_per_s = server_ns > 0 ? (double)n / ((double)server_ns / 1e9) : 0;
    return 0;
}

/* Seals frames of `size` bytes on one side and opens them on the other. */
static int bench_seal_open(const wire_ids *ids, size_t size, double seconds,
                           double *mb_per_s)
{
    rz_secure_conn c, s;
    uint8_t *plain = malloc(size);
    uint8_t *wire = malloc(RZ_SECURE_FRAME_BYTES(size));
    uint64_t t0, n = 0;
    double el;
    int rv;
    if (plain == NULL || wire == NULL) {
        free(plain);
        free(wire);
        return RZ_ENOMEM;
    }
    for (size_t i = 0; i < size; i++) {
        plain[i] = (uint8_t)(i * 31u);
    }
    rv = handshake(ids, &c, &s, (uint32_t)size);
    if (rv != 0) {
        goto out;
    }
    t0 = rz_mono_ns();
    do {
        for (int k = 0; k < 64; k++) {
            rz_secure_event ev;
            size_t used = 0;
            rv = rz_secure_seal(&c, plain, size, false, wire,
                                RZ_SECURE_FRAME_BYTES(size));
            if (rv == 0) {
                rv = rz_secure_feed(&s, wire, RZ_SECURE_FRAME_BYTES(size),
                                    &used, &ev);
            }
            if (rv == 0 && (ev.type != RZ_SECURE_EV_FRAME || ev.len != size ||
                            ev.data[size - 1] != plain[size - 1])) {
                rv = RZ_EPROTO;
            }
            if (rv != 0) {
                goto out_conns;
            }
            n++;
        }
        el = seconds_since(t0);
    } while (el < seconds);
    *mb_per_s = (double)n * (double)size / 1e6 / el;
out_conns:
    rz_secure_conn_close(&c);
    rz_secure_conn_close(&s);
out:
    free(plain);
    free(wire);
    return rv;
}

/* memcpy of the same frames, from one buffer into another, as the baseline
 * a plaintext channel would pay at least. */
static double bench_memcpy(size_t size, double seconds)
{
    uint8_t *src = malloc(size);
    uint8_t *dst = malloc(size);
    uint64_t t0, n = 0;
    double el;
    if (src == NULL || dst == NULL) {
        free(src);
        free(dst);
        return 0;
    }
    memset(src, 7, size);
    t0 = rz_mono_ns();
    do {
        for (int k = 0; k < 256; k++) {
            src[(size_t)k % size] = (uint8_t)k;
            memcpy(dst, src, size);
            /* Keep the copy: the compiler may not drop it. */
            __asm__ volatile("" : : "r"(dst) : "memory");
            n++;
        }
        el = seconds_since(t0);
    } while (el < seconds);
    free(src);
    free(dst);
    return (double)n * (double)size / 1e6 / el;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: ratusz-bench wire [--seconds S]\n"
                 "  each measurement runs S seconds (default 1)\n");
}

int rz_bench_wire(int argc, char **argv)
{
    static wire_ids ids;
    char errmsg[RZ_ERRMSG_BYTES];
    double seconds = 1.0;
    double hs = 0, hs_server = 0, so_1k = 0, so_64k = 0, mc_1k, mc_64k;
    int rv;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
            seconds = strtod(argv[++i], NULL);
            if (!(seconds > 0 && seconds < 3600)) {
                fprintf(stderr, "bench wire: --seconds must be in (0, 3600)\n");
                return 2;
            }
        } else if (strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (rz_crypto_init() != 0) {
        fprintf(stderr, "bench wire: libsodium did not start\n");
        return 1;
    }
    rz_cluster_key_generate(&ids.cluster);
    if (rz_identity_issue(&ids.cluster, RZ_ROLE_NODE, "n1", 1, FAR_FUTURE_MS,
                          &ids.node, errmsg) != 0 ||
        rz_identity_issue(&ids.cluster, RZ_ROLE_AGENT, "desk-1", 0,
                          FAR_FUTURE_MS, &ids.agent, errmsg) != 0) {
        fprintf(stderr, "bench wire: %s\n", errmsg);
        return 1;
    }
    fprintf(stderr, "bench wire: handshakes (both ends on this core)\n");
    rv = bench_handshakes(&ids, seconds, &hs, &hs_server);
    if (rv == 0) {
        fprintf(stderr,
                "  %.0f handshakes/s (both ends); the server's share alone "
                "would allow %.0f/s\n",
                hs, hs_server);
        fprintf(stderr, "bench wire: seal+open 1 KiB frames\n");
        rv = bench_seal_open(&ids, 1024, seconds, &so_1k);
    }
    if (rv == 0) {
        fprintf(stderr, "  %.0f MB/s\n", so_1k);
        fprintf(stderr, "bench wire: seal+open 64 KiB frames\n");
        rv = bench_seal_open(&ids, 65536, seconds, &so_64k);
    }
    if (rv != 0) {
        fprintf(stderr, "bench wire: failed: %s\n", rz_strerror(rv));
        return 1;
    }
    fprintf(stderr, "  %.0f MB/s\n", so_64k);
    mc_1k = bench_memcpy(1024, seconds);
    mc_64k = bench_memcpy(65536, seconds);
    fprintf(stderr,
            "bench wire: memcpy %.0f MB/s (1 KiB), %.0f MB/s (64 KiB)\n", mc_1k,
            mc_64k);
    rz_identity_wipe(&ids.node);
    rz_identity_wipe(&ids.agent);
    rz_cluster_key_wipe(&ids.cluster);
    printf("{\"bench\":\"wire\",\"handshakes_per_s\":%.0f,"
           "\"server_handshakes_per_s\":%.0f,"
           "\"seal_open_mb_per_s\":{\"1KiB\":%.0f,\"64KiB\":%.0f},"
           "\"memcpy_mb_per_s\":{\"1KiB\":%.0f,\"64KiB\":%.0f},"
           "\"ratio_64KiB_vs_memcpy\":%.4f,"
           "\"target_handshakes_per_s\":1000,\"target_ratio\":0.1}\n",
           hs, hs_server, so_1k, so_64k, mc_1k, mc_64k,
           mc_64k > 0 ? so_64k / mc_64k : 0.0);
    return 0;
}
