/* Process identity on Linux: a pid is only trusted with its start time. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <poll.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "base.h"

/* FILETIME of the Unix epoch: 100 ns intervals from 1601 to 1970. */
#define EPOCH_AS_FILETIME 116444736000000000ULL
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
/* statfs(2)'s f_type of pidfs, where pidfds live since Linux 6.9. */
#define PIDFS_MAGIC 0x50494446

int rm_pstat_at(int dirfd, const char *name, rm_pstat *out)
{
    char buf[1024];
    ssize_t len = rm_read_small_at(dirfd, name, buf, sizeof buf);
    if (len <= 0) {
        if (len == 0)
            errno = EINVAL;
        return -1;
    }
    /* comm may hold spaces and parentheses: the fields follow the last ')'. */
    char *open = strchr(buf, '('), *close_ = strrchr(buf, ')');
    if (open == NULL || close_ == NULL || close_ < open || close_[1] != ' ') {
        errno = EINVAL;
        return -1;
    }
    size_t n = (size_t)(close_ - open - 1);
    if (n >= sizeof out->comm)
        n = sizeof out->comm - 1;
    memcpy(out->comm, open + 1, n);
    out->comm[n] = '\0';
    out->state = close_[2];
    /* Fields after the state: 4 ppid, 5 pgrp, 6 session, 7 tty_nr,
     * 8 tpgid, 9 flags, ..., 22 starttime. */
    unsigned long long v[20];
    char *p = close_ + 3;
    for (int i = 4; i <= 22; i++) {
        char *e;
        v[i - 4] = strtoull(p, &e, 10);
        if (e == p && i != 4) {
            errno = EINVAL;
            return -1;
        }
        p = e;
    }
    out->tty = (int)v[7 - 4];
    out->flags = (unsigned)v[9 - 4];
    out->start_ticks = v[22 - 4];
    return 0;
}

static int is_dead(char state)
{
    return state == 'Z' || state == 'X' || state == 'x';
}

static uint64_t ticks_per_second(void)
{
    long hz = sysconf(_SC_CLK_TCK);
    return hz > 0 && hz <= 10000000 ? (uint64_t)hz : 100;
}

/* FILETIME units (100 ns) in a clock tick. */
static uint64_t tick_units(void) { return 10000000ULL / ticks_per_second(); }

/* The sub-tick part of the identity of the process behind pidfd: its pidfs
 * inode number (unique for the boot) folded into 1 .. units-1; 0 where
 * pidfds are not pidfs inodes (before Linux 6.9 they share one anon inode),
 * so the identity falls back to the tick. */
static uint64_t pidfd_subtick(int pidfd)
{
    /* Where pidfds live is the kernel's for good: asked once (0 not known
     * yet, 1 pidfs, -1 not), not once a process. */
    static atomic_int pidfs;
    struct statfs sfs;
    struct stat st;
    uint64_t units = tick_units();
    if (pidfd < 0 || units < 2)
        return 0;
    int known = atomic_load_explicit(&pidfs, memory_order_relaxed);
    if (known == 0) {
        if (fstatfs(pidfd, &sfs) != 0)
            return 0;
        known = (unsigned long)sfs.f_type == PIDFS_MAGIC ? 1 : -1;
        atomic_store_explicit(&pidfs, known, memory_order_relaxed);
    }
    if (known < 0 || fstat(pidfd, &st) != 0)
        return 0;
    return 1 + (uint64_t)st.st_ino % (units - 1);
}

/* Whether the process of a pidfd has exited (its pidfd polls readable). */
static int pidfd_exited(int pidfd)
{
    struct pollfd p = {pidfd, POLLIN, 0};
    return poll(&p, 1, 0) != 0;
}

int rm_procid_pidfd(pid_t pid)
{
    return (int)syscall(SYS_pidfd_open, pid, 0);
}

int rm_procid_of_pidfd(int pidfd, pid_t pid, rm_procid *out)
{
    char path[64];
    rm_pstat ps;
    if (pid <= 0)
        return -1;
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    if (rm_pstat_at(AT_FDCWD, path, &ps) != 0 || is_dead(ps.state))
        return -1;
    /* Alive after the read: the pid was not reused, the ticks are its own. */
    if (pidfd >= 0 && pidfd_exited(pidfd))
        return -1;
    out->pid = pid;
    out->start_ticks = ps.start_ticks * tick_units() + pidfd_subtick(pidfd);
    return 0;
}

int rm_procid_of(pid_t pid, rm_procid *out)
{
    if (pid <= 0)
        return -1;
    int fd = rm_procid_pidfd(pid);
    if (fd < 0 && errno == ESRCH)
        return -1;
    /* Without a pidfd (an old kernel, a seccomp filter) the tick is all. */
    int rc = rm_procid_of_pidfd(fd, pid, out);
    if (fd >= 0)
        close(fd);
    return rc;
}

