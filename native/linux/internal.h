/* The Linux backend's internal interfaces above base.h: one section per
 * file, each file after the files it stands on (the API calls on top).
 * Only what another file calls is declared here; the rest is static. */
#ifndef RSTRTMGR_LINUX_INTERNAL_H
#define RSTRTMGR_LINUX_INTERNAL_H

#include "base.h"

/* ---- store.c: the per-user session store ----------------------------------- */
typedef struct rm_store {
    int dirfd;  /* the store directory, checked: ours, mode 0700, no symlink */
    int lockfd; /* flock held while >= 0 */
    int sessions_fd; /* its "sessions" directory, once opened */
    char path[PATH_MAX];
} rm_store;

typedef struct rm_participant {
    uint64_t id; /* random, names one handle */
    rm_procid proc;
    int primary;
} rm_participant;

/* A session's record. */
typedef struct rm_session {
    char key[CCH_RM_SESSION_KEY + 1];
    size_t count;
    size_t capacity;
    rm_participant *participants;
} rm_session;

typedef struct rm_handle_info rm_handle_info; /* session.c's */

/* Opens (creating it if needed) and checks the store at `path`, or at the
 * default location when path is NULL or empty; then takes its lock.
 * ERROR_SUCCESS, ERROR_WRITE_FAULT or ERROR_SEM_TIMEOUT. */
RM_HIDDEN DWORD rm_store_open_locked(const char *path, rm_store *st);
/* Opens the session of a handle, locked, with its directory: ERROR_SUCCESS
 * with *sessfd (close it, then rm_store_close), 1219 when the session is
 * gone, ERROR_WRITE_FAULT, ERROR_SEM_TIMEOUT. */
RM_HIDDEN DWORD rm_store_open_session(const rm_handle_info *h, rm_store *st,
                                      int *sessfd);
RM_HIDDEN void rm_store_close(rm_store *st);
RM_HIDDEN void rm_session_free(rm_session *s);
RM_HIDDEN int rm_session_add(rm_session *s, const rm_participant *p);
/* Drops participants that died; 1 when any participant is still alive. */
RM_HIDDEN int rm_session_prune(rm_session *s);
/* Reads the record of session `key`: ERROR_SUCCESS, 1219 when there is none,
 * or ERROR_WRITE_FAULT. */
RM_HIDDEN DWORD rm_store_read_session(rm_store *st, const char *key,
                                      rm_session *out);
/* Writes the record atomically (temporary file + rename), creating the
 * session's directory when `create` is set. */
RM_HIDDEN DWORD rm_store_write_session(rm_store *st, const rm_session *s,
                                       int create);
/* Removes a session and everything in its directory. */
RM_HIDDEN DWORD rm_store_remove_session(rm_store *st, const char *key);
/* Reclaims sessions with no live participant (and records that cannot be
 * read); returns the number of live sessions through *live. */
RM_HIDDEN DWORD rm_store_reclaim(rm_store *st, size_t *live);

/* ---- registered.c: what a session has registered, as one value -----------
 * Each RmRegisterResources call appends one batch file "batch-<random>" to
 * the session's directory (written whole, then renamed, under the store
 * lock), so a call costs O(its batch) and a reader unions all batches. A
 * batch is RM_BATCH_MAGIC, then records; the store is private to one user
 * on one machine, so native byte order is fine. */
#define RM_BATCH_PREFIX "batch-"
#define RM_BATCH_MAGIC "rstrtmgr-batch 1\n"
/* A random value every RmRegisterResources writes before its batch. */
#define RM_GENERATION_FILE "generation"
#define RM_UNIT_NAME_MAX 255

/* RM_REC_IS_DIR: a directory of a registered tree (its users: a working
 * directory or an open directory). RM_REC_STALE's text is a path under
 * which deleted files count, or empty for anywhere. */
enum {
    RM_REC_FILE = 'F',
    RM_REC_PROC = 'P',
    RM_REC_SERVICE = 'S',
    RM_REC_STALE = 'D',
};
enum { RM_REC_HAS_ID = 0x1, RM_REC_IS_DIR = 0x2 };

/* One record of a batch file; `len` bytes of text follow it. */
typedef struct rm_rec {
    uint8_t kind;
    uint8_t flags;
    uint16_t reserved;
    uint32_t len;
    uint64_t a; /* file: dev; process: pid */
    uint64_t b; /* file: inode; process: start ticks */
} rm_rec;

