/* The small HTTP/1.x listener behind /metrics, /livez and /readyz. */
#include "http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Largest response body (the metrics page is ~10 KiB). */
#define HTTP_RESPONSE_MAX_BYTES (1u << 20)

typedef struct http_conn
{
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_write_t write_req;
    rz_http_server *srv;
    char head[RZ_HTTP_REQUEST_MAX_BYTES + 1];
    size_t head_len;
    rz_buf out;
    int handles_open; /* tcp and timer: freed when both closed */
    int answered;
} http_conn;

static void conn_handle_closed(uv_handle_t *h)
{
    http_conn *c = h->data;
    rz_http_server *srv = c->srv;
    c->handles_open--;
    if (c->handles_open > 0) {
        return;
    }
    rz_buf_close(&c->out);
    free(c);
    RZ_ASSERT(srv->n_connections > 0);
    srv->n_connections--;
    if (srv->closing && srv->n_connections == 0 &&
        uv_is_closing((uv_handle_t *)&srv->listener) && srv->close_cb != NULL) {
        void (*cb)(rz_http_server *) = srv->close_cb;
        srv->close_cb = NULL;
        cb(srv);
    }
}

static void conn_close(http_conn *c)
{
    if (!uv_is_closing((uv_handle_t *)&c->tcp)) {
        uv_close((uv_handle_t *)&c->tcp, conn_handle_closed);
    }
    if (!uv_is_closing((uv_handle_t *)&c->timer)) {
        uv_close((uv_handle_t *)&c->timer, conn_handle_closed);
    }
}

static void on_timeout(uv_timer_t *t)
{
    conn_close(t->data);
}

static void on_written(uv_write_t *req, int status)
{
    (void)status;
    conn_close(req->data);
}

static const char *reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 431:
        return "Request Header Fields Too Large";
    default:
        return "Service Unavailable";
    }
}

static void respond(http_conn *c, int status, const char *content_type,
                    const rz_buf *body)
{
    char head[256];
    int n;
    uv_buf_t buf;
    size_t body_len = body != NULL && body->err == 0 ? body->len : 0;
    c->answered = 1;
    uv_read_stop((uv_stream_t *)&c->tcp);
    n = snprintf(head, sizeof(head),
                 "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n"
                 "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                 status, reason(status), content_type, body_len);
    RZ_ASSERT(n > 0 && (size_t)n < sizeof(head));
    rz_buf_init(&c->out, HTTP_RESPONSE_MAX_BYTES + sizeof(head));
    (void)rz_buf_append(&c->out, head, (size_t)n);
    if (body_len > 0) {
        (void)rz_buf_append(&c->out, body->data, body_len);
    }
    if (c->out.err != 0) {
        conn_close(c);
        return;
    }
    buf = uv_buf_init((char *)c->out.data, (unsigned)c->out.len);
    c->write_req.data = c;
    if (uv_write(&c->write_req, (uv_stream_t *)&c->tcp, &buf, 1, on_written) !=
        0) {
        conn_close(c);
    }
}

static void respond_text(http_conn *c, int status, const char *text)
{
    rz_buf body;
    rz_buf_init(&body, 256);
    (void)rz_buf_append(&body, text, strlen(text));
    respond(c, status, "text/plain; charset=utf-8", &body);
    rz_buf_close(&body);
}

/* A complete head is there: "GET /path HTTP/1.x\r\n...\r\n\r\n". */
static void handle_request(http_conn *c)
{
    char path[256];
    char *sp1;
    char *sp2;
    size_t plen;
    rz_http_response res;

    if (strncmp(c->head, "GET ", 4) != 0) {
        respond_text(c, 405, "only GET is served here\n");
        return;
    }
    sp1 = c->head + 3;
    sp2 = strchr(sp1 + 1, ' ');
    if (sp2 == NULL || strncmp(sp2 + 1, "HTTP/1.", 7) != 0) {
        respond_text(c, 400, "malformed request line\n");
        return;
    }
    plen = (size_t)(sp2 - sp1 - 1);
    if (plen == 0 || plen >= sizeof(path)) {
        respond_text(c, 404, "not found\n");
        return;
    }
    memcpy(path, sp1 + 1, plen);
    path[plen] = '\0';
    /* The query string, if any, is ignored. */
    char *q = strchr(path, '?');
    if (q != NULL) {
        *q = '\0';
    }
    res.status = 404;
    res.content_type = "text/plain; charset=utf-8";
    rz_buf_init(&res.body, HTTP_RESPONSE_MAX_BYTES);
    c->srv->handler(c->srv->data, path, &res);
    respond(c, res.status, res.content_type, &res.body);
    rz_buf_close(&res.body);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    http_conn *c = h->data;
    size_t room = RZ_HTTP_REQUEST_MAX_BYTES - c->head_len;
    (void)suggested;
    *buf = uv_buf_init(c->head + c->head_len, (unsigned)room);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    http_conn *c = s->data;
    (void)buf;
    if (c->answered) {
        return;
    }
    if (nread < 0) {
        conn_close(c);
        return;
    }
    c->head_len += (size_t)nread;
    c->head[c->head_len] = '\0';
    if (strstr(c->head, "\r\n\r\n") != NULL ||
        strstr(c->head, "\n\n") != NULL) {
        handle_request(c);
        return;
    }
    if (c->head_len >= RZ_HTTP_REQUEST_MAX_BYTES) {
        respond_text(c, 431, "request too large\n");
    }
}

static void on_connection(uv_stream_t *listener, int status)
{
    rz_http_server *srv = listener->data;
    http_conn *c;
    if (status != 0 || srv->closing) {
        return;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return;
    }
    c->srv = srv;
    uv_tcp_init(srv->loop, &c->tcp);
    uv_timer_init(srv->loop, &c->timer);
    c->tcp.data = c;
    c->timer.data = c;
    c->handles_open = 2;
    srv->n_connections++;
    if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0 ||
        srv->n_connections > RZ_HTTP_MAX_CONNECTIONS) {
        conn_close(c);
        return;
    }
    uv_timer_start(&c->timer, on_timeout, RZ_HTTP_DEADLINE_MS, 0);
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0) {
        conn_close(c);
    }
}

