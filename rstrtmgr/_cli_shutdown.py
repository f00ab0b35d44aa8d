"""``rstrtmgr shutdown``, ``replace`` and ``launch``: the installer flow's commands.

Imported by the command line only for these commands: ``list`` needs none
of it (signal handling, the progress display, restart registration).
"""

from __future__ import annotations

import os
import signal
import sys

from ._cli_display import ProgressDisplay
from ._cli_installer import (
    Interrupted,
    SignalGuard,
    blind_spot,
    find_command,
    listed,
    restart_lines,
    say,
    shutdown_failure,
    signal_name,
    still_running,
)
from ._cli_list import (
    EXIT_ERROR,
    EXIT_FREE,
    EXIT_UNKNOWN,
    full_paths,
    look_up,
    table,
    without_self,
)
from ._cli_restart import DEFAULT_HOLD, Keeper, can_keep, cmd_restart, forked
from ._enums import AppStatus, AppType, FilterAction
from ._errors import (
    CancelledError,
    RebootRequiredError,
    RestartFailedError,
    ShutdownFailedError,
)
from ._installer import restart_what_stopped
from ._restart import (
    register_launch,
    resolve_program,
    unregister_application_restart,
)
from ._session import Session
from ._types import ListResult, ProcessInfo

TYPE_CHECKING = False
if TYPE_CHECKING:  # for mypy only
    import argparse

__all__ = ["run"]

EXIT_USAGE = 2
EXIT_NOT_SHUT_DOWN = 5
EXIT_COMMAND_FAILED = 6
EXIT_NOT_RESTARTED = 7
#: The seconds RmShutdown waits for each application unless --timeout says.
DEFAULT_TIMEOUT = 30.0
#: The seconds RmRestart watches each restarted program unless --settle-time says.
DEFAULT_SETTLE_TIME = 2.0


def run(args: argparse.Namespace) -> int:
    """Run ``args.command`` (shutdown, replace or launch); the exit status."""
    command = {
        "shutdown": _cmd_shutdown,
        "replace": _cmd_replace,
        "launch": _cmd_launch,
        "restart": cmd_restart,
    }[args.command]
    try:
        return command(args)
    except (Interrupted, KeyboardInterrupt) as e:
        # Before anything was shut down (or by a command that stops at once).
        signum = e.signum if isinstance(e, Interrupted) else signal.SIGINT
        say(args.command, f"interrupted by {signal_name(signum)}")
        return 128 + signum


def _with_users(result: ListResult, before: ListResult) -> ListResult:
    """The statuses with each process's user, as the list before found it.

    RmGetList's own fields carry no user: the list before the shutdown
    asked for them.
    """
    users = {(p.pid, p.start_filetime): (p.uid, p.user) for p in before}
    out = []
    for p in result.processes:
        uid, user = users.get((p.pid, p.start_filetime), (p.uid, p.user))
        out.append(p if p.user is not None else p._replace(uid=uid, user=user))
    return ListResult(out, result.reboot_reasons, result.uninspected)


def _print_result(
    result: ListResult, as_json: bool, before: ListResult | None = None
) -> None:
    result = without_self(result)
    if before is not None:
        result = _with_users(result, before)
    if as_json:
        import json  # noqa: PLC0415 - only for --json

        print(json.dumps(result.as_json(), indent=2))
    else:
        print(table(result))


def _registered_list(session: Session, args: argparse.Namespace) -> ListResult:
    """Register PATH... with the session; the list before anything is shut down."""
    paths = full_paths(args.paths)
    look_up(args.command, paths)  # warns of missing paths, as list does
    session.register(files=paths)
    return without_self(session._get_list(users=True))


def _blind(command: str, before: ListResult, args: argparse.Namespace) -> bool:
    """Say what could not be looked into; True when that forbids going on."""
    stop, note = blind_spot(before, ignore=args.ignore_uninspected)
    if stop and command == "replace":
        note = note.replace(
            "nothing was shut down", "nothing was shut down, COMMAND did not run"
        )
    if note:
        say(command, note)
    return stop


def _shutdown_with_display(
    session: Session, before: ListResult, args: argparse.Namespace
) -> ListResult:
    display = ProgressDisplay.for_terminal(as_json=args.json)
    timeout = DEFAULT_TIMEOUT if args.timeout is None else args.timeout
    with display.shutting_down(before.processes, timeout):
        return session.shutdown(
            force=args.force,
            only_registered=args.only_registered,
            timeout=args.timeout,
            progress=display.percent,
        )


def _failure(error: Exception, before: ListResult, args: argparse.Namespace) -> str:
    timeout = DEFAULT_TIMEOUT if args.timeout is None else args.timeout
    return shutdown_failure(
        error, before, only_registered=args.only_registered, timeout=timeout
    )


def _cmd_shutdown(args: argparse.Namespace) -> int:
    hold = DEFAULT_HOLD if args.hold is None else args.hold
    if hold > 0 and can_keep():
        return forked(lambda keeper: _shutdown(args, keeper, hold))
    return _shutdown(args, None, 0)


