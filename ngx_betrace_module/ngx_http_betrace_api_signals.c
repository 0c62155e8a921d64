
/*
 * BeTrace nginx module: GET /signals, GET and PATCH /signals/{id}.
 *
 * Listing walks an index ZSET (P signals, or P signals:rule:<id> when the
 * rule is given) newest first by rank, fetching the signals a batch at a
 * time with MGET and filtering them in the Redis thread.  A request looks
 * at no more than NGX_HTTP_BETRACE_SIGNALS_SCAN index entries: a page may
 * then hold fewer than limit signals with a next_cursor to go on from, so
 * a rare filter never makes one request scan a million signals.
 *
 * The cursor is the (score, id) of the last entry looked at, base64url
 * encoded.  The next request finds that id's rank with ZREVRANK (exact
 * even while new signals push ranks down), or, when retention removed it,
 * the first entry after the score; either way only entries strictly after
 * (score, id) in the index order are returned, so pages never repeat an
 * entry and never skip one.  A trace id filter reads the trace's own set
 * (P trace:<id>:signals) while the trace is stored.
 *
 * Status changes run WATCH / GET / MULTI / SET / EXEC so two clients
 * cannot both move the same signal; a lost race is retried.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_betrace_api_ops.h"


#define NGX_HTTP_BETRACE_SIGNALS_LIMIT    50
#define NGX_HTTP_BETRACE_SIGNALS_MAX      500
#define NGX_HTTP_BETRACE_SIGNALS_SCAN     5000
#define NGX_HTTP_BETRACE_SIGNALS_BATCH    500
#define NGX_HTTP_BETRACE_SIGNALS_RETRIES  8


typedef struct {
    char            *rule_id;
    char            *severity;
    char            *status;
    char            *trace_id;      /* lowercase */
    int64_t          from;          /* inclusive, -1: none */
    int64_t          to;            /* exclusive, -1: none */
    ngx_uint_t       limit;
    int64_t          cursor_score;  /* -1: none */
    char            *cursor_id;
} ngx_http_betrace_signals_query_t;


/* a position in an index: newest first, then id descending */
typedef struct {
    int64_t          score;
    char             id[72];
    ngx_uint_t       set;
} ngx_http_betrace_signals_pos_t;


typedef struct {
    char            *id;
    char            *status;
} ngx_http_betrace_signal_patch_t;


static ngx_int_t ngx_http_betrace_signals_arg(ngx_http_request_t *r,
    const char *name, char **value, const char *const *allowed,
    ngx_int_t *rc);
static ngx_int_t ngx_http_betrace_signals_cursor(ngx_http_request_t *r,
    ngx_http_betrace_signals_query_t *q, ngx_int_t *rc);
static void ngx_http_betrace_signals_list_thread(
    ngx_http_betrace_api_job_t *job);
static ngx_int_t ngx_http_betrace_signals_by_trace(
    ngx_http_betrace_api_job_t *job, ngx_http_betrace_signals_query_t *q,
    json_t *out);
static ngx_int_t ngx_http_betrace_signals_scan(
    ngx_http_betrace_api_job_t *job, ngx_http_betrace_signals_query_t *q,
    json_t *out, ngx_http_betrace_signals_pos_t *last);
static ngx_uint_t ngx_http_betrace_signals_after(
    ngx_http_betrace_signals_pos_t *pos, int64_t score, const char *id);
static ngx_uint_t ngx_http_betrace_signals_match(
    ngx_http_betrace_signals_query_t *q, json_t *s);
static json_t *ngx_http_betrace_signals_next(
    ngx_http_betrace_signals_pos_t *pos);
static int64_t ngx_http_betrace_signal_detected(json_t *s);
static int ngx_http_betrace_signals_cmp(const void *a, const void *b);
static void ngx_http_betrace_signal_get_thread(
    ngx_http_betrace_api_job_t *job);
static void ngx_http_betrace_signal_patch_thread(
    ngx_http_betrace_api_job_t *job);
static ngx_int_t ngx_http_betrace_signal_transition(
    ngx_http_betrace_api_job_t *job, json_t *s, const char *id,
    const char *to);


static const char *const  ngx_http_betrace_severities[] = {
    "critical", "high", "medium", "low", "info", NULL
};

static const char *const  ngx_http_betrace_statuses[] = {
    "open", "acknowledged", "resolved", NULL
};


