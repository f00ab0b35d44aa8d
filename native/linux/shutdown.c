/* RmShutdown, RmRestart and RmCancelCurrentTask on Linux: signal exactly the
 * listed processes through pidfds, wait with a timeout that cancellation can
 * cut short, and restart what was registered, detached from the caller. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

extern char **environ;

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

#define STATE_NAME "shutdown"
#define STATE_MAGIC "rstrtmgr-shutdown 1\n"
#define TIMEOUTS_NAME "timeouts"
#define DEFAULT_APP_MS 30000u
#define DEFAULT_SERVICE_MS 20000u
/* After SIGKILL a process is gone as soon as the kernel reaps its memory. */
#define KILL_WAIT_MS 10000u
#define HEARTBEAT_MS 250

/* ---- the running task of each session handle, for cancellation ---------- */

typedef struct task {
    DWORD handle;
    int efd; /* readable once cancelled */
    struct task *next;
} task;

static pthread_mutex_t tasks_lock = PTHREAD_MUTEX_INITIALIZER;
static task *tasks;

static int task_begin(task *t, DWORD handle)
{
    t->handle = handle;
    t->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (t->efd < 0)
        return -1;
    pthread_mutex_lock(&tasks_lock);
    t->next = tasks;
    tasks = t;
    pthread_mutex_unlock(&tasks_lock);
    return 0;
}

static void task_end(task *t)
{
    pthread_mutex_lock(&tasks_lock);
    for (task **p = &tasks; *p != NULL; p = &(*p)->next)
        if (*p == t) {
            *p = t->next;
            break;
        }
    pthread_mutex_unlock(&tasks_lock);
    close(t->efd);
}

static int task_cancelled(const task *t)
{
    struct pollfd p = {t->efd, POLLIN, 0};
    return poll(&p, 1, 0) == 1;
}

DWORD WINAPI RmCancelCurrentTask(DWORD dwSessionHandle)
{
    rm_detail_clear();
    rm_handle_info h;
    DWORD rc = rm_handle_get(dwSessionHandle, &h);
    if (rc != ERROR_SUCCESS)
        return rc;
    if (!h.primary) {
        rm_detail_set("only the session's primary can cancel its task");
        return ERROR_SESSION_CREDENTIAL_CONFLICT;
    }
    pthread_mutex_lock(&tasks_lock);
    for (task *t = tasks; t != NULL; t = t->next)
        if (t->handle == dwSessionHandle) {
            uint64_t one = 1;
            if (write(t->efd, &one, sizeof one) < 0) {
                /* the counter is already non-zero: cancelled */
            }
        }
    pthread_mutex_unlock(&tasks_lock);
    return ERROR_SUCCESS;
}

/* ---- what the session did: its shutdown state --------------------------- */

typedef struct stopped {
    rm_procid id;
    RM_PROCESS_INFO info; /* AppStatus is the outcome */
    char unit[256];
    char exe[PATH_MAX];
    uint64_t exe_dev, exe_ino;
    int32_t group; /* shutdown order: 0 applications, 1 consoles, 2 services */
    uint32_t cmd_len; /* its restart registration, copied at shutdown */
    char *cmd;
} stopped;

typedef struct state {
    int done; /* RmShutdown has run */
    stopped *items;
    size_t count, cap;
} state;

static void state_free(state *s)
{
    for (size_t i = 0; i < s->count; i++)
        free(s->items[i].cmd);
    free(s->items);
    memset(s, 0, sizeof *s);
}

static stopped *state_add(state *s)
{
    if (s->count == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        stopped *n = realloc(s->items, cap * sizeof *n);
        if (n == NULL)
            return NULL;
        s->items = n;
        s->cap = cap;
    }
    stopped *x = &s->items[s->count++];
    memset(x, 0, sizeof *x);
    return x;
}

/* The fixed part of a record on disk; the command follows it. */
typedef struct disk_record {
    int32_t pid;
    int32_t group;
    uint64_t start_ticks;
    uint64_t exe_dev, exe_ino;
    RM_PROCESS_INFO info;
    char unit[256];
    char exe[PATH_MAX];
    uint32_t cmd_len;
} disk_record;

