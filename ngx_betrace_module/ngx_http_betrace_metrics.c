
/*
 * BeTrace nginx module: GET /metrics in Prometheus text format 0.0.4
 * (betrace_metrics).
 *
 * A module of its own in the shared object, with two directives:
 *
 *     location = /metrics { betrace_metrics; }
 *     betrace_metrics_auth on | off;       (default on)
 *
 * With auth on a scrape needs a read key (Prometheus: authorization {
 * credentials: ... } in the scrape config).  Scrapers often sit in a
 * trusted network without secrets management, so "off" turns the check
 * off for this location only; the API keeps its own betrace_auth.
 *
 * Counters come from the ring segment (producers' and the engine's), so a
 * scrape answers without Redis.  Signals per rule come from Redis through
 * a probe with betrace_redis_timeout as its deadline; when Redis is down
 * or slow they are left out and betrace_redis_up is 0, never a hung or
 * failed scrape.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <ngx_thread_pool.h>

#include "ngx_http_betrace_module.h"
#include "ngx_http_betrace_api_ops.h"


/* every sample of the segment, HELP and TYPE lines: about 6k */
#define NGX_HTTP_BETRACE_METRICS_LEN   8192
#define NGX_HTTP_BETRACE_METRICS_RULES 10000


typedef struct {
    ngx_flag_t             enabled;
    ngx_flag_t             auth;
    ngx_thread_pool_t     *thread_pool;
} ngx_http_betrace_metrics_loc_conf_t;


static void *ngx_http_betrace_metrics_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_betrace_metrics_merge_loc_conf(ngx_conf_t *cf,
    void *parent, void *child);
