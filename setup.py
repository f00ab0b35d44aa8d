"""Builds the cffi extension; all metadata is in pyproject.toml."""

import os
import shutil
import sysconfig

from setuptools import setup
from setuptools.command.build_ext import build_ext
from setuptools.errors import CCompilerError, CompileError, ExecError, PlatformError

# One abi3 wheel serves every CPython from 3.10, except free-threaded builds,
# which have no limited API (cffi builds those without Py_LIMITED_API).
FREE_THREADED = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))
options = {} if FREE_THREADED else {"bdist_wheel": {"py_limited_api": "cp310"}}

HOW_TO_BUILD = """\
rstrtmgr's C extension could not be built{found}.

Building from source needs a C compiler and Python's development headers:
  Debian, Ubuntu:  apt-get install gcc python3-dev
  Fedora, RHEL:    dnf install gcc python3-devel
  Alpine:          apk add gcc musl-dev python3-dev
  Windows:         the Microsoft C++ Build Tools (Visual Studio)
Or install a binary wheel, which needs neither (Linux x86_64 and aarch64,
glibc and musl; Windows x86, AMD64 and ARM64; CPython 3.10 and later):
  pip install --only-binary rstrtmgr rstrtmgr
"""


def _what_went_wrong(compiler: object) -> str:
    """What this machine lacks, as far as it can be seen: compiler, headers."""
    command = getattr(compiler, "compiler_so", None) or ["the C compiler"]
    missing = []
    if shutil.which(command[0]) is None:
        missing.append(f"the C compiler {command[0]!r} is not installed")
    include = sysconfig.get_paths()["include"]
    if not os.path.isfile(os.path.join(include, "Python.h")):
        missing.append(f"Python's headers are not installed (no Python.h in {include})")
    if missing:
        return ": " + "; ".join(missing)
    return f": {command[0]} failed (its output is above)"


class BuildExtExplained(build_ext):
    """build_ext that says what to install when the compiler or headers fail."""

    def build_extension(self, ext: object) -> None:
        """Build one extension; on a compiler failure, exit with what to install."""
        try:
            super().build_extension(ext)
        except (CCompilerError, CompileError, ExecError, PlatformError) as e:
            message = HOW_TO_BUILD.format(found=_what_went_wrong(self.compiler))
            raise SystemExit("\n" + message) from e


setup(
    cffi_modules=["build_ffi.py:ffibuilder"],
    cmdclass={"build_ext": BuildExtExplained},
    options=options,
)
