
/*
 * BeTrace nginx module: the OTLP/HTTP traces endpoint (betrace_otlp).
 *
 * POST with an ExportTraceServiceRequest in application/x-protobuf or
 * application/json, optionally gzip-encoded.  The body is read whole,
 * decompressed with a hard cap, JSON is converted to protobuf, and the
 * protobuf is walked twice: once to validate and size the batch, once to
 * write it straight into this worker's ring slot.  Answers follow the
 * OTLP/HTTP specification; every error carries a google.rpc.Status in the
 * request's encoding.  Nothing here blocks: a full ring is a 429 or 503
 * with Retry-After, never a wait.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <libdeflate.h>

#include "ngx_http_betrace_module.h"
#include "proto/otlp_decode.h"
#include "proto/otlp_json.h"
#include "proto/otlp_response.h"


/* google.rpc.Code values used in Status bodies */
#define NGX_HTTP_BETRACE_INVALID_ARGUMENT    3
#define NGX_HTTP_BETRACE_RESOURCE_EXHAUSTED  8
#define NGX_HTTP_BETRACE_UNIMPLEMENTED       12
#define NGX_HTTP_BETRACE_UNAVAILABLE         14

#define NGX_HTTP_BETRACE_MSGLEN              512


typedef struct {
    ngx_uint_t                 json;
    ngx_uint_t                 gzip;
    bt_producer_stats_t       *stats;       /* NULL: this worker has no slot */
    u_char                    *inflated;    /* malloc'd, freed by cleanup */
    uint8_t                   *pb;          /* malloc'd by the JSON decoder */
    u_char                     msg[NGX_HTTP_BETRACE_MSGLEN];
} ngx_http_betrace_otlp_ctx_t;


static u_char *ngx_http_betrace_msg(ngx_http_betrace_otlp_ctx_t *ctx,
    const char *fmt, ...);
static ngx_int_t ngx_http_betrace_otlp_content_type(ngx_http_request_t *r);
static ngx_int_t ngx_http_betrace_otlp_encoding(ngx_http_request_t *r);
static void ngx_http_betrace_otlp_body_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_betrace_otlp_process(ngx_http_request_t *r,
    ngx_http_betrace_otlp_ctx_t *ctx);
static ngx_int_t ngx_http_betrace_otlp_read_body(ngx_http_request_t *r,
    ngx_str_t *body, size_t cap);
static ngx_int_t ngx_http_betrace_otlp_gunzip(ngx_http_request_t *r,
    ngx_http_betrace_otlp_ctx_t *ctx, ngx_str_t *in, ngx_str_t *out,
    size_t cap);
static ngx_int_t ngx_http_betrace_ring_full(ngx_http_request_t *r,
    ngx_http_betrace_otlp_ctx_t *ctx, ngx_http_betrace_loc_conf_t *blcf);
static ngx_int_t ngx_http_betrace_reject(ngx_http_request_t *r,
    ngx_http_betrace_otlp_ctx_t *ctx, ngx_uint_t status, int code,
    u_char *msg);
static ngx_int_t ngx_http_betrace_early(ngx_http_request_t *r,
    ngx_http_betrace_otlp_ctx_t *ctx, ngx_uint_t status, int code,
    u_char *msg);
static ngx_int_t ngx_http_betrace_otlp_send(ngx_http_request_t *r,
    ngx_http_betrace_otlp_ctx_t *ctx, ngx_uint_t status, u_char *body,
    size_t len);
static ngx_int_t ngx_http_betrace_retry_after(ngx_http_request_t *r,
    ngx_http_betrace_loc_conf_t *blcf);
static ngx_int_t ngx_http_betrace_otlp_add_header(ngx_http_request_t *r,
    char *key, ngx_str_t *value);
static void ngx_http_betrace_otlp_cleanup(void *data);


static ngx_str_t  ngx_http_betrace_protobuf_type =
    ngx_string("application/x-protobuf");
