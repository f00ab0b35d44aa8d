"""The release job's check: a tag that is not the package's version is refused."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import rstrtmgr

SCRIPT = Path(__file__).resolve().parents[1] / "tools" / "check_release_tag.py"
if not SCRIPT.is_file():
    pytest.skip("tools/ is not beside the tests", allow_module_level=True)
if sys.version_info < (3, 11):
    pytest.skip("the check reads pyproject.toml with tomllib", allow_module_level=True)


def check(tag: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), tag],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("prefix", ["v", ""])
def test_the_package_version_is_accepted(prefix: str) -> None:
    ran = check(prefix + rstrtmgr.__version__)
    assert ran.returncode == 0, ran.stdout


@pytest.mark.parametrize("tag", ["v9.9.9", f"v{rstrtmgr.__version__}.post1", "main"])
def test_another_tag_is_refused(tag: str) -> None:
    ran = check(tag)
    assert ran.returncode == 1
    assert "refused" in ran.stdout
