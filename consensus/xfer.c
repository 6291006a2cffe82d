/* State transfer inside our raft_io (DESIGN.md §4; frames in snapshot.h).
 *
 * raft 0.15 sends a lagging follower an InstallSnapshot whose data is our
 * 56-byte descriptor. The leader's io forwards it as is and keeps it. The
 * follower's io hands it to raft only when its state env already covers
 * the descriptor's index (then raft's restore merely checks it); otherwise
 * it drops it and answers NEED. On NEED the leader takes a consistent copy
 * of its state env (rz_sm.copy into an unlinked temporary file, shared by
 * every transfer that can use it) and streams it in chunks, a window of
 * WINDOW_CHUNKS at a time; the follower acknowledges the next offset it
 * needs, and the leader goes back to that offset when acks stop coming
 * (send is best effort: frames may be lost, duplicated or reordered).
 * Once the follower verified the file hash and installed the copy
 * (rz_sm.install checks the state checksum first) it answers DONE with its
 * new applied index, and the leader resends the kept InstallSnapshot until
 * the follower's raft acknowledges it. A transfer that stops moving is
 * dropped on both sides; raft's own InstallSnapshot timeout starts over. */
#include "consensus/io.h"
#include "consensus/msg.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_CHUNK_BYTES RZ_XFER_CHUNK_MAX_BYTES
/* Chunks in flight per transfer. One: the follower writes chunks in order
 * only (it hashes as it writes), and a network that reorders frames would
 * make every window wider than one a go-back; a 1 MiB chunk per round trip
 * still fills a LAN (the disk is the limit). */
#define WINDOW_CHUNKS 1u

static struct raft *raft_of(rz_io_core *core)
{
    return core->io.data;
}

static uint64_t now_of(rz_io_core *core)
{
    return core->ops->now_ms(core->backend);
}

/* Resend when nothing was acknowledged for two heartbeats. */
static uint64_t resend_ms(rz_io_core *core)
{
    return 2u * (uint64_t)raft_of(core)->heartbeat_timeout;
}

/* Drop a transfer that did not move for this long. */
static uint64_t stall_ms(rz_io_core *core)
{
    struct raft *r = raft_of(core);
    uint64_t a = 10u * (uint64_t)r->election_timeout;
    uint64_t b = r->install_snapshot_timeout;
    return a > b ? a : b;
}

int rz_io__xfer_init(rz_io_core *core, const rz_sm *sm, const char *dir,
                     size_t chunk_bytes)
{
    RZ_PRE(core != NULL && sm != NULL && dir != NULL);
    if (chunk_bytes == 0 || chunk_bytes > RZ_XFER_CHUNK_MAX_BYTES) {
        chunk_bytes = DEFAULT_CHUNK_BYTES;
    }
    if (strlen(dir) + 32 >= sizeof core->dir ||
        rz_xfer_recv_init(&core->rx, dir) != 0) {
        return RZ_EINVAL;
    }
    core->xbuf = malloc(chunk_bytes);
    if (core->xbuf == NULL) {
        return RZ_ENOMEM;
    }
    snprintf(core->dir, sizeof core->dir, "%s", dir);
    core->sm = sm;
    core->chunk_bytes = chunk_bytes;
    core->img.fd = -1;
    rz_buf_init(&core->xframe, RZ_PEER_FRAME_MAX_BYTES);
    /* A receive cut short by a crash left its copy behind. */
    rz_xfer_recv_abort(&core->rx);
    return 0;
}

static bool xfer_enabled(const rz_io_core *core)
{
    return core->sm != NULL && core->sm->copy != NULL &&
           core->sm->install != NULL && core->xbuf != NULL;
}

/* ---- Sending frames ------------------------------------------------------ */

static void xsend(rz_io_core *core, uint64_t to, const char *address,
                  const rz_xfer_msg *m, int kind, uint64_t index)
{
    rz_buf_reset(&core->xframe);
    if (rz_xfer_msg_encode(m, core->id, raft_of(core)->address,
                           &core->xframe) != 0) {
        return; /* best effort, as every send */
    }
    core->ops->send_frame(core->backend, to, address, core->xframe.data,
                          core->xframe.len, kind, index);
}

/* ---- The leader's side --------------------------------------------------- */

