/*
 * test_otlp_http.c - the OTLP/HTTP endpoint of the real nginx module,
 * with the real engine behind it: every response status, both encodings,
 * gzip, the spec's example trace, a trace split over requests, and the
 * stats endpoint.
 */

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <jansson.h>

#include "t/lib/harness.h"
#include "t/lib/harness_otlp.h"

#define PB      "application/x-protobuf"
#define JS      "application/json"
#define WAIT_MS 30000

static h_env_t  *env;

/* Limits low enough to break on purpose, high enough for every valid body. */
static const h_opts_t  main_opts = {
    .idle_ms = 2000,
    .otlp_extra = "betrace_max_body_size 1m; betrace_max_attributes 16; "
                  "betrace_max_spans 100; betrace_retry_after 7; "
                  "betrace_max_value_length 16k; betrace_max_depth 4;",
};

static void
start_all(void)
{
    env = h_env_start(&main_opts, H_ALL);
    cr_assert_not_null(env, "redis, engine and nginx start");
}

static void
stop_all(void)
{
    h_env_free(env);
    env = NULL;
}

TestSuite(otlp, .init = start_all, .fini = stop_all, .timeout = 120);

/* Two spans of one fresh trace: a root and its child. */
static void
two_spans(ho_span_t *s, char *trace_hex)
{
    uint8_t  trace[16];

    ho_random_id(trace, 16);
    ho_span_init(&s[0], trace, "GET /checkout");
    ho_span_init(&s[1], trace, "SELECT orders");
    memcpy(s[1].parent_id, s[0].span_id, 8);
    s[1].kind = 3;
    s[1].status = 2;
    s[1].typed = 1;
    s[0].nattrs = 2;
    h_hex(trace, 16, trace_hex);
}

/* The traces-out line of trace_hex must hold exactly s[0..1] as built. */
static void
check_two_spans(const ho_span_t *s, const char *trace_hex)
{
    json_t  *tr, *t, *root, *child, *attrs;
    char     id0[17], id1[17];

    tr = h_traces_wait_trace(env, trace_hex, 2, WAIT_MS);
    t = h_trace_find(tr, trace_hex);
    cr_assert_not_null(t, "trace %s in the engine output", trace_hex);
    cr_assert_eq(json_array_size(json_object_get(t, "spans")), 2);
    h_hex(s[0].span_id, 8, id0);
    h_hex(s[1].span_id, 8, id1);
    root = h_span_find(t, id0);
    child = h_span_find(t, id1);
    cr_assert_not_null(root);
    cr_assert_not_null(child);
    cr_assert_str_eq(json_string_value(json_object_get(root, "name")),
                     "GET /checkout");
    cr_assert_str_eq(json_string_value(json_object_get(root,
                     "parent_span_id")), "");
    cr_assert_str_eq(json_string_value(json_object_get(child,
                     "parent_span_id")), id0);
    cr_assert_str_eq(json_string_value(json_object_get(root, "kind")),
                     "SERVER");
    cr_assert_str_eq(json_string_value(json_object_get(child, "kind")),
                     "CLIENT");
    cr_assert_str_eq(json_string_value(json_object_get(child, "status")),
                     "ERROR");
    cr_assert_str_eq(json_string_value(json_object_get(root, "service")),
                     "test-service");
    cr_assert_str_eq(json_string_value(json_object_get(root, "scope")),
                     HO_SCOPE);
    cr_assert_eq((uint64_t) json_integer_value(json_object_get(root,
                 "start_ns")), s[0].start_ns);
    attrs = json_object_get(root, "attributes");
    cr_assert_str_eq(json_string_value(json_object_get(attrs, "attr.1")),
                     "v1");
    attrs = json_object_get(child, "attributes");
    cr_assert(json_is_integer(json_object_get(attrs, "t.int")));
    cr_assert_eq(json_integer_value(json_object_get(attrs, "t.int")), -42);
    cr_assert(json_is_true(json_object_get(attrs, "t.bool")));
    cr_assert(json_is_real(json_object_get(attrs, "t.double")));
    cr_assert_float_eq(json_real_value(json_object_get(attrs, "t.double")),
                       2.5, 1e-9);
    json_decref(tr);
}

