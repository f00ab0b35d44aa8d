"""Reads a Windows PE file's machine, imported DLLs and exported names, any arch.

The Windows lane checks its x86, x64 and ARM64 modules with it (one checker,
no per-target objdump), and makes the python3.dll import libraries from its
export names. Standard library only. Usage:
  pe_info.py machine FILE        print i386, amd64 or arm64
  pe_info.py imports FILE        print the imported DLLs, lower case, one a line
  pe_info.py exports FILE        print the exported names, one a line
  pe_info.py def FILE INCLUDE    print a .def of FILE's exports; names that
                                 INCLUDE's headers declare PyAPI_DATA are DATA
"""

from __future__ import annotations

import re
import struct
import sys
from pathlib import Path

MACHINES = {0x014C: "i386", 0x8664: "amd64", 0xAA64: "arm64"}
PE32, PE32_PLUS = 0x10B, 0x20B


class PE:
    """The parts of a PE image that the lane checks."""

    def __init__(self, data: bytes) -> None:
        """Parse the headers and section table of ``data``."""
        if data[:2] != b"MZ":
            raise ValueError("not a PE file: no MZ header")
        (pe,) = struct.unpack_from("<I", data, 0x3C)
        if data[pe : pe + 4] != b"PE\0\0":
            raise ValueError("not a PE file: no PE signature")
        machine, nsections, _, _, _, opt_size, _ = struct.unpack_from(
            "<HHIIIHH", data, pe + 4
        )
        self.data = data
        self.machine = MACHINES.get(machine, hex(machine))
        opt = pe + 24
        (magic,) = struct.unpack_from("<H", data, opt)
        if magic not in (PE32, PE32_PLUS):
            raise ValueError(f"unknown optional header magic {magic:#x}")
        dirs = opt + (96 if magic == PE32 else 112)
        self.directories = [
            struct.unpack_from("<II", data, dirs + 8 * i) for i in range(16)
        ]
        table = opt + opt_size
        self.sections = [
            struct.unpack_from("<IIII", data, table + 40 * i + 8)
            for i in range(nsections)
        ]  # (virtual size, virtual address, raw size, raw offset)

    def offset(self, rva: int) -> int:
        """The file offset of a relative virtual address."""
        for vsize, va, rsize, raw in self.sections:
            if va <= rva < va + max(vsize, rsize):
                return raw + rva - va
        raise ValueError(f"RVA {rva:#x} is in no section")

    def cstring(self, rva: int) -> str:
        """The NUL-terminated ASCII string at ``rva``."""
        start = self.offset(rva)
        return self.data[start : self.data.index(b"\0", start)].decode("ascii")

    def imports(self) -> list[str]:
        """The DLLs the image imports at load time (not delay-loaded)."""
        rva, size = self.directories[1]
        names = []
        at = self.offset(rva) if size else 0
        while size:
            entry = struct.unpack_from("<IIIII", self.data, at)
            if not any(entry):
                break
            names.append(self.cstring(entry[3]))
            at += 20
        return names

    def exports(self) -> list[str]:
        """The names the image exports."""
        rva, size = self.directories[0]
        if not size:
            return []
        at = self.offset(rva)
        count, _, names_rva = struct.unpack_from("<III", self.data, at + 24)
        names = self.offset(names_rva)
        return [
            self.cstring(struct.unpack_from("<I", self.data, names + 4 * i)[0])
            for i in range(count)
        ]


def data_names(include: Path) -> set[str]:
    """The names the CPython headers in ``include`` declare as PyAPI_DATA."""
    found: set[str] = set()
    pattern = re.compile(r"PyAPI_DATA\([^;]*?\)\s*\(?\s*\*?\s*(\w+)")
    for header in include.rglob("*.h"):
        found.update(pattern.findall(header.read_text(errors="replace")))
    return found


def main(argv: list[str]) -> int:
    """Run one of the commands in the module docstring."""
    if len(argv) < 2 or argv[0] not in {"machine", "imports", "exports", "def"}:
        print(__doc__, file=sys.stderr)
        return 2
    path = Path(argv[1])
    pe = PE(path.read_bytes())
    if argv[0] == "machine":
        print(pe.machine)
    elif argv[0] == "imports":
        print("\n".join(sorted(n.lower() for n in pe.imports())))
    elif argv[0] == "exports":
        print("\n".join(pe.exports()))
    else:
        data = data_names(Path(argv[2]))
        print(f"LIBRARY {path.name}\nEXPORTS")
        for name in pe.exports():
            print(f"    {name}{' DATA' if name in data else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
