/*
 * harness.c - starts, watches and stops the real BeTrace parts for the
 * integration tests; HTTP and traces-out helpers.  See harness.h.
 */

#include "harness.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <curl/curl.h>
#include <zlib.h>

#include "engine/clock.h"
#include "shm/bt_ring.h"
#include "shm/bt_span.h"

#define H_MAX_ARGS  64

typedef struct {
    char    *p;
    size_t   len;
    size_t   cap;
} h_buf_t;


int64_t
h_now_ms(void)
{
    return (int64_t) bt_mono_ms();
}

static void
h_sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long) (ms % 1000) * 1000000L };

    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
        /* resume */
    }
}

static int
h_buf_add(h_buf_t *b, const void *p, size_t n)
{
    size_t  cap;
    char   *np;

    if (b->len + n + 1 > b->cap) {
        cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1) {
            cap *= 2;
        }
        np = realloc(b->p, cap);
        if (np == NULL) {
            return -1;
        }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

static int
h_path(char *out, size_t n, const char *fmt, ...)
{
    va_list  ap;
    int      k;

    va_start(ap, fmt);
    k = vsnprintf(out, n, fmt, ap);
    va_end(ap);
    return (k < 0 || (size_t) k >= n) ? -1 : 0;
}

char *
h_read_file(const char *path, size_t *len)
{
    FILE    *f;
    h_buf_t  b = { NULL, 0, 0 };
    char     chunk[65536];
    size_t   n;

    f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (h_buf_add(&b, chunk, n) != 0) {
            fclose(f);
            free(b.p);
            return NULL;
        }
    }
    fclose(f);
    if (b.p == NULL && h_buf_add(&b, "", 0) != 0) {
        return NULL;
    }
    if (len) {
        *len = b.len;
    }
    return b.p;
}

static int
h_write_file(const char *path, const char *text)
{
    FILE  *f;
    int    rc;

    f = fopen(path, "w");
    if (f == NULL) {
        fprintf(stderr, "harness: fopen(\"%s\"): %s\n", path, strerror(errno));
        return -1;
    }
    rc = fputs(text, f) < 0 ? -1 : 0;
    if (fclose(f) != 0) {
        rc = -1;
    }
    return rc;
}

/* Prints the last `lines` lines of a file to stderr, under a title. */
static void
h_tail(const char *title, const char *path, int lines)
{
    char        *text;
    size_t       len;
    const char  *p;
    int          seen = 0;

    text = h_read_file(path, &len);
    if (text == NULL) {
        return;
    }
    p = text + len;
    while (p > text) {
        p--;
        if (*p == '\n' && p != text + len - 1 && ++seen == lines) {
            p++;
            break;
        }
    }
    fprintf(stderr, "---- %s (%s), last lines:\n%s%s----\n", title, path, p,
            (len && text[len - 1] != '\n') ? "\n" : "");
    free(text);
}


/* --- environment ---------------------------------------------------------- */

static int
h_find_root(char *out, size_t n)
{
    const char  *env = getenv("BETRACE_ROOT");
    char         exe[PATH_MAX];
    char        *slash;
    ssize_t      k;
    int          i;

    if (env && *env) {
        return realpath(env, out) ? 0 : -1;
    }
    k = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (k <= 0) {
        return -1;
    }
    exe[k] = '\0';
    /* build/t/test_x: strip the file name, then t/, then build/ */
    for (i = 0; i < 3; i++) {
        slash = strrchr(exe, '/');
        if (slash == NULL) {
            return -1;
        }
        *slash = '\0';
    }
    if (strlen(exe) + 1 > n) {
        return -1;
    }
    strcpy(out, exe);
    return 0;
}

int
h_free_port(void)
{
    struct sockaddr_in  sa;
    socklen_t           sl = sizeof(sa);
    int                 fd, port;

    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        return -1;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = 0;
    if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) != 0
        || getsockname(fd, (struct sockaddr *) &sa, &sl) != 0)
    {
        close(fd);
        return -1;
    }
    port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

