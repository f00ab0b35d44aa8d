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

/* One scan's state. Deleted files already judged in this scan map (dev, ino)
 * to whether their "PATH (deleted)" names a registered path (2) or not (1):
 * shared libraries repeat across processes, so each is looked up by name
 * once. */
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
    int oom;
} scan;

static int deleted_name_registered(const scan *s, const char *name, size_t n)
{
    return n > DELETED_LEN &&
           memcmp(name + n - DELETED_LEN, DELETED, DELETED_LEN) == 0 &&
           rm_resources_has_path(s->res, name, n - DELETED_LEN);
}

/* An open file whose (dev, ino) is unknown but that was unlinked: it may be
 * what a registered path named before an installer replaced it. */
static int deleted_fd_matches(scan *s, int dirfd, const char *name,
                              uint64_t dev, uint64_t ino)
{
    int state = rm_fidset_get(&s->deleted, dev, ino);
    if (state == 0) {
        ssize_t n = readlinkat(dirfd, name, s->link, sizeof s->link - 1);
        if (n < 0)
            return 0; /* gone meanwhile: judge it again if seen again */
        state = deleted_name_registered(s, s->link, (size_t)n) ? 2 : 1;
        if (rm_fidset_put(&s->deleted, dev, ino, state) != 0) {
            s->oom = 1;
            return 0;
        }
    }
    return state == 2;
}

static int statx_matches(scan *s, int dirfd, const char *name,
                         const struct statx *sx)
{
    uint64_t dev = makedev(sx->stx_dev_major, sx->stx_dev_minor);
    if (rm_resources_has_id(s->res, dev, sx->stx_ino))
        return 1;
    return sx->stx_nlink == 0 && S_ISREG(sx->stx_mode) &&
           s->res->npaths > 0 &&
           deleted_fd_matches(s, dirfd, name, dev, sx->stx_ino);
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
        for (long off = 0; off < n && !found;) {
            struct linux_dirent64 *d = (void *)(s->dents + off);
            off += d->d_reclen;
            if (d->d_name[0] == '.')
                continue;
            struct statx sx;
            if (statx(dfd, d->d_name, STATX_FLAGS, STATX_MASK, &sx) == 0)
                found = statx_matches(s, dfd, d->d_name, &sx);
        }
        /* procfs fills the buffer until the table ends or the buffer is
         * full: room left for one more entry means the table has ended,
         * which saves the empty getdents64 of every process. */
        if (found || (size_t)n + sizeof(struct linux_dirent64) + 256 <=
                         s->dents_size)
            break;
    }
    close(dfd);
    return found;
}

static int mapping_matches(scan *s, int mfd, uint64_t dev, uint64_t ino,
                           uint64_t addr)
{
    if (rm_resources_has_id(s->res, dev, ino))
        return 1;
    if (s->res->npaths == 0)
        return 0;
    int state = rm_fidset_get(&s->deleted, dev, ino);
    if (state == 0) {
        struct rm_procmap_query q;
        memset(&q, 0, sizeof q);
        q.size = sizeof q;
        q.query_flags = RM_PROCMAP_COVERING_OR_NEXT_VMA;
        q.query_addr = addr;
        q.vma_name_addr = (uint64_t)(uintptr_t)s->link;
        q.vma_name_size = (uint32_t)sizeof s->link;
        if (ioctl(mfd, RM_PROCMAP_QUERY, &q) != 0 || q.vma_name_size == 0)
            return 0;
        state = deleted_name_registered(s, s->link, q.vma_name_size - 1) ? 2
                                                                         : 1;
        if (rm_fidset_put(&s->deleted, dev, ino, state) != 0) {
            s->oom = 1;
            return 0;
        }
    }
    return state == 2;
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
    if (rm_resources_has_id(s->res, dev, ino))
        return 1;
    size_t len = (size_t)(end - line);
    if (s->res->npaths == 0 || len < DELETED_LEN ||
        memcmp(end - DELETED_LEN, DELETED, DELETED_LEN) != 0)
        return 0;
    while (q < end && *q == ' ')
        q++;
    return deleted_name_registered(s, q, (size_t)(end - q));
}

static int scan_maps_text(scan *s, int mfd)
{
    ssize_t n = read_maps_text(s, mfd);
    if (n <= 0)
        return n < 0 && (errno == EACCES || errno == EPERM) ? -1 : 0;
    char *line = s->text, *stop = s->text + n;
    while (line < stop) {
        char *nl = memchr(line, '\n', (size_t)(stop - line));
        char *end = nl != NULL ? nl : stop;
        if (maps_line_matches(s, line, end))
            return 1;
        line = end + 1;
    }
    return 0;
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
                break;
            }
            if (q.vma_end <= addr)
                break;
            addr = q.vma_end;
        }
        if (s->procmap || found != 0) {
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
     * with one call. */
    if (statx(pd, "exe", STATX_FLAGS, STATX_MASK, &sx) == 0) {
        if (statx_matches(s, pd, "exe", &sx))
            why = RM_HOLD_EXE;
        /* Descriptors before mappings: a process has far fewer of them
         * than file-backed mappings, and a match ends the process's scan. */
        int r = why ? 0 : scan_fds(s, pd);
        if (r > 0)
            why = RM_HOLD_FILE;
        denied = r < 0;
        r = why ? 0 : scan_maps(s, pd);
        if (r > 0)
            why = RM_HOLD_MAP;
        denied |= r < 0;
    } else if (errno == EACCES || errno == EPERM) {
        denied = 1;
    } else if (!extra_has(s, pid)) {
        close(pd);
        return;
    }
    int listed = extra_has(s, pid);
    if (why != 0 || denied || listed) {
        rm_pstat ps;
        if (rm_pstat_at(pd, "stat", &ps) == 0 && ps.state != 'Z' &&
            ps.state != 'X' && !(ps.flags & PF_KTHREAD)) {
            int added = rm_holder_add(s->ctx, pd, pid, why, listed, &ps, s->out);
            if (added < 0)
                s->oom = 1;
            if (added <= 0 && denied)
                s->out->uninspected++;
        }
    }
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
            merged |= w->out.count > 0;
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
        (res.ids.count > 0 || res.npaths > 0 || extra.count > 0))
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
