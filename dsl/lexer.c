/*
 * lexer.c - BeTraceDSL tokens: JavaScript-like punctuation, strings with
 * escapes, numbers, regex literals, // and block comments.
 */

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "lexer.h"


typedef struct {
    const char   *src;
    size_t        len;
    uint32_t      pos;
    dsl_arena_t  *arena;
    bt_diags_t   *diags;
    token_t      *toks;
    uint32_t      n;
    uint32_t      cap;
} lexer_t;


const char *
dsl_tok_name(tok_type_t t)
{
    static const char  *names[] = {
        "end of rule", "name", "number", "string", "regular expression",
        "'('", "')'", "'['", "']'", "'{'", "'}'", "'.'", "','", "'=>'",
        "'!'", "'&&'", "'||'", "'==='", "'!=='", "'=='", "'!='",
        "'<'", "'<='", "'>'", "'>='", "'+'", "'-'", "'*'", "'/'", "'%'"
    };

    return names[t];
}


static int
err(lexer_t *lx, uint32_t start, uint32_t end, const char *msg, int c)
{
    if (c >= 0x20 && c < 0x7f) {
        bt_diag_add(lx->diags, lx->src, lx->len, BT_DIAG_ERROR, start, end,
                    msg, c);
    } else {
        bt_diag_add(lx->diags, lx->src, lx->len, BT_DIAG_ERROR, start, end,
                    msg, '?');
    }
    return -1;
}


static token_t *
push(lexer_t *lx, tok_type_t t, uint32_t start, uint32_t end)
{
    token_t   *nt;
    uint32_t   cap;

    if (lx->n == lx->cap) {
        cap = lx->cap ? lx->cap * 2 : 64;
        nt = dsl_alloc(lx->arena, cap * sizeof(token_t), 0);
        if (nt == NULL) {
            return NULL;
        }
        if (lx->n) {
            memcpy(nt, lx->toks, lx->n * sizeof(token_t));
        }
        lx->toks = nt;
        lx->cap = cap;
    }

    nt = &lx->toks[lx->n++];
    memset(nt, 0, sizeof(*nt));
    nt->t = t;
    nt->start = start;
    nt->end = end;
    return nt;
}


/* An operand just ended, so '/' is division, not a regex. */
static int
after_operand(lexer_t *lx)
{
    tok_type_t  t;

    if (lx->n == 0) {
        return 0;
    }
    t = lx->toks[lx->n - 1].t;
    return t == TK_IDENT || t == TK_NUMBER || t == TK_STRING
           || t == TK_REGEX || t == TK_RPAREN || t == TK_RBRACKET
           || t == TK_RBRACE;
}


static int
hexval(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}


static size_t
utf8_put(char *p, uint32_t cp)
{
    if (cp < 0x80) {
        p[0] = (char) cp;
        return 1;
    }
    if (cp < 0x800) {
        p[0] = (char) (0xc0 | (cp >> 6));
        p[1] = (char) (0x80 | (cp & 0x3f));
        return 2;
    }
    p[0] = (char) (0xe0 | (cp >> 12));
    p[1] = (char) (0x80 | ((cp >> 6) & 0x3f));
    p[2] = (char) (0x80 | (cp & 0x3f));
    return 3;
}


/* string -> quote ( char | '\' escape )* quote */
static int
lex_string(lexer_t *lx)
{
    uint32_t   start, i;
    char       q, c, *out;
    size_t     k;
    token_t   *t;
    int        h, j;
    uint32_t   cp;

    start = lx->pos;
    q = lx->src[lx->pos++];
    /* decoded text is never longer than the source */
    out = dsl_alloc(lx->arena, lx->len - start + 1, 0);
    if (out == NULL) {
        return -2;
    }
    k = 0;

    for ( ;; ) {
        if (lx->pos >= lx->len || lx->src[lx->pos] == '\n') {
            return err(lx, start, lx->pos, "unterminated string", 0);
        }
        c = lx->src[lx->pos];
        if (c == q) {
            lx->pos++;
            break;
        }
        if (c != '\\') {
            out[k++] = c;
            lx->pos++;
            continue;
        }

        i = lx->pos;
        if (i + 1 >= lx->len) {
            return err(lx, start, lx->pos, "unterminated string", 0);
        }
        c = lx->src[i + 1];
        lx->pos += 2;
        switch (c) {
        case '\\': out[k++] = '\\'; break;
        case '\'': out[k++] = '\''; break;
        case '"':  out[k++] = '"'; break;
        case 'n':  out[k++] = '\n'; break;
        case 't':  out[k++] = '\t'; break;
        case 'u':
            cp = 0;
            for (j = 0; j < 4; j++) {
                h = i + 2 + j < lx->len ? hexval(lx->src[i + 2 + j]) : -1;
                if (h < 0) {
                    return err(lx, i, i + 2 + j,
                               "invalid escape: \\u needs 4 hex digits", 0);
                }
                cp = cp * 16 + (uint32_t) h;
            }
            lx->pos += 4;
            /* \uXXXX is 6 source bytes, its UTF-8 at most 3: fits */
            k += utf8_put(out + k, cp);
            break;
        default:
            return err(lx, i, i + 2, "invalid escape '\\%c' in string",
                       (unsigned char) c);
        }
    }

    out[k] = '\0';
    t = push(lx, TK_STRING, start, lx->pos);
    if (t == NULL) {
        return -2;
    }
    t->s = out;
    t->slen = (uint32_t) k;
    return 0;
}


