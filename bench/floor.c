/* The floor: a bare program doing only the syscalls needed
 * to answer "which processes hold any of these files", and to shut 200
 * polite holders down. bench/run.py builds it (cc -O2) and measures the
 * library against it; it is a benchmark tool, not part of the package.
 *
 *   floor scan LIST       the pids that hold a file of LIST (one path a
 *                         line), one a line; after a warm-up walk, one walk
 *                         on one thread and one on two (pids shared out as
 *                         the library does), timed: "ns1 N" and "ns2 N" on
 *                         stderr, and "ns N", the faster (the floor at its
 *                         best thread count)
 *   floor shutdown LIST   a walk on two threads, timed alone; then one walk
 *                         (one thread), then SIGTERM to each holder through a
 *                         pidfd and poll(2) until all are gone; the pids on
 *                         stdout, "ns N" (the one-thread walk + signals +
 *                         wait) and "best_ns N" (the faster walk, then the
 *                         signals and the wait: the least a shutdown costs)
 *                         on stderr
 *   floor kill PID...     the kill-and-wait loop alone: pidfd_open of each
 *                         pid, SIGTERM through it, poll(2) until every pidfd
 *                         is readable; "ns N" on stderr
 *   floor details LIST    scan, and for each holder what its RM_PROCESS_INFO
 *                         is made of: the stat, cgroup, sessionid and
 *                         cmdline files read, and a pidfd opened, fstat'ed
 *                         and closed (its identity); a reference, not the
 *                         floor (a lower bound for results of that kind)
 *   floor kept LIST       details, with each holder's /proc directory kept
 *                         from the warm-up walk with the descriptor that used
 *                         a file, as the library keeps them for a session's
 *                         next list: a kept holder is its executable looked
 *                         up, that descriptor tried first, and its entry's
 *                         files read without the identity; what a warm list
 *                         must do at the least (a reference, not the floor)
 *   floor stat LIST       lstat(2) of every path (registration's floor);
 *                         "ns N" on stderr
 *   floor run CMD...      runs CMD; "run ns N rss K" on stderr after its
 *                         own output: its wall time and peak RSS (KiB), the
 *                         latter not inflated by a large parent (exec keeps
 *                         the pre-exec footprint in ru_maxrss)
 *   floor hold N FILE...  forks N holders, each holding FILE[i % count]
 *                         open until a signal ends it; prints their pids,
 *                         closes stdout and reaps them until none is left
 *
 * The walk: for each /proc/PID, stat of exe, then fstatat of each fd entry
 * (following the magic link, no readlink), then the file-backed mappings
 * through PROCMAP_QUERY (Linux 6.11+); a process's walk stops at its first
 * match. Kernel threads and zombies have no exe and are skipped. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

struct procmap_query {
    uint64_t size, query_flags, query_addr, vma_start, vma_end, vma_flags,
        vma_page_size, vma_offset, inode;
    uint32_t dev_major, dev_minor, vma_name_size, build_id_size;
    uint64_t vma_name_addr, build_id_addr;
};
#define PROCMAP_QUERY _IOWR('f', 17, struct procmap_query)
#define COVERING_OR_NEXT_VMA 0x10
#define FILE_BACKED_VMA 0x20

struct linux_dirent64 {
    uint64_t d_ino;
    int64_t d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[];
};

typedef struct fid {
    uint64_t dev, ino;
} fid;

static fid *ids;
static size_t mask;
static _Thread_local char dents[64 * 1024];

static size_t slot(uint64_t dev, uint64_t ino)
{
    uint64_t x = ino ^ (dev * 0x9E3779B97F4A7C15ULL);
    x ^= x >> 31;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 29;
    return (size_t)x & mask;
}

static int has(uint64_t dev, uint64_t ino)
{
    for (size_t j = slot(dev, ino); ids[j].dev || ids[j].ino;
         j = (j + 1) & mask)
        if (ids[j].dev == dev && ids[j].ino == ino)
            return 1;
    return 0;
}

static char **read_list(const char *name, size_t *n)
{
    FILE *f = fopen(name, "r");
    if (f == NULL) {
        perror(name);
        exit(2);
    }
    size_t cap = 1024;
    char **v = malloc(cap * sizeof *v), *line = NULL;
    size_t len = 0;
    ssize_t got;
    *n = 0;
    while ((got = getline(&line, &len, f)) > 0) {
        if (line[got - 1] == '\n')
            line[--got] = '\0';
        if (got == 0)
            continue;
        if (*n == cap)
            v = realloc(v, (cap *= 2) * sizeof *v);
        v[(*n)++] = strdup(line);
    }
    free(line);
    fclose(f);
    return v;
}

static void load_ids(const char *list)
{
    size_t n;
    char **paths = read_list(list, &n);
    size_t cap = 16;
    while (cap < n * 2)
        cap *= 2;
    ids = calloc(cap, sizeof *ids);
    mask = cap - 1;
    for (size_t i = 0; i < n; i++) {
        struct stat st;
        if (stat(paths[i], &st) == 0) {
            size_t j = slot(st.st_dev, st.st_ino);
            while ((ids[j].dev || ids[j].ino) &&
                   !(ids[j].dev == st.st_dev && ids[j].ino == st.st_ino))
                j = (j + 1) & mask;
            ids[j].dev = st.st_dev;
            ids[j].ino = st.st_ino;
        }
        free(paths[i]);
    }
    free(paths);
}

/* Whether a descriptor of the process uses a file; *which: that one. The
 * floor's own (own: pd is this process's) are asked by number, as the
 * library asks its caller's: `floor kept` holds a directory per holder. */
