/* ratuszd: the ratusz node daemon. Reads the configuration (INI file and
 * flags), starts the node on a libuv loop and stops it cleanly on SIGTERM or
 * SIGINT (leadership handed over first). Exit status: 0 after a clean stop,
 * 1 when the node could not start, 2 for a usage error. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "common/common.h"
#include "node/config.h"
#include "node/server.h"

typedef struct daemon_state
{
    uv_loop_t loop;
    uv_signal_t sigterm;
    uv_signal_t sigint;
    rz_server *srv;
    bool stopped;
} daemon_state;

static void on_stopped(void *arg)
{
    daemon_state *d = arg;
    d->stopped = true;
    uv_close((uv_handle_t *)&d->sigterm, NULL);
    uv_close((uv_handle_t *)&d->sigint, NULL);
}

static void on_signal(uv_signal_t *h, int signum)
{
    daemon_state *d = h->data;
    if (d->srv == NULL) {
        return;
    }
    rz_log(RZ_LOG_INFO, "signal received", "signal=%s",
           signum == SIGTERM ? "SIGTERM" : "SIGINT");
    rz_server_stop(d->srv, on_stopped, d);
}

int main(int argc, char **argv)
{
    static daemon_state d;
    rz_node_config cfg;
    char errmsg[RZ_ERRMSG_BYTES];
    rz_log_level level;
    bool help = false;
    int rv;

    signal(SIGPIPE, SIG_IGN);
    rz_config_defaults(&cfg);
    rv = rz_config_parse_args(&cfg, argc, argv, &help, errmsg);
    if (help) {
        rz_config_print_help(stdout);
        return 0;
    }
    if (rv == 0) {
        rv = rz_config_validate(&cfg, errmsg);
    }
    if (rv != 0) {
        fprintf(stderr, "ratuszd: %s\n", errmsg);
        return 2;
    }
    RZ_ASSERT(rz_log_level_parse(cfg.log_level, &level) == 0);
    rz_log_set_level(level);
    if (rz_crypto_init() != 0) {
        fprintf(stderr, "ratuszd: libsodium could not start\n");
        return 1;
    }
    RZ_ASSERT(uv_loop_init(&d.loop) == 0);
    uv_signal_init(&d.loop, &d.sigterm);
    uv_signal_init(&d.loop, &d.sigint);
    d.sigterm.data = d.sigint.data = &d;
    uv_signal_start(&d.sigterm, on_signal, SIGTERM);
    uv_signal_start(&d.sigint, on_signal, SIGINT);

    rv = rz_server_start(&d.loop, &cfg, &d.srv, errmsg);
    if (rv != 0) {
        rz_log(RZ_LOG_ERROR, "cannot start", "err=%s", rz_errname(rv));
        fprintf(stderr, "ratuszd: %s\n", errmsg);
        if (d.srv != NULL) {
            rz_server_stop(d.srv, on_stopped, &d);
        } else {
            on_stopped(&d);
        }
        uv_run(&d.loop, UV_RUN_DEFAULT);
        rz_server_destroy(d.srv);
        (void)uv_loop_close(&d.loop);
        return 1;
    }
    uv_run(&d.loop, UV_RUN_DEFAULT);
    rz_server_destroy(d.srv);
    if (uv_loop_close(&d.loop) != 0) {
        rz_log(RZ_LOG_WARN, "handles left open at exit", NULL);
    }
    return d.stopped ? 0 : 1;
}
