// send-traces.mjs - exports a known set of traces to BeTrace with the
// OpenTelemetry JavaScript SDK, the way any Node service would.
//
//   node send-traces.mjs ENDPOINT proto|json [gzip]
//
// ENDPOINT is the full traces URL (http://127.0.0.1:8080/v1/traces).  Exits
// 0 only if every export succeeded; prints on stdout, as one JSON object,
// what it sent in the shape of the engine's --traces-out lines (ids, parent
// ids, names, kinds, statuses, typed attributes, events, links), so a test
// can compare the two.

import { NodeTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-node';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { OTLPTraceExporter as ProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { SpanKind, SpanStatusCode, context, trace, diag, DiagConsoleLogger,
         DiagLogLevel } from '@opentelemetry/api';

const [endpoint, kind, compression] = process.argv.slice(2);
if (!endpoint || !['proto', 'json'].includes(kind)) {
    process.stderr.write('usage: send-traces.mjs ENDPOINT proto|json [gzip]\n');
    process.exit(2);
}
diag.setLogger(new DiagConsoleLogger(), DiagLogLevel.WARN);

const SERVICE = 'betrace-e2e';
const SCOPE = 'betrace-e2e-tracer';

// Count every export and its outcome: the processors swallow failures.
const options = { url: endpoint, timeoutMillis: 15000 };
if (compression === 'gzip') {
    options.compression = 'gzip';
}
const inner = kind === 'proto' ? new ProtoExporter(options) : new JsonExporter(options);
const results = [];
const exporter = {
    export(spans, done) {
        inner.export(spans, (result) => {
            results.push(result);
            if (result.code !== 0) {
                process.stderr.write(`export failed: ${result.error}\n`);
            }
            done(result);
        });
    },
    shutdown() { return inner.shutdown(); },
    forceFlush() { return inner.forceFlush ? inner.forceFlush() : Promise.resolve(); },
};

const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({
        'service.name': SERVICE,
        'service.version': '1.2.3',
        'deployment.environment': 'e2e',
        'host.cpu.count': 2,
    }),
    spanProcessors: [new SimpleSpanProcessor(exporter)],
});
const tracer = provider.getTracer(SCOPE, '0.1.0');

// Times: fixed offsets from a base, in milliseconds, so the order and the
// expected nanoseconds are known exactly.
const base = Date.now() - 100;
const ns = (ms) => (BigInt(base + ms) * 1_000_000n).toString();

const expected = [];        // one entry per trace, traces-out shape
let consumerRoot;

function record(span, parent, extra) {
    const sc = span.spanContext();
    return {
        trace_id: sc.traceId,
        span_id: sc.spanId,
        parent_span_id: parent ? parent.spanContext().spanId : '',
        ...extra,
    };
}

function start(name, parent, opts, at) {
    const ctx = parent ? trace.setSpan(context.active(), parent) : context.active();
    return tracer.startSpan(name, { ...opts, startTime: base + at }, ctx);
}

// Trace 2 first: trace 1 links to its root.
{
    const root = start('process order', null, { kind: SpanKind.CONSUMER }, 0);
    root.addEvent('dequeued', {}, base + 1);
    root.setStatus({ code: SpanStatusCode.OK });
    root.end(base + 30);
    expected.push({
        name: 'consumer',
        spans: [record(root, null, {
            name: 'process order', kind: 'CONSUMER', status: 'OK',
            status_message: '', start_ns: ns(0), end_ns: ns(30),
            attributes: {},
            events: [{ name: 'dequeued', time_ns: ns(1), attributes: {} }],
            links: [],
        })],
    });
    consumerRoot = root;
}

{
    const attrs = {
        'http.method': 'GET',
        'http.status_code': 200,
        'http.duration_ratio': 0.25,
        'cache.hit': false,
        'tags': ['a', 'b', 'c'],
        'retries': [1, 2, 3],
        'weights': [0.5, 1.5],
        'flags': [true, false],
    };
    const root = start('GET /checkout', null,
                       { kind: SpanKind.SERVER, attributes: attrs }, 0);
    const db = start('SELECT orders', root, {
        kind: SpanKind.CLIENT,
        attributes: { 'db.system': 'postgresql', 'db.rows': -7 },
    }, 2);
    db.addEvent('exception', {
        'exception.type': 'Timeout',
        'exception.message': 'query took too long',
        'exception.escaped': true,
    }, base + 9);
    db.setStatus({ code: SpanStatusCode.ERROR, message: 'boom' });
    db.end(base + 10);

    const pub = start('publish order', root, {
        kind: SpanKind.PRODUCER,
        links: [{ context: consumerRoot.spanContext(),
                  attributes: { 'link.reason': 'async', 'link.n': 1 } }],
    }, 11);
    const ser = start('serialize', pub, { kind: SpanKind.INTERNAL }, 12);
    ser.end(base + 13);
    pub.end(base + 15);
    root.setStatus({ code: SpanStatusCode.UNSET });
    root.end(base + 20);

    const cr = consumerRoot.spanContext();
    expected.push({
        name: 'checkout',
        spans: [
            record(root, null, {
                name: 'GET /checkout', kind: 'SERVER', status: 'UNSET',
                status_message: '', start_ns: ns(0), end_ns: ns(20),
                attributes: attrs, events: [], links: [],
            }),
            record(db, root, {
                name: 'SELECT orders', kind: 'CLIENT', status: 'ERROR',
                status_message: 'boom', start_ns: ns(2), end_ns: ns(10),
                attributes: { 'db.system': 'postgresql', 'db.rows': -7 },
                events: [{ name: 'exception', time_ns: ns(9), attributes: {
                    'exception.type': 'Timeout',
                    'exception.message': 'query took too long',
                    'exception.escaped': true,
                } }],
                links: [],
            }),
            record(pub, root, {
                name: 'publish order', kind: 'PRODUCER', status: 'UNSET',
                status_message: '', start_ns: ns(11), end_ns: ns(15),
                attributes: {}, events: [],
                links: [{ trace_id: cr.traceId, span_id: cr.spanId,
                          attributes: { 'link.reason': 'async', 'link.n': 1 } }],
            }),
            record(ser, pub, {
                name: 'serialize', kind: 'INTERNAL', status: 'UNSET',
                status_message: '', start_ns: ns(12), end_ns: ns(13),
                attributes: {}, events: [], links: [],
            }),
        ],
    });
}

try {
    await provider.forceFlush();
    await provider.shutdown();
} catch (e) {
    process.stderr.write(`flush failed: ${e}\n`);
    process.exit(1);
}

const ok = results.length > 0 && results.every((r) => r.code === 0);
// ns values are strings above (beyond 2^53); the C side compares them as
// integers.
process.stdout.write(JSON.stringify({
    exporter: kind, compression: compression || 'none',
    service: SERVICE, scope: SCOPE,
    resource: { 'service.name': SERVICE, 'service.version': '1.2.3',
                'deployment.environment': 'e2e', 'host.cpu.count': 2 },
    exports: results.length, ok,
    traces: expected,
}) + '\n');
process.exit(ok ? 0 : 1);
