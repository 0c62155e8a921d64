
/*
 * BeTrace nginx module: directives, configuration and process hooks.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_betrace_module.h"


static void *ngx_http_betrace_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_betrace_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_betrace_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_betrace_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_betrace_ring_conf(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_betrace_otlp(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_betrace_stats(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_betrace_init_module(ngx_cycle_t *cycle);
static ngx_int_t ngx_http_betrace_init_process(ngx_cycle_t *cycle);
static void ngx_http_betrace_exit_process(ngx_cycle_t *cycle);


static ngx_command_t  ngx_http_betrace_commands[] = {

    { ngx_string("betrace_ring"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE123,
      ngx_http_betrace_ring_conf,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("betrace_otlp"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_betrace_otlp,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("betrace_stats"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_betrace_stats,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("betrace_max_body_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_betrace_loc_conf_t, max_body_size),
      NULL },

    { ngx_string("betrace_max_spans"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_betrace_loc_conf_t, max_spans),
      NULL },

    { ngx_string("betrace_max_attributes"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_betrace_loc_conf_t, max_attributes),
      NULL },

    { ngx_string("betrace_max_value_length"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_betrace_loc_conf_t, max_value_length),
      NULL },

    { ngx_string("betrace_max_depth"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_betrace_loc_conf_t, max_depth),
      NULL },

    { ngx_string("betrace_retry_after"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_betrace_loc_conf_t, retry_after),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_betrace_module_ctx = {
    NULL,                                  /* preconfiguration */
    NULL,                                  /* postconfiguration */

    ngx_http_betrace_create_main_conf,     /* create main configuration */
    ngx_http_betrace_init_main_conf,       /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_betrace_create_loc_conf,      /* create location configuration */
    ngx_http_betrace_merge_loc_conf        /* merge location configuration */
};


ngx_module_t  ngx_http_betrace_module = {
    NGX_MODULE_V1,
    &ngx_http_betrace_module_ctx,          /* module context */
    ngx_http_betrace_commands,             /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    ngx_http_betrace_init_module,          /* init module */
    ngx_http_betrace_init_process,         /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_betrace_exit_process,         /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static void *
ngx_http_betrace_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_betrace_main_conf_t  *bmcf;

    bmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_betrace_main_conf_t));
    if (bmcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     bmcf->ring_path = { 0, NULL };
     *     bmcf->geometry = { 0, 0 };
     *     bmcf->used = 0;
     */

    return bmcf;
}


static char *
ngx_http_betrace_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_betrace_main_conf_t *bmcf = conf;

    if (bmcf->ring_path.data == NULL) {
        ngx_str_set(&bmcf->ring_path, BT_SHM_DEFAULT_PATH);
    }

    if (bmcf->geometry.nslots == 0) {
        bmcf->geometry.nslots = BT_SHM_DEFAULT_SLOTS;
    }

    if (bmcf->geometry.slot_bytes == 0) {
        bmcf->geometry.slot_bytes = BT_SHM_DEFAULT_SLOT_BYTES;
    }

    return NGX_CONF_OK;
}


static void *
ngx_http_betrace_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_betrace_loc_conf_t  *blcf;

    blcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_betrace_loc_conf_t));
    if (blcf == NULL) {
        return NULL;
    }

    blcf->max_body_size = NGX_CONF_UNSET_SIZE;
    blcf->max_spans = NGX_CONF_UNSET_UINT;
    blcf->max_attributes = NGX_CONF_UNSET_UINT;
    blcf->max_value_length = NGX_CONF_UNSET_SIZE;
    blcf->max_depth = NGX_CONF_UNSET_UINT;
    blcf->retry_after = NGX_CONF_UNSET;

    return blcf;
}


static char *
ngx_http_betrace_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_betrace_loc_conf_t *prev = parent;
    ngx_http_betrace_loc_conf_t *conf = child;

    ngx_conf_merge_size_value(conf->max_body_size, prev->max_body_size,
                              16 * 1024 * 1024);
    ngx_conf_merge_uint_value(conf->max_spans, prev->max_spans, 10000);
    ngx_conf_merge_uint_value(conf->max_attributes, prev->max_attributes,
                              128);
    ngx_conf_merge_size_value(conf->max_value_length, prev->max_value_length,
                              64 * 1024);
    ngx_conf_merge_uint_value(conf->max_depth, prev->max_depth, 8);
    ngx_conf_merge_sec_value(conf->retry_after, prev->retry_after, 1);

    /* the decoder's limits are u32 */

    if (conf->max_body_size == 0 || conf->max_body_size > 0xffffffff) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"betrace_max_body_size\" must be between 1 and "
                           "4294967295 bytes");
        return NGX_CONF_ERROR;
    }

    if (conf->max_spans == 0 || conf->max_spans > 0xffffffff) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"betrace_max_spans\" must be between 1 and "
                           "4294967295");
        return NGX_CONF_ERROR;
    }

    if (conf->max_attributes > 0xffffffff) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"betrace_max_attributes\" must be at most "
                           "4294967295");
        return NGX_CONF_ERROR;
    }

    if (conf->max_value_length > 0xffffffff) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"betrace_max_value_length\" must be at most "
                           "4294967295 bytes");
        return NGX_CONF_ERROR;
    }

    if (conf->max_depth == 0 || conf->max_depth > 0xffffffff) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"betrace_max_depth\" must be at least 1");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* betrace_ring PATH [slots=N] [slot_size=SIZE]; */

