/* Starting a restart command and watching it settle.
 *
 * The caller forks a watcher, which forks the program. The program drops to
 * its user's credentials when it is another user's, leaves the caller's
 * session and descriptors behind, enters its directory and execs; an exec
 * failure comes back through a close-on-exec pipe. The watcher, its parent,
 * reports the new pid and start time, watches it through a pidfd for the
 * settle time and reports how it ended, with the status only a parent can
 * reap, then exits: the program is reparented away, detached from the
 * caller. The caller polls all watchers at once, so N restarts cost one
 * settle time.
 *
 * Between fork and exec only async-signal-safe calls are made: the caller
 * may have threads (a Python interpreter), whose locks a fork copies. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/capability.h>
#include <linux/keyctl.h>

#include "internal.h"

#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif

/* A watcher's report: 24 bytes, written whole (less than PIPE_BUF). */
typedef struct report {
    int32_t kind;
    int32_t value; /* errno, exit status or signal */
    int64_t pid;
    uint64_t ticks;
} report;

enum { REPORT_STARTED = 1, REPORT_FAILED, REPORT_EXITED, REPORT_KILLED,
       REPORT_ALIVE };

/* What the program's side sends the watcher when it cannot exec. */
typedef struct failure {
    int err;
    int step; /* RM_LAUNCH_STEP_* */
} failure;

static void send_all(int fd, const void *buf, size_t len)
{
    while (write(fd, buf, len) < 0 && errno == EINTR)
        ;
}

static void send_report(int fd, int kind, int value, pid_t pid, uint64_t t)
{
    report r = {kind, value, pid, t};
    send_all(fd, &r, sizeof r);
}

/* Start ticks (field 22) of our child `pid` from /proc/PID/stat, parsed by
 * hand: stdio is not async-signal-safe. 0 when unreadable. */
static uint64_t child_ticks(pid_t pid)
{
    char path[32] = "/proc/", digits[16];
    int n = 0;
    for (unsigned v = (unsigned)pid; n == 0 || v != 0; v /= 10)
        digits[n++] = (char)('0' + v % 10);
    size_t k = strlen(path);
    while (n > 0)
        path[k++] = digits[--n];
    memcpy(path + k, "/stat", 6);
    char buf[1024];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t len = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (len <= 0)
        return 0;
    buf[len] = '\0';
    char *p = strrchr(buf, ')');
    /* after ")" come fields 3 (state) to 52; 22 is the start time */
    for (int field = 2; p != NULL && field < 22; field++)
        p = strchr(p + 1, ' ');
    uint64_t ticks = 0;
    for (p = p != NULL ? p + 1 : NULL; p != NULL && *p >= '0' && *p <= '9';
         p++)
        ticks = ticks * 10 + (uint64_t)(*p - '0');
    return ticks;
}

/* execve through the program's own PATH (its recorded environment), as
 * execvp does with the caller's; returns the most telling errno. */
static int exec_search(char *const argv[], char *const envp[])
{
    const char *prog = argv[0];
    if (strchr(prog, '/') != NULL) {
        execve(prog, argv, envp);
        return errno;
    }
    const char *path = "/usr/local/bin:/usr/bin:/bin";
    for (size_t i = 0; envp[i] != NULL; i++)
        if (strncmp(envp[i], "PATH=", 5) == 0)
            path = envp[i] + 5;
    int err = ENOENT;
    size_t plen = strlen(prog);
    for (const char *p = path;; p++) {
        const char *end = strchr(p, ':');
        size_t n = end != NULL ? (size_t)(end - p) : strlen(p);
        char buf[PATH_MAX];
        if (n + plen + 2 <= sizeof buf) {
            memcpy(buf, p, n);
            if (n > 0)
                buf[n++] = '/';
            memcpy(buf + n, prog, plen + 1);
            execve(buf, argv, envp);
            if (errno == EACCES)
                err = EACCES; /* found but not runnable: say so */
            else if (errno != ENOENT && errno != ENOTDIR)
                return errno;
        }
        if (end == NULL)
            break;
        p = end;
    }
    return err;
}

/* Gives up every capability: none survive in the sets a later exec could
 * draw on (permitted, effective, inheritable, ambient). */
static int drop_capabilities(void)
{
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    if (syscall(SYS_capset, &hdr, data) != 0)
        return -1;
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 &&
        errno != EINVAL)
        return -1;
    return 0;
}