static rz_xfer_peer *peer_get(rz_io_core *core, uint64_t id,
                              const char *address, bool create)
{
    rz_xfer_peer *free_slot = NULL;
    size_t i;
    for (i = 0; i < RZ_CONSENSUS_MAX_MEMBERS; i++) {
        rz_xfer_peer *p = &core->peers[i];
        if (p->id == id) {
            if (address != NULL && address[0] != '\0') {
                snprintf(p->address, sizeof p->address, "%s", address);
            }
            return p;
        }
        if (p->id == 0 && free_slot == NULL) {
            free_slot = p;
        }
    }
    if (!create || free_slot == NULL || address == NULL ||
        strlen(address) > RZ_ADDRESS_MAX_BYTES) {
        return NULL;
    }
    memset(free_slot, 0, sizeof *free_slot);
    free_slot->id = id;
    snprintf(free_slot->address, sizeof free_slot->address, "%s", address);
    return free_slot;
}

static void image_drop(rz_io_core *core)
{
    RZ_PRE(core->img.refs == 0);
    if (core->img.fd >= 0) {
        (void)close(core->img.fd);
    }
    memset(&core->img, 0, sizeof core->img);
    core->img.fd = -1;
}

static void tx_release(rz_io_core *core, rz_xfer_peer *p)
{
    if (!p->active) {
        return;
    }
    p->active = false;
    RZ_ASSERT(core->img.refs > 0);
    if (--core->img.refs == 0) {
        image_drop(core); /* the next transfer takes a newer copy */
    }
}

static void peer_clear(rz_io_core *core, rz_xfer_peer *p)
{
    tx_release(core, p);
    free(p->is_frame);
    memset(p, 0, sizeof *p);
}

/* A new term or a lost leadership: transfers of the old term stop. */
static void sender_reset(rz_io_core *core)
{
    size_t i;
    for (i = 0; i < RZ_CONSENSUS_MAX_MEMBERS; i++) {
        if (core->peers[i].id != 0) {
            peer_clear(core, &core->peers[i]);
        }
    }
    RZ_ASSERT(core->img.refs == 0);
    image_drop(core);
}

static void sender_sync_term(rz_io_core *core)
{
    struct raft *r = raft_of(core);
    if (r->state != RAFT_LEADER || r->current_term != core->xfer_term) {
        sender_reset(core);
        core->xfer_term = r->state == RAFT_LEADER ? r->current_term : 0;
    }
}

static int read_all(int fd, uint8_t *p, size_t n, uint64_t off)
{
    size_t done = 0;
    /* Bounded: each round reads at least one byte or fails. */
    while (done < n) {
        ssize_t got = pread(fd, p + done, n - done, (off_t)(off + done));
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got <= 0) {
            return RZ_EIO;
        }
        done += (size_t)got;
    }
    return 0;
}

/* Takes a consistent copy of the state and hashes it. */
static int image_make(rz_io_core *core)
{
    char path[RZ_XFER_PATH_BYTES + 32];
    struct stat sb;
    rz_hash_state hs;
    uint64_t off = 0;
    int rv;

    RZ_PRE(core->img.fd < 0 && core->img.refs == 0);
    snprintf(path, sizeof path, "%s/xfer-send.tmp", core->dir);
    core->img.fd = open(path, O_CREAT | O_TRUNC | O_RDWR | O_CLOEXEC, 0600);
    if (core->img.fd < 0) {
        return errno == ENOSPC ? RZ_ENOSPACE : RZ_EIO;
    }
    /* Unlinked at once: the space returns when the last transfer ends, or
     * when the process dies. */
    (void)unlink(path);
    rv = core->sm->copy(core->sm->data, core->img.fd, &core->img.state_index,
                        core->img.checksum);
    if (rv == 0 && (fstat(core->img.fd, &sb) != 0 || sb.st_size <= 0)) {
        rv = RZ_EIO;
    }
    if (rv != 0) {
        image_drop(core);
        return rv;
    }
    core->img.total_bytes = (uint64_t)sb.st_size;
    rz_hash_init(&hs, 32);
    /* Bounded by the file size, one chunk per round. */
    while (off < core->img.total_bytes) {
        uint64_t left = core->img.total_bytes - off;
        size_t n = left < core->chunk_bytes ? (size_t)left : core->chunk_bytes;
        rv = read_all(core->img.fd, core->xbuf, n, off);
        if (rv != 0) {
            image_drop(core);
            return rv;
        }
        rz_hash_update(&hs, core->xbuf, n);
        off += n;
    }
    rz_hash_final(&hs, core->img.file_hash, 32);
    return 0;
}

/* The next transfer to this follower starts only when it asks again (raft
 * resends the InstallSnapshot after its timeout): a follower that is gone,
 * or that refuses copies (a full disk), does not make the leader copy its
 * state over and over. */
