/* A process's threads, where they can differ from its main thread: a file
 * table of their own (unshare(CLONE_FILES)), or the executable and
 * directories a process still has after its main thread has exited. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <linux/kcmp.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "scan.h"

/* The threads of the process (nlink of /proc/PID/task is 2 + threads): one
 * statx, the cheap test of whether its threads can differ at all. */
static unsigned thread_count(int pd)
{
    struct statx t;
    if (statx(pd, "task", RM_STATX_FLAGS, STATX_NLINK, &t) != 0 ||
        t.stx_nlink < 2)
        return 0;
    return t.stx_nlink - 2;
}

/* The thread ids of the process, except `skip`, into *out (malloc'd). */
static size_t read_tids(int pd, pid_t skip, pid_t **out)
{
    *out = NULL;
    int tfd = openat(pd, "task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (tfd < 0)
        return 0;
    rm_pids tids = {0};
    char buf[4096];
    for (;;) {
        long n = syscall(SYS_getdents64, tfd, buf, sizeof buf);
        if (n <= 0)
            break;
        for (long off = 0; off < n;) {
            rm_dirent64 *d = (void *)(buf + off);
            off += d->d_reclen;
            pid_t tid = (pid_t)strtol(d->d_name, NULL, 10);
            if (tid > 0 && tid != skip && rm_pids_add(&tids, tid) != 0)
                break;
        }
    }
    close(tfd);
    *out = tids.items;
    return tids.count;
}

static int open_task(int pd, pid_t tid)
{
    char name[32];
    snprintf(name, sizeof name, "task/%d", (int)tid);
    return openat(pd, name, O_PATH | O_DIRECTORY | O_CLOEXEC);
}

/* When the main thread has exited (its exe, fd and maps are then empty)
 * while other threads run: the directory of one of them, else -1. Kernel
 * threads and zombies have one thread and cost one statx. */
int rm_live_thread(int pd, pid_t pid, pid_t *tid)
{
    if (thread_count(pd) < 2)
        return -1;
    pid_t *tids;
    size_t n = read_tids(pd, pid, &tids);
    int found = -1;
    for (size_t i = 0; i < n && found < 0; i++) {
        int td = open_task(pd, tids[i]);
        struct statx sx;
        if (td >= 0 &&
            statx(td, "exe", RM_STATX_FLAGS, STATX_TYPE, &sx) == 0) {
            found = td;
            *tid = tids[i];
        } else if (td >= 0)
            close(td);
    }
    free(tids);
    return found;
}

/* Threads that have a file table of their own (unshare(CLONE_FILES)):
 * their descriptors, which the process's fd directory does not show.
 * kcmp tells which threads share the table of `base` (the thread whose
 * table was scanned); only the others are read. 1 when one of them uses a
 * registered file. */
int rm_scan_thread_tables(rm_scan *s, int pd, pid_t base)
{
    if (s->no_kcmp || thread_count(pd) < 2)
        return 0;
    pid_t *tids;
    size_t n = read_tids(pd, base, &tids);
    pid_t seen[8];
    size_t nseen = 0;
    int found = 0;
    for (size_t i = 0; i < n && (!found || s->u != NULL) && !s->no_kcmp;
         i++) {
        long same = syscall(SYS_kcmp, base, tids[i], KCMP_FILES, 0, 0);
        if (same < 0 && (errno == ENOSYS || errno == EPERM)) {
            /* No kcmp here (a seccomp filter, a kernel without it): every
             * thread's table would have to be read, at a cost out of
             * proportion, so this scan leaves threads' own tables out. */
            s->no_kcmp = 1;
            break;
        }
        for (size_t k = 0; same != 0 && k < nseen; k++)
            same = syscall(SYS_kcmp, seen[k], tids[i], KCMP_FILES, 0, 0);
        if (same == 0)
            continue;
        if (nseen < sizeof seen / sizeof seen[0])
            seen[nseen++] = tids[i];
        int td = open_task(pd, tids[i]);
        if (td >= 0) {
            found |= rm_scan_fds(s, td, 0) > 0;
            close(td);
        }
    }
    free(tids);
    return found;
}