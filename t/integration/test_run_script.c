/*
 * test_run_script.c - `make run`'s script (scripts/run.sh) on free ports in
 * a temp dir: it brings up Redis, the engine and nginx, serves OTLP, the
 * API and the UI, stops everything on Ctrl-C with status 0, and stops
 * everything with a non-zero status when one part dies.
 */

#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <jansson.h>

#include "t/lib/harness.h"
#include "t/lib/harness_otlp.h"

#define WAIT_MS  30000
#define API_KEY  "run-sh-test-key-5f0c2a9e"

static h_env_t   *env;
static h_proc_t   run;
static int        api_port, ui_port;
static char       rundir[PATH_MAX + 8];

static void
start_run_sh(void)
{
    char   script[PATH_MAX + 32], port[16];
    char  *argv[3];

    env = h_env_new(NULL);
    cr_assert_not_null(env);
    api_port = env->http_port;
    ui_port = h_free_port();
    cr_assert_gt(ui_port, 0);
    snprintf(rundir, sizeof(rundir), "%s/run", env->dir);

    /* run.sh reads its settings from the environment it inherits */
    snprintf(port, sizeof(port), "%d", api_port);
    setenv("BETRACE_HTTP_PORT", port, 1);
    snprintf(port, sizeof(port), "%d", ui_port);
    setenv("BETRACE_UI_PORT", port, 1);
    setenv("BETRACE_TRACE_IDLE_MS", "300", 1);
    setenv("BETRACE_RUN_DIR", rundir, 1);
    setenv("BETRACE_API_KEY", API_KEY, 1);

    snprintf(script, sizeof(script), "%s/scripts/run.sh", env->root);
    argv[0] = script;
    argv[1] = NULL;
    cr_assert_eq(h_proc_start(env, &run, "run.sh", argv), 0);
}

static void
stop_run_sh(void)
{
    h_proc_stop(&run);
    h_env_free(env);
    env = NULL;
}

/* GET on one of the two ports, with the API key run.sh was given. */
static int
get(int port, const char *path, h_resp_t *r)
{
    static const char  *auth[] = {
        "Authorization: Bearer " API_KEY, NULL
    };
    int                 saved = env->http_port, rc;

    env->http_port = port;
    rc = h_http(env, "GET", path, auth, NULL, 0, r);
    env->http_port = saved;
    return rc;
}

/* Polls until both ports answer /api/v1/stats; fails if run.sh exits. */
static void
wait_up(void)
{
    h_resp_t  r;
    int64_t   deadline = h_now_ms() + WAIT_MS;
    int       up = 0;

    while (!up) {
        cr_assert(h_proc_alive(&run), "run.sh exited during start:\n%s",
                  h_read_file(run.log, NULL));
        cr_assert_lt(h_now_ms(), deadline, "run.sh not up in %d ms:\n%s",
                     WAIT_MS, h_read_file(run.log, NULL));
        up = get(api_port, "/api/v1/stats", &r) == 0 && r.status == 200;
        h_resp_free(&r);
        if (up) {
            up = get(ui_port, "/api/v1/stats", &r) == 0 && r.status == 200;
            h_resp_free(&r);
        }
        if (!up) {
            usleep(100000);
        }
    }
}

/* Exit status of run.sh within timeout_ms (asserts that it exits). */
static int
wait_exit(int timeout_ms)
{
    int      st;
    int64_t  deadline = h_now_ms() + timeout_ms;

    for ( ;; ) {
        if (waitpid(run.pid, &st, WNOHANG) == run.pid) {
            break;
        }
        cr_assert_lt(h_now_ms(), deadline, "run.sh still running after %d "
                     "ms", timeout_ms);
        usleep(50000);
    }
    /* every part it started has gone too (they share its process group) */
    deadline = h_now_ms() + 5000;
    while (kill(-run.pid, 0) == 0) {
        cr_assert_lt(h_now_ms(), deadline, "run.sh left processes behind");
        usleep(50000);
    }
    cr_assert_eq(errno, ESRCH);
    run.pid = 0;
    return st;
}

TestSuite(run_sh, .init = start_run_sh, .fini = stop_run_sh, .timeout = 120);

Test(run_sh, serves_otlp_api_and_ui_and_stops_on_ctrl_c)
{
    h_resp_t    r;
    ho_span_t   s;
    uint8_t     trace[16], *body;
    char        hex[33], path[PATH_MAX + 32], *out = NULL;
    size_t      len;
    int64_t     deadline;
    int         st;

    wait_up();

    /* the UI page */
    cr_assert_eq(get(ui_port, "/", &r), 0);
    cr_assert_eq(r.status, 200);
    cr_assert_not_null(strstr(r.content_type, "text/html"), "%s",
                       r.content_type);
    cr_assert_not_null(strstr(r.body, "BeTrace"));
    h_resp_free(&r);

    /* OTLP on the API port, completed by the engine into run/traces.jsonl */
    ho_random_id(trace, 16);
    h_hex(trace, 16, hex);
    ho_span_init(&s, trace, "GET /run");
    body = ho_request_pb(&s, 1, &len);
    cr_assert_eq(h_post(env, "/v1/traces", "application/x-protobuf", NULL,
                        body, len, &r), 0);
    cr_assert_eq(r.status, 200);
    h_resp_free(&r);
    free(body);

    snprintf(path, sizeof(path), "%s/traces.jsonl", rundir);
    deadline = h_now_ms() + WAIT_MS;
    for ( ;; ) {
        free(out);
        out = h_read_file(path, NULL);
        if (out && strstr(out, hex)) {
            break;
        }
        cr_assert_lt(h_now_ms(), deadline, "trace %s not in %s", hex, path);
        usleep(100000);
    }
    free(out);

    /* the state is where it was told: Redis AOF, ring, generated config */
    snprintf(path, sizeof(path), "%s/nginx.conf", rundir);
    cr_assert_eq(access(path, R_OK), 0, "%s", path);
    snprintf(path, sizeof(path), "%s/ring", rundir);
    cr_assert_eq(access(path, R_OK), 0, "%s", path);
    snprintf(path, sizeof(path), "%s/appendonlydir", rundir);
    cr_assert_eq(access(path, R_OK), 0, "Redis AOF in %s", path);

    /* Ctrl-C: the terminal signals the whole foreground group */
    kill(-run.pid, SIGINT);
    st = wait_exit(WAIT_MS);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0,
              "run.sh status %d after Ctrl-C:\n%s", st,
              h_read_file(run.log, NULL));
    cr_assert_eq(h_pass(env), 0);
}

Test(run_sh, stops_everything_when_a_part_dies)
{
    h_resp_t   r;
    json_t    *st_json;
    long long  engine_pid;
    int        st;

    wait_up();
    cr_assert_eq(get(api_port, "/api/v1/stats", &r), 0);
    cr_assert_eq(r.status, 200);
    st_json = json_loadb(r.body, r.len, 0, NULL);
    h_resp_free(&r);
    cr_assert_not_null(st_json);
    engine_pid = json_integer_value(json_object_get(json_object_get(st_json,
                                    "engine"), "pid"));
    json_decref(st_json);
    cr_assert_gt(engine_pid, 0);

    cr_assert_eq(kill((pid_t) engine_pid, SIGKILL), 0);
    st = wait_exit(WAIT_MS);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) != 0,
              "run.sh status %d after the engine died", st);

    /* nginx went with it */
    cr_assert_neq(get(api_port, "/api/v1/stats", &r), 0);
    h_resp_free(&r);
    cr_assert_eq(h_pass(env), 0);
}