typedef struct rm_resources {
    rm_fidset ids; /* the registered files' (dev, ino) */
    const char **paths; /* canonical registered paths, open addressing */
    size_t paths_mask, npaths;
    char *arena; /* the path and service strings */
    size_t arena_len, arena_cap;
    rm_procid *procs; /* sorted by pid; start_ticks UINT64_MAX never matches */
    size_t nprocs, procs_cap;
    char **services; /* unit names with their suffix, e.g. "ssh.service" */
    size_t nservices, services_cap;
    size_t ndirs; /* directories of registered trees: working dirs count */
    char **stale; /* paths under which deleted files count (trailing-free) */
    size_t nstale;
    int stale_anywhere; /* deleted executables and mappings count anywhere */
    /* Set when this is a view of regcache.c's copy: read-only, and
     * rm_resources_free releases the view instead of freeing the arrays. */
    struct rm_regcache_entry *shared;
} rm_resources;

/* Reads and checks every batch of the directory dirfd of session h (in the
 * store at `store`, for messages) into *out: ERROR_SUCCESS,
 * ERROR_WRITE_FAULT (a batch unreadable or malformed), ERROR_OUTOFMEMORY. */
RM_HIDDEN DWORD rm_resources_read(int dirfd, const rm_handle_info *h,
                                  const char *store, rm_resources *out);
/* Parses and checks one batch (len bytes, as RmRegisterResources writes
 * it) into *out, as rm_resources_read does the session's batches. */
RM_HIDDEN DWORD rm_resources_parse(const char *batch, size_t len,
                                   rm_resources *out);
/* Frees what *r owns (not a view: rm_resources_free frees either). */
RM_HIDDEN void rm_resources_clear(rm_resources *r);
RM_HIDDEN int rm_resources_has_id(const rm_resources *r, uint64_t dev,
                                  uint64_t ino);
/* Whether `path` (len bytes, not NUL-terminated) is a registered path. */
RM_HIDDEN int rm_resources_has_path(const rm_resources *r, const char *path,
                                    size_t len);
/* Whether `path` (len bytes) is one of the stale paths or under one. */
RM_HIDDEN int rm_resources_stale_path(const rm_resources *r, const char *path,
                                      size_t len);

/* ---- regcache.c: registrations loaded, parsed once per generation ---------
 * rm_resources_load reads the generation under the store lock and reuses
 * what it parsed while the generation and batch files are unchanged. */
typedef struct rm_regcache_entry rm_regcache_entry;
/* Reads every batch of the handle's session: ERROR_SUCCESS, 1219 when the
 * session is gone, ERROR_WRITE_FAULT, ERROR_OUTOFMEMORY. *out may be a
 * read-only view of a copy kept for later calls. */
RM_HIDDEN DWORD rm_resources_load(const rm_handle_info *h, rm_resources *out);
RM_HIDDEN void rm_resources_free(rm_resources *r);
/* Drops what is kept of the session (it ended). */
RM_HIDDEN void rm_regcache_forget(const rm_handle_info *h);
/* Keeps the registrations of a session whose only batch is `batch` (just
 * written by this process into dirfd, the store lock still held) ready for
 * its first load, so that it is not read and parsed again. */
RM_HIDDEN void rm_regcache_prime(const rm_handle_info *h, int dirfd,
                                 const char *batch, size_t len);

/* ---- procdirs.c: a session's last holders' /proc directories, for the next
 * A look-up through such a directory fails once its process is gone,
 * whoever has its pid since. */
typedef struct rm_procdir {
    pid_t pid;
    uint64_t start; /* its identity's start once known (rm_procid), else 0 */
    int pd;         /* /proc/PID (O_PATH), -1 once closed or handed on */
    int fd_hint;    /* its descriptor that used the files last, or -1 */
} rm_procdir;

typedef struct rm_procdirset {
    rm_procdir *items;
    size_t count, cap;
} rm_procdirset;

