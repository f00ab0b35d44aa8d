"""PyInstaller hook: the imports its module graph cannot see."""

from rstrtmgr import _MODULES

# The compiled _rstrtmgr imports _cffi_backend from C; the package imports
# each facade module on first use of one of its names (PEP 562), by a name
# computed at run time.
hiddenimports = ["_cffi_backend", *(f"rstrtmgr.{module}" for module in _MODULES)]
