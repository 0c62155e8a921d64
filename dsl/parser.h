/*
 * parser.h - internal: recursive-descent parser from tokens to the AST.
 */

#ifndef BT_DSL_PARSER_H
#define BT_DSL_PARSER_H

#include "ast.h"
#include "lexer.h"

/*
 * Parses a whole rule.  Returns the root node, or NULL after recording a
 * syntax error in diags (or on out of memory, *oom set).  Nesting deeper
 * than BT_DSL_MAX_DEPTH is a syntax error, so later recursive passes over
 * the tree are bounded too.
 */
node_t *dsl_parse(const char *src, size_t len, const token_t *toks,
    uint32_t ntoks, dsl_arena_t *arena, bt_diags_t *diags, int *oom);

#endif /* BT_DSL_PARSER_H */
