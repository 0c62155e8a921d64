/*
 * test_e2e_sdk.c - the OpenTelemetry JavaScript SDK (npm, t/js) exports to
 * the real nginx module with its protobuf and its JSON exporter; the engine
 * must put out exactly the traces the SDK made, with their structure.
 *
 * t/js/send-traces.mjs prints what it sent in the engine's traces-out shape;
 * this file compares field by field.
 */

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <jansson.h>

#include "t/lib/harness.h"

#define WAIT_MS  45000

static h_env_t  *env;

static const h_opts_t  opts = {
    .idle_ms = 2000,
};

static void
start_all(void)
{
    env = h_env_start(&opts, H_ALL);
    cr_assert_not_null(env, "redis, engine and nginx start");
}

static void
stop_all(void)
{
    h_env_free(env);
    env = NULL;
}

TestSuite(e2e_sdk, .init = start_all, .fini = stop_all, .timeout = 180);

/* Runs send-traces.mjs; returns its parsed stdout (asserts exit 0). */
static json_t *
run_sdk(const char *kind, const char *compression)
{
    char          cmd[PATH_MAX * 2 + 256], js[PATH_MAX + 32];
    FILE         *p;
    char         *out = NULL;
    size_t        cap = 0, len = 0, n;
    char          chunk[4096];
    int           st;
    json_t       *j;
    json_error_t  je;

    snprintf(js, sizeof(js), "%s/t/js/node_modules", env->root);
    cr_assert_eq(access(js, R_OK), 0, "%s is missing: run scripts/deps.sh "
                 "--test", js);
    snprintf(cmd, sizeof(cmd),
             "node '%s/t/js/send-traces.mjs' "
             "http://127.0.0.1:%d/v1/traces %s %s",
             env->root, env->http_port, kind, compression ? compression : "");
    p = popen(cmd, "r");
    cr_assert_not_null(p, "popen(%s)", cmd);
    while ((n = fread(chunk, 1, sizeof(chunk), p)) > 0) {
        if (len + n + 1 > cap) {
            cap = (len + n + 1) * 2;
            out = realloc(out, cap);
            cr_assert_not_null(out);
        }
        memcpy(out + len, chunk, n);
        len += n;
    }
    st = pclose(p);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0,
              "send-traces.mjs %s failed (status %d): %.500s", kind, st,
              out ? out : "");
    j = json_loadb(out, len, 0, &je);
    cr_assert_not_null(j, "send-traces.mjs output: %s", je.text);
    free(out);
    cr_assert(json_is_true(json_object_get(j, "ok")));
    return j;
}

static void
eq_str(json_t *a, json_t *b, const char *field, const char *span)
{
    const char  *x = json_string_value(json_object_get(a, field));
    const char  *y = json_string_value(json_object_get(b, field));

    cr_assert_not_null(x, "expected %s of %s", field, span);
    cr_assert_not_null(y, "engine output has no string %s in span %s", field,
                       span);
    cr_assert_str_eq(y, x, "span %s: %s", span, field);
}

/* Expected ns are decimal strings (beyond 2^53 in JS); out has integers. */
static void
eq_ns(json_t *a, json_t *b, const char *field, const char *what)
{
    const char          *x = json_string_value(json_object_get(a, field));
    json_t              *y = json_object_get(b, field);
    unsigned long long   want;

    cr_assert_not_null(x);
    want = strtoull(x, NULL, 10);
    cr_assert(json_is_integer(y), "%s: %s is an integer", what, field);
    cr_assert_eq((unsigned long long) json_integer_value(y), want,
                 "%s: %s", what, field);
}

/* Same keys, same values, same JSON types (integer vs real, arrays). */
static void
eq_attrs(json_t *want, json_t *got, const char *what)
{
    char  *w, *g;

    if (!json_equal(want, got)) {
        w = json_dumps(want, JSON_SORT_KEYS);
        g = json_dumps(got, JSON_SORT_KEYS);
        cr_assert_fail("%s: attributes differ\n  sent: %s\n  out:  %s", what,
                       w, g ? g : "(none)");
    }
}

