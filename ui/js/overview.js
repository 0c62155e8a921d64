// overview.js - ingest rate and traces in flight (/stats, polled), signals
// per minute over the last hour (/signals/counts) as an SVG bar chart, the
// rules that fire most, and the health of nginx, engine and Redis.

import { h, svg, fmtNum, severityBadge, SEVERITIES } from './dom.js';
import { api } from './api.js';
import { errorBox } from './errors.js';

export function render(main) {
    document.title = 'Overview · BeTrace';
    const err = h('div');
    const tiles = {
        rate: tile('Spans/s', 'spans accepted per second'),
        inflight: tile('Traces in flight', 'being assembled now'),
        signals: tile('Signals, last hour', ''),
        rules: tile('Rules running', ''),
    };
    const health = h('ul.health', { 'aria-label': 'Health' }, h('li.muted', null, 'Loading…'));
    const chart = h('div.chart', null, h('p.muted', null, 'Loading…'));
    const top = h('div', null, h('p.muted', null, 'Loading…'));
    const sev = h('div.sevbar');

    main.append(
        h('h1', null, 'Overview'),
        err,
        h('div.tiles', null, Object.values(tiles).map((t) => t.el)),
        h('div.grid2', null,
            h('section.card', { 'aria-labelledby': 'chart-h' },
                h('h2', { id: 'chart-h' }, 'Signals per minute, last hour'), chart, sev),
            h('section.card', { 'aria-labelledby': 'health-h' },
                h('h2', { id: 'health-h' }, 'Health'), health)),
        h('section.card', { 'aria-labelledby': 'top-h' },
            h('h2', { id: 'top-h' }, 'Rules that fire most (last hour)'), top));

    // A missing or refused key, or an API that is down, concerns every
    // panel: say it once at the top and leave the panels empty.
    const global = (e) => ['no_key', 'unauthorized', 'down'].includes(e.kind);
    const fail = (slot, e) => {
        if (e.name === 'AbortError') return;
        if (global(e)) {
            err.replaceChildren(errorBox(e));
            slot.replaceChildren(h('p.muted', null, 'Unavailable'));
        } else {
            slot.replaceChildren(errorBox(e));
        }
    };

    let prev = null;
    let lastMinutes = null;
    const onResize = () => { if (lastMinutes) drawChart(chart, lastMinutes); };
    window.addEventListener('resize', onResize);
    let stopped = false;
    const ctl = new AbortController();

    async function pollStats() {
        try {
            const s = await api('GET', '/stats', { signal: ctl.signal });
            const now = performance.now();
            if (prev) {
                const dt = (now - prev.t) / 1000;
                const d = (s.spans_accepted || 0) - prev.n;
                tiles.rate.set(fmtNum(dt > 0 && d >= 0 ? d / dt : 0, 1));
            } else {
                tiles.rate.set('…');
            }
            prev = { t: now, n: s.spans_accepted || 0 };
            tiles.inflight.set(fmtNum(s.traces_in_flight), `${fmtNum(s.spans_in_flight)} spans`);
            tiles.rules.set(fmtNum(s.rules_loaded), s.rules_failed ? `${s.rules_failed} failed to compile` : 'enabled and compiled');
            err.replaceChildren();
        } catch (e) {
            if (e.name !== 'AbortError') err.replaceChildren(errorBox(e));
            prev = null;
        }
    }

    async function pollHealth() {
        try {
            const hl = await api('GET', '/health', { accept: [503], signal: ctl.signal });
            const eng = hl.engine || {};
            const red = hl.redis || {};
            const ngx = hl.nginx || {};
            health.replaceChildren(
                part('nginx', true, `pid ${ngx.pid ?? '?'}, ${ngx.version ? 'nginx ' + ngx.version : ''}${ngx.ring ? ', ring attached' : ', no ring'}`),
                part('Engine', !!eng.alive, eng.alive ? `heartbeat ${eng.heartbeat_age_ms} ms ago, pid ${eng.pid}` : 'no heartbeat: the engine is not running'),
                part('Redis', !!red.ok, red.ok ? `latency ${fmtNum(red.latency_ms, 2)} ms` : `unreachable: ${red.error || 'error'}`));
        } catch (e) {
            const li = h('li');
            health.replaceChildren(li);
            fail(li, e);
        }
    }

    async function pollCounts() {
        try {
            const c = await api('GET', '/signals/counts', { signal: ctl.signal });
            tiles.signals.set(fmtNum(c.total), `${fmtNum(c.by_severity ? c.by_severity.critical : 0)} critical`);
            lastMinutes = c.per_minute || [];
            drawChart(chart, lastMinutes);
            sev.replaceChildren(...SEVERITIES.map((s) =>
                h('span.sevcount', null, severityBadge(s), ' ', fmtNum((c.by_severity || {})[s] || 0))));
            const rows = (c.by_rule || []).slice().sort((a, b) => b.count - a.count).slice(0, 10);
            if (!rows.length) {
                top.replaceChildren(h('p.empty', null, 'No signals in the last hour. ',
                    h('a', { href: '#/rules' }, 'Rules'), ' fire when a completed trace matches them.'));
            } else {
                top.replaceChildren(h('table.list', null,
                    h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Rule'), h('th', { scope: 'col' }, 'Severity'), h('th.num', { scope: 'col' }, 'Signals'))),
                    h('tbody', null, rows.map((r) => h('tr', null,
                        h('td', null, h('a', { href: `#/signals?rule_id=${encodeURIComponent(r.rule_id)}` }, r.rule_name || `rule ${r.rule_id} (deleted)`)),
                        h('td', null, r.severity ? severityBadge(r.severity) : '–'),
                        h('td.num', null, fmtNum(r.count)))))));
            }
        } catch (e) {
            fail(chart, e);
            top.replaceChildren();
            sev.replaceChildren();
        }
    }

    function tick(fn, ms) {
        const run = async () => {
            if (stopped) return;
            await fn();
            if (!stopped) timers.push(setTimeout(run, ms));
        };
        run();
    }
    const timers = [];
    tick(pollStats, 2000);
    tick(pollHealth, 5000);
    tick(pollCounts, 10000);

    return () => {
        stopped = true;
        window.removeEventListener('resize', onResize);
        ctl.abort();
        timers.forEach(clearTimeout);
    };
}

