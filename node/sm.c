#include "node/sm.h"

static int sm_apply_batch(void *data, const rz_sm_entry *e, size_t n,
                          rz_buf *results)
{
    rz_storage_entry se[RZ_PROPOSE_BATCH_MAX];
    size_t i;

    RZ_PRE(n <= RZ_PROPOSE_BATCH_MAX);
    for (i = 0; i < n; i++) {
        se[i].index = e[i].index;
        se[i].cmd = e[i].cmd;
        se[i].cmd_len = e[i].len;
    }
    return rz_storage_apply_batch(data, se, n, results);
}

static uint64_t sm_applied_index(void *data)
{
    return rz_storage_applied_index(data);
}

static int sm_checksum(void *data, uint8_t out[32], uint64_t *applied_index)
{
    return rz_storage_checksum(data, out, applied_index);
}

void rz_node_sm_bind(rz_storage *st, rz_sm *out)
{
    RZ_PRE(st != NULL && out != NULL);
    out->data = st;
    out->apply_batch = sm_apply_batch;
    out->applied_index = sm_applied_index;
    out->checksum = sm_checksum;
}
