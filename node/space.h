/* The disk alarm of ratuszd (issue #7): a node whose state env or file
 * system is nearly full stops taking NEW cases (reads, status changes of
 * existing cases and every other command still work, so the desk can go on
 * closing cases) and clears the alarm by itself once space returns.
 *
 * Two gauges, each in percent of its capacity:
 *   - the state env: bytes in use (net of LMDB's free list) of the map size;
 *   - the file system of the data directory: blocks used of all blocks
 *     (statvfs; root's reserve counts as used).
 * The alarm is raised when either reaches `percent`, and cleared when both
 * are below `percent - RZ_SPACE_HYSTERESIS_PERCENT` (so it does not flap
 * around the mark). The evaluation is a pure function so that tests drive
 * it with numbers; rz_space_sample reads the real gauges. */
#ifndef RZ_NODE_SPACE_H
#define RZ_NODE_SPACE_H

#include <stdbool.h>
#include <stdint.h>

#include "storage/storage.h"

#define RZ_SPACE_HYSTERESIS_PERCENT 5u

typedef struct rz_space_sample
{
    uint64_t map_bytes, map_used_bytes;
    uint64_t fs_bytes, fs_used_bytes; /* 0/0 when statvfs failed */
} rz_space_sample;

/* Reads both gauges: the state env of st and the file system holding dir.
 * RZ_EIO if the state env cannot be read (the file system gauge then stays
 * 0/0). */
int rz_space_sample_read(rz_storage *st, const char *dir, rz_space_sample *out);

/* The alarm after this sample, given the alarm before it. percent is the
 * configured high-water mark (10..99). *why (may be NULL) names the gauge
 * that holds the alarm up ("state env", "file system") or is "". */
bool rz_space_alarm_eval(const rz_space_sample *s, unsigned percent,
                         bool was_raised, const char **why);

#endif /* RZ_NODE_SPACE_H */