function tile(label, sub) {
    const value = h('span.value', null, '–');
    const small = h('span.sub', null, sub);
    const el = h('div.tile', null, h('span.label', null, label), value, small);
    return {
        el,
        set(v, s) {
            value.textContent = v;
            if (s !== undefined) small.textContent = s;
        },
    };
}

function part(name, ok, text) {
    return h('li', null,
        h(`span.dot.${ok ? 'up' : 'down'}`, { 'aria-hidden': 'true' }),
        h('strong', null, name), ' ', h('span', null, ok ? 'OK' : 'Down'), h('span.muted', null, ` · ${text}`));
}

// Bars, one per minute; the y axis is scaled to a round maximum.
function drawChart(el, minutes) {
    // Drawn at the container's size (not scaled) so the labels keep their
    // size on a narrow window; redrawn with each poll and on resize.
    const W = Math.max(280, Math.round(el.clientWidth || 600)), H = 170, L = 32, B = 20, T = 8;
    const max = Math.max(1, ...minutes.map((m) => m.count));
    const nice = max <= 5 ? max : Math.ceil(max / 5) * 5;
    const n = Math.max(1, minutes.length);
    const bw = (W - L) / n;
    const y = (v) => T + (H - T - B) * (1 - v / nice);
    const g = svg('svg', {
        viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: 'img', class: 'bars',
        'aria-label': `Signals per minute: ${minutes.reduce((a, m) => a + m.count, 0)} in the last ${n} minutes, at most ${max} in one minute`,
    });
    for (const v of [0, nice / 2, nice]) {
        g.append(svg('line', { x1: L, x2: W, y1: y(v), y2: y(v), class: 'grid' }),
            svg('text', { x: L - 4, y: y(v) + 4, class: 'axis', 'text-anchor': 'end' }, String(Math.round(v))));
    }
    minutes.forEach((m, i) => {
        if (m.count > 0) {
            const r = svg('rect', { x: L + i * bw + 0.5, y: y(m.count), width: Math.max(1, bw - 1), height: y(0) - y(m.count), class: 'bar' });
            r.append(svg('title', null, `${new Date(m.minute).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', hour12: false })}: ${m.count}`));
            g.append(r);
        }
    });
    const label = (i, anchor) => svg('text', { x: L + i * bw, y: H - 4, class: 'axis', 'text-anchor': anchor },
        minutes[i] ? new Date(minutes[i].minute).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', hour12: false }) : '');
    if (minutes.length) g.append(label(0, 'start'), label(Math.floor(n / 2), 'middle'), svg('text', { x: W, y: H - 4, class: 'axis', 'text-anchor': 'end' }, 'now'));
    el.replaceChildren(g);
}
