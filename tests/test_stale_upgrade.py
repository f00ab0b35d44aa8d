"""``--stale VENV`` after a real ``pip install --force-reinstall``.

The wheel is built here, offline: a top-level C extension (pip stashes such a
file in a temporary ``pip-uninstall-*`` directory, as it does cffi's
``_cffi_backend``) and a pure-Python module.
"""

from __future__ import annotations

import base64
import hashlib
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
from support import LINUX, PACKAGE_ROOT, child_env

import rstrtmgr

pytestmark = [pytest.mark.behaviour, pytest.mark.linux_backend]
if not LINUX:
    pytest.skip("these tests drive Linux processes", allow_module_level=True)

EXT_C = """
#include <Python.h>
static struct PyModuleDef def = {PyModuleDef_HEAD_INIT, "_tinyext", NULL, -1, NULL};
PyMODINIT_FUNC PyInit__tinyext(void) { return PyModule_Create(&def); }
"""


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return f"{name},sha256={digest.decode()},{len(data)}"


def build_wheel(where: Path) -> Path:
    """tinypkg 1.0: _tinyext (C, top level) and tinypure.py, as a wheel."""
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        pytest.skip("needs a C compiler to build the extension")
    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    src = where / "tinyext.c"
    src.write_text(EXT_C)
    so = where / f"_tinyext{suffix}"
    subprocess.run(
        [
            cc,
            "-shared",
            "-fPIC",
            "-I",
            sysconfig.get_paths()["include"],
            "-o",
            str(so),
            str(src),
        ],
        check=True,
    )
    files = {
        f"_tinyext{suffix}": so.read_bytes(),
        "tinypure.py": b"VERSION = 1\n",
        "tinypkg-1.0.dist-info/METADATA": (
            b"Metadata-Version: 2.1\nName: tinypkg\nVersion: 1.0\n"
        ),
        "tinypkg-1.0.dist-info/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: hand\nRoot-Is-Purelib: false\n"
            b"Tag: py3-none-any\n"
        ),
        "tinypkg-1.0.dist-info/top_level.txt": b"_tinyext\ntinypure\n",
    }
    record = [_record_line(n, d) for n, d in files.items()]
    record.append("tinypkg-1.0.dist-info/RECORD,,")
    files["tinypkg-1.0.dist-info/RECORD"] = ("\n".join(record) + "\n").encode()
    wheel = where / "tinypkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    return wheel


@pytest.fixture
def venv_with_tinypkg(tmp_path: Path) -> tuple[Path, Path]:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    wheel = build_wheel(tmp_path)
    pip = [
        str(venv / "bin" / "python"),
        "-m",
        "pip",
        "install",
        "-q",
        "--no-index",
        "--no-deps",
        "--disable-pip-version-check",
    ]
    subprocess.run([*pip, str(wheel)], check=True)
    return venv, wheel


def start(venv: Path, code: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [
            str(venv / "bin" / "python"),
            "-c",
            code + "\nprint('ready', flush=True)\nimport sys; sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd="/",
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    return proc


def test_stale_venv_after_force_reinstall(
    venv_with_tinypkg: tuple[Path, Path],
) -> None:
    venv, wheel = venv_with_tinypkg
    ext = start(venv, "import _tinyext")
    pure = start(venv, "import tinypure")
    try:
        before = stale_pids(venv)
        assert ext.pid not in before
        assert pure.pid not in before
        subprocess.run(
            [
                str(venv / "bin" / "python"),
                "-m",
                "pip",
                "install",
                "-q",
                "--no-index",
                "--no-deps",
                "--force-reinstall",
                "--disable-pip-version-check",
                str(wheel),
            ],
            check=True,
        )
        after = stale_pids(venv)
        assert ext.pid in after, after  # its extension went to pip's stash
        assert pure.pid in after, after  # its module was replaced under it
        facade = rstrtmgr.who_uses_stale([venv], details=False).pids()
        assert {ext.pid, pure.pid} <= facade
    finally:
        for proc in (ext, pure):
            proc.kill()
            proc.communicate(timeout=30)


def stale_pids(venv: Path) -> set[int]:
    done = subprocess.run(
        [sys.executable, "-m", "rstrtmgr", "list", "--stale", "-t", str(venv)],
        capture_output=True,
        text=True,
        env=child_env(),
        cwd=PACKAGE_ROOT,
        check=False,
    )
    assert done.returncode in (0, 1, 3), done.stderr
    return {int(x) for x in done.stdout.split()}
