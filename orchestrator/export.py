"""A study's search as an Optuna study, so optuna-dashboard and Optuna's analysis tools
(parameter importances, contour and slice plots) work on our runs.

Read from the journal alone (a finished, running or killed study). Each finished *search*
trial (the baseline and every proposal of Level 1 or a mechanism) becomes one Optuna trial: its
full configuration as parameters, its metric as the value (``COMPLETE``) or no value
(``PRUNED`` for a trial the study stopped early, ``FAIL`` for crashed, diverged,
out-of-memory, timed-out and invalid trials), and user attributes for what Optuna has no field
for: the trial's index, source, the mechanisms that fired, the hypothesis, status, whether it
was kept, and its error; a code trial adds its recipe diff (``patch``) and that diff's
``patch_sha256``. Trials still training are left out (export again when the study ends).

Evaluations that are not search proposals (baseline repeats for the noise floor, final
re-runs on fresh seeds, held-out test scorings) are not Optuna trials: as trials they would
compete for Optuna's best (a test-split score is not a search result). They go into the
``evaluations`` user attribute of the trial whose configuration they re-evaluated (the best
or the baseline), so Optuna's best trial is the search's best.

Distributions come from the study's search space (the study file in ``study_started``),
widened where a journaled value lies outside it (an ``invalid`` trial), so every trial fits.
The direction is the study's metric direction (``val_bpb``: minimise, when a journal names none).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from contract.trials import NON_SEARCH_SOURCES
from orchestrator.dashboard.view import StudyView, TrialView
from orchestrator.errors import UserError
from orchestrator.journal import journal_path, read_records
from orchestrator.metric import Metric
from orchestrator.patches import PATCH_KEY

if TYPE_CHECKING:
    from optuna.distributions import BaseDistribution

# Optuna user attributes hold JSON; long hypotheses and tracebacks are cut to this length.
MAX_ATTR_CHARS = 2000
# The status of a trial that produced its metric; every other finished status is a failure.
OK_STATUS = "ok"
# A trial the study stopped early (orchestrator/pruning.py): Optuna's own PRUNED state.
PRUNED_STATUS = "pruned"


@dataclass(frozen=True)
class ExportResult:
    study_name: str
    trials: int  # search trials written
    skipped_running: int  # trials still training, not written
    direction: str
    metric: str
    evaluations: int = 0  # re-runs and test scorings, attached to the trial they re-ran
    # The search's incumbent, and the search trial with the best raw value (Optuna's best):
    # they differ only where a noise-aware rule did not keep a within-noise "improvement".
    incumbent: int | None = None
    best_value_trial: int | None = None


def export_to_optuna(
    run_dir: Path, storage_url: str, study_name: str | None = None
) -> ExportResult:
    """Write the study in ``run_dir`` into the Optuna storage at ``storage_url``."""
    try:
        import optuna
    except ImportError:
        raise UserError("export needs optuna; install it: pip install optuna") from None
    run_dir = Path(run_dir)
    journal = journal_path(run_dir)
    if not journal.is_file():
        raise UserError(
            f"no {journal.name} in {run_dir}; pass the folder a study wrote (its --out DIR)"
        )
    if "://" not in storage_url:
        raise UserError(
            f"{storage_url!r} is not a storage URL; pass one such as sqlite:///{run_dir}/optuna.db"
        )
    try:
        events = read_records(journal)  # the JSON form: the dashboard's view folds it
    except ValueError as exc:
        raise UserError(
            f"{journal} is damaged ({exc}); export a copy with the line removed"
        ) from None
    view = StudyView(run_dir.name)
    for event in events:
        view.apply(event)
    done = [t for t in view.ordered() if t.status != "running"]
    search = [t for t in done if t.source not in NON_SEARCH_SOURCES]
    evaluations = _evaluations_by_trial(search, [t for t in done if t.source in NON_SEARCH_SOURCES])
    distributions = build_distributions(view.config, search)
    name = study_name or view.study or run_dir.name
    study = _create_study(optuna, storage_url, name, view.metric.direction, run_dir)
    study.set_user_attr("bilevel_run_dir", str(run_dir.resolve()))
    study.set_user_attr("agent", view.agent)
    study.set_user_attr("metric", view.metric.name)
    study.set_user_attr("objective", json.dumps(view.config.get("objective"), default=str))
    best = search_best(search)
    study.set_user_attr("search_best_index", best.index if best else None)
    study.add_trials(
        [_frozen_trial(optuna, t, distributions, evaluations.get(t.index, [])) for t in search]
    )
    if view.best_estimate is not None:  # Optuna's best trial is one draw; this is the mean
        study.set_user_attr("best_estimate", view.best_estimate)
    return ExportResult(
        study_name=name,
        trials=len(search),
        skipped_running=len(view.ordered()) - len(done),
        direction=view.metric.direction,
        metric=view.metric.name,
        evaluations=len(done) - len(search),
        incumbent=best.index if best else None,
        best_value_trial=_best_by_value(search, view.metric),
    )


def _create_study(optuna: Any, storage_url: str, name: str, direction: str, run_dir: Path) -> Any:
    """The new Optuna study; a storage that cannot be opened is one line, never a traceback."""
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    optuna.logging.disable_default_handler()  # its log lines would precede our one line
    try:
        return optuna.create_study(storage=storage_url, study_name=name, direction=direction)
    except optuna.exceptions.DuplicatedStudyError:
        raise UserError(
            f"the storage already holds a study named {name!r}; pass --study-name NEW or delete it"
        ) from None
    except Exception as exc:  # a bad URL, a missing driver, an unwritable file: any of them
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise UserError(
            f"cannot open the Optuna storage {storage_url!r} ({first}); pass a writable URL "
            f"such as sqlite:///{run_dir}/optuna.db"
        ) from None


def search_best(search: list[TrialView]) -> TrialView | None:
    """The search's incumbent: its last kept trial (the one every later trial had to beat)."""
    kept = [t for t in search if t.kept and t.value is not None]
    return kept[-1] if kept else None


