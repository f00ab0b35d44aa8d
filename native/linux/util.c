/* The backend's small toolkit: array growth, directories and whole files
 * relative to a descriptor, random bytes, the monotonic clock and a set of
 * file identities. Every other file stands on it; it stands on libc only. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base.h"

#define TMP_PREFIX ".tmp-"

int rm_grow(void **items, size_t *cap, size_t need, size_t size,
            size_t initial)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap : initial;
    while (n < need) {
        if (n > SIZE_MAX / 2 / size)
            return -1;
        n *= 2;
    }
    if (n > SIZE_MAX / size)
        return -1;
    void *p = realloc(*items, n * size);
    if (p == NULL)
        return -1;
    *items = p;
    *cap = n;
    return 0;
}

int rm_append(void **items, size_t *cap, size_t *count, const void *more,
              size_t n, size_t size, size_t initial)
{
    if (n > SIZE_MAX - *count || rm_grow(items, cap, *count + n, size, initial))
        return -1;
    if (n > 0)
        memcpy((char *)*items + *count * size, more, n * size);
    *count += n;
    return 0;
}

int rm_pids_add(rm_pids *p, pid_t pid)
{
    if (RM_GROW(p->items, p->cap, p->count + 1, 64) != 0)
        return -1;
    p->items[p->count++] = pid;
    return 0;
}

DIR *rm_open_dir_at(int dirfd)
{
    int fd = dup(dirfd);
    if (fd < 0)
        return NULL;
    DIR *d = fdopendir(fd);
    if (d == NULL) {
        int e = errno;
        close(fd);
        errno = e;
        return NULL;
    }
    rewinddir(d); /* the offset is shared with the borrowed descriptor */
    return d;
}

ssize_t rm_read_small_at(int dirfd, const char *name, char *buf, size_t size)
{
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n;
    do
        n = read(fd, buf, size - 1);
    while (n < 0 && errno == EINTR);
    int e = errno;
    close(fd);
    if (n < 0) {
        errno = e;
        return -1;
    }
    buf[n] = '\0';
    return n;
}

