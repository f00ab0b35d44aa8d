"""The ``rstrtmgr list`` command: table, JSON and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from holders import HOLD_FD, holder
from support import LINUX, PACKAGE_ROOT, child_env

pytestmark = [pytest.mark.behaviour, pytest.mark.linux_backend]
if not LINUX:
    pytest.skip("these tests drive Linux processes", allow_module_level=True)


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rstrtmgr", *args],
        capture_output=True,
        text=True,
        env=child_env(),
        cwd=PACKAGE_ROOT,  # not the checkout: `-m` imports from the cwd first
        check=False,
    )


def test_list_in_use_table_and_json(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x")
    with holder(HOLD_FD, str(path)) as child:
        table = cli("list", str(path))
        assert table.returncode == 1
        assert str(child.pid) in table.stdout.split()
        js = cli("list", "--json", str(path))
        assert js.returncode == 1
        data = json.loads(js.stdout)
        assert [p["pid"] for p in data["processes"]] == [child.pid]
        assert data["processes"][0]["status"] == "running"
    free = cli("list", "--json", str(path))
    assert json.loads(free.stdout)["processes"] == []
    assert free.returncode == (3 if json.loads(free.stdout)["uninspected"] else 0)


def test_list_usage_and_errors(tmp_path: Path) -> None:
    assert cli("list").returncode == 2
    assert cli().returncode == 2
    bad = cli("list", str(tmp_path))  # a directory
    assert bad.returncode == 4
    assert "director" in bad.stderr
