/*
 * parser.c - BeTraceDSL grammar, one function per rule (JavaScript
 * precedence).  Each function carries its grammar rule.
 */

#include <string.h>

#include "diag.h"
#include "parser.h"


typedef struct {
    const char     *src;
    size_t          len;
    const token_t  *toks;
    uint32_t        ntoks;
    uint32_t        pos;
    uint32_t        depth;
    dsl_arena_t    *arena;
    bt_diags_t     *diags;
    int             failed;
    int             oom;
} parser_t;


static node_t *parse_expr(parser_t *p);


static const token_t *
peek(parser_t *p, uint32_t ahead)
{
    uint32_t  i;

    i = p->pos + ahead;
    return &p->toks[i < p->ntoks ? i : p->ntoks - 1];
}


static const token_t *
next(parser_t *p)
{
    const token_t  *t;

    t = peek(p, 0);
    if (t->t != TK_EOF) {
        p->pos++;
    }
    return t;
}


/* Records the first syntax error only: later ones are usually echoes. */
static node_t *
fail_at(parser_t *p, uint32_t start, uint32_t end, const char *fmt,
    const char *a, uint32_t l, uint32_t c)
{
    if (!p->failed) {
        p->failed = 1;
        bt_diag_add(p->diags, p->src, p->len, BT_DIAG_ERROR, start, end,
                    fmt, a, l, c);
    }
    return NULL;
}


static node_t *
oom(parser_t *p)
{
    p->failed = 1;
    p->oom = 1;
    return NULL;
}


static node_t *
node(parser_t *p, node_kind_t kind, uint32_t start, uint32_t end)
{
    node_t  *n;

    n = ast_node(p->arena, kind, start, end);
    if (n == NULL) {
        return oom(p);
    }
    return n;
}


static int
deeper(parser_t *p)
{
    const token_t  *t;

    if (++p->depth > BT_DSL_MAX_DEPTH) {
        t = peek(p, 0);
        fail_at(p, t->start, t->end,
                "expression nested too deeply (the limit is %s%u levels)",
                "", BT_DSL_MAX_DEPTH, 0);
        return -1;
    }
    return 0;
}


static int
ident_is(const token_t *t, const char *s)
{
    return t->t == TK_IDENT && t->slen == strlen(s)
           && memcmp(t->s, s, t->slen) == 0;
}


/* "expected ')' to close '(' at 1:10" */
static node_t *
expect_close(parser_t *p, tok_type_t want, const token_t *open)
{
    const token_t  *t;
    uint32_t        l, c;

    t = peek(p, 0);
    if (t->t == want) {
        next(p);
        return (node_t *) 1;
    }
    bt_diag_linecol(p->src, p->len, open->start, &l, &c);
    if (!p->failed) {
        p->failed = 1;
        bt_diag_add(p->diags, p->src, p->len, BT_DIAG_ERROR, t->start, t->end,
                    "expected %s to close '%c' at %u:%u", dsl_tok_name(want),
                    open->t == TK_LPAREN ? '(' : '[', l, c);
    }
    return NULL;
}


static node_t *
expected_expression(parser_t *p, const token_t *t)
{
    return fail_at(p, t->start, t->end, "expected an expression, found %s",
                   dsl_tok_name(t->t), 0, 0);
}


/*
 * args -> ( expr ( ',' expr )* )?     (after '(' or '[', up to close)
 */
static int
parse_list(parser_t *p, tok_type_t close, node_t ***out, uint16_t *nout)
{
    node_t    *items[256], **arr;
    uint32_t   n;
    node_t    *e;

    n = 0;
    if (peek(p, 0)->t != close) {
        for ( ;; ) {
            if (n == 256) {
                fail_at(p, peek(p, 0)->start, peek(p, 0)->end,
                        "too many items in a list (the limit is %s%u)",
                        "", 256, 0);
                return -1;
            }
            e = parse_expr(p);
            if (e == NULL) {
                return -1;
            }
            items[n++] = e;
            if (peek(p, 0)->t != TK_COMMA) {
                break;
            }
            next(p);
            if (close == TK_RBRACKET && peek(p, 0)->t == close) {
                break;          /* trailing comma in an array literal */
            }
        }
    }

    arr = NULL;
    if (n) {
        arr = dsl_alloc(p->arena, n * sizeof(node_t *), 0);
        if (arr == NULL) {
            oom(p);
            return -1;
        }
        memcpy(arr, items, n * sizeof(node_t *));
    }
    *out = arr;
    *nout = (uint16_t) n;
    return 0;
}