static char *
ngx_http_betrace_ring_conf(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_betrace_main_conf_t *bmcf = conf;

    off_t       size;
    ngx_int_t   n;
    ngx_str_t  *value, s;
    ngx_uint_t  i;

    if (bmcf->ring_path.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid ring path \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    /* bt_shm_open() takes a C string */

    bmcf->ring_path.len = value[1].len;
    bmcf->ring_path.data = ngx_pnalloc(cf->pool, value[1].len + 1);
    if (bmcf->ring_path.data == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_cpystrn(bmcf->ring_path.data, value[1].data, value[1].len + 1);

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "slots=", 6) == 0) {

            n = ngx_atoi(value[i].data + 6, value[i].len - 6);
            if (n == NGX_ERROR || n < 1 || n > 256) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid number of slots \"%V\", "
                                   "it must be between 1 and 256",
                                   &value[i]);
                return NGX_CONF_ERROR;
            }

            bmcf->geometry.nslots = (uint32_t) n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "slot_size=", 10) == 0) {

            s.len = value[i].len - 10;
            s.data = value[i].data + 10;

            size = ngx_parse_offset(&s);
            if (size == NGX_ERROR || size < 64 * 1024
                || (size & (size - 1)) != 0)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid slot size \"%V\", it must be "
                                   "a power of two of at least 64k",
                                   &value[i]);
                return NGX_CONF_ERROR;
            }

            bmcf->geometry.slot_bytes = (uint64_t) size;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\"", &value[i]);
        return NGX_CONF_ERROR;
    }

    bmcf->used = 1;

    return NGX_CONF_OK;
}


static char *
ngx_http_betrace_otlp(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t      *clcf;
    ngx_http_betrace_main_conf_t  *bmcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    if (clcf->handler) {
        return "is duplicate or conflicts with another content handler";
    }

    clcf->handler = ngx_http_betrace_otlp_handler;

    bmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_betrace_module);
    bmcf->used = 1;

    return NGX_CONF_OK;
}


static char *
ngx_http_betrace_stats(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t      *clcf;
    ngx_http_betrace_main_conf_t  *bmcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    if (clcf->handler) {
        return "is duplicate or conflicts with another content handler";
    }

    clcf->handler = ngx_http_betrace_stats_handler;

    bmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_betrace_module);
    bmcf->used = 1;

    return NGX_CONF_OK;
}


/*
 * Runs in the master after the configuration is read (start, reload and
 * "nginx -t"), so a segment of another geometry stops nginx from starting
 * instead of only being refused later by every worker.
 */

static ngx_int_t
ngx_http_betrace_init_module(ngx_cycle_t *cycle)
{
    ngx_http_betrace_main_conf_t  *bmcf;

    bmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_betrace_module);
    if (bmcf == NULL || !bmcf->used) {
        return NGX_OK;
    }

    return ngx_http_betrace_ring_check(cycle, bmcf);
}


static ngx_int_t
ngx_http_betrace_init_process(ngx_cycle_t *cycle)
{
    ngx_http_betrace_main_conf_t  *bmcf;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    bmcf = ngx_http_cycle_get_module_main_conf(cycle,
                                               ngx_http_betrace_module);
    if (bmcf == NULL || !bmcf->used) {
        return NGX_OK;
    }

    return ngx_http_betrace_ring_open(cycle, bmcf);
}


static void
ngx_http_betrace_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_betrace_ring_close(cycle);
}


ngx_int_t
ngx_http_betrace_send(ngx_http_request_t *r, ngx_uint_t status,
    const char *type, ngx_buf_t *b)
{
    u_char       *semi;
    ngx_int_t     rc;
    ngx_chain_t   out;

    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    r->headers_out.status = status;
    r->headers_out.content_length_n = b->last - b->pos;

    r->headers_out.content_type.data = (u_char *) type;
    r->headers_out.content_type.len = ngx_strlen(type);

    /* the type without parameters, as nginx's filters compare it */

    semi = ngx_strlchr(r->headers_out.content_type.data,
                       r->headers_out.content_type.data
                       + r->headers_out.content_type.len, ';');

    r->headers_out.content_type_len = semi
                                      ? (size_t) (semi - (u_char *) type)
                                      : r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}
