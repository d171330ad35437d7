"""The HTML report renders in headless Chromium with no console errors and is not blank."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from PIL import Image, ImageStat

from orchestrator.report import write_report
from tests.conftest import need
from tests.report.journals import write_study_journal

CHROMIUM = "/usr/bin/chromium"
# Flags that keep Chromium off the network and off any shared profile.
OFFLINE_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def test_html_report_renders_in_chromium_without_console_errors(tmp_path: Path) -> None:
    need(shutil.which(CHROMIUM) is not None, f"{CHROMIUM} is not installed (apt install chromium)")
    run = tmp_path / "render-study"
    write_study_journal(run)
    page = write_report(run).html
    shot = tmp_path / "shot.png"
    done = subprocess.run(
        [
            CHROMIUM,
            *OFFLINE_FLAGS,
            f"--user-data-dir={tmp_path / 'profile'}",
            "--enable-logging=stderr",
            "--v=0",
            f"--screenshot={shot}",
            "--window-size=1280,2000",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    assert console == [], console
    with Image.open(shot) as image:
        assert image.format == "PNG" and image.size == (1280, 2000)
        grey = image.convert("L")
        # Blank pages are one colour; a rendered report has text and plots (dark pixels).
        assert ImageStat.Stat(grey).stddev[0] > 10
        dark = sum(grey.histogram()[:128])
        assert dark > 0.005 * 1280 * 2000
