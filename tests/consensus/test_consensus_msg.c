/* Unit tests of the raft message codec (consensus/msg.c): a roundtrip of
 * every message type with random contents, then malformed frames (every
 * truncation, random bit flips, random bytes, hand-made bad fields) that
 * must be rejected without a crash or a leak (run under ASan in CI). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/common.h"
#include "consensus/msg.h"

static uint64_t rng = 0x2545f4914f6cdd1dull;

static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* Random integers of every msgpack width. */
static uint64_t rnd_u(void)
{
    switch (rnd() % 5) {
    case 0:
        return rnd() % 128;
    case 1:
        return rnd() % 65536;
    case 2:
        return rnd() % 0x100000000ull;
    case 3:
        return UINT64_MAX - rnd() % 3;
    default:
        return rnd();
    }
}

typedef struct sample
{
    struct raft_message m;
    struct raft_entry entries[40];
    uint8_t data[40][300];
    struct raft_server servers[7];
    char addrs[7][32];
    uint8_t snap[500];
} sample;

static void make(sample *s, unsigned short type)
{
    memset(s, 0, sizeof *s);
    s->m.type = type;
    s->m.server_id = 99; /* the destination: not encoded */
    switch (type) {
    case RAFT_IO_APPEND_ENTRIES: {
        struct raft_append_entries *a = &s->m.append_entries;
        a->term = rnd_u();
        a->prev_log_index = rnd_u();
        a->prev_log_term = rnd_u();
        a->leader_commit = rnd_u();
        a->n_entries = (unsigned)(rnd() % 41);
        a->entries = a->n_entries > 0 ? s->entries : NULL;
        for (unsigned i = 0; i < a->n_entries; i++) {
            size_t len = rnd() % 300;
            for (size_t j = 0; j < len; j++) {
                s->data[i][j] = (uint8_t)rnd();
            }
            s->entries[i].term = 1 + rnd_u() % 1000;
            s->entries[i].type = (unsigned short)(1 + rnd() % 3);
            s->entries[i].buf.base = s->data[i];
            s->entries[i].buf.len = len;
        }
        break;
    }
    case RAFT_IO_APPEND_ENTRIES_RESULT:
        s->m.append_entries_result.term = rnd_u();
        s->m.append_entries_result.rejected = rnd_u();
        s->m.append_entries_result.last_log_index = rnd_u();
        break;
    case RAFT_IO_REQUEST_VOTE:
        s->m.request_vote.term = rnd_u();
        s->m.request_vote.candidate_id = 1 + rnd_u() % 1000;
        s->m.request_vote.last_log_index = rnd_u();
        s->m.request_vote.last_log_term = rnd_u();
        s->m.request_vote.disrupt_leader = rnd() % 2;
        s->m.request_vote.pre_vote = rnd() % 2;
        break;
    case RAFT_IO_REQUEST_VOTE_RESULT:
        s->m.request_vote_result.term = rnd_u();
        s->m.request_vote_result.vote_granted = rnd() % 2;
        s->m.request_vote_result.pre_vote = (raft_tribool)(rnd() % 3);
        break;
    case RAFT_IO_INSTALL_SNAPSHOT: {
        struct raft_install_snapshot *is = &s->m.install_snapshot;
        is->term = rnd_u();
        is->last_index = 1 + rnd_u() % 100000;
        is->last_term = 1 + rnd_u() % 100;
        is->conf_index = rnd_u() % (is->last_index + 1);
        is->conf.n = 1 + (unsigned)(rnd() % 7);
        is->conf.servers = s->servers;
        for (unsigned i = 0; i < is->conf.n; i++) {
            snprintf(s->addrs[i], sizeof s->addrs[i], "10.0.0.%u:%u", i + 1,
                     (unsigned)(rnd() % 65536));
            s->servers[i].id = i + 1 + rnd_u() % 1000 * 10;
            s->servers[i].address = s->addrs[i];
            s->servers[i].role = (int)(rnd() % 3);
        }
        is->data.len = rnd() % 500;
        for (size_t j = 0; j < is->data.len; j++) {
            s->snap[j] = (uint8_t)rnd();
        }
        is->data.base = is->data.len > 0 ? s->snap : NULL;
        break;
    }
    case RAFT_IO_TIMEOUT_NOW:
        s->m.timeout_now.term = rnd_u();
        s->m.timeout_now.last_log_index = rnd_u();
        s->m.timeout_now.last_log_term = rnd_u();
        break;
    default:
        fail();
    }
}