/* --- GET /signals --------------------------------------------------------- */

ngx_int_t
ngx_http_betrace_api_signals_list(ngx_http_request_t *r,
    ngx_http_betrace_api_ctx_t *ctx)
{
    u_char                            *p;
    ngx_int_t                          rc, n;
    ngx_str_t                          value;
    ngx_http_betrace_signals_query_t  *q;

    q = ngx_pcalloc(r->pool, sizeof(ngx_http_betrace_signals_query_t));
    if (q == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    q->from = -1;
    q->to = -1;
    q->cursor_score = -1;
    q->limit = NGX_HTTP_BETRACE_SIGNALS_LIMIT;

    if (ngx_http_betrace_signals_arg(r, "rule_id", &q->rule_id, NULL, &rc)
        != NGX_OK
        || ngx_http_betrace_signals_arg(r, "severity", &q->severity,
                                        ngx_http_betrace_severities, &rc)
           != NGX_OK
        || ngx_http_betrace_signals_arg(r, "status", &q->status,
                                        ngx_http_betrace_statuses, &rc)
           != NGX_OK
        || ngx_http_betrace_signals_arg(r, "trace_id", &q->trace_id, NULL,
                                        &rc)
           != NGX_OK)
    {
        return rc;
    }

    if (q->rule_id
        && !ngx_http_betrace_is_id(&(ngx_str_t) { ngx_strlen(q->rule_id),
                                                  (u_char *) q->rule_id }))
    {
        return ngx_http_betrace_api_send_invalid(r,
                   NGX_HTTP_BETRACE_API_PARAMETER, "rule_id",
                   "rule_id: \"%s\" is not a rule id",
                   ngx_http_betrace_shown(r, (u_char *) q->rule_id,
                                          ngx_strlen(q->rule_id)));
    }

    if (q->trace_id) {
        if (ngx_strlen(q->trace_id) != 32
            || !ngx_http_betrace_is_hex((u_char *) q->trace_id, 32))
        {
            return ngx_http_betrace_api_send_invalid(r,
                       NGX_HTTP_BETRACE_API_PARAMETER, "trace_id",
                       "trace_id: \"%s\" is not 32 hex digits",
                       ngx_http_betrace_shown(r, (u_char *) q->trace_id,
                                              ngx_strlen(q->trace_id)));
        }

        for (p = (u_char *) q->trace_id; *p; p++) {
            *p = ngx_tolower(*p);
        }
    }

    if (ngx_http_betrace_arg_time(r, "from", &q->from, &rc) == NGX_ERROR
        || ngx_http_betrace_arg_time(r, "to", &q->to, &rc) == NGX_ERROR)
    {
        return rc;
    }

    if (q->from >= 0 && q->to >= 0 && q->from > q->to) {
        return ngx_http_betrace_api_send_invalid(r,
                   NGX_HTTP_BETRACE_API_PARAMETER, "from",
                   "from: is after to");
    }

    rc = ngx_http_betrace_api_arg(r, "limit", &value);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_OK) {
        n = ngx_atoi(value.data, value.len);

        if (n == NGX_ERROR || n < 1 || n > NGX_HTTP_BETRACE_SIGNALS_MAX) {
            return ngx_http_betrace_api_send_invalid(r,
                       NGX_HTTP_BETRACE_API_PARAMETER, "limit",
                       "limit: \"%s\" is not a number from 1 to %d",
                       ngx_http_betrace_shown(r, value.data, value.len),
                       NGX_HTTP_BETRACE_SIGNALS_MAX);
        }

        q->limit = n;
    }

    if (ngx_http_betrace_signals_cursor(r, q, &rc) != NGX_OK) {
        return rc;
    }

    return ngx_http_betrace_api_redis(r, ngx_http_betrace_signals_list_thread,
                                      q);
}


/*
 * A string query argument into *value (NULL when absent); when allowed is
 * given the value must be one of its words.
 */

