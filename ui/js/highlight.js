// highlight.js - BeTraceDSL syntax highlighting for the rule editor: a
// small tokenizer (comments, strings, regex literals, numbers, keywords,
// trace methods, span fields, operators) whose tokens are merged with the
// checker's diagnostics so errors and warnings are underlined in place.

const TRACE_WORDS = new Set(['trace', 'span']);
const METHODS = new Set(['has', 'missing', 'count', 'sequence', 'where', 'within', 'and', 'or', 'not',
    'startsWith', 'endsWith', 'includes', 'toLowerCase', 'toUpperCase', 'matches', 'test', 'some', 'every']);
const FIELDS = new Set(['name', 'status', 'statusMessage', 'kind', 'duration', 'startTime', 'endTime',
    'traceId', 'spanId', 'parentSpanId', 'service', 'isRoot', 'attributes', 'resource', 'scope', 'events',
    'links', 'parent', 'children', 'length', 'spanCount', 'rootName', 'rootService', 'services']);
const LITERALS = new Set(['true', 'false', 'null', 'undefined']);

// [start, end, class] over text (UTF-16 indices), in order, covering only
// the highlighted parts.
export function tokenize(text) {
    const out = [];
    let i = 0;
    let prevSignificant = '';          // for telling a regex from a division
    const n = text.length;
    while (i < n) {
        const c = text[i];
        const start = i;
        if (c === '/' && text[i + 1] === '/') {
            while (i < n && text[i] !== '\n') i++;
            out.push([start, i, 'tk-comment']);
            continue;
        }
        if (c === "'" || c === '"') {
            i++;
            while (i < n && text[i] !== c && text[i] !== '\n') i += text[i] === '\\' ? 2 : 1;
            if (i < n && text[i] === c) i++;
            out.push([start, Math.min(i, n), 'tk-string']);
            prevSignificant = 'v';
            continue;
        }
        if (c === '/' && !/[\w)\]]/.test(prevSignificant)) {
            i++;
            while (i < n && text[i] !== '/' && text[i] !== '\n') i += text[i] === '\\' ? 2 : 1;
            if (i < n && text[i] === '/') i++;
            while (i < n && /[a-z]/.test(text[i])) i++;
            out.push([start, Math.min(i, n), 'tk-regex']);
            prevSignificant = 'v';
            continue;
        }
        if (/[0-9]/.test(c)) {
            while (i < n && /[0-9._eE]/.test(text[i])) i++;
            out.push([start, i, 'tk-number']);
            prevSignificant = 'v';
            continue;
        }
        if (/[A-Za-z_$]/.test(c)) {
            while (i < n && /[\w$]/.test(text[i])) i++;
            const w = text.slice(start, i);
            const afterDot = text[start - 1] === '.';
            let cls = null;
            if (!afterDot && TRACE_WORDS.has(w)) cls = 'tk-trace';
            else if (!afterDot && LITERALS.has(w)) cls = 'tk-literal';
            else if (afterDot && METHODS.has(w) && text[i] === '(') cls = 'tk-method';
            else if (afterDot && FIELDS.has(w)) cls = 'tk-field';
            else if (!afterDot && text.slice(i).match(/^\s*=>/)) cls = 'tk-param';
            if (cls) out.push([start, i, cls]);
            prevSignificant = 'v';
            continue;
        }
        if (/\s/.test(c)) {
            i++;
            continue;
        }
        const op = text.slice(i).match(/^(===|!==|==|!=|<=|>=|=>|&&|\|\||[<>!+\-*%=])/);
        if (op) {
            i += op[0].length;
            out.push([start, i, op[0] === '=>' ? 'tk-arrow' : 'tk-op']);
            prevSignificant = 'o';
            continue;
        }
        prevSignificant = c;
        i++;
    }
    return out;
}

// UTF-8 byte offset -> UTF-16 index into text (the checker counts bytes).
export function byteToIndex(text, byteOff) {
    let bytes = 0;
    let i = 0;
    while (i < text.length && bytes < byteOff) {
        const cp = text.codePointAt(i);
        bytes += cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
        i += cp >= 0x10000 ? 2 : 1;
    }
    return i;
}

// Fills pre with spans: token classes plus diag-error / diag-warning marks
// for each diagnostic ({offset, end_offset, severity}).
export function paint(pre, text, diags) {
    const toks = tokenize(text);
    const marks = [];
    for (const d of diags || []) {
        let s = byteToIndex(text, d.offset ?? 0);
        let e = byteToIndex(text, d.end_offset ?? d.offset ?? 0);
        if (e <= s) e = s + 1;            // a point: mark one character
        marks.push([s, e, d.severity === 'warning' ? 'diag-warning' : 'diag-error']);
    }
    const cuts = new Set([0, text.length]);
    for (const [s, e] of toks) { cuts.add(s); cuts.add(e); }
    for (const [s, e] of marks) { cuts.add(Math.min(s, text.length)); cuts.add(Math.min(e, text.length)); }
    const points = [...cuts].sort((a, b) => a - b);
    const frag = document.createDocumentFragment();
    for (let k = 0; k + 1 < points.length; k++) {
        const a = points[k], b = points[k + 1];
        if (a >= b) continue;
        const classes = [];
        const t = toks.find(([s, e]) => s <= a && b <= e);
        if (t) classes.push(t[2]);
        for (const [s, e, c] of marks) if (s <= a && b <= e && !classes.includes(c)) classes.push(c);
        const piece = text.slice(a, b);
        if (classes.length) {
            const span = document.createElement('span');
            span.className = classes.join(' ');
            span.textContent = piece;
            frag.append(span);
        } else {
            frag.append(piece);
        }
    }
    // A mark past the end (an error at end of input) gets a visible cell.
    for (const [s, , c] of marks) {
        if (s >= text.length) {
            const span = document.createElement('span');
            span.className = c + ' eof';
            span.textContent = ' ';
            frag.append(span);
            break;
        }
    }
    // The trailing newline keeps the last line's height equal to the textarea's.
    frag.append('\n');
    pre.replaceChildren(frag);
}
