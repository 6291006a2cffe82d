/* The snapshot descriptor, the state-transfer frames and the receiver of a
 * transfer (formats in snapshot.h). Frames come from the network: they are
 * validated whole before any field is read, and a receiver never writes a
 * byte out of order nor reports a copy whose hash it has not checked. */
#include "consensus/snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/limits.h"
#include "consensus/msg.h"

static const uint8_t desc_magic[4] = {'R', 'Z', 'S', 'D'};

/* ---- Descriptor ---------------------------------------------------------- */

void rz_snap_desc_encode(const rz_snap_desc *d, uint8_t out[RZ_SNAP_DESC_BYTES])
{
    RZ_PRE(d != NULL && out != NULL);
    RZ_PRE(d->index >= 1);
    memcpy(out, desc_magic, 4);
    out[4] = 0;
    out[5] = 0;
    out[6] = 0;
    out[7] = (uint8_t)RZ_SNAP_DESC_FORMAT;
    rz_put_be64(out + 8, d->index);
    rz_put_be64(out + 16, d->state_index);
    memcpy(out + 24, d->checksum, 32);
}

int rz_snap_desc_decode(const void *p, size_t len, rz_snap_desc *out)
{
    const uint8_t *b = p;
    RZ_PRE(out != NULL);
    memset(out, 0, sizeof *out);
    if (b == NULL || len != RZ_SNAP_DESC_BYTES ||
        memcmp(b, desc_magic, 4) != 0 || b[4] != 0 || b[5] != 0 || b[6] != 0 ||
        b[7] != RZ_SNAP_DESC_FORMAT) {
        return RZ_EMALFORMED;
    }
    out->index = rz_get_be64(b + 8);
    out->state_index = rz_get_be64(b + 16);
    memcpy(out->checksum, b + 24, 32);
    if (out->index == 0) {
        memset(out, 0, sizeof *out);
        return RZ_EMALFORMED;
    }
    return 0;
}

/* ---- Frames -------------------------------------------------------------- */

static const rz_mp_limits xfer_limits = {
    .max_depth = 2,
    .max_str_bytes = RZ_XFER_CHUNK_MAX_BYTES,
    .max_items = 16,
};

bool rz_xfer_frame_is(const void *frame, size_t len)
{
    rz_mp_dec d;
    uint32_t n = 0;
    uint32_t format = 0;
    uint8_t type = 0;
    if (frame == NULL || len == 0) {
        return false;
    }
    rz_mp_dec_init(&d, frame, len);
    if (rz_mp_get_array(&d, &n) != 0 || n != 5 ||
        rz_mp_get_u32(&d, &format) != 0 || rz_mp_get_u8(&d, &type) != 0) {
        return false;
    }
    return type >= RZ_XFER_MSG_CHUNK && type <= RZ_XFER_MSG_NEED;
}

int rz_xfer_msg_encode(const rz_xfer_msg *m, uint64_t sender_id,
                       const char *sender_address, rz_buf *out)
{
    size_t addr_len;
    RZ_PRE(m != NULL && out != NULL);
    addr_len = sender_address != NULL ? strlen(sender_address) : 0;
    if (sender_id == 0 || addr_len == 0 ||
        addr_len > RZ_MSG_ADDRESS_MAX_BYTES) {
        return RZ_EINVAL;
    }
    rz_mp_put_array(out, 5);
    rz_mp_put_uint(out, RZ_MSG_FORMAT);
    rz_mp_put_uint(out, (uint64_t)m->type);
    rz_mp_put_uint(out, sender_id);
    rz_mp_put_str(out, sender_address, addr_len);
    switch (m->type) {
    case RZ_XFER_MSG_CHUNK:
        if (m->len == 0 || m->len > RZ_XFER_CHUNK_MAX_BYTES ||
            m->data == NULL) {
            return RZ_EINVAL;
        }
        rz_mp_put_array(out, 8);
        rz_mp_put_uint(out, m->xfer_id);
        rz_mp_put_uint(out, m->term);
        rz_mp_put_uint(out, m->total_bytes);
        rz_mp_put_uint(out, m->offset);
        rz_mp_put_bin(out, m->file_hash, 32);
        rz_mp_put_uint(out, m->state_index);
        rz_mp_put_bin(out, m->state_checksum, 32);
        rz_mp_put_bin(out, m->data, m->len);
        break;
    case RZ_XFER_MSG_ACK:
        if (m->status < RZ_XFER_MORE || m->status > RZ_XFER_ABORT) {
            return RZ_EINVAL;
        }
        rz_mp_put_array(out, 4);
        rz_mp_put_uint(out, m->xfer_id);
        rz_mp_put_uint(out, m->next_offset);
        rz_mp_put_uint(out, (uint64_t)m->status);
        rz_mp_put_uint(out, m->state_index);
        break;
    case RZ_XFER_MSG_NEED:
        rz_mp_put_array(out, 2);
        rz_mp_put_uint(out, m->snapshot_index);
        rz_mp_put_uint(out, m->state_index);
        break;
    default:
        return RZ_EINVAL;
    }
    return out->err;
}