static ngx_int_t
ngx_http_betrace_signals_arg(ngx_http_request_t *r, const char *name,
    char **value, const char *const *allowed, ngx_int_t *rc)
{
    ngx_int_t           n;
    ngx_str_t           v;
    const char *const  *a;

    n = ngx_http_betrace_api_arg(r, name, &v);

    if (n == NGX_DECLINED) {
        return NGX_OK;
    }

    if (n != NGX_OK) {
        *rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_ERROR;
    }

    if (allowed) {
        for (a = allowed; *a; a++) {
            if (ngx_strlen(*a) == v.len
                && ngx_strncmp(*a, v.data, v.len) == 0)
            {
                break;
            }
        }

        if (*a == NULL) {
            *rc = ngx_http_betrace_api_send_invalid(r,
                      NGX_HTTP_BETRACE_API_PARAMETER, name,
                      "%s: \"%s\" is not one of %s", name,
                      ngx_http_betrace_shown(r, v.data, v.len),
                      allowed == ngx_http_betrace_severities
                      ? "critical, high, medium, low, info"
                      : "open, acknowledged, resolved");
            return NGX_ERROR;
        }
    }

    *value = (char *) v.data;           /* NUL-terminated by _arg() */

    return NGX_OK;
}


/* cursor = base64url("<score ms>.<id>") */

static ngx_int_t
ngx_http_betrace_signals_cursor(ngx_http_request_t *r,
    ngx_http_betrace_signals_query_t *q, ngx_int_t *rc)
{
    u_char     *dot;
    int64_t     score;
    ngx_int_t   n;
    ngx_str_t   value, raw, id;

    n = ngx_http_betrace_api_arg(r, "cursor", &value);

    if (n == NGX_DECLINED) {
        return NGX_OK;
    }

    if (n != NGX_OK) {
        *rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_ERROR;
    }

    raw.data = ngx_pnalloc(r->pool, ngx_base64_decoded_length(value.len) + 1);
    if (raw.data == NULL) {
        *rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_ERROR;
    }

    if (value.len == 0 || value.len > 128
        || ngx_decode_base64url(&raw, &value) != NGX_OK)
    {
        goto invalid;
    }

    dot = ngx_strlchr(raw.data, raw.data + raw.len, '.');
    if (dot == NULL) {
        goto invalid;
    }

    score = ngx_atoof(raw.data, dot - raw.data);

    id.data = dot + 1;
    id.len = raw.data + raw.len - id.data;

    if (score < 0 || !ngx_http_betrace_is_id(&id)) {
        goto invalid;
    }

    q->cursor_score = score;
    q->cursor_id = ngx_http_betrace_api_strdup(r, &id);
    if (q->cursor_id == NULL) {
        *rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_ERROR;
    }

    return NGX_OK;

invalid:

    *rc = ngx_http_betrace_api_send_invalid(r,
              NGX_HTTP_BETRACE_API_PARAMETER, "cursor",
              "cursor: not a cursor returned by this API (\"%s\")", ngx_http_betrace_shown(r, value.data,
                                                      value.len));
    return NGX_ERROR;
}


static void
ngx_http_betrace_signals_list_thread(ngx_http_betrace_api_job_t *job)
{
    ngx_http_betrace_signals_query_t *q = job->data;

    json_t                          *out, *next, *s;
    ngx_int_t                        rc;
    const char                      *id;
    ngx_http_betrace_signals_pos_t   last;

    out = json_array();
    if (out == NULL) {
        ngx_http_betrace_api_job_error(job, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                       "internal", "out of memory");
        return;
    }

    next = NULL;
    rc = NGX_DECLINED;

    if (q->trace_id) {
        rc = ngx_http_betrace_signals_by_trace(job, q, out);

        if (rc == NGX_AGAIN) {
            /* the page ends at its last signal */
            s = json_array_get(out, json_array_size(out) - 1);
            id = json_string_value(json_object_get(s, "id"));

            last.score = ngx_http_betrace_signal_detected(s);
            ngx_cpystrn((u_char *) last.id, (u_char *) (id ? id : ""),
                        sizeof(last.id));
            next = ngx_http_betrace_signals_next(&last);
        }
    }

    if (rc == NGX_DECLINED) {
        ngx_memzero(&last, sizeof(last));

        if (q->cursor_id) {
            last.score = q->cursor_score;
            ngx_cpystrn((u_char *) last.id, (u_char *) q->cursor_id,
                        sizeof(last.id));
            last.set = 1;
        }

        rc = ngx_http_betrace_signals_scan(job, q, out, &last);

        if (rc == NGX_AGAIN) {
            next = ngx_http_betrace_signals_next(&last);
        }
    }

    if (rc == NGX_ERROR) {
        json_decref(out);
        return;
    }

    job->json = json_pack("{s:o,s:o}", "signals", out,
                          "next_cursor", next ? next : json_null());
}