static DWORD state_read(int sessfd, state *out)
{
    memset(out, 0, sizeof *out);
    size_t n;
    char *buf = rm_read_file_at(sessfd, STATE_NAME, &n);
    if (buf == NULL && errno == ENOENT)
        return ERROR_SUCCESS;
    size_t magic = strlen(STATE_MAGIC);
    if (buf == NULL || n < magic || memcmp(buf, STATE_MAGIC, magic) != 0) {
        free(buf);
        rm_detail_set("the session's shutdown state is not readable");
        return ERROR_WRITE_FAULT;
    }
    out->done = 1;
    size_t off = magic;
    while (off + sizeof(disk_record) <= (size_t)n) {
        disk_record r;
        memcpy(&r, buf + off, sizeof r);
        off += sizeof r;
        stopped *x = state_add(out);
        if (x == NULL || r.cmd_len > (size_t)n - off) {
            free(buf);
            state_free(out);
            return x == NULL ? ERROR_OUTOFMEMORY : ERROR_WRITE_FAULT;
        }
        x->id.pid = r.pid;
        x->id.start_ticks = r.start_ticks;
        x->group = r.group;
        x->info = r.info;
        x->exe_dev = r.exe_dev;
        x->exe_ino = r.exe_ino;
        memcpy(x->unit, r.unit, sizeof x->unit);
        x->unit[sizeof x->unit - 1] = '\0';
        memcpy(x->exe, r.exe, sizeof x->exe);
        x->exe[sizeof x->exe - 1] = '\0';
        if (r.cmd_len > 0) {
            x->cmd = malloc(r.cmd_len);
            if (x->cmd == NULL) {
                free(buf);
                state_free(out);
                return ERROR_OUTOFMEMORY;
            }
            memcpy(x->cmd, buf + off, r.cmd_len);
            x->cmd_len = r.cmd_len;
            off += r.cmd_len;
        }
    }
    free(buf);
    return ERROR_SUCCESS;
}

static DWORD state_write(int sessfd, const state *s)
{
    size_t len = strlen(STATE_MAGIC);
    for (size_t i = 0; i < s->count; i++)
        len += sizeof(disk_record) + s->items[i].cmd_len;
    char *buf = malloc(len);
    if (buf == NULL)
        return ERROR_OUTOFMEMORY;
    size_t off = strlen(STATE_MAGIC);
    memcpy(buf, STATE_MAGIC, off);
    for (size_t i = 0; i < s->count; i++) {
        const stopped *x = &s->items[i];
        disk_record r;
        memset(&r, 0, sizeof r);
        r.pid = x->id.pid;
        r.group = x->group;
        r.start_ticks = x->id.start_ticks;
        r.exe_dev = x->exe_dev;
        r.exe_ino = x->exe_ino;
        r.info = x->info;
        memcpy(r.unit, x->unit, sizeof r.unit);
        memcpy(r.exe, x->exe, sizeof r.exe);
        r.cmd_len = x->cmd_len;
        memcpy(buf + off, &r, sizeof r);
        off += sizeof r;
        if (x->cmd_len > 0)
            memcpy(buf + off, x->cmd, x->cmd_len);
        off += x->cmd_len;
    }
    int rc = rm_store_replace_file(sessfd, STATE_NAME, buf, len);
    free(buf);
    if (rc != 0) {
        rm_detail_set("cannot record the session's shutdown state: %s",
                      strerror(errno));
        return ERROR_WRITE_FAULT;
    }
    return ERROR_SUCCESS;
}

/* ---- timeouts ------------------------------------------------------------ */