RM_HIDDEN void rm_procdir_init(rm_procdir *d, pid_t pid, int pd);
RM_HIDDEN void rm_procdir_close(rm_procdir *d);
/* The entry of a set sorted by pid for `pid` that is still open, or NULL. */
RM_HIDDEN rm_procdir *rm_procdirset_find(rm_procdirset *set, pid_t pid);
/* Appends (moves) *d; -1 when out of memory. */
RM_HIDDEN int rm_procdirset_add(rm_procdirset *set, const rm_procdir *d);
/* Moves every entry of *from to *to; -1 when out of memory. */
RM_HIDDEN int rm_procdirset_merge(rm_procdirset *to, rm_procdirset *from);
/* Closes what is left open in the set and frees it. */
RM_HIDDEN void rm_procdirset_close(rm_procdirset *set);
/* Hands a scan the session's kept set (sorted by pid) with *owner 1, or
 * an empty one with *owner 0 when another scan has it; returns how many
 * directories the scan may keep for the next one (0 when not the owner). */
RM_HIDDEN size_t rm_procdirs_take(const rm_handle_info *h, rm_procdirset *out,
                                  int *owner);
/* The scan's new set: kept when `owner` and the session has not ended (nor
 * been evicted by others) since the take, else closed. */
RM_HIDDEN void rm_procdirs_give(const rm_handle_info *h, rm_procdirset *set,
                                int owner);
/* Closes what is kept of the session (it ended). */
RM_HIDDEN void rm_procdirs_forget(const rm_handle_info *h);

/* ---- session.c: handles of this process ------------------------------------ */
struct rm_handle_info {
    char key[CCH_RM_SESSION_KEY + 1];
    char store[PATH_MAX];
    uint64_t participant;
    int primary;
};

/* ERROR_SUCCESS and *out filled, or ERROR_INVALID_HANDLE. */
RM_HIDDEN DWORD rm_handle_get(DWORD handle, rm_handle_info *out);
/* As rm_handle_get, and then 1219 with `refusal` as the detail when the
 * handle is not its session's primary (it joined). */
RM_HIDDEN DWORD rm_handle_get_primary(DWORD handle, rm_handle_info *out,
                                      const char *refusal);
/* For the calls only a session's primary may make: checks the handle (6) and
 * its role (1219, saying it cannot `what`), then opens its session as
 * rm_store_open_session does. */
RM_HIDDEN DWORD rm_open_primary(DWORD handle, rm_handle_info *h, rm_store *st,
                                int *sessfd, const char *what);
/* A per-session setting of the primary's (the shutdown timeouts, the settle
 * time): checks the handle (6) and its role (1219, `refusal` as the detail),
 * then replaces the session's file `name` with `len` bytes of `text`
 * (ERROR_WRITE_FAULT, saying it cannot record `what`). */
RM_HIDDEN DWORD rm_primary_set_file(DWORD handle, const char *refusal,
                                    const char *name, const char *what,
                                    const char *text, size_t len);

/* ---- resources.c: RmRegisterResources and the project's own batches ------ */
/* Checks a service name and writes its systemd unit name ("ssh" is
 * "ssh.service") into unit (size > RM_UNIT_NAME_MAX); its length or -1. */
RM_HIDDEN long rm_unit_name(const WCHAR *name, char *unit, size_t size);

/* A batch of registrations that the project's own calls (trees, stale
 * files) build and store as RmRegisterResources does: all or nothing. */
typedef struct rm_batch rm_batch;
RM_HIDDEN rm_batch *rm_batch_new(void);
RM_HIDDEN void rm_batch_free(rm_batch *b);
/* A file (or, is_dir, a tree's directory) by its canonical path and id. */
RM_HIDDEN DWORD rm_batch_add_file(rm_batch *b, const char *path, size_t len,
                                  uint64_t dev, uint64_t ino, int is_dir);
/* A path under which deleted files count; len 0: anywhere. */
RM_HIDDEN DWORD rm_batch_add_stale(rm_batch *b, const char *prefix,
                                   size_t len);
RM_HIDDEN DWORD rm_batch_commit(const rm_handle_info *h, const rm_batch *b);

/* ---- stale.c: what counts as an upgrade's leftover ------------------------- */
/* Whether a deleted file the kernel names `path` (len bytes, without the
 * suffix) is stale for the session: under one of its stale paths, or, when
 * `code` (an executable or a mapping), anywhere when it asked so. */
RM_HIDDEN int rm_stale_name(const rm_resources *r, const char *path,
                            size_t len, int code);

/* ---- filters.c: RmAddFilter, RmRemoveFilter, RmGetFilterList --------------- */
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

/* ---- owner.c: whose registration a process's is, and as whom it restarts --
 * Only the store of the process's own user counts (see owner.c for where
 * root finds another user's store and what it checks). */
