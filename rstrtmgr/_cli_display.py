"""The CLI's progress display: one status line on a terminal while it waits.

During a shutdown it names the processes still running and the time left
before the timeout; during a restart, what is being started and watched.
Only on a terminal (stderr a tty, TERM not "dumb") and never with --json:
in a pipe or a log nothing is written.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager

from ._types import ProcessInfo

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs every command a few ms: for mypy only
    from typing import TextIO

__all__ = ["ProgressDisplay"]

#: Redraws per second.
_RATE = 4
#: Names shown before "and N more".
_SHOWN = 3
_CLEAR = "\r\x1b[K"


def _name(p: ProcessInfo) -> str:
    text = p.app_name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return f"{p.pid} {text}" if text else str(p.pid)


def _names(processes: Sequence[ProcessInfo]) -> str:
    shown = ", ".join(_name(p) for p in processes[:_SHOWN])
    more = len(processes) - _SHOWN
    return f"{shown} and {more} more" if more > 0 else shown


class ProgressDisplay:
    """A status line on ``stream``, redrawn in place, cleared when done."""

    def __init__(self, stream: TextIO, *, enabled: bool) -> None:
        """Draw on ``stream`` only when ``enabled``."""
        self._stream = stream
        self.enabled = enabled
        self._percent: int | None = None
        self._note = ""
        self._lock = threading.Lock()

    @classmethod
    def for_terminal(
        cls, *, as_json: bool, stream: TextIO | None = None
    ) -> ProgressDisplay:
        """Enabled when ``stream`` (stderr) is a terminal and JSON is not asked for."""
        stream = sys.stderr if stream is None else stream
        try:
            tty = stream.isatty()
        except (AttributeError, ValueError):
            tty = False
        dumb = os.environ.get("TERM", "") == "dumb"
        return cls(stream, enabled=tty and not dumb and not as_json)

    def percent(self, value: int) -> None:
        """A progress callback: the percentage the Restart Manager reports."""
        self._percent = value

    def note(self, text: str) -> None:
        """Add ``text`` (e.g. that a signal came) to the line from now on."""
        self._note = text

    def _width(self) -> int:
        try:
            columns = os.get_terminal_size(self._stream.fileno()).columns
        except (OSError, ValueError, AttributeError):
            columns = 0
        return max(20, columns - 1) if columns else 79  # 0: size unknown

    def _draw(self, text: str) -> None:
        if self._percent is not None:
            text += f" [{self._percent}%]"
        if self._note:
            text += f" - {self._note}"
        with self._lock:
            self._stream.write(_CLEAR + text[: self._width()])
            self._stream.flush()

    def _clear(self) -> None:
        with self._lock:
            self._stream.write(_CLEAR)
            self._stream.flush()

    @contextmanager
    def _redrawing(self, line: Callable[[], str]) -> Iterator[None]:
        """Redraw ``line()`` until the block ends, from a thread of its own.

        The Restart Manager call runs in the calling thread (the C call
        releases the GIL), so the line moves while it waits.
        """
        if not self.enabled:
            yield
            return
        self._percent = None
        stop = threading.Event()

        def loop() -> None:
            while True:
                self._draw(line())
                if stop.wait(1 / _RATE):
                    return

        worker = threading.Thread(target=loop, name="rstrtmgr-progress", daemon=True)
        worker.start()
        try:
            yield
        finally:
            stop.set()
            worker.join()
            self._clear()

    def shutting_down(
        self, processes: Sequence[ProcessInfo], timeout: float
    ) -> AbstractContextManager[None]:
        """Show which of ``processes`` still run, and the time left."""
        started = time.monotonic()
        waited = list(processes)

        def line() -> str:
            running = [p for p in waited if p.unique_process.is_running()]
            left = max(0.0, timeout - (time.monotonic() - started))
            if not running:
                return "rstrtmgr: shut down"
            return (
                f"rstrtmgr: waiting for {len(running)} of {len(waited)} to exit: "
                f"{_names(running)} - {left:.0f} s left"
            )

        return self._redrawing(line)

    def restarting(
        self, processes: Sequence[ProcessInfo], settle_time: float = 0.0
    ) -> AbstractContextManager[None]:
        """Show what is being restarted, and how long it is watched."""
        started = time.monotonic()
        names = _names(list(processes))

        def line() -> str:
            left = max(0.0, settle_time - (time.monotonic() - started))
            watch = f" - watching them {left:.0f} s more" if left > 0 else ""
            return f"rstrtmgr: restarting {names}{watch}"

        return self._redrawing(line)
