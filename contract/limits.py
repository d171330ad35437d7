"""The one set of limits on what a mechanism's hooks may return (DESIGN §4.2, §4.3).

Both sides apply them through the one validator of hook output,
:func:`contract.hook_output.output_error`: the contract tests in the sandbox
(:mod:`sandbox.contexts`) and the live host (:mod:`orchestrator.level2.mechanisms.outputs`). A module that passes
the contract tests therefore never has its live output rejected for a limit it was not
tested against, and a module cannot behave only while tested. Over-limit output is
*rejected* on both sides, never silently truncated, so the two verdicts always agree.

Standard library only: this module ships in the sandbox image.
"""

from __future__ import annotations

import math
import re
from typing import Any

# propose: a mechanism adds a handful of ideas per iteration; Level 1 proposes one. More
# than this is a flood that crowds Level 1 out of the screen and the prompt, not a proposal.
MAX_CANDIDATES_PER_CALL = 8
# Level 1's own candidates have priority 0 and the highest-priority survivor runs: a
# bounded range keeps one mechanism from permanently shadowing all others with 1e308, and
# keeps every priority an exactly representable, comparable float (no 2**1200 ints).
PRIORITY_MIN = -100.0
PRIORITY_MAX = 100.0
# Guidance.hint is pasted into the Level-1 prompt: a hint, not a document (the same cap
# as Level 1.5's own guidance, orchestrator/levels/policy.py MAX_GUIDANCE_CHARS).
MAX_HINT_CHARS = 600
# Candidate.rationale becomes the trial's hypothesis (journal, reports, later prompts):
# one or two sentences.
MAX_RATIONALE_CHARS = 300
# Verdict.reason goes into Level 1's "rejected because" feedback: one sentence.
MAX_REASON_CHARS = 300
# Guidance.focus names parameters Level 1 should vary; real spaces have ~10-20 params and a
# focus is a subset of them, so a longer list is not a focus.
MAX_FOCUS_NAMES = 16
# A mechanism's name: a short identifier used in sources ("mechanism:<name>"), file names
# and journal events.
MAX_NAME_CHARS = 64
NAME_PATTERN = re.compile(r"[a-z0-9_]+")


def text_error(what: str, value: Any, max_chars: int) -> str | None:
    """Why ``value`` is not an acceptable output string, or None when it is."""
    if not isinstance(value, str):
        return f"{what} must be a string, not {type(value).__name__}"
    if len(value) > max_chars:
        return f"{what} is {len(value)} characters; keep it to at most {max_chars}"
    return None


def priority_error(what: str, value: Any) -> str | None:
    """Why ``value`` is not an acceptable ``Candidate.priority``, or None when it is.

    Never raises: an int too large for a float is compared as an int (no conversion).
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"{what} must be a number, not {type(value).__name__}"
    if isinstance(value, float) and not math.isfinite(value):
        return f"{what} must be a finite number"
    if not PRIORITY_MIN <= value <= PRIORITY_MAX:
        return f"{what} must be within [{PRIORITY_MIN:g}, {PRIORITY_MAX:g}]"
    return None


def name_error(value: Any) -> str | None:
    """Why ``value`` is not an acceptable mechanism name, or None when it is."""
    if not isinstance(value, str) or not value:
        return "the mechanism's name must be a non-empty string"
    if len(value) > MAX_NAME_CHARS or not NAME_PATTERN.fullmatch(value):
        return (
            f"the mechanism's name must be a lowercase identifier ([a-z0-9_], at most "
            f"{MAX_NAME_CHARS} characters)"
        )
    return None
