/*
 * otlp_json.c - OTLP/JSON request bodies to protobuf bytes (see
 * otlp_json.h), by a streaming reader: one pass over the bytes, no DOM, no
 * allocation per value.  Each message is written straight into one output
 * buffer as it is read; its length prefix is reserved with a guessed width
 * and moved only when the real length needs another width, so the output
 * is minimal protobuf and the walker's fast paths apply to it.
 *
 * The rules are those of the jansson + protobuf-c converter this replaced
 * (kept as t/lib/otlp_json_ref.c, the differential reference):
 *
 *  - JSON as jansson reads it: an object or array at the top, nothing but
 *    whitespace after it, strict UTF-8 everywhere, no lone surrogates, no
 *    \u0000 in keys, integers within int64, reals that do not overflow,
 *    values nested at most JSON_MAX_DEPTH deep;
 *  - a name given twice: the later one wins; the camelCase name wins over
 *    the snake_case one; null means absent;
 *  - fields are converted in a fixed order per message, so the first
 *    mapping error reported is the one the old converter reported.
 *
 * Two modes.  The fast mode reads members in document order and writes as
 * it goes; it gives up (J_MAP) at the first duplicate name, mapping error
 * or syntax error, all rare.  The careful mode then starts over: it checks
 * the whole text first (so a syntax error anywhere wins, as with jansson),
 * then for each object finds which member of each name wins before
 * converting the winners in the fixed order, with a path for messages.
 * The careful mode only runs for bodies that fail or repeat a name; it
 * stays linear by jumping over containers its validation pass measured
 * (see memo_open).
 *
 * Mapping choices (OTLP/HTTP spec, "JSON Protobuf Encoding"):
 *  - names: lowerCamelCase, or the .proto snake_case names;
 *  - traceId, spanId, parentSpanId and link ids: hex, any case; "" is an
 *    empty id (the span is then rejected by the limits, not the request);
 *  - 64-bit integers: a JSON number or a decimal string;
 *  - enums: the number or the enum value's name;
 *  - bytesValue: base64, standard or URL-safe alphabet, padding optional;
 *  - doubleValue: a number, or "NaN", "Infinity", "-Infinity";
 *  - null means absent; unknown names are ignored (their values are still
 *    checked as JSON);
 *  - a string holding \u0000 is cut there (protobuf-c packed C strings);
 *  - zero scalars and empty strings outside AnyValue are left out, as
 *    protobuf-c's packer did.
 */

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shm/bt_span.h"
#include "otlp_json.h"

/* jansson's JSON_PARSER_MAX_DEPTH: the top value is at depth 1 */
#define JSON_MAX_DEPTH  2048

enum {
    J_OK = 0,
    J_MAP = -1,         /* mapping error (fast mode: start over carefully) */
    J_SYNTAX = -2,      /* not JSON */
    J_NOMEM = -3
};

typedef struct {
    const uint8_t  *p;
    const uint8_t  *end;
    const uint8_t  *start;
    int             careful;
    int             depth;      /* containers open around the cursor */

    const char     *why;        /* syntax error */
    const uint8_t  *at;

    uint8_t        *out;
    size_t          olen;
    size_t          ocap;

    uint8_t        *scratch;    /* strings with escapes, long numbers */
    int             nul;        /* a decoded string held \u0000 */
    size_t          scap;

    uint32_t       *memo;       /* start, end offset of each container */
    size_t          mn;
    size_t          mcap;
    int             memo_rec;   /* validate() records containers */
    int             memo_use;   /* the careful conversion jumps them */

    char           *err;
    size_t          errlen;
    char            path[1024];
    size_t          plen;
    uint32_t        midx[JSON_MAX_DEPTH];   /* open containers' entries */
} jr_t;

/* a member name: camelCase and optional snake_case, with lengths */
typedef struct {
    const char  *camel;
    const char  *snake;
    uint8_t      clen;
    uint8_t      slen;
} fname_t;

#define F(c)      { c, NULL, sizeof(c) - 1, 0 }
#define F2(c, s)  { c, s, sizeof(c) - 1, sizeof(s) - 1 }

#define NFIELDS(a)  ((int) (sizeof(a) / sizeof(a[0])))

typedef int (*field_fn)(jr_t *r, int id, void *arg);


/* ---- errors and paths -------------------------------------------------------- */

static int
syntax(jr_t *r, const char *why)
{
    r->why = why;
    r->at = r->p;
    return J_SYNTAX;
}


static void
push(jr_t *r, const char *fmt, ...)
{
    va_list  ap;
    int      n;

    va_start(ap, fmt);
    n = vsnprintf(r->path + r->plen, sizeof(r->path) - r->plen, fmt, ap);
    va_end(ap);

    if (n > 0) {
        r->plen += (size_t) n;
        if (r->plen >= sizeof(r->path)) {
            r->plen = sizeof(r->path) - 1;
        }
    }
}


static void
pop(jr_t *r, size_t old)
{
    if (old > r->plen) {
        old = r->plen;      /* the push was cut short by a full path */
    }
    r->plen = old;
    r->path[old] = '\0';
}


/* A mapping error at path + name; in the fast mode only a signal. */
static int
fail(jr_t *r, const char *name, const char *what)
{
    const char  *path;
    size_t       n;

    if (!r->careful) {
        return J_MAP;
    }

    path = r->path + (r->path[0] == '.');
    n = strlen(path);

    if (n > 160) {
        /* a path through deep nesting: keep both ends and the reason */
        snprintf(r->err, r->errlen, "%.80s...%s%s%s: %s", path,
                 path + n - 70, name ? "." : "", name ? name : "", what);
    } else if (n) {
        snprintf(r->err, r->errlen, "%s%s%s: %s", path, name ? "." : "",
                 name ? name : "", what);
    } else {
        snprintf(r->err, r->errlen, "%s: %s", name ? name : "body", what);
    }
    return J_MAP;
}


/* ---- output ---------------------------------------------------------------- */

static int
grow(jr_t *r, size_t n)
{
    size_t    cap = r->ocap * 2;
    uint8_t  *p;

    if (cap < r->olen + n + 64) {
        cap = r->olen + n + 64;
    }
    p = realloc(r->out, cap);
    if (p == NULL) {
        return J_NOMEM;
    }
    r->out = p;
    r->ocap = cap;
    return J_OK;
}

#define NEED(r, n)                                                            \
    ((r)->ocap - (r)->olen >= (size_t) (n) ? J_OK : grow(r, n))


static inline void
put_varint(jr_t *r, uint64_t v)
{
    uint8_t  *o = r->out + r->olen;

    while (v >= 0x80) {
        *o++ = (uint8_t) (v | 0x80);
        v >>= 7;
    }
    *o++ = (uint8_t) v;
    r->olen = (size_t) (o - r->out);
}


static inline size_t
varint_len(uint64_t v)
{
    size_t  n = 1;

    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}


/* Writes tag num (length-delimited) and reserves w bytes for the length;
 * returns where the content starts, 0 when out of memory. */
static inline size_t
open_msg(jr_t *r, uint32_t num, size_t w)
{
    if (NEED(r, 16) != J_OK) {
        return 0;
    }
    put_varint(r, num << 3 | 2);
    r->olen += w;
    return r->olen;
}


/* Writes the length of the message started at at (w reserved bytes),
 * moving its content when the length needs another width. */
