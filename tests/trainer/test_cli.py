"""`bilevel trial`: bad input is one line and exit 2; a real trial prints its result."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from orchestrator.commands.trial import build_spec, parse_overrides, summary_block
from orchestrator.errors import UserError

# Generous wall-clock bound per CLI call: a 2 s trial plus imports on a loaded 2-core box.
CLI_TIMEOUT_S = 120


def run_cli(bilevel_cli: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*bilevel_cli, *args], capture_output=True, text=True, timeout=CLI_TIMEOUT_S
    )


@pytest.mark.parametrize(
    ("assignment", "message"),
    [
        ("FOO=1", "unknown parameter 'FOO' for preset 'cpu-tiny'; known: TOTAL_BATCH_SIZE"),
        ("MATRIX_LR=fast", "MATRIX_LR='fast' must be a number"),
        ("MATRIX_LR=5", "MATRIX_LR=5.0 is outside [0.001, 0.3]"),
        ("DEPTH=2.5", "DEPTH=2.5 must be an integer"),
        ("TOTAL_BATCH_SIZE=3000", "must be a power of two"),
        ("WINDOW_PATTERN=XL", "WINDOW_PATTERN='XL' is not one of"),
        ("MATRIX_LR", "is not NAME=VALUE"),
    ],
)
def test_overrides_reject_bad_values_without_clamping(assignment: str, message: str) -> None:
    with pytest.raises(UserError) as info:
        parse_overrides("cpu-tiny", [assignment])
    assert message in str(info.value)


def test_overrides_parse_to_the_param_types() -> None:
    changes = parse_overrides(
        "cpu-tiny", ["MATRIX_LR=0.02", "HEAD_DIM=16", "TOTAL_BATCH_SIZE=4096"]
    )
    assert changes == {"MATRIX_LR": 0.02, "HEAD_DIM": 16, "TOTAL_BATCH_SIZE": 4096}
    assert isinstance(changes["TOTAL_BATCH_SIZE"], int) and isinstance(changes["MATRIX_LR"], float)


def test_a_batch_that_does_not_divide_names_both_values() -> None:
    with pytest.raises(
        UserError,
        match=r"TOTAL_BATCH_SIZE=1024 is not a multiple of DEVICE_BATCH_SIZE\*seq_len=16\*128",
    ):
        build_spec("cpu-tiny", ["TOTAL_BATCH_SIZE=1024"], None, None, "stdlib", 0, "auto")


def test_budget_flags_are_exclusive_and_positive() -> None:
    with pytest.raises(UserError, match="not both"):
        build_spec("cpu-tiny", [], 5.0, 1000, "stdlib", 0, "auto")
    with pytest.raises(UserError, match="must be positive"):
        build_spec("cpu-tiny", [], -1.0, None, "stdlib", 0, "auto")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "NOPE=1"], "unknown parameter 'NOPE'"),
        (["--set", "WEIGHT_DECAY=2"], "WEIGHT_DECAY=2.0 is outside [0, 1]"),
        (
            ["--preset", "gpt9000"],
            "unknown preset 'gpt9000'; choose one of: cpu-tiny, paper-gpt50m",
        ),
        (["--dataset", "wikipedia"], "unknown data set 'wikipedia'"),
        (["--dataset", "text:/no/such/corpus"], "does not exist"),
        (["--preset", "paper-gpt50m"], "needs a CUDA GPU and none is available"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(
    bilevel_cli: list[str], args: list[str], message: str
) -> None:
    proc = run_cli(bilevel_cli, "trial", *args)
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert message in lines[0]


def test_cli_trial_json_is_exactly_the_trial_result(bilevel_cli: list[str]) -> None:
    proc = run_cli(
        bilevel_cli,
        "trial",
        "--preset",
        "cpu-tiny",
        "--budget-seconds",
        "2",
        "--set",
        "TOTAL_BATCH_SIZE=2048",
        "--json",
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["status"] == "ok"
    assert 0.5 < result["val_bpb"] < 8.0  # better than a uniform byte model, plausibly
    assert 2.0 <= result["train_seconds"] < 4.0
    assert result["steps"] > 1 and result["tokens"] == result["steps"] * 2048
    assert result["spec"]["config"]["TOTAL_BATCH_SIZE"] == 2048
    assert result["spec"]["budget"] == {"mode": "seconds", "amount": 2.0}


def test_cli_summary_block_is_grepable_on_a_text_dataset(
    bilevel_cli: list[str], tmp_path: Path
) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i in range(30):
        (corpus / f"part{i}.md").write_text(
            f"# Part {i}\n" + "Some prose about training small models.\n" * 40
        )
    proc = run_cli(
        bilevel_cli,
        "trial",
        "--dataset",
        f"text:{corpus}",
        "--budget-tokens",
        "8192",
        "--set",
        "TOTAL_BATCH_SIZE=2048",
    )
    assert proc.returncode == 0, proc.stderr
    fields = dict(re.findall(r"^(\w+):\s+(.*)$", proc.stdout, flags=re.MULTILINE))
    assert fields["status"] == "ok"
    assert float(fields["val_bpb"]) < 8.0
    assert fields["steps"] == "4" and fields["tokens"] == "8192"
    assert fields["dataset"] == f"text:{corpus}"
    for key in ("tokens_per_s", "train_seconds", "peak_mem_mb", "mfu", "hardware"):
        assert key in fields


def test_summary_block_shows_the_error_of_a_failed_trial() -> None:
    from trainer.spec import TrialResult

    from .helpers import make_spec

    result = TrialResult.failed(make_spec("x"), "crashed", "boom\nline two")
    block = summary_block(result)
    assert "status:         crashed" in block and "val_bpb:        n/a" in block
    assert "error:          boom" in block
