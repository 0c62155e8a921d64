/*
 * diag.h - internal: recording diagnostics against a rule's source.
 * The public side (bt_diag_t, formatting, JSON) is in bt_dsl.h.
 */

#ifndef BT_DSL_DIAG_H
#define BT_DSL_DIAG_H

#include "bt_dsl.h"

/*
 * Appends a diagnostic for the byte range [start, end) of src, computing
 * line, column (in characters), the source line and the caret line.
 * diags may be NULL (then only the error count matters to the caller and
 * nothing is stored).  Returns 0, or -1 when out of memory (the list is
 * unchanged).
 */
int bt_diag_add(bt_diags_t *diags, const char *src, size_t len,
    bt_diag_severity_t sev, uint32_t start, uint32_t end,
    const char *fmt, ...) __attribute__((format(printf, 7, 8)));

/* 1-based line and character column of byte offset off; can't fail. */
void bt_diag_linecol(const char *src, size_t len, uint32_t off,
    uint32_t *line, uint32_t *col);

#endif /* BT_DSL_DIAG_H */
