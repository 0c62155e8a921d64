/*
 * test_otlp_gzip.c - gzip request bodies at the real nginx module's
 * OTLP/HTTP endpoint, with the real engine behind it: the edges of the
 * one-shot decompressor (ISIZE trailers that lie, several members, the exact
 * limit, corrupt and truncated streams, the spelling of the encoding).
 */

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "t/lib/harness.h"
#include "t/lib/harness_otlp.h"

#define PB      "application/x-protobuf"
#define WAIT_MS 30000
#define LIMIT   (64 * 1024)

static h_env_t  *env;

/* A small limit, so the edges of it are cheap to build. */
static const h_opts_t  gzip_opts = {
    .idle_ms = 2000,
    .otlp_extra = "betrace_max_body_size 64k; betrace_max_spans 1000;",
};

static void
start_all(void)
{
    env = h_env_start(&gzip_opts, H_ALL);
    cr_assert_not_null(env, "redis, engine and nginx start");
}

static void
stop_all(void)
{
    h_env_free(env);
    env = NULL;
}

TestSuite(otlp_gzip, .init = start_all, .fini = stop_all, .timeout = 120);

/*
 * n spans of one fresh trace as protobuf (n * ~150 bytes, so bodies well
 * past the decompressor's first 4 KiB buffer); the trace id in hex.
 */
static uint8_t *
spans_pb(size_t n, char *trace_hex, size_t *len)
{
    ho_span_t  *s;
    uint8_t     trace[16], *body;
    size_t      i;

    s = calloc(n, sizeof(ho_span_t));
    cr_assert_not_null(s);
    ho_random_id(trace, 16);
    for (i = 0; i < n; i++) {
        ho_span_init(&s[i], trace, "SELECT orders");
        s[i].nattrs = 4;
        if (i > 0) {
            memcpy(s[i].parent_id, s[0].span_id, 8);
        }
    }
    h_hex(trace, 16, trace_hex);
    body = ho_request_pb(s, n, len);
    free(s);
    cr_assert_not_null(body);
    return body;
}

/* Members gzip-compressing body[cut[k-1] .. cut[k]), back to back. */
static uint8_t *
members(const uint8_t *body, size_t len, const size_t *cut, size_t ncut,
    size_t *outlen)
{
    uint8_t  *out, *gz;
    size_t    k, from, to, gzlen;

    out = NULL;
    *outlen = 0;
    for (k = 0; k <= ncut; k++) {
        from = k ? cut[k - 1] : 0;
        to = k < ncut ? cut[k] : len;
        gz = h_gzip(body + from, to - from, &gzlen);
        cr_assert_not_null(gz);
        out = realloc(out, *outlen + gzlen);
        cr_assert_not_null(out);
        memcpy(out + *outlen, gz, gzlen);
        *outlen += gzlen;
        free(gz);
    }
    return out;
}

static long
post_gz(const char *encoding, const void *gz, size_t gzlen)
{
    h_resp_t  r;
    long      status;

    cr_assert_eq(h_post(env, "/v1/traces", PB, encoding, gz, gzlen, &r), 0);
    status = r.status;
    h_resp_free(&r);
    return status;
}

/* The engine got trace_hex with all n spans. */
static void
check_trace(const char *trace_hex, size_t n)
{
    json_t  *tr, *t;

    tr = h_traces_wait_trace(env, trace_hex, n, WAIT_MS);
    t = h_trace_find(tr, trace_hex);
    cr_assert_not_null(t, "trace %s in the engine output", trace_hex);
    cr_assert_eq(json_array_size(json_object_get(t, "spans")), n);
    json_decref(tr);
}

Test(otlp_gzip, members_whose_last_isize_understates_the_body)
{
    uint8_t  *body, *gz;
    size_t    len, gzlen, cut[2];
    char      trace[33];

    /* the trailer says 1 byte; the first member holds all but that byte */
    body = spans_pb(200, trace, &len);
    cr_assert_gt(len, 16384, "body of %zu bytes", len);
    cr_assert_lt(len, LIMIT);
    cut[0] = len - 1;
    gz = members(body, len, cut, 1, &gzlen);
    cr_assert_eq(post_gz("gzip", gz, gzlen), 200);
    free(gz);
    check_trace(trace, 200);
    free(body);

    /* three members cut at odd places, one of them empty */
    body = spans_pb(150, trace, &len);
    cut[0] = 777;
    cut[1] = 777;
    gz = members(body, len, cut, 2, &gzlen);
    cr_assert_eq(post_gz("gzip", gz, gzlen), 200);
    free(gz);
    check_trace(trace, 150);
    free(body);
    cr_assert_eq(h_pass(env), 0, "every part stops cleanly");
}

