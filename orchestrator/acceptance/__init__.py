"""Acceptance: when a trial becomes the incumbent, and how good the incumbent really is.

- :mod:`.noise` — the noise model: paired-difference noise pooled from every repeat.
- :mod:`.race` — the sequential keep decision (SMAC-style intensification).
- :mod:`.judge` — both applied to a study's state, the honest reported best, and
  :func:`~orchestrator.acceptance.judge.keep_rule_text` for prompts.
- :mod:`.tdist` — Student's t quantiles from the standard library.
"""
