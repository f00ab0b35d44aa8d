/* Process identity on Linux: a pid is only trusted with its start time. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "internal.h"

/* FILETIME of the Unix epoch: 100 ns intervals from 1601 to 1970. */
#define EPOCH_AS_FILETIME 116444736000000000ULL

ssize_t rm_read_small_at(int dirfd, const char *name, char *buf, size_t size)
{
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n;
    do
        n = read(fd, buf, size - 1);
    while (n < 0 && errno == EINTR);
    close(fd);
    if (n < 0)
        return -1;
    buf[n] = '\0';
    return n;
}

int rm_procid_of(pid_t pid, rm_procid *out)
{
    char path[64], buf[1024];
    if (pid <= 0)
        return -1;
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    if (rm_read_small_at(AT_FDCWD, path, buf, sizeof buf) <= 0)
        return -1;
    /* comm may hold spaces and parentheses: the fields follow the last ')'. */
    char *p = strrchr(buf, ')');
    if (p == NULL || p[1] != ' ')
        return -1;
    char state = p[2];
    if (state == 'Z' || state == 'X' || state == 'x')
        return -1;
    /* p + 2 is field 3 (state); the start time is field 22. */
    p += 2;
    for (int field = 3; field < 22; field++) {
        p = strchr(p, ' ');
        if (p == NULL)
            return -1;
        p++;
    }
    char *end;
    errno = 0;
    unsigned long long ticks = strtoull(p, &end, 10);
    if (errno != 0 || end == p)
        return -1;
    out->pid = pid;
    out->start_ticks = ticks;
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

int rm_random(void *buf, size_t len)
{
    unsigned char *p = buf;
    while (len > 0) {
        ssize_t n = getrandom(p, len, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}
