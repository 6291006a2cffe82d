/* The node's metrics: a fixed registry of counters, gauges and histograms,
 * rendered in the Prometheus text exposition format (version 0.0.4) for
 * GET /metrics. Names follow etcd's (DESIGN.md §7).
 *
 * Metrics are updated on the event-loop thread only; rendering happens there
 * too, so no locking is needed. */
#ifndef RZ_NODE_METRICS_H
#define RZ_NODE_METRICS_H

#include <stdint.h>

#include "common/common.h"

typedef enum rz_metric_kind {
    RZ_METRIC_COUNTER,
    RZ_METRIC_GAUGE,
    RZ_METRIC_HISTOGRAM
} rz_metric_kind;

/* Bucket upper bounds (seconds) shared by every duration histogram: 0.1 ms
 * to ~6.5 s in powers of two, the range an fsync or an apply batch takes. */
#define RZ_METRIC_BUCKETS 17

/* Every metric the node exports. The order is the order of /metrics. */
#define RZ_METRICS(X)                                                          \
    X(HAS_LEADER, GAUGE, "ratusz_server_has_leader",                           \
      "Whether a leader exists (1) or not (0).")                               \
    X(IS_LEADER, GAUGE, "ratusz_server_is_leader",                             \
      "Whether this node is the leader (1) or not (0).")                       \
    X(LEADER_CHANGES, COUNTER, "ratusz_server_leader_changes_seen_total",      \
      "Leader changes seen by this node.")                                     \
    X(TERM, GAUGE, "ratusz_server_term", "Current raft term.")                 \
    X(PROPOSALS_COMMITTED, COUNTER, "ratusz_proposals_committed_total",        \
      "Proposals committed by the cluster (seen by this node).")               \
    X(PROPOSALS_APPLIED, COUNTER, "ratusz_proposals_applied_total",            \
      "Proposals applied to the state machine.")                               \
    X(PROPOSALS_PENDING, GAUGE, "ratusz_proposals_pending",                    \
      "Proposals waiting to be committed.")                                    \
    X(PROPOSALS_FAILED, COUNTER, "ratusz_proposals_failed_total",              \
      "Proposals that failed or whose outcome is unknown.")                    \
    X(LOG_FSYNC, HISTOGRAM, "ratusz_disk_log_fsync_duration_seconds",          \
      "Time to commit one group of log appends durably.")                      \
    X(APPLY, HISTOGRAM, "ratusz_apply_duration_seconds",                       \
      "Time to apply one batch of entries to the state machine.")              \
    X(MAP_SIZE, GAUGE, "ratusz_lmdb_map_size_bytes",                           \
      "LMDB map size of the state env.")                                       \
    X(MAP_USED, GAUGE, "ratusz_lmdb_map_used_bytes",                           \
      "Bytes of the state env map in use.")                                    \
    X(DISK_ALARM, GAUGE, "ratusz_disk_alarm",                                  \
      "1 while new cases are refused because the map is nearly full.")         \
    X(CLIENTS, GAUGE, "ratusz_clients_connected",                              \
      "Client connections open now.")                                          \
    X(REQUESTS_OK, COUNTER, "ratusz_requests_ok_total",                        \
      "Client requests answered with success.")                                \
    X(REQUESTS_ERROR, COUNTER, "ratusz_requests_error_total",                  \
      "Client requests answered with an error.")                               \
    X(SNAPSHOTS_SENT, COUNTER, "ratusz_snapshot_transfers_sent_total",         \
      "State copies streamed to followers.")                                   \
    X(SNAPSHOTS_RECEIVED, COUNTER, "ratusz_snapshot_transfers_received_total", \
      "State copies received and installed.")

typedef enum rz_metric_id {
#define RZ__METRIC_ENUM(id, kind, name, help) RZ_M_##id,
    RZ_METRICS(RZ__METRIC_ENUM)
#undef RZ__METRIC_ENUM
        RZ_M__COUNT
} rz_metric_id;

typedef struct rz_metrics
{
    double value[RZ_M__COUNT]; /* counters and gauges */
    /* histograms: per-bucket counts (non-cumulative), sum and count */
    uint64_t buckets[RZ_M__COUNT][RZ_METRIC_BUCKETS];
    double sum[RZ_M__COUNT];
    uint64_t count[RZ_M__COUNT];
} rz_metrics;

void rz_metrics_init(rz_metrics *m);
/* Counters only go up. */
void rz_metrics_inc(rz_metrics *m, rz_metric_id id, double by);
void rz_metrics_set(rz_metrics *m, rz_metric_id id, double v);
void rz_metrics_observe(rz_metrics *m, rz_metric_id id, double seconds);
/* Appends the text exposition to out. */
int rz_metrics_render(const rz_metrics *m, rz_buf *out);

#endif /* RZ_NODE_METRICS_H */
