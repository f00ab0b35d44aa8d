"""Benchmark: get_list() against fuser, lsof and psutil on one workload.

About 200 holder processes and 1,000 files (every holder opens five and maps
one), measured in one run with interleaved rounds; prints medians, ratios and
syscall counts. Run as root for a full comparison:
``python bench/getlist.py [--rounds 9]``.
"""

from __future__ import annotations

import argparse
import mmap
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import contextlib

import psutil

import rstrtmgr
from rstrtmgr._rstrtmgr import ffi, lib

HOLDERS = 200
FILES = 1000


def start_holders(files: list[str]) -> list[int]:
    pids = []
    for i in range(HOLDERS):
        pid = os.fork()
        if pid == 0:  # the holder: five open files, one mapping, then wait
            try:
                held = [open(files[(i * 5 + k) % FILES], "rb") for k in range(5)]  # noqa: SIM115
                with open(files[(i * 5 + 7) % FILES], "rb") as f:
                    m = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
                held.append(m)  # type: ignore[arg-type]
                signal.pause()
            finally:
                os._exit(0)
        pids.append(pid)
    return pids


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return (time.perf_counter() - t) * 1000


def run(cmd: list[str]) -> None:
    subprocess.run(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False
    )


def single_threaded(fn):
    """fn with RSTRTMGR_SCAN_THREADS=1: the scan as it was before threads."""

    def call():
        os.environ["RSTRTMGR_SCAN_THREADS"] = "1"
        try:
            return fn()
        finally:
            del os.environ["RSTRTMGR_SCAN_THREADS"]

    return call


def one_scan(session: rstrtmgr.Session):
    """One RmGetList call with room for every holder: exactly one scan.

    get_list() calls RmGetList first without an array, so a non-empty list
    costs it two scans (ERROR_MORE_DATA, then the call with the array).
    """

    def call() -> None:
        with session._using() as handle:
            needed = ffi.new("UINT *")
            count = ffi.new("UINT *", 4096)
            reasons = ffi.new("DWORD *")
            infos = ffi.new("RM_PROCESS_INFO[]", 4096)
            code = lib.RmGetList(handle, needed, count, infos, reasons)
            assert code == 0, code

    return call


def psutil_scan() -> None:
    for p in psutil.process_iter():
        try:
            p.open_files()
            p.memory_maps()
        except (psutil.Error, OSError):
            pass


def strace_calls(cmd: list[str]) -> int:
    with tempfile.NamedTemporaryFile("r", suffix=".strace") as out:
        subprocess.run(
            ["strace", "-c", "-f", "-o", out.name, *cmd],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
        )
        text = Path(out.name).read_text()
    m = re.search(r"^\s*100\.00\s+\S+\s+\S+\s+(\d+)", text, re.M)
    return int(m.group(1)) if m else -1


SCAN = """
import sys, rstrtmgr
from rstrtmgr._rstrtmgr import ffi, lib
files = open(sys.argv[1]).read().split("\\n")
with rstrtmgr.Session() as s:
    s.register(files=files)
    n = ffi.new("UINT *"); c = ffi.new("UINT *"); r = ffi.new("DWORD *")
    a = ffi.new("RM_PROCESS_INFO[]", 4096)
    with s._using() as h:
        for _ in range(int(sys.argv[2])):
            c[0] = 4096
            assert lib.RmGetList(h, n, c, a, r) == 0
"""