static void check_equal(const struct raft_message *a,
                        const struct raft_message *b)
{
    assert_int_equal(a->type, b->type);
    switch (a->type) {
    case RAFT_IO_APPEND_ENTRIES: {
        const struct raft_append_entries *x = &a->append_entries;
        const struct raft_append_entries *y = &b->append_entries;
        assert_int_equal(x->term, y->term);
        assert_int_equal(x->prev_log_index, y->prev_log_index);
        assert_int_equal(x->prev_log_term, y->prev_log_term);
        assert_int_equal(x->leader_commit, y->leader_commit);
        assert_int_equal(x->n_entries, y->n_entries);
        for (unsigned i = 0; i < x->n_entries; i++) {
            assert_int_equal(x->entries[i].term, y->entries[i].term);
            assert_int_equal(x->entries[i].type, y->entries[i].type);
            assert_int_equal(x->entries[i].buf.len, y->entries[i].buf.len);
            if (x->entries[i].buf.len > 0) {
                assert_memory_equal(x->entries[i].buf.base,
                                    y->entries[i].buf.base,
                                    x->entries[i].buf.len);
            }
            /* One batch, 8-byte aligned data inside it. */
            assert_non_null(y->entries[i].batch);
            assert_ptr_equal(y->entries[i].batch, y->entries[0].batch);
            assert_int_equal(((uintptr_t)y->entries[i].buf.base -
                              (uintptr_t)y->entries[0].batch) %
                                 8,
                             0);
        }
        break;
    }
    case RAFT_IO_APPEND_ENTRIES_RESULT:
        assert_memory_equal(&a->append_entries_result,
                            &b->append_entries_result,
                            sizeof a->append_entries_result);
        break;
    case RAFT_IO_REQUEST_VOTE:
        assert_int_equal(a->request_vote.term, b->request_vote.term);
        assert_int_equal(a->request_vote.candidate_id,
                         b->request_vote.candidate_id);
        assert_int_equal(a->request_vote.last_log_index,
                         b->request_vote.last_log_index);
        assert_int_equal(a->request_vote.last_log_term,
                         b->request_vote.last_log_term);
        assert_int_equal(a->request_vote.disrupt_leader,
                         b->request_vote.disrupt_leader);
        assert_int_equal(a->request_vote.pre_vote, b->request_vote.pre_vote);
        break;
    case RAFT_IO_REQUEST_VOTE_RESULT:
        assert_int_equal(a->request_vote_result.term,
                         b->request_vote_result.term);
        assert_int_equal(a->request_vote_result.vote_granted,
                         b->request_vote_result.vote_granted);
        assert_int_equal(a->request_vote_result.pre_vote,
                         b->request_vote_result.pre_vote);
        break;
    case RAFT_IO_INSTALL_SNAPSHOT: {
        const struct raft_install_snapshot *x = &a->install_snapshot;
        const struct raft_install_snapshot *y = &b->install_snapshot;
        assert_int_equal(x->term, y->term);
        assert_int_equal(x->last_index, y->last_index);
        assert_int_equal(x->last_term, y->last_term);
        assert_int_equal(x->conf_index, y->conf_index);
        assert_int_equal(x->conf.n, y->conf.n);
        for (unsigned i = 0; i < x->conf.n; i++) {
            assert_int_equal(x->conf.servers[i].id, y->conf.servers[i].id);
            assert_string_equal(x->conf.servers[i].address,
                                y->conf.servers[i].address);
            assert_int_equal(x->conf.servers[i].role, y->conf.servers[i].role);
        }
        assert_int_equal(x->data.len, y->data.len);
        assert_non_null(y->data.base);
        if (x->data.len > 0) {
            assert_memory_equal(x->data.base, y->data.base, x->data.len);
        }
        break;
    }
    case RAFT_IO_TIMEOUT_NOW:
        assert_memory_equal(&a->timeout_now, &b->timeout_now,
                            sizeof a->timeout_now);
        break;
    default:
        fail();
    }
}

static void encode(const sample *s, rz_buf *b, uint64_t sender)
{
    char addr[64];
    snprintf(addr, sizeof addr, "node-%llu.example:7000",
             (unsigned long long)sender);
    rz_buf_init(b, RZ_PEER_FRAME_MAX_BYTES);
    assert_int_equal(rz_msg_encode(&s->m, sender, addr, b), 0);
}

static void test_roundtrip(void **state)
{
    (void)state;
    static sample s;
    char addr[RZ_MSG_ADDRESS_MAX_BYTES + 1];
    for (int round = 0; round < 300; round++) {
        for (unsigned short t = RAFT_IO_APPEND_ENTRIES;
             t <= RAFT_IO_TIMEOUT_NOW; t++) {
            make(&s, t);
            rz_buf b;
            uint64_t sender = 1 + rnd_u() % 1000000;
            encode(&s, &b, sender);
            struct raft_message out;
            assert_int_equal(
                rz_msg_decode(b.data, b.len, &out, addr, sizeof addr), 0);
            check_equal(&s.m, &out);
            assert_int_equal(out.server_id, sender);
            char want[64];
            snprintf(want, sizeof want, "node-%llu.example:7000",
                     (unsigned long long)sender);
            assert_string_equal(out.server_address, want);
            assert_ptr_equal(out.server_address, addr);
            rz_msg_release(&out);
            rz_buf_close(&b);
        }
    }
}