static void tx_abort(rz_io_core *core, rz_xfer_peer *p, const char *why)
{
    rz_log(RZ_LOG_WARN, "state transfer dropped",
           "to=%llu xfer=%llu acked_bytes=%llu reason=%s",
           (unsigned long long)p->id, (unsigned long long)p->xfer_id,
           (unsigned long long)p->acked, why);
    tx_release(core, p);
    p->progress_ms = now_of(core);
    p->want = 0;
}

/* Sends chunks from p->sent while the window has room. */
static void tx_pump(rz_io_core *core, rz_xfer_peer *p)
{
    uint64_t window = (uint64_t)WINDOW_CHUNKS * core->chunk_bytes;
    rz_xfer_msg m;
    unsigned k;

    memset(&m, 0, sizeof m);
    m.type = RZ_XFER_MSG_CHUNK;
    m.xfer_id = p->xfer_id;
    m.term = core->xfer_term;
    m.total_bytes = core->img.total_bytes;
    m.state_index = core->img.state_index;
    memcpy(m.file_hash, core->img.file_hash, 32);
    memcpy(m.state_checksum, core->img.checksum, 32);
    for (k = 0; k < WINDOW_CHUNKS && p->active; k++) {
        uint64_t left;
        size_t n;
        if (p->sent >= core->img.total_bytes || p->sent - p->acked >= window) {
            break;
        }
        left = core->img.total_bytes - p->sent;
        n = left < core->chunk_bytes ? (size_t)left : core->chunk_bytes;
        if (read_all(core->img.fd, core->xbuf, n, p->sent) != 0) {
            tx_abort(core, p, "read");
            return;
        }
        m.offset = p->sent;
        m.data = core->xbuf;
        m.len = n;
        xsend(core, p->id, p->address, &m, RZ_SIM_MSG_XFER_CHUNK, p->sent);
        core->stat_xfer_bytes_sent += n;
        p->sent += n;
    }
    p->send_ms = now_of(core);
}

static void tx_start(rz_io_core *core, rz_xfer_peer *p)
{
    uint64_t now = now_of(core);
    int rv;

    if (p->active) {
        if (core->img.state_index >= p->want) {
            return; /* the running transfer covers it */
        }
        tx_release(core, p);
    }
    if (core->img.fd >= 0 && core->img.state_index < p->want) {
        if (core->img.refs > 0) {
            return; /* wait for the older copy's transfers (tick retries) */
        }
        image_drop(core);
    }
    if (core->img.fd < 0) {
        rv = image_make(core);
        if (rv != 0) {
            rz_log(RZ_LOG_ERROR, "state copy failed", "to=%llu err=%s",
                   (unsigned long long)p->id, rz_strerror(rv));
            p->progress_ms = now;
            p->want = 0; /* the follower asks again later */
            return;
        }
        if (core->img.state_index < p->want) {
            /* The state is behind the leader's own snapshot: impossible
             * unless the state env was replaced under us. */
            image_drop(core);
            p->want = 0;
            return;
        }
    }
    core->img.refs++;
    p->active = true;
    p->xfer_id = ++core->next_xfer_id;
    p->acked = 0;
    p->sent = 0;
    p->progress_ms = now;
    core->stat_xfers_started++;
    rz_log(RZ_LOG_INFO, "state transfer started",
           "to=%llu xfer=%llu bytes=%llu state_index=%llu snapshot_index=%llu",
           (unsigned long long)p->id, (unsigned long long)p->xfer_id,
           (unsigned long long)core->img.total_bytes,
           (unsigned long long)core->img.state_index,
           (unsigned long long)p->want);
    tx_pump(core, p);
}

static void is_resend(rz_io_core *core, rz_xfer_peer *p)
{
    p->is_send_ms = now_of(core);
    core->ops->send_frame(core->backend, p->id, p->address, p->is_frame,
                          p->is_len, RZ_SIM_MSG_INSTALL_SNAPSHOT, p->is_index);
}

void rz_io__xfer_install_snapshot(rz_io_core *core,
                                  const struct raft_message *m)
{
    rz_xfer_peer *p;
    rz_snap_desc d;
    void *copy;

    RZ_PRE(m->type == RAFT_IO_INSTALL_SNAPSHOT);
    if (rz_snap_desc_decode(m->install_snapshot.data.base,
                            m->install_snapshot.data.len, &d) != 0) {
        return; /* raft got it from our own snapshot_get: cannot happen */
    }
    sender_sync_term(core);
    rz_buf_reset(&core->xframe);
    if (rz_msg_encode(m, core->id, raft_of(core)->address, &core->xframe) !=
        0) {
        return;
    }
    p = peer_get(core, m->server_id, m->server_address, true);
    if (p == NULL) {
        /* No slot: forward it once; raft sends it again later. */
        core->ops->send_frame(core->backend, m->server_id, m->server_address,
                              core->xframe.data, core->xframe.len,
                              RZ_SIM_MSG_INSTALL_SNAPSHOT,
                              m->install_snapshot.last_index);
        return;
    }
    copy = malloc(core->xframe.len);
    if (copy == NULL) {
        return;
    }
    memcpy(copy, core->xframe.data, core->xframe.len);
    free(p->is_frame);
    p->is_frame = copy;
    p->is_len = core->xframe.len;
    p->is_index = m->install_snapshot.last_index;
    p->is_state = d.state_index;
    is_resend(core, p);
}

