"""A code trial: a patched recipe trained and scored by the trusted harness, the recipe jailed.

:func:`train_code_trial` runs in the trusted training child (:mod:`trainer.child`), never
in the worker's process, and starts three jails (:mod:`trainer.jailrun`), each a fresh
process that sees only what is sent to it:

1. **train**: the patched recipe builds its model; the harness samples every batch from
   the training split (the only split it sends), counts the tokens and times each step
   from outside; at the end the jail writes a ``state_dict`` to its scratch directory.
2. **score**: a fresh jail loads those weights (``weights_only``) into the recipe's model
   and returns logits for the validation inputs; the harness holds the targets and
   computes the loss and ``val_bpb`` itself.
3. **probe**: another fresh jail returns logits for copies of some validation rows whose
   tokens from a random position on are replaced. Position ``t``'s logits may depend on
   tokens ``<= t`` only, so the logits before the cut must equal the score jail's for the
   real rows; a recipe that looks ahead is ``invalid``, never scored. The probe runs in a
   process that never sees the real rows, so a model cannot replay what it saw.

A patch that does not apply is ``invalid`` before anything starts; a crash, a broken
protocol, a timeout or a divergence is an ordinary failed trial with the cleaned error.
"""

from __future__ import annotations

import importlib.util
import math
import os
import queue
import shutil
import stat
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from contract.progress import FRACTION, LOSS, PHASE, PID, STEP, TOKENS
from trainer import datasets
from trainer.bpb import bits_per_byte
from trainer.data import BatchSampler, load_tokens, validation_windows
from trainer.jail import JailUnavailable, Mounts, work_dir
from trainer.jailrun import JailedRecipe, JailError
from trainer.patch import RECIPE_FILE, PatchError, apply_patch
from trainer.presets import get_preset
from trainer.progress import CurveRecorder
from trainer.spec import TrialResult, TrialSpec
from trainer.train import (
    DEFAULT_CPU_THREADS,
    THREADS_ENV,
    Diverged,
    DivergenceGuard,
    ProgressCallback,
)

# Starting the jail, importing torch and building the model: generous for a cold disk.
STARTUP_TIMEOUT_S = 180.0
# One optimiser step of a tokens budget (the GPU presets take about a second).
STEP_TIMEOUT_S = 120.0
# A seconds budget waits this long for the step in flight when the budget runs out.
STEP_GRACE_S = 30.0
# Writing the weights, or the logits of one evaluation batch.
IO_TIMEOUT_S = 120.0
# The largest weights file the harness copies out of the jail (the GPU presets fit).
MAX_WEIGHTS_BYTES = 2 << 30
# Bytes of float32 logits per request: a few rows of the GPU presets (vocab 8192, 2048
# tokens: 64 MiB a row), hundreds of cpu-tiny's; the harness never holds them all at once.
EVAL_LOGITS_BYTES = 64 << 20
# Rows the causality probe perturbs, and how far a logit may move before it counts as
# looking ahead (float32 forward passes of different batch shapes differ by ~1e-6).
PROBE_ROWS = 4
PROBE_TOLERANCE = 1e-3


# The stdlib corpus is the interpreter's own library, which the jail must be able to read:
# a recipe could rebuild the validation split from it, so code trials refuse that data set.
STDLIB_REFUSAL = (
    "code trials cannot use the 'stdlib' data set: its files are the jailed interpreter's own "
    "library, so the recipe could read the validation split; use 'pinned', 'text:PATH' or "
    "'climbmix'"
)


def _pinned_dirs() -> tuple[Path, ...]:
    """The installed directories of the 'pinned' corpus's packages, hidden from the jail."""
    found = []
    for package in datasets.PINNED_PACKAGES:
        spec = importlib.util.find_spec(package)
        for location in (spec.submodule_search_locations or []) if spec else []:
            found.append(Path(location).resolve())
    return tuple(found)


def _threads() -> int:
    return int(os.environ.get(THREADS_ENV) or DEFAULT_CPU_THREADS)