/* Marks every descriptor from 3 up close-on-exec. */
static void close_caller_fds(void)
{
    if (syscall(SYS_close_range, 3u, ~0u, CLOSE_RANGE_CLOEXEC) == 0)
        return;
    struct rlimit rl;
    long max = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 65536
                   ? (long)rl.rlim_cur
                   : 65536;
    for (long fd = 3; fd < max; fd++)
        fcntl((int)fd, F_SETFD, FD_CLOEXEC);
}

/* What a root caller's process carries that the user's program must not
 * inherit: an OOM-killer exemption and a raised priority (the user could
 * not lower either back). Best effort: a caller without them changes
 * nothing. */
static void shed_callers_standing(void)
{
    int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
        send_all(fd, "0", 1);
        close(fd);
    }
    if (getpriority(PRIO_PROCESS, 0) < 0)
        setpriority(PRIO_PROCESS, 0, 0);
}

/* The program's side of the fork: never returns. */
static void become_program(const rm_launch *l, int errfd)
{
    failure f = {0, RM_LAUNCH_STEP_SETUP};
    setsid();
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++)
        sigaction(sig, &dfl, NULL); /* what the caller ignored, too */
    if (dup2(l->nullfd, 0) < 0 || dup2(l->logfd, 1) < 0 ||
        dup2(l->logfd, 2) < 0)
        goto fail;
    if (l->other_user) {
        f.step = RM_LAUNCH_STEP_CREDENTIALS;
        shed_callers_standing();
        if (setgroups((size_t)l->ngroups, l->groups) != 0 ||
            setresgid(l->gid, l->gid, l->gid) != 0 ||
            setresuid(l->uid, l->uid, l->uid) != 0)
            goto fail;
        uid_t r, e, s;
        if (getresuid(&r, &e, &s) != 0 || r != l->uid || e != l->uid ||
            s != l->uid) {
            errno = EPERM;
            goto fail;
        }
        /* A session keyring of its own: root's, inherited, would let it
         * use root's keys as their possessor (what pam_keyinit prevents).
         * Where keyctl is refused outright (ENOSYS, a seccomp EPERM), the
         * program cannot reach any keyring either. */
        if (syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, NULL) < 0 &&
            errno != ENOSYS && errno != EPERM)
            goto fail;
        if (drop_capabilities() != 0)
            goto fail;
    } else if (geteuid() != 0) {
        /* the caller's own program: whatever capabilities the caller was
         * given stay its own (best effort) */
        drop_capabilities();
    }
    close_caller_fds();
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    /* Entered as the program's user: root's search rights never open a
     * directory to it. */
    f.step = RM_LAUNCH_STEP_CHDIR;
    if (chdir(l->cwd) != 0)
        goto fail;
    f.step = RM_LAUNCH_STEP_EXEC;
    errno = exec_search(l->argv, l->envp);
fail:
    f.err = errno;
    send_all(errfd, &f, sizeof f);
    _exit(127);
}

/* The watcher's side: starts the program, reports, watches; never
 * returns. */
