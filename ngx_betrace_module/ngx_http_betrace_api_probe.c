
/*
 * BeTrace nginx module: Redis jobs with a deadline, for health and metrics.
 *
 * ngx_http_betrace_api_redis() answers 503 when Redis is away and sends
 * whatever JSON the job made; health and /metrics instead must answer in
 * full, on time, whatever Redis does: Redis is one of the things they
 * report on.  A probe runs its function in the same "betrace" thread pool
 * with a connection of its own, and the worker answers either when the
 * thread is done or when the deadline passes, whichever comes first.
 *
 * The probe lives on the heap, not in the request's pool: after a deadline
 * the request is finished while the thread may still be writing into the
 * probe; the thread's completion event frees it.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <ngx_thread_pool.h>

#include <time.h>

#include "ngx_http_betrace_api_ops.h"


#define NGX_HTTP_BETRACE_PROBE_CONNECT_MS  200


static void ngx_http_betrace_probe_thread(void *data, ngx_log_t *log);
static void ngx_http_betrace_probe_done(ngx_event_t *ev);
static void ngx_http_betrace_probe_timeout(ngx_event_t *ev);
static void ngx_http_betrace_probe_free(ngx_http_betrace_probe_t *probe);


/* one connection per pool thread, apart from the API jobs' own */
static __thread redisContext  *ngx_http_betrace_probe_conn;


ngx_int_t
ngx_http_betrace_probe_run(ngx_http_request_t *r, ngx_thread_pool_t *pool,
    ngx_msec_t timeout, ngx_http_betrace_probe_pt handler,
    ngx_http_betrace_probe_done_pt done, void *data)
{
    ngx_int_t                          rc;
    ngx_http_betrace_probe_t          *probe;
    ngx_http_betrace_api_main_conf_t  *amcf;

    amcf = ngx_http_get_module_main_conf(r, ngx_http_betrace_api_module);

    probe = ngx_calloc(sizeof(ngx_http_betrace_probe_t), r->connection->log);
    if (probe == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    probe->job.prefix = (const char *) amcf->prefix.data;
    probe->job.timeout = amcf->timeout;
    probe->job.status = NGX_HTTP_OK;
    probe->job.amcf = amcf;

    probe->handler = handler;
    probe->done = done;
    probe->data = data;
    probe->request = r;

    probe->task.ctx = probe;
    probe->task.handler = ngx_http_betrace_probe_thread;
    probe->task.event.data = probe;
    probe->task.event.handler = ngx_http_betrace_probe_done;
    probe->task.event.log = r->connection->log;

    if (pool == NULL
        || ngx_thread_task_post(pool, &probe->task) != NGX_OK)
    {
        /* no thread to run it: report Redis as not answering */
        rc = done(r, probe, 1);
        ngx_http_betrace_probe_free(probe);
        return rc;
    }

    probe->timer.handler = ngx_http_betrace_probe_timeout;
    probe->timer.data = probe;
    probe->timer.log = r->connection->log;

    ngx_add_timer(&probe->timer, timeout);

    r->main->count++;

    return NGX_DONE;
}


/* runs in a pool thread: touches the probe only */

static void
ngx_http_betrace_probe_thread(void *data, ngx_log_t *log)
{
    ngx_http_betrace_probe_t *probe = data;

    json_t                            *msg;
    redisContext                      *c;
    struct timeval                     tv;
    ngx_http_betrace_api_main_conf_t  *amcf;

    amcf = probe->job.amcf;
    c = ngx_http_betrace_probe_conn;

    if (c != NULL && c->err) {
        redisFree(c);
        c = NULL;
        ngx_http_betrace_probe_conn = NULL;
    }

    if (c == NULL) {
        tv.tv_sec = 0;
        tv.tv_usec = NGX_HTTP_BETRACE_PROBE_CONNECT_MS * 1000;

        if (amcf->redis_port == 0) {
            c = redisConnectUnixWithTimeout((char *) amcf->redis_host.data,
                                            tv);
        } else {
            c = redisConnectWithTimeout((char *) amcf->redis_host.data,
                                        (int) amcf->redis_port, tv);
        }

        if (c == NULL || c->err) {
            ngx_cpystrn((u_char *) probe->error,
                        (u_char *) (c ? c->errstr : "out of memory"),
                        sizeof(probe->error));
            if (c) {
                redisFree(c);
            }
            return;
        }

        tv.tv_sec = probe->job.timeout / 1000;
        tv.tv_usec = (probe->job.timeout % 1000) * 1000;

        if (redisSetTimeout(c, tv) != REDIS_OK) {
            ngx_cpystrn((u_char *) probe->error,
                        (u_char *) "setting the Redis timeout failed",
                        sizeof(probe->error));
            redisFree(c);
            return;
        }

        ngx_http_betrace_probe_conn = c;
    }

    probe->job.redis = c;
    probe->handler(probe);

    /* keep the first failure's words for the reply */

    if (probe->job.status != NGX_HTTP_OK && probe->error[0] == '\0') {
        msg = json_object_get(json_object_get(probe->job.json, "error"),
                              "message");
        ngx_cpystrn((u_char *) probe->error,
                    (u_char *) (json_string_value(msg)
                                ? json_string_value(msg) : "Redis error"),
                    sizeof(probe->error));
    }

    if (probe->job.failed || c->err) {
        redisFree(c);
        ngx_http_betrace_probe_conn = NULL;
    }
}


static void
ngx_http_betrace_probe_done(ngx_event_t *ev)
{
    ngx_http_betrace_probe_t *probe = ev->data;

    ngx_int_t            rc;
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = probe->request;

    if (r == NULL) {
        /* answered at the deadline already */
        ngx_http_betrace_probe_free(probe);
        return;
    }

    if (probe->timer.timer_set) {
        ngx_del_timer(&probe->timer);
    }

    c = r->connection;

    rc = probe->done(r, probe, 0);
    ngx_http_betrace_probe_free(probe);

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


static void
ngx_http_betrace_probe_timeout(ngx_event_t *ev)
{
    ngx_http_betrace_probe_t *probe = ev->data;

    ngx_int_t            rc;
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = probe->request;
    c = r->connection;

    /* the thread still owns the probe: its completion event frees it */

    probe->request = NULL;

    ngx_log_error(NGX_LOG_WARN, c->log, 0,
                  "betrace: Redis did not answer within %M ms",
                  probe->job.timeout);

    rc = probe->done(r, probe, 1);

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


static void
ngx_http_betrace_probe_free(ngx_http_betrace_probe_t *probe)
{
    json_decref(probe->job.json);
    ngx_free(probe);
}
