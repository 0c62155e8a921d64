/*
 * test_otlp_response.c - response bodies (proto/otlp_response.c), decoded
 * back with protobuf-c and jansson.
 */

#include <string.h>
#include <jansson.h>
#include <criterion/criterion.h>

#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"
#include "google/rpc/status.pb-c.h"
#include "proto/otlp_response.h"

typedef Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceResponse
    resp_t;


Test(response, full_success_is_empty)
{
    uint8_t  buf[64];

    cr_assert_eq(bt_otlp_response(0, 0, NULL, buf, sizeof(buf)), 0);
    cr_assert_eq(bt_otlp_response(1, 0, "ignored", buf, sizeof(buf)), 2);
    cr_assert_arr_eq(buf, "{}", 2);
}


Test(response, partial_success_protobuf)
{
    uint8_t   buf[256];
    size_t    n;
    resp_t   *r;

    n = bt_otlp_response(0, 3, "3 spans rejected", buf, sizeof(buf));
    cr_assert_gt(n, 0);

    r = opentelemetry__proto__collector__trace__v1__export_trace_service_response__unpack(
        NULL, n, buf);
    cr_assert_not_null(r);
    cr_assert_not_null(r->partial_success);
    cr_assert_eq(r->partial_success->rejected_spans, 3);
    cr_assert_str_eq(r->partial_success->error_message, "3 spans rejected");
    opentelemetry__proto__collector__trace__v1__export_trace_service_response__free_unpacked(
        r, NULL);
}


Test(response, partial_success_json)
{
    uint8_t       buf[256];
    size_t        n;
    json_t       *j, *ps;
    json_error_t  err;

    n = bt_otlp_response(1, 12345678901ull, "why \"quoted\"", buf,
                         sizeof(buf));
    cr_assert_gt(n, 0);

    j = json_loadb((char *) buf, n, 0, &err);
    cr_assert_not_null(j, "%s", err.text);
    ps = json_object_get(j, "partialSuccess");
    cr_assert(json_is_object(ps));
    /* int64 in protobuf JSON is a string */
    cr_assert_str_eq(json_string_value(json_object_get(ps, "rejectedSpans")),
                     "12345678901");
    cr_assert_str_eq(json_string_value(json_object_get(ps, "errorMessage")),
                     "why \"quoted\"");
    json_decref(j);
}


Test(response, status_protobuf_and_json)
{
    uint8_t              buf[256];
    size_t               n;
    Google__Rpc__Status  *st;
    json_t              *j;

    n = bt_otlp_status(0, 3, "malformed protobuf at byte 7", buf, sizeof(buf));
    cr_assert_gt(n, 0);
    st = google__rpc__status__unpack(NULL, n, buf);
    cr_assert_not_null(st);
    cr_assert_eq(st->code, 3);
    cr_assert_str_eq(st->message, "malformed protobuf at byte 7");
    cr_assert_eq(st->n_details, 0);
    google__rpc__status__free_unpacked(st, NULL);

    n = bt_otlp_status(1, 8, "ring full", buf, sizeof(buf));
    cr_assert_gt(n, 0);
    j = json_loadb((char *) buf, n, 0, NULL);
    cr_assert_not_null(j);
    cr_assert_eq(json_integer_value(json_object_get(j, "code")), 8);
    cr_assert_str_eq(json_string_value(json_object_get(j, "message")),
                     "ring full");
    json_decref(j);
}


Test(response, small_buffers_give_zero)
{
    uint8_t  buf[256];
    size_t   full, n;

    full = bt_otlp_status(0, 3, "a message of some length", buf, sizeof(buf));
    cr_assert_gt(full, 0);
    for (n = 0; n < full; n++) {
        cr_assert_eq(bt_otlp_status(0, 3, "a message of some length", buf, n),
                     0, "cap %zu", n);
    }
    cr_assert_eq(bt_otlp_status(0, 3, "a message of some length", buf, full),
                 full);

    full = bt_otlp_response(1, 2, "two", buf, sizeof(buf));
    cr_assert_gt(full, 0);
    for (n = 0; n < full; n++) {
        cr_assert_eq(bt_otlp_response(1, 2, "two", buf, n), 0, "cap %zu", n);
    }
    cr_assert_eq(bt_otlp_response(1, 0, NULL, buf, 1), 0);
}


Test(response, invalid_utf8_message_still_gives_json)
{
    uint8_t  buf[256];
    size_t   n;
    json_t  *j;

    n = bt_otlp_status(1, 3, "bad \xff byte", buf, sizeof(buf));
    cr_assert_gt(n, 0);
    j = json_loadb((char *) buf, n, 0, NULL);
    cr_assert_not_null(j);
    cr_assert_str_eq(json_string_value(json_object_get(j, "message")),
                     "bad ? byte");
    json_decref(j);
}