/*
 * primary -> NUMBER | STRING | REGEX | 'true' | 'false' | 'null'
 *          | 'undefined' | IDENT | '(' expr ')' | '[' args ']'
 */
static node_t *
parse_primary(parser_t *p)
{
    const token_t  *t;
    node_t         *n, *e;

    t = peek(p, 0);

    switch (t->t) {
    case TK_NUMBER:
        next(p);
        n = node(p, N_NUM, t->start, t->end);
        if (n) {
            n->num = t->num;
        }
        return n;

    case TK_STRING:
    case TK_REGEX:
        next(p);
        n = node(p, t->t == TK_STRING ? N_STR : N_REGEX, t->start, t->end);
        if (n) {
            n->s = t->s;
            n->slen = t->slen;
            n->rflags = t->rflags;
        }
        return n;

    case TK_IDENT:
        next(p);
        if (ident_is(t, "true") || ident_is(t, "false")) {
            n = node(p, N_BOOL, t->start, t->end);
            if (n) {
                n->num = ident_is(t, "true");
            }
            return n;
        }
        if (ident_is(t, "null")) {
            return node(p, N_NULL, t->start, t->end);
        }
        if (ident_is(t, "undefined")) {
            return node(p, N_UNDEF, t->start, t->end);
        }
        n = node(p, N_IDENT, t->start, t->end);
        if (n) {
            n->s = t->s;
            n->slen = t->slen;
        }
        return n;

    case TK_LPAREN:
        next(p);
        e = parse_expr(p);
        if (e == NULL || expect_close(p, TK_RPAREN, t) == NULL) {
            return NULL;
        }
        /* keep the parentheses in the range, for carets */
        e->start = t->start;
        e->end = p->toks[p->pos - 1].end;
        return e;

    case TK_LBRACKET:
        next(p);
        n = node(p, N_ARRAY, t->start, t->end);
        if (n == NULL || parse_list(p, TK_RBRACKET, &n->args, &n->nargs)) {
            return NULL;
        }
        if (expect_close(p, TK_RBRACKET, t) == NULL) {
            return NULL;
        }
        n->end = p->toks[p->pos - 1].end;
        return n;

    default:
        return expected_expression(p, t);
    }
}


/*
 * postfix -> primary ( '.' IDENT | '[' expr ']' | '(' args ')' )*
 */
static node_t *
parse_postfix(parser_t *p)
{
    const token_t  *t, *name;
    node_t         *e, *n;
    uint32_t        saved;

    saved = p->depth;
    e = parse_primary(p);

    while (e != NULL) {
        t = peek(p, 0);

        if (t->t == TK_DOT) {
            next(p);
            name = peek(p, 0);
            if (name->t != TK_IDENT) {
                return fail_at(p, name->start, name->end,
                               "expected a name after '.', found %s",
                               dsl_tok_name(name->t), 0, 0);
            }
            next(p);
            n = node(p, N_MEMBER, e->start, name->end);
            if (n == NULL) {
                return NULL;
            }
            n->a = e;
            n->s = name->s;
            n->slen = name->slen;
            n->nstart = name->start;
            n->nend = name->end;

        } else if (t->t == TK_LBRACKET) {
            next(p);
            n = node(p, N_INDEX, e->start, t->end);
            if (n == NULL) {
                return NULL;
            }
            n->a = e;
            n->b = parse_expr(p);
            if (n->b == NULL || expect_close(p, TK_RBRACKET, t) == NULL) {
                return NULL;
            }
            n->end = p->toks[p->pos - 1].end;

        } else if (t->t == TK_LPAREN) {
            next(p);
            n = node(p, N_CALL, e->start, t->end);
            if (n == NULL) {
                return NULL;
            }
            n->a = e;
            if (parse_list(p, TK_RPAREN, &n->args, &n->nargs) != 0
                || expect_close(p, TK_RPAREN, t) == NULL)
            {
                return NULL;
            }
            n->end = p->toks[p->pos - 1].end;

        } else {
            break;
        }

        /* a long chain of calls is a deep tree: count it as nesting */
        if (deeper(p) != 0) {
            return NULL;
        }
        e = n;
    }

    p->depth = saved;
    return e;
}


