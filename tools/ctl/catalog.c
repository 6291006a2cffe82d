/* ratuszctl catalog: load a catalog seed file (data/warsaw.tsv) into the
 * cluster and list the catalog. Loading is idempotent: each request's id is
 * derived from the file's bytes and the request's position, so loading the
 * same file again is answered from the cluster's exactly-once memory
 * (24 h) and, after that, re-applies the same upserts (no change). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "common/common.h"
#include "common/limits.h"

/* ---- the seed file ---------------------------------------------------------
 *
 * The format of data/warsaw.tsv (docs/storage.md): one record per line,
 * fields separated by one TAB, '#' starts a comment line:
 *   district CODE NAME | unit ID NAME | service CODE KIND SLA_HOURS NAME |
 *   rule SERVICE DISTRICT|* UNIT   ('*' = every district defined above,
 *                                   '%' in UNIT = the district's code)
 * storage/ has the same parser for its own tests and seeding, but tools/ may
 * not depend on storage/ (DESIGN.md §1), so ratuszctl reads the file itself
 * and sends CATALOG_UPSERT requests through libratusz. */

/* Most items one file may produce (rules expanded) and most fields on a
 * line; the same bounds as storage's seed parser. */
#define SEED_ITEMS_MAX 32768u
#define SEED_FIELDS_MAX 8u
/* A seed file is a catalog, not a data set: refuse anything bigger. */
#define SEED_FILE_MAX_BYTES (16u << 20)

typedef struct seed
{
    char *text; /* the file, NUL-terminated, fields cut in place */
    size_t len;
    ratusz_catalog_item *items;
    size_t n;
    char *pool; /* rule unit codes made from a pattern */
    size_t pool_used;
    uint8_t hash[16]; /* of the file's bytes, for the request ids */
    char err[RZ_ERRMSG_BYTES];
} seed;

/* A catalog code: 1-64 of A-Z a-z 0-9 _ - . (what storage accepts). */
static bool code_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > RZ_CODE_MAX_BYTES)
        return false;
    for (; *s; s++) {
        char c = *s;
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
              (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.'))
            return false;
    }
    return true;
}

static int seed_fail(seed *sd, size_t line, const char *what)
{
    snprintf(sd->err, sizeof sd->err, "line %zu: %s", line, what);
    return RZ_EINVAL;
}

static int seed_add(seed *sd, const ratusz_catalog_item *it, size_t line)
{
    if (sd->n == SEED_ITEMS_MAX)
        return seed_fail(sd, line, "more than 32768 catalog items");
    sd->items[sd->n++] = *it;
    return 0;
}

static int seed_check(seed *sd, size_t line, const char *code, const char *name)
{
    if (!code_ok(code))
        return seed_fail(sd, line, "a code must be 1-64 of A-Z a-z 0-9 _ - .");
    if (name && (!*name || strlen(name) > RZ_NAME_MAX_BYTES ||
                 !rz_utf8_valid(name, strlen(name))))
        return seed_fail(sd, line, "a name must be 1-200 bytes of UTF-8");
    return 0;
}

/* The unit of a rule for one district ("UD-%" -> "UD-MOKOTOW"). */
static int seed_rule_unit(seed *sd, size_t line, const char *pattern,
                          const char *district, const char **out)
{
    const char *pct = strchr(pattern, '%');
    char *u = sd->pool + sd->pool_used;
    if (!pct) {
        *out = pattern;
        return seed_check(sd, line, pattern, NULL);
    }
    if (strlen(pattern) - 1 + strlen(district) > RZ_CODE_MAX_BYTES)
        return seed_fail(sd, line, "the unit code made from it is too long");
    {
        size_t a = (size_t)(pct - pattern), b = strlen(district);
        size_t c = strlen(pct + 1);
        memcpy(u, pattern, a);
        memcpy(u + a, district, b);
        memcpy(u + a + b, pct + 1, c + 1);
    }
    sd->pool_used += RZ_CODE_MAX_BYTES + 1;
    *out = u;
    return seed_check(sd, line, u, NULL);
}

