/* The Linux backend's base: the small toolkit, failure details, process
 * identity and text conversion, which stand on libc alone. internal.h
 * includes it; one section per file, in dependency order. */
#ifndef RSTRTMGR_LINUX_BASE_H
#define RSTRTMGR_LINUX_BASE_H

#include <dirent.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "../rstrtmgr_ext.h"

#define RM_HIDDEN __attribute__((visibility("hidden")))
#define RM_PRINTF(f, a) __attribute__((format(printf, f, a)))

/* ---- util.c: the small toolkit -------------------------------------------- */

/* Makes room for `need` items of `size` bytes in *items, whose capacity is
 * *cap, doubling from `initial`; 0, or -1 when out of memory (the array is
 * then unchanged). RM_GROW(array, cap, need, initial) is the usual call. */
RM_HIDDEN int rm_grow(void **items, size_t *cap, size_t need, size_t size,
                      size_t initial);
#define RM_GROW(array, cap, need, initial)                                   \
    rm_grow((void **)&(array), &(cap), (need), sizeof *(array), (initial))
/* Appends the n items of `more` to *items (count *count, capacity *cap);
 * 0, or -1 when out of memory (nothing appended). RM_APPEND(array, cap,
 * count, more, n, initial) is the usual call. */
RM_HIDDEN int rm_append(void **items, size_t *cap, size_t *count,
                        const void *more, size_t n, size_t size,
                        size_t initial);
#define RM_APPEND(array, cap, count, more, n, initial)                       \
    rm_append((void **)&(array), &(cap), &(count), (more), (n),              \
              sizeof *(array), (initial))

typedef struct rm_pids {
    pid_t *items;
    size_t count, cap;
} rm_pids;

RM_HIDDEN int rm_pids_add(rm_pids *p, pid_t pid);
/* A directory stream of dirfd that leaves dirfd open (closedir closes only
 * its own duplicate); NULL with errno. */
RM_HIDDEN DIR *rm_open_dir_at(int dirfd);
/* One read(2) of a small file (a /proc entry) relative to dirfd (AT_FDCWD
 * for a path) into buf, NUL-terminated; its length, or -1 with errno. */
RM_HIDDEN ssize_t rm_read_small_at(int dirfd, const char *name, char *buf,
                                   size_t size);
/* Reads the whole store file `name` of directory `dirfd` (opened as
 * rm_open_store_file does) into a NUL-terminated malloc'd buffer, its
 * length in *len; NULL with errno on failure. The store's files are
 * replaced, never rewritten in place, so the size at open is the size to
 * read. */
RM_HIDDEN char *rm_read_file_at(int dirfd, const char *name, size_t *len);
/* The largest store file read: a batch of 50,000 long paths fits. */
#define RM_STORE_FILE_MAX (64u << 20)
/* Opens the store file `name` of `dirfd` for reading without blocking (a
 * FIFO) or following a link, and checks it is a regular file of this user
 * of at most RM_STORE_FILE_MAX bytes: its fd and *st, or -1 with errno
 * (ELOOP a link, EINVAL not regular, EPERM another owner, EFBIG too big). */
RM_HIDDEN int rm_open_store_file(int dirfd, const char *name, struct stat *st);
/* Removes the temporary files (".tmp-*") of updates killed before their
 * rename from directory dirfd; only with the store's lock held, which every
 * update holds while its temporary file exists. */
RM_HIDDEN void rm_sweep_leftovers_at(int dirfd);
/* Writes `len` bytes as `name` in directory `dirfd` atomically (temporary
 * file + rename); 0, or -1 with errno. */
RM_HIDDEN int rm_replace_file_at(int dirfd, const char *name, const char *buf,
                                 size_t len);
/* Random bytes from the kernel's CSPRNG; 0 or -1. */
RM_HIDDEN int rm_random(void *buf, size_t len);
/* CLOCK_MONOTONIC in milliseconds, for deadlines. */
RM_HIDDEN uint64_t rm_now_ms(void);
/* A 64-bit mixer (MurmurHash3's finaliser) for open-addressing tables. */
RM_HIDDEN uint64_t rm_mix64(uint64_t x);
/* A hash of `len` bytes (FNV-1a, then rm_mix64). */
RM_HIDDEN uint64_t rm_hash_bytes(const char *s, size_t len);

/* A record of getdents64(2), which glibc declares only from 2.30. */
typedef struct rm_dirent64 {
    uint64_t d_ino;
    int64_t d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char d_name[];
} rm_dirent64;

/* A growing byte buffer. */
typedef struct rm_buf {
    char *p;
    size_t len, cap;
} rm_buf;

/* Appends `len` bytes; 0, or -1 when out of memory (b is then unchanged). */
RM_HIDDEN int rm_buf_add(rm_buf *b, const void *data, size_t len);

/* A map of file identities (dev, ino) to a non-zero int, by open addressing;
 * all zero is the empty map. */
typedef struct rm_fid_slot {
    uint64_t dev; /* makedev(major, minor), as statx and PROCMAP_QUERY give */
    uint64_t ino;
    int value; /* 0: an empty slot */
} rm_fid_slot;

typedef struct rm_fidset {
    rm_fid_slot *slots;
    size_t mask, count;
} rm_fidset;

