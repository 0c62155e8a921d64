// dom.js - a tiny element builder and formatting helpers shared by the pages.

// h('tag.class', {attr: value, onclick: fn}, child, ...): children may be
// strings, nodes, arrays or null.  Attributes starting with "on" become
// listeners; everything else is set with setAttribute (false/null skip).
export function h(spec, attrs, ...children) {
    const [tag, ...classes] = spec.split('.');
    const el = document.createElement(tag || 'div');
    if (classes.length) el.className = classes.join(' ');
    if (attrs) {
        for (const [k, v] of Object.entries(attrs)) {
            if (v === false || v === null || v === undefined) continue;
            if (k.startsWith('on') && typeof v === 'function') {
                el.addEventListener(k.slice(2), v);
            } else if (k === 'class') {
                el.className += (el.className ? ' ' : '') + v;
            } else if (k === 'value') {
                el.value = v;
            } else if (k === 'checked') {
                el.checked = !!v;
            } else {
                el.setAttribute(k, v === true ? '' : v);
            }
        }
    }
    append(el, children);
    return el;
}

function append(el, children) {
    for (const c of children) {
        if (c === null || c === undefined || c === false) continue;
        if (Array.isArray(c)) append(el, c);
        else el.append(c instanceof Node ? c : String(c));
    }
}

const SVG = 'http://www.w3.org/2000/svg';
export function svg(tag, attrs, ...children) {
    const el = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
    for (const c of children.flat()) {
        if (c !== null && c !== undefined) el.append(c instanceof Node ? c : String(c));
    }
    return el;
}

let uid = 0;
export function nextId(prefix) {
    uid += 1;
    return `${prefix}-${uid}`;
}

// A labelled form field: <div class="field"><label for=..>Label</label>control</div>.
export function field(label, control, hint) {
    if (!control.id) control.id = nextId('f');
    return h('div.field', null,
        h('label', { for: control.id }, label), control,
        hint ? h('span.hint', null, hint) : null);
}

export function select(options, value, attrs) {
    return h('select', attrs, options.map(([v, text]) =>
        h('option', { value: v, selected: v === value ? true : null }, text)));
}

export const SEVERITIES = ['critical', 'high', 'medium', 'low', 'info'];

export function severityBadge(sev) {
    return h(`span.badge.sev-${SEVERITIES.includes(sev) ? sev : 'info'}`, null, sev || '?');
}

export function statusBadge(st) {
    return h(`span.badge.st-${st}`, null, st);
}

export function fmtTime(iso) {
    if (!iso) return '';
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return String(iso);
    return d.toLocaleString(undefined, {
        year: 'numeric', month: 'short', day: '2-digit',
        hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false,
    });
}

export function fmtAgo(iso) {
    const ms = Date.now() - new Date(iso).getTime();
    if (!Number.isFinite(ms)) return '';
    if (ms < 60000) return `${Math.max(0, Math.round(ms / 1000))} s ago`;
    if (ms < 3600000) return `${Math.round(ms / 60000)} min ago`;
    if (ms < 86400000) return `${Math.round(ms / 3600000)} h ago`;
    return `${Math.round(ms / 86400000)} d ago`;
}

export function fmtDurationNs(ns) {
    const ms = ns / 1e6;
    if (ms < 1) return `${Math.round(ns / 1000)} µs`;
    if (ms < 1000) return `${ms < 10 ? ms.toFixed(2) : ms.toFixed(1)} ms`;
    return `${(ms / 1000).toFixed(ms < 10000 ? 2 : 1)} s`;
}

export function fmtNum(n, digits = 0) {
    if (n === null || n === undefined || Number.isNaN(n)) return '–';
    return Number(n).toLocaleString(undefined, { maximumFractionDigits: digits });
}

export function debounce(fn, ms) {
    let t = null;
    const d = (...args) => {
        clearTimeout(t);
        t = setTimeout(() => fn(...args), ms);
    };
    d.cancel = () => clearTimeout(t);
    return d;
}

export function toast(msg) {
    const el = document.getElementById('toast');
    el.textContent = msg;
    el.classList.add('show');
    clearTimeout(toast.t);
    toast.t = setTimeout(() => el.classList.remove('show'), 4000);
}
