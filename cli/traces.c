/*
 * traces.c - OTLP files to span batches, grouped by trace id.
 *
 * Format detection: an OTLP/JSON document starts with '{' (after optional
 * whitespace), which as a first protobuf byte would be field 15 with the
 * deprecated group wire type: never valid OTLP.  The one ambiguity is a
 * protobuf body whose first ResourceSpans is exactly 123 bytes long: it
 * begins "\n{" (0x0a 0x7b) like a JSON file with a leading newline.  So a
 * file starting with 0x0a is tried as protobuf first and only taken as
 * JSON when it does not scan.
 *
 * JSON files may hold one request, or one request per line (the
 * Collector's file exporter).  Both are handled the same way: jansson
 * finds where each top-level document ends (JSON_DISABLE_EOF_CHECK reports
 * the bytes used), and each document goes through bt_otlp_json_to_pb.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "proto/otlp_decode.h"
#include "proto/otlp_json.h"
#include "cli.h"
#include "traces.h"


/* The CLI reads the user's own files: limits only guard the record format. */
static const bt_otlp_limits_t  cli_limits = {
    .max_spans = UINT32_MAX,
    .max_attrs = 1u << 24,
    .max_value_len = 1u << 30,
    .max_depth = BT_SPAN_MAX_DEPTH
};


static int traces_add_pb(bt_cli_traces_t *ts, const char *name,
    const uint8_t *pb, size_t len, const char *where);
static int traces_add_batch(bt_cli_traces_t *ts, uint8_t *batch,
    size_t len);
static int traces_add_span(bt_cli_traces_t *ts, const bt_span_t *span);
static bt_cli_trace_t *traces_find(bt_cli_traces_t *ts, const uint8_t *id);
static int traces_grow_table(bt_cli_traces_t *ts);
static int traces_load_json(bt_cli_traces_t *ts, const char *name,
    const char *buf, size_t len);
static int is_space(int c);


void
bt_cli_traces_init(bt_cli_traces_t *ts)
{
    memset(ts, 0, sizeof(*ts));
}


void
bt_cli_traces_free(bt_cli_traces_t *ts)
{
    size_t  i;

    for (i = 0; i < ts->nbatches; i++) {
        free(ts->batches[i]);
    }

    for (i = 0; i < ts->ntraces; i++) {
        free(ts->traces[i].spans);
    }

    free(ts->batches);
    free(ts->traces);
    free(ts->table);
    bt_cli_traces_init(ts);
}


int
bt_cli_traces_load(bt_cli_traces_t *ts, const char *path)
{
    const char     *name;
    char           *buf;
    size_t          len, i;
    bt_otlp_scan_t  scan;
    int             rc;

    name = bt_cli_display_name(path);

    if (bt_cli_read_file(path, &buf, &len) != 0) {
        fprintf(stderr, "betrace: %s: cannot read: %s\n", name,
                strerror(errno));
        return errno == ENOMEM ? BT_EXIT_INTERNAL : BT_EXIT_TRACES;
    }

    for (i = 0; i < len && is_space((unsigned char) buf[i]); i++) {
        /* void */
    }

    if (i == len || buf[i] != '{') {
        rc = traces_add_pb(ts, name, (const uint8_t *) buf, len, NULL);

    } else if (buf[0] == '\n'
               && bt_otlp_scan((const uint8_t *) buf, len, &cli_limits,
                               &scan) == BT_OTLP_OK)
    {
        rc = traces_add_pb(ts, name, (const uint8_t *) buf, len, NULL);

    } else {
        rc = traces_load_json(ts, name, buf, len);
    }

    free(buf);
    return rc;
}


static int
traces_load_json(bt_cli_traces_t *ts, const char *name, const char *buf,
    size_t len)
{
    json_t        *doc;
    json_error_t   jerr;
    uint8_t       *pb;
    size_t         pos, used, pb_len, line, k;
    char           err[256], where[64];
    int            rc;

    pos = 0;
    line = 1;

    for ( ;; ) {
        while (pos < len && is_space((unsigned char) buf[pos])) {
            if (buf[pos] == '\n') {
                line++;
            }
            pos++;
        }

        if (pos == len) {
            return BT_EXIT_OK;
        }

        doc = json_loadb(buf + pos, len - pos, JSON_DISABLE_EOF_CHECK, &jerr);
        if (doc == NULL) {
            fprintf(stderr, "betrace: %s:%zu: invalid JSON: %s\n", name,
                    line + (size_t) jerr.line - 1, jerr.text);
            return BT_EXIT_TRACES;
        }

        json_decref(doc);
        used = (size_t) jerr.position;

        if (bt_otlp_json_to_pb(buf + pos, used, &pb, &pb_len, err,
                               sizeof(err))
            != 0)
        {
            fprintf(stderr, "betrace: %s:%zu: not an OTLP trace request: "
                    "%s\n", name, line, err);
            return BT_EXIT_TRACES;
        }

        snprintf(where, sizeof(where), ":%zu", line);
        rc = traces_add_pb(ts, name, pb, pb_len, where);
        free(pb);

        if (rc != BT_EXIT_OK) {
            return rc;
        }

        for (k = pos; k < pos + used; k++) {
            if (buf[k] == '\n') {
                line++;
            }
        }
        pos += used;
    }
}


