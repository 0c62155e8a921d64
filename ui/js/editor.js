// editor.js - create or edit one rule.  The DSL is typed in a textarea laid
// over a <pre> that shows it highlighted (the textarea's own text is
// transparent, its caret and selection are not), so typing, undo and the
// keyboard behave as in any text field.  Each change is validated (POST
// /rules/validate, debounced) and the checker's errors and warnings are
// marked at their line and column and listed below.

import { h, field, select, debounce, toast, SEVERITIES, nextId } from './dom.js';
import { api } from './api.js';
import { errorBox } from './errors.js';
import { paint } from './highlight.js';
import { TEMPLATES } from './templates.js';
import { confirmDialog } from './rules.js';

export function render(main, { args }) {
    const id = args[0] || null;
    document.title = (id ? 'Edit rule' : 'New rule') + ' · BeTrace';
    const top = h('div');
    main.append(h('p.crumbs', null, h('a', { href: '#/rules' }, 'Rules'), ' / ', id ? 'Edit' : 'New'),
        h('h1', null, id ? 'Edit rule' : 'New rule'), top);
    const ctl = new AbortController();
    let cleanup = () => ctl.abort();
    if (id) {
        top.append(h('p.muted', null, 'Loading…'));
        api('GET', `/rules/${id}`, { signal: ctl.signal })
            .then((rule) => {
                top.replaceChildren();
                document.title = `${rule.name} · Rules · BeTrace`;
                cleanup = build(top, rule, ctl);
            })
            .catch((e) => {
                if (e.name === 'AbortError') return;
                top.replaceChildren(e.status === 404
                    ? h('p.empty', null, 'This rule does not exist (any more). ', h('a', { href: '#/rules' }, 'Back to the rules'))
                    : errorBox(e));
            });
    } else {
        cleanup = build(top, null, ctl);
    }
    return () => cleanup();
}

