/*
 * bt_span.h - the flattened span record: what the module writes into a ring
 * and what the engine, the DSL evaluator and the CLI read.
 *
 * Why a format of our own instead of the OTLP protobuf: the reader must be
 * able to look at any field of any span in O(1) without decoding or
 * allocating, because the engine keeps spans in the ring until their trace
 * is complete and evaluates rules directly on these bytes (zero copy).
 * Every variable-length part is length-prefixed so it can be skipped.
 *
 * All integers are little-endian and unaligned; read them with memcpy (the
 * accessors below do).  Lengths are u32.
 *
 * Batch (one ring record = one OTLP request's accepted spans):
 *
 *   u32 magic   BT_BATCH_MAGIC
 *   u32 count   number of span records that follow
 *   span[count]
 *
 * Span:
 *
 *   off  size
 *    0   u32   len           bytes of this span record, this field included
 *    4   16    trace_id
 *   20   8     span_id
 *   28   8     parent_span_id (all zero: no parent)
 *   36   u64   start_ns      unix nanoseconds
 *   44   u64   end_ns
 *   52   u8    kind          BT_KIND_*  (OTLP SpanKind numbering)
 *   53   u8    status        BT_STATUS_* (OTLP StatusCode numbering)
 *   54   u16   flags         reserved, 0
 *   56   str   name
 *        str   status_message
 *        str   service       resource attribute service.name, '' if none
 *        str   scope         instrumentation scope name
 *        sect  resource      attrs of the resource
 *        sect  attributes    attrs of the span
 *        sect  events        event*
 *        sect  links         link*
 *
 *   str   = u32 n, n bytes (not NUL-terminated)
 *   sect  = u32 count, u32 nbytes, nbytes of items
 *   attr  = str key, value
 *   value = u8 type (BT_VAL_*), u32 n, n bytes of payload:
 *             STRING, BYTES: the bytes
 *             BOOL: u8 0/1      INT: i64      DOUBLE: f64
 *             ARRAY: value*     KVLIST: attr*     EMPTY: n = 0
 *   event = u64 time_ns, str name, sect attrs
 *   link  = 16 trace_id, 8 span_id, sect attrs
 */

#ifndef BT_SPAN_H
#define BT_SPAN_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define BT_BATCH_MAGIC      0x31534842u     /* "BHS1" */
#define BT_SPAN_FIXED_LEN   56

/*
 * Deepest value nesting a record may hold (an attribute's value is level 1,
 * each ARRAY / KVLIST adds one).  bt_span_parse refuses deeper records so a
 * corrupt one can't exhaust the reader's stack; the OTLP decoder never
 * writes deeper ones (it clamps its max_depth limit to this).
 */
#define BT_SPAN_MAX_DEPTH   64

enum {
    BT_KIND_UNSPECIFIED = 0,
    BT_KIND_INTERNAL = 1,
    BT_KIND_SERVER = 2,
    BT_KIND_CLIENT = 3,
    BT_KIND_PRODUCER = 4,
    BT_KIND_CONSUMER = 5
};

enum {
    BT_STATUS_UNSET = 0,
    BT_STATUS_OK = 1,
    BT_STATUS_ERROR = 2
};

enum {
    BT_VAL_EMPTY = 0,
    BT_VAL_STRING = 1,
    BT_VAL_BOOL = 2,
    BT_VAL_INT = 3,
    BT_VAL_DOUBLE = 4,
    BT_VAL_BYTES = 5,
    BT_VAL_ARRAY = 6,
    BT_VAL_KVLIST = 7
};

typedef struct {
    const char  *p;
    uint32_t     n;
} bt_str_t;

/* A section: count items packed in n bytes starting at p. */
typedef struct {
    const uint8_t  *p;
    uint32_t        n;
    uint32_t        count;
} bt_sect_t;

typedef struct {
    uint8_t         type;
    uint32_t        n;
    const uint8_t  *p;          /* payload */
} bt_val_t;