static void timeouts_read(int sessfd, DWORD *app_ms, DWORD *svc_ms)
{
    *app_ms = DEFAULT_APP_MS;
    *svc_ms = DEFAULT_SERVICE_MS;
    int fd = openat(sessfd, TIMEOUTS_NAME, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return;
    char buf[64];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    unsigned a, s;
    if (n > 0) {
        buf[n] = '\0';
        if (sscanf(buf, "%u %u", &a, &s) == 2) {
            *app_ms = a;
            *svc_ms = s;
        }
    }
}

DWORD rstrtmgr_set_shutdown_timeouts(DWORD dwSessionHandle, DWORD dwAppMs,
                                     DWORD dwServiceMs)
{
    rm_detail_clear();
    rm_handle_info h;
    DWORD rc = rm_handle_get(dwSessionHandle, &h);
    if (rc != ERROR_SUCCESS)
        return rc;
    if (!h.primary) {
        rm_detail_set("only the session's primary shuts down");
        return ERROR_SESSION_CREDENTIAL_CONFLICT;
    }
    rm_store st;
    int sessfd;
    rc = rm_store_open_session(&h, &st, &sessfd);
    if (rc != ERROR_SUCCESS)
        return rc;
    char buf[64];
    int n = snprintf(buf, sizeof buf, "%u %u\n", (unsigned)dwAppMs,
                     (unsigned)dwServiceMs);
    if (rm_store_replace_file(sessfd, TIMEOUTS_NAME, buf, (size_t)n) != 0) {
        rm_detail_set("cannot record the session's timeouts: %s",
                      strerror(errno));
        rc = ERROR_WRITE_FAULT;
    }
    close(sessfd);
    rm_store_close(&st);
    return rc;
}

/* ---- signalling exactly one process -------------------------------------- */

/* A pidfd for this exact process, or -1 when it is gone (or another process
 * now has its pid). Opening first and checking after makes it race-free: a
 * pidfd always names the process that had the pid when it was opened. */
static int pidfd_for(const rm_procid *id)
{
    int fd = (int)syscall(SYS_pidfd_open, id->pid, 0);
    if (fd < 0)
        return -1;
    if (!rm_procid_alive(id)) {
        close(fd);
        return -1;
    }
    return fd;
}

static int pidfd_signal(int fd, int sig)
{
    return (int)syscall(SYS_pidfd_send_signal, fd, sig, NULL, 0);
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

typedef struct progress {
    RM_WRITE_STATUS_CALLBACK fn;
    size_t done, total;
    UINT last;
} progress;

static void progress_report(progress *p, UINT pct)
{
    if (p->fn != NULL && (pct > p->last || (pct == 0 && p->last == 0))) {
        p->last = pct;
        p->fn(pct);
    }
}

/* While waiting, the last percentage again, a few times a second: a caller
 * can only act (cancel, or notice Ctrl-C) from inside the callback. */
static void progress_heartbeat(const progress *p)
{
    if (p->fn != NULL)
        p->fn(p->last);
}

static void progress_step(progress *p)
{
    p->done++;
    if (p->total > 0)
        progress_report(p, (UINT)(p->done * 99 / p->total));
}

/* Waits until every fd in fds (-1 = already done) has exited, the deadline
 * passes or the task is cancelled; marks exited ones -1 and reports each.
 * Returns 1 when cancelled. */
static int wait_exits(int *fds, size_t n, uint64_t deadline, const task *t,
                      progress *p)
{
    struct pollfd *pfd = malloc((n + 1) * sizeof *pfd);
    size_t *which = malloc((n + 1) * sizeof *which);
    int cancelled = 0;
    if (pfd == NULL || which == NULL) {
        free(pfd);
        free(which);
        return task_cancelled(t);
    }
    for (;;) {
        size_t m = 0;
        pfd[m].fd = t->efd;
        pfd[m++].events = POLLIN;
        for (size_t i = 0; i < n; i++)
            if (fds[i] >= 0) {
                pfd[m].fd = fds[i];
                pfd[m].events = POLLIN;
                which[m++] = i;
            }
        if (m == 1)
            break;
        uint64_t now = now_ms();
        if (now >= deadline)
            break;
        uint64_t left = deadline - now;
        int r = poll(pfd, m, left > HEARTBEAT_MS ? HEARTBEAT_MS : (int)left);
        if (r < 0 && errno != EINTR)
            break;
        if (r == 0)
            progress_heartbeat(p);
        if (r > 0 && (pfd[0].revents & POLLIN)) {
            cancelled = 1;
            break;
        }
        for (size_t k = 1; r > 0 && k < m; k++)
            if (pfd[k].revents & (POLLIN | POLLHUP | POLLERR)) {
                close(fds[which[k]]);
                fds[which[k]] = -1;
                progress_step(p);
            }
    }
    free(pfd);
    free(which);
    return cancelled;
}

/* ---- RmShutdown ------------------------------------------------------------ */

static int group_of(const rm_holder *hd)
{
    if (hd->info.ApplicationType == RmService)
        return 2;
    if (hd->info.ApplicationType == RmConsole)
        return 1;
    return 0;
}

static void exe_of(pid_t pid, stopped *x)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/exe", (int)pid);
    ssize_t n = readlink(path, x->exe, sizeof x->exe - 1);
    x->exe[n > 0 ? n : 0] = '\0';
    struct stat st;
    if (stat(path, &st) == 0) {
        x->exe_dev = (uint64_t)st.st_dev;
        x->exe_ino = (uint64_t)st.st_ino;
    }
}

static int systemd_running(void)
{
    struct stat st;
    return lstat("/run/systemd/system", &st) == 0 && S_ISDIR(st.st_mode);
}

/* Runs `systemctl VERB UNIT` and waits for it; 0 when it succeeded. */
static int systemctl(const char *verb, const char *unit)
{
    char *argv[] = {"systemctl", (char *)verb, "--no-block", "--",
                    (char *)unit, NULL};
    pid_t pid;
    if (posix_spawnp(&pid, "systemctl", NULL, NULL, argv, environ) != 0)
        return -1;
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

/* Shuts down the records of one group; returns 1 when cancelled. */
static int shutdown_group(state *s, int group, ULONG flags, DWORD app_ms,
                          DWORD svc_ms, const task *t, progress *p)
{
    size_t n = 0;
    for (size_t i = 0; i < s->count; i++)
        n += s->items[i].group == group &&
             s->items[i].info.AppStatus == RmStatusRunning;
    if (n == 0)
        return task_cancelled(t);
    int *fds = malloc(n * sizeof *fds);
    size_t *idx = malloc(n * sizeof *idx);
    if (fds == NULL || idx == NULL) {
        free(fds);
        free(idx);
        return 0;
    }
    size_t k = 0;
    int use_systemd = group == 2 && systemd_running();
    for (size_t i = 0; i < s->count; i++) {
        stopped *x = &s->items[i];
        if (x->group != group || x->info.AppStatus != RmStatusRunning)
            continue;
        idx[k] = i;
        fds[k] = pidfd_for(&x->id);
        if (fds[k] < 0) {
            x->info.AppStatus = RmStatusStoppedOther; /* it left on its own */
            progress_step(p);
        } else if (use_systemd && x->unit[0] != '\0') {
            systemctl("stop", x->unit);
        } else if (pidfd_signal(fds[k], SIGTERM) != 0) {
            x->info.AppStatus = RmStatusErrorOnStop; /* e.g. EPERM */
            close(fds[k]);
            fds[k] = -1;
            progress_step(p);
        }
        k++;
    }
    uint64_t deadline = now_ms() + (group == 2 ? svc_ms : app_ms);
    int cancelled = wait_exits(fds, n, deadline, t, p);
    if (!cancelled && (flags & RmForceShutdown)) {
        for (size_t j = 0; j < n; j++)
            if (fds[j] >= 0)
                pidfd_signal(fds[j], SIGKILL);
        cancelled = wait_exits(fds, n, now_ms() + KILL_WAIT_MS, t, p);
    }
    for (size_t j = 0; j < n; j++) {
        stopped *x = &s->items[idx[j]];
        if (x->info.AppStatus != RmStatusRunning)
            continue;
        if (fds[j] >= 0) {
            /* Still running: a failure only once the wait is over. */
            if (!cancelled)
                x->info.AppStatus = RmStatusErrorOnStop;
            close(fds[j]);
        } else {
            x->info.AppStatus = RmStatusStopped;
        }
    }
    free(fds);
    free(idx);
    return cancelled;
}

/* Builds the shutdown plan from the current list and the filters; 350 when
 * nothing may be touched. */
static DWORD plan(const rm_handle_info *h, const rm_list *l,
                  const rm_filters *f, ULONG flags, state *s)
{
    pid_t self = getpid();
    for (size_t i = 0; i < l->count; i++) {
        const rm_holder *hd = &l->items[i];
        stopped *x = state_add(s);
        if (x == NULL)
            return ERROR_OUTOFMEMORY;
        x->id = hd->id;
        x->info = hd->info;
        x->info.AppStatus = RmStatusRunning;
        x->group = group_of(hd);
        snprintf(x->unit, sizeof x->unit, "%s", hd->unit);
        exe_of(hd->id.pid, x);
        unsigned actions = rm_filters_match(f, &x->id, x->unit, x->exe,
                                            x->exe_dev, x->exe_ino);
        if (hd->id.pid == self) {
            x->group = -1; /* never the caller itself */
            continue;
        }
        if (actions & (1u << RmNoShutdown)) {
            x->info.AppStatus = RmStatusShutdownMasked;
            continue;
        }
        if (hd->critical) {
            rm_detail_set("process %d is critical to the system; nothing was "
                          "shut down", (int)hd->id.pid);
            return ERROR_FAIL_NOACTION_REBOOT;
        }
        if ((flags & RmShutdownOnlyRegistered) && !hd->info.bRestartable) {
            rm_detail_set("process %d is not registered for restart; nothing "
                          "was shut down", (int)hd->id.pid);
            return ERROR_FAIL_NOACTION_REBOOT;
        }
        rm_restart_cmd cmd;
        if (hd->info.bRestartable &&
            rm_restart_cmd_load(h, &hd->id, &cmd) == 0) {
            x->cmd = cmd.blob; /* the registration dies with the process */
            x->cmd_len = (uint32_t)cmd.len;
        }
    }
    return ERROR_SUCCESS;
}

/* Saves the outcome, merging it into what earlier calls recorded. */
static DWORD save(const rm_handle_info *h, const state *now)
{
    rm_store st;
    int sessfd;
    DWORD rc = rm_store_open_session(h, &st, &sessfd);
    if (rc != ERROR_SUCCESS)
        return rc;
    state old;
    rc = state_read(sessfd, &old);
    if (rc == ERROR_SUCCESS) {
        for (size_t i = 0; i < now->count && rc == ERROR_SUCCESS; i++) {
            const stopped *x = &now->items[i];
            if (x->group < 0)
                continue;
            stopped *y = NULL;
            for (size_t j = 0; j < old.count && y == NULL; j++)
                if (old.items[j].id.pid == x->id.pid &&
                    old.items[j].id.start_ticks == x->id.start_ticks)
                    y = &old.items[j];
            if (y == NULL && (y = state_add(&old)) == NULL) {
                rc = ERROR_OUTOFMEMORY;
                break;
            }
            free(y->cmd);
            *y = *x;
            y->cmd = NULL;
            if (x->cmd_len > 0 && (y->cmd = malloc(x->cmd_len)) != NULL)
                memcpy(y->cmd, x->cmd, x->cmd_len);
            else
                y->cmd_len = 0;
        }
        if (rc == ERROR_SUCCESS)
            rc = state_write(sessfd, &old);
    }
    state_free(&old);
    close(sessfd);
    rm_store_close(&st);
    return rc;
}

DWORD WINAPI RmShutdown(DWORD dwSessionHandle, ULONG lActionFlags,
                        RM_WRITE_STATUS_CALLBACK fnStatus)
{
    rm_detail_clear();
    rm_handle_info h;
    rm_store st;
    int sessfd;
    if (lActionFlags & ~(ULONG)(RmForceShutdown | RmShutdownOnlyRegistered)) {
        rm_detail_set("RmShutdown's flags are RmForceShutdown and "
                      "RmShutdownOnlyRegistered");
        return ERROR_BAD_ARGUMENTS;
    }
    DWORD rc = rm_open_primary(dwSessionHandle, &h, &st, &sessfd, "shut down");
    if (rc != ERROR_SUCCESS)
        return rc;
    DWORD app_ms, svc_ms;
    timeouts_read(sessfd, &app_ms, &svc_ms);
    rm_filters f;
    rc = rm_filters_read(sessfd, &f);
    close(sessfd);
    rm_store_close(&st);
    if (rc != ERROR_SUCCESS)
        return rc;
    /* The list takes the store lock itself; the wait below holds none, so
     * that other sessions are not held up for the length of a shutdown. */
    rm_list l;
    rc = rm_list_compute(&h, &l);
    state s;
    memset(&s, 0, sizeof s);
    if (rc == ERROR_SUCCESS)
        rc = plan(&h, &l, &f, lActionFlags, &s);
    rm_list_free(&l);
    rm_filters_free(&f);
    if (rc != ERROR_SUCCESS) {
        state_free(&s);
        return rc;
    }
    task t;
    if (task_begin(&t, dwSessionHandle) != 0) {
        state_free(&s);
        return ERROR_OUTOFMEMORY;
    }
    progress p = {fnStatus, 0, 0, 0};
    for (size_t i = 0; i < s.count; i++)
        p.total += s.items[i].group >= 0 &&
                   s.items[i].info.AppStatus == RmStatusRunning;
    progress_report(&p, 0);
    int cancelled = 0;
    for (int g = 0; g <= 2 && !cancelled; g++)
        cancelled = shutdown_group(&s, g, lActionFlags, app_ms, svc_ms, &t, &p);
    task_end(&t);
    rc = save(&h, &s);
    int failed = 0;
    for (size_t i = 0; i < s.count; i++)
        failed |= s.items[i].info.AppStatus == RmStatusErrorOnStop;
    state_free(&s);
    if (rc != ERROR_SUCCESS)
        return rc;
    if (cancelled) {
        rm_detail_set("RmCancelCurrentTask stopped the shutdown");
        return ERROR_CANCELLED;
    }
    progress_report(&p, 100);
    if (failed) {
        rm_detail_set("some processes were still running after the timeout "
                      "or could not be signalled; RmGetList shows them with "
                      "RmStatusErrorOnStop");
        return ERROR_FAIL_SHUTDOWN;
    }
    return ERROR_SUCCESS;
}

/* ---- RmRestart ------------------------------------------------------------- */

/* Starts a registered command detached from the caller: a grandchild in a
 * new session, reparented away, whose exec failure comes back through a
 * close-on-exec pipe. 0 when the command started. */
static int spawn_detached(rm_restart_cmd *c)
{
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) != 0)
        return -1;
    pid_t child = fork();
    if (child < 0) {
        close(pipefd[0]);
        close(pipefd[1]);
        return -1;
    }
    if (child == 0) {
        /* Only async-signal-safe calls from here on. */
        close(pipefd[0]);
        if (fork() != 0)
            _exit(0);
        setsid();
        int null = open("/dev/null", O_RDWR);
        if (null >= 0) {
            dup2(null, 0);
            dup2(null, 1);
            dup2(null, 2);
        }
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        int err = 0;
        if (chdir(c->cwd) != 0)
            err = errno;
        else {
            execvpe(c->argv[0], c->argv, c->envp);
            err = errno;
        }
        if (write(pipefd[1], &err, sizeof err) < 0) {
            /* nobody to tell */
        }
        _exit(127);
    }
    close(pipefd[1]);
    int status;
    while (waitpid(child, &status, 0) < 0 && errno == EINTR)
        ;
    int err = 0;
    ssize_t n;
    do
        n = read(pipefd[0], &err, sizeof err);
    while (n < 0 && errno == EINTR);
    close(pipefd[0]);
    if (n > 0) {
        errno = err;
        return -1;
    }
    return 0;
}

