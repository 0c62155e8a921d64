/*
 * cli_file.c - input files and names for the `betrace` command line.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"


int
bt_cli_read_file(const char *path, char **buf, size_t *len)
{
    FILE    *f;
    char    *p, *np;
    size_t   n, cap, got;
    int      err;

    if (strcmp(path, "-") == 0) {
        f = stdin;

    } else {
        f = fopen(path, "rb");
        if (f == NULL) {
            return -1;
        }
    }

    /* Grow by doubling rather than trusting fstat: stdin and pipes have no
     * size, and one code path for both keeps the error handling simple. */
    cap = 64 * 1024;
    n = 0;
    p = malloc(cap + 1);
    if (p == NULL) {
        err = ENOMEM;
        goto failed;
    }

    for ( ;; ) {
        got = fread(p + n, 1, cap - n, f);
        n += got;

        if (n < cap) {
            if (ferror(f)) {
                err = errno ? errno : EIO;
                free(p);
                goto failed;
            }
            break;
        }

        cap *= 2;
        np = realloc(p, cap + 1);
        if (np == NULL) {
            free(p);
            err = ENOMEM;
            goto failed;
        }
        p = np;
    }

    if (f != stdin) {
        fclose(f);
    }

    p[n] = '\0';
    *buf = p;
    *len = n;
    return 0;

failed:

    if (f != stdin) {
        fclose(f);
    }
    errno = err;
    return -1;
}


const char *
bt_cli_display_name(const char *path)
{
    return strcmp(path, "-") == 0 ? "<stdin>" : path;
}


char *
bt_cli_rule_name(const char *path, char *out, size_t size)
{
    const char  *base, *dot;
    size_t       n;

    if (strcmp(path, "-") == 0) {
        path = "stdin";
    }

    base = strrchr(path, '/');
    base = base ? base + 1 : path;

    /* A leading dot is part of the name (".hidden" stays ".hidden"). */
    dot = strrchr(base, '.');
    n = (dot && dot != base) ? (size_t) (dot - base) : strlen(base);

    if (n >= size) {
        n = size - 1;
    }

    memcpy(out, base, n);
    out[n] = '\0';
    return out;
}

