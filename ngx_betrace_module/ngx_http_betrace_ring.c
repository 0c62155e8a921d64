
/*
 * BeTrace nginx module: the shared segment and this worker's producer slot.
 *
 * Each worker maps the segment in init_process (creating it if the engine
 * has not yet) and claims one slot by pid; exit_process gives it back.  The
 * slot is keyed on the pid, not on ngx_worker, because during a reload old
 * and new workers with the same number run side by side.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_betrace_module.h"


#define NGX_HTTP_BETRACE_ERRLEN  512


ngx_http_betrace_ring_t  ngx_http_betrace_ring = { NULL, -1, 0, 0, NULL };


/*
 * Runs in the master: opens the segment with the configured geometry,
 * creating it if it is missing (except for "nginx -t"), so that a test, a
 * start or a reload refuse a mismatch up front.  When the master runs as
 * root, a segment owned by root (created here, or by an engine running as
 * root) is given to the worker user: workers open it read-write after
 * dropping privileges.  Returns NGX_OK, or NGX_ERROR after logging an
 * EMERG naming the path.
 */

ngx_int_t
ngx_http_betrace_ring_check(ngx_cycle_t *cycle,
    ngx_http_betrace_main_conf_t *bmcf)
{
    char              err[NGX_HTTP_BETRACE_ERRLEN];
    bt_shm_t         *shm;
    ngx_file_info_t   fi;
    ngx_core_conf_t  *ccf;

    /* "nginx -t" checks an existing segment but creates nothing */

    if (ngx_test_config
        && ngx_file_info(bmcf->ring_path.data, &fi) == NGX_FILE_ERROR)
    {
        return NGX_OK;
    }

    err[0] = '\0';

    shm = bt_shm_open((char *) bmcf->ring_path.data, &bmcf->geometry,
                      err, sizeof(err));
    if (shm == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "betrace_ring \"%V\" refused: %s",
                      &bmcf->ring_path, err);
        return NGX_ERROR;
    }

    bt_shm_close(shm);

    ccf = (ngx_core_conf_t *) ngx_get_conf(cycle->conf_ctx, ngx_core_module);

    if (geteuid() != 0
        || ccf->user == (ngx_uid_t) NGX_CONF_UNSET_UINT
        || ccf->user == 0)
    {
        return NGX_OK;
    }

    if (ngx_file_info(bmcf->ring_path.data, &fi) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, ngx_errno,
                      ngx_file_info_n " \"%V\" failed", &bmcf->ring_path);
        return NGX_ERROR;
    }

    if (fi.st_uid != 0) {
        return NGX_OK;
    }

    if (chown((char *) bmcf->ring_path.data, ccf->user, ccf->group) == -1) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, ngx_errno,
                      "chown(\"%V\", %d) failed",
                      &bmcf->ring_path, ccf->user);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * Maps the segment and claims a slot for this worker.  Returns NGX_OK even
 * when that fails: the worker then answers OTLP requests with 503 instead
 * of dying, since a worker that fails init_process is not respawned and
 * would leave nginx without workers.  Every failure is logged once.
 */

ngx_int_t
ngx_http_betrace_ring_open(ngx_cycle_t *cycle,
    ngx_http_betrace_main_conf_t *bmcf)
{
    char                     err[NGX_HTTP_BETRACE_ERRLEN];
    ngx_http_betrace_ring_t  *ring;

    ring = &ngx_http_betrace_ring;

    ring->path = bmcf->ring_path.data;
    ring->slot = -1;

    err[0] = '\0';

    ring->shm = bt_shm_open((char *) bmcf->ring_path.data, &bmcf->geometry,
                            err, sizeof(err));
    if (ring->shm == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "betrace_ring \"%V\" refused: %s; this worker answers "
                      "503 to OTLP requests", &bmcf->ring_path, err);
        return NGX_OK;
    }

    (void) ngx_http_betrace_ring_slot(cycle->log);

    return NGX_OK;
}


void
ngx_http_betrace_ring_close(ngx_cycle_t *cycle)
{
    ngx_http_betrace_ring_t  *ring;

    ring = &ngx_http_betrace_ring;

    if (ring->shm == NULL) {
        return;
    }

    if (ring->slot >= 0) {
        bt_shm_release(ring->shm, (int) ring->slot, ngx_pid);
        ring->slot = -1;
    }

    bt_shm_close(ring->shm);
    ring->shm = NULL;
}


/*
 * Returns this worker's producer counters, claiming a slot first if the
 * worker has none yet, or NULL when it has no segment or no free slot.  A
 * failed claim is retried at most once a second (a slot frees up when an
 * old worker exits after a reload), and logged only the first time.
 */

bt_producer_stats_t *
ngx_http_betrace_ring_slot(ngx_log_t *log)
{
    int                       slot;
    bt_shm_geometry_t         geo;
    ngx_http_betrace_ring_t  *ring;

    ring = &ngx_http_betrace_ring;

    if (ring->shm == NULL) {
        return NULL;
    }

    if (ring->slot >= 0) {
        return bt_shm_producer_stats(ring->shm, (int) ring->slot);
    }

    if (ngx_time() < ring->next_claim) {
        return NULL;
    }

    slot = bt_shm_claim(ring->shm, ngx_pid);

    if (slot < 0) {
        ring->next_claim = ngx_time() + 1;

        if (!ring->claim_logged) {
            bt_shm_geometry(ring->shm, &geo);
            ngx_log_error(NGX_LOG_ALERT, log, 0,
                          "betrace_ring \"%s\": all %uD slots are owned by "
                          "live processes, worker %P answers 503 until one "
                          "is free (raise slots= above the number of "
                          "workers)", ring->path, geo.nslots, ngx_pid);
            ring->claim_logged = 1;
        }

        return NULL;
    }

    ring->slot = slot;

    ngx_log_error(NGX_LOG_INFO, log, 0,
                  "betrace_ring \"%s\": worker %P owns slot %d",
                  ring->path, ngx_pid, slot);

    return bt_shm_producer_stats(ring->shm, slot);
}


/*
 * The engine is alive when its heartbeat (wall clock ms, updated at least
 * once a second) is recent.  A pid check would be wrong: the engine may
 * run in another pid namespace (a sidecar container).
 */

ngx_uint_t
ngx_http_betrace_engine_alive(bt_shm_t *shm)
{
    uint64_t           hb, now;
    ngx_time_t        *tp;
    bt_engine_stats_t *es;

    es = bt_shm_engine_stats(shm);
    hb = __atomic_load_n(&es->heartbeat_ms, __ATOMIC_RELAXED);

    if (hb == 0) {
        return 0;
    }

    tp = ngx_timeofday();
    now = (uint64_t) tp->sec * 1000 + tp->msec;

    /* a heartbeat slightly ahead of our cached clock is fresh too */

    return now < hb || now - hb < NGX_HTTP_BETRACE_ENGINE_STALE_MS;
}
