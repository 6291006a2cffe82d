/* rz-probe: a command-line client of the ratusz client port for shell tests
 * and by-hand checks. Sends exactly what it is told (raw frames included)
 * and prints replies as JSON lines.
 *
 *   rz-probe --addr H:P --identity FILE [--timeout-ms N] COMMAND ...
 *     call TYPE [KEY=T:VALUE ...]   one request; body map from the pairs,
 *                                   T: s str, u uint, i int, b bool, f f64,
 *                                   x hex bin, n nil. Prints
 *                                   {"type":N,"body":...}; exit 0 on REPLY,
 *                                   3 on ERROR.
 *     body TYPE HEX                 one request whose body is the raw msgpack
 *                                   HEX (may be malformed).
 *     raw HEX                       one frame with plaintext HEX (may not be
 *                                   an envelope); prints the answer or
 *                                   "closed".
 *     watch FROM N                  WATCH from revision FROM; prints EVENTS
 *                                   bodies until N events arrived; cancels.
 *     creates N [PREFIX]            N CASE_CREATEs one after another; prints
 *                                   each case id; exit 3 at the first error.
 *     comments N CASE BYTES         N comments of BYTES bytes on case CASE.
 *     gets N CASE                   N linearizable CASE_GETs (no history).
 *     flood N                       N CASE_CREATEs sent at once, then every
 *                                   reply read; prints "replies=R ok=O
 *                                   busy=B other=X" (each id answered once).
 *     watch-slow FROM PAUSE_MS N    WATCH from FROM, read nothing for
 *                                   PAUSE_MS, then read until N events;
 *                                   prints "events=N in_order=yes|no".
 * --request-id HEX (32 hex digits) makes `call` and `body` use that id
 * (to retry a write exactly once); otherwise each request gets a random id.
 * Exit 1: connection or timeout, 2: usage. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rzclient.h"

static int usage(void)
{
    fprintf(stderr, "usage: rz-probe --addr H:P --identity FILE "
                    "[--timeout-ms N] call|body|raw|watch|creates ...\n");
    return 2;
}

static int hex_decode(const char *hex, rz_buf *out)
{
    size_t n = strlen(hex);
    if (n % 2 != 0) {
        return -1;
    }
    for (size_t i = 0; i < n; i += 2) {
        unsigned v;
        uint8_t b;
        if (sscanf(hex + i, "%2x", &v) != 1) {
            return -1;
        }
        b = (uint8_t)v;
        rz_buf_append(out, &b, 1);
    }
    return 0;
}

static int build_body(int argc, char **argv, rz_buf *b)
{
    rz_mp_put_map(b, (uint32_t)argc);
    for (int i = 0; i < argc; i++) {
        char *eq = strchr(argv[i], '=');
        char *v;
        if (eq == NULL || eq[1] == '\0' || eq[2] != ':') {
            fprintf(stderr, "rz-probe: '%s' is not KEY=T:VALUE\n", argv[i]);
            return -1;
        }
        rz_mp_put_str(b, argv[i], (size_t)(eq - argv[i]));
        v = eq + 3;
        switch (eq[1]) {
        case 's':
            rz_mp_put_cstr(b, v);
            break;
        case 'u':
            rz_mp_put_uint(b, strtoull(v, NULL, 10));
            break;
        case 'i':
            rz_mp_put_int(b, strtoll(v, NULL, 10));
            break;
        case 'b':
            rz_mp_put_bool(b, strcmp(v, "true") == 0);
            break;
        case 'f':
            rz_mp_put_double(b, strtod(v, NULL));
            break;
        case 'n':
            rz_mp_put_nil(b);
            break;
        case 'x': {
            rz_buf x;
            rz_buf_init(&x, RZ_FRAME_MAX_BYTES);
            if (hex_decode(v, &x) != 0) {
                rz_buf_close(&x);
                return -1;
            }
            rz_mp_put_bin(b, x.data, x.len);
            rz_buf_close(&x);
            break;
        }
        default:
            fprintf(stderr, "rz-probe: unknown type '%c'\n", eq[1]);
            return -1;
        }
    }
    return b->err;
}

static void print_msg(uint32_t type, const rz_buf *body)
{
    rz_buf j;
    rz_buf_init(&j, 64u << 20);
    rzc_to_json(body->data, body->len, &j);
    printf("{\"type\":%u,\"body\":%.*s}\n", type, (int)j.len, (char *)j.data);
    fflush(stdout);
    rz_buf_close(&j);
}

static uint8_t fixed_id[16];
static bool has_fixed_id;

static int do_call(rzc *c, uint32_t type, const rz_buf *body, int timeout)
{
    uint32_t rt = 0;
    rz_buf reply;
    int rv;
    rz_buf_init(&reply, RZ_FRAME_MAX_BYTES);
    rv = rzc_call_id(c, type, has_fixed_id ? fixed_id : NULL, body->data,
                     body->len, timeout, &rt, &reply);
    if (rv != 0) {
        fprintf(stderr, "rz-probe: %s\n", rz_errname(rv));
        rz_buf_close(&reply);
        return 1;
    }
    print_msg(rt, &reply);
    rz_buf_close(&reply);
    return rt == 64 ? 0 : 3;
}

static int do_raw(rzc *c, const char *hex, int timeout)
{
    rz_buf p, f;
    int rv;
    rz_buf_init(&p, RZ_FRAME_MAX_BYTES);
    rz_buf_init(&f, RZ_FRAME_MAX_BYTES + 64);
    if (hex_decode(hex, &p) != 0) {
        return 2;
    }
    rv = rzc_send_plain(c, p.data, p.len);
    if (rv == 0) {
        rv = rzc_recv(c, timeout, &f);
    }
    if (rv == 0) {
        rz_envelope env;
        if (rz_envelope_decode(f.data, f.len, NULL, &env) == 0) {
            rz_buf body;
            rz_buf_init(&body, RZ_FRAME_MAX_BYTES);
            rz_buf_append(&body, env.body, env.body_len);
            print_msg(env.type, &body);
            rz_buf_close(&body);
        }
    } else {
        printf("closed %s\n", rz_errname(rv));
    }
    rz_buf_close(&p);
    rz_buf_close(&f);
    return 0;
}

static int do_watch(rzc *c, uint64_t from, uint64_t want, int timeout)
{
    uint8_t id[16];
    rz_buf b, f;
    uint64_t seen = 0;
    int rv;
    rz_random_bytes(id, sizeof(id));
    rz_buf_init(&b, 256);
    rz_buf_init(&f, RZ_FRAME_MAX_BYTES + 64);
    rz_mp_put_map(&b, 1);
    rz_mp_put_cstr(&b, "from_revision");
    rz_mp_put_uint(&b, from);
    rv = rzc_send(c, 12, id, b.data, b.len);
    while (rv == 0 && seen < want) {
        rz_envelope env;
        rz_buf body;
        const uint8_t *ev;
        size_t evlen;
        rz_mp_dec d;
        uint32_t n = 0;
        rv = rzc_recv(c, timeout, &f);
        if (rv != 0 || rz_envelope_decode(f.data, f.len, NULL, &env) != 0) {
            break;
        }
        rz_buf_init(&body, RZ_FRAME_MAX_BYTES);
        rz_buf_append(&body, env.body, env.body_len);
        print_msg(env.type, &body);
        rz_buf_close(&body);
        if (env.type != 66) {
            rv = 3;
            break;
        }
        if (rzc_map_raw(env.body, env.body_len, "events", &ev, &evlen)) {
            rz_mp_dec_init(&d, ev, evlen);
            if (rz_mp_get_array(&d, &n) == 0) {
                seen += n;
            }
        }
    }
    if (rv == 0) {
        rz_buf_reset(&b);
        rz_mp_put_map(&b, 0);
        rv = rzc_send(c, 13, id, b.data, b.len);
        while (rv == 0) {
            rz_envelope env;
            rv = rzc_recv(c, timeout, &f);
            if (rv != 0 || rz_envelope_decode(f.data, f.len, NULL, &env) != 0) {
                break;
            }
            if (env.type == 64) {
                printf("{\"cancelled\":true}\n");
                break;
            }
        }
    }
    rz_buf_close(&b);
    rz_buf_close(&f);
    return rv == 0 ? 0 : (rv == 3 ? 3 : 1);
}

static int do_creates(rzc *c, uint64_t n, const char *prefix, int timeout)
{
    rz_buf b, reply;
    int rv = 0;
    rz_buf_init(&b, 4096);
    rz_buf_init(&reply, RZ_FRAME_MAX_BYTES);
    for (uint64_t i = 0; i < n && rv == 0; i++) {
        char desc[128];
        uint32_t rt = 0;
        uint64_t id = 0;
        snprintf(desc, sizeof(desc), "%s %llu", prefix, (unsigned long long)i);
        rz_buf_reset(&b);
        rz_mp_put_map(&b, 1);
        rz_mp_put_cstr(&b, "description");
        rz_mp_put_cstr(&b, desc);
        rv = rzc_call(c, 3, b.data, b.len, timeout, &rt, &reply);
        if (rv != 0) {
            fprintf(stderr, "rz-probe: %s\n", rz_errname(rv));
            rv = 1;
            break;
        }
        if (rt != 64 || !rzc_map_uint(reply.data, reply.len, "case_id", &id)) {
            print_msg(rt, &reply);
            rv = 3;
            break;
        }
        printf("%llu\n", (unsigned long long)id);
    }
    fflush(stdout);
    rz_buf_close(&b);
    rz_buf_close(&reply);
    return rv;
}

static int do_comments(rzc *c, uint64_t n, uint64_t case_id, size_t bytes,
                       int timeout)
{
    rz_buf b, reply;
    char *text = malloc(bytes + 1);
    int rv = 0;
    if (text == NULL) {
        return 1;
    }
    memset(text, 'c', bytes);
    text[bytes] = '\0';
    rz_buf_init(&b, RZ_FRAME_MAX_BYTES);
    rz_buf_init(&reply, RZ_FRAME_MAX_BYTES);
    for (uint64_t i = 0; i < n && rv == 0; i++) {
        uint32_t rt = 0;
        rz_buf_reset(&b);
        rz_mp_put_map(&b, 4);
        rz_mp_put_cstr(&b, "op");
        rz_mp_put_cstr(&b, "comment");
        rz_mp_put_cstr(&b, "case_id");
        rz_mp_put_uint(&b, case_id);
        rz_mp_put_cstr(&b, "text");
        rz_mp_put_cstr(&b, text);
        rz_mp_put_cstr(&b, "public");
        rz_mp_put_bool(&b, true);
        rv = rzc_call(c, 6, b.data, b.len, timeout, &rt, &reply);
        if (rv == 0 && rt != 64) {
            print_msg(rt, &reply);
            rv = 3;
        }
    }
    free(text);
    rz_buf_close(&b);
    rz_buf_close(&reply);
    return rv == 0 ? 0 : (rv == 3 ? 3 : 1);
}

static int do_gets(rzc *c, uint64_t n, uint64_t case_id, int timeout)
{
    rz_buf b, reply;
    int rv = 0;
    rz_buf_init(&b, 256);
    rz_buf_init(&reply, RZ_FRAME_MAX_BYTES);
    rz_mp_put_map(&b, 2);
    rz_mp_put_cstr(&b, "case_id");
    rz_mp_put_uint(&b, case_id);
    rz_mp_put_cstr(&b, "history");
    rz_mp_put_bool(&b, false);
    for (uint64_t i = 0; i < n && rv == 0; i++) {
        uint32_t rt = 0;
        rv = rzc_call(c, 4, b.data, b.len, timeout, &rt, &reply);
        if (rv == 0 && rt != 64) {
            print_msg(rt, &reply);
            rv = 3;
        }
    }
    rz_buf_close(&b);
    rz_buf_close(&reply);
    return rv == 0 ? 0 : (rv == 3 ? 3 : 1);
}

static int do_flood(rzc *c, uint32_t n, int timeout)
{
    rz_buf b, f;
    uint8_t *seen = calloc(n, 1);
    uint32_t replies = 0, ok = 0, busy = 0, other = 0, dup = 0;
    int rv = 0;
    if (seen == NULL) {
        return 1;
    }
    rz_buf_init(&b, 256);
    rz_buf_init(&f, RZ_FRAME_MAX_BYTES + 64);
    rz_mp_put_map(&b, 1);
    rz_mp_put_cstr(&b, "description");
    rz_mp_put_cstr(&b, "flood");
    for (uint32_t i = 0; i < n && rv == 0; i++) {
        uint8_t id[16] = {0};
        rz_put_be32(id, i);
        rz_random_bytes(id + 4, 12);
        rv = rzc_send(c, 3, id, b.data, b.len);
    }
    while (rv == 0 && replies < n) {
        rz_envelope env;
        int64_t code = 0;
        uint32_t i;
        rv = rzc_recv(c, timeout, &f);
        if (rv != 0 || rz_envelope_decode(f.data, f.len, NULL, &env) != 0) {
            break;
        }
        i = rz_get_be32(env.request_id);
        if (i >= n) {
            continue;
        }
        dup += seen[i];
        seen[i] = 1;
        replies++;
        if (env.type == 64) {
            ok++;
        } else if (rzc_map_int(env.body, env.body_len, "code", &code) &&
                   code == RZ_EBUSY) {
            busy++;
        } else {
            other++;
        }
    }
    printf("replies=%u ok=%u busy=%u other=%u dup=%u\n", replies, ok, busy,
           other, dup);
    free(seen);
    rz_buf_close(&b);
    rz_buf_close(&f);
    return rv == 0 && dup == 0 ? 0 : 1;
}

/* A watch whose reader stops for pause_ms: the node must hold back (its
 * write queue is bounded) and then deliver every event, in order. */