/* Decodes arbitrary bytes: must either fail with RZ_EMALFORMED (and leave
 * *out zeroed) or produce a message, released here. */
static int try_decode(const uint8_t *p, size_t n)
{
    struct raft_message out;
    char addr[RZ_MSG_ADDRESS_MAX_BYTES + 1];
    int rv = rz_msg_decode(p, n, &out, addr, sizeof addr);
    if (rv == 0) {
        assert_true(out.type >= RAFT_IO_APPEND_ENTRIES &&
                    out.type <= RAFT_IO_TIMEOUT_NOW);
        assert_true(out.server_id > 0);
        rz_msg_release(&out);
    } else {
        assert_int_equal(rv, RZ_EMALFORMED);
        assert_int_equal(out.type, 0);
    }
    return rv;
}

static void test_truncations(void **state)
{
    (void)state;
    static sample s;
    for (int round = 0; round < 20; round++) {
        for (unsigned short t = RAFT_IO_APPEND_ENTRIES;
             t <= RAFT_IO_TIMEOUT_NOW; t++) {
            make(&s, t);
            rz_buf b;
            encode(&s, &b, 7);
            /* Every proper prefix is rejected; so is a trailing byte. */
            for (size_t n = 0; n < b.len; n++) {
                uint8_t *copy = malloc(n + 1);
                memcpy(copy, b.data, n);
                assert_int_equal(try_decode(copy, n), RZ_EMALFORMED);
                free(copy);
            }
            rz_buf_append(&b, "\x00", 1);
            assert_int_equal(try_decode(b.data, b.len), RZ_EMALFORMED);
            rz_buf_close(&b);
        }
    }
}

static void test_bit_flips_and_noise(void **state)
{
    (void)state;
    static sample s;
    int rejected = 0;
    for (int round = 0; round < 3000; round++) {
        make(&s, (unsigned short)(1 + rnd() % 6));
        rz_buf b;
        encode(&s, &b, 3);
        int flips = 1 + (int)(rnd() % 4);
        for (int i = 0; i < flips; i++) {
            size_t at = rnd() % b.len;
            b.data[at] ^= (uint8_t)(1u << (rnd() % 8));
        }
        rejected += try_decode(b.data, b.len) != 0;
        rz_buf_close(&b);
    }
    /* Most flips hit a header, a count or a checked field. */
    assert_true(rejected > 300);
    uint8_t junk[512];
    for (int round = 0; round < 3000; round++) {
        size_t n = rnd() % sizeof junk;
        for (size_t i = 0; i < n; i++) {
            junk[i] = (uint8_t)rnd();
        }
        if (n > 0 && rnd() % 2) {
            junk[0] = 0x95; /* an array of 5, to get further in */
        }
        (void)try_decode(junk, n);
    }
}

/* Builds a frame by hand: envelope with the given fields, then the raw body
 * written by `body`. */
static void frame(rz_buf *b, uint64_t format, uint64_t type, uint64_t sender,
                  const char *addr, size_t addr_len)
{
    rz_buf_init(b, 1 << 20);
    rz_mp_put_array(b, 5);
    rz_mp_put_uint(b, format);
    rz_mp_put_uint(b, type);
    rz_mp_put_uint(b, sender);
    rz_mp_put_str(b, addr, addr_len);
}

