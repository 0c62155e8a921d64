/*
 * otlp_decode.c - the streaming OTLP/protobuf walker (see otlp_decode.h).
 *
 * Pass 1 (scan_*) reads every byte of the body once: it checks the wire
 * format as protobuf-c would (the differential test holds it to that),
 * applies the limits span by span, and sums the size of every accepted span
 * record.  On the way it fills a per-thread scratch: a descriptor per span
 * (where its ids, name, status message... are, its times and enums) and
 * each span's attribute section, written with pass 2's writers as soon as
 * the attribute is validated (and each resource's section once).  Pass 2
 * (wr_from_scan) then only copies, in the field order of shm/bt_span.h; it
 * does not look at the body except for the rare events and links.  That
 * cut the instructions per W3 body by 40% (callgrind: 612k -> 358k).
 *
 * When the scratch is missing or too small, pass 2 walks the body again
 * (wr_*, the original writer): it decodes without checks and writes the
 * records.  Because protobuf lets fields come in any order, it walks a
 * span's fields a few times (ids and scalars first, then attributes,
 * events, links); those walks only decode tags and skip lengths.
 *
 * That walk learns which spans pass 1 rejected by meeting the same limit
 * while writing, and rolls the span back.  Its writes are bounded by the
 * batch size pass 1 computed: accepted spans fill it exactly, so a span
 * that would overrun it is one that pass 1 rejected, and is rolled back
 * too.
 *
 * Semantics that follow protobuf-c 1.4 (the reference) rather than taste:
 *
 *  - a tag is at most 5 bytes, a length at most 5 bytes, a varint at most
 *    10 bytes; groups (wire types 3, 4) and wire
 *    types 6, 7 are malformed, and so is field number 0 in a one-byte
 *    tag (in a longer tag it is an unknown field);
 *  - a known field with another wire type is malformed, except bool_value,
 *    which protobuf-c reads from any wire type: true when any of its bytes
 *    (length prefix included) has a nonzero low 7 bits;
 *  - singular scalars: the last occurrence wins; singular messages that
 *    occur twice are merged: repeated fields concatenate, a string or bytes
 *    field of the later one wins when present, but a number (Status.code)
 *    always comes from the later one, 0 if it lacks it;
 *  - AnyValue's oneof: the last member wins and replaces, never merges.
 *    When KeyValue.value occurs twice and the later AnyValue has no member,
 *    the earlier member survives, except a string or an empty bytes value,
 *    which is lost (the value becomes empty); if the earlier value has no
 *    member either (none given, or lost that way), the body is malformed.
 *
 * Nesting: AnyValue recursion beyond BT_SPAN_MAX_DEPTH levels is malformed
 * (the walker's stack bound); beyond lim->max_depth it only rejects the
 * span whose effective value is that deep.
 */

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shm/bt_span.h"
#include "otlp_decode.h"


/* OTLP field numbers (proto/opentelemetry/...). */
enum {
    F_REQ_RESOURCE_SPANS = 1,

    F_RS_RESOURCE = 1,
    F_RS_SCOPE_SPANS = 2,
    F_RS_SCHEMA_URL = 3,

    F_RES_ATTRIBUTES = 1,
    F_RES_DROPPED = 2,

    F_SS_SCOPE = 1,
    F_SS_SPANS = 2,
    F_SS_SCHEMA_URL = 3,

    F_SCOPE_NAME = 1,
    F_SCOPE_VERSION = 2,
    F_SCOPE_ATTRIBUTES = 3,
    F_SCOPE_DROPPED = 4,

    F_SPAN_TRACE_ID = 1,
    F_SPAN_SPAN_ID = 2,
    F_SPAN_TRACE_STATE = 3,
    F_SPAN_PARENT = 4,
    F_SPAN_NAME = 5,
    F_SPAN_KIND = 6,
    F_SPAN_START = 7,
    F_SPAN_END = 8,
    F_SPAN_ATTRIBUTES = 9,
    F_SPAN_DROPPED_ATTRS = 10,
    F_SPAN_EVENTS = 11,
    F_SPAN_DROPPED_EVENTS = 12,
    F_SPAN_LINKS = 13,
    F_SPAN_DROPPED_LINKS = 14,
    F_SPAN_STATUS = 15,
    F_SPAN_FLAGS = 16,

    F_EV_TIME = 1,
    F_EV_NAME = 2,
    F_EV_ATTRIBUTES = 3,
    F_EV_DROPPED = 4,

    F_LINK_TRACE_ID = 1,
    F_LINK_SPAN_ID = 2,
    F_LINK_TRACE_STATE = 3,
    F_LINK_ATTRIBUTES = 4,
    F_LINK_DROPPED = 5,
    F_LINK_FLAGS = 6,

    F_STATUS_MESSAGE = 2,
    F_STATUS_CODE = 3,

    F_KV_KEY = 1,
    F_KV_VALUE = 2,

    F_AV_STRING = 1,
    F_AV_BOOL = 2,
    F_AV_INT = 3,
    F_AV_DOUBLE = 4,
    F_AV_ARRAY = 5,
    F_AV_KVLIST = 6,
    F_AV_BYTES = 7,

    F_LIST_VALUES = 1           /* ArrayValue and KeyValueList */
};

enum {
    WT_VARINT = 0,
    WT_I64 = 1,
    WT_LEN = 2,
    WT_I32 = 5
};

/* one decoded field */
typedef struct {
    uint32_t        num;
    uint32_t        wt;
    const uint8_t  *raw;        /* value bytes as on the wire (LEN: with
                                   its prefix) */
    const uint8_t  *p;          /* LEN: payload; I64/I32: the bytes */
    uint32_t        n;          /* LEN: payload length */
    uint64_t        v;          /* VARINT: the value */
    const uint8_t  *next;       /* the byte after the field */
} field_t;

/* the effective value of an AnyValue (after oneof and merge rules) */
typedef struct {
    uint8_t         type;       /* BT_VAL_* */
    const uint8_t  *p;          /* STRING, BYTES, ARRAY, KVLIST payload */
    uint32_t        n;
    uint64_t        num;        /* INT, DOUBLE bits; BOOL 0/1 */
} eff_t;

/* what pass 1 learns about a value, attribute or section */
typedef struct {
    uint64_t        size;       /* record bytes */
    uint32_t        depth;      /* deepest effective level */
    const char     *bad;        /* the first broken limit, or NULL */
} info_t;

typedef struct {
    uint8_t                 *w;         /* write position */
    uint8_t                 *end;       /* end of the batch */
    const bt_otlp_limits_t  *lim;
    uint32_t                 max_depth;
} writer_t;

/*
 * What pass 1 leaves for pass 2 about one span, so that pass 2 does not
 * walk the body again: where the fields are, and the span's attribute
 * section already written (in the scratch, see below).
 */
typedef struct {
    const uint8_t  *tid, *sid, *parent, *name, *msg, *service, *scope;
    const uint8_t  *events[2], *links[2];   /* [first field, after last) */
    uint64_t        start, stop;
    uint32_t        name_n, msg_n, service_n, scope_n;
    uint32_t        attrs_off, attrs_len;   /* section in scratch.bytes */
    uint32_t        res_off, res_len;
    uint8_t         kind, status, has_parent, accepted;
} span_desc_t;

/*
 * Per-thread scratch of pass 1: a descriptor per span and the attribute
 * sections (each span's, each resource's once), in order.  Allocated once
 * per thread (freed when it exits); a body that does not fit, or a failed
 * allocation, only sends pass 2 the old way (walking the body again).
 */
#define BT_SCRATCH_SPANS  4096
#define BT_SCRATCH_BYTES  (1u << 20)

typedef struct {
    span_desc_t     desc[BT_SCRATCH_SPANS];
    uint8_t         bytes[BT_SCRATCH_BYTES];
} scratch_t;

typedef struct {
    const uint8_t           *base;
    const uint8_t           *end;           /* of the body */
    const bt_otlp_limits_t  *lim;
    uint32_t                 max_depth;
    bt_otlp_scan_t          *scan;
    uint32_t                 rs, ss, sp;    /* where, for messages */
    int                      level;         /* 0 request, 1 rs, 2 ss, 3 sp */
    scratch_t               *scratch;       /* NULL: pass 2 walks again */
    writer_t                 sw;            /* into scratch->bytes */
    uint32_t                 ndesc;
} scanner_t;


/*
 * The last successful scan on this thread.  bt_otlp_write needs the batch
 * size as the bound of its writes (see the top comment) but its signature
 * does not carry it; a caller always scans right before writing, so the
 * writer finds it here, and rescans if the caller did something else in
 * between.  Only ever an optimisation: a miss costs a second pass 1.
 */
static __thread struct {
    const uint8_t     *body;
    size_t             len;
    bt_otlp_limits_t   lim;
    size_t             batch_len;
    uint32_t           ndesc;       /* descriptors in scratch, if */
    int                desc_ok;     /* they cover the whole body */
} last_scan;

static __thread scratch_t  *tls_scratch;
static __thread int         tls_scratch_failed;
static pthread_key_t        scratch_key;
static pthread_once_t       scratch_once = PTHREAD_ONCE_INIT;

static void
scratch_free(void *p)
{
    free(p);
}


static void
scratch_key_init(void)
{
    if (pthread_key_create(&scratch_key, scratch_free) != 0) {
        tls_scratch_failed = 1;
    }
}


/* This thread's scratch, or NULL if it can't have one. */
static scratch_t *
get_scratch(void)
{
    if (tls_scratch != NULL || tls_scratch_failed) {
        return tls_scratch;
    }

    (void) pthread_once(&scratch_once, scratch_key_init);
    if (tls_scratch_failed) {
        return NULL;
    }

    tls_scratch = malloc(sizeof(scratch_t));
    if (tls_scratch == NULL
        || pthread_setspecific(scratch_key, tls_scratch) != 0)
    {
        free(tls_scratch);
        tls_scratch = NULL;
        tls_scratch_failed = 1;
    }

    return tls_scratch;
}


static int
last_scan_is(const uint8_t *body, size_t len, const bt_otlp_limits_t *lim)
{
    return last_scan.body == body && last_scan.len == len
           && last_scan.batch_len != 0
           && memcmp(&last_scan.lim, lim, sizeof(*lim)) == 0;
}


static uint32_t
clamp_depth(const bt_otlp_limits_t *lim)
{
    return lim->max_depth < BT_SPAN_MAX_DEPTH ? lim->max_depth
                                              : BT_SPAN_MAX_DEPTH;
}


