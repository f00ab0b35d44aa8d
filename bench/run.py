"""Benchmark: the library against the floor, fuser and lsof on one machine.

``python bench/run.py [--rounds N] [--quick]`` builds ``bench/floor.c`` (the
floor: a bare C program doing only the necessary syscalls), starts about 200
holder processes and 1,000,000 files, and measures in interleaved rounds:

* ``get_list()`` for 1, 1,000 and 100,000 registered files (the same
  holders), a session's second call and its first, also with
  ``RSTRTMGR_SCAN_THREADS=1``, against the floor's walk at its best thread
  count (the faster of one and two threads, each round);
* registering 1,000,000 files (time and peak memory, in a child), against
  the floor's lstat of each;
* RmShutdown (raw, and ``Session.shutdown()``) of 200 polite holders against
  the floor's kill-and-wait loop (SIGTERM through pidfds, poll until all are
  gone), and the floor's walk + that loop;
* ``rstrtmgr list`` as a whole process against fuser and lsof, 1 and 1,000
  files, with each process's peak RSS;
* ``import rstrtmgr`` and ``from rstrtmgr import Session`` (``-X importtime``,
  and wall time against ``-c pass``).

Every tool's pid set is checked equal to the others'. Prints min, median and
max of the rounds and the ratios of medians; ``--quick`` (3 rounds, no lsof
on 1,000 files) keeps a run under about a minute. A benchmark, not a test:
nothing asserts a time; a pid mismatch makes the exit status 1.
"""

from __future__ import annotations

import argparse
import contextlib
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
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import rstrtmgr  # noqa: E402
from rstrtmgr._rstrtmgr import ffi, lib  # noqa: E402

HOLDERS = 200
HELD = 1000  # the files the holders use (4 KiB each)
BIG = 100_000  # all registered files of the largest workload
MANY = 1_000_000  # the files registered in one call
SHUTDOWN_HOLDERS = 200
#: The floor's walk at its best thread count, then its kill-and-wait loop.
WALK_BEST = "floor walk (best thread count) + kill-and-wait, 200 holders"
#: What a user of the facade imports: the package and its Session.
FACADE = "from rstrtmgr import Session"

Sample = tuple[float, "set[int] | None", int]  # ms, pids, peak RSS KiB


def start_holders(files: list[str]) -> list[int]:
    """HOLDERS processes, each with five files open and one mapped."""
    pids = []
    for i in range(HOLDERS):
        pid = os.fork()
        if pid == 0:
            try:
                held = [open(files[(i * 5 + k) % HELD], "rb") for k in range(5)]  # noqa: SIM115
                with open(files[(i * 5 + 7) % HELD], "rb") as f:
                    held.append(mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ))  # type: ignore[arg-type]
                signal.pause()
            finally:
                os._exit(0)
        pids.append(pid)
    return pids


#: Where child processes run: not a source tree, whose rstrtmgr `python -c`
#: would import first.
CHILD_CWD = tempfile.gettempdir()


def process(
    cmd: list[str], env: dict[str, str] | None = None
) -> tuple[float, str, str, int]:
    """Runs cmd; wall ms, stdout, stderr, 0."""
    t = time.perf_counter()
    p = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env=env,
        cwd=CHILD_CWD,
    )
    out, err = p.communicate()
    ms = (time.perf_counter() - t) * 1000
    return ms, out.decode(errors="replace"), err.decode(errors="replace"), 0


def run_rss(
    floor: str, cmd: list[str], env: dict[str, str] | None = None
) -> tuple[float, str, str, int]:
    """Runs cmd under ``floor run``; wall ms, stdout, stderr, peak RSS KiB."""
    _, out, err, _ = process([floor, "run", *cmd], env)
    m = re.search(r"^run ns (\d+) rss (\d+)$", err, re.M)
    if not m:
        raise RuntimeError(f"floor run failed: {err!r}")
    return int(m.group(1)) / 1e6, out, err[: m.start()], int(m.group(2))


