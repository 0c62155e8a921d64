// api.js - the one way the pages talk to the server: /api/v1 on the UI's
// own origin, with the API key of this browser session as a Bearer token.
// Every failure becomes an ApiError whose message is fit to show a user.

const KEY = 'betrace.apiKey';

export function getKey() {
    try {
        return sessionStorage.getItem(KEY) || '';
    } catch {
        return '';
    }
}

export function setKey(k) {
    if (k) sessionStorage.setItem(KEY, k);
    else sessionStorage.removeItem(KEY);
}

export class ApiError extends Error {
    constructor(kind, status, message, body) {
        super(message);
        this.kind = kind;         // no_key, unauthorized, forbidden, down, http
        this.status = status;
        this.body = body;
        this.code = body && body.error ? body.error.code : null;
    }
}

// api('GET', '/rules', {query, body, accept: [503]}) -> parsed JSON (or null
// for 204).  `accept` lists non-2xx statuses whose JSON body is an answer
// (health says 503 when a part is down).
export async function api(method, path, opts = {}) {
    const key = getKey();
    if (!key) {
        throw new ApiError('no_key', 0, 'Enter your API key in Settings');
    }
    let url = '/api/v1' + path;
    if (opts.query) {
        const q = new URLSearchParams();
        for (const [k, v] of Object.entries(opts.query)) {
            if (v !== '' && v !== null && v !== undefined) q.set(k, v);
        }
        const s = q.toString();
        if (s) url += '?' + s;
    }
    const init = { method, headers: { Authorization: `Bearer ${key}`, Accept: 'application/json' } };
    if (opts.body !== undefined) {
        init.headers['Content-Type'] = 'application/json';
        init.body = JSON.stringify(opts.body);
    }
    if (opts.signal) init.signal = opts.signal;
    let r;
    try {
        r = await fetch(url, init);
    } catch (e) {
        if (e.name === 'AbortError') throw e;
        throw new ApiError('down', 0, 'The API is not reachable: the server did not answer. Is BeTrace running?');
    }
    let body = null;
    const text = await r.text();
    if (text) {
        try {
            body = JSON.parse(text);
        } catch {
            body = null;
        }
    }
    if (r.ok || (opts.accept && opts.accept.includes(r.status) && body)) return body;
    const msg = body && body.error ? body.error.message : '';
    if (r.status === 401) {
        throw new ApiError('unauthorized', 401, 'The API key was refused (401). Check it in Settings.', body);
    }
    if (r.status === 403) {
        throw new ApiError('forbidden', 403, `This API key may not do that (403): ${msg || 'it needs the write role'}`, body);
    }
    if (!body || r.status === 502 || r.status === 504) {
        throw new ApiError('down', r.status, `The API is not reachable (HTTP ${r.status}). Is BeTrace running?`, body);
    }
    if (r.status === 503) {
        throw new ApiError('down', 503, `The API is unavailable (503): ${msg}`, body);
    }
    throw new ApiError('http', r.status, `${msg || 'Request failed'} (${r.status})`, body);
}
