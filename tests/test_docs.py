"""The documentation: its examples run, the API reference covers every public name, the site builds cleanly.

Examples: the fenced ```python blocks of README.md and docs/*.md run, each file's blocks in order in one
namespace (like a notebook), in a fresh interpreter in a temporary directory with the repository on the path,
one test per file. The conventions the pages are written by:

- a block whose first line is ``# not run: REASON`` is not run (a file whose every block is, is SKIPPED);
- a block whose first line is ``# needs: MODULE`` runs where MODULE imports; elsewhere the file is SKIPPED;
- ```bash, ```text, ```toml (anything but ```python) blocks are not run.

API: every name in the ``__all__`` of the modules in `API_MODULES` is listed in docs/api/*.rst (so a new public
name without an entry fails here), and has a docstring; the Sphinx build (`test_sphinx_build`, marked slow) then
checks that each entry resolves, in the build's object inventory, and that the build has no warning.
"""

from __future__ import annotations

import ast
import datetime
import importlib
import importlib.util
import inspect
import json
import os
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
EXAMPLE_TIMEOUT = float(os.environ.get("DOCS_EXAMPLE_TIMEOUT", 300))  # seconds per file

# The modules whose public names the API reference documents (docs/api/).
API_MODULES = [
    "bridges",
    "bridges.testing",
    "bridges.ct",
    "bridges.mri",
    "bridges.pet",
    "bridges.spect",
    "bridges.odl",
    "bridges.odl.reference",
    "bridges.solvers",
    "bridges.deepinv",
    "learned",
    "experiments.data",
]


