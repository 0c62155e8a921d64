// dsl-traces.mjs - exports, with the OpenTelemetry JavaScript SDK, one
// trace that each rule of DSL.md matches and its near miss:
//
//   auth_hit / auth_miss        a failed and a successful login 2 s apart /
//                               10 s apart
//   pii_hit / pii_miss          PII read without / with an audit.log span
//   slow_hit / slow_fast /      a 1.5 s db.query inside payment.process / a
//   slow_outside                fast one / a slow one outside the payment flow
//   timeout                     an ERROR (not "TIMEOUT") in the payment flow
//
//   node dsl-traces.mjs ENDPOINT
//
// Exits 0 only if every export succeeded; prints {"ok": true, "traces":
// {"auth_hit": "<trace id>", ...}} on stdout.

import { NodeTracerProvider, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-node';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { SpanKind, SpanStatusCode, context, trace } from '@opentelemetry/api';

const [endpoint] = process.argv.slice(2);
if (!endpoint) {
    process.stderr.write('usage: dsl-traces.mjs ENDPOINT\n');
    process.exit(2);
}

const inner = new OTLPTraceExporter({ url: endpoint, timeoutMillis: 15000 });
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
    resource: resourceFromAttributes({ 'service.name': 'shop' }),
    spanProcessors: [new SimpleSpanProcessor(exporter)],
});
const tracer = provider.getTracer('betrace-dsl-test', '0.1.0');

// a minute ago, so the 10 s gap is in the past too
const base = Date.now() - 60000;

function span(name, parent, at, dur, opts = {}) {
    const ctx = parent ? trace.setSpan(context.active(), parent) : context.active();
    const s = tracer.startSpan(name, { kind: opts.kind ?? SpanKind.INTERNAL,
                                       attributes: opts.attributes,
                                       startTime: base + at }, ctx);
    s.setStatus({ code: opts.status ?? SpanStatusCode.OK });
    return { s, end: () => s.end(base + at + dur) };
}

const traces = {};

function logins(key, gap) {
    const root = span('POST /login', null, 0, gap + 1000, { kind: SpanKind.SERVER });
    const bad = span('auth.login', root.s, 100, 50, { status: SpanStatusCode.ERROR });
    const good = span('auth.login', root.s, 100 + gap, 50);
    bad.end(); good.end(); root.end();
    traces[key] = root.s.spanContext().traceId;
}

function pii(key, audited) {
    const root = span('GET /users', null, 0, 30, { kind: SpanKind.SERVER });
    const db = span('db.select users', root.s, 5, 10,
                    { attributes: { 'data.contains_pii': true } });
    db.end();
    if (audited) {
        span('audit.log', root.s, 20, 2).end();
    }
    root.end();
    traces[key] = root.s.spanContext().traceId;
}

function checkout(key, queryMs, inPayment) {
    const root = span('POST /checkout', null, 0, 2000, { kind: SpanKind.SERVER });
    if (inPayment) {
        const pay = span('payment.process', root.s, 10, 1800);
        span('pg db.query charge', pay.s, 20, queryMs, { kind: SpanKind.CLIENT }).end();
        pay.end();
    } else {
        const inv = span('inventory.check', root.s, 10, 1800);
        span('pg db.query stock', inv.s, 20, queryMs, { kind: SpanKind.CLIENT }).end();
        inv.end();
        span('payment.process', root.s, 1900, 50).end();
    }
    root.end();
    traces[key] = root.s.spanContext().traceId;
}

logins('auth_hit', 2000);
logins('auth_miss', 10000);
pii('pii_hit', false);
pii('pii_miss', true);
checkout('slow_hit', 1500, true);
checkout('slow_fast', 200, true);
checkout('slow_outside', 1500, false);
{
    const root = span('POST /checkout', null, 0, 2000, { kind: SpanKind.SERVER });
    span('payment.authorize', root.s, 10, 1800, { status: SpanStatusCode.ERROR }).end();
    root.end();
    traces.timeout = root.s.spanContext().traceId;
}

try {
    await provider.forceFlush();
    await provider.shutdown();
} catch (e) {
    process.stderr.write(`flush failed: ${e}\n`);
    process.exit(1);
}

const ok = results.length > 0 && results.every((r) => r.code === 0);
process.stdout.write(JSON.stringify({ ok, exports: results.length, traces }) + '\n');
process.exit(ok ? 0 : 1);