/* The value of (dev, ino), or 0 when it is not in the set. */
RM_HIDDEN int rm_fidset_get(const rm_fidset *s, uint64_t dev, uint64_t ino);
/* Sets the value (non-zero) of (dev, ino); 0, or -1 when out of memory. */
RM_HIDDEN int rm_fidset_put(rm_fidset *s, uint64_t dev, uint64_t ino,
                            int value);
/* Makes room for n more entries at once (no rehash while they go in); 0,
 * or -1 when out of memory. */
RM_HIDDEN int rm_fidset_reserve(rm_fidset *s, size_t n);
RM_HIDDEN void rm_fidset_free(rm_fidset *s);

/* ---- detail.c: a thread's explanation of its last failure ----------------- */
RM_HIDDEN void rm_detail_clear(void);
RM_HIDDEN void rm_detail_set(const char *fmt, ...) RM_PRINTF(1, 2);

/* ---- procid.c: process identity (pid + start time) from /proc -------------- */
typedef struct rm_procid {
    pid_t pid;
    /* The start in FILETIME units (100 ns) since boot: field 22 of
     * /proc/PID/stat in clock ticks times 10^7/HZ, plus (Linux 6.9+, pidfs)
     * a sub-tick part 1..10^7/HZ-1 folded from the inode number of a pidfd
     * of the process, unique for the boot: two processes that had one pid
     * in one tick differ. Its FILETIME is the boot time plus this. */
    uint64_t start_ticks;
} rm_procid;

/* The largest pid Linux hands out (PID_MAX_LIMIT). */
#define RM_PID_MAX 4194304u

/* The fields of /proc/PID/stat the backend uses. */
typedef struct rm_pstat {
    char comm[64];
    char state;
    int tty;
    unsigned flags;
    uint64_t start_ticks;
} rm_pstat;

/* Parses the stat file `name` of dirfd (AT_FDCWD for a path); 0, or -1 with
 * errno (EINVAL when it does not parse). */
RM_HIDDEN int rm_pstat_at(int dirfd, const char *name, rm_pstat *out);
/* 0 and *out filled for a live (non-zombie) process; -1 otherwise. */
RM_HIDDEN int rm_procid_of(pid_t pid, rm_procid *out);
/* The same for the process of `pidfd`, a pidfd of `pid` (-1: none): -1 when
 * it has exited, so the identity is that pidfd's process's. */
RM_HIDDEN int rm_procid_of_pidfd(int pidfd, pid_t pid, rm_procid *out);
/* The identity's start of process `pid` whose stat gave `ticks` (as a
 * child's watcher reads it); the tick's alone when it is gone. */
RM_HIDDEN uint64_t rm_procid_start_of(pid_t pid, uint64_t ticks);
/* The identity's start of the process of the /proc/PID directory
 * `procdir` whose stat gave `ticks`; UINT64_MAX once it is gone. */
RM_HIDDEN uint64_t rm_procid_refine(int procdir, pid_t pid, uint64_t ticks);
/* A pidfd of pid, or -1 with errno (an exited process, an old kernel, a
 * filter). It names whichever process had pid when it was opened, so check
 * whose it is after: rm_procid_of_pidfd, or a read of the stat through the
 * process's /proc directory opened before it (that directory fails every
 * read once its process is reaped, and only then can its pid be reused). */
RM_HIDDEN int rm_procid_pidfd(pid_t pid);
/* The identity's start of that process, whose stat (read after `pidfd`
 * was opened) gave `ticks`: the tick's alone when pidfd is -1. */
RM_HIDDEN uint64_t rm_procid_pinned(int pidfd, uint64_t ticks);
/* The identity of the calling process, cached per pid. */
RM_HIDDEN rm_procid rm_procid_self(void);
/* 1 when this exact process (same pid and start time) is alive. */
RM_HIDDEN int rm_procid_alive(const rm_procid *id);
/* The start as a FILETIME (100 ns since 1601): boot time + start_ticks. */
RM_HIDDEN FILETIME rm_procid_filetime(uint64_t start_ticks);
/* The inverse; 0 and *start_ticks set when ft is after the boot. */
RM_HIDDEN int rm_procid_ticks(FILETIME ft, uint64_t *start_ticks);

/* ---- text.c: WCHAR (UTF-16) <-> file-system bytes ---------------------------
 * File names are bytes on Linux. A name that is not valid UTF-8 crosses the
 * WCHAR API the way Python's surrogateescape carries it: each byte 0x80..0xFF
 * that is not part of valid UTF-8 is the lone surrogate U+DC80..U+DCFF. So
 * UTF-16 -> bytes maps pairs to UTF-8, U+DC80..U+DCFF to the raw byte, and
 * rejects any other lone surrogate (no byte string produces one). */

/* Converts the NUL-terminated `in` into `out` (size bytes, NUL-terminated);
 * returns the byte length, or -1 when it is malformed or does not fit. */
RM_HIDDEN long rm_utf16_to_bytes(const WCHAR *in, char *out, size_t size);
/* The reverse, truncating to `cap` WCHARs including the NUL (never splitting
 * a pair); returns the WCHARs written before the NUL. */
RM_HIDDEN size_t rm_bytes_to_utf16(const char *in, size_t len, WCHAR *out,
                                   size_t cap);

#endif
