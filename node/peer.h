/* The peer transport of ratuszd: raft messages between nodes over TCP and
 * the secure channel (docs/protocol.md section 7). It implements
 * consensus's rz_transport.
 *
 * - One outgoing connection per peer, opened on the first send and kept;
 *   lost connections are re-dialled with backoff (100 ms doubling to 5 s,
 *   with jitter). Frames are sent only on outgoing connections; incoming
 *   connections only receive.
 * - Only credentials with role `node` are accepted (both directions); a
 *   received frame is handed on with the node id the peer's credential
 *   names, and the dialled peer must be the id we meant to reach.
 * - Bounded: each peer's queue of frames waiting for a connection or for
 *   the socket holds at most RZ_PEER_QUEUE_MAX_BYTES; a send past it is
 *   dropped (raft resends), so a slow or dead peer never grows memory
 *   without bound. At most RZ_PEER_INBOUND_MAX incoming connections: at
 *   the limit the oldest one still in its handshake gives way (so silent
 *   unauthenticated connections cannot lock nodes out); a newer incoming
 *   connection from the same node id closes the older one.
 * - Dead paths are noticed in seconds: a TCP connect is retried after
 *   connect_timeout_ms (3 s), and every peer socket has TCP_USER_TIMEOUT
 *   5 s plus keepalive, so a partition's heal does not wait for TCP's
 *   retransmission backoff. The backoff starts over only after a
 *   connection lasted 1 s.
 * - Addresses are raft configuration addresses "PEER_HOST:PORT/CLIENT_HOST:
 *   PORT" (or just "HOST:PORT"); only the part before '/' is dialled. HOST
 *   is IPv4, [IPv6] or a DNS name (resolved with uv_getaddrinfo at every
 *   dial, so a moved machine is found again).
 *
 * Threads: everything runs on the loop thread. */
#ifndef RZ_NODE_PEER_H
#define RZ_NODE_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "common/secure.h"
#include "consensus/consensus.h"

#define RZ_PEER_QUEUE_MAX_BYTES (32u << 20)
#define RZ_PEER_INBOUND_MAX 64u

typedef struct rz_peer_net rz_peer_net; /* opaque */

/* Called on the loop for every authenticated frame; from_id is the node
 * id of the sender's credential. The frame is borrowed for the call. */
typedef void (*rz_peer_frame_cb)(void *arg, uint64_t from_id, const void *frame,
                                 size_t len);

typedef struct rz_peer_options
{
    const rz_identity *identity; /* borrowed; role node; outlives the net */
    const char *listen;          /* "HOST:PORT" of the peer port */
    rz_peer_frame_cb on_frame;
    void *arg;
    /* A destination nobody sent to for this long is forgotten; 0 = 60000
     * (tests shorten it). */
    uint32_t idle_ms;
    /* A TCP connect not done after this long is retried; 0 = 3000. */
    uint32_t connect_timeout_ms;
} rz_peer_options;

/* Binds and listens. RZ_EIO / RZ_EINVAL with a sentence in errmsg
 * (RZ_ERRMSG_BYTES) when the address cannot be bound (checked synchronously:
 * nothing is left on the loop then) or the identity is not role node. The
 * listen address is numeric ("127.0.0.1:7511", "[::1]:7511") or
 * "localhost:PORT". On success the caller owns *out until the callback of
 * rz_peer_net_close. */
int rz_peer_net_start(uv_loop_t *loop, const rz_peer_options *opts,
                      rz_peer_net **out, char *errmsg);

/* The transport to hand to rz_replica_open_uv. Its send returns 0 (queued),
 * RZ_EBUSY (the peer's queue is full or too many peers: dropped and
 * counted), RZ_ETOOBIG (over RZ_PEER_FRAME_MAX_BYTES), RZ_EINVAL (id 0, an
 * empty frame or an address that is not HOST:PORT), RZ_ESHUTDOWN
 * (closing). Sending
 * to a known id at a different address replaces the old connection. A
 * destination nobody sent to for idle_ms (60 s) is forgotten: its
 * connection is closed and its queue freed (a removed member is not dialled
 * forever). */
void rz_peer_net_transport(rz_peer_net *n, rz_transport *out);

typedef struct rz_peer_stats
{
    uint64_t frames_sent;     /* handed to an open outgoing connection */
    uint64_t frames_received; /* delivered to on_frame */
    /* Refused by send (queue full, bad address, too big, too many peers)
     * or freed unsent with a forgotten peer. */
    uint64_t frames_dropped;
    uint64_t connects;        /* outgoing connections established */
    uint64_t disconnects;     /* established outgoing connections lost/closed */
    uint32_t peers_connected; /* outgoing connections established now */
    /* Added by the implementation (H-peer): */
    uint64_t dials; /* outgoing TCP connection attempts */
    /* Connections refused in either direction: a handshake that failed
     * authentication or policy (wrong role, a dialled peer naming another
     * id), or an incoming connection over RZ_PEER_INBOUND_MAX. */
    uint64_t refused;
    uint64_t queued_bytes;      /* frames waiting in the peers' queues now */
    uint32_t inbound_connected; /* incoming connections now (any state) */
    uint32_t peers;             /* destinations known now */
} rz_peer_stats;
void rz_peer_net_stats(const rz_peer_net *n, rz_peer_stats *out);

/* True if the outgoing connection to `id` is established. */
bool rz_peer_net_connected(const rz_peer_net *n, uint64_t id);

/* Closes every connection and the listener: open outgoing and incoming
 * connections get a clean secure close (bounded by the channel's linger),
 * everything else is dropped, queued frames are freed and no frame is
 * delivered any more. cb(arg) runs from the loop (never from inside this
 * call) once all handles are closed, and the net is freed before it. */
void rz_peer_net_close(rz_peer_net *n, void (*cb)(void *arg), void *arg);

#endif /* RZ_NODE_PEER_H */
