"""Sphinx additions that read the package itself, so the pages cannot drift from it.

- ``rstrtmgr-errors MODULE``: a table of the error classes MODULE exports,
  each with its winerror code, its errno, what happened and what to do, taken
  from the classes' own attributes.
- "Bases" lists public classes only, never nothing.
- A check, once every page is read, that the reference documents every public
  name of ``rstrtmgr`` and ``rstrtmgr.rsm`` and every ``rstrtmgr_*`` extension
  of the raw layer: a missing one is a warning, which CI's ``-W`` makes an
  error.
"""

from __future__ import annotations

import errno
import importlib
from typing import Any

from docutils import nodes
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

import rstrtmgr
from rstrtmgr._rstrtmgr import lib

logger = logging.getLogger(__name__)
PUBLIC_MODULES = ("rstrtmgr", "rstrtmgr.rsm")


def error_classes(module_name: str) -> list[type[rstrtmgr.RestartManagerError]]:
    """The RestartManagerError classes that ``module_name`` exports, by code."""
    module = importlib.import_module(module_name)
    found = [
        obj
        for name in module.__all__
        if isinstance(obj := getattr(module, name), type)
        and issubclass(obj, rstrtmgr.RestartManagerError)
    ]
    return sorted(found, key=lambda cls: (cls.code, cls.__name__))


class ErrorTable(SphinxDirective):
    """``.. rstrtmgr-errors:: rstrtmgr``: the module's error classes as a table."""

    required_arguments = 1

    def run(self) -> list[nodes.Node]:
        """The table's nodes (built directly: the page may be Markdown or rST)."""
        module_name = self.arguments[0]
        header = ["class", "winerror", "errno", "what happened", "what to do"]
        widths = [26, 8, 10, 28, 28]
        body = []
        for cls in error_classes(module_name):
            name = f"{module_name}.{cls.__name__}"
            link = addnodes.pending_xref(
                "", refdomain="py", reftype="exc", reftarget=name, refexplicit=True
            )
            link += nodes.literal(cls.__name__, cls.__name__)
            err = errno.errorcode.get(cls.errno_value, "")
            body.append(
                [
                    link,
                    nodes.Text(str(cls.code) if cls.code else "any other"),
                    nodes.literal(err, err) if err else nodes.Text("-"),
                    nodes.Text(cls.summary or "-"),
                    nodes.Text(cls.remedy or "-"),
                ]
            )
        table = nodes.table(classes=["colwidths-given"])
        group = nodes.tgroup(cols=len(header))
        table += group
        group += [nodes.colspec(colwidth=w) for w in widths]
        head, rows = nodes.thead(), nodes.tbody()
        head += self._row([nodes.Text(h) for h in header])
        for cells in body:
            rows += self._row(cells)
        group += [head, rows]
        self.set_source_info(table)
        return [table]

    @staticmethod
    def _row(cells: list[nodes.Node]) -> nodes.row:
        row = nodes.row()
        for cell in cells:
            entry = nodes.entry()
            entry += nodes.paragraph("", "", cell)
            row += entry
        return row


def public_names() -> list[str]:
    """The full names the API reference must document."""
    names = []
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        names += [f"{module_name}.{name}" for name in module.__all__]
    return names


def extension_names() -> list[str]:
    """The raw layer's own functions and constants: ``rstrtmgr_*``, ``RSTRTMGR_*``."""
    return sorted(n for n in dir(lib) if n.lower().startswith("rstrtmgr_"))


def check_coverage(app: Sphinx, env: BuildEnvironment) -> None:
    """Warn about each public name that no page documents."""
    python = {name for name, *_ in env.get_domain("py").get_objects()}
    for name in public_names():
        if name not in python:
            logger.warning("the API reference does not document %s", name)
    c_names = {name for name, *_ in env.get_domain("c").get_objects()}
    for name in extension_names():
        if name not in c_names:
            logger.warning("docs/raw.md does not document the extension %s", name)


def public_bases(
    app: Sphinx, name: str, obj: object, options: object, bases: list[type]
) -> None:
    """Show public classes in "Bases", never nothing.

    Each private helper class (``rstrtmgr._closing.Closing``, ``_Record``)
    gives way to its nearest public ancestor, ``object`` at the end.
    """
    shown: list[type] = []
    for base in bases:
        public = next(c for c in base.__mro__ if not _private(c))
        if public not in shown:
            shown.append(public)
    bases[:] = shown


def _private(cls: type) -> bool:
    return cls.__module__.startswith("rstrtmgr._") or cls.__name__.startswith("_")


def setup(app: Sphinx) -> dict[str, Any]:
    """Register the directive, the coverage check and the bases filter."""
    app.add_directive("rstrtmgr-errors", ErrorTable)
    app.connect("autodoc-process-bases", public_bases)
    app.connect("env-check-consistency", check_coverage)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