static ngx_str_t  ngx_http_betrace_json_type =
    ngx_string("application/json");
static ngx_str_t  ngx_http_betrace_allow = ngx_string("POST");


ngx_int_t
ngx_http_betrace_otlp_handler(ngx_http_request_t *r)
{
    size_t                        cap;
    ngx_int_t                     rc, type, enc;
    ngx_pool_cleanup_t           *cln;
    ngx_http_betrace_loc_conf_t  *blcf;
    ngx_http_betrace_otlp_ctx_t  *ctx;

    blcf = ngx_http_get_module_loc_conf(r, ngx_http_betrace_module);

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_betrace_otlp_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_http_betrace_otlp_cleanup;
    cln->data = ctx;

    ngx_http_set_ctx(r, ctx, ngx_http_betrace_module);

    ctx->stats = ngx_http_betrace_ring_slot(r->connection->log);

    type = ngx_http_betrace_otlp_content_type(r);

    /* errors are answered in the request's encoding when it is known */
    ctx->json = (type == 1);

    if (!(r->method & NGX_HTTP_POST)) {

        if (ngx_http_betrace_otlp_add_header(r, "Allow",
                                             &ngx_http_betrace_allow)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_betrace_early(r, ctx, NGX_HTTP_NOT_ALLOWED,
                                      NGX_HTTP_BETRACE_UNIMPLEMENTED,
                                      (u_char *) "method not allowed, "
                                      "OTLP/HTTP export uses POST");
    }

    if (type == NGX_DECLINED) {
        return ngx_http_betrace_early(r, ctx,
                                      NGX_HTTP_UNSUPPORTED_MEDIA_TYPE,
                                      NGX_HTTP_BETRACE_INVALID_ARGUMENT,
                                      (u_char *) "unsupported Content-Type, "
                                      "use application/x-protobuf or "
                                      "application/json");
    }

    enc = ngx_http_betrace_otlp_encoding(r);

    if (enc == NGX_DECLINED) {
        return ngx_http_betrace_early(r, ctx,
                                      NGX_HTTP_UNSUPPORTED_MEDIA_TYPE,
                                      NGX_HTTP_BETRACE_INVALID_ARGUMENT,
                                      (u_char *) "unsupported "
                                      "Content-Encoding, use gzip or "
                                      "identity");
    }

    ctx->gzip = enc;

    /*
     * The limit counts decompressed bytes; a gzip body can be slightly
     * larger than its content (stored blocks), so allow for that here and
     * enforce the exact limit while inflating.
     */

    cap = blcf->max_body_size;
    if (ctx->gzip) {
        cap += (cap >> 9) + 1024;
    }

    if (r->headers_in.content_length_n > (off_t) cap) {
        ngx_http_betrace_msg(ctx, "request body of %O bytes is over the "
                             "limit of %uz bytes",
                             r->headers_in.content_length_n,
                             blcf->max_body_size);
        return ngx_http_betrace_early(r, ctx,
                                      NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                      NGX_HTTP_BETRACE_RESOURCE_EXHAUSTED,
                                      ctx->msg);
    }

    if (ctx->stats == NULL) {
        if (ngx_http_betrace_retry_after(r, blcf) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_betrace_early(r, ctx,
                                      NGX_HTTP_SERVICE_UNAVAILABLE,
                                      NGX_HTTP_BETRACE_UNAVAILABLE,
                                      (u_char *) "this worker has no ring "
                                      "slot, see the error log");
    }

    /* one contiguous buffer whenever the body fits client_body_buffer_size */
    r->request_body_in_single_buf = 1;

    rc = ngx_http_read_client_request_body(r,
                                          ngx_http_betrace_otlp_body_handler);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


/*
 * Formats the Status message into ctx->msg, truncated if need be and always
 * NUL-terminated (ngx_snprintf() leaves a truncated string unterminated).
 */

static u_char *
ngx_http_betrace_msg(ngx_http_betrace_otlp_ctx_t *ctx, const char *fmt, ...)
{
    u_char   *p;
    va_list   args;

    va_start(args, fmt);
    p = ngx_vslprintf(ctx->msg, ctx->msg + NGX_HTTP_BETRACE_MSGLEN - 1, fmt,
                      args);
    va_end(args);

    *p = '\0';

    return ctx->msg;
}


/* Returns 0 for protobuf, 1 for JSON, NGX_DECLINED for anything else. */

static ngx_int_t
ngx_http_betrace_otlp_content_type(ngx_http_request_t *r)
{
    u_char  *p, *last;
    size_t   len;

    if (r->headers_in.content_type == NULL) {
        return NGX_DECLINED;
    }

    p = r->headers_in.content_type->value.data;
    last = p + r->headers_in.content_type->value.len;

    /* the media type ends at parameters ("; charset=utf-8") or blanks */

    for (len = 0; p + len < last; len++) {
        if (p[len] == ';' || p[len] == ' ' || p[len] == '\t') {
            break;
        }
    }

    if (len == ngx_http_betrace_protobuf_type.len
        && ngx_strncasecmp(p, ngx_http_betrace_protobuf_type.data, len) == 0)
    {
        return 0;
    }

    if (len == ngx_http_betrace_json_type.len
        && ngx_strncasecmp(p, ngx_http_betrace_json_type.data, len) == 0)
    {
        return 1;
    }

    return NGX_DECLINED;
}


/* Returns 1 for gzip, 0 for identity or none, NGX_DECLINED otherwise. */

static ngx_int_t
ngx_http_betrace_otlp_encoding(ngx_http_request_t *r)
{
    u_char           *p, *last;
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return 0;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len != sizeof("Content-Encoding") - 1
            || ngx_strncasecmp(h[i].key.data, (u_char *) "Content-Encoding",
                               sizeof("Content-Encoding") - 1)
               != 0)
        {
            continue;
        }

        p = h[i].value.data;
        last = p + h[i].value.len;

        while (p < last && (*p == ' ' || *p == '\t')) {
            p++;
        }

        while (last > p && (last[-1] == ' ' || last[-1] == '\t')) {
            last--;
        }

        if ((last - p == 4 && ngx_strncasecmp(p, (u_char *) "gzip", 4) == 0)
            || (last - p == 6
                && ngx_strncasecmp(p, (u_char *) "x-gzip", 6) == 0))
        {
            return 1;
        }

        if (last == p
            || (last - p == 8
                && ngx_strncasecmp(p, (u_char *) "identity", 8) == 0))
        {
            return 0;
        }

        return NGX_DECLINED;
    }
}


static void
ngx_http_betrace_otlp_body_handler(ngx_http_request_t *r)
{
    ngx_http_betrace_otlp_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_betrace_module);

    ngx_http_finalize_request(r, ngx_http_betrace_otlp_process(r, ctx));
}


