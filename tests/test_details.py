"""Which file, which user, which program: the details of each listed process."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from holders import HOLD_MMAP, holder
from support import LINUX, PACKAGE_ROOT, child_env

import rstrtmgr

pytestmark = [pytest.mark.behaviour, pytest.mark.linux_backend]


@pytest.mark.skipif(not LINUX, reason="drives Linux processes")
def test_app_names_of_interpreters_are_their_scripts(tmp_path: Path) -> None:
    # strAppName names the script an interpreter runs (as Windows shows a
    # friendly name); the interpreter's name stays for code given inline.
    wait = "import sys\nsys.stdin.read()\n"
    (tmp_path / "serve.py").write_text(wait)
    (tmp_path / "agent.py").write_text(wait)
    (tmp_path / "mymod.py").write_text(wait)
    (tmp_path / "backup.sh").write_text("read x\n")
    bash = shutil.which("bash")
    py = sys.executable
    cases = [
        ([py, str(tmp_path / "serve.py")], "serve.py"),
        ([py, "-u", "-X", "dev", str(tmp_path / "agent.py")], "agent.py"),
        ([py, "-m", "mymod"], "mymod"),
        ([py, "-c", wait], None),  # the interpreter's own name
    ]
    if bash:
        cases += [([bash, str(tmp_path / "backup.sh")], "backup.sh")]
        cases += [([bash, "-c", "read x"], "bash")]
    procs = []
    try:
        for argv, _ in cases:
            procs.append(
                subprocess.Popen(
                    argv,
                    stdin=subprocess.PIPE,
                    cwd=tmp_path,
                    env=child_env(PYTHONPATH=str(tmp_path)),
                )
            )
        targets = [os.path.realpath(py)] + ([os.path.realpath(bash)] if bash else [])
        # Until every child's exec has ended: midway its executable and
        # comm are the new program's while its arguments are not there yet.
        for (argv, _), proc in zip(cases, procs, strict=True):
            want_args = "\0".join(argv) + "\0"
            deadline = time.monotonic() + 30
            while Path(f"/proc/{proc.pid}/cmdline").read_text() != want_args:
                assert time.monotonic() < deadline, argv
                time.sleep(0.005)
        names = {p.pid: p.app_name for p in rstrtmgr.who_uses(*targets)}
        for (argv, want), proc in zip(cases, procs, strict=True):
            comm = Path(f"/proc/{proc.pid}/comm").read_text().strip()
            assert names[proc.pid] == (want or comm), argv
    finally:
        for proc in procs:
            proc.kill()
            proc.communicate(timeout=30)


@pytest.mark.skipif(not LINUX, reason="drives Linux processes")
def test_files_user_and_command_line(tmp_path: Path) -> None:
    held = tmp_path / "held.bin"
    mapped = tmp_path / "mapped.bin"
    for p in (held, mapped):
        p.write_bytes(b"x" * 4096)
    code = "g = open(sys.argv[1], 'rb')\n" + HOLD_MMAP.replace(
        "sys.argv[1]", "sys.argv[2]"
    )
    with holder(code, str(held), str(mapped)) as child:
        with rstrtmgr.Session() as s:
            s.register(files=[held, mapped])
            result = s.get_list(details=True)
        [p] = [p for p in result.processes if p.pid == child.pid]
        assert {(f.path, f.uses, f.deleted) for f in p.files} == {
            (str(held), ("fd",), False),
            # Python's mmap keeps a duplicate of the descriptor it mapped.
            (str(mapped), ("fd", "mapping"), False),
        }
        assert p.uid == os.getuid()
        import pwd

        assert p.user == pwd.getpwuid(os.getuid()).pw_name
        assert p.command_line is not None
        assert p.command_line[1:2] == ("-c",)
        assert p.command_line[-2:] == (str(held), str(mapped))
        # Without details the list is the Restart Manager's alone.
        with rstrtmgr.Session() as s:
            s.register(files=[held])
            [plain] = [p for p in s.get_list().processes if p.pid == child.pid]
        assert plain.files is None
        assert plain.command_line is None
        # The uids alone (``rstrtmgr list``'s table): the same user, without
        # the second look's files and command line.
        with rstrtmgr.Session() as s:
            s.register(files=[held, mapped])
            users = s._get_list(users=True)
        [who] = [p for p in users.processes if p.pid == child.pid]
        assert (who.uid, who.user) == (p.uid, p.user)
        assert who.files is None
        assert who.command_line is None
        assert who._replace(uid=None, user=None) == plain._replace(status=who.status)


@pytest.mark.skipif(not LINUX, reason="drives Linux processes")
def test_app_name_of_a_script_is_the_script(tmp_path: Path) -> None:
    held = tmp_path / "held.bin"
    held.write_bytes(b"x")
    script = tmp_path / "my_updater_agent.py"
    script.write_text(
        "import sys\nf = open(sys.argv[1], 'rb')\nprint('ready', flush=True)\n"
        "sys.stdin.read()\n"
    )
    proc = subprocess.Popen(
        [sys.executable, str(script), str(held)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=PACKAGE_ROOT,
        env=child_env(),
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        [p] = [p for p in rstrtmgr.who_uses(held).processes if p.pid == proc.pid]
        assert p.app_name == "my_updater_agent.py"
        # The raw RmGetList carries the same name in strAppName.
        with rstrtmgr.Session() as s:
            s.register(files=[held])
            [raw] = [q for q in s.get_list().processes if q.pid == proc.pid]
        assert raw.app_name == "my_updater_agent.py"
    finally:
        proc.kill()
        proc.communicate(timeout=30)


@pytest.mark.skipif(not LINUX, reason="drives Linux processes")
def test_executable_is_reported_as_such(tmp_path: Path) -> None:
    exe = os.path.realpath(sys.executable)
    with holder("") as child:
        with rstrtmgr.Session() as s:
            s.register(files=[exe])
            result = s.get_list(details=True)
        [p] = [p for p in result.processes if p.pid == child.pid]
        [use] = p.files
        assert use.path == exe
        assert "executable" in use.uses
