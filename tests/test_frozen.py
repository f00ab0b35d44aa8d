"""An installer frozen with PyInstaller: rstrtmgr's hook makes the frozen copy work."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from holders import HOLD_FD, holder
from support import LINUX, child_env

pytestmark = pytest.mark.behaviour

INSTALLER = """
import json, sys
import rstrtmgr

with rstrtmgr.Session() as session:
    session.register(files=sys.argv[1:])
    result = session.get_list()
print(json.dumps(sorted(result.pids())))
"""


def pyinstaller() -> str:
    exe = shutil.which("pyinstaller", path=os.path.dirname(sys.executable))
    if exe is None:
        pytest.skip("PyInstaller is not installed (pip install pyinstaller)")
    return exe


@pytest.mark.skipif(not LINUX, reason="frozen here for Linux; Windows freezes alike")
def test_frozen_installer_lists_the_holders(tmp_path: Path) -> None:
    script = tmp_path / "installer.py"
    script.write_text(textwrap.dedent(INSTALLER))
    built = subprocess.run(
        [
            pyinstaller(),
            "--onedir",
            "--noconfirm",
            "--log-level",
            "WARN",
            "--distpath",
            str(tmp_path / "dist"),
            "--workpath",
            str(tmp_path / "build"),
            "--specpath",
            str(tmp_path),
            str(script),
        ],
        env=child_env(),  # freezes the rstrtmgr under test
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    frozen = tmp_path / "dist" / "installer" / "installer"
    target = tmp_path / "app.dat"
    target.write_bytes(b"x")
    env = child_env()
    env.pop("PYTHONPATH")  # the frozen copy must carry rstrtmgr itself
    with holder(HOLD_FD, str(target)) as child:
        ran = subprocess.run(
            [str(frozen), str(target)],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert ran.returncode == 0, ran.stderr[-3000:]
        assert json.loads(ran.stdout) == [child.pid]
