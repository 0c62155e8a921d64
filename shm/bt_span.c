/*
 * bt_span.c - the zero-copy reader of flattened span records (bt_span.h).
 *
 * Records come from shared memory that another process wrote, possibly a
 * process that crashed or a segment recovered from disk, so bt_span_parse
 * trusts nothing: every length is checked against the bytes that remain in
 * its enclosing part, every section must be exactly filled by its items, and
 * value nesting is bounded (BT_SPAN_MAX_DEPTH) so a hostile record can't
 * exhaust the stack.  Once a record has parsed, the iterators below walk it
 * without any checks: that is what keeps rule evaluation cheap.
 */

#include "bt_span.h"


/*
 * Reads a u32 length-prefixed string at *p, at most end - *p bytes.  On
 * success advances *p and returns 0; returns -1 when it does not fit.
 */
static int
take_str(const uint8_t **p, const uint8_t *end, bt_str_t *s)
{
    uint32_t  n;

    if ((size_t) (end - *p) < 4) {
        return -1;
    }
    n = bt_rd32(*p);
    if ((size_t) (end - *p) - 4 < n) {
        return -1;
    }

    s->p = (const char *) *p + 4;
    s->n = n;
    *p += 4 + (size_t) n;
    return 0;
}


/* Reads a section header and its byte range; items are checked by callers. */
static int
take_sect(const uint8_t **p, const uint8_t *end, bt_sect_t *s)
{
    uint32_t  count, n;

    if ((size_t) (end - *p) < 8) {
        return -1;
    }
    count = bt_rd32(*p);
    n = bt_rd32(*p + 4);
    if ((size_t) (end - *p) - 8 < n) {
        return -1;
    }

    s->count = count;
    s->n = n;
    s->p = *p + 8;
    *p += 8 + (size_t) n;
    return 0;
}


static int check_attrs(const uint8_t *p, const uint8_t *end, uint32_t count,
    int depth);

/*
 * Checks one value at *p and advances past it.  depth is the nesting level
 * of this value (an attribute's value is level 1).
 */
static int
check_value(const uint8_t **p, const uint8_t *end, int depth)
{
    uint8_t         type;
    uint32_t        n;
    const uint8_t  *v, *vend;

    if (depth > BT_SPAN_MAX_DEPTH || (size_t) (end - *p) < 5) {
        return -1;
    }

    type = (*p)[0];
    n = bt_rd32(*p + 1);
    if ((size_t) (end - *p) - 5 < n) {
        return -1;
    }

    v = *p + 5;
    vend = v + n;

    switch (type) {
    case BT_VAL_EMPTY:
        if (n != 0) {
            return -1;
        }
        break;

    case BT_VAL_STRING:
    case BT_VAL_BYTES:
        break;

    case BT_VAL_BOOL:
        if (n != 1) {
            return -1;
        }
        break;

    case BT_VAL_INT:
    case BT_VAL_DOUBLE:
        if (n != 8) {
            return -1;
        }
        break;

    case BT_VAL_ARRAY:
        while (v < vend) {
            if (check_value(&v, vend, depth + 1) != 0) {
                return -1;
            }
        }
        break;

    case BT_VAL_KVLIST:
        /* a KVLIST payload carries no count: items fill it exactly */
        if (check_attrs(v, vend, UINT32_MAX, depth + 1) != 0) {
            return -1;
        }
        break;

    default:
        return -1;
    }

    *p = vend;
    return 0;
}


/*
 * Checks that attrs fill [p, end) exactly; count is the number expected, or
 * UINT32_MAX when any number will do (KVLIST payloads).  depth applies to
 * the values.
 */
static int
check_attrs(const uint8_t *p, const uint8_t *end, uint32_t count, int depth)
{
    uint32_t  i;
    bt_str_t  key;

    for (i = 0; p < end; i++) {
        if (take_str(&p, end, &key) != 0
            || check_value(&p, end, depth) != 0)
        {
            return -1;
        }
    }

    if (count != UINT32_MAX && i != count) {
        return -1;
    }

    return 0;
}


static int
check_attr_sect(const bt_sect_t *s)
{
    return check_attrs(s->p, s->p + s->n, s->count, 1);
}


static int
check_events(const bt_sect_t *s)
{
    const uint8_t  *p = s->p, *end = s->p + s->n;
    uint32_t        i;
    bt_str_t        name;
    bt_sect_t       attrs;

    for (i = 0; p < end; i++) {
        if ((size_t) (end - p) < 8) {
            return -1;
        }
        p += 8;
        if (take_str(&p, end, &name) != 0
            || take_sect(&p, end, &attrs) != 0
            || check_attr_sect(&attrs) != 0)
        {
            return -1;
        }
    }

    return i == s->count ? 0 : -1;
}


