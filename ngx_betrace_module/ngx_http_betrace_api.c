
/*
 * BeTrace nginx module: the REST API's directives, authentication, router,
 * request bodies and JSON replies.
 *
 * A module of its own (ngx_http_betrace_api_module, in the same shared
 * object as ngx_http_betrace_module) so its configuration and the ingest
 * path's stay apart.  API keys are read from betrace_api_keys when the
 * configuration loads: authentication never waits on Redis.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <ngx_thread_pool.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "ngx_http_betrace_module.h"
#include "ngx_http_betrace_api.h"
#include "ngx_http_betrace_api_ops.h"


#define NGX_HTTP_BETRACE_API_PREFIX  "/api/v1/"


extern ngx_module_t  ngx_thread_pool_module;


static void *ngx_http_betrace_api_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_betrace_api_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_betrace_api_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_betrace_api_merge_loc_conf(ngx_conf_t *cf,
    void *parent, void *child);
static ngx_int_t ngx_http_betrace_api_preconf(ngx_conf_t *cf);
static ngx_int_t ngx_http_betrace_api_postconf(ngx_conf_t *cf);
static ngx_int_t ngx_http_betrace_api_key_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static char *ngx_http_betrace_redis_conf(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_betrace_api_keys_conf(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static ngx_int_t ngx_http_betrace_api_keys_line(ngx_conf_t *cf,
    ngx_http_betrace_api_main_conf_t *amcf, u_char *p, u_char *last,
    ngx_uint_t line);
static char *ngx_http_betrace_api_conf(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_betrace_api_thread_pool(ngx_conf_t *cf,
    ngx_http_betrace_api_main_conf_t *amcf);
static ngx_int_t ngx_http_betrace_api_access(ngx_http_request_t *r);
static ngx_int_t ngx_http_betrace_api_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_betrace_api_split(ngx_http_request_t *r,
    ngx_http_betrace_api_ctx_t *ctx, ngx_int_t *rc);
static ngx_int_t ngx_http_betrace_api_route(ngx_http_request_t *r,
    ngx_http_betrace_api_ctx_t *ctx, ngx_int_t *rc);
static ngx_uint_t ngx_http_betrace_api_match(ngx_http_betrace_api_ctx_t *ctx,
    ngx_str_t *path);
static ngx_int_t ngx_http_betrace_api_not_allowed(ngx_http_request_t *r,
    ngx_uint_t methods);
static ngx_int_t ngx_http_betrace_api_content_type(ngx_http_request_t *r,
    ngx_int_t *rc);
static void ngx_http_betrace_api_body_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_betrace_api_parse_body(ngx_http_request_t *r,
    ngx_http_betrace_api_ctx_t *ctx, ngx_int_t *rc);
static void ngx_http_betrace_api_json_cleanup(void *data);
static ngx_uint_t ngx_http_betrace_api_exact_at_15(json_t *json);
static ngx_int_t ngx_http_betrace_api_header_filter(ngx_http_request_t *r);
static u_char *ngx_http_betrace_api_size_text(u_char *p, size_t size);
static ngx_int_t ngx_http_betrace_api_too_large(ngx_http_request_t *r,
    size_t limit);
static ngx_int_t ngx_http_betrace_api_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);


static ngx_command_t  ngx_http_betrace_api_commands[] = {

    { ngx_string("betrace_redis"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_betrace_redis_conf,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("betrace_redis_prefix"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_betrace_api_main_conf_t, prefix),
      NULL },

    { ngx_string("betrace_redis_threads"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_betrace_api_main_conf_t, threads),
      NULL },

    { ngx_string("betrace_redis_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_betrace_api_main_conf_t, timeout),
      NULL },

    { ngx_string("betrace_api_keys"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_betrace_api_keys_conf,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("betrace_api"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_betrace_api_conf,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("betrace_auth"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_betrace_api_loc_conf_t, auth),
      NULL },

    { ngx_string("betrace_otlp_auth"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_betrace_api_loc_conf_t, otlp_auth),
      NULL },

    { ngx_string("betrace_api_max_body_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_betrace_api_loc_conf_t, max_body_size),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_betrace_api_module_ctx = {
    ngx_http_betrace_api_preconf,          /* preconfiguration */
    ngx_http_betrace_api_postconf,         /* postconfiguration */

    ngx_http_betrace_api_create_main_conf, /* create main configuration */
    ngx_http_betrace_api_init_main_conf,   /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_betrace_api_create_loc_conf,  /* create location configuration */
    ngx_http_betrace_api_merge_loc_conf    /* merge location configuration */
};


ngx_module_t  ngx_http_betrace_api_module = {
    NGX_MODULE_V1,
    &ngx_http_betrace_api_module_ctx,      /* module context */
    ngx_http_betrace_api_commands,         /* module directives */
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


static ngx_str_t  ngx_http_betrace_api_pool_name = ngx_string("betrace");

static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;
static ngx_http_output_body_filter_pt    ngx_http_next_body_filter;


static void *
ngx_http_betrace_api_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_betrace_api_main_conf_t  *amcf;

    amcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_betrace_api_main_conf_t));
    if (amcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     amcf->redis = { 0, NULL };
     *     amcf->redis_host = { 0, NULL };
     *     amcf->redis_port = 0;
     *     amcf->prefix = { 0, NULL };
     *     amcf->thread_pool = NULL;
     *     amcf->keys = NULL;
     *     amcf->keys_file = { 0, NULL };
     */

    amcf->threads = NGX_CONF_UNSET_UINT;
    amcf->timeout = NGX_CONF_UNSET_MSEC;

    return amcf;
}


