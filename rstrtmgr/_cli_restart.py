"""``rstrtmgr restart``: bring back what an earlier ``rstrtmgr shutdown`` stopped.

A session ends with its last participant, and with it what RmRestart would
restart. So ``shutdown`` keeps its session: it forks before starting it, the
child (the *keeper*) is the session's primary and does the shutdown, reports
the exit status to the parent, which exits with it, and then waits, detached,
for up to ``--hold`` seconds for one request: restart. ``rstrtmgr restart``
sends it; the keeper calls RmRestart on its own session, answers with what
came back, ends the session and exits.

Nothing a user controls decides what runs: the request carries no data, and
RmRestart starts only what the backend recorded at shutdown time from its own
restart registrations. The keeper listens on an abstract Unix socket named
after its uid, its start and its session key; both ends check the other's
uid (SO_PEERCRED) and talk only to their own user, so a socket another user
bound under that name is refused, and another user cannot make the keeper
act; ``restart`` also joins the session first (RmJoinSession), so it only
ever asks a keeper whose session is in the caller's own store. Linux only
(fork, abstract sockets).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import struct
import sys
import time
from collections.abc import Callable

from ._cli_installer import restart_lines, say
from ._errors import RestartFailedError, RestartManagerError
from ._installer import restart_what_stopped
from ._session import Session
from ._types import ListResult

TYPE_CHECKING = False
if TYPE_CHECKING:  # for mypy only
    import argparse

__all__ = ["DEFAULT_HOLD", "can_keep", "cmd_restart", "forked"]

#: How long a shutdown's session waits for ``rstrtmgr restart`` (seconds).
DEFAULT_HOLD = 600.0
_PREFIX = "rstrtmgr-restart"
_REQUEST = b"restart\n"
_EXIT_ERROR = 4
_EXIT_NOT_RESTARTED = 7
#: How long ``restart`` waits for the keeper's answer: the restart itself.
_ANSWER_TIMEOUT = 300.0


def can_keep() -> bool:
    """Whether a shutdown can keep its session for a later restart here."""
    return sys.platform.startswith("linux") and hasattr(os, "fork")


def _peer_uid(sock: socket.socket) -> int:
    creds = sock.getsockopt(
        socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")
    )
    uid: int = struct.unpack("3i", creds)[1]
    return uid


class Keeper:
    """The forked child's side: report the status, then keep the session."""

    def __init__(self, report_fd: int) -> None:
        """Report the exit status to the waiting parent through ``report_fd``."""
        self._fd: int | None = report_fd

    def report(self, code: int) -> None:
        """Give the parent its exit status; it exits with it (once)."""
        if self._fd is None:
            return
        try:
            os.write(self._fd, b"%d" % code)
        finally:
            os.close(self._fd)
            self._fd = None

    def keep(
        self,
        session: Session,
        code: int,
        *,
        hold: float,
        settle_time: float | None,
    ) -> None:
        """Report ``code``, then serve one restart request for ``hold`` seconds."""
        name = f"{_PREFIX}-{os.getuid()}-{time.time_ns()}-{session.key}"
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        server.bind("\0" + name)
        server.listen(4)
        say(
            "shutdown",
            f"what was shut down waits {hold:g} s for `rstrtmgr restart` "
            f"(session {session.key})",
        )
        _detach()
        self.report(code)
        for signum in (signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, signal.SIG_IGN)  # detached: no terminal's
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        deadline = time.monotonic() + hold
        with server:
            while (left := deadline - time.monotonic()) > 0:
                server.settimeout(left)
                try:
                    conn, _ = server.accept()
                except TimeoutError:
                    return
                with conn:
                    if _serve(conn, session, settle_time):
                        return


def _detach() -> None:
    """Leave the caller's terminal and pipes: its ``$(...)`` must end now."""
    sys.stdout.flush()
    sys.stderr.flush()
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)
    os.setsid()
    os.chdir("/")  # keep no directory busy (an unmount) while it waits


def _serve(conn: socket.socket, session: Session, settle_time: float | None) -> bool:
    """Answer one connection; True once the restart was done."""
    conn.settimeout(5)
    try:
        if _peer_uid(conn) != os.getuid() or conn.recv(64) != _REQUEST:
            return False  # not our user's, or not the request: ignored
    except OSError:
        return False
    answer = _restart(session, settle_time)
    # The requester may have left: the restart is done all the same.
    with contextlib.suppress(OSError):
        conn.sendall(json.dumps(answer).encode())
    return True


