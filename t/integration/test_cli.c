/*
 * test_cli.c - `build/betrace` run as a subprocess on files written to a
 * temporary directory: check (ok, warning, error, stdin, --json), eval on
 * OTLP/JSON and protobuf files with the four DSL.md rules firing on the
 * traces they are meant for and not on near misses, exact output lines,
 * exit codes and the help texts.
 *
 * The protobuf trace file is built with protobuf-c (the reference encoder)
 * and the JSON ones with jansson, from one table of spans, so the CLI's
 * decoders are checked against independent encoders.
 */

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "t/lib/harness.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"


/* --- running the CLI ---------------------------------------------------------- */

typedef struct {
    int     status;         /* exit code, or -1 if it did not exit normally */
    char   *out;
    char   *err;
} run_t;

static h_env_t  *env;


static void
setup(void)
{
    env = h_env_new(NULL);
    cr_assert_not_null(env, "h_env_new");
}

static void
teardown(void)
{
    h_env_free(env);
}

TestSuite(cli, .init = setup, .fini = teardown, .timeout = 60);


static void
buf_append(char **buf, size_t *len, const char *p, size_t n)
{
    *buf = realloc(*buf, *len + n + 1);
    cr_assert_not_null(*buf);
    memcpy(*buf + *len, p, n);
    *len += n;
    (*buf)[*len] = '\0';
}

/*
 * Runs build/betrace ($BETRACE_BUILD/betrace if set) with argv (NULL-terminated, without the program
 * name), feeding in (may be NULL) on stdin, collecting stdout and stderr.
 */
static run_t
run(const char *in, const char *const *args)
{
    run_t          r;
    char           prog[PATH_MAX + 64], *argv[64], buf[4096];
    int            pin[2], pout[2], perr[2], st, i, open_fds;
    size_t         olen, elen, inlen, inoff;
    struct pollfd  pfd[3];
    ssize_t        n;
    pid_t          pid;

    /* BETRACE_BUILD: another build dir, e.g. a sanitizer build */
    snprintf(prog, sizeof(prog), "%s/%.32s/betrace", env->root,
             getenv("BETRACE_BUILD") ? getenv("BETRACE_BUILD") : "build");
    argv[0] = prog;
    for (i = 0; args[i]; i++) {
        argv[i + 1] = (char *) args[i];
    }
    argv[i + 1] = NULL;

    cr_assert(pipe(pin) == 0 && pipe(pout) == 0 && pipe(perr) == 0);
    signal(SIGPIPE, SIG_IGN);

    pid = fork();
    cr_assert(pid >= 0);

    if (pid == 0) {
        dup2(pin[0], 0);
        dup2(pout[1], 1);
        dup2(perr[1], 2);
        close(pin[1]);
        close(pout[0]);
        close(perr[0]);
        if (chdir(env->dir) != 0) {
            _exit(126);
        }
        execv(prog, argv);
        _exit(127);
    }

    close(pin[0]);
    close(pout[1]);
    close(perr[1]);

    memset(&r, 0, sizeof(r));
    r.out = calloc(1, 1);
    r.err = calloc(1, 1);
    olen = elen = 0;
    inlen = in ? strlen(in) : 0;
    inoff = 0;

    if (inlen == 0) {
        close(pin[1]);
        pin[1] = -1;
    }

    open_fds = 2;
    while (open_fds > 0) {
        pfd[0] = (struct pollfd) { .fd = pout[0], .events = POLLIN };
        pfd[1] = (struct pollfd) { .fd = perr[0], .events = POLLIN };
        pfd[2] = (struct pollfd) { .fd = pin[1], .events = POLLOUT };
        cr_assert(poll(pfd, 3, 30000) > 0, "betrace hangs");

        for (i = 0; i < 2; i++) {
            if (pfd[i].fd >= 0 && (pfd[i].revents & (POLLIN | POLLHUP))) {
                n = read(pfd[i].fd, buf, sizeof(buf));
                if (n <= 0) {
                    close(pfd[i].fd);
                    if (i == 0) {
                        pout[0] = -1;
                    } else {
                        perr[0] = -1;
                    }
                    open_fds--;
                } else if (i == 0) {
                    buf_append(&r.out, &olen, buf, (size_t) n);
                } else {
                    buf_append(&r.err, &elen, buf, (size_t) n);
                }
            }
        }

        if (pin[1] >= 0 && (pfd[2].revents & (POLLOUT | POLLERR))) {
            n = write(pin[1], in + inoff, inlen - inoff);
            if (n > 0) {
                inoff += (size_t) n;
            }
            if (n <= 0 || inoff == inlen) {
                close(pin[1]);
                pin[1] = -1;
            }
        }
    }

    if (pin[1] >= 0) {
        close(pin[1]);
    }

    cr_assert(waitpid(pid, &st, 0) == pid);
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return r;
}