static void on_ack(rz_io_core *core, const rz_xfer_msg *m)
{
    rz_xfer_peer *p = peer_get(core, m->sender, NULL, false);
    if (p == NULL || !p->active || p->xfer_id != m->xfer_id) {
        return; /* a late answer to a transfer that is over */
    }
    if (m->status == RZ_XFER_DONE) {
        p->done_state_index = m->state_index;
        p->progress_ms = now_of(core);
        core->stat_xfers_sent++;
        rz_log(RZ_LOG_INFO, "state transfer done",
               "to=%llu xfer=%llu follower_state_index=%llu",
               (unsigned long long)p->id, (unsigned long long)p->xfer_id,
               (unsigned long long)m->state_index);
        tx_release(core, p);
        if (p->is_frame != NULL && p->is_state <= p->done_state_index) {
            is_resend(core, p);
        }
        return;
    }
    if (m->status == RZ_XFER_ABORT) {
        tx_abort(core, p, "refused by the follower");
        return;
    }
    if (m->next_offset > core->img.total_bytes) {
        return; /* malformed */
    }
    if (m->next_offset > p->acked) {
        p->acked = m->next_offset;
        p->progress_ms = now_of(core);
    } else if (m->next_offset == 0 && p->acked > 0) {
        /* The follower does not hold this transfer (it restarted, or
         * replaced it): start over. Any other ack below what was confirmed
         * is a late or duplicated one and changes nothing. */
        p->acked = 0;
        p->sent = 0;
    } else if (m->next_offset < p->acked) {
        return;
    }
    if (p->sent < p->acked) {
        p->sent = p->acked;
    }
    tx_pump(core, p);
}

static void on_need(rz_io_core *core, const rz_xfer_msg *m)
{
    struct raft *r = raft_of(core);
    rz_xfer_peer *p;
    if (r->state != RAFT_LEADER || !xfer_enabled(core)) {
        return;
    }
    sender_sync_term(core);
    p = peer_get(core, m->sender, m->sender_address, true);
    if (p == NULL || m->snapshot_index <= p->done_state_index ||
        m->snapshot_index <= m->state_index) {
        return; /* stale: an earlier transfer already covered it */
    }
    if (m->snapshot_index > p->want) {
        p->want = m->snapshot_index;
    }
    if (!p->active) {
        tx_start(core, p);
    }
}

/* ---- The follower's side ------------------------------------------------- */

bool rz_io__xfer_gate(rz_io_core *core, struct raft_message *m)
{
    rz_snap_desc d;
    rz_xfer_msg need;
    uint64_t applied;

    RZ_PRE(m->type == RAFT_IO_INSTALL_SNAPSHOT);
    if (core->sm == NULL ||
        rz_snap_desc_decode(m->install_snapshot.data.base,
                            m->install_snapshot.data.len, &d) != 0 ||
        d.index != m->install_snapshot.last_index) {
        rz_msg_release(m); /* not one of ours: never reaches raft */
        return false;
    }
    applied = core->sm->applied_index(core->sm->data);
    if (applied >= d.state_index) {
        return true; /* the state holds every command the snapshot does */
    }
    memset(&need, 0, sizeof need);
    need.type = RZ_XFER_MSG_NEED;
    need.snapshot_index = d.state_index;
    need.state_index = applied;
    core->stat_is_gated++;
    xsend(core, m->server_id, m->server_address, &need, RZ_SIM_MSG_XFER_NEED,
          d.state_index);
    rz_msg_release(m);
    return false;
}

