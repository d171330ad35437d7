"""The keys of a trial's progress reports, defined once.

The trainer reports progress dicts while it trains (:mod:`trainer.train`; a user's command
reports fewer keys); the supervisor, the executors, the study loop, pruning, ``bilevel
trial``, ``bilevel study``'s live view and the dashboard's progress file all read them by
these names:

- :data:`PHASE` (``phase``): ``data``, ``training`` or ``eval`` (``running`` for a command).
- :data:`PID` (``pid``): the process that trains (the supervised child).
- :data:`STEP` (``step``), :data:`LOSS` (``loss``, the raw training loss) and
  :data:`TOKENS` (``tokens``, trained so far).
- :data:`ELAPSED` (``elapsed_s``): seconds of timed training so far.
- :data:`FRACTION` (``progress``): the fraction of the budget used, 0..1.
- :data:`SMOOTH_LOSS` (``smooth_loss``): the training loss smoothed over a fixed span of
  the budget and converted to the final metric's units (GPT: nats per token -> bits per
  byte with the evaluation split's bytes per token), so a difference in it reads against
  the study's noise floor, which is measured in that metric.
"""

from __future__ import annotations

PHASE = "phase"
PID = "pid"
STEP = "step"
LOSS = "loss"
TOKENS = "tokens"
ELAPSED = "elapsed_s"
FRACTION = "progress"
SMOOTH_LOSS = "smooth_loss"
