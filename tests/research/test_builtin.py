"""The built-in agent's Level 2 end to end, through the real CLI: inline trials with a
direct sandbox, and rq trainer workers with the sandbox runner service.

Each run must promote at least one library mechanism, observe it firing, and show that the
trainers did not wait for research: idle time between trials while a session runs stays
at what it is without one.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from orchestrator.level2.research import library
from tests.conftest import REPO
from tests.research.conftest import RqServices
from tests.research.support import TINY_TOKENS, direct_client, events, ts

ITERATIONS = 8
# Idle time a session may add to the trainers beyond ordinary planning: scheduling noise
# on a shared 2-core machine (containers of the ladder and of hook calls start side by
# side), plus half the session's length. A loop that waited for the ladder would add the
# whole length (seconds, with container start-up and scikit-learn's import).
IDLE_SLACK_S = 1.0
IDLE_SLACK_FRACTION = 0.5

STUDY = """
name = "{name}"
iterations = {iterations}
executor = "{executor}"

[objective]
preset = "cpu-tiny"
budget_mode = "tokens"
budget = {tokens}

[levels]
policy = false
research = true
research_every = 3
stagnation = 100

[llm]
provider = "builtin"

# The subject is Level 2, not acceptance: one trial per index, so every index is a search
# trial Level 2 can act on (no baseline repeats, re-evaluations or final re-runs).
[acceptance]
rule = "strict"
{rq}
"""


def run_cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orchestrator.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO), **env},
        cwd=REPO,
        timeout=500,
    )


def idle_gaps(run_dir: Path) -> list[tuple[float, float]]:
    """(start, end) of every wait between a trial finishing and the next one starting."""
    finished = {e["index"]: ts(e) for e in events(run_dir, "trial_finished")}
    proposed = {e["index"]: ts(e) for e in events(run_dir, "trial_proposed")}
    return [(finished[i - 1], proposed[i]) for i in sorted(proposed) if i - 1 in finished]


def check_level2_run(run_dir: Path, stdout: str) -> None:
    promoted = events(run_dir, "mechanism_promoted")
    assert promoted, "no mechanism was promoted"
    assert {p["name"] for p in promoted} <= set(library())
    for p in promoted:  # promoted exactly as the library file reads, content-addressed
        assert (run_dir / p["path"]).read_text() == library()[p["name"]].source
    finished = events(run_dir, "trial_finished")
    assert len(finished) == ITERATIONS
    fired = {name for e in finished for name in e["fired"]}
    assert fired & {p["name"] for p in promoted}, "no promoted mechanism was observed firing"
    for e in events(run_dir, "research_started"):
        rounds = [
            r["round"] for r in events(run_dir, "research_round") if r["session"] == e["session"]
        ]
        assert rounds == ["explore", "critique", "specify", "generate"]
    for name in fired & {p["name"] for p in promoted}:
        assert f"{name} [" in stdout and "live, firing" in stdout

    # Trainers never wait for research: idle time inside each session's window is what
    # planning costs anyway.
    gaps = idle_gaps(run_dir)
    starts = {e["session"]: ts(e) for e in events(run_dir, "research_started")}
    ends = {e["session"]: ts(e) for e in events(run_dir, "research_finished")}
    windows = [(starts[s], ends[s]) for s in starts if s in ends]
    assert windows

    def overlap(gap: tuple[float, float], window: tuple[float, float]) -> float:
        return max(0.0, min(gap[1], window[1]) - max(gap[0], window[0]))

    outside = [g for g in gaps if not any(overlap(g, w) for w in windows)]
    typical = sorted(b - a for a, b in outside)[len(outside) // 2] if outside else 0.0
    for start, end in windows:
        inside = [g for g in gaps if overlap(g, (start, end))]
        idle = sum(overlap(g, (start, end)) for g in inside)
        allowed = len(inside) * typical + IDLE_SLACK_S + IDLE_SLACK_FRACTION * (end - start)
        assert idle <= allowed, ((start, end), idle, typical)
    # The study went on while research ran: a trial started inside a session's window. A
    # loop that waited for research would start every trial after research_finished.
    proposed = [ts(e) for e in events(run_dir, "trial_proposed")]
    assert any(start < t < end for start, end in windows for t in proposed)


@pytest.mark.docker
@pytest.mark.slow
def test_builtin_level2_inline_with_a_direct_sandbox(tmp_path: Path, unique_name: str) -> None:
    direct_client("docker")  # the study picks docker when the image exists; fail in CI if not
    study = tmp_path / "study.toml"
    study.write_text(
        STUDY.format(
            name=unique_name, iterations=ITERATIONS, executor="inline", tokens=TINY_TOKENS, rq=""
        )
    )
    run_dir = tmp_path / "run"
    done = run_cli(["study", str(study), "--out", str(run_dir), "--plain"], {})
    assert done.returncode == 0, done.stderr[-3000:]
    check_level2_run(run_dir, done.stdout)
    # `bilevel status` rebuilds the same Level 2 block from the journal alone.
    status = run_cli(["status", str(run_dir)], {})
    assert status.returncode == 0 and "live, firing" in status.stdout


@pytest.mark.redis
@pytest.mark.docker
@pytest.mark.slow
def test_builtin_level2_over_rq_with_the_sandbox_runner(
    tmp_path: Path, unique_name: str, rq_services: RqServices
) -> None:
    direct_client("docker")
    rq_section = (
        f'\n[rq]\nredis_url = "{rq_services.redis_url}"\nqueue = "{rq_services.trials_queue}"\n'
    )
    study = tmp_path / "study.toml"
    study.write_text(
        STUDY.format(
            name=unique_name,
            iterations=ITERATIONS,
            executor="rq",
            tokens=TINY_TOKENS,
            rq=rq_section,
        )
    )
    run_dir = tmp_path / "run"
    done = run_cli(
        ["study", str(study), "--out", str(run_dir), "--plain"],
        {"BILEVEL_SANDBOX_QUEUE": rq_services.sandbox_queue},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    check_level2_run(run_dir, done.stdout)
