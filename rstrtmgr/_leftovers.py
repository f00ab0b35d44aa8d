"""What a ``pip install --upgrade`` leaves behind that no deleted path shows.

The backend's stale scan (``register_stale``) finds processes that map or
hold a deleted or replaced file *under* the given paths. Two leftovers of
an upgrade of a virtual environment escape it:

* pip moves the files it uninstalls out of the way before deleting them: a
  top-level extension module (``_cffi_backend.so``, right in site-packages)
  goes to a temporary ``pip-uninstall-*`` directory, so a process that maps
  it shows that path, not the environment's;
* a pure-Python module is read at import and closed: a process that
  imported the old one holds nothing that shows it was replaced.

So, for paths given, a process is also a leftover when it uses a path (a
mapping, its executable, its working directory or its program's name
``argv[0]`` under it) and either maps a deleted file from a
``pip-uninstall-`` directory, or, being a Python interpreter, started before
the last change (ctime) of a ``.py`` file under that path: needrestart's
heuristic for interpreters. Its limit: a change to a module the process
never imported counts too. Linux only.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ._session import Session

__all__ = ["register_leftovers", "upgrade_leftovers"]

_STASH = "/pip-uninstall-"
_DELETED = " (deleted)"


def _under(path: str, prefixes: list[str]) -> bool:
    return any(path == p or path.startswith(p.rstrip("/") + "/") for p in prefixes)


def _newest_source(prefix: str) -> float:
    """The latest ctime of a ``.py`` file under ``prefix`` (0 when none)."""
    newest = 0.0
    for top, dirs, files in os.walk(prefix):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for name in files:
            if name.endswith(".py"):
                try:
                    newest = max(newest, os.lstat(os.path.join(top, name)).st_ctime)
                except OSError:
                    continue
    return newest


def _boot_time() -> float:
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("btime "):
                return float(line.split()[1])
    return 0.0


class _Process:
    """What /proc says of one process, read once; None fields when hidden."""

    def __init__(self, pid: int) -> None:
        base = f"/proc/{pid}"
        with open(f"{base}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        self.start_ticks = int(fields[19])
        with open(f"{base}/maps", "rb") as f:
            self.maps = [
                os.fsdecode(line.split(None, 5)[5].rstrip(b"\n"))
                for line in f
                if len(line.split(None, 5)) == 6
            ]
        with open(f"{base}/cmdline", "rb") as f:
            self.argv0 = os.fsdecode(f.read().split(b"\0", 1)[0])
        self.links = []
        for name in ("exe", "cwd"):
            try:
                self.links.append(os.readlink(f"{base}/{name}"))
            except OSError:
                continue

    def uses(self, prefixes: list[str]) -> bool:
        names = [*self.maps, *self.links, self.argv0]
        return any(_under(n.removesuffix(_DELETED), prefixes) for n in names)

    def maps_stashed(self) -> bool:
        return any(_STASH in m and m.endswith(_DELETED) for m in self.maps)

    def is_python(self) -> bool:
        return any("libpython" in m or "/python" in m for m in self.links + self.maps)


def _pids() -> Iterator[int]:
    for name in os.listdir("/proc"):
        if name.isdigit():
            yield int(name)


def upgrade_leftovers(paths: Iterable[str]) -> list[int]:
    """The pids of processes an upgrade under ``paths`` left behind (above)."""
    prefixes = [p for p in paths if os.path.isdir(p)]
    if not prefixes:
        return []
    changed = max(_newest_source(p) for p in prefixes)
    hz = os.sysconf("SC_CLK_TCK")
    boot = _boot_time()
    me = os.getpid()
    found = []
    for pid in _pids():
        if pid == me:
            continue
        try:
            p = _Process(pid)
        except (OSError, ValueError, IndexError):
            continue  # gone, or another user's
        if not p.uses(prefixes):
            continue
        started = boot + p.start_ticks / hz
        # A second of slack: ctime and the start time are not one clock.
        if p.maps_stashed() or (p.is_python() and started + 1 < changed):
            found.append(pid)
    return found


def register_leftovers(session: Session, paths: Iterable[str]) -> None:
    """Register with ``session`` the processes :func:`upgrade_leftovers` finds."""
    from ._types import UniqueProcess  # noqa: PLC0415 - the facade's, loaded

    found = []
    for pid in upgrade_leftovers(paths):
        try:
            found.append(UniqueProcess.of(pid))
        except (ProcessLookupError, PermissionError):
            continue  # gone since, or not ours to see
    if found:
        session.register(processes=found)
