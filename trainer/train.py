"""One budgeted training run, in the current process: data, model, loop, evaluation.

:func:`train` is what the supervised child process runs (see :mod:`trainer.supervise`); it
never needs to be called directly. It returns a :class:`TrialResult` for every outcome it
can classify itself (``ok``, ``diverged``, ``oom``, ``invalid``) and lets anything else
propagate, which the child turns into ``crashed`` with the traceback tail.

The clock of a ``seconds`` budget runs only around training steps: data loading,
tokenization, model construction, compilation warm-up and evaluation are outside it.
"""

from __future__ import annotations

import contextlib
import math
import os
import platform
import random
import resource
import time
from collections.abc import Callable
from typing import Any, TypedDict

import numpy as np
import torch
from torch import Tensor

from contract.progress import ELAPSED, FRACTION, LOSS, PHASE, PID, SMOOTH_LOSS, STEP, TOKENS
from trainer import datasets
from trainer import recipe as trusted_recipe
from trainer.bpb import evaluate_bpb
from trainer.data import BatchSampler, load_tokens, validation_windows
from trainer.objective import check_spec
from trainer.presets import Preset, get_preset
from trainer.progress import CurveRecorder
from trainer.spec import TrialResult, TrialSpec

ProgressCallback = Callable[[dict[str, Any]], None]

# A smoothed loss this many times the uniform guess (ln vocab) after the grace steps means
# the run diverged: with the logit soft-cap and the norms the loss stays finite, so NaN
# alone would miss most divergences, and a model worse than guessing never recovers in time.
DIVERGENCE_FACTOR = 1.15
DIVERGENCE_GRACE_STEPS = 8
# Weight of the newest step in the smoothed loss: rides out one-step spikes early on.
LOSS_EMA_WEIGHT = 0.3
# Seconds between progress reports: often enough for a live bar, rare enough to be free.
PROGRESS_INTERVAL_S = 0.25
# Steps whose time is not charged to a `seconds` budget when compiling on CUDA: the first
# steps trigger compilation and autotuning, which the budget excludes (autoresearch).
COMPILE_UNTIMED_STEPS = 2
THREADS_ENV = "BILEVEL_TORCH_THREADS"
# CPU threads per trial unless BILEVEL_TORCH_THREADS says otherwise. The CPU preset's
# matmuls are too small to split: on 2 cores one thread ran 32k tokens/s and two 26k, and
# with other load on the machine two threads collapsed to 2.6k (OpenMP threads waiting on
# each other). One thread per trial also lets trials run side by side.
DEFAULT_CPU_THREADS = 1
# Dense bf16 peak FLOP/s by GPU name, for MFU; an unknown GPU reports no MFU.
PEAK_BF16_FLOPS = {
    "H200": 989e12,
    "H100": 989e12,
    "A100": 312e12,
    "L40S": 362e12,
    "RTX 5090": 209e12,
    "RTX 4090": 165e12,
    "A10G": 70e12,
}


class Diverged(Exception):
    """The loss became non-finite or exploded; the trial ends early as ``diverged``."""


class DivergenceGuard:
    """Raises :class:`Diverged` on a non-finite loss at once, or on a smoothed loss above
    ``DIVERGENCE_FACTOR x ln(vocab)`` once the grace steps are over."""

    def __init__(self, vocab_size: int) -> None:
        self.vocab_size = vocab_size
        self.threshold = DIVERGENCE_FACTOR * math.log(vocab_size)
        self.smoothed = float("nan")

    def update(self, loss: float, step: int) -> None:
        if not math.isfinite(loss):
            raise Diverged(f"loss is {loss} at step {step}")
        first = step == 1 or not math.isfinite(self.smoothed)
        self.smoothed = loss if first else self.smoothed + LOSS_EMA_WEIGHT * (loss - self.smoothed)
        if step >= DIVERGENCE_GRACE_STEPS and self.smoothed > self.threshold:
            raise Diverged(
                f"smoothed loss {self.smoothed:.3f} at step {step} is worse than guessing "
                f"(threshold {self.threshold:.3f} = {DIVERGENCE_FACTOR} x ln {self.vocab_size})"
            )


def pick_device(spec: TrialSpec, preset: Preset) -> torch.device | str:
    """The device to train on, or the reason (a str) this spec cannot run here."""
    wants_cuda = spec.device == "cuda" or preset.device == "cuda"
    if wants_cuda and not torch.cuda.is_available():
        return f"preset {preset.name!r} / device {spec.device!r} needs CUDA, and no CUDA GPU is available"
    if wants_cuda or (spec.device == "auto" and torch.cuda.is_available()):
        return torch.device("cuda")
    return torch.device("cpu")


def hardware_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    model = platform.processor() or platform.machine()
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{model} ({torch.get_num_threads()} threads)"


