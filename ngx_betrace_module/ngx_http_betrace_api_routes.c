
/*
 * BeTrace nginx module: the REST API's routes.
 *
 * Data, not code: the router walks this table in order, so a literal
 * segment ("rules/validate") must come before a "*" that would match it
 * ("rules/ *").  Paths are relative to /api/v1/; "*" is one segment.
 * Each endpoint file adds its lines here and declares its handlers in
 * ngx_http_betrace_api.h.  The last member lists the query parameters a
 * route reads: the router refuses any other, so a misspelt filter is a
 * 400 rather than a filter silently not applied.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_betrace_api.h"
#include "ngx_http_betrace_api_ops.h"


#define R  NGX_HTTP_BETRACE_ROLE_READ
#define W  NGX_HTTP_BETRACE_ROLE_WRITE


/* the query parameters each list endpoint reads; the others take none */

static const char *const  ngx_http_betrace_rules_args[] = {
    "enabled", "severity", "tag", "text", NULL
};

static const char *const  ngx_http_betrace_signals_args[] = {
    "rule_id", "severity", "status", "trace_id", "from", "to", "limit",
    "cursor", NULL
};

static const char *const  ngx_http_betrace_counts_args[] = {
    "from", "to", NULL
};


ngx_http_betrace_api_route_t  ngx_http_betrace_api_routes[] = {

    /* rules (ngx_http_betrace_api_rules.c) */

    { NGX_HTTP_POST, ngx_string("rules/validate"), R,
      ngx_http_betrace_api_rules_validate, NULL },
    { NGX_HTTP_GET, ngx_string("rules"), R,
      ngx_http_betrace_api_rules_list, ngx_http_betrace_rules_args },
    { NGX_HTTP_POST, ngx_string("rules"), W,
      ngx_http_betrace_api_rules_create, NULL },
    { NGX_HTTP_GET, ngx_string("rules/*"), R,
      ngx_http_betrace_api_rule_get, NULL },
    { NGX_HTTP_PUT, ngx_string("rules/*"), W,
      ngx_http_betrace_api_rule_put, NULL },
    { NGX_HTTP_PATCH, ngx_string("rules/*"), W,
      ngx_http_betrace_api_rule_patch, NULL },
    { NGX_HTTP_DELETE, ngx_string("rules/*"), W,
      ngx_http_betrace_api_rule_delete, NULL },

    /* signals, traces, operations (ngx_http_betrace_api_ops.h) */

    { NGX_HTTP_GET, ngx_string("signals/counts"), R,
      ngx_http_betrace_api_signals_counts, ngx_http_betrace_counts_args },
    { NGX_HTTP_GET, ngx_string("signals"), R,
      ngx_http_betrace_api_signals_list, ngx_http_betrace_signals_args },
    { NGX_HTTP_GET, ngx_string("signals/*"), R,
      ngx_http_betrace_api_signal_get, NULL },
    { NGX_HTTP_PATCH, ngx_string("signals/*"), W,
      ngx_http_betrace_api_signal_patch, NULL },
    { NGX_HTTP_GET, ngx_string("traces/*"), R,
      ngx_http_betrace_api_trace_get, NULL },
    { NGX_HTTP_GET, ngx_string("health"), R,
      ngx_http_betrace_api_health, NULL },
    { NGX_HTTP_GET, ngx_string("stats"), R,
      ngx_http_betrace_api_stats, NULL },

    { 0, ngx_null_string, 0, NULL, NULL }
};
