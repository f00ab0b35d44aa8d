/* The scan's own interfaces, for the files that judge one process (match.c,
 * maps.c, threads.c) and the walk over every process (scan.c); one section
 * per file, in dependency order. */
#ifndef RSTRTMGR_LINUX_SCAN_H
#define RSTRTMGR_LINUX_SCAN_H

#include <stdatomic.h>

#include "internal.h"

/* ---- match.c: one process's entries against the registrations ------------ */
/* statx never waits for a remote server nor triggers an automount, so a dead
 * network mount cannot hang the scan. */
#define RM_STATX_FLAGS (AT_STATX_DONT_SYNC | AT_NO_AUTOMOUNT)
#define RM_STATX_MASK (STATX_TYPE | STATX_INO | STATX_NLINK)

/* What the scan's "deleted" cache holds for a (dev, ino), from its "PATH
 * (deleted)" name: bits, never 0. */
enum {
    RM_DEL_JUDGED = 0x1,
    RM_DEL_REGISTERED = 0x2, /* PATH is a registered file */
    RM_DEL_STALE = 0x4,      /* PATH is under a stale path */
    RM_DEL_STALE_CODE = 0x8, /* stale anywhere, for executables and mappings */
};
/* Which of those make a use count: descriptors are not code. */
#define RM_COUNTS_FD (RM_DEL_REGISTERED | RM_DEL_STALE)
#define RM_COUNTS_CODE (RM_DEL_REGISTERED | RM_DEL_STALE | RM_DEL_STALE_CODE)

/* One scan's state, one per scanning thread. Files already judged by name
 * in this scan map (dev, ino) to their RM_DEL_* bits (`deleted`): shared
 * libraries repeat across processes, so each is looked up by name once. */
typedef struct rm_scan {
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
    int matched_fd; /* rm_scan_fds's first matching descriptor */
    int oom;
    /* The last scan's holders, by pid: each entry is taken by the thread
     * that scans its pid, so the threads never touch one entry. */
    rm_procdirset *prev;
    rm_procdirset next;   /* this thread's holders, kept for the next */
    atomic_size_t *kept;  /* directories kept by every thread so far */
    size_t kept_limit;    /* the most they may keep */
    /* For RmShutdown: holders keep the pidfd that proved who they are, at
     * most pidfds_limit of them over every thread (0: none kept). */
    atomic_size_t *pidfds_kept;
    size_t pidfds_limit;
} rm_scan;

/* Whether the kernel's name for a file (n bytes) ends in " (deleted)". */
RM_HIDDEN int rm_is_deleted_name(const char *name, size_t n);
/* The RM_DEL_* bits of a file that the kernel names `name` (n bytes). */
RM_HIDDEN int rm_judge_name(const rm_scan *s, const char *name, size_t n);
/* Records one use of the holder being detailed (s->u); `name` is the
 * kernel's, "(deleted)" and all. */
RM_HIDDEN void rm_record(rm_scan *s, uint64_t dev, uint64_t ino,
                         unsigned how, const char *name, size_t n);
/* The same, named by the link `name` of dirfd, read only when (dev, ino)
 * is not recorded yet. */
RM_HIDDEN void rm_record_link(rm_scan *s, int dirfd, const char *name,
                              uint64_t dev, uint64_t ino, unsigned how);
/* Whether the file of entry `name` of dirfd (a descriptor, or "exe" when
 * `counts` is RM_COUNTS_CODE), whose statx is *sx, uses the session's
 * resources. */
RM_HIDDEN int rm_statx_matches(rm_scan *s, int dirfd, const char *name,
                               const struct statx *sx, int counts);
/* 1 when a descriptor of the thread or process directory pd uses a
 * registered file (the first such in s->matched_fd), 0 when none, -1 when
 * the descriptors cannot be read; with s->u set, every such descriptor is
 * recorded. */
RM_HIDDEN int rm_scan_fds(rm_scan *s, int pd, int own);

/* ---- maps.c: file-backed mappings ----------------------------------------- */
/* As rm_scan_fds, for the mappings of pd. */
RM_HIDDEN int rm_scan_maps(rm_scan *s, int pd);

/* ---- threads.c: threads that differ from the main thread ------------------ */
/* When the main thread has exited (its exe, fd and maps are then empty)
 * while other threads run: the directory of one of them (its tid in *tid),
 * else -1. Kernel threads and zombies have one thread and cost one statx. */
RM_HIDDEN int rm_live_thread(int pd, pid_t pid, pid_t *tid);
/* 1 when a thread of process directory pd with a file table of its own
 * (not that of thread `base`, already scanned) uses a registered file. */
RM_HIDDEN int rm_scan_thread_tables(rm_scan *s, int pd, pid_t base);

#endif