static char *
ngx_http_betrace_api_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_betrace_api_main_conf_t *amcf = conf;

    u_char  *p;

    ngx_conf_init_uint_value(amcf->threads, 4);
    ngx_conf_init_msec_value(amcf->timeout, 1000);

    if (amcf->threads == 0 || amcf->threads > 64) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"betrace_redis_threads\" must be between "
                           "1 and 64");
        return NGX_CONF_ERROR;
    }

    if (amcf->prefix.data == NULL) {
        ngx_str_set(&amcf->prefix, "betrace:");
    }

    /* hiredis formats keys from C strings */

    p = ngx_pnalloc(cf->pool, amcf->prefix.len + 1);
    if (p == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memcpy(p, amcf->prefix.data, amcf->prefix.len);
    p[amcf->prefix.len] = '\0';
    amcf->prefix.data = p;

    if (amcf->redis.data == NULL) {
        ngx_str_set(&amcf->redis, "127.0.0.1:6379");
        ngx_str_set(&amcf->redis_host, "127.0.0.1");
        amcf->redis_port = 6379;
    }

    return NGX_CONF_OK;
}


static void *
ngx_http_betrace_api_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_betrace_api_loc_conf_t  *alcf;

    alcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_betrace_api_loc_conf_t));
    if (alcf == NULL) {
        return NULL;
    }

    alcf->api = NGX_CONF_UNSET;
    alcf->auth = NGX_CONF_UNSET;
    alcf->otlp_auth = NGX_CONF_UNSET;
    alcf->max_body_size = NGX_CONF_UNSET_SIZE;

    return alcf;
}


