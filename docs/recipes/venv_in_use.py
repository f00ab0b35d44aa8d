r"""Is this virtual environment in use? Ask before pip replaces its files.

Usage: python venv_in_use.py VENV && VENV/bin/pip install --upgrade PACKAGE

Lists the processes that have loaded the environment's own binaries: its
compiled extensions (.so, .pyd), libraries (.dll) and programs (.exe), which
pip cannot replace safely while they are loaded (Windows refuses; Linux lets
the old copy live on in the running process, beside the new Python files).
Exit status: 0 not in use; 1 in use (the processes are listed); 3 none
found, but some processes could not be looked into (run as root to be sure).

Where it runs: Linux and Windows. On Linux a virtual environment's
bin/python is a symbolic link to the base interpreter, which every Python
program on the machine runs: links that lead out of the environment are
left out. On Windows, Scripts\python.exe is the environment's own.
"""

from __future__ import annotations

import sys
from pathlib import Path

import rstrtmgr

BINARY_SUFFIXES = {".so", ".pyd", ".dll", ".exe"}


def is_binary(path: Path) -> bool:
    """A compiled file: an extension, a library or a program."""
    return path.suffix.lower() in BINARY_SUFFIXES or ".so." in path.name


def binaries(venv: Path) -> list[Path]:
    """The environment's own compiled files, never what its links lead to."""
    root = venv.resolve()
    found = []
    for path in sorted(venv.rglob("*")):
        if path.is_symlink() and not path.resolve().is_relative_to(root):
            continue
        if path.is_file() and is_binary(path):
            found.append(path.resolve())
    return found


def main(argv: list[str]) -> int:
    """Report who uses the environment ``argv[0]``; the exit status says it."""
    if len(argv) != 1 or not Path(argv[0]).is_dir():
        print(__doc__, file=sys.stderr)
        return 2
    files = binaries(Path(argv[0]))
    result = rstrtmgr.who_uses(*files) if files else rstrtmgr.ListResult()
    for p in result:
        print(f"{p.pid} {p.app_name} uses {argv[0]}")
    if result.in_use:
        return 1
    if result.uninspected:
        print(f"{result.uninspected} processes could not be looked into")
        return 3
    print(f"{argv[0]} is not in use ({len(files)} binaries)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