static void watch(const rm_launch *l, int out)
{
    /* A caller that ignores SIGCHLD would have the program reaped by the
     * kernel, and its exit status lost. */
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigaction(SIGCHLD, &dfl, NULL);
    int errpipe[2];
    if (pipe2(errpipe, O_CLOEXEC) != 0) {
        send_report(out, REPORT_FAILED, errno, 0, RM_LAUNCH_STEP_SETUP);
        _exit(0);
    }
    pid_t pid = fork();
    if (pid == 0) {
        close(errpipe[0]);
        close(out);
        become_program(l, errpipe[1]);
    }
    close(errpipe[1]);
    if (pid < 0) {
        send_report(out, REPORT_FAILED, errno, 0, RM_LAUNCH_STEP_SETUP);
        _exit(0);
    }
    failure f;
    ssize_t n;
    while ((n = read(errpipe[0], &f, sizeof f)) < 0 && errno == EINTR)
        ;
    if (n > 0) {
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
        send_report(out, REPORT_FAILED, f.err, 0, (uint64_t)f.step);
        _exit(0);
    }
    send_report(out, REPORT_STARTED, 0, pid, child_ticks(pid));
    if (l->settle_ms == 0)
        _exit(0);
    /* The pidfd wakes us when it exits; without one (Linux < 5.3), a poll
     * of waitid every 20 ms does. */
    int pidfd = rm_procid_pidfd(pid);
    uint64_t deadline = rm_now_ms() + l->settle_ms;
    siginfo_t si;
    for (;;) {
        memset(&si, 0, sizeof si);
        if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG) != 0 &&
            errno != EINTR)
            break; /* cannot happen to our own child: call it alive */
        if (si.si_pid == pid) {
            send_report(out,
                        si.si_code == CLD_EXITED ? REPORT_EXITED
                                                 : REPORT_KILLED,
                        si.si_status, pid, 0);
            _exit(0);
        }
        uint64_t now = rm_now_ms();
        if (now >= deadline)
            break;
        uint64_t left = deadline - now;
        if (left > INT_MAX)
            left = INT_MAX;
        if (pidfd >= 0) {
            struct pollfd p = {pidfd, POLLIN, 0};
            poll(&p, 1, (int)left);
        } else {
            struct timespec ts = {0, 20 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    send_report(out, REPORT_ALIVE, 0, pid, 0);
    _exit(0);
}

int rm_launch_start(rm_launch *l)
{
    int fds[2];
    l->watcher = -1;
    l->fd = -1;
    if (pipe2(fds, O_CLOEXEC) != 0)
        return -1;
    /* The watcher takes no signal (Ctrl-C reaches the caller, which then
     * ends it); the program resets its mask. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        watch(l, fds[1]);
    }
    int err = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    close(fds[1]);
    if (pid < 0) {
        close(fds[0]);
        errno = err;
        return -1;
    }
    l->watcher = pid;
    l->fd = fds[0];
    return 0;
}

/* Reads one report of l's watcher; 0 at its end. */
static int take_report(rm_launch *l, rm_progress *p)
{
    report r;
    ssize_t n;
    while ((n = read(l->fd, &r, sizeof r)) < 0 && errno == EINTR)
        ;
    if (n != (ssize_t)sizeof r) {
        if (l->started && l->result == 0 && l->settle_ms > 0)
            rm_progress_step(p); /* no verdict will come */
        close(l->fd);
        l->fd = -1;
        return 0;
    }
    switch (r.kind) {
    case REPORT_STARTED:
        l->started = 1;
        l->pid = (pid_t)r.pid;
        /* The watcher reads clock ticks; the identity is finer (procid.c). */
        l->ticks = rm_procid_start_of(l->pid, r.ticks);
        if (l->settle_ms == 0)
            l->result = RSTRTMGR_RESTART_RUNNING;
        rm_progress_step(p);
        break;
    case REPORT_FAILED:
        l->result = RSTRTMGR_RESTART_NOT_STARTED;
        l->code = r.value;
        l->step = (int)r.ticks;
        rm_progress_step(p);
        if (l->settle_ms > 0)
            rm_progress_step(p);
        break;
    case REPORT_EXITED:
    case REPORT_KILLED:
        l->result = r.kind == REPORT_EXITED ? RSTRTMGR_RESTART_EXITED
                                            : RSTRTMGR_RESTART_KILLED;
        l->code = r.value;
        rm_progress_step(p);
        break;
    case REPORT_ALIVE:
        l->result = RSTRTMGR_RESTART_RUNNING;
        rm_progress_step(p);
        break;
    default:
        break;
    }
    return 1;
}

typedef struct reports {
    rm_launch *ls;
    int *fds;
    rm_progress *p;
} reports;

static void report_ready(void *ctx, size_t i)
{
    reports *r = ctx;
    if (take_report(&r->ls[i], r->p) == 0)
        r->fds[i] = -1;
}

int rm_launch_wait(rm_launch *ls, size_t n, uint64_t deadline,
                   const rm_task *t, rm_progress *p)
{
    int *fds = malloc((n + 1) * sizeof *fds);
    int cancelled = 0;
    if (fds != NULL) {
        for (size_t i = 0; i < n; i++)
            fds[i] = ls[i].fd;
        reports r = {ls, fds, p};
        cancelled = rm_wait_fds(fds, n, deadline, t, p, report_ready, &r);
        free(fds);
    }
    /* What did not finish (cancelled, or past the deadline) is ended: its
     * program, once started, runs on, unverified. */
    for (size_t i = 0; i < n; i++) {
        if (ls[i].fd >= 0) {
            if (ls[i].watcher > 0)
                kill(ls[i].watcher, SIGKILL); /* our child, not yet reaped */
            close(ls[i].fd);
            ls[i].fd = -1;
        }
        if (ls[i].watcher > 0)
            while (waitpid(ls[i].watcher, NULL, 0) < 0 && errno == EINTR)
                ;
        ls[i].watcher = -1;
        if (ls[i].result == 0)
            ls[i].result = ls[i].started ? RSTRTMGR_RESTART_RUNNING
                                         : RSTRTMGR_RESTART_NOT_STARTED;
        if (ls[i].result == RSTRTMGR_RESTART_NOT_STARTED && ls[i].code == 0)
            ls[i].code = cancelled ? ECANCELED : ETIMEDOUT;
    }
    return cancelled;
}