static void
post_pb(const ho_span_t *s, size_t n, h_resp_t *r)
{
    uint8_t  *body;
    size_t    len;

    body = ho_request_pb(s, n, &len);
    cr_assert_eq(h_post(env, "/v1/traces", PB, NULL, body, len, r), 0);
    free(body);
}

static void
post_json(const ho_span_t *s, size_t n, h_resp_t *r)
{
    char    *body;
    size_t   len;

    body = ho_request_json(s, n, &len);
    cr_assert_eq(h_post(env, "/v1/traces", JS, NULL, body, len, r), 0);
    free(body);
}

/* A JSON response body's partial_success.rejectedSpans (int64: string or
 * number), 0 without partial_success. */
static long long
json_rejected(const h_resp_t *r, char *msg, size_t msglen)
{
    json_t        *j, *ps, *rej;
    json_error_t   je;
    long long      n = 0;

    j = json_loadb(r->body, r->len, 0, &je);
    cr_assert_not_null(j, "response is JSON: %s (%.200s)", je.text, r->body);
    cr_assert(json_is_object(j));
    msg[0] = '\0';
    ps = json_object_get(j, "partialSuccess");
    if (ps) {
        rej = json_object_get(ps, "rejectedSpans");
        if (json_is_string(rej)) {
            n = atoll(json_string_value(rej));
        } else {
            n = json_integer_value(rej);
        }
        snprintf(msg, msglen, "%s",
                 json_string_value(json_object_get(ps, "errorMessage"))
                 ? json_string_value(json_object_get(ps, "errorMessage"))
                 : "");
    }
    json_decref(j);
    return n;
}


Test(otlp, protobuf_200_decodes_and_reaches_the_engine)
{
    ho_span_t  s[2];
    h_resp_t   r;
    char       trace[33], msg[256];
    int64_t    rej = -1;

    two_spans(s, trace);
    post_pb(s, 2, &r);
    cr_assert_eq(r.status, 200, "status %ld: %.200s", r.status, r.body);
    cr_assert_str_eq(r.content_type, PB);
    cr_assert_eq(ho_response_pb(r.body, r.len, &rej, msg, sizeof(msg)), 0,
                 "ExportTraceServiceResponse decodes");
    cr_assert_eq(rej, 0);
    h_resp_free(&r);
    check_two_spans(s, trace);
    cr_assert_eq(h_pass(env), 0, "every part stops cleanly");
}

Test(otlp, json_200_decodes_and_reaches_the_engine)
{
    ho_span_t  s[2];
    h_resp_t   r;
    char       trace[33], msg[256];

    two_spans(s, trace);
    post_json(s, 2, &r);
    cr_assert_eq(r.status, 200, "status %ld: %.200s", r.status, r.body);
    cr_assert_str_eq(r.content_type, JS);
    cr_assert_eq(json_rejected(&r, msg, sizeof(msg)), 0);
    h_resp_free(&r);
    check_two_spans(s, trace);
    cr_assert_eq(h_pass(env), 0, "every part stops cleanly");
}

Test(otlp, gzip_bodies_are_accepted)
{
    ho_span_t  s[2];
    h_resp_t   r;
    char       trace[33];
    uint8_t   *body, *gz;
    size_t     len, gzlen;

    two_spans(s, trace);
    body = ho_request_pb(s, 2, &len);
    gz = h_gzip(body, len, &gzlen);
    cr_assert_not_null(gz);
    cr_assert_eq(h_post(env, "/v1/traces", PB, "gzip", gz, gzlen, &r), 0);
    cr_assert_eq(r.status, 200, "status %ld: %.200s", r.status, r.body);
    h_resp_free(&r);
    free(body);
    free(gz);
    check_two_spans(s, trace);

    /* and gzip JSON */
    two_spans(s, trace);
    body = (uint8_t *) ho_request_json(s, 2, &len);
    gz = h_gzip(body, len, &gzlen);
    cr_assert_eq(h_post(env, "/v1/traces", JS, "gzip", gz, gzlen, &r), 0);
    cr_assert_eq(r.status, 200, "status %ld: %.200s", r.status, r.body);
    cr_assert_str_eq(r.content_type, JS);
    h_resp_free(&r);
    free(body);
    free(gz);
    check_two_spans(s, trace);
    cr_assert_eq(h_pass(env), 0, "every part stops cleanly");
}

