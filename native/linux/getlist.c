/* RmGetList on Linux: one pass over /proc finds the users of a session's files. */
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

static _Thread_local UINT last_uninspected;

UINT rstrtmgr_last_uninspected(void) { return last_uninspected; }


/* Deleted files already judged in this scan: (dev, ino) -> whether their
 * "PATH (deleted)" names a registered path. Shared libraries repeat across
 * processes, so each is looked up by name once. */
typedef struct dentry {
    uint64_t dev, ino;
    int state; /* 0 empty, 1 not registered, 2 registered */
} dentry;

typedef struct scan {
    const rm_handle_info *h;
    const rm_resources *res;
    rm_list *out;
    int procfd;
    char *dents;
    size_t dents_size;
    char *text; /* maps text, when PROCMAP_QUERY is not there */
    size_t text_size;
    char link[PATH_MAX + 16];
    int procmap; /* 1 usable, 0 not: fall back to the maps text */
    dentry *dcache;
    size_t dmask, dcount;
    pid_t *extra; /* sorted pids of registered processes and services */
    size_t nextra;
    rm_procid self;
    uid_t ruid, euid;
    DWORD self_session;
    int oom;
} scan;

static uint64_t key_hash(uint64_t dev, uint64_t ino)
{
    uint64_t x = ino ^ (dev * 0x9E3779B97F4A7C15ULL);
    x ^= x >> 31;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 29;
    return x;
}

static dentry *dcache_slot(scan *s, uint64_t dev, uint64_t ino)
{
    if ((s->dcount + 1) * 2 > s->dmask + 1) {
        size_t cap = s->dmask ? (s->dmask + 1) * 2 : 256;
        dentry *n = calloc(cap, sizeof *n);
        if (n == NULL) {
            s->oom = 1;
            return NULL;
        }
        for (size_t i = 0; s->dmask && i <= s->dmask; i++) {
            if (s->dcache[i].state == 0)
                continue;
            size_t j = key_hash(s->dcache[i].dev, s->dcache[i].ino) & (cap - 1);
            while (n[j].state != 0)
                j = (j + 1) & (cap - 1);
            n[j] = s->dcache[i];
        }
        free(s->dcache);
        s->dcache = n;
        s->dmask = cap - 1;
    }
    size_t j = key_hash(dev, ino) & s->dmask;
    while (s->dcache[j].state != 0 &&
           (s->dcache[j].dev != dev || s->dcache[j].ino != ino))
        j = (j + 1) & s->dmask;
    return &s->dcache[j];
}

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
    dentry *e = dcache_slot(s, dev, ino);
    if (e == NULL)
        return 0;
    if (e->state == 0) {
        ssize_t n = readlinkat(dirfd, name, s->link, sizeof s->link - 1);
        if (n < 0)
            return 0; /* gone meanwhile: judge it again if seen again */
        e->dev = dev;
        e->ino = ino;
        e->state = deleted_name_registered(s, s->link, (size_t)n) ? 2 : 1;
        s->dcount++;
    }
    return e->state == 2;
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
    dentry *e = dcache_slot(s, dev, ino);
    if (e == NULL)
        return 0;
    if (e->state == 0) {
        struct rm_procmap_query q;
        memset(&q, 0, sizeof q);
        q.size = sizeof q;
        q.query_flags = RM_PROCMAP_COVERING_OR_NEXT_VMA;
        q.query_addr = addr;
        q.vma_name_addr = (uint64_t)(uintptr_t)s->link;
        q.vma_name_size = (uint32_t)sizeof s->link;
        if (ioctl(mfd, RM_PROCMAP_QUERY, &q) != 0 || q.vma_name_size == 0)
            return 0;
        e->dev = dev;
        e->ino = ino;
        e->state = deleted_name_registered(s, s->link, q.vma_name_size - 1)
                       ? 2
                       : 1;
        s->dcount++;
    }
    return e->state == 2;
}

