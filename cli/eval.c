/*
 * eval.c - `betrace eval`: evaluate rule files on recorded OTLP traffic,
 * one JSON line per firing.
 *
 * Every trace file is loaded before anything is evaluated, because a
 * trace's spans may be spread over several files (exporters batch by time,
 * not by trace).  Rules go through the same rule-set API as the engine
 * (indexed predicates, one pass per trace), so what fires here fires there.
 */

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "traces.h"


static const char  eval_usage[] =
    "usage: betrace eval --rule FILE [--rule FILE ...] TRACES...\n"
    "\n"
    "Evaluates rules on OTLP trace files and prints one JSON line per\n"
    "(rule, trace) that fires:\n"
    "\n"
    "  {\"rule\": \"NAME\", \"trace_id\": \"HEX\", "
    "\"witnesses\": [[SPAN IDS], ...]}\n"
    "\n"
    "NAME is the rule file's name without directory and extension;\n"
    "witnesses holds, per positive clause (has, sequence) in source order,\n"
    "the span ids that made it true.\n"
    "\n"
    "TRACES are OTLP files: protobuf ExportTraceServiceRequest, or OTLP/JSON\n"
    "with one request per file or one per line; the format is detected\n"
    "from the content, - reads standard input.  Spans are grouped into\n"
    "traces by trace id across all files.  Traces are reported in the order\n"
    "their first span appears, rules in command-line order.\n"
    "\n"
    "options:\n"
    "  -r, --rule FILE   a rule file (repeatable, at least one; also\n"
    "                    --rule=FILE; - reads it from standard input)\n"
    "  --                the rest are trace files\n"
    "  -h, --help        this text\n"
    "\n"
    "exit status: 0 done (whether or not anything fired), 1 a rule does\n"
    "not compile (diagnostics on stderr, nothing evaluated), 2 a trace file\n"
    "is unreadable or not valid OTLP, 3 bad command line, 4 internal error.\n";


typedef struct {
    char                  name[256];
    bt_rule_t            *rule;
} eval_rule_t;

typedef struct {
    const bt_trace_t     *trace;
    const char           *trace_hex;
    int                   failed;
} eval_out_t;


static int eval_add_rule(eval_rule_t *r, const char *path, int *rc);
static int eval_fire(void *arg, uint32_t index, void *user,
    const bt_witness_t *w);