/* pass 2's writers, which pass 1 also uses to fill the scratch */
static inline int room(writer_t *wr, uint64_t n);
static inline int wr_attr(writer_t *wr, const field_t *f);
static inline int wr_attr_kv(writer_t *wr, const eff_t *key,
    const eff_t *val);
static int wr_attrs(writer_t *wr, const uint8_t *p, const uint8_t *end,
    uint32_t sub, uint32_t num);


/* ---- pass 1: checked reading -------------------------------------------- */

static int
malformed(scanner_t *s, const uint8_t *at, const char *fmt, ...)
{
    char     what[160];
    va_list  ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);

    switch (s->level) {
    case 0:
        snprintf(s->scan->message, sizeof(s->scan->message),
                 "malformed protobuf at byte %zu: %s",
                 (size_t) (at - s->base), what);
        break;
    case 1:
        snprintf(s->scan->message, sizeof(s->scan->message),
                 "malformed protobuf at byte %zu (resourceSpans[%u]): %s",
                 (size_t) (at - s->base), s->rs, what);
        break;
    case 2:
        snprintf(s->scan->message, sizeof(s->scan->message),
                 "malformed protobuf at byte %zu "
                 "(resourceSpans[%u].scopeSpans[%u]): %s",
                 (size_t) (at - s->base), s->rs, s->ss, what);
        break;
    default:
        snprintf(s->scan->message, sizeof(s->scan->message),
                 "malformed protobuf at byte %zu "
                 "(resourceSpans[%u].scopeSpans[%u].spans[%u]): %s",
                 (size_t) (at - s->base), s->rs, s->ss, s->sp, what);
        break;
    }

    return -1;
}


/*
 * Reads a varint of at most maxlen bytes at *pp.  Returns 0 and advances, or
 * -1 when it does not end within maxlen bytes or before end.
 */
static inline int
get_varint(const uint8_t **pp, const uint8_t *end, size_t maxlen,
    uint64_t *v)
{
    const uint8_t  *p = *pp;
    uint64_t        r;
    size_t          i, max;

    if (p < end && p[0] < 0x80) {
        *v = p[0];
        *pp = p + 1;
        return 0;
    }

    max = (size_t) (end - p);
    if (max > maxlen) {
        max = maxlen;
    }

    r = 0;
    for (i = 0; i < max; i++) {
        r |= (uint64_t) (p[i] & 0x7f) << (7 * i);
        if ((p[i] & 0x80) == 0) {
            *v = r;
            *pp = p + i + 1;
            return 0;
        }
    }

    return -1;
}


/*
 * Reads the field at *pp (p < end).  Returns 0 with f filled, or -1 after
 * writing the message.
 */
static int scan_field_slow(scanner_t *s, const uint8_t *p,
    const uint8_t *end, field_t *f);

/*
 * The common case inline: a one-byte tag of a length-delimited field with
 * a one-byte length, or a one-byte tag and a one-byte varint.  Everything
 * else goes to scan_field_slow, which handles every case.
 */
static inline int
scan_field(scanner_t *s, const uint8_t *p, const uint8_t *end, field_t *f)
{
    uint32_t  tag;

    if (end - p >= 2 && p[0] < 0x80 && (p[0] & 0xf8) != 0) {
        tag = p[0];
        f->num = tag >> 3;
        f->wt = tag & 7;
        f->raw = p + 1;
        f->p = p + 1;
        f->n = 0;
        f->v = 0;

        switch (f->wt) {
        case WT_LEN:
            if (p[1] < 0x80 && p[1] <= (size_t) (end - p - 2)) {
                f->n = p[1];
                f->p = p + 2;
                f->next = f->p + f->n;
                return 0;
            }
            break;
        case WT_VARINT:
            if (p[1] < 0x80) {
                f->v = p[1];
                f->next = p + 2;
                return 0;
            }
            break;
        case WT_I64:
            if (end - p >= 9) {
                f->next = p + 9;
                return 0;
            }
            break;
        case WT_I32:
            if (end - p >= 5) {
                f->next = p + 5;
                return 0;
            }
            break;
        default:
            break;
        }
    }

    return scan_field_slow(s, p, end, f);
}


/*
 * The next most common cases without the general varint loops: a one- or
 * two-byte tag (Span.flags is field 16) with a two-byte length (a span is
 * a few hundred bytes) or a fixed-width value.  Returns 0 with f filled,
 * or -1 when the general path must run.
 */
static inline int
scan_field_two(const uint8_t *p, const uint8_t *end, field_t *f)
{
    const uint8_t  *q;
    uint32_t        tag, n;

    if (end - p < 3 || (p[0] & 0xf8) == 0) {
        return -1;
    }

    if (p[0] < 0x80) {
        tag = p[0];
        q = p + 1;
    } else if (p[1] < 0x80) {
        tag = (p[0] & 0x7fu) | ((uint32_t) p[1] << 7);
        q = p + 2;
    } else {
        return -1;
    }

    f->num = tag >> 3;
    f->wt = tag & 7;
    f->raw = q;
    f->p = q;
    f->n = 0;
    f->v = 0;

    switch (f->wt) {
    case WT_LEN:
        if (end - q < 2 || q[0] < 0x80 || q[1] >= 0x80) {
            return -1;
        }
        n = (q[0] & 0x7fu) | ((uint32_t) q[1] << 7);
        q += 2;
        if (n > (size_t) (end - q)) {
            return -1;
        }
        f->n = n;
        f->p = q;
        f->next = q + n;
        return 0;
    case WT_I64:
        if (end - q < 8) {
            return -1;
        }
        f->next = q + 8;
        return 0;
    case WT_I32:
        if (end - q < 4) {
            return -1;
        }
        f->next = q + 4;
        return 0;
    default:
        return -1;
    }
}


static int
scan_field_slow(scanner_t *s, const uint8_t *p, const uint8_t *end,
    field_t *f)
{
    const uint8_t  *at = p;
    uint64_t        v;

    if (scan_field_two(p, end, f) == 0) {
        return 0;
    }

    if (get_varint(&p, end, 5, &v) != 0) {
        return malformed(s, at, "bad field tag");
    }

    f->num = (uint32_t) (v >> 3);
    f->wt = (uint32_t) (v & 7);
    f->raw = p;
    f->n = 0;
    f->v = 0;

    /* protobuf-c refuses field 0 only in a one-byte tag */
    if ((at[0] & 0xf8) == 0) {
        return malformed(s, at, "field number 0");
    }

    switch (f->wt) {
    case WT_VARINT:
        if (get_varint(&p, end, 10, &f->v) != 0) {
            return malformed(s, at, "field %u: bad varint", f->num);
        }
        f->p = f->raw;
        f->next = p;
        return 0;

    case WT_I64:
        if (end - p < 8) {
            return malformed(s, at, "field %u: truncated fixed64", f->num);
        }
        f->p = p;
        f->next = p + 8;
        return 0;

    case WT_I32:
        if (end - p < 4) {
            return malformed(s, at, "field %u: truncated fixed32", f->num);
        }
        f->p = p;
        f->next = p + 4;
        return 0;

    case WT_LEN:
        if (get_varint(&p, end, 5, &v) != 0) {
            return malformed(s, at, "field %u: bad length", f->num);
        }
        if (v > (uint64_t) (end - p)) {
            return malformed(s, at,
                             "field %u: length %llu runs past its end "
                             "(%zu bytes left)", f->num,
                             (unsigned long long) v, (size_t) (end - p));
        }
        f->p = p;
        f->n = (uint32_t) v;
        f->next = p + v;
        return 0;

    default:
        return malformed(s, at, "field %u: unsupported wire type %u",
                         f->num, f->wt);
    }
}


static int wrong_wt(scanner_t *s, const field_t *f, uint32_t wt,
    const char *name);

static inline int
want_wt(scanner_t *s, const field_t *f, uint32_t wt, const char *name)
{
    return f->wt == wt ? 0 : wrong_wt(s, f, wt, name);
}


static int
wrong_wt(scanner_t *s, const field_t *f, uint32_t wt, const char *name)
{
    static const char *const  names[] = {
        "varint", "fixed64", "length-delimited", "group", "group",
        "fixed32", "type 6", "type 7"
    };

    return malformed(s, f->raw, "%s (field %u) has wire type %s, "
                     "expected %s", name, f->num, names[f->wt & 7],
                     names[wt]);
}


static void
note_bad(info_t *i, const char *why)
{
    if (i->bad == NULL) {
        i->bad = why;
    }
}



/*
 * The shape nearly every attribute has on the wire: a key and a value
 * holding one scalar, all with one-byte tags and lengths, the value ending
 * exactly where the KeyValue ends.  Recognising it in one go (both passes)
 * skips the general field loops.  The shape check is itself complete
 * validation of those bytes.  Returns 1 and fills key and val (val->n is 0
 * for the scalars), or 0 when the general path must run.
 */
static inline __attribute__((always_inline)) int
kv_fast(const uint8_t *p, uint32_t n, eff_t *key, eff_t *val)
{
    const uint8_t  *v;
    uint32_t        klen, vlen, i;
    uint64_t        x;

    if (n < 4 || p[0] != 0x0a || p[1] >= 0x80) {
        return 0;
    }
    klen = p[1];
    if (4 + klen > n || p[2 + klen] != 0x12 || p[3 + klen] >= 0x80) {
        return 0;
    }
    vlen = p[3 + klen];
    if (4 + klen + vlen != n || vlen < 2) {
        return 0;
    }

    v = p + 4 + klen;
    key->p = p + 2;
    key->n = klen;

    switch (v[0]) {
    case 0x0a:      /* string_value */
    case 0x3a:      /* bytes_value */
        if (v[1] >= 0x80 || 2 + (uint32_t) v[1] != vlen) {
            return 0;
        }
        val->type = v[0] == 0x0a ? BT_VAL_STRING : BT_VAL_BYTES;
        val->p = v + 2;
        val->n = v[1];
        return 1;

    case 0x18:      /* int_value */
        if (vlen > 11) {
            return 0;
        }
        x = 0;
        for (i = 1; i < vlen; i++) {
            x |= (uint64_t) (v[i] & 0x7f) << (7 * (i - 1));
            if ((v[i] & 0x80) == 0) {
                break;
            }
        }
        if (i != vlen - 1) {
            return 0;
        }
        val->type = BT_VAL_INT;
        val->n = 0;
        val->num = x;
        return 1;

    case 0x21:      /* double_value */
        if (vlen != 9) {
            return 0;
        }
        val->type = BT_VAL_DOUBLE;
        val->n = 0;
        val->num = bt_rd64(v + 1);
        return 1;

    case 0x10:      /* bool_value as a one-byte varint */
        if (vlen != 2 || v[1] >= 0x80) {
            return 0;
        }
        val->type = BT_VAL_BOOL;
        val->n = 0;
        val->num = v[1] != 0;
        return 1;

    default:
        return 0;
    }
}