/*
 * The signals of one stored trace, all at once (a trace has a handful).
 * Returns NGX_OK, NGX_ERROR (job error set), or NGX_DECLINED when the
 * trace is no longer stored and the index must be scanned instead.
 */

static ngx_int_t
ngx_http_betrace_signals_by_trace(ngx_http_betrace_api_job_t *job,
    ngx_http_betrace_signals_query_t *q, json_t *out)
{
    int64_t                          score;
    size_t                           i, n, k;
    json_t                          *s, **all;
    redisReply                      *set, *vals;
    ngx_http_betrace_signals_pos_t   pos;

    set = ngx_http_betrace_api_command(job, "SMEMBERS %strace:%s:signals",
                                       job->prefix, q->trace_id);
    if (set == NULL) {
        return NGX_ERROR;
    }

    if (set->type != REDIS_REPLY_ARRAY || set->elements == 0) {
        freeReplyObject(set);
        return NGX_DECLINED;
    }

    /* a trace has a few signals: one per rule at most */

    n = ngx_min(set->elements, NGX_HTTP_BETRACE_SIGNALS_SCAN);

    all = malloc(n * sizeof(json_t *));

    if (all == NULL) {
        freeReplyObject(set);
        ngx_http_betrace_api_job_error(job, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                       "internal", "out of memory");
        return NGX_ERROR;
    }

    vals = ngx_http_betrace_api_mget(job, "signal:", set->element, n, 1);

    freeReplyObject(set);

    if (vals == NULL) {
        free(all);
        return NGX_ERROR;
    }

    pos.score = q->cursor_score;
    pos.set = q->cursor_id != NULL;

    if (pos.set) {
        ngx_cpystrn((u_char *) pos.id, (u_char *) q->cursor_id,
                    sizeof(pos.id));
    }

    k = 0;

    for (i = 0; vals->type == REDIS_REPLY_ARRAY && i < vals->elements; i++) {
        if (vals->element[i]->type != REDIS_REPLY_STRING) {
            continue;           /* removed by retention meanwhile */
        }

        s = json_loadb(vals->element[i]->str, vals->element[i]->len, 0,
                       NULL);
        if (s == NULL || !json_is_object(s)
            || !ngx_http_betrace_signals_match(q, s))
        {
            json_decref(s);
            continue;
        }

        score = ngx_http_betrace_signal_detected(s);

        if ((q->from >= 0 && score < q->from)
            || (q->to >= 0 && score >= q->to)
            || !ngx_http_betrace_signals_after(&pos, score,
                    json_string_value(json_object_get(s, "id"))))
        {
            json_decref(s);
            continue;
        }

        all[k++] = s;
    }

    freeReplyObject(vals);

    qsort(all, k, sizeof(json_t *), ngx_http_betrace_signals_cmp);

    for (i = 0; i < k; i++) {
        if (i < q->limit) {
            json_array_append(out, all[i]);
        }

        json_decref(all[i]);
    }

    free(all);

    return k > q->limit ? NGX_AGAIN : NGX_OK;
}


/*
 * Walks the index from the cursor (or the newest entry before "to").
 * Returns NGX_OK when the index was exhausted, NGX_AGAIN when more may
 * follow *last, NGX_ERROR with the job's error set.
 */