/* where: ":LINE" for a JSON document, NULL for a protobuf file. */
static int
traces_add_pb(bt_cli_traces_t *ts, const char *name, const uint8_t *pb,
    size_t len, const char *where)
{
    bt_otlp_scan_t   scan;
    uint8_t         *batch;
    int              rc;

    rc = bt_otlp_scan(pb, len, &cli_limits, &scan);
    if (rc != BT_OTLP_OK) {
        fprintf(stderr, "betrace: %s%s: not an OTLP trace request: %s\n",
                name, where ? where : "", scan.message);
        return BT_EXIT_TRACES;
    }

    if (scan.rejected) {
        /* Spans with invalid ids can't join a trace; say so, keep going. */
        fprintf(stderr, "betrace: %s%s: warning: %u span(s) skipped: %s\n",
                name, where ? where : "", scan.rejected, scan.message);
        ts->skipped += scan.rejected;
    }

    if (scan.accepted == 0) {
        return BT_EXIT_OK;
    }

    batch = malloc(scan.batch_len);
    if (batch == NULL) {
        fprintf(stderr, "betrace: out of memory\n");
        return BT_EXIT_INTERNAL;
    }

    bt_otlp_write(pb, len, &cli_limits, batch);

    if (traces_add_batch(ts, batch, scan.batch_len) != 0) {
        fprintf(stderr, "betrace: out of memory\n");
        return BT_EXIT_INTERNAL;
    }

    return BT_EXIT_OK;
}


/* Takes ownership of batch (frees it on failure).  Returns 0 or -1. */
static int
traces_add_batch(bt_cli_traces_t *ts, uint8_t *batch, size_t len)
{
    uint8_t       **nb;
    const uint8_t  *p, *end;
    bt_span_t       span;
    size_t          cap;
    int             count, i, n;

    if (ts->nbatches == ts->batches_cap) {
        cap = ts->batches_cap ? ts->batches_cap * 2 : 16;
        nb = realloc(ts->batches, cap * sizeof(uint8_t *));
        if (nb == NULL) {
            free(batch);
            return -1;
        }
        ts->batches = nb;
        ts->batches_cap = cap;
    }

    ts->batches[ts->nbatches++] = batch;

    /* The decoder wrote it, but checking costs little and turns a decoder
     * bug into a clear failure rather than a wild read. */
    count = bt_batch_check(batch, len);
    if (count < 0) {
        return -1;
    }

    p = bt_batch_first(batch);
    end = batch + len;

    for (i = 0; i < count; i++) {
        n = bt_span_parse(p, (size_t) (end - p), &span);
        if (n < 0) {
            return -1;
        }

        if (traces_add_span(ts, &span) != 0) {
            return -1;
        }

        p += n;
    }

    ts->spans += (uint64_t) count;
    return 0;
}


static int
traces_add_span(bt_cli_traces_t *ts, const bt_span_t *span)
{
    bt_cli_trace_t  *tr;
    bt_span_t       *ns;
    uint32_t         cap;

    tr = traces_find(ts, span->trace_id);
    if (tr == NULL) {
        return -1;
    }

    if (tr->n == tr->cap) {
        cap = tr->cap ? tr->cap * 2 : 8;
        ns = realloc(tr->spans, (size_t) cap * sizeof(bt_span_t));
        if (ns == NULL) {
            return -1;
        }
        tr->spans = ns;
        tr->cap = cap;
    }

    tr->spans[tr->n++] = *span;
    return 0;
}


static size_t
id_hash(const uint8_t *id)
{
    uint64_t  a, b;

    /* Trace ids are random by specification; mixing two words is plenty. */
    memcpy(&a, id, 8);
    memcpy(&b, id + 8, 8);
    return (size_t) ((a ^ (b * 0x9e3779b97f4a7c15ull)) >> 7);
}


/* Finds or creates the trace with id.  Returns NULL when out of memory. */
static bt_cli_trace_t *
traces_find(bt_cli_traces_t *ts, const uint8_t *id)
{
    bt_cli_trace_t  *nt, *tr;
    size_t           i, mask, cap;
    uint32_t         slot;

    if (ts->ntraces * 2 >= ts->table_size && traces_grow_table(ts) != 0) {
        return NULL;
    }

    mask = ts->table_size - 1;

    for (i = id_hash(id) & mask; ; i = (i + 1) & mask) {
        slot = ts->table[i];
        if (slot == 0) {
            break;
        }
        if (memcmp(ts->traces[slot - 1].id, id, 16) == 0) {
            return &ts->traces[slot - 1];
        }
    }

    if (ts->ntraces == ts->traces_cap) {
        cap = ts->traces_cap ? ts->traces_cap * 2 : 64;
        nt = realloc(ts->traces, cap * sizeof(bt_cli_trace_t));
        if (nt == NULL) {
            return NULL;
        }
        ts->traces = nt;
        ts->traces_cap = cap;
    }

    tr = &ts->traces[ts->ntraces++];
    memset(tr, 0, sizeof(*tr));
    memcpy(tr->id, id, 16);
    ts->table[i] = (uint32_t) ts->ntraces;
    return tr;
}


static int
traces_grow_table(bt_cli_traces_t *ts)
{
    uint32_t  *table;
    size_t     size, mask, i, k;

    size = ts->table_size ? ts->table_size * 2 : 256;
    table = calloc(size, sizeof(uint32_t));
    if (table == NULL) {
        return -1;
    }

    mask = size - 1;

    for (k = 0; k < ts->ntraces; k++) {
        for (i = id_hash(ts->traces[k].id) & mask; table[i];
             i = (i + 1) & mask)
        {
            /* void */
        }
        table[i] = (uint32_t) (k + 1);
    }

    free(ts->table);
    ts->table = table;
    ts->table_size = size;
    return 0;
}


static int
is_space(int c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}