DWORD WINAPI RmRestart(DWORD dwSessionHandle, DWORD dwRestartFlags,
                       RM_WRITE_STATUS_CALLBACK fnStatus)
{
    rm_detail_clear();
    if (dwRestartFlags != 0) {
        rm_detail_set("RmRestart's flags are reserved and must be 0");
        return ERROR_BAD_ARGUMENTS;
    }
    rm_handle_info h;
    rm_store st;
    int sessfd;
    DWORD rc = rm_open_primary(dwSessionHandle, &h, &st, &sessfd, "restart");
    if (rc != ERROR_SUCCESS)
        return rc;
    state s;
    rm_filters f;
    memset(&f, 0, sizeof f);
    rc = state_read(sessfd, &s);
    if (rc == ERROR_SUCCESS)
        rc = rm_filters_read(sessfd, &f);
    close(sessfd);
    rm_store_close(&st);
    if (rc == ERROR_SUCCESS && !s.done) {
        rm_detail_set("RmRestart restarts what RmShutdown stopped; this "
                      "session has not shut anything down");
        rc = ERROR_REQUEST_OUT_OF_SEQUENCE;
    }
    if (rc != ERROR_SUCCESS) {
        state_free(&s);
        rm_filters_free(&f);
        return rc;
    }
    task t;
    if (task_begin(&t, dwSessionHandle) != 0) {
        state_free(&s);
        rm_filters_free(&f);
        return ERROR_OUTOFMEMORY;
    }
    progress p = {fnStatus, 0, 0, 0};
    for (size_t i = 0; i < s.count; i++)
        p.total += s.items[i].info.AppStatus == RmStatusStopped;
    progress_report(&p, 0);
    int failed = 0, cancelled = 0;
    /* The reverse of the shutdown order: services first. */
    for (int g = 2; g >= 0 && !cancelled; g--)
        for (size_t i = 0; i < s.count && !cancelled; i++) {
            stopped *x = &s.items[i];
            if (x->group != g || x->info.AppStatus != RmStatusStopped)
                continue;
            if (task_cancelled(&t)) {
                cancelled = 1;
                break;
            }
            unsigned actions = rm_filters_match(&f, &x->id, x->unit, x->exe,
                                                x->exe_dev, x->exe_ino);
            if (actions & (1u << RmNoRestart)) {
                x->info.AppStatus = RmStatusRestartMasked;
            } else if (g == 2 && x->unit[0] != '\0') {
                int ok = systemd_running() && systemctl("start", x->unit) == 0;
                x->info.AppStatus = ok ? RmStatusRestarted
                                       : RmStatusErrorOnRestart;
            } else if (x->cmd_len == 0) {
                continue; /* not registered for restart: left stopped */
            } else {
                rm_restart_cmd c = {x->cmd, x->cmd_len, NULL, NULL, NULL};
                int ok = rm_restart_cmd_parse(&c) == 0 && spawn_detached(&c) == 0;
                free(c.argv);
                x->info.AppStatus = ok ? RmStatusRestarted
                                       : RmStatusErrorOnRestart;
            }
            failed |= x->info.AppStatus == RmStatusErrorOnRestart;
            progress_step(&p);
        }
    task_end(&t);
    rc = save(&h, &s);
    state_free(&s);
    rm_filters_free(&f);
    if (rc != ERROR_SUCCESS)
        return rc;
    if (cancelled) {
        rm_detail_set("RmCancelCurrentTask stopped the restart");
        return ERROR_CANCELLED;
    }
    progress_report(&p, 100);
    if (failed) {
        rm_detail_set("some processes could not be restarted; RmGetList "
                      "shows them with RmStatusErrorOnRestart");
        return ERROR_FAIL_RESTART;
    }
    return ERROR_SUCCESS;
}