static int seed_line(seed *sd, char **f, size_t nf, size_t line)
{
    ratusz_catalog_item it;
    int rv;
    memset(&it, 0, sizeof it);
    if (!strcmp(f[0], "district") || !strcmp(f[0], "unit")) {
        if (nf != 3)
            return seed_fail(sd, line, "district and unit need CODE and NAME");
        it.type =
            f[0][0] == 'd' ? RATUSZ_CATALOG_DISTRICT : RATUSZ_CATALOG_UNIT;
        it.code = f[1];
        it.name = f[2];
        if ((rv = seed_check(sd, line, f[1], f[2])) != 0)
            return rv;
        return seed_add(sd, &it, line);
    }
    if (!strcmp(f[0], "service")) {
        uint64_t sla;
        if (nf != 5)
            return seed_fail(sd, line,
                             "service needs CODE KIND SLA_HOURS NAME");
        if ((rv = seed_check(sd, line, f[1], f[4])) != 0)
            return rv;
        if (ratusz_kind_parse(f[2], &it.kind) != 0)
            return seed_fail(sd, line,
                             "KIND must be INFORMATION, INCIDENT, "
                             "COMPLAINT or SUGGESTION");
        if (!ctl_parse_u64(f[3], &sla) || sla > 87600u)
            return seed_fail(sd, line, "SLA_HOURS must be 0-87600 hours");
        it.type = RATUSZ_CATALOG_SERVICE;
        it.code = f[1];
        it.name = f[4];
        it.sla_hours = (uint32_t)sla;
        return seed_add(sd, &it, line);
    }
    if (!strcmp(f[0], "rule")) {
        size_t end = sd->n, n_districts = 0;
        if (nf != 4)
            return seed_fail(sd, line, "rule needs SERVICE DISTRICT|* UNIT");
        if ((rv = seed_check(sd, line, f[1], NULL)) != 0)
            return rv;
        it.type = RATUSZ_CATALOG_RULE;
        it.code = f[1];
        if (strcmp(f[2], "*")) {
            if ((rv = seed_check(sd, line, f[2], NULL)) != 0 ||
                (rv = seed_rule_unit(sd, line, f[3], f[2], &it.unit_id)) != 0)
                return rv;
            it.district = f[2];
            return seed_add(sd, &it, line);
        }
        for (size_t i = 0; i < end; i++) {
            if (sd->items[i].type != RATUSZ_CATALOG_DISTRICT)
                continue;
            n_districts++;
            it.district = sd->items[i].code;
            if ((rv = seed_rule_unit(sd, line, f[3], it.district,
                                     &it.unit_id)) != 0 ||
                (rv = seed_add(sd, &it, line)) != 0)
                return rv;
        }
        if (n_districts == 0)
            return seed_fail(sd, line, "'*' but no district is defined above");
        return 0;
    }
    return seed_fail(sd, line,
                     "unknown record (district, unit, service or rule)");
}

/* Reads and parses `path` into *sd (seed_free releases it). 0, or
 * CTL_EXIT_FAIL / CTL_EXIT_USAGE with the sentence printed. */