def main() -> None:  # noqa: PLR0912, PLR0915 - one linear script
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument(
        "--quick",
        action="store_true",
        help="only get_list() and fuser, no strace (for A/B runs)",
    )
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="rstrtmgr-bench-"))
    os.environ.setdefault("RSTRTMGR_STATE_DIR", str(work / "store"))
    files = []
    for i in range(FILES):
        p = work / f"file{i:04d}.bin"
        p.write_bytes(b"x" * 4096)
        files.append(str(p))
    listing = work / "files.txt"
    listing.write_text("\n".join(files))
    listing1 = work / "file1.txt"
    listing1.write_text(files[0])
    pids = start_holders(files)
    try:
        time.sleep(1)
        one = [files[0]]
        s1 = rstrtmgr.Session()
        s1.register(files=one)
        sN = rstrtmgr.Session()
        sN.register(files=files)
        assert len(sN.get_list().processes) >= HOLDERS
        fuser = shutil.which("fuser")
        lsof = shutil.which("lsof")
        cases = {
            "get_list(), 1 file (in-process)": s1.get_list,
            "get_list(), 1000 files (in-process)": sN.get_list,
            "get_list(), 1 file, 1 thread": single_threaded(s1.get_list),
            "get_list(), 1000 files, 1 thread": single_threaded(sN.get_list),
            "one RmGetList scan, 1 file": one_scan(s1),
            "one RmGetList scan, 1000 files": one_scan(sN),
            "one RmGetList scan, 1 file, 1 thread": single_threaded(one_scan(s1)),
            "one RmGetList scan, 1000 files, 1 thread": single_threaded(one_scan(sN)),
        }
        if not args.quick:
            cases["python3 -c pass"] = lambda: run([sys.executable, "-c", "pass"])
            cases["psutil open_files()+memory_maps(), all processes"] = psutil_scan
        if fuser:
            cases["fuser, 1 file"] = lambda: run([fuser, *one])
            cases["fuser, 1000 files"] = lambda: run([fuser, *files])
        if lsof and not args.quick:
            cases["lsof, 1 file"] = lambda: run([lsof, *one])
            cases["lsof, 1000 files"] = lambda: run([lsof, *files])
        times: dict[str, list[float]] = {k: [] for k in cases}
        for _ in range(args.rounds):
            for name, fn in cases.items():
                times[name].append(timed(fn))
        med = {k: statistics.median(v) for k, v in times.items()}
        procs = sum(1 for d in os.listdir("/proc") if d.isdigit())
        fds = 0
        for d in os.listdir("/proc"):
            if d.isdigit():
                with contextlib.suppress(OSError):
                    fds += len(os.listdir(f"/proc/{d}/fd"))
        print(
            f"# {os.uname().release}, {os.cpu_count()} cpus, uid {os.geteuid()}, "
            f"{procs} processes, {fds} fds, {args.rounds} rounds"
        )
        print("| what | median ms | min-max |")
        print("|---|---|---|")
        for k, v in med.items():
            print(f"| {k} | {v:.1f} | {min(times[k]):.1f}-{max(times[k]):.1f} |")
        g1, gN = (
            med["get_list(), 1 file (in-process)"],
            med["get_list(), 1000 files (in-process)"],
        )
        if fuser:
            f1, fN = med["fuser, 1 file"], med["fuser, 1000 files"]
            print(f"\nget_list 1000 / fuser 1000 = {gN / fN:.3f}")
            print(f"get_list 1 / fuser 1 = {g1 / f1:.3f}")
            print(
                "1 thread: get_list 1 / fuser 1 = "
                f"{med['get_list(), 1 file, 1 thread'] / f1:.3f}, "
                "get_list 1000 / fuser 1000 = "
                f"{med['get_list(), 1000 files, 1 thread'] / fN:.3f}"
            )
            for th in ("", ", 1 thread"):
                o1 = med[f"one RmGetList scan, 1 file{th}"]
                oN = med[f"one RmGetList scan, 1000 files{th}"]
                print(
                    f"one scan{th}: 1 file / fuser 1 = {o1 / f1:.3f}, "
                    f"1000 files / fuser 1000 = {oN / fN:.3f}"
                )
        if lsof and not args.quick:
            print(f"get_list 1000 / lsof 1000 = {gN / med['lsof, 1000 files']:.3f}")
        if shutil.which("strace") and not args.quick:
            print()
            for what, lst, targets in (
                ("1 file", listing1, one),
                ("1000 files", listing, files),
            ):
                base = strace_calls([sys.executable, "-c", SCAN, str(lst), "0"])
                ours = strace_calls([sys.executable, "-c", SCAN, str(lst), "1"])
                print(f"syscalls of one RmGetList scan ({what}): {ours - base}")
                if fuser:
                    n = strace_calls([fuser, *targets])
                    print(f"syscalls of fuser ({what}): {n}")
            if lsof:
                print(f"syscalls of lsof (1000 files): {strace_calls([lsof, *files])}")
            print(f"floor (one per fd + eight per process): {fds + 8 * procs}")
        s1.close()
        sN.close()
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        for pid in pids:
            os.waitpid(pid, 0)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