static inline int
close_msg(jr_t *r, size_t at, size_t w)
{
    size_t  n = r->olen - at, k = varint_len(n);

    if (k != w) {
        if (k > w && NEED(r, k - w) != J_OK) {
            return J_NOMEM;
        }
        memmove(r->out + at - w + k, r->out + at, n);
        r->olen = r->olen - w + k;
    }

    at -= w;
    while (n >= 0x80) {
        r->out[at++] = (uint8_t) (n | 0x80);
        n >>= 7;
    }
    r->out[at] = (uint8_t) n;
    return J_OK;
}


static int
put_bytes(jr_t *r, uint32_t num, const uint8_t *p, size_t n)
{
    if (NEED(r, n + 16) != J_OK) {
        return J_NOMEM;
    }
    put_varint(r, num << 3 | 2);
    put_varint(r, n);
    memcpy(r->out + r->olen, p, n);
    r->olen += n;
    return J_OK;
}


static int
put_uint(jr_t *r, uint32_t num, uint64_t v)
{
    if (NEED(r, 16) != J_OK) {
        return J_NOMEM;
    }
    put_varint(r, num << 3);
    put_varint(r, v);
    return J_OK;
}


static int
put_fixed(jr_t *r, uint32_t num, uint64_t v, size_t size)
{
    size_t  i;

    if (NEED(r, 16) != J_OK) {
        return J_NOMEM;
    }
    put_varint(r, num << 3 | (size == 8 ? 1 : 5));
    for (i = 0; i < size; i++) {
        r->out[r->olen++] = (uint8_t) (v >> (8 * i));
    }
    return J_OK;
}


/* ---- lexing ------------------------------------------------------------------ */

static inline void
ws(jr_t *r)
{
    while (r->p < r->end
           && (*r->p == ' ' || *r->p == '\n' || *r->p == '\r'
               || *r->p == '\t'))
    {
        r->p++;
    }
}


/* string bytes that need a look: 1 '"', 2 '\\', 3 control, 4 non-ASCII */
static const uint8_t  str_class[256] = {
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
    4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
    4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
    4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
    4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
    4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
    4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
    4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4
};


static int
hexval(int ch)
{
    if (ch >= '0' && ch <= '9') {
        return ch - '0';
    }
    ch |= 0x20;
    if (ch >= 'a' && ch <= 'f') {
        return ch - 'a' + 10;
    }
    return -1;
}


/* Four hex digits at p (p + 4 <= end checked by the caller); -1 if not. */
static long
hex4(const uint8_t *p)
{
    int  a = hexval(p[0]), b = hexval(p[1]), c = hexval(p[2]),
         d = hexval(p[3]);

    if ((a | b | c | d) < 0) {
        return -1;
    }
    return a << 12 | b << 8 | c << 4 | d;
}


/* Length of the UTF-8 sequence at p (jansson's rules: no overlong forms,
 * no surrogates, nothing above U+10FFFF), 0 if invalid or cut short. */
static size_t
utf8_len(const uint8_t *p, const uint8_t *end)
{
    uint8_t  c = p[0], lo = 0x80, hi = 0xbf;
    size_t   n, i;

    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        lo = c == 0xe0 ? 0xa0 : 0x80;
        hi = c == 0xed ? 0x9f : 0xbf;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        lo = c == 0xf0 ? 0x90 : 0x80;
        hi = c == 0xf4 ? 0x8f : 0xbf;
    } else {
        return 0;
    }

    if ((size_t) (end - p) < n || p[1] < lo || p[1] > hi) {
        return 0;
    }
    for (i = 2; i < n; i++) {
        if (p[i] < 0x80 || p[i] > 0xbf) {
            return 0;
        }
    }
    return n;
}


#define ONES     0x0101010101010101ull

#define STR_ESC  1      /* holds escapes: decode before use */
#define STR_NUL  2      /* holds \u0000 */

/*
 * Checks the string at the cursor (at its '"') and moves past it.  *s and
 * *n are its raw bytes between the quotes, *flags says what decoding it
 * needs.  Returns J_OK or J_SYNTAX.
 */
static int
scan_string(jr_t *r, const uint8_t **s, size_t *n, int *flags)
{
    const uint8_t  *p = r->p + 1, *end = r->end;
    long            v, v2;
    size_t          k;
    int             f = 0;

    *s = p;

    for ( ;; ) {
        /* eight plain bytes at a time: none below 0x20, none '"' or '\\',
         * none non-ASCII */
        while (end - p >= 8) {
            uint64_t  x;

            memcpy(&x, p, 8);
            if ((((x - ONES * 0x20) | ((x ^ ONES * '"') - ONES)
                  | ((x ^ ONES * '\\') - ONES) | x) & ONES * 0x80) != 0)
            {
                break;
            }
            p += 8;
        }
        while (p < end && str_class[*p] == 0) {
            p++;
        }
        if (p >= end) {
            r->p = p;
            return syntax(r, "premature end of input");
        }

        switch (str_class[*p]) {

        case 1:
            *n = (size_t) (p - *s);
            *flags = f;
            r->p = p + 1;
            return J_OK;

        case 2:
            f |= STR_ESC;
            if (end - p < 2) {
                r->p = p;
                return syntax(r, "premature end of input");
            }
            if (p[1] != 'u') {
                if (strchr("\"\\/bfnrt", p[1]) == NULL || p[1] == '\0') {
                    r->p = p;
                    return syntax(r, "invalid escape");
                }
                p += 2;
                break;
            }
            if (end - p < 6 || (v = hex4(p + 2)) < 0) {
                r->p = p;
                return syntax(r, "invalid escape");
            }
            p += 6;
            if (v == 0) {
                f |= STR_NUL;
            } else if (v >= 0xdc00 && v <= 0xdfff) {
                r->p = p;
                return syntax(r, "invalid Unicode escape (lone low "
                              "surrogate)");
            } else if (v >= 0xd800 && v <= 0xdbff) {
                if (end - p < 6 || p[0] != '\\' || p[1] != 'u'
                    || (v2 = hex4(p + 2)) < 0 || v2 < 0xdc00 || v2 > 0xdfff)
                {
                    r->p = p;
                    return syntax(r, "invalid Unicode escape (lone high "
                                  "surrogate)");
                }
                p += 6;
            }
            break;

        case 3:
            r->p = p;
            return syntax(r, *p == '\n' ? "unexpected newline"
                                        : "control character in string");

        default:
            k = utf8_len(p, end);
            if (k == 0) {
                r->p = p;
                return syntax(r, "invalid UTF-8");
            }
            p += k;
            break;
        }
    }
}


