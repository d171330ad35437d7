"""A journal full of attacker-controlled strings, in the places a study really puts them."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from tests.report.journals import JournalWriter, _result

# What a hostile mechanism or LLM would write: markup, event handlers, a template expression,
# terminal escape sequences, bidi overrides. If any of it ran, window.pwned would be set or
# the page title changed.
PAYLOADS = (
    "<script>window.pwned = 1; document.title = 'pwned'</script>",
    "<img src=x onerror=\"window.pwned = 2; document.title = 'pwned'\">",
    '"><svg onload="window.pwned = 3">',
    "{{ 7 * 7 }} ${window.pwned = 4}",
    "\x1b]0;pwned\x07\x1b[31mred\x1b[0m \u202eevil",
    '<a href="javascript:window.pwned = 5">click</a>',
)
HOSTILE = " ".join(PAYLOADS)
# A piece of each payload that must appear in the page as literal text.
VISIBLE = "<img src=x onerror="
HOSTILE_MECHANISM = "<b onmouseover=alert(1)>tabu</b>"
# A code trial's recipe diff that carries every payload in its added lines (a diff that
# applies may add any comment), and a fence-breaker for Markdown renderings.
HOSTILE_DIFF = (
    "--- a/trainer/recipe.py\n+++ b/trainer/recipe.py\n@@ -1,1 +1,2 @@\n"
    '-"""THE RECIPE\n+"""THE RECIPE\n+# ```</pre></code> ' + HOSTILE + "\n"
)
HOSTILE_DIFF_SHA = hashlib.sha256(HOSTILE_DIFF.encode()).hexdigest()


def write_hostile_journal(run_dir: Path) -> Path:
    writer = JournalWriter(run_dir / "events.jsonl")
    writer.emit(
        "study_started",
        study=HOSTILE,
        config={"name": "hostile", "objective": {"preset": HOSTILE}},
        versions={},
        hardware=HOSTILE,
        agent=HOSTILE,
        resumed=False,
    )
    config = {"MATRIX_LR": 0.04, HOSTILE: HOSTILE}
    for index in range(3):
        writer.emit(
            "trial_proposed",
            index=index,
            changes={"MATRIX_LR": 0.04 + index / 100, HOSTILE: HOSTILE},
            config={**config, "MATRIX_LR": 0.04 + index / 100},
            hypothesis=HOSTILE,
            source="baseline" if index == 0 else f"mechanism:{HOSTILE_MECHANISM}",
            fired=[] if index == 0 else [HOSTILE_MECHANISM],
            patch_sha256=HOSTILE_DIFF_SHA if index == 2 else None,
        )
        result = _result(index, config, "ok" if index != 2 else "crashed", 3.0 - index / 10)
        result["error"] = HOSTILE if index == 2 else ""
        if index == 2:  # a code trial: the spec that ran carries its diff
            result["spec"]["patch"] = HOSTILE_DIFF
        writer.emit(
            "trial_finished",
            index=index,
            result=result,
            kept=index == 1,
            best_val_bpb=2.9,
            source="baseline" if index == 0 else f"mechanism:{HOSTILE_MECHANISM}",
            fired=[] if index == 0 else [HOSTILE_MECHANISM],
            **{HOSTILE: HOSTILE},  # an unknown field: ignored
        )
    writer.emit(HOSTILE, payload=HOSTILE)  # an unknown event type: ignored
    writer.emit("policy_changed", iteration=2, diagnosis=HOSTILE, diff={HOSTILE: [HOSTILE, 1]})
    writer.emit("phase_changed", phase=HOSTILE)  # a hand-edited phase: shown as text
    writer.emit("research_started", session=0, trigger=HOSTILE, iteration=1)
    for round_ in ("explore", "critique", "specify", "generate"):
        writer.emit(
            "research_round",
            session=0,
            round=round_,
            summary=HOSTILE,
            payload={"source": HOSTILE, "text": HOSTILE},
        )
    writer.emit(
        "gate_verdict",
        session=0,
        mechanism=HOSTILE_MECHANISM,
        attempt=0,
        accepted=False,
        stage="static",
        reason=HOSTILE,
        sha="deadbeef",
        path="research/session-0/x-0-deadbeef.py",
    )
    writer.emit(
        "mechanism_promoted",
        session=0,
        name=HOSTILE_MECHANISM,
        sha="cafe",
        path="mechanisms/../../secret.txt",
        active_from=1,
        hooks=["screen"],
    )
    writer.emit(
        "mechanism_reverted", name=HOSTILE_MECHANISM, sha="cafe", iteration=2, reason=HOSTILE
    )
    writer.emit("research_finished", session=0, outcome=HOSTILE, mechanism=HOSTILE, reason=HOSTILE)
    writer.emit(
        "llm_call",
        role=HOSTILE,
        model=HOSTILE,
        prompt_tokens=10,
        completion_tokens=5,
        cost_usd=0.001,
        latency_s=0.5,
        ok=False,
        error=HOSTILE,
        transcript="llm/0.json",
    )
    source = run_dir / "research" / "session-0" / "x-0-deadbeef.py"
    source.parent.mkdir(parents=True)
    source.write_text(f"# {HOSTILE}\nclass X:\n    name = {HOSTILE!r}\n")
    (run_dir / "llm").mkdir()
    (run_dir / "llm" / "0.json").write_text(json.dumps({"prompt": HOSTILE}))
    # A torn last line: a write in progress.
    with writer.path.open("a") as handle:
        handle.write('{"seq": 99, "type": "trial_fin')
    return writer.path
