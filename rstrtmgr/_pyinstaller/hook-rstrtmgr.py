"""PyInstaller hook: the compiled _rstrtmgr imports _cffi_backend from C, unseen."""

hiddenimports = ["_cffi_backend"]
