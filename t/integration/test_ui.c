/*
 * test_ui.c - the web UI end to end in a real Chromium: starts Redis, the
 * engine and nginx with the REST API (a write key) and a second server that
 * serves ui/ with conf/betrace-ui.conf and routes /api/v1 to the first, as
 * the development setup does, then runs t/ui/ui.test.mjs (playwright-core
 * driving /usr/bin/chromium) against it and asserts it passed.
 *
 * Screenshots of every page land in build/ui-artifacts/ (BETRACE_UI_ARTIFACTS
 * overrides).  The steps and their results are in the test's output.
 */

#include <criterion/criterion.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

#include "t/lib/harness.h"

#define UI_KEY      "ui-test-write-key-0123456789abcdef"
#define UI_KEY_SHA  "3282197e8977f0be0760e9db6fffe0d5" \
                    "d5a271fa750e4453eeb79225ae780b76"
#define UI_RKEY     "ui-test-read-key-0123456789abcdef"
#define UI_RKEY_SHA "c96e9275c879ac4492bb8a1d9aea25e0" \
                    "740122cc2e593b11ead46d9383bbf348"

static h_env_t  *env;
static int       ui_port;

static void
setup(void)
{
    static char       http_extra[PATH_MAX * 4 + 1024];
    static const h_opts_t  opts = {
        .idle_ms = 300,
        .server_extra = "location /api/v1/ { betrace_api; }",
    };
    char              keys[PATH_MAX + 16];
    FILE             *f;

    env = h_env_new(&opts);
    cr_assert_not_null(env);

    snprintf(keys, sizeof(keys), "%s/api_keys", env->dir);
    f = fopen(keys, "w");
    cr_assert_not_null(f);
    fprintf(f, UI_KEY_SHA " write ui-test\n"
            UI_RKEY_SHA " read ui-test-reader\n");
    fclose(f);

    ui_port = h_free_port();
    cr_assert_gt(ui_port, 0);

    /* The UI server: the same include as conf/nginx-dev.conf.in. */
    snprintf(http_extra, sizeof(http_extra),
             "betrace_redis unix:%s;\n"
             "    betrace_api_keys %s;\n"
             "    server {\n"
             "        listen 127.0.0.1:%d;\n"
             "        root %s/ui;\n"
             "        location /api/v1/ {\n"
             "            proxy_pass http://127.0.0.1:%d;\n"
             "            proxy_http_version 1.1;\n"
             "            proxy_set_header Connection \"\";\n"
             "        }\n"
             "        include %s/conf/betrace-ui.conf;\n"
             "    }",
             env->redis_sock, keys, ui_port, env->root, env->http_port,
             env->root);
    env->opts.http_extra = http_extra;

    if (h_redis_start(env) != 0 || h_engine_start(env) != 0
        || h_nginx_start(env) != 0)
    {
        h_env_free(env);
        env = NULL;
        cr_assert_fail("redis, engine and nginx with the UI server start");
    }
}

static void
teardown(void)
{
    h_env_free(env);
}

Test(ui, end_to_end_in_chromium, .init = setup, .fini = teardown,
     .timeout = 240)
{
    char         cmd[PATH_MAX * 3 + 512], art[PATH_MAX + 32];
    const char  *a;
    int          st;

    cr_assert_eq(access("/usr/bin/chromium", X_OK), 0,
                 "/usr/bin/chromium is missing: scripts/deps.sh --test");
    snprintf(cmd, sizeof(cmd), "%s/t/js/node_modules/playwright-core",
             env->root);
    cr_assert_eq(access(cmd, R_OK), 0, "%s is missing: run scripts/deps.sh "
                 "--test", cmd);

    a = getenv("BETRACE_UI_ARTIFACTS");
    if (a != NULL && a[0] != '\0') {
        snprintf(art, sizeof(art), "%s", a);
    } else {
        snprintf(art, sizeof(art), "%s/build/ui-artifacts", env->root);
    }

    /* Output goes to the test's stdout: each step says ok / not ok. */
    snprintf(cmd, sizeof(cmd),
             "node '%s/t/ui/ui.test.mjs' http://127.0.0.1:%d '%s' "
             "http://127.0.0.1:%d/v1/traces '%s' '%s' 1>&2",
             env->root, ui_port, UI_KEY, env->http_port, art, UI_RKEY);
    fflush(stdout);
    fflush(stderr);
    st = system(cmd);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0,
              "t/ui/ui.test.mjs failed (status %d); screenshots in %s",
              st, art);

    cr_assert_eq(h_pass(env), 0);
}