# ---------------------------------------------------------------- examples
_FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([^`\s]*)")


def code_blocks(text: str) -> list[tuple[int, str, str]]:
    """The fenced code blocks of a markdown text: (line number of the opening fence, language, code)."""
    blocks, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, fence, language = m.groups()
        start, body, i = i + 1, [], i + 1
        while i < len(lines) and not (
            lines[i].strip().startswith(fence[0] * len(fence)) and not lines[i].strip().strip(fence[0])
        ):
            body.append(lines[i][len(indent) :] if lines[i].startswith(indent) else lines[i].lstrip())
            i += 1
        blocks.append((start, language.lower(), "\n".join(body) + "\n"))
        i += 1
    return blocks


def python_blocks(text: str) -> list[tuple[int, str]]:
    """The ```python (or ```py) blocks: (line, code)."""
    return [(line, code) for line, language, code in code_blocks(text) if language in ("python", "py", "python3")]


def plan(text: str) -> tuple[list[tuple[int, str]], str | None]:
    """The blocks to run in order, and why the whole file is skipped (None to run it).

    ``# not run: REASON`` drops its block; ``# needs: MODULE`` skips the file unless MODULE imports.
    """
    run, dropped = [], []
    for line, code in python_blocks(text):
        first = code.lstrip().splitlines()[0].strip() if code.strip() else ""
        if first.startswith("# not run:"):
            dropped.append(first.removeprefix("# not run:").strip())
            continue
        if first.startswith("# needs:"):
            module = first.removeprefix("# needs:").strip()
            try:
                importlib.import_module(module)
            except Exception as err:  # an ImportError, or a broken install of an optional package
                return [], f"needs {module} (line {line}): {type(err).__name__}: {err}"
        run.append((line, code))
    if not run:
        return [], f"every block is marked not run ({'; '.join(dropped) or 'none'})"
    return run, None


# Runs the blocks in one namespace; a traceback names the page and the block's first line.
_RUNNER = """
import json, sys
blocks = json.loads(sys.stdin.read())
namespace = {"__name__": "__main__"}
for name, line, code in blocks:
    print(f"--- {name}, block at line {line}", flush=True)
    exec(compile("\\n" * line + code, f"{name} (block at line {line})", "exec"), namespace)
"""


def example_files() -> list[Path]:
    files = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]
    return [f for f in files if f.exists() and python_blocks(f.read_text())]


@pytest.mark.parametrize("page", example_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_examples_run(page: Path, tmp_path):
    blocks, skipped = plan(page.read_text())
    if skipped:
        pytest.skip(skipped)
    name = str(page.relative_to(ROOT))
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
    }
    env.setdefault("MPLBACKEND", "Agg")
    try:
        result = subprocess.run(
            [sys.executable, "-c", _RUNNER],
            input=json.dumps([(name, line, code) for line, code in blocks]),
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=EXAMPLE_TIMEOUT,
        )
    except subprocess.TimeoutExpired as err:
        pytest.fail(f"{name}: its examples ran past {EXAMPLE_TIMEOUT:.0f} s\n{err.stdout or ''}")
    assert result.returncode == 0, f"{name}: an example failed\n{result.stdout[-4000:]}\n{result.stderr[-8000:]}"


def test_example_conventions():
    page = textwrap.dedent(
        """\
        ```python
        x = 1
        ```
        text
        ```bash
        exit 1
        ```
        - in a list:

          ```python
          y = x + 1
          ```
        ```python
        # not run: needs a scanner
        raise SystemExit
        ```
        ````python
        ```
        z = 3
        ````
        """
    )
    assert plan(page) == ([(1, "x = 1\n"), (10, "y = x + 1\n"), (17, "```\nz = 3\n")], None)
    assert plan("```python\n# needs: no_such_module_here\nimport no_such_module_here\n```\n")[1].startswith(
        "needs no_such_module_here"
    )
    assert plan("```python\n# needs: json\nimport json\n```\n")[1] is None
    assert plan("```python\n# not run: a GPU\n```\n")[1] == "every block is marked not run (a GPU)"


# ---------------------------------------------------------------- the API reference
def module_all(module: str) -> list[str]:
    """The public names of ``module``: its ``__all__`` read from the source (no import: optional dependencies
    stay optional), or, without one, the functions and classes its source defines, but those starting with "_"."""
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.origin, f"{module} not found"
    tree = ast.parse(Path(spec.origin).read_text())
    for node in tree.body:
        targets = (
            node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        )
        if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
            return list(ast.literal_eval(node.value))
    names = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.append(node.name)
    return [n for n in names if not n.startswith("_")]


def documented(api_dir: Path = DOCS / "api") -> set[str]:
    """The full names docs/api/*.rst documents: autosummary entries, py:data, auto* directives, and the
    members of an ``automodule`` with ``:members:`` (its public names, as `module_all`)."""
    names: set[str] = set()
    for page in sorted(api_dir.glob("*.rst")):
        current, in_summary, directive = None, False, None
        for line in page.read_text().splitlines():
            stripped = line.strip()
            m = re.match(r"\.\. (currentmodule|automodule|py:module|module)::\s*(\S+)", stripped)
            if m:
                current, in_summary, directive = m.group(2), False, m.group(1)
                if directive == "automodule":
                    names.add(current)
                continue
            m = re.match(r"\.\. (?:py:)?(?:auto)?(data|function|class|exception|attribute)::\s*(\S+)", stripped)
            if m:
                target = m.group(2)
                names.add(target if "." in target else f"{current}.{target}")
                in_summary = False
                continue
            if stripped.startswith(".. autosummary::"):
                in_summary = True
                continue
            if stripped == ":members:" and directive == "automodule":
                names |= {f"{current}.{n}" for n in module_all(current)}
                continue
            if in_summary and line.startswith("   ") and stripped and not stripped.startswith(":"):
                names.add(f"{current}.{stripped.lstrip('~')}")
            elif in_summary and stripped and not line.startswith(" "):
                in_summary = False
            directive = None if stripped and not line.startswith(" ") and not stripped.startswith("..") else directive
    return names


def missing_from_api(modules: list[str], names: set[str]) -> list[str]:
    """``module.name`` for every public name not in ``names``; a name that is a submodule counts as documented
    when the submodule is (an ``automodule`` of it)."""
    missing = []
    for module in modules:
        for name in module_all(module):
            full = f"{module}.{name}"
            if full not in names:
                missing.append(full)
    return missing


def test_every_public_name_is_in_the_api_reference():
    missing = missing_from_api(API_MODULES, documented())
    assert not missing, (
        "public names (in __all__) missing from the API reference: add each to its page in docs/api/ "
        f"(an autosummary entry): {missing}"
    )


def test_the_api_check_finds_a_missing_name(tmp_path):
    """The check above can fail: a page without one of bridges.solvers' names is caught."""
    page = (DOCS / "api" / "solvers.rst").read_text()
    assert "   cgls\n" in page
    (tmp_path / "solvers.rst").write_text(page.replace("   cgls\n", ""))
    assert missing_from_api(["bridges.solvers"], documented(tmp_path)) == ["bridges.solvers.cgls"]
    assert missing_from_api(["bridges.solvers"], documented(DOCS / "api")) == []


@pytest.mark.parametrize("module", API_MODULES)
def test_every_public_name_has_a_docstring(module):
    try:
        mod = importlib.import_module(module)
    except ImportError as err:  # bridges.deepinv without deepinv
        pytest.skip(f"{module} does not import here: {err}")
    bare = []
    for name in module_all(module):
        obj = getattr(mod, name)
        if (inspect.isclass(obj) or inspect.isfunction(obj) or inspect.ismodule(obj)) and not inspect.getdoc(obj):
            bare.append(name)
    assert not bare, f"{module}: public names without a docstring: {bare}"


# ---------------------------------------------------------------- the generated tables (--markdown PATH)
def test_markdown_output_writes_what_is_printed(tmp_path, capsys):
    from experiments.bench.markdown import markdown_output

    path = tmp_path / "sub" / "bench-x.md"
    with markdown_output(path, "python -m experiments.bench.x", ["--repeats", "3"]):
        print("| a | b |\n|---|---|")
        print("| 1 | 2 |")
    assert capsys.readouterr().out == "| a | b |\n|---|---|\n| 1 | 2 |\n"  # still printed
    first, blank, *table = path.read_text().splitlines()
    assert first.startswith("Generated by `python -m experiments.bench.x --repeats 3` on ")
    assert "cores, " in first and "torch " in first and blank == ""
    assert table == ["| a | b |", "|---|---|", "| 1 | 2 |"]

    with markdown_output(None, "python -m experiments.bench.x", []):  # no --markdown: nothing written
        print("only printed")
    assert capsys.readouterr().out == "only printed\n"

    with pytest.raises(RuntimeError), markdown_output(path, "python -m experiments.bench.x", []):
        print("half a table")
        raise RuntimeError("a benchmark failed")
    assert "| 1 | 2 |" in path.read_text()  # a failed run leaves the previous file


def test_provenance_and_cpu_model(tmp_path):
    import torch

    from experiments.bench.markdown import cpu_model, provenance

    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) Gold 6248\n")
    assert cpu_model(cpuinfo) == "Intel(R) Xeon(R) Gold 6248"
    assert cpu_model(tmp_path / "absent")  # falls back, never raises
    when = datetime.datetime(2026, 12, 3, 20, 0, tzinfo=datetime.timezone.utc)
    line = provenance("python -m experiments validate", ["--quick", "--markdown", "a b.md"], now=when)
    assert line.startswith("Generated by `python -m experiments validate --quick --markdown 'a b.md'` on 2026-12-03")
    assert f"{os.cpu_count()} cores, " in line and line.endswith(f"torch {torch.__version__}.")


BENCHMARKS = ["ct", "mri", "pet", "spect", "data", "baselines", "learned", "threads", "gpu"]


@pytest.mark.parametrize("name", BENCHMARKS)
def test_every_benchmark_has_the_markdown_option(name):
    """Read from the source (importing a benchmark loads its comparison packages): the option is added and
    main prints inside ``markdown_output`` under the benchmark's own command."""
    source = (ROOT / "experiments" / "bench" / f"{name}.py").read_text()
    assert "add_markdown_option(parser)" in source
    assert f'markdown_output(args.markdown, "python -m experiments.bench.{name}", argv)' in source
    assert "[--markdown PATH]" in source  # in the usage line of its docstring


def test_validate_writes_markdown(tmp_path, monkeypatch, capsys):
    from experiments.commands import validate
    from experiments.validation import Row

    rows = [Row("CT", "case", "adjoint test", 1e-7, 1e-5, "float32 rounding"), Row.skip("CT", "c", "cuda", "no CUDA")]
    monkeypatch.setattr(validate, "run_checks", lambda keys, quick: rows)
    path = tmp_path / "validate.md"
    assert validate.main(["--quick", "--markdown", str(path)]) == 0
    text = path.read_text()
    assert text.startswith("Generated by `python -m experiments validate --quick --markdown ")
    assert "| CT | case | adjoint test | 1.0e-07 | 1.0e-05 | pass | float32 rounding |" in text
    assert "1 passed, 0 FAILED, 1 skipped" in text
    assert text.split("\n\n", 1)[1].strip() == capsys.readouterr().out.strip()


def test_generated_tables_exist():
    """Every table the pages include is there (a placeholder until its command has run), so the build passes."""
    generated = DOCS / "generated"
    for name in ["validate", *(f"bench-{b}" for b in BENCHMARKS)]:
        assert (generated / f"{name}.md").is_file(), f"docs/generated/{name}.md missing: see docs/generated/README"


# ---------------------------------------------------------------- the site
# 70-95 s on the 2-core machine (40 s of CPU): a slow test (run with -m slow); CI runs the same build as a step.
@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("sphinx") is None, reason="needs the docs extra (sphinx)")
def test_sphinx_build(tmp_path):
    """The build CI runs, with no warning; every public name is an object of its inventory."""
    from sphinx.util.inventory import InventoryFile

    out = tmp_path / "html"
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", "-d", str(tmp_path / "doctrees")]
        + [str(DOCS), str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    seconds = time.perf_counter() - start
    assert result.returncode == 0, f"sphinx build failed or warned ({seconds:.0f} s):\n{result.stderr[-8000:]}"
    with open(out / "objects.inv", "rb") as f:
        inventory = InventoryFile.load(f, "", lambda *parts: "/".join(parts))
    objects = set()
    for kind, entries in (inventory.data if hasattr(inventory, "data") else inventory).items():
        if kind.startswith("py:"):
            objects |= set(entries)
    missing = missing_from_api(API_MODULES, objects)
    assert not missing, f"public names the build did not document: {missing}"
