/* check_reference: runs ratusz-check on every history of a reference folder
 * (shared/checker-data/<dir>) and requires, for each, the verdict listed in
 * its verdicts.tsv, the matching exit status, and a run time within the
 * limit. Every file of the folder must be listed, so no history is skipped.
 *
 *   check_reference CHECKER DIR MODEL FORMAT MAX_SECONDS */
#include "common/common.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#define MAX_FILES 1024

static int run_one(const char *checker, const char *dir, const char *model,
                   const char *format, const char *file, bool want_ok,
                   double max_s)
{
    char cmd[4096];
    char line[4096], last[4096] = "";
    FILE *p;
    int status, code;
    uint64_t t0, t1;
    double secs;
    const char *want = want_ok ? "linearizable" : "not linearizable";
    if (strchr(checker, '\'') || strchr(dir, '\'') || strchr(file, '\'')) {
        fprintf(stderr, "FAIL: quotes in a path are not supported\n");
        return 1;
    }
    snprintf(cmd, sizeof(cmd), "'%s' --model %s --format %s '%s/%s'", checker,
             model, format, dir, file);
    t0 = rz_mono_ns();
    p = popen(cmd, "r");
    if (p == NULL) {
        fprintf(stderr, "FAIL: cannot run %s\n", cmd);
        return 1;
    }
    while (fgets(line, sizeof(line), p) != NULL) {
        memcpy(last, line, sizeof(line));
    }
    status = pclose(p);
    t1 = rz_mono_ns();
    secs = (double)(t1 - t0) / 1e9;
    last[strcspn(last, "\n")] = '\0';
    code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    printf("%-16s %-17s exit %d  %.3f s\n", file, last, code, secs);
    if (strcmp(last, want) != 0 || code != (want_ok ? 0 : 1)) {
        fprintf(stderr,
                "FAIL: %s: expected '%s' (exit %d), got '%s' (exit "
                "%d)\n",
                file, want, want_ok ? 0 : 1, last, code);
        return 1;
    }
    if (secs > max_s) {
        fprintf(stderr, "FAIL: %s took %.3f s, limit %.1f s\n", file, secs,
                max_s);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    char path[4096], line[1024];
    static char names[MAX_FILES][256];
    size_t n_names = 0, n_checked = 0;
    int fails = 0;
    double max_s;
    FILE *v;
    DIR *d;
    struct dirent *de;
    if (argc != 6) {
        fprintf(stderr, "usage: check_reference CHECKER DIR MODEL FORMAT "
                        "MAX_SECONDS\n");
        return 2;
    }
    max_s = atof(argv[5]);
    snprintf(path, sizeof(path), "%s/verdicts.tsv", argv[2]);
    v = fopen(path, "r");
    if (v == NULL) {
        fprintf(stderr, "FAIL: cannot read %s (is RZ_SHARED_DIR right?)\n",
                path);
        return 1;
    }
    while (fgets(line, sizeof(line), v) != NULL) {
        char *tab = strchr(line, '\t');
        bool want_ok;
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] == '\0') {
            continue;
        }
        if (tab == NULL || n_names == MAX_FILES ||
            strlen(line) >= sizeof(names[0])) {
            fprintf(stderr, "FAIL: bad line in verdicts.tsv: %s\n", line);
            fclose(v);
            return 1;
        }
        *tab = '\0';
        if (strcmp(tab + 1, "linearizable") == 0) {
            want_ok = true;
        } else if (strcmp(tab + 1, "not-linearizable") == 0) {
            want_ok = false;
        } else {
            fprintf(stderr, "FAIL: unknown verdict %s\n", tab + 1);
            fclose(v);
            return 1;
        }
        memcpy(names[n_names++], line, strlen(line) + 1u);
        fails +=
            run_one(argv[1], argv[2], argv[3], argv[4], line, want_ok, max_s);
        n_checked++;
    }
    fclose(v);
    /* Every history in the folder has a verdict. */
    d = opendir(argv[2]);
    if (d == NULL) {
        fprintf(stderr, "FAIL: cannot list %s\n", argv[2]);
        return 1;
    }
    while ((de = readdir(d)) != NULL) {
        bool listed = false;
        if (de->d_name[0] == '.' || strcmp(de->d_name, "verdicts.tsv") == 0 ||
            strcmp(de->d_name, "README.md") == 0) {
            continue;
        }
        for (size_t i = 0; i < n_names; i++) {
            listed = listed || strcmp(names[i], de->d_name) == 0;
        }
        if (!listed) {
            fprintf(stderr, "FAIL: %s has no verdict\n", de->d_name);
            fails++;
        }
    }
    closedir(d);
    printf("%zu histories, %d failures\n", n_checked, fails);
    return fails == 0 && n_checked > 0 ? 0 : 1;
}
