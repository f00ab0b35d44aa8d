/* The /proc walk: which processes use a session's files, through their
 * executable, descriptors and mappings; on several threads when there are
 * many processes. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/kcmp.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "internal.h"

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

#define PF_KTHREAD 0x00200000u
#define DELETED " (deleted)"
#define DELETED_LEN (sizeof DELETED - 1)
/* statx never waits for a remote server nor triggers an automount, so a dead
 * network mount cannot hang the scan. */
#define STATX_FLAGS (AT_STATX_DONT_SYNC | AT_NO_AUTOMOUNT)
#define STATX_MASK (STATX_TYPE | STATX_INO | STATX_NLINK)

struct linux_dirent64 {
    uint64_t d_ino;
    int64_t d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[];
};

/* One scan's state. Files already judged by name in this scan map (dev, ino)
 * to their DEL_* bits (`deleted`): shared libraries repeat across
 * processes, so each is looked up by name once. */
typedef struct scan {
    const rm_holder_ctx *ctx;
    const rm_resources *res;
    rm_list *out;
    int procfd;
    char *dents;
    size_t dents_size;
    char *text; /* maps text, when PROCMAP_QUERY is not there */
    size_t text_size;
    char link[PATH_MAX + 16];
    int procmap; /* 1 usable, 0 not: fall back to the maps text */
    rm_fidset deleted;
    const rm_pids *extra; /* sorted pids of registered processes and services */
    int stale;   /* deleted files count under stale paths (or anywhere) */
    int dirs;    /* trees are registered: working directories count */
    int tasks;   /* threads are looked into when they can differ */
    int no_kcmp; /* kcmp(2) is refused: threads' own tables are left out */
    int details; /* every use of each holder is recorded */
    rm_usage *u; /* the holder being recorded, during its second pass */
    int oom;
} scan;

/* What the "deleted" cache holds for a (dev, ino), from its "PATH
 * (deleted)" name: bits, never 0. */
enum {
    DEL_JUDGED = 0x1,
    DEL_REGISTERED = 0x2, /* PATH is a registered file */
    DEL_STALE = 0x4,      /* PATH is under a stale path */
    DEL_STALE_CODE = 0x8, /* stale anywhere, for executables and mappings */
};
/* Which of those make a use count: descriptors are not code. */
#define COUNTS_FD (DEL_REGISTERED | DEL_STALE)
#define COUNTS_CODE (DEL_REGISTERED | DEL_STALE | DEL_STALE_CODE)

static int is_deleted_name(const char *name, size_t n)
{
    return n > DELETED_LEN &&
           memcmp(name + n - DELETED_LEN, DELETED, DELETED_LEN) == 0;
}

/* The DEL_* bits of a file that the kernel names `name` (n bytes). */
static int judge_name(const scan *s, const char *name, size_t n)
{
    int state = DEL_JUDGED;
    if (!is_deleted_name(name, n))
        return state;
    n -= DELETED_LEN;
    if (rm_resources_has_path(s->res, name, n))
        state |= DEL_REGISTERED;
    if (s->stale && rm_stale_name(s->res, name, n, 0))
        state |= DEL_STALE;
    else if (s->stale && rm_stale_name(s->res, name, n, 1))
        state |= DEL_STALE_CODE;
    return state;
}

/* Records one use of the holder being detailed; `name` is the kernel's. */
static void record(scan *s, uint64_t dev, uint64_t ino, unsigned how,
                   const char *name, size_t n)
{
    if (is_deleted_name(name, n)) {
        n -= DELETED_LEN;
        how |= RSTRTMGR_USES_DELETED;
    }
    if (rm_usage_add(s->u, dev, ino, how, name, n) != 0)
        s->oom = 1;
}

static void record_link(scan *s, int dirfd, const char *name, uint64_t dev,
                        uint64_t ino, unsigned how)
{
    if (rm_usage_mark(s->u, dev, ino, how))
        return;
    ssize_t n = readlinkat(dirfd, name, s->link, sizeof s->link - 1);
    if (n > 0)
        record(s, dev, ino, how, s->link, (size_t)n);
}

/* An open file whose (dev, ino) is unknown but that was unlinked: it may be
 * what a registered path named before an installer replaced it, or an
 * upgrade's leftover. Its DEL_* bits. */
static int deleted_fd_state(scan *s, int dirfd, const char *name,
                            uint64_t dev, uint64_t ino)
{
    int state = rm_fidset_get(&s->deleted, dev, ino);
    if (state == 0) {
        ssize_t n = readlinkat(dirfd, name, s->link, sizeof s->link - 1);
        if (n < 0)
            return 0; /* gone meanwhile: judge it again if seen again */
        state = judge_name(s, s->link, (size_t)n);
        if (rm_fidset_put(&s->deleted, dev, ino, state) != 0) {
            s->oom = 1;
            return 0;
        }
    }
    return state;
}