/* A parsed span: pointers into the record, nothing copied or allocated. */
typedef struct {
    const uint8_t  *rec;        /* start of the span record */
    uint32_t        len;
    const uint8_t  *trace_id;   /* 16 bytes */
    const uint8_t  *span_id;    /* 8 bytes */
    const uint8_t  *parent_id;  /* 8 bytes, all zero when absent */
    uint64_t        start_ns;
    uint64_t        end_ns;
    uint8_t         kind;
    uint8_t         status;
    bt_str_t        name;
    bt_str_t        status_message;
    bt_str_t        service;
    bt_str_t        scope;
    bt_sect_t       resource;
    bt_sect_t       attrs;
    bt_sect_t       events;
    bt_sect_t       links;
} bt_span_t;

typedef struct {
    uint64_t        time_ns;
    bt_str_t        name;
    bt_sect_t       attrs;
} bt_event_t;

typedef struct {
    const uint8_t  *trace_id;
    const uint8_t  *span_id;
    bt_sect_t       attrs;
} bt_link_t;

/* Iterator over the items of a section (or of an ARRAY / KVLIST payload). */
typedef struct {
    const uint8_t  *p;
    const uint8_t  *end;
} bt_iter_t;


static inline uint32_t
bt_rd32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static inline uint64_t
bt_rd64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static inline int
bt_id_is_zero(const uint8_t *id, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (id[i]) {
            return 0;
        }
    }
    return 1;
}

/*
 * Writes the n bytes at p as 2n lowercase hex digits at out, without a
 * NUL, and returns the end (where a caller wanting a string puts its NUL).
 * The one hex encoder for ids and bytes in the engine, the CLI and the
 * tests.  This function can't fail.
 */
static inline char *
bt_hex(char *out, const uint8_t *p, size_t n)
{
    static const char  digits[] = "0123456789abcdef";
    size_t             i;

    for (i = 0; i < n; i++) {
        *out++ = digits[p[i] >> 4];
        *out++ = digits[p[i] & 15];
    }
    return out;
}


/*
 * Parses the span record at p (at most avail bytes) into *out.  Validates
 * every length against avail and the nesting of sections, so a corrupt record
 * can't make a reader run off the end.  Returns the record length (> 0), or
 * -1 if the record is malformed (then *out is undefined).
 */
int bt_span_parse(const uint8_t *p, size_t avail, bt_span_t *out);

/*
 * Checks a whole batch payload: magic, count, and that every span parses and
 * the spans exactly fill len.  Returns the span count, or -1.
 */
int bt_batch_check(const uint8_t *p, size_t len);

/* Position of the first span of a checked batch. */
static inline const uint8_t *
bt_batch_first(const uint8_t *p)
{
    return p + 8;
}

static inline void
bt_iter_init(bt_iter_t *it, const uint8_t *p, uint32_t n)
{
    it->p = p;
    it->end = p + n;
}

/*
 * Iterators over checked data (after bt_span_parse succeeded, every item
 * inside is known to be well formed).  Each returns 1 and fills its output
 * while items remain, 0 at the end.
 */
int bt_attr_next(bt_iter_t *it, bt_str_t *key, bt_val_t *val);
int bt_val_next(bt_iter_t *it, bt_val_t *val);          /* ARRAY items */
int bt_event_next(bt_iter_t *it, bt_event_t *ev);
int bt_link_next(bt_iter_t *it, bt_link_t *link);

/*
 * Finds key in an attribute section; returns 1 and fills *val, or 0.  With
 * duplicate keys the first occurrence wins.
 */
int bt_attrs_get(const bt_sect_t *attrs, const char *key, size_t klen,
    bt_val_t *val);

/* Value payload accessors; the caller has checked val->type. */
static inline int
bt_val_bool(const bt_val_t *v)
{
    return v->p[0] != 0;
}

static inline int64_t
bt_val_int(const bt_val_t *v)
{
    return (int64_t) bt_rd64(v->p);
}

static inline double
bt_val_double(const bt_val_t *v)
{
    double d;
    memcpy(&d, v->p, 8);
    return d;
}

#endif /* BT_SPAN_H */