static void
run_free(run_t *r)
{
    free(r->out);
    free(r->err);
}

static void
write_file(const char *name, const void *p, size_t n)
{
    char   path[PATH_MAX + 256];
    FILE  *f;

    snprintf(path, sizeof(path), "%s/%s", env->dir, name);
    f = fopen(path, "wb");
    cr_assert_not_null(f, "fopen %s: %s", path, strerror(errno));
    cr_assert_eq(fwrite(p, 1, n, f), n);
    cr_assert_eq(fclose(f), 0);
}

static void
write_text(const char *name, const char *text)
{
    write_file(name, text, strlen(text));
}


/* --- the four rules of DSL.md ------------------------------------------------- */

static const char  rule_storm[] =
    "// Auth retry storm: a failed and a successful login within 5 s of each other\n"
    "trace.has(span => span.name === 'auth.login' && span.status === 'ERROR')\n"
    "  .and(trace.has(span => span.name === 'auth.login' && span.status === 'OK'))\n"
    "  .within('5 seconds')\n";

static const char  rule_pii[] =
    "// PII accessed, but no audit log anywhere in the trace\n"
    "trace.has(span => span.attributes['data.contains_pii'] === true)\n"
    "  .and(trace.missing(span => span.name === 'audit.log'))\n";

static const char  rule_slowdb[] =
    "// Slow database query inside a payment flow\n"
    "trace.where(span => span.name.startsWith('payment'))\n"
    "  .has(span => span.name.includes('db.query') && span.duration > 1000)\n";

static const char  rule_timeout[] =
    "trace.where(span => span.name.startsWith(\"payment\")).has(span => span.status === \"TIMEOUT\")\n";


/* --- the traces ----------------------------------------------------------------- */

enum { PII_NONE = 0, PII_TRUE, PII_FALSE, PII_STRING };

typedef struct {
    int          file;      /* 0: JSON file, 1: protobuf file, 2: JSON lines */
    const char  *trace;     /* last hex digits; left-padded to 32 */
    const char  *id;        /* left-padded to 16 */
    const char  *parent;    /* NULL: root */
    const char  *name;
    int          status;    /* OTLP: 0 unset, 1 ok, 2 error */
    double       start_ms;  /* after BASE_MS */
    double       dur_ms;
    int          pii;
} fx_span_t;

#define BASE_MS  1700000000000.0