Test(otlp, partial_success_for_an_invalid_span_id)
{
    ho_span_t  s[2];
    h_resp_t   r;
    char       trace[33], msg[256], good[17], bad[17];
    int64_t    rej = -1;
    json_t    *tr, *t;

    two_spans(s, trace);
    memset(s[1].span_id, 0, 8);             /* an all-zero id is invalid */
    memset(s[1].parent_id, 0, 8);
    post_pb(s, 2, &r);
    cr_assert_eq(r.status, 200, "status %ld: %.200s", r.status, r.body);
    cr_assert_eq(ho_response_pb(r.body, r.len, &rej, msg, sizeof(msg)), 0);
    cr_assert_eq(rej, 1, "rejected_spans %lld", (long long) rej);
    cr_assert_neq(msg[0], '\0', "partial_success carries an error_message");
    h_resp_free(&r);

    /* the good span still goes through, the bad one does not */
    h_hex(s[0].span_id, 8, good);
    h_hex(s[1].span_id, 8, bad);
    tr = h_traces_wait_trace(env, trace, 1, WAIT_MS);
    t = h_trace_find(tr, trace);
    cr_assert_not_null(t);
    cr_assert_not_null(h_span_find(t, good));
    cr_assert_null(h_span_find(t, bad));
    json_decref(tr);
    cr_assert_eq(h_pass(env), 0, "every part stops cleanly");
}

Test(otlp, partial_success_for_too_many_attributes)
{
    ho_span_t  s[2];
    h_resp_t   r;
    char       trace[33], msg[256];
    int64_t    rej = -1;

    two_spans(s, trace);
    s[1].nattrs = 17;                       /* limit is 16 */
    s[1].typed = 0;
    post_pb(s, 2, &r);
    cr_assert_eq(r.status, 200, "status %ld: %.200s", r.status, r.body);
    cr_assert_eq(ho_response_pb(r.body, r.len, &rej, msg, sizeof(msg)), 0);
    cr_assert_eq(rej, 1, "rejected_spans %lld", (long long) rej);
    h_resp_free(&r);

    /* same in JSON: the partial success is JSON too */
    two_spans(s, trace);
    s[0].nattrs = 17;
    post_json(s, 2, &r);
    cr_assert_eq(r.status, 200, "status %ld: %.200s", r.status, r.body);
    cr_assert_str_eq(r.content_type, JS);
    cr_assert_eq(json_rejected(&r, msg, sizeof(msg)), 1, "%.300s", r.body);
    cr_assert_neq(msg[0], '\0');
    h_resp_free(&r);
    cr_assert_eq(h_pass(env), 0, "every part stops cleanly");
}

Test(otlp, partial_success_for_a_value_over_the_length_limit)
{
    ho_span_t  s[2];
    h_resp_t   r;
    char       trace[33], msg[256];
    int64_t    rej = -1;

    two_spans(s, trace);
    s[1].nattrs = 1;
    s[1].value_len = 16 * 1024 + 1;         /* limit is 16k */
    post_pb(s, 2, &r);
    cr_assert_eq(r.status, 200, "status %ld: %.200s", r.status, r.body);
    cr_assert_eq(ho_response_pb(r.body, r.len, &rej, msg, sizeof(msg)), 0);
    cr_assert_eq(rej, 1, "rejected_spans %lld", (long long) rej);
    h_resp_free(&r);

    /* exactly at the limit is fine */
    two_spans(s, trace);
    s[1].nattrs = 1;
    s[1].value_len = 16 * 1024;
    post_pb(s, 2, &r);
    cr_assert_eq(r.status, 200);
    cr_assert_eq(ho_response_pb(r.body, r.len, &rej, msg, sizeof(msg)), 0);
    cr_assert_eq(rej, 0, "rejected_spans %lld", (long long) rej);
    h_resp_free(&r);
    cr_assert_eq(h_pass(env), 0, "every part stops cleanly");
}