static char *
ngx_http_betrace_api_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_betrace_api_loc_conf_t *prev = parent;
    ngx_http_betrace_api_loc_conf_t *conf = child;

    ngx_http_core_loc_conf_t          *clcf;
    ngx_http_betrace_api_main_conf_t  *amcf;

    ngx_conf_merge_value(conf->api, prev->api, 0);
    ngx_conf_merge_value(conf->auth, prev->auth, 1);
    ngx_conf_merge_value(conf->otlp_auth, prev->otlp_auth, 0);
    ngx_conf_merge_size_value(conf->max_body_size, prev->max_body_size,
                              1024 * 1024);

    amcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_betrace_api_module);

    /* refuse to start open by accident rather than answer 401 to all */

    if (conf->api && conf->auth && amcf->keys_file.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"betrace_api\" needs \"betrace_api_keys\" "
                           "unless \"betrace_auth off\" is set");
        return NGX_CONF_ERROR;
    }

    if (conf->otlp_auth && amcf->keys_file.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"betrace_otlp_auth on\" needs "
                           "\"betrace_api_keys\"");
        return NGX_CONF_ERROR;
    }

    /*
     * nginx's own limit is the one that also stops a chunked body while
     * it is read; make it the API's (its 413 page becomes JSON).
     */

    if (conf->api) {
        clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
        clcf->client_max_body_size = conf->max_body_size;
    }

    if (conf->api && amcf->thread_pool == NULL) {
        if (ngx_http_betrace_api_thread_pool(cf, amcf) != NGX_CONF_OK) {
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


/*
 * Registers the "betrace" thread pool with betrace_redis_threads threads
 * by running nginx's own "thread_pool betrace threads=N" directive: the
 * pool's fields are private to ngx_thread_pool.c.  A "thread_pool betrace"
 * written in the main context before http {} takes precedence.
 */

static char *
ngx_http_betrace_api_thread_pool(ngx_conf_t *cf,
    ngx_http_betrace_api_main_conf_t *amcf)
{
    char           *rv;
    ngx_str_t      *value;
    ngx_array_t     args, *saved;
    ngx_command_t  *cmd;

    amcf->thread_pool = ngx_thread_pool_get(cf->cycle,
                                            &ngx_http_betrace_api_pool_name);
    if (amcf->thread_pool != NULL) {
        return NGX_CONF_OK;
    }

    for (cmd = ngx_thread_pool_module.commands; cmd->name.len; cmd++) {
        if (ngx_strcmp(cmd->name.data, "thread_pool") == 0) {
            break;
        }
    }

    if (cmd->name.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "no \"thread_pool\" directive in this nginx");
        return NGX_CONF_ERROR;
    }

    if (ngx_array_init(&args, cf->temp_pool, 3, sizeof(ngx_str_t)) != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    value = ngx_array_push_n(&args, 3);
    if (value == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_str_set(&value[0], "thread_pool");
    value[1] = ngx_http_betrace_api_pool_name;

    value[2].data = ngx_pnalloc(cf->pool, sizeof("threads=") + NGX_INT_T_LEN);
    if (value[2].data == NULL) {
        return NGX_CONF_ERROR;
    }

    value[2].len = ngx_sprintf(value[2].data, "threads=%ui", amcf->threads)
                   - value[2].data;

    saved = cf->args;
    cf->args = &args;
    rv = cmd->set(cf, cmd, NULL);
    cf->args = saved;

    if (rv != NGX_CONF_OK) {
        return rv;
    }

    amcf->thread_pool = ngx_thread_pool_get(cf->cycle,
                                            &ngx_http_betrace_api_pool_name);
    if (amcf->thread_pool == NULL) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* $betrace_api_key: the name of the request's API key, for access logs */

static ngx_int_t
ngx_http_betrace_api_preconf(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var;

    static ngx_str_t  name = ngx_string("betrace_api_key");

    var = ngx_http_add_variable(cf, &name, NGX_HTTP_VAR_NOCACHEABLE);
    if (var == NULL) {
        return NGX_ERROR;
    }

    var->get_handler = ngx_http_betrace_api_key_variable;

    return NGX_OK;
}


static ngx_int_t
ngx_http_betrace_api_key_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_betrace_api_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_betrace_api_module);

    if (ctx == NULL || ctx->key_name.len == 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->len = ctx->key_name.len;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;
    v->data = ctx->key_name.data;

    return NGX_OK;
}


static ngx_int_t
ngx_http_betrace_api_postconf(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_betrace_api_access;

    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_betrace_api_header_filter;

    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_betrace_api_body_filter;

    return NGX_OK;
}


/* betrace_redis host:port | unix:/path; */

static char *
ngx_http_betrace_redis_conf(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_betrace_api_main_conf_t *amcf = conf;

    u_char     *colon;
    ngx_str_t  *value, host;
    ngx_int_t   port;

    if (amcf->redis.data) {
        return "is duplicate";
    }

    value = cf->args->elts;
    amcf->redis = value[1];

    if (value[1].len > 5 && ngx_strncmp(value[1].data, "unix:", 5) == 0) {
        host.len = value[1].len - 5;
        host.data = value[1].data + 5;
        port = 0;

    } else {
        colon = ngx_strlchr(value[1].data, value[1].data + value[1].len, ':');
        if (colon == NULL || colon == value[1].data) {
            goto invalid;
        }

        host.len = colon - value[1].data;
        host.data = value[1].data;

        port = ngx_atoi(colon + 1, value[1].data + value[1].len - colon - 1);
        if (port == NGX_ERROR || port < 1 || port > 65535) {
            goto invalid;
        }
    }

    amcf->redis_host.len = host.len;
    amcf->redis_host.data = ngx_pnalloc(cf->pool, host.len + 1);
    if (amcf->redis_host.data == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_cpystrn(amcf->redis_host.data, host.data, host.len + 1);
    amcf->redis_port = port;

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid Redis address \"%V\", expected host:port "
                       "or unix:/path", &value[1]);
    return NGX_CONF_ERROR;
}


/* betrace_api_keys FILE;   lines "<sha256 hex> <read|write|ingest> <name>" */

static char *
ngx_http_betrace_api_keys_conf(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_betrace_api_main_conf_t *amcf = conf;

    u_char           *buf, *p, *eol, *last;
    ssize_t           n;
    ngx_fd_t          fd;
    ngx_str_t        *value;
    ngx_uint_t        line;
    ngx_file_info_t   fi;

    if (amcf->keys_file.len) {
        return "is duplicate";
    }

    value = cf->args->elts;
    amcf->keys_file = value[1];

    if (ngx_conf_full_name(cf->cycle, &amcf->keys_file, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    amcf->keys = ngx_array_create(cf->pool, 4,
                                  sizeof(ngx_http_betrace_api_key_t));
    if (amcf->keys == NULL) {
        return NGX_CONF_ERROR;
    }

    fd = ngx_open_file(amcf->keys_file.data, NGX_FILE_RDONLY,
                       NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_open_file_n " \"%s\" failed",
                           amcf->keys_file.data);
        return NGX_CONF_ERROR;
    }

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_fd_info_n " \"%s\" failed",
                           amcf->keys_file.data);
        goto failed;
    }

    if (ngx_file_size(&fi) > 1024 * 1024) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "API key file \"%s\" is larger than 1m",
                           amcf->keys_file.data);
        goto failed;
    }

    buf = ngx_pnalloc(cf->temp_pool, (size_t) ngx_file_size(&fi) + 1);
    if (buf == NULL) {
        goto failed;
    }

    n = ngx_read_fd(fd, buf, (size_t) ngx_file_size(&fi));
    if (n == -1) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_read_fd_n " \"%s\" failed",
                           amcf->keys_file.data);
        goto failed;
    }

    ngx_close_file(fd);

    last = buf + n;
    line = 0;

    for (p = buf; p < last; p = eol + 1) {
        line++;

        eol = ngx_strlchr(p, last, '\n');
        if (eol == NULL) {
            eol = last;
        }

        if (ngx_http_betrace_api_keys_line(cf, amcf, p, eol, line) != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;

failed:

    ngx_close_file(fd);
    return NGX_CONF_ERROR;
}


static ngx_int_t
ngx_http_betrace_api_keys_line(ngx_conf_t *cf,
    ngx_http_betrace_api_main_conf_t *amcf, u_char *p, u_char *last,
    ngx_uint_t line)
{
    u_char                      *word[3], *end[3];
    ngx_int_t                    hi, lo;
    ngx_uint_t                   i, n, roles;
    ngx_http_betrace_api_key_t  *key;

    while (last > p && (last[-1] == '\r' || last[-1] == ' '
                        || last[-1] == '\t'))
    {
        last--;
    }

    for (n = 0; n < 3; n++) {
        while (p < last && (*p == ' ' || *p == '\t')) {
            p++;
        }

        if (p == last || (n == 0 && *p == '#')) {
            break;
        }

        word[n] = p;

        /* the name is the rest of the line */

        while (p < last && (n == 2 || (*p != ' ' && *p != '\t'))) {
            p++;
        }

        end[n] = p;
    }

    if (n == 0) {
        return NGX_OK;              /* blank line or comment */
    }

    if (n < 2 || end[0] - word[0] != 64) {
        goto invalid;
    }

    if (end[1] - word[1] == 4 && ngx_strncmp(word[1], "read", 4) == 0) {
        roles = NGX_HTTP_BETRACE_ROLE_READ;

    } else if (end[1] - word[1] == 5 && ngx_strncmp(word[1], "write", 5) == 0)
    {
        roles = NGX_HTTP_BETRACE_ROLE_READ|NGX_HTTP_BETRACE_ROLE_WRITE;

    } else if (end[1] - word[1] == 6
               && ngx_strncmp(word[1], "ingest", 6) == 0)
    {
        roles = NGX_HTTP_BETRACE_ROLE_INGEST;

    } else {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "%s:%ui: invalid role \"%*s\", expected read, "
                           "write or ingest", amcf->keys_file.data, line,
                           (size_t) (end[1] - word[1]), word[1]);
        return NGX_ERROR;
    }

    key = ngx_array_push(amcf->keys);
    if (key == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < 32; i++) {
        hi = ngx_hextoi(word[0] + 2 * i, 1);
        lo = ngx_hextoi(word[0] + 2 * i + 1, 1);

        if (hi == NGX_ERROR || lo == NGX_ERROR) {
            goto invalid;
        }

        key->hash[i] = (u_char) (hi << 4 | lo);
    }

    key->roles = roles;

    if (n == 3) {
        key->name.len = end[2] - word[2];
        key->name.data = ngx_pstrdup(cf->pool, &(ngx_str_t) {
                                         key->name.len, word[2] });
        if (key->name.data == NULL) {
            return NGX_ERROR;
        }

    } else {
        ngx_str_set(&key->name, "-");
    }

    return NGX_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "%s:%ui: invalid line, expected "
                       "\"<sha256 hex> <read|write|ingest> <name>\"",
                       amcf->keys_file.data, line);
    return NGX_ERROR;
}


