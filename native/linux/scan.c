/* The /proc walk: which processes use a session's files (each process
 * judged by match.c, maps.c and threads.c), on several threads when there
 * are many processes. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "scan.h"

#define PF_KTHREAD 0x00200000u

static int extra_has(const rm_scan *s, pid_t pid)
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
/* ---- one process -------------------------------------------------------- */

/* Whether descriptor fd of md still uses the session's files. */
static int still_uses(rm_scan *s, int md, int fd)
{
    char name[24];
    struct statx sx;
    snprintf(name, sizeof name, "fd/%d", fd);
    return statx(md, name, RM_STATX_FLAGS, RM_STATX_MASK, &sx) == 0 &&
           rm_statx_matches(s, md, name, &sx, RM_COUNTS_FD);
}

/* How process pid (md: the directory of its main thread, or of a live
 * thread when that has exited; exe: its executable's statx) uses the
 * resources: RM_HOLD_* bits; *denied when its files could not be read;
 * *hint is the descriptor to try first (-1: none), then the one that used
 * them. With s->u set, every use is recorded instead of stopping at the
 * first. */
static unsigned uses(rm_scan *s, int pd, int md, pid_t base,
                     const struct statx *exe, int *hint, int *denied)
{
    unsigned why = 0;
    int all = s->u != NULL;
    if (rm_statx_matches(s, md, "exe", exe, RM_COUNTS_CODE)) {
        why = RM_HOLD_EXE;
        if (all)
            rm_record_link(s, md, "exe",
                           makedev(exe->stx_dev_major, exe->stx_dev_minor),
                           exe->stx_ino, RSTRTMGR_USES_EXE);
    }
    /* A working directory matters only when a tree registered
     * directories. */
    struct statx cwd;
    if ((!why || all) && s->dirs &&
        statx(md, "cwd", RM_STATX_FLAGS, RM_STATX_MASK, &cwd) == 0) {
        uint64_t dev = makedev(cwd.stx_dev_major, cwd.stx_dev_minor);
        if (rm_resources_has_id(s->res, dev, cwd.stx_ino)) {
            why |= RM_HOLD_CWD;
            if (all)
                rm_record_link(s, md, "cwd", dev, cwd.stx_ino,
                               RSTRTMGR_USES_CWD);
        }
    }
    /* Descriptors before mappings: a process has far fewer of them than
     * file-backed mappings, and a match ends the process's scan. A kept
     * holder's descriptor that used the files at the last scan is tried
     * first: the answer is the same (one is enough), without reading its
     * whole table. */
    int r = 0;
    if (!why && !all && *hint >= 0 && still_uses(s, md, *hint)) {
        r = 1;
    } else if (!why || all) {
        s->matched_fd = -1;
        r = rm_scan_fds(s, md, md == pd && base == s->ctx->self.pid);
        if (!all)
            *hint = r > 0 ? s->matched_fd : -1;
    }
    if (r > 0)
        why |= RM_HOLD_FILE;
    *denied = r < 0;
    r = why && !all ? 0 : rm_scan_maps(s, md);
    if (r > 0)
        why |= RM_HOLD_MAP;
    *denied |= r < 0;
    if ((!why || all) && !*denied && s->tasks &&
        rm_scan_thread_tables(s, pd, base))
        why |= RM_HOLD_FILE;
    return why;
}

/* The /proc directory of pid for this scan, in *d, and the statx of its
 * executable (0, or -1 with errno): the last scan's when it kept the
 * directory and the process still runs, else opened afresh. When the scan
 * keeps pidfds, *pidfd is one of the kept directory's process, else -1. */
static int open_pid(rm_scan *s, const char *name, pid_t pid, rm_procdir *d,
                    struct statx *sx, int *pidfd)
{
    rm_procdir *kept = rm_procdirset_find(s->prev, pid);
    *pidfd = -1;
    if (kept != NULL) {
        *d = *kept;
        kept->pd = -1; /* handed on: the set closes only what is left */
        /* Opened before the look-up below, which then proves it names the
         * kept directory's process: that process had the pid throughout. */
        if (s->pidfds_limit > 0)
            *pidfd = rm_procid_pidfd(pid);
        /* Through the kept directory, a look-up fails once its process is
         * gone, so a success is that process's, not a newcomer's. */
        if (statx(d->pd, "exe", RM_STATX_FLAGS, RM_STATX_MASK, sx) == 0)
            return 0;
        if (*pidfd >= 0)
            close(*pidfd);
        *pidfd = -1;
        rm_procdir_close(d);
    }
    int pd = openat(s->procfd, name, O_PATH | O_DIRECTORY | O_CLOEXEC);
    rm_procdir_init(d, pid, pd);
    if (pd < 0)
        return -1;
    return statx(pd, "exe", RM_STATX_FLAGS, RM_STATX_MASK, sx);
}

