/* ratuszctl operations (issue #7): the shared internals of the ops_*.c
 * command files: a blocking request/response connection to one node's
 * client port, the cluster view built from STATUS replies, and a throw-away
 * local cluster of real ratuszd processes for drills.
 *
 * The connection speaks docs/protocol.md sections 5-6 over the common secure
 * channel. It is deliberately small: one request in flight, a deadline on
 * every wait. Every function returns 0 or a negative RZ_E* code and puts a
 * sentence into the errmsg it is given (RZ_ERRMSG_BYTES). */
#ifndef RZ_CTL_OPS_H
#define RZ_CTL_OPS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/common.h"
#include "common/secure.h"
#include "ctl.h"

/* Message types of docs/protocol.md 6.2 used here. */
enum {
    OPS_MSG_PING = 1,
    OPS_MSG_STATUS = 2,
    OPS_MSG_CASE_CREATE = 3,
    OPS_MSG_CASE_LIST = 5,
    OPS_MSG_MEMBER_ADD = 20,
    OPS_MSG_MEMBER_PROMOTE = 21,
    OPS_MSG_MEMBER_REMOVE = 22,
    OPS_MSG_LEADER_TRANSFER = 23,
    OPS_MSG_CHECKSUM = 24,
    OPS_MSG_REPLY = 64,
    OPS_MSG_ERROR = 65
};

/* ---- one connection (ops_net.c) ------------------------------------------ */

typedef struct ops_conn
{
    int fd; /* -1 when closed */
    rz_secure_conn sc;
    bool sc_init;
    const rz_identity *id; /* borrowed */
    char addr[CTL_ADDR_BYTES];
    uint8_t rbuf[64 * 1024];
    size_t rpos, rlen;
} ops_conn;

void ops_conn_init(ops_conn *c, const rz_identity *id);
/* Connects to "HOST:PORT" (IPv4 literal or name) and finishes the
 * handshake within timeout_ms. A connection already open to another
 * address is closed first; one open to the same address is kept. */
int ops_conn_open(ops_conn *c, const char *addr, int timeout_ms, char *errmsg);
void ops_conn_close(ops_conn *c);

/* The outcome of one request: code 0 and the REPLY body, or the ERROR's
 * code, message and (with RZ_ENOTLEADER) the leader's client address. */
typedef struct ops_reply
{
    int code;
    char message[RZ_ERRMSG_BYTES];
    char leader_address[CTL_ADDR_BYTES];
    uint64_t leader_id;
    rz_buf body; /* the body bytes (one msgpack map) */
} ops_reply;

void ops_reply_init(ops_reply *r);
void ops_reply_close(ops_reply *r);
/* Sends one request (request_id: 16 bytes, or NULL for a random one) and
 * waits for its REPLY or ERROR. Returns 0 when an answer arrived (look at
 * r->code), or a transport error (the connection is then closed). */
int ops_conn_call(ops_conn *c, uint32_t type, const uint8_t *request_id,
                  const rz_buf *body, int timeout_ms, ops_reply *r,
                  char *errmsg);

/* Values of a reply map by key (top level only). False when absent or of
 * another type. */
bool ops_map_u64(const rz_buf *m, const char *key, uint64_t *out);
bool ops_map_bool(const rz_buf *m, const char *key, bool *out);
bool ops_map_str(const rz_buf *m, const char *key, char *out, size_t size);
bool ops_map_bin(const rz_buf *m, const char *key, uint8_t *out, size_t n);
/* Raw bytes of the value of key (any type), borrowed from m. */
bool ops_map_raw(const rz_buf *m, const char *key, const uint8_t **p,
                 size_t *n);

/* ---- cluster view (ops_net.c) -------------------------------------------- */

typedef struct ops_member
{
    uint64_t id;
    char address[CTL_ADDR_BYTES];        /* peer */
    char client_address[CTL_ADDR_BYTES]; /* client */
    bool voter;
    uint64_t match_index;
} ops_member;

typedef struct ops_status
{
    uint64_t node_id;
    char state[16];
    uint64_t term, commit_index, applied_index, last_index;
    uint64_t leader_id;
    char leader_address[CTL_ADDR_BYTES];
    uint8_t cluster_id[RZ_CLUSTER_ID_BYTES];
    size_t n_members;
    ops_member members[CTL_MAX_ENDPOINTS];
} ops_status;