static int seed_read(const char *path, seed *sd)
{
    FILE *f;
    size_t pos = 0, line = 0;
    long size;
    memset(sd, 0, sizeof *sd);
    f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr,
                "ratuszctl catalog: cannot open %s (%s); check the "
                "path.\n",
                path, strerror(errno));
        return CTL_EXIT_USAGE;
    }
    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 ||
        (unsigned long)size > SEED_FILE_MAX_BYTES || fseek(f, 0, SEEK_SET)) {
        fclose(f);
        fprintf(stderr,
                "ratuszctl catalog: %s is not a readable file of at "
                "most 16 MiB; check the path.\n",
                path);
        return CTL_EXIT_USAGE;
    }
    sd->len = (size_t)size;
    sd->text = ctl_xmalloc(sd->len + 1);
    if (fread(sd->text, 1, sd->len, f) != sd->len) {
        fclose(f);
        fprintf(stderr, "ratuszctl catalog: cannot read %s; check the file.\n",
                path);
        return CTL_EXIT_USAGE;
    }
    fclose(f);
    sd->text[sd->len] = '\0';
    rz_hash(sd->text, sd->len, sd->hash, sizeof sd->hash);
    if (memchr(sd->text, 0, sd->len)) {
        fprintf(stderr,
                "ratuszctl catalog: %s has a NUL byte: it is not a "
                "catalog file.\n",
                path);
        return CTL_EXIT_USAGE;
    }
    sd->items = ctl_xmalloc(sizeof(ratusz_catalog_item) * SEED_ITEMS_MAX);
    sd->pool =
        ctl_xmalloc(((size_t)SEED_ITEMS_MAX + 1) * (RZ_CODE_MAX_BYTES + 1));
    /* One iteration per line; each consumes at least one byte. */
    while (pos < sd->len) {
        char *start = sd->text + pos, *nl = strchr(start, '\n');
        char *fields[SEED_FIELDS_MAX];
        size_t nf = 0, ll = nl ? (size_t)(nl - start) : strlen(start);
        line++;
        pos += ll + 1;
        start[ll] = '\0';
        if (ll > 0 && start[ll - 1] == '\r')
            start[--ll] = '\0';
        if (ll == 0 || start[0] == '#')
            continue;
        fields[nf++] = start;
        for (char *p = start; *p; p++) {
            if (*p != '\t')
                continue;
            if (nf == SEED_FIELDS_MAX) {
                seed_fail(sd, line, "too many fields");
                goto bad;
            }
            *p = '\0';
            fields[nf++] = p + 1;
        }
        if (seed_line(sd, fields, nf, line) != 0)
            goto bad;
    }
    if (sd->n == 0) {
        fprintf(stderr,
                "ratuszctl catalog: %s has no records; give a "
                "catalog file like data/warsaw.tsv.\n",
                path);
        return CTL_EXIT_USAGE;
    }
    return 0;
bad:
    fprintf(stderr,
            "ratuszctl catalog: %s %s; fix the file (format in "
            "docs/storage.md).\n",
            path, sd->err);
    return CTL_EXIT_USAGE;
}

static void seed_free(seed *sd)
{
    free(sd->text);
    free(sd->items);
    free(sd->pool);
    memset(sd, 0, sizeof *sd);
}

/* ---- load -------------------------------------------------------------------
 */

/* Bytes one item may take in a command (its strings and the map's keys),
 * and the most a request may carry: well under the node's 64 KiB command
 * limit (RZ_COMMAND_MAX_BYTES) so the encoding's overhead always fits. */
#define ITEM_OVERHEAD_BYTES 64u
#define BATCH_MAX_BYTES (RZ_COMMAND_MAX_BYTES * 3u / 4u)

static size_t item_bytes(const ratusz_catalog_item *it)
{
    return ITEM_OVERHEAD_BYTES + (it->code ? strlen(it->code) : 0) +
           (it->name ? strlen(it->name) : 0) +
           (it->district ? strlen(it->district) : 0) +
           (it->unit_id ? strlen(it->unit_id) : 0);
}

