/* client/core.h (private to client/): the request engine both APIs share.
 * It runs on one libuv loop (the caller's, or the blocking API's internal
 * thread) and is only ever touched from that loop's thread: connections to
 * nodes, request routing to the leader, redirects, retries with backoff,
 * deadlines, and matching replies to requests by request_id. */
#ifndef RZ_CLIENT_CORE_H
#define RZ_CLIENT_CORE_H

#include "client/codec.h"
#include "client/ratusz.h"
#include "common/common.h"
#include "common/secure.h"

#include <pthread.h>
#include <uv.h>

/* Where a request may go. */
typedef enum rz_client_target {
    RZ_TARGET_LEADER = 1, /* writes, linearizable reads: follow redirects */
    RZ_TARGET_ANY,        /* stale reads, watches, ping: any node */
    RZ_TARGET_FIXED       /* status, checksum: exactly one node */
} rz_client_target;

typedef enum rz_client_op_state {
    RZ_OP_NEW = 0,  /* prepared, not started */
    RZ_OP_IDLE,     /* waiting to be (re)sent at wake_ms */
    RZ_OP_WAITCONN, /* waiting for its connection's handshake */
    RZ_OP_SENT,     /* sent on conn, waiting for the reply */
    RZ_OP_PARKED,   /* a watch stopped by back-pressure */
    RZ_OP_DONE
} rz_client_op_state;

typedef struct rz_client_op rz_client_op;
typedef struct rz_client_conn rz_client_conn;

/* The op finished: status 0 with the REPLY body (valid during the call
 * only), or an error with body NULL. The engine does not touch the op after
 * calling this, so the callee may free it. */
typedef void (*rz_client_done_fn)(rz_client_op *op, int status,
                                  const uint8_t *body, size_t n);
/* Streams: one EVENTS body; a negative return drops the connection as
 * broken (the stream resumes elsewhere). */
typedef int (*rz_client_events_fn)(rz_client_op *op, const uint8_t *body,
                                   size_t n);
/* Streams: rebuilds op->frame (a fresh request_id, the current position)
 * before every (re)send. */
typedef int (*rz_client_rebuild_fn)(rz_client_op *op);

/* One logical call. The caller owns the memory (its stack for blocking
 * calls); the engine owns `frame` once prepared. */
struct rz_client_op
{
    ratusz *h;
    rz_client_op *prev, *next; /* h->ops while started */
    rz_client_op *sq_next;     /* submission queue (blocking handles) */
    rz_client_op_state state;
    uint32_t type;
    uint8_t rid[RZ_REQUEST_ID_BYTES];
    uint8_t *frame; /* the whole envelope, sent verbatim on every try */
    size_t frame_len;
    rz_client_target target;
    int fixed_node; /* RZ_TARGET_FIXED */
    bool no_retry;
    uint32_t timeout_ms;
    uint64_t deadline_ms;         /* loop time; UINT64_MAX for streams */
    uint64_t wake_ms;             /* IDLE: when to send */
    uint64_t attempt_deadline_ms; /* SENT: when to try elsewhere */
    uint32_t backoff_ms;
    int node;             /* node of the current or last try, -1 */
    rz_client_conn *conn; /* WAITCONN, SENT */
    bool ever_sent;
    int last_err;
    char message[RATUSZ_ERRMSG_BYTES];
    uint32_t attempts, redirects, run_redirects, stale_refusals;
    uint32_t timeouts; /* tries that got no reply in their time */
    uint32_t current_version;
    uint64_t err_case_id;
    ratusz_outcome *outcome; /* the caller's, may be NULL */
    rz_client_done_fn done;
    rz_client_events_fn events; /* streams only */
    rz_client_rebuild_fn rebuild;
    bool resume_requested; /* PARKED watch: the reader drained its queue */
    bool cancel_requested; /* a blocking caller closes the stream */
    const char *endpoint;  /* blocking: op_start's endpoint, borrowed */
    void *data;            /* the API layer's */
};

