/* Loading a session's registrations: those of a few sessions are parsed
 * once and reused while their generation has not changed.
 *
 * Every RmRegisterResources writes a new random generation into the
 * session's directory (under the store lock, before its batch), so a reader
 * that reads the generation under the lock and finds the one it parsed at
 * knows that no participant, in any process, has registered anything since.
 * Parsing 100,000 registrations (4.6 MB of batches) costs more than the scan
 * of every process; the generation is one small read. */
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

/* A process has few sessions; an installer one or two. */
#define REGCACHE_SLOTS 4

struct rm_regcache_entry {
    char key[CCH_RM_SESSION_KEY + 1];
    char store[PATH_MAX];
    uint64_t generation;
    rm_resources res; /* owned; never changed once published */
    size_t refs;      /* the slot's own, plus one per view handed out */
    uint64_t used;    /* for least-recently-used eviction */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static rm_regcache_entry *slots[REGCACHE_SLOTS];
static uint64_t clock_;

static void unref(rm_regcache_entry *e);

/* A forked child has none of the parent's sessions: it starts empty, and
 * the lock is never left held by a thread the child does not have. */
static void atfork_prepare(void) { pthread_mutex_lock(&lock); }
static void atfork_parent(void) { pthread_mutex_unlock(&lock); }
static void atfork_child(void)
{
    for (size_t i = 0; i < REGCACHE_SLOTS; i++)
        if (slots[i] != NULL) {
            unref(slots[i]);
            slots[i] = NULL;
        }
    pthread_mutex_unlock(&lock);
}

static void init(void)
{
    pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

static void lock_cache(void)
{
    pthread_once(&once, init);
    pthread_mutex_lock(&lock);
}

static void unref(rm_regcache_entry *e)
{
    if (--e->refs == 0) {
        rm_resources_clear(&e->res);
        free(e);
    }
}

static int same(const rm_regcache_entry *e, const rm_handle_info *h)
{
    return strcmp(e->key, h->key) == 0 && strcmp(e->store, h->store) == 0;
}

static void view(rm_regcache_entry *e, rm_resources *out)
{
    *out = e->res;
    out->shared = e;
    e->refs++;
    e->used = ++clock_;
}

/* 1 and *out a view of the session's registrations at `generation`; 0. */
static int cache_get(const rm_handle_info *h, uint64_t generation,
                     rm_resources *out)
{
    int hit = 0;
    lock_cache();
    for (size_t i = 0; i < REGCACHE_SLOTS && !hit; i++) {
        rm_regcache_entry *e = slots[i];
        if (e != NULL && e->generation == generation && same(e, h)) {
            view(e, out);
            hit = 1;
        }
    }
    pthread_mutex_unlock(&lock);
    return hit;
}

/* Keeps *res (freshly loaded, owned) for the session at `generation` and
 * turns *res into a view of it; leaves it owned when out of memory. */
static void cache_put(const rm_handle_info *h, uint64_t generation,
                      rm_resources *res)
{
    rm_regcache_entry *e = calloc(1, sizeof *e);
    if (e == NULL)
        return; /* res stays the caller's own */
    memcpy(e->key, h->key, sizeof e->key);
    memcpy(e->store, h->store, sizeof e->store);
    e->generation = generation;
    e->res = *res;
    e->refs = 1;
    lock_cache();
    /* The session's older generation goes, else the oldest entry. */
    size_t victim = 0;
    for (size_t i = 0; i < REGCACHE_SLOTS; i++) {
        if (slots[i] == NULL || same(slots[i], h)) {
            victim = i;
            break;
        }
        if (slots[i]->used < slots[victim]->used)
            victim = i;
    }
    if (slots[victim] != NULL)
        unref(slots[victim]);
    slots[victim] = e;
    view(e, res);
    pthread_mutex_unlock(&lock);
}

void rm_resources_free(rm_resources *r)
{
    if (r->shared == NULL) {
        rm_resources_clear(r);
        return;
    }
    lock_cache();
    unref(r->shared);
    pthread_mutex_unlock(&lock);
    memset(r, 0, sizeof *r);
}

void rm_regcache_forget(const rm_handle_info *h)
{
    lock_cache();
    for (size_t i = 0; i < REGCACHE_SLOTS; i++)
        if (slots[i] != NULL && same(slots[i], h)) {
            unref(slots[i]);
            slots[i] = NULL;
        }
    pthread_mutex_unlock(&lock);
}

/* The session's generation; 0 (never written) when it has none. */
static uint64_t read_generation(int dirfd)
{
    size_t len = 0;
    uint64_t gen = 0;
    char *text = rm_read_file_at(dirfd, RM_GENERATION_FILE, &len);
    if (text != NULL && len == sizeof gen)
        memcpy(&gen, text, sizeof gen);
    free(text);
    return gen;
}

/* The session's batch files as they are now, in one value: each one's name,
 * inode, size, type, owner and change time (which every write, rename or
 * chown moves). A batch replaced behind the store's back (not by
 * RmRegisterResources, which writes a new generation) changes it, and is
 * then read, and judged, again. 0 when the directory cannot be read. */
static uint64_t batches_fingerprint(int dirfd)
{
    DIR *d = rm_open_dir_at(dirfd);
    if (d == NULL)
        return 0;
    uint64_t fp = 0x9E3779B97F4A7C15ULL;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strncmp(de->d_name, RM_BATCH_PREFIX, strlen(RM_BATCH_PREFIX)) != 0)
            continue;
        struct stat st;
        if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            fp = 0;
            break;
        }
        uint64_t x = rm_hash_bytes(de->d_name, strlen(de->d_name));
        x = rm_mix64(x ^ (uint64_t)st.st_ino);
        x = rm_mix64(x ^ (uint64_t)st.st_dev);
        x = rm_mix64(x ^ (uint64_t)st.st_size);
        x = rm_mix64(x ^ ((uint64_t)st.st_mode << 32 | (uint64_t)st.st_uid));
        x = rm_mix64(x ^ ((uint64_t)st.st_ctim.tv_sec * 1000000000u +
                          (uint64_t)st.st_ctim.tv_nsec));
        fp += x; /* whatever order readdir gives */
    }
    closedir(d);
    return fp;
}