static char *
ngx_http_betrace_api_conf(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_betrace_api_loc_conf_t *alcf = conf;

    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    if (clcf->handler) {
        return "is duplicate or conflicts with another content handler";
    }

    clcf->handler = ngx_http_betrace_api_handler;
    alcf->api = 1;

    return NGX_CONF_OK;
}


/*
 * Access phase: the OTLP location (an ingest key when betrace_otlp_auth is
 * on) and the stats location (a read key unless betrace_auth is off); the
 * API's own locations authenticate in the router, which knows the route's
 * role.
 */

static ngx_int_t
ngx_http_betrace_api_access(ngx_http_request_t *r)
{
    ngx_int_t                          rc;
    ngx_str_t                          name;
    ngx_uint_t                         roles, need;
    ngx_http_core_loc_conf_t          *clcf;
    ngx_http_betrace_api_ctx_t        *ctx;
    ngx_http_betrace_api_loc_conf_t   *alcf;
    ngx_http_betrace_api_main_conf_t  *amcf;

    if (r != r->main) {
        return NGX_DECLINED;
    }

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);
    alcf = ngx_http_get_module_loc_conf(r, ngx_http_betrace_api_module);

    if (clcf->handler == ngx_http_betrace_otlp_handler && alcf->otlp_auth) {
        need = NGX_HTTP_BETRACE_ROLE_INGEST;

    } else if (clcf->handler == ngx_http_betrace_stats_handler
               && alcf->auth)
    {
        need = NGX_HTTP_BETRACE_ROLE_READ;

    } else {
        return NGX_DECLINED;
    }

    amcf = ngx_http_get_module_main_conf(r, ngx_http_betrace_api_module);

    if (amcf->keys == NULL) {
        /* betrace_stats with auth on but no key file: nothing to check */
        return NGX_DECLINED;
    }

    rc = ngx_http_betrace_api_authenticate(r, amcf, &roles, &name);

    if (rc == NGX_OK) {
        /* for $betrace_api_key */

        ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_betrace_api_ctx_t));
        if (ctx == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ctx->key_name = name;
        ctx->roles = roles;
        ngx_http_set_ctx(r, ctx, ngx_http_betrace_api_module);
    }

    if (rc == NGX_OK && (roles & need)) {
        return NGX_OK;
    }

    if (rc == NGX_OK) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "betrace: key \"%V\" lacks the role", &name);

        rc = ngx_http_betrace_api_send_error(r, NGX_HTTP_FORBIDDEN,
                 "forbidden", "the key \"%.*s\" does not have the %s role",
                 (int) name.len, name.data,
                 need == NGX_HTTP_BETRACE_ROLE_INGEST ? "ingest" : "read");

    } else {
        rc = ngx_http_betrace_api_unauthorized(r,
                 rc == NGX_DECLINED ? "an API key is required "
                                      "(Authorization: Bearer <key>)"
                                    : "unknown API key");
    }

    ngx_http_finalize_request(r, rc);

    return NGX_DONE;
}


/*
 * Looks the Bearer key up by its SHA-256.  Returns NGX_OK with the key's
 * roles and name, NGX_DECLINED when there is no Bearer key, NGX_ERROR when
 * the key is unknown.  Every entry is compared in constant time and the
 * walk does not stop at a match, so timing says nothing about the table.
 */

ngx_int_t
ngx_http_betrace_api_authenticate(ngx_http_request_t *r,
    ngx_http_betrace_api_main_conf_t *amcf, ngx_uint_t *roles,
    ngx_str_t *name)
{
    u_char                       hash[SHA256_DIGEST_LENGTH];
    ngx_str_t                    v;
    ngx_uint_t                   i, found;
    ngx_http_betrace_api_key_t  *key;

    if (r->headers_in.authorization == NULL) {
        return NGX_DECLINED;
    }

    v = r->headers_in.authorization->value;

    if (v.len < sizeof("Bearer ") - 1
        || ngx_strncasecmp(v.data, (u_char *) "Bearer ",
                           sizeof("Bearer ") - 1) != 0)
    {
        return NGX_DECLINED;
    }

    v.data += sizeof("Bearer ") - 1;
    v.len -= sizeof("Bearer ") - 1;

    while (v.len && v.data[0] == ' ') {
        v.data++;
        v.len--;
    }

    while (v.len && v.data[v.len - 1] == ' ') {
        v.len--;
    }

    if (v.len == 0) {
        return NGX_DECLINED;
    }

    SHA256(v.data, v.len, hash);

    found = 0;
    *roles = 0;
    key = amcf->keys->elts;

    for (i = 0; i < amcf->keys->nelts; i++) {
        if (CRYPTO_memcmp(key[i].hash, hash, sizeof(hash)) == 0) {
            found = 1;
            *roles |= key[i].roles;
            *name = key[i].name;
        }
    }

    return found ? NGX_OK : NGX_ERROR;
}


