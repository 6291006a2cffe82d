/* The metric registry and its Prometheus text rendering. */
#include "metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

typedef struct metric_def
{
    rz_metric_kind kind;
    const char *name;
    const char *help;
} metric_def;

static const metric_def defs[RZ_M__COUNT] = {
#define RZ__METRIC_DEF(id, kind, name, help) {RZ_METRIC_##kind, name, help},
    RZ_METRICS(RZ__METRIC_DEF)
#undef RZ__METRIC_DEF
};

/* Upper bound of bucket i in seconds: 0.0001 * 2^i. */
static double bucket_bound(int i)
{
    double b = 0.0001;
    for (int k = 0; k < i; k++) {
        b *= 2.0;
    }
    return b;
}

void rz_metrics_init(rz_metrics *m)
{
    memset(m, 0, sizeof(*m));
}

void rz_metrics_inc(rz_metrics *m, rz_metric_id id, double by)
{
    RZ_PRE(id < RZ_M__COUNT);
    RZ_PRE(defs[id].kind == RZ_METRIC_COUNTER);
    RZ_PRE(by >= 0.0);
    m->value[id] += by;
}

void rz_metrics_set(rz_metrics *m, rz_metric_id id, double v)
{
    RZ_PRE(id < RZ_M__COUNT);
    RZ_PRE(defs[id].kind == RZ_METRIC_GAUGE);
    m->value[id] = v;
}

void rz_metrics_observe(rz_metrics *m, rz_metric_id id, double seconds)
{
    int i;
    RZ_PRE(id < RZ_M__COUNT);
    RZ_PRE(defs[id].kind == RZ_METRIC_HISTOGRAM);
    for (i = 0; i < RZ_METRIC_BUCKETS; i++) {
        if (seconds <= bucket_bound(i)) {
            m->buckets[id][i]++;
            break;
        }
    }
    /* Observations above the last bound land only in +Inf (the count). */
    m->sum[id] += seconds;
    m->count[id]++;
}

static void put(rz_buf *out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void put(rz_buf *out, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    RZ_ASSERT(n >= 0 && (size_t)n < sizeof(line));
    (void)rz_buf_append(out, line, (size_t)n);
}

int rz_metrics_render(const rz_metrics *m, rz_buf *out)
{
    static const char *const kinds[] = {"counter", "gauge", "histogram"};
    for (int id = 0; id < RZ_M__COUNT; id++) {
        const metric_def *d = &defs[id];
        put(out, "# HELP %s %s\n# TYPE %s %s\n", d->name, d->help, d->name,
            kinds[d->kind]);
        if (d->kind != RZ_METRIC_HISTOGRAM) {
            put(out, "%s %.17g\n", d->name, m->value[id]);
            continue;
        }
        uint64_t cumulative = 0;
        for (int i = 0; i < RZ_METRIC_BUCKETS; i++) {
            cumulative += m->buckets[id][i];
            put(out, "%s_bucket{le=\"%g\"} %llu\n", d->name, bucket_bound(i),
                (unsigned long long)cumulative);
        }
        put(out, "%s_bucket{le=\"+Inf\"} %llu\n", d->name,
            (unsigned long long)m->count[id]);
        put(out, "%s_sum %.17g\n%s_count %llu\n", d->name, m->sum[id], d->name,
            (unsigned long long)m->count[id]);
    }
    return out->err;
}
