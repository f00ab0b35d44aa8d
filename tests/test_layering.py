"""native/linux stays layered: no file calls a later one, none is over 600 lines."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHECKER = ROOT / "tools" / "check_layering.py"

pytestmark = [
    pytest.mark.skipif(
        not CHECKER.exists() or not (ROOT / "native" / "linux").is_dir(),
        reason="needs the source tree (tools/, native/), not an installed copy",
    ),
    pytest.mark.skipif(
        shutil.which("gcc") is None or shutil.which("nm") is None,
        reason="needs gcc and nm (binutils) to read the object files",
    ),
]


def check(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(CHECKER), *args],
        capture_output=True,
        text=True,
        check=False,
    )


def test_each_file_calls_only_files_before_it() -> None:
    result = check()
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_call_to_a_later_file_is_found() -> None:
    # The same files with scan.c moved first: its calls into the matchers
    # and the holder must each be reported.
    order = re.findall(r'"native/linux/(\w+)\.c"', (ROOT / "build_ffi.py").read_text())
    order.remove("scan")
    result = check("--order", ",".join(["scan", *order]))
    assert result.returncode == 1
    assert "scan.c calls rm_scan_maps of maps.c, which comes later" in result.stdout
    assert "scan.c calls rm_holder_add of holder.c" in result.stdout
