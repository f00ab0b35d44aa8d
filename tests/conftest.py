"""Fixtures of the contract suite: a private session store, other users, marks."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from support import (
    LANE_RM,
    LINUX,
    OTHER_UID,
    PACKAGE_ROOT,
    ROOT,
    WINE_STUB,
    child_env,
)

import rstrtmgr

# What the Windows lane's own Restart Manager (tools/wine_rm) answers with 120
# (Wine's stub answers 0 and does nothing, so a test that only passes
# through these passes there).
LANE_RM_LACKS = (
    "RmJoinSession",
    "RmShutdown",
    "RmRestart",
    "RmCancelCurrentTask",
    "RmAddFilter",
    "RmRemoveFilter",
    "RmGetFilterList",
)


def pytest_collection_modifyitems(
    config: pytest.Config, items: list[pytest.Item]
) -> None:
    wine = pytest.mark.skip(
        reason="Wine's Rstrtmgr.dll is a stub (no sessions, no lists): the "
        "Restart Manager's behaviour is checked on Linux and real Windows"
    )
    not_ours = pytest.mark.skip(
        reason="only the project's Linux backend promises this "
        "(Windows' Rstrtmgr.dll behaves otherwise or cannot be observed)"
    )
    lane_rm_joins = pytest.mark.skip(
        reason="the Windows lane's Restart Manager (tools/wine_rm) does not "
        "implement RmJoinSession (Windows' does): its sessions live in one process"
    )
    for item in items:
        if LANE_RM and "joins" in item.keywords:
            item.add_marker(lane_rm_joins)
        if WINE_STUB and "behaviour" in item.keywords:
            item.add_marker(wine)
        if not LINUX and "linux_backend" in item.keywords:
            item.add_marker(not_ours)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """Under the lane's RM, a call it lacks skips the test, saying which."""
    try:
        return (yield)
    except rstrtmgr.NotImplementedOnPlatformError as e:
        call = next((c for c in LANE_RM_LACKS if f"] {c}: " in str(e)), None)
        if LANE_RM and call is not None:
            pytest.skip(
                f"the Windows lane's Restart Manager (tools/wine_rm) does not "
                f"implement {call} (Windows' does)"
            )
        raise


@pytest.fixture(autouse=True)
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private session store for each test (the Linux backend's only)."""
    path = tmp_path / "store"
    monkeypatch.setenv("RSTRTMGR_STATE_DIR", str(path))
    monkeypatch.delenv("RSTRTMGR_LOCK_TIMEOUT_MS", raising=False)
    return path


@pytest.fixture
def other_user_python() -> list[str]:
    """The command line of a Python that uid 65534 runs with rstrtmgr importable."""
    if not ROOT:
        pytest.skip("needs root to run a process as another user")
    try:
        check = subprocess.run(
            [sys.executable, "-c", "import rstrtmgr"],
            user=OTHER_UID,
            group=OTHER_UID,
            extra_groups=[],
            env=child_env(),
            cwd=PACKAGE_ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        failure = check.stderr.strip()[-300:] if check.returncode else ""
    except OSError as e:
        failure = str(e)
    if failure:
        reason = (
            f"uid {OTHER_UID} cannot run {sys.executable} with rstrtmgr "
            f"importable: {failure}"
        )
        if os.environ.get("RSTRTMGR_REQUIRE_OTHER_USER"):
            pytest.fail(reason)
        pytest.skip(reason)
    return [sys.executable]


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A directory in /tmp that other users can traverse but not write."""
    import shutil
    import tempfile

    path = Path(tempfile.mkdtemp(prefix="rstrtmgr-test-", dir="/tmp"))
    path.chmod(0o711)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def run_as_other_user(
    other_user_python: list[str], shared_tmp: Path
) -> Callable[..., str]:
    """Run Python code as uid 65534, with a store of its own; return stdout."""
    home = shared_tmp / "other-user"
    home.mkdir(mode=0o700)
    os.chown(home, OTHER_UID, OTHER_UID)

    def run(code: str, *args: str, **env: str) -> str:
        done = subprocess.run(
            [*other_user_python, "-c", textwrap.dedent(code), *args],
            user=OTHER_UID,
            group=OTHER_UID,
            extra_groups=[],
            env=child_env(RSTRTMGR_STATE_DIR=str(home / "store"), **env),
            cwd=PACKAGE_ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, f"uid {OTHER_UID}'s child failed: {done.stderr}"
        return done.stdout

    return run
