/* ratuszd's configuration: one INI file (libinih), every key overridable by
 * a command-line flag, every value checked at start with an error that names
 * the key. The table of keys in config.c is the single source for parsing,
 * defaults, validation and `ratuszd --help`. */
#ifndef RZ_NODE_CONFIG_H
#define RZ_NODE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/common.h"

/* Longest path or address string in the configuration. */
#define RZ_CONFIG_STR_MAX_BYTES 512
/* Most initial members named by cluster.members. */
#define RZ_CONFIG_MAX_MEMBERS 9

/* One item of cluster.members: "ID=PEER_HOST:PORT/CLIENT_HOST:PORT". */
typedef struct rz_config_member
{
    uint64_t id;
    /* The raft configuration address "PEER_HOST:PORT/CLIENT_HOST:PORT"
     * (docs/protocol.md 6.7), as written in the item. */
    char address[RZ_CONFIG_STR_MAX_BYTES];
    char peer_address[RZ_CONFIG_STR_MAX_BYTES];   /* before the '/' */
    char client_address[RZ_CONFIG_STR_MAX_BYTES]; /* after the '/' */
} rz_config_member;

typedef struct rz_node_config
{
    /* [node] */
    uint64_t id;
    char data_dir[RZ_CONFIG_STR_MAX_BYTES];
    char client_listen[RZ_CONFIG_STR_MAX_BYTES];
    char peer_listen[RZ_CONFIG_STR_MAX_BYTES];
    char metrics_listen[RZ_CONFIG_STR_MAX_BYTES]; /* "off" disables */
    char log_level[16];
    /* The node's identity file; "" = <data_dir>/node.identity (filled in
     * by rz_config_validate). */
    char identity[RZ_CONFIG_STR_MAX_BYTES];
    /* [cluster] */
    char members_spec[RZ_CONFIG_STR_MAX_BYTES * 4];
    /* Bootstrap a pristine log with `members` (only when the log is empty
     * and this node is one of them). */
    bool bootstrap;
    rz_config_member members[RZ_CONFIG_MAX_MEMBERS];
    size_t n_members;
    /* [raft] */
    uint64_t election_timeout_ms;
    uint64_t heartbeat_timeout_ms;
    uint64_t snapshot_threshold;
    uint64_t snapshot_trailing;
    /* [storage] */
    uint64_t state_map_size_bytes;
    uint64_t log_map_size_bytes;
    uint64_t disk_alarm_percent;
    /* [limits] */
    uint64_t max_clients;
    uint64_t request_timeout_ms;
} rz_node_config;

/* Fills `c` with the defaults of the key table. */
void rz_config_defaults(rz_node_config *c);

/* Reads an INI file into `c` (over what is there). RZ_ECONFIG with a
 * sentence naming the file, line and key in errmsg (RZ_ERRMSG_BYTES) for an
 * unreadable file, an unknown section or key, or a bad value. */
int rz_config_load_file(rz_node_config *c, const char *path, char *errmsg);

/* Applies command-line flags: `--config FILE` is read first wherever it
 * stands, then every `--key VALUE` / `--key=VALUE` in order. A key is named
 * `--name` or `--section.name` (`--data-dir`, `--node.data_dir`; '-' and '_'
 * are the same). Sets *help when
 * --help was given. RZ_ECONFIG with errmsg naming the flag otherwise. */
int rz_config_parse_args(rz_node_config *c, int argc, char **argv, bool *help,
                         char *errmsg);

/* Checks relations between keys (required keys present, heartbeat below the
 * election timeout, own id among the members, ...). */
int rz_config_validate(rz_node_config *c, char *errmsg);

/* Prints every key with its flag, default and meaning. */
void rz_config_print_help(FILE *out);

/* Splits a raft configuration address "PEER_HOST:PORT/CLIENT_HOST:PORT"
 * into its parts (each buffer RZ_CONFIG_STR_MAX_BYTES; either may be NULL).
 * RZ_ECONFIG without the '/' or with a part that is not HOST:PORT. */
int rz_config_split_member_address(const char *addr, char *peer, char *client);

/* Splits "host:port"; RZ_ECONFIG if malformed or the port is not 1..65535.
 * host receives at most host_size - 1 bytes. */
int rz_config_split_address(const char *addr, char *host, size_t host_size,
                            uint16_t *port);

#endif /* RZ_NODE_CONFIG_H */
