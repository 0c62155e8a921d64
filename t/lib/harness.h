/*
 * harness.h - runs the real BeTrace parts (redis-server, betrace-engine,
 * nginx with the module) for integration tests, and talks to them.
 *
 * One test = one environment in its own temporary directory, on free
 * loopback ports:
 *
 *     static h_env_t *env;
 *
 *     static void setup(void) {
 *         env = h_env_start(NULL, H_ALL);     // temp dir, ports, parts
 *         cr_assert_not_null(env);
 *     }
 *     static void teardown(void) { h_env_free(env); }
 *
 *     Test(otlp, ok, .init = setup, .fini = teardown) {
 *         h_resp_t r;
 *         h_post(env, "/v1/traces", "application/x-protobuf", NULL,
 *                body, len, &r);
 *         cr_assert_eq(r.status, 200);
 *         h_resp_free(&r);
 *         cr_assert_eq(h_pass(env), 0);       // clean stop, no temp dir
 *     }
 *
 * Criterion does not run .fini when .init fails, so h_env_start stops what
 * it started before it returns NULL.
 *
 * Why h_pass(): Criterion runs .fini after a failed assertion too, but does
 * not tell it whether the test failed.  A test that reaches its last line
 * passed, so it says so; every other ending leaves the directory (with all
 * logs) behind and prints its path.
 *
 * Every child gets PR_SET_PDEATHSIG, so a test that crashes or times out
 * (Criterion kills its worker) does not leave servers running.  Each child
 * runs in its own process group, and stopping one signals the group so
 * nginx workers go too.
 *
 * Functions that start or wait return 0 on success and -1 on failure, after
 * printing why (with the tail of the part's log) on stderr.  They never
 * abort: the caller asserts.
 */

#ifndef HARNESS_H
#define HARNESS_H

#include <stddef.h>
#include <stdint.h>
#include <limits.h>
#include <sys/types.h>
#include <jansson.h>

/* Generous: the machine has two cores shared with other builds and tests. */
#define H_START_TIMEOUT_MS  20000
#define H_STOP_TIMEOUT_MS   10000

typedef struct {
    pid_t       pid;            /* 0 when not running */
    char        name[16];
    char        log[PATH_MAX];  /* stdout + stderr of the process */
    int         paused;         /* SIGSTOPped by h_engine_pause */
} h_proc_t;

typedef struct {
    /* set by h_env_new from the options, may be changed before a start */
    int         workers;            /* nginx worker_processes, default 1 */
    int         ring_slots;         /* default 4 */
    const char *ring_slot_size;     /* default "4m" */
    int         idle_ms;            /* engine --idle-ms, default 300 */
    const char *http_extra;         /* text added inside http {} */
    const char *otlp_extra;         /* text added inside the OTLP location */
    const char *engine_extra;       /* extra engine argv words, space split */
    const char *server_extra;       /* text added inside server {}, e.g.
                                       the API location */
} h_opts_t;

typedef struct {
    char        dir[PATH_MAX];      /* the temp dir */
    char        root[PATH_MAX];     /* the repository (absolute) */
    char        ring[PATH_MAX];
    char        redis_sock[PATH_MAX];
    int         http_port;
    h_opts_t    opts;

    h_proc_t    redis;
    h_proc_t    engine;
    h_proc_t    nginx;

    int         engine_starts;      /* traces-out file of start k is
                                       traces-<k>.jsonl */
    int         passed;
} h_env_t;

typedef struct {
    long        status;             /* HTTP status, 0 if no response */
    char       *headers;            /* raw header block, NUL-terminated */
    char       *body;               /* NUL-terminated (not counted in len) */
    size_t      len;
    char        content_type[128];
} h_resp_t;


/*
 * Makes a temp dir (under $TMPDIR or /tmp) and picks a free port.  opts may
 * be NULL for the defaults.  Locates the repository from the test binary's
 * path (build/t/test_x -> ../..) or $BETRACE_ROOT.  Returns NULL on failure.
 */
h_env_t *h_env_new(const h_opts_t *opts);

enum {
    H_REDIS = 1,
    H_ENGINE = 2,
    H_NGINX = 4,
    H_ALL = 7
};

/*
 * h_env_new, then starts the parts named in the H_* mask, in the order
 * Redis, engine, nginx.  Returns NULL if any step fails, after stopping
 * everything it started (the temp dir is kept and its path printed).
 */
h_env_t *h_env_start(const h_opts_t *opts, int parts);

/*
 * Ends a test that reached its last line: stops every part (nginx, engine,
 * Redis) and checks that each exited with status 0, which catches crashes
 * and sanitizer reports at shutdown.  Returns 0 and marks the test passed
 * (h_env_free then removes the temp dir), or -1 after printing the logs;
 * assert on it:  cr_assert_eq(h_pass(env), 0);
 */
int h_pass(h_env_t *env);

/*
 * Stops every part still running (SIGTERM, then SIGKILL after
 * H_STOP_TIMEOUT_MS) and frees env.  Removes the temp dir if h_pass was
 * called, otherwise prints its path.  env may be NULL.  Can't fail.
 */