ngx_int_t
ngx_http_betrace_api_unauthorized(ngx_http_request_t *r, const char *message)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "betrace: API request refused: %s", message);

    h->hash = 1;
    ngx_str_set(&h->key, "WWW-Authenticate");
    ngx_str_set(&h->value, "Bearer realm=\"betrace\"");

    r->headers_out.www_authenticate = h;

    return ngx_http_betrace_api_send_error(r, NGX_HTTP_UNAUTHORIZED,
                                           "unauthorized", "%s", message);
}


static ngx_int_t
ngx_http_betrace_api_handler(ngx_http_request_t *r)
{
    ngx_int_t                          rc;
    ngx_http_cleanup_t                *cln;
    ngx_http_betrace_api_ctx_t        *ctx;
    ngx_http_betrace_api_loc_conf_t   *alcf;

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_betrace_api_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->amcf = ngx_http_get_module_main_conf(r, ngx_http_betrace_api_module);
    ngx_http_set_ctx(r, ctx, ngx_http_betrace_api_module);

    /* the body's JSON, whenever it gets parsed, dies with the request */

    cln = ngx_http_cleanup_add(r, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_http_betrace_api_json_cleanup;
    cln->data = ctx;

    /* these three return NGX_ERROR with rc set when they answered */

    if (ngx_http_betrace_api_split(r, ctx, &rc) != NGX_OK
        || ngx_http_betrace_api_route(r, ctx, &rc) != NGX_OK)
    {
        return rc;
    }

    alcf = ngx_http_get_module_loc_conf(r, ngx_http_betrace_api_module);

    if (!alcf->auth) {
        ctx->roles = NGX_HTTP_BETRACE_ROLE_READ|NGX_HTTP_BETRACE_ROLE_WRITE;
        ngx_str_set(&ctx->key_name, "-");

    } else {
        rc = ngx_http_betrace_api_authenticate(r, ctx->amcf, &ctx->roles,
                                               &ctx->key_name);
        if (rc == NGX_DECLINED) {
            return ngx_http_betrace_api_unauthorized(r,
                       "an API key is required (Authorization: Bearer <key>)");
        }

        if (rc != NGX_OK) {
            return ngx_http_betrace_api_unauthorized(r, "unknown API key");
        }

        if ((ctx->roles & ctx->route->role) != ctx->route->role) {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "betrace: key \"%V\" lacks the role",
                          &ctx->key_name);

            return ngx_http_betrace_api_send_error(r, NGX_HTTP_FORBIDDEN,
                       "forbidden",
                       "the key \"%.*s\" does not have the %s role",
                       (int) ctx->key_name.len, ctx->key_name.data,
                       ctx->route->role & NGX_HTTP_BETRACE_ROLE_WRITE
                       ? "write" : "read");
        }
    }

    if (ngx_http_betrace_check_args(r, ctx->route->args, &rc) != NGX_OK) {
        return rc;
    }

    if (!(r->method & (NGX_HTTP_POST|NGX_HTTP_PUT|NGX_HTTP_PATCH))) {
        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        return ctx->route->handler(r, ctx);
    }

    if (ngx_http_betrace_api_content_type(r, &rc) != NGX_OK) {
        return rc;
    }

    if (r->headers_in.content_length_n > (off_t) alcf->max_body_size) {
        return ngx_http_betrace_api_too_large(r, alcf->max_body_size);
    }

    rc = ngx_http_read_client_request_body(r,
                                           ngx_http_betrace_api_body_handler);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


/* "/api/v1/rules/abc" -> segs {"rules", "abc"} */

static ngx_int_t
ngx_http_betrace_api_split(ngx_http_request_t *r,
    ngx_http_betrace_api_ctx_t *ctx, ngx_int_t *rc)
{
    u_char  *p, *last, *s;

    if (r->uri.len < sizeof(NGX_HTTP_BETRACE_API_PREFIX) - 1
        || ngx_strncmp(r->uri.data, NGX_HTTP_BETRACE_API_PREFIX,
                       sizeof(NGX_HTTP_BETRACE_API_PREFIX) - 1) != 0)
    {
        goto not_found;
    }

    p = r->uri.data + sizeof(NGX_HTTP_BETRACE_API_PREFIX) - 1;
    last = r->uri.data + r->uri.len;

    /* one trailing slash is forgiven: "rules/" is "rules" */

    if (last > p && last[-1] == '/') {
        last--;
    }

    while (p < last) {
        s = ngx_strlchr(p, last, '/');
        if (s == NULL) {
            s = last;
        }

        if (s == p || ctx->nsegs == NGX_HTTP_BETRACE_API_MAX_SEGS) {
            goto not_found;
        }

        ctx->segs[ctx->nsegs].data = p;
        ctx->segs[ctx->nsegs].len = s - p;
        ctx->nsegs++;

        p = s + 1;
    }

    return NGX_OK;

not_found:

    *rc = ngx_http_betrace_api_send_error(r, NGX_HTTP_NOT_FOUND,
                                          "not_found", "no such endpoint: "
                                          "%.*s", (int) r->uri.len,
                                          r->uri.data);
    return NGX_ERROR;
}


static ngx_int_t
ngx_http_betrace_api_route(ngx_http_request_t *r,
    ngx_http_betrace_api_ctx_t *ctx, ngx_int_t *rc)
{
    ngx_uint_t                     methods, method;
    ngx_http_betrace_api_route_t  *rt;

    methods = 0;

    /* HEAD is answered like GET; nginx drops the body */

    method = (r->method == NGX_HTTP_HEAD) ? NGX_HTTP_GET : r->method;

    for (rt = ngx_http_betrace_api_routes; rt->handler; rt++) {

        if (!ngx_http_betrace_api_match(ctx, &rt->path)) {
            continue;
        }

        if (rt->method == method) {
            ctx->route = rt;
            return NGX_OK;
        }

        methods |= rt->method;
    }

    if (methods) {
        *rc = ngx_http_betrace_api_not_allowed(r, methods);
        return NGX_ERROR;
    }

    *rc = ngx_http_betrace_api_send_error(r, NGX_HTTP_NOT_FOUND,
                                          "not_found", "no such endpoint: "
                                          "%.*s", (int) r->uri.len,
                                          r->uri.data);
    return NGX_ERROR;
}


static ngx_uint_t
ngx_http_betrace_api_match(ngx_http_betrace_api_ctx_t *ctx, ngx_str_t *path)
{
    u_char      *p, *last, *s;
    ngx_uint_t   i;

    p = path->data;
    last = path->data + path->len;

    for (i = 0; i < ctx->nsegs; i++) {
        if (p >= last) {
            return 0;
        }

        s = ngx_strlchr(p, last, '/');
        if (s == NULL) {
            s = last;
        }

        if (!(s - p == 1 && *p == '*')
            && ((size_t) (s - p) != ctx->segs[i].len
                || ngx_strncmp(p, ctx->segs[i].data, s - p) != 0))
        {
            return 0;
        }

        p = s + 1;
    }

    return p >= last;
}


static ngx_int_t
ngx_http_betrace_api_not_allowed(ngx_http_request_t *r, ngx_uint_t methods)
{
    u_char           *p;
    ngx_uint_t        i;
    ngx_table_elt_t  *h;

    static struct {
        ngx_uint_t    method;
        const char   *name;
    } names[] = {
        { NGX_HTTP_GET, "GET, HEAD" },
        { NGX_HTTP_POST, "POST" },
        { NGX_HTTP_PUT, "PUT" },
        { NGX_HTTP_PATCH, "PATCH" },
        { NGX_HTTP_DELETE, "DELETE" }
    };

    p = ngx_pnalloc(r->pool, sizeof("GET, HEAD, POST, PUT, PATCH, DELETE"));
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Allow");
    h->value.data = p;

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (methods & names[i].method) {
            if (p != h->value.data) {
                *p++ = ',';
                *p++ = ' ';
            }

            p = ngx_cpymem(p, names[i].name, ngx_strlen(names[i].name));
        }
    }

    h->value.len = p - h->value.data;

    return ngx_http_betrace_api_send_error(r, NGX_HTTP_NOT_ALLOWED,
                                           "method_not_allowed",
                                           "%.*s is not allowed here; "
                                           "allowed: %.*s",
                                           (int) r->method_name.len,
                                           r->method_name.data,
                                           (int) h->value.len,
                                           h->value.data);
}


