
/*
 * BeTrace nginx module: GET /health.
 *
 * Three parts, each reported: this nginx worker (its ring segment and
 * slot), the engine (heartbeat and pid read from the segment, no Redis),
 * and Redis (a PING through a probe, so a Redis that is down or hung is
 * reported within betrace_redis_timeout instead of holding the request).
 * 200 with "status": "ok" when all three are well, 503 with "degraded"
 * otherwise, so a load balancer can use the status alone.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <time.h>

#include "ngx_http_betrace_module.h"
#include "ngx_http_betrace_api_ops.h"


static void ngx_http_betrace_health_ping(ngx_http_betrace_probe_t *probe);
static ngx_int_t ngx_http_betrace_health_done(ngx_http_request_t *r,
    ngx_http_betrace_probe_t *probe, ngx_uint_t timed_out);


ngx_int_t
ngx_http_betrace_api_health(ngx_http_request_t *r,
    ngx_http_betrace_api_ctx_t *ctx)
{
    return ngx_http_betrace_probe_run(r, ctx->amcf->thread_pool,
                                      ctx->amcf->timeout,
                                      ngx_http_betrace_health_ping,
                                      ngx_http_betrace_health_done, NULL);
}


static void
ngx_http_betrace_health_ping(ngx_http_betrace_probe_t *probe)
{
    redisReply       *rep;
    struct timespec   t0, t1;

    (void) clock_gettime(CLOCK_MONOTONIC, &t0);

    rep = ngx_http_betrace_api_command(&probe->job, "PING");
    if (rep == NULL) {
        return;
    }

    (void) clock_gettime(CLOCK_MONOTONIC, &t1);

    probe->redis_ok = (rep->type == REDIS_REPLY_STATUS
                       && ngx_strcmp(rep->str, "PONG") == 0);

    if (!probe->redis_ok) {
        ngx_cpystrn((u_char *) probe->error,
                    (u_char *) "unexpected reply to PING",
                    sizeof(probe->error));
    }

    freeReplyObject(rep);

    probe->latency_us = (t1.tv_sec - t0.tv_sec) * 1000000
                        + (t1.tv_nsec - t0.tv_nsec) / 1000;
}


static ngx_int_t
ngx_http_betrace_health_done(ngx_http_request_t *r,
    ngx_http_betrace_probe_t *probe, ngx_uint_t timed_out)
{
    int64_t             now;
    json_t             *json, *nginx, *engine, *redis;
    uint64_t            hb, pid;
    ngx_uint_t          ring_ok, engine_ok, redis_ok;
    bt_engine_stats_t  *es;

    now = ngx_http_betrace_now_ms();

    ring_ok = ngx_http_betrace_ring.shm != NULL;

    nginx = json_pack("{s:i,s:s,s:b,s:I}",
                      "pid", (int) ngx_pid,
                      "version", NGINX_VERSION,
                      "ring", (int) ring_ok,
                      "slot", (json_int_t) ngx_http_betrace_ring.slot);

    if (ring_ok) {
        es = bt_shm_engine_stats(ngx_http_betrace_ring.shm);
        hb = __atomic_load_n(&es->heartbeat_ms, __ATOMIC_RELAXED);
        pid = __atomic_load_n(&es->pid, __ATOMIC_RELAXED);
        engine_ok = ngx_http_betrace_engine_alive(ngx_http_betrace_ring.shm);

        engine = json_pack("{s:b,s:o,s:o}",
                           "alive", (int) engine_ok,
                           "heartbeat_age_ms",
                           hb ? json_integer(now > (int64_t) hb
                                             ? now - (int64_t) hb : 0)
                              : json_null(),
                           "pid", pid ? json_integer(pid) : json_null());

    } else {
        engine_ok = 0;
        engine = json_pack("{s:b,s:n,s:n,s:s}", "alive", 0,
                           "heartbeat_age_ms", "pid", "error",
                           "no ring segment in this worker");
    }

    /* after a deadline the thread may still write the probe: don't read */

    redis_ok = !timed_out && probe->redis_ok;

    if (redis_ok) {
        redis = json_pack("{s:b,s:f}", "ok", 1, "latency_ms",
                          (double) probe->latency_us / 1000);

    } else if (timed_out) {
        redis = json_pack("{s:b,s:s}", "ok", 0, "error",
                          "no answer within betrace_redis_timeout");

    } else {
        redis = json_pack("{s:b,s:s}", "ok", 0, "error",
                          probe->error[0] ? probe->error : "unavailable");
    }

    json = json_pack("{s:s,s:o,s:o,s:o}",
                     "status", ring_ok && engine_ok && redis_ok
                               ? "ok" : "degraded",
                     "nginx", nginx ? nginx : json_null(),
                     "engine", engine ? engine : json_null(),
                     "redis", redis ? redis : json_null());
    if (json == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_betrace_api_send_json(r, ring_ok && engine_ok && redis_ok
                                             ? NGX_HTTP_OK
                                             : NGX_HTTP_SERVICE_UNAVAILABLE,
                                          json);
}
