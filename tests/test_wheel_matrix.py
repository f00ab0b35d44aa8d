"""The wheels cibuildwheel would build from pyproject.toml: exactly the intended set."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# abi3 built on 3.10 and tested on 3.10-3.14 (cibuildwheel reuses the abi3
# wheel for the later versions), and the free-threaded 3.14t.
PYTHONS = ["cp310", "cp311", "cp312", "cp313", "cp314", "cp314t"]
EXPECTED = {
    "windows": {
        f"{py}-{arch}" for py in PYTHONS for arch in ("win32", "win_amd64", "win_arm64")
    },
    "linux": {
        f"{py}-{libc}_{arch}"
        for py in PYTHONS
        for libc in ("manylinux", "musllinux")
        for arch in ("x86_64", "aarch64")
    },
}


def cibuildwheel() -> list[str]:
    exe = shutil.which("cibuildwheel", path=str(Path(sys.executable).parent))
    exe = exe or shutil.which("cibuildwheel")
    if exe is None:
        pytest.skip("cibuildwheel is not installed (pip install cibuildwheel)")
    return [exe]


@pytest.mark.skipif(
    not (ROOT / "pyproject.toml").exists(), reason="needs the project's pyproject.toml"
)
@pytest.mark.parametrize("platform", sorted(EXPECTED))
def test_build_identifiers(platform: str) -> None:
    # Only pyproject.toml may decide: the caller's CIBW_* settings must not.
    env = {k: v for k, v in os.environ.items() if not k.startswith("CIBW_")}
    result = subprocess.run(
        [*cibuildwheel(), "--platform", platform, "--print-build-identifiers"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    printed = result.stdout.split()
    assert len(printed) == len(set(printed))
    assert set(printed) == EXPECTED[platform]