void h_env_free(h_env_t *env);

/* Binds port 0 on 127.0.0.1 and returns the port the kernel chose, or -1. */
int h_free_port(void);

/* redis-server on a unix socket in the temp dir, no TCP, AOF on. */
int h_redis_start(h_env_t *env);

/*
 * build/betrace-engine ($BETRACE_BUILD/betrace-engine if set) with --ring, --traces-out (a new file per start),
 * --idle-ms and, when Redis runs, --redis.  Ready once the engine has
 * written its pid into the segment's engine stats.
 */
int h_engine_start(h_env_t *env);

/* kill -9 the engine and reap it.  Returns 0, or -1 if it was not running. */
int h_engine_kill9(h_env_t *env);

/* SIGSTOP / SIGCONT the engine (a stuck engine whose heartbeat ages). */
int h_engine_pause(h_env_t *env);
int h_engine_resume(h_env_t *env);

/* Writes nginx.conf into the temp dir and starts nginx; ready on connect. */
int h_nginx_start(h_env_t *env);

/*
 * SIGHUP to the nginx master (reload: new workers start, old ones finish
 * their requests and exit).  Returns 0 once the master has logged the
 * reconfiguration in error.log, -1 on timeout or if nginx is not running.
 */
int h_nginx_reload(h_env_t *env);

/*
 * Stops a part: SIGTERM, wait up to H_STOP_TIMEOUT_MS, then SIGKILL to its
 * process group.  Returns the exit status as waitpid gives it, or -1 if it
 * was not running.
 */
int h_proc_stop(h_proc_t *p);

/*
 * Starts any program as a part of the test: argv[0] is a path, stdout and
 * stderr go to <temp dir>/<name>.log, the child leads its own process group
 * and dies with the test.  Stop it with h_proc_stop.  Returns 0 or -1.
 */
int h_proc_start(h_env_t *env, h_proc_t *p, const char *name,
    char *const argv[]);

/* Nonzero while the process has not exited (reaps it if it has). */
int h_proc_alive(h_proc_t *p);

/* Prints the last lines of a part's log (and nginx's error.log) to stderr. */
void h_dump_logs(h_env_t *env);


/*
 * HTTP request to 127.0.0.1:http_port.  headers is a NULL-terminated list of
 * "Name: value" lines or NULL.  body may be NULL (no body).  Fills *resp
 * (free with h_resp_free).  Returns 0 when a response came, -1 on a
 * transport error (resp->status is 0 then).
 */
int h_http(h_env_t *env, const char *method, const char *path,
    const char *const *headers, const void *body, size_t len,
    h_resp_t *resp);

/* POST with a Content-Type (NULL: none) and optional Content-Encoding. */
int h_post(h_env_t *env, const char *path, const char *content_type,
    const char *content_encoding, const void *body, size_t len,
    h_resp_t *resp);

/*
 * Value of header name (case-insensitive) in resp, copied into out; returns
 * 1 if present, 0 if not.
 */
int h_resp_header(const h_resp_t *resp, const char *name, char *out,
    size_t outlen);
void h_resp_free(h_resp_t *resp);

/* GET /api/v1/stats parsed; NULL on any failure. */
json_t *h_stats(h_env_t *env, const char *path);


/* gzip-compresses in; returns a malloc'd buffer and its length, or NULL. */
void *h_gzip(const void *in, size_t len, size_t *outlen);

/* Reads a whole file; returns a malloc'd NUL-terminated buffer or NULL. */
char *h_read_file(const char *path, size_t *len);


/*
 * The engine's completed traces: every complete line of every traces-out
 * file written so far (all engine starts), parsed, in file order.  Returns
 * a new JSON array (never NULL unless out of memory).  Unparseable lines
 * become a JSON string holding the line, so a test sees them.
 */
json_t *h_traces_read(h_env_t *env);

/*
 * Polls h_traces_read until the distinct span ids over all lines reach
 * nspans and the lines reach ntraces (0: don't care), or timeout_ms passes.
 * Returns the last array read (check it: a timeout returns what was there).
 */
json_t *h_traces_wait(h_env_t *env, size_t ntraces, size_t nspans,
    int timeout_ms);

/*
 * Polls until the line of trace_id (lowercase hex) holds at least nspans
 * spans, or timeout_ms passes.  Returns the last array read, as above.
 */
json_t *h_traces_wait_trace(h_env_t *env, const char *trace_id,
    size_t nspans, int timeout_ms);

/* Number of distinct span ids (trace_id + span_id) in a traces array. */
size_t h_traces_span_count(json_t *traces);

/* The first line whose trace_id equals trace_id (lowercase hex), or NULL. */
json_t *h_trace_find(json_t *traces, const char *trace_id);

/* The span with span_id in a trace line, or NULL. */
json_t *h_span_find(json_t *trace, const char *span_id);

/* Lowercase hex of n bytes into out (2n + 1 bytes): bt_hex() and a NUL. */
void h_hex(const uint8_t *p, size_t n, char *out);

/* Milliseconds on the monotonic clock. */
int64_t h_now_ms(void);

#endif /* HARNESS_H */