/*
 * unary -> ( '!' | '-' ) unary | postfix
 */
static node_t *
parse_unary(parser_t *p)
{
    const token_t  *t;
    node_t         *n;

    t = peek(p, 0);
    if (t->t != TK_NOT && t->t != TK_MINUS) {
        return parse_postfix(p);
    }

    next(p);
    if (deeper(p) != 0) {
        return NULL;
    }
    n = node(p, t->t == TK_NOT ? N_NOT : N_NEG, t->start, t->end);
    if (n == NULL) {
        return NULL;
    }
    n->a = parse_unary(p);
    p->depth--;
    if (n->a == NULL) {
        return NULL;
    }
    n->end = n->a->end;
    return n;
}


typedef struct {
    tok_type_t  tok;
    int         kind;
    int         op;
} binop_t;

static const binop_t  term_ops[] = {
    { TK_STAR, N_BIN, OPB_MUL }, { TK_SLASH, N_BIN, OPB_DIV },
    { TK_PERCENT, N_BIN, OPB_MOD }, { TK_EOF, 0, 0 }
};
static const binop_t  additive_ops[] = {
    { TK_PLUS, N_BIN, OPB_ADD }, { TK_MINUS, N_BIN, OPB_SUB },
    { TK_EOF, 0, 0 }
};
static const binop_t  relation_ops[] = {
    { TK_LT, N_BIN, OPB_LT }, { TK_LE, N_BIN, OPB_LE },
    { TK_GT, N_BIN, OPB_GT }, { TK_GE, N_BIN, OPB_GE }, { TK_EOF, 0, 0 }
};
static const binop_t  equality_ops[] = {
    { TK_SEQ, N_BIN, OPB_SEQ }, { TK_SNE, N_BIN, OPB_SNE },
    { TK_EQ, N_BIN, OPB_EQ }, { TK_NE, N_BIN, OPB_NE }, { TK_EOF, 0, 0 }
};
static const binop_t  and_ops[] = {
    { TK_AND, N_AND, 0 }, { TK_EOF, 0, 0 }
};
static const binop_t  or_ops[] = {
    { TK_OR, N_OR, 0 }, { TK_EOF, 0, 0 }
};


/*
 * One left-associative level:  level -> sub ( OP sub )*
 * Each extra operand makes the tree one level deeper, so it counts.
 */
static node_t *
parse_level(parser_t *p, const binop_t *ops, node_t *(*sub)(parser_t *))
{
    const token_t  *t;
    const binop_t  *o;
    node_t         *l, *n;
    uint32_t        saved;

    saved = p->depth;
    l = sub(p);

    while (l != NULL) {
        t = peek(p, 0);
        for (o = ops; o->tok != TK_EOF && o->tok != t->t; o++) { /* void */ }
        if (o->tok == TK_EOF) {
            break;
        }
        next(p);
        if (deeper(p) != 0) {
            return NULL;
        }
        n = node(p, (node_kind_t) o->kind, l->start, t->end);
        if (n == NULL) {
            return NULL;
        }
        n->op = (uint8_t) o->op;
        n->nstart = t->start;       /* the operator, for carets */
        n->nend = t->end;
        n->a = l;
        n->b = sub(p);
        if (n->b == NULL) {
            return NULL;
        }
        n->end = n->b->end;
        l = n;
    }

    p->depth = saved;
    return l;
}


