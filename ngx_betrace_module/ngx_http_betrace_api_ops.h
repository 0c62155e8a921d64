
/*
 * BeTrace nginx module: the REST API's read side and operations.
 *
 * ngx_http_betrace_api_signals.c  /signals, /signals/{id} (GET, PATCH)
 * ngx_http_betrace_api_counts.c   /signals/counts
 * ngx_http_betrace_api_traces.c   /traces/{trace_id}
 * ngx_http_betrace_api_health.c   /health, /stats
 * ngx_http_betrace_api_probe.c    Redis jobs with a deadline (health,
 *                                 metrics): the caller renders the reply
 * ngx_http_betrace_api_time.c     RFC 3339 / Unix ms times, query values
 * ngx_http_betrace_metrics.c      GET /metrics (betrace_metrics), a module
 *
 * The endpoints plug into the router of ngx_http_betrace_api.h; the keys
 * they read are those of docs/internals.md, "Redis: keys and values".
 */


#ifndef _NGX_HTTP_BETRACE_API_OPS_H_INCLUDED_
#define _NGX_HTTP_BETRACE_API_OPS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_betrace_module.h"
#include "ngx_http_betrace_api.h"


#define NGX_HTTP_BETRACE_TIME_LEN  sizeof("2026-11-25T16:30:00.123Z")


typedef struct ngx_http_betrace_probe_s  ngx_http_betrace_probe_t;

/* runs in a pool thread with probe->job ready for the command functions */
typedef void (*ngx_http_betrace_probe_pt)(ngx_http_betrace_probe_t *probe);

/* runs in the worker; timed_out: the thread did not finish in time */
typedef ngx_int_t (*ngx_http_betrace_probe_done_pt)(ngx_http_request_t *r,
    ngx_http_betrace_probe_t *probe, ngx_uint_t timed_out);


struct ngx_http_betrace_probe_s {
    ngx_http_betrace_api_job_t       job;      /* redis, prefix, json, ... */
    ngx_http_betrace_probe_pt        handler;
    ngx_http_betrace_probe_done_pt   done;

    /* set by the thread */
    ngx_uint_t                       redis_ok;
    ngx_msec_t                       latency_us;
    char                             error[128];

    /* private */
    ngx_thread_task_t                task;
    ngx_http_request_t              *request;  /* NULL once answered */
    ngx_event_t                      timer;
    void                            *data;
};


/* --- endpoints ------------------------------------------------------------ */

ngx_int_t ngx_http_betrace_api_signals_list(ngx_http_request_t *r,
    ngx_http_betrace_api_ctx_t *ctx);
ngx_int_t ngx_http_betrace_api_signal_get(ngx_http_request_t *r,
    ngx_http_betrace_api_ctx_t *ctx);
ngx_int_t ngx_http_betrace_api_signal_patch(ngx_http_request_t *r,
    ngx_http_betrace_api_ctx_t *ctx);
ngx_int_t ngx_http_betrace_api_signals_counts(ngx_http_request_t *r,
    ngx_http_betrace_api_ctx_t *ctx);
ngx_int_t ngx_http_betrace_api_trace_get(ngx_http_request_t *r,
    ngx_http_betrace_api_ctx_t *ctx);
ngx_int_t ngx_http_betrace_api_health(ngx_http_request_t *r,
    ngx_http_betrace_api_ctx_t *ctx);
ngx_int_t ngx_http_betrace_api_stats(ngx_http_request_t *r,
    ngx_http_betrace_api_ctx_t *ctx);


/*
 * Writes the stats JSON (one line) of the segment into p..last and returns
 * the new end.  Reads relaxed atomics only; can't fail (truncates at last).
 */
u_char *ngx_http_betrace_stats_write(bt_shm_t *shm, u_char *p, u_char *last);


/* --- probes --------------------------------------------------------------- */

/*
 * Runs handler(probe) in a thread of the "betrace" pool (pool may be given
 * for a location without betrace_api), then done(r, probe, 0) in the
 * worker.  If the thread has not finished after timeout ms (a Redis that
 * does not answer, a pool busy with such requests), done(r, probe, 1) runs
 * instead and the late result is thrown away.  A Redis that cannot be
 * reached leaves probe->redis_ok 0 with probe->error set, and done still
 * runs.  The probe is heap memory owned by this file: done must not keep
 * it.  Returns NGX_DONE, or an HTTP status when nothing could be posted.
 */
ngx_int_t ngx_http_betrace_probe_run(ngx_http_request_t *r,
    ngx_thread_pool_t *pool, ngx_msec_t timeout,
    ngx_http_betrace_probe_pt handler, ngx_http_betrace_probe_done_pt done,
    void *data);


/* --- times and query values ----------------------------------------------- */

/*
 * Parses an RFC 3339 time ("2026-11-25T16:30:00Z", fractions and offsets
 * allowed) or a whole number of Unix milliseconds.  Returns the Unix ms,
 * or -1 when s is neither.  Pure: safe in a pool thread.
 */
int64_t ngx_http_betrace_parse_time(const u_char *s, size_t len);

/*
 * Writes ms as "2026-11-25T16:30:00.123Z" (NUL-terminated) into buf of
 * NGX_HTTP_BETRACE_TIME_LEN bytes.  Pure; can't fail.
 */
void ngx_http_betrace_format_time(int64_t ms, char *buf);

/* Wall clock in Unix ms (nginx's cached time in the worker). */
int64_t ngx_http_betrace_now_ms(void);

/*
 * The system clock in Unix ms, to the millisecond and safe in a pool
 * thread (nginx's cached time is the worker's and lags by an event loop
 * turn).  Can't fail.
 */
int64_t ngx_http_betrace_clock_ms(void);

/*
 * Query argument name as a time.  Returns NGX_OK with *ms set,
 * NGX_DECLINED when absent (*ms unchanged), or NGX_ERROR after answering
 * 400 naming the argument (*rc is what to finalize with).
 */
ngx_int_t ngx_http_betrace_arg_time(ngx_http_request_t *r, const char *name,
    int64_t *ms, ngx_int_t *rc);

/*
 * Refuses a query string naming a parameter that is not in allowed
 * (NULL-terminated; NULL: the endpoint takes none), so a typo
 * ("severty=high") is a 400 rather than a filter silently not applied.
 * The router calls it with the route's args for every request.  Returns
 * NGX_OK, or NGX_ERROR after answering 400 invalid_parameter naming the
 * parameter and listing the known ones (*rc is what to finalize with).
 */
ngx_int_t ngx_http_betrace_check_args(ngx_http_request_t *r,
    const char *const *allowed, ngx_int_t *rc);

/*
 * A request value as it may be quoted in an error message: at most 64
 * bytes, anything but printable ASCII as '?', NUL-terminated in r->pool ("" when
 * out of memory).
 */
const char *ngx_http_betrace_shown(ngx_http_request_t *r, const u_char *p,
    size_t len);

/* 1 if s is len hex digits (either case), else 0. */
ngx_uint_t ngx_http_betrace_is_hex(const u_char *s, size_t len);

/*
 * 1 if an id from a path can name a key: 1..64 characters of letters,
 * digits, '-', '_' and '.'.  Anything else can't exist (404), and never
 * reaches a key with a ':' in it.
 */
ngx_uint_t ngx_http_betrace_is_id(ngx_str_t *id);


#endif /* _NGX_HTTP_BETRACE_API_OPS_H_INCLUDED_ */