h_env_t *
h_env_new(const h_opts_t *opts)
{
    static int   curl_ready;
    h_env_t     *env;
    const char  *tmp = getenv("TMPDIR");

    if (!curl_ready) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
            return NULL;
        }
        curl_ready = 1;
    }

    env = calloc(1, sizeof(*env));
    if (env == NULL) {
        return NULL;
    }
    if (opts) {
        env->opts = *opts;
    }
    if (env->opts.workers <= 0) {
        env->opts.workers = 1;
    }
    if (env->opts.ring_slots <= 0) {
        env->opts.ring_slots = 4;
    }
    if (env->opts.ring_slot_size == NULL) {
        env->opts.ring_slot_size = "4m";
    }
    if (env->opts.idle_ms <= 0) {
        env->opts.idle_ms = 300;
    }
    strcpy(env->redis.name, "redis");
    strcpy(env->engine.name, "engine");
    strcpy(env->nginx.name, "nginx");

    if (h_find_root(env->root, sizeof(env->root)) != 0) {
        fprintf(stderr, "harness: can't find the repository root "
                "(set BETRACE_ROOT)\n");
        free(env);
        return NULL;
    }
    if (h_path(env->dir, sizeof(env->dir), "%s/betrace-test-XXXXXX",
               (tmp && *tmp) ? tmp : "/tmp") != 0
        || mkdtemp(env->dir) == NULL)
    {
        fprintf(stderr, "harness: mkdtemp: %s\n", strerror(errno));
        free(env);
        return NULL;
    }
    h_path(env->ring, sizeof(env->ring), "%s/ring", env->dir);
    h_path(env->redis_sock, sizeof(env->redis_sock), "%s/redis.sock",
           env->dir);
    env->http_port = h_free_port();
    if (env->http_port <= 0) {
        fprintf(stderr, "harness: no free port\n");
        free(env);
        return NULL;
    }
    return env;
}

h_env_t *
h_env_start(const h_opts_t *opts, int parts)
{
    h_env_t  *env;

    env = h_env_new(opts);
    if (env == NULL) {
        return NULL;
    }
    if (((parts & H_REDIS) && h_redis_start(env) != 0)
        || ((parts & H_ENGINE) && h_engine_start(env) != 0)
        || ((parts & H_NGINX) && h_nginx_start(env) != 0))
    {
        h_env_free(env);
        return NULL;
    }
    return env;
}

int
h_pass(h_env_t *env)
{
    h_proc_t  *parts[3];
    int        i, st, rc = 0;

    if (env == NULL) {
        return -1;
    }
    /* producer first, then the consumer, then its store */
    parts[0] = &env->nginx;
    parts[1] = &env->engine;
    parts[2] = &env->redis;
    for (i = 0; i < 3; i++) {
        if (parts[i]->pid <= 0) {
            continue;
        }
        st = h_proc_stop(parts[i]);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            fprintf(stderr, "harness: %s did not stop cleanly: %s %d\n",
                    parts[i]->name, WIFSIGNALED(st) ? "signal" : "status",
                    WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
            rc = -1;
        }
    }
    if (rc != 0) {
        h_dump_logs(env);
        return -1;
    }
    env->passed = 1;
    return 0;
}

static int
h_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

void
h_env_free(h_env_t *env)
{
    if (env == NULL) {
        return;
    }
    /* nginx first (the producer), then the engine, then its store */
    h_proc_stop(&env->nginx);
    h_proc_stop(&env->engine);
    h_proc_stop(&env->redis);

    if (env->passed && getenv("BETRACE_KEEP_TMP") == NULL) {
        nftw(env->dir, h_rm_one, 16, FTW_DEPTH | FTW_PHYS);
    } else {
        fprintf(stderr, "harness: test %s, kept %s\n",
                env->passed ? "passed" : "did not pass", env->dir);
    }
    free(env);
}


/* --- processes -------------------------------------------------------------- */

/*
 * fork + exec argv with stdout/stderr appended to p->log.  The child leads
 * its own process group and gets SIGTERM when the test process dies.
 */