/* An OTLP/JSON AnyValue nested depth levels deep (1: a plain string). */
static void
nested_value(char *out, size_t cap, int depth)
{
    size_t  n = 0;
    int     i;

    for (i = 1; i < depth; i++) {
        n += snprintf(out + n, cap - n, "{\"kvlistValue\":{\"values\":"
                      "[{\"key\":\"k%d\",\"value\":", i);
    }
    n += snprintf(out + n, cap - n, "{\"stringValue\":\"leaf\"}");
    for (i = 1; i < depth; i++) {
        n += snprintf(out + n, cap - n, "}]}}");
    }
    cr_assert_lt(n, cap);
}

/* One request, two spans: "ok" with depth_ok, "deep" with depth_bad. */
static void
post_nested(int depth_ok, int depth_bad, const char *trace, h_resp_t *r)
{
    static char  v1[16384], v2[16384], body[40000];
    uint8_t      id[8];
    char         s1[17], s2[17];
    int          n;

    nested_value(v1, sizeof(v1), depth_ok);
    nested_value(v2, sizeof(v2), depth_bad);
    ho_random_id(id, 8);
    h_hex(id, 8, s1);
    ho_random_id(id, 8);
    h_hex(id, 8, s2);
    n = snprintf(body, sizeof(body),
        "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":["
        "{\"traceId\":\"%s\",\"spanId\":\"%s\",\"name\":\"ok\","
        "\"attributes\":[{\"key\":\"d\",\"value\":%s}]},"
        "{\"traceId\":\"%s\",\"spanId\":\"%s\",\"name\":\"deep\","
        "\"attributes\":[{\"key\":\"d\",\"value\":%s}]}]}]}]}",
        trace, s1, v1, trace, s2, v2);
    cr_assert_lt((size_t) n, sizeof(body));
    cr_assert_eq(h_post(env, "/v1/traces", JS, NULL, body, n, r), 0);
}

Test(otlp, anyvalue_nesting_is_bounded)
{
    h_resp_t   r;
    uint8_t    tid[16];
    char       trace[33], msg[256];
    json_t    *tr, *t, *s;

    ho_random_id(tid, 16);
    h_hex(tid, 16, trace);

    /* betrace_max_depth 4: 4 levels pass, 5 make the span a rejection */
    post_nested(4, 5, trace, &r);
    cr_assert_eq(r.status, 200, "status %ld: %.300s", r.status, r.body);
    cr_assert_eq(json_rejected(&r, msg, sizeof(msg)), 1, "%.300s", r.body);
    h_resp_free(&r);

    tr = h_traces_wait_trace(env, trace, 1, WAIT_MS);
    t = h_trace_find(tr, trace);
    cr_assert_not_null(t);
    cr_assert_eq(json_array_size(json_object_get(t, "spans")), 1);
    s = json_array_get(json_object_get(t, "spans"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(s, "name")), "ok");
    /* the nested value came through as nested objects */
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(
        json_object_get(json_object_get(json_object_get(s, "attributes"),
        "d"), "k1"), "k2"), "k3")), "leaf");
    json_decref(tr);

    /* far past any sane depth the whole body is refused, not walked */
    ho_random_id(tid, 16);
    h_hex(tid, 16, trace);
    post_nested(1, 200, trace, &r);
    cr_assert_eq(r.status, 400, "status %ld: %.300s", r.status, r.body);
    h_resp_free(&r);

    /* and the worker is still there */
    post_nested(2, 2, trace, &r);
    cr_assert_eq(r.status, 200);
    h_resp_free(&r);
    cr_assert_eq(h_pass(env), 0, "every part stops cleanly");
}

Test(otlp, malformed_protobuf_is_400_with_a_status)
{
    /* field 1 (resource_spans), length 0x7f: runs past the end */
    static const uint8_t  bad[] = { 0x0a, 0x7f, 0x0a, 0x02 };
    h_resp_t              r;
    int32_t               code = -1;
    char                  msg[256];

    cr_assert_eq(h_post(env, "/v1/traces", PB, NULL, bad, sizeof(bad), &r),
                 0);
    cr_assert_eq(r.status, 400, "status %ld", r.status);
    cr_assert_str_eq(r.content_type, PB);
    cr_assert_eq(ho_status_pb(r.body, r.len, &code, msg, sizeof(msg)), 0,
                 "google.rpc.Status decodes");
    cr_assert_neq(msg[0], '\0', "the Status says what is wrong");
    h_resp_free(&r);
    cr_assert_eq(h_pass(env), 0, "every part stops cleanly");
}

