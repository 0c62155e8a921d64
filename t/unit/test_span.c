/*
 * test_span.c - the span record reader: well-formed records read back what
 * was written, and no corruption (truncation, a bad length anywhere, deep
 * nesting, trailing bytes) makes it accept a record or read out of bounds.
 */

#include <stdlib.h>
#include <string.h>
#include <criterion/criterion.h>

#include "shm/bt_span.h"
#include "t/lib/span_build.h"


static const sb_attr_t  inner[] = {
    SB_INT("", 7), SB_STR("", "x"), SB_END
};
static const sb_attr_t  map[] = {
    SB_BOOL("ok", 1), SB_ARR("list", inner), SB_END
};
static const sb_attr_t  attrs[] = {
    SB_STR("http.method", "GET"), SB_INT("http.status_code", 200),
    SB_DBL("ratio", 0.5), SB_BOOL("cached", 0), SB_BYTES("raw", "\x01\x02"),
    SB_EMPTY("none"), SB_ARR("arr", inner), SB_MAP("map", map),
    SB_STR("http.method", "DUP"), SB_END
};
static const sb_attr_t  ev_attrs[] = { SB_STR("exception.type", "E"), SB_END };
static const sb_event_t events[] = {
    { "exception", 5, ev_attrs }, { "retry", 6, NULL }, { NULL, 0, NULL }
};
static const sb_link_t  links[] = {
    { "abc", "de", ev_attrs }, { NULL, NULL, NULL }
};


static void
build_one(sb_batch_t *b)
{
    sb_init(b);
    sb_add(b, &(sb_span_t) {
        .trace = "5b8efff798038103d269b633813fc60c", .id = "eee19b7ec3c1b174",
        .parent = "eee19b7ec3c1b173", .name = "GET /", .kind = BT_KIND_SERVER,
        .status = BT_STATUS_ERROR, .status_message = "boom",
        .service = "shop", .scope = "lib", .start_ms = 1, .dur_ms = 10,
        .attrs = attrs, .events = events, .links = links });
}