function build(root, rule, ctl) {
    const isNew = !rule;
    const name = h('input', { type: 'text', required: true, maxlength: 200, value: rule ? rule.name : '', autocomplete: 'off' });
    const severity = select(SEVERITIES.map((s) => [s, s]), rule ? rule.severity : 'medium');
    const description = h('textarea.desc', { rows: 2, maxlength: 4096 });
    description.value = rule ? rule.description || '' : '';
    const tags = h('input', { type: 'text', value: rule ? (rule.tags || []).join(', ') : '', autocomplete: 'off' });
    const enabledId = nextId('en');
    const enabled = h('input', { type: 'checkbox', id: enabledId, checked: rule ? rule.enabled !== false : true });

    // The editor.
    const dslId = nextId('dsl');
    const pre = h('pre.hl', { 'aria-hidden': 'true' });
    const gutter = h('div.gutter', { 'aria-hidden': 'true' });
    const ta = h('textarea.code', {
        id: dslId, spellcheck: 'false', autocapitalize: 'off', autocomplete: 'off', wrap: 'off',
        'aria-describedby': `${dslId}-pos ${dslId}-diags`, rows: 8,
    });
    ta.value = rule ? rule.dsl : '';
    const pos = h('span.pos', { id: `${dslId}-pos` }, 'Line 1, column 1');
    const state = h('span.vstate', { 'aria-live': 'polite' });
    const diagList = h('ul.diags', { id: `${dslId}-diags`, 'aria-live': 'polite', 'aria-label': 'Problems' });
    const editor = h('div.editor', null, gutter, h('div.codewrap', null, pre, ta));

    let diags = [];
    const repaint = () => {
        paint(pre, ta.value, diags);
        const lines = ta.value.split('\n').length;
        const bad = new Set(diags.map((d) => d.line));
        gutter.replaceChildren(...Array.from({ length: lines }, (_, i) =>
            h(`span${bad.has(i + 1) ? '.bad' : ''}`, null, String(i + 1))));
        syncScroll();
    };
    const syncScroll = () => {
        pre.scrollTop = ta.scrollTop;
        pre.scrollLeft = ta.scrollLeft;
        gutter.scrollTop = ta.scrollTop;
    };
    ta.addEventListener('scroll', syncScroll);
    const showPos = () => {
        const before = ta.value.slice(0, ta.selectionStart).split('\n');
        pos.textContent = `Line ${before.length}, column ${before[before.length - 1].length + 1}`;
    };
    ta.addEventListener('keyup', showPos);
    ta.addEventListener('click', showPos);
    ta.addEventListener('select', showPos);

    let vseq = 0;
    async function validate() {
        const my = ++vseq;
        const text = ta.value;
        if (!text.trim()) {
            diagList.classList.remove('stale');
            diagList.removeAttribute('aria-busy');
            diags = [];
            state.textContent = '';
            diagList.replaceChildren(h('li.muted', null, 'Write a rule: trace.has(span => …)'));
            repaint();
            return;
        }
        state.textContent = 'Checking…';
        try {
            const r = await api('POST', '/rules/validate', { body: { dsl: text }, signal: ctl.signal });
            if (my !== vseq || text !== ta.value) return;
            showDiags([...(r.errors || []), ...(r.warnings || [])], r.valid);
        } catch (e) {
            if (e.name === 'AbortError' || my !== vseq) return;
            state.textContent = '';
            diagList.classList.remove('stale');
            diagList.removeAttribute('aria-busy');
            diagList.replaceChildren(h('li', null, errorBox(e)));
        }
    }
    function showDiags(list, valid) {
        diagList.classList.remove('stale');
        diagList.removeAttribute('aria-busy');
        diags = list;
        repaint();
        const nerr = list.filter((d) => d.severity !== 'warning').length;
        const nwarn = list.length - nerr;
        state.className = `vstate ${valid ? (nwarn ? 'warn' : 'ok') : 'bad'}`;
        state.textContent = valid
            ? (nwarn ? `Valid, ${nwarn} warning${nwarn > 1 ? 's' : ''}` : 'Valid')
            : `${nerr} error${nerr > 1 ? 's' : ''}`;
        diagList.replaceChildren(...list.map((d) => h(`li.diag.${d.severity === 'warning' ? 'warning' : 'error'}`, null,
            h('button.linkish', {
                type: 'button',
                onclick: () => goTo(d),
            }, `Line ${d.line}, column ${d.column}`),
            h('span.sevword', null, d.severity === 'warning' ? ' warning: ' : ' error: '),
            h('span.msg', null, d.message),
            d.excerpt ? h('pre.excerpt', null, d.excerpt) : null)));
    }
    function goTo(d) {
        const lines = ta.value.split('\n');
        let idx = 0;
        for (let i = 0; i < d.line - 1 && i < lines.length; i++) idx += lines[i].length + 1;
        idx += d.column - 1;
        ta.focus();
        ta.setSelectionRange(idx, idx);
        showPos();
    }
    const later = debounce(validate, 300);
    ta.addEventListener('input', () => {
        // Stale marks would point at the wrong characters: drop them until
        // the new answer comes.
        diags = [];
        repaint();
        state.className = 'vstate';
        state.textContent = 'Checking…';
        // The list stays (less flicker while typing) but is marked as
        // describing the previous text until the new answer comes.
        diagList.classList.add('stale');
        diagList.setAttribute('aria-busy', 'true');
        later();
    });

    // Templates (new rules only).
    let templateField = null;
    if (isNew) {
        const tsel = select([['', 'Choose a template…'], ...TEMPLATES.map((t) => [t.id, t.name || 'Blank rule'])], '');
        tsel.addEventListener('change', () => {
            const t = TEMPLATES.find((x) => x.id === tsel.value);
            if (!t) return;
            name.value = t.name;
            severity.value = t.severity;
            description.value = t.description;
            tags.value = t.tags.join(', ');
            ta.value = t.dsl;
            diags = [];
            repaint();
            diagList.classList.add('stale');
            diagList.setAttribute('aria-busy', 'true');
            validate();
        });
        templateField = field('Template', tsel, 'fills in every field; the four rules of the DSL guide are here');
    }

    const msg = h('div', { 'aria-live': 'assertive' });
    const saveBtn = h('button.primary', { type: 'submit' }, 'Save');
    const dialog = confirmDialog();
    const form = h('form.card.ruleform', {
        novalidate: true,
        onsubmit: async (e) => {
            e.preventDefault();
            msg.replaceChildren();
            if (!name.value.trim()) {
                msg.replaceChildren(h('p.alert', { role: 'alert' }, 'Give the rule a name.'));
                name.focus();
                return;
            }
            const body = {
                name: name.value.trim(),
                dsl: ta.value,
                severity: severity.value,
                description: description.value,
                tags: tags.value.split(',').map((t) => t.trim()).filter(Boolean),
                enabled: enabled.checked,
            };
            if (!isNew) body.version = rule.version;
            saveBtn.disabled = true;
            try {
                const saved = isNew
                    ? await api('POST', '/rules', { body })
                    : await api('PUT', `/rules/${rule.id}`, { body });
                const w = (saved.warnings || []).length;
                toast(`Saved “${saved.name}”${w ? ` with ${w} warning${w > 1 ? 's' : ''}` : ''}`);
                location.hash = '#/rules';
            } catch (err) {
                saveBtn.disabled = false;
                if (err.code === 'invalid_rule' && err.body.error.diagnostics) {
                    showDiags(err.body.error.diagnostics, false);
                    msg.replaceChildren(h('p.alert', { role: 'alert' }, 'Not saved: the rule does not compile. See the problems under the editor.'));
                } else if (err.code === 'version_conflict') {
                    msg.replaceChildren(h('p.alert', { role: 'alert' }, `Not saved: ${err.body.error.message}. Someone else changed this rule; reload it to see their version.`));
                } else {
                    msg.replaceChildren(errorBox(err));
                }
            }
        },
    },
    templateField,
    h('div.row2', null, field('Name', name), field('Severity', severity)),
    h('div.field', null,
        h('div.labelrow', null, h('label', { for: dslId }, 'Rule'), h('span.muted', null, ' BeTraceDSL, one expression over a trace '), state),
        editor,
        h('div.statusline', null, pos)),
    h('section.problems', { 'aria-label': 'Problems' }, diagList),
    field('Description', description),
    h('div.row2', null, field('Tags', tags, 'comma-separated'),
        h('div.field.checkfield', null, h('div.check', null, enabled, h('label', { for: enabledId }, 'Enabled')))),
    msg,
    h('div.actions', null,
        saveBtn,
        h('a.button', { href: '#/rules' }, 'Cancel'),
        !isNew ? h('button.danger.right', {
            type: 'button',
            onclick: async () => {
                if (!(await dialog.ask(`Delete the rule “${rule.name}”?`, 'Its signals stay; the engine stops running it within a second.'))) return;
                try {
                    await api('DELETE', `/rules/${rule.id}`);
                    toast(`Deleted ${rule.name}`);
                    location.hash = '#/rules';
                } catch (err) {
                    msg.replaceChildren(errorBox(err));
                }
            },
        }, 'Delete') : null));

    if (rule && rule.status && rule.status.state === 'error') {
        root.append(h('p.alert', { role: 'alert' }, `The engine could not load this rule: ${rule.status.error}`));
    }
    // Ctrl+S / Cmd+S saves, as in an editor.
    form.addEventListener('keydown', (e) => {
        if ((e.ctrlKey || e.metaKey) && e.key === 's') {
            e.preventDefault();
            form.requestSubmit();
        }
    });
    root.append(form, dialog.el);
    repaint();
    if (ta.value) validate();
    else diagList.replaceChildren(h('li.muted', null, 'Write a rule, or pick a template.'));
    (isNew ? name : ta).focus();
    return () => {
        later.cancel();
        ctl.abort();
    };
}