/* Reads the whole maps text into s->text; its length, or -1. */
static ssize_t read_maps_text(scan *s, int mfd)
{
    size_t n = 0;
    for (;;) {
        if (s->text_size - n < 4096) {
            char *t = realloc(s->text, s->text_size * 2);
            if (t == NULL) {
                s->oom = 1;
                return -1;
            }
            s->text = t;
            s->text_size *= 2;
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

/* ---- one holder's details ----------------------------------------------- */

typedef struct pstat {
    char comm[64];
    char state;
    int tty;
    unsigned flags;
    uint64_t start_ticks;
} pstat;

static int read_pstat(int pd, pstat *out)
{
    char buf[1024];
    if (rm_read_small_at(pd, "stat", buf, sizeof buf) <= 0)
        return -1;
    char *open = strchr(buf, '('), *close_ = strrchr(buf, ')');
    if (open == NULL || close_ == NULL || close_ < open || close_[1] != ' ')
        return -1;
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
        if (e == p && i != 4)
            return -1;
        p = e;
    }
    out->tty = (int)v[7 - 4];
    out->flags = (unsigned)v[9 - 4];
    out->start_ticks = v[22 - 4];
    return 0;
}

/* The service a process belongs to: the last ".service" component of its
 * cgroup (the unified "0::" line, or systemd's own hierarchy on a hybrid
 * setup), so a user service names itself, not user@UID.service. */
static void read_unit(int pd, char *unit, size_t size)
{
    char buf[4096];
    unit[0] = '\0';
    if (rm_read_small_at(pd, "cgroup", buf, sizeof buf) <= 0)
        return;
    char *path = NULL, *save = NULL;
    for (char *l = strtok_r(buf, "\n", &save); l != NULL;
         l = strtok_r(NULL, "\n", &save)) {
        if (strncmp(l, "0::", 3) == 0 && strcmp(l + 3, "/") != 0)
            path = l + 3;
        else if (path == NULL && strstr(l, ":name=systemd:") != NULL)
            path = strstr(l, ":name=systemd:") + strlen(":name=systemd:");
    }
    if (path == NULL)
        return;
    char *save2 = NULL;
    for (char *c = strtok_r(path, "/", &save2); c != NULL;
         c = strtok_r(NULL, "/", &save2)) {
        size_t n = strlen(c);
        if (n > 8 && strcmp(c + n - 8, ".service") == 0 && n < size)
            memcpy(unit, c, n + 1);
    }
}

static void read_ids(int pd, uid_t ids[3])
{
    char buf[4096];
    ids[0] = ids[1] = ids[2] = (uid_t)-1;
    if (rm_read_small_at(pd, "status", buf, sizeof buf) <= 0)
        return;
    char *u = strstr(buf, "\nUid:");
    unsigned a, b, c;
    if (u != NULL && sscanf(u + 5, "%u %u %u", &a, &b, &c) == 3) {
        ids[0] = a;
        ids[1] = b;
        ids[2] = c;
    }
}

static DWORD read_session(int pd)
{
    char buf[32];
    if (rm_read_small_at(pd, "sessionid", buf, sizeof buf) <= 0)
        return (DWORD)RM_INVALID_TS_SESSION;
    return (DWORD)strtoul(buf, NULL, 10); /* unset is 4294967295, i.e. -1 */
}

/* comm is cut at 15 bytes; argv[0] then gives the whole name, as ps does. */
static void app_name(int pd, const char *comm, char *out, size_t size)
{
    snprintf(out, size, "%s", comm);
    if (strlen(comm) < 15)
        return;
    char buf[1024];
    if (rm_read_small_at(pd, "cmdline", buf, sizeof buf) <= 0)
        return;
    const char *base = strrchr(buf, '/');
    base = base != NULL ? base + 1 : buf;
    if (strncmp(base, comm, 15) == 0)
        snprintf(out, size, "%s", base);
}

/* The processes a system cannot lose: the init of this pid namespace, the
 * service manager (also a user's: "systemd --user"), the login manager, the
 * journal and the message bus. Judged by name, so a process that merely
 * calls itself so is also kept out of a shutdown: the safe direction. */
static int is_critical(pid_t pid, const char *comm)
{
    static const char *const names[] = {
        "systemd",     "systemd-logind", "systemd-journal", "dbus-daemon",
        "dbus-broker", "dbus-broker-lau", "init",
    };
    if (pid == 1)
        return 1;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(comm, names[i]) == 0)
            return 1;
    return 0;
}

static int extra_has(const scan *s, pid_t pid)
{
    size_t lo = 0, hi = s->nextra;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (s->extra[mid] == pid)
            return 1;
        if (s->extra[mid] < pid)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

static int registered_proc(const rm_resources *r, pid_t pid, uint64_t ticks)
{
    for (size_t i = 0; i < r->nprocs; i++)
        if (r->procs[i].pid == pid && r->procs[i].start_ticks == ticks)
            return 1;
    return 0;
}

static int registered_service(const rm_resources *r, const char *unit)
{
    for (size_t i = 0; unit[0] != '\0' && i < r->nservices; i++)
        if (strcmp(r->services[i], unit) == 0)
            return 1;
    return 0;
}

/* Adds pid as a holder when `why` is set or it is a registered process or a
 * process of a registered service; returns 1 when added. */
static int add_holder(scan *s, int pd, pid_t pid, unsigned why,
                      const pstat *ps)
{
    rm_holder hd;
    memset(&hd, 0, sizeof hd);
    hd.id.pid = pid;
    hd.id.start_ticks = ps->start_ticks;
    read_unit(pd, hd.unit, sizeof hd.unit);
    if (extra_has(s, pid)) {
        if (registered_proc(s->res, pid, ps->start_ticks))
            why |= RM_HOLD_REGISTERED;
        if (registered_service(s->res, hd.unit))
            why |= RM_HOLD_SERVICE;
    }
    if (why == 0)
        return 0;
    if (s->out->count == s->out->cap) {
        size_t cap = s->out->cap ? s->out->cap * 2 : 16;
        rm_holder *n = realloc(s->out->items, cap * sizeof *n);
        if (n == NULL) {
            s->oom = 1;
            return 0;
        }
        s->out->items = n;
        s->out->cap = cap;
    }
    uid_t ids[3];
    read_ids(pd, ids);
    hd.uid = ids[0];
    hd.why = why;
    hd.critical = is_critical(pid, ps->comm);

    RM_PROCESS_INFO *in = &hd.info;
    in->Process.dwProcessId = (DWORD)pid;
    in->Process.ProcessStartTime = rm_procid_filetime(ps->start_ticks);
    char name[1024];
    app_name(pd, ps->comm, name, sizeof name);
    rm_bytes_to_utf16(name, strlen(name), in->strAppName,
                      CCH_RM_MAX_APP_NAME + 1);
    rm_bytes_to_utf16(hd.unit, strlen(hd.unit), in->strServiceShortName,
                      CCH_RM_MAX_SVC_NAME + 1);
    int service = hd.unit[0] != '\0';
    in->ApplicationType = hd.critical ? RmCritical
                          : service   ? RmService
                          : ps->tty != 0 ? RmConsole
                                         : RmUnknownApp;
    in->AppStatus = RmStatusRunning;
    in->TSSessionId = read_session(pd);
    in->bRestartable = service || rm_restart_registered(s->h, &hd.id);

    if (pid == s->self.pid && ps->start_ticks == s->self.start_ticks)
        hd.reasons |= RmRebootReasonDetectedSelf;
    if (hd.critical)
        hd.reasons |= service ? RmRebootReasonCriticalService
                              : RmRebootReasonCriticalProcess;
    /* kill(2)'s rule: our real or effective uid must be the target's real
     * or saved uid, unless we are root. */
    if (s->euid != 0 && s->ruid != ids[0] && s->ruid != ids[2] &&
        s->euid != ids[0] && s->euid != ids[2])
        hd.reasons |= RmRebootReasonPermissionDenied;
    if (!service && s->self_session != (DWORD)RM_INVALID_TS_SESSION &&
        in->TSSessionId != (DWORD)RM_INVALID_TS_SESSION &&
        in->TSSessionId != s->self_session)
        hd.reasons |= RmRebootReasonSessionMismatch;
    s->out->reasons |= hd.reasons;
    s->out->items[s->out->count++] = hd;
    return 1;
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
    if (why != 0 || denied || extra_has(s, pid)) {
        pstat ps;
        if (read_pstat(pd, &ps) == 0 && ps.state != 'Z' && ps.state != 'X' &&
            !(ps.flags & PF_KTHREAD)) {
            if (!add_holder(s, pd, pid, why, &ps) && denied)
                s->out->uninspected++;
        }
    }
    close(pd);
}

/* ---- services: their processes, from their cgroups ---------------------- */

static int add_extra(scan *s, pid_t pid)
{
    if ((s->nextra & (s->nextra - 1)) == 0) { /* 0 or a power of two */
        size_t cap = s->nextra ? s->nextra * 2 : 64;
        pid_t *n = realloc(s->extra, cap * sizeof *n);
        if (n == NULL)
            return -1;
        s->extra = n;
    }
    s->extra[s->nextra++] = pid;
    return 0;
}

/* Collects the pids in cgroup.procs of dirfd and its descendants. */
static void cgroup_pids(scan *s, int dirfd, int depth)
{
    int fd = openat(dirfd, "cgroup.procs", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        FILE *f = fdopen(fd, "r");
        if (f != NULL) {
            long pid;
            while (fscanf(f, "%ld", &pid) == 1)
                if (pid > 0 && add_extra(s, (pid_t)pid) != 0)
                    s->oom = 1;
            fclose(f);
        } else {
            close(fd);
        }
    }
    if (depth >= 8)
        return;
    int dup_fd = dup(dirfd);
    DIR *d = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
    if (d == NULL) {
        if (dup_fd >= 0)
            close(dup_fd);
        return;
    }
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_type != DT_DIR || de->d_name[0] == '.')
            continue;
        int sub = openat(dirfd, de->d_name,
                         O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sub >= 0) {
            cgroup_pids(s, sub, depth + 1);
            close(sub);
        }
    }
    closedir(d);
}

