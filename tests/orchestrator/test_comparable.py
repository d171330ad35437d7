"""Comparable data: results carry data and software fingerprints; other data is refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from orchestrator.config import StudyConfig
from orchestrator.journal import read_events
from orchestrator.study import run_study
from trainer.datasets import PINNED_PACKAGES, resolve


def _corpus(path: Path, word: str) -> None:
    path.write_text("".join(f"{word} line {i}: the quick brown fox\n" for i in range(6000)))


def test_the_default_corpus_is_the_pinned_packages_sources_with_a_content_key() -> None:
    first, second = resolve("pinned"), resolve("pinned")
    assert first.key == second.key and first.key.startswith("pinned-")
    names = {p.relative_to(first.root).parts[0] for p in first.files}
    assert names == set(PINNED_PACKAGES)
    assert StudyConfig.load(Path("studies/quickstart.toml")).objective.dataset == "pinned"


@pytest.mark.slow
def test_a_result_measured_on_other_data_is_refused_naming_both(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus.txt"
    _corpus(corpus, "alpha")
    config = StudyConfig.from_dict(
        {
            "name": "fingerprints",
            "iterations": 2,
            "objective": {
                "dataset": f"text:{corpus}",
                "budget_mode": "tokens",
                "budget": 8192,
            },
            "levels": {"policy": False},
        }
    )

    def observer(kind: str, event: Any) -> None:
        # After the baseline, the "worker" sees other data: the corpus changes under it.
        if kind == "event" and event["type"] == "trial_finished" and event["index"] == 0:
            _corpus(corpus, "omega")

    run_study(config, tmp_path / "run", observer=observer)
    finished = [e for e in read_events(tmp_path / "run") if e["type"] == "trial_finished"]
    baseline, other = finished[0]["result"], finished[1]["result"]
    assert baseline["status"] == "ok" and baseline["data_fingerprint"]
    assert baseline["software"]["torch"] and baseline["software"]["threads"]
    assert other["status"] == "invalid" and other["val_bpb"] is None
    assert other["data_fingerprint"] != baseline["data_fingerprint"]
    assert baseline["data_fingerprint"] in other["error"]
    assert other["data_fingerprint"] in other["error"]
    assert finished[1]["refused"]["status"] == "ok" and finished[1]["refused"]["value"]
    assert not finished[1]["kept"]