static const fx_span_t  fx[] = {
    /* storm: ERROR then OK 2 s later; the OK span is in the protobuf file,
     * so the trace is only whole when files are joined */
    { 0, "1", "a0", NULL, "POST /login", 1, 0, 2500, PII_NONE },
    { 0, "1", "a1", "a0", "auth.login", 2, 10, 100, PII_NONE },
    { 1, "1", "a2", "a0", "auth.login", 1, 2010, 100, PII_NONE },

    /* near miss: the success comes 10 s after the failure */
    { 1, "2", "b0", NULL, "POST /login", 1, 0, 10500, PII_NONE },
    { 1, "2", "b1", "b0", "auth.login", 2, 10, 100, PII_NONE },
    { 1, "2", "b2", "b0", "auth.login", 1, 10010, 100, PII_NONE },

    /* pii without audit.log */
    { 2, "3", "c0", NULL, "GET /profile", 1, 0, 50, PII_NONE },
    { 2, "3", "c1", "c0", "user.read", 1, 5, 10, PII_TRUE },

    /* near miss: audited */
    { 2, "4", "d0", NULL, "GET /profile", 1, 0, 50, PII_NONE },
    { 2, "4", "d1", "d0", "user.read", 1, 5, 10, PII_TRUE },
    { 2, "4", "d2", "d0", "audit.log", 1, 20, 2, PII_NONE },

    /* near miss: the attribute is the string "true", or false */
    { 0, "5", "e0", NULL, "GET /profile", 1, 0, 50, PII_STRING },
    { 0, "5", "e1", "e0", "user.read", 1, 5, 10, PII_FALSE },

    /* slow db.query under payment.process */
    { 1, "6", "f0", NULL, "POST /checkout", 1, 0, 2000, PII_NONE },
    { 1, "6", "f1", "f0", "payment.process", 1, 5, 1800, PII_NONE },
    { 1, "6", "f2", "f1", "db.query", 1, 10, 1500, PII_NONE },

    /* near miss: the slow query is outside the payment flow, the one
     * inside is fast; a payment span failing does not make TIMEOUT fire */
    { 0, "7", "70", NULL, "GET /search", 1, 0, 2000, PII_NONE },
    { 0, "7", "71", "70", "db.query", 1, 5, 1500, PII_NONE },
    { 0, "7", "72", "70", "payment.process", 2, 1600, 350, PII_NONE },
    { 0, "7", "73", "72", "db.query", 1, 1610, 300, PII_NONE },
};

#define NFX  (sizeof(fx) / sizeof(fx[0]))


static void
pad_hex(const char *s, size_t width, char *out)
{
    size_t  n = strlen(s);

    memset(out, '0', width - n);
    memcpy(out + width - n, s, n + 1);
}

static void
hex_bytes(const char *s, size_t nbytes, uint8_t *out)
{
    char    full[33];
    size_t  i;

    pad_hex(s, nbytes * 2, full);
    for (i = 0; i < nbytes; i++) {
        sscanf(full + 2 * i, "%2hhx", &out[i]);
    }
}

static uint64_t
ms_ns(double ms)
{
    return (uint64_t) ((BASE_MS + ms) * 1e6);
}

/* One ExportTraceServiceRequest as OTLP/JSON holding the spans of fx with
 * file == which (and trace == only, when only is not NULL). */
static json_t *
fx_json(int which, const char *only)
{
    json_t  *spans, *s, *attrs;
    char     hex[33];
    size_t   i;

    spans = json_array();

    for (i = 0; i < NFX; i++) {
        if (fx[i].file != which || (only && strcmp(fx[i].trace, only) != 0)) {
            continue;
        }

        attrs = json_array();
        if (fx[i].pii == PII_TRUE || fx[i].pii == PII_FALSE) {
            json_array_append_new(attrs, json_pack("{s:s, s:{s:b}}",
                "key", "data.contains_pii", "value", "boolValue",
                fx[i].pii == PII_TRUE));
        } else if (fx[i].pii == PII_STRING) {
            json_array_append_new(attrs, json_pack("{s:s, s:{s:s}}",
                "key", "data.contains_pii", "value", "stringValue", "true"));
        }

        s = json_object();
        pad_hex(fx[i].trace, 32, hex);
        json_object_set_new(s, "traceId", json_string(hex));
        pad_hex(fx[i].id, 16, hex);
        json_object_set_new(s, "spanId", json_string(hex));
        if (fx[i].parent) {
            pad_hex(fx[i].parent, 16, hex);
            json_object_set_new(s, "parentSpanId", json_string(hex));
        }
        json_object_set_new(s, "name", json_string(fx[i].name));
        json_object_set_new(s, "kind", json_integer(fx[i].parent ? 1 : 2));
        snprintf(hex, sizeof(hex), "%llu",
                 (unsigned long long) ms_ns(fx[i].start_ms));
        json_object_set_new(s, "startTimeUnixNano", json_string(hex));
        snprintf(hex, sizeof(hex), "%llu",
                 (unsigned long long) ms_ns(fx[i].start_ms + fx[i].dur_ms));
        json_object_set_new(s, "endTimeUnixNano", json_string(hex));
        json_object_set_new(s, "attributes", attrs);
        if (fx[i].status) {
            json_object_set_new(s, "status",
                                json_pack("{s:i}", "code", fx[i].status));
        }
        json_array_append_new(spans, s);
    }

    return json_pack("{s:[{s:{s:[{s:s, s:{s:s}}]}, s:[{s:{s:s}, s:o}]}]}",
        "resourceSpans",
          "resource", "attributes",
            "key", "service.name", "value", "stringValue", "cli-test",
          "scopeSpans",
            "scope", "name", "betrace.cli.test",
            "spans", spans);
}