typedef struct rm_runas {
    uid_t uid;      /* all four of the process's uids */
    gid_t gid;      /* its real gid (for a uid without an account) */
    int other_user; /* uid is not the caller's: restart with its credentials */
} rm_runas;

/* Opens the registration record of process `id`, checked: its fd and *as
 * (may be NULL), or -1 when it has none that may be trusted. procfd: the
 * process's /proc directory (O_PATH) if the caller has it open, else -1;
 * me: the caller's effective uid. */
RM_HIDDEN int rm_registration_open(const rm_handle_info *h, int dirfd,
                                   const rm_procid *id, int procfd, uid_t me,
                                   rm_runas *as);
/* The restart directory of the store at `store`, opened without following
 * a link, for rm_registration_open's dirfd (-1: opened there each time;
 * RM_NO_RESTART_DIR: there is none, so no record either); -1 with errno. */
RM_HIDDEN int rm_restart_dir_open(const char *store);
#define RM_NO_RESTART_DIR (-2)
/* The gid and supplementary groups to restart as->uid with: initgroups'
 * (the user database's), or the recorded gid alone when the uid has no
 * account. *groups is malloc'd. 0, or -1. */
RM_HIDDEN int rm_runas_groups(const rm_runas *as, gid_t *gid, gid_t **groups,
                              int *ngroups);

/* ---- restartreg.c: restart registrations in the per-user store ------------ */
typedef struct rm_restart_cmd {
    char *blob; /* the registration's NUL-separated fields */
    size_t len;
    char **argv; /* after rm_restart_cmd_parse: into blob */
    char *cwd;
    char **envp;
} rm_restart_cmd;

/* Whether this exact process (pid and start time) has registered its
 * command line for restart (procfd, me: as rm_registration_open's). */
RM_HIDDEN int rm_restart_registered(const rm_handle_info *h, int dirfd,
                                    const rm_procid *id, int procfd, uid_t me);
/* Reads the registration of process `id` and whom to restart it as
 * (owner.c): 0, or -1 when it has none that may be trusted. */
RM_HIDDEN int rm_restart_cmd_load(const rm_handle_info *h, const rm_procid *id,
                                  rm_restart_cmd *out, rm_runas *as);
RM_HIDDEN int rm_restart_cmd_parse(rm_restart_cmd *c);
RM_HIDDEN void rm_restart_cmd_free(rm_restart_cmd *c);
/* 1 with *child set when the registration `blob` is a PyInstaller one-file
 * bootloader's, restarted through its child (its own registration). */
RM_HIDDEN int rm_restart_through(const char *blob, size_t len,
                                 rm_procid *child);
/* 1 when the registration `blob` is rstrtmgr launch's, which the program
 * RmRestart starts from it keeps (rm_restart_register_again). */
RM_HIDDEN int rm_restart_keeps(const char *blob, size_t len);
/* Records `blob` for the started program id when it keeps its registration
 * and runs as the caller; 0, or -1. */
RM_HIDDEN int rm_restart_register_again(const rm_procid *id, const char *blob,
                                        size_t len);

/* ---- unit.c: systemd services ---------------------------------------------- */
/* Appends the pids of each unit's cgroup (and its descendants) to *out;
 * 0, or -1 when out of memory. */
RM_HIDDEN int rm_unit_pids(char *const *units, size_t nunits, rm_pids *out);
/* Whether systemd is the service manager of this system. */
RM_HIDDEN int rm_systemd_running(void);
/* Runs `systemctl VERB --no-block -- UNIT` and waits for it; 0 when it
 * succeeded. */
RM_HIDDEN int rm_systemctl(const char *verb, const char *unit);

/* ---- appname.c: a process's human name ------------------------------------- */
/* Whether comm names an interpreter (python3.11, perl, bash, node, ...). */
RM_HIDDEN int rm_is_interpreter(const char *comm);
/* For an interpreter (comm) running a script, the script's file name (or
 * python's -m module) from its cmdline (len bytes) into out: 1, else 0. */
RM_HIDDEN int rm_script_name(const char *comm, const char *cmdline,
                             size_t len, char *out, size_t size);

/* ---- usage.c: the detail of each holder (rstrtmgr_last_list_*) ------------ */
typedef struct rm_use {
    uint64_t dev, ino;
    unsigned how; /* RSTRTMGR_USES_* */
    char *path;   /* as the kernel names it, without " (deleted)" */
} rm_use;

