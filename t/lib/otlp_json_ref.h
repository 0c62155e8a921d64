/*
 * otlp_json_ref.h - the reference OTLP/JSON converter for tests: the
 * original jansson DOM -> protobuf-c message -> pack path that
 * proto/otlp_json.c replaced with a streaming reader.  Differential tests
 * hold the streaming reader to it: same decision on every body, and the
 * same batches after bt_otlp_scan/bt_otlp_write (the protobuf bytes may
 * differ in field order).
 */

#ifndef OTLP_JSON_REF_H
#define OTLP_JSON_REF_H

#include <stddef.h>
#include <stdint.h>

#include "proto/otlp_decode.h"

/*
 * Same contract as bt_otlp_json_to_pb (proto/otlp_json.h): returns 0 with
 * *pb malloc'd (never NULL) and *pb_len, or -1 with a message in err and
 * *pb NULL.
 */
int otlp_json_ref_to_pb(const char *json, size_t len, uint8_t **pb,
    size_t *pb_len, char *err, size_t errlen);

/*
 * Converts json with bt_otlp_json_to_pb and with the reference, then walks
 * both results (bt_otlp_scan, bt_otlp_write with lim).  Returns 0 when
 * they agree: both refuse the body, or both convert it and the walker
 * gives the same decision, counts and batch bytes.  Else -1 with the
 * difference in why.  Aborts on allocation failure (a test tool).
 */
int otlp_json_ref_compare(const char *json, size_t len,
    const bt_otlp_limits_t *lim, char *why, size_t whylen);

#endif /* OTLP_JSON_REF_H */
