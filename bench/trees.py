"""Benchmark: trees and stale files against a plain list, lsof +D, fuser, needrestart.

Workload: a tree of 10,000 files (100 directories of 100 files of 1 KiB),
50 holder processes forked from the benchmark (each opens two files of the
tree), and 20 processes that map a shared library which is then upgraded
(a new real file name, the old one deleted, as dpkg does). Cases in
interleaved rounds; prints medians, min-max and ratios. Run as root for
needrestart: ``python bench/trees.py [--rounds 9]``.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import rstrtmgr

DIRS = 100
PER_DIR = 100
HOLDERS = 50
LIB_USERS = 20


def fork_holder(fn) -> int:
    pid = os.fork()
    if pid == 0:
        try:
            kept = fn()  # noqa: F841 - held until the holder is killed
            signal.pause()
        finally:
            os._exit(0)
    return pid


def build_lib(libdir: Path, version: str) -> None:
    src = libdir / f"v{version}.c"
    src.write_text(f'const char *v(void) {{ return "{version}"; }}\n')
    real = libdir / f"libbench.so.{version}"
    subprocess.run(["cc", "-shared", "-fPIC", "-o", str(real), str(src)], check=True)
    link = libdir / "libbench.so.1"
    tmp = libdir / ".link"
    tmp.symlink_to(real.name)
    tmp.rename(link)


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return (time.perf_counter() - t) * 1000


def run(cmd: list[str]) -> None:
    subprocess.run(
        cmd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def main() -> None:  # noqa: PLR0912, PLR0915 - one linear script
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=9)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="rstrtmgr-bench-trees-"))
    os.environ.setdefault("RSTRTMGR_STATE_DIR", str(work / "store"))
    tree = work / "tree"
    files = []
    for d in range(DIRS):
        sub = tree / f"d{d:03d}"
        sub.mkdir(parents=True)
        for f in range(PER_DIR):
            p = sub / f"f{f:03d}.dat"
            p.write_bytes(b"x" * 1024)
            files.append(str(p))
    libdir = work / "lib"
    libdir.mkdir()
    build_lib(libdir, "1.0.0")
    pids = []
    try:
        for i in range(HOLDERS):
            held = [files[(i * 197) % len(files)], files[(i * 389 + 7) % len(files)]]
            pids.append(
                fork_holder(lambda held=held: [open(h, "rb") for h in held])  # noqa: SIM115
            )
        lib = str(libdir / "libbench.so.1")
        for _ in range(LIB_USERS):
            pids.append(fork_holder(lambda: ctypes.CDLL(lib)))
        time.sleep(1)
        build_lib(libdir, "1.0.1")
        os.unlink(libdir / "libbench.so.1.0.0")

        def plain_register() -> None:
            with rstrtmgr.Session() as s:
                s.register(files=files)

        def tree_register() -> None:
            with rstrtmgr.Session() as s:
                s.register_tree(tree)

        def plain_list() -> None:
            with rstrtmgr.Session() as s:
                s.register(files=files)
                assert len(s.get_list()) >= HOLDERS

        def tree_list() -> None:
            with rstrtmgr.Session() as s:
                s.register_tree(tree)
                assert len(s.get_list()) >= HOLDERS

        def stale_under() -> None:
            assert len(rstrtmgr.who_uses_stale([libdir])) >= LIB_USERS

        def stale_all() -> None:
            assert len(rstrtmgr.who_uses_stale()) >= LIB_USERS

        cases = {
            "register 10,000 files (RmRegisterResources)": plain_register,
            "register the tree (rstrtmgr_register_tree)": tree_register,
            "register 10,000 files + get_list()": plain_list,
            "register the tree + get_list()": tree_list,
            "stale under the lib dir (who_uses_stale([lib]))": stale_under,
            "stale system-wide (who_uses_stale())": stale_all,
        }
        lsof = shutil.which("lsof")
        fuser = shutil.which("fuser")
        needrestart = shutil.which("needrestart")
        if lsof:
            cases["lsof +D tree"] = lambda: run([lsof, "+D", str(tree)])
            cases["lsof +L1 (open deleted files)"] = lambda: run([lsof, "+L1"])
        if fuser:
            cases["fuser 10,000 files"] = lambda: run([fuser, *files])
        if needrestart and os.geteuid() == 0:
            # Its own configuration ignores mappings under /tmp (the tree's
            # home here): this one keeps the library scan and nothing else.
            conf = work / "needrestart.conf"
            conf.write_text(
                "$nrconf{blacklist_mappings} = [qr(^/memfd:)];\n"
                "$nrconf{kernelhints} = 0;\n$nrconf{ucodehints} = 0;\n"
                "$nrconf{interpscan} = 0;\n1;\n"
            )
            cases["needrestart -r l -l (libraries only)"] = lambda: run(
                [needrestart, "-c", str(conf), "-r", "l", "-l", "-b"]
            )
        times: dict[str, list[float]] = {k: [] for k in cases}
        for _ in range(args.rounds):
            for name, fn in cases.items():
                times[name].append(timed(fn))
        med = {k: statistics.median(v) for k, v in times.items()}
        procs = sum(1 for d in os.listdir("/proc") if d.isdigit())
        print(
            f"# {os.uname().release}, {os.cpu_count()} cpus, uid {os.geteuid()}, "
            f"{procs} processes, {len(files)} files, {args.rounds} rounds"
        )
        print("| what | median ms | min-max |")
        print("|---|---|---|")
        for k, v in med.items():
            print(f"| {k} | {v:.1f} | {min(times[k]):.1f}-{max(times[k]):.1f} |")
        keys = list(med)
        print(f"\ntree / plain registration = {med[keys[1]] / med[keys[0]]:.2f}")
        print(f"tree / plain, with the scan = {med[keys[3]] / med[keys[2]]:.2f}")
        if lsof:
            print(
                f"tree + get_list / lsof +D = {med[keys[3]] / med['lsof +D tree']:.3f}"
            )
        name = "needrestart -r l -l (libraries only)"
        if name in med:
            print(f"stale system-wide / needrestart = {med[keys[5]] / med[name]:.3f}")
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        for pid in pids:
            os.waitpid(pid, 0)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