int rz_http_server_start(rz_http_server *srv, uv_loop_t *loop, const char *host,
                         uint16_t port, rz_http_handler handler, char *errmsg)
{
    struct sockaddr_in addr;
    int rv;
    RZ_PRE(srv != NULL && loop != NULL && handler != NULL);
    srv->loop = loop;
    srv->handler = handler;
    srv->n_connections = 0;
    srv->closing = 0;
    srv->close_cb = NULL;
    rv = uv_ip4_addr(host, port, &addr);
    if (rv != 0) {
        rz_errmsg_set(errmsg, "metrics listener: '%s' is not an IPv4 address",
                      host);
        return RZ_ECONFIG;
    }
    uv_tcp_init(loop, &srv->listener);
    srv->listener.data = srv;
    rv = uv_tcp_bind(&srv->listener, (const struct sockaddr *)&addr, 0);
    if (rv == 0) {
        rv = uv_listen((uv_stream_t *)&srv->listener, 64, on_connection);
    }
    if (rv != 0) {
        rz_errmsg_set(errmsg, "metrics listener: cannot listen on %s:%u: %s",
                      host, port, uv_strerror(rv));
        uv_close((uv_handle_t *)&srv->listener, NULL);
        return RZ_EIO;
    }
    return 0;
}

static void on_listener_closed(uv_handle_t *h)
{
    rz_http_server *srv = h->data;
    if (srv->n_connections == 0 && srv->close_cb != NULL) {
        void (*cb)(rz_http_server *) = srv->close_cb;
        srv->close_cb = NULL;
        cb(srv);
    }
}

void rz_http_server_close(rz_http_server *srv,
                          void (*close_cb)(rz_http_server *srv))
{
    srv->closing = 1;
    srv->close_cb = close_cb;
    uv_close((uv_handle_t *)&srv->listener, on_listener_closed);
}

uint16_t rz_http_server_port(const rz_http_server *srv)
{
    struct sockaddr_in addr;
    int len = (int)sizeof(addr);
    if (uv_tcp_getsockname(&srv->listener, (struct sockaddr *)&addr, &len) !=
        0) {
        return 0;
    }
    return ntohs(addr.sin_port);
}