static ngx_int_t
ngx_http_betrace_otlp_process(ngx_http_request_t *r,
    ngx_http_betrace_otlp_ctx_t *ctx)
{
    int                           rc, code;
    char                          err[NGX_HTTP_BETRACE_MSGLEN];
    size_t                        len, cap, pb_len;
    u_char                       *out;
    uint8_t                      *pb, *rec;
    ngx_int_t                     n;
    ngx_str_t                     body, plain;
    bt_otlp_scan_t                scan;
    bt_otlp_limits_t              lim;
    ngx_http_betrace_loc_conf_t  *blcf;

    blcf = ngx_http_get_module_loc_conf(r, ngx_http_betrace_module);

    cap = blcf->max_body_size;
    if (ctx->gzip) {
        cap += (cap >> 9) + 1024;
    }

    n = ngx_http_betrace_otlp_read_body(r, &body, cap);

    if (n == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (n == NGX_DECLINED) {
        ngx_http_betrace_msg(ctx, "request body is over the limit of %uz "
                             "bytes", blcf->max_body_size);
        return ngx_http_betrace_reject(r, ctx,
                                       NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                       NGX_HTTP_BETRACE_RESOURCE_EXHAUSTED,
                                       ctx->msg);
    }

    if (ctx->gzip) {
        n = ngx_http_betrace_otlp_gunzip(r, ctx, &body, &plain,
                                         blcf->max_body_size);
        if (n != NGX_OK) {
            if (n == NGX_ERROR) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            code = (n == NGX_HTTP_BAD_REQUEST)
                   ? NGX_HTTP_BETRACE_INVALID_ARGUMENT
                   : NGX_HTTP_BETRACE_RESOURCE_EXHAUSTED;

            return ngx_http_betrace_reject(r, ctx, n, code, ctx->msg);
        }

    } else {
        plain = body;

        if (plain.len > blcf->max_body_size) {
            ngx_http_betrace_msg(ctx, "request body is over the limit of "
                                 "%uz bytes", blcf->max_body_size);
            return ngx_http_betrace_reject(r, ctx,
                                           NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                           NGX_HTTP_BETRACE_RESOURCE_EXHAUSTED,
                                           ctx->msg);
        }
    }

    ngx_http_betrace_count(&ctx->stats->bytes_received, plain.len);

    pb = plain.data;
    pb_len = plain.len;

    if (ctx->json) {
        err[0] = '\0';

        if (bt_otlp_json_to_pb((char *) plain.data, plain.len, &ctx->pb,
                               &pb_len, err, sizeof(err))
            != 0)
        {
            ngx_http_betrace_msg(ctx, "invalid OTLP/JSON: %s", err);
            return ngx_http_betrace_reject(r, ctx, NGX_HTTP_BAD_REQUEST,
                                           NGX_HTTP_BETRACE_INVALID_ARGUMENT,
                                           ctx->msg);
        }

        pb = ctx->pb;
    }

    lim.max_spans = (uint32_t) blcf->max_spans;
    lim.max_attrs = (uint32_t) blcf->max_attributes;
    lim.max_value_len = (uint32_t) blcf->max_value_length;
    lim.max_depth = (uint32_t) blcf->max_depth;

    rc = bt_otlp_scan(pb, pb_len, &lim, &scan);

    if (rc == BT_OTLP_MALFORMED) {
        ngx_http_betrace_msg(ctx, "malformed ExportTraceServiceRequest: %s",
                             scan.message);
        return ngx_http_betrace_reject(r, ctx, NGX_HTTP_BAD_REQUEST,
                                       NGX_HTTP_BETRACE_INVALID_ARGUMENT,
                                       ctx->msg);
    }

    if (rc == BT_OTLP_TOO_MANY_SPANS) {
        ngx_http_betrace_msg(ctx, "more than %ui spans in one request",
                             blcf->max_spans);
        return ngx_http_betrace_reject(r, ctx,
                                       NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                       NGX_HTTP_BETRACE_RESOURCE_EXHAUSTED,
                                       ctx->msg);
    }

    if (rc != BT_OTLP_OK) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "bt_otlp_scan() returned unknown code %d", rc);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (scan.accepted > 0) {

        if (scan.batch_len > bt_ring_max_record(ngx_http_betrace_ring.shm)) {
            ngx_http_betrace_msg(ctx, "the spans take %uz bytes, more than "
                                 "one ring record holds (%uD); send "
                                 "smaller batches", scan.batch_len,
                                 bt_ring_max_record(ngx_http_betrace_ring.shm));
            return ngx_http_betrace_reject(r, ctx,
                                           NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                           NGX_HTTP_BETRACE_RESOURCE_EXHAUSTED,
                                           ctx->msg);
        }

        rec = bt_ring_reserve(ngx_http_betrace_ring.shm,
                              (int) ngx_http_betrace_ring.slot,
                              (uint32_t) scan.batch_len);

        if (rec == NULL) {
            return ngx_http_betrace_ring_full(r, ctx, blcf);
        }

        bt_otlp_write(pb, pb_len, &lim, rec);
        bt_ring_commit(ngx_http_betrace_ring.shm,
                       (int) ngx_http_betrace_ring.slot, rec,
                       (uint32_t) scan.batch_len);

        ngx_http_betrace_count(&ctx->stats->spans_accepted, scan.accepted);
    }

    if (scan.rejected > 0) {
        ngx_http_betrace_count(&ctx->stats->spans_rejected, scan.rejected);
    }

    /* a JSON response can escape each message byte as \u00XX */
    len = 128 + 6 * sizeof(scan.message);

    out = ngx_pnalloc(r->pool, len);
    if (out == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    len = bt_otlp_response((int) ctx->json, scan.rejected,
                           scan.rejected ? scan.message : NULL, out, len);

    return ngx_http_betrace_otlp_send(r, ctx, NGX_HTTP_OK, out, len);
}


/*
 * Points body at the whole request body: the buffer itself when nginx read
 * it into one, otherwise a copy of the chain (memory and temp file parts)
 * in r->pool.  Returns NGX_OK, NGX_DECLINED when it is longer than cap, or
 * NGX_ERROR.
 */

static ngx_int_t
ngx_http_betrace_otlp_read_body(ngx_http_request_t *r, ngx_str_t *body,
    size_t cap)
{
    off_t         len, size;
    u_char       *p;
    ssize_t       n;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    if (r->request_body == NULL || r->request_body->bufs == NULL) {
        ngx_str_set(body, "");
        return NGX_OK;
    }

    cl = r->request_body->bufs;

    if (cl->next == NULL && !cl->buf->in_file) {
        body->data = cl->buf->pos;
        body->len = cl->buf->last - cl->buf->pos;

        return body->len > cap ? NGX_DECLINED : NGX_OK;
    }

    len = 0;

    for ( /* void */ ; cl; cl = cl->next) {
        len += ngx_buf_size(cl->buf);
    }

    if (len > (off_t) cap) {
        return NGX_DECLINED;
    }

    body->len = (size_t) len;
    body->data = ngx_pnalloc(r->pool, body->len + 1);
    if (body->data == NULL) {
        return NGX_ERROR;
    }

    p = body->data;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (ngx_buf_in_memory(b)) {
            p = ngx_cpymem(p, b->pos, b->last - b->pos);
            continue;
        }

        if (!b->in_file) {
            continue;
        }

        /* nginx's own body temp file: the one read allowed on this path */

        size = b->file_last - b->file_pos;

        n = ngx_read_file(b->file, p, (size_t) size, b->file_pos);

        if (n == NGX_ERROR) {
            return NGX_ERROR;
        }

        if (n != size) {
            ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                          ngx_read_file_n " \"%V\" returned only %z bytes "
                          "instead of %O", &b->file->name, n, size);
            return NGX_ERROR;
        }

        p += n;
    }

    return NGX_OK;
}


