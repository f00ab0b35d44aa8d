"""The package's names are imported on first use: `import rstrtmgr` loads no more."""

from __future__ import annotations

import ast
import importlib
import json
from pathlib import Path

import pytest
from support import run_python

import rstrtmgr

INIT = Path(rstrtmgr.__file__)
FUNCTIONS = {"who_uses", "who_uses_stale"}


def loaded_after(code: str) -> list[str]:
    """The rstrtmgr modules a fresh interpreter holds after running ``code``."""
    out = run_python(
        code
        + "\nimport json, sys\n"
        + "mine = (m for m in sys.modules if m.startswith('rstrtmgr'))\n"
        + "print(json.dumps(sorted(mine)))"
    )
    return json.loads(out.splitlines()[-1])  # type: ignore[no-any-return]


def type_checking_imports() -> dict[str, set[str]]:
    """The names __init__.py imports for type checkers, by module."""
    tree = ast.parse(INIT.read_text())
    found: dict[str, set[str]] = {}
    for node in tree.body:
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
            for imp in node.body:
                if isinstance(imp, ast.ImportFrom) and imp.level == 1:
                    found[str(imp.module)] = {a.name for a in imp.names}
    return found


def test_import_loads_no_facade_module() -> None:
    assert loaded_after("import rstrtmgr") == ["rstrtmgr"]


def test_the_raw_layer_alone_loads_no_facade_module() -> None:
    loaded = loaded_after("from rstrtmgr._rstrtmgr import ffi, lib")
    # cffi's API mode registers the compiled module's lib as a module too.
    assert loaded == ["rstrtmgr", "rstrtmgr._rstrtmgr", "rstrtmgr._rstrtmgr.lib"]


def test_first_use_loads_what_the_name_needs() -> None:
    loaded = loaded_after("import rstrtmgr; rstrtmgr.AppStatus")
    assert "rstrtmgr._enums" in loaded
    assert "rstrtmgr._session" not in loaded
    loaded = loaded_after("from rstrtmgr import Session")
    assert "rstrtmgr._session" in loaded


def test_session_loads_no_threading_contextlib_or_collections() -> None:
    # They were most of what `from rstrtmgr import Session` cost (issue 22):
    # its locks come from _thread, its context managers are plain classes.
    # Counted from what the interpreter held before (a development venv's
    # import hook loads collections and enum itself).
    out = run_python(
        "import sys\n"
        "before = set(sys.modules)\n"
        "from rstrtmgr import Session\n"
        "print(' '.join(sorted(set(sys.modules) - before)))"
    )
    loaded = set(out.split())
    assert "rstrtmgr._session" in loaded
    heavy = {"threading", "contextlib", "collections", "enum", "functools", "typing"}
    assert loaded & heavy == set()


@pytest.mark.parametrize("name", sorted(set(rstrtmgr.__all__) - FUNCTIONS))
def test_each_name_is_its_modules_object(name: str) -> None:
    modules = type_checking_imports()
    (module,) = [m for m, names in modules.items() if name in names]
    assert getattr(rstrtmgr, name) is getattr(
        importlib.import_module(f"rstrtmgr.{module}"), name
    )


def test_each_name_is_in_one_module_of_the_lookup() -> None:
    # __getattr__ finds a name in its module's __all__: every public name is
    # in exactly one, which is the module the typed imports name.
    modules = type_checking_imports()
    assert set(modules) == set(rstrtmgr._MODULES)
    for module in rstrtmgr._MODULES:
        exported = set(importlib.import_module(f"rstrtmgr.{module}").__all__)
        public = exported & set(rstrtmgr.__all__)
        assert public == modules[module], module
    names = set().union(*modules.values())
    assert names | FUNCTIONS == set(rstrtmgr.__all__)


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Sesion'"):
        _ = rstrtmgr.Sesion  # type: ignore[attr-defined]
    assert not hasattr(rstrtmgr, "_marshal_not_there")


def test_dir_and_star_import_name_everything() -> None:
    assert set(rstrtmgr.__all__) <= set(dir(rstrtmgr))
    names: dict[str, object] = {}
    exec("from rstrtmgr import *", names)
    assert set(rstrtmgr.__all__) <= set(names)


def test_list_loads_none_of_the_installer_flow() -> None:
    loaded = loaded_after(
        "import sys\nfrom rstrtmgr._cli import main\n"
        "main(['list', '--pids', sys.executable])\n"
        "assert 'signal' not in sys.modules, 'signal imported'"
    )
    assert "rstrtmgr._cli_list" in loaded
    # Nor the enumerations of a shutdown's flags and filters.
    flows = ("_cli_shutdown", "_cli_installer", "_cli_display", "_restart")
    for flow in (*flows, "_enum_controls"):
        assert f"rstrtmgr.{flow}" not in loaded
