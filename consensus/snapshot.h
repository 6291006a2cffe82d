/* Snapshots as descriptors and state transfer (DESIGN.md §4), the parts that
 * do not need raft: the descriptor codec, the transfer frames and the
 * receiver of a transfer. Private to consensus/.
 *
 * A raft snapshot of ratusz never holds the state: raft's snapshot buffer is
 * a 56-byte descriptor of the state env (the state itself is durable in
 * state.mdb when the snapshot is recorded):
 *
 *   offset size field
 *   0      4    magic "RZSD"
 *   4      4    format (1), big-endian
 *   8      8    index: raft index the snapshot covers (raft's own)
 *   16     8    state_index: the state env's applied index then
 *   24     32   state checksum at state_index (rz_storage_checksum)
 *
 * The state env counts commands only, raft counts every entry: when the
 * last entries up to `index` are barriers or configurations, state_index
 * is below index, and the state at state_index IS the state at index (no
 * command lies between). It is above index when this node's state ran
 * ahead of raft after a state transfer. So a replica whose state env has
 * applied state_index or more holds everything the snapshot covers.
 *
 * A follower whose log is behind the leader's compacted log gets the
 * leader's state as a consistent LMDB copy in chunks before raft sees the
 * InstallSnapshot message. The transfer frames share the envelope of the
 * raft message codec (msg.h), with types raft never uses:
 *
 *   [ format = 1, type, sender_id, sender_address, body ]
 *   CHUNK (100) leader -> follower:
 *     [xfer_id, term, total_bytes, offset, file_hash bin 32, state_index,
 *      state_checksum bin 32, data bin (1..RZ_XFER_CHUNK_MAX_BYTES)]
 *   ACK (101) follower -> leader:
 *     [xfer_id, next_offset, status (0 more, 1 done, 2 abort), state_index]
 *   NEED (102) follower -> leader, answering an InstallSnapshot its state
 *     does not cover: [needed_state_index (the descriptor's state_index),
 *     state_index (the follower's)]
 *
 * file_hash is the BLAKE2b-256 of the whole copy; every chunk carries it
 * with the copy's state_index and checksum, so a chunk whose metadata
 * disagrees with the transfer it claims to belong to is refused. */
#ifndef RZ_CONSENSUS_SNAPSHOT_H
#define RZ_CONSENSUS_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/common.h"

/* ---- Descriptor ---------------------------------------------------------- */

#define RZ_SNAP_DESC_BYTES 56u
#define RZ_SNAP_DESC_FORMAT 1u

typedef struct rz_snap_desc
{
    uint64_t index;
    uint64_t state_index;
    uint8_t checksum[32];
} rz_snap_desc;

void rz_snap_desc_encode(const rz_snap_desc *d,
                         uint8_t out[RZ_SNAP_DESC_BYTES]);
/* RZ_EMALFORMED unless p[0..len) is exactly one valid descriptor
 * (index >= 1). */
int rz_snap_desc_decode(const void *p, size_t len, rz_snap_desc *out);

/* ---- Transfer frames ----------------------------------------------------- */

enum { RZ_XFER_MSG_CHUNK = 100, RZ_XFER_MSG_ACK = 101, RZ_XFER_MSG_NEED = 102 };
enum { RZ_XFER_MORE = 0, RZ_XFER_DONE = 1, RZ_XFER_ABORT = 2 };

/* Largest chunk of a transfer: far below a peer frame. */
#define RZ_XFER_CHUNK_MAX_BYTES (1u << 20)
/* Largest state a transfer carries (a bound on input, not a goal). */
#define RZ_XFER_TOTAL_MAX_BYTES ((uint64_t)1 << 42)

typedef struct rz_xfer_msg
{
    int type;                 /* RZ_XFER_MSG_* */
    uint64_t sender;          /* filled by decode */
    char sender_address[256]; /* filled by decode (NUL-terminated) */
    /* CHUNK and ACK */
    uint64_t xfer_id;
    /* CHUNK */
    uint64_t term;
    uint64_t total_bytes;
    uint64_t offset;
    uint8_t file_hash[32];
    uint64_t state_index; /* also ACK (done: the follower's) and NEED */
    uint8_t state_checksum[32];
    const uint8_t *data; /* borrowed from the frame */
    size_t len;
    /* ACK */
    uint64_t next_offset;
    int status; /* RZ_XFER_* */
    /* NEED: the descriptor's state_index the follower lacks */
    uint64_t snapshot_index;
} rz_xfer_msg;

/* True when the frame's envelope names a transfer type (a cheap peek; the
 * frame is validated by rz_xfer_msg_decode). */
bool rz_xfer_frame_is(const void *frame, size_t len);
int rz_xfer_msg_encode(const rz_xfer_msg *m, uint64_t sender_id,
                       const char *sender_address, rz_buf *out);
/* Validates and decodes one frame; data points into `frame`. RZ_EMALFORMED
 * for anything else. */
int rz_xfer_msg_decode(const void *frame, size_t len, rz_xfer_msg *out);

/* ---- Receiver ------------------------------------------------------------ */

/* The follower's side of at most one transfer at a time. It writes chunks
 * in order to `<dir>/xfer-recv/state.mdb` (never holding a transfer in
 * memory), hashes them on the way, and reports a complete copy only when
 * its BLAKE2b equals the file hash the leader announced. */
#define RZ_XFER_PATH_BYTES 4096

typedef struct rz_xfer_recv
{
    char dir[RZ_XFER_PATH_BYTES];       /* <dir>/xfer-recv */
    char path[RZ_XFER_PATH_BYTES + 16]; /* <dir>/xfer-recv/state.mdb */
    bool active;
    uint64_t from, xfer_id, term, total, next, state_index;
    uint8_t file_hash[32], checksum[32];
    int fd;
    rz_hash_state hs;
    uint64_t last_ms; /* last chunk that moved it */
    /* Statistics. */
    uint64_t n_installed, n_aborted, bytes_received;
} rz_xfer_recv;

/* RZ_EINVAL when the paths would not fit. */
int rz_xfer_recv_init(rz_xfer_recv *rx, const char *dir);
/* Drops the transfer in progress (if any) and its files. */
void rz_xfer_recv_abort(rz_xfer_recv *rx);

enum {
    RZ_XFER_RX_IGNORE = 0,  /* nothing to answer */
    RZ_XFER_RX_ACK = 1,     /* send *ack */
    RZ_XFER_RX_COMPLETE = 2 /* the copy is at rx->path, verified: install it,
                               then rz_xfer_recv_finish */
};
/* Handles one CHUNK from `c->sender` at now_ms; applied_index is this node's
 * state. Fills *ack when it returns RZ_XFER_RX_ACK. Chunks out of order
 * are not written (the ack names the offset it needs); a chunk that
 * contradicts its transfer aborts it; a chunk of an older term than the
 * transfer in progress is ignored; a new transfer (offset 0) replaces the
 * one in progress. Never installs anything itself. */
int rz_xfer_recv_chunk(rz_xfer_recv *rx, const rz_xfer_msg *c,
                       uint64_t applied_index, uint64_t now_ms,
                       rz_xfer_msg *ack);
/* After RZ_XFER_RX_COMPLETE: install_status is the install's result (0, or
 * an error: the files are removed). Fills the DONE/ABORT ack. */
void rz_xfer_recv_finish(rz_xfer_recv *rx, int install_status,
                         uint64_t applied_index, rz_xfer_msg *ack);

#endif /* RZ_CONSENSUS_SNAPSHOT_H */
