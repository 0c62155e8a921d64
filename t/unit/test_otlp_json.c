/*
 * test_otlp_json.c - OTLP/JSON bodies (proto/otlp_json.c): the spec's
 * example, the mapping's variants (ids in any case, snake_case names,
 * 64-bit integers as strings or numbers, enum names, base64 bytes), and
 * error messages that name the place.  Converted bodies go through the
 * protobuf walker and the reference, so what is checked is what the engine
 * would see.
 */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <criterion/criterion.h>

#include "proto/otlp_decode.h"
#include "proto/otlp_json.h"
#include "shm/bt_span.h"
#include "t/lib/otlp_ref.h"

#define SPEC_FIXTURE  "t/corpus/otlp/spec-example-trace.json"

static const bt_otlp_limits_t  lim = { 10000, 128, 65536, 8 };

/* what one converted body became */
typedef struct {
    bt_otlp_scan_t  scan;
    uint8_t        *batch;
    bt_span_t       span;       /* the first one */
} out_t;


/* Converts, scans, writes, checks against the reference; 0 or -1. */
static int
convert(const char *json, out_t *o, char *err)
{
    uint8_t  *pb;
    size_t    pb_len;
    char      why[512];

    memset(o, 0, sizeof(*o));
    if (bt_otlp_json_to_pb(json, strlen(json), &pb, &pb_len, err, 256) != 0) {
        cr_assert_null(pb);
        return -1;
    }
    cr_assert_not_null(pb);

    cr_assert_eq(otlp_ref_compare(pb, pb_len, &lim, why, sizeof(why)), 0,
                 "%s", why);
    cr_assert_eq(bt_otlp_scan(pb, pb_len, &lim, &o->scan), BT_OTLP_OK, "%s",
                 o->scan.message);

    if (o->scan.accepted > 0) {
        o->batch = malloc(o->scan.batch_len);
        bt_otlp_write(pb, pb_len, &lim, o->batch);
        cr_assert_gt(bt_span_parse(bt_batch_first(o->batch),
                                   o->scan.batch_len - 8, &o->span), 0);
    }

    free(pb);
    return 0;
}


static void
ok(const char *json, out_t *o)
{
    char  err[256];

    cr_assert_eq(convert(json, o, err), 0, "%s", err);
}


static void
fails_with(const char *json, const char *want)
{
    out_t  o;
    char   err[256];

    cr_assert_eq(convert(json, &o, err), -1, "converted: %s", json);
    cr_assert_str_eq(err, want);
}


static int
str_is(bt_str_t s, const char *want)
{
    return s.n == strlen(want) && memcmp(s.p, want, s.n) == 0;
}


static char *
slurp(const char *path)
{
    FILE  *f = fopen(path, "rb");
    char  *buf;
    long   n;

    cr_assert_not_null(f, "%s", path);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t) n + 1);
    cr_assert_eq(fread(buf, 1, (size_t) n, f), (size_t) n);
    buf[n] = '\0';
    fclose(f);
    return buf;
}


/* a span wrapper: prefix + span fields + suffix */
#define SPAN(fields)                                                          \
    "{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":"           \
    "\"service.name\",\"value\":{\"stringValue\":\"svc\"}}]},"                \
    "\"scopeSpans\":[{\"scope\":{\"name\":\"lib\"},\"spans\":[{"              \
    "\"traceId\":\"5b8efff798038103d269b633813fc60c\","                       \
    "\"spanId\":\"eee19b7ec3c1b174\"," fields "}]}]}]}"


Test(json, spec_example_decodes)
{
    out_t          o;
    char          *json = slurp(SPEC_FIXTURE);
    bt_val_t       v;
    static const uint8_t  tid[16] = {
        0x5b, 0x8e, 0xff, 0xf7, 0x98, 0x03, 0x81, 0x03,
        0xd2, 0x69, 0xb6, 0x33, 0x81, 0x3f, 0xc6, 0x0c
    };
    static const uint8_t  sid[8] = {
        0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x74
    };
    static const uint8_t  pid[8] = {
        0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x73
    };

    ok(json, &o);
    cr_assert_eq(o.scan.accepted, 1);
    cr_assert_arr_eq(o.span.trace_id, tid, 16, "uppercase hex");
    cr_assert_arr_eq(o.span.span_id, sid, 8);
    cr_assert_arr_eq(o.span.parent_id, pid, 8);
    cr_assert(str_is(o.span.name, "I'm a server span"));
    cr_assert_eq(o.span.kind, BT_KIND_SERVER);
    cr_assert_eq(o.span.start_ns, 1544712660000000000ull, "int64 number");
    cr_assert_eq(o.span.end_ns, 1544712661000000000ull);
    cr_assert(str_is(o.span.service, "my.service"));
    cr_assert(str_is(o.span.scope, "my.library"));
    cr_assert(bt_attrs_get(&o.span.attrs, "my.span.attr", 12, &v));
    cr_assert_eq(v.type, BT_VAL_STRING);

    free(o.batch);
    free(json);
}