static int body_n(rz_mp_dec *d, uint32_t n)
{
    uint32_t got = 0;
    return rz_mp_get_array(d, &got) == 0 && got == n ? 0 : RZ_EMALFORMED;
}

static int decode_chunk(rz_mp_dec *d, rz_xfer_msg *m)
{
    const uint8_t *p = NULL;
    uint32_t len = 0;
    if (body_n(d, 8) != 0 || rz_mp_get_u64(d, &m->xfer_id) != 0 ||
        rz_mp_get_u64(d, &m->term) != 0 ||
        rz_mp_get_u64(d, &m->total_bytes) != 0 ||
        rz_mp_get_u64(d, &m->offset) != 0 ||
        rz_mp_get_bin_exact(d, m->file_hash, 32) != 0 ||
        rz_mp_get_u64(d, &m->state_index) != 0 ||
        rz_mp_get_bin_exact(d, m->state_checksum, 32) != 0 ||
        rz_mp_get_bin(d, &p, &len, RZ_XFER_CHUNK_MAX_BYTES) != 0) {
        return RZ_EMALFORMED;
    }
    if (len == 0 || m->term == 0 || m->state_index == 0 ||
        m->total_bytes == 0 || m->total_bytes > RZ_XFER_TOTAL_MAX_BYTES ||
        m->offset > m->total_bytes || len > m->total_bytes - m->offset) {
        return RZ_EMALFORMED;
    }
    m->data = p;
    m->len = len;
    return 0;
}

int rz_xfer_msg_decode(const void *frame, size_t len, rz_xfer_msg *out)
{
    rz_mp_dec d;
    uint32_t format = 0;
    uint8_t type = 0;
    const char *addr = NULL;
    uint32_t addr_len = 0;
    uint8_t status = 0;
    int rv = RZ_EMALFORMED;

    RZ_PRE(out != NULL);
    memset(out, 0, sizeof *out);
    if (frame == NULL || len == 0 || len > RZ_PEER_FRAME_MAX_BYTES ||
        rz_mp_validate(frame, len, 1, &xfer_limits) != 0) {
        return RZ_EMALFORMED;
    }
    rz_mp_dec_init(&d, frame, len);
    if (body_n(&d, 5) != 0 || rz_mp_get_u32(&d, &format) != 0 ||
        format != RZ_MSG_FORMAT || rz_mp_get_u8(&d, &type) != 0 ||
        rz_mp_get_u64(&d, &out->sender) != 0 || out->sender == 0 ||
        rz_mp_get_str(&d, &addr, &addr_len, RZ_MSG_ADDRESS_MAX_BYTES) != 0 ||
        addr_len == 0 || addr_len >= sizeof out->sender_address ||
        memchr(addr, '\0', addr_len) != NULL) {
        goto done;
    }
    memcpy(out->sender_address, addr, addr_len);
    out->sender_address[addr_len] = '\0';
    out->type = type;
    switch (type) {
    case RZ_XFER_MSG_CHUNK:
        rv = decode_chunk(&d, out);
        break;
    case RZ_XFER_MSG_ACK:
        if (body_n(&d, 4) == 0 && rz_mp_get_u64(&d, &out->xfer_id) == 0 &&
            rz_mp_get_u64(&d, &out->next_offset) == 0 &&
            rz_mp_get_u8(&d, &status) == 0 && status <= RZ_XFER_ABORT &&
            rz_mp_get_u64(&d, &out->state_index) == 0) {
            out->status = status;
            rv = 0;
        }
        break;
    case RZ_XFER_MSG_NEED:
        if (body_n(&d, 2) == 0 &&
            rz_mp_get_u64(&d, &out->snapshot_index) == 0 &&
            rz_mp_get_u64(&d, &out->state_index) == 0 &&
            out->snapshot_index > 0) {
            rv = 0;
        }
        break;
    default:
        break;
    }
    if (rv == 0 && !rz_mp_done(&d)) {
        rv = RZ_EMALFORMED;
    }
done:
    if (rv != 0) {
        memset(out, 0, sizeof *out);
    }
    return rv;
}

