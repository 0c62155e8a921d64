/*
 * trace_json.c - the --traces-out JSON line writer (see trace_json.h).
 *
 * Every append first reserves the worst case for what it writes (a string
 * of n bytes takes at most 6n + 2), so the byte loops need no checks.
 */

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trace_json.h"


static const char  *kind_names[] = {
    "UNSPECIFIED", "INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER"
};

static const char  *status_names[] = { "UNSET", "OK", "ERROR" };


static int grow(bt_jbuf_t *b, size_t n);

static inline int
reserve(bt_jbuf_t *b, size_t n)
{
    if (b->len + n <= b->cap) {
        return 0;
    }
    return grow(b, n);
}

static int
grow(bt_jbuf_t *b, size_t n)
{
    size_t  cap;
    char   *p;

    if (b->failed) {
        return -1;
    }

    for (cap = b->cap ? b->cap : 4096; cap < b->len + n; cap *= 2) {
        /* void */
    }

    p = realloc(b->p, cap);
    if (p == NULL) {
        b->failed = 1;
        return -1;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

static inline void
put(bt_jbuf_t *b, const char *s, size_t n)
{
    if (reserve(b, n) == 0) {
        memcpy(b->p + b->len, s, n);
        b->len += n;
    }
}

#define PUTS(b, lit)  put(b, lit, sizeof(lit) - 1)

static void
put_hex(bt_jbuf_t *b, const uint8_t *id, size_t n, int absent_if_zero)
{
    char   *o;

    if (reserve(b, 2 * n + 2) != 0) {
        return;
    }
    o = b->p + b->len;
    *o++ = '"';
    if (!(absent_if_zero && bt_id_is_zero(id, n))) {
        o = bt_hex(o, id, n);
    }
    *o++ = '"';
    b->len = (size_t) (o - b->p);
}

/* Length of the valid UTF-8 sequence at p (at most n bytes), 0 if invalid. */
static size_t
utf8_len(const uint8_t *p, size_t n)
{
    uint32_t  c;
    size_t    len, i;

    if (p[0] < 0xc2) {
        return 0;                   /* continuation byte or overlong */
    } else if (p[0] < 0xe0) {
        len = 2;
        c = p[0] & 0x1f;
    } else if (p[0] < 0xf0) {
        len = 3;
        c = p[0] & 0x0f;
    } else if (p[0] < 0xf5) {
        len = 4;
        c = p[0] & 0x07;
    } else {
        return 0;
    }

    if (len > n) {
        return 0;
    }
    for (i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80) {
            return 0;
        }
        c = (c << 6) | (p[i] & 0x3f);
    }

    if ((len == 3 && (c < 0x800 || (c >= 0xd800 && c <= 0xdfff)))
        || (len == 4 && (c < 0x10000 || c > 0x10ffff)))
    {
        return 0;
    }
    return len;
}

static void
put_str(bt_jbuf_t *b, const char *s, size_t n)
{
    const uint8_t  *p, *end;
    char           *o;
    size_t          k;

    if (reserve(b, 6 * n + 2) != 0) {
        return;
    }

    o = b->p + b->len;
    *o++ = '"';

    for (p = (const uint8_t *) s, end = p + n; p < end; ) {
        if (*p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\') {
            *o++ = (char) *p++;
            continue;
        }

        if (*p >= 0x80) {
            k = utf8_len(p, (size_t) (end - p));
            if (k) {
                memcpy(o, p, k);
                o += k;
                p += k;
            } else {
                memcpy(o, "\\ufffd", 6);
                o += 6;
                p++;
            }
            continue;
        }

        *o++ = '\\';
        switch (*p) {
        case '"':  *o++ = '"'; break;
        case '\\': *o++ = '\\'; break;
        case '\n': *o++ = 'n'; break;
        case '\r': *o++ = 'r'; break;
        case '\t': *o++ = 't'; break;
        default:
            *o++ = 'u';
            *o++ = '0';
            *o++ = '0';
            o = bt_hex(o, p, 1);
        }
        p++;
    }

    *o++ = '"';
    b->len = (size_t) (o - b->p);
}

static void
put_bstr(bt_jbuf_t *b, bt_str_t s)
{
    put_str(b, s.p, s.n);
}

static void
put_cstr(bt_jbuf_t *b, const char *s)
{
    put_str(b, s, strlen(s));
}

/* Decimal digits by hand: snprintf was a quarter of the writer's time. */
static void
put_u64(bt_jbuf_t *b, uint64_t v)
{
    char   tmp[24], *p;

    p = tmp + sizeof(tmp);
    do {
        *--p = (char) ('0' + v % 10);
        v /= 10;
    } while (v);

    put(b, p, (size_t) (tmp + sizeof(tmp) - p));
}

static void
put_i64(bt_jbuf_t *b, int64_t v)
{
    if (v < 0) {
        PUTS(b, "-");
        put_u64(b, (uint64_t) 0 - (uint64_t) v);
    } else {
        put_u64(b, (uint64_t) v);
    }
}

/* A double that reads back as a double: shortest exact form, and a ".0"
   when it would otherwise look like an integer. */
static void
put_double(bt_jbuf_t *b, double d)
{
    char  tmp[40];
    int   n;

    if (!isfinite(d)) {
        PUTS(b, "null");            /* JSON has no NaN or infinity */
        return;
    }

    n = snprintf(tmp, sizeof(tmp), "%.15g", d);
    if (strtod(tmp, NULL) != d) {
        n = snprintf(tmp, sizeof(tmp), "%.17g", d);
    }
    if (strpbrk(tmp, ".en") == NULL) {
        memcpy(tmp + n, ".0", 3);
        n += 2;
    }
    put(b, tmp, (size_t) n);
}

static void put_attrs(bt_jbuf_t *b, const uint8_t *p, uint32_t n);

static void
put_value(bt_jbuf_t *b, const bt_val_t *v)
{
    bt_iter_t  it;
    bt_val_t   item;
    int        first;

    switch (v->type) {
    case BT_VAL_STRING:
        put_str(b, (const char *) v->p, v->n);
        break;
    case BT_VAL_BOOL:
        if (bt_val_bool(v)) {
            PUTS(b, "true");
        } else {
            PUTS(b, "false");
        }
        break;
    case BT_VAL_INT:
        put_i64(b, bt_val_int(v));
        break;
    case BT_VAL_DOUBLE:
        put_double(b, bt_val_double(v));
        break;
    case BT_VAL_BYTES:
        put_hex(b, v->p, v->n, 0);
        break;
    case BT_VAL_ARRAY:
        PUTS(b, "[");
        first = 1;
        bt_iter_init(&it, v->p, v->n);
        while (bt_val_next(&it, &item)) {
            if (!first) {
                PUTS(b, ", ");
            }
            first = 0;
            put_value(b, &item);    /* depth bounded by bt_span_parse */
        }
        PUTS(b, "]");
        break;
    case BT_VAL_KVLIST:
        put_attrs(b, v->p, v->n);
        break;
    default:
        PUTS(b, "null");
    }
}

static void
put_attrs(bt_jbuf_t *b, const uint8_t *p, uint32_t n)
{
    bt_iter_t  it;
    bt_str_t   key;
    bt_val_t   val;
    int        first;

    PUTS(b, "{");
    first = 1;
    bt_iter_init(&it, p, n);
    while (bt_attr_next(&it, &key, &val)) {
        if (!first) {
            PUTS(b, ", ");
        }
        first = 0;
        put_bstr(b, key);
        PUTS(b, ": ");
        put_value(b, &val);
    }
    PUTS(b, "}");
}

static void
put_sect_attrs(bt_jbuf_t *b, const bt_sect_t *s)
{
    put_attrs(b, s->p, s->n);
}

static void
put_span(bt_jbuf_t *b, const bt_span_t *s)
{
    bt_iter_t   it;
    bt_event_t  ev;
    bt_link_t   ln;
    int         first;

    PUTS(b, "{\"trace_id\": ");
    put_hex(b, s->trace_id, 16, 1);
    PUTS(b, ", \"span_id\": ");
    put_hex(b, s->span_id, 8, 1);
    PUTS(b, ", \"parent_span_id\": ");
    put_hex(b, s->parent_id, 8, 1);
    PUTS(b, ", \"name\": ");
    put_bstr(b, s->name);
    PUTS(b, ", \"kind\": ");
    put_cstr(b, s->kind < 6 ? kind_names[s->kind] : "UNSPECIFIED");
    PUTS(b, ", \"status\": ");
    put_cstr(b, s->status < 3 ? status_names[s->status] : "UNSET");
    PUTS(b, ", \"status_message\": ");
    put_bstr(b, s->status_message);
    PUTS(b, ", \"start_ns\": ");
    put_u64(b, s->start_ns);
    PUTS(b, ", \"end_ns\": ");
    put_u64(b, s->end_ns);
    PUTS(b, ", \"service\": ");
    put_bstr(b, s->service);
    PUTS(b, ", \"scope\": ");
    put_bstr(b, s->scope);
    PUTS(b, ", \"attributes\": ");
    put_sect_attrs(b, &s->attrs);
    PUTS(b, ", \"resource\": ");
    put_sect_attrs(b, &s->resource);

    PUTS(b, ", \"events\": [");
    first = 1;
    bt_iter_init(&it, s->events.p, s->events.n);
    while (bt_event_next(&it, &ev)) {
        if (!first) {
            PUTS(b, ", ");
        }
        first = 0;
        PUTS(b, "{\"name\": ");
        put_bstr(b, ev.name);
        PUTS(b, ", \"time_ns\": ");
        put_u64(b, ev.time_ns);
        PUTS(b, ", \"attributes\": ");
        put_sect_attrs(b, &ev.attrs);
        PUTS(b, "}");
    }

    PUTS(b, "], \"links\": [");
    first = 1;
    bt_iter_init(&it, s->links.p, s->links.n);
    while (bt_link_next(&it, &ln)) {
        if (!first) {
            PUTS(b, ", ");
        }
        first = 0;
        PUTS(b, "{\"trace_id\": ");
        put_hex(b, ln.trace_id, 16, 1);
        PUTS(b, ", \"span_id\": ");
        put_hex(b, ln.span_id, 8, 1);
        PUTS(b, ", \"attributes\": ");
        put_sect_attrs(b, &ln.attrs);
        PUTS(b, "}");
    }
    PUTS(b, "]}");
}

int
bt_trace_json(bt_jbuf_t *b, const bt_trace_t *trace,
    const uint8_t *trace_id, const char *reason, int reopened)
{
    size_t    start;
    uint32_t  i;

    b->failed = 0;
    start = b->len;

    PUTS(b, "{\"trace_id\": ");
    put_hex(b, trace_id, 16, 1);
    PUTS(b, ", \"reason\": ");
    put_cstr(b, reason);
    if (reopened) {
        PUTS(b, ", \"reopened\": true");
    }
    PUTS(b, ", \"spans\": [");
    for (i = 0; i < trace->n; i++) {
        if (i) {
            PUTS(b, ", ");
        }
        put_span(b, &trace->spans[i].s);
    }
    PUTS(b, "]}\n");

    if (b->failed) {
        b->len = start;
        return -1;
    }
    return 0;
}

void
bt_jbuf_free(bt_jbuf_t *b)
{
    free(b->p);
    memset(b, 0, sizeof(*b));
}