typedef Opentelemetry__Proto__Trace__V1__Span          pspan_t;
typedef Opentelemetry__Proto__Common__V1__KeyValue     kv_t;
typedef Opentelemetry__Proto__Common__V1__AnyValue     any_t;

/* The spans of fx with file == 1 as protobuf bytes (protobuf-c). */
static uint8_t *
fx_pb(size_t *len)
{
    Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest
        req = OPENTELEMETRY__PROTO__COLLECTOR__TRACE__V1__EXPORT_TRACE_SERVICE_REQUEST__INIT;
    Opentelemetry__Proto__Trace__V1__ResourceSpans
        rs = OPENTELEMETRY__PROTO__TRACE__V1__RESOURCE_SPANS__INIT, *rsp = &rs;
    Opentelemetry__Proto__Trace__V1__ScopeSpans
        ss = OPENTELEMETRY__PROTO__TRACE__V1__SCOPE_SPANS__INIT, *ssp = &ss;
    Opentelemetry__Proto__Common__V1__InstrumentationScope
        scope = OPENTELEMETRY__PROTO__COMMON__V1__INSTRUMENTATION_SCOPE__INIT;
    Opentelemetry__Proto__Resource__V1__Resource
        res = OPENTELEMETRY__PROTO__RESOURCE__V1__RESOURCE__INIT;
    Opentelemetry__Proto__Trace__V1__Status
        st[NFX];
    kv_t         svc = OPENTELEMETRY__PROTO__COMMON__V1__KEY_VALUE__INIT;
    kv_t        *svcp = &svc;
    any_t        svcv = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__INIT;
    pspan_t      spans[NFX], *ps[NFX];
    uint8_t      ids[NFX][3][16], *out;
    size_t       i, n;

    svc.key = (char *) "service.name";
    svcv.value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
    svcv.string_value = (char *) "cli-test";
    svc.value = &svcv;
    res.n_attributes = 1;
    res.attributes = &svcp;
    scope.name = (char *) "betrace.cli.test";
    rs.resource = &res;
    ss.scope = &scope;

    n = 0;
    for (i = 0; i < NFX; i++) {
        if (fx[i].file != 1) {
            continue;
        }
        cr_assert_eq(fx[i].pii, PII_NONE, "fixture: no attributes in pb");

        opentelemetry__proto__trace__v1__span__init(&spans[n]);
        hex_bytes(fx[i].trace, 16, ids[n][0]);
        hex_bytes(fx[i].id, 8, ids[n][1]);
        spans[n].trace_id.data = ids[n][0];
        spans[n].trace_id.len = 16;
        spans[n].span_id.data = ids[n][1];
        spans[n].span_id.len = 8;
        if (fx[i].parent) {
            hex_bytes(fx[i].parent, 8, ids[n][2]);
            spans[n].parent_span_id.data = ids[n][2];
            spans[n].parent_span_id.len = 8;
        }
        spans[n].name = (char *) fx[i].name;
        spans[n].kind = fx[i].parent ? 1 : 2;
        spans[n].start_time_unix_nano = ms_ns(fx[i].start_ms);
        spans[n].end_time_unix_nano = ms_ns(fx[i].start_ms + fx[i].dur_ms);
        if (fx[i].status) {
            opentelemetry__proto__trace__v1__status__init(&st[n]);
            st[n].code = fx[i].status;
            spans[n].status = &st[n];
        }
        ps[n] = &spans[n];
        n++;
    }

    ss.n_spans = n;
    ss.spans = ps;
    rs.n_scope_spans = 1;
    rs.scope_spans = &ssp;
    req.n_resource_spans = 1;
    req.resource_spans = &rsp;

    *len = opentelemetry__proto__collector__trace__v1__export_trace_service_request__get_packed_size(&req);
    out = malloc(*len);
    cr_assert_not_null(out);
    opentelemetry__proto__collector__trace__v1__export_trace_service_request__pack(&req, out);
    return out;
}

