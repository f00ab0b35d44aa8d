"""Builds the cffi extension; all metadata is in pyproject.toml."""

import sysconfig

from setuptools import setup

# One abi3 wheel serves every CPython from 3.10, except free-threaded builds,
# which have no limited API (cffi builds those without Py_LIMITED_API).
FREE_THREADED = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))
options = {} if FREE_THREADED else {"bdist_wheel": {"py_limited_api": "cp310"}}

setup(cffi_modules=["build_ffi.py:ffibuilder"], options=options)
