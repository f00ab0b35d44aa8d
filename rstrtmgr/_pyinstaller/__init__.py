"""PyInstaller support: where rstrtmgr's hook lives (the pyinstaller40 entry point)."""

from __future__ import annotations

import os


def get_hook_dirs() -> list[str]:
    """The directories holding rstrtmgr's PyInstaller hooks."""
    return [os.path.dirname(__file__)]
