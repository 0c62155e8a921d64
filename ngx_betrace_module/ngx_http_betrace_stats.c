
/*
 * BeTrace nginx module: GET stats as JSON (betrace_stats).
 *
 * Everything comes from the shared segment: the producer counters of every
 * slot summed, the engine's own counters and heartbeat, and ring usage.  No
 * Redis round trip, so it answers even when only nginx is up.  The JSON is
 * written by hand: it is flat numbers and one bool.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_betrace_module.h"


/* 18 numbers of at most 20 digits plus the keys */
#define NGX_HTTP_BETRACE_STATS_LEN  1024


static uint64_t ngx_http_betrace_load(uint64_t *p);


static uint64_t
ngx_http_betrace_load(uint64_t *p)
{
    return __atomic_load_n(p, __ATOMIC_RELAXED);
}


ngx_int_t
ngx_http_betrace_stats_handler(ngx_http_request_t *r)
{
    u_char               *p, *last;
    uint64_t              used, total;
    ngx_int_t             rc;
    ngx_buf_t            *b;
    ngx_chain_t           out;
    bt_shm_t             *shm;
    bt_engine_stats_t    *es;
    bt_producer_stats_t   ps;

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

    bt_shm_producer_totals(shm, &ps);
    bt_shm_usage(shm, &used, &total);
    es = bt_shm_engine_stats(shm);

    p = b->pos;
    last = b->end;

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

    p = ngx_slprintf(p, last,
                     "\"ring_bytes_used\":%uL,\"ring_bytes_total\":%uL,"
                     "\"engine\":{\"pid\":%uL,\"heartbeat_ms\":%uL,"
                     "\"alive\":%s}}\n",
                     used, total,
                     ngx_http_betrace_load(&es->pid),
                     ngx_http_betrace_load(&es->heartbeat_ms),
                     ngx_http_betrace_engine_alive(shm) ? "true" : "false");

    b->last = p;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = b->last - b->pos;
    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}