static int
h_spawn(h_proc_t *p, char *const argv[])
{
    pid_t     parent = getpid();
    pid_t     pid;
    int       fd, sig;
    sigset_t  set;

    fflush(NULL);
    pid = fork();
    if (pid < 0) {
        fprintf(stderr, "harness: fork: %s\n", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        /*
         * Criterion's worker blocks and ignores signals of its own; both
         * survive exec.  A shell with SIGCHLD blocked never wakes from
         * `wait`, so children start with a clean mask and defaults.
         */
        sigemptyset(&set);
        sigprocmask(SIG_SETMASK, &set, NULL);
        for (sig = 1; sig < NSIG; sig++) {
            if (sig != SIGKILL && sig != SIGSTOP) {
                signal(sig, SIG_DFL);
            }
        }
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent) {
            _exit(127);
        }
        fd = open(p->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        fd = open("/dev/null", O_RDONLY);
        if (fd >= 0) {
            dup2(fd, 0);
        }
        execv(argv[0], argv);
        fprintf(stderr, "harness: execv(\"%s\"): %s\n", argv[0],
                strerror(errno));
        _exit(127);
    }
    setpgid(pid, pid);
    p->pid = pid;
    return 0;
}

int
h_proc_start(h_env_t *env, h_proc_t *p, const char *name,
    char *const argv[])
{
    memset(p, 0, sizeof(*p));
    snprintf(p->name, sizeof(p->name), "%s", name);
    if (h_path(p->log, sizeof(p->log), "%s/%s.log", env->dir, name) != 0) {
        return -1;
    }
    return h_spawn(p, argv);
}

int
h_proc_alive(h_proc_t *p)
{
    int  st;

    if (p->pid <= 0) {
        return 0;
    }
    if (waitpid(p->pid, &st, WNOHANG) == p->pid) {
        fprintf(stderr, "harness: %s (pid %d) exited: %s %d\n", p->name,
                (int) p->pid, WIFSIGNALED(st) ? "signal" : "status",
                WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
        p->pid = 0;
        return 0;
    }
    return 1;
}

/* Where each thread of a stuck process waits, for the test log. */
static void
h_dump_threads(pid_t pid)
{
    char            dir[64], path[PATH_MAX], comm[64], wchan[128];
    DIR            *d;
    struct dirent  *de;
    FILE           *f;

    snprintf(dir, sizeof(dir), "/proc/%d/task", (int) pid);
    d = opendir(dir);
    if (d == NULL) {
        return;
    }
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.') {
            continue;
        }
        comm[0] = wchan[0] = '\0';
        h_path(path, sizeof(path), "%s/%s/comm", dir, de->d_name);
        if ((f = fopen(path, "r")) != NULL) {
            if (fgets(comm, sizeof(comm), f) == NULL) {
                comm[0] = '\0';
            }
            comm[strcspn(comm, "\n")] = '\0';
            fclose(f);
        }
        h_path(path, sizeof(path), "%s/%s/wchan", dir, de->d_name);
        if ((f = fopen(path, "r")) != NULL) {
            if (fgets(wchan, sizeof(wchan), f) == NULL) {
                wchan[0] = '\0';
            }
            fclose(f);
        }
        fprintf(stderr, "harness:   thread %s (%s) waits in %s\n",
                de->d_name, comm, wchan[0] ? wchan : "?");
    }
    closedir(d);

    /* a stuck part is worth a backtrace when gdb is there */
    if (access("/usr/bin/gdb", X_OK) == 0) {
        snprintf(path, sizeof(path), "/usr/bin/gdb -p %d -batch -ex "
                 "'thread apply all bt' 2>/dev/null | grep -E '^#|^Thread' "
                 "| head -60 >&2", (int) pid);
        if (system(path) != 0) {
            fprintf(stderr, "harness:   (no backtrace)\n");
        }
    }
}

int
h_proc_stop(h_proc_t *p)
{
    int      st = 0;
    int64_t  deadline;
    pid_t    pid = p->pid;

    if (pid <= 0) {
        return -1;
    }
    /*
     * A paused engine must run to see its SIGTERM.  Only then: a stray
     * SIGCONT can resume a thread that LeakSanitizer's exit-time check has
     * just stopped, and that check then never ends.
     */
    if (p->paused) {
        kill(pid, SIGCONT);
        p->paused = 0;
    }
    kill(pid, SIGTERM);
    deadline = h_now_ms() + H_STOP_TIMEOUT_MS;
    for ( ;; ) {
        if (waitpid(pid, &st, WNOHANG) == pid) {
            break;
        }
        if (h_now_ms() > deadline) {
            fprintf(stderr, "harness: %s (pid %d) ignored SIGTERM for %d ms, "
                    "SIGKILL\n", p->name, (int) pid, H_STOP_TIMEOUT_MS);
            h_dump_threads(pid);
            kill(-pid, SIGKILL);
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            break;
        }
        h_sleep_ms(10);
    }
    /* leftovers of the group (nginx workers of a killed master) */
    kill(-pid, SIGKILL);
    p->pid = 0;
    return st;
}