/* ---- Receiver ------------------------------------------------------------ */

int rz_xfer_recv_init(rz_xfer_recv *rx, const char *dir)
{
    int n;
    RZ_PRE(rx != NULL && dir != NULL);
    memset(rx, 0, sizeof *rx);
    rx->fd = -1;
    n = snprintf(rx->dir, sizeof rx->dir, "%s/xfer-recv", dir);
    if (n <= 0 || (size_t)n + sizeof "/state.mdb-lock" >= sizeof rx->dir) {
        return RZ_EINVAL;
    }
    snprintf(rx->path, sizeof rx->path, "%s/state.mdb", rx->dir);
    return 0;
}

/* Removes the copy and what opening it to verify may have left. */
static void files_remove(rz_xfer_recv *rx)
{
    char lock[RZ_XFER_PATH_BYTES + 32];
    snprintf(lock, sizeof lock, "%s-lock", rx->path);
    (void)unlink(rx->path);
    (void)unlink(lock);
    (void)rmdir(rx->dir);
}

static void rx_close(rz_xfer_recv *rx)
{
    if (rx->fd >= 0) {
        (void)close(rx->fd);
        rx->fd = -1;
    }
    files_remove(rx);
    rx->active = false;
}

void rz_xfer_recv_abort(rz_xfer_recv *rx)
{
    RZ_PRE(rx != NULL);
    if (rx->active) {
        rx->n_aborted++;
    }
    rx_close(rx);
}

static void ack_fill(const rz_xfer_recv *rx, int status, uint64_t applied,
                     rz_xfer_msg *ack)
{
    memset(ack, 0, sizeof *ack);
    ack->type = RZ_XFER_MSG_ACK;
    ack->xfer_id = rx->xfer_id;
    ack->next_offset = rx->next;
    ack->status = status;
    ack->state_index = applied;
}

static bool chunk_valid(const rz_xfer_msg *c)
{
    return c->type == RZ_XFER_MSG_CHUNK && c->sender != 0 && c->term != 0 &&
           c->state_index != 0 && c->total_bytes != 0 &&
           c->total_bytes <= RZ_XFER_TOTAL_MAX_BYTES && c->data != NULL &&
           c->len > 0 && c->len <= RZ_XFER_CHUNK_MAX_BYTES &&
           c->offset <= c->total_bytes && c->len <= c->total_bytes - c->offset;
}

static int rx_start(rz_xfer_recv *rx, const rz_xfer_msg *c, uint64_t now_ms)
{
    if (mkdir(rx->dir, 0700) != 0 && errno != EEXIST) {
        return RZ_EIO;
    }
    files_remove(rx);
    if (mkdir(rx->dir, 0700) != 0 && errno != EEXIST) {
        return RZ_EIO;
    }
    rx->fd = open(rx->path, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0600);
    if (rx->fd < 0) {
        return errno == ENOSPC ? RZ_ENOSPACE : RZ_EIO;
    }
    rx->active = true;
    rx->from = c->sender;
    rx->xfer_id = c->xfer_id;
    rx->term = c->term;
    rx->total = c->total_bytes;
    rx->next = 0;
    rx->state_index = c->state_index;
    memcpy(rx->file_hash, c->file_hash, 32);
    memcpy(rx->checksum, c->state_checksum, 32);
    rx->last_ms = now_ms;
    rz_hash_init(&rx->hs, 32);
    return 0;
}

static int write_all(int fd, const uint8_t *p, size_t n, uint64_t off)
{
    size_t done = 0;
    /* Bounded: each round writes at least one byte or fails. */
    while (done < n) {
        ssize_t w = pwrite(fd, p + done, n - done, (off_t)(off + done));
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            return errno == ENOSPC ? RZ_ENOSPACE : RZ_EIO;
        }
        done += (size_t)w;
    }
    return 0;
}