def _shutdown(args: argparse.Namespace, keeper: Keeper | None, hold: float) -> int:
    with Session() as session, SignalGuard(defer=False) as guard:
        before = _registered_list(session, args)
        if _blind("shutdown", before, args):
            return EXIT_UNKNOWN
        code = EXIT_FREE
        try:
            result = _shutdown_with_display(session, before, args)
        except (ShutdownFailedError, RebootRequiredError) as e:
            say("shutdown", _failure(e, before, args))
            result = session.get_list()
            code = EXIT_NOT_SHUT_DOWN
        except Interrupted as e:
            # The signal cancelled the shutdown: what it had stopped comes
            # back now, as with replace.
            say(
                "shutdown",
                _interrupted_restart(e.signum, session, before, args, guard),
            )
            return 128 + e.signum
        _print_result(result, args.json, before)
        if keeper is not None and any(
            p.status == AppStatus.STOPPED and p.restartable for p in result
        ):
            keeper.keep(session, code, hold=hold, settle_time=args.settle_time)
    return code


def _interrupted_restart(
    signum: int,
    session: Session,
    before: ListResult,
    args: argparse.Namespace,
    guard: SignalGuard,
) -> str:
    """Restart what a cancelled shutdown had stopped; the line that says so."""
    display = ProgressDisplay.for_terminal(as_json=args.json)
    restarted = _restart_with_display(session, before, display, args.settle_time)
    restarted = _bring_back_stragglers(session, before, restarted, args, guard)
    head = f"interrupted by {signal_name(signum)}; the shutdown was cancelled"
    if restarted is None:
        return head + "; nothing had been shut down"
    statuses = (
        ListResult(list(restarted.processes))
        if isinstance(restarted, RestartFailedError)
        else restarted
    )
    back, failed = restart_lines(statuses)
    for line in failed:
        print(
            line if line.startswith(" ") else f"rstrtmgr {args.command}: {line}",
            file=sys.stderr,
        )
    done = "; ".join(back) if back else "nothing registered for restart had stopped"
    return f"{head}; {done}{still_running(before, statuses)}"


def _cmd_replace(args: argparse.Namespace) -> int:
    if not args.command_line:
        print("rstrtmgr replace: give the command to run after --", file=sys.stderr)
        return EXIT_USAGE
    # A command that cannot run is refused before anything stops.
    program, why = find_command(args.command_line[0])
    if program is None:
        say("replace", f"cannot run {why}; nothing was shut down")
        return EXIT_COMMAND_FAILED
    with Session() as session, SignalGuard(defer=True) as guard:
        before = _registered_list(session, args)
        if _blind("replace", before, args):
            return EXIT_UNKNOWN
        display = ProgressDisplay.for_terminal(as_json=args.json)
        guard.on_signal = lambda signum: display.note(
            f"{signal_name(signum)}: restarting what was shut down, then exiting"
        )
        failure: Exception | None = None
        command: tuple[int, str] | None = None
        try:
            if guard.received is None:
                guard.cancel = session.cancel
                try:
                    _shutdown_with_display(session, before, args)
                finally:
                    guard.cancel = None
                if guard.received is None:
                    command = guard.run(args.command_line, program)
        except CancelledError:
            if guard.received is None:
                raise  # not ours: cancelled from elsewhere
        except (ShutdownFailedError, RebootRequiredError) as e:
            failure = e
        finally:
            # Whatever happened since the shutdown began: restart what stopped.
            restarted = _restart_with_display(
                session, before, display, args.settle_time
            )
            if guard.received is not None and command is None:
                restarted = _bring_back_stragglers(
                    session, before, restarted, args, guard
                )
    return _replace_outcome(
        args,
        before=before,
        guard=guard,
        failure=failure,
        command=command,
        restarted=restarted,
    )


def _group(p: ProcessInfo) -> int:
    """The Linux backend's shutdown group: applications, consoles, services."""
    return {AppType.SERVICE: 2, AppType.CONSOLE: 1}.get(p.app_type, 0)


