"""One in-process measurement in a child interpreter, for run.py --against.

``python bench/inproc.py PACKAGE_DIR CASE LIST`` imports rstrtmgr from
PACKAGE_DIR (another checkout, built in place), runs CASE on the files named
in LIST (one path a line) and prints ``ms M`` and the pids it listed:

* ``get_list``: registers the files, calls get_list() once untimed, then
  times one call;
* ``first_list``: registers the files, then times the session's first
  get_list();
* ``register``: times Session.register() of the files into a new session,
  and prints ``peak_kib K``, the peak memory the call added (the kernel's
  high-water mark reset just before it through /proc/self/clear_refs);
* ``shutdown`` / ``shutdown_raw``: registers the files and times
  Session.shutdown() / a bare RmShutdown (the holders are the caller's).
"""

from __future__ import annotations

import sys
import time


def status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def main() -> None:
    package, case, listing = sys.argv[1:4]
    sys.path.insert(0, package)
    import rstrtmgr

    with open(listing) as f:
        files = f.read().split()
    with rstrtmgr.Session() as s:
        if case == "register":
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")  # resets VmHWM to the current RSS
            before = status_kib("VmRSS")
            t = time.perf_counter()
            s.register(files=files)
            ms = (time.perf_counter() - t) * 1000
            print(f"ms {ms}")
            print(f"peak_kib {max(status_kib('VmHWM') - before, 0)}")
            return
        s.register(files=files)
        if case == "get_list":
            s.get_list()
            t = time.perf_counter()
            pids = s.get_list().pids()
        elif case == "first_list":
            t = time.perf_counter()
            pids = s.get_list().pids()
        elif case == "shutdown":
            t = time.perf_counter()
            pids = s.shutdown().pids()
        else:
            from rstrtmgr._rstrtmgr import ffi, lib

            with s._using() as handle:
                t = time.perf_counter()
                code = lib.RmShutdown(handle, 0, ffi.NULL)
                stop = time.perf_counter()
            if code != 0:
                raise SystemExit(f"RmShutdown: {code}")
            pids = s.get_list().pids()
            print(f"ms {(stop - t) * 1000}")
            print(*sorted(pids))
            return
        ms = (time.perf_counter() - t) * 1000
    print(f"ms {ms}")
    print(*sorted(pids))


if __name__ == "__main__":
    main()