/*
 * Writes the trace files: one.json (file 0, one pretty-printed request),
 * two.pb (file 1), lines.jsonl (file 2, one request per line, one per
 * trace), and the four rule files.
 */
static void
write_fixtures(void)
{
    json_t   *doc;
    char     *text;
    uint8_t  *pb;
    size_t    len;

    doc = fx_json(0, NULL);
    text = json_dumps(doc, JSON_INDENT(2));
    write_text("one.json", text);
    free(text);
    json_decref(doc);

    pb = fx_pb(&len);
    write_file("two.pb", pb, len);
    free(pb);

    /* one line per trace: the CLI must join nothing here but must split
     * the lines */
    text = NULL;
    {
        json_t  *a = fx_json(2, "3"), *b = fx_json(2, "4");
        char    *ta = json_dumps(a, JSON_COMPACT);
        char    *tb = json_dumps(b, JSON_COMPACT);
        size_t   n = strlen(ta) + strlen(tb) + 3;

        text = malloc(n);
        snprintf(text, n, "%s\n%s\n", ta, tb);
        write_text("lines.jsonl", text);
        free(ta);
        free(tb);
        free(text);
        json_decref(a);
        json_decref(b);
    }

    write_text("storm.btr", rule_storm);
    write_text("pii.btr", rule_pii);
    write_text("slowdb.btr", rule_slowdb);
    write_text("timeout.btr", rule_timeout);
}

#define T(x)  "000000000000000000000000000000" x
#define S(x)  "00000000000000" x


/* --- check ------------------------------------------------------------------------ */

Test(cli, check_accepts_the_four_rules)
{
    static const char *const  files[] = {
        "storm.btr", "pii.btr", "slowdb.btr", "timeout.btr"
    };
    run_t   r;
    size_t  i;

    write_fixtures();

    for (i = 0; i < 4; i++) {
        r = run(NULL, (const char *[]) { "check", files[i], NULL });
        cr_assert_eq(r.status, 0, "%s: exit %d\n%s", files[i], r.status,
                     r.err);
        if (i < 3) {
            cr_assert_str_empty(r.err, "%s: %s", files[i], r.err);
        }
        cr_assert_str_empty(r.out);
        run_free(&r);
    }

    h_pass(env);
}

Test(cli, check_warns_on_timeout_status)
{
    run_t        r;
    char         expect[1024];
    const char  *col;

    write_fixtures();
    r = run(NULL, (const char *[]) { "check", "timeout.btr", NULL });

    cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);

    /* the warning points at the "TIMEOUT" literal */
    col = strstr(rule_timeout, "\"TIMEOUT\"");
    snprintf(expect, sizeof(expect),
             "timeout.btr:1:%d: warning: 'TIMEOUT' is not a span status "
             "(UNSET, OK, ERROR)\n%.*s\n%*s^",
             (int) (col - rule_timeout) + 1,
             (int) (strchr(rule_timeout, '\n') - rule_timeout), rule_timeout,
             (int) (col - rule_timeout), "");
    cr_assert(strncmp(r.err, expect, strlen(expect)) == 0,
              "got:\n%s\nwant prefix:\n%s", r.err, expect);
    run_free(&r);
    h_pass(env);
}

Test(cli, check_error_has_position_source_and_caret)
{
    run_t  r;

    write_text("typo.btr", "trace.has(span => span.nmae === 'auth.login')\n");
    r = run(NULL, (const char *[]) { "check", "typo.btr", NULL });

    cr_assert_eq(r.status, 1, "exit %d", r.status);
    cr_assert_str_empty(r.out);
    cr_assert(strncmp(r.err,
        "typo.btr:1:24: error: unknown span field 'nmae'; did you mean "
        "'name'?\n"
        "trace.has(span => span.nmae === 'auth.login')\n"
        "                       ^", 
        strlen("typo.btr:1:24: error: unknown span field 'nmae'; did you "
               "mean 'name'?\n"
               "trace.has(span => span.nmae === 'auth.login')\n"
               "                       ^")) == 0, "got:\n%s", r.err);
    run_free(&r);
    h_pass(env);
}

