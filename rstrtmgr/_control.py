"""Former home of progress, filters and restart registration; kept importable.

They live in ``_progress``, ``_types`` and ``_restart`` now.
"""

from __future__ import annotations

from ._progress import Progress, reporting
from ._restart import (
    register_application_restart,
    register_argv,
    unregister_application_restart,
)
from ._types import Filter

__all__ = [
    "Filter",
    "Progress",
    "register_application_restart",
    "register_argv",
    "reporting",
    "unregister_application_restart",
]