void
h_dump_logs(h_env_t *env)
{
    char  path[PATH_MAX];

    fprintf(stderr, "harness: logs of %s\n", env->dir);
    if (env->redis.log[0]) {
        h_tail("redis", env->redis.log, 15);
    }
    if (env->engine.log[0]) {
        h_tail("engine", env->engine.log, 30);
    }
    if (env->nginx.log[0]) {
        h_tail("nginx stdout/stderr", env->nginx.log, 15);
    }
    h_path(path, sizeof(path), "%s/error.log", env->dir);
    h_tail("nginx error.log", path, 30);
}

static int
h_unix_ping(const char *sock)
{
    struct sockaddr_un  sa;
    char                buf[64];
    int                 fd, n, ok = 0;

    if (strlen(sock) >= sizeof(sa.sun_path)) {
        return 0;
    }
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0) {
        return 0;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, sock, strlen(sock) + 1);
    if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) == 0
        && write(fd, "PING\r\n", 6) == 6)
    {
        n = read(fd, buf, sizeof(buf) - 1);
        ok = n >= 5 && memcmp(buf, "+PONG", 5) == 0;
    }
    close(fd);
    return ok;
}

static int
h_tcp_connects(int port)
{
    struct sockaddr_in  sa;
    int                 fd, ok;

    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        return 0;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons((uint16_t) port);
    ok = connect(fd, (struct sockaddr *) &sa, sizeof(sa)) == 0;
    close(fd);
    return ok;
}

/*
 * Polls ready(env, arg) every 20 ms for H_START_TIMEOUT_MS while p runs.
 * Returns 0 once it is nonzero; -1 when p exited or, after "harness: <what>
 * in N ms" on stderr, when the time ran out (the logs are dumped in both).
 */
static int
h_wait_ready(h_env_t *env, h_proc_t *p, int (*ready)(h_env_t *env, long arg),
    long arg, const char *what)
{
    int64_t  deadline;

    deadline = h_now_ms() + H_START_TIMEOUT_MS;
    while (h_now_ms() < deadline) {
        if (!h_proc_alive(p)) {
            h_dump_logs(env);
            return -1;
        }
        if (ready(env, arg)) {
            return 0;
        }
        h_sleep_ms(20);
    }
    fprintf(stderr, "harness: %s in %d ms\n", what, H_START_TIMEOUT_MS);
    h_dump_logs(env);
    return -1;
}

static int
h_redis_ready(h_env_t *env, long unused)
{
    return h_unix_ping(env->redis_sock);
}

static int
h_nginx_listens(h_env_t *env, long unused)
{
    return h_tcp_connects(env->http_port);
}

int
h_redis_start(h_env_t *env)
{
    char     *argv[H_MAX_ARGS];
    int       n = 0;

    h_path(env->redis.log, sizeof(env->redis.log), "%s/redis.log", env->dir);
    argv[n++] = (char *) "/usr/bin/redis-server";
    argv[n++] = (char *) "--port";
    argv[n++] = (char *) "0";
    argv[n++] = (char *) "--unixsocket";
    argv[n++] = env->redis_sock;
    argv[n++] = (char *) "--unixsocketperm";
    argv[n++] = (char *) "700";
    argv[n++] = (char *) "--dir";
    argv[n++] = env->dir;
    argv[n++] = (char *) "--appendonly";
    argv[n++] = (char *) "yes";
    argv[n++] = (char *) "--save";
    argv[n++] = (char *) "";
    argv[n++] = (char *) "--daemonize";
    argv[n++] = (char *) "no";
    argv[n] = NULL;

    if (h_spawn(&env->redis, argv) != 0) {
        return -1;
    }
    return h_wait_ready(env, &env->redis, h_redis_ready, 0,
                        "redis did not answer PING");
}

/* Nonzero once the segment at env->ring names the engine's pid. */
static int
h_engine_registered(h_env_t *env, long unused)
{
    pid_t               pid = env->engine.pid;
    struct stat         st;
    bt_shm_t           *shm;
    bt_engine_stats_t  *es;
    char                err[256];
    int                 ok;

    if (stat(env->ring, &st) != 0 || st.st_size == 0) {
        return 0;
    }
    shm = bt_shm_open(env->ring, NULL, err, sizeof(err));
    if (shm == NULL) {
        return 0;
    }
    es = bt_shm_engine_stats(shm);
    ok = __atomic_load_n(&es->pid, __ATOMIC_ACQUIRE) == (uint64_t) pid;
    bt_shm_close(shm);
    return ok;
}

