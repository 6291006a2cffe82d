/* The binding of storage/ (the case state machine) to consensus's rz_sm
 * interface, used by ratuszd. Snapshot and state-transfer hooks are added
 * here together with consensus's snapshot support. */
#ifndef RZ_NODE_SM_H
#define RZ_NODE_SM_H

#include "consensus/consensus.h"
#include "storage/storage.h"

/* Fills *out so that consensus applies committed commands to `st`, which
 * must outlive every replica using *out. */
void rz_node_sm_bind(rz_storage *st, rz_sm *out);

#endif /* RZ_NODE_SM_H */
