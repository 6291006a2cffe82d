/* The raft message codec: every struct raft_message of raft 0.15 to and
 * from msgpack (through common's rz_mp_*), wrapped in an envelope that
 * carries the sender's id and address (the receiver needs both and raft's
 * struct has room for only one side).
 *
 * Private to consensus/. The frame (one msgpack array; integers are msgpack
 * uints unless said otherwise):
 *
 *   [ format = 1, type (RAFT_IO_*), sender_id (>= 1),
 *     sender_address (str, 1..RZ_MSG_ADDRESS_MAX_BYTES bytes, no NUL),
 *     body ]
 *
 *   body by type:
 *   APPEND_ENTRIES         [term, prev_log_index, prev_log_term,
 *                           leader_commit, [[term, type (1..3), data bin]...]]
 *   APPEND_ENTRIES_RESULT  [term, rejected, last_log_index]
 *   REQUEST_VOTE           [term, candidate_id, last_log_index,
 *                           last_log_term, disrupt_leader bool, pre_vote bool]
 *   REQUEST_VOTE_RESULT    [term, vote_granted bool, pre_vote (0 unknown,
 *                           1 true, 2 false: raft_tribool)]
 *   INSTALL_SNAPSHOT       [term, last_index, last_term,
 *                           [[server id, address str, role (0..2)]...],
 *                           conf_index, data bin]
 *   TIMEOUT_NOW            [term, last_log_index, last_log_term]
 *
 * Ownership of a decoded message follows what raft 0.15 does with a message
 * its io hands to recv_cb (its recv.c and legacy.c free these):
 *  - APPEND_ENTRIES: `entries` is one raft_malloc'd array (NULL when
 *    n_entries is 0) and all entries' data live in ONE raft_malloc'd block,
 *    set as every entry's `batch`, each entry's buf pointing into it (8-byte
 *    aligned; the batch is allocated even when all data are empty, since
 *    raft asserts entries[i].batch != NULL when it destroys batches). Raft
 *    takes both: it frees the array once handled and the batch once no
 *    entry of it is referenced any more (entryBatchesDestroy on the paths
 *    that drop the message).
 *  - INSTALL_SNAPSHOT: `conf` (built with raft_configuration_add) and
 *    `data.base` (raft_malloc'd, never NULL) belong to raft, which closes
 *    and frees them.
 *  - server_address points into the caller's `address` buffer: raft copies
 *    what it keeps (the leader's address) during recv_cb.
 * A caller that does NOT hand the message to raft (it was dropped, or the
 * simulator discards it) must call rz_msg_release. */
#ifndef RZ_CONSENSUS_MSG_H
#define RZ_CONSENSUS_MSG_H

#include <stddef.h>
#include <stdint.h>

#include <raft.h>

#include "common/common.h"
#include "common/limits.h"

#define RZ_MSG_FORMAT 1u

/* Longest server address ("host:port" or a DNS name with a port), without
 * the NUL: DNS names stop at 253 bytes. */
#define RZ_MSG_ADDRESS_MAX_BYTES 255u

/* Most servers in a configuration carried by InstallSnapshot: a help-desk
 * cluster has 3-7; anything near this is an attack or a bug. */
#define RZ_MSG_MAX_SERVERS 1024u

/* Encodes m (its server_id/server_address are the DESTINATION and are not
 * encoded) with the sender's id and address appended to `out` (caller
 * initialises it; a cap of RZ_PEER_FRAME_MAX_BYTES matches the peer port).
 * Borrows everything. RZ_EINVAL for an unknown type or bad field, the
 * buffer's error (RZ_ETOOBIG, RZ_ENOMEM) if it overflowed. */
int rz_msg_encode(const struct raft_message *m, uint64_t sender_id,
                  const char *sender_address, rz_buf *out);

/* Validates and decodes one frame. On success *out holds the message with
 * server_id/server_address = the SENDER, server_address pointing into
 * address[0..address_size) (address_size > RZ_MSG_ADDRESS_MAX_BYTES), and
 * the allocations described at the top. RZ_EMALFORMED for anything that is
 * not exactly one valid frame (nothing allocated then), RZ_ENOMEM. */
int rz_msg_decode(const void *data, size_t len, struct raft_message *out,
                  char *address, size_t address_size);

/* Frees what rz_msg_decode allocated, for a message raft never received;
 * leaves *m zeroed. */
void rz_msg_release(struct raft_message *m);

#endif /* RZ_CONSENSUS_MSG_H */
