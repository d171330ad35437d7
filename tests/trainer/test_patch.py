"""The code trial's proposal: a strict unified diff against the recipe, checked up front."""

from __future__ import annotations

import pytest

from tests.trainer.recipe_edits import GOOD_EDIT, recipe_source, replace
from trainer.patch import MAX_PATCH_BYTES, PatchError, apply_patch, patch_sha256


def test_a_diff_made_from_the_recipe_applies_exactly() -> None:
    edited = apply_patch(recipe_source(), GOOD_EDIT)
    assert "* scale * 10}" in edited
    assert edited.count("\n") == recipe_source().count("\n")


def test_a_stale_diff_is_refused_with_the_line_that_differs() -> None:
    stale = recipe_source().replace("HEAD_INIT_STD = 1e-3", "HEAD_INIT_STD = 5e-3")
    patch = replace("HEAD_INIT_STD = 1e-3", "HEAD_INIT_STD = 2e-3")
    with pytest.raises(PatchError, match="does not match the recipe at line"):
        apply_patch(stale, patch)


def test_a_diff_of_another_file_is_refused() -> None:
    patch = GOOD_EDIT.replace("trainer/recipe.py", "trainer/bpb.py")
    with pytest.raises(PatchError, match=r"may edit only trainer/recipe\.py"):
        apply_patch(recipe_source(), patch)


def test_miscounted_hunks_and_garbage_are_refused() -> None:
    with pytest.raises(PatchError, match="regenerate the diff"):
        apply_patch(
            recipe_source(), GOOD_EDIT.replace("@@ -", "@@ -", 1).replace(",7 +", ",8 +", 1)
        )
    with pytest.raises(PatchError, match="one unified diff"):
        apply_patch(recipe_source(), "rm -rf /\n")


def test_an_oversized_patch_is_refused_before_parsing() -> None:
    huge = GOOD_EDIT + "+#" + "x" * MAX_PATCH_BYTES + "\n"
    with pytest.raises(PatchError, match="over the"):
        apply_patch(recipe_source(), huge)


def test_a_patch_is_named_by_its_content_hash() -> None:
    assert patch_sha256(GOOD_EDIT) == patch_sha256(str(GOOD_EDIT))
    assert patch_sha256(GOOD_EDIT) != patch_sha256(GOOD_EDIT + " ")
    assert len(patch_sha256(GOOD_EDIT)) == 64
