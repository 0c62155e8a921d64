/*
 * rules.c - rules from Redis into a compiled set, swapped with RCU (see
 * sig_impl.h).  Runs on the I/O thread only.
 *
 * A reload reads every rule (P rules, then P rule:<id> pipelined), compiles
 * the enabled ones into a new set and writes each rule's status.  Nothing
 * is patched in place: the evaluation loop keeps reading the old set until
 * rcu_assign_pointer publishes the new one, and the old set is freed after
 * synchronize_rcu (the loop's read sections last one trace evaluation).
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "log.h"
#include "sig_impl.h"

void
bt_rules_free(bt_rules_t *r)
{
    uint32_t  i;

    if (r == NULL) {
        return;
    }
    for (i = 0; i < r->n; i++) {
        free(r->rules[i].id);
        free(r->rules[i].name);
        free(r->rules[i].severity);
    }
    free(r->rules);
    bt_ruleset_free(r->set);
    free(r);
}

static const char *
jget_str(json_t *o, const char *key, const char *dflt)
{
    const char  *v;

    v = json_string_value(json_object_get(o, key));
    return v ? v : dflt;
}

/* The first error as "line L, column C: message", malloc'd. */
static char *
first_error(const bt_diags_t *d)
{
    size_t   i;
    char    *out;
    size_t   n;

    for (i = 0; i < d->n; i++) {
        if (d->items[i].severity == BT_DIAG_ERROR) {
            n = strlen(d->items[i].message) + 64;
            out = malloc(n);
            if (out) {
                snprintf(out, n, "line %u, column %u: %s", d->items[i].line,
                         d->items[i].col, d->items[i].message);
            }
            return out;
        }
    }
    return strdup("the rule did not compile");
}

/* What one reload decided about statuses (see append_status). */
typedef struct {
    json_t      *seen;          /* id -> status without updated_at */
    int          force;
} status_ctx_t;

/*
 * Appends the write of P rule:<id>:status to the pipeline, unless the same
 * status (apart from updated_at) was written by an earlier reload, so
 * updated_at says when the state last changed.  diags: the compiler's
 * diagnostics (errors and warnings), NULL when there are none to report.
 * Returns 1 when a command was appended (one reply to read), 0 when not
 * needed, -1 when out of memory.
 */
static int
append_status(bt_sig_t *s, status_ctx_t *sc, const char *id,
    const char *state, const char *error, json_t *version,
    const bt_diags_t *diags)
{
    json_t  *o;
    char    *js, *sig, now[32];
    int      rc, same;

    o = json_object();
    if (o == NULL) {
        return -1;
    }
    json_object_set_new(o, "state", json_string(state));
    if (error) {
        json_object_set_new(o, "error", json_string(error));
    }
    json_object_set(o, "version", version ? version : json_null());
    if (diags && diags->n) {
        json_object_set_new(o, "diagnostics", bt_diags_json(diags));
    }

    sig = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    if (sig == NULL) {
        json_decref(o);
        return -1;
    }
    same = s->statuses != NULL
           && json_string_value(json_object_get(s->statuses, id)) != NULL
           && strcmp(json_string_value(json_object_get(s->statuses, id)),
                     sig) == 0;
    json_object_set_new(sc->seen, id, json_string(sig));
    free(sig);

    if (same && !sc->force) {
        json_decref(o);
        return 0;
    }

    bt_rfc3339(bt_wall_ms(), now, sizeof(now));
    json_object_set_new(o, "updated_at", json_string(now));
    js = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (js == NULL) {
        return -1;
    }

    /* only while the rule exists: a status written just after the API
       deleted the rule (and its status) would be left behind forever */
    rc = redisAppendCommand(s->rc, "EVAL %s 2 %srule:%s %srule:%s:status %s",
                            "if redis.call('EXISTS', KEYS[1]) == 1 then "
                            "return redis.call('SET', KEYS[2], ARGV[1]) "
                            "end return 0",
                            s->prefix, id, s->prefix, id, js);
    free(js);
    return rc == REDIS_OK ? 1 : -1;
}

/* append_status, counting the replies to read; a status that could not
   be queued (out of memory) is forgotten so the next reload retries it */
static size_t
status(bt_sig_t *s, status_ctx_t *sc, const char *id, const char *state,
    const char *error, json_t *version, const bt_diags_t *diags)
{
    int  rc;

    rc = append_status(s, sc, id, state, error, version, diags);
    if (rc < 0) {
        json_object_del(sc->seen, id);
        return 0;
    }
    return (size_t) rc;
}

