/* One process's entries judged against a session's registrations: its
 * executable and descriptors by (dev, ino), unlinked files by the kernel's
 * name for them, and each use recorded when details are asked for. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "scan.h"

#define DELETED " (deleted)"
#define DELETED_LEN (sizeof DELETED - 1)

int rm_is_deleted_name(const char *name, size_t n)
{
    return n > DELETED_LEN &&
           memcmp(name + n - DELETED_LEN, DELETED, DELETED_LEN) == 0;
}

/* The RM_DEL_* bits of a file that the kernel names `name` (n bytes). */
int rm_judge_name(const rm_scan *s, const char *name, size_t n)
{
    int state = RM_DEL_JUDGED;
    if (!rm_is_deleted_name(name, n))
        return state;
    n -= DELETED_LEN;
    if (rm_resources_has_path(s->res, name, n))
        state |= RM_DEL_REGISTERED;
    if (s->stale && rm_stale_name(s->res, name, n, 0))
        state |= RM_DEL_STALE;
    else if (s->stale && rm_stale_name(s->res, name, n, 1))
        state |= RM_DEL_STALE_CODE;
    return state;
}

/* Records one use of the holder being detailed; `name` is the kernel's. */
void rm_record(rm_scan *s, uint64_t dev, uint64_t ino, unsigned how,
               const char *name, size_t n)
{
    if (rm_is_deleted_name(name, n)) {
        n -= DELETED_LEN;
        how |= RSTRTMGR_USES_DELETED;
    }
    if (rm_usage_add(s->u, dev, ino, how, name, n) != 0)
        s->oom = 1;
}

void rm_record_link(rm_scan *s, int dirfd, const char *name,
                    uint64_t dev, uint64_t ino, unsigned how)
{
    if (rm_usage_mark(s->u, dev, ino, how))
        return;
    ssize_t n = readlinkat(dirfd, name, s->link, sizeof s->link - 1);
    if (n > 0)
        rm_record(s, dev, ino, how, s->link, (size_t)n);
}

/* An open file whose (dev, ino) is unknown but that was unlinked: it may be
 * what a registered path named before an installer replaced it, or an
 * upgrade's leftover. Its RM_DEL_* bits. */
static int deleted_fd_state(rm_scan *s, int dirfd, const char *name,
                            uint64_t dev, uint64_t ino)
{
    int state = rm_fidset_get(&s->deleted, dev, ino);
    if (state == 0) {
        ssize_t n = readlinkat(dirfd, name, s->link, sizeof s->link - 1);
        if (n < 0)
            return 0; /* gone meanwhile: judge it again if seen again */
        state = rm_judge_name(s, s->link, (size_t)n);
        if (rm_fidset_put(&s->deleted, dev, ino, state) != 0) {
            s->oom = 1;
            return 0;
        }
    }
    return state;
}

/* Whether the file of entry `name` of dirfd (a descriptor, or "exe" when
 * `counts` is RM_COUNTS_CODE) uses the session's resources. */
int rm_statx_matches(rm_scan *s, int dirfd, const char *name,
                     const struct statx *sx, int counts)
{
    uint64_t dev = makedev(sx->stx_dev_major, sx->stx_dev_minor);
    if (rm_resources_has_id(s->res, dev, sx->stx_ino))
        return 1;
    return sx->stx_nlink == 0 && S_ISREG(sx->stx_mode) &&
           (s->res->npaths > 0 || s->stale) &&
           (deleted_fd_state(s, dirfd, name, dev, sx->stx_ino) & counts);
}

/* 1 when a descriptor uses a registered file, 0 when none, -1 when the
 * descriptors cannot be read. own: pd is this process's, whose descriptors
 * are asked by number (statx of the descriptor itself, the file that the
 * link under fd/ names) instead of through procfs's magic links: 0.6
 * against 3.7 us each here, and a process that lists keeps a directory
 * open for each holder (procdirs.c). */
int rm_scan_fds(rm_scan *s, int pd, int own)
{
    int dfd = openat(pd, "fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return errno == EACCES || errno == EPERM ? -1 : 0;
    int found = 0;
    for (;;) {
        long n = syscall(SYS_getdents64, dfd, s->dents, s->dents_size);
        if (n <= 0)
            break;
        for (long off = 0; off < n && (!found || s->u != NULL);) {
            rm_dirent64 *d = (void *)(s->dents + off);
            off += d->d_reclen;
            if (d->d_name[0] == '.')
                continue;
            struct statx sx;
            int n = own ? (int)strtol(d->d_name, NULL, 10) : -1;
            if ((own ? statx(n, "", RM_STATX_FLAGS | AT_EMPTY_PATH,
                             RM_STATX_MASK, &sx) != 0
                     : statx(dfd, d->d_name, RM_STATX_FLAGS, RM_STATX_MASK,
                             &sx) != 0) ||
                !rm_statx_matches(s, dfd, d->d_name, &sx, RM_COUNTS_FD))
                continue;
            if (!found)
                s->matched_fd = (int)strtol(d->d_name, NULL, 10);
            found = 1;
            if (s->u != NULL)
                rm_record_link(s, dfd, d->d_name,
                               makedev(sx.stx_dev_major, sx.stx_dev_minor),
                               sx.stx_ino, RSTRTMGR_USES_FD);
        }
        /* procfs fills the buffer until the table ends or the buffer is
         * full: room left for one more entry means the table has ended,
         * which saves the empty getdents64 of every process. */
        if ((found && s->u == NULL) ||
            (size_t)n + sizeof(rm_dirent64) + 256 <= s->dents_size)
            break;
    }
    close(dfd);
    return found;
}