/* Decodes n checked raw string bytes into out; returns the length. */
static size_t
decode_string(const uint8_t *s, size_t n, uint8_t *out)
{
    const uint8_t  *end = s + n;
    uint8_t        *o = out;
    uint32_t        v;

    while (s < end) {
        if (*s != '\\') {
            *o++ = *s++;
            continue;
        }
        switch (s[1]) {
        case 'b': *o++ = '\b'; s += 2; continue;
        case 'f': *o++ = '\f'; s += 2; continue;
        case 'n': *o++ = '\n'; s += 2; continue;
        case 'r': *o++ = '\r'; s += 2; continue;
        case 't': *o++ = '\t'; s += 2; continue;
        case 'u': break;
        default: *o++ = s[1]; s += 2; continue;
        }

        v = (uint32_t) hex4(s + 2);
        s += 6;
        if (v >= 0xd800 && v <= 0xdbff) {
            v = 0x10000 + ((v - 0xd800) << 10) + ((uint32_t) hex4(s + 2)
                                                  - 0xdc00);
            s += 6;
        }

        if (v < 0x80) {
            *o++ = (uint8_t) v;
        } else if (v < 0x800) {
            *o++ = (uint8_t) (0xc0 | v >> 6);
            *o++ = (uint8_t) (0x80 | (v & 0x3f));
        } else if (v < 0x10000) {
            *o++ = (uint8_t) (0xe0 | v >> 12);
            *o++ = (uint8_t) (0x80 | (v >> 6 & 0x3f));
            *o++ = (uint8_t) (0x80 | (v & 0x3f));
        } else {
            *o++ = (uint8_t) (0xf0 | v >> 18);
            *o++ = (uint8_t) (0x80 | (v >> 12 & 0x3f));
            *o++ = (uint8_t) (0x80 | (v >> 6 & 0x3f));
            *o++ = (uint8_t) (0x80 | (v & 0x3f));
        }
    }

    return (size_t) (o - out);
}


static int
need_scratch(jr_t *r, size_t n)
{
    uint8_t  *p;

    if (r->scap >= n) {
        return J_OK;
    }
    p = realloc(r->scratch, n + 64);
    if (p == NULL) {
        return J_NOMEM;
    }
    r->scratch = p;
    r->scap = n + 64;
    return J_OK;
}


/* The string value at the cursor, decoded (into the scratch buffer when it
 * holds escapes); moves past it.  J_OK, J_SYNTAX or J_NOMEM. */
static int
get_str(jr_t *r, const uint8_t **s, size_t *n)
{
    int  flags, rc;

    r->nul = 0;
    rc = scan_string(r, s, n, &flags);
    if (rc != J_OK || !(flags & STR_ESC)) {
        return rc;
    }
    r->nul = flags & STR_NUL;
    if (need_scratch(r, *n) != J_OK) {
        return J_NOMEM;
    }
    *n = decode_string(*s, *n, r->scratch);
    *s = r->scratch;
    return J_OK;
}


/* a number token */
typedef struct {
    const uint8_t  *s;
    size_t          n;
    int             is_int;
    int64_t         i;          /* is_int */
    double          d;          /* !is_int */
} num_t;


/* A NUL-terminated copy of n bytes (into buf when it fits, else the
 * scratch buffer); NULL when out of memory.  s may itself be a string
 * decoded into the scratch buffer: get_str left room for n + 64 bytes
 * there, so the scratch is not reallocated under it and the copy is onto
 * itself. */
static char *
cstr(jr_t *r, const uint8_t *s, size_t n, char *buf, size_t size)
{
    char  *c = buf;

    if (n >= size) {
        if (need_scratch(r, n + 1) != J_OK) {
            return NULL;
        }
        c = (char *) r->scratch;
    }
    memmove(c, s, n);
    c[n] = '\0';
    return c;
}


/*
 * jansson quirk kept for the same decisions: the byte after a number or a
 * word is read and pushed back, and a pushed-back NUL byte is lost (its
 * buffer takes NUL for "empty"), so one raw NUL right after such a token
 * is skipped.
 */
static inline const uint8_t *
skip_nul(const uint8_t *p, const uint8_t *end)
{
    return p < end && *p == '\0' ? p + 1 : p;
}


/*
 * A checked real token [s, e) with at most 15 digits and a small power of
 * ten: both are exact doubles, so one multiplication or division rounds
 * correctly, as strtod does.  Returns 1 with *d, or 0 when strtod must do.
 */
static int
real_fast(const uint8_t *s, const uint8_t *e, double *d)
{
    static const double  pow10[] = {
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12,
        1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22
    };
    uint64_t  m = 0;
    int       neg = 0, digits = 0, frac = 0, in_frac = 0, x = 0, xneg = 0,
              xdigits = 0, k;

    if (*s == '-') {
        neg = 1;
        s++;
    }
    for (; s < e && *s != 'e' && *s != 'E'; s++) {
        if (*s == '.') {
            in_frac = 1;
            continue;
        }
        m = m * 10 + (uint64_t) (*s - '0');
        frac += in_frac;
        if (++digits > 15) {
            return 0;
        }
    }
    if (s < e) {
        s++;
        if (*s == '+' || *s == '-') {
            xneg = *s == '-';
            s++;
        }
        for (; s < e; s++) {
            x = x * 10 + (*s - '0');
            if (++xdigits > 3) {
                return 0;
            }
        }
    }

    k = (xneg ? -x : x) - frac;
    if (k < -22 || k > 22) {
        return 0;
    }
    *d = k >= 0 ? (double) m * pow10[k] : (double) m / pow10[-k];
    if (neg) {
        *d = -*d;
    }
    return 1;
}


/*
 * Reads the number at the cursor as jansson's lexer does: integers must
 * fit int64 ("too big integer"), reals must not overflow.  want says
 * whether the caller needs the value of a real (strtod) or only the check.
 */
static int
scan_number(jr_t *r, num_t *t, int want)
{
    const uint8_t  *p = r->p, *end = r->end, *d0;
    uint64_t        u = 0, lim;
    int             neg = 0, exp = 0;
    char            buf[64], *c;

    t->s = p;
    if (p < end && *p == '-') {
        neg = 1;
        p++;
    }

    d0 = p;
    if (p < end && *p == '0') {
        p++;
        if (p < end && *p >= '0' && *p <= '9') {
            r->p = p;
            return syntax(r, "invalid number (leading zero)");
        }
    } else if (p < end && *p >= '1' && *p <= '9') {
        while (p < end && *p >= '0' && *p <= '9') {
            p++;
        }
    } else {
        r->p = p;
        return syntax(r, "invalid token");
    }

    if (p >= end || (*p != '.' && *p != 'e' && *p != 'E')) {
        /* an integer: strtoll's range */
        lim = neg ? (uint64_t) INT64_MAX + 1 : (uint64_t) INT64_MAX;
        if (p - d0 > 19) {         /* 19 digits always fit a uint64 */
            r->p = p;
            return syntax(r, "too big integer");
        }
        for (; d0 < p; d0++) {
            u = u * 10 + (uint64_t) (*d0 - '0');
        }
        if (u > lim) {
            r->p = p;
            return syntax(r, "too big integer");
        }
        t->is_int = 1;
        t->i = neg ? (int64_t) (0 - u) : (int64_t) u;
        t->n = (size_t) (p - t->s);
        r->p = skip_nul(p, end);
        return J_OK;
    }

    if (*p == '.') {
        p++;
        if (p >= end || *p < '0' || *p > '9') {
            r->p = p;
            return syntax(r, "invalid number");
        }
        while (p < end && *p >= '0' && *p <= '9') {
            p++;
        }
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        exp = 1;
        p++;
        if (p < end && (*p == '+' || *p == '-')) {
            p++;
        }
        if (p >= end || *p < '0' || *p > '9') {
            r->p = p;
            return syntax(r, "invalid number");
        }
        while (p < end && *p >= '0' && *p <= '9') {
            p++;
        }
    }

    t->is_int = 0;
    t->n = (size_t) (p - t->s);
    r->p = skip_nul(p, end);

    if (real_fast(t->s, p, &t->d)) {
        return J_OK;
    }

    /* without an exponent only a 309-digit number can overflow */
    if (want || exp || t->n > 300) {
        c = cstr(r, t->s, t->n, buf, sizeof(buf));
        if (c == NULL) {
            return J_NOMEM;
        }
        errno = 0;
        t->d = strtod(c, NULL);
        if ((t->d == HUGE_VAL || t->d == -HUGE_VAL) && errno == ERANGE) {
            return syntax(r, "real number overflow");
        }
    }
    return J_OK;
}


