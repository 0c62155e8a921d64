// ui.test.mjs - end-to-end tests of the web UI in a real Chromium (Debian's
// /usr/bin/chromium driven by playwright-core; nothing is ever downloaded).
//
//   node t/ui/ui.test.mjs UI_BASE_URL API_KEY OTLP_URL [ARTIFACT_DIR [READ_KEY]]
//
// UI_BASE_URL is the server that serves ui/ and routes /api/v1 to the
// module (http://127.0.0.1:3000), API_KEY a write key, OTLP_URL the traces
// endpoint for t/js/send-rule-traces.mjs.  Screenshots of every page go to
// ARTIFACT_DIR (default build/ui-artifacts).  READ_KEY, if given, is a key
// with only the read role: the UI must say that it may not write.  t/integration/test_ui.c
// starts Redis, the engine and nginx and runs this.  Exits 0 only if every
// step passed; prints each step.

import { createRequire } from 'node:module';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(here, '../js/package.json'));
const { chromium } = require('playwright-core');

const [base, key, otlp, artArg, readKey] = process.argv.slice(2);
if (!base || !key || !otlp) {
    process.stderr.write('usage: ui.test.mjs UI_BASE_URL API_KEY OTLP_URL [ARTIFACT_DIR]\n');
    process.exit(2);
}
const art = artArg || join(here, '../../build/ui-artifacts');
mkdirSync(art, { recursive: true });

const profile = mkdtempSync(join(tmpdir(), 'betrace-ui-chromium-'));
const browser = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking',
        '--disable-component-update', '--no-first-run', '--disable-sync'],
    viewport: { width: 1280, height: 800 },
});
const page = browser.pages()[0] || await browser.newPage();
page.setDefaultTimeout(10000);

// Console errors fail the run, except the ones a step expects (a refused
// key makes Chromium log the 401; an API made unreachable logs the abort).
const consoleErrors = [];
let allowed = null;
page.on('console', (m) => {
    if (m.type() !== 'error') return;
    if (allowed && allowed.test(m.text())) return;
    consoleErrors.push(m.text());
});
page.on('pageerror', (e) => consoleErrors.push(`pageerror: ${e.message}`));

let failed = 0;
let n = 0;
async function step(name, fn) {
    n++;
    const t0 = Date.now();
    try {
        await fn();
        process.stdout.write(`ok ${n} - ${name} (${Date.now() - t0} ms)\n`);
    } catch (e) {
        failed++;
        process.stdout.write(`not ok ${n} - ${name}\n  ${String(e.stack || e).split('\n').slice(0, 6).join('\n  ')}\n`);
        await page.screenshot({ path: join(art, `FAILED-${n}.png`), fullPage: true }).catch(() => {});
        throw e;
    }
}
const shot = (name) => page.screenshot({ path: join(art, `${name}.png`), fullPage: true });
const main = () => page.locator('main');
const nav = (name) => page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name, exact: true });

function sendTraces() {
    return new Promise((resolve, reject) => {
        execFile('node', [join(here, '../js/send-rule-traces.mjs'), otlp, 'proto'], { timeout: 60000 },
            (err, stdout, stderr) => {
                if (err) reject(new Error(`send-rule-traces.mjs: ${err.message}\n${stderr}`));
                else resolve(JSON.parse(stdout));
            });
    });
}

const BAD = "trace.has(span => span.attributes['data.contains_pii'] === true)\n  .and(trace.missing(span => span.nmae === 'audit.log'))";
const GOOD = BAD.replace('nmae', 'name');

