// signals.js - signals newest first, refreshed every 2 s while the page is
// open (rows are updated in place, so focus and scroll stay put), filters
// (rule, severity, status, time), acknowledge and resolve, and a link to
// the trace each signal was raised on.

import { h, field, select, severityBadge, statusBadge, fmtTime, fmtAgo, toast, SEVERITIES } from './dom.js';
import { api } from './api.js';
import { errorBox } from './errors.js';

const RANGES = [['', 'Any time'], ['15', 'Last 15 minutes'], ['60', 'Last hour'], ['1440', 'Last 24 hours'], ['10080', 'Last 7 days']];

export function render(main, { query }) {
    document.title = 'Signals · BeTrace';
    const rule = select([['', 'Any rule']], query.get('rule_id') || '');
    const sev = select([['', 'Any'], ...SEVERITIES.map((s) => [s, s])], query.get('severity') || '');
    const status = select([['', 'Any'], ['open', 'open'], ['acknowledged', 'acknowledged'], ['resolved', 'resolved']], query.get('status') || '');
    const range = select(RANGES, query.get('range') || '');
    const out = h('div');
    const liveDot = h('span.dot.up', { 'aria-hidden': 'true' });
    const liveText = h('span', null, 'Live');
    const live = h('span.live', { title: 'The list refreshes every 2 s' }, liveDot, liveText);
    const setLive = (ok) => {
        liveDot.className = `dot ${ok ? 'up' : 'down'}`;
        liveText.textContent = ok ? 'Live' : 'Not updating';
    };
    const note = h('p.muted.count', { 'aria-live': 'polite' });
    const more = h('button', { type: 'button', hidden: true }, 'Load more');
    const tbody = h('tbody');
    const table = h('table.list.signals', { hidden: true },
        h('thead', null, h('tr', null, ['Detected', 'Severity', 'Rule', 'Root span', 'Status', 'Actions'].map((c) => h('th', { scope: 'col' }, c)))),
        tbody);

    main.append(
        h('div.titlebar', null, h('h1', null, 'Signals'), live),
        h('form.filters', { role: 'search', 'aria-label': 'Filter signals', onsubmit: (e) => e.preventDefault() },
            field('Rule', rule), field('Severity', sev), field('Status', status), field('Time', range)),
        out, note, table, more);

    // A rule asked for in the address filters from the first request on;
    // its name comes with the list of rules (a failure there shows in the
    // signals list anyway).
    const want = query.get('rule_id') || '';
    const wantOpt = want ? h('option', { value: want, selected: true }, `rule ${want}`) : null;
    if (wantOpt) rule.append(wantOpt);
    api('GET', '/rules').then((r) => {
        let found = false;
        for (const x of r.rules || []) {
            if (x.id === want) {
                wantOpt.textContent = x.name;
                found = true;
            } else {
                rule.append(h('option', { value: x.id }, x.name));
            }
        }
        if (wantOpt && !found) wantOpt.textContent = `rule ${want} (deleted)`;
    }).catch(() => {});

    const rows = new Map();            // id -> {sig, tr, key}
    let extra = [];                    // signals from "Load more" pages
    let cursor = null;
    let stopped = false;
    let timer = null;
    let seq = 0;

    const params = () => {
        const q = { rule_id: rule.value, severity: sev.value, status: status.value, limit: 50 };
        if (range.value) q.from = String(Date.now() - Number(range.value) * 60000);
        return q;
    };

    async function refresh() {
        const my = ++seq;
        try {
            const r = await api('GET', '/signals', { query: params() });
            if (my !== seq || stopped) return;
            out.replaceChildren();
            setLive(true);
            const first = r.signals || [];
            if (cursor === null) cursor = r.next_cursor;
            const seen = new Set(first.map((s) => s.id));
            extra = extra.filter((s) => !seen.has(s.id));
            show([...first, ...extra]);
            for (const t of tbody.querySelectorAll('time')) t.textContent = fmtAgo(t.getAttribute('datetime'));
            more.hidden = !cursor;
            note.textContent = !(first.length + extra.length) ? '' : `${first.length + extra.length}${cursor ? '+' : ''} signal${first.length + extra.length === 1 ? '' : 's'} · updated ${new Date().toLocaleTimeString([], { hour12: false })}`;
        } catch (e) {
            if (my === seq && !stopped) {
                setLive(false);
                out.replaceChildren(errorBox(e));
                table.hidden = true;
                note.textContent = '';
            }
        }
    }

    function schedule() {
        clearTimeout(timer);
        if (!stopped) timer = setTimeout(async () => { await refresh(); schedule(); }, 2000);
    }

    more.addEventListener('click', async () => {
        if (!cursor) return;
        try {
            const r = await api('GET', '/signals', { query: { ...params(), cursor } });
            extra.push(...(r.signals || []));
            cursor = r.next_cursor;
            await refresh();
        } catch (e) {
            toast(e.message);
        }
    });

    function show(list) {
        if (!list.length) {
            table.hidden = true;
            note.textContent = '';
            const filtered = rule.value || sev.value || status.value || range.value;
            out.replaceChildren(h('div.empty', null, filtered
                ? h('p', null, 'No signal matches these filters.')
                : [h('p', null, 'No signals yet.'), h('p', null, 'A signal appears here when a completed trace matches an enabled rule. ',
                    h('a', { href: '#/rules' }, 'Check your rules'), '.')]));
            return;
        }
        table.hidden = false;
        const keep = new Set();
        list.forEach((s, i) => {
            keep.add(s.id);
            const key = `${s.status}|${s.acknowledged_at}|${s.resolved_at}`;
            let r = rows.get(s.id);
            if (!r || r.key !== key) {
                const tr = row(s);
                if (r) {
                    const hadFocus = r.tr.contains(document.activeElement) ? document.activeElement.textContent : null;
                    r.tr.replaceWith(tr);
                    if (hadFocus) {
                        const b = [...tr.querySelectorAll('button,a')].find((x) => x.textContent === hadFocus) || tr.querySelector('a');
                        if (b) b.focus();
                    }
                }
                r = { sig: s, tr, key, fresh: !r && rows.size > 0 };
                rows.set(s.id, r);
                if (r.fresh) tr.classList.add('fresh');
            }
            if (tbody.children[i] !== r.tr) tbody.insertBefore(r.tr, tbody.children[i] || null);
        });
        for (const [id, r] of rows) {
            if (!keep.has(id)) {
                r.tr.remove();
                rows.delete(id);
            }
        }
    }

    async function move(s, to) {
        try {
            await api('PATCH', `/signals/${s.id}`, { body: { status: to } });
            toast(`Signal ${to === 'acknowledged' ? 'acknowledged' : to}`);
        } catch (e) {
            toast(e.message);
        }
        await refresh();
    }

    function row(s) {
        const open = `#/traces/${s.trace_id}?signal=${s.id}`;
        return h('tr', { 'data-signal-id': s.id },
            h('td', null, h('time', { datetime: s.detected_at, title: fmtTime(s.detected_at) }, fmtAgo(s.detected_at)),
                h('div.muted.small', null, fmtTime(s.detected_at))),
            h('td', null, severityBadge(s.severity)),
            h('td', null, h('a', { href: open, 'aria-label': `Open ${s.rule_name} on trace ${s.trace_id.slice(0, 8)}` }, s.rule_name)),
            h('td', null, h('span.mono', null, s.root_name), h('div.muted.small', null, s.root_service)),
            h('td', null, statusBadge(s.status)),
            h('td.acts', null, h('div.actions', null,
                s.status === 'open' ? h('button', { type: 'button', onclick: () => move(s, 'acknowledged') }, 'Acknowledge') : null,
                s.status !== 'resolved' ? h('button', { type: 'button', onclick: () => move(s, 'resolved') }, 'Resolve') : null,
                s.status !== 'open' ? h('button', { type: 'button', onclick: () => move(s, 'open') }, 'Reopen') : null,
                h('a.button', { href: open }, 'Trace'))));
    }

    const refilter = () => {
        // Keep the filters in the address so a reload or a shared link shows the same list.
        const q = new URLSearchParams();
        if (rule.value) q.set('rule_id', rule.value);
        if (sev.value) q.set('severity', sev.value);
        if (status.value) q.set('status', status.value);
        if (range.value) q.set('range', range.value);
        history.replaceState(null, '', `#/signals${q.toString() ? '?' + q : ''}`);
        extra = [];
        cursor = null;
        for (const r of rows.values()) r.tr.remove();
        rows.clear();
        refresh();
    };
    for (const s of [rule, sev, status, range]) s.addEventListener('change', refilter);

    refresh().then(schedule);
    return () => {
        stopped = true;
        clearTimeout(timer);
    };
}
