/* Restart registration on Windows: kernel32's RegisterApplicationRestart,
 * given the arguments as one command line that the MS C runtime parses back
 * into the very same argv (the quoting of Python's subprocess.list2cmdline). */
#include <stdbool.h>
#include <wchar.h>

#include "rstrtmgr_ext.h"

typedef struct {
    WCHAR text[RESTART_MAX_CMD_LINE]; /* with its NUL */
    size_t len;
    bool overflow;
} command_line;

static void put(command_line *line, WCHAR c, size_t count)
{
    for (; count > 0; count--) {
        if (line->len + 1 >= RESTART_MAX_CMD_LINE) {
            line->overflow = true;
            return;
        }
        line->text[line->len++] = c;
    }
}

static void put_argument(command_line *line, const WCHAR *arg)
{
    if (line->len > 0)
        put(line, L' ', 1);
    bool quoted = arg[0] == L'\0' || wcspbrk(arg, L" \t") != NULL;
    if (quoted)
        put(line, L'"', 1);
    /* Backslashes are literal unless a quote follows them: then each one is
     * doubled, and the quote escaped. */
    size_t backslashes = 0;
    for (const WCHAR *p = arg; *p != L'\0'; p++) {
        if (*p == L'\\') {
            backslashes++;
            continue;
        }
        put(line, L'\\', *p == L'"' ? 2 * backslashes + 1 : backslashes);
        put(line, *p, 1);
        backslashes = 0;
    }
    put(line, L'\\', quoted ? 2 * backslashes : backslashes);
    if (quoted)
        put(line, L'"', 1);
}

/* A failed HRESULT as the winerror.h code it carries. */
static DWORD hresult_error(HRESULT hr)
{
    if (SUCCEEDED(hr))
        return ERROR_SUCCESS;
    return HRESULT_FACILITY(hr) == FACILITY_WIN32 ? (DWORD)HRESULT_CODE(hr)
                                                  : ERROR_GEN_FAILURE;
}

DWORD rstrtmgr_register_restart(const char *const *argv, UINT argc,
                                const char *cwd, const char *const *envp,
                                UINT envc)
{
    /* Windows restarts the program itself (argv[0]) in its own working
     * directory and environment: only the arguments are registered. */
    (void)cwd, (void)envp, (void)envc;
    if (argv == NULL || argc == 0)
        return ERROR_BAD_ARGUMENTS;
    command_line line = {.len = 0}, *cmd = &line;
    WCHAR arg[RESTART_MAX_CMD_LINE];
    for (UINT i = 1; i < argc && !cmd->overflow; i++) {
        if (argv[i] == NULL)
            return ERROR_BAD_ARGUMENTS;
        if (MultiByteToWideChar(CP_UTF8, 0, argv[i], -1, arg,
                                RESTART_MAX_CMD_LINE) == 0) {
            DWORD error = GetLastError();
            return error == ERROR_INSUFFICIENT_BUFFER ? ERROR_BAD_ARGUMENTS
                                                      : error;
        }
        put_argument(cmd, arg);
    }
    /* RegisterApplicationRestart takes at most 1023 characters. */
    if (cmd->overflow)
        return ERROR_BAD_ARGUMENTS;
    return hresult_error(RegisterApplicationRestart(cmd->text, 0));
}

DWORD rstrtmgr_unregister_restart(void)
{
    return hresult_error(UnregisterApplicationRestart());
}
