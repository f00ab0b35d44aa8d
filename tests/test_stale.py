"""What an upgrade left behind: processes that use deleted or replaced files."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest
from holders import holder
from support import LINUX, PACKAGE_ROOT, child_env

import rstrtmgr

pytestmark = [pytest.mark.behaviour, pytest.mark.linux_backend]
if not LINUX:
    pytest.skip("these tests drive Linux processes", allow_module_level=True)

CC = shutil.which("cc") or shutil.which("gcc")
needs_cc = pytest.mark.skipif(CC is None, reason="needs a C compiler")


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rstrtmgr", *args],
        capture_output=True,
        text=True,
        env=child_env(),
        cwd=PACKAGE_ROOT,
        check=False,
    )


def build_library(src_dir: Path, out: Path, version: str) -> None:
    src = src_dir / f"demo-{version}.c"
    src.write_text(f'const char *demo_version(void) {{ return "{version}"; }}\n')
    assert CC is not None
    subprocess.run(
        [CC, "-shared", "-fPIC", "-Wl,-soname,libdemo.so.1", "-o", str(out), str(src)],
        check=True,
    )


def install_library(libdir: Path, build: Path, version: str) -> Path:
    """What dpkg does: unpack the new real file, move the link, drop the old."""
    real = libdir / f"libdemo.so.{version}"
    tmp = libdir / f".libdemo.so.{version}.dpkg-new"
    build_library(build, tmp, version)
    tmp.rename(real)
    link = libdir / "libdemo.so.1"
    old = os.path.realpath(link) if link.is_symlink() else None
    new_link = libdir / ".libdemo.so.1.dpkg-new"
    new_link.symlink_to(real.name)
    new_link.rename(link)
    if old is not None and old != str(real):
        os.unlink(old)
    return link


# needrestart's own configuration ignores mappings under /tmp, where the
# test's tree is; this one keeps its library scan and drops the rest.
NEEDRESTART_CONF = """
$nrconf{blacklist_mappings} = [qr(^/memfd:)];
$nrconf{kernelhints} = 0;
$nrconf{ucodehints} = 0;
$nrconf{interpscan} = 0;
1;
"""


def needrestart_users(work: Path, under: Path) -> set[int] | None:
    """The pids needrestart says use deleted files under ``under``."""
    exe = shutil.which("needrestart")
    if exe is None or os.geteuid() != 0:
        return None
    conf = work / "needrestart.conf"
    conf.write_text(NEEDRESTART_CONF)
    out = subprocess.run(
        [exe, "-c", str(conf), "-v", "-r", "l", "-n"],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=300,
        check=False,
    )
    found = re.findall(r"#(\d+) uses deleted (\S+)", out.stdout + out.stderr)
    return {int(pid) for pid, path in found if path.startswith(f"{under}/")}


@needs_cc
def test_renamed_library_upgrade_is_found(tmp_path: Path) -> None:
    libdir = tmp_path / "usr" / "lib"
    libdir.mkdir(parents=True)
    build = tmp_path / "build"
    build.mkdir()
    link = install_library(libdir, build, "1.0.0")
    other = tmp_path / "other.bin"
    other.write_bytes(b"x")
    with (
        holder("import ctypes\nlib = ctypes.CDLL(sys.argv[1])", str(link)) as user,
        holder("f = open(sys.argv[1], 'rb')", str(other)) as bystander,
    ):
        # Before the upgrade nothing is stale; the library's users are found
        # by its name.
        assert user.pid in rstrtmgr.who_uses(link).pids()
        assert user.pid not in rstrtmgr.who_uses_stale([libdir]).pids()
        install_library(libdir, build, "1.0.1")
        assert not (libdir / "libdemo.so.1.0.0").exists()
        # Asked about the link afterwards, nobody maps libdemo.so.1.0.1 ...
        assert user.pid not in rstrtmgr.who_uses(link).pids()
        # ... but the process still maps libdemo.so.1.0.0 (deleted).
        stale = rstrtmgr.who_uses_stale([libdir], details=True)
        assert user.pid in stale.pids()
        assert bystander.pid not in stale.pids()
        [p] = [p for p in stale.processes if p.pid == user.pid]
        assert [(f.path, f.uses, f.deleted) for f in p.files] == [
            (str(libdir / "libdemo.so.1.0.0"), ("mapping",), True)
        ]
        # Under another tree: not this one's.
        assert user.pid not in rstrtmgr.who_uses_stale([build]).pids()
        # System-wide too.
        assert user.pid in rstrtmgr.who_uses_stale().pids()
        done = cli("list", "--stale", "--json", str(libdir))
        assert done.returncode == 1, done.stderr
        assert user.pid in [q["pid"] for q in json.loads(done.stdout)["processes"]]
        anywhere = cli("list", "--stale", "-t")
        assert str(user.pid) in anywhere.stdout.split()
        # needrestart, where it is installed, finds the same processes.
        theirs = needrestart_users(tmp_path, libdir)
        if theirs is not None:
            ours = rstrtmgr.who_uses_stale([libdir]).pids()
            assert theirs == ours == {user.pid}
    # Once its user is gone, nothing is left behind.
    assert user.pid not in rstrtmgr.who_uses_stale([libdir]).pids()


def test_deleted_open_file_is_stale_only_under_its_paths(tmp_path: Path) -> None:
    data = tmp_path / "app" / "state.db"
    data.parent.mkdir()
    data.write_bytes(b"x")
    with holder("f = open(sys.argv[1], 'rb')", str(data)) as child:
        assert child.pid not in rstrtmgr.who_uses_stale([tmp_path]).pids()
        data.unlink()
        assert child.pid in rstrtmgr.who_uses_stale([tmp_path / "app"]).pids()
        assert child.pid not in rstrtmgr.who_uses_stale([tmp_path / "ap"]).pids()
        # A replaced file (renamed over) is the same case.
        data.write_bytes(b"y")
        assert child.pid in rstrtmgr.who_uses_stale([tmp_path]).pids()


SETUP = """
from setuptools import Extension, setup
setup(name="demopkg", version="{version}", packages=["demopkg"],
      ext_modules=[Extension("demopkg._speedups", ["demopkg/_speedups.c"])])