Test(otlp, malformed_json_is_400_with_a_status)
{
    static const char  *bodies[] = {
        "{\"resourceSpans\": [",                                 /* syntax */
        "{\"resourceSpans\": [{\"scopeSpans\": [{\"spans\": "
        "[{\"traceId\": \"zz\", \"spanId\": 7}]}]}]}",           /* types */
        "[1, 2, 3]",
    };
    h_resp_t            r;
    json_t             *j;
    size_t              i;

    for (i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        cr_assert_eq(h_post(env, "/v1/traces", JS, NULL, bodies[i],
                            strlen(bodies[i]), &r), 0);
        /* a bad id inside a well-formed body may be a partial success */
        if (i == 1 && r.status == 200) {
            h_resp_free(&r);
            continue;
        }
        cr_assert_eq(r.status, 400, "body %zu: status %ld", i, r.status);
        cr_assert_str_eq(r.content_type, JS);
        j = json_loadb(r.body, r.len, 0, NULL);
        cr_assert_not_null(j, "Status is JSON: %.200s", r.body);
        cr_assert(json_is_string(json_object_get(j, "message")),
                  "Status has a message: %.200s", r.body);
        cr_assert_not_null(json_object_get(j, "code"));
        json_decref(j);
        h_resp_free(&r);
    }
    cr_assert_eq(h_pass(env), 0, "every part stops cleanly");
}

Test(otlp, other_methods_are_405_with_allow)
{
    static const char  *methods[] = { "GET", "PUT", "DELETE" };
    h_resp_t            r;
    char                allow[128];
    size_t              i;

    for (i = 0; i < 3; i++) {
        cr_assert_eq(h_http(env, methods[i], "/v1/traces", NULL, NULL, 0, &r),
                     0);
        cr_assert_eq(r.status, 405, "%s: status %ld", methods[i], r.status);
        cr_assert(h_resp_header(&r, "Allow", allow, sizeof(allow)),
                  "405 carries Allow");
        cr_assert_not_null(strstr(allow, "POST"), "Allow: %s", allow);
        h_resp_free(&r);
    }
    cr_assert_eq(h_pass(env), 0, "every part stops cleanly");
}

Test(otlp, bodies_over_the_limit_are_413)
{
    ho_span_t  s[200];
    h_resp_t   r;
    uint8_t    trace[16], *body;
    size_t     len, i;

    /* valid in every other way: 200 spans with 8 KiB values, 1.6 MB */
    ho_random_id(trace, 16);
    for (i = 0; i < 200; i++) {
        ho_span_init(&s[i], trace, "big");
        s[i].nattrs = 1;
        s[i].value_len = 8192;
    }
    body = ho_request_pb(s, 200, &len);
    cr_assert_gt(len, 1u << 20);
    cr_assert_eq(h_post(env, "/v1/traces", PB, NULL, body, len, &r), 0);
    cr_assert_eq(r.status, 413, "status %ld", r.status);
    h_resp_free(&r);
    free(body);
    cr_assert_eq(h_pass(env), 0, "every part stops cleanly");
}

Test(otlp, a_gzip_bomb_is_413)
{
    uint8_t   *zeros, *gz;
    size_t     gzlen, n = 64u << 20;
    h_resp_t   r;
    json_t    *st;

    /* 64 MiB of zeros compress to ~64 KiB: under the limit on the wire */
    zeros = calloc(1, n);
    cr_assert_not_null(zeros);
    gz = h_gzip(zeros, n, &gzlen);
    free(zeros);
    cr_assert_not_null(gz);
    cr_assert_lt(gzlen, 1u << 20);
    cr_assert_eq(h_post(env, "/v1/traces", PB, "gzip", gz, gzlen, &r), 0);
    cr_assert_eq(r.status, 413, "status %ld", r.status);
    h_resp_free(&r);
    free(gz);

    /* the worker survived it */
    st = h_stats(env, NULL);
    cr_assert_not_null(st);
    json_decref(st);
    cr_assert_eq(h_pass(env), 0, "every part stops cleanly");
}

