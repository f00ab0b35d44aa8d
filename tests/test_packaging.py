"""The package as an index shows it: project URLs, classifiers, README links."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
if not all((REPO / f).exists() for f in ("pyproject.toml", "README.md", "docs")):
    pytest.skip(
        "needs pyproject.toml, README.md and docs/ beside the tests",
        allow_module_level=True,
    )
if sys.version_info < (3, 11):
    pytest.skip("tomllib is Python 3.11's", allow_module_level=True)

import tomllib  # noqa: E402


def project() -> dict[str, object]:
    with open(REPO / "pyproject.toml", "rb") as f:
        data: dict[str, object] = tomllib.load(f)["project"]
    return data


def test_project_urls_are_absolute() -> None:
    urls = project()["urls"]
    assert isinstance(urls, dict)
    for key in ("Source", "Documentation", "Issues", "Changelog"):
        assert urls[key].startswith("https://"), key


def test_classifiers_name_each_supported_python() -> None:
    meta = project()
    classifiers = meta["classifiers"]
    assert isinstance(classifiers, list)
    lowest = re.fullmatch(r">=3\.(\d+)", str(meta["requires-python"]))
    assert lowest
    with open(REPO / "pyproject.toml", "rb") as f:
        built = tomllib.load(f)["tool"]["cibuildwheel"]["build"]
    minors = sorted({int(m) for b in built for m in re.findall(r"cp3(\d+)", b)})
    assert minors[0] == int(lowest[1])
    for minor in minors:
        assert f"Programming Language :: Python :: 3.{minor}" in classifiers


def test_readme_links_work_off_the_repository() -> None:
    # An index renders the README away from the tree: relative links break.
    text = (REPO / "README.md").read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)\s]+)\)", text)
    assert targets
    relative = [t for t in targets if not re.match(r"(https?:|mailto:|#)", t)]
    assert relative == []


def test_docs_do_not_install_a_release_that_does_not_exist() -> None:
    for page in [REPO / "README.md", *(REPO / "docs").glob("*.md")]:
        assert "pip install rstrtmgr" not in page.read_text(encoding="utf-8"), page


def test_cli_page_names_every_command_and_option() -> None:
    import argparse

    from rstrtmgr._cli import build_parser

    page = (REPO / "docs" / "cli.md").read_text(encoding="utf-8")
    parser = build_parser()
    [sub] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    for name, command in sub.choices.items():
        head = f"\n## rstrtmgr {name}\n"
        assert head in page, name
        section = page.split(head, 1)[1].split("\n## ", 1)[0]
        for action in command._actions:
            for option in action.option_strings:
                if option not in ("-h", "--help"):
                    assert f"`{option}" in section, (name, option)
