/* rz-jepsen-delay: the delay/reorder half of the jepsen packet nemesis.
 * `tc netem` is missing from this kernel, so an NFQUEUE rule hands the
 * packets of one network namespace to this process, which holds each for
 * delay + random(0..jitter) ms and then accepts it. Packets whose holding
 * times cross leave out of order: that is the reordering. Runs inside the
 * node's namespace (ip netns exec) until SIGTERM/SIGINT, then releases
 * every packet it still holds.
 *
 *   rz-jepsen-delay --queue N --delay-ms D --jitter-ms J
 */
#include <arpa/inet.h>
#include <errno.h>
#include <libnetfilter_queue/libnetfilter_queue.h>
#include <linux/netfilter.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Packets held at once; more are accepted at once rather than dropped, so
 * the nemesis never turns into a loss nemesis by accident. */
#define HELD_MAX 65536
#define RECV_BYTES 65536

typedef struct held
{
    uint32_t id;
    uint64_t due_ms;
} held;

typedef struct delayer
{
    struct nfq_q_handle *qh;
    held *heap; /* min-heap by due_ms */
    size_t n;
    uint64_t delay_ms;
    uint64_t jitter_ms;
    uint64_t passed;
} delayer;

static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
    (void)sig;
    stopping = 1;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void heap_push(delayer *d, held h)
{
    size_t i = d->n++;
    d->heap[i] = h;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (d->heap[p].due_ms <= d->heap[i].due_ms) {
            break;
        }
        held t = d->heap[p];
        d->heap[p] = d->heap[i];
        d->heap[i] = t;
        i = p;
    }
}

static held heap_pop(delayer *d)
{
    held top = d->heap[0];
    size_t i = 0;
    d->heap[0] = d->heap[--d->n];
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < d->n && d->heap[l].due_ms < d->heap[m].due_ms) {
            m = l;
        }
        if (r < d->n && d->heap[r].due_ms < d->heap[m].due_ms) {
            m = r;
        }
        if (m == i) {
            break;
        }
        held t = d->heap[m];
        d->heap[m] = d->heap[i];
        d->heap[i] = t;
        i = m;
    }
    return top;
}

static void accept_packet(delayer *d, uint32_t id)
{
    nfq_set_verdict(d->qh, id, NF_ACCEPT, 0, NULL);
    d->passed++;
}

static int on_packet(struct nfq_q_handle *qh, struct nfgenmsg *msg,
                     struct nfq_data *nfa, void *data)
{
    delayer *d = data;
    struct nfqnl_msg_packet_hdr *ph = nfq_get_msg_packet_hdr(nfa);
    (void)qh;
    (void)msg;
    if (ph == NULL) {
        return 0;
    }
    uint32_t id = ntohl(ph->packet_id);
    if (d->n == HELD_MAX) {
        accept_packet(d, id);
        return 0;
    }
    uint64_t extra =
        d->jitter_ms > 0 ? (uint64_t)random() % (d->jitter_ms + 1u) : 0u;
    heap_push(d, (held){.id = id, .due_ms = now_ms() + d->delay_ms + extra});
    return 0;
}

static int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v > max) {
        return -1;
    }
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    delayer d = {0};
    uint64_t queue = 0;
    int rc = 1;
    static char buf[RECV_BYTES];
    for (int i = 1; i + 1 < argc; i += 2) {
        uint64_t *dst = NULL;
        if (strcmp(argv[i], "--queue") == 0) {
            dst = &queue;
        } else if (strcmp(argv[i], "--delay-ms") == 0) {
            dst = &d.delay_ms;
        } else if (strcmp(argv[i], "--jitter-ms") == 0) {
            dst = &d.jitter_ms;
        }
        if (dst == NULL || parse_u64(argv[i + 1], 60000, dst) != 0) {
            fprintf(stderr, "usage: rz-jepsen-delay --queue N --delay-ms D "
                            "--jitter-ms J (each 0..60000)\n");
            return 2;
        }
    }
    if (argc % 2 != 1) {
        fprintf(stderr, "usage: rz-jepsen-delay --queue N --delay-ms D "
                        "--jitter-ms J\n");
        return 2;
    }
    srandom((unsigned)time(NULL));
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    d.heap = calloc(HELD_MAX, sizeof(*d.heap));
    if (d.heap == NULL) {
        fprintf(stderr, "rz-jepsen-delay: out of memory\n");
        return 1;
    }
    struct nfq_handle *h = nfq_open();
    if (h == NULL) {
        fprintf(stderr, "rz-jepsen-delay: nfq_open failed (root? "
                        "nfnetlink_queue?)\n");
        goto out_heap;
    }
    d.qh = nfq_create_queue(h, (uint16_t)queue, on_packet, &d);
    if (d.qh == NULL) {
        fprintf(stderr, "rz-jepsen-delay: cannot bind queue %llu\n",
                (unsigned long long)queue);
        goto out_handle;
    }
    if (nfq_set_mode(d.qh, NFQNL_COPY_META, 0) < 0) {
        fprintf(stderr, "rz-jepsen-delay: cannot set copy mode\n");
        goto out_queue;
    }
    nfq_set_queue_maxlen(d.qh, HELD_MAX);
    int fd = nfq_fd(h);
    fprintf(stderr,
            "rz-jepsen-delay: queue %llu delay %llu ms jitter %llu "
            "ms\n",
            (unsigned long long)queue, (unsigned long long)d.delay_ms,
            (unsigned long long)d.jitter_ms);
    while (!stopping) {
        uint64_t t = now_ms();
        while (d.n > 0 && d.heap[0].due_ms <= t) {
            accept_packet(&d, heap_pop(&d).id);
        }
        int wait_ms = 100;
        if (d.n > 0) {
            uint64_t due = d.heap[0].due_ms - t;
            wait_ms = due < 100u ? (int)due : 100;
        }
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int pr = poll(&pfd, 1, wait_ms);
        if (pr > 0) {
            ssize_t got = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
            if (got > 0) {
                nfq_handle_packet(h, buf, (int)got);
            }
        }
    }
    while (d.n > 0) {
        accept_packet(&d, heap_pop(&d).id);
    }
    fprintf(stderr, "rz-jepsen-delay: passed %llu packets\n",
            (unsigned long long)d.passed);
    rc = 0;
out_queue:
    nfq_destroy_queue(d.qh);
out_handle:
    nfq_close(h);
out_heap:
    free(d.heap);
    return rc;
}
