/* The /proc files of the last scan's holders, kept open for the next scan.
 *
 * A holder's entry is read from five small files of /proc/PID; opening one
 * costs about twice what reading it does, and an installer lists the same
 * holders again and again (a files-in-use dialog's retry, the shutdown that
 * follows the list). A file kept open and read again with pread(2) at 0 is
 * generated afresh by the kernel; it belongs to its process, not to its pid:
 * once that process is gone every read fails (ESRCH), so a pid reused since
 * can never answer through it. The set is this process's (any session),
 * bounded by a share of the descriptor limit, dropped when its last session
 * ends and, in a forked child, at the fork. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "base.h"

static const char *const file_names[RM_PF_FILES] = {
    "stat", "status", "cgroup", "sessionid", "cmdline",
};

/* The most descriptors the kept set may hold: an eighth of the soft limit,
 * so that a host with select(2) and a 1,024 limit keeps 896 of its own. */
#define KEPT_SHARE 8
#define KEPT_MAX_FDS 4096

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static rm_procfileset kept; /* sorted by pid */
static int taken;           /* a scan has it */
static int dropped;         /* the last session ended while it was taken */

static void atfork_prepare(void) { pthread_mutex_lock(&lock); }
static void atfork_parent(void) { pthread_mutex_unlock(&lock); }
static void atfork_child(void)
{
    /* The child has no session; the descriptors are its copies. A set a
     * scan had taken at the fork stays with that scan's thread, which the
     * child does not have: its copies close at exec (O_CLOEXEC). */
    rm_procfileset_close(&kept);
    taken = dropped = 0;
    pthread_mutex_unlock(&lock);
}

static void init(void)
{
    pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

void rm_procfiles_init(rm_procfiles *pf, pid_t pid, int pd, int keep)
{
    pf->pid = pid;
    pf->start = 0;
    pf->pd = pd;
    pf->keep = keep;
    pf->fd_hint = -1;
    for (int i = 0; i < RM_PF_FILES; i++)
        pf->fd[i] = -1;
}

ssize_t rm_procfiles_read(rm_procfiles *pf, int which, char *buf, size_t size)
{
    int fd = pf->fd[which];
    if (fd < 0) {
        fd = openat(pf->pd, file_names[which], O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return -1;
    }
    ssize_t n;
    do
        n = pread(fd, buf, size - 1, 0);
    while (n < 0 && errno == EINTR);
    int e = errno;
    if (pf->fd[which] < 0) {
        if (pf->keep && n >= 0)
            pf->fd[which] = fd;
        else
            close(fd);
    }
    if (n < 0) {
        errno = e;
        return -1;
    }
    buf[n] = '\0';
    return n;
}

size_t rm_procfiles_count(const rm_procfiles *pf)
{
    size_t n = pf->pd >= 0;
    for (int i = 0; i < RM_PF_FILES; i++)
        n += pf->fd[i] >= 0;
    return n;
}

void rm_procfiles_close(rm_procfiles *pf)
{
    for (int i = 0; i < RM_PF_FILES; i++)
        if (pf->fd[i] >= 0) {
            close(pf->fd[i]);
            pf->fd[i] = -1;
        }
    if (pf->pd >= 0)
        close(pf->pd);
    pf->pd = -1;
}

rm_procfiles *rm_procfileset_find(rm_procfileset *set, pid_t pid)
{
    size_t lo = 0, hi = set->count;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (set->items[mid].pid == pid)
            return set->items[mid].pd >= 0 ? &set->items[mid] : NULL;
        if (set->items[mid].pid < pid)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

int rm_procfileset_add(rm_procfileset *set, const rm_procfiles *pf)
{
    if (RM_GROW(set->items, set->cap, set->count + 1, 16) != 0)
        return -1;
    set->items[set->count++] = *pf;
    return 0;
}

int rm_procfileset_merge(rm_procfileset *to, rm_procfileset *from)
{
    if (RM_GROW(to->items, to->cap, to->count + from->count, 16) != 0)
        return -1;
    if (from->count > 0)
        memcpy(to->items + to->count, from->items,
               from->count * sizeof *from->items);
    to->count += from->count;
    from->count = 0;
    return 0;
}

void rm_procfileset_close(rm_procfileset *set)
{
    for (size_t i = 0; i < set->count; i++)
        rm_procfiles_close(&set->items[i]);
    free(set->items);
    memset(set, 0, sizeof *set);
}

size_t rm_procfiles_take(rm_procfileset *out, int *owner)
{
    pthread_once(&once, init);
    memset(out, 0, sizeof *out);
    struct rlimit rl;
    size_t limit = 0;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
        limit = rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur / KEPT_SHARE >
                                                     KEPT_MAX_FDS
                    ? KEPT_MAX_FDS
                    : (size_t)(rl.rlim_cur / KEPT_SHARE);
    pthread_mutex_lock(&lock);
    *owner = !taken;
    if (!taken) {
        *out = kept;
        memset(&kept, 0, sizeof kept);
        taken = 1;
    } else {
        limit = 0; /* another scan keeps its holders' */
    }
    pthread_mutex_unlock(&lock);
    return limit;
}

static int cmp_pid(const void *a, const void *b)
{
    pid_t x = ((const rm_procfiles *)a)->pid, y = ((const rm_procfiles *)b)->pid;
    return x < y ? -1 : x > y;
}

void rm_procfiles_give(rm_procfileset *set, int owner)
{
    if (set->count > 1)
        qsort(set->items, set->count, sizeof *set->items, cmp_pid);
    pthread_mutex_lock(&lock);
    if (owner) {
        taken = 0;
        if (!dropped) {
            rm_procfileset old = kept;
            kept = *set;
            memset(set, 0, sizeof *set);
            pthread_mutex_unlock(&lock);
            rm_procfileset_close(&old);
            return;
        }
        dropped = 0;
    }
    pthread_mutex_unlock(&lock);
    rm_procfileset_close(set);
}

void rm_procfiles_drop(void)
{
    pthread_once(&once, init);
    pthread_mutex_lock(&lock);
    rm_procfileset old = kept;
    memset(&kept, 0, sizeof kept);
    dropped = taken;
    pthread_mutex_unlock(&lock);
    rm_procfileset_close(&old);
}