/* Finds the directory named `unit`, shallowest first (system services sit
 * at depth 2, user services deeper), and collects its processes. */
static int find_unit(scan *s, int dirfd, const char *unit, int depth)
{
    int sub = openat(dirfd, unit, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
                                      O_CLOEXEC);
    if (sub >= 0) {
        cgroup_pids(s, sub, 0);
        close(sub);
        return 1;
    }
    if (depth >= 5)
        return 0;
    int dup_fd = dup(dirfd);
    DIR *d = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
    if (d == NULL) {
        if (dup_fd >= 0)
            close(dup_fd);
        return 0;
    }
    int found = 0;
    struct dirent *de;
    while (!found && (de = readdir(d)) != NULL) {
        size_t n = strlen(de->d_name);
        /* Only slices and the user manager hold services. */
        if (de->d_type != DT_DIR ||
            !((n > 6 && strcmp(de->d_name + n - 6, ".slice") == 0) ||
              strncmp(de->d_name, "user@", 5) == 0))
            continue;
        int c = openat(dirfd, de->d_name,
                       O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (c >= 0) {
            found = find_unit(s, c, unit, depth + 1);
            close(c);
        }
    }
    closedir(d);
    return found;
}

static void service_pids(scan *s)
{
    static const char *const roots[] = {
        "/sys/fs/cgroup/unified", "/sys/fs/cgroup/systemd", "/sys/fs/cgroup"};
    int root = -1;
    for (size_t i = 0; i < 3 && root < 0; i++) {
        int fd = open(roots[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
            continue;
        if (faccessat(fd, "cgroup.procs", F_OK, 0) == 0)
            root = fd;
        else
            close(fd);
    }
    if (root < 0)
        return;
    for (size_t i = 0; i < s->res->nservices; i++)
        find_unit(s, root, s->res->services[i], 0);
    close(root);
}

static int cmp_pid(const void *a, const void *b)
{
    pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;
    return x < y ? -1 : x > y;
}

/* ---- the list ----------------------------------------------------------- */

void rm_list_free(rm_list *l)
{
    free(l->items);
    memset(l, 0, sizeof *l);
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
    if (from->count > to->cap - to->count) {
        size_t cap = to->count + from->count;
        rm_holder *n = realloc(to->items, cap * sizeof *n);
        if (n == NULL)
            return -1;
        to->items = n;
        to->cap = cap;
    }
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
        w->s.dcache = NULL;
        w->s.dmask = w->s.dcount = 0;
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
        free(w->s.dcache);
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
    pid_t *pids = NULL;
    size_t npids = 0, cap = 0;
    for (;;) {
        long n = syscall(SYS_getdents64, s->procfd, s->dents, s->dents_size);
        if (n <= 0)
            break;
        for (long off = 0; off < n;) {
            struct linux_dirent64 *d = (void *)(s->dents + off);
            off += d->d_reclen;
            if (d->d_name[0] < '1' || d->d_name[0] > '9')
                continue;
            if (npids == cap) {
                cap = cap ? cap * 2 : 1024;
                pid_t *np = realloc(pids, cap * sizeof *np);
                if (np == NULL) {
                    free(pids);
                    return ERROR_OUTOFMEMORY;
                }
                pids = np;
            }
            pids[npids++] = (pid_t)strtol(d->d_name, NULL, 10);
        }
    }
    pidwork work = {.pids = pids, .npids = npids};
    atomic_init(&work.next, 0);
    size_t nthreads = scan_threads(npids);
    if (nthreads > 1)
        scan_threaded(s, &work, nthreads);
    else
        scan_pids(s, &work);
    free(pids);
    return s->oom ? ERROR_OUTOFMEMORY : ERROR_SUCCESS;
}

DWORD rm_list_compute(const rm_handle_info *h, rm_list *out)
{
    memset(out, 0, sizeof *out);
    rm_resources res;
    DWORD rc = rm_resources_load(h, &res);
    if (rc != ERROR_SUCCESS)
        return rc;
    scan s;
    memset(&s, 0, sizeof s);
    s.h = h;
    s.res = &res;
    s.out = out;
    s.procfd = -1;
    s.procmap = getenv("RSTRTMGR_MAPS_TEXT") == NULL;
    s.self = rm_procid_self();
    s.ruid = getuid();
    s.euid = geteuid();
    {
        char buf[32];
        int fd = open("/proc/self", O_PATH | O_DIRECTORY | O_CLOEXEC);
        s.self_session = (DWORD)RM_INVALID_TS_SESSION;
        if (fd >= 0) {
            if (rm_read_small_at(fd, "sessionid", buf, sizeof buf) > 0)
                s.self_session = (DWORD)strtoul(buf, NULL, 10);
            close(fd);
        }
    }
    s.dents_size = 64 * 1024;
    s.text_size = 64 * 1024;
    s.dents = malloc(s.dents_size);
    s.text = malloc(s.text_size);
    if (s.dents == NULL || s.text == NULL)
        rc = ERROR_OUTOFMEMORY;
    for (size_t i = 0; rc == ERROR_SUCCESS && i < res.nprocs; i++)
        if (add_extra(&s, res.procs[i].pid) != 0)
            rc = ERROR_OUTOFMEMORY;
    if (rc == ERROR_SUCCESS && res.nservices > 0)
        service_pids(&s);
    if (s.nextra > 1)
        qsort(s.extra, s.nextra, sizeof *s.extra, cmp_pid);
    /* Nothing registered: nobody can hold it, and the scan is skipped. */
    if (rc == ERROR_SUCCESS &&
        (res.nids > 0 || res.has_zero_id || res.npaths > 0 || s.nextra > 0))
        rc = scan_all(&s);
    if (rc == ERROR_SUCCESS && s.oom)
        rc = ERROR_OUTOFMEMORY;
    if (rc == ERROR_OUTOFMEMORY)
        rm_detail_set("out of memory while listing the processes");
    if (s.procfd >= 0)
        close(s.procfd);
    free(s.dents);
    free(s.text);
    free(s.dcache);
    free(s.extra);
    rm_resources_free(&res);
    return rc;
}

DWORD WINAPI RmGetList(DWORD dwSessionHandle, UINT *pnProcInfoNeeded,
                       UINT *pnProcInfo, RM_PROCESS_INFO rgAffectedApps[],
                       LPDWORD lpdwRebootReasons)
{
    rm_detail_clear();
    rm_handle_info h;
    DWORD rc = rm_handle_get(dwSessionHandle, &h);
    if (rc != ERROR_SUCCESS)
        return rc;
    if (pnProcInfoNeeded == NULL || pnProcInfo == NULL ||
        lpdwRebootReasons == NULL ||
        (*pnProcInfo > 0 && rgAffectedApps == NULL)) {
        rm_detail_set("RmGetList needs pnProcInfoNeeded, pnProcInfo and "
                      "lpdwRebootReasons, and an array when *pnProcInfo is "
                      "not 0");
        return ERROR_BAD_ARGUMENTS;
    }
    rm_list l;
    rc = rm_list_compute(&h, &l);
    if (rc == ERROR_SUCCESS)
        rc = rm_shutdown_annotate(&h, &l);
    if (rc == ERROR_SUCCESS) {
        last_uninspected = l.uninspected;
        *pnProcInfoNeeded = (UINT)l.count;
        *lpdwRebootReasons = l.reasons;
        if (l.count > *pnProcInfo) {
            rm_detail_set("%zu processes use the session's resources; the "
                          "array holds %u", l.count, (unsigned)*pnProcInfo);
            *pnProcInfo = 0;
            rc = ERROR_MORE_DATA;
        } else {
            for (size_t i = 0; i < l.count; i++)
                rgAffectedApps[i] = l.items[i].info;
            *pnProcInfo = (UINT)l.count;
        }
    }
    rm_list_free(&l);
    return rc;
}