static void on_chunk(rz_io_core *core, const rz_xfer_msg *m)
{
    rz_xfer_msg ack;
    uint64_t applied;
    int act;
    int rv;

    if (!xfer_enabled(core)) {
        return;
    }
    applied = core->sm->applied_index(core->sm->data);
    act = rz_xfer_recv_chunk(&core->rx, m, applied, now_of(core), &ack);
    if (act == RZ_XFER_RX_COMPLETE) {
        rv = core->sm->install(core->sm->data, core->rx.path,
                               core->rx.state_index, core->rx.checksum);
        applied = core->sm->applied_index(core->sm->data);
        if (rv == 0) {
            rz_log(RZ_LOG_INFO, "state transfer installed",
                   "from=%llu xfer=%llu bytes=%llu state_index=%llu",
                   (unsigned long long)m->sender,
                   (unsigned long long)m->xfer_id,
                   (unsigned long long)core->rx.total,
                   (unsigned long long)applied);
        } else {
            rz_log(RZ_LOG_ERROR, "state transfer refused",
                   "from=%llu xfer=%llu err=%s", (unsigned long long)m->sender,
                   (unsigned long long)m->xfer_id, rz_strerror(rv));
        }
        rz_xfer_recv_finish(&core->rx, rv, applied, &ack);
        act = RZ_XFER_RX_ACK;
    }
    if (act == RZ_XFER_RX_ACK) {
        xsend(core, m->sender, m->sender_address, &ack, RZ_SIM_MSG_XFER_ACK,
              ack.next_offset);
    }
}

void rz_io__recv_xfer(rz_io_core *core, const void *frame, size_t len)
{
    rz_xfer_msg m;
    if (core->closing || rz_xfer_msg_decode(frame, len, &m) != 0) {
        return;
    }
    switch (m.type) {
    case RZ_XFER_MSG_CHUNK:
        on_chunk(core, &m);
        break;
    case RZ_XFER_MSG_ACK:
        sender_sync_term(core);
        on_ack(core, &m);
        break;
    case RZ_XFER_MSG_NEED:
        on_need(core, &m);
        break;
    default:
        break;
    }
}

/* ---- Timers -------------------------------------------------------------- */

/* A success result from a follower at or past the kept InstallSnapshot:
 * its raft took it, stop resending. */
static void is_settle(rz_io_core *core, rz_xfer_peer *p)
{
    struct raft *r = raft_of(core);
    unsigned i;
    if (p->is_frame == NULL) {
        return;
    }
    for (i = 0; i < r->configuration.n; i++) {
        if (r->configuration.servers[i].id == p->id) {
            const struct raft_progress *pr = &r->leader_state.progress[i];
            if (pr->match_index < p->is_index) {
                return;
            }
            break;
        }
    }
    free(p->is_frame);
    p->is_frame = NULL;
    p->is_len = 0;
}

void rz_io__xfer_tick(rz_io_core *core)
{
    struct raft *r = raft_of(core);
    uint64_t now = now_of(core);
    size_t i;

    if (core->xbuf == NULL) {
        return;
    }
    if (core->rx.active && now - core->rx.last_ms > stall_ms(core)) {
        rz_log(RZ_LOG_WARN, "state transfer stalled",
               "from=%llu xfer=%llu bytes=%llu",
               (unsigned long long)core->rx.from,
               (unsigned long long)core->rx.xfer_id,
               (unsigned long long)core->rx.next);
        rz_xfer_recv_abort(&core->rx);
    }
    sender_sync_term(core);
    if (r->state != RAFT_LEADER) {
        return;
    }
    for (i = 0; i < RZ_CONSENSUS_MAX_MEMBERS; i++) {
        rz_xfer_peer *p = &core->peers[i];
        if (p->id == 0) {
            continue;
        }
        if (p->active) {
            if (now - p->progress_ms > stall_ms(core)) {
                tx_abort(core, p, "stalled");
            } else if (now - p->send_ms >= resend_ms(core)) {
                p->sent = p->acked; /* go back to what was confirmed */
                tx_pump(core, p);
            }
        } else if (p->want > p->done_state_index &&
                   now - p->progress_ms >= resend_ms(core)) {
            tx_start(core, p);
        }
        is_settle(core, p);
        if (p->is_frame != NULL && p->is_state <= p->done_state_index &&
            now - p->is_send_ms >= resend_ms(core)) {
            is_resend(core, p);
        }
    }
}

void rz_io__xfer_fini(rz_io_core *core)
{
    size_t i;
    for (i = 0; i < RZ_CONSENSUS_MAX_MEMBERS; i++) {
        if (core->peers[i].id != 0) {
            peer_clear(core, &core->peers[i]);
        }
    }
    if (core->img.fd >= 0) {
        core->img.refs = 0;
        image_drop(core);
    }
    if (core->xbuf != NULL) {
        rz_xfer_recv_abort(&core->rx);
        free(core->xbuf);
        core->xbuf = NULL;
        rz_buf_close(&core->xframe);
    }
}
