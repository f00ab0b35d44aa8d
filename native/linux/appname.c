/* The most useful human name of a process: for an interpreter running a
 * script, the script (Windows shows a program's friendly name; every Python
 * application would otherwise be "python3"). */
#include <stdio.h>
#include <string.h>

#include "internal.h"

/* How an interpreter's command line names its program. */
typedef struct family {
    const char *prefix; /* comm is prefix followed only by digits and dots */
    const char *const *code;   /* options whose value is code: no script */
    const char *const *module; /* options whose value names the program */
    const char *const *valued; /* other options that take the next argument */
} family;

static const char *const none[] = {NULL};
static const char *const py_code[] = {"-c", NULL};
static const char *const py_module[] = {"-m", NULL};
static const char *const py_valued[] = {"-X", "-W", "--check-hash-based-pycs",
                                        NULL};
static const char *const perl_code[] = {"-e", "-E", NULL};
static const char *const ruby_code[] = {"-e", NULL};
static const char *const ruby_valued[] = {"-I", "-r", "-C", NULL};
static const char *const node_code[] = {"-e", "-p", "--eval", "--print", NULL};
static const char *const node_valued[] = {"-r", "--require", "--import",
                                          "--loader", NULL};
static const char *const sh_code[] = {"-c", NULL};
static const char *const sh_valued[] = {"-o", "-O", "+o", "+O", NULL};
static const char *const php_code[] = {"-r", NULL};
static const char *const php_valued[] = {"-d", "-c", "-z", NULL};

static const family families[] = {
    {"python", py_code, py_module, py_valued},
    {"pypy", py_code, py_module, py_valued},
    {"perl", perl_code, none, none},
    {"ruby", ruby_code, none, ruby_valued},
    {"node", node_code, none, node_valued},
    {"nodejs", node_code, none, node_valued},
    {"bash", sh_code, none, sh_valued},
    {"sh", sh_code, none, sh_valued},
    {"dash", sh_code, none, sh_valued},
    {"zsh", sh_code, none, sh_valued},
    {"ksh", sh_code, none, sh_valued},
    {"mksh", sh_code, none, sh_valued},
    {"php", php_code, none, php_valued},
    {"lua", perl_code, none, none},
    {"tclsh", none, none, none},
};

static const family *family_of(const char *comm)
{
    for (size_t i = 0; i < sizeof families / sizeof families[0]; i++) {
        size_t n = strlen(families[i].prefix);
        if (strncmp(comm, families[i].prefix, n) != 0)
            continue;
        const char *rest = comm + n;
        while ((*rest >= '0' && *rest <= '9') || *rest == '.')
            rest++;
        if (*rest == '\0')
            return &families[i];
    }
    return NULL;
}

int rm_is_interpreter(const char *comm) { return family_of(comm) != NULL; }

static int listed(const char *const *list, const char *arg)
{
    for (; *list != NULL; list++)
        if (strcmp(*list, arg) == 0)
            return 1;
    return 0;
}

static const char *basename_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash != NULL && slash[1] != '\0' ? slash + 1 : path;
}

int rm_script_name(const char *comm, const char *cmdline, size_t len,
                   char *out, size_t size)
{
    const family *f = family_of(comm);
    if (f == NULL || len == 0)
        return 0;
    const char *end = cmdline + len;
    const char *arg = cmdline + strnlen(cmdline, len) + 1; /* after argv[0] */
    int next_is_script = 0;
    while (arg < end) {
        size_t n = strnlen(arg, (size_t)(end - arg));
        const char *next = arg + n + 1;
        if (next_is_script || arg[0] != '-' || n == 1 /* "-": stdin */) {
            if (n == 0 || (n == 1 && arg[0] == '-'))
                return 0;
            snprintf(out, size, "%s", basename_of(arg));
            return 1;
        }
        if (strcmp(arg, "--") == 0) {
            next_is_script = 1;
        } else if (listed(f->code, arg)) {
            return 0;
        } else if (listed(f->module, arg)) {
            if (next >= end)
                return 0;
            snprintf(out, size, "%s", next);
            return 1;
        } else if (listed(f->valued, arg)) {
            next += strnlen(next, next < end ? (size_t)(end - next) : 0) + 1;
        }
        arg = next;
    }
    return 0;
}