static char *ngx_http_betrace_metrics(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_betrace_metrics_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_betrace_metrics_auth(ngx_http_request_t *r);
static void ngx_http_betrace_metrics_rules(ngx_http_betrace_probe_t *probe);
static ngx_int_t ngx_http_betrace_metrics_done(ngx_http_request_t *r,
    ngx_http_betrace_probe_t *probe, ngx_uint_t timed_out);
static u_char *ngx_http_betrace_metrics_rule_samples(u_char *p,
    u_char *last, json_t *rules, const char *name, size_t col);
static u_char *ngx_http_betrace_metrics_segment(u_char *p, u_char *last);
static u_char *ngx_http_betrace_metrics_label(u_char *p, u_char *last,
    const char *s);


static ngx_command_t  ngx_http_betrace_metrics_commands[] = {

    { ngx_string("betrace_metrics"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_betrace_metrics,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("betrace_metrics_auth"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_betrace_metrics_loc_conf_t, auth),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_betrace_metrics_module_ctx = {
    NULL,                                  /* preconfiguration */
    NULL,                                  /* postconfiguration */

    NULL,                                  /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_betrace_metrics_create_loc_conf, /* create location conf */
    ngx_http_betrace_metrics_merge_loc_conf   /* merge location conf */
};


ngx_module_t  ngx_http_betrace_metrics_module = {
    NGX_MODULE_V1,
    &ngx_http_betrace_metrics_module_ctx,  /* module context */
    ngx_http_betrace_metrics_commands,     /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_str_t  ngx_http_betrace_metrics_pool = ngx_string("betrace");


static void *
ngx_http_betrace_metrics_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_betrace_metrics_loc_conf_t  *mlcf;

    mlcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_betrace_metrics_loc_conf_t));
    if (mlcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     mlcf->thread_pool = NULL;
     */

    mlcf->enabled = NGX_CONF_UNSET;
    mlcf->auth = NGX_CONF_UNSET;

    return mlcf;
}


static char *
ngx_http_betrace_metrics_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child)
{
    ngx_http_betrace_metrics_loc_conf_t *prev = parent;
    ngx_http_betrace_metrics_loc_conf_t *conf = child;

    ngx_http_betrace_api_main_conf_t  *amcf;

    ngx_conf_merge_value(conf->enabled, prev->enabled, 0);
    ngx_conf_merge_value(conf->auth, prev->auth, 1);

    if (!conf->enabled) {
        return NGX_CONF_OK;
    }

    amcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_betrace_api_module);

    if (conf->auth && amcf->keys_file.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"betrace_metrics\" needs \"betrace_api_keys\" "
                           "unless \"betrace_metrics_auth off\" is set");
        return NGX_CONF_ERROR;
    }

    /* the API's pool when there is an API; nginx's defaults otherwise */

    conf->thread_pool = amcf->thread_pool;

    if (conf->thread_pool == NULL) {
        conf->thread_pool = ngx_thread_pool_get(cf->cycle,
                                                &ngx_http_betrace_metrics_pool);
    }

    if (conf->thread_pool == NULL) {
        conf->thread_pool = ngx_thread_pool_add(cf,
                                                &ngx_http_betrace_metrics_pool);
        if (conf->thread_pool == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_betrace_metrics(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_betrace_metrics_loc_conf_t *mlcf = conf;

    ngx_http_core_loc_conf_t      *clcf;
    ngx_http_betrace_main_conf_t  *bmcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    if (clcf->handler) {
        return (char *) "is duplicate or conflicts with another content "
                        "handler";
    }

    clcf->handler = ngx_http_betrace_metrics_handler;
    mlcf->enabled = 1;

    /* the counters live in the ring segment: have it mapped */

    bmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_betrace_module);
    bmcf->used = 1;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_betrace_metrics_handler(ngx_http_request_t *r)
{
    ngx_int_t                             rc;
    ngx_http_betrace_metrics_loc_conf_t  *mlcf;
    ngx_http_betrace_api_main_conf_t     *amcf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return ngx_http_betrace_api_send_error(r, NGX_HTTP_NOT_ALLOWED,
                   "method_not_allowed", "%.*s is not allowed here; "
                   "allowed: GET, HEAD", (int) r->method_name.len,
                   r->method_name.data);
    }

    rc = ngx_http_discard_request_body(r);

    if (rc != NGX_OK) {
        return rc;
    }

    mlcf = ngx_http_get_module_loc_conf(r, ngx_http_betrace_metrics_module);

    if (mlcf->auth) {
        rc = ngx_http_betrace_metrics_auth(r);
        if (rc != NGX_OK) {
            return rc;
        }
    }

    amcf = ngx_http_get_module_main_conf(r, ngx_http_betrace_api_module);

    return ngx_http_betrace_probe_run(r, mlcf->thread_pool, amcf->timeout,
                                      ngx_http_betrace_metrics_rules,
                                      ngx_http_betrace_metrics_done, NULL);
}


/*
 * A read key in "Authorization: Bearer", looked up as the API does.
 * Returns NGX_OK, or what to finalize with after a JSON 401/403.  Unlike
 * the API, auth on without betrace_api_keys refuses every scrape.
 */

static ngx_int_t
ngx_http_betrace_metrics_auth(ngx_http_request_t *r)
{
    ngx_int_t                          rc;
    ngx_str_t                          name;
    ngx_uint_t                         roles;
    ngx_http_betrace_api_main_conf_t  *amcf;

    amcf = ngx_http_get_module_main_conf(r, ngx_http_betrace_api_module);

    rc = (amcf->keys == NULL)
         ? NGX_DECLINED
         : ngx_http_betrace_api_authenticate(r, amcf, &roles, &name);

    if (rc != NGX_OK) {
        return ngx_http_betrace_api_unauthorized(r,
                   r->headers_in.authorization == NULL
                   ? "an API key is required (Authorization: Bearer <key>)"
                   : "unknown API key");
    }

    if (!(roles & NGX_HTTP_BETRACE_ROLE_READ)) {
        return ngx_http_betrace_api_send_error(r, NGX_HTTP_FORBIDDEN,
                   "forbidden", "the key does not have the read role");
    }

    return NGX_OK;
}


/*
 * In a pool thread, into probe->job.json: {"rules": [[rule id, name,
 * severity, stored signals, signals ever], ...], "severities": {sev: n}},
 * from P counts:all, P rules, P rule:<id> and P signals:rule:<id>.
 */

static void
ngx_http_betrace_metrics_rules(ngx_http_betrace_probe_t *probe)
{
    void         *reply;
    size_t        i, n;
    json_t       *out, *rules, *sevs, *totals, *rule, *e;
    redisReply   *all, *ids, *vals, *rep;

    all = ngx_http_betrace_api_command(&probe->job, "HGETALL %scounts:all",
                                       probe->job.prefix);
    if (all == NULL) {
        return;
    }

    ids = ngx_http_betrace_api_command(&probe->job, "ZRANGE %srules 0 %d",
                                       probe->job.prefix,
                                       NGX_HTTP_BETRACE_METRICS_RULES - 1);
    if (ids == NULL) {
        freeReplyObject(all);
        return;
    }

    vals = NULL;
    totals = NULL;

    out = json_object();
    if (out == NULL) {
        goto failed;
    }

    /* json_object_set_new() takes the reference even when it fails */

    rules = json_array();
    if (json_object_set_new(out, "rules", rules) != 0) {
        goto failed;
    }

    sevs = json_object();
    if (json_object_set_new(out, "severities", sevs) != 0) {
        goto failed;
    }

    totals = json_object();
    if (totals == NULL) {
        goto failed;
    }

    /* "rule:<id>" and "severity:<sev>" fields, values as decimal text */

    for (i = 0; all->type == REDIS_REPLY_ARRAY && i + 1 < all->elements;
         i += 2)
    {
        if (all->element[i]->type != REDIS_REPLY_STRING
            || all->element[i + 1]->type != REDIS_REPLY_STRING)
        {
            continue;
        }

        e = json_integer(ngx_atoof((u_char *) all->element[i + 1]->str,
                                   all->element[i + 1]->len));

        if (ngx_strncmp(all->element[i]->str, "rule:", 5) == 0) {
            json_object_set_new(totals, all->element[i]->str + 5, e);

        } else if (ngx_strncmp(all->element[i]->str, "severity:", 9) == 0) {
            json_object_set_new(sevs, all->element[i]->str + 9, e);

        } else {
            json_decref(e);
        }
    }

    n = (ids->type == REDIS_REPLY_ARRAY) ? ids->elements : 0;

    if (n == 0) {
        goto done;
    }

    vals = ngx_http_betrace_api_mget(&probe->job, "rule:", ids->element, n,
                                     1);
    if (vals == NULL) {
        goto failed;
    }

    /* one round trip for every rule's count */

    for (i = 0; i < n; i++) {
        if (redisAppendCommand(probe->job.redis, "ZCARD %ssignals:rule:%b",
                               probe->job.prefix, ids->element[i]->str,
                               ids->element[i]->len)
            != REDIS_OK)
        {
            goto failed;
        }
    }

    for (i = 0; i < n; i++) {
        if (redisGetReply(probe->job.redis, &reply) != REDIS_OK
            || reply == NULL)
        {
            ngx_cpystrn((u_char *) probe->error,
                        (u_char *) probe->job.redis->errstr,
                        sizeof(probe->error));
            goto failed;
        }

        rep = reply;
        rule = NULL;

        if (vals->type == REDIS_REPLY_ARRAY && i < vals->elements
            && vals->element[i]->type == REDIS_REPLY_STRING)
        {
            rule = json_loadb(vals->element[i]->str, vals->element[i]->len,
                              0, NULL);
        }

        e = json_pack("[s#,O?,O?,I,I]",
                      ids->element[i]->str, ids->element[i]->len,
                      json_object_get(rule, "name"),
                      json_object_get(rule, "severity"),
                      (json_int_t) (rep->type == REDIS_REPLY_INTEGER
                                    ? rep->integer : 0),
                      json_integer_value(json_object_get(totals,
                                             ids->element[i]->str)));

        json_decref(rule);
        freeReplyObject(rep);

        if (e != NULL) {
            json_array_append_new(rules, e);
        }
    }

done:

    freeReplyObject(vals);
    freeReplyObject(ids);
    freeReplyObject(all);
    json_decref(totals);

    probe->job.json = out;
    probe->redis_ok = 1;

    return;

failed:

    /* a pipeline may be left half read: have the connection dropped */

    probe->job.failed = 1;

    if (probe->error[0] == '\0') {
        ngx_cpystrn((u_char *) probe->error, (u_char *) "out of memory",
                    sizeof(probe->error));
    }

    if (vals) {
        freeReplyObject(vals);
    }

    freeReplyObject(ids);
    freeReplyObject(all);
    json_decref(totals);
    json_decref(out);
}


/* one labelled sample per rule: name{rule_id="",rule="",severity=""} v */

static u_char *
ngx_http_betrace_metrics_rule_samples(u_char *p, u_char *last, json_t *rules,
    const char *name, size_t col)
{
    size_t       i;
    json_t      *e;
    const char  *s;

    for (i = 0; i < json_array_size(rules); i++) {
        e = json_array_get(rules, i);

        p = ngx_slprintf(p, last, "%s{rule_id=\"", name);
        p = ngx_http_betrace_metrics_label(p, last,
                json_string_value(json_array_get(e, 0)));
        p = ngx_slprintf(p, last, "\",rule=\"");
        s = json_string_value(json_array_get(e, 1));
        p = ngx_http_betrace_metrics_label(p, last, s ? s : "");
        p = ngx_slprintf(p, last, "\",severity=\"");
        s = json_string_value(json_array_get(e, 2));
        p = ngx_http_betrace_metrics_label(p, last, s ? s : "");
        p = ngx_slprintf(p, last, "\"} %L\n",
                         (int64_t) json_integer_value(json_array_get(e, col)));
    }

    return p;
}


static ngx_int_t
ngx_http_betrace_metrics_done(ngx_http_request_t *r,
    ngx_http_betrace_probe_t *probe, ngx_uint_t timed_out)
{
    size_t        len, i;
    u_char       *p, *last;
    json_t       *rules, *sevs, *e;
    ngx_buf_t    *b;
    ngx_uint_t    up;
    const char   *sev;

    /* after a deadline the thread may still write the probe: don't read */

    up = !timed_out && probe->redis_ok && json_is_object(probe->job.json);
    rules = up ? json_object_get(probe->job.json, "rules") : NULL;
    sevs = up ? json_object_get(probe->job.json, "severities") : NULL;

    len = NGX_HTTP_BETRACE_METRICS_LEN;

    for (i = 0; rules && i < json_array_size(rules); i++) {
        e = json_array_get(rules, i);
        len += 2 * (128 + 2 * (json_string_length(json_array_get(e, 0))
                               + json_string_length(json_array_get(e, 1))
                               + json_string_length(json_array_get(e, 2))));
    }

    json_object_foreach(sevs, sev, e) {
        len += 64 + 2 * ngx_strlen(sev);
    }

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = b->pos;
    last = b->end;

    p = ngx_http_betrace_metrics_segment(p, last);

    p = ngx_slprintf(p, last,
            "# HELP betrace_redis_up Whether nginx reached Redis for this "
            "scrape (1) or not (0).\n"
            "# TYPE betrace_redis_up gauge\n"
            "betrace_redis_up %ui\n", up);

    if (rules) {
        p = ngx_slprintf(p, last,
                "# HELP betrace_signals_total Signals created per rule since "
                "Redis was set up (retention does not lower it).\n"
                "# TYPE betrace_signals_total counter\n");
        p = ngx_http_betrace_metrics_rule_samples(p, last, rules,
                                                  "betrace_signals_total", 4);

        p = ngx_slprintf(p, last,
                "# HELP betrace_signals_stored Signals stored in Redis per "
                "rule (retention removes the oldest).\n"
                "# TYPE betrace_signals_stored gauge\n");
        p = ngx_http_betrace_metrics_rule_samples(p, last, rules,
                                                  "betrace_signals_stored", 3);
    }

    if (sevs) {
        p = ngx_slprintf(p, last,
                "# HELP betrace_signals_severity_total Signals created per "
                "severity (of the rule when the signal was raised).\n"
                "# TYPE betrace_signals_severity_total counter\n");

        json_object_foreach(sevs, sev, e) {
            p = ngx_slprintf(p, last,
                             "betrace_signals_severity_total{severity=\"");
            p = ngx_http_betrace_metrics_label(p, last, sev);
            p = ngx_slprintf(p, last, "\"} %L\n",
                             (int64_t) json_integer_value(e));
        }
    }

    b->last = p;

    return ngx_http_betrace_send(r, NGX_HTTP_OK,
                                 "text/plain; version=0.0.4; charset=utf-8",
                                 b);
}

#define ngx_http_betrace_metric(p, last, name, type, help, fmt, v)           \
    ngx_slprintf(p, last, "# HELP " name " " help "\n# TYPE " name " "      \
                 type "\n" name fmt "\n", v)

#define ngx_http_betrace_ld(f)  __atomic_load_n(&(f), __ATOMIC_RELAXED)


/* the counters of the ring segment; nothing when it is not mapped */

static u_char *
ngx_http_betrace_metrics_segment(u_char *p, u_char *last)
{
    uint64_t              used, total, hb, now;
    bt_shm_t             *shm;
    bt_engine_stats_t    *es;
    bt_producer_stats_t   ps;

    shm = ngx_http_betrace_ring.shm;

    p = ngx_http_betrace_metric(p, last, "betrace_ring_mapped", "gauge",
            "Whether this nginx worker has the ring segment mapped.",
            " %ui", (ngx_uint_t) (shm != NULL));

    if (shm == NULL) {
        return p;
    }

    bt_shm_producer_totals(shm, &ps);
    bt_shm_usage(shm, &used, &total);
    es = bt_shm_engine_stats(shm);

    p = ngx_http_betrace_metric(p, last, "betrace_spans_accepted_total",
            "counter", "Spans accepted over OTLP/HTTP and written to the "
            "ring.", " %uL", ps.spans_accepted);
    p = ngx_http_betrace_metric(p, last, "betrace_spans_rejected_total",
            "counter", "Spans refused (limits, bad data; partial success).",
            " %uL", ps.spans_rejected);

    p = ngx_slprintf(p, last,
            "# HELP betrace_requests_total OTLP/HTTP requests answered, by "
            "status class.\n"
            "# TYPE betrace_requests_total counter\n"
            "betrace_requests_total{class=\"2xx\"} %uL\n"
            "betrace_requests_total{class=\"4xx_5xx\"} %uL\n",
            ps.requests - ngx_min(ps.requests, ps.requests_rejected),
            ps.requests_rejected);

    p = ngx_http_betrace_metric(p, last, "betrace_requests_ring_full_total",
            "counter", "OTLP requests refused with 429/503 for lack of ring "
            "space.", " %uL", ps.ring_full);
    p = ngx_http_betrace_metric(p, last, "betrace_received_bytes_total",
            "counter", "OTLP request bodies after decompression, in bytes.",
            " %uL", ps.bytes_received);
    p = ngx_http_betrace_metric(p, last, "betrace_ring_bytes_used", "gauge",
            "Bytes held in the ring, all slots.", " %uL", used);
    p = ngx_http_betrace_metric(p, last, "betrace_ring_bytes_total", "gauge",
            "Ring capacity in bytes, all slots.", " %uL", total);

    p = ngx_http_betrace_metric(p, last, "betrace_spans_consumed_total",
            "counter", "Spans read from the ring by the engine.", " %uL",
            ngx_http_betrace_ld(es->spans_consumed));
    p = ngx_http_betrace_metric(p, last, "betrace_records_corrupt_total",
            "counter", "Ring records skipped for a bad checksum or format.",
            " %uL", ngx_http_betrace_ld(es->records_corrupt));
    p = ngx_http_betrace_metric(p, last, "betrace_traces_in_flight", "gauge",
            "Traces being assembled by the engine.", " %uL",
            ngx_http_betrace_ld(es->traces_in_flight));
    p = ngx_http_betrace_metric(p, last, "betrace_spans_in_flight", "gauge",
            "Spans of traces being assembled.", " %uL",
            ngx_http_betrace_ld(es->spans_in_flight));
    p = ngx_http_betrace_metric(p, last, "betrace_traces_completed_total",
            "counter", "Traces completed by the engine.", " %uL",
            ngx_http_betrace_ld(es->traces_completed));
    p = ngx_http_betrace_metric(p, last, "betrace_traces_forced_total",
            "counter", "Traces completed early by the in-flight memory cap.",
            " %uL", ngx_http_betrace_ld(es->traces_forced));
    p = ngx_http_betrace_metric(p, last, "betrace_traces_reopened_total",
            "counter", "Late spans that re-opened a completed trace.",
            " %uL", ngx_http_betrace_ld(es->traces_reopened));

    p = ngx_http_betrace_metric(p, last, "betrace_rules_loaded", "gauge",
            "Enabled rules in the engine's current rule set.", " %uL",
            ngx_http_betrace_ld(es->rules_loaded));
    p = ngx_http_betrace_metric(p, last, "betrace_rules_failed", "gauge",
            "Enabled rules that did not compile in the engine.", " %uL",
            ngx_http_betrace_ld(es->rules_failed));
    p = ngx_http_betrace_metric(p, last, "betrace_evaluations_total",
            "counter", "Completed traces evaluated against the rule set.",
            " %uL", ngx_http_betrace_ld(es->evaluations));
    p = ngx_http_betrace_metric(p, last, "betrace_rule_evaluations_total",
            "counter", "Rule evaluations (rules times traces).", " %uL",
            ngx_http_betrace_ld(es->rule_evaluations));
    p = ngx_http_betrace_metric(p, last, "betrace_signals_emitted_total",
            "counter", "Rule firings queued for Redis by the engine.",
            " %uL", ngx_http_betrace_ld(es->signals_emitted));
    p = ngx_http_betrace_metric(p, last, "betrace_signals_written_total",
            "counter", "Signals created in Redis by this engine process "
            "(restarts at 0 with it).", " %uL",
            ngx_http_betrace_ld(es->signals_written));
    p = ngx_http_betrace_metric(p, last, "betrace_signals_dropped_total",
            "counter", "Rule firings lost because the engine's queue was "
            "full.", " %uL", ngx_http_betrace_ld(es->signals_dropped));
    p = ngx_http_betrace_metric(p, last,
            "betrace_signals_unprotected_total", "counter",
            "Signals whose trace left the ring before Redis had them (a "
            "long Redis outage; lost only if the engine is killed).",
            " %uL", ngx_http_betrace_ld(es->signals_unprotected));
    p = ngx_http_betrace_metric(p, last, "betrace_signals_pending", "gauge",
            "Signals waiting in the engine's queue for Redis.", " %uL",
            ngx_http_betrace_ld(es->signals_pending));
    p = ngx_http_betrace_metric(p, last, "betrace_redis_errors_total",
            "counter", "Failed Redis connects and commands in the engine.",
            " %uL", ngx_http_betrace_ld(es->redis_errors));
    p = ngx_http_betrace_metric(p, last, "betrace_engine_redis_connected",
            "gauge", "Whether the engine is connected to Redis.", " %uL",
            ngx_http_betrace_ld(es->redis_connected) ? 1 : 0);

    p = ngx_slprintf(p, last,
            "# HELP betrace_signal_latency_seconds Time from a trace's "
            "completion to its signal stored in Redis (recent window).\n"
            "# TYPE betrace_signal_latency_seconds gauge\n"
            "betrace_signal_latency_seconds{quantile=\"0.5\"} %uL.%06uL\n"
            "betrace_signal_latency_seconds{quantile=\"0.99\"} "
            "%uL.%06uL\n",
            ngx_http_betrace_ld(es->signal_latency_p50_us) / 1000000,
            ngx_http_betrace_ld(es->signal_latency_p50_us) % 1000000,
            ngx_http_betrace_ld(es->signal_latency_p99_us) / 1000000,
            ngx_http_betrace_ld(es->signal_latency_p99_us) % 1000000);

    hb = ngx_http_betrace_ld(es->heartbeat_ms);
    now = (uint64_t) ngx_http_betrace_now_ms();

    p = ngx_http_betrace_metric(p, last, "betrace_engine_up", "gauge",
            "Whether the engine's heartbeat is fresh.", " %ui",
            ngx_http_betrace_engine_alive(shm));

    if (hb) {
        hb = now > hb ? now - hb : 0;

        p = ngx_slprintf(p, last,
                "# HELP betrace_engine_heartbeat_age_seconds Seconds since "
                "the engine's last heartbeat.\n"
                "# TYPE betrace_engine_heartbeat_age_seconds gauge\n"
                "betrace_engine_heartbeat_age_seconds %uL.%03uL\n",
                hb / 1000, hb % 1000);
    }

    return p;
}


/* a label value: backslash, double quote and newline escaped */

static u_char *
ngx_http_betrace_metrics_label(u_char *p, u_char *last, const char *s)
{
    for ( /* void */ ; *s && p + 2 <= last; s++) {
        if (*s == '\\' || *s == '"') {
            *p++ = '\\';
            *p++ = (u_char) *s;

        } else if (*s == '\n') {
            *p++ = '\\';
            *p++ = 'n';

        } else {
            *p++ = (u_char) *s;
        }
    }

    return p;
}
