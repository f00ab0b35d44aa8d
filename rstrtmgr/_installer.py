"""The installer's flow: shut down, replace the files, restart, on any exit."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from ._errors import OutOfSequenceError
from ._progress import Progress
from ._session import Session
from ._types import ListResult

__all__ = ["restart_what_stopped", "shut_down"]


def restart_what_stopped(
    session: Session,
    progress: Progress | None = None,
    settle_time: float | None = None,
) -> ListResult | None:
    """Restart what the session shut down; None when it shut nothing down."""
    try:
        return session.restart(progress, settle_time=settle_time)
    except OutOfSequenceError:
        return None  # the shutdown refused before stopping anything


@contextmanager
def shut_down(
    session: Session,
    *,
    force: bool = False,
    only_registered: bool = False,
    timeout: float | None = None,
    progress: Progress | None = None,
    restart_progress: Progress | None = None,
    settle_time: float | None = None,
) -> Iterator[ListResult]:
    """Shut down the users of the session's files for the ``with`` block.

    ``with rstrtmgr.shut_down(session, timeout=10): replace_the_files()``:
    the block runs once everything is shut down (the arguments are those of
    :meth:`Session.shutdown`, whose result the block gets), and however it
    is left (done, an exception, Ctrl-C) what was shut down is restarted
    (:meth:`Session.restart`, reporting to ``restart_progress``, watching
    each started program for ``settle_time`` seconds). A shutdown
    that fails restarts what it had stopped and raises its error; the block
    does not run. A failed restart raises :class:`RestartFailedError`, with
    the block's own exception, if any, as its ``__context__``.
    """
    try:
        yield session.shutdown(
            force=force,
            only_registered=only_registered,
            timeout=timeout,
            progress=progress,
        )
    finally:
        restart_what_stopped(session, restart_progress, settle_time)
