/* The running task of each session handle (RmShutdown, RmRestart), so that
 * RmCancelCurrentTask can cut it short; its progress reports; and the wait
 * for processes to exit that cancellation ends. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "internal.h"

#define HEARTBEAT_MS 250

static pthread_mutex_t tasks_lock = PTHREAD_MUTEX_INITIALIZER;
static rm_task *tasks;

int rm_task_begin(rm_task *t, DWORD handle)
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

void rm_task_end(rm_task *t)
{
    pthread_mutex_lock(&tasks_lock);
    for (rm_task **p = &tasks; *p != NULL; p = &(*p)->next)
        if (*p == t) {
            *p = t->next;
            break;
        }
    pthread_mutex_unlock(&tasks_lock);
    close(t->efd);
}

int rm_task_cancelled(const rm_task *t)
{
    struct pollfd p = {t->efd, POLLIN, 0};
    return poll(&p, 1, 0) == 1;
}

DWORD WINAPI RmCancelCurrentTask(DWORD dwSessionHandle)
{
    rm_detail_clear();
    rm_handle_info h;
    DWORD rc = rm_handle_get_primary(
        dwSessionHandle, &h, "only the session's primary can cancel its task");
    if (rc != ERROR_SUCCESS)
        return rc;
    pthread_mutex_lock(&tasks_lock);
    for (rm_task *t = tasks; t != NULL; t = t->next)
        if (t->handle == dwSessionHandle) {
            uint64_t one = 1;
            if (write(t->efd, &one, sizeof one) < 0) {
                /* the counter is already non-zero: cancelled */
            }
        }
    pthread_mutex_unlock(&tasks_lock);
    return ERROR_SUCCESS;
}

void rm_progress_report(rm_progress *p, UINT pct)
{
    if (p->fn != NULL && (pct > p->last || (pct == 0 && p->last == 0))) {
        p->last = pct;
        p->fn(pct);
    }
}

/* While waiting, the last percentage again, a few times a second: a caller
 * can only act (cancel, or notice Ctrl-C) from inside the callback. */
static void progress_heartbeat(const rm_progress *p)
{
    if (p->fn != NULL)
        p->fn(p->last);
}

void rm_progress_step(rm_progress *p)
{
    p->done++;
    if (p->total > 0)
        rm_progress_report(p, (UINT)(p->done * 99 / p->total));
}

int rm_wait_fds(int *fds, size_t n, uint64_t deadline, const rm_task *t,
                rm_progress *p, void (*ready)(void *ctx, size_t i), void *ctx)
{
    struct pollfd *pfd = malloc((n + 1) * sizeof *pfd);
    size_t *which = malloc((n + 1) * sizeof *which);
    int cancelled = 0;
    if (pfd == NULL || which == NULL) {
        free(pfd);
        free(which);
        return rm_task_cancelled(t);
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
        uint64_t now = rm_now_ms();
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
            if (pfd[k].revents & (POLLIN | POLLHUP | POLLERR))
                ready(ctx, which[k]);
    }
    free(pfd);
    free(which);
    return cancelled;
}

typedef struct exits {
    int *fds;
    rm_progress *p;
} exits;

static void exited(void *ctx, size_t i)
{
    exits *e = ctx;
    close(e->fds[i]);
    e->fds[i] = -1;
    rm_progress_step(e->p);
}

int rm_wait_exits(int *fds, size_t n, uint64_t deadline, const rm_task *t,
                  rm_progress *p)
{
    exits e = {fds, p};
    return rm_wait_fds(fds, n, deadline, t, p, exited, &e);
}