/* application/json (any parameters), or none at all */

static ngx_int_t
ngx_http_betrace_api_content_type(ngx_http_request_t *r, ngx_int_t *rc)
{
    ngx_str_t  *ct;

    if (r->headers_in.content_type == NULL) {
        return NGX_OK;
    }

    ct = &r->headers_in.content_type->value;

    if (ct->len >= sizeof("application/json") - 1
        && ngx_strncasecmp(ct->data, (u_char *) "application/json",
                           sizeof("application/json") - 1) == 0
        && (ct->len == sizeof("application/json") - 1
            || ct->data[sizeof("application/json") - 1] == ';'
            || ct->data[sizeof("application/json") - 1] == ' '))
    {
        return NGX_OK;
    }

    *rc = ngx_http_betrace_api_send_error(r,
              NGX_HTTP_UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type",
              "Content-Type must be application/json, not \"%.*s\"",
              (int) ct->len, ct->data);
    return NGX_ERROR;
}


static void
ngx_http_betrace_api_body_handler(ngx_http_request_t *r)
{
    ngx_int_t                    rc;
    ngx_http_betrace_api_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_betrace_api_module);

    if (ngx_http_betrace_api_parse_body(r, ctx, &rc) == NGX_OK) {
        rc = ctx->route->handler(r, ctx);
    }

    ngx_http_finalize_request(r, rc);
}


/*
 * Reads the body into ctx->body.  Returns NGX_OK, or NGX_ERROR with *rc
 * set to what to finalize the request with (an error was sent).
 */