def peak_flops(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((flops for key, flops in PEAK_BF16_FLOPS.items() if key in name), None)


def peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def software_fingerprint(device: torch.device) -> dict[str, str]:
    """What else decides the number besides spec and data: a result is reproducible on the
    same values of these (CPU float sums depend on the thread count)."""
    return {
        "torch": torch.__version__,
        "threads": str(torch.get_num_threads()),
        "device": device.type,
        "python": platform.python_version(),
    }


def to_device(pair: tuple[np.ndarray, np.ndarray], device: torch.device) -> tuple[Tensor, Tensor]:
    x, y = pair
    return (
        torch.from_numpy(x).to(device, non_blocking=True),
        torch.from_numpy(y).to(device, non_blocking=True),
    )


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class Measured(TypedDict):
    """What a result records about the data and software it was measured on."""

    data_fingerprint: str
    software: dict[str, str]


def configure_threads(device: torch.device) -> None:
    wanted = os.environ.get(THREADS_ENV)
    if wanted:
        torch.set_num_threads(int(wanted))
    elif device.type == "cpu":
        torch.set_num_threads(DEFAULT_CPU_THREADS)


def train(spec: TrialSpec, on_progress: ProgressCallback | None = None) -> TrialResult:
    """Run one trial to completion in this process and return its result."""
    report = on_progress or (lambda _info: None)
    preset = get_preset(spec.preset)
    errors = check_spec(spec)
    device = pick_device(spec, preset)
    if isinstance(device, str):
        errors.append(device)
    if errors or isinstance(device, str):
        return TrialResult.failed(spec, "invalid", "; ".join(errors))
    configure_threads(device)
    seed_everything(spec.seed)
    hardware = hardware_name(device)
    report({PHASE: "data", PID: os.getpid()})
    data = load_tokens(datasets.resolve(spec.dataset), preset.tokenizer, preset.vocab_size)
    measured: Measured = {
        "data_fingerprint": data.fingerprint,
        "software": software_fingerprint(device),
    }
    eval_tokens = data.test if spec.eval_split == "test" else data.val
    if len(eval_tokens) <= preset.seq_len:
        return TrialResult.failed(
            spec,
            "invalid",
            f"data set {spec.dataset!r} has no {spec.eval_split} split to score on",
            **measured,
        )
    val_rows = validation_windows(eval_tokens, preset.seq_len, preset.eval_tokens)

    cfg = spec.config
    if device.type == "cuda":
        torch.set_float32_matmul_precision("high")  # TF32 for the few fp32 matmuls left
    built = trusted_recipe.build(cfg, preset.vocab_size, preset.seq_len, device)
    model = built.model
    use_cuda = device.type == "cuda"

    def autocast() -> contextlib.AbstractContextManager[object]:
        return (
            torch.autocast("cuda", dtype=torch.bfloat16) if use_cuda else contextlib.nullcontext()
        )

    device_batch = int(cfg["DEVICE_BATCH_SIZE"])
    total_batch = int(cfg["TOTAL_BATCH_SIZE"])
    accum_steps = total_batch // (device_batch * preset.seq_len)
    sampler = BatchSampler(data.train, preset.seq_len, device_batch, spec.seed)
    token_steps = math.ceil(spec.budget.amount / total_batch) if spec.budget.mode == "tokens" else 0
    untimed_steps = COMPILE_UNTIMED_STEPS if use_cuda else 0
    guard = DivergenceGuard(preset.vocab_size)
    # The curve is on val_bpb's scale: nats per token / (ln 2 x bytes per evaluated token).
    eval_bytes = (
        float(np.asarray(data.token_bytes)[val_rows[:, 1:]].mean()) if val_rows.size else 1.0
    )
    recorder = CurveRecorder(1.0 / (math.log(2) * max(eval_bytes, 1e-9)))

    def budget_progress(step: int, train_seconds: float) -> float:
        if spec.budget.mode == "tokens":
            return step / token_steps
        return train_seconds / spec.budget.amount

    step, tokens, timed_tokens, train_seconds, last_report = 0, 0, 0, 0.0, 0.0
    try:
        report({PHASE: "training", PID: os.getpid(), STEP: 0, FRACTION: 0.0})
        while budget_progress(step, train_seconds) < 1.0:
            started = time.perf_counter()
            batches = [to_device(sampler.next(), device) for _ in range(accum_steps)]
            loss_value = trusted_recipe.train_step(
                built, batches, budget_progress(step, train_seconds)
            )
            if step >= untimed_steps:
                train_seconds += time.perf_counter() - started
                timed_tokens += total_batch
            step += 1
            tokens += total_batch
            guard.update(loss_value, step)
            recorder.update(min(1.0, budget_progress(step, train_seconds)), loss_value)
            now = time.perf_counter()
            if now - last_report >= PROGRESS_INTERVAL_S:
                last_report = now
                report(
                    {
                        PHASE: "training",
                        PID: os.getpid(),
                        STEP: step,
                        LOSS: loss_value,
                        ELAPSED: train_seconds,
                        TOKENS: tokens,
                        FRACTION: recorder.fraction,
                        SMOOTH_LOSS: recorder.smoothed,
                    }
                )
        report({PHASE: "eval", PID: os.getpid(), STEP: step, FRACTION: 1.0})
        val_bpb = evaluate_bpb(model, val_rows, data.token_bytes, device, autocast)
    except Diverged as exc:
        return TrialResult.failed(
            spec,
            "diverged",
            str(exc),
            steps=step,
            tokens=tokens,
            hardware=hardware,
            curve=recorder.curve(),
            **measured,
        )
    except (torch.cuda.OutOfMemoryError, MemoryError) as exc:
        return TrialResult.failed(
            spec, "oom", f"out of memory: {exc}", steps=step, hardware=hardware, **measured
        )

    if not math.isfinite(val_bpb):
        return TrialResult.failed(
            spec, "diverged", f"val_bpb is {val_bpb}", steps=step, hardware=hardware, **measured
        )
    tokens_per_s = timed_tokens / train_seconds if train_seconds > 0 else 0.0
    peak = peak_flops(device)
    mfu = tokens_per_s * model.flops_per_token() / peak if peak else None
    return TrialResult(
        status="ok",
        val_bpb=val_bpb,
        steps=step,
        tokens=tokens,
        tokens_per_s=tokens_per_s,
        train_seconds=train_seconds,
        peak_mem_mb=peak_memory_mb(device),
        mfu=mfu,
        hardware=hardware,
        curve=recorder.curve(),
        **measured,
        spec=spec,
    )
