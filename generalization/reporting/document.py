"""Documents as a list of blocks, and their two renderings: GitHub markdown and one
self-contained HTML page (inline CSS, images as base64 data URIs, no external resource).

The report of a run and the study page of a sweep are each one list of blocks rendered both
ways, so the markdown and the HTML cannot disagree. The formatting of numbers and token
sequences in them is here too, once: `percent`, `with_interval`, `seconds`, `tokens`.
"""

from __future__ import annotations

import base64
import html
import json
import re
from dataclasses import dataclass
from typing import Any, Optional, Union

from rasp import highlight


@dataclass(frozen=True)
class Mono:
    """Cell text shown in a monospace font (token sequences, file names)."""

    text: str


@dataclass(frozen=True)
class Link:
    """Cell text that links to another page (a path relative to this page's folder)."""

    text: str
    href: str


Cell = Union[str, Mono, Link]


@dataclass(frozen=True)
class Heading:
    """A section title; level 1 is the report's title."""

    text: str
    level: int = 2


@dataclass(frozen=True)
class Paragraph:
    """Plain text, shown as written."""

    text: str


@dataclass(frozen=True)
class Table:
    """A table of plain or monospace cells under a header row."""

    header: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]


@dataclass(frozen=True)
class Image:
    """A plot: linked from the markdown, embedded in the HTML."""

    path: str  # relative to the run folder
    alt: str


@dataclass(frozen=True)
class Preformatted:
    """A block of monospace text kept line for line."""

    text: str
    language: str = ""  # for markdown's syntax highlighting


Block = Union[Heading, Paragraph, Table, Image, Preformatted]


# ----------------------------------------------------------------- formatting


def compact_json(value: Any, indent: int = 0) -> str:
    """Indented JSON with every value that fits in a line kept on one line."""
    flat = json.dumps(value, ensure_ascii=False)
    if not isinstance(value, (dict, list)) or not value or indent + len(flat) <= 80:
        return flat
    pad = " " * (indent + 2)
    if isinstance(value, list):
        items = [pad + compact_json(item, indent + 2) for item in value]
        return "[\n" + ",\n".join(items) + "\n" + " " * indent + "]"
    items = [f"{pad}{json.dumps(key, ensure_ascii=False)}: {compact_json(item, indent + 2)}"
             for key, item in value.items()]
    return "{\n" + ",\n".join(items) + "\n" + " " * indent + "}"


def span(bounds: list[int]) -> str:
    return f"{bounds[0]}-{bounds[1]}"


def percent(value: Optional[float], unit: str = "") -> str:
    """A fraction as a percentage with one decimal ("83.3", or with unit="%" "83.3%")."""
    return "n/a" if value is None else f"{100 * value:.1f}{unit}"


def with_interval(mean: Optional[float], interval: Optional[list[float]]) -> str:
    if mean is None or interval is None:
        return "n/a"
    return f"{percent(mean)} [{percent(interval[0])}, {percent(interval[1])}]"


def seconds(value: float) -> str:
    return f"{value:.2f}"


def tokens(sequence: list) -> str:
    """A sequence as a RASP literal: "abc" when every token is one character, else a list."""
    if all(isinstance(token, str) and len(token) == 1 for token in sequence) and sequence:
        return json.dumps("".join(sequence), ensure_ascii=False)
    return "[" + ", ".join(json.dumps(token, ensure_ascii=False) for token in sequence) + "]"


# ----------------------------------------------------------------- markdown


def to_markdown(blocks: list[Block]) -> str:
    """GitHub-flavoured markdown of the blocks (tables padded so the raw file reads well)."""
    return "\n\n".join(_markdown_block(block) for block in blocks) + "\n"


def _markdown_block(block: Block) -> str:
    if isinstance(block, Heading):
        return "#" * block.level + " " + _md_escape(block.text)
    if isinstance(block, Paragraph):
        return _md_escape(block.text)
    if isinstance(block, Image):
        return f"![{_md_escape(block.alt)}]({block.path})"
    if isinstance(block, Preformatted):
        fence = "`" * max(3, _longest_backtick_run(block.text) + 1)   # no line can close it
        return f"{fence}{block.language}\n{block.text}\n{fence}"
    return _markdown_table(block)


