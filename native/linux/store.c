/* The per-user session store: a directory only its user can use, a lock file,
 * and one directory per session whose record is replaced atomically. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define RECORD_NAME "record"
#define RECORD_MAGIC "rstrtmgr-session 1\n"
#define DEFAULT_LOCK_TIMEOUT_MS 10000

static int path_is_absolute(const char *p) { return p != NULL && p[0] == '/'; }

static int owned_by_me(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode) &&
           st.st_uid == geteuid();
}

static int store_default_path(char *buf, size_t size)
{
    const char *env = getenv("RSTRTMGR_STATE_DIR");
    int n;
    if (env != NULL && env[0] != '\0')
        n = snprintf(buf, size, "%s", env);
    else {
        /* Under sudo, XDG_RUNTIME_DIR may still name the invoking user's
         * directory: use it only when it is ours. */
        const char *xdg = getenv("XDG_RUNTIME_DIR");
        if (path_is_absolute(xdg) && owned_by_me(xdg))
            n = snprintf(buf, size, "%s/rstrtmgr", xdg);
        else
            n = snprintf(buf, size, "/tmp/rstrtmgr-%u", (unsigned)geteuid());
    }
    return n < 0 || (size_t)n >= size ? -1 : 0;
}

static DWORD check_store_dir(const char *path, int fd, int created)
{
    struct stat st;
    if (fstat(fd, &st) != 0) {
        rm_detail_set("cannot inspect the session store %s: %s", path,
                      strerror(errno));
        return ERROR_WRITE_FAULT;
    }
    if (st.st_uid != geteuid()) {
        rm_detail_set("the session store %s belongs to uid %u, not to this "
                      "user (uid %u); refusing to use it: remove it, or set "
                      "RSTRTMGR_STATE_DIR to a directory of your own",
                      path, (unsigned)st.st_uid, (unsigned)geteuid());
        return ERROR_WRITE_FAULT;
    }
    if (created && (st.st_mode & 07777) != 0700 && fchmod(fd, 0700) == 0)
        st.st_mode = (st.st_mode & ~07777u) | 0700;
    if ((st.st_mode & 0077) != 0) {
        rm_detail_set("the session store %s has mode %04o, open to other "
                      "users; refusing to use it: make it 0700 "
                      "(chmod 700 %s) or remove it",
                      path, (unsigned)(st.st_mode & 07777), path);
        return ERROR_WRITE_FAULT;
    }
    return ERROR_SUCCESS;
}

static DWORD open_store_dir(const char *path, rm_store *st)
{
    int created = 0;
    if (!path_is_absolute(path)) {
        rm_detail_set("the session store path %s is not absolute; set "
                      "RSTRTMGR_STATE_DIR to an absolute path", path);
        return ERROR_WRITE_FAULT;
    }
    if (mkdir(path, 0700) == 0)
        created = 1;
    else if (errno != EEXIST) {
        rm_detail_set("cannot create the session store %s: %s", path,
                      strerror(errno));
        return ERROR_WRITE_FAULT;
    }
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    struct stat lst;
    if (fd < 0 && errno == EACCES && lstat(path, &lst) == 0 &&
        lst.st_uid != geteuid()) {
        rm_detail_set("the session store %s belongs to uid %u, not to this "
                      "user (uid %u); refusing to use it: set "
                      "RSTRTMGR_STATE_DIR to a directory of your own",
                      path, (unsigned)lst.st_uid, (unsigned)geteuid());
        return ERROR_WRITE_FAULT;
    }
    if (fd < 0) {
        if (errno == ELOOP || errno == ENOTDIR)
            rm_detail_set("the session store %s is a symbolic link or not a "
                          "directory; refusing to follow it: remove it, or "
                          "set RSTRTMGR_STATE_DIR to a directory of your own",
                          path);
        else
            rm_detail_set("cannot open the session store %s: %s", path,
                          strerror(errno));
        return ERROR_WRITE_FAULT;
    }
    DWORD rc = check_store_dir(path, fd, created);
    if (rc != ERROR_SUCCESS) {
        close(fd);
        return rc;
    }
    st->dirfd = fd;
    snprintf(st->path, sizeof st->path, "%s", path);
    return ERROR_SUCCESS;
}

static long lock_timeout_ms(void)
{
    const char *env = getenv("RSTRTMGR_LOCK_TIMEOUT_MS");
    if (env != NULL && env[0] != '\0') {
        char *end;
        long v = strtol(env, &end, 10);
        if (*end == '\0' && v >= 0)
            return v;
    }
    return DEFAULT_LOCK_TIMEOUT_MS;
}