static int do_watch_slow(rzc *c, uint64_t from, uint64_t pause_ms,
                         uint64_t want, int timeout)
{
    uint8_t id[16];
    rz_buf b, f;
    uint64_t seen = 0;
    uint64_t last_rev = 0;
    bool in_order = true;
    int rv;
    rz_random_bytes(id, sizeof(id));
    rz_buf_init(&b, 256);
    rz_buf_init(&f, RZ_FRAME_MAX_BYTES + 64);
    rz_mp_put_map(&b, 1);
    rz_mp_put_cstr(&b, "from_revision");
    rz_mp_put_uint(&b, from);
    rv = rzc_send(c, 12, id, b.data, b.len);
    usleep((useconds_t)(pause_ms * 1000));
    while (rv == 0 && seen < want) {
        rz_envelope env;
        const uint8_t *ev;
        size_t evlen;
        rz_mp_dec d;
        uint32_t n = 0;
        rv = rzc_recv(c, timeout, &f);
        if (rv != 0 || rz_envelope_decode(f.data, f.len, NULL, &env) != 0 ||
            env.type != 66 ||
            !rzc_map_raw(env.body, env.body_len, "events", &ev, &evlen)) {
            rv = rv != 0 ? rv : RZ_EPROTO;
            break;
        }
        rz_mp_dec_init(&d, ev, evlen);
        if (rz_mp_get_array(&d, &n) != 0) {
            rv = RZ_EMALFORMED;
            break;
        }
        for (uint32_t i = 0; i < n; i++) {
            const uint8_t *one;
            size_t one_len;
            uint64_t rev = 0;
            if (rz_mp_next_raw(&d, &one, &one_len) != 0 ||
                !rzc_map_uint(one, one_len, "revision", &rev)) {
                rv = RZ_EMALFORMED;
                break;
            }
            if (rev < last_rev) {
                in_order = false;
            }
            last_rev = rev;
            rz_mp_skip(&d);
        }
        seen += n;
    }
    printf("events=%llu in_order=%s last_revision=%llu\n",
           (unsigned long long)seen, in_order ? "yes" : "no",
           (unsigned long long)last_rev);
    rz_buf_close(&b);
    rz_buf_close(&f);
    return rv == 0 && in_order ? 0 : 1;
}

