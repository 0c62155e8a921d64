/*
 * ast.c - the arena and node helpers.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ast.h"

/* small: a compiled rule keeps its arena, and there may be thousands */
#define DSL_BLOCK_MIN  (4 * 1024)

struct dsl_block_s {
    dsl_block_t  *next;
    size_t        size;
    size_t        used;
    /* data follows, 16-aligned */
};

#define BLOCK_DATA(b)  ((char *) (b) + ((sizeof(dsl_block_t) + 15) & ~15))


void
dsl_arena_init(dsl_arena_t *a)
{
    a->head = NULL;
    a->first = NULL;
}


void *
dsl_alloc(dsl_arena_t *a, size_t n, int zero)
{
    dsl_block_t  *b, *last;
    size_t        size;
    void         *p;

    n = (n + 7) & ~(size_t) 7;

    /* walk forward through kept blocks (after a reset) before mallocing */
    last = NULL;
    b = a->head;
    while (b != NULL && b->size - b->used < n) {
        last = b;
        b = b->next;
        if (b != NULL) {
            b->used = 0;
        }
    }

    if (b == NULL) {
        size = n > DSL_BLOCK_MIN ? n : DSL_BLOCK_MIN;
        b = malloc(((sizeof(dsl_block_t) + 15) & ~15) + size);
        if (b == NULL) {
            return NULL;
        }
        b->size = size;
        b->used = 0;
        b->next = NULL;
        if (last != NULL) {
            b->next = last->next;
            last->next = b;
        } else {
            a->first = b;
        }
    }

    a->head = b;
    p = BLOCK_DATA(b) + b->used;
    b->used += n;
    if (zero) {
        memset(p, 0, n);
    }
    return p;
}


char *
dsl_strndup(dsl_arena_t *a, const char *s, size_t n)
{
    char  *p;

    p = dsl_alloc(a, n + 1, 0);
    if (p == NULL) {
        return NULL;
    }
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}


void
dsl_arena_reset(dsl_arena_t *a)
{
    a->head = a->first;
    if (a->head != NULL) {
        a->head->used = 0;
    }
}


dsl_mark_t
dsl_arena_mark(dsl_arena_t *a)
{
    dsl_mark_t  m;

    m.block = a->head;
    m.used = a->head ? a->head->used : 0;
    return m;
}


void
dsl_arena_release(dsl_arena_t *a, dsl_mark_t m)
{
    if (m.block == NULL) {
        dsl_arena_reset(a);
        return;
    }
    a->head = m.block;
    a->head->used = m.used;
}


void
dsl_arena_free(dsl_arena_t *a)
{
    dsl_block_t  *b, *next;

    for (b = a->first; b != NULL; b = next) {
        next = b->next;
        free(b);
    }
    a->head = NULL;
    a->first = NULL;
}


node_t *
ast_node(dsl_arena_t *a, node_kind_t kind, uint32_t start, uint32_t end)
{
    node_t  *n;

    n = dsl_alloc(a, sizeof(node_t), 1);
    if (n == NULL) {
        return NULL;
    }
    n->kind = (uint8_t) kind;
    n->start = start;
    n->end = end;
    n->slot = -1;
    n->id = -1;
    return n;
}


typedef struct {
    char    *buf;
    size_t   cap;
    size_t   len;
} canon_t;


static void
put(canon_t *c, const char *s, size_t n)
{
    size_t  k;

    if (c->len < c->cap) {
        k = c->cap - c->len - 1 < n ? c->cap - c->len - 1 : n;
        memcpy(c->buf + c->len, s, k);
        c->buf[c->len + k] = '\0';
    }
    c->len += n;
}


static void
putf(canon_t *c, const char *fmt, double d, int64_t i)
{
    char  tmp[64];
    int   n;

    n = snprintf(tmp, sizeof(tmp), fmt, d, i);
    put(c, tmp, (size_t) n);
}


static void
canon(canon_t *c, const node_t *n)
{
    uint32_t  i;

    if (n == NULL) {
        put(c, "_", 1);
        return;
    }

    /* kind, operation and op select the meaning; texts carry lengths */
    putf(c, "(%.0f", (double) n->kind, 0);
    putf(c, ":%.0f", (double) n->opc, 0);
    putf(c, ":%.0f", (double) n->op, 0);

    switch (n->kind) {
    case N_NUM:
        putf(c, ":%.17g", n->num, 0);
        break;
    case N_BOOL:
        putf(c, ":%.0f", n->num, 0);
        break;
    case N_STR:
    case N_REGEX:
    case N_MEMBER:
        putf(c, ":%.0f:", (double) n->slen, 0);
        put(c, n->s, n->slen);
        if (n->kind == N_REGEX) {
            putf(c, ":%.0f", (double) n->rflags, 0);
        }
        break;
    case N_IDENT:
    case N_LAMBDA:
        /* parameters by slot: the name does not matter */
        putf(c, ":s%.0f", (double) n->slot, 0);
        break;
    default:
        break;
    }

    if (n->a) {
        canon(c, n->a);
    }
    if (n->b) {
        canon(c, n->b);
    }
    for (i = 0; i < n->nargs; i++) {
        canon(c, n->args[i]);
    }
    put(c, ")", 1);
}


size_t
ast_canon(const node_t *n, char *buf, size_t cap)
{
    canon_t  c;

    c.buf = buf;
    c.cap = cap;
    c.len = 0;
    if (cap > 0) {
        buf[0] = '\0';
    }
    canon(&c, n);
    return c.len;
}