def _header(spec: TrialSpec, mode: str, vocab: int, seq_len: int) -> dict[str, Any]:
    return {
        "mode": mode,
        "config": spec.config,
        "vocab_size": vocab,
        "seq_len": seq_len,
        "seed": spec.seed,
        "threads": _threads(),
        "device": "cuda" if _gpu(spec) is not None else "cpu",
    }


def _gpu(spec: TrialSpec) -> str | None:
    """The GPU this trial's jails may use: the first this worker was given
    (``CUDA_VISIBLE_DEVICES``, else GPU 0) when the spec wants CUDA, else none."""
    preset = get_preset(spec.preset)
    if spec.device == "cpu" or (spec.device == "auto" and preset.device != "cuda"):
        return None
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "0").split(",")[0].strip()
    return visible or None


def _copy_weights(scratch: Path, weights_dir: Path) -> None:
    """Copy ``weights.pt`` out of the jail's scratch without following a link it planted."""
    fd = os.open(scratch / "weights.pt", os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as src:
        info = os.fstat(src.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_WEIGHTS_BYTES:
            raise JailError("crashed", "the recipe's weights file is not a regular file in bounds")
        with open(weights_dir / "weights.pt", "wb") as dst:
            shutil.copyfileobj(src, dst)
    os.chmod(weights_dir / "weights.pt", 0o644)


def _nats(logits: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Cross-entropy of each target under float logits, in float64, computed here."""
    z = logits.astype(np.float64)
    top = z.max(axis=-1, keepdims=True)
    log_norm = np.log(np.exp(z - top).sum(axis=-1)) + top[..., 0]
    picked = np.take_along_axis(z, targets[..., None], axis=-1)[..., 0]
    return log_norm - picked


def _logits(jail: JailedRecipe, rows: np.ndarray, vocab: int) -> np.ndarray:
    _, out = jail.ask({"op": "logits"}, np.ascontiguousarray(rows), IO_TIMEOUT_S)
    if out is None or out.shape != (*rows.shape, vocab) or out.dtype != np.float32:
        shape = None if out is None else out.shape
        raise JailError(
            "invalid",
            f"the recipe's model returned logits of shape {shape}, not {(*rows.shape, vocab)}",
        )
    return out


def _score(
    jail: JailedRecipe, rows: np.ndarray, token_bytes: np.ndarray, vocab: int
) -> tuple[tuple[float, int], np.ndarray]:
    """(Σ nats, Σ bytes) over the validation targets, scored here batch by batch from the
    jail's logits, and the logits of the first ``PROBE_ROWS`` rows (for the probe)."""
    per_request = max(1, EVAL_LOGITS_BYTES // (4 * (rows.shape[1] - 1) * vocab))
    lengths = np.asarray(token_bytes)
    total_nats, total_bytes, kept = 0.0, 0, []
    for start in range(0, len(rows), per_request):
        batch = rows[start : start + per_request]
        logits = _logits(jail, batch[:, :-1], vocab)
        targets = batch[:, 1:]
        nbytes = lengths[targets]
        counted = nbytes > 0
        total_nats += float(_nats(logits, targets)[counted].sum())
        total_bytes += int(nbytes[counted].sum())
        if start < PROBE_ROWS:
            kept.append(logits[: PROBE_ROWS - start])
    return (total_nats, total_bytes), np.concatenate(kept)


def _probe_rows(rows: np.ndarray, vocab: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Perturbed copies of the first rows and each one's cut (the first changed position)."""
    rng = np.random.default_rng(seed)
    probe = rows[:PROBE_ROWS].copy()
    cuts = rng.integers(1, probe.shape[1], size=len(probe))
    for row, cut in zip(probe, cuts, strict=True):
        shift = rng.integers(1, vocab, size=len(row) - cut)
        row[cut:] = (row[cut:] + shift) % vocab  # every token after the cut changes
    return probe, cuts


def train_code_trial(spec: TrialSpec, on_progress: ProgressCallback | None = None) -> TrialResult:
    """Train and score ``spec`` (whose ``patch`` edits the recipe) in jails; always a result."""
    report = on_progress or (lambda _info: None)
    preset = get_preset(spec.preset)
    source = RECIPE_FILE.read_text(encoding="utf-8")
    try:
        source = apply_patch(source, spec.patch) if spec.patch else source
    except PatchError as exc:
        return TrialResult.failed(spec, "invalid", f"the patch does not apply: {exc}")
    dataset = datasets.resolve(spec.dataset)
    if dataset.kind == "stdlib":
        return TrialResult.failed(spec, "invalid", STDLIB_REFUSAL)
    report({PHASE: "data", PID: os.getpid()})
    data = load_tokens(dataset, preset.tokenizer, preset.vocab_size)
    hidden = _pinned_dirs() if dataset.kind == "pinned" else ()
    measured: dict[str, Any] = {"data_fingerprint": data.fingerprint, "hardware": "jailed recipe"}
    eval_tokens = data.test if spec.eval_split == "test" else data.val
    val_rows = validation_windows(eval_tokens, preset.seq_len, preset.eval_tokens)
    try:
        parent = work_dir()  # the jail volume of a containerised worker, else /tmp
    except (JailUnavailable, OSError) as exc:
        return TrialResult.failed(spec, "invalid", f"no jail work directory: {exc}", **measured)
    with tempfile.TemporaryDirectory(prefix="bilevel-code-trial-", dir=parent) as work:
        root = Path(work)
        recipe_dir, weights_dir, empty = root / "recipe", root / "weights", root / "empty"
        scratch, score_scratch, probe_scratch = root / "train", root / "score", root / "probe"
        for folder in (recipe_dir, weights_dir, empty, scratch, score_scratch, probe_scratch):
            folder.mkdir()
            folder.chmod(0o755)
        for folder in (scratch, score_scratch, probe_scratch):
            folder.chmod(0o777)  # the jail writes as nobody
        (recipe_dir / "recipe.py").write_text(source, encoding="utf-8")
        (recipe_dir / "recipe.py").chmod(0o644)
        counted: dict[str, Any] = {"steps": 0, "tokens": 0, "train_seconds": 0.0}
        try:
            curve = _train(
                spec,
                preset,
                data.train,
                Mounts(recipe_dir, scratch, None, hidden, empty),
                counted,
                report,
            )
            _copy_weights(scratch, weights_dir)
            report({PHASE: "eval", PID: os.getpid(), FRACTION: 1.0})
            header = _header(spec, "logits", preset.vocab_size, preset.seq_len)
            score_mounts = Mounts(recipe_dir, score_scratch, weights_dir, hidden, empty)
            with JailedRecipe(score_mounts, header, gpu=_gpu(spec)) as jail:
                _wait_ready(jail)
                sums, real = _score(jail, val_rows, data.token_bytes, preset.vocab_size)
            probe, cuts = _probe_rows(val_rows[:, :-1], preset.vocab_size, spec.seed)
            probe_mounts = Mounts(recipe_dir, probe_scratch, weights_dir, hidden, empty)
            with JailedRecipe(probe_mounts, header, gpu=_gpu(spec)) as jail:
                _wait_ready(jail)
                probed = _logits(jail, probe, preset.vocab_size)
        except JailUnavailable as exc:
            return TrialResult.failed(spec, "invalid", str(exc), **measured)
        except Diverged as exc:
            return TrialResult.failed(spec, "diverged", str(exc), **counted, **measured)
        except JailError as exc:
            return TrialResult.failed(spec, exc.kind, str(exc), **counted, **measured)
        except (FileNotFoundError, OSError) as exc:
            return TrialResult.failed(
                spec, "crashed", f"the recipe left no weights: {exc}", **counted, **measured
            )
    for i, cut in enumerate(cuts):
        moved = float(np.abs(real[i, :cut] - probed[i, :cut]).max())
        if not moved <= PROBE_TOLERANCE:
            return TrialResult.failed(
                spec,
                "invalid",
                f"the causality probe refused the recipe: the logits at positions before {cut} "
                f"changed by {moved:.3g} when only later tokens changed (the model looks ahead)",
                **counted,
                **measured,
            )
    val_bpb = bits_per_byte(*sums)
    if not math.isfinite(val_bpb):
        return TrialResult.failed(spec, "diverged", f"val_bpb is {val_bpb}", **counted, **measured)
    seconds = counted["train_seconds"]
    return TrialResult(
        status="ok",
        val_bpb=val_bpb,
        tokens_per_s=counted["tokens"] / seconds if seconds > 0 else 0.0,
        curve=curve,
        spec=spec,
        **counted,
        **measured,
    )


def _wait_ready(jail: JailedRecipe) -> None:
    try:
        answer = jail.answers.get(timeout=STARTUP_TIMEOUT_S)
    except queue.Empty:
        jail.kill()
        raise JailError(
            "timeout", f"the recipe did not start in {STARTUP_TIMEOUT_S:.0f} s"
        ) from None
    if isinstance(answer, Exception):
        jail.kill()
        raise JailError("crashed", f"the recipe failed to start\n{jail.stderr_tail()}".strip())
    if answer[0].get("ready") is not True:
        jail.kill()
        raise JailError("crashed", "the recipe process broke the protocol at start-up")


def _train(
    spec: TrialSpec,
    preset: Any,
    train_tokens: np.ndarray,
    mounts: Mounts,
    counted: dict[str, Any],
    report: ProgressCallback,
) -> list[list[float]]:
    """Feed the training jail its batches until the budget is spent; ask it to save."""
    cfg = spec.config
    device_batch, total_batch = int(cfg["DEVICE_BATCH_SIZE"]), int(cfg["TOTAL_BATCH_SIZE"])
    accum_steps = total_batch // (device_batch * preset.seq_len)
    sampler = BatchSampler(train_tokens, preset.seq_len, device_batch, spec.seed)
    token_steps = math.ceil(spec.budget.amount / total_batch) if spec.budget.mode == "tokens" else 0
    guard = DivergenceGuard(preset.vocab_size)
    recorder = CurveRecorder(1.0 / math.log(2))  # nats per token -> bits (scale only)

    def progress() -> float:
        if spec.budget.mode == "tokens":
            return counted["steps"] / token_steps
        return counted["train_seconds"] / spec.budget.amount

    header = _header(spec, "train", preset.vocab_size, preset.seq_len)
    with JailedRecipe(mounts, header, gpu=_gpu(spec)) as jail:
        _wait_ready(jail)
        while progress() < 1.0:
            batch = np.stack(
                [
                    np.concatenate([x, y[:, -1:]], axis=1)
                    for x, y in (sampler.next() for _ in range(accum_steps))
                ]
            )
            if spec.budget.mode == "seconds":
                timeout = spec.budget.amount - counted["train_seconds"] + STEP_GRACE_S
            else:
                timeout = STEP_TIMEOUT_S
            started = time.perf_counter()
            answer, _ = jail.ask({"op": "step", "progress": progress()}, batch, timeout)
            counted["train_seconds"] += time.perf_counter() - started
            counted["steps"] += 1
            counted["tokens"] += total_batch
            loss = answer.get("loss")
            if not isinstance(loss, (int, float)):
                raise JailError("invalid", "train_step must return a number (the mean loss)")
            guard.update(float(loss), counted["steps"])
            recorder.update(min(1.0, progress()), float(loss))
            report({PHASE: "training", PID: os.getpid(), STEP: counted["steps"], LOSS: float(loss),
                    TOKENS: counted["tokens"], FRACTION: recorder.fraction})  # fmt: skip
        answer, _ = jail.ask({"op": "save"}, None, IO_TIMEOUT_S)
        if answer.get("saved") is not True:
            raise JailError("crashed", "the recipe process did not save its weights")
    return recorder.curve()