int main(int argc, char **argv)
{
    const char *addr = NULL;
    const char *identity = NULL;
    int timeout = 5000;
    int i = 1;
    rzc c;
    int rv;

    while (i + 1 < argc && strncmp(argv[i], "--", 2) == 0) {
        if (strcmp(argv[i], "--addr") == 0) {
            addr = argv[i + 1];
        } else if (strcmp(argv[i], "--identity") == 0) {
            identity = argv[i + 1];
        } else if (strcmp(argv[i], "--timeout-ms") == 0) {
            timeout = atoi(argv[i + 1]);
        } else if (strcmp(argv[i], "--request-id") == 0) {
            rz_buf x;
            rz_buf_init(&x, 64);
            if (hex_decode(argv[i + 1], &x) != 0 || x.len != 16) {
                return usage();
            }
            memcpy(fixed_id, x.data, 16);
            has_fixed_id = true;
            rz_buf_close(&x);
        } else {
            return usage();
        }
        i += 2;
    }
    if (addr == NULL || identity == NULL || i >= argc) {
        return usage();
    }
    rv = rzc_connect(&c, addr, identity, timeout);
    if (rv != 0) {
        fprintf(stderr, "rz-probe: cannot connect to %s: %s (%s)\n", addr,
                rz_errname(rv), c.errmsg);
        rzc_close(&c);
        return 1;
    }
    if (strcmp(argv[i], "call") == 0 && i + 1 < argc) {
        rz_buf b;
        rz_buf_init(&b, RZ_FRAME_MAX_BYTES);
        rv = build_body(argc - i - 2, argv + i + 2, &b) != 0
                 ? 2
                 : do_call(&c, (uint32_t)atoi(argv[i + 1]), &b, timeout);
        rz_buf_close(&b);
    } else if (strcmp(argv[i], "body") == 0 && i + 2 < argc) {
        rz_buf b;
        rz_buf_init(&b, RZ_FRAME_MAX_BYTES);
        rv = hex_decode(argv[i + 2], &b) != 0
                 ? 2
                 : do_call(&c, (uint32_t)atoi(argv[i + 1]), &b, timeout);
        rz_buf_close(&b);
    } else if (strcmp(argv[i], "raw") == 0 && i + 1 < argc) {
        rv = do_raw(&c, argv[i + 1], timeout);
    } else if (strcmp(argv[i], "watch") == 0 && i + 2 < argc) {
        rv = do_watch(&c, strtoull(argv[i + 1], NULL, 10),
                      strtoull(argv[i + 2], NULL, 10), timeout);
    } else if (strcmp(argv[i], "flood") == 0 && i + 1 < argc) {
        rv = do_flood(&c, (uint32_t)strtoul(argv[i + 1], NULL, 10), timeout);
    } else if (strcmp(argv[i], "gets") == 0 && i + 2 < argc) {
        rv = do_gets(&c, strtoull(argv[i + 1], NULL, 10),
                     strtoull(argv[i + 2], NULL, 10), timeout);
    } else if (strcmp(argv[i], "comments") == 0 && i + 3 < argc) {
        rv = do_comments(&c, strtoull(argv[i + 1], NULL, 10),
                         strtoull(argv[i + 2], NULL, 10),
                         (size_t)strtoull(argv[i + 3], NULL, 10), timeout);
    } else if (strcmp(argv[i], "watch-slow") == 0 && i + 3 < argc) {
        rv = do_watch_slow(&c, strtoull(argv[i + 1], NULL, 10),
                           strtoull(argv[i + 2], NULL, 10),
                           strtoull(argv[i + 3], NULL, 10), timeout);
    } else if (strcmp(argv[i], "creates") == 0 && i + 1 < argc) {
        rv = do_creates(&c, strtoull(argv[i + 1], NULL, 10),
                        i + 2 < argc ? argv[i + 2] : "probe case", timeout);
    } else {
        rv = usage();
    }
    rzc_close(&c);
    return rv;
}