Test(json, ids_in_any_case_are_the_same)
{
    out_t  a, b;

    ok(SPAN("\"parentSpanId\":\"EEE19B7EC3C1B173\""), &a);
    ok(SPAN("\"parentSpanId\":\"eEe19b7eC3c1B173\""), &b);
    cr_assert_arr_eq(a.span.parent_id, b.span.parent_id, 8);
    cr_assert_eq(a.span.parent_id[0], 0xee);
    free(a.batch);
    free(b.batch);
}


Test(json, snake_case_names_work)
{
    out_t  o;

    ok("{\"resource_spans\":[{\"scope_spans\":[{\"spans\":[{"
       "\"trace_id\":\"5b8efff798038103d269b633813fc60c\","
       "\"span_id\":\"eee19b7ec3c1b174\","
       "\"parent_span_id\":\"eee19b7ec3c1b173\","
       "\"start_time_unix_nano\":\"100\",\"end_time_unix_nano\":200,"
       "\"status\":{\"code\":2,\"message\":\"bad\"},"
       "\"attributes\":[{\"key\":\"k\",\"value\":{\"int_value\":\"7\"}}]"
       "}]}]}]}", &o);
    cr_assert_eq(o.scan.accepted, 1);
    cr_assert_eq(o.span.start_ns, 100);
    cr_assert_eq(o.span.end_ns, 200);
    cr_assert_eq(o.span.status, BT_STATUS_ERROR);
    cr_assert(str_is(o.span.status_message, "bad"));
    cr_assert_eq(o.span.attrs.count, 1);
    free(o.batch);
}


Test(json, int64_as_strings_and_numbers)
{
    out_t     o;
    bt_val_t  v;

    ok(SPAN("\"startTimeUnixNano\":\"18446744073709551615\","
            "\"endTimeUnixNano\":1e3,"
            "\"attributes\":["
            "{\"key\":\"neg\",\"value\":{\"intValue\":\"-9223372036854775808\"}},"
            "{\"key\":\"num\",\"value\":{\"intValue\":-5}}]"), &o);
    cr_assert_eq(o.span.start_ns, UINT64_MAX);
    cr_assert_eq(o.span.end_ns, 1000);
    cr_assert(bt_attrs_get(&o.span.attrs, "neg", 3, &v));
    cr_assert_eq(bt_val_int(&v), INT64_MIN);
    cr_assert(bt_attrs_get(&o.span.attrs, "num", 3, &v));
    cr_assert_eq(bt_val_int(&v), -5);
    free(o.batch);
}


Test(json, enums_as_numbers_or_names)
{
    out_t  o;

    ok(SPAN("\"kind\":\"SPAN_KIND_CLIENT\","
            "\"status\":{\"code\":\"STATUS_CODE_OK\"}"), &o);
    cr_assert_eq(o.span.kind, BT_KIND_CLIENT);
    cr_assert_eq(o.span.status, BT_STATUS_OK);
    free(o.batch);

    ok(SPAN("\"kind\":5"), &o);
    cr_assert_eq(o.span.kind, BT_KIND_CONSUMER);
    free(o.batch);

    fails_with(SPAN("\"kind\":\"SPAN_KIND_BOGUS\""),
               "resourceSpans[0].scopeSpans[0].spans[0].kind: "
               "not an enum number or name");
}