let sent = null;
try {
    await step('headers: CSP, nosniff, Cache-Control for index.html and assets', async () => {
        const r = await fetch(base + '/');
        assert.equal(r.status, 200);
        const csp = r.headers.get('content-security-policy') || '';
        assert.match(csp, /default-src 'self'/);
        assert.match(csp, /script-src 'self'(;|$)/);
        assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|\*/);
        assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
        assert.equal(r.headers.get('cache-control'), 'no-cache');
        assert.equal(r.headers.get('content-type'), 'text/html; charset=utf-8');
        const a = await fetch(base + '/js/app.js');
        assert.equal(a.status, 200);
        assert.match(a.headers.get('content-type') || '', /javascript/);
        assert.match(a.headers.get('cache-control') || '', /max-age=\d+/);
        assert.equal(a.headers.get('x-content-type-options'), 'nosniff');
        const api = await fetch(base + '/api/v1/health', { headers: { Authorization: `Bearer ${key}` } });
        assert.equal(api.status, 200, 'the UI server routes /api/v1 to the module');
    });

    await step('no key: the overview says to enter it in Settings', async () => {
        await page.goto(base + '/#/overview');
        await page.getByText('Enter your API key in Settings').first().waitFor();
        await page.getByRole('link', { name: 'Open Settings' }).first().waitFor();
        await shot('overview-no-key');
    });

    await step('wrong key: "The API key was refused (401)"', async () => {
        allowed = /status of 401/;
        await nav('Settings').click();
        await page.getByLabel('API key', { exact: true }).fill('not-the-key');
        await page.getByRole('button', { name: 'Save' }).click();
        await page.getByText('The API key was refused (401)').waitFor();
        await nav('Rules').click();
        await page.getByText('The API key was refused (401)').waitFor();
        await shot('rules-wrong-key');
    });

    await step('settings: the right key connects; the origin is shown', async () => {
        await nav('Settings').click();
        await page.getByLabel('API key', { exact: true }).fill(key);
        await page.getByRole('button', { name: 'Save' }).click();
        await page.getByText('Connected').waitFor();
        // Settings checked the wrong key once more on opening; from here on
        // every request has the right one.
        allowed = null;
        assert.equal(await page.locator('#origin').textContent(), new URL(base).origin);
        assert.equal(await page.evaluate(() => sessionStorage.getItem('betrace.apiKey')), key);
        await shot('settings');
    });

    await step('rules: empty state', async () => {
        await nav('Rules').click();
        await page.getByText('No rules yet').waitFor();
        await shot('rules-empty');
    });

    await step('editor: a typed syntax error is marked at its line and column', async () => {
        await page.getByRole('link', { name: /New rule|Create a rule/ }).first().click();
        await page.getByLabel('Name', { exact: true }).fill('PII without audit log');
        await page.getByLabel('Severity', { exact: true }).selectOption('critical');
        const dsl = page.getByLabel('Rule', { exact: true });
        await dsl.click();
        await dsl.pressSequentially(BAD.replace(/\n {2}/, '\n'), { delay: 5 });
        // pressSequentially keeps what is typed: re-set the exact text to be
        // sure of the column (the typed text has no indentation on line 2).
        const line2 = BAD.split('\n')[1];
        const col = line2.indexOf('nmae') + 1;
        await dsl.fill(BAD);
        const diag = page.locator('ul.diags:not(.stale) li.diag.error').first();
        await diag.waitFor();
        const text = await diag.textContent();
        assert.match(text, new RegExp(`Line 2, column ${col}\\b`), text);
        assert.match(text, /nmae/);
        const mark = page.locator('pre.hl .diag-error');
        assert.equal((await mark.allTextContents()).join(''), 'nmae');
        assert.match(await page.locator('.vstate').textContent(), /1 error/);
        assert.equal(await page.locator('.gutter .bad').textContent(), '2');
        // Highlighting: keywords and strings are coloured.
        assert.ok(await page.locator('pre.hl .tk-trace').count() >= 2);
        assert.ok(await page.locator('pre.hl .tk-string').count() >= 2);
        await page.getByLabel('Description').fill('PII accessed, but no audit log anywhere in the trace.');
        await page.getByLabel('Tags').fill('compliance, pii');
        await shot('rule-editor-error');
        // Clicking the problem puts the caret there.
        await diag.getByRole('button').click();
        assert.equal(await page.locator('.pos').textContent(), `Line 2, column ${col}`);
    });

    await step('editor: fixed, it validates and saves; the rule is in the list', async () => {
        await page.getByLabel('Rule', { exact: true }).fill(GOOD);
        await page.locator('.vstate', { hasText: /^Valid$/ }).waitFor();
        assert.equal(await page.locator('ul.diags li.diag').count(), 0);
        await page.getByRole('button', { name: 'Save' }).click();
        await page.waitForURL(/#\/rules$/);
        const row = page.locator('tr', { hasText: 'PII without audit log' });
        await row.waitFor();
        assert.match(await row.textContent(), /critical/);
        assert.match(await row.textContent(), /compliance/);
    });

    await step('editor: a template from DSL.md fills every field; saved with its warning', async () => {
        await page.getByRole('link', { name: 'New rule' }).click();
        const tpl = page.getByLabel('Template');
        const names = await tpl.locator('option').allTextContents();
        for (const t of ['Auth retry storm', 'PII without audit log', 'Slow database query in payment flow', 'Detect payment timeout cascade']) {
            assert.ok(names.includes(t), `template ${t}`);
        }
        await tpl.selectOption({ label: 'Detect payment timeout cascade' });
        assert.equal(await page.getByLabel('Name', { exact: true }).inputValue(), 'Detect payment timeout cascade');
        await page.locator('ul.diags:not(.stale) li.diag.warning').waitFor();
        assert.match(await page.locator('ul.diags').textContent(), /TIMEOUT/);
        assert.ok(await page.locator('pre.hl .diag-warning').count() >= 1);
        await shot('rule-editor-warning');
        await tpl.selectOption({ label: 'Auth retry storm' });
        await page.locator('.vstate', { hasText: /^Valid$/ }).waitFor();
        await page.getByRole('button', { name: 'Save' }).click();
        await page.locator('tr', { hasText: 'Auth retry storm' }).waitFor();
    });

    await step('rules: search, and the engine runs them (state active)', async () => {
        await page.getByLabel('Search').fill('audit');
        await page.waitForFunction(() => document.querySelectorAll('table.rules tbody tr').length === 1);
        await page.getByLabel('Search').fill('');
        await page.waitForFunction(() => document.querySelectorAll('table.rules tbody tr').length === 2);
        // The list shows the engine's status: wait for both to be active.
        for (let i = 0; i < 30; i++) {
            await nav('Rules').click();
            await page.locator('table.rules').waitFor();
            if (await page.locator('.state-active').count() === 2) break;
            await page.waitForTimeout(300);
            await page.evaluate(() => { location.hash = '#/overview'; });
        }
        assert.equal(await page.locator('.state-active').count(), 2);
        await shot('rules');
    });

    await step('signals: empty, then a signal appears without a reload', async () => {
        await nav('Signals').click();
        await page.getByText('No signals yet').waitFor();
        await shot('signals-empty');
        await page.evaluate(() => { window.__noReload = 42; });
        sent = await sendTraces();
        assert.equal(sent.ok, true);
        const row = page.locator('tr', { hasText: 'PII without audit log' });
        await row.waitFor({ timeout: 20000 });
        await page.locator('tr', { hasText: 'Auth retry storm' }).waitFor({ timeout: 20000 });
        assert.equal(await page.evaluate(() => window.__noReload), 42, 'the page was not reloaded');
        assert.match(await row.textContent(), /open/);
        assert.match(await row.textContent(), /GET \/customer/);
        await shot('signals');
    });

    await step('signals: the filters narrow the list', async () => {
        await page.getByLabel('Severity').selectOption('high');
        await page.waitForFunction(() => document.querySelectorAll('table.signals tbody tr').length === 1);
        assert.match(await page.locator('table.signals tbody').textContent(), /Auth retry storm/);
        await page.getByLabel('Severity').selectOption('');
        await page.waitForFunction(() => document.querySelectorAll('table.signals tbody tr').length === 2);
        await page.getByLabel('Status').selectOption('resolved');
        await page.getByText('No signal matches these filters.').waitFor();
        await page.getByLabel('Status').selectOption('');
        await page.getByLabel('Time').selectOption('15');
        await page.waitForFunction(() => document.querySelectorAll('table.signals tbody tr').length === 2);
        assert.match(page.url(), /range=15/);
        await page.getByLabel('Time').selectOption('');
    });

    await step('trace view: the waterfall with the witness spans highlighted', async () => {
        const row = page.locator('tr', { hasText: 'PII without audit log' });
        await row.getByRole('link', { name: 'Trace', exact: true }).click();
        await page.locator('.waterfall .wf-row[data-span-id]').first().waitFor();
        const t = sent.traces.pii_no_audit;
        assert.ok(page.url().includes(t.trace_id), page.url());
        const rows = page.locator('.waterfall .wf-row[data-span-id]');
        assert.equal(await rows.count(), t.span_count);
        const witness = page.locator('.waterfall .wf-row.witness');
        assert.equal(await witness.count(), 1);
        assert.match(await witness.textContent(), /customer\.load/);
        assert.match(await witness.textContent(), /witness/i);
        // Nesting: the child is indented more than the root.
        const pads = await rows.evaluateAll((els) => els.map((e) => parseFloat(getComputedStyle(e.querySelector('button')).paddingLeft)));
        assert.ok(pads[1] > pads[0], `indent ${pads}`);
        // The witness is selected first: its attributes are shown.
        const detail = page.locator('.spandetail');
        await detail.getByText('data.contains_pii').waitFor();
        assert.match(await detail.textContent(), /Resource/);
        assert.match(await detail.textContent(), /service\.name/);
        assert.match(await detail.textContent(), /Events/);
        // Click the root span: the panel follows.
        await rows.first().getByRole('button').click();
        await detail.getByRole('heading', { name: /GET \/customer/ }).waitFor();
        assert.match(await detail.textContent(), /SERVER/);
        await witness.getByRole('button').click();
        await shot('trace');
    });

    await step('trace view: acknowledge the signal', async () => {
        await page.locator('.siglist').getByRole('button', { name: 'Acknowledge' }).click();
        await page.locator('.siglist .st-acknowledged').waitFor();
        await nav('Signals').click();
        const row = page.locator('tr', { hasText: 'PII without audit log' });
        await row.locator('.st-acknowledged').waitFor();
        await row.getByRole('button', { name: 'Resolve' }).waitFor();
        assert.equal(await row.getByRole('button', { name: 'Acknowledge' }).count(), 0);
        // Acknowledge the other one from the list.
        const other = page.locator('tr', { hasText: 'Auth retry storm' });
        await other.getByRole('button', { name: 'Acknowledge' }).click();
        await other.locator('.st-acknowledged').waitFor();
    });

    await step('overview: rates, chart, top rules, health', async () => {
        await nav('Overview').click();
        await page.locator('.health', { hasText: 'Engine' }).waitFor();
        await page.locator('.health li', { hasText: 'Redis' }).locator('.dot.up').waitFor();
        await page.locator('.health li', { hasText: 'Engine' }).locator('.dot.up').waitFor();
        await page.locator('.chart svg rect.bar').first().waitFor();
        const top = page.getByRole('region', { name: /Rules that fire most/ });
        await top.getByRole('link', { name: 'PII without audit log' }).waitFor();
        assert.match(await page.locator('.tile .value').nth(2).textContent(), /^2$/);
        await page.waitForFunction(() => /^[0-9.,]+$/.test(document.querySelector('.tile .value').textContent));
        await shot('overview');
        // A top rule opens the signals of that rule only.
        await top.getByRole('link', { name: 'Auth retry storm' }).click();
        await page.waitForURL(/#\/signals\?rule_id=/);
        await page.waitForFunction(() => document.querySelectorAll('table.signals tbody tr').length === 1);
        assert.match(await page.locator('table.signals tbody').textContent(), /Auth retry storm/);
        assert.equal(await page.getByLabel('Rule', { exact: true }).locator('option:checked').textContent(), 'Auth retry storm');
    });

    await step('editor: edit a saved rule (PUT with its version)', async () => {
        await nav('Rules').click();
        const row = page.locator('tr', { hasText: 'PII without audit log' });
        await row.getByRole('link', { name: 'Edit' }).click();
        await page.getByRole('heading', { name: 'Edit rule' }).waitFor();
        assert.equal(await page.getByLabel('Name', { exact: true }).inputValue(), 'PII without audit log');
        assert.equal(await page.getByLabel('Rule', { exact: true }).inputValue(), GOOD);
        await page.locator('.vstate', { hasText: /^Valid$/ }).waitFor();
        await page.getByLabel('Severity').selectOption('high');
        await page.getByLabel('Rule', { exact: true }).focus();
        await page.keyboard.press('Control+s');      // saves, as in an editor
        await page.waitForURL(/#\/rules$/);
        await row.locator('.sev-high').waitFor();
        assert.match(await row.textContent(), /v2/);
    });

    if (readKey) {
        await step('read-only key: reading works, a write says why it was refused (403)', async () => {
            allowed = /status of 403/;
            await nav('Settings').click();
            await page.getByLabel('API key', { exact: true }).fill(readKey);
            await page.getByRole('button', { name: 'Save' }).click();
            await page.getByText('Connected').waitFor();
            await nav('Rules').click();
            const row = page.locator('tr', { hasText: 'PII without audit log' });
            await row.waitFor();
            await row.getByLabel('Enabled').click();
            await page.locator('#toast', { hasText: 'This API key may not do that (403)' }).waitFor();
            assert.equal(await row.getByLabel('Enabled').isChecked(), true, 'the switch goes back');
            await nav('Settings').click();
            await page.getByLabel('API key', { exact: true }).fill(key);
            await page.getByRole('button', { name: 'Save' }).click();
            await page.getByText('Connected').waitFor();
            allowed = null;
        });
    }

    await step('keyboard: nav by Tab, delete a rule with the confirmation dialog', async () => {
        await nav('Rules').focus();
        await page.keyboard.press('Enter');
        await page.waitForURL(/#\/rules$/);
        const row = page.locator('tr', { hasText: 'Auth retry storm' });
        await row.waitFor();
        // Disable then enable with the keyboard.
        const sw = row.getByLabel('Enabled');
        await sw.focus();
        await page.keyboard.press('Space');
        await page.waitForFunction(() => [...document.querySelectorAll('tr')].some((r) => r.textContent.includes('Auth retry storm') && r.querySelector('.state-disabled, .state-pending')));
        // The list was rebuilt; the focus stayed on the switch.
        assert.equal(await page.evaluate(() => document.activeElement.getAttribute('role')), 'switch');
        assert.equal(await sw.isChecked(), false);
        await row.getByRole('button', { name: 'Delete' }).focus();
        await page.keyboard.press('Enter');
        const dlg = page.getByRole('dialog');
        await dlg.waitFor();
        await shot('rules-delete-confirm');
        await page.keyboard.press('Escape');
        await dlg.waitFor({ state: 'hidden' });
        assert.equal(await row.count(), 1, 'Escape cancels');
        await row.getByRole('button', { name: 'Delete' }).click();
        await dlg.getByRole('button', { name: 'Delete' }).click();
        await row.waitFor({ state: 'detached' });
        assert.equal(await page.locator('table.rules tbody tr').count(), 1);
    });

    await step('API down: a clear message, not a blank page', async () => {
        allowed = /ERR_FAILED|Failed to load resource/;
        await page.route('**/api/v1/**', (r) => r.abort());
        await nav('Signals').click();
        await page.getByText('The API is not reachable').first().waitFor();
        await page.getByText('Not updating').waitFor();
        await shot('signals-api-down');
        await page.unroute('**/api/v1/**');
        await page.waitForTimeout(2500);      // the list recovers by itself
        await page.locator('table.signals tbody tr').first().waitFor();
        allowed = null;
    });

    await step('narrow window (390x800): no sideways scrolling, pages usable', async () => {
        await page.setViewportSize({ width: 390, height: 800 });
        for (const [hash, name] of [['#/overview', 'overview'], ['#/rules', 'rules'], ['#/signals', 'signals'],
            [`#/traces/${sent.traces.pii_no_audit.trace_id}`, 'trace'], ['#/rules/new', 'rule-editor']]) {
            await page.evaluate((h) => { location.hash = h; }, hash);
            await page.locator('main h1').waitFor();
            await page.waitForTimeout(600);
            const over = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
            assert.ok(over <= 1, `${name}: ${over}px wider than the window`);
            await shot(`narrow-${name}`);
        }
        await page.setViewportSize({ width: 1280, height: 800 });
    });

    await step('no console errors', async () => {
        assert.deepEqual(consoleErrors, []);
    });
} catch {
    // reported by step()
} finally {
    await browser.close();
    rmSync(profile, { recursive: true, force: true });
}
process.stdout.write(`${failed ? 'FAILED' : 'PASSED'}: ${n} steps, screenshots in ${art}\n`);
process.exit(failed ? 1 : 0);
