/* The /proc directories of the last scan's holders, kept open for the next.
 *
 * An installer lists the same holders again and again (a files-in-use
 * dialog's retry, the shutdown that follows the list). Through a holder's
 * kept directory the next scan skips its open, its identity (the pidfd and
 * its fstat) and, by trying first the descriptor that used the files last
 * time, the read of its whole descriptor table. A directory belongs to its
 * process, not to its pid: once that process is gone every look-up through
 * it fails, so a pid reused since can never answer through it. The set is
 * this process's (any session), bounded by a share of the descriptor limit,
 * dropped when its last session ends and, in a forked child, at the fork.
 *
 * Only the directories: keeping each holder's files open too, to read them
 * again with pread(2), made the first list of a process 8-12 ms dearer and
 * the later ones no cheaper on two threads (200 holders, 1,000 files). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "base.h"

/* The most directories the kept set may hold: an eighth of the soft limit
 * of descriptors, so that a host with select(2) and a 1,024 limit keeps 896
 * of its own. */
#define KEPT_SHARE 8
#define KEPT_MAX 4096

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static rm_procdirset kept; /* sorted by pid */
static int taken;           /* a scan has it */
static int dropped;         /* the last session ended while it was taken */

static void atfork_prepare(void) { pthread_mutex_lock(&lock); }
static void atfork_parent(void) { pthread_mutex_unlock(&lock); }
static void atfork_child(void)
{
    /* The child has no session; the descriptors are its copies. A set a
     * scan had taken at the fork stays with that scan's thread, which the
     * child does not have: its copies close at exec (O_CLOEXEC). */
    rm_procdirset_close(&kept);
    taken = dropped = 0;
    pthread_mutex_unlock(&lock);
}

static void init(void)
{
    pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

void rm_procdir_init(rm_procdir *d, pid_t pid, int pd)
{
    d->pid = pid;
    d->start = 0;
    d->pd = pd;
    d->fd_hint = -1;
}

void rm_procdir_close(rm_procdir *d)
{
    if (d->pd >= 0)
        close(d->pd);
    d->pd = -1;
}

rm_procdir *rm_procdirset_find(rm_procdirset *set, pid_t pid)
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

int rm_procdirset_add(rm_procdirset *set, const rm_procdir *d)
{
    if (RM_GROW(set->items, set->cap, set->count + 1, 16) != 0)
        return -1;
    set->items[set->count++] = *d;
    return 0;
}

int rm_procdirset_merge(rm_procdirset *to, rm_procdirset *from)
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

void rm_procdirset_close(rm_procdirset *set)
{
    for (size_t i = 0; i < set->count; i++)
        rm_procdir_close(&set->items[i]);
    free(set->items);
    memset(set, 0, sizeof *set);
}

size_t rm_procdirs_take(rm_procdirset *out, int *owner)
{
    pthread_once(&once, init);
    memset(out, 0, sizeof *out);
    struct rlimit rl;
    size_t limit = 0;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
        limit = rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur / KEPT_SHARE >
                                                     KEPT_MAX
                    ? KEPT_MAX
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
    pid_t x = ((const rm_procdir *)a)->pid, y = ((const rm_procdir *)b)->pid;
    return x < y ? -1 : x > y;
}

void rm_procdirs_give(rm_procdirset *set, int owner)
{
    if (set->count > 1)
        qsort(set->items, set->count, sizeof *set->items, cmp_pid);
    pthread_mutex_lock(&lock);
    if (owner) {
        taken = 0;
        if (!dropped) {
            rm_procdirset old = kept;
            kept = *set;
            memset(set, 0, sizeof *set);
            pthread_mutex_unlock(&lock);
            rm_procdirset_close(&old);
            return;
        }
        dropped = 0;
    }
    pthread_mutex_unlock(&lock);
    rm_procdirset_close(set);
}

void rm_procdirs_drop(void)
{
    pthread_once(&once, init);
    pthread_mutex_lock(&lock);
    rm_procdirset old = kept;
    memset(&kept, 0, sizeof kept);
    dropped = taken;
    pthread_mutex_unlock(&lock);
    rm_procdirset_close(&old);
}
