"""Text hygiene for every string that came from a mechanism or an LLM.

Such strings are attacker-controlled: an error message can carry an ANSI sequence that clears the
terminal and prints a fake "accepted" line, a bidi override can make a reason read backwards in a
report, a zero-width character can make two mechanism names look identical. ``clean_text`` is the
one function that makes such a string safe to show, store or put in a prompt. Standard library
only: it ships in the sandbox image and is imported by the host.
"""

from __future__ import annotations

import re

# ANSI/ECMA-48 escape sequences, removed whole (not just their ESC byte) so no printable residue
# such as "[2J" is left behind:
#   CSI  ESC [ params intermediates final      (cursor moves, clear screen, colours)
#   OSC  ESC ] ... BEL | ESC \                 (window title, hyperlinks, clipboard writes)
#   DCS/SOS/PM/APC  ESC P|X|^|_ ... ESC \      (device control strings)
#   two-byte escapes ESC <0x40-0x5F or others> (e.g. ESC c = full terminal reset)
# The 8-bit C1 forms (U+009B CSI, U+009D OSC, U+0090 DCS, ...) are matched too.
_ANSI_SEQUENCE = re.compile(
    r"""
    (?:\x1b\[|\x9b) [0-?]* [ -/]* [@-~]                      # CSI
  | (?:\x1b[\]PX^_]|[\x9d\x90\x98\x9e\x9f]) .*? (?:\x07|\x1b\\|\x9c|$)  # OSC / DCS / SOS / PM / APC
  | \x1b [ -/]* [0-~]                                         # other escapes (ESC c, ESC 7, ...)
    """,
    re.VERBOSE | re.DOTALL,
)

# Bidirectional controls: embeddings/overrides (U+202A-202E), isolates (U+2066-2069), marks
# (U+200E/200F, U+061C). They reorder how the surrounding text is displayed.
_BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
# Zero-width and invisible characters: ZWSP, ZWNJ, ZWJ, word joiner, BOM/ZWNBSP, soft hyphen,
# invisible operators (U+2061-2064), Mongolian vowel separator, Hangul fillers. They make two
# different strings look the same.
_INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff\u00ad\u2061\u2062\u2063\u2064\u180e\u3164\u115f\u1160"
# Line/paragraph separators: treated like newlines (they break lines in many viewers).
_LINE_SEPARATORS = "\u2028\u2029\x85"

_DROP = frozenset(_BIDI + _INVISIBLE)

# Shown instead of a control character that is not removed silently, so a reader sees that
# something was there (a visible, harmless replacement character).
CONTROL_REPLACEMENT = "\ufffd"
# Appended when a string is cut at max_chars, so a reader knows it was cut.
ELLIPSIS = "\u2026"


def _is_control(char: str) -> bool:
    code = ord(char)
    return code < 0x20 or 0x7F <= code <= 0x9F


def clean_text(value: object, max_chars: int | None = None, *, multiline: bool = False) -> str:
    """Return ``value`` as a string that is safe to print, journal, render or prompt with.

    - ANSI CSI/OSC/DCS escape sequences are removed whole;
    - bidi controls and zero-width/invisible characters are removed;
    - every other C0/C1 control character becomes U+FFFD, except ``\\n`` and ``\\t`` when
      ``multiline`` is true (``\\r\\n`` and lone ``\\r``, U+2028/2029/0085 become ``\\n``);
      without ``multiline`` newlines and tabs become single spaces, so the result is one line;
    - lone surrogates (not encodable) become U+FFFD;
    - the result is cut to ``max_chars`` characters, the last of which is an ellipsis.

    Never raises: a value whose ``str()`` fails becomes a placeholder naming its type.
    """
    if isinstance(value, bytes):
        text = value.decode("utf-8", errors="replace")
    elif isinstance(value, str):
        text = value
    else:
        try:
            text = str(value)
        except Exception:  # an arbitrary object's __str__ (module output): it may raise anything
            text = f"<unprintable {type(value).__name__}>"
        if not isinstance(text, str):  # a str subclass trick or a broken __str__
            text = f"<unprintable {type(value).__name__}>"
    text = _ANSI_SEQUENCE.sub("", text)
    text = text.replace("\r\n", "\n")
    out: list[str] = []
    for char in text:
        if char in _DROP:
            continue
        if char == "\r" or char in _LINE_SEPARATORS:
            char = "\n"
        if char in "\n\t":
            out.append(char if multiline else " ")
        elif _is_control(char) or 0xD800 <= ord(char) <= 0xDFFF:
            out.append(CONTROL_REPLACEMENT)
        else:
            out.append(char)
    cleaned = "".join(out)
    if max_chars is not None and len(cleaned) > max_chars:
        if max_chars <= 0:
            return ""
        cleaned = cleaned[: max_chars - 1] + ELLIPSIS
    return cleaned


def clean_optional(
    value: object, max_chars: int | None = None, *, multiline: bool = False
) -> str | None:
    """``clean_text`` that keeps ``None`` as ``None`` (optional fields of journal records)."""
    if value is None:
        return None
    return clean_text(value, max_chars, multiline=multiline)


def clean_data(
    value: object, max_chars: int | None = None, *, multiline: bool = False, _depth: int = 0
) -> object:
    """Clean every string (keys included) inside a JSON-like structure; other scalars unchanged.

    Nesting deeper than ``MAX_CLEAN_DEPTH`` becomes a placeholder string, so a hostile deeply
    nested value cannot exhaust the stack here. ``multiline`` applies to values, never keys.
    """
    if _depth > MAX_CLEAN_DEPTH:
        return "<nested too deep>"
    if isinstance(value, str):
        return clean_text(value, max_chars, multiline=multiline)
    if isinstance(value, dict):
        return {
            (clean_text(key, max_chars) if isinstance(key, str) else key): clean_data(
                item, max_chars, multiline=multiline, _depth=_depth + 1
            )
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [
            clean_data(item, max_chars, multiline=multiline, _depth=_depth + 1) for item in value
        ]
    return value


# Deepest structure clean_data walks: journal records and hook outputs are a few levels deep;
# anything deeper is hostile.
MAX_CLEAN_DEPTH = 32