def _bring_back_stragglers(
    session: Session,
    before: ListResult,
    restarted: ListResult | RestartFailedError | None,
    args: argparse.Namespace,
    guard: SignalGuard,
) -> ListResult | RestartFailedError | None:
    """After a cancelled shutdown, restart also those that were still exiting.

    A cancelled shutdown leaves the processes it had asked to exit (those of
    the group it was waiting for) running, so the prompt restart cannot
    bring them back, and when they exit nothing would. So once what had
    stopped is back, a second shutdown, with every other listed process
    filtered out, waits (up to --timeout; another signal cancels it) for
    them alone, and a second restart brings them back. Linux only: the
    group order is the project's backend's.
    """
    if not isinstance(restarted, ListResult) or not sys.platform.startswith("linux"):
        return restarted
    restartable = {(p.pid, p.start_filetime) for p in before.processes if p.restartable}
    running = [p for p in restarted.processes if p.status == AppStatus.RUNNING]
    asked = [p for p in running if (p.pid, p.start_filetime) in restartable]
    if not asked:
        return restarted
    waited = min(_group(p) for p in asked)  # the group the shutdown was on
    stragglers = {p.unique_process for p in asked if _group(p) == waited}
    for p in running:
        if p.unique_process not in stragglers:
            session.add_filter(FilterAction.NO_SHUTDOWN, process=p.unique_process)
    # Said now, within the second: the wait may be long.
    back, _ = restart_lines(restarted)
    waiting = [p for p in asked if p.unique_process in stragglers]
    timeout = DEFAULT_TIMEOUT if args.timeout is None else args.timeout
    signum = guard.received if guard.received is not None else signal.SIGINT
    say(
        args.command,
        f"{signal_name(signum)}: "
        + "".join(f"{line}; " for line in back)
        + f"waiting up to {timeout:g} s for {', '.join(map(listed, waiting))} "
        "to exit, to restart it too (a signal again: stop waiting)",
    )
    guard.cancel = session.cancel
    try:
        session.shutdown(force=args.force, timeout=args.timeout)
    except (ShutdownFailedError, CancelledError, Interrupted):
        pass  # what did exit comes back all the same
    finally:
        guard.cancel = None
    display = ProgressDisplay.for_terminal(as_json=args.json)
    again = _restart_with_display(session, before, display, args.settle_time)
    return restarted if again is None else again


def _restart_with_display(
    session: Session,
    before: ListResult,
    display: ProgressDisplay,
    settle_time: float | None,
) -> ListResult | RestartFailedError | None:
    coming_back = [p for p in before.processes if p.restartable]
    watched = DEFAULT_SETTLE_TIME if settle_time is None else settle_time
    with display.restarting(coming_back, watched):
        try:
            return restart_what_stopped(session, display.percent, settle_time)
        except RestartFailedError as e:
            return e


def _interrupted_line(
    signum: int,
    *,
    command: tuple[int, str] | None,
    before: ListResult,
    statuses: ListResult | None,
    not_restarted: bool,
    back: list[str],
) -> str:
    """What ``replace`` says after a signal: the command, the restart."""
    ran = (
        "COMMAND did not run"
        if command is None
        else (command[1] or "COMMAND had finished")
    )
    if statuses is None and not not_restarted:
        after = "nothing was shut down"
    elif not_restarted:
        after = "what was shut down could not all be restarted"
    else:
        after = "what was shut down was restarted"
        if back:
            after += " (" + "; ".join(back) + ")"
    after += still_running(before, statuses)
    return f"interrupted by {signal_name(signum)}; {ran}; {after}"


def _replace_outcome(
    args: argparse.Namespace,
    *,
    before: ListResult,
    guard: SignalGuard,
    failure: Exception | None,
    command: tuple[int, str] | None,
    restarted: ListResult | RestartFailedError | None,
) -> int:
    """Say what ``replace`` did; its exit status."""
    not_restarted = isinstance(restarted, RestartFailedError)
    statuses = (
        ListResult(list(restarted.processes))
        if isinstance(restarted, RestartFailedError)
        else restarted
    )
    back, failed = restart_lines(statuses) if statuses is not None else ([], [])
    for line in failed:
        print(
            line if line.startswith(" ") else f"rstrtmgr replace: {line}",
            file=sys.stderr,
        )
    if guard.received is not None:
        say(
            "replace",
            _interrupted_line(
                guard.received,
                command=command,
                before=before,
                statuses=statuses,
                not_restarted=not_restarted,
                back=back,
            ),
        )
        return guard.status
    if failure is not None:
        say(
            "replace",
            _failure(failure, before, args)
            + "; COMMAND did not run, what had stopped was restarted",
        )
    elif command is not None and command[0] != 0:
        say("replace", f"{command[1]}; what was shut down was restarted")
    if statuses is not None:
        _print_result(statuses, args.json, before)
        if not args.json:
            for line in back:
                print(line)
    if not_restarted:
        return EXIT_NOT_RESTARTED
    if failure is not None:
        return EXIT_NOT_SHUT_DOWN
    return EXIT_COMMAND_FAILED if command is not None and command[0] else EXIT_FREE


def _cmd_launch(args: argparse.Namespace) -> int:
    command = args.command_line
    if not command:
        print("rstrtmgr launch: give the command to run after --", file=sys.stderr)
        return EXIT_USAGE
    # The program itself is registered, found on PATH now: the restart runs
    # it directly, with nothing in between that could import code from the
    # working directory. exec keeps this process's pid and start time.
    program = resolve_program(command[0])
    if program is None:
        print(f"rstrtmgr launch: {command[0]}: not found on PATH", file=sys.stderr)
        return EXIT_COMMAND_FAILED
    register_launch([program, *(os.fsencode(c) for c in command[1:])])
    try:
        os.execv(program, command)
    except OSError as e:
        unregister_application_restart()
        print(f"rstrtmgr launch: {command[0]}: {e.strerror}", file=sys.stderr)
        return EXIT_COMMAND_FAILED
    return EXIT_ERROR  # not reached: exec replaced this program
