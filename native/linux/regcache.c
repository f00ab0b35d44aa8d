/* The registrations of a few sessions, parsed once and reused while their
 * generation has not changed.
 *
 * Every RmRegisterResources writes a new random generation into the
 * session's directory (under the store lock, before its batch), so a reader
 * that reads the generation under the lock and finds the one it parsed at
 * knows that no participant, in any process, has registered anything since.
 * Parsing 100,000 registrations (4.6 MB of batches) costs more than the scan
 * of every process; the generation is one small read. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

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
        rm_resources_free(&e->res);
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

int rm_regcache_get(const rm_handle_info *h, uint64_t generation,
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

void rm_regcache_put(const rm_handle_info *h, uint64_t generation,
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

void rm_regcache_release(rm_resources *r)
{
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