def floor_ns(err: str, key: str = "ns") -> float:
    m = re.search(rf"^{key} (\d+)$", err, re.M)
    if not m:
        raise RuntimeError(f"floor failed: {err!r}")
    return int(m.group(1)) / 1e6


def pids_of_lines(text: str) -> set[int]:
    return {int(w) for w in text.split() if w.isdigit()}


def pids_of_table(text: str) -> set[int]:
    """The PID column of ``rstrtmgr list``'s table."""
    pids = set()
    for line in text.splitlines()[1:]:
        cols = line.split()
        # A row has seven columns; the notes under the table have words.
        if len(cols) >= 7 and cols[0].isdigit() and cols[1] != "process(es)":
            pids.add(int(cols[0]))
    return pids


def with_threads(n: int | None, fn: Callable[[], Sample]) -> Callable[[], Sample]:
    def call() -> Sample:
        if n is None:
            return fn()
        os.environ["RSTRTMGR_SCAN_THREADS"] = str(n)
        try:
            return fn()
        finally:
            del os.environ["RSTRTMGR_SCAN_THREADS"]

    return call


def installed(work: Path) -> tuple[str, str]:
    """(python, rstrtmgr script) of a venv that holds this checkout as its
    wheel installs it: the package (built in place) and cffi in
    site-packages, and the script pip writes for the entry point.

    Processes are timed as users run them: a development venv's editable
    install adds its import hook to every interpreter start (about 10 ms
    here, ``-c pass`` included), which no wheel user pays.
    """
    import _cffi_backend
    import cffi

    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True)
    python = venv / "bin" / "python"
    site = Path(
        subprocess.run(
            [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    skip = shutil.ignore_patterns("__pycache__")
    shutil.copytree(ROOT / "rstrtmgr", site / "rstrtmgr", ignore=skip)
    shutil.copytree(Path(cffi.__file__).parent, site / "cffi", ignore=skip)
    shutil.copy2(_cffi_backend.__file__, site)
    script = venv / "bin" / "rstrtmgr"
    script.write_text(
        f"#!{python}\n"
        "import re\nimport sys\nfrom rstrtmgr.__main__ import main\n"
        "if __name__ == '__main__':\n"
        "    sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])\n"
        "    sys.exit(main())\n"
    )
    script.chmod(0o755)
    return str(python), str(script)


class Bench:
    def __init__(self, work: Path, quick: bool, against: str | None = None) -> None:
        self.work = work
        self.quick = quick
        self.against = against
        self.floor = str(work / "floor")
        subprocess.run(
            [
                "cc",
                "-O2",
                "-std=gnu11",
                "-pthread",
                "-o",
                self.floor,
                str(ROOT / "bench" / "floor.c"),
            ],
            check=True,
        )
        files = work / "f"
        files.mkdir()
        self.files = []
        for i in range(MANY):
            if i % BIG == 0:
                # 100,000 a directory, as an installer's many directories.
                folder = files / str(i // BIG)
                folder.mkdir()
            # Short names: a million of them fit in one batch (64 MiB).
            p = str(folder / str(i))
            fd = os.open(p, os.O_WRONLY | os.O_CREAT, 0o644)
            if i < HELD:
                os.write(fd, b"x" * 4096)
            os.close(fd)
            self.files.append(p)
        self.victim = str(work / "victim.bin")
        Path(self.victim).write_bytes(b"v")
        self.lists = {}
        for n in (1, HELD, BIG, MANY):
            path = work / f"list{n}.txt"
            path.write_text("\n".join(self.files[:n]) + "\n")
            self.lists[n] = str(path)
        self.victim_list = work / "victim.txt"
        self.victim_list.write_text(self.victim + "\n")
        self.sessions = {}
        self.holders: list[int] = []
        self.keepers: dict[subprocess.Popen[bytes], set[int]] = {}
        self.shutdown_mismatches: list[str] = []
        self.floor_threads: dict[str, list[Sample]] = {}
        self.first_calls: dict[int, list[Sample]] = {}
        self.python_exe, script = installed(work)
        self.cli = [script]
        self.fuser = shutil.which("fuser")
        self.lsof = shutil.which("lsof")

    def start(self) -> None:
        # One untimed start of each interpreter case (it writes the bytecode).
        for code in ("pass", "import rstrtmgr._cli"):
            subprocess.run([self.python_exe, "-c", code], check=True)
        self.holders = start_holders(self.files)
        time.sleep(0.5)
        for n in (1, HELD, BIG):
            s = rstrtmgr.Session()
            s.register(files=self.files[:n])
            self.sessions[n] = s

    def stop(self) -> None:
        for s in self.sessions.values():
            with contextlib.suppress(Exception):
                s.close()
        for pid in self.holders:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for pid in self.holders:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)

    # ---- in-process calls --------------------------------------------------

    def get_list(self, n: int) -> Callable[[], Sample]:
        s = self.sessions[n]

        def call() -> Sample:
            # Timed warm, as the floor's walk is timed after its warm-up
            # walk; the warm-up call, which follows the round's previous case
            # (another process), is reported on its own.
            t = time.perf_counter()
            s.get_list()
            warm_up = (time.perf_counter() - t) * 1000
            t = time.perf_counter()
            r = s.get_list()
            ms = (time.perf_counter() - t) * 1000
            if "RSTRTMGR_SCAN_THREADS" not in os.environ:
                self.first_calls.setdefault(n, []).append((warm_up, None, 0))
            return ms, {p.pid for p in r.processes}, 0

        return call

    def first_list(self, n: int) -> Callable[[], Sample]:
        """A new session's first get_list() (registered untimed before)."""

        def call() -> Sample:
            with rstrtmgr.Session() as s:
                s.register(files=self.files[:n])
                t = time.perf_counter()
                r = s.get_list()
                ms = (time.perf_counter() - t) * 1000
            return ms, {p.pid for p in r.processes}, 0

        return call

    def floor_scan(self, n: int, verb: str = "scan") -> Callable[[], Sample]:
        """The floor's walk: the faster of one and two threads (each is also
        kept, as "floor ..., 1 thread" and "..., 2 threads")."""

        def call() -> Sample:
            _, out, err, _ = process([self.floor, verb, self.lists[n]])
            what = {"scan": "floor", "details": "floor + details"}.get(
                verb, "floor + kept details"
            )
            for key, label in (("ns1", "1 thread"), ("ns2", "2 threads")):
                self.floor_threads.setdefault(f"{what}, {n} files, {label}", []).append(
                    (floor_ns(err, key), None, 0)
                )
            return floor_ns(err), pids_of_lines(out), 0

        return call

    def register(self) -> Sample:
        """Session.register() of MANY files into a new session, in a child
        interpreter of its own: the time, and the peak memory it adds (the
        paths' list, the caller's, excluded)."""
        return register_child(str(ROOT), self.lists[MANY])

    def floor_stat(self) -> Sample:
        _, _, err, _ = process([self.floor, "stat", self.lists[MANY]])
        return floor_ns(err), None, 0

    # ---- shutdown ------------------------------------------------------------

    def hold(self) -> tuple[subprocess.Popen[bytes], set[int]]:
        """SHUTDOWN_HOLDERS polite holders of the victim, children of a keeper
        that reaps them (so they are nobody's here, as an installer's are)."""
        keeper = subprocess.Popen(
            [self.floor, "hold", str(SHUTDOWN_HOLDERS), self.victim],
            stdout=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
        )
        assert keeper.stdout is not None
        pids = pids_of_lines(keeper.stdout.read().decode())
        keeper.stdout.close()
        self.keepers[keeper] = pids
        assert len(pids) == SHUTDOWN_HOLDERS, pids
        return keeper, pids

    def reap(self, keeper: subprocess.Popen[bytes], what: str, got: set[int]) -> None:
        """Waits for the keeper (all holders gone); notes a wrong pid set."""
        held = self.keepers.pop(keeper)
        if got != held:
            self.shutdown_mismatches.append(
                f"{what}: {len(got)} pids, {len(got ^ held)} differ"
            )
        try:
            keeper.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.shutdown_mismatches.append(f"{what}: holders still running")
            for pid in held:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            keeper.wait()

    def shutdown_raw(self) -> Sample:
        keeper, _ = self.hold()
        with rstrtmgr.Session() as s:
            s.register(files=[self.victim])
            with s._using() as handle:
                t = time.perf_counter()
                code = lib.RmShutdown(handle, 0, ffi.NULL)
                ms = (time.perf_counter() - t) * 1000
            assert code == 0, code
            got = {p.pid for p in s.get_list().processes}
        self.reap(keeper, "RmShutdown", got)
        return ms, None, 0

    def shutdown_facade(self) -> Sample:
        keeper, _ = self.hold()
        with rstrtmgr.Session() as s:
            s.register(files=[self.victim])
            t = time.perf_counter()
            r = s.shutdown()
            ms = (time.perf_counter() - t) * 1000
            got = {p.pid for p in r.processes}
        self.reap(keeper, "Session.shutdown()", got)
        return ms, None, 0

    def shutdown_floor(self) -> Sample:
        """The floor's walk (one thread), then its kill-and-wait loop."""
        keeper, _ = self.hold()
        _, out, err, _ = process([self.floor, "shutdown", str(self.victim_list)])
        self.reap(keeper, "floor shutdown", pids_of_lines(out))
        self.floor_threads.setdefault(WALK_BEST, []).append(
            (floor_ns(err, "best_ns"), None, 0)
        )
        return floor_ns(err), None, 0

    def kill_floor(self) -> Sample:
        """The kill-and-wait loop alone (the pids given): shutdown's floor."""
        keeper, pids = self.hold()
        _, _, err, _ = process([self.floor, "kill", *map(str, sorted(pids))])
        self.reap(keeper, "floor kill", pids)
        return floor_ns(err), None, 0

    # ---- whole processes ----------------------------------------------------

    def tool(self, which: str, n: int) -> Callable[[], Sample]:
        files = self.files[:n]
        if which == "rstrtmgr list":
            cmd, parse = [*self.cli, "list", *files], pids_of_table
        elif which == "fuser":
            cmd, parse = [str(self.fuser), *files], pids_of_lines
        else:
            cmd, parse = [str(self.lsof), "-w", "-t", *files], pids_of_lines

        def call() -> Sample:
            ms, out, _, rss = run_rss(self.floor, cmd)
            return ms, parse(out), rss

        return call

    def python(self, code: str) -> Callable[[], Sample]:
        def call() -> Sample:
            ms, _, _, rss = run_rss(self.floor, [self.python_exe, "-c", code])
            return ms, None, rss

        return call

    def importtime(
        self, env: dict[str, str] | None = None, code: str = "import rstrtmgr"
    ) -> Sample:
        """-X importtime's cumulative time of the rstrtmgr modules ``code``
        imports: the top-level entries (a name first used imports its module
        after the package's own entry)."""
        _, _, err, _ = run_rss(
            self.floor, [self.python_exe, "-X", "importtime", "-c", code], env
        )
        us = 0
        for line in err.splitlines():
            parts = line.split("|")
            if len(parts) == 3 and parts[2].startswith(" rstrtmgr"):
                us += int(parts[1])
        return us / 1000, None, 0

    def importtime_facade(self, env: dict[str, str] | None = None) -> Sample:
        return self.importtime(env, FACADE)


def register_child(package: str, listing: str) -> Sample:
    """bench/inproc.py's register case: ms, and the peak memory (KiB) that
    the call added, as the sample's RSS."""
    inproc = str(ROOT / "bench" / "inproc.py")
    _, out, err, _ = process(
        [sys.executable, inproc, package, "register", listing],
        dict(os.environ, PYTHONPATH=package),
    )
    m = re.search(r"^ms ([\d.]+)$", out, re.M)
    k = re.search(r"^peak_kib (\d+)$", out, re.M)
    if not (m and k):
        raise RuntimeError(f"inproc register failed: {err[-500:]}")
    return float(m.group(1)), None, int(k.group(1))


class Against:
    """The same cases run with another checkout's rstrtmgr (--against DIR),
    in child interpreters: its in-process time, measured there."""

    def __init__(self, b: Bench, package: str, label: str = "main") -> None:
        self.b = b
        self.label = label
        self.package = os.path.abspath(package)
        self.env = dict(os.environ, PYTHONPATH=self.package)
        self.inproc = str(ROOT / "bench" / "inproc.py")

    def _run(self, case: str, listing: str) -> tuple[float, set[int]]:
        _, out, err, _ = process(
            [sys.executable, self.inproc, self.package, case, listing], self.env
        )
        m = re.search(r"^ms ([\d.]+)$", out, re.M)
        if not m:
            raise RuntimeError(f"inproc {case} failed: {err[-500:]}")
        return float(m.group(1)), pids_of_lines(out[m.end() :])

    def get_list(self, n: int) -> Callable[[], Sample]:
        def call() -> Sample:
            ms, pids = self._run("get_list", self.b.lists[n])
            return ms, pids, 0

        return call

    def first_list(self, n: int) -> Callable[[], Sample]:
        def call() -> Sample:
            ms, pids = self._run("first_list", self.b.lists[n])
            return ms, pids, 0

        return call

    def register(self) -> Sample:
        return register_child(self.package, self.b.lists[MANY])

    def shutdown(self, case: str) -> Callable[[], Sample]:
        def call() -> Sample:
            keeper, _ = self.b.hold()
            ms, pids = self._run(case, str(self.b.victim_list))
            self.b.reap(keeper, f"{case} of --against", pids)
            return ms, None, 0

        return call

    def cli(self, n: int) -> Callable[[], Sample]:
        code = (
            "import sys; sys.argv[0] = 'rstrtmgr'; "
            "from rstrtmgr.__main__ import main; sys.exit(main())"
        )
        cmd = [self.b.python_exe, "-c", code, "list", *self.b.files[:n]]

        def call() -> Sample:
            ms, out, _, rss = run_rss(self.b.floor, cmd, self.env)
            return ms, pids_of_table(out), rss

        return call

    def importtime(self) -> Sample:
        return self.b.importtime(self.env)

    def importtime_facade(self) -> Sample:
        return self.b.importtime_facade(self.env)

    def cases(self, processes: bool = True) -> dict[str, Callable[[], Sample]]:
        """The in-process cases; with ``processes`` the CLI and import too."""
        at = f"{self.label}: "
        cases: dict[str, Callable[[], Sample]] = {}
        for n in (1, HELD, BIG):
            cases[f"{at}get_list, {n} files"] = self.get_list(n)
        for n in (HELD, BIG):
            cases[f"{at}get_list, {n} files, first call"] = self.first_list(n)
        cases[f"{at}register {MANY} files"] = self.register
        cases[f"{at}RmShutdown, 200 holders"] = self.shutdown("shutdown_raw")
        cases[f"{at}Session.shutdown(), 200 holders"] = self.shutdown("shutdown")
        if processes:
            for n in (1, HELD):
                cases[f"{at}rstrtmgr list, {n} files"] = self.cli(n)
            cases[f"{at}-X importtime: rstrtmgr cumulative"] = self.importtime
            cases[f"{at}-X importtime: rstrtmgr + Session cumulative"] = (
                self.importtime_facade
            )
        return cases


def summarize(times: dict[str, list[Sample]]) -> dict[str, tuple[float, float]]:
    """Prints the cases; returns each one's (median, minimum), and as
    "CASE, peak KiB" the (median, minimum) of its peak memory."""
    print("| case | min | median | max | peak RSS MiB |")
    print("|---|---|---|---|---|")
    stats = {}
    for k, v in times.items():
        ms = [s[0] for s in v]
        rss = max(s[2] for s in v)
        stats[k] = (statistics.median(ms), min(ms))
        if rss:
            kib = [s[2] for s in v]
            stats[f"{k}, peak KiB"] = (statistics.median(kib), min(kib))
        rss_text = f"{rss / 1024:.1f}" if rss else ""
        print(
            f"| {k} | {min(ms):.1f} | {stats[k][0]:.1f} | {max(ms):.1f} | {rss_text} |"
        )
    return stats


def check_pids(times: dict[str, list[Sample]], groups: dict[str, list[str]]) -> bool:
    ok = True
    for what, names in groups.items():
        sets = {}
        for name in names:
            for _, pids, _ in times.get(name, []):
                if pids is not None:
                    sets.setdefault(name, set()).add(frozenset(pids))
        distinct = {s for v in sets.values() for s in v}
        if not distinct:
            continue  # left out by --only
        sizes = sorted({len(s) for s in distinct})
        if len(distinct) != 1:
            ok = False
            print(f"pids differ for {what}:")
            for name, v in sets.items():
                print(f"  {name}: {sorted(len(s) for s in v)} pids")
        else:
            print(f"pids equal for {what}: {sizes[0]} pids, {len(sets)} tools")
    return ok


def ratios() -> list[tuple[str, str, str, float | None]]:
    """(label, numerator case, denominator case, target) of the report: the
    targets are issue 22's (get_list, shutdown, register) and issue 11's."""
    out: list[tuple[str, str, str, float | None]] = []
    for n in (1, HELD, BIG):
        get, floor = f"get_list, {n} files", f"floor, {n} files"
        out.append((f"get_list / floor, {n} files", get, floor, 1.2))
        if n != 1:
            first = f"{get}, a session's first call"
            out.append((f"first get_list / floor, {n} files", first, floor, 1.2))
        out.append((f"1 thread / 2, {n} files", f"{get}, 1 thread", get, None))
        warm_up = f"{get}, warm-up call (after another process)"
        out.append((f"get_list warm-up call / floor, {n} files", warm_up, floor, None))
        out.append(
            (
                f"floor 1 thread / 2 threads, {n} files",
                f"{floor}, 1 thread",
                f"{floor}, 2 threads",
                None,
            )
        )
        ref = f"floor + details, {n} files"
        out.append((f"get_list / floor + details, {n} files", get, ref, None))
        # What RmGetList must do at the least (the floor's walk and each
        # holder's RM_PROCESS_INFO read): the best ratio the goal allows; a
        # warm list, with the holders' directories kept, at the least what
        # `floor kept` does.
        out.append((f"bound: floor + details / floor, {n} files", ref, floor, None))
        if n != 1:
            kept = f"floor + kept details, {n} files"
            out.append((f"get_list / floor + kept details, {n} files", get, kept, None))
            out.append(
                (
                    f"bound (warm): floor + kept details / floor, {n} files",
                    kept,
                    floor,
                    None,
                )
            )
    reg, lst = f"register {MANY} files", f"floor lstat, {MANY} files"
    out.append((f"register / floor lstat, {MANY} files", reg, lst, 1.2))
    kill = "floor kill-and-wait loop, 200 holders"
    down = "floor walk + kill-and-wait, 200 holders"
    for case in ("RmShutdown, 200 holders", "Session.shutdown(), 200 holders"):
        name = case.split(",")[0]
        out.append((f"{name} / floor kill-and-wait loop", case, kill, 1.5))
        out.append((f"{name} / floor walk + kill-and-wait", case, down, None))
    # A shutdown decides on its whole list before it signals anyone: the
    # floor's walk at its best thread count, then the loop, is the least it
    # costs.
    bound = "bound: floor walk (best) + kill-and-wait / kill-and-wait loop"
    out.append((bound, WALK_BEST, kill, None))
    for case, child in (
        *((f"get_list, {n} files", True) for n in (1, HELD, BIG)),
        *((f"get_list, {n} files, first call", True) for n in (HELD, BIG)),
        (f"register {MANY} files", True),
        ("RmShutdown, 200 holders", True),
        ("Session.shutdown(), 200 holders", True),
        ("rstrtmgr list, 1 files", False),
        (f"rstrtmgr list, {HELD} files", False),
        ("-X importtime: rstrtmgr cumulative", False),
        ("-X importtime: rstrtmgr + Session cumulative", False),
    ):
        now = f"now: {case}" if child else case
        out.append((f"now / main: {case}", now, f"main: {case}", None))
    for n, target in ((1, 1.3), (HELD, 0.5)):
        cli = f"rstrtmgr list, {n} files"
        out.append(
            (f"rstrtmgr list / fuser, {n} files", cli, f"fuser, {n} files", target)
        )
        out.append((f"rstrtmgr list / lsof, {n} files", cli, f"lsof, {n} files", None))
    return out


def report(stats: dict[str, tuple[float, float]]) -> None:
    """The ratios of the medians, against the targets, and of the minimums
    (on a shared machine, the least disturbed round of each case)."""
    print("\n| ratio | of medians | of minimums | target |")
    print("|---|---|---|---|")
    for label, a, c, target in ratios():
        if a in stats and c in stats:
            r = stats[a][0] / stats[c][0]
            r_min = stats[a][1] / stats[c][1]
            met = "" if target is None else "met" if r <= target else "NOT met"
            goal = "" if target is None else f"{target} {met}"
            print(f"| {label} | {r:.2f} | {r_min:.2f} | {goal} |")
    imp = stats.get("-X importtime: rstrtmgr cumulative")
    if imp is not None:
        met = "met" if imp[0] <= 15 else "NOT met"
        print(
            f"| import rstrtmgr, ms (-X importtime) | {imp[0]:.1f} | {imp[1]:.1f} "
            f"| 15 {met} |"
        )
    facade = stats.get("-X importtime: rstrtmgr + Session cumulative")
    if facade is not None:
        met = "met" if facade[0] < 10 else "NOT met"
        print(
            f"| {FACADE}, ms (-X importtime) | {facade[0]:.1f} | {facade[1]:.1f} "
            f"| < 10 {met} |"
        )
    for who in ("", "main: "):
        peak = stats.get(f"{who}register {MANY} files, peak KiB")
        if peak is not None:
            mib = (peak[0] / 1024, peak[1] / 1024)
            met = "met" if mib[0] <= 100 else "NOT met"
            goal = f"100 {met}" if not who else ""
            print(
                f"| {who}register {MANY} files, peak memory added, MiB "
                f"| {mib[0]:.0f} | {mib[1]:.0f} | {goal} |"
            )
    bare = stats.get("python -c pass")
    for code in ("import rstrtmgr", FACADE):
        full = stats.get(f"python -c '{code}'")
        if bare and full:
            print(
                f"| {code}, ms (wall, against -c pass) | "
                f"{full[0] - bare[0]:.1f} | {full[1] - bare[1]:.1f} | |"
            )
    print()


def all_cases(b: Bench, quick: bool) -> dict[str, Callable[[], Sample]]:
    """Every case by name, in the order of a round."""
    cases: dict[str, Callable[[], Sample]] = {}
    for n in (1, HELD, BIG):
        cases[f"get_list, {n} files"] = b.get_list(n)
        if n != 1:
            cases[f"get_list, {n} files, a session's first call"] = b.first_list(n)
        cases[f"get_list, {n} files, 1 thread"] = with_threads(1, b.get_list(n))
        cases[f"floor, {n} files"] = b.floor_scan(n)
        cases[f"floor + details, {n} files"] = b.floor_scan(n, "details")
        if n != 1:
            cases[f"floor + kept details, {n} files"] = b.floor_scan(n, "kept")
    cases[f"register {MANY} files"] = b.register
    cases[f"floor lstat, {MANY} files"] = b.floor_stat
    cases["RmShutdown, 200 holders"] = b.shutdown_raw
    cases["Session.shutdown(), 200 holders"] = b.shutdown_facade
    cases["floor kill-and-wait loop, 200 holders"] = b.kill_floor
    cases["floor walk + kill-and-wait, 200 holders"] = b.shutdown_floor
    for n in (1, HELD):
        cases[f"rstrtmgr list, {n} files"] = b.tool("rstrtmgr list", n)
        if b.fuser:
            cases[f"fuser, {n} files"] = b.tool("fuser", n)
        if b.lsof and not (quick and n == HELD):
            cases[f"lsof, {n} files"] = b.tool("lsof", n)
    cases["python -c pass"] = b.python("pass")
    cases["python -c 'import rstrtmgr'"] = b.python("import rstrtmgr")
    cases[f"python -c '{FACADE}'"] = b.python(FACADE)
    cases["-X importtime: rstrtmgr cumulative"] = b.importtime
    cases["-X importtime: rstrtmgr + Session cumulative"] = b.importtime_facade
    if b.against:
        # This checkout's in-process cases measured the same way, in a child.
        cases.update(Against(b, str(ROOT), "now").cases(processes=False))
        cases.update(Against(b, b.against).cases())
    return cases


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, help="default 7, 3 with --quick")
    ap.add_argument("--quick", action="store_true", help="3 rounds, no lsof 1,000")
    ap.add_argument("--only", metavar="REGEX", help="only the cases that match")
    ap.add_argument(
        "--against",
        metavar="DIR",
        help="also run the in-process, CLI and import cases with the rstrtmgr "
        "of another checkout (built in place), e.g. main's: 'main:' cases",
    )
    ap.add_argument(
        "--no-bytecode-cache",
        action="store_true",
        help="keep PYTHONDONTWRITEBYTECODE: child interpreters compile every import",
    )
    args = ap.parse_args()
    rounds = args.rounds or (3 if args.quick else 7)
    work = Path(tempfile.mkdtemp(prefix="rb-"))
    os.environ["RSTRTMGR_STATE_DIR"] = str(work / "store")
    if not args.no_bytecode_cache:
        # Child interpreters read compiled bytecode, as an installed package
        # has it (pip compiles at install), kept outside the source tree.
        os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
        os.environ["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
    b = Bench(work, args.quick, args.against)
    started = time.monotonic()
    try:
        b.start()
        cases = all_cases(b, args.quick)
        if args.only:
            cases = {k: v for k, v in cases.items() if re.search(args.only, k)}
        times: dict[str, list[Sample]] = {k: [] for k in cases}
        for _ in range(rounds):
            for name, fn in cases.items():
                times[name].append(fn())
        times.update(b.floor_threads)
        for n, first in b.first_calls.items():
            times[f"get_list, {n} files, warm-up call (after another process)"] = first
        procs = sum(1 for d in os.listdir("/proc") if d.isdigit())
        print(
            f"# {os.uname().release}, {os.cpu_count()} cpus, uid {os.geteuid()}, "
            f"{procs} processes, {HOLDERS} holders, {rounds} rounds, "
            f"{time.monotonic() - started:.0f} s; times in ms"
        )
        report(summarize(times))
        groups = {
            f"{n} files": [
                f"get_list, {n} files",
                f"get_list, {n} files, 1 thread",
                f"get_list, {n} files, a session's first call",
                f"floor, {n} files",
                f"floor + details, {n} files",
                f"rstrtmgr list, {n} files",
                f"fuser, {n} files",
                f"lsof, {n} files",
            ]
            for n in (1, HELD, BIG)
        }
        for n in (1, HELD, BIG):
            groups[f"{n} files"] += [
                f"now: get_list, {n} files",
                f"main: get_list, {n} files",
                f"now: get_list, {n} files, first call",
                f"main: get_list, {n} files, first call",
                f"main: rstrtmgr list, {n} files",
            ]
        ok = check_pids(times, groups)
        for m in b.shutdown_mismatches:
            print(f"shutdown: {m}")
        if not b.shutdown_mismatches:
            print(
                f"shutdown: every tool listed the {SHUTDOWN_HOLDERS} holders "
                "started, and all are gone"
            )
        return 0 if ok and not b.shutdown_mismatches else 1
    finally:
        b.stop()
        for keeper, held in b.keepers.items():
            for pid in held:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            keeper.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
