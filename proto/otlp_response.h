/*
 * otlp_response.h - response bodies of the OTLP/HTTP traces endpoint, in
 * protobuf (json = 0) or JSON (json = 1), written into a caller's buffer.
 */

#ifndef OTLP_RESPONSE_H
#define OTLP_RESPONSE_H

#include <stddef.h>
#include <stdint.h>

/*
 * ExportTraceServiceResponse.  With rejected > 0 it carries partial_success
 * {rejected_spans, error_message = msg}; otherwise it is empty (protobuf:
 * zero bytes, JSON: "{}").  msg may be NULL.  Returns the bytes written
 * (JSON is not NUL-terminated), or 0 when cap is too small; an empty
 * protobuf response is 0 bytes and fits any cap, so 0 is then correct.
 */
size_t bt_otlp_response(int json, uint64_t rejected, const char *msg,
    uint8_t *buf, size_t cap);

/*
 * google.rpc.Status {code = grpc_code, message = msg} for error answers
 * (e.g. 400 with code 3, INVALID_ARGUMENT).  msg may be NULL.  Returns the
 * bytes written, or 0 when cap is too small.
 */
size_t bt_otlp_status(int json, int grpc_code, const char *msg,
    uint8_t *buf, size_t cap);

#endif /* OTLP_RESPONSE_H */
