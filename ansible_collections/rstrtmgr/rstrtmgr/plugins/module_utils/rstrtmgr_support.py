# Copyright (c) 2026 The rstrtmgr developers
# MIT License (see LICENSE at the root of the rstrtmgr repository)
"""What the rstrtmgr modules share: rstrtmgr itself, and its results as data."""

from __future__ import annotations

import os
import sys
import traceback

from ansible.module_utils.basic import missing_required_lib

__all__ = [
    "RSTRTMGR_IMPORT_ERROR",
    "flag_names",
    "list_data",
    "not_looked_into",
    "process_data",
    "register",
    "require_rstrtmgr",
    "rstrtmgr",
]

try:
    import rstrtmgr
except ImportError:
    rstrtmgr = None
    RSTRTMGR_IMPORT_ERROR = traceback.format_exc()
else:
    RSTRTMGR_IMPORT_ERROR = None

#: The install step the message names: the docs page's section.
INSTALL_STEP = (
    "install it on the managed node, in the environment of that Python: "
    "'{python} -m pip install rstrtmgr' (docs/ansible.md, 'rstrtmgr on the "
    "managed nodes'), or set ansible_python_interpreter to a Python that has it"
)


def require_rstrtmgr(module):
    """Fail the task, naming the install step, unless rstrtmgr imports."""
    python = sys.executable or "python3"
    if RSTRTMGR_IMPORT_ERROR is None:
        try:
            rstrtmgr.Session  # noqa: B018 - the facade loads its C extension here
        except ImportError as e:
            module.fail_json(
                msg=f"rstrtmgr is installed for {python}, but its C extension does "
                f"not load ({e}): reinstall it, '{python} -m pip install "
                "--force-reinstall rstrtmgr' (Linux managed nodes only)",
                exception=traceback.format_exc(),
            )
        return
    module.fail_json(
        msg="rstrtmgr is not installed for {}: {}. {}".format(
            python,
            INSTALL_STEP.format(python=python),
            missing_required_lib("rstrtmgr"),
        ),
        exception=RSTRTMGR_IMPORT_ERROR,
    )


def flag_names(flags):
    """The lower-case names of the single-bit members set in an IntFlag.

    The names of ``rstrtmgr list --json`` (schema version 1), the same on
    every Python version.
    """
    value = int(flags)
    names = []
    for name, member in type(flags).__members__.items():
        bit = int(member)
        if bit and bit & (bit - 1) == 0 and value & bit:
            names.append(name.lower())
    return names


def text(value):
    """A name as text, its bytes that are not UTF-8 escaped."""
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def process_data(p):
    """One process as ``rstrtmgr list --json`` (schema version 1) has it."""
    files = getattr(p, "files", None)
    command_line = getattr(p, "command_line", None)
    return {
        "pid": p.pid,
        "start_time": p.start_time.isoformat(),
        "app_name": text(p.app_name),
        "service_name": p.service_name,
        "app_type": p.app_type.name.lower(),
        "status": flag_names(p.status),
        "restartable": bool(p.restartable),
        "uid": getattr(p, "uid", None),
        "user": getattr(p, "user", None),
        "command_line": (
            None if command_line is None else [text(a) for a in command_line]
        ),
        "files": (
            None
            if files is None
            else [
                {"path": text(f.path), "uses": list(f.uses), "deleted": f.deleted}
                for f in files
            ]
        ),
    }


def missing_paths(paths):
    """The given paths that do not exist (they are still searched)."""
    return [p for p in paths if not os.path.lexists(p)]


def register(session, paths, stale, exclude):
    """Register ``paths`` with ``session``: files, trees, or stale copies.

    A directory stands for every file under it (but ``exclude``); with
    ``stale``, the processes that use files deleted or replaced under the
    paths (anywhere, for executables and libraries, when there are none).
    """
    if stale:
        session.register_stale(list(paths) or None)
        return
    files = []
    for path in paths:
        if os.path.isdir(path):
            session.register_tree(path, exclude=list(exclude))
        else:
            files.append(path)
    session.register(files=files)


def list_data(result, paths):
    """The result fields both modules return for a list of users."""
    processes = sorted(result.processes, key=lambda p: p.pid)
    return {
        "processes": [process_data(p) for p in processes],
        "pids": [p.pid for p in processes],
        "in_use": bool(processes),
        "uninspected": result.uninspected,
        "reboot_reasons": flag_names(result.reboot_reasons),
        "missing": missing_paths(paths),
    }


def not_looked_into(module, uninspected, ignore):
    """Fail when processes could not be looked into, unless root or ``ignore``.

    Like the command line: "not in use" cannot be promised then. As root
    (some containers hide processes even from root) it is a warning.
    """
    if not uninspected:
        return
    if os.geteuid() == 0 or ignore:
        module.warn(
            f"{uninspected} process(es) could not be looked into; going on without them"
        )
        return
    module.fail_json(
        msg=f"{uninspected} process(es) of other users could not be looked into "
        "and may use these files too; nothing was done. Become root (become: true), or "
        "set ignore_uninspected: true to go on without them",
        uninspected=uninspected,
    )
