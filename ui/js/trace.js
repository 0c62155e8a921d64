// trace.js - one stored trace: its signals (acknowledge, resolve), a
// waterfall of its spans in time with their nesting, the spans that made
// the rule fire (the signal's witnesses) highlighted, and a panel with the
// selected span's attributes, resource, events, links and status.

import { h, severityBadge, statusBadge, fmtTime, fmtDurationNs, toast } from './dom.js';
import { api } from './api.js';
import { errorBox } from './errors.js';

export function render(main, { args, query }) {
    const traceId = args[0].toLowerCase();
    const signalId = query.get('signal') || '';
    document.title = `Trace ${traceId.slice(0, 8)} · BeTrace`;
    const body = h('div', null, h('p.muted', null, 'Loading…'));
    main.append(h('p.crumbs', null, h('a', { href: '#/signals' }, 'Signals'), ' / Trace'),
        h('h1', null, 'Trace ', h('span.mono.tid', null, traceId)), body);
    let alive = true;
    let selectedId = null;

    async function load() {
        try {
            const t = await api('GET', `/traces/${traceId}`);
            if (alive) show(t);
        } catch (e) {
            if (!alive) return;
            body.replaceChildren(e.status === 404
                ? h('div.empty', null, h('p', null, 'This trace is not stored. BeTrace keeps a trace only when it produced a signal, for the retention period.'),
                    h('p', null, h('a', { href: '#/signals' }, 'Back to the signals')))
                : errorBox(e));
        }
    }

    function show(t) {
        const spans = t.spans || [];
        const sigs = t.signals || [];
        const current = sigs.find((s) => s.id === signalId) || null;
        const witnessOf = new Map();   // span id -> rule names
        for (const s of current ? [current] : sigs) {
            for (const clause of s.witnesses || []) {
                for (const sid of clause) {
                    if (!witnessOf.has(sid)) witnessOf.set(sid, []);
                    if (!witnessOf.get(sid).includes(s.rule_name)) witnessOf.get(sid).push(s.rule_name);
                }
            }
        }
        const t0 = Math.min(...spans.map((s) => s.start_ns));
        const t1 = Math.max(...spans.map((s) => s.end_ns));
        const total = Math.max(1, t1 - t0);
        const ordered = treeOrder(spans);
        const root = ordered[0] ? ordered[0].span : null;
        const services = [...new Set(spans.map((s) => s.service))];
        const multi = services.length > 1;

        const summary = h('dl.summary', null,
            h('dt', null, 'Root'), h('dd', null, root ? root.name : '–'),
            h('dt', null, 'Services'), h('dd', null, services.join(', ')),
            h('dt', null, 'Start'), h('dd', null, fmtTime(new Date(t0 / 1e6).toISOString())),
            h('dt', null, 'Duration'), h('dd', null, fmtDurationNs(total)),
            h('dt', null, 'Spans'), h('dd', null, String(spans.length)),
            h('dt', null, 'Completed'), h('dd', null, t.reason || '–', t.reopened ? ' (late spans re-opened it)' : ''));

        const sigList = h('ul.siglist', null, sigs.map((s) => h(`li${s.id === signalId ? '.current' : ''}`, null,
            severityBadge(s.severity), ' ',
            s.id === signalId ? h('strong', null, s.rule_name) : h('a', { href: `#/traces/${traceId}?signal=${s.id}` }, s.rule_name),
            ' ', statusBadge(s.status),
            h('span.muted', null, ` detected ${fmtTime(s.detected_at)}`),
            h('span.actions', null,
                s.status === 'open' ? h('button', { type: 'button', onclick: () => move(s, 'acknowledged') }, 'Acknowledge') : null,
                s.status !== 'resolved' ? h('button', { type: 'button', onclick: () => move(s, 'resolved') }, 'Resolve') : null,
                s.status !== 'open' ? h('button', { type: 'button', onclick: () => move(s, 'open') }, 'Reopen') : null))));

        const detail = h('aside.card.spandetail', { 'aria-labelledby': 'span-h', 'aria-live': 'polite' });
        const wf = h('div.waterfall', { role: 'list', 'aria-label': 'Spans' });
        // Time axis: five ticks.
        const axis = h('div.wf-row.wf-axis', { 'aria-hidden': 'true' }, h('div.wf-name', null, 'Span'),
            h('div.wf-track', null, [0, 0.25, 0.5, 0.75, 1].map((f) => {
                const tick = h('span.tick', null, fmtDurationNs(total * f));
                tick.style.left = `${f * 100}%`;
                if (f === 1) tick.classList.add('last');
                if (f === 0.25 || f === 0.75) tick.classList.add('quarter');
                if (f === 0.5) tick.classList.add('mid');
                return tick;
            })));
        wf.append(axis);
        const buttons = [];
        for (const { span: s, depth } of ordered) {
            const w = witnessOf.get(s.span_id);
            const bar = h(`div.bar.kind-${(s.kind || '').toLowerCase()}${s.status === 'ERROR' ? '.error' : ''}`);
            bar.style.left = `${((s.start_ns - t0) / total) * 100}%`;
            bar.style.width = `${Math.max(0.3, ((s.end_ns - s.start_ns) / total) * 100)}%`;
            // The duration sits after the bar, or inside its end when the
            // bar reaches the right edge.
            const label = h('span.dur', null, fmtDurationNs(s.end_ns - s.start_ns));
            const endPct = ((s.end_ns - t0) / total) * 100;
            if (endPct > 80 && endPct - ((s.start_ns - t0) / total) * 100 > 15) {
                label.classList.add('inside');
                label.style.right = `${100 - endPct}%`;
            } else {
                label.style.left = `${Math.min(88, endPct)}%`;
            }
            const btn = h('button.wf-name', {
                type: 'button',
                'aria-pressed': 'false',
                'aria-label': `${s.name}, ${s.service}, ${fmtDurationNs(s.end_ns - s.start_ns)}${s.status === 'ERROR' ? ', error' : ''}${w ? ', witness' : ''}`,
                onclick: () => select(s),
            },
            multi ? h('span.svc', null, s.service) : null, h('span.nm', null, s.name),
            w ? h('span.wtag', { title: `made “${w.join('”, “')}” fire` }, 'witness') : null,
            s.status === 'ERROR' ? h('span.errtag', null, 'error') : null);
            btn.style.paddingLeft = `${0.5 + depth * 1.1}rem`;
            btn.dataset.spanId = s.span_id;
            buttons.push(btn);
            wf.append(h(`div.wf-row${w ? '.witness' : ''}`, { role: 'listitem', 'data-span-id': s.span_id }, btn,
                h('div.wf-track', { 'aria-hidden': 'true' }, bar, label)));
        }
        // Arrow keys move between spans.
        wf.addEventListener('keydown', (e) => {
            const i = buttons.indexOf(document.activeElement);
            if (i < 0) return;
            if (e.key === 'ArrowDown' && i + 1 < buttons.length) { buttons[i + 1].focus(); e.preventDefault(); }
            if (e.key === 'ArrowUp' && i > 0) { buttons[i - 1].focus(); e.preventDefault(); }
        });

        function select(s) {
            selectedId = s.span_id;
            for (const b of buttons) b.setAttribute('aria-pressed', b.dataset.spanId === s.span_id ? 'true' : 'false');
            const w = witnessOf.get(s.span_id);
            detail.replaceChildren(...[
                h('h2', { id: 'span-h' }, s.name),
                w ? h('p.wnote', null, `Witness: this span made “${w.join('”, “')}” fire.`) : null,
                h('dl.kv', null,
                    h('dt', null, 'Service'), h('dd', null, s.service),
                    h('dt', null, 'Kind'), h('dd', null, s.kind),
                    h('dt', null, 'Status'), h('dd', null, h(`span.badge.spanst-${(s.status || 'unset').toLowerCase()}`, null, s.status), s.status_message ? ` ${s.status_message}` : ''),
                    h('dt', null, 'Duration'), h('dd', null, fmtDurationNs(s.end_ns - s.start_ns)),
                    h('dt', null, 'Start'), h('dd', null, `+${fmtDurationNs(s.start_ns - t0)}`),
                    h('dt', null, 'Span id'), h('dd.mono', null, s.span_id),
                    h('dt', null, 'Parent'), h('dd.mono', null, s.parent_span_id || '(root)'),
                    h('dt', null, 'Scope'), h('dd', null, s.scope || '–')),
                h('h3', null, 'Attributes'), kvTable(s.attributes, 'No attributes'),
                h('h3', null, 'Resource'), kvTable(s.resource, 'No resource attributes'),
                h('h3', null, 'Events'), events(s.events, t0),
                (s.links || []).length ? [h('h3', null, 'Links'), h('ul', null, s.links.map((l) => h('li.mono', null, `${l.trace_id || l.traceId} / ${l.span_id || l.spanId}`)))] : null].flat().filter(Boolean));
        }

        body.replaceChildren(
            h('section.card', { 'aria-labelledby': 'sig-h' }, h('h2', { id: 'sig-h' }, sigs.length === 1 ? 'Signal' : `Signals (${sigs.length})`), sigList, summary),
            h('div.traceview', null,
                h('section.card.wfcard', { 'aria-labelledby': 'wf-h' },
                    h('h2', { id: 'wf-h' }, 'Waterfall'),
                    h('p.legend.muted', null, h('span.wtag', null, 'witness'), ' spans made the rule fire; select a span for its details.'),
                    wf),
                detail));
        const first = spans.find((s) => s.span_id === selectedId)
            || spans.find((s) => witnessOf.has(s.span_id)) || (root || spans[0]);
        if (first) select(first);
    }

    async function move(s, to) {
        try {
            await api('PATCH', `/signals/${s.id}`, { body: { status: to } });
            toast(`Signal ${to}`);
        } catch (e) {
            toast(e.message);
        }
        load();
    }

    load();
    return () => { alive = false; };
}

