
/*
 * BeTrace nginx module: times and small value checks for the REST API.
 *
 * Times in the API are RFC 3339 UTC strings with milliseconds, as stored
 * in Redis; query parameters also take whole Unix milliseconds, which is
 * what scripts and charts tend to have.  The parser is pure C so the Redis
 * threads can read stored times with it too.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_betrace_api_ops.h"


static ngx_int_t ngx_http_betrace_digits(const u_char **p, const u_char *last,
    ngx_uint_t n);
static int64_t ngx_http_betrace_days(int64_t y, int64_t m, int64_t d);


/* reads exactly n digits; -1 if there are not n of them */

static ngx_int_t
ngx_http_betrace_digits(const u_char **p, const u_char *last, ngx_uint_t n)
{
    ngx_int_t  v;

    v = 0;

    while (n--) {
        if (*p >= last || **p < '0' || **p > '9') {
            return -1;
        }

        v = v * 10 + (**p - '0');
        (*p)++;
    }

    return v;
}


/* days from 1970-01-01 to y-m-d (proleptic Gregorian, Hinnant's method) */

static int64_t
ngx_http_betrace_days(int64_t y, int64_t m, int64_t d)
{
    int64_t  era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

    return era * 146097 + doe - 719468;
}


int64_t
ngx_http_betrace_parse_time(const u_char *s, size_t len)
{
    int64_t        ms, frac, scale, off;
    ngx_int_t      y, mo, d, h, mi, sec, oh, om;
    const u_char  *p, *last;

    static const u_char  mdays[] = { 31, 29, 31, 30, 31, 30,
                                     31, 31, 30, 31, 30, 31 };

    if (len == 0 || len > 40) {
        return -1;
    }

    p = s;
    last = s + len;

    /* Unix milliseconds: digits only (13 digits until the year 2286) */

    while (p < last && *p >= '0' && *p <= '9') {
        p++;
    }

    if (p == last) {
        if (len > 15) {
            return -1;
        }

        ms = 0;
        for (p = s; p < last; p++) {
            ms = ms * 10 + (*p - '0');
        }

        return ms;
    }

    p = s;

    y = ngx_http_betrace_digits(&p, last, 4);
    if (y < 0 || p >= last || *p++ != '-') {
        return -1;
    }

    mo = ngx_http_betrace_digits(&p, last, 2);
    if (mo < 1 || mo > 12 || p >= last || *p++ != '-') {
        return -1;
    }

    d = ngx_http_betrace_digits(&p, last, 2);
    if (d < 1 || d > mdays[mo - 1]
        || (mo == 2 && d == 29
            && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))))
    {
        return -1;
    }

    if (p >= last || (*p != 'T' && *p != 't' && *p != ' ')) {
        return -1;
    }

    p++;

    h = ngx_http_betrace_digits(&p, last, 2);
    if (h < 0 || h > 23 || p >= last || *p++ != ':') {
        return -1;
    }

    mi = ngx_http_betrace_digits(&p, last, 2);
    if (mi < 0 || mi > 59 || p >= last || *p++ != ':') {
        return -1;
    }

    sec = ngx_http_betrace_digits(&p, last, 2);
    if (sec < 0 || sec > 60) {
        return -1;
    }

    /* a leap second is read as the next second's start */

    frac = 0;

    if (p < last && *p == '.') {
        p++;
        scale = 100;

        if (p >= last || *p < '0' || *p > '9') {
            return -1;
        }

        while (p < last && *p >= '0' && *p <= '9') {
            frac += (*p - '0') * scale;
            scale /= 10;
            p++;
        }
    }

    if (p >= last) {
        return -1;
    }

    if (*p == 'Z' || *p == 'z') {
        p++;
        off = 0;

    } else if (*p == '+' || *p == '-') {
        off = (*p == '-') ? -1 : 1;
        p++;

        oh = ngx_http_betrace_digits(&p, last, 2);
        if (oh < 0 || oh > 23 || p >= last || *p++ != ':') {
            return -1;
        }

        om = ngx_http_betrace_digits(&p, last, 2);
        if (om < 0 || om > 59) {
            return -1;
        }

        off *= (oh * 60 + om) * 60000;

    } else {
        return -1;
    }

    if (p != last) {
        return -1;
    }

    ms = ngx_http_betrace_days(y, mo, d) * 86400000
         + ((int64_t) h * 3600 + mi * 60 + sec) * 1000 + frac - off;

    return ms < 0 ? -1 : ms;
}