def _best_by_value(search: list[TrialView], metric: Metric) -> int | None:
    """The index Optuna will call its best: the first search trial with the best value."""
    best: TrialView | None = None
    for trial in (t for t in search if t.status == OK_STATUS and t.value is not None):
        if best is None or metric.better(trial.value, best.value):
            best = trial
    return best.index if best else None


def _evaluations_by_trial(search: list[TrialView], others: list[TrialView]) -> dict[int, list[Any]]:
    """Each non-search evaluation under the search trial whose configuration it re-ran."""
    out: dict[int, list[Any]] = {}
    best = search_best(search)
    owners = [*([best] if best else []), *reversed(search)]  # the incumbent first
    for trial in others:
        owner = next((t for t in owners if t.config == trial.config), None)
        if owner is None:
            continue
        out.setdefault(owner.index, []).append(
            {
                "index": trial.index,
                "source": trial.source,
                "status": trial.status,
                "value": trial.value,
            }
        )
    return out


def _frozen_trial(
    optuna: Any,
    trial: TrialView,
    distributions: dict[str, BaseDistribution],
    evaluations: list[Any],
) -> Any:
    ok = trial.status == OK_STATUS and trial.value is not None
    states = optuna.trial.TrialState
    state = (
        states.COMPLETE if ok else states.PRUNED if trial.status == PRUNED_STATUS else states.FAIL
    )
    params = {name: _param_value(trial.config.get(name)) for name in distributions}
    attrs: dict[str, Any] = {
        "index": trial.index,
        "source": trial.source,
        "fired": list(trial.fired),
        "status": trial.status,
        "kept": trial.kept,
        "hypothesis": trial.hypothesis[:MAX_ATTR_CHARS],
        "error": trial.error[:MAX_ATTR_CHARS],
        "changes": json.dumps(trial.changes, default=str)[:MAX_ATTR_CHARS],
    }
    if evaluations:  # re-runs on fresh seeds and test scorings of this configuration
        attrs["evaluations"] = evaluations
    if trial.patch_sha256:  # a code trial: its recipe diff (bounded by MAX_PATCH_BYTES)
        attrs["patch_sha256"] = trial.patch_sha256
        attrs["patch"] = trial.patch
    return optuna.trial.create_trial(
        state=state,
        value=trial.value if ok else None,
        params={k: v for k, v in params.items() if k in trial.config},
        distributions={k: d for k, d in distributions.items() if k in trial.config},
        user_attrs=attrs,
    )


def _param_value(value: Any) -> Any:
    """A value Optuna can store: numbers and strings as they are, anything else as JSON."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return json.dumps(value, sort_keys=True)


def build_distributions(
    config: dict[str, Any], trials: list[TrialView]
) -> dict[str, BaseDistribution]:
    """One distribution per parameter: the search space's, widened to every journaled value."""
    from optuna.distributions import CategoricalDistribution

    observed: dict[str, list[Any]] = {}
    for trial in trials:
        for name, value in trial.config.items():
            if name == PATCH_KEY:  # the recipe diff's name: a user attribute, not a parameter
                continue
            observed.setdefault(str(name), []).append(_param_value(value))
    space = _space_params(config)
    out: dict[str, BaseDistribution] = {}
    for name, values in observed.items():
        param = space.get(name)
        numbers = [v for v in values if _is_number(v)]
        if param is not None and param.kind != "choice" and len(numbers) == len(values):
            out[name] = _numeric(param.kind, param.low, param.high, param.log, numbers)
        elif param is None and values and len(numbers) == len(values):
            kind = "int" if all(isinstance(v, int) for v in numbers) else "float"
            out[name] = _numeric(kind, min(numbers), max(numbers), False, numbers)
        else:
            choices = list(param.choices) if param is not None and param.kind == "choice" else []
            choices = [_param_value(c) for c in choices]
            choices += [v for v in dict.fromkeys(values) if v not in choices]
            out[name] = CategoricalDistribution(choices)
    return out


def _numeric(
    kind: str, low: float | None, high: float | None, log: bool, values: list[float]
) -> BaseDistribution:
    from optuna.distributions import FloatDistribution, IntDistribution

    low = min([v for v in (low, *values) if v is not None])
    high = max([v for v in (high, *values) if v is not None])
    log = log and low > 0
    if kind in ("int", "pow2") and all(float(v).is_integer() for v in values):
        return IntDistribution(math.floor(low), math.ceil(high), log=log)
    return FloatDistribution(float(low), float(high), log=log)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _space_params(config: dict[str, Any]) -> dict[str, Any]:
    """The study's search space by name, or {} when the journal's config does not parse."""
    if not config:
        return {}
    try:
        from orchestrator.config import StudyConfig

        space = StudyConfig.model_validate(config).search_space()
    except Exception:  # an old or foreign config: fall back to the observed values
        return {}
    return {p.name: p for p in space.params}
