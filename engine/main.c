/*
 * main.c - betrace-engine: options, signals and the loop around engine_step
 * (the work is in engine.c and assemble.c).
 */

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "engine.h"
#include "log.h"

#define ENGINE_VERSION  "0.1.0"
/* longest sleep: keeps the heartbeat (>= 1/s) and counters fresh */
#define MAX_SLEEP_MS    250

static volatile sig_atomic_t  stop_signal;

static void usage(FILE *f);


static void
on_signal(int signo)
{
    stop_signal = signo;
}

static void
bad_option(const char *opt, const char *value, const char *why)
{
    fprintf(stderr, "betrace-engine: invalid %s \"%s\": %s\n"
            "Try 'betrace-engine --help'.\n", opt, value, why);
    exit(2);
}

/* A whole decimal number in [min, max], or exit with a message. */
static uint64_t
parse_num(const char *opt, const char *s, uint64_t min, uint64_t max)
{
    char                *end;
    unsigned long long   v;

    errno = 0;
    v = strtoull(s, &end, 10);
    if (s[0] < '0' || s[0] > '9' || *end != '\0' || errno != 0) {
        bad_option(opt, s, "not a whole number");
    }
    if (v < min || v > max) {
        char  why[96];
        snprintf(why, sizeof(why), "must be between %llu and %llu",
                 (unsigned long long) min, (unsigned long long) max);
        bad_option(opt, s, why);
    }
    return v;
}

/* A size like nginx writes them: 65536, 64k, 64m, 1g. */
static uint64_t
parse_size(const char *opt, const char *s)
{
    char                *end;
    unsigned long long   v;
    unsigned             shift;

    errno = 0;
    v = strtoull(s, &end, 10);
    if (s[0] < '0' || s[0] > '9' || errno != 0) {
        bad_option(opt, s, "not a size (examples: 65536, 64k, 64m, 1g)");
    }

    switch (*end) {
    case '\0':
        shift = 0;
        break;
    case 'k': case 'K':
        shift = 10;
        break;
    case 'm': case 'M':
        shift = 20;
        break;
    case 'g': case 'G':
        shift = 30;
        break;
    default:
        bad_option(opt, s, "not a size (examples: 65536, 64k, 64m, 1g)");
        return 0;
    }
    if (shift && end[1] != '\0') {
        bad_option(opt, s, "not a size (examples: 65536, 64k, 64m, 1g)");
    }
    if (v > (UINT64_MAX >> shift)) {
        bad_option(opt, s, "too large");
    }
    return (uint64_t) v << shift;
}

static void
check_redis(const char *s)
{
    const char  *colon;

    if (strncmp(s, "unix:", 5) == 0) {
        if (s[5] != '/') {
            bad_option("--redis", s, "a unix socket needs an absolute path "
                       "(unix:/path/to/redis.sock)");
        }
        return;
    }
    colon = strrchr(s, ':');
    if (colon == NULL || colon == s || colon[1] == '\0') {
        bad_option("--redis", s, "expected host:port or unix:/path");
    }
    parse_num("--redis port", colon + 1, 1, 65535);
}

static void
usage(FILE *f)
{
    fprintf(f,
"Usage: betrace-engine [OPTIONS]\n"
"\n"
"Reads the span records that nginx (ngx_http_betrace_module) writes into the\n"
"shared segment, assembles them into traces by trace id and completes each\n"
"trace after an idle timeout or a maximum age.  Spans stay in the segment\n"
"until their trace is done, so a restarted engine picks up where it stopped.\n"
"\n"
"Options:\n"
"  --ring PATH            shared segment (default %s)\n"
"  --ring-slots N         producer slots when the engine creates the\n"
"                         segment, 1..256 (default %u); if given, an existing\n"
"                         segment must match\n"
"  --ring-slot-size SIZE  bytes per slot when creating, a power of two\n"
"                         >= 64k, suffixes k m g (default 64m); if given, an\n"
"                         existing segment must match\n"
"  --redis ADDR           Redis, host:port or unix:/path (default: none).\n"
"                         Rules are loaded from it (reloaded within a second\n"
"                         of any change), every completed trace is evaluated\n"
"                         and signals are written to it.  Without it no\n"
"                         rules run.  Redis being down does not stop\n"
"                         ingest: signals wait in a queue and the engine\n"
"                         reconnects\n"
"  --redis-prefix PREFIX  prefix of every Redis key (default \"betrace:\")\n"
"  --signal-queue N       signals waiting for Redis at most, 1..10000000\n"
"                         (default 10000); beyond it they are dropped,\n"
"                         counted (signals_dropped) and logged\n"
"  --retention-signals N  signals kept in Redis, oldest removed first\n"
"                         (default 100000)\n"
"  --retention-age SECONDS  signals older than this are removed and stored\n"
"                         traces expire after it (default 604800, 7 days)\n"
"  --idle-ms N            a trace is complete after N ms without a new span\n"
"                         (default 2000)\n"
"  --max-age-ms N         ... or N ms after its first span (default 30000)\n"
"  --max-spans N          spans held in flight at most; beyond it the oldest\n"
"                         traces are completed early as \"forced\" (default\n"
"                         2000000).  A slot's ring above 75%% full also\n"
"                         forces the oldest traces out\n"
"  --traces-out FILE      append each completed trace to FILE as one JSON\n"
"                         line (default: none)\n"
"  --log-level LEVEL      debug, info, warn or error (default info); the log\n"
"                         goes to stderr\n"
"  --help                 this text\n"
"  --version              the version\n"
"\n"
"SIGTERM or SIGINT: finish the current batch, write pending output and exit\n"
"0; traces still in flight stay in the segment for the next start.\n",
            BT_SHM_DEFAULT_PATH, BT_SHM_DEFAULT_SLOTS);
}