Test(otlp, too_many_spans_is_413)
{
    ho_span_t  s[101];
    h_resp_t   r;
    uint8_t    trace[16], *body;
    size_t     len, i;

    ho_random_id(trace, 16);
    for (i = 0; i < 101; i++) {
        ho_span_init(&s[i], trace, "many");
    }
    body = ho_request_pb(s, 101, &len);
    cr_assert_eq(h_post(env, "/v1/traces", PB, NULL, body, len, &r), 0);
    cr_assert_eq(r.status, 413, "status %ld", r.status);
    h_resp_free(&r);
    free(body);

    /* 100 is fine */
    body = ho_request_pb(s, 100, &len);
    cr_assert_eq(h_post(env, "/v1/traces", PB, NULL, body, len, &r), 0);
    cr_assert_eq(r.status, 200, "status %ld", r.status);
    h_resp_free(&r);
    free(body);
    cr_assert_eq(h_pass(env), 0, "every part stops cleanly");
}

Test(otlp, unknown_content_type_or_encoding_is_415)
{
    ho_span_t  s[2];
    h_resp_t   r;
    char       trace[33];
    uint8_t   *body;
    size_t     len;

    two_spans(s, trace);
    body = ho_request_pb(s, 2, &len);

    cr_assert_eq(h_post(env, "/v1/traces", "text/plain", NULL, body, len,
                        &r), 0);
    cr_assert_eq(r.status, 415, "text/plain: status %ld", r.status);
    h_resp_free(&r);

    cr_assert_eq(h_post(env, "/v1/traces", NULL, NULL, body, len, &r), 0);
    cr_assert_eq(r.status, 415, "no content type: status %ld", r.status);
    h_resp_free(&r);

    cr_assert_eq(h_post(env, "/v1/traces", PB, "br", body, len, &r), 0);
    cr_assert_eq(r.status, 415, "Content-Encoding br: status %ld", r.status);
    h_resp_free(&r);

    /* parameters on a known type are fine */
    cr_assert_eq(h_post(env, "/v1/traces", "application/x-protobuf; foo=bar",
                        NULL, body, len, &r), 0);
    cr_assert_eq(r.status, 200, "with a parameter: status %ld", r.status);
    h_resp_free(&r);
    free(body);
    cr_assert_eq(h_pass(env), 0, "every part stops cleanly");
}

Test(otlp, the_spec_example_trace_decodes)
{
    char     path[PATH_MAX + 64], *body;
    size_t   len;
    h_resp_t r;
    json_t  *tr, *t, *s;

    snprintf(path, sizeof(path), "%s/t/corpus/otlp/spec-example-trace.json",
             env->root);
    body = h_read_file(path, &len);
    cr_assert_not_null(body, "%s", path);
    cr_assert_eq(h_post(env, "/v1/traces", JS, NULL, body, len, &r), 0);
    cr_assert_eq(r.status, 200, "status %ld: %.300s", r.status, r.body);
    h_resp_free(&r);
    free(body);

    tr = h_traces_wait(env, 1, 1, WAIT_MS);
    t = h_trace_find(tr, "5b8efff798038103d269b633813fc60c");
    cr_assert_not_null(t, "upper-case hex trace id, lower-case out");
    s = h_span_find(t, "eee19b7ec3c1b174");
    cr_assert_not_null(s);
    cr_assert_str_eq(json_string_value(json_object_get(s, "parent_span_id")),
                     "eee19b7ec3c1b173");
    cr_assert_str_eq(json_string_value(json_object_get(s, "name")),
                     "I'm a server span");
    cr_assert_str_eq(json_string_value(json_object_get(s, "kind")), "SERVER");
    cr_assert_str_eq(json_string_value(json_object_get(s, "service")),
                     "my.service");
    cr_assert_str_eq(json_string_value(json_object_get(s, "scope")),
                     "my.library");
    cr_assert_eq(json_integer_value(json_object_get(s, "start_ns")),
                 1544712660000000000LL, "int64 times as JSON numbers");
    cr_assert_eq(json_integer_value(json_object_get(s, "end_ns")),
                 1544712661000000000LL);
    cr_assert_str_eq(json_string_value(json_object_get(
                     json_object_get(s, "attributes"), "my.span.attr")),
                     "some value");
    json_decref(tr);
    cr_assert_eq(h_pass(env), 0, "every part stops cleanly");
}

