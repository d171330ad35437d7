"""The dashboard over plain HTTP: read-only, strict about names, safe headers."""

from __future__ import annotations

import http.client
import json
from urllib.parse import urlsplit

import pytest

TRAVERSALS = (
    "/study/../../etc/passwd",
    "/study/..%2F..%2Fetc%2Fpasswd",
    "/study/%2e%2e/%2e%2e/etc",
    "/api/study/..%2Foutside",
    "/api/study/%2Fetc",
    "/api/study/alpha/../../../etc",
    "/api/study/escape",  # a symlink to a study outside the runs folder
    "/api/study/.hidden",
    "/api/llm/alpha%00",
    "/static/..%2Fapp.py",
    "/static/../app.py",
    "/source/hostile?sha=cafe",  # the journal points at mechanisms/../../secret.txt
    "/patch/hostile?sha=../../secret.txt",  # a recipe diff is named by a sha256 only
    "/patch/alpha?sha=" + "0" * 64,  # no trial ran it and no file holds it
    "/transcript/alpha?seq=1",  # llm/1.json is listed but absent
    "/ablation/..",
)


def request(
    base: str, target: str, method: str = "GET", host: str | None = None
) -> tuple[int, dict[str, str], bytes]:
    """Send ``target`` exactly as written (no client-side path normalisation)."""
    parts = urlsplit(base)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    connection.putrequest(method, target, skip_host=host is not None)
    if host is not None:
        connection.putheader("Host", host)
    connection.endheaders()
    response = connection.getresponse()
    body = response.read()
    connection.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, body


@pytest.mark.parametrize("target", TRAVERSALS)
def test_paths_outside_the_runs_folder_are_refused(server: str, target: str) -> None:
    status, _, body = request(server, target)
    assert status in (400, 404), (target, status)
    assert b"TOP-SECRET" not in body and b"root:" not in body


def test_only_reads_are_allowed(server: str) -> None:
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        status, _, _ = request(server, "/api/study/alpha", method)
        assert status == 405, method


def test_another_host_name_is_refused(server: str) -> None:
    """DNS rebinding: a page on evil.example resolving to 127.0.0.1 cannot read the data."""
    status, _, _ = request(server, "/api/studies", host="evil.example")
    assert status == 400
    assert request(server, "/api/studies", host="localhost")[0] == 200


def test_every_page_sends_a_strict_content_security_policy(server: str) -> None:
    for target in ("/", "/study/alpha", "/api/study/alpha", "/static/dashboard.js", "/nope"):
        _, headers, _ = request(server, target)
        policy = headers["content-security-policy"]
        assert "script-src 'self';" in policy and "unsafe-eval" not in policy, target
        assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
        assert headers["x-content-type-options"] == "nosniff"


def test_the_api_serves_cleaned_json_and_a_poll_without_news_is_tiny(server: str) -> None:
    status, headers, body = request(server, "/api/study/hostile")
    assert status == 200 and headers["content-type"].startswith("application/json")
    data = json.loads(body)
    assert "\x1b" not in body.decode() and "\\u001b" not in body.decode()
    assert [t["index"] for t in data["trials"]] == [0, 1, 2]  # the torn last line is skipped
    _, _, again = request(server, f"/api/study/hostile?since={data['seq']}")
    assert json.loads(again) == {"seq": data["seq"], "unchanged": True}


def test_plotly_ships_with_the_package(server: str) -> None:
    status, headers, body = request(server, "/static/plotly.min.js")
    assert status == 200 and len(body) > 1_000_000
    assert "javascript" in headers["content-type"]


def test_ablations_show_the_group_table_beside_the_papers(server: str) -> None:
    _, _, body = request(server, "/api/studies")
    listing = json.loads(body)
    assert listing["ablations"] == ["abl"]
    assert {"abl/A-r0", "abl/C-r1"} <= {s["name"] for s in listing["studies"]}
    status, _, page = request(server, "/ablation/abl")
    text = page.decode()
    assert status == 200 and "paper mean" in text and "p vs A" in text
    assert "/study/abl/C-r1" in text
    assert request(server, "/api/study/abl/C-r1")[0] == 200


def test_a_code_trials_recipe_diff_page_escapes_the_diff(server: str) -> None:
    from tests.dashboard.journals import HOSTILE_DIFF_SHA

    status, _, body = request(server, f"/patch/hostile?sha={HOSTILE_DIFF_SHA}")
    page = body.decode()
    assert status == 200 and HOSTILE_DIFF_SHA in page
    assert "<script>window.pwned" not in page and "&lt;script&gt;" in page
    assert "\x1b" not in page
    _, _, api = request(server, "/api/study/hostile")
    trials = json.loads(api)["trials"]
    assert [t["patch_sha256"] for t in trials] == ["", "", HOSTILE_DIFF_SHA]