Test(json, every_value_type)
{
    out_t      o;
    bt_val_t   v;
    bt_iter_t  it;
    bt_str_t   k;

    ok(SPAN("\"attributes\":["
            "{\"key\":\"s\",\"value\":{\"stringValue\":\"x\"}},"
            "{\"key\":\"b\",\"value\":{\"boolValue\":true}},"
            "{\"key\":\"d\",\"value\":{\"doubleValue\":1.5}},"
            "{\"key\":\"nan\",\"value\":{\"doubleValue\":\"NaN\"}},"
            "{\"key\":\"inf\",\"value\":{\"doubleValue\":\"-Infinity\"}},"
            "{\"key\":\"bytes\",\"value\":{\"bytesValue\":\"AAH/\"}},"
            "{\"key\":\"urlsafe\",\"value\":{\"bytesValue\":\"AAH_\"}},"
            "{\"key\":\"nopad\",\"value\":{\"bytesValue\":\"YQ\"}},"
            "{\"key\":\"arr\",\"value\":{\"arrayValue\":{\"values\":["
            "{\"intValue\":\"1\"},{\"stringValue\":\"two\"}]}}},"
            "{\"key\":\"map\",\"value\":{\"kvlistValue\":{\"values\":["
            "{\"key\":\"in\",\"value\":{\"boolValue\":false}}]}}},"
            "{\"key\":\"empty\",\"value\":{}},"
            "{\"key\":\"none\"}]"), &o);

    cr_assert_eq(o.span.attrs.count, 12);
    cr_assert(bt_attrs_get(&o.span.attrs, "b", 1, &v));
    cr_assert(bt_val_bool(&v));
    cr_assert(bt_attrs_get(&o.span.attrs, "d", 1, &v));
    cr_assert_eq(bt_val_double(&v), 1.5);
    cr_assert(bt_attrs_get(&o.span.attrs, "nan", 3, &v));
    cr_assert(isnan(bt_val_double(&v)));
    cr_assert(bt_attrs_get(&o.span.attrs, "inf", 3, &v));
    cr_assert(isinf(bt_val_double(&v)) && bt_val_double(&v) < 0);
    cr_assert(bt_attrs_get(&o.span.attrs, "bytes", 5, &v));
    cr_assert_eq(v.type, BT_VAL_BYTES);
    cr_assert_eq(v.n, 3);
    cr_assert_arr_eq(v.p, "\x00\x01\xff", 3);
    cr_assert(bt_attrs_get(&o.span.attrs, "urlsafe", 7, &v));
    cr_assert_arr_eq(v.p, "\x00\x01\xff", 3);
    cr_assert(bt_attrs_get(&o.span.attrs, "nopad", 5, &v));
    cr_assert_eq(v.n, 1);
    cr_assert_eq(v.p[0], 'a');
    cr_assert(bt_attrs_get(&o.span.attrs, "arr", 3, &v));
    cr_assert_eq(v.type, BT_VAL_ARRAY);
    bt_iter_init(&it, v.p, v.n);
    cr_assert(bt_val_next(&it, &v));
    cr_assert_eq(bt_val_int(&v), 1);
    cr_assert(bt_attrs_get(&o.span.attrs, "map", 3, &v));
    bt_iter_init(&it, v.p, v.n);
    cr_assert(bt_attr_next(&it, &k, &v));
    cr_assert_eq(v.type, BT_VAL_BOOL);
    cr_assert_not(bt_val_bool(&v));
    cr_assert(bt_attrs_get(&o.span.attrs, "empty", 5, &v));
    cr_assert_eq(v.type, BT_VAL_EMPTY);
    cr_assert(bt_attrs_get(&o.span.attrs, "none", 4, &v));
    cr_assert_eq(v.type, BT_VAL_EMPTY);
    free(o.batch);
}


Test(json, events_links_and_unknown_fields)
{
    out_t       o;
    bt_iter_t   it;
    bt_event_t  ev;
    bt_link_t   ln;

    ok("{\"x\":1,\"resourceSpans\":[{\"y\":[1,2],\"scopeSpans\":[{"
       "\"spans\":[{\"traceId\":\"5b8efff798038103d269b633813fc60c\","
       "\"spanId\":\"eee19b7ec3c1b174\",\"future\":{\"a\":null},"
       "\"events\":[{\"timeUnixNano\":\"5\",\"name\":\"e\",\"z\":true,"
       "\"attributes\":[{\"key\":\"a\",\"value\":{\"stringValue\":\"b\"}}]}],"
       "\"links\":[{\"traceId\":\"0102030405060708090a0b0c0d0e0f10\","
       "\"spanId\":\"0102030405060708\",\"flags\":1}],"
       "\"name\":null}]}]}]}", &o);

    cr_assert_eq(o.span.events.count, 1);
    bt_iter_init(&it, o.span.events.p, o.span.events.n);
    cr_assert(bt_event_next(&it, &ev));
    cr_assert_eq(ev.time_ns, 5);
    cr_assert(str_is(ev.name, "e"));
    cr_assert_eq(ev.attrs.count, 1);
    cr_assert_eq(o.span.links.count, 1);
    bt_iter_init(&it, o.span.links.p, o.span.links.n);
    cr_assert(bt_link_next(&it, &ln));
    cr_assert_eq(ln.trace_id[15], 0x10);
    cr_assert_eq(ln.span_id[7], 0x08);
    cr_assert_eq(o.span.name.n, 0, "null is absent");
    free(o.batch);
}


Test(json, empty_request)
{
    uint8_t  *pb;
    size_t    len;
    char      err[256];

    cr_assert_eq(bt_otlp_json_to_pb("{}", 2, &pb, &len, err, sizeof(err)), 0);
    cr_assert_not_null(pb);
    cr_assert_eq(len, 0);
    free(pb);

    cr_assert_eq(bt_otlp_json_to_pb("{\"resourceSpans\":[]}", 20, &pb, &len,
                                    err, sizeof(err)), 0);
    cr_assert_eq(len, 0);
    free(pb);
}


