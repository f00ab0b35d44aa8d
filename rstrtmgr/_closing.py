"""One context-manager protocol for the objects that own a handle and close it."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs `import rstrtmgr` a few ms: for mypy only
    from types import TracebackType
    from typing import TypeVar

    _T = TypeVar("_T", bound="Closing")


class Closing:
    """A ``with`` block's value is the object itself, closed when the block ends."""

    def close(self) -> None:
        """Give up what the object owns; called at the end of a ``with`` block."""
        raise NotImplementedError

    def __enter__(self: _T) -> _T:
        """The object itself, closed when the block ends."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the object, whether or not the block raised."""
        self.close()