/* The key a load finds the session's registrations by: its generation and
 * its batch files; 0 when it has none. */
static uint64_t load_key(int dirfd)
{
    uint64_t gen = read_generation(dirfd);
    if (gen != 0) {
        uint64_t fp = batches_fingerprint(dirfd);
        gen = fp != 0 ? rm_mix64(gen) ^ fp : 0;
    }
    return gen;
}

/* The number of batch files in the session directory dirfd; -1 when it
 * cannot be read. */
static long count_batches(int dirfd)
{
    DIR *d = rm_open_dir_at(dirfd);
    if (d == NULL)
        return -1;
    long n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        n += strncmp(de->d_name, RM_BATCH_PREFIX, strlen(RM_BATCH_PREFIX)) == 0;
    closedir(d);
    return n;
}

void rm_regcache_prime(const rm_handle_info *h, int dirfd, const char *batch,
                       size_t len)
{
    /* Only when that batch is all there is: anything else a load would
     * read too. */
    uint64_t key = count_batches(dirfd) == 1 ? load_key(dirfd) : 0;
    rm_resources res;
    if (key == 0 || rm_resources_parse(batch, len, &res) != ERROR_SUCCESS)
        return;
    cache_put(h, key, &res);
    rm_resources_free(&res); /* the cache's copy stays */
}

DWORD rm_resources_load(const rm_handle_info *h, rm_resources *out)
{
    memset(out, 0, sizeof *out);
    rm_store st;
    int dirfd;
    DWORD rc = rm_store_open_session(h, &st, &dirfd);
    if (rc != ERROR_SUCCESS)
        return rc;
    /* What is kept is used while the generation and the batch files are
     * those it was parsed from. */
    uint64_t gen = load_key(dirfd);
    if (gen != 0 && cache_get(h, gen, out)) {
        close(dirfd);
        rm_store_close(&st);
        return ERROR_SUCCESS;
    }
    rc = rm_resources_read(dirfd, h, st.path, out);
    close(dirfd);
    rm_store_close(&st);
    if (rc == ERROR_SUCCESS && gen != 0)
        cache_put(h, gen, out);
    return rc;
}
