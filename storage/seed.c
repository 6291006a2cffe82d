/* storage catalog seed: turns the tab-separated catalog file of data/ into
 * catalog upsert commands (format in docs/storage.md). */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

/* Most items one seed file may produce (rules expanded): a city has tens of
 * districts and a few hundred services. */
#define SEED_ITEMS_MAX 32768u
/* Most fields on one line. */
#define SEED_FIELDS_MAX 8u
/* Room left in a command for its header. */
#define CMD_HEAD_BYTES 64u

typedef struct seed
{
    rz_catalog_item *items;
    size_t n;
    char *pool; /* rule unit codes made from a pattern */
    size_t pool_used;
    char *errmsg;
} seed;

static int add_item(seed *sd, const rz_catalog_item *it, size_t line)
{
    if (sd->n == SEED_ITEMS_MAX) {
        rz_errmsg_set(sd->errmsg, "line %zu: more than %u catalog items", line,
                      SEED_ITEMS_MAX);
        return RZ_ETOOBIG;
    }
    sd->items[sd->n++] = *it;
    return 0;
}

static int check_code(seed *sd, const char *what, const char *s, size_t line)
{
    if (rz_storage__code_check(s, strlen(s)) != 0) {
        rz_errmsg_set(sd->errmsg,
                      "line %zu: %s '%.64s' is not a code (1-64 of A-Z a-z "
                      "0-9 _ - .)",
                      line, what, s);
        return RZ_EINVAL;
    }
    return 0;
}

static int check_name(seed *sd, const char *s, size_t line)
{
    size_t n = strlen(s);
    if (n == 0 || n > RZ_NAME_MAX_BYTES || !rz_utf8_valid(s, n)) {
        rz_errmsg_set(sd->errmsg,
                      "line %zu: a name must be 1-%u bytes of UTF-8", line,
                      RZ_NAME_MAX_BYTES);
        return RZ_EINVAL;
    }
    return 0;
}

/* A rule's unit for one district: '%' in the pattern stands for the
 * district code ("UD-%" -> "UD-MOKOTOW"). */
static int rule_unit(seed *sd, const char *pattern, const char *district,
                     const char **out, size_t line)
{
    const char *pct = strchr(pattern, '%');
    char *u;
    size_t a, b, c;
    if (pct == NULL) {
        *out = pattern;
        return 0;
    }
    a = (size_t)(pct - pattern);
    b = strlen(district);
    c = strlen(pct + 1);
    if (a + b + c > RZ_CODE_MAX_BYTES) {
        rz_errmsg_set(sd->errmsg, "line %zu: unit code too long", line);
        return RZ_EINVAL;
    }
    u = sd->pool + sd->pool_used;
    memcpy(u, pattern, a);
    memcpy(u + a, district, b);
    memcpy(u + a + b, pct + 1, c);
    u[a + b + c] = 0;
    sd->pool_used += RZ_CODE_MAX_BYTES + 1;
    *out = u;
    return check_code(sd, "unit", u, line);
}

static int parse_line(seed *sd, char **f, size_t nf, size_t line)
{
    rz_catalog_item it;
    int rv;
    memset(&it, 0, sizeof(it));
    if (strcmp(f[0], "district") == 0 || strcmp(f[0], "unit") == 0) {
        if (nf != 3) {
            rz_errmsg_set(sd->errmsg, "line %zu: %s needs CODE and NAME", line,
                          f[0]);
            return RZ_EINVAL;
        }
        it.type = f[0][0] == 'd' ? RZ_CAT_DISTRICT : RZ_CAT_UNIT;
        it.code = f[1];
        it.name = f[2];
        if ((rv = check_code(sd, f[0], f[1], line)) != 0 ||
            (rv = check_name(sd, f[2], line)) != 0) {
            return rv;
        }
        return add_item(sd, &it, line);
    }
    if (strcmp(f[0], "service") == 0) {
        rz_kind kind;
        char *end = NULL;
        unsigned long sla;
        if (nf != 5) {
            rz_errmsg_set(sd->errmsg,
                          "line %zu: service needs CODE KIND SLA_HOURS NAME",
                          line);
            return RZ_EINVAL;
        }
        if ((rv = check_code(sd, "service", f[1], line)) != 0 ||
            (rv = check_name(sd, f[4], line)) != 0) {
            return rv;
        }
        if (rz_kind_parse(f[2], &kind) != 0) {
            rz_errmsg_set(sd->errmsg, "line %zu: unknown kind '%.32s'", line,
                          f[2]);
            return RZ_EINVAL;
        }
        sla = strtoul(f[3], &end, 10);
        if (end == f[3] || *end != 0 || sla > 24ul * 365ul * 10ul) {
            rz_errmsg_set(sd->errmsg,
                          "line %zu: SLA_HOURS must be 0-87600 hours", line);
            return RZ_EINVAL;
        }
        it.type = RZ_CAT_SERVICE;
        it.code = f[1];
        it.name = f[4];
        it.kind = (uint8_t)kind;
        it.sla_hours = (uint32_t)sla;
        return add_item(sd, &it, line);
    }
    if (strcmp(f[0], "rule") == 0) {
        if (nf != 4) {
            rz_errmsg_set(sd->errmsg,
                          "line %zu: rule needs SERVICE DISTRICT|* UNIT", line);
            return RZ_EINVAL;
        }
        if ((rv = check_code(sd, "service", f[1], line)) != 0) {
            return rv;
        }
        it.type = RZ_CAT_RULE;
        it.code = f[1];
        if (strcmp(f[2], "*") != 0) {
            if ((rv = check_code(sd, "district", f[2], line)) != 0 ||
                (rv = rule_unit(sd, f[3], f[2], &it.unit_id, line)) != 0) {
                return rv;
            }
            it.district = f[2];
            return add_item(sd, &it, line);
        }
        /* '*': every district defined so far. */
        {
            bool any = false;
            for (size_t i = 0; i < sd->n && !any; i++) {
                any = sd->items[i].type == RZ_CAT_DISTRICT;
            }
            if (!any) {
                rz_errmsg_set(sd->errmsg,
                              "line %zu: '*' but no district is defined above",
                              line);
                return RZ_EINVAL;
            }
        }
        for (size_t i = 0, end = sd->n; i < end; i++) {
            if (sd->items[i].type != RZ_CAT_DISTRICT) {
                continue;
            }
            it.district = sd->items[i].code;
            if ((rv = rule_unit(sd, f[3], it.district, &it.unit_id, line)) !=
                    0 ||
                (rv = add_item(sd, &it, line)) != 0) {
                return rv;
            }
        }
        return 0;
    }
    rz_errmsg_set(sd->errmsg,
                  "line %zu: unknown record '%.32s' (district, unit, service "
                  "or rule)",
                  line, f[0]);
    return RZ_EINVAL;
}

