"""`rstrtmgr list` for scripts: the JSON schema, pids only, missing paths, `--`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from holders import HOLD_FD, holder
from schema_check import errors
from support import LINUX, PACKAGE_ROOT, child_env

pytestmark = [pytest.mark.behaviour, pytest.mark.linux_backend]
if not LINUX:
    pytest.skip("these tests drive Linux processes", allow_module_level=True)


def schema() -> dict[str, Any]:
    # The installed package's own copy: the one scripts validate against.
    text = (resources.files("rstrtmgr") / "list-output.schema.json").read_text()
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def cli(
    *args: str, cwd: str | Path = PACKAGE_ROOT, **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rstrtmgr", *args],
        capture_output=True,
        text=True,
        env=child_env(**env),
        cwd=cwd,
        check=False,
    )


def valid(text: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(text)
    problems = errors(data, schema())
    assert not problems, problems
    return data


def test_json_follows_the_schema(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x")
    with holder(HOLD_FD, str(path)) as child:
        for extra in ([], ["-v"]):
            done = cli("list", "--json", *extra, str(path))
            assert done.returncode == 1, done.stderr
            data = valid(done.stdout)
            assert data["schema_version"] == 1
            [p] = [p for p in data["processes"] if p["pid"] == child.pid]
            assert p["status"] == ["running"]
            assert p["uid"] == os.getuid()
            assert isinstance(p["user"], str)
            assert p["files"] == [{"path": str(path), "uses": ["fd"], "deleted": False}]
            assert p["command_line"][1] == "-c"
            assert data["missing"] == []
    free = cli("list", "--json", str(path))
    data = valid(free.stdout)
    assert data["processes"] == []
    assert free.returncode == (3 if data["uninspected"] else 0)


def test_errors_are_json_with_json(tmp_path: Path) -> None:
    # A store that is a regular file cannot be used: winerror 29.
    bad_store = tmp_path / "store-file"
    bad_store.write_bytes(b"")
    done = cli("list", "--json", str(tmp_path), RSTRTMGR_STATE_DIR=str(bad_store))
    assert done.returncode == 4
    data = valid(done.stdout)
    assert data["error"]["winerror"] == 29
    assert data["error"]["type"] == "SessionStoreError"
    assert data["error"]["message"]
    assert "Traceback" not in done.stderr
    plain = cli("list", str(tmp_path), RSTRTMGR_STATE_DIR=str(bad_store))
    assert plain.returncode == 4
    assert plain.stdout == ""
    assert "29" in plain.stderr


def test_pids_only(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    for p in (a, b):
        p.write_bytes(b"x")
    with holder(HOLD_FD, str(a)) as one, holder(HOLD_FD, str(b)) as two:
        for flag in ("-t", "--pids"):
            done = cli("list", flag, str(a), str(b))
            assert done.returncode == 1
            assert done.stdout.split() == [str(x) for x in sorted([one.pid, two.pid])]
    done = cli("list", "-t", str(a))
    assert done.stdout == ""
    assert done.returncode in (0, 3)


def test_missing_paths_warn_and_are_still_searched(tmp_path: Path) -> None:
    held = tmp_path / "held"
    held.write_bytes(b"x")
    missing = tmp_path / "never-there"
    with holder(HOLD_FD, str(held)) as child:
        held.unlink()  # deleted but still held: still found by its name
        done = cli("list", "--json", str(held), str(missing))
        assert done.returncode == 1
        data = valid(done.stdout)
        assert child.pid in [p["pid"] for p in data["processes"]]
        assert data["missing"] == [str(held), str(missing)]
        assert "does not exist" in done.stderr
        table = cli("list", str(missing))
        assert table.returncode in (0, 3)
        assert "does not exist" in table.stderr
        assert f"not found: {missing}" in table.stdout


def test_double_dash_ends_the_options(tmp_path: Path) -> None:
    odd = tmp_path / "-x"
    odd.write_bytes(b"x")
    with holder(HOLD_FD, str(odd)) as child:
        done = cli("list", "-t", "--", "-x", cwd=tmp_path)
        assert done.returncode == 1, done.stderr
        assert done.stdout.split() == [str(child.pid)]
    assert cli("list", "-x", cwd=tmp_path).returncode == 2


def test_table_shows_user_and_verbose_details(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x")
    with holder(HOLD_FD, str(path)) as child:
        table = cli("list", str(path))
        header = table.stdout.splitlines()[0].split()
        assert header[:3] == ["PID", "USER", "NAME"]
        row = next(
            r for r in table.stdout.splitlines() if r.split()[0] == str(child.pid)
        )
        assert row.split()[1] == __import__("pwd").getpwuid(os.getuid()).pw_name
        verbose = cli("list", "-v", str(path))
        assert f"fd {path}" in verbose.stdout
        assert "-c" in verbose.stdout
