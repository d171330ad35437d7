"""`bilevel trial --patch FILE.diff`: a code trial from the command line."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.security.recipe_payloads import LOOKAHEAD
from tests.trainer.recipe_edits import GOOD_EDIT, SEED, TOKENS

TRIAL_ARGS = ["trial", "--budget-tokens", str(TOKENS), "--seed", str(SEED), "--device", "cpu"]


def test_a_patch_that_does_not_apply_is_one_line_and_exit_2(
    bilevel_cli: list[str], tmp_path: Path
) -> None:
    stale = tmp_path / "stale.diff"
    stale.write_text(GOOD_EDIT.replace("UNEMBEDDING_LR", "OLD_NAME", 1), encoding="utf-8")
    proc = subprocess.run(
        [*bilevel_cli, *TRIAL_ARGS, "--patch", str(stale)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --patch ")
    assert "does not match the recipe" in lines[0]


def test_a_lookahead_patch_is_refused_with_the_probe_reason_and_exit_1(
    bilevel_cli: list[str], tmp_path: Path
) -> None:
    patch = tmp_path / "lookahead.diff"
    patch.write_text(LOOKAHEAD, encoding="utf-8")
    proc = subprocess.run(
        [*bilevel_cli, *TRIAL_ARGS, "--patch", str(patch)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 1, proc.stderr
    assert "status:         invalid" in proc.stdout
    assert "causality probe refused the recipe" in proc.stdout
    assert "patch_sha256:" in proc.stdout