/* The literal word at the cursor; J_OK and moves past it if it is one. */
static int
scan_word(jr_t *r, const char *w, size_t n)
{
    if ((size_t) (r->end - r->p) < n || memcmp(r->p, w, n) != 0) {
        return syntax(r, "invalid token");
    }
    r->p = skip_nul(r->p + n, r->end);
    return J_OK;
}


/*
 * The careful mode's memo of containers, so that it stays linear: it finds
 * the winning members of an object by skipping every member value, then
 * reads the winners, whose own members it skips again, and so on down; in
 * nested bodies that would read the deepest bytes once per level.
 * validate() records where every container starts and ends (starts come in
 * increasing order), and the careful conversion's skips jump over a
 * container found there.  Offsets are 32 bits: larger bodies go unmemoed.
 */
static void
memo_open(jr_t *r, const uint8_t *p, int d)
{
    size_t     cap;
    uint32_t  *m;

    if (r->mn == r->mcap) {
        cap = r->mcap ? r->mcap * 2 : 1024;
        m = realloc(r->memo, cap * 2 * sizeof(uint32_t));
        if (m == NULL) {
            r->memo_rec = 0;        /* correct without it, only slower */
            r->mn = 0;
            return;
        }
        r->memo = m;
        r->mcap = cap;
    }
    r->memo[2 * r->mn] = (uint32_t) (p - r->start);
    r->memo[2 * r->mn + 1] = 0;
    r->midx[r->depth + d] = (uint32_t) r->mn++;
}


static void
memo_close(jr_t *r, int d)
{
    r->memo[2 * r->midx[r->depth + d] + 1] = (uint32_t) (r->p - r->start);
}


/* Where the container starting at p ends (an offset), 0 if unknown. */
static uint32_t
memo_find(jr_t *r, const uint8_t *p)
{
    uint32_t  off = (uint32_t) (p - r->start);
    size_t    lo = 0, hi = r->mn, mid;

    while (lo < hi) {
        mid = lo + (hi - lo) / 2;
        if (r->memo[2 * mid] < off) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo < r->mn && r->memo[2 * lo] == off ? r->memo[2 * lo + 1] : 0;
}


/*
 * Skips the value at the cursor (inside r->depth open containers),
 * checking it as jansson would, without recursion: one bit per open
 * container says object or array.
 */
static int
skip_value(jr_t *r)
{
    uint8_t         stack[JSON_MAX_DEPTH / 8 + 1];
    int             d = 0, rc, flags, obj;
    const uint8_t  *s;
    size_t          n;
    uint32_t        e;
    num_t           t;

value:

    if (r->depth + d + 1 > JSON_MAX_DEPTH) {
        return syntax(r, "maximum parsing depth reached");
    }
    if (r->p >= r->end) {
        return syntax(r, "premature end of input");
    }

    switch (*r->p) {
    case '{':
    case '[':
        if (r->memo_use && (e = memo_find(r, r->p)) != 0) {
            /* checked and measured by validate(): jump over it */
            r->p = r->start + e;
            rc = J_OK;
            break;
        }
        if (r->memo_rec) {
            memo_open(r, r->p, d);
        }
        obj = *r->p == '{';
        if (obj) {
            stack[d / 8] |= (uint8_t) (1 << (d % 8));
        } else {
            stack[d / 8] &= (uint8_t) ~(1 << (d % 8));
        }
        r->p++;
        d++;
        ws(r);
        if (r->p < r->end && *r->p == (obj ? '}' : ']')) {
            r->p++;
            d--;
            if (r->memo_rec) {
                memo_close(r, d);
            }
            goto after;
        }
        if (obj) {
            goto key;
        }
        goto value;

    case '"':
        rc = scan_string(r, &s, &n, &flags);
        break;
    case 't':
        rc = scan_word(r, "true", 4);
        break;
    case 'f':
        rc = scan_word(r, "false", 5);
        break;
    case 'n':
        rc = scan_word(r, "null", 4);
        break;
    default:
        rc = scan_number(r, &t, 0);
        break;
    }
    if (rc != J_OK) {
        return rc;
    }

after:

    if (d == 0) {
        return J_OK;
    }
    ws(r);
    if (r->p >= r->end) {
        return syntax(r, "premature end of input");
    }
    if (*r->p == ',') {
        r->p++;
        ws(r);
        if (stack[(d - 1) / 8] & (1 << ((d - 1) % 8))) {
            goto key;
        }
        goto value;
    }
    if (*r->p == ((stack[(d - 1) / 8] & (1 << ((d - 1) % 8))) ? '}' : ']')) {
        r->p++;
        d--;
        if (r->memo_rec) {
            memo_close(r, d);
        }
        goto after;
    }
    return syntax(r, "',' or end of container expected");

key:

    if (r->p >= r->end || *r->p != '"') {
        return syntax(r, "string or '}' expected");
    }
    rc = scan_string(r, &s, &n, &flags);
    if (rc != J_OK) {
        return rc;
    }
    if (flags & STR_NUL) {
        return syntax(r, "NUL byte in object key not supported");
    }
    ws(r);
    if (r->p >= r->end || *r->p != ':') {
        return syntax(r, "':' expected");
    }
    r->p++;
    ws(r);
    goto value;
}


/* ---- objects and lists ------------------------------------------------------- */

/* Short names: a loop beats a call to memcmp. */
static inline int
same_bytes(const char *a, const uint8_t *b, size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        if ((uint8_t) a[i] != b[i]) {
            return 0;
        }
    }
    return 1;
}


/* Which field a member name is: its id, or -1; *camel says which spelling.
 * Names with escapes are decoded first (into a small buffer: a longer
 * name is none of ours). */
static int
lookup(const fname_t *f, int nf, const uint8_t *s, size_t n, int flags,
    int *camel)
{
    uint8_t  buf[40];
    int      i;

    if (flags & STR_ESC) {
        if (n > sizeof(buf) * 6) {
            return -1;
        }
        if (n > sizeof(buf)) {
            /* decoding only shrinks; decode what could still match */
            uint8_t  big[sizeof(buf) * 6];

            n = decode_string(s, n, big);
            if (n > sizeof(buf)) {
                return -1;
            }
            memcpy(buf, big, n);
        } else {
            n = decode_string(s, n, buf);
        }
        s = buf;
    }

    for (i = 0; i < nf; i++) {
        if (f[i].clen == n && same_bytes(f[i].camel, s, n)) {
            *camel = 1;
            return i;
        }
        if (f[i].slen == n && f[i].snake != NULL
            && same_bytes(f[i].snake, s, n))
        {
            *camel = 0;
            return i;
        }
    }
    return -1;
}