Test(otlp_gzip, the_encoding_is_case_insensitive)
{
    uint8_t  *body, *gz;
    size_t    len, gzlen;
    char      trace[33];

    body = spans_pb(20, trace, &len);
    gz = h_gzip(body, len, &gzlen);
    cr_assert_not_null(gz);
    cr_assert_eq(post_gz("GZIP", gz, gzlen), 200);
    check_trace(trace, 20);
    free(gz);
    free(body);

    body = spans_pb(20, trace, &len);
    gz = h_gzip(body, len, &gzlen);
    cr_assert_eq(post_gz("x-gzip", gz, gzlen), 200);
    check_trace(trace, 20);
    free(gz);
    free(body);
    cr_assert_eq(h_pass(env), 0, "every part stops cleanly");
}

Test(otlp_gzip, the_limit_counts_decompressed_bytes_exactly)
{
    uint8_t  *zeros, *gz;
    size_t    gzlen, cut[1];

    zeros = calloc(1, 4 * LIMIT);
    cr_assert_not_null(zeros);

    /*
     * Zero bytes are not a valid ExportTraceServiceRequest: exactly at the
     * limit the body is decompressed and the decoder refuses it (400); one
     * byte more and it never gets that far (413).
     */
    gz = h_gzip(zeros, LIMIT, &gzlen);
    cr_assert_eq(post_gz("gzip", gz, gzlen), 400);
    free(gz);

    gz = h_gzip(zeros, LIMIT + 1, &gzlen);
    cr_assert_eq(post_gz("gzip", gz, gzlen), 413);
    free(gz);

    /* two members each under the limit, over it together */
    cut[0] = LIMIT / 2 + 1;
    gz = members(zeros, LIMIT + 2, cut, 1, &gzlen);
    cr_assert_eq(post_gz("gzip", gz, gzlen), 413);
    free(gz);

    /* a trailer that understates a bomb changes nothing */
    cut[0] = 4 * LIMIT - 1;
    gz = members(zeros, 4 * LIMIT, cut, 1, &gzlen);
    cr_assert_eq(post_gz("gzip", gz, gzlen), 413);
    free(gz);

    free(zeros);
    cr_assert_eq(h_pass(env), 0, "every part stops cleanly");
}

Test(otlp_gzip, corrupt_and_truncated_streams_are_400)
{
    uint8_t  *body, *gz, *two;
    size_t    len, gzlen, twolen, cut[1];
    char      trace[33];

    body = spans_pb(100, trace, &len);
    gz = h_gzip(body, len, &gzlen);
    cr_assert_not_null(gz);

    /* cut inside the deflate data, and inside the trailer */
    cr_assert_eq(post_gz("gzip", gz, gzlen / 2), 400);
    cr_assert_eq(post_gz("gzip", gz, gzlen - 3), 400);
    cr_assert_eq(post_gz("gzip", gz, 5), 400);
    cr_assert_eq(post_gz("gzip", gz, 0), 400);

    /* a wrong CRC-32, then a wrong ISIZE */
    gz[gzlen - 8] ^= 0x01;
    cr_assert_eq(post_gz("gzip", gz, gzlen), 400);
    gz[gzlen - 8] ^= 0x01;
    gz[gzlen - 4] ^= 0x01;
    cr_assert_eq(post_gz("gzip", gz, gzlen), 400);
    gz[gzlen - 4] ^= 0x01;

    /* not gzip at all */
    cr_assert_eq(post_gz("gzip", body, len), 400);

    /* the intact stream still goes through */
    cr_assert_eq(post_gz("gzip", gz, gzlen), 200);
    check_trace(trace, 100);
    free(gz);

    /* a good first member and a truncated second one */
    cut[0] = len / 2;
    two = members(body, len, cut, 1, &twolen);
    cr_assert_eq(post_gz("gzip", two, twolen - 6), 400);
    free(two);
    free(body);
    cr_assert_eq(h_pass(env), 0, "every part stops cleanly");
}
