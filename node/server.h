/* The ratuszd node: opens the identity, the state env and the replica, and
 * serves the client port (docs/protocol.md section 6), the peer port
 * (through node/peer.h) and the metrics listener, all on one libuv loop.
 *
 * Lifecycle: rz_server_start (everything listening; "msg=ready" is logged),
 * rz_server_stop (stop accepting, hand leadership over, close the replica
 * and every connection; the callback runs once every handle is closed), then
 * rz_server_destroy. Everything runs on the loop thread. */
#ifndef RZ_NODE_SERVER_H
#define RZ_NODE_SERVER_H

#include <uv.h>

#include "common/common.h"
#include "node/config.h"

typedef struct rz_server rz_server; /* opaque */

/* Starts a node with `cfg` (validated; copied) on `loop`. On failure returns
 * an RZ_E* with a sentence in errmsg (RZ_ERRMSG_BYTES); whatever was
 * started is closed again (run the loop until it returns to finish). Caller
 * owns *out on success. */
int rz_server_start(uv_loop_t *loop, const rz_node_config *cfg, rz_server **out,
                    char *errmsg);

/* Graceful stop: stops accepting, transfers leadership when this node leads
 * (waiting at most ~2 s), closes the replica cleanly, tells every client
 * (watches end with RZ_ESHUTDOWN), closes every handle and then calls
 * cb(arg). Idempotent. */
void rz_server_stop(rz_server *srv, void (*cb)(void *arg), void *arg);

/* Frees the server after the stop callback (or after a failed start's
 * handles closed). NULL is a no-op. */
void rz_server_destroy(rz_server *srv);

#endif /* RZ_NODE_SERVER_H */