int
bt_cli_eval(int argc, char **argv)
{
    bt_cli_traces_t   ts;
    bt_cli_trace_t   *ct;
    bt_ruleset_t     *set;
    bt_eval_ctx_t    *ctx;
    bt_trace_t        trace;
    eval_rule_t      *rules;
    eval_out_t        out;
    const char      **files;
    size_t            nrules, nfiles, i, j;
    char              hex[33];
    int               k, rc, only_files;

    rules = calloc((size_t) argc, sizeof(eval_rule_t));
    files = calloc((size_t) argc, sizeof(char *));
    if (rules == NULL || files == NULL) {
        free(rules);
        free(files);
        fprintf(stderr, "betrace: out of memory\n");
        return BT_EXIT_INTERNAL;
    }

    nrules = 0;
    nfiles = 0;
    only_files = 0;
    set = NULL;
    ctx = NULL;
    bt_cli_traces_init(&ts);
    bt_trace_init(&trace);
    rc = BT_EXIT_OK;

    for (k = 1; k < argc; k++) {
        if (!only_files && strcmp(argv[k], "--") == 0) {
            only_files = 1;

        } else if (!only_files && (strcmp(argv[k], "-h") == 0
                                   || strcmp(argv[k], "--help") == 0))
        {
            fputs(eval_usage, stdout);
            goto done;

        } else if (!only_files && (strcmp(argv[k], "-r") == 0
                                   || strcmp(argv[k], "--rule") == 0))
        {
            if (k + 1 == argc) {
                fprintf(stderr, "betrace eval: %s needs a file\n\n%s",
                        argv[k], eval_usage);
                rc = BT_EXIT_USAGE;
                goto done;
            }
            if (eval_add_rule(&rules[nrules], argv[++k], &rc) == 0) {
                nrules++;
            }

        } else if (!only_files && strncmp(argv[k], "--rule=", 7) == 0) {
            if (eval_add_rule(&rules[nrules], argv[k] + 7, &rc) == 0) {
                nrules++;
            }

        } else if (!only_files && argv[k][0] == '-' && argv[k][1] != '\0') {
            fprintf(stderr, "betrace eval: unknown option '%s'\n\n%s",
                    argv[k], eval_usage);
            rc = BT_EXIT_USAGE;
            goto done;

        } else {
            files[nfiles++] = argv[k];
        }
    }

    /* Every rule was compiled, so the user sees all the broken ones. */
    if (rc != BT_EXIT_OK) {
        goto done;
    }

    if (nrules == 0 || nfiles == 0) {
        fprintf(stderr, "betrace eval: %s\n\n%s",
                nrules == 0 ? "no --rule given" : "no trace files given",
                eval_usage);
        rc = BT_EXIT_USAGE;
        goto done;
    }

    set = bt_ruleset_new();
    ctx = bt_eval_ctx_new();
    if (set == NULL || ctx == NULL) {
        goto nomem;
    }

    for (i = 0; i < nrules; i++) {
        if (bt_ruleset_add(set, rules[i].rule, &rules[i]) < 0) {
            goto nomem;
        }
    }

    if (bt_ruleset_build(set) != 0) {
        goto nomem;
    }

    for (i = 0; i < nfiles; i++) {
        rc = bt_cli_traces_load(&ts, files[i]);
        if (rc != BT_EXIT_OK) {
            goto done;
        }
    }

    for (i = 0; i < ts.ntraces; i++) {
        ct = &ts.traces[i];
        bt_trace_reset(&trace);

        for (j = 0; j < ct->n; j++) {
            if (bt_trace_add(&trace, &ct->spans[j]) != 0) {
                goto nomem;
            }
        }

        if (bt_trace_link(&trace) != 0) {
            goto nomem;
        }

        *bt_hex(hex, ct->id, 16) = '\0';
        out.trace = &trace;
        out.trace_hex = hex;
        out.failed = 0;

        if (bt_ruleset_eval(set, &trace, ctx, eval_fire, &out) < 0) {
            goto nomem;
        }

        if (out.failed) {
            fprintf(stderr, "betrace: cannot write the output\n");
            rc = BT_EXIT_INTERNAL;
            goto done;
        }
    }

    if (fflush(stdout) != 0) {
        fprintf(stderr, "betrace: cannot write the output\n");
        rc = BT_EXIT_INTERNAL;
    }

    goto done;

nomem:

    fprintf(stderr, "betrace: out of memory\n");
    rc = BT_EXIT_INTERNAL;

done:

    bt_ruleset_free(set);
    bt_eval_ctx_free(ctx);
    bt_trace_free(&trace);
    bt_cli_traces_free(&ts);

    for (i = 0; i < nrules; i++) {
        bt_rule_free(rules[i].rule);
    }

    free(rules);
    free(files);
    return rc;
}


/*
 * Compiles one rule file into r, printing its diagnostics.  Returns 0, or
 * -1 after raising *rc (a compile error does not hide a later out of
 * memory).
 */
static int
eval_add_rule(eval_rule_t *r, const char *path, int *rc)
{
    int  err;

    bt_cli_rule_name(path, r->name, sizeof(r->name));

    r->rule = bt_cli_rule_load(path, &err);
    if (r->rule == NULL) {
        if (err > *rc) {
            *rc = err;
        }
        return -1;
    }

    return 0;
}


/* One firing: one JSON line.  Stops the trace on a write error. */
static int
eval_fire(void *arg, uint32_t index, void *user, const bt_witness_t *w)
{
    eval_out_t   *out = arg;
    eval_rule_t  *rule = user;
    json_t       *o, *groups, *ids;
    uint32_t      c, i, s;
    char          hex[17];

    o = json_object();
    groups = json_array();

    if (o == NULL || groups == NULL
        || json_object_set_new(o, "rule", json_string(rule->name)) != 0
        || json_object_set_new(o, "trace_id", json_string(out->trace_hex))
           != 0
        || json_object_set(o, "witnesses", groups) != 0)
    {
        goto failed;
    }

    for (c = 0; c < w->nclauses; c++) {
        ids = json_array();
        if (json_array_append_new(groups, ids) != 0) {
            goto failed;
        }

        for (i = w->off[c]; i < w->off[c + 1]; i++) {
            s = w->spans[i];
            *bt_hex(hex, out->trace->spans[s].s.span_id, 8) = '\0';
            if (json_array_append_new(ids, json_string(hex)) != 0) {
                goto failed;
            }
        }
    }

    /* Default separators (", " and ": ") on one line, keys in insertion
     * order: the format --help and docs/dsl.md show. */
    if (json_dumpf(o, stdout, JSON_PRESERVE_ORDER) != 0
        || fputc('\n', stdout) == EOF)
    {
        goto failed;
    }

    json_decref(groups);
    json_decref(o);
    return 0;

failed:

    json_decref(groups);
    json_decref(o);
    out->failed = 1;
    return 1;
}
