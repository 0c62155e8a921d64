// rules.js - the rules list: search and filters (sent to GET /rules), an
// enable/disable switch per rule (PATCH), delete behind a confirmation
// dialog.

import { h, field, select, severityBadge, debounce, toast, SEVERITIES, fmtAgo } from './dom.js';
import { api } from './api.js';
import { errorBox } from './errors.js';

export function render(main, { query }) {
    document.title = 'Rules · BeTrace';
    const text = h('input', { type: 'search', value: query.get('text') || '', placeholder: 'name, description or DSL' });
    const sev = select([['', 'Any'], ...SEVERITIES.map((s) => [s, s])], query.get('severity') || '');
    const enabled = select([['', 'Any'], ['true', 'Enabled'], ['false', 'Disabled']], query.get('enabled') || '');
    const tag = h('input', { type: 'text', value: query.get('tag') || '' });
    const out = h('div', { 'aria-live': 'polite' }, h('p.muted', null, 'Loading…'));
    const dialog = confirmDialog();

    main.append(
        h('div.titlebar', null, h('h1', null, 'Rules'),
            h('a.button.primary', { href: '#/rules/new' }, 'New rule')),
        h('form.filters', { role: 'search', 'aria-label': 'Filter rules', onsubmit: (e) => { e.preventDefault(); load(); } },
            field('Search', text), field('Severity', sev), field('State', enabled), field('Tag', tag)),
        out, dialog.el);

    const ctl = new AbortController();
    let seq = 0;
    async function load(focusId) {
        const my = ++seq;
        try {
            const r = await api('GET', '/rules', {
                signal: ctl.signal,
                query: { text: text.value.trim(), severity: sev.value, enabled: enabled.value, tag: tag.value.trim() },
            });
            if (my !== seq) return;
            show(r.rules || [], focusId);
        } catch (e) {
            if (e.name !== 'AbortError' && my === seq) out.replaceChildren(errorBox(e));
        }
    }
    const filtered = () => text.value || sev.value || enabled.value || tag.value;

    function show(rules, focusId) {
        if (!rules.length) {
            out.replaceChildren(filtered()
                ? h('p.empty', null, 'No rule matches these filters.')
                : h('div.empty', null, h('p', null, 'No rules yet. A rule is a BeTraceDSL expression over one trace; when a completed trace matches it, BeTrace raises a signal.'),
                    h('p', null, h('a.button.primary', { href: '#/rules/new' }, 'Create a rule from a template'))));
            return;
        }
        // The list is rebuilt after every change: keep the keyboard focus on
        // the same control (ids are per rule).
        const focused = typeof focusId === 'string' ? focusId
            : out.contains(document.activeElement) ? document.activeElement.id : '';
        out.replaceChildren(h('p.muted.count', null, `${rules.length} rule${rules.length === 1 ? '' : 's'}`),
            h('table.list.rules', null,
                h('thead', null, h('tr', null, ['Name', 'Severity', 'Tags', 'Engine', 'Enabled', 'Actions'].map((c) => h('th', { scope: 'col' }, c)))),
                h('tbody', null, rules.map(row))));
        if (focused && document.getElementById(focused)) document.getElementById(focused).focus();
    }

    function row(r) {
        const idEn = `en-${r.id}`;
        // Every row's controls have the same names (Enabled, Edit, Delete); the
        // rule's name is their description, so a screen reader tells them apart.
        const desc = `rn-${r.id}`;
        const toggle = h('input', { type: 'checkbox', id: idEn, checked: r.enabled !== false, role: 'switch', 'aria-describedby': desc });
        toggle.addEventListener('change', async () => {
            // Not disabled while the request runs: that would take the
            // keyboard focus away.
            toggle.setAttribute('aria-busy', 'true');
            try {
                await api('PATCH', `/rules/${r.id}`, { body: { enabled: toggle.checked } });
                toast(`${r.name}: ${toggle.checked ? 'enabled' : 'disabled'}`);
            } catch (e) {
                toggle.checked = !toggle.checked;
                toast(e.message);
            }
            load(idEn);
        });
        const st = r.status || {};
        return h('tr', { 'data-rule-id': r.id },
            h('td', null, h('a.rulename', { href: `#/rules/${r.id}`, id: desc }, r.name),
                r.description ? h('div.muted.rdesc', null, r.description) : null),
            h('td', null, severityBadge(r.severity)),
            h('td', null, (r.tags || []).map((t) => h('button.tag', { type: 'button', title: `Only rules tagged ${t}`, onclick: () => { tag.value = t; load(); } }, t))),
            h('td', null, h(`span.state.state-${st.state || 'pending'}`, { title: st.error || '' }, st.state || 'pending'),
                st.state === 'error' && st.error ? h('div.muted.small', null, st.error) : null,
                h('div.muted.small', null, `v${r.version}, ${fmtAgo(r.updated_at)}`)),
            h('td', null, h('div.check', null, toggle, h('label', { for: idEn }, 'Enabled'))),
            h('td.acts', null, h('div.actions', null,
                h('a.button', { href: `#/rules/${r.id}`, 'aria-describedby': desc }, 'Edit'),
                h('button.danger', {
                    type: 'button',
                    'aria-describedby': desc,
                    onclick: async () => {
                        if (!(await dialog.ask(`Delete the rule “${r.name}”?`, 'Its signals stay; the engine stops running it within a second.'))) return;
                        try {
                            await api('DELETE', `/rules/${r.id}`);
                            toast(`Deleted ${r.name}`);
                        } catch (e) {
                            toast(e.message);
                        }
                        load();
                    },
                }, 'Delete'))));
    }

    const later = debounce(load, 250);
    text.addEventListener('input', later);
    tag.addEventListener('input', later);
    sev.addEventListener('change', load);
    enabled.addEventListener('change', load);
    load();
    return () => {
        ctl.abort();
        later.cancel();
    };
}

// A modal <dialog> (focus stays inside, Escape cancels); ask() resolves to
// true for Delete, false otherwise.
export function confirmDialog() {
    const title = h('h2', { id: 'confirm-h' });
    const text = h('p');
    const el = h('dialog.confirm', { 'aria-labelledby': 'confirm-h' },
        h('form', { method: 'dialog' }, title, text,
            h('div.actions', null,
                h('button', { value: 'cancel', type: 'submit' }, 'Cancel'),
                h('button.danger', { value: 'delete', type: 'submit' }, 'Delete'))));
    return {
        el,
        ask(t, p) {
            title.textContent = t;
            text.textContent = p || '';
            el.returnValue = '';
            el.showModal();
            el.querySelector('button[value=cancel]').focus();
            return new Promise((resolve) => {
                el.addEventListener('close', () => resolve(el.returnValue === 'delete'), { once: true });
            });
        },
    };
}
