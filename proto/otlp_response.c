/*
 * otlp_response.c - response bodies of the OTLP/HTTP traces endpoint.
 *
 * Protobuf through the protobuf-c generated types, JSON through jansson,
 * following the protobuf JSON mapping OTLP uses: lowerCamelCase names,
 * int64 as a decimal string.  These are small and off the hot path (a
 * partial success or an error), so clarity wins over speed.
 */

#include <stdio.h>
#include <string.h>
#include <jansson.h>

#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"
#include "google/rpc/status.pb-c.h"
#include "otlp_response.h"


/*
 * A JSON string of msg; bytes that are not valid UTF-8 would make jansson
 * refuse it, so then every non-ASCII byte becomes '?'.
 */
static json_t *
json_msg(const char *msg)
{
    json_t  *s;
    char     safe[1024];
    size_t   i;

    if (msg == NULL) {
        msg = "";
    }

    s = json_string(msg);
    if (s != NULL) {
        return s;
    }

    for (i = 0; msg[i] && i < sizeof(safe) - 1; i++) {
        safe[i] = (unsigned char) msg[i] < 0x80 ? msg[i] : '?';
    }
    safe[i] = '\0';

    return json_string(safe);
}


/* Dumps a JSON object into buf; returns its length, 0 if it does not fit. */
static size_t
dump_json(json_t *obj, uint8_t *buf, size_t cap)
{
    size_t  n;

    if (obj == NULL) {
        return 0;
    }

    n = json_dumpb(obj, (char *) buf, cap, JSON_COMPACT);
    json_decref(obj);

    return n <= cap ? n : 0;
}


size_t
bt_otlp_response(int json, uint64_t rejected, const char *msg, uint8_t *buf,
    size_t cap)
{
    Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceResponse
        resp =
        OPENTELEMETRY__PROTO__COLLECTOR__TRACE__V1__EXPORT_TRACE_SERVICE_RESPONSE__INIT;
    Opentelemetry__Proto__Collector__Trace__V1__ExportTracePartialSuccess
        partial =
        OPENTELEMETRY__PROTO__COLLECTOR__TRACE__V1__EXPORT_TRACE_PARTIAL_SUCCESS__INIT;
    json_t  *obj;
    char     num[24];
    size_t   n;

    if (json) {
        if (rejected == 0) {
            if (cap < 2) {
                return 0;
            }
            memcpy(buf, "{}", 2);
            return 2;
        }

        /* protobuf's JSON mapping writes int64 as a string */
        snprintf(num, sizeof(num), "%llu", (unsigned long long) rejected);
        obj = json_pack("{s:{s:s, s:o}}", "partialSuccess",
                        "rejectedSpans", num,
                        "errorMessage", json_msg(msg));
        return dump_json(obj, buf, cap);
    }

    if (rejected == 0) {
        return 0;
    }

    partial.rejected_spans = (int64_t) rejected;
    partial.error_message = (char *) (msg ? msg : "");
    resp.partial_success = &partial;

    n = opentelemetry__proto__collector__trace__v1__export_trace_service_response__get_packed_size(
        &resp);
    if (n > cap) {
        return 0;
    }

    return opentelemetry__proto__collector__trace__v1__export_trace_service_response__pack(
        &resp, buf);
}


size_t
bt_otlp_status(int json, int grpc_code, const char *msg, uint8_t *buf,
    size_t cap)
{
    Google__Rpc__Status  st = GOOGLE__RPC__STATUS__INIT;
    json_t              *obj;
    size_t               n;

    if (json) {
        obj = json_pack("{s:i, s:o}", "code", grpc_code,
                        "message", json_msg(msg));
        return dump_json(obj, buf, cap);
    }

    st.code = grpc_code;
    st.message = (char *) (msg ? msg : "");

    n = google__rpc__status__get_packed_size(&st);
    if (n > cap) {
        return 0;
    }

    return google__rpc__status__pack(&st, buf);
}