/* payload bytes of a scalar value record */
static inline uint64_t
fast_value_size(const eff_t *val)
{
    switch (val->type) {
    case BT_VAL_STRING:
    case BT_VAL_BYTES:
        return 5 + (uint64_t) val->n;
    case BT_VAL_BOOL:
        return 6;
    default:
        return 13;
    }
}

static int scan_value(scanner_t *s, const uint8_t *p, uint32_t n,
    uint32_t level, info_t *out, eff_t *eff, int *has);
static int scan_kv(scanner_t *s, const uint8_t *p, uint32_t n,
    uint32_t level, info_t *out, eff_t *key, eff_t *val);


/* ArrayValue: the items' info summed into *out (size of the payload). */
static int
scan_array(scanner_t *s, const uint8_t *p, uint32_t n, uint32_t level,
    info_t *out)
{
    const uint8_t  *end = p + n;
    field_t         f;
    info_t          vi;
    eff_t           eff;
    int             has;

    while (p < end) {
        if (scan_field(s, p, end, &f) != 0) {
            return -1;
        }
        if (f.num == F_LIST_VALUES) {
            if (want_wt(s, &f, WT_LEN, "ArrayValue.values") != 0
                || scan_value(s, f.p, f.n, level, &vi, &eff, &has) != 0)
            {
                return -1;
            }
            out->size += vi.size;
            if (vi.depth > out->depth) {
                out->depth = vi.depth;
            }
            if (vi.bad) {
                note_bad(out, vi.bad);
            }
        }
        p = f.next;
    }

    return 0;
}


/* KeyValueList: attributes' info summed into *out. */
static int
scan_kvlist(scanner_t *s, const uint8_t *p, uint32_t n, uint32_t level,
    info_t *out, uint32_t *count)
{
    const uint8_t  *end = p + n;
    field_t         f;
    info_t          ai;
    eff_t           key, val;

    while (p < end) {
        if (scan_field(s, p, end, &f) != 0) {
            return -1;
        }
        if (f.num == F_LIST_VALUES) {
            if (want_wt(s, &f, WT_LEN, "KeyValueList.values") != 0
                || scan_kv(s, f.p, f.n, level, &ai, &key, &val) != 0)
            {
                return -1;
            }
            out->size += ai.size;
            if (ai.depth > out->depth) {
                out->depth = ai.depth;
            }
            if (ai.bad) {
                note_bad(out, ai.bad);
            }
            if (count) {
                (*count)++;
            }
        }
        p = f.next;
    }

    return 0;
}


static int
bool_quirk(const field_t *f)
{
    const uint8_t  *q;

    for (q = f->raw; q < f->next; q++) {
        if (*q & 0x7f) {
            return 1;
        }
    }
    return 0;
}


/*
 * AnyValue at nesting level `level` (an attribute's value is level 1).
 * Validates every member; *out / *eff describe the last one (the effective
 * value), *has says whether there was any.  out->size is the whole value
 * record (type, length, payload).
 */
static int
scan_value(scanner_t *s, const uint8_t *p, uint32_t n, uint32_t level,
    info_t *out, eff_t *eff, int *has)
{
    const uint8_t  *end = p + n;
    field_t         f;
    info_t          sub;

    if (level > BT_SPAN_MAX_DEPTH) {
        return malformed(s, p, "AnyValue nested deeper than %d levels",
                         BT_SPAN_MAX_DEPTH);
    }

    out->size = 5;
    out->depth = level;
    out->bad = NULL;
    eff->type = BT_VAL_EMPTY;
    eff->n = 0;
    *has = 0;

    while (p < end) {
        if (scan_field(s, p, end, &f) != 0) {
            return -1;
        }

        switch (f.num) {
        case F_AV_STRING:
        case F_AV_BYTES:
            if (want_wt(s, &f, WT_LEN, f.num == F_AV_STRING
                        ? "AnyValue.string_value" : "AnyValue.bytes_value")
                != 0)
            {
                return -1;
            }
            eff->type = f.num == F_AV_STRING ? BT_VAL_STRING : BT_VAL_BYTES;
            eff->p = f.p;
            eff->n = f.n;
            out->size = 5 + (uint64_t) f.n;
            out->depth = level;
            out->bad = f.n > s->lim->max_value_len
                       ? "a value is longer than the limit" : NULL;
            *has = 1;
            break;

        case F_AV_BOOL:
            eff->type = BT_VAL_BOOL;
            eff->num = (uint64_t) bool_quirk(&f);
            out->size = 6;
            out->depth = level;
            out->bad = NULL;
            *has = 1;
            break;

        case F_AV_INT:
        case F_AV_DOUBLE:
            if (want_wt(s, &f, f.num == F_AV_INT ? WT_VARINT : WT_I64,
                        f.num == F_AV_INT ? "AnyValue.int_value"
                                          : "AnyValue.double_value") != 0)
            {
                return -1;
            }
            eff->type = f.num == F_AV_INT ? BT_VAL_INT : BT_VAL_DOUBLE;
            eff->num = f.num == F_AV_INT ? f.v : bt_rd64(f.p);
            out->size = 13;
            out->depth = level;
            out->bad = NULL;
            *has = 1;
            break;

        case F_AV_ARRAY:
        case F_AV_KVLIST:
            if (want_wt(s, &f, WT_LEN, f.num == F_AV_ARRAY
                        ? "AnyValue.array_value" : "AnyValue.kvlist_value")
                != 0)
            {
                return -1;
            }
            sub.size = 0;
            sub.depth = level;
            sub.bad = NULL;
            if (f.num == F_AV_ARRAY) {
                if (scan_array(s, f.p, f.n, level + 1, &sub) != 0) {
                    return -1;
                }
            } else if (scan_kvlist(s, f.p, f.n, level + 1, &sub, NULL) != 0) {
                return -1;
            }
            eff->type = f.num == F_AV_ARRAY ? BT_VAL_ARRAY : BT_VAL_KVLIST;
            eff->p = f.p;
            eff->n = f.n;
            out->size = 5 + sub.size;
            out->depth = sub.depth;
            out->bad = sub.bad;
            *has = 1;
            break;

        default:
            break;
        }

        p = f.next;
    }

    return 0;
}


/*
 * KeyValue at level (its value's level).  out->size is the attr record
 * (key string and value); *key and *val are the effective key and value.
 */
static int
scan_kv(scanner_t *s, const uint8_t *p, uint32_t n, uint32_t level,
    info_t *out, eff_t *key, eff_t *val)
{
    const uint8_t  *end = p + n;
    field_t         f;
    info_t          vi, cur;
    eff_t           e;
    int             has, seen = 0;

    if (kv_fast(p, n, key, val)) {
        out->size = 4 + (uint64_t) key->n + fast_value_size(val);
        out->depth = level;
        out->bad = NULL;
        if (val->n > s->lim->max_value_len
            && (val->type == BT_VAL_STRING || val->type == BT_VAL_BYTES))
        {
            out->bad = "a value is longer than the limit";
        }
        if (key->n > s->lim->max_value_len) {
            note_bad(out, "an attribute key is longer than the limit");
        }
        return 0;
    }

    key->p = NULL;
    key->n = 0;
    val->type = BT_VAL_EMPTY;
    val->n = 0;
    cur.size = 5;
    cur.depth = level;
    cur.bad = NULL;

    while (p < end) {
        if (scan_field(s, p, end, &f) != 0) {
            return -1;
        }

        if (f.num == F_KV_KEY) {
            if (want_wt(s, &f, WT_LEN, "KeyValue.key") != 0) {
                return -1;
            }
            key->p = f.p;
            key->n = f.n;

        } else if (f.num == F_KV_VALUE) {
            if (want_wt(s, &f, WT_LEN, "KeyValue.value") != 0
                || scan_value(s, f.p, f.n, level, &vi, &e, &has) != 0)
            {
                return -1;
            }

            if (!has && seen && val->type == BT_VAL_EMPTY) {
                /* protobuf-c refuses to merge an AnyValue without a member
                   into one without a member (see the top comment) */
                return malformed(s, f.raw, "KeyValue.value: an AnyValue "
                                 "without a value merged into another");
            }
            seen = 1;

            if (has) {
                cur = vi;
                *val = e;

            } else if (val->type == BT_VAL_STRING
                       || (val->type == BT_VAL_BYTES && val->n == 0))
            {
                /* protobuf-c's merge loses these (see the top comment) */
                val->type = BT_VAL_EMPTY;
                val->n = 0;
                cur.size = 5;
                cur.depth = level;
                cur.bad = NULL;
            }
        }

        p = f.next;
    }

    out->size = 4 + (uint64_t) key->n + cur.size;
    out->depth = cur.depth;
    out->bad = cur.bad;
    if (key->n > s->lim->max_value_len) {
        note_bad(out, "an attribute key is longer than the limit");
    }

    return 0;
}


/*
 * A repeated KeyValue field that makes an attribute section: adds one
 * attribute to *sect (size without the 8-byte header) and checks the
 * attribute's depth.  service, when not NULL, receives the first
 * service.name string.
 */
static int
scan_attr(scanner_t *s, const field_t *f, const char *name, info_t *sect,
    uint32_t *count, eff_t *service, int *service_seen)
{
    info_t  ai;
    eff_t   key, val;

    if (want_wt(s, f, WT_LEN, name) != 0
        || scan_kv(s, f->p, f->n, 1, &ai, &key, &val) != 0)
    {
        return -1;
    }

    sect->size += ai.size;
    (*count)++;

    if (ai.bad) {
        note_bad(sect, ai.bad);
    }
    if (ai.depth > s->max_depth) {
        note_bad(sect, "a value is nested deeper than the limit");
    }

    if (service && !*service_seen && key.n == 12
        && memcmp(key.p, "service.name", 12) == 0)
    {
        *service_seen = 1;
        if (val.type == BT_VAL_STRING) {
            *service = val;
        }
    }

    return 0;
}


