
/*
 * BeTrace nginx module: GET /signals/counts?from=&to=, for an overview.
 *
 * The engine counts every new signal in a per-minute hash, P counts:<m>
 * with m = Unix ms / 60000 and fields total, rule:<id>, severity:<sev>.
 * The range [from, to) is read as whole minutes with pipelined HGETALLs
 * (one round trip per NGX_HTTP_BETRACE_COUNTS_PIPE minutes) and summed in
 * the Redis thread; rule names come from the rules themselves.  The range
 * is capped at a week, as long as counts are kept by default.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_betrace_api_ops.h"


#define NGX_HTTP_BETRACE_COUNTS_DEFAULT  3600000        /* 1 hour */
#define NGX_HTTP_BETRACE_COUNTS_MAX      (7 * 86400000LL)
#define NGX_HTTP_BETRACE_COUNTS_PIPE     256


typedef struct {
    int64_t     from;
    int64_t     to;
} ngx_http_betrace_counts_query_t;


static void ngx_http_betrace_counts_thread(ngx_http_betrace_api_job_t *job);
static ngx_int_t ngx_http_betrace_counts_add(json_t *obj, const char *key,
    json_int_t n);
static json_t *ngx_http_betrace_counts_rules(ngx_http_betrace_api_job_t *job,
    json_t *by_rule);
static int ngx_http_betrace_counts_cmp(const void *a, const void *b);


static const char *const  ngx_http_betrace_counts_sevs[] = {
    "critical", "high", "medium", "low", "info", NULL
};