/* Keeps a holder's directory for the next scan while the limit allows. */
static void keep_pid(rm_scan *s, rm_procdir *d)
{
    size_t before = atomic_fetch_add_explicit(s->kept, 1, memory_order_relaxed);
    if (before < s->kept_limit && rm_procdirset_add(&s->next, d) == 0)
        return;
    atomic_fetch_sub_explicit(s->kept, 1, memory_order_relaxed);
    rm_procdir_close(d);
}

static void scan_pid(rm_scan *s, const char *name, pid_t pid)
{
    rm_procdir dir;
    struct statx sx;
    int kept_pidfd;
    /* The executable first: it also sorts out kernel threads and zombies
     * (no executable: ENOENT) and processes we may not look into (EACCES)
     * with one call. A process whose main thread has exited also has no
     * executable: one of its live threads stands in for it. */
    int r = open_pid(s, name, pid, &dir, &sx, &kept_pidfd);
    if (dir.pd < 0)
        return; /* exited */
    int pd = dir.pd;
    unsigned why = 0;
    int denied = 0;
    int alt = -1;
    pid_t base = pid;
    if (r != 0 && errno == ENOENT && s->tasks) {
        alt = rm_live_thread(pd, pid, &base);
        r = alt >= 0
                ? statx(alt, "exe", RM_STATX_FLAGS, RM_STATX_MASK, &sx)
                : -1;
        if (r != 0)
            errno = ENOENT;
    }
    int md = alt >= 0 ? alt : pd;
    if (r == 0) {
        why = uses(s, pd, md, base, &sx, &dir.fd_hint, &denied);
    } else if (errno == EACCES || errno == EPERM) {
        denied = 1;
    } else if (!extra_has(s, pid)) {
        if (kept_pidfd >= 0)
            close(kept_pidfd);
        rm_procdir_close(&dir);
        return;
    }
    int listed = extra_has(s, pid);
    int added = 0;
    if (why != 0 || denied || listed) {
        rm_pstat ps;
        /* Opened before the stat is read, which then proves it is this
         * process's: a holder's identity is finer than its tick. A kept
         * holder's identity is known. */
        int pidfd = (why != 0 || listed) && dir.start == 0
                        ? rm_procid_pidfd(pid)
                        : -1;
        if (pidfd < 0 && dir.start != 0) {
            pidfd = kept_pidfd; /* a kept directory's: proved above */
            kept_pidfd = -1;
        }
        /* A thread standing in for the process is read, never kept. */
        rm_procdir alt_dir = dir;
        alt_dir.pd = md;
        rm_procdir *from = alt >= 0 ? &alt_dir : &dir;
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
                int ignored, no_hint = -1;
                if (u != NULL && r == 0)
                    uses(s, pd, md, base, &sx, &no_hint, &ignored);
                s->u = NULL;
            }
            added = rm_holder_add(s->ctx, from, pidfd, why, listed, &ps,
                                  s->out);
            if (added < 0)
                s->oom = 1;
            if (added == 1) {
                rm_holder *hd = &s->out->items[s->out->count - 1];
                hd->usage = u;
                if (r == 0) {
                    hd->exe_dev = makedev(sx.stx_dev_major, sx.stx_dev_minor);
                    hd->exe_ino = sx.stx_ino;
                }
                if (pidfd >= 0 && s->pidfds_limit > 0 &&
                    atomic_fetch_add_explicit(s->pidfds_kept, 1,
                                              memory_order_relaxed) <
                        s->pidfds_limit) {
                    hd->pidfd = pidfd; /* the list closes it */
                    pidfd = -1;
                }
            } else {
                rm_usage_free(u);
            }
            if (added <= 0 && denied)
                s->out->uninspected++;
            dir.start = from->start;
        }
        if (pidfd >= 0)
            close(pidfd);
    }
    if (kept_pidfd >= 0)
        close(kept_pidfd);
    if (alt >= 0)
        close(alt);
    if (added == 1 && alt < 0 && s->kept_limit > 0)
        keep_pid(s, &dir);
    else
        rm_procdir_close(&dir);
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
/* The most descriptors a scanning thread has open at once (a process's
 * directory, fd table, a thread's), beside those it keeps. */