def _markdown_table(table: Table) -> str:
    cells = [list(table.header)] + [[_md_cell(cell) for cell in row] for row in table.rows]
    cells[0] = [_md_escape(text) for text in cells[0]]
    widths = [max(3, *(len(row[column]) for row in cells)) for column in range(len(cells[0]))]
    lines = ["| " + " | ".join(text.ljust(width) for text, width in zip(row, widths)) + " |"
             for row in cells]
    lines.insert(1, "| " + " | ".join("-" * width for width in widths) + " |")
    return "\n".join(lines)


def _md_cell(cell: Cell) -> str:
    if isinstance(cell, Mono):
        return _code_span(cell.text.replace("|", "\\|"))   # a pipe ends a GFM table cell
    if isinstance(cell, Link):
        target = cell.href.replace(" ", "%20").replace("(", "%28").replace(")", "%29")
        return f"[{_md_escape(cell.text)}]({target})"
    return _md_escape(cell)


def _code_span(text: str) -> str:
    """`text` as an inline code span that shows it as written: the fence is longer than any
    run of backticks inside, so none can end the span early (and let what follows be read as
    markup or HTML), padded with a space on each side (which the span does not show) when the
    text holds a backtick, so that one at its start or end cannot join the fence."""
    fence = "`" * (_longest_backtick_run(text) + 1)
    pad = " " if "`" in text else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _longest_backtick_run(text: str) -> int:
    return max((len(run) for run in re.findall(r"`+", text)), default=0)


# What markdown could take for markup in our plain text: code, emphasis, html, table pipes,
# `_` unless inside a word (GFM ignores intraword underscores), and the `](` of a link.
_MARKUP = re.compile(r"[\\`*<>|]|(?<![^\W_])_|_(?![^\W_])|\](?=\()")


def _md_escape(text: str) -> str:
    """Plain text that markdown shows as written."""
    return _MARKUP.sub(lambda match: "\\" + match.group(), text)


# ----------------------------------------------------------------- html

_CSS = """
body { font-family: system-ui, sans-serif; max-width: 62rem; margin: 2rem auto;
       padding: 0 1rem; color: #222; line-height: 1.45; }
table { border-collapse: collapse; margin: 0.8rem 0; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.6rem; text-align: left;
         vertical-align: top; }
th { background: #f2f2f2; }
code, pre { font-family: ui-monospace, monospace; font-size: 0.85rem; }
pre { background: #f6f6f6; padding: 0.8rem; overflow-x: auto; }
.wide { overflow-x: auto; }   /* a table wider than the page scrolls, the page does not */
img { max-width: 100%; display: block; margin: 1rem 0; }
"""


def to_html(blocks: list[Block], images: dict[str, bytes]) -> str:
    """A self-contained HTML page of the blocks: inline CSS, each image embedded as a base64
    data URI (looked up in `images` by its relative path), no external resource."""
    title = next((block.text for block in blocks if isinstance(block, Heading)), "Report")
    body = "\n".join(_html_block(block, images) for block in blocks)
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f"<title>{html.escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n"
            f"<body>\n{body}\n</body>\n</html>\n")


def _html_block(block: Block, images: dict[str, bytes]) -> str:
    if isinstance(block, Heading):
        return f"<h{block.level}>{html.escape(block.text)}</h{block.level}>"
    if isinstance(block, Paragraph):
        return f"<p>{html.escape(block.text)}</p>"
    if isinstance(block, Image):
        data = base64.b64encode(images[block.path]).decode("ascii")
        return f'<img src="data:image/png;base64,{data}" alt="{html.escape(block.alt)}">'
    if isinstance(block, Preformatted):
        if block.language == "rasp":   # highlighted, with inline styles (rasp/highlight.py)
            return highlight.to_html(block.text)
        return f"<pre>{html.escape(block.text)}</pre>"
    header = "".join(f"<th>{html.escape(text)}</th>" for text in block.header)
    rows = "\n".join("<tr>" + "".join(f"<td>{_html_cell(cell)}</td>" for cell in row) + "</tr>"
                     for row in block.rows)
    return f'<div class="wide"><table>\n<tr>{header}</tr>\n{rows}\n</table></div>'


def _html_cell(cell: Cell) -> str:
    if isinstance(cell, Mono):
        return f"<code>{html.escape(cell.text)}</code>"
    if isinstance(cell, Link):
        return f'<a href="{html.escape(cell.href)}">{html.escape(cell.text)}</a>'
    return html.escape(cell)
