"""Mechanism CI: `bilevel mechanism check` over files and folders, with CI reports.

- :mod:`.targets`: which files to check, and against what (a preset or a study's space and
  live contexts);
- :mod:`.checks`: the checks themselves, in parallel, each one a :class:`.checks.FileResult`;
- :mod:`.formats`: what CI systems read (JUnit XML, GitHub annotations, JSON lines) and the
  one-screen summary table.
"""
