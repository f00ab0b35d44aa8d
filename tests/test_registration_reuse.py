"""get_list() after registrations: whatever a session reuses between calls, the
next list reflects every registration made before it, by any participant in
any process, however soon after the last; and a registration split over
several backend calls is still all or nothing."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from holders import HOLD_FD, HOLD_MMAP, holder
from support import LINUX, python

import rstrtmgr
from rstrtmgr import BadArgumentsError

pytestmark = [pytest.mark.behaviour]

# A participant in another process: joins the session argv[1], then obeys
# "reg PATH" (register, answer "ok") and "list" (answer the pids).
PARTICIPANT = """
import sys, rstrtmgr
s = rstrtmgr.Session.join(sys.argv[1])
print("ready", flush=True)
for line in sys.stdin:
    verb, _, arg = line.rstrip("\\n").partition(" ")
    if verb == "reg":
        s.register(files=[arg])
        print("ok", flush=True)
    elif verb == "list":
        print(" ".join(map(str, sorted(s.get_list().pids()))), flush=True)
s.close()
"""


class Participant:
    def __init__(self, key: str) -> None:
        self.proc = python(PARTICIPANT, key)
        assert self.proc.stdout is not None
        assert self.readline() == "ready"

    def readline(self) -> str:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        if not line and self.proc.poll() is not None:
            raise AssertionError(self.proc.communicate(timeout=30)[1])
        return line

    def ask(self, line: str) -> str:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return self.readline()

    def pids(self) -> set[int]:
        return {int(p) for p in self.ask("list").split()}

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def files(tmp_path: Path) -> list[Path]:
    paths = [tmp_path / f"file{i}.bin" for i in range(4)]
    for p in paths:
        p.write_bytes(b"x" * 4096)
    return paths


@pytest.fixture
def held(files: list[Path]) -> Iterator[list[int]]:
    """One holder per file: by a descriptor, except the last (a mapping)."""
    with ExitStack() as stack:
        pids = [
            stack.enter_context(
                holder(HOLD_MMAP if i == len(files) - 1 else HOLD_FD, str(f))
            ).pid
            for i, f in enumerate(files)
        ]
        yield pids


@pytest.mark.joins
def test_another_process_registration_is_seen_by_the_next_list(
    files: list[Path], held: list[int]
) -> None:
    with rstrtmgr.Session() as s:
        s.register(files=[files[0]])
        assert s.get_list().pids() == {held[0]}
        other = Participant(s.key)
        try:
            assert other.pids() == {held[0]}
            # The other process registers: this one's next list has it.
            assert other.ask(f"reg {files[1]}") == "ok"
            assert s.get_list().pids() == {held[0], held[1]}
            # And the other way round, with a list in between on each side.
            s.register(files=[files[2]])
            assert other.pids() == {held[0], held[1], held[2]}
            assert s.get_list().pids() == {held[0], held[1], held[2]}
            assert other.ask(f"reg {files[3]}") == "ok"
            assert s.get_list().pids() == set(held)
            assert other.pids() == set(held)
        finally:
            other.close()


@pytest.mark.joins
def test_registrations_right_after_a_list_are_seen(
    files: list[Path], held: list[int]
) -> None:
    with rstrtmgr.Session() as s, rstrtmgr.Session() as t:
        joined = rstrtmgr.Session.join(s.key)
        try:
            for i, f in enumerate(files):
                # Alternating participants, no pause between the calls.
                (s if i % 2 == 0 else joined).register(files=[f])
                assert s.get_list().pids() == set(held[: i + 1])
                assert joined.get_list().pids() == set(held[: i + 1])
                # Another session in the same process is not affected.
                assert t.get_list().pids() == set()
        finally:
            joined.close()


def test_sessions_with_the_same_files_stay_apart(
    files: list[Path], held: list[int]
) -> None:
    with rstrtmgr.Session() as s:
        s.register(files=files[:2])
        assert s.get_list().pids() == set(held[:2])
    with rstrtmgr.Session() as s:
        # A new session: nothing of the ended one's registrations remains.
        assert s.get_list().pids() == set()
        s.register(files=[files[3]])
        assert s.get_list().pids() == {held[3]}


@pytest.mark.linux_backend
@pytest.mark.skipif(not LINUX, reason="directories are refused by the Linux backend")
def test_more_than_one_chunk_with_a_directory_at_the_end_registers_nothing(
    tmp_path: Path, files: list[Path], held: list[int]
) -> None:
    # More paths than the facade's chunk of 50,000 (missing files are fine:
    # they are registered by name), the directory last.
    many = [str(tmp_path / "missing" / f"m{i}") for i in range(50_001)]
    with rstrtmgr.Session() as s:
        with pytest.raises(BadArgumentsError) as e:
            s.register(files=[str(files[0]), *many, str(tmp_path)])
        assert e.value.winerror == 160
        assert s.get_list().pids() == set()
        s.register(files=[*many, str(files[0])])
        assert s.get_list().pids() == {held[0]}