/*
 * Reads the object at the cursor (at its '{'), calling fn for each field
 * of f whose value is not null: in the fast mode in document order,
 * giving up on a repeated name; in the careful mode, after finding the
 * winning member of each name, in the order of f.  fn reads the value at
 * the cursor.
 */
static int
read_object(jr_t *r, const fname_t *f, int nf, field_fn fn, void *arg)
{
    const uint8_t  *s, *win[20], *after;
    uint8_t         camel_won[20];
    uint32_t        seen = 0;
    size_t          n;
    int             rc, flags, id, camel = 0, i;

    r->p++;
    r->depth++;
    if (r->careful) {
        memset(win, 0, sizeof(win));
    }

    ws(r);
    if (r->p < r->end && *r->p == '}') {
        r->p++;
        r->depth--;
        return J_OK;
    }

    for ( ;; ) {
        if (r->p >= r->end || *r->p != '"') {
            return syntax(r, "string or '}' expected");
        }
        rc = scan_string(r, &s, &n, &flags);
        if (rc != J_OK) {
            return rc;
        }
        if (flags & STR_NUL) {
            return syntax(r, "NUL byte in object key not supported");
        }
        id = lookup(f, nf, s, n, flags, &camel);

        ws(r);
        if (r->p >= r->end || *r->p != ':') {
            return syntax(r, "':' expected");
        }
        r->p++;
        ws(r);

        if (id < 0) {
            rc = skip_value(r);

        } else if (r->careful) {
            /* the last camelCase member wins, else the last snake_case */
            if (camel || win[id] == NULL || !camel_won[id]) {
                win[id] = r->p;
                camel_won[id] = (uint8_t) camel;
            }
            rc = skip_value(r);

        } else if (seen & (1u << id)) {
            return J_MAP;

        } else {
            seen |= 1u << id;
            if (r->p >= r->end) {
                return syntax(r, "premature end of input");
            }
            if (*r->p == 'n') {
                rc = scan_word(r, "null", 4);
            } else {
                rc = fn(r, id, arg);
            }
        }
        if (rc != J_OK) {
            return rc;
        }

        ws(r);
        if (r->p < r->end && *r->p == ',') {
            r->p++;
            ws(r);
            continue;
        }
        if (r->p < r->end && *r->p == '}') {
            r->p++;
            break;
        }
        return syntax(r, "'}' expected");
    }

    if (r->careful) {
        after = r->p;
        for (i = 0; i < nf; i++) {
            if (win[i] == NULL || *win[i] == 'n') {
                continue;
            }
            r->p = win[i];
            rc = fn(r, i, arg);
            if (rc != J_OK) {
                return rc;
            }
        }
        r->p = after;
    }

    r->depth--;
    return J_OK;
}


typedef int (*elem_fn)(jr_t *r, void *arg);

/* Reads the array at the cursor for field name, elem for each element. */
static int
read_list(jr_t *r, const char *name, elem_fn elem, void *arg)
{
    size_t  i, old = r->plen;
    int     rc;

    if (*r->p != '[') {
        return fail(r, name, "not an array");
    }
    r->p++;
    r->depth++;

    ws(r);
    if (r->p < r->end && *r->p == ']') {
        r->p++;
        r->depth--;
        return J_OK;
    }

    for (i = 0; ; i++) {
        if (r->p >= r->end) {
            return syntax(r, "premature end of input");
        }
        if (r->careful) {
            push(r, ".%s[%zu]", name, i);
        }
        rc = elem(r, arg);
        if (rc != J_OK) {
            return rc;
        }
        if (r->careful) {
            pop(r, old);
        }

        ws(r);
        if (r->p < r->end && *r->p == ',') {
            r->p++;
            ws(r);
            continue;
        }
        if (r->p < r->end && *r->p == ']') {
            r->p++;
            break;
        }
        return syntax(r, "']' expected");
    }

    r->depth--;
    return J_OK;
}


/* Reads a sub-message object at the cursor as field num of the output. */
static int
read_msg(jr_t *r, const char *name, uint32_t num, size_t w, const fname_t *f,
    int nf, field_fn fn, void *arg)
{
    size_t  at, old = r->plen;
    int     rc;

    if (*r->p != '{') {
        return fail(r, name, "not an object");
    }
    at = open_msg(r, num, w);
    if (at == 0) {
        return J_NOMEM;
    }
    if (r->careful && name != NULL) {
        push(r, ".%s", name);
    }
    rc = read_object(r, f, nf, fn, arg);
    if (rc != J_OK) {
        return rc;
    }
    if (r->careful) {
        pop(r, old);
    }
    return close_msg(r, at, w);
}


/* ---- scalars ----------------------------------------------------------------- */

/* A string field; strings are cut at a \u0000 and empty ones left out,
 * except in AnyValue (always). */
static int
get_string(jr_t *r, const char *name, uint32_t num, int always)
{
    const uint8_t  *s, *z;
    size_t          n;
    int             rc;

    if (*r->p != '"') {
        return fail(r, name, "not a string");
    }
    rc = get_str(r, &s, &n);
    if (rc != J_OK) {
        return rc;
    }
    z = r->nul ? memchr(s, '\0', n) : NULL;
    if (z != NULL) {
        n = (size_t) (z - s);
    }
    if (n == 0 && !always) {
        return J_OK;
    }
    return put_bytes(r, num, s, n);
}


static int
get_hex(jr_t *r, const char *name, uint32_t num)
{
    const uint8_t  *s;
    uint8_t        *o;
    size_t          n, i;
    int             rc, hi, lo;

    if (*r->p != '"') {
        return fail(r, name, "not a hex string");
    }
    rc = get_str(r, &s, &n);
    if (rc != J_OK) {
        return rc;
    }
    if (n % 2) {
        return fail(r, name, "not hex (odd length)");
    }
    if (n == 0) {
        return J_OK;
    }

    if (NEED(r, n / 2 + 16) != J_OK) {
        return J_NOMEM;
    }
    put_varint(r, num << 3 | 2);
    put_varint(r, n / 2);
    o = r->out + r->olen;
    for (i = 0; i < n / 2; i++) {
        hi = hexval(s[2 * i]);
        lo = hexval(s[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            return fail(r, name, "not hex");
        }
        o[i] = (uint8_t) (hi << 4 | lo);
    }
    r->olen += n / 2;
    return J_OK;
}


static int
b64val(int ch)
{
    if (ch >= 'A' && ch <= 'Z') {
        return ch - 'A';
    }
    if (ch >= 'a' && ch <= 'z') {
        return ch - 'a' + 26;
    }
    if (ch >= '0' && ch <= '9') {
        return ch - '0' + 52;
    }
    if (ch == '+' || ch == '-') {
        return 62;
    }
    if (ch == '/' || ch == '_') {
        return 63;
    }
    return -1;
}


/* AnyValue.bytes_value (always written, even empty). */
static int
get_base64(jr_t *r, const char *name, uint32_t num)
{
    const uint8_t  *s;
    uint8_t        *o;
    size_t          n, i, k = 0;
    uint32_t        acc = 0;
    int             bits = 0, d, rc;

    if (*r->p != '"') {
        return fail(r, name, "not a base64 string");
    }
    rc = get_str(r, &s, &n);
    if (rc != J_OK) {
        return rc;
    }
    while (n > 0 && s[n - 1] == '=') {
        n--;
    }
    if (n % 4 == 1) {
        return fail(r, name, "not base64 (bad length)");
    }

    if (NEED(r, n * 3 / 4 + 16) != J_OK) {
        return J_NOMEM;
    }
    put_varint(r, num << 3 | 2);
    put_varint(r, n * 3 / 4);       /* exact: n % 4 is 0, 2 or 3 */
    o = r->out + r->olen;
    for (i = 0; i < n; i++) {
        d = b64val(s[i]);
        if (d < 0) {
            return fail(r, name, "not base64");
        }
        acc = (acc << 6) | (uint32_t) d;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            o[k++] = (uint8_t) (acc >> bits);
        }
    }
    r->olen += k;
    return J_OK;
}


