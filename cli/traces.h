/*
 * traces.h - OTLP trace files, decoded and grouped by trace id, for
 * `betrace eval`.
 *
 * Files go through the same decoders as the ingest path (JSON ->
 * bt_otlp_json_to_pb -> bt_otlp_scan/bt_otlp_write; protobuf -> scan/write)
 * so a rule behaves offline exactly as it does in the engine.  The span
 * batches stay in memory for the life of the set and the parsed spans point
 * into them, as the engine's point into its ring.
 */

#ifndef BT_CLI_TRACES_H
#define BT_CLI_TRACES_H

#include <stddef.h>
#include <stdint.h>

#include "shm/bt_span.h"

typedef struct {
    uint8_t      id[16];
    uint32_t     n;
    uint32_t     cap;
    bt_span_t   *spans;         /* in input order */
} bt_cli_trace_t;

typedef struct {
    uint8_t        **batches;   /* every decoded batch, owned */
    size_t           nbatches;
    size_t           batches_cap;

    bt_cli_trace_t  *traces;    /* in order of first appearance */
    size_t           ntraces;
    size_t           traces_cap;

    uint32_t        *table;     /* open addressing: trace index + 1, 0 free */
    size_t           table_size;

    uint64_t         spans;     /* spans loaded */
    uint64_t         skipped;   /* spans the decoder refused (bad ids) */
} bt_cli_traces_t;

/* Initialises an empty set; this function can't fail. */
void bt_cli_traces_init(bt_cli_traces_t *ts);

/*
 * Loads one OTLP file ("-" is stdin): protobuf ExportTraceServiceRequest,
 * or OTLP/JSON with one request per file or one per line, told apart by
 * content.  Returns BT_EXIT_OK; BT_EXIT_TRACES after printing
 * "betrace: FILE: why" on stderr when the file can't be read or is not
 * valid OTLP; BT_EXIT_INTERNAL when out of memory.  On failure the spans
 * of documents of that file loaded before the bad one stay in the set.
 */
int bt_cli_traces_load(bt_cli_traces_t *ts, const char *path);

/* Frees everything the set holds; ts may be reused after init. */
void bt_cli_traces_free(bt_cli_traces_t *ts);

#endif /* BT_CLI_TRACES_H */