static ngx_int_t
ngx_http_betrace_signals_scan(ngx_http_betrace_api_job_t *job,
    ngx_http_betrace_signals_query_t *q, json_t *out,
    ngx_http_betrace_signals_pos_t *last)
{
    char          key[512], *id;
    size_t        i, j, n, plen, batch, asked;
    json_t       *s;
    int64_t       score;
    long long     start;
    ngx_uint_t    scanned, matched;
    redisReply   *rep, *vals;

    if (q->rule_id) {
        ngx_snprintf((u_char *) key, sizeof(key), "%ssignals:rule:%s%Z",
                     job->prefix, q->rule_id);
    } else {
        ngx_snprintf((u_char *) key, sizeof(key), "%ssignals%Z",
                     job->prefix);
    }

    /* where to start: right after the cursor, or at the first before "to" */

    start = 0;

    if (last->set) {
        rep = ngx_http_betrace_api_command(job, "ZREVRANK %s %s", key,
                                           last->id);
        if (rep == NULL) {
            return NGX_ERROR;
        }

        if (rep->type == REDIS_REPLY_INTEGER) {
            start = rep->integer + 1;
            freeReplyObject(rep);

        } else {
            freeReplyObject(rep);

            rep = ngx_http_betrace_api_command(job, "ZCOUNT %s (%lld +inf",
                                               key,
                                               (long long) last->score);
            if (rep == NULL) {
                return NGX_ERROR;
            }

            start = rep->type == REDIS_REPLY_INTEGER ? rep->integer : 0;
            freeReplyObject(rep);
        }

    } else if (q->to >= 0) {
        rep = ngx_http_betrace_api_command(job, "ZCOUNT %s %lld +inf", key,
                                           (long long) q->to);
        if (rep == NULL) {
            return NGX_ERROR;
        }

        start = rep->type == REDIS_REPLY_INTEGER ? rep->integer : 0;
        freeReplyObject(rep);
    }

    plen = ngx_strlen(job->prefix);
    if (plen > 128 - sizeof("signal:") - 65) {
        ngx_http_betrace_api_job_error(job, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                       "internal", "Redis prefix too long");
        return NGX_ERROR;
    }

    /* without filters a batch is what the page needs, and one more */

    batch = (q->severity || q->status || q->trace_id)
            ? NGX_HTTP_BETRACE_SIGNALS_BATCH
            : ngx_min(q->limit + 1, NGX_HTTP_BETRACE_SIGNALS_BATCH);

    scanned = 0;
    matched = 0;

    for ( ;; ) {
        if (scanned >= NGX_HTTP_BETRACE_SIGNALS_SCAN) {
            goto more;
        }

        asked = ngx_min(batch, NGX_HTTP_BETRACE_SIGNALS_SCAN - scanned);

        rep = ngx_http_betrace_api_command(job,
                  "ZREVRANGE %s %lld %lld WITHSCORES", key, start,
                  start + (long long) asked - 1);
        if (rep == NULL) {
            goto failed;
        }

        if (rep->type != REDIS_REPLY_ARRAY || rep->elements == 0) {
            freeReplyObject(rep);
            goto done;
        }

        n = ngx_min(rep->elements / 2, asked);
        start += n;

        /* the ids, with their scores between them */

        vals = ngx_http_betrace_api_mget(job, "signal:", rep->element, n, 2);
        if (vals == NULL) {
            freeReplyObject(rep);
            goto failed;
        }

        for (i = 0; i < n; i++) {
            id = rep->element[2 * i]->str;
            score = (int64_t) strtod(rep->element[2 * i + 1]->str, NULL);

            if (q->from >= 0 && score < q->from) {
                freeReplyObject(vals);
                freeReplyObject(rep);
                goto done;
            }

            scanned++;

            /* entries that moved down under us were seen already */

            if (!ngx_http_betrace_signals_after(last, score, id)) {
                continue;
            }

            last->score = score;
            ngx_cpystrn((u_char *) last->id, (u_char *) id,
                        sizeof(last->id));
            last->set = 1;

            if (vals->type != REDIS_REPLY_ARRAY || i >= vals->elements
                || vals->element[i]->type != REDIS_REPLY_STRING)
            {
                continue;       /* removed by retention meanwhile */
            }

            s = json_loadb(vals->element[i]->str, vals->element[i]->len, 0,
                           NULL);

            if (s == NULL || !json_is_object(s)
                || !ngx_http_betrace_signals_match(q, s))
            {
                json_decref(s);
                continue;
            }

            json_array_append_new(out, s);

            if (++matched == q->limit) {
                /* more follow unless this was the index's last entry */
                j = (i + 1 < n || n == asked);
                freeReplyObject(vals);
                freeReplyObject(rep);

                if (j) {
                    goto more;
                }

                goto done;
            }
        }

        freeReplyObject(vals);
        freeReplyObject(rep);

        if (n < asked) {
            goto done;          /* the index ended */
        }
    }

done:

    return NGX_OK;

more:

    return NGX_AGAIN;

failed:

    return NGX_ERROR;
}


/* 1 if (score, id) comes after pos in index order (newest first) */

