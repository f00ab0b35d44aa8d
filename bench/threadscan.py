"""Benchmark: what looking into threads costs the scan, on getlist.py's workload.

The same 200 holders and 1,000 files as ``bench/getlist.py``; one RmGetList
scan with the thread checks (the default) and without them
(``RSTRTMGR_SCAN_TASKS=0``: the scan as it was before), 1 file and 1000
files, single-threaded and threaded, in interleaved rounds; medians and the
ratios. ``python bench/threadscan.py [--rounds 15]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from getlist import FILES, HOLDERS, SCAN, one_scan, start_holders, strace_calls

import rstrtmgr


def with_env(fn, **env: str):
    def call() -> None:
        old = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            fn()
        finally:
            for k, v in old.items():
                if v is None:
                    del os.environ[k]
                else:
                    os.environ[k] = v

    return call


def main() -> None:  # noqa: PLR0912, PLR0915 - one linear script
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=15)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="rstrtmgr-bench-"))
    os.environ.setdefault("RSTRTMGR_STATE_DIR", str(work / "store"))
    files = []
    for i in range(FILES):
        p = work / f"file{i:04d}.bin"
        p.write_bytes(b"x" * 4096)
        files.append(str(p))
    pids = start_holders(files)
    try:
        time.sleep(1)
        s1 = rstrtmgr.Session()
        s1.register(files=files[:1])
        sN = rstrtmgr.Session()
        sN.register(files=files)
        assert len(sN.get_list().processes) >= HOLDERS
        cases = {}
        for label, session in (("1 file", s1), ("1000 files", sN)):
            for threads in ("1", "2"):
                scan = one_scan(session)
                key = f"{label}, {threads} scan thread(s)"
                cases[f"{key}, thread checks"] = with_env(
                    scan, RSTRTMGR_SCAN_THREADS=threads
                )
                cases[f"{key}, no thread checks"] = with_env(
                    scan, RSTRTMGR_SCAN_THREADS=threads, RSTRTMGR_SCAN_TASKS="0"
                )
        times: dict[str, list[float]] = {k: [] for k in cases}
        for _ in range(args.rounds):
            for name, fn in cases.items():
                t = time.perf_counter()
                fn()
                times[name].append((time.perf_counter() - t) * 1000)
        med = {k: statistics.median(v) for k, v in times.items()}
        procs = sum(1 for d in os.listdir("/proc") if d.isdigit())
        print(
            f"# {os.uname().release}, {os.cpu_count()} cpus, uid {os.geteuid()}, "
            f"{procs} processes, {args.rounds} rounds"
        )
        print("| one RmGetList scan | median ms | min-max |")
        print("|---|---|---|")
        for k, v in med.items():
            print(f"| {k} | {v:.1f} | {min(times[k]):.1f}-{max(times[k]):.1f} |")
        print()
        for k, v in med.items():
            if k.endswith(", thread checks"):
                base = k.replace(", thread checks", ", no thread checks")
                print(
                    f"{k[: -len(', thread checks')]}: with / without = "
                    f"{v / med[base]:.3f}"
                )
        if shutil.which("strace"):
            # Machine-independent: the system calls one scan makes.
            print()
            for what, lst in (("1 file", files[:1]), ("1000 files", files)):
                listing = work / "files.txt"
                listing.write_text("\n".join(lst))
                counts = {}
                for tasks in ("1", "0"):
                    os.environ["RSTRTMGR_SCAN_TASKS"] = tasks
                    os.environ["RSTRTMGR_SCAN_THREADS"] = "1"
                    cmd = [sys.executable, "-c", SCAN, str(listing)]
                    counts[tasks] = strace_calls([*cmd, "1"]) - strace_calls(
                        [*cmd, "0"]
                    )
                del os.environ["RSTRTMGR_SCAN_TASKS"]
                del os.environ["RSTRTMGR_SCAN_THREADS"]
                print(
                    f"syscalls of one scan ({what}): {counts['1']} with thread "
                    f"checks, {counts['0']} without ({counts['1'] / counts['0']:.3f})"
                )
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
