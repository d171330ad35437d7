"""The README a newcomer follows: its links lead somewhere, and every BILEVEL_* variable it or
.env.example documents has a reader (code, compose file or deploy script), not only a line
of documentation. The Python-read ones have behaviour tests of their own
(tests/orchestrator/test_env_vars.py, tests/dashboard/test_ports_and_states.py)."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
# Where a documented variable may be read: the packages, the compose files, the deploy and
# image scripts, the Makefile, the test suite's own switches.
READERS = ("orchestrator", "trainer", "sandbox", "deploy", "images")
READER_FILES = (
    "compose.yaml",
    "compose.cpu.yaml",
    "compose.test.yaml",
    "Makefile",
    "tests/conftest.py",
)


def _slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def test_readme_links_resolve() -> None:
    text = README.read_text()
    anchors = {_slug(h) for h in re.findall(r"^#{1,4} (.+)$", text, flags=re.M)}
    for target in re.findall(r"\]\(#([^)]+)\)", text):
        assert target in anchors, f"README links to #{target}, which no heading makes"
    for target in re.findall(r"\]\(((?:docs|examples|studies)/[^)#]+)", text):
        assert (REPO / target).exists(), f"README links to {target}, which does not exist"


def test_every_documented_variable_has_a_reader() -> None:
    documented = set(re.findall(r"BILEVEL_[A-Z_]+[A-Z]", README.read_text()))
    documented |= set(re.findall(r"^(BILEVEL_[A-Z_]+)=", (REPO / ".env.example").read_text(), re.M))
    sources = [p for folder in READERS for p in (REPO / folder).rglob("*") if p.is_file()]
    sources += [REPO / name for name in READER_FILES]
    code = "\n".join(
        p.read_text(errors="replace") for p in sources if p.suffix in ("", ".py", ".sh", ".yaml")
    )
    unread = sorted(v for v in documented if v not in code)
    assert not unread, f"documented but read nowhere: {unread}"


def test_first_fifteen_minutes_follows_quick_start() -> None:
    headings = re.findall(r"^## (.+)$", README.read_text(), flags=re.M)
    assert headings.index("First 15 minutes") == headings.index("Quick start") + 1
