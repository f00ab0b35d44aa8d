"""Folders and trees: who uses anything under a directory, with patterns."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest
from holders import HOLD_FD, HOLD_MMAP, holder
from support import LINUX, PACKAGE_ROOT, child_env

import rstrtmgr
from rstrtmgr._trees import walk_tree


# The walk and the patterns run everywhere (Windows registers a tree's files
# through the facade's own walk); the tests with processes are Linux's.
def linux_processes(test: Any) -> Any:
    for mark in (
        pytest.mark.behaviour,
        pytest.mark.linux_backend,
        pytest.mark.skipif(not LINUX, reason="drives Linux processes"),
    ):
        test = mark(test)
    return test


def rel(paths: list[str], root: Path) -> set[str]:
    return {os.path.relpath(p, root).replace(os.sep, "/") for p in paths}


def make_tree(root: Path) -> dict[str, Path]:
    """A small installation: data, a log, a library-like file, a program."""
    files = {
        "data": root / "share" / "data.bin",
        "mapped": root / "lib" / "blob.so",
        "log": root / "var" / "app.log",
        "deep": root / "a" / "b" / "c" / "deep.bin",
    }
    for p in files.values():
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"x" * 4096)
    return files


@contextmanager
def running(cmd: list[str], **kwargs: object) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, **kwargs)  # type: ignore[call-overload]
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait(timeout=30)


def wait_exe(pid: int, exe: Path) -> None:
    for _ in range(500):
        try:
            if os.readlink(f"/proc/{pid}/exe") == str(exe):
                return
        except OSError:
            pass
        os.sched_yield()
        subprocess.run(["true"], check=False)
    raise AssertionError(f"{pid} never ran {exe}")


def test_walk_tree_patterns(tmp_path: Path) -> None:
    # The facade's own walk (the Windows path) and the patterns' meaning.
    files = make_tree(tmp_path)
    with contextlib.suppress(OSError):  # Windows may lack the privilege
        (tmp_path / "link").symlink_to(files["data"])
    everything = {"share/data.bin", "lib/blob.so", "var/app.log", "a/b/c/deep.bin"}
    assert rel(walk_tree(tmp_path), tmp_path) == everything
    no_log = rel(walk_tree(tmp_path, exclude=["*.log"]), tmp_path)
    assert no_log == everything - {"var/app.log"}
    # A pattern with a slash matches the relative path, "*" crossing slashes
    # as in fnmatch; one without a slash matches the file name.
    only = walk_tree(tmp_path, include=["a/*"], exclude=["*.so"])
    assert rel(only, tmp_path) == {"a/b/c/deep.bin"}
    only = walk_tree(tmp_path, include=["*.bin", "*.so"], exclude=["share/*"])
    assert rel(only, tmp_path) == {"lib/blob.so", "a/b/c/deep.bin"}
    # An excluded directory is not entered at all.
    assert "a/b/c/deep.bin" not in rel(walk_tree(tmp_path, exclude=["a"]), tmp_path)
    with pytest.raises(ValueError, match="pattern"):
        walk_tree(tmp_path, include=[""])


def test_register_tree_on_every_platform(tmp_path: Path) -> None:
    # Linux's backend walks it; elsewhere the facade walks and registers.
    make_tree(tmp_path)
    with rstrtmgr.Session() as s:
        s.register_tree(tmp_path, exclude=["*.log"])
        s.register_tree(str(tmp_path / "a"), include=["*.bin"], one_file_system=True)


@linux_processes
def test_tree_finds_fd_mapping_exe_and_cwd_holders_with_excludes(
    tmp_path: Path,
) -> None:
    root = tmp_path / "opt" / "myapp"
    files = make_tree(root)
    sleep = root / "bin" / "sleep"
    sleep.parent.mkdir()
    shutil.copy2(shutil.which("sleep") or "/bin/sleep", sleep)
    outside = tmp_path / "outside.bin"
    outside.write_bytes(b"o")
    cwd_dir = root / "a" / "b"
    with ExitStack() as stack:
        fd = stack.enter_context(holder(HOLD_FD, str(files["data"])))
        mapped = stack.enter_context(holder(HOLD_MMAP, str(files["mapped"])))
        deep = stack.enter_context(holder(HOLD_FD, str(files["deep"])))
        log = stack.enter_context(holder(HOLD_FD, str(files["log"])))
        other = stack.enter_context(holder(HOLD_FD, str(outside)))
        exe = stack.enter_context(running([str(sleep), "600"]))
        wait_exe(exe.pid, sleep)
        cwd = stack.enter_context(
            running([shutil.which("sleep") or "/bin/sleep", "600"], cwd=cwd_dir)
        )
        with rstrtmgr.Session() as s:
            s.register_tree(root, exclude=["*.log"])
            found = s.get_list().pids()
        assert {fd.pid, mapped.pid, deep.pid, exe.pid, cwd.pid} <= found
        assert log.pid not in found
        assert other.pid not in found
        with rstrtmgr.Session() as s:
            s.register_tree(root, include=["*.bin"])
            found = s.get_list().pids()
        assert {fd.pid, deep.pid} <= found
        assert not {mapped.pid, log.pid, exe.pid, other.pid} & found
        # who_uses() takes a directory as its tree.
        assert {fd.pid, mapped.pid, log.pid, exe.pid, cwd.pid} <= (
            rstrtmgr.who_uses(root).pids()
        )
        # Files and trees mix in one session.
        with rstrtmgr.Session() as s:
            s.register(files=[outside])
            s.register_tree(root / "share")
            assert {fd.pid, other.pid} <= s.get_list().pids()


@linux_processes
def test_tree_registration_refuses_what_is_not_a_tree(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_bytes(b"x")
    with rstrtmgr.Session() as s:
        with pytest.raises(rstrtmgr.BadArgumentsError, match="not a directory"):
            s.register_tree(f)
        with pytest.raises(ValueError, match="full path"):
            s.register_tree("relative/dir")
        with pytest.raises(FileNotFoundError):
            s.register_tree(tmp_path / "missing")
        with pytest.raises(ValueError, match="pattern"):
            s.register_tree(tmp_path, include=[""])
        assert s.get_list().processes == []
    # The Restart Manager's own call still refuses a directory, as Windows.
    with rstrtmgr.Session() as s, pytest.raises(rstrtmgr.BadArgumentsError):
        s.register(files=[tmp_path])


@linux_processes
@pytest.mark.skipif(not LINUX or os.geteuid() != 0, reason="mounts a tmpfs: root")
def test_tree_one_file_system(tmp_path: Path) -> None:
    root = tmp_path / "root"
    mnt = root / "mnt"
    mnt.mkdir(parents=True)
    top = root / "top.bin"
    top.write_bytes(b"t")
    if subprocess.run(
        ["mount", "-t", "tmpfs", "none", str(mnt)], check=False
    ).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        inner = mnt / "inner.bin"
        inner.write_bytes(b"i")
        with holder(HOLD_FD, str(inner)) as a, holder(HOLD_FD, str(top)) as b:
            with rstrtmgr.Session() as s:
                s.register_tree(root, one_file_system=True)
                found = s.get_list().pids()
            assert b.pid in found
            assert a.pid not in found
            with rstrtmgr.Session() as s:
                s.register_tree(root)
                assert {a.pid, b.pid} <= s.get_list().pids()
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def cli(*args: str, cwd: str | Path = PACKAGE_ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rstrtmgr", *args],
        capture_output=True,
        text=True,
        env=child_env(),
        cwd=cwd,
        check=False,
    )


@linux_processes
def test_cli_list_recurses_into_a_directory(tmp_path: Path) -> None:
    files = make_tree(tmp_path / "app")
    with holder(HOLD_FD, str(files["deep"])) as child:
        done = cli("list", "-t", str(tmp_path / "app"))
        assert done.returncode == 1, done.stderr
        assert str(child.pid) in done.stdout.split()
        refused = cli("list", "--no-recursive", str(tmp_path / "app"))
        assert refused.returncode == 4
        assert "director" in refused.stderr