/* regex -> '/' ( char | '\' char | '[' ... ']' )+ '/' flags */
static int
lex_regex(lexer_t *lx)
{
    uint32_t   start, body;
    int        in_class;
    char       c;
    token_t   *t;
    uint32_t   flags;

    start = lx->pos++;
    body = lx->pos;
    in_class = 0;

    for ( ;; ) {
        if (lx->pos >= lx->len || lx->src[lx->pos] == '\n') {
            return err(lx, start, lx->pos,
                       "unterminated regular expression", 0);
        }
        c = lx->src[lx->pos];
        if (c == '\\') {
            lx->pos += 2;
            continue;
        }
        if (c == '[') {
            in_class = 1;
        } else if (c == ']') {
            in_class = 0;
        } else if (c == '/' && !in_class) {
            break;
        }
        lx->pos++;
    }

    t = push(lx, TK_REGEX, start, 0);
    if (t == NULL) {
        return -2;
    }
    t->s = dsl_strndup(lx->arena, lx->src + body, lx->pos - body);
    if (t->s == NULL) {
        return -2;
    }
    t->slen = lx->pos - body;
    lx->pos++;

    flags = 0;
    while (lx->pos < lx->len
           && ((lx->src[lx->pos] >= 'a' && lx->src[lx->pos] <= 'z')
               || (lx->src[lx->pos] >= 'A' && lx->src[lx->pos] <= 'Z')))
    {
        c = lx->src[lx->pos];
        if (c == 'i') {
            flags |= PCRE2_CASELESS;
        } else if (c == 'm') {
            flags |= PCRE2_MULTILINE;
        } else if (c == 's') {
            flags |= PCRE2_DOTALL;
        } else {
            return err(lx, lx->pos, lx->pos + 1,
                       "unknown regular expression flag '%c' "
                       "(flags are i, m, s)", (unsigned char) c);
        }
        lx->pos++;
    }
    t = &lx->toks[lx->n - 1];
    t->end = lx->pos;
    t->rflags = flags;
    return 0;
}


static int
is_id_start(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'
           || c == '$';
}


static int
is_digit(int c)
{
    return c >= '0' && c <= '9';
}


static int
lex_number(lexer_t *lx)
{
    uint32_t   start;
    char      *tmp, *endp;
    token_t   *t;

    start = lx->pos;
    while (lx->pos < lx->len && is_digit(lx->src[lx->pos])) {
        lx->pos++;
    }
    if (lx->pos < lx->len && lx->src[lx->pos] == '.'
        && lx->pos + 1 < lx->len && is_digit(lx->src[lx->pos + 1]))
    {
        lx->pos++;
        while (lx->pos < lx->len && is_digit(lx->src[lx->pos])) {
            lx->pos++;
        }
    }
    if (lx->pos < lx->len
        && (lx->src[lx->pos] == 'e' || lx->src[lx->pos] == 'E'))
    {
        lx->pos++;
        if (lx->pos < lx->len
            && (lx->src[lx->pos] == '+' || lx->src[lx->pos] == '-'))
        {
            lx->pos++;
        }
        if (lx->pos >= lx->len || !is_digit(lx->src[lx->pos])) {
            return err(lx, start, lx->pos,
                       "invalid number: exponent has no digits", 0);
        }
        while (lx->pos < lx->len && is_digit(lx->src[lx->pos])) {
            lx->pos++;
        }
    }
    if (lx->pos < lx->len && is_id_start(lx->src[lx->pos])) {
        return err(lx, start, lx->pos + 1,
                   "invalid number: unexpected '%c' after digits",
                   (unsigned char) lx->src[lx->pos]);
    }

    t = push(lx, TK_NUMBER, start, lx->pos);
    if (t == NULL) {
        return -2;
    }
    tmp = dsl_strndup(lx->arena, lx->src + start, lx->pos - start);
    if (tmp == NULL) {
        return -2;
    }
    t->num = strtod(tmp, &endp);
    return 0;
}


