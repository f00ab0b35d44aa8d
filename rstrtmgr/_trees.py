"""Directory trees as resources: the patterns, and the facade's own walk.

The Linux backend walks a tree natively (``rstrtmgr_register_tree``); where
the backend has no such call (Windows' Rstrtmgr.dll: the stub returns
ERROR_CALL_NOT_IMPLEMENTED) the facade walks it with :func:`walk_tree` and
registers the files in chunks. Both follow the same rules:

* a pattern with a ``/`` matches the path relative to the root (``/`` as the
  separator on every platform), one without matches the file's name;
  ``*``, ``?`` and ``[...]`` as in :mod:`fnmatch`, ``*`` also matching
  ``/`` (like Inno Setup's ``CloseApplicationsFilter``), no backslash
  escapes; case-sensitive except on Windows;
* ``include`` (none: every file) selects files; ``exclude`` removes files,
  and an excluded directory is not entered;
* symbolic links are never followed; with ``one_file_system`` no other file
  system mounted inside the tree is entered.
"""

from __future__ import annotations

import fnmatch
import os
import sys
from collections.abc import Iterable, Iterator
from typing import NamedTuple

__all__ = ["check_patterns", "walk_tree"]

#: Where the walks stop descending, as the native walk does.
MAX_DEPTH = 256


def check_patterns(patterns: Iterable[str] | str, what: str) -> list[str]:
    """The patterns as a list, each a non-empty str."""
    if isinstance(patterns, str):
        patterns = [patterns]
    out = list(patterns)
    for p in out:
        if not isinstance(p, str):
            raise TypeError(f"an {what} pattern is a str, not {type(p).__name__}")
        if not p or "\0" in p:
            raise ValueError(f"{p!r} is not an {what} pattern")
    return out


def _match(patterns: list[str], rel: str, name: str) -> bool:
    match = fnmatch.fnmatch if sys.platform == "win32" else fnmatch.fnmatchcase
    return any(match(rel if "/" in p else name, p) for p in patterns)


def walk_tree(
    root: str | os.PathLike[str],
    include: Iterable[str] = (),
    exclude: Iterable[str] = (),
    *,
    one_file_system: bool = False,
) -> list[str]:
    """The files of the tree at ``root`` that the patterns select, full paths."""
    inc = check_patterns(include, "include")
    exc = check_patterns(exclude, "exclude")
    top = os.path.abspath(os.fspath(root))
    dev = os.stat(top).st_dev
    rules = _Rules(inc, exc, dev if one_file_system else None)
    return list(_walk(top, "", rules, 0))


class _Rules(NamedTuple):
    include: list[str]
    exclude: list[str]
    dev: int | None  # the root's device, with one_file_system


def _walk(path: str, rel: str, rules: _Rules, depth: int) -> Iterator[str]:
    inc, exc, dev = rules
    try:
        entries = list(os.scandir(path))
    except OSError:
        return  # unreadable or gone: as the native walk, skipped
    for e in entries:
        sub = f"{rel}/{e.name}" if rel else e.name
        try:
            if e.is_symlink():
                continue
            if e.is_dir(follow_symlinks=False):
                if _match(exc, sub, e.name) or depth + 1 >= MAX_DEPTH:
                    continue
                if dev is not None and e.stat(follow_symlinks=False).st_dev != dev:
                    continue
                yield from _walk(e.path, sub, rules, depth + 1)
            elif (
                e.is_file(follow_symlinks=False)
                and (not inc or _match(inc, sub, e.name))
                and not _match(exc, sub, e.name)
            ):
                yield e.path
        except OSError:
            continue