typedef struct rm_usage {
    char *cmdline; /* /proc/PID/cmdline: NUL-terminated arguments */
    size_t cmdline_len;
    rm_use *files;
    size_t nfiles, cap;
} rm_usage;

/* Whether this thread asked for details (rstrtmgr_set_list_details). */
RM_HIDDEN int rm_usage_wanted(void);
/* Whether it asked for each holder's uid: details, or
 * rstrtmgr_set_list_uids. */
RM_HIDDEN int rm_usage_uids_wanted(void);
RM_HIDDEN rm_usage *rm_usage_new(void);
RM_HIDDEN void rm_usage_free(rm_usage *u);
/* Adds a use of the file (dev, ino) named path (len bytes), merged with an
 * earlier use of the same file; 0, or -1 when out of memory. */
RM_HIDDEN int rm_usage_add(rm_usage *u, uint64_t dev, uint64_t ino,
                           unsigned how, const char *path, size_t len);
/* Adds `how` to an earlier use of (dev, ino): 1, or 0 when there is none. */
RM_HIDDEN int rm_usage_mark(rm_usage *u, uint64_t dev, uint64_t ino,
                            unsigned how);
RM_HIDDEN int rm_usage_read_cmdline(rm_usage *u, int pd);
/* Moves the holders' usage into this thread's last-list detail, in the
 * list's order (what rstrtmgr_last_list_* report). */
typedef struct rm_list rm_list;
RM_HIDDEN void rm_usage_keep(rm_list *l);

/* ---- holder.c: one process that uses a session's resources ----------------
 * The list RmGetList reports and RmShutdown acts on, computed afresh each
 * time: RmShutdown calls rm_list_compute, then signals each holder through
 * a pidfd that names holder.id (never a bare pid): the one the scan opened
 * and proved to be that process's (holder.pidfd), or one opened then and
 * checked against holder.id.start_ticks; it stops `unit` instead when it is
 * set. */
enum {
    RM_HOLD_FILE = 0x1,       /* an open file descriptor */
    RM_HOLD_MAP = 0x2,        /* a memory mapping (shared library, mmap) */
    RM_HOLD_EXE = 0x4,        /* its executable */
    RM_HOLD_REGISTERED = 0x8, /* registered as a process */
    RM_HOLD_SERVICE = 0x10,   /* a process of a registered service */
    RM_HOLD_CWD = 0x20,       /* its working directory (a tree's) */
};

typedef struct rm_holder {
    rm_procid id;
    uid_t uid;        /* real uid */
    unsigned why;     /* RM_HOLD_* */
    int critical;     /* see is_critical() in holder.c */
    DWORD reasons;    /* the reboot reasons this holder causes */
    char unit[256];   /* its system service ("" when none), e.g. "ssh.service" */
    RM_PROCESS_INFO info;
    rm_usage *usage;  /* with details: every use; owned, rm_list_free frees */
    uint64_t exe_dev, exe_ino; /* its executable's identity at the scan */
    /* A pidfd of exactly this process, kept by a scan for RmShutdown, or
     * -1 (every holder made sets it; rm_list_free closes it). */
    int pidfd;
} rm_holder;

typedef struct rm_list {
    rm_holder *items; /* in pid order */
    size_t count, cap;
    DWORD reasons;    /* union of the holders' reasons */
    UINT uninspected; /* live processes whose files could not be read */
} rm_list;

/* What a holder is judged against: the session, and who is asking. */
typedef struct rm_holder_ctx {
    const rm_handle_info *h;
    const rm_resources *res;
    rm_procid self;
    uid_t ruid, euid;
    DWORD self_session; /* the caller's login session */
    int details;        /* the caller's rm_usage_uids_wanted(), for every thread */
    int restart_dir;    /* rm_registration_open's dirfd for every holder */
    /* The names in restart_dir when the list began, sorted, when
     * records_listed: a holder without a record then costs no look-up.
     * Not listed when there are too many: each holder asks the directory. */
    char **records;
    size_t nrecords;
    int records_listed;
} rm_holder_ctx;

RM_HIDDEN void rm_holder_ctx_init(rm_holder_ctx *c, const rm_handle_info *h,
                                  const rm_resources *res);
