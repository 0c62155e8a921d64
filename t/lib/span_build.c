/*
 * span_build.c - see span_build.h.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

#include "span_build.h"


static void
grow(sb_batch_t *b, size_t n)
{
    size_t  cap;

    if (b->len + n <= b->cap) {
        return;
    }

    cap = b->cap ? b->cap : 1024;
    while (cap < b->len + n) {
        cap *= 2;
    }

    b->buf = realloc(b->buf, cap);
    if (b->buf == NULL) {
        abort();
    }
    b->cap = cap;
}


static void
put(sb_batch_t *b, const void *p, size_t n)
{
    grow(b, n);
    memcpy(b->buf + b->len, p, n);
    b->len += n;
}


static void
put32(sb_batch_t *b, uint32_t v)
{
    put(b, &v, 4);
}


static void
put64(sb_batch_t *b, uint64_t v)
{
    put(b, &v, 8);
}


static void
put_str(sb_batch_t *b, const char *s)
{
    uint32_t  n = s ? (uint32_t) strlen(s) : 0;

    put32(b, n);
    if (n) {
        put(b, s, n);
    }
}


static void
patch32(sb_batch_t *b, size_t at, uint32_t v)
{
    memcpy(b->buf + at, &v, 4);
}


void
sb_hex_id(const char *hex, uint8_t *out, size_t n)
{
    char    full[33];
    size_t  len, i;
    unsigned int  byte;

    memset(out, 0, n);
    if (hex == NULL) {
        return;
    }

    len = strlen(hex);
    if (len > n * 2) {
        abort();
    }

    memset(full, '0', n * 2 - len);
    memcpy(full + n * 2 - len, hex, len);
    full[n * 2] = '\0';

    for (i = 0; i < n; i++) {
        if (sscanf(full + i * 2, "%2x", &byte) != 1) {
            abort();
        }
        out[i] = (uint8_t) byte;
    }
}


static void put_attrs(sb_batch_t *b, const sb_attr_t *a);

static void
put_value(sb_batch_t *b, const sb_attr_t *a)
{
    size_t             at;
    uint8_t            type = (uint8_t) a->type;
    uint8_t            flag;
    const sb_attr_t   *it;

    put(b, &type, 1);
    at = b->len;
    put32(b, 0);

    switch (a->type) {
    case BT_VAL_STRING:
    case BT_VAL_BYTES:
        put(b, a->s, strlen(a->s));
        break;
    case BT_VAL_BOOL:
        flag = a->b ? 1 : 0;
        put(b, &flag, 1);
        break;
    case BT_VAL_INT:
        put64(b, (uint64_t) a->i);
        break;
    case BT_VAL_DOUBLE:
        put(b, &a->d, 8);
        break;
    case BT_VAL_ARRAY:
        for (it = a->items; it && it->type != -1; it++) {
            put_value(b, it);
        }
        break;
    case BT_VAL_KVLIST:
        for (it = a->items; it && it->type != -1; it++) {
            put_str(b, it->key);
            put_value(b, it);
        }
        break;
    default:
        break;
    }

    patch32(b, at, (uint32_t) (b->len - at - 4));
}


/* sect = u32 count, u32 nbytes, items */
static void
put_attrs(sb_batch_t *b, const sb_attr_t *a)
{
    size_t    at = b->len;
    uint32_t  count = 0;

    put32(b, 0);
    put32(b, 0);

    for ( ; a && a->type != -1; a++) {
        put_str(b, a->key);
        put_value(b, a);
        count++;
    }

    patch32(b, at, count);
    patch32(b, at + 4, (uint32_t) (b->len - at - 8));
}


/* integer base: a double can't hold Unix nanoseconds to the nanosecond */
static uint64_t
ms_to_ns(double ms)
{
    return SB_EPOCH_NS + (uint64_t) llround(ms * 1e6);
}


void
sb_init(sb_batch_t *b)
{
    memset(b, 0, sizeof(*b));
    put32(b, BT_BATCH_MAGIC);
    put32(b, 0);
}


void
sb_add(sb_batch_t *b, const sb_span_t *s)
{
    size_t             start = b->len, at;
    uint8_t            id[16], kind, status;
    uint16_t           flags = 0;
    uint32_t           count;
    const sb_event_t  *ev;
    const sb_link_t   *ln;
    sb_attr_t          res[2] = { SB_STR("service.name", NULL), SB_END };

    put32(b, 0);

    sb_hex_id(s->trace ? s->trace : "1", id, 16);
    put(b, id, 16);
    sb_hex_id(s->id ? s->id : "1", id, 8);
    put(b, id, 8);
    sb_hex_id(s->parent, id, 8);
    put(b, id, 8);

    put64(b, ms_to_ns(s->start_ms));
    put64(b, ms_to_ns(s->start_ms + s->dur_ms));

    kind = (uint8_t) s->kind;
    status = (uint8_t) s->status;
    put(b, &kind, 1);
    put(b, &status, 1);
    put(b, &flags, 2);

    put_str(b, s->name);
    put_str(b, s->status_message);
    put_str(b, s->service);
    put_str(b, s->scope);

    if (s->resource == NULL && s->service != NULL) {
        res[0].s = s->service;
        put_attrs(b, res);
    } else {
        put_attrs(b, s->resource);
    }

    put_attrs(b, s->attrs);

    at = b->len;
    put32(b, 0);
    put32(b, 0);
    count = 0;
    for (ev = s->events; ev && ev->name; ev++) {
        put64(b, ms_to_ns(ev->time_ms));
        put_str(b, ev->name);
        put_attrs(b, ev->attrs);
        count++;
    }
    patch32(b, at, count);
    patch32(b, at + 4, (uint32_t) (b->len - at - 8));

    at = b->len;
    put32(b, 0);
    put32(b, 0);
    count = 0;
    for (ln = s->links; ln && ln->trace; ln++) {
        sb_hex_id(ln->trace, id, 16);
        put(b, id, 16);
        sb_hex_id(ln->span, id, 8);
        put(b, id, 8);
        put_attrs(b, ln->attrs);
        count++;
    }
    patch32(b, at, count);
    patch32(b, at + 4, (uint32_t) (b->len - at - 8));

    patch32(b, start, (uint32_t) (b->len - start));
    b->count++;
    patch32(b, 4, b->count);
}


void
sb_free(sb_batch_t *b)
{
    free(b->buf);
    memset(b, 0, sizeof(*b));
}


int
sb_to_trace(const sb_batch_t *b, bt_trace_t *t)
{
    const uint8_t  *p, *end;
    bt_span_t       span;
    int             n;

    bt_trace_reset(t);

    if (bt_batch_check(b->buf, b->len) != (int) b->count) {
        return -1;
    }

    p = bt_batch_first(b->buf);
    end = b->buf + b->len;

    while (p < end) {
        n = bt_span_parse(p, (size_t) (end - p), &span);
        if (n <= 0) {
            return -1;
        }
        if (bt_trace_add(t, &span) != 0) {
            return -1;
        }
        p += n;
    }

    return bt_trace_link(t);
}