static int catalog_load(int argc, char **argv)
{
    ctl_opt o[CTL_O_COMMON] = {CTL_COMMON_OPTS};
    const char *pos[2];
    size_t n_pos, counts[4] = {0}, requests = 0;
    uint64_t index = 0;
    ctl_client c;
    seed sd;
    int rc;
    if ((rc = ctl_args_parse("catalog", argc, argv, o, CTL_O_COMMON, pos, 1,
                             &n_pos)))
        return rc;
    if (n_pos != 1)
        return ctl_usage_err("catalog", "load needs FILE (e.g. "
                                        "data/warsaw.tsv)");
    if (rz_crypto_init() != 0) {
        fprintf(stderr, "ratuszctl catalog: libsodium could not start; "
                        "reinstall libsodium23.\n");
        return CTL_EXIT_FAIL;
    }
    if ((rc = seed_read(pos[0], &sd))) {
        seed_free(&sd);
        return rc;
    }
    if ((rc = ctl_client_open(&c, "catalog", o))) {
        seed_free(&sd);
        return rc;
    }
    /* One request per batch, in file order (a rule's unit and district come
     * before it). Each batch is at least one item, so this ends. */
    for (size_t i = 0; i < sd.n;) {
        size_t n = 0, bytes = 0;
        uint8_t rid_in[20];
        ratusz_call call;
        ratusz_outcome out;
        ratusz_write_result r;
        while (i + n < sd.n && n < RATUSZ_CATALOG_UPSERT_MAX_ITEMS &&
               (n == 0 ||
                bytes + item_bytes(&sd.items[i + n]) <= BATCH_MAX_BYTES)) {
            bytes += item_bytes(&sd.items[i + n]);
            n++;
        }
        memset(&call, 0, sizeof call);
        memcpy(rid_in, sd.hash, sizeof sd.hash);
        rz_put_be32(rid_in + 16, (uint32_t)requests);
        rz_hash(rid_in, sizeof rid_in, call.request_id, sizeof call.request_id);
        call.outcome = &out;
        rc = ratusz_catalog_upsert(c.h, &call, sd.items + i, n, &r);
        if (rc != 0) {
            fprintf(stderr,
                    "ratuszctl catalog: request %zu (items %zu-%zu of %s) "
                    "failed; the earlier ones were applied, and loading "
                    "the file again is safe.\n",
                    requests + 1, i + 1, i + n, pos[0]);
            rc = ctl_client_fail(&c, rc, &out);
            goto done;
        }
        for (size_t k = i; k < i + n; k++)
            counts[sd.items[k].type]++;
        index = r.index;
        requests++;
        i += n;
    }
    {
        ctl_out p = {.json = c.json};
        char summary[160];
        snprintf(summary, sizeof summary,
                 "%zu items: %zu districts, %zu units, %zu services, %zu "
                 "rules",
                 sd.n, counts[0], counts[1], counts[2], counts[3]);
        if (!c.json)
            ctl_out_str(&p, "loaded", summary);
        ctl_out_str(&p, "file", pos[0]);
        ctl_out_u64(&p, "items", sd.n);
        if (c.json) {
            ctl_out_u64(&p, "districts", counts[0]);
            ctl_out_u64(&p, "units", counts[1]);
            ctl_out_u64(&p, "services", counts[2]);
            ctl_out_u64(&p, "rules", counts[3]);
        }
        ctl_out_u64(&p, "requests", requests);
        ctl_out_u64(&p, "index", index);
        ctl_out_end(&p);
    }
    rc = CTL_EXIT_OK;
done:
    ctl_client_close(&c);
    seed_free(&sd);
    return rc;
}

/* ---- list -------------------------------------------------------------------
 */