static void
check_count(scanner_t *s, info_t *sect, uint32_t count, const char *why)
{
    if (count > s->lim->max_attrs) {
        note_bad(sect, why);
    }
}


/* Resource: attributes (merged occurrences concatenate). */
static int
scan_resource(scanner_t *s, const uint8_t *p, uint32_t n, info_t *sect,
    uint32_t *count, eff_t *service, int *service_seen)
{
    const uint8_t  *end = p + n;
    field_t         f;

    while (p < end) {
        if (scan_field(s, p, end, &f) != 0) {
            return -1;
        }
        if (f.num == F_RES_ATTRIBUTES) {
            if (scan_attr(s, &f, "Resource.attributes", sect, count,
                          service, service_seen) != 0)
            {
                return -1;
            }
        } else if (f.num == F_RES_DROPPED) {
            if (want_wt(s, &f, WT_VARINT, "Resource.dropped_attributes_count")
                != 0)
            {
                return -1;
            }
        }
        p = f.next;
    }

    return 0;
}


/* InstrumentationScope: the name (last wins); the rest is only checked. */
static int
scan_scope(scanner_t *s, const uint8_t *p, uint32_t n, eff_t *name)
{
    const uint8_t  *end = p + n;
    field_t         f;
    info_t          ignored = { 0, 0, NULL };
    uint32_t        count = 0;

    while (p < end) {
        if (scan_field(s, p, end, &f) != 0) {
            return -1;
        }
        switch (f.num) {
        case F_SCOPE_NAME:
            if (want_wt(s, &f, WT_LEN, "InstrumentationScope.name") != 0) {
                return -1;
            }
            name->p = f.p;
            name->n = f.n;
            break;
        case F_SCOPE_VERSION:
            if (want_wt(s, &f, WT_LEN, "InstrumentationScope.version") != 0) {
                return -1;
            }
            break;
        case F_SCOPE_ATTRIBUTES:
            if (scan_attr(s, &f, "InstrumentationScope.attributes", &ignored,
                          &count, NULL, NULL) != 0)
            {
                return -1;
            }
            break;
        case F_SCOPE_DROPPED:
            if (want_wt(s, &f, WT_VARINT,
                        "InstrumentationScope.dropped_attributes_count") != 0)
            {
                return -1;
            }
            break;
        default:
            break;
        }
        p = f.next;
    }

    return 0;
}


/* Span.Event: adds its record size to *sect. */
static int
scan_event(scanner_t *s, const uint8_t *p, uint32_t n, info_t *sect)
{
    const uint8_t  *end = p + n;
    field_t         f;
    info_t          attrs = { 0, 0, NULL };
    uint32_t        count = 0, name_n = 0;

    while (p < end) {
        if (scan_field(s, p, end, &f) != 0) {
            return -1;
        }
        switch (f.num) {
        case F_EV_TIME:
            if (want_wt(s, &f, WT_I64, "Event.time_unix_nano") != 0) {
                return -1;
            }
            break;
        case F_EV_NAME:
            if (want_wt(s, &f, WT_LEN, "Event.name") != 0) {
                return -1;
            }
            name_n = f.n;
            break;
        case F_EV_ATTRIBUTES:
            if (scan_attr(s, &f, "Event.attributes", &attrs, &count, NULL,
                          NULL) != 0)
            {
                return -1;
            }
            break;
        case F_EV_DROPPED:
            if (want_wt(s, &f, WT_VARINT, "Event.dropped_attributes_count")
                != 0)
            {
                return -1;
            }
            break;
        default:
            break;
        }
        p = f.next;
    }

    sect->size += 8 + 4 + (uint64_t) name_n + 8 + attrs.size;
    if (attrs.bad) {
        note_bad(sect, attrs.bad);
    }
    check_count(s, sect, count, "an event has more attributes than the limit");
    if (name_n > s->lim->max_value_len) {
        note_bad(sect, "an event name is longer than the limit");
    }

    return 0;
}


/* Span.Link: adds its record size to *sect. */
static int
scan_link(scanner_t *s, const uint8_t *p, uint32_t n, info_t *sect)
{
    const uint8_t  *end = p + n;
    field_t         f;
    info_t          attrs = { 0, 0, NULL };
    uint32_t        count = 0, tid_n = 0, sid_n = 0;

    while (p < end) {
        if (scan_field(s, p, end, &f) != 0) {
            return -1;
        }
        switch (f.num) {
        case F_LINK_TRACE_ID:
            if (want_wt(s, &f, WT_LEN, "Link.trace_id") != 0) {
                return -1;
            }
            tid_n = f.n;
            break;
        case F_LINK_SPAN_ID:
            if (want_wt(s, &f, WT_LEN, "Link.span_id") != 0) {
                return -1;
            }
            sid_n = f.n;
            break;
        case F_LINK_TRACE_STATE:
            if (want_wt(s, &f, WT_LEN, "Link.trace_state") != 0) {
                return -1;
            }
            break;
        case F_LINK_ATTRIBUTES:
            if (scan_attr(s, &f, "Link.attributes", &attrs, &count, NULL,
                          NULL) != 0)
            {
                return -1;
            }
            break;
        case F_LINK_DROPPED:
            if (want_wt(s, &f, WT_VARINT, "Link.dropped_attributes_count")
                != 0)
            {
                return -1;
            }
            break;
        case F_LINK_FLAGS:
            if (want_wt(s, &f, WT_I32, "Link.flags") != 0) {
                return -1;
            }
            break;
        default:
            break;
        }
        p = f.next;
    }

    sect->size += 24 + 8 + attrs.size;
    if (attrs.bad) {
        note_bad(sect, attrs.bad);
    }
    check_count(s, sect, count, "a link has more attributes than the limit");
    if (tid_n != 16 || sid_n != 8) {
        note_bad(sect, "a link's trace_id is not 16 bytes or its span_id "
                 "not 8 bytes");
    }

    return 0;
}


/*
 * Span.Status: message (last present) and the quirky code (from the last
 * Status, 0 if it has none).
 */
static int
scan_status(scanner_t *s, const uint8_t *p, uint32_t n, const uint8_t **msg,
    uint32_t *msg_n, uint32_t *code)
{
    const uint8_t  *end = p + n;
    field_t         f;

    *code = 0;

    while (p < end) {
        if (scan_field(s, p, end, &f) != 0) {
            return -1;
        }
        if (f.num == F_STATUS_MESSAGE) {
            if (want_wt(s, &f, WT_LEN, "Status.message") != 0) {
                return -1;
            }
            *msg = f.p;
            *msg_n = f.n;
        } else if (f.num == F_STATUS_CODE) {
            if (want_wt(s, &f, WT_VARINT, "Status.code") != 0) {
                return -1;
            }
            *code = (uint32_t) f.v;
        }
        p = f.next;
    }

    return 0;
}


typedef struct {
    uint64_t        res_size;       /* resource section items */
    const char     *res_bad;
    const uint8_t  *service;
    uint32_t        service_n;
    const uint8_t  *scope;
    uint32_t        scope_n;
    uint32_t        res_off;        /* resource section in the scratch */
    uint32_t        res_len;
} span_ctx_t;


/*
 * Copies n bytes, usually a short key or value: two 16-byte moves when both
 * sides have 32 bytes to spare (the bytes written past n are free scratch
 * that the next write covers), else memcpy.  Saves a libc call for most
 * keys and values.
 */
static inline __attribute__((always_inline)) void
copy_short(uint8_t *dst, const uint8_t *dst_end, const uint8_t *src,
    const uint8_t *src_end, uint32_t n)
{
    if (n == 0) {
        return;     /* src may be NULL (an absent string) */
    }

    if (n <= 32 && dst_end - dst >= 32 && src_end - src >= 32) {
        memcpy(dst, src, 16);
        if (n > 16) {
            memcpy(dst + 16, src + 16, 16);
        }
        return;
    }

    memcpy(dst, src, n);
}


/*
 * A span attribute in the shape kv_fast recognises: what scan_attr,
 * scan_kv and wr_attr_kv do, in one go.  Returns 0 when f is not of that
 * shape (nothing done), else 1 after adding it to *attrs and, if *sect is
 * not NULL, writing it to the scratch; *sect becomes NULL when it can't be
 * (a broken limit, which rejects the span, or a full scratch).
 */
static inline int
span_attr_fast(scanner_t *s, const field_t *f, info_t *attrs,
    uint8_t **sect)
{
    eff_t      key, val = { BT_VAL_EMPTY, NULL, 0, 0 };
    uint32_t   max = s->lim->max_value_len, vsize, four;
    uint8_t   *w;

    if (f->wt != WT_LEN || !kv_fast(f->p, f->n, &key, &val)) {
        return 0;
    }

    vsize = val.type == BT_VAL_STRING || val.type == BT_VAL_BYTES
            ? 5 + val.n : val.type == BT_VAL_BOOL ? 6 : 13;
    attrs->size += 4 + (uint64_t) key.n + vsize;

    if (key.n > max || val.n > max || s->max_depth < 1) {
        /* scan_kv's and scan_attr's order */
        if (val.n > max) {
            note_bad(attrs, "a value is longer than the limit");
        }
        if (key.n > max) {
            note_bad(attrs, "an attribute key is longer than the limit");
        }
        if (s->max_depth < 1) {
            note_bad(attrs, "a value is nested deeper than the limit");
        }
        *sect = NULL;
        return 1;
    }

    if (*sect == NULL) {
        return 1;
    }

    w = s->sw.w;
    if ((uint64_t) (s->sw.end - w) < 4 + (uint64_t) key.n + vsize) {
        *sect = NULL;
        return 1;
    }

    memcpy(w, &key.n, 4);
    copy_short(w + 4, s->sw.end, key.p, s->end, key.n);
    w += 4 + key.n;
    w[0] = val.type;

    switch (val.type) {
    case BT_VAL_STRING:
    case BT_VAL_BYTES:
        memcpy(w + 1, &val.n, 4);
        copy_short(w + 5, s->sw.end, val.p, s->end, val.n);
        break;
    case BT_VAL_BOOL:
        four = 1;
        memcpy(w + 1, &four, 4);
        w[5] = (uint8_t) val.num;
        break;
    default:    /* INT, DOUBLE */
        four = 8;
        memcpy(w + 1, &four, 4);
        memcpy(w + 5, &val.num, 8);
        break;
    }

    s->sw.w = w + vsize;
    return 1;
}


