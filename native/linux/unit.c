/* systemd services: a unit's processes, from its cgroup, and stopping or
 * starting a unit through systemctl. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"

extern char **environ;

typedef struct collect {
    rm_pids *out;
    int oom;
} collect;

/* Collects the pids in cgroup.procs of dirfd and its descendants. */
static void cgroup_pids(collect *s, int dirfd, int depth)
{
    int fd = openat(dirfd, "cgroup.procs", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        FILE *f = fdopen(fd, "r");
        if (f != NULL) {
            long pid;
            while (fscanf(f, "%ld", &pid) == 1)
                if (pid > 0 && rm_pids_add(s->out, (pid_t)pid) != 0)
                    s->oom = 1;
            fclose(f);
        } else {
            close(fd);
        }
    }
    if (depth >= 8)
        return;
    DIR *d = rm_open_dir_at(dirfd);
    if (d == NULL)
        return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_type != DT_DIR || de->d_name[0] == '.')
            continue;
        int sub = openat(dirfd, de->d_name,
                         O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sub >= 0) {
            cgroup_pids(s, sub, depth + 1);
            close(sub);
        }
    }
    closedir(d);
}

/* Finds the directory named `unit`, shallowest first (system services sit
 * at depth 2, user services deeper), and collects its processes. */
static int find_unit(collect *s, int dirfd, const char *unit, int depth)
{
    int sub = openat(dirfd, unit, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
                                      O_CLOEXEC);
    if (sub >= 0) {
        cgroup_pids(s, sub, 0);
        close(sub);
        return 1;
    }
    if (depth >= 5)
        return 0;
    DIR *d = rm_open_dir_at(dirfd);
    if (d == NULL)
        return 0;
    int found = 0;
    struct dirent *de;
    while (!found && (de = readdir(d)) != NULL) {
        size_t n = strlen(de->d_name);
        /* Only slices and the user manager hold services. */
        if (de->d_type != DT_DIR ||
            !((n > 6 && strcmp(de->d_name + n - 6, ".slice") == 0) ||
              strncmp(de->d_name, "user@", 5) == 0))
            continue;
        int c = openat(dirfd, de->d_name,
                       O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (c >= 0) {
            found = find_unit(s, c, unit, depth + 1);
            close(c);
        }
    }
    closedir(d);
    return found;
}

int rm_unit_pids(char *const *units, size_t nunits, rm_pids *out)
{
    collect s = {out, 0};
    static const char *const roots[] = {
        "/sys/fs/cgroup/unified", "/sys/fs/cgroup/systemd", "/sys/fs/cgroup"};
    int root = -1;
    for (size_t i = 0; i < 3 && root < 0; i++) {
        int fd = open(roots[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
            continue;
        if (faccessat(fd, "cgroup.procs", F_OK, 0) == 0)
            root = fd;
        else
            close(fd);
    }
    if (root < 0)
        return 0;
    for (size_t i = 0; i < nunits; i++)
        find_unit(&s, root, units[i], 0);
    close(root);
    return s.oom ? -1 : 0;
}

int rm_systemd_running(void)
{
    struct stat st;
    return lstat("/run/systemd/system", &st) == 0 && S_ISDIR(st.st_mode);
}

int rm_systemctl(const char *verb, const char *unit)
{
    char *argv[] = {"systemctl", (char *)verb, "--no-block", "--",
                    (char *)unit, NULL};
    pid_t pid;
    if (posix_spawnp(&pid, "systemctl", NULL, NULL, argv, environ) != 0)
        return -1;
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}
