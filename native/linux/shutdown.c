/* RmShutdown on Linux: signal exactly the listed processes through pidfds,
 * applications first, then consoles, then services, and wait for each group
 * with a timeout that cancellation can cut short. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"

#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

#define TIMEOUTS_NAME "timeouts"
#define DEFAULT_APP_MS 30000u
#define DEFAULT_SERVICE_MS 20000u
/* After SIGKILL a process is gone as soon as the kernel reaps its memory. */
#define KILL_WAIT_MS 10000u

/* ---- timeouts ------------------------------------------------------------ */

/* The session's timeouts, "<app ms> <service ms>\n" as
 * rstrtmgr_set_shutdown_timeouts writes them; anything else is corruption. */
static DWORD timeouts_read(int sessfd, DWORD *app_ms, DWORD *svc_ms)
{
    *app_ms = DEFAULT_APP_MS;
    *svc_ms = DEFAULT_SERVICE_MS;
    size_t n;
    char *buf = rm_read_file_at(sessfd, TIMEOUTS_NAME, &n);
    if (buf == NULL)
        return errno == ENOENT   ? ERROR_SUCCESS
               : errno == ENOMEM ? ERROR_OUTOFMEMORY
                                 : ERROR_WRITE_FAULT;
    unsigned long long v[2] = {0, 0};
    char *p = buf, *end = buf;
    int ok = n > 0 && n < 32 && strlen(buf) == n;
    for (int i = 0; i < 2 && ok; i++) {
        ok = *p >= '0' && *p <= '9';
        errno = 0;
        if (ok)
            v[i] = strtoull(p, &end, 10);
        ok = ok && errno == 0 && v[i] <= 0xFFFFFFFFu &&
             *end == (i == 0 ? ' ' : '\n');
        p = end + 1;
    }
    ok = ok && *p == '\0';
    free(buf);
    if (!ok) {
        rm_detail_set("the session's shutdown timeouts are not readable");
        return ERROR_WRITE_FAULT;
    }
    *app_ms = (DWORD)v[0];
    *svc_ms = (DWORD)v[1];
    return ERROR_SUCCESS;
}

DWORD rstrtmgr_set_shutdown_timeouts(DWORD dwSessionHandle, DWORD dwAppMs,
                                     DWORD dwServiceMs)
{
    rm_detail_clear();
    char buf[64];
    int n = snprintf(buf, sizeof buf, "%u %u\n", (unsigned)dwAppMs,
                     (unsigned)dwServiceMs);
    return rm_primary_set_file(dwSessionHandle,
                               "only the session's primary shuts down",
                               TIMEOUTS_NAME, "timeouts", buf, (size_t)n);
}

/* ---- signalling exactly one process -------------------------------------- */

/* A pidfd for this exact process, or -1 when it is gone (or another process
 * now has its pid). Opening first and checking after makes it race-free: a
 * pidfd always names the process that had the pid when it was opened. */
static int pidfd_for(const rm_procid *id)
{
    int fd = rm_procid_pidfd(id->pid);
    if (fd < 0)
        return -1;
    rm_procid now;
    if (rm_procid_of_pidfd(fd, id->pid, &now) != 0 ||
        now.start_ticks != id->start_ticks) {
        close(fd);
        return -1;
    }
    return fd;
}

static int pidfd_signal(int fd, int sig)
{
    return (int)syscall(SYS_pidfd_send_signal, fd, sig, NULL, 0);
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

/* The executable's path (for filters, now and at restart); its identity
 * is the scan's. */
static void exe_of(const rm_holder *hd, rm_stopped *x)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/exe", (int)hd->id.pid);
    ssize_t n = readlink(path, x->exe, sizeof x->exe - 1);
    x->exe[n > 0 ? n : 0] = '\0';
    x->exe_dev = hd->exe_dev;
    x->exe_ino = hd->exe_ino;
}