Test(otlp, a_trace_split_over_requests_is_one_trace)
{
    ho_span_t  s[4];
    h_resp_t   r;
    uint8_t    trace[16];
    char       hex[33], id[17];
    json_t    *tr, *t;
    int        i;

    ho_random_id(trace, 16);
    for (i = 0; i < 4; i++) {
        ho_span_init(&s[i], trace, i == 0 ? "root" : "child");
        if (i) {
            memcpy(s[i].parent_id, s[0].span_id, 8);
        }
    }
    h_hex(trace, 16, hex);

    /* children first, in protobuf, then the root in JSON */
    post_pb(&s[2], 2, &r);
    cr_assert_eq(r.status, 200);
    h_resp_free(&r);
    post_pb(&s[1], 1, &r);
    cr_assert_eq(r.status, 200);
    h_resp_free(&r);
    post_json(&s[0], 1, &r);
    cr_assert_eq(r.status, 200);
    h_resp_free(&r);

    tr = h_traces_wait(env, 1, 4, WAIT_MS);
    t = h_trace_find(tr, hex);
    cr_assert_not_null(t);
    cr_assert_eq(json_array_size(json_object_get(t, "spans")), 4,
                 "all four spans in one completed trace");
    for (i = 0; i < 4; i++) {
        h_hex(s[i].span_id, 8, id);
        cr_assert_not_null(h_span_find(t, id));
    }
    /* the one and only line of that trace */
    cr_assert_eq(json_array_size(tr), 1, "%zu lines", json_array_size(tr));
    json_decref(tr);
    cr_assert_eq(h_pass(env), 0, "every part stops cleanly");
}

static long long
stat_of(json_t *st, const char *name)
{
    json_t  *v = json_object_get(st, name);

    cr_assert(json_is_integer(v), "stats has integer %s", name);
    return json_integer_value(v);
}

Test(otlp, stats_fields_and_counters_move)
{
    static const char  *fields[] = {
        "spans_accepted", "requests_rejected", "spans_consumed",
        "traces_in_flight", "traces_completed", "ring_bytes_used",
        "ring_bytes_total"
    };
    static const uint8_t  bad[] = { 0x0a, 0x7f };
    json_t     *a, *b;
    ho_span_t   s[2];
    h_resp_t    r;
    char        trace[33];
    size_t      i;
    int64_t     deadline;
    long long   consumed0, completed0;

    a = h_stats(env, NULL);
    cr_assert_not_null(a, "GET /api/v1/stats answers JSON");
    for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        cr_assert_geq(stat_of(a, fields[i]), 0);
    }
    cr_assert_gt(stat_of(a, "ring_bytes_total"), 0);

    two_spans(s, trace);
    post_pb(s, 2, &r);
    cr_assert_eq(r.status, 200);
    h_resp_free(&r);
    cr_assert_eq(h_post(env, "/v1/traces", PB, NULL, bad, sizeof(bad), &r),
                 0);
    cr_assert_eq(r.status, 400);
    h_resp_free(&r);

    b = h_stats(env, NULL);
    cr_assert_not_null(b);
    cr_assert_eq(stat_of(b, "spans_accepted") - stat_of(a, "spans_accepted"),
                 2);
    cr_assert_eq(stat_of(b, "requests_rejected")
                 - stat_of(a, "requests_rejected"), 1);
    consumed0 = stat_of(a, "spans_consumed");
    completed0 = stat_of(a, "traces_completed");
    json_decref(b);

    /* the engine's side moves too: consumed, then completed */
    deadline = h_now_ms() + WAIT_MS;
    for ( ;; ) {
        b = h_stats(env, NULL);
        cr_assert_not_null(b);
        if (stat_of(b, "spans_consumed") >= consumed0 + 2
            && stat_of(b, "traces_completed") >= completed0 + 1)
        {
            break;
        }
        cr_assert_lt(h_now_ms(), deadline, "engine counters did not move: "
                     "%s", json_dumps(b, 0));
        json_decref(b);
        usleep(50000);
    }
    json_decref(b);
    json_decref(a);
    cr_assert_eq(h_pass(env), 0, "every part stops cleanly");
}