/*
 * One span: validates it and, if it is acceptable, adds its record size to
 * the scan.  A rejected span is counted and its reason kept.  With a
 * scratch, it also leaves the span's descriptor and attribute section
 * there for pass 2.
 */
static int
scan_span(scanner_t *s, const uint8_t *p, uint32_t n, const span_ctx_t *ctx)
{
    const uint8_t  *end = p + n, *tid = NULL, *sid = NULL, *parent = NULL;
    const uint8_t  *name = NULL, *msg = NULL;
    const uint8_t  *ev[2] = { NULL, NULL }, *ln[2] = { NULL, NULL };
    field_t         f;
    info_t          attrs = { 0, 0, NULL }, events = { 0, 0, NULL };
    info_t          links = { 0, 0, NULL };
    uint32_t        nattrs = 0, tid_n = 0, sid_n = 0, parent_n = 0;
    uint32_t        name_n = 0, msg_n = 0, code = 0, nbytes;
    uint64_t        size, kind = 0, start = 0, stop = 0;
    uint8_t        *sect = NULL;
    const char     *bad;
    span_desc_t    *d;

    /* the attribute section goes to the scratch as it is validated */
    if (s->scratch != NULL) {
        if (s->ndesc < BT_SCRATCH_SPANS && room(&s->sw, 8) == 0) {
            sect = s->sw.w;
            s->sw.w += 8;
        } else {
            s->scratch = NULL;
        }
    }

    while (p < end) {
        if (scan_field(s, p, end, &f) != 0) {
            return -1;
        }

        if (f.num == F_SPAN_ATTRIBUTES) {
            if (span_attr_fast(s, &f, &attrs, &sect)) {
                nattrs++;
                p = f.next;
                continue;
            }

            if (scan_attr(s, &f, "Span.attributes", &attrs, &nattrs, NULL,
                          NULL) != 0)
            {
                return -1;
            }
            if (sect != NULL && wr_attr(&s->sw, &f) != 0) {
                /* a limit (the span is rejected) or a full scratch */
                sect = NULL;
            }

            p = f.next;
            continue;
        }

        switch (f.num) {
        case F_SPAN_TRACE_ID:
            if (want_wt(s, &f, WT_LEN, "Span.trace_id") != 0) {
                return -1;
            }
            tid = f.p;
            tid_n = f.n;
            break;
        case F_SPAN_SPAN_ID:
            if (want_wt(s, &f, WT_LEN, "Span.span_id") != 0) {
                return -1;
            }
            sid = f.p;
            sid_n = f.n;
            break;
        case F_SPAN_TRACE_STATE:
            if (want_wt(s, &f, WT_LEN, "Span.trace_state") != 0) {
                return -1;
            }
            break;
        case F_SPAN_PARENT:
            if (want_wt(s, &f, WT_LEN, "Span.parent_span_id") != 0) {
                return -1;
            }
            parent = f.p;
            parent_n = f.n;
            break;
        case F_SPAN_NAME:
            if (want_wt(s, &f, WT_LEN, "Span.name") != 0) {
                return -1;
            }
            name = f.p;
            name_n = f.n;
            break;
        case F_SPAN_KIND:
            if (want_wt(s, &f, WT_VARINT, "Span.kind") != 0) {
                return -1;
            }
            kind = f.v;
            break;
        case F_SPAN_START:
        case F_SPAN_END:
            if (want_wt(s, &f, WT_I64, f.num == F_SPAN_START
                        ? "Span.start_time_unix_nano"
                        : "Span.end_time_unix_nano") != 0)
            {
                return -1;
            }
            if (f.num == F_SPAN_START) {
                start = bt_rd64(f.p);
            } else {
                stop = bt_rd64(f.p);
            }
            break;
        case F_SPAN_DROPPED_ATTRS:
        case F_SPAN_DROPPED_EVENTS:
        case F_SPAN_DROPPED_LINKS:
            if (want_wt(s, &f, WT_VARINT, "Span.dropped_*_count") != 0) {
                return -1;
            }
            break;
        case F_SPAN_EVENTS:
            if (want_wt(s, &f, WT_LEN, "Span.events") != 0
                || scan_event(s, f.p, f.n, &events) != 0)
            {
                return -1;
            }
            if (ev[0] == NULL) {
                ev[0] = p;
            }
            ev[1] = f.next;
            break;
        case F_SPAN_LINKS:
            if (want_wt(s, &f, WT_LEN, "Span.links") != 0
                || scan_link(s, f.p, f.n, &links) != 0)
            {
                return -1;
            }
            if (ln[0] == NULL) {
                ln[0] = p;
            }
            ln[1] = f.next;
            break;
        case F_SPAN_STATUS:
            if (want_wt(s, &f, WT_LEN, "Span.status") != 0
                || scan_status(s, f.p, f.n, &msg, &msg_n, &code) != 0)
            {
                return -1;
            }
            break;
        case F_SPAN_FLAGS:
            if (want_wt(s, &f, WT_I32, "Span.flags") != 0) {
                return -1;
            }
            break;
        default:
            break;
        }

        p = f.next;
    }

    s->scan->spans++;

    /* the first broken rule, in a fixed order so messages are stable */
    bad = NULL;
    if (tid_n != 16 || bt_id_is_zero(tid, 16)) {
        bad = "trace_id is not 16 bytes or is all zero";
    } else if (sid_n != 8 || bt_id_is_zero(sid, 8)) {
        bad = "span_id is not 8 bytes or is all zero";
    } else if (parent_n != 0 && parent_n != 8) {
        bad = "parent_span_id is not empty or 8 bytes";
    } else if (ctx->res_bad) {
        bad = ctx->res_bad;
    } else if (nattrs > s->lim->max_attrs) {
        bad = "more attributes than the limit";
    } else if (attrs.bad) {
        bad = attrs.bad;
    } else if (events.bad) {
        bad = events.bad;
    } else if (links.bad) {
        bad = links.bad;
    } else if (name_n > s->lim->max_value_len
               || msg_n > s->lim->max_value_len
               || ctx->scope_n > s->lim->max_value_len)
    {
        bad = "the name, status message or scope name is longer than "
              "the limit";
    }

    size = BT_SPAN_FIXED_LEN + 16 + (uint64_t) name_n + msg_n
           + ctx->service_n + ctx->scope_n
           + 8 + ctx->res_size + 8 + attrs.size + 8 + events.size
           + 8 + links.size;

    if (bad == NULL && size > INT32_MAX) {
        bad = "the span record would be larger than 2 GiB";
    }

    if (s->scratch != NULL) {
        if (bad == NULL && sect == NULL) {
            /* the scratch filled up: pass 2 walks the body instead */
            s->scratch = NULL;

        } else {
            d = &s->scratch->desc[s->ndesc++];
            d->accepted = bad == NULL;
            if (bad) {
                /* its section is not needed: give the room back */
                if (sect) {
                    s->sw.w = sect;
                }

            } else {
                nbytes = (uint32_t) (s->sw.w - sect - 8);
                memcpy(sect, &nattrs, 4);
                memcpy(sect + 4, &nbytes, 4);
                d->attrs_off = (uint32_t) (sect - s->scratch->bytes);
                d->attrs_len = nbytes + 8;
                d->res_off = ctx->res_off;
                d->res_len = ctx->res_len;
                d->tid = tid;
                d->sid = sid;
                d->parent = parent;
                d->has_parent = parent_n == 8;
                d->name = name;
                d->name_n = name_n;
                d->msg = msg;
                d->msg_n = msg_n;
                d->service = ctx->service;
                d->service_n = ctx->service_n;
                d->scope = ctx->scope;
                d->scope_n = ctx->scope_n;
                d->start = start;
                d->stop = stop;
                /* enums are int32 on the wire: values outside OTLP's
                   become 0 */
                kind = (uint32_t) kind;
                d->kind = kind <= BT_KIND_CONSUMER ? (uint8_t) kind
                                                   : BT_KIND_UNSPECIFIED;
                d->status = code <= BT_STATUS_ERROR ? (uint8_t) code
                                                    : BT_STATUS_UNSET;
                d->events[0] = ev[0];
                d->events[1] = ev[1];
                d->links[0] = ln[0];
                d->links[1] = ln[1];
            }
        }
    }

    if (bad) {
        if (s->scan->rejected++ == 0) {
            snprintf(s->scan->message, sizeof(s->scan->message),
                     "resourceSpans[%u].scopeSpans[%u].spans[%u]: %s",
                     s->rs, s->ss, s->sp, bad);
        }
        return 0;
    }

    s->scan->accepted++;
    s->scan->batch_len += size;
    return 0;
}


/* ScopeSpans: the scope first (it may come after the spans), then spans. */
static int
scan_ss(scanner_t *s, const uint8_t *p, uint32_t n, span_ctx_t *ctx)
{
    const uint8_t  *start = p, *end = p + n;
    field_t         f;
    eff_t           name = { 0, NULL, 0, 0 };

    while (p < end) {
        if (scan_field(s, p, end, &f) != 0) {
            return -1;
        }
        if (f.num == F_SS_SCOPE) {
            if (want_wt(s, &f, WT_LEN, "ScopeSpans.scope") != 0
                || scan_scope(s, f.p, f.n, &name) != 0)
            {
                return -1;
            }
        } else if (f.num == F_SS_SPANS) {
            if (want_wt(s, &f, WT_LEN, "ScopeSpans.spans") != 0) {
                return -1;
            }
        } else if (f.num == F_SS_SCHEMA_URL) {
            if (want_wt(s, &f, WT_LEN, "ScopeSpans.schema_url") != 0) {
                return -1;
            }
        }
        p = f.next;
    }

    ctx->scope = name.p;
    ctx->scope_n = name.n;
    s->sp = 0;

    for (p = start; p < end; p = f.next) {
        (void) scan_field(s, p, end, &f);
        if (f.num != F_SS_SPANS) {
            continue;
        }
        if (s->scan->spans >= s->lim->max_spans) {
            snprintf(s->scan->message, sizeof(s->scan->message),
                     "more than %u spans in the request", s->lim->max_spans);
            return BT_OTLP_TOO_MANY_SPANS;
        }
        s->level = 3;
        if (scan_span(s, f.p, f.n, ctx) != 0) {
            return -1;
        }
        s->level = 2;
        s->sp++;
    }

    return 0;
}