Test(span, parses_every_field)
{
    sb_batch_t  b;
    bt_span_t   s;
    bt_val_t    v;
    bt_str_t    k;
    bt_iter_t   it;
    bt_event_t  ev;
    bt_link_t   ln;
    uint8_t     id[16];
    int         n;

    build_one(&b);
    cr_assert_eq(bt_batch_check(b.buf, b.len), 1);

    n = bt_span_parse(bt_batch_first(b.buf), b.len - 8, &s);
    cr_assert_eq(n, (int) (b.len - 8));
    cr_assert_eq(s.len, (uint32_t) n);

    sb_hex_id("5b8efff798038103d269b633813fc60c", id, 16);
    cr_assert_arr_eq(s.trace_id, id, 16);
    sb_hex_id("eee19b7ec3c1b174", id, 8);
    cr_assert_arr_eq(s.span_id, id, 8);
    sb_hex_id("eee19b7ec3c1b173", id, 8);
    cr_assert_arr_eq(s.parent_id, id, 8);
    cr_assert_eq(s.kind, BT_KIND_SERVER);
    cr_assert_eq(s.status, BT_STATUS_ERROR);
    /* span_build converts through doubles: allow its rounding */
    cr_assert_gt(s.end_ns - s.start_ns, 9000000u);
    cr_assert_lt(s.end_ns - s.start_ns, 11000000u);
    cr_assert_eq(s.name.n, 5);
    cr_assert_arr_eq(s.name.p, "GET /", 5);
    cr_assert_arr_eq(s.status_message.p, "boom", 4);
    cr_assert_arr_eq(s.service.p, "shop", 4);
    cr_assert_arr_eq(s.scope.p, "lib", 3);

    cr_assert_eq(s.resource.count, 1);
    cr_assert(bt_attrs_get(&s.resource, "service.name", 12, &v));
    cr_assert_eq(v.type, BT_VAL_STRING);
    cr_assert_arr_eq(v.p, "shop", 4);

    cr_assert_eq(s.attrs.count, 9);
    cr_assert(bt_attrs_get(&s.attrs, "http.method", 11, &v));
    cr_assert_eq(v.n, 3, "first occurrence wins");
    cr_assert(bt_attrs_get(&s.attrs, "http.status_code", 16, &v));
    cr_assert_eq(v.type, BT_VAL_INT);
    cr_assert_eq(bt_val_int(&v), 200);
    cr_assert(bt_attrs_get(&s.attrs, "ratio", 5, &v));
    cr_assert_eq(bt_val_double(&v), 0.5);
    cr_assert(bt_attrs_get(&s.attrs, "cached", 6, &v));
    cr_assert_eq(bt_val_bool(&v), 0);
    cr_assert(bt_attrs_get(&s.attrs, "none", 4, &v));
    cr_assert_eq(v.type, BT_VAL_EMPTY);
    cr_assert_not(bt_attrs_get(&s.attrs, "http", 4, &v));
    cr_assert_not(bt_attrs_get(&s.attrs, "http.methodx", 12, &v));

    cr_assert(bt_attrs_get(&s.attrs, "map", 3, &v));
    cr_assert_eq(v.type, BT_VAL_KVLIST);
    bt_iter_init(&it, v.p, v.n);
    cr_assert(bt_attr_next(&it, &k, &v));
    cr_assert_arr_eq(k.p, "ok", 2);
    cr_assert(bt_attr_next(&it, &k, &v));
    cr_assert_eq(v.type, BT_VAL_ARRAY);
    cr_assert_not(bt_attr_next(&it, &k, &v));

    bt_iter_init(&it, v.p, v.n);
    cr_assert(bt_val_next(&it, &v));
    cr_assert_eq(bt_val_int(&v), 7);
    cr_assert(bt_val_next(&it, &v));
    cr_assert_eq(v.type, BT_VAL_STRING);
    cr_assert_not(bt_val_next(&it, &v));

    cr_assert_eq(s.events.count, 2);
    bt_iter_init(&it, s.events.p, s.events.n);
    cr_assert(bt_event_next(&it, &ev));
    cr_assert_arr_eq(ev.name.p, "exception", 9);
    cr_assert_eq(ev.attrs.count, 1);
    cr_assert_gt(ev.time_ns, s.start_ns);
    cr_assert_lt(ev.time_ns, s.end_ns);
    cr_assert(bt_event_next(&it, &ev));
    cr_assert_arr_eq(ev.name.p, "retry", 5);
    cr_assert_eq(ev.attrs.count, 0);
    cr_assert_not(bt_event_next(&it, &ev));

    cr_assert_eq(s.links.count, 1);
    bt_iter_init(&it, s.links.p, s.links.n);
    cr_assert(bt_link_next(&it, &ln));
    sb_hex_id("abc", id, 16);
    cr_assert_arr_eq(ln.trace_id, id, 16);
    cr_assert(bt_attrs_get(&ln.attrs, "exception.type", 14, &v));
    cr_assert_not(bt_link_next(&it, &ln));

    sb_free(&b);
}


/* Every strict prefix of a record is refused, and none is read past. */
Test(span, refuses_every_truncation)
{
    sb_batch_t  b;
    bt_span_t   s;
    size_t      n, len;
    uint8_t    *copy;

    build_one(&b);
    len = b.len - 8;

    for (n = 0; n < len; n++) {
        /* an exact-size heap copy lets ASan catch any over-read */
        copy = malloc(n ? n : 1);
        memcpy(copy, bt_batch_first(b.buf), n);
        cr_assert_eq(bt_span_parse(copy, n, &s), -1, "prefix %zu", n);
        free(copy);
    }

    for (n = 8; n < b.len; n++) {
        cr_assert_eq(bt_batch_check(b.buf, n), -1, "batch prefix %zu", n);
    }

    sb_free(&b);
}


/*
 * Changing any 4-byte window to a huge or off-by-one value never makes the
 * reader run off the record; most changes are refused.  Changes inside
 * payloads (ids, times, string bytes) legitimately still parse.
 */
