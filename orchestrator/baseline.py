"""A baseline that cannot run stops the study, and a trial's error as one readable line.

The baseline runs the defaults. When even they crash, are invalid or report no metric, the
objective itself is broken (a misspelled script, a target that does not import, no metric
line): every later trial would fail the same way, Level 2 would research on noise and
promote mechanisms for it. So the study stops there, with the cause, before any of that.
"""

from __future__ import annotations

import re

from orchestrator.errors import UserError
from sandbox.text import clean_text
from trainer.spec import TrialResult

# Statuses that say the defaults cannot run at all; oom, diverged and timeout are verdicts on
# a recipe (the search can move away from them), not on the objective.
BROKEN_BASELINE_STATUSES = ("crashed", "invalid")
# Longest cause quoted in the one-line error: the program's own message fits.
MAX_CAUSE_CHARS = 300
# An absolute path in an error: its folders say little and push the message off screen.
_ABSOLUTE_PATH = re.compile(r"(?<![\w.])/(?:[^\s/:'\"]+/)+(?=[^\s/:'\"]+)")


def short_cause(error: str, max_chars: int = MAX_CAUSE_CHARS) -> str:
    """The first line of a trial's error and, when there is more, its last (the exception
    or the program's message), folders of absolute paths dropped, cleaned to one line:
    ``the command exited with code 2: python3: can't open file 'trian.py': ...``."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    if not lines:
        return ""
    cause = lines[0] if len(lines) == 1 else f"{lines[0]}: {lines[-1]}"
    return clean_text(_ABSOLUTE_PATH.sub("", cause), max_chars)


def refuse_broken_baseline(result: TrialResult, kind: str) -> None:
    """A :class:`UserError` when the baseline's result says the objective cannot run."""
    missing_metric = result.status == "ok" and result.value is None
    if result.status not in BROKEN_BASELINE_STATUSES and not missing_metric:
        return
    cause = short_cause(result.error) or ("no metric" if missing_metric else result.status)
    raise UserError(
        f"the baseline trial of objective {kind!r} is {result.status}"
        f"{' without a metric' if missing_metric else ''}: {cause}; nothing else was run "
        "(debug it with: bilevel objective check STUDY.toml)"
    )
