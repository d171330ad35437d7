"""Recipe edits as unified diffs, made from the current recipe so they always apply."""

from __future__ import annotations

import difflib
from pathlib import Path

from trainer.presets import get_preset
from trainer.spec import Budget, TrialSpec

RECIPE = Path(__file__).resolve().parents[2] / "trainer" / "recipe.py"


def recipe_source() -> str:
    return RECIPE.read_text(encoding="utf-8")


def diff_of(new_source: str) -> str:
    """The unified diff that turns the recipe into ``new_source``."""
    old = recipe_source()
    return "".join(
        difflib.unified_diff(
            old.splitlines(keepends=True),
            new_source.splitlines(keepends=True),
            "a/trainer/recipe.py",
            "b/trainer/recipe.py",
        )
    )


def replace(old: str, new: str) -> str:
    """A diff replacing the one occurrence of ``old`` in the recipe with ``new``."""
    source = recipe_source()
    assert source.count(old) == 1, f"{old!r} is not unique in the recipe"
    return diff_of(source.replace(old, new))


def prepend(code: str) -> str:
    """A diff adding ``code`` right after the recipe's imports (it runs when it loads)."""
    anchor = "from torch import Tensor, nn\n"
    return replace(anchor, anchor + "\n" + code.strip() + "\n")


# A known-good edit at a tiny budget: the output head learns 10x faster, so the first few
# steps already move the loss below the uniform guess.
GOOD_EDIT = replace(
    '"lr": float(config["UNEMBEDDING_LR"]) * scale}',
    '"lr": float(config["UNEMBEDDING_LR"]) * scale * 10}',
)


# Two optimiser steps of cpu-tiny on the pinned corpus: seconds per trial, and enough for
# an edit's effect to show. A fixed seed makes every number here reproducible.
TOKENS = 2 * 8192
SEED = 3


def code_spec(patch: str | None, **fields: object) -> TrialSpec:
    """A cpu-tiny code trial of ``patch`` (``""``: the recipe unchanged, still jailed)."""
    values: dict[str, object] = {
        "trial_id": "code-trial",
        "index": 0,
        "preset": "cpu-tiny",
        "dataset": "pinned",
        "budget": Budget(mode="tokens", amount=TOKENS),
        "config": get_preset("cpu-tiny").space.defaults(),
        "seed": SEED,
        "device": "cpu",
        "patch": patch,
    }
    return TrialSpec.model_validate({**values, **fields})