/* A pidfd for record i: the one the scan kept for its holder (l->items[i]:
 * the plan has one record per holder, in order), taken from the list, or
 * one opened and checked now. */
static int pidfd_of(rm_list *l, size_t i, const rm_stopped *x)
{
    if (i < l->count && l->items[i].pidfd >= 0 &&
        l->items[i].id.pid == x->id.pid &&
        l->items[i].id.start_ticks == x->id.start_ticks) {
        int fd = l->items[i].pidfd;
        l->items[i].pidfd = -1;
        return fd;
    }
    return pidfd_for(&x->id);
}

/* Shuts down the records of one group; returns 1 when cancelled. */
static int shutdown_group(rm_outcome *s, rm_list *l, int group, ULONG flags,
                          DWORD app_ms, DWORD svc_ms, const rm_task *t,
                          rm_progress *p)
{
    size_t n = 0;
    for (size_t i = 0; i < s->count; i++)
        n += s->items[i].group == group &&
             s->items[i].info.AppStatus == RmStatusRunning;
    if (n == 0)
        return rm_task_cancelled(t);
    int *fds = malloc(n * sizeof *fds);
    size_t *idx = malloc(n * sizeof *idx);
    if (fds == NULL || idx == NULL) {
        free(fds);
        free(idx);
        return 0;
    }
    size_t k = 0;
    int use_systemd = group == 2 && rm_systemd_running();
    for (size_t i = 0; i < s->count; i++) {
        rm_stopped *x = &s->items[i];
        if (x->group != group || x->info.AppStatus != RmStatusRunning)
            continue;
        idx[k] = i;
        fds[k] = pidfd_of(l, i, x);
        if (fds[k] < 0) {
            x->info.AppStatus = RmStatusStoppedOther; /* it left on its own */
            rm_progress_step(p);
        } else if (use_systemd && x->unit[0] != '\0') {
            rm_systemctl("stop", x->unit);
        } else if (pidfd_signal(fds[k], SIGTERM) != 0) {
            /* ESRCH: it exited since its pidfd was opened. */
            x->info.AppStatus = errno == ESRCH ? RmStatusStoppedOther
                                               : RmStatusErrorOnStop;
            close(fds[k]);
            fds[k] = -1;
            rm_progress_step(p);
        }
        k++;
    }
    uint64_t deadline = rm_now_ms() + (group == 2 ? svc_ms : app_ms);
    int cancelled = rm_wait_exits(fds, n, deadline, t, p);
    if (!cancelled && (flags & RmForceShutdown)) {
        for (size_t j = 0; j < n; j++)
            if (fds[j] >= 0)
                pidfd_signal(fds[j], SIGKILL);
        cancelled = rm_wait_exits(fds, n, rm_now_ms() + KILL_WAIT_MS, t, p);
    }
    for (size_t j = 0; j < n; j++) {
        rm_stopped *x = &s->items[idx[j]];
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

/* A PyInstaller one-file program is two processes, a bootloader and its
 * child, that stop together; both registered, it is started again once:
 * through the child's registration when the child is stopped too. */
static void restart_bootloaders_through_children(rm_outcome *s)
{
    for (size_t i = 0; i < s->count; i++) {
        rm_stopped *x = &s->items[i];
        rm_procid child;
        if (x->cmd == NULL || !rm_restart_through(x->cmd, x->cmd_len, &child))
            continue;
        for (size_t j = 0; j < s->count; j++) {
            const rm_stopped *y = &s->items[j];
            if (j != i && y->cmd != NULL && y->group >= 0 &&
                y->id.pid == child.pid &&
                y->id.start_ticks == child.start_ticks) {
                free(x->cmd);
                x->cmd = NULL;
                x->cmd_len = 0;
                break;
            }
        }
    }
}

/* Builds the shutdown plan from the current list and the filters; 350 when
 * nothing may be touched. */
static DWORD plan(const rm_handle_info *h, const rm_list *l,
                  const rm_filters *f, ULONG flags, rm_outcome *s)
{
    pid_t self = getpid();
    for (size_t i = 0; i < l->count; i++) {
        const rm_holder *hd = &l->items[i];
        rm_stopped *x = rm_outcome_add(s);
        if (x == NULL)
            return ERROR_OUTOFMEMORY;
        x->id = hd->id;
        x->info = hd->info;
        x->info.AppStatus = RmStatusRunning;
        x->group = group_of(hd);
        snprintf(x->unit, sizeof x->unit, "%s", hd->unit);
        exe_of(hd, x);
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
        rm_runas as;
        if (hd->info.bRestartable &&
            rm_restart_cmd_load(h, &hd->id, &cmd, &as) == 0) {
            x->cmd = cmd.blob; /* the registration dies with the process */
            x->cmd_len = (uint32_t)cmd.len;
            x->run_uid = (uint32_t)as.uid;
            x->run_gid = (uint32_t)as.gid;
            x->other_user = as.other_user;
        }
    }
    restart_bootloaders_through_children(s);
    return ERROR_SUCCESS;
}

DWORD WINAPI RmShutdown(DWORD dwSessionHandle, ULONG lActionFlags,
                        RM_WRITE_STATUS_CALLBACK fnStatus)
{
    rm_detail_clear();
    rm_shutdown_list_drop();
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
    rm_filters f;
    rc = timeouts_read(sessfd, &app_ms, &svc_ms);
    if (rc == ERROR_SUCCESS)
        rc = rm_filters_read(sessfd, &f);
    close(sessfd);
    rm_store_close(&st);
    if (rc != ERROR_SUCCESS)
        return rc;
    /* The list takes the store lock itself; the wait below holds none, so
     * that other sessions are not held up for the length of a shutdown. */
    rm_list l;
    rc = rm_list_compute(&h, &l, 1);
    rm_outcome s;
    memset(&s, 0, sizeof s);
    if (rc == ERROR_SUCCESS)
        rc = plan(&h, &l, &f, lActionFlags, &s);
    rm_filters_free(&f);
    rm_task t;
    if (rc == ERROR_SUCCESS && rm_task_begin(&t, dwSessionHandle) != 0)
        rc = ERROR_OUTOFMEMORY;
    if (rc != ERROR_SUCCESS) {
        rm_list_free(&l);
        rm_outcome_free(&s);
        return rc;
    }
    rm_progress p = {fnStatus, 0, 0, 0};
    for (size_t i = 0; i < s.count; i++)
        p.total += s.items[i].group >= 0 &&
                   s.items[i].info.AppStatus == RmStatusRunning;
    rm_progress_report(&p, 0);
    int cancelled = 0;
    for (int g = 0; g <= 2 && !cancelled; g++)
        cancelled = shutdown_group(&s, &l, g, lActionFlags, app_ms, svc_ms,
                                   &t, &p);
    rm_list_close_pidfds(&l); /* the list is kept without them */
    rm_task_end(&t);
    rc = rm_outcome_save(&h, &s);
    if (rc == ERROR_SUCCESS)
        rm_shutdown_list_keep(dwSessionHandle, &h, &l, &s);
    rm_list_free(&l);
    int failed = 0;
    for (size_t i = 0; i < s.count; i++)
        failed |= s.items[i].info.AppStatus == RmStatusErrorOnStop;
    rm_outcome_free(&s);
    if (rc != ERROR_SUCCESS)
        return rc;
    if (cancelled) {
        rm_detail_set("RmCancelCurrentTask stopped the shutdown");
        return ERROR_CANCELLED;
    }
    rm_progress_report(&p, 100);
    if (failed) {
        rm_detail_set("some processes were still running after the timeout "
                      "or could not be signalled; RmGetList shows them with "
                      "RmStatusErrorOnStop");
        return ERROR_FAIL_SHUTDOWN;
    }
    return ERROR_SUCCESS;
}
