"""A shutdown that a GUI can show and cancel, without freezing its window.

Usage: python gui_shutdown.py [--timeout SECONDS] [--cancel] FILE...

The shutdown runs in a worker thread; its progress reaches the GUI thread
through a queue, which the GUI polls from its timer (Tk: ``root.after(50,
poll)``; Qt: a QTimer), and the GUI's Cancel button calls ``cancel()`` from
the GUI thread. Here the "GUI" is the main thread printing a progress bar;
``--cancel`` presses Cancel as soon as the shutdown reports progress.
Exit status: 0 all closed, 1 cancelled, 2 wrong usage, 3 some could not be
closed.

Where it runs: Linux and Windows.
"""

from __future__ import annotations

import argparse
import queue
import sys
import threading
from collections.abc import Sequence

import rstrtmgr

POLL_SECONDS = 0.05  # a GUI timer's period


class ShutdownTask:
    """A session's shutdown in a worker thread, for a GUI to watch and cancel.

    ``events`` receives ``("progress", percent)``, then exactly one of
    ``("done", ListResult)``, ``("cancelled", None)`` or ``("failed", error)``.
    """

    def __init__(self, files: Sequence[str], timeout: float) -> None:
        """A session with ``files`` registered; ``start()`` shuts their users down."""
        self.events: queue.Queue[tuple[str, object]] = queue.Queue()
        self._timeout = timeout
        self._session = rstrtmgr.Session()
        self._session.register(files=files)
        self._worker = threading.Thread(target=self._run, name="shutdown")

    def start(self) -> None:
        """Start the shutdown; returns at once."""
        self._worker.start()

    def cancel(self) -> None:
        """The Cancel button: the shutdown stops promptly (from any thread)."""
        self._session.cancel()

    def close(self) -> None:
        """Wait for the worker and end the session."""
        self._worker.join()
        self._session.close()

    def _run(self) -> None:
        try:
            result = self._session.shutdown(
                timeout=self._timeout,
                progress=lambda percent: self.events.put(("progress", percent)),
            )
        except rstrtmgr.CancelledError:
            self.events.put(("cancelled", None))
        except rstrtmgr.RestartManagerError as e:
            self.events.put(("failed", e))
        else:
            self.events.put(("done", result))


def main(argv: list[str]) -> int:
    """Shut down the users of the files, showing progress; the exit status."""
    parser = argparse.ArgumentParser(description="shut down with progress")
    parser.add_argument("files", nargs="+", metavar="FILE")
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument("--cancel", action="store_true", help="press Cancel")
    args = parser.parse_args(argv)
    task = ShutdownTask(args.files, args.timeout)
    task.start()
    cancel_pressed = False
    try:
        while True:  # the GUI's timer
            try:
                kind, value = task.events.get(timeout=POLL_SECONDS)
            except queue.Empty:
                continue
            if kind == "progress":
                assert isinstance(value, int)
                percent = value
                print(f"[{'#' * (percent // 5):<20}] {percent:3d}%", flush=True)
                if args.cancel and not cancel_pressed:
                    cancel_pressed = True
                    task.cancel()
            elif kind == "done":
                print("all closed", flush=True)
                return 0
            elif kind == "cancelled":
                print("cancelled", flush=True)
                return 1
            else:
                print(f"not all closed: {value}", flush=True)
                return 3
    finally:
        task.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