// Depth-first by parent, children by start: a span whose parent is not in
// the trace is a root.
function treeOrder(spans) {
    const ids = new Set(spans.map((s) => s.span_id));
    const kids = new Map();
    const roots = [];
    for (const s of spans) {
        if (s.parent_span_id && ids.has(s.parent_span_id) && s.parent_span_id !== s.span_id) {
            if (!kids.has(s.parent_span_id)) kids.set(s.parent_span_id, []);
            kids.get(s.parent_span_id).push(s);
        } else {
            roots.push(s);
        }
    }
    const byStart = (a, b) => a.start_ns - b.start_ns;
    const out = [];
    const seen = new Set();
    const walk = (s, depth) => {
        if (seen.has(s.span_id)) return;
        seen.add(s.span_id);
        out.push({ span: s, depth });
        for (const c of (kids.get(s.span_id) || []).sort(byStart)) walk(c, depth + 1);
    };
    roots.sort(byStart).forEach((r) => walk(r, 0));
    for (const s of spans) if (!seen.has(s.span_id)) walk(s, 0);   // cycles
    return out;
}

function fmtValue(v) {
    if (v && typeof v === 'object' && 'value' in v && 'type' in v) return fmtValue(v.value);
    if (typeof v === 'string') return v;
    return JSON.stringify(v);
}

function kvTable(obj, empty) {
    const entries = Object.entries(obj || {});
    if (!entries.length) return h('p.muted', null, empty);
    return h('table.kvt', null, h('tbody', null, entries.sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) =>
        h('tr', null, h('th', { scope: 'row' }, k), h('td.mono', null, fmtValue(v))))));
}

function events(list, t0) {
    if (!list || !list.length) return h('p.muted', null, 'No events');
    return h('ul.events', null, list.map((e) => h('li', null,
        h('strong', null, e.name), e.time_ns ? h('span.muted', null, ` +${fmtDurationNs(e.time_ns - t0)}`) : null,
        Object.keys(e.attributes || {}).length ? kvTable(e.attributes, '') : null)));
}