int
dsl_lex(const char *src, size_t len, dsl_arena_t *arena, bt_diags_t *diags,
    token_t **toks, uint32_t *ntoks)
{
    lexer_t     lx;
    uint32_t    start;
    char        c, d, e;
    tok_type_t  t;
    token_t    *tk;
    int         rc, w;

    memset(&lx, 0, sizeof(lx));
    lx.src = src;
    lx.len = len;
    lx.arena = arena;
    lx.diags = diags;

    while (lx.pos < len) {
        c = src[lx.pos];
        d = lx.pos + 1 < len ? src[lx.pos + 1] : '\0';
        e = lx.pos + 2 < len ? src[lx.pos + 2] : '\0';
        start = lx.pos;

        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
            lx.pos++;
            continue;
        }
        if (c == '/' && d == '/') {
            while (lx.pos < len && src[lx.pos] != '\n') {
                lx.pos++;
            }
            continue;
        }
        if (c == '/' && d == '*') {
            lx.pos += 2;
            while (lx.pos + 1 < len
                   && !(src[lx.pos] == '*' && src[lx.pos + 1] == '/'))
            {
                lx.pos++;
            }
            if (lx.pos + 1 >= len) {
                return err(&lx, start, start + 2, "unterminated comment", 0);
            }
            lx.pos += 2;
            continue;
        }

        if (c == '\'' || c == '"') {
            rc = lex_string(&lx);
            if (rc != 0) {
                return rc;
            }
            continue;
        }
        if (c == '/' && !after_operand(&lx)) {
            rc = lex_regex(&lx);
            if (rc != 0) {
                return rc;
            }
            continue;
        }
        if (is_digit(c) || (c == '.' && is_digit(d))) {
            rc = lex_number(&lx);
            if (rc != 0) {
                return rc;
            }
            continue;
        }
        if (is_id_start(c)) {
            while (lx.pos < len
                   && (is_id_start(src[lx.pos]) || is_digit(src[lx.pos])))
            {
                lx.pos++;
            }
            tk = push(&lx, TK_IDENT, start, lx.pos);
            if (tk == NULL) {
                return -2;
            }
            tk->s = src + start;
            tk->slen = lx.pos - start;
            continue;
        }

        w = 1;
        switch (c) {
        case '(': t = TK_LPAREN; break;
        case ')': t = TK_RPAREN; break;
        case '[': t = TK_LBRACKET; break;
        case ']': t = TK_RBRACKET; break;
        case '{': t = TK_LBRACE; break;
        case '}': t = TK_RBRACE; break;
        case '.': t = TK_DOT; break;
        case ',': t = TK_COMMA; break;
        case '+': t = TK_PLUS; break;
        case '-': t = TK_MINUS; break;
        case '*': t = TK_STAR; break;
        case '/': t = TK_SLASH; break;
        case '%': t = TK_PERCENT; break;
        case '&':
            if (d != '&') {
                return err(&lx, start, start + 1,
                           "unexpected '&'; did you mean '&&'?", 0);
            }
            t = TK_AND;
            w = 2;
            break;
        case '|':
            if (d != '|') {
                return err(&lx, start, start + 1,
                           "unexpected '|'; did you mean '||'?", 0);
            }
            t = TK_OR;
            w = 2;
            break;
        case '=':
            if (d == '>') {
                t = TK_ARROW;
                w = 2;
            } else if (d == '=' && e == '=') {
                t = TK_SEQ;
                w = 3;
            } else if (d == '=') {
                t = TK_EQ;
                w = 2;
            } else {
                return err(&lx, start, start + 1,
                           "unexpected '='; use '===' to compare", 0);
            }
            break;
        case '!':
            if (d == '=' && e == '=') {
                t = TK_SNE;
                w = 3;
            } else if (d == '=') {
                t = TK_NE;
                w = 2;
            } else {
                t = TK_NOT;
            }
            break;
        case '<':
            t = d == '=' ? TK_LE : TK_LT;
            w = d == '=' ? 2 : 1;
            break;
        case '>':
            t = d == '=' ? TK_GE : TK_GT;
            w = d == '=' ? 2 : 1;
            break;
        default:
            return err(&lx, start, start + 1, "unexpected character '%c'",
                       (unsigned char) c);
        }

        lx.pos += w;
        if (push(&lx, t, start, lx.pos) == NULL) {
            return -2;
        }
    }

    if (push(&lx, TK_EOF, (uint32_t) len, (uint32_t) len) == NULL) {
        return -2;
    }
    *toks = lx.toks;
    *ntoks = lx.n;
    return 0;
}