void
ngx_http_betrace_format_time(int64_t ms, char *buf)
{
    int64_t  days, rem, era, doe, yoe, y, doy, mp, d, m;

    if (ms < 0) {
        ms = 0;
    }

    days = ms / 86400000;
    rem = ms % 86400000;

    /* civil_from_days (Hinnant) */

    days += 719468;
    era = days / 146097;
    doe = days - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    y = yoe + era * 400;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    d = doy - (153 * mp + 2) / 5 + 1;
    m = mp < 10 ? mp + 3 : mp - 9;
    y += m <= 2;

    (void) ngx_snprintf((u_char *) buf, NGX_HTTP_BETRACE_TIME_LEN,
                        "%04L-%02L-%02LT%02L:%02L:%02L.%03LZ%Z",
                        y, m, d, rem / 3600000, rem / 60000 % 60,
                        rem / 1000 % 60, rem % 1000);
}


int64_t
ngx_http_betrace_now_ms(void)
{
    ngx_time_t  *tp;

    tp = ngx_timeofday();

    return (int64_t) tp->sec * 1000 + tp->msec;
}


int64_t
ngx_http_betrace_clock_ms(void)
{
    struct timespec  ts;

    (void) clock_gettime(CLOCK_REALTIME, &ts);

    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}


ngx_int_t
ngx_http_betrace_arg_time(ngx_http_request_t *r, const char *name,
    int64_t *ms, ngx_int_t *rc)
{
    int64_t    v;
    ngx_int_t  n;
    ngx_str_t  value;

    n = ngx_http_betrace_api_arg(r, name, &value);

    if (n == NGX_DECLINED) {
        return NGX_DECLINED;
    }

    if (n != NGX_OK) {
        *rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_ERROR;
    }

    v = ngx_http_betrace_parse_time(value.data, value.len);

    if (v < 0) {
        *rc = ngx_http_betrace_api_send_invalid(r,
                  NGX_HTTP_BETRACE_API_PARAMETER, name,
                  "%s: \"%s\" is not an RFC 3339 time "
                  "(2026-11-25T16:30:00Z) or Unix milliseconds", name,
                  ngx_http_betrace_shown(r, value.data, value.len));
        return NGX_ERROR;
    }

    *ms = v;

    return NGX_OK;
}


ngx_int_t
ngx_http_betrace_check_args(ngx_http_request_t *r, const char *const *allowed,
    ngx_int_t *rc)
{
    u_char             *p, *last, *amp, *eq, *list, *l;
    size_t              len;
    const char         *shown;
    const char *const  *a;

    p = r->args.data;
    last = r->args.data + r->args.len;

    for ( /* void */ ; p < last; p = amp + 1) {
        amp = ngx_strlchr(p, last, '&');
        if (amp == NULL) {
            amp = last;
        }

        eq = ngx_strlchr(p, amp, '=');
        len = (eq ? eq : amp) - p;

        if (len == 0) {
            continue;
        }

        for (a = allowed; a && *a; a++) {
            if (ngx_strlen(*a) == len && ngx_strncmp(*a, p, len) == 0) {
                break;
            }
        }

        if (a == NULL || *a == NULL) {
            shown = ngx_http_betrace_shown(r, p, len);

            len = sizeof("no parameters");

            for (a = allowed; a && *a; a++) {
                len += ngx_strlen(*a) + 2;
            }

            list = ngx_pnalloc(r->pool, len);
            if (list == NULL) {
                *rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
                return NGX_ERROR;
            }

            l = list;

            for (a = allowed; a && *a; a++) {
                l = ngx_sprintf(l, "%s%s", (a == allowed) ? "" : ", ", *a);
            }

            if (l == list) {
                l = ngx_cpymem(l, "no parameters", sizeof("no parameters") - 1);
            }

            *l = '\0';

            *rc = ngx_http_betrace_api_send_invalid(r,
                      NGX_HTTP_BETRACE_API_PARAMETER, shown,
                      "%s: unknown query parameter; this endpoint takes %s",
                      shown, (char *) list);
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


const char *
ngx_http_betrace_shown(ngx_http_request_t *r, const u_char *p, size_t len)
{
    u_char  *s;
    size_t   i;

    len = ngx_min(len, 64);

    s = ngx_pnalloc(r->pool, len + 1);
    if (s == NULL) {
        return "";
    }

    for (i = 0; i < len; i++) {
        /* bytes outside printable ASCII may not be UTF-8: JSON refuses */
        s[i] = (p[i] < 0x20 || p[i] >= 0x7f) ? '?' : p[i];
    }

    s[len] = '\0';

    return (const char *) s;
}


ngx_uint_t
ngx_http_betrace_is_hex(const u_char *s, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')
              || (s[i] >= 'A' && s[i] <= 'F')))
        {
            return 0;
        }
    }

    return 1;
}


ngx_uint_t
ngx_http_betrace_is_id(ngx_str_t *id)
{
    size_t  i;
    u_char  c;

    if (id->len == 0 || id->len > 64) {
        return 0;
    }

    for (i = 0; i < id->len; i++) {
        c = id->data[i];

        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z')
              || (c >= 'A' && c <= 'Z') || c == '-' || c == '_' || c == '.'))
        {
            return 0;
        }
    }

    return 1;
}