static ngx_int_t
ngx_http_betrace_api_parse_body(ngx_http_request_t *r,
    ngx_http_betrace_api_ctx_t *ctx, ngx_int_t *rc)
{
    u_char                           *buf, *p;
    size_t                            len;
    ssize_t                           n;
    ngx_buf_t                        *b;
    ngx_chain_t                      *cl;
    json_error_t                      err;
    ngx_http_betrace_api_loc_conf_t  *alcf;

    alcf = ngx_http_get_module_loc_conf(r, ngx_http_betrace_api_module);

    len = 0;

    if (r->request_body && r->request_body->bufs) {
        for (cl = r->request_body->bufs; cl; cl = cl->next) {
            b = cl->buf;
            len += b->in_file ? (size_t) (b->file_last - b->file_pos)
                              : (size_t) (b->last - b->pos);
        }
    }

    /* chunked bodies have no Content-Length to refuse early */

    if (len > alcf->max_body_size) {
        *rc = ngx_http_betrace_api_too_large(r, alcf->max_body_size);
        return NGX_ERROR;
    }

    buf = ngx_pnalloc(r->pool, len + 1);
    if (buf == NULL) {
        *rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_ERROR;
    }

    p = buf;

    if (len) {
        for (cl = r->request_body->bufs; cl; cl = cl->next) {
            b = cl->buf;

            if (!b->in_file) {
                p = ngx_cpymem(p, b->pos, b->last - b->pos);
                continue;
            }

            n = ngx_read_file(b->file, p, b->file_last - b->file_pos,
                              b->file_pos);
            if (n != b->file_last - b->file_pos) {
                *rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
                return NGX_ERROR;
            }

            p += n;
        }
    }

    ctx->body = json_loadb((char *) buf, len,
                           JSON_REJECT_DUPLICATES,
                           &err);
    if (ctx->body == NULL) {
        *rc = ngx_http_betrace_api_send_error(r, NGX_HTTP_BAD_REQUEST,
                  "invalid_json", "malformed JSON at line %d, column %d: %s",
                  err.line, err.column, err.text);
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_http_betrace_api_json_cleanup(void *data)
{
    ngx_http_betrace_api_ctx_t *ctx = data;

    if (ctx->body) {
        json_decref(ctx->body);
        ctx->body = NULL;
    }
}


ngx_int_t
ngx_http_betrace_api_send_json(ngx_http_request_t *r, ngx_uint_t status,
    json_t *json)
{
    char                        *s;
    size_t                       len, flags;
    ngx_int_t                    rc;
    ngx_buf_t                   *b;
    ngx_http_betrace_api_ctx_t  *ctx;

    rc = ngx_http_discard_request_body(r);

    if (rc != NGX_OK) {
        json_decref(json);
        return rc;
    }

    if (status == NGX_HTTP_NO_CONTENT) {
        json_decref(json);

        r->headers_out.status = status;
        r->header_only = 1;
        ngx_http_clear_content_length(r);

        return ngx_http_send_header(r);
    }

    if (json == NULL) {
        s = NULL;
        len = 2;

    } else {
        flags = JSON_COMPACT|JSON_ENCODE_ANY
                |JSON_REAL_PRECISION(ngx_http_betrace_api_exact_at_15(json)
                                     ? 15 : 17);

        s = json_dumps(json, flags);
        json_decref(json);

        if (s == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        len = ngx_strlen(s);
    }

    b = ngx_create_temp_buf(r->pool, len + 1);
    if (b == NULL) {
        free(s);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_betrace_api_module);
    if (ctx) {
        ctx->json_sent = 1;
    }

    b->last = ngx_cpymem(b->pos, s ? s : "{}", len);
    *b->last++ = '\n';

    free(s);

    return ngx_http_betrace_send(r, status, "application/json", b);
}


/*
 * 1 if every real in json reads back as the same double from 15
 * significant digits.  Then the reply prints them that way (latency_ms
 * 0.136, not 0.13600000000000001); a reply with a real that needs 16 or 17
 * digits (an attribute the engine stored as 0.30000000000000004) keeps
 * jansson's exact 17, so no value changes on its way through the API.
 */

static ngx_uint_t
ngx_http_betrace_api_exact_at_15(json_t *json)
{
    char         buf[32];
    size_t       i;
    double       d;
    json_t      *v;
    const char  *k;

    switch (json_typeof(json)) {

    case JSON_REAL:
        d = json_real_value(json);
        snprintf(buf, sizeof(buf), "%.15g", d);
        return strtod(buf, NULL) == d;

    case JSON_ARRAY:
        json_array_foreach(json, i, v) {
            if (!ngx_http_betrace_api_exact_at_15(v)) {
                return 0;
            }
        }

        return 1;

    case JSON_OBJECT:
        json_object_foreach(json, k, v) {
            if (!ngx_http_betrace_api_exact_at_15(v)) {
                return 0;
            }
        }

        return 1;

    default:
        return 1;
    }
}


/*
 * Errors nginx answers itself in an API location (413 from
 * client_max_body_size, 400 for a malformed request, 408, 500 from a
 * handler's status code) would be HTML pages; the header filter swaps
 * them for the API's JSON error and the body filter sends it in place of
 * the page.
 */

static ngx_int_t
ngx_http_betrace_api_header_filter(ngx_http_request_t *r)
{
    const char                       *code, *message;
    ngx_buf_t                        *b;
    ngx_uint_t                        status;
    ngx_http_core_loc_conf_t         *clcf;
    ngx_http_betrace_api_ctx_t       *ctx;
    ngx_http_betrace_api_loc_conf_t  *alcf;

    status = r->headers_out.status;
    alcf = ngx_http_get_module_loc_conf(r, ngx_http_betrace_api_module);

    if (r != r->main || !alcf->api || status < NGX_HTTP_BAD_REQUEST) {
        return ngx_http_next_header_filter(r);
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_betrace_api_module);

    if (ctx && ctx->json_sent) {
        return ngx_http_next_header_filter(r);
    }

    if (ctx == NULL) {
        ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_betrace_api_ctx_t));
        if (ctx == NULL) {
            return NGX_ERROR;
        }

        ngx_http_set_ctx(r, ctx, ngx_http_betrace_api_module);
    }

    switch (status) {
    case NGX_HTTP_BAD_REQUEST:
        code = "bad_request";
        message = "nginx refused the request as malformed";
        break;
    case NGX_HTTP_NOT_FOUND:
        code = "not_found";
        message = "not found";
        break;
    case NGX_HTTP_NOT_ALLOWED:
        code = "method_not_allowed";
        message = "the method is not allowed here";
        break;
    case NGX_HTTP_REQUEST_TIME_OUT:
        code = "request_timeout";
        message = "the request was not received in time";
        break;
    case NGX_HTTP_REQUEST_ENTITY_TOO_LARGE:
        code = "body_too_large";
        message = NULL;
        break;
    case NGX_HTTP_REQUEST_URI_TOO_LARGE:
        code = "uri_too_long";
        message = "the request URI is too long";
        break;
    case NGX_HTTP_SERVICE_UNAVAILABLE:
        code = "unavailable";
        message = "the service is unavailable";
        break;
    default:
        if (status >= NGX_HTTP_INTERNAL_SERVER_ERROR) {
            code = "internal";
            message = "internal error";

        } else {
            code = "error";
            message = "nginx refused the request";
        }
    }

    b = ngx_create_temp_buf(r->pool, 160);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->last = ngx_sprintf(b->pos,
                          "{\"error\":{\"code\":\"%s\",\"message\":\"",
                          code);

    if (message) {
        b->last = ngx_sprintf(b->last, "%s", message);

    } else {
        /* client_max_body_size: the API's limit (merge_loc_conf) */

        clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);
        b->last = ngx_http_betrace_api_size_text(
                      ngx_sprintf(b->last, "the request body is larger "
                                  "than "),
                      (size_t) clcf->client_max_body_size);
    }

    b->last = ngx_sprintf(b->last, "\"}}\n");
    b->last_buf = 1;
    b->last_in_chain = 1;

    ctx->error_body = b;

    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;
    r->headers_out.charset.len = 0;
    r->headers_out.content_length_n = b->last - b->pos;

    if (r->headers_out.content_length) {
        r->headers_out.content_length->hash = 0;
        r->headers_out.content_length = NULL;
    }

    return ngx_http_next_header_filter(r);
}


