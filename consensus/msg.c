/* The raft message codec (frame layout and ownership in msg.h). Input comes
 * from the network: the frame is validated whole with rz_mp_validate before
 * any field is read, every count and length is checked again while reading,
 * and nothing is allocated until the sizes are known. */
#include "consensus/msg.h"

#include <string.h>

#define BODY_MAX_DEPTH 4u /* envelope > body > entries/servers > entry */
#define ENTRY_ALIGN 8u

static const rz_mp_limits msg_limits = {
    .max_depth = BODY_MAX_DEPTH,
    .max_str_bytes = RZ_PEER_FRAME_MAX_BYTES,
    .max_items = RZ_MP_MAX_ITEMS,
};

/* ---- Encoding ------------------------------------------------------------ */

static int encode_append_entries(const struct raft_append_entries *a, rz_buf *b)
{
    if (a->n_entries > RZ_MP_MAX_ITEMS ||
        (a->n_entries > 0 && a->entries == NULL)) {
        return RZ_EINVAL;
    }
    rz_mp_put_array(b, 5);
    rz_mp_put_uint(b, a->term);
    rz_mp_put_uint(b, a->prev_log_index);
    rz_mp_put_uint(b, a->prev_log_term);
    rz_mp_put_uint(b, a->leader_commit);
    rz_mp_put_array(b, a->n_entries);
    for (unsigned i = 0; i < a->n_entries; i++) {
        const struct raft_entry *e = &a->entries[i];
        if (e->buf.len > RZ_PEER_FRAME_MAX_BYTES ||
            (e->buf.len > 0 && e->buf.base == NULL)) {
            return RZ_EINVAL;
        }
        rz_mp_put_array(b, 3);
        rz_mp_put_uint(b, e->term);
        rz_mp_put_uint(b, e->type);
        rz_mp_put_bin(b, e->buf.base, e->buf.len);
    }
    return 0;
}

static int encode_install_snapshot(const struct raft_install_snapshot *s,
                                   rz_buf *b)
{
    if (s->conf.n > RZ_MSG_MAX_SERVERS ||
        (s->conf.n > 0 && s->conf.servers == NULL) ||
        s->data.len > RZ_PEER_FRAME_MAX_BYTES ||
        (s->data.len > 0 && s->data.base == NULL)) {
        return RZ_EINVAL;
    }
    rz_mp_put_array(b, 6);
    rz_mp_put_uint(b, s->term);
    rz_mp_put_uint(b, s->last_index);
    rz_mp_put_uint(b, s->last_term);
    rz_mp_put_array(b, s->conf.n);
    for (unsigned i = 0; i < s->conf.n; i++) {
        const struct raft_server *sv = &s->conf.servers[i];
        if (sv->address == NULL || sv->role < 0) {
            return RZ_EINVAL;
        }
        rz_mp_put_array(b, 3);
        rz_mp_put_uint(b, sv->id);
        rz_mp_put_cstr(b, sv->address);
        rz_mp_put_uint(b, (uint64_t)sv->role);
    }
    rz_mp_put_uint(b, s->conf_index);
    rz_mp_put_bin(b, s->data.base, s->data.len);
    return 0;
}

