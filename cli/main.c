/*
 * main.c - `betrace`: test BeTraceDSL rules before deploying them
 * (`check`) and backtest them on recorded OTLP traffic (`eval`).
 *
 * This file only dispatches; each subcommand lives in its own file.
 */

#include <string.h>

#include "cli.h"


static const char  usage[] =
    "usage: betrace <command> [options] [args]\n"
    "\n"
    "Test BeTraceDSL rules offline, with the same compiler and evaluator\n"
    "as betrace-engine.\n"
    "\n"
    "commands:\n"
    "  check FILE|-              compile a rule and print its diagnostics\n"
    "  eval --rule FILE... TRACES...\n"
    "                            evaluate rules on OTLP trace files and\n"
    "                            print one JSON line per firing\n"
    "\n"
    "options:\n"
    "  -h, --help                this text (`betrace <command> --help` for\n"
    "                            a command's own)\n"
    "  -V, --version             print the version\n"
    "\n"
    "exit status:\n"
    "  0  success (eval: whether or not any rule fired)\n"
    "  1  a rule does not compile (diagnostics on stderr)\n"
    "  2  a trace file is unreadable or malformed\n"
    "  3  bad command line\n"
    "  4  internal error (out of memory, cannot write output)\n";


int
main(int argc, char **argv)
{
    const char  *cmd;

    if (argc < 2) {
        fputs(usage, stderr);
        return BT_EXIT_USAGE;
    }

    cmd = argv[1];

    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0
        || strcmp(cmd, "help") == 0)
    {
        fputs(usage, stdout);
        return BT_EXIT_OK;
    }

    if (strcmp(cmd, "-V") == 0 || strcmp(cmd, "--version") == 0) {
        printf("betrace %s\n", BT_CLI_VERSION);
        return BT_EXIT_OK;
    }

    /* Subcommands see their own name as argv[0], like a program would. */
    if (strcmp(cmd, "check") == 0) {
        return bt_cli_check(argc - 1, argv + 1);
    }

    if (strcmp(cmd, "eval") == 0) {
        return bt_cli_eval(argc - 1, argv + 1);
    }

    fprintf(stderr, "betrace: unknown command '%s'\n\n%s", cmd, usage);
    return BT_EXIT_USAGE;
}