/* ResourceSpans: the resource first, then each ScopeSpans. */
static int
scan_rs(scanner_t *s, const uint8_t *p, uint32_t n)
{
    const uint8_t  *start = p, *end = p + n;
    field_t         f;
    info_t          res = { 0, 0, NULL };
    uint32_t        count = 0;
    eff_t           service = { 0, NULL, 0, 0 };
    int             seen = 0, rc;
    span_ctx_t      ctx;
    uint8_t        *at;

    while (p < end) {
        if (scan_field(s, p, end, &f) != 0) {
            return -1;
        }
        if (f.num == F_RS_RESOURCE) {
            if (want_wt(s, &f, WT_LEN, "ResourceSpans.resource") != 0
                || scan_resource(s, f.p, f.n, &res, &count, &service, &seen)
                   != 0)
            {
                return -1;
            }
        } else if (f.num == F_RS_SCOPE_SPANS) {
            if (want_wt(s, &f, WT_LEN, "ResourceSpans.scope_spans") != 0) {
                return -1;
            }
        } else if (f.num == F_RS_SCHEMA_URL) {
            if (want_wt(s, &f, WT_LEN, "ResourceSpans.schema_url") != 0) {
                return -1;
            }
        }
        p = f.next;
    }

    check_count(s, &res, count, "the resource has more attributes than "
                "the limit");

    ctx.res_size = res.size;
    ctx.res_bad = res.bad;
    ctx.service = service.p;
    ctx.service_n = service.n;
    ctx.scope = NULL;
    ctx.scope_n = 0;
    ctx.res_off = 0;
    ctx.res_len = 0;

    /* the resource section, once for all its spans (pass 2 copies it) */
    if (s->scratch != NULL && res.bad == NULL) {
        at = s->sw.w;
        if (wr_attrs(&s->sw, start, end, F_RS_RESOURCE, F_RES_ATTRIBUTES)
            == 0)
        {
            ctx.res_off = (uint32_t) (at - s->scratch->bytes);
            ctx.res_len = (uint32_t) (s->sw.w - at);
        } else {
            s->scratch = NULL;
        }
    }
    s->ss = 0;

    for (p = start; p < end; p = f.next) {
        (void) scan_field(s, p, end, &f);
        if (f.num != F_RS_SCOPE_SPANS) {
            continue;
        }
        s->level = 2;
        rc = scan_ss(s, f.p, f.n, &ctx);
        if (rc != 0) {
            return rc;
        }
        s->level = 1;
        s->ss++;
    }

    return 0;
}


int
bt_otlp_scan(const uint8_t *body, size_t len, const bt_otlp_limits_t *lim,
    bt_otlp_scan_t *scan)
{
    scanner_t       s;
    const uint8_t  *p = body, *end = body + len;
    field_t         f;
    int             rc;

    memset(scan, 0, sizeof(*scan));
    last_scan.batch_len = 0;

    s.base = body;
    s.end = body + len;
    s.lim = lim;
    s.max_depth = clamp_depth(lim);
    s.scan = scan;
    s.rs = 0;
    s.ss = 0;
    s.sp = 0;
    s.level = 0;
    s.ndesc = 0;
    s.scratch = get_scratch();
    if (s.scratch != NULL) {
        s.sw.w = s.scratch->bytes;
        s.sw.end = s.scratch->bytes + BT_SCRATCH_BYTES;
        s.sw.lim = lim;
        s.sw.max_depth = s.max_depth;
    }

    while (p < end) {
        if (scan_field(&s, p, end, &f) != 0) {
            goto malformed;
        }
        if (f.num == F_REQ_RESOURCE_SPANS) {
            if (want_wt(&s, &f, WT_LEN,
                        "ExportTraceServiceRequest.resource_spans") != 0)
            {
                goto malformed;
            }
            s.level = 1;
            rc = scan_rs(&s, f.p, f.n);
            if (rc == BT_OTLP_TOO_MANY_SPANS) {
                scan->accepted = 0;
                scan->rejected = 0;
                scan->batch_len = 0;
                return rc;
            }
            if (rc != 0) {
                goto malformed;
            }
            s.level = 0;
            s.rs++;
        }
        p = f.next;
    }

    if (scan->rejected > 1) {
        char  first[sizeof(scan->message)];

        memcpy(first, scan->message, sizeof(first));
        snprintf(scan->message, sizeof(scan->message),
                 "%u spans rejected, the first: %.200s", scan->rejected,
                 first);
    }

    if (scan->accepted > 0) {
        scan->batch_len += 8;
        last_scan.body = body;
        last_scan.len = len;
        last_scan.lim = *lim;
        last_scan.batch_len = scan->batch_len;
        last_scan.ndesc = s.ndesc;
        last_scan.desc_ok = s.scratch != NULL;
    }

    return BT_OTLP_OK;

malformed:

    scan->accepted = 0;
    scan->rejected = 0;
    scan->batch_len = 0;
    return BT_OTLP_MALFORMED;
}


/* ---- pass 2: trusted reading, bounded writing --------------------------- */

/*
 * Reads the field at p, trusting pass 1.  Kept apart from scan_field so the
 * hot loop has no error paths.
 */
static inline const uint8_t *
next_field(const uint8_t *p, field_t *f)
{
    uint64_t  v;
    unsigned  i;

    if (p[0] < 0x80) {
        v = p[0];
        p++;
    } else {
        v = 0;
        for (i = 0; ; i++) {
            v |= (uint64_t) (p[i] & 0x7f) << (7 * i);
            if ((p[i] & 0x80) == 0) {
                break;
            }
        }
        p += i + 1;
    }

    f->num = (uint32_t) (v >> 3);
    f->wt = (uint32_t) (v & 7);
    f->raw = p;
    f->n = 0;
    f->v = 0;

    switch (f->wt) {
    case WT_LEN:
        if (p[0] < 0x80) {
            v = p[0];
            p++;
        } else {
            v = 0;
            for (i = 0; ; i++) {
                v |= (uint64_t) (p[i] & 0x7f) << (7 * i);
                if ((p[i] & 0x80) == 0) {
                    break;
                }
            }
            p += i + 1;
        }
        f->p = p;
        f->n = (uint32_t) v;
        return p + v;

    case WT_VARINT:
        v = 0;
        for (i = 0; ; i++) {
            v |= (uint64_t) (p[i] & 0x7f) << (7 * i);
            if ((p[i] & 0x80) == 0) {
                break;
            }
        }
        f->v = v;
        f->p = p;
        return p + i + 1;

    case WT_I64:
        f->p = p;
        return p + 8;

    default:    /* WT_I32 */
        f->p = p;
        return p + 4;
    }
}


/*
 * Writers return 0, or -1 when the span can't be accepted (a limit, or no
 * room left, which only a span rejected by pass 1 can meet).
 */
static inline int
room(writer_t *wr, uint64_t n)
{
    return (uint64_t) (wr->end - wr->w) >= n ? 0 : -1;
}


static inline void
put32(writer_t *wr, uint32_t v)
{
    memcpy(wr->w, &v, 4);
    wr->w += 4;
}


static inline int
put_str(writer_t *wr, const uint8_t *p, uint32_t n)
{
    if (room(wr, 4 + (uint64_t) n) != 0) {
        return -1;
    }
    put32(wr, n);
    if (n) {
        memcpy(wr->w, p, n);
        wr->w += n;
    }
    return 0;
}


/* Finds the effective member of one AnyValue (last member wins). */
static int
av_member(const uint8_t *p, uint32_t n, eff_t *eff)
{
    const uint8_t  *end = p + n;
    field_t         f;
    int             has = 0;

    eff->type = BT_VAL_EMPTY;
    eff->n = 0;

    while (p < end) {
        p = next_field(p, &f);
        switch (f.num) {
        case F_AV_STRING:
            eff->type = BT_VAL_STRING;
            eff->p = f.p;
            eff->n = f.n;
            has = 1;
            break;
        case F_AV_BYTES:
            eff->type = BT_VAL_BYTES;
            eff->p = f.p;
            eff->n = f.n;
            has = 1;
            break;
        case F_AV_BOOL:
            f.next = p;
            eff->type = BT_VAL_BOOL;
            eff->num = (uint64_t) bool_quirk(&f);
            has = 1;
            break;
        case F_AV_INT:
            eff->type = BT_VAL_INT;
            eff->num = f.v;
            has = 1;
            break;
        case F_AV_DOUBLE:
            eff->type = BT_VAL_DOUBLE;
            eff->num = bt_rd64(f.p);
            has = 1;
            break;
        case F_AV_ARRAY:
            eff->type = BT_VAL_ARRAY;
            eff->p = f.p;
            eff->n = f.n;
            has = 1;
            break;
        case F_AV_KVLIST:
            eff->type = BT_VAL_KVLIST;
            eff->p = f.p;
            eff->n = f.n;
            has = 1;
            break;
        default:
            break;
        }
    }

    return has;
}


static int wr_kv(writer_t *wr, const uint8_t *p, uint32_t n, uint32_t level);

/* value = u8 type, u32 n, payload */
static int
wr_value(writer_t *wr, const eff_t *eff, uint32_t level)
{
    const uint8_t  *p, *end;
    uint8_t        *len_at;
    field_t         f;
    eff_t           item;

    if (level > wr->max_depth) {
        return -1;
    }

    switch (eff->type) {
    case BT_VAL_STRING:
    case BT_VAL_BYTES:
        if (eff->n > wr->lim->max_value_len
            || room(wr, 5 + (uint64_t) eff->n) != 0)
        {
            return -1;
        }
        *wr->w++ = eff->type;
        put32(wr, eff->n);
        memcpy(wr->w, eff->p, eff->n);
        wr->w += eff->n;
        return 0;

    case BT_VAL_BOOL:
        if (room(wr, 6) != 0) {
            return -1;
        }
        break;

    case BT_VAL_INT:
    case BT_VAL_DOUBLE:
        if (room(wr, 13) != 0) {
            return -1;
        }
        break;

    default:    /* EMPTY, ARRAY, KVLIST: the header first */
        if (room(wr, 5) != 0) {
            return -1;
        }
        break;
    }

    *wr->w++ = eff->type;

    switch (eff->type) {
    case BT_VAL_BOOL:
        put32(wr, 1);
        *wr->w++ = (uint8_t) eff->num;
        return 0;

    case BT_VAL_INT:
    case BT_VAL_DOUBLE:
        put32(wr, 8);
        memcpy(wr->w, &eff->num, 8);
        wr->w += 8;
        return 0;

    case BT_VAL_ARRAY:
    case BT_VAL_KVLIST:
        len_at = wr->w;
        wr->w += 4;
        p = eff->p;
        end = p + eff->n;
        while (p < end) {
            p = next_field(p, &f);
            if (f.num != F_LIST_VALUES) {
                continue;
            }
            if (eff->type == BT_VAL_ARRAY) {
                av_member(f.p, f.n, &item);
                if (wr_value(wr, &item, level + 1) != 0) {
                    return -1;
                }
            } else if (wr_kv(wr, f.p, f.n, level + 1) != 0) {
                return -1;
            }
        }
        {
            uint32_t  n = (uint32_t) (wr->w - len_at - 4);
            memcpy(len_at, &n, 4);
        }
        return 0;

    default:    /* EMPTY */
        put32(wr, 0);
        return 0;
    }
}