static DWORD take_lock(rm_store *st)
{
    int fd = openat(st->dirfd, "lock",
                    O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC,
                    0600);
    struct stat lst;
    if (fd >= 0 && (fstat(fd, &lst) != 0 || !S_ISREG(lst.st_mode) ||
                    lst.st_uid != geteuid())) {
        close(fd);
        fd = -1;
        errno = EINVAL;
    }
    if (fd < 0) {
        rm_detail_set("cannot open the lock of the session store %s: %s; it "
                      "must be a regular file of this user",
                      st->path, strerror(errno));
        return ERROR_WRITE_FAULT;
    }
    long timeout = lock_timeout_ms();
    uint64_t deadline = rm_now_ms() + (uint64_t)timeout;
    long pause_us = 200;
    while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno != EWOULDBLOCK && errno != EINTR) {
            rm_detail_set("cannot lock the session store %s: %s", st->path,
                          strerror(errno));
            close(fd);
            return ERROR_WRITE_FAULT;
        }
        if (rm_now_ms() >= deadline) {
            rm_detail_set("another process has held the lock of the session "
                          "store %s for more than %ld ms; try again",
                          st->path, timeout);
            close(fd);
            return ERROR_SEM_TIMEOUT;
        }
        struct timespec ts = {0, pause_us * 1000};
        nanosleep(&ts, NULL);
        if (pause_us < 10000)
            pause_us *= 2;
    }
    st->lockfd = fd;
    return ERROR_SUCCESS;
}

DWORD rm_store_open_locked(const char *path, rm_store *st)
{
    char buf[PATH_MAX];
    st->dirfd = -1;
    st->lockfd = -1;
    st->sessions_fd = -1;
    st->path[0] = '\0';
    if (path == NULL || path[0] == '\0') {
        if (store_default_path(buf, sizeof buf) != 0) {
            rm_detail_set("the session store path is too long");
            return ERROR_WRITE_FAULT;
        }
        path = buf;
    }
    DWORD rc = open_store_dir(path, st);
    if (rc == ERROR_SUCCESS && (rc = take_lock(st)) != ERROR_SUCCESS) {
        close(st->dirfd);
        st->dirfd = -1;
    }
    return rc;
}

void rm_store_close(rm_store *st)
{
    if (st->lockfd >= 0)
        close(st->lockfd); /* releases the flock */
    if (st->dirfd >= 0)
        close(st->dirfd);
    if (st->sessions_fd >= 0)
        close(st->sessions_fd);
    st->lockfd = st->dirfd = st->sessions_fd = -1;
}

/* ---- session records ---------------------------------------------------- */

void rm_session_free(rm_session *s)
{
    free(s->participants);
    s->participants = NULL;
    s->count = s->capacity = 0;
}

int rm_session_add(rm_session *s, const rm_participant *p)
{
    if (RM_GROW(s->participants, s->capacity, s->count + 1, 4) != 0)
        return -1;
    s->participants[s->count++] = *p;
    return 0;
}

int rm_session_prune(rm_session *s)
{
    size_t kept = 0;
    for (size_t i = 0; i < s->count; i++)
        if (rm_procid_alive(&s->participants[i].proc))
            s->participants[kept++] = s->participants[i];
    s->count = kept;
    return kept > 0;
}

static DWORD store_io_error(rm_store *st, const char *what, const char *key)
{
    rm_detail_set("cannot %s session %s in the store %s: %s", what, key,
                  st->path, strerror(errno));
    return ERROR_WRITE_FAULT;
}

/* The store's "sessions" directory, opened once per rm_store: borrowed, the
 * caller does not close it. */
