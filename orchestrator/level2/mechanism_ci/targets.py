"""What `bilevel mechanism check` checks: the module files, and the space they are checked in.

Without ``--study`` a module is checked in a preset's space (the quickstart's by default),
on the ladder's synthetic contexts. With ``--study STUDY.toml`` it is checked the way the
study loop would check it: the space comes from the study's objective and ``[space]`` tables
(``StudyConfig.search_space``, for every objective kind), and the replayed contexts are
made by the study state's own context builder, so they carry the study's metric, direction,
objective wording and, once the study has run, its recent trials.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from contract.space import SearchSpace
from orchestrator.errors import UserError

# The space the contract tests use when none is named: the quickstart's (the parameter
# names are the same in every preset; only ranges differ).
DEFAULT_PRESET = "cpu-tiny"
# A module file of a folder: Python sources; packages' __init__.py files hold no mechanism.
MODULE_SUFFIX = ".py"
SKIPPED_FILES = frozenset({"__init__.py"})


@dataclass
class CheckTarget:
    """The space and live contexts every module of one run is checked against."""

    space: SearchSpace | None  # None: the static gate only (no contract stage)
    replays: list[dict[str, Any]] = field(default_factory=list)
    label: str = ""  # for the summary: "preset cpu-tiny", "study digits (function)"


def module_files(paths: list[Path]) -> list[Path]:
    """Every module to check, in a stable order: files as given, folders walked for
    ``*.py`` (hidden folders, ``__pycache__`` and ``__init__.py`` skipped; links to
    folders are not followed). A missing path or an empty folder is a :class:`UserError`."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = _walk(path)
            if not found:
                raise UserError(
                    f"{path}: no {MODULE_SUFFIX} files in this folder; pass a folder of mechanism modules"
                )
            files += found
        elif path.exists():
            files.append(path)
        else:
            raise UserError(
                f"{path}: no such file or folder; pass mechanism modules or folders of them"
            )
    unique = list(dict.fromkeys(files))  # a file named twice is checked once
    return unique


def _walk(folder: Path) -> list[Path]:
    found: list[Path] = []
    for root, dirs, names in os.walk(folder, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "__pycache__")
        found += [
            Path(root) / n
            for n in sorted(names)
            if n.endswith(MODULE_SUFFIX) and n not in SKIPPED_FILES and not n.startswith(".")
        ]
    return found


def preset_target(preset: str) -> CheckTarget:
    """A preset's space, with no study contexts (the ladder's synthetic ones only)."""
    from trainer.presets import get_preset

    try:
        space = get_preset(preset).space
    except (KeyError, ValueError) as exc:
        raise UserError(f"unknown --preset {preset!r}: {exc}") from None
    return CheckTarget(space=space, label=f"preset {preset}")


def study_target(study_file: Path, run_dir: Path | None = None) -> CheckTarget:
    """The study's space and contexts, built as the study loop builds them.

    The contexts are the study's recent live ones when it has a journal (``run_dir``, or the
    newest ``runs/<name>`` as ``bilevel study`` would pick it), else the context of its
    first trial: the study's metric, direction and objective with an empty history.
    """
    from orchestrator.config import StudyConfig
    from orchestrator.level2.research.replays import recent_contexts
    from orchestrator.state import StudyState

    config = StudyConfig.load(study_file)
    state = _journal_state(config, run_dir)
    if state is None:
        state = StudyState(config=config)
    iteration = state.next_index()
    replays = recent_contexts(state, iteration) or [state.context_json(iteration)]
    trials = len(state.finished_trials())
    where = f", {trials} journaled trials" if trials else ""
    return CheckTarget(
        space=config.search_space(),
        replays=replays,
        label=f"study {config.name} ({config.objective.kind} objective{where})",
    )


def _journal_state(config: Any, run_dir: Path | None) -> Any:
    """The state of the study's journal, or None when it has not run yet."""
    from orchestrator.commands.study import default_run_dir
    from orchestrator.journal import journal_path, read_events
    from orchestrator.state import rebuild_state

    if run_dir is not None:
        path = journal_path(run_dir, must_exist=True)
    else:
        path = journal_path(default_run_dir(config.name, resume=True))
        if not path.exists():
            return None
    return rebuild_state(config, read_events(path))