Test(json, bad_ids_are_rejected_spans_not_bad_requests)
{
    out_t  o;

    /* valid hex, wrong length: the span is rejected by the limits */
    ok("{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":["
       "{\"traceId\":\"abcd\",\"spanId\":\"eee19b7ec3c1b174\"},"
       "{\"traceId\":\"\",\"spanId\":\"eee19b7ec3c1b174\"}]}]}]}", &o);
    cr_assert_eq(o.scan.accepted, 0);
    cr_assert_eq(o.scan.rejected, 2);
}


/* error texts, table-driven */
static const struct {
    const char  *json;
    const char  *err;
} errors[] = {
    { "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{},{},{},"
      "{\"traceId\":\"zz\"}]}]}]}",
      "resourceSpans[0].scopeSpans[0].spans[3].traceId: not hex" },
    { "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":["
      "{\"spanId\":\"abc\"}]}]}]}",
      "resourceSpans[0].scopeSpans[0].spans[0].spanId: not hex (odd length)" },
    { "{\"resourceSpans\":{}}", "resourceSpans: not an array" },
    { "[]", "body: not a JSON object" },
    { "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"attributes\":"
      "[{\"key\":\"k\",\"value\":{\"intValue\":\"12x\"}}]}]}]}]}",
      "resourceSpans[0].scopeSpans[0].spans[0].attributes[0].value.intValue: "
      "not an integer" },
    { "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"attributes\":"
      "[{\"key\":\"k\",\"value\":{\"boolValue\":\"true\"}}]}]}]}]}",
      "resourceSpans[0].scopeSpans[0].spans[0].attributes[0].value.boolValue: "
      "not a boolean" },
    { "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"attributes\":"
      "[{\"key\":\"k\",\"value\":{\"intValue\":1,\"stringValue\":\"a\"}}]"
      "}]}]}]}",
      "resourceSpans[0].scopeSpans[0].spans[0].attributes[0].value.intValue: "
      "an AnyValue holds only one value" },
    { "{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":\"k\","
      "\"value\":{\"arrayValue\":{\"values\":[{\"bytesValue\":\"!!\"}]}}}]}}]}",
      "resourceSpans[0].resource.attributes[0].value.arrayValue.values[0]."
      "bytesValue: not base64" },
    { "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{"
      "\"startTimeUnixNano\":\"-1\"}]}]}]}",
      "resourceSpans[0].scopeSpans[0].spans[0].startTimeUnixNano: "
      "not an integer" },
    { "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{"
      "\"startTimeUnixNano\":1.5}]}]}]}",
      "resourceSpans[0].scopeSpans[0].spans[0].startTimeUnixNano: "
      "not an integer" },
    { "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{"
      "\"name\":5}]}]}]}",
      "resourceSpans[0].scopeSpans[0].spans[0].name: not a string" },
    { "{\"resourceSpans\":[{\"scopeSpans\":[{\"scope\":[]}]}]}",
      "resourceSpans[0].scopeSpans[0].scope: not an object" },
    { "{\"resourceSpans\":[1]}", "resourceSpans[0]: not an object" },
};


Test(json, errors_say_what_and_where)
{
    size_t  i;

    for (i = 0; i < sizeof(errors) / sizeof(errors[0]); i++) {
        fails_with(errors[i].json, errors[i].err);
    }
}


Test(json, invalid_json_names_line_and_column)
{
    out_t  o;
    char   err[256];

    cr_assert_eq(convert("{\"resourceSpans\":\n [,]}", &o, err), -1);
    cr_assert(strstr(err, "invalid JSON at line 2, column"), "%s", err);
}


/* a value nested n levels deep */
static char *
deep_json(int n)
{
    size_t  cap = (size_t) n * 40 + 512;
    char   *s = malloc(cap), *p = s;
    int     i;

    p += sprintf(p, "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{"
                 "\"attributes\":[{\"key\":\"d\",\"value\":");
    for (i = 1; i < n; i++) {
        p += sprintf(p, "{\"arrayValue\":{\"values\":[");
    }
    p += sprintf(p, "{\"intValue\":1}");
    for (i = 1; i < n; i++) {
        p += sprintf(p, "]}}");
    }
    sprintf(p, "}]}]}]}]}");
    return s;
}


Test(json, nesting_is_bounded)
{
    out_t  o;
    char   err[256];
    char  *s;

    s = deep_json(64);
    cr_assert_eq(convert(s, &o, err), 0, "%s", err);
    cr_assert_eq(o.scan.rejected, 1, "deeper than max_depth 8");
    free(s);

    s = deep_json(65);
    cr_assert_eq(convert(s, &o, err), -1);
    cr_assert(strstr(err, "AnyValue nested too deep"), "%s", err);
    free(s);

    s = deep_json(2000);        /* beyond jansson's own bound */
    cr_assert_eq(convert(s, &o, err), -1);
    free(s);
}