static int fds_match(int pd, int *which, int own)
{
    int dfd = openat(pd, "fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return 0;
    int found = 0;
    long n;
    while (!found && (n = syscall(SYS_getdents64, dfd, dents, sizeof dents)) > 0)
        for (long off = 0; off < n && !found;) {
            struct linux_dirent64 *d = (void *)(dents + off);
            off += d->d_reclen;
            struct stat st;
            if (d->d_name[0] != '.' &&
                (own ? fstatat(atoi(d->d_name), "", &st, AT_EMPTY_PATH)
                     : fstatat(dfd, d->d_name, &st, 0)) == 0 &&
                has(st.st_dev, st.st_ino)) {
                found = 1;
                *which = atoi(d->d_name);
            }
        }
    close(dfd);
    return found;
}

static int maps_match(int pd)
{
    int mfd = openat(pd, "maps", O_RDONLY | O_CLOEXEC);
    if (mfd < 0)
        return 0;
    struct procmap_query q;
    uint64_t addr = 0;
    int found = 0;
    for (;;) {
        memset(&q, 0, sizeof q);
        q.size = sizeof q;
        q.query_flags = COVERING_OR_NEXT_VMA | FILE_BACKED_VMA;
        q.query_addr = addr;
        if (ioctl(mfd, PROCMAP_QUERY, &q) != 0)
            break;
        if (has(makedev(q.dev_major, q.dev_minor), q.inode)) {
            found = 1;
            break;
        }
        addr = q.vma_end;
    }
    close(mfd);
    return found;
}

static int details;

static void read_file(int pd, const char *name)
{
    char buf[4096];
    int fd = openat(pd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    ssize_t n = read(fd, buf, sizeof buf); /* its cost is the point */
    (void)n;
    close(fd);
}

/* What RmGetList's entry of a holder is made of, read the cheapest way;
 * its identity (a pidfd) only when not known from a kept directory. */
static void read_details(int pd, pid_t pid, int identity)
{
    int fd = identity ? (int)syscall(SYS_pidfd_open, pid, 0) : -1;
    read_file(pd, "stat");
    if (fd >= 0) {
        struct stat st;
        (void)fstat(fd, &st);
        close(fd);
    }
    read_file(pd, "cgroup");
    read_file(pd, "sessionid");
    read_file(pd, "cmdline");
}

/* `floor kept`: the holders' /proc directories kept from the warm-up walk
 * with the descriptor that used a file, as the library keeps them between
 * two lists of a session; sorted by pid. */
typedef struct kept {
    pid_t pid;
    int pd, fd;
} kept;
static kept keep[1 << 16];
static size_t nkeep;
static int keeping; /* 1: the warm-up walk keeps; 2: the timed walks use */

static const kept *kept_of(pid_t pid)
{
    size_t lo = 0, hi = nkeep;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (keep[mid].pid == pid)
            return &keep[mid];
        if (keep[mid].pid < pid)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* A kept holder: alive (its executable looked up through its directory),
 * and still a holder, tried first through the descriptor that used a file;
 * then its entry's files, without the identity (the directory proves it). */
static int kept_match(const kept *k)
{
    struct stat st;
    char name[32];
    if (fstatat(k->pd, "exe", &st, 0) != 0)
        return 0;
    snprintf(name, sizeof name, "fd/%d", k->fd);
    int which = -1;
    int found = has(st.st_dev, st.st_ino) ||
                (fstatat(k->pd, name, &st, 0) == 0 &&
                 has(st.st_dev, st.st_ino)) ||
                fds_match(k->pd, &which, 0) || maps_match(k->pd);
    if (found)
        read_details(k->pd, k->pid, 0);
    return found;
}

/* The pids of /proc, and the walk's shared state: threads take pids in runs
 * of 4 from one atomic index, as the library's scan does. */
static pid_t pids[1 << 16];
static unsigned char matched[1 << 16];
static size_t npids;
static atomic_size_t next_pid;
static int proc_fd;

static void *walk_part(void *unused)
{
    (void)unused;
    for (;;) {
        size_t at = atomic_fetch_add(&next_pid, 4);
        if (at >= npids)
            break;
        for (size_t i = at; i < at + 4 && i < npids; i++) {
            char name[16];
            const kept *k = keeping == 2 ? kept_of(pids[i]) : NULL;
            if (k != NULL) {
                matched[i] = (unsigned char)kept_match(k);
                continue;
            }
            snprintf(name, sizeof name, "%d", (int)pids[i]);
            int pd = openat(proc_fd, name, O_PATH | O_DIRECTORY | O_CLOEXEC);
            if (pd < 0)
                continue;
            struct stat st;
            int which = -1;
            matched[i] = fstatat(pd, "exe", &st, 0) == 0 &&
                         (has(st.st_dev, st.st_ino) ||
                          fds_match(pd, &which, pids[i] == getpid()) ||
                          maps_match(pd));
            if (matched[i] && details)
                read_details(pd, pids[i], 1);
            if (matched[i] && keeping == 1 && which >= 0) {
                keep[i].pid = pids[i]; /* one slot a pid: no race */
                keep[i].pd = pd;
                keep[i].fd = which;
                continue;
            }
            close(pd);
        }
    }
    return NULL;
}

/* The holders, in /proc order (pid order), walked on `threads` threads (the
 * caller's one of them); returns their count. */
static size_t walk(pid_t *out, size_t cap, int threads)
{
    proc_fd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    size_t count = 0;
    long n;
    npids = 0;
    while ((n = syscall(SYS_getdents64, proc_fd, dents, sizeof dents)) > 0)
        for (long off = 0; off < n;) {
            struct linux_dirent64 *d = (void *)(dents + off);
            off += d->d_reclen;
            if (d->d_name[0] >= '1' && d->d_name[0] <= '9' &&
                npids < sizeof pids / sizeof pids[0])
                pids[npids++] = (pid_t)atoi(d->d_name);
        }
    memset(matched, 0, npids);
    atomic_store(&next_pid, 0);
    pthread_t t[8];
    int started = 0;
    for (; started < threads - 1 && started < 8; started++)
        if (pthread_create(&t[started], NULL, walk_part, NULL) != 0)
            break;
    walk_part(NULL);
    for (int i = 0; i < started; i++)
        pthread_join(t[i], NULL);
    for (size_t i = 0; i < npids && count < cap; i++)
        if (matched[i])
            out[count++] = pids[i];
    close(proc_fd);
    return count;
}

static int64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static pid_t found[1 << 16];

static int cmd_scan(const char *list)
{
    load_ids(list);
    size_t cap = sizeof found / sizeof found[0];
    walk(found, cap, 1); /* warms caches (and keeps, for `kept`) */
    if (keeping) {
        for (size_t i = 0; i < npids; i++)
            if (keep[i].pid != 0)
                keep[nkeep++] = keep[i]; /* in /proc order: by pid */
        keeping = 2;
    }
    int64_t t = now_ns();
    size_t n = walk(found, cap, 1);
    int64_t one = now_ns() - t;
    t = now_ns();
    size_t n2 = walk(found, cap, 2);
    int64_t two = now_ns() - t;
    if (n2 != n)
        fprintf(stderr, "1 thread found %zu, 2 threads %zu\n", n, n2);
    for (size_t i = 0; i < n2; i++)
        printf("%d\n", (int)found[i]);
    fprintf(stderr, "ns1 %lld\nns2 %lld\nns %lld\n", (long long)one,
            (long long)two, (long long)(one < two ? one : two));
    return 0;
}

/* SIGTERM through a pidfd to each pid, then poll(2) until all are gone. */
static size_t kill_and_wait(const pid_t *victims, size_t n)
{
    static struct pollfd pfd[1 << 16];
    size_t live = 0;
    for (size_t i = 0; i < n; i++) {
        int fd = (int)syscall(SYS_pidfd_open, victims[i], 0);
        if (fd < 0)
            continue;
        if (syscall(SYS_pidfd_send_signal, fd, SIGTERM, NULL, 0) != 0) {
            close(fd);
            continue;
        }
        pfd[live].fd = fd;
        pfd[live++].events = POLLIN;
    }
    while (live > 0) {
        if (poll(pfd, live, 30000) <= 0)
            break;
        for (size_t i = 0; i < live;) {
            if (pfd[i].revents) {
                close(pfd[i].fd);
                pfd[i] = pfd[--live];
            } else {
                i++;
            }
        }
    }
    return live;
}

static int cmd_shutdown(const char *list)
{
    load_ids(list);
    /* A walk on two threads first, timed alone: with the one-thread walk
     * below, the walk at its best thread count. A shutdown decides on the
     * whole list before it signals anyone (a critical holder, or one not
     * registered, refuses it with nothing stopped), so that walk and then
     * the loop are the least it costs. It also warms the caches, as the
     * scan's warm-up walk does. */
    int64_t t = now_ns();
    (void)walk(found, sizeof found / sizeof found[0], 2);
    int64_t two = now_ns() - t;
    t = now_ns();
    size_t n = walk(found, sizeof found / sizeof found[0], 1);
    int64_t walked = now_ns();
    size_t live = kill_and_wait(found, n);
    int64_t end = now_ns();
    for (size_t i = 0; i < n; i++)
        printf("%d\n", (int)found[i]);
    int64_t one = walked - t;
    fprintf(stderr, "ns %lld\nbest_ns %lld\n", (long long)(end - t),
            (long long)((one < two ? one : two) + (end - walked)));
    return live == 0 ? 0 : 1;
}

static int cmd_kill(char **argv, int argc)
{
    size_t n = 0;
    for (int i = 0; i < argc && n < sizeof found / sizeof found[0]; i++)
        found[n++] = (pid_t)atoi(argv[i]);
    int64_t t = now_ns();
    size_t live = kill_and_wait(found, n);
    t = now_ns() - t;
    fprintf(stderr, "ns %lld\n", (long long)t);
    return live == 0 ? 0 : 1;
}

static int cmd_stat(const char *list)
{
    size_t n;
    char **paths = read_list(list, &n);
    int64_t t = now_ns();
    for (size_t i = 0; i < n; i++) {
        struct stat st;
        (void)lstat(paths[i], &st);
    }
    t = now_ns() - t;
    fprintf(stderr, "ns %lld\n", (long long)t);
    return 0;
}

static int cmd_hold(int n, char **files, int nfiles)
{
    int ready[2];
    if (pipe(ready) != 0) {
        perror("pipe");
        return 1;
    }
    for (int i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid < 0) {
            perror("fork");
            return 1;
        }
        if (pid == 0) {
            int fd = open(files[i % nfiles], O_RDONLY | O_CLOEXEC);
            if (fd < 0 || write(ready[1], "r", 1) != 1)
                _exit(3);
            /* Nothing of the driver's (its pipe on stdout) stays open. */
            close(ready[0]);
            close(ready[1]);
            close(0);
            close(1);
            close(2);
            for (;;)
                pause();
        }
        printf("%d\n", (int)pid);
    }
    close(ready[1]);
    char c;
    for (int got = 0; got < n && read(ready[0], &c, 1) == 1; got++)
        ;
    close(ready[0]);
    fclose(stdout);
    while (wait(NULL) > 0 || errno == EINTR)
        ;
    return 0;
}

static int cmd_run(char **argv)
{
    int64_t t = now_ns();
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return 1;
    }
    if (pid == 0) {
        execvp(argv[0], argv);
        _exit(127);
    }
    int status;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) != pid)
        return 1;
    t = now_ns() - t;
    fprintf(stderr, "run ns %lld rss %ld\n", (long long)t, ru.ru_maxrss);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

int main(int argc, char **argv)
{
    if (argc >= 3 && strcmp(argv[1], "run") == 0)
        return cmd_run(argv + 2);
    if (argc == 3 && strcmp(argv[1], "scan") == 0)
        return cmd_scan(argv[2]);
    if (argc == 3 && strcmp(argv[1], "details") == 0) {
        details = 1;
        return cmd_scan(argv[2]);
    }
    if (argc == 3 && strcmp(argv[1], "kept") == 0) {
        details = keeping = 1;
        return cmd_scan(argv[2]);
    }
    if (argc == 3 && strcmp(argv[1], "shutdown") == 0)
        return cmd_shutdown(argv[2]);
    if (argc == 3 && strcmp(argv[1], "stat") == 0)
        return cmd_stat(argv[2]);
    if (argc >= 3 && strcmp(argv[1], "kill") == 0)
        return cmd_kill(argv + 2, argc - 2);
    if (argc >= 4 && strcmp(argv[1], "hold") == 0)
        return cmd_hold(atoi(argv[2]), argv + 3, argc - 3);
    fprintf(stderr, "usage: floor scan|details|kept|shutdown|stat LIST | run CMD... | "
                    "kill PID... | hold N FILE...\n");
    return 2;
}
