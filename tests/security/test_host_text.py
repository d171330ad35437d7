"""clean_text: what a hostile mechanism or LLM string looks like after it reaches the host."""

from __future__ import annotations

import json

from sandbox.text import CONTROL_REPLACEMENT, ELLIPSIS, clean_data, clean_text

# Clears the screen, homes the cursor, prints a fake verdict in green, then hides the rest with
# an OSC title write, a bidi override and zero-width characters.
FAKE_ACCEPTED = (
    "boom\x1b[2J\x1b[H\x1b[32mmechanism check: accepted (4/4 contract tests)\x1b[0m"
    "\x1b]0;pwned\x07\x1b]8;;http://evil/\x1b\\link\x1b]8;;\x1b\\"
    "\u202eevil\u202c\u200b\u200d\ufeff\x9b31m\x1bc\r\nsecond\tline\x00\x7f"
)


def _visible_controls(text: str) -> list[str]:
    return [c for c in text if ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F]


def test_terminal_clearing_fake_accepted_line_is_defused() -> None:
    cleaned = clean_text(FAKE_ACCEPTED)
    assert "\x1b" not in cleaned
    assert "[2J" not in cleaned and "]0;" not in cleaned and "31m" not in cleaned
    assert _visible_controls(cleaned) == []
    assert not any(c in cleaned for c in "\u202e\u202c\u200b\u200d\ufeff")
    assert "\n" not in cleaned and "\r" not in cleaned
    # the words stay readable: the reader sees what the module tried to say, on one line
    assert cleaned.startswith("boommechanism check: accepted")
    assert "link" in cleaned and "evil" in cleaned and "second line" in cleaned
    assert cleaned.endswith(CONTROL_REPLACEMENT * 2)


def test_multiline_keeps_newlines_and_tabs_only() -> None:
    cleaned = clean_text("a\r\nb\rc\u2028d\te\x1b[1Af\x0bg", multiline=True)
    assert cleaned == f"a\nb\nc\nd\tef{CONTROL_REPLACEMENT}g"


def test_truncates_with_ellipsis() -> None:
    assert clean_text("x" * 50, max_chars=10) == "x" * 9 + ELLIPSIS
    assert clean_text("short", max_chars=10) == "short"
    assert len(clean_text("\x1b[2J" + "y" * 500, max_chars=80)) == 80


def test_never_raises_on_hostile_values() -> None:
    class Evil:
        def __str__(self) -> str:
            raise RuntimeError("\x1b[2Jno")

    assert clean_text(Evil()) == "<unprintable Evil>"
    assert clean_text(b"\xff\x1b[2Jbytes") == "\ufffdbytes"
    assert clean_text("\ud800lone surrogate") == CONTROL_REPLACEMENT + "lone surrogate"
    assert clean_text(None) == "None"
    assert clean_text(2**1200).startswith("1") or clean_text(2**1200).startswith("<unprintable")
    # unterminated OSC swallows the rest rather than leaking it to the terminal
    assert clean_text("ok\x1b]0;title without end") == "ok"


def test_clean_data_walks_structures_and_is_json_safe() -> None:
    nested: object = "leaf"
    for _ in range(100):
        nested = [nested]
    data = {"reason\x1b[2J": ["\u202eabc", {"k": "\x00v"}], "n": 3, "deep": nested}
    cleaned = clean_data(data)
    assert isinstance(cleaned, dict)
    assert "reason" in cleaned and cleaned["n"] == 3
    assert cleaned["reason"][0] == "abc"
    assert cleaned["reason"][1]["k"] == CONTROL_REPLACEMENT + "v"
    text = json.dumps(cleaned)
    assert "<nested too deep>" in text