Test(cli, check_syntax_error_exit_1)
{
    run_t  r;

    write_text("open.btr", "trace.has(span => span.name === 'x'\n");
    r = run(NULL, (const char *[]) { "check", "open.btr", NULL });

    cr_assert_eq(r.status, 1);
    cr_assert(strncmp(r.err, "open.btr:", 9) == 0, "%s", r.err);
    cr_assert_not_null(strstr(r.err, ": error: expected ')' to close '('"),
                       "%s", r.err);
    run_free(&r);
    h_pass(env);
}

Test(cli, check_reads_stdin_as_stdin_name)
{
    run_t  r;

    r = run("trace.has(s => s.nmae === 'x')",
            (const char *[]) { "check", "-", NULL });
    cr_assert_eq(r.status, 1);
    cr_assert(strncmp(r.err, "<stdin>:1:", 10) == 0, "%s", r.err);
    cr_assert_not_null(strstr(r.err, "did you mean 'name'?"), "%s", r.err);
    run_free(&r);

    r = run("trace.has('auth.login')", (const char *[]) { "check", "-",
                                                         NULL });
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_str_empty(r.err);
    run_free(&r);
    h_pass(env);
}

Test(cli, check_json_reports_diagnostics)
{
    run_t         r;
    json_t       *o, *d;
    json_error_t  jerr;

    write_text("typo.btr", "trace.has(span => span.nmae === 'auth.login')\n");
    r = run(NULL, (const char *[]) { "check", "--json", "typo.btr", NULL });

    cr_assert_eq(r.status, 1);
    o = json_loads(r.out, 0, &jerr);
    cr_assert_not_null(o, "not JSON: %s\n%s", jerr.text, r.out);
    cr_assert_str_eq(json_string_value(json_object_get(o, "file")),
                     "typo.btr");
    cr_assert(json_is_false(json_object_get(o, "ok")));
    cr_assert_eq(json_integer_value(json_object_get(o, "errors")), 1);
    d = json_array_get(json_object_get(o, "diagnostics"), 0);
    cr_assert_not_null(d);
    cr_assert_str_eq(json_string_value(json_object_get(d, "severity")),
                     "error");
    cr_assert_eq(json_integer_value(json_object_get(d, "line")), 1);
    cr_assert_eq(json_integer_value(json_object_get(d, "column")), 24);
    cr_assert_str_eq(json_string_value(json_object_get(d, "message")),
                     "unknown span field 'nmae'; did you mean 'name'?");
    json_decref(o);
    run_free(&r);

    write_fixtures();
    r = run(NULL, (const char *[]) { "check", "--json", "timeout.btr",
                                     NULL });
    cr_assert_eq(r.status, 0);
    o = json_loads(r.out, 0, &jerr);
    cr_assert_not_null(o, "not JSON: %s\n%s", jerr.text, r.out);
    cr_assert(json_is_true(json_object_get(o, "ok")));
    cr_assert_eq(json_integer_value(json_object_get(o, "warnings")), 1);
    d = json_array_get(json_object_get(o, "diagnostics"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(d, "severity")),
                     "warning");
    cr_assert_str_eq(json_string_value(json_object_get(d, "message")),
                     "'TIMEOUT' is not a span status (UNSET, OK, ERROR)");
    json_decref(o);
    run_free(&r);
    h_pass(env);
}

Test(cli, check_missing_file_exit_1)
{
    run_t  r;

    r = run(NULL, (const char *[]) { "check", "nope.btr", NULL });
    cr_assert_eq(r.status, 1);
    cr_assert_not_null(strstr(r.err, "nope.btr"), "%s", r.err);
    run_free(&r);
    h_pass(env);
}


/* --- eval ------------------------------------------------------------------------- */

