"""Refuses a release tag that is not the package's version.

Usage: python tools/check_release_tag.py TAG   (Python 3.11 or later: tomllib)

TAG is the release's tag, with or without a leading "v". Exits 0 when it
names the version in pyproject.toml, and that version is rstrtmgr.__version__
too; otherwise says which differs and exits 1.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]


def project_version() -> str:
    """The version in pyproject.toml."""
    with (ROOT / "pyproject.toml").open("rb") as f:
        return str(tomllib.load(f)["project"]["version"])


def package_version() -> str:
    """rstrtmgr.__version__, read from the source: the module need not be built."""
    tree = ast.parse((ROOT / "rstrtmgr" / "__init__.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__version__" for t in node.targets
        ):
            return str(ast.literal_eval(node.value))
    raise SystemExit("rstrtmgr/__init__.py has no __version__")


def main(argv: list[str]) -> int:
    """Compare the tag with both versions; the exit status."""
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    tag = argv[0]
    wanted = tag[1:] if tag.startswith("v") else tag
    project, package = project_version(), package_version()
    if project != package:
        print(f"pyproject.toml says {project}, rstrtmgr.__version__ {package}")
        return 1
    if wanted != project:
        print(f"the tag {tag!r} is not the package's version {project}: refused")
        return 1
    print(f"the tag {tag!r} is version {project}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
