
/*
 * BeTrace nginx module: GET /traces/{trace_id}.
 *
 * The engine stores a trace (P trace:<id>, the same JSON as a --traces-out
 * line) only when it produced a signal, with the ids of those signals in
 * P trace:<id>:signals; both expire with signal retention.  The reply is
 * the stored object as it is, with "signals" added (newest first), so a
 * signal can be shown inside its trace with one request.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_betrace_api_ops.h"


static void ngx_http_betrace_trace_get_thread(ngx_http_betrace_api_job_t *job);
static json_t *ngx_http_betrace_trace_signals(ngx_http_betrace_api_job_t *job,
    const char *trace_id);
static int ngx_http_betrace_trace_cmp(const void *a, const void *b);


ngx_int_t
ngx_http_betrace_api_trace_get(ngx_http_request_t *r,
    ngx_http_betrace_api_ctx_t *ctx)
{
    u_char  *id, *p;

    if (ctx->segs[1].len != 32
        || !ngx_http_betrace_is_hex(ctx->segs[1].data, 32))
    {
        return ngx_http_betrace_api_send_invalid(r,
                   NGX_HTTP_BETRACE_API_PARAMETER, "trace_id",
                   "trace_id: \"%s\" is not 32 hex digits",
                   ngx_http_betrace_shown(r, ctx->segs[1].data,
                                          ctx->segs[1].len));
    }

    id = (u_char *) ngx_http_betrace_api_strdup(r, &ctx->segs[1]);
    if (id == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    for (p = id; *p; p++) {
        *p = ngx_tolower(*p);
    }

    return ngx_http_betrace_api_redis(r, ngx_http_betrace_trace_get_thread,
                                      id);
}


static void
ngx_http_betrace_trace_get_thread(ngx_http_betrace_api_job_t *job)
{
    char  *id = job->data;

    json_t      *t, *sigs;
    redisReply  *rep;

    rep = ngx_http_betrace_api_command(job, "GET %strace:%s", job->prefix,
                                       id);
    if (rep == NULL) {
        return;
    }

    if (rep->type != REDIS_REPLY_STRING) {
        freeReplyObject(rep);
        ngx_http_betrace_api_job_error(job, NGX_HTTP_NOT_FOUND, "not_found",
                                       "trace \"%s\" is not stored (a trace "
                                       "is kept only when it produced a "
                                       "signal, for the retention period)",
                                       id);
        return;
    }

    t = json_loadb(rep->str, rep->len, 0, NULL);
    freeReplyObject(rep);

    if (t == NULL || !json_is_object(t)) {
        json_decref(t);
        ngx_http_betrace_api_job_error(job, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                       "internal", "stored trace \"%s\" is "
                                       "not a valid JSON object", id);
        return;
    }

    sigs = ngx_http_betrace_trace_signals(job, id);
    if (sigs == NULL) {
        json_decref(t);
        return;
    }

    json_object_set_new(t, "signals", sigs);

    job->json = t;
}


/* The trace's signals, newest first; NULL with the job's error set. */

static json_t *
ngx_http_betrace_trace_signals(ngx_http_betrace_api_job_t *job,
    const char *trace_id)
{
    size_t        i, n;
    json_t       *out, *s, **all;
    redisReply   *set, *vals;

    set = ngx_http_betrace_api_command(job, "SMEMBERS %strace:%s:signals",
                                       job->prefix, trace_id);
    if (set == NULL) {
        return NULL;
    }

    out = json_array();

    if (set->type != REDIS_REPLY_ARRAY || set->elements == 0 || out == NULL)
    {
        freeReplyObject(set);
        if (out == NULL) {
            ngx_http_betrace_api_job_error(job,
                                           NGX_HTTP_INTERNAL_SERVER_ERROR,
                                           "internal", "out of memory");
        }
        return out;
    }

    /* one signal per rule at most: the set is as small as the rule set */

    n = ngx_min(set->elements, 10000);

    all = malloc(n * sizeof(json_t *));

    if (all == NULL) {
        freeReplyObject(set);
        json_decref(out);
        ngx_http_betrace_api_job_error(job, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                       "internal", "out of memory");
        return NULL;
    }

    vals = ngx_http_betrace_api_mget(job, "signal:", set->element, n, 1);

    freeReplyObject(set);

    if (vals == NULL) {
        free(all);
        json_decref(out);
        return NULL;
    }

    n = 0;

    for (i = 0; vals->type == REDIS_REPLY_ARRAY && i < vals->elements; i++) {
        if (vals->element[i]->type != REDIS_REPLY_STRING) {
            continue;
        }

        s = json_loadb(vals->element[i]->str, vals->element[i]->len, 0,
                       NULL);
        if (s == NULL || !json_is_object(s)) {
            json_decref(s);
            continue;
        }

        all[n++] = s;
    }

    freeReplyObject(vals);

    qsort(all, n, sizeof(json_t *), ngx_http_betrace_trace_cmp);

    for (i = 0; i < n; i++) {
        json_array_append_new(out, all[i]);
    }

    free(all);

    return out;
}


/* detected_at descending: RFC 3339 UTC strings of one width sort as text */

static int
ngx_http_betrace_trace_cmp(const void *a, const void *b)
{
    const char  *x, *y;

    x = json_string_value(json_object_get(*(json_t **) a, "detected_at"));
    y = json_string_value(json_object_get(*(json_t **) b, "detected_at"));

    return -ngx_strcmp(x ? x : "", y ? y : "");
}
