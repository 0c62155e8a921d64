
/*
 * BeTrace nginx module: Redis jobs for the REST API.
 *
 * A worker never waits on Redis: an endpoint posts a job to the "betrace"
 * thread pool, a pool thread runs it with its own blocking hiredis
 * connection, and the job's completion event, back in the worker, sends
 * the reply.  Blocking clients in threads rather than hiredis's async API
 * in the event loop keep each endpoint a plain sequence of commands.
 *
 * Each thread keeps one connection in thread-local storage, made on first
 * use and dropped after any I/O error or timeout, so a Redis restart costs
 * the failing requests (503 redis_unavailable) and nothing after.  A
 * refused connection fails at once; a Redis that does not answer fails
 * after betrace_redis_timeout.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <ngx_thread_pool.h>

#include "ngx_http_betrace_api.h"


/* connecting must be quick: a request waits for it */
#define NGX_HTTP_BETRACE_REDIS_CONNECT_MS  200


static void ngx_http_betrace_api_redis_thread(void *data, ngx_log_t *log);
static redisContext *ngx_http_betrace_api_redis_connect(
    ngx_http_betrace_api_job_t *job, ngx_log_t *log);
static ngx_uint_t ngx_http_betrace_api_redis_alive(redisContext *c);
static void ngx_http_betrace_api_redis_done(ngx_event_t *ev);
static redisReply *ngx_http_betrace_api_reply(
    ngx_http_betrace_api_job_t *job, redisReply *reply);
static void ngx_http_betrace_api_vjob_error(ngx_http_betrace_api_job_t *job,
    ngx_uint_t status, const char *code, const char *fmt, va_list ap);


static __thread redisContext  *ngx_http_betrace_api_redis_conn;

/* a thread logs when Redis goes away and when it is back, not per request */
static __thread ngx_uint_t     ngx_http_betrace_api_redis_down;