int
h_engine_start(h_env_t *env)
{
    static char  words[1024];
    char        *argv[H_MAX_ARGS];
    char         engine[PATH_MAX], out[PATH_MAX], slots[16], idle[16];
    char         redis[PATH_MAX + 8];
    char        *w, *save;
    int          n = 0;

    /* BETRACE_BUILD: another build dir, e.g. a sanitizer build */
    h_path(engine, sizeof(engine), "%s/%s/betrace-engine", env->root,
           getenv("BETRACE_BUILD") ? getenv("BETRACE_BUILD") : "build");
    h_path(out, sizeof(out), "%s/traces-%d.jsonl", env->dir,
           env->engine_starts);
    h_path(env->engine.log, sizeof(env->engine.log), "%s/engine-%d.log",
           env->dir, env->engine_starts);
    snprintf(slots, sizeof(slots), "%d", env->opts.ring_slots);
    snprintf(idle, sizeof(idle), "%d", env->opts.idle_ms);
    snprintf(redis, sizeof(redis), "unix:%s", env->redis_sock);

    argv[n++] = engine;
    argv[n++] = (char *) "--ring";
    argv[n++] = env->ring;
    argv[n++] = (char *) "--ring-slots";
    argv[n++] = slots;
    argv[n++] = (char *) "--ring-slot-size";
    argv[n++] = (char *) env->opts.ring_slot_size;
    argv[n++] = (char *) "--traces-out";
    argv[n++] = out;
    argv[n++] = (char *) "--idle-ms";
    argv[n++] = idle;
    argv[n++] = (char *) "--log-level";
    argv[n++] = (char *) "info";
    if (env->redis.pid > 0) {
        argv[n++] = (char *) "--redis";
        argv[n++] = redis;
    }
    if (env->opts.engine_extra) {
        snprintf(words, sizeof(words), "%s", env->opts.engine_extra);
        for (w = strtok_r(words, " ", &save); w && n < H_MAX_ARGS - 1;
             w = strtok_r(NULL, " ", &save))
        {
            argv[n++] = w;
        }
    }
    argv[n] = NULL;

    if (access(engine, X_OK) != 0) {
        fprintf(stderr, "harness: %s is missing (make build/betrace-engine)\n",
                engine);
        return -1;
    }
    if (h_spawn(&env->engine, argv) != 0) {
        return -1;
    }
    env->engine_starts++;

    return h_wait_ready(env, &env->engine, h_engine_registered, 0,
                        "the engine did not write its pid into the "
                        "segment's engine stats");
}

int
h_engine_kill9(h_env_t *env)
{
    int  st;

    if (env->engine.pid <= 0) {
        return -1;
    }
    kill(env->engine.pid, SIGKILL);
    waitpid(env->engine.pid, &st, 0);
    env->engine.pid = 0;
    env->engine.paused = 0;
    return 0;
}

int
h_engine_pause(h_env_t *env)
{
    if (env->engine.pid <= 0 || kill(env->engine.pid, SIGSTOP) != 0) {
        return -1;
    }
    env->engine.paused = 1;
    return 0;
}

int
h_engine_resume(h_env_t *env)
{
    if (env->engine.pid <= 0 || kill(env->engine.pid, SIGCONT) != 0) {
        return -1;
    }
    env->engine.paused = 0;
    return 0;
}

