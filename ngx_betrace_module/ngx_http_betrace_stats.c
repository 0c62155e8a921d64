
/*
 * BeTrace nginx module: GET stats as JSON (betrace_stats).
 *
 * Everything comes from the shared segment: the producer counters of every
 * slot summed, the engine's own counters and heartbeat, and ring usage.  No
 * Redis round trip, so it answers even when only nginx is up.  The JSON is
 * written by hand: it is flat numbers and a few bools.  The same JSON is
 * served by a betrace_stats location and by GET /api/v1/stats in the API.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_betrace_module.h"
#include "ngx_http_betrace_api_ops.h"


/* 31 numbers of at most 20 digits plus the keys */
#define NGX_HTTP_BETRACE_STATS_LEN  2048


static uint64_t ngx_http_betrace_load(uint64_t *p);


static uint64_t
ngx_http_betrace_load(uint64_t *p)
{
    return __atomic_load_n(p, __ATOMIC_RELAXED);
}


ngx_int_t
ngx_http_betrace_stats_handler(ngx_http_request_t *r)
{
    ngx_int_t     rc;
    ngx_buf_t    *b;
    bt_shm_t     *shm;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);

    if (rc != NGX_OK) {
        return rc;
    }

    shm = ngx_http_betrace_ring.shm;

    if (shm == NULL) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "betrace stats: this worker has no ring segment");
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    b = ngx_create_temp_buf(r->pool, NGX_HTTP_BETRACE_STATS_LEN);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->last = ngx_http_betrace_stats_write(shm, b->pos, b->end);

    return ngx_http_betrace_send(r, NGX_HTTP_OK, "application/json", b);
}


/* GET /api/v1/stats through the API router: the same JSON */

ngx_int_t
ngx_http_betrace_api_stats(ngx_http_request_t *r,
    ngx_http_betrace_api_ctx_t *ctx)
{
    json_t        *json;
    u_char        *p, *last;
    json_error_t   err;

    if (ngx_http_betrace_ring.shm == NULL) {
        return ngx_http_betrace_api_send_error(r,
                   NGX_HTTP_SERVICE_UNAVAILABLE, "no_ring",
                   "this nginx worker has no ring segment mapped");
    }

    p = ngx_pnalloc(r->pool, NGX_HTTP_BETRACE_STATS_LEN);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    last = ngx_http_betrace_stats_write(ngx_http_betrace_ring.shm, p,
                                        p + NGX_HTTP_BETRACE_STATS_LEN);

    json = json_loadb((char *) p, last - p, 0, &err);
    if (json == NULL) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "betrace stats: bad JSON written: %s", err.text);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_betrace_api_send_json(r, NGX_HTTP_OK, json);
}


u_char *
ngx_http_betrace_stats_write(bt_shm_t *shm, u_char *p, u_char *last)
{
    uint64_t              used, total;
    bt_engine_stats_t    *es;
    bt_producer_stats_t   ps;

    bt_shm_producer_totals(shm, &ps);
    bt_shm_usage(shm, &used, &total);
    es = bt_shm_engine_stats(shm);

    p = ngx_slprintf(p, last,
                     "{\"spans_accepted\":%uL,\"spans_rejected\":%uL,"
                     "\"requests\":%uL,\"requests_rejected\":%uL,"
                     "\"ring_full\":%uL,\"bytes_received\":%uL,",
                     ps.spans_accepted, ps.spans_rejected,
                     ps.requests, ps.requests_rejected,
                     ps.ring_full, ps.bytes_received);

    p = ngx_slprintf(p, last,
                     "\"spans_consumed\":%uL,\"records_corrupt\":%uL,"
                     "\"traces_in_flight\":%uL,\"spans_in_flight\":%uL,"
                     "\"traces_completed\":%uL,\"traces_forced\":%uL,"
                     "\"traces_reopened\":%uL,",
                     ngx_http_betrace_load(&es->spans_consumed),
                     ngx_http_betrace_load(&es->records_corrupt),
                     ngx_http_betrace_load(&es->traces_in_flight),
                     ngx_http_betrace_load(&es->spans_in_flight),
                     ngx_http_betrace_load(&es->traces_completed),
                     ngx_http_betrace_load(&es->traces_forced),
                     ngx_http_betrace_load(&es->traces_reopened));

    /* rules and signals: written by the engine's evaluation and I/O sides */

    p = ngx_slprintf(p, last,
                     "\"rules_loaded\":%uL,\"rules_failed\":%uL,"
                     "\"rules_version\":%uL,\"evaluations\":%uL,"
                     "\"rule_evaluations\":%uL,\"signals_emitted\":%uL,"
                     "\"signals_written\":%uL,\"signals_dropped\":%uL,"
                     "\"signals_pending\":%uL,\"signals_unprotected\":%uL,"
                     "\"redis_errors\":%uL,"
                     "\"redis_connected\":%s,"
                     "\"signal_latency_p50_us\":%uL,"
                     "\"signal_latency_p99_us\":%uL,",
                     ngx_http_betrace_load(&es->rules_loaded),
                     ngx_http_betrace_load(&es->rules_failed),
                     ngx_http_betrace_load(&es->rules_version),
                     ngx_http_betrace_load(&es->evaluations),
                     ngx_http_betrace_load(&es->rule_evaluations),
                     ngx_http_betrace_load(&es->signals_emitted),
                     ngx_http_betrace_load(&es->signals_written),
                     ngx_http_betrace_load(&es->signals_dropped),
                     ngx_http_betrace_load(&es->signals_pending),
                     ngx_http_betrace_load(&es->signals_unprotected),
                     ngx_http_betrace_load(&es->redis_errors),
                     ngx_http_betrace_load(&es->redis_connected)
                     ? "true" : "false",
                     ngx_http_betrace_load(&es->signal_latency_p50_us),
                     ngx_http_betrace_load(&es->signal_latency_p99_us));

    p = ngx_slprintf(p, last,
                     "\"ring_bytes_used\":%uL,\"ring_bytes_total\":%uL,"
                     "\"engine\":{\"pid\":%uL,\"heartbeat_ms\":%uL,"
                     "\"alive\":%s}}\n",
                     used, total,
                     ngx_http_betrace_load(&es->pid),
                     ngx_http_betrace_load(&es->heartbeat_ms),
                     ngx_http_betrace_engine_alive(shm) ? "true" : "false");

    return p;
}
