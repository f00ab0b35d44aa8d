"""One in-process measurement in a child interpreter, for run.py --against.

``python bench/inproc.py PACKAGE_DIR CASE LIST`` imports rstrtmgr from
PACKAGE_DIR (another checkout, built in place), runs CASE on the files named
in LIST (one path a line) and prints ``ms M`` and the pids it listed:

* ``get_list``: registers the files, calls get_list() once untimed, then
  times one call;
* ``register``: times Session.register() of the files into a new session;
* ``shutdown`` / ``shutdown_raw``: registers the files and times
  Session.shutdown() / a bare RmShutdown (the holders are the caller's).
"""

from __future__ import annotations

import sys
import time


def main() -> None:
    package, case, listing = sys.argv[1:4]
    sys.path.insert(0, package)
    import rstrtmgr

    with open(listing) as f:
        files = f.read().split()
    with rstrtmgr.Session() as s:
        if case == "register":
            t = time.perf_counter()
            s.register(files=files)
            ms = (time.perf_counter() - t) * 1000
            print(f"ms {ms}")
            return
        s.register(files=files)
        if case == "get_list":
            s.get_list()
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