static int sessions_dir(rm_store *st, int create)
{
    if (st->sessions_fd >= 0)
        return st->sessions_fd;
    if (create && mkdirat(st->dirfd, "sessions", 0700) != 0 && errno != EEXIST)
        return -1;
    st->sessions_fd = openat(st->dirfd, "sessions",
                             O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    return st->sessions_fd;
}

static int session_dir(rm_store *st, const char *key, int create)
{
    int sd = sessions_dir(st, create);
    if (sd < 0)
        return -1;
    if (create && mkdirat(sd, key, 0700) != 0 && errno != EEXIST)
        return -1;
    return openat(sd, key, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

/* A participant line, every field checked: "p <16 hex> <pid> <start>
 * <0|1>" (further fields would be another version's). */
static int parse_participant(const char *line, rm_participant *p)
{
    const char *q = line + 2;
    if (line[1] != ' ' || strspn(q, "0123456789abcdef") != 16 || q[16] != ' ')
        return -1;
    p->id = strtoull(q, NULL, 16);
    q += 17;
    uint64_t v[3];
    for (int i = 0; i < 3; i++) {
        char *end;
        if (*q < '0' || *q > '9')
            return -1;
        errno = 0;
        v[i] = strtoull(q, &end, 10);
        if (errno != 0 || (*end != ' ' && *end != '\0') ||
            (i < 2 && *end != ' '))
            return -1;
        q = *end == ' ' ? end + 1 : end;
    }
    if (v[0] == 0 || v[0] > RM_PID_MAX || v[2] > 1)
        return -1;
    p->proc.pid = (pid_t)v[0];
    p->proc.start_ticks = v[1];
    p->primary = (int)v[2];
    return 0;
}

static int parse_record(char *text, size_t len, rm_session *out)
{
    if (strlen(text) != len || len == 0 || text[len - 1] != '\n' ||
        strncmp(text, RECORD_MAGIC, strlen(RECORD_MAGIC)) != 0)
        return -1;
    char *save = NULL;
    for (char *line = strtok_r(text + strlen(RECORD_MAGIC), "\n", &save);
         line != NULL; line = strtok_r(NULL, "\n", &save)) {
        rm_participant p;
        if (line[0] != 'p')
            continue; /* another version's kind of line */
        if (parse_participant(line, &p) != 0 || rm_session_add(out, &p) != 0)
            return -1;
    }
    return 0;
}

DWORD rm_store_read_session(rm_store *st, const char *key, rm_session *out)
{
    memset(out, 0, sizeof *out);
    snprintf(out->key, sizeof out->key, "%s", key);
    int fd = session_dir(st, key, 0);
    if (fd < 0) {
        if (errno == ENOENT)
            return ERROR_SESSION_CREDENTIAL_CONFLICT;
        return store_io_error(st, "open", key);
    }
    size_t len;
    char *text = rm_read_file_at(fd, RECORD_NAME, &len);
    int e = errno;
    close(fd);
    if (text == NULL) {
        errno = e;
        if (errno == ENOENT)
            return ERROR_SESSION_CREDENTIAL_CONFLICT;
        return store_io_error(st, "read", key);
    }
    int bad = parse_record(text, len, out);
    free(text);
    if (bad) {
        rm_session_free(out);
        rm_detail_set("the record of session %s in the store %s is not "
                      "readable", key, st->path);
        return ERROR_WRITE_FAULT;
    }
    return ERROR_SUCCESS;
}

DWORD rm_store_write_session(rm_store *st, const rm_session *s, int create)
{
    size_t cap = 64 + s->count * 64;
    char *buf = malloc(cap);
    if (buf == NULL)
        return ERROR_OUTOFMEMORY;
    size_t n = (size_t)snprintf(buf, cap, "%s", RECORD_MAGIC);
    for (size_t i = 0; i < s->count; i++) {
        const rm_participant *p = &s->participants[i];
        n += (size_t)snprintf(buf + n, cap - n,
                              "p %016" PRIx64 " %d %" PRIu64 " %d\n", p->id,
                              (int)p->proc.pid, p->proc.start_ticks,
                              p->primary);
    }
    int fd = session_dir(st, s->key, create);
    if (fd < 0) {
        free(buf);
        return store_io_error(st, "create", s->key);
    }
    int rc = rm_replace_file_at(fd, RECORD_NAME, buf, n);
    int e = errno;
    close(fd);
    free(buf);
    errno = e;
    return rc == 0 ? ERROR_SUCCESS : store_io_error(st, "write", s->key);
}

/* Unlinks every entry of a directory (the store never nests deeper). */
static int empty_dir(int fd)
{
    DIR *d = rm_open_dir_at(fd);
    if (d == NULL)
        return -1;
    int rc = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (unlinkat(fd, de->d_name, 0) != 0 && errno != ENOENT)
            rc = -1;
    }
    closedir(d);
    return rc;
}

DWORD rm_store_remove_session(rm_store *st, const char *key)
{
    int sd = sessions_dir(st, 0);
    if (sd < 0)
        return errno == ENOENT ? ERROR_SUCCESS
                               : store_io_error(st, "remove", key);
    int fd = openat(sd, key, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0) {
        /* The record goes first: without it the session no longer exists,
         * whatever is left if this process dies here. */
        unlinkat(fd, RECORD_NAME, 0);
        empty_dir(fd);
        close(fd);
    } else if (errno == ELOOP || errno == ENOTDIR) {
        unlinkat(sd, key, 0); /* not ours to follow: just drop the entry */
    }
    int rc = unlinkat(sd, key, AT_REMOVEDIR);
    if (rc != 0 && errno != ENOENT)
        return store_io_error(st, "remove", key);
    return ERROR_SUCCESS;
}

static void sweep_subdir(int parent, const char *name)
{
    int fd =
        openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0) {
        rm_sweep_leftovers_at(fd);
        close(fd);
    }
}

static int is_key(const char *name)
{
    size_t i;
    for (i = 0; name[i] != '\0'; i++)
        if (!((name[i] >= '0' && name[i] <= '9') ||
              (name[i] >= 'a' && name[i] <= 'f')))
            return 0;
    return i == CCH_RM_SESSION_KEY;
}

DWORD rm_store_reclaim(rm_store *st, size_t *live)
{
    *live = 0;
    int sd = sessions_dir(st, 1);
    if (sd < 0) {
        rm_detail_set("cannot open the sessions of the store %s: %s",
                      st->path, strerror(errno));
        return ERROR_WRITE_FAULT;
    }
    DIR *d = rm_open_dir_at(sd);
    if (d == NULL) {
        rm_detail_set("cannot list the store %s: %s", st->path,
                      strerror(errno));
        return ERROR_WRITE_FAULT;
    }
    char (*dead)[CCH_RM_SESSION_KEY + 1] = NULL;
    size_t ndead = 0, capdead = 0;
    DWORD rc = ERROR_SUCCESS;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!is_key(de->d_name))
            continue;
        rm_session s;
        DWORD r = rm_store_read_session(st, de->d_name, &s);
        int alive = 0;
        if (r == ERROR_SUCCESS) {
            alive = rm_session_prune(&s);
            rm_session_free(&s);
        } else if (r != ERROR_SESSION_CREDENTIAL_CONFLICT) {
            /* An unreadable record (corrupt, or not ours): reclaim it
             * rather than let it hold one of the 64 places for ever. */
            alive = 0;
        }
        if (alive) {
            (*live)++;
            sweep_subdir(sd, de->d_name);
            continue;
        }
        if (RM_GROW(dead, capdead, ndead + 1, 8) != 0) {
            rc = ERROR_OUTOFMEMORY;
            break;
        }
        memcpy(dead[ndead++], de->d_name, CCH_RM_SESSION_KEY + 1);
    }
    closedir(d);
    /* Every start and join sweeps what killed updates left anywhere; any
     * other call sweeps its own session (rm_store_open_session). */
    rm_sweep_leftovers_at(sd);
    rm_sweep_leftovers_at(st->dirfd);
    sweep_subdir(st->dirfd, "restart");
    for (size_t i = 0; i < ndead && rc == ERROR_SUCCESS; i++)
        rc = rm_store_remove_session(st, dead[i]);
    free(dead);
    if (rc == ERROR_SUCCESS)
        rm_detail_clear(); /* what was unreadable has been reclaimed */
    return rc;
}

DWORD rm_store_open_session(const rm_handle_info *h, rm_store *st, int *sessfd)
{
    DWORD rc = rm_store_open_locked(h->store, st);
    if (rc != ERROR_SUCCESS)
        return rc;
    rm_session s;
    rc = rm_store_read_session(st, h->key, &s);
    if (rc == ERROR_SUCCESS)
        rm_session_free(&s);
    if (rc == ERROR_SESSION_CREDENTIAL_CONFLICT)
        rm_detail_set("session %s no longer exists in the store %s", h->key,
                      st->path);
    if (rc == ERROR_SUCCESS && (*sessfd = session_dir(st, h->key, 0)) < 0) {
        rm_detail_set("cannot open session %s in the store %s: %s", h->key,
                      st->path, strerror(errno));
        rc = ERROR_WRITE_FAULT;
    }
    if (rc == ERROR_SUCCESS)
        rm_sweep_leftovers_at(*sessfd);
    if (rc != ERROR_SUCCESS)
        rm_store_close(st);
    return rc;
}
