#include "node/space.h"

#include <sys/statvfs.h>

int rz_space_sample_read(rz_storage *st, const char *dir, rz_space_sample *out)
{
    rz_storage_space sp;
    struct statvfs vfs;
    int rv;
    RZ_PRE(st != NULL && dir != NULL && out != NULL);
    *out = (rz_space_sample){0, 0, 0, 0};
    if (statvfs(dir, &vfs) == 0 && vfs.f_blocks > 0) {
        uint64_t unit = vfs.f_frsize != 0 ? vfs.f_frsize : vfs.f_bsize;
        out->fs_bytes = (uint64_t)vfs.f_blocks * unit;
        out->fs_used_bytes =
            ((uint64_t)vfs.f_blocks - (uint64_t)vfs.f_bavail) * unit;
    }
    rv = rz_storage_space_get(st, &sp);
    if (rv != 0) {
        return rv;
    }
    out->map_bytes = sp.map_bytes;
    out->map_used_bytes = sp.used_bytes;
    return 0;
}

/* used/total >= percent/100, in integers (no overflow below 2^57 bytes). */
static bool at_or_above(uint64_t used, uint64_t total, unsigned percent)
{
    if (total == 0) {
        return false; /* an unread gauge never raises the alarm */
    }
    return used / 128u * 100u >= total / 128u * percent;
}

bool rz_space_alarm_eval(const rz_space_sample *s, unsigned percent,
                         bool was_raised, const char **why)
{
    unsigned mark = percent;
    bool env_full, fs_full;
    RZ_PRE(s != NULL && percent >= RZ_SPACE_HYSTERESIS_PERCENT &&
           percent <= 100u);
    if (was_raised) {
        mark = percent - RZ_SPACE_HYSTERESIS_PERCENT;
    }
    env_full = at_or_above(s->map_used_bytes, s->map_bytes, mark);
    fs_full = at_or_above(s->fs_used_bytes, s->fs_bytes, mark);
    if (why != NULL) {
        *why = env_full ? "state env" : fs_full ? "file system" : "";
    }
    return env_full || fs_full;
}
