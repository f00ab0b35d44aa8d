"""Every code block of README.md and docs/*.md runs, and the CLI page matches the CLI.

A ```python block runs as a program of its own, a ```sh block in bash (as
with ``-e``: the first command that fails fails the block), both in a
temporary tree that has what the examples name: ``/opt/myapp/bin/myapp`` and
``/opt/myapp/lib/libmyapp.so`` (old contents) and their new versions under
``/tmp/new`` (the README's staging tree), with those paths pointed into the
tree. A block must exit 0.

An HTML comment on the line before a block, invisible on the rendered page,
says when a block cannot run so:

- ``<!-- snippet: compile (why) -->``: only compiled (Python) or parsed
  (``bash -n``), e.g. a command that runs a server, or one that needs a
  source checkout;
- ``<!-- snippet: status 0 3 (why) -->``: these exit statuses of a command
  are answers, not failures (``rstrtmgr list`` exits 3 when some processes
  cannot be looked into); the commands after it still run.

Blocks in other languages (json, text, none) are output and listings, not
code. Off Linux, every block is only compiled: the tree and the holders are
Linux processes.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import pytest
from support import LINUX, child_env

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
RUNNABLE = {"python": "python", "py": "python", "sh": "sh", "bash": "sh"}
FENCE = re.compile(r"^(?P<indent> *)(?P<fence>```+|~~~+)(?P<info>[^\n`]*)$")
MARKER = re.compile(r"^<!-- snippet: (?P<spec>.*?) -->$")
MARKER_SPEC = re.compile(r"(?P<kind>compile|status)(?P<args>( \d+)*) \((?P<why>.+)\)")
#: The example paths, pointed into the test's tree in one pass, so that
#: /tmp/new/opt/myapp/... becomes TREE/new + TREE/opt/myapp/..., exactly the
#: README's `"/tmp/new" + path`.
EXAMPLE_PATHS = re.compile(r"/opt/myapp|/tmp/new")
APP_FILES = ("bin/myapp", "lib/libmyapp.so")


@dataclass(frozen=True)
class Snippet:
    page: Path
    line: int
    language: str
    code: str
    compile_only: bool
    statuses: tuple[int, ...]

    @property
    def name(self) -> str:
        return f"{self.page.relative_to(REPO)}:{self.line}"


def snippets(page: Path) -> list[Snippet]:
    """The code blocks of a Markdown page, with their markers."""
    found: list[Snippet] = []
    lines = page.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        fence = opening["fence"]
        start = i
        i += 1
        body: list[str] = []
        while i < len(lines) and not lines[i].strip().startswith(fence):
            body.append(lines[i])
            i += 1
        i += 1
        language = opening["info"].strip().split(" ")[0]
        marker = MARKER.match(lines[start - 1]) if start else None
        if language not in RUNNABLE:
            assert marker is None, f"{page}:{start}: a marker on a {language!r} block"
            continue
        compile_only, statuses = False, (0,)
        if marker:
            spec = MARKER_SPEC.fullmatch(marker["spec"])
            assert spec, f"{page}:{start}: unknown snippet marker {marker['spec']!r}"
            if spec["kind"] == "compile":
                compile_only = True
            else:
                statuses = tuple(int(n) for n in spec["args"].split())
        indent = len(opening["indent"])
        code = "\n".join(line[indent:] for line in body) + "\n"
        found.append(
            Snippet(page, start + 1, RUNNABLE[language], code, compile_only, statuses)
        )
    return found


if not (REPO / "docs").is_dir():
    pytest.skip("docs/ is not beside the tests", allow_module_level=True)
ALL = [s for page in PAGES if page.exists() for s in snippets(page)]


def test_pages_have_snippets() -> None:
    # The parser must see the README's examples, or the test checks nothing.
    readme = [s for s in ALL if s.page.name == "README.md"]
    assert sum(s.language == "python" for s in readme) >= 3
    assert sum(s.language == "sh" for s in readme) >= 3


def test_readme_keeps_the_commands_ci_runs() -> None:
    # .ci/run greps these two lines out of the README and runs them.
    text = (REPO / "README.md").read_text(encoding="utf-8")
    assert re.search(r"^python3 -m venv .* list ", text, re.M)
    assert re.search(r"^python3 -m venv .*pytest", text, re.M)


def build_tree(root: Path) -> None:
    """The files the examples name, old, and their new versions staged."""
    for name in APP_FILES:
        path = root / "opt" / "myapp" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"old")
        path.chmod(0o755)
        staged = Path(f"{root}/new{path}")
        staged.parent.mkdir(parents=True, exist_ok=True)
        staged.write_bytes(b"new")


def pointed_into(code: str, root: Path) -> str:
    """The code with the example paths in the tree: /tmp/new is TREE/new."""
    return EXAMPLE_PATHS.sub(lambda m: f"{root}{m[0].replace('/tmp', '')}", code)


def compiles(snippet: Snippet) -> None:
    if snippet.language == "python":
        compile(snippet.code, snippet.name, "exec")
        return
    if not LINUX:
        pytest.skip("the shell blocks are parsed by bash on Linux")
    checked = subprocess.run(
        ["bash", "-n", "-c", snippet.code], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stderr


def scripts_dir(tmp_path: Path) -> str:
    """Where the interpreter's ``rstrtmgr`` command is, or a stand-in for it.

    An installed package has the command beside the interpreter; a tree on
    PYTHONPATH (a development checkout) has none, so it gets one.
    """
    bindir = os.path.dirname(sys.executable)
    if shutil.which("rstrtmgr", path=bindir):
        return bindir
    stand_in = tmp_path / "bin" / "rstrtmgr"
    stand_in.parent.mkdir()
    stand_in.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m rstrtmgr "$@"\n')
    stand_in.chmod(0o755)
    return str(stand_in.parent)


@pytest.mark.parametrize("snippet", ALL, ids=[s.name for s in ALL])
def test_snippet_runs(snippet: Snippet, tmp_path: Path) -> None:
    compiles(snippet)
    if snippet.compile_only or not LINUX:
        return
    build_tree(tmp_path)
    code = pointed_into(snippet.code, tmp_path)
    if snippet.language == "sh":
        # Like bash -e, except that the statuses the marker allows are
        # answers: the commands after them run too.
        allowed = " ".join(map(str, snippet.statuses))
        trap = f's=$?; case " {allowed} " in *" $s "*) ;; *) exit $s ;; esac'
        code = f"trap '{trap}' ERR\n{code}"
    script = tmp_path / ("snippet.py" if snippet.language == "python" else "snippet.sh")
    script.write_text(code, encoding="utf-8")
    command = (
        [sys.executable, str(script)]
        if snippet.language == "python"
        else ["bash", "-o", "pipefail", str(script)]
    )
    env = child_env(PATH=scripts_dir(tmp_path) + os.pathsep + os.environ["PATH"])
    ran = subprocess.run(
        command,
        env=env,
        cwd=tmp_path,  # never a source checkout: the installed package only
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert ran.returncode in snippet.statuses, (
        f"{snippet.name} exited {ran.returncode}\n--- code\n{code}"
        f"--- stdout\n{ran.stdout}--- stderr\n{ran.stderr}"
    )


# ---- the JSON schema's page against the schema --------------------------


def documented_fields(section: str) -> list[list[str]]:
    """The field names of each table in a section of docs/json-schema.md."""
    text = (REPO / "docs" / "json-schema.md").read_text(encoding="utf-8")
    body = text.split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    tables: list[list[str]] = []
    in_table = False
    for line in body.splitlines():
        if line.startswith("|") and not in_table:
            tables.append([])
        in_table = line.startswith("|")
        if row := re.match(r"^\| `(\w+)` \|", line):
            tables[-1].append(row[1])
    return tables


def test_json_schema_page_lists_the_schemas_fields() -> None:
    # The CLI's output is checked against the schema (tests/test_cli_json.py);
    # this keeps the page a reader reads in step with that schema.
    schema = json.loads(
        (resources.files("rstrtmgr") / "list-output.schema.json").read_text()
    )
    defs = schema["$defs"]
    result, process = documented_fields("Result")
    assert set(result) == set(defs["result"]["properties"])
    assert set(process) == set(defs["process"]["properties"])
    page = (REPO / "docs" / "json-schema.md").read_text(encoding="utf-8")
    for field in defs["file"]["properties"]:
        assert f"`{field}`" in page, field