/*
 * Inflates a gzip body (one or more members) into a buffer that never grows
 * past cap bytes.  Returns NGX_OK with out set, NGX_HTTP_BAD_REQUEST for a
 * corrupt or truncated stream, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE when the
 * content is longer than cap (ctx->msg says why), or NGX_ERROR.
 *
 * libdeflate decompresses a whole member in one call straight into the
 * output (no window copies, a CLMUL crc32): the worker spent about half its
 * time in zlib's inflate on gzip bodies, and W3-gzip went from ~470k to
 * ~860k spans/s per core with this (reusing one z_stream instead gained
 * nothing measurable).  It needs the whole output space up front, so the
 * buffer is sized from the ISIZE trailer and a member that does not fit is
 * decompressed again into a larger one.
 */

static ngx_int_t
ngx_http_betrace_otlp_gunzip(ngx_http_request_t *r,
    ngx_http_betrace_otlp_ctx_t *ctx, ngx_str_t *in, ngx_str_t *out,
    size_t cap)
{
    size_t                  size, hint, used, pos, in_used, out_used;
    u_char                 *buf;
    enum libdeflate_result  res;

    /* one per worker, for the worker's life; it holds no request state */
    static struct libdeflate_decompressor  *dec;

    if (dec == NULL) {
        dec = libdeflate_alloc_decompressor();
        if (dec == NULL) {
            ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                          "libdeflate_alloc_decompressor() failed");
            return NGX_ERROR;
        }
    }

    /*
     * The gzip trailer's ISIZE is the last member's length mod 2^32: exact
     * for the usual single member, and only a hint, so never trusted past
     * cap nor past what DEFLATE can expand the input to (< 1032:1).
     */

    hint = in->len * 4;

    if (in->len >= 18) {
        hint = in->data[in->len - 4]
               | (in->data[in->len - 3] << 8)
               | (in->data[in->len - 2] << 16)
               | ((size_t) in->data[in->len - 1] << 24);
    }

    size = ngx_min(hint, in->len * 1032);
    size = ngx_max(size, 4096);
    size = ngx_min(size, cap);

    buf = ngx_alloc(size, r->connection->log);
    if (buf == NULL) {
        return NGX_ERROR;
    }

    ctx->inflated = buf;

    pos = 0;
    used = 0;

    do {
        res = libdeflate_gzip_decompress_ex(dec, in->data + pos,
                                            in->len - pos, buf + used,
                                            size - used, &in_used, &out_used);

        if (res == LIBDEFLATE_INSUFFICIENT_SPACE) {

            if (size >= cap) {
                goto too_large;
            }

            /* grow, never past cap, and decompress this member again */

            size = ngx_min(ngx_max(size * 2, used + hint), cap);

            buf = realloc(ctx->inflated, size);
            if (buf == NULL) {
                ngx_log_error(NGX_LOG_ALERT, r->connection->log, ngx_errno,
                              "realloc(%uz) failed", size);
                return NGX_ERROR;
            }

            ctx->inflated = buf;
            continue;
        }

        if (res != LIBDEFLATE_SUCCESS) {
            /* bad header, data, CRC or ISIZE, or the input ran out */
            ngx_http_betrace_msg(ctx, "invalid gzip body: corrupt or "
                                 "truncated stream at byte %uz", pos);
            return NGX_HTTP_BAD_REQUEST;
        }

        pos += in_used;
        used += out_used;

        /*
         * concatenated members are one body (RFC 1952, 2.2); anything else
         * after a member is ignored, as zlib's gunzip does
         */

    } while (pos < in->len && in->data[pos] == 0x1f);

    out->data = buf;
    out->len = used;

    return NGX_OK;