static void test_bad_fields(void **state)
{
    (void)state;
    rz_buf b;
    /* Good TimeoutNow for reference. */
    frame(&b, 1, RAFT_IO_TIMEOUT_NOW, 2, "a:1", 3);
    rz_mp_put_array(&b, 3);
    rz_mp_put_uint(&b, 1);
    rz_mp_put_uint(&b, 2);
    rz_mp_put_uint(&b, 3);
    assert_int_equal(try_decode(b.data, b.len), 0);
    rz_buf_close(&b);
    /* Wrong format, unknown types, sender 0, bad addresses. */
    uint64_t bad[][3] = {{2, RAFT_IO_TIMEOUT_NOW, 2},
                         {1, 0, 2},
                         {1, 7, 2},
                         {1, 300, 2},
                         {1, RAFT_IO_TIMEOUT_NOW, 0}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        frame(&b, bad[i][0], bad[i][1], bad[i][2], "a:1", 3);
        rz_mp_put_array(&b, 3);
        rz_mp_put_uint(&b, 1);
        rz_mp_put_uint(&b, 2);
        rz_mp_put_uint(&b, 3);
        assert_int_equal(try_decode(b.data, b.len), RZ_EMALFORMED);
        rz_buf_close(&b);
    }
    char longaddr[300];
    memset(longaddr, 'x', sizeof longaddr);
    const struct
    {
        const char *p;
        size_t n;
    } addrs[] = {{"", 0}, {"a\0b", 3}, {longaddr, 256}};
    for (size_t i = 0; i < 3; i++) {
        frame(&b, 1, RAFT_IO_TIMEOUT_NOW, 2, addrs[i].p, addrs[i].n);
        rz_mp_put_array(&b, 3);
        rz_mp_put_uint(&b, 1);
        rz_mp_put_uint(&b, 2);
        rz_mp_put_uint(&b, 3);
        assert_int_equal(try_decode(b.data, b.len), RZ_EMALFORMED);
        rz_buf_close(&b);
    }
    /* AppendEntries with a bad entry type / zero term / extra field. */
    for (int v = 0; v < 3; v++) {
        frame(&b, 1, RAFT_IO_APPEND_ENTRIES, 2, "a:1", 3);
        rz_mp_put_array(&b, 5);
        for (int i = 0; i < 4; i++) {
            rz_mp_put_uint(&b, 1);
        }
        rz_mp_put_array(&b, 2);
        rz_mp_put_array(&b, 3);
        rz_mp_put_uint(&b, 1);
        rz_mp_put_uint(&b, 1);
        rz_mp_put_bin(&b, "ok", 2);
        rz_mp_put_array(&b, v == 2 ? 4 : 3);
        rz_mp_put_uint(&b, v == 1 ? 0 : 1);
        rz_mp_put_uint(&b, v == 0 ? 4 : 1);
        rz_mp_put_bin(&b, "xy", 2);
        if (v == 2) {
            rz_mp_put_nil(&b);
        }
        assert_int_equal(try_decode(b.data, b.len), RZ_EMALFORMED);
        rz_buf_close(&b);
    }
    /* InstallSnapshot with a duplicate server, a bad role, id 0, an empty
     * configuration, conf_index past last_index. */
    for (int v = 0; v < 5; v++) {
        frame(&b, 1, RAFT_IO_INSTALL_SNAPSHOT, 2, "a:1", 3);
        rz_mp_put_array(&b, 6);
        rz_mp_put_uint(&b, 3);
        rz_mp_put_uint(&b, 10);
        rz_mp_put_uint(&b, 2);
        rz_mp_put_array(&b, v == 3 ? 0 : 2);
        if (v != 3) {
            rz_mp_put_array(&b, 3);
            rz_mp_put_uint(&b, v == 2 ? 0 : 1);
            rz_mp_put_cstr(&b, "s1:1");
            rz_mp_put_uint(&b, 1);
            rz_mp_put_array(&b, 3);
            rz_mp_put_uint(&b, v == 0 ? 1 : 2);
            rz_mp_put_cstr(&b, "s2:1");
            rz_mp_put_uint(&b, v == 1 ? 5 : 1);
        }
        rz_mp_put_uint(&b, v == 4 ? 11 : 5);
        rz_mp_put_bin(&b, "data", 4);
        assert_int_equal(try_decode(b.data, b.len), RZ_EMALFORMED);
        rz_buf_close(&b);
    }
    /* Encoding refuses what it cannot represent. */
    struct raft_message m;
    memset(&m, 0, sizeof m);
    m.type = 42;
    rz_buf_init(&b, 1024);
    assert_int_equal(rz_msg_encode(&m, 1, "a:1", &b), RZ_EINVAL);
    m.type = RAFT_IO_TIMEOUT_NOW;
    assert_int_equal(rz_msg_encode(&m, 0, "a:1", &b), RZ_EINVAL);
    assert_int_equal(rz_msg_encode(&m, 1, "", &b), RZ_EINVAL);
    rz_buf_close(&b);
    /* A frame past the buffer's cap reports the buffer's error. */
    static uint8_t big[4096];
    struct raft_entry e = {1, RAFT_COMMAND, {big, sizeof big}, NULL};
    m.type = RAFT_IO_APPEND_ENTRIES;
    m.append_entries.entries = &e;
    m.append_entries.n_entries = 1;
    rz_buf_init(&b, 1024);
    assert_int_equal(rz_msg_encode(&m, 1, "a:1", &b), RZ_ETOOBIG);
    rz_buf_close(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_truncations),
        cmocka_unit_test(test_bit_flips_and_noise),
        cmocka_unit_test(test_bad_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