/* --- a full ring --------------------------------------------------------- */

/* Posts 8 KiB requests until one is refused; returns that response. */
static int
fill_ring(h_resp_t *r, int *accepted)
{
    ho_span_t  s;
    uint8_t    trace[16], *body;
    size_t     len;
    int        i;

    for (i = 0; i < 1000; i++) {
        ho_random_id(trace, 16);
        ho_span_init(&s, trace, "filler");
        s.nattrs = 1;
        s.value_len = 8000;
        body = ho_request_pb(&s, 1, &len);
        cr_assert_eq(h_post(env, "/v1/traces", PB, NULL, body, len, r), 0);
        free(body);
        if (r->status != 200) {
            *accepted = i;
            return 0;
        }
        h_resp_free(r);
    }
    return -1;
}

static const h_opts_t  tiny_opts = {
    .idle_ms = 200,
    .ring_slots = 1,
    .ring_slot_size = "64k",
    .otlp_extra = "betrace_retry_after 7;",
};

static void
start_tiny_no_engine(void)
{
    env = h_env_start(&tiny_opts, H_NGINX);
    cr_assert_not_null(env, "nginx starts");
}

static void
start_tiny(void)
{
    env = h_env_start(&tiny_opts, H_ENGINE | H_NGINX);
    cr_assert_not_null(env, "engine and nginx start");
}

Test(ring_full, no_engine_is_503_with_retry_after,
     .init = start_tiny_no_engine, .fini = stop_all, .timeout = 120)
{
    h_resp_t  r;
    char      ra[32];
    int       accepted = 0;

    cr_assert_eq(fill_ring(&r, &accepted), 0, "the 64 KiB ring fills up");
    cr_assert_gt(accepted, 0, "spans are accepted while there is room");
    cr_assert_eq(r.status, 503, "status %ld after %d accepted", r.status,
                 accepted);
    cr_assert(h_resp_header(&r, "Retry-After", ra, sizeof(ra)));
    cr_assert_str_eq(ra, "7");
    h_resp_free(&r);
    cr_assert_eq(h_pass(env), 0, "every part stops cleanly");
}

Test(ring_full, a_live_but_busy_engine_is_429_and_nothing_is_lost,
     .init = start_tiny, .fini = stop_all, .timeout = 120)
{
    h_resp_t   r;
    char       ra[32];
    int        accepted = 0, ok = 0;
    int64_t    deadline;
    ho_span_t  s;
    uint8_t    trace[16], *body;
    size_t     len;
    json_t    *tr;

    /*
     * A stopped engine's heartbeat is fresh for a moment: the module must
     * see a live engine that is behind (429), not a dead one (503).
     */
    cr_assert_eq(h_engine_pause(env), 0);
    cr_assert_eq(fill_ring(&r, &accepted), 0);
    cr_assert_gt(accepted, 0);
    cr_assert_eq(r.status, 429, "status %ld after %d accepted", r.status,
                 accepted);
    cr_assert(h_resp_header(&r, "Retry-After", ra, sizeof(ra)));
    cr_assert_str_eq(ra, "7");
    h_resp_free(&r);

    /* once it runs again the ring drains and requests go through */
    cr_assert_eq(h_engine_resume(env), 0);
    deadline = h_now_ms() + WAIT_MS;
    while (!ok) {
        ho_random_id(trace, 16);
        ho_span_init(&s, trace, "after");
        body = ho_request_pb(&s, 1, &len);
        cr_assert_eq(h_post(env, "/v1/traces", PB, NULL, body, len, &r), 0);
        free(body);
        ok = r.status == 200;
        h_resp_free(&r);
        cr_assert_lt(h_now_ms(), deadline, "the ring never drained");
        if (!ok) {
            usleep(100000);
        }
    }
    /* every span that got a 200 came out */
    tr = h_traces_wait(env, 0, accepted + 1, WAIT_MS);
    cr_assert_geq(h_traces_span_count(tr), (size_t) accepted + 1);
    json_decref(tr);
    cr_assert_eq(h_pass(env), 0, "every part stops cleanly");
}