too_large:

    ngx_http_betrace_msg(ctx, "request body is over the limit of %uz bytes "
                         "after decompression", cap);

    return NGX_HTTP_REQUEST_ENTITY_TOO_LARGE;
}


/*
 * No room in this worker's slot.  Never wait for the engine: tell the
 * client when to retry, 429 while the engine is alive and draining the
 * ring, 503 when its heartbeat is stale and nothing will drain it soon.
 */

static ngx_int_t
ngx_http_betrace_ring_full(ngx_http_request_t *r,
    ngx_http_betrace_otlp_ctx_t *ctx, ngx_http_betrace_loc_conf_t *blcf)
{
    ngx_http_betrace_count(&ctx->stats->ring_full, 1);

    if (ngx_http_betrace_retry_after(r, blcf) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_betrace_engine_alive(ngx_http_betrace_ring.shm)) {
        return ngx_http_betrace_reject(r, ctx, NGX_HTTP_TOO_MANY_REQUESTS,
                                       NGX_HTTP_BETRACE_RESOURCE_EXHAUSTED,
                                       (u_char *) "the span ring is full, "
                                       "retry later");
    }

    return ngx_http_betrace_reject(r, ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                                   NGX_HTTP_BETRACE_UNAVAILABLE,
                                   (u_char *) "the span ring is full and "
                                   "betrace-engine is not running, "
                                   "retry later");
}