int
main(int argc, char **argv)
{
    static const struct option  opts[] = {
        { "ring",           required_argument, NULL, 'r' },
        { "ring-slots",     required_argument, NULL, 's' },
        { "ring-slot-size", required_argument, NULL, 'z' },
        { "redis",          required_argument, NULL, 'R' },
        { "idle-ms",        required_argument, NULL, 'i' },
        { "max-age-ms",     required_argument, NULL, 'a' },
        { "max-spans",      required_argument, NULL, 'm' },
        { "traces-out",     required_argument, NULL, 'o' },
        { "log-level",      required_argument, NULL, 'l' },
        { "redis-prefix",   required_argument, NULL, 'P' },
        { "signal-queue",   required_argument, NULL, 'q' },
        { "retention-signals", required_argument, NULL, 'n' },
        { "retention-age",  required_argument, NULL, 'g' },
        { "help",           no_argument,       NULL, 'h' },
        { "version",        no_argument,       NULL, 'V' },
        { NULL, 0, NULL, 0 }
    };

    engine_conf_t     conf;
    engine_t         *e;
    struct sigaction  sa;
    char              err[512];
    uint64_t          traces, spans, now;
    int               c, level;

    engine_conf_default(&conf);

    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'r':
            if (optarg[0] == '\0') {
                bad_option("--ring", optarg, "empty path");
            }
            conf.ring = optarg;
            break;
        case 's':
            conf.geo.nslots = (uint32_t) parse_num("--ring-slots", optarg,
                                                   1, 256);
            conf.geo_given = 1;
            break;
        case 'z':
            conf.geo.slot_bytes = parse_size("--ring-slot-size", optarg);
            if (conf.geo.slot_bytes < (64u << 10)
                || (conf.geo.slot_bytes & (conf.geo.slot_bytes - 1)) != 0)
            {
                bad_option("--ring-slot-size", optarg,
                           "must be a power of two of at least 64k");
            }
            conf.geo_given = 1;
            break;
        case 'R':
            check_redis(optarg);
            conf.redis = optarg;
            break;
        case 'i':
            conf.idle_ms = parse_num("--idle-ms", optarg, 1, 86400000);
            break;
        case 'a':
            conf.max_age_ms = parse_num("--max-age-ms", optarg, 1, 86400000);
            break;
        case 'm':
            conf.max_spans = parse_num("--max-spans", optarg, 1,
                                       1000000000);
            break;
        case 'o':
            conf.traces_out = optarg;
            break;
        case 'l':
            level = engine_log_parse_level(optarg);
            if (level < 0) {
                bad_option("--log-level", optarg,
                           "expected debug, info, warn or error");
            }
            engine_log_level = level;
            break;
        case 'P':
            if (optarg[0] == '\0' || strlen(optarg) > 200) {
                bad_option("--redis-prefix", optarg, "must be 1 to 200 "
                           "characters");
            }
            conf.redis_prefix = optarg;
            break;
        case 'q':
            conf.signal_queue = (uint32_t) parse_num("--signal-queue", optarg,
                                                     1, 10000000);
            break;
        case 'n':
            conf.retention_signals = parse_num("--retention-signals", optarg,
                                               1, 1000000000);
            break;
        case 'g':
            conf.retention_age_s = parse_num("--retention-age", optarg, 1,
                                             10ULL * 365 * 86400);
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("betrace-engine %s\n", ENGINE_VERSION);
            return 0;
        default:
            /* getopt_long printed what was wrong */
            fprintf(stderr, "Try 'betrace-engine --help'.\n");
            return 2;
        }
    }

    if (optind < argc) {
        bad_option("argument", argv[optind], "betrace-engine takes no "
                   "arguments, only options");
    }

    /* no SA_RESTART: the signal must cut the futex wait short */
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    engine_log(ENGINE_LOG_INFO, "starting %s: idle %llu ms, max age %llu ms, "
               "max %llu spans in flight, traces out %s, redis %s "
               "(prefix \"%s\", signal queue %u, retention %llu signals, "
               "%llu s)",
               ENGINE_VERSION, (unsigned long long) conf.idle_ms,
               (unsigned long long) conf.max_age_ms,
               (unsigned long long) conf.max_spans,
               conf.traces_out ? conf.traces_out : "(none)",
               conf.redis ? conf.redis : "(none)",
               conf.redis_prefix ? conf.redis_prefix : "betrace:",
               conf.signal_queue ? conf.signal_queue : 10000,
               (unsigned long long) (conf.retention_signals
                                     ? conf.retention_signals : 100000),
               (unsigned long long) (conf.retention_age_s
                                     ? conf.retention_age_s : 604800));

    e = engine_open(&conf, err, sizeof(err));
    if (e == NULL) {
        engine_log(ENGINE_LOG_ERROR, "%s", err);
        return 1;
    }

    while (!stop_signal) {
        now = bt_mono_ms();
        if (engine_step(e, now) == 0 && !stop_signal) {
            engine_wait(e, bt_mono_ms(), MAX_SLEEP_MS);
        }
    }

    engine_log(ENGINE_LOG_INFO, "%s: stopping",
               stop_signal == SIGINT ? "SIGINT" : "SIGTERM");

    engine_close(e, &traces, &spans);

    engine_log(ENGINE_LOG_INFO, "stopped: %llu traces (%llu spans) in flight "
               "stay in the ring for the next start",
               (unsigned long long) traces, (unsigned long long) spans);

    return 0;
}
