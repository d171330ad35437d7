"""Mechanism source with syntax highlighting (Pygments), as markup that carries no styles.

Pygments escapes every character of the code it highlights (``<``, ``&``, quotes), so
hostile source becomes inert text inside ``<span class=...>`` elements. Colours come from
one stylesheet (:func:`pygments_css`), so the page needs no inline styles.
"""

from __future__ import annotations

from functools import cache

from markupsafe import Markup
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import DiffLexer, PythonLexer

from sandbox.text import clean_text

# The CSS class the highlighted block carries, and the Pygments style it is drawn in
# (a light style that keeps contrast on the dashboard's white background).
CSS_CLASS = "source"
STYLE = "default"


def highlight_python(code: str) -> Markup:
    """``code`` as highlighted HTML with line numbers (safe to insert: Pygments escapes)."""
    formatter = HtmlFormatter(cssclass=CSS_CLASS, style=STYLE, linenos="table", wrapcode=True)
    return Markup(highlight(clean_text(code, multiline=True), PythonLexer(), formatter))


def highlight_diff(diff: str) -> Markup:
    """A code trial's recipe diff as highlighted HTML (safe to insert: Pygments escapes every
    character, so a hostile diff is inert text, never markup)."""
    formatter = HtmlFormatter(cssclass=CSS_CLASS, style=STYLE, wrapcode=True)
    return Markup(highlight(clean_text(diff, multiline=True), DiffLexer(), formatter))


@cache
def pygments_css() -> str:
    return HtmlFormatter(cssclass=CSS_CLASS, style=STYLE).get_style_defs(f".{CSS_CLASS}")