/* An error answer with a google.rpc.Status body, after the body was read. */

static ngx_int_t
ngx_http_betrace_reject(ngx_http_request_t *r,
    ngx_http_betrace_otlp_ctx_t *ctx, ngx_uint_t status, int code,
    u_char *msg)
{
    size_t   len;
    u_char  *out;

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "betrace otlp: %ui: %s", status, msg);

    len = 128 + 6 * ngx_strlen(msg);

    out = ngx_pnalloc(r->pool, len);
    if (out == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    len = bt_otlp_status((int) ctx->json, code, (char *) msg, out, len);
    if (len == 0) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "bt_otlp_status() found no room for \"%s\"", msg);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_betrace_otlp_send(r, ctx, status, out, len);
}


/* An error answer before the body is read: the body is discarded first. */

static ngx_int_t
ngx_http_betrace_early(ngx_http_request_t *r,
    ngx_http_betrace_otlp_ctx_t *ctx, ngx_uint_t status, int code,
    u_char *msg)
{
    ngx_int_t  rc;

    /* no "100 Continue" for a body that will be thrown away */
    r->expect_tested = 1;

    rc = ngx_http_discard_request_body(r);

    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_http_betrace_reject(r, ctx, status, code, msg);
}


/* Counts the answer in this worker's slot and sends it. */

