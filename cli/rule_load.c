/*
 * rule_load.c - rule files: read, compile, report.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"


bt_rule_t *
bt_cli_rule_load(const char *path, int *rc)
{
    bt_diags_t   diags;
    bt_rule_t   *rule;
    const char  *name;
    char        *src;
    size_t       len, i;

    name = bt_cli_display_name(path);

    if (bt_cli_read_file(path, &src, &len) != 0) {
        fprintf(stderr, "betrace: %s: cannot read: %s\n", name,
                strerror(errno));
        *rc = errno == ENOMEM ? BT_EXIT_INTERNAL : BT_EXIT_RULE;
        return NULL;
    }

    bt_diags_init(&diags);
    rule = bt_rule_compile(src, len, &diags);
    free(src);

    for (i = 0; i < diags.n; i++) {
        bt_diag_print(stderr, &diags.items[i], name);
    }

    if (rule == NULL) {
        /* The compiler records "out of memory" as an error when it can;
         * a NULL with no error at all can only be that. */
        *rc = diags.n_errors ? BT_EXIT_RULE : BT_EXIT_INTERNAL;
        if (diags.n_errors == 0) {
            fprintf(stderr, "betrace: %s: out of memory\n", name);
        }
    }

    bt_diags_free(&diags);
    return rule;
}
