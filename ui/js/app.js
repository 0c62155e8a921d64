// app.js - hash router: each page is a module exporting render(main, params)
// which may return a cleanup function (stops its polling when the user
// leaves the page).

import { h } from './dom.js';
import * as overview from './overview.js';
import * as rules from './rules.js';
import * as editor from './editor.js';
import * as signals from './signals.js';
import * as traceView from './trace.js';
import * as settings from './settings.js';

const routes = [
    [/^\/overview$/, 'overview', overview],
    [/^\/rules$/, 'rules', rules],
    [/^\/rules\/new$/, 'rules', editor],
    [/^\/rules\/([0-9a-f]+)$/, 'rules', editor],
    [/^\/signals$/, 'signals', signals],
    [/^\/traces\/([0-9a-fA-F]+)$/, 'signals', traceView],
    [/^\/settings$/, 'settings', settings],
];

let cleanup = null;
let lastPath = null;

function parse() {
    const raw = location.hash.replace(/^#/, '') || '/overview';
    const [path, qs] = raw.split('?');
    return { path, query: new URLSearchParams(qs || '') };
}

function route() {
    const { path, query } = parse();
    const main = document.getElementById('main');
    if (cleanup) {
        try {
            cleanup();
        } catch (e) {
            console.warn(e);
        }
        cleanup = null;
    }
    let hit = null;
    for (const [re, nav, mod] of routes) {
        const m = path.match(re);
        if (m) {
            hit = { nav, mod, args: m.slice(1) };
            break;
        }
    }
    for (const a of document.querySelectorAll('nav a[data-page]')) {
        if (hit && a.dataset.page === hit.nav) a.setAttribute('aria-current', 'page');
        else a.removeAttribute('aria-current');
    }
    main.replaceChildren();
    if (!hit) {
        document.title = 'Not found · BeTrace';
        main.append(h('h1', null, 'Page not found'),
            h('p.empty', null, 'Nothing lives at ', h('code', null, path), '. ',
                h('a', { href: '#/overview' }, 'Go to the overview'), '.'));
        return;
    }
    cleanup = hit.mod.render(main, { args: hit.args, query }) || null;
    // Move focus to the new page for keyboard and screen reader users, but
    // not on the first load (the browser starts at the top anyway).
    if (lastPath !== null && lastPath !== path) main.focus({ preventScroll: true });
    lastPath = path;
}

window.addEventListener('hashchange', route);
if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', route);
else route();