/* ---- what RmGetList shows after a shutdown --------------------------------- */

DWORD rm_shutdown_annotate(const rm_handle_info *h, rm_list *l)
{
    rm_store st;
    int sessfd;
    DWORD rc = rm_store_open_session(h, &st, &sessfd);
    if (rc != ERROR_SUCCESS)
        return rc;
    state s;
    rc = state_read(sessfd, &s);
    close(sessfd);
    rm_store_close(&st);
    for (size_t i = 0; rc == ERROR_SUCCESS && i < s.count; i++) {
        const stopped *x = &s.items[i];
        rm_holder *hd = NULL;
        for (size_t j = 0; j < l->count && hd == NULL; j++)
            if (l->items[j].id.pid == x->id.pid &&
                l->items[j].id.start_ticks == x->id.start_ticks)
                hd = &l->items[j];
        if (hd != NULL) {
            hd->info.AppStatus = x->info.AppStatus;
            continue;
        }
        /* Gone since: still part of the session's list, with its outcome. */
        if (l->count == l->cap) {
            size_t cap = l->cap ? l->cap * 2 : 16;
            rm_holder *n = realloc(l->items, cap * sizeof *n);
            if (n == NULL) {
                rc = ERROR_OUTOFMEMORY;
                break;
            }
            l->items = n;
            l->cap = cap;
        }
        hd = &l->items[l->count++];
        memset(hd, 0, sizeof *hd);
        hd->id = x->id;
        hd->info = x->info;
        snprintf(hd->unit, sizeof hd->unit, "%s", x->unit);
    }
    state_free(&s);
    return rc;
}
