/* The metrics registry's text format and the HTTP listener, scraped by a
 * plain socket client from another thread. */
#include <arpa/inet.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "node/http.h"
#include "node/metrics.h"

static void test_render(void **state)
{
    rz_metrics m;
    rz_buf out;
    (void)state;
    rz_metrics_init(&m);
    rz_metrics_set(&m, RZ_M_HAS_LEADER, 1);
    rz_metrics_inc(&m, RZ_M_LEADER_CHANGES, 3);
    rz_metrics_observe(&m, RZ_M_LOG_FSYNC, 0.00015); /* bucket 0.0002 */
    rz_metrics_observe(&m, RZ_M_LOG_FSYNC, 100.0);   /* only +Inf */
    rz_buf_init(&out, 1 << 20);
    assert_int_equal(rz_metrics_render(&m, &out), 0);
    rz_buf_append(&out, "", 1);
    const char *t = (const char *)out.data;
    assert_non_null(strstr(t, "# TYPE ratusz_server_has_leader gauge\n"
                              "ratusz_server_has_leader 1\n"));
    assert_non_null(strstr(t, "ratusz_server_leader_changes_seen_total 3\n"));
    assert_non_null(
        strstr(t, "ratusz_disk_log_fsync_duration_seconds_bucket{le=\"0.0001\"}"
                  " 0\n"));
    assert_non_null(
        strstr(t, "ratusz_disk_log_fsync_duration_seconds_bucket{le=\"0.0002\"}"
                  " 1\n"));
    assert_non_null(strstr(
        t, "ratusz_disk_log_fsync_duration_seconds_bucket{le=\"+Inf\"} 2\n"));
    assert_non_null(
        strstr(t, "ratusz_disk_log_fsync_duration_seconds_count 2"));
    rz_buf_close(&out);
}

typedef struct scrape
{
    uint16_t port;
    const char *request;
    char reply[65536];
    size_t reply_len;
} scrape;

static void *client_main(void *arg)
{
    scrape *s = arg;
    struct sockaddr_in a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons(s->port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        return NULL;
    }
    size_t len = strlen(s->request);
    if (write(fd, s->request, len) != (ssize_t)len) {
        close(fd);
        return NULL;
    }
    for (;;) {
        ssize_t n = read(fd, s->reply + s->reply_len,
                         sizeof(s->reply) - 1 - s->reply_len);
        if (n <= 0) {
            break;
        }
        s->reply_len += (size_t)n;
    }
    s->reply[s->reply_len] = '\0';
    close(fd);
    return NULL;
}

static rz_metrics metrics;

static void handler(void *data, const char *path, rz_http_response *res)
{
    (void)data;
    if (strcmp(path, "/metrics") == 0) {
        res->status = 200;
        res->content_type = "text/plain; version=0.0.4";
        rz_metrics_render(&metrics, &res->body);
    } else if (strcmp(path, "/readyz") == 0) {
        res->status = 503;
        rz_buf_append(&res->body, "no leader\n", 10);
    }
}

static int stop_after;
static void on_idle_check(uv_timer_t *t)
{
    if (--stop_after == 0) {
        uv_stop(t->loop);
    }
}

/* Runs the loop while a client thread sends `request`. */
static void run_scrape(rz_http_server *srv, uv_loop_t *loop, scrape *s)
{
    pthread_t th;
    uv_timer_t tick;
    s->port = rz_http_server_port(srv);
    s->reply_len = 0;
    assert_int_equal(pthread_create(&th, NULL, client_main, s), 0);
    uv_timer_init(loop, &tick);
    stop_after = 50; /* 50 x 10 ms: far more than a local round trip */
    uv_timer_start(&tick, on_idle_check, 10, 10);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&tick, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    pthread_join(th, NULL);
}

static void test_http(void **state)
{
    uv_loop_t loop;
    rz_http_server srv;
    char err[RZ_ERRMSG_BYTES];
    static scrape s;
    (void)state;
    uv_loop_init(&loop);
    rz_metrics_init(&metrics);
    rz_metrics_set(&metrics, RZ_M_TERM, 7);
    assert_int_equal(
        rz_http_server_start(&srv, &loop, "127.0.0.1", 0, handler, err), 0);

    s.request = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
    run_scrape(&srv, &loop, &s);
    assert_non_null(strstr(s.reply, "HTTP/1.1 200 OK\r\n"));
    assert_non_null(strstr(s.reply, "\nratusz_server_term 7\n"));

    s.request = "GET /readyz HTTP/1.0\r\n\r\n";
    run_scrape(&srv, &loop, &s);
    assert_non_null(strstr(s.reply, "HTTP/1.1 503 "));
    assert_non_null(strstr(s.reply, "no leader"));

    s.request = "GET /nope HTTP/1.1\r\n\r\n";
    run_scrape(&srv, &loop, &s);
    assert_non_null(strstr(s.reply, "HTTP/1.1 404 "));

    s.request = "POST /metrics HTTP/1.1\r\n\r\n";
    run_scrape(&srv, &loop, &s);
    assert_non_null(strstr(s.reply, "HTTP/1.1 405 "));

    s.request = "GARBAGE\r\n\r\n";
    run_scrape(&srv, &loop, &s);
    assert_non_null(strstr(s.reply, "HTTP/1.1 405 "));

    /* An endless head is refused once it passes the bound. */
    static char big[RZ_HTTP_REQUEST_MAX_BYTES +
                    1]; /* exactly the bound: nothing left unread */
    memset(big, 'a', sizeof(big) - 1);
    memcpy(big, "GET /", 5);
    s.request = big;
    run_scrape(&srv, &loop, &s);
    assert_non_null(strstr(s.reply, "HTTP/1.1 431 "));

    rz_http_server_close(&srv, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(srv.n_connections, 0);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render),
        cmocka_unit_test(test_http),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
