/* A process's file-backed mappings judged against a session's registrations:
 * through PROCMAP_QUERY (Linux 6.11+), one ioctl per mapping, else by
 * parsing /proc/PID/maps. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "scan.h"

/* linux/fs.h of 6.11+; defined here because older headers lack it. */
struct rm_procmap_query {
    uint64_t size;
    uint64_t query_flags;
    uint64_t query_addr;
    uint64_t vma_start;
    uint64_t vma_end;
    uint64_t vma_flags;
    uint64_t vma_page_size;
    uint64_t vma_offset;
    uint64_t inode;
    uint32_t dev_major;
    uint32_t dev_minor;
    uint32_t vma_name_size;
    uint32_t build_id_size;
    uint64_t vma_name_addr;
    uint64_t build_id_addr;
};
#define RM_PROCMAP_QUERY _IOWR('f', 17, struct rm_procmap_query)
#define RM_PROCMAP_COVERING_OR_NEXT_VMA 0x10
#define RM_PROCMAP_FILE_BACKED_VMA 0x20

/* The name of the mapping at addr into s->link; its length, or -1. */
static long mapping_name(rm_scan *s, int mfd, uint64_t addr)
{
    struct rm_procmap_query q;
    memset(&q, 0, sizeof q);
    q.size = sizeof q;
    q.query_flags = RM_PROCMAP_COVERING_OR_NEXT_VMA;
    q.query_addr = addr;
    q.vma_name_addr = (uint64_t)(uintptr_t)s->link;
    q.vma_name_size = (uint32_t)sizeof s->link;
    if (ioctl(mfd, RM_PROCMAP_QUERY, &q) != 0 || q.vma_name_size == 0)
        return -1;
    return (long)q.vma_name_size - 1;
}

static int mapping_matches(rm_scan *s, int mfd, uint64_t dev,
                           uint64_t ino, uint64_t addr)
{
    int found = rm_resources_has_id(s->res, dev, ino);
    if (!found && (s->res->npaths > 0 || s->stale)) {
        int state = rm_fidset_get(&s->deleted, dev, ino);
        if (state == 0) {
            long n = mapping_name(s, mfd, addr);
            if (n < 0)
                return 0;
            state = rm_judge_name(s, s->link, (size_t)n);
            if (rm_fidset_put(&s->deleted, dev, ino, state) != 0) {
                s->oom = 1;
                return 0;
            }
        }
        found = (state & RM_COUNTS_CODE) != 0;
    }
    if (found && s->u != NULL &&
        !rm_usage_mark(s->u, dev, ino, RSTRTMGR_USES_MAPPING)) {
        long n = mapping_name(s, mfd, addr);
        if (n > 0)
            rm_record(s, dev, ino, RSTRTMGR_USES_MAPPING, s->link, (size_t)n);
    }
    return found;
}

/* Reads the whole maps text into s->text; its length, or -1. */
static ssize_t read_maps_text(rm_scan *s, int mfd)
{
    size_t n = 0;
    for (;;) {
        if (RM_GROW(s->text, s->text_size, n + 4096, 4096) != 0) {
            s->oom = 1;
            return -1;
        }
        ssize_t k = read(mfd, s->text + n, s->text_size - n - 1);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return -1;
        if (k == 0)
            break;
        n += (size_t)k;
    }
    s->text[n] = '\0';
    return (ssize_t)n;
}

/* One line of maps: "start-end perms offset MAJ:MIN inode   path". Only the
 * device and inode are parsed, and the path only of "(deleted)" lines. */
static int maps_line_matches(rm_scan *s, char *line, char *end)
{
    char *p = line;
    for (int spaces = 0; p < end && spaces < 3; p++)
        if (*p == ' ')
            spaces++;
    char *q;
    unsigned long maj = strtoul(p, &q, 16);
    if (*q != ':')
        return 0;
    unsigned long min = strtoul(q + 1, &q, 16);
    unsigned long long ino = strtoull(q, &q, 10);
    if (ino == 0)
        return 0;
    uint64_t dev = makedev(maj, min);
    int found = rm_resources_has_id(s->res, dev, ino);
    while (q < end && *q == ' ')
        q++;
    size_t n = (size_t)(end - q);
    if (!found && (s->res->npaths > 0 || s->stale) && rm_is_deleted_name(q, n))
        found = (rm_judge_name(s, q, n) & RM_COUNTS_CODE) != 0;
    if (found && s->u != NULL &&
        !rm_usage_mark(s->u, dev, ino, RSTRTMGR_USES_MAPPING))
        rm_record(s, dev, ino, RSTRTMGR_USES_MAPPING, q, n);
    return found;
}

static int scan_maps_text(rm_scan *s, int mfd)
{
    ssize_t n = read_maps_text(s, mfd);
    if (n <= 0)
        return n < 0 && (errno == EACCES || errno == EPERM) ? -1 : 0;
    char *line = s->text, *stop = s->text + n;
    int found = 0;
    while (line < stop) {
        char *nl = memchr(line, '\n', (size_t)(stop - line));
        char *end = nl != NULL ? nl : stop;
        if (maps_line_matches(s, line, end)) {
            found = 1;
            if (s->u == NULL)
                break;
        }
        line = end + 1;
    }
    return found;
}

/* 1 when a mapping uses a registered file, 0 when none, -1 when the
 * mappings cannot be read. */
int rm_scan_maps(rm_scan *s, int pd)
{
    int mfd = openat(pd, "maps", O_RDONLY | O_CLOEXEC);
    if (mfd < 0)
        return errno == EACCES || errno == EPERM ? -1 : 0;
    int found = 0;
    if (s->procmap) {
        struct rm_procmap_query q;
        uint64_t addr = 0;
        for (;;) {
            memset(&q, 0, sizeof q);
            q.size = sizeof q;
            q.query_flags =
                RM_PROCMAP_COVERING_OR_NEXT_VMA | RM_PROCMAP_FILE_BACKED_VMA;
            q.query_addr = addr;
            if (ioctl(mfd, RM_PROCMAP_QUERY, &q) != 0) {
                if (errno == ENOTTY || errno == EINVAL || errno == EOPNOTSUPP)
                    s->procmap = 0; /* an older kernel: use the text */
                else if (errno == EACCES || errno == EPERM)
                    found = -1;
                break;
            }
            uint64_t dev = makedev(q.dev_major, q.dev_minor);
            if (mapping_matches(s, mfd, dev, q.inode, q.vma_start)) {
                found = 1;
                if (s->u == NULL)
                    break;
            }
            if (q.vma_end <= addr)
                break;
            addr = q.vma_end;
        }
        if (s->procmap || found > 0 || found < 0) {
            close(mfd);
            return found;
        }
    }
    found = scan_maps_text(s, mfd);
    close(mfd);
    return found;
}