static int catalog_list(int argc, char **argv)
{
    static const char *const group_key[4] = {"districts", "units", "services",
                                             "rules"};
    ctl_opt o[CTL_O_COMMON + 1] = {CTL_COMMON_OPTS,
                                   {"--type", true, NULL, false}};
    const char *pos[1];
    size_t n_pos;
    ratusz_catalog *cat = NULL;
    ratusz_catalog_type only = RATUSZ_CATALOG_DISTRICT;
    ratusz_call call;
    ratusz_outcome out;
    ctl_client c;
    int rc;
    if ((rc = ctl_args_parse("catalog", argc, argv, o, CTL_O_COMMON + 1, pos, 0,
                             &n_pos)))
        return rc;
    if (o[CTL_O_COMMON].seen &&
        ratusz_catalog_type_parse(o[CTL_O_COMMON].value, &only) != 0)
        return ctl_usage_err("catalog",
                             "--type '%s' is not district, unit, service or "
                             "rule",
                             o[CTL_O_COMMON].value);
    if ((rc = ctl_client_open(&c, "catalog", o)))
        return rc;
    memset(&call, 0, sizeof call);
    call.outcome = &out;
    rc = ratusz_catalog_get(c.h, &call, &cat);
    if (rc != 0) {
        rc = ctl_client_fail(&c, rc, &out);
        ctl_client_close(&c);
        return rc;
    }
    if (c.json) {
        ctl_json j;
        ctl_json_init(&j, stdout);
        ctl_json_obj_begin(&j, NULL);
        for (int g = 0; g < 4; g++) {
            if (o[CTL_O_COMMON].seen && g != (int)only)
                continue;
            ctl_json_arr_begin(&j, group_key[g]);
            for (size_t i = 0; i < cat->n_items; i++) {
                const ratusz_catalog_item *it = &cat->items[i];
                if ((int)it->type != g)
                    continue;
                ctl_json_obj_begin(&j, NULL);
                if (g == RATUSZ_CATALOG_RULE) {
                    ctl_json_str(&j, "service", it->code);
                    ctl_json_str(&j, "district", it->district);
                    ctl_json_str(&j, "unit_id", it->unit_id);
                } else {
                    ctl_json_str(&j, "code", it->code);
                    ctl_json_str(&j, "name", it->name);
                }
                if (g == RATUSZ_CATALOG_SERVICE) {
                    ctl_json_str(&j, "kind", ratusz_kind_name((int)it->kind));
                    ctl_json_u64(&j, "sla_hours", it->sla_hours);
                }
                ctl_json_obj_end(&j);
            }
            ctl_json_arr_end(&j);
        }
        ctl_json_u64(&j, "index", cat->index);
        ctl_json_obj_end(&j);
        ctl_json_end(&j);
    } else {
        static const char *const heads[4][4] = {
            {"DISTRICT", "NAME", "", ""},
            {"UNIT", "NAME", "", ""},
            {"SERVICE", "KIND", "SLA_HOURS", "NAME"},
            {"SERVICE", "DISTRICT", "UNIT", ""}};
        static const int cols[4] = {2, 2, 4, 3};
        bool first = true;
        for (int g = 0; g < 4; g++) {
            ctl_table t;
            if (o[CTL_O_COMMON].seen && g != (int)only)
                continue;
            if (!first)
                putchar('\n');
            first = false;
            ctl_table_init(&t, cols[g], heads[g]);
            for (size_t i = 0; i < cat->n_items; i++) {
                const ratusz_catalog_item *it = &cat->items[i];
                if ((int)it->type != g)
                    continue;
                if (ctl_table_rows(&t) == CTL_TABLE_MAX_ROWS)
                    ctl_table_print(&t, stdout);
                ctl_table_cell(&t, it->code);
                if (g == RATUSZ_CATALOG_SERVICE) {
                    ctl_table_cell(&t, ratusz_kind_name((int)it->kind));
                    ctl_table_cellf(&t, "%u", it->sla_hours);
                }
                if (g == RATUSZ_CATALOG_RULE) {
                    ctl_table_cell(&t, it->district);
                    ctl_table_cell(&t, it->unit_id);
                } else {
                    ctl_table_cell(&t, it->name);
                }
            }
            ctl_table_print(&t, stdout);
            ctl_table_close(&t);
        }
    }
    ratusz_catalog_free(cat);
    ctl_client_close(&c);
    return CTL_EXIT_OK;
}

static const char catalog_usage[] =
    "usage:\n"
    "  ratuszctl catalog load FILE     load a catalog seed file (format in "
    "docs/storage.md),\n"
    "                                  e.g. data/warsaw.tsv; loading it "
    "again changes nothing\n"
    "  ratuszctl catalog list [--type "
    "district|unit|service|rule]\n" CTL_COMMON_USAGE
    "exit codes: 0 ok, 1 the cluster refused or failed it, 2 usage or a bad "
    "file, 3 unreachable\n";

int ctl_catalog_main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(catalog_usage, stderr);
        return CTL_EXIT_USAGE;
    }
    if (ctl_is_help(argc - 1, argv + 1)) {
        fputs(catalog_usage, stdout);
        return CTL_EXIT_OK;
    }
    if (!strcmp(argv[1], "load"))
        return catalog_load(argc - 2, argv + 2);
    if (!strcmp(argv[1], "list"))
        return catalog_list(argc - 2, argv + 2);
    return ctl_usage_err("catalog", "unknown subcommand '%s' (load, list)",
                         argv[1]);
}
