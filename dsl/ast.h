/*
 * ast.h - internal: the syntax tree, and the arena it lives in.
 *
 * Every node keeps the byte range [start, end) of its source text, so the
 * checker can point at it.  The checker annotates nodes in place (static
 * type, resolved operation, slots); the evaluator walks the annotated tree.
 * A separate IR would buy nothing here: rules are small and the hot path is
 * the per-span predicate, which is this tree either way.
 */

#ifndef BT_DSL_AST_H
#define BT_DSL_AST_H

#include <stddef.h>
#include <stdint.h>

/* --- arena: many small allocations freed at once ------------------------ */

typedef struct dsl_block_s  dsl_block_t;

typedef struct {
    dsl_block_t  *head;         /* current block */
    dsl_block_t  *first;
} dsl_arena_t;

typedef struct {
    dsl_block_t  *block;
    size_t        used;
} dsl_mark_t;

void dsl_arena_init(dsl_arena_t *a);

/*
 * Returns n bytes (8-aligned, zeroed when zero is set) or NULL when out of
 * memory.  Blocks are kept on reset, so a reused arena stops allocating.
 */
void *dsl_alloc(dsl_arena_t *a, size_t n, int zero);
char *dsl_strndup(dsl_arena_t *a, const char *s, size_t n);

/* Rewinds to the start (reset) or to a mark; keeps the memory. */
void dsl_arena_reset(dsl_arena_t *a);
dsl_mark_t dsl_arena_mark(dsl_arena_t *a);
void dsl_arena_release(dsl_arena_t *a, dsl_mark_t m);
void dsl_arena_free(dsl_arena_t *a);

/* --- nodes ------------------------------------------------------------------ */

typedef enum {
    N_NUM, N_STR, N_BOOL, N_NULL, N_UNDEF, N_REGEX,
    N_IDENT,        /* s: name */
    N_MEMBER,       /* a.s  (name range nstart..nend) */
    N_INDEX,        /* a[b] */
    N_CALL,         /* a(args); a is the callee, a MEMBER */
    N_LAMBDA,       /* s: param, a: body */
    N_ARRAY,        /* [args] */
    N_NOT,          /* !a */
    N_NEG,          /* -a */
    N_BIN,          /* a op b: comparisons and arithmetic */
    N_AND,          /* a && b */
    N_OR            /* a || b */
} node_kind_t;

/* binary operators (N_BIN.op) */
enum {
    OPB_SEQ, OPB_SNE, OPB_EQ, OPB_NE, OPB_LT, OPB_LE, OPB_GT, OPB_GE,
    OPB_ADD, OPB_SUB, OPB_MUL, OPB_DIV, OPB_MOD
};

typedef struct node_s  node_t;

struct node_s {
    uint8_t       kind;         /* node_kind_t */
    uint8_t       op;           /* OPB_* for N_BIN */
    uint8_t       ty;           /* static type, set by the checker */
    uint8_t       flags;        /* NF_* */
    uint16_t      opc;          /* resolved operation, set by the checker */
    uint16_t      nargs;
    uint32_t      start;        /* byte range of the whole node */
    uint32_t      end;
    uint32_t      nstart;       /* MEMBER: range of the name */
    uint32_t      nend;
    node_t       *a;
    node_t       *b;
    node_t      **args;         /* CALL arguments, ARRAY elements */
    const char   *s;            /* STR/REGEX/IDENT/MEMBER/LAMBDA text */
    uint32_t      slen;
    uint32_t      rflags;       /* REGEX flags (PCRE2 options) */
    double        num;          /* NUM; BOOL in num != 0 */
    int32_t       slot;         /* lambda/param slot; clause/scope id */
    int32_t       id;           /* list id, predicate id, witness no. */
    int64_t       dur_ns;       /* within */
    void         *ptr;          /* compiled regex, sequence list ids */
};

/* NF_* node flags */
#define NF_CONST     0x01       /* value known at compile time */
#define NF_TRACE     0x02       /* depends on trace-level clauses */
#define NF_WINDOW    0x04       /* positive clause inside a within() */
#define NF_NEGATED   0x08       /* under ! / not() */
#define NF_CONSTVAL  0x10       /* with NF_CONST on a condition: true */

node_t *ast_node(dsl_arena_t *a, node_kind_t kind, uint32_t start,
    uint32_t end);

/*
 * Appends to buf (up to cap, always NUL-terminated when cap > 0) a canonical
 * text of the checked subtree: lambda parameters by slot, not by name, so two
 * rules writing the same predicate with other names give the same text.
 * Returns the length it needed (like snprintf).
 */
size_t ast_canon(const node_t *n, char *buf, size_t cap);

#endif /* BT_DSL_AST_H */