int rz_msg_encode(const struct raft_message *m, uint64_t sender_id,
                  const char *sender_address, rz_buf *out)
{
    RZ_PRE(m != NULL && out != NULL);
    size_t addr_len = sender_address != NULL ? strlen(sender_address) : 0;
    if (sender_id == 0 || addr_len == 0 ||
        addr_len > RZ_MSG_ADDRESS_MAX_BYTES) {
        return RZ_EINVAL;
    }
    if (out->err != 0) {
        return out->err;
    }
    int rv = 0;
    rz_mp_put_array(out, 5);
    rz_mp_put_uint(out, RZ_MSG_FORMAT);
    rz_mp_put_uint(out, m->type);
    rz_mp_put_uint(out, sender_id);
    rz_mp_put_str(out, sender_address, addr_len);
    switch (m->type) {
    case RAFT_IO_APPEND_ENTRIES:
        rv = encode_append_entries(&m->append_entries, out);
        break;
    case RAFT_IO_APPEND_ENTRIES_RESULT: {
        const struct raft_append_entries_result *r = &m->append_entries_result;
        rz_mp_put_array(out, 3);
        rz_mp_put_uint(out, r->term);
        rz_mp_put_uint(out, r->rejected);
        rz_mp_put_uint(out, r->last_log_index);
        break;
    }
    case RAFT_IO_REQUEST_VOTE: {
        const struct raft_request_vote *r = &m->request_vote;
        rz_mp_put_array(out, 6);
        rz_mp_put_uint(out, r->term);
        rz_mp_put_uint(out, r->candidate_id);
        rz_mp_put_uint(out, r->last_log_index);
        rz_mp_put_uint(out, r->last_log_term);
        rz_mp_put_bool(out, r->disrupt_leader);
        rz_mp_put_bool(out, r->pre_vote);
        break;
    }
    case RAFT_IO_REQUEST_VOTE_RESULT: {
        const struct raft_request_vote_result *r = &m->request_vote_result;
        rz_mp_put_array(out, 3);
        rz_mp_put_uint(out, r->term);
        rz_mp_put_bool(out, r->vote_granted);
        rz_mp_put_uint(out, (uint64_t)r->pre_vote);
        break;
    }
    case RAFT_IO_INSTALL_SNAPSHOT:
        rv = encode_install_snapshot(&m->install_snapshot, out);
        break;
    case RAFT_IO_TIMEOUT_NOW: {
        const struct raft_timeout_now *r = &m->timeout_now;
        rz_mp_put_array(out, 3);
        rz_mp_put_uint(out, r->term);
        rz_mp_put_uint(out, r->last_log_index);
        rz_mp_put_uint(out, r->last_log_term);
        break;
    }
    default:
        rv = RZ_EINVAL;
        break;
    }
    if (rv == 0) {
        rv = out->err;
    }
    return rv;
}

/* ---- Decoding ------------------------------------------------------------ */

/* Reads an array header that must announce exactly n elements. */
static int get_array_n(rz_mp_dec *d, uint32_t n)
{
    uint32_t got = 0;
    if (rz_mp_get_array(d, &got) != 0 || got != n) {
        return RZ_EMALFORMED;
    }
    return 0;
}

static int get_ull(rz_mp_dec *d, unsigned long long *out)
{
    uint64_t v = 0;
    if (rz_mp_get_u64(d, &v) != 0) {
        return RZ_EMALFORMED;
    }
    *out = v;
    return 0;
}

static size_t align_up(size_t n)
{
    return (n + ENTRY_ALIGN - 1) & ~(size_t)(ENTRY_ALIGN - 1);
}

static int decode_append_entries(rz_mp_dec *d, struct raft_append_entries *a)
{
    uint32_t n = 0;
    if (get_array_n(d, 5) != 0 || get_ull(d, &a->term) != 0 ||
        get_ull(d, &a->prev_log_index) != 0 ||
        get_ull(d, &a->prev_log_term) != 0 ||
        get_ull(d, &a->leader_commit) != 0 || rz_mp_get_array(d, &n) != 0) {
        return RZ_EMALFORMED;
    }
    /* First pass on a copy of the cursor: check every entry and size the
     * batch, so nothing is allocated for a frame that is bad further on. */
    rz_mp_dec scan = *d;
    size_t total = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t term = 0;
        uint8_t type = 0;
        const uint8_t *p = NULL;
        uint32_t len = 0;
        if (get_array_n(&scan, 3) != 0 || rz_mp_get_u64(&scan, &term) != 0 ||
            rz_mp_get_u8(&scan, &type) != 0 ||
            rz_mp_get_bin(&scan, &p, &len, RZ_PEER_FRAME_MAX_BYTES) != 0) {
            return RZ_EMALFORMED;
        }
        if (term == 0 || type < RAFT_COMMAND || type > RAFT_CHANGE) {
            return RZ_EMALFORMED;
        }
        total += align_up(len); /* bounded: the frame holds every byte */
    }
    a->n_entries = n;
    a->entries = NULL;
    if (n == 0) {
        return 0;
    }
    struct raft_entry *entries = raft_calloc(n, sizeof *entries);
    uint8_t *batch = raft_malloc(total > 0 ? total : ENTRY_ALIGN);
    if (entries == NULL || batch == NULL) {
        raft_free(entries);
        raft_free(batch);
        return RZ_ENOMEM;
    }
    size_t off = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t term = 0;
        uint8_t type = 0;
        const uint8_t *p = NULL;
        uint32_t len = 0;
        /* The first pass checked these very bytes. */
        bool ok = get_array_n(d, 3) == 0 && rz_mp_get_u64(d, &term) == 0 &&
                  rz_mp_get_u8(d, &type) == 0 &&
                  rz_mp_get_bin(d, &p, &len, RZ_PEER_FRAME_MAX_BYTES) == 0;
        RZ_ASSERT(ok);
        RZ_ASSERT(off + len <= total);
        if (len > 0) {
            memcpy(batch + off, p, len);
        }
        entries[i].term = term;
        entries[i].type = type;
        entries[i].buf.base = batch + off;
        entries[i].buf.len = len;
        entries[i].batch = batch;
        off += align_up(len);
    }
    a->entries = entries;
    return 0;
}