/* A decimal string as the old converter read it: strtoll/strtoull on the
 * C string (cut at a \u0000), leading '+', ' ' and (unsigned) '-' refused. */
static int
str_int64(jr_t *r, const uint8_t *s, size_t n, int is_signed, uint64_t *out)
{
    const uint8_t  *z;
    char            buf[64], *c, *end;
    uint64_t        u = 0;
    size_t          i, neg;

    z = r->nul ? memchr(s, '\0', n) : NULL;
    if (z != NULL) {
        n = (size_t) (z - s);
    }

    /* the common case: plain digits that can't overflow (19 digits fit a
     * uint64, and strtoull read unsigned ones) */
    neg = is_signed && n > 1 && s[0] == '-';
    if (n > neg && n - neg <= 19 - neg) {
        for (i = neg; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
            u = u * 10 + (uint64_t) (s[i] - '0');
        }
        if (i == n) {
            *out = neg ? 0 - u : u;
            return 0;
        }
    }

    if (n == 0 || (s[0] == '-' && !is_signed) || s[0] == '+' || s[0] == ' ')
    {
        return -1;
    }
    c = cstr(r, s, n, buf, sizeof(buf));
    if (c == NULL) {
        return -1;
    }
    errno = 0;
    if (*c == '-') {
        *out = (uint64_t) strtoll(c, &end, 10);
    } else {
        *out = strtoull(c, &end, 10);
    }
    if (errno != 0 || *end != '\0' || end == c) {
        return -1;
    }
    return 0;
}


/* A 64-bit integer from a number or a decimal string.  is_signed allows a
 * minus sign. */
static int
get_int64(jr_t *r, const char *name, int is_signed, uint64_t *out)
{
    const uint8_t  *s;
    size_t          n;
    num_t           t;
    int             rc;
    double          d;

    if (*r->p == '"') {
        rc = get_str(r, &s, &n);
        if (rc != J_OK) {
            return rc;
        }
        if (str_int64(r, s, n, is_signed, out) != 0) {
            return fail(r, name, "not an integer");
        }
        return J_OK;
    }

    if (*r->p != '-' && (*r->p < '0' || *r->p > '9')) {
        return fail(r, name, "not an integer or a string of one");
    }
    rc = scan_number(r, &t, 1);
    if (rc != J_OK) {
        return rc;
    }

    if (t.is_int) {
        if (!is_signed && t.i < 0) {
            return fail(r, name, "negative");
        }
        *out = (uint64_t) t.i;
        return J_OK;
    }

    /* 1e18, or 1.0 */
    d = t.d;
    if (d != floor(d) || (!is_signed && d < 0)
        || d >= 18446744073709551616.0 || d < -9223372036854775808.0)
    {
        return fail(r, name, "not an integer");
    }
    *out = d < 0 ? (uint64_t) (int64_t) d : (uint64_t) d;
    return J_OK;
}


/* A uint32 field (varint, or fixed32 when fixed), left out when 0. */
static int
get_uint32(jr_t *r, const char *name, uint32_t num, int fixed)
{
    uint64_t  u;
    int       rc;

    rc = get_int64(r, name, 0, &u);
    if (rc != J_OK) {
        return rc;
    }
    if (u > UINT32_MAX) {
        return fail(r, name, "out of range");
    }
    if (u == 0) {
        return J_OK;
    }
    return fixed ? put_fixed(r, num, u, 4) : put_uint(r, num, u);
}


/* A fixed64 time field, left out when 0. */
static int
get_time(jr_t *r, const char *name, uint32_t num)
{
    uint64_t  u;
    int       rc;

    rc = get_int64(r, name, 0, &u);
    if (rc != J_OK || u == 0) {
        return rc;
    }
    return put_fixed(r, num, u, 8);
}


static const char *const  kind_names[] = {
    "SPAN_KIND_UNSPECIFIED", "SPAN_KIND_INTERNAL", "SPAN_KIND_SERVER",
    "SPAN_KIND_CLIENT", "SPAN_KIND_PRODUCER", "SPAN_KIND_CONSUMER"
};

static const char *const  code_names[] = {
    "STATUS_CODE_UNSET", "STATUS_CODE_OK", "STATUS_CODE_ERROR"
};


/* An enum field: its number or its value's name; left out when 0. */
static int
get_enum(jr_t *r, const char *name, uint32_t num, const char *const *names,
    int nnames)
{
    const uint8_t  *s, *z;
    size_t          n;
    uint64_t        u;
    int             rc, i;
    int64_t         e;

    if (*r->p == '"') {
        rc = get_str(r, &s, &n);
        if (rc != J_OK) {
            return rc;
        }
        z = r->nul ? memchr(s, '\0', n) : NULL;
        if (z != NULL) {
            n = (size_t) (z - s);
        }
        for (i = 0; i < nnames; i++) {
            if (strlen(names[i]) == n && memcmp(names[i], s, n) == 0) {
                return i ? put_uint(r, num, (uint64_t) i) : J_OK;
            }
        }
        if (str_int64(r, s, n, 1, &u) != 0) {
            return fail(r, name, "not an enum number or name");
        }

    } else {
        rc = get_int64(r, name, 1, &u);
        if (rc == J_MAP) {
            return fail(r, name, "not an enum number or name");
        }
        if (rc != J_OK) {
            return rc;
        }
    }

    e = (int64_t) u;
    if (e < INT32_MIN || e > INT32_MAX) {
        return fail(r, name, "out of range");
    }
    /* protobuf-c packed an enum as int32: negative ones take 10 bytes */
    return e ? put_uint(r, num, (uint64_t) e) : J_OK;
}


/* AnyValue.double_value (always written). */
static int
get_double(jr_t *r, const char *name, uint32_t num)
{
    const uint8_t  *s, *z;
    size_t          n;
    num_t           t;
    double          d;
    char            buf[64], *c, *end;
    int             rc;
    uint64_t        bits;

    if (*r->p == '"') {
        rc = get_str(r, &s, &n);
        if (rc != J_OK) {
            return rc;
        }
        z = r->nul ? memchr(s, '\0', n) : NULL;
        if (z != NULL) {
            n = (size_t) (z - s);
        }
        if (n == 3 && memcmp(s, "NaN", 3) == 0) {
            d = NAN;
        } else if (n == 8 && memcmp(s, "Infinity", 8) == 0) {
            d = INFINITY;
        } else if (n == 9 && memcmp(s, "-Infinity", 9) == 0) {
            d = -INFINITY;
        } else {
            c = cstr(r, s, n, buf, sizeof(buf));
            if (c == NULL) {
                return J_NOMEM;
            }
            errno = 0;
            d = strtod(c, &end);
            if (*c == '\0' || *end != '\0' || errno != 0) {
                return fail(r, name, "not a number");
            }
        }

    } else if (*r->p == '-' || (*r->p >= '0' && *r->p <= '9')) {
        rc = scan_number(r, &t, 1);
        if (rc != J_OK) {
            return rc;
        }
        /* jansson held integers as int64: -0 is 0 */
        d = t.is_int ? (double) t.i : t.d;

    } else {
        return fail(r, name, "not a number");
    }

    memcpy(&bits, &d, sizeof(bits));
    return put_fixed(r, num, bits, 8);
}


