"""The built-in agent's recipe-edit library stays in step with the recipe: every edit
applies exactly to today's trainer/recipe.py and leaves valid Python. A change of the
recipe that breaks an edit fails here, not in a study."""

from __future__ import annotations

import ast

import pytest

from orchestrator.agent.recipe_edits import RECIPE_EDITS, RecipeEdit, edit_named
from trainer.patch import MAX_PATCH_BYTES, RECIPE_FILE, apply_patch, check_patch


@pytest.mark.parametrize("edit", RECIPE_EDITS, ids=lambda e: e.name)
def test_each_library_edit_applies_exactly_to_todays_recipe(edit: RecipeEdit) -> None:
    assert check_patch(edit.diff) is None
    source = RECIPE_FILE.read_text(encoding="utf-8")
    patched = apply_patch(source, edit.diff)
    assert patched != source
    ast.parse(patched)
    assert len(edit.diff.encode()) < MAX_PATCH_BYTES


def test_the_library_names_each_edit_once() -> None:
    names = [e.name for e in RECIPE_EDITS]
    assert len(names) == len(set(names)) >= 4
    assert edit_named("mlp-gelu") is RECIPE_EDITS[0]
    with pytest.raises(KeyError, match="known: mlp-gelu"):
        edit_named("nope")
