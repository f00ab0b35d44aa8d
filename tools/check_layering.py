"""Checks native/linux's layering: each file calls only files before it.

The order is build_ffi.py's LINUX_SOURCES (docs/linux-backend.md's table). The
calls are read off the object files (nm: what each file defines, what it
leaves undefined), so a call hidden in a macro counts too. Also checked: no
file over 600 lines, and each header declares its files in this order.

Usage: python tools/check_layering.py [--order a,b,c] [--cc gcc]
Exit status 1 with one line per violation.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINUX = ROOT / "native" / "linux"
MAX_LINES = 600


def build_order() -> list[str]:
    text = (ROOT / "build_ffi.py").read_text()
    return re.findall(r'"native/linux/(\w+)\.c"', text)


def symbols(cc: str, name: str, tmp: Path) -> tuple[set[str], set[str]]:
    """The symbols file `name`.c defines and those it calls elsewhere."""
    obj = tmp / f"{name}.o"
    subprocess.run(
        [
            cc,
            "-std=gnu11",
            "-D_GNU_SOURCE",
            "-c",
            f"-I{ROOT / 'native'}",
            f"-I{LINUX}",
            str(LINUX / f"{name}.c"),
            "-o",
            str(obj),
        ],
        check=True,
    )
    out = subprocess.run(
        ["nm", str(obj)], capture_output=True, text=True, check=True
    ).stdout
    defined, undefined = set(), set()
    for line in out.splitlines():
        fields = line.split()
        if len(fields) == 3 and fields[1] in "TDBR":
            defined.add(fields[2])
        elif len(fields) == 2 and fields[0] == "U":
            undefined.add(fields[1])
    return defined, undefined


def sections(header: Path) -> list[str]:
    """The files whose sections the header has, in its order."""
    return re.findall(r"^/\* ---- (\w+)\.c:", header.read_text(), flags=re.M)


def violations(order: list[str], cc: str) -> list[str]:
    found = []
    on_disk = sorted(p.stem for p in LINUX.glob("*.c"))
    if sorted(order) != on_disk:
        found.append(f"the order {order} is not the files {on_disk}")
    for path in sorted(LINUX.glob("*.[ch]")):
        lines = len(path.read_text().splitlines())
        if lines > MAX_LINES:
            found.append(f"{path.name} has {lines} lines (at most {MAX_LINES})")
    for header in sorted(LINUX.glob("*.h")):
        declared = sections(header)
        if declared != [n for n in order if n in declared]:
            found.append(f"{header.name} declares {declared}, not in {order}")
    with tempfile.TemporaryDirectory() as tmp:
        syms = {n: symbols(cc, n, Path(tmp)) for n in order}
    owner = {sym: n for n, (defined, _) in syms.items() for sym in defined}
    for n in order:
        for sym in sorted(syms[n][1]):
            callee = owner.get(sym)
            if callee is not None and order.index(callee) > order.index(n):
                found.append(f"{n}.c calls {sym} of {callee}.c, which comes later")
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--order", help="comma-separated file stems")
    parser.add_argument("--cc", default="gcc")
    args = parser.parse_args()
    order = args.order.split(",") if args.order else build_order()
    found = violations(order, args.cc)
    for line in found:
        print(line)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
