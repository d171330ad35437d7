"""Code trials end to end on the compose stack, as `CODE_TRIALS=1 make up && make study`.

The opt-in code-trainer serves the code-trial queue; the built-in agent's recipe edit goes
there (every other trial to the trainer), and the edited recipe trains and is scored in a
jail container of the trainer image (`--network none`, read-only, non-root) that the
code-trainer starts through the Docker socket. Reuses the stack fixture of
test_stack_e2e.py (host networking, its own Redis port, everything removed afterwards).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from contract.jobs import CODE_TRIAL_QUEUE
from tests.deploy.test_stack_e2e import UP_TIMEOUT_S, Stack, read_journal, stack

__all__ = ["stack"]  # the fixture, imported for pytest

pytestmark = [pytest.mark.docker, pytest.mark.slow]

# Two trials: the baseline on the trainer, then the built-in agent's first recipe edit on
# the code-trainer. A tiny token budget keeps each to seconds on a loaded 2-core host.
STUDY_TOML = """
name = "stack-code"
iterations = 2
seed = 3
parallel = 1
executor = "rq"

[objective]
preset = "cpu-tiny"
dataset = "pinned"
budget_mode = "tokens"
budget = 8192

[levels]
policy = false

[llm]
provider = "builtin"

[acceptance]
rule = "strict"

[search]
code_trials = true
"""
STUDY_TIMEOUT_S = 300


def test_a_code_trial_study_runs_through_the_code_trainer(stack: Stack, tmp_path: Path) -> None:
    up = stack.run("up", "--code-trials", timeout=UP_TIMEOUT_S + 120)
    assert up.returncode == 0, "\n".join(stack.log)
    assert "code trials on" in up.stderr
    (code_trainer,) = stack.containers("code-trainer")
    (trainer,) = stack.containers("trainer")
    # The socket holders: the runners and the code-trainer; never the plain trainer.
    for container, holds in ((code_trainer, True), (trainer, False)):
        mounts = subprocess.run(
            ["docker", "inspect", "-f", "{{range .Mounts}}{{.Source}} {{end}}", container],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        assert ("docker.sock" in mounts) == holds, mounts

    study_file = tmp_path / "stack-code.toml"
    study_file.write_text(STUDY_TOML)
    study = stack.run("study", str(study_file), "--plain", timeout=STUDY_TIMEOUT_S)
    assert study.returncode == 0, study.stdout[-3000:] + "\n".join(stack.log)

    events = read_journal(stack, "stack-code")
    finished = {e["index"]: e["result"] for e in events if e["type"] == "trial_finished"}
    code = [r for r in finished.values() if r["spec"].get("patch")]
    assert code, finished
    assert all(r["status"] == "ok" for r in finished.values()), {
        i: (r["status"], r.get("error")) for i, r in finished.items()
    }
    assert code[0]["val_bpb"] > 0 and code[0]["spec"]["patch"].startswith("--- ")
    # The code trial ran on the code-trainer (its log).
    logs = subprocess.run(["docker", "logs", code_trainer], capture_output=True, text=True)
    assert CODE_TRIAL_QUEUE in logs.stdout + logs.stderr
    assert "codetrial-" in logs.stdout + logs.stderr

    # Without the code-trainer, a code trial is refused at once, naming the fix; the study
    # goes on and finishes (never a silent wait for a worker the stack does not run).
    subprocess.run(["docker", "stop", "-t", "10", code_trainer], capture_output=True, check=True)
    study_file.write_text(STUDY_TOML.replace('"stack-code"', '"stack-code-off"'))
    off = stack.run("study", str(study_file), "--plain", timeout=STUDY_TIMEOUT_S)
    assert off.returncode == 0, off.stdout[-3000:] + "\n".join(stack.log)
    events = read_journal(stack, "stack-code-off")
    finished = {e["index"]: e["result"] for e in events if e["type"] == "trial_finished"}
    refused = [r for r in finished.values() if r["spec"].get("patch")]
    assert refused and all(r["status"] == "invalid" for r in refused), finished
    assert "no code-trial worker serves queue" in refused[0]["error"]
    assert "CODE_TRIALS=1 make up" in refused[0]["error"]
