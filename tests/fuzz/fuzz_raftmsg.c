/* libFuzzer target: the raft message decoder of the peer port
 * (consensus/msg.c), which reads frames from other nodes after the secure
 * channel authenticated them. Nothing it is fed may crash it, leak, or read
 * out of bounds; a frame it accepts re-encodes to bytes that decode to the
 * same message (encode(decode(encode(decode(x)))) == encode(decode(x))).
 * Seeds are messages of every type from gen_seeds_raftmsg. */
#include "consensus/msg.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Decodes p[0..n) and re-encodes it into out; returns the decode result. */
static int roundtrip(const uint8_t *p, size_t n, rz_buf *out)
{
    struct raft_message m;
    char address[RZ_MSG_ADDRESS_MAX_BYTES + 1];
    int rv = rz_msg_decode(p, n, &m, address, sizeof(address));
    if (rv != 0) {
        if (rv != RZ_EMALFORMED && rv != RZ_ENOMEM) {
            abort();
        }
        return rv;
    }
    /* The decoder's promises about what it hands on. */
    if (m.server_id == 0 || m.server_address != address ||
        strlen(address) == 0 || strlen(address) > RZ_MSG_ADDRESS_MAX_BYTES) {
        abort();
    }
    if (m.type == RAFT_IO_APPEND_ENTRIES) {
        const struct raft_append_entries *a = &m.append_entries;
        if ((a->n_entries == 0) != (a->entries == NULL)) {
            abort();
        }
        for (unsigned i = 0; i < a->n_entries; i++) {
            if (a->entries[i].batch == NULL ||
                a->entries[i].batch != a->entries[0].batch) {
                abort();
            }
        }
    }
    rv = rz_msg_encode(&m, m.server_id, address, out);
    rz_msg_release(&m);
    /* Whatever decodes must encode again (same limits both ways). */
    if (rv != 0) {
        abort();
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rz_buf once, twice;
    rz_buf_init(&once, RZ_PEER_FRAME_MAX_BYTES);
    rz_buf_init(&twice, RZ_PEER_FRAME_MAX_BYTES);
    if (roundtrip(data, size, &once) == 0) {
        if (roundtrip(once.data, once.len, &twice) != 0 ||
            once.len != twice.len ||
            memcmp(once.data, twice.data, once.len) != 0) {
            abort();
        }
    }
    rz_buf_close(&once);
    rz_buf_close(&twice);
    return 0;
}