#define SCAN_FDS_IN_FLIGHT 64

typedef struct pidwork {
    const pid_t *pids;
    size_t npids;
    atomic_size_t next;
} pidwork;

typedef struct worker {
    rm_scan s; /* a copy of the shared scan with its own buffers and list */
    rm_list out;
    pidwork *work;
    pthread_t thread;
    int started;
} worker;

static void scan_pids(rm_scan *s, pidwork *w)
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
    if (RM_APPEND(to->items, to->cap, to->count, from->items, from->count,
                  16) != 0)
        return -1;
    to->reasons |= from->reasons;
    to->uninspected += from->uninspected;
    return 0;
}

/* Scans the pids on `nthreads` threads: this one and nthreads - 1 workers,
 * each with its own buffers, deleted-file cache and list; then merges the
 * lists in pid order. The holders, their order and the counts are those of
 * the single-threaded scan: each process is judged the same way whichever
 * thread looks at it. */
static void scan_threaded(rm_scan *s, pidwork *work, size_t nthreads)
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
        memset(&w->s.next, 0, sizeof w->s.next);
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
        if (rm_procdirset_merge(&s->next, &w->s.next) != 0)
            rm_procdirset_close(&w->s.next); /* kept no further */
        free(w->s.next.items);
        rm_list_free(&w->out);
        free(w->s.dents);
        free(w->s.text);
        rm_fidset_free(&w->s.deleted);
    }
    if (merged && s->out->count > 1)
        qsort(s->out->items, s->out->count, sizeof *s->out->items,
              cmp_holder);
}

static DWORD scan_all(rm_scan *s)
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
            rm_dirent64 *d = (void *)(s->dents + off);
            off += d->d_reclen;
            if (d->d_name[0] < '1' || d->d_name[0] > '9')
                continue;
            if (rm_pids_add(&pids, (pid_t)strtol(d->d_name, NULL, 10)) != 0) {
                free(pids.items);
                return ERROR_OUTOFMEMORY;
            }
        }
    }
    /* The directories kept for the next scan can grow this process's
     * descriptor table several times over; with the scan's threads running
     * each growth waits for an RCU grace period (milliseconds). Grown here
     * once, before they start: a descriptor at the top, closed at once. */
    struct rlimit rl;
    if (s->kept_limit > 0 && getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        /* procfd is about the lowest free descriptor: those below are the
         * host's. */
        uint64_t top = (uint64_t)s->procfd + s->kept_limit +
                       s->pidfds_limit + SCAN_FDS_IN_FLIGHT;
        if (rl.rlim_cur != RLIM_INFINITY && top >= rl.rlim_cur)
            top = rl.rlim_cur - 1;
        int fd = top <= INT_MAX ? fcntl(s->procfd, F_DUPFD_CLOEXEC, (int)top)
                                : -1;
        if (fd >= 0)
            close(fd);
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

/* The most pidfds a shutdown's list keeps: as kept directories, an eighth
 * of the soft descriptor limit (beyond it, RmShutdown opens and checks each
 * pidfd itself). */
static size_t pidfds_share(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return 0;
    return rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur / 8 > 4096
               ? 4096
               : (size_t)(rl.rlim_cur / 8);
}

DWORD rm_list_compute(const rm_handle_info *h, rm_list *out, int pidfds)
{
    memset(out, 0, sizeof *out);
    rm_resources res;
    DWORD rc = rm_resources_load(h, &res);
    if (rc != ERROR_SUCCESS)
        return rc;
    rm_holder_ctx ctx;
    rm_holder_ctx_init(&ctx, h, &res);
    rm_pids extra = {0};
    rm_scan s;
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
    rm_procdirset prev;
    int owner;
    atomic_size_t kept;
    atomic_init(&kept, 0);
    s.kept_limit = rm_procdirs_take(h, &prev, &owner);
    s.prev = &prev;
    s.kept = &kept;
    atomic_size_t pidfds_kept;
    atomic_init(&pidfds_kept, 0);
    s.pidfds_kept = &pidfds_kept;
    s.pidfds_limit = pidfds ? pidfds_share() : 0;
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
    /* Processes no longer holders, or gone, close; this scan's are kept. */
    rm_procdirset_close(&prev);
    rm_procdirs_give(h, &s.next, owner);
    free(extra.items);
    rm_holder_ctx_end(&ctx);
    rm_resources_free(&res);
    return rc;
}
