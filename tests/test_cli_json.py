"""`rstrtmgr list` for scripts: the JSON schema, pids only, missing paths, `--`."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from holders import HOLD_FD, holder
from support import LINUX, PACKAGE_ROOT, child_env

pytestmark = [pytest.mark.behaviour, pytest.mark.linux_backend]
if not LINUX:
    pytest.skip("these tests drive Linux processes", allow_module_level=True)

from jsonschema import Draft202012Validator  # noqa: E402 - Linux lanes have it


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
    Draft202012Validator.check_schema(schema())
    Draft202012Validator(schema()).validate(data)
    return data


def test_json_follows_the_schema(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x")
    with holder(HOLD_FD, str(path)) as child:
        for extra in ([], ["-v"]):
            done = cli("list", "--json", *extra, str(path))
            assert done.returncode == 1, done.stderr
            data = valid(done.stdout)
            assert data["schema_version"] == 2
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


def test_names_that_are_not_utf8_are_lossless_and_distinct(tmp_path: Path) -> None:
    # A file whose name is the byte 0xe9 and one named with a backslash and
    # the letters "xe9": version 1 printed both as the text "\\xe9".
    raw = os.fsencode(tmp_path) + b"/caf\xe9"
    backslash = tmp_path / "caf\\xe9"
    with open(raw, "wb"), open(backslash, "wb"):
        pass
    code = "f = open(sys.argv[1], 'rb'); g = open(sys.argv[2], 'rb')"
    with holder(code, os.fsdecode(raw), str(backslash)) as child:
        done = subprocess.run(
            [
                sys.executable,
                b"-m",
                b"rstrtmgr",
                b"list",
                b"--json",
                raw,
                os.fsencode(backslash),
            ],
            capture_output=True,
            env=child_env(),
            cwd=PACKAGE_ROOT,
            check=False,
        )
        assert done.returncode == 1, done.stderr
        data = valid(done.stdout.decode("utf-8"))
        [p] = [p for p in data["processes"] if p["pid"] == child.pid]
        by_text = {f["path"]: f for f in p["files"]}
        odd = by_text[str(tmp_path) + "/caf\ufffd"]
        assert base64.b64decode(odd["path_bytes"]) == raw
        plain = by_text[str(backslash)]
        assert "path_bytes" not in plain
        # The argument that is not UTF-8 comes back byte for byte too.
        args = [
            base64.b64decode(b) if b is not None else a.encode()
            for a, b in zip(p["command_line"], p["command_line_bytes"], strict=True)
        ]
        assert raw in args
        assert os.fsencode(backslash) in args


def test_records_have_a_public_dict_and_json_form(tmp_path: Path) -> None:
    import rstrtmgr

    path = tmp_path / "f"
    path.write_bytes(b"x")
    with holder(HOLD_FD, str(path)) as child:
        result = rstrtmgr.who_uses(path)
        [p] = [p for p in result.processes if p.pid == child.pid]
        d = p.as_dict()
        assert list(d) == list(p.__match_args__)
        assert d["pid"] == child.pid
        assert d["files"] == [{"path": str(path), "uses": ("fd",), "deleted": False}]
        assert result.as_dict()["processes"][0]["pid"] == p.pid
        assert p.unique_process.as_dict() == {
            "pid": p.pid,
            "start_time": p.start_filetime,
        }
        # JSON: the schema's form, the one `list --json` prints.
        text = json.dumps(result.as_json())
        data = valid(text)
        cli_data = valid(cli("list", "--json", str(path)).stdout)
        mine = [q for q in data["processes"] if q["pid"] == child.pid]
        theirs = [q for q in cli_data["processes"] if q["pid"] == child.pid]
        assert mine == theirs
        assert json.loads(json.dumps(p.as_json())) == mine[0]
