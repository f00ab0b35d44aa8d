"""``python -m rstrtmgr`` and the ``rstrtmgr`` console script."""

from __future__ import annotations

import os
import sys

from . import _cli

__all__ = ["main"]


def main() -> int:
    """Run the command line as a program; its exit status.

    After ``list``, which leaves nothing to clean up (its session ended with
    its ``with`` block), the process ends at once, its output flushed:
    tearing down the interpreter's modules would add about 6 ms, a tenth of
    the command. Other commands, and callers of ``rstrtmgr._cli.main``,
    return as usual.
    """
    code = _cli.main()
    if sys.argv[1:2] == ["list"]:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except (OSError, ValueError):
            return code  # a closed pipe: the interpreter's own exit says so
        os._exit(code)
    return code


if __name__ == "__main__":
    sys.exit(main())
