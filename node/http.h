/* A deliberately small HTTP/1.x listener on libuv for /metrics, /livez and
 * /readyz: GET only, one request per connection, answered and closed. Every
 * connection has a size bound and a deadline, and the number of connections
 * is bounded, so a scraper (or an attacker) cannot hold the node's memory. */
#ifndef RZ_NODE_HTTP_H
#define RZ_NODE_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "common/common.h"

/* Largest request head accepted; a GET from Prometheus is a few hundred. */
#define RZ_HTTP_REQUEST_MAX_BYTES 8192u
/* A request must arrive whole within this time. */
#define RZ_HTTP_DEADLINE_MS 5000u
/* Most connections open at once; more are closed on accept. */
#define RZ_HTTP_MAX_CONNECTIONS 64u

typedef struct rz_http_response
{
    int status;               /* 200, 404, 503 ... */
    const char *content_type; /* borrowed until the handler returns */
    rz_buf body;              /* filled by the handler; owned by the server */
} rz_http_response;

/* Called on the loop thread for every complete GET; fills `res`. */
typedef void (*rz_http_handler)(void *data, const char *path,
                                rz_http_response *res);

typedef struct rz_http_server
{
    void *data; /* passed to the handler */
    /* private below */
    uv_loop_t *loop;
    uv_tcp_t listener;
    rz_http_handler handler;
    unsigned n_connections;
    int closing;
    void (*close_cb)(struct rz_http_server *srv);
} rz_http_server;

/* Binds host:port and starts serving. Caller allocates `srv` and keeps it
 * until close_cb. RZ_EIO with errmsg when the address cannot be bound. */
int rz_http_server_start(rz_http_server *srv, uv_loop_t *loop, const char *host,
                         uint16_t port, rz_http_handler handler, char *errmsg);
/* The port actually bound (useful after binding port 0). */
uint16_t rz_http_server_port(const rz_http_server *srv);
/* Stops listening; open connections finish or time out; close_cb fires once
 * everything is closed. */
void rz_http_server_close(rz_http_server *srv,
                          void (*close_cb)(rz_http_server *srv));

#endif /* RZ_NODE_HTTP_H */