def _restart(session: Session, settle_time: float | None) -> dict[str, object]:
    try:
        restarted: ListResult | RestartFailedError | None = restart_what_stopped(
            session, None, settle_time
        )
    except RestartFailedError as e:
        restarted = e
    except RestartManagerError as e:
        return {"code": _EXIT_ERROR, "out": [], "err": [str(e)]}
    if restarted is None:
        return {"code": 0, "out": ["nothing had been shut down"], "err": []}
    statuses = (
        ListResult(list(restarted.processes))
        if isinstance(restarted, RestartFailedError)
        else restarted
    )
    back, failed = restart_lines(statuses)
    code = _EXIT_NOT_RESTARTED if isinstance(restarted, RestartFailedError) else 0
    return {"code": code, "out": back, "err": failed}


def forked(work: Callable[[Keeper], int]) -> int:
    """Run ``work`` in a child that may keep its session; the parent's status.

    The parent waits only for the child's report (its exit status), not for
    the child, which may go on as the keeper. Ctrl-C reaches the child from
    the terminal; SIGTERM and SIGHUP to the parent are passed on to it.
    """
    r, w = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the child: the session's primary
        os.close(r)
        keeper = Keeper(w)
        code = _EXIT_ERROR
        try:
            code = work(keeper)
        except (RestartManagerError, ValueError, OSError) as e:
            say("shutdown", str(e))
        except BaseException:  # reported, never lost
            import traceback  # noqa: PLC0415 - only on a bug

            traceback.print_exc()
        finally:
            try:
                sys.stdout.flush()
                sys.stderr.flush()
                keeper.report(code)
            finally:
                os._exit(code)
    os.close(w)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the child's to handle
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, lambda s, _f: os.kill(pid, s))
    chunks = []
    while chunk := os.read(r, 64):
        chunks.append(chunk)
    os.close(r)
    if chunks:
        return int(b"".join(chunks))
    _, status = os.waitpid(pid, 0)  # it died before it could report
    return 128 + os.WTERMSIG(status) if os.WIFSIGNALED(status) else _EXIT_ERROR


def _keepers(key: str | None) -> list[tuple[int, str]]:
    """The abstract names of this user's keepers, with their start times."""
    prefix = f"@{_PREFIX}-{os.getuid()}-"
    found = set()
    with open("/proc/net/unix", encoding="utf-8", errors="replace") as f:
        next(f)
        for line in f:
            fields = line.split()
            if len(fields) < 8 or not fields[-1].startswith(prefix):
                continue
            stamp, _, their_key = fields[-1][len(prefix) :].partition("-")
            if stamp.isdigit() and (key is None or their_key == key):
                found.add((int(stamp), fields[-1][1:]))
    return sorted(found)


def _ours(name: str) -> bool:
    """Whether the keeper's session is in the caller's store."""
    try:
        Session.join(name.rpartition("-")[2]).close()
    except RestartManagerError:
        return False
    return True


def _ask(name: str) -> bytes | None:
    """Send the restart request to the keeper ``name``; its answer, or None.

    None when it is not this user's socket or does not answer.
    """
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(_ANSWER_TIMEOUT)
        try:
            conn.connect("\0" + name)
            if _peer_uid(conn) != os.getuid():
                return None
            conn.sendall(_REQUEST)
            data = b""
            while chunk := conn.recv(65536):
                data += chunk
        except OSError:
            return None
    return data


def cmd_restart(args: argparse.Namespace) -> int:
    """Run ``restart``: ask the latest (or KEY's) kept shutdown to restart."""
    if not can_keep():
        say("restart", "only Linux keeps a shutdown's session for a later restart")
        return _EXIT_ERROR
    # The latest keeper whose session is in this caller's own store (the
    # user's, or $RSTRTMGR_STATE_DIR's): joining it proves that; and whose
    # socket is this user's (a name another user bound is passed over).
    data = None
    for _, name in reversed(_keepers(args.session)):
        if _ours(name):
            data = _ask(name)
            if data is not None:
                break
    if data is None:
        which = f" with session {args.session}" if args.session else ""
        say(
            "restart",
            f"no shutdown of this user{which} waits for a restart (it was "
            "restarted, kept no session, or its --hold passed)",
        )
        return _EXIT_ERROR
    try:
        answer = json.loads(data)
        code = int(answer["code"])
    except (ValueError, KeyError, TypeError):
        say("restart", "the shutdown's session gave no answer")
        return _EXIT_ERROR
    for line in answer.get("out", []):
        print(line)
    for line in answer.get("err", []):
        print(
            line if line.startswith(" ") else f"rstrtmgr restart: {line}",
            file=sys.stderr,
        )
    return code
