/*
 * test_engine_cli.c - the betrace-engine program itself: --help and
 * --version, clear refusals of bad options and of a mismatched segment,
 * ~0 CPU when idle, and SIGTERM / SIGKILL with traces in flight: exit 0
 * (for SIGTERM), the spans stay in the ring, and the next start completes
 * them.
 *
 * Runs build/betrace-engine (under $BETRACE_ROOT, else the current
 * directory; $BETRACE_BUILD names another build directory) in a temporary
 * directory; the test is the producer.
 */

#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "shm/bt_ring.h"
#include "t/lib/span_build.h"

static char  dir[64];
static char  ring[128];
static char  bin[512];
static char  log_path[128];

static void
setup(void)
{
    const char  *root = getenv("BETRACE_ROOT");
    const char  *build = getenv("BETRACE_BUILD");

    /* BETRACE_BUILD: another build dir (a sanitizer build), like the
       harness; relative to the root unless absolute */
    if (build && build[0] == '/') {
        snprintf(bin, sizeof(bin), "%s/betrace-engine", build);
    } else {
        snprintf(bin, sizeof(bin), "%s/%s/betrace-engine", root ? root : ".",
                 build ? build : "build");
    }
    cr_assert_eq(access(bin, X_OK), 0, "%s is missing", bin);

    strcpy(dir, "/tmp/bt-engcli-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(ring, sizeof(ring), "%s/ring", dir);
    snprintf(log_path, sizeof(log_path), "%s/engine.log", dir);
}

static void
teardown(void)
{
    char  cmd[128];

    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0) {
        /* leftovers in /tmp only */
    }
}

TestSuite(engine_cli, .init = setup, .fini = teardown, .timeout = 30);

/* Starts bin with args (NULL-ended); stdout and stderr go to out. */
static pid_t
spawn(const char *out, const char *const *args)
{
    const char  *argv[32];
    pid_t        pid;
    int          fd, n;

    argv[0] = bin;
    for (n = 1; args[n - 1]; n++) {
        argv[n] = args[n - 1];
    }
    argv[n] = NULL;

    pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        fd = open(out, O_WRONLY | O_CREAT | O_APPEND, 0644);
        dup2(fd, 1);
        dup2(fd, 2);
        execv(bin, (char *const *) argv);
        _exit(127);
    }
    return pid;
}