/* ---- messages ------------------------------------------------------------------ */

static const fname_t  req_f[] = {
    F2("resourceSpans", "resource_spans")
};
static const fname_t  rs_f[] = {
    F("resource"), F2("schemaUrl", "schema_url"),
    F2("scopeSpans", "scope_spans")
};
static const fname_t  res_f[] = {
    F("attributes"),
    F2("droppedAttributesCount", "dropped_attributes_count")
};
static const fname_t  ss_f[] = {
    F("scope"), F2("schemaUrl", "schema_url"), F("spans")
};
static const fname_t  scope_f[] = {
    F("name"), F("version"), F("attributes"),
    F2("droppedAttributesCount", "dropped_attributes_count")
};
static const fname_t  span_f[] = {
    F2("traceId", "trace_id"), F2("spanId", "span_id"),
    F2("parentSpanId", "parent_span_id"), F2("traceState", "trace_state"),
    F("name"), F("flags"), F("kind"),
    F2("startTimeUnixNano", "start_time_unix_nano"),
    F2("endTimeUnixNano", "end_time_unix_nano"), F("attributes"),
    F2("droppedAttributesCount", "dropped_attributes_count"),
    F2("droppedEventsCount", "dropped_events_count"),
    F2("droppedLinksCount", "dropped_links_count"), F("events"), F("links"),
    F("status")
};
static const fname_t  status_f[] = {
    F("message"), F("code")
};
static const fname_t  event_f[] = {
    F2("timeUnixNano", "time_unix_nano"), F("name"), F("attributes"),
    F2("droppedAttributesCount", "dropped_attributes_count")
};
static const fname_t  link_f[] = {
    F2("traceId", "trace_id"), F2("spanId", "span_id"),
    F2("traceState", "trace_state"), F("attributes"),
    F2("droppedAttributesCount", "dropped_attributes_count"), F("flags")
};
static const fname_t  kv_f[] = {
    F("key"), F("value")
};
static const fname_t  av_f[] = {
    F2("stringValue", "string_value"), F2("boolValue", "bool_value"),
    F2("intValue", "int_value"), F2("doubleValue", "double_value"),
    F2("arrayValue", "array_value"), F2("kvlistValue", "kvlist_value"),
    F2("bytesValue", "bytes_value")
};
static const fname_t  values_f[] = {
    F("values")
};

/* a list of KeyValue as field num, their values at nesting level */
typedef struct {
    uint32_t  num;
    int       level;
} kvs_t;

/* an AnyValue being read */
typedef struct {
    int  level;
    int  members;
} av_t;

static int read_kvs(jr_t *r, const char *name, uint32_t num, int level);
static int f_av(jr_t *r, int id, void *arg);


/* AnyValue at the cursor, nesting level level; its field already open. */
static int
read_av(jr_t *r, int level)
{
    av_t  av;

    if (level > BT_SPAN_MAX_DEPTH) {
        return fail(r, NULL, "AnyValue nested too deep");
    }
    if (*r->p != '{') {
        return fail(r, NULL, "not an object");
    }
    av.level = level;
    av.members = 0;
    return read_object(r, av_f, NFIELDS(av_f), f_av, &av);
}


static int
el_av(jr_t *r, void *arg)
{
    size_t  at;
    int     rc;

    at = open_msg(r, 1, 1);
    if (at == 0) {
        return J_NOMEM;
    }
    rc = read_av(r, *(int *) arg);
    return rc != J_OK ? rc : close_msg(r, at, 1);
}


/* ArrayValue.values */
static int
f_array(jr_t *r, int id, void *arg)
{
    return read_list(r, "values", el_av, arg);
}


/* KeyValueList.values */
static int
f_kvlist(jr_t *r, int id, void *arg)
{
    return read_kvs(r, "values", 1, *(int *) arg);
}


static int
f_av(jr_t *r, int id, void *arg)
{
    av_t  *av = arg;
    int    next = av->level + 1;

    if (av->members++ > 0) {
        return fail(r, av_f[id].camel, "an AnyValue holds only one value");
    }

    switch (id) {
    case 0:
        return get_string(r, "stringValue", 1, 1);
    case 1:
        if (*r->p == 't') {
            return scan_word(r, "true", 4) ?: put_uint(r, 2, 1);
        }
        if (*r->p == 'f') {
            return scan_word(r, "false", 5) ?: put_uint(r, 2, 0);
        }
        return fail(r, "boolValue", "not a boolean");
    case 2:
        {
            uint64_t  u;
            int       rc = get_int64(r, "intValue", 1, &u);

            return rc != J_OK ? rc : put_uint(r, 3, u);
        }
    case 3:
        return get_double(r, "doubleValue", 4);
    case 4:
        return read_msg(r, "arrayValue", 5, 2, values_f, NFIELDS(values_f),
                        f_array, &next);
    case 5:
        return read_msg(r, "kvlistValue", 6, 2, values_f, NFIELDS(values_f),
                        f_kvlist, &next);
    default:
        return get_base64(r, "bytesValue", 7);
    }
}


static int
f_kv(jr_t *r, int id, void *arg)
{
    size_t  at, old = r->plen;
    int     rc;

    if (id == 0) {
        return get_string(r, "key", 1, 0);
    }

    at = open_msg(r, 2, 1);
    if (at == 0) {
        return J_NOMEM;
    }
    if (r->careful) {
        push(r, ".value");
    }
    rc = read_av(r, *(int *) arg);
    if (rc != J_OK) {
        return rc;
    }
    if (r->careful) {
        pop(r, old);
    }
    return close_msg(r, at, 1);
}


static int
el_kv(jr_t *r, void *arg)
{
    kvs_t  *k = arg;

    if (*r->p != '{') {
        return fail(r, NULL, "not an object");
    }
    return read_msg(r, NULL, k->num, 1, kv_f, NFIELDS(kv_f), f_kv, &k->level);
}


static int
read_kvs(jr_t *r, const char *name, uint32_t num, int level)
{
    kvs_t  k;

    k.num = num;
    k.level = level;
    return read_list(r, name, el_kv, &k);
}


static int
f_status(jr_t *r, int id, void *arg)
{
    return id == 0 ? get_string(r, "message", 2, 0)
                   : get_enum(r, "code", 3, code_names, 3);
}


static int
f_event(jr_t *r, int id, void *arg)
{
    switch (id) {
    case 0:
        return get_time(r, "timeUnixNano", 1);
    case 1:
        return get_string(r, "name", 2, 0);
    case 2:
        return read_kvs(r, "attributes", 3, 1);
    default:
        return get_uint32(r, "droppedAttributesCount", 4, 0);
    }
}


