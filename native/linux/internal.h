/* Internal interfaces shared by the Linux backend's translation units. */
#ifndef RSTRTMGR_LINUX_INTERNAL_H
#define RSTRTMGR_LINUX_INTERNAL_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "../rstrtmgr_ext.h"

#define RM_HIDDEN __attribute__((visibility("hidden")))
#define RM_PRINTF(f, a) __attribute__((format(printf, f, a)))

/* detail.c: a thread's explanation of its last failure. */
RM_HIDDEN void rm_detail_clear(void);
RM_HIDDEN void rm_detail_set(const char *fmt, ...) RM_PRINTF(1, 2);

/* procid.c: process identity (pid + start time) from /proc. */
typedef struct rm_procid {
    pid_t pid;
    uint64_t start_ticks; /* field 22 of /proc/PID/stat */
} rm_procid;

/* 0 and *out filled for a live (non-zombie) process; -1 otherwise. */
RM_HIDDEN int rm_procid_of(pid_t pid, rm_procid *out);
/* The identity of the calling process, cached per pid. */
RM_HIDDEN rm_procid rm_procid_self(void);
/* 1 when this exact process (same pid and start time) is alive. */
RM_HIDDEN int rm_procid_alive(const rm_procid *id);
/* Start time as a FILETIME (100 ns since 1601): boot time + start ticks. */
RM_HIDDEN FILETIME rm_procid_filetime(uint64_t start_ticks);
/* The inverse; 0 and *ticks set when ft is a whole number of ticks. */
RM_HIDDEN int rm_procid_ticks(FILETIME ft, uint64_t *ticks);

/* store.c: the per-user session store. */
typedef struct rm_store {
    int dirfd;  /* the store directory, checked: ours, mode 0700, no symlink */
    int lockfd; /* flock held while >= 0 */
    char path[PATH_MAX];
} rm_store;

/* Opens (creating it if needed) and checks the store at `path`, or at the
 * default location when path is NULL or empty; then takes its lock.
 * ERROR_SUCCESS, ERROR_WRITE_FAULT or ERROR_SEM_TIMEOUT. */
RM_HIDDEN DWORD rm_store_open_locked(const char *path, rm_store *st);
RM_HIDDEN void rm_store_close(rm_store *st);
/* The default store path for this user into buf; 0, or -1 when too long. */
RM_HIDDEN int rm_store_default_path(char *buf, size_t size);

typedef struct rm_participant {
    uint64_t id; /* random, names one handle */
    rm_procid proc;
    int primary;
} rm_participant;

typedef struct rm_session {
    char key[CCH_RM_SESSION_KEY + 1];
    size_t count;
    size_t capacity;
    rm_participant *participants;
} rm_session;

RM_HIDDEN void rm_session_free(rm_session *s);
RM_HIDDEN int rm_session_add(rm_session *s, const rm_participant *p);
/* Reads the record of session `key`: ERROR_SUCCESS, 1219 when there is none,
 * or ERROR_WRITE_FAULT. */
RM_HIDDEN DWORD rm_store_read_session(rm_store *st, const char *key,
                                      rm_session *out);
/* Writes the record atomically (temporary file + rename), creating the
 * session's directory when `create` is set. */
RM_HIDDEN DWORD rm_store_write_session(rm_store *st, const rm_session *s,
                                       int create);
/* Writes `len` bytes as `name` in directory `dirfd` atomically (temporary
 * file + rename); 0, or -1 with errno. */
RM_HIDDEN int rm_store_replace_file(int dirfd, const char *name,
                                    const char *buf, size_t len);
/* Removes a session and everything in its directory. */
RM_HIDDEN DWORD rm_store_remove_session(rm_store *st, const char *key);
/* Drops participants that died; 1 when any participant is still alive. */
RM_HIDDEN int rm_session_prune(rm_session *s);
/* Reclaims sessions with no live participant and stale temporary files;
 * returns the number of live sessions through *live. */
RM_HIDDEN DWORD rm_store_reclaim(rm_store *st, size_t *live);

/* session.c: handles of this process. */
typedef struct rm_handle_info {
    char key[CCH_RM_SESSION_KEY + 1];
    char store[PATH_MAX];
    uint64_t participant;
    int primary;
} rm_handle_info;

/* ERROR_SUCCESS and *out filled, or ERROR_INVALID_HANDLE. */
RM_HIDDEN DWORD rm_handle_get(DWORD handle, rm_handle_info *out);

/* Random bytes from the kernel's CSPRNG; 0 or -1. */
RM_HIDDEN int rm_random(void *buf, size_t len);

#define RM_MAX_SESSIONS 64

#endif
