// send-rule-traces.mjs - exports, with the OpenTelemetry JavaScript SDK, one
// trace that each of the four rules of DSL.md must fire on and the near
// misses it must stay quiet on.  The end-to-end rules test
// (t/integration/test_e2e_rules.c) runs it.
//
//   node send-rule-traces.mjs ENDPOINT [proto|json] [BEARER_KEY]
//
// ENDPOINT is the full traces URL (http://127.0.0.1:8080/v1/traces).
// BEARER_KEY, if given, is sent as "Authorization: Bearer KEY" (an ingest
// key when the OTLP endpoint requires one).  Exits 0 only if every export
// succeeded; prints on stdout one JSON object:
//
//   {"ok": true, "service": …, "traces": {NAME: {"trace_id": …,
//     "spans": {LABEL: span_id, …}, "span_count": n}, …}}
//
// Span times are explicit offsets from a base in the past, so durations and
// the gap between the two logins are exact whatever the machine's load.
//
// The traces (root span first, children indented):
//
//   auth_storm         POST /login > auth.login ERROR @0 s, auth.login OK @2 s
//   auth_near_miss     the same, the OK login 10 s after the failed one
//   pii_no_audit       GET /customer > customer.load {data.contains_pii: true}
//   pii_audited        the same plus a sibling audit.log span
//   payment_slow_db    payment.process > db.query orders (1500 ms)
//   payment_fast_db    payment.process > db.query orders (50 ms)
//   slow_db_outside    POST /checkout > payment.authorize (fast, no
//                      children), db.query inventory (1500 ms, a sibling:
//                      outside the payment flow)
//   payment_error      payment.charge ERROR "TIMEOUT" > payment.gateway
//                      (the TIMEOUT rule never fires: OTel has no such
//                      status)

import { NodeTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-node';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { OTLPTraceExporter as ProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { SpanKind, SpanStatusCode, context, trace, diag, DiagConsoleLogger,
         DiagLogLevel } from '@opentelemetry/api';

const [endpoint, kindArg, key] = process.argv.slice(2);
const kind = kindArg || 'proto';
if (!endpoint || !['proto', 'json'].includes(kind)) {
    process.stderr.write('usage: send-rule-traces.mjs ENDPOINT [proto|json] [BEARER_KEY]\n');
    process.exit(2);
}
diag.setLogger(new DiagConsoleLogger(), DiagLogLevel.WARN);

const SERVICE = 'betrace-rules-e2e';

const options = { url: endpoint, timeoutMillis: 15000 };
if (key) {
    options.headers = { Authorization: `Bearer ${key}` };
}
const inner = kind === 'proto' ? new ProtoExporter(options) : new JsonExporter(options);

// Count every export and its outcome: the processors swallow failures.
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
    resource: resourceFromAttributes({ 'service.name': SERVICE }),
    spanProcessors: [new SimpleSpanProcessor(exporter)],
});
const tracer = provider.getTracer('betrace-rules-e2e', '0.1.0');

// A minute ago: every span (the longest trace lasts 11 s) ends in the past.
const base = Date.now() - 60000;
const out = {};

function start(name, parent, at, opts = {}) {
    const ctx = parent ? trace.setSpan(context.active(), parent) : context.active();
    return tracer.startSpan(name, { kind: SpanKind.INTERNAL, ...opts,
                                    startTime: base + at }, ctx);
}

function end(span, at, status, message) {
    if (status !== undefined) {
        span.setStatus({ code: status, message });
    }
    span.end(base + at);
}

// Records the trace under name with its labelled spans.
function keep(name, spans) {
    const ids = {};
    let tid;
    for (const [label, s] of Object.entries(spans)) {
        ids[label] = s.spanContext().spanId;
        tid = s.spanContext().traceId;
    }
    out[name] = { trace_id: tid, spans: ids, span_count: Object.keys(spans).length };
}

// Each trace gets its own stretch of time so nothing overlaps by accident.
function login(name, gapMs, at) {
    const root = start('POST /login', null, at, { kind: SpanKind.SERVER });
    const bad = start('auth.login', root, at + 10, {
        attributes: { 'enduser.id': 'alice', 'auth.method': 'password' } });
    end(bad, at + 60, SpanStatusCode.ERROR, 'invalid credentials');
    const good = start('auth.login', root, at + 10 + gapMs, {
        attributes: { 'enduser.id': 'alice', 'auth.method': 'password' } });
    end(good, at + 60 + gapMs, SpanStatusCode.OK);
    end(root, at + 100 + gapMs);
    keep(name, { root, bad, good });
}

function pii(name, audited, at) {
    const root = start('GET /customer/42', null, at, { kind: SpanKind.SERVER });
    const load = start('customer.load', root, at + 5, {
        attributes: { 'data.contains_pii': true, 'customer.id': 42 } });
    end(load, at + 30);
    const spans = { root, load };
    if (audited) {
        const audit = start('audit.log', root, at + 31, {
            attributes: { 'audit.subject': 'customer/42' } });
        end(audit, at + 35);
        spans.audit = audit;
    }
    end(root, at + 40);
    keep(name, spans);
}

function payment(name, queryMs, at) {
    const root = start('payment.process', null, at, { kind: SpanKind.SERVER });
    const db = start('db.query orders', root, at + 10, {
        kind: SpanKind.CLIENT,
        attributes: { 'db.system': 'postgresql',
                      'db.statement': 'SELECT * FROM orders WHERE id = $1' } });
    end(db, at + 10 + queryMs, SpanStatusCode.OK);
    end(root, at + 20 + queryMs, SpanStatusCode.OK);
    keep(name, { root, db });
}

login('auth_storm', 2000, 0);
login('auth_near_miss', 10000, 0);
pii('pii_no_audit', false, 12000);
pii('pii_audited', true, 12000);
payment('payment_slow_db', 1500, 13000);
payment('payment_fast_db', 50, 13000);

{
    // The payment span has no children: the slow query is its sibling, so
    // trace.where(payment*) does not reach it.
    const at = 16000;
    const root = start('POST /checkout', null, at, { kind: SpanKind.SERVER });
    const pay = start('payment.authorize', root, at + 5, { kind: SpanKind.CLIENT });
    end(pay, at + 40, SpanStatusCode.OK);
    const db = start('db.query inventory', root, at + 50, {
        kind: SpanKind.CLIENT, attributes: { 'db.system': 'postgresql' } });
    end(db, at + 1550, SpanStatusCode.OK);
    end(root, at + 1600, SpanStatusCode.OK);
    keep('slow_db_outside', { root, pay, db });
}

{
    // What a user means by "payment timeout": an ERROR span whose message
    // says TIMEOUT.  Its status is ERROR, never "TIMEOUT".
    const at = 18000;
    const root = start('payment.charge', null, at, { kind: SpanKind.SERVER });
    const gw = start('payment.gateway', root, at + 5, { kind: SpanKind.CLIENT });
    end(gw, at + 3005, SpanStatusCode.ERROR, 'TIMEOUT');
    end(root, at + 3010, SpanStatusCode.ERROR, 'TIMEOUT');
    keep('payment_error', { root, gw });
}

try {
    await provider.forceFlush();
    await provider.shutdown();
} catch (e) {
    process.stderr.write(`flush failed: ${e}\n`);
    process.exit(1);
}

const ok = results.length > 0 && results.every((r) => r.code === 0);
process.stdout.write(JSON.stringify({
    exporter: kind, service: SERVICE, exports: results.length, ok,
    traces: out,
}) + '\n');
process.exit(ok ? 0 : 1);