ngx_int_t
ngx_http_betrace_api_signals_counts(ngx_http_request_t *r,
    ngx_http_betrace_api_ctx_t *ctx)
{
    ngx_int_t                         rc, hf, ht;
    ngx_http_betrace_counts_query_t  *q;

    q = ngx_palloc(r->pool, sizeof(ngx_http_betrace_counts_query_t));
    if (q == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    hf = ngx_http_betrace_arg_time(r, "from", &q->from, &rc);
    if (hf == NGX_ERROR) {
        return rc;
    }

    ht = ngx_http_betrace_arg_time(r, "to", &q->to, &rc);
    if (ht == NGX_ERROR) {
        return rc;
    }

    if (ht == NGX_DECLINED) {
        q->to = ngx_http_betrace_now_ms();
    }

    if (hf == NGX_DECLINED) {
        q->from = q->to - NGX_HTTP_BETRACE_COUNTS_DEFAULT;
        if (q->from < 0) {
            q->from = 0;
        }
    }

    if (q->from > q->to) {
        return ngx_http_betrace_api_send_invalid(r,
                   NGX_HTTP_BETRACE_API_PARAMETER, "from",
                   "from: is after to");
    }

    if (q->to - q->from > NGX_HTTP_BETRACE_COUNTS_MAX) {
        return ngx_http_betrace_api_send_invalid(r,
                   NGX_HTTP_BETRACE_API_PARAMETER, "from",
                   "from: the range from..to is longer than 7 days");
    }

    return ngx_http_betrace_api_redis(r, ngx_http_betrace_counts_thread, q);
}


static void
ngx_http_betrace_counts_thread(ngx_http_betrace_api_job_t *job)
{
    ngx_http_betrace_counts_query_t *q = job->data;

    char          t[NGX_HTTP_BETRACE_TIME_LEN];
    char          tt[NGX_HTTP_BETRACE_TIME_LEN];
    void         *reply;
    int64_t       first, last, m, k, end;
    json_int_t    total, n, mt;
    ngx_uint_t    i;
    redisReply   *rep, *f, *v;
    json_t       *by_rule, *by_sev, *per_min, *rules, *pt;
    const char  *const *s;

    first = q->from / 60000;
    last = (q->to > q->from) ? (q->to - 1) / 60000 : first;

    by_rule = json_object();
    by_sev = json_object();
    per_min = json_array();

    if (by_rule == NULL || by_sev == NULL || per_min == NULL) {
        goto nomem;
    }

    for (s = ngx_http_betrace_counts_sevs; *s; s++) {
        json_object_set_new(by_sev, *s, json_integer(0));
    }

    total = 0;

    for (m = first; m <= last; m = end) {
        end = ngx_min(last + 1, m + NGX_HTTP_BETRACE_COUNTS_PIPE);

        for (k = m; k < end; k++) {
            if (redisAppendCommand(job->redis, "HGETALL %scounts:%lld",
                                   job->prefix, (long long) k)
                != REDIS_OK)
            {
                goto io;
            }
        }

        for (k = m; k < end; k++) {
            if (redisGetReply(job->redis, &reply) != REDIS_OK
                || reply == NULL)
            {
                goto io;
            }

            rep = reply;
            mt = 0;

            for (i = 0; rep->type == REDIS_REPLY_ARRAY
                        && i + 1 < rep->elements; i += 2)
            {
                f = rep->element[i];
                v = rep->element[i + 1];

                if (f->type != REDIS_REPLY_STRING
                    || v->type != REDIS_REPLY_STRING)
                {
                    continue;
                }

                n = strtoll(v->str, NULL, 10);

                if (ngx_strcmp(f->str, "total") == 0) {
                    mt = n;

                } else if (ngx_strncmp(f->str, "rule:", 5) == 0) {
                    if (ngx_http_betrace_counts_add(by_rule, f->str + 5, n)
                        != NGX_OK)
                    {
                        freeReplyObject(rep);
                        goto nomem;
                    }

                } else if (ngx_strncmp(f->str, "severity:", 9) == 0) {
                    if (ngx_http_betrace_counts_add(by_sev, f->str + 9, n)
                        != NGX_OK)
                    {
                        freeReplyObject(rep);
                        goto nomem;
                    }
                }
            }

            freeReplyObject(rep);

            total += mt;

            ngx_http_betrace_format_time(k * 60000, t);

            pt = json_pack("{s:s,s:I}", "minute", t, "count", mt);
            if (pt == NULL || json_array_append_new(per_min, pt) != 0) {
                goto nomem;
            }
        }
    }

    rules = ngx_http_betrace_counts_rules(job, by_rule);
    if (rules == NULL) {
        goto failed;
    }

    json_decref(by_rule);
    by_rule = NULL;

    ngx_http_betrace_format_time(q->from, t);
    ngx_http_betrace_format_time(q->to, tt);

    job->json = json_pack("{s:s,s:s,s:I,s:o,s:o,s:o}",
                          "from", t,
                          "to", tt,
                          "total", total,
                          "by_rule", rules,
                          "by_severity", by_sev,
                          "per_minute", per_min);

    if (job->json == NULL) {
        ngx_http_betrace_api_job_error(job, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                       "internal", "out of memory");
        return;
    }

    return;

io:

    /* the connection is dropped by the caller: c->err is set */

    ngx_http_betrace_api_job_error(job, NGX_HTTP_SERVICE_UNAVAILABLE,
                                   "redis_unavailable",
                                   "Redis is unavailable: %s",
                                   job->redis->errstr[0]
                                   ? job->redis->errstr : "no reply");
    goto failed;

nomem:

    /* replies may be left in the pipe: have the connection dropped */

    job->failed = 1;
    ngx_http_betrace_api_job_error(job, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                   "internal", "out of memory");

failed:

    json_decref(by_rule);
    json_decref(by_sev);
    json_decref(per_min);
}


static ngx_int_t
ngx_http_betrace_counts_add(json_t *obj, const char *key, json_int_t n)
{
    json_t  *v;

    v = json_object_get(obj, key);

    if (v == NULL) {
        return json_object_set_new(obj, key, json_integer(n)) == 0
               ? NGX_OK : NGX_ERROR;
    }

    return json_integer_set(v, json_integer_value(v) + n) == 0
           ? NGX_OK : NGX_ERROR;
}


/*
 * [{"rule_id", "rule_name", "severity", "count"}], largest count first;
 * a deleted rule keeps its counts with a null name.  NULL with the job's
 * error set.
 */

static json_t *
ngx_http_betrace_counts_rules(ngx_http_betrace_api_job_t *job,
    json_t *by_rule)
{
    size_t        i, n, *lens;
    json_t       *out, *v, *rule, *e, **all;
    redisReply   *vals;
    const char   *id, **argv;
    char        (*keys)[128];

    n = json_object_size(by_rule);

    out = json_array();
    if (out == NULL) {
        ngx_http_betrace_api_job_error(job, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                       "internal", "out of memory");
        return NULL;
    }

    if (n == 0) {
        return out;
    }

    argv = malloc((n + 1) * sizeof(char *));
    lens = malloc((n + 1) * sizeof(size_t));
    keys = malloc(n * sizeof(*keys));
    all = malloc(n * sizeof(json_t *));

    if (argv == NULL || lens == NULL || keys == NULL || all == NULL) {
        goto nomem;
    }

    argv[0] = "MGET";
    lens[0] = 4;
    i = 0;

    json_object_foreach(by_rule, id, v) {
        lens[i + 1] = ngx_snprintf((u_char *) keys[i], sizeof(keys[i]),
                                   "%srule:%*s", job->prefix,
                                   ngx_min(ngx_strlen(id), 64), id)
                      - (u_char *) keys[i];
        argv[i + 1] = keys[i];
        i++;
    }

    vals = ngx_http_betrace_api_command_argv(job, (int) n + 1, argv, lens);

    if (vals == NULL) {
        free(argv);
        free(lens);
        free(keys);
        free(all);
        json_decref(out);
        return NULL;
    }

    i = 0;

    json_object_foreach(by_rule, id, v) {
        rule = NULL;

        if (vals->type == REDIS_REPLY_ARRAY && i < vals->elements
            && vals->element[i]->type == REDIS_REPLY_STRING)
        {
            rule = json_loadb(vals->element[i]->str, vals->element[i]->len,
                              0, NULL);
        }

        e = json_pack("{s:s,s:O?,s:O?,s:I}",
                      "rule_id", id,
                      "rule_name", json_object_get(rule, "name"),
                      "severity", json_object_get(rule, "severity"),
                      "count", json_integer_value(v));
        json_decref(rule);

        if (e == NULL) {
            freeReplyObject(vals);
            while (i--) {
                json_decref(all[i]);
            }
            goto nomem;
        }

        all[i++] = e;
    }

    freeReplyObject(vals);

    qsort(all, n, sizeof(json_t *), ngx_http_betrace_counts_cmp);

    for (i = 0; i < n; i++) {
        json_array_append_new(out, all[i]);
    }

    free(argv);
    free(lens);
    free(keys);
    free(all);

    return out;

nomem:

    free(argv);
    free(lens);
    free(keys);
    free(all);
    json_decref(out);
    ngx_http_betrace_api_job_error(job, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                   "internal", "out of memory");
    return NULL;
}


static int
ngx_http_betrace_counts_cmp(const void *a, const void *b)
{
    json_t      *x, *y;
    json_int_t   cx, cy;

    x = *(json_t **) a;
    y = *(json_t **) b;

    cx = json_integer_value(json_object_get(x, "count"));
    cy = json_integer_value(json_object_get(y, "count"));

    if (cx != cy) {
        return cx > cy ? -1 : 1;
    }

    return ngx_strcmp(json_string_value(json_object_get(x, "rule_id")),
                      json_string_value(json_object_get(y, "rule_id")));
}