static int
f_link(jr_t *r, int id, void *arg)
{
    switch (id) {
    case 0:
        return get_hex(r, "traceId", 1);
    case 1:
        return get_hex(r, "spanId", 2);
    case 2:
        return get_string(r, "traceState", 3, 0);
    case 3:
        return read_kvs(r, "attributes", 4, 1);
    case 4:
        return get_uint32(r, "droppedAttributesCount", 5, 0);
    default:
        return get_uint32(r, "flags", 6, 1);
    }
}


static int
el_event(jr_t *r, void *arg)
{
    if (*r->p != '{') {
        return fail(r, NULL, "not an object");
    }
    return read_msg(r, NULL, 11, 2, event_f, NFIELDS(event_f), f_event, NULL);
}


static int
el_link(jr_t *r, void *arg)
{
    if (*r->p != '{') {
        return fail(r, NULL, "not an object");
    }
    return read_msg(r, NULL, 13, 2, link_f, NFIELDS(link_f), f_link, NULL);
}


static int
f_span(jr_t *r, int id, void *arg)
{
    switch (id) {
    case 0:
        return get_hex(r, "traceId", 1);
    case 1:
        return get_hex(r, "spanId", 2);
    case 2:
        return get_hex(r, "parentSpanId", 4);
    case 3:
        return get_string(r, "traceState", 3, 0);
    case 4:
        return get_string(r, "name", 5, 0);
    case 5:
        return get_uint32(r, "flags", 16, 1);
    case 6:
        return get_enum(r, "kind", 6, kind_names, 6);
    case 7:
        return get_time(r, "startTimeUnixNano", 7);
    case 8:
        return get_time(r, "endTimeUnixNano", 8);
    case 9:
        return read_kvs(r, "attributes", 9, 1);
    case 10:
        return get_uint32(r, "droppedAttributesCount", 10, 0);
    case 11:
        return get_uint32(r, "droppedEventsCount", 12, 0);
    case 12:
        return get_uint32(r, "droppedLinksCount", 14, 0);
    case 13:
        return read_list(r, "events", el_event, NULL);
    case 14:
        return read_list(r, "links", el_link, NULL);
    default:
        return read_msg(r, "status", 15, 1, status_f, NFIELDS(status_f),
                        f_status, NULL);
    }
}


static int
el_span(jr_t *r, void *arg)
{
    if (*r->p != '{') {
        return fail(r, NULL, "not an object");
    }
    return read_msg(r, NULL, 2, 2, span_f, NFIELDS(span_f), f_span, NULL);
}


static int
f_scope(jr_t *r, int id, void *arg)
{
    switch (id) {
    case 0:
        return get_string(r, "name", 1, 0);
    case 1:
        return get_string(r, "version", 2, 0);
    case 2:
        return read_kvs(r, "attributes", 3, 1);
    default:
        return get_uint32(r, "droppedAttributesCount", 4, 0);
    }
}


static int
f_ss(jr_t *r, int id, void *arg)
{
    switch (id) {
    case 0:
        return read_msg(r, "scope", 1, 2, scope_f, NFIELDS(scope_f), f_scope,
                        NULL);
    case 1:
        return get_string(r, "schemaUrl", 3, 0);
    default:
        return read_list(r, "spans", el_span, NULL);
    }
}


static int
el_ss(jr_t *r, void *arg)
{
    if (*r->p != '{') {
        return fail(r, NULL, "not an object");
    }
    return read_msg(r, NULL, 2, 3, ss_f, NFIELDS(ss_f), f_ss, NULL);
}


static int
f_res(jr_t *r, int id, void *arg)
{
    return id == 0 ? read_kvs(r, "attributes", 1, 1)
                   : get_uint32(r, "droppedAttributesCount", 2, 0);
}


static int
f_rs(jr_t *r, int id, void *arg)
{
    switch (id) {
    case 0:
        return read_msg(r, "resource", 1, 2, res_f, NFIELDS(res_f), f_res,
                        NULL);
    case 1:
        return get_string(r, "schemaUrl", 3, 0);
    default:
        return read_list(r, "scopeSpans", el_ss, NULL);
    }
}


static int
el_rs(jr_t *r, void *arg)
{
    if (*r->p != '{') {
        return fail(r, NULL, "not an object");
    }
    return read_msg(r, NULL, 1, 3, rs_f, NFIELDS(rs_f), f_rs, NULL);
}


static int
f_req(jr_t *r, int id, void *arg)
{
    return read_list(r, "resourceSpans", el_rs, NULL);
}


/* ---- the request --------------------------------------------------------------- */

/* One conversion of the whole body in the current mode. */
static int
convert(jr_t *r)
{
    int  rc;

    r->p = r->start;
    r->depth = 0;
    r->olen = 0;
    r->plen = 0;
    r->path[0] = '\0';

    ws(r);
    if (r->p >= r->end || *r->p != '{') {
        if (!r->careful) {
            return J_MAP;
        }
        snprintf(r->err, r->errlen, "body: not a JSON object");
        return J_MAP;
    }

    rc = read_object(r, req_f, NFIELDS(req_f), f_req, NULL);
    if (rc != J_OK) {
        return rc;
    }

    ws(r);
    return r->p == r->end ? J_OK : syntax(r, "end of file expected");
}


/* The careful mode's first step: is the whole text JSON, as jansson
 * sees it? */
static int
validate(jr_t *r)
{
    int  rc;

    r->p = r->start;
    r->depth = 0;

    ws(r);
    if (r->p >= r->end || (*r->p != '{' && *r->p != '[')) {
        return syntax(r, "'[' or '{' expected");
    }
    rc = skip_value(r);
    if (rc != J_OK) {
        return rc;
    }
    ws(r);
    return r->p == r->end ? J_OK : syntax(r, "end of file expected");
}


int
bt_otlp_json_to_pb(const char *json, size_t len, uint8_t **pb,
    size_t *pb_len, char *err, size_t errlen)
{
    jr_t            r;
    const uint8_t  *q;
    int             rc, line, col;

    *pb = NULL;
    *pb_len = 0;

    memset(&r, 0, offsetof(jr_t, path));
    r.start = (const uint8_t *) json;
    r.end = r.start + len;
    r.err = err;
    r.errlen = errlen;
    r.path[0] = '\0';

    /* protobuf is nearly always smaller than its JSON */
    r.ocap = len + 256;
    r.out = malloc(r.ocap);
    if (r.out == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }

    rc = convert(&r);
    if (rc == J_MAP || rc == J_SYNTAX) {
        r.careful = 1;
        r.memo_rec = len <= UINT32_MAX;
        rc = validate(&r);
        r.memo_use = r.memo_rec;
        r.memo_rec = 0;
        if (rc == J_OK) {
            rc = convert(&r);
        }
    }

    free(r.scratch);
    free(r.memo);

    if (rc == J_OK) {
        *pb = r.out;
        *pb_len = r.olen;
        return 0;
    }

    free(r.out);

    if (rc == J_SYNTAX) {
        line = 1;
        col = 1;
        for (q = r.start; q < r.at && q < r.end; q++) {
            if (*q == '\n') {
                line++;
                col = 1;
            } else {
                col++;
            }
        }
        snprintf(err, errlen, "invalid JSON at line %d, column %d: %s",
                 line, col, r.why);
    } else if (rc == J_NOMEM) {
        snprintf(err, errlen, "out of memory");
    }
    return -1;
}
