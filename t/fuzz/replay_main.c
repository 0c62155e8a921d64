/*
 * replay_main.c - a main() for fuzz targets without libFuzzer: feeds every
 * file named on the command line (directories are walked, recursively) to
 * LLVMFuzzerTestOneInput once.  The test run uses it to replay the corpus,
 * so every committed input keeps being checked by a plain build.
 *
 * Exits 0 when every input ran (a target reports a failure by aborting),
 * 1 when a path can't be read, 2 without arguments.
 */

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int  inputs;


/* Runs one file; returns 0, or -1 if it can't be read. */
static int
run_file(const char *path, off_t size)
{
    FILE     *f;
    uint8_t  *buf;
    size_t    n;

    f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "replay: can't open %s\n", path);
        return -1;
    }

    /* an exact-size copy, so ASan sees reads past the end of the input */
    buf = malloc(size > 0 ? (size_t) size : 1);
    if (buf == NULL) {
        fclose(f);
        return -1;
    }
    n = fread(buf, 1, (size_t) size, f);
    fclose(f);

    if (n != (size_t) size) {
        fprintf(stderr, "replay: short read on %s\n", path);
        free(buf);
        return -1;
    }

    LLVMFuzzerTestOneInput(buf, n);
    free(buf);
    inputs++;
    return 0;
}


static int
run_path(const char *path)
{
    struct stat     st;
    DIR            *d;
    struct dirent  *e;
    char            sub[4096];
    int             rc = 0;

    if (stat(path, &st) != 0) {
        fprintf(stderr, "replay: can't stat %s\n", path);
        return -1;
    }

    if (!S_ISDIR(st.st_mode)) {
        return run_file(path, st.st_size);
    }

    d = opendir(path);
    if (d == NULL) {
        fprintf(stderr, "replay: can't open directory %s\n", path);
        return -1;
    }
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') {
            continue;
        }
        snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
        if (run_path(sub) != 0) {
            rc = -1;
        }
    }
    closedir(d);

    return rc;
}


int
main(int argc, char **argv)
{
    int  i, rc = 0;

    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE|DIR...\n", argv[0]);
        return 2;
    }

    for (i = 1; i < argc; i++) {
        if (run_path(argv[i]) != 0) {
            rc = 1;
        }
    }

    printf("replay: %d inputs\n", inputs);
    return rc;
}
