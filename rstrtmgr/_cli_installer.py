"""``rstrtmgr shutdown`` and ``rstrtmgr replace``: the installer flow of the CLI.

What ``replace`` promises: whatever happens once the shutdown has begun
(COMMAND fails or cannot start, Ctrl-C, SIGTERM or SIGHUP to the CLI, an
error), what was shut down is restarted before the CLI exits. A signal
during the shutdown cancels it at once (RmCancelCurrentTask): COMMAND is
then not run, what had stopped is restarted within a second, those it had
asked to exit are waited for (up to --timeout; another signal ends the
wait) and restarted as they exit, those still running are named, and the
CLI exits 128 + the signal's number (130 Ctrl-C, 143 SIGTERM, 129 SIGHUP)
with one line on stderr. While COMMAND runs, SIGTERM and SIGHUP are passed
on to it (Ctrl-C on a terminal reaches it directly) and the CLI waits for
it.

Neither command claims what it could not check: when some processes could
not be looked into (other users', when not root) they exit 3 before
shutting anything down, and ``replace`` does not run COMMAND, unless
--ignore-uninspected is given; processes that even root cannot look into
(pid 1 in some containers) are named in a note and the command goes on.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Callable, Sequence

from ._enums import AppStatus, AppType
from ._errors import RebootRequiredError, RestartManagerError, ShutdownFailedError
from ._types import ListResult, ProcessInfo

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs every command a few ms: for mypy only
    import subprocess
    from types import FrameType, TracebackType
    from typing import Any

__all__ = [
    "SignalGuard",
    "blind_spot",
    "find_command",
    "listed",
    "restart_lines",
    "shutdown_failure",
    "still_running",
]

#: The signals after which the CLI restarts what it shut down, then exits.
#: (Windows has no SIGHUP.)
STOP_SIGNALS = tuple(
    getattr(signal, name)
    for name in ("SIGINT", "SIGTERM", "SIGHUP")
    if hasattr(signal, name)
)
_NAMES: dict[int, str] = {signal.SIGINT: "Ctrl-C"}
#: Lines of a failed restart's output tail that the CLI prints.
_TAIL_LINES = 5


class Interrupted(BaseException):
    """A stop signal came while the CLI may stop at once (``shutdown``)."""

    def __init__(self, signum: int) -> None:
        """The signal that came."""
        super().__init__(signum)
        self.signum = signum


def signal_name(signum: int) -> str:
    """How a user knows the signal: Ctrl-C, SIGTERM, SIGHUP."""
    return _NAMES.get(signum) or signal.Signals(signum).name


class SignalGuard:
    """Catch SIGINT, SIGTERM and SIGHUP for the length of a ``with`` block.

    ``defer=True`` (``replace``): a signal is only recorded, and passed on
    to the command that runs (:meth:`run`), so that the flow restarts what
    it shut down and then exits. ``defer=False`` (``shutdown``): the first
    signal raises :class:`Interrupted` (the running shutdown is cancelled).
    """

    def __init__(self, *, defer: bool) -> None:
        """Record signals (``defer``) or raise at the first one."""
        self.defer = defer
        self.received: int | None = None
        self.child: subprocess.Popen[bytes] | None = None
        #: Called with the first signal's number (the progress display notes it).
        self.on_signal: Callable[[int], object] | None = None
        #: Called at the first signal while a shutdown runs: it cancels it.
        self.cancel: Callable[[], object] | None = None
        self._old: dict[int, Any] = {}

    @property
    def status(self) -> int:
        """The exit status for the signal received: 128 + its number."""
        assert self.received is not None
        return 128 + self.received

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        child = self.child
        if child is not None and signum != signal.SIGINT and child.poll() is None:
            child.send_signal(signum)  # Ctrl-C reached it from the terminal
        first = self.received is None
        if first:
            self.received = signum
            if self.on_signal is not None:
                self.on_signal(signum)
        if self.cancel is not None:
            # Runs inside the shutdown's progress callback, where
            # RmCancelCurrentTask makes RmShutdown return within 0.25 s.
            with contextlib.suppress(RestartManagerError):
                self.cancel()
        if first and not self.defer:
            raise Interrupted(signum)

    def __enter__(self) -> SignalGuard:
        for signum in STOP_SIGNALS:
            self._old[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for signum, old in self._old.items():
            signal.signal(signum, old)

    def run(self, command: Sequence[str], program: str) -> tuple[int, str]:
        """Run ``command`` (its program ``program``); its status and a note."""
        try:
            import subprocess  # noqa: PLC0415 - only when a command runs

            child = subprocess.Popen(command, executable=program)
        except OSError as e:
            return 127, f"cannot run {command[0]}: {e.strerror}"
        self.child = child
        try:
            status = child.wait()
        finally:
            self.child = None
        if status < 0:
            return status, f"{command[0]} was killed by {signal.Signals(-status).name}"
        if status > 0:
            return status, f"{command[0]} exited with status {status}"
        return 0, ""


def find_command(name: str) -> tuple[str | None, str]:
    """The program that ``name`` runs, checked before anything stops.

    A name without a slash is looked up on the PATH the command will run
    with (this process's, as execvp would); a path must be an executable
    regular file. Returns the program's path, or None and why not.
    """
    if not name:
        return None, "the command is empty"
    if os.sep not in name and not (os.altsep and os.altsep in name):
        import shutil  # noqa: PLC0415 - only for replace

        found = shutil.which(name)
        return (
            (os.path.abspath(found), "")
            if found
            else (None, f"{name}: not found on PATH")
        )
    import stat  # noqa: PLC0415 - only for replace

    try:
        mode = os.stat(name).st_mode
    except OSError as e:
        return None, f"{name}: {e.strerror}"
    why = (
        "not a regular file"
        if not stat.S_ISREG(mode)
        else "not executable"
        if not os.access(name, os.X_OK)
        else ""
    )
    return (None, f"{name}: {why}") if why else (os.path.abspath(name), "")


def listed(p: ProcessInfo) -> str:
    """A process as messages name it: its pid and name."""
    return f"{p.pid} ({p.app_name})" if p.app_name else str(p.pid)


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def blind_spot(result: ListResult, *, ignore: bool) -> tuple[bool, str]:
    """Whether to stop because of processes not looked into, and the message."""
    n = result.uninspected
    if not n:
        return False, ""
    if _is_root():
        return False, (
            f"note: {n} process(es) could not be looked into even as root (as "
            "in some containers); going on without them"
        )
    if ignore:
        return False, (
            f"note: {n} process(es) of other users could not be looked into; "
            "going on without them (--ignore-uninspected)"
        )
    return True, (
        f"{n} process(es) of other users could not be looked into and may use "
        "these files too; nothing was shut down. Run as root to see them, or "
        "give --ignore-uninspected to go on without them"
    )


def shutdown_failure(
    error: Exception, before: ListResult, *, only_registered: bool, timeout: float
) -> str:
    """What went wrong with a shutdown, in the CLI's terms (--force, --timeout)."""
    if isinstance(error, RebootRequiredError):
        critical = [p for p in before.processes if p.app_type == AppType.CRITICAL]
        unregistered = [
            p for p in before.processes if not p.restartable and p.pid != os.getpid()
        ]
        if only_registered and unregistered and not critical:
            who = ", ".join(listed(p) for p in unregistered)
            return (
                f"not registered for restart: {who}; with --only-registered "
                "nothing was shut down"
            )
        who = ", ".join(listed(p) for p in critical) or "a process"
        return (
            f"{who} is critical to the system; nothing was shut down. Replace "
            "the files at the next reboot"
        )
    if isinstance(error, ShutdownFailedError):
        stuck = [
            p
            for p in getattr(error, "processes", ())
            if p.status & AppStatus.ERROR_ON_STOP
        ]
        who = ", ".join(listed(p) for p in stuck) or "some processes"
        return (
            f"still running after {timeout:g} s: {who}. Close them, give a "
            "longer --timeout, or --force to kill them"
        )
    return str(error)


def restart_lines(result: ListResult) -> tuple[list[str], list[str]]:
    """``OLD -> NEW`` per restarted process; the failures, each with its output."""
    back: list[str] = []
    failed: list[str] = []
    for p in result.processes:
        new = getattr(p, "restarted_pid", None)
        outcome = getattr(p, "restart_outcome", None)
        if p.status & AppStatus.RESTARTED and new:
            back.append(f"restarted: {p.pid} -> {new} {p.app_name}".rstrip())
        elif p.status & AppStatus.ERROR_ON_RESTART:
            why = outcome.describe() if outcome is not None else "could not restart"
            failed.append(f"not restarted: {listed(p)}: {why}")
            output = outcome.output if outcome is not None else ""
            failed.extend("    " + line for line in output.splitlines()[-_TAIL_LINES:])
    return back, failed


def still_running(before: ListResult, after: ListResult | None) -> str:
    """Those of ``before`` that a cancelled shutdown left running, for a note."""
    if after is None:
        return ""
    known = {(p.pid, p.start_filetime) for p in before.processes}
    left = [
        listed(p)
        for p in after.processes
        if (p.pid, p.start_filetime) in known
        and p.status in (AppStatus.RUNNING, AppStatus.ERROR_ON_STOP)
    ]
    return f"; still running, not stopped: {', '.join(left)}" if left else ""


def say(command: str, text: str) -> None:
    """One message of ``rstrtmgr COMMAND`` on stderr."""
    print(f"rstrtmgr {command}: {text}", file=sys.stderr, flush=True)
