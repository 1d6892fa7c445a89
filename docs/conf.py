"""Sphinx configuration of the recon-bridges documentation.

Build (what CI runs; it must finish without a warning, and it fetches nothing from the network):

    python -m sphinx -W --keep-going -b html docs docs/_build/html

The pages are MyST markdown; the API reference (api/) is autosummary over the docstrings, its
per-name pages generated into api/_autosummary at build time. docs/generated/ holds tables that
commands write (see its README).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the packages from this checkout, installed or not

import bridges  # noqa: E402

project = "recon-bridges"
author = "recon-bridges contributors"
copyright = "recon-bridges contributors"  # noqa: A001 - Sphinx's name
release = bridges.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
    "sphinx.ext.mathjax",  # MathJax is loaded by the reader's browser; the build fetches nothing
    "myst_parser",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
# generated/: tables included by the pages, not pages of their own; api/_autosummary is written by autosummary.
exclude_patterns = ["_build", "generated", "Thumbs.db", ".DS_Store"]
templates_path = ["_templates"]
nitpicky = False

# `name` in a docstring is a cross-reference where Sphinx knows the name, literal text otherwise.
default_role = "py:obj"

# ---------------------------------------------------------------- MyST (the markdown pages)
myst_enable_extensions = ["dollarmath", "colon_fence"]
myst_heading_anchors = 3  # [text](#a-heading) and [text](page.md#a-heading) links

# ---------------------------------------------------------------- autodoc, autosummary, napoleon
autosummary_generate = True
# Written afresh at each build: a stub of a name that is no longer public would be a page in no toctree (a warning).
shutil.rmtree(Path(__file__).resolve().parent / "api" / "_autosummary", ignore_errors=True)
autosummary_imported_members = True
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_class_signature = "mixed"
autodoc_preserve_defaults = True
# A method without a docstring of its own (an nn.Module's forward) is left out, not given torch's.
autodoc_inherit_docstrings = False
# bridges.deepinv adapts the operators to deepinv, an optional dependency; documented without it installed.
autodoc_mock_imports = ["deepinv"]

napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False
# "Modes:" lists modes as Args lists arguments ("Shapes:" blocks are turned into lists by `shapes_blocks` below).
napoleon_custom_sections = [("Modes", "params_style")]

# ---------------------------------------------------------------- HTML
html_theme = "furo"
html_title = f"recon-bridges {release}"
html_static_path = []


# ---------------------------------------------------------------- our docstrings in reST
# The docstrings are written to read as plain text: shapes as ``(*batch, y, x)``, norms as ``|x|``, and
# "Shapes:" blocks of "name: shape" lines. Two hooks make reST render them as written: the first turns a
# "Shapes:" block into a titled list (before napoleon reads the sections); the second, after napoleon, escapes
# the ``*`` and ``|`` that reST would take for emphasis or substitutions, outside literals, literal blocks,
# directives and doctests.
import re  # noqa: E402
import unicodedata  # noqa: E402

_SECTION = re.compile(r"^(\s*)Shapes:\s*$")
_INLINE = re.compile(r"^(\s*)Shapes:\s+(\S.*)$")  # "Shapes: x (...) -> (...)" opening a paragraph
_LABEL = re.compile(r"^([\w.]+(?: [\w.]+)?):\s+(.*)$")  # "forward: ...", "image x: ...": one or two words


def shapes_blocks(lines: list[str]) -> list[str]:
    """Each "Shapes:" block (a line "Shapes:" and the lines indented under it) as a rubric and a bullet list.

    A line that starts with a label of one or two words and a colon starts an item; other lines continue it.
    A paragraph that opens with "Shapes: ..." keeps its text, the word in bold.
    """
    out, i = [], 0
    while i < len(lines):
        m = _SECTION.match(lines[i])
        if not m:
            inline = _INLINE.match(lines[i])
            out.append(f"{inline.group(1)}**Shapes:** {inline.group(2)}" if inline else lines[i])
            i += 1
            continue
        indent = len(m.group(1))
        items, j = [], i + 1
        while j < len(lines) and (not lines[j].strip() or len(lines[j]) - len(lines[j].lstrip()) > indent):
            text = lines[j].strip()
            if text:
                label = _LABEL.match(text)
                if not items or (label and len(lines[j]) - len(lines[j].lstrip()) <= items[-1][0]):
                    items.append([len(lines[j]) - len(lines[j].lstrip()), []])
                    if label:
                        text = f"**{label.group(1)}**: {label.group(2)}"
                items[-1][1].append(text)
            j += 1
        pad = " " * indent
        out += [f"{pad}.. rubric:: Shapes", ""]
        for _, parts in items:
            out.append(f"{pad}- " + parts[0])
            out += [f"{pad}  {p}" for p in parts[1:]]
        out.append("")
        i = j
    return out


# inline literals, interpreted text and roles: left as they are
_LITERAL = re.compile(r"``.+?``|(?::[\w.+:-]+:)?`[^`]+`(?:__?)?")
_STRONG_OR_EMPHASIS = re.compile(r"(?<![\w*\\])(\*\*?)(?=[^\s*])[^*]*?[^\s*\\]\1(?![\w*])")
_BEFORE_START = set(" \t-:/'\"<([{")
_AFTER_END = set(" \t-.,:;!?\\/'\")]}>")


def _punctuation(char: str, allowed: set[str], categories: tuple[str, ...]) -> bool:
    return char in allowed or unicodedata.category(char) in categories


def _escape_text(text: str) -> str:
    """``*`` and ``|`` escaped, except the ``*`` of emphasis and strong that reST would read as such."""
    kept = {m.start(): m.group(0) for m in _STRONG_OR_EMPHASIS.finditer(text)}
    out, i = [], 0
    while i < len(text):
        if i in kept:
            out.append(kept[i])
            i += len(kept[i])
            continue
        char = text[i]
        # only where reST could read a start-string: followed by text (a bullet's "* " is left alone)
        following = text[i + 1] if i + 1 < len(text) else " "
        if char in "*|" and (i == 0 or text[i - 1] != "\\") and not following.isspace():
            out.append("\\")
        out.append(char)
        i += 1
    return "".join(out)


def _escape_line(line: str) -> str:
    out, pos = [], 0
    for m in _LITERAL.finditer(line):
        out.append(_escape_text(line[pos : m.start()]))
        before = line[m.start() - 1] if m.start() else " "
        after = line[m.end()] if m.end() < len(line) else " "
        # reST needs a space or punctuation around inline markup: ``image_size``² becomes ``image_size``\ ²
        if not _punctuation(before, _BEFORE_START, ("Ps", "Pi", "Pf", "Pd", "Po")) and before != "\\":
            out.append("\\ ")
        out.append(m.group(0))
        if not _punctuation(after, _AFTER_END, ("Pe", "Pi", "Pf", "Pd", "Po")):
            out.append("\\ ")
        pos = m.end()
    out.append(_escape_text(line[pos:]))
    return "".join(out)


def escape_markup(lines: list[str]) -> list[str]:
    """``lines`` with stray ``*`` and ``|`` escaped outside literal blocks, directive bodies and doctests."""
    out, literal_indent, doctest = [], None, False
    for line in lines:
        stripped, indent = line.strip(), len(line) - len(line.lstrip())
        if literal_indent is not None:
            if not stripped or indent > literal_indent:
                out.append(line)
                continue
            literal_indent = None
        if doctest:
            doctest = bool(stripped)
            out.append(line)
            continue
        if stripped.startswith(">>>"):
            doctest = True
            out.append(line)
            continue
        if stripped.startswith(".. "):  # a directive (rubric, math, code-block, ...): its body is its own
            out.append(line)
            literal_indent = indent
            continue
        out.append(_escape_line(line))
        if stripped.endswith("::"):
            literal_indent = indent
    return out


def _before_napoleon(app, what, name, obj, options, lines):
    lines[:] = shapes_blocks(lines)


def _after_napoleon(app, what, name, obj, options, lines):
    lines[:] = escape_markup(lines)


def setup(app):
    app.connect("autodoc-process-docstring", _before_napoleon, priority=400)
    app.connect("autodoc-process-docstring", _after_napoleon, priority=600)