static int
check_links(const bt_sect_t *s)
{
    const uint8_t  *p = s->p, *end = s->p + s->n;
    uint32_t        i;
    bt_sect_t       attrs;

    for (i = 0; p < end; i++) {
        if ((size_t) (end - p) < 24) {
            return -1;
        }
        p += 24;
        if (take_sect(&p, end, &attrs) != 0
            || check_attr_sect(&attrs) != 0)
        {
            return -1;
        }
    }

    return i == s->count ? 0 : -1;
}


int
bt_span_parse(const uint8_t *p, size_t avail, bt_span_t *out)
{
    uint32_t        len;
    const uint8_t  *q, *end;

    if (avail < BT_SPAN_FIXED_LEN) {
        return -1;
    }

    len = bt_rd32(p);
    /* the cap keeps the int return value positive */
    if (len < BT_SPAN_FIXED_LEN || len > avail || len > INT32_MAX) {
        return -1;
    }

    end = p + len;

    out->rec = p;
    out->len = len;
    out->trace_id = p + 4;
    out->span_id = p + 20;
    out->parent_id = p + 28;
    out->start_ns = bt_rd64(p + 36);
    out->end_ns = bt_rd64(p + 44);
    out->kind = p[52];
    out->status = p[53];

    q = p + BT_SPAN_FIXED_LEN;

    if (take_str(&q, end, &out->name) != 0
        || take_str(&q, end, &out->status_message) != 0
        || take_str(&q, end, &out->service) != 0
        || take_str(&q, end, &out->scope) != 0
        || take_sect(&q, end, &out->resource) != 0
        || take_sect(&q, end, &out->attrs) != 0
        || take_sect(&q, end, &out->events) != 0
        || take_sect(&q, end, &out->links) != 0)
    {
        return -1;
    }

    /* the record must be exactly its parts: no trailing bytes */
    if (q != end) {
        return -1;
    }

    if (check_attr_sect(&out->resource) != 0
        || check_attr_sect(&out->attrs) != 0
        || check_events(&out->events) != 0
        || check_links(&out->links) != 0)
    {
        return -1;
    }

    return (int) len;
}


int
bt_batch_check(const uint8_t *p, size_t len)
{
    uint32_t        count, i;
    const uint8_t  *q, *end;
    bt_span_t       span;
    int             n;

    if (len < 8 || len > INT32_MAX || bt_rd32(p) != BT_BATCH_MAGIC) {
        return -1;
    }

    count = bt_rd32(p + 4);
    q = p + 8;
    end = p + len;

    for (i = 0; i < count; i++) {
        n = bt_span_parse(q, (size_t) (end - q), &span);
        if (n < 0) {
            return -1;
        }
        q += n;
    }

    if (q != end || count > INT32_MAX) {
        return -1;
    }

    return (int) count;
}


int
bt_val_next(bt_iter_t *it, bt_val_t *val)
{
    if (it->p >= it->end) {
        return 0;
    }

    val->type = it->p[0];
    val->n = bt_rd32(it->p + 1);
    val->p = it->p + 5;
    it->p += 5 + (size_t) val->n;
    return 1;
}


int
bt_attr_next(bt_iter_t *it, bt_str_t *key, bt_val_t *val)
{
    if (it->p >= it->end) {
        return 0;
    }

    key->n = bt_rd32(it->p);
    key->p = (const char *) it->p + 4;
    it->p += 4 + (size_t) key->n;

    return bt_val_next(it, val);
}


int
bt_event_next(bt_iter_t *it, bt_event_t *ev)
{
    if (it->p >= it->end) {
        return 0;
    }

    ev->time_ns = bt_rd64(it->p);
    ev->name.n = bt_rd32(it->p + 8);
    ev->name.p = (const char *) it->p + 12;
    it->p += 12 + (size_t) ev->name.n;

    ev->attrs.count = bt_rd32(it->p);
    ev->attrs.n = bt_rd32(it->p + 4);
    ev->attrs.p = it->p + 8;
    it->p += 8 + (size_t) ev->attrs.n;
    return 1;
}


int
bt_link_next(bt_iter_t *it, bt_link_t *link)
{
    if (it->p >= it->end) {
        return 0;
    }

    link->trace_id = it->p;
    link->span_id = it->p + 16;

    link->attrs.count = bt_rd32(it->p + 24);
    link->attrs.n = bt_rd32(it->p + 28);
    link->attrs.p = it->p + 32;
    it->p += 32 + (size_t) link->attrs.n;
    return 1;
}


int
bt_attrs_get(const bt_sect_t *attrs, const char *key, size_t klen,
    bt_val_t *val)
{
    bt_iter_t  it;
    bt_str_t   k;

    bt_iter_init(&it, attrs->p, attrs->n);

    while (bt_attr_next(&it, &k, val)) {
        if (k.n == klen && memcmp(k.p, key, klen) == 0) {
            return 1;
        }
    }

    return 0;
}
