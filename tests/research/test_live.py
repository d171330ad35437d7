"""A promoted mechanism that starts failing is reverted live, and the study finishes.

Runs the real CLI (`bilevel study`) with Level 2 on: the fake LLM writes a module, the real
ladder passes it, the real host runs its hook in the sandbox every iteration, and the
circuit breaker reverts it after it raises three times.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.research.support import (
    API_KEY_ENV,
    TINY_TOKENS,
    always,
    direct_client,
    events,
    script_session,
    specify,
)
from tests.support.fake_llm import FakeLLM, Reply, default_level1

# A latent bug the contract suite cannot see: the module parses Level 1's hypotheses
# ("scaling lr by 1.5 should help") and assumes the factor is a number. Every such
# hypothesis the contract can show it is one the study had written when research ran (the
# replays, and the synthetic histories that borrow their wording; the contract's own
# wording never starts with "scaling"); later, Level 1 writes "by half" (LATE_LEVEL1_CALL), and
# from the next planning on every call raises until the breaker trips. (It used to key on
# trials_left, which the contract copied from the newest live context; the contract now
# shows a study's whole range of trials left, so that bug is caught before promotion.)
FLAKY = """
from sandbox.api import Context, Guidance, Mechanism


class Steer(Mechanism):
    name = "steer"

    def guide(self, ctx: Context) -> Guidance | None:
        factors = [
            float(t.hypothesis.split(" by ")[1].split()[0])
            for t in ctx.history
            if t.hypothesis.startswith("scaling ")
        ]
        untouched = [p.name for p in ctx.tunable() if all(p.name not in t.changes for t in ctx.history)]
        hint = f"vary what nobody varied yet ({len(factors)} scalings so far)"
        return Guidance(hint=hint, focus=untouched[:2])
"""
# Level 1's calls from this one on word their factor ("by half"): after the first research
# session (at the second iteration), early enough for three failing plans before the end.
LATE_LEVEL1_CALL = 3


def _late_wording(body: dict[str, Any], count: int) -> Reply:
    """The fake Level 1's usual proposal, its factor written as a word from the late call on."""
    reply = default_level1(body, count)
    if count < LATE_LEVEL1_CALL or not reply.content:
        return reply
    proposal = json.loads(reply.content)
    proposal["hypothesis"] = re.sub(r" by [0-9.]+ ", " by half ", proposal["hypothesis"])
    return Reply.json(proposal)


# 12 iterations: the first session must pass the wasted-session rule (its ladder estimate,
# 15 s, against the trials left at ~2.4 s each on a quiet machine); with 10 it was a coin toss.
ITERATIONS = 12
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
research_every = 2
stagnation = 100

[llm]
provider = "openai"
base_url = "{url}"
model = "fake-model"
api_key_env = "{key_env}"
timeout_s = 5.0
max_retries = 1

# The subject is the live revert, not acceptance: one trial per index, none on top.
[acceptance]
rule = "strict"
{rq}"""


@pytest.mark.docker
@pytest.mark.slow
@pytest.mark.parametrize("executor", ["inline", pytest.param("rq", marks=pytest.mark.redis)])
def test_a_mechanism_that_starts_raising_is_reverted_while_the_study_finishes(
    tmp_path: Path,
    bilevel_cli: list[str],
    unique_name: str,
    executor: str,
    request: pytest.FixtureRequest,
) -> None:
    direct_client("docker")  # the study's own client picks docker; fail in CI if it cannot
    rq, env = "", {**os.environ, API_KEY_ENV: "test-key"}
    if executor == "rq":  # trials on an rq worker, every sandbox call through the runners
        services = request.getfixturevalue("rq_services")
        rq = f'[rq]\nredis_url = "{services.redis_url}"\nqueue = "{services.trials_queue}"\n'
        env["BILEVEL_SANDBOX_QUEUE"] = services.sandbox_queue
    run_dir = tmp_path / "run"
    with FakeLLM() as llm:
        script_session(llm, specify("steer", ["guide"]), FLAKY)
        always(llm, specify("steer", ["guide"]), FLAKY)
        llm.default("level1", _late_wording)
        study = tmp_path / "study.toml"
        study.write_text(
            STUDY.format(
                name=unique_name,
                iterations=ITERATIONS,
                executor=executor,
                tokens=TINY_TOKENS,
                url=llm.base_url,
                key_env=API_KEY_ENV,
                rq=rq,
            )
        )
        done = subprocess.run(
            [*bilevel_cli, "study", str(study), "--out", str(run_dir), "--plain"],
            capture_output=True,
            text=True,
            env=env,
            timeout=400,
        )
    assert done.returncode == 0, done.stderr[-3000:]

    (promoted,) = events(run_dir, "mechanism_promoted")
    (reverted,) = events(run_dir, "mechanism_reverted")
    assert promoted["name"] == reverted["name"] == "steer"
    assert reverted["failures"] == 3
    assert "circuit breaker" in reverted["reason"] and "could not convert" in reverted["reason"]
    assert (run_dir / promoted["path"]).read_text() == FLAKY

    finished = {e["index"]: e for e in events(run_dir, "trial_finished")}
    assert len(finished) == ITERATIONS and events(run_dir, "study_finished")
    # It fired while it worked and never after it was reverted.
    assert any("steer" in e["fired"] for e in finished.values())
    assert all("steer" not in e["fired"] for i, e in finished.items() if i >= reverted["iteration"])
    # Later sessions wrote the same module: never promoted again.
    later = [e for e in events(run_dir, "research_finished") if e["session"] > 1]
    assert later and all(e["outcome"] == "discarded" for e in later)
    assert "steer" in done.stdout and "reverted (circuit breaker" in done.stdout
