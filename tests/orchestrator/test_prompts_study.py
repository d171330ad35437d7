"""A whole study against an OpenAI-compatible endpoint: the prompts it sends carry the rules
(the keep rule, the trials left, the preset's and the study's constraints), and a proposal
that breaks a constraint is refused before it runs, with the reason in the next prompt."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.orchestrator.helpers import (
    assert_each_index_once,
    events,
    run_cli,
    study_args,
    write_study,
)
from tests.support.fake_llm import FakeLLM, Reply

pytestmark = pytest.mark.slow

# One optimizer step of cpu-tiny at its default batch: the study's trials take seconds.
ITERATIONS = 3


def test_a_study_tells_the_llm_the_rules_it_is_judged_by(tmp_path: Path) -> None:
    with FakeLLM() as llm:
        llm.script(
            "level1",
            # 8192 tokens per step cannot split into micro-batches of 128 x 128 tokens.
            Reply.json({"hypothesis": "bigger micro-batches",
                        "changes": [{"name": "DEVICE_BATCH_SIZE", "value": 128}]}),
            Reply.json({"hypothesis": "a gentler LR", "changes": [{"name": "MATRIX_LR", "value": 0.03}]}),
        )  # fmt: skip
        study = write_study(
            tmp_path / "s.toml",
            f'name = "rules"\niterations = {ITERATIONS}\n'
            # strict: each proposal is one trial, so the script's replies line up with them
            '[acceptance]\nrule = "strict"\n'
            "[levels]\npolicy_every = 1\n"
            f'[llm]\nprovider = "openai"\nbase_url = "{llm.base_url}"\nmodel = "fake-model"\n'
            '[[constraints]]\nleft = "WARMUP_RATIO + WARMDOWN_RATIO"\nkind = "le"\nright = "1"\n'
            'why = "warm-up and warm-down share one budget"\n',
        )
        out = tmp_path / "run"
        done = run_cli(study_args(out, study=str(study)))
        sent = [(r["messages"][0]["content"], r["messages"][-1]["content"]) for r in llm.requests]
    assert done.returncode == 0, done.stderr
    assert_each_index_once(out, ITERATIONS)
    level1 = [user for system, user in sent if "[bilevel role: level1]" in system]
    level15 = [user for system, user in sent if "[bilevel role: level15]" in system]
    assert len(level1) >= 3 and level15, [s[:40] for s, _ in sent]
    for prompt in (level1[0], level15[0]):
        assert "## Keep rule\n" in prompt
        assert f"study length: {ITERATIONS} trials" in prompt
        assert f"{ITERATIONS - 1} still to plan" in prompt
        assert "- TOTAL_BATCH_SIZE must be a multiple of DEVICE_BATCH_SIZE*seq_len" in prompt
        assert "- WARMUP_RATIO+WARMDOWN_RATIO must be <= 1 (warm-up and warm-down" in prompt
        assert "Level 2" not in prompt and "mechanism" not in prompt  # Level 2 is off
    # The refused proposal never ran; its reason, with the numbers, came back to the LLM.
    assert (
        "TOTAL_BATCH_SIZE=8192 is not a multiple of DEVICE_BATCH_SIZE*seq_len=128*128" in level1[1]
    )
    ran = [e["config"]["DEVICE_BATCH_SIZE"] for e in events(out, "trial_proposed")]
    assert 128 not in ran
    assert events(out, "trial_proposed")[1]["changes"] == {"MATRIX_LR": 0.03}