static ngx_int_t
ngx_http_betrace_otlp_send(ngx_http_request_t *r,
    ngx_http_betrace_otlp_ctx_t *ctx, ngx_uint_t status, u_char *body,
    size_t len)
{
    ngx_buf_t  *b;

    if (ctx->stats) {
        ngx_http_betrace_count(&ctx->stats->requests, 1);

        if (status >= NGX_HTTP_SPECIAL_RESPONSE) {
            ngx_http_betrace_count(&ctx->stats->requests_rejected, 1);
        }
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->pos = body;
    b->last = body + len;
    b->memory = 1;

    /*
     * an empty protobuf ExportTraceServiceResponse is a valid answer; send
     * the header alone rather than a zero size buffer
     */
    if (len == 0) {
        r->header_only = 1;
    }

    return ngx_http_betrace_send(r, status,
                                 ctx->json ? "application/json"
                                           : "application/x-protobuf", b);
}


static ngx_int_t
ngx_http_betrace_retry_after(ngx_http_request_t *r,
    ngx_http_betrace_loc_conf_t *blcf)
{
    u_char     buf[NGX_TIME_T_LEN];
    ngx_str_t  retry;

    retry.data = buf;
    retry.len = ngx_sprintf(buf, "%T", blcf->retry_after) - buf;

    return ngx_http_betrace_otlp_add_header(r, "Retry-After", &retry);
}


static ngx_int_t
ngx_http_betrace_otlp_add_header(ngx_http_request_t *r, char *key,
    ngx_str_t *value)
{
    u_char           *p;
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    p = ngx_pnalloc(r->pool, value->len);
    if (p == NULL) {
        h->hash = 0;
        return NGX_ERROR;
    }

    ngx_memcpy(p, value->data, value->len);

    h->hash = 1;
    h->key.len = ngx_strlen(key);
    h->key.data = (u_char *) key;
    h->value.len = value->len;
    h->value.data = p;

    return NGX_OK;
}


static void
ngx_http_betrace_otlp_cleanup(void *data)
{
    ngx_http_betrace_otlp_ctx_t  *ctx = data;

    if (ctx->inflated) {
        ngx_free(ctx->inflated);
    }

    if (ctx->pb) {
        free(ctx->pb);
    }
}
