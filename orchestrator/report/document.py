"""A small report document that renders to Markdown and to one self-contained HTML file.

Reports are built once as a list of blocks (headings, paragraphs, tables, figures) and then
written twice: ``report.md`` links the PNG files written beside it, ``report.html`` inlines
the same PNGs as base64 data URIs and carries its own CSS, so it opens from an e-mail
attachment or an air-gapped machine with no external request and no script.
"""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass, field
from pathlib import Path

from sandbox.text import clean_text

# Folder (beside report.md) that holds the PNGs the Markdown links.
FIGURE_DIR = "report-figures"

# Plain, print-friendly styling; system fonts so that nothing is fetched.
_CSS = """
body { font: 15px/1.5 -apple-system, "Segoe UI", "DejaVu Sans", Helvetica, Arial, sans-serif;
       color: #1d1d1f; max-width: 1040px; margin: 2em auto; padding: 0 1.5em; }
h1 { font-size: 1.7em; margin-bottom: 0.2em; }
h2 { font-size: 1.25em; margin-top: 2em; border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
p.note { color: #555; font-size: 0.92em; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.92em; }
th, td { border-bottom: 1px solid #e3e3e3; padding: 0.3em 0.8em; text-align: left; }
th { background: #f6f6f6; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 1em 0 1.6em; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.9em; margin-top: 0.3em; }
code { background: #f3f3f3; padding: 0 0.25em; border-radius: 3px; }
pre { background: #f6f6f6; padding: 0.6em 0.8em; overflow-x: auto; font-size: 0.85em; }
pre code { background: none; padding: 0; }
"""


@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 2


@dataclass(frozen=True)
class Paragraph:
    text: str
    note: bool = False  # rendered smaller and grey: caveats, provenance


@dataclass(frozen=True)
class Table:
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    numeric: tuple[bool, ...] = ()  # right-align these columns


@dataclass(frozen=True)
class Code:
    """A block of verbatim text (a code trial's diff): fenced in Markdown with a fence no
    run of backticks inside can close, escaped whole in HTML."""

    text: str
    language: str = ""


@dataclass(frozen=True)
class Figure:
    name: str  # file stem, unique within the report
    png: bytes
    caption: str


@dataclass
class Document:
    title: str
    blocks: list[Heading | Paragraph | Table | Code | Figure] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.title = clean_text(self.title)  # a journal's study name, as the blocks below

    # Report text quotes the journal (hypotheses, reasons, mechanism names), which came from
    # LLMs and mechanisms: every block is cleaned of control, escape, bidi and zero-width
    # characters here, once, for both report.md and report.html.
    def heading(self, text: str, level: int = 2) -> None:
        self.blocks.append(Heading(clean_text(text), level))

    def paragraph(self, text: str, *, note: bool = False) -> None:
        self.blocks.append(Paragraph(clean_text(text, multiline=True), note))

    def table(
        self, headers: list[str], rows: list[list[str]], numeric: list[bool] | None = None
    ) -> None:
        self.blocks.append(
            Table(
                tuple(clean_text(h) for h in headers),
                tuple(tuple(clean_text(c) for c in r) for r in rows),  # one line per cell
                tuple(numeric or ()),
            )
        )

    def code(self, text: str, language: str = "") -> None:
        self.blocks.append(Code(clean_text(text, multiline=True), clean_text(language)))

    def figure(self, name: str, png: bytes, caption: str) -> None:
        self.blocks.append(Figure(name, png, caption))

    def figures(self) -> list[Figure]:
        return [b for b in self.blocks if isinstance(b, Figure)]

    def to_markdown(self) -> str:
        out = [f"# {self.title}", ""]
        for block in self.blocks:
            if isinstance(block, Heading):
                out += ["#" * block.level + " " + block.text, ""]
            elif isinstance(block, Paragraph):
                out += [f"_{block.text}_" if block.note else block.text, ""]
            elif isinstance(block, Table):
                out += [*_markdown_table(block), ""]
            elif isinstance(block, Code):
                out += [_markdown_code(block), ""]
            else:
                out += [f"![{block.caption}]({FIGURE_DIR}/{block.name}.png)", "", block.caption, ""]
        return "\n".join(out)

    def to_html(self) -> str:
        body: list[str] = [f"<h1>{html.escape(self.title)}</h1>"]
        for block in self.blocks:
            if isinstance(block, Heading):
                level = min(max(block.level, 2), 4)
                body.append(f"<h{level}>{html.escape(block.text)}</h{level}>")
            elif isinstance(block, Paragraph):
                css = ' class="note"' if block.note else ""
                body.append(f"<p{css}>{_inline_code(block.text)}</p>")
            elif isinstance(block, Table):
                body.append(_html_table(block))
            elif isinstance(block, Code):
                language = html.escape(block.language, quote=True)
                body.append(
                    f'<pre><code class="language-{language}">{html.escape(block.text)}</code></pre>'
                )
            else:
                data = base64.b64encode(block.png).decode("ascii")
                caption = html.escape(block.caption)
                body.append(
                    f'<figure><img alt="{caption}" src="data:image/png;base64,{data}">'
                    f"<figcaption>{caption}</figcaption></figure>"
                )
        return (
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{html.escape(self.title)}</title><style>{_CSS}</style></head>"
            f"<body>\n{chr(10).join(body)}\n</body></html>\n"
        )

    def write(self, folder: Path, stem: str = "report") -> tuple[Path, Path]:
        """Write ``<stem>.md`` (with its PNG folder) and ``<stem>.html``; return both paths."""
        folder.mkdir(parents=True, exist_ok=True)
        figure_dir = folder / FIGURE_DIR
        figure_dir.mkdir(exist_ok=True)
        for figure in self.figures():
            _atomic_write(figure_dir / f"{figure.name}.png", figure.png)
        markdown, page = folder / f"{stem}.md", folder / f"{stem}.html"
        _atomic_write(markdown, self.to_markdown().encode("utf-8"))
        _atomic_write(page, self.to_html().encode("utf-8"))
        return markdown, page


def _atomic_write(path: Path, data: bytes) -> None:
    # A report may be rewritten while someone has it open; never leave half a file.
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def _inline_code(text: str) -> str:
    parts = html.escape(text).split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))


def _markdown_code(block: Code) -> str:
    longest = max((len(m) for m in re.findall(r"`+", block.text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{block.language}\n{block.text.rstrip()}\n{fence}"


def _markdown_table(table: Table) -> list[str]:
    def row(cells: tuple[str, ...]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    align = [
        "---:" if i < len(table.numeric) and table.numeric[i] else "---"
        for i in range(len(table.headers))
    ]
    return [row(table.headers), "| " + " | ".join(align) + " |"] + [row(r) for r in table.rows]


def _html_table(table: Table) -> str:
    def cell(i: int, text: str) -> str:
        numeric = i < len(table.numeric) and table.numeric[i]
        return (
            f'<td class="num">{html.escape(text)}</td>'
            if numeric
            else f"<td>{_inline_code(text)}</td>"
        )

    head = "".join(f"<th>{html.escape(h)}</th>" for h in table.headers)
    rows = "".join(
        "<tr>" + "".join(cell(i, c) for i, c in enumerate(r)) + "</tr>" for r in table.rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