int rz_xfer_recv_chunk(rz_xfer_recv *rx, const rz_xfer_msg *c,
                       uint64_t applied_index, uint64_t now_ms,
                       rz_xfer_msg *ack)
{
    bool same;
    uint8_t got[32];

    RZ_PRE(rx != NULL && c != NULL && ack != NULL);
    if (!chunk_valid(c)) {
        return RZ_XFER_RX_IGNORE;
    }
    same = rx->active && rx->from == c->sender && rx->xfer_id == c->xfer_id &&
           rx->term == c->term;
    if (rx->active && !same && c->term < rx->term) {
        return RZ_XFER_RX_IGNORE; /* a deposed leader's transfer */
    }
    if (c->state_index <= applied_index) {
        /* This node already holds that state or a later one: nothing to
         * install, and the leader may go on to the InstallSnapshot. */
        if (same) {
            rz_xfer_recv_abort(rx);
        }
        memset(ack, 0, sizeof *ack);
        ack->type = RZ_XFER_MSG_ACK;
        ack->xfer_id = c->xfer_id;
        ack->next_offset = c->total_bytes;
        ack->status = RZ_XFER_DONE;
        ack->state_index = applied_index;
        return RZ_XFER_RX_ACK;
    }
    if (!same) {
        if (c->offset != 0) {
            /* A chunk of a transfer this node does not hold (it restarted,
             * or replaced it): ask for the start. */
            memset(ack, 0, sizeof *ack);
            ack->type = RZ_XFER_MSG_ACK;
            ack->xfer_id = c->xfer_id;
            ack->status = RZ_XFER_MORE;
            return RZ_XFER_RX_ACK;
        }
        rz_xfer_recv_abort(rx);
        if (rx_start(rx, c, now_ms) != 0) {
            rx_close(rx);
            rx->n_aborted++;
            memset(ack, 0, sizeof *ack);
            ack->type = RZ_XFER_MSG_ACK;
            ack->xfer_id = c->xfer_id;
            ack->status = RZ_XFER_ABORT;
            ack->state_index = applied_index;
            return RZ_XFER_RX_ACK;
        }
    }
    if (c->total_bytes != rx->total || c->state_index != rx->state_index ||
        memcmp(c->file_hash, rx->file_hash, 32) != 0 ||
        memcmp(c->state_checksum, rx->checksum, 32) != 0) {
        /* The same transfer cannot describe two copies. */
        rz_xfer_recv_abort(rx);
        ack_fill(rx, RZ_XFER_ABORT, applied_index, ack);
        return RZ_XFER_RX_ACK;
    }
    if (c->offset != rx->next) {
        /* A duplicate or a chunk past a gap: written nothing; the ack
         * says where to go on from. */
        ack_fill(rx, RZ_XFER_MORE, applied_index, ack);
        return RZ_XFER_RX_ACK;
    }
    if (write_all(rx->fd, c->data, c->len, c->offset) != 0) {
        rz_xfer_recv_abort(rx);
        ack_fill(rx, RZ_XFER_ABORT, applied_index, ack);
        return RZ_XFER_RX_ACK;
    }
    rz_hash_update(&rx->hs, c->data, c->len);
    rx->next += c->len;
    rx->bytes_received += c->len;
    rx->last_ms = now_ms;
    if (rx->next < rx->total) {
        ack_fill(rx, RZ_XFER_MORE, applied_index, ack);
        return RZ_XFER_RX_ACK;
    }
    rz_hash_final(&rx->hs, got, sizeof got);
    (void)close(rx->fd);
    rx->fd = -1;
    if (memcmp(got, rx->file_hash, 32) != 0) {
        rz_xfer_recv_abort(rx);
        ack_fill(rx, RZ_XFER_ABORT, applied_index, ack);
        return RZ_XFER_RX_ACK;
    }
    return RZ_XFER_RX_COMPLETE;
}

void rz_xfer_recv_finish(rz_xfer_recv *rx, int install_status,
                         uint64_t applied_index, rz_xfer_msg *ack)
{
    RZ_PRE(rx != NULL && ack != NULL && rx->active);
    RZ_PRE(rx->next == rx->total);
    ack_fill(rx, install_status == 0 ? RZ_XFER_DONE : RZ_XFER_ABORT,
             applied_index, ack);
    if (install_status == 0) {
        rx->n_installed++;
    } else {
        rx->n_aborted++;
    }
    rx_close(rx);
}
