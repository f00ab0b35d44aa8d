"""The layout checks generated from the cdef compile, and fail when the cdef drifts."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
GENERATOR = ROOT / "tools" / "gen_layout_check.py"

pytestmark = pytest.mark.skipif(
    not GENERATOR.exists() or not (ROOT / "build_ffi.py").exists(),
    reason="needs the source tree (tools/, build_ffi.py), not an installed copy",
)

# (compiler, include directories): the SDK headers through mingw-w64 for both
# Windows architectures (the calling conventions only differ on i686), and
# native/linux/restartmanager.h through the host's gcc.
COMPILERS = {
    "linux": ("gcc", ("native", "native/linux")),
    "win-x86": ("i686-w64-mingw32-gcc", ("native",)),
    "win-x64": ("x86_64-w64-mingw32-gcc", ("native",)),
}


def load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def gen() -> ModuleType:
    return load("gen_layout_check", GENERATOR)


@pytest.fixture(scope="module")
def cdef() -> str:
    sys.path.insert(0, str(ROOT))  # build_ffi.py finds native/ from the root
    try:
        return str(load("build_ffi_for_layout", ROOT / "build_ffi.py").CDEF)
    finally:
        sys.path.remove(str(ROOT))


def compile_checks(
    text: str, target: str, tmp_path: Path
) -> subprocess.CompletedProcess[str]:
    cc, includes = COMPILERS[target]
    if shutil.which(cc) is None:
        pytest.skip(f"{cc} is not installed (tools/windows_lane.sh installs it)")
    source = tmp_path / f"layout_{target}.c"
    source.write_text(text)
    return subprocess.run(
        [
            cc,
            "-std=gnu11",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-fsyntax-only",
            *(f"-I{ROOT / include}" for include in includes),
            str(source),
        ],
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize("target", list(COMPILERS))
def test_cdef_matches_headers(
    gen: ModuleType, cdef: str, target: str, tmp_path: Path
) -> None:
    result = compile_checks(gen.generate(cdef), target, tmp_path)
    assert result.returncode == 0, result.stderr


def test_checks_cover_every_declaration(gen: ModuleType, cdef: str) -> None:
    text = gen.generate(cdef)
    for needle in (
        "offsetof(RM_PROCESS_INFO, bRestartable) == 664",
        "sizeof(RM_FILTER_INFO) == BY_POINTER(32, 24)",
        "offsetof(RM_FILTER_INFO, strServiceShortName) == BY_POINTER(16, 12)",
        "SAME_TYPE(__typeof__(&RmStartSession), "
        "DWORD(WINAPI *)(DWORD *, DWORD, WCHAR *))",
        "SAME_TYPE(RM_WRITE_STATUS_CALLBACK, void(CDECL_ *)(UINT))",
        "SAME_TYPE(__typeof__(&CloseNtmsSession), DWORD(WINAPI *)(void *))",
        "RmCritical == 1000",
        "CCH_RM_SESSION_KEY == 32",
    ):
        assert needle in text


# Each drift is one the headers disagree with, so the C must not compile.
DRIFTS = {
    "field type": ("BOOL bRestartable;", "DWORD bRestartable;"),
    "enum value": ("RmCritical = 1000", "RmCritical = 999"),
    "define value": ("#define CCH_RM_SESSION_KEY 32", "#define CCH_RM_SESSION_KEY 16"),
    "const parameter": (
        "RmJoinSession(DWORD *pSessionHandle, const WCHAR",
        "RmJoinSession(DWORD *pSessionHandle, WCHAR",
    ),
    "parameter type": ("RmEndSession(DWORD dwSessionHandle)", "RmEndSession(UINT *h)"),
}


# x64 asserts the same as x86 but for pointer sizes: two targets are enough.
@pytest.mark.parametrize("target", ["linux", "win-x86"])
@pytest.mark.parametrize("drift", list(DRIFTS))
def test_drifted_cdef_fails(
    gen: ModuleType, cdef: str, drift: str, target: str, tmp_path: Path
) -> None:
    old, new = DRIFTS[drift]
    assert old in cdef
    result = compile_checks(gen.generate(cdef.replace(old, new)), target, tmp_path)
    assert result.returncode != 0
    assert "static assertion failed" in result.stderr


@pytest.mark.parametrize(
    ("old", "new"),
    [
        # RM_WRITE_STATUS_CALLBACK is cdecl though every Rm* function is WINAPI
        (
            "typedef void (*RM_WRITE_STATUS_CALLBACK)",
            "typedef void (WINAPI *RM_WRITE_STATUS_CALLBACK)",
        ),
        ("DWORD WINAPI RmEndSession", "DWORD RmEndSession"),
        ("HANDLE WINAPI OpenNtmsSessionW", "HANDLE OpenNtmsSessionW"),
    ],
)
def test_wrong_calling_convention_fails_on_x86(
    gen: ModuleType, cdef: str, old: str, new: str, tmp_path: Path
) -> None:
    assert old in cdef
    result = compile_checks(gen.generate(cdef.replace(old, new)), "win-x86", tmp_path)
    assert result.returncode != 0
    assert "static assertion failed" in result.stderr


def test_contract_sizes_are_enforced_before_compiling(
    gen: ModuleType, cdef: str
) -> None:
    drifted = cdef.replace("WCHAR strAppName[256];", "WCHAR strAppName[250];")
    with pytest.raises(SystemExit, match="RM_PROCESS_INFO is"):
        gen.generate(drifted)