int
bt_rules_reload(bt_sig_t *s, uint64_t version, int force)
{
    redisReply   *ids, *r;
    bt_rules_t   *set, *old;
    bt_diags_t    d;
    bt_rule_t    *rule;
    bt_srule_t   *sr;
    json_t       *o, *ver;
    json_error_t  je;
    const char   *dsl, *id;
    char         *err;
    status_ctx_t  sc;
    size_t        i, k, nstatus;
    uint32_t      n_disabled, n_failed;
    int           failed, idx;

    ids = redisCommand(s->rc, "ZRANGE %srules 0 -1", s->prefix);
    if (ids == NULL || ids->type != REDIS_REPLY_ARRAY) {
        if (ids) {
            engine_log(ENGINE_LOG_ERROR, "redis: ZRANGE %srules: %s",
                       s->prefix, ids->type == REDIS_REPLY_ERROR
                                  ? ids->str : "unexpected reply");
            freeReplyObject(ids);
        }
        return -1;
    }

    for (i = 0; i < ids->elements; i++) {
        redisAppendCommand(s->rc, "GET %srule:%b", s->prefix,
                           ids->element[i]->str,
                           (size_t) ids->element[i]->len);
    }

    set = calloc(1, sizeof(bt_rules_t));
    if (set) {
        set->set = bt_ruleset_new();
        set->rules = calloc(ids->elements + 1, sizeof(bt_srule_t));
    }
    if (set == NULL || set->set == NULL || set->rules == NULL) {
        engine_log(ENGINE_LOG_ERROR, "out of memory loading rules");
        bt_rules_free(set);
        set = NULL;
    }

    bt_diags_init(&d);
    sc.seen = json_object();
    sc.force = force;
    if (sc.seen == NULL) {
        engine_log(ENGINE_LOG_ERROR, "out of memory loading rules");
        bt_rules_free(set);
        set = NULL;
    }
    failed = 0;
    nstatus = 0;
    n_disabled = 0;
    n_failed = 0;

    for (i = 0; i < ids->elements; i++) {
        if (redisGetReply(s->rc, (void **) &r) != REDIS_OK) {
            failed = 1;
            break;
        }
        if (set == NULL || r->type != REDIS_REPLY_STRING) {
            /* deleted between ZRANGE and GET: not a rule any more */
            freeReplyObject(r);
            continue;
        }

        id = ids->element[i]->str;
        o = json_loadb(r->str, r->len, 0, &je);
        freeReplyObject(r);

        if (!json_is_object(o)) {
            nstatus += status(s, &sc, id, "error", "the stored rule is not "
                              "a JSON object", NULL, NULL);
            n_failed++;
            json_decref(o);
            continue;
        }
        ver = json_object_get(o, "version");

        if (json_is_false(json_object_get(o, "enabled"))) {
            nstatus += status(s, &sc, id, "disabled", NULL, ver, NULL);
            n_disabled++;
            json_decref(o);
            continue;
        }

        dsl = jget_str(o, "dsl", NULL);
        bt_diags_clear(&d);
        rule = dsl ? bt_rule_compile(dsl, strlen(dsl), &d) : NULL;
        if (rule == NULL) {
            err = dsl ? first_error(&d) : strdup("the rule has no dsl");
            k = status(s, &sc, id, "error", err ? err : "out of memory", ver,
                       &d);
            nstatus += k;
            if (k > 0) {
                /* once per new error, not on every reload */
                engine_log(ENGINE_LOG_WARN, "rule %s (\"%s\") skipped: %s",
                           id, jget_str(o, "name", ""),
                           err ? err : "out of memory");
            }
            free(err);
            n_failed++;
            json_decref(o);
            continue;
        }

        sr = &set->rules[set->n];
        sr->id = strdup(id);
        sr->name = strdup(jget_str(o, "name", id));
        sr->severity = strdup(jget_str(o, "severity", "medium"));
        sr->version = json_integer_value(ver);
        sr->monotone = bt_rule_monotone(rule);

        idx = -1;
        if (sr->id && sr->name && sr->severity) {
            idx = bt_ruleset_add(set->set, rule, sr);
        }
        bt_rule_free(rule);
        if (idx < 0) {
            free(sr->id);
            free(sr->name);
            free(sr->severity);
            memset(sr, 0, sizeof(*sr));
            nstatus += status(s, &sc, id, "error", "out of memory", ver,
                              NULL);
            n_failed++;
            json_decref(o);
            continue;
        }
        set->n++;

        nstatus += status(s, &sc, id, "active", NULL, ver, d.n ? &d : NULL);
        json_decref(o);
    }

    bt_diags_free(&d);

    /* the status replies (and any GET replies left after an error) */
    for ( ; !failed && nstatus > 0; nstatus--) {
        if (redisGetReply(s->rc, (void **) &r) != REDIS_OK) {
            failed = 1;
            break;
        }
        freeReplyObject(r);
    }
    freeReplyObject(ids);

    if (failed) {
        json_decref(sc.seen);
        bt_rules_free(set);
        return -1;
    }
    if (set == NULL) {
        json_decref(sc.seen);
        return 0;
    }

    /* what Redis now holds; deleted rules drop out */
    json_decref(s->statuses);
    s->statuses = sc.seen;

    if (bt_ruleset_build(set->set) != 0) {
        engine_log(ENGINE_LOG_ERROR, "out of memory building the rule set; "
                   "keeping the previous one");
        bt_rules_free(set);
        return 0;
    }

    old = rcu_xchg_pointer(&s->rules, set);
    synchronize_rcu();
    bt_rules_free(old);

    s->rules_version = version;
    s->rules_loaded_once = 1;
    s->n_loaded = set->n;
    s->n_failed = n_failed;
    __atomic_store_n(&s->es->rules_loaded, set->n, __ATOMIC_RELAXED);
    __atomic_store_n(&s->es->rules_failed, n_failed, __ATOMIC_RELAXED);
    __atomic_store_n(&s->es->rules_version, version, __ATOMIC_RELAXED);

    engine_log(ENGINE_LOG_INFO, "rules version %llu loaded: %u active, "
               "%u disabled, %u failed (%u distinct span predicates)",
               (unsigned long long) version, set->n, n_disabled, n_failed,
               bt_ruleset_npredicates(set->set));
    return 0;
}