/* Effective key and value of a KeyValue (see the merge rules on top). */
static void
kv_parts(const uint8_t *p, uint32_t n, eff_t *key, eff_t *val)
{
    const uint8_t  *end = p + n;
    field_t         f;
    eff_t           e;

    if (kv_fast(p, n, key, val)) {
        return;
    }

    key->p = NULL;
    key->n = 0;
    val->type = BT_VAL_EMPTY;
    val->n = 0;

    while (p < end) {
        p = next_field(p, &f);
        if (f.num == F_KV_KEY) {
            key->p = f.p;
            key->n = f.n;
        } else if (f.num == F_KV_VALUE) {
            if (av_member(f.p, f.n, &e)) {
                *val = e;
            } else if (val->type == BT_VAL_STRING
                       || (val->type == BT_VAL_BYTES && val->n == 0))
            {
                val->type = BT_VAL_EMPTY;
                val->n = 0;
            }
        }
    }
}


/* attr = str key, value */
static int
wr_kv(writer_t *wr, const uint8_t *p, uint32_t n, uint32_t level)
{
    eff_t  key, val;

    kv_parts(p, n, &key, &val);

    if (key.n > wr->lim->max_value_len
        || put_str(wr, key.p, key.n) != 0)
    {
        return -1;
    }

    return wr_value(wr, &val, level);
}


/* One attribute of a section (level 1), the simple shape written inline. */
static inline int
wr_attr(writer_t *wr, const field_t *f)
{
    eff_t  key, val = { BT_VAL_EMPTY, NULL, 0, 0 };

    if (!kv_fast(f->p, f->n, &key, &val)) {
        return wr_kv(wr, f->p, f->n, 1);
    }

    return wr_attr_kv(wr, &key, &val);
}


/* An attribute of a section in the shape kv_fast recognises. */
static inline int
wr_attr_kv(writer_t *wr, const eff_t *key, const eff_t *val)
{
    uint64_t  need;

    need = 4 + (uint64_t) key->n + fast_value_size(val);
    if (key->n > wr->lim->max_value_len || wr->max_depth < 1
        || room(wr, need) != 0)
    {
        return -1;
    }

    put32(wr, key->n);
    memcpy(wr->w, key->p, key->n);
    wr->w += key->n;
    *wr->w++ = val->type;

    switch (val->type) {
    case BT_VAL_STRING:
    case BT_VAL_BYTES:
        if (val->n > wr->lim->max_value_len) {
            return -1;
        }
        put32(wr, val->n);
        memcpy(wr->w, val->p, val->n);
        wr->w += val->n;
        return 0;

    case BT_VAL_BOOL:
        put32(wr, 1);
        *wr->w++ = (uint8_t) val->num;
        return 0;

    default:    /* INT, DOUBLE */
        put32(wr, 8);
        memcpy(wr->w, &val->num, 8);
        wr->w += 8;
        return 0;
    }
}


/*
 * Writes an attribute section from the repeated field num of each message
 * in [p, end) -- or, with sub != 0, of the messages in field sub of it
 * (the resource's attributes inside ResourceSpans.resource occurrences).
 */
static int
wr_attrs(writer_t *wr, const uint8_t *p, const uint8_t *end, uint32_t sub,
    uint32_t num)
{
    uint8_t        *hdr;
    const uint8_t  *q, *qend;
    field_t         f, g;
    uint32_t        count = 0, nbytes;

    if (room(wr, 8) != 0) {
        return -1;
    }
    hdr = wr->w;
    wr->w += 8;

    while (p < end) {
        p = next_field(p, &f);

        if (sub == 0) {
            if (f.num != num) {
                continue;
            }
            if (++count > wr->lim->max_attrs || wr_attr(wr, &f) != 0) {
                return -1;
            }
            continue;
        }

        if (f.num != sub) {
            continue;
        }
        for (q = f.p, qend = f.p + f.n; q < qend; ) {
            q = next_field(q, &g);
            if (g.num != num) {
                continue;
            }
            if (++count > wr->lim->max_attrs || wr_attr(wr, &g) != 0) {
                return -1;
            }
        }
    }

    nbytes = (uint32_t) (wr->w - hdr - 8);
    memcpy(hdr, &count, 4);
    memcpy(hdr + 4, &nbytes, 4);
    return 0;
}


/* event = u64 time_ns, str name, sect attrs */
static int
wr_event(writer_t *wr, const uint8_t *p, uint32_t n)
{
    const uint8_t  *q, *end = p + n, *name = NULL;
    field_t         f;
    uint64_t        t = 0;
    uint32_t        name_n = 0;

    for (q = p; q < end; ) {
        q = next_field(q, &f);
        if (f.num == F_EV_TIME) {
            t = bt_rd64(f.p);
        } else if (f.num == F_EV_NAME) {
            name = f.p;
            name_n = f.n;
        }
    }

    if (name_n > wr->lim->max_value_len || room(wr, 8) != 0) {
        return -1;
    }
    memcpy(wr->w, &t, 8);
    wr->w += 8;

    if (put_str(wr, name, name_n) != 0) {
        return -1;
    }

    return wr_attrs(wr, p, end, 0, F_EV_ATTRIBUTES);
}


/* link = 16 trace_id, 8 span_id, sect attrs */
static int
wr_link(writer_t *wr, const uint8_t *p, uint32_t n)
{
    const uint8_t  *q, *end = p + n, *tid = NULL, *sid = NULL;
    field_t         f;
    uint32_t        tid_n = 0, sid_n = 0;

    for (q = p; q < end; ) {
        q = next_field(q, &f);
        if (f.num == F_LINK_TRACE_ID) {
            tid = f.p;
            tid_n = f.n;
        } else if (f.num == F_LINK_SPAN_ID) {
            sid = f.p;
            sid_n = f.n;
        }
    }

    if (tid_n != 16 || sid_n != 8 || room(wr, 24) != 0) {
        return -1;
    }
    memcpy(wr->w, tid, 16);
    memcpy(wr->w + 16, sid, 8);
    wr->w += 24;

    return wr_attrs(wr, p, end, 0, F_LINK_ATTRIBUTES);
}


/* events or links section */
static int
wr_items(writer_t *wr, const uint8_t *p, const uint8_t *end, uint32_t num)
{
    uint8_t  *hdr;
    field_t   f;
    uint32_t  count = 0, nbytes;
    int       rc;

    if (room(wr, 8) != 0) {
        return -1;
    }
    hdr = wr->w;
    wr->w += 8;

    while (p < end) {
        p = next_field(p, &f);
        if (f.num != num) {
            continue;
        }
        rc = num == F_SPAN_EVENTS ? wr_event(wr, f.p, f.n)
                                  : wr_link(wr, f.p, f.n);
        if (rc != 0) {
            return -1;
        }
        count++;
    }

    nbytes = (uint32_t) (wr->w - hdr - 8);
    memcpy(hdr, &count, 4);
    memcpy(hdr + 4, &nbytes, 4);
    return 0;
}


typedef struct {
    const uint8_t  *rs;             /* ResourceSpans payload */
    uint32_t        rs_n;
    eff_t           service;
    eff_t           scope;
    const uint8_t  *res_copy;       /* resource section of an accepted span
                                       of this ResourceSpans, or NULL */
    uint32_t        res_copy_n;
} wr_ctx_t;


