"""A runs folder of journals, `bilevel dashboard` serving it, and a headless Chromium."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import need
from tests.dashboard.browser import Browser
from tests.dashboard.journals import write_hostile_journal
from tests.report.journals import write_study_journal
from tests.report.test_render import CHROMIUM

# Seconds the dashboard may take to import and listen on a busy machine.
SERVER_START_TIMEOUT_S = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="package")
def runs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("runs")
    write_study_journal(root / "alpha", trials=12)
    write_study_journal(root / "live", trials=4, with_research=False, finished=False)
    write_hostile_journal(root / "hostile")
    for group, gain in (("A", 0.01), ("C", 0.05)):
        for repeat in (0, 1):
            write_study_journal(
                root / "abl" / f"{group}-r{repeat}", trials=6, seed=repeat, gain=gain
            )
    outside = tmp_path_factory.mktemp("outside")
    (outside / "secret.txt").write_text("TOP-SECRET")
    write_study_journal(outside / "elsewhere", trials=3)
    (root / "escape").symlink_to(outside / "elsewhere", target_is_directory=True)
    return root


@pytest.fixture(scope="package")
def server(runs_dir: Path) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "orchestrator.cli", "dashboard", str(runs_dir), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while True:
        try:
            urllib.request.urlopen(base + "/api/studies", timeout=2).read()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                out = process.communicate()[0]
                pytest.fail(f"bilevel dashboard did not start: {out[-2000:]}")
            time.sleep(0.2)
    yield base
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="package")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    need(shutil.which(CHROMIUM) is not None, f"{CHROMIUM} is not installed (apt install chromium)")
    chrome = Browser(tmp_path_factory.mktemp("profile"))
    yield chrome
    chrome.close()
