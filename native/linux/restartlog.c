/* The output of restarted programs: one log per restart in the caller's
 * store, `logs/<pid>-<ticks>` after the program it holds, to which the
 * program's stdout and stderr go. The program writes to it directly (a pipe
 * would need a reader for as long as it runs), so a log is kept to its last
 * RM_LOG_MAX bytes when its settle time ends and at each later RmRestart
 * of the store, and removed once its program is gone. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define LOGS_DIR "logs"
#define NEW_PREFIX ".new-"
/* A log whose restart never finished (its caller died) is dropped once it
 * has not been written for this long. */
#define ORPHAN_SECONDS 600

static int logs_dirfd(int storefd, int create)
{
    if (create && mkdirat(storefd, LOGS_DIR, 0700) != 0 && errno != EEXIST)
        return -1;
    return openat(storefd, LOGS_DIR,
                  O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

/* fd moved to 3 or above, so that the program's dup2 onto 0-2 never finds
 * it there already (dup2 onto itself would keep close-on-exec). */
static int above_stdio(int fd)
{
    if (fd < 0 || fd > 2)
        return fd;
    int moved = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    close(fd);
    return moved;
}

int rm_log_create(int storefd, rm_log *lg)
{
    memset(lg, 0, sizeof *lg);
    lg->wfd = lg->rfd = -1;
    lg->dirfd = logs_dirfd(storefd, 1);
    unsigned char rnd[8];
    if (lg->dirfd < 0 || rm_random(rnd, sizeof rnd) != 0)
        goto fail;
    int n = snprintf(lg->name, sizeof lg->name, NEW_PREFIX);
    for (size_t i = 0; i < sizeof rnd; i++)
        n += snprintf(lg->name + n, sizeof lg->name - (size_t)n, "%02x",
                      rnd[i]);
    lg->wfd = above_stdio(openat(lg->dirfd, lg->name,
                                 O_WRONLY | O_CREAT | O_EXCL | O_APPEND |
                                     O_NOFOLLOW | O_CLOEXEC,
                                 0600));
    if (lg->wfd < 0)
        goto fail;
    lg->rfd = openat(lg->dirfd, lg->name, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
    if (lg->rfd >= 0)
        return 0;
    unlinkat(lg->dirfd, lg->name, 0);
fail:
    rm_log_close(lg);
    return -1;
}

void rm_log_close(rm_log *lg)
{
    if (lg->wfd >= 0)
        close(lg->wfd);
    if (lg->rfd >= 0)
        close(lg->rfd);
    if (lg->dirfd >= 0)
        close(lg->dirfd);
    lg->wfd = lg->rfd = lg->dirfd = -1;
}

/* Keeps the last RM_LOG_MAX bytes of the log open as fd (read-write, not
 * appending); a line written meanwhile may be lost, never the file. */
static void trim(int fd)
{
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size <= (off_t)RM_LOG_MAX)
        return;
    char *buf = malloc(RM_LOG_MAX);
    ssize_t n = buf != NULL ? pread(fd, buf, RM_LOG_MAX,
                                    st.st_size - (off_t)RM_LOG_MAX)
                            : -1;
    if (n > 0 && ftruncate(fd, 0) == 0 && pwrite(fd, buf, (size_t)n, 0) < 0) {
        /* the tail is lost; the log stays bounded */
    }
    free(buf);
}

/* The last `max` bytes of the log, from the start of a line when it is
 * longer; malloc'd into *out, its length returned (0: none). */
static uint32_t tail_of(int fd, size_t max, char **out)
{
    *out = NULL;
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size <= 0)
        return 0;
    size_t want = (size_t)st.st_size < max ? (size_t)st.st_size : max;
    char *buf = malloc(want);
    ssize_t n = buf != NULL
                    ? pread(fd, buf, want, st.st_size - (off_t)want)
                    : -1;
    if (n <= 0) {
        free(buf);
        return 0;
    }
    size_t start = 0;
    if ((size_t)st.st_size > want) {
        const char *nl = memchr(buf, '\n', (size_t)n - 1);
        if (nl != NULL)
            start = (size_t)(nl - buf) + 1;
    }
    memmove(buf, buf + start, (size_t)n - start);
    *out = buf;
    return (uint32_t)((size_t)n - start);
}

uint32_t rm_log_finish(rm_log *lg, const rm_procid *program, char **tail)
{
    *tail = NULL;
    if (lg->rfd < 0)
        return 0;
    trim(lg->rfd);
    uint32_t len = tail_of(lg->rfd, RSTRTMGR_OUTPUT_TAIL_MAX, tail);
    char name[64];
    if (program != NULL && program->pid > 0) {
        snprintf(name, sizeof name, "%d-%" PRIu64, (int)program->pid,
                 program->start_ticks);
        if (renameat(lg->dirfd, lg->name, lg->dirfd, name) != 0)
            unlinkat(lg->dirfd, lg->name, 0);
    } else {
        unlinkat(lg->dirfd, lg->name, 0); /* nothing ran to write it */
    }
    rm_log_close(lg);
    return len;
}

void rm_logs_prune(int storefd)
{
    int dirfd = logs_dirfd(storefd, 0);
    if (dirfd < 0)
        return;
    DIR *d = rm_open_dir_at(dirfd);
    struct dirent *de;
    time_t now = time(NULL);
    while (d != NULL && (de = readdir(d)) != NULL) {
        int pid;
        uint64_t ticks;
        char rest;
        struct stat st;
        if (strncmp(de->d_name, NEW_PREFIX, strlen(NEW_PREFIX)) == 0) {
            if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                now - st.st_mtime > ORPHAN_SECONDS)
                unlinkat(dirfd, de->d_name, 0);
            continue;
        }
        if (sscanf(de->d_name, "%d-%" SCNu64 "%c", &pid, &ticks, &rest) != 2)
            continue;
        rm_procid id = {pid, ticks};
        if (!rm_procid_alive(&id)) {
            unlinkat(dirfd, de->d_name, 0);
            continue;
        }
        int fd = openat(dirfd, de->d_name,
                        O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
            trim(fd);
        if (fd >= 0)
            close(fd);
    }
    if (d != NULL)
        closedir(d);
    close(dirfd);
}