static ngx_int_t
ngx_http_betrace_api_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_chain_t                  out, *cl;
    ngx_http_betrace_api_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_betrace_api_module);

    if (ctx == NULL || ctx->error_body == NULL) {
        return ngx_http_next_body_filter(r, in);
    }

    /* nginx's page is dropped: its buffers are static or pool memory */

    for (cl = in; cl; cl = cl->next) {
        cl->buf->pos = cl->buf->last;
    }

    if (ctx->error_sent) {
        return NGX_OK;
    }

    ctx->error_sent = 1;

    out.buf = ctx->error_body;
    out.next = NULL;

    return ngx_http_next_body_filter(r, &out);
}


json_t *
ngx_http_betrace_api_error_json(const char *code, const char *fmt, ...)
{
    json_t   *msg, *err;
    va_list   ap;

    va_start(ap, fmt);
    msg = json_vsprintf(fmt, ap);
    va_end(ap);

    if (msg == NULL) {
        msg = json_string("(message not representable)");
    }

    err = json_pack("{s:{s:s,s:o}}", "error", "code", code, "message", msg);

    return err;
}


ngx_int_t
ngx_http_betrace_api_send_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *code, const char *fmt, ...)
{
    json_t   *msg, *err;
    va_list   ap;

    va_start(ap, fmt);
    msg = json_vsprintf(fmt, ap);
    va_end(ap);

    if (msg == NULL) {
        msg = json_string("(message not representable)");
    }

    err = json_pack("{s:{s:s,s:o}}", "error", "code", code, "message", msg);
    if (err == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_betrace_api_send_json(r, status, err);
}


/*
 * A size as it is written in nginx.conf: "1m", "512k", "1000" (bytes).
 * Writes at most NGX_SIZE_T_LEN + 6 bytes at p and returns the end.
 */

static u_char *
ngx_http_betrace_api_size_text(u_char *p, size_t size)
{
    if (size != 0 && size % (1024 * 1024) == 0) {
        return ngx_sprintf(p, "%uzm", size / (1024 * 1024));
    }

    if (size != 0 && size % 1024 == 0) {
        return ngx_sprintf(p, "%uzk", size / 1024);
    }

    return ngx_sprintf(p, "%uz bytes", size);
}


/*
 * 413 body_too_large with the limit named as in the configuration, the
 * same text whichever check caught the body (Content-Length, the read
 * body, or nginx's client_max_body_size via the header filter).
 */

static ngx_int_t
ngx_http_betrace_api_too_large(ngx_http_request_t *r, size_t limit)
{
    u_char  buf[NGX_SIZE_T_LEN + 8], *p;

    p = ngx_http_betrace_api_size_text(buf, limit);

    return ngx_http_betrace_api_send_error(r,
               NGX_HTTP_REQUEST_ENTITY_TOO_LARGE, "body_too_large",
               "the request body is larger than %.*s", (int) (p - buf), buf);
}


ngx_int_t
ngx_http_betrace_api_send_invalid(ngx_http_request_t *r, const char *member,
    const char *name, const char *fmt, ...)
{
    json_t      *msg, *err;
    va_list      ap;
    const char  *code;

    va_start(ap, fmt);
    msg = json_vsprintf(fmt, ap);
    va_end(ap);

    if (msg == NULL) {
        msg = json_string("(message not representable)");
    }

    /* the code is the member's name: one vocabulary for every endpoint */

    code = (ngx_strcmp(member, NGX_HTTP_BETRACE_API_FIELD) == 0)
           ? "invalid_field" : "invalid_parameter";

    err = json_pack("{s:{s:s,s:s,s:o}}", "error", "code", code, member, name,
                    "message", msg);
    if (err == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_betrace_api_send_json(r, NGX_HTTP_BAD_REQUEST, err);
}


ngx_int_t
ngx_http_betrace_api_arg(ngx_http_request_t *r, const char *name,
    ngx_str_t *value)
{
    u_char     *dst, *src;
    ngx_str_t   raw;
    ngx_uint_t  i;

    if (ngx_http_arg(r, (u_char *) name, ngx_strlen(name), &raw) != NGX_OK) {
        return NGX_DECLINED;
    }

    dst = ngx_pnalloc(r->pool, raw.len + 1);
    if (dst == NULL) {
        return NGX_ERROR;
    }

    /* '+' is a space in a query string; ngx_unescape_uri leaves it */

    for (i = 0; i < raw.len; i++) {
        dst[i] = (raw.data[i] == '+') ? ' ' : raw.data[i];
    }

    /* unescaping never grows, so it can run in place */

    value->data = dst;
    src = dst;
    ngx_unescape_uri(&dst, &src, raw.len, NGX_UNESCAPE_URI);

    value->len = dst - value->data;
    *dst = '\0';

    return NGX_OK;
}


char *
ngx_http_betrace_api_strdup(ngx_http_request_t *r, ngx_str_t *s)
{
    u_char  *p;

    p = ngx_pnalloc(r->pool, s->len + 1);
    if (p == NULL) {
        return NULL;
    }

    ngx_memcpy(p, s->data, s->len);
    p[s->len] = '\0';

    return (char *) p;
}
