"""An installer frozen with PyInstaller: rstrtmgr's hook makes the frozen copy work."""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path

import pytest
from holders import HOLD_FD, holder
from support import LINUX, child_env, freeze

pytestmark = pytest.mark.behaviour

INSTALLER = """
import json, sys
import rstrtmgr

with rstrtmgr.Session() as session:
    session.register(files=sys.argv[1:])
    result = session.get_list()
# Both groups of enumerations travel (a list builds only its three).
assert rstrtmgr.ShutdownType.FORCE and rstrtmgr.FilterAction.NO_SHUTDOWN
print(json.dumps(sorted(result.pids())))
"""


@pytest.mark.skipif(not LINUX, reason="frozen here for Linux; Windows freezes alike")
def test_frozen_installer_lists_the_holders(tmp_path: Path) -> None:
    script = tmp_path / "installer.py"
    script.write_text(textwrap.dedent(INSTALLER))
    frozen = freeze(script, tmp_path)
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
