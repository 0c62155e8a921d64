// templates.js - starting points for new rules: the four rules of DSL.md
// (the product's own examples) and common patterns.

export const TEMPLATES = [
    {
        id: 'auth-retry-storm',
        name: 'Auth retry storm',
        severity: 'high',
        description: 'A failed and a successful login within 5 s of each other.',
        tags: ['auth', 'security'],
        dsl: "trace.has(span => span.name === 'auth.login' && span.status === 'ERROR')\n  .and(trace.has(span => span.name === 'auth.login' && span.status === 'OK'))\n  .within('5 seconds')",
    },
    {
        id: 'pii-no-audit',
        name: 'PII without audit log',
        severity: 'critical',
        description: 'PII accessed, but no audit log anywhere in the trace.',
        tags: ['compliance', 'pii'],
        dsl: "trace.has(span => span.attributes['data.contains_pii'] === true)\n  .and(trace.missing(span => span.name === 'audit.log'))",
    },
    {
        id: 'slow-db-payment',
        name: 'Slow database query in payment flow',
        severity: 'high',
        description: 'A database query over one second inside a payment span.',
        tags: ['payments', 'performance'],
        dsl: "trace.where(span => span.name.startsWith('payment'))\n  .has(span => span.name.includes('db.query') && span.duration > 1000)",
    },
    {
        id: 'payment-timeout',
        name: 'Detect payment timeout cascade',
        severity: 'critical',
        description: 'The product\'s example: accepted with a warning, TIMEOUT is not an OpenTelemetry status.',
        tags: ['payments'],
        dsl: 'trace.where(span => span.name.startsWith("payment")).has(span => span.status === "TIMEOUT")',
    },
    {
        id: 'error-span',
        name: 'Any error span',
        severity: 'medium',
        description: 'Some span in the trace ended with status ERROR.',
        tags: ['errors'],
        dsl: "trace.has(span => span.status === 'ERROR')",
    },
    {
        id: 'slow-root',
        name: 'Slow request',
        severity: 'low',
        description: 'The root span took more than 2 s.',
        tags: ['performance'],
        dsl: 'trace.has(span => span.isRoot && span.duration > 2000)',
    },
    {
        id: 'blank',
        name: '',
        severity: 'medium',
        description: '',
        tags: [],
        dsl: 'trace.has(span => )',
    },
];