/* Writes one span record, or nothing (returns -1) if it is rejected. */
static int
wr_span(writer_t *wr, const uint8_t *p, uint32_t n, wr_ctx_t *ctx)
{
    const uint8_t  *q, *end = p + n;
    const uint8_t  *tid = NULL, *sid = NULL, *parent = NULL;
    const uint8_t  *name = NULL, *msg = NULL, *sq, *send;
    uint8_t        *rec, *res_at;
    field_t         f, g;
    uint32_t        tid_n = 0, sid_n = 0, parent_n = 0, name_n = 0;
    uint32_t        msg_n = 0, len, code = 0;
    uint64_t        kind = 0, start = 0, stop = 0;
    uint8_t         kind8, status8;
    uint16_t        flags = 0;
    const uint8_t  *at, *range[3][2] = {
        { NULL, NULL }, { NULL, NULL }, { NULL, NULL }
    };
    int             r;

    /*
     * Walk 1: the scalars, and where attributes, events and links start
     * and end, so the walks that write them cover only that stretch (most
     * spans have no events or links: those walks then cost nothing).
     */
    for (q = p; q < end; ) {
        at = q;
        q = next_field(q, &f);

        /* most fields of a span are attributes: keep them off the jump
           table, whose indirect branch mispredicts */
        if (f.num == F_SPAN_ATTRIBUTES) {
            if (range[0][0] == NULL) {
                range[0][0] = at;
            }
            range[0][1] = q;
            continue;
        }

        switch (f.num) {
        case F_SPAN_ATTRIBUTES:
        case F_SPAN_EVENTS:
        case F_SPAN_LINKS:
            r = f.num == F_SPAN_ATTRIBUTES ? 0
                : f.num == F_SPAN_EVENTS ? 1 : 2;
            if (range[r][0] == NULL) {
                range[r][0] = at;
            }
            range[r][1] = q;
            break;
        case F_SPAN_TRACE_ID:
            tid = f.p;
            tid_n = f.n;
            break;
        case F_SPAN_SPAN_ID:
            sid = f.p;
            sid_n = f.n;
            break;
        case F_SPAN_PARENT:
            parent = f.p;
            parent_n = f.n;
            break;
        case F_SPAN_NAME:
            name = f.p;
            name_n = f.n;
            break;
        case F_SPAN_KIND:
            kind = f.v;
            break;
        case F_SPAN_START:
            start = bt_rd64(f.p);
            break;
        case F_SPAN_END:
            stop = bt_rd64(f.p);
            break;
        case F_SPAN_STATUS:
            /* a later Status gives its code, 0 if it has none */
            code = 0;
            for (sq = f.p, send = f.p + f.n; sq < send; ) {
                sq = next_field(sq, &g);
                if (g.num == F_STATUS_MESSAGE) {
                    msg = g.p;
                    msg_n = g.n;
                } else if (g.num == F_STATUS_CODE) {
                    code = (uint32_t) g.v;
                }
            }
            break;
        default:
            break;
        }
    }

    if (tid_n != 16 || bt_id_is_zero(tid, 16)
        || sid_n != 8 || bt_id_is_zero(sid, 8)
        || (parent_n != 0 && parent_n != 8)
        || name_n > wr->lim->max_value_len
        || msg_n > wr->lim->max_value_len
        || ctx->scope.n > wr->lim->max_value_len
        || room(wr, BT_SPAN_FIXED_LEN) != 0)
    {
        return -1;
    }

    rec = wr->w;

    /* enums are int32 on the wire: values outside OTLP's become 0 */
    kind = (uint32_t) kind;
    kind8 = kind <= BT_KIND_CONSUMER ? (uint8_t) kind : BT_KIND_UNSPECIFIED;
    status8 = code <= BT_STATUS_ERROR ? (uint8_t) code : BT_STATUS_UNSET;

    memcpy(rec + 4, tid, 16);
    memcpy(rec + 20, sid, 8);
    if (parent_n == 8) {
        memcpy(rec + 28, parent, 8);
    } else {
        memset(rec + 28, 0, 8);
    }
    memcpy(rec + 36, &start, 8);
    memcpy(rec + 44, &stop, 8);
    rec[52] = kind8;
    rec[53] = status8;
    memcpy(rec + 54, &flags, 2);
    wr->w += BT_SPAN_FIXED_LEN;

    if (put_str(wr, name, name_n) != 0
        || put_str(wr, msg, msg_n) != 0
        || put_str(wr, ctx->service.p, ctx->service.n) != 0
        || put_str(wr, ctx->scope.p, ctx->scope.n) != 0)
    {
        goto rollback;
    }

    res_at = wr->w;
    if (ctx->res_copy) {
        if (room(wr, ctx->res_copy_n) != 0) {
            goto rollback;
        }
        memcpy(wr->w, ctx->res_copy, ctx->res_copy_n);
        wr->w += ctx->res_copy_n;
    } else if (wr_attrs(wr, ctx->rs, ctx->rs + ctx->rs_n, F_RS_RESOURCE,
                        F_RES_ATTRIBUTES) != 0)
    {
        goto rollback;
    }

    if (wr_attrs(wr, range[0][0], range[0][1], 0, F_SPAN_ATTRIBUTES) != 0
        || wr_items(wr, range[1][0], range[1][1], F_SPAN_EVENTS) != 0
        || wr_items(wr, range[2][0], range[2][1], F_SPAN_LINKS) != 0)
    {
        goto rollback;
    }

    if ((uint64_t) (wr->w - rec) > INT32_MAX) {
        goto rollback;
    }

    len = (uint32_t) (wr->w - rec);
    memcpy(rec, &len, 4);

    if (ctx->res_copy == NULL) {
        ctx->res_copy = res_at;
        ctx->res_copy_n = 8 + bt_rd32(res_at + 4);
    }

    return 0;

rollback:

    wr->w = rec;
    return -1;
}


/* The service name: the first service.name attribute, if a string. */
static void
find_service(const uint8_t *p, const uint8_t *end, eff_t *service)
{
    field_t         f, g;
    const uint8_t  *q, *qend;
    eff_t           key, val;

    service->p = NULL;
    service->n = 0;

    while (p < end) {
        p = next_field(p, &f);
        if (f.num != F_RS_RESOURCE) {
            continue;
        }
        for (q = f.p, qend = f.p + f.n; q < qend; ) {
            q = next_field(q, &g);
            if (g.num != F_RES_ATTRIBUTES) {
                continue;
            }
            kv_parts(g.p, g.n, &key, &val);
            if (key.n == 12 && memcmp(key.p, "service.name", 12) == 0) {
                if (val.type == BT_VAL_STRING) {
                    *service = val;
                }
                return;
            }
        }
    }
}



/*
 * Pass 2 from what pass 1 left in the scratch: no walk of the body, only
 * the copies (and the rare events and links, written from their fields).
 */
static void
wr_from_scan(const bt_otlp_limits_t *lim, uint8_t *out, size_t batch_len)
{
    const scratch_t    *sc = tls_scratch;
    const span_desc_t  *d;
    const uint8_t      *body_end = last_scan.body + last_scan.len;
    writer_t            wr;
    uint8_t            *rec, *w;
    uint32_t            i, len, count = 0, magic = BT_BATCH_MAGIC;
    uint64_t            need;

    wr.w = out + 8;
    wr.end = out + batch_len;
    wr.lim = lim;
    wr.max_depth = clamp_depth(lim);

    for (i = 0; i < last_scan.ndesc; i++) {
        d = &sc->desc[i];
        if (!d->accepted) {
            continue;
        }

        need = BT_SPAN_FIXED_LEN + 16 + (uint64_t) d->name_n + d->msg_n
               + d->service_n + d->scope_n + d->res_len + d->attrs_len;
        if (room(&wr, need) != 0) {
            continue;       /* can't happen: pass 1 counted these bytes */
        }

        rec = wr.w;
        memcpy(rec + 4, d->tid, 16);
        memcpy(rec + 20, d->sid, 8);
        if (d->has_parent) {
            memcpy(rec + 28, d->parent, 8);
        } else {
            memset(rec + 28, 0, 8);
        }
        memcpy(rec + 36, &d->start, 8);
        memcpy(rec + 44, &d->stop, 8);
        rec[52] = d->kind;
        rec[53] = d->status;
        rec[54] = 0;        /* flags */
        rec[55] = 0;
        wr.w += BT_SPAN_FIXED_LEN;

        /* the four strings: room was checked above */
        w = wr.w;
        memcpy(w, &d->name_n, 4);
        copy_short(w + 4, wr.end, d->name, body_end, d->name_n);
        w += 4 + d->name_n;
        memcpy(w, &d->msg_n, 4);
        copy_short(w + 4, wr.end, d->msg, body_end, d->msg_n);
        w += 4 + d->msg_n;
        memcpy(w, &d->service_n, 4);
        copy_short(w + 4, wr.end, d->service, body_end, d->service_n);
        w += 4 + d->service_n;
        memcpy(w, &d->scope_n, 4);
        copy_short(w + 4, wr.end, d->scope, body_end, d->scope_n);
        w += 4 + d->scope_n;

        memcpy(w, sc->bytes + d->res_off, d->res_len);
        w += d->res_len;
        memcpy(w, sc->bytes + d->attrs_off, d->attrs_len);
        wr.w = w + d->attrs_len;

        if (d->events[0] == NULL && d->links[0] == NULL
            && room(&wr, 16) == 0)
        {
            /* the usual span: two empty sections */
            memset(wr.w, 0, 16);
            wr.w += 16;

        } else if (wr_items(&wr, d->events[0], d->events[1], F_SPAN_EVENTS)
                   != 0
                   || wr_items(&wr, d->links[0], d->links[1], F_SPAN_LINKS)
                      != 0)
        {
            wr.w = rec;     /* can't happen either: pass 1 checked them */
            continue;
        }

        len = (uint32_t) (wr.w - rec);
        memcpy(rec, &len, 4);
        count++;
    }

    memcpy(out, &magic, 4);
    memcpy(out + 4, &count, 4);
}


void
bt_otlp_write(const uint8_t *body, size_t len, const bt_otlp_limits_t *lim,
    uint8_t *out)
{
    writer_t        wr;
    wr_ctx_t        ctx;
    const uint8_t  *p, *end = body + len, *q, *qend, *r, *rend, *t, *tend;
    field_t         f, g, h, k;
    uint32_t        magic = BT_BATCH_MAGIC, count = 0;
    size_t          batch_len;
    bt_otlp_scan_t  scan;

    memset(&ctx, 0, sizeof(ctx));

    if (!last_scan_is(body, len, lim)) {
        /* not the scan just before: redo it to learn the bound */
        if (bt_otlp_scan(body, len, lim, &scan) != BT_OTLP_OK
            || scan.accepted == 0)
        {
            return;
        }
    }
    batch_len = last_scan.batch_len;

    if (last_scan.desc_ok) {
        wr_from_scan(lim, out, batch_len);
        return;
    }

    wr.w = out + 8;
    wr.end = out + batch_len;
    wr.lim = lim;
    wr.max_depth = clamp_depth(lim);

    for (p = body; p < end; ) {
        p = next_field(p, &f);
        if (f.num != F_REQ_RESOURCE_SPANS) {
            continue;
        }

        ctx.rs = f.p;
        ctx.rs_n = f.n;
        ctx.res_copy = NULL;
        ctx.res_copy_n = 0;
        find_service(f.p, f.p + f.n, &ctx.service);

        for (q = f.p, qend = f.p + f.n; q < qend; ) {
            q = next_field(q, &g);
            if (g.num != F_RS_SCOPE_SPANS) {
                continue;
            }

            ctx.scope.p = NULL;
            ctx.scope.n = 0;
            for (r = g.p, rend = g.p + g.n; r < rend; ) {
                r = next_field(r, &h);
                if (h.num != F_SS_SCOPE) {
                    continue;
                }
                for (t = h.p, tend = h.p + h.n; t < tend; ) {
                    t = next_field(t, &k);
                    if (k.num == F_SCOPE_NAME) {
                        ctx.scope.p = k.p;
                        ctx.scope.n = k.n;
                    }
                }
            }

            for (r = g.p, rend = g.p + g.n; r < rend; ) {
                r = next_field(r, &h);
                if (h.num == F_SS_SPANS && wr_span(&wr, h.p, h.n, &ctx) == 0) {
                    count++;
                }
            }
        }
    }

    memcpy(out, &magic, 4);
    memcpy(out + 4, &count, 4);
}
