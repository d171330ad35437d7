"""Code trials in a study: a proposal's recipe diff, checked, stored by content hash, named
in the trial's config.

A code trial's diff (a unified diff of ``trainer/recipe.py``, :mod:`trainer.patch`) is
written once to ``runs/<study>/patches/<sha256>.diff`` and never changed; the journal's
``trial_proposed`` event names it by ``patch_sha256``, as promoted mechanisms are named by
theirs (:mod:`orchestrator.level2.mechanisms.store`).

Inside the loop a trial's recipe is part of its identity: its config carries the diff's
sha256 under :data:`PATCH_KEY`. So everything that compares configs (the exact-repeat
check, the pooling of evaluations by the acceptance rule, the re-runs of the incumbent)
tells two recipes apart with no code of its own, and a hyperparameter move on a code
incumbent keeps its recipe, as it keeps its other values. The key never reaches the
trainer: :func:`split_config` takes it out of the spec's config and resolves the diff.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from trainer.patch import check_patch, patch_sha256

PATCHES_DIRNAME = "patches"
# The config entry naming a trial's recipe diff (lower case: no hyperparameter is spelled so,
# and a reader of a config sees at once that it is not one).
PATCH_KEY = "recipe_patch"
# Characters of the sha shown where a short name does (prompts, tables); the journal and
# the export keep all 64.
SHORT_SHA = 12


class PatchStoreError(ValueError):
    """A stored diff is missing, or its text no longer matches its sha256."""


def patch_refusal(patch: str) -> str | None:
    """Why ``patch`` cannot run as a code trial against today's recipe, or None: it must
    apply exactly and stay under the size limit (:func:`trainer.patch.check_patch`)."""
    if not patch.strip():
        return "the patch is empty: send a unified diff of trainer/recipe.py, or no patch"
    return check_patch(patch)


def store_patch(run_dir: Path, patch: str) -> str:
    """Write ``patch`` at its content address (idempotent, atomic) and return its sha256."""
    sha = patch_sha256(patch)
    path = Path(run_dir) / PATCHES_DIRNAME / f"{sha}.diff"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(patch.encode("utf-8"))  # bytes: the text must hash the same back
        tmp.replace(path)
    return sha


def is_sha256(text: str) -> bool:
    """Whether ``text`` is a sha256 hex digest as :func:`patch_sha256` writes it (and so a
    safe file-name stem)."""
    return len(text) == 64 and all(c in "0123456789abcdef" for c in text)


def load_patch(run_dir: Path, sha: str) -> str:
    """The stored diff named ``sha``, checked against it."""
    if not is_sha256(sha):
        raise PatchStoreError(f"{sha!r} is not a sha256 hex digest")
    path = Path(run_dir) / PATCHES_DIRNAME / f"{sha}.diff"
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise PatchStoreError(f"the recipe diff {sha[:SHORT_SHA]} is missing: {path}") from None
    if patch_sha256(text) != sha:
        raise PatchStoreError(f"{path} was modified after it was journaled (sha mismatch)")
    return text


def patch_sha_of(config: Mapping[str, object]) -> str | None:
    """The sha256 of the recipe diff a trial's config names, or None (the recipe as is)."""
    sha = config.get(PATCH_KEY)
    return sha if isinstance(sha, str) and sha else None


def with_patch(config: Mapping[str, object], sha: str | None) -> dict[str, object]:
    """``config`` naming the diff ``sha`` (None: the recipe as is)."""
    out = {k: v for k, v in config.items() if k != PATCH_KEY}
    if sha:
        out[PATCH_KEY] = sha
    return out


def split_config(
    config: Mapping[str, object], patches: Mapping[str, str]
) -> tuple[dict[str, object], str | None]:
    """The hyperparameters a trainer takes, and the diff text the config names (None when
    it names none). A sha without its text is a bug of the caller: every diff is loaded
    before a trial that names it is dispatched."""
    sha = patch_sha_of(config)
    params = {k: v for k, v in config.items() if k != PATCH_KEY}
    if sha is None:
        return params, None
    if sha not in patches:
        raise PatchStoreError(f"the recipe diff {sha[:SHORT_SHA]} was never loaded")
    return params, patches[sha]
