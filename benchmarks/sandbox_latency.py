"""Sandbox latency: the whole ladder and one batched hook call, per backend.

Prints median and 95th percentile over REPEATS runs and the ratio to the targets that keep
a research session and a planned trial quick (ladder < 5 s docker / < 2 s process; hook call < 0.5 s docker / < 0.1 s process). "hook
call" starts its sandbox cold; "hook warm" uses a backend with ``warm=True`` (the runner's
and a study's setting), whose next sandbox is started in the background between calls. A
backend that cannot run here (no engine, no image) is reported and skipped.

    .venv/bin/python benchmarks/sandbox_latency.py [--repeats N] [--backend docker|process]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sandbox.backends import SandboxUnavailable, make_backend  # noqa: E402
from sandbox.contexts import contract_contexts  # noqa: E402
from sandbox.ladder import call_stage, run_ladder, source_sha  # noqa: E402
from trainer.presets import get_preset  # noqa: E402

REPEATS = 9  # odd, so the median is a run; enough for a stable p95 on a quiet machine
BATCH = 3  # mechanisms in the batched hook call: a typical number of active mechanisms
# Between two hook stages of a study a trial runs (seconds); the warm measurement leaves
# the background refill this much time, then subtracts it.
WARM_GAP_S = 2.0
TARGETS_S = {
    ("docker", "ladder"): 5.0,
    ("process", "ladder"): 2.0,
    ("docker", "hook call"): 0.5,
    ("process", "hook call"): 0.1,
    ("docker", "hook warm"): 0.5,
    ("process", "hook warm"): 0.1,
}
EXAMPLE = REPO / "examples" / "mechanisms" / "trust_region.py"


def _p95(xs: list[float]) -> float:
    ordered = sorted(xs)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def _time(fn: object, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        out.append(time.perf_counter() - start)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=REPEATS)
    parser.add_argument("--backend", choices=["docker", "process"], action="append")
    args = parser.parse_args()
    space = [p.to_dict() for p in get_preset("cpu-tiny").space.params]
    source = EXAMPLE.read_text()
    ctx = contract_contexts(space, [])[1][1]
    batch = [(f"trust_region_{i}", source_sha(source), source) for i in range(BATCH)]
    print(
        f"{'backend':8} {'what':10} {'median s':>9} {'p95 s':>8} {'target s':>9} {'target/median':>14}"
    )
    for name in args.backend or ["docker", "process"]:
        try:
            backend = make_backend(name)
            warm_backend = make_backend(name, warm=True)
        except SandboxUnavailable as exc:
            print(f"{name:8} skipped: {exc}")
            continue

        def ladder(backend: object = backend) -> None:
            assert run_ladder(source, space, backend=backend).accepted  # type: ignore[arg-type]

        def hook_call(backend: object = backend) -> None:
            result = call_stage("propose", batch, ctx, backend=backend)  # type: ignore[arg-type]
            assert all(o.ok for o in result.outputs), result

        def hook_warm(backend: object = warm_backend) -> None:
            hook_call(backend)
            time.sleep(WARM_GAP_S)  # trials take seconds: the next sandbox is ready by then

        ladder()  # warm the page cache and the engine once; cold starts are not the metric
        hook_warm()  # fills the warm slot
        for what, fn in (("ladder", ladder), ("hook call", hook_call), ("hook warm", hook_warm)):
            times = _time(fn, args.repeats)
            if what == "hook warm":
                times = [t - WARM_GAP_S for t in times]
            median, target = statistics.median(times), TARGETS_S[(name, what)]
            print(
                f"{name:8} {what:10} {median:9.3f} {_p95(times):8.3f} {target:9.2f} {target / median:13.2f}x"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