static int decode_install_snapshot(rz_mp_dec *d,
                                   struct raft_install_snapshot *s)
{
    uint32_t n = 0;
    raft_configuration_init(&s->conf);
    s->data.base = NULL;
    s->data.len = 0;
    if (get_array_n(d, 6) != 0 || get_ull(d, &s->term) != 0 ||
        get_ull(d, &s->last_index) != 0 || get_ull(d, &s->last_term) != 0 ||
        rz_mp_get_array(d, &n) != 0 || n > RZ_MSG_MAX_SERVERS) {
        return RZ_EMALFORMED;
    }
    int rv = 0;
    for (uint32_t i = 0; i < n && rv == 0; i++) {
        uint64_t id = 0;
        uint8_t role = 0;
        const char *a = NULL;
        uint32_t alen = 0;
        char addr[RZ_MSG_ADDRESS_MAX_BYTES + 1];
        if (get_array_n(d, 3) != 0 || rz_mp_get_u64(d, &id) != 0 ||
            rz_mp_get_str(d, &a, &alen, RZ_MSG_ADDRESS_MAX_BYTES) != 0 ||
            rz_mp_get_u8(d, &role) != 0) {
            rv = RZ_EMALFORMED;
            break;
        }
        /* A NUL inside the str would shorten the address silently. */
        if (id == 0 || role > RAFT_SPARE || alen == 0 ||
            memchr(a, '\0', alen) != NULL) {
            rv = RZ_EMALFORMED;
            break;
        }
        memcpy(addr, a, alen);
        addr[alen] = '\0';
        int rc = raft_configuration_add(&s->conf, id, addr, role);
        if (rc == RAFT_NOMEM) {
            rv = RZ_ENOMEM;
        } else if (rc != 0) {
            rv = RZ_EMALFORMED; /* duplicate id or address */
        }
    }
    const uint8_t *p = NULL;
    uint32_t len = 0;
    if (rv == 0 && (get_ull(d, &s->conf_index) != 0 ||
                    rz_mp_get_bin(d, &p, &len, RZ_PEER_FRAME_MAX_BYTES) != 0 ||
                    s->last_index == 0 || s->last_term == 0 ||
                    s->conf_index > s->last_index || s->conf.n == 0)) {
        rv = RZ_EMALFORMED;
    }
    if (rv == 0) {
        s->data.base = raft_malloc(len > 0 ? len : 1);
        if (s->data.base == NULL) {
            rv = RZ_ENOMEM;
        } else {
            if (len > 0) {
                memcpy(s->data.base, p, len);
            }
            s->data.len = len;
        }
    }
    if (rv != 0) {
        raft_configuration_close(&s->conf);
        raft_configuration_init(&s->conf);
    }
    return rv;
}