Test(span, survives_corrupt_lengths)
{
    sb_batch_t  b;
    bt_span_t   s;
    size_t      off, len;
    uint32_t    v, orig;
    uint8_t    *copy;
    int         refused = 0, k;
    static const uint32_t  vals[] = { 0xffffffffu, 0x7fffffffu, 1 };

    build_one(&b);
    len = b.len - 8;
    copy = malloc(len);

    for (off = 0; off + 4 <= len; off++) {
        for (k = 0; k < 3; k++) {
            memcpy(copy, bt_batch_first(b.buf), len);
            memcpy(&orig, copy + off, 4);
            v = vals[k] == 1 ? orig + 1 : vals[k];
            memcpy(copy + off, &v, 4);
            if (bt_span_parse(copy, len, &s) < 0) {
                refused++;
            }
        }
    }

    cr_assert_gt(refused, (int) len);
    free(copy);
    sb_free(&b);
}


Test(span, refuses_trailing_bytes_and_bad_magic)
{
    sb_batch_t  b;
    uint8_t    *copy;

    build_one(&b);
    copy = calloc(1, b.len + 4);
    memcpy(copy, b.buf, b.len);

    cr_assert_eq(bt_batch_check(copy, b.len + 4), -1);
    copy[0] ^= 1;
    cr_assert_eq(bt_batch_check(copy, b.len), -1);
    copy[0] ^= 1;
    cr_assert_eq(bt_batch_check(copy, b.len), 1);
    /* count says 2, only 1 span */
    copy[4] = 2;
    cr_assert_eq(bt_batch_check(copy, b.len), -1);

    free(copy);
    sb_free(&b);
}


Test(span, empty_batch_checks)
{
    sb_batch_t  b;

    sb_init(&b);
    cr_assert_eq(bt_batch_check(b.buf, b.len), 0);
    sb_free(&b);
}


/* A value nested n levels deep: ARRAY of ARRAY ... of INT. */
static void
nested(sb_batch_t *b, int levels)
{
    sb_attr_t  *chain;
    int         i;

    chain = calloc((size_t) levels * 2, sizeof(sb_attr_t));
    for (i = 0; i < levels; i++) {
        sb_attr_t  end = SB_END;

        chain[2 * i].key = "k";
        chain[2 * i].type = i == levels - 1 ? BT_VAL_INT : BT_VAL_ARRAY;
        chain[2 * i].items = i == levels - 1 ? NULL : &chain[2 * i + 2];
        chain[2 * i + 1] = end;
    }

    sb_init(b);
    sb_add(b, &(sb_span_t) { .name = "n", .attrs = chain });
    free(chain);
}


Test(span, bounds_value_nesting)
{
    sb_batch_t  b;

    nested(&b, BT_SPAN_MAX_DEPTH);
    cr_assert_eq(bt_batch_check(b.buf, b.len), 1);
    sb_free(&b);

    nested(&b, BT_SPAN_MAX_DEPTH + 1);
    cr_assert_eq(bt_batch_check(b.buf, b.len), -1);
    sb_free(&b);
}


Test(span, refuses_bad_value_shapes)
{
    sb_batch_t  b;
    bt_span_t   s;
    uint8_t    *p;
    size_t      at;
    static const sb_attr_t  one[] = { SB_BOOL("b", 1), SB_END };

    sb_init(&b);
    sb_add(&b, &(sb_span_t) { .name = "n", .attrs = one });
    cr_assert_eq(bt_batch_check(b.buf, b.len), 1);

    /* the value's type byte: after 56 fixed, 4 strs of (4 + n), resource
       sect (8), attrs sect header (8), key "b" (4 + 1) */
    at = 8 + 56 + (4 + 1) + 4 + 4 + 4 + 8 + 8 + 5;
    p = b.buf + at;
    cr_assert_eq(p[0], BT_VAL_BOOL);

    p[0] = 9;
    cr_assert_eq(bt_span_parse(bt_batch_first(b.buf), b.len - 8, &s), -1);
    p[0] = BT_VAL_INT;      /* INT needs 8 bytes, has 1 */
    cr_assert_eq(bt_span_parse(bt_batch_first(b.buf), b.len - 8, &s), -1);
    p[0] = BT_VAL_EMPTY;    /* EMPTY needs 0 */
    cr_assert_eq(bt_span_parse(bt_batch_first(b.buf), b.len - 8, &s), -1);
    p[0] = BT_VAL_STRING;
    cr_assert_gt(bt_span_parse(bt_batch_first(b.buf), b.len - 8, &s), 0);

    sb_free(&b);
}