static void
check_span(json_t *want, json_t *got, json_t *sent)
{
    const char  *id = json_string_value(json_object_get(want, "span_id"));
    json_t      *we, *ge, *wl, *gl, *res, *v;
    const char  *key;
    size_t       i;
    char         what[64];

    eq_str(want, got, "trace_id", id);
    eq_str(want, got, "parent_span_id", id);
    eq_str(want, got, "name", id);
    eq_str(want, got, "kind", id);
    eq_str(want, got, "status", id);
    eq_str(want, got, "status_message", id);
    eq_ns(want, got, "start_ns", id);
    eq_ns(want, got, "end_ns", id);
    cr_assert_str_eq(json_string_value(json_object_get(got, "service")),
                     json_string_value(json_object_get(sent, "service")));
    cr_assert_str_eq(json_string_value(json_object_get(got, "scope")),
                     json_string_value(json_object_get(sent, "scope")));
    eq_attrs(json_object_get(want, "attributes"),
             json_object_get(got, "attributes"), id);

    /* the SDK adds telemetry.sdk.*; ours must be there with their types */
    res = json_object_get(got, "resource");
    json_object_foreach(json_object_get(sent, "resource"), key, v) {
        cr_assert(json_equal(json_object_get(res, key), v),
                  "span %s: resource %s", id, key);
    }

    we = json_object_get(want, "events");
    ge = json_object_get(got, "events");
    cr_assert_eq(json_array_size(ge), json_array_size(we), "span %s: events",
                 id);
    for (i = 0; i < json_array_size(we); i++) {
        snprintf(what, sizeof(what), "span %s event %zu", id, i);
        eq_str(json_array_get(we, i), json_array_get(ge, i), "name", what);
        eq_ns(json_array_get(we, i), json_array_get(ge, i), "time_ns", what);
        eq_attrs(json_object_get(json_array_get(we, i), "attributes"),
                 json_object_get(json_array_get(ge, i), "attributes"), what);
    }

    wl = json_object_get(want, "links");
    gl = json_object_get(got, "links");
    cr_assert_eq(json_array_size(gl), json_array_size(wl), "span %s: links",
                 id);
    for (i = 0; i < json_array_size(wl); i++) {
        snprintf(what, sizeof(what), "span %s link %zu", id, i);
        eq_str(json_array_get(wl, i), json_array_get(gl, i), "trace_id",
               what);
        eq_str(json_array_get(wl, i), json_array_get(gl, i), "span_id", what);
        eq_attrs(json_object_get(json_array_get(wl, i), "attributes"),
                 json_object_get(json_array_get(gl, i), "attributes"), what);
    }
}

static void
check_export(const char *kind, const char *compression)
{
    json_t       *sent, *out, *wt, *w, *gt, *ws, *gs, *traces;
    size_t        i, k, nspans = 0;
    const char   *tid;

    sent = run_sdk(kind, compression);
    traces = json_object_get(sent, "traces");
    cr_assert_eq(json_array_size(traces), 2);
    json_array_foreach(traces, i, wt) {
        nspans += json_array_size(json_object_get(wt, "spans"));
    }
    cr_assert_eq(nspans, 5);

    out = h_traces_wait(env, json_array_size(traces), nspans, WAIT_MS);

    /* exactly those traces, each in one line, nothing else */
    cr_assert_eq(json_array_size(out), json_array_size(traces),
                 "%zu traces out, %zu sent", json_array_size(out),
                 json_array_size(traces));
    json_array_foreach(traces, i, wt) {
        ws = json_object_get(wt, "spans");
        tid = json_string_value(json_object_get(json_array_get(ws, 0),
                                                "trace_id"));
        gt = h_trace_find(out, tid);
        cr_assert_not_null(gt, "trace %s (%s) in the engine output", tid,
                           json_string_value(json_object_get(wt, "name")));
        cr_assert_str_eq(json_string_value(json_object_get(gt, "reason")),
                         "idle");
        cr_assert_eq(json_array_size(json_object_get(gt, "spans")),
                     json_array_size(ws), "trace %s: span count", tid);
        json_array_foreach(ws, k, w) {
            gs = h_span_find(gt, json_string_value(json_object_get(w,
                                                   "span_id")));
            cr_assert_not_null(gs, "span %s", json_string_value(
                               json_object_get(w, "span_id")));
            check_span(w, gs, sent);
        }
    }
    json_decref(out);
    json_decref(sent);
}

Test(e2e_sdk, protobuf_exporter)
{
    check_export("proto", NULL);
    cr_assert_eq(h_pass(env), 0, "every part stops cleanly");
}

Test(e2e_sdk, json_exporter)
{
    check_export("json", NULL);
    cr_assert_eq(h_pass(env), 0, "every part stops cleanly");
}

Test(e2e_sdk, protobuf_exporter_with_gzip)
{
    check_export("proto", "gzip");
    cr_assert_eq(h_pass(env), 0, "every part stops cleanly");
}
