/*
 * cli.h - shared pieces of `betrace`, the offline rule checker and
 * evaluator.  main.c dispatches to one file per subcommand (check.c,
 * eval.c); the helpers they share live in files named by what they do
 * (cli_file.c: reading inputs, rule_load.c: compiling a rule file and
 * printing its diagnostics, traces_load.c: OTLP files to span batches).
 *
 * Exit codes are part of the interface (scripts and CI jobs test them), so
 * they are named once here and documented in `betrace --help`.
 */

#ifndef BT_CLI_H
#define BT_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "dsl/bt_dsl.h"

#define BT_CLI_VERSION      "0.1.0"

#define BT_EXIT_OK          0   /* done; for eval, whether or not rules fired */
#define BT_EXIT_RULE        1   /* a rule file does not compile */
#define BT_EXIT_TRACES      2   /* a trace file is unreadable or malformed */
#define BT_EXIT_USAGE       3   /* bad command line */
#define BT_EXIT_INTERNAL    4   /* out of memory, write error */

int bt_cli_check(int argc, char **argv);
int bt_cli_eval(int argc, char **argv);

/*
 * Reads a whole file ("-" means stdin) into a malloc'ed buffer with a NUL
 * after the last byte (so text parsers may rely on it).  Returns 0 and sets
 * *buf and *len; on failure returns -1 with errno set and *buf untouched.
 */
int bt_cli_read_file(const char *path, char **buf, size_t *len);

/*
 * The name a diagnostic uses for a path: "<stdin>" for "-", else the path
 * as given.  This function can't fail.
 */
const char *bt_cli_display_name(const char *path);

/*
 * The rule name the eval output uses: the file's base name without its last
 * extension ("rules/pii.btr" -> "pii").  Writes at most size - 1 bytes and
 * a NUL into out; returns out.  This function can't fail.
 */
char *bt_cli_rule_name(const char *path, char *out, size_t size);

/*
 * Reads and compiles one rule file ("-" is stdin), printing every
 * diagnostic to stderr as FILE:LINE:COL: severity: message, the source line
 * and a caret.  Returns the rule (the caller frees it with bt_rule_free),
 * or NULL with *rc set to BT_EXIT_RULE (unreadable file or compile errors)
 * or BT_EXIT_INTERNAL (out of memory).
 */
bt_rule_t *bt_cli_rule_load(const char *path, int *rc);

#endif /* BT_CLI_H */
