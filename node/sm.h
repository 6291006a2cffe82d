/* The binding of storage/ (the case state machine) to consensus's rz_sm
 * interface, used by ratuszd (and by the simulator for installs).
 *
 * A state transfer replaces the state env under the node (close, install
 * the copy, reopen), so a node that wants to receive transfers holds its
 * env in an rz_node_state and reads ns->st afresh each time, never a copy
 * of the pointer kept across loop iterations. */
#ifndef RZ_NODE_SM_H
#define RZ_NODE_SM_H

#include "consensus/consensus.h"
#include "storage/storage.h"

#define RZ_NODE_STATE_DIR_BYTES 4096

typedef struct rz_node_state
{
    rz_storage *st; /* the current env; replaced by an install; NULL only
                       after an install that could not reopen any env */
    char dir[RZ_NODE_STATE_DIR_BYTES];
    rz_storage_options opts;
} rz_node_state;

/* Opens `<dir>/state.mdb` into ns (caller allocates ns; opts copied, may be
 * NULL). errmsg: RZ_ERRMSG_BYTES. Errors as rz_storage_open. */
int rz_node_state_open(rz_node_state *ns, const char *dir,
                       const rz_storage_options *opts, char *errmsg);
void rz_node_state_close(rz_node_state *ns);

/* Fills *out with everything consensus uses: apply, checksum, sync, copy
 * and install (snapshots, compaction and state transfer). ns must outlive
 * every replica using *out. */
void rz_node_state_bind(rz_node_state *ns, rz_sm *out);

/* Fills *out for an env the caller keeps by pointer: apply, checksum, sync
 * and copy, but no install (this node can send state transfers but not
 * receive them: install fails with RZ_EINVAL). `st` must outlive every
 * replica using *out. Prefer rz_node_state_bind. */
void rz_node_sm_bind(rz_storage *st, rz_sm *out);

/* The install step, shared with the simulator: verifies that the copy at
 * `path` (a file named state.mdb in its own directory) opens with exactly
 * applied_index and checksum (RZ_ECORRUPT otherwise: *st untouched), then
 * closes *st, makes the copy `<dir>/state.mdb` (rz_storage_install_copy)
 * and reopens *st with opts. If the rename fails the old env is reopened
 * and the error returned; if no env can be reopened *st is NULL and the
 * error returned (the replica then stops applying). */
int rz_node_state_install(rz_storage **st, const char *dir,
                          const rz_storage_options *opts, const char *path,
                          uint64_t applied_index, const uint8_t checksum[32],
                          char *errmsg);

#endif /* RZ_NODE_SM_H */