static ngx_uint_t
ngx_http_betrace_signals_after(ngx_http_betrace_signals_pos_t *pos,
    int64_t score, const char *id)
{
    if (!pos->set) {
        return 1;
    }

    if (id == NULL) {
        return 0;
    }

    return score < pos->score
           || (score == pos->score && ngx_strcmp(id, pos->id) < 0);
}


static ngx_uint_t
ngx_http_betrace_signals_match(ngx_http_betrace_signals_query_t *q,
    json_t *s)
{
    const char  *v;

    if (q->rule_id) {
        v = json_string_value(json_object_get(s, "rule_id"));
        if (v == NULL || ngx_strcmp(v, q->rule_id) != 0) {
            return 0;
        }
    }

    if (q->severity) {
        v = json_string_value(json_object_get(s, "severity"));
        if (v == NULL || ngx_strcmp(v, q->severity) != 0) {
            return 0;
        }
    }

    if (q->status) {
        v = json_string_value(json_object_get(s, "status"));
        if (v == NULL || ngx_strcmp(v, q->status) != 0) {
            return 0;
        }
    }

    if (q->trace_id) {
        v = json_string_value(json_object_get(s, "trace_id"));
        if (v == NULL || ngx_strcmp(v, q->trace_id) != 0) {
            return 0;
        }
    }

    return 1;
}


static json_t *
ngx_http_betrace_signals_next(ngx_http_betrace_signals_pos_t *pos)
{
    u_char     raw[128], enc[200];
    ngx_str_t  src, dst;

    src.data = raw;
    src.len = ngx_snprintf(raw, sizeof(raw), "%L.%s", pos->score, pos->id)
              - raw;

    dst.data = enc;
    ngx_encode_base64url(&dst, &src);

    return json_stringn((char *) dst.data, dst.len);
}


static int64_t
ngx_http_betrace_signal_detected(json_t *s)
{
    const char  *v;

    v = json_string_value(json_object_get(s, "detected_at"));
    if (v == NULL) {
        return 0;
    }

    return ngx_http_betrace_parse_time((u_char *) v, ngx_strlen(v));
}


/* newest first, then id descending: the index order */

static int
ngx_http_betrace_signals_cmp(const void *a, const void *b)
{
    json_t       *x, *y;
    int64_t       sx, sy;
    const char   *ix, *iy;

    x = *(json_t **) a;
    y = *(json_t **) b;

    sx = ngx_http_betrace_signal_detected(x);
    sy = ngx_http_betrace_signal_detected(y);

    if (sx != sy) {
        return sx > sy ? -1 : 1;
    }

    ix = json_string_value(json_object_get(x, "id"));
    iy = json_string_value(json_object_get(y, "id"));

    return -ngx_strcmp(ix ? ix : "", iy ? iy : "");
}


/* --- GET /signals/{id} ---------------------------------------------------- */