/* term -> unary ( ( '*' | '/' | '%' ) unary )* */
static node_t *
parse_term(parser_t *p)
{
    return parse_level(p, term_ops, parse_unary);
}


/* additive -> term ( ( '+' | '-' ) term )* */
static node_t *
parse_additive(parser_t *p)
{
    return parse_level(p, additive_ops, parse_term);
}


/* relation -> additive ( ( '<' | '<=' | '>' | '>=' ) additive )* */
static node_t *
parse_relation(parser_t *p)
{
    return parse_level(p, relation_ops, parse_additive);
}


/* equality -> relation ( ( '===' | '!==' | '==' | '!=' ) relation )* */
static node_t *
parse_equality(parser_t *p)
{
    return parse_level(p, equality_ops, parse_relation);
}


/* and -> equality ( '&&' equality )* */
static node_t *
parse_and(parser_t *p)
{
    return parse_level(p, and_ops, parse_equality);
}


/* or -> and ( '||' and )* */
static node_t *
parse_or(parser_t *p)
{
    return parse_level(p, or_ops, parse_and);
}


/*
 * expr   -> lambda | or
 * lambda -> ( IDENT | '(' IDENT ')' ) '=>' expr
 */
static node_t *
parse_expr(parser_t *p)
{
    const token_t  *t, *param;
    node_t         *n;
    uint32_t        skip;

    if (deeper(p) != 0) {
        return NULL;
    }

    t = peek(p, 0);
    param = NULL;
    skip = 0;
    if (t->t == TK_IDENT && peek(p, 1)->t == TK_ARROW) {
        param = t;
        skip = 2;
    } else if (t->t == TK_LPAREN && peek(p, 1)->t == TK_IDENT
               && peek(p, 2)->t == TK_RPAREN && peek(p, 3)->t == TK_ARROW)
    {
        param = peek(p, 1);
        skip = 4;
    } else if (t->t == TK_LPAREN && peek(p, 1)->t == TK_IDENT
               && peek(p, 2)->t == TK_COMMA)
    {
        /* (a, b) => ... is the only way a '(' name ',' can start */
        return fail_at(p, peek(p, 2)->start, peek(p, 2)->end,
                       "a lambda takes exactly one parameter%s", "", 0, 0);
    }

    if (param != NULL) {
        p->pos += skip;
        n = node(p, N_LAMBDA, t->start, t->end);
        if (n == NULL) {
            return NULL;
        }
        n->s = param->s;
        n->slen = param->slen;
        n->nstart = param->start;
        n->nend = param->end;
        n->a = parse_expr(p);
        if (n->a == NULL) {
            return NULL;
        }
        n->end = n->a->end;
    } else {
        n = parse_or(p);
    }

    p->depth--;
    return n;
}


node_t *
dsl_parse(const char *src, size_t len, const token_t *toks, uint32_t ntoks,
    dsl_arena_t *arena, bt_diags_t *diags, int *oomp)
{
    parser_t        p;
    node_t         *root;
    const token_t  *t;

    memset(&p, 0, sizeof(p));
    p.src = src;
    p.len = len;
    p.toks = toks;
    p.ntoks = ntoks;
    p.arena = arena;
    p.diags = diags;

    /* rule -> expr EOF */
    t = peek(&p, 0);
    if (t->t == TK_EOF) {
        fail_at(&p, 0, (uint32_t) len, "empty rule: expected an expression%s",
                "", 0, 0);
        return NULL;
    }

    root = parse_expr(&p);
    if (root != NULL) {
        t = peek(&p, 0);
        if (t->t != TK_EOF) {
            root = fail_at(&p, t->start, t->end,
                           "unexpected %s after the end of the rule",
                           dsl_tok_name(t->t), 0, 0);
        }
    }

    *oomp = p.oom;
    return root;
}