ngx_int_t
ngx_http_betrace_api_redis(ngx_http_request_t *r,
    ngx_http_betrace_api_redis_pt handler, void *data)
{
    ngx_thread_task_t                 *task;
    ngx_http_betrace_api_job_t        *job;
    ngx_http_betrace_api_main_conf_t  *amcf;

    amcf = ngx_http_get_module_main_conf(r, ngx_http_betrace_api_module);

    if (amcf->thread_pool == NULL) {
        return ngx_http_betrace_api_send_error(r,
                   NGX_HTTP_SERVICE_UNAVAILABLE, "redis_unavailable",
                   "no Redis thread pool is configured");
    }

    task = ngx_thread_task_alloc(r->pool, sizeof(ngx_http_betrace_api_job_t));
    if (task == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    job = task->ctx;

    job->redis = NULL;
    job->prefix = (const char *) amcf->prefix.data;
    job->data = data;
    job->timeout = amcf->timeout;
    job->status = NGX_HTTP_OK;
    job->json = NULL;
    ngx_str_null(&job->location);
    job->request = r;
    job->handler = handler;
    job->amcf = amcf;
    job->failed = 0;
    job->posted = ngx_current_msec;

    task->handler = ngx_http_betrace_api_redis_thread;
    task->event.data = job;
    task->event.handler = ngx_http_betrace_api_redis_done;

    if (ngx_thread_task_post(amcf->thread_pool, task) != NGX_OK) {
        return ngx_http_betrace_api_send_error(r,
                   NGX_HTTP_SERVICE_UNAVAILABLE, "redis_unavailable",
                   "too many Redis requests are queued");
    }

    /*
     * The reply is sent by ngx_http_betrace_api_redis_done(); until then
     * the request must outlive even a client that goes away, because the
     * thread writes into its pool memory.
     */

    r->main->count++;
    r->main->blocked++;

    return NGX_DONE;
}


/* runs in a pool thread: no nginx memory functions, no request */

static void
ngx_http_betrace_api_redis_thread(void *data, ngx_log_t *log)
{
    ngx_http_betrace_api_job_t *job = data;

    struct timespec  ts;
    redisContext    *c;
    ngx_msec_int_t   waited;

    /*
     * Behind a Redis that does not answer, each thread spends the timeout
     * on every job; a job that has already waited that long in the queue
     * is answered at once, so no request waits much more than twice
     * betrace_redis_timeout however many are queued.  ngx_current_msec
     * is CLOCK_MONOTONIC milliseconds too.
     */

    clock_gettime(CLOCK_MONOTONIC, &ts);
    waited = (ngx_msec_int_t) ((ngx_msec_t) (ts.tv_sec * 1000
                                             + ts.tv_nsec / 1000000)
                               - job->posted);

    /* an hour or more means the clocks differ: never refuse on that */

    if (waited > (ngx_msec_int_t) job->timeout && waited < 3600 * 1000) {
        ngx_http_betrace_api_job_error(job, NGX_HTTP_SERVICE_UNAVAILABLE,
                                       "redis_unavailable",
                                       "Redis is not answering (the request "
                                       "waited %d ms for a connection)",
                                       (int) waited);
        return;
    }

    c = ngx_http_betrace_api_redis_conn;

    if (c != NULL && (c->err || !ngx_http_betrace_api_redis_alive(c))) {
        redisFree(c);
        c = NULL;
    }

    if (c == NULL) {
        c = ngx_http_betrace_api_redis_connect(job, log);
        ngx_http_betrace_api_redis_conn = c;

        if (c == NULL) {
            return;
        }
    }

    job->redis = c;
    job->handler(job);

    if (job->failed || c->err) {
        if (!ngx_http_betrace_api_redis_down) {
            ngx_log_error(NGX_LOG_ERR, log, 0,
                          "betrace: Redis at \"%V\" failed: %s",
                          &job->amcf->redis,
                          c->errstr[0] ? c->errstr : "no reply");
            ngx_http_betrace_api_redis_down = 1;
        }

        redisFree(c);
        ngx_http_betrace_api_redis_conn = NULL;
    }
}


static redisContext *
ngx_http_betrace_api_redis_connect(ngx_http_betrace_api_job_t *job,
    ngx_log_t *log)
{
    redisContext                      *c;
    struct timeval                     tv;
    ngx_http_betrace_api_main_conf_t  *amcf;

    amcf = job->amcf;

    tv.tv_sec = 0;
    tv.tv_usec = NGX_HTTP_BETRACE_REDIS_CONNECT_MS * 1000;

    if (amcf->redis_port == 0) {
        c = redisConnectUnixWithTimeout((char *) amcf->redis_host.data, tv);

    } else {
        c = redisConnectWithTimeout((char *) amcf->redis_host.data,
                                    (int) amcf->redis_port, tv);
    }

    if (c == NULL || c->err) {
        if (!ngx_http_betrace_api_redis_down) {
            ngx_log_error(NGX_LOG_ERR, log, 0,
                          "betrace: connecting to Redis at \"%V\" failed: "
                          "%s", &amcf->redis,
                          c ? c->errstr : "out of memory");
            ngx_http_betrace_api_redis_down = 1;
        }

        ngx_http_betrace_api_job_error(job, NGX_HTTP_SERVICE_UNAVAILABLE,
                                       "redis_unavailable",
                                       "Redis is unavailable: %s",
                                       c ? c->errstr : "out of memory");
        if (c) {
            redisFree(c);
        }

        return NULL;
    }

    tv.tv_sec = job->timeout / 1000;
    tv.tv_usec = (job->timeout % 1000) * 1000;

    if (redisSetTimeout(c, tv) != REDIS_OK) {
        ngx_http_betrace_api_job_error(job, NGX_HTTP_SERVICE_UNAVAILABLE,
                                       "redis_unavailable",
                                       "setting the Redis timeout failed");
        redisFree(c);
        return NULL;
    }

    if (ngx_http_betrace_api_redis_down) {
        ngx_log_error(NGX_LOG_NOTICE, log, 0,
                      "betrace: connected to Redis at \"%V\" again",
                      &amcf->redis);
        ngx_http_betrace_api_redis_down = 0;
    }

    return c;
}


/*
 * An idle connection whose Redis restarted or closed it has its EOF
 * waiting; peeking finds it without a round trip, so the request that
 * comes after a Redis restart gets a new connection instead of a 503.
 * Nothing else may be readable on an idle connection either (a reply
 * that arrived after its command timed out would answer the next one).
 */

static ngx_uint_t
ngx_http_betrace_api_redis_alive(redisContext *c)
{
    char     ch;
    ssize_t  n;

    n = recv(c->fd, &ch, 1, MSG_PEEK|MSG_DONTWAIT);

    return n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK);
}


