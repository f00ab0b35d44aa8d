"""Building from source without a working C compiler says what to install."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support import LINUX

SOURCE = Path(__file__).resolve().parents[1]
if not (SOURCE / "setup.py").is_file() or not (SOURCE / "build_ffi.py").is_file():
    pytest.skip("the source tree is not beside the tests", allow_module_level=True)
setuptools = pytest.importorskip("setuptools")
if tuple(int(n) for n in setuptools.__version__.split(".")[:2]) < (70, 1):
    pytest.skip(
        "setup.py needs setuptools>=70.1, pyproject.toml's build requirement",
        allow_module_level=True,
    )


@pytest.mark.skipif(not LINUX, reason="CC is how the Unix compilers are chosen")
@pytest.mark.parametrize(
    ("compiler", "says"),
    [
        ("/bin/false", "/bin/false failed"),
        ("no-such-cc", "the C compiler 'no-such-cc' is not installed"),
    ],
)
def test_a_failing_compiler_names_the_packages(
    tmp_path: Path, compiler: str, says: str
) -> None:
    tree = tmp_path / "src"
    tree.mkdir()
    for name in ("setup.py", "build_ffi.py", "pyproject.toml", "README.md"):
        shutil.copy2(SOURCE / name, tree)
    shutil.copytree(SOURCE / "native", tree / "native")
    shutil.copytree(
        SOURCE / "rstrtmgr", tree / "rstrtmgr", ignore=shutil.ignore_patterns("*.so")
    )
    built = subprocess.run(
        [sys.executable, "setup.py", "-q", "build_ext", "--build-temp", "tmp"],
        cwd=tree,
        env={"PATH": "/usr/bin:/bin", "CC": compiler},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert built.returncode != 0
    assert f"rstrtmgr's C extension could not be built: {says}" in built.stderr
    assert "apt-get install gcc python3-dev" in built.stderr
    assert "pip install --only-binary rstrtmgr rstrtmgr" in built.stderr