int rm_open_store_file(int dirfd, const char *name, struct stat *st)
{
    int fd = openat(dirfd, name,
                    O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int e = 0;
    if (fstat(fd, st) != 0)
        e = errno;
    else if (!S_ISREG(st->st_mode))
        e = EINVAL;
    else if (st->st_uid != geteuid())
        e = EPERM; /* planted by someone else (root, in a user's store) */
    else if ((uint64_t)st->st_size > RM_STORE_FILE_MAX)
        e = EFBIG;
    if (e != 0) {
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

char *rm_read_file_at(int dirfd, const char *name, size_t *len)
{
    struct stat st;
    int fd = rm_open_store_file(dirfd, name, &st);
    if (fd < 0)
        return NULL;
    char *buf = malloc((size_t)st.st_size + 1);
    int e = buf == NULL ? ENOMEM : 0;
    if (buf != NULL) {
        size_t n = 0;
        while (n < (size_t)st.st_size) {
            ssize_t r = read(fd, buf + n, (size_t)st.st_size - n);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                break;
            n += (size_t)r;
        }
        buf[n] = '\0';
        *len = n;
    }
    close(fd);
    errno = e;
    return buf;
}

void rm_sweep_leftovers_at(int dirfd)
{
    DIR *d = rm_open_dir_at(dirfd);
    if (d == NULL)
        return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (strncmp(de->d_name, TMP_PREFIX, strlen(TMP_PREFIX)) == 0)
            unlinkat(dirfd, de->d_name, 0);
    rewinddir(d); /* the offset is shared: leave it where callers expect */
    closedir(d);
}

static int write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, buf, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        buf += w;
        len -= (size_t)w;
    }
    return 0;
}

int rm_replace_file_at(int dirfd, const char *name, const char *buf,
                       size_t len)
{
    char tmp[64];
    unsigned char r[8];
    if (rm_random(r, sizeof r) != 0)
        return -1;
    snprintf(tmp, sizeof tmp, TMP_PREFIX "%02x%02x%02x%02x%02x%02x%02x%02x",
             r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]);
    int fd = openat(dirfd, tmp,
                    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    if (write_all(fd, buf, len) != 0 || close(fd) != 0) {
        int e = errno;
        unlinkat(dirfd, tmp, 0);
        errno = e;
        return -1;
    }
    if (renameat(dirfd, tmp, dirfd, name) != 0) {
        int e = errno;
        unlinkat(dirfd, tmp, 0);
        errno = e;
        return -1;
    }
    return 0;
}

int rm_random(void *buf, size_t len)
{
    unsigned char *p = buf;
    while (len > 0) {
        ssize_t n = getrandom(p, len, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

uint64_t rm_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t rm_mix64(uint64_t x)
{
    x ^= x >> 33; /* MurmurHash3's finaliser */
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb33fa3ac29b9ULL;
    x ^= x >> 33;
    return x;
}

uint64_t rm_hash_bytes(const char *s, size_t len)
{
    /* Eight bytes a step (a registered path is hashed when a session's
     * registrations are loaded: 100,000 of them at a first list), each
     * word multiplied in and folded; the tail as one zero-padded word. */
    uint64_t h = 0xcbf29ce484222325ULL ^ len, w;
    for (; len >= 8; s += 8, len -= 8) {
        memcpy(&w, s, 8);
        h = (h ^ w) * 0x9E3779B97F4A7C15ULL;
        h ^= h >> 29;
    }
    if (len > 0) {
        w = 0;
        memcpy(&w, s, len);
        h = (h ^ w) * 0x9E3779B97F4A7C15ULL;
    }
    return rm_mix64(h);
}

int rm_buf_add(rm_buf *b, const void *data, size_t len)
{
    if (RM_GROW(b->p, b->cap, b->len + len, 4096) != 0)
        return -1;
    memcpy(b->p + b->len, data, len);
    b->len += len;
    return 0;
}

static size_t fid_hash(uint64_t dev, uint64_t ino)
{
    return (size_t)rm_mix64(ino ^ (dev * 0x9E3779B97F4A7C15ULL));
}

/* The slot of (dev, ino) in a table of mask + 1 slots: its own, or the empty
 * one where it belongs. */
static rm_fid_slot *fid_find(rm_fid_slot *slots, size_t mask, uint64_t dev,
                             uint64_t ino)
{
    size_t j = fid_hash(dev, ino) & mask;
    while (slots[j].value != 0 && (slots[j].dev != dev || slots[j].ino != ino))
        j = (j + 1) & mask;
    return &slots[j];
}

int rm_fidset_get(const rm_fidset *s, uint64_t dev, uint64_t ino)
{
    return s->count == 0 ? 0 : fid_find(s->slots, s->mask, dev, ino)->value;
}

int rm_fidset_reserve(rm_fidset *s, size_t n)
{
    size_t want = s->count + n;
    if (want * 2 <= s->mask + 1 && s->slots != NULL)
        return 0;
    size_t cap = 256;
    while (cap < want * 2) /* at most half full */
        cap *= 2;
    rm_fid_slot *t = calloc(cap, sizeof *t);
    if (t == NULL)
        return -1;
    for (size_t i = 0; s->slots != NULL && i <= s->mask; i++)
        if (s->slots[i].value != 0)
            *fid_find(t, cap - 1, s->slots[i].dev, s->slots[i].ino) =
                s->slots[i];
    free(s->slots);
    s->slots = t;
    s->mask = cap - 1;
    return 0;
}

int rm_fidset_put(rm_fidset *s, uint64_t dev, uint64_t ino, int value)
{
    if ((s->count + 1) * 2 > s->mask + 1 &&
        rm_fidset_reserve(s, s->count + 1) != 0) /* doubles it */
        return -1;
    rm_fid_slot *e = fid_find(s->slots, s->mask, dev, ino);
    if (e->value == 0) {
        e->dev = dev;
        e->ino = ino;
        s->count++;
    }
    e->value = value;
    return 0;
}

void rm_fidset_free(rm_fidset *s)
{
    free(s->slots);
    memset(s, 0, sizeof *s);
}