/* Whether the file of entry `name` of dirfd (a descriptor, or "exe" when
 * `counts` is COUNTS_CODE) uses the session's resources. */
static int statx_matches(scan *s, int dirfd, const char *name,
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
 * descriptors cannot be read. */
static int scan_fds(scan *s, int pd)
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
            struct linux_dirent64 *d = (void *)(s->dents + off);
            off += d->d_reclen;
            if (d->d_name[0] == '.')
                continue;
            struct statx sx;
            if (statx(dfd, d->d_name, STATX_FLAGS, STATX_MASK, &sx) != 0 ||
                !statx_matches(s, dfd, d->d_name, &sx, COUNTS_FD))
                continue;
            found = 1;
            if (s->u != NULL)
                record_link(s, dfd, d->d_name,
                            makedev(sx.stx_dev_major, sx.stx_dev_minor),
                            sx.stx_ino, RSTRTMGR_USES_FD);
        }
        /* procfs fills the buffer until the table ends or the buffer is
         * full: room left for one more entry means the table has ended,
         * which saves the empty getdents64 of every process. */
        if ((found && s->u == NULL) ||
            (size_t)n + sizeof(struct linux_dirent64) + 256 <= s->dents_size)
            break;
    }
    close(dfd);
    return found;
}

/* The name of the mapping at addr into s->link; its length, or -1. */
static long mapping_name(scan *s, int mfd, uint64_t addr)
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

static int mapping_matches(scan *s, int mfd, uint64_t dev, uint64_t ino,
                           uint64_t addr)
{
    int found = rm_resources_has_id(s->res, dev, ino);
    if (!found && (s->res->npaths > 0 || s->stale)) {
        int state = rm_fidset_get(&s->deleted, dev, ino);
        if (state == 0) {
            long n = mapping_name(s, mfd, addr);
            if (n < 0)
                return 0;
            state = judge_name(s, s->link, (size_t)n);
            if (rm_fidset_put(&s->deleted, dev, ino, state) != 0) {
                s->oom = 1;
                return 0;
            }
        }
        found = (state & COUNTS_CODE) != 0;
    }
    if (found && s->u != NULL &&
        !rm_usage_mark(s->u, dev, ino, RSTRTMGR_USES_MAPPING)) {
        long n = mapping_name(s, mfd, addr);
        if (n > 0)
            record(s, dev, ino, RSTRTMGR_USES_MAPPING, s->link, (size_t)n);
    }
    return found;
}

/* Reads the whole maps text into s->text; its length, or -1. */
static ssize_t read_maps_text(scan *s, int mfd)
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
static int maps_line_matches(scan *s, char *line, char *end)
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
    if (!found && (s->res->npaths > 0 || s->stale) && is_deleted_name(q, n))
        found = (judge_name(s, q, n) & COUNTS_CODE) != 0;
    if (found && s->u != NULL &&
        !rm_usage_mark(s->u, dev, ino, RSTRTMGR_USES_MAPPING))
        record(s, dev, ino, RSTRTMGR_USES_MAPPING, q, n);
    return found;
}

static int scan_maps_text(scan *s, int mfd)
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
static int scan_maps(scan *s, int pd)
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

