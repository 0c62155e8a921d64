/*
 * check.c - `betrace check`: compile one rule and report its diagnostics,
 * as text on stderr or as one JSON object on stdout.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"


static const char  check_usage[] =
    "usage: betrace check [--json] FILE|-\n"
    "\n"
    "Compiles one BeTraceDSL rule (- reads it from standard input, named\n"
    "<stdin> in messages) and prints its diagnostics:\n"
    "\n"
    "  FILE:LINE:COL: error: MESSAGE        the rule is refused\n"
    "  FILE:LINE:COL: warning: MESSAGE      the rule is accepted\n"
    "\n"
    "each followed by the source line and a caret under the spot.\n"
    "\n"
    "options:\n"
    "  --json       print {\"file\", \"ok\", \"errors\", \"warnings\",\n"
    "               \"diagnostics\": [...]} on stdout instead\n"
    "  -h, --help   this text\n"
    "\n"
    "exit status: 0 the rule compiles (possibly with warnings), 1 it does\n"
    "not or the file can't be read, 3 bad command line, 4 out of memory.\n";


static int check_json(const char *name, const bt_diags_t *diags, int ok,
    const char *read_error);


int
bt_cli_check(int argc, char **argv)
{
    bt_diags_t   diags;
    bt_rule_t   *rule;
    const char  *path, *name;
    char        *src;
    size_t       len, i;
    int          json, k, rc, only_files;

    json = 0;
    path = NULL;
    only_files = 0;

    for (k = 1; k < argc; k++) {
        if (!only_files && strcmp(argv[k], "--") == 0) {
            only_files = 1;

        } else if (!only_files && (strcmp(argv[k], "-h") == 0
                                   || strcmp(argv[k], "--help") == 0))
        {
            fputs(check_usage, stdout);
            return BT_EXIT_OK;

        } else if (!only_files && strcmp(argv[k], "--json") == 0) {
            json = 1;

        } else if (!only_files && argv[k][0] == '-' && argv[k][1] != '\0') {
            fprintf(stderr, "betrace check: unknown option '%s'\n\n%s",
                    argv[k], check_usage);
            return BT_EXIT_USAGE;

        } else if (path == NULL) {
            path = argv[k];

        } else {
            fprintf(stderr, "betrace check: one rule file at a time\n\n%s",
                    check_usage);
            return BT_EXIT_USAGE;
        }
    }

    if (path == NULL) {
        fprintf(stderr, "betrace check: no rule file\n\n%s", check_usage);
        return BT_EXIT_USAGE;
    }

    name = bt_cli_display_name(path);

    if (bt_cli_read_file(path, &src, &len) != 0) {
        if (json) {
            return check_json(name, NULL, 0, strerror(errno));
        }
        fprintf(stderr, "betrace: %s: cannot read: %s\n", name,
                strerror(errno));
        return BT_EXIT_RULE;
    }

    bt_diags_init(&diags);
    rule = bt_rule_compile(src, len, &diags);
    free(src);

    if (rule == NULL && diags.n_errors == 0) {
        bt_diags_free(&diags);
        fprintf(stderr, "betrace: %s: out of memory\n", name);
        return BT_EXIT_INTERNAL;
    }

    if (json) {
        rc = check_json(name, &diags, rule != NULL, NULL);

    } else {
        rc = rule ? BT_EXIT_OK : BT_EXIT_RULE;
        for (i = 0; i < diags.n; i++) {
            if (bt_diag_print(stderr, &diags.items[i], name) != 0) {
                rc = BT_EXIT_INTERNAL;
            }
        }
    }

    bt_rule_free(rule);
    bt_diags_free(&diags);
    return rc;
}


/*
 * Prints the JSON report; diags is NULL when the file could not be read
 * (read_error says why).  Returns the exit code.
 */
static int
check_json(const char *name, const bt_diags_t *diags, int ok,
    const char *read_error)
{
    json_t  *o, *list;
    int      rc;

    o = json_object();
    if (o == NULL) {
        return BT_EXIT_INTERNAL;
    }

    list = diags ? bt_diags_json(diags) : json_array();

    rc = (list == NULL
          || json_object_set_new(o, "file", json_string(name)) != 0
          || json_object_set_new(o, "ok", json_boolean(ok)) != 0
          || json_object_set_new(o, "errors",
                 json_integer(diags ? (json_int_t) diags->n_errors : 1)) != 0
          || json_object_set_new(o, "warnings",
                 json_integer(diags ? (json_int_t) diags->n_warnings : 0))
             != 0
          || json_object_set_new(o, "diagnostics", list) != 0
          || (read_error
              && json_object_set_new(o, "error",
                     json_sprintf("cannot read: %s", read_error)) != 0));

    if (rc != 0 || json_dumpf(o, stdout, JSON_PRESERVE_ORDER) != 0
        || fputc('\n', stdout) == EOF)
    {
        json_decref(o);
        fprintf(stderr, "betrace: cannot write the JSON report\n");
        return BT_EXIT_INTERNAL;
    }

    json_decref(o);
    return ok ? BT_EXIT_OK : BT_EXIT_RULE;
}
