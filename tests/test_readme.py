"""The README's installer example, run against real processes that hold its files."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from holders import HOLD_FD, holder
from support import LINUX, PACKAGE_ROOT, child_env

pytestmark = [pytest.mark.behaviour, pytest.mark.linux_backend]
if not LINUX:
    pytest.skip("the example drives Linux processes", allow_module_level=True)

README = Path(__file__).resolve().parents[1] / "README.md"
IGNORE_TERM = "import signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"


def installer_example() -> str:
    if not README.exists():
        pytest.skip("README.md is not beside the tests")
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    example = next((b for b in blocks if "session.restart()" in b), None)
    assert example is not None, "the README lost its installer example"
    return example


def test_readme_installer_example(tmp_path: Path) -> None:
    example = installer_example()
    app = tmp_path / "opt" / "myapp"
    (app / "lib").mkdir(parents=True)
    (app / "bin").mkdir()
    files = [app / "lib" / "libmyapp.so", app / "bin" / "myapp"]
    new = tmp_path / "new"
    for f in files:
        f.write_bytes(b"old")
        staged = Path(str(new) + str(f))
        staged.parent.mkdir(parents=True, exist_ok=True)
        staged.write_bytes(b"new")
    # The example's own paths, pointed at this test's files.
    script = example.replace('"/opt/myapp/', f'"{app}/').replace(
        '"/tmp/new"', f'"{new}"'
    )
    assert script.count(str(app)) == 2
    assert str(new) in script
    with (
        holder(HOLD_FD, str(files[0])) as polite,
        holder(IGNORE_TERM + HOLD_FD, str(files[1])) as stubborn,
    ):
        ran = subprocess.run(
            [sys.executable, "-c", script],
            env=child_env(),
            cwd=PACKAGE_ROOT,  # `python -c` imports from its working directory
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert ran.returncode == 0, ran.stderr
        # It listed both, stopped the polite one, and killed the stubborn one
        # after its retry with force.
        assert f"still running: [{stubborn.pid}]" in ran.stdout
        assert polite.wait(timeout=30) == -signal.SIGTERM
        assert stubborn.wait(timeout=30) == -signal.SIGKILL
    assert [f.read_bytes() for f in files] == [b"new", b"new"]