int
h_nginx_start(h_env_t *env)
{
    char     *argv[H_MAX_ARGS];
    char      conf[PATH_MAX], errlog[PATH_MAX], module[PATH_MAX];
    char      tmpdir[PATH_MAX];
    char     *text, what[64];
    size_t    cap = 16384;
    int       n = 0, k;

    h_path(module, sizeof(module), "%s/build/ngx_http_betrace_module.so",
           env->root);
    if (access(module, R_OK) != 0) {
        fprintf(stderr, "harness: %s is missing "
                "(make build/ngx_http_betrace_module.so)\n", module);
        return -1;
    }
    h_path(conf, sizeof(conf), "%s/nginx.conf", env->dir);
    h_path(errlog, sizeof(errlog), "%s/error.log", env->dir);
    h_path(tmpdir, sizeof(tmpdir), "%s/tmp", env->dir);
    h_path(env->nginx.log, sizeof(env->nginx.log), "%s/nginx.out", env->dir);
    mkdir(tmpdir, 0700);

    text = malloc(cap);
    if (text == NULL) {
        return -1;
    }
    /*
     * As root, nginx's workers would switch to nobody and lose access to the
     * 0700 temp dir and the ring; run them as the user running the test.
     */
    k = snprintf(text, cap,
        "load_module %s;\n"
        "%s"
        "daemon off;\n"
        "master_process on;\n"
        "worker_processes %d;\n"
        "error_log %s info;\n"
        "pid %s/nginx.pid;\n"
        "events { worker_connections 1024; }\n"
        "http {\n"
        "    access_log %s/access.log;\n"
        "    client_body_temp_path %s/body;\n"
        "    proxy_temp_path %s/proxy;\n"
        "    fastcgi_temp_path %s/fastcgi;\n"
        "    uwsgi_temp_path %s/uwsgi;\n"
        "    scgi_temp_path %s/scgi;\n"
        "    client_max_body_size 64m;\n"
        "    betrace_ring %s slots=%d slot_size=%s;\n"
        "    %s\n"
        "    server {\n"
        "        listen 127.0.0.1:%d;\n"
        "        location = /v1/traces {\n"
        "            betrace_otlp;\n"
        "            %s\n"
        "        }\n"
        "        location = /api/v1/stats {\n"
        "            betrace_stats;\n"
        "        }\n"
        "        %s\n"
        "    }\n"
        "}\n",
        module, geteuid() == 0 ? "user root;\n" : "",
        env->opts.workers, errlog, env->dir, env->dir,
        tmpdir, tmpdir, tmpdir, tmpdir, tmpdir,
        env->ring, env->opts.ring_slots, env->opts.ring_slot_size,
        env->opts.http_extra ? env->opts.http_extra : "",
        env->http_port,
        env->opts.otlp_extra ? env->opts.otlp_extra : "",
        env->opts.server_extra ? env->opts.server_extra : "");
    if (k < 0 || (size_t) k >= cap || h_write_file(conf, text) != 0) {
        free(text);
        return -1;
    }
    free(text);

    argv[n++] = (char *) "/usr/sbin/nginx";
    argv[n++] = (char *) "-p";
    argv[n++] = env->dir;
    argv[n++] = (char *) "-c";
    argv[n++] = conf;
    argv[n++] = (char *) "-e";
    argv[n++] = errlog;
    argv[n] = NULL;
    if (h_spawn(&env->nginx, argv) != 0) {
        return -1;
    }

    snprintf(what, sizeof(what), "nginx did not listen on %d",
             env->http_port);
    return h_wait_ready(env, &env->nginx, h_nginx_listens, 0, what);
}

/* Occurrences of needle in a file (0 if it can't be read). */
static int
h_count_in_file(const char *path, const char *needle)
{
    char        *text, *p;
    int          n = 0;

    text = h_read_file(path, NULL);
    if (text == NULL) {
        return 0;
    }
    for (p = text; (p = strstr(p, needle)) != NULL; p += strlen(needle)) {
        n++;
    }
    free(text);
    return n;
}

/* Nonzero once error.log has more "start worker processes" than before. */
static int
h_nginx_reloaded(h_env_t *env, long before)
{
    char  errlog[PATH_MAX];

    h_path(errlog, sizeof(errlog), "%s/error.log", env->dir);
    return h_count_in_file(errlog, "start worker processes") > before;
}

int
h_nginx_reload(h_env_t *env)
{
    char     errlog[PATH_MAX];
    int      before;

    if (env->nginx.pid <= 0) {
        return -1;
    }
    h_path(errlog, sizeof(errlog), "%s/error.log", env->dir);
    /* nginx logs this line (notice) when the new cycle is up */
    before = h_count_in_file(errlog, "start worker processes");
    kill(env->nginx.pid, SIGHUP);
    return h_wait_ready(env, &env->nginx, h_nginx_reloaded, before,
                        "nginx did not reload");
}


/* --- HTTP ------------------------------------------------------------------- */

static size_t
h_curl_write(char *p, size_t size, size_t n, void *arg)
{
    return h_buf_add(arg, p, size * n) == 0 ? size * n : 0;
}

