/* Process identity on Linux: a pid is only trusted with its start time. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

/* FILETIME of the Unix epoch: 100 ns intervals from 1601 to 1970. */
#define EPOCH_AS_FILETIME 116444736000000000ULL

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

int rm_procid_of(pid_t pid, rm_procid *out)
{
    char path[64];
    rm_pstat ps;
    if (pid <= 0)
        return -1;
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    if (rm_pstat_at(AT_FDCWD, path, &ps) != 0 || is_dead(ps.state))
        return -1;
    out->pid = pid;
    out->start_ticks = ps.start_ticks;
    return 0;
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

static uint64_t ticks_per_second(void)
{
    long hz = sysconf(_SC_CLK_TCK);
    return hz > 0 ? (uint64_t)hz : 100;
}

FILETIME rm_procid_filetime(uint64_t start_ticks)
{
    uint64_t hz = ticks_per_second();
    uint64_t t = EPOCH_AS_FILETIME + boot_time_seconds() * 10000000ULL +
                 start_ticks * (10000000ULL / hz);
    FILETIME ft = {(DWORD)(t & 0xFFFFFFFFu), (DWORD)(t >> 32)};
    return ft;
}

int rm_procid_ticks(FILETIME ft, uint64_t *ticks)
{
    uint64_t hz = ticks_per_second();
    uint64_t t = ((uint64_t)ft.dwHighDateTime << 32) | ft.dwLowDateTime;
    uint64_t base = EPOCH_AS_FILETIME + boot_time_seconds() * 10000000ULL;
    uint64_t unit = 10000000ULL / hz;
    if (t < base || (t - base) % unit != 0)
        return -1;
    *ticks = (t - base) / unit;
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
    if (r <= 0 || is_dead(ps.state)) {
        rm_detail_set("no live process has pid %u", pid);
        return ERROR_INVALID_PARAMETER;
    }
    *pStartTime = rm_procid_filetime(ps.start_ticks);
    return ERROR_SUCCESS;
}
