/*
 * diag.c - diagnostics: positions in characters, the source line with a
 * caret under the offending range, text and JSON forms.
 */

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"


/* UTF-8 continuation bytes don't start a character, so they don't count. */
static int
is_cont(unsigned char c)
{
    return (c & 0xc0) == 0x80;
}


/*
 * Replaces bytes that are not valid UTF-8 by '?' in place, so the
 * message and source line can always go into JSON (a rule's source and
 * its string literals come from users).
 */
static void
utf8_clean(char *s)
{
    unsigned char  *p, lo, hi;
    int             n, i;

    p = (unsigned char *) s;
    while (*p) {
        if (*p < 0x80) {
            p++;
            continue;
        }

        /* RFC 3629: no overlongs, no surrogates, nothing past U+10FFFF */
        lo = 0x80;
        hi = 0xbf;
        if (*p >= 0xc2 && *p <= 0xdf) {
            n = 1;
        } else if (*p >= 0xe0 && *p <= 0xef) {
            n = 2;
            lo = *p == 0xe0 ? 0xa0 : 0x80;
            hi = *p == 0xed ? 0x9f : 0xbf;
        } else if (*p >= 0xf0 && *p <= 0xf4) {
            n = 3;
            lo = *p == 0xf0 ? 0x90 : 0x80;
            hi = *p == 0xf4 ? 0x8f : 0xbf;
        } else {
            n = -1;
        }

        for (i = 1; n > 0 && i <= n; i++) {
            if (p[i] < (i == 1 ? lo : 0x80) || p[i] > (i == 1 ? hi : 0xbf)) {
                n = -1;
            }
        }
        if (n < 0) {
            *p++ = '?';
            continue;
        }
        p += n + 1;
    }
}


void
bt_diag_linecol(const char *src, size_t len, uint32_t off,
    uint32_t *line, uint32_t *col)
{
    uint32_t  i, l, c;

    if (off > len) {
        off = (uint32_t) len;
    }

    l = 1;
    c = 1;
    for (i = 0; i < off; i++) {
        if (src[i] == '\n') {
            l++;
            c = 1;
        } else if (!is_cont((unsigned char) src[i])) {
            c++;
        }
    }
    *line = l;
    *col = c;
}


int
bt_diag_add(bt_diags_t *diags, const char *src, size_t len,
    bt_diag_severity_t sev, uint32_t start, uint32_t end,
    const char *fmt, ...)
{
    va_list     ap;
    bt_diag_t   d, *items;
    uint32_t    ls, le, i, stop;
    size_t      cap, k;
    int         n;

    if (diags == NULL) {
        return 0;
    }

    if (start > len) {
        start = (uint32_t) len;
    }
    if (end < start) {
        end = start;
    }
    if (end > len) {
        end = (uint32_t) len;
    }

    memset(&d, 0, sizeof(d));
    d.severity = sev;
    d.offset = start;
    d.end_offset = end;
    bt_diag_linecol(src, len, start, &d.line, &d.col);
    bt_diag_linecol(src, len, end, &d.end_line, &d.end_col);

    va_start(ap, fmt);
    n = vasprintf(&d.message, fmt, ap);
    va_end(ap);
    if (n < 0) {
        return -1;
    }

    /* the line holding start */
    ls = start;
    while (ls > 0 && src[ls - 1] != '\n') {
        ls--;
    }
    le = start;
    while (le < len && src[le] != '\n') {
        le++;
    }
    if (le > ls && src[le - 1] == '\r') {
        le--;
    }

    d.source_line = strndup(src + ls, le - ls);
    if (d.source_line != NULL) {
        utf8_clean(d.source_line);
    }
    utf8_clean(d.message);
    /* one caret char per source character, tabs kept so columns line up */
    d.caret = malloc((size_t) (le - ls) + 2);
    if (d.source_line == NULL || d.caret == NULL) {
        goto failed;
    }

    k = 0;
    for (i = ls; i < start && i < le; i++) {
        if (is_cont((unsigned char) src[i])) {
            continue;
        }
        d.caret[k++] = src[i] == '\t' ? '\t' : ' ';
    }
    d.caret[k++] = '^';
    stop = end < le ? end : le;
    for (i = start + 1; i < stop; i++) {
        if (!is_cont((unsigned char) src[i])) {
            d.caret[k++] = '~';
        }
    }
    d.caret[k] = '\0';

    if (diags->n == diags->cap) {
        cap = diags->cap ? diags->cap * 2 : 4;
        items = realloc(diags->items, cap * sizeof(bt_diag_t));
        if (items == NULL) {
            goto failed;
        }
        diags->items = items;
        diags->cap = cap;
    }

    diags->items[diags->n++] = d;
    if (sev == BT_DIAG_ERROR) {
        diags->n_errors++;
    } else {
        diags->n_warnings++;
    }
    return 0;

failed:
    free(d.message);
    free(d.source_line);
    free(d.caret);
    return -1;
}


void
bt_diags_init(bt_diags_t *d)
{
    memset(d, 0, sizeof(*d));
}


void
bt_diags_clear(bt_diags_t *d)
{
    size_t  i;

    for (i = 0; i < d->n; i++) {
        free(d->items[i].message);
        free(d->items[i].source_line);
        free(d->items[i].caret);
    }
    free(d->items);
    memset(d, 0, sizeof(*d));
}


void
bt_diags_free(bt_diags_t *d)
{
    bt_diags_clear(d);
}


char *
bt_diag_format(const bt_diag_t *diag, const char *name)
{
    char  *s;

    if (asprintf(&s, "%s:%u:%u: %s: %s\n%s\n%s\n", name ? name : "rule",
                 diag->line, diag->col,
                 diag->severity == BT_DIAG_ERROR ? "error" : "warning",
                 diag->message, diag->source_line, diag->caret) < 0)
    {
        return NULL;
    }
    return s;
}


int
bt_diag_print(FILE *fp, const bt_diag_t *diag, const char *name)
{
    char  *s;
    int    rc;

    s = bt_diag_format(diag, name);
    if (s == NULL) {
        return -1;
    }
    rc = fputs(s, fp) < 0 ? -1 : 0;
    free(s);
    return rc;
}


json_t *
bt_diag_json(const bt_diag_t *diag)
{
    return json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:s, s:s, s:s}",
                     "severity",
                     diag->severity == BT_DIAG_ERROR ? "error" : "warning",
                     "line", (json_int_t) diag->line,
                     "column", (json_int_t) diag->col,
                     "end_line", (json_int_t) diag->end_line,
                     "end_column", (json_int_t) diag->end_col,
                     "offset", (json_int_t) diag->offset,
                     "end_offset", (json_int_t) diag->end_offset,
                     "message", diag->message,
                     "source_line", diag->source_line,
                     "caret", diag->caret);
}


json_t *
bt_diags_json(const bt_diags_t *diags)
{
    json_t  *a, *o;
    size_t   i;

    a = json_array();
    if (a == NULL) {
        return NULL;
    }

    for (i = 0; i < diags->n; i++) {
        o = bt_diag_json(&diags->items[i]);
        if (o == NULL || json_array_append_new(a, o) != 0) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}