int ops_status_get(ops_conn *c, int timeout_ms, ops_status *st, char *errmsg);

typedef struct ops_checksum
{
    uint64_t node_id;
    uint64_t applied_index;
    uint8_t checksum[32];
    uint8_t data_checksum[32];
} ops_checksum;

int ops_checksum_get(ops_conn *c, bool scan, int timeout_ms, ops_checksum *out,
                     char *errmsg);

/* True for the errors after which a write's outcome is unknown or the node
 * could not take it now: retry it, with the same request_id. */
bool ops_retryable(int code);

/* Sends a leader-only request with one request_id until it is answered
 * with anything but a retryable error or deadline_ms (monotonic) passes:
 * follows NOT_LEADER hints, else tries the endpoints in turn. *r holds the
 * last answer. Returns 0 (look at r->code) or RZ_ETIMEDOUT. */
int ops_leader_call(ops_conn *c, const ctl_where *w, uint32_t type,
                    const rz_buf *body, uint64_t deadline_ms, ops_reply *r,
                    char *errmsg);

/* Reads the identity of w (an error sentence is printed). */
int ops_identity_load(const char *cmd, const ctl_where *w, rz_identity *id);

/* Hex of n bytes into out (2n+1 bytes). */
void ops_hex(const uint8_t *p, size_t n, char *out);

/* ---- throw-away local cluster (ops_local.c) ------------------------------ */

#define OPS_LOCAL_NODES 3

typedef struct ops_local
{
    char dir[512]; /* short: configs and paths are built from it */
    char ratuszd[CTL_PATH_BYTES];
    uint16_t base_port;
    uint32_t election_timeout_ms;   /* 0 = ratuszd's default */
    pid_t pid[OPS_LOCAL_NODES + 1]; /* by node id; 0 = not running */
    rz_identity operator_id;
    ctl_where where;
} ops_local;

/* Where ratuszd is: `flag` if given, else next to this ratuszctl
 * (../node/ratuszd relative to /proc/self/exe), else "ratuszd" in PATH. */
void ops_ratuszd_path(const char *flag, char *out, size_t size);
/* Creates a temp dir with a cluster key, identities and configs for nodes
 * 1..3 (client port base+i, peer base+10+i, metrics base+20+i), starts them
 * and waits until a leader serves. */
int ops_local_start(ops_local *l, char *errmsg);
int ops_local_node_start(ops_local *l, uint64_t id, char *errmsg);
/* Sends sig to node id; for SIGKILL and SIGTERM waits until it is gone. */
int ops_local_node_signal(ops_local *l, uint64_t id, int sig);
/* Stops every node (SIGTERM, SIGKILL after 10 s) and removes the dir
 * unless keep. */
void ops_local_stop(ops_local *l, bool keep);

/* ---- consistency check (ops_check.c) ------------------------------------ */

typedef struct ops_check_node
{
    char address[CTL_ADDR_BYTES];
    bool ok; /* answered */
    bool differs;
    ops_checksum sum;
    char error[RZ_ERRMSG_BYTES];
} ops_check_node;

typedef struct ops_check_result
{
    size_t n;
    ops_check_node node[CTL_MAX_ENDPOINTS];
    bool consistent;
} ops_check_result;

/* Asks every endpoint of w for CHECKSUM until all answer with the same
 * applied index (or timeout_ms passes: RZ_ETIMEDOUT), then compares the
 * checksums against the one most replicas have. */
int ops_check_cluster(const ctl_where *w, const rz_identity *id, bool scan,
                      uint64_t timeout_ms, ops_check_result *res, char *errmsg);

/* ---- commands ------------------------------------------------------------ */

int ctl_drill_main(int argc, char **argv);
int ctl_check_main(int argc, char **argv);
int ctl_leader_main(int argc, char **argv);
int ctl_ops_member_main(int argc, char **argv);
int ctl_backup_main(int argc, char **argv);
int ctl_restore_main(int argc, char **argv);
int ctl_recover_main(int argc, char **argv);
int ctl_compact_main(int argc, char **argv);
#endif