ngx_int_t
ngx_http_betrace_api_signal_get(ngx_http_request_t *r,
    ngx_http_betrace_api_ctx_t *ctx)
{
    char  *id;

    if (!ngx_http_betrace_is_id(&ctx->segs[1])) {
        return ngx_http_betrace_api_send_error(r, NGX_HTTP_NOT_FOUND,
                   "not_found", "no signal with id \"%s\"",
                   ngx_http_betrace_shown(r, ctx->segs[1].data,
                                          ctx->segs[1].len));
    }

    id = ngx_http_betrace_api_strdup(r, &ctx->segs[1]);
    if (id == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_betrace_api_redis(r, ngx_http_betrace_signal_get_thread,
                                      id);
}


static void
ngx_http_betrace_signal_get_thread(ngx_http_betrace_api_job_t *job)
{
    char  *id = job->data;

    json_t      *s;
    redisReply  *rep;

    rep = ngx_http_betrace_api_command(job, "GET %ssignal:%s", job->prefix,
                                       id);
    if (rep == NULL) {
        return;
    }

    if (rep->type != REDIS_REPLY_STRING) {
        freeReplyObject(rep);
        ngx_http_betrace_api_job_error(job, NGX_HTTP_NOT_FOUND, "not_found",
                                       "no signal with id \"%s\"", id);
        return;
    }

    s = json_loadb(rep->str, rep->len, 0, NULL);
    freeReplyObject(rep);

    if (s == NULL) {
        ngx_http_betrace_api_job_error(job, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                       "internal",
                                       "signal \"%s\" is not valid JSON", id);
        return;
    }

    job->json = s;
}


/* --- PATCH /signals/{id} -------------------------------------------------- */

ngx_int_t
ngx_http_betrace_api_signal_patch(ngx_http_request_t *r,
    ngx_http_betrace_api_ctx_t *ctx)
{
    json_t                           *v;
    const char                       *key, *status, *const *a;
    ngx_http_betrace_signal_patch_t  *p;

    if (!json_is_object(ctx->body)) {
        return ngx_http_betrace_api_send_error(r, NGX_HTTP_BAD_REQUEST,
                   "invalid_body", "the body must be a JSON object "
                   "{\"status\": \"open\"|\"acknowledged\"|\"resolved\"}");
    }

    json_object_foreach(ctx->body, key, v) {
        if (ngx_strcmp(key, "status") != 0) {
            return ngx_http_betrace_api_send_invalid(r,
                       NGX_HTTP_BETRACE_API_FIELD, key,
                       "%s: unknown field; only \"status\" can be changed",
                       key);
        }
    }

    v = json_object_get(ctx->body, "status");
    if (v == NULL) {
        return ngx_http_betrace_api_send_invalid(r,
                   NGX_HTTP_BETRACE_API_FIELD, "status", "status: required");
    }

    status = json_string_value(v);

    for (a = ngx_http_betrace_statuses; status && *a; a++) {
        if (ngx_strcmp(*a, status) == 0) {
            break;
        }
    }

    if (status == NULL || *a == NULL) {
        return ngx_http_betrace_api_send_invalid(r,
                   NGX_HTTP_BETRACE_API_FIELD, "status",
                   "status: must be \"open\", \"acknowledged\" or "
                   "\"resolved\"");
    }

    if (!ngx_http_betrace_is_id(&ctx->segs[1])) {
        return ngx_http_betrace_api_send_error(r, NGX_HTTP_NOT_FOUND,
                   "not_found", "no signal with id \"%s\"",
                   ngx_http_betrace_shown(r, ctx->segs[1].data,
                                          ctx->segs[1].len));
    }

    p = ngx_palloc(r->pool, sizeof(ngx_http_betrace_signal_patch_t));
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p->id = ngx_http_betrace_api_strdup(r, &ctx->segs[1]);
    p->status = (char *) *a;            /* static: outlives the body */

    if (p->id == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_betrace_api_redis(r, ngx_http_betrace_signal_patch_thread,
                                      p);
}


static void
ngx_http_betrace_signal_patch_thread(ngx_http_betrace_api_job_t *job)
{
    ngx_http_betrace_signal_patch_t *p = job->data;

    char        *text;
    json_t      *s;
    ngx_int_t    rc;
    ngx_uint_t   try;
    redisReply  *rep;

    for (try = 0; try < NGX_HTTP_BETRACE_SIGNALS_RETRIES; try++) {

        rep = ngx_http_betrace_api_command(job, "WATCH %ssignal:%s",
                                           job->prefix, p->id);
        if (rep == NULL) {
            return;
        }

        freeReplyObject(rep);

        rep = ngx_http_betrace_api_command(job, "GET %ssignal:%s",
                                           job->prefix, p->id);
        if (rep == NULL) {
            goto unwatch;
        }

        if (rep->type != REDIS_REPLY_STRING) {
            freeReplyObject(rep);
            ngx_http_betrace_api_job_error(job, NGX_HTTP_NOT_FOUND,
                                           "not_found",
                                           "no signal with id \"%s\"", p->id);
            goto unwatch;
        }

        s = json_loadb(rep->str, rep->len, 0, NULL);
        freeReplyObject(rep);

        if (s == NULL || !json_is_object(s)) {
            json_decref(s);
            ngx_http_betrace_api_job_error(job,
                                           NGX_HTTP_INTERNAL_SERVER_ERROR,
                                           "internal", "signal \"%s\" is "
                                           "not a valid JSON object", p->id);
            goto unwatch;
        }

        rc = ngx_http_betrace_signal_transition(job, s, p->id, p->status);

        if (rc != NGX_OK) {
            json_decref(s);
            goto unwatch;
        }

        text = json_dumps(s, JSON_COMPACT);
        if (text == NULL) {
            json_decref(s);
            ngx_http_betrace_api_job_error(job,
                                           NGX_HTTP_INTERNAL_SERVER_ERROR,
                                           "internal", "out of memory");
            goto unwatch;
        }

        rep = ngx_http_betrace_api_command(job, "MULTI");
        if (rep == NULL) {
            free(text);
            json_decref(s);
            goto unwatch;
        }

        freeReplyObject(rep);

        /* KEEPTTL: a signal keeps whatever expiry retention gave it */

        rep = ngx_http_betrace_api_command(job, "SET %ssignal:%s %s KEEPTTL",
                                           job->prefix, p->id, text);
        free(text);

        if (rep == NULL) {
            json_decref(s);
            rep = ngx_http_betrace_api_command(job, "DISCARD");
            if (rep) {
                freeReplyObject(rep);
            }
            return;
        }

        freeReplyObject(rep);

        rep = ngx_http_betrace_api_command(job, "EXEC");
        if (rep == NULL) {
            json_decref(s);
            return;
        }

        if (rep->type == REDIS_REPLY_ARRAY) {
            freeReplyObject(rep);
            job->json = s;
            return;
        }

        /* nil: the signal changed between GET and EXEC; read it again */

        freeReplyObject(rep);
        json_decref(s);
    }

    ngx_http_betrace_api_job_error(job, NGX_HTTP_CONFLICT, "conflict",
                                   "signal \"%s\" kept changing; try again",
                                   p->id);
    return;

unwatch:

    /* the connection is reused by the next job: leave no WATCH behind */

    if (!job->failed) {
        rep = redisCommand(job->redis, "UNWATCH");
        if (rep) {
            freeReplyObject(rep);
        }
    }
}


/*
 * Applies "to" to the signal s.  Allowed: open -> acknowledged,
 * open -> resolved, acknowledged -> resolved, and back to open from
 * either (reopening clears both times and records reopened_at).  A move
 * to the status it has, and resolved -> acknowledged, are 409: the first
 * keeps acknowledged_at / resolved_at those of the first client.
 * Returns NGX_OK, or NGX_ERROR with the job's error set.
 */

static ngx_int_t
ngx_http_betrace_signal_transition(ngx_http_betrace_api_job_t *job,
    json_t *s, const char *id, const char *to)
{
    char              now[NGX_HTTP_BETRACE_TIME_LEN];
    const char       *from, *at;

    from = json_string_value(json_object_get(s, "status"));
    if (from == NULL) {
        from = "open";
    }

    if (ngx_strcmp(from, to) == 0) {
        at = json_string_value(json_object_get(s,
                 ngx_strcmp(to, "acknowledged") == 0 ? "acknowledged_at"
                 : ngx_strcmp(to, "resolved") == 0 ? "resolved_at"
                 : "detected_at"));

        ngx_http_betrace_api_job_error(job, NGX_HTTP_CONFLICT,
                                       "invalid_transition",
                                       "signal \"%s\" is already %s%s%s",
                                       id, to, at ? " since " : "",
                                       at ? at : "");
        return NGX_ERROR;
    }

    if (ngx_strcmp(from, "resolved") == 0
        && ngx_strcmp(to, "acknowledged") == 0)
    {
        ngx_http_betrace_api_job_error(job, NGX_HTTP_CONFLICT,
                                       "invalid_transition",
                                       "signal \"%s\" is resolved: it can't "
                                       "be acknowledged; reopen it first "
                                       "with {\"status\": \"open\"}", id);
        return NGX_ERROR;
    }

    ngx_http_betrace_format_time(ngx_http_betrace_clock_ms(), now);

    if (ngx_strcmp(to, "acknowledged") == 0) {
        json_object_set_new(s, "acknowledged_at", json_string(now));

    } else if (ngx_strcmp(to, "resolved") == 0) {
        json_object_set_new(s, "resolved_at", json_string(now));

        if (json_object_get(s, "acknowledged_at") == NULL) {
            json_object_set_new(s, "acknowledged_at", json_null());
        }

    } else {
        json_object_set_new(s, "acknowledged_at", json_null());
        json_object_set_new(s, "resolved_at", json_null());
        json_object_set_new(s, "reopened_at", json_string(now));
    }

    json_object_set_new(s, "status", json_string(to));

    return NGX_OK;
}