typedef enum rz_client_conn_state {
    RZ_CONN_RESOLVING = 1,
    RZ_CONN_CONNECTING,
    RZ_CONN_HANDSHAKE,
    RZ_CONN_OPEN
} rz_client_conn_state;

struct rz_client_conn
{
    ratusz *h;
    int node;
    rz_client_conn_state state;
    bool failed;         /* fail-over done; waiting for handles to close */
    bool secure_started; /* s owns the tcp handle */
    bool gai_pending;
    bool tcp_closed;
    uint64_t connect_deadline_ms;
    uv_tcp_t tcp;
    uv_connect_t creq;
    uv_getaddrinfo_t gai;
    rz_secure_uv s;
};

typedef struct rz_client_node
{
    char addr[RATUSZ_ADDRESS_BYTES]; /* as given: "host:port" */
    char host[RATUSZ_ADDRESS_BYTES];
    char port[8];
    rz_client_conn *conn; /* NULL when none */
    uint32_t fails;       /* connection failures in a row */
    uint64_t down_until_ms;
    uint64_t suspect_until_ms; /* left a request unanswered */
} rz_client_node;

struct ratusz
{
    uv_loop_t *loop;
    bool blocking; /* ratusz_open: the loop runs on `thread` */
    rz_identity id;
    rz_secure_config scfg;
    rz_client_node nodes[RATUSZ_MAX_ENDPOINTS];
    int n_nodes;
    int leader; /* index into nodes, -1 = unknown */
    uint32_t rr;
    uint32_t timeout_ms;
    uint32_t connect_timeout_ms;
    rz_client_op *ops;
    size_t n_ops;
    uv_timer_t timer;
    uint64_t timer_at; /* 0 = not armed */
    int handles_open;  /* timer, async, connections */
    bool closing;
    void (*close_done)(void *arg);
    void *close_arg;
    /* Blocking handles: submissions from user threads. */
    pthread_t thread;
    uv_loop_t own_loop;
    uv_async_t async;
    pthread_mutex_t mu;
    rz_client_op *sq_head, *sq_tail; /* under mu */
    bool stopping;                   /* under mu: close was called */
};

/* Sets up h (caller-allocated, zeroed) on `loop`: reads the identity and
 * the endpoints, starts the timer. Errors as ratusz_open. On error nothing
 * needs closing. */
int rz_client_core_init(ratusz *h, uv_loop_t *loop, const ratusz_options *o,
                        char *errmsg);
/* Starts closing: ops finish with RZ_ECANCELED, connections close; calls
 * h->close_done once the last handle of ours is closed (loop thread). */
void rz_client_core_close(ratusz *h);

/* The request-body keys of a call (writes get actor_id, reads
 * max_stale_ms). RZ_EINVAL for out-of-range values. */
int rz_client_common_of(const ratusz *h, const ratusz_call *call, bool write,
                        bool read, rz_client_common *out);

/* Fills op for a request of `type` with body[0..n): the request_id from
 * the call (or a random one), the timeout, the target. Touches nothing of h
 * but read-only settings, so any thread may call it. */
int rz_client_op_prepare(ratusz *h, rz_client_op *op, const ratusz_call *call,
                         uint32_t type, rz_client_target target,
                         const uint8_t *body, size_t n);
/* Streams: a fresh random request_id and frame for body[0..n). */
int rz_client_op_set_body(rz_client_op *op, const uint8_t *body, size_t n);
/* Frees op's frame (for an op that was prepared but never started). */
void rz_client_op_discard(rz_client_op *op);
/* Starts a prepared op on the loop thread; `endpoint` as for FIXED/ANY
 * (NULL = none). If it returns an error the op is discarded and done never
 * runs. */
int rz_client_op_start(ratusz *h, rz_client_op *op, const char *endpoint);
/* Streams: stop (cancel on the wire, finish with RZ_ECANCELED) or wake a
 * parked stream. Loop thread. */
void rz_client_stream_cancel(rz_client_op *op);
void rz_client_stream_resume(rz_client_op *op);
/* A parked stream waits for rz_client_stream_resume. Loop thread. */
void rz_client_stream_park(rz_client_op *op);

#endif /* RZ_CLIENT_CORE_H */