RM_HIDDEN void rm_holder_ctx_end(rm_holder_ctx *c);
/* Appends process proc->pid (proc: its /proc directory; ps: its stat,
 * read after `pidfd` was opened, see rm_procid_pidfd, unless proc->start
 * is known, which it then sets) to *out when `why` (RM_HOLD_*) is set, or when it is
 * `listed` among the pids of the registered processes and services and is
 * one of them: 1 when added, 0 when not, -1 when out of memory. */
RM_HIDDEN int rm_holder_add(const rm_holder_ctx *c, rm_procdir *proc,
                            int pidfd, unsigned why, int listed,
                            const rm_pstat *ps, rm_list *out);
RM_HIDDEN void rm_list_free(rm_list *l);
/* Closes the pidfds the list's holders kept. */
RM_HIDDEN void rm_list_close_pidfds(rm_list *l);

/* ---- scan.c: the /proc walk ------------------------------------------------ */
/* Fills *out (free it with rm_list_free, also after a failure):
 * ERROR_SUCCESS, the errors of rm_resources_load, or ERROR_OUTOFMEMORY.
 * With `pidfds`, holders keep the pidfd that proved their identity
 * (rm_holder.pidfd), as many as a share of the descriptor limit allows. */
RM_HIDDEN DWORD rm_list_compute(const rm_handle_info *h, rm_list *out,
                                int pidfds);

/* ---- outcome.c: the session's shutdown record ------------------------------ */
typedef struct rm_stopped {
    rm_procid id;
    RM_PROCESS_INFO info; /* AppStatus is the outcome */
    char unit[256];
    char exe[PATH_MAX];
    uint64_t exe_dev, exe_ino;
    int32_t group; /* shutdown order: 0 applications, 1 consoles, 2 services;
                      -1 never (the caller itself) */
    uint32_t cmd_len; /* its restart registration, copied at shutdown */
    char *cmd;
    /* whom to restart it as: the registration was another user's */
    uint32_t run_uid, run_gid;
    int32_t other_user;
    /* what RmRestart did (0: nothing yet), for rstrtmgr_restart_outcome */
    int32_t result; /* RSTRTMGR_RESTART_* */
    int32_t code;
    uint32_t settle_ms;
    rm_procid new_id; /* pid 0: none started */
    uint32_t tail_len; /* the last output of the program it started */
    char *tail;
} rm_stopped;

typedef struct rm_outcome {
    int done; /* RmShutdown has run */
    rm_stopped *items;
    size_t count, cap;
} rm_outcome;

RM_HIDDEN void rm_outcome_free(rm_outcome *s);
/* A new zeroed entry at the end, or NULL when out of memory. */
RM_HIDDEN rm_stopped *rm_outcome_add(rm_outcome *s);
/* Reads the session's record (empty, done 0, when there is none). */
RM_HIDDEN DWORD rm_outcome_read(int sessfd, rm_outcome *out);
/* The same for the session of a handle, opened and closed around the read. */
RM_HIDDEN DWORD rm_outcome_load(const rm_handle_info *h, rm_outcome *out);
/* Saves an outcome, merging it into what earlier calls recorded. */
RM_HIDDEN DWORD rm_outcome_save(const rm_handle_info *h, const rm_outcome *now);
/* Gives the holders of a list the statuses that the session's RmShutdown and
 * RmRestart recorded, and adds the processes it stopped that are gone. */
RM_HIDDEN DWORD rm_outcome_annotate(const rm_handle_info *h, rm_list *l);

/* ---- getlist.c: RmGetList ------------------------------------------------ */
/* Sets what rstrtmgr_last_uninspected returns. */
RM_HIDDEN void rm_last_uninspected_set(UINT n);

/* ---- shutdownlist.c: the list a shutdown ends with ------------------------ */
/* Keeps, for this thread's rstrtmgr_shutdown_list, the holders of l that
 * are still running (takes l's items), to be given the statuses the
 * session recorded when taken; s is the outcome of the shutdown just saved. */
RM_HIDDEN void rm_shutdown_list_keep(DWORD handle, const rm_handle_info *h,
                                     rm_list *l, const rm_outcome *s);
/* Forgets what this thread kept: every RmShutdown starts so, so that a
 * failed one never leaves an earlier one's list to be taken. */
RM_HIDDEN void rm_shutdown_list_drop(void);

