/*
 * lexer.h - internal: turns rule source into tokens.
 */

#ifndef BT_DSL_LEXER_H
#define BT_DSL_LEXER_H

#include "ast.h"
#include "bt_dsl.h"

typedef enum {
    TK_EOF, TK_IDENT, TK_NUMBER, TK_STRING, TK_REGEX,
    TK_LPAREN, TK_RPAREN, TK_LBRACKET, TK_RBRACKET, TK_LBRACE, TK_RBRACE,
    TK_DOT, TK_COMMA, TK_ARROW,
    TK_NOT, TK_AND, TK_OR,
    TK_SEQ, TK_SNE, TK_EQ, TK_NE, TK_LT, TK_LE, TK_GT, TK_GE,
    TK_PLUS, TK_MINUS, TK_STAR, TK_SLASH, TK_PERCENT
} tok_type_t;

typedef struct {
    tok_type_t    t;
    uint32_t      start;        /* byte range in the source */
    uint32_t      end;
    double        num;          /* NUMBER */
    const char   *s;            /* STRING: decoded; REGEX: pattern; IDENT */
    uint32_t      slen;
    uint32_t      rflags;       /* REGEX: PCRE2 options from /.../flags */
} token_t;

/*
 * Tokenises src.  '/' starts a regex literal where an expression may start
 * (after an operator, '(' ',' '[' '=>' or at the start) and is division
 * after an operand.  On success returns 0 and *toks (in arena, ended by
 * TK_EOF) and *ntoks.  On a lexical error, records it in diags and returns
 * -1; on out of memory returns -2.
 */
int dsl_lex(const char *src, size_t len, dsl_arena_t *arena,
    bt_diags_t *diags, token_t **toks, uint32_t *ntoks);

/* A printable name for a token type, for "expected X, found Y". */
const char *dsl_tok_name(tok_type_t t);

#endif /* BT_DSL_LEXER_H */