uint64_t rm_procid_start_of(pid_t pid, uint64_t ticks)
{
    rm_procid id;
    uint64_t units = tick_units();
    if (rm_procid_of(pid, &id) == 0 && id.start_ticks / units == ticks)
        return id.start_ticks;
    return ticks * units;
}

uint64_t rm_procid_refine(int procdir, pid_t pid, uint64_t ticks)
{
    int fd = rm_procid_pidfd(pid);
    if (fd < 0)
        return ticks * tick_units();
    /* The /proc directory still names a live process after the pidfd was
     * opened: the pid was not reused in between, the pidfd is its. A look-up
     * under it fails once its process is reaped (proc revalidates each
     * entry against its task), as opening one does, in one call. */
    struct stat st;
    uint64_t start = fstatat(procdir, "stat", &st, 0) == 0
                         ? ticks * tick_units() + pidfd_subtick(fd)
                         : UINT64_MAX;
    close(fd);
    return start;
}

uint64_t rm_procid_pinned(int pidfd, uint64_t ticks)
{
    return ticks * tick_units() + pidfd_subtick(pidfd);
}

rm_procid rm_procid_self(void)
{
    static _Thread_local rm_procid cached;
    pid_t pid = getpid();
    if (cached.pid != pid && rm_procid_of(pid, &cached) != 0) {
        cached.pid = 0;
        rm_procid none = {pid, 0};
        return none;
    }
    return cached;
}

int rm_procid_alive(const rm_procid *id)
{
    /* This process is alive, and reading /proc costs more than the rest of
     * a session start: sessions are mostly checked by their own process. */
    if (id->pid == getpid())
        return id->start_ticks == rm_procid_self().start_ticks;
    rm_procid now;
    return rm_procid_of(id->pid, &now) == 0 &&
           now.start_ticks == id->start_ticks;
}

static uint64_t boot_time_seconds(void)
{
    /* Read once per process: every FILETIME it hands out must agree. Threads
     * may race to read it; they all store the same value. */
    static uint64_t btime;
    uint64_t b = __atomic_load_n(&btime, __ATOMIC_RELAXED);
    if (b == 0) {
        char buf[8192];
        if (rm_read_small_at(AT_FDCWD, "/proc/stat", buf, sizeof buf) > 0) {
            char *p = strstr(buf, "\nbtime ");
            if (p != NULL)
                b = strtoull(p + 7, NULL, 10);
        }
        __atomic_store_n(&btime, b, __ATOMIC_RELAXED);
    }
    return b;
}

FILETIME rm_procid_filetime(uint64_t start_ticks)
{
    uint64_t t =
        EPOCH_AS_FILETIME + boot_time_seconds() * 10000000ULL + start_ticks;
    FILETIME ft = {(DWORD)(t & 0xFFFFFFFFu), (DWORD)(t >> 32)};
    return ft;
}

int rm_procid_ticks(FILETIME ft, uint64_t *ticks)
{
    uint64_t t = ((uint64_t)ft.dwHighDateTime << 32) | ft.dwLowDateTime;
    uint64_t base = EPOCH_AS_FILETIME + boot_time_seconds() * 10000000ULL;
    if (t < base || t - base == UINT64_MAX)
        return -1;
    *ticks = t - base;
    return 0;
}

/* A thread's /proc/TID/stat reads like a process's; only a process whose
 * thread-group leader it is has that pid. */
static int is_process(unsigned pid)
{
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/%u/status", pid);
    ssize_t len = rm_read_small_at(AT_FDCWD, path, buf, sizeof buf);
    if (len <= 0) {
        if (len == 0)
            errno = EINVAL;
        return -1;
    }
    const char *t = strstr(buf, "\nTgid:");
    return t != NULL && strtoul(t + 6, NULL, 10) == pid;
}

DWORD rstrtmgr_process_start_time(DWORD dwProcessId, FILETIME *pStartTime)
{
    rm_detail_clear();
    if (pStartTime == NULL) {
        rm_detail_set("rstrtmgr_process_start_time needs pStartTime");
        return ERROR_INVALID_PARAMETER;
    }
    unsigned pid = (unsigned)dwProcessId;
    char path[64];
    rm_pstat ps;
    snprintf(path, sizeof path, "/proc/%u/stat", pid);
    int r = -1;
    errno = ESRCH;
    if (pid > 0 && pid <= INT_MAX)
        r = rm_pstat_at(AT_FDCWD, path, &ps);
    if (r == 0)
        r = is_process(pid);
    if (r < 0 && (errno == EACCES || errno == EPERM)) {
        rm_detail_set("cannot read process %u: %s", pid, strerror(errno));
        return ERROR_ACCESS_DENIED;
    }
    rm_procid id;
    if (r <= 0 || is_dead(ps.state) || rm_procid_of((pid_t)pid, &id) != 0) {
        rm_detail_set("no live process has pid %u", pid);
        return ERROR_INVALID_PARAMETER;
    }
    *pStartTime = rm_procid_filetime(id.start_ticks);
    return ERROR_SUCCESS;
}