/* ---- task.c: the running task, its cancellation and progress --------------- */
typedef struct rm_task {
    DWORD handle;
    int efd; /* readable once cancelled */
    struct rm_task *next;
} rm_task;

/* Makes t the running task of `handle` until rm_task_end; 0 or -1. */
RM_HIDDEN int rm_task_begin(rm_task *t, DWORD handle);
RM_HIDDEN void rm_task_end(rm_task *t);
RM_HIDDEN int rm_task_cancelled(const rm_task *t);

typedef struct rm_progress {
    RM_WRITE_STATUS_CALLBACK fn;
    size_t done, total;
    UINT last;
} rm_progress;

/* Calls back with pct when it is more than last time (0 once). */
RM_HIDDEN void rm_progress_report(rm_progress *p, UINT pct);
/* One of `total` steps is done. */
RM_HIDDEN void rm_progress_step(rm_progress *p);
/* Waits until every pidfd in fds (-1 = already done) has exited, the
 * deadline (rm_now_ms) passes or the task is cancelled; marks exited ones -1
 * and reports each as a step. Returns 1 when cancelled. */
RM_HIDDEN int rm_wait_exits(int *fds, size_t n, uint64_t deadline,
                            const rm_task *t, rm_progress *p);
/* The same wait for any descriptors: calls ready(ctx, i) for each fds[i]
 * that is readable or hung up, which sets fds[i] to -1 once it is done
 * with it; repeats the last percentage while idle. Returns 1 when
 * cancelled. */
RM_HIDDEN int rm_wait_fds(int *fds, size_t n, uint64_t deadline,
                          const rm_task *t, rm_progress *p,
                          void (*ready)(void *ctx, size_t i), void *ctx);

/* ---- launch.c: starting a restart command and watching it settle ---------- */
enum {
    RM_LAUNCH_STEP_SETUP, /* what failed before the program ran */
    RM_LAUNCH_STEP_CREDENTIALS,
    RM_LAUNCH_STEP_CHDIR,
    RM_LAUNCH_STEP_EXEC,
};

typedef struct rm_launch {
    /* what to run, prepared before the fork (nothing is allocated after) */
    char **argv, **envp;
    const char *cwd;
    int other_user; /* then as uid, gid and groups */
    uid_t uid;
    gid_t gid;
    gid_t *groups;
    int ngroups;
    int logfd, nullfd; /* its stdout and stderr; its stdin */
    DWORD settle_ms;
    /* the watcher, while it runs */
    pid_t watcher;
    int fd; /* its reports; -1 once read to the end */
    /* what it reported */
    int started;
    pid_t pid;
    uint64_t ticks;
    int result; /* RSTRTMGR_RESTART_*; 0 while unknown */
    int code;
    int step; /* RM_LAUNCH_STEP_* of a start that failed */
} rm_launch;

/* Forks l's watcher, which starts the program; 0, or -1 with errno. */
RM_HIDDEN int rm_launch_start(rm_launch *l);
/* Collects the reports of n launches until each has its result, the
 * deadline passes or the task is cancelled (what is unfinished is then
 * ended: a started program runs on, unverified); reaps the watchers; one
 * progress step per start and per verdict. Returns 1 when cancelled. */
RM_HIDDEN int rm_launch_wait(rm_launch *ls, size_t n, uint64_t deadline,
                             const rm_task *t, rm_progress *p);

/* ---- restartlog.c: the restarted programs' output, in the store ----------- */
#define RM_LOG_MAX (64u * 1024u)

typedef struct rm_log {
    int dirfd;      /* the store's logs/ */
    int wfd, rfd;   /* the program's (appending), and ours */
    char name[32];  /* its temporary name */
} rm_log;

/* Creates a new log in the store storefd; 0, or -1 with errno. */
RM_HIDDEN int rm_log_create(int storefd, rm_log *lg);
RM_HIDDEN void rm_log_close(rm_log *lg);
/* Keeps the log to its last RM_LOG_MAX bytes, names it after `program` (or
 * removes it when none started), closes it; returns the length of its last
 * output (at most RSTRTMGR_OUTPUT_TAIL_MAX bytes, malloc'd into *tail). */
RM_HIDDEN uint32_t rm_log_finish(rm_log *lg, const rm_procid *program,
                                 char **tail);
/* Removes the logs of programs that are gone; trims the others. */
RM_HIDDEN void rm_logs_prune(int storefd);

#endif