static size_t item_bytes(const rz_catalog_item *it)
{
    size_t n = 32;
    n += it->code != NULL ? strlen(it->code) : 0;
    n += it->name != NULL ? strlen(it->name) : 0;
    n += it->district != NULL ? strlen(it->district) : 0;
    n += it->unit_id != NULL ? strlen(it->unit_id) : 0;
    return n;
}

int rz_catalog_seed_encode(const char *text, size_t len, uint64_t at_ms,
                           rz_buf *cmds, size_t max_cmds, size_t *n_cmds,
                           char *errmsg)
{
    char scratch[RZ_ERRMSG_BYTES];
    seed sd;
    char *copy;
    size_t line = 0;
    size_t pos = 0;
    uint8_t file_hash[16];
    int rv = 0;
    RZ_PRE(text != NULL || len == 0);
    RZ_PRE(n_cmds != NULL && (cmds != NULL || max_cmds == 0));
    *n_cmds = 0;
    memset(&sd, 0, sizeof(sd));
    sd.errmsg = errmsg != NULL ? errmsg : scratch;
    if (rz_crypto_init() != 0) {
        return RZ_EIO;
    }
    copy = malloc(len + 1);
    sd.items = calloc(SEED_ITEMS_MAX, sizeof(*sd.items));
    sd.pool = malloc((size_t)SEED_ITEMS_MAX * (RZ_CODE_MAX_BYTES + 1));
    if (copy == NULL || sd.items == NULL || sd.pool == NULL) {
        rv = RZ_ENOMEM;
        goto done;
    }
    memcpy(copy, text, len);
    copy[len] = 0;
    if (memchr(text, 0, len) != NULL) {
        rz_errmsg_set(sd.errmsg, "the seed file contains a NUL byte");
        rv = RZ_EINVAL;
        goto done;
    }
    /* One iteration per line; each consumes at least one byte. */
    while (pos < len && rv == 0) {
        char *start = copy + pos;
        char *nl = strchr(start, '\n');
        char *f[SEED_FIELDS_MAX];
        size_t nf = 0;
        size_t ll = nl != NULL ? (size_t)(nl - start) : strlen(start);
        line++;
        pos += ll + 1;
        start[ll] = 0;
        if (ll > 0 && start[ll - 1] == '\r') {
            start[--ll] = 0;
        }
        if (ll == 0 || start[0] == '#') {
            continue;
        }
        f[nf++] = start;
        for (char *p = start; *p != 0; p++) {
            if (*p == '\t') {
                *p = 0;
                if (nf == SEED_FIELDS_MAX) {
                    rz_errmsg_set(sd.errmsg, "line %zu: too many fields", line);
                    rv = RZ_EINVAL;
                    break;
                }
                f[nf++] = p + 1;
            }
        }
        if (rv == 0) {
            rv = parse_line(&sd, f, nf, line);
        }
    }
    if (rv != 0) {
        goto done;
    }
    rz_hash(text, len, file_hash, sizeof(file_hash));
    for (size_t i = 0; i < sd.n;) {
        size_t n = 0, bytes = CMD_HEAD_BYTES;
        uint8_t rid_in[20];
        uint8_t rid[RZ_REQUEST_ID_BYTES];
        while (i + n < sd.n && n < RZ_CATALOG_UPSERT_MAX_ITEMS &&
               bytes + item_bytes(&sd.items[i + n]) <= RZ_COMMAND_MAX_BYTES) {
            bytes += item_bytes(&sd.items[i + n]);
            n++;
        }
        RZ_ASSERT(n > 0);
        if (*n_cmds == max_cmds) {
            rz_errmsg_set(sd.errmsg, "the seed needs more than %zu commands",
                          max_cmds);
            rv = RZ_ETOOBIG;
            goto done;
        }
        memcpy(rid_in, file_hash, 16);
        rz_put_be32(rid_in + 16, (uint32_t)*n_cmds);
        rz_hash(rid_in, sizeof(rid_in), rid, sizeof(rid));
        rv = rz_cmd_catalog_encode(&cmds[*n_cmds], rid, at_ms, sd.items + i, n);
        if (rv != 0) {
            rz_errmsg_set(sd.errmsg, "cannot encode a catalog command: %s",
                          rz_strerror(rv));
            goto done;
        }
        RZ_ASSERT(cmds[*n_cmds].len <= RZ_COMMAND_MAX_BYTES);
        (*n_cmds)++;
        i += n;
    }
done:
    free(copy);
    free(sd.items);
    free(sd.pool);
    return rv;
}
