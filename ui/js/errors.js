// errors.js - one way to show a failed API call: a message, and for a key
// problem a link to Settings.

import { h } from './dom.js';

export function errorBox(err) {
    const kind = err && err.kind;
    const msg = err && err.message ? err.message : String(err);
    const box = h('div.alert', { role: 'alert' }, h('p', null, msg));
    if (kind === 'no_key' || kind === 'unauthorized') {
        box.append(h('p', null, h('a', { href: '#/settings' }, 'Open Settings')));
    }
    if (err && err.body && err.body.error && err.body.error.diagnostics) {
        for (const d of err.body.error.diagnostics) {
            box.append(h('pre.excerpt', null, d.excerpt || d.message));
        }
    }
    return box;
}

// Replaces the content of slot with the error (slot is an element).
export function showError(slot, err) {
    if (err && err.name === 'AbortError') return;
    slot.replaceChildren(errorBox(err));
}
