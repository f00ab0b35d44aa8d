"""Helpers of the fault tests: their budget and the figures they report.

Each fault test does a bounded amount of work, small enough that all of them
together cost well under a minute per suite run. ``RSTRTMGR_FAULT_SCALE``
(default 1) multiplies that work for a soak run by hand, e.g. 20.
``RSTRTMGR_FAULT_REPORT``, when set, names a file to which each test appends
one JSON line of its figures (operations, kills, inputs, crashes, hangs,
wrong signals).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

SCALE = max(1.0, float(os.environ.get("RSTRTMGR_FAULT_SCALE", "1") or 1))


def scaled(n: float) -> int:
    """``n`` units of work, times the soak scale."""
    return max(1, round(n * SCALE))


def report(test: str, **figures: object) -> None:
    """Print a test's figures and append them to $RSTRTMGR_FAULT_REPORT."""
    line = json.dumps({"test": test, "scale": SCALE, **figures}, sort_keys=True)
    print(line)
    path = os.environ.get("RSTRTMGR_FAULT_REPORT")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(line + "\n")


class Deadline:
    """A time budget: ``left()`` seconds remain until ``expired()``."""

    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return max(0.0, self.end - time.monotonic())

    def expired(self) -> bool:
        return time.monotonic() >= self.end


def store_files(store: Path) -> list[Path]:
    """Every file below the store (not following links)."""
    out = []
    for root, dirs, files in os.walk(store, followlinks=False):
        out.extend(Path(root) / f for f in files)
        out.extend(Path(root) / d for d in dirs if (Path(root) / d).is_symlink())
    return out


def leftovers(store: Path) -> list[Path]:
    """Temporary files of interrupted updates (".tmp-*") below the store."""
    return [p for p in store_files(store) if p.name.startswith(".tmp-")]


RECORD_MAGIC = b"rstrtmgr-session 1\n"


def check_store(store: Path) -> list[str]:
    """What is wrong in the store: records that do not parse, stray entries.

    Reads only what the backend writes: a record is its magic line and
    ``p <16 hex> <pid> <ticks> <0|1>`` lines (further fields allowed).
    """
    problems = []
    sessions = store / "sessions"
    if not sessions.exists():
        return problems
    for d in sessions.iterdir():
        if d.is_symlink() or not d.is_dir():
            problems.append(f"{d.name}: not a directory")
            continue
        record = d / "record"
        if not record.exists():
            # A removal unlinks the record first: a directory without one is
            # a session being removed (or a removal that was killed); the
            # next reclaim finishes it. It must not count as a session.
            continue
        data = record.read_bytes()
        if not data.startswith(RECORD_MAGIC):
            problems.append(f"{d.name}: record without magic: {data[:40]!r}")
            continue
        lines = data[len(RECORD_MAGIC) :].split(b"\n")
        if lines[-1] != b"":
            problems.append(f"{d.name}: record cut short: {data[-40:]!r}")
        for line in lines[:-1]:
            parts = line.split(b" ")
            ok = (
                len(parts) >= 5
                and parts[0] == b"p"
                and len(parts[1]) == 16
                and all(p.isdigit() for p in parts[2:4])
                and parts[4] in (b"0", b"1")
            )
            if not ok:
                problems.append(f"{d.name}: bad participant line {line!r}")
    return problems


def live_sessions(store: Path) -> list[str]:
    """Keys whose record exists (sessions the store counts)."""
    sessions = store / "sessions"
    if not sessions.exists():
        return []
    return sorted(d.name for d in sessions.iterdir() if (d / "record").exists())