"""
SPEEDUPS = """
#include <Python.h>
static struct PyModuleDef m = {{PyModuleDef_HEAD_INIT, "_speedups", "{version}", -1}};
PyMODINIT_FUNC PyInit__speedups(void) {{ return PyModule_Create(&m); }}
"""


def build_wheel(work: Path, version: str, tag: str) -> Path:
    """A wheel of demopkg with a compiled extension, built with setuptools.

    ``tag`` is the wheel tag the installing pip prefers ("cp311-cp311-...").
    """
    src = work / f"src-{version}"
    (src / "demopkg").mkdir(parents=True)
    (src / "setup.py").write_text(SETUP.format(version=version))
    (src / "demopkg" / "__init__.py").write_text(f"VERSION = {version!r}\n")
    (src / "demopkg" / "_speedups.c").write_text(SPEEDUPS.format(version=version))
    out = src / "out"
    done = subprocess.run(
        [sys.executable, "setup.py", "-q", "build_ext", "--build-lib", str(out)],
        cwd=src,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot build an extension here: {done.stderr[-300:]}")
    (out / "demopkg" / "__init__.py").write_text(f"VERSION = {version!r}\n")
    # A wheel is a zip with its metadata: pip installs it without setuptools.
    wheel = work / f"demopkg-{version}-{tag}.whl"
    dist = f"demopkg-{version}.dist-info"
    with zipfile.ZipFile(wheel, "w") as z:
        for f in sorted((out / "demopkg").iterdir()):
            z.write(f, f"demopkg/{f.name}")
        z.writestr(
            f"{dist}/METADATA",
            f"Metadata-Version: 2.1\nName: demopkg\nVersion: {version}\n",
        )
        z.writestr(
            f"{dist}/WHEEL",
            f"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: false\n"
            f"Tag: {tag}\n",
        )
        z.writestr(f"{dist}/RECORD", "")
    return wheel


@needs_cc
def test_pip_reinstall_of_a_loaded_extension_is_found(tmp_path: Path) -> None:
    pytest.importorskip("setuptools")
    venv = tmp_path / "venv"
    made = subprocess.run(
        [sys.executable, "-m", "venv", str(venv)],
        capture_output=True,
        text=True,
        check=False,
    )
    if made.returncode != 0:
        pytest.skip(f"cannot make a venv with pip here: {made.stderr[-300:]}")
    py = venv / "bin" / "python"
    pip = [str(py), "-m", "pip", "-q", "--disable-pip-version-check"]
    install = [*pip, "install", "--no-index", "--no-deps"]
    # The tag this interpreter's pip ranks first (free-threaded builds too).
    tag = subprocess.run(
        [
            str(py),
            "-c",
            "from pip._vendor.packaging.tags import sys_tags\n"
            "print(next(iter(sys_tags())))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    subprocess.run([*install, str(build_wheel(tmp_path, "1.0", tag))], check=True)
    code = textwrap.dedent(
        """
        import sys, demopkg._speedups as s
        print(s.__file__, flush=True)
        print("ready", flush=True)
        sys.stdin.read()
        """
    )
    user = subprocess.Popen(
        [str(py), "-c", code],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    try:
        assert user.stdout is not None
        loaded = user.stdout.readline().strip()
        assert user.stdout.readline().strip() == "ready"
        assert user.pid in rstrtmgr.who_uses(loaded).pids()
        assert user.pid not in rstrtmgr.who_uses_stale([venv]).pids()
        # pip moves the old package to a stash (site-packages/~emopkg) and
        # deletes it: the process maps ~emopkg/_speedups...so (deleted).
        subprocess.run(
            [*install, "--force-reinstall", str(build_wheel(tmp_path, "2.0", tag))],
            check=True,
        )
        maps = Path(f"/proc/{user.pid}/maps").read_text()
        assert "~emopkg" in maps, maps
        assert user.pid not in rstrtmgr.who_uses(loaded).pids()
        done = cli("list", "--stale", "--json", "-v", str(venv))
        assert done.returncode == 1, done.stderr
        [p] = [p for p in json.loads(done.stdout)["processes"] if p["pid"] == user.pid]
        [use] = p["files"]
        assert "/site-packages/~emopkg/_speedups" in use["path"]
        assert use["deleted"] is True
        assert use["uses"] == ["mapping"]
        assert cli("list", "--stale", "-t", str(venv)).stdout.split() == [str(user.pid)]
    finally:
        user.kill()
        user.communicate(timeout=30)
