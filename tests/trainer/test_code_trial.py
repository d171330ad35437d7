"""Code trials end to end on the process jail: real training, real scoring, real refusals."""

from __future__ import annotations

import time

import pytest

from tests.trainer.recipe_edits import GOOD_EDIT, code_spec, prepend, replace
from trainer import codetrial
from trainer.codetrial import train_code_trial
from trainer.spec import TrialResult
from trainer.train import train

# One jailed recipe at a time across xdist workers: the fork-bomb test's scan for leftover
# jailed processes must not count another test's jail still running (it cannot tell whose
# a /jail/recipe_child.py process is), and two trainings at once only slow each other.
pytestmark = pytest.mark.xdist_group("recipe-jail")


@pytest.fixture(scope="module")
def jailed_baseline() -> TrialResult:
    result = train_code_trial(code_spec(""))
    assert result.status == "ok", result.error
    return result


def test_the_unchanged_recipe_scores_the_same_jailed_as_in_the_trusted_child(
    jailed_baseline: TrialResult,
) -> None:
    trusted = train(code_spec(None))
    assert trusted.status == "ok", trusted.error
    assert jailed_baseline.steps == trusted.steps == 2
    assert jailed_baseline.tokens == trusted.tokens
    # The harness scores the jail's logits in float64; the trusted path sums torch's nats.
    assert jailed_baseline.val_bpb == pytest.approx(trusted.val_bpb, abs=1e-6)


def test_a_good_edit_improves_val_bpb(jailed_baseline: TrialResult) -> None:
    result = train_code_trial(code_spec(GOOD_EDIT))
    assert result.status == "ok", result.error
    assert result.val_bpb is not None and jailed_baseline.val_bpb is not None
    assert result.val_bpb < jailed_baseline.val_bpb - 0.05


def test_a_patch_that_does_not_apply_is_invalid_before_anything_runs() -> None:
    stale = GOOD_EDIT.replace("UNEMBEDDING_LR", "UNEMBEDDING_LR_OLD", 1)
    started = time.monotonic()
    result = train_code_trial(code_spec(stale))
    assert result.status == "invalid"
    assert "the patch does not apply" in result.error
    assert time.monotonic() - started < 5


def test_the_stdlib_corpus_is_refused_for_code_trials() -> None:
    result = train_code_trial(code_spec("", dataset="stdlib"))
    assert result.status == "invalid"
    assert "'stdlib'" in result.error and "pinned" in result.error


def test_a_crashing_recipe_is_an_ordinary_failed_trial_with_its_cleaned_error() -> None:
    patch = prepend('raise RuntimeError("boom\\x1b[2J from the recipe")')
    result = train_code_trial(code_spec(patch))
    assert result.status == "crashed"
    assert "boom" in result.error and "from the recipe" in result.error
    assert "\x1b" not in result.error


def test_a_broken_interface_is_a_failed_trial() -> None:
    patch = replace("def train_step(", "def renamed_train_step(")
    result = train_code_trial(code_spec(patch))
    assert result.status == "crashed"
    assert "train_step" in result.error


def test_a_hanging_step_times_out_from_outside(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(codetrial, "STEP_TIMEOUT_S", 3.0)
    source_patch = replace(
        "    cfg = recipe.config\n", "    cfg = recipe.config\n    __import__('time').sleep(3600)\n"
    )
    started = time.monotonic()
    result = train_code_trial(code_spec(source_patch))
    assert result.status == "timeout"
    assert "did not answer within 3 s" in result.error
    assert time.monotonic() - started < 60


def test_a_diverging_recipe_ends_as_diverged() -> None:
    patch = replace("    return float(loss_sum) / len(batches)", '    return float("nan")')
    result = train_code_trial(code_spec(patch))
    assert result.status == "diverged"


def test_a_bad_patch_is_invalid_in_the_supervisor_before_any_process_starts() -> None:
    from trainer.supervise import run_supervised

    stale = GOOD_EDIT.replace("UNEMBEDDING_LR", "UNEMBEDDING_LR_OLD", 1)
    started = time.monotonic()
    result = run_supervised(code_spec(stale))
    assert result.status == "invalid"
    assert "the patch does not apply" in result.error
    assert time.monotonic() - started < 2