Test(cli, eval_four_rules_fire_on_intended_traces_only)
{
    run_t  r;

    write_fixtures();
    r = run(NULL, (const char *[]) {
        "eval", "--rule", "storm.btr", "--rule", "pii.btr",
        "--rule", "slowdb.btr", "--rule", "timeout.btr",
        "one.json", "two.pb", "lines.jsonl", NULL });

    cr_assert_eq(r.status, 0, "exit %d: %s", r.status, r.err);

    /* Traces in order of first appearance (one.json: 1, 5, 7; two.pb: 2,
     * 6; lines.jsonl: 3, 4), rules in command-line order. */
    cr_assert_str_eq(r.out,
        "{\"rule\": \"storm\", \"trace_id\": \"" T("01") "\", "
        "\"witnesses\": [[\"" S("a1") "\"], [\"" S("a2") "\"]]}\n"
        "{\"rule\": \"slowdb\", \"trace_id\": \"" T("06") "\", "
        "\"witnesses\": [[\"" S("f2") "\"]]}\n"
        "{\"rule\": \"pii\", \"trace_id\": \"" T("03") "\", "
        "\"witnesses\": [[\"" S("c1") "\"]]}\n");
    run_free(&r);
    h_pass(env);
}

Test(cli, eval_joins_a_trace_across_files)
{
    run_t  r;

    /* Without two.pb the storm trace has its failure but not its success. */
    write_fixtures();
    r = run(NULL, (const char *[]) { "eval", "--rule", "storm.btr",
                                     "one.json", NULL });
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_str_empty(r.out);
    run_free(&r);

    /* Either order of files gives the same firing. */
    r = run(NULL, (const char *[]) { "eval", "-r", "storm.btr", "two.pb",
                                     "one.json", NULL });
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_str_eq(r.out,
        "{\"rule\": \"storm\", \"trace_id\": \"" T("01") "\", "
        "\"witnesses\": [[\"" S("a1") "\"], [\"" S("a2") "\"]]}\n");
    run_free(&r);
    h_pass(env);
}

Test(cli, eval_reads_stdin_and_spec_example)
{
    run_t   r;
    char    path[PATH_MAX + 64], *spec;
    size_t  len;

    /* The OTLP repository's example: upper-case hex ids, numeric times. */
    snprintf(path, sizeof(path), "%s/t/corpus/otlp/spec-example-trace.json",
             env->root);
    spec = h_read_file(path, &len);
    cr_assert_not_null(spec);

    write_text("server.btr", "trace.has(s => s.kind === 'SERVER' "
               "&& s.attributes['my.span.attr'] === 'some value' "
               "&& s.service === 'my.service')");
    r = run(spec, (const char *[]) { "eval", "--rule", "server.btr", "-",
                                     NULL });
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_str_eq(r.out,
        "{\"rule\": \"server\", \"trace_id\": "
        "\"5b8efff798038103d269b633813fc60c\", "
        "\"witnesses\": [[\"eee19b7ec3c1b174\"]]}\n");
    run_free(&r);
    free(spec);
    h_pass(env);
}

Test(cli, eval_broken_rule_exit_1_with_diagnostics)
{
    run_t  r;

    write_fixtures();
    write_text("typo.btr", "trace.has(span => span.nmae === 'auth.login')\n");
    r = run(NULL, (const char *[]) { "eval", "--rule", "pii.btr",
                                     "--rule", "typo.btr", "one.json",
                                     NULL });
    cr_assert_eq(r.status, 1);
    cr_assert_str_empty(r.out);
    cr_assert(strncmp(r.err, "typo.btr:1:24: error: unknown span field "
                      "'nmae'", 40) == 0, "%s", r.err);
    run_free(&r);
    h_pass(env);
}