int
h_http(h_env_t *env, const char *method, const char *path,
    const char *const *headers, const void *body, size_t len,
    h_resp_t *resp)
{
    CURL               *c;
    CURLcode            rc;
    struct curl_slist  *hl = NULL;
    h_buf_t             hb = { NULL, 0, 0 }, bb = { NULL, 0, 0 };
    char                url[256];
    char               *ct = NULL;
    int                 i;

    memset(resp, 0, sizeof(*resp));
    c = curl_easy_init();
    if (c == NULL) {
        return -1;
    }
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", env->http_port, path);
    /* no "Expect: 100-continue" round trip, no default form type */
    hl = curl_slist_append(hl, "Expect:");
    for (i = 0; headers && headers[i]; i++) {
        hl = curl_slist_append(hl, headers[i]);
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) len);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    } else if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, h_curl_write);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &hb);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, h_curl_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &bb);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    /* the raw body, exactly as sent: tests check encodings themselves */
    curl_easy_setopt(c, CURLOPT_HTTP_CONTENT_DECODING, 0L);

    rc = curl_easy_perform(c);
    if (rc == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
        curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
        if (ct) {
            snprintf(resp->content_type, sizeof(resp->content_type), "%s",
                     ct);
        }
    } else {
        fprintf(stderr, "harness: %s %s: %s\n", method, url,
                curl_easy_strerror(rc));
    }
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);

    if (hb.p == NULL) {
        h_buf_add(&hb, "", 0);
    }
    if (bb.p == NULL) {
        h_buf_add(&bb, "", 0);
    }
    resp->headers = hb.p;
    resp->body = bb.p;
    resp->len = bb.len;
    return rc == CURLE_OK ? 0 : -1;
}

int
h_post(h_env_t *env, const char *path, const char *content_type,
    const char *content_encoding, const void *body, size_t len,
    h_resp_t *resp)
{
    char         ct[160], ce[160];
    const char  *hdrs[3];
    int          n = 0;

    /* "Content-Type:" with no value makes curl send none at all */
    snprintf(ct, sizeof(ct), "Content-Type:%s%s", content_type ? " " : "",
             content_type ? content_type : "");
    hdrs[n++] = ct;
    if (content_encoding) {
        snprintf(ce, sizeof(ce), "Content-Encoding: %s", content_encoding);
        hdrs[n++] = ce;
    }
    hdrs[n] = NULL;
    return h_http(env, "POST", path, hdrs, body ? body : "", len, resp);
}

int
h_resp_header(const h_resp_t *resp, const char *name, char *out,
    size_t outlen)
{
    const char  *p, *eol, *v;
    size_t       nl = strlen(name), vl;

    for (p = resp->headers; p && *p; p = eol + 1) {
        eol = strchr(p, '\n');
        if (eol == NULL) {
            eol = p + strlen(p);
        }
        if ((size_t) (eol - p) > nl && p[nl] == ':'
            && strncasecmp(p, name, nl) == 0)
        {
            v = p + nl + 1;
            while (v < eol && (*v == ' ' || *v == '\t')) {
                v++;
            }
            vl = eol - v;
            while (vl && (v[vl - 1] == '\r' || v[vl - 1] == ' ')) {
                vl--;
            }
            if (outlen) {
                if (vl >= outlen) {
                    vl = outlen - 1;
                }
                memcpy(out, v, vl);
                out[vl] = '\0';
            }
            return 1;
        }
        if (*eol == '\0') {
            break;
        }
    }
    return 0;
}

void
h_resp_free(h_resp_t *resp)
{
    free(resp->headers);
    free(resp->body);
    memset(resp, 0, sizeof(*resp));
}

json_t *
h_stats(h_env_t *env, const char *path)
{
    h_resp_t      r;
    json_t       *j = NULL;
    json_error_t  je;

    if (h_http(env, "GET", path ? path : "/api/v1/stats", NULL, NULL, 0, &r)
        == 0 && r.status == 200)
    {
        j = json_loadb(r.body, r.len, 0, &je);
        if (j == NULL) {
            fprintf(stderr, "harness: stats is not JSON (%s): %.200s\n",
                    je.text, r.body);
        }
    }
    h_resp_free(&r);
    return j;
}

void *
h_gzip(const void *in, size_t len, size_t *outlen)
{
    z_stream  zs;
    uint8_t  *out;
    size_t    cap;

    memset(&zs, 0, sizeof(zs));
    if (deflateInit2(&zs, 9, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY)
        != Z_OK)
    {
        return NULL;
    }
    cap = deflateBound(&zs, len) + 64;
    out = malloc(cap);
    if (out == NULL) {
        deflateEnd(&zs);
        return NULL;
    }
    zs.next_in = (Bytef *) in;
    zs.avail_in = len;
    zs.next_out = out;
    zs.avail_out = cap;
    if (deflate(&zs, Z_FINISH) != Z_STREAM_END) {
        deflateEnd(&zs);
        free(out);
        return NULL;
    }
    *outlen = zs.total_out;
    deflateEnd(&zs);
    return out;
}


