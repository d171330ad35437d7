"""Text hygiene for every string that came from a mechanism or an LLM.

Such strings are attacker-controlled: an error message can carry an ANSI sequence that clears the
terminal and prints a fake "accepted" line, a bidi override can make a reason read backwards in a
report, a zero-width character can make two mechanism names look identical. ``clean_text`` is the
one function that makes such a string safe to show, store or put in a prompt. Standard library
only: it ships in the sandbox image and is imported by the host.
"""

from __future__ import annotations

import functools
import re
import unicodedata

# ANSI/ECMA-48 escape sequences, removed whole (not just their ESC byte) so no printable residue
# such as "[2J" is left behind:
#   CSI  ESC [ params intermediates final      (cursor moves, clear screen, colours)
#   OSC  ESC ] ... BEL | ESC \                  (window title, hyperlinks, clipboard writes)
#   DCS/SOS/PM/APC  ESC P|X|^|_ ... ESC \       (device control strings)
#   two-byte escapes ESC <0x40-0x5F or others> (e.g. ESC c = full terminal reset)
# The 8-bit CSI (U+009B) is matched too: its body is a few parameter bytes and one final byte,
# so it can never reach past the sequence it starts. The string forms match only when they are
# terminated and hold printable text: an unterminated one, or a lone 8-bit introducer (U+0090
# DCS, U+009D OSC ...), is not a sequence at all. Its introducer becomes U+FFFD below and the
# text after it stays, so one stray control byte cannot make the rest of a message vanish.
_ANSI_SEQUENCE = re.compile(
    r"""
    (?:\x1b\[|\x9b) [0-?]* [ -/]* [@-~]                      # CSI
  | \x1b[\]PX^_] [^\x00-\x1f\x7f-\x9f]* (?:\x07|\x1b\\)          # OSC / DCS / SOS / PM / APC
  | \x1b [ -/]* [0-~]                                         # other escapes (ESC c, ESC 7, ...)
    """,
    re.VERBOSE,
)

# Default-ignorable code points (Unicode's DerivedCoreProperties, Default_Ignorable_Code_Point,
# unassigned ones included): a viewer draws nothing for them, so they can hide text from a
# reader while an LLM still reads it (tag characters U+E0000-E007F spell out ASCII invisibly),
# or make two different strings look the same (zero-width joiners, variation selectors, Hangul
# fillers). With every format character (category Cf: bidi controls, soft hyphen, interlinear
# annotations, invisible operators ...) they are removed.
DEFAULT_IGNORABLE = (
    (0x00AD, 0x00AD),
    (0x034F, 0x034F),
    (0x061C, 0x061C),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x180B, 0x180F),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x206F),
    (0x3164, 0x3164),
    (0xFE00, 0xFE0F),
    (0xFEFF, 0xFEFF),
    (0xFFA0, 0xFFA0),
    (0xFFF0, 0xFFF8),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0000, 0xE0FFF),
)
_IGNORABLE_CLASS = "".join(f"\\U{lo:08x}-\\U{hi:08x}" for lo, hi in DEFAULT_IGNORABLE)
_IGNORABLE = re.compile(f"[{_IGNORABLE_CLASS}]")
# Line/paragraph separators: treated like newlines (they break lines in many viewers).
_LINE_SEPARATORS = "\u2028\u2029\x85"

# Shown instead of a control character that is not removed silently, so a reader sees that
# something was there (a visible, harmless replacement character).
CONTROL_REPLACEMENT = "\ufffd"
# Appended when a string is cut at max_chars, so a reader knows it was cut.
ELLIPSIS = "\u2026"


# Controls (C0, DEL, C1), the line separators and lone surrogates: each is replaced by
# clean_text, one character at a time.
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_LINE_BREAKS = {"\r": "\n", "\x85": "\n", "\u2028": "\n", "\u2029": "\n"}


def is_invisible(char: str) -> bool:
    """Whether ``char`` is a format character or a default-ignorable code point: drawn as
    nothing, it hides or disguises the text around it."""
    return unicodedata.category(char) == "Cf" or _IGNORABLE.match(char) is not None


# Where format characters (Cf) are assigned: the BMP, the supplementary multilingual plane and
# the tag plane. Planes 2-3 hold CJK ideographs, 4-13 nothing, 15-16 private use.
_FORMAT_PLANES = (range(0x80, 0x20000), range(0xE0000, 0xE1000))


@functools.cache
def _invisible_pattern() -> re.Pattern[str]:
    """One character class of every invisible code point, read from the interpreter's own
    Unicode database (so a newer Python's new format characters are covered); built on the
    first non-ASCII string, in a few hundredths of a second."""
    ranges = list(DEFAULT_IGNORABLE)
    for plane in _FORMAT_PLANES:
        for code in plane:
            if unicodedata.category(chr(code)) == "Cf":
                if ranges[-1][1] == code - 1:
                    ranges[-1] = (ranges[-1][0], code)
                else:
                    ranges.append((code, code))
    return re.compile("[" + "".join(f"\\U{lo:08x}-\\U{hi:08x}" for lo, hi in ranges) + "]")


def clean_text(value: object, max_chars: int | None = None, *, multiline: bool = False) -> str:
    """Return ``value`` as a string that is safe to print, journal, render or prompt with.

    - ANSI CSI/OSC/DCS escape sequences are removed whole (a string sequence only when it is
      terminated: an unterminated one never swallows the text after it);
    - every format character (Unicode category Cf: bidi controls, zero-width characters, tag
      characters ...) and every default-ignorable code point (variation selectors, Hangul
      fillers, U+034F ...) is removed: nothing invisible reaches a reader or a prompt;
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
    if not text.isascii():
        text = _invisible_pattern().sub("", text)
    breaks = {"\n": "\n" if multiline else " ", "\t": "\t" if multiline else " "}
    cleaned = _CONTROLS.sub(
        lambda m: breaks.get(_LINE_BREAKS.get(m[0], m[0]), CONTROL_REPLACEMENT), text
    )
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
