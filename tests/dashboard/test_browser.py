"""The dashboard in a real headless Chromium: studies listed, trials shown and updated live,
hostile journal text rendered inert, no console errors (CSP violations included)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from orchestrator.dashboard.progress import ProgressFile
from tests.dashboard.browser import Browser
from tests.dashboard.journals import HOSTILE_DIFF_SHA, HOSTILE_MECHANISM, VISIBLE
from tests.report.journals import JournalWriter, _result

ROWS = "document.querySelectorAll('#trials tbody tr').length"
# The study page's header, as {term: value}.
SUMMARY = (
    "Object.fromEntries([...document.querySelectorAll('#summary div')]"
    ".map(d => [d.children[0].textContent, d.children[1].textContent]))"
)


def test_index_lists_every_study(server: str, browser: Browser) -> None:
    browser.open(server + "/")
    names = browser.wait_for(
        "(() => { const cells = [...document.querySelectorAll('#studies tbody tr td:first-child')];"
        " return cells.length >= 3 ? cells.map(c => c.textContent) : null })()"
    )
    assert {"alpha", "live", "hostile"} <= set(names)
    assert "escape" not in names, "a symlink out of the runs folder is not a study"
    states = browser.eval(
        "[...document.querySelectorAll('#studies tbody tr')].map(r => r.children[1].textContent)"
    )
    assert "finished" in states
    assert browser.errors == []


def test_study_page_shows_its_trials_and_plots(server: str, browser: Browser) -> None:
    browser.open(server + "/study/alpha")
    assert browser.wait_for(f"{ROWS} === 12 && {ROWS}")
    assert browser.wait_for("document.querySelectorAll('#progress .main-svg').length > 0")
    first = browser.eval("document.querySelector('#trials tbody tr').children[4].textContent")
    assert first == "baseline"
    # The header says where the study is: alpha finished, so its phase is "done".
    assert browser.eval(SUMMARY).get("phase") == "done"
    # Sorting by value puts the best trial first (lower is better).
    browser.eval("document.querySelector('#trials th[data-key=value]').click()")
    values = browser.eval(
        "[...document.querySelectorAll('#trials tbody tr')].map(r => r.children[2].textContent)"
    )
    numbers = [float(v) for v in values if v != "–"]
    assert numbers == sorted(numbers)
    for page in ("mechanisms", "research", "llm"):
        browser.open(f"{server}/{page}/alpha")
        browser.wait_for("document.getElementById('live').textContent.startsWith('live')")
    assert browser.eval("document.querySelectorAll('#calls tbody tr').length") > 0
    browser.open(server + "/ablation/abl")
    assert browser.eval("document.querySelectorAll('table.data tbody tr').length") >= 2 + 4
    browser.pump(0.5)
    assert browser.errors == []


def test_a_trial_appended_while_the_page_is_open_appears_without_a_reload(
    server: str, browser: Browser, runs_dir: Path
) -> None:
    browser.open(server + "/study/live")
    assert browser.wait_for(f"{ROWS} === 4 && {ROWS}")
    browser.eval("window.sameDocument = true")
    journal = runs_dir / "live" / "events.jsonl"
    writer = JournalWriter.__new__(JournalWriter)
    writer.path, writer.seq = journal, len(journal.read_text().splitlines())
    writer.clock = datetime.now(UTC)
    config = {"MATRIX_LR": 0.05}
    writer.emit(
        "trial_proposed",
        index=4,
        changes=config,
        config=config,
        hypothesis="a new one",
        source="llm",
        fired=[],
    )
    # A proposed trial is running: it shows among the running trials before it finishes.
    browser.wait_for("document.querySelectorAll('#running tbody tr').length === 1")
    assert browser.eval(f"{ROWS}") == 5
    status = "document.querySelector('#trials tbody tr[data-index=\"4\"]').children[1].textContent"
    assert browser.eval(status) == "running"
    # Its training progress comes from the study loop's progress.json, live too.
    ProgressFile(runs_dir / "live").write({4: {"step": 7, "loss": 2.75, "budget_frac": 0.35}})
    cells = "[...document.querySelectorAll('#running tbody td')].map(c => c.textContent)"
    assert browser.wait_for(f"{cells}.includes('35%') && {cells}")[3:] == ["7", "2.7500", "35%"]
    with journal.open("a") as handle:  # half a line: a write in progress must not break it
        handle.write('{"seq": 999, "ts": "x", "type": "trial_fin')
    browser.pump(2.0)
    with journal.open("r+") as handle:
        handle.truncate(
            len(journal.read_bytes()) - len(b'{"seq": 999, "ts": "x", "type": "trial_fin')
        )
    writer.emit(
        "trial_finished",
        index=4,
        result=_result(4, config, "ok", 3.01),
        kept=False,
        best_val_bpb=3.0,
        source="llm",
        fired=[],
    )
    assert browser.wait_for(f"{status} === 'ok'")
    assert browser.eval("window.sameDocument") is True, "the page was reloaded"
    assert browser.eval("document.querySelectorAll('#running tbody tr').length") == 0
    assert browser.errors == []


def test_hostile_journal_strings_render_as_text_and_run_nothing(
    server: str, browser: Browser
) -> None:
    for page, ready in (
        ("study", f"{ROWS} === 3"),
        ("mechanisms", "document.querySelectorAll('#verdicts tbody tr').length === 1"),
        ("research", "document.querySelectorAll('#sessions details').length === 4"),
        ("llm", "document.querySelectorAll('#calls tbody tr').length === 1"),
    ):
        browser.open(f"{server}/{page}/hostile")
        browser.wait_for(ready)
        browser.eval("document.querySelectorAll('details').forEach(d => d.open = true)")
        browser.pump(0.5)
        assert browser.eval("typeof window.pwned") == "undefined", page
        assert "pwned" not in browser.eval("document.title"), page
        assert browser.eval("document.querySelectorAll('script:not([src])').length") == 0, page
        assert browser.eval("document.querySelectorAll('img, iframe, object, embed').length") == 0
        assert (
            browser.eval("document.querySelectorAll('[onerror], [onload], [onmouseover]').length")
            == 0
        )
        text = browser.eval("document.body.innerText")
        assert VISIBLE in text, page  # shown, as text
        assert "\x1b" not in text and "\u202e" not in text, page  # escape sequences removed
        if page == "mechanisms":
            assert HOSTILE_MECHANISM in text
        if page == "study":  # the journal's phase, hand-edited to markup, is text
            assert VISIBLE in browser.eval(SUMMARY)["phase"]
    # The gate attempt's source, highlighted, is text too; the promoted path escapes the
    # run folder (mechanisms/../../secret.txt) and is refused.
    browser.open(server + "/source/hostile?sha=deadbeef")
    assert VISIBLE in browser.eval("document.querySelector('.source').innerText")
    # A code trial's recipe diff: linked from its trial row, highlighted, inert.
    browser.open(f"{server}/study/hostile")
    browser.wait_for(f"{ROWS} === 3")
    link = "document.querySelector('#trials a[href^=\\'/patch/\\']')"
    assert browser.eval(f"{link}.textContent") == f"recipe diff {HOSTILE_DIFF_SHA[:12]}"
    browser.open(f"{server}/patch/hostile?sha={HOSTILE_DIFF_SHA}")
    assert VISIBLE in browser.eval("document.querySelector('.source').innerText")
    assert browser.eval("typeof window.pwned") == "undefined"
    assert browser.eval("document.querySelectorAll('script:not([src]), img').length") == 0
    browser.open(server + "/transcript/hostile?seq=" + str(_llm_seq(server)))
    assert VISIBLE in browser.eval("document.querySelector('pre.transcript').innerText")
    assert browser.eval("typeof window.pwned") == "undefined"
    browser.pump(0.3)
    assert browser.errors == []
    browser.open(server + "/source/hostile?sha=cafe")
    assert browser.eval("document.querySelector('h1').textContent") == "Not found"
    browser.errors.clear()  # the 404 itself is logged as a failed resource load


def test_a_path_traversal_url_is_refused_in_the_browser(server: str, browser: Browser) -> None:
    browser.open(server + "/study/%2e%2e%2f%2e%2e%2fetc")
    assert browser.eval("document.querySelector('h1').textContent") == "Not found"
    browser.open(server + "/study/escape")
    assert browser.eval("document.querySelector('h1').textContent") == "Not found"
    browser.errors.clear()  # the 404 itself is logged as a failed resource load


def _llm_seq(server: str) -> int:
    import urllib.request

    with urllib.request.urlopen(server + "/api/llm/hostile") as answer:
        return int(json.load(answer)["calls"][0]["seq"])