/* --- traces-out ---------------------------------------------------------------- */

json_t *
h_traces_read(h_env_t *env)
{
    json_t       *arr, *j;
    json_error_t  je;
    char          path[PATH_MAX];
    char         *text, *p, *eol;
    size_t        len;
    int           k;

    arr = json_array();
    if (arr == NULL) {
        return NULL;
    }
    for (k = 0; k < env->engine_starts; k++) {
        h_path(path, sizeof(path), "%s/traces-%d.jsonl", env->dir, k);
        text = h_read_file(path, &len);
        if (text == NULL) {
            continue;
        }
        /* only whole lines: the engine may be writing the last one now */
        for (p = text; (eol = memchr(p, '\n', text + len - p)) != NULL;
             p = eol + 1)
        {
            if (eol == p) {
                continue;
            }
            j = json_loadb(p, eol - p, 0, &je);
            if (j == NULL) {
                j = json_stringn(p, eol - p);
            }
            json_array_append_new(arr, j);
        }
        free(text);
    }
    return arr;
}

size_t
h_traces_span_count(json_t *traces)
{
    json_t      *seen, *t, *s;
    size_t       i, k, n;
    char         key[64];
    const char  *tid, *sid;

    seen = json_object();
    json_array_foreach(traces, i, t) {
        json_array_foreach(json_object_get(t, "spans"), k, s) {
            tid = json_string_value(json_object_get(s, "trace_id"));
            sid = json_string_value(json_object_get(s, "span_id"));
            snprintf(key, sizeof(key), "%s/%s", tid ? tid : "?",
                     sid ? sid : "?");
            json_object_set_new(seen, key, json_true());
        }
    }
    n = json_object_size(seen);
    json_decref(seen);
    return n;
}

json_t *
h_traces_wait(h_env_t *env, size_t ntraces, size_t nspans, int timeout_ms)
{
    json_t   *tr;
    int64_t   deadline = h_now_ms() + timeout_ms;

    for ( ;; ) {
        tr = h_traces_read(env);
        if (json_array_size(tr) >= ntraces
            && h_traces_span_count(tr) >= nspans)
        {
            return tr;
        }
        if (h_now_ms() > deadline) {
            fprintf(stderr, "harness: waited %d ms for %zu traces / %zu "
                    "spans, have %zu / %zu\n", timeout_ms, ntraces, nspans,
                    json_array_size(tr), h_traces_span_count(tr));
            return tr;
        }
        json_decref(tr);
        h_sleep_ms(50);
    }
}

json_t *
h_traces_wait_trace(h_env_t *env, const char *trace_id, size_t nspans,
    int timeout_ms)
{
    json_t   *tr, *t;
    int64_t   deadline = h_now_ms() + timeout_ms;

    for ( ;; ) {
        tr = h_traces_read(env);
        t = h_trace_find(tr, trace_id);
        if (t && json_array_size(json_object_get(t, "spans")) >= nspans) {
            return tr;
        }
        if (h_now_ms() > deadline) {
            fprintf(stderr, "harness: waited %d ms for trace %s with %zu "
                    "spans: %s\n", timeout_ms, trace_id, nspans,
                    t ? "fewer spans" : "not there");
            return tr;
        }
        json_decref(tr);
        h_sleep_ms(50);
    }
}

json_t *
h_trace_find(json_t *traces, const char *trace_id)
{
    json_t      *t;
    size_t       i;
    const char  *id;

    json_array_foreach(traces, i, t) {
        id = json_string_value(json_object_get(t, "trace_id"));
        if (id && strcmp(id, trace_id) == 0) {
            return t;
        }
    }
    return NULL;
}

json_t *
h_span_find(json_t *trace, const char *span_id)
{
    json_t      *s;
    size_t       i;
    const char  *id;

    json_array_foreach(json_object_get(trace, "spans"), i, s) {
        id = json_string_value(json_object_get(s, "span_id"));
        if (id && strcmp(id, span_id) == 0) {
            return s;
        }
    }
    return NULL;
}

void
h_hex(const uint8_t *p, size_t n, char *out)
{
    *bt_hex(out, p, n) = '\0';
}
