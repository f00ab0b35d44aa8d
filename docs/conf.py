"""Sphinx configuration: the Markdown pages (MyST) and the API from the docstrings."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# The local extension (the error table); rstrtmgr itself is imported from the
# environment, so the pages describe the module that is installed and built.
sys.path.insert(0, str(HERE / "_ext"))

import rstrtmgr  # noqa: E402

project = "rstrtmgr"
author = "The rstrtmgr developers"
copyright = "the rstrtmgr developers"
release = version = rstrtmgr.__version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "rstrtmgr_docs",
]
source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "recipes/README.md"]
myst_enable_extensions = ["colon_fence"]
myst_heading_anchors = 3
# Blocks without a language are diagrams and listings, not Python.
highlight_language = "text"

# Every reference must resolve (-n -W in CI), except those into the standard
# library, whose inventory would need the network.
nitpicky = True
nitpick_ignore_regex = [
    (r"py:(class|exc|obj|data)", r"(builtins\.)?[a-z_]+"),
    (
        r"py:(class|exc|obj|data)",
        r"(os|collections\.abc|typing|datetime|enum|types|_dt)\..*",
    ),
    (
        r"py:(class|exc|obj|data)",
        r"(Iterable|Iterator|Sequence|Callable|Any|TracebackType)",
    ),
    (r"py:(class|exc|obj|data)", r"(OSError|ValueError|TypeError|ProcessLookupError)"),
    (r"py:class", r"(PathLike|datetime|IntEnum|IntFlag|NoReturn)"),
    (r"c:identifier", r"size_t"),
    # The protocol behind "a psutil-like object", private: the docstring says it.
    (r"py:class", r"(rstrtmgr\._\w+\.)?ProcessLike"),
    # Docstrings may point maintainers at a private module.
    (r"py:mod", r"rstrtmgr\._\w+"),
]

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": True}

html_theme = "alabaster"
html_title = f"rstrtmgr {release}"
html_theme_options = {
    "description": "Which processes use my files? Close, replace, restart.",
    "page_width": "1180px",  # the error tables and the tables of differences
}