static void
ngx_http_betrace_api_redis_done(ngx_event_t *ev)
{
    ngx_http_betrace_api_job_t *job = ev->data;

    ngx_int_t            rc;
    ngx_table_elt_t     *h;
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = job->request;
    c = r->connection;

    r->main->blocked--;

    if (job->location.len) {
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            json_decref(job->json);
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            ngx_http_run_posted_requests(c);
            return;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "Location");
        h->value = job->location;
    }

    if (job->status >= NGX_HTTP_BAD_REQUEST && job->json == NULL) {
        job->json = ngx_http_betrace_api_error_json("internal",
                                                    "internal error");
    }

    rc = ngx_http_betrace_api_send_json(r, job->status, job->json);
    job->json = NULL;

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


redisReply *
ngx_http_betrace_api_command(ngx_http_betrace_api_job_t *job,
    const char *fmt, ...)
{
    va_list      ap;
    redisReply  *reply;

    if (job->failed) {
        return NULL;
    }

    va_start(ap, fmt);
    reply = redisvCommand(job->redis, fmt, ap);
    va_end(ap);

    return ngx_http_betrace_api_reply(job, reply);
}


redisReply *
ngx_http_betrace_api_command_argv(ngx_http_betrace_api_job_t *job, int argc,
    const char **argv, const size_t *argvlen)
{
    redisReply  *reply;

    if (job->failed) {
        return NULL;
    }

    reply = redisCommandArgv(job->redis, argc, argv, argvlen);

    return ngx_http_betrace_api_reply(job, reply);
}


redisReply *
ngx_http_betrace_api_mget(ngx_http_betrace_api_job_t *job, const char *type,
    redisReply **ids, size_t n, size_t stride)
{
    size_t        i, *lens;
    redisReply   *id, *reply;
    const char  **argv;
    char        (*keys)[128];

    argv = malloc((n + 1) * sizeof(char *));
    lens = malloc((n + 1) * sizeof(size_t));
    keys = malloc(n * sizeof(*keys));

    if (argv == NULL || lens == NULL || keys == NULL) {
        free(argv);
        free(lens);
        free(keys);
        ngx_http_betrace_api_job_error(job, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                       "internal", "out of memory");
        return NULL;
    }

    argv[0] = "MGET";
    lens[0] = 4;

    for (i = 0; i < n; i++) {
        id = ids[i * stride];
        lens[i + 1] = ngx_snprintf((u_char *) keys[i], sizeof(keys[i]),
                                   "%s%s%*s", job->prefix, type,
                                   id->type == REDIS_REPLY_STRING
                                   ? ngx_min(id->len, 64) : 0,
                                   id->type == REDIS_REPLY_STRING
                                   ? id->str : "")
                      - (u_char *) keys[i];
        argv[i + 1] = keys[i];
    }

    reply = ngx_http_betrace_api_command_argv(job, (int) n + 1, argv, lens);

    free(argv);
    free(lens);
    free(keys);

    return reply;
}


/*
 * What a command function returns for hiredis's reply: the reply, or NULL
 * after setting the job's error (and dropping the connection when there
 * was no reply at all).
 */

static redisReply *
ngx_http_betrace_api_reply(ngx_http_betrace_api_job_t *job,
    redisReply *reply)
{
    if (reply == NULL) {
        job->failed = 1;
        ngx_http_betrace_api_job_error(job, NGX_HTTP_SERVICE_UNAVAILABLE,
                                       "redis_unavailable",
                                       "Redis is unavailable: %s",
                                       job->redis->errstr[0]
                                       ? job->redis->errstr : "no reply");
        return NULL;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        ngx_http_betrace_api_job_error(job, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                       "redis_error", "Redis error: %s",
                                       reply->str);
        freeReplyObject(reply);
        return NULL;
    }

    return reply;
}


void
ngx_http_betrace_api_job_error(ngx_http_betrace_api_job_t *job,
    ngx_uint_t status, const char *code, const char *fmt, ...)
{
    va_list  ap;

    va_start(ap, fmt);
    ngx_http_betrace_api_vjob_error(job, status, code, fmt, ap);
    va_end(ap);
}


static void
ngx_http_betrace_api_vjob_error(ngx_http_betrace_api_job_t *job,
    ngx_uint_t status, const char *code, const char *fmt, va_list ap)
{
    json_t  *msg;

    msg = json_vsprintf(fmt, ap);

    json_decref(job->json);

    job->status = status;
    job->json = json_pack("{s:{s:s,s:o}}", "error", "code", code,
                          "message", msg ? msg : json_string("error"));
}