static int decode_body(rz_mp_dec *d, struct raft_message *m)
{
    switch (m->type) {
    case RAFT_IO_APPEND_ENTRIES:
        return decode_append_entries(d, &m->append_entries);
    case RAFT_IO_APPEND_ENTRIES_RESULT: {
        struct raft_append_entries_result *r = &m->append_entries_result;
        if (get_array_n(d, 3) != 0 || get_ull(d, &r->term) != 0 ||
            get_ull(d, &r->rejected) != 0 ||
            get_ull(d, &r->last_log_index) != 0) {
            return RZ_EMALFORMED;
        }
        return 0;
    }
    case RAFT_IO_REQUEST_VOTE: {
        struct raft_request_vote *r = &m->request_vote;
        if (get_array_n(d, 6) != 0 || get_ull(d, &r->term) != 0 ||
            get_ull(d, &r->candidate_id) != 0 ||
            get_ull(d, &r->last_log_index) != 0 ||
            get_ull(d, &r->last_log_term) != 0 ||
            rz_mp_get_bool(d, &r->disrupt_leader) != 0 ||
            rz_mp_get_bool(d, &r->pre_vote) != 0 || r->candidate_id == 0) {
            return RZ_EMALFORMED;
        }
        return 0;
    }
    case RAFT_IO_REQUEST_VOTE_RESULT: {
        struct raft_request_vote_result *r = &m->request_vote_result;
        uint8_t pv = 0;
        if (get_array_n(d, 3) != 0 || get_ull(d, &r->term) != 0 ||
            rz_mp_get_bool(d, &r->vote_granted) != 0 ||
            rz_mp_get_u8(d, &pv) != 0 || pv > raft_tribool_false) {
            return RZ_EMALFORMED;
        }
        r->pre_vote = (raft_tribool)pv;
        return 0;
    }
    case RAFT_IO_INSTALL_SNAPSHOT:
        return decode_install_snapshot(d, &m->install_snapshot);
    case RAFT_IO_TIMEOUT_NOW: {
        struct raft_timeout_now *r = &m->timeout_now;
        if (get_array_n(d, 3) != 0 || get_ull(d, &r->term) != 0 ||
            get_ull(d, &r->last_log_index) != 0 ||
            get_ull(d, &r->last_log_term) != 0) {
            return RZ_EMALFORMED;
        }
        return 0;
    }
    default:
        return RZ_EMALFORMED;
    }
}

int rz_msg_decode(const void *data, size_t len, struct raft_message *out,
                  char *address, size_t address_size)
{
    RZ_PRE(out != NULL && address != NULL &&
           address_size > RZ_MSG_ADDRESS_MAX_BYTES);
    memset(out, 0, sizeof *out);
    if (data == NULL || len == 0 || len > RZ_PEER_FRAME_MAX_BYTES ||
        rz_mp_validate(data, len, 1, &msg_limits) != 0) {
        return RZ_EMALFORMED;
    }
    rz_mp_dec d;
    rz_mp_dec_init(&d, data, len);
    uint32_t format = 0;
    uint8_t type = 0;
    uint64_t sender = 0;
    const char *addr = NULL;
    uint32_t addr_len = 0;
    if (get_array_n(&d, 5) != 0 || rz_mp_get_u32(&d, &format) != 0 ||
        format != RZ_MSG_FORMAT || rz_mp_get_u8(&d, &type) != 0 ||
        rz_mp_get_u64(&d, &sender) != 0 || sender == 0 ||
        rz_mp_get_str(&d, &addr, &addr_len, RZ_MSG_ADDRESS_MAX_BYTES) != 0 ||
        addr_len == 0 || memchr(addr, '\0', addr_len) != NULL) {
        return RZ_EMALFORMED;
    }
    out->type = type;
    int rv = decode_body(&d, out);
    if (rv == 0 && !rz_mp_done(&d)) {
        rz_msg_release(out); /* trailing bytes inside the frame */
        rv = RZ_EMALFORMED;
    }
    if (rv != 0) {
        memset(out, 0, sizeof *out);
        return rv;
    }
    memcpy(address, addr, addr_len);
    address[addr_len] = '\0';
    out->server_id = sender;
    out->server_address = address;
    return 0;
}

void rz_msg_release(struct raft_message *m)
{
    RZ_PRE(m != NULL);
    if (m->type == RAFT_IO_APPEND_ENTRIES) {
        struct raft_append_entries *a = &m->append_entries;
        if (a->entries != NULL) {
            RZ_ASSERT(a->n_entries > 0);
            /* One batch per decoded message (see msg.h). */
            raft_free(a->entries[0].batch);
            raft_free(a->entries);
        }
    } else if (m->type == RAFT_IO_INSTALL_SNAPSHOT) {
        raft_configuration_close(&m->install_snapshot.conf);
        raft_free(m->install_snapshot.data.base);
    }
    memset(m, 0, sizeof *m);
}