static int extra_has(const scan *s, pid_t pid)
{
    size_t lo = 0, hi = s->extra->count;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (s->extra->items[mid] == pid)
            return 1;
        if (s->extra->items[mid] < pid)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

/* ---- threads: a file table or an executable only a thread still has ---- */

/* The threads of the process (nlink of /proc/PID/task is 2 + threads): one
 * statx, the cheap test of whether its threads can differ at all. */
static unsigned thread_count(int pd)
{
    struct statx t;
    if (statx(pd, "task", STATX_FLAGS, STATX_NLINK, &t) != 0 ||
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
            struct linux_dirent64 *d = (void *)(buf + off);
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
static int live_thread(int pd, pid_t pid, pid_t *tid)
{
    if (thread_count(pd) < 2)
        return -1;
    pid_t *tids;
    size_t n = read_tids(pd, pid, &tids);
    int found = -1;
    for (size_t i = 0; i < n && found < 0; i++) {
        int td = open_task(pd, tids[i]);
        struct statx sx;
        if (td >= 0 && statx(td, "exe", STATX_FLAGS, STATX_TYPE, &sx) == 0) {
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
static int scan_thread_tables(scan *s, int pd, pid_t base)
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
            found |= scan_fds(s, td) > 0;
            close(td);
        }
    }
    free(tids);
    return found;
}

/* ---- one process -------------------------------------------------------- */

/* How process pid (md: the directory of its main thread, or of a live
 * thread when that has exited; exe: its executable's statx) uses the
 * resources: RM_HOLD_* bits; *denied when its files could not be read.
 * With s->u set, every use is recorded instead of stopping at the first. */
static unsigned uses(scan *s, int pd, int md, pid_t base,
                     const struct statx *exe, int *denied)
{
    unsigned why = 0;
    int all = s->u != NULL;
    if (statx_matches(s, md, "exe", exe, COUNTS_CODE)) {
        why = RM_HOLD_EXE;
        if (all)
            record_link(s, md, "exe",
                        makedev(exe->stx_dev_major, exe->stx_dev_minor),
                        exe->stx_ino, RSTRTMGR_USES_EXE);
    }
    /* A working directory matters only when a tree registered
     * directories. */
    struct statx cwd;
    if ((!why || all) && s->dirs &&
        statx(md, "cwd", STATX_FLAGS, STATX_MASK, &cwd) == 0) {
        uint64_t dev = makedev(cwd.stx_dev_major, cwd.stx_dev_minor);
        if (rm_resources_has_id(s->res, dev, cwd.stx_ino)) {
            why |= RM_HOLD_CWD;
            if (all)
                record_link(s, md, "cwd", dev, cwd.stx_ino,
                            RSTRTMGR_USES_CWD);
        }
    }
    /* Descriptors before mappings: a process has far fewer of them than
     * file-backed mappings, and a match ends the process's scan. */
    int r = why && !all ? 0 : scan_fds(s, md);
    if (r > 0)
        why |= RM_HOLD_FILE;
    *denied = r < 0;
    r = why && !all ? 0 : scan_maps(s, md);
    if (r > 0)
        why |= RM_HOLD_MAP;
    *denied |= r < 0;
    if ((!why || all) && !*denied && s->tasks &&
        scan_thread_tables(s, pd, base))
        why |= RM_HOLD_FILE;
    return why;
}

static void scan_pid(scan *s, const char *name, pid_t pid)
{
    int pd = openat(s->procfd, name, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (pd < 0)
        return; /* exited */
    unsigned why = 0;
    int denied = 0;
    struct statx sx;
    /* The executable first: it also sorts out kernel threads and zombies
     * (no executable: ENOENT) and processes we may not look into (EACCES)
     * with one call. A process whose main thread has exited also has no
     * executable: one of its live threads stands in for it. */
    int alt = -1;
    pid_t base = pid;
    int r = statx(pd, "exe", STATX_FLAGS, STATX_MASK, &sx);
    if (r != 0 && errno == ENOENT && s->tasks) {
        alt = live_thread(pd, pid, &base);
        r = alt >= 0 ? statx(alt, "exe", STATX_FLAGS, STATX_MASK, &sx) : -1;
        if (r != 0)
            errno = ENOENT;
    }
    int md = alt >= 0 ? alt : pd;
    if (r == 0) {
        why = uses(s, pd, md, base, &sx, &denied);
    } else if (errno == EACCES || errno == EPERM) {
        denied = 1;
    } else if (!extra_has(s, pid)) {
        close(pd);
        return;
    }
    int listed = extra_has(s, pid);
    if (why != 0 || denied || listed) {
        rm_pstat ps;
        /* A zombie main thread with live threads is a live process. */
        if (rm_pstat_at(pd, "stat", &ps) == 0 &&
            (alt >= 0 || (ps.state != 'Z' && ps.state != 'X')) &&
            !(ps.flags & PF_KTHREAD)) {
            rm_usage *u = NULL;
            if (s->details && (why != 0 || listed)) {
                u = rm_usage_new();
                if (u == NULL)
                    s->oom = 1;
                else
                    (void)rm_usage_read_cmdline(u, md); /* may be refused */
                s->u = u;
                int ignored;
                if (u != NULL && r == 0)
                    uses(s, pd, md, base, &sx, &ignored);
                s->u = NULL;
            }
            int added = rm_holder_add(s->ctx, md, pid, why, listed, &ps,
                                      s->out);
            if (added < 0)
                s->oom = 1;
            if (added == 1)
                s->out->items[s->out->count - 1].usage = u;
            else
                rm_usage_free(u);
            if (added <= 0 && denied)
                s->out->uninspected++;
        }
    }
    if (alt >= 0)
        close(alt);
    close(pd);
}

static int cmp_pid(const void *a, const void *b)
{
    pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;
    return x < y ? -1 : x > y;
}

/* ---- the scan over all pids, on up to SCAN_MAX_THREADS threads ---------- */

/* With more processes than this the pids are shared among threads (one per
 * usable CPU): a thread costs tens of microseconds, a process hundreds. */
#define SCAN_THREAD_MIN_PIDS 64
#define SCAN_MAX_THREADS 4
/* Threads take pids in runs of this many: few atomic operations, and a
 * small tail when processes cost very different amounts. */
#define SCAN_CHUNK 4

typedef struct pidwork {
    const pid_t *pids;
    size_t npids;
    atomic_size_t next;
} pidwork;

typedef struct worker {
    scan s; /* a copy of the shared scan with its own buffers and list */
    rm_list out;
    pidwork *work;
    pthread_t thread;
    int started;
} worker;

static void scan_pids(scan *s, pidwork *w)
{
    char name[16];
    while (!s->oom) {
        size_t i = atomic_fetch_add_explicit(&w->next, SCAN_CHUNK,
                                             memory_order_relaxed);
        if (i >= w->npids)
            break;
        size_t end = i + SCAN_CHUNK < w->npids ? i + SCAN_CHUNK : w->npids;
        for (; i < end && !s->oom; i++) {
            snprintf(name, sizeof name, "%d", (int)w->pids[i]);
            scan_pid(s, name, w->pids[i]);
        }
    }
}

static void *worker_main(void *arg)
{
    worker *wk = arg;
    scan_pids(&wk->s, wk->work);
    return NULL;
}

/* How many threads scan `npids` processes: one per CPU this process may
 * run on, at most SCAN_MAX_THREADS; RSTRTMGR_SCAN_THREADS=N overrides the
 * CPU count (1 gives the single-threaded scan, for comparison). */
static size_t scan_threads(size_t npids)
{
    if (npids <= SCAN_THREAD_MIN_PIDS)
        return 1;
    long n = 1;
    const char *env = getenv("RSTRTMGR_SCAN_THREADS");
    if (env != NULL && env[0] != '\0') {
        n = strtol(env, NULL, 10);
    } else {
        cpu_set_t set;
        if (sched_getaffinity(0, sizeof set, &set) == 0)
            n = CPU_COUNT(&set);
    }
    if (n < 1)
        n = 1;
    return n > SCAN_MAX_THREADS ? SCAN_MAX_THREADS : (size_t)n;
}

static int cmp_holder(const void *a, const void *b)
{
    pid_t x = ((const rm_holder *)a)->id.pid, y = ((const rm_holder *)b)->id.pid;
    return x < y ? -1 : x > y;
}

/* Appends a worker's holders to the list; the caller sorts by pid. */
static int merge_list(rm_list *to, const rm_list *from)
{
    if (RM_GROW(to->items, to->cap, to->count + from->count, 16) != 0)
        return -1;
    if (from->count > 0)
        memcpy(to->items + to->count, from->items,
               from->count * sizeof *from->items);
    to->count += from->count;
    to->reasons |= from->reasons;
    to->uninspected += from->uninspected;
    return 0;
}

/* Scans the pids on `nthreads` threads: this one and nthreads - 1 workers,
 * each with its own buffers, deleted-file cache and list; then merges the
 * lists in pid order. The holders, their order and the counts are those of
 * the single-threaded scan: each process is judged the same way whichever
 * thread looks at it. */
static void scan_threaded(scan *s, pidwork *work, size_t nthreads)
{
    worker wk[SCAN_MAX_THREADS - 1];
    size_t nw = nthreads - 1;
    memset(wk, 0, sizeof wk);
    /* Warms the boot-time cache of rm_procid_filetime before any thread
     * can call it, so the threads only read it. */
    (void)rm_procid_filetime(0);
    /* The workers take no signals: they stay with the caller's threads. */
    sigset_t all, old;
    sigfillset(&all);
    int masked = pthread_sigmask(SIG_SETMASK, &all, &old) == 0;
    for (size_t i = 0; i < nw; i++) {
        worker *w = &wk[i];
        w->s = *s;
        w->s.out = &w->out;
        w->s.dents = malloc(s->dents_size);
        w->s.text = malloc(s->text_size);
        memset(&w->s.deleted, 0, sizeof w->s.deleted);
        w->s.oom = 0;
        w->work = work;
        if (w->s.dents == NULL || w->s.text == NULL)
            continue; /* this thread and the others do its share */
        w->started = pthread_create(&w->thread, NULL, worker_main, w) == 0;
    }
    if (masked)
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    scan_pids(s, work);
    int merged = 0;
    for (size_t i = 0; i < nw; i++) {
        worker *w = &wk[i];
        if (w->started) {
            pthread_join(w->thread, NULL);
            if (w->s.oom || merge_list(s->out, &w->out) != 0)
                s->oom = 1;
            else
                w->out.count = 0; /* its holders (and their usage) moved */
            merged |= s->out->count > 0;
        }
        rm_list_free(&w->out);
        free(w->s.dents);
        free(w->s.text);
        rm_fidset_free(&w->s.deleted);
    }
    if (merged && s->out->count > 1)
        qsort(s->out->items, s->out->count, sizeof *s->out->items,
              cmp_holder);
}

static DWORD scan_all(scan *s)
{
    s->procfd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (s->procfd < 0) {
        rm_detail_set("cannot open /proc: %s", strerror(errno));
        return ERROR_WRITE_FAULT;
    }
    /* Pids are read in full first: scanning inside the getdents64 loop would
     * reuse the buffer each process's fd table is read into. */
    rm_pids pids = {0};
    for (;;) {
        long n = syscall(SYS_getdents64, s->procfd, s->dents, s->dents_size);
        if (n <= 0)
            break;
        for (long off = 0; off < n;) {
            struct linux_dirent64 *d = (void *)(s->dents + off);
            off += d->d_reclen;
            if (d->d_name[0] < '1' || d->d_name[0] > '9')
                continue;
            if (rm_pids_add(&pids, (pid_t)strtol(d->d_name, NULL, 10)) != 0) {
                free(pids.items);
                return ERROR_OUTOFMEMORY;
            }
        }
    }
    pidwork work = {.pids = pids.items, .npids = pids.count};
    atomic_init(&work.next, 0);
    size_t nthreads = scan_threads(pids.count);
    if (nthreads > 1)
        scan_threaded(s, &work, nthreads);
    else
        scan_pids(s, &work);
    free(pids.items);
    return s->oom ? ERROR_OUTOFMEMORY : ERROR_SUCCESS;
}

DWORD rm_list_compute(const rm_handle_info *h, rm_list *out)
{
    memset(out, 0, sizeof *out);
    rm_resources res;
    DWORD rc = rm_resources_load(h, &res);
    if (rc != ERROR_SUCCESS)
        return rc;
    rm_holder_ctx ctx;
    rm_holder_ctx_init(&ctx, h, &res);
    rm_pids extra = {0};
    scan s;
    memset(&s, 0, sizeof s);
    s.ctx = &ctx;
    s.res = &res;
    s.out = out;
    s.procfd = -1;
    s.procmap = getenv("RSTRTMGR_MAPS_TEXT") == NULL;
    s.extra = &extra;
    s.stale = res.nstale > 0 || res.stale_anywhere;
    s.dirs = res.ndirs > 0;
    s.tasks = getenv("RSTRTMGR_SCAN_TASKS") == NULL ||
              strcmp(getenv("RSTRTMGR_SCAN_TASKS"), "0") != 0;
    s.details = rm_usage_wanted();
    s.dents_size = 64 * 1024;
    s.text_size = 64 * 1024;
    s.dents = malloc(s.dents_size);
    s.text = malloc(s.text_size);
    if (s.dents == NULL || s.text == NULL)
        rc = ERROR_OUTOFMEMORY;
    for (size_t i = 0; rc == ERROR_SUCCESS && i < res.nprocs; i++)
        if (rm_pids_add(&extra, res.procs[i].pid) != 0)
            rc = ERROR_OUTOFMEMORY;
    if (rc == ERROR_SUCCESS && res.nservices > 0 &&
        rm_unit_pids(res.services, res.nservices, &extra) != 0)
        s.oom = 1;
    if (extra.count > 1)
        qsort(extra.items, extra.count, sizeof *extra.items, cmp_pid);
    /* Nothing registered: nobody can hold it, and the scan is skipped. */
    if (rc == ERROR_SUCCESS &&
        (res.ids.count > 0 || res.npaths > 0 || extra.count > 0 || s.stale))
        rc = scan_all(&s);
    if (rc == ERROR_SUCCESS && s.oom)
        rc = ERROR_OUTOFMEMORY;
    if (rc == ERROR_OUTOFMEMORY)
        rm_detail_set("out of memory while listing the processes");
    if (s.procfd >= 0)
        close(s.procfd);
    free(s.dents);
    free(s.text);
    rm_fidset_free(&s.deleted);
    free(extra.items);
    rm_resources_free(&res);
    return rc;
}
