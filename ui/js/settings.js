// settings.js - the API key (sessionStorage: gone when the browser session
// ends) and which server the UI talks to.

import { h, field, toast } from './dom.js';
import { api, getKey, setKey } from './api.js';
import { errorBox } from './errors.js';

export function render(main) {
    document.title = 'Settings · BeTrace';
    const input = h('input', { type: 'password', autocomplete: 'off', spellcheck: 'false', value: getKey(), name: 'api-key' });
    const show = h('input', { type: 'checkbox', id: 'show-key' });
    show.addEventListener('change', () => { input.type = show.checked ? 'text' : 'password'; });
    const result = h('div', { 'aria-live': 'polite' });

    async function check() {
        result.replaceChildren(h('p.muted', null, 'Checking…'));
        try {
            const health = await api('GET', '/health', { accept: [503] });
            result.replaceChildren(h('p.ok', null, `Connected: the API accepted the key (server ${health.status === 'ok' ? 'healthy' : 'degraded'}).`));
        } catch (e) {
            result.replaceChildren(errorBox(e));
        }
    }

    const form = h('form.card.keyform', {
        onsubmit: (e) => {
            e.preventDefault();
            setKey(input.value.trim());
            toast(input.value.trim() ? 'API key saved for this browser session' : 'API key cleared');
            if (input.value.trim()) check();
            else result.replaceChildren();
        },
    },
    h('h2', null, 'API key'),
    h('p.muted', null, 'Sent as ', h('code', null, 'Authorization: Bearer …'),
        ' with every request. It is kept in this tab\'s session storage only and forgotten when the browser session ends.'),
    field('API key', input),
    h('div.check', null, show, h('label', { for: 'show-key' }, 'Show key')),
    h('div.actions', null,
        h('button.primary', { type: 'submit' }, 'Save'),
        h('button', {
            type: 'button',
            onclick: () => { input.value = ''; setKey(''); result.replaceChildren(); toast('API key cleared'); },
        }, 'Clear')),
    result);

    const origin = location.origin;
    main.append(
        h('h1', null, 'Settings'),
        form,
        h('section.card', { 'aria-labelledby': 'server-h' },
            h('h2', { id: 'server-h' }, 'Server'),
            h('dl.kv', null,
                h('dt', null, 'UI and API origin'), h('dd', null, h('code', { id: 'origin' }, origin)),
                h('dt', null, 'REST API'), h('dd', null, h('code', null, origin + '/api/v1')),
                h('dt', null, 'OTLP traces'), h('dd', null, 'the OTLP port of this server, path ', h('code', null, '/v1/traces'))),
            h('p.muted', null, 'The UI only talks to /api/v1 on its own origin; nginx routes it to the BeTrace module.')));
    if (getKey()) check();
}
