"""A promoted mechanism that starts failing is reverted live, and the study finishes.

Runs the real CLI (`bilevel study`) with Level 2 on: the fake LLM writes a module, the real
ladder passes it, the real host runs its hook in the sandbox every iteration, and the
circuit breaker reverts it after it raises three times.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

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
from tests.support.fake_llm import FakeLLM

# A latent bug the contract suite cannot see: it breaks only late in the study, once at most
# five search trials are left to plan. Every context the contract builds carries
# the trials_left of the study's live contexts before research began (the synthetic ones
# copy it, the replays are those contexts), so it always sees more left than that; its
# histories, by contrast, come at every length up to the study's, so a trigger on the
# history's length would be caught. Live, it guides a few iterations, then raises on every
# call until the breaker trips.
FLAKY = """
from sandbox.api import Context, Guidance, Mechanism


class Steer(Mechanism):
    name = "steer"

    def guide(self, ctx: Context) -> Guidance | None:
        if ctx.trials_left is not None and ctx.trials_left <= 5:
            raise RuntimeError(f"cannot steer with {ctx.trials_left} trials left")
        untouched = [p.name for p in ctx.tunable() if all(p.name not in t.changes for t in ctx.history)]
        return Guidance(hint="vary what nobody varied yet", focus=untouched[:2])
"""

STUDY = """
name = "{name}"
iterations = 10
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
        study = tmp_path / "study.toml"
        study.write_text(
            STUDY.format(
                name=unique_name,
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
    assert "circuit breaker" in reverted["reason"] and "cannot steer" in reverted["reason"]
    assert (run_dir / promoted["path"]).read_text() == FLAKY

    finished = {e["index"]: e for e in events(run_dir, "trial_finished")}
    assert len(finished) == 10 and events(run_dir, "study_finished")
    # It fired while it worked and never after it was reverted.
    assert any("steer" in e["fired"] for e in finished.values())
    assert all("steer" not in e["fired"] for i, e in finished.items() if i >= reverted["iteration"])
    # Later sessions wrote the same module: never promoted again.
    later = [e for e in events(run_dir, "research_finished") if e["session"] > 1]
    assert later and all(e["outcome"] == "discarded" for e in later)
    assert "steer" in done.stdout and "reverted (circuit breaker" in done.stdout