static int
wait_exit(pid_t pid)
{
    int  st;

    cr_assert_eq(waitpid(pid, &st, 0), pid);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Runs to completion; returns the exit status, output in log_path. */
static int
run(const char *const *args)
{
    unlink(log_path);
    return wait_exit(spawn(log_path, args));
}

static char *
slurp(const char *path)
{
    static char  buf[65536];
    FILE        *f;
    size_t       n;

    f = fopen(path, "r");
    if (f == NULL) {
        buf[0] = '\0';
        return buf;
    }
    n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

#define ARGS(...)  ((const char *const []) { __VA_ARGS__, NULL })

static void
sleep_ms(int ms)
{
    struct timespec  ts = { ms / 1000, (long) (ms % 1000) * 1000000 };

    nanosleep(&ts, NULL);
}

/* Waits until the segment names pid as its engine. */
static void
wait_registered(pid_t pid)
{
    bt_shm_t  *shm;
    char       err[256];
    int        i;

    for (i = 0; i < 1000; i++) {
        shm = bt_shm_open(ring, NULL, err, sizeof(err));
        if (shm) {
            if (__atomic_load_n(&bt_shm_engine_stats(shm)->pid,
                                __ATOMIC_ACQUIRE) == (uint64_t) pid)
            {
                bt_shm_close(shm);
                return;
            }
            bt_shm_close(shm);
        }
        sleep_ms(10);
    }
    cr_assert_fail("engine %d did not register: %s", (int) pid, slurp(log_path));
}


Test(engine_cli, help_documents_every_option_with_its_default)
{
    const char  *out;

    cr_assert_eq(run(ARGS("--help")), 0);
    out = slurp(log_path);

    cr_assert(strstr(out, "--ring PATH") && strstr(out, BT_SHM_DEFAULT_PATH));
    cr_assert(strstr(out, "--ring-slots N") && strstr(out, "(default 8)"));
    cr_assert(strstr(out, "--ring-slot-size SIZE")
              && strstr(out, "(default 64m)"));
    cr_assert(strstr(out, "--redis ADDR"));
    cr_assert(strstr(out, "--idle-ms N") && strstr(out, "(default 2000)"));
    cr_assert(strstr(out, "--max-age-ms N") && strstr(out, "(default 30000)"));
    cr_assert(strstr(out, "--max-spans N") && strstr(out, "2000000)"));
    cr_assert(strstr(out, "--traces-out FILE"));
    cr_assert(strstr(out, "--log-level LEVEL")
              && strstr(out, "(default info)"));
    cr_assert(strstr(out, "--version"));

    cr_assert_eq(run(ARGS("--version")), 0);
    cr_assert(strncmp(slurp(log_path), "betrace-engine ", 15) == 0);
}

Test(engine_cli, refuses_bad_options_naming_the_value)
{
    static const struct {
        const char  *opt, *val, *msg;
    } bad[] = {
        { "--idle-ms", "abc", "invalid --idle-ms \"abc\": not a whole number" },
        { "--idle-ms", "0", "invalid --idle-ms \"0\": must be between" },
        { "--max-spans", "-5", "invalid --max-spans \"-5\"" },
        { "--ring-slots", "300", "invalid --ring-slots \"300\"" },
        { "--ring-slot-size", "3m", "must be a power of two of at least 64k" },
        { "--ring-slot-size", "12q", "not a size" },
        { "--log-level", "loud", "expected debug, info, warn or error" },
        { "--redis", "nocolon", "expected host:port or unix:/path" },
    };
    size_t  i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_eq(run(ARGS(bad[i].opt, bad[i].val, "--ring", ring)), 2,
                     "%s %s", bad[i].opt, bad[i].val);
        cr_assert_not_null(strstr(slurp(log_path), bad[i].msg),
                           "%s %s: %s", bad[i].opt, bad[i].val,
                           slurp(log_path));
    }

    cr_assert_eq(run(ARGS("--bogus")), 2);
    cr_assert_eq(access(ring, F_OK), -1, "no segment created on bad options");
}

Test(engine_cli, refuses_a_segment_of_another_geometry)
{
    pid_t  pid;

    pid = spawn(log_path, ARGS("--ring", ring, "--ring-slots", "2",
                               "--ring-slot-size", "1m"));
    wait_registered(pid);
    kill(pid, SIGTERM);
    cr_assert_eq(wait_exit(pid), 0);

    cr_assert_eq(run(ARGS("--ring", ring, "--ring-slots", "4",
                          "--ring-slot-size", "1m")), 1);
    cr_assert_not_null(strstr(slurp(log_path), ring),
                       "the message names the segment: %s", slurp(log_path));
    cr_assert_not_null(strstr(slurp(log_path), " error betrace-engine: "));
}

Test(engine_cli, sleeps_when_idle)
{
    char    path[64];
    pid_t   pid;
    long    ut, st;
    FILE   *f;

    pid = spawn(log_path, ARGS("--ring", ring, "--ring-slots", "2",
                               "--ring-slot-size", "1m", "--idle-ms", "50"));
    wait_registered(pid);
    sleep_ms(1500);

    snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
    f = fopen(path, "r");
    cr_assert_not_null(f);
    cr_assert_eq(fscanf(f, "%*d %*s %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u "
                        "%*u %ld %ld", &ut, &st), 2);
    fclose(f);

    kill(pid, SIGTERM);
    cr_assert_eq(wait_exit(pid), 0);
    /* clock ticks are 10 ms: a spinning engine would show ~150 */
    cr_assert_leq(ut + st, 5, "idle engine used %ld ticks in 1.5 s", ut + st);
}

/* Writes one record with spans 1..n of trace "7e" into a slot. */
static void
produce_trace(int n)
{
    bt_shm_t    *shm;
    sb_batch_t   b;
    char         err[256], id[8];
    void        *p;
    int          slot, i;

    shm = bt_shm_open(ring, NULL, err, sizeof(err));
    cr_assert_not_null(shm, "%s", err);
    slot = bt_shm_claim(shm, getpid());
    cr_assert_geq(slot, 0);

    sb_init(&b);
    for (i = 1; i <= n; i++) {
        snprintf(id, sizeof(id), "%x", i);
        sb_add(&b, &(sb_span_t) { .trace = "7e", .id = id, .name = "s" });
    }
    p = bt_ring_reserve(shm, slot, (uint32_t) b.len);
    cr_assert_not_null(p);
    memcpy(p, b.buf, b.len);
    bt_ring_commit(shm, slot, p, (uint32_t) b.len);
    sb_free(&b);

    bt_shm_release(shm, slot, getpid());
    bt_shm_close(shm);
}

static uint64_t
consumed(void)
{
    bt_shm_t  *shm;
    char       err[256];
    uint64_t   n;

    shm = bt_shm_open(ring, NULL, err, sizeof(err));
    cr_assert_not_null(shm, "%s", err);
    n = __atomic_load_n(&bt_shm_engine_stats(shm)->spans_consumed,
                        __ATOMIC_RELAXED);
    bt_shm_close(shm);
    return n;
}

static void
wait_consumed(uint64_t n)
{
    int  i;

    for (i = 0; i < 1000 && consumed() < n; i++) {
        sleep_ms(10);
    }
    cr_assert_geq(consumed(), n);
}

/* A second start with a short idle timeout writes the trace out. */
static void
restart_and_expect_trace(int nspans)
{
    char         out[128];
    const char  *lines;
    pid_t        pid;
    int          i;

    snprintf(out, sizeof(out), "%s/traces.jsonl", dir);
    pid = spawn(log_path, ARGS("--ring", ring, "--idle-ms", "50",
                               "--traces-out", out));
    wait_registered(pid);

    for (i = 0; i < 1000 && strchr(slurp(out), '\n') == NULL; i++) {
        sleep_ms(10);
    }
    kill(pid, SIGTERM);
    cr_assert_eq(wait_exit(pid), 0);

    lines = slurp(out);
    cr_assert_not_null(strstr(lines, "\"trace_id\": "
                              "\"0000000000000000000000000000007e\""),
                       "trace out after restart: %s", lines);
    cr_assert_eq(strchr(lines, '\n') + 1, lines + strlen(lines),
                 "one line");
    for (i = 1; i <= nspans; i++) {
        char  span[64];
        snprintf(span, sizeof(span), "\"span_id\": \"%016x\"", i);
        cr_assert_not_null(strstr(lines, span), "span %d in %s", i, lines);
    }
}

Test(engine_cli, sigterm_exits_0_and_leaves_in_flight_traces_for_the_next_start)
{
    pid_t  pid;

    pid = spawn(log_path, ARGS("--ring", ring, "--ring-slots", "2",
                               "--ring-slot-size", "1m",
                               "--idle-ms", "60000"));
    wait_registered(pid);
    produce_trace(3);
    wait_consumed(3);

    kill(pid, SIGTERM);
    cr_assert_eq(wait_exit(pid), 0);
    cr_assert_not_null(strstr(slurp(log_path), "SIGTERM: stopping"));
    cr_assert_not_null(strstr(slurp(log_path),
                              "stopped: 1 traces (3 spans) in flight stay in "
                              "the ring"), "%s", slurp(log_path));

    restart_and_expect_trace(3);
    cr_assert_not_null(strstr(slurp(log_path), "resuming 1 slots"),
                       "%s", slurp(log_path));
}

Test(engine_cli, sigkill_loses_no_span_the_next_start_reads_them_again)
{
    pid_t  pid;

    pid = spawn(log_path, ARGS("--ring", ring, "--ring-slots", "2",
                               "--ring-slot-size", "1m",
                               "--idle-ms", "60000"));
    wait_registered(pid);
    produce_trace(4);
    wait_consumed(4);

    kill(pid, SIGKILL);
    cr_assert_eq(wait_exit(pid), 128 + SIGKILL);

    restart_and_expect_trace(4);
}
