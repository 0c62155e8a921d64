
/*
 * BeTrace nginx module: what its files share.
 *
 * ngx_http_betrace_module.c   directives, configuration, process hooks
 * ngx_http_betrace_ring.c     the shared segment and this worker's slot
 * ngx_http_betrace_otlp.c     POST /v1/traces (OTLP/HTTP)
 * ngx_http_betrace_stats.c    GET stats JSON read from the segment
 */


#ifndef _NGX_HTTP_BETRACE_MODULE_H_INCLUDED_
#define _NGX_HTTP_BETRACE_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "shm/bt_ring.h"


/* an engine whose heartbeat is older than this is taken for dead */
#define NGX_HTTP_BETRACE_ENGINE_STALE_MS  5000


typedef struct {
    ngx_str_t                  ring_path;
    bt_shm_geometry_t          geometry;
    ngx_uint_t                 used;        /* a location uses the ring */
} ngx_http_betrace_main_conf_t;


typedef struct {
    size_t                     max_body_size;
    ngx_uint_t                 max_spans;
    ngx_uint_t                 max_attributes;
    size_t                     max_value_length;
    ngx_uint_t                 max_depth;
    time_t                     retry_after;
} ngx_http_betrace_loc_conf_t;


/* per process: the mapped segment and the slot this worker owns */
typedef struct {
    bt_shm_t                  *shm;
    ngx_int_t                  slot;        /* -1: none */
    time_t                     next_claim;  /* when to retry a failed claim */
    ngx_uint_t                 claim_logged;
    u_char                    *path;
} ngx_http_betrace_ring_t;


extern ngx_module_t             ngx_http_betrace_module;
extern ngx_http_betrace_ring_t  ngx_http_betrace_ring;


ngx_int_t ngx_http_betrace_ring_check(ngx_cycle_t *cycle,
    ngx_http_betrace_main_conf_t *bmcf);
ngx_int_t ngx_http_betrace_ring_open(ngx_cycle_t *cycle,
    ngx_http_betrace_main_conf_t *bmcf);
void ngx_http_betrace_ring_close(ngx_cycle_t *cycle);
bt_producer_stats_t *ngx_http_betrace_ring_slot(ngx_log_t *log);
ngx_uint_t ngx_http_betrace_engine_alive(bt_shm_t *shm);

ngx_int_t ngx_http_betrace_otlp_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_betrace_stats_handler(ngx_http_request_t *r);

/*
 * Sends b (the whole body, b->last set) as the response with status,
 * Content-Length and Content-Type type (a static string; parameters after
 * ';' allowed).  Returns what to finalize the request with.
 */
ngx_int_t ngx_http_betrace_send(ngx_http_request_t *r, ngx_uint_t status,
    const char *type, ngx_buf_t *b);


/*
 * Each slot's counters have one writer, this worker, so a relaxed load and
 * store is enough (no locked add); readers sum the slots with relaxed loads.
 */
static ngx_inline void
ngx_http_betrace_count(uint64_t *counter, uint64_t n)
{
    __atomic_store_n(counter, __atomic_load_n(counter, __ATOMIC_RELAXED) + n,
                     __ATOMIC_RELAXED);
}


#endif /* _NGX_HTTP_BETRACE_MODULE_H_INCLUDED_ */