Test(cli, eval_malformed_trace_files_exit_2)
{
    static const char  bad_pb[] = { 0x0a, 0x7f, 0x01 };  /* length past end */
    run_t  r;

    write_fixtures();
    write_file("bad.pb", bad_pb, sizeof(bad_pb));
    write_text("bad.json", "{\"resourceSpans\": [{\"scopeSpans\": [");
    write_text("notid.jsonl", "{\"resourceSpans\": []}\n"
               "{\"resourceSpans\": [{\"scopeSpans\": [{\"spans\": "
               "[{\"traceId\": \"zz\", \"spanId\": \"01\"}]}]}]}\n");

    r = run(NULL, (const char *[]) { "eval", "--rule", "pii.btr",
                                     "one.json", "bad.pb", NULL });
    cr_assert_eq(r.status, 2, "exit %d: %s", r.status, r.err);
    cr_assert_str_empty(r.out);
    cr_assert(strncmp(r.err, "betrace: bad.pb: ", 17) == 0, "%s", r.err);
    run_free(&r);

    r = run(NULL, (const char *[]) { "eval", "--rule", "pii.btr",
                                     "bad.json", NULL });
    cr_assert_eq(r.status, 2);
    cr_assert(strncmp(r.err, "betrace: bad.json:1: invalid JSON", 33) == 0,
              "%s", r.err);
    run_free(&r);

    r = run(NULL, (const char *[]) { "eval", "--rule", "pii.btr",
                                     "notid.jsonl", NULL });
    cr_assert_eq(r.status, 2);
    cr_assert(strncmp(r.err, "betrace: notid.jsonl:2: ", 24) == 0, "%s",
              r.err);
    run_free(&r);

    r = run(NULL, (const char *[]) { "eval", "--rule", "pii.btr",
                                     "missing.pb", NULL });
    cr_assert_eq(r.status, 2);
    cr_assert(strncmp(r.err, "betrace: missing.pb: cannot read", 32) == 0,
              "%s", r.err);
    run_free(&r);
    h_pass(env);
}


Test(cli, eval_rule_names_and_option_forms)
{
    run_t  r;
    char   dir[PATH_MAX + 16];

    write_fixtures();
    snprintf(dir, sizeof(dir), "%s/rules", env->dir);
    cr_assert_eq(mkdir(dir, 0700), 0);
    write_text("rules/pii.v2.btr", rule_pii);

    /* the name drops the directory and only the last extension; --rule=
     * and -- work like their long forms */
    r = run(NULL, (const char *[]) { "eval", "--rule=rules/pii.v2.btr",
                                     "--", "lines.jsonl", NULL });
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_str_eq(r.out,
        "{\"rule\": \"pii.v2\", \"trace_id\": \"" T("03") "\", "
        "\"witnesses\": [[\"" S("c1") "\"]]}\n");
    run_free(&r);

    /* a rule read from stdin is named "stdin" */
    r = run(rule_pii, (const char *[]) { "eval", "-r", "-", "lines.jsonl",
                                         NULL });
    cr_assert_eq(r.status, 0, "%s", r.err);
    cr_assert_str_eq(r.out,
        "{\"rule\": \"stdin\", \"trace_id\": \"" T("03") "\", "
        "\"witnesses\": [[\"" S("c1") "\"]]}\n");
    run_free(&r);
    h_pass(env);
}


/* --- help, version, usage ----------------------------------------------------- */

Test(cli, help_version_and_usage_errors)
{
    run_t  r;

    r = run(NULL, (const char *[]) { "--help", NULL });
    cr_assert_eq(r.status, 0);
    cr_assert_not_null(strstr(r.out, "exit status"));
    cr_assert_not_null(strstr(r.out, "check FILE|-"));
    run_free(&r);

    r = run(NULL, (const char *[]) { "check", "--help", NULL });
    cr_assert_eq(r.status, 0);
    cr_assert(strncmp(r.out, "usage: betrace check", 20) == 0);
    run_free(&r);

    r = run(NULL, (const char *[]) { "eval", "--help", NULL });
    cr_assert_eq(r.status, 0);
    cr_assert(strncmp(r.out, "usage: betrace eval", 19) == 0);
    run_free(&r);

    r = run(NULL, (const char *[]) { "--version", NULL });
    cr_assert_eq(r.status, 0);
    cr_assert(strncmp(r.out, "betrace ", 8) == 0);
    run_free(&r);

    r = run(NULL, (const char *[]) { "frobnicate", NULL });
    cr_assert_eq(r.status, 3);
    run_free(&r);

    r = run(NULL, (const char *[]) { "eval", "one.json", NULL });
    cr_assert_eq(r.status, 3);
    cr_assert_not_null(strstr(r.err, "no --rule"));
    run_free(&r);
    h_pass(env);
}
