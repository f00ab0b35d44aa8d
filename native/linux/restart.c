/* RmRestart on Linux: starts again what the session's RmShutdown stopped,
 * services through systemctl and registered commands detached from the
 * caller, in the reverse of the shutdown order. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"

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
    rm_outcome s;
    rm_filters f;
    memset(&f, 0, sizeof f);
    rc = rm_outcome_read(sessfd, &s);
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
        rm_outcome_free(&s);
        rm_filters_free(&f);
        return rc;
    }
    rm_task t;
    if (rm_task_begin(&t, dwSessionHandle) != 0) {
        rm_outcome_free(&s);
        rm_filters_free(&f);
        return ERROR_OUTOFMEMORY;
    }
    rm_progress p = {fnStatus, 0, 0, 0};
    for (size_t i = 0; i < s.count; i++)
        p.total += s.items[i].info.AppStatus == RmStatusStopped;
    rm_progress_report(&p, 0);
    int failed = 0, cancelled = 0;
    /* The reverse of the shutdown order: services first. */
    for (int g = 2; g >= 0 && !cancelled; g--)
        for (size_t i = 0; i < s.count && !cancelled; i++) {
            rm_stopped *x = &s.items[i];
            if (x->group != g || x->info.AppStatus != RmStatusStopped)
                continue;
            if (rm_task_cancelled(&t)) {
                cancelled = 1;
                break;
            }
            unsigned actions = rm_filters_match(&f, &x->id, x->unit, x->exe,
                                                x->exe_dev, x->exe_ino);
            if (actions & (1u << RmNoRestart)) {
                x->info.AppStatus = RmStatusRestartMasked;
            } else if (g == 2 && x->unit[0] != '\0') {
                int ok = rm_systemd_running() && rm_systemctl("start", x->unit) == 0;
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
            rm_progress_step(&p);
        }
    rm_task_end(&t);
    rc = rm_outcome_save(&h, &s);
    rm_outcome_free(&s);
    rm_filters_free(&f);
    if (rc != ERROR_SUCCESS)
        return rc;
    if (cancelled) {
        rm_detail_set("RmCancelCurrentTask stopped the restart");
        return ERROR_CANCELLED;
    }
    rm_progress_report(&p, 100);
    if (failed) {
        rm_detail_set("some processes could not be restarted; RmGetList "
                      "shows them with RmStatusErrorOnRestart");
        return ERROR_FAIL_RESTART;
    }
    return ERROR_SUCCESS;
}
