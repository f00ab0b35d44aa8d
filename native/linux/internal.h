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
/* One read(2) of a small file (a /proc entry) relative to dirfd (AT_FDCWD
 * for a path) into buf, NUL-terminated; its length, or -1. */
RM_HIDDEN ssize_t rm_read_small_at(int dirfd, const char *name, char *buf,
                                   size_t size);
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
    int sessions_fd; /* its "sessions" directory, once opened */
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
/* Reads the whole regular file `name` of directory `dirfd` (never through a
 * symbolic link) into a NUL-terminated malloc'd buffer, its length in *len;
 * NULL with errno on failure. The store's files are replaced, never
 * rewritten in place, so the size at open is the size to read. */
RM_HIDDEN char *rm_read_file_at(int dirfd, const char *name, size_t *len);
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
/* For the calls only a session's primary may make: checks the handle (6) and
 * its role (1219, saying it cannot `what`), then opens its session as
 * rm_store_open_session does. */
RM_HIDDEN DWORD rm_open_primary(DWORD handle, rm_handle_info *h, rm_store *st,
                                int *sessfd, const char *what);

/* Random bytes from the kernel's CSPRNG; 0 or -1. */
RM_HIDDEN int rm_random(void *buf, size_t len);

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

/* ---- resources.c: what a session has registered ----------------------------
 * Each RmRegisterResources call appends one batch file "batch-<random>" to
 * the session's directory (written whole, then renamed, under the store
 * lock), so a call costs O(its batch) and a reader unions all batches. */
typedef struct rm_fid {
    uint64_t dev; /* makedev(major, minor), as statx and PROCMAP_QUERY give */
    uint64_t ino;
} rm_fid;

typedef struct rm_resources {
    rm_fid *ids; /* open addressing; {0, 0} is the empty slot */
    size_t ids_mask, nids;
    int has_zero_id;
    const char **paths; /* canonical registered paths, open addressing */
    size_t paths_mask, npaths;
    char *arena; /* the path and service strings */
    size_t arena_len, arena_cap;
    rm_procid *procs; /* sorted by pid; start_ticks UINT64_MAX never matches */
    size_t nprocs, procs_cap;
    char **services; /* unit names with their suffix, e.g. "ssh.service" */
    size_t nservices, services_cap;
} rm_resources;

/* Checks a service name and writes its systemd unit name ("ssh" is
 * "ssh.service") into unit (size > 256); returns its length or -1. */
RM_HIDDEN long rm_unit_name(const WCHAR *name, char *unit, size_t size);

/* Reads every batch of the handle's session: ERROR_SUCCESS, 1219 when the
 * session is gone, ERROR_WRITE_FAULT, ERROR_OUTOFMEMORY. */
RM_HIDDEN DWORD rm_resources_load(const rm_handle_info *h, rm_resources *out);
RM_HIDDEN void rm_resources_free(rm_resources *r);
RM_HIDDEN int rm_resources_has_id(const rm_resources *r, uint64_t dev,
                                  uint64_t ino);
/* Whether `path` (len bytes, not NUL-terminated) is a registered path. */
RM_HIDDEN int rm_resources_has_path(const rm_resources *r, const char *path,
                                    size_t len);

/* ---- getlist.c: the processes that use a session's resources ---------------
 * The list RmGetList reports and RmShutdown acts on, computed afresh each
 * time: RmShutdown calls rm_list_compute, then signals each holder through
 * a pidfd opened for holder.id and checked against holder.id.start_ticks
 * (never a bare pid), stopping `unit` instead when it is set. */
enum {
    RM_HOLD_FILE = 0x1,       /* an open file descriptor */
    RM_HOLD_MAP = 0x2,        /* a memory mapping (shared library, mmap) */
    RM_HOLD_EXE = 0x4,        /* its executable */
    RM_HOLD_REGISTERED = 0x8, /* registered as a process */
    RM_HOLD_SERVICE = 0x10,   /* a process of a registered service */
};

typedef struct rm_holder {
    rm_procid id;
    uid_t uid;        /* real uid */
    unsigned why;     /* RM_HOLD_* */
    int critical;     /* see is_critical() in getlist.c */
    DWORD reasons;    /* the reboot reasons this holder causes */
    char unit[256];   /* its system service ("" when none), e.g. "ssh.service" */
    RM_PROCESS_INFO info;
} rm_holder;

typedef struct rm_list {
    rm_holder *items; /* in pid order */
    size_t count, cap;
    DWORD reasons;    /* union of the holders' reasons */
    UINT uninspected; /* live processes whose files could not be read */
} rm_list;

/* Fills *out (free it with rm_list_free, also after a failure):
 * ERROR_SUCCESS, ERROR_INVALID_HANDLE-free errors of rm_resources_load, or
 * ERROR_OUTOFMEMORY. */
RM_HIDDEN DWORD rm_list_compute(const rm_handle_info *h, rm_list *out);
RM_HIDDEN void rm_list_free(rm_list *l);
/* restartreg.c: whether this exact process (pid and start time) has
 * registered its command line for restart. */
RM_HIDDEN int rm_restart_registered(const rm_handle_info *h,
                                    const rm_procid *id);

/* store.c: opens the session of a handle, locked, with its directory:
 * ERROR_SUCCESS with *sessfd (close it, then rm_store_close), 1219 when the
 * session is gone, ERROR_WRITE_FAULT, ERROR_SEM_TIMEOUT. */
RM_HIDDEN DWORD rm_store_open_session(const rm_handle_info *h, rm_store *st,
                                      int *sessfd);

/* ---- restartreg.c: restart registrations in the per-user store ------------ */
typedef struct rm_restart_cmd {
    char *blob; /* the registration's NUL-separated fields */
    size_t len;
    char **argv; /* after rm_restart_cmd_parse: into blob */
    char *cwd;
    char **envp;
} rm_restart_cmd;

/* Reads the registration of process `id`: 0, or -1 when it has none. */
RM_HIDDEN int rm_restart_cmd_load(const rm_handle_info *h, const rm_procid *id,
                                  rm_restart_cmd *out);
RM_HIDDEN int rm_restart_cmd_parse(rm_restart_cmd *c);
RM_HIDDEN void rm_restart_cmd_free(rm_restart_cmd *c);

/* ---- filters.c ------------------------------------------------------------- */
typedef struct rm_filter {
    RM_FILTER_ACTION action;
    RM_FILTER_TRIGGER trigger;
    rm_procid proc; /* RmFilterTriggerProcess */
    char *text;     /* the executable path or the unit name */
} rm_filter;

typedef struct rm_filters {
    rm_filter *items;
    size_t count, cap;
} rm_filters;

RM_HIDDEN DWORD rm_filters_read(int sessfd, rm_filters *out);
RM_HIDDEN void rm_filters_free(rm_filters *f);
/* The actions (bit 1 << RM_FILTER_ACTION) that filters give this process. */
RM_HIDDEN unsigned rm_filters_match(const rm_filters *f, const rm_procid *id,
                                    const char *unit, const char *exe,
                                    uint64_t exe_dev, uint64_t exe_ino);

/* ---- shutdown.c ------------------------------------------------------------ */
/* Gives the holders of a list the statuses that the session's RmShutdown and
 * RmRestart recorded, and adds the processes it stopped that are gone. */
RM_HIDDEN DWORD rm_shutdown_annotate(const rm_handle_info *h, rm_list *l);

#define RM_MAX_SESSIONS 64

#endif
